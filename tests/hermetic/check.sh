#!/usr/bin/env bash
# tests/hermetic/check.sh [SUITE...]: prove that the tests read no host
# state.  In a throwaway root (tests/lib/throwaway-root.sh: an overlay of
# the host's /, nothing reaches the host) it plants decoys where an
# installed smime-acme keeps its files, then runs the suites (default:
# unit milter e2e) there.  A test that read one of them would fail:
#   /etc/smime-acme.conf            unreadable to users and, for root, a
#                                   Server that cannot be reached and an
#                                   unknown key
#   /var/spool/smime-acme           a spool whose entries/ holds a FIFO and
#                                   an entry for every test address
#   $HOME/.config/smime-acme        a requester directory with a broken
#                                   account
# Prints the suites' PASS:/FAIL: lines, each case prefixed "hermetic-".
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B=${B:-build}
export B
suites=${*:-unit milter e2e}

if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null 2>&1; then
	echo "SKIP: hermetic: needs root and unshare"
	exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/smime-acme-hermetic.XXXXXX") || exit 2
trap 'rm -rf "$T"' EXIT
mkdir "$T/root"
# shellcheck disable=SC2086
unshare -m --propagation private bash "$top/tests/lib/throwaway-root.sh" \
    "$T/root" "$top" bash "$here/decoys.sh" "$top" $suites >"$T/out" 2>&1
rc=$?
sed -E 's/^(PASS|FAIL|SKIP): /\1: hermetic-/' "$T/out"
if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "$T/out"; then
	echo "FAIL: hermetic: exited $rc"
fi
[ "$rc" -eq 0 ]
