/* smtp-send - send a message to an SMTP server, or one message per row of
 * a CSV list, for people and scripts.
 *
 *   smtp-send -S host[:port] [-T starttls|tls] [-a user [-P file]] -f FROM RCPT... < msg
 *   smtp-send -S host[:port] ... -f FROM --csv list.csv [--dry-run] < template
 *
 * The SMTP dialogue is the relay's (smtp_client, smtp_txn): one
 * implementation of the client, not two.  See smtp-send(1).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "csv.h"
#include "fsutil.h"
#include "merge.h"
#include "msg_head.h"
#include "password.h"
#include "smtp_client.h"
#include "smtp_txn.h"
#include "tls.h"

#define PROG "smtp-send"
#define TIMEOUT_DEFAULT 300
#define PASSWORD_MAX 1024

enum tls_mode { TLS_NONE, TLS_STARTTLS, TLS_IMPLICIT };

struct sender {
	/* from the command line */
	char host[256];
	unsigned port;
	enum tls_mode tls;
	const char *user, *password_file, *from, *csv, *ca_file;
	char helo[256];
	int insecure, verbose, dry_run;
	unsigned timeout;
	char **rcpts;
	size_t nrcpts;
	/* the session */
	char password[PASSWORD_MAX];
	struct smtp_client client;
	SSL_CTX *tls_ctx;
	int open;             /* the session can take a message */
	int used;             /* it carried one already: RSET first */
	int dead;             /* setting it up failed: dead_reply for every row after */
	struct smtp_reply dead_reply;
};

static const char usage_line[] =
	"usage: smtp-send -S HOST[:PORT] [-T starttls|tls] [-a USER [-P FILE]] -f FROM "
	"[--csv FILE [--dry-run]] [-v] RCPT...";

static void usage(void)
{
	printf("%s\n"
	       "  sends the message on standard input (see smtp-send(1))\n"
	       "  -S HOST[:PORT]   the server (port 25; 465 with -T tls)\n"
	       "  -T starttls|tls  TLS by STARTTLS or from the start; the certificate is checked\n"
	       "                   (-T none, the default: no TLS)\n"
	       "  -a USER          AUTH as USER; the password from $SMTP_PASSWORD, -P FILE or the terminal\n"
	       "  -P FILE          the password is the first line of FILE\n"
	       "  -f FROM          the sender\n"
	       "  --csv FILE       one message per row; {{column}} in the message is the row's value\n"
	       "  --dry-run        with --csv: show the first message and the row count, send nothing\n"
	       "  --ca FILE        trust the certificates in FILE instead of the system's\n"
	       "  --insecure       do not check the server's certificate\n"
	       "  --helo NAME      the name for EHLO (default: this host's name)\n"
	       "  --timeout SECS   per server reply (default %d)\n"
	       "  -v               show the SMTP dialogue on stderr (passwords masked)\n",
	       usage_line, TIMEOUT_DEFAULT);
}

static void __attribute__((noreturn)) bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s (%s)\n", what, arg ? " " : "", arg ? arg : "", usage_line);
	exit(EX_USAGE);
}

/* "host", "host:port", "[v6]" or "[v6]:port". */
static void parse_server(struct sender *s, const char *arg)
{
	const char *port = NULL;
	size_t len;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');
		if (!close || (close[1] && close[1] != ':'))
			bad_usage("-S takes HOST[:PORT], not", arg);
		len = (size_t)(close - arg - 1);
		arg++;
		port = close[1] ? close + 2 : NULL;
	} else {
		const char *colon = strchr(arg, ':');
		len = colon ? (size_t)(colon - arg) : strlen(arg);
		port = colon ? colon + 1 : NULL;
	}
	if (len == 0 || len >= sizeof s->host)
		bad_usage("-S takes HOST[:PORT], not", arg);
	memcpy(s->host, arg, len);
	s->host[len] = '\0';
	if (port) {
		char *end;
		unsigned long p = strtoul(port, &end, 10);
		if (*end || p < 1 || p > 65535)
			bad_usage("not a port:", port);
		s->port = (unsigned)p;
	}
}

