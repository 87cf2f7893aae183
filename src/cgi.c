/* cgi.c - CGI requests and HTML-escaped pages. */
#include "cgi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

static int hex_value(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* %XX and '+' decoded into a new string; *len its length. */
static char *decode(const char *s, size_t n, size_t *len)
{
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '+')
			out[o++] = ' ';
		else if (s[i] == '%' && i + 2 < n &&
			 (hi = hex_value((unsigned char)s[i + 1])) >= 0 &&
			 (lo = hex_value((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else
			out[o++] = s[i];
	}
	out[o] = '\0';
	*len = o;
	return out;
}

void cgi_parse_urlencoded(const char *text, size_t len, struct cgi_params *params)
{
	const char *p = text, *end = text + len;
	while (p < end && params->n < CGI_PARAMS_MAX) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		const char *name_end = eq ? eq : stop;
		if (name_end > p) {
			struct cgi_param *q = &params->p[params->n];
			size_t nlen;
			q->name = decode(p, (size_t)(name_end - p), &nlen);
			q->value = eq ? decode(eq + 1, (size_t)(stop - eq - 1), &q->len) : decode("", 0, &q->len);
			if (q->name && q->value)
				params->n++;
			else {
				free(q->name);
				free(q->value);
			}
		}
		p = stop + 1;
	}
}

const char *cgi_param(const struct cgi_params *params, const char *name)
{
	for (size_t i = 0; i < params->n; i++)
		if (strcmp(params->p[i].name, name) == 0)
			return params->p[i].value;
	return NULL;
}

void cgi_params_free(struct cgi_params *params)
{
	for (size_t i = 0; i < params->n; i++) {
		free(params->p[i].name);
		free(params->p[i].value);
	}
	params->n = 0;
}

int cgi_spool_body(uint64_t max, FILE **out)
{
	*out = NULL;
	const char *cl = getenv("CONTENT_LENGTH");
	char *end;
	unsigned long long length = cl ? strtoull(cl, &end, 10) : 0;
	if (!cl || *end)
		length = 0;
	if (length > max)
		return 1;
	FILE *fp = tmpfile();
	if (!fp)
		return -1;
	char buf[STREAM_BUF];
	uint64_t left = length;
	while (left > 0) {
		ssize_t n = read_some(STDIN_FILENO, buf, left < sizeof buf ? (size_t)left : sizeof buf);
		if (n <= 0 || fwrite(buf, 1, (size_t)n, fp) != (size_t)n) {
			fclose(fp);
			return -1;   /* the client went away, or the disk is full */
		}
		left -= (uint64_t)n;
	}
	if (fflush(fp) == EOF || fseeko(fp, 0, SEEK_SET) < 0) {
		fclose(fp);
		return -1;
	}
	*out = fp;
	return 0;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

void cgi_headers(int status, const char *content_type, const char *extra)
{
	printf("Status: %d %s\r\n"
	       "Content-Type: %s\r\n"
	       /* no script runs on any page: nothing a message holds can act */
	       "Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; "
	       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'\r\n"
	       "X-Content-Type-Options: nosniff\r\n"
	       "X-Frame-Options: DENY\r\n"
	       "Referrer-Policy: no-referrer\r\n"
	       "Cache-Control: no-store\r\n"
	       "%s\r\n",
	       status, reason(status), content_type, extra ? extra : "");
}

void html_n(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': fputs("&amp;", stdout); break;
		case '<': fputs("&lt;", stdout); break;
		case '>': fputs("&gt;", stdout); break;
		case '"': fputs("&quot;", stdout); break;
		case '\'': fputs("&#39;", stdout); break;
		case '\0': break;
		default: putchar(s[i]);
		}
	}
}

void html(const char *s)
{
	if (s)
		html_n(s, strlen(s));
}

void url(const char *s)
{
	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		    strchr("-._~", ch))
			putchar(ch);
		else
			printf("%%%02X", ch);
	}
}

void cgi_page_start(int status, const char *title)
{
	cgi_headers(status, "text/html; charset=UTF-8", NULL);
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"UTF-8\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>",
	      stdout);
	html(title);
	fputs("</title>\n<link rel=\"stylesheet\" href=\"inbox?css\">\n</head>\n<body>\n", stdout);
}

void cgi_page_end(void)
{
	fputs("</body>\n</html>\n", stdout);
	fflush(stdout);
}

void cgi_error_page(int status, const char *title, const char *message)
{
	cgi_page_start(status, title);
	fputs("<main>\n<h1>", stdout);
	html(title);
	fputs("</h1>\n<p id=\"error\">", stdout);
	html(message);
	fputs("</p>\n<p><a href=\"inbox\">Back to the inbox</a></p>\n</main>\n", stdout);
	cgi_page_end();
}
