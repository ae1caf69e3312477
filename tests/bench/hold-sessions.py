#!/usr/bin/python3
"""hold-sessions.py: open COUNT SMTP sessions to a Postfix smtpd (and so
COUNT milter connections behind it) and hold each in the middle of a
transaction, for tests/bench/milter-memory.sh.

Even-numbered sessions stop after RCPT TO, odd ones inside DATA after the
headers and half a body (Postfix hands header and body to milters only at
end of message, so the milter sees these at its DATA stage).  Every
session names one recipient from --rcpt (a format with {i}) and one
ordinary recipient.

  hold-sessions.py --port PORT --count 100 --ready FILE --release FILE
                   [--rcpt 'hold{i}@bench.test'] [--timeout 120]

Writes "ok N" (sessions that reached their stopping point) to the ready
file, then waits until the release file exists (or --timeout) and closes
every connection without finishing the transaction.
"""
import argparse
import os
import socket
import sys
import time


def expect(f, code, what):
    """Read one SMTP reply (all its lines); check the code."""
    while True:
        line = f.readline()
        if not line:
            raise OSError("connection closed at " + what)
        if line[3:4] != b"-":
            break
    if not line.startswith(code):
        raise OSError("%s: %s" % (what, line.decode(errors="replace").strip()))


def open_session(port, i, rcpt, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    f = s.makefile("rb")

    def cmd(line, code):
        s.sendall(line.encode() + b"\r\n")
        expect(f, code, line.split(":")[0])

    expect(f, b"220", "greeting")
    cmd("EHLO client%d.bench.test" % i, b"250")
    cmd("MAIL FROM:<acme-challenge@ca.test>", b"250")
    cmd("RCPT TO:<%s>" % rcpt.format(i=i), b"250")
    cmd("RCPT TO:<ordinary%d@bench.test>" % i, b"250")
    if i % 2:
        cmd("DATA", b"354")
        head = (
            "From: <acme-challenge@ca.test>\r\n"
            "To: <%s>\r\n"
            "Subject: ACME: held%016dAAAA\r\n"
            "Auto-Submitted: auto-generated; type=acme\r\n"
            "Message-ID: <held-%d@ca.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            % (rcpt.format(i=i), i, i)
        )
        body = ("held in the middle of DATA " * 3 + "\r\n") * 24
        s.sendall(head.encode() + body.encode())
    return s, f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--rcpt", default="hold{i}@bench.test")
    ap.add_argument("--ready", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()

    held, errors = [], 0
    for i in range(a.count):
        try:
            held.append(open_session(a.port, i, a.rcpt, 30))
        except OSError as e:
            errors += 1
            print("session %d: %s" % (i, e), file=sys.stderr)
    # give smtpd/cleanup and the milter a moment to see the last DATA bytes
    time.sleep(0.5)
    with open(a.ready + ".tmp", "w") as r:
        r.write("ok %d\nerrors %d\n" % (len(held), errors))
    os.rename(a.ready + ".tmp", a.ready)
    end = time.monotonic() + a.timeout
    while not os.path.exists(a.release) and time.monotonic() < end:
        time.sleep(0.05)
    for s, f in held:
        try:
            f.close()
            s.close()
        except OSError:
            pass
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
