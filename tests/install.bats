#!/usr/bin/env bats
# tests/install.bats - make install / uninstall into a DESTDIR: every
# program and man page where the units and local programs look for them.

setup() {
	load lib
	ROOT=$(mktemp -d "$BATS_TEST_TMPDIR/root.XXXXXX")
}

@test "make install DESTDIR: programs, man pages, /usr/sbin/sendmail and /usr/lib/sendmail; uninstall removes them" {
	[ -z "${MP_SANITIZE:-}" ] || skip "installs the normal build"
	run make -s -C "$TOP" install DESTDIR="$ROOT" PREFIX=/usr/local
	[ "$status" -eq 0 ]
	for p in smtp-recv mail-store smtp-relay mailpipe-user sendmail; do
		[ -x "$ROOT/usr/local/sbin/$p" ]
	done
	[ -x "$ROOT/usr/local/bin/smtp-send" ]
	[ -x "$ROOT/usr/local/lib/mailpipe/cgi-bin/inbox" ]
	[ -x "$ROOT/usr/local/lib/mailpipe/cgi-bin/compose" ]
	[ "$(readlink "$ROOT/usr/sbin/sendmail")" = /usr/local/sbin/sendmail ]
	[ "$(readlink "$ROOT/usr/lib/sendmail")" = ../sbin/sendmail ]
	for page in "$TOP"/man/*.[1578]; do
		name=${page##*/}
		cmp "$page" "$ROOT/usr/local/share/man/man${name##*.}/$name"
	done
	run make -s -C "$TOP" uninstall DESTDIR="$ROOT" PREFIX=/usr/local
	[ "$status" -eq 0 ]
	[ -z "$(find "$ROOT" -type f -o -type l)" ]
}

@test "make install PREFIX=/usr: sendmail is the program itself, the local programs deliver through it" {
	[ -z "${MP_SANITIZE:-}" ] || skip "installs the normal build"
	make -s -C "$TOP" install DESTDIR="$ROOT" PREFIX=/usr
	[ -f "$ROOT/usr/sbin/sendmail" ] && [ ! -L "$ROOT/usr/sbin/sendmail" ]
	mp_setup
	# the installed sendmail finds the installed mail-store beside it
	printf 'To: alice@example.test\nSubject: installed\n\nhi\n' | "$ROOT/usr/lib/sendmail" -t
	[ "$(mp_new_count alice)" -eq 1 ]
	grep -q '^Subject: installed' "$MP_STATE/mailboxes/example.test/alice/new/"*
}

@test "make install: the units and xinetd files name the installed programs and pass systemd-analyze verify" {
	[ -z "${MP_SANITIZE:-}" ] || skip "installs the normal build"
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
	# a PREFIX that exists under ROOT, so that verify finds every ExecStart
	run make -s -C "$TOP" install PREFIX="$ROOT/usr" SYSTEM_SBIN="$ROOT/sbin" SYSTEM_LIB="$ROOT/lib" \
		UNITDIR="$ROOT/units" XINETDIR="$ROOT/xinetd" STATEDIR="$ROOT/state" CONFDIR="$ROOT/conf" \
		MAILPIPE_USER=mail
	echo "$output"
	[ "$status" -eq 0 ]
	for f in "$TOP"/systemd/*; do [ -f "$ROOT/units/${f##*/}" ]; done
	for f in "$TOP"/xinetd/*; do [ -f "$ROOT/xinetd/${f##*/}" ]; done
	grep -qx "ExecStart=$ROOT/usr/sbin/smtp-recv -s" "$ROOT/units/submission@.service"
	grep -qx "ExecStart=$ROOT/usr/sbin/pop3-serve -t" "$ROOT/units/pop3s@.service"
	grep -q "server.*= $ROOT/usr/sbin/smtp-recv" "$ROOT/xinetd/smtp"
	[ "$(readlink "$ROOT/lib/sendmail")" = ../sbin/sendmail ]
	cd "$ROOT/units"
	run systemd-analyze verify --man=no ./*
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# every installed service rated OK or better (exposure at most 2.0)
	for f in ./*.service; do
		level=$(systemd-analyze security --offline=true "$f" 2>/dev/null |
			sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
		echo "$f: $level"
		[ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'
	done
	# run as root without DESTDIR: the state directory for the services'
	# user, 0700, and the configuration directory
	if [ "$(id -u)" -eq 0 ]; then
		[ "$(stat -c '%U %a' "$ROOT/state")" = "mail 700" ]
		[ -d "$ROOT/conf" ]
	fi
}
