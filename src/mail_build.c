/* mail_build.c - a message from the compose form, with GMime. */
#include "mail_build.h"

#include <string.h>
#include <unistd.h>

#include "msg_head.h"

static int has_break(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

/* An address a person typed: one mailbox with an @, no spaces or
 * controls in it. */
static int good_mailbox(InternetAddress *a)
{
	if (!INTERNET_ADDRESS_IS_MAILBOX(a))
		return 0;
	const char *addr = internet_address_mailbox_get_addr((InternetAddressMailbox *)a);
	if (!addr || !strchr(addr, '@') || addr[0] == '@' || strlen(addr) >= 256)
		return 0;
	for (const char *p = addr; *p; p++)
		if ((unsigned char)*p <= ' ' || strchr("<>\"(),;\\", *p))
			return 0;
	return 1;
}

/* Parses one field's list into the header (type, or none for Bcc) and
 * the envelope.  0, or -1 with err. */
static int add_list(GMimeMessage *msg, int type, const char *label, const char *text, size_t max,
		    struct mail_built *out, char *err, size_t err_size)
{
	if (!text || !*text)
		return 0;
	if (has_break(text)) {
		snprintf(err, err_size, "%s: a line break cannot be in an address", label);
		return -1;
	}
	for (const char *at = strchr(text, '@'); at; at = strchr(at + 1, '@'))
		if ((at > text && g_ascii_isspace(at[-1])) || g_ascii_isspace(at[1])) {
			/* GMime would read "bob @example.org" as bob@example.org: a typo to point out */
			snprintf(err, err_size, "%s: an address cannot have spaces around its @", label);
			return -1;
		}
	InternetAddressList *list = internet_address_list_parse(NULL, text);
	int n = list ? internet_address_list_length(list) : 0;
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		InternetAddress *a = internet_address_list_get_address(list, i);
		if (!good_mailbox(a)) {
			char *shown = internet_address_to_string(a, NULL, FALSE);
			snprintf(err, err_size, "%s: \"%s\" is not an address", label, shown ? shown : "?");
			g_free(shown);
			rc = -1;
		} else if (out->nrcpts >= max || out->nrcpts == sizeof out->rcpts / sizeof *out->rcpts) {
			snprintf(err, err_size, "too many recipients: at most %zu in To, Cc and Bcc together",
				 max < BUILD_RCPTS_MAX ? max : (size_t)BUILD_RCPTS_MAX);
			rc = -1;
		} else {
			out->rcpts[out->nrcpts++] =
				g_strdup(internet_address_mailbox_get_addr((InternetAddressMailbox *)a));
		}
	}
	if (rc == 0 && n == 0) {
		snprintf(err, err_size, "%s: \"%.200s\" is not an address", label, text);
		rc = -1;
	}
	if (rc == 0 && type >= 0)
		internet_address_list_append(g_mime_message_get_addresses(msg, (GMimeAddressType)type), list);
	if (list)
		g_object_unref(list);
	return rc;
}

static GMimeObject *text_part(const char *body)
{
	/* browsers send CRLF; the message is stored with LF */
	GString *text = g_string_sized_new(strlen(body) + 2);
	for (const char *p = body; *p; p++)
		if (!(p[0] == '\r' && p[1] == '\n'))
			g_string_append_c(text, *p == '\r' ? '\n' : *p);
	if (!text->len || text->str[text->len - 1] != '\n')
		g_string_append_c(text, '\n');
	char *valid = g_utf8_make_valid(text->str, (gssize)text->len);
	g_string_free(text, TRUE);
	GMimeTextPart *part = g_mime_text_part_new_with_subtype("plain");
	/* the text as it is, in UTF-8: set_text would pick a legacy charset */
	int ascii = TRUE;
	for (const char *c = valid; *c && ascii; c++)
		ascii = (unsigned char)*c < 0x80;
	GMimeStream *mem = g_mime_stream_mem_new_with_buffer(valid, strlen(valid));
	GMimeDataWrapper *content = g_mime_data_wrapper_new_with_stream(mem, GMIME_CONTENT_ENCODING_DEFAULT);
	g_object_unref(mem);
	g_free(valid);
	GMimePart *p = (GMimePart *)part;
	g_mime_part_set_content(p, content);
	g_object_unref(content);
	g_mime_object_set_content_type_parameter((GMimeObject *)part, "charset", ascii ? "us-ascii" : "utf-8");
	g_mime_part_set_content_encoding(p, g_mime_part_get_best_content_encoding(p, GMIME_ENCODING_CONSTRAINT_7BIT));
	return (GMimeObject *)part;
}

/* A non-ASCII file name in UTF-8 (RFC 2231), not a legacy charset. */
static void utf8_param(GMimeParamList *list, const char *name)
{
	GMimeParam *param = list ? g_mime_param_list_get_parameter(list, name) : NULL;
	if (param)
		g_mime_param_set_charset(param, "UTF-8");
}

