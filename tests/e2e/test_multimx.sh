#!/usr/bin/env bash
# test_multimx.sh: a domain with two MX hosts (issue 13), end to end
# against the RFC 8823 test CA.  Two private Postfix instances, MX A and
# MX B (world.sh --mx-b), each with its own smime-acme-milter, both on one
# spool; the requester runs beside MX A.  The test CA's relay list plays
# the CA's MTA: it goes to a chosen MX, falls back to the next on a
# failure, or delivers the same mail to both at once.  Every case runs
# with the directory spool shared by both milters (as on NFS) and, in
# test_multimx_pg.sh (MULTIMX_SPOOL=pg), with the PostgreSQL spool on a
# private cluster (tests/lib/pg_spool.sh):
#  - multimx-SPOOL-answered-by-b: the challenge goes to MX B only: MX B's
#    milter answers, the certificate is issued, MX A's answers nothing;
#  - multimx-SPOOL-one-reply: the same challenge mail reaches both MX at
#    the same moment (the final "." together), MULTIMX_RACES times
#    (default 10): exactly one reply each time, by the milters' logs and by
#    the replies the CA received;
#  - multimx-SPOOL-killed-mid-reply: MX A's milter is killed right after
#    its claim (test hook SMIME_ACME_TEST_KILL_AFTER_CLAIM); MX A then
#    tempfails (default_action=tempfail there, so the CA's MTA sees the
#    failure), the CA falls back to MX B, which tempfails while the claim
#    is fresh and answers once it is older than ClaimTimeout (3 s here).
# With PostgreSQL only:
#  - multimx-pg-down-ordinary-mail: the same ordinary mail through both MX
#    with the database up and then stopped: accepted at once (no 4xx) and
#    delivered unchanged both times, and each milter logs the outage once;
#  - multimx-pg-down-challenge: the database stops after the entry is
#    pending and before the challenge arrives: MX B tempfails it, and once
#    PostgreSQL is back the CA's retry is answered and the certificate
#    issued (the requester resumes if the outage stopped it).
set -u
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lib/pg.sh
. "$E2E_TOP/tests/lib/pg.sh"
# shellcheck source=tests/lib/pg_spool.sh
. "$E2E_TOP/tests/lib/pg_spool.sh"
e2e_need_root multimx

e2e_built multimx
RACES=${MULTIMX_RACES:-10}
SPOOL_KIND=${MULTIMX_SPOOL:-file}
CLAIM="ClaimTimeout 3"

multimx_world multimx mm "$CLAIM" || e2e_finish
PG_UP=0
trap 'mx_milter_stop A; mx_milter_stop B; [ "$PG_UP" = 0 ] || pg_stop; world_down' EXIT

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

# mx_a_action accept|tempfail: MX A's milter default_action
mx_a_action() {
	postconf -c "$POSTFIX_CONF" -e \
		"mx_milters = { inet:127.0.0.1:$MPORT_A, default_action=$1 }" &&
		postfix -c "$POSTFIX_CONF" reload >/dev/null 2>&1
}

