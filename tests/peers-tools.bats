#!/usr/bin/env bats
# tests/peers-tools.bats - the servers smtp-relay's tests deliver to, tested
# on their own: tools/sink.py (aiosmtpd), tools/peers-postfix start-smarthost
# and start-sink (a private Postfix), tools/dovecot-lmtp (a private Dovecot).
# Each test starts a tool, talks to it with a client nobody here wrote
# (Python's smtplib, swaks, openssl), checks that it behaves as told, stops
# it by pid and checks that nothing of it is left running.
#
# Needs (Debian 12): bats, python3, python3-aiosmtpd, swaks, openssl,
# postfix, sasl2-bin, libsasl2-modules, libsasl2-modules-db, dovecot-core,
# dovecot-lmtpd, iproute2 (ss), procps, util-linux (runuser).

setup() {
	load lib
	TOOLS=$BATS_TEST_DIRNAME/tools
	T=$BATS_TEST_TMPDIR
	PF_DIR=
	DC_DIR=
}

teardown() {
	if [ -n "$PF_DIR" ]; then
		"$TOOLS/peers-postfix" stop "$PF_DIR"
	fi
	if [ -n "$DC_DIR" ]; then
		"$TOOLS/dovecot-lmtp" stop "$DC_DIR"
	fi
	mp_teardown
}

# ---- helpers ----------------------------------------------------------------


