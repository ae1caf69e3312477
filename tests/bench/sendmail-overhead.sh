#!/usr/bin/env bash
# tests/bench/sendmail-overhead.sh: what smime-acme-milter costs ordinary
# mail under Sendmail 8.17 (the e2e Sendmail world, tests/e2e/world/
# sendmail.sh: Debian's packages unpacked, never installed).  Two worlds:
# one whose MX daemon runs the milter on an inet socket, one on a unix
# socket (and two for the floor, below); the first world's PLAIN daemon (same Sendmail, no filter) is the
# reference.  smtp-source sends N messages of ~MSGSIZE bytes, one per SMTP
# connection, to x@ca.test, which Sendmail relays to a discarding
# smtp-sink.  The milter's spool is empty: the ordinary-mail path.
#
#   none        PLAIN daemon, no filter (the reference)
#   acme-inet   MX daemon, smime-acme-milter on inet:PORT@127.0.0.1
#   acme-unix   MX daemon of the second world, unix socket
#   floor-inet  MX daemons of two more worlds with refmilter -c (no macros,
#   floor-unix  accepts at connect: the floor any milter pays), when
#               $B/tests/bench/refmilter is built
#
# Each round runs every configuration once per session count, rotated,
# after a warm-up; "x none" is the median of per-round ratios of msgs/s
# (accepted by Sendmail, smtp-source's wall time) at the same session count.
# Every run must end with an empty queue and no smtp-source error.
#
# Environment: N (500), SESSIONS ("1 10"), ROUNDS (3), WARMUP_N (100),
# MSGSIZE (4096), QUICK=1 (N=300, ROUNDS=1), WORK, OUT, B.
# Output: $OUT/sendmail-overhead-runs.csv, $OUT/sendmail-overhead-summary.txt
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
if [ "${QUICK:-0}" = 1 ]; then
	N=${N:-300}
	ROUNDS=${ROUNDS:-1}
	WARMUP_N=${WARMUP_N:-50}
fi
N=${N:-500}
SESSIONS=${SESSIONS:-"1 10"}
ROUNDS=${ROUNDS:-3}
WARMUP_N=${WARMUP_N:-100}
MSGSIZE=${MSGSIZE:-4096}
OUT=${OUT:-/tmp}
WORLD=$top/tests/e2e/world/sendmail.sh
MILTER_BIN=$B/smime-acme-milter
REF_BIN=$B/tests/bench/refmilter
SUMMARY=$OUT/sendmail-overhead-summary.txt
CSV=$OUT/sendmail-overhead-runs.csv
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "sendmail-overhead: run as root" >&2; exit 2; }
if [ ! -x "$MILTER_BIN" ]; then
	echo "SKIP: sendmail-overhead: $MILTER_BIN not built" | tee "$SUMMARY"
	exit 0
fi
for t in m4 unshare smtp-source smtp-sink; do
	command -v "$t" >/dev/null || {
		echo "SKIP: sendmail-overhead: $t missing" | tee "$SUMMARY"
		exit 0
	}
done
own=0
if [ -z "${WORK:-}" ]; then
	WORK=$(mktemp -d /tmp/smime-acme-smbench.XXXXXX)
	own=1
fi
mkdir -p "$WORK" "$OUT"
chmod 755 "$WORK"
# Sendmail refuses a unix socket below a world-writable directory (/tmp)
SOCKD=$(mktemp -d "$B/smbench-sock.XXXXXX") || exit 2
chown nobody:nogroup "$SOCKD"
MPID=()
WORLDS=(inet unix)
[ -x "$REF_BIN" ] && WORLDS+=(floor-inet floor-unix)
cleanup() {
	local p w
	for p in "${MPID[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for w in "${WORLDS[@]}"; do
		"$WORLD" down "$WORK/$w" >/dev/null 2>&1
	done
	rm -rf "$SOCKD"
	[ "$own" = 1 ] && [ "${KEEP:-0}" != 1 ] && rm -rf "$WORK"
}
trap cleanup EXIT

