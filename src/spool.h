/* spool.h - the message being received, streamed to an anonymous file.
 *
 * smtp-recv writes the message here as it arrives (LF line endings), then
 * hands the file to mail-store as its stdin.  The first SPOOL_MEMORY_MAX
 * bytes go to a memfd; a longer message moves to an unnamed file on disk
 * (O_TMPFILE) and streams on there.  Neither has a name, so a killed
 * smtp-recv leaves nothing behind.  (A disk file per message made ext4
 * allocate and free an inode per message, which was half the CPU.) */
#ifndef MAILPIPE_SPOOL_H
#define MAILPIPE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "fsutil.h"

#define SPOOL_MEMORY_MAX (1024 * 1024)
/* Room kept free before the message for fields added once it has all
 * arrived (Authentication-Results): they go in above it, nothing moves. */
#define SPOOL_HEAD_ROOM 8192

struct spool {
	int fd;
	int in_memory;        /* fd is a memfd */
	char dir[4096];       /* where a long message goes */
	char buf[STREAM_BUF];
	size_t len;
	uint64_t bytes;   /* bytes put so far */
	off_t start;      /* where the message starts: SPOOL_HEAD_ROOM, less what was prepended */
	int error;        /* errno of the first failure, 0 if none */
};

/* Opens a spool that spills into dir when long; 0, or -1 with errno. */
int spool_open(struct spool *s, const char *dir);
/* Buffers bytes; a write failure is remembered in s->error. */
void spool_put(struct spool *s, const void *p, size_t n);
/* Flushes and positions the file at the start of the message for reading;
 * 0, or -1 with s->error set. */
int spool_rewind(struct spool *s);
/* After spool_rewind: puts text above the message (at most the head room
 * left); the file is positioned at it.  0, or -1 with errno. */
int spool_prepend(struct spool *s, const char *text, size_t len);
/* After spool_rewind: copies the message into a new spool without the
 * byte ranges given (sorted, within the message), and puts that in s's
 * place.  0, or -1 with errno (s is unchanged then). */
struct spool_range {
	off_t offset;
	size_t length;
};
int spool_cut(struct spool *s, const struct spool_range *ranges, size_t n);
void spool_close(struct spool *s);

#endif
