#!/bin/sh
# contrib/deps.sh: the one list of Debian packages smime-acme needs to build,
# test and run its demo.  Idempotent: installs only what is missing, runs
# apt-get update at most once.  Used by README.md and .ci/run alike.
#
# Sendmail is never installed (its packages would replace Postfix): the
# Sendmail test world (tests/e2e/world/sendmail.sh) fetches sendmail-bin,
# -base and -cf with `apt-get download` into build/cache/sendmail and
# unpacks them with dpkg -x; m4 builds its .cf files.
#
# PostgreSQL (the server for the tests' private clusters, tests/lib/pg.sh;
# libpq for the PostgreSQL spool): the system cluster the package makes is
# never started by this script nor used by the tests.
#
# Usage: contrib/deps.sh [-n]    (-n: only print what would be installed)
set -eu

PACKAGES="
build-essential
pkg-config
postgresql
libpq-dev
libgnutls28-dev
gnutls-bin
libcurl4-gnutls-dev
libjansson-dev
libmilter-dev
libopendkim-dev
libseccomp-dev
libcmocka-dev
miltertest
opendkim
opendkim-tools
postfix
dovecot-imapd
pebble
python3
python3-cryptography
python3-dkim
python3-dnspython
openssl
curl
mandoc
clang-format
clang
libclang-rt-14-dev
autoconf
automake
libtool
libssl-dev
libbsd-dev
procps
psmisc
iproute2
debhelper
lintian
fakeroot
m4
"

missing=""
for p in $PACKAGES; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*" installed") ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -z "$missing" ]; then
	echo "deps.sh: all packages present"
	exit 0
fi
echo "deps.sh: installing:$missing"
[ "${1:-}" = "-n" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: must run as root to install packages" >&2
	exit 77
fi

export DEBIAN_FRONTEND=noninteractive
# Postfix: no system configuration; the tests run private instances only.
echo "postfix postfix/main_mailer_type select No configuration" |
    debconf-set-selections
# Do not let package scripts start system daemons (tests start their own).
policy=/usr/sbin/policy-rc.d
made_policy=no
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	made_policy=yes
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
[ "$made_policy" = yes ] && rm -f "$policy"
echo "deps.sh: done"
