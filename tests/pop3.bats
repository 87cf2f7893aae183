#!/usr/bin/env bats
# tests/pop3.bats - pop3-serve(8) seen from mail clients nobody here wrote
# (fetchmail, getmail6, curl, Python's poplib) and from a scripted client
# for what they cannot show: the Maildir after QUIT, after a dropped
# connection, after a kill -9 in the middle of a RETR; the lock between two
# sessions; sizes, UIDs, the idle timeout and memory.  The protocol itself,
# reply by reply, is in the transcripts tests/sessions/pop3-*.pop3.
#
# Each test has its own configuration, a self-signed certificate for
# mx.example.test (and 127.0.0.1), and pop3-serve run per connection by
# systemd-socket-activate on a free port of 127.0.0.1, as pop3.socket does.
#
# Needs (Debian 12): bats, python3, openssl, systemd (systemd-socket-activate),
# procps (pgrep), fetchmail, getmail6, curl, time, util-linux (runuser).

setup() {
	load lib
	mp_setup
	CERT=$MP_DIR/cert.pem
	KEY=$MP_DIR/key.pem
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=mx.example.test -addext 'subjectAltName=DNS:mx.example.test,IP:127.0.0.1' \
		-keyout "$KEY" -out "$CERT" 2>/dev/null
	mp_conf tls_cert "$CERT"
	mp_conf tls_key "$KEY"
	MAILDIR=$(mp_maildir alice)
	P3_WRAP=()
}

teardown() {
	local pid
	# sessions a failed test left behind: the children of our listeners
	for pid in "${MP_PIDS[@]}"; do
		pgrep -P "$pid" | while read -r child; do kill "$child" 2>/dev/null; done
	done
	mp_teardown
	# every pop3-serve ended well (exit 0, no sanitizer report), except the
	# one a test killed on purpose
	if grep -E 'died with code [1-9]|Sanitizer|runtime error' "$MP_DIR/pop3.log" 2>/dev/null |
		grep -v "${EXPECT_DIED:-no death is expected}"; then
		return 1
	fi
}

# ---- helpers ----------------------------------------------------------------

# pop3_listen VAR [pop3-serve args]: pop3-serve per connection on a free
# port of 127.0.0.1, which goes into VAR; P3_WRAP (an array) runs before it.
# Sets P3_LISTEN_PID.
pop3_listen() {
	local var=$1 port
	shift
	port=$(mp_free_port)
	systemd-socket-activate --accept --inetd -l "127.0.0.1:$port" \
		-E MAILPIPE_CONF="$MAILPIPE_CONF" "${P3_WRAP[@]}" "$BIN/pop3-serve" "$@" \
		2>>"$MP_DIR/pop3.log" &
	P3_LISTEN_PID=$!
	MP_PIDS+=("$P3_LISTEN_PID")
	printf -v "$var" %s "$port"
	mp_wait_until 10 mp_port_open "$port"
}

# deliver [USER] < message: mail-store puts it in USER's Maildir (alice).
deliver() {
	"$BIN/mail-store" -f sender@example.org "${1:-alice}@example.test" >/dev/null 2>>"$MP_DIR/store.log"
}

# The base names of the messages in alice's Maildir (new/ and cur/), sorted.
base_names() {
	local f
	for f in "$MAILDIR"/new/* "$MAILDIR"/cur/*; do
		[ -e "$f" ] || continue
		f=${f##*/}
		echo "${f%%:2,*}"
	done | sort
}

message_count() {
	base_names | wc -l
}

# No pop3-serve of the last pop3_listen is running.
no_sessions() {
	! pgrep -P "$P3_LISTEN_PID" >/dev/null
}

# The checksums of files, sorted: the same messages in any order.
checksums() {
	local f
	for f in "$@"; do md5sum < "$f"; done | sort
}

# The octets a file has on the wire, every line end CR LF: computed here
# independently of pop3-serve.
wire_octets() {
	"$PY" -c 'import re, sys; print(len(re.sub(rb"(?<!\r)\n", b"\r\n", open(sys.argv[1], "rb").read())))' "$1"
}

# A message of about 20 MiB: 20480 lines of 1023 octets.
big_message() {
	"$PY" -c '
import sys
out = sys.stdout.buffer
out.write(b"Subject: big\n\n")
line = b"0123456789abcdef" * 64
for i in range(20480):
    out.write(b"%05d " % i + line[6:] + b"\n")
'
}

# as_mail_user COMMAND...: getmail refuses to deliver as root; a root test
# run lets "nobody" do it (in directories made searchable for it).
as_mail_user() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u nobody -- "$@"
	else
		"$@"
	fi
}

