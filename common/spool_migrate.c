/*
 * spool_migrate: the schema of the PostgreSQL spool, versioned, and the
 * grants of the milter's and the requester's roles (`smime-acme
 * spool-migrate`, smime-acme(1); doc/design.md, "The PostgreSQL spool").
 * Every step runs in one transaction; a schema already at SPOOL_DB_VERSION
 * is left as it is, and the grants are idempotent, so running it twice
 * changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/spool.h"

/* Version 1: the table, its notify trigger, the milter's functions. */
static const char *const schema_v1[] = {
	"CREATE SCHEMA IF NOT EXISTS smime_acme",
	"CREATE TABLE smime_acme.meta (version integer NOT NULL)",
	"INSERT INTO smime_acme.meta (version) VALUES (1)",
	"CREATE TABLE smime_acme.entries ("
	" key text PRIMARY KEY CHECK (key ~ '^[0-9a-f]{64}$'),"
	" mailbox text NOT NULL,"
	" sender text NOT NULL DEFAULT '',"
	" token2 text NOT NULL DEFAULT '',"
	" thumbprint text NOT NULL DEFAULT '',"
	" rule text NOT NULL CHECK (rule IN ('octet', 'string')),"
	" state text NOT NULL CHECK (state IN ('incomplete', 'awaiting',"
	"  'answered', 'failed')),"
	" created bigint NOT NULL DEFAULT 0,"
	" expires bigint NOT NULL DEFAULT 0,"
	" order_url text NOT NULL DEFAULT '',"
	" authz_url text NOT NULL DEFAULT '',"
	" challenge_url text NOT NULL DEFAULT '',"
	" answered_at bigint NOT NULL DEFAULT 0,"
	" challenge_msgid text NOT NULL DEFAULT '',"
	" reason text NOT NULL DEFAULT '',"
	" claimed_by text,"
	" claimed_at timestamptz,"
	" refused_at bigint,"
	" refusal text)",
	"ALTER TABLE smime_acme.entries ENABLE ROW LEVEL SECURITY",
	"CREATE FUNCTION smime_acme.notify() RETURNS trigger LANGUAGE plpgsql"
	" AS $$ BEGIN"
	" IF TG_OP = 'DELETE' THEN"
	"  PERFORM pg_notify('smime_acme_spool', OLD.key || ' deleted');"
	" ELSE"
	"  PERFORM pg_notify('smime_acme_spool', NEW.key || ' ' || NEW.state);"
	" END IF;"
	" RETURN NULL; END $$",
	"CREATE TRIGGER entries_notify AFTER INSERT OR UPDATE OR DELETE ON"
	" smime_acme.entries FOR EACH ROW EXECUTE FUNCTION smime_acme.notify()",
	/* the claim: one UPDATE; status 0 claimed, 2 claimed by someone
	 * else (not expired), 1 not awaiting; no row: no entry */
	"CREATE FUNCTION smime_acme.claim(k text, who text, timeout integer)"
	" RETURNS TABLE (status integer, mailbox text, sender text,"
	"  token2 text, thumbprint text, rule text, state text,"
	"  created bigint, expires bigint, answered_at bigint,"
	"  challenge_msgid text)"
	" LANGUAGE plpgsql SECURITY DEFINER"
	" SET search_path = smime_acme, pg_temp AS $$ BEGIN"
	" RETURN QUERY UPDATE smime_acme.entries e"
	"  SET claimed_by = who, claimed_at = now()"
	"  WHERE e.key = k AND e.state = 'awaiting' AND (e.claimed_at IS NULL"
	"   OR (timeout > 0 AND"
	"    e.claimed_at < now() - make_interval(secs => timeout)))"
	"  RETURNING 0, e.mailbox, e.sender, e.token2, e.thumbprint, e.rule,"
	"   e.state, e.created, e.expires, e.answered_at, e.challenge_msgid;"
	" IF FOUND THEN RETURN; END IF;"
	" RETURN QUERY SELECT CASE WHEN e.state = 'awaiting' THEN 2 ELSE 1"
	"  END, NULL::text, NULL::text, NULL::text, NULL::text, NULL::text,"
	"  NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text"
	"  FROM smime_acme.entries e WHERE e.key = k;"
	" END $$",
	"CREATE FUNCTION smime_acme.release(k text, who text) RETURNS boolean"
	" LANGUAGE sql SECURITY DEFINER SET search_path = smime_acme, pg_temp"
	" AS $$ UPDATE smime_acme.entries SET claimed_by = NULL,"
	" claimed_at = NULL WHERE key = k AND claimed_by = who"
	" RETURNING true $$",
	"CREATE FUNCTION smime_acme.complete(k text, who text, st text,"
	" answered bigint, msgid text, why text) RETURNS boolean"
	" LANGUAGE plpgsql SECURITY DEFINER"
	" SET search_path = smime_acme, pg_temp AS $$ BEGIN"
	" IF st NOT IN ('answered', 'failed') THEN"
	"  RAISE EXCEPTION 'a claim completes as answered or failed';"
	" END IF;"
	" UPDATE smime_acme.entries SET state = st, answered_at = answered,"
	"  challenge_msgid = msgid, reason = why, claimed_by = NULL,"
	"  claimed_at = NULL WHERE key = k AND claimed_by = who;"
	" RETURN FOUND; END $$",
	"CREATE FUNCTION smime_acme.note_refusal(k text, why text)"
	" RETURNS boolean LANGUAGE sql SECURITY DEFINER"
	" SET search_path = smime_acme, pg_temp"
	" AS $$ UPDATE smime_acme.entries SET refusal = left(why, 400),"
	" refused_at = extract(epoch FROM now())::bigint WHERE key = k"
	" RETURNING true $$",
	"REVOKE ALL ON FUNCTION smime_acme.claim(text, text, integer),"
	" smime_acme.release(text, text),"
	" smime_acme.complete(text, text, text, bigint, text, text),"
	" smime_acme.note_refusal(text, text) FROM PUBLIC",
	NULL,
};

