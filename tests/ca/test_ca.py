#!/usr/bin/python3
"""Tests of the RFC 8823 test CA (smime-test-ca.py) using acmeclient.py.

Starts the CA in a temporary directory with --relay pointing at an SMTP
capture server run by this script, drives it over HTTPS and SMTP, and
prints one "PASS: name", "FAIL: name: why" or "SKIP: name: why" line per
case.  Exit status 1 if any case failed.  KEEP=1 keeps the directory.
"""

import json
import os
import re
import shutil
import signal
import smtplib
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import dkim  # noqa: E402
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

from acmeclient import (AcmeClient, AcmeProblem, b64u,  # noqa: E402
                        compose_reply, dkim_sign, find_email_challenge,
                        generate_key, make_csr, parse_challenge_subject,
                        rfc8823_response, subject_of)

PY = "/usr/bin/python3"
CA_PROG = os.path.join(HERE, "smime-test-ca.py")
REQUIRED_H = ["from", "sender", "reply-to", "to", "cc", "subject", "date",
              "in-reply-to", "references", "message-id", "auto-submitted",
              "content-type", "content-transfer-encoding"]
SHOULD_H = ["resent-date", "resent-from", "resent-to", "resent-cc",
            "list-id", "list-help", "list-unsubscribe", "list-subscribe",
            "list-post", "list-owner", "list-archive",
            "list-unsubscribe-post"]

failures = 0


def report(kind, name, why=""):
    global failures
    if kind == "FAIL":
        failures += 1
    print("%s: %s%s" % (kind, name, (": " + why) if why else ""),
          flush=True)


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def expect_problem(fn, short, status=None):
    """Run fn, require an AcmeProblem of the given type; return it."""
    try:
        fn()
    except AcmeProblem as e:
        check(e.short == short, "expected %s, got %s (%s)" %
              (short, e.short, e.detail))
        check(status is None or e.status == status,
              "expected HTTP %s, got %s" % (status, e.status))
        check(e.detail, "problem without detail")
        check("replay-nonce" in e.headers, "error without Replay-Nonce")
        check(e.headers.get("content-type", "").startswith(
            "application/problem+json"), "error not problem+json")
        return e
    raise Fail("expected %s, request succeeded" % short)


# ------------------------------------------------------- SMTP capture

class Capture:
    """Mail sink for the CA's challenge mails."""

    def __init__(self):
        self.mails = []
        self.cond = threading.Condition()

    def add(self, rcpts, data):
        with self.cond:
            for r in rcpts:
                self.mails.append((r, data))
            self.cond.notify_all()

    def wait(self, rcpt, timeout=10, after=0):
        """Raw bytes of the n-th (after) mail to rcpt."""
        end = time.time() + timeout
        with self.cond:
            while True:
                got = [d for r, d in self.mails if r == rcpt]
                if len(got) > after:
                    return got[after]
                left = end - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def count(self, rcpt):
        with self.cond:
            return len([1 for r, _ in self.mails if r == rcpt])


