#!/usr/bin/python3
"""smime-test-ca: an RFC 8823 (ACME email-reply-00) test CA, test use only.

An ACME server (RFC 8555) over HTTPS on loopback that issues S/MIME
certificates for "email" identifiers after an RFC 8823 challenge/response
mail exchange:

  * the challenge mail ("Subject: ACME: <token-part1>", DKIM- or
    S/MIME-signed) is sent over plain SMTP to --relay;
  * replies are received by a small SMTP server on loopback (--smtp-port),
    DKIM-verified against the keys in --reply-keys and checked strictly
    (d= == From domain, h= list, From == identifier, threading, digest).

Everything (keys, roots, state files) lives under --state DIR; DIR/ca.env
tells other programs where to connect and what to trust.  Test-only
inspection endpoints live under /_test/ (no JWS, loopback clients only).
Only Debian packages are used: python3 stdlib, python3-cryptography,
python3-dkim.  Tokens and digests are never logged.

This file is the command; the code is the smimetestca package next to it
(smimetestca/__init__.py lists its modules).
"""

import sys

# the package lives next to this file; keep the source tree free of
# __pycache__ (the tests run from the tree, sometimes as another user)
sys.dont_write_bytecode = True

from smimetestca.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