give_to_mail_user() {
	if [ "$(id -u)" -eq 0 ]; then
		mp_open_dirs "$MP_DIR"
		chmod o+r "$CERT"
		chown -R nobody "$@"
	fi
}

# pop3_py SCRIPT [ARGS]: Python with a small POP3 client (class Pop) and
# check(); the port is $PORT.
pop3_py() {
	local script=$1
	shift
	PORT=${PORT:-} MAILDIR=$MAILDIR CERT=$CERT "$PY" -c "$(pop3_lib)
$script" "$@"
}

pop3_lib() {
	cat <<'PYTHON'
import os, re, socket, ssl, sys, time

PORT = int(os.environ.get('PORT') or 0)
MAILDIR = os.environ['MAILDIR']


def check(ok, what):
    if not ok:
        sys.exit('FAILED: ' + what)


class Pop:
    """One POP3 connection: cmd() returns the first reply line, multi()
    the lines of a multi-line reply (unstuffed), None at EOF."""

    def __init__(self, port=None, tls=False):
        self.sock = socket.create_connection(('127.0.0.1', port or PORT), timeout=30)
        if tls:
            ctx = ssl.create_default_context(cafile=os.environ['CERT'])
            self.sock = ctx.wrap_socket(self.sock, server_hostname='mx.example.test')
        self.file = self.sock.makefile('rb')
        self.greeting = self.line()

    def line(self):
        raw = self.file.readline()
        return raw.decode('latin-1').rstrip('\r\n') if raw else None

    def send(self, text):
        self.sock.sendall(text.encode() + b'\r\n')

    def cmd(self, text):
        self.send(text)
        return self.line()

    def multi(self, text):
        first = self.cmd(text)
        check(first is not None and first.startswith('+OK'), f'{text}: {first}')
        lines = []
        while True:
            raw = self.file.readline()
            check(raw.endswith(b'\r\n'), f'{text}: a line without CR LF: {raw[:80]!r}')
            if raw == b'.\r\n':
                return first, lines
            lines.append(raw[1:] if raw.startswith(b'.') else raw)

    def login(self, user='alice@example.test'):
        reply = self.cmd('USER ' + user)
        check(reply == '+OK Send the password', f'USER: {reply}')
        reply = self.cmd('PASS secret')
        check(reply is not None and reply.startswith('+OK '), f'PASS: {reply}')
        return reply

    def uidl(self):
        """{number: uid}"""
        return {int(n): u for n, u in (l.decode().split() for l in self.multi('UIDL')[1])}

    def until_eof(self, limit=30):
        """What comes until the server closes (within limit seconds)."""
        self.sock.settimeout(limit)
        return self.file.read()
PYTHON
}

# ---- clients nobody here wrote ------------------------------------------------

