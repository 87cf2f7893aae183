# docs: the man pages, the systemd units and the xinetd files stay in step
# with the code.  Needs mandoc and systemd-analyze (those tests skip without).
setup() { load lib; }

# The programs: every src/*.c with a main().
programs() {
	grep -l '^int main' "$TOP"/src/*.c | sed 's#.*/##; s#\.c$##'
}

man_pages() {
	ls "$TOP"/man/*.[1-8]
}

need_mandoc() {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
}

need_systemd_analyze() {
	command -v systemd-analyze >/dev/null || skip "systemd-analyze is not installed"
}

# The man page of a program, section 1 or 8; empty if there is none.
page_of() {
	local f
	for f in "$TOP/man/$1.1" "$TOP/man/$1.8"; do
		[ -f "$f" ] && { echo "$f"; return; }
	done
}

# The programs the units run from /usr/local/sbin, one a line.
unit_programs() {
	sed -n 's#^Exec[A-Za-z]*=[-@:+!]*/usr/local/sbin/\([^ ]*\).*#\1#p' "$TOP"/systemd/* | sort -u
}

# Fails unless every program a unit runs is built in $BIN.
need_unit_programs_built() {
	local p missing=
	for p in $(unit_programs); do
		[ -x "$BIN/$p" ] || missing="$missing $BIN/$p"
	done
	[ -z "$missing" ] || { echo "build first; missing:$missing"; false; }
}

# Copies the units into $1 with every /usr/local/sbin/ program replaced by
# the built one in $BIN (systemd-analyze verify wants ExecStart to exist).
units_for_verify() {
	local f
	mkdir -p "$1"
	for f in "$TOP"/systemd/*; do
		sed "s#^\(Exec[A-Za-z]*=[-@:+!]*\)/usr/local/sbin/#\1$BIN/#" "$f" > "$1/${f##*/}"
	done
}

@test "every program has a man page, and so do mailpipe.conf(5) and mailpipe(7)" {
	missing=
	for p in $(programs); do
		[ -n "$(page_of "$p")" ] || missing="$missing $p"
	done
	[ -f "$TOP/man/mailpipe.conf.5" ] || missing="$missing mailpipe.conf.5"
	[ -f "$TOP/man/mailpipe.7" ] || missing="$missing mailpipe.7"
	[ -z "$missing" ] || { echo "no man page for:$missing"; false; }
}

@test "every program a unit runs has a man page (smtp-relay(8) among them)" {
	progs=$(unit_programs)
	[[ $'\n'$progs$'\n' == *$'\n'smtp-relay$'\n'* ]] || { echo "no unit runs smtp-relay"; false; }
	missing=
	for p in $progs; do
		[ -n "$(page_of "$p")" ] || missing="$missing $p"
	done
	[ -z "$missing" ] || { echo "no man page for:$missing"; false; }
}

@test "every man page passes mandoc -T lint -W warning with no output" {
	need_mandoc
	bad=0
	for f in $(man_pages); do
		out=$(mandoc -T lint -W warning "$f" 2>&1) && [ -z "$out" ] || {
			echo "$out"
			bad=1
		}
	done
	[ "$bad" -eq 0 ]
}

@test "every man page renders with man -l (groff) without a warning" {
	command -v man >/dev/null || skip "man is not installed"
	bad=0
	for f in $(man_pages); do
		out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null)
		[ -z "$out" ] || { echo "$f: $out"; bad=1; }
	done
	[ "$bad" -eq 0 ]
}

