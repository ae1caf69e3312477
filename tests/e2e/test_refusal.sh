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

e2e_built refusal

requester_world refusal rf || e2e_finish
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
