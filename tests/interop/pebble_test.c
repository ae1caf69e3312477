/*
 * pebble_test: drives acme/ (accounts, EAB, orders, finalize, chains,
 * key rollover, revocation, deactivation) against a running Pebble.
 * Usage: pebble_test DIR_URL CA_PEM [EAB_DIR_URL EAB_KID EAB_MAC_KEY]
 * Prints one "PASS: name" / "FAIL: name: why" / "SKIP: name: why" line
 * per assertion; exits 1 if any failed.  Started by check.sh.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>

#include "acme/proto/acct.h"
#include "acme/proto/acme.h"
#include "acme/pki/cert.h"
#include "acme/pki/key.h"
#include "acme/proto/order.h"
#include "common/log.h"

static int failures;

static void
check(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS: %s\n", name);
	} else {
		failures++;
		printf("FAIL: %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
	}
	fflush(stdout);
}

/* Polls need not wait for real: Pebble validates at once. */
static void
fast_sleep(void *arg, unsigned seconds)
{
	(void)arg;
	(void)seconds;
	usleep(200 * 1000);
}

static struct acme_client *
client(const char *dir, const char *ca)
{
	struct acme_opts o;

	memset(&o, 0, sizeof(o));
	o.directory_url = dir;
	o.http.ca_bundle = ca;
	o.http.timeout = 20;
	o.clock.sleep = fast_sleep;
	/* Pebble rejects 30% of nonces at random: 5 retries would fail
	 * one run in ~30; 10 make that negligible. */
	o.badnonce_max = 10;
	return acme_new(&o);
}

/* A dNSName CSR (csr.c builds e-mail CSRs only; Pebble issues DNS). */
static int
dns_csr(const struct key *k, const char *name, unsigned char **der, size_t *len)
{
	gnutls_x509_crq_t crq;
	gnutls_datum_t d;
	int ok;

	gnutls_x509_crq_init(&crq);
	ok = gnutls_x509_crq_set_version(crq, 1) >= 0 &&
	    gnutls_x509_crq_set_subject_alt_name(crq, GNUTLS_SAN_DNSNAME, name,
		(unsigned)strlen(name), GNUTLS_FSAN_SET) >= 0 &&
	    gnutls_x509_crq_set_pubkey(crq, key_gnutls_pubkey(k)) >= 0 &&
	    gnutls_x509_crq_privkey_sign(
		crq, key_gnutls_privkey(k), GNUTLS_DIG_SHA256, 0) >= 0 &&
	    gnutls_x509_crq_export2(crq, GNUTLS_X509_FMT_DER, &d) >= 0;
	gnutls_x509_crq_deinit(crq);
	if (!ok) {
		return -1;
	}
	*der = malloc(d.size);
	memcpy(*der, d.data, d.size);
	*len = d.size;
	gnutls_free(d.data);
	return 0;
}

