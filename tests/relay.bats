#!/usr/bin/env bats
# tests/relay.bats - smtp-relay delivering the queue: to a second mailpipe
# (routes both ways, submission in, MX mode out), over CHUNKING byte-exact,
# to peers nobody here wrote (aiosmtpd: tools/sink.py) that answer 4xx and
# 5xx on command, with bounces parsed by Python's email package as RFC 3464,
# the queue listing, claims that keep two runs apart, kill -9 during a run,
# and the configuration errors of routes and secrets.
#
# Needs (Debian 12): bats, python3 with python3-aiosmtpd, swaks, openssl,
# sqlite3, systemd (systemd-socket-activate).

setup() {
	load lib
	load relay-lib
	load sink-lib
	mp_setup
	TOOLS=$BATS_TEST_DIRNAME/tools
	mp_conf timeout 10
}

teardown() {
	sink_teardown
	mp_teardown
	relay_teardown
}

# ---- helpers ----------------------------------------------------------------

route() {
	echo "$1" >> "$MAILPIPE_CONF/routes"
}

# instance NAME DOMAIN USER: a second configuration in $MP_DIR/NAME, with
# DOMAIN local and USER@DOMAIN (password "secret"); prints nothing.
instance() {
	local dir=$MP_DIR/$1
	mkdir -p "$dir/conf" "$dir/state"
	printf 'hostname mx.%s\nstate %s\ntimeout 10\n' "$2" "$dir/state" > "$dir/conf/mailpipe.conf"
	echo "$2" > "$dir/conf/domains"
	printf '%s@%s:%s\n' "$3" "$2" "$(openssl passwd -6 -salt mailpipe secret)" > "$dir/conf/users"
	echo '# only AUTH relays' > "$dir/conf/relay-clients"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=mx.$2" -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
	printf 'tls_cert %s\ntls_key %s\n' "$dir/cert.pem" "$dir/key.pem" >> "$dir/conf/mailpipe.conf"
}

# listen_as NAME [smtp-recv args]: mp_listen for instance NAME; sets MP_PORT.
listen_as() {
	local name=$1; shift
	MAILPIPE_CONF=$MP_DIR/$name/conf mp_listen "$@"
}

# a message of LINES lines (the seed makes every message different)
message() {
	printf 'From: alice@example.test\nTo: bob@b.test\nSubject: %s\nMessage-ID: <%s@example.test>\n\n' "$1" "$1"
	$PY -c 'import sys
for i in range(int(sys.argv[1])): print("line %d of %s ." % (i, sys.argv[2]))' "${2:-3}" "$1"
}

# ---- two mailpipe systems ----------------------------------------------------------

