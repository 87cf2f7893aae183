/* tls.c - server TLS context. */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

static SSL_CTX *fail(SSL_CTX *ctx, const char *what, const char *file, char *err, size_t n)
{
	unsigned long code = ERR_get_error();
	const char *reason = code ? ERR_reason_error_string(code) : NULL;
	/* a missing or unreadable file is a system error OpenSSL has no text for */
	if (!reason && ERR_GET_LIB(code) == ERR_LIB_SYS)
		reason = strerror(ERR_GET_REASON(code));
	snprintf(err, n, "%s %s: %s", what, file, reason ? reason : "cannot be used");
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *tls_server_context(const char *cert_file, const char *key_file, char *err,
			    size_t err_size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return fail(ctx, "TLS", "context", err, err_size);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				 SSL_OP_NO_COMPRESSION);
	/* one process per connection: a session cache would never be hit */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1)
		return fail(ctx, "tls_cert", cert_file, err, err_size);
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
		return fail(ctx, "tls_key", key_file, err, err_size);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return fail(ctx, "tls_key", "does not match tls_cert", err, err_size);
	return ctx;
}
