#!/usr/bin/python3
"""imapfetch.py: wait for a mail over IMAP and print or save it.

    imapfetch.py --port PORT [--tls-ca FILE] --user USER [--password PW]
                 [--subject REGEX] [--timeout S] [--out FILE] [--count]

Logs in (IMAPS when --tls-ca is given, checking the server certificate
against it), polls INBOX until a message whose Subject matches REGEX
(default: any) exists, writes its raw RFC822 bytes to --out (default
stdout).  --count only prints the number of messages in INBOX.
Password defaults to $MAIL_PASSWORD.  Exit 0 found, 1 timeout, 2 error.
"""

import argparse
import email
import email.header
import imaplib
import os
import re
import ssl
import sys
import time


def decoded_subject(raw):
    msg = email.message_from_bytes(raw)
    parts = email.header.decode_header(msg.get("Subject", ""))
    return "".join(p.decode(c or "ascii", "replace") if isinstance(p, bytes) else p
                   for p, c in parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-ca")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", default=os.environ.get("MAIL_PASSWORD"))
    ap.add_argument("--subject", default="")
    ap.add_argument("--timeout", type=float, default=20)
    ap.add_argument("--out")
    ap.add_argument("--count", action="store_true")
    a = ap.parse_args()
    try:
        if a.tls_ca:
            ctx = ssl.create_default_context(cafile=a.tls_ca)
            c = imaplib.IMAP4_SSL(a.host, a.port, ssl_context=ctx)
        else:
            c = imaplib.IMAP4(a.host, a.port)
        c.login(a.user, a.password)
    except (OSError, imaplib.IMAP4.error, ssl.SSLError) as e:
        print("imap login failed: %s" % e, file=sys.stderr)
        return 2
    pat = re.compile(a.subject)
    end = time.time() + a.timeout
    try:
        while True:
            typ, data = c.select("INBOX")
            n = int(data[0])
            if a.count:
                print(n)
                return 0
            for i in range(n, 0, -1):
                typ, d = c.fetch(str(i), "(RFC822)")
                raw = d[0][1]
                if pat.search(decoded_subject(raw)):
                    if a.out:
                        with open(a.out, "wb") as f:
                            f.write(raw)
                    else:
                        sys.stdout.buffer.write(raw)
                    return 0
            if time.time() > end:
                print("no matching mail after %gs" % a.timeout, file=sys.stderr)
                return 1
            time.sleep(0.3)
    finally:
        try:
            c.logout()
        except Exception:
            pass


if __name__ == "__main__":
    sys.exit(main())
