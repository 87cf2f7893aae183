/* message.h - copy a message from stdin to a file, CRLF turned into LF,
 * noting what the index needs (Subject, Message-ID) and what is wrong with
 * it (NUL octets).  Memory stays bounded whatever the input. */
#ifndef MAILPIPE_MESSAGE_H
#define MAILPIPE_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#define MESSAGE_FIELD_MAX 256

struct message_info {
	uint64_t size;                     /* bytes written (LF form) */
	int has_nul;
	char subject[MESSAGE_FIELD_MAX];
	char message_id[MESSAGE_FIELD_MAX];
	/* private: the header scanner */
	int in_headers;
	int pending_cr;
	int after_lf;
	char line[1024];
	size_t line_len;
	uint64_t header_bytes;
};

void message_info_init(struct message_info *m);
/* Copies in_fd to its end into out_fd.  0, or -1 with errno (the read or
 * the write failed; EFBIG / ENOSPC when the disk or the limit is full). */
int message_copy(int in_fd, int out_fd, struct message_info *m);

#endif
