/* smtp_io.h - buffered SMTP input and output on a pair of file descriptors.
 *
 * Replies are buffered and flushed only when the server is about to wait for
 * input, so a pipelined batch of commands gets its replies in one write and
 * the replies never depend on how the client's bytes were split in time.
 */
#ifndef MAILPIPE_SMTP_IO_H
#define MAILPIPE_SMTP_IO_H

#include <stddef.h>

#include "fsutil.h"
#include <openssl/ssl.h>

#define SMTP_IN_BUF STREAM_BUF
#define SMTP_OUT_BUF 8192

enum io_status {
	IO_OK = 0,
	IO_EOF = -1,      /* the client closed the connection */
	IO_TIMEOUT = -2,  /* nothing arrived within the timeout */
	IO_ERROR = -3,    /* read or write failed */
};

struct smtp_io {
	int rfd, wfd;
	unsigned timeout;              /* seconds */
	unsigned char in[SMTP_IN_BUF];
	size_t in_pos, in_len;
	char out[SMTP_OUT_BUF];
	size_t out_len;
	int out_failed;
	SSL *ssl;                      /* NULL until TLS is started */
};

void io_init(struct smtp_io *io, int rfd, int wfd, unsigned timeout);

/* Makes sure at least one input byte is buffered: flushes the replies when
 * the buffer is empty, then waits (timeout) and reads.  IO_OK or an error. */
int io_fill(struct smtp_io *io);
/* Number of input bytes already buffered (0: the client is waiting). */
size_t io_buffered(const struct smtp_io *io);
/* Drops every buffered input byte (e.g. pipelined input before TLS). */
void io_discard_input(struct smtp_io *io);

/* Reads one line ending in LF within one timeout period; the CR LF or LF is
 * removed.  A line longer than max octets (terminator included) is read to
 * its end and thrown away, and *too_long is set.  line must hold max bytes;
 * it is NUL-terminated and *len is its length (it may contain NUL bytes). */
int io_read_line(struct smtp_io *io, char *line, size_t max, size_t *len, int *too_long);

void io_write(struct smtp_io *io, const char *s, size_t n);
int io_flush(struct smtp_io *io);

/* Starts TLS as the server (STARTTLS, or implicit TLS on 465): the
 * handshake must finish within the timeout.  Input already buffered must
 * have been discarded by the caller.  0, or -1 with a reason in err. */
int io_start_tls(struct smtp_io *io, SSL_CTX *ctx, char *err, size_t err_size);
/* Starts TLS as the client, after the server's 220 to STARTTLS (or at once
 * for implicit TLS).  servername: for SNI and, when ctx verifies, the name
 * the certificate must match (tls_client_set_peer).  0; -1 when TLS
 * itself failed (the certificate, the protocol); -2 when the connection
 * did (the handshake timed out or the peer closed): that may pass. */
int io_start_tls_client(struct smtp_io *io, SSL_CTX *ctx, const char *servername, char *err,
			size_t err_size);
/* Ends TLS as RFC 8446 6.1 requires: flushes the replies, sends
 * close_notify (without waiting for the client's), frees the session. */
void io_end_tls(struct smtp_io *io);
/* "TLSv1.3" and "TLS_AES_256_GCM_SHA384" of the running session. */
void io_tls_info(const struct smtp_io *io, const char **version, const char **cipher);

#endif
