#!/usr/bin/env bash
# tests/e2e/demo.sh: `make demo` - bring up the mail world (Postfix, OpenDKIM,
# Dovecot, RFC 8823 test CA on 127.0.0.1), run smime-acme-milter in front of
# the MX and certify an address end to end with smime-acme.
#
#   make demo                    (B=build)
#   DEMO_DIR=/tmp/demo KEEP=1 make demo     keep the world running afterwards
#   DEMO_ADDR=bob@example.test make demo
# Environment: B (build directory, default build), DEMO_DIR (default: a new
# temporary directory), DEMO_ADDR (default alice@example.test), DEMO_CERTS
# (where the certificate set is kept, default $B/demo), KEEP=1
# (leave everything running; stop later with
# `tests/e2e/world/world.sh down DIR`).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
ADDR=${DEMO_ADDR:-alice@example.test}
MILTER=$B/smime-acme-milter
# WORLD_SH, free_port, spool_setup, conf_write, milter_start/milter_stop
. "$here/lib.sh"

[ "$(id -u)" = 0 ] || {
	echo "demo: must run as root (private Postfix instance, Dovecot)" >&2
	exit 1
}
DIR=${DEMO_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/smime-demo.XXXXXX")}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
MILTER_PID=

cleanup() {
	rc=$?
	if [ "${KEEP:-}" = 1 ]; then
		echo "demo: KEEP=1, world left running in $DIR"
		echo "      stop with: $WORLD_SH down $DIR${MILTER_PID:+; kill $MILTER_PID}"
		exit $rc
	fi
	milter_stop
	"$WORLD_SH" down "$DIR" >/dev/null 2>&1 || true
	[ -n "${DEMO_DIR:-}" ] || rm -rf "$DIR"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The milter's socket is chosen now so Postfix's MX listener can use it.
MILTER_PORT=$(free_port)
MILTER_SOCKET=inet:127.0.0.1:$MILTER_PORT

echo "demo: starting the mail world in $DIR"
"$WORLD_SH" up "$DIR" --milter "$MILTER_SOCKET"
# shellcheck disable=SC1091
. "$DIR/world.env"

# One configuration file for both programs: they must agree on the spool.
CONF=$DIR/smime-acme.conf
SPOOL=$DIR/spool
# the milter runs as nobody:nogroup and shares the spool through the group
spool_setup "$SPOOL"
chmod 755 "$DIR"
conf_write "$CONF" "$MILTER_PORT" "$SPOOL" "SpoolPostAfter 60" "SpoolTimeout 120"

echo "demo: starting $MILTER -c $CONF -f"
if ! milter_start "$CONF" "$MILTER_PORT" "$DIR/milter.log"; then
	echo "demo: the milter did not start:" >&2
	sed 's/^/    /' "$DIR/milter.log" >&2
	exit 1
fi

# The certificates outlive the world: they go under the build directory.
CERTS=${DEMO_CERTS:-$B/demo}
rm -rf "$CERTS"
mkdir -p "$CERTS"
PASS=$DIR/passphrase
(umask 077 && printf 'demo\n' >"$PASS")
echo "demo: certifying $ADDR through the milter (smime-acme cert)"
# The demo runs everything as root because it starts Postfix; a real
# requester runs as an ordinary user and needs no --allow-root.
"$B/smime-acme" --allow-root cert -n --agree-tos --conf "$CONF" \
	-c "$CERTS" -e "$ADDR" --passphrase-file "$PASS" --finalize-delay 0
P12=$(ls "$CERTS/certs/$ADDR/"*.p12 2>/dev/null | head -1)
[ -n "$P12" ] || {
	echo "demo: no PKCS#12 was written" >&2
	exit 1
}
SET=$(dirname "$P12")
echo "demo: verifying the certificate for S/MIME against the test CA root"
openssl verify -purpose smimesign -CAfile "$CA_ROOT" -untrusted "$SET/chain.pem" \
	"$SET/cert.pem"
openssl x509 -in "$SET/cert.pem" -noout -subject \
	-ext subjectAltName,keyUsage,extendedKeyUsage
echo "demo: what the milter did:"
grep -h 'answered' "$DIR/milter.log" | sed 's/^/  /' | tail -3

if [ "${KEEP:-}" = 1 ]; then
	cat <<EOF
demo: the world is up:
  MX             127.0.0.1:$MX_PORT (milter $MILTER_SOCKET, default_action=accept)
  submission     127.0.0.1:$SUBMIT_PORT, sendmail $SENDMAIL
  IMAP           127.0.0.1:$IMAP_PORT / IMAPS 127.0.0.1:$IMAPS_PORT, user $ADDR, password $MAIL_PASSWORD
  test CA        $CA_URL (trust $CA_TRUST, root $CA_ROOT)
  mailbox        $MAILDIR_BASE/example.test/${ADDR%@*}/Maildir
  logs           $POSTFIX_LOG $DIR/ca/ca.log $DIR/milter.log
EOF
fi
cat <<EOF
demo: $ADDR is certified.  PKCS#12 (passphrase "demo"):
  $P12
EOF
