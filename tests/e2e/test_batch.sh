#!/usr/bin/env bash
# test_batch.sh: `smime-acme batch` end to end in the mail world with
# smime-acme-milter in front of the MX and the RFC 8823 test CA:
#  - batch-resume: BATCH_N (default 50) addresses @example.test (one line
#    with two addresses, EC and RSA keys, a usage= option), 8 workers,
#    --no-passphrase; the run is killed with SIGKILL once some but not all
#    certificates are stored, then the same command runs again.  Every
#    address ends up certified, every certificate verifies against
#    CA_ROOT, the CA saw exactly one order per address, the sets stored
#    before the kill were not issued again (mtime and serial unchanged)
#    and the results file lists every address;
#  - batch-ratelimit: a 429 storm (the CA refuses the next 40 newOrder
#    requests) slows the batch but does not fail it;
#  - batch-slow-ca: an order the CA leaves processing past the deadline
#    fails as a slow CA (75, kind processing), not blaming the milter;
#  - batch-syntax: a bad line is refused with its line number, nothing is
#    ordered.
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root batch

e2e_built batch
N=${BATCH_N:-50}

MPORT=$(free_port)
if ! world_up --milter "inet:127.0.0.1:$MPORT"; then
	fail batch-world-up "world.sh up failed"
	e2e_finish
fi
MILTER_PID= BATCH_PID=
stop_all() {
	if [ -n "$BATCH_PID" ]; then
		kill "$BATCH_PID" 2>/dev/null
		wait "$BATCH_PID" 2>/dev/null
	fi
	BATCH_PID=
	milter_stop
}
trap 'stop_all; world_down' EXIT

T=$WORLD_DIR/batch
mkdir -p "$T"
chmod 755 "$WORLD_DIR" "$T"
SPOOL=$T/spool
spool_setup "$SPOOL"
CONF=$T/smime-acme.conf
conf_write "$CONF" "$MPORT" "$SPOOL" "IncompleteWait 5" "SpoolPostAfter 5" \
	"SpoolTimeout 120"

if ! milter_start "$CONF" "$MPORT" "$T/milter.log"; then
	sed 's/^/    milter: /' "$T/milter.log"
	fail batch "smime-acme-milter does not listen on $MPORT"
	e2e_finish
fi

# orders_per_address FILE: "address count" for every address of FILE
# (comments and options skipped) from the CA's /_test/state
orders_per_address() {
	ca_state >"$T/state.json" || return 1
	"$E2E_PY" - "$T/state.json" "$1" <<'EOF'
import collections, json, sys
st = json.load(open(sys.argv[1]))
n = collections.Counter()
for o in st["orders"]:
    for i in o["identifiers"]:
        n[i["value"].lower()] += 1
for line in open(sys.argv[2]):
    for tok in line.split("#")[0].split():
        if "@" in tok:
            print(tok, n[tok.lower()])
EOF
}
certs_stored() { ls "$1/certs" 2>/dev/null | grep -c '@'; }
# cert_marks: "name mtime serial" of every set stored in $CFG, sorted
cert_marks() {
	local d
	for d in "$CFG"/certs/*@*; do
		[ -e "$d/cert.pem" ] || continue
		printf '%s %s %s\n' "${d##*/}" "$(stat -L -c %Y.%y "$d/cert.pem")" \
			"$(openssl x509 -in "$d/cert.pem" -noout -serial)"
	done | sort
}

COMMON=(--allow-root -n --agree-tos --conf "$CONF" --finalize-delay 0 --no-passphrase)

