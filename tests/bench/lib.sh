# tests/bench/lib.sh: shared by the smime-acme benchmarks (sourced, bash).
#
# Builds a private mail world in a scratch directory, everything on
# 127.0.0.1, nothing outside $WORK is touched (not /etc/postfix, not the
# system's services):
#
#   client (smtp-source or a python3 script)
#      |
#      v
#   private Postfix instance: one smtpd listener per configuration, each
#   with its own "-o smtpd_milters=" (none, smime-acme-milter on inet: or
#   unix:, the reference filter refmilter)
#      |  cleanup -> queue -> qmgr -> smtp (relayhost [127.0.0.1]:SINK)
#      v
#   smtp-sink (discards)
#
# Everything started here is stopped on exit: "postfix -c $WORK/etc stop"
# for the instance, kill by PID for the sink and the milters.
#
# Environment common to all benchmarks:
#   B          build directory (default build), holds smime-acme-milter
#   WORK       scratch directory (default: a new /tmp/smime-acme-bench.*)
#   OUT        where results go (default $WORK/results)
#   PORT_BASE  first TCP port tried (default 24300; moved up if busy)
#   STANDIN=1  if smime-acme-milter is not built, let refmilter play its
#              part (to develop the harness; the figures then mean nothing)
#   KEEP=1     keep $WORK after the run
# shellcheck shell=bash

HOST=127.0.0.1
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$BENCH_DIR/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$TOP/$B ;; esac
# shellcheck disable=SC2034 # used by the benchmarks that source this
PY=/usr/bin/python3
# shellcheck source=tests/lib/postfix.sh
. "$TOP/tests/lib/postfix.sh"

BENCH_PIDS=()
PF_CONF=
declare -A PORT MSPEC MPID
LISTENERS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
	log "FATAL: $*"
	exit 1
}

# bench_init NAME: scratch directory, results directory, exit trap.
bench_init() {
	local name=$1
	[ "$(id -u)" = 0 ] || die "$name: run as root (private Postfix instance)"
	for c in postfix smtp-source smtp-sink postconf ss; do
		command -v "$c" >/dev/null || die "$name: $c not found"
	done
	if [ -z "${WORK:-}" ]; then
		WORK=$(mktemp -d /tmp/smime-acme-bench.XXXXXX)
		BENCH_OWN_WORK=1
	fi
	mkdir -p "$WORK"
	WORK=$(cd "$WORK" && pwd)
	chmod 755 "$WORK"
	OUT=${OUT:-$WORK/results}
	mkdir -p "$OUT"
	PF_CONF=$WORK/etc
	QDIR=$WORK/queue
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	set +e
	if [ -n "$PF_CONF" ] && [ -f "$PF_CONF/main.cf" ] &&
		postfix -c "$PF_CONF" status >/dev/null 2>&1; then
		postfix -c "$PF_CONF" stop >/dev/null 2>&1
	fi
	local p
	for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${BENCH_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ "${BENCH_PG:-0}" = 1 ] && pg_stop
	if [ "${BENCH_OWN_WORK:-0}" = 1 ] && [ "${KEEP:-0}" != 1 ] &&
		[ "$OUT" != "${OUT#"$WORK"/}" ]; then
		# results live inside WORK: keep only them
		find "$WORK" -mindepth 1 -maxdepth 1 ! -name "$(basename "$OUT")" \
			-exec rm -rf {} + 2>/dev/null
	elif [ "${BENCH_OWN_WORK:-0}" = 1 ] && [ "${KEEP:-0}" != 1 ]; then
		rm -rf "$WORK"
	fi
}

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# pick_ports COUNT: set PORT_BASE so that COUNT ports from it are free.
pick_ports() {
	local n=$1 base=${PORT_BASE:-24300} i ok
	for _ in $(seq 1 40); do
		ok=1
		for i in $(seq 0 $((n - 1))); do
			port_free $((base + i)) || {
				ok=0
				break
			}
		done
		[ $ok = 1 ] && {
			PORT_BASE=$base
			return 0
		}
		base=$((base + 37))
	done
	die "no $n free ports from ${PORT_BASE:-24300} on"
}

wait_listen() {
	local i
	for i in $(seq 1 200); do
		port_free "$1" || return 0
		sleep 0.05
	done
	return 1
}
wait_socket() {
	local i
	for i in $(seq 1 200); do
		[ -S "$1" ] && return 0
		sleep 0.05
	done
	return 1
}

# libmilter socket syntax -> Postfix milter syntax
pf_milter_spec() {
	case $1 in
	inet:*@*) echo "inet:${1#*@}:$(echo "${1#inet:}" | cut -d@ -f1)" ;;
	local:* | unix:*) echo "unix:${1#*:}" ;;
	*) die "bad milter socket $1" ;;
	esac
}

# The milter under test; STANDIN=1 lets refmilter stand in for it.
MILTER_BIN=$B/smime-acme-milter
milter_available() {
	[ -x "$MILTER_BIN" ] && return 0
	[ "${STANDIN:-0}" = 1 ] && return 0
	return 1
}
milter_label() {
	if [ -x "$MILTER_BIN" ]; then echo smime-acme-milter; else echo "refmilter STAND-IN (STANDIN=1; not our milter)"; fi
}