# cases S: the three cases with spool S (file or pg); the requester uses
# $CONF, certificates go to $T/cfg-S
cases() {
	local S=$1 a i na nb nr bad=0 raced=0 lost=0
	C=$T/cfg-$S
	COMMON=(-n --agree-tos --conf "$CONF" -c "$C" --finalize-delay 0 --no-passphrase)

	# ------------------------------------------------ answered by MX B
	ca_cfg "{\"relay\": \"$BB\", \"deliver_all\": false}" || why="ca_cfg relay"
	a=bea-$S@example.test
	sa cert "${COMMON[@]}" -e "$a"
	[ "$rc" = 0 ] || why="$why; cert $a: rc $rc"
	[ -s "$(certdir "$C" "$a")/cert.pem" ] || why="$why; no certificate"
	[ "$(answered "$T/milter-b.log" "$a")" = 1 ] ||
		why="$why; MX B's milter did not answer once"
	[ "$(answered "$T/milter-a.log" "$a")" = 0 ] ||
		why="$why; MX A's milter answered"
	# (MX B delivers and logs its copy while the CA issues: wait for it)
	wait_grep "$POSTFIX_B_LOG" "to=<$a>.*status=sent" ||
		why="$why; MX B never delivered the challenge"
	verdict "multimx-$S-answered-by-b"

	# ------------------------------------------------ both at once
	ca_cfg "{\"relay\": \"$A,$BB\", \"deliver_all\": true}" || why="ca_cfg deliver_all"
	for ((i = 1; i <= RACES; i++)); do
		a=race$i-$S@example.test
		sa cert "${COMMON[@]}" -e "$a"
		if [ "$rc" != 0 ]; then
			why="$why; cert $a: rc $rc"
			bad=$((bad + 1))
		fi
	done
	queues_empty || why="$why; a queue did not drain"
	sleep 1
	for ((i = 1; i <= RACES; i++)); do
		a=race$i-$S@example.test
		na=$(answered "$T/milter-a.log" "$a")
		nb=$(answered "$T/milter-b.log" "$a")
		nr=$(replies_from "$a")
		if [ $((na + nb)) != 1 ] || [ "$nr" != 1 ]; then
			why="$why; $a: answered by A $na, by B $nb, CA got $nr replies"
		fi
		# both milters got as far as the spool: the second one met
		# the claim (tempfail, then found it answered) or the answer
		if grep -q ": $a: not answered" "$T/milter-a.log" "$T/milter-b.log"; then
			raced=$((raced + 1))
		fi
		grep -q ": $a: not answered.*entry claimed by another" \
			"$T/milter-a.log" "$T/milter-b.log" && lost=$((lost + 1))
	done
	echo "    $S: $RACES challenges delivered to both MX at once: the second milter reached the spool $raced times, met the live claim $lost times"
	[ "$raced" -gt 0 ] || why="$why; no delivery reached both milters' spool step"
	verdict "multimx-$S-one-reply"

	# ------------------------------------------------ killed mid-reply
	ca_cfg "{\"relay\": \"$A,$BB\", \"deliver_all\": false}" || why="ca_cfg relay"
	mx_milter_stop A
	SMIME_ACME_TEST_KILL_AFTER_CLAIM=1 mx_milter_start A || why="$why; milter A restart"
	# MX A tempfails when its milter is gone, so the CA's MTA sees it
	mx_a_action tempfail || why="$why; postfix reload"
	sleep 1
	a=kim-$S@example.test
	sa cert "${COMMON[@]}" -e "$a"
	[ "$rc" = 0 ] || why="$why; cert $a: rc $rc"
	[ -s "$(certdir "$C" "$a")/cert.pem" ] || why="$why; no certificate"
	grep -q ": $a: .*killed after the claim" "$T/milter-a.log" ||
		why="$why; MX A's milter was not killed after its claim"
	pid_alive "${MILTER_A_PID:-0}" && why="$why; MX A's milter still runs"
	grep -q ": $a: not answered yet: entry claimed by another" "$T/milter-b.log" ||
		why="$why; MX B did not tempfail while the claim was fresh"
	[ "$(answered "$T/milter-b.log" "$a")" = 1 ] ||
		why="$why; MX B's milter did not answer once"
	queues_empty || why="$why; a queue did not drain"
	[ "$(replies_from "$a")" = 1 ] || why="$why; CA got $(replies_from "$a") replies"
	verdict "multimx-$S-killed-mid-reply"
	# back to normal
	mx_milter_stop A
	mx_milter_start A || fail "multimx-$S-milter" "milter A did not restart"
	mx_a_action accept || fail "multimx-$S-milter" "postfix reload"
}

if [ "$SPOOL_KIND" = file ]; then
	cases file
	e2e_finish
fi

# ------------------------------------------------ the PostgreSQL spool
pg_spool_setup "$T" "$SA" >"$T/pg-setup.log" 2>&1
prc=$?
if [ "$prc" != 0 ]; then
	[ "$prc" = 77 ] || {
		[ -z "${PG_DIR:-}" ] || PG_UP=1
		sed 's/^/    | /' "$T/pg-setup.log" | tail -8
		fail multimx-pg "$PG_SPOOL_SKIP"
		e2e_finish
	}
	skip multimx-pg "$PG_SPOOL_SKIP"
	e2e_finish
fi
PG_UP=1
mx_milter_stop A
mx_milter_stop B
for x in a b; do
	port=$MPORT_A
	[ $x = b ] && port=$MPORT_B
	conf_write "$T/conf-$x" "$port" "$SPOOL" "IncompleteWait 5" \
		"SpoolPostAfter 60" "SpoolTimeout 60" "$CLAIM" \
		"SpoolDatabase $PG_SPOOL_MILTER"
done
CONF=$T/conf-req
conf_write "$CONF" "$MPORT_A" "$SPOOL" "IncompleteWait 5" \
	"SpoolPostAfter 60" "SpoolTimeout 60" "$CLAIM" \
	"SpoolDatabase $PG_SPOOL_REQUESTER"
if ! mx_milter_start A || ! mx_milter_start B; then
	fail multimx-pg-milter "a milter did not start on the database spool"
	e2e_finish
fi
cases pg

