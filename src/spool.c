/* spool.c - streaming the incoming message to an unnamed file. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

/* O_TMPFILE, or a named file unlinked at once where it is not supported. */
static int open_unnamed(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	char path[4096];
	if (snprintf(path, sizeof path, "%s/spool.XXXXXX", dir) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

int spool_open(struct spool *s, const char *dir)
{
	s->len = 0;
	s->bytes = 0;
	s->error = 0;
	s->fd = open_unnamed(dir);
	return s->fd < 0 ? -1 : 0;
}

static void spool_flush(struct spool *s)
{
	if (s->len && !s->error && write_all(s->fd, s->buf, s->len) < 0)
		s->error = errno ? errno : EIO;
	s->len = 0;
}

void spool_put(struct spool *s, const void *p, size_t n)
{
	s->bytes += n;
	if (s->error)
		return;
	if (n >= sizeof s->buf) {
		spool_flush(s);
		if (!s->error && write_all(s->fd, p, n) < 0)
			s->error = errno ? errno : EIO;
		return;
	}
	if (s->len + n > sizeof s->buf)
		spool_flush(s);
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

int spool_rewind(struct spool *s)
{
	spool_flush(s);
	if (!s->error && lseek(s->fd, 0, SEEK_SET) < 0)
		s->error = errno;
	return s->error ? -1 : 0;
}

void spool_close(struct spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
