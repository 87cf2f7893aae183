/* smtp_addr.h - parse the MAIL FROM / RCPT TO arguments (RFC 5321 4.1.2,
 * RFC 6531 for UTF-8 addresses). */
#ifndef MAILPIPE_SMTP_ADDR_H
#define MAILPIPE_SMTP_ADDR_H

#include <stddef.h>

#define SMTP_PATH_MAX 256    /* RFC 5321 4.5.3.1.3 */
#define SMTP_LOCAL_MAX 64
#define SMTP_DOMAIN_MAX 255

enum path_error {
	PATH_OK = 0,
	PATH_SYNTAX,      /* not a path at all: 501 5.5.4 */
	PATH_BAD_ADDRESS, /* a path whose mailbox is malformed: 501 5.1.3 / 5.1.7 */
	PATH_TOO_LONG,    /* 501 5.5.4 (RFC 5321 length limits) */
	PATH_NULL_RCPT,   /* "<>" where a recipient is needed */
};

struct smtp_path {
	char address[SMTP_PATH_MAX + 1]; /* local@domain as sent, source route dropped */
	int is_null;                      /* "<>" */
	int has_utf8;                     /* any octet >= 0x80 */
	size_t at;                        /* index of the '@' (0 if null) */
};

/* Parses `<path> [params]` after "FROM:" / "TO:" (already skipped, spaces
 * allowed).  allow_null: MAIL accepts "<>".  *params points at the rest. */
enum path_error smtp_parse_path(const char *arg, int allow_null, struct smtp_path *path,
				const char **params);

/* Takes the next ESMTP parameter "KEY[=VALUE]" from *params; 1 when one was
 * found, 0 at the end, -1 when malformed. key/value are NUL-terminated. */
int smtp_next_param(const char **params, char *key, size_t key_size, char *value,
		    size_t value_size);

/* Is s well-formed UTF-8 (no overlongs, no surrogates)? */
int utf8_valid(const unsigned char *s, size_t n);

#endif
