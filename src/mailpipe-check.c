/* mailpipe-check - check the configuration directory and the state
 * directory, like `postfix check`, and report every problem at once.
 *
 *   mailpipe-check [-u USER]
 *
 * Each problem is one line on standard output, "FILE:LINE: problem", or
 * "FILE: problem" when it is about the file as a whole, sorted by file and
 * line; a last line counts them, or says there are none.  Exit 0 when there
 * is none, 78 (EX_CONFIG) when there is any.
 *
 * The files are read by the programs' own code (conf_load_report and
 * routes_load, which go on past a problem when asked to); what only a
 * whole view can see is checked here: duplicate domains and keys, users
 * and aliases outside the local domains, weak hashes, alias loops and
 * targets that lead nowhere, networks that make an open relay, the TLS
 * key and certificate, the DKIM keys, and who may read or write what.  USER (default
 * "mailpipe" when there is such a user, else the owner of the state
 * directory) is the user the servers run as.
 */
#include <crypt.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cidr.h"
#include "conf.h"
#include "dkim_conf.h"
#include "fsutil.h"
#include "nntp.h"
#include "resolve.h"
#include "routes.h"
#include "tls.h"

#define EXPIRY_DAYS 14          /* a certificate this close to its end is a problem */
#define RELAY_MIN_PREFIX4 8     /* relay-clients: no IPv4 network wider than a /8 */
#define RELAY_MIN_PREFIX6 16    /* nor an IPv6 one wider than a /16 */
#define SERVERS_USER "mailpipe"
#define ALIAS_VISITS_MAX 100000 /* the work one alias's expansion may take */
#define TRAIL_MAX (2 * RESOLVE_DEPTH_MAX + 8)
#define STATE_ENTRIES_MAX 100000 /* entries looked at in the state directory */
#define GROUPS_MAX 256
#define DKIM_RSA_BITS_MIN 2048  /* RFC 8301 */

static const char usage_line[] = "usage: mailpipe-check [-h] [-u USER]";

/* ---- problems ----------------------------------------------------------- */

struct problem {
	char *path;
	unsigned line;   /* 0: the file as a whole */
	size_t seq;      /* the order found, for equal places */
	char *text;
};

static struct problem *problems;
static size_t nproblems;

static void out_of_memory(void)
{
	fputs("mailpipe-check: out of memory\n", stderr);
	exit(EX_OSERR);
}

