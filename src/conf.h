/* conf.h - the configuration directory ($MAILPIPE_CONF) shared by every program.
 *
 * conf_load() reads mailpipe.conf, domains, users, aliases and relay-clients.
 * A problem is reported as one line "FILE:LINE: problem" in conf->error and
 * the caller exits EX_CONFIG (78).  Lookups are case-insensitive on the
 * domain and the local part: addresses are stored lowercased.
 */
#ifndef MAILPIPE_CONF_H
#define MAILPIPE_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "cidr.h"

#define CONF_ADDR_MAX 256      /* longest address we store (RFC 5321: 254 + slack) */
#define CONF_ERROR_MAX 1024
#define CONF_LINE_MAX 4096      /* the longest line of a configuration file */
#define CONF_RCPT_MAX 4096      /* the largest max_rcpt: what mail-store takes in argv */

/* users and aliases entries start alike, so one duplicate check serves both */
struct conf_user {
	char *address;   /* lowercased local@domain */
	unsigned line;   /* where it is in the file */
	char *hash;      /* crypt(3) hash */
};

struct conf_alias {
	char *address;   /* lowercased local@domain, or "@domain" for a catch-all */
	unsigned line;
	char **targets;  /* lowercased addresses */
	size_t ntargets;
};

/* Where conf_load_report sends each problem: the file, the line (0 for the
 * file as a whole) and the text without them. */
typedef void (*conf_report_fn)(void *arg, const char *path, unsigned line, const char *problem);

struct conf {
	char dir[1024];
	/* mailpipe.conf */
	char hostname[256];
	char state[1024];
	uint64_t max_size;
	unsigned max_rcpt;
	unsigned timeout;          /* seconds */
	char tls_cert[1024];
	char tls_key[1024];
	unsigned long queue_lifetime; /* seconds */
	int log_debug;
	char notify_nntp[256];
	char notify_group[256];
	int dmarc_reject;
	int pop3_plaintext_loopback;   /* POP3 passwords without TLS from 127.0.0.1 / ::1 */
	/* the other files */
	char **domains;
	size_t ndomains;
	struct conf_user *users;   /* sorted by address */
	size_t nusers;
	struct conf_alias *aliases; /* sorted by address */
	size_t naliases;
	struct cidr *relay_clients;
	size_t nrelay_clients;
	int have_relay_clients_file;
	char error[CONF_ERROR_MAX];
	/* set by conf_load_report: every problem goes here, and reading goes on */
	conf_report_fn report;
	void *report_arg;
};

/* The directory named by $MAILPIPE_CONF, or /etc/mailpipe. */
const char *conf_dir(void);

/* Loads every file; 0 on success, -1 with conf->error set. */
int conf_load(struct conf *conf, const char *dir);
/* The same, for mailpipe-check: each problem goes to report, and loading
 * goes on past it with the next line and the next file, so that every
 * problem is reported; -1 if there was any.  What could be read is loaded
 * (conf_free it either way).  conf_read_file and the line functions of
 * other modules go on past a problem too while conf->report is set. */
int conf_load_report(struct conf *conf, const char *dir, conf_report_fn report, void *arg);
void conf_free(struct conf *conf);

int conf_is_local_domain(const struct conf *conf, const char *domain);
const struct conf_user *conf_find_user(const struct conf *conf, const char *address);
const struct conf_alias *conf_find_alias(const struct conf *conf, const char *address);
/* Is the client address (text, "unknown" never matches) allowed to relay? */
int conf_is_relay_client(const struct conf *conf, const char *client);

/* Where a line of a configuration file is, for its error message. */
struct conf_line {
	struct conf *conf;
	const char *path;
	unsigned lineno;
	void *arg;        /* the caller's, from conf_read_file */
};
typedef int (*conf_line_fn)(struct conf_line *where, char *line);
/* Calls fn for each line of conf->dir/name that is not blank or a comment,
 * trimmed; a missing file is empty (*existed says which, when not NULL).
 * fn returns 0, or -1 after conf_line_error.  For the files only some
 * programs read (routes, secrets). */
int conf_read_file(struct conf *conf, const char *name, conf_line_fn fn, void *arg, int *existed);
/* Fills conf->error with "FILE:LINE: message"; returns -1. */
int conf_line_error(struct conf_line *where, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Parses "300", "300s", "5m", "2h", "5d" into seconds; -1 if malformed. */
long conf_parse_duration(const char *text);

/* An address usable as a mailbox: local@domain, a local part of at most
 * 64 octets without '/', ':', ',', spaces or control characters, and not
 * "." or "..". */
int conf_valid_mailbox_address(const char *address);

/* Lowercases an address in place. */
void conf_lowercase(char *s);

#endif
