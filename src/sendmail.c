/* sendmail - the classic interface for local programs (cron, git, mailx,
 * PHP's mail()).
 *
 *   sendmail [-t] [-i] [-f SENDER] [-F NAME] [options] [--] [RCPT...] < message
 *   sendmail -bs | -bp | -q | -bi          (also run as mailq, newaliases)
 *
 * The message is read from stdin with msg_head (CRLF made LF, Bcc dropped,
 * Date / Message-ID / From added), spooled to an unlinked temporary file,
 * and mail-store is executed on it: its exit code (sysexits.h) is ours, and
 * it exits 0 only once the message is durable.  A user who may not write
 * the state directory gets the same by SMTP to the local smtp-recv, which
 * answers 250 only once mail-store has.  Nothing is printed on
 * success, for cron mails any output.  The other modes execute smtp-recv
 * (-bs) or smtp-relay (-bp, -q).  Options Postfix's sendmail ignores are
 * ignored here too.  See sendmail(8).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr_list.h"
#include "conf.h"
#include "fsutil.h"
#include "log.h"
#include "msg_head.h"
#include "smtp_client.h"
#include "smtp_txn.h"
#include "store_run.h"

enum mode { MODE_DELIVER, MODE_SMTP, MODE_LIST, MODE_FLUSH, MODE_NOTHING };

struct options {
	enum mode mode;
	int extract;            /* -t */
	int dot_ends;           /* a "." line ends the message; -i and -oi clear it */
	int queue_interval;     /* -q30m: a daemon's interval, which we have not */
	const char *sender;     /* -f / -r; NULL: the login name */
	const char *full_name;  /* -F */
	char **rcpts;           /* the operands */
	size_t nrcpts;
};

static const char usage_line[] =
	"usage: sendmail [-t] [-i] [-f SENDER] [-F NAME] [--] [RCPT...] < message";

static void usage(void)
{
	printf("%s\n       sendmail -bs | -bp | -q | -bi\n"
	       "  delivers the message on stdin through mail-store (see sendmail(8))\n"
	       "  -t  recipients from To:, Cc:, Bcc: too     -i  a \".\" line is just text\n"
	       "  -f  envelope sender (default: login@hostname)  -F  full name for From:\n"
	       "  -bs SMTP on stdin (smtp-recv)  -bp list the queue  -q flush the queue\n",
	       usage_line);
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "sendmail: %s%s (%s)\n", what, arg ? arg : "", usage_line);
	return EX_USAGE;
}

/* ---- options: a table, as Postfix's getopt list "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx" */

static int opt_ignore(struct options *o, const char *arg)
{
	(void)o;
	(void)arg;
	return 0;
}

/* -B: RFC 6152 says what a body may be; we pass every octet anyway. */
static int opt_body_type(struct options *o, const char *arg)
{
	(void)o;
	if (strcasecmp(arg, "7BIT") == 0 || strcasecmp(arg, "8BITMIME") == 0)
		return 0;
	return usage_error("-B takes 7BIT or 8BITMIME, not ", arg);
}

/* -C: another configuration directory, for us and the programs we run. */
static int opt_conf(struct options *o, const char *arg)
{
	(void)o;
	if (setenv("MAILPIPE_CONF", arg, 1) < 0)
		return EX_OSERR;
	return 0;
}

static int opt_full_name(struct options *o, const char *arg)
{
	o->full_name = arg;
	return 0;
}

static int opt_aliases(struct options *o, const char *arg)
{
	(void)arg;
	o->mode = MODE_NOTHING;
	return 0;
}

static const struct {
	char letter;
	enum mode mode;
} b_modes[] = {
	{ 'm', MODE_DELIVER },  /* deliver: the default */
	{ 's', MODE_SMTP },     /* SMTP on stdin and stdout */
	{ 'p', MODE_LIST },     /* mailq */
	{ 'i', MODE_NOTHING },  /* newaliases: aliases are read as they are */
	{ 'h', MODE_NOTHING },  /* host status: there is none */
	{ 'H', MODE_NOTHING },
};

