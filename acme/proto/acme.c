/*
 * acme: the client core.  Owns the directory, the nonce pool, the account
 * key and kid, and the retry policy of every request: badNonce is retried
 * at once with the nonce from the error response (RFC 8555 §6.5), 429 /
 * rateLimited and 503 after Retry-After (capped, jittered).  All waits go
 * through acme_sleep() and the injectable clock.  One client per thread.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "acme/proto/acme.h"
#include "acme/proto/jws.h"
#include "common/digest.h"
#include "common/log.h"

#define ACME_JOSE "application/jose+json"

struct acme_client {
	char *directory_url;
	struct http *http;
	struct acme_directory dir;
	bool have_dir;
	char *nonces[ACME_NONCE_POOL]; /* LIFO: the newest is used first */
	size_t n_nonces;
	const struct key *key; /* borrowed */
	char *kid;
	unsigned badnonce_max;
	unsigned retry_max;
	long retry_after_max;
	struct acme_clock clock;
	struct acme_stats stats;
	struct acme_problem *last_problem;
	struct buf last_error;
};

int
acme_global_init(void)
{
	if (key_global_init() < 0) {
		return -1;
	}
	if (http_global_init() < 0) {
		key_global_cleanup();
		return -1;
	}
	return 0;
}

void
acme_global_cleanup(void)
{
	http_global_cleanup();
	key_global_cleanup();
}

struct acme_client *
acme_new(const struct acme_opts *opts)
{
	struct acme_client *c;

	if (opts == NULL || opts->directory_url == NULL) {
		log_err("acme: no directory URL");
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_err_errno("acme: calloc");
		return NULL;
	}
	buf_init(&c->last_error, 4096);
	if ((c->directory_url = strdup(opts->directory_url)) == NULL ||
	    (c->http = http_new(&opts->http)) == NULL) {
		acme_free(c);
		return NULL;
	}
	c->badnonce_max =
	    opts->badnonce_max > 0 ? opts->badnonce_max : ACME_BADNONCE_MAX;
	c->retry_max = opts->no_retry ? 0
	    : opts->retry_max > 0     ? opts->retry_max
				      : ACME_RETRY_MAX;
	c->retry_after_max = opts->retry_after_max > 0 ? opts->retry_after_max
						       : ACME_RETRY_AFTER_MAX;
	c->clock = opts->clock;
	c->stats.last_retry_after = -1;
	return c;
}

static void
acme_nonces_clear(struct acme_client *c)
{
	while (c->n_nonces > 0) {
		free(c->nonces[--c->n_nonces]);
	}
}

static void
acme_problem_clear(struct acme_client *c)
{
	if (c->last_problem != NULL) {
		problem_free(c->last_problem);
		free(c->last_problem);
		c->last_problem = NULL;
	}
	buf_reset(&c->last_error);
}

void
acme_free(struct acme_client *c)
{
	if (c == NULL) {
		return;
	}
	acme_nonces_clear(c);
	acme_problem_clear(c);
	buf_free(&c->last_error);
	json_directory_free(&c->dir);
	http_free(c->http);
	free(c->directory_url);
	free(c->kid);
	free(c);
}

time_t
acme_now(struct acme_client *c)
{
	if (c->clock.now != NULL) {
		return c->clock.now(c->clock.arg);
	}
	return time(NULL);
}

void
acme_sleep(struct acme_client *c, unsigned seconds)
{
	struct timespec ts;

	if (c->clock.sleep != NULL) {
		c->clock.sleep(c->clock.arg, seconds);
		return;
	}
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = 0;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
		continue;
	}
}

unsigned
acme_backoff(struct acme_client *c, long retry_after, unsigned dflt)
{
	long secs = retry_after >= 0 ? retry_after : (long)dflt;
	unsigned jitter = 0, r = 0;

	if (secs > c->retry_after_max) {
		secs = c->retry_after_max;
	}
	/* Jitter spreads a batch of clients over the window. */
	if (secs > 0) {
		long span = secs / 10 < 2 ? secs / 10 : 2;

		if (span > 0 && digest_random(&r, sizeof(r)) == 0) {
			jitter = r % (unsigned)(span + 1);
		}
	}
	return (unsigned)secs + jitter;
}

