#!/bin/sh
# tests/run.sh: run the test suites and print one closing line
# "N passed, N failed" (", N skipped").  Called by `make check`.
#
#   tests/run.sh [SUITE...]      default: unit milter interop ca e2e deploy
#
# Suites:
#   unit     every $B/tests/test_* (cmocka); one result per test case,
#            named program/case
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

# unit_cases PROGRAM: run one cmocka program with subunit output and print
# one line per case, "PASS: program/case", "FAIL: program/case" or "SKIP:
# program/case: skipped".  A case that started but never reported (the
# program crashed in it) is a FAIL, and so is a program that exits non-zero
# without naming a failed case (e.g. a crash before the first case).
unit_cases() {
	_n=$(basename "$1")
	_rc=0
	CMOCKA_MESSAGE_OUTPUT=subunit "$1" >"$log/$_n.out" 2>"$log/$_n.err" ||
	    _rc=$?
	# (a result line is matched at the end of a line: the code under test
	# may have written to stdout without a newline)
	awk -v prog="$_n" -v rc="$_rc" '
		function ends(s) { return substr($0, length($0) - length(s) + 1) == s }
		function done(verdict, extra) {
			print verdict ": " prog "/" cur extra
			if (verdict == "FAIL")
				failed = 1
			cur = ""
		}
		cur != "" && ends("success: " cur) { done("PASS", ""); next }
		cur != "" && ends("skip: " cur) { done("SKIP", ": skipped"); next }
		cur != "" && (ends("failure: " cur " [") || ends("error: " cur " [") ||
		    ends("failure: " cur) || ends("error: " cur)) { done("FAIL", ""); next }
		/^test: / {
			if (cur != "")
				done("FAIL", " (no result)")
			cur = substr($0, 7)
		}
		END {
			if (cur != "")
				done("FAIL", " (no result: exit " rc ")")
			if (rc != 0 && !failed)
				print "FAIL: " prog " (exit " rc ")"
		}' "$log/$_n.out"
	if [ "$_rc" -ne 0 ]; then
		grep -v -e '^test: ' -e 'success: ' -e 'skip: ' "$log/$_n.out" |
		    awk '{ print "    " $0 }' | tail -30
		awk '{ print "    stderr: " $0 }' "$log/$_n.err" | tail -20
	fi
}

for s in $suites; do
	echo "== suite $s"
	out="$log/$s.out"
	: >"$out"
	if [ "$s" = unit ]; then
		for t in "$B"/tests/test_*; do
			[ -x "$t" ] || continue
			unit_cases "$t" | tee -a "$out"
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