static int opt_b(struct options *o, const char *arg)
{
	for (size_t i = 0; i < sizeof b_modes / sizeof b_modes[0]; i++) {
		if (b_modes[i].letter == arg[0]) {
			o->mode = b_modes[i].mode;
			return 0;
		}
	}
	if (arg[0] == 'd' || arg[0] == 'l')
		return usage_error("no daemon mode: systemd or xinetd start smtp-recv, -b", arg);
	return usage_error("unsupported mode -b", arg);
}

static int opt_sender(struct options *o, const char *arg)
{
	o->sender = arg;
	return 0;
}

static int opt_no_dot(struct options *o, const char *arg)
{
	(void)arg;
	o->dot_ends = 0;
	return 0;
}

/* -oi is -i; every other -oX (-oem, -odb, -om, -oA...) is ignored. */
static int opt_o(struct options *o, const char *arg)
{
	if (arg[0] == 'i')
		o->dot_ends = 0;
	return 0;
}

/* -q flushes; -q30m is a daemon's interval; -qRsite and -qIid flush all. */
static int opt_q(struct options *o, const char *arg)
{
	if (arg[0] == '\0' || ((arg[0] == 'R' || arg[0] == 'I') && arg[1] != '\0')) {
		o->mode = MODE_FLUSH;
		return 0;
	}
	if (arg[0] >= '0' && arg[0] <= '9') {
		o->queue_interval = 1;
		return 0;
	}
	return usage_error("unsupported -q", arg);
}

static int opt_extract(struct options *o, const char *arg)
{
	(void)arg;
	o->extract = 1;
	return 0;
}

enum arg_kind {
	NO_ARG,        /* a flag: "-ti" is -t -i */
	ARG,           /* the rest of the word, else the next word: "-fbob", "-f bob" */
	ATTACHED_ARG,  /* the rest of the word only, maybe empty: "-q", "-q30m" */
};

static const struct option_def {
	char letter;
	enum arg_kind arg;
	int (*apply)(struct options *o, const char *arg);   /* 0 or an exit code */
} option_defs[] = {
	{ 'A', ARG, opt_ignore },          /* -Am, -Ac: submission or not */
	{ 'B', ARG, opt_body_type },
	{ 'C', ARG, opt_conf },
	{ 'F', ARG, opt_full_name },
	{ 'G', NO_ARG, opt_ignore },       /* gateway submission */
	{ 'I', NO_ARG, opt_aliases },
	{ 'L', ARG, opt_ignore },          /* syslog label */
	{ 'N', ARG, opt_ignore },          /* DSN NOTIFY */
	{ 'O', ARG, opt_ignore },          /* option=value */
	{ 'R', ARG, opt_ignore },          /* DSN RET */
	{ 'U', NO_ARG, opt_ignore },       /* initial user submission */
	{ 'V', ARG, opt_ignore },          /* DSN ENVID */
	{ 'X', ARG, opt_ignore },          /* traffic log file, VERP */
	{ 'b', ARG, opt_b },
	{ 'c', NO_ARG, opt_ignore },
	{ 'e', ARG, opt_ignore },          /* error mode */
	{ 'f', ARG, opt_sender },
	{ 'h', ARG, opt_ignore },          /* hop count; alone, -h is help */
	{ 'i', NO_ARG, opt_no_dot },
	{ 'm', NO_ARG, opt_ignore },       /* me too */
	{ 'n', NO_ARG, opt_ignore },       /* no aliasing */
	{ 'o', ARG, opt_o },
	{ 'p', ARG, opt_ignore },          /* protocol */
	{ 'q', ATTACHED_ARG, opt_q },
	{ 'r', ARG, opt_sender },          /* the old -f */
	{ 't', NO_ARG, opt_extract },
	{ 'v', NO_ARG, opt_ignore },       /* verbose: local delivery is done when we exit */
	{ 'x', NO_ARG, opt_ignore },
};