static void problem(const char *path, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void problem(const char *path, unsigned line, const char *fmt, ...)
{
	va_list ap;
	char *text;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	struct problem *grown = n < 0 ? NULL : realloc(problems, (nproblems + 1) * sizeof *grown);
	if (!grown)
		out_of_memory();
	problems = grown;
	problems[nproblems] = (struct problem){ strdup(path), line, nproblems, text };
	if (!problems[nproblems].path)
		out_of_memory();
	nproblems++;
}

/* conf_load_report and routes_load send their problems here. */
static void report(void *arg, const char *path, unsigned line, const char *text)
{
	(void)arg;
	problem(path, line, "%s", text);
}

static int cmp_problem(const void *a, const void *b)
{
	const struct problem *p = a, *q = b;
	int c = strcmp(p->path, q->path);
	if (c)
		return c;
	if (p->line != q->line)
		return p->line < q->line ? -1 : 1;
	return p->seq < q->seq ? -1 : p->seq > q->seq;
}

/* Sorted by file and line; the same problem found twice is shown once.
 * Returns how many were shown. */
static size_t print_problems(void)
{
	if (nproblems)
		qsort(problems, nproblems, sizeof *problems, cmp_problem);
	size_t shown = 0;
	for (size_t i = 0; i < nproblems; i++) {
		const struct problem *p = &problems[i];
		if (i > 0 && strcmp(p->path, p[-1].path) == 0 && p->line == p[-1].line &&
		    strcmp(p->text, p[-1].text) == 0)
			continue;
		if (p->line)
			printf("%s:%u: %s\n", p->path, p->line, p->text);
		else
			printf("%s: %s\n", p->path, p->text);
		shown++;
	}
	return shown;
}

/* ---- the user the servers run as --------------------------------------- */

struct who {
	int known;
	uid_t uid;
	char name[256];
	gid_t groups[GROUPS_MAX];
	int ngroups;
};

static const char *name_of_uid(uid_t uid, char *buf, size_t size)
{
	const struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%lu", (unsigned long)uid);
	return buf;
}

static void who_from(struct who *w, const struct passwd *pw)
{
	w->known = 1;
	w->uid = pw->pw_uid;
	snprintf(w->name, sizeof w->name, "%s", pw->pw_name);
	w->ngroups = GROUPS_MAX;
	if (getgrouplist(pw->pw_name, pw->pw_gid, w->groups, &w->ngroups) < 0)
		w->ngroups = GROUPS_MAX;   /* the first GROUPS_MAX are filled in */
}

/* The user of uid, also one without a name. */
static void who_from_uid(struct who *w, uid_t uid)
{
	const struct passwd *pw = getpwuid(uid);
	if (pw) {
		who_from(w, pw);
		return;
	}
	w->known = 1;
	w->uid = uid;
	w->ngroups = 0;
	snprintf(w->name, sizeof w->name, "%lu", (unsigned long)uid);
}

/* May w read (4), write (2) or search (1) the file, by its mode bits? */
static int may(const struct who *w, const struct stat *st, unsigned bits)
{
	if (w->uid == 0)
		return 1;
	if (st->st_uid == w->uid)
		return ((st->st_mode >> 6) & bits) == bits;
	for (int i = 0; i < w->ngroups; i++)
		if (w->groups[i] == st->st_gid)
			return ((st->st_mode >> 3) & bits) == bits;
	return (st->st_mode & bits) == bits;
}

/* ---- the whole check ---------------------------------------------------- */

struct key_line {
	char *name;
	unsigned first;
	unsigned line;   /* the last line that sets it (the one that counts) */
};

struct check {
	struct conf conf;
	struct routes routes;
	struct who who;
	int who_is_state_owner;    /* no -u and no user mailpipe: the state's owner */
	char conf_path[2048];      /* mailpipe.conf */
	char users_path[2048];
	char aliases_path[2048];
	char routes_path[2048];
	char dkim_path[2048];
	struct key_line *keys;     /* the keys set in mailpipe.conf */
	size_t nkeys;
	int users_unreadable;      /* users is there, but we may not read it */
};

static unsigned key_line(const struct check *c, const char *name)
{
	for (size_t i = 0; i < c->nkeys; i++)
		if (strcmp(c->keys[i].name, name) == 0)
			return c->keys[i].line;
	return 0;
}

/* A host name for HELO and the greeting: a domain name with a dot. */
static int valid_host_name(const char *name)
{
	char address[CONF_ADDR_MAX + 16];
	if (strlen(name) > 253 || !strchr(name, '.'))
		return 0;
	snprintf(address, sizeof address, "postmaster@%s", name);
	return conf_valid_mailbox_address(address);
}

static int valid_domain_name(const char *name)
{
	char address[CONF_ADDR_MAX + 16];
	if (strlen(name) > 253)
		return 0;
	snprintf(address, sizeof address, "postmaster@%s", name);
	return conf_valid_mailbox_address(address);
}

static const char *domain_of(const char *address)
{
	const char *at = strrchr(address, '@');
	return at ? at + 1 : "";
}

/* ---- the configuration directory and its files -------------------------- */

/* Mode and owner of a configuration file the servers read; secret says
 * what others must not read ("the password hashes"), or NULL. */
static void check_conf_file(struct check *c, const char *name, const char *secret)
{
	char path[2048], owner[64];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", c->conf.dir, name);
	if (stat(path, &st) < 0) {
		if (errno != ENOENT)
			problem(path, 0, "cannot stat: %s", strerror(errno));
		return;
	}
	unsigned mode = (unsigned)st.st_mode & 07777;
	if (!S_ISREG(st.st_mode)) {
		problem(path, 0, "not a regular file");
		return;
	}
	if (st.st_mode & S_IWOTH)
		problem(path, 0, "mode %04o: anyone can change it", mode);
	if (secret && (st.st_mode & S_IROTH))
		problem(path, 0, "mode %04o: anyone can read %s (0640 with the servers' group, or 0600)",
			mode, secret);
	if (c->who.known && !may(&c->who, &st, 4))
		problem(path, 0, "the servers' user %s cannot read it (owner %s, mode %04o)", c->who.name,
			name_of_uid(st.st_uid, owner, sizeof owner), mode);
}

/* Returns 0 when there is no directory to look into. */
static int check_conf_dir(struct check *c)
{
	struct stat st;
	const char *dir = c->conf.dir;
	if (stat(dir, &st) < 0) {
		problem(dir, 0, "the configuration directory: %s", strerror(errno));
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		problem(dir, 0, "the configuration directory is not a directory");
		return 0;
	}
	if (st.st_mode & S_IWOTH)
		problem(dir, 0, "mode %04o: anyone can add or replace configuration files",
			(unsigned)st.st_mode & 07777);
	if (c->who.known && !may(&c->who, &st, 1))
		problem(dir, 0, "the servers' user %s cannot enter it (mode %04o)", c->who.name,
			(unsigned)st.st_mode & 07777);
	return 1;
}

/* Reads a file of the configuration line by line with fn; the loader
 * reported the file's own problems (a line too long...) already. */
static void read_lines(struct check *c, const char *name, conf_line_fn fn, void *arg)
{
	static struct conf scratch;
	memset(&scratch, 0, sizeof scratch);
	memcpy(scratch.dir, c->conf.dir, sizeof scratch.dir);
	conf_read_file(&scratch, name, fn, arg, NULL);
}

/* ---- mailpipe.conf -------------------------------------------------------- */

/* Which line sets each key; a key set twice is reported (the last counts). */
static int key_line_fn(struct conf_line *where, char *line)
{
	struct check *c = where->arg;
	size_t len = strcspn(line, " \t=");
	line[len] = '\0';
	for (size_t i = 0; i < c->nkeys; i++)
		if (strcmp(c->keys[i].name, line) == 0) {
			problem(where->path, where->lineno, "%s is set again (first on line %u); the last one counts",
				line, c->keys[i].first);
			c->keys[i].line = where->lineno;
			return 0;
		}
	struct key_line *grown = realloc(c->keys, (c->nkeys + 1) * sizeof *grown);
	if (!grown)
		out_of_memory();
	c->keys = grown;
	c->keys[c->nkeys].name = strdup(line);
	if (!c->keys[c->nkeys].name)
		out_of_memory();
	c->keys[c->nkeys].first = where->lineno;
	c->keys[c->nkeys++].line = where->lineno;
	return 0;
}

static void check_main_conf(struct check *c)
{
	const struct conf *conf = &c->conf;
	read_lines(c, "mailpipe.conf", key_line_fn, c);

	unsigned line = key_line(c, "hostname");
	if (!valid_host_name(conf->hostname)) {
		if (line)
			problem(c->conf_path, line, "hostname: \"%s\" is not a fully qualified domain name",
				conf->hostname);
		else
			problem(c->conf_path, 0, "no hostname, and the system's name \"%s\" is not a fully "
				"qualified domain name: set hostname", conf->hostname);
	}
	line = key_line(c, "state");
	if (conf->state[0] != '/')
		problem(c->conf_path, line, "state: \"%s\" is not an absolute path", conf->state);
	char host[256];
	unsigned port;
	line = key_line(c, "notify_nntp");
	if (line && conf->notify_nntp[0] && nntp_parse_server(conf->notify_nntp, host, sizeof host, &port) < 0)
		problem(c->conf_path, line, "notify_nntp: expected HOST:PORT, not \"%s\"", conf->notify_nntp);
}

/* ---- TLS ------------------------------------------------------------------ */

static void asn1_date(const ASN1_TIME *t, char *buf, size_t size)
{
	struct tm tm;
	if (ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, size, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, size, "(a date that does not parse)");
}

/* Whether tls_cert / tls_key is a file the servers can read; 1 if it exists. */
static int check_tls_file(struct check *c, const char *key, const char *file, unsigned line,
			  int private)
{
	struct stat st;
	char owner[64];
	if (stat(file, &st) < 0) {
		problem(c->conf_path, line, "%s %s: %s", key, file, strerror(errno));
		return 0;
	}
	unsigned mode = (unsigned)st.st_mode & 07777;
	if (!S_ISREG(st.st_mode)) {
		problem(c->conf_path, line, "%s %s: not a regular file", key, file);
		return 0;
	}
	if (private && (st.st_mode & S_IROTH))
		problem(c->conf_path, line, "%s %s: mode %04o: anyone can read the private key", key, file,
			mode);
	if (c->who.known && !may(&c->who, &st, 4))
		problem(c->conf_path, line, "%s %s: the servers' user %s cannot read it (owner %s, mode %04o)",
			key, file, c->who.name, name_of_uid(st.st_uid, owner, sizeof owner), mode);
	return 1;
}

/* Every certificate in the file: valid now, and for EXPIRY_DAYS more. */
static void check_dates(struct check *c, const char *file, unsigned line)
{
	FILE *fp = fopen(file, "r");
	if (!fp)
		return;
	X509 *x;
	while ((x = PEM_read_X509(fp, NULL, NULL, NULL)) != NULL) {
		char subject[256], date[64];
		if (!X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof subject))
			snprintf(subject, sizeof subject, "(no subject)");
		const ASN1_TIME *not_before = X509_get0_notBefore(x);
		const ASN1_TIME *not_after = X509_get0_notAfter(x);
		int days, secs;
		if (X509_cmp_current_time(not_before) > 0) {
			asn1_date(not_before, date, sizeof date);
			problem(c->conf_path, line, "tls_cert %s: the certificate %s is not valid before %s",
				file, subject, date);
		}
		asn1_date(not_after, date, sizeof date);
		if (X509_cmp_current_time(not_after) < 0)
			problem(c->conf_path, line, "tls_cert %s: the certificate %s expired on %s", file,
				subject, date);
		else if (ASN1_TIME_diff(&days, &secs, NULL, not_after) == 1 && days < EXPIRY_DAYS)
			problem(c->conf_path, line, "tls_cert %s: the certificate %s expires on %s, %s%d "
				"day%s: renew it", file, subject, date, days ? "in " : "in less than ",
				days ? days : 1, days > 1 ? "s" : "");
		X509_free(x);
	}
	ERR_clear_error();   /* the end of the file reads as an error */
	fclose(fp);
}

