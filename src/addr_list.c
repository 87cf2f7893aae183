/* addr_list.c - addr-specs out of an RFC 5322 address list.
 *
 * One pass, one element (mailbox or group member) at a time.  The text of
 * the element is gathered into the caller's buffer as if it were an
 * addr-spec; a "<" starts over (what came before was a display name), so
 * does a ":" (a group's name, or inside "<...>" an obsolete route).  Two
 * words with only spaces or comments between them make a phrase, which is
 * a display name and never an address.
 */
#include "addr_list.h"

#include <string.h>

enum token { TOK_NONE, TOK_WORD, TOK_PUNCT };

struct item {
	char *out;
	size_t size, len;
	int too_long;     /* the addr-spec did not fit in out */
	int bad;          /* something no address may hold */
	int in_angle;     /* after "<", before ">" */
	int angle_done;   /* "<...>" is complete: only comments may follow */
	int phrase;       /* two words in a row */
	int ats;          /* "@"s in the addr-spec so far */
	enum token last;
};

void addr_list_init(struct addr_list *list, const char *text, size_t len)
{
	list->p = text;
	list->end = text + len;
	list->in_group = 0;
}

/* RFC 5322 3.2.3 atext, and any octet of UTF-8 (RFC 6532). */
static int is_atext(unsigned char c)
{
	return c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* What was gathered so far was a display name or a route: forget it. */
static void restart(struct item *it)
{
	it->len = 0;
	it->too_long = 0;
	it->phrase = 0;
	it->ats = 0;
	it->last = TOK_NONE;
}

static void put(struct item *it, const char *s, size_t n)
{
	if (n >= it->size - it->len) {
		it->too_long = 1;
		return;
	}
	memcpy(it->out + it->len, s, n);
	it->len += n;
}

static void word(struct item *it, const char *s, size_t n)
{
	if (it->angle_done)
		it->bad = 1;    /* "<a@b> c": nothing but comments after ">" */
	if (it->last == TOK_WORD)
		it->phrase = 1;
	put(it, s, n);
	it->last = TOK_WORD;
}

static void punct(struct item *it, char c)
{
	if (it->angle_done)
		it->bad = 1;
	if (c == '@')
		it->ats++;
	put(it, &c, 1);
	it->last = TOK_PUNCT;
}

/* Skips a comment, nested ones included; 0, or -1 when it never ends. */
static int comment(struct addr_list *l)
{
	size_t depth = 0;
	for (; l->p < l->end; l->p++) {
		if (*l->p == '\\' && l->p + 1 < l->end)
			l->p++;   /* a quoted pair: the next octet is just text */
		else if (*l->p == '(')
			depth++;
		else if (*l->p == ')' && --depth == 0) {
			l->p++;
			return 0;
		}
	}
	return -1;
}

/* A quoted string or a domain literal, kept as written (quotes, brackets
 * and backslashes too); bad when it never ends. */
static void quoted(struct addr_list *l, struct item *it, char close)
{
	const char *start = l->p;
	for (l->p++; l->p < l->end && *l->p != close; l->p++)
		if (*l->p == '\\' && l->p + 1 < l->end)
			l->p++;
	if (l->p == l->end) {
		it->bad = 1;
		return;
	}
	l->p++;
	word(it, start, (size_t)(l->p - start));
}

static void atom(struct addr_list *l, struct item *it)
{
	const char *start = l->p;
	while (l->p < l->end && is_atext((unsigned char)*l->p))
		l->p++;
	word(it, start, (size_t)(l->p - start));
}

static void angle(struct item *it, char c)
{
	if (c == '<') {
		it->bad |= it->in_angle || it->angle_done;
		it->in_angle = 1;
		restart(it);
	} else {
		it->bad |= !it->in_angle;
		it->in_angle = 0;
		it->angle_done = 1;
	}
}

/* "name:" starts a group; inside "<...>" a ":" ends an obsolete route. */
static void colon(struct addr_list *l, struct item *it)
{
	if (!it->in_angle) {
		it->bad |= l->in_group || it->angle_done;
		l->in_group = 1;
	}
	restart(it);
}

/* Reads one token; 1 when it ended the element. */
static int step(struct addr_list *l, struct item *it)
{
	char c = *l->p;
	switch (c) {
	case ' ': case '\t': case '\r': case '\n':
		l->p++;
		return 0;
	case '(':
		it->bad |= comment(l) < 0;
		return 0;
	case '"': case '[':
		quoted(l, it, c == '"' ? '"' : ']');
		return 0;
	case '<': case '>':
		l->p++;
		angle(it, c);
		return 0;
	case ',':
		l->p++;
		return !it->in_angle;   /* inside "<...>", a route's list */
	case ':':
		l->p++;
		colon(l, it);
		return 0;
	case ';':
		l->p++;
		it->bad |= it->in_angle;
		l->in_group = 0;
		return 1;
	case '.': case '@':
		l->p++;
		punct(it, c);
		return 0;
	default:
		if (is_atext((unsigned char)c)) {
			atom(l, it);
		} else {
			l->p++;   /* a control character, ")", "]" or "\" */
			it->bad = 1;
		}
		return 0;
	}
}

/* The verdict on an element: an address, a bad one, or nothing (an empty
 * list element, a group's name). */
static int verdict(const struct item *it)
{
	if (it->bad || it->in_angle || it->too_long || it->phrase || it->ats > 1)
		return ADDR_BAD;
	if (it->len == 0)
		return it->angle_done ? ADDR_BAD : ADDR_END;   /* "<>" is no recipient */
	char first = it->out[0], last = it->out[it->len - 1];
	if (first == '@' || first == '.' || last == '@' || last == '.')
		return ADDR_BAD;
	return ADDR_FOUND;
}

enum addr_next addr_list_next(struct addr_list *list, char *out, size_t size)
{
	if (size == 0)
		return ADDR_BAD;
	while (list->p < list->end) {
		struct item it = { .out = out, .size = size };
		while (list->p < list->end && !step(list, &it))
			;
		out[it.len] = '\0';
		int v = verdict(&it);
		if (v != ADDR_END)
			return (enum addr_next)v;
	}
	out[0] = '\0';
	return ADDR_END;
}
