#!/usr/bin/env bash
# tests/deploy/deploy-root.sh ROOTDIR DEB TOP: run by check.sh under
# `unshare -m`.  Makes ROOTDIR/r an overlay of the host's / (changes land
# in a tmpfs, never on the host), binds /proc, /dev and /sys, gives it an
# empty /run and /tmp, and runs deploy-steps.sh there with chroot.
set -eu
R=$1 deb=$2 top=$3
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
cp "$deb" "$R/r/tmp/smime-acme.deb"
exec chroot "$R/r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root bash "$top/tests/deploy/deploy-steps.sh" /tmp/smime-acme.deb "$top"
