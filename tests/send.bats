#!/usr/bin/env bats
# tests/send.bats - smtp-send: one message, and one message per row of a CSV
# list (DESIGN.md "Sending a CSV list"), against an aiosmtpd sink
# (tools/sink.py) that keeps every message and answers 4xx/5xx on command.
# What arrives is read back with Python's email package, as a mail program
# would read it.
#
# Needs (Debian 12): bats, python3 with python3-aiosmtpd.

setup() {
	load lib
	load sink-lib
	mp_setup
	OUT=$MP_DIR/sink
}

teardown() {
	sink_teardown
	mp_teardown
}

send() {
	"$BIN/smtp-send" -S "127.0.0.1:$SINK_PORT" --timeout 10 "$@"
}

# header N FIELD: the decoded field of message N, as a mail program shows it.
header() {
	$PY - "$OUT/$1.eml" "$2" <<'EOF'
import sys
from email import policy
from email.parser import BytesParser
msg = BytesParser(policy=policy.default).parse(open(sys.argv[1], "rb"))
print(msg[sys.argv[2]])
EOF
}

# body N: the decoded text of message N.
body() {
	$PY - "$OUT/$1.eml" <<'EOF'
import sys
from email import policy
from email.parser import BytesParser
msg = BytesParser(policy=policy.default).parse(open(sys.argv[1], "rb"))
sys.stdout.write(msg.get_content())
EOF
}

template() {
	printf 'From: Club <club@example.org>\nTo: {{name}} <{{email}}>\nSubject: Hello {{ name }}\n\nDear {{name}},\nyour town: {{town}}.\n' \
		> "$MP_DIR/tpl"
}

# ---- one message -----------------------------------------------------------

@test "one message: Date and Message-ID added, Bcc dropped, dots stuffed, every recipient" {
	sink "$OUT"
	printf 'Subject: plain\r\nBcc: hidden@example.net\r\n\r\n.\r\n..two\r\nend\r\n' > "$MP_DIR/msg"
	run send -f alice@example.org bob@example.net carol@example.net < "$MP_DIR/msg"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(sink_count "$OUT")" -eq 1 ]
	[ "$(env_field "$OUT/1.env" rcpt_tos)" = "['bob@example.net', 'carol@example.net']" ]
	[ "$(env_field "$OUT/1.env" mail_from)" = alice@example.org ]
	[[ $(header 1 Message-ID) =~ ^\<[0-9]+\.[0-9]+\.[0-9a-f]+@example\.org\>$ ]]
	[[ $(header 1 Date) =~ ^[A-Z][a-z][a-z],\ [0-9]+\ [A-Z][a-z][a-z]\ 20[0-9][0-9] ]]
	[ "$(header 1 From)" = alice@example.org ]
	[ "$(header 1 Bcc)" = None ]
	# the dot lines arrive as they were written
	[ "$(body 1)" = "$(printf '.\n..two\nend')" ]
}

@test "one message: a Date, Message-ID and From of the writer's are kept" {
	sink "$OUT"
	printf 'From: Alice <alice@example.org>\nDate: Tue, 1 Jan 2030 10:00:00 +0000\nMessage-ID: <mine@example.org>\n\nhi\n' |
		send -f alice@example.org bob@example.net
	[ "$(header 1 Message-ID)" = '<mine@example.org>' ]
	[ "$(header 1 Date)" = 'Tue, 01 Jan 2030 10:00:00 +0000' ]
	[ "$(header 1 From)" = 'Alice <alice@example.org>' ]
	[ "$(grep -c '^Date:' "$OUT/1.eml")" -eq 1 ]
}

