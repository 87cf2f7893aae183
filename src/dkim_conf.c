/* dkim_conf.c - the dkim file. */
#include "dkim_conf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DKIM_KEYS_MAX 10000   /* lines in the file */

int dkim_valid_dns_name(const char *text, size_t max)
{
	size_t len = strlen(text), label = 0;
	if (len == 0 || len >= max)
		return 0;
	for (const char *p = text; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_') {
			if (++label > 63)
				return 0;
		} else {
			return 0;
		}
	}
	return label > 0;
}

static int count_domain(const struct dkim_conf *dc, const char *domain)
{
	int n = 0;
	for (size_t i = 0; i < dc->nkeys; i++)
		n += strcmp(dc->keys[i].domain, domain) == 0;
	return n;
}

static int check_entry(struct conf_line *where, const struct dkim_conf *dc,
		       const struct dkim_key_entry *e)
{
	if (!dkim_valid_dns_name(e->domain, sizeof e->domain))
		return conf_line_error(where, "bad domain \"%s\"", e->domain);
	if (!dkim_valid_dns_name(e->selector, sizeof e->selector))
		return conf_line_error(where, "bad selector \"%s\"", e->selector);
	for (size_t i = 0; i < dc->nkeys; i++)
		if (strcmp(dc->keys[i].domain, e->domain) == 0 &&
		    strcasecmp(dc->keys[i].selector, e->selector) == 0)
			return conf_line_error(where, "selector %s of %s already on line %u",
					       e->selector, e->domain, dc->keys[i].line);
	if (count_domain(dc, e->domain) >= DKIM_KEYS_PER_DOMAIN)
		return conf_line_error(where, "more than %d keys for %s", DKIM_KEYS_PER_DOMAIN,
				       e->domain);
	return 0;
}

/* KEYFILE, made absolute against the configuration directory. */
static int set_keyfile(struct conf_line *where, struct dkim_key_entry *e, const char *file)
{
	int n = file[0] == '/' ? snprintf(e->keyfile, sizeof e->keyfile, "%s", file)
			       : snprintf(e->keyfile, sizeof e->keyfile, "%s/%s",
					  where->conf->dir, file);
	if (n < 0 || (size_t)n >= sizeof e->keyfile)
		return conf_line_error(where, "key file name too long");
	return 0;
}

static int dkim_line(struct conf_line *where, char *line)
{
	struct dkim_conf *dc = where->arg;
	char *save = NULL;
	char *domain = strtok_r(line, " \t", &save);
	char *selector = strtok_r(NULL, " \t", &save);
	char *file = strtok_r(NULL, " \t", &save);
	if (!domain || !selector || !file || strtok_r(NULL, " \t", &save))
		return conf_line_error(where, "expected \"DOMAIN SELECTOR KEYFILE\"");
	if (dc->nkeys >= DKIM_KEYS_MAX)
		return conf_line_error(where, "more than %d keys", DKIM_KEYS_MAX);
	struct dkim_key_entry e = { .line = where->lineno };
	snprintf(e.domain, sizeof e.domain, "%s", domain);
	snprintf(e.selector, sizeof e.selector, "%s", selector);
	if (strlen(domain) >= sizeof e.domain || strlen(selector) >= sizeof e.selector)
		return conf_line_error(where, "domain or selector too long");
	conf_lowercase(e.domain);
	if (check_entry(where, dc, &e) < 0 || set_keyfile(where, &e, file) < 0)
		return -1;
	struct dkim_key_entry *grown = realloc(dc->keys, (dc->nkeys + 1) * sizeof *grown);
	if (!grown)
		return conf_line_error(where, "out of memory");
	dc->keys = grown;
	dc->keys[dc->nkeys++] = e;
	return 0;
}

int dkim_conf_load(struct conf *conf, struct dkim_conf *dc)
{
	dc->keys = NULL;
	dc->nkeys = 0;
	return conf_read_file(conf, "dkim", dkim_line, dc, NULL);
}

void dkim_conf_free(struct dkim_conf *dc)
{
	free(dc->keys);
	dc->keys = NULL;
	dc->nkeys = 0;
}

size_t dkim_conf_find(const struct dkim_conf *dc, const char *domain,
		      const struct dkim_key_entry **out)
{
	/* the domain itself, then each parent: "a.b.example", "b.example", ... */
	for (const char *d = domain; d && *d; d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL) {
		size_t n = 0;
		for (size_t i = 0; i < dc->nkeys && n < DKIM_KEYS_PER_DOMAIN; i++)
			if (strcmp(dc->keys[i].domain, d) == 0)
				out[n++] = &dc->keys[i];
		if (n)
			return n;
	}
	return 0;
}
