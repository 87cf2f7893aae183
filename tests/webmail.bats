# The webmail (cgi-bin/inbox, cgi-bin/compose) behind a private lighttpd:
# HTTP-level checks with curl, and a real browser (Debian's chromium driven
# by playwright-core, tests/web/browser.js) for the whole flow and for
# hostile messages.
#
# Needs (Debian 12): bats, lighttpd, curl, sqlite3, python3, chromium,
# node + npm with tests/web/node_modules (make deps: npm ci).  The browser
# tests are skipped, saying why, only when chromium or node is missing.
# Screenshots: tests/out/screenshots/.
bats_require_minimum_version 1.5.0

setup() {
	load lib
	mp_setup
	mp_cgi_dir
	export MAILPIPE_STORE=${MAILPIPE_STORE:-$BIN/mail-store}
	WEB_DIR=$MP_DIR/web
	mkdir -p "$WEB_DIR"
	WEB_PORT=$(mp_free_port)
	"$TOP/tests/tools/web-server" start "$WEB_DIR" "$WEB_PORT" "$CGI"
	URL=http://127.0.0.1:$WEB_PORT/cgi-bin
	SHOTS=$TOP/tests/out/screenshots
}

teardown() {
	[ -z "${WEB_DIR:-}" ] || "$TOP/tests/tools/web-server" stop "$WEB_DIR"
	mp_teardown
}

db() { sqlite3 "$MP_STATE/mail.db" "$1"; }

# http_code USER PATH [curl args]: the status of a request
http_code() {
	local user=$1 path=$2; shift 2
	curl -s -o /dev/null -w '%{http_code}' ${user:+-u "$user:secret"} "$@" "$URL/$path"
}

# form_fields USER PATH FORM_ID: the hidden fields of that form on the page,
# one name=value a line (what a browser would submit with it)
form_fields() {
	curl -s -u "$1:secret" "$URL/$2" | $PY "$TOP/tests/tools/form-fields.py" "$3"
}

# csrf USER: the csrf token in USER's compose form
csrf() {
	form_fields "$1" compose compose | sed -n 's/^csrf=//p'
}

# deliver SENDER RCPT SUBJECT: a message through mail-store
deliver() {
	printf 'From: <%s>\nTo: <%s>\nSubject: %s\nMessage-ID: <%s.%s@example.test>\n\nhello %s\n' \
		"$1" "$2" "$3" "$RANDOM" "$RANDOM" "$3" | "$BIN/mail-store" -f "$1" "$2" >/dev/null
}

# The Maildir base name (no :2,info) of the only message in USER's new/
only_name() { basename "$(mp_only_file "$1")"; }

# plant USER SECONDS: stdin as a message file in USER's new/, the way a
# delivery would name it
plant() {
	local dir size name
	dir=$(mp_maildir "$1")
	mkdir -p "$dir/tmp" "$dir/new" "$dir/cur"
	cat > "$dir/tmp/planted"
	size=$(stat -c %s "$dir/tmp/planted")
	name="$2.M1P1Q$2.test,S=$size"
	mv "$dir/tmp/planted" "$dir/new/$name"
	echo "$name"
}

is_png() {
	[ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]
}

