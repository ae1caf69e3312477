#!/usr/bin/env bash
# test_seed.sh: a seed client user switches (issue 12, items 1-3), end to
# end against the RFC 8823 test CA with smime-acme-milter answering through
# the spool:
#  - a configuration directory as the seed client (certbot-castle on
#    certbot 2.1) leaves it (tests/e2e/world/certbot_tree.py: accounts/
#    with the JWK account key, renewal/<name>.conf in configobj with a
#    saved passphrase that needs quoting, archive/ + live/ symlinks, the
#    installer's live/<name>/0000_cert.pfx) is imported: the account key
#    lands in our store (0600), the lineage is listed with its settings,
#    and no secret is printed;
#  - renew -c DIR -n with nothing due exits 0 and prints nothing, without
#    a terminal and without a passphrase option;
#  - renew --force -c DIR -n renews the lineage through the CA with its
#    saved settings: archive/<name>/*2.pem, the live/ links moved to them,
#    the same key (the seed renews with the lineage's key), 0001_cert.pfx
#    (0600) under the saved passphrase; a script reading live/ and the
#    newest .pfx all along never sees a missing or partial file and ends
#    with the new certificate;
#  - cert in the seed directory makes a new lineage (renewal file without
#    secrets, live/ links, 0000_cert.pfx) or the next version of the
#    address's lineage (0002_cert.pfx under its saved passphrase);
#  - import refuses, by name, a lineage of another authenticator
#    (castle-mapi) and shows IMAP settings without the password.
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root seed

e2e_built seed

requester_world seed sd || e2e_finish

TREE="$E2E_PY $E2E_DIR/world/certbot_tree.py"
N=$T/native
S=$T/seed
NAME=sam_example.test
PASS='seed#pass, 1'
why=""
serial() { openssl x509 -in "$1" -noout -serial 2>/dev/null; }
pfx_serial() {
	PW=$PASS openssl pkcs12 -in "$1" -passin env:PW -nokeys -clcerts \
		2>/dev/null | openssl x509 -noout -serial 2>/dev/null
}
newest_pfx() { ls "$S/live/$NAME"/[0-9][0-9][0-9][0-9]_cert.pfx | tail -1; }

# ------------------------------------------------ the seed's tree
# the certificate and account come from the test CA (through a native
# run), the files are written as certbot 2.1 and the seed write them
sa cert -n --agree-tos --conf "$CONF" -c "$N" --finalize-delay 0 \
	--no-passphrase -e sam@example.test
[ "$rc" = 0 ] || why="native cert: rc $rc"
akey=$(ls "$N"/accounts/*/account.key)
kid=$(sed -n 's/^kid: //p' "$(dirname "$akey")/account.info")
id=$($TREE "$S" "$CA_URL" "$akey" "$kid" "$NAME" "$(certdir "$N" sam@example.test)" "$PASS") ||
	why="$why; certbot_tree.py failed"
rm -rf "$N"
old=$(serial "$S/live/$NAME/cert.pem")
oldkey=$(openssl pkey -in "$S/live/$NAME/privkey.pem" -pubout 2>/dev/null)

# ------------------------------------------------ (1) import
sa import -n --conf "$CONF" -c "$S" </dev/null
[ "$rc" = 0 ] || why="$why; import: rc $rc: $(tail -1 "$T/out")"
grep -q "^$NAME: sam@example.test; expires .*passphrase saved" "$T/out" ||
	why="$why; import did not list the lineage: $(head -3 "$T/out" | tr '\n' '|')"
grep -q "^account: adopted" "$T/out" || why="$why; account not adopted"
grep -qF "seed#pass" "$T/out" && why="$why; import printed the passphrase"
ours=$(ls "$S"/accounts/*/account.key 2>/dev/null | head -1)
if [ -z "$ours" ]; then
	why="$why; no account.key in our store"
else
	[ "$(stat -c %a "$ours")" = 600 ] || why="$why; account.key mode $(stat -c %a "$ours")"
	[ "$(openssl pkey -in "$ours" -pubout 2>/dev/null)" = "$(openssl pkey -in "$akey" -pubout 2>/dev/null)" ] ||
		: # compared below via the CA