/* Run one dns order to a certificate; chains filled.  0 / -1. */
static int
issue(struct acme_client *c, const char *tag, const char *name,
    const struct key *cert_key, struct order_chains *chains)
{
	struct acme_identifier id = { (char *)"dns", (char *)name };
	struct acme_order o, o2;
	struct acme_authz az;
	const struct acme_challenge *ch;
	unsigned char *csr = NULL;
	size_t csr_len = 0, i;
	char *url = NULL, n[64];
	int rc, ok = 0;

	memset(&o, 0, sizeof(o));
	memset(&o2, 0, sizeof(o2));
	memset(chains, 0, sizeof(*chains));
	rc = order_new(c, &id, 1, NULL, &url, &o);
	snprintf(n, sizeof(n), "%s-order-new", tag);
	check(n,
	    rc == 0 && o.status == ACME_ST_PENDING && o.n_authorizations == 1 &&
		o.n_identifiers == 1 &&
		strcmp(o.identifiers[0].type, "dns") == 0,
	    "rc %d status %s: %s", rc, json_status_name(o.status),
	    acme_last_error(c));
	if (rc < 0) {
		goto out;
	}
	for (i = 0; i < o.n_authorizations; i++) {
		rc = order_authz_fetch(c, o.authorizations[i], &az);
		ch = rc == 0 ? order_find_challenge(&az, "http-01") : NULL;
		snprintf(n, sizeof(n), "%s-authz-fetch", tag);
		check(n,
		    ch != NULL && az.status == ACME_ST_PENDING &&
			strcmp(az.identifier.value, name) == 0 &&
			ch->token != NULL,
		    "rc %d: %s", rc, acme_last_error(c));
		if (ch == NULL) {
			json_authz_free(&az);
			goto out;
		}
		rc = order_challenge_respond(c, ch->url, NULL);
		snprintf(n, sizeof(n), "%s-challenge-post", tag);
		check(n, rc == 0, "%s", acme_last_error(c));
		json_authz_free(&az);
		rc = order_authz_wait(c, o.authorizations[i], 0, &az);
		snprintf(n, sizeof(n), "%s-authz-valid", tag);
		check(n, rc == 0 && az.status == ACME_ST_VALID, "status %s",
		    json_status_name(az.status));
		json_authz_free(&az);
		if (rc < 0) {
			goto out;
		}
	}
	json_order_free(&o);
	rc = order_wait(c, url, ACME_ST_READY, time(NULL) + 30, &o);
	snprintf(n, sizeof(n), "%s-order-ready", tag);
	check(n, rc == 0 && o.status == ACME_ST_READY, "status %s",
	    json_status_name(o.status));
	if (rc < 0 || dns_csr(cert_key, name, &csr, &csr_len) < 0) {
		goto out;
	}
	rc = order_finalize(c, &o, csr, csr_len, &o2);
	snprintf(n, sizeof(n), "%s-finalize", tag);
	check(n,
	    rc == 0 &&
		(o2.status == ACME_ST_PROCESSING || o2.status == ACME_ST_VALID),
	    "rc %d status %s: %s", rc, json_status_name(o2.status),
	    acme_last_error(c));
	json_order_free(&o2);
	rc = order_wait(c, url, ACME_ST_VALID, time(NULL) + 30, &o2);
	snprintf(n, sizeof(n), "%s-order-valid", tag);
	check(n, rc == 0 && o2.certificate != NULL, "status %s",
	    json_status_name(o2.status));
	if (rc < 0) {
		goto out;
	}
	rc = order_download(c, o2.certificate, true, chains);
	snprintf(n, sizeof(n), "%s-download", tag);
	check(n, rc == 0 && chains->n >= 1, "%s", acme_last_error(c));
	ok = rc == 0;
out:
	free(csr);
	free(url);
	json_order_free(&o);
	json_order_free(&o2);
	return ok ? 0 : -1;
}