gone() {   # gone PID: exited (a zombie not yet reaped by init counts as gone)
	[ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

port_closed() {
	! mp_port_open "$1" || false
}

# start_sink [sink.py options]: a sink on a free port, dumps in $T/sink.
# Sets SINK_PORT and SINK_PID; returns once the pid file is there.
start_sink() {
	SINK_PORT=$(mp_free_port)
	mkdir -p "$T/sink"
	# 3>&-: bats waits for whatever holds its fd 3
	"$TOOLS/sink.py" --port "$SINK_PORT" --dir "$T/sink" --pidfile "$T/sink.pid" "$@" \
		2>>"$T/sink.log" 3>&- &
	SINK_PID=$!
	MP_PIDS+=("$SINK_PID")
	mp_wait_until 10 test -s "$T/sink.pid" || { cat "$T/sink.log"; return 1; }
	[ "$(cat "$T/sink.pid")" = "$SINK_PID" ]
}

# stop_sink: SIGTERM by pid; it exits 0, removes its pid file, frees the port
stop_sink() {
	kill "$SINK_PID"
	wait "$SINK_PID"
	[ ! -e "$T/sink.pid" ]
	port_closed "$SINK_PORT"
}

attempts_are() {
	[ "$(cat "$T/sink/attempts" 2>/dev/null)" = "$1" ]
}

# smtp PORT: runs the Python on stdin with smtplib imported and P = PORT
smtp() {
	"$PY" -c 'import smtplib, ssl, sys, json; P = int(sys.argv[1]); exec(sys.stdin.read())' "$1"
}

maildir_count() {   # maildir_count DIR N: DIR/new holds N files
	[ "$(find "$1/new" -type f | wc -l)" -eq "$2" ]
}

# ---- sink.py ------------------------------------------------------------------

@test "sink.py: saves the exact DATA bytes and the envelope, counts attempts, stops by pid" {
	start_sink
	# the pid file came only once it listened
	mp_port_open "$SINK_PORT"
	run smtp "$SINK_PORT" <<'EOF'
s = smtplib.SMTP("127.0.0.1", P, local_hostname="client.test")
print(s.ehlo()[0])
print(sorted(s.esmtp_features))
print(s.mail("x@a.test", ["SIZE=100", "BODY=8BITMIME"]))
print(s.rcpt("bob@b.test"), s.rcpt("carol@c.test"))
print(s.docmd("DATA"))
# dot-stuffed lines, a bare LF and a bare CR inside lines, 8-bit text
s.send(b"Subject: x\r\n\r\n..leading dot\r\n...\r\nbare\nlf, bare\rcr\r\n\xc3\xa9t\xc3\xa9\r\n.\r\n")
print(s.getreply())
s.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 250 ]
	[ "${lines[1]}" = "['8bitmime', 'help', 'size', 'smtputf8']" ]
	[ "${lines[4]}" = "(354, b'End data with <CR><LF>.<CR><LF>')" ]
	[ "${lines[5]}" = "(250, b'2.0.0 OK queued as 1')" ]
	attempts_are 1
	printf 'Subject: x\r\n\r\n.leading dot\r\n..\r\nbare\nlf, bare\rcr\r\n\xc3\xa9t\xc3\xa9\r\n' > "$T/want.eml"
	cmp "$T/want.eml" "$T/sink/1.eml"
	run "$PY" -c 'import json, sys; e = json.load(open(sys.argv[1])); print(e["mail_from"], e["rcpt_tos"], e["mail_options"], e["rcpt_options"], e["helo"], e["tls"], e["auth"]); print(e["peer"])' "$T/sink/1.env"
	echo "$output"
	[ "${lines[0]}" = "x@a.test ['bob@b.test', 'carol@c.test'] ['SIZE=100', 'BODY=8BITMIME'] [[], []] client.test False None" ]
	[[ ${lines[1]} =~ ^127\.0\.0\.1:[0-9]+$ ]]
	stop_sink
}

@test "sink.py --script: rcpt every time, data/mail/greet replies consumed in order" {
	cat > "$T/script" <<'EOF'
# what the sink is told to do
rcpt bob@b.test 550 5.1.1 no such user
data 451 4.3.0 try later
data 452 4.3.1 still not
greet 554 5.3.2 go away
mail 421 4.3.2 shutting down
EOF
	start_sink --script "$T/script"
	run smtp "$SINK_PORT" <<'EOF'
def connect():
    s = smtplib.SMTP()
    print("greet", s.connect("127.0.0.1", P))
    return s
s = connect()                       # greet 554: only QUIT works
print(s.docmd("EHLO c.test"))
print(s.docmd("QUIT"))
s = connect()                       # greeting as usual now
s.ehlo()
print(s.mail("x@a.test"))           # mail 421: the sink hangs up
try:
    print(s.noop())
except smtplib.SMTPServerDisconnected:
    print("disconnected")
for i in range(3):
    s = connect()
    s.ehlo()
    print(s.mail("x@a.test"), s.rcpt("bob@b.test"), s.rcpt("Bob@B.test"), s.rcpt("alice@b.test"))
    print(s.data(b"Subject: %d\r\n\r\nhi\r\n" % i))
    s.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "greet (554, b'5.3.2 go away')" ]
	[ "${lines[1]}" = "(503, b'5.5.1 No service, only QUIT')" ]
	[ "${lines[2]}" = "(221, b'2.0.0 Bye')" ]
	[[ ${lines[3]} == "greet (220, b'sink.test ESMTP sink.py')" ]]
	[ "${lines[4]}" = "(421, b'4.3.2 shutting down')" ]
	[ "${lines[5]}" = disconnected ]
	rcpts="(250, b'2.1.0 OK') (550, b'5.1.1 no such user') (550, b'5.1.1 no such user') (250, b'2.1.5 OK')"
	[ "${lines[7]}" = "$rcpts" ]
	[ "${lines[8]}" = "(451, b'4.3.0 try later')" ]
	[ "${lines[10]}" = "$rcpts" ]
	[ "${lines[11]}" = "(452, b'4.3.1 still not')" ]
	[ "${lines[13]}" = "$rcpts" ]
	[ "${lines[14]}" = "(250, b'2.0.0 OK queued as 1')" ]
	attempts_are 3
	# only the accepted one was kept, for the one accepted recipient
	[ "$(ls "$T/sink")" = "$(printf '1.eml\n1.env\nattempts')" ]
	grep -q '"alice@b.test"' "$T/sink/1.env"
	! grep -q bob "$T/sink/1.env" || false
	grep -qx $'Subject: 2\r' "$T/sink/1.eml"
	stop_sink
}

