#!/usr/bin/env bats
# tests/imap.bats - IMAP from a stock Dovecot over mailpipe's Maildirs, with
# the configuration an operator installs: contrib/dovecot/dovecot.conf, run
# by tests/tools/dovecot-lmtp start-mailpipe with its paths rewritten to the
# test's directories.  What a user sees: mail smtp-recv just accepted in the
# INBOX (Python's imaplib and curl), IDLE reporting a delivery, \Seen and
# Trash the same in IMAP and in our webmail, the users file's passwords
# ($6$ and mailpipe-user's $y$), plain-text LOGIN only on loopback or after
# STARTTLS, and smtp-relay's lmtp: routes into the same Maildirs.
#
# As in production, where everything runs as the user mailpipe, the
# mailpipe programs (smtp-recv, mail-store, smtp-relay, the webmail CGI) and
# Dovecot's mail processes run as one unprivileged user: here the Debian
# user "mail" (uid 8) stands in for mailpipe, owns the state directory and
# runs our programs through setpriv.  Dovecot never accesses mail as root,
# and mail-store writes its files mode 0600.
#
# Needs (Debian 12): bats, dovecot-core, dovecot-imapd, dovecot-lmtpd,
# swaks, curl, python3, openssl, sqlite3, iproute2 (ss), util-linux
# (setpriv, runuser), systemd (systemd-socket-activate); root.

setup() {
	load lib
	mp_setup
	mp_cgi_dir
	TOOLS=$BATS_TEST_DIRNAME/tools
	CONTRIB=$TOP/contrib/dovecot/dovecot.conf
	DC_DIR=
	mp_open_dirs   # for the users mail and dovecot
	# mailpipe's certificate, where contrib/dovecot/dovecot.conf reads it
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
		-keyout "$MAILPIPE_CONF/privkey.pem" -out "$MAILPIPE_CONF/fullchain.pem" 2>/dev/null
	chown mail "$MAILPIPE_CONF/privkey.pem"
	mp_conf tls_cert "$MAILPIPE_CONF/fullchain.pem"
	mp_conf tls_key "$MAILPIPE_CONF/privkey.pem"
	mp_conf timeout 30
	chown -R mail:mail "$MP_STATE"
}