# ------------------------------------------------ PostgreSQL stopped
C=$T/cfg-pg
COMMON=(-n --agree-tos --conf "$CONF" -c "$C" --finalize-delay 0 --no-passphrase)
mkdir -p "$T/ord"
# ordinary LABEL: the same ordinary mail (tagged LABEL-A / LABEL-B) through
# MX A and MX B; send_mail fails on any 4xx or 5xx
ordinary() {
	local x port f got
	for x in A B; do
		port=$MX_PORT
		[ $x = B ] && port=$MX_B_PORT
		f=$T/ord/$1-$x.eml
		printf '%s\n' "From: Bob <bob@elsewhere.test>" "To: <zoe@example.test>" \
			"Subject: Minutes ($1 via MX $x)" "Date: $(LC_ALL=C date -R)" \
			"Message-ID: <$1-$x.$$@elsewhere.test>" "X-Test-Tag: $1-$x" \
			"MIME-Version: 1.0" "Content-Type: text/plain; charset=us-ascii" "" \
			"Ordinary mail while the spool database is $1." >"$f"
		send_mail "$port" bob@elsewhere.test zoe@example.test "$f" ||
			why="$why; MX $x did not accept the mail ($1)"
		got=$(wait_mail_tagged zoe@example.test "$1-$x" 200)
		if [ -z "$got" ]; then
			why="$why; not delivered via MX $x ($1)"
		elif ! delivered_unchanged "$f" "$got" >/dev/null; then
			why="$why; changed via MX $x ($1)"
		fi
	done
}
ordinary db-up
loaded() { grep -c 'spool: PostgreSQL pending set loaded' "$T/milter-$1.log"; }
loaded_a=$(loaded a) loaded_b=$(loaded b)
pg_stop
ordinary db-down
for x in a b; do
	# (logged by the milter's pending-set thread, not by the deliveries)
	wait_grep "$T/milter-$x.log" 'spool: PostgreSQL unreachable.*ordinary mail flows' 50
	n=$(grep -c 'spool: PostgreSQL unreachable.*ordinary mail flows' "$T/milter-$x.log")
	[ "$n" = 1 ] || why="$why; milter $x logged the outage $n times, want once"
done
grep -h 'zoe@example.test' "$POSTFIX_LOG" "$POSTFIX_B_LOG" | grep -q 'milter-reject\|status=deferred' &&
	why="$why; a milter tempfailed or deferred ordinary mail"
pg_start "$T" "$PGPORT" >/dev/null || why="$why; PostgreSQL did not restart"
# each milter's pending set reconnects after its back-off (at most 30 s,
# smime-acme.conf(5)); an entry written before that would be unknown to
# it when the database stops again
for ((i = 0; i < 450; i++)); do
	[ "$(loaded a)" -gt "$loaded_a" ] && [ "$(loaded b)" -gt "$loaded_b" ] && break
	sleep 0.1
done
[ "$(loaded a)" -gt "$loaded_a" ] && [ "$(loaded b)" -gt "$loaded_b" ] ||
	why="$why; a milter's pending set did not reload within 45 s of the restart"
verdict multimx-pg-down-ordinary-mail

# the challenge: pending, then the database stops, then the mail comes
ca_cfg "{\"relay\": \"$BB\", \"deliver_all\": false, \"mail_delay\": 6, \"relay_tries\": 30}" ||
	why="ca_cfg"
a=pat-pg@example.test
"$SA" --allow-root cert "${COMMON[@]}" -e "$a" >"$T/out" 2>&1 &
sapid=$!
state=''
for ((i = 0; i < 100; i++)); do
	state=$(pg_psql -tA -c "SELECT state FROM smime_acme.entries WHERE mailbox = '$a'" 2>/dev/null)
	[ "$state" = awaiting ] && break
	sleep 0.1
done
[ "$state" = awaiting ] || why="$why; the entry never became awaiting ($state)"
sleep 1 # NOTIFY reaches the milters' pending sets
pg_stop
for ((i = 0; i < 300; i++)); do
	grep -q "milter-reject: END-OF-MESSAGE.*to=<$a>" "$POSTFIX_B_LOG" && break
	sleep 0.1
done
grep -q "milter-reject: END-OF-MESSAGE.*4\.7\.1.*to=<$a>" "$POSTFIX_B_LOG" ||
	why="$why; MX B did not tempfail the challenge with the database down"
grep -q ": $a: not answered yet: spool database unreachable" "$T/milter-b.log" ||
	why="$why; milter B did not say why it tempfailed"
pg_start "$T" "$PGPORT" >/dev/null || why="$why; PostgreSQL did not restart"
wait "$sapid"
rc=$?
if [ "$rc" != 0 ]; then
	echo "    the requester stopped during the outage (rc $rc): $(tail -1 "$T/out")"
	sa cert "${COMMON[@]}" -e "$a"
fi
[ "$rc" = 0 ] || why="$why; cert $a after the outage: rc $rc"
[ -s "$(certdir "$C" "$a")/cert.pem" ] || why="$why; no certificate"
[ "$(answered "$T/milter-b.log" "$a")" = 1 ] ||
	why="$why; MX B's milter did not answer once after the outage"
verdict multimx-pg-down-challenge
ca_cfg '{"mail_delay": 0, "relay_tries": 5}' || true
e2e_finish
