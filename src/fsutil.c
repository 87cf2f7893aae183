/* fsutil.c - durable-write helpers. */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

ssize_t read_some(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t r = read(fd, buf, n);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

ssize_t pread_some(int fd, void *buf, size_t n, off_t off)
{
	ssize_t got;
	do
		got = pread(fd, buf, n, off);
	while (got < 0 && errno == EINTR);
	return got;
}

int temp_open(const char *prog, char *path, size_t size)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	int n = snprintf(path, size, "%s/%s.", dir, prog);
	if (n < 0 || (size_t)n + 7 > size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(path + n, 'X', 6);   /* the six characters mkstemp replaces */
	path[n + 6] = '\0';
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (unlink(path) < 0) {   /* else it would outlive us */
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int unnamed_open(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	char path[4096];
	int n = snprintf(path, sizeof path, "%s/spool.", dir);
	if (n < 0 || (size_t)n + 7 > sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(path + n, 'X', 6);   /* mkostemp's template */
	path[n + 6] = '\0';
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* The parent directory of path, in buf ("." when there is no slash). */
static void parent_of(const char *path, char *buf, size_t size)
{
	snprintf(buf, size, "%s", path);
	char *slash = strrchr(buf, '/');
	if (!slash)
		snprintf(buf, size, ".");
	else if (slash == buf)
		buf[1] = '\0';
	else
		*slash = '\0';
}

int make_dirs(const char *path, mode_t mode)
{
	struct stat st;
	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		errno = ENOTDIR;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	char parent[PATH_MAX];
	if (strlen(path) >= sizeof parent) {
		errno = ENAMETOOLONG;
		return -1;
	}
	parent_of(path, parent, sizeof parent);
	if (strcmp(parent, path) != 0 && make_dirs(parent, mode) < 0)
		return -1;
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return -1;
	return fsync_dir(parent);
}

int path_join(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