static void parse_tls(struct sender *s, const char *arg)
{
	if (strcmp(arg, "starttls") == 0)
		s->tls = TLS_STARTTLS;
	else if (strcmp(arg, "tls") == 0)
		s->tls = TLS_IMPLICIT;
	else if (strcmp(arg, "none") == 0)
		s->tls = TLS_NONE;
	else
		bad_usage("-T takes starttls or tls, not", arg);
}

static unsigned parse_timeout(const char *arg)
{
	char *end;
	unsigned long t = strtoul(arg, &end, 10);
	if (*end || t < 1 || t > 3600)
		bad_usage("--timeout takes 1 to 3600 seconds, not", arg);
	return (unsigned)t;
}

enum { OPT_CSV = 256, OPT_DRY_RUN, OPT_CA, OPT_INSECURE, OPT_HELO, OPT_TIMEOUT };

static const struct option long_options[] = {
	{ "csv", required_argument, NULL, OPT_CSV },
	{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "helo", required_argument, NULL, OPT_HELO },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void parse_option(struct sender *s, int opt)
{
	switch (opt) {
	case 'h': usage(); exit(0);
	case 'S': parse_server(s, optarg); break;
	case 'T': parse_tls(s, optarg); break;
	case 'a': s->user = optarg; break;
	case 'P': s->password_file = optarg; break;
	case 'f': s->from = optarg; break;
	case 'v': s->verbose = 1; break;
	case OPT_CSV: s->csv = optarg; break;
	case OPT_DRY_RUN: s->dry_run = 1; break;
	case OPT_CA: s->ca_file = optarg; break;
	case OPT_INSECURE: s->insecure = 1; break;
	case OPT_HELO: snprintf(s->helo, sizeof s->helo, "%s", optarg); break;
	case OPT_TIMEOUT: s->timeout = parse_timeout(optarg); break;
	default: break;   /* parse_args names a bad option */
	}
}

static void check_args(const struct sender *s)
{
	if (!s->host[0] && !s->dry_run)
		bad_usage("no server: -S HOST[:PORT]", NULL);
	if (!s->from)
		bad_usage("no sender: -f FROM", NULL);
	if (strpbrk(s->from, "<> \t\r\n"))
		bad_usage("not an address:", s->from);
	if (s->csv && s->nrcpts)
		bad_usage("with --csv the recipients come from the email column, not", s->rcpts[0]);
	if (!s->csv && s->nrcpts == 0)
		bad_usage("no recipient", NULL);
	if (s->dry_run && !s->csv)
		bad_usage("--dry-run goes with --csv", NULL);
	if (s->password_file && !s->user)
		bad_usage("-P goes with -a USER", NULL);
	/* a password in clear text on the way is one anyone on the path has */
	if (s->user && s->tls == TLS_NONE)
		bad_usage("-a sends a password: use -T starttls or -T tls", NULL);
	if ((s->insecure || s->ca_file) && s->tls == TLS_NONE)
		bad_usage(s->insecure ? "--insecure" : "--ca", "goes with -T starttls or -T tls");
	if (s->ca_file && access(s->ca_file, R_OK) < 0) {
		fprintf(stderr, PROG ": cannot read %s: %s\n", s->ca_file, strerror(errno));
		exit(EX_NOINPUT);
	}
	for (size_t i = 0; i < s->nrcpts; i++)
		if (!s->rcpts[i][0] || s->rcpts[i][0] == '-' || strpbrk(s->rcpts[i], "<> \t\r\n"))
			bad_usage("not an address:", s->rcpts[i]);
}

/* This host's full name for EHLO (servers may refuse a name without a
 * dot, as Postfix's reject_non_fqdn_helo_hostname does), as hostname -f
 * finds it; the short name when that is all there is. */
static void own_name(char *buf, size_t size)
{
	if (gethostname(buf, size) < 0 || !buf[0]) {
		snprintf(buf, size, "localhost");
		return;
	}
	struct addrinfo hints = { .ai_flags = AI_CANONNAME }, *res = NULL;
	if (!strchr(buf, '.') && getaddrinfo(buf, NULL, &hints, &res) == 0 && res->ai_canonname &&
	    strchr(res->ai_canonname, '.'))
		snprintf(buf, size, "%s", res->ai_canonname);
	if (res)
		freeaddrinfo(res);
}

static void parse_args(struct sender *s, int argc, char **argv)
{
	int opt;
	opterr = 0;
	s->timeout = TIMEOUT_DEFAULT;
	while ((opt = getopt_long(argc, argv, "hS:T:a:P:f:v", long_options, NULL)) != -1) {
		if (opt == '?' || opt == ':')
			bad_usage("unknown option or missing argument:", argv[optind - 1]);
		parse_option(s, opt);
	}
	s->rcpts = argv + optind;
	s->nrcpts = (size_t)(argc - optind);
	if (!s->port)
		s->port = s->tls == TLS_IMPLICIT ? 465 : 25;
	if (!s->helo[0])
		own_name(s->helo, sizeof s->helo);
	check_args(s);
}

/* ---- the password --------------------------------------------------------- */

static int password_from_file(struct sender *s)
{
	FILE *fp = fopen(s->password_file, "r");
	if (!fp) {
		fprintf(stderr, PROG ": cannot read %s: %s\n", s->password_file, strerror(errno));
		return EX_NOINPUT;
	}
	struct stat st;
	if (fstat(fileno(fp), &st) == 0 && (st.st_mode & 077))
		fprintf(stderr, PROG ": warning: %s can be read by others\n", s->password_file);
	int rc = password_read_line(fp, s->password, sizeof s->password);
	fclose(fp);
	if (rc < 0 || !s->password[0]) {
		fprintf(stderr, PROG ": %s: no password on its first line\n", s->password_file);
		return EX_DATAERR;
	}
	return 0;
}

static int password_from_tty(struct sender *s)
{
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty) {
		fprintf(stderr, PROG ": -a %s: the password goes in $SMTP_PASSWORD or a file given "
			"with -P\n", s->user);
		return EX_USAGE;
	}
	char prompt[600];
	snprintf(prompt, sizeof prompt, "Password for %s at %s: ", s->user, s->host);
	int rc = password_read_hidden(tty, prompt, s->password, sizeof s->password);
	fclose(tty);
	return rc < 0 ? EX_NOINPUT : 0;
}

