/* dkim_conf.h - the dkim file of the configuration directory:
 * "DOMAIN SELECTOR KEYFILE" lines, the keys outgoing mail is signed with
 * (DESIGN.md, Authentication of mail).  A relative KEYFILE is relative to
 * the configuration directory. */
#ifndef MAILPIPE_DKIM_CONF_H
#define MAILPIPE_DKIM_CONF_H

#include <stddef.h>

#include "conf.h"

#define DKIM_DOMAIN_MAX 256
#define DKIM_SELECTOR_MAX 64
#define DKIM_KEYFILE_MAX 1024
#define DKIM_KEYS_PER_DOMAIN 4   /* a domain signs with at most this many keys */

struct dkim_key_entry {
	char domain[DKIM_DOMAIN_MAX];     /* lowercased */
	char selector[DKIM_SELECTOR_MAX];
	char keyfile[DKIM_KEYFILE_MAX];   /* absolute */
	unsigned line;
};

struct dkim_conf {
	struct dkim_key_entry *keys;
	size_t nkeys;
};

/* Reads conf->dir/dkim (absent: no keys); 0, or -1 with conf->error set
 * (a malformed line, a selector or domain that is not a DNS name, the same
 * domain and selector twice, too many keys for one domain).  With
 * conf->report set every problem is reported. */
int dkim_conf_load(struct conf *conf, struct dkim_conf *dc);
void dkim_conf_free(struct dkim_conf *dc);

/* The keys for a From: domain (lowercase): its own lines, else those of the
 * nearest parent domain listed (relaxed DMARC alignment covers them).
 * Returns how many were put in out (at most DKIM_KEYS_PER_DOMAIN). */
size_t dkim_conf_find(const struct dkim_conf *dc, const char *domain,
		      const struct dkim_key_entry **out);

/* Is text a DNS name we accept as a domain or selector: labels of letters,
 * digits, '-' and '_', 1 to 63 octets, dot-separated, no empty label? */
int dkim_valid_dns_name(const char *text, size_t max);

#endif
