"""SMTP, both ways: the challenge mail goes out through the relays, tried
in order like a domain's MX hosts, or to all of them at once (send_mail), replies come in to a minimal receiver (SmtpHandler, RFC 5321
subset) that hands each message to Ca.handle_reply."""

import logging
import re
import smtplib
import socketserver
import threading
import time

log = logging.getLogger("smime-test-ca")


def parse_relays(spec):
    """"HOST:PORT[,HOST:PORT...]" -> list of (host, port); ValueError if
    malformed."""
    out = []
    for r in spec.split(","):
        host, _, port = r.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("relay %r is not HOST:PORT" % r)
        out.append((host, int(port)))
    return out


def _deliver(relay, from_addr, mailbox, raw, barrier=None):
    """One SMTP transaction with RELAY (host, port); with BARRIER, wait on
    it between RCPT and DATA so that parallel deliveries end at the same
    moment.  Raises on any failure (4xx and 5xx included)."""
    opts = [] if mailbox.isascii() else ["SMTPUTF8"]
    with smtplib.SMTP(relay[0], relay[1], timeout=30) as s:
        s.ehlo()
        code, resp = s.mail(from_addr, opts)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, resp, from_addr)
        code, resp = s.rcpt(mailbox)
        if code not in (250, 251):
            raise smtplib.SMTPRecipientsRefused({mailbox: (code, resp)})
        if barrier is not None:
            barrier.wait(timeout=30)
        code, resp = s.data(raw)
        if code != 250:
            raise smtplib.SMTPDataError(code, resp)


def send_mail(relays, from_addr, mailbox, raw, deliver_all=False, tries=5):
    """Send RAW from FROM_ADDR to MAILBOX as a domain's MX list is used:
    RELAYS ("HOST:PORT[,HOST:PORT...]") in order, a failure (connection,
    4xx or 5xx) falls back to the next, up to TRIES rounds with a growing
    pause between them (0.5 s more each round, at most 3 s).  With DELIVER_ALL, the same mail goes to every
    relay at the same moment instead (parallel sessions whose final "."
    is sent together: a duplicated delivery), each with its own rounds.
    Returns None, or the last error (of any relay with DELIVER_ALL)."""
    rl = parse_relays(relays)
    if deliver_all and len(rl) > 1:
        errs = [None] * len(rl)
        barrier = threading.Barrier(len(rl))

        def one(i):
            try:
                _deliver(rl[i], from_addr, mailbox, raw, barrier)
            except (OSError, smtplib.SMTPException,
                    threading.BrokenBarrierError) as e:
                barrier.abort()
                errs[i] = send_mail("%s:%d" % rl[i], from_addr, mailbox, raw,
                                    tries=tries)
                if errs[i] is None:
                    log.info("delivery to %s:%d retried after: %s",
                             rl[i][0], rl[i][1], e)
        ts = [threading.Thread(target=one, args=(i,), daemon=True)
              for i in range(len(rl))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return next((e for e in errs if e is not None), None)
    err = None
    for attempt in range(tries):
        for r in rl:
            try:
                _deliver(r, from_addr, mailbox, raw)
                return None
            except (OSError, smtplib.SMTPException) as e:
                err = e
                log.info("challenge mail to %s via %s:%d: %s", mailbox,
                         r[0], r[1], e)
        if attempt + 1 < tries:
            time.sleep(min(0.5 * (attempt + 1), 3.0))
    return err


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
