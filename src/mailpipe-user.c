/* mailpipe-user - add, change and remove mailboxes in $MAILPIPE_CONF/users.
 *
 *   mailpipe-user add|passwd ADDRESS [--stdin]
 *   mailpipe-user del ADDRESS
 *   mailpipe-user list
 *
 * The file is edited atomically: under an flock on users.lock a new file
 * users.new is written, fsynced and renamed over users, then the directory
 * is fsynced; a crash at any instant leaves the old or the new file, never
 * a mix (conf_edit.h).  Passwords are hashed with yescrypt, read twice
 * from the terminal without echo (or once from stdin), and never echoed,
 * logged or kept.
 */
#include <crypt.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "conf.h"
#include "conf_edit.h"
#include "password.h"

#define PASSWORD_MAX 1024

struct request {
	const char *command;
	char address[CONF_ADDR_MAX];
	int from_stdin;
	struct conf conf;
};

static const char usage_line[] =
	"usage: mailpipe-user add|passwd ADDRESS [--stdin] | del ADDRESS | list";

static int die(int status, const char *fmt, const char *arg)
{
	fprintf(stderr, "mailpipe-user: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return status;
}

/* ---- passwords ---------------------------------------------------------- */

static void wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

/* The new password: once from stdin, or twice from the terminal. */
static int get_password(const struct request *r, char *pw, size_t size)
{
	if (r->from_stdin) {
		if (password_read_line(stdin, pw, size) < 0)
			return die(EX_DATAERR, "no password on standard input (one line, at most %s octets)",
				   "1023");
	} else {
		FILE *tty = fopen("/dev/tty", "r+");
		if (!tty)
			return die(EX_USAGE, "no terminal to ask for the password: use %s", "--stdin");
		char again[PASSWORD_MAX];
		char prompt[CONF_ADDR_MAX + 32];
		snprintf(prompt, sizeof prompt, "Password for %s: ", r->address);
		int rc = password_read_hidden(tty, prompt, pw, size) < 0 ||
			 password_read_hidden(tty, "Again: ", again, sizeof again) < 0 ? -1 :
			 strcmp(pw, again) != 0 ? 1 : 0;
		wipe(again, sizeof again);
		fclose(tty);
		if (rc < 0)
			return die(EX_IOERR, "could not read the password from %s", "/dev/tty");
		if (rc > 0)
			return die(EX_DATAERR, "the passwords differ; %s", "nothing changed");
	}
	if (!*pw)
		return die(EX_DATAERR, "an empty password is not %s", "allowed");
	return 0;
}

/* yescrypt, with a salt from the system's random source. */
static int hash_password(const char *pw, char *out, size_t size)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *data = calloc(1, sizeof *data);
	if (!data)
		return die(EX_OSERR, "%s", "out of memory");
	const char *hash = NULL;
	if (crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting))
		hash = crypt_rn(pw, setting, data, (int)sizeof *data);
	int ok = hash && hash[0] == '$' && strlen(hash) < size;
	if (ok)
		strcpy(out, hash);
	wipe(data, sizeof *data);
	free(data);
	return ok ? 0 : die(EX_SOFTWARE, "crypt(3) could not make a %s hash", "yescrypt");
}

/* ---- the users file ------------------------------------------------------ */

/* The index of the line for address, or -1.  Lines are "address:hash". */
static long find_user_line(const struct conf_edit *u, const char *address)
{
	size_t alen = strlen(address);
	for (size_t i = 0; i < u->nlines; i++) {
		const char *line = u->lines[i];
		while (isspace((unsigned char)*line))
			line++;
		const char *colon = strchr(line, ':');
		size_t n = colon ? (size_t)(colon - line) : 0;
		while (n && isspace((unsigned char)line[n - 1]))
			n--;
		if (colon && n == alen && strncasecmp(line, address, alen) == 0)
			return (long)i;
	}
	return -1;
}

/* ---- commands --------------------------------------------------------- */

static int check_new_address(struct request *r)
{
	/* the same rule the configuration reader applies: never write a line
	 * that would make every program refuse the configuration */
	const char *at = strrchr(r->address, '@');
	if (!conf_valid_mailbox_address(r->address))
		return die(EX_DATAERR, "\"%s\" is not an address for a mailbox", r->address);
	if (!conf_is_local_domain(&r->conf, at + 1))
		return die(EX_DATAERR, "%s is not listed in domains: add it there first", at + 1);
	return 0;
}

