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
