#!/usr/bin/env bash
# tests/bench/challenge-latency.sh: how long smime-acme-milter takes to
# answer an RFC 8823 challenge.  Measured from the moment the client sends
# the final "." of the challenge mail to Postfix until the milter's reply
# has been handed over completely to the sendmail command (SendmailPath
# points at capture-sendmail, which stamps the time when its standard
# input is complete).  Median and 99th percentile over COUNT challenges.
#
# Set-up, all generated at run time in $WORK: a 2048-bit RSA DKIM key for
# the fake CA domain ca.test, the milter's TestDKIMKeys file with its
# public key, one spool entry per address (challenge-mails.py, format of
# common/spool.c), and per address a challenge mail (From
# acme-challenge@ca.test, Subject "ACME: <token-part1>", Auto-Submitted:
# auto-generated; type=acme, DKIM-signed with dkimpy) and an ordinary mail
# of about the same size.
#
# Reference in the same run: the same SMTP transaction ("." -> 250) for an
# ordinary mail through the same milter, and through no milter.  Mails go
# one at a time, each on its own SMTP connection, interleaved.
#
# Once per spool store in LAT_SPOOLS, in the same run, each with its own
# milter, listener, entries and mails: "file" (a directory) and "pg" (the
# PostgreSQL spool on a private cluster, tests/lib/pg.sh; skipped with a
# line when the milter has no SpoolDatabase).  Then, per store, the time
# from an entry written (by the requester's code) to visible to a second
# milter's envelope lookup (spool-tool visible: a second handle, as on the
# second MX; for the directory that is the shared directory itself).
#
# Environment: COUNT (250), LAT_SOCKET (unix | inet), LAT_SPOOLS ("file
# pg"), VIS_COUNT (200), QUICK=1 (COUNT=60, VIS_COUNT=50), WORK, OUT, B.
# Output: $OUT/latency-smtp-<spool>.tsv, $OUT/latency-summary.txt
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

if [ "${QUICK:-0}" = 1 ]; then
	COUNT=${COUNT:-60}
	VIS_COUNT=${VIS_COUNT:-50}
fi
COUNT=${COUNT:-250}
VIS_COUNT=${VIS_COUNT:-200}
LAT_SOCKET=${LAT_SOCKET:-unix}
LAT_SPOOLS=${LAT_SPOOLS:-"file pg"}

bench_init challenge-latency
if ! milter_available; then
	echo "SKIP: challenge-latency: $MILTER_BIN not built"
	exit 0
fi
command -v openssl >/dev/null || die "openssl not found"
$PY -c 'import dkim' 2>/dev/null || die "python3-dkim not installed ($PY)"
pick_ports 6
SPOOL_TOOL=$B/tests/bench/spool-tool
[ -x "$SPOOL_TOOL" ] || die "$SPOOL_TOOL not built (make tests)"
spools=()
for sp in $LAT_SPOOLS; do
	case $sp in
	file) spools+=(file) ;;
	pg)
		if pg_spool_up; then
			spools+=(pg)
		else
			echo "   spool pg: skipped: $PG_SPOOL_SKIP" >>"$WORK/skipped.txt"
			log "challenge-latency: PostgreSQL spool skipped: $PG_SPOOL_SKIP"
		fi
		;;
	*) die "unknown spool $sp (LAT_SPOOLS: file pg)" ;;
	esac
done
[ "${#spools[@]}" -gt 0 ] || die "no spool to measure"
log "challenge-latency: $COUNT challenges per spool (${spools[*]}), milter on a $LAT_SOCKET socket"

# capture-sendmail: built by make, else here; one copy per spool, each
# storing into its own out/
CAPBIN=$WORK/capture-sendmail
if [ -x "$B/tests/bench/capture-sendmail" ] &&
	[ "$B/tests/bench/capture-sendmail" -nt "$BENCH_DIR/capture-sendmail.c" ]; then
	cp "$B/tests/bench/capture-sendmail" "$CAPBIN"
else
	cc -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -o "$CAPBIN" \
		"$BENCH_DIR/capture-sendmail.c" || die "cannot build capture-sendmail.c"
fi
for sp in "${spools[@]}"; do
	mkdir -p "$WORK/capture-$sp/out"
	cp "$CAPBIN" "$WORK/capture-$sp/capture-sendmail"
	chown -R postfix:postfix "$WORK/capture-$sp"
	chmod 755 "$WORK/capture-$sp" "$WORK/capture-$sp/capture-sendmail"
done

# the CA's DKIM key and the milter's key file (no DNS)
mkdir -p "$WORK/dkim"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$WORK/dkim/ca.key" 2>/dev/null || die "openssl genpkey failed"
printf 'bench._domainkey.ca.test v=DKIM1; k=rsa; p=%s\n' \
	"$(openssl pkey -in "$WORK/dkim/ca.key" -pubout -outform DER 2>/dev/null | base64 -w0)" \
	>"$WORK/dkim/test.keys"
