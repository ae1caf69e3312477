#!/bin/sh
# tests/run.sh: run the test suites and print one closing line
# "N passed, N failed" (", N skipped").  Called by `make check`.
#
#   tests/run.sh [SUITE...]      default: unit milter interop ca e2e deploy
#
# Suites:
#   unit     every $B/tests/test_* (cmocka); one result per program
#   other    tests/SUITE/check.sh, which prints "PASS: name", "FAIL: name"
#            or "SKIP: name: why" lines and exits non-zero on a failure.
# Environment: B (build directory, default build), SAN, KEEP=1 keeps the
# temporary directories of failed cases for inspection.
set -u
B=${B:-build}
export B
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 2
suites=${*:-unit milter interop ca e2e deploy}
pass=0 fail=0 skip=0
failed=""
log=$(mktemp -d "${TMPDIR:-/tmp}/smime-acme-check.XXXXXX")

count() {
	# $1 = suite, $2 = output file
	p=$(grep -c '^PASS: ' "$2")
	f=$(grep -c '^FAIL: ' "$2")
	s=$(grep -c '^SKIP: ' "$2")
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	for n in $(grep '^FAIL: ' "$2" | sed 's/^FAIL: //; s/[: ].*//'); do
		failed="$failed $1/$n"
	done
}

for s in $suites; do
	echo "== suite $s"
	out="$log/$s.out"
	: >"$out"
	if [ "$s" = unit ]; then
		for t in "$B"/tests/test_*; do
			[ -x "$t" ] || continue
			n=$(basename "$t")
			if "$t" >"$log/$n.log" 2>&1; then
				echo "PASS: $n" | tee -a "$out"
			else
				echo "FAIL: $n" | tee -a "$out"
				sed 's/^/    /' "$log/$n.log" | tail -40
			fi
		done
	elif [ -x "tests/$s/check.sh" ]; then
		rc=0
		"tests/$s/check.sh" >"$out.raw" 2>&1 || rc=$?
		cat "$out.raw"
		grep -E '^(PASS|FAIL|SKIP): ' "$out.raw" >"$out"
		# a suite that fails without naming a case still counts
		if [ "$rc" -ne 0 ] && ! grep -q '^FAIL: ' "$out"; then
			echo "FAIL: $s-suite (exit $rc)" | tee -a "$out"
		fi
	else
		echo "SKIP: $s: no tests/$s/check.sh" | tee "$out"
	fi
	count "$s" "$out"
done

[ -n "$failed" ] && echo "failed:$failed"
if [ "$skip" -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
rm -rf "$log"
[ "$fail" -eq 0 ]
