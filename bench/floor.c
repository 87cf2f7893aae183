/* floor.c - the cheapest SMTP server the one-process-per-connection model
 * allows: a benchmark target, not a mail server.
 *
 * Started like smtp-recv (systemd-socket-activate --accept --inetd, SMTP on
 * stdin/stdout), it speaks a correct SMTP dialogue (greeting, EHLO/HELO
 * with PIPELINING and CHUNKING, MAIL, RCPT, DATA up to CRLF.CRLF, BDAT,
 * RSET, NOOP, QUIT) and answers 250 for every message without storing a
 * single octet.  bench/run measures mailpipe against it: the difference is
 * what storing, indexing and fsyncing costs on top of accept+fork+exec.
 *
 * Build: cc -std=c11 -Wall -Wextra -Werror -O2 -o floor floor.c
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TIMEOUT_MS (300 * 1000)   /* idle limit, as an MTA would have */
#define LINE_MAX_LEN 1000         /* longer command lines get 500 */
#define HOST "floor.bench.test"

static char in[65536];
static size_t in_pos, in_len;
static char out[4096];
static size_t out_len;

/* ---- output: collected, written before blocking for input (pipelining) */

static int out_flush(void)
{
	size_t done = 0;
	while (done < out_len) {
		ssize_t w = write(STDOUT_FILENO, out + done, out_len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		done += (size_t)w;
	}
	out_len = 0;
	return 0;
}

static void out_put(const char *s)
{
	size_t n = strlen(s);
	if (out_len + n > sizeof out && out_flush() < 0)
		exit(0);   /* the client is gone */
	memcpy(out + out_len, s, n);
	out_len += n;
}

/* ---- input ------------------------------------------------------------ */

/* Makes sure some input is buffered; 0 at EOF, error or timeout. */
static int fill(void)
{
	if (in_pos < in_len)
		return 1;
	if (out_flush() < 0)
		return 0;
	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		int n = poll(&pfd, 1, TIMEOUT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		ssize_t r = read(STDIN_FILENO, in, sizeof in);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return 0;
		in_pos = 0;
		in_len = (size_t)r;
		return 1;
	}
}

/* Reads one line without its CRLF (or LF) into line; its length, -1 at
 * EOF.  *too_long is set when the line did not fit (the rest is skipped). */
static long read_line(char *line, size_t size, int *too_long)
{
	size_t len = 0;
	*too_long = 0;
	for (;;) {
		if (!fill())
			return -1;
		char *start = in + in_pos;
		size_t avail = in_len - in_pos;
		char *lf = memchr(start, '\n', avail);
		size_t take = lf ? (size_t)(lf - start) : avail;
		if (len + take < size) {
			memcpy(line + len, start, take);
			len += take;
		} else {
			*too_long = 1;
		}
		in_pos += take + (lf ? 1 : 0);
		if (lf)
			break;
	}
	if (len && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	return (long)len;
}

/* ---- the message text ------------------------------------------------- */

enum { BOL, DOT, DOT_CR, TEXT, CR };

/* Skips DATA text up to and including CRLF.CRLF; 0, or -1 at EOF. */
static int skip_data(void)
{
	int state = BOL;
	for (;;) {
		if (!fill())
			return -1;
		const char *p = in + in_pos, *end = in + in_len;
		while (p < end) {
			if (state == TEXT) {   /* the bulk: jump to the next CR */
				const char *cr = memchr(p, '\r', (size_t)(end - p));
				if (!cr) {
					p = end;
					break;
				}
				p = cr + 1;
				state = CR;
				continue;
			}
			char c = *p++;
			switch (state) {
			case BOL:
				state = c == '.' ? DOT : c == '\r' ? CR : TEXT;
				break;
			case DOT:
				state = c == '\r' ? DOT_CR : TEXT;
				break;
			case DOT_CR:
				if (c == '\n') {
					in_pos = (size_t)(p - in);
					return 0;
				}
				state = c == '\r' ? CR : TEXT;
				break;
			case CR:
				state = c == '\n' ? BOL : c == '\r' ? CR : TEXT;
				break;
			}
		}
		in_pos = in_len;
	}
}

/* Skips n octets of a BDAT chunk; 0, or -1 at EOF. */
static int skip_octets(unsigned long long n)
{
	while (n > 0) {
		if (!fill())
			return -1;
		size_t avail = in_len - in_pos;
		size_t take = n < avail ? (size_t)n : avail;
		in_pos += take;
		n -= take;
	}
	return 0;
}

/* ---- commands --------------------------------------------------------- */

/* Is the line the verb (any case), alone or followed by a space? */
static int is_verb(const char *line, const char *verb)
{
	size_t i = 0;
	for (; verb[i]; i++) {
		char c = line[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != verb[i])
			return 0;
	}
	return line[i] == '\0' || line[i] == ' ';
}

/* Does the argument start with the keyword (any case)? */
static int has_prefix(const char *arg, const char *keyword)
{
	for (size_t i = 0; keyword[i]; i++) {
		char c = arg[i];
		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != keyword[i])
			return 0;
	}
	return 1;
}

/* "BDAT size [LAST]": 0 with *size and *last, else -1. */
static int parse_bdat(const char *arg, unsigned long long *size, int *last)
{
	if (*arg < '0' || *arg > '9')
		return -1;
	char *end;
	errno = 0;
	*size = strtoull(arg, &end, 10);
	if (errno)
		return -1;
	while (*end == ' ')
		end++;
	*last = 0;
	if (*end == '\0')
		return 0;
	if (!has_prefix(end, "LAST") || end[4] != '\0')
		return -1;
	*last = 1;
	return 0;
}

int main(void)
{
	static char line[LINE_MAX_LEN + 1];
	int greeted = 0, mail = 0, rcpts = 0, bdat = 0;
	out_put("220 " HOST " ESMTP floor\r\n");
	for (;;) {
		int too_long;
		long len = read_line(line, sizeof line, &too_long);
		if (len < 0)
			break;
		if (too_long) {
			out_put("500 5.5.6 Error: line too long\r\n");
			continue;
		}
		const char *arg = line + (len > 4 ? 5 : len);
		if (is_verb(line, "EHLO") || is_verb(line, "HELO")) {
			if (!*arg) {
				out_put("501 5.5.4 Syntax: EHLO hostname\r\n");
				continue;
			}
			greeted = 1;
			mail = rcpts = bdat = 0;
			out_put(line[0] == 'E' || line[0] == 'e'
				? "250-" HOST "\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
				  "250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n"
				: "250 " HOST "\r\n");
		} else if (is_verb(line, "MAIL")) {
			if (!greeted)
				out_put("503 5.5.1 Error: send HELO/EHLO first\r\n");
			else if (mail)
				out_put("503 5.5.1 Error: nested MAIL command\r\n");
			else if (!has_prefix(arg, "FROM:"))
				out_put("501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
			else {
				mail = 1;
				out_put("250 2.1.0 Ok\r\n");
			}
		} else if (is_verb(line, "RCPT")) {
			if (!mail)
				out_put("503 5.5.1 Error: need MAIL command\r\n");
			else if (!has_prefix(arg, "TO:"))
				out_put("501 5.5.4 Syntax: RCPT TO:<address>\r\n");
			else {
				rcpts++;
				out_put("250 2.1.5 Ok\r\n");
			}
		} else if (is_verb(line, "DATA")) {
			if (*arg)
				out_put("501 5.5.4 Syntax: DATA\r\n");
			else if (!mail || !rcpts || bdat)
				out_put("503 5.5.1 Error: need RCPT command\r\n");
			else {
				out_put("354 End data with <CR><LF>.<CR><LF>\r\n");
				if (skip_data() < 0)
					break;
				mail = rcpts = 0;
				out_put("250 2.0.0 Ok: discarded\r\n");
			}
		} else if (is_verb(line, "BDAT")) {
			unsigned long long size;
			int last;
			if (parse_bdat(arg, &size, &last) < 0) {
				out_put("501 5.5.4 Syntax: BDAT size [LAST]\r\n");
				continue;
			}
			if (skip_octets(size) < 0)   /* read even when refused */
				break;
			if (!mail || !rcpts) {
				out_put("503 5.5.1 Error: need RCPT command\r\n");
			} else if (last) {
				mail = rcpts = bdat = 0;
				out_put("250 2.0.0 Ok: discarded\r\n");
			} else {
				bdat = 1;
				out_put("250 2.0.0 Ok: chunk received\r\n");
			}
		} else if (is_verb(line, "RSET")) {
			mail = rcpts = bdat = 0;
			out_put("250 2.0.0 Ok\r\n");
		} else if (is_verb(line, "NOOP")) {
			out_put("250 2.0.0 Ok\r\n");
		} else if (is_verb(line, "QUIT")) {
			out_put("221 2.0.0 Bye\r\n");
			break;
		} else {
			out_put("500 5.5.2 Error: command not recognized\r\n");
		}
	}
	out_flush();
	return 0;
}
