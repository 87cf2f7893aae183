#!/usr/bin/env bats
# tests/netns.bats - tests/tools/netns-dns itself: a private network, mount
# and pid namespace with dnsmasq answering a test zone on 127.0.0.1:53.
# What res_query sees is checked with tests/tools/dns-query.c (-lresolv).
#
# Needs (Debian 12): root, dnsmasq-base, iproute2, util-linux, python3, a C
# compiler and libc6-dev.
bats_require_minimum_version 1.5.0

setup_file() {
	export NETNS_DNS_QUERY=$BATS_FILE_TMPDIR/dns-query
	cc -Wall -Wextra -o "$NETNS_DNS_QUERY" "$BATS_TEST_DIRNAME/tools/dns-query.c" -lresolv
}

setup() {
	load lib
	[ "$(id -u)" -eq 0 ] || skip "netns-dns needs root"
	NETNS=$TOP/tests/tools/netns-dns
	Q=$NETNS_DNS_QUERY
	D=$BATS_TEST_TMPDIR
	# netns-dns's own temporary directory goes here: checked for leftovers
	export TMPDIR=$D/tmp
	mkdir -p "$TMPDIR"
	ZONE=$D/zone
	cat > "$ZONE" <<-'EOF'
	# a.test: two MX hosts, listed out of order
	mx a.test 20 mx2.a.test
	mx a.test 10 mx1.a.test.
	a mx1.a.test 127.0.0.2
	a mx2.a.test 127.0.0.3
	a mx2.a.test 127.0.0.4
	aaaa mx2.a.test ::1
	txt a.test "v=spf1 -all"
	a b.test 127.0.0.5      # an A record and no MX
	nullmx c.test
	nxdomain d.test
	servfail e.test
	timeout f.test
	cname www.a.test mx1.a.test
	EOF
}

# the pids of the processes in network namespace $1 (net:[inode])
procs_in_netns() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/net" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
	done
	return 0
}

no_procs_in_netns() {
	[ -z "$(procs_in_netns "$1")" ]
}

@test "netns-dns: res_query sees MX in preference order, null MX, NODATA, NXDOMAIN, SERVFAIL, TXT" {
	run "$NETNS" "$ZONE" -- bash -c '
		for q in "mx a.test" "mx c.test" "mx b.test" "a b.test" "a c.test" "aaaa mx1.a.test" \
			"mx nothing.test" "a x.mx1.a.test" "mx d.test" "mx e.test" "a x.e.test" \
			"txt a.test" "a mx2.a.test" "aaaa mx2.a.test" "a www.a.test" "ptr 2.0.0.127.in-addr.arpa"; do
			echo "== $q"; $0 $q
		done' "$Q"
	echo "$output"
	[ "$status" -eq 0 ]
	expected="== mx a.test
NOERROR
MX 10 mx1.a.test
MX 20 mx2.a.test
== mx c.test
NOERROR
MX 0 .
== mx b.test
NODATA
== a b.test
NOERROR
A 127.0.0.5
== a c.test
NODATA
== aaaa mx1.a.test
NODATA
== mx nothing.test
NXDOMAIN
== a x.mx1.a.test
NXDOMAIN
== mx d.test
NXDOMAIN
== mx e.test
SERVFAIL
== a x.e.test
SERVFAIL
== txt a.test
NOERROR
TXT v=spf1 -all"
	[ "$(sed -n '1,/^== a mx2.a.test$/p' <<<"$output" | sed '$d')" = "$expected" ]
	# an RRset of two A records (in either order), the AAAA, a CNAME, a PTR
	[ "$(sed -n '/^== a mx2.a.test$/,/^==/p' <<<"$output" | grep '^A ' | sort | paste -sd' ')" = "A 127.0.0.3 A 127.0.0.4" ]
	grep -qx 'AAAA ::1' <<<"$output"
	[ "$(sed -n '/^== a www.a.test$/,/^==/p' <<<"$output" | sed -n '2,4p' | paste -sd' ')" = \
		"NOERROR CNAME mx1.a.test A 127.0.0.2" ]
	grep -qx 'PTR mx1.a.test' <<<"$output"
}

