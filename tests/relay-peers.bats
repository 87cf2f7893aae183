#!/usr/bin/env bats
# tests/relay-peers.bats - smtp-relay against servers nobody here wrote:
# Dovecot's LMTP (TCP and unix socket), a private Postfix as a smarthost
# that requires STARTTLS and AUTH, Postfix as a plain receiver for CHUNKING,
# and MX routing through a private DNS server (dnsmasq in a network
# namespace, tools/netns-dns) with sinks on port 25 inside it.
#
# Needs (Debian 12): bats, postfix, sasl2-bin, libsasl2-modules,
# dovecot-core, dovecot-lmtpd, dnsmasq-base, python3-aiosmtpd, iproute2,
# util-linux, sqlite3, openssl; root.

setup() {
	load lib
	load relay-lib
	mp_setup
	TOOLS=$BATS_TEST_DIRNAME/tools
	PF_DIR=
	DC_DIR=
	mp_conf timeout 10
	mp_open_dirs   # for the users postfix and mail
}

teardown() {
	[ -z "$PF_DIR" ] || "$TOOLS/peers-postfix" stop "$PF_DIR"
	[ -z "$DC_DIR" ] || "$TOOLS/dovecot-lmtp" stop "$DC_DIR"
	mp_teardown
	relay_teardown
}

message() {
	printf 'From: alice@example.test\nTo: bob@b.test\nSubject: %s\nMessage-ID: <%s@example.test>\n\n%s body\n' "$1" "$1" "$1"
}

# ---- Dovecot LMTP ------------------------------------------------------------------

