/* auth_dmarc.c - DMARC (RFC 7489) with libopendmarc: alignment and policy
 * are the library's; the _dmarc records are fetched by dns_txt, under the
 * budget, so a silent server gives temperror in time. */
#include "auth_parts.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <opendmarc/dmarc.h>

#include "dns_txt.h"

#define PUBLIC_SUFFIX_LIST "/usr/share/publicsuffix/public_suffix_list.dat"
#define DMARC_RECORD_MAX 2048

/* In libopendmarc but not in its header: the organizational domain of a
 * domain by the public suffix list (RFC 7489 3.2). */
int opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);

static int library_ready(void)
{
	static int ready;
	if (!ready) {
		OPENDMARC_LIB_T lib;
		memset(&lib, 0, sizeof lib);
		lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
		snprintf((char *)lib.tld_source_file, sizeof lib.tld_source_file, "%s",
			 PUBLIC_SUFFIX_LIST);
		ready = opendmarc_policy_library_init(&lib) == DMARC_PARSE_OKAY;
	}
	return ready;
}

static int spf_outcome(const char *result)
{
	return strcmp(result, "pass") == 0 ? DMARC_POLICY_SPF_OUTCOME_PASS
	       : strcmp(result, "temperror") == 0 ? DMARC_POLICY_SPF_OUTCOME_TMPFAIL
	       : strcmp(result, "none") == 0 ? DMARC_POLICY_SPF_OUTCOME_NONE
	       : DMARC_POLICY_SPF_OUTCOME_FAIL;
}

static int dkim_outcome(const char *result)
{
	return strcmp(result, "pass") == 0 ? DMARC_POLICY_DKIM_OUTCOME_PASS
	       : strcmp(result, "temperror") == 0 ? DMARC_POLICY_DKIM_OUTCOME_TMPFAIL
	       : DMARC_POLICY_DKIM_OUTCOME_FAIL;
}

/* The SPF identity DMARC aligns: MAIL FROM's domain, else HELO's (4.1). */
static void store_spf(DMARC_POLICY_T *p, const struct auth_request *rq,
		      const struct spf_part *spf)
{
	const char *at = strrchr(rq->mail_from, '@');
	if (spf->mailfrom_checked && at)
		opendmarc_policy_store_spf(p, (u_char *)at + 1, spf_outcome(spf->mailfrom_result),
					   DMARC_POLICY_SPF_ORIGIN_MAILFROM, NULL);
	else if (spf->helo_checked)
		opendmarc_policy_store_spf(p, (u_char *)rq->helo, spf_outcome(spf->helo_result),
					   DMARC_POLICY_SPF_ORIGIN_HELO, NULL);
}

/* The organizational domain (RFC 7489 3.2) by the public suffix list; a
 * name under a TLD the list lacks (like .test) gets its "*" rule: the last
 * label is the suffix, so the organization is the last two. */
static int organizational_domain(const char *domain, char *org, size_t size)
{
	org[0] = '\0';
	if (library_ready() &&   /* the list is read by the library's start */
	    opendmarc_get_tld((u_char *)domain, (u_char *)org, size) == 0 && strchr(org, '.'))
		return 1;
	const char *last = strrchr(domain, '.'), *p = last;
	while (p && p > domain && p[-1] != '.')
		p--;
	if (!last || p == domain || strlen(p) >= size)
		return 0;
	snprintf(org, size, "%s", p);
	return 1;
}

/* The record of the From: domain, else of its organizational domain. */
static enum dns_status find_record(const char *domain, char *record, size_t size, char *org,
				   size_t orgsize)
{
	char name[300];
	int count = 0;
	org[0] = '\0';
	snprintf(name, sizeof name, "_dmarc.%s", domain);
	enum dns_status st = dns_txt(name, "v=DMARC1", record, size, &count);
	if (st != DNS_NONE)
		return st == DNS_FOUND && count > 1 ? DNS_NONE : st;   /* two records: none (6.6.3) */
	if (!organizational_domain(domain, org, orgsize) || strcasecmp(org, domain) == 0)
		return DNS_NONE;
	snprintf(name, sizeof name, "_dmarc.%s", org);
	st = dns_txt(name, "v=DMARC1", record, size, &count);
	return st == DNS_FOUND && count > 1 ? DNS_NONE : st;
}