/* From -P FILE, else $SMTP_PASSWORD (then wiped from our environment),
 * else the terminal.  Never from the command line, which ps shows. */
static int get_password(struct sender *s)
{
	if (s->password_file)
		return password_from_file(s);
	char *env = getenv("SMTP_PASSWORD");
	if (!env)
		return password_from_tty(s);
	if (!*env) {
		fprintf(stderr, PROG ": $SMTP_PASSWORD is empty\n");
		return EX_USAGE;
	}
	if (strlen(env) >= sizeof s->password) {
		fprintf(stderr, PROG ": $SMTP_PASSWORD is too long\n");
		return EX_USAGE;
	}
	strcpy(s->password, env);
	explicit_bzero(env, strlen(env));
	unsetenv("SMTP_PASSWORD");
	return 0;
}

/* ---- the session ---------------------------------------------------------- */

static int tls_context(struct sender *s, struct smtp_reply *reply)
{
	if (s->tls_ctx)
		return 0;
	char err[256];
	s->tls_ctx = tls_client_context(!s->insecure, s->ca_file, err, sizeof err);
	if (!s->tls_ctx) {
		reply_local(reply, 554, "5.7.5", "TLS: %s", err);
		return -1;
	}
	return 0;
}

/* A certificate or a protocol that does not check out (4.7.5) will not
 * next time either; a handshake that timed out or was cut off (4.4.2)
 * may, and stays 4xx (exit 75). */
static int tls_failed(struct smtp_reply *reply)
{
	if (reply->local && strncmp(reply->text, "451 4.7.5 ", 10) == 0) {
		char said[SMTP_REPLY_TEXT_MAX];
		snprintf(said, sizeof said, "%s", reply->text + 10);
		reply_local(reply, 554, "5.7.5", "%s", said);
	}
	return -1;
}

