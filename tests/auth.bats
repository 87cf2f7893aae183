#!/usr/bin/env bats
# tests/auth.bats - the checks of mail from the Internet (DESIGN.md,
# "Authentication of mail"): smtp-recv's SPF of MAIL FROM and HELO, every
# DKIM signature and DMARC, in one Authentication-Results field above the
# message, forged fields with our name removed, dmarc_reject, and the DNS
# time budget.
#
# Every session runs inside tools/netns-dns (a private network with dnsmasq
# answering the zone made in setup_file) with TCPREMOTEIP set to the peer,
# 192.0.2.10 unless a test says otherwise: an address that is not a relay
# client, so the mail is checked.  The messages are signed by dkimpy and the
# field we wrote is read back with authres (tools/auth-mail.py), result by
# result.
#
# Needs (Debian 12): root, bats, python3, python3-dkim, python3-authres,
# python3-nacl, dnsmasq-base, iproute2, util-linux, openssl.
bats_require_minimum_version 1.5.0

setup_file() {
	local d=$BATS_FILE_TMPDIR
	export AUTH_MAIL=$BATS_TEST_DIRNAME/tools/auth-mail.py
	export KEYS=$d/keys ZONE=$d/zone
	/usr/bin/python3 "$AUTH_MAIL" keys "$KEYS"
	cat > "$ZONE" <<-EOF
	# SPF: the peer is 192.0.2.10 (or 2001:db8:25::10); mx.sender.test is
	# its HELO name
	txt sender.test "v=spf1 ip4:192.0.2.10 ip6:2001:db8:25::/48 -all"
	a mx.sender.test 192.0.2.10
	txt mx.sender.test "v=spf1 a -all"
	txt fail.test "v=spf1 -all"
	txt soft.test "v=spf1 ~all"
	txt neutral.test "v=spf1 ?all"
	a nospf.test 192.0.2.20
	timeout slow.test
	# DKIM: the key of selector rotated is not the one that signs with it
	txt sel._domainkey.sender.test "$(cat "$KEYS/rsa.txt")"
	txt ed._domainkey.sender.test "$(cat "$KEYS/ed.txt")"
	txt rotated._domainkey.sender.test "$(cat "$KEYS/rsa2.txt")"
	# DMARC
	txt _dmarc.sender.test "v=DMARC1; p=reject; sp=quarantine"
	txt _dmarc.pnone.test "v=DMARC1; p=none"
	txt reject.test "v=spf1 -all"
	txt _dmarc.reject.test "v=DMARC1; p=reject"
	txt sel._domainkey.reject.test "$(cat "$KEYS/rsa.txt")"
	timeout slow._domainkey.reject.test
	timeout _dmarc.late.reject.test
	# pct= (RFC 7489 6.6.4): the share of failing mail p=reject applies to
	txt pct0.test "v=spf1 -all"
	txt _dmarc.pct0.test "v=DMARC1; p=reject; pct=0"
	txt pct50.test "v=spf1 -all"
	txt _dmarc.pct50.test "v=DMARC1; p=reject; pct=50"
	txt pct100.test "v=spf1 -all"
	txt _dmarc.pct100.test "v=DMARC1; p=reject; pct=100"
	# a public suffix of two labels (co.uk): the organizational domain of
	# news.example.co.uk is example.co.uk (the public suffix list)
	txt example.co.uk "v=spf1 ip4:192.0.2.10 -all"
	txt _dmarc.example.co.uk "v=DMARC1; p=reject; sp=quarantine"
	# SERVFAIL for everything of broken.test
	servfail broken.test
	EOF
	# for the sessions with AUTH (offered only under TLS)
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj /CN=mx.example.test -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
}

setup() {
	load lib
	[ "$(id -u)" -eq 0 ] || skip "netns-dns needs root"
	mp_setup
	NETNS=$TOP/tests/tools/netns-dns
	# a budget of 10 s for the DNS of the checks: never spent by dnsmasq
	mp_conf timeout 30
	LOG=$MP_DIR/smtp-recv.log
	: > "$LOG"
}

teardown() {
	mp_teardown
	# no AddressSanitizer / UBSan report in the log (make check-sanitize)
	if grep -E 'ERROR: [A-Za-z]*Sanitizer|SUMMARY: [A-Za-z]*Sanitizer|runtime error:' "$LOG"; then
		return 1
	fi
}

# message FILE FROM SUBJECT [BODY]: an unsigned message (LF line ends).
message() {
	printf 'From: Bob <%s>\nTo: alice@example.test\nSubject: %s\nDate: Mon, 23 Nov 2026 10:00:00 +0000\nMessage-ID: <%s@sender.test>\n\n%s\n' \
		"$2" "$3" "$3" "${4:-Hello.}" > "$1"
}

# sign IN OUT KEY DOMAIN SELECTOR [auth-mail.py sign options]: dkimpy signs.
sign() {
	local in=$1 out=$2; shift 2
	/usr/bin/python3 "$AUTH_MAIL" sign "$KEYS/$1" "${@:2}" < "$in" > "$out"
}

