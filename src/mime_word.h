/* mime_word.h - text that is not plain ASCII in a header field: RFC 2047
 * encoded-words, and display names quoted as RFC 5322 3.2.4 wants. */
#ifndef MAILPIPE_MIME_WORD_H
#define MAILPIPE_MIME_WORD_H

#include <stddef.h>

/* 1 when the n octets are all printable ASCII or tabs and spaces. */
int mime_is_ascii(const char *text, size_t n);

/* text (UTF-8) as "=?UTF-8?B?...?=" words of at most 75 octets, split on
 * character boundaries and joined by a fold ("\n ").  0, or -1 when out
 * is too small. */
int mime_encode_words(const char *text, size_t n, char *out, size_t size);

/* A display name for From:, To: ...: as it is when it is only atoms and
 * spaces, a quoted string when it has specials such as "," or ".",
 * encoded-words when it is not ASCII.  0, or -1 when out is too small. */
int mime_phrase(const char *text, size_t n, char *out, size_t size);

#endif
