/* cidr.c - parse and match CIDR networks. */
#include "cidr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* Parses a bare address into family/bytes; 0 or -1. */
static int parse_address(const char *text, int *family, unsigned char *bytes)
{
	if (inet_pton(AF_INET, text, bytes) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, bytes) == 1) {
		static const unsigned char mapped[12] = {0,0,0,0,0,0,0,0,0,0,0xff,0xff};
		if (memcmp(bytes, mapped, 12) == 0) {
			memmove(bytes, bytes + 12, 4);
			*family = AF_INET;
		} else {
			*family = AF_INET6;
		}
		return 0;
	}
	return -1;
}

static void clear_host_bits(unsigned char *bytes, unsigned len, unsigned prefix)
{
	for (unsigned bit = prefix; bit < len * 8; bit++)
		bytes[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
}

int cidr_parse(const char *text, struct cidr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	if (strlen(text) >= sizeof buf)
		return -1;
	strcpy(buf, text);
	char *slash = strchr(buf, '/');
	long prefix = -1;
	if (slash) {
		*slash = '\0';
		char *end;
		errno = 0;
		prefix = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || prefix < 0)
			return -1;
	}
	memset(out, 0, sizeof *out);
	if (parse_address(buf, &out->family, out->addr) < 0)
		return -1;
	unsigned len = out->family == AF_INET ? 4 : 16;
	if (prefix < 0)
		prefix = (long)len * 8;
	if (prefix > (long)len * 8)
		return -1;
	out->prefix = (unsigned)prefix;
	clear_host_bits(out->addr, len, out->prefix);
	return 0;
}

int cidr_list_match(const struct cidr *list, size_t n, const char *ip)
{
	int family;
	unsigned char bytes[16];
	if (parse_address(ip, &family, bytes) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (list[i].family != family)
			continue;
		unsigned char masked[16];
		memcpy(masked, bytes, sizeof masked);
		clear_host_bits(masked, family == AF_INET ? 4 : 16, list[i].prefix);
		if (memcmp(masked, list[i].addr, family == AF_INET ? 4 : 16) == 0)
			return 1;
	}
	return 0;
}
