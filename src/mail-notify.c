/* mail-notify - post a notice of each new local delivery to an NNTP server.
 *
 *   mail-notify [-v]
 *
 * With notify_nntp HOST:PORT in mailpipe.conf, every local recipient row
 * of mail.db that is not yet announced gets one short article in
 * notify_group (default local.mail): who the message is for, from whom,
 * its subject, size and id; never its text (the message file is not even
 * opened).  RFC 3977: the greeting, MODE READER, then for each notice STAT
 * of its Message-ID (a notice posted by a run killed before it could mark
 * it is not posted twice), POST, the article, and QUIT.  Claims in mail.db
 * keep concurrent runs apart.  See mail-notify(8).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "mime_word.h"
#include "nntp.h"
#include "notify_db.h"
#include "store_db.h"

#define RETRY_MAX 3600          /* seconds between tries of a notice, at most */
#define SHOWN_MAX 300           /* octets of a subject or sender in a notice */
#define ARTICLE_MAX 16384
#define MSGID_MAX 251            /* RFC 3977 3.6: at most 250 octets */

struct notify {
	struct conf conf;
	int verbose;
	char host[256];
	unsigned port;
	char domain[170];          /* hostname, fit for a Message-ID of MSGID_MAX */
	sqlite3 *db;
	char token[64];
	struct nntp nntp;
	int temp_failed;           /* something is left for a later run */
	int denied;                /* the server does not let us post */
};

/* What became of one notice. */
enum outcome {
	POSTED,     /* 240 */
	ALREADY,    /* the server has its Message-ID (an earlier run posted it) */
	REFUSED,    /* 441 and the like: this notice, later */
	DENIED,     /* 440, 480, 502: no posting at all for us */
	LOST,       /* the session is dead */
};

static const char usage_line[] = "usage: mail-notify [-h] [-v]";

static void usage(void)
{
	printf("%s\n  posts a notice of each new local delivery to the NNTP server of\n"
	       "  notify_nntp in mailpipe.conf (see mail-notify(8))\n"
	       "  -v  show the NNTP dialogue on stderr\n", usage_line);
}

static void parse_args(struct notify *n, int argc, char **argv)
{
	int opt;
	opterr = 0;
	while ((opt = getopt(argc, argv, "hv")) != -1) {
		switch (opt) {
		case 'h': usage(); exit(0);
		case 'v': n->verbose = 1; break;
		default:
			fprintf(stderr, "mail-notify: unknown option -%c (%s)\n", optopt, usage_line);
			exit(EX_USAGE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mail-notify: unexpected argument \"%s\" (%s)\n", argv[optind], usage_line);
		exit(EX_USAGE);
	}
}

/* ---- configuration ------------------------------------------------------ */

/* RFC 5536 3.1.4: components of letters, digits, '+', '-' and '_',
 * joined by dots. */
static int valid_group(const char *g)
{
	size_t len = strlen(g);
	if (len == 0 || len > 250 || g[0] == '.' || g[len - 1] == '.' || strstr(g, ".."))
		return 0;
	return strspn(g, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-_.") == len;
}

/* conf_load took notify_nntp and notify_group as plain strings; here they
 * are checked, naming the line as conf_load does. */
static int check_line(struct conf_line *where, char *line)
{
	char *value = line + strcspn(line, " \t=");
	if (*value) {
		*value++ = '\0';
		value += strspn(value, " \t=");
	}
	char host[256];
	unsigned port;
	if (strcmp(line, "notify_nntp") == 0 &&
	    nntp_parse_server(value, host, sizeof host, &port) < 0)
		return conf_line_error(where, "notify_nntp: expected HOST:PORT, not \"%s\"", value);
	if (strcmp(line, "notify_group") == 0 && !valid_group(value))
		return conf_line_error(where, "notify_group: not a newsgroup name: \"%s\"", value);
	return 0;
}

/* hostname as the right side of a Message-ID and of MAILER-DAEMON@. */
static void id_domain(const char *hostname, char *out, size_t size)
{
	size_t o = 0;
	for (const char *p = hostname; *p && o + 1 < size; p++)
		out[o++] = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", *p) ? *p : '-';
	out[o] = '\0';
	if (o == 0)
		snprintf(out, size, "localhost");
}

/* ---- the article -------------------------------------------------------- */

/* The length of the UTF-8 character at s (n octets left) and its code
 * point; 0 when s does not start a valid, shortest-form character. */
static size_t utf8_char(const unsigned char *s, size_t n, unsigned long *cp)
{
	unsigned char c = s[0];
	size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
		   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	*cp = len == 1 ? c : len == 2 ? c & 0x1fu : len == 3 ? c & 0x0fu : c & 0x07u;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3fu);
	}
	if ((len == 3 && (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff))) ||
	    (len == 4 && (*cp < 0x10000 || *cp > 0x10ffff)))
		return 0;
	return len;
}

