/* spool.c - streaming the incoming message to an unnamed file. */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

int spool_open(struct spool *s, const char *dir)
{
	s->len = 0;
	s->bytes = 0;
	s->error = 0;
	if (snprintf(s->dir, sizeof s->dir, "%s", dir) >= (int)sizeof s->dir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	s->fd = memfd_create("mailpipe-spool", MFD_CLOEXEC);
	s->in_memory = s->fd >= 0;
	if (s->fd < 0)
		s->fd = unnamed_open(dir);
	if (s->fd < 0)
		return -1;
	s->start = SPOOL_HEAD_ROOM;   /* a hole: costs no memory, no disk */
	if (lseek(s->fd, s->start, SEEK_SET) < 0) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	return 0;
}

/* Moves what the memfd holds to a file on disk; 0 or -1 with errno. */
static int spill_to_disk(struct spool *s)
{
	int disk = unnamed_open(s->dir);
	if (disk < 0)
		return -1;
	char buf[STREAM_BUF];
	off_t off = s->start;
	ssize_t r;
	if (lseek(disk, off, SEEK_SET) < 0) {
		close(disk);
		return -1;
	}
	while ((r = pread(s->fd, buf, sizeof buf, off)) > 0) {
		if (write_all(disk, buf, (size_t)r) < 0) {
			int saved = errno;
			close(disk);
			errno = saved;
			return -1;
		}
		off += r;
	}
	if (r < 0) {
		close(disk);
		return -1;
	}
	close(s->fd);
	s->fd = disk;
	s->in_memory = 0;
	return 0;
}

static void spool_flush(struct spool *s)
{
	/* bytes counts what is buffered too: spill before the memfd passes the
	 * limit by more than one buffer */
	if (!s->error && s->in_memory && s->bytes > SPOOL_MEMORY_MAX && spill_to_disk(s) < 0)
		s->error = errno ? errno : EIO;
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
	if (!s->error && lseek(s->fd, s->start, SEEK_SET) < 0)
		s->error = errno;
	return s->error ? -1 : 0;
}

int spool_prepend(struct spool *s, const char *text, size_t len)
{
	if ((off_t)len > s->start) {
		errno = ENOSPC;
		return -1;
	}
	off_t at = s->start - (off_t)len;
	if (pwrite(s->fd, text, len, at) != (ssize_t)len || lseek(s->fd, at, SEEK_SET) < 0)
		return -1;
	s->start = at;
	return 0;
}

/* Copies fd's [from, to) into the spool t. */
static void copy_span(struct spool *t, int fd, off_t from, off_t to)
{
	char buf[STREAM_BUF];
	while (from < to && !t->error) {
		size_t want = (size_t)(to - from) < sizeof buf ? (size_t)(to - from) : sizeof buf;
		ssize_t r = pread(fd, buf, want, from);
		if (r <= 0) {
			t->error = r < 0 ? errno : EIO;
			return;
		}
		spool_put(t, buf, (size_t)r);
		from += r;
	}
}

int spool_cut(struct spool *s, const struct spool_range *ranges, size_t n)
{
	struct spool *t = malloc(sizeof *t);
	if (!t || spool_open(t, s->dir) < 0) {
		free(t);
		return -1;
	}
	off_t end = lseek(s->fd, 0, SEEK_END), at = s->start;
	for (size_t i = 0; i < n; i++) {
		copy_span(t, s->fd, at, ranges[i].offset);
		at = ranges[i].offset + (off_t)ranges[i].length;
	}
	copy_span(t, s->fd, at, end);
	if (end < 0 || spool_rewind(t) < 0) {
		int saved = t->error ? t->error : errno;
		spool_close(t);
		free(t);
		lseek(s->fd, s->start, SEEK_SET);
		errno = saved;
		return -1;
	}
	spool_close(s);
	*s = *t;
	free(t);
	return 0;
}

void spool_close(struct spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}