static const struct option_def *find_option(char letter)
{
	for (size_t i = 0; i < sizeof option_defs / sizeof option_defs[0]; i++)
		if (option_defs[i].letter == letter)
			return &option_defs[i];
	return NULL;
}

static void unknown_option(char letter)
{
	char name[2] = { letter > ' ' && letter < 0x7f ? letter : '?', '\0' };
	exit(usage_error("unknown option -", name));
}

/* The options in the word argv[i] ("-ti", "-fbob", "-f bob", "-oi"); the
 * index of the last word they used. */
static int parse_word(struct options *o, int argc, char **argv, int i)
{
	for (const char *p = argv[i] + 1; *p; p++) {
		const struct option_def *def = find_option(*p);
		if (!def)
			unknown_option(*p);
		const char *arg = def->arg == NO_ARG ? NULL : p + 1;
		if (def->arg == ARG && *arg == '\0') {
			if (i + 1 == argc) {
				if (def->letter == 'h') {   /* "sendmail -h": ours print usage */
					usage();
					exit(0);
				}
				exit(usage_error("an argument is missing after -", p));
			}
			arg = argv[++i];
		}
		int rc = def->apply(o, arg);
		if (rc)
			exit(rc);
		if (arg)
			return i;   /* the argument took the rest of the word */
	}
	return i;
}

/* Options end at "--" or the first operand, as with Postfix: an address
 * after them is never taken for an option. */
static void parse_args(struct options *o, int argc, char **argv)
{
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--help") == 0) {
			usage();
			exit(0);
		}
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			break;
		i = parse_word(o, argc, argv, i);
	}
	o->rcpts = argv + i;
	o->nrcpts = (size_t)(argc - i);
}

/* The options that make no sense together, as Postfix refuses them. */
static void check_args(const struct options *o)
{
	if (o->extract && o->mode != MODE_DELIVER)
		exit(usage_error("-t works only when delivering a message", NULL));
	if (o->mode != MODE_DELIVER && o->nrcpts > 0)
		exit(usage_error("recipients work only when delivering a message: ", o->rcpts[0]));
	if (o->mode == MODE_DELIVER && !o->extract && o->nrcpts == 0 && !o->queue_interval)
		exit(usage_error("no recipients: name them, or use -t", NULL));
}

/* ---- recipients ------------------------------------------------------- */

struct rcpt_list {
	char (*addr)[CONF_ADDR_MAX];
	size_t n, max;
};

struct recipients {
	const struct conf *conf;
	struct rcpt_list args;     /* the command line */
	struct rcpt_list fields;   /* To:, Cc:, Bcc: with -t */
	struct rcpt_list resent;   /* Resent-To:, -Cc:, -Bcc: with -t */
	int resent_seen;           /* any Resent- field: the message is being resent */
};

static int list_alloc(struct rcpt_list *l, size_t max)
{
	l->n = 0;
	l->max = max;
	l->addr = calloc(max ? max : 1, sizeof *l->addr);
	return l->addr ? 0 : -1;
}

/* The domain for an address without one: the hostname when mail for it is
 * delivered here, else the first local domain.  Like Postfix's myorigin,
 * "sendmail root" (cron's default) then reaches a mailbox or alias here. */
static const char *local_domain(const struct conf *conf)
{
	if (conf_is_local_domain(conf, conf->hostname) || conf->ndomains == 0)
		return conf->hostname;
	return conf->domains[0];
}

enum { ADD_OK = 0, ADD_BAD = -1, ADD_FULL = -2 };

/* Adds spec, with domain when it has none, unless it is there already. */
static int list_add(struct rcpt_list *l, const char *spec, const char *domain)
{
	char full[CONF_ADDR_MAX];
	int n = strchr(spec, '@') ? snprintf(full, sizeof full, "%s", spec)
				  : snprintf(full, sizeof full, "%s@%s", spec, domain);
	if (n < 0 || (size_t)n >= sizeof full)
		return ADD_BAD;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->addr[i], full) == 0)
			return ADD_OK;
	if (l->n == l->max)
		return ADD_FULL;
	memcpy(l->addr[l->n++], full, (size_t)n + 1);
	return ADD_OK;
}

