#!/usr/bin/env bash
# tests/bench/milter-overhead.sh: what smime-acme-milter costs ordinary
# mail.  Postfix's smtp-source sends N messages of ~4 KiB, one message per
# SMTP connection, to a private Postfix instance (tests/bench/lib.sh) that
# relays them to smtp-sink.  One smtpd listener per configuration:
#
#   none        no milter (the reference)
#   acme-inet   smime-acme-milter on inet:PORT@127.0.0.1
#   acme-unix   smime-acme-milter on a unix socket
#   acme-pg     smime-acme-milter on inet:PORT@127.0.0.1 with the
#               PostgreSQL spool (SpoolDatabase, a private cluster:
#               tests/lib/pg_spool.sh); left out, with a line in the
#               summary, when the database spool is not available
#   ref-inet    refmilter (tests/bench/refmilter.c: accepts at end of
#   ref-unix    headers, nothing else) - a do-nothing filter of our shape
#   floor-inet  refmilter -c: no macros, accepts at connect - the floor
#   floor-unix  any milter pays (issue 14)
#   env-inet    refmilter -r: negotiates as smime-acme-milter and accepts
#   env-unix    at the first RCPT, no work - the envelope floor: what any
#               filter pays that must see the recipients
#
# The milter's spool is empty, so no mail is a challenge candidate: this is
# the path every ordinary message takes (with the database spool, a lookup
# in the pending set the milter keeps in memory).  Each round runs every
# configuration once per session count, in a rotated order, after one
# warm-up round; figures are medians over rounds.  "x none" is the median of
# the per-round ratios msgs/s(config) / msgs/s(none) at the same session
# count (steadier than a ratio of medians when the host drifts).
#
# Every run must deliver all N messages (status=sent in the instance's log)
# with no deferral, bounce or milter warning (milter_default_action =
# tempfail, so a broken milter shows up here as errors).
#
# Environment: N (5000), SESSIONS ("1 10"), ROUNDS (3), WARMUP_N (300),
# PAUSE (2 s), CONFIGS ("none acme-inet acme-unix acme-pg ref-inet
# ref-unix floor-inet floor-unix env-inet env-unix"),
# MSGSIZE (4096), QUICK=1 (N=500, ROUNDS=1, WARMUP_N=100), WORK, OUT, B.
# Output: $OUT/overhead-runs.csv, $OUT/overhead-summary.txt
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
	N=${N:-500}
	ROUNDS=${ROUNDS:-1}
	WARMUP_N=${WARMUP_N:-100}
fi
N=${N:-5000}
SESSIONS=${SESSIONS:-"1 10"}
ROUNDS=${ROUNDS:-3}
WARMUP_N=${WARMUP_N:-300}
PAUSE=${PAUSE:-2}
CONFIGS=${CONFIGS:-"none acme-inet acme-unix acme-pg ref-inet ref-unix floor-inet floor-unix env-inet env-unix"}
MSGSIZE=${MSGSIZE:-4096}

bench_init milter-overhead
if ! milter_available; then
	echo "SKIP: milter-overhead: $MILTER_BIN not built (STANDIN=1 runs the harness with refmilter)"
	exit 0
fi
pick_ports 25   # sink and listeners from +0, milters from +20
SOCK=$WORK/sock
mkdir -p "$SOCK"
chmod 755 "$SOCK"

log "milter-overhead: N=$N SESSIONS=\"$SESSIONS\" ROUNDS=$ROUNDS configs: $CONFIGS"
want=$CONFIGS
CONFIGS=
for cfg in $want; do
	case $cfg in
	acme-pg)
		if ! pg_spool_up; then
			echo "   acme-pg: left out: $PG_SPOOL_SKIP" >>"$WORK/left-out.txt"
			continue
		fi
		start_acme acme-pg "inet:$((PORT_BASE + 22))@$HOST" - <<EOF
