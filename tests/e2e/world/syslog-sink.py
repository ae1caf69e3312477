#!/usr/bin/python3
"""syslog-sink.py: the Sendmail world's /dev/log.

    syslog-sink.py SOCKET LOGFILE

Binds a unix datagram socket at SOCKET (mode 666) and appends every message
received, one line each, to LOGFILE until killed.  sendmail.sh bind-mounts
SOCKET over /dev/log in the daemon's private mount namespace, so Sendmail
logs here whether or not the host has a syslog daemon.
"""

import os
import signal
import socket
import sys


def main(path, logfile):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(logfile, "ab", buffering=0) as out:
        while True:
            data = s.recv(65536)
            out.write(data.rstrip(b"\0\n") + b"\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(64)
    main(sys.argv[1], sys.argv[2])