@test "lmtp:HOST:PORT to Dovecot: each recipient gets its own reply and lands in its Maildir" {
	DC_DIR=$MP_DIR/dovecot; mkdir -p "$DC_DIR"
	port=$(mp_free_port)
	"$TOOLS/dovecot-lmtp" start "$DC_DIR" "$port"
	echo "b.test lmtp:127.0.0.1:$port" > "$MAILPIPE_CONF/routes"
	message lmtp-tcp | queue alice@example.test bob@b.test carol@b.test
	run "$BIN/smtp-relay" -v
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q '>>> LHLO mx.example.test' <<<"$output"
	# one reply per accepted recipient after the data (RFC 2033 4.2)
	[ "$(db "select count(*) from recipients where kind='remote' and status='delivered'")" -eq 2 ]
	for u in bob carol; do
		f=$(ls "$DC_DIR"/mail/b.test/$u/new/*)
		grep -qx 'Subject: lmtp-tcp' "$f"
		grep -qx 'lmtp-tcp body' "$f"
	done
}

@test "lmtp:/socket to Dovecot over its unix socket" {
	DC_DIR=$MP_DIR/dovecot; mkdir -p "$DC_DIR"
	"$TOOLS/dovecot-lmtp" start "$DC_DIR" "$(mp_free_port)"
	echo "b.test lmtp:$DC_DIR/lmtp" > "$MAILPIPE_CONF/routes"
	message lmtp-unix | queue alice@example.test bob@b.test
	relay
	[ "$(db "select status from recipients where kind='remote'")" = delivered ]
	grep -qx 'Subject: lmtp-unix' "$DC_DIR"/mail/b.test/bob/new/*
	grep -q "host=$DC_DIR/lmtp" "$MP_DIR/relay.log"
}

# ---- Postfix -----------------------------------------------------------------------

@test "smarthost: a private Postfix that requires STARTTLS and AUTH takes the mail; -v masks the password" {
	PF_DIR=$MP_DIR/postfix; mkdir -p "$PF_DIR" "$MP_DIR/pf-mail"
	port=$(mp_free_port)
	echo 'relay secret 99' | "$TOOLS/peers-postfix" start-smarthost "$PF_DIR" "$port" relayuser "$MP_DIR/pf-mail"
	echo "* 127.0.0.1:$port auth=relayuser tls=verify ca=$PF_DIR/etc/cert.pem" > "$MAILPIPE_CONF/routes"
	# wrong password first: deferred, not bounced
	echo "127.0.0.1 relayuser wrong" > "$MAILPIPE_CONF/secrets"
	chmod 600 "$MAILPIPE_CONF/secrets"
	message smarthost | queue alice@example.test bob@elsewhere.test
	relay
	[[ "$(db "select status || ' ' || last_reply from recipients where kind='remote'")" == "pending 451 4.7.8 AUTH as relayuser refused: 535 "* ]]
	echo "127.0.0.1 relayuser relay secret 99" > "$MAILPIPE_CONF/secrets"
	run "$BIN/smtp-relay" -f -v
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(db "select status from recipients where kind='remote'")" = delivered ]
	grep -q '=== TLS started' <<<"$output"
	grep -qx 'smtp-relay: 127.0.0.1:[0-9]* >>> AUTH PLAIN \*\*\*\*\*\*\*\*' <<<"$output"
	! grep -q 'cmVsYXk\|relay secret' <<<"$output" || false
	! grep -q 'relay secret\|cmVsYXk' "$MP_DIR/relay.log" || false
	f=$(ls "$MP_DIR"/pf-mail/new/*)
	grep -qx 'Subject: smarthost' "$f"
	grep -q 'with ESMTPSA' "$f"
}

@test "Postfix receiving over CHUNKING: a 2 MiB message with dot lines arrives byte-exact" {
	PF_DIR=$MP_DIR/postfix; mkdir -p "$PF_DIR" "$MP_DIR/pf-mail"
	port=$(mp_free_port)
	"$TOOLS/peers-postfix" start-sink "$PF_DIR" "$port" "$MP_DIR/pf-mail"
	echo "b.test 127.0.0.1:$port" > "$MAILPIPE_CONF/routes"
	big_message 11 > "$MP_DIR/big.eml"
	size=$(stat -c %s "$MP_DIR/big.eml")
	[ "$size" -gt 2097152 ]
	queue alice@example.test bob@b.test < "$MP_DIR/big.eml"
	run "$BIN/smtp-relay" -v
	[ "$status" -eq 0 ]
	grep -q '<<< 250[- ]CHUNKING$' <<<"$output"
	grep -q '>>> BDAT 0 LAST' <<<"$output"
	[ "$(db "select status from recipients where kind='remote'")" = delivered ]
	f=$(ls "$MP_DIR"/pf-mail/new/*)
	cmp <(tail -c "$size" "$f") "$MP_DIR/big.eml"
}

# ---- MX records from a private DNS server --------------------------------------------

# in_netns ZONE SCRIPT: runs the bash SCRIPT inside tools/netns-dns with the
# test's environment; sinks listen there on 127.0.0.x:25.
in_netns() {
	printf '%s\n' "$1" > "$MP_DIR/zone"
	"$TOOLS/netns-dns" "$MP_DIR/zone" -- env BIN="$BIN" TOOLS="$TOOLS" PY="$PY" \
		MAILPIPE_CONF="$MAILPIPE_CONF" MP_DIR="$MP_DIR" bash -euc "$2"
}

# the sink function for in_netns scripts: sink NAME IP (saves in $MP_DIR/NAME)
NETNS_SINK='sink() {
	mkdir -p "$MP_DIR/$1"
	$PY "$TOOLS/sink.py" --host "$2" --port 25 --dir "$MP_DIR/$1" --pidfile "$MP_DIR/$1/pid" 2>>"$MP_DIR/$1/log" 3>&- &
	for i in $(seq 200); do [ -s "$MP_DIR/$1/pid" ] && return; sleep 0.05; done; return 1
}'

@test "MX: the lowest preference first; the next MX when the first refuses connections" {
	message mx-order | queue alice@example.test bob@a.test
	message mx-fallback | queue alice@example.test bob@f.test
	in_netns "mx a.test 20 mx2.a.test
mx a.test 10 mx1.a.test
a mx1.a.test 127.0.0.11
a mx2.a.test 127.0.0.12
mx f.test 10 down.f.test
mx f.test 20 up.f.test
a down.f.test 127.0.0.21
a up.f.test 127.0.0.22" "$NETNS_SINK"'
		sink mx1 127.0.0.11; sink mx2 127.0.0.12; sink up 127.0.0.22
		"$BIN/smtp-relay" 2>>"$MP_DIR/relay.log"'
	# a.test: only its preference-10 host got the message
	[ "$(ls "$MP_DIR"/mx1/*.eml | wc -l)" -eq 1 ]
	[ ! -e "$MP_DIR"/mx2/1.eml ]
	grep -q 'Subject: mx-order' "$MP_DIR"/mx1/1.eml
	# f.test: nothing listens on its preference-10 host, the 20 took it
	grep -q 'Subject: mx-fallback' "$MP_DIR"/up/1.eml
	grep -q 'event=delivered .*rcpt=bob@f.test host=up.f.test:25' "$MP_DIR/relay.log"
	[ "$(db "select count(*) from recipients where kind='remote' and status='delivered'")" -eq 2 ]
}

@test "MX: equal preferences are shuffled, so both hosts get mail" {
	for i in $(seq 1 24); do message "eq$i" | queue alice@example.test bob@e.test; done
	in_netns "mx e.test 10 one.e.test
mx e.test 10 two.e.test
a one.e.test 127.0.0.31
a two.e.test 127.0.0.32" "$NETNS_SINK"'
		sink one 127.0.0.31; sink two 127.0.0.32
		"$BIN/smtp-relay" -j 1 2>>"$MP_DIR/relay.log"'
	one=$(ls "$MP_DIR"/one/*.eml 2>/dev/null | wc -l)
	two=$(ls "$MP_DIR"/two/*.eml 2>/dev/null | wc -l)
	echo "one=$one two=$two"
	[ $((one + two)) -eq 24 ]
	# a kept session serves the next message to the same host, so count
	# connections, not messages: both hosts were chosen first sometimes
	[ "$one" -gt 0 ] && [ "$two" -gt 0 ]
}

@test "MX: a null MX bounces at once (5.1.10), NXDOMAIN bounces (5.1.2), no MX uses the A record, SERVFAIL defers" {
	message nullmx | queue alice@example.test bob@null.test
	message nxdomain | queue alice@example.test bob@nx.test
	message implicit | queue alice@example.test bob@implicit.test
	message servfail | queue alice@example.test bob@broken.test
	in_netns "nullmx null.test
nxdomain nx.test
a implicit.test 127.0.0.41
servfail broken.test
resolv-options timeout:1 attempts:1" "$NETNS_SINK"'
		sink implicit 127.0.0.41
		"$BIN/smtp-relay" 2>>"$MP_DIR/relay.log"'
	db "select address, status, last_reply from recipients where kind='remote'"
	[ "$(db "select address || ' ' || status || ' ' || substr(last_reply, 1, 10) from recipients where kind='remote' order by message")" = "bob@null.test bounced 556 5.1.10
bob@nx.test bounced 550 5.1.2 
bob@implicit.test delivered 250 2.0.0 
bob@broken.test pending 451 4.4.3 " ]
	grep -q 'Subject: implicit' "$MP_DIR"/implicit/1.eml
	# the two bounces came back to alice, one report each
	[ "$(ls "$MP_STATE"/mailboxes/example.test/alice/new | wc -l)" -eq 2 ]
	grep -l 'Status: 5.1.10' "$MP_STATE"/mailboxes/example.test/alice/new/*
	grep -l 'Status: 5.1.2' "$MP_STATE"/mailboxes/example.test/alice/new/*
}
