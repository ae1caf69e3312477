/*
 * http: the only libcurl user.  One easy handle per struct http, reset
 * (connections and TLS sessions stay cached) and configured afresh for
 * every request, so no option leaks from one request into the next.  The
 * header callback collects the headers ACME needs; the write callback
 * enforces the body cap.  No redirects are followed: ACME URLs are used
 * exactly as the server gave them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "acme/proto/http.h"
#include "common/log.h"

#define HTTP_HEADER_MAX 8192 /* one header value we keep */

struct http {
	CURL *curl;
	char *ca_bundle;
	bool insecure;
	long connect_timeout;
	long timeout;
	size_t max_body;
	char user_agent[256];
	char errbuf[CURL_ERROR_SIZE];
};

/* Per-request state shared with the callbacks. */
struct http_xfer {
	struct http_response *r;
	bool overflow;
};

int
http_global_init(void)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK) {
		log_err("curl_global_init: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

void
http_global_cleanup(void)
{
	curl_global_cleanup();
}

struct http *
http_new(const struct http_opts *opts)
{
	const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	struct http_opts dflt;
	struct http *h;
	int n;

	memset(&dflt, 0, sizeof(dflt));
	if (opts == NULL) {
		opts = &dflt;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		log_err_errno("http: calloc");
		return NULL;
	}
	if ((h->curl = curl_easy_init()) == NULL) {
		log_err("http: curl_easy_init failed");
		goto fail;
	}
	if (opts->ca_bundle != NULL &&
	    (h->ca_bundle = strdup(opts->ca_bundle)) == NULL) {
		log_err_errno("http: strdup");
		goto fail;
	}
	h->insecure = opts->insecure;
	h->connect_timeout = opts->connect_timeout > 0 ? opts->connect_timeout
						       : HTTP_CONNECT_TIMEOUT;
	h->timeout = opts->timeout > 0 ? opts->timeout : HTTP_TIMEOUT;
	h->max_body = opts->max_body > 0 ? opts->max_body : HTTP_BODY_MAX;
	n = snprintf(h->user_agent, sizeof(h->user_agent), "%s libcurl/%s",
	    opts->user_agent != NULL ? opts->user_agent : "smime-acme/" VERSION,
	    vi != NULL ? vi->version : "unknown");
	if (n < 0 || (size_t)n >= sizeof(h->user_agent)) {
		log_err("http: User-Agent too long");
		goto fail;
	}
	return h;
fail:
	http_free(h);
	return NULL;
}

void
http_free(struct http *h)
{
	if (h == NULL) {
		return;
	}
	if (h->curl != NULL) {
		curl_easy_cleanup(h->curl);
	}
	free(h->ca_bundle);
	free(h);
}

const char *
http_user_agent(const struct http *h)
{
	return h->user_agent;
}

void
http_response_init(struct http_response *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, 0);
}

/* Drop the headers collected so far (a new status line started). */
static void
http_headers_reset(struct http_response *r)
{
	size_t i;

	free(r->nonce);
	free(r->location);
	free(r->content_type);
	free(r->retry_after);
	r->nonce = r->location = r->content_type = r->retry_after = NULL;
	for (i = 0; i < r->n_links; i++) {
		free(r->links[i].url);
		free(r->links[i].rel);
		r->links[i].url = r->links[i].rel = NULL;
	}
	r->n_links = 0;
}

void
http_response_free(struct http_response *r)
{
	if (r == NULL) {
		return;
	}
	http_headers_reset(r);
	buf_free(&r->body);
	r->status = 0;
}

static char *
http_strndup_trim(const char *s, size_t n)
{
	char *r;

	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1])) {
		n--;
	}
	if ((r = malloc(n + 1)) == NULL) {
		return NULL;
	}
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

/*
 * Parse one Link header value, which may hold several comma-separated
 * link-values: <uri>; param; rel="a b", <uri2>; rel=up.
 */