@test "fetchmail over STLS downloads alice's mail, dot lines intact, and deletes it from the Maildir" {
	printf 'Subject: one\n\nfirst\n.\n..two dots\n.dot\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	mkdir "$MP_DIR/expect" "$MP_DIR/got"
	cp "$MAILDIR"/new/* "$MP_DIR/expect/"
	pop3_listen PORT
	printf '#!/bin/sh\nn=$(ls "%s" | wc -l)\ncat > "%s/$((n + 1))"\n' "$MP_DIR/got" "$MP_DIR/got" > "$MP_DIR/save"
	chmod +x "$MP_DIR/save"
	rc=$MP_DIR/fetchmailrc
	cat > "$rc" <<EOF
set invisible
poll 127.0.0.1 port $PORT proto pop3 user "alice@example.test" there with password "secret"
  is "$(id -un)" here options sslcertck sslcertfile "$CERT" sslcommonname mx.example.test
  sslproto "tls1.2+" mda "$MP_DIR/save"
EOF
	chmod 600 "$rc"
	mkdir -m 700 "$MP_DIR/fetchmail"
	FETCHMAILHOME=$MP_DIR/fetchmail run timeout 60 fetchmail -f "$rc" -v --nosyslog
	echo "$output" | tail -n 30
	[ "$status" -eq 0 ]
	# the password went inside TLS
	[[ $output == *'POP3> STLS'* ]]
	[[ $output == *'POP3< +OK Begin TLS negotiation'* ]]
	# both messages, byte for byte as stored
	[ "$(ls "$MP_DIR/got" | wc -l)" -eq 2 ]
	[ "$(checksums "$MP_DIR"/got/*)" = "$(checksums "$MP_DIR"/expect/*)" ]
	grep -qx '\.\.two dots' "$MP_DIR"/got/*
	grep -qx '\.' "$MP_DIR"/got/*
	# fetched without --keep: deleted at QUIT
	[ "$(message_count)" -eq 0 ]
	grep -q 'event=logout user=alice@example.test deleted=2' "$MP_DIR/pop3.log"
}

@test "fetchmail keep + uidl: it reads with TOP, the messages stay unread in new/, the next run fetches only new mail" {
	printf 'Subject: one\n\nfirst\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	names=$(base_names)
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	mkdir -m 700 "$MP_DIR/fetchmail"
	rc=$MP_DIR/fetchmailrc
	cat > "$rc" <<EOF
set invisible
poll 127.0.0.1 port $PORT proto pop3 uidl user "alice@example.test" there with password "secret"
  is "$(id -un)" here options keep sslproto "" mda "cat >> $MP_DIR/got"
EOF
	chmod 600 "$rc"
	FETCHMAILHOME=$MP_DIR/fetchmail run timeout 60 fetchmail -f "$rc" -v --nosyslog
	echo "$output" | tail -n 30
	[ "$status" -eq 0 ]
	[ "$(grep -c '^Subject: ' "$MP_DIR/got")" -eq 2 ]
	# fetchmail read them with TOP and a huge line count (it does, with
	# keep and uidl, so that the server does not mark them read): whole,
	# kept, still unread
	[[ $output == *'POP3> TOP 1 99999999'* ]]
	grep -qx second "$MP_DIR/got"
	[ "$(base_names)" = "$names" ]
	[ "$(ls "$MAILDIR/new" | wc -l)" -eq 2 ]
	[ -z "$(ls "$MAILDIR/cur")" ]
	# the UIDs are the same in the next session: nothing new
	FETCHMAILHOME=$MP_DIR/fetchmail run timeout 60 fetchmail -f "$rc" --nosyslog
	echo "$output"
	[ "$status" -eq 1 ]   # fetchmail: no mail
	[ "$(grep -c '^Subject: ' "$MP_DIR/got")" -eq 2 ]
	printf 'Subject: three\n\nthird\n' | deliver
	FETCHMAILHOME=$MP_DIR/fetchmail run timeout 60 fetchmail -f "$rc" --nosyslog
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^Subject: ' "$MP_DIR/got")" -eq 3 ]
	[ "$(grep '^Subject: ' "$MP_DIR/got" | tail -n 1)" = 'Subject: three' ]
	[ "$(message_count)" -eq 3 ]
}

@test "getmail6 over POP3S (pop3-serve -t) delivers alice's mail into a Maildir, as stored, and deletes it" {
	printf 'Subject: one\n\nfirst\n.\n.dot\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	mkdir "$MP_DIR/expect"
	cp "$MAILDIR"/new/* "$MP_DIR/expect/"
	pop3_listen PORT -t
	gm=$MP_DIR/getmail
	mkdir -p "$gm"/Maildir/{cur,new,tmp}
	cat > "$gm/rc" <<EOF
[retriever]
type = SimplePOP3SSLRetriever
server = 127.0.0.1
port = $PORT
username = alice@example.test
password = secret
ca_certs = $CERT

[destination]
type = Maildir
path = $gm/Maildir/

[options]
delete = true
read_all = true
delivered_to = false
received = false
EOF
	give_to_mail_user "$gm"
	run as_mail_user timeout 60 getmail --getmaildir "$gm" --rcfile "$gm/rc"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *'2 messages'*retrieved* ]]
	[ "$(ls "$gm/Maildir/new" | wc -l)" -eq 2 ]
	# the same messages, byte for byte (in any order)
	[ "$(checksums "$gm"/Maildir/new/*)" = "$(checksums "$MP_DIR"/expect/*)" ]
	[ "$(message_count)" -eq 0 ]
}

@test "getmail6 over POP3 (pop3_plaintext_loopback) into an mboxrd file remembers the UIDs: a second run gets nothing" {
	printf 'Subject: one\n\nFrom the start\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	gm=$MP_DIR/getmail
	mkdir -p "$gm"
	: > "$gm/mbox"
	cat > "$gm/rc" <<EOF
[retriever]
type = SimplePOP3Retriever
server = 127.0.0.1
port = $PORT
username = alice@example.test
password = secret

[destination]
type = Mboxrd
path = $gm/mbox

[options]
delete = false
read_all = false
EOF
	give_to_mail_user "$gm"
	run as_mail_user timeout 60 getmail --getmaildir "$gm" --rcfile "$gm/rc"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^Subject: ' "$gm/mbox")" -eq 2 ]
	grep -qx '>From the start' "$gm/mbox"   # mboxrd quoting of the body line
	run as_mail_user timeout 60 getmail --getmaildir "$gm" --rcfile "$gm/rc"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *'0 messages'* ]]
	[ "$(grep -c '^Subject: ' "$gm/mbox")" -eq 2 ]
	[ "$(message_count)" -eq 2 ]
}

@test "curl pop3:// lists and retrieves with pop3_plaintext_loopback yes" {
	printf 'Subject: one\n\nfirst\n.\n..two\n' | deliver
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	cp "$(mp_only_file alice)" "$MP_DIR/stored"
	run curl -sS --max-time 30 --user alice@example.test:secret "pop3://127.0.0.1:$PORT/"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(printf '%s' "$output" | tr -d '\r')" = "1 $(wire_octets "$MP_DIR/stored")" ]
	curl -sS --max-time 30 --user alice@example.test:secret "pop3://127.0.0.1:$PORT/1" > "$MP_DIR/got"
	# CR LF on the wire, the dots unstuffed by curl: the stored file again
	tr -d '\r' < "$MP_DIR/got" | cmp - "$MP_DIR/stored"
	[ "$(wc -c < "$MP_DIR/got")" -eq "$(wire_octets "$MP_DIR/stored")" ]
	run curl -sS --max-time 30 --user alice@example.test:wrong "pop3://127.0.0.1:$PORT/1"
	[ "$status" -ne 0 ]
	[[ $output != *Subject* ]]
}

@test "curl pop3:// without pop3_plaintext_loopback: no password in clear, and STLS (--ssl-reqd) gets the mail" {
	printf 'Subject: one\n\nfirst\n' | deliver
	pop3_listen PORT
	cp "$(mp_only_file alice)" "$MP_DIR/stored"
	# CAPA does not list USER, only STLS: curl gives up without sending
	# the password
	run curl -v -sS --max-time 30 --user alice@example.test:secret "pop3://127.0.0.1:$PORT/1"
	echo "$output" | grep -v '^\*'
	[ "$status" -eq 67 ]   # login denied
	[[ $output == *'< STLS'* ]]
	[[ $output != *'> PASS'* ]]
	[[ $output != *Subject* ]]
	curl -sS --max-time 30 --ssl-reqd --cacert "$CERT" --user alice@example.test:secret \
		"pop3://127.0.0.1:$PORT/1" | tr -d '\r' | cmp - "$MP_DIR/stored"
}

@test "curl pop3s:// against pop3-serve -t checks the certificate and retrieves" {
	printf 'Subject: one\n\nfirst\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	pop3_listen PORT -t
	run curl -sS --max-time 30 --cacert "$CERT" --user alice@example.test:secret "pop3s://127.0.0.1:$PORT/"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | grep -c '^[12] [0-9]')" -eq 2 ]
	uid=$(curl -sS --max-time 30 --cacert "$CERT" --user alice@example.test:secret -X UIDL \
		"pop3s://127.0.0.1:$PORT/" | tr -d '\r' | sed -n 's/^2 //p')
	[ -f "$MAILDIR/new/$uid" ]
	curl -sS --max-time 30 --cacert "$CERT" --user alice@example.test:secret "pop3s://127.0.0.1:$PORT/2" |
		tr -d '\r' | cmp - "$MAILDIR/new/$uid"
	# an unknown certificate: curl refuses
	run curl -sS --max-time 30 --user alice@example.test:secret "pop3s://127.0.0.1:$PORT/"
	[ "$status" -eq 60 ]
}

@test "Python poplib: STLS, then CAPA, STAT, LIST, UIDL, TOP, RETR, DELE and QUIT" {
	printf 'Subject: one\n\nfirst\n.\n..two\nlast\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	pop3_listen PORT
	run pop3_py '
import poplib
p = poplib.POP3("127.0.0.1", PORT, timeout=30)
capa = p.capa()
check("STLS" in capa and "USER" not in capa, f"CAPA before TLS: {capa}")
try:
    p.user("alice@example.test")
    check(False, "USER accepted in clear")
except poplib.error_proto as e:
    check(b"-ERR [AUTH]" in e.args[0], str(e))
p.stls(ssl.create_default_context(cafile=os.environ["CERT"]))
capa = p.capa()
check("USER" in capa and "STLS" not in capa and "UIDL" in capa and "TOP" in capa, f"CAPA after: {capa}")
p.user("alice@example.test")
p.pass_("secret")
count, size = p.stat()
check(count == 2, f"STAT {count} {size}")
uids = {int(l.split()[0]): l.split()[1].decode() for l in p.uidl()[1]}
sizes = {int(l.split()[0]): int(l.split()[1]) for l in p.list()[1]}
check(sum(sizes.values()) == size, f"LIST {sizes} vs STAT {size}")
for n, uid in uids.items():
    path = os.path.join(MAILDIR, "new", uid)
    stored = open(path, "rb").read()
    check(sizes[n] == len(stored) + stored.count(b"\n"), f"size of {n}")
    top = p.top(n, 0)[1]
    check(top[-1] == b"" and b"".join(l + b"\n" for l in top) == stored.split(b"\n\n")[0] + b"\n\n", f"TOP {n} 0: {top}")
    resp, lines, octets = p.retr(n)
    check(b"\n".join(lines) + b"\n" == stored, f"RETR {n}: {lines}")
    check(octets == sizes[n], f"RETR {n}: {octets} octets, LIST said {sizes[n]}")
p.dele(1)
print(p.quit().decode())
'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == '+OK Bye, 1 deleted' ]]
	[ "$(message_count)" -eq 1 ]
}

@test "Python poplib POP3_SSL against pop3-serve -t; a client that does not trust the certificate gets nothing" {
	printf 'Subject: one\n\nfirst\n' | deliver
	pop3_listen PORT -t
	run pop3_py '
import poplib
p = poplib.POP3_SSL("127.0.0.1", PORT, context=ssl.create_default_context(cafile=os.environ["CERT"]), timeout=30)
check(p.getwelcome() == b"+OK mailpipe POP3 ready", p.getwelcome())
check("STLS" not in p.capa(), "STLS offered under TLS")
p.user("alice@example.test")
p.pass_("secret")
lines = p.retr(1)[1]
check(lines[-1] == b"first", lines)
print(p.quit().decode())
try:
    poplib.POP3_SSL("127.0.0.1", PORT, context=ssl.create_default_context(), timeout=30)
    check(False, "an untrusted certificate was accepted")
except ssl.SSLCertVerificationError:
    pass
'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = '+OK Bye, 0 deleted' ]
}

# ---- the Maildir -----------------------------------------------------------------

@test "DELE then QUIT deletes exactly those files, and only at QUIT" {
	for i in 1 2 3 4; do printf 'Subject: m%s\n\nbody %s\n' $i $i | deliver; done
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.login()
uids = p.uidl()
check(p.cmd("DELE 2") == "+OK message 2 deleted", "DELE 2")
check(p.cmd("DELE 4") == "+OK message 4 deleted", "DELE 4")
check(len(os.listdir(MAILDIR + "/new")) == 4, "deleted before QUIT")
print(uids[1]); print(uids[3])
check(p.cmd("QUIT") == "+OK Bye, 2 deleted", "QUIT")
'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(base_names)" = "$(printf '%s\n' "$output" | sort)" ]
	[ "$(message_count)" -eq 2 ]
}

@test "RETR moves the file from new/ to cur/NAME:2,S (and adds S to other flags); TOP does not" {
	printf 'Subject: one\n\nfirst\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	# a message some other reader flagged (F) and left in cur/
	flagged=1700000000.M1P1Q1.elsewhere
	printf 'Subject: flagged\n\nthird\n' > "$MAILDIR/cur/$flagged:2,F"
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.login()
uids = p.uidl()
by_uid = {u: n for n, u in uids.items()}
first, second = sorted(u for u in uids.values() if "elsewhere" not in u)
p.multi(f"RETR {by_uid[first]}")
p.multi(f"TOP {by_uid[second]} 0")
p.multi(f"RETR {by_uid[sys.argv[1]]}")
check(p.cmd("QUIT") == "+OK Bye, 0 deleted", "QUIT")
print(first); print(second)
' "$flagged"
	echo "$output"
	[ "$status" -eq 0 ]
	first=${lines[0]} second=${lines[1]}
	[ -f "$MAILDIR/cur/$first:2,S" ]
	[ ! -e "$MAILDIR/new/$first" ]
	[ -f "$MAILDIR/new/$second" ]
	[ -f "$MAILDIR/cur/$flagged:2,FS" ]
	[ "$(message_count)" -eq 3 ]
}

@test "STAT, LIST and RETR sizes are the octets sent: LF, CR LF and bare CR files alike" {
	printf 'Subject: one\n\nfirst\n.\n..two\n' | deliver
	printf 'Subject: crlf\r\n\r\nline\r\n.\r\n' > "$MAILDIR/new/1700000001.M1P1Q1.crlf"
	printf 'Subject: mixed\n\r\nbare\rCR\nlf\r\n' > "$MAILDIR/new/1700000002.M1P1Q1.mixed"
	total=0
	for f in "$MAILDIR"/new/*; do total=$((total + $(wire_octets "$f"))); done
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.login()
check(p.cmd("STAT") == "+OK 3 " + sys.argv[1], "STAT")
sizes = {int(l.split()[0]): int(l.split()[1]) for l in p.multi("LIST")[1]}
for n, uid in p.uidl().items():
    stored = open(os.path.join(MAILDIR, "new", uid), "rb").read()
    wire = re.sub(rb"(?<!\r)\n", b"\r\n", stored)
    check(sizes[n] == len(wire), f"LIST {n}: {sizes[n]}, want {len(wire)}")
    check(p.cmd(f"LIST {n}") == f"+OK {n} {len(wire)}", f"LIST {n}")
    first, lines = p.multi(f"RETR {n}")
    check(first == f"+OK {len(wire)} octets", first)
    check(b"".join(lines) == wire, f"RETR {n}: {lines}")
p.cmd("QUIT")
' "$total"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "UIDL is the Maildir base name, the same in the next session after RETR moved the files; a long name gets a short stable UID" {
	printf 'Subject: one\n\nfirst\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	long=1700000000.$(printf 'a%.0s' $(seq 1 100)).example
	printf 'Subject: long\n\nname\n' > "$MAILDIR/new/$long"
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
names = set(os.listdir(MAILDIR + "/new"))
p = Pop()
p.login()
before = p.uidl()
for n in before:
    p.multi(f"RETR {n}")
p.cmd("QUIT")
check(not os.listdir(MAILDIR + "/new"), "RETR left files in new/")
p = Pop()
p.login()
after = p.uidl()
p.cmd("QUIT")
check(sorted(before.values()) == sorted(after.values()), f"{before} != {after}")
short = [u for u in before.values() if u not in names]
check(len(short) == 1, f"UIDs that are not names: {short}")
check(set(before.values()) - set(short) == names - {sys.argv[1]}, "the other UIDs are the names")
check(re.fullmatch(r"[\x21-\x7e]{1,70}", short[0]) is not None, f"UID {short[0]!r}")
' "$long"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "kill -9 of pop3-serve in the middle of RETR of a 20 MiB message: nothing deleted, nothing marked, the lock is gone" {
	printf 'Subject: small\n\nsmall\n' | deliver
	big_message | deliver
	names=$(base_names)
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	EXPECT_DIED='died with code 9'
	run pop3_py '
import subprocess
p = Pop()
p.login()
sizes = {int(l.split()[0]): int(l.split()[1]) for l in p.multi("LIST")[1]}
big = max(sizes, key=sizes.get)
small = min(sizes, key=sizes.get)
check(p.cmd(f"DELE {small}").startswith("+OK"), "DELE")
first = p.cmd(f"RETR {big}")
check(first.startswith("+OK"), first)
got = p.file.read(65536)
check(len(got) == 65536, "the start of the message")
# the pop3-serve processes of this listener (ours is the only live one)
for pid in subprocess.run(["pgrep", "-P", sys.argv[1]], capture_output=True, text=True).stdout.split():
    os.kill(int(pid), 9)
rest = p.until_eof()
check(len(got) + len(rest) < sizes[big], "the whole message came")
check(not (got + rest).endswith(b"\r\n.\r\n"), "a complete reply after kill -9")
print("killed")
' "$P3_LISTEN_PID"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(base_names)" = "$names" ]
	[ "$(ls "$MAILDIR/new" | wc -l)" -eq 2 ]   # the big one not marked read
	mp_wait_until 10 grep -q 'died with code 9' "$MP_DIR/pop3.log"
	# the flock died with the process: the next session logs in
	run pop3_py '
p = Pop()
print(p.login())
p.cmd("QUIT")
'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == '+OK 2 messages ('* ]]
}

@test "a connection dropped after DELE, without QUIT, deletes nothing" {
	printf 'Subject: one\n\nfirst\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	names=$(base_names)
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.login()
check(p.cmd("DELE 1") == "+OK message 1 deleted", "DELE 1")
check(p.cmd("DELE 2") == "+OK message 2 deleted", "DELE 2")
p.sock.close()
'
	[ "$status" -eq 0 ]
	# that session's pop3-serve saw the end of the connection and is gone
	sid=$(sed -n 's/.* sid=\([0-9a-f]*\) .*event=login user=alice@example.test.*/\1/p' "$MP_DIR/pop3.log")
	[ -n "$sid" ]
	mp_wait_until 10 grep -q "sid=$sid .*event=disconnect reason=eof" "$MP_DIR/pop3.log"
	mp_wait_until 10 no_sessions
	[ "$(base_names)" = "$names" ]
	run pop3_py '
p = Pop()
p.login()
print(p.cmd("STAT"))
p.cmd("QUIT")
'
	echo "$output"
	[[ $output == '+OK 2 '* ]]
	! grep -q 'deleted=[1-9]' "$MP_DIR/pop3.log" || false
}

