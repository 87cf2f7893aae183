/* routes.h - where mail for a domain goes: the routes file ("DOMAIN
 * HOST[:PORT] [key=value...]", "*" the smarthost) and the secrets file
 * ("HOST user password", mode 0600) for routes with auth=. */
#ifndef MAILPIPE_ROUTES_H
#define MAILPIPE_ROUTES_H

#include <stddef.h>

#include "conf.h"

#define ROUTE_HOST_MAX 256
#define ROUTE_PATH_MAX 1024

enum route_tls {
	ROUTE_TLS_NONE,          /* never STARTTLS */
	ROUTE_TLS_OPPORTUNISTIC, /* STARTTLS when offered, any certificate */
	ROUTE_TLS_REQUIRED,      /* STARTTLS or defer; any certificate */
	ROUTE_TLS_VERIFY,        /* STARTTLS, a certificate that verifies, for host */
};

struct route {
	char domain[ROUTE_HOST_MAX];  /* lowercased; "*" for the smarthost */
	int lmtp;                     /* lmtp:HOST:PORT or lmtp:/socket */
	char host[ROUTE_PATH_MAX];    /* name, IP literal (no brackets) or socket path */
	int unix_socket;
	unsigned port;                /* 0: 25 for SMTP, 24 for LMTP */
	enum route_tls tls;
	char auth_user[ROUTE_HOST_MAX]; /* "" when no auth= */
	char ca_file[ROUTE_PATH_MAX];   /* "" for the system store */
	unsigned line;
};

struct secret {
	char *host, *user, *password;
};

struct routes {
	struct route *routes;
	size_t nroutes;
	struct secret *secrets;
	size_t nsecrets;
};

/* Reads routes and secrets from conf->dir; 0, or -1 with conf->error set
 * (a malformed line, an unknown key, a secrets file others can read, an
 * auth= user without a secret).  With conf->report set (mailpipe-check)
 * every problem is reported and r keeps what could be read: routes_free it
 * either way. */
int routes_load(struct conf *conf, struct routes *r);
void routes_free(struct routes *r);

/* The route for a lowercased domain: its own line, else "*", else NULL
 * (the MX records decide). */
const struct route *routes_find(const struct routes *r, const char *domain);
/* The password of route->auth_user for route->host, or NULL. */
const char *routes_password(const struct routes *r, const struct route *route);

#endif
