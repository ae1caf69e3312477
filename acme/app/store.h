/*
 * store: the requester's files under the configuration directory.
 *
 *   CONFIG/accounts/<hash of directory URL>/account.key   (0600, PEM)
 *   CONFIG/accounts/<hash of directory URL>/account.info  (server, kid)
 *   CONFIG/orders/<hash of server + address set>/order.info, privkey.pem
 *   CONFIG/certs/<first address> -> .<first address>.<time>/ (symlink)
 *       cert.pem chain.pem fullchain.pem privkey.pem (0600)
 *       <first address>.p12 (0600) lineage.info
 *   CONFIG/certs/.<first address>.<time>.<pid>/   superseded sets (pruned)
 *   CONFIG/retired/<first address>.<time>/        retired sets (the link
 *       and every set of the address, moved as they were)
 *   CONFIG/compromised-keys   JWK thumbprints of keys revoked for
 *       keyCompromise, one a line; never certified again
 *
 * Every file is written with fs_write_atomic(); a certificate set is
 * written into a fresh directory and published by renaming a symlink, so
 * a reader never sees half a set.  Info files are "key: value" lines.
 * Called by the flow_*.c commands.
 */
#ifndef ACME_APP_STORE_H
#define ACME_APP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "acme/pki/key.h"
#include "common/buf.h"

#define STORE_HASH_LEN 64

/* Hex SHA-256 of s (STORE_HASH_LEN + NUL).  0 / -1. */
int store_hash_hex(const char *s, char out[STORE_HASH_LEN + 1]);

/* malloc'ed "a/b" (b may hold further slashes); NULL on ENOMEM. */
char *store_path(const char *a, const char *b);

/*
 * The account of server under config_dir.  0 loaded (*key, *kid set,
 * caller frees), 1 none stored, -1 error (unreadable or not a private
 * key; logged).  A key file readable by group or others is refused.
 */
int store_account_load(
    const char *config_dir, const char *server, struct key **key, char **kid);
/* Write the key (0600) and then the info file.  0 / -1 (logged). */
int store_account_save(const char *config_dir, const char *server,
    const struct key *key, const char *kid);

/*
 * Stage the next account key (key rollover) as account.key.next (0600)
 * before the CA is asked to switch, so that it survives a crash between
 * the switch and the final save; key NULL removes the staged file.
 * 0 / -1 (logged).
 */
int store_account_next(
    const char *config_dir, const char *server, const struct key *key);

/* A resumable order: URL and the certificate key made for it. */
struct store_order {
	char id[STORE_HASH_LEN + 1]; /* hash of server + address set */
	char *url;                   /* NULL until newOrder returned */
	struct key *key;             /* NULL until generated */
	bool lost; /* loaded: newOrder was sent, its URL never stored */
	/* when this order was first marked (before newOrder; kept by every
	 * later save, 0 for a new order): no challenge of it can be older,
	 * so a resumed order's spool entries carry it (freshness) */
	time_t created;
};

/* Fill o->id for the (sorted, domain-lower-cased) address set.  0 / -1. */
int store_order_id(const char *server, const char *const *addrs, size_t n,
    struct store_order *o);
/* Load what is stored for o->id.  0 (fields that exist are set) / -1.
 * An order.info without a URL sets o->lost (see store_order_save_url). */
int store_order_load(const char *config_dir, struct store_order *o);
/*
 * Persist the URL / the key (0600).  0 / -1 (logged).  With o->url NULL,
 * store_order_save_url records that newOrder is about to be sent: a run
 * killed before the URL is stored leaves that mark, and the next run
 * looks for the order at the CA instead of ordering again.  It records
 * o->created, set to now first when it is 0.
 */
int store_order_save_url(const char *config_dir, struct store_order *o);
int store_order_save_key(const char *config_dir, const struct store_order *o);
/* Forget the order (after the certificate set is stored). */
int store_order_remove(const char *config_dir, const struct store_order *o);
void store_order_free(struct store_order *o);

/* One certificate set to publish. */
struct store_certset {
	const char *const *addrs;
	size_t n_addrs;
	const char *cert_pem;      /* end-entity */
	const char *chain_pem;     /* issuers */
	const char *fullchain_pem; /* both */
	const struct buf *key_pem; /* secret */
	const unsigned char *p12;  /* holds the key */
	size_t p12_len;
	unsigned usage;       /* CSR_KU_* bits requested, for renew */
	const char *key_type; /* key_type_name() */
	const char *server;
	unsigned keep; /* KeepCertificateSets: sets kept; 0 = all */
};

/* Write the set and publish it; *dir (may be NULL) receives the
 * published path (malloc'ed).  Then, with s->keep, prune the address's
 * superseded sets (a failure there is only logged).  0 / -1 (logged;
 * nothing published). */
int store_certs_save(
    const char *config_dir, const struct store_certset *s, char **dir);

/*
 * Remove the superseded sets of name (CONFIG/certs/.<name>.<time>.<pid>,
 * older than the published one) so that keep sets remain, the published
 * one included; keep 0 removes nothing.  Never touches the published set,
 * a newer one being written, or another address's sets.  Returns the
 * number removed, or -1 (logged).
 */
int store_certs_prune(const char *config_dir, const char *name, unsigned keep);

/*
 * The stored set (published or superseded) whose cert.pem holds the
 * certificate der first.  1 found (*dir: its real directory, malloc'ed),
 * 0 none, -1 error (logged).
 */
int store_certs_find(
    const char *config_dir, const void *der, size_t len, char **dir);

/* Record in dir/lineage.info (rewritten atomically) that the set's
 * certificate was revoked at when for reason (a name, "keyCompromise"):
 * a line "revoked: <unix time> <reason>".  0 / -1 (logged). */
int store_mark_revoked(const char *dir, time_t when, const char *reason);

/*
 * Retire the set published as CONFIG/certs/<name>: move the link and
 * every set of name into CONFIG/retired/<name>.<time>/ (*to receives that
 * path, malloc'ed; may be NULL).  0 / -1 (logged).
 */
int store_certs_retire(const char *config_dir, const char *name, char **to);

/* Is k listed in CONFIG/compromised-keys?  1 yes, 0 no, -1 error. */
int store_key_compromised(const char *config_dir, const struct key *k);
/* Add k's thumbprint (once) to CONFIG/compromised-keys, rewritten
 * atomically.  0 / -1 (logged). */
int store_key_compromised_add(const char *config_dir, const struct key *k);

/* A published certificate set, as read back for renew. */
struct store_lineage {
	char *name; /* first address */
	char *dir;  /* CONFIG/certs/<name> */
	char *addrs[100];
	size_t n_addrs;
	unsigned usage;
	char *key_type;
	char *server;
	time_t revoked;       /* recorded by revoke; 0: not recorded */
	char *revoked_reason; /* its reason name, or NULL */
};

/* Call fn for every set under CONFIG/certs (sorted by name); stops on a
 * non-zero return, which is returned.  0 / -1. */
int store_certs_foreach(const char *config_dir,
    int (*fn)(const struct store_lineage *l, void *arg), void *arg);

#endif