@test "two sessions at once: the second gets -ERR [IN-USE] at PASS, another user is not held up, and after QUIT it logs in" {
	printf 'Subject: one\n\nfirst\n' | deliver
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
a = Pop()
a.login()
b = Pop()
check(b.cmd("USER alice@example.test") == "+OK Send the password", "USER")
reply = b.cmd("PASS secret")
check(reply == "-ERR [IN-USE] The mailbox is open in another session", reply)
# still in the AUTHORIZATION state
check(b.cmd("STAT") == "-ERR STAT is not allowed before login", "STAT after IN-USE")
bob = Pop()
check(bob.login("bob@example.test") == "+OK 0 messages (0 octets)", "bob")
check(a.cmd("STAT").startswith("+OK 1 "), "the first session goes on")
check(a.cmd("QUIT") == "+OK Bye, 0 deleted", "QUIT")
a.until_eof()   # the lock goes with the process
check(b.login().startswith("+OK 1 messages ("), "the second session, again")
c = Pop()
c.cmd("USER alice@example.test")
check(c.cmd("PASS secret").startswith("-ERR [IN-USE]"), "a third while the second holds it")
b.cmd("QUIT")
b.until_eof()
print(c.login())
'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == '+OK 1 messages ('* ]]
}

@test "idle past timeout: -ERR and the connection closed within a bound; the DELE before it deletes nothing" {
	printf 'Subject: one\n\nfirst\n' | deliver
	names=$(base_names)
	mp_conf pop3_plaintext_loopback yes
	mp_conf timeout 2
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.login()
check(p.cmd("DELE 1") == "+OK message 1 deleted", "DELE")
start = time.monotonic()
reply = p.line()
check(reply == "-ERR timeout; goodbye (nothing deleted)", f"{reply}")
check(p.until_eof(10) == b"", "more after the timeout reply")
took = time.monotonic() - start
check(1.5 < took < 10, f"closed after {took:.1f} s")
'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(base_names)" = "$names" ]
	grep -q 'event=timeout user=alice@example.test' "$MP_DIR/pop3.log"
}

@test "memory: RETR of a 20 MiB message keeps pop3-serve's peak RSS small" {
	[ "${MP_SANITIZE:-0}" != 1 ] || skip "AddressSanitizer changes the memory use"
	[ -x /usr/bin/time ] || skip "needs /usr/bin/time (Debian: time)"
	big_message | deliver
	file=$(mp_only_file alice)
	want=$(wire_octets "$file")
	[ "$want" -gt 20000000 ]
	mp_conf pop3_plaintext_loopback yes
	P3_WRAP=(/usr/bin/time -a -o "$MP_DIR/rss" -f %M)
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.login()
first, lines = p.multi("RETR 1")
check(first == "+OK " + sys.argv[1] + " octets", first)
check(sum(map(len, lines)) == int(sys.argv[1]), "the whole message")
p.cmd("QUIT")
p.until_eof()
' "$want"
	echo "$output"
	[ "$status" -eq 0 ]
	# the probe connection of pop3_listen wrote the file first; the RETR
	# session's line is the last one
	mp_wait_until 10 test "$(grep -c . "$MP_DIR/rss" 2>/dev/null)" -ge 2
	kib=$(tail -n 1 "$MP_DIR/rss")
	echo "peak RSS $kib KiB"
	[ "$kib" -lt 12288 ]
}

# ---- what pop3-serve must also get right ---------------------------------------

@test "a client that stops reading in the middle of RETR is dropped after the timeout, and the mailbox freed" {
	big_message | deliver
	mp_conf pop3_plaintext_loopback yes
	mp_conf timeout 2
	pop3_listen PORT
	run pop3_py '
import subprocess
p = Pop()
p.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
p.login()
p.send("RETR 1")
# read nothing more; the server blocks writing
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    if not subprocess.run(["pgrep", "-P", sys.argv[1]], capture_output=True).stdout:
        break
    time.sleep(0.1)
else:
    check(False, "pop3-serve still there 15 s after the client stopped reading (timeout 2)")
q = Pop()
q.cmd("USER alice@example.test")
reply = q.cmd("PASS secret")
check(reply.startswith("+OK"), f"the mailbox is still held: {reply}")
' "$P3_LISTEN_PID"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a message another Maildir reader marked read during the session (new/ to cur/) is still deleted at QUIT" {
	printf 'Subject: one\n\nfirst\n' | deliver
	printf 'Subject: two\n\nsecond\n' | deliver
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	# the webmail (cgi-bin/inbox) or Dovecot do this when the user reads it
	run pop3_py '
p = Pop()
p.login()
uid = p.uidl()[2]
os.rename(f"{MAILDIR}/new/{uid}", f"{MAILDIR}/cur/{uid}:2,S")
check(p.cmd("DELE 2") == "+OK message 2 deleted", "DELE 2")
print(p.cmd("QUIT"))
print(uid)
'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == '+OK Bye, 1 deleted' ]]
	! base_names | grep -qxF "${lines[1]}" || { echo "QUIT said deleted, but ${lines[1]} is still there"; false; }
	[ "$(message_count)" -eq 1 ]
}

@test "a message another Maildir reader marked read during the session (new/ to cur/) can still be retrieved" {
	printf 'Subject: one\n\nfirst\n' | deliver
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.login()
uid = p.uidl()[1]
os.rename(f"{MAILDIR}/new/{uid}", f"{MAILDIR}/cur/{uid}:2,S")
first, lines = p.multi("RETR 1")
check(lines[-1] == b"first\r\n", f"RETR 1: {first} {lines}")
check(p.cmd("QUIT") == "+OK Bye, 0 deleted", "QUIT")
'
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "messages are numbered oldest first, also within one second (M99999 before M100000)" {
	mkdir -p "$MAILDIR"/{cur,new,tmp}
	printf 'Subject: older\n\nx\n' > "$MAILDIR/new/1700000000.M99999P1Q0.mx.example.test,S=18"
	printf 'Subject: newer\n\nx\n' > "$MAILDIR/new/1700000000.M100000P2Q0.mx.example.test,S=18"
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.login()
print(p.uidl()[1])
p.cmd("QUIT")
'
	echo "$output"
	[ "$output" = '1700000000.M99999P1Q0.mx.example.test,S=18' ]
}

@test "a file without a line end at its end: LIST gives the octets RETR sends" {
	mkdir -p "$MAILDIR"/{cur,new,tmp}
	printf 'Subject: unterminated\n\nno line end here' > "$MAILDIR/new/1700000000.M1P1Q1.elsewhere"
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.login()
size = int(p.cmd("LIST 1").split()[2])
first, lines = p.multi("RETR 1")
sent = sum(map(len, lines))
check(size == sent, f"LIST says {size} octets, RETR sent {sent}")
p.cmd("QUIT")
'
	echo "$output"
	[ "$status" -eq 0 ]
}

# ---- the program ---------------------------------------------------------------

@test "pop3-serve -h prints the usage; a bad option or an operand exits 64 without a word to the client" {
	run "$BIN/pop3-serve" -h
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == 'usage: pop3-serve [-t]' ]]
	run "$BIN/pop3-serve" -x </dev/null
	[ "$status" -eq 64 ]
	[[ $output == *'unknown option -x'* ]]
	[ "$("$BIN/pop3-serve" -x 2>/dev/null </dev/null)" = '' ]
	run "$BIN/pop3-serve" extra </dev/null
	[ "$status" -eq 64 ]
	[ "${#lines[@]}" -eq 1 ]
}