@test "one message: exit codes from the server's answer (550 5.1.1 -> 67, 451 -> 75, 554 -> 69)" {
	printf 'rcpt nobody@example.net 550 5.1.1 no such user\nrcpt later@example.net 451 4.3.0 busy\n' \
		> "$MP_DIR/script"
	sink "$OUT" --script "$MP_DIR/script"
	run send -f a@example.org nobody@example.net < /dev/null
	[ "$status" -eq 67 ]
	[[ $output == *"<nobody@example.net>: 550 5.1.1 no such user"* ]]
	run send -f a@example.org later@example.net < /dev/null
	[ "$status" -eq 75 ]
	[[ $output == *"451 4.3.0 busy"* ]]
	# one of two refused: the other still gets it, and the exit says a 5xx
	run send -f a@example.org nobody@example.net ok@example.net < /dev/null
	[ "$status" -eq 67 ]
	[ "$(sink_count "$OUT")" -eq 1 ]
	[ "$(env_field "$OUT/1.env" rcpt_tos)" = "['ok@example.net']" ]
}

@test "one message: no server listening is 75, an unknown host 68, bad arguments 64" {
	port=$(mp_free_port)
	run "$BIN/smtp-send" -S "127.0.0.1:$port" -f a@example.org b@example.net < /dev/null
	[ "$status" -eq 75 ]
	[[ $output == *"cannot connect"* ]]
	run "$BIN/smtp-send" -S no-such-host.invalid -f a@example.org b@example.net < /dev/null
	[ "$status" -eq 68 ]
	run "$BIN/smtp-send" -S localhost -f a@example.org < /dev/null
	[ "$status" -eq 64 ]
	[[ $output == *"no recipient"* ]]
	run "$BIN/smtp-send" -S localhost:99999 -f a@example.org b@example.net < /dev/null
	[ "$status" -eq 64 ]
	run "$BIN/smtp-send" -S localhost -a alice -f a@example.org b@example.net < /dev/null
	[ "$status" -eq 64 ]
	[[ $output == *"-T starttls"* ]]
	run "$BIN/smtp-send" --bogus
	[ "$status" -eq 64 ]
	[[ $output == *"--bogus"* ]]
}

# ---- CSV -------------------------------------------------------------------

@test "CSV: quotes, commas and line breaks in values, UTF-8 names, a BOM: each row personalised" {
	sink "$OUT"
	template
	printf '\xef\xbb\xbfname,email,town\r\n"Smith, John",john@example.net,"Paris\r\nFrance"\r\n' > "$MP_DIR/list.csv"
	printf 'José Ünïcode,jose@example.net,Zürich\r\n"Say ""hi""",quote@example.net,Bern\r\n\r\n' >> "$MP_DIR/list.csv"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "row=1 to=<john@example.net> reply=250 2.0.0" ]
	[ "${lines[1]}" = "row=2 to=<jose@example.net> reply=250 2.0.0" ]
	[ "${lines[2]}" = "row=3 to=<quote@example.net> reply=250 2.0.0" ]
	[ "${#lines[@]}" -eq 3 ]
	[ "$(sink_count "$OUT")" -eq 3 ]
	# a name with a comma is quoted, not two addresses
	[ "$(header 1 To)" = '"Smith, John" <john@example.net>' ]
	[ "$(header 1 Subject)" = 'Hello Smith, John' ]
	[ "$(body 1)" = "$(printf 'Dear Smith, John,\nyour town: Paris\nFrance.')" ]
	# non-ASCII is RFC 2047 on the wire, the right letters once decoded
	grep -q '^To: =?UTF-8?B?' "$OUT/2.eml"
	grep -q '^Subject: =?UTF-8?B?' "$OUT/2.eml"
	[ "$(header 2 To)" = 'José Ünïcode <jose@example.net>' ]
	[ "$(header 2 Subject)" = 'Hello José Ünïcode' ]
	[ "$(body 2)" = "$(printf 'Dear José Ünïcode,\nyour town: Zürich.')" ]
	[ "$(header 3 To)" = '"Say \"hi\"" <quote@example.net>' ]
	# each row is its own message, with its own id, to its own recipient
	[ "$(env_field "$OUT/2.env" rcpt_tos)" = "['jose@example.net']" ]
	[ "$(for n in 1 2 3; do header $n Message-ID; done | sort -u | wc -l)" -eq 3 ]
}

