/* dsn.h - delivery status notifications (RFC 3464): the report that tells
 * a sender which recipients failed, or are still being retried, and why.
 * multipart/report with a human part, message/delivery-status, and the
 * original message's header as text/rfc822-headers. */
#ifndef MAILPIPE_DSN_H
#define MAILPIPE_DSN_H

#include <stddef.h>
#include <stdint.h>

struct dsn_rcpt {
	const char *address;
	const char *status;       /* "5.1.1" */
	const char *diagnostic;   /* the reply, "550 5.1.1 no such user" */
	int remote;               /* diagnostic came from remote_mta's server */
	const char *remote_mta;   /* host name, or NULL */
};

struct dsn {
	const char *hostname;     /* ours: Reporting-MTA, From: MAILER-DAEMON@ */
	const char *sender;       /* the original envelope sender: To: */
	int64_t id, arrival;      /* the queued message */
	int64_t retry_until;      /* for a delay warning */
	int delayed;              /* a warning (Action: delayed), not a failure */
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
	int original_fd;          /* the queued message, for its header; -1 if gone */
};

/* Writes the report to fd (a new file); 0, or -1 with errno. */
int dsn_write(int fd, const struct dsn *d);

#endif
