#!/usr/bin/env bash
# test_ca_world.sh: the test CA and the mail world end to end, without our C
# programs (tests/ca/acmeclient.py plays the requester and the mail user).
# For each token rule (octet, string; switched at run time through the CA's
# /_test/config): new account, order for an address @example.test, the
# challenge mail is read from the mailbox over IMAP, its DKIM signature is
# checked (dkimpy against DKIM_KEYS: pass, d= = From domain = ca.test, h=
# covering the RFC 8823 section 3.1 list), the reply goes out unsigned
# through Postfix's SUBMIT_PORT (OpenDKIM signs it), the challenge is POSTed,
# the authorization becomes valid, the order is finalized and the
# certificate verifies against CA_ROOT with `openssl verify -purpose
# smimesign`.  Negative case: a reply computed with the wrong token rule
# leaves the authorization invalid.
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root ca-world

if ! world_up; then
	fail ca-world-up "world.sh up failed"
	e2e_finish
fi
pass ca-world-up

T=$WORLD_DIR/t
mkdir -p "$T"

# flow RULE ADDR [WRONG_RULE]: one issuance; prints PASS/FAIL lines itself
flow() {
	RULE=$1 ADDR=$2 WRONG=${3:-} OUT=$T/$2 E2E_DIR=$E2E_DIR \
		RFC8823_CHALLENGE_H=$RFC8823_CHALLENGE_H PYTHONPATH="$E2E_TOP/tests/ca" \
		"$E2E_PY" - <<'EOF'
import imaplib, json, os, re, smtplib, ssl, subprocess, sys, time, urllib.request
from acmeclient import *
from cryptography import x509
from cryptography.hazmat.primitives import serialization

env = os.environ
rule, addr, wrong, out = env["RULE"], env["ADDR"], env["WRONG"], env["OUT"]
name = "ca-world-%s%s" % (rule, "-wrong-rule" if wrong else "")
os.makedirs(out, exist_ok=True)

def result(ok, why=""):
    print(("PASS: %s" % name) if ok else ("FAIL: %s: %s" % (name, why)))
    sys.exit(0 if ok else 1)

def step(msg):
    print("  %s: %s" % (name, msg))

try:
    # token rule of the CA (recorded per challenge at creation)
    ctx = ssl.create_default_context(cafile=env["CA_TRUST"])
    req = urllib.request.Request(
        "https://127.0.0.1:%s/_test/config" % env["CA_HTTPS_PORT"],
        data=json.dumps({"token_rule": rule}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    cfg = json.load(urllib.request.urlopen(req, context=ctx, timeout=10))
    if cfg.get("token_rule") != rule:
        result(False, "CA did not take token_rule %s: %r" % (rule, cfg))

    c = AcmeClient(env["CA_URL"], cafile=env["CA_TRUST"])
    c.new_account(contact=["mailto:admin@example.test"])
    order_url, order = c.new_order([addr])
    authz_url = order["authorizations"][0]
    ch = find_email_challenge(c.get_authz(authz_url))
    if ch.get("from") != env["CA_FROM"]:
        result(False, "challenge from %r, CA_FROM %r" % (ch.get("from"), env["CA_FROM"]))
    step("order %s, challenge from %s" % (order_url, ch["from"]))

    # the challenge mail, over IMAPS
    im = imaplib.IMAP4_SSL("127.0.0.1", int(env["IMAPS_PORT"]),
                           ssl_context=ssl.create_default_context(cafile=env["IMAP_TLS_CA"]))
    im.login(addr, env["MAIL_PASSWORD"])
    raw, end = None, time.time() + 20
    while raw is None and time.time() < end:
        n = int(im.select("INBOX")[1][0])
        for i in range(1, n + 1):
            m = im.fetch(str(i), "(RFC822)")[1][0][1]
            if re.match(r"ACME:\s", subject_of(m)) and env["CA_FROM"].encode() in m:
                raw = m
        if raw is None:
            time.sleep(0.3)
    im.logout()
    if raw is None:
        result(False, "no challenge mail in %s's INBOX over IMAP" % addr)
    open(os.path.join(out, "challenge.eml"), "wb").write(raw)

    v = subprocess.run([sys.executable, os.path.join(env["E2E_DIR"], "world/dkimverify.py"),
                        "--keys", env["DKIM_KEYS"], "--d-is-from",
                        "--require-h", env["RFC8823_CHALLENGE_H"],
                        os.path.join(out, "challenge.eml")],
                       capture_output=True, text=True)
    if v.returncode != 0 or not v.stdout.startswith("pass d=ca.test "):
        result(False, "challenge DKIM: %s" % (v.stdout.strip() or v.stderr.strip()))
    step("challenge DKIM %s" % v.stdout.split(" h=")[0])

    part1 = parse_challenge_subject(subject_of(raw))
    digest = rfc8823_response(part1, ch["token"], c.thumbprint(), wrong or rule)
    reply = compose_reply(raw, addr, digest)
    with smtplib.SMTP("127.0.0.1", int(env["SUBMIT_PORT"]), timeout=30) as s:
        s.sendmail(addr, [ch["from"]], reply)
    step("reply submitted on port %s" % env["SUBMIT_PORT"])

    c.post_challenge(ch["url"])
    a = c.poll_authz(authz_url, timeout=30)
    if wrong:
        chs = [x for x in a.get("challenges", []) if x.get("type") == "email-reply-00"]
        err = json.dumps(chs and chs[0].get("error"))
        if a["status"] == "invalid" and ("incorrectResponse" in err or err == "null"):
            step("authorization invalid as expected: %s" % err)
            result(True)
        result(False, "authorization %s with a %s-rule reply on a %s-rule CA"
               % (a["status"], wrong, rule))
    if a["status"] != "valid":
        chs = [x for x in a.get("challenges", []) if x.get("type") == "email-reply-00"]
        result(False, "authorization %s: %s" % (a["status"], chs and chs[0].get("error")))

    key = generate_key("RS256")
    order = c.finalize(order_url, make_csr(key, [addr]))
    if order["status"] != "valid":
        result(False, "order %s after finalize" % order["status"])
    chain, _ = c.download(order["certificate"])
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", chain, re.S)
    if not pems:
        result(False, "no certificate in the download")
    open(os.path.join(out, "cert.pem"), "w").write(pems[0])
    open(os.path.join(out, "chain.pem"), "w").write("".join(pems[1:]))
    cert = x509.load_pem_x509_certificate(pems[0].encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    if addr not in san.get_values_for_type(x509.RFC822Name):
        result(False, "certificate SAN %r lacks %s" % (san, addr))
    cmd = ["openssl", "verify", "-purpose", "smimesign", "-CAfile", env["CA_ROOT"]]
    if len(pems) > 1:
        cmd += ["-untrusted", os.path.join(out, "chain.pem")]
    v = subprocess.run(cmd + [os.path.join(out, "cert.pem")], capture_output=True, text=True)
    if v.returncode != 0:
        result(False, "openssl verify: %s" % (v.stdout + v.stderr).strip().replace("\n", " | "))
    step("certificate for %s verifies (smimesign)" % addr)
    result(True)
except SystemExit:
    raise
except Exception as e:
    result(False, "%s: %s" % (type(e).__name__, e))
EOF
}

flow octet alice@example.test
flow string bob@example.test
flow string carol@example.test octet

e2e_finish
