#!/usr/bin/env bash
# tests/bench/sendmail-txn.sh: milliseconds per SMTP transaction under the
# Sendmail world (tests/e2e/world/sendmail.sh), with smime-acme-milter on an
# inet socket (MX daemon), on a unix socket (a second world) and with no
# filter (PLAIN daemon of the same Sendmail), N transactions each,
# interleaved; medians.  A measurement for reading, not a test.  With
# BASE_BIN (another build of the milter, e.g. the parent commit's), a third
# world runs that one on an inet socket ("base-inet"), interleaved with the
# others: a before/after comparison in the same run.
#
#   tests/bench/sendmail-txn.sh
#   Environment: N (200), B (build), MILTER_BIN, BASE_BIN
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B=$top/$B ;; esac
N=${N:-200}
MILTER_BIN=${MILTER_BIN:-$B/smime-acme-milter}
[ -x "$MILTER_BIN" ] || { echo "sendmail-txn: $MILTER_BIN not built" >&2; exit 2; }
W=$(mktemp -d /tmp/smime-acme-smtxn.XXXXXX)
SOCKD=$(mktemp -d "$B/smtxn-sock.XXXXXX") || exit 2
chown nobody:nogroup "$SOCKD"
MPORT=$(python3 "$top/tests/lib/free-ports.py")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	"$top/tests/e2e/world/sendmail.sh" down "$W/inet" >/dev/null 2>&1
	"$top/tests/e2e/world/sendmail.sh" down "$W/unix" >/dev/null 2>&1
	"$top/tests/e2e/world/sendmail.sh" down "$W/base" >/dev/null 2>&1
	rm -rf "$W" "$SOCKD"
}
trap cleanup EXIT
mkdir -p "$W/spool/entries" "$W/spool/work" "$W/spool/tmp"
chown -R root:nogroup "$W/spool"
chmod 770 "$W/spool" "$W/spool"/*
for s in "inet:$MPORT@127.0.0.1" "unix:$SOCKD/milter.sock"; do
	c=$W/${s%%:*}.conf
	printf 'Socket %s\nUserID nobody:nogroup\nSyslog no\nSpoolDirectory %s\n' "$s" "$W/spool" >"$c"
	"$MILTER_BIN" -f -c "$c" 2>"$W/${s%%:*}.log" &
	pids+=($!)
done
"$top/tests/e2e/world/sendmail.sh" up "$W/inet" --no-ca --no-dkim-signer --milter "inet:$MPORT@127.0.0.1" >/dev/null || exit 2
PLAIN=$(. "$W/inet/world.env" && echo "$PLAIN_PORT")
INET=$(. "$W/inet/world.env" && echo "$MX_PORT")
"$top/tests/e2e/world/sendmail.sh" up "$W/unix" --no-ca --no-dkim-signer --milter "local:$SOCKD/milter.sock" >/dev/null || exit 2
UNIX=$(. "$W/unix/world.env" && echo "$MX_PORT")
ports=(none="$PLAIN" acme-inet="$INET" acme-unix="$UNIX")
if [ -n "${BASE_BIN:-}" ]; then
	[ -x "$BASE_BIN" ] || { echo "sendmail-txn: $BASE_BIN not executable" >&2; exit 2; }
	BPORT=$(python3 "$top/tests/lib/free-ports.py")
	printf 'Socket inet:%s@127.0.0.1\nUserID nobody:nogroup\nSyslog no\nSpoolDirectory %s\n' "$BPORT" "$W/spool" >"$W/base.conf"
	"$BASE_BIN" -f -c "$W/base.conf" 2>"$W/base.log" &
	pids+=($!)
	"$top/tests/e2e/world/sendmail.sh" up "$W/base" --no-ca --no-dkim-signer --milter "inet:$BPORT@127.0.0.1" >/dev/null || exit 2
	ports+=(base-inet="$(. "$W/base/world.env" && echo "$MX_PORT")")
fi
echo "Sendmail $(basename "$(ls "$top"/build/cache/sendmail/sendmail-bin_*.deb)" .deb), N=$N, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/smtp-txn.py" "$N" "${ports[@]}"
