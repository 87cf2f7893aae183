/* inbox - the signed-in user's mail in the browser (CGI): the list of a
 * folder, a message decoded with GMime, its attachments, and deleting
 * (into the Maildir++ folder .Trash, as Dovecot does).
 *
 *   GET  inbox[?folder=Trash|Sent][&page=N]     the list, newest first
 *   GET  inbox?m=NAME                           a message (marked read)
 *   GET  inbox?m=NAME&part=N                    an attachment
 *   GET  inbox?m=NAME&html=N                    an HTML part, sandboxed
 *   GET  inbox?css                              the stylesheet
 *   POST inbox  m=NAME action=delete csrf=...   into .Trash
 *
 * NAME is a Maildir base name, checked (mbox_name_ok) and looked up only
 * in the user's own folder.  See inbox(8).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cgi.h"
#include "mailbox.h"
#include "mime_view.h"
#include "msg_head.h"
#include "webmail.h"

#define PAGE_SIZE 50

struct inbox {
	struct webmail w;
	const char *folder;          /* "" for the inbox, "Trash", "Sent" */
	char dir[PATH_MAX];          /* that folder's Maildir */
};

static const char stylesheet[] =
#include "webmail.css.h"
	;

static int show_css(struct inbox *in)
{
	(void)in;
	printf("Status: 200 OK\r\nContent-Type: text/css; charset=UTF-8\r\n"
	       "X-Content-Type-Options: nosniff\r\nCache-Control: max-age=3600\r\n\r\n");
	fputs(stylesheet, stdout);
	return 0;
}

/* "NAME" for a link's query, with "&folder=F" when not in the inbox. */
static void name_param(const struct inbox *in, const char *name)
{
	url(name);
	if (in->folder[0]) {
		fputs("&amp;folder=", stdout);
		url(in->folder);
	}
}

/* ---- the list ------------------------------------------------------------ */

/* The fields the list shows, from the header only. */
struct summary {
	char *from, *subject;
	char date[64];
	int attachment;
};

static void summarize(const char *path, struct summary *s)
{
	struct mime_msg m;
	memset(s, 0, sizeof *s);
	if (mime_open_header(path, &m) < 0) {
		s->from = g_strdup("");
		s->subject = g_strdup("(cannot be read)");
		return;
	}
	InternetAddressList *from = g_mime_message_get_from(m.msg);
	InternetAddress *first = from && internet_address_list_length(from) ?
		internet_address_list_get_address(from, 0) : NULL;
	const char *name = first ? internet_address_get_name(first) : NULL;
	s->from = name && *name ? g_strdup(name) : mime_addresses(&m, GMIME_ADDRESS_TYPE_FROM);
	s->subject = mime_subject(&m);
	GDateTime *d = g_mime_message_get_date(m.msg);
	char *date = d ? g_date_time_format(d, "%d %b %Y %H:%M") : NULL;
	snprintf(s->date, sizeof s->date, "%s", date ? date : "");
	g_free(date);
	GMimeObject *top = g_mime_message_get_mime_part(m.msg);
	s->attachment = top && GMIME_IS_MULTIPART(top) &&
			g_mime_content_type_is_type(g_mime_object_get_content_type(top), "multipart", "mixed");
	mime_close(&m);
}

static void size_text(unsigned long long size, char *buf, size_t n)
{
	if (size >= 1024 * 1024)
		snprintf(buf, n, "%.1f MB", (double)size / (1024.0 * 1024.0));
	else if (size >= 1024)
		snprintf(buf, n, "%llu KB", (size + 1023) / 1024);
	else
		snprintf(buf, n, "%llu B", size);
}

static void list_row(struct inbox *in, const struct mbox_entry *e)
{
	char path[PATH_MAX], size[32];
	struct summary s;
	if (mbox_path(in->dir, e, path, sizeof path) < 0)
		return;
	summarize(path, &s);
	unsigned long long bytes = e->size;
	struct stat st;
	if (!bytes && stat(path, &st) == 0)
		bytes = (unsigned long long)st.st_size;
	size_text(bytes, size, sizeof size);
	if (!s.date[0] && e->time > 0) {   /* no Date: field: when it arrived */
		time_t t = (time_t)e->time;
		struct tm tm;
		if (localtime_r(&t, &tm))
			strftime(s.date, sizeof s.date, "%d %b %Y %H:%M", &tm);
	}
	int unread = e->in_new || !strchr(e->flags, 'S');
	printf("<tr class=\"message%s\"><td class=\"from\">", unread ? " unread" : "");
	html(s.from);
	fputs("</td><td class=\"subject\"><a class=\"subject\" href=\"inbox?m=", stdout);
	name_param(in, e->name);
	fputs("\">", stdout);
	html(s.subject[0] ? s.subject : "(no subject)");
	fputs("</a>", stdout);
	if (s.attachment)
		fputs(" <span class=\"attachment\" title=\"attachment\">file</span>", stdout);
	printf("</td><td class=\"date\">");
	html(s.date);
	printf("</td><td class=\"size\">%s</td></tr>\n", size);
	g_free(s.from);
	g_free(s.subject);
}

