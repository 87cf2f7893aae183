# tests/relay-lib.bash - helpers of relay.bats and relay-peers.bats, loaded
# after lib.bash (mp_setup has set MP_DIR, MP_STATE, MAILPIPE_CONF).

# db SQL: a query on the test's mail.db.
db() {
	sqlite3 "$MP_STATE/mail.db" "$1"
}

# relay [args]: smtp-relay for the test configuration, its log in relay.log.
relay() {
	"$BIN/smtp-relay" "$@" 2>>"$MP_DIR/relay.log"
}

# queue FROM RCPT... < message: mail-store as smtp-recv would call it.
queue() {
	local from=$1; shift
	"$BIN/mail-store" -f "$from" -c 127.0.0.1 -- "$@" >/dev/null 2>>"$MP_DIR/store.log"
}

# relay_teardown: no sanitizer report from any smtp-relay run.
relay_teardown() {
	! grep -E 'Sanitizer|runtime error' "$MP_DIR"/relay*.log 2>/dev/null
}

# big_message SEED: a message of over 2 MiB, random text lines of 0 to 120
# octets, one in twenty starting with a dot (for dot-stuffing and BDAT).
big_message() {
	$PY -c 'import random, sys
r = random.Random(int(sys.argv[1]))
sys.stdout.write("From: alice@example.test\nTo: bob@b.test\nSubject: big\n\n")
for i in range(36000):
    line = "".join(r.choice("abcdefghij .,;-") for _ in range(r.randint(0, 120)))
    if r.random() < 0.05: line = "." + line
    sys.stdout.write(line + "\n")' "$1"
}
