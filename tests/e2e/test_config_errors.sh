#!/usr/bin/env bash
# test_config_errors.sh: configuration files an administrator gets wrong.
#  - the default /etc/smime-acme.conf unreadable by the invoking user
#    (a system file at 0600): exit 78 naming the file and how to name
#    another one; checked in a throwaway root (tests/lib/throwaway-root.sh)
#    so the host's /etc is never touched;
#  - a CABundle that cannot be read: exit 78 naming the file, not 75 ("try
#    again later").
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root config-errors

e2e_built config-errors
T=$(mktemp -d "${TMPDIR:-/tmp}/smime-conferr.XXXXXX")
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"

# 1. the default file, unreadable
mkdir "$T/root"
# (the throwaway root has its own /tmp: the script goes on the command line)
inner='printf "Server https://ca.invalid/dir\n" >/etc/smime-acme.conf
chmod 600 /etc/smime-acme.conf
cd /tmp
runuser -u nobody -- "$0" account 2>&1
echo "exit=$?"'
unshare -m --propagation private bash "$E2E_TOP/tests/lib/throwaway-root.sh" \
    "$T/root" "$E2E_TOP" bash -c "$inner" "$SA" >"$T/out" 2>&1
if grep -q '^exit=78$' "$T/out" && grep -q '/etc/smime-acme.conf' "$T/out" &&
    grep -q -- '--conf FILE' "$T/out"; then
	pass config-default-unreadable
else
	fail config-default-unreadable "$(tr '\n' ' ' <"$T/out")"
fi

# 2. CABundle that cannot be read
printf 'Server https://127.0.0.1:1/dir\nCABundle %s/no-such-bundle.pem\n' "$T" \
    >"$T/conf"
rc=0
"$SA" --allow-root account --conf "$T/conf" -n >"$T/out" 2>&1 || rc=$?
if [ "$rc" = 78 ] && grep -qF "$T/no-such-bundle.pem" "$T/out"; then
	pass config-cabundle-unreadable
else
	fail config-cabundle-unreadable "exit $rc: $(tr '\n' ' ' <"$T/out")"
fi
e2e_finish
