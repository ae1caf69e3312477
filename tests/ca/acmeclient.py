"""acmeclient: a small ACME (RFC 8555) client with RFC 8823 helpers.

Test tooling, independent of the C requester: uses only the Python stdlib,
python3-cryptography and (for reply signing) python3-dkim.  Run it with
/usr/bin/python3.

Typical flow::

    from acmeclient import *
    c = AcmeClient(env["CA_URL"], cafile=env["CA_TRUST"])   # new ES256 key
    c.new_account(contact=["mailto:admin@example.test"])
    order_url, order = c.new_order(["alice@example.test"])
    authz = c.get_authz(order["authorizations"][0])
    ch = find_email_challenge(authz)
    # ... receive the challenge mail (raw bytes) ...
    part1 = parse_challenge_subject(subject_of(raw))
    digest = rfc8823_response(part1, ch["token"], c.thumbprint(), "octet")
    reply = compose_reply(raw, "alice@example.test", digest)
    reply = dkim_sign(reply, "sel", "example.test", dkim_private_pem)
    # ... send the reply to the CA by SMTP ...
    c.post_challenge(ch["url"])
    c.poll_authz(order["authorizations"][0])
    key = generate_key("ES256")
    order = c.finalize(order_url, make_csr(key, ["alice@example.test"]))
    chain_pem, alternates = c.download(order["certificate"])

Errors from the server raise AcmeProblem (type, detail, status, headers).
"""

import base64
import email
import email.header
import email.policy
import email.utils
import hashlib
import hmac
import json
import re
import secrets
import ssl
import threading
import time
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature
from cryptography.x509.oid import NameOID

__all__ = ["AcmeClient", "AcmeProblem", "b64u", "b64u_dec", "generate_key",
           "jwk_of", "jwk_thumbprint", "make_csr", "find_email_challenge",
           "parse_challenge_subject", "subject_of", "rfc8823_token",
           "key_authorization", "rfc8823_response", "compose_reply",
           "dkim_sign", "REPLY_SIGN_HEADERS", "KEY_USAGE_BITS"]

ERR = "urn:ietf:params:acme:error:"
USER_AGENT = "smime-acme-testclient/1.0 (python urllib)"

# RFC 8823 section 3.2 MUST list plus the SHOULD list; absent fields are
# signed too (so they cannot be added later).
REPLY_SIGN_HEADERS = [
    "from", "sender", "reply-to", "to", "cc", "subject", "date",
    "in-reply-to", "references", "message-id", "content-type",
    "content-transfer-encoding", "mime-version", "auto-submitted",
    "resent-date", "resent-from", "resent-to", "resent-cc", "list-id",
    "list-help", "list-unsubscribe", "list-subscribe", "list-post",
    "list-owner", "list-archive", "list-unsubscribe-post"]

KEY_USAGE_BITS = ("digital_signature", "content_commitment",
                  "key_encipherment", "data_encipherment", "key_agreement")


def b64u(data):
    """base64url-encode bytes (or str as UTF-8) without padding."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_dec(text):
    """Decode base64url with or without padding; returns bytes."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    text = text.strip().rstrip("=")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AcmeProblem(Exception):
    """An ACME error response: .type (full URN), .detail, .status (HTTP),
    .headers (dict, lower-case names) and .doc (the problem document)."""

    def __init__(self, status, doc, headers):
        self.status = status
        self.doc = doc if isinstance(doc, dict) else {}
        self.type = self.doc.get("type", "")
        self.detail = self.doc.get("detail", "")
        self.headers = headers
        super().__init__("%d %s: %s" % (status, self.type, self.detail))

    @property
    def short(self):
        """Error type without the urn:ietf:params:acme:error: prefix."""
        return self.type[len(ERR):] if self.type.startswith(ERR) \
            else self.type


def generate_key(alg="ES256"):
    """New private key for alg: ES256 (P-256), ES384 (P-384) or RS256
    (RSA-2048)."""
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "RS256":
        return rsa.generate_private_key(65537, 2048)
    raise ValueError("unsupported alg %r" % alg)


def _alg_of(key):
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "ES256", "secp384r1": "ES384"}[key.curve.name]
    raise ValueError("unsupported key type")


