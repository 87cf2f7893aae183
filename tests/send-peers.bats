#!/usr/bin/env bats
# tests/send-peers.bats - smtp-send against servers nobody here wrote and
# against our own smtp-recv in each of its modes:
#
#   - Postfix's smtp-sink(1): one message byte for byte, a 1000-row CSV list
#     over one connection, a 421 after every message, 4xx/5xx replies;
#   - a private Postfix (tools/peers-postfix start-smarthost) that requires
#     STARTTLS and AUTH: the password from $SMTP_PASSWORD and from -P FILE,
#     a wrong one, AUTH LOGIN, a CSV list over one authenticated session;
#   - smtp-recv: default mode (port 25), -s (submission: STARTTLS + AUTH),
#     -t and -s -t (implicit TLS), with a certificate made for the test;
#   - certificate checks: self-signed without --ca, --insecure, --ca, a name
#     that does not match;
#   - the password: never in -v output (nor its base64), never in smtp-recv's
#     log, never in ps or /proc/PID/cmdline, gone from /proc/PID/environ;
#     -a without -T is refused before any connection.
#
# What a user sees is checked: the bytes that arrive, the exit code, the
# lines on stdout and stderr.  Nothing here sleeps to wait: every wait is on
# a condition, bounded (mp_wait_until).
#
# Needs (Debian 12): bats, postfix (smtp-sink), sasl2-bin, libsasl2-modules,
# libsasl2-modules-db, openssl, python3, systemd (systemd-socket-activate),
# iproute2 (ss), procps (ps), util-linux (runuser, script); root.

setup() {
	load lib
	mp_setup
	TOOLS=$BATS_TEST_DIRNAME/tools
	PF_DIR=
	mp_conf timeout 10
	mp_open_dirs   # for the users postfix and mail
}