@test "netns-dns: getaddrinfo resolves through the zone; /etc/hosts knows only localhost" {
	run "$NETNS" "$ZONE" -- bash -c '
		getent ahostsv4 mx1.a.test | head -n 1
		getent hosts b.test
		getent hosts nothing.test; echo "nothing.test: $?"
		getent hosts c.test; echo "c.test: $?"
		getent hosts localhost | head -n 1
		grep -v "^#" /etc/hosts | grep -vw localhost | grep . ; echo "other hosts: $?"'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} =~ ^127\.0\.0\.2\ +STREAM\ mx1\.a\.test$ ]]
	[[ ${lines[1]} =~ ^127\.0\.0\.5\ +b\.test$ ]]
	[ "${lines[2]}" = "nothing.test: 2" ]
	[ "${lines[3]}" = "c.test: 2" ]
	[[ ${lines[4]} =~ localhost ]]
	[ "${lines[5]}" = "other hosts: 1" ]
}

@test "netns-dns: /etc/resolv.conf and /etc/hosts are private inside and untouched outside" {
	before=$(md5sum /etc/resolv.conf /etc/hosts /etc/nsswitch.conf)
	run "$NETNS" "$ZONE" -- bash -c 'cat /etc/resolv.conf; grep "^hosts:" /etc/nsswitch.conf; echo "NETNS_DNS=$NETNS_DNS"'
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "nameserver 127.0.0.1
hosts: files dns
NETNS_DNS=1" ]
	[ "$(md5sum /etc/resolv.conf /etc/hosts /etc/nsswitch.conf)" = "$before" ]
	# nothing of ours in the outside mount table
	! grep -q netns-dns /proc/self/mountinfo || false
	[ -z "$(ls -A "$TMPDIR")" ]
}

