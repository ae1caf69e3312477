#!/usr/bin/python3
"""dkimverify.py: verify the first DKIM signature of a mail, keys from a file.

    dkimverify.py [--keys FILE] [--require-h NAMES] [--d-is-from] MAILFILE

--keys: OpenDKIM TestPublicKeys file ("sel._domainkey.dom TXT" lines;
default $DKIM_KEYS), so no DNS is used.  Leading smtp-sink pseudo headers
(X-Client-Addr ... X-Rcpt-Args) are dropped first.  --require-h: comma
separated header names that must all be in h= (e.g. the RFC 8823 list).
--d-is-from: d= must equal the From address's domain.
Prints "pass d=DOMAIN s=SELECTOR h=..." and exits 0, else prints
"fail: reason" and exits 1.
"""

import argparse
import email
import email.policy
import email.utils
import os
import re
import sys

import dkim

SINK_HDRS = re.compile(rb"^(X-Client-Addr|X-Client-Proto|X-Helo-Args|X-Mail-Args|X-Rcpt-Args):",
                       re.I)


def load_keys(path):
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, _, txt = line.partition(" ")
            if not txt:
                name, _, txt = line.partition("\t")
            keys[name.strip().rstrip(".").lower()] = txt.strip().encode()
    return keys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", default=os.environ.get("DKIM_KEYS"))
    ap.add_argument("--require-h", default="")
    ap.add_argument("--d-is-from", action="store_true")
    ap.add_argument("mail")
    a = ap.parse_args()
    if not a.keys:
        print("fail: no --keys and no DKIM_KEYS")
        return 1
    keys = load_keys(a.keys)
    raw = open(a.mail, "rb").read()
    lines = raw.splitlines(keepends=True)
    while lines and SINK_HDRS.match(lines[0]):
        lines.pop(0)
    raw = b"".join(lines).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")

    def dnsfunc(name, timeout=5):
        n = name.decode() if isinstance(name, bytes) else name
        return keys.get(n.rstrip(".").lower())

    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    sig = msg.get("DKIM-Signature")
    if sig is None:
        print("fail: no DKIM-Signature")
        return 1
    tags = {}
    for part in re.sub(r"\s+", "", str(sig)).split(";"):
        k, _, v = part.partition("=")
        if k:
            tags[k] = v
    try:
        ok = dkim.DKIM(raw).verify(dnsfunc=dnsfunc)
    except dkim.DKIMException as e:
        print("fail: %s" % e)
        return 1
    if not ok:
        print("fail: signature does not verify (d=%s s=%s)" % (tags.get("d"), tags.get("s")))
        return 1
    hset = {h.lower() for h in tags.get("h", "").split(":")}
    missing = [h for h in a.require_h.split(",") if h and h.lower() not in hset]
    if missing:
        print("fail: h= lacks %s" % ",".join(missing))
        return 1
    if a.d_is_from:
        frm = email.utils.parseaddr(str(msg.get("From", "")))[1]
        if frm.rpartition("@")[2].lower() != tags.get("d", "").lower():
            print("fail: d=%s but From domain is %s" % (tags.get("d"), frm.rpartition("@")[2]))
            return 1
    print("pass d=%s s=%s h=%s" % (tags.get("d"), tags.get("s"), tags.get("h")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