MPORT=$(python3 "$top/tests/lib/free-ports.py")
mkdir -p "$WORK/spool/entries" "$WORK/spool/work" "$WORK/spool/tmp"
chown -R root:nogroup "$WORK/spool"
chmod 770 "$WORK/spool" "$WORK/spool"/*
for s in "inet:$MPORT@127.0.0.1" "unix:$SOCKD/milter.sock"; do
	c=$WORK/${s%%:*}.conf
	printf 'Socket %s\nUserID nobody:nogroup\nSyslog no\nSpoolDirectory %s\n' "$s" "$WORK/spool" >"$c"
	"$MILTER_BIN" -f -c "$c" 2>"$WORK/${s%%:*}.milter.log" &
	MPID+=($!)
done
if [ -x "$REF_BIN" ]; then
	FPORT=$(python3 "$top/tests/lib/free-ports.py")
	for s in "inet:$FPORT@127.0.0.1" "local:$SOCKD/floor.sock"; do
		"$REF_BIN" -c -p "$s" -u nobody 2>"$WORK/floor-${s%%:*}.log" &
		MPID+=($!)
	done
fi
for w in "${WORLDS[@]}"; do
	case $w in
	inet) spec="inet:$MPORT@127.0.0.1" ;;
	unix) spec="local:$SOCKD/milter.sock" ;;
	floor-inet) spec="inet:$FPORT@127.0.0.1" ;;
	floor-unix) spec="local:$SOCKD/floor.sock" ;;
	esac
	SINK_DISCARD=1 "$WORLD" up "$WORK/$w" --no-ca --no-dkim-signer --milter "$spec" \
		>"$WORK/$w.up.log" 2>&1 || {
		echo "sendmail-overhead: world $w did not start: $(tail -2 "$WORK/$w.up.log")" >&2
		exit 1
	}
done
declare -A PORT QDIR
PORT[none]=$(. "$WORK/inet/world.env" && echo "$PLAIN_PORT")
PORT[acme-inet]=$(. "$WORK/inet/world.env" && echo "$MX_PORT")
PORT[acme-unix]=$(. "$WORK/unix/world.env" && echo "$MX_PORT")
QDIR[none]=$WORK/inet/sendmail/mqueue
QDIR[acme-inet]=$WORK/inet/sendmail/mqueue
QDIR[acme-unix]=$WORK/unix/sendmail/mqueue
CONFIGS="none acme-inet acme-unix"
if [ -x "$REF_BIN" ]; then
	for w in floor-inet floor-unix; do
		PORT[$w]=$(. "$WORK/$w/world.env" && echo "$MX_PORT")
		QDIR[$w]=$WORK/$w/sendmail/mqueue
		CONFIGS="$CONFIGS $w"
	done
fi

MSG=$WORK/ordinary.eml
{
	printf 'From: Bench Sender <sender@example.org>\nTo: <x@ca.test>\n'
	printf 'Subject: an ordinary message\nDate: %s\n' "$(LC_ALL=C date -R)"
	printf 'Message-ID: <smbench-%s@example.org>\nMIME-Version: 1.0\n' "$$"
	printf 'Content-Type: text/plain; charset=us-ascii\n\n'
} >"$MSG"
while [ "$(wc -c <"$MSG")" -lt "$MSGSIZE" ]; do
	printf 'the quick brown fox jumps over a lazy dog while mail flows on and on\n' >>"$MSG"
done

qempty() { # DIR TIMEOUT
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		compgen -G "$1/qf*" >/dev/null || compgen -G "$1/df*" >/dev/null || return 0
		sleep 0.1
	done
	return 1
}

echo "round,sessions,config,n,inject_s,msgs_per_s,errors" >"$CSV"
run_one() { # ROUND SESSIONS CONFIG COUNT
	local r=$1 s=$2 cfg=$3 n=$4 rc=0 errs=0 t0 t1
	qempty "${QDIR[$cfg]}" 300 || log "$r/$s/$cfg: queue not empty before the run"
	t0=$EPOCHREALTIME
	smtp-source -4 -s "$s" -m "$n" -F "$MSG" -N -M client.bench.test \
		-f sender@example.org -t x@ca.test "127.0.0.1:${PORT[$cfg]}" >"$WORK/source.out" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	[ "$rc" = 0 ] || {
		log "$r/$s/$cfg: smtp-source exit $rc: $(tail -2 "$WORK/source.out" | tr '\n' ' ')"
		errs=$((errs + 1))
	}
	qempty "${QDIR[$cfg]}" 600 || {
		log "$r/$s/$cfg: queue did not drain"
		errs=$((errs + 1))
	}
	awk -v r="$r" -v s="$s" -v c="$cfg" -v n="$n" -v t0="$t0" -v t1="$t1" -v e="$errs" \
		'BEGIN{printf "%s,%d,%s,%d,%.3f,%.1f,%d\n", r, s, c, n, t1 - t0, n / (t1 - t0), e}' >>"$CSV"
}

log "warm-up ($WARMUP_N per configuration)"
for cfg in $CONFIGS; do run_one warmup 1 "$cfg" "$WARMUP_N"; done
set -- $CONFIGS
cfgs=("$@")
for ((r = 1; r <= ROUNDS; r++)); do
	for s in $SESSIONS; do
		for ((k = 0; k < ${#cfgs[@]}; k++)); do
			cfg=${cfgs[$(((k + r) % ${#cfgs[@]}))]}
			log "round $r, $s session(s), $cfg, N=$N"
			run_one "$r" "$s" "$cfg" "$N"
		done
	done
done

python3 - "$CSV" "$SESSIONS" "$CONFIGS" >"$SUMMARY" <<'EOF'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["round"] != "warmup"]
errs = sum(int(r["errors"]) for r in rows)
print("Sendmail: ordinary mail, msgs/s accepted (median of rounds); x none = median of per-round ratios")
print("%-10s %10s %9s %9s %13s" % ("sessions", "config", "msgs/s", "x none", "spread"))
for s in sys.argv[2].split():
    by = {}
    for r in rows:
        if r["sessions"] == s:
            by.setdefault(r["round"], {})[r["config"]] = float(r["msgs_per_s"])
    for cfg in sys.argv[3].split():
        rates = [v[cfg] for v in by.values() if cfg in v]
        ratios = [v[cfg] / v["none"] for v in by.values() if cfg in v and v.get("none")]
        if not rates:
            continue
        print("%-10s %10s %9.1f %9.3f %13s" % (s, cfg, statistics.median(rates),
              statistics.median(ratios) if ratios else float("nan"),
              "%.3f-%.3f" % (min(ratios), max(ratios)) if ratios else "-"))
print("errors: %d" % errs)
EOF
[ -x "$REF_BIN" ] || echo "floor: not measured ($REF_BIN not built)" >>"$SUMMARY"
echo >>"$SUMMARY"
python3 "$here/overhead-table.py" "Sendmail=$CSV" >>"$SUMMARY"
cat "$SUMMARY"
grep -q '^errors: 0$' "$SUMMARY"
