/* compose - write and send a message from the browser (CGI).
 *
 *   GET  compose[?reply=NAME[&all=1] | ?forward=NAME]   the form, prefilled
 *   POST compose   (multipart/form-data)                 send it
 *
 * The sender is always the signed-in user.  The message is built with
 * GMime (mail_build), handed to mail-store like any other (local and
 * remote recipients alike), and a copy goes into the .Sent folder.  The
 * upload is spooled to a file and parsed from there by GMime: memory
 * stays small whatever is attached.  See compose(8).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cgi.h"
#include "mail_build.h"
#include "mailbox.h"
#include "mime_view.h"
#include "resolve.h"
#include "store_run.h"
#include "webmail.h"

#define FIELD_MAX (1024 * 1024)   /* a text field of the form, decoded */
#define FORM_OVERHEAD 65536       /* the form's own octets beside the files */
#define ATTACHMENTS_MAX 20

/* ---- the form ------------------------------------------------------------ */

struct prefill {
	char *to, *cc, *subject, *body, *in_reply_to, *references;
	char forward[MBOX_NAME_MAX];
	const char *folder;   /* where the forwarded message is ("" the inbox) */
};

static void input(const char *id, const char *label, const char *type, const char *value)
{
	printf("<label for=\"%s\">%s</label><input type=\"%s\" id=\"%s\" name=\"%s\" value=\"", id, label,
	       type, id, id);
	html(value ? value : "");
	fputs("\" autocomplete=\"off\">\n", stdout);
}

static void hidden(const char *name, const char *value)
{
	if (!value || !*value)
		return;
	printf("<input type=\"hidden\" name=\"%s\" value=\"", name);
	html(value);
	fputs("\">\n", stdout);
}

static void show_form(const struct webmail *w, const struct prefill *p, const char *notice)
{
	cgi_page_start(notice ? 400 : 200, "Write \xe2\x80\x94 mailpipe");
	fputs("<header><nav class=\"folders\"><a href=\"inbox\">Inbox</a> <a href=\"inbox?folder=Sent\">"
	      "Sent</a></nav><span class=\"user\">", stdout);
	html(w->user);
	fputs("</span></header>\n<main>\n<h1>Write</h1>\n", stdout);
	if (notice) {
		fputs("<p id=\"error\">", stdout);
		html(notice);
		fputs("</p>\n", stdout);
	}
	fputs("<form id=\"compose\" class=\"compose\" method=\"post\" action=\"compose\" "
	      "enctype=\"multipart/form-data\" accept-charset=\"UTF-8\">\n"
	      "<p>From: <span id=\"from\">", stdout);
	html(w->user);
	fputs("</span></p>\n", stdout);
	webmail_csrf_field(w);
	input("to", "To", "text", p->to);
	input("cc", "Cc", "text", p->cc);
	input("bcc", "Bcc", "text", NULL);
	input("subject", "Subject", "text", p->subject);
	fputs("<label for=\"body\">Message</label><textarea id=\"body\" name=\"body\">", stdout);
	html(p->body ? p->body : "");
	fputs("</textarea>\n<label for=\"attach\">Attach files</label>"
	      "<input type=\"file\" id=\"attach\" name=\"attach\" multiple>\n", stdout);
	hidden("in_reply_to", p->in_reply_to);
	hidden("references", p->references);
	if (p->forward[0]) {
		hidden("forward", p->forward);
		hidden("folder", p->folder);
		fputs("<p class=\"note\">The original message goes with it as an attachment.</p>\n", stdout);
	}
	fputs("<p class=\"send\"><button id=\"send\" type=\"submit\">Send</button></p>\n</form>\n</main>\n",
	      stdout);
	cgi_page_end();
}

/* "Re: " or "Fwd: " before a subject that does not start with it. */
static char *prefixed(const char *prefix, const char *subject)
{
	size_t n = strlen(prefix);
	if (g_ascii_strncasecmp(subject, prefix, n) == 0)
		return g_strdup(subject);
	return g_strconcat(prefix, subject, NULL);
}

