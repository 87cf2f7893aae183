/* smtp_client.c - connect, replies, EHLO, STARTTLS, AUTH, QUIT. */
#include "smtp_client.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net.h"

#define CLIENT_LINE_MAX 1024      /* longer reply lines are cut, not refused */
#define CLIENT_ADDRS_MAX 10       /* addresses of one host tried */

void reply_local(struct smtp_reply *reply, int code, const char *status, const char *fmt, ...)
{
	char why[SMTP_REPLY_TEXT_MAX - 16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	reply->code = code;
	reply->local = 1;
	snprintf(reply->text, sizeof reply->text, "%d %s %s", code, status, why);
}

int reply_class(const struct smtp_reply *reply)
{
	return reply->code / 100;
}

void reply_status(const struct smtp_reply *reply, char *buf, size_t size)
{
	const char *t = reply->text;
	if (strlen(t) > 4) {
		t += 4;
		size_t n = strspn(t, "0123456789.");
		/* class.subject.detail, the class matching the reply's */
		if (n >= 5 && n < size && t[0] - '0' == reply_class(reply) && t[1] == '.' &&
		    (t[n] == ' ' || t[n] == '\0')) {
			memcpy(buf, t, n);
			buf[n] = '\0';
			return;
		}
	}
	snprintf(buf, size, "%d.0.0", reply_class(reply) == 2 ? 2 : reply_class(reply) == 5 ? 5 : 4);
}

static void show(const struct smtp_client *c, const char *dir, const char *line)
{
	if (c->verbose)
		fprintf(stderr, "%s: %s %s %s\n", program_invocation_short_name, c->peer, dir, line);
}

void client_command(struct smtp_client *c, const char *line, int secret)
{
	if (secret) {
		char shown[64];
		const char *space = strchr(line, ' ');
		size_t keep = space ? (size_t)(space - line) : strlen(line);
		if (strncasecmp(line, "AUTH ", 5) == 0 && (space = strchr(line + 5, ' ')) != NULL)
			keep = (size_t)(space - line);   /* "AUTH PLAIN" stays readable */
		snprintf(shown, sizeof shown, "%.*s ********", (int)(keep < 40 ? keep : 40), line);
		show(c, ">>>", keep == strlen(line) ? "********" : shown);
	} else {
		show(c, ">>>", line);
	}
	io_write(&c->io, line, strlen(line));
	io_write(&c->io, "\r\n", 2);
}

/* "250-PIPELINING" and the like, from EHLO/LHLO's reply. */
static void parse_capability(struct smtp_client *c, const char *text)
{
	static const struct { const char *name; unsigned cap; } caps[] = {
		{ "PIPELINING", CAP_PIPELINING }, { "8BITMIME", CAP_8BITMIME },
		{ "SMTPUTF8", CAP_SMTPUTF8 }, { "CHUNKING", CAP_CHUNKING },
		{ "STARTTLS", CAP_STARTTLS }, { "ENHANCEDSTATUSCODES", CAP_ENHANCED },
	};
	size_t len = strcspn(text, " =");
	for (size_t i = 0; i < sizeof caps / sizeof *caps; i++)
		if (strlen(caps[i].name) == len && strncasecmp(text, caps[i].name, len) == 0)
			c->caps |= caps[i].cap;
	if (len == 4 && strncasecmp(text, "SIZE", 4) == 0) {
		c->caps |= CAP_SIZE;
		c->size_max = strtoull(text + len + (text[len] != '\0'), NULL, 10);
	} else if (len == 4 && strncasecmp(text, "AUTH", 4) == 0) {
		char mechs[CLIENT_LINE_MAX];
		snprintf(mechs, sizeof mechs, " %s ", text + len);
		for (char *p = mechs; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		if (strstr(mechs, " PLAIN "))
			c->caps |= CAP_AUTH_PLAIN;
		if (strstr(mechs, " LOGIN "))
			c->caps |= CAP_AUTH_LOGIN;
	}
}

/* Is line "ddd", "ddd text" or "ddd-text" with the same code as the
 * reply's first line?  *last is set on the final line. */
static int reply_line_ok(const char *line, int first_code, int *code, int *last)
{
	if (!isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) || line[0] < '2' || line[0] > '5')
		return 0;
	if (line[3] != '\0' && line[3] != ' ' && line[3] != '-')
		return 0;
	*code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	*last = line[3] != '-';
	return first_code == 0 || *code == first_code;
}

/* Adds a line's text to the reply's, cut at the end of the buffer. */
static void append_text(struct smtp_reply *reply, const char *line)
{
	size_t len = strlen(reply->text);
	const char *parts[2] = { len ? " " : line, line[3] ? line + 4 : "" };
	size_t lens[2] = { len ? 1 : 3 + (line[3] != '\0'), strlen(parts[1]) };
	for (int i = 0; i < 2; i++) {
		size_t room = sizeof reply->text - 1 - len;
		size_t n = lens[i] < room ? lens[i] : room;
		memcpy(reply->text + len, parts[i], n);
		len += n;
	}
	reply->text[len] = '\0';
}

static int reply_failed(struct smtp_client *c, struct smtp_reply *reply, int rc)
{
	reply_local(reply, 451, "4.4.2", "%s: %s", c->peer,
		    rc == IO_TIMEOUT ? "timed out waiting for the reply"
		    : rc == IO_EOF	 ? "connection closed"
		    : rc == 1	 ? "reply garbled or too long"
				 : "connection lost");
	return -1;
}

static int read_reply(struct smtp_client *c, struct smtp_reply *reply, int capabilities)
{
	char line[CLIENT_LINE_MAX];
	reply->code = 0;
	reply->local = 0;
	reply->text[0] = '\0';
	for (int n = 0; n < SMTP_REPLY_LINES_MAX; n++) {
		size_t len;
		int too_long, code = 0, last = 0;
		int rc = io_read_line(&c->io, line, sizeof line, &len, &too_long);
		if (rc != IO_OK)
			return reply_failed(c, reply, rc);
		if (memchr(line, '\0', len) || !reply_line_ok(line, reply->code, &code, &last))
			return reply_failed(c, reply, 1);
		show(c, "<<<", line);
		reply->code = code;
		if (capabilities && n > 0 && line[3])
			parse_capability(c, line + 4);
		if (!capabilities || n == 0)
			append_text(reply, line);
		if (last)
			return 0;
	}
	return reply_failed(c, reply, 1);
}

int client_read_reply(struct smtp_client *c, struct smtp_reply *reply)
{
	return read_reply(c, reply, 0);
}

static int connect_unix(const char *path, unsigned timeout)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	return net_connect_within((struct sockaddr *)&sun, sizeof sun, timeout);
}