@test "the log has the logins and failures, never a password" {
	printf 'Subject: one\n\nfirst\n' | deliver
	mp_conf pop3_plaintext_loopback yes
	pop3_listen PORT
	run pop3_py '
p = Pop()
p.cmd("USER alice@example.test")
check(p.cmd("PASS Wr0ng-Pa55word").startswith("-ERR [AUTH]"), "a wrong password")
p.login()
p.cmd("QUIT")
'
	[ "$status" -eq 0 ]
	grep -q 'prog=pop3-serve .*client=127.0.0.1 event=auth-failed user=alice@example.test' "$MP_DIR/pop3.log"
	grep -q 'event=login user=alice@example.test messages=1' "$MP_DIR/pop3.log"
	grep -q 'event=logout user=alice@example.test deleted=0' "$MP_DIR/pop3.log"
	! grep -e Wr0ng-Pa55word -e secret "$MP_DIR/pop3.log" || false
}

@test "every reply of pop3-serve is in pop3-serve(8), word for word" {
	# the string literals in each reply(p, ...) call, up to the first %
	# (the ?: alternatives included); the page without its \& escapes
	run "$PY" -c '
import re, sys
src = open(sys.argv[1]).read()
page = open(sys.argv[2]).read().replace("\\&", "")
missing = []
for call in re.findall(r"\breply\(p,((?:[^;]|\"[^\"]*\")*?)\);", src):
    for literal in re.findall(r"\"((?:[^\"\\\\]|\\\\.)*)\"", call):
        text = literal.split("%")[0].strip()
        if len(text) > 1 and text not in page:
            missing.append(text)
print("\n".join(missing))
sys.exit(1 if missing else 0)
' "$TOP/src/pop3-serve.c" "$TOP/man/pop3-serve.8"
	echo "$output"
	[ "$status" -eq 0 ]
}
