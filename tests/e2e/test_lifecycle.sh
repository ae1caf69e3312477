#!/usr/bin/env bash
# test_lifecycle.sh: what happens to a certificate set after it is issued,
# end to end against the RFC 8823 test CA with smime-acme-milter answering
# through the spool (issue 11, item 5):
#  - revoke records the revocation with the stored set (the certificate
#    given as a copy); renew, also with --force, then orders nothing, exits
#    0 and says with -v how to go on (cert or retire);
#  - a key revoked for keyCompromise (given as a PKCS#12) is listed in
#    CONFIG/compromised-keys: cert --key-path with it exits 65 without an
#    order, and renewing another set that holds it makes a new key;
#  - retire moves an address's link and sets under CONFIG/retired/ and
#    forgets its stored order; --dry-run only says so; renew --force -e
#    then orders nothing for it;
#  - after 4 issuances for one address, KeepCertificateSets (default 3)
#    sets are left, the published one intact, other addresses untouched.
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root lifecycle

e2e_built lifecycle

requester_world lifecycle lc || e2e_finish

C=$T/cfg
COMMON=(-n --agree-tos --conf "$CONF" -c "$C" --finalize-delay 0 --no-passphrase)
why=""
serial() { openssl x509 -in "$(certdir "$C" "$1")/cert.pem" -noout -serial; }
# pubkey FILE: the public key of a private key file
pubkey() { openssl pkey -in "$1" -pubout 2>/dev/null; }
certpub() { openssl x509 -in "$1" -noout -pubkey 2>/dev/null; }

# ------------------------------------------------ (a) renew after revoke
sa cert "${COMMON[@]}" -e rita@example.test
[ "$rc" = 0 ] || why="cert rita: rc $rc"
r_old=$(serial rita@example.test)
cp "$(certdir "$C" rita@example.test)/cert.pem" "$T/rita-copy.pem"
sa revoke -n --conf "$CONF" -c "$C" --reason superseded \
	--cert-path "$T/rita-copy.pem"
[ "$rc" = 0 ] || why="$why; revoke rita: rc $rc"
grep -Eq '^revoked: [0-9]+ superseded$' \
	"$(certdir "$C" rita@example.test)/lineage.info" ||
	why="$why; no revoked: line in rita's lineage.info"
orders=$(ca_orders)
sa renew "${COMMON[@]}"
[ "$rc" = 0 ] || why="$why; renew: rc $rc"
[ -s "$T/out" ] && why="$why; renew without -v printed: $(head -2 "$T/out" | tr '\n' '|')"
sa renew "${COMMON[@]}" --force -v
[ "$rc" = 0 ] || why="$why; renew --force: rc $rc"
grep -q "rita@example.test: revoked (superseded).*smime-acme cert -e rita@example.test.*smime-acme retire -e rita@example.test" "$T/out" ||
	why="$why; no line saying how to go on"
[ "$(ca_orders)" = "$orders" ] || why="$why; renew ordered ($orders -> $(ca_orders))"
[ "$(serial rita@example.test)" = "$r_old" ] || why="$why; rita renewed"
verdict lifecycle-renew-after-revoke

# ------------------------------------------------ (b) keyCompromise
K=$T/shared-key.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K" 2>/dev/null
sa cert "${COMMON[@]}" -e kc1@example.test --key-path "$K"
[ "$rc" = 0 ] || why="cert kc1: rc $rc"
sa cert "${COMMON[@]}" -e kc2@example.test --key-path "$K"
[ "$rc" = 0 ] || why="$why; cert kc2: rc $rc"
[ "$(certpub "$(certdir "$C" kc2@example.test)/cert.pem")" = "$(pubkey "$K")" ] ||
	why="$why; kc2 not issued for the shared key"
# revoked through the PKCS#12 (the key comes from it)
sa revoke -n --conf "$CONF" -c "$C" --reason keycompromise \
	--cert-path "$(certdir "$C" kc1@example.test)/kc1@example.test.p12"
[ "$rc" = 0 ] || why="$why; revoke kc1: rc $rc"
grep -q 'passphrase' "$T/out" && why="$why; the --no-passphrase PKCS#12 gave a passphrase error"
grep -Eq '^revoked: [0-9]+ keyCompromise$' \
	"$(certdir "$C" kc1@example.test)/lineage.info" ||
	why="$why; kc1's revocation not recorded"
[ "$(grep -cE '^[A-Za-z0-9_-]{43}$' "$C/compromised-keys" 2>/dev/null)" = 1 ] ||
	why="$why; compromised-keys does not hold one thumbprint"
verdict lifecycle-keycompromise-recorded