static void nav(const struct inbox *in, int page, int pages)
{
	fputs("<nav class=\"pages\">", stdout);
	const char *f = in->folder;
	if (page > 1)
		printf("<a id=\"newer\" href=\"inbox?page=%d%s%s\">&larr; Newer</a> ", page - 1,
		       *f ? "&amp;folder=" : "", f);
	printf("<span>Page %d of %d</span>", page, pages ? pages : 1);
	if (page < pages)
		printf(" <a id=\"older\" href=\"inbox?page=%d%s%s\">Older &rarr;</a>", page + 1,
		       *f ? "&amp;folder=" : "", f);
	fputs("</nav>\n", stdout);
}

static void folder_links(const struct inbox *in)
{
	static const char *const folders[][2] = { { "", "Inbox" }, { "Sent", "Sent" }, { "Trash", "Trash" } };
	fputs("<header><nav class=\"folders\"><a id=\"compose\" class=\"button\" href=\"compose\">Write</a>", stdout);
	for (size_t i = 0; i < 3; i++)
		printf(" <a href=\"inbox%s%s\"%s>%s</a>", *folders[i][0] ? "?folder=" : "", folders[i][0],
		       strcmp(in->folder, folders[i][0]) == 0 ? " aria-current=\"page\"" : "", folders[i][1]);
	fputs("</nav><span class=\"user\">", stdout);
	html(in->w.user);
	fputs("</span></header>\n", stdout);
}

static int show_list(struct inbox *in)
{
	struct mbox_list list;
	if (mbox_list(in->dir, &list) < 0 && errno != ENOENT) {
		cgi_error_page(500, "Cannot read the mailbox", strerror(errno));
		return 0;
	}
	const char *p = cgi_param(&in->w.query, "page");
	long page = p ? strtol(p, NULL, 10) : 1;
	long pages = (long)((list.n + PAGE_SIZE - 1) / PAGE_SIZE);
	if (page < 1 || (pages && page > pages))
		page = 1;
	char title[128];
	const char *name = in->folder[0] ? in->folder : "Inbox";
	if (list.unread)
		snprintf(title, sizeof title, "%s (%zu) \xe2\x80\x94 mailpipe", name, list.unread);
	else
		snprintf(title, sizeof title, "%s \xe2\x80\x94 mailpipe", name);
	cgi_page_start(200, title);
	folder_links(in);
	printf("<main>\n<h1>%s</h1>\n", name);
	if (list.n == 0)
		fputs("<p class=\"empty\">No messages.</p>\n", stdout);
	else
		fputs("<table id=\"messages\">\n<thead><tr><th>From</th><th>Subject</th><th>Date</th>"
		      "<th>Size</th></tr></thead>\n<tbody>\n", stdout);
	for (size_t i = (size_t)(page - 1) * PAGE_SIZE; i < list.n && i < (size_t)page * PAGE_SIZE; i++)
		list_row(in, &list.e[i]);
	if (list.n)
		fputs("</tbody>\n</table>\n", stdout);
	nav(in, (int)page, (int)pages);
	fputs("</main>\n", stdout);
	cgi_page_end();
	mbox_list_free(&list);
	return 0;
}

/* ---- one message ---------------------------------------------------------- */

/* The message NAME of the query, in this user's folder: 0 with its entry
 * and path, or -1 with the 404 page written. */
static int find_message(struct inbox *in, const char *name, struct mbox_entry *e, char *path,
			size_t size)
{
	if (name && mbox_find(in->dir, name, e, path, size) == 0)
		return 0;
	cgi_error_page(404, "No such message", "There is no such message in this mailbox.");
	return -1;
}

