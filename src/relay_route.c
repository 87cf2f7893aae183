/* relay_route.c - hosts for a destination, sessions, trying the next host. */
#include "relay_route.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mx.h"
#include "tls.h"

/* One server to try, with how to talk to it. */
struct relay_host {
	const char *name;
	unsigned port;
	int unix_socket, lmtp;
	enum route_tls tls;
	const char *auth_user, *password, *ca_file;
};

static void session_key(const struct relay_host *h, char *key, size_t size)
{
	snprintf(key, size, "%s|%u|%d|%d|%d|%s|%s", h->name, h->port, h->unix_socket, h->lmtp,
		 (int)h->tls, h->auth_user ? h->auth_user : "", h->ca_file ? h->ca_file : "");
}

void relay_session_end(struct relay_session *s)
{
	if (s->open)
		client_quit(&s->client);
	s->open = 0;
}

/* A kept session the server has closed or written to (a 421 on idle
 * time-out) is no use. */
static int session_alive(struct relay_session *s)
{
	struct pollfd pfd = { .fd = s->client.fd, .events = POLLIN };
	return io_buffered(&s->client.io) == 0 && poll(&pfd, 1, 0) == 0;
}

static int start_tls(struct relay_session *s, const struct conf *conf, const struct relay_host *h,
		     struct smtp_reply *reply)
{
	char err[256];
	SSL_CTX *ctx = s->tls_any;
	if (h->tls == ROUTE_TLS_VERIFY)
		ctx = tls_client_context(1, h->ca_file, err, sizeof err);
	else if (!ctx)
		ctx = s->tls_any = tls_client_context(0, NULL, err, sizeof err);
	if (!ctx) {
		reply_local(reply, 451, "4.7.5", "TLS: %s", err);
		s->client.tls_failed = 1;
		return -1;
	}
	int rc = client_starttls(&s->client, ctx, conf->hostname, reply);
	if (h->tls == ROUTE_TLS_VERIFY)
		SSL_CTX_free(ctx);   /* the session holds its own reference */
	return rc;
}

/* Greeting, EHLO, STARTTLS as the route wants, AUTH. */
static int setup(struct relay_session *s, const struct conf *conf, const struct relay_host *h,
		 struct smtp_reply *reply)
{
	struct smtp_client *c = &s->client;
	c->verbose = s->verbose;
	if (client_connect(c, h->name, h->port, h->unix_socket, h->lmtp, conf->timeout, reply) < 0)
		return -1;
	s->open = 1;
	if (client_greet(c, conf->hostname, reply) < 0)
		return -1;
	if (h->tls != ROUTE_TLS_NONE && (c->caps & CAP_STARTTLS)) {
		/* A server that offers STARTTLS and then refuses it (454 4.7.0
		 * "TLS not available") is still spoken to in clear when TLS is
		 * only opportunistic, as Postfix's "may" level does (RFC 3207 4). */
		if (start_tls(s, conf, h, reply) < 0 &&
		    (h->tls != ROUTE_TLS_OPPORTUNISTIC || reply->local || reply_class(reply) == 2))
			return -1;
	} else if (h->tls >= ROUTE_TLS_REQUIRED) {
		reply_local(reply, 451, "4.7.4", "%s does not offer STARTTLS, and the route requires TLS",
			    c->peer);
		return -1;
	}
	if (h->auth_user && client_auth(c, h->auth_user, h->password, reply) < 0) {
		if (!reply->local) {   /* a refused password is ours to fix: defer, not bounce */
			char said[SMTP_REPLY_TEXT_MAX];
			snprintf(said, sizeof said, "%s", reply->text);
			reply_local(reply, 451, "4.7.8", "AUTH as %s refused: %.400s", h->auth_user, said);
		}
		return -1;
	}
	return 0;
}

/* Did the session die before any recipient got an answer of its own? */
static int session_failed(const struct txn_message *m)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		if (!m->rcpts[i].reply.local)
			return 0;
	return 1;
}

/* A new session; when opportunistic TLS fails in the handshake, once more
 * in clear text, as RFC 7435 and Postfix's "may" level do. */
