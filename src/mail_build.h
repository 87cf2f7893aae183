/* mail_build.h - a new message from what a person wrote in the compose
 * form, built with GMime: From the signed-in user, To and Cc, the subject
 * RFC 2047-encoded when it is not ASCII, the text quoted-printable or
 * base64 as GMime finds best, attachments in a multipart/mixed (file
 * names RFC 2231-encoded), a forwarded message as message/rfc822, Date
 * and Message-ID.  Bcc is only in the envelope. */
#ifndef MAILPIPE_MAIL_BUILD_H
#define MAILPIPE_MAIL_BUILD_H

#include <stddef.h>

#include <gmime/gmime.h>

#define BUILD_RCPTS_MAX 1000   /* the most max_rcpt can ask for here */

struct mail_draft {
	const char *from;
	const char *to, *cc, *bcc;     /* comma-separated, as typed */
	const char *subject, *body;
	const char *in_reply_to, *references;
	GMimeObject **attachments;     /* parts made by build_attachment */
	size_t nattachments;
	GMimeMessage *forward;         /* attached as message/rfc822, or NULL */
	const char *msgid_domain;
	size_t max_rcpts;              /* To, Cc and Bcc together (max_rcpt) */
};

struct mail_built {
	GMimeMessage *msg;
	char *rcpts[BUILD_RCPTS_MAX];   /* envelope recipients (g_free) */
	size_t nrcpts;
};

/* The message, or -1 with the reason in err: an address that is not
 * one, a line break where a header would get it, no recipient. */
int build_message(const struct mail_draft *d, struct mail_built *out, char *err, size_t err_size);
void build_free(struct mail_built *b);

/* An attachment from uploaded content (GMime's decoded view of the
 * form's file part), with the type the browser gave when it is sane. */
GMimeObject *build_attachment(GMimeDataWrapper *content, const char *type, const char *filename);

/* Writes the message with LF line ends to fd.  0 or -1. */
int build_write(GMimeMessage *msg, int fd);

#endif
