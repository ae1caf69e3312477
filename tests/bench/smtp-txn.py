#!/usr/bin/python3
"""smtp-txn.py: time single SMTP transactions, interleaved between ports.

    smtp-txn.py N NAME=PORT [NAME=PORT...]

For each of N rounds, one transaction per port in turn (rotated order):
connect + banner, EHLO, MAIL, RCPT, DATA + "." + QUIT, each timed.  Prints
per port the median and p90 of the whole transaction and the median of the
stages in milliseconds.  Exit status 1 if any transaction failed.
"""

import smtplib
import statistics
import sys
import time

MSG = (b"From: Bob <bob@elsewhere.test>\r\nTo: <zoe@example.test>\r\n"
       b"Subject: timing\r\nMessage-ID: <%d.%d@elsewhere.test>\r\n\r\n"
       + b"x" * 70 + b"\r\n") 


def one(port, i):
    t = [time.perf_counter()]
    s = smtplib.SMTP("127.0.0.1", port, timeout=120)
    t.append(time.perf_counter())
    s.ehlo("client.test")
    t.append(time.perf_counter())
    code, _ = s.mail("bob@elsewhere.test")
    t.append(time.perf_counter())
    code2, _ = s.rcpt("zoe@example.test")
    t.append(time.perf_counter())
    code3, _ = s.data(MSG % (port, i))
    s.quit()
    t.append(time.perf_counter())
    if code != 250 or code2 != 250 or code3 != 250:
        raise RuntimeError("codes %s %s %s" % (code, code2, code3))
    return [(b - a) * 1000 for a, b in zip(t, t[1:])]


def main():
    n = int(sys.argv[1])
    ports = [(a.split("=")[0], int(a.split("=")[1])) for a in sys.argv[2:]]
    res = {name: [] for name, _ in ports}
    for i in range(n):
        order = ports[i % len(ports):] + ports[:i % len(ports)]
        for name, port in order:
            res[name].append(one(port, i))
    print("%-12s %9s %9s   %s" % ("config", "median", "p90", "stages (median ms): connect ehlo mail rcpt data+quit"))
    for name, _ in ports:
        tot = sorted(sum(r) for r in res[name])
        st = [statistics.median(r[k] for r in res[name]) for k in range(5)]
        print("%-12s %7.1fms %7.1fms   %s" % (name, statistics.median(tot),
              tot[int(len(tot) * 0.9) - 1], " ".join("%.1f" % x for x in st)))


if __name__ == "__main__":
    main()
