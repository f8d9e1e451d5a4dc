/*
 * test_tls.c - the TLS material: which option needs which, the files read
 * (a key under the mode rule it is given, FIFOs and missing files refused),
 * GnuTLS's checks (a key that does not fit, an expired certificate, a CA
 * file without a certificate) on certificates made here, and the copy,
 * comparison and wiping of the material.
 */
#include "unit_util.h"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <time.h>

#include "tls.h"

/* The mode rule tls_read is given for the key: owner-only (the token file's, for root too). */
static bool owner_only(const struct stat *st)
{
    return (st->st_mode & 0077) == 0;
}

/* Write a fresh EC key to dir/name (mode 0600); returns it for signing. */
static gnutls_x509_privkey_t make_key(const char *dir, const char *name)
{
    gnutls_x509_privkey_t k;
    char pem[4096], path[PATH_MAX];
    size_t len = sizeof(pem);

    assert_int_equal(gnutls_x509_privkey_init(&k), 0);
    assert_int_equal(gnutls_x509_privkey_generate(
                         k, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    assert_int_equal(gnutls_x509_privkey_export(k, GNUTLS_X509_FMT_PEM, pem, &len), 0);
    ut_write_bytes(dir, name, pem, len);
    ut_path(path, dir, name);
    assert_int_equal(chmod(path, 0600), 0);
    return k;
}

/* Write a self-signed certificate of key k, valid from..until, to dir/name. */
static void make_cert(const char *dir, const char *name, gnutls_x509_privkey_t k, time_t from,
                      time_t until)
{
    gnutls_x509_crt_t c;
    char pem[8192];
    size_t len = sizeof(pem);
    unsigned char serial[] = {1};

    assert_int_equal(gnutls_x509_crt_init(&c), 0);
    assert_int_equal(gnutls_x509_crt_set_version(c, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(c, serial, sizeof(serial)), 0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(c, from), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(c, until), 0);
    assert_int_equal(
        gnutls_x509_crt_set_dn_by_oid(c, GNUTLS_OID_X520_COMMON_NAME, 0, "localhost", 9), 0);
    assert_int_equal(gnutls_x509_crt_set_key(c, k), 0);
    assert_int_equal(gnutls_x509_crt_set_basic_constraints(c, 1, -1), 0);
    assert_int_equal(gnutls_x509_crt_sign2(c, c, k, GNUTLS_DIG_SHA256, 0), 0);
    assert_int_equal(gnutls_x509_crt_export(c, GNUTLS_X509_FMT_PEM, pem, &len), 0);
    ut_write_bytes(dir, name, pem, len);
    gnutls_x509_crt_deinit(c);
}

/* Paths of dir/name into three buffers. */
struct files {
    char cert[PATH_MAX], key[PATH_MAX], other[PATH_MAX];
};

/* A key, its certificate valid for a day, a second key, an expired certificate. */
static void make_files(const char *dir, struct files *f)
{
    gnutls_x509_privkey_t k = make_key(dir, "key.pem"), k2 = make_key(dir, "key2.pem");
    time_t now = time(NULL);

    make_cert(dir, "cert.pem", k, now - 3600, now + 86400);
    make_cert(dir, "old.pem", k, now - 7200, now - 3600);
    gnutls_x509_privkey_deinit(k);
    gnutls_x509_privkey_deinit(k2);
    ut_path(f->cert, dir, "cert.pem");
    ut_path(f->key, dir, "key.pem");
    ut_path(f->other, dir, "key2.pem");
}

/* Expect the options to be refused with a message containing want; no material kept. */
static void refused(const char *listen, const char *cert, const char *key, const char *ca,
                    const char *want)
{
    struct tls_material t;
    char err[512] = "";

    if (tls_read(listen, cert, key, ca, owner_only, &t, err, sizeof(err)))
        fail_msg("TLS options %s %s %s were accepted", cert, key, ca);
    assert_null(t.cert);
    assert_null(t.key);
    assert_null(t.client_ca);
    if (strstr(err, want) == NULL)
        fail_msg("error lacks \"%s\": %s", want, err);
}

/* Which option needs which, in these words; "" counts as not given. */
static void test_options(void **state)
{
    struct tls_material t;
    char err[512];

    (void)state;
    assert_true(tls_read("127.0.0.1:8009", NULL, NULL, NULL, owner_only, &t, err, sizeof(err)));
    assert_null(t.cert);
    assert_true(tls_read("127.0.0.1:8009", "", "", "", owner_only, &t, err, sizeof(err)));
    assert_null(t.cert);
    refused("127.0.0.1:8009", "/c", NULL, NULL, "option \"--tls-cert\" needs \"--tls-key\"");
    refused("127.0.0.1:8009", NULL, "/k", NULL, "option \"--tls-key\" needs \"--tls-cert\"");
    refused("127.0.0.1:8009", NULL, NULL, "/ca",
            "option \"--tls-client-ca\" needs \"--tls-cert\" and \"--tls-key\": client "
            "certificates are asked for in TLS");
    refused("unix:/run/dg.sock", "/c", "/k", NULL,
            "option \"--tls-cert\" needs a TCP \"--listen\", not \"unix:/run/dg.sock\": a unix "
            "socket is guarded by its file mode");
    refused("127.0.0.1:8009", "/nonexistent/c", "/k", NULL,
            "invalid value \"/nonexistent/c\" for option \"--tls-cert\": No such file");
}

/* A good pair is read whole; copies compare equal, other material does not; free wipes. */
static void test_good_pair(void **state)
{
    struct tls_material t, copy, none = {0};
    struct files f;
    char err[512], *text;

    make_files(*state, &f);
    if (!tls_read("127.0.0.1:8009", f.cert, f.key, f.cert, owner_only, &t, err, sizeof(err)))
        fail_msg("refused: %s", err);
    text = ut_read_file(f.cert);
    assert_string_equal(t.cert, text);
    assert_string_equal(t.client_ca, text);
    free(text);
    text = ut_read_file(f.key);
    assert_string_equal(t.key, text);
    free(text);
    assert_true(tls_copy(&t, &copy));
    assert_ptr_not_equal(copy.key, t.key);
    assert_true(tls_equal(&t, &copy));
    free(copy.client_ca);
    copy.client_ca = NULL;
    assert_false(tls_equal(&t, &copy));
    assert_false(tls_equal(&t, NULL));
    assert_true(tls_equal(NULL, &none));
    tls_free(&copy);
    assert_null(copy.cert);
    assert_true(tls_copy(NULL, &copy));
    assert_null(copy.cert);
    tls_free(&t);
    assert_true(tls_equal(&t, NULL));
}

/* GnuTLS's refusals: a key of another certificate, an expired certificate, a CA of no PEM. */
static void test_refused_material(void **state)
{
    struct files f;
    char old[PATH_MAX], junk[PATH_MAX];

    make_files(*state, &f);
    ut_path(old, *state, "old.pem");
    ut_path(junk, *state, "junk.pem");
    ut_write_file(*state, "junk.pem", "no certificate here\n");
    refused("127.0.0.1:8009", f.cert, f.other, NULL, "options \"--tls-cert\" \"");
    refused("127.0.0.1:8009", f.cert, f.other, NULL, "\" and \"--tls-key\": ");
    refused("127.0.0.1:8009", old, f.key, NULL, "the certificate expired on ");
    refused("127.0.0.1:8009", old, f.key, NULL, "for option \"--tls-cert\"");
    refused("127.0.0.1:8009", f.cert, f.key, junk,
            "for option \"--tls-client-ca\": no PEM certificate in it");
}

/* The key passes the rule given (the mode is named); only the key; a FIFO is refused at once. */
static void test_files(void **state)
{
    char fifo[PATH_MAX];
    struct tls_material t;
    struct files f;
    char err[512];

    make_files(*state, &f);
    assert_int_equal(chmod(f.key, 0640), 0);
    refused("127.0.0.1:8009", f.cert, f.key, NULL,
            "\"--tls-key\": may be read by others (mode 0640, owner uid ");
    /* No rule handed in: token.c's, not none (which refuses a key others may read). */
    assert_int_equal(chmod(f.key, 0644), 0);
    assert_false(tls_read("127.0.0.1:8009", f.cert, f.key, NULL, NULL, &t, err, sizeof(err)));
    assert_non_null(strstr(err, "may be read by others"));
    assert_int_equal(chmod(f.key, 0600), 0);
    assert_int_equal(chmod(f.cert, 0644), 0);
    assert_true(tls_read("127.0.0.1:8009", f.cert, f.key, NULL, owner_only, &t, err, sizeof(err)));
    tls_free(&t);
    ut_path(fifo, *state, "k.fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    refused("127.0.0.1:8009", f.cert, fifo, NULL, "\"--tls-key\": not a regular file");
    refused("127.0.0.1:8009", fifo, f.key, NULL, "\"--tls-cert\": not a regular file");
    alarm(0);
}

/* Without a TLS session (or a certificate in it) mTLS refuses, saying so. */
static void test_client_cert(void **state)
{
    char why[160];

    (void)state;
    assert_false(tls_client_cert_ok(NULL, why, sizeof(why)));
    assert_string_equal(why, "this guard requires a client certificate (mTLS)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test_setup_teardown(test_good_pair, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_refused_material, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test_setup_teardown(test_files, ut_tmpdir_setup, ut_tmpdir_teardown),
        cmocka_unit_test(test_client_cert),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
