/* mime_view.c - a stored message read with GMime. */
#include "mime_view.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEPTH_MAX 32   /* multiparts inside multiparts, at most */

void mime_init(void)
{
	g_mime_init();
}

static int parse(struct mime_msg *m, GMimeStream *stream)
{
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	m->msg = g_mime_parser_construct_message(parser, NULL);
	g_object_unref(parser);
	if (!m->msg) {
		mime_close(m);
		return -1;
	}
	return 0;
}

/* A file GMime finds no message in (no header at all): all of it is the
 * text of a message without fields, as a mail reader shows it. */
static int as_plain_text(struct mime_msg *m, const char *path)
{
	m->stream = g_mime_stream_fs_open(path, O_RDONLY, 0, NULL);
	if (!m->stream)
		return -1;
	m->msg = g_mime_message_new(FALSE);
	GMimePart *text = g_mime_part_new_with_type("text", "plain");
	GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream(m->stream,
									GMIME_CONTENT_ENCODING_DEFAULT);
	g_mime_part_set_content(text, content);
	g_object_unref(content);
	g_mime_message_set_mime_part(m->msg, (GMimeObject *)text);
	g_object_unref(text);
	return 0;
}

int mime_open(const char *path, struct mime_msg *m)
{
	memset(m, 0, sizeof *m);
	m->stream = g_mime_stream_fs_open(path, O_RDONLY, 0, NULL);
	if (!m->stream)
		return -1;
	if (parse(m, m->stream) == 0 && g_mime_message_get_mime_part(m->msg))
		return 0;
	mime_close(m);
	return as_plain_text(m, path);
}

#define HEADER_READ_MAX 65536

int mime_open_header(const char *path, struct mime_msg *m)
{
	memset(m, 0, sizeof *m);
	m->stream = g_mime_stream_fs_open(path, O_RDONLY, 0, NULL);
	if (!m->stream)
		return -1;
	char *buf = g_malloc(HEADER_READ_MAX);
	gssize n = g_mime_stream_read(m->stream, buf, HEADER_READ_MAX);
	char *end = n > 0 ? g_strstr_len(buf, n, "\n\n") : NULL;
	char *crlf = n > 0 ? g_strstr_len(buf, n, "\n\r\n") : NULL;   /* a file with CRLF */
	if (crlf && (!end || crlf < end))
		end = crlf + 1;
	gint64 stop = end ? (gint64)(end - buf) + 2 : n > 0 ? n : 0;
	g_free(buf);
	GMimeStream *head = g_mime_stream_substream(m->stream, 0, stop);
	int rc = parse(m, head);
	g_object_unref(head);
	return rc;
}

void mime_close(struct mime_msg *m)
{
	if (m->msg)
		g_object_unref(m->msg);
	if (m->stream)
		g_object_unref(m->stream);
	memset(m, 0, sizeof *m);
}

char *mime_subject(const struct mime_msg *m)
{
	const char *s = g_mime_message_get_subject(m->msg);
	return g_strdup(s ? s : "");
}

char *mime_addresses(const struct mime_msg *m, GMimeAddressType type)
{
	InternetAddressList *list = g_mime_message_get_addresses(m->msg, type);
	if (!list || internet_address_list_length(list) == 0)
		return g_strdup("");
	return internet_address_list_to_string(list, NULL, FALSE);
}

char *mime_date(const struct mime_msg *m)
{
	GDateTime *date = g_mime_message_get_date(m->msg);
	return date ? g_date_time_format(date, "%a, %d %b %Y %H:%M") : g_strdup("");
}

const char *mime_header(const struct mime_msg *m, const char *name)
{
	return g_mime_object_get_header((GMimeObject *)m->msg, name);
}