fi
[ -f "$S/accounts/${CA_URL#*://}/$id/private_key.json" ] ||
	why="$why; the seed's account files were touched"
if [ -z "$why" ]; then pass seed-import; else fail seed-import "${why#; }"; fi
why=""

# ------------------------------------------------ (3) cron, nothing due
orders=$(ca_orders)
sa renew -c "$S" -n --conf "$CONF" </dev/null
[ "$rc" = 0 ] || why="renew (nothing due): rc $rc"
[ -s "$T/out" ] && why="$why; renew with nothing due printed: $(head -2 "$T/out" | tr '\n' '|')"
[ "$(ca_orders)" = "$orders" ] || why="$why; renew with nothing due ordered"
if [ -z "$why" ]; then pass seed-renew-nothing-due; else fail seed-renew-nothing-due "${why#; }"; fi
why=""

# ------------------------------------------------ (2)+(3) forced renewal
# the reader: what a seed user's script does, all through the renewal
: >"$T/reader.bad"
(
	while [ ! -e "$T/reader.stop" ]; do
		for k in cert fullchain chain; do
			serial "$S/live/$NAME/$k.pem" >/dev/null ||
				echo "live/$k.pem unreadable" >>"$T/reader.bad"
		done
		openssl pkey -in "$S/live/$NAME/privkey.pem" -noout 2>/dev/null ||
			echo "live/privkey.pem unreadable" >>"$T/reader.bad"
		[ -n "$(pfx_serial "$(newest_pfx)")" ] ||
			echo "$(newest_pfx) unreadable" >>"$T/reader.bad"
	done
) &
reader=$!
sa renew --force -c "$S" -n --conf "$CONF" --finalize-delay 0 \
	--delivery-hook 'echo "$SMIME_ACME_DIR $SMIME_ACME_P12 $SMIME_ACME_CERT" >'"$T/hook.out" </dev/null
touch "$T/reader.stop"
wait "$reader"
[ "$rc" = 0 ] || why="renew --force: rc $rc: $(tail -2 "$T/out" | tr '\n' '|')"
grep -q "$NAME: renewed, valid until" "$T/out" || why="$why; no renewed line"
[ "$(readlink "$S/live/$NAME/cert.pem")" = "../../archive/$NAME/cert2.pem" ] ||
	why="$why; live/cert.pem -> $(readlink "$S/live/$NAME/cert.pem")"
for k in chain fullchain privkey; do
	[ "$(readlink "$S/live/$NAME/$k.pem")" = "../../archive/$NAME/${k}2.pem" ] ||
		why="$why; live/$k.pem -> $(readlink "$S/live/$NAME/$k.pem")"
done
new=$(serial "$S/live/$NAME/cert.pem")
[ -n "$new" ] && [ "$new" != "$old" ] || why="$why; live/cert.pem not renewed ($old -> $new)"
[ "$(serial "$S/archive/$NAME/cert1.pem")" = "$old" ] || why="$why; archive/cert1.pem changed"
[ "$(stat -c %a "$S/archive/$NAME/privkey2.pem")" = 600 ] ||
	why="$why; privkey2.pem mode $(stat -c %a "$S/archive/$NAME/privkey2.pem")"
[ "$(openssl pkey -in "$S/live/$NAME/privkey.pem" -pubout 2>/dev/null)" = "$oldkey" ] ||
	why="$why; the key changed"
head -c 200 "$S/live/$NAME/fullchain.pem" | cmp -s - <(head -c 200 "$S/live/$NAME/cert.pem") ||
	why="$why; fullchain.pem does not start with cert.pem"
p=$(newest_pfx)
[ "$(basename "$p")" = 0001_cert.pfx ] || why="$why; newest pfx is $p"
[ "$(stat -c %a "$p")" = 600 ] || why="$why; $p mode $(stat -c %a "$p")"
[ "$(pfx_serial "$p")" = "$new" ] || why="$why; 0001_cert.pfx does not hold the new certificate under the saved passphrase"
[ "$(pfx_serial "$S/live/$NAME/0000_cert.pfx")" = "$old" ] || why="$why; 0000_cert.pfx changed"
[ "$(cat "$T/hook.out" 2>/dev/null)" = "$S/live/$NAME $S/live/$NAME/0001_cert.pfx $S/live/$NAME/cert.pem" ] ||
	why="$why; the delivery hook got: $(cat "$T/hook.out" 2>/dev/null)"
