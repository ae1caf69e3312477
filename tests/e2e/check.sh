#!/usr/bin/env bash
# tests/e2e/check.sh: run every tests/e2e/test_*.sh (the end-to-end suite,
# `tests/run.sh e2e`).  Each test prints its own "PASS: name",
# "FAIL: name[: why]" or "SKIP: name: why" lines; a test that exits non-zero
# without a FAIL line, or prints no result at all, is reported as a FAIL
# named after its file.  Exit status: 1 if anything failed.
#
#   tests/e2e/check.sh [TEST...]     e.g. tests/e2e/check.sh world
# Environment: E2E_TIMEOUT (seconds per test file, default 300), KEEP=1
# (keep the world directories of failed tests), B (build directory).
set -u
here=$(cd "$(dirname "$0")" && pwd)
timeout_s=${E2E_TIMEOUT:-300}
rc=0

if [ $# -gt 0 ]; then
	tests=()
	for t in "$@"; do tests+=("$here/test_${t#test_}"); done
	tests=("${tests[@]/%.sh/}")
	tests=("${tests[@]/%/.sh}")
else
	tests=("$here"/test_*.sh)
fi

for t in "${tests[@]}"; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	out=$(mktemp)
	trc=0
	timeout --kill-after=10 "$timeout_s" bash "$t" >"$out" 2>&1 || trc=$?
	cat "$out"
	if [ "$trc" -ne 0 ] && ! grep -q '^FAIL: ' "$out"; then
		if [ "$trc" = 124 ]; then
			echo "FAIL: $name: timed out after ${timeout_s}s"
		else
			echo "FAIL: $name: exited $trc"
		fi
	elif ! grep -qE '^(PASS|FAIL|SKIP): ' "$out"; then
		echo "FAIL: $name: printed no result"
		trc=1
	fi
	grep -q '^FAIL: ' "$out" && trc=1
	[ "$trc" -ne 0 ] && rc=1
	rm -f "$out"
done
exit $rc
