# tests/lib/pg_spool.sh: a PostgreSQL spool on a private cluster
# (tests/lib/pg.sh), for the end-to-end tests and the benchmarks.  Sourced;
# POSIX sh.
#
#   pg_spool_setup DIR SA   start the cluster in DIR/pg, create the login
#                           roles smime_milter and smime_requester, create
#                           the schema with "SA spool-migrate" (the
#                           requester).  Sets PG_SPOOL_MILTER and
#                           PG_SPOOL_REQUESTER (SpoolDatabase connection
#                           strings, one per role).  0, 77 with a reason in
#                           PG_SPOOL_SKIP when PostgreSQL or the database
#                           spool is not there, 1 on failure (reason in
#                           PG_SPOOL_SKIP too, details on stderr).
#   pg_stop / pg_restart    from tests/lib/pg.sh
# shellcheck shell=sh

pg_spool_setup() {
	PG_SPOOL_SKIP=
	# a configuration of its own: never the host's default one
	: >"$1/pg-spool-requester.conf"
	if "$2" --allow-root --conf "$1/pg-spool-requester.conf" spool-migrate -n 2>&1 | grep -q 'unknown command'; then
		PG_SPOOL_SKIP="the requester has no spool-migrate command"
		return 77
	fi
	pg_start "$1"
	_pgs_rc=$?
	if [ "$_pgs_rc" != 0 ]; then
		PG_SPOOL_SKIP=${PG_SKIP:-"the private PostgreSQL cluster did not start"}
		return "$_pgs_rc"
	fi
	if ! pg_psql -c "CREATE ROLE smime_milter LOGIN" \
		-c "CREATE ROLE smime_requester LOGIN" >&2; then
		PG_SPOOL_SKIP="cannot create the roles"
		return 1
	fi
	if ! "$2" --allow-root --conf "$1/pg-spool-requester.conf" \
		spool-migrate --database "$PG_CONNINFO" \
		--milter-role smime_milter --requester-role smime_requester >&2; then
		PG_SPOOL_SKIP="smime-acme spool-migrate failed"
		return 1
	fi
	PG_SPOOL_MILTER="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=smime_milter"
	PG_SPOOL_REQUESTER="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=smime_requester"
	export PG_SPOOL_MILTER PG_SPOOL_REQUESTER
	return 0
}
