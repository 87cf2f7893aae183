# webmail-mime: cgi-bin/inbox run as a web server runs a CGI program
# (env -i, REQUEST_METHOD, QUERY_STRING, REMOTE_USER) against messages
# planted into bob's Maildir: real-world MIME (every message of Python's
# email test suite, and our own samples) shown as the right text, never a
# crash or a sanitizer report; names that try to leave the mailbox; the S
# flag; the list's pages; the memory a 25 MiB message takes.
#
# Needs: python3, /usr/bin/time, libpython3.11-testsuite (Python's test
# messages; those tests skip without it).  Under the sanitizer build
# (MP_BIN=.../build/san/bin MP_SANITIZE=1) the CGIs of build/san/cgi-bin
# run, and the memory assertion is skipped.
bats_require_minimum_version 1.5.0

PYMAIL=/usr/lib/python3.11/test/test_email/data

setup() {
	load lib
	mp_setup
	mp_cgi_dir
	BOB=$(mp_maildir bob)
	ALICE=$(mp_maildir alice)
	mkdir -p "$BOB"/{tmp,new,cur} "$ALICE"/{tmp,new,cur}
	OUT=$BATS_TEST_TMPDIR/cgi.out
	ERR=$BATS_TEST_TMPDIR/cgi.err
}

teardown() {
	mp_teardown
}

need_pymail() {
	[ -d "$PYMAIL" ] || skip "no $PYMAIL (Debian package libpython3.11-testsuite)"
}

# No AddressSanitizer, LeakSanitizer or UBSan report in file $1.
sanitizer_silent() {
	if grep -E 'ERROR: [A-Za-z]*Sanitizer|SUMMARY: [A-Za-z]*Sanitizer|LeakSanitizer|runtime error' "$1"; then
		echo "the sanitizer spoke (above)"
		return 1
	fi
}

# inbox QUERY [USER]: runs cgi-bin/inbox for a GET as the web server would,
# stdout to $OUT, stderr to $ERR.  Fails when it did not exit 0, printed no
# Status line or the sanitizer spoke.  Sets status (the number), headers
# (CR removed) and page (what follows the headers).
inbox() {
	local query=$1 user=${2:-bob@example.test} rc=0
	env -i REQUEST_METHOD=GET QUERY_STRING="$query" REMOTE_USER="$user" \
		MAILPIPE_CONF="$MAILPIPE_CONF" GATEWAY_INTERFACE=CGI/1.1 \
		"$CGI/inbox" >"$OUT" 2>"$ERR" || rc=$?
	sanitizer_silent "$ERR" || { echo "inbox?$query"; return 1; }
	[ "$rc" -eq 0 ] || { echo "inbox?$query exited $rc"; cat "$ERR"; return 1; }
	status=$(head -n 1 "$OUT" | sed -n 's/^Status: \([0-9][0-9][0-9]\) .*/\1/p')
	[ -n "$status" ] || { echo "inbox?$query: no Status line: $(head -c 200 "$OUT")"; return 1; }
	headers=$(sed '/^\r$/q' "$OUT" | tr -d '\r')
	page=$(sed '1,/^\r$/d' "$OUT" | tr -d '\0')
}

# The content of <div id="body"> of the last page.
body_of_page() {
	printf '%s\n' "$page" | sed -n '/<div id="body"/,/<\/div>/p'
}

# The octets after the CGI headers of the last answer, into file $1.
payload() {
	$PY -c 'import sys; d = open(sys.argv[1], "rb").read(); open(sys.argv[2], "wb").write(d[d.index(b"\r\n\r\n") + 4:])' "$OUT" "$1"
}

# has TEXT: the last page holds TEXT (fixed string); says so when not.
has() {
	grep -qF -- "$1" <<<"$page" || { echo "the page lacks: $1"; return 1; }
}

hasnt() {
	! grep -qF -- "$1" <<<"$page" || { echo "the page has what it must not: $1"; return 1; }
}

# plant NAME [new|cur]: stdin into bob's Maildir as NAME (in new/ unless told).
plant() {
	cat > "$BOB/${2:-new}/$1"
}

