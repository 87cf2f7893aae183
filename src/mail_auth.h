/* mail_auth.h - the checks of incoming mail (DESIGN.md, Authentication of
 * mail): SPF of the MAIL FROM and HELO identities (RFC 7208, libspf2), every
 * DKIM signature (RFC 6376, libopendkim) and DMARC (RFC 7489, libopendmarc
 * with the public suffix list), written as one Authentication-Results field
 * (RFC 8601).  All DNS shares one time budget (dns_txt.h): a silent server
 * gives temperror, never a hang and never a 5xx. */
#ifndef MAILPIPE_MAIL_AUTH_H
#define MAILPIPE_MAIL_AUTH_H

#include <stddef.h>
#include <sys/types.h>

#include "spool.h"

#define AUTH_HEADER_MAX 4096
#define AUTH_DKIM_MAX 8           /* signatures verified and reported */
#define AUTH_FORGED_MAX 64        /* foreign Authentication-Results removed */

struct auth_request {
	const char *authserv_id;   /* our hostname */
	const char *client_ip;     /* the peer, as text */
	const char *helo;          /* as given; an address literal is not checked */
	const char *mail_from;     /* "" for the null sender */
	int fd;                    /* the message as received, LF line ends */
	off_t off;                 /* where it starts in fd */
	unsigned budget;           /* seconds for all the DNS queries */
};

struct auth_outcome {
	char header[AUTH_HEADER_MAX];   /* "Authentication-Results: ...\n" */
	char spf[16];                   /* the MAIL FROM result, else HELO's */
	char dkim[AUTH_DKIM_MAX * 10 + 8]; /* "pass", "fail,pass", "none" */
	char dmarc[16];                 /* the worst result of the From: domains */
	char from_domain[256];          /* the From: domain whose policy refuses, else the first */
	int dmarc_reject;               /* DMARC failed under p=reject for some From: domain */
};

/* Runs every check on the message; out is always filled (a check that
 * cannot run says temperror or permerror in it). */
void mail_auth_check(const struct auth_request *rq, struct auth_outcome *out);

/* Finds the Authentication-Results fields from outside that claim to be
 * ours (authserv-id equal to authserv_id, case-insensitive), the first max
 * of them in found, as the ranges spool_cut removes.  Returns how many
 * there are (more than max: some were not put in found), or -1 on a read
 * error. */
int mail_auth_forged(int fd, off_t off, const char *authserv_id, struct spool_range *found,
		     size_t max);

#endif