/* The servers have nobody to ask for a passphrase, and neither do we. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf, (void)size, (void)rwflag, (void)arg;
	return -1;
}

/* Loads the key without a passphrase and matches it against the (first)
 * certificate, saying more plainly than OpenSSL what is wrong; 1 when
 * tls_server_context may go on to load both (it would ask for a passphrase
 * on the terminal). */
static int check_key_pair(struct check *c, const char *cert, const char *key, unsigned line)
{
	FILE *fp = fopen(cert, "r");
	X509 *x = fp ? PEM_read_X509(fp, NULL, NULL, NULL) : NULL;
	if (fp)
		fclose(fp);
	fp = fopen(key, "r");
	EVP_PKEY *pkey = fp ? PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL) : NULL;
	if (fp)
		fclose(fp);
	int ok = 1;
	if (x && !pkey) {
		problem(c->conf_path, line, "tls_key %s: no private key in it that loads without a "
			"passphrase, as the servers need it", key);
		ok = 0;
	} else if (x && X509_check_private_key(x, pkey) != 1) {
		problem(c->conf_path, line, "tls_key %s does not match the certificate in tls_cert %s", key,
			cert);
		ok = 0;
	}
	X509_free(x);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return ok;
}

static void check_tls(struct check *c)
{
	const char *cert = c->conf.tls_cert, *key = c->conf.tls_key;
	unsigned cert_line = key_line(c, "tls_cert"), key_line_no = key_line(c, "tls_key");
	if (!cert[0] && !key[0])
		return;
	if (!key[0]) {
		problem(c->conf_path, cert_line, "tls_cert without tls_key: set both, or neither");
		return;
	}
	if (!cert[0]) {
		problem(c->conf_path, key_line_no, "tls_key without tls_cert: set both, or neither");
		return;
	}
	int have_cert = check_tls_file(c, "tls_cert", cert, cert_line, 0);
	int have_key = check_tls_file(c, "tls_key", key, key_line_no, 1);
	if (!have_cert || !have_key)
		return;
	if (!check_key_pair(c, cert, key, key_line_no))
		return;
	/* what smtp-recv and pop3-serve do with them: load both, match them */
	char err[1024];
	SSL_CTX *ctx = tls_server_context(cert, key, err, sizeof err);
	if (ctx)
		SSL_CTX_free(ctx);
	else
		problem(c->conf_path, strncmp(err, "tls_cert", 8) == 0 ? cert_line : key_line_no, "%s", err);
	ERR_clear_error();
	check_dates(c, cert, cert_line);
}