SpoolDatabase $PG_SPOOL_MILTER
EOF
		add_listener acme-pg acme-pg
		;;
	none) add_listener none ;;
	acme-inet)
		start_acme acme-inet "inet:$((PORT_BASE + 20))@$HOST"
		add_listener acme-inet acme-inet
		;;
	acme-unix)
		start_acme acme-unix "local:$SOCK/acme.sock"
		add_listener acme-unix acme-unix
		;;
	ref-inet)
		start_ref ref-inet "inet:$((PORT_BASE + 21))@$HOST"
		add_listener ref-inet ref-inet
		;;
	ref-unix)
		start_ref ref-unix "local:$SOCK/ref.sock"
		add_listener ref-unix ref-unix
		;;
	floor-inet)
		start_ref floor-inet "inet:$((PORT_BASE + 23))@$HOST" -c
		add_listener floor-inet floor-inet
		;;
	floor-unix)
		start_ref floor-unix "local:$SOCK/floor.sock" -c
		add_listener floor-unix floor-unix
		;;
	env-inet)
		start_ref env-inet "inet:$((PORT_BASE + 24))@$HOST" -r
		add_listener env-inet env-inet
		;;
	env-unix)
		start_ref env-unix "local:$SOCK/env.sock" -r
		add_listener env-unix env-unix
		;;
	*) die "unknown configuration $cfg" ;;
	esac
	CONFIGS="$CONFIGS $cfg"
done
CONFIGS=${CONFIGS# }
postfix_up

# an ordinary ~MSGSIZE-byte message
MSG=$WORK/ordinary.eml
{
	printf 'From: Bench Sender <sender@example.org>\n'
	printf 'To: Bench Recipient <rcpt@bench.test>\n'
	printf 'Subject: an ordinary message\n'
	printf 'Date: %s\n' "$(LC_ALL=C date -R)"
	printf 'Message-ID: <overhead-%s@example.org>\n' "$$"
	printf 'MIME-Version: 1.0\n'
	printf 'Content-Type: text/plain; charset=us-ascii\n\n'
} >"$MSG"
have=$(wc -c <"$MSG")
awk -v want="$MSGSIZE" -v have="$have" 'BEGIN{
	split("the quick brown fox jumps over a lazy dog while mail flows through the milter unchanged", w, " ");
	n = have; k = 0;
	while (n < want - 72) { l = ""; while (length(l) < 66) l = l w[(k++ % 16) + 1] " "; print l; n += length(l) + 1 }
}' >>"$MSG"

CSV=$OUT/overhead-runs.csv
echo "round,sessions,config,n,inject_s,e2e_s,msgs_per_s,milter_cpu_us_per_msg,errors,steal_pct" >"$CSV"
TICK=$(getconf CLK_TCK)

# run_one ROUND SESSIONS CONFIG COUNT
run_one() {
	local round=$1 s=$2 cfg=$3 n=$4 rc=0 errs=0 off c0 c1 st0 st1 t0 t1 t2 sent bad
	wait_queue_empty 120 || die "queue not empty before $round/$s/$cfg"
	off=$(maillog_size)
	c0=$(milter_cpu "$cfg")
	st0=$(steal_ticks)
	t0=$EPOCHREALTIME
	smtp-source -4 -s "$s" -m "$n" -F "$MSG" -N -M client.bench.test \
		-f sender@example.org -t rcpt@bench.test \
		"$HOST:${PORT[$cfg]}" >"$WORK/source.out" 2>&1 || rc=$?
	t1=$EPOCHREALTIME
	wait_queue_empty 600 || {
		log "$round/$s/$cfg: queue did not drain"
		errs=$((errs + 1))
	}
	t2=$EPOCHREALTIME
	c1=$(milter_cpu "$cfg")
	st1=$(steal_ticks)
	[ $rc = 0 ] || {
		log "$round/$s/$cfg: smtp-source exit $rc: $(tail -2 "$WORK/source.out" | tr '\n' ' ')"
		errs=$((errs + 1))
	}
	sleep 0.3 # postlogd lags a little
	sent=$(count_delivered "$off")
	bad=$(count_problems "$off")
	[ "$sent" -eq "$n" ] || {
		log "$round/$s/$cfg: $sent of $n delivered"
		errs=$((errs + 1))
	}
	[ "$bad" -eq 0 ] || log "$round/$s/$cfg: $bad deferrals/milter problems in the log"
	errs=$((errs + bad))
	awk -v r="$round" -v s="$s" -v c="$cfg" -v n="$n" -v t0="$t0" -v t1="$t1" -v t2="$t2" \
		-v cpu=$((c1 - c0)) -v tick="$TICK" -v e="$errs" -v st=$((st1 - st0)) -v ncpu="$(nproc)" \
		-v milt="$([ "$cfg" = none ] && echo 0 || echo 1)" 'BEGIN{
		printf "%s,%d,%s,%d,%.3f,%.3f,%.1f,%s,%d,%.1f\n", r, s, c, n, t1 - t0, t2 - t0,
			n / (t1 - t0), (milt ? sprintf("%.0f", cpu / tick * 1e6 / n) : "-"), e,
			100 * st / tick / ((t2 - t0) * ncpu) }' | tee -a "$CSV" >&2
	sleep "$PAUSE"
}

