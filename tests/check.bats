# mailpipe-check: every problem of a configuration at once, "FILE:LINE:
# problem" sorted by file and line, exit 0 or 78.
bats_require_minimum_version 1.5.0
setup() {
	load lib
	mp_setup
	# make-test-conf writes under the umask (022): users 0644, state 0755.
	# Installed, users is 0640 (group mailpipe) and the state 0700, see
	# mailpipe(7); mailpipe-check rightly flags the others, so the tests
	# start from the modes of an installation.
	chmod 0640 "$MAILPIPE_CONF/users"
	chmod 0700 "$MP_STATE"
	C=$MAILPIPE_CONF
}
teardown() { mp_teardown; }

# mailpipe-check, for the user who runs the tests as the servers' user,
# also on a machine that has a user mailpipe
check() {
	local as=()
	if id mailpipe >/dev/null 2>&1; then
		as=(-u "$(id -un)")
	fi
	run --separate-stderr "$BIN/mailpipe-check" "${as[@]}" "$@"
	echo "$output"
	# the report is on standard output; standard error stays empty
	[ -z "$stderr" ] || { echo "stderr: $stderr"; false; }
}

# has LINE: the output has exactly this line
has() {
	grep -qxF -- "$1" <<<"$output" || { echo "missing: $1"; false; }
}

# The last line counts the problems.
count_is() {
	[ "${lines[-1]}" = "mailpipe-check: $C: $1 problem$([ "$1" -eq 1 ] || echo s)" ]
}

# selfsigned NAME DAYS: $MP_DIR/NAME.pem and NAME-key.pem, for mx.example.test
selfsigned() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days "$2" \
		-subj /CN=mx.example.test -keyout "$MP_DIR/$1-key.pem" -out "$MP_DIR/$1.pem" 2>/dev/null
}

# dated NAME START END: a certificate valid from START to END
# (YYYYMMDDHHMMSSZ), which openssl req -x509 cannot make but openssl ca can
dated() {
	local ca=$MP_DIR/ca-$1
	mkdir -p "$ca"
	: > "$ca/index.txt"
	echo 01 > "$ca/serial"
	cat > "$ca/ca.cnf" <<-CNF
	[ca]
	default_ca = self
	[self]
	database = $ca/index.txt
	new_certs_dir = $ca
	serial = $ca/serial
	default_md = sha256
	policy = any
	[any]
	commonName = supplied
	CNF
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=mx.example.test \
		-keyout "$MP_DIR/$1-key.pem" -out "$ca/req.pem" 2>/dev/null
	openssl ca -batch -notext -config "$ca/ca.cnf" -selfsign -keyfile "$MP_DIR/$1-key.pem" \
		-in "$ca/req.pem" -out "$MP_DIR/$1.pem" -startdate "$2" -enddate "$3" 2>/dev/null
}

msg() { printf 'From: <bob@remote.test>\r\nSubject: %s\r\n\r\nHello.\r\n' "$1"; }

@test "the test configuration has no problems: exit 0 and one line saying so" {
	check
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ "$output" == "mailpipe-check: $C: no problems"* ]]
}

@test "a whole working setup, after deliveries, has no problems: TLS, routes, secrets, relay-clients, mail.db, Maildirs, queue" {
	selfsigned good 90
	mp_conf tls_cert "$MP_DIR/good.pem"
	mp_conf tls_key "$MP_DIR/good-key.pem"
	printf '127.0.0.0/8\n192.168.0.0/16\n::1\nfc00::/7\n' > "$C/relay-clients"
	printf '* smtp.provider.test:587 auth=me@provider.test tls=required\n' > "$C/routes"
	printf 'smtp.provider.test me@provider.test pass word\n' > "$C/secrets"
	chmod 600 "$C/secrets"
	msg one | "$BIN/mail-store" -f bob@remote.test alice@example.test info@example.test someone@remote.test >/dev/null
	[ -d "$MP_STATE/queue" ] && [ -f "$MP_STATE/mail.db" ]
	check
	[ "$status" -eq 0 ]
	[[ "$output" == "mailpipe-check: $C: no problems"* ]]
}

@test "-h prints the usage; a bad option, an extra argument or an unknown -u user exit 64 with one line" {
	run --separate-stderr "$BIN/mailpipe-check" -h
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: mailpipe-check"* ]]
	for args in "-x" "extra" "-u" "-u no-such-user-here"; do
		run --separate-stderr "$BIN/mailpipe-check" $args
		[ "$status" -eq 64 ] || { echo "$args: $status"; false; }
		[ "${#stderr_lines[@]}" -eq 1 ]
		[[ "$stderr" == "mailpipe-check: "*"usage: mailpipe-check"* ]]
		[ -z "$output" ]
	done
}

