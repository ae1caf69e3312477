/*
 * json: the only Jansson user.  CA replies become typed structs here, and
 * every JSON text the requester sends or prints is built here (payloads,
 * JWK, JWS, --json output); no other file sees or writes raw JSON.
 * Parsers zero the output first and free what they filled on failure, so
 * a caller can always call the matching *_free().  Strings are copied;
 * nothing points into Jansson memory after a call returns.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "acme/proto/acme.h"
#include "acme/proto/json.h"
#include "acme/proto/rfc3339.h"
#include "acme/pki/cert.h"
#include "common/log.h"

#define JSON_MAX_ITEMS 1000 /* array members accepted (identifiers, ...) */
#define JSON_MAX_DEPTH 4    /* subproblem nesting */

static const char *const status_names[ACME_ST_MAX] = { "unknown", "pending",
	"ready", "processing", "valid", "invalid", "expired", "deactivated",
	"revoked" };

enum acme_status
json_status_parse(const char *s)
{
	int i;

	if (s == NULL) {
		return ACME_ST_UNKNOWN;
	}
	for (i = 1; i < ACME_ST_MAX; i++) {
		if (strcmp(s, status_names[i]) == 0) {
			return (enum acme_status)i;
		}
	}
	return ACME_ST_UNKNOWN;
}

const char *
json_status_name(enum acme_status st)
{
	if ((unsigned)st >= ACME_ST_MAX) {
		return "unknown";
	}
	return status_names[st];
}

/* Load text as a JSON object; NULL (logged with what) if it is not one. */
static json_t *
json_load_object(const char *text, size_t len, const char *what)
{
	json_error_t err;
	json_t *root;

	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (root == NULL) {
		log_err("%s: bad JSON: line %d: %s", what, err.line, err.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		log_err("%s: JSON is not an object", what);
		json_decref(root);
		return NULL;
	}
	return root;
}

/*
 * Copy the string member key of obj into *out.  Absent (or null) is fine
 * unless required; a non-string is an error.  0 / -1.
 */
static int
json_str(
    json_t *obj, const char *key, bool required, char **out, const char *what)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		if (required) {
			log_err("%s: missing \"%s\"", what, key);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		log_err("%s: \"%s\" is not a string", what, key);
		return -1;
	}
	if ((*out = strdup(json_string_value(v))) == NULL) {
		log_err_errno("%s: strdup", what);
		return -1;
	}
	return 0;
}

static int
json_status_member(
    json_t *obj, bool required, enum acme_status *out, const char *what)
{
	char *s = NULL;

	if (json_str(obj, "status", required, &s, what) < 0) {
		return -1;
	}
	*out = json_status_parse(s);
	free(s);
	return 0;
}

static int
json_time_member(json_t *obj, const char *key, time_t *out, const char *what)
{
	char *s = NULL;
	int rc = 0;

	*out = 0;
	if (json_str(obj, key, false, &s, what) < 0) {
		return -1;
	}
	if (s != NULL && rfc3339_parse(s, out) < 0) {
		log_err("%s: \"%s\" is not an RFC 3339 time", what, key);
		rc = -1;
	}
	free(s);
	return rc;
}

void
json_strings_free(char **v, size_t n)
{
	/* one free routine for string arrays, in the layer below */
	cert_strings_free(v, n);
}

/* An array of strings (absent = empty unless required). */
static int
json_str_array(json_t *obj, const char *key, bool required, char ***out,
    size_t *n, const char *what)
{
	json_t *a = json_object_get(obj, key), *v;
	size_t i, cnt;

	*out = NULL;
	*n = 0;
	if (a == NULL || json_is_null(a)) {
		if (required) {
			log_err("%s: missing \"%s\"", what, key);
			return -1;
		}
		return 0;
	}
	if (!json_is_array(a) || json_array_size(a) > JSON_MAX_ITEMS) {
		log_err("%s: \"%s\" is not an array (or too long)", what, key);
		return -1;
	}
	cnt = json_array_size(a);
	if (cnt == 0) {
		return 0;
	}
	if ((*out = calloc(cnt, sizeof(char *))) == NULL) {
		log_err_errno("%s: calloc", what);
		return -1;
	}
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v)) {
			log_err("%s: \"%s\" holds a non-string", what, key);
			goto fail;
		}
		if (((*out)[i] = strdup(json_string_value(v))) == NULL) {
			log_err_errno("%s: strdup", what);
			goto fail;
		}
		*n = i + 1;
	}
	return 0;
