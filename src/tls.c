/* tls.c - server TLS context. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
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

SSL_CTX *tls_client_context(int verify, const char *ca_file, char *err, size_t err_size)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return fail(ctx, "TLS", "context", err, err_size);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	if (!verify) {
		/* RFC 7435: opportunistic TLS takes any certificate; encrypted
		 * beats clear text, and most MX certificates would not verify */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int loaded = ca_file && *ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
					 : SSL_CTX_set_default_verify_paths(ctx);
	if (loaded != 1)
		return fail(ctx, "CA file", ca_file && *ca_file ? ca_file : "(system)", err, err_size);
	return ctx;
}

int tls_client_set_peer(SSL *ssl, const char *host)
{
	unsigned char addr[16];
	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		/* no SNI for an address (RFC 6066 3); the certificate must name it */
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
	if (!SSL_set_tlsext_host_name(ssl, host))
		return 0;
	/* SSL_set1_host is checked only when the context verifies */
	return SSL_set1_host(ssl, host) == 1;
}
