/* pop3-serve - the POP3 server (RFC 1939) for one connection, over the
 * Maildirs mail-store writes.
 *
 *   pop3-serve [-t]      -t: TLS from the start (port 995, RFC 8314)
 *
 * USER/PASS checked with crypt(3) against the users file, only under TLS
 * (STLS, RFC 2595) or, when pop3_plaintext_loopback says so, from the
 * loopback address.  Three failures end the session.  The mailbox is
 * locked for the session ([IN-USE], RFC 2449); messages are numbered
 * oldest first, sized in CRLF octets, with the Maildir base name as UIDL.
 * DELE only marks: the files go in the UPDATE state after QUIT, so a
 * dropped connection deletes nothing.  A retrieved message moves from new/
 * to cur/ with the S flag, as any Maildir reader expects.  See
 * pop3-serve(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth.h"
#include "conf.h"
#include "fsutil.h"
#include "log.h"
#include "mailbox.h"
#include "maildir.h"
#include "peer.h"
#include "smtp_io.h"
#include "tls.h"

#define LINE_MAX_POP3 512          /* RFC 2449: 255 octets a command; some slack */
#define MESSAGES_MAX 200000        /* of one mailbox in one session */
#define FAILURES_MAX 3
#define LOCK_FILE "mailpipe-pop3.lock"
#define UID_MAX 70                 /* RFC 1939 7: 1 to 70 characters */

enum state { AUTHORIZATION = 1, TRANSACTION = 2 };

struct message {
	struct mbox_entry e;
	uint64_t size;     /* octets on the wire: LF made CRLF */
	int deleted;
};

struct pop3 {
	struct conf conf;
	struct smtp_io io;
	SSL_CTX *tls_ctx;
	int tls, implicit_tls, closing;
	enum state state;
	char client[64], sid[16];
	char user[CONF_ADDR_MAX];
	int failures;
	char maildir[PATH_MAX];
	int lock_fd;
	struct message *msgs;
	size_t n;
};

static void reply(struct pop3 *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reply(struct pop3 *p, const char *fmt, ...)
{
	char line[600];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 3)
		n = (int)sizeof line - 3;
	memcpy(line + n, "\r\n", 2);
	io_write(&p->io, line, (size_t)n + 2);
}

/* ---- the mailbox -------------------------------------------------------- */

/* The size a message has on the wire: every LF not after a CR becomes
 * CRLF, and a last line without a line end gets one (send_message). */
static int wire_size(const char *path, uint64_t *size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char buf[STREAM_BUF];
	uint64_t total = 0;
	int prev_cr = 0;
	char last = '\n';
	ssize_t n;
	off_t off = 0;
	while ((n = pread_some(fd, buf, sizeof buf, off)) > 0) {
		off += n;
		for (ssize_t i = 0; i < n; i++) {
			total += 1 + (buf[i] == '\n' && !prev_cr);
			prev_cr = buf[i] == '\r';
		}
		last = buf[n - 1];
	}
	close(fd);
	*size = total + (last != '\n' ? 2 : 0);
	return n < 0 ? -1 : 0;
}

/* The session's own lock on the mailbox (flock: released when we die). */
static int lock_mailbox(struct pop3 *p)
{
	char path[PATH_MAX];
	if (maildir_make(p->maildir) < 0 || path_join(path, sizeof path, p->maildir, LOCK_FILE) < 0)
		return -1;
	p->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (p->lock_fd < 0)
		return -1;
	if (flock(p->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		close(p->lock_fd);
		p->lock_fd = -1;
		return errno == EWOULDBLOCK ? 1 : -1;
	}
	return 0;
}

/* The messages, oldest first (message 1 is the oldest), with their sizes. */
static int load_mailbox(struct pop3 *p)
{
	struct mbox_list list;
	if (mbox_list(p->maildir, &list) < 0)
		return -1;
	size_t n = list.n < MESSAGES_MAX ? list.n : MESSAGES_MAX;
	p->msgs = calloc(n ? n : 1, sizeof *p->msgs);
	if (!p->msgs) {
		mbox_list_free(&list);
		return -1;
	}
	p->n = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mbox_entry *e = &list.e[list.n - 1 - i];   /* the list is newest first */
		char path[PATH_MAX];
		struct message *m = &p->msgs[p->n];
		if (mbox_path(p->maildir, e, path, sizeof path) < 0 || wire_size(path, &m->size) < 0)
			continue;   /* gone since the listing: another program took it */
		m->e = *e;
		p->n++;
	}
	mbox_list_free(&list);
	return 0;
}