/* ---- domains ------------------------------------------------------------- */

struct seen {
	char **names;
	unsigned *lines;
	size_t n;
};

static int domain_dup_fn(struct conf_line *where, char *line)
{
	struct seen *s = where->arg;
	conf_lowercase(line);
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->names[i], line) == 0) {
			problem(where->path, where->lineno, "\"%s\" is listed twice (first on line %u)", line,
				s->lines[i]);
			return 0;
		}
	char **names = realloc(s->names, (s->n + 1) * sizeof *names);
	if (names)
		s->names = names;
	unsigned *lines = realloc(s->lines, (s->n + 1) * sizeof *lines);
	if (lines)
		s->lines = lines;
	if (!names || !lines || !(s->names[s->n] = strdup(line)))
		out_of_memory();
	s->lines[s->n++] = where->lineno;
	return 0;
}

static void check_domains(struct check *c)
{
	struct seen seen = { NULL, NULL, 0 };
	read_lines(c, "domains", domain_dup_fn, &seen);
	for (size_t i = 0; i < seen.n; i++)
		free(seen.names[i]);
	free(seen.names);
	free(seen.lines);
}

/* ---- users ---------------------------------------------------------------- */

/* The name of a hash method by its prefix, for the messages. */
static const char *hash_method(const char *hash)
{
	static const struct { const char *prefix, *name; } methods[] = {
		{ "$1$", "md5crypt" }, { "$3$", "NT hash" }, { "$5$", "sha256crypt" },
		{ "$sha1$", "sha1crypt" }, { "$md5", "SunMD5" }, { "$2x$", "bcrypt $2x$" },
		{ "$apr1$", "Apache's MD5" }, { "{SHA}", "LDAP SHA-1" }, { "{SSHA}", "LDAP salted SHA-1" },
		{ "_", "BSDi DES" },
	};
	for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
		if (strncmp(hash, methods[i].prefix, strlen(methods[i].prefix)) == 0)
			return methods[i].name;
	return NULL;
}

