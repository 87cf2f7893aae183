/* mx.h - the hosts that take mail for a domain (RFC 5321 5.1): its MX
 * records, lowest preference first and equal ones shuffled; the domain
 * itself when it has none (implicit MX); nothing for a null MX (RFC 7505). */
#ifndef MAILPIPE_MX_H
#define MAILPIPE_MX_H

#include <stddef.h>

#define MX_HOSTS_MAX 20
#define MX_NAME_MAX 256

struct mx_host {
	char name[MX_NAME_MAX];
	unsigned preference;
};

enum mx_result {
	MX_OK,        /* hosts filled (the domain itself for an implicit MX) */
	MX_NULL,      /* "MX 0 ." : the domain takes no mail (bounce, 5.1.10) */
	MX_NO_DOMAIN, /* NXDOMAIN (bounce, 5.1.2) */
	MX_TEMP,      /* no answer, SERVFAIL, time-out (defer, 4.4.3) */
};

/* Looks up the MX records of domain, waiting at most timeout seconds in
 * all; err says why when not MX_OK. */
enum mx_result mx_lookup(const char *domain, unsigned timeout, struct mx_host *hosts,
			 size_t max, size_t *n, char *err, size_t errsize);

#endif