static void describe(GMimeObject *obj, int index, struct mime_part_info *info)
{
	memset(info, 0, sizeof *info);
	info->index = index;
	info->obj = obj;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *media = ct ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	const char *raw = g_mime_object_get_header(obj, "Content-Type");
	while (raw && g_ascii_isspace(*raw))
		raw++;
	if (raw && g_ascii_strncasecmp(raw, "text", 4) == 0 &&
	    (raw[4] == '\0' || raw[4] == ';' || g_ascii_isspace(raw[4]))) {
		media = "text";   /* RFC 2045 5.2: "text" alone, which GMime calls octet-stream */
		sub = "plain";
	} else if (media && g_ascii_strcasecmp(media, "text") == 0 && (!sub || !*sub)) {
		sub = "plain";
	}
	snprintf(info->type, sizeof info->type, "%s/%s", media && *media ? media : "application",
		 media && *media && sub && *sub ? sub : "octet-stream");
	for (char *p = info->type; *p; p++)
		*p = (char)g_ascii_tolower(*p);
	const char *name = GMIME_IS_PART(obj) ? g_mime_part_get_filename((GMimePart *)obj) : NULL;
	snprintf(info->filename, sizeof info->filename, "%s", name ? name : "");
	GMimeContentDisposition *disp = g_mime_object_get_content_disposition(obj);
	info->message = GMIME_IS_MESSAGE_PART(obj);
	int is_text = strncmp(info->type, "text/", 5) == 0;
	info->attachment = info->message || (disp && g_mime_content_disposition_is_attachment(disp)) ||
			   !is_text || info->filename[0];
	GMimeDataWrapper *content = GMIME_IS_PART(obj) ? g_mime_part_get_content((GMimePart *)obj) : NULL;
	gint64 encoded = content ? g_mime_stream_length(g_mime_data_wrapper_get_stream(content)) : -1;
	int base64 = content && g_mime_data_wrapper_get_encoding(content) == GMIME_CONTENT_ENCODING_BASE64;
	info->size = encoded < 0 ? 0 : base64 ? (unsigned long long)encoded * 3 / 4 : (unsigned long long)encoded;
}

struct walk {
	void (*fn)(const struct mime_part_info *, void *);
	void *arg;
	int next;
};

static void walk(GMimeObject *obj, struct walk *w, int depth)
{
	if (!obj || depth > DEPTH_MAX)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = (GMimeMultipart *)obj;
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n; i++)
			walk(g_mime_multipart_get_part(mp, i), w, depth + 1);
		return;
	}
	struct mime_part_info info;
	describe(obj, ++w->next, &info);
	w->fn(&info, w->arg);
}

void mime_parts(const struct mime_msg *m, void (*fn)(const struct mime_part_info *, void *),
		void *arg)
{
	struct walk w = { fn, arg, 0 };
	walk(g_mime_message_get_mime_part(m->msg), &w, 0);
}

struct find {
	int index;
	struct mime_part_info *info;
	int found;
};

static void find_one(const struct mime_part_info *p, void *arg)
{
	struct find *f = arg;
	if (!f->found && p->index == f->index) {
		*f->info = *p;
		f->found = 1;
	}
}

int mime_part(const struct mime_msg *m, int index, struct mime_part_info *info)
{
	struct find f = { .index = index, .info = info };
	mime_parts(m, find_one, &f);
	return f.found ? index : 0;
}

/* The decoded content of part into stream, through the charset filter
 * when to_utf8 and the part names a charset iconv knows. */
static int write_decoded(GMimeObject *part, GMimeStream *out, int to_utf8)
{
	if (GMIME_IS_MESSAGE_PART(part)) {
		GMimeMessage *inner = g_mime_message_part_get_message((GMimeMessagePart *)part);
		return inner && g_mime_object_write_to_stream((GMimeObject *)inner, NULL, out) >= 0 ? 0 : -1;
	}
	if (!GMIME_IS_PART(part))
		return -1;
	GMimeDataWrapper *content = g_mime_part_get_content((GMimePart *)part);
	if (!content)
		return 0;
	const char *charset = to_utf8 ? g_mime_object_get_content_type_parameter(part, "charset") : NULL;
	GMimeFilter *conv = charset ? g_mime_filter_charset_new(charset, "UTF-8") : NULL;
	GMimeStream *filtered = g_mime_stream_filter_new(out);
	if (conv) {
		g_mime_stream_filter_add((GMimeStreamFilter *)filtered, conv);
		g_object_unref(conv);
	}
	int rc = g_mime_data_wrapper_write_to_stream(content, filtered) < 0 ? -1 : 0;
	if (g_mime_stream_flush(filtered) < 0)
		rc = -1;
	g_object_unref(filtered);
	return rc;
}