teardown() {
	[ -z "$PF_DIR" ] || "$TOOLS/peers-postfix" stop "$PF_DIR"
	mp_teardown
	# every smtp-recv ended well and no sanitizer spoke (sanitizer build)
	! grep -E 'died with (code [1-9]|signal)|Sanitizer|runtime error' "$MP_DIR"/*.log 2>/dev/null || false
}

# ---- helpers ----------------------------------------------------------------

# listening PORT: something listens on 127.0.0.1:PORT (asked of the kernel:
# no test connection that a server would count)
listening() {
	[ -n "$(ss -Hltn "src 127.0.0.1:$1")" ]
}

# smtp_sink [smtp-sink options]: Postfix's smtp-sink on 127.0.0.1:SINK_PORT;
# every message dumped into a file of $SINK_DIR/dump/, the counters (-c)
# in $SINK_DIR/out.
smtp_sink() {
	SINK_DIR=$MP_DIR/smtp-sink
	mkdir -p "$SINK_DIR/dump"
	chown postfix "$SINK_DIR/dump"
	SINK_PORT=$(mp_free_port)
	smtp-sink -u postfix -c -d "$SINK_DIR/dump/%M." "$@" "127.0.0.1:$SINK_PORT" 100 \
		>"$SINK_DIR/out" 2>&1 3>&- &
	MP_PIDS+=($!)
	mp_wait_until 10 listening "$SINK_PORT"
}

# The last counters smtp-sink wrote: "sess=N quit=N mesg=N" (a session is
# counted when it ends).
sink_counters() {
	tr '\r' '\n' < "$SINK_DIR/out" | grep '^sess=' | tail -n 1
}

counters_are() {
	[ "$(sink_counters)" = "$1" ]
}

counters_match() {
	[[ $(sink_counters) =~ $1 ]]
}

dumped() {
	find "$SINK_DIR/dump" -type f | wc -l
}

# sink_message FILE: a dumped message as the client sent it: without the
# lines smtp-sink puts first (X-Client-Addr ... X-Rcpt-Args, its Received:)
# and the empty line it appends.
sink_message() {
	awk 'top && (/^X-(Client-Addr|Client-Proto|Helo-Args|Mail-Args|Rcpt-Args): / ||
		     /^Received: / || /^\t/) { next }
	     { top = 0; print }' top=1 "$1" | head -c -1
}

# A free port where a TCP listener (python) answers no one until DIR/go
# appears; DIR/accepted appears at the first connection.  Once DIR/go is
# there it takes every connection still waiting in the kernel's queue,
# writes how many it had in DIR/count, tells each "421 4.3.2" and exits.
# Sets LISTEN_PORT.
listener() {
	local dir=$1
	mkdir -p "$dir"
	LISTEN_PORT=$(mp_free_port)
	$PY - "$LISTEN_PORT" "$dir" 3>&- <<'EOF' &
import os, select, socket, sys, time
port, d = int(sys.argv[1]), sys.argv[2]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(16)
open(os.path.join(d, "listening"), "w").close()
conns = []
deadline = time.monotonic() + 60
while not os.path.exists(os.path.join(d, "go")) and time.monotonic() < deadline:
    if select.select([s], [], [], 0.05)[0]:
        conns.append(s.accept()[0])
        open(os.path.join(d, "accepted"), "w").close()
s.setblocking(False)
try:
    while True:
        conns.append(s.accept()[0])
except BlockingIOError:
    pass
for c in conns:
    try:
        c.sendall(b"421 4.3.2 not today\r\n")
    except OSError:
        pass
    c.close()
with open(os.path.join(d, "count.tmp"), "w") as f:
    f.write("%d\n" % len(conns))
os.rename(os.path.join(d, "count.tmp"), os.path.join(d, "count"))
EOF
	MP_PIDS+=($!)
	mp_wait_until 10 test -e "$dir/listening"
}

# tls_conf: a self-signed certificate for the name localhost only (not
# 127.0.0.1) as smtp-recv's tls_cert/tls_key; CERT is its file.
tls_conf() {
	CERT=$MP_DIR/cert.pem
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost \
		-keyout "$MP_DIR/key.pem" -out "$CERT" 2>/dev/null
	mp_conf tls_cert "$CERT"
	mp_conf tls_key "$MP_DIR/key.pem"
}

# smarthost USER PASSWORD: a private Postfix on PF_PORT requiring STARTTLS
# and AUTH; it delivers into $MP_DIR/pf-mail/new.  Its certificate,
# $PF_DIR/etc/cert.pem, names localhost and 127.0.0.1.
smarthost() {
	PF_DIR=$MP_DIR/postfix
	mkdir -p "$PF_DIR" "$MP_DIR/pf-mail"
	PF_PORT=$(mp_free_port)
	printf '%s\n' "$2" | "$TOOLS/peers-postfix" start-smarthost "$PF_DIR" "$PF_PORT" "$1" "$MP_DIR/pf-mail"
}

pf_count() {
	find "$MP_DIR/pf-mail/new" -type f | wc -l
}

pf_has() {
	[ "$(pf_count)" -ge "$1" ]
}

# A message with every field smtp-send would otherwise add: what is sent is
# what must arrive.  It has a line of one dot, which would end the data if
# it were not stuffed.
message() {
	printf 'From: Alice <alice@example.org>\nTo: Bob <bob@example.net>\nSubject: %s\nDate: Tue, 01 Jan 2030 10:00:00 +0000\nMessage-ID: <%s@example.org>\n\nfirst line\n.\n..two dots\n.leading dot\nlast line\n' \
		"$1" "$1"
}

# has_messages USER N: USER@example.test has at least N new messages
has_messages() {
	[ "$(mp_new_count "$1")" -ge "$2" ]
}

# delivered_tail FILE SENT: FILE (a Maildir file: headers prepended by the
# server) ends with the bytes of SENT
ends_with() {
	local size
	size=$(stat -c %s "$2")
	cmp <(tail -c "$size" "$1") "$2"
}

# ---- Postfix smtp-sink --------------------------------------------------------

@test "smtp-sink: one message arrives byte for byte (a lone dot line too); exit 0, nothing printed" {
	smtp_sink
	message plain-sink > "$MP_DIR/msg"
	run "$BIN/smtp-send" -S "127.0.0.1:$SINK_PORT" -f alice@example.org bob@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	mp_wait_until 10 counters_are "sess=1 quit=1 mesg=1"
	[ "$(dumped)" -eq 1 ]
	f=$(find "$SINK_DIR/dump" -type f)
	grep -qx 'X-Mail-Args: <alice@example.org>' "$f"
	grep -qx 'X-Rcpt-Args: <bob@example.net>' "$f"
	cmp <(sink_message "$f") "$MP_DIR/msg"
}

@test "smtp-sink: 1000 CSV rows over ONE connection, each personalised and arriving exactly once" {
	smtp_sink
	{
		echo name,email
		for i in $(seq 1 1000); do echo "Member $i,user$i@example.net"; done
	} > "$MP_DIR/list.csv"
	printf 'From: Club <club@example.org>\nTo: {{name}} <{{email}}>\nSubject: News for {{ name }}\n\nDear {{name}},\nthe club meets on Friday.\n' \
		> "$MP_DIR/tpl"
	"$BIN/smtp-send" -S "127.0.0.1:$SINK_PORT" -f club@example.org --csv "$MP_DIR/list.csv" \
		< "$MP_DIR/tpl" > "$MP_DIR/out" 2> "$MP_DIR/err" || { cat "$MP_DIR/err"; false; }
	# one line per row, in order, each a 250; nothing on stderr (no terminal)
	for i in $(seq 1 1000); do echo "row=$i to=<user$i@example.net> reply=250 2.0.0"; done > "$MP_DIR/want"
	diff "$MP_DIR/want" "$MP_DIR/out"
	[ ! -s "$MP_DIR/err" ]
	# smtp-sink counted one session (counted when it ends) with 1000 messages
	mp_wait_until 10 counters_are "sess=1 quit=1 mesg=1000"
	[ "$(dumped)" -eq 1000 ]
	# each message went to its row's address, with its row's name in To:,
	# Subject: and the body: every (recipient, name) pair exactly once
	awk 'FNR == 1 { rcpt = "" }
	     /^X-Rcpt-Args: / { rcpt = $2 }
	     /^To: / { to = $0 }
	     /^Subject: / { subject = $0 }
	     /^Dear / { print rcpt " | " to " | " subject " | " $0 }' "$SINK_DIR"/dump/* | sort > "$MP_DIR/got"
	for i in $(seq 1 1000); do
		echo "<user$i@example.net> | To: Member $i <user$i@example.net> | Subject: News for Member $i | Dear Member $i,"
	done | sort > "$MP_DIR/want"
	diff "$MP_DIR/want" "$MP_DIR/got"
	# a new Message-ID for every row
	[ "$(grep -h '^Message-ID: ' "$SINK_DIR"/dump/* | sort -u | wc -l)" -eq 1000 ]
}

@test "smtp-sink -Q RSET (421 and hang up at every RSET): a new connection per row, each row once, exit 0" {
	smtp_sink -Q RSET
	{ echo name,email; for i in 1 2 3 4 5; do echo "M$i,m$i@example.net"; done; } > "$MP_DIR/list.csv"
	printf 'Subject: hello {{name}}\n\nHi {{name}}\n' > "$MP_DIR/tpl"
	run "$BIN/smtp-send" -S "127.0.0.1:$SINK_PORT" -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^row=[1-5] to=<m[1-5]@example.net> reply=250 2.0.0$' <<<"$output")" -eq 5 ]
	# rows 2 to 5 each met the 421 and went over a fresh connection
	mp_wait_until 10 counters_are "sess=5 quit=1 mesg=5"
	[ "$(dumped)" -eq 5 ]
	[ "$(grep -h '^Hi M' "$SINK_DIR"/dump/* | sort -u | wc -l)" -eq 5 ]
}

@test "smtp-sink replying 450 or 500 to RCPT: one message exits 75 or 69; a CSV row line says the code" {
	smtp_sink -r RCPT
	printf 'Subject: soft\n\nx\n' > "$MP_DIR/msg"
	run "$BIN/smtp-send" -S "127.0.0.1:$SINK_PORT" -f a@example.org b@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 75 ]
	[ "$output" = "smtp-send: <b@example.net>: 450 4.3.0 Error: command failed" ]
	kill "${MP_PIDS[-1]}"
	smtp_sink -f RCPT
	run "$BIN/smtp-send" -S "127.0.0.1:$SINK_PORT" -f a@example.org b@example.net < "$MP_DIR/msg"
	[ "$status" -eq 69 ]
	[ "$output" = "smtp-send: <b@example.net>: 500 5.3.0 Error: command failed" ]
	printf 'email\nc@example.net\n' > "$MP_DIR/list.csv"
	run "$BIN/smtp-send" -S "127.0.0.1:$SINK_PORT" -f a@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/msg"
	[ "$status" -eq 69 ]
	[ "${lines[0]}" = "row=1 to=<c@example.net> reply=500 5.3.0" ]
	[ "$(dumped)" -eq 0 ]
}

@test "smtp-sink -q RSET (hangs up at RSET without a word): each row over a new connection, once" {
	smtp_sink -q RSET
	{ echo name,email; for i in 1 2 3 4; do echo "M$i,m$i@example.net"; done; } > "$MP_DIR/list.csv"
	printf 'Subject: hello {{name}}\n\nHi {{name}}\n' > "$MP_DIR/tpl"
	run "$BIN/smtp-send" -S "127.0.0.1:$SINK_PORT" -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^row=[1-4] to=<m[1-4]@example.net> reply=250 2.0.0$' <<<"$output")" -eq 4 ]
	mp_wait_until 10 counters_are "sess=4 quit=1 mesg=4"
	[ "$(grep -h '^Hi M' "$SINK_DIR"/dump/* | sort -u | wc -l)" -eq 4 ]
}

@test "smtp-sink offers no STARTTLS: -T starttls stops before AUTH and MAIL (69); nothing sent" {
	smtp_sink
	printf 'Subject: x\n\nx\n' > "$MP_DIR/msg"
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -v -S "127.0.0.1:$SINK_PORT" -T starttls -a alice \
		-f a@example.org b@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ $output == *"smtp-send: <b@example.net>: 554 5.7.4 127.0.0.1:$SINK_PORT does not offer STARTTLS"* ]]
	! grep -q '>>> AUTH\|>>> MAIL' <<<"$output" || false
	# one session, which ended (with or without QUIT) before any message
	mp_wait_until 10 counters_match '^sess=1 quit=[01] mesg=0$'
	[ "$(dumped)" -eq 0 ]
}

# ---- a private Postfix: STARTTLS and AUTH required --------------------------------

@test "Postfix smarthost: STARTTLS, AUTH with \$SMTP_PASSWORD, --ca: the message arrives as sent (ESMTPSA)" {
	smarthost sender 'correct horse&battery'
	message pf-env > "$MP_DIR/msg"
	SMTP_PASSWORD='correct horse&battery' run "$BIN/smtp-send" -S "127.0.0.1:$PF_PORT" -T starttls \
		--ca "$PF_DIR/etc/cert.pem" -a sender -f alice@example.org bob@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	mp_wait_until 20 pf_has 1
	f=$(find "$MP_DIR/pf-mail/new" -type f)
	grep -qx 'Return-Path: <alice@example.org>' "$f"
	grep -qx 'Delivered-To: bob@example.net' "$f"
	grep -q 'with ESMTPSA' "$f"
	ends_with "$f" "$MP_DIR/msg"
	[ "$(pf_count)" -eq 1 ]
}

@test "Postfix smarthost: the password from -P FILE (first line); a file others can read gets a warning" {
	smarthost sender 'correct horse&battery'
	printf 'correct horse&battery\nsecond line is not the password\n' > "$MP_DIR/pw"
	chmod 600 "$MP_DIR/pw"
	message pf-file > "$MP_DIR/msg"
	run "$BIN/smtp-send" -S "localhost:$PF_PORT" -T starttls --ca "$PF_DIR/etc/cert.pem" \
		-a sender -P "$MP_DIR/pw" -f alice@example.org bob@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	mp_wait_until 20 pf_has 1
	ends_with "$(find "$MP_DIR/pf-mail/new" -type f)" "$MP_DIR/msg"
	# CRLF at the end of the line is not part of the password either; mode 644 warns
	printf 'correct horse&battery\r\n' > "$MP_DIR/pw"
	chmod 644 "$MP_DIR/pw"
	message pf-file2 > "$MP_DIR/msg"
	run "$BIN/smtp-send" -S "localhost:$PF_PORT" -T starttls --ca "$PF_DIR/etc/cert.pem" \
		-a sender -P "$MP_DIR/pw" -f alice@example.org bob@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "smtp-send: warning: $MP_DIR/pw can be read by others" ]
	mp_wait_until 20 pf_has 2
	# -P with a file that is not there: 66, nothing sent
	run "$BIN/smtp-send" -S "localhost:$PF_PORT" -T starttls --ca "$PF_DIR/etc/cert.pem" \
		-a sender -P "$MP_DIR/none" -f alice@example.org bob@example.net < "$MP_DIR/msg"
	[ "$status" -eq 66 ]
	[[ $output == *"cannot read $MP_DIR/none"* ]]
}

@test "Postfix smarthost: a wrong password exits 77 (EX_NOPERM) with Postfix's 535; nothing arrives" {
	smarthost sender 'correct horse&battery'
	message pf-wrong > "$MP_DIR/msg"
	SMTP_PASSWORD='wrong horse' run "$BIN/smtp-send" -S "127.0.0.1:$PF_PORT" -T starttls \
		--ca "$PF_DIR/etc/cert.pem" -a sender -f alice@example.org bob@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 77 ]
	[[ $output == "smtp-send: <bob@example.net>: 535 5.7.8 "* ]]
	# the same for every row of a list: each row says 535, the list exits 69
	printf 'email\nb@example.net\nc@example.net\n' > "$MP_DIR/list.csv"
	SMTP_PASSWORD='wrong horse' run "$BIN/smtp-send" -S "127.0.0.1:$PF_PORT" -T starttls \
		--ca "$PF_DIR/etc/cert.pem" -a sender -f alice@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/msg"
	[ "$status" -eq 69 ]
	[ "$(grep '^row=' <<<"$output")" = "row=1 to=<b@example.net> reply=535 5.7.8
row=2 to=<c@example.net> reply=535 5.7.8" ]
	[ "$(grep -c ' connect from' "$PF_DIR/maillog")" -eq 2 ]
	[ "$(pf_count)" -eq 0 ]
}

@test "Postfix smarthost offering only AUTH LOGIN: both answers masked under -v; the mail arrives" {
	smarthost sender 'correct horse&battery'
	# smtpd reads the SASL configuration when it starts, at the first connection
	sed -i 's/^mech_list: .*/mech_list: LOGIN/' "$PF_DIR/etc/sasl/smtpd.conf"
	message pf-login > "$MP_DIR/msg"
	SMTP_PASSWORD='correct horse&battery' run "$BIN/smtp-send" -v -S "127.0.0.1:$PF_PORT" -T starttls \
		--ca "$PF_DIR/etc/cert.pem" -a sender -f alice@example.org bob@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '<<< 250-AUTH LOGIN$' <<<"$output"
	grep -q '>>> AUTH LOGIN$' <<<"$output"
	[ "$(grep -c '>>> \*\*\*\*\*\*\*\*$' <<<"$output")" -eq 2 ]
	! grep -q "correct horse\|$(printf 'correct horse&battery' | base64 -w0)\|$(printf sender | base64 -w0)" <<<"$output" || false
	mp_wait_until 20 pf_has 1
	ends_with "$(find "$MP_DIR/pf-mail/new" -type f)" "$MP_DIR/msg"
}