# smtp IP MESSAGE [session options and more messages...] [-- smtp-recv
# args...]: one SMTP session (tools/auth-mail.py session) in the test DNS,
# the peer being IP ("" for none: a piped transcript).  Replies in $output,
# the log in $LOG.
smtp() {
	local ip=$1 msg=$2 opts=() args=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	[ $# -eq 0 ] || shift
	args=("$@")
	run "$NETNS" "$ZONE" -- env -u TCPREMOTEIP -u REMOTE_ADDR ${ip:+TCPREMOTEIP=$ip} \
		MAILPIPE_CONF="$MAILPIPE_CONF" /usr/bin/python3 "$AUTH_MAIL" session --log "$LOG" \
		"$msg" "${opts[@]}" -- "$BIN/smtp-recv" "${args[@]}"
	echo "$output"
	echo "--- log"
	cat "$LOG"
	[ "$status" -eq 0 ]
}

# The reply to the end of the (Nth) message in $output.
data_reply() {
	sed -n "s/^data ${1:-1}: //p" <<<"$output"
}

# The seconds from the end of the (Nth) message to its reply, and of the
# whole session.
data_seconds() {
	sed -n 's/^time data=\([0-9.,]*\) .*/\1/p' <<<"$output" | cut -d, -f"${1:-1}"
}
session_seconds() {
	sed -n 's/^time .* session=\([0-9.]*\)$/\1/p' <<<"$output"
}

# less_than A B: A < B for decimal numbers.
less_than() {
	awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 < b + 0) }'
}

# ar [USER]: our Authentication-Results field in USER's (alice's) only
# message, one line per result (tools/auth-mail.py ar).
ar() {
	local f
	f=$(mp_only_file "${1:-alice}") || return 1
	/usr/bin/python3 "$AUTH_MAIL" ar "$f"
}

# expect_ar EXPECTED [USER]: our field, exactly.
expect_ar() {
	local got
	got=$(ar "${2:-alice}") || return 1
	if [ "$got" != "$1" ]; then
		echo "Authentication-Results, expected:"
		echo "$1"
		echo "got:"
		echo "$got"
		return 1
	fi
}

# The event=accepted (or rejected) log line: exactly one.
log_line() {
	[ "$(grep -c " event=$1 " "$LOG")" -eq 1 ] || return 1
	grep " event=$1 " "$LOG"
}

# accepted SPF DKIM DMARC: the reply was 250 and the log line says so.
accepted() {
	[[ $(data_reply) =~ ^250\ 2\.0\.0\ OK\ id=[0-9]+$ ]] || return 1
	[[ $(log_line accepted) == *" reply=250 "*" spf=$1 dkim=$2 dmarc=$3" ]]
}

# The number of Authentication-Results fields (any authserv-id) in a file.
count_ar() {
	grep -ci '^Authentication-Results:' "$1" || true
}

# ---- DKIM ----------------------------------------------------------------------------

@test "DKIM: a message signed by dkimpy (rsa-sha256) passes, with header.d, .s, .a and .b; one field per copy, above Received:" {
	message "$MP_DIR/m.eml" bob@sender.test signed
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem sender.test sel
	smtp 192.0.2.10 "$MP_DIR/s.eml" --to alice@example.test --to bob@example.test
	accepted pass pass pass
	for u in alice bob; do
		expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=pass smtp.helo=mx.sender.test
dkim=pass header.d=sender.test header.s=sel header.a=rsa-sha256 header.b=<sig1>
dmarc=pass header.from=sender.test" "$u"
		f=$(mp_only_file "$u")
		[ "$(count_ar "$f")" -eq 1 ]
		# the rest is the message as sent, signature included
		grep -q '^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=sender.test;$' "$f"
		[ "$(tail -n 1 "$f")" = Hello. ]
	done
}

@test "DKIM: a body changed after signing fails (body hash did not verify); a changed Subject: fails too" {
	message "$MP_DIR/m.eml" bob@sender.test tampered
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem sender.test sel
	sed 's/^Hello\.\r$/Hello!\r/' "$MP_DIR/s.eml" > "$MP_DIR/body.eml"
	! cmp -s "$MP_DIR/s.eml" "$MP_DIR/body.eml" || false
	smtp 192.0.2.10 "$MP_DIR/body.eml"
	# SPF still passes aligned: DMARC passes
	accepted pass fail pass
	expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=pass smtp.helo=mx.sender.test
dkim=fail (body hash did not verify) header.d=sender.test header.s=sel header.a=rsa-sha256 header.b=<sig1>
dmarc=pass header.from=sender.test"

	rm "$(mp_only_file alice)"
	: > "$LOG"
	sed 's/^Subject: tampered\r$/Subject: changed\r/' "$MP_DIR/s.eml" > "$MP_DIR/head.eml"
	! cmp -s "$MP_DIR/s.eml" "$MP_DIR/head.eml" || false
	smtp 192.0.2.10 "$MP_DIR/head.eml"
	accepted pass fail pass
	run ar
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[3]} =~ ^dkim=fail\ \([a-z\ ]+\)\ header\.d=sender\.test\ header\.s=sel\ header\.a=rsa-sha256\ header\.b=\<sig1\>$ ]]
	[[ ${lines[3]} != *"body hash"* ]]
}

