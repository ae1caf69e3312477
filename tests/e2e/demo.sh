#!/usr/bin/env bash
# tests/e2e/demo.sh: `make demo` - bring up the mail world (Postfix, OpenDKIM,
# Dovecot, RFC 8823 test CA on 127.0.0.1), run smime-acme-milter in front of
# the MX and certify an address end to end with smime-acme.
#
#   make demo                    (B=build)
#   DEMO_DIR=/tmp/demo KEEP=1 make demo     keep the world running afterwards
#   DEMO_ADDR=bob@example.test make demo
# Environment: B (build directory, default build), DEMO_DIR (default: a new
# temporary directory), DEMO_ADDR (default alice@example.test), KEEP=1
# (leave everything running; stop later with
# `tests/e2e/world/world.sh down DIR`).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
ADDR=${DEMO_ADDR:-alice@example.test}
WORLD_SH=$here/world/world.sh

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
	if [ -n "$MILTER_PID" ]; then
		kill "$MILTER_PID" 2>/dev/null || true
		wait "$MILTER_PID" 2>/dev/null || true
	fi
	"$WORLD_SH" down "$DIR" >/dev/null 2>&1 || true
	[ -n "${DEMO_DIR:-}" ] || rm -rf "$DIR"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The milter's socket is chosen now so Postfix's MX listener can use it.
MILTER_PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MILTER_SOCKET=inet:127.0.0.1:$MILTER_PORT

echo "demo: starting the mail world in $DIR"
"$WORLD_SH" up "$DIR" --milter "$MILTER_SOCKET"
# shellcheck disable=SC1091
. "$DIR/world.env"

# TODO(demo): write $DIR/smime-acme.conf for both programs: Socket
# inet:$MILTER_PORT@127.0.0.1, SpoolDirectory $DIR/spool, SendmailPath
# $SENDMAIL, TestDKIMKeys $DKIM_KEYS (the CA's challenge signatures), the
# accepted CA sender $CA_FROM, the DKIM signing key $DKIM_SIGN_KEY /
# selector $DKIM_SELECTOR when the milter signs its replies itself, the CA
# directory $CA_URL with trust anchor $CA_TRUST.
CONF=$DIR/smime-acme.conf

# TODO(demo): start the milter in the foreground, in the background of this
# script, and wait until it listens on $MILTER_PORT:
#   "$B/smime-acme-milter" -c "$CONF" -f &
#   MILTER_PID=$!
if [ -x "$B/smime-acme-milter" ]; then
	echo "demo: TODO: run $B/smime-acme-milter -c $CONF -f (not wired up yet)"
else
	echo "demo: $B/smime-acme-milter not built; the MX accepts mail without it (default_action=accept)"
fi

# TODO(demo): certify $ADDR end to end and show the result:
#   "$B/smime-acme" -c "$CONF" cert ... "$ADDR"
#   openssl verify -purpose smimesign -CAfile "$CA_ROOT" -untrusted chain.pem cert.pem
if [ -x "$B/smime-acme" ]; then
	echo "demo: TODO: run $B/smime-acme -c $CONF cert ... $ADDR (not wired up yet)"
else
	echo "demo: $B/smime-acme not built"
fi

cat <<EOF
demo: the world is up:
  MX             127.0.0.1:$MX_PORT (milter $MILTER_SOCKET, default_action=accept)
  submission     127.0.0.1:$SUBMIT_PORT, sendmail $SENDMAIL
  IMAP           127.0.0.1:$IMAP_PORT / IMAPS 127.0.0.1:$IMAPS_PORT, user $ADDR, password $MAIL_PASSWORD
  test CA        $CA_URL (trust $CA_TRUST, root $CA_ROOT)
  mailbox        $MAILDIR_BASE/example.test/${ADDR%@*}/Maildir
  logs           $POSTFIX_LOG $DIR/ca/ca.log
EOF