/* The UID of a message: its Maildir base name, or a digest of it when it
 * is longer than RFC 1939 allows. */
static void message_uid(const struct message *m, char *uid, size_t size)
{
	if (strlen(m->e.name) <= UID_MAX) {
		snprintf(uid, size, "%s", m->e.name);
		return;
	}
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	EVP_Digest(m->e.name, strlen(m->e.name), md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < 20 && i < len && 2 * i + 2 < size; i++)
		snprintf(uid + 2 * i, 3, "%02x", md[i]);
}

/* Message number arg (1-based, not deleted), or NULL with -ERR sent. */
static struct message *message_arg(struct pop3 *p, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long k = strtoul(arg, &end, 10);
	if (!*arg || *end || errno || k == 0 || k > p->n) {
		reply(p, "-ERR no such message");
		return NULL;
	}
	struct message *m = &p->msgs[k - 1];
	if (m->deleted) {
		reply(p, "-ERR message %lu already deleted", k);
		return NULL;
	}
	return m;
}

/* ---- sending a message ---------------------------------------------------- */

struct wire {
	int mid_line, empty, prev_cr, in_body, done;
	long lines_left;    /* body lines TOP still sends; -1: all of them */
};

/* One chunk of the file to the client: LF made CRLF, a line starting
 * with "." gets one more (RFC 1939 3); w->done once TOP has its lines. */
static void send_chunk(struct pop3 *p, struct wire *w, const char *buf, size_t n)
{
	char out[3 * STREAM_BUF];
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = buf[i];
		if (!w->mid_line) {   /* a line begins */
			if (w->in_body && w->lines_left == 0) {
				w->done = 1;
				break;
			}
			if (w->in_body && w->lines_left > 0)
				w->lines_left--;
			if (ch == '.')
				out[o++] = '.';
			w->mid_line = w->empty = 1;
		}
		if (ch == '\n') {
			if (!w->prev_cr)
				out[o++] = '\r';
			out[o++] = '\n';
			if (w->empty)
				w->in_body = 1;   /* the empty line ends the header */
			w->mid_line = w->prev_cr = 0;
			continue;
		}
		out[o++] = ch;
		w->empty &= ch == '\r';
		w->prev_cr = ch == '\r';
	}
	io_write(&p->io, out, o);
}

/* The message's file, opened: where the listing saw it, or where another
 * reader (the webmail, Dovecot) has moved it since, found by its base
 * name.  The fd, or -1 when it is gone. */
