#!/usr/bin/env python3
"""certbot_tree.py: write the configuration directory the seed client
(certbot-castle on certbot 2.1) leaves after one `cli.py cert`, from an
account key and a certificate set issued by the test CA:

  certbot_tree.py DIR SERVER ACCOUNT_KEY_PEM KID NAME SET_DIR PASSPHRASE \
      [AUTHENTICATOR [KEY=VALUE...]]

  DIR/accounts/<netloc><path>/<id>/{private_key.json,regr.json,meta.json}
      (id: MD5 of the public key's PEM, certbot's Account.id; the JWK as
      josepy writes it; regr.json {"body": {}, "uri": KID})
  DIR/archive/NAME/{cert,chain,fullchain,privkey}1.pem
  DIR/live/NAME/{cert,chain,fullchain,privkey}.pem -> ../../archive/NAME/..1.pem
  DIR/live/README, DIR/live/NAME/README
  DIR/live/NAME/0000_cert.pfx  (the seed installer: friendly name = the
      first address, cas = [first chain certificate], BestAvailableEncryption)
  DIR/renewal/NAME.conf  (configobj as certbot writes it; KEY=VALUE pairs
      go to [renewalparams], quoted as configobj quotes them)

SET_DIR holds cert.pem, chain.pem and privkey.pem (a smime-acme set).
An empty PASSPHRASE means --no-passphrase.  Prints the account id.
"""
import base64
import datetime
import hashlib
import json
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12


def b64(n, size=None):
    if size is None:
        size = (n.bit_length() + 7) // 8
    return base64.urlsafe_b64encode(n.to_bytes(size, "big")).rstrip(
        b"=").decode()


def jwk(key):
    if isinstance(key, rsa.RSAPrivateKey):
        p = key.private_numbers()
        return {"n": b64(p.public_numbers.n), "e": b64(p.public_numbers.e),
                "d": b64(p.d), "p": b64(p.p), "q": b64(p.q),
                "dp": b64(p.dmp1), "dq": b64(p.dmq1), "qi": b64(p.iqmp),
                "kty": "RSA"}
    p = key.private_numbers()
    size = (key.curve.key_size + 7) // 8
    crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[key.curve.name]
    return {"kty": "EC", "crv": crv, "d": b64(p.private_value, size),
            "x": b64(p.public_numbers.x, size),
            "y": b64(p.public_numbers.y, size)}


def quote(v):
    """configobj's _quote for one string value (list_values on)."""
    if v == "":
        return '""'
    if "\n" in v or ("'" in v and '"' in v):
        return "'''%s'''" % v
    ws = " \r\n\v\t'\""
    if v[0] in ws or v[-1] in ws or "," in v or "#" in v:
        return ("'%s'" if '"' in v else '"%s"') % v
    return v


def write(path, data, mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    (top, server, akey, kid, name, setdir, passphrase) = sys.argv[1:8]
    auth = sys.argv[8] if len(sys.argv) > 8 else "castle-interactive"
    extra = [a.split("=", 1) for a in sys.argv[9:]]
    top = os.path.abspath(top)
    with open(akey, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    pub = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    acct_id = hashlib.md5(pub).hexdigest()
    u = server.split("://", 1)[1]
    adir = os.path.join(top, "accounts", u, acct_id)
    os.makedirs(adir, 0o700, exist_ok=True)
    write(os.path.join(adir, "private_key.json"), json.dumps(jwk(key)), 0o400)
    write(os.path.join(adir, "regr.json"),
          json.dumps({"body": {}, "uri": kid}))
    write(os.path.join(adir, "meta.json"), json.dumps(
        {"creation_dt": datetime.datetime.now(datetime.timezone.utc)
         .strftime("%Y-%m-%dT%H:%M:%SZ"), "creation_host": "seed.test"}))

    arch = os.path.join(top, "archive", name)
    live = os.path.join(top, "live", name)
    ren = os.path.join(top, "renewal")
    for d in (arch, live, ren):
        os.makedirs(d, 0o700, exist_ok=True)
    rd = lambda f: open(os.path.join(setdir, f), "rb").read()
    cert, chain, priv = rd("cert.pem"), rd("chain.pem"), rd("privkey.pem")
    files = {"cert": cert, "chain": chain, "fullchain": cert + chain,
             "privkey": priv}
    for kind, data in files.items():
        write(os.path.join(arch, kind + "1.pem"), data,
              0o600 if kind == "privkey" else 0o644)
        os.symlink(os.path.join("../../archive", name, kind + "1.pem"),
                   os.path.join(live, kind + ".pem"))
    readme = "This directory contains your keys and certificates.\n"
    write(os.path.join(top, "live", "README"), readme)
    write(os.path.join(live, "README"), readme)

    leaf = x509.load_pem_x509_certificate(cert)
    first = x509.load_pem_x509_certificate(chain)
    emails = leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.RFC822Name)
    enc = serialization.BestAvailableEncryption(passphrase.encode()) \
        if passphrase else serialization.NoEncryption()
    pfx = pkcs12.serialize_key_and_certificates(
        name=emails[0].encode(), cas=[first], cert=leaf,
        key=serialization.load_pem_private_key(priv, None),
        encryption_algorithm=enc)
    write(os.path.join(live, "0000_cert.pfx"), pfx, 0o600)

    params = [("account", acct_id), ("server", server),
              ("authenticator", auth), ("installer", "castle-installer"),
              ("key_type", "rsa")]
    if passphrase:
        params.append(("castle_installer_passphrase", passphrase))
    else:
        params.append(("castle_installer_no_passphrase", "True"))
    params += [tuple(kv) for kv in extra]
    lines = ["# renew_before_expiry = 30 days", "version = 2.1.0",
             "archive_dir = " + arch]
    for kind in ("cert", "privkey", "chain", "fullchain"):
        lines.append("%s = %s" % (kind, os.path.join(live, kind + ".pem")))
    lines += ["", "# Options used in the renewal process", "[renewalparams]"]
    lines += ["%s = %s" % (k, quote(v)) for k, v in params]
    write(os.path.join(ren, name + ".conf"), "\n".join(lines) + "\n")
    print(acct_id)


if __name__ == "__main__":
    main()