static int is_des_hash(const char *hash)
{
	static const char chars[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	return strlen(hash) == 13 && strspn(hash, chars) == 13;
}

/* A hash libxcrypt takes and does not call legacy; a locked entry ("*",
 * "!..."), which no password matches, is fine too. */
static void check_hash(struct check *c, const struct conf_user *u)
{
	const char *hash = u->hash;
	const char *method = hash_method(hash);
	if (hash[0] == '*' || hash[0] == '!')
		return;
	if (hash[0] != '$' && hash[0] != '_' && !is_des_hash(hash)) {
		problem(c->users_path, u->line, "%s: not a crypt(3) hash (a password in clear text?): set one "
			"with mailpipe-user passwd", u->address);
		return;
	}
	switch (crypt_checksalt(hash)) {
	case CRYPT_SALT_OK:
		return;
	case CRYPT_SALT_METHOD_LEGACY:
	case CRYPT_SALT_TOO_CHEAP:
		problem(c->users_path, u->line, "%s: weak hash (%s): set a new password with mailpipe-user "
			"passwd", u->address, method ? method : is_des_hash(hash) ? "DES crypt" : "legacy");
		return;
	default:
		if (method)
			problem(c->users_path, u->line, "%s: the hash is %s, which crypt(3) cannot check: set a "
				"new password with mailpipe-user passwd", u->address, method);
		else
			problem(c->users_path, u->line, "%s: unknown hash type: crypt(3) cannot check it",
				u->address);
	}
}

static void check_users(struct check *c)
{
	const struct conf *conf = &c->conf;
	for (size_t i = 0; i < conf->nusers; i++) {
		const struct conf_user *u = &conf->users[i];
		if (!conf_is_local_domain(conf, domain_of(u->address)))
			problem(c->users_path, u->line, "%s: %s is not in domains", u->address,
				domain_of(u->address));
		check_hash(c, u);
	}
}

/* ---- aliases ------------------------------------------------------------- */

/* One alias's expansion, by the rules of resolve.c: an alias is expanded
 * unless it is being expanded already, then it is the user's mailbox; an
 * address that is neither goes to its domain's catch-all. */
struct walk {
	const struct conf *conf;
	const struct conf_alias *root;
	const char *expanding[RESOLVE_DEPTH_MAX + 2];  /* aliases on the path */
	size_t nexpanding;
	const char *trail[TRAIL_MAX];                  /* the addresses on the path */
	size_t ntrail;
	unsigned long visits;
	int loop_found;
	struct check *check;
};

static int being_expanded(const struct walk *w, const char *name)
{
	for (size_t i = 0; i < w->nexpanding; i++)
		if (strcmp(w->expanding[i], name) == 0)
			return 1;
	return 0;
}

/* The trail, and closing (the catch-all met again) when not NULL. */
static void report_loop(struct walk *w, const char *closing)
{
	char text[2048] = "";
	size_t len = 0;
	for (size_t i = 0; i < w->ntrail && len < sizeof text; i++)
		len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", i ? " -> " : "", w->trail[i]);
	if (closing && len < sizeof text)
		snprintf(text + len, sizeof text - len, " -> %s", closing);
	problem(w->check->aliases_path, w->root->line, "%s: the aliases loop: %s", w->root->address, text);
	w->loop_found = 1;
}

static void walk_address(struct walk *w, const char *address);

static void walk_alias(struct walk *w, const struct conf_alias *alias)
{
	if (w->nexpanding >= RESOLVE_DEPTH_MAX + 1 || w->ntrail + 2 > TRAIL_MAX)
		return;   /* nested too deeply: resolve_recipients says so below */
	w->expanding[w->nexpanding++] = alias->address;
	for (size_t i = 0; i < alias->ntargets && !w->loop_found; i++) {
		if (w->visits++ > ALIAS_VISITS_MAX)
			break;
		w->trail[w->ntrail++] = alias->targets[i];
		walk_address(w, alias->targets[i]);
		w->ntrail--;
	}
	w->nexpanding--;
}

static void walk_address(struct walk *w, const char *address)
{
	const struct conf *conf = w->conf;
	const char *domain = domain_of(address);
	if (!conf_is_local_domain(conf, domain))
		return;   /* remote: queued */
	const struct conf_alias *alias = conf_find_alias(conf, address);
	if (alias && !being_expanded(w, alias->address)) {
		walk_alias(w, alias);
		return;
	}
	if (conf_find_user(conf, address))
		return;
	if (alias) {
		if (strcmp(alias->address, w->root->address) == 0)
			report_loop(w, NULL);
		return;   /* a loop through another alias: reported on its own line */
	}
	const struct conf_alias *catch_all = conf_find_alias(conf, domain - 1);
	if (catch_all && !being_expanded(w, catch_all->address)) {
		w->trail[w->ntrail++] = catch_all->address;
		walk_alias(w, catch_all);
		w->ntrail--;
		return;
	}
	if (catch_all) {
		if (strcmp(catch_all->address, w->root->address) == 0)
			report_loop(w, catch_all->address);
		return;
	}
	if (w->nexpanding == 1)   /* deeper ones are reported on their alias's line */
		problem(w->check->aliases_path, w->root->line,
			"%s: %s leads nowhere: no user, alias or catch-all takes it", w->root->address,
			address);
}

static void check_aliases(struct check *c)
{
	const struct conf *conf = &c->conf;
	for (size_t i = 0; i < conf->naliases; i++) {
		const struct conf_alias *a = &conf->aliases[i];
		if (!conf_is_local_domain(conf, domain_of(a->address))) {
			problem(c->aliases_path, a->line, "%s: %s is not in domains, so no mail for it is taken",
				a->address, domain_of(a->address));
			continue;
		}
		if (c->users_unreadable)
			continue;   /* every target would seem to lead nowhere */
		struct walk w = { .conf = conf, .root = a, .check = c };
		w.trail[w.ntrail++] = a->address;
		walk_alias(&w, a);
		if (w.visits > ALIAS_VISITS_MAX) {
			problem(c->aliases_path, a->line, "%s: expanding it visits more than %d addresses",
				a->address, ALIAS_VISITS_MAX);
			continue;
		}
		if (w.loop_found || a->address[0] == '@')
			continue;
		/* what mail-store would say: too deep, too many destinations */
		char *rcpt = a->address, err[512];
		struct destination *dest = NULL;
		size_t ndest = 0;
		int rc = resolve_recipients(conf, &rcpt, 1, &dest, &ndest, err, sizeof err);
		if (rc == 0)
			free(dest);
		else if (rc == EX_CONFIG)
			problem(c->aliases_path, a->line, "%s: %s", a->address, err);
	}
}

/* ---- relay-clients ---------------------------------------------------------- */

/* Networks nobody on the Internet can send from: unique local and link
 * local IPv6 addresses, however wide. */
static int unroutable_v6(const struct cidr *net)
{
	return (net->prefix >= 7 && (net->addr[0] & 0xfe) == 0xfc) ||
	       (net->prefix >= 10 && net->addr[0] == 0xfe && (net->addr[1] & 0xc0) == 0x80);
}

static int relay_fn(struct conf_line *where, char *line)
{
	struct cidr net;
	if (cidr_parse(line, &net) < 0)
		return 0;   /* conf_load_report said so */
	int v4 = net.family == AF_INET;
	unsigned min = v4 ? RELAY_MIN_PREFIX4 : RELAY_MIN_PREFIX6;
	if (net.prefix < min && (v4 || !unroutable_v6(&net)))
		problem(where->path, where->lineno, "%s makes an open relay: a network wider than /%u lets "
			"a large part of the Internet send mail anywhere through this server", line, min);
	return 0;
}

static void check_relay_clients(struct check *c)
{
	read_lines(c, "relay-clients", relay_fn, c);
}

/* ---- routes ---------------------------------------------------------------- */

static void check_routes(struct check *c)
{
	for (size_t i = 0; i < c->routes.nroutes; i++) {
		const struct route *rt = &c->routes.routes[i];
		if (strcmp(rt->domain, "*") != 0 && !valid_domain_name(rt->domain))
			problem(c->routes_path, rt->line, "\"%s\" is not a domain name or *", rt->domain);
		else if (conf_is_local_domain(&c->conf, rt->domain))
			problem(c->routes_path, rt->line, "%s is a local domain: its mail is delivered here, "
				"never by this route", rt->domain);
		if (rt->auth_user[0] && rt->tls == ROUTE_TLS_NONE)
			problem(c->routes_path, rt->line, "auth=%s with tls=none: the password is never sent "
				"without TLS, so every delivery would wait", rt->auth_user);
		if (rt->ca_file[0] && access(rt->ca_file, R_OK) < 0)
			problem(c->routes_path, rt->line, "ca=%s: %s", rt->ca_file, strerror(errno));
	}
}

/* ---- dkim ------------------------------------------------------------------ */

/* A private key DKIM signs with (RFC 6376, RFC 8463), in PEM, without a
 * passphrase: RSA of 2048 bits or more, or Ed25519. */
static void check_dkim_key_type(struct check *c, const struct dkim_key_entry *e)
{
	FILE *fp = fopen(e->keyfile, "r");
	if (!fp) {
		problem(c->dkim_path, e->line, "key %s: cannot open: %s", e->keyfile, strerror(errno));
		return;
	}
	EVP_PKEY *pkey = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	int id = pkey ? EVP_PKEY_get_base_id(pkey) : EVP_PKEY_NONE;
	if (!pkey)
		problem(c->dkim_path, e->line, "key %s: not a PEM private key that loads without a "
			"passphrase", e->keyfile);
	else if (id == EVP_PKEY_RSA && EVP_PKEY_get_bits(pkey) < DKIM_RSA_BITS_MIN)
		problem(c->dkim_path, e->line, "key %s: an RSA key of %d bits, too weak for DKIM "
			"(RFC 8301: %d or more): make a new one with mailpipe-dkim-key and another selector",
			e->keyfile, EVP_PKEY_get_bits(pkey), DKIM_RSA_BITS_MIN);
	else if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519)
		problem(c->dkim_path, e->line, "key %s: the key type is %s; DKIM signs with RSA (%d bits "
			"or more) or Ed25519", e->keyfile, EVP_PKEY_get0_type_name(pkey), DKIM_RSA_BITS_MIN);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
}

