#!/usr/bin/env bash
# test_requester.sh: smime-acme (the requester) end to end in the mail world
# against the RFC 8823 test CA, with smime-acme-milter in front of the MX:
#  - cert through the milter (spool responder): octet and string token
#    rules, RSA and EC keys, several addresses in one certificate, --usage
#    combinations checked in the issued certificate, the PKCS#12 opens with
#    its passphrase and carries the chain, a wrong token rule fails with the
#    CA's problem shown;
#  - the file responder (--file-validate), the interactive responder driven
#    through a pseudo-terminal, IMAP + SMTP against Dovecot (plain and TLS;
#    --json output that parses; SMTP down: 75, the rerun resumes);
#  - a CA slow to issue: 75 and resumed; a Retry-After longer than the
#    time left is cut to the deadline and polled again;
#  - --dry-run writes nothing; a run killed with SIGKILL mid-order is
#    resumed without a second order, also when it was killed before the
#    order's URL was stored (found in the account's orders list); a rerun
#    whose entry was removed writes it with the order's creation time
#    (freshness); badNonce, 429 + Retry-After and a 500
#    on finalize are survived;
#  - renew renews a certificate inside its window (revoked: RFC 9773 says
#    now) and not one outside; revoke by account key and by the key inside
#    a PKCS#12; account show and key rollover; the spool listing (no
#    token-part2); the Thunderbird responder with a stand-in program;
#    exit codes for unreachable servers, wrong directory URLs, bad
#    options, missing files, wrong passphrases; root runs without a flag.
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root requester

e2e_built requester

MPORT=$(free_port)
if ! world_up --milter "inet:127.0.0.1:$MPORT"; then
	fail requester-world-up "world.sh up failed"
	e2e_finish
fi
MILTER_PID=
trap 'milter_stop; world_down' EXIT

T=$WORLD_DIR/rq
mkdir -p "$T"
chmod 755 "$WORLD_DIR" "$T"
SPOOL=$T/spool
spool_setup "$SPOOL"
CONF=$T/smime-acme.conf
conf_write "$CONF" "$MPORT" "$SPOOL" "IncompleteWait 5" "SpoolPostAfter 60" \
	"SpoolTimeout 120"
# the same CA without a spool: for the interactive responder
CONF_NS=$T/nospool.conf
printf 'Server %s\nCABundle %s\n' "$CA_URL" "$CA_TRUST" >"$CONF_NS"

if ! milter_start "$CONF" "$MPORT" "$T/milter.log"; then
	fail requester-milter-start "$(tail -1 "$T/milter.log")"
	e2e_finish
fi

CA_BASE=https://127.0.0.1:$CA_HTTPS_PORT
COMMON=(-n --agree-tos --conf "$CONF" --finalize-delay 0)
why=""
x509text() { openssl x509 -in "$(certdir "$1" "$2")/cert.pem" -noout -text; }
has() { grep -q -- "$2" <<<"$1"; }
mode_of() { stat -L -c %a "$1"; }
spool_empty() { [ -z "$(ls -A "$SPOOL/entries")" ]; }

# file_helper WORK ADDR [SUBJECT_ONLY]: the automation side of
# --file-validate: wait for ADDR.request, fetch the challenge mail from the
# CA's test endpoint, hand it over, send the response through the
# submission port (OpenDKIM signs it), remove it.
file_helper() {
	local w=$1 a=$2 i
	for i in $(seq 600); do [ -f "$w/$a.request" ] && break; sleep 0.1; done
	for i in $(seq 300); do
		curl -sf --cacert "$CA_TRUST" "$CA_BASE/_test/challenge?email=$a" \
			-o "$w/$a.challenge.tmp" && break
		sleep 0.2
	done
	if [ -n "${3:-}" ]; then
		# written aside and renamed: the requester must never read it
		# half written
		grep -i '^Subject:' "$w/$a.challenge.tmp" >"$w/$a.subject.tmp"
		mv "$w/$a.subject.tmp" "$w/$a.challenge"
		rm -f "$w/$a.challenge.tmp"
	else
		mv "$w/$a.challenge.tmp" "$w/$a.challenge"
	fi
	for i in $(seq 300); do [ -f "$w/$a.response" ] && break; sleep 0.1; done
	send_mail "$SUBMIT_PORT" "$a" "$CA_FROM" "$w/$a.response" &&
		rm -f "$w/$a.response"
}

