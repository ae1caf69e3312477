#!/usr/bin/env bash
# tests/lib/throwaway-root.sh ROOTDIR TOP CMD [ARG...]: run CMD as root in a
# throwaway copy of this machine.  Must itself run under
# `unshare -m --propagation private`.  ROOTDIR/r becomes an overlay of the
# host's / whose changes land in a tmpfs (never on the host); /proc, /dev
# and /sys are bound, /run and /tmp are empty, and TOP (the source tree,
# with its build directory) is bound at the same path.  CMD runs there under
# chroot with a minimal environment (PATH, HOME=/root, B, SAN, KEEP).
# Used by tests/deploy (install the package, follow the docs) and
# tests/hermetic (the suites with decoys at the default paths).
set -eu
R=$1 top=$2
shift 2
mount -t tmpfs -o mode=0755 tmpfs "$R"
mkdir "$R/u" "$R/w" "$R/r"
mount -t overlay overlay -o "lowerdir=/,upperdir=$R/u,workdir=$R/w" "$R/r"
for m in proc dev sys; do
	mount --rbind "/$m" "$R/r/$m"
done
mount -t tmpfs -o mode=0755 tmpfs "$R/r/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/r/tmp"
mkdir -p "$R/r$top"
mount --bind "$top" "$R/r$top"
exec chroot "$R/r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root B="${B:-build}" SAN="${SAN:-}" KEEP="${KEEP:-}" "$@"
