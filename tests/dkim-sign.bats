#!/usr/bin/env bats
# tests/dkim-sign.bats - outgoing mail DKIM-signed by mail-store (RFC 6376,
# relaxed/relaxed; rsa-sha256 and ed25519-sha256 per RFC 8463), checked by
# verifiers nobody here wrote: Python's dkimpy and OpenDKIM's
# opendkim-testmsg (which asks DNS: it runs under tools/netns-dns with the
# key records in a private zone).
#
# Needs (Debian 12): bats, python3-dkim, opendkim-tools, openssl, python3
# with python3-aiosmtpd (the sink), dnsmasq-base, iproute2, util-linux.

setup() {
	load lib
	load relay-lib
	load sink-lib
	mp_setup
	TOOLS=$BATS_TEST_DIRNAME/tools
	mp_conf timeout 10
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$MAILPIPE_CONF/rsa.pem" 2>/dev/null
	openssl genpkey -algorithm ED25519 -out "$MAILPIPE_CONF/ed.pem"
	chmod 600 "$MAILPIPE_CONF"/*.pem
}

teardown() {
	sink_teardown
	mp_teardown
	relay_teardown
}

# keys LINE...: the dkim file.
keys() {
	printf '%s\n' "$@" > "$MAILPIPE_CONF/dkim"
}

# The one file in the queue.
queued() {
	local files=("$MP_STATE"/queue/*)
	[ ${#files[@]} -eq 1 ] && [ -f "${files[0]}" ] || { echo "queue: ${files[*]}" >&2; return 1; }
	echo "${files[0]}"
}

# dkimpy FILE: every signature checked; rsa1 and ed1 are the test's selectors.
dkimpy() {
	$PY "$TOOLS/dkim-verify.py" "$1" rsa1="$MAILPIPE_CONF/rsa.pem" ed1="$MAILPIPE_CONF/ed.pem"
}

# zone: the key records of rsa1 and ed1 for example.test, for netns-dns.
zone() {
	local rsa ed
	rsa=$(openssl pkey -in "$MAILPIPE_CONF/rsa.pem" -pubout -outform DER | base64 -w0)
	ed=$(openssl pkey -in "$MAILPIPE_CONF/ed.pem" -pubout -outform DER | tail -c 32 | base64 -w0)
	printf 'txt rsa1._domainkey.example.test "v=DKIM1; k=rsa; p=%s"\n' "$rsa"
	printf 'txt ed1._domainkey.example.test "v=DKIM1; k=ed25519; p=%s"\n' "$ed"
}

# testmsg FILE...: opendkim-testmsg verifies each (against DNS: the private
# zone); prints "FILE rc" per file.
testmsg() {
	zone > "$MP_DIR/zone"
	"$TOOLS/netns-dns" "$MP_DIR/zone" -- bash -c '
		for f; do sed "s/\$/\r/" "$f" | opendkim-testmsg 2>>"${f}.testmsg"
			rc=$?; echo "${f##*/} $rc"; done' \
		testmsg "$@"
}

message() {
	printf 'From: Alice <alice@example.test>\nTo: Bob <bob@b.test>\nSubject: %s\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@example.test>\n\n%s\n' \
		"$1" "$1" "${2:-Hello Bob.}"
}

@test "mail-store signs a remote copy with rsa-sha256, relaxed/relaxed, From oversigned; dkimpy verifies it" {
	keys "example.test rsa1 rsa.pem"
	message first | queue alice@example.test bob@b.test
	f=$(queued)
	head -1 "$f" | grep -q '^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test;'
	sig=$(sed -n '/^DKIM-Signature:/,/^[^ \t]/p' "$f" | sed '$d' | tr -d '\n\t ')
	[[ $sig == *"s=rsa1;"* ]]
	# h= names every field of the message that matters, From once more than it occurs
	h=$(echo "$sig" | sed 's/.*;h=\([^;]*\);.*/\1/')
	[ "$h" = "From:To:Subject:Date:Message-ID:from" ]
	run dkimpy "$f"
	[ "$status" -eq 0 ]
	[ "$output" = "a=rsa-sha256 d=example.test s=rsa1 pass" ]
	grep -q 'event=stored id=1 .*dkim=example.test' "$MP_DIR/store.log"
}

@test "RSA and Ed25519 keys: two signatures, both verified by dkimpy and by opendkim-testmsg; a changed byte fails both" {
	keys "example.test rsa1 rsa.pem" "example.test ed1 ed.pem"
	message both | queue alice@example.test bob@b.test
	f=$(queued)
	[ "$(grep -c '^DKIM-Signature:' "$f")" -eq 2 ]
	run dkimpy "$f"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "a=rsa-sha256 d=example.test s=rsa1 pass" ]
	[ "${lines[1]}" = "a=ed25519-sha256 d=example.test s=ed1 pass" ]
	cp "$f" "$MP_DIR/good.eml"
	sed 's/^Hello Bob\./Hello Bob!/' "$f" > "$MP_DIR/bad.eml"
	# opendkim-testmsg checks the first signature it meets: once as is, once
	# with the Ed25519 one first
	$PY -c 'import re, sys
