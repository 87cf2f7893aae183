/* mailbox.c - the webmail's view of a Maildir. */
#include "mailbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "maildir.h"

#define LIST_MAX 1000000   /* entries of one folder we look at, at most */

int mbox_folder_dir(const char *maildir, const char *folder, char *buf, size_t size)
{
	if (!folder || !*folder)
		return snprintf(buf, size, "%s", maildir) < (int)size ? 0 : -1;
	if (strcmp(folder, "Trash") != 0 && strcmp(folder, "Sent") != 0) {
		errno = EINVAL;
		return -1;
	}
	return snprintf(buf, size, "%s/.%s", maildir, folder) < (int)size ? 0 : -1;
}

int mbox_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= MBOX_NAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9') || strchr("._,=-\\", name[i])))
			return 0;
	return 1;
}

/* Splits a directory entry into name and flags; 0 when it is no message. */
static int parse_entry(const char *d_name, int in_new, struct mbox_entry *e)
{
	if (d_name[0] == '.')
		return 0;
	const char *info = strstr(d_name, ":2,");
	size_t n = info ? (size_t)(info - d_name) : strlen(d_name);
	if (n == 0 || n >= sizeof e->name)
		return 0;
	memcpy(e->name, d_name, n);
	e->name[n] = '\0';
	if (!mbox_name_ok(e->name))
		return 0;
	snprintf(e->flags, sizeof e->flags, "%s", info ? info + 3 : "");
	e->in_new = in_new;
	e->has_info = info != NULL;
	e->time = strtoll(e->name, NULL, 10);
	const char *s = strstr(e->name, ",S=");
	e->size = s ? strtoull(s + 3, NULL, 10) : 0;
	return 1;
}

static int add_entry(struct mbox_list *l, const struct mbox_entry *e)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct mbox_entry *grown = cap <= LIST_MAX ? realloc(l->e, cap * sizeof *grown) : NULL;
		if (!grown)
			return -1;
		l->e = grown;
		l->cap = cap;
	}
	l->e[l->n++] = *e;
	l->unread += e->in_new || !strchr(e->flags, 'S');
	return 0;
}

static int read_sub(const char *dir, const char *sub, struct mbox_list *l)
{
	char path[PATH_MAX];
	if (path_join(path, sizeof path, dir, sub) < 0)
		return -1;
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	struct dirent *de;
	struct mbox_entry e;
	int rc = 0;
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (parse_entry(de->d_name, sub[0] == 'n', &e))
			rc = add_entry(l, &e);
	closedir(d);
	return rc;
}

/* The microseconds of "time.M<usec>P..." (Maildir's recommended names,
 * ours and Dovecot's), or -1: names of one second sort by it, since the
 * digits are not padded ("M99999" is before "M100000"). */
static long usec_of(const char *name)
{
	const char *m = strstr(name, ".M");
	return m && m[2] >= '0' && m[2] <= '9' ? strtol(m + 2, NULL, 10) : -1;
}

static int newest_first(const void *a, const void *b)
{
	const struct mbox_entry *x = a, *y = b;
	if (x->time != y->time)
		return x->time < y->time ? 1 : -1;
	long ux = usec_of(x->name), uy = usec_of(y->name);
	if (ux != uy)
		return ux < uy ? 1 : -1;
	return -strcmp(x->name, y->name);
}

int mbox_list(const char *dir, struct mbox_list *list)
{
	memset(list, 0, sizeof *list);
	if (read_sub(dir, "new", list) < 0 || read_sub(dir, "cur", list) < 0)
		return -1;
	if (list->n)
		qsort(list->e, list->n, sizeof *list->e, newest_first);
	return 0;
}

void mbox_list_free(struct mbox_list *list)
{
	free(list->e);
	memset(list, 0, sizeof *list);
}

