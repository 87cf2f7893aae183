/* maildir.c - unique names and the tmp -> new rename of Maildir delivery. */
#include "maildir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "fsutil.h"

int maildir_for_address(const char *state, const char *address, char *buf, size_t size)
{
	const char *at = strrchr(address, '@');
	if (!at || at == address || strchr(address, '/')) {
		errno = EINVAL;
		return -1;
	}
	int n = snprintf(buf, size, "%s/mailboxes/%s/%.*s", state, at + 1,
			 (int)(at - address), address);
	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int maildir_make(const char *dir)
{
	static const char *const subdirs[] = { "tmp", "new", "cur" };
	char path[PATH_MAX];
	for (size_t i = 0; i < 3; i++) {
		if (snprintf(path, sizeof path, "%s/%s", dir, subdirs[i]) >= (int)sizeof path) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (make_dirs(path, 0700) < 0)
			return -1;
	}
	return 0;
}

/* The host part of a Maildir name: '/' and ':' escaped as the spec says. */
static void host_part(const char *host, char *buf, size_t size)
{
	size_t k = 0;
	for (const char *p = host; *p && k + 5 < size; p++) {
		if (*p == '/')
			k += (size_t)snprintf(buf + k, size - k, "\\057");
		else if (*p == ':')
			k += (size_t)snprintf(buf + k, size - k, "\\072");
		else
			buf[k++] = *p;
	}
	buf[k] = '\0';
}

int maildir_open(const char *tmp_dir, const char *new_dir, const char *host, unsigned q,
		 struct maildir_file *f)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	char h[128];
	host_part(host, h, sizeof h);
	snprintf(f->base, sizeof f->base, "%lld.M%ldP%ldQ%u.%s", (long long)tv.tv_sec,
		 (long)tv.tv_usec, (long)getpid(), q, h);
	if (snprintf(f->tmp_path, sizeof f->tmp_path, "%s/%s", tmp_dir, f->base) >= (int)sizeof f->tmp_path ||
	    snprintf(f->new_dir, sizeof f->new_dir, "%s", new_dir) >= (int)sizeof f->new_dir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	f->final_path[0] = '\0';
	return open(f->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

int maildir_commit(struct maildir_file *f, uint64_t size)
{
	if (snprintf(f->final_path, sizeof f->final_path, "%s/%s,S=%llu", f->new_dir, f->base,
		     (unsigned long long)size) >= (int)sizeof f->final_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* link, not rename: it never replaces an existing file */
	if (link(f->tmp_path, f->final_path) < 0) {
		f->final_path[0] = '\0';
		return -1;
	}
	unlink(f->tmp_path);
	return 0;
}
