/*
 * tls.c - the HTTP API's TLS material: the PEM files of --tls-cert,
 * --tls-key and --tls-client-ca read, loaded into GnuTLS as libmicrohttpd
 * will, refused when expired or mismatched; and the client certificate
 * check of mTLS on a GnuTLS session
 */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "token.h"

#define PEM_MAX (1024 * 1024)

/* Say why a file of option opt cannot be used, as config errors do. */
static bool file_error(const char *opt, const char *path, char *err, size_t errlen, const char *why)
{
    snprintf(err, errlen, "invalid value \"%s\" for option \"--%s\": %s", path, opt, why);
    return false;
}

/*
 * Read a whole PEM file of at most PEM_MAX bytes into *out (NUL-terminated).
 * A regular file only, opened without blocking (a FIFO is refused); a
 * private one (a key: private_ok not NULL) passes the token file's mode rule.
 */
static bool read_pem(const char *opt, const char *path, bool (*private_ok)(const struct stat *),
                     char **out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    char why[200];
    ssize_t n = 0;

    *out = NULL;
    if (fd < 0 || fstat(fd, &st) != 0) {
        file_error(opt, path, err, errlen, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > PEM_MAX || (private_ok && !private_ok(&st))) {
        snprintf(why, sizeof(why),
                 !S_ISREG(st.st_mode) ? "not a regular file"
                 : st.st_size > PEM_MAX
                     ? "larger than 1 MiB"
                     : "may be read by others (mode %04o, owner uid %u): make "
                       "it 0600 or stricter, or 0640 or stricter if owned by root",
                 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
        close(fd);
        return file_error(opt, path, err, errlen, why);
    }
    *out = malloc((size_t)st.st_size + 1);
    if (*out != NULL)
        n = read(fd, *out, (size_t)st.st_size);
    close(fd);
    if (*out == NULL || n < 0) {
        free(*out);
        *out = NULL;
        return file_error(opt, path, err, errlen, n < 0 ? strerror(errno) : "out of memory");
    }
    (*out)[n] = '\0';
    return true;
}

/* GnuTLS's text for rc without its trailing period, as our messages are. */
static const char *tls_strerror(int rc, char *buf, size_t len)
{
    size_t n;

    snprintf(buf, len, "%s", gnutls_strerror(rc));
    n = strlen(buf);
    if (n > 0 && buf[n - 1] == '.')
        buf[n - 1] = '\0';
    return buf;
}

/* Is the first certificate of cert expired?  Fills why when it is. */
static bool cert_expired(const gnutls_datum_t *cert, char *why, size_t len)
{
    gnutls_x509_crt_t crt;
    time_t until = (time_t)-1;
    struct tm tm;

    if (gnutls_x509_crt_init(&crt) < 0)
        return false;
    if (gnutls_x509_crt_import(crt, cert, GNUTLS_X509_FMT_PEM) >= 0)
        until = gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
    if (until == (time_t)-1 || until > time(NULL))
        return false;
    gmtime_r(&until, &tm);
    strftime(why, len, "the certificate expired on %Y-%m-%d %H:%M:%S UTC", &tm);
    return true;
}

/* Let GnuTLS load the material as libmicrohttpd will: a key that fits the certificate, CAs. */
static bool tls_check(const struct tls_material *t, const char *cert, const char *ca, char *err,
                      size_t errlen)
{
    gnutls_certificate_credentials_t cred;
    gnutls_datum_t c = {(unsigned char *)t->cert, (unsigned)strlen(t->cert)};
    gnutls_datum_t k = {(unsigned char *)t->key, (unsigned)strlen(t->key)};
    char why[200];
    int rc;
    bool ok = false;

    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        snprintf(err, errlen, "GnuTLS could not allocate credentials");
        return false;
    }
    rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
    if (rc < 0)
        snprintf(err, errlen, "options \"--tls-cert\" \"%s\" and \"--tls-key\": %s", cert,
                 tls_strerror(rc, why, sizeof(why)));
    else if (cert_expired(&c, why, sizeof(why)))
        file_error("tls-cert", cert, err, errlen, why);
    else if (t->client_ca) {
        gnutls_datum_t a = {(unsigned char *)t->client_ca, (unsigned)strlen(t->client_ca)};

        rc = gnutls_certificate_set_x509_trust_mem(cred, &a, GNUTLS_X509_FMT_PEM);
        if (rc <= 0)
            file_error("tls-client-ca", ca, err, errlen,
                       rc < 0 ? tls_strerror(rc, why, sizeof(why)) : "no PEM certificate in it");
        ok = rc > 0;
    } else
        ok = true;
    gnutls_certificate_free_credentials(cred);
    return ok;
}

/* Free the material (see tls.h). */
void tls_free(struct tls_material *tls)
{
    if (tls->key)
        explicit_bzero(tls->key, strlen(tls->key));
    free(tls->cert);
    free(tls->key);
    free(tls->client_ca);
    memset(tls, 0, sizeof(*tls));
}

/* Do two strings, either NULL, hold the same text? */
static bool same_text(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Is the material the same (see tls.h)? */
bool tls_equal(const struct tls_material *a, const struct tls_material *b)
{
    static const struct tls_material none;

    a = a ? a : &none;
    b = b ? b : &none;
    return same_text(a->cert, b->cert) && same_text(a->key, b->key) &&
           same_text(a->client_ca, b->client_ca);
}

/* Which TLS options need which, and TLS a TCP listener. */
static bool tls_options_ok(const char *listen, const char *cert, const char *key, const char *ca,
                           char *err, size_t errlen)
{
    if ((cert == NULL) != (key == NULL))
        snprintf(err, errlen, "option \"--%s\" needs \"--%s\"", cert ? "tls-cert" : "tls-key",
                 cert ? "tls-key" : "tls-cert");
    else if (ca && cert == NULL)
        snprintf(err, errlen,
                 "option \"--tls-client-ca\" needs \"--tls-cert\" and \"--tls-key\": client "
                 "certificates are asked for in TLS");
    else if (cert && strncmp(listen, "unix:", 5) == 0)
        snprintf(err, errlen,
                 "option \"--tls-cert\" needs a TCP \"--listen\", not \"%s\": a unix socket is "
                 "guarded by its file mode",
                 listen);
    else
        return true;
    return false;
}

/* Read and check the TLS files (see tls.h). */
bool tls_read(const char *listen, const char *cert, const char *key, const char *client_ca,
              bool (*private_ok)(const struct stat *st), struct tls_material *tls, char *err,
              size_t errlen)
{
    memset(tls, 0, sizeof(*tls));
    cert = cert && cert[0] ? cert : NULL; /* "" (an emptied config line): none */
    key = key && key[0] ? key : NULL;
    client_ca = client_ca && client_ca[0] ? client_ca : NULL;
    if (!tls_options_ok(listen, cert, key, client_ca, err, errlen))
        return false;
    if (cert == NULL)
        return true;
    if (!read_pem("tls-cert", cert, NULL, &tls->cert, err, errlen) ||
        !read_pem("tls-key", key, private_ok ? private_ok : token_mode_private, &tls->key, err,
                  errlen) ||
        (client_ca && !read_pem("tls-client-ca", client_ca, NULL, &tls->client_ca, err, errlen)) ||
        !tls_check(tls, cert, client_ca, err, errlen)) {
        tls_free(tls);
        return false;
    }
    return true;
}

/* A copy of tls (see tls.h). */
bool tls_copy(const struct tls_material *tls, struct tls_material *out)
{
    memset(out, 0, sizeof(*out));
    if (tls == NULL || tls->cert == NULL)
        return true;
    out->cert = strdup(tls->cert);
    out->key = strdup(tls->key);
    out->client_ca = tls->client_ca ? strdup(tls->client_ca) : NULL;
    if (out->cert && out->key && (out->client_ca || !tls->client_ca))
        return true;
    tls_free(out);
    return false;
}

/* Under --tls-client-ca: is the client's certificate one its CAs signed (see tls.h)? */
bool tls_client_cert_ok(void *session, char *why, size_t len)
{
    gnutls_session_t ts = session;
    unsigned int n = 0, status = 0;
    gnutls_datum_t text;
    char buf[160];
    int rc;

    if (ts == NULL || gnutls_certificate_get_peers(ts, &n) == NULL || n == 0) {
        snprintf(why, len, "this guard requires a client certificate (mTLS)");
        return false;
    }
    rc = gnutls_certificate_verify_peers2(ts, &status);
    if (rc == 0 && status == 0)
        return true;
    if (rc == 0 &&
        gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0) {
        snprintf(why, len, "client certificate refused: %s", (const char *)text.data);
        gnutls_free(text.data);
    } else
        snprintf(why, len, "client certificate refused: %s",
                 rc < 0 ? tls_strerror(rc, buf, sizeof(buf)) : "not trusted");
    return false;
}
