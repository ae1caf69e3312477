/*
 * http: the only libcurl user.  One reused easy handle per struct http
 * (one per ACME client, so a batch mode runs one per worker); no shared
 * mutable state apart from http_global_init().  Every request returns
 * status, the headers ACME needs and the body together in a struct
 * http_response; the body is capped in the write callback, so a response
 * over the cap is a clean failure, never a truncated body.
 */
#ifndef ACME_PROTO_HTTP_H
#define ACME_PROTO_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "common/buf.h"

#define HTTP_BODY_MAX        (1024u * 1024) /* default response body cap */
#define HTTP_CONNECT_TIMEOUT 30L            /* seconds */
#define HTTP_TIMEOUT         120L           /* seconds, whole transfer */
#define HTTP_LINKS_MAX       32             /* Link values kept */

struct http_opts {
	const char *ca_bundle;  /* PEM file of trusted roots; NULL = system */
	bool insecure;          /* skip TLS verification (--no-verify-ssl) */
	long connect_timeout;   /* seconds; 0 = HTTP_CONNECT_TIMEOUT */
	long timeout;           /* seconds; 0 = HTTP_TIMEOUT */
	size_t max_body;        /* bytes; 0 = HTTP_BODY_MAX */
	const char *user_agent; /* product token; NULL = "smime-acme/VERSION" */
};

/* One Link header value: <url>; rel="rel". */
struct http_link {
	char *url;
	char *rel; /* lower-cased; "" if the value had no rel */
};

struct http_response {
	long status;        /* HTTP status, 0 before a response */
	char *nonce;        /* Replay-Nonce, or NULL */
	char *location;     /* Location, or NULL */
	char *content_type; /* Content-Type without parameters, lower case */
	char *retry_after;  /* Retry-After as sent, or NULL */
	struct http_link links[HTTP_LINKS_MAX];
	size_t n_links;
	struct buf body; /* NUL-terminated; body.len octets */
};

struct http; /* opaque: one easy handle and its options */

/* curl_global_init once per process, before any thread starts.  0 / -1. */
int http_global_init(void);
void http_global_cleanup(void);

/* A handle with the given options (NULL = defaults).  NULL on failure
 * (logged).  Free with http_free(). */
struct http *http_new(const struct http_opts *opts);
void http_free(struct http *h);

/* The User-Agent this handle sends ("smime-acme/VERSION libcurl/x.y.z"). */
const char *http_user_agent(const struct http *h);

/*
 * Requests.  accept may be NULL (no Accept header).  r is initialised by
 * the call and must be released with http_response_free() whatever the
 * result.  Return 0 when an HTTP response was received (any status), -1
 * on a transport error or a body over the cap (logged with the URL and
 * curl's message).
 */
int http_get(struct http *h, const char *url, const char *accept,
    struct http_response *r);
int http_head(struct http *h, const char *url, struct http_response *r);
int http_post(struct http *h, const char *url, const char *content_type,
    const char *accept, const void *body, size_t len, struct http_response *r);

void http_response_init(struct http_response *r);
void http_response_free(struct http_response *r);

/*
 * Parse a Retry-After value, delta-seconds or HTTP-date (IMF-fixdate,
 * RFC 850 or asctime), relative to now.  Returns the delay in seconds,
 * clamped to [0, cap]; -1 for NULL, empty or garbage.
 */
long http_retry_after(const char *value, time_t now, long cap);

#endif
