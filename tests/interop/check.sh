#!/bin/sh
# tests/interop/check.sh: drive the acme/ library against Debian's Pebble
# on 127.0.0.1.  Two Pebble instances: one open (30% of nonces rejected,
# alternate roots, every challenge valid) and one requiring External
# Account Binding.  Prints PASS/FAIL/SKIP lines; non-zero exit on FAIL.
set -u
B=${B:-build}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
prog="$B/tests/interop/pebble_test"
PEBBLE=${PEBBLE:-/usr/bin/pebble}

if [ ! -x "$PEBBLE" ]; then
	echo "SKIP: pebble: $PEBBLE not installed"
	exit 0
fi
if [ ! -x "$prog" ]; then
	make -s "$prog" B="$B" >/dev/null 2>&1 || true
fi
if [ ! -x "$prog" ]; then
	echo "FAIL: build: $prog could not be built"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smime-acme-interop.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT INT TERM

# Free TCP ports on 127.0.0.1
ports=$(/usr/bin/python3 "$top/tests/lib/free-ports.py" 6)
set -- $ports
p_acme=$1 p_http=$2 p_tls=$3 p_eab=$4 p_http2=$5 p_tls2=$6

# A throw-away CA and a server certificate for Pebble's HTTPS.
if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$tmp/ca.key" -out "$tmp/ca.pem" -days 2 \
	-subj "/CN=smime-acme interop CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign" >"$tmp/openssl.log" 2>&1 ||
   ! openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$tmp/tls.key" -out "$tmp/tls.csr" -subj "/CN=127.0.0.1" \
	>>"$tmp/openssl.log" 2>&1 ||
   ! printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' \
	>"$tmp/ext.cnf" ||
   ! openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.pem" \
	-CAkey "$tmp/ca.key" -CAcreateserial -days 2 -out "$tmp/tls.pem" \
	-extfile "$tmp/ext.cnf" >>"$tmp/openssl.log" 2>&1; then
	echo "FAIL: tls-cert: openssl failed: $(tail -1 "$tmp/openssl.log")"
	exit 1
fi

eab_kid=kid-1
eab_key=zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W

cat >"$tmp/open.json" <<JSON
{ "pebble": {
  "listenAddress": "127.0.0.1:$p_acme",
  "managementListenAddress": "",
  "certificate": "$tmp/tls.pem", "privateKey": "$tmp/tls.key",
  "httpPort": $p_http, "tlsPort": $p_tls, "ocspResponderURL": "",
  "externalAccountBindingRequired": false } }
JSON
cat >"$tmp/eab.json" <<JSON
{ "pebble": {
  "listenAddress": "127.0.0.1:$p_eab",
  "managementListenAddress": "",
  "certificate": "$tmp/tls.pem", "privateKey": "$tmp/tls.key",
  "httpPort": $p_http2, "tlsPort": $p_tls2, "ocspResponderURL": "",
  "externalAccountBindingRequired": true,
  "externalAccountMACKeys": { "$eab_kid": "$eab_key" } } }
JSON

PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=30 \
PEBBLE_ALTERNATE_ROOTS=1 PEBBLE_AUTHZREUSE=0 \
	"$PEBBLE" -config "$tmp/open.json" >"$tmp/pebble-open.log" 2>&1 &
pids="$pids $!"
PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
	"$PEBBLE" -config "$tmp/eab.json" >"$tmp/pebble-eab.log" 2>&1 &
pids="$pids $!"

up() {
	i=0
	while [ $i -lt 100 ]; do
		if curl -fsS --cacert "$tmp/ca.pem" -o /dev/null \
			"https://127.0.0.1:$1/dir" 2>/dev/null; then
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
if ! up "$p_acme" || ! up "$p_eab"; then
	echo "FAIL: pebble-start: Pebble did not answer within 10 s"
	sed 's/^/    /' "$tmp"/pebble-*.log | tail -20 >&2
	exit 1
fi
echo "PASS: pebble-start"

rc=0
"$prog" "https://127.0.0.1:$p_acme/dir" "$tmp/ca.pem" \
	"https://127.0.0.1:$p_eab/dir" "$eab_kid" "$eab_key" || rc=$?

# The requester against the EAB Pebble with a wrong MAC key: the CA's
# refusal is exit 69 and one line on stderr (the protocol library logs it
# at debug only; the application logs it once).
sa="$B/smime-acme"
if [ ! -x "$sa" ]; then
	make -s "$sa" B="$B" >/dev/null 2>&1 || true
fi
r="$tmp/requester"
mkdir -p "$r/cfg" "$r/spool"
: >"$r/smime-acme.conf"
printf 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' >"$r/eab.key"
src=0
"$sa" --allow-root --conf "$r/smime-acme.conf" cert -n --agree-tos \
	--server "https://127.0.0.1:$p_eab/dir" --ca-bundle "$tmp/ca.pem" \
	-c "$r/cfg" --spool "$r/spool" --no-passphrase \
	--eab-kid "$eab_kid" --eab-hmac-file "$r/eab.key" \
	-e alice@example.test >"$r/out" 2>"$r/err" || src=$?
n=$(grep -c 'externalAccountBinding\|unauthorized\|malformed' "$r/err")
if [ "$src" = 69 ] && [ "$n" = 1 ] &&
   grep -q '^smime-acme: account: the CA says: ' "$r/err"; then
	echo "PASS: requester-refusal-logged-once"
else
	echo "FAIL: requester-refusal-logged-once: exit $src, $n line(s) about the refusal"
	sed 's/^/    /' "$r/err" >&2
	rc=1
fi

# Without EAB options: one line that names them (before: the library's
# line and "account: failed").
src=0
"$sa" --allow-root --conf "$r/smime-acme.conf" cert -n --agree-tos \
	--server "https://127.0.0.1:$p_eab/dir" --ca-bundle "$tmp/ca.pem" \
	-c "$r/cfg" --spool "$r/spool" --no-passphrase \
	-e alice@example.test >"$r/out" 2>"$r/err" || src=$?
n=$(grep -vc '^smime-acme: creating an ACME account' "$r/err")
if [ "$src" = 69 ] && [ "$n" = 1 ] && grep -q -- '--eab-kid' "$r/err"; then
	echo "PASS: requester-eab-missing-logged-once"
else
	echo "FAIL: requester-eab-missing-logged-once: exit $src, $n line(s)"
	sed 's/^/    /' "$r/err" >&2
	rc=1
fi
exit $rc
