#!/usr/bin/python3
"""tests/e2e/world/dns-keys.py: a tiny authoritative DNS server for DKIM
keys (TXT), UDP only, for tests that need the milter's real DNS path.

  dns-keys.py ADDR ZONE READY

Listens on ADDR port 53 (any 127.0.0.0/8 address: loopback answers them
all), writes READY once bound.  ZONE is read again for every query, so a
test changes answers by rewriting it (atomically, by rename).  One line per
name:

  NAME MODE [TXT...]     MODE ok (answer TXT), servfail (SERVFAIL), drop
                         (no answer at all: a resolver that times out)

Other names get NXDOMAIN.  Every query is logged to stderr as
"query NAME TYPE -> MODE".  Needs Debian's python3-dnspython.
"""
import socket, sys
import dns.message, dns.rcode, dns.rdataclass, dns.rdatatype, dns.rrset

addr, zone, ready = sys.argv[1:4]


def lookup(name):
    try:
        lines = open(zone).read().splitlines()
    except OSError:
        return None, None
    for line in lines:
        f = line.split(None, 2)
        if len(f) >= 2 and f[0].rstrip('.').lower() == name:
            return f[1], f[2] if len(f) > 2 else ''
    return None, None


def txt_rdata(text):
    # one TXT record, its text cut into character-strings of 255 octets
    parts = [text[i:i + 255] for i in range(0, len(text), 255)] or ['']
    return ' '.join('"%s"' % p.replace('\\', '\\\\').replace('"', '\\"')
                    for p in parts)


s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 53))
open(ready, 'w').write('ready\n')
while True:
    data, peer = s.recvfrom(4096)
    try:
        q = dns.message.from_wire(data)
        qn = q.question[0].name.to_text().rstrip('.').lower()
        qt = q.question[0].rdtype
    except Exception:
        continue
    mode, text = lookup(qn)
    print('query %s %s -> %s' % (qn, dns.rdatatype.to_text(qt),
                                 mode or 'nxdomain'), file=sys.stderr,
          flush=True)
    if mode == 'drop':
        continue
    r = dns.message.make_response(q)
    r.flags |= 0x0400  # AA
    if mode == 'servfail':
        r.set_rcode(dns.rcode.SERVFAIL)
    elif mode == 'ok' and qt == dns.rdatatype.TXT:
        r.answer.append(dns.rrset.from_text(
            q.question[0].name, 0, dns.rdataclass.IN, dns.rdatatype.TXT,
            txt_rdata(text)))
    elif mode != 'ok':
        r.set_rcode(dns.rcode.NXDOMAIN)
    s.sendto(r.to_wire(), peer)