@test "mailpipe.conf: an unknown key, a malformed line and bad values, every one with its line" {
	cat >> "$C/mailpipe.conf" <<-CONF
	max_recipients 50
	timeout
	max_size lots
	dmarc_reject maybe
	CONF
	check
	[ "$status" -eq 78 ]
	has "$C/mailpipe.conf:3: unknown key \"max_recipients\""
	has "$C/mailpipe.conf:4: timeout: missing value"
	has "$C/mailpipe.conf:5: max_size: expected a number of bytes from 1024 up, not \"lots\""
	has "$C/mailpipe.conf:6: dmarc_reject: expected yes or no, not \"maybe\""
	count_is 4
}

@test "tls_cert without tls_key" {
	selfsigned good 90
	mp_conf tls_cert "$MP_DIR/good.pem"
	check
	[ "$status" -eq 78 ]
	has "$C/mailpipe.conf:3: tls_cert without tls_key: set both, or neither"
	count_is 1
}

@test "a key that does not match its certificate" {
	selfsigned one 90
	selfsigned two 90
	mp_conf tls_cert "$MP_DIR/one.pem"
	mp_conf tls_key "$MP_DIR/two-key.pem"
	check
	[ "$status" -eq 78 ]
	has "$C/mailpipe.conf:4: tls_key $MP_DIR/two-key.pem does not match the certificate in tls_cert $MP_DIR/one.pem"
	count_is 1
}

@test "a certificate that expired, one not yet valid, one that expires within 14 days" {
	dated old 20200101000000Z 20200201000000Z
	mp_conf tls_cert "$MP_DIR/old.pem"
	mp_conf tls_key "$MP_DIR/old-key.pem"
	check
	[ "$status" -eq 78 ]
	has "$C/mailpipe.conf:3: tls_cert $MP_DIR/old.pem: the certificate /CN=mx.example.test expired on 2020-02-01 00:00 UTC"
	count_is 1

	dated future 20400101000000Z 20410101000000Z
	mp_conf tls_cert "$MP_DIR/future.pem"
	mp_conf tls_key "$MP_DIR/future-key.pem"
	check
	[ "$status" -eq 78 ]
	has "$C/mailpipe.conf:3: tls_cert $MP_DIR/future.pem: the certificate /CN=mx.example.test is not valid before 2040-01-01 00:00 UTC"

	selfsigned soon 3
	mp_conf tls_cert "$MP_DIR/soon.pem"
	mp_conf tls_key "$MP_DIR/soon-key.pem"
	check
	[ "$status" -eq 78 ]
	[[ "${lines[0]}" =~ ^"$C/mailpipe.conf:3: tls_cert $MP_DIR/soon.pem: the certificate /CN=mx.example.test expires on "[0-9-]+" "[0-9:]+" UTC, in "[23]" days: renew it"$ ]]

	selfsigned later 15
	mp_conf tls_cert "$MP_DIR/later.pem"
	mp_conf tls_key "$MP_DIR/later-key.pem"
	check
	[ "$status" -eq 0 ]
}

@test "a private key anyone can read, one with a passphrase, a certificate that is not there" {
	selfsigned good 90
	chmod 644 "$MP_DIR/good-key.pem"
	mp_conf tls_cert "$MP_DIR/good.pem"
	mp_conf tls_key "$MP_DIR/good-key.pem"
	check
	[ "$status" -eq 78 ]
	has "$C/mailpipe.conf:4: tls_key $MP_DIR/good-key.pem: mode 0644: anyone can read the private key"
	count_is 1
	# never a prompt for the passphrase: stdin is the terminal when people run it
	openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -aes256 -pass pass:pw \
		-out "$MP_DIR/locked-key.pem"
	openssl req -x509 -key "$MP_DIR/locked-key.pem" -passin pass:pw -days 90 -subj /CN=mx.example.test \
		-out "$MP_DIR/locked.pem"
	mp_conf tls_cert "$MP_DIR/locked.pem"
	mp_conf tls_key "$MP_DIR/locked-key.pem"
	check
	[ "$status" -eq 78 ]
	has "$C/mailpipe.conf:4: tls_key $MP_DIR/locked-key.pem: no private key in it that loads without a passphrase, as the servers need it"
	count_is 1
	mp_conf tls_key "$MP_DIR/good-key.pem"
	mp_conf tls_cert "$MP_DIR/missing.pem"
	chmod 600 "$MP_DIR/good-key.pem"
	check
	[ "$status" -eq 78 ]
	has "$C/mailpipe.conf:4: tls_cert $MP_DIR/missing.pem: No such file or directory"
	count_is 1
}

