/* mailpipe-dkim-key - make a DKIM signing key and print its DNS record.
 *
 *   mailpipe-dkim-key [-t rsa|ed25519] [-b BITS] DOMAIN SELECTOR
 *
 * The private key (RSA, 2048 bits unless -b says up to 4096, or Ed25519 as
 * in RFC 8463) goes to $MAILPIPE_CONF/dkim-keys/DOMAIN.SELECTOR.pem, PEM
 * PKCS#8, mode 0600: written to a temporary file in that directory,
 * fsynced, and linked to its name, which is never replaced.  Then the line
 * "DOMAIN SELECTOR dkim-keys/DOMAIN.SELECTOR.pem" is added to the dkim
 * file under its lock (conf_edit.h); when that fails the key is removed
 * again.  Run as root, the key and dkim-keys belong to the owner of the
 * state directory: the programs that sign run as that user.
 *
 * Standard output: the TXT record to publish, in zone-file form, and a
 * comment line saying where the key is.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf.h"
#include "conf_edit.h"
#include "dkim_conf.h"
#include "fsutil.h"

#define PROG "mailpipe-dkim-key"
#define RSA_BITS_MIN 2048        /* RFC 8301: 1024 is no longer enough */
#define RSA_BITS_MAX 4096        /* larger records than DNS carries well */
#define RSA_BITS_DEFAULT 2048
#define DNS_NAME_MAX 253
#define TXT_CHUNK 250            /* octets of p= per quoted string (at most 255) */
#define KEYS_DIR "dkim-keys"
#define RECORD_MAX 4096

static const char usage_line[] =
	"usage: mailpipe-dkim-key [-t rsa|ed25519] [-b BITS] DOMAIN SELECTOR";

struct request {
	int ed25519;
	int bits;
	char domain[DKIM_DOMAIN_MAX];
	char selector[DKIM_SELECTOR_MAX];
	struct conf conf;
	char keys_dir[PATH_MAX];      /* CONF/dkim-keys */
	char key_name[PATH_MAX];      /* dkim-keys/DOMAIN.SELECTOR.pem, as in the dkim line */
	char key_path[PATH_MAX];      /* CONF/dkim-keys/DOMAIN.SELECTOR.pem */
	int give_away;                /* root: key and directory to owner:group */
	uid_t owner;
	gid_t group;
};

/* A made key: the PEM of the private key and the record to publish. */
struct made_key {
	BUF_MEM *pem;                 /* owned by bio */
	BIO *bio;
	char record[RECORD_MAX];
};

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs(PROG ": ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return status;
}

/* OpenSSL's own reason, after what we tried to do. */
static int fail_openssl(const char *what)
{
	char reason[256] = "unknown error";
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, reason, sizeof reason);
	ERR_clear_error();
	return fail(EX_SOFTWARE, "%s: %s", what, reason);
}

/* ---- arguments -------------------------------------------------------------- */

static void usage_error(const char *problem, const char *arg) __attribute__((noreturn));

static void usage_error(const char *problem, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, problem, arg);
	fprintf(stderr, " (%s)\n", usage_line);
	exit(EX_USAGE);
}

static void parse_name(const char *what, const char *arg, char *out, size_t size)
{
	if (!dkim_valid_dns_name(arg, size)) {
		fprintf(stderr, PROG ": \"%s\" is not a valid %s: labels of letters, digits, '-' and '_' "
			"separated by dots, each at most 63 octets, %zu in all\n", arg, what, size - 1);
		exit(EX_USAGE);
	}
	snprintf(out, size, "%s", arg);
	conf_lowercase(out);
}