static int start_tls(struct sender *s, struct smtp_reply *reply)
{
	struct smtp_client *c = &s->client;
	if (s->tls == TLS_IMPLICIT)
		return 0;   /* running since the connect */
	if (!(c->caps & CAP_STARTTLS)) {
		reply_local(reply, 554, "5.7.4", "%s does not offer STARTTLS", c->peer);
		return -1;
	}
	return client_starttls(c, s->tls_ctx, s->helo, reply) < 0 ? tls_failed(reply) : 0;
}

/* Connect, TLS, greeting and EHLO, AUTH.  0, or -1 with the reason. */
static int session_setup(struct sender *s, struct smtp_reply *reply)
{
	struct smtp_client *c = &s->client;
	c->verbose = s->verbose;
	if (s->tls != TLS_NONE && tls_context(s, reply) < 0)
		return -1;
	if (client_connect(c, s->host, s->port, 0, 0, s->timeout, reply) < 0)
		return -1;
	s->open = 1;
	if (s->tls == TLS_IMPLICIT && client_tls(c, s->tls_ctx, reply) < 0)
		return tls_failed(reply);
	if (client_greet(c, s->helo, reply) < 0)
		return -1;
	if (s->tls != TLS_NONE && start_tls(s, reply) < 0)
		return -1;
	if (s->user && client_auth(c, s->user, s->password, reply) < 0)
		return -1;
	s->used = 0;
	return 0;
}

static void session_end(struct sender *s, int quit)
{
	if (!s->open)
		return;
	if (quit)
		client_quit(&s->client);
	else
		client_close(&s->client);
	s->open = 0;
}

/* Opens the session when there is none.  When that fails, it is not tried
 * again: every message after gets the same reply. */
static int session_ready(struct sender *s, struct txn_message *m)
{
	if (s->open)
		return 0;
	if (!s->dead && session_setup(s, &s->dead_reply) == 0)
		return 0;
	session_end(s, 0);
	s->dead = 1;
	txn_fail_all(m, &s->dead_reply);
	return -1;
}

/* Did the server go away before it answered for this message (a lost
 * connection, or 421)?  Then one more try over a new session. */
static int worth_retry(const struct txn_message *m)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		if (!m->rcpts[i].reply.local && m->rcpts[i].reply.code != 421)
			return 0;
	return 1;
}

/* The message over the session, reopened when the server dropped it. */
static void send_message(struct sender *s, struct txn_message *m)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		int reused = s->open;
		if (session_ready(s, m) < 0)
			return;
		m->reset_first = s->used > 0;
		if (txn_send(&s->client, m) == 0) {
			s->used = !m->reset_done;   /* its own RSET left the session clean */
			return;
		}
		session_end(s, 0);
		if (!reused || !worth_retry(m))
			return;   /* a fresh session failed on its own: no point */
	}
}

/* ---- files ---------------------------------------------------------------- */

/* An unlinked temporary file, read and written: nothing to clean up. */
static FILE *temp_file(void)
{
	char path[PATH_MAX];
	int fd = temp_open(PROG, path, sizeof path);
	if (fd < 0)
		return NULL;
	FILE *fp = fdopen(fd, "w+");
	if (!fp)
		close(fd);
	return fp;
}

static int copy_stream(FILE *in, FILE *out)
{
	char buf[STREAM_BUF];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			return -1;
	return ferror(in) || fflush(out) == EOF ? -1 : 0;
}

static int io_failure(const char *what)
{
	fprintf(stderr, PROG ": %s: %s\n", what, strerror(errno));
	return EX_IOERR;
}

/* ---- exit codes ------------------------------------------------------------- */

struct tally {
	unsigned sent, deferred, failed;
	int perm_exit;   /* the exit code for the first 5xx (one message) */
};

static void tally_reply(struct tally *t, const struct smtp_reply *r)
{
	switch (reply_class(r)) {
	case 2: t->sent++; break;
	case 5:
		if (!t->failed++)
			t->perm_exit = reply_exit_code(r);
		break;
	default: t->deferred++; break;
	}
}

/* ---- one message ---------------------------------------------------------- */

static void say_refused(const struct txn_rcpt *r)
{
	if (reply_class(&r->reply) != 2)
		fprintf(stderr, PROG ": <%s>: %s\n", r->address, r->reply.text);
}

