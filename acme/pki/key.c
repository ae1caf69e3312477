/*
 * key: GnuTLS-backed account and certificate keys.  A struct key always
 * has a public key; priv is NULL for public-only keys built from JWK
 * parameters.  JWK members come from GnuTLS's raw export without leading
 * zeros (RSA) and are left-padded to the coordinate size (EC), as
 * RFC 7518 and RFC 7638 require.  Callers: jws.c, csr.c, p12.c, cert.c
 * and the requester.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "acme/pki/key.h"
#include "common/b64url.h"
#include "common/buf.h"
#include "common/fsutil.h"
#include "common/log.h"

#define KEY_FILE_MAX (64 * 1024)

struct key {
	enum key_type type;
	gnutls_privkey_t priv; /* NULL for a public-only key */
	gnutls_pubkey_t pub;
};

static const struct {
	const char *name;
	enum key_type type;
} key_names[] = {
	{ "rsa", KEY_RSA2048 },
	{ "rsa2048", KEY_RSA2048 },
	{ "rsa:2048", KEY_RSA2048 },
	{ "rsa3072", KEY_RSA3072 },
	{ "rsa:3072", KEY_RSA3072 },
	{ "rsa4096", KEY_RSA4096 },
	{ "rsa:4096", KEY_RSA4096 },
	{ "ec", KEY_EC256 },
	{ "ecdsa", KEY_EC256 },
	{ "ec256", KEY_EC256 },
	{ "p-256", KEY_EC256 },
	{ "p256", KEY_EC256 },
	{ "secp256r1", KEY_EC256 },
	{ "ec384", KEY_EC384 },
	{ "p-384", KEY_EC384 },
	{ "p384", KEY_EC384 },
	{ "secp384r1", KEY_EC384 },
};

static const char *const key_type_names[KEY_TYPE_MAX] = { "rsa2048", "rsa3072",
	"rsa4096", "ec256", "ec384" };

