/* conf.c - read the configuration directory.
 *
 * Every file is "one entry a line", blank lines and "#" comments ignored.  A
 * missing file means "empty" (or defaults, for mailpipe.conf); a malformed
 * line is an error naming file and line, so the operator can fix it at once.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONF_ENTRIES_MAX 1000000   /* bound on lines taken from one file */

static int vfail(struct conf_line *ctx, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	snprintf(ctx->conf->error, sizeof ctx->conf->error, "%.500s:%u: %.500s",
		 ctx->path, ctx->lineno, msg);
	if (ctx->conf->report)
		ctx->conf->report(ctx->conf->report_arg, ctx->path, ctx->lineno, msg);
	return -1;
}

static int fail(struct conf_line *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(ctx, fmt, ap);
	va_end(ap);
	return -1;
}

int conf_line_error(struct conf_line *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfail(ctx, fmt, ap);
	va_end(ap);
	return -1;
}

static int fail_oom(struct conf_line *ctx)
{
	return fail(ctx, "out of memory");
}

const char *conf_dir(void)
{
	/* secure_getenv: a set-group-id mail-store (sendmail for local users)
	 * must not read a configuration its caller chose */
	const char *dir = secure_getenv("MAILPIPE_CONF");
	return dir && *dir ? dir : "/etc/mailpipe";
}

