/* merge.c - a template rendered for one CSV row. */
#include "merge.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "mime_word.h"

#define RENDERED_FIELD_MAX (256 * 1024)   /* one header field with its values */

/* An output buffer that notes, rather than overruns, when it is full. */
struct obuf {
	char *p;
	size_t len, cap;
	int full;
};

static void ob_add(struct obuf *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

static void ob_char(struct obuf *o, char ch)
{
	ob_add(o, &ch, 1);
}

static int has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return 1;
	return 0;
}

/* "{{ name }}" at p: its length, or 0 when there is none there.  The name,
 * spaces trimmed, goes to name (MERGE_NAME_MAX + 1 octets). */
static size_t placeholder(const char *p, const char *end, char *name)
{
	if (end - p < 5 || p[0] != '{' || p[1] != '{')
		return 0;
	const char *q = p + 2, *close = NULL;
	for (const char *s = q; s + 1 < end && s - q <= MERGE_NAME_MAX + 16; s++) {
		if (s[0] == '}' && s[1] == '}') {
			close = s;
			break;
		}
		if (*s == '{' || *s == '}' || *s == '\n' || *s == '\r')
			return 0;
	}
	if (!close)
		return 0;
	while (q < close && (*q == ' ' || *q == '\t'))
		q++;
	const char *e = close;
	while (e > q && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (e == q || e - q > MERGE_NAME_MAX)
		return 0;
	memcpy(name, q, (size_t)(e - q));
	name[e - q] = '\0';
	return (size_t)(close + 2 - p);
}

/* A placeholder in a stream that has just given first ('{'): its length
 * with it consumed, or 0 with the stream back where it was. */
static size_t stream_placeholder(FILE *tpl, int first, char *name)
{
	char win[MERGE_NAME_MAX + 24];
	size_t n = 0;
	win[n++] = (char)first;
	off_t back = ftello(tpl);
	int ch;
	while (n < sizeof win && (ch = getc_unlocked(tpl)) != EOF) {
		win[n++] = (char)ch;
		if (ch == '\n' || (n >= 2 && win[n - 2] == '}' && ch == '}'))
			break;
	}
	size_t len = placeholder(win, win + n, name);
	if (len == n)
		return len;
	if (back < 0 || fseeko(tpl, back, SEEK_SET) < 0)
		return 0;
	return 0;
}

/* The column a placeholder names: exactly, else ignoring case. */
static long column(const struct merge_columns *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->names[i], name) == 0)
			return (long)i;
	for (size_t i = 0; i < c->n; i++)
		if (strcasecmp(c->names[i], name) == 0)
			return (long)i;
	return -1;
}

int merge_check(FILE *tpl, const struct merge_columns *cols, char *unknown, size_t size)
{
	char name[MERGE_NAME_MAX + 1];
	int ch, rc = 0;
	if (fseeko(tpl, 0, SEEK_SET) < 0)
		rc = -1;
	while (rc == 0 && (ch = getc_unlocked(tpl)) != EOF)
		if (ch == '{' && stream_placeholder(tpl, ch, name) && column(cols, name) < 0) {
			snprintf(unknown, size, "%s", name);
			return -1;
		}
	if (rc < 0 || ferror(tpl)) {
		snprintf(unknown, size, "%s", "");
		return -1;
	}
	return fseeko(tpl, 0, SEEK_SET);
}

/* ---- one row ------------------------------------------------------------ */

struct render {
	const struct merge_columns *cols;
	const char *const *values;
	char field_name[64];   /* of the header field being rendered */
	unsigned used;         /* placeholders replaced in it */
	char *err;
	size_t err_size;
};

/* A placeholder's value; in the header NULL (with err) when it holds a
 * line break, which would end the field and start one of its own. */
static const char *value_of(struct render *r, const char *name, int in_header)
{
	long i = column(r->cols, name);
	if (i < 0) {
		snprintf(r->err, r->err_size, "no column \"%s\"", name);
		return NULL;
	}
	const char *v = r->values[i];
	if (in_header && strpbrk(v, "\r\n")) {
		snprintf(r->err, r->err_size, "the value of \"%s\" has a line break, which cannot go into %s:",
			 name, r->field_name);
		return NULL;
	}
	r->used++;
	return v;
}

/* Text with every placeholder replaced by its value as it is.  0, or 1. */
static int substitute(struct render *r, const char *p, const char *end, struct obuf *ob,
		      int in_header)
{
	char name[MERGE_NAME_MAX + 1];
	while (p < end) {
		size_t n = placeholder(p, end, name);
		if (!n) {
			ob_char(ob, *p++);
			continue;
		}
		const char *v = value_of(r, name, in_header);
		if (!v)
			return 1;
		ob_add(ob, v, strlen(v));
		p += n;
	}
	return 0;
}

/* ob gets text made into a phrase (quoted or encoded) or encoded words. */
static void add_converted(struct obuf *ob, const char *text, size_t n, int phrase)
{
	size_t size = n * 3 + 64;
	char *conv = malloc(size);
	if (!conv || (phrase ? mime_phrase(text, n, conv, size) : mime_encode_words(text, n, conv, size)) < 0)
		ob->full = 1;
	else
		ob_add(ob, conv, strlen(conv));
	free(conv);
}

