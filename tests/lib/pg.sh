# tests/lib/pg.sh: a private PostgreSQL 15 cluster for the tests (Debian's
# postgresql-15 package), never the system cluster.  Sourced; POSIX sh.
#
#   pg_start DIR [PORT]   initdb + pg_ctl start in DIR/pg (DIR is made if
#                         missing), listening on 127.0.0.1:PORT (default: a
#                         free port) and on a unix socket in DIR/pg/sock.
#                         Exports PGHOST (the socket directory), PGPORT,
#                         PGUSER (the superuser), PGDATABASE (smime),
#                         PG_DIR, PG_CONNINFO ("host=... port=... dbname=...
#                         user=..."; no password: the cluster trusts local
#                         connections), PGPASSFILE, PGSERVICEFILE and
#                         PGSYSCONFDIR (inside DIR/pg) and PG_RUNAS.  Returns 0, 77 if the
#                         PostgreSQL binaries are missing (with a reason in
#                         PG_SKIP), 1 on failure (with the server log on
#                         stderr).
#   pg_stop               stop the cluster (fast shutdown); DIR stays.
#   pg_restart            pg_stop then start the same cluster again.
#   pg_psql [ARGS...]     psql -X -q -v ON_ERROR_STOP=1 on the cluster as the
#                         superuser (or the user of PGUSER in the caller's
#                         environment), run as PG_RUNAS when root.
#
# initdb and postgres refuse to run as root: as root, the cluster is owned
# by and run as PG_RUNAS (default nobody), DIR/pg being chowned to it.
# Nothing outside DIR is read or written: no ~/.psqlrc (-X), no system
# socket directory, no /etc/postgresql.
# shellcheck shell=sh

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

# _pg_as CMD...: run CMD as the cluster's owner
_pg_as() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid="$PG_RUNAS" --regid="$(id -g "$PG_RUNAS")" \
		    --clear-groups -- "$@"
	else
		"$@"
	fi
}

_pg_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

pg_start() {
	PG_SKIP=
	for _pg_t in initdb pg_ctl postgres; do
		if [ ! -x "$PG_BIN/$_pg_t" ]; then
			PG_SKIP="PostgreSQL 15 binaries not installed ($PG_BIN/$_pg_t; contrib/deps.sh installs postgresql)"
			return 77
		fi
	done
	if ! command -v psql >/dev/null 2>&1; then
		PG_SKIP="psql not installed (postgresql-client)"
		return 77
	fi
	PG_RUNAS=${PG_RUNAS:-nobody}
	PG_DIR=$1/pg
	PGPORT=${2:-$(_pg_free_port)}
	mkdir -p "$PG_DIR/sock" || return 1
	if [ "$(id -u)" -eq 0 ]; then
		chown -R "$PG_RUNAS" "$PG_DIR" || return 1
		# the owner must reach DIR/pg through DIR
		chmod o+x "$1"
	else
		PG_RUNAS=$(id -un)
	fi
	PGHOST=$PG_DIR/sock
	PGUSER=smime_super
	PGDATABASE=smime
	export PGHOST PGPORT PGUSER PGDATABASE PG_DIR PG_RUNAS
	# no password file or service file of the caller's or the host's
	# (the files need not exist)
	PGPASSFILE=$PG_DIR/pgpass
	PGSERVICEFILE=$PG_DIR/pg_service.conf
	PGSYSCONFDIR=$PG_DIR
	export PGPASSFILE PGSERVICEFILE PGSYSCONFDIR
	if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
		_pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PGUSER" \
		    -A trust -E UTF8 --locale=C.UTF-8 --no-sync \
		    >"$PG_DIR/initdb.log" 2>&1 || {
			cat "$PG_DIR/initdb.log" >&2
			return 1
		}
		cat >>"$PG_DIR/data/postgresql.conf" <<EOF
# tests/lib/pg.sh: private, hermetic, disposable
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_DIR/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 60
shared_buffers = 16MB
logging_collector = off
log_min_messages = warning
EOF
	else
		sed -i "s/^port = .*//" "$PG_DIR/data/postgresql.conf"
	fi
	echo "port = $PGPORT" >>"$PG_DIR/data/postgresql.conf"
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" \
	    -w -t 30 start >/dev/null || {
		cat "$PG_DIR/server.log" >&2
		return 1
	}
	if ! _pg_as psql -X -q -d postgres -tAc \
	    "SELECT 1 FROM pg_database WHERE datname = '$PGDATABASE'" |
	    grep -q 1; then
		_pg_as psql -X -q -d postgres -c "CREATE DATABASE $PGDATABASE" ||
		    return 1
	fi
	PG_CONNINFO="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=$PGUSER"
	export PG_CONNINFO
	return 0
}

pg_stop() {
	[ -n "${PG_DIR:-}" ] && [ -f "$PG_DIR/data/postmaster.pid" ] || return 0
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop \
	    >/dev/null 2>&1
}

pg_restart() {
	pg_stop
	pg_start "$(dirname "$PG_DIR")" "$PGPORT"
}

pg_psql() {
	_pg_as psql -X -q -v ON_ERROR_STOP=1 "$@"
}