/* One key of the dkim file: a regular file that the signer, the state
 * directory's owner (mail-store runs as it), reads and nobody else does. */
static void check_dkim_key(struct check *c, const struct dkim_key_entry *e, const struct who *signer)
{
	struct stat st;
	char owner[64];
	if (stat(e->keyfile, &st) < 0) {
		problem(c->dkim_path, e->line, "key %s: %s", e->keyfile, strerror(errno));
		return;
	}
	unsigned mode = (unsigned)st.st_mode & 07777;
	if (!S_ISREG(st.st_mode)) {
		problem(c->dkim_path, e->line, "key %s: not a regular file", e->keyfile);
		return;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		problem(c->dkim_path, e->line, "key %s: mode %04o: group or others have access to the "
			"private key (0600 expected)", e->keyfile, mode);
	name_of_uid(st.st_uid, owner, sizeof owner);
	if (signer->known && !may(signer, &st, 4))
		problem(c->dkim_path, e->line, "key %s: %s, the owner of the state directory, who signs, "
			"cannot read it (owner %s, mode %04o)", e->keyfile, signer->name, owner, mode);
	else if (signer->known && geteuid() == 0 && st.st_uid != signer->uid)
		problem(c->dkim_path, e->line, "key %s: owned by %s, not by %s, the owner of the state "
			"directory, who signs", e->keyfile, owner, signer->name);
	check_dkim_key_type(c, e);
}

static void check_dkim(struct check *c)
{
	struct dkim_conf dc;
	struct who signer = { 0 };
	struct stat st;
	dkim_conf_load(&c->conf, &dc);   /* reports each bad line, and loads the others */
	if (c->conf.state[0] == '/' && stat(c->conf.state, &st) == 0)
		who_from_uid(&signer, st.st_uid);
	for (size_t i = 0; i < dc.nkeys; i++)
		check_dkim_key(c, &dc.keys[i], &signer);
	dkim_conf_free(&dc);
}

/* ---- the state directory ------------------------------------------------- */

struct state_walk {
	struct check *c;
	unsigned long entries;
};

/* Owned by the servers' user, so that they can write to it. */
static void check_owner(struct check *c, const char *path, const struct stat *st)
{
	char owner[64];
	if (c->who.known && c->who.uid != 0 && st->st_uid != c->who.uid)
		problem(path, 0, "owned by %s, not by %s, the user the servers run as",
			name_of_uid(st->st_uid, owner, sizeof owner), c->who.name);
}

/* A directory of the state: owned by the servers' user, nobody else
 * writes, others do not look in. */
static void check_state_dir(struct check *c, const char *path, const struct stat *st)
{
	unsigned mode = (unsigned)st->st_mode & 07777;
	check_owner(c, path, st);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		problem(path, 0, "mode %04o: group or others can write into it (0700 expected)", mode);
	else if (st->st_mode & S_IRWXO)
		problem(path, 0, "mode %04o: others can look into it (0700 expected, 0750 at most)", mode);
}

/* The owner of every entry of dir, down depth levels of directories. */
static void check_tree_owners(struct state_walk *s, const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (!d) {
		problem(dir, 0, "cannot read the directory: %s", strerror(errno));
		return;
	}
	const struct dirent *e;
	while ((e = readdir(d)) != NULL && s->entries < STATE_ENTRIES_MAX) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		s->entries++;
		char path[4096];
		struct stat st;
		if (path_join(path, sizeof path, dir, e->d_name) < 0 || lstat(path, &st) < 0)
			continue;
		check_owner(s->c, path, &st);
		if (S_ISDIR(st.st_mode) && (st.st_mode & S_IWOTH))
			problem(path, 0, "mode %04o: anyone can write into it", (unsigned)st.st_mode & 07777);
		if (S_ISDIR(st.st_mode) && depth > 1)
			check_tree_owners(s, path, depth - 1);
	}
	closedir(d);
}

