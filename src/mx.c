/* mx.c - MX lookup with the resolver (res_nquery, ns_parse). */
#include "mx.h"

#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MX_ANSWER_MAX 65536

static int by_preference(const void *a, const void *b)
{
	const struct mx_host *x = a, *y = b;
	return (x->preference > y->preference) - (x->preference < y->preference);
}

/* RFC 5321 5.1: hosts of equal preference are tried in random order. */
static void shuffle_equal(struct mx_host *hosts, size_t n)
{
	qsort(hosts, n, sizeof *hosts, by_preference);
	for (size_t start = 0, end; start < n; start = end) {
		for (end = start + 1; end < n && hosts[end].preference == hosts[start].preference;)
			end++;
		for (size_t i = end - 1; i > start; i--) {
			size_t j = start + arc4random_uniform((unsigned)(i - start + 1));
			struct mx_host t = hosts[i];
			hosts[i] = hosts[j];
			hosts[j] = t;
		}
	}
}

/* Takes the MX records out of the answer; -1 when it does not parse. */
static int parse_answer(const unsigned char *answer, int len, struct mx_host *hosts, size_t max,
			size_t *n)
{
	ns_msg msg;
	if (ns_initparse(answer, len, &msg) < 0)
		return -1;
	int count = ns_msg_count(msg, ns_s_an);
	for (int i = 0; i < count && *n < max; i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return -1;
		if (ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3)
			continue;
		struct mx_host *h = &hosts[*n];
		h->preference = ns_get16(ns_rr_rdata(rr));
		if (dn_expand(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr) + 2, h->name,
			      sizeof h->name) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

static enum mx_result implicit_mx(const char *domain, struct mx_host *hosts, size_t *n)
{
	snprintf(hosts[0].name, sizeof hosts[0].name, "%s", domain);
	hosts[0].preference = 0;
	*n = 1;
	return MX_OK;
}

enum mx_result mx_lookup(const char *domain, unsigned timeout, struct mx_host *hosts,
			 size_t max, size_t *n, char *err, size_t errsize)
{
	*n = 0;
	struct __res_state res;
	memset(&res, 0, sizeof res);
	if (res_ninit(&res) < 0) {
		snprintf(err, errsize, "resolver cannot start");
		return MX_TEMP;
	}
	/* two tries per server, the whole lookup within the timeout */
	res.retry = 2;
	unsigned servers = res.nscount > 0 ? (unsigned)res.nscount : 1;
	unsigned per_try = timeout / (2 * servers);
	res.retrans = per_try < 1 ? 1 : per_try > 5 ? 5 : (int)per_try;
	static unsigned char answer[MX_ANSWER_MAX];
	int len = res_nquery(&res, domain, ns_c_in, ns_t_mx, answer, sizeof answer);
	int herr = res.res_h_errno;
	res_nclose(&res);
	if (len < 0) {
		switch (herr) {
		case HOST_NOT_FOUND:
			snprintf(err, errsize, "domain %s does not exist", domain);
			return MX_NO_DOMAIN;
		case NO_DATA:
			return implicit_mx(domain, hosts, n);
		default:
			snprintf(err, errsize, "MX lookup for %s failed: %s", domain, hstrerror(herr));
			return MX_TEMP;
		}
	}
	if (parse_answer(answer, len, hosts, max, n) < 0) {
		snprintf(err, errsize, "MX answer for %s does not parse", domain);
		return MX_TEMP;
	}
	if (*n == 0)   /* an answer with no MX in it (a CNAME chain, say) */
		return implicit_mx(domain, hosts, n);
	/* RFC 7505: one record "0 ." says the domain takes no mail */
	for (size_t i = 0; i < *n; i++)
		if (hosts[i].name[0] == '\0' || strcmp(hosts[i].name, ".") == 0) {
			snprintf(err, errsize, "%s has a null MX: it accepts no mail", domain);
			return MX_NULL;
		}
	shuffle_equal(hosts, *n);
	return MX_OK;
}
