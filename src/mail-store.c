/* mail-store - deliver one message from stdin durably.
 *
 *   mail-store -f SENDER [-c CLIENT] [-H HELO] [-I] [--] RCPT...
 *
 * Local recipients get a Maildir copy (with Return-Path: and Delivered-To:),
 * remote ones share one copy in the queue, DKIM-signed when the From:
 * domain has a key in the dkim file (not with -I: mail from the Internet).
 * Every file is written in a temporary place, fsynced, linked into place
 * and its directory fsynced; then the index row is committed; only then
 * is the id printed and 0 returned.  Any failure removes what was written.
 * See mail-store(8).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "dkim_conf.h"
#include "dkim_sign.h"
#include "fsutil.h"
#include "head_scan.h"
#include "log.h"
#include "maildir.h"
#include "message.h"
#include "resolve.h"
#include "store_db.h"

struct target {
	const struct destination *dest;
	struct maildir_file file;
	int fd;
	size_t prefix_len;   /* Return-Path/Delivered-To or DKIM-Signature, before the message */
	int committed;
};

struct delivery {
	struct conf conf;
	const char *sender;  /* "" for the null sender */
	const char *client;
	const char *helo;
	int inbound;         /* -I: from the Internet, never signed */
	struct destination *dest;
	size_t ndest;
	struct target *targets;
	size_t ntargets;
	struct message_info info;
	struct dkim_conf dkim;
	int source_fd;       /* the copy the others are made from */
	off_t source_off;    /* where the message starts in it */
	int scratch_fd;      /* an unnamed source when the only copy is signed, or -1 */
	char signature[DKIM_SIGNATURES_MAX];   /* "" when not signed */
	char signed_domain[DKIM_DOMAIN_MAX];   /* for the log */
	char error[512];
};

static const char usage_line[] = "usage: mail-store -f SENDER [-c CLIENT] [-H HELO] [-I] [--] RCPT...";

static void usage(void)
{
	printf("%s\n  delivers the message on stdin to local Maildirs and the outbound queue,\n"
	       "  prints its id (see mail-store(8))\n", usage_line);
}

/* Envelope values end up in headers: no control characters allowed. */
static int printable(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < ' ' || *p == 0x7f)
			return 0;
	return strlen(s) < CONF_ADDR_MAX;
}

static void parse_args(struct delivery *d, int argc, char **argv)
{
	int opt;
	const char *sender = NULL;
	opterr = 0;   /* one line of our own instead of getopt's */
	while ((opt = getopt(argc, argv, "hf:c:H:I")) != -1) {
		switch (opt) {
		case 'h': usage(); exit(0);
		case 'f': sender = optarg; break;
		case 'c': d->client = optarg; break;
		case 'H': d->helo = optarg; break;
		case 'I': d->inbound = 1; break;
		default:
			fprintf(stderr, "mail-store: bad option -%c (%s)\n", optopt, usage_line);
			exit(EX_USAGE);
		}
	}
	if (!sender || optind == argc) {
		fprintf(stderr, "mail-store: %s (%s)\n", sender ? "no recipients" : "-f SENDER is required",
			usage_line);
		exit(EX_USAGE);
	}
	static char bare[CONF_ADDR_MAX];
	size_t len = strlen(sender);
	if (len >= 2 && sender[0] == '<' && sender[len - 1] == '>' && len - 2 < sizeof bare) {
		memcpy(bare, sender + 1, len - 2);   /* "<a@b>" -> "a@b", "<>" -> "" */
		bare[len - 2] = '\0';
		sender = bare;
	}
	d->sender = sender;
	for (int i = optind; i < argc; i++) {
		if (!printable(argv[i]) || !printable(sender)) {
			fprintf(stderr, "mail-store: control characters in an address\n");
			exit(EX_USAGE);
		}
	}
	if (d->client && !printable(d->client))
		d->client = "unknown";
	if (d->helo && !printable(d->helo))
		d->helo = NULL;
}

