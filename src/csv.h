/* csv.h - reading a CSV file (RFC 4180) row by row: quoted fields with
 * commas, quotes ("") and line breaks inside, CRLF or LF line ends, a
 * UTF-8 byte order mark at the start skipped, empty lines skipped.
 * Like Python's csv module, a quote inside an unquoted field and text
 * after a closing quote are kept as they are; a quote left open at the
 * end of the file is an error.  A row is at most CSV_ROW_MAX octets and
 * CSV_FIELDS_MAX fields. */
#ifndef MAILPIPE_CSV_H
#define MAILPIPE_CSV_H

#include <stddef.h>
#include <stdio.h>

#define CSV_ROW_MAX (1024 * 1024)
#define CSV_FIELDS_MAX 1024

struct csv_reader {
	FILE *fp;
	unsigned long line;        /* the line the next row starts on (1-based) */
	unsigned long row_line;    /* the line the last row read started on */
	char *buf;                 /* the fields, each NUL-terminated */
	size_t len, cap;
	size_t start[CSV_FIELDS_MAX];
	size_t nfields;
	int back[4];               /* characters read ahead */
	int nback;
};

enum csv_result { CSV_ROW, CSV_END, CSV_ERROR };

/* Starts reading fp (from its current offset). */
void csv_open(struct csv_reader *r, FILE *fp);
/* The next row; on CSV_ERROR err says what and where. */
enum csv_result csv_read(struct csv_reader *r, char *err, size_t err_size);
/* Field i of the last row read (i < r->nfields). */
const char *csv_field(const struct csv_reader *r, size_t i);
void csv_close(struct csv_reader *r);

#endif