static void parse_args(int argc, char **argv, struct request *r)
{
	const char *bits = NULL;
	int opt;
	opterr = 0;   /* one line of our own instead of getopt's */
	while ((opt = getopt(argc, argv, "hb:t:")) != -1) {
		switch (opt) {
		case 'h':
			printf("%s\n  makes a DKIM key in $MAILPIPE_CONF/" KEYS_DIR ", adds it to "
			       "$MAILPIPE_CONF/dkim and prints\n  the DNS record to publish (see "
			       "mailpipe-dkim-key(8))\n", usage_line);
			exit(0);
		case 't':
			if (strcmp(optarg, "ed25519") == 0)
				r->ed25519 = 1;
			else if (strcmp(optarg, "rsa") != 0)
				usage_error("-t %s: the key types are rsa and ed25519", optarg);
			break;
		case 'b':
			bits = optarg;
			break;
		default: {
			char o[2] = { (char)optopt, '\0' };
			usage_error(optopt == 't' || optopt == 'b' ? "-%s needs a value" : "unknown option -%s",
				    o);
		}
		}
	}
	if (argc - optind != 2)
		usage_error("%s", argc - optind < 2 ? "DOMAIN and SELECTOR are needed" : "too many arguments");
	r->bits = RSA_BITS_DEFAULT;
	if (bits) {
		char *end;
		errno = 0;
		long n = strtol(bits, &end, 10);
		if (r->ed25519)
			usage_error("-b %s: an Ed25519 key has no size to choose", bits);
		if (errno || end == bits || *end || n < RSA_BITS_MIN || n > RSA_BITS_MAX)
			usage_error("-b %s: an RSA key for DKIM has 2048 to 4096 bits", bits);
		r->bits = (int)n;
	}
	parse_name("domain", argv[optind], r->domain, sizeof r->domain);
	parse_name("selector", argv[optind + 1], r->selector, sizeof r->selector);
	/* SELECTOR._domainkey.DOMAIN must be a DNS name (and the file name,
	 * shorter than that, a name the file system takes) */
	if (strlen(r->selector) + strlen("._domainkey.") + strlen(r->domain) > DNS_NAME_MAX) {
		fprintf(stderr, PROG ": %s._domainkey.%s is longer than the %d octets of a DNS name\n",
			r->selector, r->domain, DNS_NAME_MAX);
		exit(EX_USAGE);
	}
}

/* ---- the key and its record ------------------------------------------------- */

/* out += the printf text; -1 when it does not fit. */
static int add(char *out, size_t size, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int add(char *out, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

/* The public key as DKIM's p= wants it (RFC 6376 3.6.1, RFC 8463 4), in
 * base64: RSA's DER SubjectPublicKeyInfo, Ed25519's 32 raw octets. */
static int public_key_base64(const struct request *r, EVP_PKEY *pkey, char *out, size_t size)
{
	unsigned char raw[32], *der = NULL;
	int len;
	if (r->ed25519) {
		size_t n = sizeof raw;
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1 || n != sizeof raw)
			return -1;
		len = (int)n;
	} else if ((len = i2d_PUBKEY(pkey, &der)) <= 0) {
		return -1;
	}
	int ok = (size_t)(len + 2) / 3 * 4 < size;
	if (ok)
		EVP_EncodeBlock((unsigned char *)out, der ? der : raw, len);
	OPENSSL_free(der);
	return ok ? 0 : -1;
}

/* The zone-file record: the name, "v=DKIM1; k=...; " and p= in quoted
 * strings of at most TXT_CHUNK octets each. */
static int format_record(const struct request *r, const char *b64, char *out, size_t size)
{
	size_t len = 0, b64len = strlen(b64);
	if (add(out, size, &len, "%s._domainkey.%s. IN TXT ( \"v=DKIM1; k=%s; \"\n", r->selector,
		r->domain, r->ed25519 ? "ed25519" : "rsa") < 0)
		return -1;
	/* "p=" and the first TXT_CHUNK - 2 characters, then TXT_CHUNK at a time */
	size_t off = 0, first = 1;
	while (off < b64len) {
		size_t n = b64len - off;
		if (n > TXT_CHUNK - 2 * first)
			n = TXT_CHUNK - 2 * first;
		if (add(out, size, &len, "\t\"%s%.*s\"%s\n", first ? "p=" : "", (int)n, b64 + off,
			off + n == b64len ? " )" : "") < 0)
			return -1;
		off += n;
		first = 0;
	}
	return 0;
}

static int make_key(const struct request *r, struct made_key *k)
{
	EVP_PKEY *pkey = r->ed25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
				    : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)r->bits);
	if (!pkey)
		return fail_openssl("could not make the key");
	char b64[RECORD_MAX];
	int rc = 0;
	k->bio = BIO_new(BIO_s_secmem());
	if (!k->bio || PEM_write_bio_PrivateKey(k->bio, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    BIO_get_mem_ptr(k->bio, &k->pem) != 1)
		rc = fail_openssl("could not write the key as PEM");
	else if (public_key_base64(r, pkey, b64, sizeof b64) < 0)
		rc = fail_openssl("could not encode the public key");
	else if (format_record(r, b64, k->record, sizeof k->record) < 0)
		rc = fail(EX_SOFTWARE, "the record is longer than %d octets", RECORD_MAX);
	EVP_PKEY_free(pkey);
	return rc;
}