/* The message from stdin, with Date, Message-ID and From when missing,
 * to every recipient of the command line in one transaction. */
static int send_to_rcpts(struct sender *s, int fd)
{
	struct txn_rcpt *rcpts = calloc(s->nrcpts, sizeof *rcpts);
	if (!rcpts)
		return io_failure("memory");
	for (size_t i = 0; i < s->nrcpts; i++)
		rcpts[i].address = s->rcpts[i];
	struct txn_message m = { .sender = s->from, .rcpts = rcpts, .nrcpts = s->nrcpts, .fd = fd };
	if (txn_scan(fd, &m.info) < 0) {
		free(rcpts);
		return io_failure("the message");
	}
	send_message(s, &m);
	session_end(s, 1);
	struct tally t = { 0 };
	for (size_t i = 0; i < s->nrcpts; i++) {
		say_refused(&rcpts[i]);
		tally_reply(&t, &rcpts[i].reply);
	}
	free(rcpts);
	return t.failed ? t.perm_exit : t.deferred ? EX_TEMPFAIL : 0;
}

static int send_one(struct sender *s)
{
	FILE *msg = temp_file();
	if (!msg)
		return io_failure("temporary file");
	struct head_in in = { .fp = stdin };
	struct head_fix fix = { .sender = s->from, .hostname = s->helo };
	int rc = head_copy(&in, msg, &fix, PROG);
	if (rc == 0)
		rc = send_to_rcpts(s, fileno(msg));
	fclose(msg);
	return rc;
}

/* ---- a CSV list --------------------------------------------------------- */

struct csv_list {
	FILE *tpl, *rows, *msg;
	struct csv_reader reader;
	char **names;              /* the first row */
	struct merge_columns cols;
	size_t email;              /* the column of the recipient */
	unsigned long count;       /* data rows */
	const char *values[CSV_FIELDS_MAX];   /* of the row being sent */
};

static int list_error(const struct sender *s, const char *what)
{
	fprintf(stderr, PROG ": %s: %s\n", s->csv, what);
	return EX_DATAERR;
}

/* The first row: the column names, one of them "email". */
static int read_columns(const struct sender *s, struct csv_list *l)
{
	char err[200];
	if (csv_read(&l->reader, err, sizeof err) != CSV_ROW)
		return list_error(s, l->reader.nfields ? err : "no first row naming the columns");
	l->names = calloc(l->reader.nfields, sizeof *l->names);
	if (!l->names)
		return io_failure("memory");
	l->cols.n = l->reader.nfields;   /* close_list frees as many */
	l->email = SIZE_MAX;
	for (size_t i = 0; i < l->reader.nfields; i++) {
		const char *name = csv_field(&l->reader, i);
		while (*name == ' ')
			name++;
		if (!(l->names[i] = strdup(name)))
			return io_failure("memory");
		for (size_t n = strlen(l->names[i]); n && l->names[i][n - 1] == ' ';)
			l->names[i][--n] = '\0';
		if (strcasecmp(l->names[i], "email") == 0 && l->email == SIZE_MAX)
			l->email = i;
	}
	l->cols.names = (const char *const *)l->names;
	l->cols.n = l->reader.nfields;
	return l->email == SIZE_MAX ? list_error(s, "no column named \"email\" for the recipients") : 0;
}

/* Reads every row once before anything is sent: a list that does not
 * parse to its end sends nothing. */
static int count_rows(const struct sender *s, struct csv_list *l)
{
	char err[200];
	enum csv_result r;
	while ((r = csv_read(&l->reader, err, sizeof err)) == CSV_ROW)
		l->count++;
	if (r == CSV_ERROR)
		return list_error(s, err);
	/* back to the first data row */
	if (fseeko(l->rows, 0, SEEK_SET) < 0)
		return io_failure(s->csv);
	csv_close(&l->reader);
	csv_open(&l->reader, l->rows);
	return csv_read(&l->reader, err, sizeof err) == CSV_ROW ? 0 : list_error(s, err);
}

/* The template from stdin and the list, each copied to a file of ours:
 * both are read more than once, and either may be a pipe. */