@test "every man page renders, and its .Dt names its own file" {
	need_mandoc
	for f in $(man_pages); do
		base=${f##*/}
		name=${base%.*} section=${base##*.}
		[ -n "$(mandoc -T ascii "$f")" ]
		dt=$(grep -m1 '^\.Dt ' "$f")
		[ "$dt" = ".Dt ${name^^} $section" ] || { echo "$base: $dt"; false; }
	done
}

@test "every option a program takes is documented in its man page" {
	for p in $(programs); do
		page=$(page_of "$p")
		opts=$(grep -o 'getopt(argc, argv, "[^"]*")' "$TOP/src/$p.c" | sed 's/.*"\(.*\)".*/\1/; s/://g')
		for ((i = 0; i < ${#opts}; i++)); do
			o=${opts:i:1}
			grep -qE "^\.It Fl $o( |$)" "$page" || { echo "$p: -$o is not in ${page##*/}"; false; }
		done
	done
}

@test "every SMTP reply of smtp-recv is in smtp-recv(8), word for word" {
	page=$TOP/man/smtp-recv.8
	# reply(s, 550, "5.1.1 <%s>: ...") -> "550 5.1.1 <"; the text up to the first %
	replies=$(grep -ohE 'reply\(s, [0-9]{3}, "[^"%]*' "$TOP/src/smtp-recv.c" |
		sed -E 's/^reply\(s, ([0-9]{3}), "/\1 /' | grep -E '^[0-9]{3} [245]\.[0-9]+\.[0-9]+')
	# the mail-store exit code table: { 554, "5.6.0", "Message content rejected" }
	table=$(grep -ohE '\{ [0-9]{3}, "[245]\.[0-9.]+", "[^"]*"' "$TOP/src/store_run.c" |
		sed -E 's/^\{ ([0-9]{3}), "([0-9.]+)", "([^"]*)"/\1 \2 \3/')
	[ -n "$replies" ] && [ -n "$table" ]
	missing=
	while IFS= read -r r; do
		grep -qF -- "$r" "$page" || missing="$missing
$r"
	done <<<"$replies
$table"
	[ -z "$missing" ] || { echo "not in smtp-recv.8:$missing"; false; }
}

@test "every exit code of mail-store is in mail-store(8) with its sysexits value" {
	page=$TOP/man/mail-store.8
	mods=$(sed -n 's/^MODS_mail-store *= *//p' "$TOP/Makefile")
	srcs="$TOP/src/mail-store.c"
	for m in $mods; do srcs="$srcs $TOP/src/$m.c"; done
	for name in $(grep -ohE '\bEX_[A-Z]+\b' $srcs | sort -u); do
		value=$(awk -v n="$name" '$1 == "#define" && $2 == n { print $3 }' /usr/include/sysexits.h)
		[ -n "$value" ]
		grep -qE "^\.It $value $name\$" "$page" || { echo "mail-store.8 lacks \".It $value $name\""; false; }
	done
}

@test "the units pass systemd-analyze verify (ExecStart pointed at the built programs)" {
	need_systemd_analyze
	need_unit_programs_built
	dir=$BATS_TEST_TMPDIR/units
	units_for_verify "$dir"
	# Documentation=man:... must name pages of man/: give man(1) only ours
	man_opt=--man=yes
	if command -v man >/dev/null; then
		for f in $(man_pages); do
			s=${f##*.}
			mkdir -p "$BATS_TEST_TMPDIR/man/man$s"
			cp "$f" "$BATS_TEST_TMPDIR/man/man$s/"
		done
	else
		man_opt=--man=no
	fi
	cd "$dir"
	MANPATH=$BATS_TEST_TMPDIR/man run systemd-analyze verify "$man_opt" ./*
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# The socket-activated services of DESIGN.md (Units): name, port, program
# and its flags.  Each has systemd/NAME.socket, systemd/NAME@.service and
# xinetd/NAME.
socket_services() {
	printf '%s\n' 'smtp 25 smtp-recv' 'submission 587 smtp-recv -s' 'smtps 465 smtp-recv -s -t' \
		'pop3 110 pop3-serve' 'pop3s 995 pop3-serve -t'
}

@test "every service is hardened enough: systemd-analyze security rates it 2.0 or better" {
	need_systemd_analyze
	need_unit_programs_built
	dir=$BATS_TEST_TMPDIR/units
	units_for_verify "$dir"
	bad=0
	for f in "$dir"/*.service; do
		run systemd-analyze security --offline=yes --threshold=20 --no-pager "$f"
		[ "$status" -eq 0 ] || {
			echo "${f##*/}:"
			echo "$output" | tail -n 3
			bad=1
		}
	done
	[ "$bad" -eq 0 ]
}

@test "the units keep the contract: sockets on 25, 587, 465, 110, 995 with Accept=yes, sandboxed services as mailpipe" {
	while read -r name port prog flags; do
		sock=$TOP/systemd/$name.socket
		svc=$TOP/systemd/$name@.service
		[ -f "$sock" ] && [ -f "$svc" ] || { echo "missing $name.socket or $name@.service"; false; }
		grep -qx "ListenStream=$port" "$sock" || { echo "$name.socket: not ListenStream=$port"; false; }
		grep -qx 'Accept=yes' "$sock" || { echo "$name.socket lacks Accept=yes"; false; }
		grep -qx "ExecStart=/usr/local/sbin/$prog${flags:+ $flags}" "$svc" || {
			echo "$name@.service: $(grep '^ExecStart=' "$svc"), want $prog${flags:+ $flags}"
			false
		}
		grep -qx 'StandardInput=socket' "$svc"
		grep -qx 'StandardOutput=socket' "$svc"
		# the log must never go to the client
		grep -qx 'StandardError=journal' "$svc" || { echo "$name@.service: StandardError"; false; }
	done < <(socket_services)
	for f in "$TOP"/systemd/*.service; do
		for want in User=mailpipe NoNewPrivileges=yes ProtectSystem=strict; do
			grep -qx "$want" "$f" || { echo "${f##*/} lacks $want"; false; }
		done
		grep -qE '^ReadWritePaths=(.* )?/var/lib/mailpipe( |$)' "$f" || {
			echo "${f##*/} lacks ReadWritePaths=/var/lib/mailpipe"
			false
		}
	done
}

@test "the relay units keep the contract: a oneshot smtp-relay run, started every minute and when the queue changes" {
	svc=$TOP/systemd/smtp-relay.service
	timer=$TOP/systemd/smtp-relay.timer
	path=$TOP/systemd/smtp-relay.path
	for f in "$svc" "$timer" "$path"; do
		[ -f "$f" ] || { echo "missing ${f##*/}"; false; }
	done
	# the service: one queue run, as mailpipe, allowed to reach SMTP and LMTP servers
	grep -qx 'Type=oneshot' "$svc" || { echo "smtp-relay.service: not Type=oneshot"; false; }
	grep -qx 'ExecStart=/usr/local/sbin/smtp-relay' "$svc" || {
		echo "smtp-relay.service: $(grep '^ExecStart=' "$svc"), want /usr/local/sbin/smtp-relay"
		false
	}
	families=$(sed -n 's/^RestrictAddressFamilies=//p' "$svc")
	for af in AF_INET AF_INET6 AF_UNIX; do
		[[ " $families " == *" $af "* ]] || { echo "smtp-relay.service: RestrictAddressFamilies lacks $af"; false; }
	done
	! grep -q '^PrivateNetwork=yes' "$svc" || { echo "smtp-relay.service must reach the network"; false; }
	! grep -q '^StandardInput=socket' "$svc" || { echo "smtp-relay.service: not a socket service"; false; }
	# no [Install]: the timer and the path unit start it
	! grep -qx '\[Install\]' "$svc" || { echo "smtp-relay.service: enable the timer and path unit, not the service"; false; }
	# the timer: every minute, catching up after downtime
	grep -qE '^(OnCalendar=(minutely|\*-\*-\* \*:\*:00)|OnUnitActiveSec=(1min|60s?))$' "$timer" || {
		echo "smtp-relay.timer: not every minute"
		false
	}
	grep -qx 'Persistent=true' "$timer" || { echo "smtp-relay.timer lacks Persistent=true"; false; }
	grep -qx 'WantedBy=timers.target' "$timer"
	# the path unit: the queue directory of the default state directory
	grep -qx 'PathChanged=/var/lib/mailpipe/queue' "$path" || {
		echo "smtp-relay.path: $(grep '^Path' "$path"), want PathChanged=/var/lib/mailpipe/queue"
		false
	}
	grep -qx 'WantedBy=paths.target' "$path"
	# both start smtp-relay.service (named, or by their own name)
	for f in "$timer" "$path"; do
		unit=$(sed -n 's/^Unit=//p' "$f")
		[ "${unit:-smtp-relay.service}" = smtp-relay.service ] || { echo "${f##*/}: Unit=$unit"; false; }
	done
}

@test "xinetd/smtp, submission, smtps, pop3, pop3s run the same program and flags as their systemd service, as mailpipe" {
	while read -r name port _; do
		x=$TOP/xinetd/$name
		[ -f "$x" ] || { echo "xinetd/$name is missing"; false; }
		exec_start=$(sed -n 's/^ExecStart=//p' "$TOP/systemd/$name@.service")
		[ -n "$exec_start" ]
		attr() { sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$x"; }
		server=$(attr server) args=$(attr server_args)
		[ "$server${args:+ $args}" = "$exec_start" ] || {
			echo "xinetd/$name: server = $server, server_args = $args; $name@.service: ExecStart=$exec_start"
			false
		}
		[ "$(attr socket_type)" = stream ]
		[ "$(attr wait)" = no ]
		[ "$(attr user)" = mailpipe ] || { echo "xinetd/$name: user = $(attr user)"; false; }
		[ "$(attr port)" = "$port" ] || { echo "xinetd/$name: port = $(attr port), want $port"; false; }
		grep -qE "^service $name\$" "$x" || { echo "xinetd/$name: no \"service $name\" line"; false; }
	done < <(socket_services)
}