static void header_row(const char *id, const char *label, const char *value)
{
	if (!value || !*value)
		return;
	printf("<tr><th>%s</th><td id=\"%s\">", label, id);
	html(value);
	fputs("</td></tr>\n", stdout);
}

struct view {
	struct inbox *in;
	const char *name;
	int attachments;
};

static void attachment_item(const struct mime_part_info *p, void *arg)
{
	struct view *v = arg;
	int html_part = strcmp(p->type, "text/html") == 0 && !p->attachment;
	if (!p->attachment && !html_part)
		return;
	if (!v->attachments++)
		fputs("<ul id=\"attachments\">\n", stdout);
	fputs("<li>", stdout);
	if (html_part) {
		printf("<a class=\"html-part\" href=\"inbox?m=");
		name_param(v->in, v->name);
		printf("&amp;html=%d\">The HTML version</a> (shown without scripts or remote images)</li>\n",
		       p->index);
		return;
	}
	char name[600];
	snprintf(name, sizeof name, "%s", p->filename[0] ? p->filename : p->message ? "message.eml" :
		 "attachment");
	fputs("<a class=\"attachment\" href=\"inbox?m=", stdout);
	name_param(v->in, v->name);
	printf("&amp;part=%d\" download>", p->index);
	html(name);
	char size[32];
	size_text(p->size, size, sizeof size);
	fputs("</a> <span class=\"type\">(", stdout);
	html(p->type);
	printf(", %s)</span></li>\n", size);
}

static void show_body(const struct mime_msg *m)
{
	size_t len;
	int cut;
	char *text = mime_body_text(m, &len, &cut);
	fputs("<div id=\"body\" class=\"body\">", stdout);
	if (text)
		html_n(text, len);
	if (cut)
		fputs("\n\n[The text goes on; it is too long to show here.]", stdout);
	fputs("</div>\n", stdout);
	g_free(text);
}

static void message_actions(const struct inbox *in, const char *name)
{
	fputs("<nav class=\"actions\"><a id=\"back\" href=\"inbox", stdout);
	if (in->folder[0])
		printf("?folder=%s", in->folder);
	fputs("\">Back</a> <a id=\"reply\" class=\"button\" href=\"compose?reply=", stdout);
	name_param(in, name);
	fputs("\">Reply</a> <a id=\"replyall\" href=\"compose?all=1&amp;reply=", stdout);
	name_param(in, name);
	fputs("\">Reply to all</a> <a id=\"forward\" href=\"compose?forward=", stdout);
	name_param(in, name);
	fputs("\">Forward</a>\n", stdout);
	if (strcmp(in->folder, "Trash") != 0) {
		fputs("<form id=\"delete\" method=\"post\" action=\"inbox\">", stdout);
		webmail_csrf_field(&in->w);
		fputs("<input type=\"hidden\" name=\"action\" value=\"delete\">"
		      "<input type=\"hidden\" name=\"m\" value=\"", stdout);
		html(name);
		printf("\"><input type=\"hidden\" name=\"folder\" value=\"%s\">"
		       "<button type=\"submit\">Delete</button></form>", in->folder);
	}
	fputs("</nav>\n", stdout);
}

static int show_message(struct inbox *in, const char *name)
{
	struct mbox_entry e;
	char path[PATH_MAX];
	struct mime_msg m;
	if (find_message(in, name, &e, path, sizeof path) < 0)
		return 0;
	if (mbox_mark_seen(in->dir, &e, path, sizeof path) < 0)
		fprintf(stderr, "inbox: marking %s read: %s\n", path, strerror(errno));
	if (mime_open(path, &m) < 0) {
		cgi_error_page(500, "Cannot read the message", "The message file cannot be read.");
		return 0;
	}
	char *subject = mime_subject(&m), *from = mime_addresses(&m, GMIME_ADDRESS_TYPE_FROM);
	char *to = mime_addresses(&m, GMIME_ADDRESS_TYPE_TO), *cc = mime_addresses(&m, GMIME_ADDRESS_TYPE_CC);
	char *date = mime_date(&m);
	char title[1024];
	char *t = g_utf8_make_valid(*subject ? subject : "(no subject)", -1);
	char *shown = g_utf8_substring(t, 0, MIN(g_utf8_strlen(t, -1), 120));   /* whole characters */
	snprintf(title, sizeof title, "%s \xe2\x80\x94 mailpipe", shown);
	g_free(shown);
	g_free(t);
	cgi_page_start(200, title);
	folder_links(in);
	fputs("<main>\n", stdout);
	message_actions(in, e.name);
	fputs("<h1 id=\"subject\">", stdout);
	html(*subject ? subject : "(no subject)");
	fputs("</h1>\n<table class=\"headers\">\n", stdout);
	header_row("from", "From", from);
	header_row("to", "To", to);
	header_row("cc", "Cc", cc);
	header_row("date", "Date", date);
	fputs("</table>\n", stdout);
	struct view v = { in, e.name, 0 };
	mime_parts(&m, attachment_item, &v);
	if (v.attachments)
		fputs("</ul>\n", stdout);
	show_body(&m);
	fputs("</main>\n", stdout);
	cgi_page_end();
	g_free(subject), g_free(from), g_free(to), g_free(cc), g_free(date);
	mime_close(&m);
	return 0;
}

