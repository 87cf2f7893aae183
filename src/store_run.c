/* store_run.c - fork and exec mail-store, collect its id and exit code. */
#include "store_run.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf.h"
#include "fsutil.h"
#include "log.h"

#define STORE_ARGS_MAX CONF_RCPT_MAX   /* max_rcpt is at most this */

static const struct { int status; struct store_reply reply; } reply_table[] = {
	{ 0,            { 250, "2.0.0", "OK" } },
	{ EX_DATAERR,   { 554, "5.6.0", "Message content rejected" } },
	{ EX_NOUSER,    { 550, "5.1.1", "Recipient address rejected: User unknown" } },
	{ EX_CANTCREAT, { 452, "4.3.1", "Insufficient system storage" } },
	{ EX_IOERR,     { 452, "4.3.1", "Insufficient system storage" } },
	{ EX_TEMPFAIL,  { 451, "4.3.0", "Temporary local problem, try again later" } },
};
static const struct store_reply other_failure = {
	451, "4.3.0", "Local error in processing, try again later"
};

const struct store_reply *store_reply_for(const struct store_result *result)
{
	for (size_t i = 0; i < sizeof reply_table / sizeof reply_table[0]; i++)
		if (reply_table[i].status == result->status)
			return &reply_table[i].reply;
	return &other_failure;
}

void program_path(const char *name, const char *env, char *buf, size_t size)
{
	const char *set = secure_getenv(env);
	if (set && *set) {
		snprintf(buf, size, "%s", set);
		return;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	const char *slash = NULL;
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
	}
	if (slash)
		snprintf(buf, size, "%.*s/%s", (int)(slash - self), self, name);
	else
		snprintf(buf, size, "%s", name);   /* found in $PATH */
}

#ifndef SBINDIR
#define SBINDIR "/usr/local/sbin"
#endif

void store_program(char *buf, size_t size)
{
	program_path("mail-store", "MAILPIPE_STORE", buf, size);
	if (access(buf, X_OK) == 0 || secure_getenv("MAILPIPE_STORE"))
		return;
	/* the CGI programs: cgi-bin/ beside bin/ in the build, elsewhere once installed */
	char *slash = strrchr(buf, '/');
	char alt[PATH_MAX];
	if (slash && snprintf(alt, sizeof alt, "%.*s/../bin/mail-store", (int)(slash - buf), buf) <
			     (int)sizeof alt && access(alt, X_OK) == 0)
		snprintf(buf, size, "%s", alt);
	else if (access(SBINDIR "/mail-store", X_OK) == 0)
		snprintf(buf, size, "%s", SBINDIR "/mail-store");
}

static void run_child(const char *program, int msg_fd, int out_fd, char **argv)
{
	if (dup2(msg_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0)
		_exit(EX_OSERR);
	if (strchr(program, '/'))
		execv(program, argv);
	else
		execvp(program, argv);
	log_event("error", "error", "cannot run mail-store", "program", program, "reason",
		  strerror(errno), LOG_END);
	_exit(EX_UNAVAILABLE);
}

/* Reads the id line from mail-store (digits only are kept). */
static void read_id(int fd, char *id, size_t size)
{
	char buf[64];
	size_t len = 0;
	ssize_t r;
	while ((r = read_some(fd, buf + len, sizeof buf - 1 - len)) > 0 && len < sizeof buf - 1)
		len += (size_t)r;
	while (r > 0) {   /* drain anything longer, bounded by the child's output */
		char sink[256];
		r = read_some(fd, sink, sizeof sink);
	}
	size_t k = 0;
	for (size_t i = 0; i < len && k + 1 < size && isdigit((unsigned char)buf[i]); i++)
		id[k++] = buf[i];
	id[k] = '\0';
}

int store_run(const char *program, int msg_fd, const char *sender, const char *client,
	      const char *helo, int inbound, char *const *rcpts, size_t nrcpts,
	      struct store_result *result)
{
	result->status = -1;
	result->id[0] = '\0';
	if (nrcpts > STORE_ARGS_MAX)
		return -1;
	char *argv[STORE_ARGS_MAX + 10];
	size_t a = 0;
	argv[a++] = "mail-store";
	argv[a++] = "-f";
	argv[a++] = (char *)(*sender ? sender : "<>");
	argv[a++] = "-c";
	argv[a++] = (char *)client;
	argv[a++] = "-H";
	argv[a++] = (char *)helo;
	if (inbound)
		argv[a++] = "-I";
	argv[a++] = "--";   /* an address may start with '-' */
	for (size_t i = 0; i < nrcpts; i++)
		argv[a++] = rcpts[i];
	argv[a] = NULL;

	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0)
		run_child(program, msg_fd, pipefd[1], argv);
	close(pipefd[1]);
	read_id(pipefd[0], result->id, sizeof result->id);
	close(pipefd[0]);
	int wstatus;
	while (waitpid(pid, &wstatus, 0) < 0)
		if (errno != EINTR)
			return -1;
	result->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
	return 0;
}