GMimeObject *build_attachment(GMimeDataWrapper *content, const char *type, const char *filename)
{
	GMimeContentType *ct = type && *type ? g_mime_content_type_parse(NULL, type) : NULL;
	const char *t = ct ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *s = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	GMimePart *part = t && s && !has_break(t) && !has_break(s) ? g_mime_part_new_with_type(t, s)
								     : g_mime_part_new_with_type("application", "octet-stream");
	if (ct)
		g_object_unref(ct);
	g_mime_part_set_content(part, content);
	if (filename && *filename && !has_break(filename))
		g_mime_part_set_filename(part, filename);   /* RFC 2231 when it needs it */
	GMimeContentDisposition *disp = g_mime_object_get_content_disposition((GMimeObject *)part);
	if (disp) {
		g_mime_content_disposition_set_disposition(disp, GMIME_DISPOSITION_ATTACHMENT);
		utf8_param(g_mime_content_disposition_get_parameters(disp), "filename");
	}
	utf8_param(g_mime_content_type_get_parameters(g_mime_object_get_content_type((GMimeObject *)part)),
		   "name");
	g_mime_part_set_content_encoding(part, GMIME_CONTENT_ENCODING_BASE64);
	return (GMimeObject *)part;
}

static void set_ids(GMimeMessage *msg, const struct mail_draft *d)
{
	char id[300];
	head_message_id(id, sizeof id, d->msgid_domain);
	id[strlen(id) - 1] = '\0';   /* GMime adds the angle brackets */
	g_mime_message_set_message_id(msg, id + 1);
	GDateTime *now = g_date_time_new_now_local();
	g_mime_message_set_date(msg, now);
	g_date_time_unref(now);
	if (d->in_reply_to && *d->in_reply_to)
		g_mime_object_set_header((GMimeObject *)msg, "In-Reply-To", d->in_reply_to, NULL);
	if (d->references && *d->references)
		g_mime_object_set_header((GMimeObject *)msg, "References", d->references, NULL);
}

static void set_content(GMimeMessage *msg, const struct mail_draft *d)
{
	GMimeObject *text = text_part(d->body ? d->body : "");
	if (!d->nattachments && !d->forward) {
		g_mime_message_set_mime_part(msg, text);
		g_object_unref(text);
		return;
	}
	GMimeMultipart *mixed = g_mime_multipart_new_with_subtype("mixed");
	g_mime_multipart_add(mixed, text);
	g_object_unref(text);
	for (size_t i = 0; i < d->nattachments; i++)
		g_mime_multipart_add(mixed, d->attachments[i]);
	if (d->forward) {
		GMimeMessagePart *fwd = g_mime_message_part_new_with_message("rfc822", d->forward);
		g_mime_object_set_disposition((GMimeObject *)fwd, GMIME_DISPOSITION_INLINE);
		g_mime_multipart_add(mixed, (GMimeObject *)fwd);
		g_object_unref(fwd);
	}
	g_mime_message_set_mime_part(msg, (GMimeObject *)mixed);
	g_object_unref(mixed);
}

int build_message(const struct mail_draft *d, struct mail_built *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof *out);
	if (has_break(d->subject) || has_break(d->in_reply_to) || has_break(d->references)) {
		snprintf(err, err_size, "a line break cannot be in the subject");
		return -1;
	}
	GMimeMessage *msg = g_mime_message_new(TRUE);
	out->msg = msg;
	g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, NULL, d->from);
	size_t max = d->max_rcpts ? d->max_rcpts : BUILD_RCPTS_MAX;
	if (add_list(msg, GMIME_ADDRESS_TYPE_TO, "To", d->to, max, out, err, err_size) < 0 ||
	    add_list(msg, GMIME_ADDRESS_TYPE_CC, "Cc", d->cc, max, out, err, err_size) < 0 ||
	    add_list(msg, -1, "Bcc", d->bcc, max, out, err, err_size) < 0)
		return -1;
	if (out->nrcpts == 0) {
		snprintf(err, err_size, "no recipient: write an address in To, Cc or Bcc");
		return -1;
	}
	g_mime_message_set_subject(msg, d->subject ? d->subject : "", "utf-8");
	set_ids(msg, d);
	set_content(msg, d);
	return 0;
}

void build_free(struct mail_built *b)
{
	for (size_t i = 0; i < b->nrcpts; i++)
		g_free(b->rcpts[i]);
	if (b->msg)
		g_object_unref(b->msg);
	memset(b, 0, sizeof *b);
}

int build_write(GMimeMessage *msg, int fd)
{
	GMimeStream *s = g_mime_stream_fs_new(dup(fd));
	g_mime_stream_fs_set_owner((GMimeStreamFs *)s, TRUE);
	GMimeFormatOptions *opts = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(opts, GMIME_NEWLINE_FORMAT_UNIX);
	int rc = g_mime_object_write_to_stream((GMimeObject *)msg, opts, s) < 0 ||
		 g_mime_stream_flush(s) < 0 ? -1 : 0;
	g_mime_format_options_free(opts);
	g_object_unref(s);
	return rc;
}
