/* dns_txt.h - DNS for the checks of incoming mail (SPF, DKIM, DMARC), all
 * under one deadline: a slow or silent DNS server costs at most the budget,
 * never the session (DESIGN.md: a DNS time-out gives temperror, never a 5xx).
 *
 * Our own queries (DKIM keys, DMARC records) wait at most what is left of the
 * budget; libspf2's resolver reads RES_OPTIONS, which dns_budget_start sets
 * so that one of its queries waits no longer than ours would. */
#ifndef MAILPIPE_DNS_TXT_H
#define MAILPIPE_DNS_TXT_H

#include <stddef.h>

enum dns_status {
	DNS_FOUND,      /* at least one record */
	DNS_NONE,       /* NXDOMAIN, or the name has no such record */
	DNS_TEMP,       /* SERVFAIL, a time-out, the budget spent: try later */
};

/* Starts the budget: every query must end within seconds from now.  Call
 * before the first query of the process (RES_OPTIONS is read once). */
void dns_budget_start(unsigned seconds);
/* Seconds left, 0 when spent. */
double dns_budget_left(void);

/* One query; the whole reply whatever its rcode (length), or -1 when no
 * reply came in time or the budget is spent. */
int dns_query(const char *name, int type, unsigned char *answer, int size);

/* The TXT records of name whose text starts with prefix (case-insensitive;
 * "" for all), each record's strings joined.  DNS_FOUND with the first in
 * out and how many matched in *count. */
enum dns_status dns_txt(const char *name, const char *prefix, char *out, size_t size,
			int *count);

#endif
