/* auth_dkim.c - DKIM verification (RFC 6376) with libopendkim; its key
 * queries go through dns_query, under the budget. */
#include "auth_parts.h"

#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <opendkim/dkim.h>

#include "dns_txt.h"
#include "fsutil.h"

/* ---- libopendkim's DNS service: one synchronous query per key ---- */

struct key_query {
	int len;   /* the reply's length, -1 when none came */
};

static int query_start(void *service, int type, unsigned char *name, unsigned char *buf,
		       size_t size, void **handle)
{
	(void)service;
	struct key_query *q = malloc(sizeof *q);
	if (!q)
		return -1;
	q->len = dns_query((const char *)name, type, buf, size > 65535 ? 65535 : (int)size);
	/* a SERVFAIL reply must not read as "no key": only NOERROR and
	 * NXDOMAIN are answers, anything else is a temporary failure */
	if (q->len >= (int)sizeof(HEADER)) {
		int rcode = buf[3] & 0x0f;
		if (rcode != ns_r_noerror && rcode != ns_r_nxdomain)
			q->len = -1;
	} else {
		q->len = -1;
	}
	*handle = q;
	return 0;
}

static int query_cancel(void *service, void *handle)
{
	(void)service;
	free(handle);
	return DKIM_DNS_SUCCESS;
}

static int query_wait(void *service, void *handle, struct timeval *timeout, size_t *len,
		      int *error, int *dnssec)
{
	(void)service, (void)timeout;
	const struct key_query *q = handle;
	if (error)
		*error = 0;
	if (dnssec)
		*dnssec = DKIM_DNSSEC_UNKNOWN;
	if (q->len < 0)
		return DKIM_DNS_ERROR;
	*len = (size_t)q->len;
	return DKIM_DNS_SUCCESS;
}

/* Only the first AUTH_DKIM_MAX signatures are verified: a message with a
 * thousand would cost a thousand hashes and key queries. */
static DKIM_CBSTAT prescreen(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	(void)dkim;
	for (int i = AUTH_DKIM_MAX; i < nsigs; i++)
		dkim_sig_ignore(sigs[i]);
	return DKIM_CBSTAT_CONTINUE;
}

static DKIM_LIB *verifying_library(void)
{
	static int service;   /* any non-NULL handle: ours keeps no state */
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	if (!lib)
		return NULL;
	/* RFC 6376 needs only From: (libopendkim also wants Date: by default,
	 * and would call a signed message without one unsigned) */
	static const char *const required[] = { "from", NULL };
	uint32_t flags = DKIM_LIBFLAGS_FIXCRLF;
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_REQUIREDHDRS, (void *)required,
			 sizeof(char **)) != DKIM_STAT_OK) {
		dkim_close(lib);
		return NULL;
	}
	dkim_dns_set_query_service(lib, &service);
	dkim_dns_set_query_start(lib, query_start);
	dkim_dns_set_query_cancel(lib, query_cancel);
	dkim_dns_set_query_waitreply(lib, query_wait);
	dkim_dns_set_init(lib, NULL);
	dkim_dns_set_close(lib, NULL);
	dkim_set_prescreen(lib, prescreen);
	return lib;
}

/* ---- one signature's result (RFC 8601 2.7.1) ---- */

static const char *failure_result(int error)
{
	switch (error) {
	case DKIM_SIGERROR_KEYFAIL:
		return "temperror";   /* the key query failed or timed out */
	case DKIM_SIGERROR_OK:
	case DKIM_SIGERROR_BADSIG:
	case DKIM_SIGERROR_EXPIRED:
	case DKIM_SIGERROR_FUTURE:
	case DKIM_SIGERROR_TIMESTAMPS:
	case DKIM_SIGERROR_TOOLARGE_L:
		return "fail";
	default:
		return "permerror";   /* no key, a broken key or signature */
	}
}

static void describe(DKIM *dkim, DKIM_SIGINFO *sig, struct dkim_signature *out)
{
	const unsigned char *d = dkim_sig_getdomain(sig), *s = dkim_sig_getselector(sig);
	snprintf(out->domain, sizeof out->domain, "%s", d ? (const char *)d : "");
	snprintf(out->selector, sizeof out->selector, "%s", s ? (const char *)s : "");
	dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
	dkim_sig_getsignalg(sig, &alg);
	snprintf(out->algorithm, sizeof out->algorithm, "%s",
		 alg == DKIM_SIGN_RSASHA256 ? "rsa-sha256" : alg == DKIM_SIGN_RSASHA1 ? "rsa-sha1"
		 : alg == DKIM_SIGN_ED25519SHA256 ? "ed25519-sha256" : "");
	char b[64];
	size_t blen = sizeof b;
	if (dkim_get_sigsubstring(dkim, sig, b, &blen) == DKIM_STAT_OK)
		snprintf(out->b, sizeof out->b, "%.*s", (int)(blen < 12 ? blen : 12), b);
	unsigned flags = dkim_sig_getflags(sig);
	int error = dkim_sig_geterror(sig);
	if ((flags & DKIM_SIGFLAG_PROCESSED) && DKIM_SIG_CHECK(sig)) {
		snprintf(out->result, sizeof out->result, "pass");
	} else if (!(flags & DKIM_SIGFLAG_PROCESSED) && error == DKIM_SIGERROR_OK) {
		snprintf(out->result, sizeof out->result, "permerror");
		snprintf(out->reason, sizeof out->reason, "not verified");
	} else {
		snprintf(out->result, sizeof out->result, "%s", failure_result(error));
		const char *why = dkim_sig_getbh(sig) == DKIM_SIGBH_MISMATCH ? "body hash did not verify"
				  : error != DKIM_SIGERROR_OK ? dkim_sig_geterrorstr(error)
				  : "signature did not verify";
		snprintf(out->reason, sizeof out->reason, "%s", why ? why : "");
	}
}

/* Streams the message into the verifier; 0, or -1 on a read error. */
static int feed(DKIM *dkim, int fd, off_t off)
{
	unsigned char buf[STREAM_BUF];
	ssize_t r;
	while ((r = pread(fd, buf, sizeof buf, off)) > 0) {
		if (dkim_chunk(dkim, buf, (size_t)r) != DKIM_STAT_OK)
			return 0;   /* a broken header: eom tells what it means */
		off += r;
	}
	return r < 0 ? -1 : 0;
}

void auth_dkim(const struct auth_request *rq, struct dkim_part *out)
{
	memset(out, 0, sizeof *out);
	DKIM_LIB *lib = verifying_library();
	DKIM_STAT status = DKIM_STAT_INTERNAL;
	DKIM *dkim = lib ? dkim_verify(lib, (const unsigned char *)"smtp-recv", NULL, &status) : NULL;
	if (dkim && feed(dkim, rq->fd, rq->off) == 0) {
		dkim_chunk(dkim, NULL, 0);
		dkim_eom(dkim, NULL);
		DKIM_SIGINFO **sigs = NULL;
		int nsigs = 0;
		if (dkim_getsiglist(dkim, &sigs, &nsigs) == DKIM_STAT_OK) {
			for (int i = 0; i < nsigs && out->n < AUTH_DKIM_MAX; i++)
				describe(dkim, sigs[i], &out->sigs[out->n++]);
			out->more = nsigs > AUTH_DKIM_MAX;
		}
	}
	if (dkim)
		dkim_free(dkim);
	if (lib)
		dkim_close(lib);
}
