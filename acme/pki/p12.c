/*
 * p12: PKCS#12 build and read (GnuTLS), as certtool does it: one bag of
 * certificates (encrypted PBES2/AES-256 unless asked not to), one bag
 * with the PKCS#8 key (shrouded with the same scheme), a shared
 * friendly name and localKeyId on key and leaf, a SHA-256 MAC.  Called
 * by the requester (store, revoke from a PKCS#12).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/pkcs12.h>
#include <gnutls/x509.h>

#include "acme/pki/p12.h"
#include "common/log.h"

#define P12_SCHEMA GNUTLS_PKCS_PBES2_AES_256

static int
p12_import_crt(const struct cert *c, gnutls_x509_crt_t *crt)
{
	gnutls_datum_t d = { c->der, (unsigned)c->len };
	int rc;

	*crt = NULL;
	if ((rc = gnutls_x509_crt_init(crt)) < 0 ||
	    (rc = gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_DER)) < 0) {
		log_err("p12: certificate: %s", gnutls_strerror(rc));
		return -1;
	}
	return 0;
}

int
p12_build(const struct key *k, const struct cert_chain *chain,
    const char *friendly_name, const char *passphrase, bool unencrypted,
    unsigned char **der, size_t *len)
{
	gnutls_pkcs12_t p12 = NULL;
	gnutls_pkcs12_bag_t cbag = NULL, kbag = NULL;
	gnutls_x509_crt_t crt = NULL;
	gnutls_x509_privkey_t xkey = NULL;
	gnutls_datum_t kd = { NULL, 0 }, out = { NULL, 0 }, kid = { NULL, 0 };
	unsigned char keyid[64];
	size_t keyid_len = sizeof(keyid), i;
	int rc = 0, idx, ret = -1;

	*der = NULL;
	*len = 0;
	if (passphrase == NULL || chain->n == 0 || !key_has_private(k)) {
		log_err("p12: need a passphrase, a certificate and a key");
		return -1;
	}
	if (!cert_matches_key(&chain->certs[0], k)) {
		log_err("p12: the certificate does not match the key");
		return -1;
	}
	if ((rc = gnutls_pkcs12_init(&p12)) < 0 ||
	    (rc = gnutls_pkcs12_bag_init(&cbag)) < 0 ||
	    (rc = gnutls_pkcs12_bag_init(&kbag)) < 0) {
		goto fail;
	}
	for (i = 0; i < chain->n; i++) {
		if (p12_import_crt(&chain->certs[i], &crt) < 0) {
			goto out;
		}
		if ((idx = rc = gnutls_pkcs12_bag_set_crt(cbag, crt)) < 0) {
			goto fail;
		}
		if (i == 0) {
			rc = gnutls_x509_crt_get_key_id(
			    crt, 0, keyid, &keyid_len);
			if (rc < 0) {
				goto fail;
			}
			kid.data = keyid;
			kid.size = (unsigned)keyid_len;
			if ((rc = gnutls_pkcs12_bag_set_key_id(
				 cbag, idx, &kid)) < 0) {
				goto fail;
			}
			if (friendly_name != NULL &&
			    (rc = gnutls_pkcs12_bag_set_friendly_name(
				 cbag, idx, friendly_name)) < 0) {
				goto fail;
			}
		}
		gnutls_x509_crt_deinit(crt);
		crt = NULL;
	}
	if (!unencrypted &&
	    (rc = gnutls_pkcs12_bag_encrypt(cbag, passphrase, P12_SCHEMA)) <
		0) {
		goto fail;
	}
	if ((rc = gnutls_pkcs12_set_bag(p12, cbag)) < 0) {
		goto fail;
	}
	rc = gnutls_privkey_export_x509(
	    (gnutls_privkey_t)key_gnutls_privkey(k), &xkey);
	if (rc < 0) {
		goto fail;
	}
	rc = gnutls_x509_privkey_export2_pkcs8(xkey, GNUTLS_X509_FMT_DER,
	    unencrypted ? NULL : passphrase,
	    unencrypted ? GNUTLS_PKCS_PLAIN : P12_SCHEMA, &kd);
	if (rc < 0) {
		goto fail;
	}
	idx = rc = gnutls_pkcs12_bag_set_data(kbag,
	    unencrypted ? GNUTLS_BAG_PKCS8_KEY : GNUTLS_BAG_PKCS8_ENCRYPTED_KEY,
	    &kd);
	if (rc < 0 ||
	    (rc = gnutls_pkcs12_bag_set_key_id(kbag, idx, &kid)) < 0) {
		goto fail;
	}
	if (friendly_name != NULL &&
	    (rc = gnutls_pkcs12_bag_set_friendly_name(
		 kbag, idx, friendly_name)) < 0) {
		goto fail;
	}
	if ((rc = gnutls_pkcs12_set_bag(p12, kbag)) < 0 ||
	    (rc = gnutls_pkcs12_generate_mac2(
		 p12, GNUTLS_MAC_SHA256, passphrase)) < 0 ||
	    (rc = gnutls_pkcs12_export2(p12, GNUTLS_X509_FMT_DER, &out)) < 0) {
		goto fail;
	}
	if ((*der = malloc(out.size)) == NULL) {
		log_err_errno("p12: malloc");
		goto out;
	}
	memcpy(*der, out.data, out.size);
	*len = out.size;
	ret = 0;
	goto out;
fail:
	log_err("p12: %s", gnutls_strerror(rc));
out:
	if (kd.data != NULL) {
		gnutls_memset(kd.data, 0, kd.size);
		gnutls_free(kd.data);
	}
	if (out.data != NULL) {
		gnutls_memset(out.data, 0, out.size);
		gnutls_free(out.data);
	}
	if (crt != NULL) {
		gnutls_x509_crt_deinit(crt);
	}
	if (xkey != NULL) {
		gnutls_x509_privkey_deinit(xkey);
	}
	if (cbag != NULL) {
		gnutls_pkcs12_bag_deinit(cbag);
	}
	if (kbag != NULL) {
		gnutls_pkcs12_bag_deinit(kbag);
	}
	if (p12 != NULL) {
		gnutls_pkcs12_deinit(p12);
	}
	return ret;
}

static int
p12_add_crt(struct cert_chain *chain, gnutls_x509_crt_t crt)
{
	gnutls_datum_t d = { NULL, 0 };
	int rc;

	if (gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &d) < 0) {
		return -1;
	}
	rc = cert_chain_add(chain, d.data, d.size);
	gnutls_free(d.data);
	return rc;
}

/*
 * No passphrase has two spellings in PKCS#12: no password at all (the
 * KDF gets zero octets) and the empty one (the KDF gets the BMPString
 * terminator).  p12_build with "" writes the second; Python's
 * cryptography with NoEncryption (the seed client) the first; OpenSSL
 * reads both.  Without a passphrase, or with "", accept either and leave
 * in *passphrase the one the MAC verifies with.
 */
