/* smtp-relay - deliver the outbound queue.
 *
 *   smtp-relay [-f] [-v] [-j N]     one run over what is due
 *   smtp-relay -l                   list the queue
 *
 * Worker processes each claim the due recipients of one message at a time
 * in mail.db, deliver them by route, smarthost, MX or LMTP, and record
 * what the server said: delivered, retried later (1, 2, 4 ... 60 minutes)
 * or bounced with an RFC 3464 report through mail-store.  A message file
 * leaves the queue when no recipient is left.  See smtp-relay(8).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "dsn.h"
#include "fsutil.h"
#include "log.h"
#include "queue_db.h"
#include "relay_route.h"
#include "routes.h"
#include "store_db.h"
#include "store_run.h"

#define JOBS_DEFAULT 8
#define JOBS_MAX 64
#define RETRY_MAX 3600            /* seconds between tries, at most */
#define DELAY_WARNING (4 * 3600)  /* a "still trying" report after this */

struct relay {
	struct conf conf;
	struct routes routes;
	int flush, list, verbose;
	unsigned jobs;
	char store[PATH_MAX];
	/* per worker */
	sqlite3 *db;
	char token[64];
	struct relay_session session;
};

/* What became of one claimed recipient in this attempt. */
struct outcome {
	struct txn_rcpt rcpt;
	char host[300];
	const char *status;     /* delivered, pending, bounced */
	char dsn_status[16];
	char last_reply[SMTP_REPLY_TEXT_MAX + 64];
	int64_t next_try;
};

static const char usage_line[] = "usage: smtp-relay [-h] [-l] [-f] [-v] [-j JOBS]";

static void usage(void)
{
	printf("%s\n  delivers the queued mail that is due (see smtp-relay(8))\n"
	       "  -l  list the queue\n  -f  flush: everything is due now\n"
	       "  -v  show the SMTP dialogue on stderr\n  -j  deliveries at once (default %d)\n",
	       usage_line, JOBS_DEFAULT);
}

static void parse_args(struct relay *r, int argc, char **argv)
{
	int opt;
	opterr = 0;
	r->jobs = JOBS_DEFAULT;
	while ((opt = getopt(argc, argv, "hlfvj:")) != -1) {
		char *end;
		switch (opt) {
		case 'h': usage(); exit(0);
		case 'l': r->list = 1; break;
		case 'f': r->flush = 1; break;
		case 'v': r->verbose = 1; break;
		case 'j':
			r->jobs = (unsigned)strtoul(optarg, &end, 10);
			if (*end || r->jobs < 1 || r->jobs > JOBS_MAX) {
				fprintf(stderr, "smtp-relay: -j takes 1 to %d (%s)\n", JOBS_MAX, usage_line);
				exit(EX_USAGE);
			}
			break;
		default:
			fprintf(stderr, "smtp-relay: unknown option -%c (%s)\n", optopt, usage_line);
			exit(EX_USAGE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "smtp-relay: unexpected argument \"%s\" (%s)\n", argv[optind], usage_line);
		exit(EX_USAGE);
	}
	if (r->verbose)
		r->jobs = 1;   /* one dialogue at a time is one a person can read */
}

/* 1, 2, 4 ... minutes after the attempt, at most an hour. */
static int64_t next_try(int64_t now, int attempts)
{
	int64_t wait = 60;
	for (int i = 1; i < attempts && wait < RETRY_MAX; i++)
		wait *= 2;
	return now + (wait < RETRY_MAX ? wait : RETRY_MAX);
}

static const char *domain_of(const char *address)
{
	const char *at = strrchr(address, '@');
	return at ? at + 1 : "";
}

/* Recipients j and i go the same way: one route, or one domain's MX. */
static int same_destination(const struct relay *r, const char *a, const char *b)
{
	const struct route *ra = routes_find(&r->routes, domain_of(a));
	const struct route *rb = routes_find(&r->routes, domain_of(b));
	return ra || rb ? ra == rb : strcasecmp(domain_of(a), domain_of(b)) == 0;
}

/* Delivers the claimed recipients, one transaction per destination. */
static void deliver_groups(struct relay *r, const struct qdb_message *m, int fd,
			   const struct txn_info *info, struct outcome *out)
{
	static struct txn_rcpt group[QDB_RCPTS_MAX];
	static size_t member[QDB_RCPTS_MAX];
	static char taken[QDB_RCPTS_MAX];
	memset(taken, 0, m->nrcpts);
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (taken[i])
			continue;
		size_t n = 0;
		for (size_t j = i; j < m->nrcpts; j++)
			if (!taken[j] && same_destination(r, m->rcpts[i].address, m->rcpts[j].address)) {
				taken[j] = 1;
				member[n] = j;
				group[n++] = (struct txn_rcpt){ .address = m->rcpts[j].address };
			}
		char domain[CONF_ADDR_MAX];
		snprintf(domain, sizeof domain, "%s", domain_of(m->rcpts[i].address));
		conf_lowercase(domain);
		struct txn_message tm = { .sender = m->sender, .rcpts = group, .nrcpts = n, .fd = fd,
					  .info = *info };
		char host[300];
		relay_deliver(&r->session, &r->conf, &r->routes, routes_find(&r->routes, domain), domain,
			      &tm, host, sizeof host);
		for (size_t k = 0; k < n; k++) {
			out[member[k]].rcpt = group[k];
			snprintf(out[member[k]].host, sizeof out[member[k]].host, "%s", host);
		}
	}
}