int
key_global_init(void)
{
	int rc;

	if ((rc = gnutls_global_init()) < 0) {
		log_err("gnutls_global_init: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

void
key_global_cleanup(void)
{
	gnutls_global_deinit();
}

enum key_type
key_type_parse(const char *s)
{
	size_t i;

	if (s == NULL) {
		return KEY_TYPE_MAX;
	}
	for (i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
		if (strcasecmp(s, key_names[i].name) == 0) {
			return key_names[i].type;
		}
	}
	return KEY_TYPE_MAX;
}

const char *
key_type_name(enum key_type t)
{
	if ((unsigned)t >= KEY_TYPE_MAX) {
		return "unknown";
	}
	return key_type_names[t];
}

static bool
key_is_ec(enum key_type t)
{
	return t == KEY_EC256 || t == KEY_EC384;
}

/* Coordinate (or scalar) size in octets of an EC key type. */
static size_t
key_coord_len(enum key_type t)
{
	return t == KEY_EC384 ? 48 : 32;
}

void
key_free(struct key *k)
{
	if (k == NULL) {
		return;
	}
	if (k->priv != NULL) {
		gnutls_privkey_deinit(k->priv);
	}
	if (k->pub != NULL) {
		gnutls_pubkey_deinit(k->pub);
	}
	free(k);
}

/* Classify the key behind pub; -1 for what ACME/S/MIME keys may not be. */
static int
key_classify(gnutls_pubkey_t pub, enum key_type *out)
{
	unsigned bits = 0;
	int alg = gnutls_pubkey_get_pk_algorithm(pub, &bits);
	gnutls_ecc_curve_t curve;
	int rc;

	if (alg == GNUTLS_PK_RSA) {
		if (bits < 2048 || bits > 8192) {
			log_err("key: RSA key of %u bits not supported", bits);
			return -1;
		}
		*out = bits >= 4096 ? KEY_RSA4096
		    : bits >= 3072  ? KEY_RSA3072
				    : KEY_RSA2048;
		return 0;
	}
	if (alg == GNUTLS_PK_ECDSA) {
		rc = gnutls_pubkey_export_ecc_raw2(pub, &curve, NULL, NULL, 0);
		if (rc < 0) {
			log_err("key: EC key: %s", gnutls_strerror(rc));
			return -1;
		}
		if (curve == GNUTLS_ECC_CURVE_SECP256R1) {
			*out = KEY_EC256;
			return 0;
		}
		if (curve == GNUTLS_ECC_CURVE_SECP384R1) {
			*out = KEY_EC384;
			return 0;
		}
		log_err("key: EC curve %s not supported",
		    gnutls_ecc_curve_get_name(curve));
		return -1;
	}
	log_err("key: algorithm %s not supported",
	    gnutls_pk_algorithm_get_name((gnutls_pk_algorithm_t)alg));
	return -1;
}

/* Wrap priv (ownership taken, even on failure) into a struct key. */
static struct key *
key_wrap_priv(gnutls_privkey_t priv)
{
	struct key *k = NULL;
	int rc;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		log_err_errno("key: calloc");
		gnutls_privkey_deinit(priv);
		return NULL;
	}
	k->priv = priv;
	if ((rc = gnutls_pubkey_init(&k->pub)) < 0 ||
	    (rc = gnutls_pubkey_import_privkey(k->pub, priv, 0, 0)) < 0) {
		log_err("key: public key: %s", gnutls_strerror(rc));
		goto fail;
	}
	if (key_classify(k->pub, &k->type) < 0) {
		goto fail;
	}
	return k;
fail:
	key_free(k);
	return NULL;
}

struct key *
key_generate(enum key_type t)
{
	gnutls_privkey_t priv = NULL;
	gnutls_pk_algorithm_t alg;
	unsigned bits;
	int rc;

	switch (t) {
	case KEY_RSA2048:
	case KEY_RSA3072:
	case KEY_RSA4096:
		alg = GNUTLS_PK_RSA;
		bits = t == KEY_RSA2048 ? 2048 : t == KEY_RSA3072 ? 3072 : 4096;
		break;
	case KEY_EC256:
		alg = GNUTLS_PK_ECDSA;
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1);
		break;
	case KEY_EC384:
		alg = GNUTLS_PK_ECDSA;
		bits = GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP384R1);
		break;
	default:
		log_err("key: unknown key type %d", (int)t);
		return NULL;
	}
	if ((rc = gnutls_privkey_init(&priv)) < 0 ||
	    (rc = gnutls_privkey_generate2(priv, alg, bits, 0, NULL, 0)) < 0) {
		log_err("key: generate %s: %s", key_type_name(t),
		    gnutls_strerror(rc));
		if (priv != NULL) {
			gnutls_privkey_deinit(priv);
		}
		return NULL;
	}
	return key_wrap_priv(priv);
}