/* ---- parts ---------------------------------------------------------------- */

/* Content-Disposition for a file name from a message: an ASCII fallback
 * with nothing that could end the header or the quotes, and the UTF-8
 * name percent-encoded (RFC 6266). */
static void disposition(const char *filename, char *buf, size_t size)
{
	char ascii[256];
	size_t a = 0;
	for (const char *p = filename; *p && a + 1 < sizeof ascii; p++) {
		unsigned char ch = (unsigned char)*p;
		ascii[a++] = ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\' || ch == '/' ? '_' : (char)ch;
	}
	ascii[a] = '\0';
	int n = snprintf(buf, size, "Content-Disposition: attachment; filename=\"%s\"; filename*=UTF-8''",
			 a ? ascii : "attachment");
	for (const unsigned char *p = (const unsigned char *)filename; *p && n > 0 && (size_t)n + 8 < size; p++)
		n += g_ascii_isalnum(*p) || strchr("-._~", *p) ? snprintf(buf + n, size - (size_t)n, "%c", *p)
							      : snprintf(buf + n, size - (size_t)n, "%%%02X", *p);
	if (n > 0 && (size_t)n + 3 < size)
		snprintf(buf + n, size - (size_t)n, "\r\n");
}

/* A MIME type we pass on: "type/subtype" of token characters, else the
 * safe default. */
static const char *safe_type(const char *type)
{
	for (const char *p = type; *p; p++)
		if (!g_ascii_isalnum(*p) && !strchr("/.+-_", *p))
			return "application/octet-stream";
	return strchr(type, '/') ? type : "application/octet-stream";
}

static int open_part(struct inbox *in, const char *name, const char *which, struct mime_msg *m,
		     struct mime_part_info *p)
{
	struct mbox_entry e;
	char path[PATH_MAX];
	if (find_message(in, name, &e, path, sizeof path) < 0)
		return -1;
	char *end = NULL;
	long index = which ? strtol(which, &end, 10) : 0;
	if (end && *end)
		index = 0;   /* "2abc" is no part number */
	if (mime_open(path, m) < 0 || index < 1 || index > 100000 || !mime_part(m, (int)index, p)) {
		if (m->msg)
			mime_close(m);
		cgi_error_page(404, "No such part", "The message has no such part.");
		return -1;
	}
	return 0;
}

static int download_part(struct inbox *in, const char *name)
{
	struct mime_msg m = { 0 };
	struct mime_part_info p;
	if (open_part(in, name, cgi_param(&in->w.query, "part"), &m, &p) < 0)
		return 0;
	char extra[2048];
	disposition(p.filename[0] ? p.filename : p.message ? "message.eml" : "attachment", extra,
		    sizeof extra);
	cgi_headers(200, p.message ? "message/rfc822" : safe_type(p.type), extra);
	if (mime_write_content(p.obj, stdout) < 0)
		fprintf(stderr, "inbox: writing part %d of %s failed\n", p.index, name);
	mime_close(&m);
	return 0;
}

/* The HTML part as it is, but in a sandbox: no script, no form, no
 * request anywhere (images only from data: URLs), no access to our pages. */
