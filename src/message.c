/* message.c - streaming copy with line-end normalisation and header notes. */
#include "message.h"

#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "fsutil.h"

#define HEADER_SCAN_MAX (256 * 1024)  /* headers longer than this are not scanned */

void message_info_init(struct message_info *m)
{
	memset(m, 0, sizeof *m);
	m->in_headers = 1;
}

/* Keeps the value of a complete (unfolded) header line we care about. */
static void note_header(struct message_info *m)
{
	static const struct { const char *name; size_t offset; } wanted[] = {
		{ "subject:", offsetof(struct message_info, subject) },
		{ "message-id:", offsetof(struct message_info, message_id) },
	};
	m->line[m->line_len] = '\0';
	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
		size_t n = strlen(wanted[i].name);
		if (strncasecmp(m->line, wanted[i].name, n) != 0)
			continue;
		char *field = (char *)m + wanted[i].offset;
		if (*field)
			return;   /* the first one counts */
		const char *v = m->line + n;
		while (*v == ' ' || *v == '\t')
			v++;
		size_t len = strlen(v);
		while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len >= MESSAGE_FIELD_MAX)
			len = MESSAGE_FIELD_MAX - 1;
		memcpy(field, v, len);
		field[len] = '\0';
	}
}

/* Feeds LF-form bytes to the header scanner.  A line is complete only when
 * the next byte is known not to fold it (RFC 5322 2.2.3), even across reads. */
static void scan_headers(struct message_info *m, const char *p, size_t n)
{
	for (size_t i = 0; i < n && m->in_headers; i++) {
		char c = p[i];
		if (++m->header_bytes > HEADER_SCAN_MAX) {
			m->in_headers = 0;
			break;
		}
		if (m->after_lf) {
			m->after_lf = 0;
			if (c != ' ' && c != '\t') {
				note_header(m);
				m->line_len = 0;
			}
		}
		if (c == '\n') {
			if (m->line_len == 0)
				m->in_headers = 0;   /* the empty line: headers are over */
			m->after_lf = 1;
			continue;
		}
		if (m->line_len < sizeof m->line - 1)
			m->line[m->line_len++] = c == '\t' ? ' ' : c;
	}
}

/* Copies n input bytes to out with CRLF turned into LF and a stray CR
 * (not before LF) into a space, as Postfix's cleanup_replace_stray_cr_lf
 * does: a peer that took a bare CR for a line end could otherwise be fed
 * "<CR>.<CR>" and commands after it (SMTP smuggling), and the Maildir has
 * LF lines only.  A CR at the end waits for the next read (n == 0 at EOF
 * releases it).  out must have room for n + 1 bytes.  Returns the bytes
 * put in out. */
static size_t normalise(struct message_info *m, const char *in, size_t n, char *out)
{
	/* the common case (smtp-recv hands over LF lines): nothing to change */
	if (!m->pending_cr && !memchr(in, '\r', n)) {
		if (memchr(in, '\0', n))
			m->has_nul = 1;
		memcpy(out, in, n);
		return n;
	}
	size_t k = 0;
	if (m->pending_cr) {
		m->pending_cr = 0;
		if (n == 0 || in[0] != '\n')
			out[k++] = ' ';
	}
	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '\0')
			m->has_nul = 1;
		if (c == '\r') {
			if (i + 1 == n) {
				m->pending_cr = 1;
				break;
			}
			if (in[i + 1] == '\n')
				continue;
			c = ' ';
		}
		out[k++] = c;
	}
	return k;
}

int message_copy(int in_fd, int out_fd, struct message_info *m)
{
	char in[STREAM_BUF];
	char out[STREAM_BUF + 1];
	for (;;) {
		ssize_t r = read_some(in_fd, in, sizeof in);
		if (r < 0)
			return -1;
		size_t k = normalise(m, in, (size_t)r, out);
		if (m->in_headers)
			scan_headers(m, out, k);
		if (k && write_all(out_fd, out, k) < 0)
			return -1;
		m->size += k;
		if (r == 0)
			return 0;
	}
}