fail:
	json_strings_free(*out, *n);
	*out = NULL;
	*n = 0;
	return -1;
}

static int
json_identifier_obj(json_t *v, struct acme_identifier *id, const char *what)
{
	memset(id, 0, sizeof(*id));
	if (!json_is_object(v)) {
		log_err("%s: identifier is not an object", what);
		return -1;
	}
	if (json_str(v, "type", true, &id->type, what) < 0 ||
	    json_str(v, "value", true, &id->value, what) < 0) {
		json_identifier_free(id);
		return -1;
	}
	return 0;
}

void
json_identifier_free(struct acme_identifier *id)
{
	if (id == NULL) {
		return;
	}
	free(id->type);
	free(id->value);
	id->type = id->value = NULL;
}

/* ---- problem documents ---- */

static int json_problem_obj(json_t *obj, struct acme_problem *p, int depth);

static int
json_problem_obj(json_t *obj, struct acme_problem *p, int depth)
{
	const char *what = "problem document";
	json_t *v, *sub;
	size_t i;

	memset(p, 0, sizeof(*p));
	if (json_str(obj, "type", false, &p->type, what) < 0 ||
	    json_str(obj, "detail", false, &p->detail, what) < 0 ||
	    json_str(obj, "instance", false, &p->instance, what) < 0) {
		goto fail;
	}
	v = json_object_get(obj, "status");
	if (json_is_integer(v)) {
		p->status = (long)json_integer_value(v);
	}
	v = json_object_get(obj, "identifier");
	if (v != NULL && !json_is_null(v) &&
	    json_identifier_obj(v, &p->identifier, what) < 0) {
		goto fail;
	}
	sub = json_object_get(obj, "subproblems");
	if (sub == NULL || json_is_null(sub)) {
		return 0;
	}
	if (!json_is_array(sub) || json_array_size(sub) > JSON_MAX_ITEMS ||
	    depth >= JSON_MAX_DEPTH) {
		log_err("%s: bad \"subproblems\"", what);
		goto fail;
	}
	if (json_array_size(sub) == 0) {
		return 0;
	}
	p->sub = calloc(json_array_size(sub), sizeof(*p->sub));
	if (p->sub == NULL) {
		log_err_errno("%s: calloc", what);
		goto fail;
	}
	json_array_foreach(sub, i, v)
	{
		if (!json_is_object(v)) {
			log_err("%s: subproblem is not an object", what);
			goto fail;
		}
		if (json_problem_obj(v, &p->sub[i], depth + 1) < 0) {
			goto fail;
		}
		p->n_sub = i + 1;
	}
	return 0;
fail:
	problem_free(p);
	return -1;
}

int
json_parse_problem(const char *text, size_t len, struct acme_problem *out)
{
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((root = json_load_object(text, len, "problem document")) == NULL) {
		return -1;
	}
	rc = json_problem_obj(root, out, 0);
	json_decref(root);
	return rc;
}

