/* log.c - logfmt lines on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048
#define LOG_VALUE_MAX 200   /* a value is cut here: logs are for grepping */
#define LOG_CONTEXT_MAX 4

static char log_prog[32] = "mailpipe";
static struct { char key[16]; char value[LOG_VALUE_MAX]; } context[LOG_CONTEXT_MAX];
static int ncontext;
static int use_syslog;

struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	if (n > sizeof l->buf - 2 - l->len)
		n = sizeof l->buf - 2 - l->len;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static int needs_quotes(const char *v)
{
	if (!*v)
		return 1;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
			return 1;
	return 0;
}

static void put_value(struct line *l, const char *v)
{
	size_t n = strnlen(v, LOG_VALUE_MAX);
	if (!needs_quotes(v)) {
		put(l, v, n);
		return;
	}
	put(l, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		char esc[8];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			put(l, esc, 2);
		} else if (c < ' ' || c == 0x7f) {
			snprintf(esc, sizeof esc, "\\x%02x", c);
			put(l, esc, 4);
		} else {
			put(l, (const char *)&c, 1);
		}
	}
	put(l, "\"", 1);
}

static void put_field(struct line *l, const char *key, const char *value)
{
	if (l->len)
		put(l, " ", 1);
	put(l, key, strlen(key));
	put(l, "=", 1);
	put_value(l, value);
}

void log_open(const char *prog)
{
	snprintf(log_prog, sizeof log_prog, "%s", prog);
	ncontext = 0;
	const char *where = getenv("MAILPIPE_LOG");
	use_syslog = where && strcmp(where, "syslog") == 0;
	if (use_syslog)
		openlog(log_prog, LOG_PID, LOG_MAIL);
}

void log_away_from_client(int conn_fd)
{
	struct stat conn, err;
	if (fstat(conn_fd, &conn) < 0 || fstat(STDERR_FILENO, &err) < 0 ||
	    conn.st_dev != err.st_dev || conn.st_ino != err.st_ino)
		return;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDERR_FILENO);   /* dup2 clears close-on-exec on fd 2 */
		close(null);
	}
	setenv("MAILPIPE_LOG", "syslog", 1);
	use_syslog = 1;
	openlog(log_prog, LOG_PID, LOG_MAIL);
}

void log_context(const char *key, const char *value)
{
	for (int i = 0; i < ncontext; i++) {
		if (strcmp(context[i].key, key) == 0) {
			snprintf(context[i].value, sizeof context[i].value, "%s", value);
			return;
		}
	}
	if (ncontext == LOG_CONTEXT_MAX)
		return;
	snprintf(context[ncontext].key, sizeof context[ncontext].key, "%s", key);
	snprintf(context[ncontext].value, sizeof context[ncontext].value, "%s", value);
	ncontext++;
}

void log_event(const char *event, ...)
{
	struct line l = { .len = 0 };
	put_field(&l, "prog", log_prog);
	for (int i = 0; i < ncontext; i++)
		put_field(&l, context[i].key, context[i].value);
	put_field(&l, "event", event);
	va_list ap;
	va_start(ap, event);
	for (int i = 0; i < 32; i++) {
		const char *key = va_arg(ap, const char *);
		if (!key)
			break;
		const char *value = va_arg(ap, const char *);
		if (value)
			put_field(&l, key, value);
	}
	va_end(ap);
	if (use_syslog) {
		syslog(LOG_INFO, "%.*s", (int)l.len, l.buf);
		return;
	}
	l.buf[l.len++] = '\n';
	/* one write: lines from concurrent processes never interleave */
	ssize_t ignored = write(STDERR_FILENO, l.buf, l.len);
	(void)ignored;
}
