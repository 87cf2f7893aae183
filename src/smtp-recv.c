/* smtp-recv - the SMTP server for one connection, on stdin/stdout.
 *
 * systemd (Accept=yes) or xinetd starts one per connection.  Each command
 * is looked up in a table; a message is streamed to an unnamed spool file
 * and handed to mail-store, and 250 is answered only when mail-store says
 * the message is durable.  See smtp-recv(8) and DESIGN.md.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "fsutil.h"
#include "auth.h"
#include "log.h"
#include "mail_auth.h"
#include "peer.h"
#include "resolve.h"
#include "smtp_addr.h"
#include "smtp_data.h"
#include "smtp_io.h"
#include "spool.h"
#include "store_run.h"
#include "tls.h"

#define CMD_LINE_MAX 512      /* RFC 5321 4.5.3.1.4, CRLF included */
#define ERRORS_MAX 10         /* then 421 and close */
#define AUTH_FAILURES_MAX 3   /* then 421 and close */
#define OVERSHOOT_FREE 1000   /* RCPTs past max_rcpt before each counts as an error */
#define BDAT_SIZE_MAX (1ULL << 62)

struct transaction {
	int active;               /* MAIL accepted */
	struct smtp_path sender;
	int smtputf8;
	char **rcpts;             /* accepted recipients, max_rcpt at most */
	unsigned nrcpts;
	int bdat_active;          /* a BDAT chunk has started the message */
	int spooling;             /* the session's spool holds this message */
	size_t received_len;      /* our Received: field, first in the spool */
	struct bdat_reader bdat;
};

struct session {
	struct conf conf;
	struct smtp_io io;
	char client[INET6_ADDRSTRLEN + 8];
	char helo[256];
	int greeted;              /* HELO or EHLO seen */
	int esmtp;                /* EHLO, not HELO */
	unsigned errors;
	unsigned overshoot;       /* RCPTs refused for max_rcpt */
	int closing;              /* QUIT, too many errors, or a fatal problem */
	char sid[20];
	unsigned ntransactions;
	char store_program[PATH_MAX];
	struct transaction txn;
	struct spool spool;       /* kept out of txn: resetting it is cheap */
	int submission;           /* -s: AUTH before MAIL, own addresses only */
	SSL_CTX *tls_ctx;         /* NULL when no certificate is configured */
	int tls;                  /* TLS is running */
	char auth_user[CONF_ADDR_MAX]; /* "" until AUTH succeeded */
	unsigned auth_failures;
};

static const char *hostname(const struct session *s)
{
	return s->conf.hostname;
}

/* ---- replies ----------------------------------------------------------- */