static int open_message(struct pop3 *p, struct message *m)
{
	char path[PATH_MAX];
	if (mbox_path(p->maildir, &m->e, path, sizeof path) < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && mbox_find(p->maildir, m->e.name, &m->e, path, sizeof path) == 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd;
}

/* The message from fd, or its header and lines body lines (TOP; lines < 0:
 * all), then the final dot.  -1 on a read error: then no dot is sent, and
 * the caller ends the session, so the client never takes half a message
 * for a whole one. */
static int send_message(struct pop3 *p, int fd, long lines)
{
	char buf[STREAM_BUF];
	struct wire w = { .lines_left = lines };
	ssize_t n = 0;
	off_t off = 0;
	while (!w.done && (n = pread_some(fd, buf, sizeof buf, off)) > 0) {
		off += n;
		send_chunk(p, &w, buf, (size_t)n);
	}
	close(fd);
	if (n < 0)
		return -1;
	if (w.mid_line)
		io_write(&p->io, "\r\n", 2);
	io_write(&p->io, ".\r\n", 3);
	return 0;
}

/* ---- commands -------------------------------------------------------------- */

/* May a password come in clear here? */
static int plaintext_ok(const struct pop3 *p)
{
	return p->tls || (p->conf.pop3_plaintext_loopback && peer_is_loopback(p->client));
}

static void cmd_capa(struct pop3 *p, char *arg)
{
	(void)arg;
	reply(p, "+OK Capability list follows");
	if (plaintext_ok(p) && p->state == AUTHORIZATION)
		reply(p, "USER");
	if (p->tls_ctx && !p->tls && p->state == AUTHORIZATION)
		reply(p, "STLS");
	reply(p, "TOP");
	reply(p, "UIDL");
	reply(p, "PIPELINING");
	reply(p, "RESP-CODES");
	reply(p, "AUTH-RESP-CODE");
	reply(p, "EXPIRE NEVER");
	reply(p, "IMPLEMENTATION mailpipe");
	reply(p, ".");
}

static void cmd_stls(struct pop3 *p, char *arg)
{
	(void)arg;
	if (!p->tls_ctx || p->tls) {
		reply(p, "-ERR %s", p->tls ? "TLS is already on" : "STLS is not offered here");
		return;
	}
	reply(p, "+OK Begin TLS negotiation");
	/* anything pipelined after STLS came in clear: dropped unanswered */
	io_discard_input(&p->io);
	char err[256];
	if (io_flush(&p->io) < 0 || io_start_tls(&p->io, p->tls_ctx, err, sizeof err) < 0) {
		log_event("tls-failed", "error", err, LOG_END);
		p->closing = 1;
		return;
	}
	p->tls = 1;
	p->user[0] = '\0';   /* nothing said in clear counts (RFC 2595 4) */
}

static void cmd_user(struct pop3 *p, char *arg)
{
	if (!plaintext_ok(p)) {
		reply(p, "-ERR [AUTH] %s", p->tls_ctx ? "Use STLS first: no password in clear"
						      : "No password in clear and no TLS here");
		return;
	}
	if (!*arg || strlen(arg) >= sizeof p->user) {
		reply(p, "-ERR [AUTH] USER needs a name");
		return;
	}
	snprintf(p->user, sizeof p->user, "%s", arg);
	conf_lowercase(p->user);
	reply(p, "+OK Send the password");
}

static int open_mailbox(struct pop3 *p)
{
	if (maildir_for_address(p->conf.state, p->user, p->maildir, sizeof p->maildir) < 0) {
		reply(p, "-ERR [SYS/PERM] No mailbox for this user");
		return -1;
	}
	int locked = lock_mailbox(p);
	if (locked > 0) {
		reply(p, "-ERR [IN-USE] The mailbox is open in another session");
		return -1;
	}
	if (locked < 0 || load_mailbox(p) < 0) {
		log_event("error", "error", "cannot open the mailbox", "reason", strerror(errno), LOG_END);
		reply(p, "-ERR [SYS/TEMP] The mailbox cannot be opened now");
		return -1;
	}
	return 0;
}

static void cmd_pass(struct pop3 *p, char *arg)
{
	if (!p->user[0]) {
		reply(p, "-ERR [AUTH] USER first");
		return;
	}
	int ok = auth_check_password(&p->conf, p->user, arg);
	explicit_bzero(arg, strlen(arg));
	if (!ok) {
		log_event("auth-failed", "user", p->user, LOG_END);
		p->user[0] = '\0';
		if (++p->failures >= FAILURES_MAX) {
			reply(p, "-ERR [AUTH] Too many failures; goodbye");
			p->closing = 1;
		} else {
			reply(p, "-ERR [AUTH] Wrong user name or password");
		}
		return;
	}
	if (open_mailbox(p) < 0) {
		p->user[0] = '\0';
		return;
	}
	uint64_t total = 0;
	for (size_t i = 0; i < p->n; i++)
		total += p->msgs[i].size;
	char count[24];
	snprintf(count, sizeof count, "%zu", p->n);
	log_event("login", "user", p->user, "messages", count, LOG_END);
	p->state = TRANSACTION;
	reply(p, "+OK %zu messages (%llu octets)", p->n, (unsigned long long)total);
}

static void cmd_stat(struct pop3 *p, char *arg)
{
	(void)arg;
	size_t count = 0;
	uint64_t total = 0;
	for (size_t i = 0; i < p->n; i++)
		if (!p->msgs[i].deleted) {
			count++;
			total += p->msgs[i].size;
		}
	reply(p, "+OK %zu %llu", count, (unsigned long long)total);
}

/* LIST and UIDL: one message, or all that are not deleted. */
static void listing(struct pop3 *p, char *arg, int uids)
{
	char uid[UID_MAX + 1];
	if (*arg) {
		struct message *m = message_arg(p, arg);
		if (!m)
			return;
		message_uid(m, uid, sizeof uid);
		if (uids)
			reply(p, "+OK %zu %s", (size_t)(m - p->msgs) + 1, uid);
		else
			reply(p, "+OK %zu %llu", (size_t)(m - p->msgs) + 1, (unsigned long long)m->size);
		return;
	}
	reply(p, "+OK listing follows");
	for (size_t i = 0; i < p->n; i++) {
		if (p->msgs[i].deleted)
			continue;
		message_uid(&p->msgs[i], uid, sizeof uid);
		if (uids)
			reply(p, "%zu %s", i + 1, uid);
		else
			reply(p, "%zu %llu", i + 1, (unsigned long long)p->msgs[i].size);
	}
	reply(p, ".");
}

static void cmd_list(struct pop3 *p, char *arg)
{
	listing(p, arg, 0);
}

static void cmd_uidl(struct pop3 *p, char *arg)
{
	listing(p, arg, 1);
}

/* Read: new/ to cur/ with the S flag, as Dovecot and mail readers expect. */
static void mark_seen(struct pop3 *p, struct message *m)
{
	char path[PATH_MAX];
	if (mbox_path(p->maildir, &m->e, path, sizeof path) == 0 &&
	    mbox_mark_seen(p->maildir, &m->e, path, sizeof path) < 0)
		log_event("error", "error", "cannot mark read", "file", m->e.name, LOG_END);
}

/* RETR and TOP: the message, or -ERR when its file is gone since the
 * listing; a read error half-way ends the session. */
static int retrieve(struct pop3 *p, struct message *m, long lines, const char *ok)
{
	int fd = open_message(p, m);
	if (fd < 0) {
		reply(p, "-ERR that message is gone (another program removed it)");
		return -1;
	}
	reply(p, "%s", ok);
	if (send_message(p, fd, lines) < 0) {
		log_event("error", "error", "cannot read a message", "file", m->e.name, LOG_END);
		p->closing = 1;
		return -1;
	}
	return 0;
}

static void cmd_retr(struct pop3 *p, char *arg)
{
	struct message *m = message_arg(p, arg);
	char ok[64];
	if (!m)
		return;
	snprintf(ok, sizeof ok, "+OK %llu octets", (unsigned long long)m->size);
	/* read only once the client has it all */
	if (retrieve(p, m, -1, ok) == 0 && io_flush(&p->io) == 0)
		mark_seen(p, m);
}

static void cmd_top(struct pop3 *p, char *arg)
{
	char *space = strchr(arg, ' ');
	char *end;
	long lines = space ? strtol(space + 1, &end, 10) : -1;
	if (!space || *end || lines < 0 || space[1] == '\0') {
		reply(p, "-ERR TOP takes a message number and a line count");
		return;
	}
	*space = '\0';
	struct message *m = message_arg(p, arg);
	if (m)
		retrieve(p, m, lines, "+OK top of message follows");
}

static void cmd_dele(struct pop3 *p, char *arg)
{
	struct message *m = message_arg(p, arg);
	if (!m)
		return;
	m->deleted = 1;
	reply(p, "+OK message %s deleted", arg);
}

static void cmd_rset(struct pop3 *p, char *arg)
{
	(void)arg;
	for (size_t i = 0; i < p->n; i++)
		p->msgs[i].deleted = 0;
	cmd_stat(p, arg);
}

static void cmd_noop(struct pop3 *p, char *arg)
{
	(void)arg;
	reply(p, "+OK");
}

/* QUIT: in TRANSACTION the UPDATE state, where DELE takes effect. */
static void cmd_quit(struct pop3 *p, char *arg)
{
	(void)arg;
	p->closing = 1;
	if (p->state != TRANSACTION) {
		reply(p, "+OK Bye");
		return;
	}
	size_t removed = 0, failed = 0;
	char path[PATH_MAX];
	for (size_t i = 0; i < p->n; i++) {
		if (!p->msgs[i].deleted)
			continue;
		struct mbox_entry *e = &p->msgs[i].e;
		int gone = mbox_path(p->maildir, e, path, sizeof path) == 0 && unlink(path) == 0;
		/* moved by another reader since the listing: found by its name */
		if (!gone && errno == ENOENT)   /* else removed by someone: gone all the same */
			gone = mbox_find(p->maildir, e->name, e, path, sizeof path) < 0 || unlink(path) == 0;
		if (gone)
			removed++;
		else
			failed++;
	}
	char dir[PATH_MAX];
	if (removed && (path_join(dir, sizeof dir, p->maildir, "cur") < 0 || fsync_dir(dir) < 0 ||
			path_join(dir, sizeof dir, p->maildir, "new") < 0 || fsync_dir(dir) < 0))
		failed++;
	char count[24];
	snprintf(count, sizeof count, "%zu", removed);
	log_event("logout", "user", p->user, "deleted", count, LOG_END);
	if (failed)
		reply(p, "-ERR [SYS/TEMP] Some deleted messages could not be removed");
	else
		reply(p, "+OK Bye, %zu deleted", removed);
}

/* ---- the session ------------------------------------------------------------ */

static const struct command {
	const char *name;
	unsigned states;   /* where it is allowed: AUTHORIZATION | TRANSACTION */
	void (*run)(struct pop3 *, char *);
} commands[] = {
	{ "CAPA", AUTHORIZATION | TRANSACTION, cmd_capa },
	{ "STLS", AUTHORIZATION, cmd_stls },
	{ "USER", AUTHORIZATION, cmd_user },
	{ "PASS", AUTHORIZATION, cmd_pass },
	{ "STAT", TRANSACTION, cmd_stat },
	{ "LIST", TRANSACTION, cmd_list },
	{ "UIDL", TRANSACTION, cmd_uidl },
	{ "RETR", TRANSACTION, cmd_retr },
	{ "TOP", TRANSACTION, cmd_top },
	{ "DELE", TRANSACTION, cmd_dele },
	{ "RSET", TRANSACTION, cmd_rset },
	{ "NOOP", TRANSACTION, cmd_noop },
	{ "QUIT", AUTHORIZATION | TRANSACTION, cmd_quit },
};

static void dispatch(struct pop3 *p, char *line)
{
	char *arg = strchr(line, ' ');
	if (arg)
		*arg++ = '\0';
	else
		arg = line + strlen(line);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
		if (strcasecmp(line, commands[i].name) != 0)
			continue;
		if (!(commands[i].states & p->state))
			reply(p, "-ERR %s is not allowed %s", commands[i].name,
			      p->state == AUTHORIZATION ? "before login" : "after login");
		else
			commands[i].run(p, arg);
		return;
	}
	reply(p, "-ERR unknown command");
}