@test "two mailpipes: alice@a.test writes to bob@b.test through submission, bob's reply comes back" {
	instance a a.test alice
	instance b b.test bob
	listen_as a -s; A_SUB=$MP_PORT
	listen_as a;    A_MX=$MP_PORT
	listen_as b -s; B_SUB=$MP_PORT
	listen_as b;    B_MX=$MP_PORT
	echo "b.test 127.0.0.1:$B_MX" > "$MP_DIR/a/conf/routes"
	echo "a.test 127.0.0.1:$A_MX" > "$MP_DIR/b/conf/routes"

	run swaks --server "127.0.0.1:$A_SUB" --tls --auth PLAIN --auth-user alice@a.test \
		--auth-password secret --from alice@a.test --to bob@b.test \
		--header 'Subject: hello from a' --body 'Is this thing on?'
	[ "$status" -eq 0 ]
	MAILPIPE_CONF=$MP_DIR/a/conf run "$BIN/smtp-relay"
	echo "$output"
	[ "$status" -eq 0 ]
	got=$(ls "$MP_DIR"/b/state/mailboxes/b.test/bob/new/*)
	grep -qx 'Subject: hello from a' "$got"
	grep -qx 'Is this thing on?' "$got"
	grep -qx 'Return-Path: <alice@a.test>' "$got"
	# b received it in MX mode, from a's relay, which says EHLO mx.a.test
	grep -q '^Received: from mx\.a\.test' "$got"
	[ "$(MAILPIPE_CONF=$MP_DIR/a/conf "$BIN/smtp-relay" -l)" = "Mail queue is empty" ]

	run swaks --server "127.0.0.1:$B_SUB" --tls --auth PLAIN --auth-user bob@b.test \
		--auth-password secret --from bob@b.test --to alice@a.test \
		--header 'Subject: Re: hello from a' --body 'Loud and clear.'
	[ "$status" -eq 0 ]
	MAILPIPE_CONF=$MP_DIR/b/conf run "$BIN/smtp-relay"
	[ "$status" -eq 0 ]
	back=$(ls "$MP_DIR"/a/state/mailboxes/a.test/alice/new/*)
	grep -qx 'Subject: Re: hello from a' "$back"
	grep -qx 'Loud and clear.' "$back"
	# the relay used STARTTLS (b's certificate is self-signed: opportunistic)
	grep -q 'with ESMTPS' "$back"
}

@test "a 2 MiB message goes over CHUNKING (BDAT) and arrives byte-exact" {
	instance b b.test bob
	listen_as b
	route "b.test 127.0.0.1:$MP_PORT"
	big_message 7 > "$MP_DIR/big.eml"
	size=$(stat -c %s "$MP_DIR/big.eml")
	[ "$size" -gt 2000000 ]
	queue alice@example.test bob@b.test < "$MP_DIR/big.eml"
	run "$BIN/smtp-relay" -v
	[ "$status" -eq 0 ]
	[ "$(grep -Ec '>>> BDAT [0-9]+$' <<<"$output")" -ge 30 ]
	grep -q '>>> BDAT 0 LAST' <<<"$output"
	! grep -q '>>> DATA' <<<"$output" || false
	got=$(ls "$MP_DIR"/b/state/mailboxes/b.test/bob/new/*)
	# what arrived is our file after b's own trace headers
	cmp <(tail -c "$size" "$got") "$MP_DIR/big.eml"
}

@test "a dot at the start of a line survives DATA (dot-stuffing) to a server without CHUNKING" {
	sink "$MP_DIR/sink"
	route "b.test 127.0.0.1:$SINK_PORT"
	printf 'Subject: dots\n\n.\n..\n.leading\nmiddle . dot\n' | queue alice@example.test bob@b.test
	run relay -v
	[ "$status" -eq 0 ]
	[ "$(sink_count "$MP_DIR/sink")" -eq 1 ]
	# the sink keeps what it received, un-stuffed, with CRLF
	printf 'Subject: dots\r\n\r\n.\r\n..\r\n.leading\r\nmiddle . dot\r\n' | cmp - "$MP_DIR"/sink/*.eml
}

@test "a stray CR from a local program never reaches the wire: <CR>.<CR> and commands after it arrive as one line (no smuggling)" {
	sink "$MP_DIR/sink"
	route "b.test 127.0.0.1:$SINK_PORT"
	printf 'Subject: cr\n\nhello\r.\r\nMAIL FROM:<ceo@bank.test>\r\nRCPT TO:<victim@b.test>\r\nDATA\r\nend\r' |
		queue alice@example.test bob@b.test
	run relay
	[ "$status" -eq 0 ]
	[ "$(sink_count "$MP_DIR/sink")" -eq 1 ]
	[ "$(env_field "$MP_DIR/sink/1.env" rcpt_tos)" = "['bob@b.test']" ]
	printf 'Subject: cr\r\n\r\nhello .\r\nMAIL FROM:<ceo@bank.test>\r\nRCPT TO:<victim@b.test>\r\nDATA\r\nend \r\n' |
		cmp - "$MP_DIR"/sink/1.eml
}

@test "recipients of one routed domain in any case (b.test, B.TEST) go in one transaction: one copy, three RCPTs" {
	sink "$MP_DIR/sink"
	route "b.test 127.0.0.1:$SINK_PORT"
	message cases | queue alice@example.test bob@b.test carol@B.TEST dave@b.Test
	run relay
	[ "$status" -eq 0 ]
	[ "$(sink_count "$MP_DIR/sink")" -eq 1 ]
	[ "$(env_field "$MP_DIR/sink/1.env" rcpt_tos)" = "['bob@b.test', 'carol@B.TEST', 'dave@b.Test']" ]
	[ "$(db "select count(*) from recipients where kind='remote' and status='delivered'")" -eq 3 ]
}

@test "lines over 998 octets are broken with CRLF SPACE (RFC 5321 4.5.3.1.6) over DATA and BDAT; SIZE= counts the breaks" {
	sink "$MP_DIR/sink"
	route "b.test 127.0.0.1:$SINK_PORT"
	$PY -c 'import sys; sys.stdout.write("X-Long: " + "h" * 2500 + "\nSubject: long\n\n" + "b" * 3000 + "\n" + "c" * 998 + "\n.\n")' |
		queue alice@example.test bob@b.test
	run relay
	[ "$status" -eq 0 ]
	[ "$(sink_count "$MP_DIR/sink")" -eq 1 ]
	local f=$MP_DIR/sink/1.eml
	# every line fits, and undoing the breaks gives the message back
	[ "$(awk '{ if (length($0) > 999) n++ } END { print n + 0 }' "$f")" -eq 0 ]
	cmp <($PY -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.stdout.buffer.write(d.replace(b"\r\n ", b"").replace(b"\r\n", b"\n"))' "$f") \
		<($PY -c 'import sys; sys.stdout.write("X-Long: " + "h" * 2500 + "\nSubject: long\n\n" + "b" * 3000 + "\n" + "c" * 998 + "\n.\n")')
	# a line of exactly 998 is not broken
	grep -qx "$(printf 'c%.0s' $(seq 1 998))"$'\r' "$f"
	[[ "$(env_field "$MP_DIR/sink/1.env" mail_options)" == *"'SIZE=$(stat -c %s "$f")'"* ]]

	# over BDAT to a second mailpipe: it takes the broken lines (none over
	# its limits), and unfolding its copy gives the message back
	instance b b.test bob
	listen_as b
	echo "b.test 127.0.0.1:$MP_PORT" > "$MAILPIPE_CONF/routes"
	$PY -c 'import sys; sys.stdout.write("X-Long: " + "h" * 2500 + "\nSubject: long\n\n" + "b" * 3000 + "\n")' |
		queue alice@example.test bob@b.test
	run "$BIN/smtp-relay" -v
	[ "$status" -eq 0 ]
	grep -q '>>> BDAT [0-9]* LAST\|>>> BDAT 0 LAST' <<<"$output"
	local got
	got=$(ls "$MP_DIR"/b/state/mailboxes/b.test/bob/new/*)
	[ "$(awk '{ if (length($0) > 998) n++ } END { print n + 0 }' "$got")" -eq 0 ]
	grep -q "^X-Long: $(printf 'h%.0s' $(seq 1 990))" "$got"
	[ "$(sed '1,/^$/d' "$got" | tr -d '\n ')" = "$(printf 'b%.0s' $(seq 1 3000))" ]
}

# ---- retries and bounces -----------------------------------------------------------

@test "a refused recipient whose report can never be stored (a sender of ours that does not exist) is bounced once, not offered again" {
	printf 'rcpt dave@b.test 550 5.1.1 no such user\n' > "$MP_DIR/script"
	sink "$MP_DIR/sink" --script "$MP_DIR/script"
	route "b.test 127.0.0.1:$SINK_PORT"
	message forged | queue ghost@example.test dave@b.test
	relay
	grep -q 'event=report-failed id=1 to=ghost@example.test kind=failure store_exit=67 retry=no' "$MP_DIR/relay.log"
	grep -q 'event=bounced id=1 from=ghost@example.test rcpt=dave@b.test ' "$MP_DIR/relay.log"
	[ "$(db "select status || ' ' || attempts from recipients where kind='remote'")" = "bounced 1" ]
	# nothing left to try: no second attempt, nothing listed
	relay -f
	[ "$(grep -c 'rcpt=dave@b.test' "$MP_DIR/relay.log")" -eq 1 ]
	[ "$(db "select attempts from recipients where kind='remote'")" -eq 1 ]
	run relay -l
	[[ $output != *dave@b.test* ]]
}

@test "a peer that answers 451 twice then 250: delivered once on the third try, attempts recorded" {
	printf 'data 451 4.3.0 try later\ndata 451 4.3.0 try later\n' > "$MP_DIR/script"
	sink "$MP_DIR/sink" --script "$MP_DIR/script"
	route "b.test 127.0.0.1:$SINK_PORT"
	message retry | queue alice@example.test bob@b.test
	relay
	[ "$(db "select status, attempts, last_reply from recipients where kind='remote'")" = "pending|1|451 4.3.0 try later" ]
	# the next try is a minute after the first, two after the second
	[ "$(db "select next_try - (select time from messages) between 55 and 65 from recipients where kind='remote'")" = 1 ]
	relay -f
	[ "$(db "select next_try - strftime('%s','now') between 110 and 125 from recipients where kind='remote'")" = 1 ]
	[ "$(db "select status, attempts from recipients where kind='remote'")" = "pending|2" ]
	relay   # not due yet: nothing is sent
	[ "$(cat "$MP_DIR/sink/attempts")" = 2 ]
	relay -f
	[ "$(db "select status, attempts, last_reply from recipients where kind='remote'")" = "delivered|3|250 2.0.0 OK queued as 1" ]
	[ "$(sink_count "$MP_DIR/sink")" -eq 1 ]
	[ "$(ls "$MP_STATE/queue" | wc -l)" -eq 0 ]
	grep -q 'event=deferred id=1 .*attempts=2 reply="451 4.3.0 try later"' "$MP_DIR/relay.log"
	grep -q 'event=delivered id=1 .*rcpt=bob@b.test .*attempts=3' "$MP_DIR/relay.log"
}

# parse_dsn FILE: Python's email package reads the report; prints what a
# test compares, one fact a line.
parse_dsn() {
	$PY - "$1" <<'PY'
import email, sys
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], "rb"), policy=policy.default)
print("type", msg.get_content_type(), msg.get_param("report-type"))
print("from", msg["From"])
print("to", msg["To"])
print("auto", msg["Auto-Submitted"])
parts = list(msg.iter_parts())
print("parts", " ".join(p.get_content_type() for p in parts))
status = parts[1]
blocks = status.get_payload()          # message/delivery-status: a list of header blocks
print("reporting", blocks[0]["Reporting-MTA"])
for b in blocks[1:]:
    print("rcpt", b["Final-Recipient"], "|", b["Action"], "|", b["Status"], "|", b["Diagnostic-Code"])
print("orig-subject", parts[2].get_payload().split("Subject: ")[1].split("\n")[0])
PY
}

@test "a 550 for one of two recipients: one delivered, one RFC 3464 bounce to the sender" {
	echo 'rcpt carol@b.test 550 5.1.1 <carol@b.test>: no such user' > "$MP_DIR/script"
	sink "$MP_DIR/sink" --script "$MP_DIR/script"
	route "b.test 127.0.0.1:$SINK_PORT"
	message two-rcpts | queue alice@example.test bob@b.test carol@b.test
	run relay
	[ "$status" -eq 0 ]
	[ "$(sink_count "$MP_DIR/sink")" -eq 1 ]
	[ "$(env_field "$MP_DIR"/sink/1.env rcpt_tos)" = "['bob@b.test']" ]
	[ "$(db "select address, status from recipients where kind='remote' order by address")" = "bob@b.test|delivered
carol@b.test|bounced" ]
	bounce=$(mp_only_file alice)
	grep -qx 'Return-Path: <>' "$bounce"
	run parse_dsn "$bounce"
	echo "$output"
	[ "${lines[0]}" = "type multipart/report delivery-status" ]
	[ "${lines[1]}" = "from Mail Delivery System <MAILER-DAEMON@mx.example.test>" ]
	[ "${lines[2]}" = "to alice@example.test" ]
	[ "${lines[3]}" = "auto auto-replied" ]
	[ "${lines[4]}" = "parts text/plain message/delivery-status text/rfc822-headers" ]
	[ "${lines[5]}" = "reporting dns; mx.example.test" ]
	[ "${lines[6]}" = "rcpt rfc822; carol@b.test | failed | 5.1.1 | smtp; 550 5.1.1 <carol@b.test>: no such user" ]
	[ "${lines[7]}" = "orig-subject two-rcpts" ]
	[ "${#lines[@]}" -eq 8 ]
	grep -q 'event=bounced id=1 .*rcpt=carol@b.test' "$MP_DIR/relay.log"
	grep -q 'event=report-sent id=1 to=alice@example.test kind=failure report=2' "$MP_DIR/relay.log"
}

@test "queue_lifetime: a recipient still deferred when it runs out bounces with 4.4.7" {
	echo 'rcpt bob@b.test 451 4.3.0 try later' > "$MP_DIR/script"
	sink "$MP_DIR/sink" --script "$MP_DIR/script"
	route "b.test 127.0.0.1:$SINK_PORT"
	mp_conf queue_lifetime 2d
	message expiring | queue alice@example.test bob@b.test
	relay
	[ "$(db "select status from recipients where kind='remote'")" = pending ]
	# the message arrived three days ago
	db "update messages set time = time - 3 * 86400"
	relay -f
	[ "$(db "select status from recipients where kind='remote'")" = bounced ]
	run parse_dsn "$(mp_only_file alice)"
	echo "$output"
	[[ "${lines[6]}" == "rcpt rfc822; bob@b.test | failed | 4.4.7 | "*"queue_lifetime reached after 2 attempts; last: 451 4.3.0 try later" ]]
}

@test "a message from the null sender that fails is not bounced (no report on a report)" {
	echo 'rcpt bob@b.test 550 5.1.1 no such user' > "$MP_DIR/script"
	sink "$MP_DIR/sink" --script "$MP_DIR/script"
	route "b.test 127.0.0.1:$SINK_PORT"
	message from-null | queue '<>' bob@b.test
	relay
	[ "$(db "select status from recipients where kind='remote'")" = bounced ]
	[ "$(db "select count(*) from messages")" -eq 1 ]
	[ "$(count_files "$MP_STATE/mailboxes")" -eq 0 ]
	[ "$(ls "$MP_STATE/queue" | wc -l)" -eq 0 ]
}

@test "8-bit mail to a server without 8BITMIME bounces with 5.6.3 instead of being mangled" {
	sink "$MP_DIR/sink" --no-8bitmime
	route "b.test 127.0.0.1:$SINK_PORT"
	printf 'Subject: cafe\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nd\xc3\xa9j\xc3\xa0 vu\n' |
		queue alice@example.test bob@b.test
	relay
	[ "$(sink_count "$MP_DIR/sink")" -eq 0 ]
	[ "$(db "select status from recipients where kind='remote'")" = bounced ]
	grep -q 'Status: 5.6.3' "$(mp_only_file alice)"
}

@test "a UTF-8 address to a server without SMTPUTF8 bounces with 5.6.7; with it, MAIL says SMTPUTF8" {
	sink "$MP_DIR/plain" --no-smtputf8
	route "b.test 127.0.0.1:$SINK_PORT"
	printf 'Subject: hi\n\nbody\n' | queue alice@example.test $'j\xc3\xb8rn@b.test'
	relay
	[ "$(sink_count "$MP_DIR/plain")" -eq 0 ]
	grep -q 'Status: 5.6.7' "$(mp_only_file alice)"
	sink "$MP_DIR/utf8"
	echo "b.test 127.0.0.1:$SINK_PORT" > "$MAILPIPE_CONF/routes"
	printf 'Subject: hi\n\nbody\n' | queue alice@example.test $'j\xc3\xb8rn@b.test'
	relay
	[ "$(sink_count "$MP_DIR/utf8")" -eq 1 ]
	[[ "$(env_field "$MP_DIR"/utf8/1.env mail_options)" == *SMTPUTF8* ]]
}

@test "a route to a host name that does not resolve defers (4.4.4) instead of bouncing" {
	route "b.test no-such-host.invalid:2525"
	message typo | queue alice@example.test bob@b.test
	relay
	[[ "$(db "select status || ' ' || last_reply from recipients where kind='remote'")" == "pending 451 4.4.4 host no-such-host.invalid not found" ]]
	[ "$(count_files "$MP_STATE/mailboxes")" -eq 0 ]
}

# ---- the listing -------------------------------------------------------------------

@test "smtp-relay -l lists one line per queued recipient, like postqueue -p" {
	run "$BIN/smtp-relay" -l
	[ "$status" -eq 0 ]
	[ "$output" = "Mail queue is empty" ]
	route "b.test 127.0.0.1:$(mp_free_port)"   # nobody listens: connection refused
	message listed | queue alice@example.test bob@b.test carol@b.test
	message second | queue bob@example.test dave@b.test
	relay
	run "$BIN/smtp-relay" -l
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^ID\ +AGE\ +TRIES\ +NEXT\ TRY\ +RECIPIENT\ +LAST\ REPLY$ ]]
	[[ "${lines[1]}" =~ ^1\ +[0-9]+s\ +1\ +in\ [0-9]+s\ +bob@b.test\ +451\ 4\.4\.1\ cannot\ connect\ to\ 127\.0\.0\.1\ port\ [0-9]+:\ Connection\ refused$ ]]
	[[ "${lines[2]}" =~ ^1\ .*carol@b.test ]]
	[[ "${lines[3]}" =~ ^2\ .*dave@b.test ]]
	[ "${lines[4]}" = "-- 3 recipients in 2 messages, 1 KiB" ]
}

# ---- two runs, and kill -9 ---------------------------------------------------------

@test "two smtp-relay runs at once never send a recipient twice" {
	sink "$MP_DIR/sink"
	route "b.test 127.0.0.1:$SINK_PORT"
	for i in $(seq 1 60); do
		message "m$i" | queue alice@example.test bob@b.test
	done
	relay -j 4 & p1=$!
	relay -j 4 & p2=$!
	wait $p1; wait $p2
	[ "$(sink_count "$MP_DIR/sink")" -eq 60 ]
	# every Message-ID once
	[ "$(grep -h '^Message-ID:' "$MP_DIR"/sink/*.eml | sort -u | wc -l)" -eq 60 ]
	[ "$(db "select count(*) from recipients where status='delivered' and kind='remote'")" -eq 60 ]
}

@test "kill -9 of smtp-relay at random during 200 messages: none lost, duplicates counted" {
	sink "$MP_DIR/sink"
	route "b.test 127.0.0.1:$SINK_PORT"
	for i in $(seq 1 200); do
		message "k$i" | queue alice@example.test bob@b.test
	done
	# each round kills the whole run (workers too) at a random point:
	# after 1 to 40 more messages reached the sink
	kills=$($PY - "$BIN/smtp-relay" "$MP_DIR/sink/attempts" "$MP_DIR/relay.log" <<'PY'
import os, random, signal, subprocess, sys, time
relay, attempts, log = sys.argv[1:4]
def count():
    try:
        return int(open(attempts).read() or 0)
    except (FileNotFoundError, ValueError):
        return 0
kills = 0
for _ in range(15):
    target = count() + random.randint(1, 40)
    with open(log, "a") as err:
        p = subprocess.Popen([relay, "-j", "4"], stderr=err, start_new_session=True)
    deadline = time.monotonic() + 20
    while p.poll() is None and count() < target and time.monotonic() < deadline:
        time.sleep(0.001)
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        kills += 1
    p.wait()
print(kills)
PY
)
	relay   # the killed runs' claims are taken over at once
	ids=$(grep -h '^Message-ID:' "$MP_DIR"/sink/*.eml | sort)
	unique=$(uniq <<<"$ids" | wc -l)
	total=$(wc -l <<<"$ids")
	echo "# kill -9: $kills runs killed, 200 messages, $unique delivered, $((total - unique)) duplicates" >&3
	[ "$unique" -eq 200 ]
	[ "$(db "select count(*) from recipients where kind='remote' and status!='delivered'")" -eq 0 ]
	[ "$(ls "$MP_STATE/queue" | wc -l)" -eq 0 ]
}

# ---- configuration -----------------------------------------------------------------

@test "routes and secrets: every mistake exits 78 naming the file and line" {
	check() {   # check EXPECTED-ERROR-PATTERN
		run "$BIN/smtp-relay"
		echo "$output"
		[ "$status" -eq 78 ]
		grep -Eq "$1" <<<"$output"
	}
	echo 'b.test' > "$MAILPIPE_CONF/routes"
	check "routes:1: expected"
	printf '# comment\nb.test host.test:99999\n' > "$MAILPIPE_CONF/routes"
	check "routes:2: bad port"
	echo 'b.test host.test colour=blue' > "$MAILPIPE_CONF/routes"
	check 'routes:1: unknown route option "colour"'
	echo 'b.test host.test tls=maybe' > "$MAILPIPE_CONF/routes"
	check 'routes:1: tls=maybe'
	printf 'b.test h1.test\nB.TEST h2.test\n' > "$MAILPIPE_CONF/routes"
	check 'routes:2: second route for b.test'
	echo '* smart.test auth=relayuser' > "$MAILPIPE_CONF/routes"
	check 'routes:1: auth=relayuser but no "smart.test relayuser ..." line in secrets'
	echo 'smart.test relayuser pass word' > "$MAILPIPE_CONF/secrets"
	chmod 644 "$MAILPIPE_CONF/secrets"
	check 'secrets:0: mode 644, must be 0600'
	chmod 600 "$MAILPIPE_CONF/secrets"
	run "$BIN/smtp-relay"
	[ "$status" -eq 0 ]
}

@test "bad arguments exit 64 with one line; -h prints the usage" {
	run "$BIN/smtp-relay" -x
	[ "$status" -eq 64 ]
	[ "${#lines[@]}" -eq 1 ]
	run "$BIN/smtp-relay" -j 0
	[ "$status" -eq 64 ]
	run "$BIN/smtp-relay" extra
	[ "$status" -eq 64 ]
	run "$BIN/smtp-relay" -h
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: smtp-relay"* ]]
}

# ---- TLS ---------------------------------------------------------------------------

@test "tls=required to a server without STARTTLS defers (4.7.4) and sends nothing" {
	sink "$MP_DIR/sink"
	route "b.test 127.0.0.1:$SINK_PORT tls=required"
	message needs-tls | queue alice@example.test bob@b.test
	relay
	[ "$(sink_count "$MP_DIR/sink")" -eq 0 ]
	[[ "$(db "select status || ' ' || last_reply from recipients where kind='remote'")" == "pending 451 4.7.4 "*"does not offer STARTTLS"* ]]
}

# refusing_server PORT DIR [cut]: offers STARTTLS, refuses it with 454
# 4.7.0 (or, with cut, says 220 and hangs up: the handshake fails), and
# takes messages in clear; the dialogue is saved in DIR/dialogue.
refusing_server() {
	mkdir -p "$2"
	$PY - "$1" "$2" "${3:-refuse}" <<-'PY' &
	import socket, sys
	s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(5)
	log = open(sys.argv[2] + "/dialogue", "a", buffering=1)
	def serve(c):
	    f = c.makefile("rb")
	    c.sendall(b"220 refusing ESMTP\r\n")
	    data = False
	    for line in f:
	        text = line.decode("latin-1").rstrip("\r\n")
	        if data:
	            if text == ".":
	                data = False; log.write("message\n"); c.sendall(b"250 2.0.0 taken\r\n")
	            continue
	        log.write(text + "\n")
	        verb = text[:4].upper()
	        if verb == "EHLO":
	            c.sendall(b"250-refusing\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
	        elif verb == "STAR" and sys.argv[3] == "cut":
	            c.sendall(b"220 2.0.0 go ahead\r\n"); return
	        elif verb == "STAR":
	            c.sendall(b"454 4.7.0 TLS not available due to local problem\r\n")
	        elif verb == "DATA":
	            data = True; c.sendall(b"354 go on\r\n")
	        elif verb == "QUIT":
	            c.sendall(b"221 2.0.0 bye\r\n"); break
	        else:
	            c.sendall(b"250 2.0.0 ok\r\n")
	while True:
	    c, _ = s.accept()
	    try:
	        serve(c)
	    except OSError:
	        pass   # the test's port probe connects and hangs up at once
	    c.close()
	PY
	MP_PIDS+=($!)
	mp_wait_until 10 mp_port_open "$1"
}

@test "a server that offers STARTTLS and refuses it (454) gets the mail in clear under opportunistic TLS; tls=required defers" {
	local port
	port=$(mp_free_port)
	refusing_server "$port" "$MP_DIR/srv"
	route "b.test 127.0.0.1:$port tls=required"
	message refused-tls | queue alice@example.test bob@b.test
	relay
	[[ "$(db "select status || ' ' || last_reply from recipients where kind='remote'")" == "pending 454 4.7.0 TLS not available"* ]]
	! grep -qx message "$MP_DIR/srv/dialogue" || false
	# the default, opportunistic: on in clear on the same connection
	echo "b.test 127.0.0.1:$port" > "$MAILPIPE_CONF/routes"
	: > "$MP_DIR/srv/dialogue"
	relay -f
	[ "$(db "select status from recipients where kind='remote'")" = delivered ]
	[ "$(grep -c '^EHLO ' "$MP_DIR/srv/dialogue")" -eq 1 ]
	grep -qx STARTTLS "$MP_DIR/srv/dialogue"
	grep -q '^MAIL FROM:<alice@example.test>' "$MP_DIR/srv/dialogue"
	[ "$(grep -cx message "$MP_DIR/srv/dialogue")" -eq 1 ]
}

@test "a TLS handshake the server cuts off: opportunistic TLS connects once more and sends in clear" {
	local port
	port=$(mp_free_port)
	refusing_server "$port" "$MP_DIR/srv" cut
	route "b.test 127.0.0.1:$port"
	message cut-tls | queue alice@example.test bob@b.test
	relay
	[ "$(db "select status from recipients where kind='remote'")" = delivered ]
	# two connections: STARTTLS on the first, none on the second
	[ "$(grep -c '^EHLO ' "$MP_DIR/srv/dialogue")" -eq 2 ]
	[ "$(grep -c '^STARTTLS$' "$MP_DIR/srv/dialogue")" -eq 1 ]
	[ "$(grep -cx message "$MP_DIR/srv/dialogue")" -eq 1 ]
}

@test "tls=verify fails closed on an untrusted or misnamed certificate, delivers with the right ca= and name" {
	instance b b.test bob
	# b's certificate names localhost, so a route can name b correctly
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=localhost -addext subjectAltName=DNS:localhost \
		-keyout "$MP_DIR/b/key.pem" -out "$MP_DIR/b/cert.pem" 2>/dev/null
	listen_as b
	route "b.test localhost:$MP_PORT tls=verify"
	message verify | queue alice@example.test bob@b.test
	relay
	[[ "$(db "select last_reply from recipients where kind='remote'")" == "451 4.7.5 "*"certificate not trusted"* ]]
	[ "$(count_files "$MP_DIR/b/state/mailboxes")" -eq 0 ]
	# trusting the certificate is not enough: the name must match too
	echo "b.test 127.0.0.1:$MP_PORT tls=verify ca=$MP_DIR/b/cert.pem" > "$MAILPIPE_CONF/routes"
	relay -f
	[[ "$(db "select last_reply from recipients where kind='remote'")" == "451 4.7.5 "*"certificate not trusted"* ]]
	[ "$(count_files "$MP_DIR/b/state/mailboxes")" -eq 0 ]
	echo "b.test localhost:$MP_PORT tls=verify ca=$MP_DIR/b/cert.pem" > "$MAILPIPE_CONF/routes"
	relay -f
	[ "$(db "select status from recipients where kind='remote'")" = delivered ]
	grep -q 'with ESMTPS' "$MP_DIR"/b/state/mailboxes/b.test/bob/new/*
}