static int open_list(const struct sender *s, struct csv_list *l)
{
	FILE *in = fopen(s->csv, "r");
	if (!in) {
		fprintf(stderr, PROG ": cannot read %s: %s\n", s->csv, strerror(errno));
		return EX_NOINPUT;
	}
	l->tpl = temp_file();
	l->rows = temp_file();
	l->msg = temp_file();
	int rc = !l->tpl || !l->rows || !l->msg || copy_stream(stdin, l->tpl) < 0 ||
		 copy_stream(in, l->rows) < 0 || fseeko(l->rows, 0, SEEK_SET) < 0;
	fclose(in);
	if (rc)
		return io_failure("copying the template and the list");
	csv_open(&l->reader, l->rows);
	if ((rc = read_columns(s, l)) != 0)
		return rc;
	char unknown[MERGE_NAME_MAX + 1];
	if (merge_check(l->tpl, &l->cols, unknown, sizeof unknown) < 0) {
		if (!unknown[0])
			return io_failure("reading the template");
		fprintf(stderr, PROG ": the message uses {{%s}}, but %s has no column \"%s\"; "
			"nothing was sent\n", unknown, s->csv, unknown);
		return EX_DATAERR;
	}
	return count_rows(s, l);
}

struct row_result {
	struct txn_rcpt rcpt;
	char err[300];   /* why the row made no message */
};

