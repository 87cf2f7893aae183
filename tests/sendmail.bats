# sendmail: the classic interface for local programs.  What lands in the
# Maildir, the exit codes, and real programs (git send-email, s-nail,
# bsd-mailx) delivering through it.
bats_require_minimum_version 1.5.0

setup_file() {
	load lib
	# addr_list on its own, with the sanitizers when the compiler has them
	export ADDR_LIST_TOOL=$BATS_FILE_TMPDIR/addr-list
	local src=("$TOP/tests/tools/addr-list.c" "$TOP/src/addr_list.c")
	cc -std=c11 -Wall -Wextra -Werror -g -O1 -fsanitize=address,undefined \
		-fno-sanitize-recover=all -I"$TOP/src" -o "$ADDR_LIST_TOOL" "${src[@]}" 2>/dev/null ||
		cc -std=c11 -Wall -Wextra -Werror -g -I"$TOP/src" -o "$ADDR_LIST_TOOL" "${src[@]}"
}

setup() {
	load lib
	mp_setup
	# the spool file must not outlive sendmail: give it a directory to watch
	export TMPDIR=$MP_DIR/tmp
	mkdir -p "$TMPDIR"
	LOGIN=$(id -un)
}

teardown() { mp_teardown; }

# send ARGS...: $MSG (printf format, so \n and \r work) into sendmail
send() { printf "$MSG" | "$BIN/sendmail" "$@"; }

db() { sqlite3 "$MP_STATE/mail.db" "$1"; }

# The header of a stored file (up to the empty line).
header_of() { sed '/^$/q' "$1"; }

@test "cron style: echo | sendmail -t delivers silently, with Date, Message-ID and From login@hostname added" {
	MSG='To: alice@example.test\nSubject: cron job\n\nthe output\n'
	run send -t
	[ "$status" -eq 0 ]
	[ -z "$output" ]   # cron mails any output: there must be none
	f=$(mp_only_file alice)
	head=$(header_of "$f")
	[[ "$head" == *$'\nSubject: cron job\n'* ]]
	grep -qE '^Date: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} [-+][0-9]{4}$' "$f"
	grep -qE "^Message-ID: <[^ @]+@mx\.example\.test>\$" "$f"
	grep -qx "From: $LOGIN@mx.example.test" "$f"
	grep -qx "Return-Path: <$LOGIN@mx.example.test>" "$f"
	grep -qx "Received: by mx.example.test (mailpipe sendmail, from userid $(id -u));" "$f"
	[ "$(tail -n 1 "$f")" = "the output" ]
	[ "$(db 'select sender from messages')" = "$LOGIN@mx.example.test" ]
	# the unlinked spool file is gone with the process
	[ -z "$(ls -A "$TMPDIR")" ]
}

@test "cron's own command line (-FCronDaemon -i -B8BITMIME -oem USER): a bare name is a local mailbox" {
	MSG='Subject: Cron <root@host> run-parts\n\nline\n.\nmore\n'
	run send -FCronDaemon -i -B8BITMIME -oem alice
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	f=$(mp_only_file alice)
	grep -qx "From: CronDaemon <$LOGIN@mx.example.test>" "$f"
	grep -qx 'Delivered-To: alice@example.test' "$f"
	# -i: the "." line is text
	[ "$(tail -n 2 "$f")" = $'.\nmore' ]
}

@test "-t: To, Cc and Bcc each get a copy; Bcc is in none of them" {
	MSG='To: "Smith, John" <alice@example.test>\nBcc: bob@example.test\nSubject: bcc\n\nsecret list\n'
	run send -t
	[ "$status" -eq 0 ]
	for u in alice bob; do
		f=$(mp_only_file $u)
		! grep -qi '^Bcc:' "$f" || false
		grep -qx 'To: "Smith, John" <alice@example.test>' "$f"
		grep -qx 'secret list' "$f"
	done
	[ "$(db "select group_concat(address, ' ') from (select address from recipients order by address)")" = \
	  "alice@example.test bob@example.test" ]
}