orders=$(ca_orders)
sa cert "${COMMON[@]}" -e kc3@example.test --key-path "$K"
[ "$rc" = 65 ] || why="cert --key-path with the compromised key: rc $rc, want 65"
grep -q 'revoked for keyCompromise' "$T/out" || why="$why; no clear message"
[ "$(ca_orders)" = "$orders" ] || why="$why; it ordered"
[ -e "$(certdir "$C" kc3@example.test)" ] && why="$why; a set was stored"
verdict lifecycle-keycompromise-key-path-refused

sa renew "${COMMON[@]}" --force -e kc2@example.test
[ "$rc" = 0 ] || why="renew kc2: rc $rc"
grep -q 'kc2@example.test: the key to reuse was revoked for keyCompromise' "$T/out" ||
	why="$why; no notice about the new key"
P=$(certdir "$C" kc2@example.test)
[ "$(pubkey "$P/privkey.pem")" != "$(pubkey "$K")" ] || why="$why; kc2 kept the compromised key"
[ "$(certpub "$P/cert.pem")" = "$(pubkey "$P/privkey.pem")" ] ||
	why="$why; kc2's new certificate is not for its new key"
verdict lifecycle-keycompromise-never-reused

# ------------------------------------------------ (c) retire
sa cert "${COMMON[@]}" -e tom@example.test
[ "$rc" = 0 ] || why="cert tom: rc $rc"
# a stored (resumable) order for tom, as an interrupted cert leaves it
oid=$(printf '%s\n%s' "$CA_URL" tom@example.test | sha256sum | cut -c1-64)
mkdir -p "$C/orders/$oid"
printf 'url: %s/order/none\ncreated: 1\n' "$CA_URL" >"$C/orders/$oid/order.info"
sa retire "${COMMON[@]}" --dry-run -e tom@example.test
[ "$rc" = 0 ] || why="$why; --dry-run: rc $rc"
grep -q 'would move' "$T/out" || why="$why; --dry-run does not say what it would do"
[ -L "$(certdir "$C" tom@example.test)" ] || why="$why; --dry-run moved the set"
[ -e "$C/orders/$oid" ] || why="$why; --dry-run removed the order"
sa retire "${COMMON[@]}" -e tom@example.test
[ "$rc" = 0 ] || why="$why; retire: rc $rc"
[ -e "$(certdir "$C" tom@example.test)" ] && why="$why; certs/tom is still there"
ls -a "$C/certs" | grep -q 'tom@' && why="$why; a set of tom left under certs/"
R=$(ls -d "$C"/retired/tom@example.test.* 2>/dev/null | head -1)
[ -n "$R" ] && [ -s "$R/tom@example.test/cert.pem" ] &&
	[ -s "$R/tom@example.test/privkey.pem" ] ||
	why="$why; the set is not under retired/ ('$R')"
[ -e "$C/orders/$oid" ] && why="$why; the stored order was kept"
orders=$(ca_orders)
sa renew "${COMMON[@]}" --force -e tom@example.test
[ "$rc" = 0 ] || why="$why; renew --force -e tom: rc $rc"
[ "$(ca_orders)" = "$orders" ] || why="$why; renew ordered for a retired address"
sa retire "${COMMON[@]}" -e nobody@example.test
[ "$rc" = 66 ] || why="$why; retire of an unknown address: rc $rc, want 66"
verdict lifecycle-retire

# ------------------------------------------------ (d) pruning
for i in 1 2 3 4; do
	sa cert "${COMMON[@]}" -e pam@example.test
	[ "$rc" = 0 ] || why="$why; cert pam #$i: rc $rc"
	[ "$i" = 1 ] && first=$(readlink "$(certdir "$C" pam@example.test)")
done
n=$(find "$C/certs" -maxdepth 1 -type d -name '.pam@example.test.*' | wc -l)
[ "$n" = 3 ] || why="$why; $n sets of pam, want 3 (KeepCertificateSets)"
[ -e "$C/certs/$first" ] && why="$why; the oldest set was kept"
P=$(certdir "$C" pam@example.test)
for f in cert.pem chain.pem fullchain.pem privkey.pem pam@example.test.p12 lineage.info; do
	[ -s "$P/$f" ] || why="$why; published set lacks $f"
done
[ "$(certpub "$P/cert.pem")" = "$(pubkey "$P/privkey.pem")" ] ||
	why="$why; published certificate and key differ"
[ "$(find "$C/certs" -maxdepth 1 -type d -name '.rita@example.test.*' | wc -l)" = 1 ] ||
	why="$why; another address's set was touched"
verdict lifecycle-prune

e2e_finish