# ------------------------------------------------------------ exit codes
sa cert -e 'x@*.example.test'
why=""
[ "$rc" = 64 ] || why="wildcard: rc $rc"
has "$(cat "$T/out")" "wildcards are not allowed" || why="$why; no wildcard message"
sa cert -e a@example.test --frobnicate
[ "$rc" = 64 ] || why="$why; unknown option: rc $rc"
sa cert -e a@example.test --email
[ "$rc" = 64 ] || why="$why; missing value: rc $rc"
# root needs no extra flag (certbot and the seed run as root): the run
# gets as far as the terms of service
"$SA" cert -n --conf "$CONF" -c "$T/root" -e a@example.test --no-passphrase \
	--spool "$SPOOL" >"$T/out" 2>&1
rc=$?
[ "$rc" = 64 ] || why="$why; root without --allow-root: rc $rc"
has "$(cat "$T/out")" "agree-tos" || why="$why; root: no --agree-tos hint"
sa cert "${COMMON[@]}" -c "$T/unreach" --server https://127.0.0.1:1/dir \
	-e a@example.test --no-passphrase --spool "$SPOOL"
[ "$rc" = 75 ] || why="$why; unreachable server: rc $rc"
has "$(cat "$T/out")" "cannot reach" || why="$why; no 'cannot reach' message"
# the server answers, but not with a directory: not "try again later"
sa cert "${COMMON[@]}" -c "$T/notdir" --server "$CA_BASE/nonexistent" \
	-e a@example.test --no-passphrase --spool "$SPOOL"
[ "$rc" = 69 ] || why="$why; directory URL answered 404 + problem: rc $rc"
has "$(cat "$T/out")" "malformed" || why="$why; 404: no CA problem shown"
sa cert "${COMMON[@]}" -c "$T/notdir" --server "$CA_BASE/_test/state" \
	-e a@example.test --no-passphrase --spool "$SPOOL"
[ "$rc" = 76 ] || why="$why; directory URL answered a non-directory: rc $rc"
has "$(cat "$T/out")" "not an ACME directory" || why="$why; no 'not an ACME directory' message"
sa cert "${COMMON[@]}" -c "$T/nopp" -e a@example.test --spool "$SPOOL"
[ "$rc" = 64 ] || why="$why; no passphrase decision: rc $rc"
sa cert -n --conf "$CONF" -c "$T/tos" -e a@example.test --no-passphrase
[ "$rc" = 64 ] || why="$why; terms not agreed with -n: rc $rc"
has "$(cat "$T/out")" "agree-tos" || why="$why; no --agree-tos hint"
sa cert --outlook --conf "$CONF" -e a@example.test
[ "$rc" = 69 ] || why="$why; --outlook: rc $rc"
has "$(cat "$T/out")" "oauth2" || why="$why; --outlook does not point to OAuth2"
sa cert "${COMMON[@]}" -c "$T/nokey" -e a@example.test --no-passphrase \
	--key-path /nonexistent/key.pem
[ "$rc" = 66 ] || why="$why; unreadable --key-path: rc $rc"
verdict requester-exit-codes

# ------------------------------------------------------------ dry run
n0=$(ca_orders)
sa cert "${COMMON[@]}" -c "$T/dry" -e dry@example.test --dry-run
[ "$rc" = 0 ] || why="rc $rc"
[ ! -e "$T/dry" ] || why="$why; $T/dry was created: $(find "$T/dry" | head -3 | tr '\n' ' ')"
spool_empty || why="$why; spool entries left"
[ "$(ca_orders)" -gt "$n0" ] || why="$why; no order reached the CA"
verdict requester-dry-run

# -------------------------------------------------- spool, octet, RSA
C1=$T/c1
sa cert "${COMMON[@]}" -c "$C1" -e alice@example.test --no-passphrase --json
[ "$rc" = 0 ] || why="rc $rc"
d=$(certdir "$C1" alice@example.test)
for f in cert.pem chain.pem fullchain.pem privkey.pem alice@example.test.p12; do
	[ -s "$d/$f" ] || why="$why; no $f"
done
[ "$(mode_of "$d/privkey.pem")" = 600 ] || why="$why; privkey mode $(mode_of "$d/privkey.pem")"
[ "$(mode_of "$d/alice@example.test.p12")" = 600 ] || why="$why; p12 mode"
acct=$(find "$C1/accounts" -name account.key)
[ -n "$acct" ] && [ "$(mode_of "$acct")" = 600 ] || why="$why; account.key missing or not 0600"
txt=$(x509text "$C1" alice@example.test 2>&1)
has "$txt" "email:alice@example.test" || why="$why; SAN"
has "$txt" "rsaEncryption" || why="$why; not RSA"
has "$txt" "Public-Key: (2048 bit)" || why="$why; not 2048 bits"
grep -q '"status":"issued"' "$T/out" || why="$why; no --json result"
openssl verify -purpose smimesign -CAfile "$CA_ROOT" -untrusted "$d/chain.pem" \
	"$d/cert.pem" >/dev/null 2>&1 || why="$why; openssl verify failed"
