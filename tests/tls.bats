#!/usr/bin/env bats
# tests/tls.bats - STARTTLS, implicit TLS (-t), AUTH and submission (-s) of
# smtp-recv, seen from clients nobody here wrote (swaks, openssl s_client,
# Python's smtplib, a private Postfix) and from a scripted client
# (tools/tls-session.py) for the protocol details: what is offered when,
# the reply codes of DESIGN.md, the STARTTLS command injection flaw, the
# password never leaking, and hostile or broken TLS handshakes.
#
# Every test has its own self-signed certificate for mx.example.test and a
# relay-clients file that lets nobody relay without AUTH (otherwise
# loopback could relay and an "authenticated relay" would prove nothing).
#
# Needs (Debian 12): bats, python3, swaks (with libnet-ssleay-perl, a
# dependency), openssl, postfix (with libsasl2-modules for its SASL
# client), sqlite3, systemd (systemd-socket-activate), procps,
# util-linux (runuser).

setup() {
	load lib
	mp_setup
	TOOLS=$BATS_TEST_DIRNAME/tools
	PF_DIR=
	CERT=$MP_DIR/cert.pem
	KEY=$MP_DIR/key.pem
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=mx.example.test -keyout "$KEY" -out "$CERT" 2>/dev/null
	mp_conf tls_cert "$CERT"
	mp_conf tls_key "$KEY"
	echo '# nobody relays without AUTH' > "$MAILPIPE_CONF/relay-clients"
	PLAIN_OK=$(b64 '\0alice@example.test\0secret')
}

teardown() {
	if [ -n "$PF_DIR" ]; then
		"$TOOLS/peers-postfix" stop "$PF_DIR"
	fi
	mp_teardown
	# every smtp-recv ended well: exit 0 (78 where a test wants a
	# configuration error), nothing from a sanitizer
	if grep -E 'died with (code [1-9]|signal)|Sanitizer|runtime error' "$MP_DIR/smtp-recv.log" 2>/dev/null |
		grep -v "${EXPECT_EXIT:-no exit is expected}"; then
		return 1
	fi
}

# ---- helpers ----------------------------------------------------------------

# b64 FORMAT [ARGS]: printf FORMAT ARGS, base64 without line breaks.
b64() {
	# shellcheck disable=SC2059
	printf "$@" | base64 -w0
}

db() {
	sqlite3 "$MP_STATE/mail.db" "$1"
}


has_messages() {   # has_messages USER N
	[ "$(mp_new_count "$1")" -ge "$2" ]
}

