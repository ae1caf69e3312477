#!/usr/bin/python3
"""challenge-mails.py: the RFC 8823 challenge side of the benchmarks
(tests/bench/challenge-latency.sh, milter-memory.sh).

For COUNT addresses (--rcpt format with {i}) it writes
  * a spool entry per address into SPOOL/entries/<hex SHA-256 of the
    address, domain lower-cased> in the format of common/spool.c
    (spool_format): state awaiting, rule octet, expiring in a day;
  * with --key: a challenge mail per address, DKIM-signed (dkimpy) for
    the CA domain, into OUT/challenge-<i>.eml, and an ordinary mail of
    about the same size to ordinary<i>@<domain> into OUT/ordinary-<i>.eml;
  * OUT/expected.tsv: address, token-part1 and the response digest the
    milter must put into its reply (base64url(SHA-256(token "." thumbprint)),
    token = base64url(part1 octets || part2 octets)).

  challenge-mails.py --spool DIR --count N --out DIR
                     [--key ca.key --selector bench --ca-domain ca.test]
                     [--rcpt 'user{i}@bench.test']
"""
import argparse
import base64
import hashlib
import os
import sys
import time
from email.utils import formatdate


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def spool_key(addr):
    local, at, dom = addr.rpartition("@")
    norm = (local + at + dom.lower()) if at else addr
    return hashlib.sha256(norm.encode()).hexdigest()


def response(part1, part2, thumb):
    token = b64url(b64url_dec(part1) + b64url_dec(part2))
    return b64url(hashlib.sha256((token + "." + thumb).encode()).digest())


SIGNED = [b"from", b"sender", b"reply-to", b"to", b"cc", b"subject", b"date",
          b"in-reply-to", b"references", b"message-id", b"auto-submitted",
          b"content-type", b"content-transfer-encoding"]

BODY = (
    "This is an automatically generated ACME challenge for the e-mail\r\n"
    "address shown in the To header.  If you did not request a certificate\r\n"
    "for it, ignore this message.\r\n"
)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--spool", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--rcpt", default="user{i}@bench.test")
    ap.add_argument("--ca-domain", default="ca.test")
    ap.add_argument("--selector", default="bench")
    ap.add_argument("--key")
    a = ap.parse_args()

    sign = None
    if a.key:
        import dkim  # python3-dkim
        with open(a.key, "rb") as f:
            privkey = f.read()

        def sign(msg):
            return dkim.sign(msg, a.selector.encode(), a.ca_domain.encode(),
                             privkey, include_headers=SIGNED,
                             canonicalize=(b"relaxed", b"relaxed")) + msg

    ca_from = "acme-challenge@" + a.ca_domain
    now = int(time.time())
    os.makedirs(a.out, exist_ok=True)
    exp = []
    for i in range(a.count):
        addr = a.rcpt.format(i=i)
        part1 = b64url(os.urandom(16))
        part2 = b64url(os.urandom(16))
        thumb = b64url(os.urandom(32))
        entry = (
            "smime-acme-spool 1\n"
            "mailbox: %s\n"
            "from: %s\n"
            "token2: %s\n"
            "thumbprint: %s\n"
            "rule: octet\n"
            "state: awaiting\n"
            "created: %d\n"
            "expires: %d\n"
            "order: https://%s/acme/order/%d\n"
            "authz: https://%s/acme/authz/%d\n"
            "challenge: https://%s/acme/chall/%d\n"
            "answered-at: 0\n"
            "challenge-msgid: \n"
            "reason: \n"
        ) % (addr, ca_from, part2, thumb, now, now + 86400,
             a.ca_domain, i, a.ca_domain, i, a.ca_domain, i)
        path = os.path.join(a.spool, "entries", spool_key(addr))
        with open(path + ".tmp", "w") as f:
            f.write(entry)
        os.rename(path + ".tmp", path)
        exp.append("%s\t%s\t%s\n" % (addr, part1, response(part1, part2, thumb)))
        if sign is None:
            continue
        date = formatdate(localtime=True)
        msg = (
            "From: ACME CA <%s>\r\n"
            "To: <%s>\r\n"
            "Subject: ACME: %s\r\n"
            "Date: %s\r\n"
            "Message-ID: <chall-%d-%d@%s>\r\n"
            "Auto-Submitted: auto-generated; type=acme\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "\r\n" % (ca_from, addr, part1, date, now, i, a.ca_domain)
        ).encode() + BODY.encode()
        with open(os.path.join(a.out, "challenge-%d.eml" % i), "wb") as f:
            f.write(sign(msg))
        dom = addr.rpartition("@")[2]
        plain = (
            "From: Some Sender <sender@example.org>\r\n"
            "To: <ordinary%d@%s>\r\n"
            "Subject: an ordinary message %d\r\n"
            "Date: %s\r\n"
            "Message-ID: <ordinary-%d-%d@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "Content-Transfer-Encoding: 7bit\r\n"
            "X-Padding: %s\r\n"
            "\r\n" % (i, dom, i, date, now, i, "x" * 400)
        ).encode() + BODY.encode()
        with open(os.path.join(a.out, "ordinary-%d.eml" % i), "wb") as f:
            f.write(plain)
    with open(os.path.join(a.out, "expected.tsv"), "w") as f:
        f.writelines(exp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