[ -s "$T/reader.bad" ] && why="$why; a reader saw: $(sort -u "$T/reader.bad" | head -3 | tr '\n' '|')"
grep -qF "seed#pass" "$T/out" && why="$why; renew printed the passphrase"
ls -A "$S/live/$NAME" | grep -q '^\.' && why="$why; temporary files left in live/"
if [ -z "$why" ]; then pass seed-renew-force; else fail seed-renew-force "${why#; }"; fi
why=""

# after the renewal, nothing is due again: silent, exit 0
sa renew -c "$S" -n --conf "$CONF" </dev/null
[ "$rc" = 0 ] && [ ! -s "$T/out" ] ||
	why="renew after renewal: rc $rc: $(head -2 "$T/out" | tr '\n' '|')"
# the seed's cron line may carry --no-verify-ssl: still not a word
sa renew -c "$S" -n --conf "$CONF" --no-verify-ssl </dev/null
[ "$rc" = 0 ] && [ ! -s "$T/out" ] ||
	why="$why; renew --no-verify-ssl with nothing due: rc $rc: $(head -2 "$T/out" | tr '\n' '|')"
# the seed README's --config-dir . (certbot records it made absolute)
(cd "$S" && "$SA" --allow-root renew -c . -n --conf "$CONF" </dev/null >"$T/out" 2>&1)
rc=$?
[ "$rc" = 0 ] && [ ! -s "$T/out" ] ||
	why="$why; renew -c . in the seed directory: rc $rc: $(head -2 "$T/out" | tr '\n' '|')"
if [ -z "$why" ]; then pass seed-renew-after; else fail seed-renew-after "${why#; }"; fi
why=""

# ------------------------------------------------ (2) cert in a seed tree
# a new address: a new lineage as the seed makes one, with its renewal
# file (no secret in it); the lineage's own address again: its next version
printf 'tom-pass\n' >"$T/tompass"
sa cert -n --agree-tos --conf "$CONF" -c "$S" --finalize-delay 0 \
	--passphrase-file "$T/tompass" -e tom@example.test </dev/null
[ "$rc" = 0 ] || why="cert tom: rc $rc: $(tail -2 "$T/out" | tr '\n' '|')"
TL=$S/live/tom_example.test
[ "$(readlink "$TL/cert.pem")" = "../../archive/tom_example.test/cert1.pem" ] ||
	why="$why; tom's live/cert.pem -> $(readlink "$TL/cert.pem")"
[ "$(PW=tom-pass openssl pkcs12 -in "$TL/0000_cert.pfx" -passin env:PW -nokeys -clcerts 2>/dev/null |
	openssl x509 -noout -serial 2>/dev/null)" = "$(serial "$TL/cert.pem")" ] ||
	why="$why; tom's 0000_cert.pfx does not hold live/cert.pem"
[ -f "$TL/README" ] || why="$why; no live/tom_example.test/README"
grep -q '^authenticator = castle-interactive$' "$S/renewal/tom_example.test.conf" &&
	grep -q "^fullchain = $TL/fullchain.pem\$" "$S/renewal/tom_example.test.conf" ||
	why="$why; tom's renewal file: $(tr '\n' '|' <"$S/renewal/tom_example.test.conf")"
grep -q 'tom-pass' "$S/renewal/tom_example.test.conf" && why="$why; the passphrase went into the renewal file"
sa cert -n --agree-tos --conf "$CONF" -c "$S" --finalize-delay 0 -e sam@example.test </dev/null
[ "$rc" = 0 ] || why="$why; cert sam again: rc $rc: $(tail -2 "$T/out" | tr '\n' '|')"
[ "$(readlink "$S/live/$NAME/cert.pem")" = "../../archive/$NAME/cert3.pem" ] ||
	why="$why; sam's live/cert.pem -> $(readlink "$S/live/$NAME/cert.pem")"
[ "$(pfx_serial "$S/live/$NAME/0002_cert.pfx")" = "$(serial "$S/live/$NAME/cert.pem")" ] ||
	why="$why; 0002_cert.pfx does not hold sam's new certificate under the saved passphrase"
