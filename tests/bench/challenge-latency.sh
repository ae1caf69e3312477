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
# Environment: COUNT (250), LAT_SOCKET (unix | inet), QUICK=1 (COUNT=60),
# WORK, OUT, B.  Output: $OUT/latency-smtp.tsv, $OUT/latency-summary.txt
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

[ "${QUICK:-0}" = 1 ] && COUNT=${COUNT:-60}
COUNT=${COUNT:-250}
LAT_SOCKET=${LAT_SOCKET:-unix}

bench_init challenge-latency
if ! milter_available; then
	echo "SKIP: challenge-latency: $MILTER_BIN not built"
	exit 0
fi
command -v openssl >/dev/null || die "openssl not found"
$PY -c 'import dkim' 2>/dev/null || die "python3-dkim not installed ($PY)"
pick_ports 4
log "challenge-latency: $COUNT challenges, milter on a $LAT_SOCKET socket"

# capture-sendmail: built by make, else here
CAP=$WORK/capture
mkdir -p "$CAP/out"
if [ -x "$B/tests/bench/capture-sendmail" ] &&
	[ "$B/tests/bench/capture-sendmail" -nt "$BENCH_DIR/capture-sendmail.c" ]; then
	cp "$B/tests/bench/capture-sendmail" "$CAP/capture-sendmail"
else
	cc -std=c11 -D_DEFAULT_SOURCE -O2 -Wall -o "$CAP/capture-sendmail" \
		"$BENCH_DIR/capture-sendmail.c" || die "cannot build capture-sendmail.c"
fi
chown -R postfix:postfix "$CAP"
chmod 755 "$CAP" "$CAP/capture-sendmail"

# the CA's DKIM key and the milter's key file (no DNS)
mkdir -p "$WORK/dkim"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	-out "$WORK/dkim/ca.key" 2>/dev/null || die "openssl genpkey failed"
printf 'bench._domainkey.ca.test v=DKIM1; k=rsa; p=%s\n' \
	"$(openssl pkey -in "$WORK/dkim/ca.key" -pubout -outform DER 2>/dev/null | base64 -w0)" \
	>"$WORK/dkim/test.keys"
chmod 644 "$WORK/dkim/test.keys"

# spool entries and mails
mkdir -p "$WORK/acme"
chmod 755 "$WORK/acme"
acme_spool "$WORK/acme/spool"
$PY "$BENCH_DIR/challenge-mails.py" --spool "$WORK/acme/spool" --out "$WORK/mails" \
	--count "$COUNT" --key "$WORK/dkim/ca.key" --selector bench --ca-domain ca.test \
	--rcpt 'user{i}@bench.test' || die "challenge-mails.py failed"
chown -R postfix:postfix "$WORK/acme/spool"

if [ "$LAT_SOCKET" = inet ]; then
	msock="inet:$((PORT_BASE + 3))@$HOST"
else
	msock="local:$WORK/acme/milter.sock"
fi
start_acme acme "$msock" - <<EOF
SendmailPath $CAP/capture-sendmail
TestDKIMKeys $WORK/dkim/test.keys
LogWhy yes
EOF
add_listener none
add_listener acme acme
postfix_up

off=$(maillog_size)
log "sending $COUNT challenges, $COUNT ordinary mails through the milter and $COUNT without"
$PY "$BENCH_DIR/challenge-client.py" send --dir "$WORK/mails" --count "$COUNT" \
	--acme-port "${PORT[acme]}" --none-port "${PORT[none]}" \
	--log "$OUT/latency-smtp.tsv" || die "challenge-client.py send failed"
# replies are handed over before the milter answers end-of-message, but
# give a slow (asynchronous) injection a moment
for _ in $(seq 1 50); do
	[ "$(find "$CAP/out" -name '*.eml' | wc -l)" -ge "$COUNT" ] && break
	sleep 0.1
done
wait_queue_empty 60 || log "queue did not drain"
sleep 0.3
rc=0
$PY "$BENCH_DIR/challenge-client.py" report --dir "$WORK/mails" --log "$OUT/latency-smtp.tsv" \
	--capdir "$CAP/out" --label "$(milter_label), $LAT_SOCKET socket" |
	tee "$OUT/latency-summary.txt" || rc=1
probs=$(count_problems "$off")
if [ "$probs" -ne 0 ]; then
	echo "   Postfix log: $probs deferrals/milter problems" | tee -a "$OUT/latency-summary.txt"
	rc=1
fi
if [ $rc != 0 ]; then
	log "problems; milter log tail:"
	tail -15 "$WORK/acme/milter.log" >&2
fi
exit $rc
