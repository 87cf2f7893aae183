/* store_db.h - mail.db, the SQLite index of accepted messages.
 *
 * messages: one row per accepted message; recipients: one row per
 * recipient with its delivery state.  WAL mode, synchronous=FULL: a
 * committed row survives a crash. */
#ifndef MAILPIPE_STORE_DB_H
#define MAILPIPE_STORE_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

struct db_message {
	int64_t time;
	const char *client, *helo, *sender;
	uint64_t size;
	const char *message_id, *subject;
	const char *queue_file;   /* NULL when no recipient is remote */
};

struct db_recipient {
	const char *address;
	int remote;
	const char *mailbox_file; /* the Maildir file, for local ones */
};

/* Opens (creating if needed) state/mail.db; NULL with err filled. */
sqlite3 *db_open(const char *state, char *err, size_t errsize);
/* Inserts the message and its recipients in one committed transaction;
 * 0 with *id set, -1 with err filled, or -2 when the disk (or a size
 * limit) is full: the caller says 452, not 451. */
int db_insert(sqlite3 *db, const struct db_message *m, const struct db_recipient *r,
	      size_t n, int64_t *id, char *err, size_t errsize);

#endif