/* Every address of an address list ("a@x, Bob <b@y>"). */
static int list_add_all(struct rcpt_list *l, const char *text, const char *domain)
{
	struct addr_list al;
	addr_list_init(&al, text, strlen(text));
	char spec[CONF_ADDR_MAX];
	enum addr_next r;
	while ((r = addr_list_next(&al, spec, sizeof spec)) == ADDR_FOUND) {
		int rc = list_add(l, spec, domain);
		if (rc != ADD_OK)
			return rc;
	}
	return r == ADDR_END ? ADD_OK : ADD_BAD;
}

/* Why list_add_all refused, for a message. */
static const char *add_problem(int rc, const struct conf *conf, char (*buf)[64])
{
	if (rc != ADD_FULL)
		return "an address cannot be read";
	snprintf(*buf, sizeof *buf, "more recipients than max_rcpt (%u)", conf->max_rcpt);
	return *buf;
}

#define SHOWN_MAX 80

/* text for an error message in buf: at most SHOWN_MAX octets, control
 * characters as "?" (a header must not drive the terminal). */
static const char *shown(const char *text, char (*buf)[SHOWN_MAX + 4])
{
	size_t i = 0;
	for (; i < SHOWN_MAX && text[i]; i++)
		(*buf)[i] = (unsigned char)text[i] < ' ' || text[i] == 0x7f ? '?' : text[i];
	(*buf)[i] = '\0';
	if (text[i])
		memcpy(*buf + i, "...", 4);
	return *buf;
}

static int add_arguments(struct recipients *r, char **args, size_t n, int extract)
{
	const char *domain = local_domain(r->conf);
	for (size_t i = 0; i < n; i++) {
		int rc = list_add_all(&r->args, args[i], domain);
		if (rc != ADD_OK) {
			char buf[SHOWN_MAX + 4], why[64];
			fprintf(stderr, "sendmail: %s: \"%s\"\n", add_problem(rc, r->conf, &why),
				shown(args[i], &buf));
			return EX_USAGE;
		}
	}
	if (r->args.n == 0 && !extract)
		return usage_error("no recipients: name them, or use -t", NULL);
	return 0;
}

/* msg_head's on_field with -t: the recipients in the header. */
static int on_field(const char *name, const char *value, void *arg)
{
	struct recipients *r = arg;
	static const char *const plain[] = { "To", "Cc", "Bcc" };
	int resent = strncasecmp(name, "Resent-", 7) == 0;
	r->resent_seen |= resent;
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		if (strcasecmp(name + (resent ? 7 : 0), plain[i]) != 0)
			continue;
		struct rcpt_list *l = resent ? &r->resent : &r->fields;
		int rc = list_add_all(l, value, local_domain(r->conf));
		if (rc == ADD_OK)
			return 0;
		char name_buf[SHOWN_MAX + 4], value_buf[SHOWN_MAX + 4], why[64];
		fprintf(stderr, "sendmail: %s: %s: %s\n", shown(name, &name_buf),
			add_problem(rc, r->conf, &why), shown(value, &value_buf));
		return -1;
	}
	return 0;
}

#define STORE_ARGS_FIXED 4   /* "mail-store -f SENDER --" */

/* mail-store's argument list: "-f SENDER --" then the command line's
 * recipients and, with -t, the header's (Resent- ones when the message is
 * being resent, RFC 5322 3.6.6, as Postfix does), duplicates left out.
 * NULL when out of memory. */