/* One more error; the tenth ends the session with 421. */
static void count_error(struct session *s)
{
	if (++s->errors < ERRORS_MAX || s->closing)
		return;
	char line[320];
	int n = snprintf(line, sizeof line, "421 4.7.0 %s Error: too many errors\r\n", hostname(s));
	io_write(&s->io, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	log_event("disconnect", "reason", "too-many-errors", LOG_END);
	s->closing = 1;
}

/* Sends "code text"; text starts with the enhanced status code.  Every 5xx
 * counts as an error; the tenth ends the session with 421. */
static void reply(struct session *s, int code, const char *fmt, ...)
{
	char text[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	char line[640];
	int n = snprintf(line, sizeof line, "%d %s\r\n", code, text);
	io_write(&s->io, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
	if (code >= 500)
		count_error(s);
}

static void reply_timeout(struct session *s)
{
	reply(s, 421, "4.4.2 %s Error: timeout exceeded", hostname(s));
	log_event("disconnect", "reason", "timeout", LOG_END);
	s->closing = 1;
}

/* The "with" protocol of RFC 3848 / RFC 6531 for Received: and the log. */
static const char *protocol(const struct session *s)
{
	static char buf[16];
	snprintf(buf, sizeof buf, "%s%s%s%s", s->txn.smtputf8 ? "UTF8" : "",
		 s->esmtp ? (s->txn.smtputf8 ? "SMTP" : "ESMTP") : "SMTP",
		 s->tls ? "S" : "", s->auth_user[0] ? "A" : "");
	return buf;
}

/* ---- the transaction --------------------------------------------------- */

static void txn_reset(struct session *s)
{
	struct transaction *t = &s->txn;
	for (unsigned i = 0; i < t->nrcpts; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	if (t->spooling)
		spool_close(&s->spool);
	memset(t, 0, sizeof *t);
}

/* Opens the spool and writes the Received: header (RFC 5321 4.4). */
static int txn_open_spool(struct session *s)
{
	char dir[PATH_MAX];
	if (path_join(dir, sizeof dir, s->conf.state, "tmp") < 0 || make_dirs(dir, 0700) < 0 ||
	    spool_open(&s->spool, dir) < 0) {
		log_event("error", "error", "cannot create spool file", "dir", dir,
			  "errno", strerror(errno), LOG_END);
		return -1;
	}
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S %z", localtime_r(&now, &tm));
	const char *proto = protocol(s);
	char tls_note[160] = "";
	if (s->tls) {
		const char *version, *cipher;
		io_tls_info(&s->io, &version, &cipher);
		snprintf(tls_note, sizeof tls_note, "\n\t(using %s with cipher %s)", version, cipher);
	}
	char for_clause[SMTP_PATH_MAX + 16] = "";
	if (s->txn.nrcpts == 1)
		snprintf(for_clause, sizeof for_clause, "\n\tfor <%s>", s->txn.rcpts[0]);
	char client[sizeof s->client + 2];
	snprintf(client, sizeof client, strcmp(s->client, "unknown") ? "[%s]" : "%s", s->client);
	char header[1024];
	int n = snprintf(header, sizeof header,
			 "Received: from %s (%s)%s\n\tby %s (mailpipe) with %s id %s.%u%s;\n\t%s\n",
			 s->helo, client, tls_note, hostname(s), proto, s->sid, s->ntransactions,
			 for_clause, date);
	s->txn.received_len = (size_t)n < sizeof header ? (size_t)n : sizeof header - 1;
	spool_put(&s->spool, header, s->txn.received_len);
	s->txn.spooling = 1;
	return 0;
}

/* Mail from the Internet, which is checked and never signed: not a
 * submission, not signed in, from a known peer that is not a relay client
 * (those are our own users and machines: their mail is signed instead). */
static int from_internet(const struct session *s)
{
	return !s->submission && !s->auth_user[0] && strcmp(s->client, "unknown") != 0 &&
	       !conf_is_relay_client(&s->conf, s->client);
}

/* The time all the DNS of the checks may take: a third of the command
 * timeout, 1 to 30 seconds, so the reply always comes within it. */
static unsigned check_budget(const struct session *s)
{
	unsigned budget = s->conf.timeout / 3;
	return budget < 1 ? 1 : budget > 30 ? 30 : budget;
}

/* A domain from the message, for a reply line: only when it looks like one. */
static const char *reply_domain(const char *domain)
{
	size_t n = strspn(domain, "abcdefghijklmnopqrstuvwxyz0123456789.-");
	return n > 0 && n < 128 && domain[n] == '\0' ? domain : "the From: domain";
}

/* The spool could not be written or rewritten (err): 452 when the disk is
 * full, else 451; either way the client tries again. */
static void refuse_spool_error(struct session *s, int err)
{
	int full = err == ENOSPC || err == EFBIG || err == EDQUOT;
	if (full)
		reply(s, 452, "4.3.1 Insufficient system storage");
	else
		reply(s, 451, "4.3.0 Local error in processing, try again later");
	log_event("rejected", "reason", "spool", "errno", strerror(err), "reply", full ? "452" : "451",
		  LOG_END);
}

/* Removes the Authentication-Results fields that claim our name: 0, -1 on
 * an error, -2 when there are more than we remove (such a message is made
 * to deceive; it is refused rather than passed on with some left). */
static int drop_forged(struct session *s, off_t msg_off)
{
	struct spool_range cut[AUTH_FORGED_MAX];
	int n = mail_auth_forged(s->spool.fd, msg_off, hostname(s), cut, AUTH_FORGED_MAX);
	if (n <= 0)
		return n;
	if (n > AUTH_FORGED_MAX)
		return -2;
	log_event("removed", "field", "Authentication-Results", "count", n == 1 ? "1" : "several",
		  LOG_END);
	return spool_cut(&s->spool, cut, (size_t)n);
}

/* Authentication-Results fields with our name are removed from every
 * message, checked or not: no client, our own users' included, may speak
 * for this server (RFC 8601 section 5).  0, or -1 when refused (replied). */
static int txn_drop_forged(struct session *s)
{
	char from[SMTP_PATH_MAX + 3];
	snprintf(from, sizeof from, "<%s>", s->txn.sender.address);
	int dropped = drop_forged(s, s->spool.start + (off_t)s->txn.received_len);
	if (dropped == -2) {
		reply(s, 550, "5.7.1 Too many Authentication-Results fields with our name");
		log_event("rejected", "reason", "forged-authentication-results", "from", from,
			  "reply", "550", LOG_END);
		return -1;
	}
	if (dropped < 0) {
		refuse_spool_error(s, errno);
		return -1;
	}
	return 0;
}

/* SPF, DKIM and DMARC of a message from the Internet: our
 * Authentication-Results above it, theirs with our name gone.  0 to store
 * it, -1 when it was refused (the reply is sent). */
static int txn_authenticate(struct session *s, struct auth_outcome *out)
{
	struct transaction *t = &s->txn;
	off_t msg_off = s->spool.start + (off_t)t->received_len;
	struct auth_request rq = { hostname(s), s->client, s->helo, t->sender.address,
				   s->spool.fd, msg_off, check_budget(s) };
	mail_auth_check(&rq, out);
	char from[SMTP_PATH_MAX + 3];
	snprintf(from, sizeof from, "<%s>", t->sender.address);
	if (out->dmarc_reject && s->conf.dmarc_reject) {
		reply(s, 550, "5.7.1 Message refused by the DMARC policy of %s",
		      reply_domain(out->from_domain));
		log_event("rejected", "reason", "dmarc", "from", from, "spf", out->spf, "dkim",
			  out->dkim, "dmarc", out->dmarc, "reply", "550", LOG_END);
		return -1;
	}
	if (txn_drop_forged(s) < 0)
		return -1;
	if (spool_prepend(&s->spool, out->header, strlen(out->header)) < 0) {
		refuse_spool_error(s, errno);
		return -1;
	}
	return 0;
}

/* Hands a complete message to mail-store and answers the client. */
static void txn_store(struct session *s)
{
	struct transaction *t = &s->txn;
	struct store_result result;
	struct auth_outcome auth;
	int inbound = from_internet(s);
	char size[32];
	snprintf(size, sizeof size, "%llu", (unsigned long long)s->spool.bytes);
	if (spool_rewind(&s->spool) < 0) {
		refuse_spool_error(s, s->spool.error);
		return;
	}
	if (inbound ? txn_authenticate(s, &auth) < 0 : txn_drop_forged(s) < 0)
		return;
	if (store_run(s->store_program, s->spool.fd, t->sender.address, s->client, s->helo,
		      inbound, t->rcpts, t->nrcpts, &result) < 0)
		result.status = -1;
	const struct store_reply *r = store_reply_for(&result);
	char code[8], rcpts[16], status[16], from[SMTP_PATH_MAX + 3];
	snprintf(from, sizeof from, "<%s>", t->sender.address);
	snprintf(code, sizeof code, "%d", r->code);
	snprintf(rcpts, sizeof rcpts, "%u", t->nrcpts);
	snprintf(status, sizeof status, "%d", result.status);
	const char *version, *cipher;
	io_tls_info(&s->io, &version, &cipher);
	if (r->code == 250) {
		reply(s, 250, "%s %s id=%s", r->enhanced, r->text, result.id);
		log_event("accepted", "id", result.id, "from", from, "rcpts", rcpts,
			  "size", size, "reply", code, "proto", protocol(s),
			  "tls", s->tls ? version : NULL, "cipher", s->tls ? cipher : NULL,
			  "user", s->auth_user[0] ? s->auth_user : NULL,
			  "spf", inbound ? auth.spf : NULL, "dkim", inbound ? auth.dkim : NULL,
			  "dmarc", inbound ? auth.dmarc : NULL, LOG_END);
	} else {
		reply(s, r->code, "%s %s", r->enhanced, r->text);
		log_event("rejected", "reason", "mail-store", "status", status, "from", from,
			  "rcpts", rcpts, "size", size, "reply", code, LOG_END);
	}
}

/* The end of a message (DATA's dot or BDAT LAST): check, store, reset. */
static void txn_finish(struct session *s, int too_big, int bare_eol, int has_nul)
{
	const char *reason = NULL;
	if (too_big) {
		reply(s, 552, "5.3.4 Message size exceeds fixed limit");
		reason = "size";
	} else if (bare_eol) {
		reply(s, 554, "5.6.0 Message contains bare CR or LF; lines must end with CRLF");
		reason = "bare-line-end";
	} else if (has_nul) {
		reply(s, 554, "5.6.0 Message contains NUL octets");
		reason = "nul";
	} else {
		txn_store(s);
	}
	if (reason) {
		char from[SMTP_PATH_MAX + 3];
		snprintf(from, sizeof from, "<%s>", s->txn.sender.address);
		log_event("rejected", "reason", reason, "from", from, LOG_END);
	}
	s->ntransactions++;
	txn_reset(s);
}

/* ---- recipients -------------------------------------------------------- */

static int may_relay(const struct session *s)
{
	return s->auth_user[0] || conf_is_relay_client(&s->conf, s->client);
}

/* ---- commands ---------------------------------------------------------- */

/* The HELO/EHLO argument: one word of printable characters. */
static int valid_helo(const char *arg)
{
	size_t n = strlen(arg);
	if (n == 0 || n >= 256)
		return 0;
	for (const unsigned char *p = (const unsigned char *)arg; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return 0;
	return 1;
}

static void greet_client(struct session *s, const char *arg, int esmtp)
{
	txn_reset(s);
	snprintf(s->helo, sizeof s->helo, "%s", arg);
	s->greeted = 1;
	s->esmtp = esmtp;
	log_event(esmtp ? "ehlo" : "helo", "helo", s->helo, LOG_END);
}

static void cmd_ehlo(struct session *s, char *arg)
{
	if (!valid_helo(arg)) {
		reply(s, 501, "5.5.4 Syntax: EHLO hostname");
		return;
	}
	greet_client(s, arg, 1);
	/* STARTTLS before TLS, AUTH only under TLS (never a password in clear) */
	const char *tls = s->tls_ctx && !s->tls ? "250-STARTTLS\r\n" : "";
	const char *auth = s->tls && !s->auth_user[0] ? "250-AUTH PLAIN LOGIN\r\n" : "";
	char buf[1024];
	int n = snprintf(buf, sizeof buf,
			 "250-%s\r\n250-PIPELINING\r\n250-SIZE %llu\r\n250-8BITMIME\r\n"
			 "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n%s%s250 CHUNKING\r\n",
			 hostname(s), (unsigned long long)s->conf.max_size, tls, auth);
	io_write(&s->io, buf, (size_t)n);
}

static void cmd_helo(struct session *s, char *arg)
{
	if (!valid_helo(arg)) {
		reply(s, 501, "5.5.4 Syntax: HELO hostname");
		return;
	}
	greet_client(s, arg, 0);
	char buf[320];
	int n = snprintf(buf, sizeof buf, "250 %s\r\n", hostname(s));
	io_write(&s->io, buf, (size_t)n);
}

/* Skips "FROM:" or "TO:" (any case); NULL if absent. */
static char *after_keyword(char *arg, const char *keyword)
{
	size_t n = strlen(keyword);
	if (strncasecmp(arg, keyword, n) != 0)
		return NULL;
	return arg + n;
}

/* Checks the MAIL parameters; 0 when all are acceptable (else replied). */
static int mail_params(struct session *s, const char *params)
{
	char key[32], value[128];
	int rc;
	while ((rc = smtp_next_param(&params, key, sizeof key, value, sizeof value)) > 0) {
		if (strcasecmp(key, "SIZE") == 0) {
			char *end;
			errno = 0;
			unsigned long long size = strtoull(value, &end, 10);
			if (!isdigit((unsigned char)value[0]) || *end || errno) {
				reply(s, 501, "5.5.4 Bad SIZE parameter");
				return -1;
			}
			if (size > s->conf.max_size) {
				reply(s, 552, "5.3.4 Message size exceeds fixed limit");
				return -1;
			}
		} else if (strcasecmp(key, "BODY") == 0) {
			if (strcasecmp(value, "7BIT") != 0 && strcasecmp(value, "8BITMIME") != 0) {
				reply(s, 555, "5.5.4 Unsupported BODY parameter");
				return -1;
			}
		} else if (strcasecmp(key, "SMTPUTF8") == 0 && !value[0]) {
			s->txn.smtputf8 = 1;
		} else if (strcasecmp(key, "AUTH") == 0 && value[0]) {
			/* RFC 4954 5: the original submitter, noted by relays; unused */
		} else {
			reply(s, 555, "5.5.4 Unsupported option: %s", key);
			return -1;
		}
	}
	if (rc < 0) {
		reply(s, 501, "5.5.4 Syntax error in parameters");
		return -1;
	}
	return 0;
}

static void reply_path_error(struct session *s, enum path_error e, int sender)
{
	if (e == PATH_SYNTAX)
		reply(s, 501, "5.5.4 Syntax: %s", sender ? "MAIL FROM:<address>" : "RCPT TO:<address>");
	else if (e == PATH_TOO_LONG)
		reply(s, 501, "5.5.4 Address too long");
	else
		reply(s, 501, "%s Bad %s address syntax", sender ? "5.1.7" : "5.1.3",
		      sender ? "sender" : "recipient");
}

/* Submission: the sender is the user's own address, or an alias that
 * delivers to the user. */
static int sender_owned(const struct session *s, const struct smtp_path *sender)
{
	if (sender->is_null)
		return 0;
	if (strcasecmp(sender->address, s->auth_user) == 0)
		return 1;
	const struct conf_alias *alias = conf_find_alias(&s->conf, sender->address);
	for (size_t i = 0; alias && i < alias->ntargets; i++)
		if (strcasecmp(alias->targets[i], s->auth_user) == 0)
			return 1;
	return 0;
}

static void cmd_mail(struct session *s, char *arg)
{
	if (!s->greeted) {
		reply(s, 503, "5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->txn.active) {
		reply(s, 503, "5.5.1 Error: nested MAIL command");
		return;
	}
	if (s->submission && !s->auth_user[0]) {
		reply(s, 530, "5.7.0 Authentication required");
		return;
	}
	char *path_arg = after_keyword(arg, "FROM:");
	if (!path_arg) {
		reply(s, 501, "5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	const char *params;
	enum path_error e = smtp_parse_path(path_arg, 1, &s->txn.sender, &params);
	if (e != PATH_OK) {
		reply_path_error(s, e, 1);
		txn_reset(s);
		return;
	}
	if (mail_params(s, params) < 0) {
		txn_reset(s);
		return;
	}
	if (s->txn.sender.has_utf8 && !s->txn.smtputf8) {
		reply(s, 553, "5.6.7 Use MAIL FROM:<...> SMTPUTF8 for a UTF-8 address");
		txn_reset(s);
		return;
	}
	if (s->submission && !sender_owned(s, &s->txn.sender)) {
		reply(s, 553, "5.7.1 <%s>: Sender address rejected: not owned by %s",
		      s->txn.sender.address, s->auth_user);
		char from[SMTP_PATH_MAX + 3];
		snprintf(from, sizeof from, "<%s>", s->txn.sender.address);
		log_event("sender-rejected", "from", from, "user", s->auth_user, LOG_END);
		txn_reset(s);
		return;
	}
	s->txn.active = 1;
	reply(s, 250, "2.1.0 Ok");
}

/* "<postmaster>" without a domain must be accepted (RFC 5321 4.5.1). */
static int is_bare_postmaster(const char *arg)
{
	while (*arg == ' ')
		arg++;
	return strncasecmp(arg, "<postmaster>", 12) == 0 && (arg[12] == '\0' || arg[12] == ' ');
}

/* Decides whether the recipient may be accepted; 0 if so (else replied). */
static int check_recipient(struct session *s, const struct smtp_path *rcpt)
{
	const char *domain = rcpt->address + rcpt->at + 1;
	if (conf_is_local_domain(&s->conf, domain)) {
		if (resolve_local_exists(&s->conf, rcpt->address))
			return 0;
		reply(s, 550, "5.1.1 <%s>: Recipient address rejected: User unknown", rcpt->address);
		log_event("rcpt-rejected", "rcpt", rcpt->address, "reason", "unknown-user", LOG_END);
		return -1;
	}
	if (may_relay(s))
		return 0;
	reply(s, 554, "5.7.1 <%s>: Relay access denied", rcpt->address);
	log_event("rcpt-rejected", "rcpt", rcpt->address, "reason", "relay-denied", LOG_END);
	return -1;
}

static int parse_recipient(struct session *s, char *arg, struct smtp_path *rcpt)
{
	const char *params = "";
	if (is_bare_postmaster(arg)) {
		const char *domain = s->conf.ndomains ? s->conf.domains[0] : hostname(s);
		memset(rcpt, 0, sizeof *rcpt);
		snprintf(rcpt->address, sizeof rcpt->address, "postmaster@%.240s", domain);
		rcpt->at = strlen("postmaster");
		params = strchr(arg, '>') + 1;
	} else {
		enum path_error e = smtp_parse_path(arg, 0, rcpt, &params);
		if (e != PATH_OK) {
			reply_path_error(s, e, 0);
			return -1;
		}
	}
	char key[32], value[128];
	if (smtp_next_param(&params, key, sizeof key, value, sizeof value) != 0) {
		reply(s, 555, "5.5.4 Unsupported RCPT parameter");
		return -1;
	}
	if (rcpt->has_utf8 && !s->txn.smtputf8) {
		reply(s, 553, "5.6.7 Use MAIL FROM:<...> SMTPUTF8 for a UTF-8 address");
		return -1;
	}
	return 0;
}

static void cmd_rcpt(struct session *s, char *arg)
{
	if (!s->txn.active) {
		reply(s, 503, "5.5.1 Error: need MAIL command");
		return;
	}
	/* The message has begun, its Received: naming the recipients so far;
	 * one added now would get that copy (RFC 3030 leaves no room for it). */
	if (s->txn.bdat_active) {
		reply(s, 503, "5.5.1 Error: RCPT after BDAT");
		return;
	}
	char *path_arg = after_keyword(arg, "TO:");
	if (!path_arg) {
		reply(s, 501, "5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	struct smtp_path rcpt;
	if (parse_recipient(s, path_arg, &rcpt) < 0)
		return;
	if (s->txn.nrcpts >= s->conf.max_rcpt) {
		reply(s, 452, "4.5.3 Error: too many recipients");
		/* like Postfix's overshoot limit: endless RCPTs end as errors */
		if (++s->overshoot > OVERSHOOT_FREE)
			count_error(s);
		return;
	}
	if (check_recipient(s, &rcpt) < 0)
		return;
	char **grown = realloc(s->txn.rcpts, (s->txn.nrcpts + 1) * sizeof *grown);
	char *copy = strdup(rcpt.address);
	if (grown)
		s->txn.rcpts = grown;
	if (!grown || !copy) {
		free(copy);
		reply(s, 452, "4.3.1 Insufficient system resources");
		return;
	}
	s->txn.rcpts[s->txn.nrcpts++] = copy;
	reply(s, 250, "2.1.5 Ok");
}

/* Is the transaction ready for message data?  0 if so (else replied). */
static int ready_for_data(struct session *s)
{
	if (!s->txn.active) {
		reply(s, 503, "5.5.1 Error: need MAIL command");
		return -1;
	}
	if (s->txn.nrcpts == 0) {
		reply(s, 503, "5.5.1 Error: need RCPT command");
		return -1;
	}
	return 0;
}

static void cmd_data(struct session *s, char *arg)
{
	if (*arg) {
		reply(s, 501, "5.5.4 Syntax: DATA");
		return;
	}
	if (ready_for_data(s) < 0)
		return;
	if (s->txn.bdat_active) {
		reply(s, 503, "5.5.1 Error: DATA after BDAT");
		return;
	}
	if (txn_open_spool(s) < 0) {
		reply(s, 451, "4.3.0 Local error in processing, try again later");
		return;
	}
	reply(s, 354, "End data with <CR><LF>.<CR><LF>");
	struct data_reader reader;
	data_reader_init(&reader, s->conf.max_size);
	while (!reader.done) {
		int rc = io_fill(&s->io);
		if (rc == IO_TIMEOUT) {
			reply_timeout(s);
		} else if (rc != IO_OK) {
			log_event("disconnect", "reason", "eof-in-data", LOG_END);
			s->closing = 1;
		}
		if (rc != IO_OK)
			return;   /* the session ends; txn_reset drops the spool */
		size_t used = data_reader_feed(&reader, s->io.in + s->io.in_pos, io_buffered(&s->io),
					       &s->spool);
		s->io.in_pos += used;
	}
	txn_finish(s, reader.too_big, reader.bare_eol, reader.has_nul);
}

/* Parses "SIZE [LAST]"; 0 or -1. */
static int parse_bdat(const char *arg, unsigned long long *size, int *last)
{
	if (!isdigit((unsigned char)*arg))
		return -1;
	char *end;
	errno = 0;
	*size = strtoull(arg, &end, 10);
	if (errno || *size > BDAT_SIZE_MAX)
		return -1;
	*last = 0;
	if (*end == '\0')
		return 0;
	if (*end != ' ')
		return -1;
	while (*end == ' ')
		end++;
	if (strcasecmp(end, "LAST") != 0)
		return -1;
	*last = 1;
	return 0;
}

/* Reads a chunk of size octets into the BDAT reader (or discards it when
 * reader is NULL).  0, or -1 when the session ended. */
static int read_chunk(struct session *s, unsigned long long size, struct bdat_reader *reader)
{
	while (size > 0) {
		int rc = io_fill(&s->io);
		if (rc == IO_TIMEOUT) {
			reply_timeout(s);
		} else if (rc != IO_OK) {
			log_event("disconnect", "reason", "eof-in-data", LOG_END);
			s->closing = 1;
		}
		if (rc != IO_OK)
			return -1;
		size_t take = io_buffered(&s->io);
		if (take > size)
			take = (size_t)size;
		if (reader)
			bdat_reader_feed(reader, s->io.in + s->io.in_pos, take, &s->spool);
		s->io.in_pos += take;
		size -= take;
	}
	return 0;
}

/* A BDAT that cannot be taken: its octets are still read (RFC 3030 2). */
static int bdat_refusable(struct session *s)
{
	if (!s->greeted) {
		reply(s, 503, "5.5.1 Error: send HELO/EHLO first");
		return -1;
	}
	return ready_for_data(s);
}

static void cmd_bdat(struct session *s, char *arg)
{
	unsigned long long size;
	int last;
	if (parse_bdat(arg, &size, &last) < 0) {
		reply(s, 501, "5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	int ok = s->greeted && s->txn.active && s->txn.nrcpts > 0;
	if (ok && !s->txn.bdat_active) {
		if (txn_open_spool(s) < 0) {
			if (read_chunk(s, size, NULL) == 0)
				reply(s, 451, "4.3.0 Local error in processing, try again later");
			txn_reset(s);
			return;
		}
		s->txn.bdat_active = 1;
		bdat_reader_init(&s->txn.bdat, s->conf.max_size);
	}
	if (read_chunk(s, size, ok ? &s->txn.bdat : NULL) < 0)
		return;
	if (!ok) {
		bdat_refusable(s);
		return;
	}
	if (last) {
		bdat_reader_end(&s->txn.bdat, &s->spool);
		txn_finish(s, s->txn.bdat.too_big, s->txn.bdat.bare_eol, s->txn.bdat.has_nul);
	} else if (s->txn.bdat.too_big) {
		txn_finish(s, 1, 0, 0);
	} else {
		reply(s, 250, "2.0.0 %llu octets received", size);
	}
}

static void cmd_rset(struct session *s, char *arg)
{
	if (*arg) {
		reply(s, 501, "5.5.4 Syntax: RSET");
		return;
	}
	txn_reset(s);
	reply(s, 250, "2.0.0 Ok");
}

static void cmd_noop(struct session *s, char *arg)
{
	(void)arg;
	reply(s, 250, "2.0.0 Ok");
}

static void cmd_quit(struct session *s, char *arg)
{
	(void)arg;
	reply(s, 221, "2.0.0 Bye");
	log_event("disconnect", "reason", "quit", LOG_END);
	s->closing = 1;
}

static void cmd_help(struct session *s, char *arg)
{
	(void)arg;
	reply(s, 214, "2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT HELP VRFY");
}

static void cmd_vrfy(struct session *s, char *arg)
{
	if (!*arg) {
		reply(s, 501, "5.5.4 Syntax: VRFY address");
		return;
	}
	/* 252 discloses nothing about which mailboxes exist */
	reply(s, 252, "2.5.0 Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_expn(struct session *s, char *arg)
{
	(void)arg;
	reply(s, 502, "5.5.1 Error: EXPN not available");
}

static void cmd_obsolete(struct session *s, char *arg)
{
	(void)arg;
	reply(s, 502, "5.5.1 Error: command not supported");
}

/* The TLS handshake; a failure ends the session, as nothing sane can
 * follow it on this connection.  0 or -1. */
static int start_tls(struct session *s)
{
	char err[256];
	if (io_start_tls(&s->io, s->tls_ctx, err, sizeof err) < 0) {
		log_event("tls-failed", "error", err, LOG_END);
		s->closing = 1;
		return -1;
	}
	s->tls = 1;
	const char *version, *cipher;
	io_tls_info(&s->io, &version, &cipher);
	log_event("tls", "version", version, "cipher", cipher, LOG_END);
	return 0;
}

/* After STARTTLS the session starts over (RFC 3207 4.2): nothing the
 * client said before counts. */
static void forget_session(struct session *s)
{
	txn_reset(s);
	s->greeted = 0;
	s->esmtp = 0;
	s->helo[0] = '\0';
}

static void cmd_starttls(struct session *s, char *arg)
{
	if (!s->tls_ctx) {
		reply(s, 502, "5.5.1 Error: STARTTLS not offered (no certificate configured)");
		return;
	}
	if (s->tls) {
		reply(s, 503, "5.5.1 Error: TLS already active");
		return;
	}
	if (*arg) {
		reply(s, 501, "5.5.4 Syntax: STARTTLS");
		return;
	}
	reply(s, 220, "2.0.0 Ready to start TLS");
	/* whatever the client pipelined after STARTTLS came in clear: it is
	 * thrown away, never answered (the STARTTLS command injection flaw) */
	io_discard_input(&s->io);
	if (io_flush(&s->io) < 0) {
		s->closing = 1;
		return;
	}
	if (start_tls(s) == 0)
		forget_session(s);
}

/* Refuses an AUTH that cannot start now: 1 if refused (and answered). */
static int auth_refused(struct session *s)
{
	if (!s->tls) {
		reply(s, 538, "5.7.11 Encryption required for requested authentication mechanism");
	} else if (!s->esmtp) {
		reply(s, 503, "5.5.1 Error: send EHLO first");
	} else if (s->auth_user[0]) {
		reply(s, 503, "5.5.1 Error: already authenticated");
	} else if (s->txn.active) {
		reply(s, 503, "5.5.1 Error: AUTH not allowed during a mail transaction");
	} else {
		return 0;
	}
	return 1;
}

static void auth_failed(struct session *s, const char *user)
{
	reply(s, 535, "5.7.8 Error: authentication failed");
	/* a name we do not know may be a password typed in the wrong field */
	log_event("auth", "user", conf_find_user(&s->conf, user) ? user : "(unknown)",
		  "result", "fail", LOG_END);
	if (++s->auth_failures >= AUTH_FAILURES_MAX && !s->closing) {
		reply(s, 421, "4.7.0 %s Error: too many failed authentications", hostname(s));
		log_event("disconnect", "reason", "auth-failures", LOG_END);
		s->closing = 1;
	}
}

static void cmd_auth(struct session *s, char *arg)
{
	if (auth_refused(s))
		return;
	char user[CONF_ADDR_MAX];
	switch (auth_dialogue(&s->io, &s->conf, arg, user, sizeof user)) {
	case AUTH_OK:
		snprintf(s->auth_user, sizeof s->auth_user, "%s", user);
		conf_lowercase(s->auth_user);
		reply(s, 235, "2.7.0 Authentication successful");
		log_event("auth", "user", s->auth_user, "result", "ok", LOG_END);
		break;
	case AUTH_FAILED:
		auth_failed(s, user);
		break;
	case AUTH_CANCELLED:
		reply(s, 501, "5.0.0 Authentication cancelled");
		break;
	case AUTH_MALFORMED:
		reply(s, 501, "5.5.2 Error: malformed authentication data");
		break;
	case AUTH_UNKNOWN_MECH:
		reply(s, 504, "5.5.4 Error: unsupported authentication mechanism");
		break;
	case AUTH_SYNTAX:
		reply(s, 501, "5.5.4 Syntax: AUTH mechanism [initial-response]");
		break;
	case AUTH_TIMEOUT:
		reply_timeout(s);
		break;
	case AUTH_EOF:
		log_event("disconnect", "reason", "eof-in-auth", LOG_END);
		s->closing = 1;
		break;
	}
}

static const struct command {
	const char *name;
	void (*run)(struct session *s, char *arg);
} commands[] = {
	{ "EHLO", cmd_ehlo },         { "HELO", cmd_helo },
	{ "MAIL", cmd_mail },         { "RCPT", cmd_rcpt },
	{ "DATA", cmd_data },         { "BDAT", cmd_bdat },
	{ "RSET", cmd_rset },         { "NOOP", cmd_noop },
	{ "QUIT", cmd_quit },         { "HELP", cmd_help },
	{ "VRFY", cmd_vrfy },         { "EXPN", cmd_expn },
	{ "TURN", cmd_obsolete },     { "SEND", cmd_obsolete },
	{ "SOML", cmd_obsolete },     { "SAML", cmd_obsolete },
	{ "STARTTLS", cmd_starttls }, { "AUTH", cmd_auth },
};

static const struct command *find_command(const char *verb)
{
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcasecmp(commands[i].name, verb) == 0)
			return &commands[i];
	return NULL;
}

/* Splits "VERB arg" and runs the command. */
static void dispatch(struct session *s, char *line, size_t len)
{
	if (memchr(line, '\0', len)) {
		reply(s, 500, "5.5.2 Error: NUL octet in command");
		return;
	}
	char *arg = line + strcspn(line, " ");
	if (*arg)
		*arg++ = '\0';
	size_t alen = strlen(arg);
	while (alen && arg[alen - 1] == ' ')   /* trailing spaces: tolerated */
		arg[--alen] = '\0';
	const struct command *cmd = find_command(line);
	/* 512 octets a command (RFC 5321); AUTH may carry 12288 (RFC 4954) */
	if (len > CMD_LINE_MAX - 2 && (!cmd || cmd->run != cmd_auth)) {
		reply(s, 500, "5.5.6 Error: line too long");
		return;
	}
	if (!cmd) {
		reply(s, 500, "5.5.2 Error: command not recognized");
		return;
	}
	if (s->conf.log_debug)
		log_event("command", "verb", cmd->name, LOG_END);
	cmd->run(s, arg);
}

/* ---- the session --------------------------------------------------------- */

static void session_loop(struct session *s)
{
	static char line[AUTH_LINE_MAX + 1];
	while (!s->closing) {
		size_t len;
		int too_long;
		int rc = io_read_line(&s->io, line, AUTH_LINE_MAX, &len, &too_long);
		if (rc == IO_TIMEOUT) {
			reply_timeout(s);
			break;
		}
		if (rc != IO_OK) {
			log_event("disconnect", "reason", rc == IO_EOF ? "eof" : "io-error", LOG_END);
			break;
		}
		if (too_long)
			reply(s, 500, "5.5.6 Error: line too long");
		else
			dispatch(s, line, len);
		OPENSSL_cleanse(line, len);   /* an AUTH line carries a password */
	}
	io_flush(&s->io);
}

static const char usage_line[] = "usage: smtp-recv [-h] [-s] [-t]";

static void usage(void)
{
	printf("%s\n"
	       "  SMTP server for one connection on stdin/stdout (see smtp-recv(8))\n"
	       "  -s  submission mode (port 587, AUTH required)\n"
	       "  -t  implicit TLS (port 465; with -s for submission, RFC 8314)\n", usage_line);
}

struct options {
	int submission;     /* -s */
	int implicit_tls;   /* -t */
};

static struct options parse_args(int argc, char **argv)
{
	struct options o = { 0, 0 };
	int opt;
	opterr = 0;   /* one line of our own instead of getopt's */
	while ((opt = getopt(argc, argv, "hst")) != -1) {
		switch (opt) {
		case 'h':
			usage();
			exit(0);
		case 's':
			o.submission = 1;
			break;
		case 't':
			o.implicit_tls = 1;
			break;
		default:
			fprintf(stderr, "smtp-recv: unknown option -%c (%s)\n", optopt, usage_line);
			exit(EX_USAGE);
		}
	}
	if (optind != argc) {
		fprintf(stderr, "smtp-recv: unexpected argument \"%s\" (%s)\n", argv[optind], usage_line);
		exit(EX_USAGE);
	}
	return o;
}

/* A configuration problem: 421 instead of the greeting, exit 78. */
static int config_failed(struct session *s, const char *error)
{
	log_event("config-error", "error", error, LOG_END);
	fprintf(stderr, "smtp-recv: %s\n", error);
	char buf[400];
	int n = snprintf(buf, sizeof buf, "421 4.3.0 %s Service not available: configuration error\r\n",
			 s->conf.hostname[0] ? s->conf.hostname : "localhost");
	io_write(&s->io, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
	io_flush(&s->io);
	return EX_CONFIG;
}

/* Loads tls_cert/tls_key when set; -t cannot do without them.  0 or -1. */
static int setup_tls(struct session *s, int required, char *err, size_t err_size)
{
	if (!s->conf.tls_cert[0] != !s->conf.tls_key[0]) {
		snprintf(err, err_size, "%.900s/mailpipe.conf: tls_cert and tls_key go together: set both",
			 s->conf.dir);
		return -1;
	}
	if (!s->conf.tls_cert[0]) {
		if (!required)
			return 0;
		snprintf(err, err_size, "-t needs tls_cert and tls_key in mailpipe.conf");
		return -1;
	}
	s->tls_ctx = tls_server_context(s->conf.tls_cert, s->conf.tls_key, err, err_size);
	return s->tls_ctx ? 0 : -1;
}

int main(int argc, char **argv)
{
	static struct session s;   /* large buffers: not on the stack */
	struct options opts = parse_args(argc, argv);
	s.submission = opts.submission;
	/* an inetd or a script may start us with SIGCHLD ignored: then waitpid
	 * could not see mail-store's exit code, and a stored message would be
	 * answered 451 */
	signal(SIGCHLD, SIG_DFL);
	/* a password may be in memory: never in a core dump */
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);  /* a file size limit becomes EFBIG, then 452 */
	log_open("smtp-recv");
	log_away_from_client(STDIN_FILENO);
	peer_session_id(s.sid, sizeof s.sid);
	peer_address(s.client, sizeof s.client);
	log_context("sid", s.sid);
	log_context("client", s.client);
	s.spool.fd = -1;
	io_init(&s.io, STDIN_FILENO, STDOUT_FILENO, 300);
	if (conf_load(&s.conf, conf_dir()) < 0)
		return config_failed(&s, s.conf.error);
	s.io.timeout = s.conf.timeout;
	char err[CONF_ERROR_MAX];
	if (setup_tls(&s, opts.implicit_tls, err, sizeof err) < 0)
		return config_failed(&s, err);
	store_program(s.store_program, sizeof s.store_program);
	log_event("connect", "mode", s.submission ? "submission" : opts.implicit_tls ? "smtps" : NULL,
		  LOG_END);
	if (s.submission && !s.tls_ctx)
		log_event("warning", "problem", "submission mode without tls_cert: AUTH, and so MAIL, "
			  "will always be refused", LOG_END);
	if (opts.implicit_tls && start_tls(&s) < 0)
		return 0;
	char greeting[320];
	int n = snprintf(greeting, sizeof greeting, "220 %s ESMTP mailpipe\r\n", hostname(&s));
	io_write(&s.io, greeting, (size_t)n);
	session_loop(&s);
	txn_reset(&s);
	conf_free(&s.conf);
	io_end_tls(&s.io);
	SSL_CTX_free(s.tls_ctx);
	return 0;
}