# ------------------------------------------------------------ batch-resume
LIST=$T/list.txt
{
	echo "# batch test: $N addresses"
	echo "multi1@example.test multi2@example.test key=ec usage=digitalSignature,keyEncipherment"
	for i in $(seq 3 "$N"); do
		a=$(printf 'user%03d@example.test' "$i")
		case $((i % 5)) in
		0) echo "$a key=rsa   # RSA-2048" ;;
		*) echo "$a key=ec" ;;
		esac
	done
	echo ""
} >"$LIST"
CFG=$T/cfg
RES=$T/results.txt
run_batch() { # run_batch OUT ARGS...: in the background, pid in BATCH_PID
	local out=$1
	shift
	"$SA" "${COMMON[@]}" -c "$CFG" batch "$LIST" --concurrency 8 \
		--results "$RES" "$@" >"$out" 2>&1 &
	BATCH_PID=$!
}
why=""
run_batch "$T/run1.out"
# kill -9 once some (not all) sets are stored
killed=0
for _ in $(seq 1200); do
	n=$(certs_stored "$CFG")
	if [ "$n" -ge 8 ]; then
		kill -9 "$BATCH_PID" 2>/dev/null && killed=1
		break
	fi
	kill -0 "$BATCH_PID" 2>/dev/null || break
	sleep 0.1
done
wait "$BATCH_PID" 2>/dev/null
BATCH_PID=
before=$(certs_stored "$CFG")
[ "$killed" = 1 ] || why="$why; the first run was not killed midway (finished or stuck with $before sets)"
[ "$before" -lt "$((N - 1))" ] || why="$why; all sets were stored before the kill"
# what was stored before the kill must not change
cert_marks >"$T/before.txt"

run_batch "$T/run2.out" --stats
wait "$BATCH_PID"
rc=$?
BATCH_PID=
[ "$rc" = 0 ] || why="$why; rerun exited $rc: $(grep -v '^batch' "$T/run2.out" | tail -2 | tr '\n' ' ')"
missing=0 bad=0
for a in $(grep -v '^#' "$LIST" | sed 's/#.*//' | tr ' \t' '\n\n' | grep '@'); do
	case $a in multi2@*) continue ;; esac # in the set of multi1
	d=$CFG/certs/$a
	if [ ! -f "$d/cert.pem" ] || [ ! -f "$d/$a.p12" ]; then
		missing=$((missing + 1))
		continue
	fi
	openssl verify -CAfile "$CA_ROOT" -untrusted "$d/chain.pem" "$d/cert.pem" \
		>/dev/null 2>&1 || bad=$((bad + 1))
done
[ "$missing" = 0 ] || why="$why; $missing address(es) without cert.pem + .p12"
[ "$bad" = 0 ] || why="$why; $bad certificate(s) do not verify against CA_ROOT"
openssl x509 -in "$CFG/certs/multi1@example.test/cert.pem" -noout -text 2>/dev/null |
	grep -q 'email:multi2@example.test' || why="$why; multi1's certificate lacks multi2"
if orders_per_address "$LIST" >"$T/orders.txt"; then
	dup=$(awk '$2 != 1' "$T/orders.txt")
	[ -z "$dup" ] || why="$why; not exactly one order: $(echo "$dup" | head -3 | tr '\n' ' ')"
else
	why="$why; cannot read /_test/state"
fi
cert_marks >"$T/after.txt"
# a line of before.txt (name, mtime, serial) missing afterwards = re-issued
changed=$(comm -23 "$T/before.txt" "$T/after.txt")
[ -z "$changed" ] || why="$why; re-certified after the rerun: $(echo "$changed" | cut -d' ' -f1 | head -3 | tr '\n' ' ')"
nres=$(grep -vc '^#' "$RES" 2>/dev/null)
[ "$nres" = "$N" ] || why="$why; results file has $nres rows, want $N"
grep -v '^#' "$RES" | awk -F'\t' '$2 != "issued" && $2 != "done"' | grep -q . &&
	why="$why; results not all issued/done"
ndone=$(grep -v '^#' "$RES" | awk -F'\t' '$2 == "done"' | wc -l)
[ "$ndone" -ge "$before" ] || why="$why; results mark $ndone done, $before were stored before"
if [ -z "$why" ]; then
	pass batch-resume
	grep '^batch-stats' "$T/run2.out" | sed 's/^/    /'
else
	fail batch-resume "${why#; }"
	sed 's/^/    run1| /' "$T/run1.out" | tail -8
	sed 's/^/    run2| /' "$T/run2.out" | tail -12
fi

