#!/usr/bin/python3
"""smime-test-ca: an RFC 8823 (ACME email-reply-00) test CA, test use only.

An ACME server (RFC 8555) over HTTPS on loopback that issues S/MIME
certificates for "email" identifiers after an RFC 8823 challenge/response
mail exchange:

  * the challenge mail ("Subject: ACME: <token-part1>", DKIM- or
    S/MIME-signed) is sent over plain SMTP to --relay;
  * replies are received by a small SMTP server on loopback (--smtp-port),
    DKIM-verified against the keys in --reply-keys and checked strictly
    (d= == From domain, h= list, From == identifier, threading, digest).

Everything (keys, roots, state files) lives under --state DIR; DIR/ca.env
tells other programs where to connect and what to trust.  Test-only
inspection endpoints live under /_test/ (no JWS, loopback clients only).
Only Debian packages are used: python3 stdlib, python3-cryptography,
python3-dkim.  Tokens and digests are never logged.
"""

import argparse
import base64
import datetime
import email
import email.header
import email.policy
import email.utils
import hashlib
import hmac
import http.server
import ipaddress
import json
import logging
import os
import random
import re
import secrets
import signal
import smtplib
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

import dkim
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    encode_dss_signature
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("smime-test-ca")

ERR = "urn:ietf:params:acme:error:"
# RFC 8823 section 3.1 (challenge) MUST list; the reply list is the same
# without Auto-Submitted (section 3.2).
CHALLENGE_H_MUST = ["from", "sender", "reply-to", "to", "cc", "subject",
                    "date", "in-reply-to", "references", "message-id",
                    "auto-submitted", "content-type",
                    "content-transfer-encoding"]
H_SHOULD = ["resent-date", "resent-from", "resent-to", "resent-cc",
            "list-id", "list-help", "list-unsubscribe", "list-subscribe",
            "list-post", "list-owner", "list-archive",
            "list-unsubscribe-post"]
REPLY_H_MUST = [h for h in CHALLENGE_H_MUST if h != "auto-submitted"]
REVOCATION_REASONS = {0, 1, 3, 4, 5}
OID_SMTPUTF8MAILBOX = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.9")
AUTHZ_LIFETIME = 24 * 3600
ORDER_LIFETIME = 24 * 3600
PROCESSING_TIME = 0.3


# ---------------------------------------------------------------- helpers