# remote_queued ADDRESS: a pending remote recipient row whose message file
# is in the queue directory.  Prints that file.
remote_queued() {
	local file
	file=$(db "select m.queue_file from recipients r join messages m on m.id = r.message
		   where r.address = '$1' and r.kind = 'remote' and r.status = 'pending'")
	[ -n "$file" ] || return 1
	[[ $file == /* ]] || file=$MP_STATE/queue/$file
	[ -f "$file" ] || return 1
	echo "$file"
}

# session [ARGS]: tools/tls-session.py against 127.0.0.1:$MP_PORT, checking
# the server's certificate; the script comes on stdin.
session() {
	"$PY" "$TOOLS/tls-session.py" --port "$MP_PORT" --cafile "$CERT" "$@"
}

# transcript_is: $output, line by line, against the lines on stdin; each
# expected line is a bash glob pattern ("538 5.7.11 *").
transcript_is() {
	local -a want got
	local i bad=0 w g
	mapfile -t want
	mapfile -t got <<<"${output//$'\r'/}"
	for ((i = 0; i < ${#want[@]} || i < ${#got[@]}; i++)); do
		w=${want[i]-<nothing>}
		g=${got[i]-<nothing>}
		# shellcheck disable=SC2053
		if [[ $g == $w ]]; then
			printf '   %s\n' "$g"
		else
			printf '!! %s\n   (expected: %s)\n' "$g" "$w"
			bad=1
		fi
	done >&2
	[ "$bad" -eq 0 ]
}

# The EHLO reply before TLS (STARTTLS offered, never AUTH) and under TLS
# (AUTH offered, STARTTLS no more).
ehlo_clear() {
	printf '%s\n' 250-mx.example.test 250-PIPELINING '250-SIZE 26214400' 250-8BITMIME \
		250-SMTPUTF8 250-ENHANCEDSTATUSCODES 250-STARTTLS '250 CHUNKING'
}
ehlo_tls() {
	printf '%s\n' 250-mx.example.test 250-PIPELINING '250-SIZE 26214400' 250-8BITMIME \
		250-SMTPUTF8 250-ENHANCEDSTATUSCODES '250-AUTH PLAIN LOGIN' '250 CHUNKING'
}

# The smtp-recv processes of this test, found by the MAILPIPE_CONF in their
# environment (their command line is only "smtp-recv -s"; the test's config
# path is on the command line of the listener, not of its children).
our_smtp_recv() {
	"$PY" "$TOOLS/tls-procs.py" "$MAILPIPE_CONF"
}

no_smtp_recv_left() {
	[ -z "$(our_smtp_recv)" ]
}

log_count() {   # log_count PATTERN: matching lines in smtp-recv's log
	grep -c -E "$1" "$MP_DIR/smtp-recv.log" || true
}

log_count_is() {   # log_count_is N PATTERN (for mp_wait_until)
	[ "$(log_count "$2")" -eq "$1" ]
}

# recv_conf_error ARGS: smtp-recv on /dev/null must answer 421 4.3.0 and exit 78.
recv_conf_error() {
	run bash -c '"$1" "${@:3}" </dev/null 2>"$2"' _ "$BIN/smtp-recv" "$MP_DIR/err" "$@"
	echo "smtp-recv $*: status $status: $output"
	cat "$MP_DIR/err"
	[ "$status" -eq 78 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} == "421 4.3.0 mx.example.test "*$'\r' ]]
}

# ---- swaks ----------------------------------------------------------------------

@test "swaks --tls --auth PLAIN (-s): delivers to a local user and queues a remote address" {
	mp_listen -s
	run swaks --server "127.0.0.1:$MP_PORT" --helo client.remote.test --tls \
		--auth PLAIN --auth-user alice@example.test --auth-password secret \
		--from alice@example.test --to bob@example.test,someone@remote.test \
		--header "Subject: swaks plain auth"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^=== TLS started with cipher TLSv1\.3:' <<<"$output"
	grep -qx ' ~> AUTH PLAIN [A-Za-z0-9+/=]*' <<<"$output"
	grep -qx '<~  235 2\.7\.0 Authentication successful' <<<"$output"
	grep -qx '<~  250 2\.0\.0 OK id=1' <<<"$output"
	file=$(mp_only_file bob)
	grep -qx 'Subject: swaks plain auth' "$file"
	grep -q '^	by mx\.example\.test (mailpipe) with ESMTPSA id ' "$file"
	queued=$(remote_queued someone@remote.test)
	grep -qx 'Subject: swaks plain auth' "$queued"
	[ "$(db "select kind || ' ' || status from recipients order by address")" = "local delivered
remote pending" ]
	[ "$(log_count 'event=auth user=alice@example\.test result=ok')" -eq 1 ]
}

@test "swaks --tls --auth LOGIN (-s): delivers to a local user and queues a remote address" {
	mp_listen -s
	run swaks --server "127.0.0.1:$MP_PORT" --helo client.remote.test --tls \
		--auth LOGIN --auth-user alice@example.test --auth-password secret \
		--from alice@example.test --to alice@example.test,someone@remote.test \
		--header "Subject: swaks login auth"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx '<~  334 VXNlcm5hbWU6' <<<"$output"
	grep -qx '<~  334 UGFzc3dvcmQ6' <<<"$output"
	grep -qx '<~  235 2\.7\.0 Authentication successful' <<<"$output"
	grep -qx '<~  250 2\.0\.0 OK id=1' <<<"$output"
	file=$(mp_only_file alice)
	grep -qx 'Subject: swaks login auth' "$file"
	grep -q '^	by mx\.example\.test (mailpipe) with ESMTPSA id ' "$file"
	queued=$(remote_queued someone@remote.test)
	grep -qx 'Subject: swaks login auth' "$queued"
}

@test "swaks --tlsc against -t: implicit TLS, AUTH, local delivery and relay" {
	mp_listen -t
	run swaks --server "127.0.0.1:$MP_PORT" --helo client.remote.test --tlsc \
		--auth PLAIN --auth-user bob@example.test --auth-password secret \
		--from bob@example.test --to alice@example.test,someone@remote.test \
		--header "Subject: swaks implicit tls"
	echo "$output"
	[ "$status" -eq 0 ]
	# the greeting comes inside TLS
	tls_line=$(grep -n '^=== TLS started with cipher' <<<"$output" | cut -d: -f1)
	greet_line=$(grep -n '^<~  220 mx\.example\.test ESMTP mailpipe$' <<<"$output" | cut -d: -f1)
	[ -n "$tls_line" ] && [ -n "$greet_line" ] && [ "$tls_line" -lt "$greet_line" ]
	# no STARTTLS inside TLS; AUTH is offered
	! grep -q 'STARTTLS' <<<"$output" || false
	grep -qx '<~  250-AUTH PLAIN LOGIN' <<<"$output"
	grep -qx '<~  250 2\.0\.0 OK id=1' <<<"$output"
	file=$(mp_only_file alice)
	grep -qx 'Subject: swaks implicit tls' "$file"
	grep -q '^	by mx\.example\.test (mailpipe) with ESMTPSA id ' "$file"
	remote_queued someone@remote.test
	grep -q 'event=connect mode=smtps' "$MP_DIR/smtp-recv.log"
}

# ---- openssl s_client -----------------------------------------------------------

@test "openssl s_client -starttls smtp (-s): AUTH offered after TLS, a whole submission works" {
	mp_listen -s
	run bash -c 'printf "%s\n" "EHLO client.remote.test" "AUTH PLAIN $1" \
		"MAIL FROM:<alice@example.test>" "RCPT TO:<bob@example.test>" DATA \
		"Subject: through s_client" "" "hello over starttls" . QUIT |
		timeout 30 openssl s_client -starttls smtp -connect "127.0.0.1:$2" -crlf -quiet \
			-CAfile "$3" -verify_hostname mx.example.test -verify_return_error \
			2>"$4"' _ "$PLAIN_OK" "$MP_PORT" "$CERT" "$MP_DIR/s_client.err"
	echo "$output"
	cat "$MP_DIR/s_client.err"
	transcript_is <<EOF
$(ehlo_tls)
235 2.7.0 *
250 2.1.0 *
250 2.1.5 *
354 *
250 2.0.0 OK id=1
221 2.0.0 *
EOF
	# the certificate verified for mx.example.test
	grep -q 'verify return:1' "$MP_DIR/s_client.err"
	file=$(mp_only_file bob)
	grep -qx 'hello over starttls' "$file"
	grep -q '^	(using TLSv1\.3 with cipher ' "$file"
}

@test "openssl s_client against -t: the greeting and the session are inside TLS" {
	mp_listen -t
	run bash -c 'printf "%s\n" "EHLO client.remote.test" "AUTH PLAIN $1" STARTTLS NOOP QUIT |
		timeout 30 openssl s_client -connect "127.0.0.1:$2" -crlf -quiet \
			-CAfile "$3" -verify_hostname mx.example.test -verify_return_error \
			2>"$4"' _ "$PLAIN_OK" "$MP_PORT" "$CERT" "$MP_DIR/s_client.err"
	echo "$output"
	cat "$MP_DIR/s_client.err"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
$(ehlo_tls)
235 2.7.0 *
503 5.5.1 *
250 2.0.0 *
221 2.0.0 *
EOF
	grep -q 'verify return:1' "$MP_DIR/s_client.err"
}

@test "TLS 1.2 is the minimum: a TLS 1.1 client is refused (STARTTLS and -t), TLS 1.2 works" {
	# The TLS 1.1 client: OpenSSL 3 needs security level 0 for TLS 1.1, so
	# this client really could speak it; first shown against a server that
	# allows TLS 1.1 (openssl s_server), so the refusal below is mailpipe's.
	local ctl_port
	ctl_port=$(mp_free_port)
	openssl s_server -accept "127.0.0.1:$ctl_port" -cert "$CERT" -key "$KEY" -tls1_1 \
		-cipher 'DEFAULT:@SECLEVEL=0' -www </dev/null >"$MP_DIR/s_server.log" 2>&1 &
	MP_PIDS+=($!)
	mp_wait_until 10 mp_port_open "$ctl_port"
	run timeout 20 openssl s_client -connect "127.0.0.1:$ctl_port" -tls1_1 \
		-cipher 'DEFAULT:@SECLEVEL=0' -brief </dev/null
	echo "control: $output"
	[ "$status" -eq 0 ]
	grep -qx 'Protocol version: TLSv1.1' <<<"$output"

	mp_listen -s
	run bash -c 'echo QUIT | timeout 20 openssl s_client -starttls smtp -connect "127.0.0.1:$1" \
		-tls1_1 -cipher "DEFAULT:@SECLEVEL=0" -crlf -quiet' _ "$MP_PORT"
	echo "starttls tls1_1: $output"
	[ "$status" -ne 0 ]
	grep -q 'alert protocol version' <<<"$output"
	[[ $output != *"221 2.0.0"* ]]
	mp_wait_until 10 grep -q 'event=tls-failed error="handshake failed: unsupported protocol"' \
		"$MP_DIR/smtp-recv.log"

	run bash -c 'echo QUIT | timeout 20 openssl s_client -starttls smtp -connect "127.0.0.1:$1" \
		-tls1_2 -crlf -ign_eof -brief' _ "$MP_PORT"
	echo "starttls tls1_2: $output"
	grep -qx 'Protocol version: TLSv1.2' <<<"$output"
	grep -q '^221 2\.0\.0 ' <<<"$output"
	mp_wait_until 10 grep -q 'event=tls version=TLSv1.2 ' "$MP_DIR/smtp-recv.log"

	mp_listen -t
	run timeout 20 openssl s_client -connect "127.0.0.1:$MP_PORT" -tls1_1 \
		-cipher 'DEFAULT:@SECLEVEL=0' -quiet </dev/null
	echo "-t tls1_1: $output"
	[ "$status" -ne 0 ]
	grep -q 'alert protocol version' <<<"$output"
	[[ $output != *"220 mx.example.test"* ]]
	mp_wait_until 10 log_count_is 2 'event=tls-failed error="handshake failed: unsupported protocol"'
	mp_wait_until 10 no_smtp_recv_left
}

@test "openssl s_client: after QUIT the server closes TLS with close_notify" {
	# RFC 8446 6.1: each party MUST send close_notify before closing its
	# write side.  Without it an OpenSSL 3 client reports "unexpected eof
	# while reading" and exits 1 after a perfectly good session.
	mp_listen -s
	run bash -c 'printf "%s\n" "EHLO client.remote.test" QUIT |
		timeout 20 openssl s_client -starttls smtp -connect "127.0.0.1:$1" -crlf -quiet' _ "$MP_PORT"
	echo "$output"
	grep -q '^221 2\.0\.0 ' <<<"$output"
	[[ $output != *"unexpected eof while reading"* ]]
	[ "$status" -eq 0 ]
	# the same with Python, which tells a clean close from a cut one
	run session <<'EOF'
R:
C: EHLO client.remote.test
C: STARTTLS
TLS:
C: QUIT
EOF?:
EOF
	echo "$output"
	[ "${lines[-1]}" = closed ]
}

# ---- Python smtplib -----------------------------------------------------------

@test "smtplib: starttls() with login(), AUTH PLAIN and LOGIN with and without initial response" {
	mp_listen -s
	run "$PY" - "$MP_PORT" "$CERT" <<'EOF'
import smtplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False    # smtplib names the server 127.0.0.1; the chain is still verified
ways = [
    ("login", lambda s: s.login("alice@example.test", "secret")),
    ("plain-initial", lambda s: s.auth("PLAIN", s.auth_plain, initial_response_ok=True)),
    ("plain-challenge", lambda s: s.auth("PLAIN", s.auth_plain, initial_response_ok=False)),
    ("login-initial", lambda s: s.auth("LOGIN", s.auth_login, initial_response_ok=True)),
    ("login-challenge", lambda s: s.auth("LOGIN", s.auth_login, initial_response_ok=False)),
]
for name, auth in ways:
    s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.remote.test", timeout=30)
    s.ehlo()
    print(name, "before", "auth" in s.esmtp_features, "starttls" in s.esmtp_features)
    print(name, "starttls", s.starttls(context=ctx)[0], s.sock.version())
    s.ehlo()
    print(name, "after", s.esmtp_features.get("auth", "").strip(), "starttls" in s.esmtp_features)
    s.user, s.password = "alice@example.test", "secret"
    print(name, "auth", auth(s)[0])
    msg = "From: alice@example.test\nTo: bob@example.test\nSubject: via %s\n\nhello\n" % name
    print(name, "refused", s.sendmail("alice@example.test", ["bob@example.test"], msg))
    print(name, "quit", s.quit()[0])
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	for way in login plain-initial plain-challenge login-initial login-challenge; do
		grep -qx "$way before False True" <<<"$output"
		grep -qx "$way starttls 220 TLSv1.3" <<<"$output"
		grep -qx "$way after PLAIN LOGIN False" <<<"$output"
		grep -qx "$way auth 235" <<<"$output"
		grep -qx "$way refused {}" <<<"$output"
		grep -qx "$way quit 221" <<<"$output"
		file=$(grep -l "^Subject: via $way\$" "$(mp_maildir bob)"/new/*)
		grep -q '^	by mx\.example\.test (mailpipe) with ESMTPSA id ' "$file"
		grep -q '^	(using TLSv1\.3 with cipher [A-Z0-9_-]*)$' "$file"
	done
	[ "$(mp_new_count bob)" -eq 5 ]
	[ "$(log_count 'event=accepted .* proto=ESMTPSA tls=TLSv1\.3 cipher=[A-Z0-9_-]+ user=alice@example\.test')" -eq 5 ]
	[ "$(log_count 'event=auth user=alice@example\.test result=ok')" -eq 5 ]
}

@test "smtplib: SMTP_SSL against -t delivers and relays; Received says ESMTPSA using TLSv1" {
	mp_listen -t
	run "$PY" - "$MP_PORT" "$CERT" <<'EOF'
import smtplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
ctx.check_hostname = False
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), local_hostname="client.remote.test",
                     timeout=30, context=ctx)
print("tls", s.sock.version())
s.ehlo()
print("features", sorted(s.esmtp_features))
print("auth", s.login("bob@example.test", "secret")[0])
msg = "From: bob@example.test\nTo: alice@example.test\nSubject: smtps\n\nover port 465 style\n"
print("refused", s.sendmail("bob@example.test", ["alice@example.test", "someone@remote.test"], msg))
s.quit()
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'tls TLSv1.3' <<<"$output"
	grep -qx "features \['8bitmime', 'auth', 'chunking', 'enhancedstatuscodes', 'pipelining', 'size', 'smtputf8'\]" <<<"$output"
	grep -qx 'auth 235' <<<"$output"
	grep -qx 'refused {}' <<<"$output"
	file=$(mp_only_file alice)
	cat "$file"
	grep -qx 'Received: from client.remote.test (\[127\.0\.0\.1\])' "$file"
	grep -q '^	(using TLSv1\.3 with cipher ' "$file"
	grep -q '^	by mx\.example\.test (mailpipe) with ESMTPSA id ' "$file"
	queued=$(remote_queued someone@remote.test)
	grep -q 'with ESMTPSA id ' "$queued"
	grep -q 'event=accepted .* proto=ESMTPSA tls=TLSv1\.3 .*user=bob@example\.test' "$MP_DIR/smtp-recv.log"
}

@test "TLS record boundaries: 2 MiB by DATA and pipelined BDAT chunks over -s -t (port 465) arrive byte-exact" {
	# the smtps units run "smtp-recv -s -t": submission over implicit TLS
	mp_listen -s -t
	run "$PY" - "$MP_PORT" "$CERT" "$MP_DIR" <<'EOF'
import os, random, smtplib, socket, ssl, sys
port, cafile, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
rnd = random.Random(42)
def body(tag):
    lines = ["From: alice@example.test", "To: alice@example.test", "Subject: big %s" % tag, ""]
    lines += ["%06d %s" % (i, "".join(rnd.choice("abcdefghij .,;") for _ in range(70)))
              for i in range(30000)]
    return ("\r\n".join(lines) + "\r\n").encode()
# DATA through smtplib
data = body("data")
open(os.path.join(out, "data.eml"), "wb").write(data.replace(b"\r\n", b"\n"))
s = smtplib.SMTP_SSL("127.0.0.1", port, local_hostname="client.remote.test", timeout=60, context=ctx)
s.login("alice@example.test", "secret")
print("data", s.sendmail("alice@example.test", ["alice@example.test"], data))
s.quit()
# BDAT: everything after AUTH in one write, chunks of odd sizes
bdat = body("bdat")
open(os.path.join(out, "bdat.eml"), "wb").write(bdat.replace(b"\r\n", b"\n"))
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=60),
                    server_hostname="mx.example.test")
f = t.makefile("rb")
def reply():
    lines = []
    while True:
        line = f.readline().decode().rstrip("\r\n")
        lines.append(line)
        if line[3:4] != "-":
            return lines
print("greeting", reply()[0][:3])
t.sendall(b"EHLO client.remote.test\r\n"); print("ehlo", reply()[-1])
t.sendall(b"AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n"); print("auth", reply()[0][:3])
cmds = b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<alice@example.test>\r\n"
sizes = [1, 16383, 16385, 700001]
pos = 0
for n in sizes:
    cmds += b"BDAT %d\r\n" % n + bdat[pos:pos + n]
    pos += n
cmds += b"BDAT %d LAST\r\n" % (len(bdat) - pos) + bdat[pos:] + b"QUIT\r\n"
t.sendall(cmds)
for _ in range(2 + len(sizes) + 2):
    print("pipelined", reply()[0])
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'data {}' <<<"$output"
	grep -qx 'auth 235' <<<"$output"
	[ "$(grep -c '^pipelined 250 ' <<<"$output")" -eq 7 ]
	grep -q '^pipelined 250 2\.0\.0 OK id=2$' <<<"$output"
	grep -q '^pipelined 221 ' <<<"$output"
	[ "$(mp_new_count alice)" -eq 2 ]
	for tag in data bdat; do
		file=$(grep -l "^Subject: big $tag\$" "$(mp_maildir alice)"/new/*)
		"$PY" "$TOOLS/peers-mail.py" body "$file" > "$MP_DIR/got-$tag.eml"
		cmp "$MP_DIR/$tag.eml" "$MP_DIR/got-$tag.eml"
	done
}

# ---- a private Postfix as the submission client ------------------------------

@test "postfix: a private Postfix submits with TLS (encrypt) and SASL AUTH, local and remote" {
	etc_before=$(find /etc/postfix -exec stat -c '%n %s %Y %a' {} + | sort)
	mp_listen -s
	PF_DIR=$BATS_TEST_TMPDIR/postfix
	mkdir "$PF_DIR"
	mp_open_dirs "$PF_DIR"   # for the user postfix
	echo secret | "$TOOLS/peers-postfix" start-submission "$PF_DIR" "$MP_PORT" alice@example.test
	cat > "$MP_DIR/submit.eml" <<'EOF'
From: Alice <alice@example.test>
To: Bob <bob@example.test>, Someone <someone@remote.test>
Subject: submitted by postfix
Message-ID: <tls-submission.1@example.test>

Hello Bob,

this went through Postfix, TLS and AUTH.
EOF
	/usr/sbin/sendmail -C "$PF_DIR/etc" -i -f alice@example.test bob@example.test someone@remote.test \
		< "$MP_DIR/submit.eml"

	mp_wait_until 60 has_messages bob 1 || { cat "$PF_DIR/maillog"; false; }
	mp_wait_until 10 remote_queued someone@remote.test
	mp_wait_until 10 grep -q 'to=<someone@remote.test>.*status=sent' "$PF_DIR/maillog"
	mp_wait_until 10 grep -q 'to=<bob@example.test>.*status=sent' "$PF_DIR/maillog"
	cat "$PF_DIR/maillog"
	# Postfix insisted on TLS, and got it
	grep -q "TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$MP_PORT: TLSv1\.3" "$PF_DIR/maillog"
	grep -q "to=<bob@example.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$MP_PORT, .*status=sent (250 2\.0\.0 OK id=1)" "$PF_DIR/maillog"
	! grep -q 'status=deferred\|status=bounced\|SASL authentication failed' "$PF_DIR/maillog" || false

	file=$(mp_only_file bob)
	cat "$file"
	grep -qx 'Subject: submitted by postfix' "$file"
	grep -qx 'Return-Path: <alice@example.test>' "$file"
	grep -qx 'Received: from peer.remote.test (\[127\.0\.0\.1\])' "$file"
	grep -q '^	(using TLSv1\.3 with cipher ' "$file"
	grep -q '^	by mx\.example\.test (mailpipe) with ESMTPSA id ' "$file"
	queued=$(remote_queued someone@remote.test)
	grep -qx 'Subject: submitted by postfix' "$queued"
	[ "$(db 'select sender, helo from messages')" = 'alice@example.test|peer.remote.test' ]
	grep -q 'event=auth user=alice@example\.test result=ok' "$MP_DIR/smtp-recv.log"
	grep -q 'event=accepted .* rcpts=2 .*proto=ESMTPSA tls=TLSv1\.3 .*user=alice@example\.test' "$MP_DIR/smtp-recv.log"
	# the password went nowhere but into Postfix's own map
	! grep -q secret "$MP_DIR/smtp-recv.log" "$PF_DIR/maillog" "$PF_DIR/etc/main.cf" || false
	[ "$(stat -c %a "$PF_DIR/etc/sasl_passwd")" = 600 ]

	"$TOOLS/peers-postfix" stop "$PF_DIR"
	etc_after=$(find /etc/postfix -exec stat -c '%n %s %Y %a' {} + | sort)
	[ "$etc_before" = "$etc_after" ]
}

# ---- the protocol, step by step -------------------------------------------------

@test "before TLS: STARTTLS offered, AUTH neither offered nor accepted (538); -s wants AUTH (530)" {
	mp_listen -s
	run session <<EOF
R:
C: EHLO client.remote.test
C: AUTH PLAIN $PLAIN_OK
C: AUTH LOGIN
C: MAIL FROM:<alice@example.test>
C: RCPT TO:<bob@example.test>
C: QUIT
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
$(ehlo_clear)
538 5.7.11 *
538 5.7.11 *
530 5.7.0 *
503 5.5.1 *
221 2.0.0 *
EOF
	[ "$(log_count 'event=auth ')" -eq 0 ]
}

@test "the MX port (no -s) before TLS: no AUTH either, local mail still taken in clear" {
	mp_listen
	run session <<EOF
R:
C: EHLO client.remote.test
C: AUTH LOGIN $(b64 alice@example.test)
C: MAIL FROM:<x@remote.test>
C: RCPT TO:<alice@example.test>
C: RCPT TO:<someone@remote.test>
C: DATA
W: Subject: clear\r\n\r\nin clear\r\n.\r\n
R:
C: QUIT
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
$(ehlo_clear)
538 5.7.11 *
250 2.1.0 *
250 2.1.5 *
554 5.7.1 <someone@remote.test>: Relay access denied
354 *
250 2.0.0 OK id=1
221 2.0.0 *
EOF
	grep -q '^	by mx\.example\.test (mailpipe) with ESMTP id ' "$(mp_only_file alice)"
}

@test "after STARTTLS: AUTH PLAIN LOGIN offered, STARTTLS not again (503); AUTH needs EHLO; -s: MAIL before AUTH 530" {
	mp_listen -s
	run session <<EOF
R:
C: EHLO client.remote.test
C: STARTTLS
TLS:
C: HELO client.remote.test
C: AUTH PLAIN $PLAIN_OK
C: EHLO client.remote.test
C: STARTTLS
C: MAIL FROM:<alice@example.test>
C: AUTH
C: AUTH PLAIN $PLAIN_OK
C: AUTH PLAIN $PLAIN_OK
C: EHLO client.remote.test
C: MAIL FROM:<alice@example.test>
C: QUIT
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
$(ehlo_clear)
220 2.0.0 *
tls TLSv1.3 TLS_*
250 mx.example.test
503 5.5.1 *
$(ehlo_tls)
503 5.5.1 *
530 5.7.0 *
501 5.5.4 *
235 2.7.0 *
503 5.5.1 *
$(ehlo_tls | grep -v AUTH)
250 2.1.0 *
221 2.0.0 *
EOF
	grep -q 'event=tls version=TLSv1\.3 cipher=TLS_' "$MP_DIR/smtp-recv.log"
}

@test "STARTTLS injection: a command pipelined after STARTTLS is never answered" {
	mp_listen -s
	# "STARTTLS\r\nNOOP\r\n" in one write: the NOOP came in clear and must be
	# thrown away; the first reply under TLS is the one to the new EHLO
	run session <<'EOF'
R:
C: EHLO client.remote.test
W: STARTTLS\r\nNOOP\r\n
R:
TLS:
C: EHLO client.remote.test
C: NOOP
C: QUIT
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
$(ehlo_clear)
220 2.0.0 *
tls TLSv1.3 TLS_*
$(ehlo_tls)
250 2.0.0 *
221 2.0.0 *
EOF
	# the session starts over: a pipelined EHLO does not count, MAIL before
	# a new EHLO under TLS is out of order
	run session <<EOF
R:
C: EHLO client.remote.test
W: STARTTLS\r\nEHLO injected.test\r\nAUTH PLAIN $PLAIN_OK\r\n
R:
TLS:
C: MAIL FROM:<alice@example.test>
C: EHLO client.remote.test
C: QUIT
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
$(ehlo_clear)
220 2.0.0 *
tls TLSv1.3 TLS_*
503 5.5.1 *
$(ehlo_tls)
221 2.0.0 *
EOF
	! grep -q 'injected.test' "$MP_DIR/smtp-recv.log" || false
	[ "$(log_count 'event=auth ')" -eq 0 ]
}

@test "AUTH: a wrong password gets 535 5.7.8; the third failure ends the session with 421 4.7.0" {
	mp_listen -s
	run session <<EOF
R:
C: EHLO client.remote.test
C: STARTTLS
TLS:
C: EHLO client.remote.test
C: AUTH PLAIN $(b64 '\0alice@example.test\0wrong')
C: AUTH LOGIN
C: $(b64 alice@example.test)
C: $(b64 Secret)
C: AUTH PLAIN $(b64 '\0nobody@example.test\0secret')
R:
EOF?:
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
$(ehlo_clear)
220 2.0.0 *
tls TLSv1.3 TLS_*
$(ehlo_tls)
535 5.7.8 *
334 VXNlcm5hbWU6
334 UGFzc3dvcmQ6
535 5.7.8 *
535 5.7.8 *
421 4.7.0 *
closed*
EOF
	[ "$(log_count 'event=auth user=alice@example\.test result=fail')" -eq 2 ]
	# an unknown user is not named (it may be a password typed in the wrong box)
	[ "$(log_count 'event=auth user=\(unknown\) result=fail')" -eq 1 ]
	[ "$(log_count 'reason=auth-failures')" -eq 1 ]
	# two failures are forgiven: the right password then works
	run session <<EOF
R:
C: STARTTLS
TLS:
C: EHLO client.remote.test
C: AUTH PLAIN $(b64 '\0alice@example.test\0wrong')
C: AUTH PLAIN $(b64 '\0alice@example.test\0wrong')
C: AUTH PLAIN $PLAIN_OK
C: QUIT
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
220 2.0.0 *
tls TLSv1.3 TLS_*
$(ehlo_tls)
535 5.7.8 *
535 5.7.8 *
235 2.7.0 *
221 2.0.0 *
EOF
}

@test "AUTH: malformed base64 501 5.5.2, '*' 501 5.0.0, unknown mechanism 504 5.5.4 (not counted as failures); no authzid for others" {
	mp_listen -s
	run session <<EOF
R:
C: STARTTLS
TLS:
C: EHLO client.remote.test
C: AUTH PLAIN !!!notbase64
C: AUTH PLAIN
C: AGFsaWNl=QGV4
C: AUTH LOGIN
C: *
C: AUTH PLAIN
C: *
C: AUTH CRAM-MD5
C: AUTH PLAIN $(b64 'no NUL separators at all')
C: AUTH LOGIN $(b64 bob@example.test)
C: $(b64 wrong)
C: AUTH PLAIN $(b64 'bob@example.test\0alice@example.test\0secret')
C: AUTH PLAIN $(b64 'alice@example.test\0alice@example.test\0secret')
C: QUIT
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
220 2.0.0 *
tls TLSv1.3 TLS_*
$(ehlo_tls)
501 5.5.2 *
334*
501 5.5.2 *
334 VXNlcm5hbWU6
501 5.0.0 *
334*
501 5.0.0 *
504 5.5.4 *
501 5.5.2 *
334 UGFzc3dvcmQ6
535 5.7.8 *
535 5.7.8 *
235 2.7.0 *
221 2.0.0 *
EOF
	# alice's password does not let her act for bob (an authzid other than
	# herself); naming herself is fine
	grep -q 'event=auth user=alice@example\.test result=ok' "$MP_DIR/smtp-recv.log"
	[ "$(log_count 'event=auth user=alice@example\.test result=fail')" -eq 1 ]
}

@test "AUTH: a client silent in the middle of the AUTH dialogue gets 421 4.4.2 after 'timeout'" {
	mp_conf timeout 2
	mp_listen -s
	run session <<EOF
R:
C: STARTTLS
TLS:
C: EHLO client.remote.test
C: AUTH LOGIN
R:
EOF?:
EOF
	echo "$output"
	[ "${lines[-3]}" = '334 VXNlcm5hbWU6' ]
	[[ ${lines[-2]} == '421 4.4.2 '* ]]
	[[ ${lines[-1]} == closed* ]]
	mp_wait_until 10 grep -q 'event=disconnect reason=timeout' "$MP_DIR/smtp-recv.log"
	mp_wait_until 10 no_smtp_recv_left
}

@test "submission: the sender must be the user's own address or an alias delivering to the user (553 5.7.1)" {
	mp_listen -s
	run session <<EOF
R:
C: STARTTLS
TLS:
C: EHLO client.remote.test
C: MAIL FROM:<alice@example.test>
C: AUTH PLAIN $PLAIN_OK
C: MAIL FROM:<bob@example.test>
C: MAIL FROM:<>
C: MAIL FROM:<alice@remote.test>
C: MAIL FROM:<info@example.test>
C: RSET
C: MAIL FROM:<postmaster@example.test>
C: RSET
C: MAIL FROM:<Alice@Example.TEST>
C: RCPT TO:<bob@example.test>
C: DATA
W: Subject: own address\r\n\r\nfrom alice\r\n.\r\n
R:
C: QUIT
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
220 2.0.0 *
tls TLSv1.3 TLS_*
$(ehlo_tls)
530 5.7.0 *
235 2.7.0 *
553 5.7.1 *
553 5.7.1 *
553 5.7.1 *
250 2.1.0 *
250 2.0.0 *
250 2.1.0 *
250 2.0.0 *
250 2.1.0 *
250 2.1.5 *
354 *
250 2.0.0 OK id=1
221 2.0.0 *
EOF
	grep -qx 'Subject: own address' "$(mp_only_file bob)"
	[ "$(log_count 'event=sender-rejected from=<bob@example\.test> user=alice@example\.test')" -eq 1 ]
}

@test "relay: under TLS but without AUTH a remote address gets 554 5.7.1; after AUTH it is queued" {
	mp_listen
	run session <<EOF
R:
C: STARTTLS
TLS:
C: EHLO client.remote.test
C: MAIL FROM:<alice@example.test>
C: RCPT TO:<someone@remote.test>
C: RSET
C: AUTH PLAIN $PLAIN_OK
C: MAIL FROM:<alice@example.test>
C: RCPT TO:<someone@remote.test>
C: RCPT TO:<else@other.test>
C: DATA
W: Subject: relayed\r\n\r\nplease relay\r\n.\r\n
R:
C: QUIT
EOF
	echo "$output"
	transcript_is <<EOF
220 mx.example.test ESMTP mailpipe
220 2.0.0 *
tls TLSv1.3 TLS_*
$(ehlo_tls)
250 2.1.0 *
554 5.7.1 <someone@remote.test>: Relay access denied
250 2.0.0 *
235 2.7.0 *
250 2.1.0 *
250 2.1.5 *
250 2.1.5 *
354 *
250 2.0.0 OK id=1
221 2.0.0 *
EOF
	for rcpt in someone@remote.test else@other.test; do
		queued=$(remote_queued "$rcpt")
		grep -qx 'Subject: relayed' "$queued"
		grep -q 'with ESMTPSA id ' "$queued"
	done
	[ "$(db "select count(*) from recipients where kind = 'remote' and status = 'pending'")" -eq 2 ]
	[ "$(log_count 'event=rcpt-rejected rcpt=someone@remote\.test reason=relay-denied')" -eq 1 ]
}

@test "the password never appears in the log (even at log debug) nor in ps output" {
	local pw=Tr0ub4dor-$RANDOM-$RANDOM-zebra
	local hash
	hash=$(printf '%s\n' "$pw" | openssl passwd -6 -stdin)
	sed -i "s|^alice@example.test:.*|alice@example.test:$hash|" "$MAILPIPE_CONF/users"
	mp_conf log debug
	mp_listen -s
	local plain login_pw wrong
	plain=$(b64 '\0alice@example.test\0%s' "$pw")
	login_pw=$(b64 '%s' "$pw")
	wrong=$(b64 '\0alice@example.test\0%s-nope' "$pw")
	run session <<EOF
R:
C: STARTTLS
TLS:
C: EHLO client.remote.test
C: AUTH PLAIN $wrong
C: AUTH LOGIN
C: $(b64 alice@example.test)
EXEC: ps -eww -o pid,args > "$MP_DIR/ps.args"; ps eww -e > "$MP_DIR/ps.env"; $PY $TOOLS/tls-procs.py $MAILPIPE_CONF > "$MP_DIR/during"
C: $login_pw
C: MAIL FROM:<alice@example.test>
C: RSET
EXEC: ps -eww -o pid,args >> "$MP_DIR/ps.args"; ps eww -e >> "$MP_DIR/ps.env"; $PY $TOOLS/tls-procs.py $MAILPIPE_CONF >> "$MP_DIR/during"
C: QUIT
EOF
	echo "$output"
	grep -q '^235 2\.7\.0 ' <<<"$output"
	run session <<EOF
R:
C: STARTTLS
TLS:
C: EHLO client.remote.test
C: AUTH PLAIN
C: $plain
EXEC: ps -eww -o pid,args >> "$MP_DIR/ps.args"; ps eww -e >> "$MP_DIR/ps.env"; $PY $TOOLS/tls-procs.py $MAILPIPE_CONF >> "$MP_DIR/during"
C: MAIL FROM:<alice@example.test>
C: RCPT TO:<bob@example.test>
C: DATA
W: Subject: secret-free\r\n\r\nbody\r\n.\r\n
R:
C: QUIT
EOF
	echo "$output"
	grep -q '^250 2\.0\.0 OK id=1' <<<"$output"
	# the snapshots were taken while smtp-recv served this test
	[ "$(wc -l < "$MP_DIR/during")" -eq 3 ]
	for pid in $(cat "$MP_DIR/during"); do
		grep -qE "^ *$pid .*/smtp-recv -s\$" "$MP_DIR/ps.args"
	done
	grep -q "MAILPIPE_CONF=$MAILPIPE_CONF" "$MP_DIR/ps.env"
	cat "$MP_DIR/smtp-recv.log"
	grep -q 'event=auth user=alice@example\.test result=ok' "$MP_DIR/smtp-recv.log"
	grep -q 'event=auth user=alice@example\.test result=fail' "$MP_DIR/smtp-recv.log"
	for needle in "$pw" "$plain" "$login_pw" "$wrong"; do
		! grep -rqF -- "$needle" "$MP_DIR/smtp-recv.log" "$MP_DIR/ps.args" "$MP_DIR/ps.env" || false
	done
	# nor in anything stored
	! grep -rqF -- "$pw" "$MP_STATE" || false
}

# ---- hostile or broken TLS ----------------------------------------------------

@test "hostile TLS: garbage instead of a ClientHello after STARTTLS ends the session" {
	mp_listen -s
	run session <<'EOF'
R:
C: EHLO client.remote.test
C: STARTTLS
W: \x16\x03\x01\x00\x05hello, this is not TLS at all\r\n\x00\xff\xfe
EOF?:
EOF
	echo "$output"
	grep -qx '220 2\.0\.0 Ready to start TLS' <<<"$output"
	[[ ${lines[-1]} == closed* ]]
	mp_wait_until 10 grep -q 'event=tls-failed error="handshake failed: ' "$MP_DIR/smtp-recv.log"
	mp_wait_until 10 no_smtp_recv_left
}

@test "hostile TLS: a client that disconnects mid-handshake (half a ClientHello; after the ServerHello)" {
	mp_listen -s
	run session <<'EOF'
R:
C: EHLO client.remote.test
C: STARTTLS
HELLO-HALF:
EOF
	echo "$output"
	[[ ${lines[-1]} == "sent "*" octets of a ClientHello, closed" ]]
	run session <<'EOF'
R:
C: EHLO client.remote.test
C: STARTTLS
HELLO-CLOSE:
EOF
	echo "$output"
	[[ ${lines[-1]} == "got "*" octets of the server's handshake, closed" ]]
	mp_wait_until 10 log_count_is 2 'event=tls-failed error='
	mp_wait_until 10 no_smtp_recv_left
	cat "$MP_DIR/smtp-recv.log"
	# no timeout was needed: each ended at once (timeout is the default 300 s)
	! grep -q 'timed out' "$MP_DIR/smtp-recv.log" || false
}

@test "hostile TLS: a client silent after STARTTLS is dropped after 'timeout' seconds" {
	mp_conf timeout 2
	mp_listen -s
	local start=$SECONDS
	run session --timeout 20 <<EOF
R:
C: EHLO client.remote.test
C: STARTTLS
EXEC: $PY $TOOLS/tls-procs.py $MAILPIPE_CONF > "$MP_DIR/during"
EOF?:
EOF
	echo "$output"
	grep -qx '220 2\.0\.0 Ready to start TLS' <<<"$output"
	[[ ${lines[-1]} == closed* ]]
	# it waited for the handshake, but not much longer than the timeout
	[ $((SECONDS - start)) -le 10 ]
	# while the client was silent its smtp-recv was there
	[ -s "$MP_DIR/during" ]
	mp_wait_until 10 grep -q 'event=tls-failed error="handshake timed out"' "$MP_DIR/smtp-recv.log"
	mp_wait_until 10 no_smtp_recv_left
}

@test "hostile TLS: -t given clear text or garbage instead of a ClientHello" {
	mp_listen -t
	# the listener's own probe (connect, close) is one failed handshake
	mp_wait_until 10 log_count_is 1 'event=tls-failed error='
	run session <<'EOF'
W: EHLO client.remote.test\r\n
EOF?:
EOF
	echo "$output"
	[[ ${lines[-1]} == closed* ]]
	[[ $output != *"220 mx.example.test"* ]]
	run session <<'EOF'
W: \x16\x03\x03\x00\x04\xde\xad\xbe\xef\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09
EOF?:
EOF
	echo "$output"
	[[ ${lines[-1]} == closed* ]]
	mp_wait_until 10 log_count_is 3 'event=tls-failed error='
	mp_wait_until 10 no_smtp_recv_left
	[ "$(log_count 'event=ehlo')" -eq 0 ]
}

# ---- configuration errors ------------------------------------------------------

@test "config: -t without tls_cert and tls_key answers 421 4.3.0 and exits 78" {
	grep -v '^tls_' "$MAILPIPE_CONF/mailpipe.conf" > "$MP_DIR/conf.new"
	mv "$MP_DIR/conf.new" "$MAILPIPE_CONF/mailpipe.conf"
	recv_conf_error -t
	grep -q 'tls_cert' "$MP_DIR/err"
	# without -t no certificate is needed: no STARTTLS, no AUTH
	run bash -c 'printf "EHLO x\r\nQUIT\r\n" | "$1" 2>/dev/null' _ "$BIN/smtp-recv"
	[ "$status" -eq 0 ]
	[[ $output != *STARTTLS* && $output != *AUTH* ]]
}

@test "config: tls_cert naming a missing file answers 421 4.3.0 and exits 78 (every mode)" {
	mp_conf tls_cert "$MP_DIR/missing.pem"
	for mode in "" -s -t; do
		recv_conf_error $mode
		grep -q "missing\.pem" "$MP_DIR/err"
	done
	mp_conf tls_cert "$CERT"
	mp_conf tls_key "$MP_DIR/missing-key.pem"
	recv_conf_error -s
	grep -q "missing-key\.pem" "$MP_DIR/err"
	# half a TLS configuration is no TLS configuration
	grep -v '^tls_key ' "$MAILPIPE_CONF/mailpipe.conf" > "$MP_DIR/conf.new"
	mv "$MP_DIR/conf.new" "$MAILPIPE_CONF/mailpipe.conf"
	recv_conf_error
	grep -q 'tls_key' "$MP_DIR/err"
	# a key that is not the certificate's
	openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out "$MP_DIR/other.pem" 2>/dev/null
	mp_conf tls_key "$MP_DIR/other.pem"
	recv_conf_error -t
	# over TCP the client sees the same 421 (and the listener logs exit 78)
	EXPECT_EXIT='died with code 78'
	mp_listen -s
	run session <<'EOF'
R:
EOF?:
EOF
	echo "$output"
	[[ ${lines[0]} == "421 4.3.0 "* ]]
	[[ ${lines[1]} == closed* ]]
}