spool_empty || why="$why; spool entry left"
verdict requester-spool-octet-rsa

# -------------------------------------------------- spool, string, EC
ca_cfg '{"token_rule":"string"}'
sa cert "${COMMON[@]}" -c "$T/c2" -e carol@example.test --no-passphrase \
	--token-rule string --key-type ec
[ "$rc" = 0 ] || why="rc $rc"
txt=$(x509text "$T/c2" carol@example.test 2>&1)
has "$txt" "id-ecPublicKey" || why="$why; not EC"
has "$txt" "prime256v1\|P-256" || why="$why; not P-256"
verdict requester-spool-string-ec

# a reply under the wrong rule: the CA's problem, exit 69
sa cert "${COMMON[@]}" -c "$T/c3" -e wrong@example.test --no-passphrase \
	--token-rule octet
[ "$rc" = 69 ] || why="rc $rc"
has "$(cat "$T/out")" "incorrectResponse\|invalid" || why="$why; CA problem not shown"
spool_empty || why="$why; spool entry left"
verdict requester-wrong-rule-problem
ca_cfg '{"token_rule":"octet"}'

# -------------------------------------------------- several addresses, usage
sa cert "${COMMON[@]}" -c "$T/c4" -e dave@example.test -e d.vader@example.test \
	--no-passphrase --usage digitalSignature --usage keyEncipherment
[ "$rc" = 0 ] || why="rc $rc"
txt=$(x509text "$T/c4" dave@example.test 2>&1)
has "$txt" "email:dave@example.test" || why="$why; SAN dave"
has "$txt" "email:d.vader@example.test" || why="$why; SAN d.vader"
ku=$(grep -A1 'Key Usage: critical' <<<"$txt" | tail -1 | sed 's/^ *//')
[ "$ku" = "Digital Signature, Key Encipherment" ] || why="$why; keyUsage '$ku'"
verdict requester-multi-address-usage

sa cert "${COMMON[@]}" -c "$T/c5" -e sig@example.test --no-passphrase \
	--usage digitalSignature --usage contentCommitment --key-type ec
[ "$rc" = 0 ] || why="rc $rc"
ku=$(x509text "$T/c5" sig@example.test | grep -A1 'Key Usage: critical' | tail -1 | sed 's/^ *//')
[ "$ku" = "Digital Signature, Non Repudiation" ] || why="$why; keyUsage '$ku'"
sa cert "${COMMON[@]}" -c "$T/c6" -e enc@example.test --no-passphrase \
	--usage keyAgreement --key-type ec
[ "$rc" = 0 ] || why="$why; keyAgreement rc $rc"
ku=$(x509text "$T/c6" enc@example.test | grep -A1 'Key Usage: critical' | tail -1 | sed 's/^ *//')
[ "$ku" = "Key Agreement" ] || why="$why; keyUsage '$ku'"
verdict requester-usage-combinations

# -------------------------------------------------- PKCS#12 with passphrase
printf 'correct horse\n' >"$T/pp"
sa cert "${COMMON[@]}" -c "$T/c7" -e erin@example.test --passphrase-file "$T/pp"
[ "$rc" = 0 ] || why="rc $rc"
p12=$(certdir "$T/c7" erin@example.test)/erin@example.test.p12
n=$(openssl pkcs12 -in "$p12" -passin file:"$T/pp" -nokeys 2>/dev/null | grep -c 'BEGIN CERTIFICATE')
[ "$n" -ge 2 ] || why="$why; $n certificates in the PKCS#12 (want the chain)"
openssl pkcs12 -in "$p12" -passin file:"$T/pp" -nocerts -nodes 2>/dev/null |
	grep -q 'BEGIN PRIVATE KEY' || why="$why; no key in the PKCS#12"
openssl pkcs12 -in "$p12" -passin pass:wrong -nokeys >/dev/null 2>&1 &&
	why="$why; opens with a wrong passphrase"
verdict requester-pkcs12

# -------------------------------------------------- CA faults
# badnonce_rate 1: every signed request is refused once, the retry
# with the error's nonce passes
nb=$(ca_count badnonce_injected)
ca_cfg '{"badnonce_rate":1,"ratelimit_once":true,"finalize_500_once":true}'
sa cert "${COMMON[@]}" -c "$T/c8" -e faults@example.test --no-passphrase
[ "$rc" = 0 ] || why="rc $rc"
[ -s "$(certdir "$T/c8" faults@example.test)/cert.pem" ] || why="$why; no certificate"
[ "$(ca_count badnonce_injected)" -gt "$nb" ] || why="$why; no badNonce injected"
verdict requester-ca-faults
ca_cfg '{"badnonce_rate":0,"ratelimit_once":false,"finalize_500_once":false}'