/* A value in an address field: an address as it is, a name as a phrase. */
static void add_address_value(struct obuf *ob, const char *v, int angle, int comment)
{
	size_t n = strlen(v);
	int is_address = mime_is_ascii(v, n) && strchr(v, '@') && !strpbrk(v, " \t\"<>");
	if (angle || is_address) {
		ob_add(ob, v, n);
	} else if (comment && mime_is_ascii(v, n)) {
		for (size_t i = 0; i < n; i++) {
			if (strchr("()\\", v[i]))
				ob_char(ob, '\\');
			ob_char(ob, v[i]);
		}
	} else {
		add_converted(ob, v, n, !comment);
	}
}

/* A quoted string of the template, starting at p: as it is when it has no
 * placeholder, else its text with the values made into one phrase.  The
 * position after it, or NULL (err) when a value cannot go there. */
static const char *quoted_unit(struct render *r, const char *p, const char *end, struct obuf *ob)
{
	const char *q = p + 1;
	while (q < end && *q != '"')
		q += *q == '\\' && q + 1 < end ? 2 : 1;
	if (q >= end) {   /* never closed: the server may say what it thinks */
		ob_add(ob, p, (size_t)(end - p));
		return end;
	}
	unsigned used = r->used;
	struct obuf inner = { .p = malloc(RENDERED_FIELD_MAX), .cap = RENDERED_FIELD_MAX };
	if (!inner.p)
		inner.full = 1;
	for (const char *s = p + 1; s < q && !inner.full;) {
		char name[MERGE_NAME_MAX + 1];
		size_t n = placeholder(s, q, name);
		const char *v = n ? value_of(r, name, 1) : NULL;
		if (n && !v) {
			free(inner.p);
			return NULL;
		}
		if (n)
			ob_add(&inner, v, strlen(v));
		else if (*s == '\\' && s + 1 < q)
			ob_char(&inner, *++s);
		else
			ob_char(&inner, *s);
		s += n ? n : 1;
	}
	if (inner.full)
		ob->full = 1;
	else if (r->used == used)
		ob_add(ob, p, (size_t)(q + 1 - p));
	else
		add_converted(ob, inner.p, inner.len, 1);
	free(inner.p);
	return q + 1;
}

/* From, To, Cc ...: follows quotes, comments and <> to know what a
 * placeholder stands for.  0, or 1 (err). */
static int render_address(struct render *r, const char *p, const char *end, struct obuf *ob)
{
	int angle = 0, comment = 0;
	char name[MERGE_NAME_MAX + 1];
	while (p < end) {
		size_t n = placeholder(p, end, name);
		if (n) {
			const char *v = value_of(r, name, 1);
			if (!v)
				return 1;
			add_address_value(ob, v, angle, comment);
			p += n;
		} else if (*p == '"' && !angle && !comment) {
			if (!(p = quoted_unit(r, p, end, ob)))
				return 1;
		} else if (*p == '\\' && p + 1 < end) {
			ob_add(ob, p, 2);
			p += 2;
		} else {
			if (*p == '(' && !angle)
				comment++;
			else if (*p == ')' && comment)
				comment--;
			else if ((*p == '<' || *p == '>') && !comment)
				angle = *p == '<';
			ob_char(ob, *p++);
		}
	}
	return 0;
}

/* Subject and other text: encoded words when the result is not ASCII. */
static int render_text(struct render *r, const char *p, const char *end, struct obuf *ob)
{
	size_t start = ob->len;
	if (substitute(r, p, end, ob, 1))
		return 1;
	if (ob->full || !has_8bit(ob->p + start, ob->len - start))
		return 0;
	char *text = malloc(ob->len - start + 1);
	if (!text) {
		ob->full = 1;
		return 0;
	}
	size_t n = 0;   /* unfolded, without the spaces around it */
	for (size_t i = start; i < ob->len; i++)
		if (ob->p[i] != '\n' && ob->p[i] != '\r' && (n || (ob->p[i] != ' ' && ob->p[i] != '\t')))
			text[n++] = ob->p[i];
	while (n && (text[n - 1] == ' ' || text[n - 1] == '\t'))
		n--;
	ob->len = start;
	ob_char(ob, ' ');
	add_converted(ob, text, n, 0);
	ob_char(ob, '\n');
	free(text);
	return 0;
}

enum field_kind { FIELD_ADDRESS, FIELD_TEXT, FIELD_OTHER };

static enum field_kind kind_of(const char *field)
{
	static const char *const address[] = {
		"From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Resent-From", "Resent-To",
		"Resent-Cc", "Resent-Bcc", "Resent-Sender",
	};
	for (size_t i = 0; i < sizeof address / sizeof *address; i++)
		if (head_field_is(field, address[i]))
			return FIELD_ADDRESS;
	if (head_field_is(field, "Subject") || head_field_is(field, "Comments") ||
	    strncasecmp(field, "X-", 2) == 0)
		return FIELD_TEXT;
	return FIELD_OTHER;
}

