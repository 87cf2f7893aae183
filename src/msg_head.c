/* msg_head.c - a message's header read, fixed and copied. */
#include "msg_head.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "mime_word.h"

static int peek(struct head_in *in)
{
	if (in->eof)
		return EOF;
	int ch = getc(in->fp);
	if (ch != EOF)
		ungetc(ch, in->fp);
	return ch;
}

/* One line (or, when it is longer than size - 1, a piece of one) into buf,
 * NUL-terminated, CRLF made LF, NUL octets kept.  The count, or 0 at the
 * end (EOF, or the "." line). */
static size_t in_line(struct head_in *in, char *buf, size_t size)
{
	size_t len = 0;
	int ch = EOF;
	while (!in->eof && len + 1 < size && (ch = getc_unlocked(in->fp)) != EOF) {
		buf[len++] = (char)ch;
		if (ch == '\n')
			break;
	}
	buf[len] = '\0';
	if (len == 0) {
		in->eof = 1;
		return 0;
	}
	if (len >= 2 && buf[len - 2] == '\r' && buf[len - 1] == '\n') {
		buf[--len - 1] = '\n';
		buf[len] = '\0';
	} else if (buf[len - 1] == '\r' && peek(in) == '\n') {   /* a CRLF split by the buffer */
		getc_unlocked(in->fp);
		buf[len - 1] = '\n';
	}
	int starts = in->at_line_start;
	in->at_line_start = buf[len - 1] == '\n';
	if (in->dot_ends && starts && (strcmp(buf, ".\n") == 0 || (len == 1 && buf[0] == '.' && peek(in) == EOF))) {
		in->eof = 1;
		return 0;
	}
	return len;
}


/* The length of a field name of printable ASCII but no colon (RFC 5322
 * 2.2), and the blanks after it that RFC 5322 4.5.8 still allows. */
static size_t name_end(const char *line, size_t *blanks)
{
	size_t i = 0, b = 0;
	while (line[i] > 32 && line[i] < 127 && line[i] != ':')
		i++;
	while (line[i + b] == ' ' || line[i + b] == '\t')
		b++;
	*blanks = b;
	return i;
}

static int starts_field(const char *line)
{
	size_t blanks, n = name_end(line, &blanks);
	return n > 0 && line[n + blanks] == ':';
}

/* A field always ends in LF, even the last line of an input that has
 * none: what is written after it must start a line of its own. */
static enum head_read end_field(char *buf, size_t size, size_t *len)
{
	if (buf[*len - 1] == '\n')
		return HEAD_FIELD;
	if (*len + 1 >= size)
		return HEAD_TOO_LONG;
	buf[(*len)++] = '\n';
	buf[*len] = '\0';
	return HEAD_FIELD;
}

enum head_read head_read_field(struct head_in *in, char *buf, size_t size, size_t *len)
{
	*len = 0;
	size_t n = in_line(in, buf, size);
	if (n == 0)
		return ferror(in->fp) ? HEAD_ERROR : HEAD_EOF;
	*len = n;
	if (strcmp(buf, "\n") == 0)
		return HEAD_END;
	if (!starts_field(buf))
		return HEAD_NOT_FIELD;
	for (;;) {
		if (buf[*len - 1] != '\n' && !in->eof && !feof(in->fp))
			return HEAD_TOO_LONG;   /* the line did not fit */
		int next = peek(in);
		if (next != ' ' && next != '\t')
			return end_field(buf, size, len);
		if (*len + 2 >= size)
			return HEAD_TOO_LONG;
		n = in_line(in, buf + *len, size - *len);
		if (n == 0)
			return end_field(buf, size, len);
		*len += n;
	}
}

int head_field_is(const char *field, const char *name)
{
	size_t blanks, n = name_end(field, &blanks);
	return n == strlen(name) && strncasecmp(field, name, n) == 0 && field[n + blanks] == ':';
}

/* The value of a field without its name, folds or final line end. */
static void unfold(const char *field, char *out, size_t size)
{
	const char *p = strchr(field, ':') + 1;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t o = 0;
	for (; *p && o + 1 < size; p++)
		if (*p != '\n' && *p != '\r')
			out[o++] = *p;
	out[o] = '\0';
}

void head_date(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	if (strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0 && size)
		buf[0] = '\0';
}

void head_message_id(char *buf, size_t size, const char *domain)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r ^= (uint64_t)clock() << 20 ^ (uint64_t)(uintptr_t)buf;   /* still unique with the pid and time */
	snprintf(buf, size, "<%lld.%d.%016llx@%s>", (long long)time(NULL), (int)getpid(),
		 (unsigned long long)r, domain && *domain ? domain : "localhost");
}

