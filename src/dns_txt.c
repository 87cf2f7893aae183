/* dns_txt.c - bounded DNS queries with the resolver (res_nsend, ns_parse). */
#include "dns_txt.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DNS_ANSWER_MAX 8192
#define QUERY_SECONDS_MAX 5   /* one try at one server */

static struct timespec deadline;
static unsigned try_seconds = QUERY_SECONDS_MAX;
static struct __res_state res;
static int res_ready;

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dns_budget_start(unsigned seconds)
{
	if (seconds == 0)
		seconds = 1;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += seconds;
	/* a quarter of the budget per try: a silent server leaves time for
	 * the other lookups to fail fast once the budget is spent */
	try_seconds = seconds / 4;
	if (try_seconds < 1)
		try_seconds = 1;
	if (try_seconds > QUERY_SECONDS_MAX)
		try_seconds = QUERY_SECONDS_MAX;
	/* for libspf2's own resolver state (res_ninit reads it); the
	 * operator's options, if any, come after ours and win */
	static const char *old;   /* the operator's, read once: ours are not added twice */
	static int read_old;
	if (!read_old) {
		old = getenv("RES_OPTIONS");
		old = old ? strdup(old) : NULL;
		read_old = 1;
	}
	char options[256];
	snprintf(options, sizeof options, "timeout:%u attempts:1%s%s", try_seconds,
		 old ? " " : "", old ? old : "");
	setenv("RES_OPTIONS", options, 1);
}

double dns_budget_left(void)
{
	double left = (double)deadline.tv_sec + (double)deadline.tv_nsec / 1e9 - now_seconds();
	return left > 0 ? left : 0;
}

int dns_query(const char *name, int type, unsigned char *answer, int size)
{
	double left = dns_budget_left();
	if (left < 0.05)
		return -1;
	if (!res_ready) {
		if (res_ninit(&res) < 0)
			return -1;
		res_ready = 1;
	}
	/* glibc waits retrans seconds per try (at least 1): never past the
	 * deadline by more than that second */
	unsigned wait = (unsigned)left < try_seconds ? (unsigned)left : try_seconds;
	res.retrans = wait ? (int)wait : 1;
	res.retry = 1;
	unsigned char query[NS_PACKETSZ];
	int qlen = res_nmkquery(&res, ns_o_query, name, ns_c_in, type, NULL, 0, NULL, query,
				sizeof query);
	if (qlen < 0)
		return -1;
	return res_nsend(&res, query, qlen, answer, size);
}

/* One TXT record's character-strings, joined into out; -1 if it is not a
 * TXT record or does not fit. */
static int txt_text(const ns_rr *rr, char *out, size_t size)
{
	const unsigned char *p = ns_rr_rdata(*rr), *end = p + ns_rr_rdlen(*rr);
	size_t len = 0;
	while (p < end) {
		size_t n = *p++;
		if (n > (size_t)(end - p) || len + n >= size)
			return -1;
		memcpy(out + len, p, n);
		len += n;
		p += n;
	}
	out[len] = '\0';
	return (int)len;
}

enum dns_status dns_txt(const char *name, const char *prefix, char *out, size_t size, int *count)
{
	unsigned char answer[DNS_ANSWER_MAX];
	*count = 0;
	int len = dns_query(name, ns_t_txt, answer, sizeof answer);
	ns_msg msg;
	if (len < 0 || ns_initparse(answer, len, &msg) < 0)
		return DNS_TEMP;
	int rcode = ns_msg_getflag(msg, ns_f_rcode);
	if (rcode == ns_r_nxdomain)
		return DNS_NONE;
	if (rcode != ns_r_noerror || ns_msg_getflag(msg, ns_f_tc))
		return DNS_TEMP;
	char text[4096];
	size_t plen = strlen(prefix);
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		ns_rr rr;
		if (ns_parserr(&msg, ns_s_an, i, &rr) < 0)
			return DNS_TEMP;
		if (ns_rr_type(rr) != ns_t_txt || txt_text(&rr, text, sizeof text) < 0 ||
		    strncasecmp(text, prefix, plen) != 0)
			continue;
		if ((*count)++ == 0)
			snprintf(out, size, "%s", text);
	}
	return *count ? DNS_FOUND : DNS_NONE;
}