/* in (anything: it came from a message) as one line of valid UTF-8 of at
 * most max octets: control characters (C0, DEL, C1) and line or paragraph
 * separators become spaces, runs of spaces one space, octets that are not
 * UTF-8 U+FFFD; trimmed, cut on a character boundary. */
static void clean_line(const char *in, char *out, size_t max)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t n = strlen(in), o = 0;
	int space = 1;   /* drops leading spaces */
	while (n > 0) {
		unsigned long cp = 0;
		size_t len = utf8_char(s, n, &cp);
		const char *put = (const char *)s;
		size_t put_len = len;
		if (len == 0) {
			put = "\xef\xbf\xbd";
			put_len = 3;
			len = 1;
		} else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 ||
			   cp == 0x2029) {
			put = " ";
			put_len = 1;
		}
		s += len;
		n -= len;
		if (put[0] == ' ' && put_len == 1) {
			if (space)
				continue;
			space = 1;
		} else {
			space = 0;
		}
		if (o + put_len + 1 > max)
			break;
		memcpy(out + o, put, put_len);
		o += put_len;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* A sender fit to stand as From: as it is: printable ASCII, local@domain,
 * none of the characters that would make it need quotes. */
static int plain_address(const char *a)
{
	const char *at = strrchr(a, '@');
	if (!at || at == a || !at[1])
		return 0;
	for (const unsigned char *p = (const unsigned char *)a; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("<>()[]\\,;:\"", *p))
			return 0;
	return 1;
}

struct buf {
	char text[ARTICLE_MAX];
	size_t len;
	int overflow;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(b->text + b->len, sizeof b->text - b->len, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof b->text - b->len)
		b->overflow = 1;
	else
		b->len += (size_t)k;
}

