/* dkim_sign.h - DKIM-Signature fields for an outgoing message (RFC 6376,
 * relaxed/relaxed; rsa-sha256 or ed25519-sha256 per RFC 8463, chosen by the
 * key), made with libopendkim. */
#ifndef MAILPIPE_DKIM_SIGN_H
#define MAILPIPE_DKIM_SIGN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dkim_conf.h"

#define DKIM_SIGNATURES_MAX 8192   /* room for the fields of DKIM_KEYS_PER_DOMAIN keys */

/* Signs the message held in fd from off to its end (LF line ends, as
 * stored) with each key.  Fills out with one DKIM-Signature field per key,
 * folded, LF line ends, ready to be put above the message.  0, or -1 with
 * err filled (a key file that cannot be read or is of no usable type, a
 * read error, a library failure). */
int dkim_sign_message(const struct dkim_key_entry *const *keys, size_t nkeys, int fd, off_t off,
		      char *out, size_t size, char *err, size_t errsize);

/* The domain of the first address of a From: field value ("Name
 * <a@b.example>", "a@b.example (comment)"), lowercased into out; 0, or -1
 * when there is none. */
int dkim_from_domain(const char *value, char *out, size_t size);

#endif
