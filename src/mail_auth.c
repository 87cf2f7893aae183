/* mail_auth.c - the Authentication-Results field (RFC 8601) from the SPF,
 * DKIM and DMARC checks, and the foreign ones that claim our name. */
#include "mail_auth.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth_parts.h"
#include "dkim_sign.h"
#include "dns_txt.h"
#include "head_scan.h"

struct writer {
	char *buf;
	size_t size, len;
};

static void put(struct writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct writer *w, const char *fmt, ...)
{
	if (w->len >= w->size)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(w->buf + w->len, w->size - w->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->len = w->len + (size_t)n < w->size ? w->len + (size_t)n : w->size - 1;
}

/* A property value as RFC 8601 allows it: the text when it is made of safe
 * characters, else a quoted-string (what comes from the message or the
 * client is never trusted to be a token). */
static const char *pvalue(const char *text, char *out, size_t size)
{
	size_t n = 0;
	int plain = *text != '\0';
	for (const unsigned char *p = (const unsigned char *)text; *p && plain; p++)
		plain = isalnum(*p) || strchr(".-_@+=/", *p) || *p >= 0x80;
	if (plain) {
		snprintf(out, size, "%.250s", text);
		return out;
	}
	out[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)text; *p && n + 4 < size && n < 250; p++) {
		if (*p < ' ' || *p == 0x7f)
			continue;
		if (*p == '"' || *p == '\\')
			out[n++] = '\\';
		out[n++] = (char)*p;
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}

static void put_spf(struct writer *w, const struct auth_request *rq, const struct spf_part *spf)
{
	char v[300];
	if (spf->mailfrom_checked)
		put(w, ";\n\tspf=%s smtp.mailfrom=%s", spf->mailfrom_result,
		    pvalue(rq->mail_from, v, sizeof v));
	if (spf->helo_checked)
		put(w, ";\n\tspf=%s smtp.helo=%s", spf->helo_result, pvalue(rq->helo, v, sizeof v));
}

static void put_dkim(struct writer *w, const struct dkim_part *dkim)
{
	char d[300], s[300], b[40];
	if (dkim->n == 0)
		put(w, ";\n\tdkim=none");
	for (size_t i = 0; i < dkim->n; i++) {
		const struct dkim_signature *sig = &dkim->sigs[i];
		put(w, ";\n\tdkim=%s", sig->result);
		if (sig->reason[0])
			put(w, " (%s)\n\t", sig->reason);
		put(w, " header.d=%s header.s=%s", pvalue(sig->domain, d, sizeof d),
		    pvalue(sig->selector, s, sizeof s));
		if (sig->algorithm[0])
			put(w, " header.a=%s", sig->algorithm);
		if (sig->b[0])
			put(w, " header.b=%s", pvalue(sig->b, b, sizeof b));
	}
	/* A reader must not take the results for all there were. */
	if (dkim->more)
		put(w, " (only the first %u DKIM signatures were checked)", AUTH_DKIM_MAX);
}

static void put_dmarc(struct writer *w, const char *from_domain, const struct dmarc_part *dmarc)
{
	char v[300];
	put(w, ";\n\tdmarc=%s", dmarc->result);
	if (dmarc->policy[0])
		put(w, " (p=%s dis=none)", dmarc->policy);   /* a refused one gets no field */
	else if (dmarc->reason[0])
		put(w, " (%s)", dmarc->reason);
	if (*from_domain)
		put(w, " header.from=%s", pvalue(from_domain, v, sizeof v));
}

#define FROM_DOMAINS_MAX 4   /* distinct From: domains judged by DMARC */

struct from_domains {
	char domain[FROM_DOMAINS_MAX][256];
	size_t n;                 /* further domains are not judged */
};

static void add_domain(struct from_domains *fd, const char *address)
{
	char domain[256];
	if (dkim_from_domain(address, domain, sizeof domain) < 0)
		return;
	for (size_t i = 0; i < fd->n; i++)
		if (strcmp(fd->domain[i], domain) == 0)
			return;
	if (fd->n < FROM_DOMAINS_MAX)
		memcpy(fd->domain[fd->n++], domain, sizeof domain);
}

/* Each address of a From: value: split at the commas that are outside
 * quoted strings, comments and angle brackets. */
static void add_addresses(struct from_domains *fd, char *value)
{
	int quoted = 0, depth = 0, angle = 0;
	char *start = value;
	for (char *p = value;; p++) {
		if (*p == '\\' && p[1] && (quoted || depth))
			p++;
		else if (*p == '"' && !depth)
			quoted = !quoted;
		else if (!quoted && *p == '(')
			depth++;
		else if (!quoted && *p == ')' && depth)
			depth--;
		else if (!quoted && !depth && (*p == '<' || *p == '>'))
			angle = *p == '<';
		else if (*p == '\0' || (*p == ',' && !quoted && !depth && !angle)) {
			char end = *p;
			*p = '\0';
			add_domain(fd, start);
			if (end == '\0')
				return;
			start = p + 1;
		}
	}
}

/* Every From: field: a second field or a second address must not hide a
 * domain whose policy fails (RFC 7489 6.6.1). */
static int find_from(void *arg, const struct head_field *field)
{
	static char value[HEAD_FIELD_MAX];
	if (head_field_is(field, "From")) {
		head_field_value(field, value, sizeof value);
		add_addresses(arg, value);
	}
	return 0;
}

/* The worse of two DMARC results, for the log: fail, temperror, permerror,
 * none, pass. */
static const char *worse(const char *a, const char *b)
{
	static const char *const order[] = { "fail", "temperror", "permerror", "none", "pass" };
	for (size_t i = 0; i < sizeof order / sizeof *order; i++)
		if (strcmp(a, order[i]) == 0 || strcmp(b, order[i]) == 0)
			return order[i];
	return a;
}

static void judge_dmarc(const struct auth_request *rq, const struct from_domains *fd,
			const struct spf_part *spf, const struct dkim_part *dkim, struct writer *w,
			struct auth_outcome *out)
{
	struct dmarc_part dmarc;
	const char *summary = "pass";
	if (fd->n == 0) {
		auth_dmarc(rq, "", spf, dkim, &dmarc);
		put_dmarc(w, "", &dmarc);
		summary = dmarc.result;
	}
	for (size_t i = 0; i < fd->n; i++) {
		auth_dmarc(rq, fd->domain[i], spf, dkim, &dmarc);
		put_dmarc(w, fd->domain[i], &dmarc);
		summary = worse(summary, dmarc.result);
		if (dmarc.reject && !out->dmarc_reject) {
			out->dmarc_reject = 1;
			snprintf(out->from_domain, sizeof out->from_domain, "%s", fd->domain[i]);
		}
	}
	if (!out->from_domain[0] && fd->n)
		snprintf(out->from_domain, sizeof out->from_domain, "%s", fd->domain[0]);
	snprintf(out->dmarc, sizeof out->dmarc, "%s", summary);
}

/* The log's dkim value: each signature's result, comma-separated. */
static void dkim_summary(const struct dkim_part *dkim, char *out, size_t size)
{
	struct writer w = { out, size, 0 };
	out[0] = '\0';
	if (dkim->n == 0)
		put(&w, "none");
	for (size_t i = 0; i < dkim->n; i++)
		put(&w, "%s%s", i ? "," : "", dkim->sigs[i].result);
}

void mail_auth_check(const struct auth_request *rq, struct auth_outcome *out)
{
	struct spf_part spf;
	struct dkim_part dkim;
	static struct from_domains from;
	memset(out, 0, sizeof *out);
	memset(&from, 0, sizeof from);
	dns_budget_start(rq->budget);
	if (head_scan(rq->fd, rq->off, find_from, &from) < 0)
		from.n = 0;
	auth_spf(rq, &spf);
	auth_dkim(rq, &dkim);
	struct writer w = { out->header, sizeof out->header, 0 };
	put(&w, "Authentication-Results: %s", rq->authserv_id);
	put_spf(&w, rq, &spf);
	put_dkim(&w, &dkim);
	judge_dmarc(rq, &from, &spf, &dkim, &w, out);
	put(&w, "\n");
	snprintf(out->spf, sizeof out->spf, "%s",
		 spf.mailfrom_checked ? spf.mailfrom_result
		 : spf.helo_checked ? spf.helo_result : "none");
	dkim_summary(&dkim, out->dkim, sizeof out->dkim);
}

/* ---- foreign fields claiming our name ---------------------------------- */

/* Skips blanks and (nested) comments: RFC 5322 CFWS. */
static const char *skip_cfws(const char *p)
{
	for (int depth = 0; *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (*p == '\\' && depth > 0 && p[1])
			p++;
		else if (depth == 0 && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			return p;
	}
	return p;
}

struct forged_scan {
	const char *authserv_id;
	struct spool_range *found;
	size_t max, n;
};

static int check_field(void *arg, const struct head_field *field)
{
	struct forged_scan *fs = arg;
	if (!head_field_is(field, "Authentication-Results"))
		return 0;
	const char *id = skip_cfws(field->text + field->name_len + 1);
	size_t len = 0;
	while (id[len] && !strchr(" \t\r\n;(", id[len]))
		len++;
	/* an id written as a quoted-string is compared without its quotes */
	const char *cmp = id;
	if (len >= 2 && id[0] == '"' && id[len - 1] == '"') {
		cmp++;
		len -= 2;
	}
	if (len == strlen(fs->authserv_id) && strncasecmp(cmp, fs->authserv_id, len) == 0) {
		if (fs->n < fs->max)
			fs->found[fs->n] = (struct spool_range){ field->offset, field->length };
		fs->n++;   /* counted past max: the caller must know there were more */
	}
	return 0;
}

int mail_auth_forged(int fd, off_t off, const char *authserv_id, struct spool_range *found,
		     size_t max)
{
	struct forged_scan fs = { authserv_id, found, max, 0 };
	if (head_scan(fd, off, check_field, &fs) < 0)
		return -1;
	return (int)fs.n;
}