# -------------------------------------------------- CA mails only on POST
ca_cfg '{"send_on":"post"}'
sa cert "${COMMON[@]}" -c "$T/c9" -e late@example.test --no-passphrase \
	--spool-post-after 2
[ "$rc" = 0 ] || why="rc $rc"
has "$(cat "$T/out")" "asking the CA to proceed" || why="$why; did not POST early"
verdict requester-spool-send-on-post
ca_cfg '{"send_on":"authz"}'

# -------------------------------------------------- slow CA
# The order stays processing past --spool-timeout: a slow server, 75,
# the order kept; once the CA issues, the rerun resumes it (the
# defect: 69 and the order state deleted, so the rerun ordered again).
ca_cfg '{"processing_time":3600}'
sa cert "${COMMON[@]}" -c "$T/c10" -e slow@example.test --no-passphrase \
	--spool-timeout 20
n1=$(ca_orders)
[ "$rc" = 75 ] || why="rc $rc"
[ -n "$(ls -A "$T/c10/orders" 2>/dev/null)" ] ||
	why="$why; the order state was deleted"
has "$(cat "$T/out")" "still processing" || why="$why; no 'still processing'"
# the 20 s wait for the CA is never a silent pause (issue 11)
has "$(cat "$T/out")" "still waiting for the CA (1" ||
	why="$why; no progress line while waiting for the CA"
ca_cfg '{"processing_time":0.3}'
sa cert "${COMMON[@]}" -c "$T/c10" -e slow@example.test --no-passphrase \
	--spool-timeout 20
[ "$rc" = 0 ] || why="$why; rerun: rc $rc"
[ "$(ca_orders)" = "$n1" ] || why="$why; the rerun ordered again"
[ -s "$(certdir "$T/c10" slow@example.test)/cert.pem" ] || why="$why; no certificate"
verdict requester-slow-ca-resumes
# Retry-After 60 with 20 s left: poll once more at the deadline, by
# which time the order is valid (the defect: gave up at the first poll)
ca_cfg '{"order_retry_after":60,"processing_time":5}'
sa cert "${COMMON[@]}" -c "$T/c11" -e patient@example.test \
	--no-passphrase --spool-timeout 20
[ "$rc" = 0 ] || why="rc $rc"
[ -s "$(certdir "$T/c11" patient@example.test)/cert.pem" ] || why="$why; no certificate"
ca_cfg '{"order_retry_after":1,"processing_time":0.3}'
verdict requester-long-retry-after

# -------------------------------------------------- renew and revoke
sa cert "${COMMON[@]}" -c "$C1" -e ivan@example.test --no-passphrase
[ "$rc" = 0 ] || why="ivan: rc $rc"
a_old=$(openssl x509 -in "$(certdir "$C1" alice@example.test)/cert.pem" -noout -serial)
i_old=$(openssl x509 -in "$(certdir "$C1" ivan@example.test)/cert.pem" -noout -serial)
a_key=$(openssl pkey -in "$(certdir "$C1" alice@example.test)/privkey.pem" -pubout | sha256sum)
sa revoke -n --conf "$CONF" -c "$C1" --reason superseded \
	--cert-path "$(certdir "$C1" alice@example.test)/cert.pem"
[ "$rc" = 0 ] || why="$why; revoke by account key: rc $rc"
verdict requester-revoke-account-key
sa revoke -n --conf "$CONF" -c "$C1" \
	--cert-path "$(certdir "$C1" alice@example.test)/cert.pem"
[ "$rc" = 69 ] || why="again: rc $rc"
has "$(cat "$T/out")" "alreadyRevoked" || why="$why; problem type not shown"
verdict requester-revoke-twice-problem
# revoke recorded the revocation with alice's set, and renew never
# renews a set revoked by us (test_lifecycle.sh).  The renewal window
# below needs a revocation by the CA alone (RFC 9773: renew now), so
# drop the record.
grep -q '^revoked: [0-9]* superseded$' "$(certdir "$C1" alice@example.test)/lineage.info" ||
	why="the revocation was not recorded"
sed -i '/^revoked:/d' "$(certdir "$C1" alice@example.test)/lineage.info"
verdict requester-revoke-recorded

