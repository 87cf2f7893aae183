/* smtp_io.c - buffered SMTP I/O with timeouts. */
#include "smtp_io.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "tls.h"

void io_init(struct smtp_io *io, int rfd, int wfd, unsigned timeout)
{
	io->rfd = rfd;
	io->wfd = wfd;
	io->timeout = timeout;
	io->in_pos = io->in_len = 0;
	io->out_len = 0;
	io->out_failed = 0;
	io->ssl = NULL;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline (ms, monotonic). */
static int wait_for(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return IO_TIMEOUT;
		struct pollfd pfd = { .fd = fd, .events = events };
		int n = poll(&pfd, 1, left > 86400000 ? 86400000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return IO_ERROR;
		return n == 0 ? IO_TIMEOUT : IO_OK;
	}
}

/* Waits as OpenSSL asks after a non-blocking call returned ret; IO_OK to
 * retry the call, else why not. */
static int tls_wait(struct smtp_io *io, int ret, long long deadline)
{
	switch (SSL_get_error(io->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		return wait_for(io->rfd, POLLIN, deadline);
	case SSL_ERROR_WANT_WRITE:
		return wait_for(io->wfd, POLLOUT, deadline);
	case SSL_ERROR_ZERO_RETURN:
		return IO_EOF;
	case SSL_ERROR_SYSCALL:
		return ret == 0 || errno == ECONNRESET || errno == EPIPE ? IO_EOF : IO_ERROR;
	default:
		return IO_ERROR;
	}
}

static int tls_read(struct smtp_io *io, long long deadline)
{
	for (;;) {
		int r = SSL_read(io->ssl, io->in, (int)sizeof io->in);
		if (r > 0) {
			io->in_len = (size_t)r;
			return IO_OK;
		}
		int rc = tls_wait(io, r, deadline);
		if (rc != IO_OK)
			return rc;
	}
}

static int tls_write_all(struct smtp_io *io, const char *p, size_t n)
{
	long long deadline = now_ms() + (long long)io->timeout * 1000;
	while (n > 0) {
		int w = SSL_write(io->ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (tls_wait(io, w, deadline) != IO_OK) {
			return -1;
		}
	}
	return 0;
}

/* A plain write with a deadline: a client that stops reading must not
 * hold the process (and what it holds, a mailbox lock) past the timeout.
 * On a socket, send() without waiting takes what fits and poll waits for
 * room; a pipe (a transcript test) is written as it is. */
static int plain_write_all(struct smtp_io *io, const char *p, size_t n)
{
	long long deadline = now_ms() + (long long)io->timeout * 1000;
	int socket = 1;
	while (n > 0) {
		if (socket && wait_for(io->wfd, POLLOUT, deadline) != IO_OK)
			return -1;
		ssize_t w = socket ? send(io->wfd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) : write(io->wfd, p, n);
		if (w < 0 && errno == ENOTSOCK && socket) {
			socket = 0;
			continue;
		}
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Waits until deadline (ms, monotonic) for input and reads what there is. */
static int fill_until(struct smtp_io *io, long long deadline)
{
	if (io->in_pos < io->in_len)
		return IO_OK;
	if (io_flush(io) < 0)
		return IO_ERROR;
	io->in_pos = io->in_len = 0;
	if (io->ssl)
		return tls_read(io, deadline);
	int rc = wait_for(io->rfd, POLLIN, deadline);
	if (rc != IO_OK)
		return rc;
	ssize_t r = read_some(io->rfd, io->in, sizeof io->in);
	if (r < 0)
		return errno == ECONNRESET ? IO_EOF : IO_ERROR;
	if (r == 0)
		return IO_EOF;
	io->in_len = (size_t)r;
	return IO_OK;
}

int io_fill(struct smtp_io *io)
{
	return fill_until(io, now_ms() + (long long)io->timeout * 1000);
}

size_t io_buffered(const struct smtp_io *io)
{
	return io->in_len - io->in_pos;
}

void io_discard_input(struct smtp_io *io)
{
	io->in_pos = io->in_len = 0;
}

int io_read_line(struct smtp_io *io, char *line, size_t max, size_t *len, int *too_long)
{
	long long deadline = now_ms() + (long long)io->timeout * 1000;
	size_t raw = 0, kept = 0;
	*too_long = 0;
	for (;;) {
		int rc = fill_until(io, deadline);
		if (rc != IO_OK)
			return rc;
		unsigned char *start = io->in + io->in_pos;
		size_t avail = io->in_len - io->in_pos;
		unsigned char *lf = memchr(start, '\n', avail);
		size_t take = lf ? (size_t)(lf - start) + 1 : avail;
		raw += take;
		size_t room = max - 1 - kept;
		size_t copy = take < room ? take : room;
		memcpy(line + kept, start, copy);
		kept += copy;
		io->in_pos += take;
		if (raw > max)
			*too_long = 1;
		if (lf)
			break;
	}
	if (kept > 0 && line[kept - 1] == '\n')
		kept--;
	if (kept > 0 && line[kept - 1] == '\r')
		kept--;
	line[kept] = '\0';
	*len = kept;
	return IO_OK;
}

void io_write(struct smtp_io *io, const char *s, size_t n)
{
	while (n > 0 && !io->out_failed) {
		if (io->out_len == sizeof io->out && io_flush(io) < 0)
			return;
		size_t room = sizeof io->out - io->out_len;
		size_t take = n < room ? n : room;
		memcpy(io->out + io->out_len, s, take);
		io->out_len += take;
		s += take;
		n -= take;
	}
}

int io_flush(struct smtp_io *io)
{
	if (io->out_failed)
		return -1;
	int rc = 0;
	if (io->out_len)
		rc = io->ssl ? tls_write_all(io, io->out, io->out_len)
			     : plain_write_all(io, io->out, io->out_len);
	if (rc < 0) {
		io->out_failed = 1;
		return -1;
	}
	io->out_len = 0;
	return 0;
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);
	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* The TLS handshake on the connection, as the server (SSL_accept) or the
 * client (SSL_connect, with servername for SNI when not NULL). */
static int start_tls(struct smtp_io *io, SSL_CTX *ctx, int client, const char *servername,
		     char *err, size_t err_size)
{
	/* non-blocking from now on: every TLS read and write obeys the timeout */
	if (set_nonblocking(io->rfd) < 0 || set_nonblocking(io->wfd) < 0) {
		snprintf(err, err_size, "fcntl: %s", strerror(errno));
		return -1;
	}
	io->ssl = SSL_new(ctx);
	if (!io->ssl || !SSL_set_rfd(io->ssl, io->rfd) || !SSL_set_wfd(io->ssl, io->wfd) ||
	    (client && servername && !tls_client_set_peer(io->ssl, servername))) {
		snprintf(err, err_size, "cannot set up TLS");
		SSL_free(io->ssl);
		io->ssl = NULL;
		return -1;
	}
	long long deadline = now_ms() + (long long)io->timeout * 1000;
	for (;;) {
		ERR_clear_error();
		int r = client ? SSL_connect(io->ssl) : SSL_accept(io->ssl);
		if (r == 1)
			return 0;
		unsigned long code = ERR_peek_error();
		int rc = tls_wait(io, r, deadline);
		if (rc == IO_OK)
			continue;
		long verify = client ? SSL_get_verify_result(io->ssl) : X509_V_OK;
		int transport = 0;
		if (rc == IO_TIMEOUT) {
			snprintf(err, err_size, "handshake timed out");
			transport = 1;
		} else if (verify != X509_V_OK) {
			snprintf(err, err_size, "certificate not trusted: %s",
				 X509_verify_cert_error_string(verify));
		} else if (code) {
			snprintf(err, err_size, "handshake failed: %s", ERR_reason_error_string(code));
		} else {
			snprintf(err, err_size, "handshake failed: connection closed");
			transport = 1;
		}
		SSL_free(io->ssl);
		io->ssl = NULL;
		return transport ? -2 : -1;
	}
}

int io_start_tls(struct smtp_io *io, SSL_CTX *ctx, char *err, size_t err_size)
{
	return start_tls(io, ctx, 0, NULL, err, err_size);
}

int io_start_tls_client(struct smtp_io *io, SSL_CTX *ctx, const char *servername, char *err,
			size_t err_size)
{
	return start_tls(io, ctx, 1, servername, err, err_size);
}

void io_end_tls(struct smtp_io *io)
{
	if (!io->ssl)
		return;
	if (io_flush(io) == 0)
		SSL_shutdown(io->ssl);   /* one call: our close_notify goes out */
	SSL_free(io->ssl);
	io->ssl = NULL;
}

void io_tls_info(const struct smtp_io *io, const char **version, const char **cipher)
{
	*version = io->ssl ? SSL_get_version(io->ssl) : "";
	*cipher = io->ssl ? SSL_get_cipher_name(io->ssl) : "";
}
