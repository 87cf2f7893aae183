#!/usr/bin/env bats
# tests/peers.bats - smtp-recv over TCP with real clients nobody here wrote:
# Python's smtplib, swaks, Postfix's smtp-source and a private Postfix
# instance relaying to us.  Each test checks what a user sees: the reply
# codes, and the message in the Maildir, intact.
#
# Needs (Debian 12): bats, python3, swaks, postfix, sqlite3, systemd
# (systemd-socket-activate), iproute2 (ss), util-linux (runuser).

setup() {
	load lib
	mp_setup
	TOOLS=$BATS_TEST_DIRNAME/tools
	PF_DIR=
}

teardown() {
	if [ -n "$PF_DIR" ]; then
		"$TOOLS/peers-postfix" stop "$PF_DIR"
	fi
	mp_teardown
	# every smtp-recv ended well: exit 0, nothing from a sanitizer
	# (make SANITIZE=1); a leak or crash after QUIT is invisible to clients
	if grep -E 'died with (code [1-9]|signal)|Sanitizer|runtime error' "$MP_DIR/smtp-recv.log" 2>/dev/null; then
		return 1
	fi
}

# ---- helpers ----------------------------------------------------------------


db() {
	sqlite3 "$MP_STATE/mail.db" "$1"
}

# Every file in USER's new/ has the size its name claims (,S=<size>), and
# nothing is left behind in tmp/.
sizes_match_names() {
	local f name size
	for f in "$(mp_maildir "$1")"/new/*; do
		name=${f##*/}
		size=$(stat -c %s "$f")
		[[ $name == *",S=$size" ]] || { echo "size $size but name $name" >&2; return 1; }
	done
	[ -z "$(ls -A "$(mp_maildir "$1")/tmp")" ]
}

