/* smtp_client.h - the client side of SMTP (RFC 5321) and LMTP (RFC 2033),
 * one implementation for smtp-relay and smtp-send.
 *
 * A session: client_connect, client_greet (220, EHLO/LHLO, HELO when EHLO
 * is refused), client_starttls, client_auth, then client_send for each
 * message, client_quit.  Every wait is bounded by the timeout; a reply that
 * does not parse ends the session as a temporary failure.
 */
#ifndef MAILPIPE_SMTP_CLIENT_H
#define MAILPIPE_SMTP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "smtp_io.h"

#define SMTP_REPLY_TEXT_MAX 512
#define SMTP_REPLY_LINES_MAX 200   /* lines of one reply (EHLO's are the most) */

enum client_cap {
	CAP_PIPELINING = 1 << 0,
	CAP_SIZE = 1 << 1,
	CAP_8BITMIME = 1 << 2,
	CAP_SMTPUTF8 = 1 << 3,
	CAP_CHUNKING = 1 << 4,
	CAP_STARTTLS = 1 << 5,
	CAP_AUTH_PLAIN = 1 << 6,
	CAP_AUTH_LOGIN = 1 << 7,
	CAP_ENHANCED = 1 << 8,
};

/* A reply from the server, or made here (local: the connection was
 * refused, lost, timed out or garbled; the code then says 4xx or 5xx). */
struct smtp_reply {
	int code;
	int local;
	char text[SMTP_REPLY_TEXT_MAX];   /* "451 4.3.0 try later": the lines joined */
};

struct smtp_client {
	struct smtp_io io;
	int fd;
	int lmtp;
	int verbose;                 /* the dialogue on stderr */
	char peer[300];              /* "host:port" or the socket path */
	char host[256];              /* for SNI and certificate checks */
	unsigned caps;
	uint64_t size_max;           /* SIZE from EHLO, 0 if none */
	int tls;                     /* TLS is running */
	int tls_failed;              /* TLS could not be started: no context, or the handshake */
	int auth;                    /* AUTH succeeded */
};

/* Connects to every address of host:port in turn (or the unix socket
 * path), each within the timeout.  0, or -1 with a local reply: 4xx, or
 * 5xx when the host name does not exist. */
int client_connect(struct smtp_client *c, const char *host, unsigned port, int unix_socket,
		   int lmtp, unsigned timeout, struct smtp_reply *reply);
/* The greeting and EHLO/LHLO as helo_name.  0 when both were 2xx
 * (capabilities in c->caps), else -1 with the failing reply. */
int client_greet(struct smtp_client *c, const char *helo_name, struct smtp_reply *reply);
/* The TLS handshake at once, before the greeting (implicit TLS, port 465,
 * RFC 8314).  0, or -1 with the reason in reply. */
int client_tls(struct smtp_client *c, void *ssl_ctx, struct smtp_reply *reply);
/* STARTTLS, the handshake, and EHLO again (RFC 3207 4.2).  ctx from
 * tls_client_context.  0, or -1 with the reason in reply. */
int client_starttls(struct smtp_client *c, void *ssl_ctx, const char *helo_name,
		    struct smtp_reply *reply);
/* AUTH PLAIN (or LOGIN when that is all there is), only under TLS. */
int client_auth(struct smtp_client *c, const char *user, const char *password,
		struct smtp_reply *reply);
/* QUIT and close (or only close when the session is dead). */
void client_quit(struct smtp_client *c);
void client_close(struct smtp_client *c);

/* Reads one reply (all its lines). */
int client_read_reply(struct smtp_client *c, struct smtp_reply *reply);
/* Sends one command line (CRLF added); shown with -v, masked if secret. */
void client_command(struct smtp_client *c, const char *line, int secret);
/* The reply class: 2, 3, 4 or 5. */
int reply_class(const struct smtp_reply *reply);
/* "4.3.0" from the reply's enhanced code, or one made from its class. */
void reply_status(const struct smtp_reply *reply, char *buf, size_t size);
/* sysexits.h for a reply: 0 (2xx), 75 (4xx), and for a 5xx 68 (host not
 * found), 67 (5.1.x: no such address), 77 (AUTH refused) or 69. */
int reply_exit_code(const struct smtp_reply *reply);
/* Fills reply as a local failure: code, "x.y.z text". */
void reply_local(struct smtp_reply *reply, int code, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
