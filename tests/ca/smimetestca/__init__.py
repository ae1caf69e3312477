"""smimetestca: the RFC 8823 test CA behind tests/ca/smime-test-ca.py.

  util    problems (AcmeError), base64url, time stamps, addr-spec, files
  jws     JWK, thumbprints, JWS signature checks
  pki     the CA's keys and certificates; issuing
  mail    challenge mails (DKIM or S/MIME), reply keys, the reply check
  smtp    sending challenges through the relay; the reply receiver
  state   Ca: the ACME state machine (accounts, orders, authorizations,
          challenges, certificates, nonces) and the /_test/ views
  https   HTTPS server, request plumbing, /_test/ endpoints
  acme    the ACME resources (routing, JWS authentication, handlers)
  main    command line and start-up

Modules import only the ones listed above them (main imports all).
"""