static char **store_argv(struct recipients *r, const char *sender, int extract)
{
	const struct rcpt_list *hdr = !extract ? NULL : r->resent_seen ? &r->resent : &r->fields;
	size_t max = r->args.n + (hdr ? hdr->n : 0);
	char **argv = calloc(STORE_ARGS_FIXED + max + 1, sizeof *argv);
	if (!argv)
		return NULL;
	size_t a = 0;
	argv[a++] = "mail-store";
	argv[a++] = "-f";
	argv[a++] = (char *)(*sender ? sender : "<>");
	argv[a++] = "--";   /* an address may start with "-" */
	for (size_t i = 0; i < r->args.n; i++)
		argv[a++] = r->args.addr[i];
	for (size_t i = 0; hdr && i < hdr->n; i++) {
		int dup = 0;
		for (size_t j = 0; j < r->args.n && !dup; j++)
			dup = strcmp(hdr->addr[i], r->args.addr[j]) == 0;
		if (!dup)
			argv[a++] = hdr->addr[i];
	}
	argv[a] = NULL;
	return argv;
}

/* ---- the sender --------------------------------------------------------- */

/* The one addr-spec of text ("bob@x", "Bob <bob@x>"), with @hostname
 * when it has no domain.  0 or -1. */
static int one_address(const char *text, const char *hostname, char *out, size_t size)
{
	struct addr_list al;
	char spec[CONF_ADDR_MAX], rest[CONF_ADDR_MAX];
	addr_list_init(&al, text, strlen(text));
	if (addr_list_next(&al, spec, sizeof spec) != ADDR_FOUND ||
	    addr_list_next(&al, rest, sizeof rest) != ADDR_END)
		return -1;
	int n = strchr(spec, '@') ? snprintf(out, size, "%s", spec)
				  : snprintf(out, size, "%s@%s", spec, hostname);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* -f SENDER ("" and "<>" are the null sender), else login@hostname. */
static int envelope_sender(const struct options *o, const struct conf *conf, char *out, size_t size)
{
	if (o->sender && (!*o->sender || strcmp(o->sender, "<>") == 0)) {
		out[0] = '\0';
		return 0;
	}
	if (o->sender) {
		if (one_address(o->sender, conf->hostname, out, size) == 0)
			return 0;
		char buf[SHOWN_MAX + 4];
		fprintf(stderr, "sendmail: -f \"%s\" is not an address (%s)\n", shown(o->sender, &buf),
			usage_line);
		return EX_USAGE;
	}
	const struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_name[0] && one_address(pw->pw_name, conf->hostname, out, size) == 0)
		return 0;
	fprintf(stderr, "sendmail: no usable login name for uid %u: name the sender with -f\n",
		(unsigned)getuid());
	return EX_NOUSER;
}

/* ---- the spool file ------------------------------------------------------ */

struct spool {
	int fd;
	uint64_t size, limit;
	int too_big;
	int error;   /* errno of a failed write */
};

/* fopencookie's writer: max_size is kept while writing, so a runaway
 * producer never fills the disk. */
static ssize_t spool_write(void *cookie, const char *buf, size_t n)
{
	struct spool *s = cookie;
	if (n > s->limit - s->size) {
		s->too_big = 1;
		errno = EFBIG;
		return -1;
	}
	if (write_all(s->fd, buf, n) < 0) {
		s->error = errno;
		return -1;
	}
	s->size += n;
	return (ssize_t)n;
}

/* An unlinked temporary file in $TMPDIR or /tmp: nothing to clean up,
 * whatever becomes of us. */
static int spool_open(void)
{
	char path[PATH_MAX];
	int fd = temp_open("sendmail", path, sizeof path);
	if (fd < 0)
		fprintf(stderr, "sendmail: cannot create %s: %s\n", path, strerror(errno));
	return fd;
}

/* Who handed us the message, as Postfix's pickup writes it. */
static int write_received(FILE *out, const struct conf *conf)
{
	char date[64];
	head_date(date, sizeof date);
	return fprintf(out, "Received: by %s (mailpipe sendmail, from userid %u);\n\t%s\n",
		       conf->hostname, (unsigned)getuid(), date) < 0 ? -1 : 0;
}