/* Through a temporary file: a 25 MiB text part never is in memory. */
char *mime_text(GMimeObject *part, size_t *len, int *cut)
{
	*len = 0;
	*cut = 0;
	FILE *tmp = tmpfile();
	if (!tmp)
		return NULL;
	GMimeStream *out = g_mime_stream_fs_new(dup(fileno(tmp)));
	int rc = write_decoded(part, out, 1);
	g_object_unref(out);
	char *buf = g_malloc(MIME_TEXT_SHOWN_MAX + 1);
	size_t n = rc == 0 && fseeko(tmp, 0, SEEK_SET) == 0 ? fread(buf, 1, MIME_TEXT_SHOWN_MAX, tmp) : 0;
	*cut = n == MIME_TEXT_SHOWN_MAX && fgetc(tmp) != EOF;
	fclose(tmp);
	char *valid = g_utf8_make_valid(buf, (gssize)n);   /* an unknown charset must not break the page */
	g_free(buf);
	*len = strlen(valid);
	return valid;
}

/* The text parts a reader sees, gathered in order. */
struct gather {
	GString *out;
	int cut;
};

static void gather_part(struct gather *g, GMimeObject *obj, const char *type)
{
	size_t len;
	int cut;
	char *text = mime_text(obj, &len, &cut);
	if (text && strcmp(type, "text/html") == 0) {
		char *plain = mime_html_to_text(text, len);
		g_free(text);
		text = plain;
		len = strlen(text);
	}
	if (!text)
		return;
	if (g->out->len)   /* one part after another, as a list footer follows the text */
		g_string_append(g->out, g->out->str[g->out->len - 1] == '\n' ? "\n" : "\n\n");
	size_t room = MIME_TEXT_SHOWN_MAX - g->out->len;
	g_string_append_len(g->out, text, (gssize)(len < room ? len : room));
	g->cut |= cut || len > room;
	g_free(text);
}

/* multipart/alternative: one of its parts, the plain text when there is. */
static GMimeObject *alternative(GMimeMultipart *mp)
{
	int n = g_mime_multipart_get_count(mp);
	for (int i = 0; i < n; i++) {
		GMimeObject *child = g_mime_multipart_get_part(mp, i);
		if (g_mime_content_type_is_type(g_mime_object_get_content_type(child), "text", "plain"))
			return child;
	}
	return n ? g_mime_multipart_get_part(mp, 0) : NULL;
}

static void gather(GMimeObject *obj, struct gather *g, int depth)
{
	if (!obj || depth > DEPTH_MAX || g->out->len >= MIME_TEXT_SHOWN_MAX)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = (GMimeMultipart *)obj;
		const char *prologue = g_mime_multipart_get_prologue(mp);
		int n = g_mime_multipart_get_count(mp);
		if (n == 0 && prologue)   /* its boundary never came: all is text */
			g_string_append_len(g->out, prologue, (gssize)MIN(strlen(prologue),
						MIME_TEXT_SHOWN_MAX - g->out->len));
		if (g_mime_content_type_is_type(g_mime_object_get_content_type(obj), "multipart", "alternative"))
			gather(alternative(mp), g, depth + 1);
		else
			for (int i = 0; i < n; i++)
				gather(g_mime_multipart_get_part(mp, i), g, depth + 1);
		return;
	}
	struct mime_part_info info;
	describe(obj, 0, &info);
	if (!info.attachment && strncmp(info.type, "text/", 5) == 0)
		gather_part(g, obj, info.type);
}

char *mime_body_text(const struct mime_msg *m, size_t *len, int *cut)
{
	struct gather g = { g_string_new(""), 0 };
	gather(g_mime_message_get_mime_part(m->msg), &g, 0);
	*cut = g.cut;
	*len = g.out->len;
	char *valid = g_utf8_make_valid(g.out->str, (gssize)g.out->len);
	g_string_free(g.out, TRUE);
	*len = strlen(valid);
	return valid;
}

int mime_write_content(GMimeObject *part, FILE *out)
{
	fflush(out);
	/* a pipe stream: a CGI's stdout is a pipe, which an fs stream cannot seek */
	GMimeStream *s = g_mime_stream_pipe_new(dup(fileno(out)));
	int rc = write_decoded(part, s, 0);
	if (g_mime_stream_flush(s) < 0)
		rc = -1;
	g_object_unref(s);
	return rc;
}

/* ---- HTML as text ------------------------------------------------------- */

