/* merge.h - a message template with {{column}} placeholders, rendered once
 * per CSV row (smtp-send --csv).
 *
 * In the body a value goes in as it is.  In the header it goes in the way
 * the field needs it: in From/To/Cc/Reply-To a name is quoted when it has
 * specials ("Smith, John") and RFC 2047-encoded when it is not ASCII, an
 * address inside <...> is left alone; Subject and other text fields are
 * encoded when the result is not ASCII.  A value with CR or LF cannot go
 * into a header: that row fails, the others go on.
 */
#ifndef MAILPIPE_MERGE_H
#define MAILPIPE_MERGE_H

#include <stddef.h>
#include <stdio.h>

#include "msg_head.h"

#define MERGE_NAME_MAX 64   /* octets of a column name in a placeholder */

struct merge_columns {
	const char *const *names;
	size_t n;
};

/* Every placeholder in the template names a column.  0, or -1 with the
 * first one that does not in unknown (or "" on a read error). */
int merge_check(FILE *tpl, const struct merge_columns *cols, char *unknown, size_t size);

/* The message for one row: the template with the row's values, the
 * missing header fields added (Date, a new Message-ID per row, From, To,
 * MIME-Version).  0; 1 when this row cannot make a message (err says
 * why); -1 on a read or write error. */
int merge_render(FILE *tpl, const struct merge_columns *cols, const char *const *values,
		 const char *to, struct head_fix *fix, FILE *out, char *err, size_t err_size);

#endif
