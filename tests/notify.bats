#!/usr/bin/env bats
# tests/notify.bats - mail-notify posting new-mail notices to a real news
# server nobody here wrote: Debian's sn (snntpd, one process per
# connection under systemd-socket-activate, as inetd would run it, with a
# private spool and a local group made by snnewgroup), read back with
# Python's nntplib.  Deliveries go through mail-store; the notices must
# never carry a word of the mail (a marker in every body is looked for in
# the whole spool).  Also: the server down, refusing, silent or not
# letting us post; two runs at once; a run killed after posting; old
# notices expiring; mail.db of versions 1 and 2 upgraded; the units.
#
# Needs (Debian 12): bats, sn, python3 (nntplib: 3.11 or older), sqlite3,
# systemd (systemd-socket-activate); strace for one test (skipped without).

setup() {
	load lib
	mp_setup
	mp_conf timeout 5
	SPOOL=$MP_DIR/spool
	mkdir -p "$SPOOL"
	SNROOT=$SPOOL snnewgroup local.mail >/dev/null 2>&1
	NNTP_PORT=$(mp_free_port)
	MARKER=body-marker-$RANDOM$RANDOM
	NEWS_UPS=0
}

teardown() {
	mp_teardown
	! grep -E 'Sanitizer|runtime error' "$MP_DIR"/notify*.log 2>/dev/null
}

# ---- helpers ----------------------------------------------------------------

# news_up [snntpd]: sn's news server on NNTP_PORT, a process per
# connection.  snntpd (a wrapper that sets POSTING_OK) lets clients post;
# snntpd.bin alone greets with 201.
news_up() {
	# a log per server: one stopped by news_down may never log its last
	# child's end, and news_idle counts this server's children only
	NEWS_LOG=$MP_DIR/snntpd.$((++NEWS_UPS)).log
	systemd-socket-activate --accept --inetd -l "127.0.0.1:$NNTP_PORT" -E SNROOT="$SPOOL" \
		-E PATH="/usr/sbin:/usr/bin:/bin" "/usr/sbin/${1:-snntpd}" 2>"$NEWS_LOG" &
	NEWS_PID=$!
	MP_PIDS+=("$NEWS_PID")
	mp_wait_until 10 mp_port_open "$NNTP_PORT"
	# The probe's snntpd is the first on a new spool and sets up its
	# files; one started beside it can read them half made and exit 7
	# (seen under load), so the probe's must be gone first.
	mp_wait_until 10 news_idle
}

# news_idle: every snntpd systemd-socket-activate started has exited.
news_idle() {
	[ "$(grep -c '^Spawned ' "$NEWS_LOG")" -eq "$(grep -c '^Child .* died' "$NEWS_LOG")" ]
}

news_down() {
	kill "$NEWS_PID"
	wait "$NEWS_PID" 2>/dev/null || true
	! mp_port_open "$NNTP_PORT"
}

# notify_on: notices to the test server, in local.mail.
notify_on() {
	mp_conf notify_nntp "127.0.0.1:$NNTP_PORT"
}

# deliver SENDER SUBJECT RCPT...: one message through mail-store, its
# body holding MARKER.
deliver() {
	local from=$1 subject=$2
	shift 2
	printf 'From: <%s>\nSubject: %s\nMessage-ID: <%s@example.test>\n\nHello,\n%s\nthe text of the mail.\n' \
		"$from" "$subject" "$RANDOM$RANDOM" "$MARKER" |
		"$BIN/mail-store" -f "$from" -c 127.0.0.1 -- "$@" >/dev/null 2>>"$MP_DIR/store.log"
}

# notify [args]: mail-notify for the test configuration, its log in notify.log.
notify() {
	"$BIN/mail-notify" "$@" 2>>"$MP_DIR/notify.log"
}

db() {
	sqlite3 "$MP_STATE/mail.db" "$1"
}