/* The original text with "> " before every line. */
static char *quoted(const struct mime_msg *m, const char *from)
{
	GString *out = g_string_new("\n\n");
	g_string_append_printf(out, "%s wrote:\n", from);
	size_t len;
	int cut;
	char *text = mime_body_text(m, &len, &cut);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		size_t n = next ? (size_t)(next - line) : strlen(line);
		g_string_append(out, "> ");
		g_string_append_len(out, line, (gssize)n);
		g_string_append_c(out, '\n');
		next = next ? next + 1 : NULL;
	}
	g_free(text);
	return g_string_free(out, FALSE);
}

/* Every address of list but the user's own, comma-separated, to out. */
static void others(InternetAddressList *list, const char *self, GString *out)
{
	for (int i = 0; list && i < internet_address_list_length(list); i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);
		if (!INTERNET_ADDRESS_IS_MAILBOX(a) ||
		    g_ascii_strcasecmp(internet_address_mailbox_get_addr((InternetAddressMailbox *)a), self) == 0)
			continue;
		char *s = internet_address_to_string(a, NULL, FALSE);
		g_string_append_printf(out, "%s%s", out->len ? ", " : "", s);
		g_free(s);
	}
}

static void prefill_reply(const struct webmail *w, const struct mime_msg *m, int all, struct prefill *p)
{
	InternetAddressList *reply_to = g_mime_message_get_reply_to(m->msg);
	GMimeAddressType to_type = reply_to && internet_address_list_length(reply_to) ?
		GMIME_ADDRESS_TYPE_REPLY_TO : GMIME_ADDRESS_TYPE_FROM;
	p->to = mime_addresses(m, to_type);
	if (all) {
		GString *cc = g_string_new("");
		others(g_mime_message_get_addresses(m->msg, GMIME_ADDRESS_TYPE_TO), w->user, cc);
		others(g_mime_message_get_addresses(m->msg, GMIME_ADDRESS_TYPE_CC), w->user, cc);
		p->cc = g_string_free(cc, FALSE);
	}
	char *subject = mime_subject(m), *from = mime_addresses(m, GMIME_ADDRESS_TYPE_FROM);
	p->subject = prefixed("Re: ", subject);
	p->body = quoted(m, from);
	const char *id = g_mime_message_get_message_id(m->msg);
	const char *refs = mime_header(m, "References");
	if (id) {
		p->in_reply_to = g_strdup_printf("<%s>", id);
		p->references = refs ? g_strdup_printf("%s <%s>", refs, id) : g_strdup_printf("<%s>", id);
	}
	g_free(subject);
	g_free(from);
}

static void get_form(struct webmail *w)
{
	struct prefill p = { 0 };
	const char *reply = cgi_param(&w->query, "reply"), *forward = cgi_param(&w->query, "forward");
	const char *name = reply ? reply : forward;
	const char *folder = cgi_param(&w->query, "folder");
	char dir[PATH_MAX], path[PATH_MAX];
	struct mbox_entry e;
	struct mime_msg m;
	if (name) {
		if (mbox_folder_dir(w->maildir, folder, dir, sizeof dir) < 0 ||
		    mbox_find(dir, name, &e, path, sizeof path) < 0 || mime_open(path, &m) < 0) {
			cgi_error_page(404, "No such message", "There is no such message to answer.");
			return;
		}
		if (reply) {
			prefill_reply(w, &m, cgi_param(&w->query, "all") != NULL, &p);
		} else {
			char *subject = mime_subject(&m);
			p.subject = prefixed("Fwd: ", subject);
			g_free(subject);
			snprintf(p.forward, sizeof p.forward, "%s", e.name);
			p.folder = folder;
		}
		mime_close(&m);
	}
	show_form(w, &p, NULL);
	g_free(p.to), g_free(p.cc), g_free(p.subject), g_free(p.body);
	g_free(p.in_reply_to), g_free(p.references);
}

/* ---- the posted form -------------------------------------------------------- */

struct form {
	char *to, *cc, *bcc, *subject, *body, *csrf, *in_reply_to, *references, *forward, *folder;
	GMimeObject *attachments[ATTACHMENTS_MAX];
	size_t nattachments;
	GMimeObject *parsed;   /* the multipart the fields point into */
};

