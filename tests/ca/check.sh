#!/bin/sh
# tests/ca/check.sh: tests of the RFC 8823 test CA (smime-test-ca.py) and
# the acmeclient.py library.  Prints PASS/FAIL/SKIP lines; non-zero exit
# on failure.  Needs Debian's python3 with python3-cryptography and
# python3-dkim, and openssl.
set -u
here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import cryptography, dkim' 2>/dev/null; then
	echo "SKIP: ca: /usr/bin/python3 with python3-cryptography and python3-dkim not available"
	exit 0
fi
if ! command -v openssl >/dev/null 2>&1; then
	echo "SKIP: ca: openssl not installed"
	exit 0
fi
exec "$PY" "$here/test_ca.py" "$@"
