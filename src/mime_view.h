/* mime_view.h - reading a stored message with GMime for the webmail: its
 * header fields decoded (RFC 2047, RFC 2231), its parts numbered in
 * order, a text part's content decoded and converted to UTF-8 (glibc
 * iconv through GMime's charset filter), an attachment's bytes.  The file
 * is parsed from disk: a 25 MiB message is not read into memory. */
#ifndef MAILPIPE_MIME_VIEW_H
#define MAILPIPE_MIME_VIEW_H

#include <stddef.h>
#include <stdio.h>

#include <gmime/gmime.h>

#define MIME_TEXT_SHOWN_MAX (1024 * 1024)   /* octets of text on a page */

struct mime_msg {
	GMimeStream *stream;
	GMimeMessage *msg;
};

struct mime_part_info {
	int index;                 /* 1, 2, ... in the order of the message */
	GMimeObject *obj;
	char type[128];            /* "text/plain" */
	char filename[512];        /* decoded, UTF-8; "" when none */
	int attachment;            /* shown as a file, not as the body */
	int message;               /* an attached message (message/rfc822) */
	unsigned long long size;   /* about how many octets, decoded */
};

/* GMime's one-time setup. */
void mime_init(void);
int mime_open(const char *path, struct mime_msg *m);
/* Only the header (at most its first 64 KiB): what a list needs, at the
 * same cost for a 25 MiB message as for a small one. */
int mime_open_header(const char *path, struct mime_msg *m);
void mime_close(struct mime_msg *m);

/* Decoded header values (g_free them); "" when absent. */
char *mime_subject(const struct mime_msg *m);
char *mime_addresses(const struct mime_msg *m, GMimeAddressType type);
char *mime_date(const struct mime_msg *m);
/* A raw header's value, or NULL. */
const char *mime_header(const struct mime_msg *m, const char *name);

/* Calls fn for every leaf part (and attached message), in order. */
void mime_parts(const struct mime_msg *m, void (*fn)(const struct mime_part_info *, void *),
		void *arg);
/* Part index, or 0 with info unset when there is none. */
int mime_part(const struct mime_msg *m, int index, struct mime_part_info *info);
/* A text part decoded and in UTF-8 (invalid sequences replaced), at most
 * MIME_TEXT_SHOWN_MAX octets: a new string (g_free) and its length;
 * *cut says whether there was more. */
char *mime_text(GMimeObject *part, size_t *len, int *cut);
/* The message's text as the page shows it: every inline text part in
 * order (of an alternative, the plain one), HTML made text, the text of a
 * multipart whose boundary never came; a new string (g_free). */
char *mime_body_text(const struct mime_msg *m, size_t *len, int *cut);
/* A part's decoded octets (or an attached message as it is) to out. */
int mime_write_content(GMimeObject *part, FILE *out);

/* HTML as the text a reader would see: tags dropped, scripts and styles
 * with their content, entities decoded, blocks on lines of their own. */
char *mime_html_to_text(const char *html, size_t len);

#endif
