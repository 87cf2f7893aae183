/* cgi.h - CGI/1.1 (RFC 3875) for the webmail: the signed-in user, the
 * query string, a posted form (urlencoded in memory, multipart/form-data
 * spooled to a file and left to GMime), and pages whose every value is
 * HTML-escaped, sent with headers that forbid scripts and framing.
 */
#ifndef MAILPIPE_CGI_H
#define MAILPIPE_CGI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CGI_PARAMS_MAX 64
#define CGI_FORM_MAX (2 * 1024 * 1024)   /* an urlencoded form, in memory */

struct cgi_param {
	char *name, *value;   /* decoded, NUL-terminated (value may hold more NULs: len) */
	size_t len;
};

struct cgi_params {
	struct cgi_param p[CGI_PARAMS_MAX];
	size_t n;
};

/* Parses "a=1&b=%20x" (application/x-www-form-urlencoded) into params;
 * the text is copied.  Extra pairs beyond CGI_PARAMS_MAX are ignored. */
void cgi_parse_urlencoded(const char *text, size_t len, struct cgi_params *params);
/* The value of name, or NULL. */
const char *cgi_param(const struct cgi_params *params, const char *name);
void cgi_params_free(struct cgi_params *params);

/* The request body (CONTENT_LENGTH octets of stdin) into an unlinked
 * temporary file.  0; -1 on an I/O error; 1 when it is over max (nothing
 * read beyond what tells so). */
int cgi_spool_body(uint64_t max, FILE **out);

/* Starts the response: Status, Content-Type and the security headers
 * (no script, no framing, no sniffing, no caching), then extra lines
 * ("Name: value\r\n" each, or NULL), then the empty line. */
void cgi_headers(int status, const char *content_type, const char *extra);

/* Writes s with & < > " ' escaped. */
void html(const char *s);
void html_n(const char *s, size_t n);
/* Writes s percent-encoded for a URL query value. */
void url(const char *s);

/* The page frame: headers, <head> with the title and the stylesheet,
 * then the caller's body, then cgi_page_end. */
void cgi_page_start(int status, const char *title);
void cgi_page_end(void);
/* A whole page that says what went wrong (id="error"). */
void cgi_error_page(int status, const char *title, const char *message);

#endif
