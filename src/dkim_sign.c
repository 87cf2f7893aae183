/* dkim_sign.c - signing with libopendkim. */
#include "dkim_sign.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <opendkim/dkim.h>

#include "fsutil.h"

#define KEY_FILE_MAX 16384

/* The fields signed, as opendkim's defaults (RFC 6376 5.4.1) plus the
 * Message-ID and the MIME fields; From is signed once more than it occurs
 * (oversigned) so no second From can be added after signing. */
static const char *const signed_fields[] = {
	"from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc",
	"mime-version", "content-type", "content-transfer-encoding", "content-id",
	"content-description", "resent-date", "resent-from", "resent-sender", "resent-to",
	"resent-cc", "resent-message-id", "in-reply-to", "references", "list-id", "list-help",
	"list-unsubscribe", "list-unsubscribe-post", "list-subscribe", "list-post",
	"list-owner", "list-archive", NULL,
};
static const char *const oversigned_fields[] = { "from", NULL };

struct signer {
	DKIM *handle;
	char key[KEY_FILE_MAX + 1];
};

static DKIM_LIB *signing_library(void)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	if (!lib)
		return NULL;
	uint32_t flags = DKIM_LIBFLAGS_FIXCRLF;   /* we store LF; the wire has CRLF */
	if (dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags, sizeof flags) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, (void *)signed_fields,
			 sizeof(char **)) != DKIM_STAT_OK ||
	    dkim_options(lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, (void *)oversigned_fields,
			 sizeof(char **)) != DKIM_STAT_OK) {
		dkim_close(lib);
		return NULL;
	}
	return lib;
}