/* One header field of the template into ob.  0, or 1 (err). */
static int render_field(struct render *r, const char *field, size_t len, struct obuf *ob)
{
	const char *colon = strchr(field, ':');
	size_t name_len = (size_t)(colon - field);
	snprintf(r->field_name, sizeof r->field_name, "%.*s", (int)name_len, field);
	r->used = 0;
	ob->len = 0;
	ob_add(ob, field, name_len + 1);
	const char *end = field + len;
	int rc;
	switch (kind_of(field)) {
	case FIELD_ADDRESS: rc = render_address(r, colon + 1, end, ob); break;
	case FIELD_TEXT: rc = render_text(r, colon + 1, end, ob); break;
	default: rc = substitute(r, colon + 1, end, ob, 1); break;
	}
	if (rc == 0 && ob->full) {
		snprintf(r->err, r->err_size, "%s: is longer than %d octets with the values", r->field_name,
			 RENDERED_FIELD_MAX);
		return 1;
	}
	return rc;
}

/* ---- the whole message -------------------------------------------------- */

struct head_seen {
	int to, mime;
};

/* Whether the field is written, and what it tells the header fix. */
static int keep_field(struct render *r, const char *field, struct head_fix *fix,
		      struct head_seen *seen)
{
	if (head_field_is(field, "Message-ID") && r->used == 0)
		return 0;   /* the same id on every row would make them one message */
	if (head_field_is(field, "Bcc") || head_field_is(field, "Resent-Bcc"))
		return 0;
	fix->has_date |= head_field_is(field, "Date");
	fix->has_message_id |= head_field_is(field, "Message-ID");
	fix->has_from |= head_field_is(field, "From");
	seen->to |= head_field_is(field, "To");
	seen->mime |= head_field_is(field, "MIME-Version") || head_field_is(field, "Content-Type");
	return 1;
}

static int write_added(FILE *out, const char *to, const struct head_fix *fix,
		       const struct head_seen *seen)
{
	if (!seen->to && fprintf(out, "To: %s\n", to) < 0)
		return -1;
	/* values are UTF-8: say so, for a body that gets any */
	if (!seen->mime && fputs("MIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
				 "Content-Transfer-Encoding: 8bit\n", out) == EOF)
		return -1;
	return head_write_missing(out, fix);
}

/* The header: 0 and the rest of tpl is the body, 1 (err) or -1. */
static int render_header(struct render *r, FILE *tpl, const char *to, struct head_fix *fix,
			 FILE *out, struct obuf *ob, char *field)
{
	struct head_in in = { .fp = tpl, .at_line_start = 1 };
	struct head_seen seen = { 0 };
	fix->has_date = fix->has_message_id = fix->has_from = 0;
	for (;;) {
		size_t len;
		enum head_read got = head_read_field(&in, field, HEAD_FIELD_MAX, &len);
		if (got == HEAD_TOO_LONG) {
			snprintf(r->err, r->err_size, "a header field of the template is over %d octets",
				 HEAD_FIELD_MAX);
			return 1;
		}
		if (got == HEAD_ERROR)
			return -1;
		if (got == HEAD_FIELD) {
			if (render_field(r, field, len, ob))
				return 1;
			if (keep_field(r, field, fix, &seen) && fwrite(ob->p, 1, ob->len, out) != ob->len)
				return -1;
			continue;
		}
		if (write_added(out, to, fix, &seen) < 0 || fputc('\n', out) == EOF)
			return -1;
		if (got != HEAD_NOT_FIELD)
			return 0;
		ob->len = 0;   /* no empty line: this line is the body's first */
		if (substitute(r, field, field + len, ob, 0) || ob->full)
			return 1;
		return fwrite(ob->p, 1, ob->len, out) == ob->len ? 0 : -1;
	}
}

static int render_body(struct render *r, FILE *tpl, FILE *out)
{
	char name[MERGE_NAME_MAX + 1];
	int ch;
	while ((ch = getc_unlocked(tpl)) != EOF) {
		if (ch == '{' && stream_placeholder(tpl, ch, name)) {
			const char *v = value_of(r, name, 0);
			if (!v)
				return 1;
			if (fputs(v, out) == EOF)
				return -1;
		} else if (putc_unlocked(ch, out) == EOF) {
			return -1;
		}
	}
	return ferror(tpl) ? -1 : 0;
}

int merge_render(FILE *tpl, const struct merge_columns *cols, const char *const *values,
		 const char *to, struct head_fix *fix, FILE *out, char *err, size_t err_size)
{
	static char field[HEAD_FIELD_MAX];
	struct render r = { .cols = cols, .values = values, .err = err, .err_size = err_size };
	struct obuf ob = { .p = malloc(RENDERED_FIELD_MAX), .cap = RENDERED_FIELD_MAX };
	if (!ob.p || fseeko(tpl, 0, SEEK_SET) < 0) {
		free(ob.p);
		return -1;
	}
	int rc = render_header(&r, tpl, to, fix, out, &ob, field);
	free(ob.p);
	if (rc == 0)
		rc = render_body(&r, tpl, out);
	if (rc == 0 && fflush(out) == EOF)
		rc = -1;
	return rc;
}
