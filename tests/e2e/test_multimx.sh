#!/usr/bin/env bash
# test_multimx.sh: a domain with two MX hosts (issue 13), end to end
# against the RFC 8823 test CA.  Two private Postfix instances, MX A and
# MX B (world.sh --mx-b), each with its own smime-acme-milter; both milters
# share one spool (a directory, as a shared spool on NFS would be); the
# requester runs beside MX A.  The test CA's relay list plays the CA's
# MTA: it goes to a chosen MX, falls back to the next on a failure, or
# delivers the same mail to both at once.
#  - multimx-answered-by-b: the challenge goes to MX B only: MX B's
#    milter answers, the certificate is issued, MX A's milter answers
#    nothing;
#  - multimx-one-reply: the same challenge mail reaches both MX at the
#    same moment (the final "." together), MULTIMX_RACES times (default
#    10): exactly one reply each time, by the milters' logs and by the
#    replies the CA received;
#  - multimx-killed-mid-reply: MX A's milter is killed right after its
#    claim (test hook SMIME_ACME_TEST_KILL_AFTER_CLAIM); MX A then
#    tempfails (default_action=tempfail there, so the CA's MTA sees the
#    failure) and the CA falls back to MX B, which answers once the
#    claim is older than ClaimTimeout (3 s here).
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root multimx

B=${B:-build}
case $B in /*) ;; *) B=$E2E_TOP/$B ;; esac
SA=$B/smime-acme
MILTER=$B/smime-acme-milter
if [ ! -x "$SA" ] || [ ! -x "$MILTER" ]; then
	skip multimx "$SA or $MILTER not built"
	exit 0
fi
RACES=${MULTIMX_RACES:-10}
CLAIM_TIMEOUT=3

# the spool's claim timeout, when the milter knows it
extra=()
probe=$(mktemp)
printf 'ClaimTimeout %s\n' "$CLAIM_TIMEOUT" >"$probe"
"$MILTER" -n -c "$probe" 2>&1 | grep -q 'ClaimTimeout: unknown key' ||
	extra=("ClaimTimeout $CLAIM_TIMEOUT")
rm -f "$probe"

multimx_world multimx mm "${extra[@]}" || e2e_finish

C=$T/cfg
COMMON=(-n --agree-tos --conf "$CONF" -c "$C" --finalize-delay 0 --no-passphrase)
why=""
A=127.0.0.1:$MX_PORT
BB=127.0.0.1:$MX_B_PORT

# answered LOG ADDR: how many challenges for ADDR the milter of LOG answered
answered() { grep -c ": $2: answered: " "$1" 2>/dev/null || true; }

# replies_from ADDR: how many reply mails from ADDR the CA received
replies_from() {
	curl -sf --cacert "$CA_TRUST" "https://127.0.0.1:$CA_HTTPS_PORT/_test/replies" |
		"$E2E_PY" -c 'import json, sys
a = sys.argv[1].lower()
print(sum(1 for r in json.load(sys.stdin)["replies"] if r["mail_from"].lower() == a))' "$1"
}

# queues_empty: both MX and the outbound queue are empty (waits up to 30 s)
queues_empty() {
	local i
	for ((i = 0; i < 300; i++)); do
		if postqueue -c "$POSTFIX_CONF" -j 2>/dev/null | grep -q . ||
			postqueue -c "$POSTFIX_B_CONF" -j 2>/dev/null | grep -q .; then
			sleep 0.1
			continue
		fi
		return 0
	done
	return 1
}

# ------------------------------------------------ (1) answered by MX B
ca_cfg "{\"relay\": \"$BB\"}" || why="ca_cfg relay"
sa cert "${COMMON[@]}" -e bea@example.test
[ "$rc" = 0 ] || why="$why; cert bea: rc $rc"
[ -s "$(certdir "$C" bea@example.test)/cert.pem" ] || why="$why; no certificate"
[ "$(answered "$T/milter-b.log" bea@example.test)" = 1 ] ||
	why="$why; MX B's milter did not answer once"
[ "$(answered "$T/milter-a.log" bea@example.test)" = 0 ] ||
	why="$why; MX A's milter answered"
grep -q "bea@example.test" "$POSTFIX_B_LOG" || why="$why; MX B never saw the challenge"
verdict multimx-answered-by-b

# ------------------------------------------------ (2) both at once
ca_cfg "{\"relay\": \"$A,$BB\", \"deliver_all\": true}" || why="ca_cfg deliver_all"
bad=0 raced=0 lost=0
for ((i = 1; i <= RACES; i++)); do
	a=race$i@example.test
	sa cert "${COMMON[@]}" -e "$a"
	if [ "$rc" != 0 ]; then
		why="$why; cert $a: rc $rc"
		bad=$((bad + 1))
	fi
done
queues_empty || why="$why; a queue did not drain"
sleep 1
for ((i = 1; i <= RACES; i++)); do
	a=race$i@example.test
	na=$(answered "$T/milter-a.log" "$a")
	nb=$(answered "$T/milter-b.log" "$a")
	nr=$(replies_from "$a")
	if [ $((na + nb)) != 1 ] || [ "$nr" != 1 ]; then
		why="$why; $a: answered by A $na, by B $nb, CA got $nr replies"
	fi
	# both milters got as far as the entry: the second one lost the claim
	# or found it answered
	if grep -q ": $a: not answered" "$T/milter-a.log" "$T/milter-b.log"; then
		raced=$((raced + 1))
	fi
	grep -q ": $a: not answered.*entry claimed by another" \
		"$T/milter-a.log" "$T/milter-b.log" && lost=$((lost + 1))
done
echo "    $RACES challenges delivered to both MX at once: the second milter reached the spool $raced times, lost the claim itself $lost times"
[ "$raced" -gt 0 ] || why="$why; no delivery reached both milters' spool step"
verdict multimx-one-reply

# ------------------------------------------------ (3) killed mid-reply
if [ "${#extra[@]}" = 0 ]; then
	skip multimx-killed-mid-reply "the milter has no ClaimTimeout yet"
	e2e_finish
fi
ca_cfg "{\"relay\": \"$A,$BB\", \"deliver_all\": false}" || why="ca_cfg relay"
mx_milter_stop A
SMIME_ACME_TEST_KILL_AFTER_CLAIM=1 mx_milter_start A || why="$why; milter A restart"
# MX A tempfails when its milter is gone, so the CA's MTA sees it
postconf -c "$POSTFIX_CONF" -e \
	"mx_milters = { inet:127.0.0.1:$MPORT_A, default_action=tempfail }" &&
	postfix -c "$POSTFIX_CONF" reload >/dev/null 2>&1 || why="$why; postfix reload"
sleep 1
sa cert "${COMMON[@]}" -e kim@example.test
[ "$rc" = 0 ] || why="$why; cert kim: rc $rc"
[ -s "$(certdir "$C" kim@example.test)/cert.pem" ] || why="$why; no certificate"
grep -q ": kim@example.test: .*killed after the claim" "$T/milter-a.log" ||
	why="$why; MX A's milter was not killed after its claim"
pid_alive "${MILTER_A_PID:-0}" && why="$why; MX A's milter still runs"
[ "$(answered "$T/milter-b.log" kim@example.test)" = 1 ] ||
	why="$why; MX B's milter did not answer once"
queues_empty || why="$why; a queue did not drain"
[ "$(replies_from kim@example.test)" = 1 ] || why="$why; CA got $(replies_from kim@example.test) replies"
verdict multimx-killed-mid-reply
e2e_finish
