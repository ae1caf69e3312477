#!/usr/bin/env python3
"""overhead-table.py: issue 14's target table for ordinary mail.

    overhead-table.py MTA=CSV [MTA=CSV ...]

Each CSV is a run file of milter-overhead.sh (Postfix) or
sendmail-overhead.sh (Sendmail): one row per run with at least the columns
round, sessions, config and msgs_per_s; rounds named "warmup" are left out.
For every MTA, socket kind (inet, unix) and session count it prints the
milter's throughput as a ratio to the same MTA without a milter ("x none")
and to the accept-at-connect floor on the same socket kind ("x floor",
refmilter -c: what any milter pays), each the median of per-round ratios
(a round runs every configuration once, interleaved, so drift cancels),
with the spread over rounds as the noise.  Where the run has it, "x env"
is the ratio to the envelope floor (refmilter -r: negotiates as our milter
does and accepts at the first RCPT, no work): the part of the gap to the
connect floor that any filter pays which must see the recipients.

The target, in this one place: within 5 % of no milter (x none >= 0.95);
where a configuration cannot be, within 3 % of the floor (x floor >= 0.97).
Printed for reading, never enforced.
"""
import csv
import statistics
import sys

TARGET_NONE = 0.95
TARGET_FLOOR = 0.97


def ratios(rows, sessions, cfg, ref):
    by = {}
    for r in rows:
        if r["sessions"] == sessions:
            by.setdefault(r["round"], {})[r["config"]] = float(r["msgs_per_s"])
    return [v[cfg] / v[ref] for v in by.values() if v.get(cfg) and v.get(ref)]


def cell(xs):
    if not xs:
        return "%-22s" % "-", None
    m = statistics.median(xs)
    return "%-22s" % ("%.3f (%.3f-%.3f)" % (m, min(xs), max(xs))), m


def main(argv):
    if len(argv) < 2:
        sys.stderr.write("usage: overhead-table.py MTA=CSV [MTA=CSV ...]\n")
        return 2
    print("ordinary mail with smime-acme-milter: median of per-round ratios (min-max over rounds)")
    print("target: x none >= %.2f, or x floor >= %.2f (floor: refmilter -c, accepts at connect)"
          % (TARGET_NONE, TARGET_FLOOR))
    print("%-9s %-6s %3s %7s  %-22s %-22s %-22s %s" % (
        "MTA", "socket", "ses", "rounds", "x none", "x floor", "x env",
        "verdict"))
    for arg in argv[1:]:
        mta, _, path = arg.partition("=")
        try:
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if r["round"] != "warmup"]
        except OSError as e:
            print("%-9s (no runs: %s)" % (mta, e.strerror))
            continue
        sessions = sorted({r["sessions"] for r in rows}, key=int)
        for sock in ("inet", "unix"):
            cfg = "acme-" + sock
            for s in sessions:
                xn = ratios(rows, s, cfg, "none")
                if not xn:
                    continue
                xf = ratios(rows, s, cfg, "floor-" + sock)
                tn, mn = cell(xn)
                tf, mf = cell(xf)
                te, _ = cell(ratios(rows, s, cfg, "env-" + sock))
                if mn >= TARGET_NONE:
                    verdict = "met (5 % of none)"
                elif mf is not None and mf >= TARGET_FLOOR:
                    verdict = "met (3 % of floor)"
                elif mf is None:
                    verdict = "below (no floor run)"
                else:
                    verdict = "below"
                print("%-9s %-6s %3s %7d  %s %s %s %s" % (
                    mta, sock, s, len(xn), tn, tf, te, verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