/* The exit code for a failed file operation (DESIGN.md: 73/74 -> 452). */
static int io_status(int err)
{
	return err == EACCES || err == EPERM || err == ENOENT || err == ENOTDIR ||
	       err == EROFS ? EX_CANTCREAT : EX_IOERR;
}

static int fail(struct delivery *d, int status, const char *what)
{
	snprintf(d->error, sizeof d->error, "%s: %s", what, strerror(errno));
	return status;
}

/* Opens the file for one destination, with its header prefix written. */
static int open_target(struct delivery *d, struct target *t, unsigned q)
{
	char dir[PATH_MAX], tmp[PATH_MAX], new_dir[PATH_MAX];
	if (t->dest->remote) {
		if (path_join(tmp, sizeof tmp, d->conf.state, "tmp") < 0 ||
		    path_join(new_dir, sizeof new_dir, d->conf.state, "queue") < 0 ||
		    make_dirs(tmp, 0700) < 0 || make_dirs(new_dir, 0700) < 0)
			return fail(d, io_status(errno), "queue directory");
	} else {
		if (maildir_for_address(d->conf.state, t->dest->address, dir, sizeof dir) < 0 ||
		    maildir_make(dir) < 0 || path_join(tmp, sizeof tmp, dir, "tmp") < 0 ||
		    path_join(new_dir, sizeof new_dir, dir, "new") < 0)
			return fail(d, io_status(errno), "Maildir");
	}
	t->fd = maildir_open(tmp, new_dir, d->conf.hostname, q, &t->file);
	if (t->fd < 0)
		return fail(d, io_status(errno), "create file");
	if (t->dest->remote) {
		t->prefix_len = strlen(d->signature);
		if (write_all(t->fd, d->signature, t->prefix_len) < 0)
			return fail(d, io_status(errno), "write");
		return 0;
	}
	char prefix[2 * CONF_ADDR_MAX + 64];
	int n = snprintf(prefix, sizeof prefix, "Return-Path: <%s>\nDelivered-To: %s\n",
			 d->sender, t->dest->address);
	t->prefix_len = (size_t)n;
	if (write_all(t->fd, prefix, t->prefix_len) < 0)
		return fail(d, io_status(errno), "write");
	return 0;
}

/* Copies the message from the source into t. */
static int copy_from_source(struct delivery *d, struct target *t)
{
	off_t off = d->source_off;
	uint64_t left = d->info.size;
	char buf[STREAM_BUF];
	while (left > 0) {
		size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
		ssize_t r = pread(d->source_fd, buf, want, off);
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return fail(d, EX_IOERR, "read back");
		}
		if (write_all(t->fd, buf, (size_t)r) < 0)
			return fail(d, io_status(errno), "write");
		off += r;
		left -= (uint64_t)r;
	}
	return 0;
}

/* May the queue copy be signed: remote recipients, not -I, keys listed? */
static int may_sign(const struct delivery *d)
{
	return !d->inbound && d->dkim.nkeys > 0 && d->ntargets > 0 &&
	       d->targets[d->ntargets - 1].dest->remote;
}

/* Copies stdin into the source: the first copy, or, when that is the queue
 * copy and may be signed, an unnamed file (the signature goes above the
 * message, and is known only once all of it has been read). */
static int write_source(struct delivery *d)
{
	int fd;
	if (d->targets[0].dest->remote && may_sign(d)) {
		char tmp[PATH_MAX];
		if (path_join(tmp, sizeof tmp, d->conf.state, "tmp") < 0 || make_dirs(tmp, 0700) < 0 ||
		    (d->scratch_fd = unnamed_open(tmp)) < 0)
			return fail(d, io_status(errno), "temporary file");
		fd = d->scratch_fd;
		d->source_off = 0;
	} else {
		int rc = open_target(d, &d->targets[0], 0);
		if (rc)
			return rc;
		fd = d->targets[0].fd;
		d->source_off = (off_t)d->targets[0].prefix_len;
	}
	d->source_fd = fd;
	if (message_copy(STDIN_FILENO, fd, &d->info) < 0)
		return fail(d, io_status(errno), "write");
	if (d->info.has_nul) {
		snprintf(d->error, sizeof d->error, "message contains NUL octets");
		return EX_DATAERR;
	}
	return 0;
}

