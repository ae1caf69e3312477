"""SMTP, both ways: the challenge mail goes out through the relay
(send_mail), replies come in to a minimal receiver (SmtpHandler, RFC 5321
subset) that hands each message to Ca.handle_reply."""

import re
import smtplib
import socketserver
import time


def send_mail(relay, from_addr, mailbox, raw):
    """Send RAW from FROM_ADDR to MAILBOX through RELAY (HOST:PORT), up to
    five tries; returns None, or the last error."""
    host, _, port = relay.rpartition(":")
    err = None
    for attempt in range(5):
        try:
            with smtplib.SMTP(host, int(port), timeout=30) as s:
                opts = [] if mailbox.isascii() else ["SMTPUTF8"]
                s.sendmail(from_addr, [mailbox], raw, mail_options=opts)
            err = None
            break
        except (OSError, smtplib.SMTPException) as e:
            err = e
            time.sleep(0.5 * (attempt + 1))
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