@test "netns-dns: only loopback inside; a server on 127.0.0.1:25 there is not seen outside" {
	mp_port_open 25 && skip "something listens on 127.0.0.1:25 out here"
	"$NETNS" "$ZONE" -- bash -c '
		ip -o link | cut -d: -f2 | tr -d " " > "$1/links"
		ip -br addr show dev lo | tr -s " " | cut -d" " -f3- | sed "s/ $//" > "$1/addrs"
		# a route to anywhere but loopback? connect() must fail at once
		$2 -c "import socket
try:
    socket.create_connection((\"192.0.2.1\", 25), 5); print(\"connected\")
except OSError as e: print(e.errno == 101 and \"ENETUNREACH\" or e)" > "$1/outside"
		$2 -c "import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"127.0.0.1\", 25)); s.listen(5)
open(sys.argv[1] + \"/listening\", \"w\").close()
while True:
    c, _ = s.accept(); c.sendall(b\"220 inside\\r\\n\"); c.close()" "$1" &
		for i in $(seq 200); do [ -e "$1/checked" ] && break; sleep 0.05; done
		$2 -c "import socket; print(socket.create_connection((\"127.0.0.1\", 25), 2).recv(100).decode().strip())" > "$1/inside"
		# the listener is left running on purpose: it dies with the namespace
	' _ "$D" "$PY" > "$D/out" 2>&1 &
	pid=$!
	mp_wait_until 10 test -e "$D/listening"
	! mp_port_open 25 || false
	touch "$D/checked"
	wait "$pid"
	cat "$D/out"
	[ "$(cat "$D/links")" = lo ]
	[ "$(cat "$D/addrs")" = "127.0.0.1/8 198.18.0.1/32 fd00:6e65:746e:7364::1/128 ::1/128" ]
	[ "$(cat "$D/outside")" = ENETUNREACH ]
	[ "$(cat "$D/inside")" = "220 inside" ]
	! mp_port_open 25 || false
}

@test "netns-dns: COMMAND's exit status, stdin and stderr pass through; a bad zone line is 125" {
	run "$NETNS" "$ZONE" -- bash -c 'exit 42'
	[ "$status" -eq 42 ]
	run "$NETNS" "$ZONE" -- bash -c 'kill -KILL $$'
	[ "$status" -eq 137 ]
	run -127 "$NETNS" "$ZONE" -- no-such-command-here
	run bash -c 'echo through | "$1" "$2" -- bash -c "cat; echo to-stderr >&2"' _ "$NETNS" "$ZONE"
	[ "$status" -eq 0 ]
	[ "$output" = "through
to-stderr" ]
	printf 'a ok.test 127.0.0.9\nmx a.test ten mx1.a.test\n' > "$D/bad"
	run "$NETNS" "$D/bad" -- true
	[ "$status" -eq 125 ]
	[ "$output" = "netns-dns: $D/bad:2: bad MX preference 'ten'" ]
	run "$NETNS" "$D/missing" -- true
	[ "$status" -eq 125 ]
	run "$NETNS" "$ZONE" true
	[ "$status" -eq 125 ]
	[[ $output == usage:* ]]
}

@test "netns-dns: nothing is left running, not even what COMMAND put in the background" {
	run "$NETNS" "$ZONE" -- bash -c 'readlink /proc/self/ns/net; sleep 300 & echo started'
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = started ]
	ns=${lines[0]}
	[[ $ns == net:\[*\] ]]
	[ "$ns" != "$(readlink /proc/self/ns/net)" ]
	mp_wait_until 5 no_procs_in_netns "$ns"
	[ -z "$(ls -A "$TMPDIR")" ]
}

@test "netns-dns: SIGTERM to netns-dns ends everything inside" {
	"$NETNS" "$ZONE" -- bash -c 'readlink /proc/self/ns/net > "$1/ns"; exec sleep 300' _ "$D" > "$D/out" 2>&1 &
	pid=$!
	mp_wait_until 10 test -s "$D/ns"
	ns=$(cat "$D/ns")
	[ -n "$(procs_in_netns "$ns")" ]
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 143 ]
	mp_wait_until 5 no_procs_in_netns "$ns"
	[ -z "$(ls -A "$TMPDIR")" ]
}

@test "netns-dns: a timeout name gets no answer; resolv-options shortens the wait" {
	printf 'timeout slow.test\nresolv-options timeout:1 attempts:1\n' > "$D/slow"
	start=$SECONDS
	run "$NETNS" "$D/slow" -- bash -c 'grep ^options /etc/resolv.conf; "$1" mx slow.test' _ "$Q"
	echo "$output"
	[ "$status" -eq 2 ]
	[ "$output" = "options timeout:1 attempts:1
NOANSWER" ]
	[ $((SECONDS - start)) -le 4 ]
}

@test "netns-dns --print: the dnsmasq configuration; TXT over 255 octets is split" {
	{
		echo 'txt k._domainkey.a.test "v=DKIM1; k=rsa; p='"$(printf 'A%.0s' $(seq 300))"'"'
		echo 'txt q.test "a \"quoted\" # no comment, one" "two" # a comment'
		echo 'mx n.test 0 .'
	} > "$D/txt"
	run "$NETNS" --print "$D/txt"
	[ "$status" -eq 0 ]
	grep -qx 'local=/#/' <<<"$output"
	grep -qx 'mx-host=n.test,.,0' <<<"$output"
	grep -qx 'txt-record=q.test,"a \\"quoted\\" # no comment, one","two"' <<<"$output"
	line=$(grep '^txt-record=k._domainkey' <<<"$output")
	# "v=DKIM1; k=rsa; p=" + 300 A = 318 octets: 255 + 63
	[[ $line =~ ^txt-record=k\._domainkey\.a\.test,\"(v=DKIM1\;\ k=rsa\;\ p=A+)\",\"(A+)\"$ ]]
	[ ${#BASH_REMATCH[1]} -eq 255 ]
	[ ${#BASH_REMATCH[2]} -eq 63 ]
	# and res_query gets the strings back joined
	run "$NETNS" "$D/txt" -- "$Q" txt k._domainkey.a.test
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "TXT v=DKIM1; k=rsa; p=$(printf 'A%.0s' $(seq 300))" ]
}
