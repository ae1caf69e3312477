#!/usr/bin/python3
"""tests/milter/tools.py: the helpers of tests/milter/check.sh.

  rand NOCTETS                 random base64url text of NOCTETS octets
  digest P1 P2 THUMB RULE      the RFC 8823 response for a token rule
  sign KEY DOMAIN IN OUT [OMIT-HEADER...]   DKIM-sign a mail (selector sel;
                               SIGN_ALG, SIGN_SEL, SIGN_LEN=1 for l=,
                               SIGN_EXTRA_H: more h= names, comma separated,
                               even those dkimpy refuses (dkim-signature))
  verify KEYS MAIL             exit 0 if the mail's DKIM signature passes
  key ADDR                     the spool file name of an address
  smime MODE CERT KEY CHAIN RAW OUT [TAMPER]   S/MIME-sign a challenge mail
  killverifier PIDFILE OUT     SIGKILL every process below the milter but
                               the keeper (smime-acme-keep); pids to OUT
  killworkers PIDFILE OUT      SIGKILL the server's idle workers only (the
                               OOM killer's choice); pids to OUT

Needs Debian's python3-dkim and, for smime, openssl.
"""
import base64, hashlib, os, sys, dkim

def d(s): return base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))
def e(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode()

# DER: (tag, header length, total length) of the TLV at b[i:]
def tlv(b, i):
    n, h = b[i + 1], 2
    if n & 0x80:
        k = n & 0x7f
        n, h = int.from_bytes(b[i + 2:i + 2 + k], 'big'), 2 + k
    return b[i], h, h + n
def der(tag, body):
    n = len(body)
    ln = bytes([n]) if n < 0x80 else \
        bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, 'big')
    return bytes([tag]) + ln + body
def kids(b):
    out, i = [], 0
    while i < len(b):
        out.append(b[i:i + tlv(b, i)[2]])
        i += tlv(b, i)[2]
    return out
def cert_first(p7, first):
    # ContentInfo { oid, [0] { SignedData { ..., [0] certificates, ... } } }
    ci = kids(p7[tlv(p7, 0)[1]:])
    sd_wrap = ci[1]
    sd = sd_wrap[tlv(sd_wrap, 0)[1]:]
    f = kids(sd[tlv(sd, 0)[1]:])
    for j, x in enumerate(f):
        if x[0] == 0xa0:
            cs = kids(x[tlv(x, 0)[1]:])
            assert first in cs, 'decoy not in the PKCS#7'
            cs.remove(first)
            f[j] = der(0xa0, first + b''.join(cs))
    return der(0x30, ci[0] + der(0xa0, der(0x30, b''.join(f))))

REQ = ['from', 'sender', 'reply-to', 'to', 'cc', 'subject', 'date',
       'in-reply-to', 'references', 'message-id', 'auto-submitted',
       'content-type', 'content-transfer-encoding']
cmd = sys.argv[1]
if cmd == 'rand':            # rand NOCTETS
    print(e(os.urandom(int(sys.argv[2]))))
elif cmd == 'digest':        # digest P1 P2 THUMB RULE
    p1, p2, tp, rule = sys.argv[2:6]
    tok = e(d(p1) + d(p2)) if rule == 'octet' else p1 + p2
    print(e(hashlib.sha256((tok + '.' + tp).encode()).digest()))
elif cmd == 'sign':          # sign KEY DOMAIN IN OUT [OMIT-HEADER]
    # environment: SIGN_ALG (rsa-sha256), SIGN_SEL (sel), SIGN_LEN=1 (l=),
    # SIGN_EXTRA_H (more h= names)
    key, dom, src, dst = sys.argv[2:6]
    hs = [h for h in REQ if h not in sys.argv[6:]]
    extra = [h for h in os.environ.get('SIGN_EXTRA_H', '').split(',') if h]
    if extra:           # a forgery on purpose: let dkimpy sign any name
        dkim.DKIM.SHOULD_NOT = ()
        hs += extra
    msg = open(src, 'rb').read()
    sig = dkim.sign(msg, os.environ.get('SIGN_SEL', 'sel').encode(),
                    dom.encode(), open(key, 'rb').read(),
                    include_headers=[h.encode() for h in hs],
                    signature_algorithm=os.environ.get(
                        'SIGN_ALG', 'rsa-sha256').encode(),
                    length=os.environ.get('SIGN_LEN') == '1')
    open(dst, 'wb').write(sig + msg)
elif cmd == 'verify':        # verify KEYS MAIL: exit 0 if DKIM passes
    keys = {}
    for line in open(sys.argv[2]):
        n, v = line.split(' ', 1)
        keys[n + '.'] = v.strip().encode()
    def dns(name, timeout=5):
        return keys.get(name.decode(), b'')
    sys.exit(0 if dkim.verify(open(sys.argv[3], 'rb').read(),
                              dnsfunc=dns) else 1)