@test "DKIM: a key missing from DNS is permerror (key not found in DNS)" {
	message "$MP_DIR/m.eml" bob@sender.test nokey
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem sender.test missing
	smtp 192.0.2.10 "$MP_DIR/s.eml"
	accepted pass permerror pass
	expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=pass smtp.helo=mx.sender.test
dkim=permerror (key not found in DNS) header.d=sender.test header.s=missing header.a=rsa-sha256 header.b=<sig1>
dmarc=pass header.from=sender.test"
}

@test "DKIM: an Ed25519 signature by dkimpy (ed25519-sha256, relaxed/relaxed; key record k=ed25519) passes" {
	grep -q '^txt ed._domainkey.sender.test "v=DKIM1; k=ed25519; p=' "$ZONE"
	message "$MP_DIR/m.eml" bob@sender.test ed25519
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" ed.key sender.test ed --ed25519 --canon relaxed/relaxed
	grep -q '^DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;' "$MP_DIR/s.eml"
	smtp 192.0.2.10 "$MP_DIR/s.eml"
	accepted pass pass pass
	expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=pass smtp.helo=mx.sender.test
dkim=pass header.d=sender.test header.s=ed header.a=ed25519-sha256 header.b=<sig1>
dmarc=pass header.from=sender.test"
}

@test "DKIM: two signatures, one good and one whose key was rotated, are both reported" {
	message "$MP_DIR/m.eml" bob@sender.test two
	# the bad one first, the good one on top (simple/simple)
	sign "$MP_DIR/m.eml" "$MP_DIR/s1.eml" rsa.pem sender.test rotated
	sign "$MP_DIR/s1.eml" "$MP_DIR/s2.eml" rsa.pem sender.test sel --canon simple/simple
	[ "$(grep -c '^DKIM-Signature:' "$MP_DIR/s2.eml")" -eq 2 ]
	# from an address SPF fails: DMARC passes through the good signature
	smtp 198.51.100.7 "$MP_DIR/s2.eml"
	[[ $(data_reply) =~ ^250\  ]]
	[[ $(log_line accepted) =~ \ spf=fail\ dkim=(pass,fail|fail,pass)\ dmarc=pass$ ]]
	run ar
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 6 ]
	[ "${lines[0]}" = mx.example.test ]
	[ "${lines[1]}" = "spf=fail smtp.mailfrom=bob@sender.test" ]
	[ "${lines[2]}" = "spf=fail smtp.helo=mx.sender.test" ]
	# in either order; the failure with the reason libopendkim gives
	dkim=$(printf '%s\n' "${lines[3]}" "${lines[4]}" | sort)
	[[ $dkim =~ ^dkim=fail\ \(([a-z\ ]+)\)\ header\.d=sender\.test\ header\.s=rotated\ header\.a=rsa-sha256\ header\.b=\<sig2\>$'\n'dkim=pass\ header\.d=sender\.test\ header\.s=sel\ header\.a=rsa-sha256\ header\.b=\<sig1\>$ ]]
	[[ ${BASH_REMATCH[1]} != *"body hash"* ]]
	[ "${lines[5]}" = "dmarc=pass header.from=sender.test" ]
}

@test "DKIM: of ten signatures the first eight are checked, and the field says the rest were not" {
	message "$MP_DIR/m.eml" bob@sender.test ten
	cp "$MP_DIR/m.eml" "$MP_DIR/s0.eml"
	local i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sign "$MP_DIR/s$((i - 1)).eml" "$MP_DIR/s$i.eml" rsa.pem sender.test sel
	done
	[ "$(grep -c '^DKIM-Signature:' "$MP_DIR/s10.eml")" -eq 10 ]
	smtp 192.0.2.10 "$MP_DIR/s10.eml"
	accepted pass pass,pass,pass,pass,pass,pass,pass,pass pass
	run ar
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^dkim=pass header.d=sender.test header.s=sel ' <<<"$output")" -eq 8 ]
	# one comment, after the last DKIM result, before dmarc=
	local f
	f=$(mp_only_file alice)
	[ "$(grep -c 'only the first 8 DKIM signatures were checked' "$f")" -eq 1 ]
	sed -n '/^Authentication-Results:/,/dmarc=/p' "$f" | tr -d '\n\t' |
		grep -q 'header.b=[^;]* (only the first 8 DKIM signatures were checked);dmarc=pass'
}

@test "DKIM: an unsigned message gets dkim=none" {
	message "$MP_DIR/m.eml" bob@sender.test unsigned
	smtp 192.0.2.10 "$MP_DIR/m.eml"
	accepted pass none pass
	expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=pass smtp.helo=mx.sender.test
dkim=none
dmarc=pass header.from=sender.test"
}

@test "DKIM: a 10 MiB message signed by dkimpy verifies (streamed, not held)" {
	/usr/bin/python3 "$AUTH_MAIL" big $((10 * 1024 * 1024)) > "$MP_DIR/big.eml"
	sign "$MP_DIR/big.eml" "$MP_DIR/s.eml" rsa.pem sender.test sel --canon relaxed/relaxed
	[ "$(stat -c %s "$MP_DIR/s.eml")" -gt $((10 * 1024 * 1024)) ]
	smtp 192.0.2.10 "$MP_DIR/s.eml"
	accepted pass pass pass
	expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=pass smtp.helo=mx.sender.test
dkim=pass header.d=sender.test header.s=sel header.a=rsa-sha256 header.b=<sig1>
dmarc=pass header.from=sender.test"
	# the dot-stuffed lines came through whole
	f=$(mp_only_file alice)
	grep -q '^\.00000100 x' "$f"
}

