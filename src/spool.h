/* spool.h - the message being received, streamed to an anonymous file.
 *
 * smtp-recv writes the message here as it arrives (LF line endings), then
 * hands the file to mail-store as its stdin.  The file has no name
 * (O_TMPFILE), so a killed smtp-recv leaves nothing behind. */
#ifndef MAILPIPE_SPOOL_H
#define MAILPIPE_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct spool {
	int fd;
	char buf[65536];
	size_t len;
	uint64_t bytes;   /* bytes put so far */
	int error;        /* errno of the first failure, 0 if none */
};

/* Opens an unnamed file in dir; 0, or -1 with errno. */
int spool_open(struct spool *s, const char *dir);
/* Buffers bytes; a write failure is remembered in s->error. */
void spool_put(struct spool *s, const void *p, size_t n);
/* Flushes and rewinds for reading; 0, or -1 with s->error set. */
int spool_rewind(struct spool *s);
void spool_close(struct spool *s);

#endif
