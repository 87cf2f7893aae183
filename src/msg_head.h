/* msg_head.h - the header of a message that a person or a script hands us
 * (smtp-send, sendmail): read field by field, Bcc dropped, and the fields
 * every message needs (Date, Message-ID, From; RFC 5322 3.6) added at the
 * end of the header when they are missing, as Postfix's cleanup does.
 *
 * Input may have CRLF or LF line ends; the copy has LF (what mail-store
 * and the SMTP client take).  Memory is bounded: a field is at most
 * HEAD_FIELD_MAX octets, the body is streamed.
 */
#ifndef MAILPIPE_MSG_HEAD_H
#define MAILPIPE_MSG_HEAD_H

#include <stdio.h>

#define HEAD_FIELD_MAX 65536   /* one field with its folded lines */

/* Reads lines from a stream: CRLF turned into LF, and with dot_ends a line
 * holding only "." is the end (sendmail without -i). */
struct head_in {
	FILE *fp;
	int dot_ends;
	int eof;
	int at_line_start;
};

enum head_read {
	HEAD_FIELD,      /* a field, in buf with its line ends */
	HEAD_END,        /* the empty line that ends the header (consumed) */
	HEAD_NOT_FIELD,  /* a line that is no field: the body starts here (in buf) */
	HEAD_EOF,        /* the input ended inside the header */
	HEAD_TOO_LONG,   /* a field over the limit */
	HEAD_ERROR,      /* a read error (errno) */
};

/* The next field of the header into buf (NUL-terminated; *len octets). */
enum head_read head_read_field(struct head_in *in, char *buf, size_t size, size_t *len);

/* 1 when field (as read) is named name, case-insensitively. */
int head_field_is(const char *field, const char *name);

/* The fields head_copy found, and what to put in those it did not. */
struct head_fix {
	const char *sender;      /* the envelope sender: From: and the Message-ID domain */
	const char *full_name;   /* for a From: we add ("" or NULL: none) */
	const char *hostname;    /* Message-ID domain when the sender has none */
	int keep_bcc;
	/* found in the header */
	int has_date, has_message_id, has_from;
	/* called for every field (unfolded value), e.g. sendmail -t */
	int (*on_field)(const char *name, const char *value, void *arg);
	void *arg;
};

/* Copies the message from in to out with the header fixed.  0, or an
 * exit code from sysexits.h with the reason on stderr (prog: ...). */
int head_copy(struct head_in *in, FILE *out, struct head_fix *fix, const char *prog);

/* Writes the Date, Message-ID and From fields fix says are missing. */
int head_write_missing(FILE *out, const struct head_fix *fix);

/* "Mon, 23 Nov 2026 10:00:00 +0100" for now. */
void head_date(char *buf, size_t size);
/* "<1795420800.12345.8f3a9c01d2e4b6a7@domain>": unique and random. */
void head_message_id(char *buf, size_t size, const char *domain);

#endif
