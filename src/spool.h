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

struct spool {
	int fd;
	int in_memory;        /* fd is a memfd */
	char dir[4096];       /* where a long message goes */
	char buf[STREAM_BUF];
	size_t len;
	uint64_t bytes;   /* bytes put so far */
	int error;        /* errno of the first failure, 0 if none */
};

/* Opens a spool that spills into dir when long; 0, or -1 with errno. */
int spool_open(struct spool *s, const char *dir);
/* Buffers bytes; a write failure is remembered in s->error. */
void spool_put(struct spool *s, const void *p, size_t n);
/* Flushes and rewinds for reading; 0, or -1 with s->error set. */
int spool_rewind(struct spool *s);
void spool_close(struct spool *s);

#endif