/* The optional "error" member of an order or challenge. */
static int
json_error_member(json_t *obj, struct acme_problem **out, const char *what)
{
	json_t *v = json_object_get(obj, "error");

	*out = NULL;
	if (v == NULL || json_is_null(v)) {
		return 0;
	}
	if (!json_is_object(v)) {
		log_err("%s: \"error\" is not an object", what);
		return -1;
	}
	if ((*out = calloc(1, sizeof(**out))) == NULL) {
		log_err_errno("%s: calloc", what);
		return -1;
	}
	if (json_problem_obj(v, *out, 0) < 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static void
json_error_free(struct acme_problem **p)
{
	if (*p != NULL) {
		problem_free(*p);
		free(*p);
		*p = NULL;
	}
}

/* ---- directory ---- */

int
json_parse_directory(const char *text, size_t len, struct acme_directory *out)
{
	const char *what = "directory";
	json_t *root, *meta, *v;
	const char *k;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((root = json_load_object(text, len, what)) == NULL) {
		return -1;
	}
	if (json_str(root, "newNonce", true, &out->new_nonce, what) < 0 ||
	    json_str(root, "newAccount", true, &out->new_account, what) < 0 ||
	    json_str(root, "newOrder", true, &out->new_order, what) < 0 ||
	    json_str(root, "newAuthz", false, &out->new_authz, what) < 0 ||
	    json_str(root, "revokeCert", false, &out->revoke_cert, what) < 0 ||
	    json_str(root, "keyChange", false, &out->key_change, what) < 0 ||
	    json_str(root, "renewalInfo", false, &out->renewal_info, what) <
		0) {
		goto out;
	}
	meta = json_object_get(root, "meta");
	if (json_is_object(meta)) {
		if (json_str(meta, "termsOfService", false,
			&out->terms_of_service, what) < 0 ||
		    json_str(meta, "website", false, &out->website, what) < 0 ||
		    json_str_array(meta, "caaIdentities", false,
			&out->caa_identities, &out->n_caa, what) < 0) {
			goto out;
		}
		out->eab_required = json_is_true(
		    json_object_get(meta, "externalAccountRequired"));
		v = json_object_get(meta, "profiles");
		if (json_is_object(v) && json_object_size(v) > 0 &&
		    json_object_size(v) <= JSON_MAX_ITEMS) {
			out->profiles =
			    calloc(json_object_size(v), sizeof(char *));
			if (out->profiles == NULL) {
				goto out;
			}
			i = 0;
			json_t *pv;
			json_object_foreach(v, k, pv)
			{
				(void)pv;
				if ((out->profiles[i] = strdup(k)) == NULL) {
					goto out;
				}
				out->n_profiles = ++i;
			}
		}
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0) {
		json_directory_free(out);
	}
	return rc;
}

void
json_directory_free(struct acme_directory *d)
{
	if (d == NULL) {
		return;
	}
	free(d->new_nonce);
	free(d->new_account);
	free(d->new_order);
	free(d->new_authz);
	free(d->revoke_cert);
	free(d->key_change);
	free(d->renewal_info);
	free(d->terms_of_service);
	free(d->website);
	json_strings_free(d->caa_identities, d->n_caa);
	json_strings_free(d->profiles, d->n_profiles);
	memset(d, 0, sizeof(*d));
}

/* ---- account ---- */

int
json_string_members(const char *text, size_t len, const char *what,
    const char *const *names, size_t n, char **out)
{
	json_t *root, *v;
	size_t i;
	int rc = -1;

	for (i = 0; i < n; i++) {
		out[i] = NULL;
	}
	/* no error text: Jansson quotes the bytes near the error */
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (root == NULL || !json_is_object(root)) {
		log_err("%s: not a JSON object", what);
		json_decref(root);
		return -1;
	}
	for (i = 0; i < n; i++) {
		v = json_object_get(root, names[i]);
		if (v == NULL) {
			continue;
		}
		if (!json_is_string(v)) {
			log_err("%s: \"%s\" is not a string", what, names[i]);
			goto out;
		}
		out[i] = strdup(json_string_value(v));
		if (out[i] == NULL) {
			log_err("%s: out of memory", what);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc < 0) {
		for (i = 0; i < n; i++) {
			free(out[i]);
			out[i] = NULL;
		}
	}
	json_decref(root);
	return rc;
}

int
json_parse_account(const char *text, size_t len, struct acme_account *out)
{
	const char *what = "account";
	json_t *root;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((root = json_load_object(text, len, what)) == NULL) {
		return -1;
	}
	if (json_status_member(root, false, &out->status, what) < 0 ||
	    json_str_array(root, "contact", false, &out->contact,
		&out->n_contact, what) < 0 ||
	    json_str(root, "orders", false, &out->orders, what) < 0) {
		goto out;
	}
	out->tos_agreed =
	    json_is_true(json_object_get(root, "termsOfServiceAgreed"));
	rc = 0;
out:
	json_decref(root);
	if (rc < 0) {
		json_account_free(out);
	}
	return rc;
}

int
json_parse_orders_list(const char *text, size_t len, char ***urls, size_t *n)
{
	const char *what = "orders list";
	json_t *root;
	int rc;

	*urls = NULL;
	*n = 0;
	if ((root = json_load_object(text, len, what)) == NULL) {
		return -1;
	}
	rc = json_str_array(root, "orders", true, urls, n, what) < 0 ? -1 : 0;
	json_decref(root);
	return rc;
}

void
json_account_free(struct acme_account *a)
{
	if (a == NULL) {
		return;
	}
	json_strings_free(a->contact, a->n_contact);
	free(a->orders);
	memset(a, 0, sizeof(*a));
}

/* ---- order ---- */

int
json_parse_order(const char *text, size_t len, struct acme_order *out)
{
	const char *what = "order";
	json_t *root, *ids, *v;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((root = json_load_object(text, len, what)) == NULL) {
		return -1;
	}
	if (json_status_member(root, true, &out->status, what) < 0 ||
	    json_time_member(root, "expires", &out->expires, what) < 0 ||
	    json_str_array(root, "authorizations", true, &out->authorizations,
		&out->n_authorizations, what) < 0 ||
	    json_str(root, "finalize", true, &out->finalize, what) < 0 ||
	    json_str(root, "certificate", false, &out->certificate, what) < 0 ||
	    json_str(root, "profile", false, &out->profile, what) < 0 ||
	    json_error_member(root, &out->error, what) < 0) {
		goto out;
	}
	ids = json_object_get(root, "identifiers");
	if (!json_is_array(ids) || json_array_size(ids) > JSON_MAX_ITEMS) {
		log_err("%s: \"identifiers\" missing or not an array", what);
		goto out;
	}
	if (json_array_size(ids) > 0) {
		out->identifiers =
		    calloc(json_array_size(ids), sizeof(*out->identifiers));
		if (out->identifiers == NULL) {
			log_err_errno("%s: calloc", what);
			goto out;
		}
	}
	json_array_foreach(ids, i, v)
	{
		if (json_identifier_obj(v, &out->identifiers[i], what) < 0) {
			goto out;
		}
		out->n_identifiers = i + 1;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0) {
		json_order_free(out);
	}
	return rc;
}

void
json_order_free(struct acme_order *o)
{
	size_t i;

	if (o == NULL) {
		return;
	}
	for (i = 0; i < o->n_identifiers; i++) {
		json_identifier_free(&o->identifiers[i]);
	}
	free(o->identifiers);
	json_strings_free(o->authorizations, o->n_authorizations);
	free(o->finalize);
	free(o->certificate);
	free(o->profile);
	json_error_free(&o->error);
	memset(o, 0, sizeof(*o));
}

/* ---- challenge and authorization ---- */

static int
json_challenge_obj(json_t *obj, struct acme_challenge *c)
{
	const char *what = "challenge";

	memset(c, 0, sizeof(*c));
	if (json_str(obj, "type", true, &c->type, what) < 0 ||
	    json_str(obj, "url", true, &c->url, what) < 0 ||
	    json_status_member(obj, true, &c->status, what) < 0 ||
	    json_str(obj, "token", false, &c->token, what) < 0 ||
	    json_str(obj, "from", false, &c->from, what) < 0 ||
	    json_time_member(obj, "validated", &c->validated, what) < 0 ||
	    json_error_member(obj, &c->error, what) < 0) {
		json_challenge_free(c);
		return -1;
	}
	return 0;
}

int
json_parse_challenge(const char *text, size_t len, struct acme_challenge *out)
{
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((root = json_load_object(text, len, "challenge")) == NULL) {
		return -1;
	}
	rc = json_challenge_obj(root, out);
	json_decref(root);
	return rc;
}

void
json_challenge_free(struct acme_challenge *c)
{
	if (c == NULL) {
		return;
	}
	free(c->type);
	free(c->url);
	if (c->token != NULL) {
		/* token-part2 is half of the secret the reply proves. */
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->from);
	json_error_free(&c->error);
	memset(c, 0, sizeof(*c));
}

int
json_parse_authz(const char *text, size_t len, struct acme_authz *out)
{
	const char *what = "authorization";
	json_t *root, *ch, *v;
	size_t i;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((root = json_load_object(text, len, what)) == NULL) {
		return -1;
	}
	v = json_object_get(root, "identifier");
	if (v == NULL) {
		log_err("%s: missing \"identifier\"", what);
		goto out;
	}
	if (json_identifier_obj(v, &out->identifier, what) < 0 ||
	    json_status_member(root, true, &out->status, what) < 0 ||
	    json_time_member(root, "expires", &out->expires, what) < 0) {
		goto out;
	}
	out->wildcard = json_is_true(json_object_get(root, "wildcard"));
	ch = json_object_get(root, "challenges");
	if (!json_is_array(ch) || json_array_size(ch) > JSON_MAX_ITEMS) {
		log_err("%s: \"challenges\" missing or not an array", what);
		goto out;
	}
	if (json_array_size(ch) > 0) {
		out->challenges =
		    calloc(json_array_size(ch), sizeof(*out->challenges));
		if (out->challenges == NULL) {
			log_err_errno("%s: calloc", what);
			goto out;
		}
	}
	json_array_foreach(ch, i, v)
	{
		if (!json_is_object(v)) {
			log_err("%s: challenge is not an object", what);
			goto out;
		}
		if (json_challenge_obj(v, &out->challenges[i]) < 0) {
			goto out;
		}
		out->n_challenges = i + 1;
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0) {
		json_authz_free(out);
	}
	return rc;
}

void
json_authz_free(struct acme_authz *a)
{
	size_t i;

	if (a == NULL) {
		return;
	}
	json_identifier_free(&a->identifier);
	for (i = 0; i < a->n_challenges; i++) {
		json_challenge_free(&a->challenges[i]);
	}
	free(a->challenges);
	memset(a, 0, sizeof(*a));
}

/* ---- renewal info ---- */

int
json_parse_renewal_info(
    const char *text, size_t len, struct acme_renewal_info *out)
{
	const char *what = "renewal info";
	json_t *root, *w;
	char *s = NULL, *e = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if ((root = json_load_object(text, len, what)) == NULL) {
		return -1;
	}
	w = json_object_get(root, "suggestedWindow");
	if (!json_is_object(w)) {
		log_err("%s: missing \"suggestedWindow\"", what);
		goto out;
	}
	if (json_str(w, "start", true, &s, what) < 0 ||
	    json_str(w, "end", true, &e, what) < 0 ||
	    json_str(root, "explanationURL", false, &out->explanation_url,
		what) < 0) {
		goto out;
	}
	if (rfc3339_parse(s, &out->start) < 0 ||
	    rfc3339_parse(e, &out->end) < 0 || out->end < out->start) {
		log_err("%s: bad suggestedWindow", what);
		goto out;
	}
	rc = 0;
out:
	free(s);
	free(e);
	json_decref(root);
	if (rc < 0) {
		json_renewal_info_free(out);
	}
	return rc;
}

void
json_renewal_info_free(struct acme_renewal_info *r)
{
	if (r == NULL) {
		return;
	}
	free(r->explanation_url);
	memset(r, 0, sizeof(*r));
}

/* ---- builders ---- */

/* Serialise root compactly (keys in insertion order); consumes root. */
static char *
json_finish(json_t *root, const char *what)
{
	char *s;

	if (root == NULL) {
		log_err("%s: cannot build JSON", what);
		return NULL;
	}
	s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (s == NULL) {
		log_err("%s: cannot serialise JSON", what);
	}
	return s;
}

static json_t *
json_string_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++) {
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The public JWK of k as an object, members in RFC 7638 order. */
static json_t *
json_jwk_object(const struct key *k)
{
	struct key_jwk m;
	json_t *o;
	size_t i;

	if (key_jwk_members(k, &m) < 0) {
		return NULL;
	}
	o = json_object();
	for (i = 0; o != NULL && i < m.n; i++) {
		if (json_object_set_new(o, m.name[i], json_string(m.value[i])) <
		    0) {
			json_decref(o);
			o = NULL;
		}
	}
	key_jwk_free(&m);
	return o;
}

char *
json_build_jwk(const struct key *k)
{
	json_t *o = json_jwk_object(k);
	char *s;

	if (o == NULL) {
		log_err("JWK: cannot build JSON");
		return NULL;
	}
	/* RFC 7638 §3: lexicographic member order, no white space */
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (s == NULL) {
		log_err("JWK: cannot serialise JSON");
	}
	return s;
}

char *
json_build_jws_header(const char *alg, const struct key *jwk, const char *kid,
    const char *nonce, const char *url)
{
	json_t *j = NULL;

	if (jwk != NULL && (j = json_jwk_object(jwk)) == NULL) {
		return json_finish(NULL, "JWS header");
	}
	return json_finish(
	    json_pack("{s:s, s:o*, s:s*, s:s*, s:s}", "alg", alg, "jwk", j,
		"kid", kid, "nonce", nonce, "url", url),
	    "JWS header");
}

char *
json_build_jws(const char *protected_b64, const char *payload_b64,
    const char *signature_b64)
{
	return json_finish(
	    json_pack("{s:s, s:s, s:s}", "protected", protected_b64, "payload",
		payload_b64, "signature", signature_b64),
	    "JWS");
}

char *
json_build_new_account(const char *const *contact, size_t n_contact,
    bool agree_tos, const char *eab_jws, bool only_existing)
{
	json_t *c = NULL, *eab = NULL;
	json_error_t err;

	if (only_existing) {
		return json_finish(
		    json_pack("{s:b}", "onlyReturnExisting", 1), "newAccount");
	}
	if (n_contact > 0 &&
	    (c = json_string_array(contact, n_contact)) == NULL) {
		return json_finish(NULL, "newAccount");
	}
	if (eab_jws != NULL && (eab = json_loads(eab_jws, 0, &err)) == NULL) {
		json_decref(c);
		return json_finish(NULL, "newAccount");
	}
	/* o* steals c and eab, even on failure; NULL omits the member */
	return json_finish(
	    json_pack("{s:o*, s:o*, s:o*}", "contact", c,
		"termsOfServiceAgreed", agree_tos ? json_true() : NULL,
		"externalAccountBinding", eab),
	    "newAccount");
}

char *
json_build_new_order(const struct acme_identifier *ids, size_t n,
    const char *replaces, const char *profile)
{
	json_t *a = json_array(), *id;
	size_t i;

	for (i = 0; a != NULL && i < n; i++) {
		id = json_pack(
		    "{s:s, s:s}", "type", ids[i].type, "value", ids[i].value);
		if (id == NULL || json_array_append_new(a, id) < 0) {
			json_decref(a);
			a = NULL;
		}
	}
	if (a == NULL) {
		return json_finish(NULL, "newOrder");
	}
	return json_finish(json_pack("{s:o, s:s*, s:s*}", "identifiers", a,
			       "replaces", replaces, "profile", profile),
	    "newOrder");
}

char *
json_build_finalize(const char *csr_b64url)
{
	return json_finish(json_pack("{s:s}", "csr", csr_b64url), "finalize");
}

char *
json_build_revoke(const char *cert_b64url, int reason)
{
	return json_finish(
	    json_pack("{s:s, s:o*}", "certificate", cert_b64url, "reason",
		reason >= 0 ? json_integer(reason) : NULL),
	    "revokeCert");
}

char *
json_build_status(const char *status)
{
	return json_finish(json_pack("{s:s}", "status", status), "status");
}

char *
json_build_key_change(const char *account_url, const struct key *old_key)
{
	json_t *jwk = json_jwk_object(old_key);

	if (jwk == NULL) {
		return json_finish(NULL, "keyChange");
	}
	return json_finish(
	    json_pack("{s:s, s:o}", "account", account_url, "oldKey", jwk),
	    "keyChange");
}

/* ---- output (--json) ---- */

struct json_out {
	json_t *v;   /* an object or an array */
	bool failed; /* a member could not be added: print nothing */
};

static struct json_out *
json_out_new(json_t *v)
{
	struct json_out *o;

	if (v == NULL || (o = calloc(1, sizeof(*o))) == NULL) {
		json_decref(v);
		return NULL;
	}
	o->v = v;
	return o;
}

struct json_out *
json_out_object(void)
{
	return json_out_new(json_object());
}

struct json_out *
json_out_array(void)
{
	return json_out_new(json_array());
}

void
json_out_free(struct json_out *o)
{
	if (o != NULL) {
		json_decref(o->v);
		free(o);
	}
}

/* Add v (consumed) as member key, or failing that mark o failed. */
static void
json_out_set(struct json_out *o, const char *key, json_t *v)
{
	if (o == NULL) {
		json_decref(v);
		return;
	}
	if (v == NULL || !json_is_object(o->v) ||
	    json_object_set_new(o->v, key, v) < 0) {
		o->failed = true;
	}
}

void
json_out_str(struct json_out *o, const char *key, const char *v)
{
	json_out_set(o, key, v != NULL ? json_string(v) : json_null());
}

void
json_out_int(struct json_out *o, const char *key, long long v)
{
	json_out_set(o, key, json_integer((json_int_t)v));
}

void
json_out_strs(
    struct json_out *o, const char *key, const char *const *v, size_t n)
{
	json_out_set(o, key, json_string_array(v, n));
}

void
json_out_push(struct json_out *a, struct json_out *o)
{
	if (a == NULL) {
		json_out_free(o);
		return;
	}
	if (o == NULL || o->failed || !json_is_array(a->v) ||
	    json_array_append(a->v, o->v) < 0) {
		a->failed = true;
	}
	json_out_free(o);
}

/* The compact text of o, or NULL (logged) if o or a member failed. */
static char *
json_out_text(const struct json_out *o, const json_t *v)
{
	char *s;

	if (o == NULL || o->failed) {
		log_err(
		    "json: cannot build the output (out of memory or not UTF-8)");
		return NULL;
	}
	if ((s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		log_err("json: cannot serialise the output");
	}
	return s;
}

int
json_out_print(struct json_out *o, FILE *fp)
{
	char *s = json_out_text(o, o != NULL ? o->v : NULL);
	int rc = -1;

	if (s != NULL && fprintf(fp, "%s\n", s) >= 0) {
		rc = 0;
	}
	free(s);
	json_out_free(o);
	return rc;
}

int
json_out_rows(struct json_out *a, struct buf *out)
{
	struct buf b;
	size_t i;
	char *s = NULL;
	int rc = -1;

	buf_init(&b, out->max);
	if (a == NULL || a->failed || !json_is_array(a->v)) {
		(void)json_out_text(NULL, NULL);
		goto out;
	}
	/* "[", then one compact member per line, then "]" */
	if (buf_puts(&b, "[") < 0) {
		goto out;
	}
	for (i = 0; i < json_array_size(a->v); i++) {
		if ((s = json_out_text(a, json_array_get(a->v, i))) == NULL ||
		    buf_printf(&b, "%s%s", i > 0 ? ",\n" : "\n", s) < 0) {
			goto out;
		}
		free(s);
		s = NULL;
	}
	if (buf_puts(&b, "\n]\n") < 0 || buf_append(out, b.data, b.len) < 0) {
		goto out;
	}
	rc = 0;
out:
	free(s);
	buf_free(&b);
	json_out_free(a);
	return rc;
}
