/* relay_route.h - delivering one message's recipients of one destination:
 * the route's host, or the MX hosts in turn, over a session that is kept
 * open for the next message to the same host. */
#ifndef MAILPIPE_RELAY_ROUTE_H
#define MAILPIPE_RELAY_ROUTE_H

#include <openssl/ssl.h>

#include "conf.h"
#include "routes.h"
#include "smtp_client.h"
#include "smtp_txn.h"

#define RELAY_REUSE_MAX 100   /* messages over one kept session */

struct relay_session {
	struct smtp_client client;
	char key[1200];       /* the host, port and settings it was opened with */
	int open;
	unsigned used;        /* messages sent over it */
	SSL_CTX *tls_any;     /* for opportunistic and required TLS */
	int verbose;
};

/* Delivers m's recipients (all of one domain or one route) to route, or
 * when route is NULL to the MX hosts of domain.  Each recipient's reply is
 * its outcome; *host names the server that gave it (or ""). */
void relay_deliver(struct relay_session *s, const struct conf *conf, const struct routes *routes,
		   const struct route *route, const char *domain, struct txn_message *m,
		   char *host, size_t host_size);
/* QUITs a kept session. */
void relay_session_end(struct relay_session *s);

#endif