# The reference filter: built by make into $B/tests/bench/refmilter, else
# compiled here.
REF_BIN=
build_ref() {
	if [ -x "$B/tests/bench/refmilter" ] &&
		[ "$B/tests/bench/refmilter" -nt "$BENCH_DIR/refmilter.c" ]; then
		REF_BIN=$B/tests/bench/refmilter
		return 0
	fi
	REF_BIN=$WORK/refmilter
	cc -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -o "$REF_BIN" \
		"$BENCH_DIR/refmilter.c" -lmilter -pthread ||
		die "cannot build refmilter.c"
}

# start_ref NAME SOCKET [ARGS...]: the reference filter, running as
# postfix (ARGS: -c for the accept-at-connect floor).
start_ref() {
	local name=$1 sock=$2
	shift 2
	[ -n "$REF_BIN" ] || build_ref
	"$REF_BIN" -p "$sock" -u postfix "$@" >"$WORK/$name.log" 2>&1 &
	MPID[$name]=$!
	BENCH_PIDS+=("$!")
	MSPEC[$name]=$(pf_milter_spec "$sock")
	wait_milter "$name" "$sock"
}

# acme_spool DIR: an empty spool the milter (user postfix) can use.
acme_spool() {
	mkdir -p "$1/entries" "$1/work" "$1/tmp"
	chown -R postfix:postfix "$1"
	chmod 770 "$1" "$1/entries" "$1/work" "$1/tmp"
}

# start_acme NAME SOCKET [CONF-LINES]: smime-acme-milter with its own
# config and spool under $WORK/NAME; extra "Key value" lines on stdin
# when CONF-LINES is "-".
start_acme() {
	local name=$1 sock=$2 extra=${3:-} d
	d=$WORK/$name
	mkdir -p "$d"
	chmod 755 "$d"
	[ -d "$d/spool" ] || acme_spool "$d/spool"
	if [ ! -x "$MILTER_BIN" ]; then
		[ "${STANDIN:-0}" = 1 ] || die "$MILTER_BIN not built"
		start_ref "$name" "$sock"
		return
	fi
	{
		echo "# smime-acme-milter for the benchmark (written by tests/bench/lib.sh)"
		echo "Socket $sock"
		echo "SpoolDirectory $d/spool"
		echo "Syslog no"
		echo "UserID postfix"
		echo "UMask 007"
		echo "PidFile $d/milter.pid"
		[ "$extra" = - ] && cat
	} >"$d/smime-acme.conf"
	chmod 644 "$d/smime-acme.conf"
	"$MILTER_BIN" -c "$d/smime-acme.conf" -f >"$d/milter.log" 2>&1 &
	MPID[$name]=$!
	BENCH_PIDS+=("$!")
	MSPEC[$name]=$(pf_milter_spec "$sock")
	wait_milter "$name" "$sock"
}

wait_milter() {
	local name=$1 sock=$2 ok=0
	case $sock in
	inet:*) wait_listen "$(echo "${sock#inet:}" | cut -d@ -f1)" && ok=1 ;;
	*) wait_socket "${sock#*:}" && ok=1 ;;
	esac
	if [ $ok = 0 ] || ! kill -0 "${MPID[$name]}" 2>/dev/null; then
		tail -20 "$WORK/$name.log" "$WORK/$name/milter.log" 2>/dev/null >&2
		die "milter $name did not come up on $sock"
	fi
}