need_browser() {
	command -v node >/dev/null || skip "node is missing (make deps)"
	[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || skip "chromium is missing (make deps)"
	[ -d "$TOP/tests/web/node_modules/playwright-core" ] || {
		echo "tests/web/node_modules/playwright-core is missing: run make deps" >&2
		return 1
	}
}

# ---------------------------------------------------------------- HTTP

@test "web: without credentials or with a wrong password lighttpd answers 401" {
	[ "$(http_code '' inbox)" = 401 ]
	[ "$(http_code '' compose)" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u alice@example.test:wrong "$URL/inbox")" = 401 ]
	[ "$(curl -s -o /dev/null -w '%{http_code}' -u nobody@example.test:secret "$URL/inbox")" = 401 ]
	[ "$(http_code alice@example.test inbox)" = 200 ]
}

@test "web: run without REMOTE_USER, or with one not in users, the CGIs answer 403 and exit 0" {
	local prog who out
	for prog in inbox compose; do
		for who in '' nobody@example.test; do
			run env -i MAILPIPE_CONF="$MAILPIPE_CONF" REQUEST_METHOD=GET ${who:+REMOTE_USER=$who} \
				GATEWAY_INTERFACE=CGI/1.1 "$CGI/$prog"
			echo "$prog REMOTE_USER=$who: status $status: ${output:0:300}"
			[ "$status" -eq 0 ]
			printf '%s\n' "$output" | tr -d '\r' | sed '/^$/q' | grep -q '^Status: 403'
		done
	done
}

@test "web: every page carries the security headers; the stylesheet is text/css" {
	local page h
	deliver alice@example.test bob@example.test headers
	local name
	name=$(only_name bob)
	for page in inbox compose "inbox?m=$name" "inbox?folder=Trash" "inbox?m=../x"; do
		h=$(curl -s -D - -o /dev/null -u bob@example.test:secret "$URL/$page" | tr -d '\r')
		echo "== $page"; echo "$h"
		grep -qx "Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" <<<"$h"
		grep -qix 'X-Content-Type-Options: nosniff' <<<"$h"
		grep -qix 'Referrer-Policy: no-referrer' <<<"$h"
		grep -qix 'X-Frame-Options: DENY' <<<"$h"
		grep -qi '^Cache-Control: .*no-store' <<<"$h"
	done
	h=$(curl -s -D - -o "$MP_DIR/style.css" -u bob@example.test:secret "$URL/inbox?css" | tr -d '\r')
	grep -q '^HTTP/1.1 200' <<<"$h"
	grep -qi '^Content-Type: text/css' <<<"$h"
	[ -s "$MP_DIR/style.css" ]
	curl -s -u bob@example.test:secret "$URL/inbox" | grep -q '<link rel="stylesheet" href="inbox?css">'
}

@test "web: a bad or foreign message name is 404 and touches nothing" {
	deliver bob@example.test alice@example.test "for alice only"
	local name file
	file=$(mp_only_file alice)
	name=$(basename "$file")
	for q in "m=../../../etc/passwd" "m=..%2F..%2F..%2Fetc%2Fpasswd" "m=$name" "m=$name&part=1" \
		"m=$name&html=1" "m=new%2F$name" "m=../../alice/new/$name" "m=.." "m=nonexistent.M1P1Q1.test,S=1"; do
		code=$(http_code bob@example.test "inbox?$q")
		echo "bob: inbox?$q -> $code"
		[ "$code" = 404 ]
	done
	# not moved, not marked read by bob's requests
	[ -f "$file" ]
	# and the owner may read it
	[ "$(http_code alice@example.test "inbox?m=$name")" = 200 ]
}

@test "web: POST delete without a valid csrf is 403 CSRF and the message stays; with it, 303 to the Trash" {
	deliver alice@example.test bob@example.test "keep me"
	local name file token field
	file=$(mp_only_file bob)
	name=$(basename "$file")
	# the delete form's hidden fields but csrf, as a browser would post them
	local -a rest=()
	while IFS= read -r field; do
		[[ $field == csrf=* ]] || rest+=(--data-urlencode "$field")
	done < <(form_fields bob@example.test "inbox?m=$name" delete)
	echo "the form's other fields: ${rest[*]}"
	# reading it moved it to cur/ (seen)
	file=$(ls -d "$(mp_maildir bob)/cur/$name"*)
	[ -f "$file" ]
	[[ " ${rest[*]} " == *" m=$name "* ]]
	run curl -s -w '\n%{http_code}' -u bob@example.test:secret "${rest[@]}" "$URL/inbox"
	echo "no csrf: $output"
	[ "${lines[-1]}" = 403 ]
	[[ "$output" == *CSRF* ]]
	run curl -s -w '\n%{http_code}' -u bob@example.test:secret "${rest[@]}" \
		--data-urlencode csrf=0123456789abcdef "$URL/inbox"
	echo "bogus csrf: $output"
	[ "${lines[-1]}" = 403 ]
	# a token of alice's is not bob's
	token=$(csrf alice@example.test)
	[ -n "$token" ]
	run curl -s -w '\n%{http_code}' -u bob@example.test:secret "${rest[@]}" \
		--data-urlencode "csrf=$token" "$URL/inbox"
	echo "alice's csrf: $output"
	[ "${lines[-1]}" = 403 ]
	[ -f "$file" ]
	[ "$(count_files "$(mp_maildir bob)/.Trash/cur")" -eq 0 ]
	# with bob's own token (the spec's fields: m and csrf) it works
	token=$(csrf bob@example.test)
	run curl -s -D - -o /dev/null -u bob@example.test:secret --data-urlencode "m=$name" \
		--data-urlencode "csrf=$token" "$URL/inbox"
	echo "m and bob's csrf: $output"
	[[ "$output" == "HTTP/1.1 303"* ]]
	grep -qi '^Location: .*inbox' <<<"$output"
	[ ! -e "$file" ]
	ls "$(mp_maildir bob)/.Trash/cur/" | grep -q "^$name"
}

@test "web: CR LF in To or Subject never becomes a header or a recipient" {
	local token out code f
	token=$(csrf alice@example.test)
	[ -n "$token" ]
	# CR LF in an address: refused (the spec: an address with CR/LF is an error)
	run curl -s -w '\n%{http_code}' -u alice@example.test:secret --form-string "csrf=$token" \
		--form-string $'to=bob@example.test\r\nBcc: evil@example.test' --form-string subject=to-injection \
		--form-string body=hi "$URL/compose"
	echo "to with CRLF: $output"
	[[ "${lines[-1]}" == 4* ]]
	[[ "$output" == *'id="error"'* ]]
	[ "$(mp_new_count bob)" -eq 0 ]
	# CR LF in the subject: refused, or sent with the subject as one header
	run curl -s -w '\n%{http_code}' -u alice@example.test:secret --form-string "csrf=$token" \
		--form-string to=bob@example.test --form-string $'subject=x\r\nBcc: evil@example.test' \
		--form-string body=hi "$URL/compose"
	echo "subject with CRLF: $output"
	code=${lines[-1]}
	if [ "$code" = 200 ]; then
		[[ "$output" == *'id="result"'* ]]
		f=$(mp_only_file bob)
		cat "$f"
		# the header block has no Bcc line and no line that starts with the payload
		! sed '/^$/q' "$f" | grep -qi '^bcc:' || false
		! sed '/^$/q' "$f" | grep -qi '^ *bcc: *evil' || false
	else
		[[ "$code" == 4* ]]
		[ "$(mp_new_count bob)" -eq 0 ]
	fi
	# evil@ is nowhere: not a recipient, not in the queue, not in any mailbox
	if [ -f "$MP_STATE/mail.db" ]; then
		run db 'select * from recipients'
		echo "recipients: $output"
		[[ "$output" != *evil* ]]
	fi
	! grep -rqi 'evil@example.test' "$MP_STATE/queue" 2>/dev/null || false
	[ ! -e "$MP_STATE/mailboxes/example.test/evil" ]
}

@test "web: compose takes a urlencoded POST too; a bad address or no recipient is a 4xx with #error" {
	local token
	token=$(csrf alice@example.test)
	run curl -s -w '\n%{http_code}' -u alice@example.test:secret --data-urlencode "csrf=$token" \
		--data-urlencode to=bob@example.test --data-urlencode 'subject=form post' \
		--data-urlencode 'body=line one' "$URL/compose"
	echo "$output"
	[ "${lines[-1]}" = 200 ]
	[[ "$output" =~ id=\"result\"\>Sent:\ id=([0-9]+) ]]
	[ "$(db "select subject from messages where id=${BASH_REMATCH[1]}")" = "form post" ]
	grep -q '^Subject: form post$' "$(mp_only_file bob)"
	for to in 'bob' 'bob @example.test' ''; do
		run curl -s -w '\n%{http_code}' -u alice@example.test:secret --data-urlencode "csrf=$token" \
			--data-urlencode "to=$to" --data-urlencode 'subject=bad' --data-urlencode 'body=x' "$URL/compose"
		echo "to='$to': $output"
		[[ "${lines[-1]}" == 4* ]]
		[[ "$output" == *'id="error"'* ]]
	done
	# no csrf: 403
	run curl -s -w '\n%{http_code}' -u alice@example.test:secret --data-urlencode to=bob@example.test \
		--data-urlencode 'subject=no csrf' --data-urlencode 'body=x' "$URL/compose"
	[ "${lines[-1]}" = 403 ]
	[ "$(mp_new_count bob)" -eq 1 ]
}

@test "web: unknown local recipient is refused with #error; Bcc reaches its recipient and shows in no copy" {
	local token
	token=$(csrf alice@example.test)
	run curl -s -w '\n%{http_code}' -u alice@example.test:secret --data-urlencode "csrf=$token" \
		--data-urlencode to=nobody@example.test --data-urlencode 'subject=lost' --data-urlencode 'body=x' "$URL/compose"
	echo "$output"
	[[ "${lines[-1]}" == [45]* ]]
	[[ "$output" == *'id="error"'* ]]
	run curl -s -w '\n%{http_code}' -u alice@example.test:secret --data-urlencode "csrf=$token" \
		--data-urlencode to=bob@example.test --data-urlencode bcc=info@example.test \
		--data-urlencode 'subject=with bcc' --data-urlencode 'body=x' "$URL/compose"
	echo "$output"
	[ "${lines[-1]}" = 200 ]
	# info@ is alice and bob: bob once (duplicates collapse), alice once
	[ "$(mp_new_count bob)" -eq 1 ]
	[ "$(mp_new_count alice)" -eq 1 ]
	! grep -qi '^bcc:' "$(mp_only_file bob)" "$(mp_only_file alice)" || false
	# the sender's copy in .Sent, seen
	ls "$(mp_maildir alice)/.Sent/cur/" | grep -q ':2,S$'
}

@test "web: reply all and forward prefill the form" {
	printf 'From: Carol <carol@remote.test>\nTo: bob@example.test, dave@remote.test\nCc: alice@example.test\nSubject: plans\nMessage-ID: <plans@remote.test>\n\nshall we?\n' |
		"$BIN/mail-store" -f carol@remote.test bob@example.test >/dev/null
	local name form
	name=$(only_name bob)
	form=$(curl -s -u bob@example.test:secret "$URL/compose?reply=$name&all=1")
	echo "$form"
	grep -q 'id="to"[^>]*value="[^"]*carol@remote.test' <<<"$form"
	grep -q 'id="cc"[^>]*value="[^"]*dave@remote.test' <<<"$form"
	grep -q 'id="cc"[^>]*value="[^"]*alice@example.test' <<<"$form"
	! grep -q 'id="cc"[^>]*value="[^"]*bob@example.test' <<<"$form" || false
	grep -q 'id="subject"[^>]*value="Re: plans"' <<<"$form"
	grep -q 'name="in_reply_to"[^>]*value="&lt;plans@remote.test&gt;"\|name="in_reply_to"[^>]*value="<plans@remote.test>"\|value="&lt;plans@remote.test&gt;"[^>]*name="in_reply_to"' <<<"$form"
	grep -q '^&gt; \{0,1\}shall we?' <<<"$form"
	form=$(curl -s -u bob@example.test:secret "$URL/compose?forward=$name")
	echo "$form"
	grep -q 'id="subject"[^>]*value="Fwd: plans"' <<<"$form"
	grep -q 'id="to"[^>]*value=""' <<<"$form"
}

@test "web: 50 messages a page, newest first, with links to older and newer pages" {
	local i
	for i in $(seq 1 51); do
		printf 'From: <n@remote.test>\nSubject: number %d\nDate: %s\n\nx\n' "$i" \
			"$(date -R -u -d "@$((1700000000 + i * 60))")" | plant bob $((1700000000 + i * 60)) >/dev/null
	done
	local page
	page=$(curl -s -u bob@example.test:secret "$URL/inbox")
	[ "$(grep -o '<tr class="message[^"]*"' <<<"$page" | wc -l)" -eq 50 ]
	grep -q '<title>Inbox (51) — mailpipe</title>' <<<"$page"
	[ "$(grep -o 'class="subject" href="[^"]*">[^<]*' <<<"$page" | head -n 1 | sed 's/.*>//')" = "number 51" ]
	grep -q 'id="older"' <<<"$page"
	! grep -q 'id="newer"' <<<"$page" || false
	page=$(curl -s -u bob@example.test:secret "$URL/inbox?page=2")
	[ "$(grep -o '<tr class="message[^"]*"' <<<"$page" | wc -l)" -eq 1 ]
	grep -q '>number 1<' <<<"$page"
	grep -q 'id="newer"' <<<"$page"
	! grep -q 'id="older"' <<<"$page" || false
}

@test "web: an upload over max_size is a 413 page saying so, and nothing is sent" {
	mp_conf max_size 100000
	head -c 200000 /dev/urandom > "$MP_DIR/big.bin"
	local token error
	token=$(csrf alice@example.test)
	[ -n "$token" ]
	run curl -s -w '\n%{http_code}' -u alice@example.test:secret --form-string "csrf=$token" \
		--form-string to=bob@example.test --form-string subject=big --form-string body=big \
		-F "attach=@$MP_DIR/big.bin;type=application/octet-stream" "$URL/compose"
	echo "${output:0:2000}"
	[ "${lines[-1]}" = 413 ]
	[[ "$output" == *'id="error"'* ]]
	[[ "${output,,}" == *"too large"* ]]
	# a limit it names is the real one, not rounded to nothing
	error=$(grep -o '<p id="error">[^<]*' <<<"$output")
	! grep -Eq '(^|[^0-9.])0 ?([kKMG]i?)?B\b' <<<"$error" || false
	[ "$(mp_new_count bob)" -eq 0 ]
	[ "$(count_files "$(mp_maildir alice)/.Sent/cur")" -eq 0 ]
	[ ! -f "$MP_STATE/mail.db" ] || [ "$(db 'select count(*) from messages')" -eq 0 ]
	# under the limit it goes
	head -c 20000 /dev/urandom > "$MP_DIR/small.bin"
	run curl -s -w '\n%{http_code}' -u alice@example.test:secret --form-string "csrf=$token" \
		--form-string to=bob@example.test --form-string subject=small --form-string body=small \
		-F "attach=@$MP_DIR/small.bin" "$URL/compose"
	[ "${lines[-1]}" = 200 ]
	[ "$(mp_new_count bob)" -eq 1 ]
}

@test "web: contrib/lighttpd/mailpipe.conf passes lighttpd -tt (paths pointed at scratch files)" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=mail.example.org -keyout "$MP_DIR/key.pem" -out "$MP_DIR/cert.pem" 2>/dev/null
	mkdir -p "$MP_DIR/uploads"
	sed -e "s#/etc/letsencrypt/live/mail.example.org/fullchain.pem#$MP_DIR/cert.pem#" \
	    -e "s#/etc/letsencrypt/live/mail.example.org/privkey.pem#$MP_DIR/key.pem#" \
	    -e "s#/var/cache/lighttpd-mailpipe/uploads#$MP_DIR/uploads#" \
	    -e "s#/var/log/lighttpd-mailpipe/error.log#$MP_DIR/error.log#" \
	    -e "s#/etc/mailpipe/users#$MAILPIPE_CONF/users#" \
	    -e 's#^server.username .*#server.username = "nobody"#' \
	    -e 's#^server.groupname .*#server.groupname = "nogroup"#' \
	    "$TOP/contrib/lighttpd/mailpipe.conf" > "$MP_DIR/prod.conf"
	# every site-specific path was replaced (the test follows the file)
	! grep -q '/etc/letsencrypt\|/var/cache\|/var/log' "$MP_DIR/prod.conf" || false
	run lighttpd -tt -f "$MP_DIR/prod.conf"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'auth.backend.htpasswd.userfile = "/etc/mailpipe/users"' "$TOP/contrib/lighttpd/mailpipe.conf"
	grep -q 'server.username *= "mailpipe"' "$TOP/contrib/lighttpd/mailpipe.conf"
}

# ---------------------------------------------------------------- browser

@test "browser: alice sends with an attachment, bob reads, downloads, replies, deletes" {
	need_browser
	head -c 307200 /dev/urandom > "$MP_DIR/report-q3.bin"
	rm -f "$SHOTS/compose.png" "$SHOTS/inbox.png" "$SHOTS/message.png"
	run timeout 300 node "$TOP/tests/web/browser.js" flow --base "$URL/" --shots "$SHOTS" \
		--attach "$MP_DIR/report-q3.bin"
	echo "$output"
	[ "$status" -eq 0 ]
	for f in compose inbox message; do
		is_png "$SHOTS/$f.png"
	done
	# bob's copy of the original is in his Trash, the reply in his Sent
	[ "$(count_files "$(mp_maildir bob)/.Trash/cur")" -eq 1 ]
	# on disk: the reply in alice's Maildir refers to the original
	local orig msgid reply
	orig=$(ls -d "$(mp_maildir bob)"/.Trash/cur/*)
	msgid=$(sed '/^$/q' "$orig" | grep -i -m1 '^Message-Id:' | sed 's/^[^:]*: *//')
	[ -n "$msgid" ]
	reply=$(find "$(mp_maildir alice)/new" "$(mp_maildir alice)/cur" -type f -exec grep -li '^In-Reply-To:' {} +)
	echo "original $msgid, reply $reply"
	[ "$(wc -l <<<"$reply")" -eq 1 ]
	sed '/^$/q' "$reply" | grep -qiF "In-Reply-To: $msgid"
	[ "$(count_files "$(mp_maildir bob)/.Sent/cur")" -eq 1 ]
	ls "$(mp_maildir bob)/.Sent/cur/" | grep -q ':2,S$'
	[ "$(count_files "$(mp_maildir bob)/new")" -eq 0 ]
	[ "$(count_files "$(mp_maildir bob)/cur")" -eq 0 ]
}

# the hostile messages of browser.js's XSS_EXPECT, planted in bob's new/
plant_hostile() {
	local track="http://127.0.0.1:$WEB_PORT/track"
	b64() { printf '%s' "$1" | base64 -w0; }
	X1=$(plant bob 1700000001 <<EOF
From: "<img src=x onerror=alert('xss-from')>" <mallory@evil.test>
To: bob@example.test
Subject: [x1] <script>alert('xss-subject')</script>
Date: Tue, 14 Nov 2023 22:13:21 +0000
Message-ID: <x1@evil.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

<script>document.title='pwned'</script>
<img src=x onerror="window.pwned=1;console.log('xss-ran-body')">
<a href="javascript:alert('xss-href')">click me</a>
EOF
)
	X2=$(plant bob 1700000002 <<EOF
From: =?UTF-8?B?$(b64 "<script>alert('xss-from-2047')</script>")?= <mallory@evil.test>
To: bob@example.test
Subject: [x2] =?UTF-8?B?$(b64 "<img src=x onerror=alert('xss-2047')>")?=
Date: Tue, 14 Nov 2023 22:13:22 +0000
Message-ID: <x2@evil.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

plain body of x2
EOF
)
	X3=$(plant bob 1700000003 <<EOF
From: Mallory <mallory@evil.test>
To: bob@example.test
Subject: [x3] an HTML newsletter
Date: Tue, 14 Nov 2023 22:13:23 +0000
Message-ID: <x3@evil.test>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head>
<meta http-equiv="refresh" content="0;url=javascript:alert('xss-meta')">
<style>body { background: url($track-css) }</style>
<script>alert('xss-html'); console.log('xss-ran-html')</script>
</head><body onload="alert('xss-onload')">
<p>Visible HTML text</p>
<img src="$track">
<img src=x onerror="alert('xss-html-img')">
<a href="javascript:alert('xss-html-href')">a javascript link</a>
<iframe src="javascript:alert('xss-iframe')"></iframe>
<form action="$track-form"><input name=q value=1></form>
<svg onload="alert('xss-svg')"></svg>
</body></html>
EOF
)
	X4=$(plant bob 1700000004 <<EOF
From: Mallory <mallory@evil.test>
To: bob@example.test
Subject: [x4] files
Date: Tue, 14 Nov 2023 22:13:24 +0000
Message-ID: <x4@evil.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b4"

--b4
Content-Type: text/plain; charset=utf-8

see the attachments
--b4
Content-Type: text/html; name="page.html"
Content-Disposition: attachment; filename="<img src=x onerror=alert('xss-file')>.html"

<script>alert('xss-attachment-rendered')</script>
--b4
Content-Type: text/plain
Content-Disposition: attachment; filename*=UTF-8''%3Cscript%3Ealert(%27xss-2231%27)%3C%2Fscript%3E.txt

text attachment
--b4--
EOF
)
	X5=$(plant bob 1700000005 <<EOF
From: Mallory <mallory@evil.test>
To: bob@example.test
Subject: [x5] alternative
Date: Tue, 14 Nov 2023 22:13:25 +0000
Message-ID: <x5@evil.test>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b5"

--b5
Content-Type: text/plain; charset=utf-8

the plain alternative <b>not bold</b>
--b5
Content-Type: text/html; charset=utf-8

<p>HTML alternative <script>alert('xss-alt')</script></p>
--b5--
EOF
)
}

@test "browser: hostile messages run no script, load nothing remote, and show their payloads as text" {
	need_browser
	plant_hostile
	rm -f "$SHOTS"/xss-*.png
	# the attachments are served as attachments, never inline, with their bytes
	local page part h
	page=$(curl -s -u bob@example.test:secret "$URL/inbox?m=$X4")
	part=$(grep -o 'href="inbox?m=[^"]*part=[0-9]*"[^>]*>[^<]*xss-file' <<<"$page" | head -n 1 |
		sed 's/^href="//; s/".*//; s/&amp;/\&/')
	echo "the text/html attachment: $part"
	[ -n "$part" ]
	h=$(curl -s -D - -o "$MP_DIR/part.html" -u bob@example.test:secret "$URL/$part" | tr -d '\r')
	echo "$h"
	grep -q '^HTTP/1.1 200' <<<"$h"
	grep -qi '^Content-Disposition: attachment; filename="[^"]*"; filename\*=UTF-8'"''"'[^"; ]*$' <<<"$h"
	grep -qix 'X-Content-Type-Options: nosniff' <<<"$h"
	[ "$(cat "$MP_DIR/part.html")" = "<script>alert('xss-attachment-rendered')</script>" ]
	run timeout 300 node "$TOP/tests/web/browser.js" xss --base "$URL/" --shots "$SHOTS"
	echo "$output"
	[ "$status" -eq 0 ]
	is_png "$SHOTS/xss-inbox.png"
	is_png "$SHOTS/xss-html-part-x3.png"
	# nothing asked lighttpd for the tracking URLs either
	! grep -q "/track" "$WEB_DIR/access.log" || false
}