@test "an alias loop, and an alias to nowhere" {
	cat >> "$C/aliases" <<-ALIASES
	a@example.test: b
	b@example.test: a, bob
	c@example.test: nobody, alice, someone@remote.test
	self@example.test: self
	ALIASES
	check
	[ "$status" -eq 78 ]
	has "$C/aliases:4: a@example.test: the aliases loop: a@example.test -> b@example.test -> a@example.test"
	has "$C/aliases:5: b@example.test: the aliases loop: b@example.test -> a@example.test -> b@example.test"
	has "$C/aliases:6: c@example.test: nobody@example.test leads nowhere: no user, alias or catch-all takes it"
	has "$C/aliases:7: self@example.test: the aliases loop: self@example.test -> self@example.test"
	count_is 4
}

@test "aliases: a catch-all that comes back to itself, a domain not in domains; \"alice: alice\" is no loop" {
	cat >> "$C/aliases" <<-ALIASES
	alice@example.test: alice, someone@remote.test
	@elsewhere.test: alice@example.test
	ALIASES
	sed -i 's/^@catch.test: .*/@catch.test: x@catch.test/' "$C/aliases"
	check
	[ "$status" -eq 78 ]
	has "$C/aliases:3: @catch.test: the aliases loop: @catch.test -> x@catch.test -> @catch.test"
	has "$C/aliases:5: @elsewhere.test: elsewhere.test is not in domains, so no mail for it is taken"
	count_is 2
}

@test "users: an md5crypt hash and other weak or unknown ones, a user outside domains, a duplicate" {
	{
		printf 'carol@example.test:%s\n' "$(openssl passwd -1 -salt abcdefgh secret)"
		printf 'dave@example.test:secret\n'
		printf 'erin@example.test:%s\n' "$(openssl passwd -apr1 -salt abcdefgh secret)"
		printf 'frank@example.test:abJnggxhB/yWI\n'
		printf 'gina@other.test:%s\n' "$(openssl passwd -6 -salt abcdefgh secret)"
		printf 'alice@example.test:%s\n' "$(openssl passwd -6 -salt abcdefgh secret)"
		printf 'locked@example.test:*\n'
		printf 'yes@example.test:$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7\n'
	} >> "$C/users"
	check
	[ "$status" -eq 78 ]
	has "$C/users:3: carol@example.test: weak hash (md5crypt): set a new password with mailpipe-user passwd"
	has "$C/users:4: dave@example.test: not a crypt(3) hash (a password in clear text?): set one with mailpipe-user passwd"
	has "$C/users:5: erin@example.test: the hash is Apache's MD5, which crypt(3) cannot check: set a new password with mailpipe-user passwd"
	has "$C/users:6: frank@example.test: weak hash (DES crypt): set a new password with mailpipe-user passwd"
	has "$C/users:7: gina@other.test: other.test is not in domains"
	has "$C/users:8: \"alice@example.test\" is listed twice (first on line 1)"
	count_is 6
}

@test "a users file others can read; a configuration file anyone can change" {
	chmod 644 "$C/users"
	chmod 666 "$C/domains"
	check
	[ "$status" -eq 78 ]
	has "$C/users: mode 0644: anyone can read the password hashes (0640 with the servers' group, or 0600)"
	has "$C/domains: mode 0666: anyone can change it"
	count_is 2
}

@test "a secrets file of mode 0644; a route with auth= and no secret" {
	printf '* smtp.provider.test:587 auth=me@provider.test\nexample.net relay.example.net auth=other tls=none\n' > "$C/routes"
	printf 'smtp.provider.test me@provider.test pw\nbroken-line\n' > "$C/secrets"
	chmod 644 "$C/secrets"
	check
	[ "$status" -eq 78 ]
	has "$C/secrets: mode 644, must be 0600 (it holds passwords)"
	has "$C/secrets:2: expected \"HOST user password\""
	has "$C/routes:2: auth=other but no \"relay.example.net other ...\" line in secrets"
	has "$C/routes:2: auth=other with tls=none: the password is never sent without TLS, so every delivery would wait"
	count_is 4
}

