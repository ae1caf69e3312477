#!/usr/bin/python3
"""challenge-client.py: SMTP client and report of
tests/bench/challenge-latency.sh.

send: for i in 0..COUNT-1, one SMTP connection each, strictly one after the
other (latency, not throughput):
    challenge  DIR/challenge-<i>.eml to its address via --acme-port
    ordinary   DIR/ordinary-<i>.eml via --acme-port (same milter, no challenge)
    none       DIR/ordinary-<i>.eml via --none-port (no milter)
in a rotating order.  For each it records the time just before the final
"." is sent (t_dot) and when the reply to it arrives (t_250), as
"kind i rcpt t_dot t_250 code" lines on --log.

report: joins the log with the replies stored by capture-sendmail
(CAPDIR/*.eml: "X-Bench-Captured: <time> FROM TO", then the reply) via the
token in "Subject: Re: ACME: <token>", checks each reply's digest against
DIR/expected.tsv, and prints the figures.
"""
import argparse
import glob
import os
import re
import socket
import sys
import time


def expect(f, code, what):
    while True:
        line = f.readline()
        if not line:
            raise OSError("connection closed at " + what)
        if line[3:4] != b"-":
            break
    if not line.startswith(code):
        raise OSError("%s: %s" % (what, line.decode(errors="replace").strip()))
    return line


