/* auth.c - AUTH decoding and password checks. */
#include "auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int b64_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int auth_b64_decode(const char *in, unsigned char *out, size_t out_size, size_t *out_len)
{
	size_t n = strlen(in);
	if (n % 4 != 0 || n / 4 * 3 + 1 > out_size)
		return -1;
	size_t pad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '=' && i >= n - 2) {
			pad++;
		} else if (pad || !b64_char(c)) {
			return -1;   /* a character after '=' or outside the alphabet */
		}
	}
	if (pad && in[n - 1] != '=')
		return -1;
	int len = n ? EVP_DecodeBlock(out, (const unsigned char *)in, (int)n) : 0;
	if (len < 0 || (size_t)len < pad)
		return -1;
	*out_len = (size_t)len - pad;
	out[*out_len] = '\0';
	return 0;
}

int auth_split_plain(const unsigned char *buf, size_t len, char *user, size_t user_size,
		     char *password, size_t password_size)
{
	const unsigned char *nul1 = memchr(buf, '\0', len);
	if (!nul1)
		return -1;
	const unsigned char *authcid = nul1 + 1;
	size_t rest = len - (size_t)(authcid - buf);
	const unsigned char *nul2 = memchr(authcid, '\0', rest);
	if (!nul2)
		return -1;
	size_t authzid_len = (size_t)(nul1 - buf);
	size_t user_len = (size_t)(nul2 - authcid);
	size_t pass_len = len - (size_t)(nul2 + 1 - buf);
	if (user_len == 0 || user_len >= user_size || pass_len >= password_size ||
	    memchr(nul2 + 1, '\0', pass_len))
		return -1;
	memcpy(user, authcid, user_len);
	user[user_len] = '\0';
	if (authzid_len && (authzid_len != user_len || memcmp(buf, authcid, user_len) != 0))
		return -2;   /* acting for someone else: not permitted (RFC 4616 2) */
	memcpy(password, nul2 + 1, pass_len);
	password[pass_len] = '\0';
	return 0;
}

/* A setting to hash against when the user does not exist. */
static const char *dummy_setting(void)
{
	static char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	if (!setting[0] && !crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting))
		strcpy(setting, "$6$mailpipe.dummy$");
	return setting;
}

int auth_check_password(const struct conf *conf, const char *user, const char *password)
{
	const struct conf_user *u = conf_find_user(conf, user);
	const char *setting = u ? u->hash : dummy_setting();
	struct crypt_data *data = calloc(1, sizeof *data);
	if (!data)
		return 0;
	const char *hash = crypt_rn(password, setting, data, (int)sizeof *data);
	int ok = u && hash && hash[0] != '*' && strlen(hash) == strlen(u->hash) &&
		 CRYPTO_memcmp(hash, u->hash, strlen(hash)) == 0;
	OPENSSL_cleanse(data, sizeof *data);
	free(data);
	return ok;
}

/* Sends a 334 challenge and reads the client's base64 answer, decoded. */
static enum auth_result challenge(struct smtp_io *io, const char *prompt, unsigned char *out,
				  size_t out_size, size_t *out_len)
{
	char line[AUTH_LINE_MAX + 1];
	size_t len;
	int too_long;
	io_write(io, "334 ", 4);
	io_write(io, prompt, strlen(prompt));
	io_write(io, "\r\n", 2);
	int rc = io_read_line(io, line, AUTH_LINE_MAX, &len, &too_long);
	if (rc != IO_OK)
		return rc == IO_TIMEOUT ? AUTH_TIMEOUT : AUTH_EOF;
	enum auth_result result = AUTH_OK;
	if (strcmp(line, "*") == 0)
		result = AUTH_CANCELLED;
	else if (too_long || memchr(line, '\0', len) ||
		 auth_b64_decode(line, out, out_size, out_len) < 0)
		result = AUTH_MALFORMED;
	OPENSSL_cleanse(line, sizeof line);
	return result;
}

/* The initial response if there is one ("=" means empty), else a challenge. */
static enum auth_result first_answer(struct smtp_io *io, const char *initial, const char *prompt,
				     unsigned char *out, size_t out_size, size_t *out_len)
{
	if (!initial)
		return challenge(io, prompt, out, out_size, out_len);
	if (strcmp(initial, "=") == 0) {
		out[0] = '\0';
		*out_len = 0;
		return AUTH_OK;
	}
	return auth_b64_decode(initial, out, out_size, out_len) < 0 ? AUTH_MALFORMED : AUTH_OK;
}

static enum auth_result auth_plain(struct smtp_io *io, const struct conf *conf,
				   const char *initial, char *user, size_t user_size)
{
	unsigned char buf[AUTH_LINE_MAX];
	char password[1024];
	size_t len;
	enum auth_result r = first_answer(io, initial, "", buf, sizeof buf, &len);
	int split = r == AUTH_OK ? auth_split_plain(buf, len, user, user_size, password,
						  sizeof password) : 0;
	if (split == -1)
		r = AUTH_MALFORMED;
	else if (split == -2)
		r = AUTH_FAILED;
	if (r == AUTH_OK && !auth_check_password(conf, user, password))
		r = AUTH_FAILED;
	OPENSSL_cleanse(buf, sizeof buf);
	OPENSSL_cleanse(password, sizeof password);
	return r;
}

static enum auth_result auth_login(struct smtp_io *io, const struct conf *conf,
				   const char *initial, char *user, size_t user_size)
{
	unsigned char buf[AUTH_LINE_MAX];
	size_t len;
	/* "Username:" and "Password:" in base64 */
	enum auth_result r = first_answer(io, initial, "VXNlcm5hbWU6", buf, sizeof buf, &len);
	if (r == AUTH_OK && (len == 0 || len >= user_size || memchr(buf, '\0', len)))
		r = AUTH_MALFORMED;
	if (r == AUTH_OK) {
		memcpy(user, buf, len + 1);
		r = challenge(io, "UGFzc3dvcmQ6", buf, sizeof buf, &len);
	}
	if (r == AUTH_OK && (memchr(buf, '\0', len) || !auth_check_password(conf, user, (char *)buf)))
		r = AUTH_FAILED;
	OPENSSL_cleanse(buf, sizeof buf);
	return r;
}

enum auth_result auth_dialogue(struct smtp_io *io, const struct conf *conf, const char *arg,
			       char *user, size_t user_size)
{
	char mech[32];
	size_t n = strcspn(arg, " ");
	user[0] = '\0';
	if (n == 0)
		return AUTH_SYNTAX;
	if (n >= sizeof mech)
		return AUTH_UNKNOWN_MECH;
	memcpy(mech, arg, n);
	mech[n] = '\0';
	const char *initial = arg[n] == ' ' ? arg + n + 1 : NULL;
	if (strcasecmp(mech, "PLAIN") == 0)
		return auth_plain(io, conf, initial, user, user_size);
	if (strcasecmp(mech, "LOGIN") == 0)
		return auth_login(io, conf, initial, user, user_size);
	return AUTH_UNKNOWN_MECH;
}