static bool
contains(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

int
main(int argc, char **argv)
{
	const char *dir, *ca;
	struct acme_client *c = NULL, *c2 = NULL, *ce = NULL;
	struct key *acct_key = NULL, *new_key = NULL, *other = NULL;
	struct key *cert_key = NULL, *cert_key2 = NULL;
	struct acme_account acct;
	struct order_chains chains, chains2;
	struct cert_chain cc;
	struct acct_opts ao;
	const char *contact[] = { "mailto:admin@example.com" };
	char *kid = NULL, *alt_root = NULL;
	bool created = false;
	int rc, idx;

	if (argc != 3 && argc != 6) {
		fprintf(stderr, "usage: %s DIR_URL CA_PEM [EAB_DIR KID KEY]\n",
		    argv[0]);
		return 2;
	}
	dir = argv[1];
	ca = argv[2];
	log_init("pebble_test", false, 0, true);
	log_set_level(LOG_LVL_ERR);
	if (acme_global_init() < 0) {
		return 2;
	}
	memset(&acct, 0, sizeof(acct));
	memset(&chains, 0, sizeof(chains));
	memset(&chains2, 0, sizeof(chains2));
	memset(&cc, 0, sizeof(cc));

	/* directory */
	c = client(dir, ca);
	rc = c != NULL ? acme_directory(c) : -1;
	check("directory",
	    rc == 0 && acme_get_directory(c)->new_nonce != NULL &&
		acme_get_directory(c)->key_change != NULL &&
		acme_get_directory(c)->revoke_cert != NULL,
	    "cannot fetch %s", dir);
	if (rc < 0) {
		goto out;
	}

	/* accounts */
	acct_key = key_generate(KEY_EC256);
	memset(&ao, 0, sizeof(ao));
	ao.contact = contact;
	ao.n_contact = 1;
	ao.agree_tos = true;
	rc = acct_register(c, acct_key, &ao, &acct, &created);
	check("account-create",
	    rc == 0 && created && acct.status == ACME_ST_VALID &&
		acme_kid(c) != NULL && acct.n_contact == 1,
	    "rc %d: %s", rc, acme_last_error(c));
	if (rc < 0) {
		goto out;
	}
	kid = strdup(acme_kid(c));
	json_account_free(&acct);

	c2 = client(dir, ca);
	rc = acct_find(c2, acct_key, &acct);
	check("account-find-by-key",
	    rc == 0 && acme_kid(c2) != NULL && strcmp(acme_kid(c2), kid) == 0,
	    "rc %d: %s", rc, acme_last_error(c2));
	json_account_free(&acct);
	acme_free(c2);

	other = key_generate(KEY_RSA2048);
	c2 = client(dir, ca);
	rc = acct_find(c2, other, NULL);
	check("account-find-unknown",
	    rc < 0 &&
		contains(acme_last_error(c2),
		    "urn:ietf:params:acme:error:accountDoesNotExist"),
	    "rc %d: %s", rc, acme_last_error(c2));
	acme_free(c2);
	c2 = NULL;

	/* External Account Binding on the second Pebble */
	if (argc == 6) {
		struct key *ek = key_generate(KEY_EC256);
		struct acct_opts eo = ao;

		ce = client(argv[3], ca);
		rc = acct_register(ce, ek, &ao, NULL, NULL);
		check("eab-required-refused", rc < 0,
		    "account created without EAB");
		eo.eab_kid = argv[4];
		eo.eab_hmac = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
		rc = acct_register(ce, ek, &eo, NULL, NULL);
		check("eab-wrong-mac-refused",
		    rc < 0 &&
			contains(
			    acme_last_error(ce), "urn:ietf:params:acme:error:"),
		    "rc %d: %s", rc, acme_last_error(ce));
		eo.eab_hmac = argv[5];
		rc = acct_register(ce, ek, &eo, &acct, &created);
		check("eab-account-create",
		    rc == 0 && created && acct.status == ACME_ST_VALID,
		    "rc %d: %s", rc, acme_last_error(ce));
		json_account_free(&acct);
		acme_free(ce);
		ce = NULL;
		key_free(ek);
	} else {
		printf("SKIP: eab: no EAB Pebble given\n");
	}

	/* issuance with alternate chains */
	cert_key = key_generate(KEY_EC256);
	if (issue(c, "dns", "interop.example.com", cert_key, &chains) == 0) {
		check("alternate-chains", chains.n >= 2,
		    "%zu chain(s); PEBBLE_ALTERNATE_ROOTS not honoured?",
		    chains.n);
		rc = cert_chain_parse_pem(
		    chains.pem[0], strlen(chains.pem[0]), &cc);
		check("chain-parse",
		    rc == 0 && cc.n >= 2 &&
			cert_matches_key(&cc.certs[0], cert_key),
		    "rc %d, %zu certs", rc, cc.n);
		if (chains.n >= 2) {
			struct cert_chain alt;

			if (cert_chain_parse_pem(chains.pem[1],
				strlen(chains.pem[1]), &alt) == 0) {
				alt_root =
				    cert_issuer_cn(&alt.certs[alt.n - 1]);
				cert_chain_free(&alt);
			}
			idx = alt_root != NULL
			    ? order_select_chain(&chains, alt_root)
			    : -1;
			check("alternate-chain-select", idx == 1,
			    "index %d for issuer %s", idx,
			    alt_root != NULL ? alt_root : "?");
			idx = order_select_chain(&chains, "no such issuer");
			check("alternate-chain-default", idx == 0, "index %d",
			    idx);
		}
		if (cc.n > 0) {
			time_t na = 0;
			char *id = cert_id(&cc.certs[0]);

			check("cert-not-after",
			    cert_not_after(&cc.certs[0], &na) == 0 &&
				na > time(NULL),
			    "notAfter %ld", (long)na);
			check("cert-id", id != NULL && strchr(id, '.') != NULL,
			    "no certID");
			free(id);
			if (acme_get_directory(c)->renewal_info == NULL) {
				printf("SKIP: renewal-info: directory has no "
				       "renewalInfo\n");
			} else {
				struct acme_renewal_info ri;

				rc = order_renewal_info(
				    c, &cc.certs[0], &ri, NULL);
				check("renewal-info",
				    rc == 0 && ri.end >= ri.start, "%s",
				    acme_last_error(c));
				json_renewal_info_free(&ri);
			}
			rc = order_revoke(
			    c, &cc.certs[0], ORDER_REASON_SUPERSEDED, NULL);
			check("revoke-by-account-key", rc == 0, "%s",
			    acme_last_error(c));
			rc = order_revoke(
			    c, &cc.certs[0], ORDER_REASON_SUPERSEDED, NULL);
			check("revoke-again-refused",
			    rc < 0 &&
				contains(acme_last_error(c), "alreadyRevoked"),
			    "rc %d: %s", rc, acme_last_error(c));
		}
		cert_chain_free(&cc);
	}

	/* second certificate, revoked with its own key */
	cert_key2 = key_generate(KEY_RSA2048);
	if (issue(c, "dns2", "interop2.example.com", cert_key2, &chains2) ==
	    0) {
		rc = cert_chain_parse_pem(
		    chains2.pem[0], strlen(chains2.pem[0]), &cc);
		rc = rc == 0 ? order_revoke(c, &cc.certs[0],
				   ORDER_REASON_KEY_COMPROMISE, cert_key2)
			     : -1;
		check("revoke-by-cert-key", rc == 0, "%s", acme_last_error(c));
		cert_chain_free(&cc);
	}

	/* an e-mail identifier is not Pebble's business */
	{
		struct acme_identifier id = { (char *)"email",
			(char *)"alice@example.com" };
		struct acme_order o;
		char *url = NULL;

		rc = order_new(c, &id, 1, NULL, &url, &o);
		/* Pebble knows only dns/ip: malformed; other CAs say
		 * unsupportedIdentifier or rejectedIdentifier. */
		check("email-order-refused",
		    rc < 0 &&
			(contains(acme_last_error(c), "error:malformed: ") ||
			    contains(acme_last_error(c),
				"error:unsupportedIdentifier: ") ||
			    contains(acme_last_error(c),
				"error:rejectedIdentifier: ")),
		    "rc %d: %s", rc, acme_last_error(c));
		if (rc < 0) {
			printf("    (%s)\n", acme_last_error(c));
		}
		free(url);
		json_order_free(&o);
	}

	/* key rollover */
	new_key = key_generate(KEY_EC384);
	rc = acct_key_change(c, new_key);
	check("key-rollover", rc == 0 && acme_account_key(c) == new_key, "%s",
	    acme_last_error(c));
	rc = acct_fetch(c, &acct);
	check("key-rollover-new-key-works",
	    rc == 0 && acct.status == ACME_ST_VALID, "%s", acme_last_error(c));
	json_account_free(&acct);
	c2 = client(dir, ca);
	rc = acct_find(c2, acct_key, NULL);
	check("key-rollover-old-key-refused",
	    rc < 0 && contains(acme_last_error(c2), "accountDoesNotExist"),
	    "rc %d: %s", rc, acme_last_error(c2));
	acme_set_account(c2, acct_key, kid);
	rc = acct_fetch(c2, NULL);
	check("key-rollover-old-kid-refused", rc < 0, "old key still accepted");
	acme_free(c2);
	c2 = NULL;

	/* deactivation */
	rc = acct_deactivate(c, &acct);
	check("account-deactivate",
	    rc == 0 && acct.status == ACME_ST_DEACTIVATED,
	    "rc %d status %s: %s", rc, json_status_name(acct.status),
	    acme_last_error(c));
	json_account_free(&acct);
	rc = acct_fetch(c, NULL);
	check("deactivated-refused",
	    rc < 0 && contains(acme_last_error(c), "unauthorized"), "rc %d: %s",
	    rc, acme_last_error(c));

	/* the nonce pool really recovered from rejected nonces */
	check("badnonce-retried", acme_get_stats(c)->badnonce_retries > 0,
	    "no badNonce retry in %u requests", acme_get_stats(c)->requests);
	printf("    (%u requests, %u badNonce retries)\n",
	    acme_get_stats(c)->requests, acme_get_stats(c)->badnonce_retries);
out:
	order_chains_free(&chains);
	order_chains_free(&chains2);
	free(alt_root);
	free(kid);
	acme_free(c);
	acme_free(c2);
	acme_free(ce);
	key_free(acct_key);
	key_free(new_key);
	key_free(other);
	key_free(cert_key);
	key_free(cert_key2);
	acme_global_cleanup();
	return failures > 0 ? 1 : 0;
}
