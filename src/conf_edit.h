/* conf_edit.h - changing one file of the configuration directory so that a
 * crash at any instant leaves the old file or the new one, never a mix,
 * and two programs changing it at once do not lose each other's lines
 * (mailpipe-user: users, mailpipe-dkim-key: dkim):
 *
 *   conf_edit_init   the paths: DIR/NAME, DIR/NAME.new, DIR/NAME.lock
 *   conf_edit_lock   an exclusive flock on NAME.lock (made 0600), waiting
 *                    while another writer holds it
 *   conf_edit_load   NAME read again under the lock, line by line
 *   ...              the caller changes lines[] (conf_edit_append)
 *   conf_edit_save   NAME.new with the old file's mode, owner and group (a
 *                    new file: new_mode and the directory's group), fsync,
 *                    rename over NAME, fsync the directory
 *   conf_edit_free   the lines freed, the lock released
 *
 * Each returns 0, or a sysexits(3) code after one line "PROG: problem" on
 * standard error. */
#ifndef MAILPIPE_CONF_EDIT_H
#define MAILPIPE_CONF_EDIT_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

struct conf_edit {
	const char *prog;          /* for the messages */
	char dir[PATH_MAX];
	char path[PATH_MAX];       /* DIR/NAME */
	char tmp[PATH_MAX];        /* DIR/NAME.new */
	char lock_path[PATH_MAX];  /* DIR/NAME.lock */
	char **lines;              /* every line as it was, without its newline */
	size_t nlines;
	struct stat st;            /* the old file's mode and owner, to keep */
	int existed;
	int lock;                  /* the lock's fd, or -1 */
	int renamed;               /* conf_edit_save got as far as the rename */
};

int conf_edit_init(struct conf_edit *e, const char *prog, const char *dir, const char *name);
int conf_edit_lock(struct conf_edit *e);
int conf_edit_load(struct conf_edit *e);
int conf_edit_append(struct conf_edit *e, const char *text);
int conf_edit_save(struct conf_edit *e, mode_t new_mode);
void conf_edit_free(struct conf_edit *e);

/* For a program that holds a secret (a password, a private key) while it
 * edits: no core dumps, files made for nobody but the user, and a closed
 * pipe an error rather than a signal. */
void conf_edit_guard_process(void);

#endif
