/* smtp_txn.c - one mail transaction. */
#include "smtp_txn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

#define TXN_CHUNK (64 * 1024)   /* octets of the file per BDAT chunk */
#define TXN_BDAT_WINDOW 8       /* BDAT replies left unread, at most */

/* RFC 5321 4.5.3.1.6: a text line is at most 1000 octets with its CRLF. */
#define TXN_LINE_MAX 998

/* Lone LF becomes CRLF; with dot_stuff a line starting with '.' gets one
 * more (RFC 5321 4.5.2).  A line longer than TXN_LINE_MAX is broken with
 * CRLF SPACE, as Postfix's smtp_line_length_limit does: a server refuses
 * it whole ("500 Line too long"), a continuation is what harms MIME least.
 * out must hold 3 * n octets. */
struct wire_state {
	int at_line_start, prev_cr;
	size_t line_len;
};

static size_t to_wire(struct wire_state *st, const char *in, size_t n, char *out, int dot_stuff)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (ch != '\n' && st->line_len == TXN_LINE_MAX) {
			memcpy(out + o, "\r\n ", 3);
			o += 3;
			st->line_len = 1;
			st->at_line_start = 0;
		}
		if (st->at_line_start && ch == '.' && dot_stuff)
			out[o++] = '.';
		if (ch == '\n' && !st->prev_cr)
			out[o++] = '\r';
		out[o++] = ch;
		st->prev_cr = ch == '\r';
		st->at_line_start = ch == '\n';
		st->line_len = ch == '\n' ? 0 : st->line_len + (ch != '\r');
	}
	return o;
}

/* The 8-bit parts, and the size on the wire (SIZE=, RFC 1870): what
 * to_wire makes of the file, without dot-stuffing, with a final CRLF. */
int txn_scan(int fd, struct txn_info *info)
{
	memset(info, 0, sizeof *info);
	static char buf[STREAM_BUF], wire[3 * STREAM_BUF];
	struct wire_state st = { 1, 0, 0 };
	int in_header = 1, at_line_start = 1;
	off_t off = 0;
	for (;;) {
		ssize_t n = pread_some(fd, buf, sizeof buf, off);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		off += n;
		info->wire_size += to_wire(&st, buf, (size_t)n, wire, 0);
		for (ssize_t i = 0; i < n; i++) {
			unsigned char ch = (unsigned char)buf[i];
			if (ch == '\n' && at_line_start)
				in_header = 0;   /* the empty line ends the header */
			if (ch >= 0x80) {
				if (in_header)
					info->header_8bit = 1;
				else
					info->body_8bit = 1;
			}
			if (ch != '\r')
				at_line_start = ch == '\n';
		}
	}
	info->wire_size += st.at_line_start ? 0 : 2;
	return 0;
}

/* Every accepted recipient gets reply as its outcome (the final reply,
 * or a lost connection), and is no longer waiting. */
static void fail_open(struct txn_message *m, const struct smtp_reply *reply)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		if (m->rcpts[i].accepted) {
			m->rcpts[i].reply = *reply;
			m->rcpts[i].accepted = 0;
		}
}

void txn_fail_all(struct txn_message *m, const struct smtp_reply *reply)
{
	for (size_t i = 0; i < m->nrcpts; i++)
		m->rcpts[i].reply = *reply;
}

/* Checks what the message needs against what the server offers. */
static int refuse_downgrade(struct smtp_client *c, struct txn_message *m, int smtputf8)
{
	struct smtp_reply r;
	if (smtputf8 && !(c->caps & CAP_SMTPUTF8))
		reply_local(&r, 553, "5.6.7", "%s does not offer SMTPUTF8, which the message needs",
			    c->peer);
	else if (m->info.body_8bit && !(c->caps & CAP_8BITMIME))
		reply_local(&r, 554, "5.6.3", "%s does not offer 8BITMIME, which the message needs",
			    c->peer);
	else if (c->size_max && m->info.wire_size > c->size_max)
		reply_local(&r, 552, "5.3.4", "message of %llu octets is over %s's limit of %llu",
			    (unsigned long long)m->info.wire_size, c->peer,
			    (unsigned long long)c->size_max);
	else
		return 0;
	txn_fail_all(m, &r);
	return -1;
}

