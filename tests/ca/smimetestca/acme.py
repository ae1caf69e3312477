"""The ACME resources of the test CA (RFC 8555, with RFC 8823 email
identifiers and RFC 9773 renewal information): routing, JWS request
authentication and one handler per resource.  All state lives in the Ca
(state.py); this module turns requests into its changes."""

import datetime
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .https import Handler
from .jws import (jwk_thumbprint, jwk_to_key, key_to_jwk, parse_flat_jws,
                  verify_jws_sig)
from .pki import OID_SMTPUTF8MAILBOX, ari_cert_id, der_utf8string, pem
from .util import (ERR, AcmeError, b64u, b64u_dec, norm_addr, now,
                   problem_doc, rfc3339, valid_addr_spec)

log = logging.getLogger("smime-test-ca")

REVOCATION_REASONS = {0, 1, 3, 4, 5}
AUTHZ_LIFETIME = 24 * 3600
ORDER_LIFETIME = 24 * 3600


class AcmeHandler(Handler):
    """One HTTPS request to the ACME server."""

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
        kind = ca.use_nonce(nonce) if isinstance(nonce, str) else None
        if kind is None:
            raise AcmeError(ERR + "badNonce", "nonce missing, unknown or "
                            "already used")
        rate = float(ca.config["badnonce_rate"] or 0)
        if rate > 0 and kind != "spared" and random.random() < rate:
            with ca.lock:
                ca.counts["badnonce_injected"] += 1
            self.spare_nonce = True
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
            hdr["Retry-After"] = str(ca.config["order_retry_after"])
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
            o["finalized_at"] = time.time()
            doc = ca.order_json(o)
            retry_after = str(ca.config["order_retry_after"])
        log.info("order %s: issued certificate serial %x", oid,
                 cert.serial_number)
        self.send(200, doc, headers={"Location": ca.url("/order/" + oid),
                                     "Retry-After": retry_after})

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
        if ca.config["chains"] == 1:
            if alt:
                raise AcmeError(ERR + "malformed", "no alternate chain "
                                "offered (chains 1)", 404)
            self.send(200, chain, "application/pem-certificate-chain")
            return
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