chmod 644 "$WORK/dkim/test.keys"

# per spool: entries and mails (challenge-mails.py writes the entries into
# a directory spool; for the database they are loaded from there by
# spool-tool, through spool_write as the requester would), the milter
k=3
add_listener none
for sp in "${spools[@]}"; do
	name=acme-$sp
	mkdir -p "$WORK/$name"
	chmod 755 "$WORK/$name"
	acme_spool "$WORK/$name/spool"
	$PY "$BENCH_DIR/challenge-mails.py" --spool "$WORK/$name/spool" --out "$WORK/mails-$sp" \
		--count "$COUNT" --key "$WORK/dkim/ca.key" --selector bench --ca-domain ca.test \
		--rcpt "user{i}.$sp@bench.test" || die "challenge-mails.py failed"
	chown -R postfix:postfix "$WORK/$name/spool"
	extra=()
	if [ "$sp" = pg ]; then
		"$SPOOL_TOOL" load "db:$PG_SPOOL_REQUESTER" "$WORK/$name/spool"/entries/* ||
			die "spool-tool load into the database failed"
		extra=("SpoolDatabase $PG_SPOOL_MILTER")
	fi
	if [ "$LAT_SOCKET" = inet ]; then
		msock="inet:$((PORT_BASE + k))@$HOST"
		k=$((k + 1))
	else
		msock="local:$WORK/$name/milter.sock"
	fi
	start_acme "$name" "$msock" - < <(printf '%s\n' \
		"SendmailPath $WORK/capture-$sp/capture-sendmail" \
		"TestDKIMKeys $WORK/dkim/test.keys" "LogWhy yes" "${extra[@]}")
	add_listener "$name" "$name"
done
postfix_up

rc=0
: >"$OUT/latency-summary.txt"
for sp in "${spools[@]}"; do
	name=acme-$sp
	off=$(maillog_size)
	log "spool $sp: sending $COUNT challenges, $COUNT ordinary mails through the milter and $COUNT without"
	$PY "$BENCH_DIR/challenge-client.py" send --dir "$WORK/mails-$sp" --count "$COUNT" \
		--acme-port "${PORT[$name]}" --none-port "${PORT[none]}" \
		--log "$OUT/latency-smtp-$sp.tsv" || die "challenge-client.py send failed"
	# replies are handed over before the milter answers end-of-message,
	# but give a slow (asynchronous) injection a moment
	for _ in $(seq 1 50); do
		[ "$(find "$WORK/capture-$sp/out" -name '*.eml' | wc -l)" -ge "$COUNT" ] && break
		sleep 0.1
	done
	wait_queue_empty 60 || log "queue did not drain"
	sleep 0.3
	$PY "$BENCH_DIR/challenge-client.py" report --dir "$WORK/mails-$sp" \
		--log "$OUT/latency-smtp-$sp.tsv" --capdir "$WORK/capture-$sp/out" \
		--label "$(milter_label), $LAT_SOCKET socket, spool $sp" |
		tee -a "$OUT/latency-summary.txt" || rc=1
	probs=$(count_problems "$off")
	if [ "$probs" -ne 0 ]; then
		echo "   Postfix log: $probs deferrals/milter problems" | tee -a "$OUT/latency-summary.txt"
		rc=1
	fi
	if [ $rc != 0 ]; then
		log "problems; milter log tail:"
		tail -15 "$WORK/$name/milter.log" >&2
	fi
	echo | tee -a "$OUT/latency-summary.txt"
done

# entry written -> visible to a second milter, per spool
{
	echo "== spool visibility: entry written (requester) -> seen by a second milter's"
	echo "   envelope lookup (spool_has on its own handle, as on the second MX), $VIS_COUNT entries"
} | tee -a "$OUT/latency-summary.txt"
for sp in "${spools[@]}"; do
	if [ "$sp" = pg ]; then
		v=$("$SPOOL_TOOL" visible "db:$PG_SPOOL_REQUESTER" "db:$PG_SPOOL_MILTER" "$VIS_COUNT") || rc=1
	else
		mkdir -p "$WORK/vis"
		acme_spool "$WORK/vis"
		v=$("$SPOOL_TOOL" visible "$WORK/vis" "$WORK/vis" "$VIS_COUNT") || rc=1
	fi
	printf '   %-5s %s\n' "$sp" "${v:-failed}" | tee -a "$OUT/latency-summary.txt"
done
[ -f "$WORK/skipped.txt" ] && tee -a "$OUT/latency-summary.txt" <"$WORK/skipped.txt"
exit $rc
