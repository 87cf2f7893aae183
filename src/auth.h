/* auth.h - SMTP AUTH (RFC 4954): PLAIN (RFC 4616) and LOGIN, passwords
 * checked with crypt(3) against the users file. */
#ifndef MAILPIPE_AUTH_H
#define MAILPIPE_AUTH_H

#include <stddef.h>

#include "conf.h"
#include "smtp_io.h"

#define AUTH_LINE_MAX 12288   /* RFC 4954 4: the longest AUTH line */

/* Strict base64 (RFC 4648 alphabet, '=' padding only at the end); the
 * decoded bytes are NUL-terminated.  0, or -1 when malformed or too long. */
int auth_b64_decode(const char *in, unsigned char *out, size_t out_size, size_t *out_len);

/* Splits PLAIN's "authzid NUL authcid NUL password".  0; -1 when malformed;
 * -2 when the authzid names someone else (no proxy authorisation; user is
 * still filled in, for the log). */
int auth_split_plain(const unsigned char *buf, size_t len, char *user, size_t user_size,
		     char *password, size_t password_size);

/* Is password right for the user?  An unknown user costs the same crypt(3)
 * work as a known one, so timing does not tell which users exist. */
int auth_check_password(const struct conf *conf, const char *user, const char *password);

enum auth_result {
	AUTH_OK,
	AUTH_FAILED,       /* wrong user or password: 535 5.7.8 */
	AUTH_CANCELLED,    /* the client sent "*": 501 5.0.0 */
	AUTH_MALFORMED,    /* not base64, or not PLAIN's shape: 501 5.5.2 */
	AUTH_UNKNOWN_MECH, /* 504 5.5.4 */
	AUTH_SYNTAX,       /* no mechanism at all: 501 5.5.4 */
	AUTH_TIMEOUT,      /* the client went quiet: 421 4.4.2 */
	AUTH_EOF,          /* the client went away */
};

/* Runs the AUTH exchange for "MECH [initial-response]" (the command's
 * argument): sends the 334 challenges, reads the answers, checks the
 * password.  *user gets the name that was tried (for the log).  The
 * password never leaves this function, and its buffers are wiped. */
enum auth_result auth_dialogue(struct smtp_io *io, const struct conf *conf, const char *arg,
			       char *user, size_t user_size);

#endif