static int open_session(struct relay_session *s, const struct conf *conf,
			const struct relay_host *h, struct smtp_reply *reply)
{
	if (setup(s, conf, h, reply) == 0)
		return 0;
	relay_session_end(s);
	if (h->tls != ROUTE_TLS_OPPORTUNISTIC || !s->client.tls_failed)
		return -1;
	struct relay_host clear = *h;
	clear.tls = ROUTE_TLS_NONE;
	if (setup(s, conf, &clear, reply) == 0)
		return 0;
	relay_session_end(s);
	return -1;
}

/* One host: a kept session if it fits, else a new one.  0 when the
 * recipients have their outcomes, -1 to try the next host. */
static int try_host(struct relay_session *s, const struct conf *conf, const struct relay_host *h,
		    struct txn_message *m)
{
	char key[sizeof s->key];
	session_key(h, key, sizeof key);
	int reused = s->open && strcmp(key, s->key) == 0 && s->used < RELAY_REUSE_MAX &&
		     session_alive(s);
	if (!reused) {
		relay_session_end(s);
		struct smtp_reply reply;
		if (open_session(s, conf, h, &reply) < 0) {
			txn_fail_all(m, &reply);
			return -1;
		}
		snprintf(s->key, sizeof s->key, "%s", key);
		s->used = 0;
	}
	s->used++;
	if (txn_send(&s->client, m) < 0) {
		client_close(&s->client);
		s->open = 0;
		if (session_failed(m))   /* a kept session may have timed out: once more, afresh */
			return reused ? try_host(s, conf, h, m) : -1;
	}
	return 0;
}

static void route_host(const struct routes *routes, const struct route *route, struct relay_host *h)
{
	memset(h, 0, sizeof *h);
	h->name = route->host;
	h->unix_socket = route->unix_socket;
	h->lmtp = route->lmtp;
	h->port = route->port ? route->port : route->lmtp ? 24 : 25;
	h->tls = route->tls;
	h->ca_file = route->ca_file;
	if (route->auth_user[0]) {
		h->auth_user = route->auth_user;
		h->password = routes_password(routes, route);
	}
}

/* "host not found" from a route (a typo the operator will fix) or an MX
 * target defers instead of bouncing. */
static void defer_unknown_host(struct txn_message *m)
{
	for (size_t i = 0; i < m->nrcpts; i++) {
		struct smtp_reply *r = &m->rcpts[i].reply;
		if (r->local && strncmp(r->text, "550 5.1.2 host ", 15) == 0) {
			char said[SMTP_REPLY_TEXT_MAX];
			snprintf(said, sizeof said, "%s", r->text + 10);
			reply_local(r, 451, "4.4.4", "%.400s", said);
		}
	}
}

static void mx_failure(enum mx_result rc, const char *err, struct txn_message *m)
{
	struct smtp_reply reply;
	if (rc == MX_NULL)
		reply_local(&reply, 556, "5.1.10", "%s", err);
	else if (rc == MX_NO_DOMAIN)
		reply_local(&reply, 550, "5.1.2", "%s", err);
	else
		reply_local(&reply, 451, "4.4.3", "%s", err);
	txn_fail_all(m, &reply);
}

void relay_deliver(struct relay_session *s, const struct conf *conf, const struct routes *routes,
		   const struct route *route, const char *domain, struct txn_message *m,
		   char *host, size_t host_size)
{
	struct relay_host h;
	host[0] = '\0';
	if (route) {
		route_host(routes, route, &h);
		if (try_host(s, conf, &h, m) < 0)
			defer_unknown_host(m);
		snprintf(host, host_size, "%s", s->client.peer);
		return;
	}
	struct mx_host mx[MX_HOSTS_MAX];
	size_t n = 0;
	char err[300];
	enum mx_result rc = mx_lookup(domain, conf->timeout, mx, MX_HOSTS_MAX, &n, err, sizeof err);
	if (rc != MX_OK) {
		mx_failure(rc, err, m);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		memset(&h, 0, sizeof h);
		h.name = mx[i].name;
		h.port = 25;
		h.tls = ROUTE_TLS_OPPORTUNISTIC;
		int done = try_host(s, conf, &h, m) == 0;
		snprintf(host, host_size, "%s", s->client.peer);
		if (done)
			return;
	}
	/* a name the domain's own MX records give that does not resolve is a
	 * fault on their side that may be mended: defer.  Only a domain with
	 * neither MX nor address (implicit MX) bounces. */
	if (!(n == 1 && strcasecmp(mx[0].name, domain) == 0))
		defer_unknown_host(m);
}
