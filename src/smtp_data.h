/* smtp_data.h - the message readers for DATA and BDAT.
 *
 * Both turn SMTP's CRLF lines into LF lines for the spool.  A bare CR or a
 * bare LF is never a line end: it only marks the message as malformed
 * (bare_eol), and the session rejects it.  So "<LF>.<LF>", "<CR>.<CR>" and
 * "<LF>.<CR><LF>" never end the data, and nothing after them is ever read as
 * a command (no SMTP smuggling). */
#ifndef MAILPIPE_SMTP_DATA_H
#define MAILPIPE_SMTP_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "spool.h"

struct data_reader {
	int state;          /* private */
	uint64_t octets;    /* octets received, terminator excluded */
	uint64_t limit;     /* past this many octets: too_big, nothing more kept */
	int too_big;
	int bare_eol;       /* a bare CR or LF was seen */
	int has_nul;        /* a NUL octet was seen */
	int done;           /* <CRLF>.<CRLF> was read */
};

void data_reader_init(struct data_reader *r, uint64_t limit);
/* Consumes octets up to and including the end of data; returns how many
 * were consumed (fewer than n only when r->done).  Unstuffed LF lines go to
 * out (unless too_big). */
size_t data_reader_feed(struct data_reader *r, const unsigned char *in, size_t n,
			struct spool *out);

struct bdat_reader {
	int pending_cr;     /* the last chunk ended in CR */
	uint64_t octets;
	uint64_t limit;
	int too_big;
	int bare_eol;
	int has_nul;
};

void bdat_reader_init(struct bdat_reader *r, uint64_t limit);
/* Consumes one piece of a chunk (all n octets). */
void bdat_reader_feed(struct bdat_reader *r, const unsigned char *in, size_t n,
		      struct spool *out);
/* At BDAT LAST: a CR left over is bare. */
void bdat_reader_end(struct bdat_reader *r, struct spool *out);

#endif
