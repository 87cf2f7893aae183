/* resolve.c - alias expansion. */
#include "resolve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>

struct resolver {
	const struct conf *conf;
	struct destination *dest;
	size_t ndest;
	char (*expanding)[CONF_ADDR_MAX]; /* aliases on the current path */
	size_t nexpanding;
	char *err;
	size_t errsize;
};

static const char *domain_of(const char *address)
{
	const char *at = strrchr(address, '@');
	return at ? at + 1 : "";
}

int resolve_local_exists(const struct conf *conf, const char *address)
{
	if (conf_find_user(conf, address) || conf_find_alias(conf, address))
		return 1;
	const char *at = strrchr(address, '@');
	return at && conf_find_alias(conf, at) != NULL;
}

static int add_destination(struct resolver *r, const char *address, int remote)
{
	for (size_t i = 0; i < r->ndest; i++)
		if (r->dest[i].remote == remote && strcmp(r->dest[i].address, address) == 0)
			return 0;
	if (r->ndest == RESOLVE_DEST_MAX) {
		snprintf(r->err, r->errsize, "more than %d destinations", RESOLVE_DEST_MAX);
		return EX_CONFIG;
	}
	snprintf(r->dest[r->ndest].address, CONF_ADDR_MAX, "%s", address);
	r->dest[r->ndest].remote = remote;
	r->ndest++;
	return 0;
}

static int being_expanded(const struct resolver *r, const char *address)
{
	for (size_t i = 0; i < r->nexpanding; i++)
		if (strcmp(r->expanding[i], address) == 0)
			return 1;
	return 0;
}

static int resolve_one(struct resolver *r, const char *address, unsigned depth);

static int expand_alias(struct resolver *r, const char *name, const struct conf_alias *alias,
			unsigned depth)
{
	snprintf(r->expanding[r->nexpanding++], CONF_ADDR_MAX, "%s", name);
	int rc = 0;
	for (size_t i = 0; i < alias->ntargets && rc == 0; i++)
		rc = resolve_one(r, alias->targets[i], depth + 1);
	r->nexpanding--;
	return rc;
}

static int resolve_local(struct resolver *r, const char *address, unsigned depth)
{
	const struct conf_alias *alias = conf_find_alias(r->conf, address);
	const struct conf_user *user = conf_find_user(r->conf, address);
	/* "alice: alice, archive@x": an alias naming itself means its mailbox */
	if (alias && !being_expanded(r, address))
		return expand_alias(r, address, alias, depth);
	if (user)
		return add_destination(r, address, 0);
	if (alias) {
		/* "a: b" and "b: a": refusing beats dropping a recipient */
		snprintf(r->err, r->errsize, "%s: the aliases loop back to it", address);
		return EX_CONFIG;
	}
	const struct conf_alias *catch_all = conf_find_alias(r->conf, strrchr(address, '@'));
	if (catch_all && !being_expanded(r, catch_all->address))
		return expand_alias(r, catch_all->address, catch_all, depth);
	snprintf(r->err, r->errsize, "%s: no such user", address);
	return EX_NOUSER;
}

static int resolve_one(struct resolver *r, const char *address, unsigned depth)
{
	if (depth > RESOLVE_DEPTH_MAX) {
		snprintf(r->err, r->errsize, "%s: aliases nested too deeply (a loop?)", address);
		return EX_CONFIG;
	}
	if (!conf_is_local_domain(r->conf, domain_of(address)))
		return add_destination(r, address, 1);
	char lower[CONF_ADDR_MAX];
	snprintf(lower, sizeof lower, "%s", address);
	conf_lowercase(lower);
	return resolve_local(r, lower, depth);
}

int resolve_recipients(const struct conf *conf, char *const *rcpts, size_t n,
		       struct destination **out, size_t *nout, char *err, size_t errsize)
{
	struct resolver r = { conf, NULL, 0, NULL, 0, err, errsize };
	r.dest = calloc(RESOLVE_DEST_MAX, sizeof *r.dest);
	r.expanding = calloc(RESOLVE_DEPTH_MAX + 2, sizeof *r.expanding);
	if (!r.dest || !r.expanding) {
		free(r.dest);
		free(r.expanding);
		snprintf(err, errsize, "out of memory");
		return EX_OSERR;
	}
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (strlen(rcpts[i]) >= CONF_ADDR_MAX || !strchr(rcpts[i], '@')) {
			snprintf(err, errsize, "%.80s: not a full address", rcpts[i]);
			rc = EX_NOUSER;
		} else {
			rc = resolve_one(&r, rcpts[i], 0);
		}
	}
	free(r.expanding);
	if (rc == 0 && r.ndest == 0) {
		/* e.g. "a: b" and "b: a": accepting it would deliver nowhere */
		snprintf(err, errsize, "the aliases of %.80s lead to no mailbox (a loop?)", rcpts[0]);
		rc = EX_CONFIG;
	}
	if (rc != 0) {
		free(r.dest);
		return rc;
	}
	*out = r.dest;
	*nout = r.ndest;
	return 0;
}
