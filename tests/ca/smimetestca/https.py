"""The HTTPS side of the test CA below the ACME resources: the server
(TLS handshake in the handler thread), request plumbing and the test-only
/_test/ endpoints (no JWS, loopback clients only)."""

import http.server
import ipaddress
import json
import logging
import sys
import urllib.parse

from .util import ERR, AcmeError, norm_addr

log = logging.getLogger("smime-test-ca")


class Handler(http.server.BaseHTTPRequestHandler):
    """HTTP plumbing: replies (with Replay-Nonce and the index Link),
    problem documents, dispatch to route() (acme.AcmeHandler) and the
    /_test/ inspection endpoints."""
    protocol_version = "HTTP/1.1"
    server_version = "smime-test-ca/1.0"
    timeout = 60
    ca = None  # set at start

    def log_message(self, fmt, *a):
        log.debug("%s %s", self.address_string(), fmt % a)

    # ------- plumbing
    def send(self, status, body=b"", ctype=None, headers=None, nonce=True):
        if isinstance(body, (dict, list)):
            body = json.dumps(body, indent=1).encode()
            ctype = ctype or "application/json"
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if nonce:
            self.send_header("Replay-Nonce", self.ca.new_nonce(
                getattr(self, "spare_nonce", False)))
            self.spare_nonce = False
            self.send_header("Cache-Control", "no-store")
        self.send_header("Link", '<%s>;rel="index"' % self.ca.url("/dir"))
        for k, v in (headers or {}).items():
            if isinstance(v, list):
                for x in v:
                    self.send_header(k, x)
            else:
                self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_problem(self, e):
        doc = {"type": e.typ, "detail": e.detail, "status": e.status}
        doc.update(e.extra)
        self.send(e.status, json.dumps(doc, indent=1).encode(),
                  "application/problem+json", e.headers)

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        with self.ca.lock:
            self.ca.counts["requests"] += 1
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > 1 << 20:
                self.close_connection = True
                raise AcmeError(ERR + "malformed", "request too large", 413)
            self.body = self.rfile.read(length) if length else b""
            path = urllib.parse.urlsplit(self.path).path
            if path.startswith("/_test/"):
                return self.test_endpoint(method, path)
            route = self.route(method, path)
            route()
        except AcmeError as e:
            self.send_problem(e)
        except (BrokenPipeError, ConnectionResetError):
            raise
        except Exception as e:
            log.exception("internal error on %s %s", method, self.path)
            self.send_problem(AcmeError(ERR + "serverInternal",
                                        "internal error: %s" % e, 500))

    # ------- test endpoints
    def test_endpoint(self, method, path):
        ca = self.ca
        if not ipaddress.ip_address(self.client_address[0]).is_loopback:
            raise AcmeError(ERR + "unauthorized", "test endpoints are "
                            "loopback only", 403)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if path == "/_test/state" and method == "GET":
            with ca.lock:
                doc = ca.test_state()
            self.send(200, doc, nonce=False)
        elif path == "/_test/mails" and method == "GET":
            with ca.lock:
                doc = {"mails": list(ca.mails)}
            self.send(200, doc, nonce=False)
        elif path == "/_test/replies" and method == "GET":
            with ca.lock:
                doc = {"replies": list(ca.replies)}
            self.send(200, doc, nonce=False)
        elif path == "/_test/challenge" and method == "GET":
            addr = (q.get("email") or [""])[0]
            with ca.lock:
                found = [c for c in ca.challs.values()
                         if norm_addr(c["mailbox"]) == norm_addr(addr)
                         and c["mail_state"] == "sent"]
            if not found:
                raise AcmeError(ERR + "malformed", "no challenge mail sent to "
                                "%r" % addr, 404)
            self.send(200, found[-1]["mail"], "message/rfc822", nonce=False)
        elif path == "/_test/config" and method in ("POST", "GET"):
            if method == "POST":
                try:
                    req = json.loads(self.body or b"{}")
                except ValueError:
                    raise AcmeError(ERR + "malformed", "config is not JSON")
                if not isinstance(req, dict):
                    raise AcmeError(ERR + "malformed", "config must be an "
                                    "object")
                ca.set_config(req)
            with ca.lock:
                self.send(200, dict(ca.config), nonce=False)
        else:
            raise AcmeError(ERR + "malformed", "no such test endpoint", 404)


class HttpsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr, handler, ctx):
        self.ctx = ctx
        super().__init__(addr, handler)

    def get_request(self):
        # TLS handshake happens in the handler thread, not in accept()
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr

    def handle_error(self, request, client_address):
        log.debug("connection from %s ended: %s", client_address,
                  sys.exc_info()[1])
