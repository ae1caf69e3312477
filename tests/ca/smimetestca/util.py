"""Small pieces every module of the test CA uses: RFC 8555 problems
(AcmeError, problem_doc), base64url, time stamps, addr-spec checks and
atomic file writes."""

import base64
import datetime
import os
import re

ERR = "urn:ietf:params:acme:error:"


def b64u(data):
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_dec(text):
    """Strict base64url decoding: no padding, URL-safe alphabet only."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]*",
                                                     text):
        raise ValueError("not unpadded base64url")
    if len(text) % 4 == 1:
        raise ValueError("bad base64url length")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def rfc3339(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class AcmeError(Exception):
    """An RFC 8555 problem document to send back."""

    def __init__(self, typ, detail, status=400, headers=None, extra=None):
        super().__init__(detail)
        self.typ = typ
        self.detail = detail
        self.status = status
        self.headers = headers or {}
        self.extra = extra or {}


# addr-spec (RFC 5322 dot-atom local part or quoted string, RFC 6531 UTF-8
# allowed), domain = dot-atom of LDH labels (U-labels allowed).
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
LOCAL_RE = re.compile(r"(?:%s+(?:\.%s+)*|\"(?:[^\"\\\r\n]|\\.)*\")"
                      % (ATEXT, ATEXT))
LABEL_RE = re.compile(r"[A-Za-z0-9\u0080-\U0010ffff]"
                      r"(?:[A-Za-z0-9\-\u0080-\U0010ffff]{0,61}"
                      r"[A-Za-z0-9\u0080-\U0010ffff])?")


def valid_addr_spec(value):
    """True if value is a bare addr-spec usable as an email identifier."""
    if not isinstance(value, str) or len(value) > 254 or value.count("@") < 1:
        return False
    local, _, domain = value.rpartition("@")
    if not local or not domain or len(local.encode()) > 64:
        return False
    if not LOCAL_RE.fullmatch(local):
        return False
    labels = domain.split(".")
    if len(labels) < 2:
        return False
    return all(LABEL_RE.fullmatch(lab) for lab in labels)


def norm_addr(value):
    """Comparison key: local part exact, domain case-insensitive."""
    local, _, domain = value.rpartition("@")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    return local + "@" + domain.lower()


def write_file(path, data, mode=0o644):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.chmod(tmp, mode)
    os.rename(tmp, path)


def problem_doc(typ, detail):
    return {"type": typ, "detail": detail}