static int set_password(struct request *r, struct conf_edit *u, long line)
{
	char pw[PASSWORD_MAX], hash[256];
	int rc = get_password(r, pw, sizeof pw);
	if (rc == 0)
		rc = hash_password(pw, hash, sizeof hash);
	wipe(pw, sizeof pw);
	if (rc)
		return rc;
	char entry[CONF_ADDR_MAX + sizeof hash + 2];
	snprintf(entry, sizeof entry, "%s:%s", r->address, hash);
	if (line < 0)
		return conf_edit_append(u, entry) != 0 ? die(EX_OSERR, "%s", "out of memory") : 0;
	char *copy = strdup(entry);
	if (!copy)
		return die(EX_OSERR, "%s", "out of memory");
	free(u->lines[line]);
	u->lines[line] = copy;
	return 0;
}

static int cmd_add(struct request *r, struct conf_edit *u)
{
	int rc = check_new_address(r);
	if (rc)
		return rc;
	if (find_user_line(u, r->address) >= 0)
		return die(EX_DATAERR, "%s exists already (use passwd to change its password)",
			   r->address);
	if (conf_find_alias(&r->conf, r->address))
		fprintf(stderr, "mailpipe-user: note: %s is also an alias; mail to it follows the alias\n",
			r->address);
	return set_password(r, u, -1);
}

static int cmd_passwd(struct request *r, struct conf_edit *u)
{
	long line = find_user_line(u, r->address);
	if (line < 0)
		return die(EX_NOUSER, "%s: no such user", r->address);
	return set_password(r, u, line);
}

static int cmd_del(struct request *r, struct conf_edit *u)
{
	long line = find_user_line(u, r->address);
	if (line < 0)
		return die(EX_NOUSER, "%s: no such user", r->address);
	free(u->lines[line]);
	memmove(&u->lines[line], &u->lines[line + 1], (u->nlines - (size_t)line - 1) * sizeof *u->lines);
	u->nlines--;
	fprintf(stderr, "mailpipe-user: removed %s; its Maildir is left in place\n", r->address);
	return 0;
}

static int cmd_list(struct request *r, struct conf_edit *u)
{
	(void)u;
	for (size_t i = 0; i < r->conf.nusers; i++)
		printf("%s\n", r->conf.users[i].address);
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

static const struct command {
	const char *name;
	int needs_address;
	int writes;
	int (*run)(struct request *r, struct conf_edit *u);
} commands[] = {
	{ "add",    1, 1, cmd_add },
	{ "passwd", 1, 1, cmd_passwd },
	{ "del",    1, 1, cmd_del },
	{ "list",   0, 0, cmd_list },
};

static const struct command *parse_args(int argc, char **argv, struct request *r)
{
	const char *words[3] = { NULL, NULL, NULL };
	int nwords = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("%s\n  edits $MAILPIPE_CONF/users (see mailpipe-user(8))\n", usage_line);
			exit(0);
		} else if (strcmp(argv[i], "--stdin") == 0) {
			r->from_stdin = 1;
		} else if (argv[i][0] == '-' || nwords == 2) {
			exit(die(EX_USAGE, "%s", usage_line));
		} else {
			words[nwords++] = argv[i];
		}
	}
	for (size_t i = 0; nwords && i < sizeof commands / sizeof commands[0]; i++) {
		const struct command *c = &commands[i];
		if (strcmp(words[0], c->name) != 0 || nwords != 1 + c->needs_address)
			continue;
		if (c->needs_address) {
			if (strlen(words[1]) >= sizeof r->address)
				exit(die(EX_USAGE, "%s", "address too long"));
			strcpy(r->address, words[1]);
			conf_lowercase(r->address);
		}
		return c;
	}
	exit(die(EX_USAGE, "%s", usage_line));
}

int main(int argc, char **argv)
{
	static struct request r;
	static struct conf_edit u;
	/* a password may be in memory: never in a core dump */
	conf_edit_guard_process();
	const struct command *cmd = parse_args(argc, argv, &r);
	if (conf_load(&r.conf, conf_dir()) < 0)
		return die(EX_CONFIG, "%s", r.conf.error);
	int rc = conf_edit_init(&u, "mailpipe-user", r.conf.dir, "users");
	/* writers serialised, and the file read again under the lock: it may
	 * have changed since conf_load */
	if (rc == 0 && cmd->writes)
		rc = conf_edit_lock(&u);
	if (rc == 0 && cmd->writes)
		rc = conf_edit_load(&u);
	if (rc == 0)
		rc = cmd->run(&r, &u);
	if (rc == 0 && cmd->writes)
		rc = conf_edit_save(&u, 0640);
	conf_edit_free(&u);
	conf_free(&r.conf);
	return rc;
}
