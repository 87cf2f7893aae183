/* mime_word.c - RFC 2047 encoded-words and RFC 5322 phrases. */
#include "mime_word.h"

#include <string.h>

#define WORD_INPUT_MAX 45   /* octets per word: 60 of base64 + 12 = 72 <= 75 */

int mime_is_ascii(const char *text, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text[i];
		if (ch >= 0x7f || (ch < 0x20 && ch != '\t'))
			return 0;
	}
	return 1;
}

static size_t base64(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = digits[(v >> 18) & 63];
		out[o++] = digits[(v >> 12) & 63];
		out[o++] = i + 1 < n ? digits[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? digits[v & 63] : '=';
	}
	return o;
}

/* How many octets, at most max, end on a UTF-8 character boundary. */
static size_t char_boundary(const char *text, size_t n, size_t max)
{
	if (n <= max)
		return n;
	size_t cut = max;
	while (cut > 0 && ((unsigned char)text[cut] & 0xc0) == 0x80)
		cut--;   /* text[cut] continues a character: cut before it */
	return cut > 0 ? cut : max;
}

int mime_encode_words(const char *text, size_t n, char *out, size_t size)
{
	size_t o = 0;
	do {
		size_t take = char_boundary(text, n, WORD_INPUT_MAX);
		size_t need = (o ? 2 : 0) + 12 + 4 * ((take + 2) / 3) + 1;
		if (o + need > size)
			return -1;
		if (o) {
			out[o++] = '\n';
			out[o++] = ' ';
		}
		memcpy(out + o, "=?UTF-8?B?", 10);
		o += 10;
		o += base64((const unsigned char *)text, take, out + o);
		memcpy(out + o, "?=", 2);
		o += 2;
		text += take;
		n -= take;
	} while (n > 0);
	out[o] = '\0';
	return 0;
}

/* RFC 5322 3.2.3: specials, which an atom may not hold. */
static int has_specials(const char *text, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strchr("()<>[]:;@\\,.\"", text[i]) && text[i] != '\0')
			return 1;
	return 0;
}

int mime_phrase(const char *text, size_t n, char *out, size_t size)
{
	if (!mime_is_ascii(text, n))
		return mime_encode_words(text, n, out, size);
	int quote = has_specials(text, n);
	size_t o = 0;
	if (size < n * 2 + 3)
		return -1;
	if (quote)
		out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (quote && (text[i] == '"' || text[i] == '\\'))
			out[o++] = '\\';
		out[o++] = text[i];
	}
	if (quote)
		out[o++] = '"';
	out[o] = '\0';
	return 0;
}