@test "CSV: 200 rows over one connection, RSET between, each message once" {
	sink "$OUT"
	template
	{ echo name,email,town; for i in $(seq 1 200); do echo "Member $i,m$i@example.net,T$i"; done; } \
		> "$MP_DIR/list.csv"
	run send -v -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^row=.* reply=250 2.0.0$' <<< "$output")" -eq 200 ]
	[ "$(grep -c '>>> EHLO' <<< "$output")" -eq 1 ]
	[ "$(grep -c '>>> RSET' <<< "$output")" -eq 199 ]
	[ "$(sink_count "$OUT")" -eq 200 ]
	[ "$(cat "$OUT"/*.env | grep '"peer"' | sort -u | wc -l)" -eq 1 ]
	# every row's message went to that row's address with that row's name
	for n in 1 77 200; do
		m=$(grep -l "^Dear Member $n,"$'\r$' "$OUT"/*.eml)
		[ "$(env_field "${m%.eml}.env" rcpt_tos)" = "['m$n@example.net']" ]
	done
	[ "$(grep -h '^Dear' "$OUT"/*.eml | sort -u | wc -l)" -eq 200 ]
}

@test "CSV: a line break in a header value fails that row only, exit 69" {
	sink "$OUT"
	template
	printf 'name,email,town\nAnn,ann@example.net,A\n"Evil\nBcc: victim@example.net",evil@example.net,B\nCid,cid@example.net,"C\nD"\n' \
		> "$MP_DIR/list.csv"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 69 ]
	[[ $output == *"row=1 to=<ann@example.net> reply=250 2.0.0"* ]]
	[[ $output == *"row=2 to=<evil@example.net> reply=554 5.6.0"* ]]
	[[ $output == *'row 2: 554 5.6.0 the value of "name" has a line break, which cannot go into To:'* ]]
	[[ $output == *"row=3 to=<cid@example.net> reply=250 2.0.0"* ]]
	[ "$(sink_count "$OUT")" -eq 2 ]
	! grep -rq victim "$OUT" || false
	# a line break that lands in the body is fine
	[ "$(grep -l '^Dear Cid' "$OUT"/*.eml | xargs grep -c $'^D\\.\r$')" -eq 1 ]
}

@test "CSV: an unknown placeholder stops before anything is sent, exit 65 naming it" {
	sink "$OUT"
	printf 'Subject: hi {{nmae}}\n\nx\n' > "$MP_DIR/tpl"
	printf 'name,email\nAnn,ann@example.net\n' > "$MP_DIR/list.csv"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 65 ]
	[[ $output == *'{{nmae}}'* ]]
	[[ $output != *row=* ]]
	[ ! -e "$OUT/attempts" ]
	[ "$(sink_count "$OUT")" -eq 0 ]
}

@test "CSV: no email column, or a quote never closed, is 65 before anything is sent" {
	sink "$OUT"
	template
	printf 'name,mail\nAnn,ann@example.net\n' > "$MP_DIR/list.csv"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 65 ]
	[[ $output == *'no column named "email"'* ]]
	printf 'name,email,town\nAnn,ann@example.net,A\n"Bob,bob@example.net,B\n' > "$MP_DIR/list.csv"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 65 ]
	[[ $output == *"line 3: a quote is never closed"* ]]
	[ "$(sink_count "$OUT")" -eq 0 ]
	run send -f club@example.org --csv "$MP_DIR/none.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 66 ]
}

@test "CSV: a 451 for one row is exit 75 and its line says so; a 550 makes it 69" {
	printf 'rcpt busy@example.net 451 4.2.1 mailbox busy\n' > "$MP_DIR/script"
	sink "$OUT" --script "$MP_DIR/script"
	template
	printf 'name,email,town\nAnn,ann@example.net,A\nBusy,busy@example.net,B\nCid,cid@example.net,C\n' > "$MP_DIR/list.csv"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 75 ]
	[[ $output == *"row=2 to=<busy@example.net> reply=451 4.2.1"* ]]
	[[ $output == *"row 2: 451 4.2.1 mailbox busy"* ]]
	[ "$(sink_count "$OUT")" -eq 2 ]
	echo 'Gone,gone@example.net,G' >> "$MP_DIR/list.csv"
	echo 'rcpt gone@example.net 550 5.1.1 no such user' >> "$MP_DIR/script"
	sink_teardown
	rm -rf "$OUT"
	sink "$OUT" --script "$MP_DIR/script"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 69 ]
	[[ $output == *"row=4 to=<gone@example.net> reply=550 5.1.1"* ]]
	[ "$(sink_count "$OUT")" -eq 2 ]
}

@test "CSV: the server closes the connection after two rows: a new one for the rest" {
	printf 'mail pass\nmail pass\nmail 421 4.3.2 too many messages\n' > "$MP_DIR/script"
	sink "$OUT" --script "$MP_DIR/script"
	template
	{ echo name,email,town; for i in 1 2 3 4 5; do echo "M$i,m$i@example.net,T"; done; } > "$MP_DIR/list.csv"
	run send -v -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^row=.* reply=250 2.0.0$' <<< "$output")" -eq 5 ]
	[ "$(grep -c '>>> EHLO' <<< "$output")" -eq 2 ]
	[ "$(sink_count "$OUT")" -eq 5 ]
	[ "$(grep -h '^Dear' "$OUT"/*.eml | sort -u | wc -l)" -eq 5 ]
	[ "$(cat "$OUT"/*.env | grep '"peer"' | sort -u | wc -l)" -eq 2 ]
}

@test "CSV: a row with a missing field or a bad address fails alone" {
	sink "$OUT"
	template
	printf 'name,email,town\nAnn,ann@example.net\nBob,not an address,B\nCid,cid@example.net,C\n' > "$MP_DIR/list.csv"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 69 ]
	[[ $output == *"row=1 to=<ann@example.net> reply=554 5.6.0"* ]]
	[[ $output == *"line 2 has 2 fields, the first row 3"* ]]
	[[ $output == *"row=2 to=<not an address> reply=553 5.1.3"* ]]
	[[ $output == *"row=3 to=<cid@example.net> reply=250 2.0.0"* ]]
	[ "$(sink_count "$OUT")" -eq 1 ]
}

@test "CSV --dry-run: the first message and the row count, nothing sent" {
	sink "$OUT"
	template
	{ echo name,email,town; for i in $(seq 1 42); do echo "M$i,m$i@example.net,T$i"; done; } > "$MP_DIR/list.csv"
	run send --dry-run -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 0 ]
	[[ $output == *"To: M1 <m1@example.net>"* ]]
	[[ $output == *"Dear M1,"* ]]
	[[ $output == *"row 1 of 42 rows; nothing was sent"* ]]
	[[ $output != *"M2"* ]]
	[ ! -e "$OUT/attempts" ]
	# no server needed either
	run "$BIN/smtp-send" --dry-run -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 0 ]
}

@test "CSV: a template without To, MIME or Message-ID gets them, a fixed Message-ID is not reused" {
	sink "$OUT"
	printf 'Subject: Grüße\nMessage-ID: <same@example.org>\n\nHallo {{name}}\n' > "$MP_DIR/tpl"
	printf 'name,email\nÄnne,anne@example.net\nBo,bo@example.net\n' > "$MP_DIR/list.csv"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 0 ]
	[ "$(header 1 To)" = anne@example.net ]
	[ "$(header 1 Subject)" = 'Grüße' ]
	[ "$(header 1 Content-Type)" = 'text/plain; charset="UTF-8"' ]
	[ "$(body 1)" = 'Hallo Änne' ]
	[ "$(header 1 Message-ID)" != '<same@example.org>' ]
	[ "$(header 1 Message-ID)" != "$(header 2 Message-ID)" ]
	# the body is 8-bit: the server is told so
	[[ $(env_field "$OUT/1.env" mail_options) == *"'BODY=8BITMIME'"* ]]
}

@test "CSV: a progress line on stderr when it is a terminal, none when it is not" {
	sink "$OUT"
	template
	{ echo name,email,town; for i in 1 2 3; do echo "M$i,m$i@example.net,T"; done; } > "$MP_DIR/list.csv"
	run send -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 0 ]
	[[ $output != *"rows:"* ]]
	# script(1) gives it a terminal
	run script -qec "'$BIN/smtp-send' -S 127.0.0.1:$SINK_PORT -f club@example.org --csv '$MP_DIR/list.csv' < '$MP_DIR/tpl'" /dev/null
	[ "$status" -eq 0 ]
	[[ $output == *"smtp-send: 1 of 3 rows: 1 sent, 0 deferred, 0 failed"* ]]
	[[ $output == *"smtp-send: 3 of 3 rows: 3 sent, 0 deferred, 0 failed"* ]]
	[ "$(sink_count "$OUT")" -eq 6 ]
}

@test "one message: a header without a final line end, 'Name : value', Resent-Bcc, the null sender" {
	sink "$OUT"
	printf 'Subject : spaced\nResent-Bcc: hidden@example.net\nX-Last: no line end' |
		send -f '' bob@example.net
	[ "$(env_field "$OUT/1.env" mail_from)" = '<>' ]
	[ "$(header 1 Subject)" = spaced ]
	[ "$(header 1 X-Last)" = 'no line end' ]
	[ "$(header 1 Resent-Bcc)" = None ]
	[[ $(header 1 From) == MAILER-DAEMON@* ]]
	run grep -c hidden "$OUT/1.eml"
	[ "$output" = 0 ]
}

@test "options after the recipients are options; --ca and --insecure need -T; a missing --ca file is 66" {
	sink "$OUT"
	printf 'Subject: x\n\nx\n' > "$MP_DIR/msg"
	run send -f a@example.org bob@example.net -v < "$MP_DIR/msg"
	[ "$status" -eq 0 ]
	[[ $output == *">>> RCPT TO:<bob@example.net>"* ]]
	[ "$(env_field "$OUT/1.env" rcpt_tos)" = "['bob@example.net']" ]
	run send -f a@example.org -- -bob@example.net < "$MP_DIR/msg"
	[ "$status" -eq 64 ]
	run send --insecure -f a@example.org bob@example.net < "$MP_DIR/msg"
	[ "$status" -eq 64 ]
	run send -T tls --ca "$MP_DIR/no-such.pem" -f a@example.org bob@example.net < "$MP_DIR/msg"
	[ "$status" -eq 66 ]
	[[ $output == *"no-such.pem"* ]]
	[ "$(sink_count "$OUT")" -eq 1 ]
}

@test "CSV: spaces around the address are dropped; a refused row is followed by one RSET, not two" {
	printf 'rcpt no@example.net 550 5.1.1 no such user\n' > "$MP_DIR/script"
	sink "$OUT" --script "$MP_DIR/script"
	template
	printf 'name, email ,town\nAnn, ann@example.net ,A\nNo,no@example.net,B\nCid,cid@example.net,C\n' > "$MP_DIR/list.csv"
	run send -v -f club@example.org --csv "$MP_DIR/list.csv" < "$MP_DIR/tpl"
	[ "$status" -eq 69 ]
	[[ $output == *"row=1 to=<ann@example.net> reply=250 2.0.0"* ]]
	[[ $output == *"row=2 to=<no@example.net> reply=550 5.1.1"* ]]
	[[ $output == *"row=3 to=<cid@example.net> reply=250 2.0.0"* ]]
	# RSET before row 2, and the one that cleared row 2: none more before row 3
	[ "$(grep -c '>>> RSET' <<< "$output")" -eq 2 ]
	[ "$(sink_count "$OUT")" -eq 2 ]
}