# milter_cpu NAME: utime+stime (clock ticks) of the milter process, all
# its threads including finished ones.
milter_cpu() {
	local p=${MPID[$1]:-}
	[ -n "$p" ] || {
		echo 0
		return
	}
	awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0
}
# milter_mem NAME: "VmRSS VmHWM" in kB
milter_mem() {
	awk '/^VmRSS:/{r=$2} /^VmHWM:/{h=$2} END{print r + 0, h + 0}' \
		"/proc/${MPID[$1]}/status" 2>/dev/null
}
milter_threads() { awk '/^Threads:/{print $2}' "/proc/${MPID[$1]}/status" 2>/dev/null; }
# milter_fds NAME: open descriptors (one per milter connection, plus a few)
milter_fds() { find "/proc/${MPID[$1]}/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# add_listener NAME [MILTER-NAME]: one smtpd listener; "" = no milter.
add_listener() {
	LISTENERS+=("$1=${2:-}")
}

# postfix_up: write the instance's main.cf/master.cf (one smtpd per
# add_listener, ports from PORT_BASE+1), start it and the sink on
# PORT_BASE.
postfix_up() {
	local i=1 l name m smtpd=""
	SINK_PORT=$PORT_BASE
	for l in "${LISTENERS[@]}"; do
		name=${l%%=*}
		m=${l#*=}
		PORT[$name]=$((PORT_BASE + i))
		i=$((i + 1))
		[ -z "$smtpd" ] || smtpd+=$'\n'
		smtpd+="$HOST:${PORT[$name]} inet n - n - - smtpd"
		[ -z "$m" ] || smtpd+=" -o smtpd_milters=${MSPEC[$m]}"
	done
	rm -rf "$PF_CONF" "$QDIR" "$WORK/data"
	postfix_conf "$PF_CONF" "$QDIR" "$WORK/data" "$WORK/maillog" bench.test \
	    "$smtpd" <<EOF || die "cannot write $PF_CONF"
# the smime-acme benchmarks (tests/bench/): everything relayed to the sink
myorigin = \$myhostname
relayhost = [$HOST]:$SINK_PORT
smtpd_relay_restrictions = permit_mynetworks, reject
default_process_limit = 250
default_destination_concurrency_limit = 20
smtp_destination_concurrency_limit = 20
# a broken milter must show up as errors
non_smtpd_milters =
milter_default_action = tempfail
EOF
	: >"$WORK/maillog"
	postfix -c "$PF_CONF" check >"$WORK/postfix-check.log" 2>&1 ||
		die "postfix check failed: $(tail -3 "$WORK/postfix-check.log")"
	smtp-sink -u postfix -4 -m 1000 "$HOST:$SINK_PORT" 512 >/dev/null 2>&1 &
	BENCH_PIDS+=("$!")
	wait_listen "$SINK_PORT" || die "smtp-sink did not start on $SINK_PORT"
	postfix -c "$PF_CONF" start >"$WORK/postfix-start.log" 2>&1 ||
		die "postfix start failed: $(tail -5 "$WORK/maillog")"
	for l in "${LISTENERS[@]}"; do
		wait_listen "${PORT[${l%%=*}]}" || die "smtpd ${l%%=*} not listening"
	done
}

queue_count() {
	find "$QDIR/incoming" "$QDIR/active" "$QDIR/deferred" "$QDIR/hold" \
		"$QDIR/maildrop" -type f 2>/dev/null | wc -l
}
wait_queue_empty() { # [timeout seconds]
	local i
	for i in $(seq 1 $((${1:-300} * 20))); do
		[ "$(queue_count)" -eq 0 ] && return 0
		sleep 0.05
	done
	return 1
}
maillog_size() { stat -c %s "$WORK/maillog"; }
# maillog_since OFFSET: the log written after OFFSET bytes
maillog_since() { tail -c +"$(($1 + 1))" "$WORK/maillog"; }
# count_delivered OFFSET / count_problems OFFSET
count_delivered() { maillog_since "$1" | grep -c 'status=sent' || true; }
count_problems() {
	maillog_since "$1" |
		grep -cE 'status=(deferred|bounced)|milter-(reject|discard)|warning: .*milter|NOQUEUE: (reject|milter)' || true
}

steal_ticks() { awk '/^cpu /{print $9; exit}' /proc/stat; }

# median and nearest-rank percentile of numbers on stdin
median() { sort -g | awk '{a[NR]=$1} END{if(!NR)print "nan"; else if(NR%2)print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
percentile() { sort -g | awk -v p="$1" '{a[NR]=$1} END{if(!NR){print "nan"; exit}; k=int(p*NR/100); if(k<p*NR/100)k++; if(k<1)k=1; print a[k]}'; }

# ratio A B with 3 decimals ("-" if B is 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{if(b+0==0)print "-"; else printf "%.3f\n", a/b}'; }

env_block() {
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(uname -r), $(nproc) CPU ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "postfix: $(postconf -d -h mail_version 2>/dev/null); libmilter: $(dpkg-query -W -f='${Version}' libmilter-dev 2>/dev/null)"
	echo "milter under test: $(milter_label) ($MILTER_BIN)"
}

# pg_spool_up: the PostgreSQL spool for a benchmark, on a private cluster
# in $WORK/pgspool (tests/lib/pg_spool.sh), stopped at exit.  Sets
# PG_SPOOL_MILTER and PG_SPOOL_REQUESTER; non-zero with PG_SPOOL_SKIP set
# when it cannot be had.
pg_spool_up() {
	[ -z "${PG_SPOOL_MILTER:-}" ] || return 0
	# shellcheck source=tests/lib/pg.sh
	. "$TOP/tests/lib/pg.sh"
	# shellcheck source=tests/lib/pg_spool.sh
	. "$TOP/tests/lib/pg_spool.sh"
	PG_SPOOL_SKIP="the milter has no SpoolDatabase"
	printf 'SpoolDatabase x\n' >"$WORK/pg-probe.conf"
	"$MILTER_BIN" -n -c "$WORK/pg-probe.conf" 2>&1 |
		grep -q 'SpoolDatabase: unknown key' && return 1
	mkdir -p "$WORK/pgspool"
	pg_spool_setup "$WORK/pgspool" "$B/smime-acme" >"$WORK/pgspool.log" 2>&1 || {
		log "PostgreSQL spool: $PG_SPOOL_SKIP (see $WORK/pgspool.log)"
		return 1
	}
	BENCH_PG=1
}