@test "sink.py --no-8bitmime --no-smtputf8: neither offered, both refused" {
	start_sink --no-8bitmime --no-smtputf8
	run swaks --server "127.0.0.1:$SINK_PORT" --quit-after EHLO
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^<-  250-SIZE 33554432' <<<"$output"
	! grep -q '8BITMIME\|SMTPUTF8' <<<"$output" || false
	run smtp "$SINK_PORT" <<'EOF'
s = smtplib.SMTP("127.0.0.1", P)
s.ehlo()
print(s.docmd("MAIL FROM:<x@a.test> BODY=8BITMIME"))
print(s.docmd("MAIL FROM:<x@a.test> SMTPUTF8"))
print(s.docmd("MAIL FROM:<x@a.test> BODY=7BIT"))
EOF
	echo "$output"
	[ "${lines[0]}" = "(555, b'5.5.4 BODY=8BITMIME was not offered')" ]
	[[ ${lines[1]} == "(501, "* ]]
	[ "${lines[2]}" = "(250, b'2.1.0 OK')" ]
	stop_sink
}

@test "sink.py --tls-cert --require-tls --auth: STARTTLS first, then AUTH, recorded in the .env" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=sink.test -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
	start_sink --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --require-tls --auth 'alice@example.test:se cret'
	run smtp "$SINK_PORT" <<'EOF'
s = smtplib.SMTP("127.0.0.1", P)
s.ehlo()
print(sorted(s.esmtp_features))
print(s.docmd("MAIL FROM:<x@a.test>"))
s.starttls(context=ssl._create_unverified_context())
s.ehlo()
print(sorted(s.esmtp_features), s.esmtp_features["auth"].strip())
print(s.docmd("MAIL FROM:<x@a.test>"))
try:
    s.login("alice@example.test", "wrong")
except smtplib.SMTPAuthenticationError as e:
    print(e.smtp_code)
print(s.login("alice@example.test", "se cret"))
print(s.sendmail("x@a.test", ["bob@b.test"], b"Subject: tls\r\n\r\nhi\r\n"))
s.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "['8bitmime', 'help', 'size', 'smtputf8', 'starttls']" ]
	[ "${lines[1]}" = "(530, b'Must issue a STARTTLS command first')" ]
	[ "${lines[2]}" = "['8bitmime', 'auth', 'help', 'size', 'smtputf8'] LOGIN PLAIN" ]
	[ "${lines[3]}" = "(530, b'5.7.0 Authentication required')" ]
	[ "${lines[4]}" = 535 ]
	[ "${lines[5]}" = "(235, b'2.7.0 Authentication successful')" ]
	[ "${lines[6]}" = "{}" ]
	grep -q '"tls": true' "$T/sink/1.env"
	grep -q '"auth": "alice@example.test"' "$T/sink/1.env"
	stop_sink

	# --auth without TLS: AUTH is offered in the clear (a client must not use it)
	start_sink --auth alice:x
	run swaks --server "127.0.0.1:$SINK_PORT" --quit-after EHLO
	grep -q '^<-  250-AUTH LOGIN PLAIN' <<<"$output"
	stop_sink
}

# ---- peers-postfix start-smarthost / start-sink ---------------------------------