def capture_server(cap):
    class H(socketserver.StreamRequestHandler):
        def out(self, s):
            self.wfile.write(s.encode() + b"\r\n")

        def handle(self):
            self.out("220 capture")
            rcpts = []
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                v = line[:4].upper()
                if v == b"EHLO":
                    self.out("250-capture")
                    self.out("250-8BITMIME")
                    self.out("250 SMTPUTF8")
                elif v == b"HELO":
                    self.out("250 capture")
                elif v == b"MAIL":
                    rcpts = []
                    self.out("250 ok")
                elif v == b"RCPT":
                    m = re.search(rb"<([^>]*)>", line)
                    rcpts.append(m.group(1).decode())
                    self.out("250 ok")
                elif v == b"DATA":
                    self.out("354 go")
                    data = b""
                    while True:
                        dl = self.rfile.readline()
                        if dl in (b".\r\n", b""):
                            break
                        if dl.startswith(b"."):
                            dl = dl[1:]
                        data += dl
                    cap.add(rcpts, data)
                    self.out("250 queued")
                elif v == b"QUIT":
                    self.out("221 bye")
                    return
                else:
                    self.out("250 ok")

    class S(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = S(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


# ------------------------------------------------------------ fixture

class World:
    def __init__(self, tmp, base=None, name="ca",
                 extra=("--eab-required",)):
        self.tmp = tmp
        self.extra = list(extra)
        self.state = os.path.join(tmp, name)
        self.proc = None
        if base is not None:   # second CA sharing the mail side
            self.cap, self.smtp = base.cap, base.smtp
            self.dkim_pem, self.reply_keys = base.dkim_pem, base.reply_keys
            return
        self.cap = Capture()
        self.smtp = capture_server(self.cap)
        # reply-side DKIM key of example.test, selector "sel"
        self.dkim_key = rsa.generate_private_key(65537, 2048)
        self.dkim_pem = self.dkim_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption())
        spki = self.dkim_key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        import base64
        self.reply_keys = os.path.join(tmp, "reply-keys.txt")
        with open(self.reply_keys, "w") as f:
            f.write("sel._domainkey.example.test v=DKIM1; k=rsa; p=%s\n"
                    % base64.b64encode(spki).decode())

    def start(self):
        self.log = open(self.state + ".stderr", "w")
        self.proc = subprocess.Popen(
            [PY, CA_PROG, "--state", self.state, "--relay",
             "127.0.0.1:%d" % self.smtp.server_address[1],
             "--reply-keys", self.reply_keys, "--cert-days", "30"]
            + self.extra,
            stdout=self.log, stderr=subprocess.STDOUT)
        ready = os.path.join(self.state, "ready")
        end = time.time() + 20
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.time() > end:
                raise Fail("CA did not become ready (see ca.stderr)")
            time.sleep(0.05)
        self.env = {}
        with open(os.path.join(self.state, "ca.env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                self.env[k] = v.strip("'")
        self.ctx = ssl.create_default_context(cafile=self.env["CA_TRUST"])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        return self.proc.returncode if self.proc else None

    # -- helpers
    def client(self, alg="ES256", account=True):
        c = AcmeClient(self.env["CA_URL"], alg=alg,
                       cafile=self.env["CA_TRUST"])
        if account:
            c.new_account(contact=["mailto:admin@example.test"],
                          eab_kid=self.env.get("CA_EAB_KID"),
                          eab_hmac=self.env.get("CA_EAB_HMAC"))
        return c

    def get(self, path):
        base = self.env["CA_URL"].rsplit("/", 1)[0]
        with urllib.request.urlopen(base + path, context=self.ctx,
                                    timeout=10) as r:
            return r.read()

    def post_config(self, **kw):
        base = self.env["CA_URL"].rsplit("/", 1)[0]
        req = urllib.request.Request(base + "/_test/config",
                                     data=json.dumps(kw).encode(),
                                     method="POST")
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            return json.loads(r.read())

    def state_doc(self):
        return json.loads(self.get("/_test/state"))

    def dkim_txt(self, name, timeout=5):
        with open(self.env["CA_DKIM_KEYS"]) as f:
            for line in f:
                k, _, v = line.strip().partition(" ")
                if k.lower() == name.decode().rstrip(".").lower():
                    return v.encode()
        return None

    def send_reply(self, raw, mail_from="alice@example.test"):
        opts = [] if mail_from.isascii() else ["SMTPUTF8"]
        with smtplib.SMTP("127.0.0.1", int(self.env["CA_SMTP_PORT"]),
                          timeout=10) as s:
            s.sendmail(mail_from, [self.env["CA_FROM"]], raw,
                       mail_options=opts)

    def start_order(self, c, addr):
        """newOrder + authz fetch + challenge mail; returns dict."""
        ourl, order = c.new_order([addr])
        azurl = order["authorizations"][0]
        az = c.get_authz(azurl)
        ch = find_email_challenge(az)
        mail = self.cap.wait(addr, after=self.cap.count(addr))
        return {"order_url": ourl, "order": order, "authz_url": azurl,
                "authz": az, "chall": ch, "mail": mail}

    def start_order_mail(self, c, addr):
        n = self.cap.count(addr)
        f = self.start_order(c, addr)
        f["mail"] = self.cap.wait(addr, after=n)
        check(f["mail"] is not None, "no challenge mail to %s" % addr)
        return f

    def answer(self, c, f, addr, rule="octet", sign=True, from_addr=None,
               digest=None):
        part1 = parse_challenge_subject(subject_of(f["mail"]))
        d = digest or rfc8823_response(part1, f["chall"]["token"],
                                       c.thumbprint(), rule)
        raw = compose_reply(f["mail"], from_addr or addr, d)
        if sign:
            dom = (from_addr or addr).rpartition("@")[2]
            raw = dkim_sign(raw, "sel", dom, self.dkim_pem)
        self.send_reply(raw, from_addr or addr)

    def issue(self, c, addr, rule="octet", key=None, usage=(
            "digital_signature", "key_encipherment")):
        f = self.start_order_mail(c, addr)
        self.answer(c, f, addr, rule)
        c.post_challenge(f["chall"]["url"])
        az = c.poll_authz(f["authz_url"])
        check(az["status"] == "valid", "authz %s: %s" % (
            az["status"], find_email_challenge(az).get("error")))
        o = c.poll_order(f["order_url"])
        check(o["status"] == "ready", "order %s" % o["status"])
        key = key or generate_key("ES256")
        o = c.finalize(f["order_url"], make_csr(key, [addr], usage))
        check(o["status"] == "valid", "order after finalize %s" %
              o["status"])
        chain, alts = c.download(o["certificate"])
        f.update(key=key, chain=chain, alts=alts, final=o)
        return f

    def openssl_verify(self, chain, root, name):
        certs = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END "
                           r"CERTIFICATE-----\n?", chain, re.S)
        leaf = os.path.join(self.tmp, name + "-leaf.pem")
        rest = os.path.join(self.tmp, name + "-chain.pem")
        with open(leaf, "w") as fh:
            fh.write(certs[0])
        with open(rest, "w") as fh:
            fh.write("".join(certs[1:]))
        r = subprocess.run(["openssl", "verify", "-CAfile", root,
                            "-untrusted", rest, "-purpose", "smimesign",
                            leaf], capture_output=True, text=True)
        return r.returncode == 0, (r.stdout + r.stderr).strip()

    def expect_invalid(self, c, f, errtype, detail_re):
        az = c.get_authz(f["authz_url"])
        ch = find_email_challenge(az)
        check(ch["status"] == "invalid", "challenge is %s" % ch["status"])
        err = ch.get("error") or {}
        check(err.get("type") == "urn:ietf:params:acme:error:" + errtype,
              "error type %r" % err.get("type"))
        check(re.search(detail_re, err.get("detail", ""), re.I),
              "detail %r" % err.get("detail"))
        check(az["status"] == "invalid", "authz is %s" % az["status"])
        o = c.get_order(f["order_url"])
        check(o["status"] == "invalid", "order is %s" % o["status"])


# -------------------------------------------------------------- cases

def t_vectors(w):
    T = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    B = ("AQIDBAUGBwgJCgsMDQ4PEA", "ZWZnaGlqa2xtbm9wcXJzdA")
    check(rfc8823_response(*B, T, "string") ==
          "naq__E_26ebkVwq1YhdpsiZPraD1hceej5vGKJpuNLU", "B string")
    check(rfc8823_response(*B, T, "octet") ==
          "IEoA29bQxDAYCcbrADHduxNZe3zWwgmgXZssOshZftM", "B octet")
    T = "hC4xyXNn8ZDH4yrcp93Zj3qgQs7LyT_GUL45YD7IVMQ"
    D = ("V4nE8NhYh6edBpfQTg5qqQ", "x6I65YvEk6xC4KV0QMvdJw")
    check(rfc8823_response(*D, T, "octet") ==
          "Fjt2SD7KoqSt3I6jwgg8ljjkP9Er7h1w0wF0UihvQIU", "D octet")
    check(rfc8823_response(*D, T, "string") ==
          "gtzugYfQ1gO_Pi-ripWZTUtKP_xzPoQe-brDkSOvX5c", "D string")


def t_directory(w):
    c = AcmeClient(w.env["CA_URL"], cafile=w.env["CA_TRUST"])
    d = c.directory()
    for k in ("newNonce", "newAccount", "newOrder", "revokeCert",
              "keyChange", "renewalInfo"):
        check(k in d, "directory lacks %s" % k)
    check(d["meta"].get("termsOfService"), "no termsOfService")
    check(d["meta"].get("externalAccountRequired") is True,
          "externalAccountRequired not set")
    r = c.http("HEAD", d["newNonce"])
    check(r.status == 200 and r.headers.get("replay-nonce"), "HEAD nonce")
    check(r.headers.get("cache-control") == "no-store", "no-store missing")
    check(r.links("index"), "Link rel=index missing")
    r = c.http("GET", d["newNonce"])
    check(r.status == 204, "GET newNonce status %d" % r.status)
    r = c.http("GET", d["newOrder"])
    check(r.status == 405, "GET on newOrder gave %d" % r.status)


def t_eab_missing(w):
    c = w.client(account=False)
    expect_problem(lambda: c.new_account(contact=["mailto:a@example.test"]),
                   "externalAccountRequired")
    expect_problem(lambda: c.new_account(eab_kid="kid-1",
                                         eab_hmac=b64u(b"x" * 32)),
                   "unauthorized")
    expect_problem(lambda: c.new_account(eab_kid="kid-1",
                                         eab_hmac=w.env["CA_EAB_HMAC"],
                                         tos=None), "userActionRequired")


def t_account_es256(w):
    c = w.client("ES256")
    check(c.account_status == 201, "newAccount status %d" % c.account_status)
    check(c.kid and "/acct/" in c.kid, "no account URL")
    again = AcmeClient(w.env["CA_URL"], key=c.key,
                       cafile=w.env["CA_TRUST"])
    again.new_account(only_existing=True)
    check(again.kid == c.kid and again.account_status == 200,
          "onlyReturnExisting did not find the account")
    other = w.client(account=False)
    expect_problem(lambda: other.new_account(only_existing=True),
                   "accountDoesNotExist")
    acct = c.account()
    check(acct["status"] == "valid", "account status")
    st = w.state_doc()
    check(any(a["url"] == c.kid and a["thumbprint"] == c.thumbprint()
              for a in st["accounts"]), "account not in /_test/state")


def t_account_rs256(w):
    c = w.client("RS256")
    check(c.account_status == 201, "newAccount status %d" % c.account_status)
    ourl, o = c.new_order(["rsa@example.test"])
    check(o["status"] == "pending", "order status")


def t_jws_checks(w):
    c = w.client()
    d = c.directory()
    # url mismatch
    nonce = c.nonce()
    from acmeclient import jws as mkjws
    body = json.dumps(mkjws(c.key, {"nonce": nonce, "url": d["newAccount"],
                                    "kid": c.kid}, {})).encode()
    r = c.http("POST", d["newOrder"], body,
               {"Content-Type": "application/jose+json"})
    check(r.status == 401 and r.json["type"].endswith("unauthorized"),
          "url mismatch gave %d %s" % (r.status, r.json))
    # nonce reuse
    body = json.dumps(mkjws(c.key, {"nonce": nonce, "url": d["newOrder"],
                                    "kid": c.kid},
                            {"identifiers": [{"type": "email", "value":
                                              "n@example.test"}]})).encode()
    r = c.http("POST", d["newOrder"], body,
               {"Content-Type": "application/jose+json"})
    check(r.status == 400 and r.json["type"].endswith("badNonce"),
          "reused nonce gave %d" % r.status)
    check(r.headers.get("replay-nonce"), "badNonce without fresh nonce")
    # jwk where kid is required
    r = c.post(d["newOrder"], {"identifiers": []}, use_jwk=True, check=False)
    check(r.status == 400 and r.json["type"].endswith("malformed"),
          "jwk on newOrder accepted")
    # wrong content type
    body = json.dumps(mkjws(c.key, {"nonce": c.nonce(), "url": d["newOrder"],
                                    "kid": c.kid}, {})).encode()
    r = c.http("POST", d["newOrder"], body,
               {"Content-Type": "application/json"})
    check(r.status == 415, "wrong Content-Type gave %d" % r.status)
    # bad signature
    j = mkjws(c.key, {"nonce": c.nonce(), "url": d["newOrder"],
                      "kid": c.kid}, {})
    j["signature"] = b64u(b"\0" * 64)
    r = c.http("POST", d["newOrder"], json.dumps(j).encode(),
               {"Content-Type": "application/jose+json"})
    check(r.status == 400 and "signature" in r.json["detail"],
          "bad signature accepted")


def t_challenge_mail_dkim(w):
    c = w.client()
    addr = "mailcheck@example.test"
    f = w.start_order_mail(c, addr)
    raw = f["mail"]
    check(dkim.verify(raw, dnsfunc=w.dkim_txt), "DKIM does not verify")
    d = dkim.DKIM(raw)
    d.verify(dnsfunc=w.dkim_txt)
    h = set(x.decode().lower() for x in d.include_headers)
    missing = [x for x in REQUIRED_H + SHOULD_H if x not in h]
    check(not missing, "h= lacks %s" % missing)
    check(d.domain == b"ca.test" and d.selector == b"ca", "d=/s= wrong")
    sf = d.signature_fields
    check(sf.get(b"c") == b"relaxed/relaxed", "c= %r" % sf.get(b"c"))
    check(sf.get(b"a") == b"rsa-sha256", "a= %r" % sf.get(b"a"))
    import email as em
    m = em.message_from_bytes(raw)
    check(m["From"] == w.env["CA_FROM"] == f["chall"]["from"], "From")
    check(m["To"] == addr, "To")
    check(m["Auto-Submitted"] == "auto-generated; type=acme",
          "Auto-Submitted %r" % m["Auto-Submitted"])
    for hn in ("Date", "Message-ID", "MIME-Version"):
        check(m[hn], "no %s" % hn)
    check(m.get_content_type() == "text/plain", "not text/plain")
    check(m["Content-Transfer-Encoding"] == "7bit", "CTE")
    part1 = parse_challenge_subject(m["Subject"])
    check(re.fullmatch(r"ACME: [A-Za-z0-9_-]{22}", m["Subject"]),
          "Subject %r" % m["Subject"])
    check(len(f["chall"]["token"]) == 22, "token-part2 length")
    check(f["chall"]["type"] == "email-reply-00", "challenge type")
    check(b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""),
          "bare LF in mail")
    # inspection endpoints: raw mail available, no tokens in /_test/mails
    got = w.get("/_test/challenge?email=" + addr)
    check(part1.encode() in got, "/_test/challenge lacks the mail")
    mails = w.get("/_test/mails")
    check(part1.encode() not in mails and f["chall"]["token"].encode()
          not in mails, "/_test/mails leaks tokens")
    check(addr.encode() in mails, "/_test/mails lacks the mailbox")
    with open(os.path.join(w.state, "ca.log"), "rb") as lf:
        logtext = lf.read()
    check(part1.encode() not in logtext and f["chall"]["token"].encode()
          not in logtext, "ca.log contains a token")


def t_issue_octet(w):
    c = w.client("ES256")
    f = w.issue(c, "alice@example.test", "octet")
    ok, out = w.openssl_verify(f["chain"], w.env["CA_ROOT"], "octet")
    check(ok, "openssl verify: %s" % out)
    leaf = x509.load_pem_x509_certificate(f["chain"].encode())
    san = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    check(san.get_values_for_type(x509.RFC822Name) ==
          ["alice@example.test"], "SAN")
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    check(ku.critical and ku.value.digital_signature and
          ku.value.key_encipherment and not ku.value.content_commitment,
          "keyUsage not taken from the CSR")
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    check(x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION in eku.value, "EKU")
    check(f["chain"].count("BEGIN CERTIFICATE") == 2, "chain length")
    check(len(f["alts"]) == 1, "alternate Link count %d" % len(f["alts"]))
    alt, _ = c.download(f["alts"][0])
    ok, out = w.openssl_verify(alt, w.env["CA_ALT_ROOT"], "octet-alt")
    check(ok, "alternate chain verify: %s" % out)
    ok, _ = w.openssl_verify(alt, w.env["CA_ROOT"], "octet-alt-wrong")
    check(not ok, "alternate chain verifies against the main root")
    # the knob: chains 1 offers the default chain only
    w.post_config(chains=1)
    try:
        one, alts = c.download(f["final"]["certificate"])
        check(one == f["chain"] and alts == [],
              "chains 1: %d alternates" % len(alts))
    finally:
        w.post_config(chains=2)
    w.issued = (c, f)


def t_issue_string_post_first(w):
    w.post_config(token_rule="string")
    try:
        c = w.client("RS256")
        addr = "bob@example.test"
        f = w.start_order_mail(c, addr)
        ch = c.post_challenge(f["chall"]["url"])   # POST before the reply
        check(ch["status"] == "processing", "challenge %s" % ch["status"])
        w.answer(c, f, addr, "string")
        az = c.poll_authz(f["authz_url"])
        check(az["status"] == "valid", "authz %s" % az["status"])
        key = generate_key("RS256")
        o = c.finalize(f["order_url"], make_csr(key, [addr], usage=None))
        chain, _ = c.download(o["certificate"])
        ok, out = w.openssl_verify(chain, w.env["CA_ROOT"], "string")
        check(ok, "openssl verify: %s" % out)
        leaf = x509.load_pem_x509_certificate(chain.encode())
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        check(ku.digital_signature and ku.content_commitment and
              ku.key_encipherment, "default keyUsage")
    finally:
        w.post_config(token_rule="octet")


def t_wrong_rule_rejected(w):
    c = w.client()
    addr = "rule@example.test"
    f = w.start_order_mail(c, addr)
    w.answer(c, f, addr, "string")   # CA uses octet
    w.expect_invalid(c, f, "incorrectResponse", "digest")


def t_wrong_digest(w):
    c = w.client()
    addr = "carol@example.test"
    f = w.start_order_mail(c, addr)
    w.answer(c, f, addr, digest=b64u(b"\1" * 32))
    w.expect_invalid(c, f, "incorrectResponse", "digest")


def t_unsigned_reply(w):
    c = w.client()
    addr = "dave@example.test"
    f = w.start_order_mail(c, addr)
    w.answer(c, f, addr, sign=False)
    w.expect_invalid(c, f, "unauthorized", "not DKIM-signed")


def t_reply_other_address(w):
    c = w.client()
    addr = "erin@example.test"
    f = w.start_order_mail(c, addr)
    w.answer(c, f, addr, from_addr="mallory@example.test")
    w.expect_invalid(c, f, "unauthorized", "not the identifier")


def t_reply_bad_dkim_domain(w):
    c = w.client()
    addr = "frank@example.test"
    f = w.start_order_mail(c, addr)
    part1 = parse_challenge_subject(subject_of(f["mail"]))
    d = rfc8823_response(part1, f["chall"]["token"], c.thumbprint())
    raw = compose_reply(f["mail"], addr, d)
    raw = dkim_sign(raw, "sel", "example.test", w.dkim_pem,
                    headers=["from", "to", "subject", "date"])
    w.send_reply(raw, addr)
    w.expect_invalid(c, f, "unauthorized", "h= lacks")


def t_strict_post_early(w):
    w.post_config(strict_post=True)
    try:
        c = w.client()
        addr = "grace@example.test"
        f = w.start_order_mail(c, addr)
        c.post_challenge(f["chall"]["url"])
        w.expect_invalid(c, f, "incorrectResponse",
                         "before the response mail arrived")
        # a correct reply afterwards does not revive it
        w.answer(c, f, addr)
        az = c.get_authz(f["authz_url"])
        check(az["status"] == "invalid", "authz revived")
        # strict mode still issues when the reply comes first
        w.issue(c, "grace2@example.test")
    finally:
        w.post_config(strict_post=False)


def t_send_on_post(w):
    w.post_config(send_on="post")
    try:
        c = w.client()
        addr = "henry@example.test"
        f = w.start_order(c, addr)
        time.sleep(0.5)
        check(w.cap.count(addr) == 0, "mail sent before POST")
        c.post_challenge(f["chall"]["url"])
        f["mail"] = w.cap.wait(addr)
        check(f["mail"] is not None, "no mail after POST")
        w.answer(c, f, addr)
        az = c.poll_authz(f["authz_url"])
        check(az["status"] == "valid", "authz %s" % az["status"])
    finally:
        w.post_config(send_on="authz")


def t_badnonce_retry(w):
    # rate 1: every signed request is refused once; the retry with the
    # error's nonce always passes (the CA spares that nonce)
    before = w.state_doc()["counts"]["badnonce_injected"]
    w.post_config(badnonce_rate=1)
    try:
        c = w.client()
        w.issue(c, "ivan@example.test")
        injected = w.state_doc()["counts"]["badnonce_injected"] - before
        check(c.badnonce_seen > 0, "no badNonce seen at rate 1")
        check(c.badnonce_seen == injected, "client retried %d times, CA "
              "injected %d" % (c.badnonce_seen, injected))
    finally:
        w.post_config(badnonce_rate=0)


def t_ratelimit_and_500(w):
    w.post_config(ratelimit_once=True, finalize_500_once=True)
    c = w.client()
    d = c.directory()
    r = c.post(d["newOrder"], {"identifiers": [
        {"type": "email", "value": "judy@example.test"}]}, check=False)
    check(r.status == 429 and r.json["type"].endswith("rateLimited"),
          "no 429: %d" % r.status)
    check(r.headers.get("retry-after") == "1", "Retry-After missing")
    f = w.start_order_mail(c, "judy@example.test")
    w.answer(c, f, "judy@example.test")
    c.post_challenge(f["chall"]["url"])
    c.poll_order(f["order_url"])
    o = c.get_order(f["order_url"])
    r = c.post(o["finalize"], {"csr": b64u(make_csr(
        generate_key(), ["judy@example.test"]))}, check=False)
    check(r.status == 500 and r.json["type"].endswith("serverInternal"),
          "no 500: %d" % r.status)
    o = c.finalize(f["order_url"], make_csr(generate_key(),
                                            ["judy@example.test"]))
    check(o["status"] == "valid", "finalize after 500: %s" % o["status"])


def ready_order(w, c, addr):
    f = w.start_order_mail(c, addr)
    w.answer(c, f, addr)
    c.post_challenge(f["chall"]["url"])
    o = c.poll_order(f["order_url"])
    check(o["status"] == "ready", "order %s" % o["status"])
    return f


def t_bad_csr(w):
    c = w.client()
    addr = "kim@example.test"
    f = ready_order(w, c, addr)
    key = generate_key()
    extra = [(x509.ExtendedKeyUsage(
        [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), False)]
    e = expect_problem(lambda: c.finalize(
        f["order_url"], make_csr(key, [addr], extra_extensions=extra)),
        "badCSR")
    check("not allowed" in e.detail, "detail %r" % e.detail)
    e = expect_problem(lambda: c.finalize(
        f["order_url"], make_csr(key, [addr, "x@example.test"])), "badCSR")
    check("do not equal" in e.detail, "detail %r" % e.detail)
    o = c.finalize(f["order_url"], make_csr(key, [addr]))
    check(o["status"] == "valid", "order after badCSR %s" % o["status"])


def t_order_not_ready(w):
    c = w.client()
    f = w.start_order(c, "leo@example.test")
    expect_problem(lambda: c.post(f["order"]["finalize"], {
        "csr": b64u(make_csr(generate_key(), ["leo@example.test"]))}),
        "orderNotReady", 403)


def t_identifiers(w):
    c = w.client()
    expect_problem(lambda: c.new_order(["*@example.test"]),
                   "rejectedIdentifier")
    expect_problem(lambda: c.new_order(["not-an-address"]),
                   "rejectedIdentifier")
    expect_problem(lambda: c.new_order(["example.test"], id_type="dns"),
                   "unsupportedIdentifier")
    expect_problem(lambda: c.new_order(["m@example.test"], id_type="dns"),
                   "unsupportedIdentifier")


def t_multi_identifier(w):
    c = w.client()
    a, b = "multi1@example.test", "multi2@example.test"
    na, nb = w.cap.count(a), w.cap.count(b)
    ourl, order = c.new_order([a, b])
    check(len(order["authorizations"]) == 2, "two authorizations")
    for azurl in order["authorizations"]:
        az = c.get_authz(azurl)
        addr = az["identifier"]["value"]
        f = {"authz_url": azurl, "order_url": ourl,
             "chall": find_email_challenge(az),
             "mail": w.cap.wait(addr, after=na if addr == a else nb)}
        w.answer(c, f, addr)
        c.post_challenge(f["chall"]["url"])
    o = c.poll_order(ourl)
    check(o["status"] == "ready", "order %s" % o["status"])
    o = c.finalize(ourl, make_csr(generate_key(), [b, a]))
    chain, _ = c.download(o["certificate"])
    leaf = x509.load_pem_x509_certificate(chain.encode())
    san = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    check(sorted(san.get_values_for_type(x509.RFC822Name)) == [a, b],
          "SANs")


def t_eai_address(w):
    c = w.client()
    addr = "j\u00fcrgen@example.test"
    f = w.issue(c, addr)
    leaf = x509.load_pem_x509_certificate(f["chain"].encode())
    san = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    other = san.get_values_for_type(x509.OtherName)
    check(len(other) == 1 and other[0].type_id.dotted_string ==
          "1.3.6.1.5.5.7.8.9", "no SmtpUTF8Mailbox otherName")
    check(other[0].value[2:].decode("utf-8") == addr, "otherName value")


def t_revoke(w):
    c = w.client()
    f1 = w.issue(c, "rev1@example.test")
    f2 = w.issue(c, "rev2@example.test")
    expect_problem(lambda: c.revoke(f1["chain"], reason=2),
                   "badRevocationReason")
    other = w.client()
    expect_problem(lambda: other.revoke(f1["chain"]), "unauthorized", 403)
    r = c.revoke(f1["chain"], reason=4)
    check(r.status == 200, "revoke by account %d" % r.status)
    expect_problem(lambda: c.revoke(f1["chain"]), "alreadyRevoked")
    r = c.revoke(f2["chain"], reason=1, cert_key=f2["key"])
    check(r.status == 200, "revoke by cert key %d" % r.status)
    wrong = generate_key()
    w2 = w.issue(c, "rev3@example.test")
    expect_problem(lambda: c.revoke(w2["chain"], cert_key=wrong),
                   "unauthorized")
    st = w.state_doc()
    revs = {r["serial"]: r for r in st["revoked"]}
    s1 = format(x509.load_pem_x509_certificate(
        f1["chain"].encode()).serial_number, "x")
    s2 = format(x509.load_pem_x509_certificate(
        f2["chain"].encode()).serial_number, "x")
    check(revs.get(s1, {}).get("reason") == 4 and revs[s1]["by"] ==
          "account", "revocation 1 not in state")
    check(revs.get(s2, {}).get("reason") == 1 and revs[s2]["by"] ==
          "certkey", "revocation 2 not in state")


def t_renewal_info(w):
    c = w.client()
    f = w.issue(c, "ari@example.test")
    st = w.state_doc()
    leaf = x509.load_pem_x509_certificate(f["chain"].encode())
    serial = format(leaf.serial_number, "x")
    ari = [x["ari_id"] for x in st["certificates"] if x["serial"] ==
           serial][0]
    aki = leaf.extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier).value.key_identifier
    check(ari.split(".")[0] == b64u(aki), "ARI id AKI part")
    d = c.directory()
    r = c.http("GET", d["renewalInfo"] + "/" + ari)
    check(r.status == 200, "renewalInfo status %d" % r.status)
    win = r.json["suggestedWindow"]
    import datetime
    start = datetime.datetime.strptime(win["start"], "%Y-%m-%dT%H:%M:%SZ")
    nb, na = leaf.not_valid_before, leaf.not_valid_after
    check(nb + (na - nb) / 2 < start < na, "window not in the last part")
    check(r.headers.get("retry-after"), "no Retry-After")


def t_key_change_deactivate(w):
    c = w.client()
    old_kid = c.kid
    c.key_change(generate_key("RS256"))
    check(c.account()["status"] == "valid", "account after key change")
    o = AcmeClient(w.env["CA_URL"], key=c.key, cafile=w.env["CA_TRUST"])
    o.new_account(only_existing=True)
    check(o.kid == old_kid, "new key does not find the account")
    acct = c.deactivate()
    check(acct["status"] == "deactivated", "not deactivated")
    expect_problem(lambda: c.new_order(["z@example.test"]), "unauthorized",
                   401)


def t_authz_expiry_and_retry_after(w):
    c = w.client()
    f = w.start_order(c, "poll@example.test")
    r = c.get(f["authz_url"])
    check(r.retry_after == 1, "Retry-After on pending authz")
    check(r.json.get("expires"), "authz without expires")
    r = c.get(f["order_url"])
    check(r.retry_after == 1, "Retry-After on pending order")


def t_smime_dns_variant(w):
    """Second CA: --smime, --dns-identifiers, --token-rule string,
    --part1-len 18, --mail-delay; certbot-style dns identifier holding an
    address, S/MIME-signed challenge mail verified with openssl."""
    w2 = World(w.tmp, base=w, name="ca2", extra=[
        "--smime", "--dns-identifiers", "--token-rule", "string",
        "--part1-len", "18", "--from", "acme@ca2.test", "--mail-delay",
        "0.2"])
    try:
        w2.start()
        check(w2.env["CA_FROM"] == "acme@ca2.test", "CA_FROM")
        check("CA_EAB_KID" not in w2.env, "EAB advertised")
        c = w2.client()
        addr = "smime@example.test"
        ourl, order = c.new_order([addr], id_type="dns")
        az = c.get_authz(order["authorizations"][0])
        check(az["identifier"] == {"type": "dns", "value": addr},
              "identifier %r" % az["identifier"])
        ch = find_email_challenge(az)
        check(ch["from"] == "acme@ca2.test", "challenge from")
        raw = w.cap.wait(addr, after=0)
        check(raw is not None, "no challenge mail")
        import email as em
        m = em.message_from_bytes(raw)
        check(m.get_content_type() == "multipart/signed", "not "
              "multipart/signed: %s" % m.get_content_type())
        check("DKIM-Signature" not in m, "DKIM-signed in --smime mode")
        part1 = parse_challenge_subject(m["Subject"])
        check(len(part1) == 24, "part1 of 18 octets expected")
        mail = os.path.join(w.tmp, "smime.eml")
        with open(mail, "wb") as fh:
            fh.write(raw)
        signer = os.path.join(w.tmp, "signer.pem")
        r = subprocess.run(["openssl", "smime", "-verify", "-in", mail,
                            "-CAfile", w2.env["CA_ROOT"], "-purpose",
                            "smimesign", "-signer", signer, "-out",
                            os.devnull], capture_output=True, text=True)
        check(r.returncode == 0, "openssl smime -verify: %s" %
              r.stderr.strip())
        scert = x509.load_pem_x509_certificate(open(signer, "rb").read())
        san = scert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        check(san.get_values_for_type(x509.RFC822Name) == ["acme@ca2.test"],
              "signer rfc822Name")
        inner = m.get_payload()[0]
        check(inner.get_content_type() == "message/rfc822",
              "no header protection (message/rfc822 inner part)")
        f = {"mail": raw, "chall": ch, "authz_url":
             order["authorizations"][0], "order_url": ourl}
        w2.answer(c, f, addr, "string")
        c.post_challenge(ch["url"])
        o = c.poll_order(ourl)
        check(o["status"] == "ready", "order %s" % o["status"])
        o = c.finalize(ourl, make_csr(generate_key(), [addr],
                                      dns_names=[addr]))
        chain, _ = c.download(o["certificate"])
        ok, out = w2.openssl_verify(chain, w2.env["CA_ROOT"], "ca2")
        check(ok, "openssl verify: %s" % out)
        rc = w2.stop()
        check(rc == 0, "second CA exit status %r" % rc)
    finally:
        w2.stop()


def t_sigterm_exit(w):
    rc = w.stop()
    check(rc == 0, "exit status %r" % rc)
    s = socket.socket()
    try:
        err = s.connect_ex(("127.0.0.1", int(w.env["CA_HTTPS_PORT"])))
    finally:
        s.close()
    check(err != 0, "HTTPS port still open")
    check(not os.path.exists(os.path.join(w.state, "ready")),
          "ready file left behind")
    with open(os.path.join(w.state, "ca.log")) as fh:
        text = fh.read()
    check("Traceback" not in text, "internal error logged in ca.log")
    check("shutting down" in text, "no clean shutdown in ca.log")


CASES = [
    ("rfc8823_vectors", t_vectors),
    ("directory_nonce", t_directory),
    ("eab_required", t_eab_missing),
    ("account_es256", t_account_es256),
    ("account_rs256", t_account_rs256),
    ("jws_checks", t_jws_checks),
    ("challenge_mail_dkim", t_challenge_mail_dkim),
    ("issue_octet_es256", t_issue_octet),
    ("issue_string_rs256_post_first", t_issue_string_post_first),
    ("reply_wrong_token_rule", t_wrong_rule_rejected),
    ("reply_wrong_digest", t_wrong_digest),
    ("reply_unsigned", t_unsigned_reply),
    ("reply_other_address", t_reply_other_address),
    ("reply_short_h_list", t_reply_bad_dkim_domain),
    ("strict_post_early", t_strict_post_early),
    ("send_on_post", t_send_on_post),
    ("badnonce_retry", t_badnonce_retry),
    ("ratelimit_finalize_500", t_ratelimit_and_500),
    ("csr_extra_extension", t_bad_csr),
    ("order_not_ready", t_order_not_ready),
    ("identifiers_rejected", t_identifiers),
    ("multi_identifier", t_multi_identifier),
    ("eai_smtputf8mailbox", t_eai_address),
    ("revoke", t_revoke),
    ("renewal_info", t_renewal_info),
    ("key_change_deactivate", t_key_change_deactivate),
    ("poll_retry_after", t_authz_expiry_and_retry_after),
    ("smime_dns_string_variant", t_smime_dns_variant),
    ("sigterm_clean_exit", t_sigterm_exit),
]


def main():
    only = sys.argv[1:]
    tmp = tempfile.mkdtemp(prefix="smime-ca-test.")
    w = World(tmp)
    try:
        try:
            w.start()
        except Exception as e:
            report("FAIL", "ca_start", str(e))
            return 1
        for name, fn in CASES:
            if only and name not in only and name != "sigterm_clean_exit":
                continue
            try:
                fn(w)
                report("PASS", name)
            except Fail as e:
                report("FAIL", name, str(e))
            except AcmeProblem as e:
                report("FAIL", name, "unexpected ACME error %s" % e)
            except Exception as e:
                report("FAIL", name, "%s: %s" % (type(e).__name__, e))
                traceback.print_exc(file=sys.stderr)
    finally:
        w.stop()
        w.smtp.shutdown()
        w.smtp.server_close()
        if failures and os.environ.get("KEEP") == "1":
            print("# kept %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