static struct key *
key_load(const void *data, size_t len, gnutls_x509_crt_fmt_t fmt)
{
	gnutls_x509_privkey_t x = NULL;
	gnutls_privkey_t priv = NULL;
	gnutls_datum_t d;
	int rc;

	if (len > KEY_FILE_MAX) {
		log_err("key: key data too large");
		return NULL;
	}
	d.data = (unsigned char *)data;
	d.size = (unsigned)len;
	if ((rc = gnutls_x509_privkey_init(&x)) < 0) {
		goto fail;
	}
	/* import2 accepts PKCS#8, PKCS#1 and SEC1; no password. */
	rc = gnutls_x509_privkey_import2(x, &d, fmt, NULL, GNUTLS_PKCS_PLAIN);
	if (rc < 0) {
		goto fail;
	}
	if ((rc = gnutls_privkey_init(&priv)) < 0) {
		goto fail;
	}
	rc = gnutls_privkey_import_x509(
	    priv, x, GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
	if (rc < 0) {
		goto fail;
	}
	return key_wrap_priv(priv);
fail:
	log_err("key: cannot load private key: %s", gnutls_strerror(rc));
	if (priv != NULL) {
		gnutls_privkey_deinit(priv);
	}
	if (x != NULL) {
		gnutls_x509_privkey_deinit(x);
	}
	return NULL;
}

struct key *
key_load_pem(const void *pem, size_t len)
{
	return key_load(pem, len, GNUTLS_X509_FMT_PEM);
}

struct key *
key_load_der(const void *der, size_t len)
{
	return key_load(der, len, GNUTLS_X509_FMT_DER);
}

static struct key *
load_file(const char *path, bool follow)
{
	struct key *k = NULL;
	char *data;
	size_t len = 0;

	data = follow ? fs_read_user_file(path, KEY_FILE_MAX, &len)
		      : fs_read_file(path, KEY_FILE_MAX, &len);
	if (data == NULL) {
		log_err_errno("%s: cannot read key", path);
		return NULL;
	}
	k = key_load_pem(data, len);
	gnutls_memset(data, 0, len);
	free(data);
	if (k == NULL) {
		log_err("%s: not a usable private key", path);
	}
	return k;
}

struct key *
key_load_file(const char *path)
{
	return load_file(path, false);
}

struct key *
key_load_user_file(const char *path)
{
	return load_file(path, true);
}

static struct key *
key_wrap_pub(gnutls_pubkey_t pub)
{
	struct key *k;

	if ((k = calloc(1, sizeof(*k))) == NULL) {
		log_err_errno("key: calloc");
		gnutls_pubkey_deinit(pub);
		return NULL;
	}
	k->pub = pub;
	if (key_classify(pub, &k->type) < 0) {
		key_free(k);
		return NULL;
	}
	return k;
}

struct key *
key_from_rsa_public(const void *n, size_t n_len, const void *e, size_t e_len)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t dn = { (unsigned char *)n, (unsigned)n_len };
	gnutls_datum_t de = { (unsigned char *)e, (unsigned)e_len };
	int rc;

	if ((rc = gnutls_pubkey_init(&pub)) < 0 ||
	    (rc = gnutls_pubkey_import_rsa_raw(pub, &dn, &de)) < 0) {
		log_err("key: RSA public key: %s", gnutls_strerror(rc));
		if (pub != NULL) {
			gnutls_pubkey_deinit(pub);
		}
		return NULL;
	}
	return key_wrap_pub(pub);
}

/* The GnuTLS curve of an EC key type; GNUTLS_ECC_CURVE_INVALID (logged)
 * for another type. */
static gnutls_ecc_curve_t
ec_curve(enum key_type curve)
{
	if (curve == KEY_EC256) {
		return GNUTLS_ECC_CURVE_SECP256R1;
	}
	if (curve == KEY_EC384) {
		return GNUTLS_ECC_CURVE_SECP384R1;
	}
	log_err("key: not an EC key type");
	return GNUTLS_ECC_CURVE_INVALID;
}

struct key *
key_from_ec_public(enum key_type curve, const void *x, size_t x_len,
    const void *y, size_t y_len)
{
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t dx = { (unsigned char *)x, (unsigned)x_len };
	gnutls_datum_t dy = { (unsigned char *)y, (unsigned)y_len };
	gnutls_ecc_curve_t c;
	int rc;

	if ((c = ec_curve(curve)) == GNUTLS_ECC_CURVE_INVALID) {
		return NULL;
	}
	if ((rc = gnutls_pubkey_init(&pub)) < 0 ||
	    (rc = gnutls_pubkey_import_ecc_raw(pub, c, &dx, &dy)) < 0) {
		log_err("key: EC public key: %s", gnutls_strerror(rc));
		if (pub != NULL) {
			gnutls_pubkey_deinit(pub);
		}
		return NULL;
	}
	return key_wrap_pub(pub);
}

/* A private key from raw parameters; GnuTLS derives what is missing. */
struct key *
key_from_rsa_private(const struct key_raw *r)
{
	gnutls_privkey_t priv = NULL;
	gnutls_datum_t dn = { (unsigned char *)r->a, (unsigned)r->a_len };
	gnutls_datum_t de = { (unsigned char *)r->b, (unsigned)r->b_len };
	gnutls_datum_t dd = { (unsigned char *)r->d, (unsigned)r->d_len };
	gnutls_datum_t dp = { (unsigned char *)r->p, (unsigned)r->p_len };
	gnutls_datum_t dq = { (unsigned char *)r->q, (unsigned)r->q_len };
	int rc;

	if ((rc = gnutls_privkey_init(&priv)) < 0 ||
	    (rc = gnutls_privkey_import_rsa_raw(
		 priv, &dn, &de, &dd, &dp, &dq, NULL, NULL, NULL)) < 0 ||
	    (rc = gnutls_privkey_verify_params(priv)) < 0) {
		log_err("key: RSA private key: %s", gnutls_strerror(rc));
		if (priv != NULL) {
			gnutls_privkey_deinit(priv);
		}
		return NULL;
	}
	return key_wrap_priv(priv);
}