int mbox_path(const char *dir, const struct mbox_entry *e, char *path, size_t size)
{
	int n = e->in_new ? snprintf(path, size, "%s/new/%s", dir, e->name)
		: e->has_info ? snprintf(path, size, "%s/cur/%s:2,%s", dir, e->name, e->flags)
			      : snprintf(path, size, "%s/cur/%s", dir, e->name);
	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* cur/ holds name:2,FLAGS: the entry whose base is name. */
static int find_in_cur(const char *dir, const char *name, struct mbox_entry *e)
{
	char path[PATH_MAX];
	if (path_join(path, sizeof path, dir, "cur") < 0)
		return -1;
	DIR *d = opendir(path);
	if (!d)
		return -1;
	size_t n = strlen(name);
	struct dirent *de;
	int found = -1;
	while (found < 0 && (de = readdir(d)) != NULL)
		if (strncmp(de->d_name, name, n) == 0 && (de->d_name[n] == ':' || de->d_name[n] == '\0'))
			found = parse_entry(de->d_name, 0, e) ? 0 : -1;
	closedir(d);
	return found;
}

int mbox_find(const char *dir, const char *name, struct mbox_entry *e, char *path, size_t size)
{
	if (!name || !mbox_name_ok(name))
		return -1;
	char p[PATH_MAX];
	struct stat st;
	if (snprintf(p, sizeof p, "%s/new/%s", dir, name) < (int)sizeof p && stat(p, &st) == 0 &&
	    S_ISREG(st.st_mode))
		parse_entry(name, 1, e);
	else if (find_in_cur(dir, name, e) < 0)
		return -1;
	return mbox_path(dir, e, path, size);
}

/* Both directories of a rename made durable. */
static int sync_dirs(const char *a, const char *b)
{
	char da[PATH_MAX], db[PATH_MAX];
	snprintf(da, sizeof da, "%s", a);
	snprintf(db, sizeof db, "%s", b);
	char *sa = strrchr(da, '/'), *sb = strrchr(db, '/');
	if (!sa || !sb)
		return -1;
	*sa = *sb = '\0';
	return fsync_dir(da) < 0 || (strcmp(da, db) != 0 && fsync_dir(db) < 0) ? -1 : 0;
}

/* Flags are kept in ASCII order (the Maildir spec). */
static void add_flag(char *flags, size_t size, char flag)
{
	size_t n = strlen(flags);
	if (strchr(flags, flag) || n + 2 > size)
		return;
	size_t i = 0;
	while (i < n && flags[i] < flag)
		i++;
	memmove(flags + i + 1, flags + i, n - i + 1);
	flags[i] = flag;
}

int mbox_mark_seen(const char *dir, struct mbox_entry *e, char *path, size_t size)
{
	if (!e->in_new && strchr(e->flags, 'S'))
		return 0;
	struct mbox_entry seen = *e;
	seen.in_new = 0;
	seen.has_info = 1;
	add_flag(seen.flags, sizeof seen.flags, 'S');
	char to[PATH_MAX];
	if (mbox_path(dir, &seen, to, sizeof to) < 0 || rename(path, to) < 0 || sync_dirs(path, to) < 0)
		return -1;
	*e = seen;
	return snprintf(path, size, "%s", to) < (int)size ? 0 : -1;
}

/* Maildir++: a folder is a Maildir with a maildirfolder file. */
static int make_folder(const char *dir)
{
	char marker[PATH_MAX];
	if (maildir_make(dir) < 0 || path_join(marker, sizeof marker, dir, "maildirfolder") < 0)
		return -1;
	int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

int mbox_move(const char *dir, const struct mbox_entry *e, const char *to_dir)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct mbox_entry moved = *e;
	moved.in_new = 0;   /* in cur/ of the folder, read or not as it was */
	moved.has_info = 1;
	if (make_folder(to_dir) < 0 || mbox_path(dir, e, from, sizeof from) < 0 ||
	    mbox_path(to_dir, &moved, to, sizeof to) < 0)
		return -1;
	if (link(from, to) < 0)   /* never replaces a file there */
		return -1;
	if (unlink(from) < 0 || sync_dirs(from, to) < 0)
		return -1;
	return 0;
}

static int copy_fd(int in, int out, unsigned long long *size)
{
	char buf[STREAM_BUF];
	off_t off = 0;
	for (;;) {
		ssize_t n = pread_some(in, buf, sizeof buf, off);
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		if (write_all(out, buf, (size_t)n) < 0)
			return -1;
		off += n;
	}
	*size = (unsigned long long)off;
	return 0;
}

int mbox_add(const char *to_dir, int fd, const char *flags, const char *host)
{
	char tmp[PATH_MAX], cur[PATH_MAX], final[PATH_MAX];
	struct maildir_file f = { 0 };
	if (make_folder(to_dir) < 0 || path_join(tmp, sizeof tmp, to_dir, "tmp") < 0 ||
	    path_join(cur, sizeof cur, to_dir, "cur") < 0)
		return -1;
	int out = maildir_open(tmp, cur, host, 0, &f);
	if (out < 0)
		return -1;
	unsigned long long size = 0;
	int rc = copy_fd(fd, out, &size) < 0 || fsync(out) < 0 ? -1 : 0;
	if (close(out) < 0)
		rc = -1;
	if (rc == 0 && snprintf(final, sizeof final, "%s/%s,S=%llu:2,%s", cur, f.base, size, flags) >=
			       (int)sizeof final)
		rc = -1;
	if (rc == 0 && (link(f.tmp_path, final) < 0 || fsync_dir(cur) < 0))
		rc = -1;
	unlink(f.tmp_path);
	return rc;
}