/* The row's message into l->msg.  0, or -1 with the row's reply set. */
static int render_row(const struct sender *s, struct csv_list *l, struct row_result *res)
{
	struct head_fix fix = { .sender = s->from, .hostname = s->helo };
	if (l->reader.nfields != l->cols.n) {
		snprintf(res->err, sizeof res->err, "line %lu has %zu fields, the first row %zu",
			 l->reader.row_line, l->reader.nfields, l->cols.n);
		reply_local(&res->rcpt.reply, 554, "5.6.0", "%s", res->err);
		return -1;
	}
	const char *to = res->rcpt.address;
	if (!*to || strpbrk(to, "<> \t\r\n") || !strchr(to, '@')) {
		snprintf(res->err, sizeof res->err, "\"%.200s\" is not an address", to);
		reply_local(&res->rcpt.reply, 553, "5.1.3", "%s", res->err);
		return -1;
	}
	if (fseeko(l->msg, 0, SEEK_SET) < 0 || ftruncate(fileno(l->msg), 0) < 0) {
		reply_local(&res->rcpt.reply, 451, "4.3.0", "temporary file: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < l->reader.nfields; i++)
		l->values[i] = csv_field(&l->reader, i);
	int rc = merge_render(l->tpl, &l->cols, l->values, to, &fix, l->msg, res->err, sizeof res->err);
	if (rc > 0)
		reply_local(&res->rcpt.reply, 554, "5.6.0", "%s", res->err);
	else if (rc < 0)
		reply_local(&res->rcpt.reply, 451, "4.3.0", "making the message: %s", strerror(errno));
	return rc ? -1 : 0;
}

/* A field without the spaces a spreadsheet may leave around it. */
static const char *trimmed(struct csv_reader *r, size_t i)
{
	char *v = r->buf + r->start[i];
	while (*v == ' ' || *v == '\t')
		v++;
	for (size_t n = strlen(v); n && (v[n - 1] == ' ' || v[n - 1] == '\t');)
		v[--n] = '\0';
	return v;
}

/* One row: its message made and sent; the outcome in res. */
static void send_row(struct sender *s, struct csv_list *l, struct row_result *res)
{
	res->err[0] = '\0';
	res->rcpt.address = trimmed(&l->reader, l->email);
	if (render_row(s, l, res) < 0)
		return;
	struct txn_message m = { .sender = s->from, .rcpts = &res->rcpt, .nrcpts = 1,
				 .fd = fileno(l->msg) };
	if (txn_scan(m.fd, &m.info) < 0) {
		reply_local(&res->rcpt.reply, 451, "4.3.0", "reading the message: %s", strerror(errno));
		return;
	}
	send_message(s, &m);
}

/* The line for a row on stdout, and on stderr why, when it failed. */
/* The address for the row's line: a control character in it (a list can
 * hold anything) is shown as \xNN, so one row is always one line. */
static void shown_address(const char *address, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = address; *p && o + 5 < size; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch < 0x20 || ch == 0x7f || ch == '\\')
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = '\0';
}

static void report_row(unsigned long row, const struct row_result *res)
{
	char status[16], to[1024];
	reply_status(&res->rcpt.reply, status, sizeof status);
	shown_address(res->rcpt.address, to, sizeof to);
	printf("row=%lu to=<%s> reply=%d %s\n", row, to, res->rcpt.reply.code, status);
	fflush(stdout);
	if (reply_class(&res->rcpt.reply) != 2)
		fprintf(stderr, PROG ": row %lu: %s\n", row, res->rcpt.reply.text);
}

static void progress(const struct csv_list *l, unsigned long row, const struct tally *t, int last)
{
	fprintf(stderr, "\r" PROG ": %lu of %lu rows: %u sent, %u deferred, %u failed%s", row,
		l->count, t->sent, t->deferred, t->failed, last ? "\n" : "");
}

/* --dry-run: the first row's message and the count; nothing is sent. */
static int dry_run(const struct sender *s, struct csv_list *l)
{
	char err[200];
	struct row_result res = { 0 };
	if (l->count == 0 || csv_read(&l->reader, err, sizeof err) != CSV_ROW) {
		printf("%s: no rows\n", s->csv);
		return 0;
	}
	res.rcpt.address = trimmed(&l->reader, l->email);
	if (render_row(s, l, &res) < 0) {
		fprintf(stderr, PROG ": row 1: %s\n", res.rcpt.reply.text);
		return EX_DATAERR;
	}
	if (fseeko(l->msg, 0, SEEK_SET) < 0 || copy_stream(l->msg, stdout) < 0)
		return io_failure("writing the message");
	printf("\n--- dry run: this is row 1 of %lu rows; nothing was sent\n", l->count);
	return 0;
}

static int send_rows(struct sender *s, struct csv_list *l)
{
	int tty = isatty(STDERR_FILENO);
	struct tally t = { 0 };
	char err[200];
	for (unsigned long row = 1; row <= l->count; row++) {
		struct row_result res = { 0 };
		if (csv_read(&l->reader, err, sizeof err) != CSV_ROW)
			return list_error(s, "changed while it was read");
		send_row(s, l, &res);
		if (tty)
			fputs("\r\033[K", stderr);   /* the progress line makes room for the row's */
		report_row(row, &res);
		tally_reply(&t, &res.rcpt.reply);
		if (tty)
			progress(l, row, &t, row == l->count);
	}
	session_end(s, 1);
	/* DESIGN.md: 0 all 2xx, 75 some 4xx and no 5xx, 69 any 5xx */
	return t.failed ? EX_UNAVAILABLE : t.deferred ? EX_TEMPFAIL : 0;
}

static void close_list(struct csv_list *l)
{
	for (size_t i = 0; l->names && i < l->cols.n; i++)
		free(l->names[i]);
	free(l->names);
	csv_close(&l->reader);
	FILE *files[] = { l->tpl, l->rows, l->msg };
	for (size_t i = 0; i < 3; i++)
		if (files[i])
			fclose(files[i]);
}

static int send_list(struct sender *s)
{
	struct csv_list l = { 0 };
	int rc = open_list(s, &l);
	if (rc == 0)
		rc = s->dry_run ? dry_run(s, &l) : send_rows(s, &l);
	close_list(&l);
	return rc;
}

int main(int argc, char **argv)
{
	static struct sender s;
	signal(SIGPIPE, SIG_IGN);   /* a server gone is a reply, not a death */
	parse_args(&s, argc, argv);
	if (s.insecure)
		fprintf(stderr, PROG ": warning: --insecure: the server's certificate is not checked; "
			"whoever sits in between can read the mail%s\n", s.user ? " and the password" : "");
	int rc = s.user && !s.dry_run ? get_password(&s) : 0;
	if (rc == 0)
		rc = s.csv ? send_list(&s) : send_one(&s);
	explicit_bzero(s.password, sizeof s.password);
	SSL_CTX_free(s.tls_ctx);
	if (fflush(stdout) == EOF)
		rc = rc ? rc : EX_IOERR;
	return rc;
}
