"""The CA's keys and certificates, made fresh at every start: the HTTPS
root and server certificate, the S/MIME root, alternate root and
intermediate (cross-signed), the DKIM key of the CA domain, the optional
S/MIME signer of challenge mails; and the end-entity certificates it
issues."""

import base64
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .util import b64u, now, write_file

OID_SMTPUTF8MAILBOX = x509.ObjectIdentifier("1.3.6.1.5.5.7.8.9")


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
