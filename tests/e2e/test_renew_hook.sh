#!/usr/bin/env bash
# test_renew_hook.sh: the delivery hook (--delivery-hook, DeliveryHook) and
# renew as a timer runs it, end to end against the RFC 8823 test CA with
# smime-acme-milter answering through the spool:
#  - cert runs the hook once with the address and the set's paths in
#    SMIME_ACME_* variables, an environment of its own (nothing inherited,
#    never the passphrase);
#  - a hook from smime-acme.conf that exits 3: the certificate stays
#    stored, the exit status is reported on stderr, the run exits 0;
#  - renew with one set due (revoked by the CA: RFC 9773 says now) and one
#    not: only the due one is renewed, one line for it, the hook runs once
#    with SMIME_ACME_EVENT=renewed, and --no-verify-ssl warns;
#  - renew with nothing due prints nothing at all and exits 0, also
#    without -q, with --no-verify-ssl (no warning: nothing is ordered)
#    and without a passphrase decision; with no set at all it
#    does not even create an account.
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root renew-hook

e2e_built renew-hook

MPORT=$(free_port)
if ! world_up --milter "inet:127.0.0.1:$MPORT"; then
	fail renew-hook-world-up "world.sh up failed"
	e2e_finish
fi
MILTER_PID=
trap 'milter_stop; world_down' EXIT

T=$WORLD_DIR/rh
mkdir -p "$T"
chmod 755 "$WORLD_DIR" "$T"
SPOOL=$T/spool
spool_setup "$SPOOL"
CONF=$T/smime-acme.conf
conf_write "$CONF" "$MPORT" "$SPOOL" "IncompleteWait 5" "SpoolPostAfter 60" \
	"SpoolTimeout 120"
# the same, with a delivery hook that fails
CONF_FAIL=$T/hookfail.conf
cp "$CONF" "$CONF_FAIL"
echo "DeliveryHook exit 3" >>"$CONF_FAIL"

if ! milter_start "$CONF" "$MPORT" "$T/milter.log"; then
	sed 's/^/    milter: /' "$T/milter.log"
	fail renew-hook-milter "the milter did not start"
	e2e_finish
fi

COMMON=(-n --agree-tos --conf "$CONF" --finalize-delay 0)
why=""
serial() { openssl x509 -in "$(certdir "$1" "$2")/cert.pem" -noout -serial; }
# envval FILE NAME: the value of NAME=... in an env(1) dump
envval() { sed -n "s/^$2=//p" "$1" | head -1; }

# The hook: append its whole environment and a separator to $T/hookenv.
# The file name is part of the administrator's command, not ours.
HOOK="env >>$T/hookenv; echo --- >>$T/hookenv"
PP='p12-pass-do-not-leak'
export SMIME_TEST_PP=$PP
export SMIME_TEST_INHERITED=inherited-marker

# ------------------------------------------------ (a) cert runs the hook
C1=$T/c1
rm -f "$T/hookenv"
sa cert "${COMMON[@]}" -c "$C1" -e hank@example.test \
	--passphrase-env SMIME_TEST_PP --delivery-hook "$HOOK"
[ "$rc" = 0 ] || why="rc $rc"
E=$T/hookenv
if [ ! -s "$E" ]; then
	why="$why; the hook did not run"
else
	[ "$(grep -c '^---$' "$E")" = 1 ] || why="$why; hook ran $(grep -c '^---$' "$E") times"
	[ "$(envval "$E" SMIME_ACME_ADDRESS)" = hank@example.test ] ||
		why="$why; SMIME_ACME_ADDRESS '$(envval "$E" SMIME_ACME_ADDRESS)'"
	[ "$(envval "$E" SMIME_ACME_ADDRESSES)" = hank@example.test ] ||
		why="$why; SMIME_ACME_ADDRESSES"
	[ "$(envval "$E" SMIME_ACME_EVENT)" = issued ] ||
		why="$why; SMIME_ACME_EVENT '$(envval "$E" SMIME_ACME_EVENT)'"
	[ "$(envval "$E" SMIME_ACME_DIR)" = "$(certdir "$C1" hank@example.test)" ] ||
		why="$why; SMIME_ACME_DIR '$(envval "$E" SMIME_ACME_DIR)'"
	for v in CERT CHAIN FULLCHAIN KEY P12; do
		p=$(envval "$E" "SMIME_ACME_$v")
		[ -n "$p" ] && [ -s "$p" ] || why="$why; SMIME_ACME_$v '$p' missing"
	done
	[ "$(basename "$(envval "$E" SMIME_ACME_P12)")" = hank@example.test.p12 ] ||
		why="$why; SMIME_ACME_P12 name"
	[ -n "$(envval "$E" PATH)" ] || why="$why; no PATH"
	grep -q -- "$PP" "$E" && why="$why; the passphrase reached the hook"
	grep -q 'SMIME_TEST_INHERITED\|inherited-marker' "$E" &&
		why="$why; the caller's environment leaked into the hook"
fi
has_pw=$(openssl pkcs12 -in "$(certdir "$C1" hank@example.test)/hank@example.test.p12" \
	-passin env:SMIME_TEST_PP -nokeys 2>/dev/null | grep -c 'BEGIN CERTIFICATE')
[ "$has_pw" -ge 1 ] || why="$why; the PKCS#12 does not open with its passphrase"
verdict renew-hook-cert-env

# ------------------------------------------------ (b) a failing hook
C2=$T/c2
sa cert -n --agree-tos --conf "$CONF_FAIL" --finalize-delay 0 -c "$C2" \
	-e failhook@example.test --no-passphrase