# news_dump [GROUP]: the group as nntplib reads it: "count N", then for
# each article "article N", its Subject and From decoded by nntplib's
# decode_header, and every raw line of the article as "raw: LINE".
news_dump() {
	$PY -W ignore::DeprecationWarning - "$NNTP_PORT" "${1:-local.mail}" <<'PY'
import nntplib, sys
s = nntplib.NNTP("127.0.0.1", int(sys.argv[1]), readermode=True)
_, count, first, last, _ = s.group(sys.argv[2])
overviews = s.over((first, last))[1] if count else []
print("count", len(overviews))
for num, ov in overviews:
    print("article", num)
    print("subject:", nntplib.decode_header(ov["subject"]))
    print("from:", nntplib.decode_header(ov["from"]))
    print("message-id:", ov["message-id"])
    for line in s.article(num)[1].lines:
        print("raw:", line.decode("utf-8", "replace"))
s.quit()
PY
}

news_count() {
	news_dump | sed -n 's/^count //p'
}

# ---- posting ------------------------------------------------------------------

@test "three deliveries to alice and bob: three notices, read with nntplib, none with a word of the mail" {
	notify_on
	news_up
	deliver carol@remote.test 'Lunch on Friday?' alice@example.test
	deliver dave@remote.test 'Minutes of the meeting' bob@example.test erin@elsewhere.test
	deliver carol@remote.test 'Re: Lunch on Friday?' alice@example.test
	[ "$(mp_new_count alice)" -eq 2 ]
	[ "$(mp_new_count bob)" -eq 1 ]
	run notify
	[ "$status" -eq 0 ]
	dump=$(news_dump)
	echo "$dump"
	grep -qx 'count 3' <<<"$dump"
	# one notice per local mailbox of each message (erin is remote: none)
	[ "$(grep '^subject: ' <<<"$dump" | sort)" = "subject: New mail for alice@example.test: Lunch on Friday?
subject: New mail for alice@example.test: Re: Lunch on Friday?
subject: New mail for bob@example.test: Minutes of the meeting" ]
	[ "$(grep -c '^from: carol@remote.test$' <<<"$dump")" -eq 2 ]
	[ "$(grep -c '^from: dave@remote.test$' <<<"$dump")" -eq 1 ]
	[ "$(grep -c '^raw: Newsgroups: local.mail$' <<<"$dump")" -eq 3 ]
	# the body: who, from whom, the subject, size and id
	grep -qx 'raw: Recipient:  bob@example.test' <<<"$dump"
	grep -qx 'raw: Id:         2' <<<"$dump"
	size=$(db "select size from messages where id = 2")
	grep -qx "raw: Size:       $size octets" <<<"$dump"
	# never the text of the mail: not in the articles, nowhere in the spool
	! grep -q "$MARKER" <<<"$dump" || false
	! grep -rqa "$MARKER" "$SPOOL" || false
	grep -rqa "$MARKER" "$MP_STATE/mailboxes"   # (the marker is findable)
	[ "$(db "select count(*) from recipients where kind = 'local' and notice = 'posted'")" -eq 3 ]
	[ "$(db "select count(*) from recipients where kind = 'remote' and notice is not null")" -eq 0 ]
	[ "$(grep -c 'prog=mail-notify event=posted ' "$MP_DIR/notify.log")" -eq 3 ]
	grep -q 'event=posted id=2 rcpt=bob@example.test article=<notify\.[0-9.]*@mx\.example\.test> group=local.mail' \
		"$MP_DIR/notify.log"
	! grep -q 'Minutes' "$MP_DIR/notify.log" || false   # no subject in the log
}

@test "a second run posts nothing more and does not even connect" {
	notify_on
	news_up
	deliver carol@remote.test one alice@example.test
	deliver carol@remote.test two bob@example.test
	deliver carol@remote.test three alice@example.test
	notify
	[ "$(news_count)" -eq 3 ]
	run "$BIN/mail-notify" -v
	[ "$status" -eq 0 ]
	[ -z "$output" ]   # -v shows no dialogue: there was none
	[ "$(news_count)" -eq 3 ]
	[ "$(grep -c 'event=posted' "$MP_DIR/notify.log")" -eq 3 ]
	# a new delivery: exactly one more
	deliver carol@remote.test four bob@example.test
	notify
	[ "$(news_count)" -eq 4 ]
}

@test "an alias of two mailboxes: one notice for each, a null sender's comes from MAILER-DAEMON" {
	notify_on
	news_up
	deliver '' 'Undelivered Mail Returned to Sender' info@example.test
	notify
	dump=$(news_dump)
	grep -qx 'count 2' <<<"$dump"
	grep -qx 'subject: New mail for alice@example.test: Undelivered Mail Returned to Sender' <<<"$dump"
	grep -qx 'subject: New mail for bob@example.test: Undelivered Mail Returned to Sender' <<<"$dump"
	[ "$(grep -c '^from: MAILER-DAEMON@mx.example.test$' <<<"$dump")" -eq 2 ]
	grep -qx 'raw: From:       <> (a report)' <<<"$dump"
}

@test "the server down: deliveries still succeed, mail-notify exits 75, then posts the missing notices once" {
	notify_on
	deliver carol@remote.test 'while down 1' alice@example.test
	deliver carol@remote.test 'while down 2' bob@example.test
	[ "$(mp_new_count alice)" -eq 1 ]
	[ "$(mp_new_count bob)" -eq 1 ]
	before=$(stat -c '%y %s' "$MP_STATE/mail.db"; sha256sum < "$MP_STATE/mail.db")
	run notify
	[ "$status" -eq 75 ]
	grep -q "event=failed server=127.0.0.1:$NNTP_PORT reason=\"cannot connect to 127.0.0.1:$NNTP_PORT: Connection refused\"" \
		"$MP_DIR/notify.log"
	# nothing was claimed or counted: mail.db is as it was (the .path unit watches it)
	[ "$(stat -c '%y %s' "$MP_STATE/mail.db"; sha256sum < "$MP_STATE/mail.db")" = "$before" ]
	# deliveries go on meanwhile
	deliver carol@remote.test 'while down 3' alice@example.test
	[ "$(mp_new_count alice)" -eq 2 ]
	run notify
	[ "$status" -eq 75 ]
	news_up
	run notify
	[ "$status" -eq 0 ]
	dump=$(news_dump)
	grep -qx 'count 3' <<<"$dump"
	for i in 1 2 3; do
		[ "$(grep -c "^subject: New mail for .*: while down $i\$" <<<"$dump")" -eq 1 ]
	done
	run notify
	[ "$status" -eq 0 ]
	[ "$(news_count)" -eq 3 ]
}

@test "a subject with UTF-8, control characters and a CR LF injection arrives as one clean Subject line" {
	notify_on
	news_up
	# through mail-store: an ESC sequence, a bare CR before a would-be
	# header, a tab, an octet that is not UTF-8
	printf 'Subject: Gr\303\274\303\237e aus K\303\266ln \033[31m\rX-Injected: evil\tend \377!\n\n%s\n' "$MARKER" |
		"$BIN/mail-store" -f carol@remote.test -- alice@example.test >/dev/null
	# straight into mail.db, which may hold anything: CR LF, a lone dot
	# line, LF, NEL (U+0085), LINE SEPARATOR (U+2028)
	deliver carol@remote.test placeholder bob@example.test
	db "update messages set subject = 'line one' || char(13, 10) || '.' || char(13, 10) ||
		'Newsgroups: evil.group' || char(10) || 'Control: cancel <x@y>' || char(133) ||
		'nel' || char(8232) || 'ls' where id = 2"
	run notify
	[ "$status" -eq 0 ]
	dump=$(news_dump)
	echo "$dump"
	grep -qx 'count 2' <<<"$dump"
	grep -qxF 'subject: New mail for alice@example.test: Grüße aus Köln [31m X-Injected: evil end �!' <<<"$dump"
	grep -qxF 'subject: New mail for bob@example.test: line one . Newsgroups: evil.group Control: cancel <x@y> nel ls' <<<"$dump"
	# the non-ASCII one went as RFC 2047 words, in one Subject field each
	grep -q '^raw: Subject: New mail for alice@example.test: =?UTF-8?B?' <<<"$dump"
	[ "$(grep -c '^raw: Subject: New mail for ' <<<"$dump")" -eq 2 ]
	# no forged header, no other group, nothing but the article's own lines
	! grep -qE '^raw: (X-Injected|Control|Newsgroups: evil)' <<<"$dump" || false
	[ "$(grep -c '^raw: Newsgroups: local.mail$' <<<"$dump")" -eq 2 ]
	! grep -q $'\033' <<<"$dump" || false
	[ ! -d "$SPOOL/evil.group" ]
}

@test "two mail-notify runs at once post each notice once" {
	notify_on
	news_up
	for i in $(seq 1 40); do   # 80 notices: more than one claim (64) holds
		deliver carol@remote.test "message $i" alice@example.test bob@example.test
	done
	"$BIN/mail-notify" 2>>"$MP_DIR/notify1.log" &
	one=$!
	"$BIN/mail-notify" 2>>"$MP_DIR/notify2.log" &
	two=$!
	wait "$one"
	wait "$two"
	dump=$(news_dump)
	grep -qx 'count 80' <<<"$dump"
	[ "$(grep '^message-id: ' <<<"$dump" | sort -u | wc -l)" -eq 80 ]
	[ "$(grep '^subject: ' <<<"$dump" | sort -u | wc -l)" -eq 80 ]
	[ "$(cat "$MP_DIR"/notify[12].log | grep -c 'event=posted')" -eq 80 ]
	[ "$(db "select count(*) from recipients where notice = 'posted'")" -eq 80 ]
}

@test "without notify_nntp mail-notify exits 0 and does nothing" {
	news_up
	deliver carol@remote.test quiet alice@example.test
	before=$(sha256sum < "$MP_STATE/mail.db")
	run "$BIN/mail-notify" -v
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	[ "$(news_count)" -eq 0 ]
	[ "$(sha256sum < "$MP_STATE/mail.db")" = "$before" ]
	[ "$(db "select count(*) from recipients where notice is null")" -eq 1 ]
}

# ---- failures and recovery ------------------------------------------------------

@test "a run killed after the server took a notice, before marking it: the next run finds it (STAT), no second copy" {
	notify_on
	news_up
	deliver carol@remote.test once alice@example.test
	notify
	[ "$(news_count)" -eq 1 ]
	# as if the run died between 240 and its commit: still claimed by a
	# process that is gone
	db "update recipients set notice = 'posting', notice_claim = '999999999:1' where id = 1"
	run "$BIN/mail-notify" -v
	[ "$status" -eq 0 ]
	grep -q '<<< 223 ' <<<"$output"
	! grep -q '>>> POST' <<<"$output" || false
	grep -q 'event=posted id=1 rcpt=alice@example.test .* already=yes' <<<"$output"
	[ "$(news_count)" -eq 1 ]
	[ "$(db "select notice from recipients where id = 1")" = posted ]
}

@test "a notice the server refuses (441) waits and is retried; the others are posted meanwhile" {
	notify_on
	news_up
	deliver carol@remote.test first alice@example.test
	touch "$SPOOL/local.mail/.nopost"   # sn's SNPOST then answers 441
	run notify
	[ "$status" -eq 75 ]
	grep -q 'event=failed id=1 rcpt=alice@example.test article=<notify.1.1.[0-9]*@mx.example.test> tries=1 reason="441 Posting not allowed to those newsgroups"' \
		"$MP_DIR/notify.log"
	[ "$(db "select quote(notice), notice_tries, notice_reply from recipients where id = 1")" = \
		"NULL|1|441 Posting not allowed to those newsgroups" ]
	[ "$(db "select notice_next - strftime('%s', 'now') between 50 and 61 from recipients where id = 1")" -eq 1 ]
	# not due yet: a run right away leaves it (and does not connect)
	rm "$SPOOL/local.mail/.nopost"
	deliver carol@remote.test second bob@example.test
	run notify
	[ "$status" -eq 0 ]
	[ "$(news_count)" -eq 1 ]
	grep -qx 'subject: New mail for bob@example.test: second' <<<"$(news_dump)"
	# its time comes (as a minute later)
	db "update recipients set notice_next = 0 where id = 1"
	run notify
	[ "$status" -eq 0 ]
	[ "$(news_count)" -eq 2 ]
	[ "$(db "select notice, notice_tries from recipients where id = 1")" = "posted|1" ]
}

@test "a server that answers a POST with INN's duplicate reply (441 435) has the notice: marked posted" {
	notify_on
	# a scripted server, as INN's nnrpd answers a Message-ID it has seen;
	# it keeps the article as it came over the wire
	$PY - "$NNTP_PORT" "$MP_DIR/wire" <<'PY' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(5)
def serve(c):
    f = c.makefile("rwb")
    def say(line): f.write(line.encode() + b"\r\n"); f.flush()
    say("200 news.example.test InterNetNews NNRP server ready (posting ok)")
    for line in f:
        cmd = line.decode().strip().split(" ")[0].upper()
        if cmd == "MODE": say("200 posting ok")
        elif cmd == "STAT": say("430 no such article")
        elif cmd == "QUIT": say("205 bye"); break
        elif cmd == "POST":
            say("340 Ok, recommended message-ID <x@y>")
            article = b""
            for body in f:
                if body == b".\r\n": break
                article += body
            open(sys.argv[2], "ab").write(article)
            say("441 435 Duplicate")
        else: say("500 what?")
while True:
    c, _ = s.accept()
    try:
        serve(c)
    except OSError:
        pass   # the test's port probe connects and hangs up at once
    c.close()
PY
	MP_PIDS+=($!)
	mp_wait_until 10 mp_port_open "$NNTP_PORT"
	deliver carol@remote.test seen-before alice@example.test
	run notify
	[ "$status" -eq 0 ]
	grep -q 'event=posted id=1 rcpt=alice@example.test .* already=yes' "$MP_DIR/notify.log"
	[ "$(db "select notice from recipients")" = posted ]
	# what went over the wire: CR LF line ends only, the header, no mail text
	[ -s "$MP_DIR/wire" ]
	! grep -q "$MARKER" "$MP_DIR/wire" || false
	[ "$(tr -cd '\n' < "$MP_DIR/wire" | wc -c)" -eq "$(grep -c $'\r$' "$MP_DIR/wire")" ]
	grep -q $'^Subject: New mail for alice@example.test: seen-before\r$' "$MP_DIR/wire"
	grep -q $'^Newsgroups: local.mail\r$' "$MP_DIR/wire"
}

@test "a server that does not let us post (201) is not posted to: exit 69, nothing claimed" {
	notify_on
	news_up snntpd.bin
	deliver carol@remote.test denied alice@example.test
	run "$BIN/mail-notify" -v
	[ "$status" -eq 69 ]
	grep -q '<<< 201 ' <<<"$output"
	! grep -q '>>> POST' <<<"$output" || false
	grep -q 'event=failed server=127.0.0.1:[0-9]* reason="posting not allowed: 201 ' <<<"$output"
	[ "$(db "select quote(notice), notice_tries from recipients")" = "NULL|0" ]
}

@test "a server that accepts and never answers: mail-notify gives up after timeout, exit 75" {
	notify_on
	mp_conf timeout 2
	$PY -c 'import socket, signal, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(5)
conns = []
while True: conns.append(s.accept())' "$NNTP_PORT" &
	MP_PIDS+=($!)
	mp_wait_until 10 mp_port_open "$NNTP_PORT"
	deliver carol@remote.test silent alice@example.test
	start=$SECONDS
	run timeout 30 "$BIN/mail-notify"
	[ "$status" -eq 75 ]
	[ $((SECONDS - start)) -le 10 ]
	grep -q 'reason="127.0.0.1:[0-9]*: timed out waiting for the reply"' <<<"$output"
	[ "$(db "select quote(notice), notice_tries from recipients")" = "NULL|0" ]
}

@test "a notice not posted within queue_lifetime expires instead" {
	notify_on
	news_up
	deliver carol@remote.test ancient alice@example.test
	deliver carol@remote.test recent bob@example.test
	db "update messages set time = time - 6 * 86400 where id = 1"
	run notify
	[ "$status" -eq 0 ]
	grep -q 'event=expired id=1 rcpt=alice@example.test' "$MP_DIR/notify.log"
	dump=$(news_dump)
	grep -qx 'count 1' <<<"$dump"
	grep -qx 'subject: New mail for bob@example.test: recent' <<<"$dump"
	[ "$(db "select notice from recipients order by id" | tr '\n' ' ')" = "expired posted " ]
}

@test "mail.db of version 2 (and 1) is upgraded in place: rows kept, notices for recent deliveries" {
	notify_on
	news_up
	v2_messages="CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,
		client TEXT, helo TEXT, sender TEXT NOT NULL, size INTEGER NOT NULL, message_id TEXT,
		subject TEXT, queue_file TEXT, notified INTEGER NOT NULL DEFAULT 0%s);"
	v2_recipients="CREATE TABLE recipients (id INTEGER PRIMARY KEY, message INTEGER NOT NULL
		REFERENCES messages(id) ON DELETE CASCADE, address TEXT NOT NULL, kind TEXT NOT NULL
		CHECK (kind IN ('local', 'remote')), status TEXT NOT NULL, attempts INTEGER NOT NULL
		DEFAULT 0, next_try INTEGER, last_reply TEXT, mailbox_file TEXT%s);
		CREATE INDEX recipients_pending ON recipients(status, next_try);
		CREATE INDEX recipients_message ON recipients(message);"
	for version in 2 1; do
		# a new mail.db counts from 1 again: a spool of its own, as its
		# notices may share Message-IDs with the last one's (same rows,
		# same second)
		rm -rf "$MP_STATE" && mkdir "$MP_STATE"
		news_down
		SPOOL=$MP_DIR/spool-v$version
		mkdir "$SPOOL"
		SNROOT=$SPOOL snnewgroup local.mail >/dev/null 2>&1
		news_up
		if [ "$version" = 2 ]; then
			schema="$(printf "$v2_messages" ', warned INTEGER NOT NULL DEFAULT 0')
				$(printf "$v2_recipients" ', claim TEXT')
				CREATE INDEX messages_queue_file ON messages(queue_file);"
		else
			schema="$(printf "$v2_messages" '') $(printf "$v2_recipients" '')"
		fi
		sqlite3 "$MP_STATE/mail.db" "PRAGMA journal_mode=WAL; $schema
			INSERT INTO messages (time, sender, size, subject) VALUES
				(strftime('%s', 'now') - 60, 'old@remote.test', 100, 'from v$version');
			INSERT INTO recipients (message, address, kind, status) VALUES
				(1, 'alice@example.test', 'local', 'delivered'),
				(1, 'x@remote.test', 'remote', 'pending');
			PRAGMA user_version = $version;" >/dev/null
		# the next delivery upgrades it
		deliver carol@remote.test "after v$version" bob@example.test
		[ "$(db 'PRAGMA user_version')" -eq 3 ]
		[ "$(db "select id, address, kind, status from recipients order by id" | tr '\n' ' ')" = \
			"1|alice@example.test|local|delivered 2|x@remote.test|remote|pending 3|bob@example.test|local|delivered " ]
		[ "$(db "select count(*) from pragma_table_info('recipients') where name like 'notice%'")" -eq 5 ]
		[ "$(db "select count(*) from pragma_table_info('recipients') where name = 'claim'")" -eq 1 ]
		[ "$(db "select count(*) from pragma_table_info('messages') where name = 'warned'")" -eq 1 ]
		db "select name from sqlite_master where type = 'index'" | grep -qx recipients_notice
		run notify
		[ "$status" -eq 0 ]
		[ "$(db "select address, notice from recipients where kind = 'local' order by id" | tr '\n' ' ')" = \
			"alice@example.test|posted bob@example.test|posted " ]
		dump=$(news_dump)
		grep -qx 'count 2' <<<"$dump"
		grep -qx "subject: New mail for alice@example.test: from v$version" <<<"$dump"
		grep -qx "subject: New mail for bob@example.test: after v$version" <<<"$dump"
	done
}

