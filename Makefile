# mailpipe - see README.md.  `make` builds, `make check` tests.
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 \
           -Wno-format-nonliteral
DEFS     = -D_GNU_SOURCE -D_FORTIFY_SOURCE=2
HARDEN   = -fstack-protector-strong -fPIE
LDHARDEN = -pie -Wl,-z,relro,-z,now
ifdef SANITIZE
CFLAGS  += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDFLAGS += -fsanitize=address,undefined
DEFS     = -D_GNU_SOURCE
endif
# GMime (and glib) for the CGI programs; recursive, so that a `make check`
# on a fresh machine asks pkg-config only after `deps` installed it
GMIME_CFLAGS = $(shell pkg-config --cflags gmime-3.0 2>/dev/null)
GMIME_LIBS   = $(shell pkg-config --libs gmime-3.0 2>/dev/null)
ALL_CFLAGS = $(WARN) $(DEFS) $(HARDEN) $(CFLAGS) $(GMIME_CFLAGS) -I$(BUILD) -MMD -MP
BUILD   ?= build
BINDIR  ?= bin

PROGS   = smtp-recv mail-store mailpipe-user smtp-relay smtp-send sendmail pop3-serve mail-notify mailpipe-check \
          mailpipe-dkim-key
# the shared modules each program links
MODS_smtp-recv  = conf cidr log fsutil smtp_io smtp_addr smtp_data spool store_run resolve \
                  tls auth peer mail_auth auth_spf auth_dkim auth_dmarc head_scan dns_txt dkim_sign
# OpenSSL, SQLite and libcrypt are linked statically: relocating them at
# every start was three quarters of a delivery's instructions (one process
# per connection).  glibc stays shared.  The price: a security update of
# those libraries needs a rebuild.  `make LINK=shared` links them shared.
LINK    ?= static
ifeq ($(LINK),static)
STATIC   = -Wl,-Bstatic $(1) -Wl,-Bdynamic
else
STATIC   = $(1)
endif
# libopendkim, libspf2 and libopendmarc (static like OpenSSL, which
# libopendkim calls: one copy of libcrypto in the process)
AUTH_LIBS = $(call STATIC,-lopendkim -lspf2 -lopendmarc -lssl -lcrypto) -ldb -lbsd -lresolv
LIBS_smtp-recv  = $(call STATIC,-lcrypt) $(AUTH_LIBS) -ldl -lpthread
MODS_mail-store = conf cidr log fsutil maildir message resolve store_db dkim_conf dkim_sign head_scan
LIBS_mail-store = $(call STATIC,-lsqlite3 -lopendkim -lssl -lcrypto) -ldb -lbsd -lresolv -lm -ldl -lpthread
MODS_mailpipe-dkim-key = conf cidr fsutil dkim_conf conf_edit
LIBS_mailpipe-dkim-key = $(call STATIC,-lcrypto) -ldl -lpthread
MODS_mailpipe-user = conf cidr fsutil conf_edit password
MODS_smtp-relay = conf cidr log fsutil routes mx smtp_io smtp_client smtp_txn tls queue_db \
                  store_db store_run dsn relay_route net
LIBS_smtp-relay = $(call STATIC,-lssl -lcrypto -lsqlite3) -lresolv -lm -ldl -lpthread
LIBS_mailpipe-user = $(call STATIC,-lcrypt)
MODS_smtp-send  = fsutil smtp_io smtp_client smtp_txn tls msg_head mime_word csv merge password net
LIBS_smtp-send  = $(call STATIC,-lssl -lcrypto) -ldl -lpthread
MODS_pop3-serve = conf cidr log fsutil smtp_io tls auth peer maildir mailbox
LIBS_pop3-serve = $(call STATIC,-lssl -lcrypto -lcrypt) -ldl -lpthread
MODS_mail-notify = conf cidr log fsutil store_db queue_db notify_db nntp mime_word net
LIBS_mail-notify = $(call STATIC,-lsqlite3) -lm -ldl -lpthread
MODS_mailpipe-check = conf cidr fsutil resolve routes tls nntp net dkim_conf
LIBS_mailpipe-check = $(call STATIC,-lssl -lcrypto -lcrypt) -ldl -lpthread
MODS_sendmail   = conf cidr log fsutil msg_head mime_word store_run addr_list smtp_io smtp_client \
                  smtp_txn tls net
