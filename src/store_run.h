/* store_run.h - hand a spooled message to mail-store and turn its exit
 * code into the SMTP reply of DESIGN.md (Durability). */
#ifndef MAILPIPE_STORE_RUN_H
#define MAILPIPE_STORE_RUN_H

#include <stddef.h>

struct store_result {
	int status;        /* exit code, or -1 when killed by a signal or not run */
	char id[24];       /* the message id printed by mail-store (digits) */
};

struct store_reply {
	int code;
	const char *enhanced;
	const char *text;
};

/* The path of a program of ours: $env, else beside this program's real
 * path (symbolic links followed), else name alone (looked up in $PATH). */
void program_path(const char *name, const char *env, char *buf, size_t size);
/* The path of mail-store: $MAILPIPE_STORE, else beside this program. */
void store_program(char *buf, size_t size);

/* Runs mail-store with msg_fd as its stdin (from its current offset);
 * waits for it.  inbound: mail from the Internet, never DKIM-signed
 * (mail-store -I).  0 when it ran (result->status says how it ended), -1
 * when it could not be started. */
int store_run(const char *program, int msg_fd, const char *sender, const char *client,
	      const char *helo, int inbound, char *const *rcpts, size_t nrcpts,
	      struct store_result *result);

/* The reply for a result (0 -> 250, 65 -> 554 5.6.0, ...). */
const struct store_reply *store_reply_for(const struct store_result *result);

#endif