static int needs_smtputf8(const struct txn_message *m)
{
	if (m->info.header_8bit)
		return 1;
	for (const char *p = m->sender; *p; p++)
		if ((unsigned char)*p >= 0x80)
			return 1;
	for (size_t i = 0; i < m->nrcpts; i++)
		for (const char *p = m->rcpts[i].address; *p; p++)
			if ((unsigned char)*p >= 0x80)
				return 1;
	return 0;
}

static void mail_command(struct smtp_client *c, const struct txn_message *m, int smtputf8)
{
	char line[600];
	int n = snprintf(line, sizeof line, "MAIL FROM:<%s>", m->sender);
	if (c->caps & CAP_SIZE)
		n += snprintf(line + n, sizeof line - (size_t)n, " SIZE=%llu",
			      (unsigned long long)m->info.wire_size);
	if (m->info.body_8bit)
		n += snprintf(line + n, sizeof line - (size_t)n, " BODY=8BITMIME");
	if (smtputf8)
		snprintf(line + n, sizeof line - (size_t)n, " SMTPUTF8");
	client_command(c, line, 0);
}

static void rcpt_command(struct smtp_client *c, const char *address)
{
	char line[600];
	snprintf(line, sizeof line, "RCPT TO:<%s>", address);
	client_command(c, line, 0);
}

/* Reads the replies to MAIL (when mail is not NULL) and to the RCPTs from
 * first to end; on a lost session every recipient gets the failure. */
static int envelope_replies(struct smtp_client *c, struct txn_message *m, struct smtp_reply *mail,
			    size_t first, size_t end)
{
	if (mail && client_read_reply(c, mail) < 0) {
		txn_fail_all(m, mail);
		return -1;
	}
	for (size_t i = first; i < end; i++)
		if (client_read_reply(c, &m->rcpts[i].reply) < 0) {
			txn_fail_all(m, &m->rcpts[i].reply);
			return -1;
		}
	return 0;
}

/* The reply to a RSET sent before this transaction's MAIL.  -1 when the
 * session cannot go on: every recipient then has the reason. */
static int reset_reply(struct smtp_client *c, struct txn_message *m)
{
	struct smtp_reply reply;
	if (client_read_reply(c, &reply) < 0 || reply_class(&reply) != 2) {
		txn_fail_all(m, &reply);
		return -1;
	}
	return 0;
}

/* MAIL and every RCPT, pipelined when the server allows; a 2xx marks the
 * recipient accepted.  Returns the count accepted, or -1 when the session
 * is over; when MAIL fails every recipient gets its reply. */
static int envelope(struct smtp_client *c, struct txn_message *m, int smtputf8)
{
	int pipelined = (c->caps & CAP_PIPELINING) != 0;
	struct smtp_reply mail;
	for (size_t i = 0; i < m->nrcpts; i++)
		m->rcpts[i].accepted = 0;
	if (m->reset_first) {
		client_command(c, "RSET", 0);   /* RFC 2920 3.1: may lead a pipelined group */
		if (!pipelined && reset_reply(c, m) < 0)
			return -1;
	}
	mail_command(c, m, smtputf8);
	if (!pipelined && envelope_replies(c, m, &mail, 0, 0) < 0)
		return -1;
	if (!pipelined && reply_class(&mail) != 2) {
		txn_fail_all(m, &mail);
		return mail.code == 421 ? -1 : 0;
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		rcpt_command(c, m->rcpts[i].address);
		if (!pipelined && envelope_replies(c, m, NULL, i, i + 1) < 0)
			return -1;
	}
	if (pipelined && m->reset_first && reset_reply(c, m) < 0)
		return -1;
	if (pipelined && envelope_replies(c, m, &mail, 0, m->nrcpts) < 0)
		return -1;
	if (reply_class(&mail) != 2) {
		txn_fail_all(m, &mail);   /* RCPT after a failed MAIL means nothing */
		return mail.code == 421 ? -1 : 0;
	}
	int count = 0;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (m->rcpts[i].reply.code == 421) {   /* the server is closing */
			struct smtp_reply closing = m->rcpts[i].reply;
			txn_fail_all(m, &closing);
			return -1;
		}
		m->rcpts[i].accepted = reply_class(&m->rcpts[i].reply) == 2;
		count += m->rcpts[i].accepted;
	}
	return count;
}

