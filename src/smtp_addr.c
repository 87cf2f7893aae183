/* smtp_addr.c - RFC 5321 path syntax.
 *
 * Path = "<" [ A-d-l ":" ] Mailbox ">"; Mailbox = Local-part "@" ( Domain /
 * address-literal ); Local-part = Dot-string / Quoted-string.  With SMTPUTF8
 * (RFC 6531) UTF-8 is allowed in atoms and labels; we accept it here and
 * the session decides whether the transaction allows it.
 */
#include "smtp_addr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

static int is_atext(unsigned char c)
{
	return isalnum(c) || c >= 0x80 || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Length of a Dot-string at s (0 if none). */
static size_t scan_dot_string(const char *s)
{
	size_t i = 0;
	for (;;) {
		size_t atom = i;
		while (is_atext((unsigned char)s[i]))
			i++;
		if (i == atom)
			return 0;
		if (s[i] != '.')
			return i;
		i++;
	}
}

/* Length of a Quoted-string at s, quotes included (0 if malformed). */
static size_t scan_quoted_string(const char *s)
{
	if (s[0] != '"')
		return 0;
	for (size_t i = 1; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"')
			return i + 1;
		if (c == '\\') {
			if (s[i + 1] < 32 || s[i + 1] == 127)
				return 0;
			i++;
		} else if (c < 32 || c == 127) {
			return 0;
		}
	}
	return 0;
}

/* Length of a Domain at s (sub-domains of letters, digits, hyphens). */
static size_t scan_domain(const char *s)
{
	size_t i = 0;
	for (;;) {
		size_t label = i;
		while (isalnum((unsigned char)s[i]) || s[i] == '-' || (unsigned char)s[i] >= 0x80)
			i++;
		if (i == label || s[label] == '-' || s[i - 1] == '-' || i - label > 63)
			return 0;
		if (s[i] != '.')
			return i;
		i++;
	}
}

/* Length of an address literal "[...]" (IPv4, IPv6: or General). */
static size_t scan_address_literal(const char *s)
{
	if (s[0] != '[')
		return 0;
	const char *end = strchr(s, ']');
	if (!end || end - s > 64)
		return 0;
	char text[72];
	size_t n = (size_t)(end - s - 1);
	memcpy(text, s + 1, n);
	text[n] = '\0';
	unsigned char bytes[16];
	if (inet_pton(AF_INET, text, bytes) == 1)
		return n + 2;
	if (strncasecmp(text, "IPv6:", 5) == 0 && inet_pton(AF_INET6, text + 5, bytes) == 1)
		return n + 2;
	return 0;
}

/* Skips an at-domain-list "@a,@b:" (source route, ignored per RFC 5321 C). */
static const char *skip_source_route(const char *s)
{
	const char *p = s;
	while (*p == '@') {
		size_t d = scan_domain(p + 1);
		if (!d)
			return NULL;
		p += 1 + d;
		if (*p == ',')
			p++;
		else if (*p == ':')
			return p + 1;
		else
			return NULL;
	}
	return s;
}

/* Parses Mailbox at s up to '>'; fills path; returns PATH_* */
static enum path_error parse_mailbox(const char *s, const char *close, struct smtp_path *path)
{
	size_t local = s[0] == '"' ? scan_quoted_string(s) : scan_dot_string(s);
	if (!local || s[local] != '@')
		return PATH_BAD_ADDRESS;
	const char *dom = s + local + 1;
	size_t dlen = dom[0] == '[' ? scan_address_literal(dom) : scan_domain(dom);
	if (!dlen || dom + dlen != close)
		return PATH_BAD_ADDRESS;
	if (local > SMTP_LOCAL_MAX || dlen > SMTP_DOMAIN_MAX)
		return PATH_TOO_LONG;
	size_t total = (size_t)(close - s);
	if (total > SMTP_PATH_MAX - 2)
		return PATH_TOO_LONG;
	memcpy(path->address, s, total);
	path->address[total] = '\0';
	path->at = local;
	for (size_t i = 0; i < total; i++)
		if ((unsigned char)s[i] >= 0x80)
			path->has_utf8 = 1;
	if (path->has_utf8 && !utf8_valid((const unsigned char *)s, total))
		return PATH_BAD_ADDRESS;
	return PATH_OK;
}

enum path_error smtp_parse_path(const char *arg, int allow_null, struct smtp_path *path,
				const char **params)
{
	memset(path, 0, sizeof *path);
	while (*arg == ' ')
		arg++;
	if (*arg != '<') {
		/* tolerated like Postfix: an address without brackets, no spaces */
		size_t n = strcspn(arg, " ");
		if (n == 0 || n > SMTP_PATH_MAX)
			return n ? PATH_TOO_LONG : PATH_SYNTAX;
		char bracketed[SMTP_PATH_MAX + 3];
		bracketed[0] = '<';
		memcpy(bracketed + 1, arg, n);
		bracketed[n + 1] = '>';
		bracketed[n + 2] = '\0';
		const char *rest;
		enum path_error e = smtp_parse_path(bracketed, allow_null, path, &rest);
		*params = arg + n;
		return e;
	}
	const char *close = strchr(arg, '>');
	if (!close)
		return PATH_SYNTAX;
	*params = close + 1;
	if (**params && **params != ' ')
		return PATH_SYNTAX;
	if (close == arg + 1) {
		if (!allow_null)
			return PATH_NULL_RCPT;
		path->is_null = 1;
		return PATH_OK;
	}
	const char *mailbox = skip_source_route(arg + 1);
	if (!mailbox)
		return PATH_BAD_ADDRESS;
	return parse_mailbox(mailbox, close, path);
}

int smtp_next_param(const char **params, char *key, size_t key_size, char *value,
		    size_t value_size)
{
	const char *p = *params;
	while (*p == ' ')
		p++;
	if (!*p) {
		*params = p;
		return 0;
	}
	size_t klen = 0;
	while (isalnum((unsigned char)p[klen]) || p[klen] == '-')
		klen++;
	if (klen == 0 || klen >= key_size)
		return -1;
	memcpy(key, p, klen);
	key[klen] = '\0';
	p += klen;
	value[0] = '\0';
	if (*p == '=') {
		p++;
		size_t vlen = 0;
		while (p[vlen] > ' ' && p[vlen] != '=' && (unsigned char)p[vlen] < 127)
			vlen++;
		if (vlen == 0 || vlen >= value_size)
			return -1;
		memcpy(value, p, vlen);
		value[vlen] = '\0';
		p += vlen;
	}
	if (*p && *p != ' ')
		return -1;
	*params = p;
	return 1;
}

int utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		unsigned char c = s[i];
		size_t extra;
		unsigned min;
		if (c < 0x80) { i++; continue; }
		else if (c >= 0xc2 && c <= 0xdf) { extra = 1; min = 0x80; }
		else if (c >= 0xe0 && c <= 0xef) { extra = 2; min = 0x800; }
		else if (c >= 0xf0 && c <= 0xf4) { extra = 3; min = 0x10000; }
		else return 0;
		unsigned cp = c & (0x3f >> extra);
		for (size_t k = 1; k <= extra; k++) {
			if (i + k >= n || (s[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += extra + 1;
	}
	return 1;
}
