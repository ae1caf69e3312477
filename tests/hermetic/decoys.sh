#!/usr/bin/env bash
# tests/hermetic/decoys.sh TOP SUITE...: inside the throwaway root, plant
# the decoys of check.sh at the default paths, then run tests/run.sh.
set -u
top=$1
shift
cat >/etc/smime-acme.conf <<'CONF'
# decoy: a test that reads this file fails
Server https://decoy.invalid/directory
SpoolDirectory /var/spool/smime-acme
DecoyKeyThatDoesNotExist yes
CONF
chmod 0600 /etc/smime-acme.conf
mkdir -p /var/spool/smime-acme/entries /var/spool/smime-acme/work \
    /var/spool/smime-acme/tmp
mkfifo /var/spool/smime-acme/entries/decoy-fifo
for a in alice bob carol dave erin frank; do
	printf 'decoy\n' >"/var/spool/smime-acme/entries/$a@example.test"
done
chmod -R 0777 /var/spool/smime-acme
mkdir -p "$HOME/.config/smime-acme/accounts"
printf 'not a key\n' >"$HOME/.config/smime-acme/accounts/decoy"
cd "$top" || exit 2
exec tests/run.sh "$@"
