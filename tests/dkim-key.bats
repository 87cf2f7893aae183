# mailpipe-dkim-key: a DKIM key in $MAILPIPE_CONF/dkim-keys, its line in
# dkim, the TXT record on standard output; and mailpipe-check's checks of
# the dkim file and its keys.
bats_require_minimum_version 1.5.0
setup() {
	load lib
	mp_setup
	C=$MAILPIPE_CONF
	# the modes of an installation (see check.bats), for mailpipe-check
	chmod 0640 "$C/users"
	chmod 0700 "$MP_STATE"
}
teardown() { mp_teardown; }

# dkim_key ARGS...: runs mailpipe-dkim-key, stdout in $output, stderr in $stderr
dkim_key() {
	run --separate-stderr "$BIN/mailpipe-dkim-key" "$@"
	echo "stdout: $output"
	echo "stderr: $stderr"
}

# The record's value: the quoted strings of the lines that are not
# comments, joined as a resolver joins them.
record_value() {
	grep -v '^;' <<<"$output" | grep -o '"[^"]*"' | tr -d '"\n'
}

# p= of the record value
record_p() {
	record_value | sed -n 's/.*p=\([A-Za-z0-9+\/=]*\).*/\1/p'
}

# The public key of a private key file as DKIM's p= has it: the DER
# SubjectPublicKeyInfo in base64 for RSA, the last 32 octets (the raw key)
# for Ed25519 (RFC 8463).
openssl_p() {
	if [ "$2" = ed25519 ]; then
		openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | base64 -w0
	else
		openssl pkey -in "$1" -pubout -outform DER | base64 -w0
	fi
}

# Fails unless every quoted string in the output has at most 255 octets.
strings_fit() {
	local s
	while read -r s; do
		[ "${#s}" -le 257 ] || { echo "a string of ${#s} octets with its quotes: $s"; return 1; }
	done < <(grep -v '^;' <<<"$output" | grep -o '"[^"]*"')
}

# dkimpy_verify ALG KEYFILE DOMAIN SELECTOR RECORDFILE: Python's dkimpy signs
# a message with the key file and verifies it, the DNS answering with the
# record in RECORDFILE (our output) for its name and nothing else.
dkimpy_verify() {
	$PY - "$@" <<'PY'
import base64, re, sys
import dkim
alg, keyfile, domain, selector, recordfile = sys.argv[1:6]
text = open(recordfile).read()
lines = [l for l in text.splitlines() if not l.startswith(';')]
name = lines[0].split()[0].encode()
value = ''.join(re.findall(r'"([^"]*)"', '\n'.join(lines))).encode()
pem = open(keyfile, 'rb').read()
if alg == 'ed25519':
    # dkimpy wants the 32-octet seed in base64, not PEM
    from cryptography.hazmat.primitives import serialization as ser
    key = ser.load_pem_private_key(pem, None)
    privkey = base64.b64encode(key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw,
                                                 ser.NoEncryption()))
    sigalg = b'ed25519-sha256'
else:
    privkey = pem
    sigalg = b'rsa-sha256'
msg = (b'From: alice@' + domain.encode() + b'\r\nTo: bob@remote.test\r\n'
       b'Subject: signed\r\n\r\nHello.\r\n')
sig = dkim.sign(msg, selector.encode(), domain.encode(), privkey, signature_algorithm=sigalg,
                include_headers=[b'from', b'to', b'subject'])
asked = []
def dns(qname, timeout=5):
    asked.append(qname)
    return value if qname == name else None
try:
    ok = dkim.verify(sig + msg, dnsfunc=dns)
except Exception as e:
    print('verify raised', repr(e))
    ok = False
print('asked for', asked, 'verified' if ok else 'NOT verified')
sys.exit(0 if ok else 1)
PY
}

# make_and_verify TYPE SELECTOR: a key of TYPE for example.test; dkimpy
# signs with its file and verifies against the record printed
make_and_verify() {
	dkim_key -t "$1" example.test "$2"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$MP_DIR/$2.record"
	run dkimpy_verify "$1" "$C/dkim-keys/example.test.$2.pem" example.test "$2" "$MP_DIR/$2.record"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "asked for [b'$2._domainkey.example.test.'] verified" ]
}