void conf_lowercase(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Strips a comment ("#" at the start or after white space) and the white
 * space around the line; returns the trimmed line. */
static char *trim_line(char *line)
{
	for (char *p = line; *p; p++) {
		if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	while (isspace((unsigned char)*line))
		line++;
	size_t len = strlen(line);
	while (len && isspace((unsigned char)line[len - 1]))
		line[--len] = '\0';
	return line;
}

int conf_read_file(struct conf *conf, const char *name, conf_line_fn fn, void *arg, int *existed)
{
	char path[2048];
	snprintf(path, sizeof path, "%s/%s", conf->dir, name);
	struct conf_line ctx = { conf, path, 0, arg };
	FILE *fp = fopen(path, "r");
	if (existed)
		*existed = fp != NULL;
	if (!fp) {
		if (errno == ENOENT)
			return 0;
		return fail(&ctx, "cannot open: %s", strerror(errno));
	}
	char buf[CONF_LINE_MAX + 2];
	int rc = 0, bad_line = 0;
	while (rc == 0 && fgets(buf, sizeof buf, fp)) {
		ctx.lineno++;
		size_t len = strlen(buf);
		if (len == sizeof buf - 1 && buf[len - 1] != '\n')
			rc = fail(&ctx, "line longer than %d characters", CONF_LINE_MAX);
		else if (ctx.lineno > CONF_ENTRIES_MAX)
			rc = fail(&ctx, "more than %d lines", CONF_ENTRIES_MAX);
		else if (memchr(buf, '\0', len) != NULL || strlen(buf) != len)
			rc = fail(&ctx, "NUL byte in line");
		else {
			char *line = trim_line(buf);
			if (*line && fn(&ctx, line) < 0) {
				if (conf->report)
					bad_line = 1;   /* reporting every problem: on to the next line */
				else
					rc = -1;
			}
		}
	}
	if (rc == 0 && ferror(fp))
		rc = fail(&ctx, "read error: %s", strerror(errno));
	fclose(fp);
	return bad_line ? -1 : rc;
}

/* ---- mailpipe.conf ---------------------------------------------------- */

/* field points into struct conf; size is its size (for strings). */
typedef int (*value_fn)(struct conf_line *ctx, const char *key, const char *value,
			void *field, size_t size);

static int set_string(struct conf_line *ctx, const char *key, const char *value,
		      void *field, size_t size)
{
	if (strlen(value) >= size)
		return fail(ctx, "%s: value too long", key);
	strcpy(field, value);
	return 0;
}

static int parse_unsigned(const char *value, unsigned long long max, unsigned long long *out)
{
	if (!isdigit((unsigned char)*value))
		return -1;
	errno = 0;
	char *end;
	unsigned long long n = strtoull(value, &end, 10);
	if (errno || *end || n > max)
		return -1;
	*out = n;
	return 0;
}

static int set_size(struct conf_line *ctx, const char *key, const char *value,
		    void *field, size_t size)
{
	(void)size;
	unsigned long long n;
	if (parse_unsigned(value, 1ULL << 40, &n) < 0 || n < 1024)
		return fail(ctx, "%s: expected a number of bytes from 1024 up, not \"%s\"", key, value);
	*(uint64_t *)field = n;
	return 0;
}

static int set_count(struct conf_line *ctx, const char *key, const char *value,
		     void *field, size_t size)
{
	(void)size;
	unsigned long long n;
	/* 4096: the most recipients mail-store takes on its command line */
	if (parse_unsigned(value, CONF_RCPT_MAX, &n) < 0 || n < 1)
		return fail(ctx, "%s: expected a number from 1 to %d, not \"%s\"", key, CONF_RCPT_MAX,
			    value);
	*(unsigned *)field = (unsigned)n;
	return 0;
}

long conf_parse_duration(const char *text)
{
	static const struct { char suffix; long factor; } units[] = {
		{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 'w', 604800 },
	};
	if (!isdigit((unsigned char)*text))
		return -1;
	errno = 0;
	char *end;
	long n = strtol(text, &end, 10);
	if (errno || n < 0 || n > 100L * 365 * 86400)
		return -1;
	if (*end == '\0')
		return n;
	if (end[1] != '\0')
		return -1;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
		if (*end == units[i].suffix)
			return n * units[i].factor;
	return -1;
}

static int set_seconds(struct conf_line *ctx, const char *key, const char *value,
		       void *field, size_t size)
{
	(void)size;
	long n = conf_parse_duration(value);
	if (n < 1 || n > 100L * 365 * 86400)
		return fail(ctx, "%s: expected a duration such as 300, 30s, 5m, 1h or 5d, not \"%s\"",
			    key, value);
	if (strcmp(key, "timeout") == 0) {
		if (n > 86400)
			return fail(ctx, "%s: at most one day", key);
		*(unsigned *)field = (unsigned)n;
	} else {
		*(unsigned long *)field = (unsigned long)n;
	}
	return 0;
}

static int set_log(struct conf_line *ctx, const char *key, const char *value,
		   void *field, size_t size)
{
	(void)size;
	if (strcmp(value, "info") == 0)
		*(int *)field = 0;
	else if (strcmp(value, "debug") == 0)
		*(int *)field = 1;
	else
		return fail(ctx, "%s: expected info or debug, not \"%s\"", key, value);
	return 0;
}

static int set_yesno(struct conf_line *ctx, const char *key, const char *value,
		     void *field, size_t size)
{
	(void)size;
	if (strcmp(value, "yes") == 0)
		*(int *)field = 1;
	else if (strcmp(value, "no") == 0)
		*(int *)field = 0;
	else
		return fail(ctx, "%s: expected yes or no, not \"%s\"", key, value);
	return 0;
}

#define FIELD(name) offsetof(struct conf, name), sizeof(((struct conf *)0)->name)
static const struct conf_key {
	const char *name;
	value_fn set;
	size_t offset;
	size_t size;
} conf_keys[] = {
	{ "hostname",       set_string,  FIELD(hostname) },
	{ "state",          set_string,  FIELD(state) },
	{ "max_size",       set_size,    FIELD(max_size) },
	{ "max_rcpt",       set_count,   FIELD(max_rcpt) },
	{ "timeout",        set_seconds, FIELD(timeout) },
	{ "tls_cert",       set_string,  FIELD(tls_cert) },
	{ "tls_key",        set_string,  FIELD(tls_key) },
	{ "queue_lifetime", set_seconds, FIELD(queue_lifetime) },
	{ "log",            set_log,     FIELD(log_debug) },
	{ "notify_nntp",    set_string,  FIELD(notify_nntp) },
	{ "notify_group",   set_string,  FIELD(notify_group) },
	{ "dmarc_reject",   set_yesno,   FIELD(dmarc_reject) },
	{ "pop3_plaintext_loopback", set_yesno, FIELD(pop3_plaintext_loopback) },
};

static int conf_key_line(struct conf_line *ctx, char *line)
{
	char *value = line + strcspn(line, " \t=");
	if (*value) {
		*value++ = '\0';
		value += strspn(value, " \t=");
	}
	if (!*value)
		return fail(ctx, "%s: missing value", line);
	for (size_t i = 0; i < sizeof conf_keys / sizeof conf_keys[0]; i++)
		if (strcmp(line, conf_keys[i].name) == 0)
			return conf_keys[i].set(ctx, line, value, (char *)ctx->conf + conf_keys[i].offset,
					       conf_keys[i].size);
	return fail(ctx, "unknown key \"%s\"", line);
}

static void set_defaults(struct conf *conf)
{
	if (gethostname(conf->hostname, sizeof conf->hostname) < 0)
		strcpy(conf->hostname, "localhost");
	conf->hostname[sizeof conf->hostname - 1] = '\0';
	strcpy(conf->state, "/var/lib/mailpipe");
	conf->max_size = 26214400;
	conf->max_rcpt = 100;
	conf->timeout = 300;
	conf->queue_lifetime = 5 * 86400;
	strcpy(conf->notify_group, "local.mail");
}

/* ---- domains, users, aliases, relay-clients ------------------------- */

static int valid_domain(const char *d)
{
	size_t len = strlen(d);
	if (len == 0 || len > 253 || d[0] == '.' || d[0] == '-' || d[len - 1] == '.')
		return 0;
	for (const char *p = d; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!(isalnum(c) || c == '-' || c == '.' || c >= 0x80))
			return 0;
		if (c == '.' && p[1] == '.')
			return 0;
	}
	return 1;
}

/* An address we can turn into a mailbox path: local@domain, the local part
 * free of '/' and not "." or "..". */
int conf_valid_mailbox_address(const char *a)
{
	const char *at = strrchr(a, '@');
	if (!at || at == a || at - a > 64 || strlen(a) >= CONF_ADDR_MAX)
		return 0;
	if (!valid_domain(at + 1))
		return 0;
	for (const char *p = a; p < at; p++)
		if (*p == '/' || (unsigned char)*p <= ' ' || *p == ':' || *p == ',')
			return 0;
	size_t llen = (size_t)(at - a);
	if ((llen == 1 && a[0] == '.') || (llen == 2 && a[0] == '.' && a[1] == '.'))
		return 0;
	return 1;
}

static int push(void **array, size_t *n, size_t size, const void *item)
{
	if (*n % 64 == 0) {
		void *grown = realloc(*array, (*n + 64) * size);
		if (!grown)
			return -1;
		*array = grown;
	}
	memcpy((char *)*array + *n * size, item, size);
	(*n)++;
	return 0;
}

static int domain_line(struct conf_line *ctx, char *line)
{
	conf_lowercase(line);
	if (!valid_domain(line))
		return fail(ctx, "\"%s\" is not a domain name", line);
	char *copy = strdup(line);
	if (!copy || push((void **)&ctx->conf->domains, &ctx->conf->ndomains, sizeof copy, &copy) < 0) {
		free(copy);
		return fail_oom(ctx);
	}
	return 0;
}

static int user_line(struct conf_line *ctx, char *line)
{
	char *colon = strchr(line, ':');
	if (!colon)
		return fail(ctx, "expected address:hash");
	*colon = '\0';
	char *hash = colon + 1;
	trim_line(line);
	conf_lowercase(line);
	if (!conf_valid_mailbox_address(line))
		return fail(ctx, "\"%s\" is not a usable mailbox address", line);
	if (!*hash || strpbrk(hash, " \t:"))
		return fail(ctx, "%s: missing or malformed password hash", line);
	struct conf_user u = { strdup(line), ctx->lineno, strdup(hash) };
	if (!u.address || !u.hash ||
	    push((void **)&ctx->conf->users, &ctx->conf->nusers, sizeof u, &u) < 0) {
		free(u.address);
		free(u.hash);
		return fail_oom(ctx);
	}
	return 0;
}

/* Adds one alias target; a bare local part means "in the alias's domain". */
static int add_alias_target(struct conf_line *ctx, struct conf_alias *alias, char *target)
{
	char full[CONF_ADDR_MAX];
	const char *domain = strrchr(alias->address, '@') + 1;
	if (strchr(target, '@'))
		snprintf(full, sizeof full, "%s", target);
	else
		snprintf(full, sizeof full, "%s@%s", target, domain);
	conf_lowercase(full);
	if (!conf_valid_mailbox_address(full))
		return fail(ctx, "%s: target \"%s\" is not an address", alias->address, target);
	char *copy = strdup(full);
	if (!copy || push((void **)&alias->targets, &alias->ntargets, sizeof copy, &copy) < 0) {
		free(copy);
		return fail_oom(ctx);
	}
	return 0;
}

static void free_alias(struct conf_alias *a)
{
	for (size_t i = 0; i < a->ntargets; i++)
		free(a->targets[i]);
	free(a->targets);
	free(a->address);
}

static int alias_line(struct conf_line *ctx, char *line)
{
	char *colon = strchr(line, ':');
	if (!colon)
		return fail(ctx, "expected \"address: target, target...\"");
	*colon = '\0';
	char *name = trim_line(line);
	conf_lowercase(name);
	int catch_all = name[0] == '@';
	if (catch_all ? !valid_domain(name + 1) : !conf_valid_mailbox_address(name))
		return fail(ctx, "\"%s\" is not an address or @domain", name);
	struct conf_alias alias = { strdup(name), ctx->lineno, NULL, 0 };
	if (!alias.address)
		return fail_oom(ctx);
	int rc = 0;
	char *save = NULL;
	for (char *t = strtok_r(colon + 1, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save)) {
		t = trim_line(t);
		if (*t)
			rc = add_alias_target(ctx, &alias, t);
	}
	if (rc == 0 && alias.ntargets == 0)
		rc = fail(ctx, "%s: no targets", name);
	if (rc == 0 && push((void **)&ctx->conf->aliases, &ctx->conf->naliases, sizeof alias, &alias) < 0)
		rc = fail_oom(ctx);
	if (rc != 0)
		free_alias(&alias);
	return rc;
}

static int relay_line(struct conf_line *ctx, char *line)
{
	struct cidr net;
	if (cidr_parse(line, &net) < 0)
		return fail(ctx, "\"%s\" is not an IPv4 or IPv6 network", line);
	if (push((void **)&ctx->conf->relay_clients, &ctx->conf->nrelay_clients, sizeof net, &net) < 0)
		return fail_oom(ctx);
	return 0;
}

static int cmp_user(const void *a, const void *b)
{
	return strcmp(((const struct conf_user *)a)->address, ((const struct conf_user *)b)->address);
}

static int cmp_alias(const void *a, const void *b)
{
	return strcmp(((const struct conf_alias *)a)->address, ((const struct conf_alias *)b)->address);
}

/* The common start of struct conf_user and struct conf_alias. */
struct conf_entry {
	char *address;
	unsigned line;
};

/* Sorts a table and refuses duplicates, which would make lookups ambiguous. */
static int sort_unique(struct conf *conf, const char *file, void *base, size_t n, size_t size,
		       int (*cmp)(const void *, const void *))
{
	if (n == 0)
		return 0;   /* qsort(NULL, 0, ...) is undefined */
	qsort(base, n, size, cmp);
#define ENTRY(i) ((const struct conf_entry *)(const void *)((char *)base + (i) * size))
	int rc = 0;
	for (size_t start = 0, end; start < n; start = end) {
		/* a run of equal addresses: each but the first line is a duplicate */
		unsigned first = ENTRY(start)->line;
		for (end = start + 1; end < n && strcmp(ENTRY(end)->address, ENTRY(start)->address) == 0; end++)
			if (ENTRY(end)->line < first)
				first = ENTRY(end)->line;
		for (size_t i = start; i < end; i++) {
			if (ENTRY(i)->line == first)
				continue;
			char path[640], msg[256];
			snprintf(path, sizeof path, "%.600s/%s", conf->dir, file);
			snprintf(msg, sizeof msg, "\"%.200s\" is listed twice (first on line %u)",
				 ENTRY(i)->address, first);
			snprintf(conf->error, sizeof conf->error, "%.640s:%u: %.256s", path, ENTRY(i)->line, msg);
			rc = -1;
			if (!conf->report)
				return -1;
			conf->report(conf->report_arg, path, ENTRY(i)->line, msg);
		}
	}
#undef ENTRY
	return rc;
}

static void default_relay_clients(struct conf *conf)
{
	/* absent relay-clients: loopback only */
	struct cidr v4, v6;
	if (cidr_parse("127.0.0.0/8", &v4) == 0 && cidr_parse("::1/128", &v6) == 0) {
		conf->relay_clients = calloc(2, sizeof *conf->relay_clients);
		if (conf->relay_clients) {
			conf->relay_clients[0] = v4;
			conf->relay_clients[1] = v6;
			conf->nrelay_clients = 2;
		}
	}
}

int conf_load(struct conf *conf, const char *dir)
{
	return conf_load_report(conf, dir, NULL, NULL);
}

int conf_load_report(struct conf *conf, const char *dir, conf_report_fn report, void *arg)
{
	memset(conf, 0, sizeof *conf);
	conf->report = report;
	conf->report_arg = arg;
	if (strlen(dir) >= sizeof conf->dir) {
		snprintf(conf->error, sizeof conf->error, "%.100s...: directory name too long", dir);
		if (report)
			report(arg, dir, 0, "directory name too long");
		return -1;
	}
	strcpy(conf->dir, dir);
	set_defaults(conf);
	/* the first problem stops the loading, unless every one is reported */
	int bad = conf_read_file(conf, "mailpipe.conf", conf_key_line, NULL, NULL) < 0;
	if (!bad || report)
		bad |= conf_read_file(conf, "domains", domain_line, NULL, NULL) < 0;
	if (!bad || report)
		bad |= conf_read_file(conf, "users", user_line, NULL, NULL) < 0;
	if (!bad || report)
		bad |= conf_read_file(conf, "aliases", alias_line, NULL, NULL) < 0;
	if (!bad || report)
		bad |= conf_read_file(conf, "relay-clients", relay_line, NULL,
				      &conf->have_relay_clients_file) < 0;
	if (!bad || report)
		bad |= sort_unique(conf, "users", conf->users, conf->nusers, sizeof *conf->users,
				   cmp_user) < 0;
	if (!bad || report)
		bad |= sort_unique(conf, "aliases", conf->aliases, conf->naliases, sizeof *conf->aliases,
				   cmp_alias) < 0;
	if (bad)
		return -1;
	if (!conf->have_relay_clients_file)
		default_relay_clients(conf);
	return 0;
}

void conf_free(struct conf *conf)
{
	for (size_t i = 0; i < conf->ndomains; i++)
		free(conf->domains[i]);
	free(conf->domains);
	for (size_t i = 0; i < conf->nusers; i++) {
		free(conf->users[i].address);
		free(conf->users[i].hash);
	}
	free(conf->users);
	for (size_t i = 0; i < conf->naliases; i++)
		free_alias(&conf->aliases[i]);
	free(conf->aliases);
	free(conf->relay_clients);
	memset(conf, 0, sizeof *conf);
}

int conf_is_local_domain(const struct conf *conf, const char *domain)
{
	for (size_t i = 0; i < conf->ndomains; i++)
		if (strcasecmp(conf->domains[i], domain) == 0)
			return 1;
	return 0;
}

/* bsearch key: the table entries start with their address pointer */
static int cmp_key(const void *key, const void *entry)
{
	return strcmp(key, *(char *const *)entry);
}

const struct conf_user *conf_find_user(const struct conf *conf, const char *address)
{
	char key[CONF_ADDR_MAX];
	if (strlen(address) >= sizeof key || !conf->nusers)
		return NULL;
	strcpy(key, address);
	conf_lowercase(key);
	return bsearch(key, conf->users, conf->nusers, sizeof *conf->users, cmp_key);
}

const struct conf_alias *conf_find_alias(const struct conf *conf, const char *address)
{
	char key[CONF_ADDR_MAX];
	if (strlen(address) >= sizeof key || !conf->naliases)
		return NULL;
	strcpy(key, address);
	conf_lowercase(key);
	return bsearch(key, conf->aliases, conf->naliases, sizeof *conf->aliases, cmp_key);
}

int conf_is_relay_client(const struct conf *conf, const char *client)
{
	return cidr_list_match(conf->relay_clients, conf->nrelay_clients, client);
}
