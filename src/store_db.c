/* store_db.c - the schema of mail.db and the insert of one message. */
#include "store_db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#define DB_BUSY_MS 30000   /* wait this long for another writer, then 451 */
#define DB_SCHEMA_VERSION 3
#define DB_RETRY_MAX 3000   /* x 10 ms: for what the busy handler does not cover */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS messages ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL,"
	" client TEXT, helo TEXT,"
	" sender TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" message_id TEXT, subject TEXT,"
	" queue_file TEXT,"
	" notified INTEGER NOT NULL DEFAULT 0,"
	" warned INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS recipients ("
	" id INTEGER PRIMARY KEY,"
	" message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
	" address TEXT NOT NULL,"
	" kind TEXT NOT NULL CHECK (kind IN ('local', 'remote')),"
	" status TEXT NOT NULL,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_try INTEGER,"
	" last_reply TEXT,"
	" mailbox_file TEXT,"
	" claim TEXT,"
	" notice TEXT,"
	" notice_claim TEXT,"
	" notice_tries INTEGER NOT NULL DEFAULT 0,"
	" notice_next INTEGER,"
	" notice_reply TEXT);"
	"CREATE INDEX IF NOT EXISTS recipients_pending ON recipients(status, next_try);"
	"CREATE INDEX IF NOT EXISTS recipients_message ON recipients(message);"
	"CREATE INDEX IF NOT EXISTS messages_queue_file ON messages(queue_file);"
	"CREATE INDEX IF NOT EXISTS recipients_notice ON recipients(notice) WHERE kind = 'local';";

/* From version 1 (issue 3): the relay's claims and delay warnings. */
static const char upgrade_from_1[] =
	"ALTER TABLE recipients ADD COLUMN claim TEXT;"
	"ALTER TABLE messages ADD COLUMN warned INTEGER NOT NULL DEFAULT 0;"
	"CREATE INDEX IF NOT EXISTS messages_queue_file ON messages(queue_file);";

/* From version 2 (issue 9): mail-notify's new-mail notices, one per local
 * recipient.  notice is NULL until it is posted ('posted'), while a run
 * posts it ('posting', under notice_claim), or when it was given up
 * ('expired'); rows that were there before are announced like new ones
 * (see mail-notify(8)). */
static const char upgrade_from_2[] =
	"ALTER TABLE recipients ADD COLUMN notice TEXT;"
	"ALTER TABLE recipients ADD COLUMN notice_claim TEXT;"
	"ALTER TABLE recipients ADD COLUMN notice_tries INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE recipients ADD COLUMN notice_next INTEGER;"
	"ALTER TABLE recipients ADD COLUMN notice_reply TEXT;"
	"CREATE INDEX IF NOT EXISTS recipients_notice ON recipients(notice) WHERE kind = 'local';";

static int fail(sqlite3 *db, const char *what, char *err, size_t errsize)
{
	snprintf(err, errsize, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
	return -1;
}

/* Did the last failure come from a full disk or a file size limit? */
static int disk_full(sqlite3 *db)
{
	int sys = sqlite3_system_errno(db);
	return sqlite3_errcode(db) == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT || sys == EFBIG;
}

/* sqlite3_exec, retried while the database is busy: switching to WAL needs
 * an exclusive lock, and SQLite answers BUSY there without waiting. */
static int exec_retry(sqlite3 *db, const char *sql)
{
	int rc = SQLITE_BUSY;
	for (int i = 0; i < DB_RETRY_MAX; i++) {
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return rc;
}

static int schema_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return version;
}

/* Creates the database once: WAL mode, tables, version.  Concurrent first
 * deliveries take turns on an flock, so only one of them does it. */
static int ensure_schema(sqlite3 *db, const char *lock_path, char *err, size_t errsize)
{
	/* a newer mailpipe made it: it only added columns, leave it be */
	if (schema_version(db) >= DB_SCHEMA_VERSION)
		return 0;
	int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) < 0) {
		snprintf(err, errsize, "%s: %s", lock_path, strerror(errno));
		if (lock >= 0)
			close(lock);
		return -1;
	}
	int rc = 0, version = schema_version(db);
	if (version < DB_SCHEMA_VERSION) {
		/* a new database gets the schema; an old one what it lacks, in steps */
		char sql[sizeof schema + sizeof upgrade_from_1 + sizeof upgrade_from_2 + 128];
		snprintf(sql, sizeof sql, "BEGIN IMMEDIATE;%s%sPRAGMA user_version=%d;COMMIT;",
			 version == 1 ? upgrade_from_1 : version == 2 ? "" : schema,
			 version == 1 || version == 2 ? upgrade_from_2 : "", DB_SCHEMA_VERSION);
		if (exec_retry(db, "PRAGMA journal_mode=WAL") != SQLITE_OK)
			rc = fail(db, "set WAL mode", err, errsize);
		else if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			rc = fail(db, "create schema", err, errsize);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		}
	}
	close(lock);   /* releases the flock */
	return rc;
}