sa import -n --dry-run --conf "$CONF" -c "$S" </dev/null
[ "$rc" = 0 ] && grep -q "^tom_example.test: tom@example.test; " "$T/out" ||
	why="$why; import after cert: rc $rc: $(tr '\n' '|' <"$T/out")"
if [ -z "$why" ]; then pass seed-cert; else fail seed-cert "${why#; }"; fi
why=""

# ------------------------------------------------ saved preferred_chain
# certbot saves --preferred-chain in [renewalparams] (the last section):
# a renewal uses it without the option on the command line
ALT="smime-acme Test Alternate Root"
printf 'preferred_chain = %s\n' "$ALT" >>"$S/renewal/$NAME.conf"
sa renew --force -c "$S" -n --conf "$CONF" --finalize-delay 0 -e sam@example.test </dev/null
[ "$rc" = 0 ] || why="renew with a saved preferred_chain: rc $rc: $(tail -2 "$T/out" | tr '\n' '|')"
top=$(awk '/-----BEGIN CERTIFICATE-----/ { c = "" } { c = c $0 "\n" }
	END { printf "%s", c }' "$S/live/$NAME/fullchain.pem" |
	openssl x509 -noout -issuer -nameopt multiline | sed -n 's/^ *commonName *= *//p')
[ "$top" = "$ALT" ] || why="$why; the renewed chain's top is issued by '$top', not '$ALT'"
if [ -z "$why" ]; then pass seed-renew-preferred-chain; else fail seed-renew-preferred-chain "${why#; }"; fi
why=""

# ------------------------------------------------ castle_imap_no_verify_ssl
# A lineage made with --imap --ssl --no-verify-ssl saves the seed's IMAP
# plugin option (castle_imap_no_verify_ssl = True), so the cron renewal
# without the flag still reaches the world's Dovecot, whose certificate is
# not trusted; without the saved option the same renewal is refused.
printf '%s\n' "$MAIL_PASSWORD" >"$T/mailpw"
IMAP_ARGS=(--password-file "$T/mailpw" --dkim-keys "$DKIM_KEYS" --spool-timeout 60)
UC=$S/renewal/una_example.test.conf
sa cert -n --agree-tos --conf "$CONF" -c "$S" --finalize-delay 0 --no-passphrase \
	-e una@example.test --imap --login una@example.test --host 127.0.0.1 \
	--port "$IMAPS_PORT" --ssl --no-verify-ssl --smtp-method plain \
	--smtp-host 127.0.0.1 --smtp-port "$SUBMIT_PORT" "${IMAP_ARGS[@]}" </dev/null
[ "$rc" = 0 ] || why="cert una: rc $rc: $(tail -2 "$T/out" | tr '\n' '|')"
grep -q '^castle_imap_no_verify_ssl = True$' "$UC" ||
	why="$why; the renewal file lacks castle_imap_no_verify_ssl: $(tr '\n' '|' <"$UC")"
grep -q "$MAIL_PASSWORD" "$UC" && why="$why; the IMAP password went into the renewal file"
old_una=$(serial "$S/live/una_example.test/cert.pem")
sa renew --force -c "$S" -n --conf "$CONF" --finalize-delay 0 -e una@example.test \
	"${IMAP_ARGS[@]}" </dev/null
[ "$rc" = 0 ] || why="$why; renew with the saved option: rc $rc: $(tail -2 "$T/out" | tr '\n' '|')"
[ "$(serial "$S/live/una_example.test/cert.pem")" != "$old_una" ] ||
	why="$why; live/una_example.test/cert.pem not renewed"
sed -i '/^castle_imap_no_verify_ssl/d' "$UC"
sa renew --force -c "$S" -n --conf "$CONF" --finalize-delay 0 -e una@example.test \
	"${IMAP_ARGS[@]}" </dev/null
[ "$rc" != 0 ] || why="$why; renewed through an untrusted IMAP certificate without the option"
grep -qiE 'certificate|ssl|tls' "$T/out" ||
	why="$why; the refusal does not name the certificate: $(tail -2 "$T/out" | tr '\n' '|')"
if [ -z "$why" ]; then pass seed-imap-no-verify-ssl-saved; else fail seed-imap-no-verify-ssl-saved "${why#; }"; fi
why=""