/* Reads a PEM key file whole; 0, or -1 with err. */
static int read_key(const char *path, char *key, size_t size, char *err, size_t errsize)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		snprintf(err, errsize, "DKIM key %s: %s", path, strerror(errno));
		return -1;
	}
	size_t len = 0;
	ssize_t r;
	while (len < size - 1 && (r = read_some(fd, key + len, size - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	key[len] = '\0';
	if (len == 0 || len >= size - 1) {
		snprintf(err, errsize, "DKIM key %s: empty or longer than %d bytes", path,
			 KEY_FILE_MAX);
		return -1;
	}
	return 0;
}

/* An encrypted key is no key: never OpenSSL's prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf, (void)size, (void)rwflag, (void)arg;
	return -1;
}

/* rsa-sha256 for an RSA key, ed25519-sha256 for an Ed25519 one. */
static dkim_alg_t key_algorithm(const char *key, size_t len)
{
	BIO *bio = BIO_new_mem_buf(key, (int)len);
	EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
	dkim_alg_t alg = DKIM_SIGN_UNKNOWN;
	if (pkey && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
		alg = DKIM_SIGN_RSASHA256;
	else if (pkey && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519)
		alg = DKIM_SIGN_ED25519SHA256;
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return alg;
}

static int start_signer(DKIM_LIB *lib, const struct dkim_key_entry *k, struct signer *s,
			char *err, size_t errsize)
{
	if (read_key(k->keyfile, s->key, sizeof s->key, err, errsize) < 0)
		return -1;
	dkim_alg_t alg = key_algorithm(s->key, strlen(s->key));
	if (alg == DKIM_SIGN_UNKNOWN) {
		snprintf(err, errsize, "DKIM key %s: not an RSA or Ed25519 private key in PEM",
			 k->keyfile);
		return -1;
	}
	DKIM_STAT status;
	s->handle = dkim_sign(lib, (const unsigned char *)"mail-store", NULL,
			      (dkim_sigkey_t)s->key, (const unsigned char *)k->selector,
			      (const unsigned char *)k->domain, DKIM_CANON_RELAXED,
			      DKIM_CANON_RELAXED, alg, -1, &status);
	if (!s->handle) {
		snprintf(err, errsize, "DKIM key %s: %s", k->keyfile, dkim_getresultstr(status));
		return -1;
	}
	return 0;
}

/* Feeds the message to every signer. */
static int feed(struct signer *signers, size_t n, int fd, off_t off, char *err, size_t errsize)
{
	unsigned char buf[STREAM_BUF];
	ssize_t r;
	while ((r = pread(fd, buf, sizeof buf, off)) > 0) {
		for (size_t i = 0; i < n; i++)
			if (dkim_chunk(signers[i].handle, buf, (size_t)r) != DKIM_STAT_OK) {
				snprintf(err, errsize, "DKIM: %s", dkim_geterror(signers[i].handle));
				return -1;
			}
		off += r;
	}
	if (r < 0) {
		snprintf(err, errsize, "DKIM: read back: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* "DKIM-Signature: ...\n" of one signer appended to out (CRLF -> LF). */
static int append_field(struct signer *s, char *out, size_t size, size_t *len, char *err,
			size_t errsize)
{
	static const char name[] = "DKIM-Signature: ";
	unsigned char *value = NULL;
	size_t vlen = 0;
	if (dkim_chunk(s->handle, NULL, 0) != DKIM_STAT_OK ||
	    dkim_eom(s->handle, NULL) != DKIM_STAT_OK ||
	    dkim_getsighdr_d(s->handle, sizeof name - 1, &value, &vlen) != DKIM_STAT_OK) {
		snprintf(err, errsize, "DKIM: %s", dkim_geterror(s->handle));
		return -1;
	}
	if (*len + sizeof name + vlen + 1 > size) {
		snprintf(err, errsize, "DKIM: signature fields too long");
		return -1;
	}
	memcpy(out + *len, name, sizeof name - 1);
	*len += sizeof name - 1;
	for (size_t i = 0; i < vlen; i++)
		if (value[i] != '\r')
			out[(*len)++] = (char)value[i];
	out[(*len)++] = '\n';
	out[*len] = '\0';
	return 0;
}

int dkim_sign_message(const struct dkim_key_entry *const *keys, size_t nkeys, int fd, off_t off,
		      char *out, size_t size, char *err, size_t errsize)
{
	DKIM_LIB *lib = signing_library();
	struct signer *signers = calloc(nkeys, sizeof *signers);
	int rc = -1;
	size_t started = 0, len = 0;
	if (!lib || !signers) {
		snprintf(err, errsize, "DKIM: cannot start libopendkim");
		goto done;
	}
	for (; started < nkeys; started++)
		if (start_signer(lib, keys[started], &signers[started], err, errsize) < 0)
			goto done;
	if (feed(signers, nkeys, fd, off, err, errsize) < 0)
		goto done;
	out[0] = '\0';
	for (size_t i = 0; i < nkeys; i++)
		if (append_field(&signers[i], out, size, &len, err, errsize) < 0)
			goto done;
	rc = 0;
done:
	for (size_t i = 0; i < started; i++)
		dkim_free(signers[i].handle);
	if (signers)
		OPENSSL_cleanse(signers, nkeys * sizeof *signers);   /* the private keys */
	free(signers);
	if (lib)
		dkim_close(lib);
	return rc;
}

int dkim_from_domain(const char *value, char *out, size_t size)
{
	char copy[8192];
	snprintf(copy, sizeof copy, "%s", value);
	unsigned char *user = NULL, *domain = NULL;
	if (dkim_mail_parse((unsigned char *)copy, &user, &domain) != 0 || !domain || !*domain)
		return -1;
	size_t n = strlen((char *)domain);
	if (n >= size)
		return -1;
	for (size_t i = 0; i <= n; i++)   /* with the NUL */
		out[i] = (char)tolower(domain[i]);
	return 0;
}

#ifdef __SANITIZE_ADDRESS__
/* libopendkim 2.11 frees the key of a signature only when it is RSA: every
 * Ed25519 signature made or verified leaks its EVP_PKEY (dkim_free's
 * sig_keytype test).  Bounded (one per signature, in a process that handles
 * one message or one session), but LeakSanitizer would fail the sanitizer
 * build's tests on it.  The stacks must be unwound fully to show the
 * library frames: libcrypto.a has no frame pointers. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:dkim_privkey_load\nleak:dkim_sig_process\n";
}
#endif
