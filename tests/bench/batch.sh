#!/usr/bin/env bash
# tests/bench/batch.sh: `smime-acme batch` throughput end to end (mail
# world, smime-acme-milter, RFC 8823 test CA) for RSA-2048 and EC P-256,
# next to the local crypto floor measured in the same run (the same keys,
# CSRs and PKCS#12 files made by our library without ACME or mail, on every
# core: tests/bench/crypto-floor.c), printed as a ratio.  Run by `make bench` (not by make check).  Needs root.
#
#   N=1000 tests/bench/batch.sh            default N=1000, both key types
#   N=50 KEYS=ec CONC=8 tests/bench/batch.sh
# Environment: N (addresses per key type), KEYS ("rsa ec"), CONC (workers,
# default 32), PASS (file: PKCS#12 with a passphrase, 600,000 PBKDF2
# iterations, the default; none: --no-passphrase), FLOOR_N (addresses for
# the crypto floor, default min(N, 100), scaled to N), B (build dir),
# KEEP=1 (keep the world directory).
# Targets printed: batch <= 1.25x the crypto floor; 1,000 EC P-256
# addresses < 5 min on 2 cores.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../e2e/lib.sh"
e2e_built batch-bench
N=${N:-1000}
KEYS=${KEYS:-rsa ec}
CONC=${CONC:-32}
PASS=${PASS:-file}
FLOOR_N=${FLOOR_N:-$((N < 100 ? N : 100))}
CORES=$(nproc)

[ "$(id -u)" = 0 ] || { echo "batch bench: needs root (mail world)" >&2; exit 1; }
for p in "$SA" "$MILTER"; do
	[ -x "$p" ] || { echo "batch bench: $p not built" >&2; exit 1; }
done
[ -x "$B/tests/bench/crypto-floor" ] || { echo "batch bench: $B/tests/bench/crypto-floor not built (make tests)" >&2; exit 1; }

MPORT=$(free_port)
world_up --milter "inet:127.0.0.1:$MPORT" || exit 1
MILTER_PID=
trap 'milter_stop; world_down' EXIT
T=$WORLD_DIR/bench
mkdir -p "$T"
chmod 755 "$WORLD_DIR" "$T"
SPOOL=$T/spool
spool_setup "$SPOOL"
CONF=$T/smime-acme.conf
conf_write "$CONF" "$MPORT" "$SPOOL" "IncompleteWait 5" "SpoolPostAfter 30" \
	"SpoolTimeout 600"
milter_start "$CONF" "$MPORT" "$T/milter.log"

printf 'bench-passphrase-%s\n' "$$" >"$T/pass"
chmod 600 "$T/pass"
if [ "$PASS" = none ]; then
	PASSOPT=(--no-passphrase)
else
	PASSOPT=(--passphrase-file "$T/pass")
fi

now() { date +%s.%N; }

# floor KT COUNT: the same local work without ACME or mail -- key, CSR,
# PKCS#12 (same passphrase setting) and the atomic writes, through our own
# library calls, one thread per core (tests/bench/crypto-floor.c); prints
# seconds
FLOOR=$B/tests/bench/crypto-floor
floor() {
	local kt=$1 count=$2 key p out
	case $kt in rsa) key=rsa2048 ;; *) key=ec256 ;; esac
	if [ "$PASS" = none ]; then p=-; else p=$(cat "$T/pass"); fi
	out=$("$FLOOR" "$key" "$count" "$CORES" "$T/floor-$kt" "$p") || return 1
	echo "$out" >>"$T/floor.log"
	sed -n 's/.* wall_s=\([0-9.]*\).*/\1/p' <<<"$out"
}

printf '\nbatch bench: N=%s per key type, %s workers, %s cores, PKCS#12 %s\n' \
	"$N" "$CONC" "$CORES" "$([ "$PASS" = none ] && echo 'without passphrase' || echo 'with passphrase (600k PBKDF2)')"
for kt in $KEYS; do
	list=$T/list-$kt.txt
	for i in $(seq "$N"); do printf 'b%s%05d@example.test key=%s\n' "$kt" "$i" "$kt"; done >"$list"
	t0=$(now)
	"$SA" --allow-root -n --agree-tos --conf "$CONF" --finalize-delay 0 "${PASSOPT[@]}" \
		-c "$T/cfg-$kt" batch "$list" --concurrency "$CONC" --stats \
		--results "$T/results-$kt.txt" >"$T/run-$kt.out" 2>&1
	rc=$?
	t1=$(now)
	wall=$(echo "$t1 - $t0" | bc -l)
	ok=$(grep -v '^#' "$T/results-$kt.txt" 2>/dev/null | awk -F'\t' '$2 == "issued"' | wc -l)
	[ "$ok" = "$N" ] || bad=1
	fl=$(floor "$kt" "$FLOOR_N")
	flN=$(echo "$fl * $N / $FLOOR_N" | bc -l)
	stats=$(grep '^batch-stats' "$T/run-$kt.out")
	get() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<" $stats"; }
	printf '\n== %s: %d/%d issued (exit %d) in %.1f s = %.2f addresses/s (%.1f/min)\n' \
		"$kt" "$ok" "$N" "$rc" "$wall" "$(echo "$ok / $wall" | bc -l)" "$(echo "$ok * 60 / $wall" | bc -l)"
	printf '   where the time goes (summed over %s workers):\n' "$CONC"
	printf '     key generation      %8.1f s\n' "$(get keygen)"
	printf '     issuance, CPU       %8.1f s  (CSR, JWS, TLS, PKCS#12 in the workers)\n' "$(get issue_cpu)"
	printf '     issuance, waiting   %8.1f s  (CA and challenge mail)\n' "$(get wait)"
	printf '     rate-limit waits    %8.1f s\n' "$(get ratelimit_wait)"
	printf '     process CPU         %8.1f s of %.1f s x %d cores available\n' "$(get cpu)" "$wall" "$CORES"
	printf '   crypto floor (key, CSR, PKCS#12, writes; %d cores, %d addresses measured): %.1f s for %d = %.2f addresses/s\n' \
		"$CORES" "$FLOOR_N" "$flN" "$N" "$(echo "$N / $flN" | bc -l)"
	ratio=$(echo "$wall / $flN" | bc -l)
	printf '   batch / floor = %.2fx  (target <= 1.25x: %s)\n' "$ratio" \
		"$([ "$(echo "$ratio <= 1.25" | bc -l)" = 1 ] && echo met || echo MISSED)"
	if [ "$kt" = ec ]; then
		est=$(echo "$wall * 1000 / $N" | bc -l)
		printf '   1,000 EC P-256 addresses: %.0f s (target < 300 s: %s)%s\n' "$est" \
			"$([ "$(echo "$est < 300" | bc -l)" = 1 ] && echo met || echo MISSED)" \
			"$([ "$N" != 1000 ] && echo ", scaled from N=$N")"
	fi
	rm -rf "$T/floor-$kt"
done
if [ "${KEEP:-}" = 1 ]; then
	echo "kept $WORLD_DIR"
fi
# a benchmark that did not certify every address is not a figure
exit "${bad:-0}"