LIBS_sendmail   = $(call STATIC,-lssl -lcrypto) -ldl -lpthread

# the webmail: CGI programs, in cgi-bin/ beside bin/
CGIS    = inbox compose
CGIDIR ?= $(dir $(BINDIR))cgi-bin
WEB_MODS = conf cidr fsutil cgi webmail maildir mailbox mime_view msg_head mime_word
MODS_inbox   = $(WEB_MODS)
MODS_compose = $(WEB_MODS) mail_build resolve store_run log
LIBS_inbox   = $(GMIME_LIBS) $(call STATIC,-lcrypto) -ldl -lpthread
LIBS_compose = $(LIBS_inbox)

BINS = $(addprefix $(BINDIR)/,$(PROGS))
CGI_BINS = $(addprefix $(CGIDIR)/,$(CGIS))

all: $(BINS) $(CGI_BINS)

# the stylesheet, compiled into inbox as a C string
$(BUILD)/webmail.css.h: src/webmail.css | $(BUILD)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< > $@
$(BUILD)/inbox.o: $(BUILD)/webmail.css.h
# where an installed CGI program finds mail-store
$(BUILD)/store_run.o: ALL_CFLAGS += -DSBINDIR='"$(SBINDIR)"'

$(BUILD)/%.o: src/%.c | $(BUILD)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD) $(BINDIR) $(CGIDIR):
	mkdir -p $@

.SECONDARY:
.SECONDEXPANSION:
$(BINDIR)/%: $(BUILD)/%.o $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(MODS_$$*))) Makefile | $(BINDIR)
	$(CC) $(LDHARDEN) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBS_$*)

$(CGIDIR)/%: $(BUILD)/%.o $$(addprefix $(BUILD)/,$$(addsuffix .o,$$(MODS_$$*))) Makefile | $(CGIDIR)
	$(CC) $(LDHARDEN) $(LDFLAGS) -o $@ $(filter %.o,$^) $(LIBS_$*)