static int write_from(FILE *out, const struct head_fix *fix)
{
	if (!fix->sender || !*fix->sender)   /* the null sender: as Postfix's cleanup does */
		return fprintf(out, "From: MAILER-DAEMON@%s\n", fix->hostname && *fix->hostname ?
			       fix->hostname : "localhost") < 0 ? -1 : 0;
	if (!fix->full_name || !*fix->full_name)
		return fprintf(out, "From: %s\n", fix->sender) < 0 ? -1 : 0;
	char phrase[1024];
	if (mime_phrase(fix->full_name, strlen(fix->full_name), phrase, sizeof phrase) < 0)
		return fprintf(out, "From: %s\n", fix->sender) < 0 ? -1 : 0;
	return fprintf(out, "From: %s <%s>\n", phrase, fix->sender) < 0 ? -1 : 0;
}

int head_write_missing(FILE *out, const struct head_fix *fix)
{
	char value[512];
	if (!fix->has_date) {
		head_date(value, sizeof value);
		if (fprintf(out, "Date: %s\n", value) < 0)
			return -1;
	}
	if (!fix->has_message_id) {
		const char *at = fix->sender ? strrchr(fix->sender, '@') : NULL;
		head_message_id(value, sizeof value, at && at[1] ? at + 1 : fix->hostname);
		if (fprintf(out, "Message-ID: %s\n", value) < 0)
			return -1;
	}
	if (!fix->has_from && write_from(out, fix) < 0)
		return -1;
	return 0;
}

/* Notes the field; 1 when it is copied, 0 when it is dropped, -1 when the
 * caller's on_field refused it. */
static int note_field(struct head_fix *fix, const char *field)
{
	fix->has_date |= head_field_is(field, "Date");
	fix->has_message_id |= head_field_is(field, "Message-ID");
	fix->has_from |= head_field_is(field, "From");
	if (fix->on_field) {
		char name[128], value[HEAD_FIELD_MAX];
		size_t blanks, n = name_end(field, &blanks);
		snprintf(name, sizeof name, "%.*s", (int)n, field);
		unfold(field, value, sizeof value);
		if (fix->on_field(name, value, fix->arg) < 0)
			return -1;
	}
	return fix->keep_bcc || !(head_field_is(field, "Bcc") || head_field_is(field, "Resent-Bcc"));
}

/* A field as read, but "Name : value" (RFC 5322 4.5.8, obsolete) written
 * "Name: value", which every reader understands. */
static int write_field(FILE *out, const char *field, size_t len)
{
	size_t blanks, n = name_end(field, &blanks);
	if (fwrite(field, 1, n, out) != n)
		return -1;
	return fwrite(field + n + blanks, 1, len - n - blanks, out) == len - n - blanks ? 0 : -1;
}

/* An mbox separator ("From alice@x Mon Nov 23 10:00:00 2026") before the
 * header, as mail(1) users and scripts that cut messages from an mbox
 * leave: not a field, and kept it would end the header there and put the
 * real one in the body.  Postfix's sendmail drops it the same way. */
static int mbox_separator(const char *line, size_t len)
{
	return (len >= 5 && memcmp(line, "From ", 5) == 0) ||
	       (len >= 6 && memcmp(line, ">From ", 6) == 0);
}

/* The header up to and with the empty line; the first body line, if it
 * was read already, in line.  0 or an exit code. */
static int copy_header(struct head_in *in, FILE *out, struct head_fix *fix, const char *prog,
		       char *field, size_t *pending)
{
	int before_header = 1;
	for (;;) {
		size_t len;
		enum head_read r = head_read_field(in, field, HEAD_FIELD_MAX, &len);
		if (r == HEAD_NOT_FIELD && before_header && mbox_separator(field, len))
			continue;
		before_header = 0;
		switch (r) {
		case HEAD_FIELD: {
			int keep = note_field(fix, field);
			if (keep < 0)
				return EX_DATAERR;
			if (keep && write_field(out, field, len) < 0)
				return EX_IOERR;
			continue;
		}
		case HEAD_TOO_LONG:
			fprintf(stderr, "%s: a header field is longer than %d octets\n", prog, HEAD_FIELD_MAX);
			return EX_DATAERR;
		case HEAD_ERROR:
			fprintf(stderr, "%s: reading the message: %s\n", prog, strerror(errno));
			return EX_IOERR;
		case HEAD_NOT_FIELD:
			*pending = len;   /* no empty line: the header ended before this line */
			break;
		case HEAD_END:
		case HEAD_EOF:
			break;
		}
		if (head_write_missing(out, fix) < 0 || (r != HEAD_EOF && fputc('\n', out) == EOF))
			return EX_IOERR;
		return 0;
	}
}

int head_copy(struct head_in *in, FILE *out, struct head_fix *fix, const char *prog)
{
	static char field[HEAD_FIELD_MAX];
	size_t pending = 0;
	in->at_line_start = 1;
	int rc = copy_header(in, out, fix, prog, field, &pending);
	if (rc)
		return rc;
	if (pending && fwrite(field, 1, pending, out) != pending)
		return EX_IOERR;
	char buf[STREAM_BUF];
	size_t n;
	while ((n = in_line(in, buf, sizeof buf)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			return EX_IOERR;
	if (ferror(in->fp)) {
		fprintf(stderr, "%s: reading the message: %s\n", prog, strerror(errno));
		return EX_IOERR;
	}
	return fflush(out) == EOF || ferror(out) ? EX_IOERR : 0;
}
