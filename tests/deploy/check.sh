#!/usr/bin/env bash
# tests/deploy/check.sh: the packaging and the documented deployment
# (smime-acme-deploy(7)), checked the way an administrator meets them.
#
#   deb-lintian         `make deb` builds the package; lintian reports no
#                       error or warning
#   install-layout      `make install DESTDIR=...` puts every file the
#                       units and man pages name where they name it;
#                       systemd-analyze verify accepts the units
#   uninstall           `make uninstall` leaves only the configuration file
#   deploy-*            in a throwaway root (a private mount namespace whose
#                       / is an overlay of the host's, so nothing reaches
#                       the host): the .deb installed with dpkg, every
#                       directory of the man page's "Files and modes" table
#                       with its owner, group and mode, then the documented
#                       steps literally (configuration, smime-acme-milter -n,
#                       the milter as its unit starts it, the requester as
#                       its own user) certify an address through the
#                       Postfix world
# Environment: B (build directory), SAN (set: skipped, the package is
# built without sanitizers and checked in the plain pass).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
B=${B:-build}
cd "$top" || exit 2

if [ -n "${SAN:-}" ]; then
	echo "SKIP: deploy: packaging is checked in the plain pass"
	exit 0
fi
for t in dpkg-buildpackage lintian unshare; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "SKIP: deploy: $t not installed (contrib/deps.sh)"
		exit 0
	fi
done
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: deploy: needs root (mount namespace, dpkg)"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/smime-acme-deploy.XXXXXX") || exit 2
failed=0
pass() { echo "PASS: $1"; }
fail() {
	echo "FAIL: $1${2:+: $2}"
	failed=1
}
cleanup() {
	if [ "${KEEP:-}" = 1 ] && [ "$failed" = 1 ]; then
		echo "deploy: kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- package
t0=$(date +%s)
if deb=$(make -s deb B="$B" 2>"$T/deb.err" | tail -1) && [ -f "$deb" ]; then
	pass deb-lintian
else
	sed 's/^/    /' "$T/deb.err" | tail -30
	fail deb-lintian "make deb or lintian failed"
	exit 1
fi
t_deb=$(($(date +%s) - t0))

# ---------------------------------------------------------------- install
D=$T/destdir
if make -s install DESTDIR="$D" PREFIX=/usr/local B="$B" >"$T/install.log" 2>&1; then
	missing=""
	# every binary a unit starts, every man page a unit or man page names
	for u in "$D"/usr/local/lib/systemd/system/*; do
		for p in $(sed -n 's/^Exec[A-Za-z]*=\([^ ]*\).*/\1/p' "$u"); do
			[ -x "$D$p" ] || missing="$missing $p(from $(basename "$u"))"
		done
		for m in $(sed -n 's/^Documentation=//p' "$u"); do
			n=${m#man:}
			sec=${n##*(}
			sec=${sec%)}
			n=${n%(*}
			f=$D/usr/local/share/man/man$sec/$n.$sec
			case $n in systemd-*) continue ;; esac
			[ -f "$f" ] || missing="$missing $m"
		done
	done
	for f in usr/local/lib/sysusers.d/smime-acme.conf \
	    usr/local/lib/tmpfiles.d/smime-acme.conf etc/smime-acme.conf \
	    usr/local/share/man/man7/smime-acme-deploy.7; do
		[ -f "$D/$f" ] || missing="$missing /$f"
	done
	if [ -z "$missing" ]; then
		pass install-layout
	else
		fail install-layout "missing:$missing"
	fi
	if command -v systemd-analyze >/dev/null 2>&1; then
		# verify resolves ExecStart= on the host: point it at DESTDIR
		mkdir -p "$T/units"
		for u in "$D"/usr/local/lib/systemd/system/*; do
			sed "s|=/usr/local/|=$D/usr/local/|" "$u" >"$T/units/$(basename "$u")"
		done
		if SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
		    "$T"/units/*.service "$T"/units/*.timer >"$T/verify.log" 2>&1 &&
		    ! grep -q . "$T/verify.log"; then
			pass install-units-verify
		else
			sed 's/^/    /' "$T/verify.log"
			fail install-units-verify "systemd-analyze verify"
		fi
	fi
	make -s uninstall DESTDIR="$D" PREFIX=/usr/local B="$B" >>"$T/install.log" 2>&1
	left=$(cd "$D" && find . -type f | sort)
	if [ "$left" = "./etc/smime-acme.conf" ]; then
		pass uninstall
	else
		fail uninstall "left behind: $(echo $left)"
	fi
else
	sed 's/^/    /' "$T/install.log" | tail -20
	fail install-layout "make install failed"
fi

# ------------------------------------------------------ throwaway root
# Everything below runs in a private mount namespace whose / is an overlay
# (upper layer on a tmpfs) of the host's / (tests/lib/throwaway-root.sh).
R=$T/root
mkdir -p "$R"
t1=$(date +%s)
unshare -m --propagation private bash "$top/tests/lib/throwaway-root.sh" \
    "$R" "$top" bash "$here/deploy-steps.sh" "$deb" "$top" >"$T/root.log" 2>&1
rc=$?
grep -E '^(PASS|FAIL|SKIP): ' "$T/root.log"
if [ "$rc" -ne 0 ] || grep -q '^FAIL: ' "$T/root.log"; then
	failed=1
	grep -vE '^(PASS|FAIL|SKIP): ' "$T/root.log" | tail -40 | sed 's/^/    /'
	grep -q '^FAIL: ' "$T/root.log" || fail deploy-root "exited $rc"
fi
t_root=$(($(date +%s) - t1))
echo "    deploy: package ${t_deb}s, install and certify in a fresh root ${t_root}s"
exit "$failed"