def jwk_of(key):
    """Public JWK (dict) of a private or public RSA/EC key."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.public_numbers()
        return {"kty": "RSA",
                "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                "e": b64u(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big"))}
    size = (pub.curve.key_size + 7) // 8
    n = pub.public_numbers()
    crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[pub.curve.name]
    return {"kty": "EC", "crv": crv, "x": b64u(n.x.to_bytes(size, "big")),
            "y": b64u(n.y.to_bytes(size, "big"))}


def jwk_thumbprint(jwk):
    """RFC 7638 SHA-256 thumbprint (base64url) of a JWK dict or a key."""
    if not isinstance(jwk, dict):
        jwk = jwk_of(jwk)
    if jwk["kty"] == "RSA":
        m = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
    else:
        m = {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
    data = json.dumps(m, sort_keys=True, separators=(",", ":")).encode()
    return b64u(hashlib.sha256(data).digest())


def _sign(key, data):
    alg = _alg_of(key)
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    h, size = (hashes.SHA256(), 32) if alg == "ES256" else \
        (hashes.SHA384(), 48)
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(h)))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def jws(key, protected, payload):
    """Flattened JWS (dict) of payload (dict, bytes, or "" for
    POST-as-GET) signed with key; protected gets alg added."""
    prot = dict(protected)
    prot["alg"] = _alg_of(key)
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload).encode()
    elif isinstance(payload, str):
        payload = payload.encode()
    p64 = b64u(json.dumps(prot).encode())
    pl64 = b64u(payload) if payload else ""
    sig = _sign(key, (p64 + "." + pl64).encode("ascii"))
    return {"protected": p64, "payload": pl64, "signature": b64u(sig)}


class Response:
    """HTTP response: .status, .headers (dict, lower-case names; "link" is
    a list), .body (bytes), .json (parsed or None), .location."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.json = None
        ctype = headers.get("content-type", "")
        if "json" in ctype and body:
            self.json = json.loads(body)
        self.location = headers.get("location")

    def links(self, rel):
        """URLs of Link headers with the given rel."""
        out = []
        for v in self.headers.get("link", []):
            for m in re.finditer(r'<([^>]*)>\s*;\s*rel="?([^";,]+)"?', v):
                if m.group(2) == rel:
                    out.append(m.group(1))
        return out

    @property
    def retry_after(self):
        """Retry-After in seconds (delta-seconds only), or None."""
        v = self.headers.get("retry-after")
        try:
            return max(0.0, float(v))
        except (TypeError, ValueError):
            return None