@test "-t reads display names with commas, comments, groups, folded fields and Cc" {
	MSG='To: (the boss) "Doe, Jane (CEO)" <alice@example.test>,\r\n undisclosed-recipients:;\r\nCc: team: Bob <bob@example.test>, info@example.test;\r\nSubject: groups\r\n\r\nhi\r\n'
	run send -t
	[ "$status" -eq 0 ]
	# info is an alias of alice and bob: one copy each all the same
	[ "$(mp_new_count alice)" -eq 1 ]
	[ "$(mp_new_count bob)" -eq 1 ]
	f=$(mp_only_file bob)
	! grep -q $'\r' "$f" || false   # CRLF became LF
	grep -qx 'Cc: team: Bob <bob@example.test>, info@example.test;' "$f"
}

@test "-t adds the header's recipients to the command line's, as Postfix does" {
	MSG='To: alice@example.test\nSubject: both\n\nx\n'
	run send -t bob@example.test
	[ "$status" -eq 0 ]
	[ "$(mp_new_count alice)" -eq 1 ]
	[ "$(mp_new_count bob)" -eq 1 ]
}

@test "-t on a resent message takes Resent-To/Cc/Bcc only, and drops Bcc" {
	MSG='Resent-To: bob@example.test\nResent-From: alice@example.test\nTo: alice@example.test\nBcc: alice@example.test\nSubject: fwd\n\nx\n'
	run send -t
	[ "$status" -eq 0 ]
	[ "$(mp_new_count alice)" -eq 0 ]
	f=$(mp_only_file bob)
	grep -qx 'To: alice@example.test' "$f"
	! grep -qi '^Bcc:' "$f" || false
}

@test "a leading mbox 'From ' line (and '>From ') is dropped, so the header after it stays the header, as Postfix's sendmail does" {
	MSG='From carol@example.test Mon Nov 23 10:00:00 2026\n>From carol@example.test Mon Nov 23 10:00:00 2026\nTo: alice@example.test\nSubject: from an mbox\n\nFrom here on, the body.\n'
	run send -t
	[ "$status" -eq 0 ]
	f=$(mp_only_file alice)
	head=$(header_of "$f")
	[[ "$head" == *$'\nSubject: from an mbox\n'* ]]
	! grep -q 'From carol@example.test Mon' "$f" || false
	[ "$(tail -n 1 "$f")" = "From here on, the body." ]
}

@test "-t with no recipient in the header exits 65 and delivers nothing" {
	MSG='Subject: nobody\nTo: undisclosed-recipients:;\n\nx\n'
	run send -t
	[ "$status" -eq 65 ]
	[[ "$output" == "sendmail: -t: no recipient"* ]]
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	[ -z "$(find "$MP_STATE" -type f)" ]
}

@test "-t with a display name and no address exits 65, naming the field" {
	MSG='To: John Smith\nSubject: x\n\nx\n'
	run send -t
	[ "$status" -eq 65 ]
	[[ "$output" == "sendmail: To: an address cannot be read"*"John Smith" ]]
	[ -z "$(find "$MP_STATE" -type f)" ]
}

@test "more than max_rcpt recipients: 64 from the command line, 65 from the header" {
	mp_conf max_rcpt 2
	MSG='To: a@remote.test, b@remote.test, c@remote.test\nSubject: many\n\nx\n'
	run -64 send a@remote.test b@remote.test c@remote.test
	[ "$output" = 'sendmail: more recipients than max_rcpt (2): "c@remote.test"' ]
	run -65 send -t
	[[ "$output" == "sendmail: To: more recipients than max_rcpt (2): a@remote.test,"* ]]
	[ -z "$(find "$MP_STATE" -type f)" ]
	# duplicates do not count
	MSG='To: alice@example.test, alice@example.test, alice@example.test\nSubject: one\n\nx\n'
	run -0 send -t alice@example.test alice@example.test
	mp_only_file alice
}

