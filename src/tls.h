/* tls.h - the server's TLS context from tls_cert / tls_key (OpenSSL 3). */
#ifndef MAILPIPE_TLS_H
#define MAILPIPE_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* TLS 1.2 at least, no renegotiation, the certificate chain and key
 * checked against each other.  NULL with a reason in err. */
SSL_CTX *tls_server_context(const char *cert_file, const char *key_file, char *err,
			    size_t err_size);

#endif