static void check_database(struct check *c, const char *state)
{
	static const char header[16] = "SQLite format 3";   /* and its NUL */
	static const char *const files[] = { "mail.db", "mail.db-wal", "mail.db-shm" };
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char path[4096];
		struct stat st;
		if (path_join(path, sizeof path, state, files[i]) < 0 || lstat(path, &st) < 0)
			continue;   /* made by the first delivery */
		if (!S_ISREG(st.st_mode)) {
			problem(path, 0, "not a regular file");
			continue;
		}
		check_owner(c, path, &st);
		if (st.st_mode & (S_IROTH | S_IWOTH))
			problem(path, 0, "mode %04o: others can %s the index of all mail (0600 expected)",
				(unsigned)st.st_mode & 07777,
				!(st.st_mode & S_IWOTH) ? "read" : !(st.st_mode & S_IROTH) ? "change" : "read and change");
		if (i > 0)
			continue;
		char got[sizeof header];
		FILE *fp = fopen(path, "rb");
		size_t n = fp ? fread(got, 1, sizeof got, fp) : 0;
		if (fp)
			fclose(fp);
		if (!fp)
			problem(path, 0, "cannot open: %s", strerror(errno));
		else if (n != sizeof got || memcmp(got, header, sizeof header) != 0)
			problem(path, 0, "not an SQLite database");
	}
}