# PID has exited (a zombie not yet reaped by init counts as gone).
pid_gone() {
	[ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

has_messages() {   # has_messages USER N
	[ "$(mp_new_count "$1")" -ge "$2" ]
}

# ---- Python smtplib -----------------------------------------------------------

@test "smtplib: EHLO lists PIPELINING SIZE 8BITMIME SMTPUTF8 ENHANCEDSTATUSCODES CHUNKING" {
	mp_listen
	run "$PY" - "$MP_PORT" <<'EOF'
import smtplib, sys
s = smtplib.SMTP(local_hostname="client.remote.test", timeout=30)
code, text = s.connect("127.0.0.1", int(sys.argv[1]))
print("greeting", code, text.decode())
code, text = s.ehlo()
print("ehlo", code, text.decode().splitlines()[0])
for k, v in sorted(s.esmtp_features.items()):
    print(("ext %s %s" % (k.upper(), v)).rstrip())
print("quit", s.quit()[0])
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'greeting 220 mx.example.test ESMTP mailpipe' <<<"$output"
	grep -qx 'ehlo 250 mx.example.test' <<<"$output"
	grep -qx 'ext PIPELINING' <<<"$output"
	grep -qx 'ext SIZE 26214400' <<<"$output"
	grep -qx 'ext 8BITMIME' <<<"$output"
	grep -qx 'ext SMTPUTF8' <<<"$output"
	grep -qx 'ext ENHANCEDSTATUSCODES' <<<"$output"
	grep -qx 'ext CHUNKING' <<<"$output"
	# no certificate configured: neither STARTTLS nor AUTH is offered
	[[ $output != *"ext STARTTLS"* && $output != *"ext AUTH"* ]]
	grep -qx 'quit 221' <<<"$output"
}

@test "smtplib: sendmail() to alice and bob delivers one byte-exact copy each" {
	mp_listen
	run "$PY" - "$MP_PORT" "$MP_DIR/sent.eml" <<'EOF'
import smtplib, sys
# a str: smtplib sends its LF line ends as CRLF (bytes would go out as they are)
msg = ("From: Sender <sender@remote.test>\n"
       "To: alice@example.test, bob@example.test\n"
       "Subject: byte-exact\n"
       "Message-ID: <byte-exact.1@remote.test>\n"
       "\n"
       "first line\n"
       ".a line starting with a dot\n"
       ".\n"
       "..\n"
       "trailing blanks   \n"
       "\ttab indented\n"
       "From the start of a line\n"
       + "x" * 990 + "\n"
       "\n"
       "last line, after an empty one\n")
with open(sys.argv[2], "w") as f:
    f.write(msg)
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.remote.test", timeout=30)
print("refused", s.sendmail("sender@remote.test", ["alice@example.test", "bob@example.test"], msg))
print("quit", s.quit()[0])
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'refused {}' <<<"$output"
	[ "$(mp_new_count alice)" -eq 1 ]
	[ "$(mp_new_count bob)" -eq 1 ]
	for user in alice bob; do
		file=$(mp_only_file $user)
		"$PY" "$TOOLS/peers-mail.py" body "$file" > "$MP_DIR/$user.body"
		cmp "$MP_DIR/sent.eml" "$MP_DIR/$user.body"
		"$PY" "$TOOLS/peers-mail.py" trace "$file" > "$MP_DIR/$user.trace"
		cat "$MP_DIR/$user.trace"
		grep -qx 'Return-Path: <sender@remote.test>' "$MP_DIR/$user.trace"
		grep -qx "Delivered-To: $user@example.test" "$MP_DIR/$user.trace"
		grep -q '^Received: from client.remote.test (\[127\.0\.0\.1\])$' "$MP_DIR/$user.trace"
		grep -q '^	by mx.example.test (mailpipe) with ESMTP id ' "$MP_DIR/$user.trace"
	done
	# one message, two recipients
	[ "$(db 'select count(*) from messages')" -eq 1 ]
	[ "$(db 'select count(*) from recipients')" -eq 2 ]
}

@test "smtplib: send_message() with an 8-bit UTF-8 body and BODY=8BITMIME" {
	mp_listen
	run "$PY" - "$MP_PORT" "$MP_DIR/sent.eml" "$MP_DIR/sent.txt" <<'EOF'
import io, smtplib, sys
from email.generator import BytesGenerator
from email.message import EmailMessage
text = "Grüße aus Köln – ½ € ✓ 日本語\nzweite Zeile: ÄÖÜ äöü ß\n"
m = EmailMessage()
m["From"] = "sender@remote.test"
m["To"] = "alice@example.test"
m["Subject"] = "8bit body"
m.set_content(text, charset="utf-8", cte="8bit")
# what send_message() sends, with LF line ends as the Maildir keeps them
buf = io.BytesIO()
BytesGenerator(buf).flatten(m, linesep="\n")
open(sys.argv[2], "wb").write(buf.getvalue())
open(sys.argv[3], "wb").write(text.encode("utf-8"))
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.remote.test", timeout=30)
s.set_debuglevel(1)   # the dialogue goes to stderr, so the test can see it
print("refused", s.send_message(m, mail_options=["BODY=8BITMIME"]))
s.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'refused {}' <<<"$output"
	grep -q "send: 'mail FROM:<sender@remote.test> size=[0-9]* BODY=8BITMIME" <<<"$output"
	grep -q "^reply: b'250 2.0.0 OK id=1" <<<"$output"
	file=$(mp_only_file alice)
	# the octets themselves arrive: not re-encoded, not stripped to 7 bits
	"$PY" "$TOOLS/peers-mail.py" body "$file" > "$MP_DIR/got.eml"
	cmp "$MP_DIR/sent.eml" "$MP_DIR/got.eml"
	grep -qx 'Content-Transfer-Encoding: 8bit' "$file"
	"$PY" "$TOOLS/peers-mail.py" text "$file" > "$MP_DIR/got.txt"
	cmp "$MP_DIR/sent.txt" "$MP_DIR/got.txt"
}

@test "smtplib: an SMTPUTF8 sender address is accepted (and refused without SMTPUTF8)" {
	mp_listen
	run "$PY" - "$MP_PORT" <<'EOF'
import smtplib, sys
sender = "jörg@bücher.test"
msg = ("From: Jörg <%s>\r\nTo: alice@example.test\r\nSubject: utf8 sender\r\n\r\nhallo\r\n" % sender).encode()
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.remote.test", timeout=30)
s.ehlo()
s.command_encoding = "utf-8"      # send the UTF-8 address, but without SMTPUTF8
code, text = s.mail(sender)
print("without", code, text.decode())
s.rset()
print("refused", s.sendmail(sender, ["alice@example.test"], msg, mail_options=["SMTPUTF8"]))
s.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^without 553 5\.6\.7 ' <<<"$output"
	grep -qx 'refused {}' <<<"$output"
	file=$(mp_only_file alice)
	cat "$file"
	grep -qx 'Return-Path: <jörg@bücher.test>' "$file"
	grep -qx 'From: Jörg <jörg@bücher.test>' "$file"
	grep -q '^	by mx.example.test (mailpipe) with UTF8SMTP id ' "$file"
	[ "$(db 'select sender from messages')" = 'jörg@bücher.test' ]
}

@test "smtplib: relaying to a remote address is refused with 554 5.7.1" {
	# Without a relay-clients file loopback may relay; this file lets
	# nobody relay without AUTH, so 127.0.0.1 is an outsider here.
	echo '# nobody relays' > "$MAILPIPE_CONF/relay-clients"
	mp_listen
	run "$PY" - "$MP_PORT" <<'EOF'
import smtplib, sys
msg = "From: sender@remote.test\nSubject: relay?\n\nplease relay\n"
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.remote.test", timeout=30)
try:
    s.sendmail("sender@remote.test", ["someone@elsewhere.test"], msg)
    print("relayed")
except smtplib.SMTPRecipientsRefused as e:
    for rcpt, (code, text) in e.recipients.items():
        print("refused", rcpt, code, text.decode())
# the session goes on: local mail is still taken
print("local", s.sendmail("sender@remote.test", ["alice@example.test"], msg))
s.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^refused someone@elsewhere.test 554 5\.7\.1 ' <<<"$output"
	[[ $output != *relayed* ]]
	grep -qx 'local {}' <<<"$output"
	[ "$(mp_new_count alice)" -eq 1 ]
	[ "$(db "select count(*) from recipients where kind = 'remote'")" -eq 0 ]
}

@test "smtplib: an unknown local user is refused with 550 5.1.1" {
	mp_listen
	run "$PY" - "$MP_PORT" <<'EOF'
import smtplib, sys
msg = "From: sender@remote.test\nSubject: who?\n\nhello\n"
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.remote.test", timeout=30)
try:
    s.sendmail("sender@remote.test", ["nobody@example.test"], msg)
    print("accepted")
except smtplib.SMTPRecipientsRefused as e:
    for rcpt, (code, text) in e.recipients.items():
        print("refused", rcpt, code, text.decode())
# one bad recipient among good ones: the good one still gets it
print("mixed", s.sendmail("sender@remote.test", ["nobody@example.test", "alice@example.test"], msg))
s.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^refused nobody@example.test 550 5\.1\.1 ' <<<"$output"
	[[ $output != *accepted* ]]
	grep -q "^mixed {'nobody@example.test': (550, b'5\.1\.1 " <<<"$output"
	[ "$(mp_new_count alice)" -eq 1 ]
	[ "$(db 'select count(*) from recipients')" -eq 1 ]
}

@test "smtplib: a message over max_size gets 552, by SIZE= and by overrunning DATA" {
	mp_conf max_size 100000
	mp_listen
	run "$PY" - "$MP_PORT" <<'EOF'
import smtplib, sys
big = "Subject: big\n\n" + ("y" * 76 + "\n") * 2000        # about 156 kB with CRLF
small = "Subject: small\n\n" + ("z" * 76 + "\n") * 500     # about 39 kB
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.remote.test", timeout=30)
s.ehlo()
print("size", s.esmtp_features["size"])
try:
    s.sendmail("sender@remote.test", ["alice@example.test"], big)   # MAIL ... SIZE=
    print("big accepted")
except smtplib.SMTPSenderRefused as e:
    print("sizeparam", e.smtp_code, e.smtp_error.decode())
# no SIZE= this time: the server only learns it while reading the data
print("mail", s.mail("sender@remote.test")[0])
print("rcpt", s.rcpt("alice@example.test")[0])
code, text = s.data(big)
print("data", code, text.decode())
print("small", s.sendmail("sender@remote.test", ["alice@example.test"], small))
s.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'size 100000' <<<"$output"
	grep -q '^sizeparam 552 5\.3\.4 ' <<<"$output"
	grep -qx 'mail 250' <<<"$output"
	grep -qx 'rcpt 250' <<<"$output"
	grep -q '^data 552 5\.3\.4 ' <<<"$output"
	grep -qx 'small {}' <<<"$output"
	file=$(mp_only_file alice)
	grep -qx 'Subject: small' "$file"
	[ "$(db 'select count(*) from messages')" -eq 1 ]
}

# ---- swaks --------------------------------------------------------------------

@test "swaks: plain delivery over TCP" {
	mp_listen
	run swaks --server "127.0.0.1:$MP_PORT" --helo client.remote.test \
		--from sender@remote.test --to alice@example.test \
		--header "Subject: swaks plain" --body "hello from swaks"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^<-  250 2\.0\.0 OK id=1$' <<<"$output"
	file=$(mp_only_file alice)
	grep -qx 'Subject: swaks plain' "$file"
	grep -qx 'hello from swaks' "$file"
	grep -qx 'Received: from client.remote.test (\[127\.0\.0\.1\])' "$file"
}

@test "swaks --pipe: smtp-recv on stdin/stdout delivers" {
	# swaks runs the program with SIGCHLD (and SIGPIPE) ignored, as some
	# inetd-style parents do; smtp-recv must still learn mail-store's status.
	run swaks --pipe "$BIN/smtp-recv" --helo client.remote.test \
		--from sender@remote.test --to alice@example.test \
		--header "Subject: swaks pipe" --body "hello through a pipe"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^<-  250 2\.0\.0 OK id=1$' <<<"$output"
	file=$(mp_only_file alice)
	grep -qx 'Subject: swaks pipe' "$file"
	grep -qx 'hello through a pipe' "$file"
	# not a socket and no TCPREMOTEIP: the client is "unknown"
	grep -qx 'Received: from client.remote.test (unknown)' "$file"
}

@test "swaks: a 1 MiB attachment arrives complete" {
	mp_listen
	head -c 1048576 /dev/urandom > "$MP_DIR/blob.bin"
	sum=$(md5sum < "$MP_DIR/blob.bin" | cut -d' ' -f1)
	run swaks --server "127.0.0.1:$MP_PORT" --helo client.remote.test \
		--from sender@remote.test --to alice@example.test \
		--header "Subject: swaks attachment" --attach "@$MP_DIR/blob.bin" \
		--suppress-data
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^<-  250 2\.0\.0 OK id=1$' <<<"$output"
	file=$(mp_only_file alice)
	run "$PY" "$TOOLS/peers-mail.py" attachments "$file"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "blob.bin 1048576 $sum" ]
	sizes_match_names alice
}

# ---- Postfix's smtp-source ------------------------------------------------------

@test "smtp-source: 200 messages over 10 parallel sessions, each stored once" {
	mp_listen
	run smtp-source -s 10 -m 200 -c -f sender@remote.test -t alice@example.test "127.0.0.1:$MP_PORT"
	echo "$output" | tail -n 3
	[ "$status" -eq 0 ]
	# 250 came only after each message was durable: count right away
	[ "$(mp_new_count alice)" -eq 200 ]
	[ "$(db 'select count(*) from messages')" -eq 200 ]
	# smtp-source sends the same body each time, but its Message-Id
	# <pid.fd.counter@host> differs: none lost, none stored twice
	[ "$(db 'select count(distinct message_id) from messages')" -eq 200 ]
	[ "$(db "select count(*) from recipients where status = 'delivered'")" -eq 200 ]
	sizes_match_names alice
}

@test "smtp-source -d: 50 messages over 2 long-lived sessions" {
	mp_listen
	run smtp-source -d -s 2 -m 50 -l 2048 -f sender@remote.test -t alice@example.test "127.0.0.1:$MP_PORT"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(mp_new_count alice)" -eq 50 ]
	[ "$(db 'select count(*) from messages')" -eq 50 ]
	[ "$(db 'select count(distinct message_id) from messages')" -eq 50 ]
	sizes_match_names alice
	# really two connections, many transactions each
	sessions=$(grep 'event=accepted' "$MP_DIR/smtp-recv.log" | grep -o ' sid=[0-9a-f]*' | sort -u | wc -l)
	[ "$sessions" -eq 2 ]
}

# ---- a private Postfix instance relaying to us ------------------------------

@test "postfix: a private Postfix instance relays a message to mailpipe" {
	etc_before=$(find /etc/postfix -exec stat -c '%n %s %Y %a' {} + | sort; find /etc/postfix -type f -exec sha256sum {} + | sort)
	mp_listen
	PF_DIR=$BATS_TEST_TMPDIR/postfix
	mkdir "$PF_DIR"
	mp_open_dirs "$PF_DIR"   # for the user postfix
	"$TOOLS/peers-postfix" start "$PF_DIR" "$MP_PORT"
	master=$(cat "$PF_DIR/spool/pid/master.pid" | tr -d ' ')
	# it listens on no TCP port at all (so never on 25)
	[ -z "$(ss -Hltnp | grep "pid=$master,")" ]

	cat > "$MP_DIR/submit.eml" <<'EOF'
From: Xavier <x@remote.test>
To: Alice <alice@example.test>
Subject: through a real relay
Message-ID: <relay-test.1@remote.test>
Date: Mon, 01 Jan 2024 12:00:00 +0000

Hello Alice,

this went through Postfix first.
.
..a line with two dots
-- 
x
EOF
	sed '1,/^$/d' "$MP_DIR/submit.eml" > "$MP_DIR/submit.body"
	# -i: a line with a single dot is text, not the end of the message
	/usr/sbin/sendmail -C "$PF_DIR/etc" -i -f x@remote.test alice@example.test < "$MP_DIR/submit.eml"

	mp_wait_until 60 has_messages alice 1 || { cat "$PF_DIR/maillog"; false; }
	mp_wait_until 10 grep -q 'status=sent' "$PF_DIR/maillog"
	cat "$PF_DIR/maillog"
	# Postfix saw our 250 at once, for the right hop, and never had to retry
	grep -q "to=<alice@example.test>, relay=127.0.0.1\[127.0.0.1\]:$MP_PORT, .*status=sent (250 2\.0\.0 OK id=1)" "$PF_DIR/maillog"
	! grep -q 'status=deferred\|status=bounced' "$PF_DIR/maillog" || false

	file=$(mp_only_file alice)
	cat "$file"
	grep -qx 'Return-Path: <x@remote.test>' "$file"
	grep -qx 'Subject: through a real relay' "$file"
	grep -qx 'Message-ID: <relay-test.1@remote.test>' "$file"
	sed '1,/^$/d' "$file" > "$MP_DIR/got.body"
	cmp "$MP_DIR/submit.body" "$MP_DIR/got.body"
	# two hops: ours on top, naming Postfix's EHLO and address, then Postfix's
	ours=$(grep -n '^Received: from peer.remote.test (\[127\.0\.0\.1\])$' "$file" | cut -d: -f1)
	theirs=$(grep -n '^Received: by peer.remote.test (Postfix' "$file" | cut -d: -f1)
	[ -n "$ours" ]
	[ -n "$theirs" ]
	[ "$ours" -lt "$theirs" ]
	grep -q '^	by mx.example.test (mailpipe) with ESMTP id ' "$file"
	[ "$(db 'select helo, client, message_id from messages')" = 'peer.remote.test|127.0.0.1|<relay-test.1@remote.test>' ]

	"$TOOLS/peers-postfix" stop "$PF_DIR"
	mp_wait_until 10 pid_gone "$master"
	etc_after=$(find /etc/postfix -exec stat -c '%n %s %Y %a' {} + | sort; find /etc/postfix -type f -exec sha256sum {} + | sort)
	[ "$etc_before" = "$etc_after" ]
}
