/* smtp_txn.h - one mail transaction over an open client session: MAIL,
 * RCPT (pipelined when offered), then DATA or BDAT (CHUNKING), with the
 * message streamed from a file and put on the wire with CRLF line ends
 * (and dot-stuffing for DATA).  LMTP gets one final reply per recipient. */
#ifndef MAILPIPE_SMTP_TXN_H
#define MAILPIPE_SMTP_TXN_H

#include <stddef.h>
#include <stdint.h>

#include "smtp_client.h"

/* What a message needs from the server, found by txn_scan. */
struct txn_info {
	uint64_t wire_size;   /* octets with CRLF line ends (for SIZE=) */
	int body_8bit;        /* octets >= 0x80: needs 8BITMIME (or SMTPUTF8) */
	int header_8bit;      /* UTF-8 in the header: needs SMTPUTF8 (RFC 6532) */
};

struct txn_rcpt {
	const char *address;
	struct smtp_reply reply;   /* the outcome for this recipient */
	int accepted;              /* inside txn_send: RCPT took it, no final reply yet */
};

struct txn_message {
	const char *sender;        /* "" for the null sender */
	struct txn_rcpt *rcpts;
	size_t nrcpts;
	int fd;                    /* the message, read from offset 0 */
	int reset_first;           /* RSET before MAIL: a session used before */
	int reset_done;            /* set by txn_send: it ended with a RSET of its own */
	struct txn_info info;
};

/* Reads the message once: its size on the wire and whether it is 8-bit.
 * 0, or -1 with errno. */
int txn_scan(int fd, struct txn_info *info);

/* Every recipient gets reply as its outcome (MAIL failed, the session
 * could not be set up, or the message cannot go at all). */
void txn_fail_all(struct txn_message *m, const struct smtp_reply *reply);

/* Runs the transaction.  Every recipient's reply is its outcome (2xx
 * delivered, 4xx try again, 5xx failed).  Returns 0 when the session can
 * carry another message, -1 when it is over (the caller closes it). */
int txn_send(struct smtp_client *c, struct txn_message *m);

#endif
