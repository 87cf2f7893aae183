/* smtp_io.c - buffered SMTP I/O with timeouts. */
#include "smtp_io.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"

void io_init(struct smtp_io *io, int rfd, int wfd, unsigned timeout)
{
	io->rfd = rfd;
	io->wfd = wfd;
	io->timeout = timeout;
	io->in_pos = io->in_len = 0;
	io->out_len = 0;
	io->out_failed = 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until deadline (ms, monotonic) for input and reads what there is. */
static int fill_until(struct smtp_io *io, long long deadline)
{
	if (io->in_pos < io->in_len)
		return IO_OK;
	if (io_flush(io) < 0)
		return IO_ERROR;
	io->in_pos = io->in_len = 0;
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return IO_TIMEOUT;
		struct pollfd pfd = { .fd = io->rfd, .events = POLLIN };
		int n = poll(&pfd, 1, left > 86400000 ? 86400000 : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return IO_ERROR;
		if (n == 0)
			return IO_TIMEOUT;
		ssize_t r = read_some(io->rfd, io->in, sizeof io->in);
		if (r < 0)
			return errno == ECONNRESET ? IO_EOF : IO_ERROR;
		if (r == 0)
			return IO_EOF;
		io->in_len = (size_t)r;
		return IO_OK;
	}
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
	if (io->out_len && write_all(io->wfd, io->out, io->out_len) < 0) {
		io->out_failed = 1;
		return -1;
	}
	io->out_len = 0;
	return 0;
}