static int find_from(void *arg, const struct head_field *field)
{
	if (!head_field_is(field, "From"))
		return 0;
	head_field_value(field, arg, HEAD_FIELD_MAX);
	return 1;
}

/* Signs the source when its From: domain has keys: d->signature. */
static int sign_source(struct delivery *d)
{
	if (!may_sign(d))
		return 0;
	char from[HEAD_FIELD_MAX] = "", domain[DKIM_DOMAIN_MAX];
	if (head_scan(d->source_fd, d->source_off, find_from, from) < 0)
		return fail(d, EX_IOERR, "read back");
	const struct dkim_key_entry *keys[DKIM_KEYS_PER_DOMAIN];
	size_t n = dkim_from_domain(from, domain, sizeof domain) == 0
			   ? dkim_conf_find(&d->dkim, domain, keys) : 0;
	if (n == 0)
		return 0;
	/* a key we cannot use is the operator's to fix: the mail waits (75)
	 * rather than leave unsigned and land in the receivers' spam */
	if (dkim_sign_message(keys, n, d->source_fd, d->source_off, d->signature,
			      sizeof d->signature, d->error, sizeof d->error) < 0)
		return EX_TEMPFAIL;
	snprintf(d->signed_domain, sizeof d->signed_domain, "%s", keys[0]->domain);
	return 0;
}

/* Writes every copy and fsyncs it. */
static int write_targets(struct delivery *d)
{
	int rc = write_source(d);
	if (rc == 0)
		rc = sign_source(d);
	/* the first target is written already when it is the source */
	for (size_t i = d->scratch_fd < 0 ? 1 : 0; rc == 0 && i < d->ntargets; i++) {
		struct target *t = &d->targets[i];
		rc = open_target(d, t, (unsigned)i);
		if (rc == 0)
			rc = copy_from_source(d, t);
	}
	if (rc)
		return rc;
	for (size_t i = 0; i < d->ntargets; i++)
		if (fsync(d->targets[i].fd) < 0)
			return fail(d, io_status(errno), "fsync");
	return 0;
}

/* Links every copy into new/ (or the queue) and fsyncs those directories. */
static int commit_targets(struct delivery *d)
{
	for (size_t i = 0; i < d->ntargets; i++) {
		struct target *t = &d->targets[i];
		if (maildir_commit(&t->file, t->prefix_len + d->info.size) < 0)
			return fail(d, io_status(errno), "link into place");
		t->committed = 1;
	}
	for (size_t i = 0; i < d->ntargets; i++) {
		int seen = 0;   /* one fsync per directory */
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(d->targets[j].file.new_dir, d->targets[i].file.new_dir) == 0;
		if (!seen && fsync_dir(d->targets[i].file.new_dir) < 0)
			return fail(d, io_status(errno), "fsync directory");
	}
	return 0;
}