# Python's test message msg_N.txt planted as 17000000NN.MNNP1Q1.pymsgN,S=size
# in new/; prints its name.
plant_py() {
	local n=$1 f=$PYMAIL/msg_$1.txt num
	num=$(printf '%s' "$n" | tr -dc 0-9)
	local name=$((1700000000 + 10#$num)).M${num}P1Q1.pymsg$n,S=$(stat -c %s "$f")
	cp "$f" "$BOB/new/$name"
	echo "$name"
}

# Every Python message planted; NAMES[msg number] is its Maildir name.
plant_all_py() {
	declare -gA NAMES=()
	local f n
	for f in "$PYMAIL"/msg_*.txt; do
		n=${f##*/msg_}
		n=${n%.txt}
		NAMES[$n]=$(plant_py "$n")
	done
}

# The links of the last page to parts: "part=N" and "html=N", one a line.
part_links() {
	printf '%s\n' "$page" | grep -oE '&amp;(part|html)=[0-9]+' | sed 's/&amp;//' | sort -u
}

# ---- Python's email test suite -----------------------------------------------

@test "Python's test messages: the list, every message, every part and HTML link answer without a crash or sanitizer report" {
	need_pymail
	plant_all_py
	inbox ""
	[ "$status" -eq 200 ]
	[[ $page == *"</html>"* ]]
	for n in "${!NAMES[@]}"; do
		has "href=\"inbox?m=$($PY -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe="-._~"))' "${NAMES[$n]}")\""
	done
	bad=
	for n in $(printf '%s\n' "${!NAMES[@]}" | sort); do
		inbox "m=${NAMES[$n]}"
		[[ $page == *"</html>"* ]] || bad="$bad msg_$n(incomplete page)"
		for link in $(part_links); do
			inbox "m=${NAMES[$n]}&$link"
			[ "$status" -eq 200 ] || bad="$bad msg_$n&$link($status)"
		done
	done
	[ -z "$bad" ] || { echo "failed:$bad"; false; }
}

@test "Python's test messages: every message page answers 200 (msg_19 has no header at all)" {
	need_pymail
	plant_all_py
	bad=
	for n in $(printf '%s\n' "${!NAMES[@]}" | sort); do
		inbox "m=${NAMES[$n]}"
		[ "$status" -eq 200 ] || bad="$bad msg_$n($status)"
	done
	[ -z "$bad" ] || { echo "not 200:$bad"; false; }
	# the headerless one is shown with its text
	inbox "m=${NAMES[19]}"
	has "Send Ppp mailing list submissions to"
}

@test "Python's test messages: a plain message, decoded headers, its text" {
	need_pymail
	name=$(plant_py 01)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">This is a test message</h1>'
	has '<td id="from">&quot;John X. Doe&quot; &lt;bbb@ddd.com&gt;</td>'
	has '<td id="to">bbb@zzz.org</td>'
	has '<td id="date">Fri, 04 May 2001'
	body_of_page | grep -qF 'Do you like this message?'
}

@test "Python's test messages: multipart/mixed with an image (msg_07): the text, and the GIF byte for byte" {
	need_pymail
	name=$(plant_py 07)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">Here is your dingus fish</h1>'
	body_of_page | grep -qF 'This is the dingus fish.'
	has '&amp;part=2" download>dingusfish.gif</a>'
	has '(image/gif'
	inbox "m=$name&part=2"
	[ "$status" -eq 200 ]
	grep -qx 'Content-Type: image/gif' <<<"$headers"
	grep -qF "filename*=UTF-8''dingusfish.gif" <<<"$headers"
	payload "$BATS_TEST_TMPDIR/got.gif"
	$PY -c '
import email, sys
msg = email.message_from_binary_file(open(sys.argv[1], "rb"))
want = msg.get_payload()[1].get_payload(decode=True)
got = open(sys.argv[2], "rb").read()
assert got == want and got[:4] == b"GIF8", (len(got), len(want))' "$PYMAIL/msg_07.txt" "$BATS_TEST_TMPDIR/got.gif"
}

@test "Python's test messages: nested multiparts (msg_13, msg_15 with the same boundary inside): the text, the HTML link, the image" {
	need_pymail
	name=$(plant_py 13)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	body_of_page | grep -qF 'A text/plain part'
	has '&amp;part=3" download>dingusfish.gif</a>'
	name=$(plant_py 15)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">XX</h1>'
	# multipart/alternative: the plain text, not the HTML
	body_of_page | grep -qF 'Some removed test.'
	! body_of_page | grep -qF 'Some removed text.' || false
	has 'class="html-part" href="inbox?m='
	has '&amp;html=2"'
	has 'download>xx.gif</a>'
}

@test "Python's test messages: an ISO-8859-1 quoted-printable HTML part (msg_10) is served sandboxed, in UTF-8" {
	need_pymail
	name=$(plant_py 10)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	body_of_page | grep -qF 'This is a 7bit encoded message.'
	has '&amp;html=2"'
	inbox "m=$name&html=2"
	[ "$status" -eq 200 ]
	grep -qi '^Content-Type: text/html; charset=UTF-8$' <<<"$headers"
	grep -q '^Content-Security-Policy: sandbox' <<<"$headers"
	has $'\xc2\xa1This is a Quoted Printable encoded message!'
}

@test "Python's test messages: every text part of a multipart/mixed is shown (msg_21 One and Two; msg_10's base64 ISO-8859-1 parts)" {
	need_pymail
	name=$(plant_py 21)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">Test</h1>'
	body_of_page | grep -qF 'One'
	# the second inline text/plain part (a mailing list footer, say) is
	# neither the body nor an attachment today: it is not on the page
	has 'Two'
	name=$(plant_py 10)
	inbox "m=$name"
	has 'This is a Base64 encoded message.'
	has 'This has no Content-Transfer-Encoding: header.'
}

@test "Python's test messages: RFC 2231 parameters (charset*=, boundary*= in msg_32, msg_33) are decoded" {
	need_pymail
	name=$(plant_py 32)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">Re: Limiting Perl CPU Utilization...</h1>'
	body_of_page | grep -qF 'Some message.'
	# multipart/signed whose boundary is given as boundary*="ansi-x3.4-1968''..."
	name=$(plant_py 33)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	body_of_page | grep -qF 'part 1'
	hasnt 'EeQfGwPcQSOJBaQU'
}

@test "Python's test messages: reports, signed and forwarded messages (msg_16, msg_43, msg_45, msg_46)" {
	need_pymail
	name=$(plant_py 16)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	has 'Delivery Notification: Delivery has failed'
	body_of_page | grep -qF 'Reason: recipient reached disk quota'
	has '(message/rfc822'
	name=$(plant_py 43)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	has 'Banned file: auto__mail.python.bat in mail from you'
	body_of_page | grep -qF 'BANNED FILENAME ALERT'
	name=$(plant_py 45)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	body_of_page | grep -qF 'This is the signed contents.'
	has 'download>signature.asc</a>'
	name=$(plant_py 46)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">GroupwiseForwardingTest</h1>'
	has '&amp;part=1" download>'
	inbox "m=$name&part=1"
	[ "$status" -eq 200 ]
	grep -qx 'Content-Type: message/rfc822' <<<"$headers"
	has 'Testing email forwarding with Groupwise 1.2.2010'
}

@test "Python's test messages: a multipart whose boundary is missing or never comes (msg_17, msg_31, msg_41) still shows its text" {
	need_pymail
	bad=
	for want in '17:This is the dingus fish.' '31:message 1' '41:Blah blah blah'; do
		n=${want%%:*} text=${want#*:}
		name=$(plant_py "$n")
		inbox "m=$name"
		[ "$status" -eq 200 ] || bad="$bad msg_$n($status)"
		grep -qF -- "$text" <<<"$page" || bad="$bad msg_$n(no \"$text\")"
	done
	[ -z "$bad" ] || { echo "the text is lost:$bad"; false; }
}

@test "Python's test messages: a Content-Type with no subtype (msg_14, 'text') is shown as text/plain (RFC 2045 5.2)" {
	need_pymail
	name=$(plant_py 14)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	body_of_page | grep -qF 'This message has a Content-Type: header with no subtype.'
}

@test "Python's test messages: text parts of other subtypes (msg_37 text/x-one, text/x-two) are shown or offered, not dropped" {
	need_pymail
	name=$(plant_py 37)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	# each of the three parts is either in the body or a link to download
	grep -qF 'Blah' <<<"$(body_of_page)" || [ "$(part_links | grep -c '^part=')" -ge 3 ] || {
		echo "the parts text/x-one and text/x-two are on the page neither as text nor as links"
		false
	}
}

@test "Python's test messages: hostile nesting (msg_38, msg_39) shows the text it can" {
	need_pymail
	name=$(plant_py 38)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	body_of_page | grep -qF 'Unlike the test test_nested-multiples-with-internal-boundary'
	name=$(plant_py 39)
	inbox "m=$name"
	[ "$status" -eq 200 ]
	body_of_page | grep -qF "never too late to have a happy childhood."
}

# ---- our own samples ----------------------------------------------------------

@test "an ISO-8859-1 quoted-printable body and an ISO-8859-1 Q subject are shown in UTF-8" {
	plant 1700000100.M1P1Q1.test,S=300 <<'EOF'
From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@example.org>
To: bob@example.test
Subject: =?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=
Date: Mon, 1 Jan 2024 10:00:00 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable

Gr=FC=DFe aus K=F6ln
und sch=F6ne Gr=FC=DFe an alle.
EOF
	inbox "m=1700000100.M1P1Q1.test,S=300"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">Grüße aus Köln</h1>'
	has '<td id="from">Jürgen Müller &lt;juergen@example.org&gt;</td>'
	body_of_page | grep -qF 'Grüße aus Köln'
	body_of_page | grep -qF 'und schöne Grüße an alle.'
	hasnt '=FC'
	# and the list
	inbox ""
	has '>Grüße aus Köln</a>'
	has '<td class="from">Jürgen Müller</td>'
}

@test "a Shift_JIS base64 body and a UTF-8 B subject are shown in UTF-8" {
	$PY - "$BOB/new/1700000200.M1P1Q1.test,S=300" <<'EOF'
import base64, sys
subject = base64.b64encode('日本語の件名です'.encode()).decode()
body = base64.encodebytes('日本語のテキスト\n二行目\n'.encode('shift_jis')).decode()
open(sys.argv[1], 'w').write(f"""From: sender@example.jp
To: bob@example.test
Subject: =?UTF-8?B?{subject}?=
Date: Mon, 1 Jan 2024 10:00:00 +0900
MIME-Version: 1.0
Content-Type: text/plain; charset=Shift_JIS
Content-Transfer-Encoding: base64

{body}""")
EOF
	inbox "m=1700000200.M1P1Q1.test,S=300"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">日本語の件名です</h1>'
	body_of_page | grep -qF '日本語のテキスト'
	body_of_page | grep -qF '二行目'
	inbox ""
	has '>日本語の件名です</a>'
}

@test "an RFC 2231 continued, encoded file name is listed and downloaded byte for byte with filename*" {
	$PY - "$BOB/new/1700000300.M1P1Q1.test,S=5000" "$BATS_TEST_TMPDIR/want.bin" <<'EOF'
import base64, sys
data = bytes(range(256)) * 12 + b"\r\n\x00end"
open(sys.argv[2], 'wb').write(data)
open(sys.argv[1], 'wb').write(b"""From: a@example.org
To: bob@example.test
Subject: a file with a long name
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="=-=-="

--=-=-=
Content-Type: text/plain; charset=utf-8

The file is attached.
--=-=-=
Content-Type: application/octet-stream
Content-Disposition: attachment;
 filename*0*=UTF-8''%C3%BCber%20die%20;
 filename*1*=Stra%C3%9Fe%20nach;
 filename*2=" Bonn.bin"
Content-Transfer-Encoding: base64

""" + base64.encodebytes(data) + b"--=-=-=--\n")
EOF
	inbox "m=1700000300.M1P1Q1.test,S=5000"
	[ "$status" -eq 200 ]
	body_of_page | grep -qF 'The file is attached.'
	has '<ul id="attachments">'
	has '<a class="attachment" href="inbox?m=1700000300.M1P1Q1.test%2CS%3D5000&amp;part=2" download>über die Straße nach Bonn.bin</a>'
	inbox ""
	has 'class="attachment" title="attachment"'
	inbox "m=1700000300.M1P1Q1.test,S=5000&part=2"
	[ "$status" -eq 200 ]
	grep -qx 'Content-Type: application/octet-stream' <<<"$headers"
	disp=$(grep '^Content-Disposition:' <<<"$headers")
	[[ $disp == 'Content-Disposition: attachment; filename="'* ]]
	[[ $disp == *"; filename*=UTF-8''%C3%BCber%20die%20Stra%C3%9Fe%20nach%20Bonn.bin" ]] || {
		echo "$disp"
		false
	}
	# the ASCII fallback has nothing that ends the quotes or the header
	fallback=${disp#*filename=\"}
	fallback=${fallback%%\"*}
	[[ $fallback =~ ^[\ -~]+$ ]]
	payload "$BATS_TEST_TMPDIR/got.bin"
	cmp "$BATS_TEST_TMPDIR/want.bin" "$BATS_TEST_TMPDIR/got.bin"
}

@test "the attachment list gives each attachment's type and size" {
	$PY - "$BOB/new/1700000310.M1P1Q1.test,S=5000" <<'EOF'
import base64, sys
open(sys.argv[1], 'wb').write(b"""From: a@example.org
Subject: sized
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=XYZ

--XYZ
Content-Type: text/plain

text
--XYZ
Content-Type: application/pdf; name=report.pdf
Content-Disposition: attachment; filename=report.pdf
Content-Transfer-Encoding: base64

""" + base64.encodebytes(b"%PDF-1.4 " + b"x" * 3000) + b"--XYZ--\n")
EOF
	inbox "m=1700000310.M1P1Q1.test,S=5000"
	[ "$status" -eq 200 ]
	has 'download>report.pdf</a>'
	# webmail-interface: <a class="attachment" ...>FILENAME</a> (type, size)
	grep -qE 'download>report\.pdf</a>.*\(application/pdf, [0-9.]+ ?[KM]?i?B\)' <<<"$page" || {
		grep -F 'report.pdf</a>' <<<"$page"
		false
	}
}

# An HTML-only message with a script, a style and a title.
plant_html() {
	plant 1700000400.M1P1Q1.test,S=700 <<'EOF'
From: news@example.org
To: bob@example.test
Subject: HTML only
Date: Tue, 2 Jan 2024 09:00:00 +0000
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<!DOCTYPE html>
<html><head><title>TITLE-NOT-SHOWN</title>
<style>p { color: red } .STYLE-NOT-SHOWN {}</style>
<script>document.write("SCRIPT-NOT-SHOWN")</script></head>
<body><h1>Weekly news</h1>
<p>Hello <b>bold</b> world, <i>this</i> is <a href="https://example.org/">a link</a>.</p>
<SCRIPT type="text/javascript">alert("UPPER-SCRIPT-NOT-SHOWN")</SCRIPT>
<p>Fish &amp; chips &lt;today&gt; for 5&euro;</p>
<img src="https://tracker.example/pixel.gif" onerror="alert(1)">
</body></html>
EOF
}

@test "a text/html-only message is shown as text, without tags, scripts or styles, with a sandboxed link to the HTML" {
	plant_html
	inbox "m=1700000400.M1P1Q1.test,S=700"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">HTML only</h1>'
	body=$(body_of_page)
	for word in 'Weekly news' 'Hello' 'bold' 'world' 'a link' 'Fish' 'chips' '&lt;today&gt;' '5€'; do
		grep -qF -- "$word" <<<"$body" || { echo "no \"$word\" in: $body"; false; }
	done
	for gone in TITLE-NOT-SHOWN STYLE-NOT-SHOWN SCRIPT-NOT-SHOWN UPPER-SCRIPT-NOT-SHOWN 'color: red' tracker.example onerror; do
		! grep -qF -- "$gone" <<<"$body" || { echo "\"$gone\" is in: $body"; false; }
	done
	# no tag of the message is left: the only tags are the div's own
	[ "$(grep -oE '<[^>]*>' <<<"$body" | sort -u | tr '\n' ' ')" = '</div> <div id="body" class="body"> ' ] || {
		echo "$body"
		false
	}
	# the whole page has no script, and no request to the tracker
	hasnt '<script'
	hasnt 'tracker.example'
	link=$(grep -oE '<a class="html-part" href="[^"]*"' <<<"$page" | sed 's/.*href="//; s/"$//; s/&amp;/\&/g')
	[ "$link" = "inbox?m=1700000400.M1P1Q1.test%2CS%3D700&html=1" ]
	inbox "${link#'inbox?'}"
	[ "$status" -eq 200 ]
	grep -qE "^Content-Security-Policy: sandbox(;|$)" <<<"$headers"
	grep -q "^Content-Security-Policy: .*default-src 'none'" <<<"$headers"
	grep -qx 'X-Content-Type-Options: nosniff' <<<"$headers"
	grep -qx 'Content-Type: text/html; charset=UTF-8' <<<"$headers"
	has '<h1>Weekly news</h1>'
}

@test "HTML as text keeps the spaces next to inline tags and entities" {
	plant_html
	inbox "m=1700000400.M1P1Q1.test,S=700"
	[ "$status" -eq 200 ]
	body=$(body_of_page)
	for want in 'Hello bold world, this is a link.' 'Fish &amp; chips &lt;today&gt; for 5€'; do
		grep -qF -- "$want" <<<"$body" || { echo "want \"$want\" in: $body"; false; }
	done
}

@test "a message in the Trash folder: its HTML link and its Reply and Forward links find it" {
	mkdir -p "$BOB/.Trash"/{tmp,new,cur}
	touch "$BOB/.Trash/maildirfolder"
	plant_html
	mv "$BOB/new/1700000400.M1P1Q1.test,S=700" "$BOB/.Trash/cur/1700000400.M1P1Q1.test,S=700:2,S"
	inbox "folder=Trash"
	[ "$status" -eq 200 ]
	has 'href="inbox?m=1700000400.M1P1Q1.test%2CS%3D700&amp;folder=Trash"'
	inbox "m=1700000400.M1P1Q1.test,S=700&folder=Trash"
	[ "$status" -eq 200 ]
	has 'Weekly news'
	bad=
	for id in html-part reply forward; do
		link=$(grep -oE "<a (id|class)=\"$id\" [^>]*href=\"[^\"]*\"" <<<"$page" | sed 's/.*href="//; s/"$//; s/&amp;/\&/g')
		[ -n "$link" ] || { echo "no link $id"; false; }
		[[ $link == *folder=Trash* ]] || bad="$bad $id($link)"
	done
	[ -z "$bad" ] || { echo "links that look for the message in the inbox, not in Trash:$bad"; false; }
}

@test "a long subject cut for the title stays valid UTF-8" {
	$PY - "$BOB/new/1700000450.M1P1Q1.test,S=400" <<'EOF2'
import sys
open(sys.argv[1], 'w').write('Subject: ' + 'a' * 199 + 'é' * 20 + '\n\nlong subject\n')
EOF2
	inbox "m=1700000450.M1P1Q1.test,S=400"
	[ "$status" -eq 200 ]
	$PY -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$OUT" || {
		grep -a '<title>' "$OUT" | od -c | tail -n 4
		false
	}
}

@test "a message with no Date: the page and the list show it, the list with the time it arrived" {
	# 1700049600 is 2023-11-15 12:00 UTC: the 15th in every time zone within 11 hours
	plant 1700049600.M1P1Q1.test,S=90 <<'EOF'
From: nodate@example.org
To: bob@example.test
Subject: no date at all

This message has no Date field.
EOF
	inbox "m=1700049600.M1P1Q1.test,S=90"
	[ "$status" -eq 200 ]
	has '<h1 id="subject">no date at all</h1>'
	body_of_page | grep -qF 'This message has no Date field.'
	inbox ""
	[ "$status" -eq 200 ]
	row=$(grep -F 'no date at all' <<<"$page")
	[[ $row == *'<td class="date">15 Nov 2023 '* ]] || { echo "$row"; false; }
}

@test "a 25 MiB message: the page and the attachment, with a small peak memory" {
	[ -x /usr/bin/time ] || skip "no /usr/bin/time (Debian package time)"
	$PY - "$BOB/new" "$BATS_TEST_TMPDIR/big.bin" <<'EOF'
import base64, os, sys
data = os.urandom(19 * 1024 * 1024)
open(sys.argv[2], 'wb').write(data)
msg = (b"From: big@example.org\nTo: bob@example.test\nSubject: a big attachment\n"
       b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=BIG\n\n"
       b"--BIG\nContent-Type: text/plain\n\nThe big file is attached.\n"
       b"--BIG\nContent-Type: application/octet-stream\n"
       b"Content-Disposition: attachment; filename=big.bin\nContent-Transfer-Encoding: base64\n\n"
       + base64.encodebytes(data) + b"--BIG--\n")
assert len(msg) > 25 * 1024 * 1024
open(os.path.join(sys.argv[1], "1700000500.M1P1Q1.test,S=%d" % len(msg)), 'wb').write(msg)
EOF
	name=$(ls "$BOB/new")
	rss=$BATS_TEST_TMPDIR/rss
	for query in "m=$name" "m=$name&part=2" ""; do
		env -i REQUEST_METHOD=GET QUERY_STRING="$query" REMOTE_USER=bob@example.test \
			MAILPIPE_CONF="$MAILPIPE_CONF" /usr/bin/time -o "$rss" -f %M "$CGI/inbox" >"$OUT" 2>"$ERR"
		sanitizer_silent "$ERR"
		head -n 1 "$OUT" | grep -q '^Status: 200 '
		kib=$(tail -n 1 "$rss")
		echo "# inbox?${query:0:40}: peak memory $kib KiB" >&3
		if [ "${MP_SANITIZE:-0}" != 1 ]; then
			[ "$kib" -lt $((64 * 1024)) ] || { echo "inbox?$query took $kib KiB"; false; }
		fi
		case $query in
		*part=2) payload "$BATS_TEST_TMPDIR/got.bin"
			cmp "$BATS_TEST_TMPDIR/big.bin" "$BATS_TEST_TMPDIR/got.bin" ;;
		m=*) grep -qF 'The big file is attached.' "$OUT"
			grep -qF 'download>big.bin</a>' "$OUT" ;;
		*) grep -qF '>a big attachment</a>' "$OUT" ;;
		esac
	done
}

# ---- names that are no message of the user -------------------------------------

@test "a name outside the user's Maildir, or of alice's, is 404 and shows nothing of alice's" {
	printf 'From: a@example.org\nSubject: ALICE-SECRET-SUBJECT\n\nALICE-SECRET-BODY\n' \
		> "$ALICE/new/1700000600.M1P1Q1.test,S=60"
	printf 'From: a@example.org\nSubject: ALICE-SECRET-SUBJECT\n\nALICE-SECRET-BODY\n' \
		> "$ALICE/cur/1700000601.M1P1Q1.test,S=60:2,S"
	printf 'From: b@example.org\nSubject: bob own\n\nbob body\n' > "$BOB/new/1700000602.M1P1Q1.test,S=40"
	for m in "../../alice/new/1700000600.M1P1Q1.test,S=60" \
		"..%2F..%2Falice%2Fnew%2F1700000600.M1P1Q1.test%2CS%3D60" \
		"../alice/cur/1700000601.M1P1Q1.test,S=60:2,S" \
		"$ALICE/new/1700000600.M1P1Q1.test,S=60" \
		/etc/passwd %2Fetc%2Fpasswd . .. ... "" \
		"1700000600.M1P1Q1.test,S=60" "1700000601.M1P1Q1.test,S=60" \
		"1700000601.M1P1Q1.test,S=60:2,S" "new/1700000602.M1P1Q1.test,S=40" \
		"1700000602.M1P1Q1.test,S=40/" ".1700000602.M1P1Q1.test,S=40"; do
		for extra in "" "&part=1" "&html=1"; do
			inbox "m=$m$extra"
			[ "$status" -eq 404 ] || { echo "m=$m$extra: $status"; false; }
			grep -q '^Status: 404 ' "$OUT"
			! grep -q 'ALICE-SECRET\|root:' "$OUT" || { echo "m=$m$extra shows alice's or /etc/passwd"; false; }
		done
	done
	# and alice's messages are where they were, unread
	[ -f "$ALICE/new/1700000600.M1P1Q1.test,S=60" ]
	[ -f "$ALICE/cur/1700000601.M1P1Q1.test,S=60:2,S" ]
	# a folder that is not one lists the inbox, never alice's
	inbox "folder=../../alice"
	[ "$status" -eq 200 ]
	hasnt 'ALICE-SECRET'
	has 'bob own'
	# alice sees hers by the same name
	inbox "m=1700000600.M1P1Q1.test,S=60" alice@example.test
	[ "$status" -eq 200 ]
	has 'ALICE-SECRET-BODY'
}

@test "a part that is not there (part=0, 999, abc, -1, empty; html= of a non-HTML part) is 404" {
	plant 1700000700.M1P1Q1.test,S=300 <<'EOF'
From: a@example.org
Subject: two parts
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=P

--P
Content-Type: text/plain

text part
--P
Content-Type: application/octet-stream
Content-Disposition: attachment; filename=x.bin

xxxx
--P--
EOF
	inbox "m=1700000700.M1P1Q1.test,S=300&part=2"
	[ "$status" -eq 200 ]
	has 'xxxx'
	for q in part=0 part=999 part=abc part=-1 part= part=3 html=1 html=2 html=0 html=abc; do
		inbox "m=1700000700.M1P1Q1.test,S=300&$q"
		[ "$status" -eq 404 ] || { echo "$q: $status"; false; }
	done
}

# ---- read and unread ------------------------------------------------------------

@test "viewing a message marks it read: new/NAME becomes cur/NAME:2,S; cur/NAME:2,F becomes :2,FS" {
	printf 'From: a@example.org\nSubject: fresh\n\nfresh body\n' > "$BOB/new/1700000800.M1P1Q1.test,S=40"
	printf 'From: a@example.org\nSubject: flagged\n\nflagged body\n' > "$BOB/cur/1700000801.M1P1Q1.test,S=40:2,F"
	printf 'From: a@example.org\nSubject: replied\n\nseen body\n' > "$BOB/cur/1700000802.M1P1Q1.test,S=40:2,RS"
	inbox ""
	[ "$status" -eq 200 ]
	grep -q '<title>Inbox (2) ' <<<"$page"
	[ "$(grep -c '<tr class="message unread">' <<<"$page")" -eq 2 ]
	inbox "m=1700000800.M1P1Q1.test,S=40"
	[ "$status" -eq 200 ]
	has 'fresh body'
	[ ! -e "$BOB/new/1700000800.M1P1Q1.test,S=40" ]
	[ -f "$BOB/cur/1700000800.M1P1Q1.test,S=40:2,S" ]
	inbox "m=1700000801.M1P1Q1.test,S=40"
	[ "$status" -eq 200 ]
	has 'flagged body'
	[ ! -e "$BOB/cur/1700000801.M1P1Q1.test,S=40:2,F" ]
	[ -f "$BOB/cur/1700000801.M1P1Q1.test,S=40:2,FS" ]
	# already seen: left as it is
	inbox "m=1700000802.M1P1Q1.test,S=40"
	[ "$status" -eq 200 ]
	[ -f "$BOB/cur/1700000802.M1P1Q1.test,S=40:2,RS" ]
	# seen twice: still one file, same name
	inbox "m=1700000800.M1P1Q1.test,S=40"
	[ "$(ls "$BOB/cur" | grep -c '^1700000800\.')" -eq 1 ]
	[ -z "$(ls "$BOB/new")" ]
	inbox ""
	grep -q '<title>Inbox — mailpipe</title>' <<<"$page"
	! grep -q 'class="message unread"' <<<"$page" || false
}

@test "a message in cur/ without the :2, info opens and is marked read" {
	printf 'From: a@example.org\nSubject: moved by hand\n\nno info body\n' > "$BOB/cur/1700000900.M1P1Q1.test,S=50"
	inbox "m=1700000900.M1P1Q1.test,S=50"
	[ "$status" -eq 200 ] || { echo "status $status; stderr: $(cat "$ERR")"; false; }
	has 'no info body'
	inbox ""
	grep -F '1700000900' <<<"$page"
	has '>moved by hand</a>'
	[ -f "$BOB/cur/1700000900.M1P1Q1.test,S=50:2,S" ]
}

# ---- the list ---------------------------------------------------------------------

@test "120 messages: three pages of 50, 50 and 20, newest first by the time in the name, '(120)' in the title" {
	# written in a shuffled order, with Date fields that say the opposite
	$PY - "$BOB/new" <<'EOF'
import os, random, sys
order = list(range(120))
random.Random(7).shuffle(order)
for i in order:
    t = 1700001000 + i * 60
    date = "Mon, 1 Jan 2024 %02d:%02d:00 +0000" % ((119 - i) // 60, (119 - i) % 60)
    msg = "From: s%d@example.org\nSubject: number %03d\nDate: %s\n\nbody %d\n" % (i, i, date, i)
    open(os.path.join(sys.argv[1], "%d.M%dP1Q1.test,S=%d" % (t, i, len(msg))), "w").write(msg)
EOF
	seen=
	for p in 1 2 3; do
		inbox "page=$p"
		[ "$status" -eq 200 ]
		grep -q '<title>Inbox (120) — mailpipe</title>' <<<"$page"
		rows=$(grep -c '<tr class="message unread">' <<<"$page")
		want=50
		[ "$p" -lt 3 ] || want=20
		[ "$rows" -eq "$want" ] || { echo "page $p: $rows rows"; false; }
		seen="$seen $(grep -oE '>number [0-9]{3}</a>' <<<"$page" | sed 's/>number //; s/<.a>//' | tr '\n' ' ')"
		case $p in
		1) ! grep -q 'id="newer"' <<<"$page"
			grep -q '<a id="older" href="inbox?page=2"' <<<"$page" ;;
		2) grep -q '<a id="newer" href="inbox?page=1"' <<<"$page"
			grep -q '<a id="older" href="inbox?page=3"' <<<"$page" ;;
		3) grep -q '<a id="newer" href="inbox?page=2"' <<<"$page"
			! grep -q 'id="older"' <<<"$page" || false ;;
		esac
		grep -q '<a id="compose"' <<<"$page"
	done
	want=$(seq -f '%03g' 119 -1 0 | tr '\n' ' ')
	[ "$(echo $seen)" = "$(echo $want)" ] || { echo "order: $seen"; false; }
	# no page 0 or 4: the first page
	inbox "page=4"
	[ "$status" -eq 200 ]
	has '>number 119</a>'
}

