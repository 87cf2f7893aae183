/* maildir.h - Maildir delivery: write in tmp/, fsync, rename into new/.
 * File names are time.M<usec>P<pid>Q<n>.<host>,S=<size>. */
#ifndef MAILPIPE_MAILDIR_H
#define MAILPIPE_MAILDIR_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct maildir_file {
	char tmp_path[PATH_MAX];   /* where it is written */
	char new_dir[PATH_MAX];    /* the directory it is renamed into */
	char base[256];            /* time.M<usec>P<pid>Q<n>.<host> */
	char final_path[PATH_MAX]; /* set by maildir_commit */
};

/* state/mailboxes/<domain>/<localpart> for a lowercased local@domain. */
int maildir_for_address(const char *state, const char *address, char *buf, size_t size);
/* Creates dir/{tmp,new,cur} as needed, each new directory made durable. */
int maildir_make(const char *dir);
/* Opens a new file in tmp_dir (mode 0600) that will go into new_dir;
 * returns the fd or -1/errno. */
int maildir_open(const char *tmp_dir, const char *new_dir, const char *host, unsigned q,
		 struct maildir_file *f);
/* Renames the (already fsynced) file into new_dir as base,S=size, never
 * replacing a file.  The caller fsyncs new_dir. */
int maildir_commit(struct maildir_file *f, uint64_t size);

#endif