def transaction(port, mail_from, rcpt, data):
    """One SMTP transaction; returns (t_dot, t_250, reply code)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")

    def cmd(line, code):
        s.sendall(line.encode() + b"\r\n")
        expect(f, code, line.split(":")[0])

    try:
        expect(f, b"220", "greeting")
        cmd("EHLO client.bench.test", b"250")
        cmd("MAIL FROM:<%s>" % mail_from, b"250")
        cmd("RCPT TO:<%s>" % rcpt, b"250")
        cmd("DATA", b"354")
        s.sendall(data)
        t_dot = time.time()
        s.sendall(b".\r\n")
        line = f.readline()
        t_250 = time.time()
        try:
            s.sendall(b"QUIT\r\n")
            f.readline()
        except OSError:
            pass
        return t_dot, t_250, line[:3].decode(errors="replace")
    finally:
        f.close()
        s.close()


def smtp_data(path):
    with open(path, "rb") as fh:
        raw = fh.read()
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    # dot-stuffing, CRLF
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines)


def rcpt_of(data):
    m = re.search(rb"^To: .*<([^>]+)>", data, re.M)
    return m.group(1).decode()


def cmd_send(a):
    kinds = ["challenge", "ordinary", "none"]
    with open(a.log, "w") as log:
        for i in range(-a.warmup, a.count):
            j = i if i >= 0 else a.count + i  # warm-up reuses the last mails
            order = kinds[i % 3:] + kinds[:i % 3]
            for kind in order:
                if kind == "challenge":
                    if i < 0:
                        continue  # a challenge can only be answered once
                    data = smtp_data(os.path.join(a.dir, "challenge-%d.eml" % j))
                    port, mfrom = a.acme_port, a.ca_from
                else:
                    data = smtp_data(os.path.join(a.dir, "ordinary-%d.eml" % j))
                    port = a.acme_port if kind == "ordinary" else a.none_port
                    mfrom = "sender@example.org"
                rcpt = rcpt_of(data)
                try:
                    t_dot, t_250, code = transaction(port, mfrom, rcpt, data)
                except OSError as e:
                    print("%s %d: %s" % (kind, i, e), file=sys.stderr)
                    t_dot, t_250, code = 0, 0, "err"
                if i >= 0:
                    log.write("%s\t%d\t%s\t%.6f\t%.6f\t%s\n" % (kind, i, rcpt, t_dot, t_250, code))
            time.sleep(a.gap)
    return 0


def pct(v, p):
    if not v:
        return float("nan")
    v = sorted(v)
    k = max(1, -(-len(v) * p // 100))  # nearest rank
    return v[int(k) - 1]


def cmd_report(a):
    expected = {}
    with open(os.path.join(a.dir, "expected.tsv")) as fh:
        for line in fh:
            addr, part1, digest = line.rstrip("\n").split("\t")
            expected[part1] = (addr, digest)
    sent = {}
    rows = []
    with open(a.log) as fh:
        for line in fh:
            kind, i, rcpt, t_dot, t_250, code = line.rstrip("\n").split("\t")
            rows.append((kind, rcpt, float(t_dot), float(t_250), code))
            if kind == "challenge":
                sent[rcpt] = (float(t_dot), float(t_250), code)
    captured = {}
    bad_digest = 0
    for path in glob.glob(os.path.join(a.capdir, "*.eml")):
        with open(path, "rb") as fh:
            text = fh.read().decode(errors="replace")
        first = text.split("\n", 1)[0].split()
        t_cap = float(first[1])
        m = re.search(r"^Subject: Re: ACME: (\S+)", text, re.M)
        if not m or m.group(1) not in expected:
            continue
        addr, digest = expected[m.group(1)]
        body = text.replace("\r\n", "\n").split("\n\n", 1)[-1]
        if digest not in body.split():
            bad_digest += 1
        if addr in captured:
            bad_digest += 1  # answered twice
        captured[addr] = t_cap

    def ms(v):
        return [1000 * x for x in v]

    n = len(sent)
    lat_cap = ms([captured[r] - sent[r][0] for r in sent if r in captured])
    lat_ch250 = ms([t2 - t1 for k, r, t1, t2, c in rows if k == "challenge" and c == "250"])
    lat_ord = ms([t2 - t1 for k, r, t1, t2, c in rows if k == "ordinary" and c == "250"])
    lat_none = ms([t2 - t1 for k, r, t1, t2, c in rows if k == "none" and c == "250"])
    errors = sum(1 for k, r, t1, t2, c in rows if c != "250")
    missing = n - len(lat_cap)

    def line(label, v, ref):
        med, p99 = pct(v, 50), pct(v, 99)
        rm = "%7.2f" % (med / pct(ref, 50)) if ref else "      -"
        print("   %-50s %6d %9.2f %9.2f %s" % (label, len(v), med, p99, rm))
        return med

    print("== challenge-latency: %s" % a.label)
    print("   %d challenges, each its own SMTP connection, one at a time; times in ms"
          % n)
    print()
    print("   %-50s %6s %9s %9s %7s" % ("", "n", "median", "p99", "x ref"))
    line("reference: ordinary mail, \".\" -> 250, same milter", lat_ord, None)
    line("ordinary mail, \".\" -> 250, no milter", lat_none, lat_ord)
    line("challenge, \".\" -> 250", lat_ch250, lat_ord)
    med = line("challenge, \".\" -> reply captured", lat_cap, lat_ord)
    print()
    print("   target: challenge \".\" -> reply captured median < 10 ms: %.2f ms %s"
          % (med, "(met)" if med < 10 else "(not met)"))
    print("   replies: %d of %d captured, %d wrong digest or duplicate; SMTP errors: %d"
          % (len(lat_cap), n, bad_digest, errors))
    print("   x ref: median / median of the reference (ordinary mail through the same milter)")
    return 0 if (missing == 0 and bad_digest == 0 and errors == 0) else 1


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--dir", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--acme-port", type=int, required=True)
    s.add_argument("--none-port", type=int, required=True)
    s.add_argument("--ca-from", default="acme-challenge@ca.test")
    s.add_argument("--log", required=True)
    s.add_argument("--warmup", type=int, default=5)
    s.add_argument("--gap", type=float, default=0.005)
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--capdir", required=True)
    r.add_argument("--label", default="smime-acme-milter")
    a = ap.parse_args()
    return cmd_send(a) if a.cmd == "send" else cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
