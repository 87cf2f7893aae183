#!/usr/bin/env bats
# hostile.bats - smtp-recv against clients that misbehave on purpose: huge
# lines, huge data, binary garbage, NUL octets, sessions cut anywhere, and
# endless errors.  It must never crash, never keep more than a little memory
# ("Memory stays bounded whatever the client sends: the message streams to
# disk"), never store half a message, and end an abusive session with 421.
#
# Memory: the maximum RSS of smtp-recv (and the mail-store it runs) as
# /usr/bin/time (package "time") reports it must stay under 10 MiB.  A
# sanitizer build (make SANITIZE=1) needs more: run it with MP_SANITIZE=1
# (limit 24 MiB, still well under the 30-50 MiB a buffered message would
# take; a build linked with libasan is recognised too), or set
# MP_RSS_LIMIT_KB yourself.

setup() {
	load lib
	mp_setup
	TOOL=$BATS_TEST_DIRNAME/tools/durability-mail.py
	CLIENT=$BATS_TEST_DIRNAME/tools/hostile-client.py
	ALICE=$MP_STATE/mailboxes/example.test/alice
}

teardown() {
	mp_teardown
}

# ---- helpers -----------------------------------------------------------------

rss_limit_kb() {
	if [ -n "${MP_RSS_LIMIT_KB:-}" ]; then
		echo "$MP_RSS_LIMIT_KB"
	elif [ "${MP_SANITIZE:-0}" = 1 ] || ldd "$BIN/smtp-recv" 2>/dev/null | grep -q libasan; then
		echo 24576
	else
		echo 10240
	fi
}

# recv [ARGS]: runs smtp-recv on stdin (bounded: 60 s), like one connection.
# Sets RECV_STATUS (128+N when killed by signal N) and RECV_RSS (KiB);
# replies in $MP_DIR/out (CR removed), stderr in $MP_DIR/err.
recv() {
	local rc=0
	/usr/bin/time -o "$MP_DIR/rss" -f %M timeout -s KILL 60 "$BIN/smtp-recv" "$@" \
		>"$MP_DIR/out.raw" 2>"$MP_DIR/err" || rc=$?
	RECV_STATUS=$rc
	RECV_RSS=$(tail -1 "$MP_DIR/rss")
	tr -d '\r' <"$MP_DIR/out.raw" >"$MP_DIR/out"
}

# No crash: exit 0, no signal, no sanitizer report.
assert_no_crash() {
	if [ "$RECV_STATUS" -ne 0 ]; then
		echo "smtp-recv exited with $RECV_STATUS"
		tail -20 "$MP_DIR/err"
		return 1
	fi
	if grep -E 'ERROR: [A-Za-z]*Sanitizer|SUMMARY: [A-Za-z]*Sanitizer|runtime error:' "$MP_DIR/err"; then
		echo "sanitizer report on stderr"
		return 1
	fi
}

assert_rss_flat() {
	local limit
	limit=$(rss_limit_kb)
	echo "# max RSS ${RECV_RSS} KiB (limit $limit KiB)" >&3
	[ "$RECV_RSS" -lt "$limit" ]
}

# reply_count REGEX: how many reply lines match (ERE, anchored at the start).
reply_count() {
	grep -c -E "^$1" "$MP_DIR/out" || true
}


db_rows() {
	if [ -e "$MP_STATE/mail.db" ]; then
		sqlite3 -readonly "$MP_STATE/mail.db" 'SELECT count(*) FROM messages'
	else
		echo 0
	fi
}

# Every file in alice's new/ is a complete message, nothing is in tmp/ (hers
# or the spool), and mail.db has exactly one row per file.  $1: how many.
assert_stored_exactly() {
	local n_new n_tmp n_spool n_rows
	n_new=$(count_files "$ALICE/new")
	n_tmp=$(count_files "$ALICE/tmp")
	n_spool=$(count_files "$MP_STATE/tmp")
	n_rows=$(db_rows)
	echo "new/=$n_new (want $1) tmp/=$n_tmp spool=$n_spool rows=$n_rows"
	[ "$n_new" -eq "$1" ]
	[ "$n_tmp" -eq 0 ]
	[ "$n_spool" -eq 0 ]
	[ "$n_rows" -eq "$1" ]
	if [ "$1" -gt 0 ]; then
		$PY "$TOOL" check-dir "$ALICE/new"
	fi
}