@test "relay-clients: 0.0.0.0/0, ::/0 and other open relays; a malformed network" {
	printf '127.0.0.0/8\n0.0.0.0/0\n10.0.0.0/7\n::/0\n2001:db8::/15\nfc00::/7\nnot-a-network\n' > "$C/relay-clients"
	check
	[ "$status" -eq 78 ]
	has "$C/relay-clients:2: 0.0.0.0/0 makes an open relay: a network wider than /8 lets a large part of the Internet send mail anywhere through this server"
	has "$C/relay-clients:3: 10.0.0.0/7 makes an open relay: a network wider than /8 lets a large part of the Internet send mail anywhere through this server"
	has "$C/relay-clients:4: ::/0 makes an open relay: a network wider than /16 lets a large part of the Internet send mail anywhere through this server"
	has "$C/relay-clients:5: 2001:db8::/15 makes an open relay: a network wider than /16 lets a large part of the Internet send mail anywhere through this server"
	has "$C/relay-clients:7: \"not-a-network\" is not an IPv4 or IPv6 network"
	count_is 5
}

@test "a state directory of mode 0777, a mail.db that is not SQLite, a missing state directory" {
	chmod 777 "$MP_STATE"
	echo 'not a database' > "$MP_STATE/mail.db"
	chmod 600 "$MP_STATE/mail.db"
	check
	[ "$status" -eq 78 ]
	has "$MP_STATE: mode 0777: group or others can write into it (0700 expected)"
	has "$MP_STATE/mail.db: not an SQLite database"
	count_is 2
	mp_conf state "$MP_DIR/nowhere"
	check
	[ "$status" -eq 78 ]
	[[ "$output" == *"$MP_DIR/nowhere: the state directory: No such file or directory (make it, owned by "* ]]
}

@test "-u names the servers' user: what it cannot read, and a state it does not own" {
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	[ "$(id -u)" -ne "$(id -u nobody)" ] || skip "running as nobody"
	run --separate-stderr "$BIN/mailpipe-check" -u nobody
	echo "$output"
	[ "$status" -eq 78 ]
	has "$C/users: the servers' user nobody cannot read it (owner $(id -un), mode 0640)"
	has "$MP_STATE: owned by $(id -un), not by nobody, the user the servers run as"
}

@test "several problems in several files, all in one run, sorted by file then line" {
	printf 'max_rcpt 0\nbogus yes\n' >> "$C/mailpipe.conf"
	printf 'bob@example.test:%s\nno-colon-here\n' "$(openssl passwd -1 -salt abcdefgh x)" > "$C/users.new"
	cat "$C/users" "$C/users.new" > "$C/users.both" && mv "$C/users.both" "$C/users" && rm "$C/users.new"
	chmod 644 "$C/users"
	printf 'loop@example.test: loop2\nloop2@example.test: loop\n' >> "$C/aliases"
	echo 0.0.0.0/0 > "$C/relay-clients"
	echo 'example.test' >> "$C/domains"
	chmod 777 "$MP_STATE"
	check
	[ "$status" -eq 78 ]
	expected="$C/aliases:4: loop@example.test: the aliases loop: loop@example.test -> loop2@example.test -> loop@example.test
$C/aliases:5: loop2@example.test: the aliases loop: loop2@example.test -> loop@example.test -> loop2@example.test
$C/domains:3: \"example.test\" is listed twice (first on line 1)
$C/mailpipe.conf:3: max_rcpt: expected a number from 1 to 4096, not \"0\"
$C/mailpipe.conf:4: unknown key \"bogus\"
$C/relay-clients:1: 0.0.0.0/0 makes an open relay: a network wider than /8 lets a large part of the Internet send mail anywhere through this server
$C/users: mode 0644: anyone can read the password hashes (0640 with the servers' group, or 0600)
$C/users:3: \"bob@example.test\" is listed twice (first on line 2)
$C/users:3: bob@example.test: weak hash (md5crypt): set a new password with mailpipe-user passwd
$C/users:4: expected address:hash
$MP_STATE: mode 0777: group or others can write into it (0700 expected)
mailpipe-check: $C: 11 problems"
	diff <(echo "$expected") <(echo "$output")
}

@test "the other programs still stop at the first problem, with the same message" {
	printf 'max_rcpt 0\nbogus yes\n' >> "$C/mailpipe.conf"
	run "$BIN/mailpipe-user" list
	[ "$status" -eq 78 ]
	[ "$output" = "mailpipe-user: $C/mailpipe.conf:3: max_rcpt: expected a number from 1 to 4096, not \"0\"" ]
}
