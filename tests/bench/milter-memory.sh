#!/usr/bin/env bash
# tests/bench/milter-memory.sh: resident size of smime-acme-milter, idle
# and with HELD (100) SMTP sessions held open in the middle of a
# transaction, next to the reference filter refmilter under the same load.
#
# Both milters listen on unix sockets behind their own smtpd listener of
# the private Postfix instance (tests/bench/lib.sh).  For each milter:
#   idle       just started, no mail yet
#   warm       after WARM_N ordinary messages (smtp-source, 10 sessions)
#   held       hold-sessions.py keeps HELD SMTP sessions (= milter
#              connections) open: half stopped after RCPT TO, half inside
#              DATA; every session names a recipient that has a spool entry
#              (so smime-acme-milter keeps per-recipient state) and an
#              ordinary one
#   released   1 s after those sessions were dropped
# Figures from /proc/PID/status: VmRSS, VmHWM (peak RSS), Threads, and the
# number of open descriptors (/proc/PID/fd: one per milter connection, so
# it shows the held sessions did reach the milter).
#
# Environment: HELD (100), WARM_N (500), QUICK=1 (WARM_N=200), WORK, OUT, B.
# Output: $OUT/memory.csv, $OUT/memory-summary.txt
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

[ "${QUICK:-0}" = 1 ] && WARM_N=${WARM_N:-200}
HELD=${HELD:-100}
WARM_N=${WARM_N:-500}

bench_init milter-memory
if ! milter_available; then
	echo "SKIP: milter-memory: $MILTER_BIN not built"
	exit 0
fi
pick_ports 4
log "milter-memory: $HELD sessions held, warm-up $WARM_N messages"

# spool entries for the held recipients
mkdir -p "$WORK/acme"
chmod 755 "$WORK/acme"
acme_spool "$WORK/acme/spool"
$PY "$BENCH_DIR/challenge-mails.py" --spool "$WORK/acme/spool" --out "$WORK/entries" \
	--count "$HELD" --rcpt 'hold{i}@bench.test' || die "challenge-mails.py failed"
chown -R postfix:postfix "$WORK/acme/spool"

start_acme acme "local:$WORK/acme/milter.sock"
start_ref ref "local:$WORK/ref.sock"
add_listener acme acme
add_listener ref ref
postfix_up

MSG=$WORK/ordinary.eml
{
	printf 'From: <sender@example.org>\nTo: <rcpt@bench.test>\nSubject: ordinary\n'
	printf 'Message-ID: <memory-%s@example.org>\n\n' "$$"
	for _ in $(seq 1 50); do echo "an ordinary message body line of some seventy characters or so ......"; done
} >"$MSG"

CSV=$OUT/memory.csv
echo "milter,phase,rss_kb,hwm_kb,threads,fds" >"$CSV"
measure() { # NAME PHASE
	local m
	m=$(milter_mem "$1")
	echo "$1,$2,${m% *},${m#* },$(milter_threads "$1"),$(milter_fds "$1")" | tee -a "$CSV" >&2
}

for name in acme ref; do
	measure "$name" idle
	off=$(maillog_size)
	smtp-source -4 -s 10 -m "$WARM_N" -F "$MSG" -N -f sender@example.org \
		-t rcpt@bench.test "$HOST:${PORT[$name]}" >/dev/null 2>&1 ||
		die "smtp-source to $name failed"
	wait_queue_empty 120 || die "queue did not drain"
	sleep 0.5
	sent=$(count_delivered "$off")
	[ "$sent" -eq "$WARM_N" ] || die "$name: $sent of $WARM_N warm-up messages delivered"
	measure "$name" warm
	rm -f "$WORK/ready" "$WORK/release"
	$PY "$BENCH_DIR/hold-sessions.py" --port "${PORT[$name]}" --count "$HELD" \
		--ready "$WORK/ready" --release "$WORK/release" 2>"$WORK/hold-$name.err" &
	hp=$!
	BENCH_PIDS+=("$hp")
	for _ in $(seq 1 1200); do
		[ -f "$WORK/ready" ] && break
		kill -0 "$hp" 2>/dev/null || break
		sleep 0.05
	done
	[ -f "$WORK/ready" ] || die "hold-sessions.py did not get ready: $(tail -3 "$WORK/hold-$name.err")"
	held=$(awk '$1 == "ok" {print $2}' "$WORK/ready")
	[ "$held" -eq "$HELD" ] || log "$name: only $held of $HELD sessions held: $(head -3 "$WORK/hold-$name.err")"
	sleep 1
	measure "$name" held
	touch "$WORK/release"
	wait "$hp" || true
	sleep 1
	measure "$name" released
done

# ------------------------------------------------------------- summary
get() { awk -F, -v m="$1" -v p="$2" -v f="$3" '$1 == m && $2 == p {print $f}' "$CSV"; }
summary() {
	local name
	echo "== milter-memory: $(milter_label) vs refmilter (trivial libmilter filter)"
	echo "   $HELD SMTP sessions held mid-transaction (half after RCPT, half in DATA); KiB"
	echo
	printf '   %-8s %8s %8s %9s %9s %8s %6s %10s %9s %9s\n' milter idle warm held held-HWM threads fds "KiB/sess" released "held/idle"
	for name in acme ref; do
		awk -v n="$name" -v i="$(get "$name" idle 3)" -v w="$(get "$name" warm 3)" \
			-v h="$(get "$name" held 3)" -v hw="$(get "$name" held 4)" -v t="$(get "$name" held 5)" -v fd="$(get "$name" held 6)" \
			-v r="$(get "$name" released 3)" -v s="$HELD" 'BEGIN{
			printf "   %-8s %8d %8d %9d %9d %8d %6d %10.1f %9d %9.2f\n", n, i, w, h, hw, t, fd, (h - w) / s, r, h / i }'
	done
	echo
	awk -v ai="$(get acme idle 3)" -v ri="$(get ref idle 3)" -v ah="$(get acme held 3)" -v rh="$(get ref held 3)" \
		-v aw="$(get acme warm 3)" -v rw="$(get ref warm 3)" 'BEGIN{
		printf "   smime-acme-milter / refmilter: idle %.2f, held %.2f, per held session %.2f\n",
			ai / ri, ah / rh, (rh - rw > 0 ? (ah - aw) / (rh - rw) : 0) }'
	echo "   KiB/sess = (held - warm) / sessions; fds while held: open descriptors of the milter"
	echo "   (one per milter connection); threads: this libmilter serves connections from a pool"
}
summary | tee "$OUT/memory-summary.txt"