/* Where a text field's value goes. */
static char **field_slot(struct form *f, const char *name)
{
	static const struct { const char *name; size_t offset; } slots[] = {
		{ "to", offsetof(struct form, to) }, { "cc", offsetof(struct form, cc) },
		{ "bcc", offsetof(struct form, bcc) }, { "subject", offsetof(struct form, subject) },
		{ "body", offsetof(struct form, body) }, { "csrf", offsetof(struct form, csrf) },
		{ "in_reply_to", offsetof(struct form, in_reply_to) },
		{ "references", offsetof(struct form, references) },
		{ "forward", offsetof(struct form, forward) }, { "folder", offsetof(struct form, folder) },
	};
	for (size_t i = 0; name && i < sizeof slots / sizeof *slots; i++)
		if (strcmp(slots[i].name, name) == 0)
			return (char **)((char *)f + slots[i].offset);
	return NULL;
}

/* A text field's value, at most FIELD_MAX octets (NULL if more), read
 * in pieces so that a huge one is never in memory.  Browsers send form
 * fields as they are, without a transfer encoding (RFC 7578 4.7). */
static char *field_text(GMimeObject *part)
{
	GMimeDataWrapper *content = GMIME_IS_PART(part) ? g_mime_part_get_content((GMimePart *)part) : NULL;
	GMimeStream *stream = content ? g_mime_data_wrapper_get_stream(content) : NULL;
	if (!stream || g_mime_stream_reset(stream) < 0)
		return g_strdup("");
	GString *text = g_string_new("");
	char buf[8192];
	gssize n;
	while ((n = g_mime_stream_read(stream, buf, sizeof buf)) > 0) {
		if (text->len + (size_t)n > FIELD_MAX) {
			g_string_free(text, TRUE);
			return NULL;
		}
		g_string_append_len(text, buf, n);
	}
	return g_string_free(text, FALSE);
}

/* One part of the form: a field, or a file to attach.  0, or -1 with err. */
static int take_part(struct form *f, GMimeObject *part, char *err, size_t err_size)
{
	GMimeContentDisposition *disp = g_mime_object_get_content_disposition(part);
	const char *name = disp ? g_mime_content_disposition_get_parameter(disp, "name") : NULL;
	const char *filename = disp ? g_mime_content_disposition_get_parameter(disp, "filename") : NULL;
	if (filename && name && strcmp(name, "attach") == 0) {
		GMimeDataWrapper *content = GMIME_IS_PART(part) ? g_mime_part_get_content((GMimePart *)part) : NULL;
		gint64 length = content ? g_mime_stream_length(g_mime_data_wrapper_get_stream(content)) : 0;
		if (!*filename && length <= 0)
			return 0;   /* the file input left empty */
		if (f->nattachments == ATTACHMENTS_MAX) {
			snprintf(err, err_size, "at most %d attachments", ATTACHMENTS_MAX);
			return -1;
		}
		char *type = g_mime_content_type_get_mime_type(g_mime_object_get_content_type(part));
		f->attachments[f->nattachments++] = build_attachment(content, type, filename);
		g_free(type);
		return 0;
	}
	char **slot = field_slot(f, name);
	if (!slot || *slot)
		return 0;   /* unknown or repeated: the first one counts */
	if (!(*slot = field_text(part))) {
		snprintf(err, err_size, "the field %s is too long", name);
		return -1;
	}
	return 0;
}

/* multipart/form-data is MIME (RFC 7578): GMime parses it from the spool,
 * its Content-Type coming from the web server. */
static int parse_multipart(FILE *body, const char *content_type, struct form *f, char *err,
			   size_t err_size)
{
	char *head = g_strdup_printf("Content-Type: %s\r\n\r\n", content_type);
	GMimeStream *cat = g_mime_stream_cat_new();
	GMimeStream *h = g_mime_stream_mem_new_with_buffer(head, strlen(head));
	GMimeStream *b = g_mime_stream_fs_new(dup(fileno(body)));
	g_free(head);
	g_mime_stream_cat_add_source((GMimeStreamCat *)cat, h);
	g_mime_stream_cat_add_source((GMimeStreamCat *)cat, b);
	g_object_unref(h), g_object_unref(b);
	GMimeParser *parser = g_mime_parser_new_with_stream(cat);
	f->parsed = g_mime_parser_construct_part(parser, NULL);
	g_object_unref(parser);
	g_object_unref(cat);
	if (!f->parsed || !GMIME_IS_MULTIPART(f->parsed)) {
		snprintf(err, err_size, "the form could not be read");
		return -1;
	}
	GMimeMultipart *mp = (GMimeMultipart *)f->parsed;
	for (int i = 0; i < g_mime_multipart_get_count(mp); i++)
		if (take_part(f, g_mime_multipart_get_part(mp, i), err, err_size) < 0)
			return -1;
	return 0;
}