class AcmeClient:
    """ACME client bound to one directory URL and one account key.

    directory_url: the CA's directory.  key: account private key (default:
    a new key of type alg).  cafile: PEM to trust for HTTPS.
    badnonce_retries: how often a request is re-signed with the nonce from
    a badNonce error before giving up.  Thread-safe for concurrent
    requests (one nonce pool, guarded by a lock).
    """

    def __init__(self, directory_url, key=None, alg="ES256", cafile=None,
                 timeout=30, badnonce_retries=10):
        self.directory_url = directory_url
        self.key = key if key is not None else generate_key(alg)
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.timeout = timeout
        self.badnonce_retries = badnonce_retries
        self.kid = None
        self.nonces = []
        self.lock = threading.Lock()
        self.badnonce_seen = 0
        self._dir = None

    # ---- transport
    def http(self, method, url, body=None, headers=None):
        """Plain HTTP(S) request; returns Response for any status (no
        exception on 4xx/5xx).  Collects Replay-Nonce."""
        h = {"User-Agent": USER_AGENT}
        h.update(headers or {})
        req = urllib.request.Request(url, data=body, method=method,
                                     headers=h)
        try:
            with urllib.request.urlopen(req, context=self.ctx,
                                        timeout=self.timeout) as r:
                status, hdrs, data = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, data = e.code, e.headers, e.read()
        d = {}
        for k, v in hdrs.items():
            k = k.lower()
            if k == "link":
                d.setdefault("link", []).append(v)
            else:
                d[k] = v
        resp = Response(status, d, data)
        n = d.get("replay-nonce")
        if n and re.fullmatch(r"[A-Za-z0-9_-]+", n):
            with self.lock:
                self.nonces.append(n)
        return resp

    def directory(self):
        """The directory object (fetched once)."""
        if self._dir is None:
            r = self.http("GET", self.directory_url)
            if r.status != 200:
                raise AcmeProblem(r.status, r.json or {}, r.headers)
            self._dir = r.json
        return self._dir

    def nonce(self):
        """A fresh nonce (from the pool or HEAD newNonce)."""
        with self.lock:
            if self.nonces:
                return self.nonces.pop()
        r = self.http("HEAD", self.directory()["newNonce"])
        if r.status != 200 or "replay-nonce" not in r.headers:
            raise AcmeProblem(r.status, {"detail": "no nonce"}, r.headers)
        with self.lock:
            return self.nonces.pop()

    def post(self, url, payload, use_jwk=False, key=None, check=True):
        """Signed POST of payload (dict; "" = POST-as-GET) to url with the
        account key (kid) or, with use_jwk, with key's jwk.  Retries
        badNonce errors with the nonce the error carried.  Raises
        AcmeProblem on an error status when check is true."""
        key = key or self.key
        nonce = self.nonce()
        for attempt in range(self.badnonce_retries + 1):
            prot = {"nonce": nonce, "url": url}
            if use_jwk:
                prot["jwk"] = jwk_of(key)
            else:
                if self.kid is None:
                    raise RuntimeError("no account yet")
                prot["kid"] = self.kid
            body = json.dumps(jws(key, prot, payload)).encode()
            r = self.http("POST", url, body,
                          {"Content-Type": "application/jose+json"})
            if r.status >= 400 and r.json and \
                    r.json.get("type") == ERR + "badNonce" and \
                    attempt < self.badnonce_retries:
                self.badnonce_seen += 1
                fresh = r.headers.get("replay-nonce")
                with self.lock:
                    if fresh in self.nonces:
                        self.nonces.remove(fresh)
                nonce = fresh or self.nonce()
                continue
            break
        if check and r.status >= 400:
            raise AcmeProblem(r.status, r.json or {}, r.headers)
        return r

    def get(self, url):
        """POST-as-GET; returns Response."""
        return self.post(url, "")

    # ---- account
    def thumbprint(self):
        """RFC 7638 thumbprint of the account key."""
        return jwk_thumbprint(self.key)

    def new_account(self, contact=None, tos=True, eab_kid=None,
                    eab_hmac=None, only_existing=False):
        """Create (or find) the account; sets and returns self.kid.
        eab_hmac is the base64url MAC key for External Account Binding."""
        url = self.directory()["newAccount"]
        payload = {}
        if tos is not None:
            payload["termsOfServiceAgreed"] = tos
        if contact:
            payload["contact"] = contact
        if only_existing:
            payload = {"onlyReturnExisting": True}
        if eab_kid:
            mac = b64u_dec(eab_hmac)
            prot = b64u(json.dumps({"alg": "HS256", "kid": eab_kid,
                                    "url": url}).encode())
            pl = b64u(json.dumps(jwk_of(self.key)).encode())
            sig = hmac.new(mac, (prot + "." + pl).encode(),
                           hashlib.sha256).digest()
            payload["externalAccountBinding"] = {
                "protected": prot, "payload": pl, "signature": b64u(sig)}
        r = self.post(url, payload, use_jwk=True)
        self.kid = r.location
        self.account_obj = r.json
        self.account_status = r.status
        return self.kid

    def account(self, update=None):
        """POST-as-GET the account (or POST update dict); returns dict."""
        return self.post(self.kid, update if update else "").json

    def deactivate(self):
        """Deactivate the account; returns the account object."""
        return self.account({"status": "deactivated"})

    def key_change(self, new_key):
        """Roll the account over to new_key (RFC 8555 section 7.3.5)."""
        url = self.directory()["keyChange"]
        inner = jws(new_key, {"jwk": jwk_of(new_key), "url": url},
                    {"account": self.kid, "oldKey": jwk_of(self.key)})
        r = self.post(url, inner)
        self.key = new_key
        return r.json

    # ---- orders
    def new_order(self, emails, id_type="email", retry_ratelimit=True,
                  **extra):
        """newOrder for the given addresses; returns (order URL, order).
        Honours one 429 rateLimited with Retry-After if retry_ratelimit."""
        ids = [{"type": id_type, "value": e} for e in emails]
        payload = {"identifiers": ids}
        payload.update(extra)
        for attempt in range(5):
            try:
                r = self.post(self.directory()["newOrder"], payload)
                return r.location, r.json
            except AcmeProblem as e:
                if e.short == "rateLimited" and retry_ratelimit and \
                        attempt < 4:
                    time.sleep(float(e.headers.get("retry-after", 1)))
                    continue
                raise

    def get_order(self, url):
        """POST-as-GET an order; returns dict."""
        return self.get(url).json

    def get_authz(self, url):
        """POST-as-GET an authorization; returns dict."""
        return self.get(url).json

    def post_challenge(self, url):
        """Tell the CA to validate: POST {} to the challenge URL; returns
        the challenge object."""
        return self.post(url, {}).json

    def poll(self, url, done, timeout=30):
        """Poll url (POST-as-GET) until done(obj) or status invalid;
        sleeps Retry-After (capped at 2 s).  Returns the last object;
        raises TimeoutError."""
        end = time.time() + timeout
        while True:
            r = self.get(url)
            obj = r.json
            if done(obj) or obj.get("status") == "invalid":
                return obj
            if time.time() > end:
                raise TimeoutError("%s still %s" % (url, obj.get("status")))
            time.sleep(min(r.retry_after or 0.5, 2.0))

    def poll_authz(self, url, timeout=30):
        """Poll an authorization until it leaves pending."""
        return self.poll(url, lambda o: o["status"] != "pending", timeout)

    def poll_order(self, url, states=("ready", "valid"), timeout=30):
        """Poll an order until its status is in states (or invalid)."""
        return self.poll(url, lambda o: o["status"] in states, timeout)

    def finalize(self, order_url, csr_der, timeout=30, retry_500=True):
        """POST the CSR to the order's finalize URL, then poll until
        valid; returns the order.  Retries one 500 serverInternal."""
        order = self.get_order(order_url)
        for attempt in range(3):
            try:
                self.post(order["finalize"], {"csr": b64u(csr_der)})
                break
            except AcmeProblem as e:
                if e.status >= 500 and retry_500 and attempt < 2:
                    time.sleep(0.2)
                    continue
                raise
        return self.poll_order(order_url, ("valid",), timeout)

    def download(self, cert_url):
        """Fetch the PEM chain; returns (pem text, [alternate URLs])."""
        r = self.get(cert_url)
        return r.body.decode("ascii"), r.links("alternate")

    def revoke(self, cert, reason=None, cert_key=None):
        """revokeCert for cert (PEM text/bytes, DER or x509 object), signed
        by the account (kid) or, if cert_key is given, by that key (jwk).
        Returns the Response."""
        if isinstance(cert, str):
            cert = cert.encode()
        if isinstance(cert, bytes):
            cert = x509.load_pem_x509_certificate(cert) if \
                cert.startswith(b"-----") else \
                x509.load_der_x509_certificate(cert)
        payload = {"certificate": b64u(cert.public_bytes(
            serialization.Encoding.DER))}
        if reason is not None:
            payload["reason"] = reason
        url = self.directory()["revokeCert"]
        if cert_key is not None:
            return self.post(url, payload, use_jwk=True, key=cert_key)
        return self.post(url, payload)