/* The grants of each role; %s is the quoted role name. */
static const char *const grants_milter[] = {
	"GRANT USAGE ON SCHEMA smime_acme TO %s",
	"GRANT SELECT ON smime_acme.meta TO %s",
	"GRANT SELECT (key, mailbox, sender, token2, thumbprint, rule, state,"
	" created, expires, answered_at, challenge_msgid) ON"
	" smime_acme.entries TO %s",
	"GRANT EXECUTE ON FUNCTION smime_acme.claim(text, text, integer),"
	" smime_acme.release(text, text),"
	" smime_acme.complete(text, text, text, bigint, text, text),"
	" smime_acme.note_refusal(text, text) TO %s",
	"DROP POLICY IF EXISTS milter_reads_pending ON smime_acme.entries",
	"CREATE POLICY milter_reads_pending ON smime_acme.entries FOR SELECT"
	" TO %s USING (state IN ('incomplete', 'awaiting'))",
	NULL,
};
static const char *const grants_requester[] = {
	"GRANT USAGE ON SCHEMA smime_acme TO %s",
	"GRANT SELECT ON smime_acme.meta TO %s",
	"GRANT SELECT, INSERT, UPDATE, DELETE ON smime_acme.entries TO %s",
	"DROP POLICY IF EXISTS requester_all ON smime_acme.entries",
	"CREATE POLICY requester_all ON smime_acme.entries FOR ALL TO %s"
	" USING (true) WITH CHECK (true)",
	NULL,
};

/* the server's NOTICEs ("policy ... does not exist, skipping") are noise */
static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static int
run(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int rc = 0;

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_err("spool-migrate: %s", PQresultErrorMessage(r));
		rc = -1;
	}
	PQclear(r);
	return rc;
}