@test "the time to list a Maildir of 10,000 messages (printed, not a limit)" {
	[ -x /usr/bin/time ] || skip "no /usr/bin/time (Debian package time)"
	$PY - "$BOB/new" <<'EOF'
import os, sys
msg = b"From: Sender <sender@example.org>\nTo: bob@example.test\nSubject: one of many\nDate: Mon, 1 Jan 2024 10:00:00 +0000\n\nhello\n"
d = sys.argv[1]
for i in range(10000):
    with open(os.path.join(d, "%d.M%dP1Q1.test,S=%d" % (1700000000 + i, i, len(msg))), "wb") as f:
        f.write(msg)
EOF
	for query in "" "page=200"; do
		env -i REQUEST_METHOD=GET QUERY_STRING="$query" REMOTE_USER=bob@example.test \
			MAILPIPE_CONF="$MAILPIPE_CONF" /usr/bin/time -o "$BATS_TEST_TMPDIR/t" -f '%e s %M KiB' \
			"$CGI/inbox" >"$OUT" 2>"$ERR"
		sanitizer_silent "$ERR"
		head -n 1 "$OUT" | grep -q '^Status: 200 '
		grep -q '<title>Inbox (10000) — mailpipe</title>' "$OUT"
		[ "$(grep -c '<tr class="message' "$OUT")" -eq 50 ]
		echo "# inbox${query:+?$query} over 10,000 messages: $(tail -n 1 "$BATS_TEST_TMPDIR/t")" >&3
	done
}