@test "peers-postfix start-smarthost: STARTTLS and AUTH required, CHUNKING offered, delivers to the Maildir" {
	etc_before=$(find /etc/postfix -exec stat -c '%n %s %Y %a' {} + | sort)
	PF_DIR=$T/postfix
	mkdir "$PF_DIR"
	mp_open_dirs "$PF_DIR"
	port=$(mp_free_port)
	echo 's3cret pass' | "$TOOLS/peers-postfix" start-smarthost "$PF_DIR" "$port" alice@example.test "$T/maildir"
	master=$(tr -d ' ' < "$PF_DIR/spool/pid/master.pid")
	# it listens on 127.0.0.1:PORT and nowhere else
	[ "$(ss -Hltnp | grep "pid=$master," | awk '{print $4}')" = "127.0.0.1:$port" ]

	run swaks --server "127.0.0.1:$port" -f x@a.test -t bob@b.test
	echo "$output"
	grep -q '^<\*\* 530 5.7.0 Must issue a STARTTLS command first' <<<"$output"
	# no AUTH: nothing is relayed
	run swaks --server "127.0.0.1:$port" --tls -f x@a.test -t bob@b.test
	grep -q '^<~\* 554 5.7.1 <bob@b.test>: Recipient address rejected: Access denied' <<<"$output"
	run swaks --server "127.0.0.1:$port" --tls -f x@a.test -t bob@b.test -a PLAIN -au alice@example.test -ap wrong
	grep -q '^<~\* 535 5.7.8' <<<"$output"
	# AUTH only under TLS, CHUNKING after STARTTLS too
	run swaks --server "127.0.0.1:$port" --quit-after EHLO
	! grep -q AUTH <<<"$output" || false
	run swaks --server "127.0.0.1:$port" --tls -f x@a.test -t bob@b.test,carol@c.test \
		-a PLAIN -au alice@example.test -ap 's3cret pass' --header 'Subject: via the smarthost'
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^<~  250-AUTH PLAIN LOGIN' <<<"$output"
	grep -q '^<~  250-PIPELINING' <<<"$output"
	grep -q '^<~  250 CHUNKING' <<<"$output"
	grep -q '^<~  235 2.7.0 Authentication successful' <<<"$output"
	grep -q '^<~  250 2.0.0 Ok: queued as' <<<"$output"

	# one file per recipient, each saying whom it was for
	mp_wait_until 30 maildir_count "$T/maildir" 2 || { cat "$PF_DIR/maillog"; false; }
	grep -l '^Delivered-To: bob@b.test$' "$T/maildir/new/"*
	grep -l '^Delivered-To: carol@c.test$' "$T/maildir/new/"*
	grep -q '^Subject: via the smarthost$' "$T/maildir/new/"*
	grep -q 'with ESMTPSA id' "$T/maildir/new/"*

	# its certificate serves as a CA file for 127.0.0.1 (tls=verify ca=)
	run timeout 20 openssl s_client -starttls smtp -connect "127.0.0.1:$port" \
		-CAfile "$PF_DIR/etc/cert.pem" -verify_ip 127.0.0.1 -verify_return_error </dev/null
	grep -q 'Verify return code: 0 (ok)' <<<"$output"

	"$TOOLS/peers-postfix" stop "$PF_DIR"
	mp_wait_until 10 gone "$master"
	port_closed "$port"
	PF_DIR=
	[ "$etc_before" = "$(find /etc/postfix -exec stat -c '%n %s %Y %a' {} + | sort)" ]
}

@test "peers-postfix start-sink: any recipient, 2 MiB over BDAT lands byte for byte" {
	PF_DIR=$T/postfix
	mkdir "$PF_DIR"
	mp_open_dirs "$PF_DIR"
	port=$(mp_free_port)
	"$TOOLS/peers-postfix" start-sink "$PF_DIR" "$port" "$T/maildir"
	master=$(tr -d ' ' < "$PF_DIR/spool/pid/master.pid")
	# CHUNKING by hand (smtplib and swaks have no BDAT): three chunks, one
	# boundary between CR and LF, lines of dots that BDAT never stuffs
	run "$PY" - "$port" "$T/sent.eml" <<'EOF'
import random, socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
rnd = random.Random(5)
lines = [b"From: a@a.test", b"To: b@b.test", b"Subject: big", b""]
size = 0
while size < 2 * 1024 * 1024:
    line = b"." if rnd.random() < 0.01 else bytes(rnd.choice(b"ab .\xc3\xa9z") for _ in range(rnd.randint(0, 200)))
    lines.append(line)
    size += len(line) + 2
msg = b"\r\n".join(lines) + b"\r\n"
open(out, "wb").write(msg)
s = socket.create_connection(("127.0.0.1", port), 30)
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline().decode().rstrip()
        print(line)
        if line[3:4] != "-":
            return line
def cmd(c):
    s.sendall(c + b"\r\n")
    return reply()
reply()
cmd(b"EHLO client.test")
cmd(b"MAIL FROM:<a@a.test> BODY=8BITMIME SIZE=%d" % len(msg))
cmd(b"RCPT TO:<b@b.test>")
cut = msg.index(b"\r\n", 1000000) + 1
cuts = [0, cut, len(msg) // 2, len(msg)]
for i in range(3):
    chunk = msg[cuts[i]:cuts[i + 1]]
    s.sendall(b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if i == 2 else b"") + chunk)
    reply()
cmd(b"QUIT")
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx '250 CHUNKING' <<<"$output"
	! grep -q STARTTLS <<<"$output" || false
	grep -q '^250 2.0.0 Ok: [0-9]* bytes queued as' <<<"$output"
	mp_wait_until 30 maildir_count "$T/maildir" 1 || { cat "$PF_DIR/maillog"; false; }
	file=$(find "$T/maildir/new" -type f)
	head -n 5 "$file"
	# Postfix prepends Return-Path, Delivered-To and its Received (folded);
	# below them is the message, LF for CRLF, nothing else changed
	[ "$(sed -n 1p "$file")" = 'Return-Path: <a@a.test>' ]
	[ "$(sed -n 2p "$file")" = 'Delivered-To: b@b.test' ]
	[[ $(sed -n 3p "$file") == 'Received: from client.test (localhost [127.0.0.1])' ]]
	awk 'NR <= 3 { next } !body && /^[ \t]/ { next } { body = 1; print }' "$file" > "$T/got.eml"
	sed 's/\r$//' "$T/sent.eml" | cmp - "$T/got.eml"

	"$TOOLS/peers-postfix" stop "$PF_DIR"
	mp_wait_until 10 gone "$master"
	port_closed "$port"
	PF_DIR=
}