static void rfc5322_date(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* "New mail for USER: SUBJECT", RFC 2047 words for what is not ASCII:
 * the subject alone when the address is ASCII, else both. */
static int subject_field(const char *user, const char *subject, char *out, size_t size)
{
	char text[2 * SHOWN_MAX + 32], words[8 * SHOWN_MAX];
	snprintf(text, sizeof text, "%s: %s", user, subject[0] ? subject : "(no subject)");
	if (mime_is_ascii(text, strlen(text))) {
		snprintf(out, size, "New mail for %s", text);
		return 0;
	}
	int user_ascii = mime_is_ascii(user, strlen(user));
	const char *encode = user_ascii ? subject : text;
	if (mime_encode_words(encode, strlen(encode), words, sizeof words) < 0)
		return -1;
	if (user_ascii)
		snprintf(out, size, "New mail for %s: %s", user, words);
	else
		snprintf(out, size, "New mail for %s", words);
	return 0;
}

/* The notice for x, and its Message-ID: the same for every try of the
 * same notice, so the server can tell a repeat. */
static int build_article(const struct notify *n, const struct ndb_notice *x, struct buf *b,
			 char *msgid, size_t msgid_size)
{
	char user[SHOWN_MAX], sender[SHOWN_MAX], subject[SHOWN_MAX], orig_id[SHOWN_MAX];
	char field[16 * SHOWN_MAX], from[5 * SHOWN_MAX], now[64], arrived[64];
	clean_line(x->address, user, sizeof user);
	clean_line(x->sender, sender, sizeof sender);
	clean_line(x->subject, subject, sizeof subject);
	clean_line(x->message_id, orig_id, sizeof orig_id);
	snprintf(msgid, msgid_size, "<notify.%lld.%lld.%lld@%s>", (long long)x->rcpt,
		 (long long)x->message, (long long)x->time, n->domain);
	if (subject_field(user, subject, field, sizeof field) < 0)
		return -1;
	if (!sender[0])
		snprintf(from, sizeof from, "MAILER-DAEMON@%s", n->domain);
	else if (plain_address(sender))
		snprintf(from, sizeof from, "%s", sender);
	else {
		/* a sender that is no plain address is shown, not used */
		char phrase[4 * SHOWN_MAX - 64];
		if (mime_phrase(sender, strlen(sender), phrase, sizeof phrase) < 0)
			return -1;
		snprintf(from, sizeof from, "%s <MAILER-DAEMON@%s>", phrase, n->domain);
	}
	rfc5322_date((int64_t)time(NULL), now, sizeof now);
	rfc5322_date(x->time, arrived, sizeof arrived);
	b->len = 0;
	b->overflow = 0;
	put(b, "From: %s\nNewsgroups: %s\nSubject: %s\nMessage-ID: %s\nDate: %s\n", from,
	    n->conf.notify_group, field, msgid, now);
	put(b, "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	       "Content-Transfer-Encoding: 8bit\n\n");
	put(b, "New mail for %s.\n\n", user);
	put(b, "Recipient:  %s\nFrom:       %s\nSubject:    %s\nSize:       %llu octets\n"
	       "Arrived:    %s\nId:         %lld\n", user, sender[0] ? sender : "<> (a report)",
	    subject[0] ? subject : "(none)", (unsigned long long)x->size, arrived,
	    (long long)x->message);
	if (orig_id[0])
		put(b, "Message-ID: %s\n", orig_id);
	put(b, "\nThe message is in the mailbox; this notice never holds its text.\n");
	return b->overflow ? -1 : 0;
}

/* ---- the dialogue ------------------------------------------------------- */

/* A 441 that says the server has the article already: the transit
 * codes first ("441 435 Duplicate", "441 437 Duplicate article", as INN
 * answers), or the word. */
static int duplicate(const struct nntp_reply *r)
{
	const char *t = r->text + 3;
	t += strspn(t, " ");
	return ((strncmp(t, "435", 3) == 0 || strncmp(t, "437", 3) == 0) &&
		(t[3] == ' ' || t[3] == '\0')) || strcasestr(t, "duplicate");
}

static enum outcome post_notice(struct notify *n, const struct ndb_notice *x, char *msgid,
				size_t msgid_size, struct nntp_reply *reply)
{
	static struct buf article;
	char line[NNTP_LINE_MAX];
	if (build_article(n, x, &article, msgid, msgid_size) < 0) {
		snprintf(reply->text, sizeof reply->text, "the notice does not fit in %d octets",
			 ARTICLE_MAX);
		reply->code = 0;
		return REFUSED;
	}
	snprintf(line, sizeof line, "STAT %s", msgid);
	if (nntp_command(&n->nntp, line, reply) < 0 || reply->code == 400)
		return LOST;   /* 400: the server is going away */
	if (reply->code == 223)
		return ALREADY;
	if (nntp_command(&n->nntp, "POST", reply) < 0 || reply->code == 400)
		return LOST;
	if (reply->code == 440 || reply->code == 480 || reply->code == 502)
		return DENIED;
	if (reply->code != 340)
		return REFUSED;
	if (nntp_send_article(&n->nntp, article.text, article.len, reply) < 0)
		return LOST;
	if (reply->code == 240)
		return POSTED;
	if (reply->code == 400)
		return LOST;
	return reply->code == 441 && duplicate(reply) ? ALREADY : REFUSED;
}

/* Connects and learns whether we may post: the greeting, then MODE
 * READER for servers that switch modes (RFC 3977 5.3).  0, or the exit
 * code. */
static int greet(struct notify *n)
{
	struct nntp_reply reply = { 0, "" };
	n->nntp.verbose = n->verbose;
	int rc = nntp_connect(&n->nntp, n->host, n->port, n->conf.timeout, &reply);
	int code = reply.code;
	if (rc == 0 && (code == 200 || code == 201)) {
		struct nntp_reply mode = { 0, "" };
		rc = nntp_command(&n->nntp, "MODE READER", &mode);
		if (rc == 0 && (mode.code == 200 || mode.code == 201))
			reply = mode;
		else if (rc < 0)
			reply = mode;
	}
	if (rc == 0 && reply.code == 200)
		return 0;
	int status = rc == 0 && (reply.code == 201 || reply.code == 502) ? EX_UNAVAILABLE : EX_TEMPFAIL;
	char why[sizeof reply.text + 32];
	snprintf(why, sizeof why, "%s%s", status == EX_UNAVAILABLE ? "posting not allowed: " : "",
		 reply.text);
	log_event("failed", "server", n->nntp.peer[0] ? n->nntp.peer : n->conf.notify_nntp, "reason",
		  why, LOG_END);
	nntp_quit(&n->nntp);
	return status;
}

/* 1, 2, 4 ... minutes after this failure, at most an hour. */
static int64_t next_try(int64_t now, int tries)
{
	int64_t wait = 60;
	for (int i = 1; i < tries && wait < RETRY_MAX; i++)
		wait *= 2;
	return now + (wait < RETRY_MAX ? wait : RETRY_MAX);
}

/* Posts one claimed notice and records what became of it.  0 to go on
 * with the next, -1 when the session or mail.db failed. */
static int handle(struct notify *n, const struct ndb_notice *x)
{
	char msgid[MSGID_MAX], id[32], tries[16];
	struct nntp_reply reply = { 0, "" };
	enum outcome o = post_notice(n, x, msgid, sizeof msgid, &reply);
	snprintf(id, sizeof id, "%lld", (long long)x->message);
	if (o == POSTED || o == ALREADY) {
		log_event("posted", "id", id, "rcpt", x->address, "article", msgid, "group",
			  n->conf.notify_group, "already", o == ALREADY ? "yes" : NULL, LOG_END);
		if (ndb_posted(n->db, x->rcpt) < 0) {
			log_event("failed", "reason", sqlite3_errmsg(n->db), LOG_END);
			n->temp_failed = 1;
			return -1;
		}
		return 0;
	}
	int64_t now = (int64_t)time(NULL);
	char why[sizeof reply.text + 32];
	snprintf(tries, sizeof tries, "%d", x->tries + 1);
	snprintf(why, sizeof why, "%s%s", o == DENIED ? "posting not allowed: " : "", reply.text);
	log_event("failed", "id", id, "rcpt", x->address, "article", msgid, "tries", tries, "reason",
		  why, LOG_END);
	if (o == DENIED)
		n->denied = 1;
	else
		n->temp_failed = 1;
	if (ndb_failed(n->db, x->rcpt, x->tries + 1, next_try(now, x->tries + 1), reply.text) < 0) {
		log_event("failed", "reason", sqlite3_errmsg(n->db), LOG_END);
		n->temp_failed = 1;
		return -1;
	}
	return o == REFUSED ? 0 : -1;
}

static void log_expired(int64_t message, const char *address, void *arg)
{
	(void)arg;
	char id[32];
	snprintf(id, sizeof id, "%lld", (long long)message);
	log_event("expired", "id", id, "rcpt", address, LOG_END);
}

/* Claims and posts notices until none is due or the session fails. */
static void post_all(struct notify *n)
{
	static struct ndb_notice claimed[NDB_CLAIM_MAX];
	int count;
	while ((count = ndb_claim(n->db, n->token, (int64_t)time(NULL), claimed, NDB_CLAIM_MAX)) > 0)
		for (int i = 0; i < count; i++)
			if (handle(n, &claimed[i]) < 0)
				return;
	if (count < 0) {
		log_event("failed", "reason", sqlite3_errmsg(n->db), LOG_END);
		n->temp_failed = 1;
	}
}

/* One run: nothing at all unless a notice is due; then the server first
 * (while it is down, mail.db is not written), then the notices. */
static int run(struct notify *n)
{
	char err[512];
	int64_t now = (int64_t)time(NULL);
	int due = ndb_anything_due(n->conf.state, now, err, sizeof err);
	if (due <= 0) {
		if (due < 0)
			log_event("failed", "reason", err, LOG_END);
		return due < 0 ? EX_TEMPFAIL : 0;
	}
	int rc = greet(n);
	if (rc != 0)
		return rc;
	n->db = db_open(n->conf.state, err, sizeof err);
	if (!n->db || ndb_prepare(n->db, n->token, sizeof n->token) < 0) {
		log_event("failed", "reason", n->db ? "cannot prepare mail.db" : err, LOG_END);
		sqlite3_close(n->db);
		nntp_quit(&n->nntp);
		return EX_TEMPFAIL;
	}
	if (ndb_expire(n->db, now - (int64_t)n->conf.queue_lifetime, log_expired, NULL) < 0) {
		log_event("failed", "reason", sqlite3_errmsg(n->db), LOG_END);
		n->temp_failed = 1;
	} else {
		post_all(n);
	}
	if (ndb_release(n->db, n->token) < 0) {
		log_event("failed", "reason", sqlite3_errmsg(n->db), LOG_END);
		n->temp_failed = 1;
	}
	nntp_quit(&n->nntp);
	sqlite3_close(n->db);
	n->db = NULL;
	return n->denied ? EX_UNAVAILABLE : n->temp_failed ? EX_TEMPFAIL : 0;
}

int main(int argc, char **argv)
{
	static struct notify n;
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	log_open("mail-notify");
	parse_args(&n, argc, argv);
	if (conf_load(&n.conf, conf_dir()) < 0 ||
	    conf_read_file(&n.conf, "mailpipe.conf", check_line, NULL, NULL) < 0) {
		fprintf(stderr, "mail-notify: %s\n", n.conf.error);
		return EX_CONFIG;
	}
	if (!n.conf.notify_nntp[0])
		return 0;   /* not configured: nothing to announce, nowhere */
	if (nntp_parse_server(n.conf.notify_nntp, n.host, sizeof n.host, &n.port) < 0) {
		fprintf(stderr, "mail-notify: notify_nntp: expected HOST:PORT\n");
		return EX_CONFIG;
	}
	id_domain(n.conf.hostname, n.domain, sizeof n.domain);
	return run(&n);
}