/* DATA: 354, the dot-stuffed message, the final dot. */
static int send_data(struct smtp_client *c, struct txn_message *m, struct smtp_reply *reply)
{
	client_command(c, "DATA", 0);
	if (client_read_reply(c, reply) < 0)
		return -1;
	if (reply->code != 354)
		return 1;
	static char in[STREAM_BUF], out[3 * STREAM_BUF];
	struct wire_state st = { 1, 0, 0 };
	off_t off = 0;
	ssize_t n;
	while ((n = pread(m->fd, in, sizeof in, off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			reply_local(reply, 451, "4.3.0", "cannot read the message: %s", strerror(errno));
			return -1;   /* the server would take half a message */
		}
		off += n;
		io_write(&c->io, out, to_wire(&st, in, (size_t)n, out, 1));
	}
	if (c->verbose)
		fprintf(stderr, "%s: %s >>> [message, %lld octets]\n", program_invocation_short_name, c->peer,
			(long long)off);
	if (!st.at_line_start)
		io_write(&c->io, "\r\n", 2);
	client_command(c, ".", 0);
	return 0;
}

static void bdat_command(struct smtp_client *c, size_t n, int last)
{
	char line[64];
	snprintf(line, sizeof line, "BDAT %zu%s", n, last ? " LAST" : "");
	client_command(c, line, 0);
}

/* BDAT chunks (RFC 3030), pipelined with a bounded window of unread
 * replies so neither side can block the other.  The last reply is left
 * for the caller. */
static int send_bdat(struct smtp_client *c, struct txn_message *m, struct smtp_reply *reply)
{
	static char in[TXN_CHUNK], out[3 * TXN_CHUNK];
	struct wire_state st = { 1, 0, 0 };
	off_t off = 0;
	int unread = 0, failed = 0;
	for (;;) {
		ssize_t n = pread(m->fd, in, sizeof in, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			reply_local(reply, 451, "4.3.0", "cannot read the message: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		off += n;
		size_t len = to_wire(&st, in, (size_t)n, out, 0);
		bdat_command(c, len, 0);
		io_write(&c->io, out, len);
		unread++;
		int window = c->caps & CAP_PIPELINING ? TXN_BDAT_WINDOW : 0;
		for (; unread > window; unread--) {
			if (client_read_reply(c, reply) < 0)
				return -1;
			failed |= reply_class(reply) != 2;
		}
		if (failed)
			break;
	}
	if (!failed) {
		bdat_command(c, st.at_line_start ? 0 : 2, 1);
		if (!st.at_line_start)
			io_write(&c->io, "\r\n", 2);
	}
	for (; unread > 0; unread--) {
		struct smtp_reply chunk;
		if (client_read_reply(c, &chunk) < 0) {
			*reply = chunk;
			return -1;
		}
		if (reply_class(&chunk) != 2 && !failed) {
			*reply = chunk;
			failed = 1;
		}
	}
	return failed ? 1 : 0;
}

/* The end of the data: one reply for all (SMTP) or one per accepted
 * recipient, in RCPT order (LMTP, RFC 2033 4.2). */
static int final_replies(struct smtp_client *c, struct txn_message *m)
{
	struct smtp_reply reply;
	if (!c->lmtp) {
		int rc = client_read_reply(c, &reply);
		fail_open(m, &reply);
		return rc < 0 || reply.code == 421 ? -1 : 0;
	}
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (!m->rcpts[i].accepted)
			continue;
		if (client_read_reply(c, &reply) < 0) {
			fail_open(m, &reply);   /* this one and the rest */
			return -1;
		}
		m->rcpts[i].reply = reply;
		m->rcpts[i].accepted = 0;
	}
	return 0;
}

int txn_send(struct smtp_client *c, struct txn_message *m)
{
	int smtputf8 = needs_smtputf8(m);
	m->reset_done = 0;
	if (refuse_downgrade(c, m, smtputf8) < 0)
		return 0;
	int count = envelope(c, m, smtputf8);
	if (count < 0)
		return -1;
	struct smtp_reply reply = { 0 };
	int rc = 1;
	if (count > 0)
		rc = c->caps & CAP_CHUNKING ? send_bdat(c, m, &reply) : send_data(c, m, &reply);
	if (rc == 0)
		return final_replies(c, m);
	if (count > 0)   /* the data went wrong: it fails for every recipient */
		fail_open(m, &reply);
	if (rc < 0 || reply.code == 421)
		return -1;
	/* no recipient, or a refused DATA/BDAT: clear the transaction */
	client_command(c, "RSET", 0);
	m->reset_done = 1;
	return client_read_reply(c, &reply) < 0 || reply_class(&reply) != 2 ? -1 : 0;
}
