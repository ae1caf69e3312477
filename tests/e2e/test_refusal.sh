#!/usr/bin/env bash
# test_refusal.sh: a challenge the milter refuses reaches the requester at
# once.  The test CA sends its challenge mails unsigned (a CA that breaks
# RFC 8823; to the milter the same as a forgery): the milter refuses the
# mail, notes why beside the spool entry, and `smime-acme cert` prints the
# milter's reason and exits 69 within seconds instead of waiting out
# SpoolTimeout (120 s here).  The entry itself stays awaiting, so a
# genuine challenge would still be answered.
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root refusal

B=${B:-build}
case $B in /*) ;; *) B=$E2E_TOP/$B ;; esac
SA=$B/smime-acme
MILTER=$B/smime-acme-milter
if [ ! -x "$SA" ] || [ ! -x "$MILTER" ]; then
	skip refusal "$SA or $MILTER not built"
	exit 0
fi

MPORT=$(free_port)
if ! world_up --milter "inet:127.0.0.1:$MPORT"; then
	fail refusal-world-up "world.sh up failed"
	e2e_finish
fi
MILTER_PID=
trap 'milter_stop; world_down' EXIT

T=$WORLD_DIR/rf
mkdir -p "$T"
chmod 755 "$WORLD_DIR" "$T"
SPOOL=$T/spool
spool_setup "$SPOOL"
CONF=$T/smime-acme.conf
conf_write "$CONF" "$MPORT" "$SPOOL" "IncompleteWait 5" "SpoolPostAfter 60" \
	"SpoolTimeout 120"
if ! milter_start "$CONF" "$MPORT" "$T/milter.log"; then
	sed 's/^/    milter: /' "$T/milter.log"
	fail refusal-milter "the milter did not start"
	e2e_finish
fi
ca_cfg '{"unsigned": true}'

why=""
t0=$(date +%s)
sa cert -n --agree-tos --conf "$CONF" -c "$T/cfg" --finalize-delay 0 \
	--no-passphrase -e rhea@example.test
t1=$(date +%s)
[ "$rc" = 69 ] || why="exit $rc, want 69"
grep -q 'rhea@example.test: smime-acme-milter refused the challenge mail: .*no DKIM signature' "$T/out" ||
	why="$why; the milter's reason is not printed"
grep -q 'run the same command again' "$T/out" || why="$why; no next step"
[ $((t1 - t0)) -lt 60 ] || why="$why; took $((t1 - t0)) s (SpoolTimeout is 120)"
grep -q 'rhea@example.test: not answered: .*no DKIM signature' "$T/milter.log" ||
	why="$why; the milter did not log the refusal"
if [ -n "$why" ]; then
	sed 's/^/    | /' "$T/out" | tail -8
fi
verdict refusal-reaches-requester
e2e_finish