[ "$rc" = 0 ] || why="rc $rc, want 0 (documented: the certificate is stored)"
[ -s "$(certdir "$C2" failhook@example.test)/cert.pem" ] || why="$why; no certificate stored"
[ -s "$(certdir "$C2" failhook@example.test)/failhook@example.test.p12" ] || why="$why; no PKCS#12"
grep -q 'delivery hook: failhook@example.test: exit status 3' "$T/out" ||
	why="$why; the failure is not reported"
verdict renew-hook-failing-hook
# --no-delivery-hook overrides the file; -q still shows the failure
sa cert -n --agree-tos --conf "$CONF_FAIL" --finalize-delay 0 -c "$C2" \
	-e nohook@example.test --no-passphrase --no-delivery-hook
[ "$rc" = 0 ] || why="--no-delivery-hook: rc $rc"
grep -q 'delivery hook' "$T/out" && why="$why; --no-delivery-hook ran the hook"
sa cert -n --agree-tos --conf "$CONF_FAIL" --finalize-delay 0 -c "$C2" \
	-e quiethook@example.test --no-passphrase -q
[ "$rc" = 0 ] || why="$why; -q: rc $rc"
grep -q 'delivery hook: quiethook@example.test: exit status 3' "$T/out" ||
	why="$why; -q hides the hook failure"
verdict renew-hook-override-quiet

# ------------------------------------------------ (c) renew: one due, one not
sa cert "${COMMON[@]}" -c "$C1" -e ivy@example.test --no-passphrase
[ "$rc" = 0 ] || why="ivy: rc $rc"
h_old=$(serial "$C1" hank@example.test)
i_old=$(serial "$C1" ivy@example.test)
# A revocation the CA made on its own makes a set due (RFC 9773).  A revoke
# run with -c C1 would record it with hank's set, and renew never renews a
# set revoked by us (test_lifecycle.sh); so revoke from another config dir,
# signed with hank's own key: nothing there holds the set, nothing is
# recorded in C1, and for C1 the revocation is the CA's.
sa revoke -n --conf "$CONF" -c "$T/elsewhere" --reason superseded \
	--cert-path "$(certdir "$C1" hank@example.test)/cert.pem" \
	--key-path "$(certdir "$C1" hank@example.test)/privkey.pem"
grep -q '^revoked:' "$(certdir "$C1" hank@example.test)/lineage.info" &&
	why="$why; the revocation was recorded in C1"
[ "$rc" = 0 ] || why="$why; revoke hank: rc $rc"
rm -f "$T/hookenv"
sa renew "${COMMON[@]}" -c "$C1" --passphrase-env SMIME_TEST_PP \
	--delivery-hook "$HOOK" --no-verify-ssl
[ "$rc" = 0 ] || why="$why; renew rc $rc"
grep -q -- '--no-verify-ssl' "$T/out" || why="$why; no --no-verify-ssl warning"
[ "$(serial "$C1" hank@example.test)" != "$h_old" ] || why="$why; hank (due) not renewed"
[ "$(serial "$C1" ivy@example.test)" = "$i_old" ] || why="$why; ivy (not due) renewed"
if [ ! -s "$E" ]; then
	why="$why; the hook did not run"
else
	[ "$(grep -c '^---$' "$E")" = 1 ] || why="$why; hook ran $(grep -c '^---$' "$E") times"
	[ "$(envval "$E" SMIME_ACME_EVENT)" = renewed ] ||
		why="$why; SMIME_ACME_EVENT '$(envval "$E" SMIME_ACME_EVENT)'"
	[ "$(envval "$E" SMIME_ACME_ADDRESS)" = hank@example.test ] ||
		why="$why; hook for '$(envval "$E" SMIME_ACME_ADDRESS)'"
	grep -q -- "$PP" "$E" && why="$why; the passphrase reached the hook"
fi
[ "$(grep -c ': renewed' "$T/out")" = 1 ] || why="$why; not one 'renewed' line"
grep -q 'hank@example.test: renewed' "$T/out" || why="$why; no line for hank"
grep -q 'ivy@example.test: renewed' "$T/out" && why="$why; a line says ivy was renewed"
grep -q 'ordering\|downloading\|validated' "$T/out" && why="$why; issuance progress shown without -v"
cp "$T/out" "$T/out.renew" 2>/dev/null
cp "$E" "$T/hookenv.renew" 2>/dev/null
verdict renew-hook-renew-one-due

# ------------------------------------------------ (d) nothing due: silence
rm -f "$T/hookenv"
sa renew "${COMMON[@]}" -c "$C1" --delivery-hook "$HOOK"
[ "$rc" = 0 ] || why="rc $rc"
[ -s "$T/out" ] && why="$why; printed: $(head -3 "$T/out" | tr '\n' '|')"
[ -e "$T/hookenv" ] && why="$why; the hook ran"
[ "$(serial "$C1" ivy@example.test)" = "$i_old" ] || why="$why; ivy renewed"
verdict renew-hook-nothing-due-silent
# the defect: --no-verify-ssl warned every night with nothing due
sa renew "${COMMON[@]}" -c "$C1" --no-verify-ssl
[ "$rc" = 0 ] || why="rc $rc"
[ -s "$T/out" ] && why="$why; printed: $(head -3 "$T/out" | tr '\n' '|')"
verdict renew-hook-nothing-due-insecure-silent
sa renew -n --conf "$CONF" -c "$T/empty"
[ "$rc" = 0 ] || why="empty config dir: rc $rc"
[ -s "$T/out" ] && why="$why; printed: $(head -3 "$T/out" | tr '\n' '|')"
[ -e "$T/empty/accounts" ] && why="$why; an account was created"
verdict renew-hook-no-sets-silent

e2e_finish