/* Every recipient gets the same local reply (no file to send, say). */
static void fail_every(const struct qdb_message *m, struct outcome *out, int code,
		       const char *status, const char *why)
{
	for (size_t i = 0; i < m->nrcpts; i++) {
		out[i].rcpt.address = m->rcpts[i].address;
		reply_local(&out[i].rcpt.reply, code, status, "%s", why);
		out[i].host[0] = '\0';
	}
}

/* From the replies to delivered / pending / bounced. */
static void classify(const struct relay *r, const struct qdb_message *m, struct outcome *out,
		     int64_t now)
{
	int64_t expires = m->time + (int64_t)r->conf.queue_lifetime;
	for (size_t i = 0; i < m->nrcpts; i++) {
		struct outcome *o = &out[i];
		const struct smtp_reply *reply = &o->rcpt.reply;
		int attempts = m->rcpts[i].attempts + 1;
		reply_status(reply, o->dsn_status, sizeof o->dsn_status);
		snprintf(o->last_reply, sizeof o->last_reply, "%s", reply->text);
		o->next_try = now;
		if (reply_class(reply) == 2) {
			o->status = "delivered";
		} else if (reply_class(reply) == 5) {
			o->status = "bounced";
		} else if (now >= expires) {
			o->status = "bounced";
			snprintf(o->dsn_status, sizeof o->dsn_status, "4.4.7");
			snprintf(o->last_reply, sizeof o->last_reply,
				 "queue_lifetime reached after %d attempts; last: %.500s", attempts,
				 reply->text);
		} else {
			o->status = "pending";
			o->next_try = next_try(now, attempts);
		}
	}
}

/* Sends a report on the outcomes with the given status ("bounced", or
 * "pending" for a delay warning) to the envelope sender.  0 when
 * mail-store took it (or there was no one to tell), -1 if not, -2 when it
 * never will: the sender is a local address that does not exist (a forged
 * one, say) or the report was refused as data. */
static int send_report(struct relay *r, const struct qdb_message *m, struct outcome *out,
		       const char *status, int fd)
{
	static struct dsn_rcpt rcpts[QDB_RCPTS_MAX];
	size_t n = 0;
	for (size_t i = 0; i < m->nrcpts; i++) {
		if (strcmp(out[i].status, status) != 0)
			continue;
		rcpts[n++] = (struct dsn_rcpt){
			.address = m->rcpts[i].address, .status = out[i].dsn_status,
			.diagnostic = out[i].last_reply, .remote = !out[i].rcpt.reply.local,
			.remote_mta = out[i].host[0] ? out[i].host : NULL,
		};
	}
	if (n == 0 || m->sender[0] == '\0')   /* never a report on a report */
		return 0;
	struct dsn d = {
		.hostname = r->conf.hostname, .sender = m->sender, .id = m->id, .arrival = m->time,
		.retry_until = m->time + (int64_t)r->conf.queue_lifetime,
		.delayed = strcmp(status, "pending") == 0, .rcpts = rcpts, .nrcpts = n,
		.original_fd = fd,
	};
	int report = memfd_create("dsn", MFD_CLOEXEC);
	char *to[] = { (char *)m->sender };   /* store_run takes argv-style strings */
	struct store_result result = { .status = -1 };
	int ok = report >= 0 && dsn_write(report, &d) == 0 && lseek(report, 0, SEEK_SET) == 0 &&
		 store_run(r->store, report, "", "127.0.0.1", r->conf.hostname, 0, to, 1, &result) == 0 &&
		 result.status == 0;
	if (report >= 0)
		close(report);
	char idbuf[32];
	snprintf(idbuf, sizeof idbuf, "%lld", (long long)m->id);
	int never = !ok && (result.status == EX_NOUSER || result.status == EX_DATAERR);
	char store_exit[16];
	snprintf(store_exit, sizeof store_exit, "%d", result.status);
	log_event(ok ? "report-sent" : "report-failed", "id", idbuf, "to", m->sender, "kind",
		  d.delayed ? "delay" : "failure", "report", ok ? result.id : NULL, "store_exit",
		  ok ? NULL : store_exit, "retry", ok ? NULL : never ? "no" : "yes", LOG_END);
	return ok ? 0 : never ? -2 : -1;
}

