#!/usr/bin/python3
# tests/lib/free-ports.py [N]: print N (default 1) distinct free TCP ports on
# 127.0.0.1, one per line, for a test's servers to listen on.
#
# The ports are picked below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range).  A port the kernel hands out for bind(0)
# lies in that range, and any outgoing connection made before the server
# binds it (the test worlds start many) can take it: the server then fails
# with "Address already in use" (Sendmail retries for minutes).  All sockets
# are held open together, so the ports differ from each other.
import random
import socket
import sys

lo, hi = 10000, 30000
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        hi = min(hi, int(f.read().split()[0]) - 1)
except (OSError, ValueError, IndexError):
    pass
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1
socks = []
while len(socks) < n:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randint(lo, hi)))
    except OSError:
        s.close()
        continue
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
