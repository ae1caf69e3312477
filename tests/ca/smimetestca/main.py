"""Command line and start-up of the test CA: make the PKI, start the
HTTPS and SMTP servers, write DIR/ca.env and DIR/ready, stop on SIGTERM or
SIGINT."""

import argparse
import logging
import os
import signal
import ssl
import threading

from .acme import AcmeHandler
from .https import HttpsServer
from .pki import Pki
from .smtp import SmtpHandler, SmtpServer, parse_relays
from .state import Ca
from .util import b64u, valid_addr_spec, write_file

log = logging.getLogger("smime-test-ca")


def parse_args(argv):
    p = argparse.ArgumentParser(description="RFC 8823 test ACME CA")
    p.add_argument("--state", required=True, help="state directory")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--https-port", type=int, default=0)
    p.add_argument("--smtp-port", type=int, default=0)
    p.add_argument("--relay", required=True, help="HOST:PORT[,HOST:PORT...] "
                   "for challenge mails, tried in order like MX hosts")
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
    try:
        parse_relays(a.relay)
    except ValueError as e:
        p.error("--relay: %s" % e)
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
    AcmeHandler.ca = ca
    SmtpHandler.ca = ca

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(args.state, "tls-cert.pem"),
                        os.path.join(args.state, "tls-key.pem"))
    httpd = HttpsServer((args.listen, args.https_port), AcmeHandler, ctx)
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
