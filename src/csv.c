/* csv.c - RFC 4180 rows from a stream, with bounded memory. */
#include "csv.h"

#include <stdlib.h>
#include <string.h>

void csv_open(struct csv_reader *r, FILE *fp)
{
	memset(r, 0, sizeof *r);
	r->fp = fp;
	r->line = 1;
	int c0 = getc(fp);
	if (c0 == 0xef) {   /* a byte order mark, as spreadsheets write */
		int c1 = getc(fp), c2 = getc(fp);
		if (c1 == 0xbb && c2 == 0xbf)
			return;
		r->back[r->nback++] = c2;   /* pushed back in reverse order */
		r->back[r->nback++] = c1;
	}
	r->back[r->nback++] = c0;
}

static int next_char(struct csv_reader *r)
{
	if (r->nback > 0)
		return r->back[--r->nback];
	return getc_unlocked(r->fp);
}

static int peek_char(struct csv_reader *r)
{
	int ch = next_char(r);
	r->back[r->nback++] = ch;
	return ch;
}

static int put(struct csv_reader *r, char ch)
{
	if (r->len == r->cap) {
		if (r->cap >= CSV_ROW_MAX)
			return -1;
		size_t cap = r->cap ? r->cap * 2 : 4096;
		char *buf = realloc(r->buf, cap);
		if (!buf)
			return -1;
		r->buf = buf;
		r->cap = cap;
	}
	r->buf[r->len++] = ch;
	return 0;
}

static int end_field(struct csv_reader *r, size_t *field_start)
{
	if (r->nfields == CSV_FIELDS_MAX || put(r, '\0') < 0)
		return -1;
	r->start[r->nfields++] = *field_start;
	*field_start = r->len;
	return 0;
}

/* A line end: LF, CRLF or a lone CR; the LF of a CRLF is consumed. */
static int line_end(struct csv_reader *r, int ch)
{
	if (ch == '\r' && peek_char(r) == '\n')
		next_char(r);
	r->line++;
	return 1;
}

struct row_state {
	size_t field_start;
	int quoted;        /* inside quotes */
	int field_begun;   /* the field has a character (or a quote) */
	int row_begun;     /* the row has anything, even a comma */
};

/* One character inside quotes: "" is a quote, " alone closes. */
static int quoted_char(struct csv_reader *r, struct row_state *s, int ch)
{
	if (ch == '"') {
		if (peek_char(r) == '"')
			return put(r, (char)next_char(r));
		s->quoted = 0;
		return 0;
	}
	if ((ch == '\r' || ch == '\n') && line_end(r, ch))
		ch = '\n';   /* a line break in a value is LF, as in the message */
	return put(r, (char)ch);
}

enum csv_result csv_read(struct csv_reader *r, char *err, size_t err_size)
{
	struct row_state s = { 0 };
	r->len = r->nfields = 0;
	r->row_line = r->line;
	for (;;) {
		int ch = next_char(r);
		int overflow = 0;
		if (ch == EOF) {
			if (s.quoted) {
				snprintf(err, err_size, "line %lu: a quote is never closed", r->row_line);
				return CSV_ERROR;
			}
			if (!s.row_begun)
				return ferror(r->fp) ? (snprintf(err, err_size, "read error"), CSV_ERROR) : CSV_END;
			overflow = end_field(r, &s.field_start);
			if (!overflow)
				return CSV_ROW;
		} else if (s.quoted) {
			overflow = quoted_char(r, &s, ch);
		} else if (ch == '"' && !s.field_begun) {
			s.quoted = s.field_begun = s.row_begun = 1;
		} else if (ch == ',') {
			overflow = end_field(r, &s.field_start);
			s.field_begun = 0;
			s.row_begun = 1;
		} else if (ch == '\n' || ch == '\r') {
			line_end(r, ch);
			if (!s.row_begun) {   /* an empty line */
				r->row_line = r->line;
				continue;
			}
			overflow = end_field(r, &s.field_start);
			if (!overflow)
				return CSV_ROW;
		} else {
			overflow = put(r, (char)ch);
			s.field_begun = s.row_begun = 1;
		}
		if (overflow) {
			snprintf(err, err_size, "line %lu: the row is longer than %d octets or %d fields",
				 r->row_line, CSV_ROW_MAX, CSV_FIELDS_MAX);
			return CSV_ERROR;
		}
	}
}

const char *csv_field(const struct csv_reader *r, size_t i)
{
	return r->buf + r->start[i];
}

void csv_close(struct csv_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}
