#!/bin/sh
# tests/bench/verify-cost.sh: the per-candidate cost of isolating
# verification (doc/performance.md §3).  One DKIM-signed challenge (1024-bit
# key, a TestDKIMKeys file: no DNS) verified N times in process and N times
# through the verification worker ($B/tests/bench/verify-cost), ROUNDS
# times, plus an ordinary mail through miltertest to show that it never
# reaches a worker.
#
# Environment: B (build directory), N (default 200), ROUNDS (default 3).
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
B=${B:-build}
N=${N:-200}
ROUNDS=${ROUNDS:-3}
T=$(mktemp -d "${TMPDIR:-/tmp}/verify-cost.XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM
tool() { /usr/bin/python3 "$top/tests/milter/tools.py" "$@"; }

opendkim-genkey -b 1024 -d ca.example -s sel -D "$T"
pub=$(tr -d '\n' <"$T/sel.txt" | sed -E 's/.*\( *//; s/ *\).*//; s/" *"//g; s/"//g; s/[[:space:]]+/ /g')
echo "sel._domainkey.ca.example $pub" >"$T/keys"
{
	printf 'From: ACME CA <acme@ca.example>\r\nTo: alice@mail.example\r\n'
	printf 'Subject: ACME: %s\r\n' "$(tool rand 16)"
	printf 'Date: %s\r\nMessage-ID: <bench@ca.example>\r\n' "$(date -u -R)"
	printf 'Auto-Submitted: auto-generated; type=acme\r\nMIME-Version: 1.0\r\n'
	printf 'Content-Type: text/plain; charset=us-ascii\r\n\r\n'
	printf 'This is an ACME challenge.\r\n'
} >"$T/raw"
tool sign "$T/sel.private" ca.example "$T/raw" "$T/mail"
r=0
while [ "$r" -lt "$ROUNDS" ]; do
	"$B/tests/bench/verify-cost" "$T/keys" "$T/mail" "$N"
	r=$((r + 1))
done
