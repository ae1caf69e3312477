#!/usr/bin/python3
"""maildir-deliver.py: Postfix pipe(8) delivery agent of the test world.

    maildir-deliver.py BASE RECIPIENT   < message

Writes the message to BASE/<domain>/<local part>/Maildir/new/ (tmp, fsync,
rename), creating the Maildir as needed.  Runs as user mail (pipe user=).
Dovecot serves the same directories (mail_location maildir:BASE/%d/%n/Maildir).
Exit status for pipe(8): 0 delivered, 67 bad address, 75 try again.
"""

import os
import socket
import sys
import time

EX_NOUSER, EX_TEMPFAIL = 67, 75


def main(base, rcpt):
    local, sep, domain = rcpt.rpartition("@")
    local, domain = local.lower(), domain.lower()
    for part in (local, domain):
        if not sep or not part or part.startswith(".") or "/" in part or "\0" in part:
            sys.stderr.write("bad recipient %r\n" % rcpt)
            return EX_NOUSER
    md = os.path.join(base, domain, local, "Maildir")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), mode=0o700, exist_ok=True)
    data = sys.stdin.buffer.read()
    now = time.time()
    name = "%d.M%dP%d.%s" % (int(now), int((now % 1) * 1e6), os.getpid(),
                             socket.gethostname().replace("/", "_"))
    tmp = os.path.join(md, "tmp", name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, os.path.join(md, "new", "%s,S=%d" % (name, len(data))))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write("usage: maildir-deliver.py BASE RECIPIENT\n")
        sys.exit(64)
    try:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    except OSError as e:
        sys.stderr.write("delivery failed: %s\n" % e)
        sys.exit(EX_TEMPFAIL)