# verify_signed MESSAGE RECORDFILE...: dkimpy checks every DKIM-Signature
# of MESSAGE, the DNS answering with the records printed (nothing else);
# one line per signature, "a=ALG s=SELECTOR pass|fail"
verify_signed() {
	$PY - "$@" <<'PY'
import re, sys
import dkim
msg = re.sub(rb'\r?\n', b'\r\n', open(sys.argv[1], 'rb').read())
records = {}
for f in sys.argv[2:]:
    lines = [l for l in open(f).read().splitlines() if not l.startswith(';')]
    records[lines[0].split()[0].encode()] = ''.join(re.findall(r'"([^"]*)"', '\n'.join(lines))).encode()
def dns(qname, timeout=5):
    return records.get(qname)
d = dkim.DKIM(msg)
sigs = [v for k, v in d.headers if k.lower() == b'dkim-signature']
ok = bool(sigs)
for i, value in enumerate(sigs):
    tags = dkim.util.parse_tag_value(re.sub(rb'\s+', b'', value))
    good = d.verify(idx=i, dnsfunc=dns)
    ok = ok and good
    print('a=%s s=%s %s' % (tags[b'a'].decode(), tags[b's'].decode(), 'pass' if good else 'fail'))
sys.exit(0 if ok else 1)
PY
}

# mailpipe-check as the test's user (also where a user mailpipe exists)
check() {
	local as=()
	if id mailpipe >/dev/null 2>&1; then
		as=(-u "$(id -un)")
	fi
	run --separate-stderr "$BIN/mailpipe-check" "${as[@]}"
	echo "$output"
	[ -z "$stderr" ] || { echo "stderr: $stderr"; false; }
}

# has LINE: the output has exactly this line
has() {
	grep -qxF -- "$1" <<<"$output" || { echo "missing: $1"; false; }
}

@test "-h prints the usage on standard output and exits 0" {
	dkim_key -h
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "usage: mailpipe-dkim-key [-t rsa|ed25519] [-b BITS] DOMAIN SELECTOR" ]]
	[ -z "$stderr" ]
	[ ! -e "$C/dkim" ]
}

@test "an RSA key: 2048 bits in PKCS#8 PEM, mode 0600 in dkim-keys 0700, its dkim line, and the record with its public key" {
	dkim_key example.test s1
	[ "$status" -eq 0 ]
	key=$C/dkim-keys/example.test.s1.pem
	[ "$(stat -c %a "$C/dkim-keys")" = 700 ]
	[ "$(stat -c %a "$key")" = 600 ]
	[ "$(head -n1 "$key")" = "-----BEGIN PRIVATE KEY-----" ]
	openssl pkey -in "$key" -noout -text | grep -qx 'Private-Key: (2048 bit, 2 primes)'
	[ "$(cat "$C/dkim")" = "example.test s1 dkim-keys/example.test.s1.pem" ]
	[ "$(stat -c %a "$C/dkim")" = 644 ]
	# the record, in zone-file form
	[ "${lines[0]}" = 's1._domainkey.example.test. IN TXT ( "v=DKIM1; k=rsa; "' ]
	[ "${#lines[@]}" -eq 5 ]
	[[ "${lines[2]}" == *'" )' ]]
	strings_fit
	[[ "$(record_value)" == "v=DKIM1; k=rsa; p="* ]]
	[ "$(record_p)" = "$(openssl_p "$key" rsa)" ]
	# then the comment lines: where the key is
	[[ "${lines[3]}" == "; the key $key is listed in $C/dkim:" ]]
	[[ "${lines[4]}" == ";"*"publish this record in DNS" ]]
}

@test "an Ed25519 key (RFC 8463): k=ed25519 and p= the 32 octets of its public key" {
	dkim_key -t ed25519 Example.TEST Ed1
	[ "$status" -eq 0 ]
	key=$C/dkim-keys/example.test.ed1.pem
	[ "$(stat -c %a "$key")" = 600 ]
	openssl pkey -in "$key" -noout -text | grep -q '^ED25519 Private-Key:'
	[ "$(cat "$C/dkim")" = "example.test ed1 dkim-keys/example.test.ed1.pem" ]
	[ "${lines[0]}" = 'ed1._domainkey.example.test. IN TXT ( "v=DKIM1; k=ed25519; "' ]
	p=$(record_p)
	[ "$(base64 -d <<<"$p" | wc -c)" -eq 32 ]
	[ "$p" = "$(openssl_p "$key" ed25519)" ]
	[ "$(record_value)" = "v=DKIM1; k=ed25519; p=$p" ]
}

