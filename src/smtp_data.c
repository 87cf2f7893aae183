/* smtp_data.c - DATA (dot-stuffed, CRLF.CRLF-terminated) and BDAT readers. */
#include "smtp_data.h"

#include <string.h>

enum {
	DR_BOL,     /* at the start of a line (after CRLF) */
	DR_DOT,     /* a '.' at the start of a line */
	DR_DOT_CR,  /* ".<CR>" at the start of a line */
	DR_TEXT,    /* inside a line */
	DR_CR,      /* a CR inside a line */
};

/* Keeps n octets of message text, unless the message is already too big. */
static void keep(uint64_t octets, uint64_t limit, int *too_big, struct spool *out,
		 const void *p, size_t n)
{
	if (octets > limit)
		*too_big = 1;
	if (!*too_big && n)
		spool_put(out, p, n);
}

void data_reader_init(struct data_reader *r, uint64_t limit)
{
	memset(r, 0, sizeof *r);
	r->state = DR_BOL;
	r->limit = limit;
}

/* How far one text_run looks: memchr is fast, but scanning the whole
 * buffer for each short run would be quadratic on hostile input (a bare
 * LF every other octet); a bounded window keeps every case linear. */
#define RUN_WINDOW 512

/* Length of the run of plain text at in (no CR, LF or NUL): this sees
 * every octet of every message, so it uses memchr, not a byte loop. */
static size_t text_run(const unsigned char *in, size_t n)
{
	size_t end = n < RUN_WINDOW ? n : RUN_WINDOW;
	const unsigned char *p = memchr(in, '\r', end);   /* CRLF: CR comes first */
	if (p)
		end = (size_t)(p - in);
	if ((p = memchr(in, '\n', end)) != NULL)
		end = (size_t)(p - in);
	if ((p = memchr(in, '\0', end)) != NULL)
		end = (size_t)(p - in);
	return end;
}

/* One step of the state machine; returns octets consumed (0: reprocess). */
static size_t data_step(struct data_reader *r, const unsigned char *in, size_t n,
			struct spool *out)
{
	unsigned char c = in[0];
	switch (r->state) {
	case DR_BOL:
		if (c == '.') {
			r->octets++;
			r->state = DR_DOT;
			return 1;
		}
		r->state = DR_TEXT;
		return 0;
	case DR_DOT:
		if (c == '\r') {
			r->state = DR_DOT_CR;
			return 1;
		}
		r->state = DR_TEXT;   /* the stuffed dot is dropped */
		return 0;
	case DR_DOT_CR:
		if (c == '\n') {
			r->done = 1;
			r->octets--;      /* the terminating '.' is not message text */
			return 1;
		}
		r->bare_eol = 1;      /* ".<CR>x": a bare CR */
		r->octets++;
		r->state = DR_TEXT;
		return 0;
	case DR_CR:
		if (c == '\n') {
			r->octets += 2;
			keep(r->octets, r->limit, &r->too_big, out, "\n", 1);
			r->state = DR_BOL;
			return 1;
		}
		r->bare_eol = 1;
		r->octets++;
		keep(r->octets, r->limit, &r->too_big, out, "\r", 1);
		r->state = DR_TEXT;
		return 0;
	default: /* DR_TEXT */
		if (c == '\r') {
			r->state = DR_CR;
			return 1;
		}
		r->octets++;
		if (c == '\n') {
			/* bare LF: kept, but the next line does NOT start a line for
			 * the end-of-data check */
			r->bare_eol = 1;
			keep(r->octets, r->limit, &r->too_big, out, "\n", 1);
			return 1;
		}
		if (c == '\0')
			r->has_nul = 1;
		size_t run = c == '\0' ? 1 : text_run(in, n);
		r->octets += run - 1;
		keep(r->octets, r->limit, &r->too_big, out, in, run);
		return run;
	}
}

size_t data_reader_feed(struct data_reader *r, const unsigned char *in, size_t n,
			struct spool *out)
{
	size_t used = 0;
	while (used < n && !r->done)
		used += data_step(r, in + used, n - used, out);
	return used;
}

void bdat_reader_init(struct bdat_reader *r, uint64_t limit)
{
	memset(r, 0, sizeof *r);
	r->limit = limit;
}

void bdat_reader_feed(struct bdat_reader *r, const unsigned char *in, size_t n,
		      struct spool *out)
{
	size_t i = 0;
	if (r->pending_cr && n > 0) {
		r->pending_cr = 0;
		if (in[0] == '\n') {
			r->octets++;
			keep(r->octets, r->limit, &r->too_big, out, "\n", 1);
			i = 1;
		} else {
			r->bare_eol = 1;
			keep(r->octets, r->limit, &r->too_big, out, "\r", 1);
		}
	}
	while (i < n) {
		size_t run = text_run(in + i, n - i);
		r->octets += run;
		keep(r->octets, r->limit, &r->too_big, out, in + i, run);
		i += run;
		if (i == n)
			break;
		if (in[i] != '\r' && in[i] != '\n' && in[i] != '\0')
			continue;   /* the run stopped at its window, inside a long line */
		unsigned char c = in[i++];
		r->octets++;
		if (c == '\0') {
			r->has_nul = 1;
			keep(r->octets, r->limit, &r->too_big, out, "", 1);
		} else if (c == '\n') {
			r->bare_eol = 1;
			keep(r->octets, r->limit, &r->too_big, out, "\n", 1);
		} else if (i == n) {
			r->pending_cr = 1;   /* CR at the end of this piece */
		} else if (in[i] == '\n') {
			r->octets++;
			i++;
			keep(r->octets, r->limit, &r->too_big, out, "\n", 1);
		} else {
			r->bare_eol = 1;
			keep(r->octets, r->limit, &r->too_big, out, "\r", 1);
		}
	}
}

void bdat_reader_end(struct bdat_reader *r, struct spool *out)
{
	if (r->pending_cr) {
		r->pending_cr = 0;
		r->bare_eol = 1;
		keep(r->octets, r->limit, &r->too_big, out, "\r", 1);
	}
}
