#!/usr/bin/env bash
# test_preflight.sh: `smime-acme-milter -n` tells the truth.  Run as root
# with UserID nobody:nogroup (as the unit runs it), it checks as that user
# what startup and the first challenge need, and fails (exit 78) naming the
# path and the error for each of: a missing spool, a spool the user cannot
# write, a missing socket directory, a missing PidFile directory, a
# SigningKey the user cannot read.  A configuration that can start passes,
# and the daemon itself refuses to start with a broken one.
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root preflight

e2e_built preflight
T=$(mktemp -d "${TMPDIR:-/tmp}/smime-preflight.XXXXXX")
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"

# fresh: a configuration that can start; each case breaks one thing
fresh() {
	rm -rf "$T/c"
	mkdir -p "$T/c/run" "$T/c/sock"
	chmod 755 "$T/c"
	spool_setup "$T/c/spool"
	chown nobody "$T/c/sock"
	openssl genrsa -out "$T/c/dkim.key" 2048 2>/dev/null
	chgrp nogroup "$T/c/dkim.key"
	chmod 640 "$T/c/dkim.key"
	cat >"$T/c/conf" <<CONF
Socket local:$T/c/sock/milter.sock
UserID nobody:nogroup
PidFile $T/c/run/milter.pid
Syslog no
SpoolDirectory $T/c/spool
SendmailPath /bin/true
SigningKey example.test mail $T/c/dkim.key
CONF
}

# expect NAME RC PATTERN...: -n exits RC and stderr has every PATTERN
expect() {
	local name=$1 want=$2 rc=0 p
	shift 2
	"$MILTER" -n -c "$T/c/conf" >"$T/out" 2>&1 || rc=$?
	if [ "$rc" != "$want" ]; then
		fail "$name" "exit $rc, want $want: $(tr '\n' ' ' <"$T/out")"
		return
	fi
	for p in "$@"; do
		if ! grep -qF -- "$p" "$T/out"; then
			fail "$name" "no '$p' in: $(tr '\n' ' ' <"$T/out")"
			return
		fi
	done
	pass "$name"
}

fresh
expect preflight-ok 0 "configuration OK"

fresh
rm -rf "$T/c/spool"
expect preflight-missing-spool 78 "$T/c/spool" "No such file or directory" \
    "fix:"

fresh
chgrp root "$T/c/spool/entries"
chmod 0750 "$T/c/spool/entries"
expect preflight-spool-modes 78 "$T/c/spool/entries" "Permission denied" \
    "as nobody"

fresh
rmdir "$T/c/sock"
expect preflight-missing-socket-dir 78 "Socket" "$T/c/sock" \
    "No such file or directory"

fresh
rmdir "$T/c/run"
expect preflight-missing-pidfile-dir 78 "PidFile" "$T/c/run" \
    "No such file or directory"

fresh
chmod 600 "$T/c/dkim.key"
expect preflight-signing-key-unreadable 78 "SigningKey" "$T/c/dkim.key" \
    "Permission denied" "as nobody"

# the daemon refuses to start with what -n refuses
fresh
chmod 600 "$T/c/dkim.key"
rc=0
timeout 10 "$MILTER" -f -c "$T/c/conf" >"$T/out" 2>&1 || rc=$?
if [ "$rc" = 78 ] && grep -qF "$T/c/dkim.key" "$T/out"; then
	pass preflight-start-refused
else
	fail preflight-start-refused "exit $rc: $(tr '\n' ' ' <"$T/out")"
fi
e2e_finish