static int
p12_mac_pass(gnutls_pkcs12_t p12, const char **passphrase)
{
	if (gnutls_pkcs12_verify_mac(p12, *passphrase) >= 0) {
		return 0;
	}
	if (*passphrase != NULL && **passphrase != '\0') {
		return -1;
	}
	*passphrase = *passphrase == NULL ? "" : NULL;
	if (gnutls_pkcs12_verify_mac(p12, *passphrase) < 0) {
		return -1;
	}
	return 0;
}

int
p12_read(const void *data, size_t len, const char *passphrase, struct key **key,
    struct cert_chain *chain)
{
	gnutls_pkcs12_t p12 = NULL;
	gnutls_x509_privkey_t xkey = NULL;
	gnutls_x509_crt_t *certs = NULL, *extra = NULL;
	gnutls_datum_t d = { (unsigned char *)data, (unsigned)len };
	gnutls_datum_t kd = { NULL, 0 };
	unsigned n_certs = 0, n_extra = 0, i;
	int rc, err = EINVAL, ret = -1;

	*key = NULL;
	chain->certs = NULL;
	chain->n = 0;
	if ((rc = gnutls_pkcs12_init(&p12)) < 0) {
		err = ENOMEM;
		goto out;
	}
	rc = gnutls_pkcs12_import(p12, &d, GNUTLS_X509_FMT_DER, 0);
	if (rc < 0) {
		rc = gnutls_pkcs12_import(p12, &d, GNUTLS_X509_FMT_PEM, 0);
	}
	if (rc < 0) {
		log_err("p12: not a PKCS#12 file: %s", gnutls_strerror(rc));
		goto out;
	}
	if (p12_mac_pass(p12, &passphrase) < 0) {
		log_err("p12: wrong passphrase (MAC does not verify)");
		err = EACCES;
		goto out;
	}
	rc =
	    gnutls_pkcs12_simple_parse(p12, passphrase, &xkey, &certs, &n_certs,
		&extra, &n_extra, NULL, GNUTLS_PKCS12_SP_INCLUDE_SELF_SIGNED);
	if (rc == GNUTLS_E_DECRYPTION_FAILED) {
		log_err("p12: wrong passphrase (cannot decrypt)");
		err = EACCES;
		goto out;
	}
	if (rc < 0 || xkey == NULL || n_certs == 0) {
		log_err("p12: no key with its certificate: %s",
		    rc < 0 ? gnutls_strerror(rc) : "missing");
		goto out;
	}
	if (gnutls_x509_privkey_export2_pkcs8(
		xkey, GNUTLS_X509_FMT_DER, NULL, GNUTLS_PKCS_PLAIN, &kd) < 0 ||
	    (*key = key_load_der(kd.data, kd.size)) == NULL) {
		goto out;
	}
	for (i = 0; i < n_certs; i++) {
		if (p12_add_crt(chain, certs[i]) < 0) {
			err = ENOMEM;
			goto out;
		}
	}
	for (i = 0; i < n_extra; i++) {
		if (p12_add_crt(chain, extra[i]) < 0) {
			err = ENOMEM;
			goto out;
		}
	}
	ret = 0;
out:
	if (ret < 0) {
		key_free(*key);
		*key = NULL;
		cert_chain_free(chain);
	}
	if (kd.data != NULL) {
		gnutls_memset(kd.data, 0, kd.size);
		gnutls_free(kd.data);
	}
	for (i = 0; i < n_certs; i++) {
		gnutls_x509_crt_deinit(certs[i]);
	}
	gnutls_free(certs);
	for (i = 0; i < n_extra; i++) {
		gnutls_x509_crt_deinit(extra[i]);
	}
	gnutls_free(extra);
	if (xkey != NULL) {
		gnutls_x509_privkey_deinit(xkey);
	}
	if (p12 != NULL) {
		gnutls_pkcs12_deinit(p12);
	}
	if (ret < 0) {
		errno = err;
	}
	return ret;
}