-include $(wildcard $(BUILD)/*.d)

# ---- dependencies (apt-get on Debian 12) --------------------------------
DEPS_APT = build-essential libsqlite3-dev libssl-dev libcrypt-dev libgmime-3.0-dev pkg-config \
           bats swaks python3 postfix systemd sqlite3 cppcheck procps \
           mandoc iproute2 util-linux perl openssl time clang \
           libsasl2-modules libnet-ssleay-perl python3-aiosmtpd dnsmasq-base \
           dovecot-core dovecot-lmtpd sasl2-bin libsasl2-modules-db \
           git git-email s-nail bsd-mailx dovecot-imapd sn fetchmail getmail6 \
           lighttpd chromium libpython3.11-testsuite curl \
           libopendkim-dev libspf2-dev libopendmarc-dev libdb-dev libbsd-dev publicsuffix \
           python3-dkim python3-authres python3-spf opendkim-tools python3-dnspython
deps:
	@missing=$$(for p in $(DEPS_APT); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing$$(echo ' '$$missing)"; \
	    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# node and npm for the browser tests (Debian's, unless some node/npm is there)
	@command -v npm >/dev/null || { echo "make deps: installing nodejs npm"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@# playwright-core as pinned in tests/web/package-lock.json (drives /usr/bin/chromium)
	@[ -d tests/web/node_modules/playwright-core ] || { echo "make deps: npm ci in tests/web"; \
	    cd tests/web && npm ci --no-audit --no-fund --loglevel=error; }

# ---- tests ----------------------------------------------------------------
check: deps all
	tests/run-all

# the same tests against an AddressSanitizer + UBSan build in its own directories
check-sanitize: deps
	$(MAKE) SANITIZE=1 BUILD=build/san BINDIR=build/san/bin
	MP_BIN=$(CURDIR)/build/san/bin MP_SANITIZE=1 tests/run-all

cppcheck: $(BUILD)/webmail.css.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	    --std=c11 --inline-suppr -D_GNU_SOURCE -I$(BUILD) src

# ---- fuzzing (clang libFuzzer + ASan + UBSan) -------------------------------
FUZZ_SECONDS ?= 60
FUZZ_TARGETS  = command data bdat auth conf merge webmail authres
FUZZ_CFLAGS   = -std=c11 -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=all
FUZZ_SRC_command = src/smtp_addr.c
FUZZ_SRC_data    = src/smtp_data.c src/spool.c src/fsutil.c
FUZZ_SRC_bdat    = $(FUZZ_SRC_data)
FUZZ_SRC_auth    = src/auth.c src/conf.c src/cidr.c src/smtp_io.c src/fsutil.c src/tls.c
FUZZ_LIBS_auth   = -lssl -lcrypto -lcrypt
FUZZ_SRC_conf    = src/conf.c src/cidr.c
FUZZ_SRC_merge   = src/csv.c src/merge.c src/msg_head.c src/mime_word.c
FUZZ_SRC_webmail = src/mime_view.c src/cgi.c src/fsutil.c
FUZZ_CFLAGS_webmail = $(GMIME_CFLAGS)
FUZZ_LIBS_webmail = $(GMIME_LIBS)
FUZZ_SRC_authres = src/head_scan.c src/mail_auth.c src/auth_spf.c src/auth_dkim.c src/auth_dmarc.c \
                   src/dns_txt.c src/dkim_sign.c src/spool.c src/fsutil.c
FUZZ_LIBS_authres = -lopendkim -lspf2 -lopendmarc -lssl -lcrypto -ldb -lbsd -lresolv

build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRC_$$*) src/*.h
	@mkdir -p build/fuzz
	clang $(FUZZ_CFLAGS) $(FUZZ_CFLAGS_$*) -o $@ $< $(FUZZ_SRC_$*) $(FUZZ_LIBS_$*)

fuzz-build: $(addprefix build/fuzz/fuzz_,$(FUZZ_TARGETS))

# each target for FUZZ_SECONDS, from the committed seeds; findings are
# left in build/fuzz/ (crash-*, leak-*) and make fails
fuzz: deps fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus-$$t && cp -n tests/fuzz/seeds/$$t/* build/fuzz/corpus-$$t/ 2>/dev/null; \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    (cd build/fuzz && ./fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 \
	        -max_len=65536 -print_final_stats=1 corpus-$$t 2>&1 | tail -n 12) || exit 1; \
	    ! ls build/fuzz/crash-* build/fuzz/leak-* build/fuzz/timeout-* 2>/dev/null | grep -q . || exit 1; \
	done

# ---- benchmark: mailpipe beside a private Postfix and floor (bench/README.md)
$(BUILD)/floor: bench/floor.c | $(BUILD)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -o $@ bench/floor.c

bench: deps all $(BUILD)/floor
	MP_BIN=$(abspath $(BINDIR)) BENCH_FLOOR=$(abspath $(BUILD))/floor bench/run

demo: deps all
	bin/mailpipe-demo

demo-stop:
	bin/mailpipe-demo stop

# ---- install (DESTDIR for packagers) ----------------------------------------
PREFIX  ?= /usr/local
SBINDIR  = $(PREFIX)/sbin
MANDIR   = $(PREFIX)/share/man
WEBDIR   = $(PREFIX)/lib/mailpipe/cgi-bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
XINETDIR ?= /etc/xinetd.d
SYSTEM_SBIN ?= /usr/sbin
SYSTEM_LIB  ?= /usr/lib
# made by a root install without DESTDIR (a package makes them in its scripts)
STATEDIR ?= /var/lib/mailpipe
CONFDIR  ?= /etc/mailpipe
MAILPIPE_USER ?= mailpipe
USER_PROGS  = smtp-send
ADMIN_PROGS = $(filter-out $(USER_PROGS),$(PROGS))
# the units and xinetd files name /usr/local/sbin; another PREFIX is written in
UNIT_PATHS = sed 's\#/usr/local/sbin/\#$(SBINDIR)/\#g'

# Local programs find sendmail at /usr/sbin/sendmail or /usr/lib/sendmail
# whatever PREFIX is (this replaces another MTA's sendmail there); it finds
# mail-store beside its real path.
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(SBINDIR) $(DESTDIR)$(SYSTEM_SBIN) \
	    $(DESTDIR)$(SYSTEM_LIB)
	install -m 755 $(addprefix $(BINDIR)/,$(USER_PROGS)) $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(addprefix $(BINDIR)/,$(ADMIN_PROGS)) $(DESTDIR)$(SBINDIR)
	install -d $(DESTDIR)$(WEBDIR)
	install -m 755 $(CGI_BINS) $(DESTDIR)$(WEBDIR)
	for f in man/*.[1578]; do \
	    install -D -m 644 $$f $(DESTDIR)$(MANDIR)/man$${f##*.}/$${f#man/} || exit 1; done
	[ "$(SBINDIR)" = $(SYSTEM_SBIN) ] || ln -sf $(SBINDIR)/sendmail $(DESTDIR)$(SYSTEM_SBIN)/sendmail
	ln -sf $$(realpath -ms --relative-to=$(SYSTEM_LIB) $(SYSTEM_SBIN)/sendmail) $(DESTDIR)$(SYSTEM_LIB)/sendmail
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(XINETDIR)
	for f in systemd/*; do $(UNIT_PATHS) $$f > $(DESTDIR)$(UNITDIR)/$${f#systemd/} && \
	    chmod 644 $(DESTDIR)$(UNITDIR)/$${f#systemd/} || exit 1; done
	for f in xinetd/*; do $(UNIT_PATHS) $$f > $(DESTDIR)$(XINETDIR)/$${f#xinetd/} && \
	    chmod 644 $(DESTDIR)$(XINETDIR)/$${f#xinetd/} || exit 1; done
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	    id $(MAILPIPE_USER) >/dev/null 2>&1 || { echo "make install: adding the system user $(MAILPIPE_USER)"; \
	        useradd --system --home-dir $(STATEDIR) --no-create-home \
	            --shell /usr/sbin/nologin $(MAILPIPE_USER) || exit 1; }; \
	    install -d -o $(MAILPIPE_USER) -g $(MAILPIPE_USER) -m 700 $(STATEDIR) && \
	    install -d -m 755 $(CONFDIR) || exit 1; \
	    echo "make install: $(STATEDIR) (owner $(MAILPIPE_USER), 0700) and $(CONFDIR) are ready;"; \
	    echo "  write $(CONFDIR)/mailpipe.conf, domains and users (mailpipe(7), INSTALLATION),"; \
	    echo "  check them with mailpipe-check, then: systemctl enable --now smtp.socket"; \
	fi

uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(USER_PROGS)) $(addprefix $(DESTDIR)$(SBINDIR)/,$(ADMIN_PROGS))
	rm -f $(addprefix $(DESTDIR)$(WEBDIR)/,$(CGIS))
	-rmdir $(DESTDIR)$(WEBDIR) $(DESTDIR)$(PREFIX)/lib/mailpipe 2>/dev/null
	for f in man/*.[1578]; do rm -f $(DESTDIR)$(MANDIR)/man$${f##*.}/$${f#man/}; done
	[ -L $(DESTDIR)$(SYSTEM_LIB)/sendmail ] && rm -f $(DESTDIR)$(SYSTEM_LIB)/sendmail || true
	[ -L $(DESTDIR)$(SYSTEM_SBIN)/sendmail ] && rm -f $(DESTDIR)$(SYSTEM_SBIN)/sendmail || true
	for f in systemd/*; do rm -f $(DESTDIR)$(UNITDIR)/$${f#systemd/}; done
	for f in xinetd/*; do rm -f $(DESTDIR)$(XINETDIR)/$${f#xinetd/}; done

clean:
	rm -rf $(BUILD) $(BINS) $(CGI_BINS) tests/out tests/gen

.PHONY: all deps check check-sanitize cppcheck fuzz fuzz-build bench demo demo-stop clean install uninstall
