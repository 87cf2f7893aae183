/* mailbox.h - a user's Maildir as the webmail sees it: the messages of a
 * folder (the inbox, or a Maildir++ folder such as .Trash and .Sent, as
 * Dovecot keeps them), newest first; one message found by its base name,
 * which is checked so that it can never name a path; marking read (the S
 * flag, in cur/), moving to another folder, adding a new message. */
#ifndef MAILPIPE_MAILBOX_H
#define MAILPIPE_MAILBOX_H

#include <limits.h>
#include <stddef.h>

#define MBOX_NAME_MAX 256

struct mbox_entry {
	char name[MBOX_NAME_MAX];   /* the base name, without ":2,FLAGS" */
	char flags[32];             /* the flags after ":2," ("" in new/) */
	int in_new;
	int has_info;               /* in cur/ with ":2,": not every program writes it */
	long long time;             /* the seconds the name starts with */
	unsigned long long size;    /* its S=, or 0 */
};

struct mbox_list {
	struct mbox_entry *e;
	size_t n, cap;
	size_t unread;
};

/* The folder's directory: the Maildir itself for "" or NULL, else
 * maildir/.NAME for the names the webmail knows (Trash, Sent). */
int mbox_folder_dir(const char *maildir, const char *folder, char *buf, size_t size);
/* 1 when name can be a Maildir base name: no '/', no leading '.'. */
int mbox_name_ok(const char *name);
/* The messages of new/ and cur/, newest first.  0 or -1/errno. */
int mbox_list(const char *dir, struct mbox_list *list);
void mbox_list_free(struct mbox_list *list);
/* Finds name in dir: 0 with the entry and its path, -1 when it is not
 * there (or the name is not a name). */
int mbox_find(const char *dir, const char *name, struct mbox_entry *e, char *path, size_t size);
/* The path of e in dir. */
int mbox_path(const char *dir, const struct mbox_entry *e, char *path, size_t size);
/* Read: into cur/ with the S flag; path is updated.  0 or -1/errno. */
int mbox_mark_seen(const char *dir, struct mbox_entry *e, char *path, size_t size);
/* Moves e into the folder to_dir (made when missing), flags kept. */
int mbox_move(const char *dir, const struct mbox_entry *e, const char *to_dir);
/* A new message (fd, from offset 0) into to_dir/cur with flags, made
 * durable (fsync the file and the directory). */
int mbox_add(const char *to_dir, int fd, const char *flags, const char *host);

#endif