static int show_html(struct inbox *in, const char *name)
{
	struct mime_msg m = { 0 };
	struct mime_part_info p;
	if (open_part(in, name, cgi_param(&in->w.query, "html"), &m, &p) < 0)
		return 0;
	if (strcmp(p.type, "text/html") != 0) {
		mime_close(&m);
		cgi_error_page(404, "No such part", "That part is not HTML.");
		return 0;
	}
	size_t len;
	int cut;
	char *text = mime_text(p.obj, &len, &cut);
	printf("Status: 200 OK\r\nContent-Type: text/html; charset=UTF-8\r\n"
	       "Content-Security-Policy: sandbox; default-src 'none'; style-src 'unsafe-inline'; "
	       "img-src data:; form-action 'none'; frame-ancestors 'self'; base-uri 'none'\r\n"
	       "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\n"
	       "Cache-Control: no-store\r\n\r\n");
	fwrite(text ? text : "", 1, text ? len : 0, stdout);
	g_free(text);
	mime_close(&m);
	return 0;
}

/* ---- POST ----------------------------------------------------------------- */

static int post_action(struct inbox *in)
{
	FILE *body;
	struct cgi_params form = { 0 };
	int rc = cgi_spool_body(CGI_FORM_MAX, &body);
	if (rc != 0) {
		cgi_error_page(rc > 0 ? 413 : 400, "Bad request", "The form could not be read.");
		return 0;
	}
	char *text = malloc(CGI_FORM_MAX + 1);
	size_t n = text ? fread(text, 1, CGI_FORM_MAX, body) : 0;
	fclose(body);
	if (text)
		cgi_parse_urlencoded(text, n, &form);
	free(text);
	const char *action = cgi_param(&form, "action"), *name = cgi_param(&form, "m");
	const char *folder = cgi_param(&form, "folder");
	if (!webmail_csrf_ok(&in->w, cgi_param(&form, "csrf"))) {
		cgi_error_page(403, "Refused", "The form did not carry this session's CSRF token; nothing "
			       "was changed.");
	} else if ((action && strcmp(action, "delete") != 0) ||   /* delete is the only one */
		   mbox_folder_dir(in->w.maildir, folder, in->dir, sizeof in->dir) < 0) {
		cgi_error_page(400, "Bad request", "Unknown action.");
	} else {
		struct mbox_entry e;
		char path[PATH_MAX], trash[PATH_MAX];
		if (find_message(in, name, &e, path, sizeof path) == 0) {
			if (mbox_folder_dir(in->w.maildir, "Trash", trash, sizeof trash) < 0 ||
			    mbox_move(in->dir, &e, trash) < 0)
				cgi_error_page(500, "Not deleted", strerror(errno));
			else
				cgi_headers(303, "text/plain", folder && *folder ?
					    (strcmp(folder, "Sent") == 0 ? "Location: inbox?folder=Sent\r\n" :
					     "Location: inbox?folder=Trash\r\n") : "Location: inbox\r\n");
		}
	}
	cgi_params_free(&form);
	return 0;
}

/* ---- dispatch --------------------------------------------------------------- */

static int show_message_or_part(struct inbox *in)
{
	const char *name = cgi_param(&in->w.query, "m");
	if (cgi_param(&in->w.query, "part"))
		return download_part(in, name);
	if (cgi_param(&in->w.query, "html"))
		return show_html(in, name);
	return show_message(in, name);
}

/* What a GET asks for, by the first query parameter that names it. */
static const struct {
	const char *param;
	int (*run)(struct inbox *);
} get_actions[] = {
	{ "css", show_css },
	{ "m", show_message_or_part },
	{ NULL, show_list },
};

int main(void)
{
	static struct inbox in;
	mime_init();
	const char *method = getenv("REQUEST_METHOD");
	const char *qs = getenv("QUERY_STRING");
	if (qs && strcmp(qs, "css") == 0 && method && strcmp(method, "GET") == 0)
		return show_css(&in);   /* the stylesheet needs no user: the sign-in page may use it */
	if (webmail_open(&in.w) < 0)
		return 0;
	const char *folder = cgi_param(&in.w.query, "folder");
	in.folder = folder && (strcmp(folder, "Trash") == 0 || strcmp(folder, "Sent") == 0) ? folder : "";
	mbox_folder_dir(in.w.maildir, in.folder, in.dir, sizeof in.dir);
	if (method && strcmp(method, "POST") == 0)
		post_action(&in);
	else if (!method || strcmp(method, "GET") != 0)
		cgi_error_page(405, "Method not allowed", "Only GET and POST.");
	else
		for (size_t i = 0; i < sizeof get_actions / sizeof *get_actions; i++)
			if (!get_actions[i].param || cgi_param(&in.w.query, get_actions[i].param)) {
				get_actions[i].run(&in);
				break;
			}
	fflush(stdout);
	webmail_close(&in.w);
	return 0;
}