sa renew "${COMMON[@]}" -c "$C1" --no-passphrase
[ "$rc" = 0 ] || why="rc $rc"
a_new=$(openssl x509 -in "$(certdir "$C1" alice@example.test)/cert.pem" -noout -serial)
i_new=$(openssl x509 -in "$(certdir "$C1" ivan@example.test)/cert.pem" -noout -serial)
a_key2=$(openssl pkey -in "$(certdir "$C1" alice@example.test)/privkey.pem" -pubout | sha256sum)
[ "$a_old" != "$a_new" ] || why="$why; alice (window open) not renewed"
[ "$i_old" = "$i_new" ] || why="$why; ivan (outside the window) renewed"
[ "$a_key" = "$a_key2" ] || why="$why; key not kept"
has "$(cat "$T/out")" "ivan@example.test: not due" || why="$why; no 'not due' for ivan"
verdict requester-renew-window
sa renew "${COMMON[@]}" -c "$C1" --no-passphrase --renew-within 365 -e ivan@example.test
i_new=$(openssl x509 -in "$(certdir "$C1" ivan@example.test)/cert.pem" -noout -serial)
[ "$rc" = 0 ] && [ "$i_old" != "$i_new" ] || why="rc $rc; ivan not renewed within 365 days"
verdict requester-renew-days

# revoke by the certificate key inside the PKCS#12, no account at hand
sa revoke -n --conf "$CONF" -c "$T/noacct" --cert-path "$p12" --passphrase pass-wrong
[ "$rc" = 65 ] || why="wrong passphrase: rc $rc"
sa revoke -n --conf "$CONF" -c "$T/noacct" --cert-path "$p12" \
	--passphrase-file "$T/pp" --reason keycompromise
[ "$rc" = 0 ] || why="$why; revoke with the PKCS#12 key: rc $rc"
has "$(cat "$T/out")" "certificate key" || why="$why; not signed with the certificate key"
verdict requester-revoke-p12-key