/* Copies stdin into the spool with its header fixed (and, with -t, the
 * recipients collected).  0 or an exit code, said on stderr. */
static int spool_message(const struct options *o, const struct conf *conf, const char *sender,
			 struct recipients *r, struct spool *sp)
{
	cookie_io_functions_t io = { .write = spool_write };
	FILE *out = fopencookie(sp, "w", io);
	if (!out) {
		fprintf(stderr, "sendmail: %s\n", strerror(errno));
		return EX_OSERR;
	}
	struct head_in in = { .fp = stdin, .dot_ends = o->dot_ends };
	struct head_fix fix = {
		.sender = sender, .full_name = o->full_name, .hostname = conf->hostname,
		.on_field = o->extract ? on_field : NULL, .arg = r,
	};
	int rc = write_received(out, conf) < 0 ? EX_IOERR : head_copy(&in, out, &fix, "sendmail");
	if (fclose(out) == EOF && rc == 0)
		rc = EX_IOERR;
	if (sp->too_big) {
		fprintf(stderr, "sendmail: the message is larger than max_size (%llu octets)\n",
			(unsigned long long)sp->limit);
		return EX_DATAERR;
	}
	if (sp->error) {
		fprintf(stderr, "sendmail: writing the temporary file: %s\n", strerror(sp->error));
		return EX_IOERR;   /* a full disk too, as with mail-store */
	}
	return rc;
}

/* ---- running the other programs ------------------------------------------ */

/* Run by root (cron, a package's script), the programs run as the owner of
 * the state directory: a Maildir, queue file or mail.db-wal that root made
 * there would lock out smtp-recv and smtp-relay, which run as that user. */
static int become_state_owner(const struct conf *conf)
{
	struct stat st;
	if (getuid() != 0 || stat(conf->state, &st) < 0 || st.st_uid == 0)
		return 0;   /* no state yet: mail-store makes it as we are */
	gid_t gid = st.st_gid;
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(st.st_uid) < 0) {
		fprintf(stderr, "sendmail: cannot become the owner of %s: %s\n", conf->state,
			strerror(errno));
		return EX_OSERR;
	}
	return 0;
}

/* Installed set-user-id or set-group-id by mistake, we drop it, as
 * Postfix's sendmail does: -C and $MAILPIPE_CONF name any directory. */