/* A nonce is 1*base64url; ignore anything else (RFC 8555 §6.5.1). */
static bool
acme_nonce_valid(const char *n)
{
	const char *p;

	if (n == NULL || *n == '\0' || strlen(n) > 256) {
		return false;
	}
	for (p = n; *p != '\0'; p++) {
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '_')) {
			return false;
		}
	}
	return true;
}

static void
acme_nonce_put(struct acme_client *c, char *nonce)
{
	if (!acme_nonce_valid(nonce)) {
		free(nonce);
		return;
	}
	if (c->n_nonces == ACME_NONCE_POOL) {
		/* drop the oldest */
		free(c->nonces[0]);
		memmove(c->nonces, c->nonces + 1,
		    (ACME_NONCE_POOL - 1) * sizeof(char *));
		c->n_nonces--;
	}
	c->nonces[c->n_nonces++] = nonce;
}

/* Keep the Replay-Nonce of any response. */
static void
acme_nonce_take_from(struct acme_client *c, struct http_response *hr)
{
	if (hr->nonce != NULL) {
		acme_nonce_put(c, hr->nonce);
		hr->nonce = NULL;
	}
}

const struct acme_directory *
acme_get_directory(const struct acme_client *c)
{
	return c->have_dir ? &c->dir : NULL;
}

int
acme_set_account(struct acme_client *c, const struct key *k, const char *kid)
{
	char *dup = NULL;

	if (kid != NULL && (dup = strdup(kid)) == NULL) {
		log_err_errno("acme: strdup");
		return -1;
	}
	free(c->kid);
	c->kid = dup;
	c->key = k;
	return 0;
}

const struct key *
acme_account_key(const struct acme_client *c)
{
	return c->key;
}

const char *
acme_kid(const struct acme_client *c)
{
	return c->kid;
}

/* Pop a nonce; HEAD newNonce when the pool is empty.  malloc'ed. */
static char *
acme_nonce_get(struct acme_client *c)
{
	struct http_response hr;

	if (c->n_nonces == 0) {
		if (acme_directory(c) < 0) {
			return NULL;
		}
		c->stats.requests++;
		if (http_head(c->http, c->dir.new_nonce, &hr) < 0) {
			http_response_free(&hr);
			return NULL;
		}
		acme_nonce_take_from(c, &hr);
		if (c->n_nonces == 0) {
			log_err("acme: %s: HTTP %ld without a usable nonce",
			    c->dir.new_nonce, hr.status);
		}
		http_response_free(&hr);
		if (c->n_nonces == 0) {
			return NULL;
		}
	}
	return c->nonces[--c->n_nonces];
}

void
acme_reply_init(struct acme_reply *r)
{
	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	buf_init(&r->body, 0);
}

void
acme_reply_free(struct acme_reply *r)
{
	size_t i;

	if (r == NULL) {
		return;
	}
	free(r->location);
	free(r->content_type);
	for (i = 0; i < r->n_links; i++) {
		free(r->links[i].url);
		free(r->links[i].rel);
	}
	buf_free(&r->body);
	if (r->problem != NULL) {
		problem_free(r->problem);
		free(r->problem);
	}
	free(r->error);
	acme_reply_init(r);
}

/* Move what the caller needs from an HTTP response into a reply. */
static void
acme_reply_take(struct acme_reply *r, struct http_response *hr, long ra)
{
	size_t i;

	acme_reply_free(r);
	r->status = hr->status;
	r->location = hr->location;
	hr->location = NULL;
	r->content_type = hr->content_type;
	hr->content_type = NULL;
	for (i = 0; i < hr->n_links; i++) {
		r->links[i] = hr->links[i];
		hr->links[i].url = hr->links[i].rel = NULL;
	}
	r->n_links = hr->n_links;
	hr->n_links = 0;
	r->body = hr->body;
	buf_init(&hr->body, 0);
	r->retry_after = ra;
}