# ---- CSR

def make_csr(key, emails, usage=("digital_signature", "key_encipherment"),
             extra_extensions=(), dns_names=()):
    """DER PKCS#10 CSR: CN = first address, subjectAltName rfc822Name per
    address (SmtpUTF8Mailbox otherName for a non-ASCII local part),
    critical keyUsage with the given KEY_USAGE_BITS names (None = no
    keyUsage extension), plus extra_extensions [(ExtensionType,
    critical)] for negative tests."""
    sans = []
    for a in emails:
        local, _, domain = a.rpartition("@")
        if local.isascii():
            sans.append(x509.RFC822Name(
                local + "@" + domain.encode("idna").decode("ascii")))
        else:
            raw = a.encode("utf-8")
            sans.append(x509.OtherName(
                x509.ObjectIdentifier("1.3.6.1.5.5.7.8.9"),
                bytes([0x0c, len(raw)]) + raw))
    for d in dns_names:
        sans.append(x509.DNSName(d))
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, emails[0])]))
    b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage is not None:
        bits = {n: (n in usage) for n in KEY_USAGE_BITS}
        b = b.add_extension(x509.KeyUsage(
            key_cert_sign=False, crl_sign=False, encipher_only=False,
            decipher_only=False, **bits), critical=True)
    for ext, crit in extra_extensions:
        b = b.add_extension(ext, critical=crit)
    h = hashes.SHA256() if not isinstance(key, ec.EllipticCurvePrivateKey) \
        or key.curve.name == "secp256r1" else hashes.SHA384()
    return b.sign(key, h).public_bytes(serialization.Encoding.DER)


# ---- RFC 8823 helpers

def find_email_challenge(authz):
    """The email-reply-00 challenge object of an authorization."""
    for ch in authz.get("challenges", []):
        if ch.get("type") == "email-reply-00":
            return ch
    raise LookupError("no email-reply-00 challenge")


