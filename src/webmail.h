/* webmail.h - what cgi-bin/inbox and cgi-bin/compose share: the signed-in
 * user (REMOTE_USER, set by the web server after it checked the password
 * against our users file, and nothing else), the user's Maildir, and the
 * CSRF token every POST carries. */
#ifndef MAILPIPE_WEBMAIL_H
#define MAILPIPE_WEBMAIL_H

#include <limits.h>

#include "cgi.h"
#include "conf.h"

#define CSRF_TOKEN_LEN 64   /* hex of HMAC-SHA256 */

struct webmail {
	struct conf conf;
	char user[CONF_ADDR_MAX];     /* the address, lowercased */
	char maildir[PATH_MAX];       /* STATE/mailboxes/<domain>/<local> */
	char csrf[CSRF_TOKEN_LEN + 1];
	struct cgi_params query;
};

/* Loads the configuration and the user; on failure the error page is
 * written (500, or 403 when there is no REMOTE_USER or it has no
 * mailbox) and -1 is returned. */
int webmail_open(struct webmail *w);
void webmail_close(struct webmail *w);

/* 1 when token is this user's CSRF token (compared in constant time). */
int webmail_csrf_ok(const struct webmail *w, const char *token);

/* The hidden form field with the token. */
void webmail_csrf_field(const struct webmail *w);

#endif