# ------------------------------------------------------------ account and spool commands
sa account -n --conf "$CONF" -c "$C1" --json
[ "$rc" = 0 ] || why="show: rc $rc"
grep -q '"status":"valid"' "$T/out" || why="$why; not valid"
old=$(sha256sum "$C1"/accounts/*/account.key)
sa account -n --conf "$CONF" -c "$C1" --rollover
[ "$rc" = 0 ] || why="$why; rollover: rc $rc"
[ "$old" != "$(sha256sum "$C1"/accounts/*/account.key)" ] || why="$why; key file unchanged"
[ "$(mode_of "$(ls "$C1"/accounts/*/account.key)")" = 600 ] || why="$why; new key not 0600"
sa account -n --conf "$CONF" -c "$C1"
[ "$rc" = 0 ] || why="$why; show with the new key: rc $rc"
grep -q '^status: *valid' "$T/out" || why="$why; not valid with the new key"
verdict requester-account-rollover

# the spool listing while a cert waits (CA mails only on POST)
ca_cfg '{"send_on":"post"}'
"$SA" --allow-root cert "${COMMON[@]}" -c "$T/l1" -e lisa@example.test \
	--no-passphrase --spool-post-after 4 >"$T/out.bg" 2>&1 &
bg=$!
listed=""
for _ in $(seq 40); do
	"$SA" --allow-root spool --conf "$CONF" >"$T/list" 2>&1
	grep -q '^lisa@example.test *awaiting' "$T/list" && { listed=1; break; }
	sleep 0.1
done
tok=$(sed -n 's/^token2: //p' "$SPOOL"/entries/* 2>/dev/null | head -1)
wait $bg
bgrc=$?
[ -n "$listed" ] || why="entry not listed as awaiting: $(head -3 "$T/list")"
[ -n "$tok" ] && grep -qF "$tok" "$T/list" && why="$why; token2 shown"
[ "$bgrc" = 0 ] || why="$why; cert rc $bgrc"
verdict requester-spool-list
ca_cfg '{"send_on":"authz"}'

# ------------------------------------------------------------ file responder
W=$T/work
file_helper "$W" fred@example.test &
hp=$!
sa cert "${COMMON[@]}" -c "$T/f1" -w "$W" -e fred@example.test --no-passphrase \
	--file-validate --spool-timeout 60
wait $hp
[ "$rc" = 0 ] || why="rc $rc"
[ -s "$(certdir "$T/f1" fred@example.test)/cert.pem" ] || why="$why; no certificate"
[ -z "$(ls -A "$W")" ] || why="$why; work files left: $(ls "$W" | tr '\n' ' ')"
verdict requester-file-responder

file_helper "$W" fran@example.test subject-only &
hp=$!
sa cert "${COMMON[@]}" -c "$T/f2" -w "$W" -e fran@example.test --no-passphrase \
	--file-validate --spool-timeout 60
wait $hp
[ "$rc" = 0 ] || why="rc $rc"
verdict requester-file-responder-subject-only

# ------------------------------------------------------------ resume after SIGKILL
# kill_midway WORK ADDR DIR: a file-responder cert run for ADDR with store
# DIR, killed with SIGKILL once it has asked for the reply (the order
# exists); n1 = the CA's order count then.  The request file is removed.
kill_midway() {
	local w=$1 a=$2 d=$3 sp
	"$SA" --allow-root cert "${COMMON[@]}" -c "$d" -w "$w" -e "$a" \
		--no-passphrase --file-validate >"$T/out" 2>&1 &
	sp=$!
	for _ in $(seq 300); do [ -f "$w/$a.request" ] && break; sleep 0.1; done
	n1=$(ca_orders)
	kill -9 "$sp"
	wait "$sp" 2>/dev/null
	rm -f "$w/$a.request"
}
# rerun_after_kill WORK ADDR DIR: the same run again, answered by
# file_helper; rc and $T/out as sa leaves them, n2 = the CA's order count
rerun_after_kill() {
	local w=$1 a=$2 d=$3 hp
	file_helper "$w" "$a" &
	hp=$!
	sa cert "${COMMON[@]}" -c "$d" -w "$w" -e "$a" --no-passphrase \
		--file-validate --spool-timeout 60
	wait $hp
	n2=$(ca_orders)
}

W2=$T/work2
kill_midway "$W2" gina@example.test "$T/res"
rerun_after_kill "$W2" gina@example.test "$T/res"
[ "$rc" = 0 ] || why="rc $rc"
[ "$n1" = "$n2" ] || why="$why; orders $n1 before the rerun, $n2 after"
has "$(cat "$T/out")" "resuming the order" || why="$why; did not say it resumed"
[ -z "$(ls -A "$T/res/orders" 2>/dev/null)" ] || why="$why; order state left"
verdict requester-resume-after-kill

# ------------------------------------- order lost between newOrder and its URL
# A kill right after newOrder leaves the store's mark without a URL: the
# rerun finds the order through the account's orders list.
W3=$T/work3
kill_midway "$W3" ivy@example.test "$T/lost"
for oi in "$T"/lost/orders/*/order.info; do
	[ -f "$oi" ] && printf 'url: \ncreated: %s\n' "$(date +%s)" >"$oi"
done
rerun_after_kill "$W3" ivy@example.test "$T/lost"
[ "$rc" = 0 ] || why="rc $rc"
[ "$n1" = "$n2" ] || why="$why; orders $n1 before the rerun, $n2 after"
has "$(cat "$T/out")" "found the order started before at the CA" ||
	why="$why; did not find the lost order"
[ -z "$(ls -A "$T/lost/orders" 2>/dev/null)" ] || why="$why; order state left"
verdict requester-adopt-lost-order

# ------------------------------- rerun after the spool entry was removed
# The first run's challenge can still be on its way (the CA's MTA retries
# a 451) when a rerun resumes the order after its entry was removed: the
# new entry must carry the order's creation time, not the rerun's, or the
# milter's freshness rule refuses the real challenge as a replay.  A spool
# no milter reads keeps the challenge unanswered; the stored order is
# made two hours old, the entry removed, and the rerun's entry checked.
SPX=$T/spool-unread
spool_setup "$SPX"
"$SA" --allow-root cert "${COMMON[@]}" -c "$T/fresh" -e rerun@example.test \
	--no-passphrase --spool "$SPX" --spool-timeout 120 >"$T/out" 2>&1 &
sp=$!
for _ in $(seq 300); do
	grep -qs '^state: awaiting' "$SPX"/entries/* && break
	sleep 0.1
done
n1=$(ca_orders)
kill -9 "$sp"
wait "$sp" 2>/dev/null
old=$(($(date +%s) - 7200))
oi=$(ls "$T"/fresh/orders/*/order.info 2>/dev/null | head -1)
if [ -z "$oi" ]; then
	why="no order state after the first run"
else
	sed -i "s/^created: .*/created: $old/" "$oi"
fi
rm -f "$SPX"/entries/*
"$SA" --allow-root cert "${COMMON[@]}" -c "$T/fresh" -e rerun@example.test \
	--no-passphrase --spool "$SPX" --spool-timeout 4 --spool-post-after 60 \
	>"$T/out" 2>&1 &
sp=$!
created=
for _ in $(seq 300); do
	created=$(sed -n 's/^created: //p' "$SPX"/entries/* 2>/dev/null | head -1)
	[ -n "$created" ] && break
	sleep 0.1
done
wait "$sp"
rc=$?
n2=$(ca_orders)
[ "$created" = "$old" ] || why="$why; the rerun's entry says created: '$created', the order was created at $old"
[ "$n1" = "$n2" ] || why="$why; orders $n1 before the rerun, $n2 after"
has "$(cat "$T/out")" "resuming the order" || why="$why; did not say it resumed"
[ "$rc" = 75 ] || why="$why; rc $rc, want 75 (not answered in time)"
verdict requester-rerun-entry-keeps-order-time

# ------------------------------------------------------------ interactive (pty)
printf 'pty pass\n' >"$T/pp2"
SA="$SA" CONF="$CONF_NS" T="$T" CA_TRUST="$CA_TRUST" CA_BASE="$CA_BASE" \
	SUBMIT_PORT="$SUBMIT_PORT" CA_FROM="$CA_FROM" "$E2E_PY" - >"$T/pty.out" 2>&1 <<'EOF'
import email, email.utils, os, pty, re, select, smtplib, ssl, sys, time, urllib.request
env = os.environ
addr = "hank@example.test"
# --interactive: a spool at the default path (an installation on this
# machine) must not take the challenge away from the terminal
argv = [env["SA"], "--allow-root", "cert", "--interactive", "--agree-tos", "--conf", env["CONF"],
        "-c", env["T"] + "/i1", "--finalize-delay", "0", "-e", addr,
        "--passphrase-file", env["T"] + "/pp2"]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
buf = b""
def expect(pat, timeout=60):
    global buf
    end = time.time() + timeout
    while time.time() < end:
        m = re.search(pat, buf)
        if m:
            return m
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                buf += os.read(fd, 4096)
            except OSError:
                break
    sys.stdout.write(buf.decode(errors="replace"))
    raise SystemExit("timeout waiting for %r" % pat)
expect(rb"Subject: ")
ctx = ssl.create_default_context(cafile=env["CA_TRUST"])
raw = None
for _ in range(100):
    try:
        raw = urllib.request.urlopen(env["CA_BASE"] + "/_test/challenge?email=" + addr,
                                     context=ctx, timeout=10).read()
        break
    except Exception:
        time.sleep(0.2)
msg = email.message_from_bytes(raw)
subject = str(msg["Subject"]).replace("\r", "").replace("\n", "")
os.write(fd, b"not a challenge\r")
expect(rb"not a challenge Subject")
os.write(fd, subject.encode() + b"\r")
m = expect(rb"-----BEGIN ACME RESPONSE-----\r?\n([A-Za-z0-9_-]{43})\r?\n-----END ACME RESPONSE-----")
digest = m.group(1).decode()
expect(rb"Press Enter")
reply = ("From: %s\r\nTo: %s\r\nSubject: Re: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
         "In-Reply-To: %s\r\nReferences: %s\r\nMIME-Version: 1.0\r\n"
         "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
         "-----BEGIN ACME RESPONSE-----\r\n%s\r\n-----END ACME RESPONSE-----\r\n") % (
    addr, env["CA_FROM"], subject, email.utils.formatdate(),
    email.utils.make_msgid(domain="example.test"), msg["Message-ID"], msg["Message-ID"], digest)
with smtplib.SMTP("127.0.0.1", int(env["SUBMIT_PORT"]), timeout=30) as s:
    s.sendmail(addr, [env["CA_FROM"]], reply)
time.sleep(1)
os.write(fd, b"\r")
expect(rb"stored in", 60)
_, st = os.waitpid(pid, 0)
print("exit", os.waitstatus_to_exitcode(st))
EOF
if grep -q '^exit 0$' "$T/pty.out" && [ -s "$(certdir "$T/i1" hank@example.test)/cert.pem" ]; then
	pass requester-interactive-pty
else
	fail requester-interactive-pty "$(tail -1 "$T/pty.out")"
	sed 's/^/    | /' "$T/pty.out" | tail -15
fi

# ------------------------------------------------------------ Thunderbird
# A profile with a local Inbox mbox; a stand-in for the thunderbird
# program that "presses Send": it sends what -compose prefilled through the
# submission port and files it in the Sent mbox, as Thunderbird would.
tb_case() { # NAME ADDR ARGS...
	local name=$1 a=$2 prof=$T/tb-$1 i hp
	shift 2
	mkdir -p "$prof/Mail/Local Folders"
	cat >"$T/fake-tb-$name" <<EOF
#!/bin/sh
printf '%s\n' "\$@" >"$prof/compose.args"
exec $E2E_PY - "\$2" <<'PY'
import email.utils, re, smtplib, sys, time
f = dict(re.findall(r"(\w+)='([^']*)'", sys.argv[1]))
msg = ("From: $a\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: %s\r\n"
       "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n%s") % (
    f["to"], f["subject"], email.utils.formatdate(),
    email.utils.make_msgid(domain="example.test"), f["body"].replace("\n", "\r\n"))
with smtplib.SMTP("127.0.0.1", $SUBMIT_PORT, timeout=30) as s:
    s.sendmail("$a", [f["to"]], msg)
with open("$prof/Mail/Local Folders/Sent", "a") as m:
    m.write("From - %s\n%s\n" % (time.ctime(), msg.replace("\r\n", "\n")))
PY
EOF
	chmod 755 "$T/fake-tb-$name"
	(
		for i in $(seq 300); do
			curl -sf --cacert "$CA_TRUST" "$CA_BASE/_test/challenge?email=$a" \
				-o "$prof/chal.eml" && break
			sleep 0.2
		done
		{ printf 'From - %s\n' "$(date)"; cat "$prof/chal.eml"; printf '\n'; } \
			>>"$prof/Mail/Local Folders/Inbox"
	) &
	hp=$!
	sa cert "${COMMON[@]}" -c "$T/$name" -e "$a" --no-passphrase --tb \
		--tb-profile "$prof" --tb-bin "$T/fake-tb-$name" --spool-timeout 60 "$@"
	wait $hp
	[ "$rc" = 0 ] || why="rc $rc"
	[ -s "$(certdir "$T/$name" "$a")/cert.pem" ] || why="$why; no certificate"
	grep -q "^to='$CA_FROM',subject='Re: ACME: " "$prof/compose.args" 2>/dev/null ||
		why="$why; compose arguments: $(head -c 200 "$prof/compose.args" 2>/dev/null)"
	verdict "requester-$name"
}
tb_case tb kate@example.test --dkim-keys "$DKIM_KEYS"
tb_case tb-unsafe kim@example.test --tb-unsafe

# ------------------------------------------------------------ IMAP + SMTP
imap_case() { # NAME ADDR ARGS...
	local name=$1 a=$2
	shift 2
	printf '%s\n' "$MAIL_PASSWORD" >"$T/mailpw"
	# --json: stdout must be the one JSON result (the defect: libcurl
	# wrote the IMAP server's "* 1 FETCH ..." line there)
	rc=0
	"$SA" --allow-root cert "${COMMON[@]}" -c "$T/$name" -e "$a" \
		--no-passphrase --imap --login "$a" --password-file "$T/mailpw" \
		--host 127.0.0.1 --smtp-host 127.0.0.1 --dkim-keys "$DKIM_KEYS" \
		--spool-timeout 60 --json "$@" >"$T/$name.json" 2>"$T/out" || rc=$?
	[ "$rc" = 0 ] || why="rc $rc"
	[ -s "$(certdir "$T/$name" "$a")/cert.pem" ] || why="$why; no certificate"
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(r.get("status") != "issued")' "$T/$name.json" 2>/dev/null ||
		why="$why; --json output: $(head -c 200 "$T/$name.json" | tr '\n' '|')"
	verdict "requester-$name"
}
imap_case imap-plain ira@example.test --port "$IMAP_PORT" \
	--smtp-method plain --smtp-port "$SUBMIT_PORT"
imap_case imap-tls iris@example.test --port "$IMAPS_PORT" --ssl \
	--smtp-method plain --smtp-port "$SUBMIT_PORT" --mail-ca-bundle "$IMAP_TLS_CA"
# --no-verify-ssl covers IMAP (and SMTP) as in the seed: no
# --mail-ca-bundle, the server's certificate is not trusted
imap_case imap-tls-noverify iona@example.test --port "$IMAPS_PORT" --ssl \
	--smtp-method plain --smtp-port "$SUBMIT_PORT" --no-verify-ssl
# the reply cannot be sent (nothing listens on port 1): ours, not the
# CA's refusal: 75 with the order kept, and the rerun resumes it (the
# defect: 69 and the order state deleted, so the rerun ordered again)
a=isla@example.test
imap_run() { # SMTP-PORT
	sa cert "${COMMON[@]}" -c "$T/imap-smtp" -e "$a" --no-passphrase \
		--imap --login "$a" --password-file "$T/mailpw" \
		--host 127.0.0.1 --port "$IMAP_PORT" --smtp-host 127.0.0.1 \
		--smtp-method plain --smtp-port "$1" --dkim-keys "$DKIM_KEYS" \
		--spool-timeout 60
}
imap_run 1
n1=$(ca_orders)
[ "$rc" = 75 ] || why="SMTP down: rc $rc"
[ -n "$(ls -A "$T/imap-smtp/orders" 2>/dev/null)" ] ||
	why="$why; the order state was deleted"
imap_run "$SUBMIT_PORT"
[ "$rc" = 0 ] || why="$why; rerun: rc $rc"
[ "$(ca_orders)" = "$n1" ] || why="$why; the rerun ordered again"
[ -s "$(certdir "$T/imap-smtp" "$a")/cert.pem" ] || why="$why; no certificate"
verdict requester-imap-smtp-down-resumes

e2e_finish