/* "&amp;", "&#233;", "&#xE9;" ... at p: appends the character, returns the
 * length consumed, or 0 when it is no entity we know. */
static size_t entity(const char *p, const char *end, GString *out)
{
	static const struct { const char *name; const char *text; } named[] = {
		{ "amp;", "&" }, { "lt;", "<" }, { "gt;", ">" }, { "quot;", "\"" }, { "apos;", "'" },
		{ "nbsp;", " " }, { "copy;", "\xc2\xa9" }, { "hellip;", "\xe2\x80\xa6" },
		{ "mdash;", "\xe2\x80\x94" }, { "ndash;", "\xe2\x80\x93" }, { "euro;", "\xe2\x82\xac" },
	};
	size_t left = (size_t)(end - p);
	if (left > 2 && p[1] == '#') {
		char *stop;
		int hex = p[2] == 'x' || p[2] == 'X';
		unsigned long cp = strtoul(p + 2 + hex, &stop, hex ? 16 : 10);
		if (stop < end && *stop == ';' && stop > p + 2 + hex && g_unichar_validate((gunichar)cp) &&
		    cp != 0) {
			g_string_append_unichar(out, (gunichar)cp);
			return (size_t)(stop + 1 - p);
		}
		return 0;
	}
	for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
		size_t n = strlen(named[i].name);
		if (left > n && strncmp(p + 1, named[i].name, n) == 0) {
			g_string_append(out, named[i].text);
			return n + 1;
		}
	}
	return 0;
}

/* The tag at p (p[0] == '<'): its end, and whether it breaks the line or
 * starts an element whose content is not text (script, style, head). */
static const char *tag(const char *p, const char *end, int *breaks, const char **skip_to)
{
	static const char *const block[] = { "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4",
					     "h5", "h6", "blockquote", "table", "pre", "hr" };
	static const char *const hidden[] = { "script", "style", "head", "title" };
	*breaks = 0;
	*skip_to = NULL;
	const char *close = memchr(p, '>', (size_t)(end - p));
	if (!close)
		return end;
	const char *name = p + 1 + (p[1] == '/');
	size_t n = 0;
	while (name + n < close && g_ascii_isalnum(name[n]))
		n++;
	for (size_t i = 0; i < sizeof block / sizeof *block; i++)
		*breaks |= strlen(block[i]) == n && g_ascii_strncasecmp(name, block[i], n) == 0;
	for (size_t i = 0; p[1] != '/' && i < sizeof hidden / sizeof *hidden; i++)
		if (strlen(hidden[i]) == n && g_ascii_strncasecmp(name, hidden[i], n) == 0) {
			char end_tag[16];
			snprintf(end_tag, sizeof end_tag, "</%s", hidden[i]);
			const char *e = g_strstr_len(close, end - close, end_tag);
			for (const char *q = close; !e && q + n + 2 < end; q++)   /* </SCRIPT */
				if (q[0] == '<' && q[1] == '/' && g_ascii_strncasecmp(q + 2, hidden[i], n) == 0)
					e = q;
			*skip_to = e ? e : end;
		}
	return close + 1;
}

char *mime_html_to_text(const char *html_text, size_t len)
{
	GString *out = g_string_sized_new(len / 2 + 16);
	const char *p = html_text, *end = html_text + len;
	int space = 0;
	while (p < end) {
		if (*p == '<') {
			int breaks;
			const char *skip_to;
			p = tag(p, end, &breaks, &skip_to);
			if (skip_to)
				p = skip_to;
			if (breaks && out->len && out->str[out->len - 1] != '\n')
				g_string_append_c(out, '\n');
			if (breaks)
				space = 0;   /* else a space before <b> still stands before its text */
			continue;
		}
		if (*p == '&' && space && out->len && out->str[out->len - 1] != '\n') {
			g_string_append_c(out, ' ');
			space = 0;
		}
		size_t used = *p == '&' ? entity(p, end, out) : 0;
		if (used) {
			p += used;
			space = 0;
		} else if (g_ascii_isspace(*p)) {
			space = 1;   /* runs of white space are one space in HTML */
			p++;
		} else {
			if (space && out->len && out->str[out->len - 1] != '\n')
				g_string_append_c(out, ' ');
			space = 0;
			g_string_append_c(out, *p++);
		}
	}
	return g_string_free(out, FALSE);
}