def b64u(data):
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_dec(text):
    """Strict base64url decoding: no padding, URL-safe alphabet only."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*",
                                                     text):
        raise ValueError("not unpadded base64url")
    if len(text) % 4 == 1:
        raise ValueError("bad base64url length")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class AcmeError(Exception):
    """An RFC 8555 problem document to send back."""

    def __init__(self, typ, detail, status=400, headers=None, extra=None):
        super().__init__(detail)
        self.typ = typ
        self.detail = detail
        self.status = status
        self.headers = headers or {}
        self.extra = extra or {}


# addr-spec (RFC 5322 dot-atom local part or quoted string, RFC 6531 UTF-8
# allowed), domain = dot-atom of LDH labels (U-labels allowed).
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
LOCAL_RE = re.compile(r"(?:%s+(?:\.%s+)*|\"(?:[^\"\\\r\n]|\\.)*\")"
                      % (ATEXT, ATEXT))
LABEL_RE = re.compile(r"[A-Za-z0-9\u0080-\U0010ffff]"
                      r"(?:[A-Za-z0-9\-\u0080-\U0010ffff]{0,61}"
                      r"[A-Za-z0-9\u0080-\U0010ffff])?")


def valid_addr_spec(value):
    """True if value is a bare addr-spec usable as an email identifier."""
    if not isinstance(value, str) or len(value) > 254 or value.count("@") < 1:
        return False
    local, _, domain = value.rpartition("@")
    if not local or not domain or len(local.encode()) > 64:
        return False
    if not LOCAL_RE.fullmatch(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    return all(LABEL_RE.fullmatch(lab) for lab in labels)


def norm_addr(value):
    """Comparison key: local part exact, domain case-insensitive."""
    local, _, domain = value.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return local + "@" + domain.lower()


def jwk_to_key(jwk):
    """Public key object for an RSA or EC JWK; raises AcmeError."""
    if not isinstance(jwk, dict):
        raise AcmeError(ERR + "malformed", "jwk is not an object")
    try:
        if jwk.get("kty") == "RSA":
            n = int.from_bytes(b64u_dec(jwk["n"]), "big")
            e = int.from_bytes(b64u_dec(jwk["e"]), "big")
            key = rsa.RSAPublicNumbers(e, n).public_key()
            if key.key_size < 2048:
                raise AcmeError(ERR + "badPublicKey",
                                "RSA account keys must have >= 2048 bits")
            return key
        if jwk.get("kty") == "EC":
            curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1()}.get(
                jwk.get("crv"))
            if curve is None:
                raise AcmeError(ERR + "badPublicKey",
                                "unsupported EC curve %r" % jwk.get("crv"))
            x = int.from_bytes(b64u_dec(jwk["x"]), "big")
            y = int.from_bytes(b64u_dec(jwk["y"]), "big")
            return ec.EllipticCurvePublicNumbers(x, y, curve).public_key()
    except AcmeError:
        raise
    except (KeyError, ValueError, TypeError) as e:
        raise AcmeError(ERR + "badPublicKey", "unusable jwk: %s" % e)
    raise AcmeError(ERR + "badPublicKey",
                    "unsupported key type %r" % jwk.get("kty"))


def jwk_thumbprint(jwk):
    """RFC 7638 SHA-256 thumbprint (base64url) of an RSA or EC JWK."""
    if jwk.get("kty") == "RSA":
        members = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
    else:
        members = {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"],
                   "y": jwk["y"]}
    data = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64u(hashlib.sha256(data.encode()).digest())


def key_to_jwk(pub):
    """JWK dict for a public key object (used for cert-key comparisons)."""
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        return {"kty": "RSA",
                "n": b64u(nums.n.to_bytes((nums.n.bit_length() + 7) // 8,
                                          "big")),
                "e": b64u(nums.e.to_bytes((nums.e.bit_length() + 7) // 8,
                                          "big"))}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        size = (pub.curve.key_size + 7) // 8
        nums = pub.public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384",
               "secp521r1": "P-521"}[pub.curve.name]
        return {"kty": "EC", "crv": crv, "x": b64u(nums.x.to_bytes(size,
                                                                 "big")),
                "y": b64u(nums.y.to_bytes(size, "big"))}
    raise ValueError("unsupported key")


def verify_jws_sig(alg, key, signing_input, sig):
    """Check a JWS signature; raises AcmeError on mismatch."""
    try:
        if alg == "RS256":
            if not isinstance(key, rsa.RSAPublicKey):
                raise AcmeError(ERR + "badSignatureAlgorithm",
                                "RS256 needs an RSA key")
            key.verify(sig, signing_input, padding.PKCS1v15(),
                       hashes.SHA256())
            return
        if alg in ("ES256", "ES384"):
            curve, size, h = {"ES256": ("secp256r1", 32, hashes.SHA256()),
                              "ES384": ("secp384r1", 48, hashes.SHA384())}[alg]
            if (not isinstance(key, ec.EllipticCurvePublicKey)
                    or key.curve.name != curve):
                raise AcmeError(ERR + "badSignatureAlgorithm",
                                "%s needs a key on %s" % (alg, curve))
            if len(sig) != 2 * size:
                raise AcmeError(ERR + "malformed",
                                "%s signature must be %d octets (R||S)"
                                % (alg, 2 * size))
            r = int.from_bytes(sig[:size], "big")
            s = int.from_bytes(sig[size:], "big")
            key.verify(encode_dss_signature(r, s), signing_input,
                       ec.ECDSA(h))
            return
    except InvalidSignature:
        raise AcmeError(ERR + "malformed", "JWS signature does not verify")
    raise AcmeError(ERR + "badSignatureAlgorithm",
                    "unsupported JWS algorithm %r" % alg,
                    extra={"algorithms": ["RS256", "ES256", "ES384"]})


def parse_flat_jws(obj, what="JWS"):
    """Split a flattened JWS object into (protected dict, payload bytes,
    signing input, signature)."""
    if not isinstance(obj, dict):
        raise AcmeError(ERR + "malformed", "%s is not a JSON object" % what)
    if set(obj) - {"protected", "payload", "signature"}:
        raise AcmeError(ERR + "malformed",
                        "%s must be flattened JSON with only protected, "
                        "payload and signature (no unprotected header)" % what)
    for k in ("protected", "payload", "signature"):
        if not isinstance(obj.get(k), str):
            raise AcmeError(ERR + "malformed", "%s lacks %r" % (what, k))
    try:
        prot = json.loads(b64u_dec(obj["protected"]))
        payload = b64u_dec(obj["payload"])
        sig = b64u_dec(obj["signature"])
    except ValueError as e:
        raise AcmeError(ERR + "malformed", "%s: bad encoding: %s" % (what, e))
    if not isinstance(prot, dict):
        raise AcmeError(ERR + "malformed", "%s protected header is not an "
                        "object" % what)
    signing_input = (obj["protected"] + "." + obj["payload"]).encode("ascii")
    return prot, payload, signing_input, sig


# ---------------------------------------------------------- PKI material

def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                         "smime-acme test"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_cert(subject_cn, key, issuer_cert, issuer_key, pathlen, days=3650,
             subject_name=None):
    subject = subject_name or _name(subject_cn)
    issuer = issuer_cert.subject if issuer_cert is not None else subject
    start = now() - datetime.timedelta(hours=1)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(start)
         .not_valid_after(start + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen),
                        critical=True)
         .add_extension(x509.KeyUsage(
             digital_signature=True, content_commitment=False,
             key_encipherment=False, data_encipherment=False,
             key_agreement=False, key_cert_sign=True, crl_sign=True,
             encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(
             key.public_key()), critical=False))
    akey = issuer_key.public_key() if issuer_key is not None else \
        key.public_key()
    b = b.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(akey),
        critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_file(path, data, mode=0o644):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(tmp, mode)
    os.rename(tmp, path)


class Pki:
    """All keys and certificates of the CA, generated fresh at start."""

    def __init__(self, state, ca_from, smime):
        self.dir = state
        domain = ca_from.rpartition("@")[2]
        p256 = ec.SECP256R1()
        # HTTPS: root -> server cert for 127.0.0.1 / localhost
        self.https_root_key = ec.generate_private_key(p256)
        self.https_root = _ca_cert("smime-acme Test HTTPS Root",
                                   self.https_root_key, None, None, 0)
        self.tls_key = ec.generate_private_key(p256)
        start = now() - datetime.timedelta(hours=1)
        self.tls_cert = (
            x509.CertificateBuilder().subject_name(_name("127.0.0.1"))
            .issuer_name(self.https_root.subject)
            .public_key(self.tls_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .add_extension(x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.https_root_key.public_key()), critical=False)
            .sign(self.https_root_key, hashes.SHA256()))
        # S/MIME: root -> intermediate; alternate root cross-signs the
        # same intermediate (same subject and key, different issuer).
        self.root_key = ec.generate_private_key(p256)
        self.root = _ca_cert("smime-acme Test Root", self.root_key, None,
                             None, 1)
        self.alt_root_key = ec.generate_private_key(p256)
        self.alt_root = _ca_cert("smime-acme Test Alternate Root",
                                 self.alt_root_key, None, None, 1)
        self.int_key = ec.generate_private_key(p256)
        self.intermediate = _ca_cert("smime-acme Test Intermediate",
                                     self.int_key, self.root, self.root_key,
                                     0, days=1825)
        self.intermediate_alt = _ca_cert(
            None, self.int_key, self.alt_root, self.alt_root_key, 0,
            days=1825, subject_name=self.intermediate.subject)
        self.int_aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
            self.int_key.public_key())
        # DKIM key of the CA domain, selector "ca"
        self.dkim_key = rsa.generate_private_key(65537, 2048)
        self.dkim_pem = self.dkim_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption())
        spki = self.dkim_key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.dkim_record = "v=DKIM1; k=rsa; p=" + base64.b64encode(
            spki).decode()
        self.dkim_line = "ca._domainkey.%s %s\n" % (domain, self.dkim_record)
        # S/MIME signer of challenge mails (rfc822Name = CA address)
        self.signer_key = self.signer_cert = None
        if smime:
            self.signer_key = ec.generate_private_key(p256)
            self.signer_cert = self._leaf(
                self.signer_key.public_key(), [ca_from],
                x509.KeyUsage(digital_signature=True, content_commitment=True,
                              key_encipherment=False, data_encipherment=False,
                              key_agreement=False, key_cert_sign=False,
                              crl_sign=False, encipher_only=False,
                              decipher_only=False), 365)
        self.files = {
            "trust": os.path.join(state, "https-root.pem"),
            "root": os.path.join(state, "root.pem"),
            "intermediate": os.path.join(state, "intermediate.pem"),
            "alt_root": os.path.join(state, "alt-root.pem"),
            "intermediate_alt": os.path.join(state, "intermediate-alt.pem"),
            "dkim_keys": os.path.join(state, "dkim-keys.txt"),
        }
        write_file(self.files["trust"], pem(self.https_root))
        write_file(os.path.join(state, "tls-cert.pem"),
                   pem(self.tls_cert) + pem(self.https_root))
        write_file(os.path.join(state, "tls-key.pem"), key_pem(self.tls_key),
                   0o600)
        write_file(self.files["root"], pem(self.root))
        write_file(self.files["alt_root"], pem(self.alt_root))
        write_file(self.files["intermediate"], pem(self.intermediate))
        write_file(self.files["intermediate_alt"], pem(self.intermediate_alt))
        write_file(os.path.join(state, "dkim.key"), self.dkim_pem, 0o600)
        write_file(self.files["dkim_keys"], self.dkim_line)
        if smime:
            write_file(os.path.join(state, "signer.pem"),
                       pem(self.signer_cert))
        self.pem_intermediate = pem(self.intermediate)
        self.pem_intermediate_alt = pem(self.intermediate_alt)

    def _leaf(self, pub, addrs, ku, days, cn=None):
        sans = []
        for a in addrs:
            local, _, domain = a.rpartition("@")
            try:
                adomain = domain.encode("idna").decode("ascii")
            except UnicodeError:
                adomain = domain
            if local.isascii():
                sans.append(x509.RFC822Name(local + "@" + adomain))
            else:
                raw = a.encode("utf-8")
                # DER UTF8String
                if len(raw) < 128:
                    der = bytes([0x0c, len(raw)]) + raw
                else:
                    der = bytes([0x0c, 0x81, len(raw)]) + raw
                sans.append(x509.OtherName(OID_SMTPUTF8MAILBOX, der))
        start = now() - datetime.timedelta(minutes=5)
        return (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(
                    NameOID.COMMON_NAME, (cn or addrs[0])[:64])]))
                .issuer_name(self.intermediate.subject)
                .public_key(pub)
                .serial_number(x509.random_serial_number())
                .not_valid_before(start)
                .not_valid_after(start + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False,
                                                     path_length=None),
                               critical=True)
                .add_extension(ku, critical=True)
                .add_extension(x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                .add_extension(x509.SubjectAlternativeName(sans),
                               critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub),
                               critical=False)
                .add_extension(self.int_aki, critical=False)
                .sign(self.int_key, hashes.SHA256()))

    def issue(self, pub, addrs, ku, days):
        return self._leaf(pub, addrs, ku, days)


def ari_cert_id(cert):
    """RFC 9773 certificate identifier: b64u(AKI keyid) "." b64u(serial)."""
    aki = cert.extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier).value.key_identifier
    serial = cert.serial_number
    raw = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    return b64u(aki) + "." + b64u(raw)


# --------------------------------------------------------- reply DKIM keys

class KeyStore:
    """DKIM public keys from TestPublicKeys-format files (no DNS)."""

    def __init__(self, files):
        self.keys = {}
        for path in files or []:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    line = line.strip()
                    if not line or line.startswith("#"):
                        continue
                    name, _, rec = line.partition(" ")
                    rec = rec.strip()
                    # tolerate quoted / split TXT strings
                    rec = "".join(re.findall(r'"([^"]*)"', rec)) or rec
                    self.keys[name.rstrip(".").lower()] = rec.encode()

    def dnsfunc(self, name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        return self.keys.get(name.rstrip(".").lower())


# ------------------------------------------------------------- CA state

class Ca:
    """ACME state machine; all mutable state guarded by self.lock."""

    def __init__(self, args, pki):
        self.args = args
        self.pki = pki
        self.lock = threading.RLock()
        self.nonces = {}
        self.accounts = {}        # id -> dict
        self.key_index = {}       # thumbprint -> account id
        self.orders = {}
        self.authzs = {}
        self.challs = {}
        self.certs = {}           # id -> dict
        self.cert_by_serial = {}
        self.msgid_index = {}     # challenge Message-ID -> chall id
        self.part1_index = {}     # token-part1 -> chall id
        self.mails = []
        self.replies = []
        self.replaced = set()
        self.counts = {"requests": 0, "badnonce_injected": 0,
                       "mails_sent": 0, "mails_failed": 0,
                       "replies": 0, "certificates": 0}
        self.config = {
            "token_rule": args.token_rule,
            "strict_post": args.strict_post,
            "badnonce_rate": args.badnonce_rate,
            "send_on": args.send_on,
            "mail_delay": args.mail_delay,
            "ratelimit_once": args.ratelimit_once,
            "ratelimit_count": 0,
            "finalize_500_once": args.finalize_500_once,
        }
        self.eab = None
        if args.eab_required:
            self.eab = {"kid-1": secrets.token_bytes(32)}
        self.reply_keys = KeyStore(args.reply_keys)
        self.base = None
        self.ca_domain = args.from_addr.rpartition("@")[2]

    # -- ids and nonces
    def new_id(self):
        return secrets.token_hex(8)

    def new_nonce(self):
        n = b64u(secrets.token_bytes(16))
        with self.lock:
            self.nonces[n] = True
            if len(self.nonces) > 200000:
                for k in list(self.nonces)[:50000]:
                    del self.nonces[k]
        return n

    def use_nonce(self, n):
        with self.lock:
            return self.nonces.pop(n, None) is not None

    def url(self, path):
        return self.base + path

    # -- serialisation
    def refresh_authz(self, az):
        if az["status"] in ("pending", "valid") and time.time() > \
                az["expires"]:
            az["status"] = "expired"
            ch = self.challs[az["chall"]]
            if ch["status"] in ("pending", "processing"):
                ch["status"] = "invalid"
                ch["error"] = problem_doc(ERR + "unauthorized",
                                          "authorization expired")

    def refresh_order(self, o):
        if o["status"] == "processing" and o.get("cert") and \
                time.time() >= o["ready_at"]:
            o["status"] = "valid"
        if o["status"] in ("pending", "ready") and time.time() > \
                o["expires"]:
            o["status"] = "invalid"
            o["error"] = problem_doc(ERR + "malformed", "order expired")
        if o["status"] == "pending":
            sts = []
            for aid in o["authzs"]:
                az = self.authzs[aid]
                self.refresh_authz(az)
                sts.append(az["status"])
            if any(s in ("invalid", "expired", "deactivated", "revoked")
                   for s in sts):
                o["status"] = "invalid"
            elif all(s == "valid" for s in sts):
                o["status"] = "ready"

    def chall_json(self, ch):
        d = {"type": "email-reply-00", "url": self.url("/chall/" + ch["id"]),
             "status": ch["status"], "token": ch["part2"],
             "from": self.args.from_addr}
        if ch.get("validated"):
            d["validated"] = ch["validated"]
        if ch.get("error"):
            d["error"] = ch["error"]
        return d

    def authz_json(self, az):
        self.refresh_authz(az)
        return {"identifier": az["identifier"], "status": az["status"],
                "expires": rfc3339(datetime.datetime.fromtimestamp(
                    az["expires"], datetime.timezone.utc)),
                "challenges": [self.chall_json(self.challs[az["chall"]])]}

    def order_json(self, o):
        self.refresh_order(o)
        d = {"status": o["status"],
             "expires": rfc3339(datetime.datetime.fromtimestamp(
                 o["expires"], datetime.timezone.utc)),
             "identifiers": o["identifiers"],
             "authorizations": [self.url("/authz/" + a) for a in o["authzs"]],
             "finalize": self.url("/order/%s/finalize" % o["id"])}
        if o["status"] == "valid":
            d["certificate"] = self.url("/cert/" + o["cert"])
        if o.get("error"):
            d["error"] = o["error"]
        if o.get("replaces"):
            d["replaces"] = o["replaces"]
        return d

    def account_json(self, a):
        d = {"status": a["status"], "contact": a["contact"],
             "termsOfServiceAgreed": True,
             "orders": self.url("/acct/%s/orders" % a["id"])}
        if a.get("eab"):
            d["externalAccountBinding"] = a["eab"]
        return d

    # -- challenge mail
    def trigger_mail(self, ch):
        """Send the challenge mail once (in the background)."""
        if ch["mail_state"] != "none":
            return
        ch["mail_state"] = "queued"
        t = threading.Thread(target=self._send_mail, args=(ch,), daemon=True)
        t.start()

    def _send_mail(self, ch):
        delay = float(self.config["mail_delay"] or 0)
        if delay > 0:
            time.sleep(delay)
        raw = ch["mail"]
        host, _, port = self.args.relay.rpartition(":")
        err = None
        for attempt in range(5):
            try:
                with smtplib.SMTP(host, int(port), timeout=30) as s:
                    opts = [] if ch["mailbox"].isascii() else ["SMTPUTF8"]
                    s.sendmail(self.args.from_addr, [ch["mailbox"]], raw,
                               mail_options=opts)
                err = None
                break
            except (OSError, smtplib.SMTPException) as e:
                err = e
                time.sleep(0.5 * (attempt + 1))
        with self.lock:
            rec = {"mailbox": ch["mailbox"], "message_id": ch["msgid"],
                   "time": rfc3339(now()), "challenge":
                   self.url("/chall/" + ch["id"]),
                   "status": "sent" if err is None else "failed"}
            if err is not None:
                rec["error"] = str(err)
                self.counts["mails_failed"] += 1
                ch["mail_state"] = "failed"
            else:
                self.counts["mails_sent"] += 1
                ch["mail_state"] = "sent"
            self.mails.append(rec)
        if err is None:
            log.info("challenge mail sent to %s (%s)", ch["mailbox"],
                     ch["msgid"])
        else:
            log.error("challenge mail to %s failed: %s", ch["mailbox"], err)

    def compose_mail(self, mailbox, part1, msgid):
        frm = self.args.from_addr
        hdrs = [("From", frm), ("To", mailbox), ("Subject", "ACME: " + part1),
                ("Date", email.utils.formatdate(localtime=False)),
                ("Message-ID", msgid),
                ("Auto-Submitted", "auto-generated; type=acme")]
        body = ("This message is an RFC 8823 ACME challenge for\r\n"
                "%s.\r\n\r\nIf you did not request an S/MIME certificate,"
                " ignore it.\r\nAn ACME-aware client answers it "
                "automatically.\r\n" % (mailbox if mailbox.isascii()
                                        else "your address"))
        if self.args.smime:
            return self._smime_mail(hdrs, body)
        text = "".join("%s: %s\r\n" % h for h in hdrs)
        text += ("MIME-Version: 1.0\r\n"
                 "Content-Type: text/plain; charset=us-ascii\r\n"
                 "Content-Transfer-Encoding: 7bit\r\n\r\n") + body
        raw = text.encode("utf-8")
        sig = dkim.sign(raw, b"ca", self.ca_domain.encode(),
                        self.pki.dkim_pem,
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=[h.encode() for h in
                                         CHALLENGE_H_MUST + H_SHOULD
                                         + ["mime-version"]])
        return sig + raw

    def _smime_mail(self, hdrs, body):
        """multipart/signed with header protection (RFC 8551 section 3.1:
        the signed part is a message/rfc822 copy of the whole message)."""
        inner_msg = "".join("%s: %s\r\n" % h for h in hdrs)
        inner_msg += ("MIME-Version: 1.0\r\nContent-Type: text/plain; "
                      "charset=us-ascii\r\nContent-Transfer-Encoding: 7bit"
                      "\r\n\r\n") + body
        inner = ("Content-Type: message/rfc822; forwarded=no\r\n"
                 "Content-Transfer-Encoding: 7bit\r\n\r\n" + inner_msg)
        inner_b = inner.encode("utf-8")
        sig = (pkcs7.PKCS7SignatureBuilder().set_data(inner_b)
               .add_signer(self.pki.signer_cert, self.pki.signer_key,
                           hashes.SHA256())
               .add_certificate(self.pki.intermediate)
               .sign(serialization.Encoding.DER,
                     [pkcs7.PKCS7Options.DetachedSignature,
                      pkcs7.PKCS7Options.Binary]))
        boundary = "=_smime_" + secrets.token_hex(12)
        b64 = base64.encodebytes(sig).decode().replace("\n", "\r\n")
        text = "".join("%s: %s\r\n" % h for h in hdrs)
        text += ("MIME-Version: 1.0\r\nContent-Type: multipart/signed; "
                 "protocol=\"application/pkcs7-signature\"; micalg=sha-256; "
                 "boundary=\"%s\"\r\n\r\n"
                 "This is an S/MIME signed message.\r\n"
                 "--%s\r\n%s\r\n--%s\r\n"
                 "Content-Type: application/pkcs7-signature; "
                 "name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n"
                 "Content-Disposition: attachment; filename=smime.p7s\r\n"
                 "\r\n%s\r\n--%s--\r\n"
                 % (boundary, boundary, inner, boundary, b64, boundary))
        return text.encode("utf-8")

    # -- token rule and digest
    def expected_digest(self, ch):
        acct = self.accounts[ch["account"]]
        if ch["rule"] == "string":
            token = ch["part1"] + ch["part2"]
        else:
            token = b64u(b64u_dec(ch["part1"]) + b64u_dec(ch["part2"]))
        ka = token + "." + acct["thumbprint"]
        return b64u(hashlib.sha256(ka.encode("ascii")).digest())

    # -- state changes on challenges
    def fail_chall(self, ch, typ, detail):
        ch["status"] = "invalid"
        ch["error"] = problem_doc(ERR + typ, detail)
        az = self.authzs[ch["authz"]]
        az["status"] = "invalid"
        o = self.orders[az["order"]]
        if o["status"] in ("pending", "ready"):
            o["status"] = "invalid"
            o["error"] = problem_doc(ERR + typ, "authorization for %s failed: "
                                     "%s" % (az["identifier"]["value"],
                                             detail))
        log.info("challenge %s for %s invalid: %s", ch["id"], ch["mailbox"],
                 detail)

    def maybe_valid(self, ch):
        if ch["status"] in ("pending", "processing") and ch["reply_ok"] and \
                ch["posted"]:
            ch["status"] = "valid"
            ch["validated"] = rfc3339(now())
            az = self.authzs[ch["authz"]]
            if az["status"] == "pending":
                az["status"] = "valid"
            self.refresh_order(self.orders[az["order"]])
            log.info("challenge %s for %s valid", ch["id"], ch["mailbox"])

    # -- reply processing (called by the SMTP server)
    def handle_reply(self, mail_from, rcpts, data):
        with self.lock:
            self.counts["replies"] += 1
        rec = {"time": rfc3339(now()), "mail_from": mail_from,
               "rcpts": rcpts, "size": len(data)}
        try:
            outcome = self._check_reply(data)
        except Exception as e:  # never fail the SMTP transaction
            log.exception("reply processing failed")
            outcome = "error: %s" % e
        rec["outcome"] = outcome
        with self.lock:
            self.replies.append(rec)
        log.info("reply from %s: %s", mail_from, outcome)

    def _check_reply(self, data):
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        # headers as text: RFC 6532 allows raw UTF-8 in header fields
        msg.hdr = email.message_from_string(
            data.decode("utf-8", "replace"), policy=email.policy.compat32)
        # 1. find the challenge: threading first, then Subject token
        subject = decode_header_text(msg.hdr.get("Subject", ""))
        m = re.search(r"ACME:\s*([A-Za-z0-9_\-\s]+=*)\s*$", subject)
        subj_token = re.sub(r"\s+", "", m.group(1)).rstrip("=") if m else None
        ids = []
        for h in ("In-Reply-To", "References"):
            for v in msg.hdr.get_all(h, []):
                ids += re.findall(r"<[^<>]+>", str(v))
        with self.lock:
            cid = None
            threaded = False
            for i in ids:
                if i in self.msgid_index:
                    cid = self.msgid_index[i]
                    threaded = True
                    break
            if cid is None and subj_token:
                cid = self.part1_index.get(subj_token)
            if cid is None:
                return "unmatched: no challenge found by In-Reply-To/" \
                       "References or Subject token"
            ch = self.challs[cid]
            if ch["status"] not in ("pending", "processing") or \
                    ch["reply_ok"]:
                return "ignored: challenge %s is %s" % (cid, ch["status"])
            az = self.authzs[ch["authz"]]
            self.refresh_authz(az)
            if az["status"] != "pending":
                return "ignored: authorization is %s" % az["status"]
        failure = self._reply_failure(msg, data, ch, threaded, subj_token)
        with self.lock:
            if ch["status"] not in ("pending", "processing"):
                return "ignored: challenge %s is %s" % (cid, ch["status"])
            if failure:
                self.fail_chall(ch, failure[0], failure[1])
                return "rejected (%s): %s" % (failure[0], failure[1])
            ch["reply_ok"] = True
            self.maybe_valid(ch)
            return "accepted for challenge %s" % cid

    def _reply_failure(self, msg, data, ch, threaded, subj_token):
        """None if the reply is good, else (error type, detail)."""
        # From: single mailbox equal to the identifier
        froms = msg.hdr.get_all("From", [])
        if len(froms) != 1:
            return ("unauthorized", "reply must have exactly one From "
                    "header field (has %d)" % len(froms))
        addrs = email.utils.getaddresses([decode_header_text(froms[0])])
        if len(addrs) != 1 or not addrs[0][1]:
            return ("unauthorized", "reply From is not a single mailbox")
        from_addr = addrs[0][1]
        # DKIM
        sigs = msg.get_all("DKIM-Signature", [])
        if not sigs:
            return ("unauthorized", "reply is not DKIM-signed")
        from_domain = from_addr.rpartition("@")[2]
        try:
            from_domain_a = from_domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            from_domain_a = from_domain.lower()
        dkim_detail = None
        for idx in range(len(sigs)):
            d = dkim.DKIM(data, minkey=1024)
            try:
                ok = d.verify(idx=idx, dnsfunc=self.reply_keys.dnsfunc)
            except dkim.DKIMException as e:
                dkim_detail = "DKIM verification failed: %s" % e
                continue
            if not ok:
                dkim_detail = "DKIM signature does not verify"
                continue
            dom = d.domain.decode("ascii", "replace").lower()
            if dom != from_domain_a:
                dkim_detail = ("DKIM d=%s does not equal the From domain %s"
                               % (dom, from_domain_a))
                continue
            signed = set(h.decode().lower() for h in d.include_headers)
            missing = [h for h in REPLY_H_MUST if h not in signed]
            if missing:
                dkim_detail = ("DKIM h= lacks header fields required by RFC "
                               "8823 section 3.2: %s" % ", ".join(missing))
                continue
            if b"l" in d.signature_fields:
                dkim_detail = "DKIM l= (body length limit) not accepted"
                continue
            dkim_detail = None
            break
        if dkim_detail:
            return ("unauthorized", dkim_detail)
        if norm_addr(from_addr) != norm_addr(ch["mailbox"]):
            return ("unauthorized", "reply From %s is not the identifier %s"
                    % (from_addr, ch["mailbox"]))
        if subj_token is not None and subj_token != ch["part1"]:
            return ("incorrectResponse", "reply Subject token does not match "
                    "the challenge")
        if subj_token is None and not threaded:
            return ("incorrectResponse", "reply neither threads to the "
                    "challenge nor carries its Subject token")
        for h in msg.hdr.keys():
            if h.lower().startswith("list-"):
                return ("incorrectResponse", "reply carries a %s header "
                        "field (List-* MUST be absent)" % h)
        text = reply_text(msg)
        if text is None:
            return ("incorrectResponse", "reply has no text/plain part")
        m = re.search(r"^-----BEGIN ACME RESPONSE-----[ \t]*\r?$(.*?)^"
                      r"-----END ACME RESPONSE-----", text, re.M | re.S)
        if not m:
            return ("incorrectResponse", "reply has no -----BEGIN ACME "
                    "RESPONSE----- ... -----END ACME RESPONSE----- block")
        got = re.sub(r"\s+", "", m.group(1)).rstrip("=")
        with self.lock:
            want = self.expected_digest(ch)
        if not hmac.compare_digest(got.encode(), want.encode()):
            return ("incorrectResponse", "digest in the ACME RESPONSE block "
                    "does not match the key authorization (token rule %s)"
                    % ch["rule"])
        return None


def decode_header_text(value):
    """RFC 2047-decode a header value to text (raw UTF-8 allowed, as in
    RFC 6532 headers)."""
    value = str(value)
    try:
        value = value.encode("ascii", "surrogateescape").decode("utf-8")
    except UnicodeError:
        pass
    if "=?" not in value:
        return value
    try:
        parts = email.header.decode_header(value)
    except Exception:
        return str(value)
    out = []
    for b, cs in parts:
        if isinstance(b, bytes):
            out.append(b.decode(cs or "ascii", "replace"))
        else:
            out.append(b)
    return "".join(out)


def reply_text(msg):
    """The text/plain content of a reply (text/plain or
    multipart/alternative containing text/plain)."""
    ctype = msg.get_content_type()
    if ctype == "text/plain":
        part = msg
    elif ctype == "multipart/alternative":
        part = None
        for p in msg.get_payload():
            if p.get_content_type() == "text/plain":
                part = p
                break
        if part is None:
            return None
    else:
        return None
    raw = part.get_payload(decode=True) or b""
    return raw.decode(part.get_content_charset() or "utf-8", "replace")


def problem_doc(typ, detail):
    return {"type": typ, "detail": detail}



# --------------------------------------------------------------- HTTP

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "smime-test-ca/1.0"
    timeout = 60
    ca = None  # set at start

    def log_message(self, fmt, *a):
        log.debug("%s %s", self.address_string(), fmt % a)

    # ------- plumbing
    def send(self, status, body=b"", ctype=None, headers=None, nonce=True):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, indent=1).encode()
            ctype = ctype or "application/json"
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if nonce:
            self.send_header("Replay-Nonce", self.ca.new_nonce())
            self.send_header("Cache-Control", "no-store")
        self.send_header("Link", '<%s>;rel="index"' % self.ca.url("/dir"))
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for x in v:
                    self.send_header(k, x)
            else:
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_problem(self, e):
        doc = {"type": e.typ, "detail": e.detail, "status": e.status}
        doc.update(e.extra)
        self.send(e.status, json.dumps(doc, indent=1).encode(),
                  "application/problem+json", e.headers)

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        with self.ca.lock:
            self.ca.counts["requests"] += 1
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1 << 20:
                self.close_connection = True
                raise AcmeError(ERR + "malformed", "request too large", 413)
            self.body = self.rfile.read(length) if length else b""
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/_test/"):
                return self.test_endpoint(method, path)
            route = self.route(method, path)
            route()
        except AcmeError as e:
            self.send_problem(e)
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as e:
            log.exception("internal error on %s %s", method, self.path)
            self.send_problem(AcmeError(ERR + "serverInternal",
                                        "internal error: %s" % e, 500))

    def route(self, method, path):
        parts = path.strip("/").split("/")
        if path == "/dir":
            self.need(method, ("GET",))
            return self.h_directory
        if path == "/new-nonce":
            self.need(method, ("GET", "HEAD"))
            return self.h_new_nonce
        if parts[0] == "renewal-info" and len(parts) == 2:
            self.need(method, ("GET",))
            return lambda: self.h_renewal_info(parts[1])
        if method in ("GET", "HEAD"):
            raise AcmeError(ERR + "malformed", "use POST-as-GET for %s" % path,
                            405, {"Allow": "POST"})
        if method != "POST":
            raise AcmeError(ERR + "malformed", "method not allowed", 405)
        table = {
            ("new-account",): self.h_new_account,
            ("new-order",): self.h_new_order,
            ("revoke-cert",): self.h_revoke,
            ("key-change",): self.h_key_change,
        }
        if tuple(parts) in table:
            return table[tuple(parts)]
        if parts[0] == "acct" and len(parts) == 2:
            return lambda: self.h_account(parts[1])
        if parts[0] == "acct" and len(parts) == 3 and parts[2] == "orders":
            return lambda: self.h_account_orders(parts[1])
        if parts[0] == "order" and len(parts) == 2:
            return lambda: self.h_order(parts[1])
        if parts[0] == "order" and len(parts) == 3 and parts[2] == "finalize":
            return lambda: self.h_finalize(parts[1])
        if parts[0] == "authz" and len(parts) == 2:
            return lambda: self.h_authz(parts[1])
        if parts[0] == "chall" and len(parts) == 2:
            return lambda: self.h_chall(parts[1])
        if parts[0] == "cert" and len(parts) in (2, 3):
            alt = len(parts) == 3 and parts[2] == "alt"
            if len(parts) == 3 and not alt:
                raise AcmeError(ERR + "malformed", "no such resource", 404)
            return lambda: self.h_cert(parts[1], alt)
        raise AcmeError(ERR + "malformed", "no such resource: %s" % path, 404)

    def need(self, method, allowed):
        if method not in allowed:
            raise AcmeError(ERR + "malformed", "method %s not allowed" %
                            method, 405, {"Allow": ", ".join(allowed)})

    # ------- JWS
    def jws(self, allow_jwk=False, require_jwk=False):
        """Verify the POSTed JWS; returns (protected, payload, account or
        None, jwk or None)."""
        ca = self.ca
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype.lower() != "application/jose+json":
            raise AcmeError(ERR + "malformed", "Content-Type must be "
                            "application/jose+json", 415)
        try:
            obj = json.loads(self.body)
        except ValueError:
            raise AcmeError(ERR + "malformed", "body is not JSON")
        prot, payload, signing_input, sig = parse_flat_jws(obj)
        alg = prot.get("alg")
        if alg not in ("RS256", "ES256", "ES384"):
            raise AcmeError(ERR + "badSignatureAlgorithm",
                            "unsupported JWS algorithm %r" % alg,
                            extra={"algorithms": ["RS256", "ES256",
                                                  "ES384"]})
        has_jwk, has_kid = "jwk" in prot, "kid" in prot
        if has_jwk == has_kid:
            raise AcmeError(ERR + "malformed", "protected header must have "
                            "exactly one of jwk and kid")
        if has_jwk and not allow_jwk:
            raise AcmeError(ERR + "malformed", "this resource requires kid, "
                            "not jwk")
        if has_kid and require_jwk:
            raise AcmeError(ERR + "malformed", "this resource requires jwk, "
                            "not kid")
        account = None
        if has_jwk:
            jwk = prot["jwk"]
            key = jwk_to_key(jwk)
            if isinstance(jwk, dict) and ("d" in jwk or "p" in jwk):
                raise AcmeError(ERR + "badPublicKey", "jwk contains private "
                                "key material")
        else:
            jwk = None
            kid = prot["kid"]
            prefix = ca.url("/acct/")
            aid = kid[len(prefix):] if isinstance(kid, str) and \
                kid.startswith(prefix) else None
            with ca.lock:
                account = ca.accounts.get(aid)
            if account is None:
                raise AcmeError(ERR + "accountDoesNotExist",
                                "kid %r is not a known account URL" % kid,
                                400)
            key = account["key"]
        verify_jws_sig(alg, key, signing_input, sig)
        nonce = prot.get("nonce")
        if not isinstance(nonce, str) or not ca.use_nonce(nonce):
            raise AcmeError(ERR + "badNonce", "nonce missing, unknown or "
                            "already used")
        rate = float(ca.config["badnonce_rate"] or 0)
        if rate > 0 and random.random() < rate:
            with ca.lock:
                ca.counts["badnonce_injected"] += 1
            raise AcmeError(ERR + "badNonce", "nonce rejected (test "
                            "injection); retry with the fresh nonce")
        want_url = ca.url(urllib.parse.urlsplit(self.path).path)
        if prot.get("url") != want_url:
            raise AcmeError(ERR + "unauthorized", "JWS url %r does not equal "
                            "the request URL %s" % (prot.get("url"),
                                                    want_url), 401)
        if account is not None and account["status"] != "valid":
            raise AcmeError(ERR + "unauthorized", "account is %s" %
                            account["status"], 401)
        return prot, payload, account, jwk

    def json_payload(self, payload, post_as_get_ok=False):
        """Decode a JSON object payload; None for POST-as-GET."""
        if payload == b"":
            if post_as_get_ok:
                return None
            raise AcmeError(ERR + "malformed", "empty payload not allowed "
                            "here")
        try:
            obj = json.loads(payload)
        except ValueError:
            raise AcmeError(ERR + "malformed", "payload is not JSON")
        if not isinstance(obj, dict):
            raise AcmeError(ERR + "malformed", "payload is not an object")
        return obj

    def owned(self, obj, account, what):
        if obj is None:
            raise AcmeError(ERR + "malformed", "no such %s" % what, 404)
        if obj["account"] != account["id"]:
            raise AcmeError(ERR + "unauthorized", "%s belongs to another "
                            "account" % what, 403)

    # ------- resources
    def h_directory(self):
        ca = self.ca
        d = {"newNonce": ca.url("/new-nonce"),
             "newAccount": ca.url("/new-account"),
             "newOrder": ca.url("/new-order"),
             "revokeCert": ca.url("/revoke-cert"),
             "keyChange": ca.url("/key-change"),
             "renewalInfo": ca.url("/renewal-info"),
             "meta": {"termsOfService": ca.url("/terms"),
                      "website": "https://ca.test/",
                      "caaIdentities": [ca.ca_domain]}}
        if ca.eab:
            d["meta"]["externalAccountRequired"] = True
        self.send(200, d)

    def h_new_nonce(self):
        self.send(200 if self.command == "HEAD" else 204)

    def h_new_account(self):
        ca = self.ca
        prot, payload, _, jwk = self.jws(allow_jwk=True, require_jwk=True)
        req = self.json_payload(payload)
        tp = jwk_thumbprint(jwk)
        with ca.lock:
            aid = ca.key_index.get(tp)
            existing = ca.accounts.get(aid) if aid else None
        if existing is not None:
            if existing["status"] != "valid":
                raise AcmeError(ERR + "unauthorized", "account is %s" %
                                existing["status"], 401)
            self.send(200, ca.account_json(existing), headers={
                "Location": ca.url("/acct/" + existing["id"])})
            return
        if req.get("onlyReturnExisting") is True:
            raise AcmeError(ERR + "accountDoesNotExist", "no account for this "
                            "key")
        if req.get("termsOfServiceAgreed") is not True:
            raise AcmeError(ERR + "userActionRequired", "termsOfServiceAgreed "
                            "must be true (see meta.termsOfService)", 403,
                            extra={"instance": ca.url("/terms")})
        contact = check_contact(req.get("contact", []))
        eab_doc = None
        if ca.eab:
            eab = req.get("externalAccountBinding")
            if eab is None:
                raise AcmeError(ERR + "externalAccountRequired", "this CA "
                                "requires externalAccountBinding")
            eprot, epayload, einput, esig = parse_flat_jws(
                eab, "externalAccountBinding")
            if eprot.get("alg") != "HS256":
                raise AcmeError(ERR + "badSignatureAlgorithm",
                                "externalAccountBinding alg must be HS256",
                                extra={"algorithms": ["HS256"]})
            if "nonce" in eprot:
                raise AcmeError(ERR + "malformed", "externalAccountBinding "
                                "must not carry a nonce")
            if eprot.get("url") != prot.get("url"):
                raise AcmeError(ERR + "malformed", "externalAccountBinding "
                                "url must equal the outer url")
            mac = ca.eab.get(eprot.get("kid"))
            if mac is None:
                raise AcmeError(ERR + "unauthorized", "unknown EAB key id "
                                "%r" % eprot.get("kid"), 401)
            want = hmac.new(mac, einput, hashlib.sha256).digest()
            if not hmac.compare_digest(want, esig):
                raise AcmeError(ERR + "unauthorized", "externalAccountBinding"
                                " MAC does not verify", 401)
            try:
                inner_jwk = json.loads(epayload)
                ok = jwk_thumbprint(inner_jwk) == tp
            except (ValueError, KeyError, TypeError, AttributeError):
                ok = False
            if not ok:
                raise AcmeError(ERR + "malformed", "externalAccountBinding "
                                "payload must be the account key")
            eab_doc = eab
        with ca.lock:
            if tp in ca.key_index:   # raced
                existing = ca.accounts[ca.key_index[tp]]
                self.send(200, ca.account_json(existing), headers={
                    "Location": ca.url("/acct/" + existing["id"])})
                return
            aid = ca.new_id()
            acct = {"id": aid, "status": "valid", "contact": contact,
                    "key": jwk_to_key(jwk), "jwk": jwk, "thumbprint": tp,
                    "created": rfc3339(now()), "orders": [], "eab": eab_doc}
            ca.accounts[aid] = acct
            ca.key_index[tp] = aid
        log.info("account %s created", aid)
        self.send(201, ca.account_json(acct),
                  headers={"Location": ca.url("/acct/" + aid)})

    def h_account(self, aid):
        ca = self.ca
        prot, payload, acct, _ = self.jws()
        if acct["id"] != aid:
            raise AcmeError(ERR + "unauthorized", "kid does not match the "
                            "account URL", 403)
        req = self.json_payload(payload, post_as_get_ok=True)
        with ca.lock:
            if req:
                if "status" in req:
                    if req["status"] != "deactivated":
                        raise AcmeError(ERR + "malformed", "only status "
                                        "'deactivated' may be requested")
                    acct["status"] = "deactivated"
                    for oid in acct["orders"]:
                        for a in ca.orders[oid]["authzs"]:
                            if ca.authzs[a]["status"] == "pending":
                                ca.authzs[a]["status"] = "deactivated"
                    log.info("account %s deactivated", aid)
                if "contact" in req:
                    acct["contact"] = check_contact(req["contact"])
            doc = ca.account_json(acct)
        self.send(200, doc, headers={"Location": ca.url("/acct/" + aid)})

    def h_account_orders(self, aid):
        ca = self.ca
        _, payload, acct, _ = self.jws()
        if acct["id"] != aid:
            raise AcmeError(ERR + "unauthorized", "not your account", 403)
        with ca.lock:
            urls = [ca.url("/order/" + o) for o in acct["orders"]
                    if ca.orders[o]["status"] in ("pending", "ready",
                                                  "processing")]
        self.send(200, {"orders": urls})

    def h_key_change(self):
        ca = self.ca
        prot, payload, acct, _ = self.jws()
        try:
            inner = json.loads(payload)
        except ValueError:
            raise AcmeError(ERR + "malformed", "keyChange payload is not a "
                            "JWS")
        iprot, ipayload, iinput, isig = parse_flat_jws(inner, "inner JWS")
        if "jwk" not in iprot or "kid" in iprot:
            raise AcmeError(ERR + "malformed", "inner JWS must have jwk "
                            "and no kid")
        if "nonce" in iprot:
            raise AcmeError(ERR + "malformed", "inner JWS must not carry a "
                            "nonce")
        if iprot.get("url") != prot.get("url"):
            raise AcmeError(ERR + "malformed", "inner JWS url must equal the "
                            "outer url")
        if iprot.get("alg") not in ("RS256", "ES256", "ES384"):
            raise AcmeError(ERR + "badSignatureAlgorithm", "unsupported "
                            "inner alg", extra={"algorithms": [
                                "RS256", "ES256", "ES384"]})
        new_key = jwk_to_key(iprot["jwk"])
        verify_jws_sig(iprot["alg"], new_key, iinput, isig)
        try:
            req = json.loads(ipayload)
        except ValueError:
            raise AcmeError(ERR + "malformed", "inner payload is not JSON")
        if not isinstance(req, dict) or req.get("account") != prot["kid"]:
            raise AcmeError(ERR + "malformed", "inner payload account must "
                            "equal the outer kid")
        try:
            old_ok = jwk_thumbprint(req.get("oldKey") or {}) == \
                acct["thumbprint"]
        except (KeyError, TypeError, AttributeError):
            old_ok = False
        if not old_ok:
            raise AcmeError(ERR + "malformed", "oldKey does not match the "
                            "account's current key")
        ntp = jwk_thumbprint(iprot["jwk"])
        with ca.lock:
            other = ca.key_index.get(ntp)
            if other is not None:
                raise AcmeError(ERR + "malformed", "the new key is already in "
                                "use by an account", 409,
                                {"Location": ca.url("/acct/" + other)})
            del ca.key_index[acct["thumbprint"]]
            acct["jwk"], acct["key"], acct["thumbprint"] = \
                iprot["jwk"], new_key, ntp
            ca.key_index[ntp] = acct["id"]
            doc = ca.account_json(acct)
        log.info("account %s rolled over its key", acct["id"])
        self.send(200, doc, headers={"Location": ca.url("/acct/" +
                                                        acct["id"])})

    def h_new_order(self):
        ca = self.ca
        _, payload, acct, _ = self.jws()
        req = self.json_payload(payload)
        with ca.lock:
            limited = False
            if ca.config["ratelimit_once"]:
                ca.config["ratelimit_once"] = False
                limited = True
            elif ca.config["ratelimit_count"] > 0:
                # a storm: the next N newOrder requests are refused
                ca.config["ratelimit_count"] -= 1
                limited = True
            if limited:
                raise AcmeError(ERR + "rateLimited", "too many new orders "
                                "(test injection); retry after 1 second",
                                429, {"Retry-After": "1"})
        idents = req.get("identifiers")
        if not isinstance(idents, list) or not idents:
            raise AcmeError(ERR + "malformed", "identifiers must be a "
                            "non-empty array")
        subs = []
        seen = set()
        clean = []
        for ident in idents:
            if not isinstance(ident, dict) or not isinstance(
                    ident.get("value"), str) or not isinstance(
                    ident.get("type"), str):
                raise AcmeError(ERR + "malformed", "identifier must be "
                                "{type, value}")
            typ, val = ident["type"], ident["value"]
            if typ == "dns" and ca.args.dns_identifiers and "@" in val:
                pass
            elif typ != "email":
                subs.append(problem_doc(ERR + "unsupportedIdentifier",
                                        "identifier type %r not supported "
                                        "(only email)" % typ))
                continue
            if "*" in val:
                subs.append(problem_doc(ERR + "rejectedIdentifier",
                                        "wildcard email identifier %r "
                                        "rejected (RFC 8823 section 3)"
                                        % val))
                continue
            if not valid_addr_spec(val):
                subs.append(problem_doc(ERR + "rejectedIdentifier",
                                        "%r is not a valid addr-spec" % val))
                continue
            k = norm_addr(val)
            if k in seen:
                raise AcmeError(ERR + "malformed", "duplicate identifier %r" %
                                val)
            seen.add(k)
            clean.append({"type": typ, "value": val})
        if subs:
            if len(subs) == 1:
                raise AcmeError(subs[0]["type"], subs[0]["detail"])
            raise AcmeError(ERR + "compound", "%d identifiers rejected" %
                            len(subs), extra={"subproblems": subs})
        replaces = req.get("replaces")
        with ca.lock:
            if replaces is not None:
                c = ca.find_cert_by_ari(replaces)
                if c is None or c["account"] != acct["id"]:
                    raise AcmeError(ERR + "malformed", "replaces names no "
                                    "certificate of this account")
                if replaces in ca.replaced:
                    raise AcmeError(ERR + "alreadyReplaced", "certificate "
                                    "already replaced", 409)
                ca.replaced.add(replaces)
            oid = ca.new_id()
            t = time.time()
            order = {"id": oid, "account": acct["id"], "status": "pending",
                     "identifiers": clean, "authzs": [], "expires":
                     t + ORDER_LIFETIME, "created": rfc3339(now()),
                     "replaces": replaces}
            for ident in clean:
                azid, cid = ca.new_id(), ca.new_id()
                part1 = b64u(secrets.token_bytes(ca.args.part1_len))
                part2 = b64u(secrets.token_bytes(ca.args.part2_len))
                msgid = "<%s@%s>" % (secrets.token_hex(12), ca.ca_domain)
                ch = {"id": cid, "authz": azid, "account": acct["id"],
                      "status": "pending", "part1": part1, "part2": part2,
                      "mailbox": ident["value"], "msgid": msgid,
                      "rule": ca.config["token_rule"], "posted": False,
                      "reply_ok": False, "mail_state": "none"}
                ch["mail"] = ca.compose_mail(ident["value"], part1, msgid)
                az = {"id": azid, "order": oid, "account": acct["id"],
                      "identifier": ident, "status": "pending",
                      "expires": t + AUTHZ_LIFETIME, "chall": cid,
                      "fetched": False}
                ca.challs[cid] = ch
                ca.authzs[azid] = az
                ca.msgid_index[msgid] = cid
                ca.part1_index[part1] = cid
                order["authzs"].append(azid)
            ca.orders[oid] = order
            acct["orders"].append(oid)
            doc = ca.order_json(order)
        log.info("order %s for %d identifier(s)", oid, len(clean))
        self.send(201, doc, headers={"Location": ca.url("/order/" + oid)})

    def h_order(self, oid):
        ca = self.ca
        _, payload, acct, _ = self.jws()
        if payload != b"":
            raise AcmeError(ERR + "malformed", "order URL takes POST-as-GET")
        with ca.lock:
            o = ca.orders.get(oid)
            self.owned(o, acct, "order")
            doc = ca.order_json(o)
        hdr = {"Location": ca.url("/order/" + oid)}
        if doc["status"] in ("pending", "processing"):
            hdr["Retry-After"] = "1"
        self.send(200, doc, headers=hdr)

    def h_authz(self, azid):
        ca = self.ca
        _, payload, acct, _ = self.jws()
        req = self.json_payload(payload, post_as_get_ok=True)
        with ca.lock:
            az = ca.authzs.get(azid)
            self.owned(az, acct, "authorization")
            ch = ca.challs[az["chall"]]
            if req is not None:
                if req != {"status": "deactivated"}:
                    raise AcmeError(ERR + "malformed", "authorization POST "
                                    "may only deactivate")
                if az["status"] in ("pending", "valid"):
                    az["status"] = "deactivated"
                    ca.refresh_order(ca.orders[az["order"]])
            elif not az["fetched"]:
                az["fetched"] = True
                if ca.config["send_on"] == "authz" and \
                        az["status"] == "pending":
                    ca.trigger_mail(ch)
            doc = ca.authz_json(az)
        hdr = {}
        if doc["status"] == "pending":
            hdr["Retry-After"] = "1"
        self.send(200, doc, headers=hdr)

    def h_chall(self, cid):
        ca = self.ca
        _, payload, acct, _ = self.jws()
        req = self.json_payload(payload, post_as_get_ok=True)
        with ca.lock:
            ch = ca.challs.get(cid)
            self.owned(ch, acct, "challenge")
            az = ca.authzs[ch["authz"]]
            ca.refresh_authz(az)
            if req is not None:
                if req:
                    raise AcmeError(ERR + "malformed", "email-reply-00 "
                                    "challenge response must be {}")
                if ch["status"] in ("pending", "processing") and \
                        az["status"] == "pending":
                    ch["posted"] = True
                    if ca.config["send_on"] == "post":
                        ca.trigger_mail(ch)
                    if ch["reply_ok"]:
                        ca.maybe_valid(ch)
                    elif ca.config["strict_post"] and \
                            ca.config["send_on"] != "post":
                        ca.fail_chall(ch, "incorrectResponse",
                                      "challenge triggered before the "
                                      "response mail arrived")
                    else:
                        ch["status"] = "processing"
            doc = ca.chall_json(ch)
        hdr = {"Link": ['<%s>;rel="up"' % ca.url("/authz/" + az["id"]),
                        '<%s>;rel="index"' % ca.url("/dir")]}
        if doc["status"] in ("pending", "processing"):
            hdr["Retry-After"] = "1"
        self.send(200, doc, headers=hdr)

    def h_finalize(self, oid):
        ca = self.ca
        _, payload, acct, _ = self.jws()
        req = self.json_payload(payload)
        with ca.lock:
            o = ca.orders.get(oid)
            self.owned(o, acct, "order")
            ca.refresh_order(o)
            if o["status"] != "ready":
                raise AcmeError(ERR + "orderNotReady", "order is %s, not "
                                "ready" % o["status"], 403)
            if ca.config["finalize_500_once"]:
                ca.config["finalize_500_once"] = False
                raise AcmeError(ERR + "serverInternal", "finalize failed "
                                "(test injection); try again", 500)
        try:
            der = b64u_dec(req.get("csr", ""))
            csr = x509.load_der_x509_csr(der)
        except (ValueError, TypeError) as e:
            raise AcmeError(ERR + "badCSR", "CSR does not parse: %s" % e)
        if not csr.is_signature_valid:
            raise AcmeError(ERR + "badCSR", "CSR signature does not verify")
        pub = csr.public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            if pub.key_size < 2048:
                raise AcmeError(ERR + "badCSR", "RSA key below 2048 bits")
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            if pub.curve.name not in ("secp256r1", "secp384r1"):
                raise AcmeError(ERR + "badCSR", "EC curve %s not accepted" %
                                pub.curve.name)
        else:
            raise AcmeError(ERR + "badCSR", "only RSA and EC keys accepted")
        ku = None
        addrs = []
        got = set()
        for ext in csr.extensions:
            if isinstance(ext.value, x509.KeyUsage):
                ku = ext.value
            elif isinstance(ext.value, x509.SubjectAlternativeName):
                for gn in ext.value:
                    if isinstance(gn, x509.RFC822Name):
                        addrs.append(gn.value)
                    elif isinstance(gn, x509.OtherName) and \
                            gn.type_id == OID_SMTPUTF8MAILBOX:
                        v = der_utf8string(gn.value)
                        if v is None:
                            raise AcmeError(ERR + "badCSR", "bad "
                                            "SmtpUTF8Mailbox otherName")
                        addrs.append(v)
                    elif isinstance(gn, x509.DNSName) and \
                            ca.args.dns_identifiers and "@" in gn.value:
                        addrs.append(gn.value)
                    else:
                        raise AcmeError(ERR + "badCSR", "subjectAltName "
                                        "entry %r not allowed" % (gn,))
            else:
                raise AcmeError(ERR + "badCSR", "CSR extension %s (%s) not "
                                "allowed; only keyUsage and subjectAltName"
                                % (ext.oid.dotted_string,
                                   getattr(ext.oid, "_name", "?")))
        for a in addrs:
            got.add(norm_addr(a))
        want = set(norm_addr(i["value"]) for i in o["identifiers"])
        if got != want:
            raise AcmeError(ERR + "badCSR", "CSR identifiers %s do not equal "
                            "the order's %s" % (sorted(got), sorted(want)))
        if ku is None:
            ku = x509.KeyUsage(digital_signature=True, content_commitment=True,
                               key_encipherment=True, data_encipherment=False,
                               key_agreement=False, key_cert_sign=False,
                               crl_sign=False, encipher_only=False,
                               decipher_only=False)
        elif ku.key_cert_sign or ku.crl_sign:
            raise AcmeError(ERR + "badCSR", "keyUsage keyCertSign/cRLSign "
                            "not allowed")
        order_addrs = [i["value"] for i in o["identifiers"]]
        cert = ca.pki.issue(pub, order_addrs, ku, ca.args.cert_days)
        with ca.lock:
            if o["status"] != "ready":
                raise AcmeError(ERR + "orderNotReady", "order is %s" %
                                o["status"], 403)
            cid = ca.new_id()
            leaf = pem(cert)
            ca.certs[cid] = {"id": cid, "account": acct["id"], "order": oid,
                             "cert": cert, "pem": leaf,
                             "serial": format(cert.serial_number, "x"),
                             "ari": ari_cert_id(cert), "revoked": None,
                             "pub_tp": jwk_thumbprint(key_to_jwk(pub))}
            ca.cert_by_serial[cert.serial_number] = cid
            ca.counts["certificates"] += 1
            o["cert"] = cid
            o["status"] = "processing"
            o["ready_at"] = time.time() + PROCESSING_TIME
            doc = ca.order_json(o)
        log.info("order %s: issued certificate serial %x", oid,
                 cert.serial_number)
        self.send(200, doc, headers={"Location": ca.url("/order/" + oid),
                                     "Retry-After": "1"})

    def h_cert(self, cid, alt):
        ca = self.ca
        _, payload, acct, _ = self.jws()
        if payload != b"":
            raise AcmeError(ERR + "malformed", "certificate URL takes "
                            "POST-as-GET")
        with ca.lock:
            c = ca.certs.get(cid)
            self.owned(c, acct, "certificate")
            o = ca.orders[c["order"]]
            ca.refresh_order(o)
        if o["status"] != "valid":
            raise AcmeError(ERR + "malformed", "certificate not yet "
                            "available", 404)
        chain = c["pem"] + (ca.pki.pem_intermediate_alt if alt
                            else ca.pki.pem_intermediate)
        other = ca.url("/cert/" + cid + ("" if alt else "/alt"))
        self.send(200, chain, "application/pem-certificate-chain",
                  {"Link": '<%s>;rel="alternate"' % other})

    def h_revoke(self):
        ca = self.ca
        prot, payload, acct, jwk = self.jws(allow_jwk=True)
        req = self.json_payload(payload)
        try:
            cert = x509.load_der_x509_certificate(
                b64u_dec(req.get("certificate", "")))
        except (ValueError, TypeError):
            raise AcmeError(ERR + "malformed", "certificate does not parse")
        reason = req.get("reason", 0)
        if not isinstance(reason, int) or isinstance(reason, bool) or \
                reason not in REVOCATION_REASONS:
            raise AcmeError(ERR + "badRevocationReason", "reason %r not "
                            "allowed (0, 1, 3, 4, 5)" % (reason,))
        with ca.lock:
            cid = ca.cert_by_serial.get(cert.serial_number)
            c = ca.certs.get(cid) if cid else None
            if c is None or c["pem"] != pem(cert):
                raise AcmeError(ERR + "malformed", "certificate was not "
                                "issued by this CA", 404)
            if acct is not None:
                if c["account"] != acct["id"]:
                    raise AcmeError(ERR + "unauthorized", "account did not "
                                    "issue this certificate", 403)
                by = "account"
            else:
                if jwk_thumbprint(jwk) != c["pub_tp"]:
                    raise AcmeError(ERR + "unauthorized", "jwk is not the "
                                    "certificate's key", 403)
                by = "certkey"
            if c["revoked"] is not None:
                raise AcmeError(ERR + "alreadyRevoked", "certificate already "
                                "revoked")
            c["revoked"] = {"reason": reason, "by": by,
                            "time": rfc3339(now())}
        log.info("certificate %s revoked (reason %d, by %s)", c["serial"],
                 reason, by)
        self.send(200)

    def h_renewal_info(self, cert_id):
        ca = self.ca
        with ca.lock:
            c = ca.find_cert_by_ari(cert_id)
        if c is None:
            raise AcmeError(ERR + "malformed", "unknown certificate ID", 404)
        nb = c["cert"].not_valid_before.replace(tzinfo=datetime.timezone.utc)
        na = c["cert"].not_valid_after.replace(tzinfo=datetime.timezone.utc)
        if c["revoked"] is not None:
            start = now() - datetime.timedelta(days=1)
            end = now() - datetime.timedelta(hours=1)
        else:
            start = nb + (na - nb) * 2 / 3
            end = na - (na - nb) / 30
        self.send(200, {"suggestedWindow": {"start": rfc3339(start),
                                            "end": rfc3339(end)},
                        "explanationURL": ca.url("/terms")},
                  headers={"Retry-After": "3600"})

    # ------- test endpoints
    def test_endpoint(self, method, path):
        ca = self.ca
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            raise AcmeError(ERR + "unauthorized", "test endpoints are "
                            "loopback only", 403)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if path == "/_test/state" and method == "GET":
            with ca.lock:
                doc = ca.test_state()
            self.send(200, doc, nonce=False)
        elif path == "/_test/mails" and method == "GET":
            with ca.lock:
                doc = {"mails": list(ca.mails)}
            self.send(200, doc, nonce=False)
        elif path == "/_test/replies" and method == "GET":
            with ca.lock:
                doc = {"replies": list(ca.replies)}
            self.send(200, doc, nonce=False)
        elif path == "/_test/challenge" and method == "GET":
            addr = (q.get("email") or [""])[0]
            with ca.lock:
                found = [c for c in ca.challs.values()
                         if norm_addr(c["mailbox"]) == norm_addr(addr)
                         and c["mail_state"] == "sent"]
            if not found:
                raise AcmeError(ERR + "malformed", "no challenge mail sent to "
                                "%r" % addr, 404)
            self.send(200, found[-1]["mail"], "message/rfc822", nonce=False)
        elif path == "/_test/config" and method in ("POST", "GET"):
            if method == "POST":
                try:
                    req = json.loads(self.body or b"{}")
                except ValueError:
                    raise AcmeError(ERR + "malformed", "config is not JSON")
                if not isinstance(req, dict):
                    raise AcmeError(ERR + "malformed", "config must be an "
                                    "object")
                ca.set_config(req)
            with ca.lock:
                self.send(200, dict(ca.config), nonce=False)
        else:
            raise AcmeError(ERR + "malformed", "no such test endpoint", 404)


def der_utf8string(der):
    if len(der) < 2 or der[0] != 0x0c:
        return None
    n = der[1]
    off = 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(der[2:2 + k], "big")
        off = 2 + k
    if off + n != len(der):
        return None
    try:
        return der[off:].decode("utf-8")
    except UnicodeDecodeError:
        return None


def check_contact(contact):
    if not isinstance(contact, list):
        raise AcmeError(ERR + "malformed", "contact must be an array")
    for c in contact:
        if not isinstance(c, str) or not c.startswith("mailto:"):
            raise AcmeError(ERR + "unsupportedContact", "only mailto: "
                            "contacts are supported: %r" % (c,))
        addr = c[len("mailto:"):]
        if "?" in addr or "," in addr or not valid_addr_spec(
                urllib.parse.unquote(addr)):
            raise AcmeError(ERR + "invalidContact", "invalid mailto "
                            "contact %r" % c)
    return contact


def _ca_methods():
    """Attach the lookup/config/inspection helpers to Ca (kept next to the
    test endpoints that use them)."""
    def find_cert_by_ari(self, cert_id):
        for c in self.certs.values():
            if c["ari"] == cert_id:
                return c
        return None

    def set_config(self, req):
        conv = {"token_rule": lambda v: v if v in ("octet", "string")
                else _bad("token_rule must be octet or string"),
                "strict_post": bool, "ratelimit_once": bool,
                "ratelimit_count": lambda v: int(v) if int(v) >= 0
                else _bad("ratelimit_count must be >= 0"),
                "finalize_500_once": bool,
                "badnonce_rate": lambda v: float(v) if 0 <= float(v) <= 1
                else _bad("badnonce_rate must be 0..1"),
                "send_on": lambda v: v if v in ("authz", "post")
                else _bad("send_on must be authz or post"),
                "mail_delay": lambda v: float(v) if float(v) >= 0
                else _bad("mail_delay must be >= 0")}
        with self.lock:
            for k, v in req.items():
                if k not in conv:
                    raise AcmeError(ERR + "malformed", "unknown config key "
                                    "%r" % k)
                try:
                    self.config[k] = conv[k](v)
                except (TypeError, ValueError) as e:
                    raise AcmeError(ERR + "malformed", "bad value for %s: %s"
                                    % (k, e))
        log.info("config changed: %s", ", ".join(sorted(req)))

    def test_state(self):
        accounts = [{"url": self.url("/acct/" + a["id"]),
                     "status": a["status"], "thumbprint": a["thumbprint"],
                     "contact": a["contact"], "created": a["created"]}
                    for a in self.accounts.values()]
        orders = []
        for o in self.orders.values():
            self.refresh_order(o)
            d = {"url": self.url("/order/" + o["id"]), "status": o["status"],
                 "identifiers": o["identifiers"],
                 "account": self.url("/acct/" + o["account"]),
                 "created": o["created"]}
            if o.get("cert"):
                d["certificate"] = self.url("/cert/" + o["cert"])
            if o.get("error"):
                d["error"] = o["error"]
            orders.append(d)
        authzs = []
        for az in self.authzs.values():
            self.refresh_authz(az)
            ch = self.challs[az["chall"]]
            authzs.append({"url": self.url("/authz/" + az["id"]),
                           "status": az["status"],
                           "identifier": az["identifier"],
                           "challenge": {
                               "url": self.url("/chall/" + ch["id"]),
                               "status": ch["status"],
                               "error": ch.get("error"),
                               "posted": ch["posted"],
                               "reply_received": ch["reply_ok"],
                               "mail": ch["mail_state"],
                               "token_rule": ch["rule"]}})
        revoked = [{"serial": c["serial"], "reason": c["revoked"]["reason"],
                    "by": c["revoked"]["by"], "time": c["revoked"]["time"]}
                   for c in self.certs.values() if c["revoked"]]
        certs = [{"url": self.url("/cert/" + c["id"]), "serial": c["serial"],
                  "ari_id": c["ari"], "revoked": c["revoked"] is not None}
                 for c in self.certs.values()]
        counts = dict(self.counts)
        counts.update({"accounts": len(self.accounts),
                       "orders": len(self.orders),
                       "authorizations": len(self.authzs),
                       "revoked": len(revoked)})
        return {"accounts": accounts, "orders": orders,
                "authorizations": authzs, "certificates": certs,
                "revoked": revoked, "counts": counts,
                "config": dict(self.config)}

    Ca.find_cert_by_ari = find_cert_by_ari
    Ca.set_config = set_config
    Ca.test_state = test_state


def _bad(msg):
    raise ValueError(msg)


_ca_methods()


class HttpsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        # TLS handshake happens in the handler thread, not in accept()
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended: %s", client_address,
                  sys.exc_info()[1])


# --------------------------------------------------------------- SMTP

class SmtpHandler(socketserver.StreamRequestHandler):
    """Minimal SMTP receiver for reply mails (RFC 5321 subset)."""
    timeout = 120
    ca = None
    MAX = 10 << 20

    def out(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self):
        ca = self.ca
        self.out("220 %s ESMTP smime-test-ca" % ca.ca_domain)
        mail_from, rcpts, helo = None, [], False
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            arg = cmd[4:].strip()
            if verb == "EHLO":
                helo = True
                mail_from, rcpts = None, []
                self.out("250-%s" % ca.ca_domain)
                self.out("250-8BITMIME")
                self.out("250-SMTPUTF8")
                self.out("250 SIZE %d" % self.MAX)
            elif verb == "HELO":
                helo = True
                mail_from, rcpts = None, []
                self.out("250 %s" % ca.ca_domain)
            elif verb == "MAIL":
                if not helo:
                    self.out("503 5.5.1 EHLO/HELO first")
                    continue
                m = re.match(r"(?i)FROM:\s*<([^>]*)>", arg)
                if not m:
                    self.out("501 5.5.4 syntax: MAIL FROM:<address>")
                    continue
                mail_from, rcpts = m.group(1), []
                self.out("250 2.1.0 OK")
            elif verb == "RCPT":
                if mail_from is None:
                    self.out("503 5.5.1 MAIL first")
                    continue
                m = re.match(r"(?i)TO:\s*<([^>]*)>", arg)
                if not m:
                    self.out("501 5.5.4 syntax: RCPT TO:<address>")
                    continue
                rcpt = m.group(1)
                if rcpt.rpartition("@")[2].lower() != ca.ca_domain.lower():
                    self.out("550 5.1.1 <%s>: not a CA address" % rcpt)
                    continue
                rcpts.append(rcpt)
                self.out("250 2.1.5 OK")
            elif verb == "DATA":
                if not rcpts:
                    self.out("503 5.5.1 RCPT first")
                    continue
                self.out("354 End data with <CR><LF>.<CR><LF>")
                data = bytearray()
                too_big = False
                while True:
                    dl = self.rfile.readline(65536)
                    if not dl:
                        return
                    if dl in (b".\r\n", b".\n"):
                        break
                    if dl.startswith(b"."):
                        dl = dl[1:]
                    if len(data) + len(dl) > self.MAX:
                        too_big = True
                    elif not too_big:
                        data += dl
                if too_big:
                    self.out("552 5.3.4 message too big")
                else:
                    ca.handle_reply(mail_from, rcpts, bytes(data))
                    self.out("250 2.0.0 OK accepted")
                mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self.out("250 2.0.0 OK")
            elif verb == "NOOP":
                self.out("250 2.0.0 OK")
            elif verb == "QUIT":
                self.out("221 2.0.0 Bye")
                return
            else:
                self.out("502 5.5.2 command not implemented")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


# --------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(description="RFC 8823 test ACME CA")
    p.add_argument("--state", required=True, help="state directory")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--https-port", type=int, default=0)
    p.add_argument("--smtp-port", type=int, default=0)
    p.add_argument("--relay", required=True, help="HOST:PORT for challenge "
                   "mails")
    p.add_argument("--from", dest="from_addr",
                   default="acme-challenge@ca.test")
    p.add_argument("--token-rule", choices=("octet", "string"),
                   default="octet")
    p.add_argument("--part1-len", type=int, default=16)
    p.add_argument("--part2-len", type=int, default=16)
    p.add_argument("--send-on", choices=("authz", "post"), default="authz")
    p.add_argument("--strict-post", action="store_true")
    p.add_argument("--badnonce-rate", type=float, default=0.0)
    p.add_argument("--ratelimit-once", action="store_true")
    p.add_argument("--finalize-500-once", action="store_true")
    p.add_argument("--mail-delay", type=float, default=0.0)
    p.add_argument("--dns-identifiers", action="store_true")
    p.add_argument("--smime", action="store_true")
    p.add_argument("--reply-keys", action="append", default=[])
    p.add_argument("--eab-required", action="store_true")
    p.add_argument("--cert-days", type=int, default=90)
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)
    if a.part1_len < 16:
        p.error("--part1-len must be >= 16 (RFC 8823: 128 bits)")
    if a.part2_len < 1:
        p.error("--part2-len must be >= 1")
    if not 0 <= a.badnonce_rate <= 1:
        p.error("--badnonce-rate must be within 0..1")
    if not valid_addr_spec(a.from_addr):
        p.error("--from is not an address")
    if ":" not in a.relay:
        p.error("--relay must be HOST:PORT")
    return a


def main(argv):
    args = parse_args(argv)
    args.state = os.path.abspath(args.state)
    args.reply_keys = [os.path.abspath(f) for f in args.reply_keys]
    os.makedirs(args.state, exist_ok=True)
    for f in ("ready", "ca.env"):
        try:
            os.unlink(os.path.join(args.state, f))
        except FileNotFoundError:
            pass
    logging.basicConfig(
        filename=os.path.join(args.state, "ca.log"),
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s: %(message)s")
    pki = Pki(args.state, args.from_addr, args.smime)
    ca = Ca(args, pki)
    Handler.ca = ca
    SmtpHandler.ca = ca

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(args.state, "tls-cert.pem"),
                        os.path.join(args.state, "tls-key.pem"))
    httpd = HttpsServer((args.listen, args.https_port), Handler, ctx)
    smtpd = SmtpServer((args.listen, args.smtp_port), SmtpHandler)
    hport = httpd.server_address[1]
    sport = smtpd.server_address[1]
    host = args.listen if ":" not in args.listen else "[%s]" % args.listen
    ca.base = "https://%s:%d" % (host, hport)

    env = {"CA_URL": ca.url("/dir"), "CA_HTTPS_PORT": str(hport),
           "CA_SMTP_PORT": str(sport), "CA_TRUST": pki.files["trust"],
           "CA_ROOT": pki.files["root"],
           "CA_INTERMEDIATE": pki.files["intermediate"],
           "CA_ALT_ROOT": pki.files["alt_root"],
           "CA_INTERMEDIATE_ALT": pki.files["intermediate_alt"],
           "CA_FROM": args.from_addr, "CA_DKIM_KEYS": pki.files["dkim_keys"],
           "CA_PID": str(os.getpid())}
    if ca.eab:
        env["CA_EAB_KID"] = "kid-1"
        env["CA_EAB_HMAC"] = b64u(ca.eab["kid-1"])
        write_file(os.path.join(args.state, "eab"),
                   "kid-1 %s\n" % env["CA_EAB_HMAC"], 0o600)
    write_file(os.path.join(args.state, "ca.env"),
               "".join("%s='%s'\n" % (k, v.replace("'", "'\\''"))
                       for k, v in env.items()), 0o600)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threads = [threading.Thread(target=httpd.serve_forever,
                                kwargs={"poll_interval": 0.2},
                                name="https", daemon=True),
               threading.Thread(target=smtpd.serve_forever,
                                kwargs={"poll_interval": 0.2},
                                name="smtp", daemon=True)]
    for t in threads:
        t.start()
    with open(os.path.join(args.state, "ready"), "w"):
        pass
    log.info("listening: %s (SMTP port %d), relay %s, from %s, token rule "
             "%s", ca.url("/dir"), sport, args.relay, args.from_addr,
             args.token_rule)
    while not stop.wait(0.5):
        pass
    log.info("shutting down")
    httpd.shutdown()
    smtpd.shutdown()
    httpd.server_close()
    smtpd.server_close()
    try:
        os.unlink(os.path.join(args.state, "ready"))
    except FileNotFoundError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