static void
http_parse_link(struct http_response *r, const char *v, size_t n)
{
	const char *end = v + n, *p = v, *u0, *u1, *q;
	char *url, *rel;

	while (p < end && r->n_links < HTTP_LINKS_MAX) {
		while (p < end && (isspace((unsigned char)*p) || *p == ',')) {
			p++;
		}
		if (p >= end || *p != '<') {
			return;
		}
		u0 = ++p;
		while (p < end && *p != '>') {
			p++;
		}
		if (p >= end) {
			return;
		}
		u1 = p++;
		rel = NULL;
		/* parameters up to the next comma outside quotes */
		while (p < end && *p != ',') {
			while (p < end &&
			    (*p == ';' || isspace((unsigned char)*p))) {
				p++;
			}
			q = p;
			while (p < end && *p != '=' && *p != ';' && *p != ',') {
				p++;
			}
			bool is_rel = (size_t)(p - q) == 3 &&
			    strncasecmp(q, "rel", 3) == 0;
			if (p < end && *p == '=') {
				const char *v0, *v1;

				p++;
				if (p < end && *p == '"') {
					v0 = ++p;
					while (p < end && *p != '"') {
						p++;
					}
					v1 = p;
					if (p < end) {
						p++;
					}
				} else {
					v0 = p;
					while (
					    p < end && *p != ';' && *p != ',') {
						p++;
					}
					v1 = p;
				}
				if (is_rel && rel == NULL) {
					rel = http_strndup_trim(
					    v0, (size_t)(v1 - v0));
				}
			}
		}
		url = http_strndup_trim(u0, (size_t)(u1 - u0));
		if (rel == NULL) {
			rel = strdup("");
		}
		if (url == NULL || rel == NULL) {
			free(url);
			free(rel);
			return;
		}
		for (char *c = rel; *c != '\0'; c++) {
			*c = (char)tolower((unsigned char)*c);
		}
		r->links[r->n_links].url = url;
		r->links[r->n_links].rel = rel;
		r->n_links++;
	}
}

static size_t
http_header_cb(char *data, size_t size, size_t nitems, void *arg)
{
	struct http_xfer *x = arg;
	struct http_response *r = x->r;
	size_t n = size * nitems, nl;
	const char *colon, *v;
	char **slot = NULL;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		http_headers_reset(r); /* e.g. after "100 Continue" */
		return n;
	}
	if ((colon = memchr(data, ':', n)) == NULL) {
		return n;
	}
	nl = (size_t)(colon - data);
	v = colon + 1;
	if (n - nl - 1 > HTTP_HEADER_MAX) {
		return n; /* ignore absurd values rather than keep half */
	}
	if (nl == 12 && strncasecmp(data, "Replay-Nonce", nl) == 0) {
		slot = &r->nonce;
	} else if (nl == 8 && strncasecmp(data, "Location", nl) == 0) {
		slot = &r->location;
	} else if (nl == 11 && strncasecmp(data, "Retry-After", nl) == 0) {
		slot = &r->retry_after;
	} else if (nl == 12 && strncasecmp(data, "Content-Type", nl) == 0) {
		const char *semi = memchr(v, ';', n - nl - 1);
		size_t vl = semi != NULL ? (size_t)(semi - v) : n - nl - 1;

		free(r->content_type);
		r->content_type = http_strndup_trim(v, vl);
		for (char *c = r->content_type; c != NULL && *c != '\0'; c++) {
			*c = (char)tolower((unsigned char)*c);
		}
		return n;
	} else if (nl == 4 && strncasecmp(data, "Link", nl) == 0) {
		http_parse_link(r, v, n - nl - 1);
		return n;
	}
	if (slot != NULL) {
		free(*slot);
		*slot = http_strndup_trim(v, n - nl - 1);
	}
	return n;
}

static size_t
http_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct http_xfer *x = arg;
	size_t n = size * nmemb;

	if (buf_append(&x->r->body, data, n) < 0) {
		x->overflow = true;
		return 0; /* aborts the transfer: a clean failure */
	}
	return n;
}

static int
http_perform(struct http *h, const char *method, const char *url,
    struct curl_slist *hdrs, const void *body, size_t len,
    struct http_response *r)
{
	struct http_xfer x = { r, false };
	CURLcode rc;
	CURL *c = h->curl;
	long status = 0;

