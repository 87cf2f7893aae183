/* head_scan.h - the header fields of a message in a file (LF line ends),
 * one at a time, with where each one is: for the From: domain of DKIM and
 * DMARC and for finding Authentication-Results fields to remove.  Memory
 * stays bounded: a field longer than HEAD_FIELD_MAX is cut (and says so). */
#ifndef MAILPIPE_HEAD_SCAN_H
#define MAILPIPE_HEAD_SCAN_H

#include <stddef.h>
#include <sys/types.h>

#define HEAD_FIELD_MAX 8192

struct head_field {
	const char *text;    /* the field as written, folding kept, NUL-terminated */
	size_t text_len;     /* at most HEAD_FIELD_MAX - 1 */
	size_t name_len;     /* octets before the ':', 0 when there is none */
	off_t offset;        /* where the field starts in the file */
	size_t length;       /* its whole length with the last LF, cut or not */
	int cut;             /* text holds only the start */
};

/* Called for each field; nonzero stops the scan. */
typedef int (*head_field_fn)(void *arg, const struct head_field *field);

/* Scans the header section starting at off: 1 when fn stopped it, 0 at
 * its end (the empty line or the end of the file), -1 on a read error. */
int head_scan(int fd, off_t off, head_field_fn fn, void *arg);

/* Is this field named name (case-insensitive)? */
int head_field_is(const struct head_field *field, const char *name);

/* The value (after the ':') unfolded into out: CR/LF dropped, leading
 * blanks skipped.  Returns its length. */
size_t head_field_value(const struct head_field *field, char *out, size_t size);

#endif