elif cmd == 'key':           # key ADDR: spool file name
    a = sys.argv[2]
    l, _, dom = a.rpartition('@')
    print(hashlib.sha256((l + '@' + dom.lower()).encode()).hexdigest())
elif cmd == 'smime':         # smime MODE CERT KEY CHAIN RAW OUT [TAMPER]
    # RAW (a challenge mail from mkmail) S/MIME-signed by CERT/KEY: the
    # signed entity is a message/rfc822 copy of RAW (header protection);
    # MODE signed (multipart/signed) or mime (application/pkcs7-mime)
    import subprocess, tempfile
    mode, cert, key, chain, src, dst = sys.argv[2:8]
    tamper = sys.argv[8] if len(sys.argv) > 8 else ''
    raw = open(src, 'rb').read()
    hdr, _, _ = raw.partition(b'\r\n\r\n')
    outer = [l for l in hdr.split(b'\r\n')
             if not l.lower().startswith((b'content-type:', b'mime-version:'))]
    inner = (b'Content-Type: message/rfc822; forwarded=no\r\n'
             b'Content-Transfer-Encoding: 7bit\r\n\r\n' + raw)
    with tempfile.TemporaryDirectory() as td:
        open(td + '/in', 'wb').write(inner)
        args = ['openssl', 'smime', '-sign', '-binary', '-md', 'sha256',
                '-in', td + '/in', '-signer', cert, '-inkey', key,
                '-certfile', chain, '-outform', 'DER', '-out', td + '/sig']
        if mode == 'mime':
            args.append('-nodetach')
        subprocess.run(args, check=True)
        sig = open(td + '/sig', 'rb').read()
    if tamper.startswith('first='):   # put this certificate (PEM) first
        pem = open(tamper[6:]).read().split('-----')[2]
        sig = cert_first(sig, base64.b64decode(pem))
    b64 = base64.encodebytes(sig).replace(b'\n', b'\r\n')
    if tamper == 'content':
        inner = inner.replace(b'This is an ACME challenge.', b'This is an ACME challenge!')
    if tamper == 'to':        # outer To differs from the signed one
        outer = [b'To: bob@mail.example' if l.lower().startswith(b'to:') else l
                 for l in outer]
    out = b'\r\n'.join(outer) + b'\r\nMIME-Version: 1.0\r\n'
    if mode == 'mime':
        out += (b'Content-Type: application/pkcs7-mime; smime-type=signed-data;'
                b' name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\n' + b64)
    else:
        bd = b'=_b_' + os.urandom(6).hex().encode()
        out += (b'Content-Type: multipart/signed; protocol="application/pkcs7-signature";'
                b' micalg=sha-256; boundary="' + bd + b'"\r\n\r\n'
                b'This is an S/MIME signed message.\r\n--' + bd + b'\r\n' + inner +
                b'\r\n--' + bd + b'\r\nContent-Type: application/pkcs7-signature;'
                b' name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n'
                b'Content-Disposition: attachment; filename=smime.p7s\r\n\r\n' + b64 +
                b'\r\n--' + bd + b'--\r\n')
    open(dst, 'wb').write(out)
elif cmd in ('killverifier', 'killworkers'):  # PIDFILE OUT
    import signal, time
    def tree():
        par, comm = {}, {}
        for p in os.listdir('/proc'):
            if not p.isdigit():
                continue
            try:
                st = open('/proc/%s/stat' % p).read()
            except OSError:
                continue
            r = st.rpartition(')')
            par[int(p)] = int(r[2].split()[1])
            comm[int(p)] = r[0].partition('(')[2]
        return par, comm
    def below(m, par):   # pid -> depth under m
        out = {}
        for p in par:
            q, d = p, 0
            while q in par and q != m and d < 10:
                q, d = par[q], d + 1
            if q == m and p != m:
                out[p] = d
        return out
    m = int(open(sys.argv[2]).read().split()[0])
    for _ in range(50):      # the server's idle workers are up
        par, comm = tree()
        sub = below(m, par)
        if sum(1 for d in sub.values() if d >= 2) >= 2:
            break
        time.sleep(0.1)
    if cmd == 'killworkers':   # milter > keeper > server > workers
        for _ in range(50):
            if sum(1 for d in sub.values() if d == 3) >= 2:
                break
            time.sleep(0.1)
            par, comm = tree()
            sub = below(m, par)
        victims = [p for p, d in sub.items() if d == 3]
    else:
        victims = [p for p in sub if comm.get(p) != 'smime-acme-keep']
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for p in victims:
            try:
                os.kill(p, sig)
            except OSError:
                pass
    open(sys.argv[3], 'w').write(' '.join(map(str, victims)) + '\n')
