# mailpipe-user: mailboxes and passwords in $MAILPIPE_CONF/users.
bats_require_minimum_version 1.5.0
setup() {
	load lib
	mp_setup
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=mx.example.test -keyout "$MP_DIR/key.pem" -out "$MP_DIR/cert.pem" 2>/dev/null
	mp_conf tls_cert "$MP_DIR/cert.pem"
	mp_conf tls_key "$MP_DIR/key.pem"
}
teardown() { mp_teardown; }

# auth_works USER PASSWORD: AUTH PLAIN over STARTTLS through smtp-recv -s
auth_works() {
	swaks --pipe "$BIN/smtp-recv -s" --tls --auth PLAIN --auth-user "$1" --auth-password "$2" \
		--from "$1" --to alice@example.test --quit-after AUTH >"$MP_DIR/swaks.out" 2>&1
	grep -q '235 2.7.0' "$MP_DIR/swaks.out"
}

@test "add with --stdin, then AUTH works with that password (yescrypt hash)" {
	echo 'c4rol pass' | "$BIN/mailpipe-user" add carol@example.test --stdin
	grep -q '^carol@example.test:\$y\$' "$MAILPIPE_CONF/users"
	auth_works carol@example.test 'c4rol pass'
	! auth_works carol@example.test 'wrong' || false
}

@test "passwd changes the password; the old one stops working" {
	echo first | "$BIN/mailpipe-user" add carol@example.test --stdin
	echo second | "$BIN/mailpipe-user" passwd Carol@Example.test --stdin
	auth_works carol@example.test second
	! auth_works carol@example.test first || false
	[ "$(grep -c '^carol@' "$MAILPIPE_CONF/users")" -eq 1 ]
}

@test "del removes the user; list shows addresses and never hashes" {
	run "$BIN/mailpipe-user" list
	[ "$output" = $'alice@example.test\nbob@example.test' ]
	"$BIN/mailpipe-user" del bob@example.test 2>/dev/null
	run "$BIN/mailpipe-user" list
	[ "$output" = alice@example.test ]
	! auth_works bob@example.test secret || false
}

@test "the password is read twice from a terminal without echo; a mismatch changes nothing" {
	cp "$MAILPIPE_CONF/users" "$MP_DIR/users.before"
	run "$PY" "$TOP/tests/tools/users-tty.py" "$BIN/mailpipe-user" add dave@example.test -- one two
	echo "$output"
	[ "$status" -eq 65 ]
	[[ "$output" == *"Password for dave@example.test:"* ]]
	[[ "$output" == *"Again:"* ]]
	[[ "$output" != *one* ]] && [[ "$output" != *two* ]]
	cmp "$MP_DIR/users.before" "$MAILPIPE_CONF/users"
	run "$PY" "$TOP/tests/tools/users-tty.py" "$BIN/mailpipe-user" add dave@example.test -- 'same pw' 'same pw'
	[ "$status" -eq 0 ]
	[[ "$output" != *"same pw"* ]]
	auth_works dave@example.test 'same pw'
}

@test "exit codes: 65 bad input, 67 no such user, 64 usage or no terminal, 78 broken configuration" {
	run bash -c "echo pw | '$BIN/mailpipe-user' add alice@example.test --stdin"
	[ "$status" -eq 65 ]
	run bash -c "echo pw | '$BIN/mailpipe-user' add x@not-local.test --stdin"
	[ "$status" -eq 65 ]
	[[ "$output" == *"not-local.test is not listed in domains"* ]]
	run bash -c "echo pw | '$BIN/mailpipe-user' add 'bad:name@example.test' --stdin"
	[ "$status" -eq 65 ]
	run bash -c "printf '\n' | '$BIN/mailpipe-user' add e@example.test --stdin"
	[ "$status" -eq 65 ]
	run "$BIN/mailpipe-user" del nobody@example.test
	[ "$status" -eq 67 ]
	run bash -c "echo pw | '$BIN/mailpipe-user' passwd nobody@example.test --stdin"
	[ "$status" -eq 67 ]
	run --separate-stderr "$BIN/mailpipe-user" frobnicate
	[ "$status" -eq 64 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	run setsid -w "$BIN/mailpipe-user" add e@example.test </dev/null
	[ "$status" -eq 64 ]
	echo 'max_size lots' >> "$MAILPIPE_CONF/mailpipe.conf"
	run "$BIN/mailpipe-user" list
	[ "$status" -eq 78 ]
}

@test "comments, order, mode and owner of the users file are kept" {
	{ echo '# the mailboxes'; cat "$MAILPIPE_CONF/users"; } > "$MP_DIR/u" && mv "$MP_DIR/u" "$MAILPIPE_CONF/users"
	chmod 0640 "$MAILPIPE_CONF/users"
	chown 1234:5678 "$MAILPIPE_CONF/users"
	echo pw | "$BIN/mailpipe-user" add carol@example.test --stdin
	[ "$(head -n 1 "$MAILPIPE_CONF/users")" = '# the mailboxes' ]
	[ "$(sed -n 2p "$MAILPIPE_CONF/users" | cut -d: -f1)" = alice@example.test ]
	[ "$(stat -c '%a %u %g' "$MAILPIPE_CONF/users")" = "640 1234 5678" ]
}

@test "20 concurrent adds: every one is in the file, which stays well-formed" {
	for i in $(seq 1 20); do
		echo "pw$i" | "$BIN/mailpipe-user" add "user$i@example.test" --stdin &
	done
	wait
	[ "$(grep -c '^user[0-9]*@example.test:\$y\$' "$MAILPIPE_CONF/users")" -eq 20 ]
	run "$BIN/mailpipe-user" list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 22 ]
}

@test "kill -9 at random moments never leaves a truncated users file" {
	for i in $(seq 1 40); do
		echo "pw$i" | "$BIN/mailpipe-user" add "k$i@example.test" --stdin &
		pid=$!
		# yescrypt takes a few ms: kill somewhere in the hashing or the writing
		sleep "0.00$((RANDOM % 10))"
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		# after every kill the file is whole: it parses, and nothing was lost
		run "$BIN/mailpipe-user" list
		[ "$status" -eq 0 ]
		[[ "$output" == *alice@example.test* ]] && [[ "$output" == *bob@example.test* ]]
		if grep -q "^k$i@" "$MAILPIPE_CONF/users"; then
			grep -q "^k$i@example.test:\$y\$[^:]*\$[^:]*\$[^:]*$" "$MAILPIPE_CONF/users"
		fi
	done
	# the file ends with a newline: no half-written last line
	[ "$(tail -c 1 "$MAILPIPE_CONF/users" | od -An -c | tr -d ' ')" = '\n' ]
}
