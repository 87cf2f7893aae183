/* cidr.h - IPv4 and IPv6 networks in CIDR notation, for relay-clients. */
#ifndef MAILPIPE_CIDR_H
#define MAILPIPE_CIDR_H

#include <stddef.h>

struct cidr {
	int family;              /* AF_INET or AF_INET6 */
	unsigned char addr[16];  /* network address, host bits cleared */
	unsigned prefix;         /* 0..32 or 0..128 */
};

/* "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128).
 * Returns 0, or -1 when the text is not a network. */
int cidr_parse(const char *text, struct cidr *out);

/* Does the textual IP address fall in any network of the list?  An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is matched as IPv4. */
int cidr_list_match(const struct cidr *list, size_t n, const char *ip);

#endif