/* Parse the problem document of a failed response, or make one up. */
static struct acme_problem *
acme_problem_of(const struct http_response *hr, const char *url)
{
	struct acme_problem *p;
	struct buf b;

	if ((p = calloc(1, sizeof(*p))) == NULL) {
		return NULL;
	}
	if (hr->content_type != NULL &&
	    (strcmp(hr->content_type, "application/problem+json") == 0 ||
		strcmp(hr->content_type, "application/json") == 0) &&
	    hr->body.len > 0 &&
	    json_parse_problem(hr->body.data, hr->body.len, p) == 0 &&
	    p->type != NULL) {
		if (p->status == 0) {
			p->status = hr->status;
		}
		return p;
	}
	problem_free(p);
	buf_init(&b, 512);
	p->type = strdup("http");
	p->status = hr->status;
	if (buf_printf(&b, "HTTP %ld from %s", hr->status, url) == 0) {
		p->detail = buf_steal(&b);
	}
	buf_free(&b);
	return p;
}

static struct acme_problem *
acme_problem_transport(const char *url)
{
	struct acme_problem *p = calloc(1, sizeof(*p));
	struct buf b;

	if (p == NULL) {
		return NULL;
	}
	buf_init(&b, 512);
	p->type = strdup("transport");
	if (buf_printf(&b, "no HTTP response from %s", url) == 0) {
		p->detail = buf_steal(&b);
	}
	buf_free(&b);
	return p;
}

/* Keep a copy of r's problem as the client's last problem. */
static void
acme_remember(struct acme_client *c, const struct acme_reply *r)
{
	acme_problem_clear(c);
	if (r->problem == NULL) {
		return;
	}
	c->last_problem = problem_dup(r->problem);
	if (problem_format(r->problem, &c->last_error) < 0) {
		buf_reset(&c->last_error);
	}
}

/*
 * Shared retry loop of acme_post and acme_get.  jws_key == NULL means a
 * plain GET.
 */
static int
acme_request(struct acme_client *c, const char *url, const char *payload,
    const struct key *jws_key, bool use_jwk, const char *accept,
    struct acme_reply *r)
{
	struct http_response hr;
	struct acme_problem *p = NULL;
	unsigned badnonce = 0, retries = 0, wait;
	char *nonce = NULL, *jws = NULL;
	const char *type;
	long ra;
	int rc;

	acme_reply_init(r);
	for (;;) {
		http_response_init(&hr);
		if (jws_key != NULL) {
			if ((nonce = acme_nonce_get(c)) == NULL) {
				p = acme_problem_transport(url);
				break;
			}
			jws = jws_sign(jws_key, url, nonce,
			    use_jwk ? NULL : c->kid, payload);
			free(nonce);
			nonce = NULL;
			if (jws == NULL) {
				p = acme_problem_transport(url);
				break;
			}
			c->stats.requests++;
			rc = http_post(c->http, url, ACME_JOSE, accept, jws,
			    strlen(jws), &hr);
			free(jws);
			jws = NULL;
		} else {
			c->stats.requests++;
			rc = http_get(c->http, url, accept, &hr);
		}
		if (rc < 0) {
			p = acme_problem_transport(url);
			break;
		}
		acme_nonce_take_from(c, &hr);
		ra = http_retry_after(
		    hr.retry_after, acme_now(c), c->retry_after_max);
		if (ra >= 0) {
			c->stats.last_retry_after = ra;
		}
		if (hr.status >= 200 && hr.status < 300) {
			acme_reply_take(r, &hr, ra);
			http_response_free(&hr);
			acme_problem_clear(c);
			return 0;
		}
		p = acme_problem_of(&hr, url);
		type = problem_short(p);
		if (jws_key != NULL && strcmp(type, "badNonce") == 0 &&
		    badnonce < c->badnonce_max) {
			/* the pool's newest nonce is the error's one */
			badnonce++;
			c->stats.badnonce_retries++;
			log_debug(
			    "acme: %s: badNonce, retry %u", url, badnonce);
			goto again;
		}
		if ((hr.status == 429 || strcmp(type, "rateLimited") == 0 ||
			hr.status == 503) &&
		    retries < c->retry_max) {
			retries++;
			if (hr.status == 503) {
				c->stats.unavailable_retries++;
			} else {
				c->stats.ratelimit_retries++;
			}
			wait = acme_backoff(c, ra, 5);
			log_warn("acme: %s: %s, retrying in %u s (%u/%u)", url,
			    hr.status == 503 ? "service unavailable"
					     : "rate limited",
			    wait, retries, c->retry_max);
			acme_sleep(c, wait);
			goto again;
		}
		acme_reply_take(r, &hr, ra);
		http_response_free(&hr);
		break;
again:
		problem_free(p);
		free(p);
		p = NULL;
		http_response_free(&hr);
	}
	http_response_free(&hr);
	r->problem = p;
	if (r->problem == NULL) {
		/* allocation failure while describing the failure */
		r->problem = calloc(1, sizeof(*r->problem));
	}
	acme_remember(c, r);
	r->error = strdup(acme_last_error(c));
	log_debug("acme: %s: %s", url, acme_last_error(c));
	return -1;
}

