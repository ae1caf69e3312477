"""Challenge and reply mails (RFC 8823 sections 3.1 and 3.2): composing
the DKIM- or S/MIME-signed challenge, the DKIM keys replies are checked
against (from files, no DNS), and the strict check of a reply."""

import base64
import email
import email.header
import email.utils
import hmac
import re
import secrets

import dkim
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from .util import norm_addr

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


def compose_challenge(pki, frm, mailbox, part1, msgid, smime, sign=True):
    """The challenge mail (RFC 8823 section 3.1) from FRM to MAILBOX as
    bytes: DKIM-signed by the CA domain (selector "ca"), or S/MIME-signed
    if SMIME; neither without SIGN (a broken CA, for tests)."""
    hdrs = [("From", frm), ("To", mailbox), ("Subject", "ACME: " + part1),
            ("Date", email.utils.formatdate(localtime=False)),
            ("Message-ID", msgid),
            ("Auto-Submitted", "auto-generated; type=acme")]
    body = ("This message is an RFC 8823 ACME challenge for\r\n"
            "%s.\r\n\r\nIf you did not request an S/MIME certificate,"
            " ignore it.\r\nAn ACME-aware client answers it "
            "automatically.\r\n" % (mailbox if mailbox.isascii()
                                    else "your address"))
    if smime and sign:
        return _smime_mail(pki, hdrs, body)
    text = "".join("%s: %s\r\n" % h for h in hdrs)
    text += ("MIME-Version: 1.0\r\n"
             "Content-Type: text/plain; charset=us-ascii\r\n"
             "Content-Transfer-Encoding: 7bit\r\n\r\n") + body
    raw = text.encode("utf-8")
    if not sign:
        return raw
    sig = dkim.sign(raw, b"ca", frm.rpartition("@")[2].encode(),
                    pki.dkim_pem,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=[h.encode() for h in
                                     CHALLENGE_H_MUST + H_SHOULD
                                     + ["mime-version"]])
    return sig + raw


def _smime_mail(pki, hdrs, body):
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
           .add_signer(pki.signer_cert, pki.signer_key,
                       hashes.SHA256())
           .add_certificate(pki.intermediate)
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


def reply_failure(msg, data, ch, threaded, subj_token, dnsfunc, digest):
    """None if the reply to challenge CH is good, else (error type,
    detail).  MSG is DATA parsed (msg.hdr: the headers as text), DNSFUNC
    looks up DKIM keys, DIGEST() returns the expected response."""
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
            ok = d.verify(idx=idx, dnsfunc=dnsfunc)
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
    want = digest()
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