@test "Postfix smarthost: a 20-row CSV list over one authenticated session, each row once" {
	smarthost sender 'correct horse&battery'
	{ echo email,name; for i in $(seq 1 20); do echo "u$i@example.net,User $i"; done; } > "$MP_DIR/list.csv"
	printf 'From: club@example.org\nTo: {{name}} <{{email}}>\nSubject: Hi {{name}}\n\nHello {{name}}\n' > "$MP_DIR/tpl"
	SMTP_PASSWORD='correct horse&battery' run "$BIN/smtp-send" -S "127.0.0.1:$PF_PORT" -T starttls \
		--ca "$PF_DIR/etc/cert.pem" -a sender -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^row=[0-9]* to=<u[0-9]*@example.net> reply=250 2.0.0$' <<<"$output")" -eq 20 ]
	mp_wait_until 30 pf_has 20
	[ "$(pf_count)" -eq 20 ]
	for i in $(seq 1 20); do
		f=$(grep -lx "Delivered-To: u$i@example.net" "$MP_DIR"/pf-mail/new/*)
		[ "$(echo "$f" | wc -l)" -eq 1 ]
		grep -qx "Hello User $i" "$f"
	done
	# one connection, one AUTH
	[ "$(grep -c ' connect from' "$PF_DIR/maillog")" -eq 1 ]
	[ "$(grep -c 'sasl_method=PLAIN, sasl_username=sender' "$PF_DIR/maillog")" -eq 20 ]
}

# ---- our smtp-recv --------------------------------------------------------------

@test "smtp-recv (default mode): a message for alice@example.test lands in her Maildir as sent" {
	mp_listen
	message recv-default > "$MP_DIR/msg"
	run "$BIN/smtp-send" -S "127.0.0.1:$MP_PORT" -f carol@example.org alice@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	f=$(mp_only_file alice)
	grep -qx 'Return-Path: <carol@example.org>' "$f"
	grep -qx 'Delivered-To: alice@example.test' "$f"
	ends_with "$f" "$MP_DIR/msg"
	# an unknown local user is 550 5.1.1: exit 67 (EX_NOUSER)
	run "$BIN/smtp-send" -S "127.0.0.1:$MP_PORT" -f carol@example.org nobody@example.test < "$MP_DIR/msg"
	[ "$status" -eq 67 ]
	[[ $output == "smtp-send: <nobody@example.test>: 550 5.1.1 "* ]]
	[ "$(mp_new_count alice)" -eq 1 ]
}

@test "smtp-recv -s (submission): STARTTLS and AUTH as alice; without AUTH 530 (69); a wrong password 77" {
	tls_conf
	mp_listen -s
	message recv-sub > "$MP_DIR/msg"
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T starttls --ca "$CERT" \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	ends_with "$(mp_only_file bob)" "$MP_DIR/msg"
	grep -q 'event=accepted .*proto=ESMTPSA .*user=alice@example.test' "$MP_DIR/smtp-recv.log"
	# no AUTH: MAIL gets 530 5.7.0
	run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T starttls --ca "$CERT" \
		-f alice@example.test bob@example.test < "$MP_DIR/msg"
	[ "$status" -eq 69 ]
	[[ $output == "smtp-send: <bob@example.test>: 530 5.7.0 "* ]]
	# a wrong password: 535 5.7.8, EX_NOPERM
	SMTP_PASSWORD=wrong run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T starttls --ca "$CERT" \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	[ "$status" -eq 77 ]
	[[ $output == "smtp-send: <bob@example.test>: 535 5.7.8 "* ]]
	[ "$(mp_new_count bob)" -eq 1 ]
}

@test "smtp-recv -s: a CSV list over one authenticated session; an unknown user fails its row alone (69)" {
	tls_conf
	mp_listen -s
	printf 'email,name\nbob@example.test,Bob\nnobody@example.test,Nobody\nx@catch.test,Catch\n' > "$MP_DIR/list.csv"
	printf 'From: alice@example.test\nTo: {{name}} <{{email}}>\nSubject: for {{name}}\n\nDear {{name}}\n' > "$MP_DIR/tpl"
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T starttls --ca "$CERT" \
		-a alice@example.test -f alice@example.test --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	echo "$output"
	[ "$status" -eq 69 ]
	[ "${lines[0]}" = "row=1 to=<bob@example.test> reply=250 2.0.0" ]
	[ "${lines[1]}" = "row=2 to=<nobody@example.test> reply=550 5.1.1" ]
	[[ ${lines[2]} == "smtp-send: row 2: 550 5.1.1 "* ]]
	[ "${lines[3]}" = "row=3 to=<x@catch.test> reply=250 2.0.0" ]
	# both good rows landed in bob's Maildir (x@catch.test is his catch-all)
	[ "$(mp_new_count bob)" -eq 2 ]
	grep -lx 'Dear Bob' "$(mp_maildir bob)"/new/*
	grep -lx 'Dear Catch' "$(mp_maildir bob)"/new/*
	# one session (mp_listen's probe connection aside): both accepted in
	# it, after its one AUTH
	[ "$(grep 'event=accepted ' "$MP_DIR/smtp-recv.log" | grep -o 'sid=[^ ]*' | sort -u | wc -l)" -eq 1 ]
	[ "$(grep -c 'event=auth .*result=ok' "$MP_DIR/smtp-recv.log")" -eq 1 ]
}

@test "smtp-recv -t and -s -t (implicit TLS): -T tls delivers; -T starttls there fails" {
	tls_conf
	mp_listen -t
	message recv-tls > "$MP_DIR/msg"
	run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T tls --ca "$CERT" -f carol@example.org alice@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	ends_with "$(mp_only_file alice)" "$MP_DIR/msg"
	grep -q 'event=accepted .*tls=TLSv1.[23]' "$MP_DIR/smtp-recv.log"
	# smtps: implicit TLS and AUTH
	mp_listen -s -t
	message recv-smtps > "$MP_DIR/msg"
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T tls --ca "$CERT" \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	ends_with "$(mp_only_file bob)" "$MP_DIR/msg"
	# STARTTLS to a port that speaks TLS at once: no greeting comes; a
	# failure, not a hang
	run "$BIN/smtp-send" --timeout 3 -S "localhost:$MP_PORT" -T starttls --ca "$CERT" \
		-f alice@example.test bob@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$(mp_new_count bob)" -eq 1 ]
}

# ---- certificate checks ---------------------------------------------------------

@test "TLS: a self-signed certificate without --ca is refused, naming the problem; nothing sent, no AUTH" {
	tls_conf
	mp_listen -s
	message tls-refused > "$MP_DIR/msg"
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T starttls \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ $output == *"certificate"* ]]
	[[ $output == *"self-signed certificate"* ]]
	[ "$(mp_new_count bob)" -eq 0 ]
	# smtp-recv saw the handshake fail and never an AUTH
	mp_wait_until 10 grep -q 'event=tls-failed' "$MP_DIR/smtp-recv.log"
	! grep -q 'event=auth' "$MP_DIR/smtp-recv.log" || false
	# implicit TLS alike
	mp_listen -s -t
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T tls \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	[ "$status" -eq 69 ]
	[[ $output == *"self-signed certificate"* ]]
	[ "$(mp_new_count bob)" -eq 0 ]
}

@test "TLS: --insecure takes the self-signed certificate and says so on stderr" {
	tls_conf
	mp_listen -s
	message tls-insecure > "$MP_DIR/msg"
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T starttls --insecure \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} == "smtp-send: warning: --insecure: the server's certificate is not checked"* ]]
	ends_with "$(mp_only_file bob)" "$MP_DIR/msg"
}

@test "TLS: --ca FILE verifies the certificate and its name (localhost); 127.0.0.1 is not that name" {
	tls_conf
	mp_listen -s
	message tls-ca > "$MP_DIR/msg"
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T starttls --ca "$CERT" \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	ends_with "$(mp_only_file bob)" "$MP_DIR/msg"
	# the certificate names localhost, not the address
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "127.0.0.1:$MP_PORT" -T starttls --ca "$CERT" \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 69 ]
	[[ $output == *"IP address mismatch"* ]]
	# a --ca that is not the server's certificate
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -keyout "$MP_DIR/other.key" -out "$MP_DIR/other.pem" 2>/dev/null
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "localhost:$MP_PORT" -T starttls --ca "$MP_DIR/other.pem" \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	[ "$status" -eq 69 ]
	[[ $output == *"certificate"* ]]
	[ "$(mp_new_count bob)" -eq 1 ]
}

# ---- the password never shows ----------------------------------------------------

@test "password: -v masks AUTH (no password, no base64 of it); smtp-recv's log has neither" {
	tls_conf
	mp_listen -s
	message pw-verbose > "$MP_DIR/msg"
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -v -S "localhost:$MP_PORT" -T starttls --ca "$CERT" \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx "smtp-send: localhost:$MP_PORT >>> AUTH PLAIN \*\*\*\*\*\*\*\*" <<<"$output"
	grep -q '<<< 235 2.7.0' <<<"$output"
	plain=$(printf '\0alice@example.test\0secret' | base64 -w0)
	short=$(printf '\0alice\0secret' | base64 -w0)
	for secret in secret "$plain" "$short" "$(printf secret | base64 -w0)"; do
		! grep -qF -- "$secret" <<<"$output" || false
		! grep -qF -- "$secret" "$MP_DIR/smtp-recv.log" || false
	done
	ends_with "$(mp_only_file bob)" "$MP_DIR/msg"
}

@test "password: while smtp-send runs, ps and /proc/PID/cmdline do not show it and /proc/PID/environ lost it" {
	listener "$MP_DIR/stall"
	pw='Zebra-42-horse'
	printf 'Subject: stalled\n\nx\n' > "$MP_DIR/msg"
	SMTP_PASSWORD=$pw "$BIN/smtp-send" -S "127.0.0.1:$LISTEN_PORT" -T starttls --insecure -a alice \
		-f a@example.org b@example.net < "$MP_DIR/msg" > "$MP_DIR/out" 2> "$MP_DIR/err" 3>&- &
	pid=$!
	# connected: it waits for a greeting that comes only when we say so
	mp_wait_until 10 test -e "$MP_DIR/stall/accepted"
	args=$(ps -o args= -p "$pid")
	echo "ps: $args"
	[[ $args == *"smtp-send -S 127.0.0.1:$LISTEN_PORT"* ]]
	[[ $args != *"$pw"* ]]
	! grep -qaF -- "$pw" "/proc/$pid/cmdline" || false
	# the value is wiped from the environment block the kernel shows (the
	# name SMTP_PASSWORD= stays there, followed by NULs: the kernel's copy
	# of the block cannot shrink; see smtp-send(1), PASSWORDS)
	! grep -qaF -- "$pw" "/proc/$pid/environ" || false
	! tr '\0' '\n' < "/proc/$pid/environ" | grep -qa '^SMTP_PASSWORD=.' || false
	touch "$MP_DIR/stall/go"
	rc=0
	wait "$pid" || rc=$?
	cat "$MP_DIR/err"
	[ "$rc" -eq 75 ]
	grep -q '421 4.3.2 not today' "$MP_DIR/err"
}

@test "a server that never greets: --timeout 2 ends the wait with 75 and says so" {
	listener "$MP_DIR/mute"
	printf 'Subject: x\n\nx\n' > "$MP_DIR/msg"
	SECONDS=0
	run "$BIN/smtp-send" --timeout 2 -S "127.0.0.1:$LISTEN_PORT" -f a@example.org b@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 75 ]
	[ "$output" = "smtp-send: <b@example.net>: 451 4.4.2 127.0.0.1:$LISTEN_PORT: timed out waiting for the reply" ]
	[ "$SECONDS" -lt 10 ]
	touch "$MP_DIR/mute/go"
}

@test "-T tls to a server that never starts the handshake: 451 4.4.2 and 75 (try again), not 554 and 69" {
	listener "$MP_DIR/mute"
	printf 'Subject: x\n\nx\n' > "$MP_DIR/msg"
	run "$BIN/smtp-send" --timeout 2 -T tls --insecure -S "127.0.0.1:$LISTEN_PORT" -f a@example.org \
		b@example.net < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 75 ]
	[[ $output == *"<b@example.net>: 451 4.4.2 TLS with 127.0.0.1:$LISTEN_PORT failed: handshake timed out" ]]
	touch "$MP_DIR/mute/go"
}

@test "-a without -T is refused (64) before any connection; so is -a with no password source and no terminal" {
	listener "$MP_DIR/l"
	printf 'Subject: x\n\nx\n' > "$MP_DIR/msg"
	SMTP_PASSWORD=secret run "$BIN/smtp-send" -S "127.0.0.1:$LISTEN_PORT" -a alice@example.test \
		-f alice@example.test bob@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 64 ]
	[[ $output == *"-a sends a password: use -T starttls or -T tls"* ]]
	# no $SMTP_PASSWORD, no -P and no terminal to ask on (setsid: no
	# controlling terminal)
	run env -u SMTP_PASSWORD setsid -w "$BIN/smtp-send" -S "127.0.0.1:$LISTEN_PORT" -T starttls \
		-a alice@example.test -f alice@example.test bob@example.test < "$MP_DIR/msg"
	echo "$output"
	[ "$status" -eq 64 ]
	[[ $output == *'$SMTP_PASSWORD'* ]]
	# what reached the listener, once it takes its queue: nothing
	touch "$MP_DIR/l/go"
	mp_wait_until 10 test -e "$MP_DIR/l/count"
	[ "$(cat "$MP_DIR/l/count")" -eq 0 ]
}

# ---- what a person sees of a CSV run -----------------------------------------------

# screen FILE: the lines a terminal shows for the bytes in FILE (CR goes
# back to the start of the line, ESC [ K clears to its end, other escape
# sequences are dropped)
screen() {
	$PY - "$1" <<'PYEOF'
import re, sys
data = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
lines, line, col = [], [], 0
for tok in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|.|\n", data, re.S):
    if tok == "\n":
        lines.append("".join(line)); line, col = [], 0
    elif tok == "\r":
        col = 0
    elif tok == "\x1b[K":
        del line[col:]
    elif tok.startswith("\x1b"):
        pass
    else:
        if col < len(line):
            line[col] = tok
        else:
            line.append(tok)
        col += 1
if line:
    lines.append("".join(line))
print("\n".join(lines))
PYEOF
}

@test "CSV on a terminal: the progress line, and every row line on a line of its own" {
	smtp_sink
	printf 'name,email\nA,a@example.net\nB,b@example.net\nBad,not-an-address\nD,d@example.net\n' > "$MP_DIR/list.csv"
	printf 'Subject: hi {{name}}\n\nHi {{name}}\n' > "$MP_DIR/tpl"
	# script(1) gives smtp-send a terminal for stdout and stderr
	rc=0
	script -qec "'$BIN/smtp-send' -S 127.0.0.1:$SINK_PORT -f club@example.org --csv '$MP_DIR/list.csv' < '$MP_DIR/tpl'" \
		"$MP_DIR/typescript" > "$MP_DIR/tty" 3>&- || rc=$?
	[ "$rc" -eq 69 ]
	screen "$MP_DIR/tty" | tr -d '\r' > "$MP_DIR/screen"
	cat "$MP_DIR/screen"
	# the last progress line stays: the totals
	grep -qx 'smtp-send: 4 of 4 rows: 3 sent, 0 deferred, 1 failed' "$MP_DIR/screen"
	# each row is a line that reads as one
	for want in "row=1 to=<a@example.net> reply=250 2.0.0" "row=2 to=<b@example.net> reply=250 2.0.0" \
		"row=3 to=<not-an-address> reply=553 5.1.3" "row=4 to=<d@example.net> reply=250 2.0.0"; do
		grep -qxF -- "$want" "$MP_DIR/screen" || { echo "not a line of its own: $want"; false; }
	done
	grep -qx 'smtp-send: row 3: 553 5.1.3 "not-an-address" is not an address' "$MP_DIR/screen"
}

@test "CSV: an email value with a line break still makes one output line for its row" {
	smtp_sink
	printf 'name,email\nA,a@example.net\nBad,"x@example.net\nrow=99 to=<forged@example.net> reply=250 2.0.0"\nC,c@example.net\n' \
		> "$MP_DIR/list.csv"
	printf 'Subject: hi {{name}}\n\nHi {{name}}\n' > "$MP_DIR/tpl"
	rc=0
	"$BIN/smtp-send" -S "127.0.0.1:$SINK_PORT" -f club@example.org --csv "$MP_DIR/list.csv" \
		< "$MP_DIR/tpl" > "$MP_DIR/out" 2> "$MP_DIR/err" || rc=$?
	cat "$MP_DIR/out" "$MP_DIR/err"
	[ "$rc" -eq 69 ]
	[ "$(dumped)" -eq 2 ]
	# three rows, three lines, each starting row=N; no row 99
	[ "$(wc -l < "$MP_DIR/out")" -eq 3 ]
	[ "$(grep -c '^row=[123] ' "$MP_DIR/out")" -eq 3 ]
	! grep -q '^row=99' "$MP_DIR/out" || false
	grep -q '^row=2 to=<.*> reply=553 5.1.3$' "$MP_DIR/out"
}
