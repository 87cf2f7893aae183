/* notify_db.c - claims and outcomes of mail-notify's notices in mail.db. */
#include "notify_db.h"

#include <stdio.h>
#include <string.h>

#include "queue_db.h"

#define NDB_SCHEMA_VERSION 3   /* the first with the notice columns (store_db.c) */
#define NDB_BUSY_MS 30000

/* A notice a run may take: not posted and due, or claimed by a run that
 * is gone.  (Two queries, each using the index on notice.) */
#define DUE_PENDING "kind = 'local' AND notice IS NULL AND (notice_next IS NULL OR notice_next <= ?1)"
#define DUE_STALE "kind = 'local' AND notice = 'posting' AND NOT claim_alive(notice_claim)"

int ndb_anything_due(const char *state, int64_t now, char *err, size_t errsize)
{
	char path[4096], token[64];
	snprintf(path, sizeof path, "%s/mail.db", state);
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_CANTOPEN) {
		sqlite3_close(db);
		return 0;   /* no mail.db: nothing was ever delivered */
	}
	int64_t version = 0, found = 0;
	int due = -1;
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, NDB_BUSY_MS);
		if (qdb_step(db, "PRAGMA user_version", 0, 0, NULL, &version) == 1 &&
		    version < NDB_SCHEMA_VERSION)
			due = 1;   /* the read-write connection upgrades it, then we look */
		else if (qdb_prepare(db, token, sizeof token) == 0 &&
			 qdb_step(db, "SELECT EXISTS (SELECT 1 FROM recipients WHERE " DUE_PENDING ")"
				      " OR EXISTS (SELECT 1 FROM recipients WHERE " DUE_STALE ")",
				  now, 0, NULL, &found) == 1)
			due = found != 0;
	}
	if (due < 0)
		snprintf(err, errsize, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_close(db);
	return due;
}

int ndb_prepare(sqlite3 *db, char *token, size_t size)
{
	return qdb_prepare(db, token, size);
}

long ndb_expire(sqlite3 *db, int64_t cutoff,
		void (*fn)(int64_t message, const char *address, void *arg), void *arg)
{
	sqlite3_stmt *st;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	/* (each half of the union searches the index on notice) */
	if (sqlite3_prepare_v2(db, "UPDATE recipients SET notice = 'expired', notice_claim = NULL"
				   " WHERE id IN (SELECT r.id FROM recipients r JOIN messages m"
				   " ON m.id = r.message WHERE r.kind = 'local' AND r.notice IS NULL"
				   " AND m.time < ?1 UNION ALL SELECT r.id FROM recipients r JOIN messages m"
				   " ON m.id = r.message WHERE r.kind = 'local' AND r.notice = 'posting'"
				   " AND NOT claim_alive(r.notice_claim) AND m.time < ?1)"
				   " RETURNING message, address", -1, &st, NULL) != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	sqlite3_bind_int64(st, 1, cutoff);
	long n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		if (fn)
			fn(sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1), arg);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return n;
}

static void copy_text(char *out, size_t size, const unsigned char *text)
{
	snprintf(out, size, "%s", text ? (const char *)text : "");
}

static int load_claimed(sqlite3 *db, const char *token, struct ndb_notice *n, size_t max)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT r.id, r.message, r.address, r.notice_tries, m.time, m.size,"
				   " m.sender, m.subject, m.message_id FROM recipients r"
				   " JOIN messages m ON m.id = r.message"
				   " WHERE r.kind = 'local' AND r.notice = 'posting' AND r.notice_claim = ?1"
				   " ORDER BY r.id", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
	size_t count = 0;
	int rc = SQLITE_DONE;
	while (count < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ndb_notice *x = &n[count++];
		x->rcpt = sqlite3_column_int64(st, 0);
		x->message = sqlite3_column_int64(st, 1);
		copy_text(x->address, sizeof x->address, sqlite3_column_text(st, 2));
		x->tries = sqlite3_column_int(st, 3);
		x->time = sqlite3_column_int64(st, 4);
		int64_t size = sqlite3_column_int64(st, 5);
		x->size = size > 0 ? (uint64_t)size : 0;
		copy_text(x->sender, sizeof x->sender, sqlite3_column_text(st, 6));
		copy_text(x->subject, sizeof x->subject, sqlite3_column_text(st, 7));
		copy_text(x->message_id, sizeof x->message_id, sqlite3_column_text(st, 8));
	}
	if (count < max && rc != SQLITE_DONE)
		count = (size_t)-1;
	sqlite3_finalize(st);
	return count == (size_t)-1 ? -1 : (int)count;
}

int ndb_claim(sqlite3 *db, const char *token, int64_t now, struct ndb_notice *n, size_t max)
{
	char sql[512];
	/* As qdb_claim: a claim lost in a power cut only makes the notice due
	 * again, so its commit is not synced; the outcome's is. */
	if (sqlite3_exec(db, "PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
		return -1;
	}
	int rc = 0;
	const char *due[] = { DUE_STALE, DUE_PENDING };
	for (size_t i = 0; i < 2 && rc == 0; i++) {
		snprintf(sql, sizeof sql, "UPDATE recipients SET notice = 'posting', notice_claim = ?3"
					  " WHERE id IN (SELECT id FROM recipients WHERE %s"
					  " ORDER BY id LIMIT %zu)", due[i], max);
		if (qdb_step(db, sql, now, 0, token, NULL) < 0)
			rc = -1;
	}
	if (rc == 0)
		rc = load_claimed(db, token, n, max);
	if (rc < 0 || sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		rc = -1;
	}
	if (sqlite3_exec(db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) != SQLITE_OK)
		rc = -1;
	return rc;
}

int ndb_posted(sqlite3 *db, int64_t rcpt)
{
	return qdb_step(db, "UPDATE recipients SET notice = 'posted', notice_claim = NULL,"
			    " notice_next = NULL, notice_reply = NULL WHERE id = ?1", rcpt, 0, NULL, NULL) < 0
		       ? -1 : 0;
}

int ndb_failed(sqlite3 *db, int64_t rcpt, int tries, int64_t next_try, const char *reply)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "UPDATE recipients SET notice = NULL, notice_claim = NULL,"
				   " notice_tries = ?2, notice_next = ?3, notice_reply = ?4 WHERE id = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, rcpt);
	sqlite3_bind_int(st, 2, tries);
	sqlite3_bind_int64(st, 3, next_try);
	sqlite3_bind_text(st, 4, reply, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int ndb_release(sqlite3 *db, const char *token)
{
	return qdb_step(db, "UPDATE recipients SET notice = NULL, notice_claim = NULL"
			    " WHERE kind = 'local' AND notice = 'posting' AND notice_claim = ?3",
			0, 0, token, NULL) < 0 ? -1 : 0;
}