/* The version of the schema in the database: 0 none, -1 error. */
static int
db_version(PGconn *c)
{
	PGresult *r;
	int v = -1;

	r = PQexec(c, "SELECT to_regclass('smime_acme.meta') IS NULL");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_err("spool-migrate: %s", PQresultErrorMessage(r));
		PQclear(r);
		return -1;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
		PQclear(r);
		return 0;
	}
	PQclear(r);
	r = PQexec(c, "SELECT max(version) FROM smime_acme.meta");
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
		long l;
		v = conf_parse_long(PQgetvalue(r, 0, 0), 0, 1000, &l) == 0
		    ? (int)l
		    : -1;
	} else {
		log_err("spool-migrate: %s", PQresultErrorMessage(r));
	}
	PQclear(r);
	return v;
}

/* tmpl with its one "%s" (if any) replaced by role, cut to len */
static void
subst(char *out, size_t len, const char *tmpl, const char *role)
{
	const char *at = strstr(tmpl, "%s");

	if (at == NULL) {
		snprintf(out, len, "%s", tmpl);
		return;
	}
	snprintf(out, len, "%.*s%s%s", (int)(at - tmpl), tmpl, role, at + 2);
}

static int
grant(PGconn *c, const char *const *tmpl, const char *role, const char *what,
    bool dry_run, FILE *out)
{
	char sql[1024], *q;
	int i, rc = 0;

	q = PQescapeIdentifier(c, role, strlen(role));
	if (q == NULL) {
		log_err("spool-migrate: bad role name");
		return -1;
	}
	fprintf(out, "%s: grant the %s role %s its rights\n",
	    dry_run ? "would" : "do", what, q);
	for (i = 0; tmpl[i] != NULL && rc == 0; i++) {
		subst(sql, sizeof(sql), tmpl[i], q);
		if (dry_run) {
			fprintf(out, "  %s;\n", sql);
		} else {
			rc = run(c, sql);
		}
	}
	PQfreemem(q);
	return rc;
}

int
spool_migrate(const char *conninfo, const char *milter_role,
    const char *requester_role, bool dry_run, FILE *out)
{
	const char *const kw[] = { "connect_timeout", "dbname", NULL };
	const char *const val[] = { "10", conninfo, NULL };
	const char *why;
	PGconn *c;
	int v, i, rc = -1;

	if (spool_conninfo_check(conninfo, &why) < 0) {
		log_err("SpoolDatabase: %s", why);
		return -1;
	}
	c = PQconnectdbParams(kw, val, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		log_err("spool-migrate: cannot connect: %s",
		    c != NULL ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return -1;
	}
	PQsetNoticeProcessor(c, quiet, NULL);
	if (run(c, "BEGIN") < 0) {
		goto out;
	}
	v = db_version(c);
	if (v < 0) {
		goto out;
	}
	if (v > SPOOL_DB_VERSION) {
		log_err("spool-migrate: the database schema is version %d, "
			"newer than this program's %d: upgrade smime-acme",
		    v, SPOOL_DB_VERSION);
		goto out;
	}
	if (v == SPOOL_DB_VERSION) {
		fprintf(out, "schema: at version %d, nothing to do\n", v);
	} else {
		fprintf(out, "%s: create the schema smime_acme, version %d\n",
		    dry_run ? "would" : "do", SPOOL_DB_VERSION);
		for (i = 0; schema_v1[i] != NULL; i++) {
			if (dry_run) {
				fprintf(out, "  %.72s%s\n", schema_v1[i],
				    strlen(schema_v1[i]) > 72 ? " ..." : ";");
			} else if (run(c, schema_v1[i]) < 0) {
				goto out;
			}
		}
	}
	if (milter_role != NULL &&
	    grant(c, grants_milter, milter_role, "milter", dry_run, out) < 0) {
		goto out;
	}
	if (requester_role != NULL &&
	    grant(c, grants_requester, requester_role, "requester", dry_run,
		out) < 0) {
		goto out;
	}
	if (run(c, dry_run ? "ROLLBACK" : "COMMIT") < 0) {
		goto out;
	}
	rc = 0;
out:
	PQfinish(c);
	return rc;
}
