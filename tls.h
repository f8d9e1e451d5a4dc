/*
 * tls.h - the HTTP API's TLS material (GnuTLS): --tls-cert, --tls-key and
 * --tls-client-ca read and checked, and the client certificate of mTLS
 */
#ifndef DG_TLS_H
#define DG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* TLS material as PEM text, read by tls_read; cert NULL: plain HTTP. */
struct tls_material {
    char *cert, *key, *client_ca; /* client_ca NULL: no client certificate asked for */
};

/* Read and check --tls-cert, --tls-key (its mode must pass private_ok, NULL: token.c's rule)
   and --tls-client-ca
   (NULL or "": not given); false with err naming the option, the file and what is wrong. */
bool tls_read(const char *listen, const char *cert, const char *key, const char *client_ca,
              bool (*private_ok)(const struct stat *st), struct tls_material *tls, char *err,
              size_t errlen) __attribute__((warn_unused_result));
/* Free what tls_read or tls_copy filled (the key wiped first); tls becomes none. */
void tls_free(struct tls_material *tls);
/* Is the material the same (NULL stands for none)? */
bool tls_equal(const struct tls_material *a, const struct tls_material *b);
/* Copy tls (NULL: none) into out; false when out of memory (out is then none). */
bool tls_copy(const struct tls_material *tls, struct tls_material *out);
/* Did the peer of a gnutls_session_t (NULL: none) present a certificate that a CA of
   --tls-client-ca signed?  False with why. */
bool tls_client_cert_ok(void *session, char *why, size_t len);

#endif