static void drop_set_id(void)
{
	if (geteuid() == getuid() && getegid() == getgid())
		return;
	if (setgid(getgid()) < 0 || setuid(getuid()) < 0) {
		fprintf(stderr, "sendmail: cannot drop set-id privileges: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
}

/* Replaces this process with program; returns only when it could not. */
static int run(const char *program, char *const argv[])
{
	if (strchr(program, '/'))
		execv(program, argv);
	else
		execvp(program, argv);
	fprintf(stderr, "sendmail: cannot run %s: %s\n", program, strerror(errno));
	return EX_UNAVAILABLE;
}

/* mail-store with the spool on stdin and its id line thrown away. */
static int run_store(int spool_fd, char **argv)
{
	char program[PATH_MAX];
	store_program(program, sizeof program);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(spool_fd, STDIN_FILENO) < 0 ||
	    lseek(STDIN_FILENO, 0, SEEK_SET) < 0) {
		fprintf(stderr, "sendmail: %s\n", strerror(errno));
		return EX_OSERR;
	}
	return run(program, argv);
}

static void log_submission(const char *sender, char **argv)
{
	char uid[24], from[CONF_ADDR_MAX + 2], rcpts[24];
	size_t n = 0;
	while (argv[STORE_ARGS_FIXED + n])
		n++;
	snprintf(uid, sizeof uid, "%u", (unsigned)getuid());
	snprintf(from, sizeof from, "<%s>", sender);
	snprintf(rcpts, sizeof rcpts, "%zu", n);
	log_event("submitted", "uid", uid, "from", from, "rcpts", rcpts, LOG_END);
}

/* ---- a user who may not write the state directory ------------------------ */

#define SUBMIT_DEFAULT "127.0.0.1:25"

/* Only root and the services' user may write the state directory, as only
 * Postfix's postdrop may write its maildrop.  Everyone else hands the
 * message to smtp-recv on the local port, as any SMTP client would. */
static int must_submit(const struct conf *conf)
{
	return getuid() != 0 && access(conf->state, W_OK) < 0;
}

/* $MAILPIPE_SUBMIT (host:port) or the local port 25. */
static void submit_address(char *host, size_t size, unsigned *port)
{
	const char *where = getenv("MAILPIPE_SUBMIT");
	if (!where || !*where)
		where = SUBMIT_DEFAULT;
	const char *colon = strrchr(where, ':');
	unsigned long p = colon ? strtoul(colon + 1, NULL, 10) : 25;
	*port = p >= 1 && p <= 65535 ? (unsigned)p : 25;
	snprintf(host, size, "%.*s", colon ? (int)(colon - where) : (int)strlen(where), where);
}

/* One SMTP transaction with smtp-recv; the exit code by its answers. */
static int submit_by_smtp(const struct conf *conf, int spool_fd, const char *sender, char **rcpts)
{
	size_t n = 0;
	while (rcpts[n])
		n++;
	struct txn_rcpt *list = calloc(n, sizeof *list);
	if (!list)
		return EX_OSERR;
	for (size_t i = 0; i < n; i++)
		list[i].address = rcpts[i];
	struct txn_message m = { .sender = strcmp(sender, "<>") ? sender : "", .rcpts = list,
				 .nrcpts = n, .fd = spool_fd };
	struct smtp_client c = { 0 };
	struct smtp_reply reply;
	char host[256];
	unsigned port;
	submit_address(host, sizeof host, &port);
	int scanned = txn_scan(spool_fd, &m.info) == 0;
	if (!scanned)
		reply_local(&reply, 451, "4.3.0", "reading the message: %s", strerror(errno));
	int open = scanned && client_connect(&c, host, port, 0, 0, conf->timeout, &reply) == 0;
	if (open && client_greet(&c, conf->hostname, &reply) == 0)
		txn_send(&c, &m);
	else
		txn_fail_all(&m, &reply);
	if (open)
		client_quit(&c);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		int code = reply_exit_code(&list[i].reply);
		if (code)
			fprintf(stderr, "sendmail: <%s>: %s\n", list[i].address, list[i].reply.text);
		if (code && (rc == 0 || rc == EX_TEMPFAIL))
			rc = code;   /* a permanent failure says more than a temporary one */
	}
	free(list);
	return rc;
}

/* ---- the modes --------------------------------------------------------- */

static int load_conf(struct conf *conf)
{
	if (conf_load(conf, conf_dir()) == 0)
		return 0;
	fprintf(stderr, "sendmail: %s\n", conf->error);
	return EX_CONFIG;
}

/* The recipients, the spool and the sender; then mail-store. */
static int deliver_with(const struct options *o, struct recipients *r, char *sender, size_t size)
{
	int rc = envelope_sender(o, r->conf, sender, size);
	if (rc == 0)
		rc = add_arguments(r, o->rcpts, o->nrcpts, o->extract);
	if (rc)
		return rc;
	struct spool sp = { .fd = spool_open(), .limit = r->conf->max_size };
	if (sp.fd < 0)
		return EX_CANTCREAT;
	rc = spool_message(o, r->conf, sender, r, &sp);
	if (rc)
		return rc;
	char **argv = store_argv(r, sender, o->extract);
	if (!argv)
		return EX_OSERR;
	if (!argv[STORE_ARGS_FIXED]) {
		fprintf(stderr, "sendmail: -t: no recipient in To:, Cc: or Bcc:%s\n",
			r->resent_seen ? " (Resent- fields: those were read)" : "");
		rc = EX_DATAERR;
	} else {
		log_submission(sender, argv);
		if (must_submit(r->conf))
			rc = submit_by_smtp(r->conf, sp.fd, argv[2], argv + STORE_ARGS_FIXED);
		else if ((rc = become_state_owner(r->conf)) == 0)
			rc = run_store(sp.fd, argv);   /* returns only when it failed */
	}
	free(argv);
	return rc;
}

