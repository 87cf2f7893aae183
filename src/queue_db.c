/* queue_db.c - claims, outcomes and the listing of the outbound queue. */
#include "queue_db.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Field 22 of /proc/PID/stat: when the process started (clock ticks since
 * boot).  With the pid it names one process, even after pid reuse.  A
 * zombie (field 3 "Z": killed, not yet reaped by its new parent) counts as
 * gone. */
static int start_time(long pid, unsigned long long *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *fp = fopen(path, "re");
	if (!fp)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');   /* the name may hold spaces */
	if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
		return -1;
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	return p && sscanf(p + 1, "%llu", start) == 1 ? 0 : -1;
}

/* claim_alive(token): is the process that made the claim still running? */
static void claim_alive(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	const char *token = (const char *)sqlite3_value_text(argv[0]);
	long pid = 0;
	unsigned long long start = 0, now_start = 0;
	int alive = token && sscanf(token, "%ld:%llu", &pid, &start) == 2 && pid > 0 &&
		    start_time(pid, &now_start) == 0 && now_start == start;
	sqlite3_result_int(ctx, alive);
}

int qdb_prepare(sqlite3 *db, char *token, size_t size)
{
	unsigned long long start;
	if (start_time((long)getpid(), &start) < 0)
		return -1;
	snprintf(token, size, "%ld:%llu", (long)getpid(), start);
	return sqlite3_create_function(db, "claim_alive", 1, SQLITE_UTF8, NULL, claim_alive, NULL,
				       NULL) == SQLITE_OK ? 0 : -1;
}

int qdb_flush(sqlite3 *db, int64_t now)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "UPDATE recipients SET next_try = ? WHERE kind = 'remote'"
				   " AND status = 'pending' AND next_try > ?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* (queue_db.h) notify_db.c uses it too. */
int qdb_step(sqlite3 *db, const char *sql, int64_t a, int64_t b, const char *text,
	      int64_t *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	if (text)
		sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && out)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* A recipient that a run may take: due and pending, or claimed by a run
 * that is gone.  (Two queries, each using the index on status.) */
#define DUE_STALE "status = 'sending' AND kind = 'remote' AND NOT claim_alive(claim)"
#define DUE_PENDING "status = 'pending' AND kind = 'remote' AND next_try <= ?2"

