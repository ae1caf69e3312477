"""The ACME state machine of the test CA: accounts, orders,
authorizations, challenges and certificates in memory, the nonces, the
JSON views of each object, when the challenge mail goes out and what a
reply does to its challenge.  The HTTPS handlers (acme.py) and the SMTP
receiver (smtp.py) change it only through a Ca, under Ca.lock."""

import datetime
import email
import email.policy
import hashlib
import logging
import re
import secrets
import threading
import time

from .mail import (KeyStore, compose_challenge, decode_header_text,
                   reply_failure)
from .smtp import parse_relays, send_mail
from .util import ERR, AcmeError, b64u, b64u_dec, now, problem_doc, rfc3339

log = logging.getLogger("smime-test-ca")


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
            "unsigned": False,
            "processing_time": 0.3,  # s a finalized order stays processing
            "order_retry_after": 1,
            "chains": 2,  # 2: a Link rel="alternate" chain; 1: none
            "relay": args.relay,      # HOST:PORT[,HOST:PORT...], in order
            "deliver_all": False,     # the same mail to every relay at once
            "relay_tries": 5,         # rounds over the relays
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

    def new_nonce(self, spared=False):
        """A fresh nonce.  A spared one (handed out with an injected
        badNonce) is never rejected by injection again, so the retry the
        error asks for succeeds, as it would at a real CA."""
        n = b64u(secrets.token_bytes(16))
        with self.lock:
            self.nonces[n] = "spared" if spared else "plain"
            if len(self.nonces) > 200000:
                for k in list(self.nonces)[:50000]:
                    del self.nonces[k]
        return n

    def use_nonce(self, n):
        """Consume n: "plain", "spared", or None if unknown or used."""
        with self.lock:
            return self.nonces.pop(n, None)

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
                time.time() >= o["finalized_at"] + \
                self.config["processing_time"]:
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
        with self.lock:
            relay, every = self.config["relay"], self.config["deliver_all"]
            tries = self.config["relay_tries"]
        err = send_mail(relay, self.args.from_addr, ch["mailbox"],
                        ch["mail"], every, tries)
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
        return compose_challenge(self.pki, self.args.from_addr, mailbox,
                                 part1, msgid, self.args.smime,
                                 sign=not self.config["unsigned"])

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
        def digest():
            with self.lock:
                return self.expected_digest(ch)

        failure = reply_failure(msg, data, ch, threaded, subj_token,
                                self.reply_keys.dnsfunc, digest)
        with self.lock:
            if ch["status"] not in ("pending", "processing"):
                return "ignored: challenge %s is %s" % (cid, ch["status"])
            if failure:
                self.fail_chall(ch, failure[0], failure[1])
                return "rejected (%s): %s" % (failure[0], failure[1])
            ch["reply_ok"] = True
            self.maybe_valid(ch)
            return "accepted for challenge %s" % cid

    # -- lookups, configuration and inspection (the /_test/ endpoints)
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
                "finalize_500_once": bool, "unsigned": bool,
                "badnonce_rate": lambda v: float(v) if 0 <= float(v) <= 1
                else _bad("badnonce_rate must be 0..1"),
                "send_on": lambda v: v if v in ("authz", "post")
                else _bad("send_on must be authz or post"),
                "mail_delay": lambda v: float(v) if float(v) >= 0
                else _bad("mail_delay must be >= 0"),
                "processing_time": lambda v: float(v) if float(v) >= 0
                else _bad("processing_time must be >= 0"),
                "order_retry_after": lambda v: int(v) if int(v) >= 0
                else _bad("order_retry_after must be >= 0"),
                "chains": lambda v: int(v) if int(v) in (1, 2)
                else _bad("chains must be 1 or 2"),
                "relay": _relay_spec,
                "deliver_all": bool,
                "relay_tries": lambda v: int(v) if int(v) >= 1
                else _bad("relay_tries must be >= 1")}
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


def _relay_spec(v):
    """A relay list for the config: "HOST:PORT[,HOST:PORT...]"."""
    if not isinstance(v, str):
        raise TypeError("relay must be a string HOST:PORT[,HOST:PORT...]")
    parse_relays(v)
    return v


def _bad(msg):
    raise ValueError(msg)