def subject_of(raw):
    """Decoded (RFC 2047) Subject of a raw mail (bytes or str)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    out = []
    for b, cs in email.header.decode_header(msg.get("Subject", "")):
        out.append(b.decode(cs or "ascii", "replace") if isinstance(b, bytes)
                   else b)
    return "".join(out)


def parse_challenge_subject(subject, allow_reply=False):
    """token-part1 from a challenge Subject "ACME: <token-part1>":
    whitespace inside the token removed, trailing '=' stripped.  A reply
    prefix (e.g. "Re:") is refused unless allow_reply.  Raises
    ValueError."""
    s = subject.strip()
    m = re.match(r"(?s)^(.*?)ACME:\s+(.*)$", s)
    if not m:
        raise ValueError("Subject lacks 'ACME: '")
    if m.group(1).strip() and not allow_reply:
        raise ValueError("Subject has a prefix before 'ACME:'")
    tok = re.sub(r"\s+", "", m.group(2)).rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9_-]+", tok):
        raise ValueError("token-part1 is not base64url")
    if len(b64u_dec(tok)) < 16:
        raise ValueError("token-part1 shorter than 128 bits")
    return tok


def rfc8823_token(part1, part2, rule="octet"):
    """Full token from token-part1 and token-part2: rule "octet" =
    b64u(dec(part1) || dec(part2)), rule "string" = part1 + part2."""
    part1 = part1.rstrip("=")
    if rule == "string":
        return part1 + part2
    if rule == "octet":
        return b64u(b64u_dec(part1) + b64u_dec(part2))
    raise ValueError("rule must be octet or string")


def key_authorization(part1, part2, thumbprint, rule="octet"):
    """RFC 8555 section 8.1 key authorization: token "." thumbprint."""
    return rfc8823_token(part1, part2, rule) + "." + thumbprint


def rfc8823_response(part1, part2, thumbprint, rule="octet"):
    """The reply digest: base64url(SHA-256(key authorization)), 43 chars."""
    ka = key_authorization(part1, part2, thumbprint, rule)
    return b64u(hashlib.sha256(ka.encode("ascii")).digest())


def compose_reply(challenge_raw, from_addr, digest, to_addr=None,
                  msgid_domain=None, extra_headers=(), body=None):
    """Compose an (unsigned) RFC 8823 response mail as CRLF bytes:
    From = from_addr, To = challenge Reply-To or From (or to_addr),
    Subject "Re: ACME: <part1>", In-Reply-To + References = the
    challenge's Message-ID, Auto-Submitted: auto-replied, one text/plain
    7bit part with the digest block.  extra_headers: [(name, value)];
    body overrides the whole text body."""
    msg = email.message_from_bytes(
        challenge_raw if isinstance(challenge_raw, bytes)
        else challenge_raw.encode(), policy=email.policy.compat32)
    part1 = parse_challenge_subject(subject_of(challenge_raw))
    if to_addr is None:
        src = msg.get("Reply-To") or msg.get("From")
        to_addr = email.utils.parseaddr(str(src))[1]
    cmid = (msg.get("Message-ID") or "").strip()
    dom = msgid_domain or from_addr.rpartition("@")[2]
    hdrs = [("From", from_addr), ("To", to_addr),
            ("Subject", "Re: ACME: " + part1),
            ("Date", email.utils.formatdate()),
            ("Message-ID", "<%s@%s>" % (secrets.token_hex(10), dom))]
    if cmid:
        hdrs += [("In-Reply-To", cmid), ("References", cmid)]
    hdrs += [("Auto-Submitted", "auto-replied"), ("MIME-Version", "1.0"),
             ("Content-Type", "text/plain; charset=us-ascii"),
             ("Content-Transfer-Encoding", "7bit")]
    hdrs += list(extra_headers)
    if body is None:
        body = ("-----BEGIN ACME RESPONSE-----\r\n%s\r\n"
                "-----END ACME RESPONSE-----\r\n" % digest)
    text = "".join("%s: %s\r\n" % h for h in hdrs) + "\r\n" + body
    return text.encode("utf-8")


def dkim_sign(raw, selector, domain, private_pem,
              headers=REPLY_SIGN_HEADERS):
    """Prepend a DKIM-Signature (rsa-sha256, relaxed/relaxed) over the
    given header names (absent ones included) to raw bytes."""
    import dkim
    sig = dkim.sign(raw, selector.encode(), domain.encode(), private_pem,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[h.encode() for h in headers])
    return sig + raw