static int mode_deliver(const struct options *o)
{
	static struct conf conf;
	static struct recipients r;
	static char sender[CONF_ADDR_MAX];
	int rc = load_conf(&conf);
	if (rc)
		return rc;
	r.conf = &conf;
	if (list_alloc(&r.args, conf.max_rcpt) < 0 || list_alloc(&r.fields, conf.max_rcpt) < 0 ||
	    list_alloc(&r.resent, conf.max_rcpt) < 0) {
		fprintf(stderr, "sendmail: out of memory\n");
		return EX_OSERR;
	}
	return deliver_with(o, &r, sender, sizeof sender);
}

/* Another program of ours (argv[0]; $env names another path), as the
 * owner of the state directory when root runs us. */
static int run_ours(const char *env, char *argv[])
{
	static struct conf conf;
	int rc = load_conf(&conf);
	if (rc == 0)
		rc = become_state_owner(&conf);
	if (rc)
		return rc;
	char program[PATH_MAX];
	program_path(argv[0], env, program, sizeof program);
	return run(program, argv);
}

/* -bs: a local SMTP session.  A local program is trusted to relay, as
 * Postfix's -bs does: the client is loopback unless a super-server (e.g.
 * tcpserver's TCPREMOTEIP, or a socket on stdin) says who it is. */
static int mode_smtp(const struct options *o)
{
	(void)o;
	if (setenv("TCPREMOTEIP", "127.0.0.1", 0) < 0)
		return EX_OSERR;
	char *argv[] = { "smtp-recv", NULL };
	return run_ours("MAILPIPE_RECV", argv);
}

static int mode_relay(const char *flag)
{
	char *argv[] = { "smtp-relay", (char *)flag, NULL };
	return run_ours("MAILPIPE_RELAY", argv);
}

static int mode_list(const struct options *o)
{
	(void)o;
	return mode_relay("-l");
}

static int mode_flush(const struct options *o)
{
	(void)o;
	return mode_relay("-f");
}

/* -bi, newaliases: the aliases file is read as it is, nothing to build;
 * checking the configuration is the useful part. */
static int mode_nothing(const struct options *o)
{
	(void)o;
	static struct conf conf;
	return load_conf(&conf);
}

static int (*const mode_run[])(const struct options *) = {
	[MODE_DELIVER] = mode_deliver,
	[MODE_SMTP] = mode_smtp,
	[MODE_LIST] = mode_list,
	[MODE_FLUSH] = mode_flush,
	[MODE_NOTHING] = mode_nothing,
};

/* Run as mailq or newaliases, the mode is in the name. */
static enum mode mode_of_name(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');
	const char *name = slash ? slash + 1 : argv0;
	return strcmp(name, "mailq") == 0 ? MODE_LIST
	     : strcmp(name, "newaliases") == 0 ? MODE_NOTHING : MODE_DELIVER;
}

/* A closed stdin, stdout or stderr would be taken by the next open() and
 * the spool or /dev/null would land on it. */
static void open_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
			exit(EX_OSERR);
}

int main(int argc, char **argv)
{
	open_std_fds();
	drop_set_id();
	signal(SIGXFSZ, SIG_IGN);   /* a file size limit becomes EFBIG */
	/* cron mails whatever we print: the log goes to syslog unless asked */
	if (setenv("MAILPIPE_LOG", "syslog", 0) < 0)
		return EX_OSERR;
	log_open("sendmail");
	struct options o = { .mode = mode_of_name(argc > 0 ? argv[0] : "sendmail"), .dot_ends = 1 };
	parse_args(&o, argc, argv);
	check_args(&o);
	if (o.queue_interval)
		return 0;   /* "-q30m": Postfix ignores it too */
	return mode_run[o.mode](&o);
}