head, body = open(sys.argv[1]).read().split("\n\n", 1)
fields = re.split(r"\n(?=\S)", head)
fields.sort(key=lambda f: "a=ed25519" not in f)
sys.stdout.write("\n".join(fields) + "\n\n" + body)' "$f" > "$MP_DIR/ed-first.eml"
	head -1 "$MP_DIR/ed-first.eml" | grep -q 'a=ed25519-sha256'
	run testmsg "$MP_DIR/good.eml" "$MP_DIR/ed-first.eml" "$MP_DIR/bad.eml"
	echo "$output"
	[ "${lines[0]}" = "good.eml 0" ]
	[ "${lines[1]}" = "ed-first.eml 0" ]
	[ "${lines[2]}" != "bad.eml 0" ]
	grep -q 'dkim_eom(): Bad signature' "$MP_DIR/bad.eml.testmsg"
	run dkimpy "$MP_DIR/bad.eml"
	[ "$status" -eq 1 ]
}

@test "hard messages verify: long folded fields, an 8-bit body, trailing blank lines and blanks, a 10 MiB attachment" {
	keys "example.test rsa1 rsa.pem" "example.test ed1 ed.pem"
	long=$(printf 'word%.0s ' $(seq 1 80))
	{ printf 'From: "Alice, the sender" <alice@example.test>\nTo: '
	  for i in $(seq 1 40); do printf 'Person %d <p%d@b.test>,\n\t' "$i" "$i"; done
	  printf 'last@b.test\nSubject: %s\n\tcontinued   with  blanks\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <fold@example.test>\n\nbody\n' "$long"; } \
		| queue alice@example.test bob@b.test
	mv "$(queued)" "$MP_DIR/folded.eml"
	printf 'From: alice@example.test\nTo: bob@b.test\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße aus Köln, 東京 too.  \nTrailing blanks\t \n\n\n\n' \
		| queue alice@example.test bob@b.test
	mv "$(queued)" "$MP_DIR/8bit.eml"
	head -c $((10 * 1024 * 1024)) /dev/urandom > "$MP_DIR/blob"
	{ printf 'From: alice@example.test\nTo: bob@b.test\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nSubject: big\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nsee attachment\n--XX\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n'
	  base64 -w 76 "$MP_DIR/blob"; printf -- '--XX--\n'; } | queue alice@example.test bob@b.test
	mv "$(queued)" "$MP_DIR/big.eml"
	[ "$(stat -c %s "$MP_DIR/big.eml")" -gt $((13 * 1024 * 1024)) ]
	for m in folded 8bit big; do
		run dkimpy "$MP_DIR/$m.eml"
		echo "$m: $output"
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -eq 2 ]
	done
	run testmsg "$MP_DIR/folded.eml" "$MP_DIR/8bit.eml" "$MP_DIR/big.eml"
	echo "$output"
	[ "$output" = "$(printf 'folded.eml 0\n8bit.eml 0\nbig.eml 0')" ]
}

