#!/usr/bin/env bash
# tests/deploy/deploy-steps.sh DEB TOP: inside the throwaway root of
# tests/lib/throwaway-root.sh, follow smime-acme-deploy(7) literally: install the
# package, compare every directory of its "Files and modes" table, then
# configure, check, start the milter as its unit does, and certify an
# address as the requester's user through the Postfix world (which stands
# in for the site's MTA and the CA).  Prints PASS:/FAIL: lines.
set -u
deb=$1 top=$2
ADDR=alice@example.test
MAN=$top/doc/smime-acme-deploy.7
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1${2:+: $2}"; }
W=
MPID=
finish() {
	[ -n "$MPID" ] && kill "$MPID" 2>/dev/null && wait "$MPID" 2>/dev/null
	[ -n "$W" ] && "$top/tests/e2e/world/world.sh" down "$W" >/dev/null 2>&1
	return 0
}
trap finish EXIT

# 1. install the package (smime-acme-deploy(7), "Installing")
if dpkg -i "$deb" >/tmp/dpkg.log 2>&1; then
	pass deploy-dpkg-install
else
	sed 's/^/    /' /tmp/dpkg.log | tail -20
	fail deploy-dpkg-install
	exit 1
fi

# 2. every directory row of "Files and modes": .It Pa PATH/ Ta O Ta G Ta M
bad=""
while read -r path owner group mode; do
	got=$(stat -c '%U %G %a' "$path" 2>/dev/null || echo missing)
	want="$owner $group $(printf '%o' "$((8#$mode))")"
	[ "$got" = "$want" ] || bad="$bad $path($got, want $want)"
done < <(sed -n 's|^\.It Pa \(/[^ ]*/\) Ta \([^ ]*\) Ta \([^ ]*\) Ta \([0-7]*\)$|\1 \2 \3 \4|p' "$MAN")
rows=$(grep -c '^\.It Pa /.*/ Ta' "$MAN")
if [ -z "$bad" ] && [ "$rows" -ge 8 ]; then
	pass deploy-modes
else
	fail deploy-modes "rows=$rows$bad"
fi
if id -nG postfix | grep -qw smime-acme-milter &&
    ! id -nG postfix | grep -qw smime-acme-spool; then
	pass deploy-postfix-group
else
	fail deploy-postfix-group "postfix is in: $(id -nG postfix)"
fi

# 3. the MTA and CA of this test: the Postfix world, its MX using the
# milter socket of the sample configuration
W=$(mktemp -d /tmp/world.XXXXXX)
chmod 755 "$W"
if ! "$top/tests/e2e/world/world.sh" up "$W" \
    --milter unix:/var/spool/postfix/smime-acme/milter.sock >/tmp/world.log 2>&1; then
	sed 's/^/    /' /tmp/world.log | tail -20
	fail deploy-world "the world did not come up"
	exit 1
fi
set -a
. "$W/world.env"
set +a

# 4. "Configuring": the site's CA and, for this test only, its DKIM keys
# and the world's sendmail; logs to stderr (no syslog daemon here)
conf=/etc/smime-acme.conf
sed -i -e "s|^Server[[:space:]].*|Server $CA_URL|" \
    -e "s|^#CABundle.*|CABundle $CA_TRUST|" \
    -e "s|^SendmailPath[[:space:]].*|SendmailPath $SENDMAIL|" \
    -e "s|^Syslog[[:space:]].*|Syslog no|" "$conf"
printf 'TestDKIMKeys %s\n' "$DKIM_KEYS" >>"$conf"
install -o root -g smime-acme -m 0640 /dev/null /etc/smime-acme/p12pass
printf 'deploy-test\n' >/etc/smime-acme/p12pass

if smime-acme-milter -n >/tmp/n.log 2>&1; then
	pass deploy-milter-n
else
	sed 's/^/    /' /tmp/n.log
	fail deploy-milter-n
fi

# 5. start the milter exactly as its unit does
unit=/lib/systemd/system/smime-acme-milter.service
start=$(sed -n 's/^ExecStart=//p' "$unit")
$start >/tmp/milter.log 2>&1 &
MPID=$!
for _ in $(seq 50); do
	[ -S /var/spool/postfix/smime-acme/milter.sock ] && break
	sleep 0.1
done
user=$(ps -o user= -p "$MPID" 2>/dev/null | tr -d ' ')
if [ -S /var/spool/postfix/smime-acme/milter.sock ] &&
    [ "$user" = smime-acme-milter ]; then
	pass deploy-milter-starts
else
	sed 's/^/    /' /tmp/milter.log
	fail deploy-milter-starts "socket or user ($user) wrong"
fi

# 6. "Requesting and renewing": the requester as its own user
if runuser -u smime-acme -g smime-acme -G smime-acme-spool -- \
    /usr/bin/smime-acme cert -n --agree-tos -e "$ADDR" \
    --passphrase-file /etc/smime-acme/p12pass --finalize-delay 0 \
    >/tmp/cert.log 2>&1; then
	set_dir=/var/lib/smime-acme/certs/$ADDR
	if [ -f "$set_dir/cert.pem" ] &&
	    openssl verify -purpose smimesign -CAfile "$CA_ROOT" \
	    -untrusted "$set_dir/chain.pem" "$set_dir/cert.pem" >/dev/null 2>&1; then
		if grep -q 'answered' /tmp/milter.log; then
			pass deploy-certify
		else
			fail deploy-certify "certified, but the milter did not answer"
		fi
	else
		fail deploy-certify "no verifiable certificate under /var/lib/smime-acme"
	fi
	keys=$(find /var/lib/smime-acme -name '*key*' -type f \
	    ! -user smime-acme -o -name '*key*' -type f -perm /077 | head -3)
	if [ -z "$keys" ]; then
		pass deploy-keys-private
	else
		fail deploy-keys-private "$keys"
	fi
else
	sed 's/^/    /' /tmp/cert.log | tail -20
	sed 's/^/    milter: /' /tmp/milter.log | tail -20
	fail deploy-certify "smime-acme cert failed"
fi