@test "mail-notify never opens a message file (strace)" {
	command -v strace >/dev/null || skip "strace is not installed"
	strace -o /dev/null true 2>/dev/null || skip "strace cannot trace here"
	notify_on
	news_up
	deliver carol@remote.test traced alice@example.test bob@example.test
	# (LeakSanitizer cannot run under ptrace: off for the sanitizer build)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		run strace -f -e trace=open,openat,openat2,creat,execve -o "$MP_DIR/trace" "$BIN/mail-notify"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(news_count)" -eq 2 ]
	grep -q "$MP_STATE/mail.db" "$MP_DIR/trace"
	! grep -E "$MP_STATE/(mailboxes|queue|tmp)" "$MP_DIR/trace" || false
}

# ---- configuration, arguments, units ----------------------------------------------

@test "a bad notify_nntp or notify_group exits 78 naming the file and line; bad arguments exit 64" {
	for bad in 'news.example.test:0' 'news.example.test:http' '[::1' '::1:119' 'news.example.test:70000' ':119'; do
		mp_conf notify_nntp "$bad"
		run "$BIN/mail-notify"
		[ "$status" -eq 78 ]
		line=$(grep -n '^notify_nntp ' "$MAILPIPE_CONF/mailpipe.conf" | cut -d: -f1)
		[ "$output" = "mail-notify: $MAILPIPE_CONF/mailpipe.conf:$line: notify_nntp: expected HOST:PORT, not \"$bad\"" ]
	done
	mp_conf notify_nntp '[::1]:1119'
	for bad in 'local.mail,control' 'local..mail' 'local.mail.' 'local.*'; do
		mp_conf notify_group "$bad"
		run "$BIN/mail-notify"
		[ "$status" -eq 78 ]
		[[ $output == "mail-notify: $MAILPIPE_CONF/mailpipe.conf:"*": notify_group: not a newsgroup name: \"$bad\"" ]]
	done
	mp_conf notify_group local.mail
	mp_conf notify_colour blue
	run "$BIN/mail-notify"
	[ "$status" -eq 78 ]
	[[ $output == *'unknown key "notify_colour"'* ]]
	run "$BIN/mail-notify" -x
	[ "$status" -eq 64 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ $output == 'mail-notify: unknown option -x (usage: mail-notify [-h] [-v])' ]]
	run "$BIN/mail-notify" now
	[ "$status" -eq 64 ]
	run "$BIN/mail-notify" -h
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == 'usage: mail-notify [-h] [-v]' ]]
}