static void log_outcomes(const struct qdb_message *m, const struct outcome *out)
{
	char idbuf[32], tries[16];
	snprintf(idbuf, sizeof idbuf, "%lld", (long long)m->id);
	for (size_t i = 0; i < m->nrcpts; i++) {
		const struct outcome *o = &out[i];
		const char *event = strcmp(o->status, "pending") == 0 ? "deferred" : o->status;
		snprintf(tries, sizeof tries, "%d", m->rcpts[i].attempts + 1);
		log_event(event, "id", idbuf, "from", m->sender, "rcpt", m->rcpts[i].address, "host",
			  o->host[0] ? o->host : NULL, "attempts", tries, "reply", o->last_reply, LOG_END);
	}
}

/* The reports, then the rows: a report that could not be handed over
 * leaves its recipients queued, so it is tried again. */
static int finish(struct relay *r, const struct qdb_message *m, struct outcome *out, int fd,
		  int64_t now)
{
	/* a report mail-store would not take is tried again with the usual
	 * back-off, until queue_lifetime: then the failure stays logged only;
	 * one it can never take (no such local sender) is given up at once,
	 * or the refused recipient would be offered to its server again and
	 * again for days */
	int64_t expires = m->time + (int64_t)r->conf.queue_lifetime;
	if (send_report(r, m, out, "bounced", fd) == -1 && now < expires)
		for (size_t i = 0; i < m->nrcpts; i++)
			if (strcmp(out[i].status, "bounced") == 0) {
				out[i].status = "pending";
				out[i].next_try = next_try(now, m->rcpts[i].attempts + 1);
			}
	int warned = m->warned;
	if (!warned && now - m->time >= DELAY_WARNING)
		warned = send_report(r, m, out, "pending", fd) == 0;
	log_outcomes(m, out);
	static struct qdb_outcome rows[QDB_RCPTS_MAX];
	for (size_t i = 0; i < m->nrcpts; i++)
		rows[i] = (struct qdb_outcome){
			.rcpt = m->rcpts[i].id, .status = out[i].status,
			.attempts = m->rcpts[i].attempts + 1, .next_try = out[i].next_try,
			.last_reply = out[i].last_reply,
		};
	int done = 0;
	if (qdb_record(r->db, m->id, rows, m->nrcpts, warned, &done) < 0) {
		log_event("error", "error", sqlite3_errmsg(r->db), LOG_END);
		return -1;
	}
	return done;
}

