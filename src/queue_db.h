/* queue_db.h - the outbound queue in mail.db, as smtp-relay sees it.
 *
 * A run claims the due recipients of one message at a time (status
 * 'sending', claim = "pid:start-time" of the claiming process) in one
 * transaction, so two runs never send the same recipient.  A claim whose
 * process is gone (killed, crashed) is taken over by the next run. */
#ifndef MAILPIPE_QUEUE_DB_H
#define MAILPIPE_QUEUE_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"

#define QDB_RCPTS_MAX 1000   /* recipients claimed at once (RESOLVE_DEST_MAX) */
#define SMTP_LIST_REPLY_MAX 512

struct qdb_rcpt {
	int64_t id;
	char address[CONF_ADDR_MAX];
	int attempts;
};

struct qdb_message {
	int64_t id, time;
	char sender[CONF_ADDR_MAX];
	char queue_file[256];
	int warned;
	struct qdb_rcpt rcpts[QDB_RCPTS_MAX];
	size_t nrcpts;
};

struct qdb_outcome {
	int64_t rcpt;
	const char *status;      /* "delivered", "bounced" or "pending" */
	int attempts;
	int64_t next_try;
	const char *last_reply;
};

/* Makes this process's claim token and teaches the connection
 * claim_alive(); 0 or -1. */
int qdb_prepare(sqlite3 *db, char *token, size_t size);
/* Runs sql with ?1 = a, ?2 = b and ?3 = text (when not NULL; a parameter
 * the SQL does not name is left unbound); the first column of the first
 * row into *out (if not NULL).  1 with a row, 0 without, -1 on error. */
int qdb_step(sqlite3 *db, const char *sql, int64_t a, int64_t b, const char *text, int64_t *out);
/* -f: every pending remote recipient is due now. */
int qdb_flush(sqlite3 *db, int64_t now);
/* How many messages have recipients due (a bound on useful workers). */
long qdb_due(sqlite3 *db, int64_t now);
/* Claims the due recipients of the next message: 1 with m filled, 0 when
 * nothing is due, -1 on a database error. */
int qdb_claim(sqlite3 *db, const char *token, int64_t now, struct qdb_message *m);
/* Records the outcomes in one transaction.  When the message has no
 * recipient left to send, *done is set: the caller removes the file after
 * this returns (a run killed in between leaves it to qdb_file_state). */
int qdb_record(sqlite3 *db, int64_t message, const struct qdb_outcome *o, size_t n,
	       int warned, int *done);
enum qdb_file_state {
	QDB_FILE_QUEUED,   /* a recipient still needs it */
	QDB_FILE_DONE,     /* its message is finished: remove it */
	QDB_FILE_UNKNOWN,  /* no message names it: a mail-store not yet committed, or killed */
	QDB_FILE_ERROR,
};
/* What a file in queue/ is, for the sweep of leftovers. */
enum qdb_file_state qdb_file_state(sqlite3 *db, const char *file);
/* The -l listing; returns the number of recipients listed, -1 on error. */
long qdb_list(sqlite3 *db, FILE *out, int64_t now);

#endif
