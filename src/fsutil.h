/* fsutil.h - small file-system helpers for durable writes. */
#ifndef MAILPIPE_FSUTIL_H
#define MAILPIPE_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* The size of the buffers that stream a message: every one of the ~40
 * processes of 20 concurrent sessions touches its buffers, so they are
 * kept small; 16 KiB reads cost little more than 64 KiB ones. */
#define STREAM_BUF 16384

/* Writes all n bytes, retrying on EINTR and short writes; 0 or -1/errno. */
int write_all(int fd, const void *buf, size_t n);
/* Reads up to n bytes, retrying on EINTR; the count, 0 at EOF, -1/errno. */
ssize_t read_some(int fd, void *buf, size_t n);
/* pread(2) retrying on EINTR; the count, 0 at EOF, -1/errno. */
ssize_t pread_some(int fd, void *buf, size_t n, off_t off);
/* An unlinked temporary file in $TMPDIR (or /tmp) named after prog,
 * opened read-write and close-on-exec: nothing to clean up, whatever
 * becomes of the process.  The fd, or -1/errno with the path it tried in
 * path (size PATH_MAX). */
int temp_open(const char *prog, char *path, size_t size);
/* A read-write file without a name in dir (O_TMPFILE, or a named file
 * unlinked at once where that is not supported): a killed process leaves
 * nothing behind.  The fd, or -1/errno. */
int unnamed_open(const char *dir);
/* fsync(2) of a directory, so a rename or a new entry in it is durable. */
int fsync_dir(const char *path);
/* mkdir -p; each directory it creates is made durable in its parent. */
int make_dirs(const char *path, mode_t mode);

/* buf = dir "/" name; -1 with ENAMETOOLONG when it does not fit. */
int path_join(char *buf, size_t size, const char *dir, const char *name);

#endif