static void check_state(struct check *c)
{
	const char *state = c->conf.state;
	struct stat st;
	if (state[0] != '/')
		return;   /* said above */
	if (stat(state, &st) < 0) {
		problem(state, 0, "the state directory: %s (make it, owned by %s, mode 0700)", strerror(errno),
			c->who.known ? c->who.name : SERVERS_USER);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		problem(state, 0, "the state directory is not a directory");
		return;
	}
	check_state_dir(c, state, &st);
	check_database(c, state);
	/* mailboxes/DOMAIN/USER/{tmp,new,cur}, queue/FILE, tmp/ */
	static const struct { const char *name; int depth; } dirs[] = {
		{ "mailboxes", 3 }, { "queue", 1 }, { "tmp", 1 },
	};
	struct state_walk s = { c, 0 };
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		char path[4096];
		if (path_join(path, sizeof path, state, dirs[i].name) < 0 || lstat(path, &st) < 0)
			continue;   /* made when needed */
		if (!S_ISDIR(st.st_mode)) {
			problem(path, 0, "not a directory");
			continue;
		}
		check_state_dir(c, path, &st);
		check_tree_owners(&s, path, dirs[i].depth);
	}
}

/* ---- main ------------------------------------------------------------------ */

static void usage_error(const char *fmt, const char *arg) __attribute__((noreturn));

static void usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "mailpipe-check: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (%s)\n", usage_line);
	exit(EX_USAGE);
}

/* The servers' user: -u, else "mailpipe", else the state directory's owner. */
static void choose_user(struct check *c, const char *name)
{
	const struct passwd *pw;
	if (name) {
		if (!(pw = getpwnam(name)))
			usage_error("-u %s: no such user", name);
		who_from(&c->who, pw);
		return;
	}
	if ((pw = getpwnam(SERVERS_USER)) != NULL) {
		who_from(&c->who, pw);
		return;
	}
	struct stat st;
	if (c->conf.state[0] == '/' && stat(c->conf.state, &st) == 0) {
		c->who_is_state_owner = 1;
		who_from_uid(&c->who, st.st_uid);
	}
}

int main(int argc, char **argv)
{
	static struct check c;
	const char *user = NULL;
	int opt;
	opterr = 0;   /* one line of our own instead of getopt's */
	while ((opt = getopt(argc, argv, "hu:")) != -1) {
		switch (opt) {
		case 'h':
			printf("%s\n  checks the configuration in $MAILPIPE_CONF (default /etc/mailpipe) and the "
			       "state directory;\n  -u: the user the servers run as (default %s)\n",
			       usage_line, SERVERS_USER);
			return 0;
		case 'u':
			user = optarg;
			break;
		default: {
			char o[2] = { (char)optopt, '\0' };
			usage_error(optopt == 'u' ? "-%s needs a user name" : "unknown option -%s", o);
		}
		}
	}
	if (optind < argc)
		usage_error("unexpected argument \"%s\"", argv[optind]);

	const char *dir = conf_dir();
	conf_load_report(&c.conf, dir, report, NULL);
	snprintf(c.conf_path, sizeof c.conf_path, "%s/mailpipe.conf", c.conf.dir);
	snprintf(c.users_path, sizeof c.users_path, "%s/users", c.conf.dir);
	snprintf(c.aliases_path, sizeof c.aliases_path, "%s/aliases", c.conf.dir);
	snprintf(c.routes_path, sizeof c.routes_path, "%s/routes", c.conf.dir);
	snprintf(c.dkim_path, sizeof c.dkim_path, "%s/dkim", c.conf.dir);
	choose_user(&c, user);
	FILE *users = fopen(c.users_path, "r");
	c.users_unreadable = !users && errno != ENOENT;
	if (users)
		fclose(users);
	if (c.conf.dir[0] && check_conf_dir(&c)) {
		static const char *const files[] = {
			"mailpipe.conf", "domains", "aliases", "relay-clients", "routes", "dkim",
		};
		for (size_t i = 0; i < sizeof files / sizeof *files; i++)
			check_conf_file(&c, files[i], NULL);
		check_conf_file(&c, "users", "the password hashes");
		check_conf_file(&c, "secrets", NULL);   /* routes_load wants 0600 */
		routes_load(&c.conf, &c.routes);
		check_main_conf(&c);
		check_tls(&c);
		check_domains(&c);
		check_users(&c);
		check_aliases(&c);
		check_relay_clients(&c);
		check_routes(&c);
		check_dkim(&c);
		check_state(&c);
	}
	size_t n = print_problems();
	if (n == 0 && c.who_is_state_owner)
		printf("mailpipe-check: %s: no problems (there is no user %s: checked for %s, the owner of "
		       "the state directory)\n", dir, SERVERS_USER, c.who.name);
	else if (n == 0)
		printf("mailpipe-check: %s: no problems\n", dir);
	else
		printf("mailpipe-check: %s: %zu problem%s\n", dir, n, n == 1 ? "" : "s");
	routes_free(&c.routes);
	conf_free(&c.conf);
	for (size_t i = 0; i < c.nkeys; i++)
		free(c.keys[i].name);
	free(c.keys);
	for (size_t i = 0; i < nproblems; i++) {
		free(problems[i].path);
		free(problems[i].text);
	}
	free(problems);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	return n ? EX_CONFIG : 0;
}
