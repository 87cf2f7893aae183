/* dsn.c - RFC 3464 reports. */
#include "dsn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"

#define DSN_HEADER_MAX (64 * 1024)   /* of the original header, returned */

static void rfc5322_date(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* Diagnostic text comes from a stranger's server: printable ASCII only. */
static void ascii_copy(const char *in, char *out, size_t size)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 1 < size; p++)
		out[o++] = *p >= ' ' && *p < 0x7f ? (char)*p : '?';
	out[o] = '\0';
}

static void write_headers(FILE *f, const struct dsn *d, const char *boundary)
{
	char date[64];
	rfc5322_date(time(NULL), date, sizeof date);
	fprintf(f, "From: Mail Delivery System <MAILER-DAEMON@%s>\n", d->hostname);
	fprintf(f, "To: <%s>\n", d->sender);
	fprintf(f, "Subject: %s\n", d->delayed ? "Delayed Mail (still being retried)"
					       : "Undelivered Mail Returned to Sender");
	fprintf(f, "Date: %s\n", date);
	fprintf(f, "Message-ID: <dsn.%lld.%lld.%ld@%s>\n", (long long)d->id, (long long)time(NULL),
		(long)getpid(), d->hostname);
	fprintf(f, "Auto-Submitted: auto-replied\n");
	fprintf(f, "MIME-Version: 1.0\n");
	fprintf(f, "Content-Type: multipart/report; report-type=delivery-status;\n"
		   "\tboundary=\"%s\"\n\n", boundary);
	fprintf(f, "This is a MIME-encapsulated delivery status report.\n\n");
}

static void write_human(FILE *f, const struct dsn *d, const char *boundary)
{
	fprintf(f, "--%s\nContent-Type: text/plain; charset=us-ascii\n\n", boundary);
	fprintf(f, "This is the mail system at host %s.\n\n", d->hostname);
	if (d->delayed)
		fprintf(f, "Your message could not be delivered yet to the recipients below.\n"
			   "It is still being retried; you do not need to send it again.\n\n");
	else
		fprintf(f, "Your message could not be delivered to the recipients below.\n"
			   "This is a permanent error; it will not be retried.\n\n");
	for (size_t i = 0; i < d->nrcpts; i++) {
		char why[600];
		ascii_copy(d->rcpts[i].diagnostic, why, sizeof why);
		fprintf(f, "<%s>: %s%s%s\n", d->rcpts[i].address,
			d->rcpts[i].remote_mta && d->rcpts[i].remote ? "host " : "",
			d->rcpts[i].remote_mta && d->rcpts[i].remote ? d->rcpts[i].remote_mta : "",
			d->rcpts[i].remote_mta && d->rcpts[i].remote ? " said: " : "");
		fprintf(f, "    %s\n\n", why);
	}
}

static void write_status(FILE *f, const struct dsn *d, const char *boundary)
{
	char date[64], now[64];
	rfc5322_date(d->arrival, date, sizeof date);
	rfc5322_date(time(NULL), now, sizeof now);
	fprintf(f, "--%s\nContent-Type: message/delivery-status\n\n", boundary);
	fprintf(f, "Reporting-MTA: dns; %s\nX-Mailpipe-Queue-ID: %lld\nArrival-Date: %s\n",
		d->hostname, (long long)d->id, date);
	for (size_t i = 0; i < d->nrcpts; i++) {
		const struct dsn_rcpt *r = &d->rcpts[i];
		char why[600];
		ascii_copy(r->diagnostic, why, sizeof why);
		fprintf(f, "\nFinal-Recipient: rfc822; %s\nAction: %s\nStatus: %s\n", r->address,
			d->delayed ? "delayed" : "failed", r->status);
		if (r->remote_mta)
			fprintf(f, "Remote-MTA: dns; %s\n", r->remote_mta);
		fprintf(f, "Diagnostic-Code: %s; %s\nLast-Attempt-Date: %s\n",
			r->remote ? "smtp" : "x-mailpipe", why, now);
		if (d->delayed) {
			rfc5322_date(d->retry_until, date, sizeof date);
			fprintf(f, "Will-Retry-Until: %s\n", date);
		}
	}
	fprintf(f, "\n");
}

/* The original header, up to its empty line (bounded). */
static void write_original(FILE *f, const struct dsn *d, const char *boundary)
{
	fprintf(f, "--%s\nContent-Type: text/rfc822-headers\n\n", boundary);
	char buf[STREAM_BUF];
	off_t off = 0;
	int at_line_start = 1, done = 0;
	while (!done && off < DSN_HEADER_MAX && d->original_fd >= 0) {
		ssize_t n = pread(d->original_fd, buf, sizeof buf, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t take = 0;
		for (; take < (size_t)n && !done; take++) {
			if (buf[take] == '\n' && at_line_start)
				done = 1;   /* the empty line: the header ends */
			at_line_start = buf[take] == '\n' || (buf[take] == '\r' && at_line_start);
		}
		fwrite(buf, 1, take - done, f);
		off += n;
	}
	if (!at_line_start)
		fputc('\n', f);
	fprintf(f, "\n--%s--\n", boundary);
}

int dsn_write(int fd, const struct dsn *d)
{
	int copy = dup(fd);
	FILE *f = copy >= 0 ? fdopen(copy, "w") : NULL;
	if (!f) {
		if (copy >= 0)
			close(copy);
		return -1;
	}
	char boundary[96];
	snprintf(boundary, sizeof boundary, "%lld.%lld/%s", (long long)d->id, (long long)time(NULL),
		 d->hostname);
	write_headers(f, d, boundary);
	write_human(f, d, boundary);
	write_status(f, d, boundary);
	write_original(f, d, boundary);
	int failed = ferror(f);
	if (fclose(f) != 0 || failed)
		return -1;
	return 0;
}