static int open_queue_file(const struct relay *r, const struct qdb_message *m, char *path,
			   size_t size)
{
	char dir[PATH_MAX];
	if (path_join(dir, sizeof dir, r->conf.state, "queue") < 0 ||
	    path_join(path, size, dir, m->queue_file) < 0 || !m->queue_file[0] ||
	    strchr(m->queue_file, '/')) {
		errno = ENOENT;
		return -1;
	}
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* One claimed message: deliver, classify, report, record, clean up. */
static int relay_message(struct relay *r, const struct qdb_message *m)
{
	static struct outcome out[QDB_RCPTS_MAX];
	memset(out, 0, m->nrcpts * sizeof *out);
	char path[PATH_MAX];
	int64_t now = (int64_t)time(NULL);
	int fd = open_queue_file(r, m, path, sizeof path);
	struct txn_info info;
	if (fd < 0 && errno == ENOENT)
		fail_every(m, out, 550, "5.3.0", "the queued message file is missing");
	else if (fd < 0 || txn_scan(fd, &info) < 0)
		fail_every(m, out, 451, "4.3.0", "cannot read the queued message file");
	else
		deliver_groups(r, m, fd, &info, out);
	now = (int64_t)time(NULL);
	classify(r, m, out, now);
	int done = finish(r, m, out, fd, now);
	if (fd >= 0)
		close(fd);
	if (done > 0 && unlink(path) < 0 && errno != ENOENT)
		log_event("error", "error", "cannot remove the queue file", "file", path, LOG_END);
	return done < 0 ? -1 : 0;
}

/* Claims and delivers messages until none is due.  0, or -1 when mail.db
 * failed. */
static int work(struct relay *r)
{
	char err[512];
	r->db = db_open(r->conf.state, err, sizeof err);
	if (!r->db || qdb_prepare(r->db, r->token, sizeof r->token) < 0) {
		log_event("error", "error", r->db ? "cannot prepare mail.db" : err, LOG_END);
		sqlite3_close(r->db);
		return -1;
	}
	static struct qdb_message m;
	int rc;
	while ((rc = qdb_claim(r->db, r->token, (int64_t)time(NULL), &m)) > 0)
		if (relay_message(r, &m) < 0) {
			rc = -1;
			break;
		}
	if (rc < 0)
		log_event("error", "error", sqlite3_errmsg(r->db), LOG_END);
	relay_session_end(&r->session);
	sqlite3_close(r->db);
	r->db = NULL;
	return rc < 0 ? -1 : 0;
}

/* Runs the workers; each opens its own database connection. */
static int run_workers(struct relay *r, unsigned n)
{
	if (n <= 1)
		return work(r);
	fflush(NULL);
	unsigned started = 0;
	for (; started < n; started++) {
		pid_t pid = fork();
		if (pid < 0)
			break;
		if (pid == 0)
			_exit(work(r) < 0 ? EX_TEMPFAIL : 0);
	}
	int failed = started == 0;
	for (int status; started > 0; started--) {
		if (wait(&status) < 0 && errno != EINTR)
			break;
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	return failed ? -1 : 0;
}

/* Removes what runs killed at the wrong moment left in queue/: files of
 * finished messages, and files no message names that are older than a day
 * (a mail-store killed before its commit; its client never got a 250). */
static void sweep_queue(const struct relay *r, sqlite3 *db, int64_t now)
{
	char dir[PATH_MAX], path[PATH_MAX];
	if (path_join(dir, sizeof dir, r->conf.state, "queue") < 0)
		return;
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.' || path_join(path, sizeof path, dir, e->d_name) < 0 ||
		    lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		enum qdb_file_state state = qdb_file_state(db, e->d_name);
		if (state == QDB_FILE_DONE || (state == QDB_FILE_UNKNOWN && st.st_mtime < now - 86400)) {
			if (unlink(path) == 0)
				log_event("swept", "file", e->d_name, "reason",
					  state == QDB_FILE_DONE ? "delivered" : "orphan", LOG_END);
		}
	}
	closedir(d);
}

/* -l, -f, the sweep and the count of what is due, on one connection. */
static int prepare_run(struct relay *r, long *due)
{
	char err[512];
	sqlite3 *db = db_open(r->conf.state, err, sizeof err);
	if (!db) {
		fprintf(stderr, "smtp-relay: %s\n", err);
		return EX_TEMPFAIL;
	}
	int64_t now = (int64_t)time(NULL);
	int rc = 0;
	if (r->list)
		rc = qdb_list(db, stdout, now) < 0 || fflush(stdout) != 0 ? EX_TEMPFAIL : 0;
	else if ((r->flush && qdb_flush(db, now) < 0) || qdb_prepare(db, r->token, sizeof r->token) < 0 ||
		 (*due = qdb_due(db, now)) < 0)
		rc = EX_TEMPFAIL;
	else
		sweep_queue(r, db, now);
	if (rc)
		fprintf(stderr, "smtp-relay: %s: %s\n", r->list ? "listing" : "mail.db", sqlite3_errmsg(db));
	sqlite3_close(db);
	return rc;
}

int main(int argc, char **argv)
{
	static struct relay r;
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	log_open("smtp-relay");
	parse_args(&r, argc, argv);
	if (conf_load(&r.conf, conf_dir()) < 0 || routes_load(&r.conf, &r.routes) < 0) {
		fprintf(stderr, "smtp-relay: %s\n", r.conf.error);
		return EX_CONFIG;
	}
	store_program(r.store, sizeof r.store);
	r.session.verbose = r.verbose;
	long due = 0;
	int rc = prepare_run(&r, &due);
	if (rc || r.list)
		return rc;
	if (due == 0)
		return 0;
	unsigned workers = due < (long)r.jobs ? (unsigned)due : r.jobs;
	return run_workers(&r, workers) < 0 ? EX_TEMPFAIL : 0;
}