teardown() {
	[ -z "$DC_DIR" ] || "$TOOLS/dovecot-lmtp" stop "$DC_DIR"
	mp_teardown
	# no sanitizer report from any of our programs
	! grep -E 'Sanitizer|runtime error' "$MP_DIR"/*.log 2>/dev/null
}

# as_mail COMMAND...: COMMAND as the user mail (mailpipe's stand-in)
as_mail() {
	/usr/bin/setpriv --reuid=mail --regid=mail --clear-groups -- "$@"
}

# start_dovecot: starts the private Dovecot (IMAP_PORT, LMTP_PORT)
start_dovecot() {
	DC_DIR=$MP_DIR/dovecot
	mkdir -p "$DC_DIR"
	IMAP_PORT=$(mp_free_port)
	LMTP_PORT=$(mp_free_port)
	while [ "$LMTP_PORT" = "$IMAP_PORT" ]; do LMTP_PORT=$(mp_free_port); done
	"$TOOLS/dovecot-lmtp" start-mailpipe "$DC_DIR" "$MAILPIPE_CONF" "$MP_STATE" "$IMAP_PORT" "$LMTP_PORT"
}

# listen: smtp-recv per connection on MP_PORT, run as mail: mp_listen's
# way (systemd-socket-activate --accept), as the systemd units run it
listen() {
	MP_PORT=$(mp_free_port)
	systemd-socket-activate --accept --inetd -l "127.0.0.1:$MP_PORT" \
		-E MAILPIPE_CONF="$MAILPIPE_CONF" \
		${ASAN_OPTIONS:+-E ASAN_OPTIONS="$ASAN_OPTIONS"} ${UBSAN_OPTIONS:+-E UBSAN_OPTIONS="$UBSAN_OPTIONS"} \
		/usr/bin/setpriv --reuid=mail --regid=mail --clear-groups -- \
		"$BIN/smtp-recv" 2>>"$MP_DIR/smtp-recv.log" &
	MP_LISTEN_PID=$!
	MP_PIDS+=("$MP_LISTEN_PID")
	mp_wait_until 10 mp_port_open "$MP_PORT"
}

# send SUBJECT BODY [RCPT]: a message from bob through smtp-recv (MP_PORT)
send() {
	swaks --silent 2 --server 127.0.0.1 --port "$MP_PORT" --helo client.example.test \
		--from bob@example.test --to "${3:-alice@example.test}" \
		--header "Subject: $1" --body "$2"
}

# imap [--starttls CA] [--source IP] CMD ARGS...: tools/imap-client.py
imap() {
	$PY "$TOOLS/imap-client.py" "$@"
}

# cgi QUERY_STRING: GET of the webmail's inbox as alice, run directly
# (as lighttpd would, as the user owning the state), its stderr in cgi.log
cgi() {
	as_mail env -i REQUEST_METHOD=GET REMOTE_USER=alice@example.test QUERY_STRING="$1" \
		MAILPIPE_CONF="$MAILPIPE_CONF" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} "$CGI/inbox" 2>>"$MP_DIR/cgi.log"
}

# cgi_post BODY: a urlencoded POST to the inbox as alice
cgi_post() {
	printf '%s' "$1" | as_mail env -i REQUEST_METHOD=POST REMOTE_USER=alice@example.test \
		CONTENT_TYPE=application/x-www-form-urlencoded CONTENT_LENGTH=${#1} \
		MAILPIPE_CONF="$MAILPIPE_CONF" ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} \
		${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} "$CGI/inbox" 2>>"$MP_DIR/cgi.log"
}

# rows [QUERY]: the webmail list as a user sees it, one row a line:
# CLASS<TAB>LINK<TAB>SUBJECT (CLASS "message" or "message unread")
rows() {
	cgi "${1:-}" | $PY -c '
import sys, html.parser
class P(html.parser.HTMLParser):
    row = None
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "message" in (a.get("class") or "").split():
            self.row = [a["class"], "", ""]
        elif tag == "a" and self.row is not None and a.get("class") == "subject":
            self.row[1] = a.get("href", "")
            self.sub = True
    def handle_data(self, data):
        if self.row is not None and getattr(self, "sub", False):
            self.row[2] += data
    def handle_endtag(self, tag):
        if tag == "a":
            self.sub = False
        if tag == "tr" and self.row is not None:
            print("\t".join(self.row))
            self.row = None
P().feed(sys.stdin.read())'
}

# link SUBJECT: the query string of the webmail link to that message
link() {
	rows | awk -F '\t' -v s="$1" '$3 == s { sub(/^inbox\?/, "", $2); print $2 }'
}

# hidden_fields QUERY FORM_ID: the hidden fields of that form, urlencoded
# and joined with & (what a browser would post)
hidden_fields() {
	cgi "$1" | $PY "$TOP/tests/tools/form-fields.py" "$2" --urlencoded
}

# ---- the configuration -------------------------------------------------------------

@test "contrib/dovecot/dovecot.conf: doveconf accepts it as shipped and with its paths rewritten to scratch files" {
	# as shipped (without -x doveconf does not open the "<" files)
	run doveconf -n -c "$CONTRIB"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'protocols = imap lmtp' <<<"$output"
	grep -qx '  args = scheme=CRYPT username_format=%u /etc/mailpipe/users' <<<"$output"
	grep -qx '  driver = passwd-file' <<<"$output"
	grep -qx 'mail_location = maildir:/var/lib/mailpipe/mailboxes/%d/%n' <<<"$output"
	grep -qx '  args = uid=mailpipe gid=mailpipe home=/var/lib/mailpipe/dovecot/%d/%n' <<<"$output"
	grep -qx 'ssl_cert = </etc/mailpipe/fullchain.pem' <<<"$output"
	[ "$(doveconf -c "$CONTRIB" -h disable_plaintext_auth)" = yes ]
	[ "$(doveconf -c "$CONTRIB" -h ssl)" = yes ]
	[ "$(doveconf -c "$CONTRIB" -h ssl_key)" = '</etc/mailpipe/privkey.pem' ]
	# rewritten to this test's files: -x reads the certificate and key
	sed -e "s#/etc/mailpipe/#$MAILPIPE_CONF/#g" -e "s#/var/lib/mailpipe/#$MP_STATE/#g" \
		"$CONTRIB" > "$MP_DIR/dovecot.conf"
	run doveconf -n -x -P -c "$MP_DIR/dovecot.conf"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	grep -qx "  args = scheme=CRYPT username_format=%u $MAILPIPE_CONF/users" <<<"$output"
	grep -q -- '-----BEGIN CERTIFICATE-----' <<<"$output"
	grep -q -- '-----BEGIN PRIVATE KEY-----' <<<"$output"
	# a missing certificate is an error, not a silent IMAP without TLS
	sed -i "s#$MAILPIPE_CONF/fullchain.pem#$MP_DIR/missing.pem#" "$MP_DIR/dovecot.conf"
	run doveconf -n -x -c "$MP_DIR/dovecot.conf"
	echo "$output"
	[ "$status" -ne 0 ]
	grep -q 'missing.pem' <<<"$output"
}

@test "the private Dovecot runs the contrib file itself, as mail, with nothing of /etc or /var" {
	start_dovecot
	# the shipped settings, then only the private-instance ones appended
	cmp <(sed -e "s#/etc/mailpipe/#$MAILPIPE_CONF/#g" -e "s#/var/lib/mailpipe/#$MP_STATE/#g" \
		-e 's/\(uid\|gid\)=mailpipe/\1=mail/g' -e 's/= mailpipe$/= mail/' "$CONTRIB") \
		<(head -n "$(wc -l < "$CONTRIB")" "$DC_DIR/dovecot.conf")
	[ "$(doveconf -c "$DC_DIR/dovecot.conf" -h base_dir)" = "$DC_DIR/run" ]
	[ "$(doveconf -c "$DC_DIR/dovecot.conf" -h log_path)" = "$DC_DIR/dovecot.log" ]
	# the LMTP socket for smtp-relay only: owner mail (mailpipe), mode 0600
	[ "$(stat -c '%U %a' "$DC_DIR/run/lmtp")" = "mail 600" ]
	imap login "$IMAP_PORT" alice@example.test secret
	# Dovecot wrote its files as mail, beside mail-store's
	[ "$(find "$MP_STATE" ! -user mail | wc -l)" -eq 0 ]
}

# ---- a message smtp-recv accepted, in IMAP --------------------------------------------

@test "a message smtp-recv just accepted is in the INBOX: imaplib and curl see its subject and body" {
	start_dovecot
	listen
	send "Hello over IMAP" "This is the body, line one."
	[ "$(mp_new_count alice)" -eq 1 ]
	# curl, then imaplib
	run curl -sS --user alice@example.test:secret "imap://127.0.0.1:$IMAP_PORT/INBOX;UID=1"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx $'Subject: Hello over IMAP\r' <<<"$output"
	grep -qx $'This is the body, line one.\r' <<<"$output"
	grep -qx $'Delivered-To: alice@example.test\r' <<<"$output"
	# the whole message, byte for byte but for CRLF (Dovecot has moved the
	# file from new/ to cur/ by now: SELECT)
	cmp <(tr -d '\r' <<<"$output") "$(find "$(mp_maildir alice)"/new "$(mp_maildir alice)"/cur -type f)"
	run imap fetch "$IMAP_PORT" alice@example.test secret INBOX
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'exists: 1' <<<"$output"
	grep -qx '1 subject: Hello over IMAP' <<<"$output"
	grep -qx '1 body: This is the body, line one.' <<<"$output"
	# only alice's mail: bob's INBOX is empty
	run imap fetch "$IMAP_PORT" bob@example.test secret INBOX
	grep -qx 'exists: 0' <<<"$output"
}

@test "plain-text LOGIN only on loopback: from 127.0.0.2 LOGINDISABLED until STARTTLS with mailpipe's certificate" {
	start_dovecot
	# 127.0.0.1 to 127.0.0.1: Dovecot counts it as secure
	run imap login "$IMAP_PORT" alice@example.test secret
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^caps: .*STARTTLS' <<<"$output"
	! grep -q 'LOGINDISABLED' <<<"$output" || false
	# another address: no password in clear text
	run imap --source 127.0.0.2 login "$IMAP_PORT" alice@example.test secret
	echo "$output"
	[ "$status" -eq 1 ]
	grep -q '^caps: .*LOGINDISABLED' <<<"$output"
	grep -q '^login: NO .*PRIVACYREQUIRED' <<<"$output" || grep -q '^login: NO .*LOGINDISABLED' <<<"$output"
	# after STARTTLS, verified against mailpipe's tls_cert, it works
	run imap --source 127.0.0.2 --starttls "$MAILPIPE_CONF/fullchain.pem" login "$IMAP_PORT" alice@example.test secret
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^caps: .*AUTH=PLAIN' <<<"$output"
	grep -q '^login: OK' <<<"$output"
	grep -q 'Login: user=<alice@example.test>, method=PLAIN, rip=127.0.0.2, .*TLS' "$DC_DIR/dovecot.log"
}

@test "IDLE: a delivery through smtp-recv while the client waits is reported as EXISTS" {
	start_dovecot
	listen
	send "before idle" "first"
	# the delivery runs once the server has answered IDLE with "+"
	run imap idle "$IMAP_PORT" alice@example.test secret 20 \
		swaks --silent 2 --server 127.0.0.1 --port "$MP_PORT" --from bob@example.test \
		--to alice@example.test --header "Subject: during idle" --body "second"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'exists: 1' <<<"$output"
	grep -qx 'idle: \* [2-9][0-9]* EXISTS' <<<"$output"
	grep -qx 'idle: I1 OK .*' <<<"$output"
	run imap fetch "$IMAP_PORT" alice@example.test secret INBOX
	grep -qx '2 subject: during idle' <<<"$output"
	grep -qx '2 body: second' <<<"$output"
}

# ---- flags and Trash, both ways with the webmail ------------------------------------

@test "\\Seen set over IMAP shows the message read in the webmail list" {
	start_dovecot
	listen
	send "read me in IMAP" "imap body"
	send "left unread" "other body"
	[ "$(rows | grep -c $'^message unread\t')" -eq 2 ]
	run imap fetch "$IMAP_PORT" alice@example.test secret INBOX
	echo "$output"
	grep -qx '1 subject: read me in IMAP' <<<"$output"
	grep -qx '1 flags: ' <<<"$output" || grep -qx '1 flags: \\Recent' <<<"$output"
	run imap store "$IMAP_PORT" alice@example.test secret INBOX 1 '\Seen'
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^1 flags: .*\\Seen' <<<"$output"
	run rows
	echo "$output"
	grep -qx $'message\t.*\tread me in IMAP' <<<"$output"
	grep -qx $'message unread\t.*\tleft unread' <<<"$output"
}

@test "reading a message in the webmail makes IMAP FETCH FLAGS show \\Seen" {
	start_dovecot
	listen
	send "read me on the web" "web body"
	send "not read" "other"
	# an IMAP session first: Dovecot has the messages in its index, unseen
	run imap fetch "$IMAP_PORT" alice@example.test secret INBOX
	echo "$output"
	! grep -q '^[12] flags: .*Seen' <<<"$output" || false
	q=$(link "read me on the web")
	[ -n "$q" ]
	run cgi "$q"
	grep -q '<h1 id="subject">read me on the web</h1>' <<<"$output"
	grep -qx $'message\t.*\tread me on the web' <<<"$(rows)"
	run imap fetch "$IMAP_PORT" alice@example.test secret INBOX
	echo "$output"
	grep -qx '1 subject: read me on the web' <<<"$output"
	grep -q '^1 flags: .*\\Seen' <<<"$output"
	grep -qx '2 subject: not read' <<<"$output"
	! grep -q '^2 flags: .*\\Seen' <<<"$output" || false
}

@test "deleting in the webmail moves the message to the IMAP folder Trash" {
	start_dovecot
	listen
	send "to be deleted" "bye"
	send "to be kept" "stay"
	run imap fetch "$IMAP_PORT" alice@example.test secret INBOX
	grep -qx 'exists: 2' <<<"$output"
	# an IMAP client opened Trash before: Dovecot made the folder .Trash
	run imap fetch "$IMAP_PORT" alice@example.test secret Trash
	grep -qx 'exists: 0' <<<"$output"
	[ -d "$(mp_maildir alice)/.Trash/cur" ]
	q=$(link "to be deleted")
	fields=$(hidden_fields "$q" delete)
	echo "delete form: $fields"
	[[ $fields == *csrf=* ]]
	run cgi_post "$fields"
	echo "$output"
	grep -q '^Status: 303' <<<"$output"
	run imap fetch "$IMAP_PORT" alice@example.test secret Trash
	echo "$output"
	[ "$status" -eq 0 ]
	grep -qx 'exists: 1' <<<"$output"
	grep -qx '[0-9]* subject: to be deleted' <<<"$output"
	grep -qx '[0-9]* body: bye' <<<"$output"
	grep -q $'\tto be deleted$' <<<"$(rows folder=Trash)"
	run imap fetch "$IMAP_PORT" alice@example.test secret INBOX
	echo "$output"
	grep -qx 'exists: 1' <<<"$output"
	grep -qx '2 subject: to be kept' <<<"$output"
	# the webmail's Trash is Dovecot's: the folder list has it with \Trash
	run curl -sS --user alice@example.test:secret "imap://127.0.0.1:$IMAP_PORT/"
	echo "$output"
	grep -q '^\* LIST (.*\\Trash.*) "\." Trash' <<<"$output"
	grep -q '^\* LIST (.*\\Sent.*) "\." Sent' <<<"$output"
}

# ---- passwords -----------------------------------------------------------------------

@test "passwords from the users file: wrong ones refused, \$6\$ and mailpipe-user's \$y\$ both work" {
	start_dovecot
	# alice's hash is SHA-512 crypt
	grep -q '^alice@example.test:\$6\$' "$MAILPIPE_CONF/users"
	imap login "$IMAP_PORT" alice@example.test secret
	# A user added now with mailpipe-user (yescrypt).  Dovecot re-reads the
	# file when its mtime (whole seconds) or size changed, but looks at most
	# once a second (db-passwd-file.c): carol can log in a second later.
	echo 'carol long pass 7' | "$BIN/mailpipe-user" add carol@example.test --stdin
	grep -q '^carol@example.test:\$y\$' "$MAILPIPE_CONF/users"
	# Each failed login makes Dovecot wait longer before its next answer to
	# the same address (auth_failure_delay, then a doubling penalty), so the
	# refused ones come from addresses of their own, under STARTTLS (plain
	# text is for 127.0.0.1 to itself only).
	tls=(--starttls "$MAILPIPE_CONF/fullchain.pem")
	run imap --source 127.0.0.3 "${tls[@]}" login "$IMAP_PORT" alice@example.test wrong
	echo "$output"
	[ "$status" -eq 1 ]
	grep -q '^login: NO .*AUTHENTICATIONFAILED' <<<"$output"
	run imap --source 127.0.0.4 "${tls[@]}" login "$IMAP_PORT" nobody@example.test secret
	echo "$output"
	[ "$status" -eq 1 ]
	grep -q '^login: NO .*AUTHENTICATIONFAILED' <<<"$output"
	mp_wait_until 10 imap login "$IMAP_PORT" carol@example.test 'carol long pass 7' >/dev/null
	run imap --source 127.0.0.5 "${tls[@]}" login "$IMAP_PORT" carol@example.test 'carol long pass 8'
	[ "$status" -eq 1 ]
	grep -q 'auth failed, .*user=<carol@example.test>.*rip=127.0.0.5' "$DC_DIR/dovecot.log"
	# curl too: the right password lists the folders, a wrong one is refused
	run curl -sS --user 'carol@example.test:carol long pass 7' "imap://127.0.0.1:$IMAP_PORT/"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '^\* LIST .* INBOX' <<<"$output"
	run curl -sS --user carol@example.test:wrong "imap://127.0.0.1:$IMAP_PORT/INBOX"
	echo "$output"
	[ "$status" -eq 67 ]   # CURLE_LOGIN_DENIED
}

# ---- LMTP for smtp-relay's lmtp: routes ---------------------------------------------

@test "lmtp: a mailpipe in front relays to this Dovecot (TCP and socket) into the Maildirs; unknown users bounce" {
	start_dovecot
	# the front: another mailpipe (its own configuration and state) for the
	# domain front.test, which routes example.test to this host's LMTP
	local front=$MP_DIR/front
	"$TOP/tests/make-test-conf" "$front"
	echo front.test > "$front/conf/domains"
	grep '^bob@' "$MAILPIPE_CONF/users" | sed 's/^bob@example.test/bob@front.test/' > "$front/conf/users"
	: > "$front/conf/aliases"
	echo "example.test lmtp:127.0.0.1:$LMTP_PORT" > "$front/conf/routes"
	chown -R mail:mail "$front/state"
	printf 'From: bob@front.test\nTo: alice@example.test\nSubject: over lmtp tcp\n\ntcp body\n' |
		as_mail env MAILPIPE_CONF="$front/conf" "$BIN/mail-store" -f bob@front.test -c 127.0.0.1 \
		-- alice@example.test dave@example.test 2>>"$MP_DIR/store.log"
	as_mail env MAILPIPE_CONF="$front/conf" "$BIN/smtp-relay" 2>>"$MP_DIR/relay.log"
	front_db() { sqlite3 "$front/state/mail.db" "$1"; }
	front_db "select address, status, last_reply from recipients"
	[ "$(front_db "select status from recipients where address='alice@example.test'")" = delivered ]
	[ "$(front_db "select status from recipients where address='dave@example.test'")" = bounced ]
	[[ "$(front_db "select last_reply from recipients where address='dave@example.test'")" == 550* ]]
	# Dovecot delivered into alice's Maildir, as mail
	f=$(ls "$(mp_maildir alice)"/new/*)
	grep -qx 'Subject: over lmtp tcp' "$f"
	[ "$(stat -c %U "$f")" = mail ]
	# the webmail shows it, unread, and IMAP has it
	grep -qx $'message unread\t.*\tover lmtp tcp' <<<"$(rows)"
	# the bounce for dave went back to bob at the front
	grep -l 'Status: 5.1.1' "$front"/state/mailboxes/front.test/bob/new/*
	# over the socket, which only mail (mailpipe) may open
	echo "example.test lmtp:$DC_DIR/run/lmtp" > "$front/conf/routes"
	printf 'From: bob@front.test\nTo: alice@example.test\nSubject: over lmtp socket\n\nsocket body\n' |
		as_mail env MAILPIPE_CONF="$front/conf" "$BIN/mail-store" -f bob@front.test -c 127.0.0.1 \
		-- alice@example.test 2>>"$MP_DIR/store.log"
	as_mail env MAILPIPE_CONF="$front/conf" "$BIN/smtp-relay" 2>>"$MP_DIR/relay.log"
	grep -q "host=$DC_DIR/run/lmtp" "$MP_DIR/relay.log"
	run imap fetch "$IMAP_PORT" alice@example.test secret INBOX
	echo "$output"
	grep -qx 'exists: 2' <<<"$output"
	grep -qx '1 body: tcp body' <<<"$output"
	grep -qx '2 subject: over lmtp socket' <<<"$output"
	run runuser -u nobody -- "$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' \
		"$DC_DIR/run/lmtp"
	echo "$output"
	[ "$status" -ne 0 ]
	grep -q PermissionError <<<"$output"
}