# ------------------------------------------------ import refusals
S2=$T/seed2
mkdir -p "$S2/renewal"
cp "$S/renewal/$NAME.conf" "$S2/renewal/"
sed -i "s|$S/|$S2/|g" "$S2/renewal/$NAME.conf"
mkdir -p "$S2/live" "$S2/archive"
cp -a "$S/live/$NAME" "$S2/live/"
cp -a "$S/archive/$NAME" "$S2/archive/"
sed -e "s|/live/$NAME/|/live/mapi/|; s|/archive/$NAME|/archive/mapi|" \
	-e 's/^authenticator = .*/authenticator = castle-mapi/' \
	"$S2/renewal/$NAME.conf" >"$S2/renewal/mapi.conf"
sed -e "s|/live/$NAME/|/live/imap/|; s|/archive/$NAME|/archive/imap|" \
	-e 's/^authenticator = .*/authenticator = castle-imap/' \
	"$S2/renewal/$NAME.conf" >"$S2/renewal/imap.conf"
# configobj's triple quotes (a value with both quotes) and single quotes
printf '%s\n' "castle_imap_login = '''sam's \"box\"'''" \
	"castle_imap_password = '\"imap-secret\", 2'" \
	"castle_imap_host = imap.example.test" "castle_imap_ssl = True" \
	"castle_imap_smtp_host = smtp.example.test" "castle_imap_smtp_method = STARTTLS" \
	>>"$S2/renewal/imap.conf"
cp -a "$S2/live/$NAME" "$S2/live/mapi"
cp -a "$S2/live/$NAME" "$S2/live/imap"
cp -a "$S/accounts" "$S2/"
rm -f "$S2"/accounts/*/account.key "$S2"/accounts/*/account.info
sa import -n --dry-run --conf "$CONF" -c "$S2" </dev/null
[ "$rc" = 65 ] || why="import with a castle-mapi lineage: rc $rc (want 65)"
grep -q "mapi: cannot import: authenticator castle-mapi" "$T/out" ||
	why="$why; castle-mapi not refused by name"
grep -qF "responder imap (sam's \"box\"@imap.example.test, SMTP smtp.example.test)" "$T/out" ||
	why="$why; IMAP settings not shown: $(grep '^imap' "$T/out")"
grep -q "imap-secret" "$T/out" && why="$why; import printed the IMAP password"
grep -q "2 lineage(s) imported, 1 refused" "$T/out" || why="$why; no summary"
sa import -n --conf "$CONF" -c "$T/nothing" </dev/null
[ "$rc" = 66 ] || why="$why; import of a directory without renewal/: rc $rc (want 66)"
if [ -z "$why" ]; then pass seed-import-refuses; else fail seed-import-refuses "${why#; }"; fi
why=""

# ------------------------------------------------ an RSA account (certbot's)
S3=$T/seed3
openssl genrsa -out "$T/rsa-account.pem" 2048 2>/dev/null
$TREE "$S3" "$CA_URL" "$T/rsa-account.pem" "https://ca.test/acct/7" tom_example.test \
	"$S/live/tom_example.test" "" >/dev/null || why="certbot_tree.py (RSA) failed"
sa import -n --conf "$CONF" -c "$S3" </dev/null
[ "$rc" = 0 ] || why="$why; import with an RSA account: rc $rc: $(tail -2 "$T/out" | tr '\n' '|')"
ours=$(ls "$S3"/accounts/*/account.key 2>/dev/null | head -1)
[ -n "$ours" ] && [ "$(openssl pkey -in "$ours" -pubout 2>/dev/null)" = "$(openssl pkey -in "$T/rsa-account.pem" -pubout 2>/dev/null)" ] ||
	why="$why; the adopted account key is not the JWK's RSA key"
grep -q '^kid: https://ca.test/acct/7$' "$(dirname "${ours:-/nonexistent}")/account.info" 2>/dev/null ||
	why="$why; the account URL was not adopted"
grep -q "passphrase none" "$T/out" || why="$why; castle_installer_no_passphrase not shown as none"
if [ -z "$why" ]; then pass seed-import-rsa; else fail seed-import-rsa "${why#; }"; fi

e2e_finish
