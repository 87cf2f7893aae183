/* resolve.h - from envelope recipients to destinations: aliases expanded
 * (recursively, "@domain" catch-alls last), local mailboxes and remote
 * addresses told apart, duplicates removed. */
#ifndef MAILPIPE_RESOLVE_H
#define MAILPIPE_RESOLVE_H

#include <stddef.h>

#include "conf.h"

#define RESOLVE_DEST_MAX 1000   /* destinations of one message */
#define RESOLVE_DEPTH_MAX 20    /* alias nesting */

struct destination {
	char address[CONF_ADDR_MAX];  /* local ones lowercased */
	int remote;
};

/* Is a local@domain address deliverable here (user, alias or catch-all)? */
int resolve_local_exists(const struct conf *conf, const char *address);

/* Fills *out (malloc'd) with the destinations of the recipients.  Returns 0,
 * or a sysexits code with err filled: EX_NOUSER for an unknown local
 * address, EX_CONFIG for an alias loop or too many destinations,
 * EX_OSERR when out of memory. */
int resolve_recipients(const struct conf *conf, char *const *rcpts, size_t n,
		       struct destination **out, size_t *nout, char *err, size_t errsize);

#endif
