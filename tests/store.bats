# mail-store: what lands on disk and in mail.db, and its exit codes.
bats_require_minimum_version 1.5.0
setup() { load lib; mp_setup; }
teardown() { mp_teardown; }

msg() { printf 'From: Bob <bob@remote.test>\r\nSubject: %s\r\nMessage-ID: <%s@remote.test>\r\n\r\nHello.\r\n' "$1" "$1"; }
db() { sqlite3 "$MP_STATE/mail.db" "$1"; }

@test "mail-store delivers into Maildir new/ with the contract's file name and prints the id" {
	run bash -c "$(declare -f msg); msg first | '$BIN/mail-store' -f bob@remote.test alice@example.test 2>/dev/null"
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
	f=$(mp_new_files alice)
	[[ "$f" =~ ^[0-9]+\.M[0-9]+P[0-9]+Q[0-9]+\.mx\.example\.test,S=([0-9]+)$ ]]
	# S= is the size of the file
	[ "${BASH_REMATCH[1]}" -eq "$(stat -c %s "$MP_STATE/mailboxes/example.test/alice/new/$f")" ]
	[ -z "$(ls "$MP_STATE/mailboxes/example.test/alice/tmp")" ]
}

@test "the Maildir copy has Return-Path and Delivered-To, LF line endings, body intact" {
	msg second | "$BIN/mail-store" -f bob@remote.test alice@example.test
	file=$MP_STATE/mailboxes/example.test/alice/new/$(mp_new_files alice)
	[ "$(sed -n 1p "$file")" = "Return-Path: <bob@remote.test>" ]
	[ "$(sed -n 2p "$file")" = "Delivered-To: alice@example.test" ]
	[ "$(sed -n 4p "$file")" = "Subject: second" ]
	! grep -q $'\r' "$file" || false
	[ "$(tail -n 1 "$file")" = "Hello." ]
}

@test "a CR not followed by LF becomes a space (no bare CR in a Maildir, none for smtp-relay to send), CR LF split across reads too" {
	# from a file, read 16 KiB at a time: the CR of a CR LF is the last
	# octet of the first read, a stray CR the last of the second
	$PY - "$MP_DIR/in" <<-'PY'
	import sys
	head = b"Subject: a\rBcc: evil@x.test\r\n\r\nline\r.\r\n"
	first = head + b"x" * (16384 - len(head) - 1) + b"\r"
	second = b"\n" + b"y" * (16384 - 2) + b"\r"
	open(sys.argv[1], "wb").write(first + second + b"z\r\nlast\r")
	PY
	"$BIN/mail-store" -f bob@remote.test alice@example.test < "$MP_DIR/in"
	file=$MP_STATE/mailboxes/example.test/alice/new/$(mp_new_files alice)
	! grep -q $'\r' "$file" || false
	[ "$(sed -n 3p "$file")" = "Subject: a Bcc: evil@x.test" ]
	! grep -q '^Bcc:' "$file" || false
	[ "$(sed -n 5p "$file")" = "line ." ]
	[[ $(sed -n 6p "$file") =~ ^x+$ ]]
	[ "$(sed -n 7p "$file")" = "$(printf '%*s' 16382 '' | tr ' ' y) z" ]
	[ "$(sed -n 8p "$file")" = "last " ]
}

@test "mail.db has the message row and one row per recipient" {
	msg indexed | "$BIN/mail-store" -f bob@remote.test -c 192.0.2.7 -H client.example alice@example.test bob@example.test
	[ "$(db "select sender, client, helo, subject, message_id from messages where id=1")" = \
	  "bob@remote.test|192.0.2.7|client.example|indexed|<indexed@remote.test>" ]
	[ "$(db "select count(*) from recipients where message=1 and kind='local' and status='delivered'")" -eq 2 ]
	[ "$(db "pragma journal_mode")" = wal ]
	# the recorded size is the message's size
	[ "$(db "select size from messages")" -eq "$(msg indexed | tr -d '\r' | wc -c)" ]
}