# ---- SPF -----------------------------------------------------------------------------

# spf_case DOMAIN RESULT: bob@DOMAIN (From: too) from 192.0.2.10, unsigned
spf_case() {
	message "$MP_DIR/m.eml" "bob@$1" "spf-$2"
	smtp 192.0.2.10 "$MP_DIR/m.eml" --from "bob@$1"
	accepted "$2" none none
	expect_ar "mx.example.test
spf=$2 smtp.mailfrom=bob@$1
spf=pass smtp.helo=mx.sender.test
dkim=none
dmarc=none (no DMARC record) header.from=$1"
}

@test "SPF: pass (ip4: matches)" {
	message "$MP_DIR/m.eml" bob@sender.test spf-pass
	smtp 192.0.2.10 "$MP_DIR/m.eml"
	accepted pass none pass
	ar | grep -qx 'spf=pass smtp.mailfrom=bob@sender.test'
}

@test "SPF: fail (-all); the message is still accepted" {
	spf_case fail.test fail
}

@test "SPF: softfail (~all)" {
	spf_case soft.test softfail
}

@test "SPF: neutral (?all)" {
	spf_case neutral.test neutral
}

@test "SPF: none (no SPF record); DMARC none (no record)" {
	spf_case nospf.test none
}

@test "SPF: a DNS time-out is temperror, and the 250 comes within the configured timeout" {
	mp_conf timeout 6
	message "$MP_DIR/m.eml" bob@slow.test slow
	smtp 192.0.2.10 "$MP_DIR/m.eml" --from bob@slow.test
	accepted temperror none temperror
	expect_ar "mx.example.test
spf=temperror smtp.mailfrom=bob@slow.test
spf=pass smtp.helo=mx.sender.test
dkim=none
dmarc=temperror (DMARC record query failed) header.from=slow.test"
	# the DNS really was silent: the checks waited, but under the bound
	less_than "$(data_seconds)" 6
	less_than "$(session_seconds)" 6
	less_than 0.9 "$(data_seconds)"
}

@test "SPF: the HELO identity: pass, fail, none; an address literal or a dotless name is not checked; the null sender is judged by HELO" {
	message "$MP_DIR/m.eml" bob@sender.test helo
	# helo pass is in the other tests; fail and none here
	smtp 192.0.2.10 "$MP_DIR/m.eml" --helo fail.test
	accepted pass none pass
	ar | grep -qx 'spf=fail smtp.helo=fail.test'
	rm "$(mp_only_file alice)"; : > "$LOG"

	smtp 192.0.2.10 "$MP_DIR/m.eml" --helo nospf.test
	accepted pass none pass
	ar | grep -qx 'spf=none smtp.helo=nospf.test'
	rm "$(mp_only_file alice)"; : > "$LOG"

	for helo in '[192.0.2.10]' localhost; do
		smtp 192.0.2.10 "$MP_DIR/m.eml" --helo "$helo"
		accepted pass none pass
		expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
dkim=none
dmarc=pass header.from=sender.test"
		rm "$(mp_only_file alice)"; : > "$LOG"
	done

	# MAIL FROM:<>: only HELO's result, which the log shows as spf=
	smtp 192.0.2.10 "$MP_DIR/m.eml" --from ''
	[[ $(data_reply) =~ ^250\  ]]
	[[ $(log_line accepted) == *" from=<> "*" spf=pass dkim=none "* ]]
	ar | grep -qx 'spf=pass smtp.helo=mx.sender.test'
	[ "$(ar | grep -c '^spf=')" -eq 1 ]
}

@test "SPF: an IPv6 peer (ip6:), whose HELO name has only an IPv4 address (fail)" {
	message "$MP_DIR/m.eml" bob@sender.test ipv6
	smtp 2001:db8:25::10 "$MP_DIR/m.eml"
	accepted pass none pass
	grep -q ' client=2001:db8:25::10 ' "$LOG"
	expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=fail smtp.helo=mx.sender.test
dkim=none
dmarc=pass header.from=sender.test"
}

@test "SPF: a HELO name and a MAIL FROM local part with ; and = in them are quoted: no result can be slipped in" {
	message "$MP_DIR/m.eml" bob@sender.test inject
	smtp 192.0.2.10 "$MP_DIR/m.eml" --helo 'x.test;dkim=pass' --from '"a;dmarc=pass x"@sender.test'
	accepted pass none pass
	f=$(mp_only_file alice)
	grep -Fqx '	spf=none smtp.helo="x.test;dkim=pass";' "$f"
	grep -Fqx '	spf=pass smtp.mailfrom="\"a;dmarc=pass x\"@sender.test";' "$f"
	run ar
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 5 ]
	[ "$(cut -d' ' -f1 <<<"$output" | tr '\n' ' ')" = "mx.example.test spf=pass spf=none dkim=none dmarc=pass " ]
}

# ---- DMARC ---------------------------------------------------------------------------

@test "DMARC: pass through SPF alignment alone (no DKIM signature)" {
	message "$MP_DIR/m.eml" bob@sender.test spf-only
	smtp 192.0.2.10 "$MP_DIR/m.eml"
	accepted pass none pass
	ar | grep -qx 'dkim=none'
	ar | grep -qx 'dmarc=pass header.from=sender.test'
}