static int parse_urlencoded(FILE *body, struct form *f, char *err, size_t err_size)
{
	struct cgi_params params = { 0 };
	char *text = malloc(CGI_FORM_MAX + 1);
	if (!text)
		return -1;
	size_t n = fread(text, 1, CGI_FORM_MAX, body);
	if (n == CGI_FORM_MAX && fgetc(body) != EOF) {   /* files come as multipart/form-data */
		snprintf(err, err_size, "a form without files may hold at most %d MB", CGI_FORM_MAX >> 20);
		free(text);
		return -1;
	}
	cgi_parse_urlencoded(text, n, &params);
	free(text);
	for (size_t i = 0; i < params.n; i++) {
		char **slot = field_slot(f, params.p[i].name);
		if (slot && !*slot)
			*slot = g_strndup(params.p[i].value, params.p[i].len);
	}
	cgi_params_free(&params);
	return 0;
}

static void form_free(struct form *f)
{
	char *const texts[] = { f->to, f->cc, f->bcc, f->subject, f->body, f->csrf, f->in_reply_to,
				f->references, f->forward, f->folder };
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
		g_free(texts[i]);
	for (size_t i = 0; i < f->nattachments; i++)
		g_object_unref(f->attachments[i]);
	if (f->parsed)
		g_object_unref(f->parsed);
}

/* ---- sending ------------------------------------------------------------------ */

/* Unknown local addresses named before mail-store is asked, so the page
 * can say which one. */
static int check_local(const struct webmail *w, const struct mail_built *b, char *err, size_t err_size)
{
	struct destination *dest = NULL;
	size_t n = 0;
	int rc = resolve_recipients(&w->conf, b->rcpts, b->nrcpts, &dest, &n, err, err_size);
	free(dest);
	return rc;
}

static void result_page(const struct webmail *w, const char *id, int sent_copy)
{
	cgi_page_start(200, "Sent \xe2\x80\x94 mailpipe");
	fputs("<header><nav class=\"folders\"><a href=\"inbox\">Inbox</a> <a href=\"inbox?folder=Sent\">"
	      "Sent</a> <a href=\"compose\">Write another</a></nav><span class=\"user\">", stdout);
	html(w->user);
	printf("</span></header>\n<main>\n<h1>Sent</h1>\n<p id=\"result\">Sent: id=%s</p>\n", id);
	if (!sent_copy)
		fputs("<p>The copy in Sent could not be kept; the message went out all the same.</p>\n",
		      stdout);
	fputs("</main>\n", stdout);
	cgi_page_end();
}

/* Hands the built message to mail-store and keeps a copy in .Sent. */
static void deliver(const struct webmail *w, struct mail_built *b)
{
	char err[300], program[PATH_MAX], sent[PATH_MAX];
	if (check_local(w, b, err, sizeof err) != 0) {
		cgi_error_page(400, "Not sent", err);
		return;
	}
	FILE *msg = tmpfile();
	off_t size = msg && build_write(b->msg, fileno(msg)) == 0 ? lseek(fileno(msg), 0, SEEK_END) : -1;
	if (size < 0 || lseek(fileno(msg), 0, SEEK_SET) < 0) {
		cgi_error_page(500, "Not sent", "The message could not be written to a temporary file.");
		if (msg)
			fclose(msg);
		return;
	}
	if ((uint64_t)size > w->conf.max_size) {   /* base64 makes files a third larger */
		snprintf(err, sizeof err, "With its attachments encoded the message is %llu KB, more than "
			 "the %llu KB this server takes. Nothing was sent.", (unsigned long long)size >> 10,
			 (unsigned long long)w->conf.max_size >> 10);
		cgi_error_page(413, "Too large", err);
		fclose(msg);
		return;
	}
	struct store_result result;
	store_program(program, sizeof program);
	const char *client = getenv("REMOTE_ADDR");
	if (store_run(program, fileno(msg), w->user, client ? client : "127.0.0.1", "webmail", 0, b->rcpts,
		      b->nrcpts, &result) < 0 || result.status != 0) {
		const struct store_reply *r = store_reply_for(&result);
		snprintf(err, sizeof err, "The mail system did not take it: %d %s %s", r->code, r->enhanced,
			 r->text);
		cgi_error_page(502, "Not sent", err);
		fclose(msg);
		return;
	}
	int kept = mbox_folder_dir(w->maildir, "Sent", sent, sizeof sent) == 0 &&
		   mbox_add(sent, fileno(msg), "S", w->conf.hostname) == 0;
	fclose(msg);
	result_page(w, result.id, kept);
}