/* Removes every file of a failed delivery. */
static void undo_targets(struct delivery *d)
{
	for (size_t i = 0; i < d->ntargets; i++) {
		struct target *t = &d->targets[i];
		if (t->fd >= 0)
			unlink(t->file.tmp_path);
		if (t->committed)
			unlink(t->file.final_path);
	}
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* Records the message and its recipients in mail.db. */
static int index_message(struct delivery *d, int64_t *id)
{
	sqlite3 *db = db_open(d->conf.state, d->error, sizeof d->error);
	if (!db)
		return EX_TEMPFAIL;
	struct db_recipient *rows = calloc(d->ndest, sizeof *rows);
	if (!rows) {
		sqlite3_close(db);
		return fail(d, EX_OSERR, "memory");
	}
	const char *queue_file = NULL;
	for (size_t i = 0; i < d->ntargets; i++) {
		const struct target *t = &d->targets[i];
		size_t row = (size_t)(t->dest - d->dest);
		if (t->dest->remote)
			queue_file = base_name(t->file.final_path);
		else
			rows[row].mailbox_file = base_name(t->file.final_path);
	}
	for (size_t i = 0; i < d->ndest; i++) {
		rows[i].address = d->dest[i].address;
		rows[i].remote = d->dest[i].remote;
	}
	struct db_message m = {
		.time = (int64_t)time(NULL), .client = d->client, .helo = d->helo,
		.sender = d->sender, .size = d->info.size,
		.message_id = d->info.message_id[0] ? d->info.message_id : NULL,
		.subject = d->info.subject[0] ? d->info.subject : NULL,
		.queue_file = queue_file,
	};
	int rc = db_insert(db, &m, rows, d->ndest, id, d->error, sizeof d->error);
	free(rows);
	sqlite3_close(db);
	/* a full disk is 74 (452 4.3.1) like a failed file write; else 75 */
	return rc == -2 ? EX_IOERR : rc < 0 ? EX_TEMPFAIL : 0;
}

/* One target per local mailbox, plus one queue copy shared by every remote
 * recipient, last: a local copy, when there is one, is the unsigned source
 * the signed queue copy is made from. */
static int plan_targets(struct delivery *d)
{
	d->targets = calloc(d->ndest, sizeof *d->targets);
	if (!d->targets)
		return fail(d, EX_OSERR, "memory");
	const struct destination *remote = NULL;
	for (size_t i = 0; i < d->ndest; i++) {
		if (d->dest[i].remote) {
			remote = remote ? remote : &d->dest[i];
			continue;
		}
		struct target *t = &d->targets[d->ntargets++];
		t->dest = &d->dest[i];
		t->fd = -1;
	}
	if (remote) {
		struct target *t = &d->targets[d->ntargets++];
		t->dest = remote;
		t->fd = -1;
	}
	return 0;
}

static int deliver(struct delivery *d, int64_t *id)
{
	int rc = plan_targets(d);
	if (rc == 0)
		rc = write_targets(d);
	if (rc == 0)
		rc = commit_targets(d);
	if (rc == 0)
		rc = index_message(d, id);
	for (size_t i = 0; i < d->ntargets; i++)
		if (d->targets[i].fd >= 0)
			close(d->targets[i].fd);
	if (d->scratch_fd >= 0)
		close(d->scratch_fd);
	if (rc != 0)
		undo_targets(d);
	return rc;
}

int main(int argc, char **argv)
{
	static struct delivery d;
	signal(SIGXFSZ, SIG_IGN);  /* a file size limit becomes EFBIG, then 73/74 */
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	log_open("mail-store");
	static char from[CONF_ADDR_MAX + 2];
	parse_args(&d, argc, argv);
	message_info_init(&d.info);
	snprintf(from, sizeof from, "<%s>", d.sender);
	d.scratch_fd = -1;
	if (conf_load(&d.conf, conf_dir()) < 0 || (!d.inbound && dkim_conf_load(&d.conf, &d.dkim) < 0)) {
		fprintf(stderr, "mail-store: %s\n", d.conf.error);
		return EX_CONFIG;
	}
	int rc = resolve_recipients(&d.conf, argv + optind, (size_t)(argc - optind), &d.dest,
				    &d.ndest, d.error, sizeof d.error);
	if (rc != 0) {
		log_event("failed", "from", from, "error", d.error, LOG_END);
		fprintf(stderr, "mail-store: %s\n", d.error);
		return rc;
	}
	int64_t id = 0;
	rc = deliver(&d, &id);
	char status[16], size[32], idbuf[32], nrcpt[16];
	snprintf(status, sizeof status, "%d", rc);
	snprintf(size, sizeof size, "%llu", (unsigned long long)d.info.size);
	if (rc != 0) {
		log_event("failed", "from", from, "status", status, "error", d.error, LOG_END);
		fprintf(stderr, "mail-store: %s\n", d.error);
		return rc;
	}
	snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
	snprintf(nrcpt, sizeof nrcpt, "%zu", d.ndest);
	log_event("stored", "id", idbuf, "from", from, "rcpts", nrcpt, "size", size,
		  "dkim", d.signed_domain[0] ? d.signed_domain : NULL, LOG_END);
	printf("%lld\n", (long long)id);
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}