@test "DMARC: pass through DKIM alignment alone (SPF fails)" {
	message "$MP_DIR/m.eml" bob@sender.test dkim-only
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem sender.test sel
	smtp 198.51.100.7 "$MP_DIR/s.eml"
	accepted fail pass pass
	expect_ar "mx.example.test
spf=fail smtp.mailfrom=bob@sender.test
spf=fail smtp.helo=mx.sender.test
dkim=pass header.d=sender.test header.s=sel header.a=rsa-sha256 header.b=<sig1>
dmarc=pass header.from=sender.test"
}

@test "DMARC: a fail under p=none is delivered, marked dmarc=fail (p=none)" {
	mp_conf dmarc_reject yes
	# SPF passes for sender.test, which is not the From: domain
	message "$MP_DIR/m.eml" ceo@pnone.test pnone
	smtp 192.0.2.10 "$MP_DIR/m.eml"
	accepted pass none fail
	expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=pass smtp.helo=mx.sender.test
dkim=none
dmarc=fail (p=none dis=none) header.from=pnone.test"
}

@test "DMARC: a fail under p=reject without dmarc_reject is delivered, marked" {
	message "$MP_DIR/m.eml" ceo@sender.test forged
	smtp 198.51.100.7 "$MP_DIR/m.eml"
	accepted fail none fail
	expect_ar "mx.example.test
spf=fail smtp.mailfrom=bob@sender.test
spf=fail smtp.helo=mx.sender.test
dkim=none
dmarc=fail (p=reject dis=none) header.from=sender.test"
}

@test "DMARC: a fail under p=reject with dmarc_reject yes is 550 5.7.1, nothing stored, event=rejected reason=dmarc" {
	mp_conf dmarc_reject yes
	message "$MP_DIR/m.eml" ceo@sender.test forged
	# a signature of another domain does not align
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem reject.test sel
	smtp 198.51.100.7 "$MP_DIR/s.eml" --to alice@example.test --to bob@example.test
	[ "$(data_reply)" = "550 5.7.1 Message refused by the DMARC policy of sender.test" ]
	# the session goes on
	grep -qx '221 2.0.0 Bye' <<<"$output"
	[ "$(count_files "$(mp_maildir alice)/new")" -eq 0 ]
	[ "$(count_files "$(mp_maildir bob)/new")" -eq 0 ]
	[ "$(count_files "$(mp_maildir alice)/tmp")" -eq 0 ]
	! grep -q 'event=accepted' "$LOG" || false
	! grep -q 'prog=mail-store' "$LOG" || false
	[[ $(log_line rejected) =~ \ reason=dmarc\ from=\<bob@sender\.test\>\ spf=fail\ dkim=pass\ dmarc=fail\ reply=550$ ]]
	if [ -f "$MP_STATE/mail.db" ]; then
		[ "$(sqlite3 "$MP_STATE/mail.db" 'select count(*) from messages')" -eq 0 ]
	fi
}