struct key *
key_from_ec_private(enum key_type curve, const struct key_raw *r)
{
	gnutls_privkey_t priv = NULL;
	gnutls_datum_t dx = { (unsigned char *)r->a, (unsigned)r->a_len };
	gnutls_datum_t dy = { (unsigned char *)r->b, (unsigned)r->b_len };
	gnutls_datum_t dk = { (unsigned char *)r->d, (unsigned)r->d_len };
	gnutls_ecc_curve_t c;
	int rc;

	if ((c = ec_curve(curve)) == GNUTLS_ECC_CURVE_INVALID) {
		return NULL;
	}
	if ((rc = gnutls_privkey_init(&priv)) < 0 ||
	    (rc = gnutls_privkey_import_ecc_raw(priv, c, &dx, &dy, &dk)) < 0 ||
	    (rc = gnutls_privkey_verify_params(priv)) < 0) {
		log_err("key: EC private key: %s", gnutls_strerror(rc));
		if (priv != NULL) {
			gnutls_privkey_deinit(priv);
		}
		return NULL;
	}
	return key_wrap_priv(priv);
}

enum key_type
key_get_type(const struct key *k)
{
	return k->type;
}

bool
key_has_private(const struct key *k)
{
	return k != NULL && k->priv != NULL;
}

const char *
key_alg(const struct key *k)
{
	switch (k->type) {
	case KEY_EC256:
		return "ES256";
	case KEY_EC384:
		return "ES384";
	default:
		return "RS256";
	}
}

static gnutls_sign_algorithm_t
key_sign_algo(const struct key *k)
{
	switch (k->type) {
	case KEY_EC256:
		return GNUTLS_SIGN_ECDSA_SHA256;
	case KEY_EC384:
		return GNUTLS_SIGN_ECDSA_SHA384;
	default:
		return GNUTLS_SIGN_RSA_SHA256;
	}
}

size_t
key_sig_len(const struct key *k)
{
	unsigned bits = 0;

	if (key_is_ec(k->type)) {
		return 2 * key_coord_len(k->type);
	}
	gnutls_pubkey_get_pk_algorithm(k->pub, &bits);
	return (bits + 7) / 8;
}

/*
 * Export the private key as unencrypted PKCS#8 in fmt into d.  0 / -1
 * (logged); either way the caller releases d with key_datum_wipe().
 */
static int
key_export_pkcs8(
    const struct key *k, gnutls_x509_crt_fmt_t fmt, gnutls_datum_t *d)
{
	gnutls_x509_privkey_t x = NULL;
	int rc, ret = -1;

	d->data = NULL;
	d->size = 0;
	if (k->priv == NULL) {
		log_err("key: no private key to export");
		return -1;
	}
	if ((rc = gnutls_privkey_export_x509(k->priv, &x)) < 0 ||
	    (rc = gnutls_x509_privkey_export2_pkcs8(
		 x, fmt, NULL, GNUTLS_PKCS_PLAIN, d)) < 0) {
		log_err("key: export: %s", gnutls_strerror(rc));
		goto out;
	}
	ret = 0;
out:
	if (x != NULL) {
		gnutls_x509_privkey_deinit(x);
	}
	return ret;
}

/* Wipe and free what key_export_pkcs8() exported; NULL data is fine. */
static void
key_datum_wipe(gnutls_datum_t *d)
{
	if (d->data != NULL) {
		gnutls_memset(d->data, 0, d->size);
		gnutls_free(d->data);
		d->data = NULL;
	}
	d->size = 0;
}

int
key_to_pem(const struct key *k, struct buf *out)
{
	gnutls_datum_t d = { NULL, 0 };
	int ret = -1;

	if (key_export_pkcs8(k, GNUTLS_X509_FMT_PEM, &d) < 0) {
		goto out;
	}
	if (buf_append(out, d.data, d.size) < 0) {
		log_err_errno("key: export");
		goto out;
	}
	ret = 0;
out:
	key_datum_wipe(&d);
	return ret;
}

