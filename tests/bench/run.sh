#!/usr/bin/env bash
# tests/bench/run.sh: the smime-acme benchmarks (`make bench`), in order:
#
#   milter-overhead.sh    ordinary mail through Postfix with and without
#                         smime-acme-milter (inet and unix socket), msgs/s
#                         and the ratio to "no milter", 1 and 10 sessions
#   sendmail-overhead.sh  the same through Sendmail 8.17 (Debian's packages
#                         unpacked, tests/e2e/world/sendmail.sh): no
#                         milter, milter on inet and on unix socket
#   milter-memory.sh      the milter's resident size idle and with 100 held
#                         SMTP sessions, next to a trivial libmilter filter
#   challenge-latency.sh  "." of a challenge mail -> reply handed to the
#                         MTA, median and p99, next to an ordinary mail
#   batch.sh              the requester's batch benchmark, if present
#
# then prints one summary block, ending with the ordinary-mail table of
# both MTAs against no milter and the accept-at-connect floor
# (overhead-table.py).  Every figure is printed next to a
# reference measured in the same run, as a ratio; targets are printed, not
# enforced (this is not part of `make check`).  Exit status non-zero only
# when a benchmark could not run or lost mail.
#
#   tests/bench/run.sh [NAME...]       default: all of the above
#
# Environment: B (build dir), QUICK=1 (small sizes, a few minutes), N,
# SESSIONS, ROUNDS (milter-overhead), HELD (memory), COUNT (latency),
# WORK (scratch, default a new /tmp/smime-acme-bench.*; removed at the end
# unless KEEP=1), OUT (results, default /tmp/smime-acme-bench-results/<date>).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export B=${B:-build}

[ "$(id -u)" = 0 ] || {
	echo "tests/bench/run.sh: run as root (private Postfix instance on 127.0.0.1)" >&2
	exit 2
}
own_work=0
if [ -z "${WORK:-}" ]; then
	WORK=$(mktemp -d /tmp/smime-acme-bench.XXXXXX)
	own_work=1
fi
OUT=${OUT:-${TMPDIR:-/tmp}/smime-acme-bench-results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$WORK" "$OUT"
chmod 755 "$WORK"
export OUT
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [ "$own_work" = 1 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

names=${*:-milter-overhead sendmail-overhead milter-memory challenge-latency batch}
declare -A status
start=$(date +%s)
{
	echo "smime-acme benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "host: $(uname -r), $(nproc) CPU, load $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "postfix $(postconf -d -h mail_version 2>/dev/null), libmilter $(dpkg-query -W -f='${Version}' libmilter-dev 2>/dev/null)"
	echo "build: $B; QUICK=${QUICK:-0}"
} | tee "$OUT/env.txt"
for n in $names; do
	s=$here/$n.sh
	if [ ! -x "$s" ]; then
		[ "$n" = batch ] && continue # optional
		echo "== $n: no $s" | tee "$OUT/$n-summary.txt"
		status[$n]=missing
		continue
	fi
	echo
	echo "######## $n"
	rm -rf "${WORK:?}/$n"
	mkdir -p "$WORK/$n"
	t0=$(date +%s)
	WORK=$WORK/$n "$s" 2>&1 | tee "$OUT/$n.log"
	rc=${PIPESTATUS[0]}
	if grep -q '^SKIP: ' "$OUT/$n.log"; then
		status[$n]=skipped
	elif [ "$rc" = 0 ]; then
		status[$n]="ok ($(($(date +%s) - t0)) s)"
	else
		status[$n]="FAILED (exit $rc)"
	fi
done

summary_of() {
	case $1 in
	milter-overhead) echo "$OUT/overhead-summary.txt" ;;
	milter-memory) echo "$OUT/memory-summary.txt" ;;
	challenge-latency) echo "$OUT/latency-summary.txt" ;;
	*) echo "$OUT/$1-summary.txt" ;;
	esac
}
fail=0
for n in $names; do
	case ${status[$n]:-} in FAILED* | missing) fail=1 ;; esac
done
{
	echo
	echo "================================================================ summary"
	cat "$OUT/env.txt"
	for n in $names; do
		[ -n "${status[$n]:-}" ] || continue
		echo
		echo "-- $n: ${status[$n]}"
		f=$(summary_of "$n")
		[ -f "$f" ] && cat "$f"
		grep '^SKIP: ' "$OUT/$n.log" 2>/dev/null
	done
	t=()
	[ -f "$OUT/overhead-runs.csv" ] && t+=("Postfix=$OUT/overhead-runs.csv")
	[ -f "$OUT/sendmail-overhead-runs.csv" ] && t+=("Sendmail=$OUT/sendmail-overhead-runs.csv")
	if [ ${#t[@]} -gt 0 ]; then
		echo
		echo "-- ordinary mail, Postfix and Sendmail (issue 14's table)"
		python3 "$here/overhead-table.py" "${t[@]}"
	fi
	echo
	echo "total $(($(date +%s) - start)) s; results in $OUT"
} | tee "$OUT/summary.txt"
exit $fail