/* ---- files -------------------------------------------------------------------- */

/* Run as root, what is made belongs to the state directory's owner. */
static int choose_owner(struct request *r)
{
	struct stat st;
	if (geteuid() != 0)
		return 0;
	if (stat(r->conf.state, &st) < 0)
		return fail(EX_CANTCREAT, "the state directory %s: %s; the key must belong to its owner, "
			    "who signs: make it first", r->conf.state, strerror(errno));
	r->give_away = 1;
	r->owner = st.st_uid;
	r->group = st.st_gid;
	return 0;
}

static int set_paths(struct request *r)
{
	int n = snprintf(r->key_name, sizeof r->key_name, KEYS_DIR "/%s.%s.pem", r->domain, r->selector);
	if (n < 0 || (size_t)n >= sizeof r->key_name ||
	    path_join(r->keys_dir, sizeof r->keys_dir, r->conf.dir, KEYS_DIR) < 0 ||
	    path_join(r->key_path, sizeof r->key_path, r->conf.dir, r->key_name) < 0)
		return fail(EX_USAGE, "%s: name too long", r->conf.dir);
	return 0;
}

/* Is DOMAIN SELECTOR new: not in dkim, no key file by its name?  Read
 * under the lock. */
static int check_new(struct request *r)
{
	struct dkim_conf dc;
	if (dkim_conf_load(&r->conf, &dc) < 0)
		return fail(EX_CONFIG, "%s", r->conf.error);
	int rc = 0, nkeys = 0;
	for (size_t i = 0; i < dc.nkeys && rc == 0; i++) {
		if (strcmp(dc.keys[i].domain, r->domain) != 0)
			continue;
		nkeys++;
		if (strcasecmp(dc.keys[i].selector, r->selector) == 0)
			rc = fail(EX_CANTCREAT, "%s/dkim:%u: %s %s has a key already (%s): choose another "
				  "selector; nothing changed", r->conf.dir, dc.keys[i].line, r->domain,
				  r->selector, dc.keys[i].keyfile);
	}
	dkim_conf_free(&dc);
	/* one more would make the dkim file a configuration error */
	if (rc == 0 && nkeys >= DKIM_KEYS_PER_DOMAIN)
		rc = fail(EX_CANTCREAT, "%s has %d keys in %s/dkim already, the most a domain may have: "
			  "remove one first; nothing changed", r->domain, nkeys, r->conf.dir);
	struct stat st;
	if (rc == 0 && lstat(r->key_path, &st) == 0)
		rc = fail(EX_CANTCREAT, "%s exists, though dkim does not list it: remove it or add its "
			  "line to dkim; nothing changed", r->key_path);
	else if (rc == 0 && errno != ENOENT)
		rc = fail(EX_CANTCREAT, "%s: %s", r->key_path, strerror(errno));
	return rc;
}