int
key_public_der(const struct key *k, unsigned char **der, size_t *len)
{
	gnutls_datum_t d = { NULL, 0 };
	int rc;

	*der = NULL;
	*len = 0;
	if ((rc = gnutls_pubkey_export2(k->pub, GNUTLS_X509_FMT_DER, &d)) < 0) {
		log_err("key: public key export: %s", gnutls_strerror(rc));
		return -1;
	}
	if ((*der = malloc(d.size)) == NULL) {
		log_err_errno("key: malloc");
		gnutls_free(d.data);
		return -1;
	}
	memcpy(*der, d.data, d.size);
	*len = d.size;
	gnutls_free(d.data);
	return 0;
}

/* base64url of v without leading zeros, left-padded to pad octets (0:
 * no padding); malloc'ed, NULL on failure. */
static char *
key_jwk_value(const gnutls_datum_t *v, size_t pad)
{
	unsigned char tmp[512];
	const unsigned char *p = v->data;
	size_t n = v->size;

	/* Strip leading zeros GnuTLS may add; then pad to a fixed size. */
	while (n > 1 && *p == 0) {
		p++;
		n--;
	}
	if (pad > 0) {
		if (n > pad || pad > sizeof(tmp)) {
			return NULL;
		}
		memset(tmp, 0, pad - n);
		memcpy(tmp + pad - n, p, n);
		p = tmp;
		n = pad;
	}
	return b64url_encode(p, n);
}

/* Add one member; the value is malloc'ed (NULL fails). */
static int
key_jwk_add(struct key_jwk *j, const char *name, char *value)
{
	if (value == NULL || j->n >= KEY_JWK_MEMBERS_MAX) {
		free(value);
		return -1;
	}
	j->name[j->n] = name;
	j->value[j->n++] = value;
	return 0;
}

int
key_jwk_members(const struct key *k, struct key_jwk *out)
{
	gnutls_datum_t a = { NULL, 0 }, b = { NULL, 0 };
	gnutls_ecc_curve_t curve;
	size_t cl;
	int rc, ret = -1;

	memset(out, 0, sizeof(*out));
	if (key_is_ec(k->type)) {
		cl = key_coord_len(k->type);
		rc = gnutls_pubkey_export_ecc_raw2(
		    k->pub, &curve, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ);
		if (rc < 0) {
			log_err("key: JWK: %s", gnutls_strerror(rc));
			goto out;
		}
		/* RFC 7638 order: crv, kty, x, y. */
		if (key_jwk_add(out, "crv",
			strdup(k->type == KEY_EC384 ? "P-384" : "P-256")) < 0 ||
		    key_jwk_add(out, "kty", strdup("EC")) < 0 ||
		    key_jwk_add(out, "x", key_jwk_value(&a, cl)) < 0 ||
		    key_jwk_add(out, "y", key_jwk_value(&b, cl)) < 0) {
			goto fail;
		}
	} else {
		rc = gnutls_pubkey_export_rsa_raw2(
		    k->pub, &a, &b, GNUTLS_EXPORT_FLAG_NO_LZ);
		if (rc < 0) {
			log_err("key: JWK: %s", gnutls_strerror(rc));
			goto out;
		}
		/* RFC 7638 order: e, kty, n. */
		if (key_jwk_add(out, "e", key_jwk_value(&b, 0)) < 0 ||
		    key_jwk_add(out, "kty", strdup("RSA")) < 0 ||
		    key_jwk_add(out, "n", key_jwk_value(&a, 0)) < 0) {
			goto fail;
		}
	}
	ret = 0;
	goto out;
fail:
	log_err("key: JWK: cannot encode");
	key_jwk_free(out);
out:
	gnutls_free(a.data);
	gnutls_free(b.data);
	return ret;
}

void
key_jwk_free(struct key_jwk *j)
{
	size_t i;

	if (j == NULL) {
		return;
	}
	for (i = 0; i < j->n; i++) {
		free(j->value[i]);
	}
	memset(j, 0, sizeof(*j));
}

