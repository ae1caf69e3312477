#!/bin/sh
# contrib/debian/build.sh: `make deb`.  Copies the tracked tree into
# $B/deb/smime-acme-VERSION with contrib/debian as debian/, builds the
# binary package with dpkg-buildpackage and checks it with lintian
# (errors and warnings fail).  Prints the path of the .deb.
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
cd "$top"
version=$(sed -n '1s/.*(\(.*\)).*/\1/p' contrib/debian/changelog)
out="$top/$B/deb"
src="$out/smime-acme-$version"
rm -rf "$out"
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$src"
cp -r contrib/debian "$src/debian"
rm -f "$src/debian/build.sh"
cp contrib/systemd/smime-acme.sysusers "$src/debian/smime-acme.sysusers"
cp contrib/systemd/smime-acme.tmpfiles "$src/debian/smime-acme.tmpfiles"
(cd "$src" && env -u CI -u WERROR dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1) || {
	tail -40 "$out/build.log" >&2
	echo "make deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
	exit 1
}
deb=$(ls "$out"/smime-acme_"$version"_*.deb)
lintian --fail-on error,warning "$deb"
echo "$deb"