/* The original of a forward, from the user's own mailbox. */
static GMimeMessage *original(const struct webmail *w, const char *name, const char *folder,
			      struct mime_msg *m)
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct mbox_entry e;
	if (!name || !*name || mbox_folder_dir(w->maildir, folder, dir, sizeof dir) < 0 ||
	    mbox_find(dir, name, &e, path, sizeof path) < 0 || mime_open(path, m) < 0)
		return NULL;
	return m->msg;
}

static void send_form(struct webmail *w, struct form *f)
{
	struct mime_msg orig = { 0 };
	struct mail_draft d = {
		.from = w->user, .to = f->to, .cc = f->cc, .bcc = f->bcc, .subject = f->subject,
		.body = f->body, .in_reply_to = f->in_reply_to, .references = f->references,
		.attachments = f->attachments, .nattachments = f->nattachments,
		.msgid_domain = strchr(w->user, '@') + 1, .max_rcpts = w->conf.max_rcpt,
	};
	char err[300];
	struct mail_built b;
	if (f->forward && *f->forward && !(d.forward = original(w, f->forward, f->folder, &orig))) {
		cgi_error_page(404, "Not sent", "The message to forward is not in the mailbox any more.");
		return;
	}
	if (build_message(&d, &b, err, sizeof err) < 0) {
		struct prefill again = { .to = f->to, .cc = f->cc, .subject = f->subject, .body = f->body,
					 .in_reply_to = f->in_reply_to, .references = f->references };
		show_form(w, &again, err);   /* what was written is not lost */
	} else {
		deliver(w, &b);
	}
	build_free(&b);
	if (orig.msg)
		mime_close(&orig);
}

static void post_form(struct webmail *w)
{
	struct form f = { 0 };
	FILE *body = NULL;
	char err[300] = "";
	uint64_t limit = w->conf.max_size + FORM_OVERHEAD;
	int rc = cgi_spool_body(limit, &body);
	const char *type = getenv("CONTENT_TYPE");
	if (rc > 0) {
		snprintf(err, sizeof err, "The message with its attachments is larger than the %llu KB "
			 "this server takes. Nothing was sent.", (unsigned long long)(w->conf.max_size >> 10));
		cgi_error_page(413, "Too large", err);
		return;
	}
	if (rc < 0 || !type || strpbrk(type, "\r\n")) {
		cgi_error_page(400, "Bad request", "The form could not be read.");
	} else if (g_ascii_strncasecmp(type, "multipart/form-data", 19) == 0
			   ? parse_multipart(body, type, &f, err, sizeof err) < 0
			   : parse_urlencoded(body, &f, err, sizeof err) < 0) {
		cgi_error_page(400, "Not sent", err[0] ? err : "The form could not be read.");
	} else if (!webmail_csrf_ok(w, f.csrf)) {
		cgi_error_page(403, "Refused", "The form did not carry this session's CSRF token; nothing "
			       "was sent.");
	} else {
		send_form(w, &f);
	}
	form_free(&f);
	if (body)
		fclose(body);
}

int main(void)
{
	static struct webmail w;
	mime_init();
	if (webmail_open(&w) < 0)
		return 0;
	const char *method = getenv("REQUEST_METHOD");
	if (method && strcmp(method, "POST") == 0)
		post_form(&w);
	else if (method && strcmp(method, "GET") == 0)
		get_form(&w);
	else
		cgi_error_page(405, "Method not allowed", "Only GET and POST.");
	fflush(stdout);
	webmail_close(&w);
	return 0;
}