/* Copy an integer into a fixed-size big-endian field (left-padded). */
static int
key_put_fixed(unsigned char *dst, size_t width, const gnutls_datum_t *v)
{
	const unsigned char *p = v->data;
	size_t n = v->size;

	while (n > 0 && *p == 0) {
		p++;
		n--;
	}
	if (n > width) {
		return -1;
	}
	memset(dst, 0, width - n);
	memcpy(dst + width - n, p, n);
	return 0;
}

int
key_sign(const struct key *k, const void *data, size_t len, unsigned char **sig,
    size_t *sig_len)
{
	gnutls_datum_t d = { (unsigned char *)data, (unsigned)len };
	gnutls_datum_t s = { NULL, 0 }, r = { NULL, 0 }, ss = { NULL, 0 };
	unsigned char *res = NULL;
	size_t cl, want;
	int rc, ret = -1;

	*sig = NULL;
	*sig_len = 0;
	if (k->priv == NULL) {
		log_err("key: cannot sign with a public key");
		return -1;
	}
	rc = gnutls_privkey_sign_data2(k->priv, key_sign_algo(k), 0, &d, &s);
	if (rc < 0) {
		log_err("key: sign: %s", gnutls_strerror(rc));
		goto out;
	}
	want = key_sig_len(k);
	if ((res = malloc(want)) == NULL) {
		log_err_errno("key: malloc");
		goto out;
	}
	if (key_is_ec(k->type)) {
		/* DER Ecdsa-Sig-Value -> raw r||s (RFC 7518 §3.4). */
		cl = key_coord_len(k->type);
		if ((rc = gnutls_decode_rs_value(&s, &r, &ss)) < 0) {
			log_err("key: sign: %s", gnutls_strerror(rc));
			goto out;
		}
		if (key_put_fixed(res, cl, &r) < 0 ||
		    key_put_fixed(res + cl, cl, &ss) < 0) {
			log_err("key: sign: bad ECDSA value");
			goto out;
		}
	} else {
		if (s.size != want) {
			log_err("key: sign: unexpected RSA signature size");
			goto out;
		}
		memcpy(res, s.data, want);
	}
	*sig = res;
	*sig_len = want;
	res = NULL;
	ret = 0;
out:
	free(res);
	gnutls_free(s.data);
	gnutls_free(r.data);
	gnutls_free(ss.data);
	return ret;
}

bool
key_verify(const struct key *k, const void *data, size_t len,
    const unsigned char *sig, size_t sig_len)
{
	gnutls_datum_t d = { (unsigned char *)data, (unsigned)len };
	gnutls_datum_t s = { (unsigned char *)sig, (unsigned)sig_len };
	gnutls_datum_t der = { NULL, 0 }, r, ss;
	size_t cl;
	bool ok = false;

	if (sig_len != key_sig_len(k)) {
		return false;
	}
	if (key_is_ec(k->type)) {
		cl = key_coord_len(k->type);
		r.data = (unsigned char *)sig;
		r.size = (unsigned)cl;
		ss.data = (unsigned char *)sig + cl;
		ss.size = (unsigned)cl;
		/* DER INTEGERs are minimal: drop the padding again. */
		while (r.size > 1 && r.data[0] == 0) {
			r.data++;
			r.size--;
		}
		while (ss.size > 1 && ss.data[0] == 0) {
			ss.data++;
			ss.size--;
		}
		if (gnutls_encode_rs_value(&der, &r, &ss) < 0) {
			return false;
		}
		s = der;
	}
	ok = gnutls_pubkey_verify_data2(k->pub, key_sign_algo(k), 0, &d, &s) >=
	    0;
	gnutls_free(der.data);
	return ok;
}

bool
key_equal_public(const struct key *a, const struct key *b)
{
	unsigned char *da = NULL, *db = NULL;
	size_t la = 0, lb = 0;
	bool eq = false;

	if (key_public_der(a, &da, &la) == 0 &&
	    key_public_der(b, &db, &lb) == 0) {
		eq = la == lb && memcmp(da, db, la) == 0;
	}
	free(da);
	free(db);
	return eq;
}

void *
key_gnutls_privkey(const struct key *k)
{
	return k->priv;
}

void *
key_gnutls_pubkey(const struct key *k)
{
	return k->pub;
}