@test "DMARC: pct= of p=reject: pct=0 is never refused (delivered, marked), pct=100 always, pct=50 some of the time" {
	mp_conf dmarc_reject yes
	message "$MP_DIR/0.eml" ceo@pct0.test sampled
	smtp 198.51.100.7 "$MP_DIR/0.eml" "$MP_DIR/0.eml" "$MP_DIR/0.eml" "$MP_DIR/0.eml" \
		"$MP_DIR/0.eml" "$MP_DIR/0.eml" "$MP_DIR/0.eml" "$MP_DIR/0.eml" --from bob@pct0.test
	[ "$(grep -c '^data [0-9]: 250 2.0.0 OK id=' <<<"$output")" -eq 8 ]
	[ "$(count_files "$(mp_maildir alice)/new")" -eq 8 ]
	grep -qx 'dmarc=fail (p=reject dis=none) header.from=pct0.test' \
		<<<"$(/usr/bin/python3 "$AUTH_MAIL" ar "$(ls -d "$(mp_maildir alice)"/new/* | head -n 1)")"
	rm "$(mp_maildir alice)"/new/*

	message "$MP_DIR/100.eml" ceo@pct100.test sampled
	smtp 198.51.100.7 "$MP_DIR/100.eml" "$MP_DIR/100.eml" --from bob@pct100.test
	[ "$(data_reply 1)" = "550 5.7.1 Message refused by the DMARC policy of pct100.test" ]
	[ "$(data_reply 2)" = "550 5.7.1 Message refused by the DMARC policy of pct100.test" ]

	# 40 messages under pct=50: all refused or all taken is a chance of 2^-39
	message "$MP_DIR/50.eml" ceo@pct50.test sampled
	local refused=0 taken=0 i
	for i in 1 2 3 4 5; do
		smtp 198.51.100.7 "$MP_DIR/50.eml" "$MP_DIR/50.eml" "$MP_DIR/50.eml" "$MP_DIR/50.eml" \
			"$MP_DIR/50.eml" "$MP_DIR/50.eml" "$MP_DIR/50.eml" "$MP_DIR/50.eml" --from bob@pct50.test
		refused=$((refused + $(grep -c '^data [0-9]: 550 5.7.1 ' <<<"$output" || true)))
		taken=$((taken + $(grep -c '^data [0-9]: 250 ' <<<"$output" || true)))
	done
	echo "pct=50: $refused refused, $taken taken"
	[ $((refused + taken)) -eq 40 ]
	[ "$refused" -gt 0 ] && [ "$taken" -gt 0 ]
	[ "$(count_files "$(mp_maildir alice)/new")" -eq "$taken" ]
}

# org_case FROM-DOMAIN ORG-DOMAIN: From: a@FROM-DOMAIN, whose only DMARC
# record is ORG-DOMAIN's (p=reject; sp=quarantine).
org_case() {
	mp_conf dmarc_reject yes
	# aligned (relaxed) with the SPF pass of bob@ORG-DOMAIN
	message "$MP_DIR/m.eml" "a@$1" subdomain
	smtp 192.0.2.10 "$MP_DIR/m.eml" --from "bob@$2"
	accepted pass none pass
	ar | grep -qx "dmarc=pass header.from=$1"
	rm "$(mp_only_file alice)"; : > "$LOG"

	# a fail: the record's sp=quarantine, not its p=reject, so not refused
	smtp 198.51.100.7 "$MP_DIR/m.eml" --from "bob@$2"
	accepted fail none fail
	expect_ar "mx.example.test
spf=fail smtp.mailfrom=bob@$2
spf=fail smtp.helo=mx.sender.test
dkim=none
dmarc=fail (p=quarantine dis=none) header.from=$1"
	rm "$(mp_only_file alice)"; : > "$LOG"

	# the organizational domain itself: p=reject
	message "$MP_DIR/m.eml" "a@$2" org
	smtp 198.51.100.7 "$MP_DIR/m.eml" --from "bob@$2"
	[ "$(data_reply)" = "550 5.7.1 Message refused by the DMARC policy of $2" ]
}

@test "DMARC: the organizational domain's record applies to a subdomain From: (news.sender.test: sender.test), with its sp=" {
	org_case news.sender.test sender.test
}

@test "DMARC: the organizational domain by the public suffix list: news.example.co.uk is under example.co.uk" {
	org_case news.example.co.uk example.co.uk
}

# A From: of sender.test (p=reject) that fails, behind one of pnone.test
# (p=none): a second From: field, or a second address in the one field.
@test "DMARC: a second From: field does not hide a failing p=reject domain from dmarc_reject" {
	mp_conf dmarc_reject yes
	printf 'From: Bob <bob@pnone.test>\nFrom: CEO <ceo@sender.test>\nTo: alice@example.test\nSubject: pay now\n\nHello.\n' > "$MP_DIR/m.eml"
	smtp 198.51.100.7 "$MP_DIR/m.eml" --from bob@pnone.test
	# RFC 7489 6.6.1: every author domain is judged, the strictest failing
	# policy applies (or such a message is refused outright)
	[[ $(data_reply) =~ ^550\ 5\.7\.1\  ]]
	[ "$(count_files "$(mp_maildir alice)/new")" -eq 0 ]
}

@test "DMARC: a second address in From: does not hide a failing p=reject domain from dmarc_reject" {
	mp_conf dmarc_reject yes
	printf 'From: Bob <bob@pnone.test>, CEO <ceo@sender.test>\nTo: alice@example.test\nSubject: pay now\n\nHello.\n' > "$MP_DIR/m.eml"
	smtp 198.51.100.7 "$MP_DIR/m.eml" --from bob@pnone.test
	[[ $(data_reply) =~ ^550\ 5\.7\.1\  ]]
	[ "$(count_files "$(mp_maildir alice)/new")" -eq 0 ]
}

@test "DMARC: a time-out of the DMARC record query is temperror, never 550, with dmarc_reject yes and p=reject above" {
	mp_conf timeout 6
	mp_conf dmarc_reject yes
	# _dmarc.late.reject.test is silent; _dmarc.reject.test says p=reject
	message "$MP_DIR/m.eml" ceo@late.reject.test late
	smtp 198.51.100.7 "$MP_DIR/m.eml" --from ceo@late.reject.test
	accepted none none temperror
	expect_ar "mx.example.test
spf=none smtp.mailfrom=ceo@late.reject.test
spf=fail smtp.helo=mx.sender.test
dkim=none
dmarc=temperror (DMARC record query failed) header.from=late.reject.test"
	less_than "$(session_seconds)" 6
}

@test "DMARC: a DKIM key query that times out makes a failing p=reject message temperror, not 550" {
	mp_conf timeout 6
	mp_conf dmarc_reject yes
	message "$MP_DIR/m.eml" ceo@reject.test slowkey
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem reject.test slow
	smtp 192.0.2.10 "$MP_DIR/s.eml" --from ceo@reject.test
	accepted fail temperror temperror
	less_than "$(session_seconds)" 6
	run ar
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "spf=fail smtp.mailfrom=ceo@reject.test" ]
	[ "${lines[3]}" = "dkim=temperror (key DNS query failed) header.d=reject.test header.s=slow header.a=rsa-sha256 header.b=<sig1>" ]
	[[ ${lines[4]} =~ ^dmarc=temperror\ (\(.*\)\ )?header\.from=reject\.test$ ]]
}

@test "DNS: eight silent lookups (HELO, MAIL FROM, five DKIM keys, DMARC) share one budget: all temperror, 250 within the timeout" {
	mp_conf timeout 6
	message "$MP_DIR/m.eml" bob@slow.test budget
	cp "$MP_DIR/m.eml" "$MP_DIR/s0.eml"
	for i in 1 2 3 4 5; do
		sign "$MP_DIR/s$((i - 1)).eml" "$MP_DIR/s$i.eml" rsa.pem slow.test "key$i"
	done
	smtp 192.0.2.10 "$MP_DIR/s5.eml" --helo slow.test --from bob@slow.test
	less_than "$(data_seconds)" 6
	less_than "$(session_seconds)" 6
	accepted temperror temperror,temperror,temperror,temperror,temperror temperror
	run ar
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 9 ]
	[ "${lines[1]}" = "spf=temperror smtp.mailfrom=bob@slow.test" ]
	[ "${lines[2]}" = "spf=temperror smtp.helo=slow.test" ]
	for i in 3 4 5 6 7; do
		[[ ${lines[$i]} =~ ^dkim=temperror\ \(key\ DNS\ query\ failed\)\ header\.d=slow\.test\ header\.s=key[1-5]\ header\.a=rsa-sha256\ header\.b=\<sig[1-5]\>$ ]]
	done
	[ "${lines[8]}" = "dmarc=temperror (DMARC record query failed) header.from=slow.test" ]
}

@test "DNS: SERVFAIL for the SPF record, the DKIM key and the DMARC record is temperror, at once" {
	mp_conf dmarc_reject yes
	message "$MP_DIR/m.eml" bob@broken.test servfail
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem broken.test sel
	smtp 192.0.2.10 "$MP_DIR/s.eml" --from bob@broken.test
	accepted temperror temperror temperror
	# at once: a query given up on waits 2.5 s (a quarter of the budget)
	less_than "$(data_seconds)" 2
	expect_ar "mx.example.test
spf=temperror smtp.mailfrom=bob@broken.test
spf=pass smtp.helo=mx.sender.test
dkim=temperror (key DNS query failed) header.d=broken.test header.s=sel header.a=rsa-sha256 header.b=<sig1>
dmarc=temperror (DMARC record query failed) header.from=broken.test"
}

@test "DNS: the budget is per message: a silent first message does not leave the second without DNS" {
	mp_conf timeout 6
	message "$MP_DIR/slow.eml" bob@slow.test first
	message "$MP_DIR/m.eml" bob@sender.test second
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem sender.test sel
	smtp 192.0.2.10 "$MP_DIR/slow.eml" "$MP_DIR/s.eml" --from bob@slow.test --from bob@sender.test
	[[ $(data_reply 1) =~ ^250\  ]]
	[[ $(data_reply 2) =~ ^250\  ]]
	less_than 0.9 "$(data_seconds 1)"
	less_than "$(session_seconds)" 6
	[ "$(grep -c ' event=accepted ' "$LOG")" -eq 2 ]
	grep ' event=accepted ' "$LOG" | head -1 | grep -q ' spf=temperror dkim=none dmarc=temperror$'
	grep ' event=accepted ' "$LOG" | tail -1 | grep -q ' spf=pass dkim=pass dmarc=pass$'
}

@test "BDAT (CHUNKING): a signed message is checked as with DATA" {
	message "$MP_DIR/m.eml" bob@sender.test bdat
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem sender.test sel
	smtp 192.0.2.10 "$MP_DIR/s.eml" --bdat
	! grep -q '^354 ' <<<"$output" || false
	accepted pass pass pass
	expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=pass smtp.helo=mx.sender.test
dkim=pass header.d=sender.test header.s=sel header.a=rsa-sha256 header.b=<sig1>
dmarc=pass header.from=sender.test"
}

# ---- Authentication-Results from outside ----------------------------------------------

@test "forged Authentication-Results with our name are removed (any case, a comment before the id); others are kept" {
	cat > "$MP_DIR/m.eml" <<-'EOF'
	Authentication-Results: mx.example.test; dkim=pass header.d=paypal.com
	From: Bob <bob@sender.test>
	Authentication-Results: MX.Example.TEST; spf=pass smtp.mailfrom=paypal.com
	To: alice@example.test
	Authentication-Results:
	 (a comment) mx.example.test;
	 dmarc=pass header.from=paypal.com
	authentication-results: mx.example.test (lower-case name); arc=pass
	Authentication-Results: other.example; spf=pass smtp.mailfrom=bob@sender.test
	Authentication-Results: mx.example.test.other.example; dkim=pass
	X-Authentication-Results: mx.example.test; dkim=pass
	Subject: forged
	
	Authentication-Results: mx.example.test; in the body, not a header
	EOF
	smtp 192.0.2.10 "$MP_DIR/m.eml"
	accepted pass none pass
	f=$(mp_only_file alice)
	cat "$f"
	# ours, then the two of other authserv-ids, in their places
	[ "$(/usr/bin/python3 "$AUTH_MAIL" ids "$f")" = "mx.example.test
other.example
mx.example.test.other.example" ]
	expect_ar "mx.example.test
spf=pass smtp.mailfrom=bob@sender.test
spf=pass smtp.helo=mx.sender.test
dkim=none
dmarc=pass header.from=sender.test"
	! grep -qi 'paypal' "$f" || false
	! grep -q 'lower-case name' "$f" || false
	grep -qx 'X-Authentication-Results: mx.example.test; dkim=pass' "$f"
	grep -qx 'Authentication-Results: mx.example.test; in the body, not a header' "$f"
	# the fields around the removed ones are whole
	sed -n '/^Received:/,$p' "$f" | grep -v '^[[:space:]]' > "$MP_DIR/names"
	[ "$(cut -d: -f1 "$MP_DIR/names" | head -7 | tr '\n' ' ')" = "Received From To Authentication-Results Authentication-Results X-Authentication-Results Subject " ]
	grep -q ' event=removed field=Authentication-Results ' "$LOG"
}

# forged_fields N: a message with N Authentication-Results fields with
# our name, in $MP_DIR/m.eml
forged_fields() {
	{
		echo 'From: Bob <bob@sender.test>'
		for i in $(seq 1 "$1"); do
			echo "Authentication-Results: mx.example.test; dkim=pass header.i=@forged$i.test"
		done
		echo 'To: alice@example.test'
		echo 'Subject: many'
		echo
		echo 'Hello.'
	} > "$MP_DIR/m.eml"
}

@test "forged Authentication-Results: all of 64 with our name are removed; 65 are refused (550 5.7.1), nothing stored" {
	forged_fields 64
	smtp 192.0.2.10 "$MP_DIR/m.eml"
	accepted pass none pass
	f=$(mp_only_file alice)
	[ "$(count_ar "$f")" -eq 1 ]
	! grep -q 'forged' "$f" || false
	ar | grep -qx 'dmarc=pass header.from=sender.test'
	rm "$f"; : > "$LOG"

	forged_fields 65
	smtp 192.0.2.10 "$MP_DIR/m.eml"
	[[ $(data_reply) =~ ^550\ 5\.7\.1\  ]]
	[ "$(count_files "$(mp_maildir alice)/new")" -eq 0 ]
	! grep -q 'event=accepted' "$LOG" || false
	[[ $(log_line rejected) == *" reply=550"* ]]
}

# ---- not checked -----------------------------------------------------------------------

# not_checked USER: USER's message has no Authentication-Results and the log
# line no results.
not_checked() {
	local f
	f=$(mp_only_file "$1")
	[ "$(count_ar "$f")" -eq 0 ]
	[[ $(data_reply) =~ ^250\ 2\.0\.0\ OK\ id= ]]
	[[ $(log_line accepted) != *" spf="* ]]
	[[ $(log_line accepted) != *" dmarc="* ]]
}

@test "not checked: the same message from 127.0.0.1 (a relay client), from a relay-clients network, and piped with no peer" {
	message "$MP_DIR/m.eml" bob@sender.test local
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem sender.test sel
	smtp 127.0.0.1 "$MP_DIR/s.eml"
	not_checked alice
	rm "$(mp_only_file alice)"; : > "$LOG"

	echo 192.0.2.0/24 > "$MAILPIPE_CONF/relay-clients"
	smtp 192.0.2.10 "$MP_DIR/s.eml"
	not_checked alice
	rm "$(mp_only_file alice)"; : > "$LOG"
	rm "$MAILPIPE_CONF/relay-clients"

	smtp "" "$MP_DIR/s.eml"
	grep -q ' client=unknown ' "$LOG"
	not_checked alice
}

@test "not checked: submission (-s) after AUTH, and an authenticated session on port 25" {
	mp_conf tls_cert "$BATS_FILE_TMPDIR/cert.pem"
	mp_conf tls_key "$BATS_FILE_TMPDIR/key.pem"
	message "$MP_DIR/m.eml" alice@example.test submitted
	sign "$MP_DIR/m.eml" "$MP_DIR/s.eml" rsa.pem sender.test sel
	smtp 192.0.2.10 "$MP_DIR/s.eml" --tls --auth alice@example.test:secret \
		--from alice@example.test --to bob@example.test -- -s
	grep -q '^235 ' <<<"$output"
	not_checked bob
	rm "$(mp_only_file bob)"; : > "$LOG"

	smtp 192.0.2.10 "$MP_DIR/s.eml" --tls --auth alice@example.test:secret \
		--from alice@example.test --to bob@example.test
	grep -q '^235 ' <<<"$output"
	not_checked bob
}

@test "forged Authentication-Results with our name from an authenticated user (submission) are removed too" {
	mp_conf tls_cert "$BATS_FILE_TMPDIR/cert.pem"
	mp_conf tls_key "$BATS_FILE_TMPDIR/key.pem"
	printf 'Authentication-Results: mx.example.test; dkim=pass header.d=paypal.com\nFrom: PayPal <service@paypal.com>\nTo: bob@example.test\nSubject: verified\n\nHello.\n' > "$MP_DIR/m.eml"
	smtp 192.0.2.10 "$MP_DIR/m.eml" --tls --auth alice@example.test:secret \
		--from alice@example.test --to bob@example.test -- -s
	[[ $(data_reply) =~ ^250\  ]]
	# RFC 8601 section 5: only a trusted MTA's fields with our name may
	# stay; a user's mail client is none (bob's would show "dkim=pass
	# paypal.com", vouched for by us)
	f=$(mp_only_file bob)
	! grep -qi '^Authentication-Results:.*paypal' "$f" || false
}
