# tests/lib.bash - helpers shared by the bats files.  Source it from setup().
#
# Every test gets its own configuration and state directory under
# $BATS_TEST_TMPDIR; servers listen on 127.0.0.1 high ports and are stopped
# by pid in teardown.

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# MP_BIN: another build of the programs (the sanitizer build in CI)
BIN=${MP_BIN:-$TOP/bin}
# Debian's python3, which has the Debian python3-* modules (aiosmtpd, dkim...)
PY=/usr/bin/python3
MP_PIDS=()

# A test configuration (tests/make-test-conf): domains example.test and
# catch.test, users alice and bob (password "secret"), aliases.
mp_setup() {
	MP_DIR=$(mktemp -d "${BATS_TEST_TMPDIR:-/tmp}/mp.XXXXXX")
	"$TOP/tests/make-test-conf" "$MP_DIR"
	export MAILPIPE_CONF=$MP_DIR/conf
	MP_STATE=$MP_DIR/state
}

# mp_open_dirs [DIR]: lets other users (postfix, dovecot, mail) search DIR
# (default $MP_DIR) and every directory above it up to the bats run
# directory, which bats makes 0700: o+x on ours only, no read.
mp_open_dirs() {
	local d=${1:-$MP_DIR}
	while [ "$d" != / ] && [[ $d == "$BATS_RUN_TMPDIR"* ]]; do
		chmod o+x "$d"
		d=$(dirname "$d")
	done
}

# The CGI programs of the build under test (CGI): $MP_CGI_DIR, else beside
# MP_BIN's directory for another build (the sanitizer build:
# build/san/cgi-bin), else cgi-bin/.  Fails when they are not built.
mp_cgi_dir() {
	if [ -n "${MP_CGI_DIR:-}" ]; then
		CGI=$MP_CGI_DIR
	elif [ -n "${MP_BIN:-}" ]; then
		CGI=$(dirname "$MP_BIN")/cgi-bin
	else
		CGI=$TOP/cgi-bin
	fi
	[ -x "$CGI/inbox" ] && [ -x "$CGI/compose" ] || {
		echo "no built CGI programs in $CGI (run make)" >&2
		return 1
	}
}

# mp_conf KEY VALUE: set a mailpipe.conf key (later lines win: we rewrite).
mp_conf() {
	grep -v "^$1 " "$MAILPIPE_CONF/mailpipe.conf" > "$MP_DIR/conf.new" || true
	echo "$1 $2" >> "$MP_DIR/conf.new"
	mv "$MP_DIR/conf.new" "$MAILPIPE_CONF/mailpipe.conf"
}

# A free TCP port on 127.0.0.1.
mp_free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# mp_wait_until SECONDS COMMAND...: polls COMMAND until it succeeds, bounded.
mp_wait_until() {
	local limit=$1; shift
	local deadline=$((SECONDS + limit))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

mp_port_open() {
	$PY -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1])),1); s.close()' "$1" 2>/dev/null
}

# mp_listen [smtp-recv args]: smtp-recv per connection on a free port, the
# way systemd's Accept=yes runs it.  Sets MP_PORT and MP_LISTEN_PID.
mp_listen() {
	MP_PORT=$(mp_free_port)
	systemd-socket-activate --accept --inetd -l "127.0.0.1:$MP_PORT" \
		-E MAILPIPE_CONF="$MAILPIPE_CONF" ${MAILPIPE_STORE:+-E MAILPIPE_STORE="$MAILPIPE_STORE"} \
		"$BIN/smtp-recv" "$@" 2>>"$MP_DIR/smtp-recv.log" &
	MP_LISTEN_PID=$!
	MP_PIDS+=("$MP_LISTEN_PID")
	mp_wait_until 10 mp_port_open "$MP_PORT"
}

# Stops every server this test started (by pid).
mp_teardown() {
	local pid
	for pid in "${MP_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${MP_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	MP_PIDS=()
}

# The files in a user's new/ (local part of @example.test).
mp_new_files() {
	ls "$MP_STATE/mailboxes/example.test/$1/new/" 2>/dev/null
}

mp_new_count() {
	mp_new_files "$1" | wc -l
}

# mp_session: pipes stdin (with LF turned into CRLF) into smtp-recv.
mp_session() {
	sed 's/$/\r/' | "$BIN/smtp-recv" "$@" 2>"$MP_DIR/session.log" | tr -d '\r'
}

# The number of entries in a directory (0 when it does not exist).
count_files() {
	if [ -d "$1" ]; then
		find "$1" -mindepth 1 -maxdepth 1 | wc -l
	else
		echo 0
	fi
}

# The Maildir of USER@example.test.
mp_maildir() {
	echo "$MP_STATE/mailboxes/example.test/$1"
}

# The one file in USER's new/ (fails unless there is exactly one).
mp_only_file() {
	local files
	files=$(mp_new_files "$1")
	[ -n "$files" ] && [ "$(echo "$files" | wc -l)" -eq 1 ] || {
		echo "expected one message for $1, found: ${files:-none}" >&2
		return 1
	}
	echo "$(mp_maildir "$1")/new/$files"
}