# The envelope of one transaction to alice, CRLF.
envelope() {
	printf 'MAIL FROM:<sender@remote.test>\r\nRCPT TO:<alice@example.test>\r\n'
}

# ---- huge input ------------------------------------------------------------------

@test "a 50 MiB command line: 500 5.5.6, the session goes on, memory stays flat" {
	recv < <(printf 'EHLO client.test\r\n'
		 head -c 50M /dev/zero | tr '\0' x
		 printf '\r\nNOOP\r\nQUIT\r\n')
	cat "$MP_DIR/out"
	assert_no_crash
	[ "$(reply_count '500 5\.5\.6')" -eq 1 ]
	# the rest of the long line is not read as commands, the next line is
	[ "$(sed -n '$p' "$MP_DIR/out")" = "221 2.0.0 Bye" ]
	[ "$(sed -n 'x;$p' "$MP_DIR/out")" = "250 2.0.0 Ok" ]
	[ "$(wc -l <"$MP_DIR/out")" -eq 11 ]
	assert_rss_flat
}

@test "50 MiB of DATA without a line end: 552 5.3.4, nothing stored, memory stays flat" {
	recv < <(printf 'EHLO client.test\r\n'
		 envelope
		 printf 'DATA\r\n'
		 head -c 50M /dev/zero | tr '\0' x
		 printf '\r\n.\r\nNOOP\r\nQUIT\r\n')
	cat "$MP_DIR/out"
	assert_no_crash
	grep -q '^354 ' "$MP_DIR/out"
	[ "$(reply_count '552 5\.3\.4')" -eq 1 ]
	[ "$(reply_count '250 2\.0\.0 OK')" -eq 0 ]
	[ "$(sed -n 'x;$p' "$MP_DIR/out")" = "250 2.0.0 Ok" ]
	assert_stored_exactly 0
	assert_rss_flat
}

@test "a 30 MiB message under max_size 40000000: stored complete, memory stays flat" {
	mp_conf max_size 40000000
	$PY "$TOOL" session --token big30 --size $((30 * 1024 * 1024)) >"$MP_DIR/in"
	recv <"$MP_DIR/in"
	tail -3 "$MP_DIR/out"
	assert_no_crash
	grep -q '^250-SIZE 40000000$' "$MP_DIR/out"
	[ "$(reply_count '250 2\.0\.0 OK id=[0-9]+')" -eq 1 ]
	assert_stored_exactly 1
	local f
	f=$(mp_new_files alice)
	[ "$(stat -c %s "$ALICE/new/$f")" -gt $((30 * 1024 * 1024)) ]
	assert_rss_flat
}

# ---- garbage and NUL octets --------------------------------------------------------

@test "1 MiB of binary garbage as the session: no crash, ten errors, then 421" {
	head -c 1M /dev/urandom >"$MP_DIR/garbage"
	recv <"$MP_DIR/garbage"
	cat -v "$MP_DIR/out"
	assert_no_crash
	# every line after the greeting is an error, the session ends at the tenth
	[ "$(sed -n '$p' "$MP_DIR/out" | cut -c1-4)" = "421 " ]
	[ "$(reply_count '5[0-9][0-9] 5\.')" -eq 10 ]
	[ "$(wc -l <"$MP_DIR/out")" -eq 12 ]
	assert_stored_exactly 0
}

