#!/bin/sh
# tests/fuzz/build-opendkim.sh: build Debian's libopendkim (the version
# the milter links) with AddressSanitizer, UBSan and libFuzzer coverage
# into build/fuzz/opendkim, so that the dkimv harness exercises the
# library's own code under the sanitizers.  Built once and cached: a
# second run with the library present does nothing (-f rebuilds).
#
# Needs root only when it must add a deb-src entry: if no "deb-src"
# source is configured, it writes /etc/apt/sources.list.d/
# smime-acme-deb-src.sources, a Types: deb-src twin of the Debian entries
# in debian.sources (same URIs, suites, components, key), and says so.
#
# Usage: tests/fuzz/build-opendkim.sh [-f]   (from the top of the tree)
set -eu

top=$(pwd)
out="$top/build/fuzz/opendkim"
src="$top/build/fuzz/src"
lib="$out/lib/libopendkim.a"

if [ "${1:-}" != "-f" ] && [ -f "$lib" ]; then
	echo "build-opendkim: cached: $lib"
	exit 0
fi

have_src() {
	grep -rqsE '^[[:space:]]*(Types:.*deb-src|deb-src[[:space:]])' \
	    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

if ! have_src; then
	deb822=/etc/apt/sources.list.d/debian.sources
	twin=/etc/apt/sources.list.d/smime-acme-deb-src.sources
	if [ ! -f "$deb822" ]; then
		echo "build-opendkim: no deb-src entry and no $deb822" >&2
		exit 1
	fi
	echo "build-opendkim: no deb-src entry: adding $twin" \
	    "(a deb-src twin of $deb822)"
	sed -n 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/p;
	    /^Types:/!p' "$deb822" >"$twin"
	apt-get update -qq
fi

command -v clang >/dev/null || { echo "build-opendkim: no clang" >&2; exit 1; }

rm -rf "$src" "$out"
mkdir -p "$src" "$out"
cd "$src"
# Debian's source package, its patches applied (dpkg-source -x).
apt-get source -qq opendkim >/dev/null
dir=$(find . -maxdepth 1 -type d -name 'opendkim-*' | head -n 1)
[ -n "$dir" ] || { echo "build-opendkim: no source tree" >&2; exit 1; }
cd "$dir"
echo "build-opendkim: building $(basename "$dir") libopendkim with ASan/UBSan"
san="-fsanitize=address,undefined -fsanitize=fuzzer-no-link -g -O1"
# The Debian source ships configure.ac and Makefile.am only (dh-autoreconf).
[ -f libopendkim/Makefile.in ] || autoreconf -fi >/dev/null 2>&1
# configure's probes run without the sanitizers (linking each one with
# ASan costs minutes); the library itself is compiled with them.
./configure -q CC=clang --prefix="$out" --disable-shared --enable-static \
    --disable-filter >/dev/null
make -s -C libopendkim -j2 CFLAGS="$san -fno-omit-frame-pointer" \
    >"$out/build.log" 2>&1 || { tail -n 20 "$out/build.log" >&2; exit 1; }
make -s -C libopendkim install >>"$out/build.log" 2>&1
echo "build-opendkim: installed $lib"
