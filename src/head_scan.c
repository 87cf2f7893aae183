/* head_scan.c - reading header fields back from a message file. */
#include "head_scan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fsutil.h"

struct scanner {
	int fd;
	off_t pos;               /* file offset of buf[0] */
	char buf[STREAM_BUF];
	size_t len, at;
	int eof;
	char field[HEAD_FIELD_MAX];
	struct head_field cur;   /* the field being gathered; length 0: none */
};

/* The next octet, or -1 at the end of the file, -2 on an error. */
static int next_octet(struct scanner *s)
{
	if (s->at == s->len) {
		if (s->eof)
			return -1;
		s->pos += (off_t)s->len;
		ssize_t r = pread(s->fd, s->buf, sizeof s->buf, s->pos);
		if (r < 0)
			return -2;
		s->len = (size_t)r;
		s->at = 0;
		if (r == 0) {
			s->eof = 1;
			return -1;
		}
	}
	return (unsigned char)s->buf[s->at++];
}

static int emit(struct scanner *s, head_field_fn fn, void *arg)
{
	if (s->cur.length == 0)
		return 0;
	s->field[s->cur.text_len] = '\0';
	const char *colon = memchr(s->field, ':', s->cur.text_len);
	s->cur.name_len = colon ? (size_t)(colon - s->field) : 0;
	s->cur.text = s->field;
	int stop = fn(arg, &s->cur);
	memset(&s->cur, 0, sizeof s->cur);
	return stop;
}

static void add_octet(struct scanner *s, int c)
{
	if (s->cur.text_len < sizeof s->field - 1)
		s->field[s->cur.text_len++] = (char)c;
	else
		s->cur.cut = 1;
	s->cur.length++;
}

int head_scan(int fd, off_t off, head_field_fn fn, void *arg)
{
	struct scanner *s = calloc(1, sizeof *s);
	if (!s)
		return -1;
	s->fd = fd;
	s->pos = off;
	int rc = 0, at_line_start = 1;
	for (;;) {
		int c = next_octet(s);
		if (c == -2) {
			rc = -1;
			break;
		}
		off_t where = s->pos + (off_t)s->at - 1;
		if (c == -1 || (at_line_start && c == '\n')) {
			rc = emit(s, fn, arg) ? 1 : 0;   /* the end of the header */
			break;
		}
		if (at_line_start && c != ' ' && c != '\t') {
			if (emit(s, fn, arg)) {
				rc = 1;
				break;
			}
		}
		if (s->cur.length == 0)
			s->cur.offset = where;
		add_octet(s, c);
		at_line_start = c == '\n';
	}
	free(s);
	return rc;
}

int head_field_is(const struct head_field *field, const char *name)
{
	size_t n = strlen(name);
	return field->name_len == n && strncasecmp(field->text, name, n) == 0;
}

size_t head_field_value(const struct head_field *field, char *out, size_t size)
{
	size_t len = 0;
	const char *p = field->text + field->name_len + (field->name_len < field->text_len);
	if (field->name_len == 0 || size == 0)
		return size ? (out[0] = '\0', 0) : 0;
	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p && len + 1 < size; p++)
		if (*p != '\r' && *p != '\n')
			out[len++] = *p;
	while (len > 0 && (out[len - 1] == ' ' || out[len - 1] == '\t'))
		len--;
	out[len] = '\0';
	return len;
}