static void session_loop(struct pop3 *p)
{
	static char line[LINE_MAX_POP3 + 1];
	while (!p->closing) {
		size_t len;
		int too_long;
		int rc = io_read_line(&p->io, line, sizeof line, &len, &too_long);
		if (rc == IO_TIMEOUT) {
			reply(p, "-ERR timeout; goodbye (nothing deleted)");
			log_event("timeout", "user", p->user[0] ? p->user : NULL, LOG_END);
			break;
		}
		if (rc != IO_OK) {
			log_event("disconnect", "reason", rc == IO_EOF ? "eof" : "error", LOG_END);
			break;   /* no QUIT: no UPDATE state, nothing deleted */
		}
		if (too_long || memchr(line, '\0', len))
			reply(p, "-ERR line too long or not text");
		else
			dispatch(p, line);
	}
	io_flush(&p->io);
}

static void usage(void)
{
	printf("usage: pop3-serve [-t]\n  a POP3 session on stdin/stdout (see pop3-serve(8))\n"
	       "  -t  TLS from the start (port 995)\n");
}

static int parse_args(int argc, char **argv)
{
	int opt, implicit = 0;
	opterr = 0;
	while ((opt = getopt(argc, argv, "ht")) != -1) {
		if (opt == 'h') {
			usage();
			exit(0);
		}
		if (opt != 't') {
			fprintf(stderr, "pop3-serve: unknown option -%c (usage: pop3-serve [-t])\n", optopt);
			exit(EX_USAGE);
		}
		implicit = 1;
	}
	if (optind < argc) {
		fprintf(stderr, "pop3-serve: unexpected argument \"%s\" (usage: pop3-serve [-t])\n",
			argv[optind]);
		exit(EX_USAGE);
	}
	return implicit;
}