/* CONF/dkim-keys, 0700, the signing user's. */
static int make_keys_dir(const struct request *r)
{
	struct stat st;
	if (mkdir(r->keys_dir, 0700) == 0) {
		if (fsync_dir(r->conf.dir) < 0)
			return fail(EX_IOERR, "could not make %s durable: %s", r->keys_dir, strerror(errno));
	} else if (errno != EEXIST) {
		return fail(EX_CANTCREAT, "cannot make %s: %s", r->keys_dir, strerror(errno));
	}
	if (lstat(r->keys_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return fail(EX_CANTCREAT, "%s is not a directory", r->keys_dir);
	if (r->give_away && (st.st_uid != r->owner || st.st_gid != r->group) &&
	    chown(r->keys_dir, r->owner, r->group) < 0)
		return fail(EX_CANTCREAT, "cannot give %s to the state directory's owner: %s", r->keys_dir,
			    strerror(errno));
	return 0;
}

/* The key under a temporary name in dkim-keys, fsynced, then linked to its
 * own name (never replacing a file) and the directory fsynced. */
static int write_key(const struct request *r, const struct made_key *k)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s/.%s.%s.pem.XXXXXX", r->keys_dir, r->domain, r->selector) >=
	    (int)sizeof tmp)
		return fail(EX_USAGE, "%s: name too long", r->keys_dir);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return fail(EX_CANTCREAT, "cannot create a file in %s: %s", r->keys_dir, strerror(errno));
	int failed = fchmod(fd, 0600) < 0 || (r->give_away && fchown(fd, r->owner, r->group) < 0) ||
		     write_all(fd, k->pem->data, k->pem->length) < 0 || fsync(fd) < 0;
	int saved = errno;
	failed = close(fd) < 0 || failed;
	if (!failed && link(tmp, r->key_path) < 0) {
		saved = errno;
		failed = 1;
	}
	unlink(tmp);
	if (failed && saved == EEXIST)
		return fail(EX_CANTCREAT, "%s was made meanwhile; nothing changed", r->key_path);
	if (failed)
		return fail(EX_IOERR, "could not write %s: %s; nothing changed", r->key_path,
			    strerror(saved));
	if (fsync_dir(r->keys_dir) < 0) {
		saved = errno;
		unlink(r->key_path);
		return fail(EX_IOERR, "could not make %s durable: %s; nothing changed", r->key_path,
			    strerror(saved));
	}
	return 0;
}

/* dkim + "DOMAIN SELECTOR dkim-keys/DOMAIN.SELECTOR.pem", under its lock. */
static int add_dkim_line(const struct request *r, struct conf_edit *dkim)
{
	char line[DKIM_DOMAIN_MAX + DKIM_SELECTOR_MAX + PATH_MAX + 4];
	snprintf(line, sizeof line, "%s %s %s", r->domain, r->selector, r->key_name);
	int rc = conf_edit_load(dkim);
	if (rc == 0 && conf_edit_append(dkim, line) != 0)
		rc = fail(EX_OSERR, "out of memory");
	if (rc == 0)
		rc = conf_edit_save(dkim, 0644);
	return rc;
}

static int run(struct request *r, struct conf_edit *dkim, struct made_key *k)
{
	int rc = conf_edit_init(dkim, PROG, r->conf.dir, "dkim");
	if (rc == 0)
		rc = set_paths(r);
	if (rc == 0)
		rc = choose_owner(r);
	if (rc == 0)
		rc = conf_edit_lock(dkim);
	if (rc == 0)
		rc = check_new(r);
	if (rc == 0)
		rc = make_key(r, k);
	if (rc == 0)
		rc = make_keys_dir(r);
	if (rc == 0)
		rc = write_key(r, k);
	if (rc)
		return rc;
	rc = add_dkim_line(r, dkim);
	if (rc && !dkim->renamed) {
		/* a key no line names would stop the next run with the same
		 * selector: take it away */
		unlink(r->key_path);
		fsync_dir(r->keys_dir);
		fail(rc, "removed %s again", r->key_path);
		return rc;
	}
	/* done, or dkim renamed but the directory not synced (74, said): the
	 * key is listed either way, and its record wanted */
	printf("%s", k->record);
	printf("; the key %s is listed in %s:\n"
	       "; mail from %s is signed with it from now on; publish this record in DNS\n",
	       r->key_path, dkim->path, r->domain);
	if (fflush(stdout) != 0)
		return fail(EX_IOERR, "could not write the record on standard output (the key is made: "
			    "see %s)", dkim->path);
	return rc;
}

int main(int argc, char **argv)
{
	static struct request r;
	static struct conf_edit dkim;
	static struct made_key k;
	/* a private key is in memory: never in a core dump */
	conf_edit_guard_process();
	parse_args(argc, argv, &r);
	if (conf_load(&r.conf, conf_dir()) < 0)
		return fail(EX_CONFIG, "%s", r.conf.error);
	int rc = run(&r, &dkim, &k);
	BIO_free(k.bio);   /* secure memory: cleared as it is freed */
	conf_edit_free(&dkim);
	conf_free(&r.conf);
	return rc;
}
