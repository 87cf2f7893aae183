/* webmail.c - the signed-in user, the Maildir, the CSRF token. */
#include "webmail.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "fsutil.h"
#include "maildir.h"

#define KEY_FILE "webmail.key"
#define KEY_LEN 32

/* The secret the tokens are made with: state/webmail.key, made once
 * (O_EXCL: of two first requests, one writes it, both read it). */
static int csrf_key(const struct conf *conf, unsigned char *key)
{
	char path[PATH_MAX];
	if (path_join(path, sizeof path, conf->state, KEY_FILE) < 0)
		return -1;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0) {
		unsigned char fresh[KEY_LEN];
		int ok = getrandom(fresh, sizeof fresh, 0) == (ssize_t)sizeof fresh &&
			 write_all(fd, fresh, sizeof fresh) == 0 && fsync(fd) == 0;
		close(fd);
		OPENSSL_cleanse(fresh, sizeof fresh);
		if (!ok) {
			unlink(path);
			return -1;
		}
	} else if (errno != EEXIST) {
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read_some(fd, key, KEY_LEN);
	close(fd);
	return n == KEY_LEN ? 0 : -1;
}

/* HMAC-SHA256(key, user) in hex: the same on every page of a user, and
 * no other site can know it. */
static int make_csrf(struct webmail *w)
{
	unsigned char key[KEY_LEN], mac[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (csrf_key(&w->conf, key) < 0)
		return -1;
	unsigned char *ok = HMAC(EVP_sha256(), key, KEY_LEN, (const unsigned char *)w->user,
				 strlen(w->user), mac, &len);
	OPENSSL_cleanse(key, sizeof key);
	if (!ok || len * 2 > CSRF_TOKEN_LEN)
		return -1;
	for (unsigned i = 0; i < len; i++)
		snprintf(w->csrf + 2 * i, 3, "%02x", mac[i]);
	return 0;
}

int webmail_open(struct webmail *w)
{
	memset(w, 0, sizeof *w);
	const char *qs = getenv("QUERY_STRING");
	if (qs)
		cgi_parse_urlencoded(qs, strnlen(qs, CGI_FORM_MAX), &w->query);
	if (conf_load(&w->conf, conf_dir()) < 0) {
		fprintf(stderr, "webmail: %s\n", w->conf.error);
		cgi_error_page(500, "Configuration error", "The mail configuration has an error; "
			       "the log says which.");
		return -1;
	}
	const char *user = getenv("REMOTE_USER");
	if (!user || !*user || strlen(user) >= sizeof w->user) {
		cgi_error_page(403, "Not signed in", "This page needs the web server to sign you in "
			       "(REMOTE_USER is not set).");
		return -1;
	}
	snprintf(w->user, sizeof w->user, "%s", user);
	conf_lowercase(w->user);
	if (!conf_find_user(&w->conf, w->user) ||
	    maildir_for_address(w->conf.state, w->user, w->maildir, sizeof w->maildir) < 0) {
		cgi_error_page(403, "No mailbox", "There is no mailbox for this user name.");
		return -1;
	}
	if (make_csrf(w) < 0) {
		fprintf(stderr, "webmail: cannot read or make %s/%s: %s\n", w->conf.state, KEY_FILE,
			strerror(errno));
		cgi_error_page(500, "Server error", "The web mail cannot keep its key in the state "
			       "directory.");
		return -1;
	}
	return 0;
}

void webmail_close(struct webmail *w)
{
	cgi_params_free(&w->query);
	conf_free(&w->conf);
}

int webmail_csrf_ok(const struct webmail *w, const char *token)
{
	return token && strlen(token) == strlen(w->csrf) &&
	       CRYPTO_memcmp(token, w->csrf, strlen(w->csrf)) == 0;
}

void webmail_csrf_field(const struct webmail *w)
{
	printf("<input type=\"hidden\" name=\"csrf\" value=\"%s\">\n", w->csrf);
}