static int setup(struct pop3 *p)
{
	char err[CONF_ERROR_MAX];
	if (conf_load(&p->conf, conf_dir()) < 0) {
		log_event("config-error", "error", p->conf.error, LOG_END);
		reply(p, "-ERR [SYS/TEMP] Configuration error; try later");
		return EX_CONFIG;
	}
	p->io.timeout = p->conf.timeout;
	if (p->conf.tls_cert[0] && p->conf.tls_key[0] &&
	    !(p->tls_ctx = tls_server_context(p->conf.tls_cert, p->conf.tls_key, err, sizeof err))) {
		log_event("config-error", "error", err, LOG_END);
		reply(p, "-ERR [SYS/TEMP] TLS configuration error; try later");
		return EX_CONFIG;
	}
	if (p->implicit_tls && !p->tls_ctx) {
		log_event("config-error", "error", "-t needs tls_cert and tls_key", LOG_END);
		return EX_CONFIG;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct pop3 p;
	p.implicit_tls = parse_args(argc, argv);
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);   /* a password may be in memory */
	signal(SIGPIPE, SIG_IGN);
	log_open("pop3-serve");
	log_away_from_client(STDIN_FILENO);
	peer_session_id(p.sid, sizeof p.sid);
	peer_address(p.client, sizeof p.client);
	log_context("sid", p.sid);
	log_context("client", p.client);
	p.lock_fd = -1;
	p.state = AUTHORIZATION;
	io_init(&p.io, STDIN_FILENO, STDOUT_FILENO, 300);
	int rc = setup(&p);
	if (rc == 0) {
		log_event("connect", "mode", p.implicit_tls ? "pop3s" : NULL, LOG_END);
		if (p.implicit_tls) {
			char err[256];
			if (io_start_tls(&p.io, p.tls_ctx, err, sizeof err) < 0) {
				log_event("tls-failed", "error", err, LOG_END);
				p.closing = 1;
			}
			p.tls = !p.closing;
		}
		if (!p.closing) {
			reply(&p, "+OK mailpipe POP3 ready");
			session_loop(&p);
		}
	}
	io_flush(&p.io);
	io_end_tls(&p.io);
	if (p.lock_fd >= 0)
		close(p.lock_fd);
	free(p.msgs);
	SSL_CTX_free(p.tls_ctx);
	conf_free(&p.conf);
	return rc;
}