read -r -a cfgs <<<"$CONFIGS"
ncfg=${#cfgs[@]}
log "warm-up round ($WARMUP_N messages per configuration)"
for cfg in "${cfgs[@]}"; do run_one warmup 10 "$cfg" "$WARMUP_N"; done
if awk -F, 'NR > 1 && $9 > 0 {bad = 1} END{exit !bad}' "$CSV"; then
	die "errors in the warm-up round (see above and $WORK/maillog)"
fi
for r in $(seq 1 "$ROUNDS"); do
	for s in $SESSIONS; do
		for k in $(seq 0 $((ncfg - 1))); do
			run_one "$r" "$s" "${cfgs[$(((k + r - 1) % ncfg))]}" "$N"
		done
	done
done

# ------------------------------------------------------------- summary
summary() {
	local s cfg mps mn mx x cpu errs base plus
	echo "== milter-overhead: $(milter_label)"
	echo "   N=$N messages of $(wc -c <"$MSG") bytes per run, one per SMTP connection; $ROUNDS round(s); medians"
	for s in $SESSIONS; do
		echo
		printf '   %-10s %3s  %9s %17s  %7s  %7s  %13s  %4s\n' config ses "msgs/s" "(min-max)" "x none" "+ms/msg" "milter us/msg" errs
		base=
		for cfg in "${cfgs[@]}"; do
			awk -F, -v s="$s" -v c="$cfg" '$1 != "warmup" && $2 == s && $3 == c' "$CSV" >"$WORK/sel.csv"
			[ -s "$WORK/sel.csv" ] || continue
			mps=$(cut -d, -f7 "$WORK/sel.csv" | median)
			mn=$(cut -d, -f7 "$WORK/sel.csv" | sort -g | head -1)
			mx=$(cut -d, -f7 "$WORK/sel.csv" | sort -g | tail -1)
			cpu=$(cut -d, -f8 "$WORK/sel.csv" | grep -v '^-$' | median || true)
			errs=$(awk -F, '{e += $9} END{print e + 0}' "$WORK/sel.csv")
			# per-round ratio to none, then the median
			x=$(awk -F, -v s="$s" -v c="$cfg" '$1 != "warmup" && $2 == s {
				if ($3 == "none") base[$1] = $7; if ($3 == c) v[$1] = $7 }
				END{for (r in v) if (base[r] > 0) printf "%.4f\n", v[r] / base[r]}' "$CSV" | median)
			[ "$cfg" = none ] && {
				cpu=-
				base=$mps
			}
			# added time per message and session against "none" (medians)
			plus=$(awk -v s="$s" -v m="$mps" -v b="$base" 'BEGIN{if (b > 0) printf "%+.2f", 1000 * s / m - 1000 * s / b; else print "-"}')
			printf '   %-10s %3s  %9.1f %17s  %7.3f  %7s  %13s  %4s\n' "$cfg" "$s" "$mps" "($mn-$mx)" "$x" "$plus" "${cpu:--}" "$errs"
		done
	done
	echo
	awk -F, 'NR > 1 && $1 != "warmup" {print $10}' "$CSV" | sort -g |
		awk '{a[NR] = $1} END{if (NR) printf "   hypervisor steal over the runs: median %.1f%%, max %.1f%% of CPU (rounds with > 5%% are noisy)\n", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2), a[NR]}'
	echo "   msgs/s: accepted by smtpd per second (smtp-source wall time); x none: median of"
	echo "   per-round ratios to \"none\" at the same session count; +ms/msg: time added per message"
	echo "   and session against \"none\" (from the medians); milter us/msg: CPU of the"
	echo "   milter process per message (/proc/PID/stat, $TICK Hz ticks); steal% per run in the CSV."
	[ ! -f "$WORK/left-out.txt" ] || cat "$WORK/left-out.txt"
	echo
	python3 "$BENCH_DIR/overhead-table.py" "Postfix=$CSV" | sed 's/^/   /'
}
summary | tee "$OUT/overhead-summary.txt"
total_errs=$(awk -F, 'NR > 1 && $1 != "warmup" {e += $9} END{print e + 0}' "$CSV")
log "results: $CSV, $OUT/overhead-summary.txt"
[ "$total_errs" -eq 0 ] || {
	log "milter-overhead: $total_errs delivery errors"
	exit 1
}
