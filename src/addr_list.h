/* addr_list.h - the addr-specs of an address list (RFC 5322 3.4), as in
 * To:, Cc: and Bcc: or a sendmail command-line argument:
 *
 *   "Smith, John" <j@example.test>, (a comment) bob@example.test,
 *   team: a@x.test, b@x.test;, undisclosed-recipients:;
 *
 * gives j@example.test, bob@example.test, a@x.test and b@x.test.  Display
 * names, comments (nested), quoted strings, groups and the obsolete forms
 * (a route in <@a,@b:u@c>, spaces around "." and "@", empty list elements)
 * are understood; a ";" outside a group separates like ",", as people
 * write it.  No memory is allocated; every loop advances through the input,
 * so hostile input costs time in proportion to its length and nothing else.
 */
#ifndef MAILPIPE_ADDR_LIST_H
#define MAILPIPE_ADDR_LIST_H

#include <stddef.h>

struct addr_list {
	const char *p;    /* the next octet to read */
	const char *end;
	int in_group;     /* after "name:" and before its ";" */
};

enum addr_next {
	ADDR_END = 0,     /* no more addresses */
	ADDR_FOUND = 1,   /* an addr-spec in out (local-part, maybe "@domain") */
	ADDR_BAD = -1,    /* an element that is no address (or too long); the
	                   * list goes on after it */
};

void addr_list_init(struct addr_list *list, const char *text, size_t len);

/* The next addr-spec into out (NUL-terminated, as written, without the
 * comments and the spaces around its "." and "@"). */
enum addr_next addr_list_next(struct addr_list *list, char *out, size_t size);

#endif