@test "an alias delivers one copy to each target; duplicates are collapsed" {
	msg alias | "$BIN/mail-store" -f bob@remote.test info@example.test alice@example.test
	[ "$(mp_new_count alice)" -eq 1 ]
	[ "$(mp_new_count bob)" -eq 1 ]
	grep -q '^Delivered-To: bob@example.test$' "$MP_STATE"/mailboxes/example.test/bob/new/*
}

@test "a catch-all delivers to its target; case does not matter" {
	msg catch | "$BIN/mail-store" -f bob@remote.test Whoever@CATCH.test
	[ "$(mp_new_count bob)" -eq 1 ]
}

@test "remote recipients share one queued copy and get pending rows" {
	run bash -c "$(declare -f msg); msg out | '$BIN/mail-store' -f alice@example.test x@remote.test y@other.test bob@example.test"
	[ "$status" -eq 0 ]
	[ "$(ls "$MP_STATE/queue" | wc -l)" -eq 1 ]
	q=$(ls "$MP_STATE/queue")
	[ "$(db "select queue_file from messages")" = "$q" ]
	[ "$(db "select count(*) from recipients where kind='remote' and status='pending' and next_try is not null")" -eq 2 ]
	[ "$(mp_new_count bob)" -eq 1 ]
	# the queued copy has no local delivery headers
	! grep -q '^Delivered-To:' "$MP_STATE/queue/$q" || false
}

@test "the null sender gives Return-Path: <>" {
	msg bounce | "$BIN/mail-store" -f '<>' alice@example.test
	grep -q '^Return-Path: <>$' "$MP_STATE"/mailboxes/example.test/alice/new/*
}

@test "an unknown local user exits 67 (EX_NOUSER) and writes nothing" {
	run bash -c "$(declare -f msg); msg x | '$BIN/mail-store' -f bob@remote.test nobody@example.test"
	[ "$status" -eq 67 ]
	[[ "$output" == *"nobody@example.test: no such user"* ]]
	[ ! -e "$MP_STATE/mail.db" ]
	[ -z "$(ls "$MP_STATE")" ]
}

@test "NUL octets in the message exit 65 and leave nothing behind" {
	run bash -c "printf 'Subject: x\n\nnul\0here\n' | '$BIN/mail-store' -f bob@remote.test alice@example.test"
	[ "$status" -eq 65 ]
	[ -z "$(find "$MP_STATE/mailboxes" -type f)" ]
}

@test "an alias loop is a configuration error, never a message delivered nowhere" {
	printf 'loop1@example.test: loop2\nloop2@example.test: loop1\n' >> "$MAILPIPE_CONF/aliases"
	run bash -c "$(declare -f msg); msg x | '$BIN/mail-store' -f bob@remote.test loop1@example.test"
	[ "$status" -eq 78 ]
	[ ! -e "$MP_STATE/mail.db" ] || [ "$(db "select count(*) from messages")" -eq 0 ]
}

@test "an alias naming itself delivers to its own mailbox too" {
	echo 'alice@example.test: alice, bob' >> "$MAILPIPE_CONF/aliases"
	msg self | "$BIN/mail-store" -f x@remote.test alice@example.test
	[ "$(mp_new_count alice)" -eq 1 ]
	[ "$(mp_new_count bob)" -eq 1 ]
}

@test "usage errors exit 64 with one line; -h prints usage and exits 0" {
	run "$BIN/mail-store" alice@example.test
	[ "$status" -eq 64 ]
	run "$BIN/mail-store" -f a@b.test
	[ "$status" -eq 64 ]
	run "$BIN/mail-store" -x
	[ "$status" -eq 64 ]
	run "$BIN/mail-store" -h
	[ "$status" -eq 0 ]
	[[ "$output" == usage:* ]]
	run "$BIN/smtp-recv" -h
	[ "$status" -eq 0 ]
	run "$BIN/smtp-recv" extra
	[ "$status" -eq 64 ]
}

@test "max_rcpt above 4096, the most mail-store takes, is a configuration error, not a 451 after 4097 RCPTs" {
	mp_conf max_rcpt 4096
	run bash -c "printf 'QUIT\r\n' | '$BIN/smtp-recv'"
	[ "$status" -eq 0 ]
	mp_conf max_rcpt 4097
	run bash -c "printf 'QUIT\r\n' | '$BIN/smtp-recv'"
	[ "$status" -eq 78 ]
	[[ "$output" == *'mailpipe.conf:'*'max_rcpt: expected a number from 1 to 4096, not "4097"'* ]]
}

@test "a configuration error exits 78 naming file and line" {
	printf 'hostname a\nmax_rcpt lots\n' >> "$MAILPIPE_CONF/mailpipe.conf"
	run bash -c "echo x | '$BIN/mail-store' -f a@b.test alice@example.test"
	[ "$status" -eq 78 ]
	[[ "$output" == *"mailpipe.conf:4: max_rcpt: expected a number"* ]]
	echo 'not-an-address:hash' >> "$MAILPIPE_CONF/users"
	sed -i '$d' "$MAILPIPE_CONF/mailpipe.conf"
	run bash -c "echo x | '$BIN/mail-store' -f a@b.test alice@example.test"
	[ "$status" -eq 78 ]
	[[ "$output" == *"users:3:"* ]]
}

@test "relay-clients takes IPv4 and IPv6 networks; a bad line is an error" {
	printf '192.0.2.0/24\n2001:db8::/32\n' > "$MAILPIPE_CONF/relay-clients"
	for ip in 192.0.2.77 2001:db8::5 ::ffff:192.0.2.9; do
		run bash -c "printf 'HELO x\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<r@remote.test>\r\nQUIT\r\n' | TCPREMOTEIP=$ip '$BIN/smtp-recv'"
		[[ "$output" == *"250 2.1.5 Ok"* ]]
	done
	# loopback is no longer allowed once the file exists
	run bash -c "printf 'HELO x\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<r@remote.test>\r\nQUIT\r\n' | TCPREMOTEIP=127.0.0.1 '$BIN/smtp-recv'"
	[[ "$output" == *"554 5.7.1"* ]]
	echo '10.0.0.0/33' >> "$MAILPIPE_CONF/relay-clients"
	run "$BIN/smtp-recv" </dev/null
	[ "$status" -eq 78 ]
	[[ "$output" == *"421 4.3.0"* ]]
}

@test "through smtp-recv: dot-unstuffed, Received: prepended, CRLF turned into LF" {
	printf 'EHLO c.example\r\nMAIL FROM:<bob@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: dots\r\n\r\n..one\r\n...two\r\n.\r\nQUIT\r\n' |
		"$BIN/smtp-recv" >/dev/null 2>&1
	file=$MP_STATE/mailboxes/example.test/alice/new/$(mp_new_files alice)
	[ "$(sed -n 3p "$file")" = "Received: from c.example (unknown)" ]
	grep -q 'by mx.example.test (mailpipe) with ESMTP id' "$file"
	grep -q '^	for <alice@example.test>;$' "$file"
	[ "$(tail -n 2 "$file" | head -n 1)" = ".one" ]
	[ "$(tail -n 1 "$file")" = "..two" ]
}

@test "through smtp-recv with BDAT: chunks joined byte for byte" {
	printf 'EHLO c.example\r\nMAIL FROM:<bob@remote.test>\r\nRCPT TO:<alice@example.test>\r\nBDAT 14\r\nSubject: b\r\n\r\nBDAT 10 LAST\r\n\r\n.\r\nend\r\nQUIT\r\n' |
		"$BIN/smtp-recv" >/dev/null 2>&1
	file=$MP_STATE/mailboxes/example.test/alice/new/$(mp_new_files alice)
	[ "$(tail -n 3 "$file" | od -c | head -2 | tr -s ' ')" = "$(printf '\n.\nend\n' | od -c | head -2 | tr -s ' ')" ]
}

@test "through smtp-recv with BDAT: lines longer than 512 octets (up to 998) are stored whole, split across chunks too" {
	local long998 long600
	long998=$(printf '%0998d' 7)
	long600=$(printf 'w%.0s' $(seq 1 600))
	printf -v body 'Subject: long\r\n\r\n%s\r\n%s\r\nend\r\n' "$long998" "$long600"
	# one chunk, and the same text cut at 700 octets into two
	{
		printf 'EHLO c.example\r\nMAIL FROM:<bob@remote.test>\r\nRCPT TO:<alice@example.test>\r\n'
		printf 'BDAT %d LAST\r\n%s' "${#body}" "$body"
		printf 'MAIL FROM:<bob@remote.test>\r\nRCPT TO:<bob@example.test>\r\n'
		printf 'BDAT 700\r\n%s' "${body:0:700}"
		printf 'BDAT %d LAST\r\n%s' $((${#body} - 700)) "${body:700}"
		printf 'QUIT\r\n'
	} | "$BIN/smtp-recv" > "$MP_DIR/replies" 2>/dev/null
	[ "$(grep -c '^250 2.0.0 OK id=' "$MP_DIR/replies")" -eq 2 ]
	for user in alice bob; do
		file=$MP_STATE/mailboxes/example.test/$user/new/$(mp_new_files $user)
		[ "$(tail -n 3 "$file")" = "$(printf '%s\n%s\nend' "$long998" "$long600")" ]
	done
}

@test "log lines are logfmt, one per event, and never contain the message" {
	printf 'EHLO c.example\r\nMAIL FROM:<bob@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: secret subject\r\n\r\nsecret body\r\n.\r\nQUIT\r\n' |
		TCPREMOTEIP=192.0.2.1 "$BIN/smtp-recv" >/dev/null 2>"$MP_DIR/log"
	grep -Eq '^prog=smtp-recv sid=[0-9a-f]+ client=192\.0\.2\.1 event=accepted id=1 from=<bob@remote\.test> rcpts=1 size=[0-9]+ reply=250 proto=ESMTP spf=[a-z]+ dkim=none dmarc=[a-z]+$' "$MP_DIR/log"
	grep -q '^prog=mail-store event=stored id=1 ' "$MP_DIR/log"
	! grep -q secret "$MP_DIR/log" || false
}

@test "mail-store's exit codes become the contract's replies" {
	for pair in "65:554 5.6.0" "67:550 5.1.1" "73:452 4.3.1" "74:452 4.3.1" "75:451 4.3.0" "70:451 4.3.0"; do
		code=${pair%%:*}
		printf '#!/bin/sh\ncat >/dev/null\nexit %s\n' "$code" > "$MP_DIR/fake-store"
		chmod +x "$MP_DIR/fake-store"
		run bash -c "printf 'HELO x\r\nMAIL FROM:<b@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n.\r\nQUIT\r\n' | MAILPIPE_STORE='$MP_DIR/fake-store' '$BIN/smtp-recv' 2>/dev/null"
		[[ "$output" == *"${pair#*:} "* ]] || { echo "exit $code: $output"; false; }
	done
	# killed by a signal: 451 as well
	printf '#!/bin/sh\nkill -9 $$\n' > "$MP_DIR/fake-store"
	run bash -c "printf 'HELO x\r\nMAIL FROM:<b@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n.\r\nQUIT\r\n' | MAILPIPE_STORE='$MP_DIR/fake-store' '$BIN/smtp-recv' 2>/dev/null"
	[[ "$output" == *"451 4.3.0"* ]]
}

@test "a partial alias loop refuses the message instead of dropping that recipient" {
	printf 'loop1@example.test: loop2\nloop2@example.test: loop1\n' >> "$MAILPIPE_CONF/aliases"
	run bash -c "$(declare -f msg); msg x | '$BIN/mail-store' -f bob@remote.test alice@example.test loop1@example.test"
	[ "$status" -eq 78 ]
	[[ "$output" == *"loop"* ]]
	[ "$(mp_new_count alice)" -eq 0 ]
}

@test "a duplicate user names both lines" {
	echo 'ALICE@example.test:x' >> "$MAILPIPE_CONF/users"
	run bash -c "echo x | '$BIN/mail-store' -f a@b.test alice@example.test"
	[ "$status" -eq 78 ]
	[[ "$output" == *'users:3: "alice@example.test" is listed twice (first on line 1)'* ]]
}

@test "bad options give exactly one line on stderr and exit 64" {
	run --separate-stderr "$BIN/smtp-recv" -x
	[ "$status" -eq 64 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	run --separate-stderr "$BIN/mail-store" -q -f a@b.test x@y.test
	[ "$status" -eq 64 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
}

@test "started with SIGCHLD ignored (some inetds do), a stored message still gets 250" {
	run bash -c "printf 'HELO x\r\nMAIL FROM:<b@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: t\r\n\r\nt\r\n.\r\nQUIT\r\n' | perl -e '\$SIG{CHLD}=\"IGNORE\"; exec @ARGV' '$BIN/smtp-recv' 2>/dev/null"
	[[ "$output" == *"250 2.0.0 OK id=1"* ]]
	[ "$(mp_new_count alice)" -eq 1 ]
}

@test "under xinetd (stderr is the connection) no log line reaches the client" {
	run "$PY" - "$BIN/smtp-recv" <<'PYTHON'
import socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen([sys.argv[1]], stdin=b, stdout=b, stderr=b)
b.close()
a.sendall(b'HELO x\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n')
a.shutdown(socket.SHUT_WR)
out = b''
while chunk := a.recv(65536):
    out += chunk
p.wait()
sys.stdout.write(out.decode())
PYTHON
	[ "$status" -eq 0 ]
	[[ "$output" == *"250 2.0.0 OK id=1"* ]]
	! [[ "$output" == *"prog="* ]] || false
	[ "$(mp_new_count alice)" -eq 1 ]
}
