/* notify_db.h - the new-mail notices in mail.db, as mail-notify sees them.
 *
 * A notice is a local recipient row (recipients.kind = 'local'): one per
 * mailbox a message was delivered to.  Its notice column is NULL until it
 * is posted; a run claims the due ones (notice 'posting', notice_claim =
 * "pid:start-time", as smtp-relay's claims) in one transaction, so two runs
 * never post the same notice, and a claim whose process is gone is taken
 * over.  Then each one becomes 'posted' in a transaction of its own, right
 * after the server took it: a run killed in between posts it again at
 * worst, with the same Message-ID.  A notice that failed waits 1, 2, 4 ...
 * 60 minutes (notice_next) before the next try; one older than
 * queue_lifetime is given up ('expired').
 */
#ifndef MAILPIPE_NOTIFY_DB_H
#define MAILPIPE_NOTIFY_DB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define NDB_CLAIM_MAX 64        /* notices claimed at once */
#define NDB_TEXT_MAX 1024       /* subject, sender, Message-ID as read (cut) */

struct ndb_notice {
	int64_t rcpt;             /* recipients.id */
	int64_t message;          /* messages.id: the id of the logs and of 250 ... id=N */
	int64_t time;             /* when the message arrived */
	uint64_t size;
	int tries;                /* failed tries before this one */
	char address[CONF_ADDR_MAX];
	char sender[NDB_TEXT_MAX];   /* "" for the null sender */
	char subject[NDB_TEXT_MAX];  /* "" when it had none */
	char message_id[NDB_TEXT_MAX];
};

/* Is any notice due at now?  Asked on a read-only connection, which leaves
 * mail.db itself untouched (mail-notify.path watches it).  1 yes, or when
 * the schema is older and must be upgraded first; 0 no (or no mail.db at
 * all); -1 with err filled. */
int ndb_anything_due(const char *state, int64_t now, char *err, size_t errsize);

/* Makes this process's claim token (qdb_prepare) on the read-write
 * connection of db_open.  0 or -1. */
int ndb_prepare(sqlite3 *db, char *token, size_t size);

/* Gives up the notices still unposted whose message arrived before
 * cutoff; calls fn for each (for the log).  The count, or -1. */
long ndb_expire(sqlite3 *db, int64_t cutoff,
		void (*fn)(int64_t message, const char *address, void *arg), void *arg);

/* Claims up to max due notices (oldest first) and loads them into n.  The
 * number claimed (0: nothing is due), or -1 on a database error. */
int ndb_claim(sqlite3 *db, const char *token, int64_t now, struct ndb_notice *n, size_t max);

/* The server has it. 0 or -1. */
int ndb_posted(sqlite3 *db, int64_t rcpt);
/* It failed: unclaimed, one more try counted, due again at next_try. */
int ndb_failed(sqlite3 *db, int64_t rcpt, int tries, int64_t next_try, const char *reply);
/* Hands back what this run claimed and did not try (the server went
 * away): due again at once. */
int ndb_release(sqlite3 *db, const char *token);

#endif
