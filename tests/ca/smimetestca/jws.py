"""JSON Web Signatures as RFC 8555 uses them: JWK to key, RFC 7638
thumbprints, signature checks (RS256, ES256, ES384) and the flattened JWS
serialisation."""

import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    encode_dss_signature

from .util import ERR, AcmeError, b64u, b64u_dec


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
