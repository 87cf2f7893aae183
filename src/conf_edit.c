/* conf_edit.c - atomic changes to a file of the configuration directory. */
#include "conf_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf.h"
#include "fsutil.h"

#define EDIT_LINES_MAX 1000000

static int die(const struct conf_edit *e, int status, const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", e->prog);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return status;
}

int conf_edit_init(struct conf_edit *e, const char *prog, const char *dir, const char *name)
{
	memset(e, 0, sizeof *e);
	e->prog = prog;
	e->lock = -1;
	char tmp_name[256], lock_name[256];
	snprintf(tmp_name, sizeof tmp_name, "%s.new", name);
	snprintf(lock_name, sizeof lock_name, "%s.lock", name);
	if (snprintf(e->dir, sizeof e->dir, "%s", dir) >= (int)sizeof e->dir ||
	    path_join(e->path, sizeof e->path, dir, name) < 0 ||
	    path_join(e->tmp, sizeof e->tmp, dir, tmp_name) < 0 ||
	    path_join(e->lock_path, sizeof e->lock_path, dir, lock_name) < 0)
		return die(e, EX_USAGE, "%s: name too long", dir);
	return 0;
}

int conf_edit_lock(struct conf_edit *e)
{
	e->lock = open(e->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (e->lock < 0 || flock(e->lock, LOCK_EX) < 0)
		return die(e, EX_CANTCREAT, "cannot lock %s", e->lock_path);
	return 0;
}

int conf_edit_append(struct conf_edit *e, const char *text)
{
	if (e->nlines >= EDIT_LINES_MAX)
		return EX_OSERR;
	char **grown = realloc(e->lines, (e->nlines + 1) * sizeof *grown);
	if (!grown)
		return EX_OSERR;
	e->lines = grown;
	e->lines[e->nlines] = strdup(text);
	if (!e->lines[e->nlines])
		return EX_OSERR;
	e->nlines++;
	return 0;
}

int conf_edit_load(struct conf_edit *e)
{
	FILE *fp = fopen(e->path, "r");
	e->existed = fp != NULL;
	if (!fp)
		return errno == ENOENT ? 0 : die(e, EX_NOINPUT, "cannot read %s", e->path);
	fstat(fileno(fp), &e->st);
	char *line = NULL;
	size_t size = 0;
	ssize_t len;
	int rc = 0;
	while (rc == 0 && (len = getline(&line, &size, fp)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if ((size_t)len > CONF_LINE_MAX || memchr(line, '\0', (size_t)len))
			rc = die(e, EX_DATAERR, "%s: a line is too long or holds a NUL byte", e->path);
		else if (conf_edit_append(e, line) != 0)
			rc = die(e, EX_OSERR, "%s: too many lines or out of memory", e->path);
	}
	if (rc == 0 && ferror(fp))
		rc = die(e, EX_NOINPUT, "cannot read %s", e->path);
	free(line);
	fclose(fp);
	return rc;
}

int conf_edit_save(struct conf_edit *e, mode_t new_mode)
{
	mode_t mode = e->existed ? (e->st.st_mode & 07777) : new_mode;
	/* a new file takes the configuration directory's group (e.g. mailpipe),
	 * so the servers can read it */
	struct stat dir;
	gid_t group = e->existed ? e->st.st_gid
		      : stat(e->dir, &dir) == 0 ? dir.st_gid : (gid_t)-1;
	uid_t owner = e->existed ? e->st.st_uid : (uid_t)-1;
	int fd = open(e->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return die(e, EX_CANTCREAT, "cannot create %s", e->tmp);
	int failed = fchmod(fd, mode) < 0 || (geteuid() == 0 && fchown(fd, owner, group) < 0);
	for (size_t i = 0; i < e->nlines && !failed; i++)
		failed = write_all(fd, e->lines[i], strlen(e->lines[i])) < 0 ||
			 write_all(fd, "\n", 1) < 0;
	failed = failed || fsync(fd) < 0;
	failed = close(fd) < 0 || failed;
	if (failed || rename(e->tmp, e->path) < 0) {
		unlink(e->tmp);
		return die(e, EX_IOERR, "could not write %s; it is unchanged", e->path);
	}
	e->renamed = 1;
	if (fsync_dir(e->dir) < 0)
		return die(e, EX_IOERR, "could not make %s durable", e->path);
	return 0;
}

void conf_edit_free(struct conf_edit *e)
{
	for (size_t i = 0; i < e->nlines; i++)
		free(e->lines[i]);
	free(e->lines);
	e->lines = NULL;
	e->nlines = 0;
	if (e->lock >= 0)
		close(e->lock);
	e->lock = -1;
}

void conf_edit_guard_process(void)
{
	struct rlimit no_core = { 0, 0 };
	setrlimit(RLIMIT_CORE, &no_core);
	umask(077);
	signal(SIGPIPE, SIG_IGN);
}