@test "only the remote copy is signed; a From: domain without a key is not; a subdomain uses its parent's key" {
	keys "example.test rsa1 rsa.pem"
	message mixed | queue alice@example.test bob@b.test bob@example.test
	grep -q '^DKIM-Signature:' "$(queued)"
	! grep -q 'DKIM-Signature' "$MP_STATE"/mailboxes/example.test/bob/new/* || false
	rm "$MP_STATE"/queue/*
	printf 'From: carol@other.test\nTo: bob@b.test\nSubject: x\n\nx\n' | queue carol@other.test bob@b.test
	! grep -q 'DKIM-Signature' "$(queued)" || false
	rm "$MP_STATE"/queue/*
	printf 'From: news@lists.example.test\nTo: bob@b.test\nSubject: x\n\nx\n' | queue news@lists.example.test bob@b.test
	run dkimpy "$(queued)"
	[ "$output" = "a=rsa-sha256 d=example.test s=rsa1 pass" ]
}

@test "mail from the Internet (-I) is never signed, even forwarded by an alias to a remote address" {
	keys "example.test rsa1 rsa.pem"
	echo "fwd@example.test: bob@b.test" >> "$MAILPIPE_CONF/aliases"
	printf 'From: alice@example.test\nTo: fwd@example.test\nSubject: forged\n\nx\n' |
		"$BIN/mail-store" -I -f alice@example.test -c 192.0.2.10 -- fwd@example.test >/dev/null
	f=$(queued)
	! grep -q 'DKIM-Signature' "$f" || false
	# and through smtp-recv: from a peer that is not a relay client
	rm "$f"
	run bash -c "printf 'EHLO x.test\r\nMAIL FROM:<a@other.test>\r\nRCPT TO:<fwd@example.test>\r\nDATA\r\nFrom: alice@example.test\r\n\r\nx\r\n.\r\nQUIT\r\n' |
		TCPREMOTEIP=192.0.2.10 RES_OPTIONS='timeout:1 attempts:1' '$BIN/smtp-recv'"
	[[ $output == *"250 2.0.0 OK id="* ]]
	! grep -q 'DKIM-Signature' "$(queued)" || false
}

@test "through smtp-recv: a relay client's and a submission user's mail leaves signed" {
	keys "example.test rsa1 rsa.pem"
	mp_listen
	run swaks --server 127.0.0.1:"$MP_PORT" --from alice@example.test --to bob@b.test \
		--header 'From: alice@example.test' --header 'Subject: via smtp' --body 'x'
	[ "$status" -eq 0 ]
	run dkimpy "$(queued)"
	[ "$output" = "a=rsa-sha256 d=example.test s=rsa1 pass" ]
}

@test "a key that cannot be read: 75 (451 to a client), the log names it, nothing queued" {
	keys "example.test rsa1 missing.pem"
	run bash -c "printf 'From: alice@example.test\n\nx\n' | '$BIN/mail-store' -f alice@example.test -- bob@b.test"
	[ "$status" -eq 75 ]
	[[ $output == *"missing.pem"* ]]
	[ -z "$(ls "$MP_STATE/queue" 2>/dev/null)" ]
	echo 'not a key' > "$MAILPIPE_CONF/missing.pem"
	run bash -c "printf 'From: alice@example.test\n\nx\n' | '$BIN/mail-store' -f alice@example.test -- bob@b.test"
	[ "$status" -eq 75 ]
	[[ $output == *"not an RSA or Ed25519 private key"* ]]
	keys "example.test rsa1 rsa.pem" "example.test rsa1 ed.pem"
	run bash -c "printf 'From: alice@example.test\n\nx\n' | '$BIN/mail-store' -f alice@example.test -- bob@b.test"
	[ "$status" -eq 78 ]
	[[ $output == *"dkim:2: selector rsa1 of example.test already on line 1"* ]]
}

@test "a retry after 451 sends the same signed bytes, and what arrives verifies" {
	keys "example.test rsa1 rsa.pem" "example.test ed1 ed.pem"
	printf 'data 451 4.3.0 try later\n' > "$MP_DIR/script"
	sink "$MP_DIR/sink" --script "$MP_DIR/script"
	echo "b.test 127.0.0.1:$SINK_PORT" >> "$MAILPIPE_CONF/routes"
	message retry | queue alice@example.test bob@b.test
	cp "$(queued)" "$MP_DIR/before"
	relay
	[ "$(cat "$MP_DIR/sink/attempts")" = 1 ]
	cmp "$MP_DIR/before" "$(queued)"
	relay -f
	[ "$(cat "$MP_DIR/sink/attempts")" = 2 ]
	[ "$(sink_count "$MP_DIR/sink")" -eq 1 ]
	# what arrived is the queued file, CRLF on the wire
	cmp <(sed 's/$/\r/' "$MP_DIR/before") "$MP_DIR/sink/1.eml"
	run dkimpy "$MP_DIR/sink/1.eml"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
}

@test "a bounce to a remote sender leaves signed by the key of our hostname's domain (MAILER-DAEMON@mx.example.test)" {
	keys "example.test rsa1 rsa.pem"
	printf 'rcpt dave@c.test 550 5.1.1 no such user\n' > "$MP_DIR/script"
	sink "$MP_DIR/sink" --script "$MP_DIR/script"
	printf 'b.test 127.0.0.1:%s\nc.test 127.0.0.1:%s\n' "$SINK_PORT" "$SINK_PORT" >> "$MAILPIPE_CONF/routes"
	# a relay client's message from carol@b.test: not ours to sign
	printf 'From: <carol@b.test>\nTo: <dave@c.test>\nSubject: lost\n\nHello.\n' |
		queue carol@b.test dave@c.test
	! grep -q '^DKIM-Signature:' "$(queued)" || false
	# dave is refused; the report to carol is queued and, on the next
	# run, delivered to the same sink
	relay
	relay
	grep -q 'event=bounced .*rcpt=dave@c.test' "$MP_DIR/relay.log"
	grep -q 'event=report-sent .*to=carol@b.test' "$MP_DIR/relay.log"
	# smtp-relay's mail-store logs into smtp-relay's stderr
	grep -q 'prog=mail-store event=stored id=2 from=<> rcpts=1 .* dkim=example.test$' "$MP_DIR/relay.log"
	[ "$(sink_count "$MP_DIR/sink")" -eq 1 ]
	[ "$(env_field "$MP_DIR/sink/1.env" rcpt_tos)" = "['carol@b.test']" ]
	grep -q '^From: Mail Delivery System <MAILER-DAEMON@mx.example.test>' "$MP_DIR/sink/1.eml"
	run dkimpy "$MP_DIR/sink/1.eml"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 1 ]
	[[ ${lines[0]} == *"d=example.test"* ]]
}