@test "1 MiB of binary garbage as message data: 554 5.6.0, nothing stored, no crash" {
	{
		printf 'EHLO client.test\r\n'
		envelope
		printf 'DATA\r\nSubject: garbage\r\n\r\n'
		head -c 1M /dev/urandom
		printf '\r\n.\r\nQUIT\r\n'
	} >"$MP_DIR/in"
	recv <"$MP_DIR/in"
	cat "$MP_DIR/out"
	assert_no_crash
	# random bytes hold bare CRs, bare LFs and NULs
	[ "$(reply_count '554 5\.6\.0')" -eq 1 ]
	[ "$(sed -n '$p' "$MP_DIR/out")" = "221 2.0.0 Bye" ]
	assert_stored_exactly 0
}

@test "NUL octets in commands: 500 5.5.2 each, the session goes on and delivers" {
	{
		printf 'EHLO client\0.test\r\n'
		printf '\0\r\n'
		printf 'MAIL FROM:<sender\0@remote.test>\r\n'
		printf 'MA\0IL FROM:<sender@remote.test>\r\n'
		printf 'EHLO client.test\r\n'
		printf 'MAIL FROM:<sender@remote.test>\r\n'
		printf 'RCPT TO:<alice@example.test>\0\r\n'
		printf 'RCPT TO:<alice@example.test>\r\n'
		printf 'DATA\0\r\n'
		printf 'DATA\r\n'
		$PY "$TOOL" message --token nulcmd --size 2000 --crlf
		printf '.\r\nQUIT\r\n'
	} >"$MP_DIR/in"
	recv <"$MP_DIR/in"
	cat "$MP_DIR/out"
	assert_no_crash
	[ "$(reply_count '500 5\.5\.2')" -eq 6 ]
	[ "$(reply_count '250 2\.0\.0 OK id=')" -eq 1 ]
	assert_stored_exactly 1
	grep -q '^Subject: durability nulcmd$' "$ALICE"/new/*
}

@test "NUL octets in DATA and in BDAT: 554 5.6.0, nothing stored" {
	{
		printf 'EHLO client.test\r\n'
		envelope
		printf 'DATA\r\nSubject: nul\r\n\r\nbefore\0after\r\n.\r\n'
		envelope
		printf 'DATA\r\nSubject: nul at the end\r\n\r\nline\r\n\0\r\n.\r\n'
		envelope
		printf 'BDAT 21 LAST\r\nSubject: nul\r\n\r\nx\0y\r\n'
		printf 'NOOP\r\nQUIT\r\n'
	} >"$MP_DIR/in"
	recv <"$MP_DIR/in"
	cat "$MP_DIR/out"
	assert_no_crash
	[ "$(reply_count '554 5\.6\.0')" -eq 3 ]
	[ "$(reply_count '250 2\.0\.0 OK')" -eq 0 ]
	[ "$(sed -n 'x;$p' "$MP_DIR/out")" = "250 2.0.0 Ok" ]
	assert_stored_exactly 0
}

@test "a valid session cut at 50 points: no crash, every 250 stored complete, nothing half-stored" {
	# four messages (DATA and two BDAT chunks alternately), RSET and NOOP between
	$PY "$TOOL" session --token cut --size 700 --count 4 --bdat --rset >"$MP_DIR/full"
	local len step i cut stored=0 replies
	len=$(stat -c %s "$MP_DIR/full")
	step=$((len / 50))
	for ((i = 0; i < 50; i++)); do
		cut=$((i * step + RANDOM % step))
		recv < <(head -c "$cut" "$MP_DIR/full")
		if ! assert_no_crash; then
			echo "cut at byte $cut of $len"
			return 1
		fi
		replies=$(reply_count '250 2\.0\.0 OK id=')
		stored=$((stored + replies))
	done
	# the whole session, for comparison: four messages
	recv <"$MP_DIR/full"
	assert_no_crash
	[ "$(reply_count '250 2\.0\.0 OK id=')" -eq 4 ]
	stored=$((stored + 4))
	echo "# $stored messages answered 250 over 51 sessions" >&3
	assert_stored_exactly "$stored"
}

# ---- the 10-error rule ---------------------------------------------------------------

@test "10000 RCPTs to unknown users: ten 550s, then 421 and the end" {
	{
		printf 'EHLO client.test\r\nMAIL FROM:<sender@remote.test>\r\n'
		seq -f 'RCPT TO:<nobody%g@example.test>' 10000 | sed 's/$/\r/'
		printf 'QUIT\r\n'
	} >"$MP_DIR/in"
	recv <"$MP_DIR/in"
	cat "$MP_DIR/out"
	assert_no_crash
	[ "$(reply_count '550 5\.1\.1')" -eq 10 ]
	[ "$(sed -n '$p' "$MP_DIR/out" | cut -c1-10)" = "421 4.7.0 " ]
	[ "$(reply_count '221')" -eq 0 ]
	assert_rss_flat
}

@test "10000 MAIL commands: 503 5.5.1 for the nested ones, then 421" {
	{
		printf 'EHLO client.test\r\n'
		seq -f 'MAIL FROM:<s%g@remote.test>' 10000 | sed 's/$/\r/'
		printf 'QUIT\r\n'
	} >"$MP_DIR/in"
	recv <"$MP_DIR/in"
	cat "$MP_DIR/out"
	assert_no_crash
	[ "$(reply_count '250 2\.1\.0')" -eq 1 ]
	[ "$(reply_count '503 5\.5\.1')" -eq 10 ]
	[ "$(sed -n '$p' "$MP_DIR/out" | cut -c1-4)" = "421 " ]
	[ "$(wc -l <"$MP_DIR/out")" -eq 20 ]
}

@test "ten errors spread over a long session: 421, and a message sent after them is not taken" {
	{
		printf 'EHLO client.test\r\n'
		envelope
		for ((i = 0; i < 10; i++)); do
			printf 'NOOP\r\nNOOP\r\nBOGUS %d\r\nRCPT TO:<alice@example.test>\r\n' "$i"
		done
		printf 'DATA\r\n'
		$PY "$TOOL" message --token late --size 2000 --crlf
		printf '.\r\nQUIT\r\n'
	} >"$MP_DIR/in"
	recv <"$MP_DIR/in"
	cat "$MP_DIR/out"
	assert_no_crash
	[ "$(reply_count '500 5\.5\.2')" -eq 10 ]
	[ "$(sed -n '$p' "$MP_DIR/out" | cut -c1-4)" = "421 " ]
	[ "$(reply_count '354')" -eq 0 ]
	assert_stored_exactly 0
}

@test "over TCP: after the tenth error the server says 421 and closes the connection" {
	mp_listen
	{
		printf 'EHLO client.test\r\n'
		for ((i = 0; i < 10; i++)); do printf 'XYZZY\r\n'; done
	} >"$MP_DIR/in"
	# the client never closes its side: only the server can end this
	run $PY "$CLIENT" --port "$MP_PORT" --file "$MP_DIR/in" --timeout 10
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[-1]:0:4}" = "421 " ]
	[ "$(grep -c '^500 5\.5\.2' <<<"$output")" -eq 10 ]
}

@test "100000 RCPTs for a real user: max_rcpt accepted, 1000 more get 452, then they count as errors" {
	{
		printf 'EHLO client.test\r\nMAIL FROM:<sender@remote.test>\r\n'
		yes 'RCPT TO:<alice@example.test>' | head -n 100000 | sed 's/$/\r/'
		printf 'QUIT\r\n'
	} >"$MP_DIR/in"
	recv <"$MP_DIR/in"
	tail -3 "$MP_DIR/out"
	assert_no_crash
	[ "$(reply_count '250 2\.1\.5')" -eq 100 ]
	# 1000 overshooting RCPTs are free, like Postfix's
	# smtpd_recipient_overshoot_limit; each one after that is an error,
	# and the tenth error ends the session
	[ "$(reply_count '452 4\.5\.3')" -eq 1010 ]
	[ "$(tail -n 1 "$MP_DIR/out" | tr -d '\r')" = "421 4.7.0 mx.example.test Error: too many errors" ]
	assert_rss_flat
}