int
acme_post(struct acme_client *c, const char *url, const char *payload,
    const struct key *key, bool use_jwk, const char *accept,
    struct acme_reply *r)
{
	const struct key *k = key != NULL ? key : c->key;

	if (k == NULL || (!use_jwk && c->kid == NULL)) {
		acme_reply_init(r);
		log_err("acme: %s: no account key or account URL", url);
		return -1;
	}
	return acme_request(c, url, payload, k, use_jwk, accept, r);
}

int
acme_get(struct acme_client *c, const char *url, const char *accept,
    struct acme_reply *r)
{
	return acme_request(c, url, NULL, NULL, false, accept, r);
}

int
acme_directory(struct acme_client *c)
{
	struct acme_reply r;
	struct buf b;
	int ret = -1;

	if (c->have_dir) {
		return 0;
	}
	/* acme_get records the problem: "transport" when unreachable,
	 * "http" (or the CA's own type) for an error status */
	if (acme_get(c, c->directory_url, "application/json", &r) < 0) {
		log_debug("acme: directory %s: %s", c->directory_url,
		    acme_last_error(c));
		goto out;
	}
	if (json_parse_directory(r.body.data, r.body.len, &c->dir) < 0) {
		log_debug("acme: directory %s: not an ACME directory",
		    c->directory_url);
		/* a 2xx that is no directory: the wrong URL, not a CA that
		 * is down; record it like a non-JSON error status */
		acme_reply_free(&r);
		buf_init(&b, 512);
		if ((r.problem = calloc(1, sizeof(*r.problem))) != NULL) {
			r.problem->type = strdup("http");
			r.problem->status = 200;
			if (buf_printf(&b, "%s is not an ACME directory",
				c->directory_url) == 0) {
				r.problem->detail = buf_steal(&b);
			}
		}
		buf_free(&b);
		acme_remember(c, &r);
		goto out;
	}
	c->have_dir = true;
	ret = 0;
out:
	acme_reply_free(&r);
	return ret;
}

const char *
acme_reply_error(const struct acme_reply *r)
{
	return r->error != NULL ? r->error : "";
}

const char *
acme_reply_type(const struct acme_reply *r)
{
	return problem_short(r->problem);
}

const struct acme_problem *
acme_last_problem(const struct acme_client *c)
{
	return c->last_problem;
}

const char *
acme_last_error(const struct acme_client *c)
{
	return c->last_error.data != NULL ? c->last_error.data : "";
}

const struct acme_stats *
acme_get_stats(const struct acme_client *c)
{
	return &c->stats;
}