# --------------------------------------------------------- batch-ratelimit
why=""
RL=$T/rl.txt
for i in $(seq 1 10); do printf 'rl%02d@example.test key=ec\n' "$i"; done >"$RL"
# a storm: the next 40 newOrder requests are refused with 429 +
# Retry-After: 1; the batch must slow down, not fail
ca_cfg '{"ratelimit_count": 40}'
"$SA" "${COMMON[@]}" -c "$T/cfg-rl" batch "$RL" --concurrency 8 --stats \
	--results "$T/rl-results.json" --json >"$T/rl.out" 2>&1 &
BATCH_PID=$!
wait "$BATCH_PID"
rc=$?
BATCH_PID=
[ "$rc" = 0 ] || why="$why; batch exited $rc under rate limiting"
n=$(certs_stored "$T/cfg-rl")
[ "$n" = 10 ] || why="$why; $n of 10 certified"
ev=$(sed -n 's/.*ratelimit_events=\([0-9]*\).*/\1/p' "$T/rl.out")
[ "${ev:-0}" -gt 0 ] || why="$why; no rate limiting seen (ratelimit_events=${ev:-?})"
"$E2E_PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r)==10 and all(x["status"]=="issued" and x["pkcs12"] for x in r)' \
	"$T/rl-results.json" 2>/dev/null || why="$why; JSON results wrong"
if orders_per_address "$RL" >"$T/rl-orders.txt"; then
	dup=$(awk '$2 != 1' "$T/rl-orders.txt")
	[ -z "$dup" ] || why="$why; not exactly one order: $(echo "$dup" | head -3 | tr '\n' ' ')"
fi
if [ -z "$why" ]; then
	pass batch-ratelimit
	grep '^batch-stats' "$T/rl.out" | sed 's/^/    /'
else
	fail batch-ratelimit "${why#; }"
	sed 's/^/    | /' "$T/rl.out" | tail -12
fi

# ------------------------------------------------------------ batch-slow-ca
# The CA keeps the order processing past --spool-timeout: the line fails
# as a slow CA (kind "processing", to be resumed), not as the milter's
# failure (the defect: "unavailable", "the milter could not answer it").
why=""
printf 'slowb@example.test key=ec\n' >"$T/slow.txt"
ca_cfg '{"processing_time": 3600}'
"$SA" "${COMMON[@]}" -c "$T/cfg-slow" batch "$T/slow.txt" --spool-timeout 4 \
	--results "$T/slow-results.txt" >"$T/slow.out" 2>&1
rc=$?
ca_cfg '{"processing_time": 0.3}'
[ "$rc" = 75 ] || why="$why; exit $rc, want 75"
row=$(grep '^slowb@example.test' "$T/slow-results.txt" 2>/dev/null)
[ "$(printf '%s' "$row" | cut -f5)" = processing ] ||
	why="$why; error '$(printf '%s' "$row" | cut -f5)', want processing"
printf '%s' "$row" | cut -f6 | grep -qi milter &&
	why="$why; the reason blames the milter: $(printf '%s' "$row" | cut -f6)"
[ -n "$(ls -A "$T/cfg-slow/orders" 2>/dev/null)" ] ||
	why="$why; the order state was deleted"
if [ -z "$why" ]; then
	pass batch-slow-ca
else
	fail batch-slow-ca "${why#; }"
	sed 's/^/    | /' "$T/slow.out" | tail -6
fi

# ------------------------------------------------------------ batch-syntax
why=""
printf 'ok1@example.test\n\nok2@example.test key=dsa\n' >"$T/bad.txt"
"$SA" "${COMMON[@]}" -c "$T/cfg-bad" batch "$T/bad.txt" >"$T/bad.out" 2>&1
rc=$?
[ "$rc" = 65 ] || why="$why; exit $rc, want 65 (EX_DATAERR)"
grep -q 'bad.txt:3:' "$T/bad.out" || why="$why; no line number in: $(tail -1 "$T/bad.out")"
[ ! -d "$T/cfg-bad/accounts" ] || why="$why; an account was created for a bad file"
if [ -z "$why" ]; then pass batch-syntax; else fail batch-syntax "${why#; }"; fi

e2e_finish
