/* auth_parts.h - the three checks behind mail_auth.h, each in its own file:
 * auth_spf.c, auth_dkim.c, auth_dmarc.c.  Results are RFC 8601 result
 * names ("pass", "fail", "temperror"...). */
#ifndef MAILPIPE_AUTH_PARTS_H
#define MAILPIPE_AUTH_PARTS_H

#include <stddef.h>

#include "mail_auth.h"

#define AUTH_RESULT_MAX 16
#define AUTH_NAME_MAX 256

struct spf_part {
	int helo_checked, mailfrom_checked;
	char helo_result[AUTH_RESULT_MAX];
	char mailfrom_result[AUTH_RESULT_MAX];
};

struct dkim_signature {
	char result[AUTH_RESULT_MAX];
	char domain[AUTH_NAME_MAX];     /* d= */
	char selector[AUTH_NAME_MAX];   /* s= */
	char algorithm[24];             /* a= */
	char b[16];                     /* the start of b= */
	char reason[64];                /* why not pass, for the comment */
};

struct dkim_part {
	struct dkim_signature sigs[AUTH_DKIM_MAX];
	size_t n;
	int more;                       /* there were more signatures than sigs */
};

struct dmarc_part {
	char result[AUTH_RESULT_MAX];   /* "" when not evaluated */
	char policy[16];                /* "reject", "quarantine", "none" */
	char reason[64];
	int reject;
};

void auth_spf(const struct auth_request *rq, struct spf_part *out);
void auth_dkim(const struct auth_request *rq, struct dkim_part *out);
/* from_domain "" when the message has no usable From: */
void auth_dmarc(const struct auth_request *rq, const char *from_domain,
		const struct spf_part *spf, const struct dkim_part *dkim, struct dmarc_part *out);

#endif
