#!/bin/sh
# tests/fuzz/run.sh: run every libFuzzer harness built by `make fuzz-build`
# (or those named) for FUZZ_SECONDS each, one at a time, over a temporary
# copy of its seed corpus in tests/fuzz/corpus/<name>/ (crash-* inputs
# left out: they are known findings, see README.md), with its dictionary
# tests/fuzz/<name>.dict if there is one.  Prints each harness's final
# libFuzzer stats; exits 1 if any harness crashed, leaked or hung (its
# log and the crashing input stay in build/fuzz/out/<name>/).
#
# Usage: FUZZ_SECONDS=N tests/fuzz/run.sh [name...]   (from the top)
set -u

secs=${FUZZ_SECONDS:-60}
bin=${FUZZ_BIN:-build/fuzz/fuzz}
outdir=build/fuzz/out
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# harmless reports in libopendkim's own code (see the file)
export UBSAN_OPTIONS="$UBSAN_OPTIONS:suppressions=$(pwd)/tests/fuzz/ubsan.supp"

if [ $# -eq 0 ]; then
	set --
	for f in "$bin"/fuzz_*; do
		[ -x "$f" ] && set -- "$@" "${f##*/fuzz_}"
	done
fi
[ $# -gt 0 ] || { echo "fuzz: no harness in $bin (make fuzz-build)" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smime-acme-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
failed=""
for h in "$@"; do
	exe="$bin/fuzz_$h"
	[ -x "$exe" ] || { echo "fuzz: $exe: not built" >&2; failed="$failed $h"; continue; }
	mkdir -p "$tmp/$h" "$outdir/$h"
	if [ -d "tests/fuzz/corpus/$h" ]; then
		find "tests/fuzz/corpus/$h" -maxdepth 1 -type f \
		    ! -name 'crash-*' -exec cp {} "$tmp/$h/" \;
	fi
	dict=""
	[ -f "tests/fuzz/$h.dict" ] && dict="-dict=tests/fuzz/$h.dict"
	log="$outdir/$h/fuzz.log"
	rm -f "$outdir/$h"/crash-* "$outdir/$h"/leak-* "$outdir/$h"/timeout-* \
	    "$outdir/$h"/oom-*
	# -timeout: an input that takes 10 s is a hang worth reporting
	"$exe" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$outdir/$h/" $dict \
	    "$tmp/$h" >"$log" 2>&1
	rc=$?
	stats=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
	[ -n "$stats" ] || stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	execs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log")
	odkim=$(sed -n 's/^fuzz_dkimv: libopendkim: //p' "$log")
	printf 'fuzz %-10s %ss execs %s: %s\n' "$h" "$secs" "${execs:-?}" "$stats"
	[ -n "$odkim" ] && printf 'fuzz %-10s libopendkim: %s\n' "$h" "$odkim"
	if [ $rc -ne 0 ]; then
		echo "fuzz $h: FAILED (exit $rc); log $log:" >&2
		grep -E 'ERROR: |SUMMARY: |runtime error|Test unit written' \
		    "$log" | head -n 8 >&2
		failed="$failed $h"
	fi
done
if [ -n "$failed" ]; then
	echo "fuzz: failed:$failed" >&2
	exit 1
fi
echo "fuzz: all $# harnesses ran ${secs}s each without a crash"
