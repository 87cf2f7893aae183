/* tls.h - TLS contexts (OpenSSL 3): the server's from tls_cert / tls_key,
 * and the client's for smtp-relay and smtp-send. */
#ifndef MAILPIPE_TLS_H
#define MAILPIPE_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/* TLS 1.2 at least, no renegotiation, the certificate chain and key
 * checked against each other.  NULL with a reason in err. */
SSL_CTX *tls_server_context(const char *cert_file, const char *key_file, char *err,
			    size_t err_size);

/* A client context: verify=0 takes any certificate (opportunistic TLS,
 * RFC 7435); verify=1 checks the chain against ca_file (NULL or "": the
 * system store) and, once tls_client_set_peer named it, the host name. */
SSL_CTX *tls_client_context(int verify, const char *ca_file, char *err, size_t err_size);
/* SNI and the name the certificate must match; 1 on success. */
int tls_client_set_peer(SSL *ssl, const char *host);

#endif
