/* nntp.h - the client side of NNTP (RFC 3977) that mail-notify needs:
 * connect, the greeting, a command and its one-line reply, POST of an
 * article, QUIT.
 *
 * Every wait is bounded by the timeout: the connect, each reply (which
 * must be complete within one timeout period) and each write (a send
 * time-out on the socket).  A reply that does not parse ends the session
 * like a lost connection.  Multi-line responses (ARTICLE, LIST ...) are
 * not read: mail-notify never asks for one.
 */
#ifndef MAILPIPE_NNTP_H
#define MAILPIPE_NNTP_H

#include <stddef.h>

#define NNTP_PORT 119
#define NNTP_LINE_MAX 512      /* RFC 3977 3.1: a response line, CRLF included */
#define NNTP_IN_BUF 4096

/* A reply of the server, or made here when there was none (code 0: the
 * connection failed, was lost or timed out; text says how). */
struct nntp_reply {
	int code;
	char text[NNTP_LINE_MAX + 64];   /* the line as received, control characters as '?' */
};

struct nntp {
	int fd;
	unsigned timeout;               /* seconds */
	int verbose;                    /* the dialogue on stderr */
	char peer[300];                 /* "host:port", "[v6]:port" */
	char in[NNTP_IN_BUF];
	size_t in_pos, in_len;
};

/* "host:port", "[v6addr]:port" or "host" (port 119) into host and port.
 * 0, or -1 when it is malformed (empty host, port not 1 to 65535, spaces
 * or control characters). */
int nntp_parse_server(const char *spec, char *host, size_t size, unsigned *port);

/* Connects to every address of host:port in turn, each within the
 * timeout, and reads the greeting into reply.  0 with a connection (the
 * greeting may still say 400 or 502: the caller decides), or -1 with
 * reply->code 0 and the reason. */
int nntp_connect(struct nntp *n, const char *host, unsigned port, unsigned timeout,
		 struct nntp_reply *reply);

/* Sends one command line (CRLF added) and reads its reply.  0, or -1 when
 * the session is dead (reply->code 0). */
int nntp_command(struct nntp *n, const char *line, struct nntp_reply *reply);

/* After a 340 to POST: sends the article (LF or CRLF line ends in text,
 * sent as CRLF, lines starting with "." doubled, RFC 3977 3.1.1) and the
 * terminating ".", and reads the reply (240 posted, 441 failed).  0, or
 * -1 when the session is dead. */
int nntp_send_article(struct nntp *n, const char *text, size_t len, struct nntp_reply *reply);

/* QUIT (its reply read within the timeout) and close; or only close when
 * the session is dead.  Safe to call twice. */
void nntp_quit(struct nntp *n);
void nntp_close(struct nntp *n);

#endif