static int load_message(sqlite3 *db, int64_t id, const char *token, struct qdb_message *m)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT time, sender, queue_file, warned FROM messages WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		m->id = id;
		m->time = sqlite3_column_int64(st, 0);
		const unsigned char *sender = sqlite3_column_text(st, 1);
		const unsigned char *file = sqlite3_column_text(st, 2);
		snprintf(m->sender, sizeof m->sender, "%s", sender ? (const char *)sender : "");
		snprintf(m->queue_file, sizeof m->queue_file, "%s", file ? (const char *)file : "");
		m->warned = sqlite3_column_int(st, 3);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW ||
	    sqlite3_prepare_v2(db, "SELECT id, address, attempts FROM recipients WHERE message = ?"
				   " AND status = 'sending' AND claim = ? ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
	m->nrcpts = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && m->nrcpts < QDB_RCPTS_MAX) {
		struct qdb_rcpt *r = &m->rcpts[m->nrcpts++];
		r->id = sqlite3_column_int64(st, 0);
		snprintf(r->address, sizeof r->address, "%s", (const char *)sqlite3_column_text(st, 1));
		r->attempts = sqlite3_column_int(st, 2);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int claim_in_transaction(sqlite3 *db, const char *token, int64_t now, struct qdb_message *m)
{
	int64_t id = 0;
	int found = qdb_step(db, "SELECT message FROM recipients WHERE " DUE_STALE " LIMIT 1", 0, now,
			     NULL, &id);
	if (found == 0)
		found = qdb_step(db, "SELECT message FROM recipients WHERE " DUE_PENDING
				     " ORDER BY next_try, message LIMIT 1", 0, now, NULL, &id);
	if (found <= 0)
		return found;
	if (qdb_step(db, "UPDATE recipients SET status = 'sending', claim = ?3 WHERE message = ?1"
			 " AND ((" DUE_STALE ") OR (" DUE_PENDING "))", id, now, token, NULL) < 0 ||
	    load_message(db, id, token, m) < 0)
		return -1;
	return 1;
}

int qdb_claim(sqlite3 *db, const char *token, int64_t now, struct qdb_message *m)
{
	/* A claim need not survive a power cut: lost, its recipients are
	 * simply pending again (at worst sent twice, never lost).  So its
	 * commit is not synced; the outcome's commit (synchronous=FULL) syncs
	 * the log with the claim in it.  One fsync per message, not two. */
	if (sqlite3_exec(db, "PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	int rc = claim_in_transaction(db, token, now, m);
	if (rc < 0 || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		rc = -1;
	}
	if (sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
		rc = -1;
	return rc;
}

static int record_outcomes(sqlite3 *db, const struct qdb_outcome *o, size_t n)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "UPDATE recipients SET status = ?, attempts = ?, next_try = ?,"
				   " last_reply = ?, claim = NULL WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = SQLITE_DONE;
	for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, o[i].status, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, o[i].attempts);
		sqlite3_bind_int64(st, 3, o[i].next_try);
		sqlite3_bind_text(st, 4, o[i].last_reply, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, o[i].rcpt);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int qdb_record(sqlite3 *db, int64_t message, const struct qdb_outcome *o, size_t n,
	       int warned, int *done)
{
	*done = 0;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	int left = -1;
	if (record_outcomes(db, o, n) == 0 &&
	    qdb_step(db, "UPDATE messages SET warned = ?2 WHERE id = ?1", message, warned, NULL,
		     NULL) >= 0)
		left = qdb_step(db, "SELECT 1 FROM recipients WHERE message = ?1 AND kind = 'remote'"
				    " AND status IN ('pending', 'sending') LIMIT 1", message, 0, NULL, NULL);
	if (left >= 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
		*done = left == 0;
		return 0;
	}
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* "45s", "3m", "2h", "4d": ages and waits as an operator reads them. */
static void human_time(int64_t seconds, char *buf, size_t size)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds < 120)
		snprintf(buf, size, "%llds", (long long)seconds);
	else if (seconds < 2 * 3600)
		snprintf(buf, size, "%lldm", (long long)(seconds / 60));
	else if (seconds < 2 * 86400)
		snprintf(buf, size, "%lldh", (long long)(seconds / 3600));
	else
		snprintf(buf, size, "%lldd", (long long)(seconds / 86400));
}

/* A reply as one printable line (it came from a stranger). */
static void printable_copy(const unsigned char *in, char *out, size_t size)
{
	size_t o = 0;
	for (; in && *in && o + 1 < size; in++)
		out[o++] = *in < ' ' || *in == 0x7f ? '?' : (char)*in;
	out[o] = '\0';
}

static void list_row(sqlite3_stmt *st, FILE *out, int64_t now)
{
	char age[24], next[32], wait[24], reply[SMTP_LIST_REPLY_MAX];
	int64_t next_try = sqlite3_column_int64(st, 3);
	const char *status = (const char *)sqlite3_column_text(st, 6);
	human_time(now - sqlite3_column_int64(st, 1), age, sizeof age);
	human_time(next_try - now, wait, sizeof wait);
	if (status && strcmp(status, "sending") == 0)
		snprintf(next, sizeof next, "sending");
	else if (next_try <= now)
		snprintf(next, sizeof next, "now");
	else
		snprintf(next, sizeof next, "in %s", wait);
	printable_copy(sqlite3_column_text(st, 5), reply, sizeof reply);
	fprintf(out, "%-7lld %-5s %-5d %-9s %-28s %s\n", (long long)sqlite3_column_int64(st, 0), age,
		sqlite3_column_int(st, 2), next, (const char *)sqlite3_column_text(st, 4),
		reply[0] ? reply : "-");
}

long qdb_list(sqlite3 *db, FILE *out, int64_t now)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT r.message, m.time, r.attempts, r.next_try, r.address,"
				   " r.last_reply, r.status, m.size FROM recipients r"
				   " JOIN messages m ON m.id = r.message WHERE r.kind = 'remote'"
				   " AND r.status IN ('pending', 'sending') ORDER BY r.message, r.id",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	long rows = 0, messages = 0;
	int64_t last = -1;
	unsigned long long bytes = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (rows++ == 0)
			fprintf(out, "%-7s %-5s %-5s %-9s %-28s %s\n", "ID", "AGE", "TRIES", "NEXT TRY",
				"RECIPIENT", "LAST REPLY");
		if (sqlite3_column_int64(st, 0) != last) {
			last = sqlite3_column_int64(st, 0);
			messages++;
			bytes += (unsigned long long)sqlite3_column_int64(st, 7);
		}
		list_row(st, out, now);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (rows == 0)
		fprintf(out, "Mail queue is empty\n");
	else
		fprintf(out, "-- %ld recipient%s in %ld message%s, %llu KiB\n", rows, rows == 1 ? "" : "s",
			messages, messages == 1 ? "" : "s", (bytes + 1023) / 1024);
	return rows;
}

long qdb_due(sqlite3 *db, int64_t now)
{
	int64_t stale = 0, pending = 0;
	if (qdb_step(db, "SELECT count(DISTINCT message) FROM recipients WHERE " DUE_STALE, 0, now,
		     NULL, &stale) < 0 ||
	    qdb_step(db, "SELECT count(DISTINCT message) FROM recipients WHERE " DUE_PENDING, 0, now,
		     NULL, &pending) < 0)
		return -1;
	return (long)(stale + pending);
}

enum qdb_file_state qdb_file_state(sqlite3 *db, const char *file)
{
	int64_t id = 0;
	int found = qdb_step(db, "SELECT id FROM messages WHERE queue_file = ?3", 0, 0, file, &id);
	if (found <= 0)
		return found == 0 ? QDB_FILE_UNKNOWN : QDB_FILE_ERROR;
	int left = qdb_step(db, "SELECT 1 FROM recipients WHERE message = ?1 AND kind = 'remote'"
				" AND status IN ('pending', 'sending') LIMIT 1", id, 0, NULL, NULL);
	return left < 0 ? QDB_FILE_ERROR : left ? QDB_FILE_QUEUED : QDB_FILE_DONE;
}