	curl_easy_reset(c);
	h->errbuf[0] = '\0';
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->connect_timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, h->timeout);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max_body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, http_header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	if (h->ca_bundle != NULL) {
		curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_bundle);
	}
	if (h->insecure) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(
		    c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	rc = curl_easy_perform(c);
	if (x.overflow || rc == CURLE_FILESIZE_EXCEEDED) {
		log_err("http: %s %s: response body over %zu bytes", method,
		    url, h->max_body);
		return -1;
	}
	if (rc != CURLE_OK) {
		log_err("http: %s %s: %s%s%s", method, url,
		    curl_easy_strerror(rc), h->errbuf[0] != '\0' ? ": " : "",
		    h->errbuf);
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	log_debug("http: %s %s: %ld", method, url, status);
	return 0;
}

/* curl_slist_append that frees the list on failure. */
static struct curl_slist *
http_append(struct curl_slist *l, const char *line)
{
	struct curl_slist *n = curl_slist_append(l, line);

	if (n == NULL) {
		curl_slist_free_all(l);
	}
	return n;
}

/* Add "Name: value" to a header list; NULL on ENOMEM (list freed). */
static struct curl_slist *
http_add_header(struct curl_slist *l, const char *name, const char *value)
{
	char line[512];
	int len;

	len = snprintf(line, sizeof(line), "%s: %s", name, value);
	if (len < 0 || (size_t)len >= sizeof(line)) {
		curl_slist_free_all(l);
		return NULL;
	}
	return http_append(l, line);
}

int
http_get(struct http *h, const char *url, const char *accept,
    struct http_response *r)
{
	struct curl_slist *hdrs = NULL;
	int rc = -1;

	http_response_init(r);
	r->body.max = h->max_body;
	if (accept != NULL &&
	    (hdrs = http_add_header(NULL, "Accept", accept)) == NULL) {
		log_err("http: GET %s: cannot build headers", url);
		return -1;
	}
	rc = http_perform(h, "GET", url, hdrs, NULL, 0, r);
	curl_slist_free_all(hdrs);
	return rc;
}

int
http_head(struct http *h, const char *url, struct http_response *r)
{
	http_response_init(r);
	r->body.max = h->max_body;
	return http_perform(h, "HEAD", url, NULL, NULL, 0, r);
}

int
http_post(struct http *h, const char *url, const char *content_type,
    const char *accept, const void *body, size_t len, struct http_response *r)
{
	struct curl_slist *hdrs = NULL;
	int rc;

	http_response_init(r);
	r->body.max = h->max_body;
	/* "Expect:" keeps curl from waiting for 100-continue. */
	if ((hdrs = http_add_header(NULL, "Content-Type", content_type)) ==
		NULL ||
	    (accept != NULL &&
		(hdrs = http_add_header(hdrs, "Accept", accept)) == NULL) ||
	    (hdrs = http_append(hdrs, "Expect:")) == NULL) {
		log_err("http: POST %s: cannot build headers", url);
		return -1;
	}
	rc = http_perform(h, "POST", url, hdrs, body, len, r);
	curl_slist_free_all(hdrs);
	return rc;
}

long
http_retry_after(const char *value, time_t now, long cap)
{
	const char *p;
	long secs = 0;
	time_t t;

	if (value == NULL) {
		return -1;
	}
	while (*value == ' ' || *value == '\t') {
		value++;
	}
	if (*value == '\0') {
		return -1;
	}
	if (*value >= '0' && *value <= '9') {
		for (p = value; *p >= '0' && *p <= '9'; p++) {
			if (secs <= cap) {
				secs = secs * 10 + (*p - '0');
			}
		}
		while (*p == ' ' || *p == '\t') {
			p++;
		}
		if (*p != '\0') {
			return -1;
		}
	} else {
		/* curl_getdate knows IMF-fixdate, RFC 850 and asctime. */
		if ((t = curl_getdate(value, NULL)) == (time_t)-1) {
			return -1;
		}
		secs = t > now ? (long)(t - now) : 0;
	}
	return secs > cap ? cap : secs;
}
