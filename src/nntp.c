/* nntp.c - connect, replies, POST and QUIT of an NNTP client. */
#include "nntp.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "net.h"

#define NNTP_ADDRS_MAX 10   /* addresses of one host tried */

static void local_reply(struct nntp_reply *reply, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void local_reply(struct nntp_reply *reply, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reply->text, sizeof reply->text, fmt, ap);
	va_end(ap);
	reply->code = 0;
}

static void show(const struct nntp *n, const char *dir, const char *line)
{
	if (n->verbose)
		fprintf(stderr, "%s: %s %s %s\n", program_invocation_short_name, n->peer, dir, line);
}

int nntp_parse_server(const char *spec, char *host, size_t size, unsigned *port)
{
	const char *end, *colon;
	for (const unsigned char *p = (const unsigned char *)spec; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return -1;
	if (spec[0] == '[') {
		end = strchr(spec, ']');
		if (!end || (end[1] != '\0' && end[1] != ':'))
			return -1;
		colon = end[1] == ':' ? end + 1 : NULL;
		spec++;
	} else {
		colon = strrchr(spec, ':');
		if (colon && strchr(spec, ':') != colon)
			return -1;   /* an IPv6 address needs its brackets */
		end = colon ? colon : spec + strlen(spec);
	}
	size_t len = (size_t)(end - spec);
	if (len == 0 || len >= size)
		return -1;
	memcpy(host, spec, len);
	host[len] = '\0';
	*port = NNTP_PORT;
	if (colon) {
		char *stop;
		errno = 0;
		unsigned long p = strtoul(colon + 1, &stop, 10);
		if (!isdigit((unsigned char)colon[1]) || *stop || errno || p < 1 || p > 65535)
			return -1;
		*port = (unsigned)p;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Refills the input buffer, waiting until the deadline.  0, or -1 with
 * the reason in reply. */
static int fill(struct nntp *n, long long deadline, struct nntp_reply *reply)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0) {
			local_reply(reply, "%s: timed out waiting for the reply", n->peer);
			return -1;
		}
		struct pollfd pfd = { .fd = n->fd, .events = POLLIN };
		int k = poll(&pfd, 1, left > 86400000 ? 86400000 : (int)left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0)
			continue;   /* the deadline check above says so */
		ssize_t r = k < 0 ? -1 : read_some(n->fd, n->in, sizeof n->in);
		if (r <= 0) {
			local_reply(reply, "%s: %s", n->peer,
				    r == 0 ? "connection closed" : "connection lost");
			return -1;
		}
		n->in_pos = 0;
		n->in_len = (size_t)r;
		return 0;
	}
}

/* Reads one reply line (within one timeout period) and parses
 * "ddd[ text]".  A line longer than NNTP_LINE_MAX is cut, not refused. */
static int read_reply(struct nntp *n, struct nntp_reply *reply)
{
	if (n->fd < 0) {
		local_reply(reply, "%s: not connected", n->peer);
		return -1;
	}
	char line[NNTP_LINE_MAX + 1];
	size_t len = 0;
	long long deadline = now_ms() + (long long)n->timeout * 1000;
	for (;;) {
		if (n->in_pos == n->in_len && fill(n, deadline, reply) < 0) {
			nntp_close(n);
			return -1;
		}
		char c = n->in[n->in_pos++];
		if (c == '\n')
			break;
		if (len < sizeof line - 1)
			line[len++] = c;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)line[i] < ' ' || line[i] == 0x7f)
			line[i] = '?';   /* it came from a stranger, and goes to a log */
	line[len] = '\0';
	show(n, "<<<", line);
	if (len < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) || (len > 3 && line[3] != ' ')) {
		local_reply(reply, "%s: not an NNTP reply: %.80s", n->peer, line);
		nntp_close(n);
		return -1;
	}
	reply->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	snprintf(reply->text, sizeof reply->text, "%s", line);
	return 0;
}

static int send_all(struct nntp *n, const char *buf, size_t len, struct nntp_reply *reply)
{
	if (n->fd < 0) {
		local_reply(reply, "%s: not connected", n->peer);
		return -1;
	}
	if (write_all(n->fd, buf, len) < 0) {
		local_reply(reply, "%s: %s", n->peer,
			    errno == EAGAIN || errno == EWOULDBLOCK ? "timed out sending" : "connection lost");
		nntp_close(n);
		return -1;
	}
	return 0;
}

int nntp_connect(struct nntp *n, const char *host, unsigned port, unsigned timeout,
		 struct nntp_reply *reply)
{
	int verbose = n->verbose;
	memset(n, 0, sizeof *n);
	n->verbose = verbose;
	n->fd = -1;
	n->timeout = timeout;
	snprintf(n->peer, sizeof n->peer, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	char service[8];
	snprintf(service, sizeof service, "%u", port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *list = NULL;
	int gai = getaddrinfo(host, service, &hints, &list);
	if (gai != 0) {
		local_reply(reply, "cannot look up %s: %s", host, gai_strerror(gai));
		return -1;
	}
	int tried = 0;
	for (struct addrinfo *a = list; a && n->fd < 0 && tried < NNTP_ADDRS_MAX; a = a->ai_next, tried++) {
		n->fd = net_connect_within(a->ai_addr, a->ai_addrlen, timeout);
		if (n->fd < 0)
			local_reply(reply, "cannot connect to %s: %s", n->peer, strerror(errno));
	}
	freeaddrinfo(list);
	if (n->fd < 0)
		return -1;
	return read_reply(n, reply);
}

int nntp_command(struct nntp *n, const char *line, struct nntp_reply *reply)
{
	char buf[NNTP_LINE_MAX + 2];
	int len = snprintf(buf, sizeof buf, "%s\r\n", line);
	if (len < 0 || (size_t)len >= sizeof buf) {
		local_reply(reply, "command too long");
		return -1;
	}
	show(n, ">>>", line);
	return send_all(n, buf, (size_t)len, reply) < 0 ? -1 : read_reply(n, reply);
}

int nntp_send_article(struct nntp *n, const char *text, size_t len, struct nntp_reply *reply)
{
	/* at worst every octet is an LF that becomes CRLF, or a dot that is doubled */
	char *wire = malloc(2 * len + 8);
	if (!wire) {
		local_reply(reply, "out of memory");
		return -1;
	}
	size_t o = 0;
	int line_start = 1;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (c == '\r' && i + 1 < len && text[i + 1] == '\n')
			continue;   /* CRLF in, CRLF out */
		if (line_start && c == '.')
			wire[o++] = '.';
		if (c == '\n')
			wire[o++] = '\r';
		wire[o++] = c;
		line_start = c == '\n';
	}
	if (!line_start) {
		wire[o++] = '\r';
		wire[o++] = '\n';
	}
	memcpy(wire + o, ".\r\n", 3);
	o += 3;
	if (n->verbose) {
		char what[64];
		snprintf(what, sizeof what, "[article, %zu octets]", o - 3);
		show(n, ">>>", what);
		show(n, ">>>", ".");
	}
	int rc = send_all(n, wire, o, reply);
	free(wire);
	return rc < 0 ? -1 : read_reply(n, reply);
}

void nntp_close(struct nntp *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
}

void nntp_quit(struct nntp *n)
{
	if (n->fd >= 0) {
		struct nntp_reply reply = { 0, "" };
		nntp_command(n, "QUIT", &reply);
	}
	nntp_close(n);
}