static int connect_tcp(const char *host, unsigned port, unsigned timeout,
		       struct smtp_reply *reply)
{
	char service[8];
	snprintf(service, sizeof service, "%u", port);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *list = NULL;
	int gai = getaddrinfo(host, service, &hints, &list);
	if (gai == EAI_NONAME || gai == EAI_NODATA) {
		reply_local(reply, 550, "5.1.2", "host %s not found", host);
		return -1;
	}
	if (gai != 0) {
		reply_local(reply, 451, "4.4.3", "cannot look up %s: %s", host, gai_strerror(gai));
		return -1;
	}
	int fd = -1, tried = 0;
	for (struct addrinfo *a = list; a && fd < 0 && tried < CLIENT_ADDRS_MAX; a = a->ai_next, tried++) {
		fd = net_connect_within(a->ai_addr, a->ai_addrlen, timeout);
		if (fd < 0)
			reply_local(reply, 451, "4.4.1", "cannot connect to %s port %u: %s", host, port,
				    strerror(errno));
	}
	freeaddrinfo(list);
	return fd;
}

int client_connect(struct smtp_client *c, const char *host, unsigned port, int unix_socket,
		   int lmtp, unsigned timeout, struct smtp_reply *reply)
{
	int verbose = c->verbose;
	memset(c, 0, sizeof *c);
	c->verbose = verbose;
	c->lmtp = lmtp;
	c->fd = -1;
	snprintf(c->host, sizeof c->host, "%s", host);
	if (unix_socket)
		snprintf(c->peer, sizeof c->peer, "%s", host);
	else
		snprintf(c->peer, sizeof c->peer, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
	if (unix_socket) {
		c->fd = connect_unix(host, timeout);
		if (c->fd < 0)
			reply_local(reply, 451, "4.4.1", "cannot connect to %s: %s", host, strerror(errno));
	} else {
		c->fd = connect_tcp(host, port, timeout, reply);
	}
	if (c->fd < 0)
		return -1;
	io_init(&c->io, c->fd, c->fd, timeout);
	return 0;
}

static int ehlo(struct smtp_client *c, const char *helo_name, struct smtp_reply *reply)
{
	char line[300];
	c->caps = 0;
	c->size_max = 0;
	snprintf(line, sizeof line, "%s %s", c->lmtp ? "LHLO" : "EHLO", helo_name);
	client_command(c, line, 0);
	if (read_reply(c, reply, 1) < 0)
		return -1;
	if (reply_class(reply) == 2 || c->lmtp || reply_class(reply) != 5)
		return reply_class(reply) == 2 ? 0 : -1;
	/* RFC 5321 3.2: a server that does not know EHLO gets HELO */
	snprintf(line, sizeof line, "HELO %s", helo_name);
	client_command(c, line, 0);
	if (read_reply(c, reply, 0) < 0)
		return -1;
	return reply_class(reply) == 2 ? 0 : -1;
}

int client_greet(struct smtp_client *c, const char *helo_name, struct smtp_reply *reply)
{
	if (read_reply(c, reply, 0) < 0)
		return -1;
	if (reply_class(reply) != 2)
		return -1;
	return ehlo(c, helo_name, reply);
}

int client_tls(struct smtp_client *c, void *ssl_ctx, struct smtp_reply *reply)
{
	char err[256];
	int rc = io_start_tls_client(&c->io, ssl_ctx, c->host, err, sizeof err);
	if (rc < 0) {
		/* 4.4.2 (bad connection) may pass; 4.7.5 (TLS) is the peer's to fix */
		reply_local(reply, 451, rc == -2 ? "4.4.2" : "4.7.5", "TLS with %s failed: %s", c->peer,
			    err);
		c->tls_failed = 1;
		return -1;
	}
	c->tls = 1;
	show(c, "===", "TLS started");
	return 0;
}

int client_starttls(struct smtp_client *c, void *ssl_ctx, const char *helo_name,
		    struct smtp_reply *reply)
{
	client_command(c, "STARTTLS", 0);
	if (read_reply(c, reply, 0) < 0)
		return -1;
	if (reply_class(reply) != 2)
		return -1;
	if (io_buffered(&c->io) > 0) {   /* RFC 3207 5: nothing may come before TLS */
		reply_local(reply, 451, "4.7.0", "%s sent data after 220 to STARTTLS", c->peer);
		return -1;
	}
	if (client_tls(c, ssl_ctx, reply) < 0)
		return -1;
	return ehlo(c, helo_name, reply);
}

static void base64(const unsigned char *in, size_t n, char *out, size_t size)
{
	if (size < 4 * ((n + 2) / 3) + 1) {
		out[0] = '\0';
		return;
	}
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* AUTH LOGIN: the name and the password each answer a 334. */
static int auth_login(struct smtp_client *c, const char *user, const char *password,
		      struct smtp_reply *reply)
{
	char line[1024];
	client_command(c, "AUTH LOGIN", 0);
	const char *answers[] = { user, password };
	for (int i = 0; i < 2; i++) {
		if (read_reply(c, reply, 0) < 0 || reply->code != 334)
			return -1;
		base64((const unsigned char *)answers[i], strlen(answers[i]), line, sizeof line);
		client_command(c, line, 1);
	}
	explicit_bzero(line, sizeof line);
	return read_reply(c, reply, 0) < 0 || reply_class(reply) != 2 ? -1 : 0;
}

int client_auth(struct smtp_client *c, const char *user, const char *password,
		struct smtp_reply *reply)
{
	if (!c->tls) {
		reply_local(reply, 451, "4.7.10", "not sending a password to %s without TLS", c->peer);
		return -1;
	}
	if (!(c->caps & CAP_AUTH_PLAIN)) {
		if (c->caps & CAP_AUTH_LOGIN)
			return auth_login(c, user, password, reply);
		reply_local(reply, 451, "4.7.12", "%s offers no AUTH PLAIN or LOGIN", c->peer);
		return -1;
	}
	unsigned char plain[600];
	size_t ulen = strlen(user), plen = strlen(password);
	if (ulen + plen + 2 > sizeof plain) {
		reply_local(reply, 451, "4.7.12", "user name or password too long");
		return -1;
	}
	plain[0] = '\0';   /* no authorisation identity: act as the user */
	memcpy(plain + 1, user, ulen + 1);
	memcpy(plain + 2 + ulen, password, plen);
	char line[16 + 4 * sizeof plain / 3 + 4];
	memcpy(line, "AUTH PLAIN ", 11);
	base64(plain, ulen + plen + 2, line + 11, sizeof line - 11);
	client_command(c, line, 1);
	explicit_bzero(plain, sizeof plain);
	explicit_bzero(line, sizeof line);
	if (read_reply(c, reply, 0) < 0 || reply_class(reply) != 2)
		return -1;
	c->auth = 1;
	return 0;
}

void client_close(struct smtp_client *c)
{
	if (c->fd < 0)
		return;
	io_end_tls(&c->io);
	close(c->fd);
	c->fd = -1;
}

void client_quit(struct smtp_client *c)
{
	if (c->fd < 0)
		return;
	struct smtp_reply reply;
	client_command(c, "QUIT", 0);
	read_reply(c, &reply, 0);   /* its answer changes nothing */
	client_close(c);
}

int reply_exit_code(const struct smtp_reply *r)
{
	char status[16];
	reply_status(r, status, sizeof status);
	switch (reply_class(r)) {
	case 2: return 0;
	case 5: break;
	default: return EX_TEMPFAIL;
	}
	if (r->local && strcmp(status, "5.1.2") == 0)
		return EX_NOHOST;
	if (strncmp(status, "5.1.", 4) == 0)
		return EX_NOUSER;
	if (r->code == 535 || strcmp(status, "5.7.8") == 0)
		return EX_NOPERM;
	return EX_UNAVAILABLE;
}
