#!/usr/bin/env bats
# tests/demo.bats - `make demo` as a newcomer runs it: everything comes up on
# loopback ports, mail is delivered and read over POP3 and IMAP, the notices
# reach the newsgroup, and `make demo-stop` leaves nothing running.
#
# Needs (Debian 12): what make demo needs (swaks, curl, dovecot-imapd, sn,
# python3, systemd-socket-activate, setpriv) and root.

bats_require_minimum_version 1.5.0

setup() {
	load lib
	DEMO_DIR=$(mktemp -d "$BATS_TEST_TMPDIR/demo.XXXXXX")
	MP_DIR=$DEMO_DIR mp_open_dirs   # the demo's programs run as the user mail
	export DEMO_DIR DEMO_PORT=$(mp_free_port) DEMO_SUBMISSION_PORT=$(mp_free_port)
	export DEMO_POP3_PORT=$(mp_free_port) DEMO_POP3S_PORT=$(mp_free_port)
	export DEMO_IMAP_PORT=$(mp_free_port) DEMO_LMTP_PORT=$(mp_free_port) DEMO_NNTP_PORT=$(mp_free_port)
	export DEMO_WEB_PORT=$(mp_free_port)
}

teardown() {
	"$TOP/bin/mailpipe-demo" stop >/dev/null 2>&1 || true
}

# pids of what the demo started: its listeners and Dovecot's master
demo_pids() {
	cat "$DEMO_DIR/listener.pid" "$DEMO_DIR/dovecot/run/master.pid" "$DEMO_DIR/web/lighttpd.pid" 2>/dev/null
}

@test "make demo: SMTP, submission, POP3, IMAP and the notices work; demo-stop stops it all" {
	[ -z "${MP_SANITIZE:-}" ] || skip "the demo runs the normal build"
	[ "$(id -u)" -eq 0 ] || skip "needs root (setpriv to the user mail)"
	run timeout 120 "$TOP/bin/mailpipe-demo"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"250 2.0.0 OK id=1"* ]]
	[[ $output == *"235 2.7.0 Authentication successful"* ]]
	# POP3: bob's LIST and the start of his message
	[[ $output == *"Delivered-To: bob@demo.test"* ]]
	# IMAP through Dovecot: alice's message
	[[ $output == *"Subject: Hello from the demo"* ]]
	# the notices, read back from the newsgroup
	[[ $output == *"New mail for alice@demo.test: Hello from the demo"* ]]
	[[ $output == *"New mail for bob@demo.test: Hello Bob"* ]]
	# a CSV list through smtp-send, and the webmail behind lighttpd
	[[ $output == *"row=2 to=<bob@demo.test> reply=250 2.0.0"* ]]
	[[ $output == *"alice sees <title>Inbox ("*") — mailpipe</title>"* ]]
	page=$(curl -s --user alice@demo.test:alice "http://127.0.0.1:$DEMO_WEB_PORT/cgi-bin/inbox")
	[[ $page == *"The report, attached"* ]]
	[[ $page == *"Club evening on Friday"* ]]
	# and the demo's own configuration passes the operator's check
	[[ $output == *"mailpipe-check: $DEMO_DIR/conf: no problems"* ]]
	pids=$(demo_pids)
	[ -n "$pids" ]
	for pid in $pids; do kill -0 "$pid"; done
	run "$TOP/bin/mailpipe-demo" stop
	[ "$status" -eq 0 ]
	for pid in $pids; do
		mp_wait_until 10 bash -c "! kill -0 $pid 2>/dev/null"
	done
	! mp_port_open "$DEMO_PORT" || false
	! mp_port_open "$DEMO_IMAP_PORT" || false
	! mp_port_open "$DEMO_NNTP_PORT" || false
	! mp_port_open "$DEMO_WEB_PORT" || false
}

@test "mailpipe-demo -h prints usage; an unknown argument is 64 with one line, and neither stops or starts anything" {
	mkdir -p "$DEMO_DIR/conf"
	echo keep > "$DEMO_DIR/conf/marker"
	run "$TOP/bin/mailpipe-demo" -h
	[ "$status" -eq 0 ]
	[ "$output" = "usage: mailpipe-demo [stop]" ]
	run --separate-stderr "$TOP/bin/mailpipe-demo" --bogus
	[ "$status" -eq 64 ]
	[ "${#stderr_lines[@]}" -eq 1 ]
	[[ $stderr == "mailpipe-demo: unknown argument: --bogus"* ]]
	run "$TOP/bin/mailpipe-demo" stop now
	[ "$status" -eq 64 ]
	# nothing was made anew or started
	[ "$(cat "$DEMO_DIR/conf/marker")" = keep ]
	[ -z "$(demo_pids)" ]
}