@test "-b 4096: the record is cut into strings of at most 255 octets that join into the public key" {
	dkim_key -b 4096 example.test big
	[ "$status" -eq 0 ]
	key=$C/dkim-keys/example.test.big.pem
	openssl pkey -in "$key" -noout -text | grep -qx 'Private-Key: (4096 bit, 2 primes)'
	strings_fit
	[ "$(grep -c '^	"' <<<"$output")" -eq 3 ]
	[ "$(record_p)" = "$(openssl_p "$key" rsa)" ]
}

@test "dkimpy signs with the RSA key file (rsa-sha256) and verifies the signature against the printed record" {
	make_and_verify rsa rsa1
}

@test "dkimpy signs with the Ed25519 key file (ed25519-sha256) and verifies the signature against the printed record" {
	make_and_verify ed25519 ed1
	# and a record of another key does not verify it
	"$BIN/mailpipe-dkim-key" -t ed25519 example.test other > "$MP_DIR/other"
	run dkimpy_verify ed25519 "$C/dkim-keys/example.test.ed1.pem" example.test ed1 "$MP_DIR/other"
	echo "$output"
	[ "$status" -eq 1 ]
}

@test "mail-store signs remote mail with the keys made, RSA and Ed25519, and dkimpy verifies both against the records printed" {
	"$BIN/mailpipe-dkim-key" example.test r1 > "$MP_DIR/r1.record"
	"$BIN/mailpipe-dkim-key" -t ed25519 example.test e1 > "$MP_DIR/e1.record"
	printf 'From: Alice <alice@example.test>\nTo: <bob@remote.test>\nSubject: signed\nDate: Tue, 24 Nov 2026 10:00:00 +0000\n\nHello.\n' |
		"$BIN/mail-store" -f alice@example.test -c 127.0.0.1 -- bob@remote.test >/dev/null
	files=("$MP_STATE"/queue/*)
	[ "${#files[@]}" -eq 1 ] && [ -f "${files[0]}" ]
	run verify_signed "${files[0]}" "$MP_DIR/r1.record" "$MP_DIR/e1.record"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(sort <<<"$output")" = $'a=ed25519-sha256 s=e1 pass\na=rsa-sha256 s=r1 pass' ]
}

@test "RSA keys of fewer than 2048 or more than 4096 bits, and -b with Ed25519, are refused: 64, nothing made" {
	for args in "-b 1024" "-b 2047" "-b 8192" "-b 2k" "-t ed25519 -b 2048"; do
		# shellcheck disable=SC2086
		dkim_key $args example.test s1
		[ "$status" -eq 64 ]
		[ -z "$output" ]
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
		[[ "$stderr" == "mailpipe-dkim-key: -b "* ]]
	done
	[ ! -e "$C/dkim" ]
	[ ! -e "$C/dkim-keys" ]
}

@test "a domain or selector that is not a DNS name, a missing operand, an unknown type: 64 with one line on stderr" {
	long=$(printf 'a%.0s' {1..64})
	while IFS='|' read -r domain selector; do
		dkim_key "$domain" "$selector"
		[ "$status" -eq 64 ]
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
		[[ "$stderr" == "mailpipe-dkim-key: \""*"\" is not a valid "* ]]
	done <<-CASES
	exa mple.test|s1
	example..test|s1
	example.test.|s1
	example.test|../s1
	example.test|s/1
	example.test|$long
	CASES
	dkim_key example.test
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"DOMAIN and SELECTOR are needed"* ]]
	dkim_key -t dsa example.test s1
	[ "$status" -eq 64 ]
	[[ "$stderr" == *"-t dsa: the key types are rsa and ed25519"* ]]
	[ ! -e "$C/dkim" ]
	[ ! -e "$C/dkim-keys" ]
}

@test "the same domain and selector twice: 73, and neither dkim nor the key changes" {
	dkim_key -t ed25519 example.test s1
	[ "$status" -eq 0 ]
	cp "$C/dkim" "$MP_DIR/dkim.before"
	cp "$C/dkim-keys/example.test.s1.pem" "$MP_DIR/key.before"
	for sel in s1 S1; do
		dkim_key example.test "$sel"
		[ "$status" -eq 73 ]
		[ -z "$output" ]
		[[ "$stderr" == "mailpipe-dkim-key: $C/dkim:1: example.test s1 has a key already"* ]]
		cmp "$C/dkim" "$MP_DIR/dkim.before"
		cmp "$C/dkim-keys/example.test.s1.pem" "$MP_DIR/key.before"
	done
	[ "$(ls -A "$C/dkim-keys")" = example.test.s1.pem ]
	# a key file of that name that dkim does not list is not replaced either
	echo keep > "$C/dkim-keys/example.test.s2.pem"
	dkim_key example.test s2
	[ "$status" -eq 73 ]
	[[ "$stderr" == *"$C/dkim-keys/example.test.s2.pem exists, though dkim does not list it"* ]]
	[ "$(cat "$C/dkim-keys/example.test.s2.pem")" = keep ]
	cmp "$C/dkim" "$MP_DIR/dkim.before"
}

@test "a fifth key for a domain is refused with 73 (four is the most mail-store takes), other domains go on" {
	for sel in a b c d; do
		"$BIN/mailpipe-dkim-key" -t ed25519 example.test "$sel" >/dev/null
	done
	cp "$C/dkim" "$MP_DIR/dkim.before"
	dkim_key -t ed25519 example.test e
	[ "$status" -eq 73 ]
	[[ "$stderr" == "mailpipe-dkim-key: example.test has 4 keys in $C/dkim already, the most a domain may have"* ]]
	cmp "$C/dkim" "$MP_DIR/dkim.before"
	[ ! -e "$C/dkim-keys/example.test.e.pem" ]
	dkim_key -t ed25519 catch.test e
	[ "$status" -eq 0 ]
	# what was written is a configuration mailpipe-check finds no fault with
	check
	[ "$status" -eq 0 ]
}

@test "a broken configuration, the dkim file included: 78 naming the file and line, nothing made" {
	printf 'example.test s0\n' > "$C/dkim"
	dkim_key example.test s1
	[ "$status" -eq 78 ]
	[[ "$stderr" == "mailpipe-dkim-key: $C/dkim:1: "* ]]
	[ ! -e "$C/dkim-keys" ]
	[ "$(cat "$C/dkim")" = "example.test s0" ]
	rm "$C/dkim"
	echo 'no_such_key 1' >> "$C/mailpipe.conf"
	dkim_key example.test s1
	[ "$status" -eq 78 ]
	[[ "$stderr" == "mailpipe-dkim-key: $C/mailpipe.conf:3: "* ]]
	[ ! -e "$C/dkim" ]
}

@test "the dkim file keeps its other lines, mode and owner; a line added to it is appended" {
	printf '# signing keys\n\nexample.test old /etc/old.pem\n' > "$C/dkim"
	chmod 0640 "$C/dkim"
	dkim_key -t ed25519 catch.test new
	[ "$status" -eq 0 ]
	[ "$(cat "$C/dkim")" = $'# signing keys\n\nexample.test old /etc/old.pem\ncatch.test new dkim-keys/catch.test.new.pem' ]
	[ "$(stat -c %a "$C/dkim")" = 640 ]
	[ ! -e "$C/dkim.new" ]
}

@test "when dkim cannot be written, the new key file is removed again and dkim is unchanged" {
	printf 'example.test old /etc/old.pem\n' > "$C/dkim"
	mkdir "$C/dkim.new"   # where the new contents would go
	dkim_key -t ed25519 example.test s1
	[ "$status" -eq 73 ]
	[ -z "$output" ]
	[[ "$stderr" == *"cannot create $C/dkim.new"* ]]
	[[ "$stderr" == *"removed $C/dkim-keys/example.test.s1.pem again"* ]]
	[ -z "$(ls -A "$C/dkim-keys")" ]
	[ "$(cat "$C/dkim")" = "example.test old /etc/old.pem" ]
	rmdir "$C/dkim.new"
	dkim_key -t ed25519 example.test s1
	[ "$status" -eq 0 ]
}

@test "a run waits while dkim.lock is held, and eight runs at once all end up in dkim" {
	flock "$C/dkim.lock" sleep 2 &
	holder=$!
	MP_PIDS+=("$holder")
	mp_wait_until 5 bash -c "! flock -n '$C/dkim.lock' true"
	"$BIN/mailpipe-dkim-key" -t ed25519 example.test waited > "$MP_DIR/waited.out" &
	waiter=$!
	sleep 0.5
	kill -0 "$waiter"   # still waiting for the lock
	[ ! -e "$C/dkim" ]
	[ ! -e "$C/dkim-keys/example.test.waited.pem" ]
	wait "$holder"
	wait "$waiter"
	grep -qx 'example.test waited dkim-keys/example.test.waited.pem' "$C/dkim"
	grep -q '^waited._domainkey.example.test. IN TXT' "$MP_DIR/waited.out"

	# (eight domains: a domain has at most four keys)
	pids=()
	for i in 1 2 3 4 5 6 7 8; do
		"$BIN/mailpipe-dkim-key" -t ed25519 "d$i.example.test" s > "$MP_DIR/d$i.out" 2>&1 &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid"
	done
	for i in 1 2 3 4 5 6 7 8; do
		grep -qx "d$i.example.test s dkim-keys/d$i.example.test.s.pem" "$C/dkim" || {
			echo "d$i lost"
			cat "$C/dkim"
			false
		}
		[ -f "$C/dkim-keys/d$i.example.test.s.pem" ]
	done
	[ "$(wc -l < "$C/dkim")" -eq 9 ]
}

@test "run as root, the key and dkim-keys belong to the state directory's owner" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	chown nobody:nogroup "$MP_STATE"
	dkim_key -t ed25519 example.test s1
	[ "$status" -eq 0 ]
	[ "$(stat -c %U:%G "$C/dkim-keys")" = nobody:nogroup ]
	[ "$(stat -c '%U:%G %a' "$C/dkim-keys/example.test.s1.pem")" = "nobody:nogroup 600" ]
	[ "$(stat -c %U "$C/dkim")" = root ]
	# and without a state directory there is no owner to give them to
	rmdir "$MP_STATE"
	dkim_key -t ed25519 example.test s2
	[ "$status" -eq 73 ]
	[[ "$stderr" == *"the state directory $MP_STATE: No such file or directory"* ]]
	[ ! -e "$C/dkim-keys/example.test.s2.pem" ]
}

@test "mailpipe-check: keys made by mailpipe-dkim-key, RSA and Ed25519, have no problems" {
	"$BIN/mailpipe-dkim-key" example.test rsa1 >/dev/null
	"$BIN/mailpipe-dkim-key" -t ed25519 example.test ed1 >/dev/null
	check
	[ "$status" -eq 0 ]
	[[ "$output" == "mailpipe-check: $C: no problems"* ]]
}

@test "mailpipe-check: a key open to others, a missing key, a 1024-bit RSA key, an EC key and no key at all, each on its dkim line" {
	"$BIN/mailpipe-dkim-key" -t ed25519 example.test open >/dev/null
	chmod 0644 "$C/dkim-keys/example.test.open.pem"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$C/weak.pem" 2>/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/ec.pem" 2>/dev/null
	echo 'not a key' > "$C/text.pem"
	chmod 0600 "$C/weak.pem" "$C/ec.pem" "$C/text.pem"
	cat >> "$C/dkim" <<-DKIM
	example.test gone dkim-keys/example.test.gone.pem
	example.test weak weak.pem
	catch.test ec $C/ec.pem
	catch.test text text.pem
	catch.test
	DKIM
	check
	[ "$status" -eq 78 ]
	has "$C/dkim:1: key $C/dkim-keys/example.test.open.pem: mode 0644: group or others have access to the private key (0600 expected)"
	has "$C/dkim:2: key $C/dkim-keys/example.test.gone.pem: No such file or directory"
	has "$C/dkim:3: key $C/weak.pem: an RSA key of 1024 bits, too weak for DKIM (RFC 8301: 2048 or more): make a new one with mailpipe-dkim-key and another selector"
	has "$C/dkim:4: key $C/ec.pem: the key type is EC; DKIM signs with RSA (2048 bits or more) or Ed25519"
	has "$C/dkim:5: key $C/text.pem: not a PEM private key that loads without a passphrase"
	has "$C/dkim:6: expected \"DOMAIN SELECTOR KEYFILE\""
	has "mailpipe-check: $C: 6 problems"
}

@test "mailpipe-check as root: a key the state directory's owner does not own, or cannot read" {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
	"$BIN/mailpipe-dkim-key" -t ed25519 example.test s1 >/dev/null
	"$BIN/mailpipe-dkim-key" -t ed25519 example.test s2 >/dev/null
	chown nobody "$C/dkim-keys/example.test.s1.pem"
	check
	[ "$status" -eq 78 ]
	has "$C/dkim:1: key $C/dkim-keys/example.test.s1.pem: owned by nobody, not by root, the owner of the state directory, who signs"
	[ "$(grep -c "^$C/dkim:" <<<"$output")" -eq 1 ]
	# the state given to nobody: now s2, root's and 0600, is the one nobody can read
	chown nobody "$MP_STATE"
	check
	has "$C/dkim:2: key $C/dkim-keys/example.test.s2.pem: nobody, the owner of the state directory, who signs, cannot read it (owner root, mode 0600)"
	! grep -q "^$C/dkim:1:" <<<"$output"
}