static const char *policy_name(DMARC_POLICY_T *p)
{
	int policy = 0;
	opendmarc_policy_fetch_p(p, &policy);
	if (opendmarc_get_policy_token_used(p) == DMARC_USED_POLICY_IS_SP)
		opendmarc_policy_fetch_sp(p, &policy);
	return policy == DMARC_RECORD_P_REJECT ? "reject"
	       : policy == DMARC_RECORD_P_QUARANTINE ? "quarantine" : "none";
}

/* A failure when SPF or a DKIM key query could not be answered may be a
 * pass tomorrow: temperror, never a rejection (DESIGN.md). */
static int inputs_uncertain(const struct spf_part *spf, const struct dkim_part *dkim)
{
	if ((spf->mailfrom_checked && strcmp(spf->mailfrom_result, "temperror") == 0) ||
	    (!spf->mailfrom_checked && spf->helo_checked &&
	     strcmp(spf->helo_result, "temperror") == 0))
		return 1;
	for (size_t i = 0; i < dkim->n; i++)
		if (strcmp(dkim->sigs[i].result, "temperror") == 0)
			return 1;
	return 0;
}

/* pct= (RFC 7489 6.6.4): the policy applies to that share of the failing
 * mail; the rest gets the next lower one, which for reject is quarantine,
 * and a quarantined message is delivered marked here.  No pct= is 100. */
static int policy_sampled(DMARC_POLICY_T *p)
{
	int pct = 100;
	if (opendmarc_policy_fetch_pct(p, &pct) != DMARC_PARSE_OKAY || pct < 0 || pct >= 100)
		return 1;
	return arc4random_uniform(100) < (unsigned)pct;
}

static void set(struct dmarc_part *out, const char *result, const char *reason)
{
	snprintf(out->result, sizeof out->result, "%s", result);
	snprintf(out->reason, sizeof out->reason, "%s", reason);
}

static void judge(DMARC_POLICY_T *p, const struct spf_part *spf, const struct dkim_part *dkim,
		  struct dmarc_part *out)
{
	int verdict = opendmarc_get_policy_to_enforce(p);
	if (verdict == DMARC_POLICY_PASS) {
		set(out, "pass", "");
	} else if (verdict == DMARC_POLICY_REJECT || verdict == DMARC_POLICY_QUARANTINE ||
		   verdict == DMARC_POLICY_NONE) {
		snprintf(out->policy, sizeof out->policy, "%s", policy_name(p));
		if (inputs_uncertain(spf, dkim)) {
			set(out, "temperror", "SPF or DKIM could not be checked");
		} else {
			set(out, "fail", "");
			out->reject = strcmp(out->policy, "reject") == 0 && policy_sampled(p);
		}
	} else {
		set(out, "none", "no policy");
	}
}

void auth_dmarc(const struct auth_request *rq, const char *from_domain,
		const struct spf_part *spf, const struct dkim_part *dkim, struct dmarc_part *out)
{
	memset(out, 0, sizeof *out);
	if (!*from_domain) {
		set(out, "none", "no From: domain");
		return;
	}
	char record[DMARC_RECORD_MAX], org[256];
	enum dns_status st = find_record(from_domain, record, sizeof record, org, sizeof org);
	if (st == DNS_TEMP) {
		set(out, "temperror", "DMARC record query failed");
		return;
	}
	if (st == DNS_NONE) {
		set(out, "none", "no DMARC record");
		return;
	}
	DMARC_POLICY_T *p = library_ready()
		? opendmarc_policy_connect_init((u_char *)rq->client_ip,
						strchr(rq->client_ip, ':') ? DMARC_POLICY_IP_TYPE_IPV6
									   : DMARC_POLICY_IP_TYPE_IPV4)
		: NULL;
	if (!p) {
		set(out, "temperror", "libopendmarc did not start");
		return;
	}
	if (opendmarc_policy_store_from_domain(p, (u_char *)from_domain) != DMARC_PARSE_OKAY ||
	    opendmarc_policy_store_dmarc(p, (u_char *)record, (u_char *)from_domain,
					 *org ? (u_char *)org : NULL) != DMARC_PARSE_OKAY) {
		set(out, "permerror", "bad DMARC record");
	} else {
		store_spf(p, rq, spf);
		for (size_t i = 0; i < dkim->n; i++)
			opendmarc_policy_store_dkim(p, (u_char *)dkim->sigs[i].domain,
						    (u_char *)dkim->sigs[i].selector,
						    dkim_outcome(dkim->sigs[i].result), NULL);
		judge(p, spf, dkim, out);
	}
	opendmarc_policy_connect_shutdown(p);
}