# ---- dovecot-lmtp -------------------------------------------------------------

@test "dovecot-lmtp: LMTP on 127.0.0.1:PORT and DIR/lmtp, one reply per recipient, Maildir per user" {
	DC_DIR=$T/dovecot
	mkdir "$DC_DIR"
	mp_open_dirs "$DC_DIR"
	port=$(mp_free_port)
	run "$TOOLS/dovecot-lmtp" start "$DC_DIR" "$port"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	master=$(cat "$DC_DIR/run/master.pid")
	kids=$(ps -o pid= --ppid "$master")
	run smtp "$port" <<'EOF'
l = smtplib.LMTP("127.0.0.1", P)
print(l.ehlo()[1].decode().split("\n")[0])
print(l.sendmail("x@a.test", ["bob@b.test"], b"Subject: one\r\n\r\n.dot\r\n"))
l.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = lmtp.test ]
	[ "${lines[1]}" = "{}" ]
	file=$(find "$DC_DIR/mail/b.test/bob/new" -type f)
	cat "$file"
	grep -qx 'Delivered-To: bob@b.test' "$file"
	grep -qx 'Subject: one' "$file"
	grep -qx '\.dot' "$file"

	# the unix socket: LMTP answers DATA once per recipient
	run "$PY" - "$DC_DIR/lmtp" <<'EOF'
import smtplib, sys
l = smtplib.LMTP(sys.argv[1])
l.ehlo()
print(l.mail("x@a.test")[0], l.rcpt("bob@b.test")[0], l.rcpt("carol@c.test")[0])
print(l.docmd("DATA")[0])
l.send(b"Subject: two\r\n\r\nhi\r\n.\r\n")
print(l.getreply())
print(l.getreply())
l.quit()
EOF
	echo "$output"
	[ "${lines[0]}" = "250 250 250" ]
	[ "${lines[1]}" = 354 ]
	[[ ${lines[2]} == "(250, b'2.0.0 <bob@b.test> "*" Saved')" ]]
	[[ ${lines[3]} == "(250, b'2.0.0 <carol@c.test> "*" Saved')" ]]
	[ "$(find "$DC_DIR/mail/b.test/bob/new" -type f | wc -l)" -eq 2 ]
	[ "$(find "$DC_DIR/mail/c.test/carol/new" -type f | wc -l)" -eq 1 ]

	"$TOOLS/dovecot-lmtp" stop "$DC_DIR"
	for pid in "$master" $kids; do
		gone "$pid"
	done
	port_closed "$port"
	[ ! -e "$DC_DIR/run/master.pid" ]
	DC_DIR=
}