@test "without -t the header's recipients are not used, and a Bcc is still removed" {
	MSG='To: bob@example.test\nBcc: bob@example.test\nSubject: x\n\nx\n'
	run send alice@example.test
	[ "$status" -eq 0 ]
	[ "$(mp_new_count bob)" -eq 0 ]
	! grep -qi '^Bcc:' "$(mp_only_file alice)" || false
}

@test "-f sets the envelope sender (-f X, -fX, -r X, \"Name <addr>\"); From: is added from it" {
	MSG='Subject: f\n\nx\n'
	send -f robot@example.test alice@example.test
	send -fother@example.test alice@example.test
	send -r 'Old Style <old@example.test>' alice@example.test
	[ "$(db 'select group_concat(sender, " ") from messages')" = \
	  "robot@example.test other@example.test old@example.test" ]
	for a in robot other old; do
		grep -lx "Return-Path: <$a@example.test>" "$(mp_maildir alice)"/new/* | xargs grep -qx "From: $a@example.test"
	done
}

@test "-f '<>' is the null sender; a From: in the message is kept as it is" {
	MSG='From: Daemon <daemon@example.test>\nSubject: n\n\nx\n'
	run send -f '<>' -F Ignored alice@example.test
	[ "$status" -eq 0 ]
	f=$(mp_only_file alice)
	grep -qx 'Return-Path: <>' "$f"
	[ "$(grep -c '^From:' "$f")" -eq 1 ]
	grep -qx 'From: Daemon <daemon@example.test>' "$f"
}

@test "-F puts the full name into the added From:, quoted or encoded as needed, never a second field" {
	MSG='Subject: names\n\nx\n'
	send -F 'Backup Job' alice@example.test
	send -F 'Doe, Jane' bob@example.test
	[ "$(grep -h '^From:' "$(mp_maildir alice)"/new/*)" = "From: Backup Job <$LOGIN@mx.example.test>" ]
	[ "$(grep -h '^From:' "$(mp_maildir bob)"/new/*)" = "From: \"Doe, Jane\" <$LOGIN@mx.example.test>" ]
	rm "$(mp_maildir alice)"/new/*
	send -F $'Evil\nBcc: victim@remote.test' alice@example.test
	f=$(mp_only_file alice)
	! grep -qi '^Bcc:' "$f" || false
	grep -qE "^From: =\?UTF-8\?B\?[A-Za-z0-9+/=]+\?= <$LOGIN@mx\.example\.test>\$" "$f"
}

@test "without -i a line with only \".\" ends the message; a \"..\" line stays as it is" {
	MSG='Subject: dots\n\nfirst\n..\n.\nnot delivered\n'
	run send alice@example.test
	[ "$status" -eq 0 ]
	f=$(mp_only_file alice)
	[ "$(sed '1,/^$/d' "$f")" = $'first\n..' ]
}

@test "-i and -oi keep the \".\" line (CRLF too) and the rest" {
	MSG='Subject: dots\r\n\r\nfirst\r\n.\r\n..\r\nlast\r\n'
	send -i alice@example.test
	send -oi bob@example.test
	for u in alice bob; do
		[ "$(sed '1,/^$/d' "$(mp_only_file $u)")" = $'first\n.\n..\nlast' ]
	done
}

@test "a message without a header gets one; recipients are written as lists too" {
	MSG='just a line\n'
	run send 'alice@example.test, Bob <bob@example.test>'
	[ "$status" -eq 0 ]
	f=$(mp_only_file bob)
	grep -q '^Message-ID: ' "$f"
	[ "$(sed '1,/^$/d' "$f")" = 'just a line' ]
	[ "$(mp_new_count alice)" -eq 1 ]
}

@test "classic options that Postfix ignores are accepted and ignored" {
	MSG='Subject: ignored\n\nx\n'
	run send -oem -odb -om -oQ/tmp -B 8BITMIME -N never -R hdrs -V envid42 -L label -X /nonexistent/log \
		-v -G -U -Am -Ac -n -m -h 17 -O Timeout=5 -e m -p ESMTP -c -x -h3 -ti -- alice@example.test
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ ! -e /nonexistent/log ]
	mp_only_file alice
}

@test "an unknown option, a missing argument or a bad -f exits 64 with one line on stderr" {
	MSG='x\n'
	for args in '-Z alice@example.test' '-d alice@example.test' '-f' '-B 9BIT alice@example.test' \
		'-f a@b@c alice@example.test' '-bd' '-bv alice@example.test' '-qX' '-bp alice@example.test' \
		'-t -bp' '' 'undisclosed-recipients:;'; do
		run -64 send $args
		[ "$(echo "$output" | wc -l)" -eq 1 ] || { echo "$args: $output"; false; }
		[[ "$output" == sendmail:* ]]
	done
	[ -z "$(find "$MP_STATE" -type f)" ]
}

@test "-h alone and --help print the usage and exit 0; -h N is a hop count" {
	run -0 "$BIN/sendmail" -h
	[[ "${lines[0]}" == "usage: sendmail "* ]]
	run -0 "$BIN/sendmail" --help
	[[ "${lines[0]}" == "usage: sendmail "* ]]
	MSG='x\n'
	run -0 send -h 5 alice@example.test
	[ -z "$output" ]
	mp_only_file alice
}

@test "mail-store's exit code is sendmail's: an unknown local user is 67" {
	MSG='Subject: x\n\nx\n'
	run send nobody@example.test
	[ "$status" -eq 67 ]
	[[ "$output" == *"nobody@example.test: no such user"* ]]
}

@test "a message over max_size exits 65 and stores nothing; a configuration error exits 78" {
	mp_conf max_size 2000
	run -65 bash -c "head -c 5000 /dev/zero | tr '\\0' x | '$BIN/sendmail' alice@example.test"
	[[ "$output" == "sendmail: the message is larger than max_size (2000 octets)" ]]
	[ -z "$(find "$MP_STATE" -type f)" ]
	echo 'bogus_key 1' >> "$MAILPIPE_CONF/mailpipe.conf"
	MSG='x\n'
	run -78 send alice@example.test
	[[ "$output" == *mailpipe.conf* ]]
}

@test "-C names the configuration directory" {
	other=$MP_DIR/other
	"$TOP/tests/make-test-conf" "$other"
	MSG='Subject: c\n\nx\n'
	run -0 send -C "$other/conf" alice@example.test
	[ -n "$(ls "$other/state/mailboxes/example.test/alice/new/")" ]
	[ ! -e "$MP_STATE/mail.db" ]
}

@test "-bs runs an SMTP session on stdio; the local client may relay" {
	run bash -c "printf 'EHLO me\r\nMAIL FROM:<$LOGIN@mx.example.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<far@remote.test>\r\nDATA\r\nSubject: bs\r\n\r\nvia smtp\r\n.\r\nQUIT\r\n' | '$BIN/sendmail' -bs | tr -d '\r'"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "220 mx.example.test ESMTP mailpipe" ]
	[[ "$output" == *$'\n250 2.0.0 OK id=1\n221 2.0.0 Bye'* ]]
	grep -qx 'via smtp' "$(mp_only_file alice)"
	[ "$(db "select status from recipients where address='far@remote.test'")" = pending ]
}

@test "-bp and mailq list the queue as smtp-relay -l does; -q flushes it" {
	MSG='Subject: out\n\nx\n'
	send far@remote.test
	echo '* 127.0.0.1:9' > "$MAILPIPE_CONF/routes"   # nothing listens there
	# the AGE column (second field) may tick between two listings
	run -0 bash -c "'$BIN/sendmail' -bp | awk '{\$2=\"\"; print}'"
	[[ "$output" == *far@remote.test* ]]
	[ "$output" = "$("$BIN/smtp-relay" -l | awk '{$2=""; print}')" ]
	ln -s "$BIN/sendmail" "$MP_DIR/mailq"
	[ "$("$MP_DIR/mailq" | awk '{$2=""; print}')" = "$output" ]
	[ "$(db 'select attempts from recipients')" -eq 0 ]
	run -0 "$BIN/sendmail" -q
	[ "$(db 'select attempts from recipients')" -eq 1 ]
	[[ "$(db 'select last_reply from recipients')" == 4* ]]
	# -q30m is a daemon's queue interval: nothing to do
	run -0 "$BIN/sendmail" -q30m
	[ -z "$output" ]
	[ "$(db 'select attempts from recipients')" -eq 1 ]
}

@test "-bi and newaliases check the configuration and print nothing" {
	run -0 "$BIN/sendmail" -bi
	[ -z "$output" ]
	ln -s "$BIN/sendmail" "$MP_DIR/newaliases"
	run -0 "$MP_DIR/newaliases"
	[ -z "$output" ]
	echo 'broken line without colon' >> "$MAILPIPE_CONF/aliases"
	run -78 "$MP_DIR/newaliases"
	[[ "$output" == *aliases:* ]]
}

@test "run by root, mail-store runs as the owner of the state directory" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	# nobody must reach the configuration and the programs
	dir=$(mktemp -d /tmp/mp-sendmail-owner.XXXXXX)
	chmod 755 "$dir"
	"$TOP/tests/make-test-conf" "$dir"
	chown nobody "$dir/state"
	MSG='Subject: owner\n\nx\n'
	MAILPIPE_CONF=$dir/conf run send alice@example.test
	delivered=$(find "$dir/state/mailboxes/example.test/alice/new" -type f -user nobody)
	others=$(find "$dir/state" ! -user nobody)
	rm -rf "$dir"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -n "$delivered" ]
	[ -z "$others" ] || { echo "not nobody's: $others"; false; }
}

@test "a user who may not write the state directory submits over SMTP to the local smtp-recv" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	dir=$(mktemp -d /tmp/mp-sendmail-user.XXXXXX)
	chmod 755 "$dir"
	"$TOP/tests/make-test-conf" "$dir"
	mkdir -p "$dir/state" && chmod 700 "$dir/state"   # root's, as the services' user's would be
	MAILPIPE_CONF=$dir/conf
	mp_listen
	printf 'To: alice@example.test\nSubject: from a user\n\nhi\n' > "$dir/msg"
	TMPDIR=/tmp MAILPIPE_SUBMIT=127.0.0.1:$MP_PORT run setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$BIN/sendmail" -t < "$dir/msg"
	delivered=$(grep -l '^Subject: from a user' "$dir"/state/mailboxes/example.test/alice/new/* 2>/dev/null)
	# with no server there, the user is told, and the message is not lost silently
	TMPDIR=/tmp MAILPIPE_SUBMIT=127.0.0.1:$(mp_free_port) run setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$BIN/sendmail" -t < "$dir/msg"
	down_status=$status down_output=$output
	rm -rf "$dir"
	[ -n "$delivered" ]
	[ "$down_status" -eq 75 ]
	[[ $down_output == *"<alice@example.test>: 451 4.4.1 cannot connect"* ]]
}

@test "addr_list: display names, comments, groups, routes and bad elements" {
	run "$ADDR_LIST_TOOL" <<'EOF'
"Smith, John" <j@example.test>, (comment) bob@example.test, team: a@x.test, b@x.test;
undisclosed-recipients:;
Pete(A nice \) chap) <pete(his account)@silly.test(his host)>
<@route1.test,@route2.test:user@c.test>, john . doe @ example . test
"john doe"@example.test, a@[192.0.2.1], ,, Who? <who@y.test>; c@d.test
John Smith, <a@b, ok@x.test
<a@b> trailing, a@b@c, <john smith@x>, <>, @x, x@, plain
(never closed a@b
"never closed a@b
EOF
	[ "$status" -eq 0 ]
	expected='ok j@example.test
ok bob@example.test
ok a@x.test
ok b@x.test
end
end
ok pete@silly.test
end
ok user@c.test
ok john.doe@example.test
end
ok "john doe"@example.test
ok a@[192.0.2.1]
ok who@y.test
ok c@d.test
end
bad
bad
end
bad
bad
bad
bad
bad
bad
ok plain
end
bad
end
bad
end'
	[ "$output" = "$expected" ] || { diff <(echo "$expected") <(echo "$output"); false; }
}

@test "addr_list survives hostile input (random specials, deep nesting, long words)" {
	$PY - "$ADDR_LIST_TOOL" <<'EOF'
import random, subprocess, sys
random.seed(5322)
alphabet = 'ab@.<>,:;()"[]\\ \t\x01\x7f\xc3\xa9-'
lines = [''.join(random.choice(alphabet) for _ in range(random.randint(0, 300)))
         for _ in range(5000)]
lines += ['(' * 200000 + 'a@b', '<' * 100000, '"' * 100001, 'a' * 100000 + '@x, b@y',
          ','.join(['a@b'] * 20000), ':' * 5000 + ';' * 5000]
data = ('\n'.join(lines) + '\n').encode('latin-1')
p = subprocess.run([sys.argv[1]], input=data, capture_output=True, timeout=60)
assert p.returncode == 0, (p.returncode, p.stderr[-2000:])
out = p.stdout.decode('latin-1').split('\n')
assert out.count('end') == len(lines), out.count('end')
# every found address fits the buffer and has no space or control outside quotes
for l in out:
    if l.startswith('ok '):
        assert len(l) - 3 < 256
EOF
}

@test "git send-email delivers a format-patch through sendmail" {
	command -v git >/dev/null || skip "git is not installed"
	git send-email --help >/dev/null 2>&1 || skip "git send-email (git-email) is not installed"
	export HOME=$MP_DIR/home GIT_CONFIG_NOSYSTEM=1
	mkdir -p "$HOME"
	git config --global user.name 'Bob Dev'
	git config --global user.email bob@example.test
	repo=$MP_DIR/repo
	git init -q "$repo"
	(cd "$repo" && echo one > f && git add f && git commit -qm first &&
		echo two >> f && git commit -qam 'frob: fix the frobnicator' &&
		git format-patch -q -1 -o "$MP_DIR/patches")
	run git -C "$repo" send-email --sendmail-cmd="$BIN/sendmail" --to alice@example.test \
		--from 'Bob Dev <bob@example.test>' --confirm=never --suppress-cc=all --quiet \
		"$MP_DIR"/patches/*.patch
	echo "$output"
	[ "$status" -eq 0 ]
	f=$(mp_only_file alice)
	grep -qx 'Subject: \[PATCH\] frob: fix the frobnicator' "$f"
	grep -qx 'From: Bob Dev <bob@example.test>' "$f"
	grep -qx '+two' "$f"
}

@test "s-nail sends through sendmail as its MTA" {
	command -v s-nail >/dev/null || skip "s-nail is not installed"
	export HOME=$MP_DIR
	run bash -c "echo 'hello from s-nail' | s-nail -:/ -Sv15-compat -Smta='$BIN/sendmail' \
		-Sttycharset=utf-8 -s 'S-nail subject' -c bob@example.test alice@example.test"
	echo "$output"
	[ "$status" -eq 0 ]
	for u in alice bob; do
		f=$(mp_only_file $u)
		grep -qx 'Subject: S-nail subject' "$f"
		grep -qx 'hello from s-nail' "$f"
	done
}

@test "bsd-mailx sends through sendmail named in its MAILRC" {
	command -v bsd-mailx >/dev/null || skip "bsd-mailx is not installed"
	export HOME=$MP_DIR
	echo "set sendmail=$BIN/sendmail" > "$MP_DIR/mailrc"
	run bash -c "echo 'hello from mailx' |
		MAILRC='$MP_DIR/mailrc' bsd-mailx -s 'Mailx subject' -a 'X-Origin: mailx' bob@example.test"
	echo "$output"
	[ "$status" -eq 0 ]
	f=$(mp_only_file bob)
	grep -qx 'Subject: Mailx subject' "$f"
	grep -qx 'X-Origin: mailx' "$f"
	grep -qx "From: $LOGIN@mx.example.test" "$f"
	grep -qx 'hello from mailx' "$f"
}
