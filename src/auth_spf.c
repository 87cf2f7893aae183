/* auth_spf.c - SPF (RFC 7208) with libspf2, its DNS under the budget. */
#include "auth_parts.h"

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spf2/spf.h>
#include <spf2/spf_dns_cache.h>
#include <spf2/spf_dns_resolv.h>

#include "dns_txt.h"

static const char *const spf_names[] = {
	[SPF_RESULT_INVALID] = "permerror", [SPF_RESULT_NEUTRAL] = "neutral",
	[SPF_RESULT_PASS] = "pass", [SPF_RESULT_FAIL] = "fail",
	[SPF_RESULT_SOFTFAIL] = "softfail", [SPF_RESULT_NONE] = "none",
	[SPF_RESULT_TEMPERROR] = "temperror", [SPF_RESULT_PERMERROR] = "permerror",
};

/* libspf2 writes warnings to stderr, which is our log: not there. */
static void quiet(const char *file, int line, const char *text)
{
	(void)file, (void)line, (void)text;
}

/* A DNS layer between libspf2's cache and its resolver: once the budget is
 * spent every lookup fails at once as a temporary error. */
static SPF_dns_rr_t *budget_lookup(SPF_dns_server_t *layer, const char *domain, ns_type type,
				   int should_cache)
{
	if (dns_budget_left() < 0.05)
		return SPF_dns_rr_new_init(layer, domain, type, 0, TRY_AGAIN);
	return SPF_dns_lookup(layer->layer_below, domain, type, should_cache);
}

static void budget_destroy(SPF_dns_server_t *layer)
{
	free(layer);
}

/* resolver <- budget <- cache; NULL when out of memory. */
static SPF_dns_server_t *dns_chain(void)
{
	SPF_dns_server_t *resolver = SPF_dns_resolv_new(NULL, "resolv", 0);
	SPF_dns_server_t *budget = calloc(1, sizeof *budget);
	if (!resolver || !budget) {
		if (resolver)
			SPF_dns_free(resolver);
		free(budget);
		return NULL;
	}
	budget->destroy = budget_destroy;
	budget->lookup = budget_lookup;
	budget->layer_below = resolver;
	budget->name = "budget";
	SPF_dns_server_t *cache = SPF_dns_cache_new(budget, "cache", 0, 8);
	if (!cache)
		SPF_dns_free(budget);
	return cache;
}

/* One identity: from "" checks postmaster@helo (RFC 7208 2.3). */
static void check_identity(SPF_server_t *server, const char *ip, const char *helo,
			   const char *from, char *result, size_t size)
{
	SPF_request_t *req = SPF_request_new(server);
	SPF_response_t *resp = NULL;
	snprintf(result, size, "permerror");
	if (!req)
		return;
	int bad = strchr(ip, ':') ? SPF_request_set_ipv6_str(req, ip)
				  : SPF_request_set_ipv4_str(req, ip);
	if (!bad && helo)
		bad = SPF_request_set_helo_dom(req, helo);
	if (!bad)
		bad = SPF_request_set_env_from(req, from);
	SPF_errcode_t err = SPF_E_SUCCESS;
	if (!bad)
		err = SPF_request_query_mailfrom(req, &resp);
	if (resp) {
		SPF_result_t r = SPF_response_result(resp);
		/* libspf2 1.2.10 leaves the result unset when the record's query
		 * failed for now (TRY_AGAIN): that is a temperror (RFC 7208 4.4) */
		if (r == SPF_RESULT_INVALID && err == SPF_E_DNS_ERROR)
			r = SPF_RESULT_TEMPERROR;
		if ((size_t)r < sizeof spf_names / sizeof *spf_names && spf_names[r])
			snprintf(result, size, "%s", spf_names[r]);
		SPF_response_free(resp);
	}
	SPF_request_free(req);
}

/* A HELO name SPF can check: a domain with a dot, not an address literal. */
static int helo_is_domain(const char *helo)
{
	return helo && *helo && helo[0] != '[' && strchr(helo, '.') && strlen(helo) < 254;
}

void auth_spf(const struct auth_request *rq, struct spf_part *out)
{
	memset(out, 0, sizeof *out);
	SPF_warning_handler = quiet;
	SPF_info_handler = quiet;
	SPF_debug_handler = quiet;
	SPF_dns_server_t *dns = dns_chain();
	SPF_server_t *server = dns ? SPF_server_new_dns(dns, 0) : NULL;
	if (!server) {
		snprintf(out->helo_result, sizeof out->helo_result, "temperror");
		snprintf(out->mailfrom_result, sizeof out->mailfrom_result, "temperror");
		out->mailfrom_checked = rq->mail_from[0] != '\0';
		out->helo_checked = helo_is_domain(rq->helo);
	} else {
		if (helo_is_domain(rq->helo)) {
			out->helo_checked = 1;
			check_identity(server, rq->client_ip, rq->helo, "", out->helo_result,
				       sizeof out->helo_result);
		}
		if (rq->mail_from[0] && strchr(rq->mail_from, '@')) {
			out->mailfrom_checked = 1;
			check_identity(server, rq->client_ip,
				       helo_is_domain(rq->helo) ? rq->helo : NULL, rq->mail_from,
				       out->mailfrom_result, sizeof out->mailfrom_result);
		}
	}
	if (server)
		SPF_server_free(server);
	if (dns)
		SPF_dns_free(dns);
}
