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
# Prints the suites' PASS:/FAIL: lines, each case prefixed "hermetic-", and
# hermetic-host-untouched: nothing outside the decoys, the source tree and
# the temporary directories was written (the overlay's upper directory
# holds every change the suites made to the host's /).
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
# The throwaway root's changes land in the overlay's upper directory, which
# lives as long as the mount namespace: list what the suites wrote there
# before leaving it.  Files, empty directories and whiteouts (deletions)
# count; the decoys, the bound source tree's mount point and the tmpfs /tmp
# and /run do not.
# shellcheck disable=SC2016,SC2086
unshare -m --propagation private bash -c '
	T=$1 top=$2 here=$3
	shift 3
	bash "$top/tests/lib/throwaway-root.sh" "$T/root" "$top" \
	    bash "$here/decoys.sh" "$top" "$@" >"$T/out" 2>&1
	rc=$?
	cd "$T/root/u" &&
	    find . -mindepth 1 \( ! -type d -o -type d -empty \) -printf "/%P\n" |
	    sort >"$T/written"
	exit $rc' bash "$T" "$top" "$here" $suites
rc=$?
sed -E 's/^(PASS|FAIL|SKIP): /\1: hermetic-/' "$T/out"
host=$(grep -v -x -e /etc/smime-acme.conf -e "$top" \
    -e '/var/spool/smime-acme/.*' -e '/root/\.config/smime-acme/.*' \
    "$T/written" 2>/dev/null | head -20 | tr '\n' ' ' | sed 's/ $//')
untouched=0
if [ ! -s "$T/written" ]; then
	echo "FAIL: hermetic-host-untouched: no list of the throwaway root's changes"
elif [ -n "$host" ]; then
	echo "FAIL: hermetic-host-untouched: the suites wrote $host"
else
	echo "PASS: hermetic-host-untouched"
	untouched=1
fi
if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "$T/out"; then
	echo "FAIL: hermetic: exited $rc"
fi
[ "$rc" -eq 0 ] && [ "$untouched" = 1 ]