sqlite3 *db_open(const char *state, char *err, size_t errsize)
{
	char path[4096], lock_path[4096];
	err[0] = '\0';
	snprintf(path, sizeof path, "%s/mail.db", state);
	snprintf(lock_path, sizeof lock_path, "%s/mail.db.lock", state);
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		fail(db, path, err, errsize);
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, DB_BUSY_MS);
	/* Every mail-store is the last connection to close mail.db, and SQLite
	 * would delete the WAL file at each close, so ext4 allocated and freed
	 * an inode per message (half the CPU of a delivery went to that).  The
	 * WAL file is kept and reset instead. */
	int persist = 1;
	sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
	/* WAL is persistent; synchronous=FULL makes every COMMIT fsync the WAL */
	/* journal_size_limit=0: the kept WAL is truncated after its checkpoint,
	 * so the next mail-store does not checksum stale frames at open */
	if (ensure_schema(db, lock_path, err, errsize) < 0 ||
	    sqlite3_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
			     " PRAGMA journal_size_limit=0;", NULL, NULL, NULL) != SQLITE_OK) {
		if (!*err)
			fail(db, path, err, errsize);
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int insert_message(sqlite3 *db, const struct db_message *m, int64_t *id)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO messages (time, client, helo, sender, size, message_id,"
			       " subject, queue_file) VALUES (?,?,?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, m->time);
	bind_text(st, 2, m->client);
	bind_text(st, 3, m->helo);
	bind_text(st, 4, m->sender);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)m->size);
	bind_text(st, 6, m->message_id);
	bind_text(st, 7, m->subject);
	bind_text(st, 8, m->queue_file);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	*id = sqlite3_last_insert_rowid(db);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int insert_recipients(sqlite3 *db, int64_t id, int64_t now,
			     const struct db_recipient *r, size_t n)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO recipients (message, address, kind, status, next_try,"
			       " mailbox_file) VALUES (?,?,?,?,?,?)", -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc = SQLITE_DONE;
	for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, r[i].address);
		bind_text(st, 3, r[i].remote ? "remote" : "local");
		bind_text(st, 4, r[i].remote ? "pending" : "delivered");
		if (r[i].remote)
			sqlite3_bind_int64(st, 5, now);
		else
			sqlite3_bind_null(st, 5);
		bind_text(st, 6, r[i].mailbox_file);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int db_insert(sqlite3 *db, const struct db_message *m, const struct db_recipient *r,
	      size_t n, int64_t *id, char *err, size_t errsize)
{
	const char *step = "begin";
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK) {
		step = "insert";
		if (insert_message(db, m, id) == 0 && insert_recipients(db, *id, m->time, r, n) == 0) {
			step = "commit";
			if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
				return 0;
		}
	}
	fail(db, step, err, errsize);
	int full = disk_full(db);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return full ? -2 : -1;
}