@test "the units: a oneshot mail-notify run as mailpipe, out of reach of the mail, on mail.db changes and every minute" {
	svc=$TOP/systemd/mail-notify.service
	path=$TOP/systemd/mail-notify.path
	timer=$TOP/systemd/mail-notify.timer
	grep -qx 'Type=oneshot' "$svc"
	grep -qx 'ExecStart=/usr/local/sbin/mail-notify' "$svc"
	grep -qx 'User=mailpipe' "$svc"
	grep -qx 'ReadWritePaths=/var/lib/mailpipe' "$svc"
	inaccessible=$(sed -n 's/^InaccessiblePaths=//p' "$svc")
	for d in mailboxes queue tmp; do
		[[ " $inaccessible " == *" -/var/lib/mailpipe/$d "* ]] || { echo "service can read $d"; false; }
	done
	! grep -q '^\[Install\]' "$svc" || false
	# the path unit: mail.db itself, which only writers open for writing
	grep -qx 'PathChanged=/var/lib/mailpipe/mail.db' "$path"
	grep -qx 'Unit=mail-notify.service' "$path"
	grep -qx 'WantedBy=paths.target' "$path"
	grep -qx 'OnCalendar=minutely' "$timer"
	grep -qx 'Persistent=true' "$timer"
	grep -qx 'WantedBy=timers.target' "$timer"
	# the claim above: a read-only connection does not open mail.db for writing
	notify_on
	deliver carol@remote.test watched alice@example.test
	db "update recipients set notice = 'posted'"
	$PY - "$MP_STATE" "$BIN/mail-notify" <<'PY'
import ctypes, os, struct, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
IN_CLOSE_WRITE = 0x8
assert libc.inotify_add_watch(fd, (sys.argv[1] + "/mail.db").encode(), IN_CLOSE_WRITE) >= 0
subprocess.run([sys.argv[2]], check=True)          # nothing due: read-only look
try:
    events = os.read(fd, 4096)
except BlockingIOError:
    events = b""
assert events == b"", "mail-notify with nothing due closed mail.db after writing"
subprocess.run(["sqlite3", sys.argv[1] + "/mail.db", "update recipients set notice = null"], check=True)
assert os.read(fd, 4096), "a writer's close is not seen"
PY
}
