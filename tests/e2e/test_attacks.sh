#!/usr/bin/env bash
# test_attacks.sh: issue 10's hostile mails through the real Postfix world,
# with smime-acme-milter in the MX's smtpd_milters and a pending spool entry
# for each target address.  One world and one milter for all cases.
#
# Unlike the other e2e tests, the milter fetches DKIM keys over real DNS
# (no TestDKIMKeys): world/dns-keys.py answers on a random 127.0.0.0/8
# address, port 53, and the milter runs in a private mount namespace
# (unshare -m) where that server's resolv.conf is bind-mounted over
# /etc/resolv.conf; the host's file is never read or written.  The test
# switches a key's answer between ok, SERVFAIL and no answer at all.
#
# Cases (the mails are made by tests/milter/tools.py, certificates by
# tests/lib/smime-pki.sh; the challenge is answered when the spool entry
# turns "answered", a reply reaches SendmailPath and the milter logs it):
#   1  DKIM-Signature whose h= names every header, itself included, plus
#      one more (libopendkim's heap write): delivered, not answered; the
#      milter still runs and answers the next valid challenge
#   2  PKCS#7 whose certificates sign each other, SMIMETrustFile set: done
#      well within VerifyTimeout (refused, or 4xx at the deadline); a key
#      lookup left unanswered is cut at VerifyTimeout with a 4xx; the
#      milter answers the next valid challenge
#   3  S/MIME with a decoy certificate first: not answered, entry not
#      burned, the real challenge afterwards answered
#   4  SERVFAIL for the CA's key: 4xx (the CA's MTA retries), answered once
#      DNS works; another signature's key failing while the CA's verifies:
#      answered
#   5  rsa-sha1, l= with text appended, a 512-bit RSA key, h= naming
#      dkim-signature: none answered
#   6  a replayed old challenge (signed Date three days before the entry's
#      creation): delivered, not answered; the fresh one afterwards answered
#
# Environment: B (build directory, default build), KEEP=1 (keep on failure).
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root attacks

e2e_built attacks
TOOLS=$E2E_TOP/tests/milter/tools.py
for t in openssl opendkim-genkey unshare; do
	if ! command -v "$t" >/dev/null 2>&1; then
		skip attacks "$t not installed"
		exit 0
	fi
done
if ! "$E2E_PY" -c 'import dkim, dns.message' 2>/dev/null; then
	skip attacks "python3-dkim or python3-dnspython not installed"
	exit 0
fi

tool() { "$E2E_PY" "$TOOLS" "$@"; }

MPORT=$(free_port)
if ! world_up --milter "inet:127.0.0.1:$MPORT" --no-ca --no-dkim-signer; then
	fail attacks-world-up "world.sh up failed"
	e2e_finish
fi
MPID=
DNSPID=
T=$WORLD_DIR/atk
atk_end() {
	if [ -n "$MPID" ]; then
		kill "$MPID" 2>/dev/null
		wait "$MPID" 2>/dev/null
	fi
	if [ -n "$DNSPID" ]; then
		kill "$DNSPID" 2>/dev/null
		wait "$DNSPID" 2>/dev/null
	fi
	if [ "$E2E_FAILED" != 0 ] && [ "${KEEP:-}" = 1 ]; then
		cp -r "$T" "/tmp/test_attacks.$$" && echo "kept /tmp/test_attacks.$$" >&2
	fi
	world_down
}
trap atk_end EXIT
mkdir -p "$T/k" "$T/replies"
chmod 755 "$WORLD_DIR" "$T"
CA=$CA_FROM
CAD=${CA#*@}

# --- keys in DNS -----------------------------------------------------------
# pubrec DIR SEL: the TXT text of opendkim-genkey's SEL.txt
pubrec() {
	tr -d '\n' <"$1/$2.txt" |
		sed -E 's/.*\( *//; s/ *\).*//; s/" *"//g; s/"//g; s/[[:space:]]+/ /g'
}
opendkim-genkey -b 1024 -d "$CAD" -s sel -D "$T/k" || exit 2
opendkim-genkey -b 512 -d "$CAD" -s small -D "$T/k" 2>/dev/null || exit 2
KEY=$T/k/sel.private
PUB=$(pubrec "$T/k" sel)
# zone NAME MODE...: the DNS answers (see world/dns-keys.py), replaced whole
zone() {
	{
		echo "sel._domainkey.$CAD ${Z_SEL:-ok} $PUB"
		# the same key, any hash allowed (for the rsa-sha1 forgery)
		echo "anyh._domainkey.$CAD ok ${PUB/h=sha256; /}"
		echo "small._domainkey.$CAD ok $(pubrec "$T/k" small)"
		echo "flaky._domainkey.$CAD servfail"
	} >"$T/zone.tmp" && mv "$T/zone.tmp" "$T/zone"
}
zone
DNSADDR=
for _try in 1 2 3; do
	_a=127.$((RANDOM % 200 + 30)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
	rm -f "$T/dns.ready"
	"$E2E_PY" "$E2E_DIR/world/dns-keys.py" "$_a" "$T/zone" "$T/dns.ready" 2>>"$T/dns.log" &
	DNSPID=$!
	for _i in $(seq 30); do
		[ -f "$T/dns.ready" ] && break
		pid_alive "$DNSPID" || break
		sleep 0.1
	done
	if [ -f "$T/dns.ready" ]; then
		DNSADDR=$_a
		break
	fi
	kill "$DNSPID" 2>/dev/null
	wait "$DNSPID" 2>/dev/null
	DNSPID=
done
if [ -z "$DNSADDR" ]; then
	fail attacks-dns "world/dns-keys.py did not start: $(tail -1 "$T/dns.log")"
	e2e_finish
fi
printf 'nameserver %s\noptions timeout:15 attempts:1\n' "$DNSADDR" >"$T/resolv.conf"
chmod 644 "$T/resolv.conf"

# --- certificates ----------------------------------------------------------
PKI=$T/pki
. "$E2E_TOP/tests/lib/smime-pki.sh"
mkpki root "" ""
mkpki signer root "$CA"
mkpki other root "other@$CAD"
# a decoy named like "other" (issuer CN=root, other's serial) with SAN =
# the CA sender, from a look-alike root and without emailProtection
M_SUBJ=/CN=root mkpki fakeroot "" ""
M_EKU=clientAuth M_SERIAL=0x$(openssl x509 -in "$PKI/other.pem" -noout -serial | sed 's/^serial=//') \
	mkpki decoy fakeroot "$CA"
cat "$PKI/decoy.pem" "$PKI/root.pem" >"$PKI/decoy-chain.pem"
mkloop
chmod 755 "$PKI"
chmod 644 "$PKI"/*

# --- the milter ------------------------------------------------------------
SPOOL=$T/spool
spool_setup "$SPOOL"
chown nobody:nogroup "$T/replies"
cat >"$T/sendmail" <<EOF
#!/bin/sh
f=\$(mktemp "$T/replies/reply.XXXXXX") || exit 75
cat >"\$f"
EOF
chmod 755 "$T/sendmail"
VT=3
cat >"$T/conf" <<EOF
Socket inet:$MPORT@127.0.0.1
UserID nobody:nogroup
Syslog no
LogWhy yes
SpoolDirectory $SPOOL
SendmailPath $T/sendmail
SMIMETrustFile $PKI/root.pem
IncompleteWait 2
ReplyTimeout 20
VerifyTimeout $VT
EOF
chmod 644 "$T/conf"
: >"$T/log"
unshare -m --propagation private sh -c \
	'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh \
	"$T/resolv.conf" "$MILTER" -f -v -c "$T/conf" 2>>"$T/log" &
MPID=$!
if ! wait_port "$MPORT" 100; then
	fail attacks-milter-start "$(tail -3 "$T/log" | tr '\n' ' ')"
	e2e_finish
fi
# unshare and sh exec: $MPID is the milter itself (want_alive below)
if [ "$(cat "/proc/$MPID/comm" 2>/dev/null)" != smime-acme-milt ]; then
	fail attacks-milter-start "pid $MPID is not the milter"
	e2e_finish
fi

# --- helpers -----------------------------------------------------------------
P1=
P2=$(tool rand 16)
THUMB=$(tool rand 32)
declare -A EKEY # address -> spool file name
# write_entry ADDR [CREATED]: an awaiting entry (root:nogroup 0640), as the
# requester writes it; a new token-part1 in $P1 for mkmail
write_entry() {
	local f
	EKEY[$1]=$(tool key "$1")
	f=$SPOOL/entries/${EKEY[$1]}
	P1=$(tool rand 16)
	{
		echo "smime-acme-spool 1"
		echo "mailbox: $1"
		echo "from: $CA"
		echo "token2: $P2"
		echo "thumbprint: $THUMB"
		echo "rule: octet"
		echo "state: awaiting"
		echo "created: ${2:-$(date +%s)}"
		echo "expires: $(($(date +%s) + 3600))"
		echo "order: https://$CAD/order/1"
		echo "authz: https://$CAD/authz/1"
		echo "challenge: https://$CAD/chall/1"
		echo "answered-at: 0"
	} >"$f.tmp"
	chown root:nogroup "$f.tmp"
	chmod 640 "$f.tmp"
	mv "$f.tmp" "$f"
}
# mkmail FILE ADDR [DATE]: a challenge mail for ADDR (CRLF); M_EXTRA adds a
# header line
nmail=0
mkmail() {
	nmail=$((nmail + 1))
	{
		printf 'From: ACME CA <%s>\r\n' "$CA"
		printf 'To: %s\r\n' "$2"
		printf 'Subject: ACME: %s\r\n' "$P1"
		printf 'Date: %s\r\n' "${3:-$(date -R)}"
		printf 'Message-ID: <chal-%s-%s@%s>\r\n' "$$" "$nmail" "$CAD"
		printf 'Auto-Submitted: auto-generated; type=acme\r\n'
		[ -z "${M_EXTRA:-}" ] || printf '%s\r\n' "$M_EXTRA"
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: text/plain; charset=us-ascii\r\n'
		printf '\r\n'
		printf 'This is an ACME challenge.\r\n'
		printf 'Reply with the response.\r\n'
	} >"$1"
}
# smtp FILE ADDR: send FILE (CRLF as is) to the MX from the CA's address;
# sets $code to the reply to the end of data (or to the refused command)
# and $secs to the time it took
smtp() {
	local t0
	t0=$(date +%s)
	code=$("$E2E_PY" - "$MX_PORT" "$CA" "$2" "$1" <<'EOF'
import smtplib, sys
port, frm, to, path = sys.argv[1:5]
try:
    with smtplib.SMTP("127.0.0.1", int(port), timeout=60) as s:
        s.sendmail(frm, [to], open(path, "rb").read())
    print("250")
except smtplib.SMTPResponseException as e:
    print(e.smtp_code, e.smtp_error.decode(errors="replace"))
except smtplib.SMTPRecipientsRefused as e:
    print(" ".join(str(v[0]) for v in e.recipients.values()))
except Exception as e:
    print("error", type(e).__name__, e)
EOF
	)
	secs=$(($(date +%s) - t0))
}
state_of() { sed -n 's/^state: //p' "$SPOOL/entries/${EKEY[$1]}" 2>/dev/null; }
nreplies() { grep -laF "From: $1" "$T"/replies/reply.* 2>/dev/null | wc -l; }
# the milter's log lines about ADDR containing TEXT
logged() { grep -F -- "$1: " "$T/log" | grep -cF -- "$2"; }
milter_alive() { pid_alive "$MPID" && port_listening "$MPORT"; }

why=""
# the conditions, appended to $why when unmet
want_code() { # want_code PREFIX WHAT
	case $code in "$1"*) ;; *) why="$why; $2: SMTP '$code'" ;; esac
}
want_answered() { # want_answered ADDR WHAT
	[ "$(state_of "$1")" = answered ] || why="$why; $2: entry '$(state_of "$1")'"
	[ "$(nreplies "$1")" = 1 ] || why="$why; $2: $(nreplies "$1") replies, want 1"
	[ "$(logged "$1" "answered: challenge from $CA")" = 1 ] ||
		why="$why; $2: no 'answered' log line"
}
want_not_answered() { # want_not_answered ADDR WHAT [REASON-TEXT]
	[ "$(state_of "$1")" = awaiting ] || why="$why; $2: entry '$(state_of "$1")', want awaiting"
	[ "$(nreplies "$1")" = 0 ] || why="$why; $2: a reply was sent"
	[ "$(grep -F -- "$1: not answered: " "$T/log" | grep -cF -- "${3:-: }")" = 1 ] ||
		why="$why; $2: not one 'not answered: ...${3:-}' log line"
}
want_alive() { milter_alive || why="$why; $1: the milter is gone"; }
want_deferred() { # want_deferred ADDR WHAT: Postfix logged the milter's 451
	# (postlogd writes the line after the client has its 451)
	wait_grep "$POSTFIX_LOG" "milter-reject: END-OF-MESSAGE.* 4\.7\.1 .*to=<$1>" 50 ||
		why="$why; $2: no 4.7.1 milter-reject in Postfix's log"
}
res() {
	if [ -z "$why" ]; then
		pass "$1"
	else
		fail "$1" "${why#; }"
		grep -F -- "${2:-@}" "$T/log" | tail -6 | sed 's/^/    log: /'
	fi
	why=""
}
# valid ADDR WHAT: a valid DKIM challenge for ADDR is answered
valid() {
	mkmail "$T/v.raw" "$1"
	tool sign "$KEY" "$CAD" "$T/v.raw" "$T/v.eml"
	smtp "$T/v.eml" "$1"
	want_code 250 "$2"
	want_answered "$1" "$2"
}

# --- 1: libopendkim's heap write ----------------------------------------------
A=heap@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/1.raw" "$A"
{
	printf 'DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=sel;\r\n' "$CAD"
	printf '\th=received:from:to:subject:date:message-id:auto-submitted:mime-version:content-type:dkim-signature:x;\r\n'
	printf '\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n'
	cat "$T/1.raw"
} >"$T/1.eml"
smtp "$T/1.eml" "$A"
want_code 250 "attack mail"
want_not_answered "$A" "attack mail" "DKIM-Signature ignored: h= names dkim-signature"
want_alive "after the attack mail"
valid "$A" "next challenge"
want_alive "at the end"
res postfix-dkim-heap-write-milter-survives-next-answered "$A"

# --- 5: forgeries RFC 8301 and RFC 6376 forbid ------------------------------------
A=sha1@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/5a.raw" "$A"
SIGN_SEL=anyh SIGN_ALG=rsa-sha1 tool sign "$KEY" "$CAD" "$T/5a.raw" "$T/5a.eml"
smtp "$T/5a.eml" "$A"
want_code 250 "rsa-sha1"
want_not_answered "$A" "rsa-sha1" "DKIM-Signature ignored: a= is not rsa-sha256"
res postfix-forged-rsa-sha1-not-answered "$A"

A=ltag@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/5b.raw" "$A"
SIGN_LEN=1 tool sign "$KEY" "$CAD" "$T/5b.raw" "$T/5b.eml"
printf 'Text appended after signing.\r\n' >>"$T/5b.eml"
smtp "$T/5b.eml" "$A"
want_code 250 "l= appended"
want_not_answered "$A" "l= appended" "DKIM-Signature ignored: l= body length limit"
res postfix-forged-l-tag-appended-text-not-answered "$A"

A=smallkey@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/5c.raw" "$A"
SIGN_SEL=small tool sign "$T/k/small.private" "$CAD" "$T/5c.raw" "$T/5c.eml"
smtp "$T/5c.eml" "$A"
want_code 250 "512-bit key"
want_not_answered "$A" "512-bit key" "(d=$CAD)"
res postfix-forged-rsa-key-under-1024-bits-not-answered "$A"

A=hsig@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/5d.raw" "$A"
SIGN_EXTRA_H=dkim-signature tool sign "$KEY" "$CAD" "$T/5d.raw" "$T/5d.eml"
smtp "$T/5d.eml" "$A"
want_code 250 "h= dkim-signature"
want_not_answered "$A" "h= dkim-signature" "DKIM-Signature ignored: h= names dkim-signature"
res postfix-forged-h-names-dkim-signature-not-answered "$A"

# --- 4: DNS ----------------------------------------------------------------------
# SERVFAIL for the CA's key: 451, entry kept; the same mail again once DNS
# answers (as the CA's MTA retries): answered
A=dns@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/4.raw" "$A"
tool sign "$KEY" "$CAD" "$T/4.raw" "$T/4.eml"
Z_SEL=servfail zone
smtp "$T/4.eml" "$A"
want_code 4 "key SERVFAIL"
want_deferred "$A" "key SERVFAIL"
[ "$(state_of "$A")" = awaiting ] || why="$why; key SERVFAIL: entry '$(state_of "$A")'"
[ "$(nreplies "$A")" = 0 ] || why="$why; key SERVFAIL: a reply was sent"
[ "$(logged "$A" "not answered yet: DKIM key for d=$CAD temporarily unavailable, tempfail")" = 1 ] ||
	why="$why; key SERVFAIL: no tempfail log line"
grep -q "query sel._domainkey.$CAD TXT -> servfail" "$T/dns.log" ||
	why="$why; the milter did not ask the test DNS server"
zone
smtp "$T/4.eml" "$A"
want_code 250 "retry with DNS back"
want_answered "$A" "retry with DNS back"
res postfix-dns-tempfail-4xx-then-answered "$A"

# another signature (same domain, selector flaky: SERVFAIL) on top of the
# CA's valid one: answered
A=dnsother@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/4b.raw" "$A"
tool sign "$KEY" "$CAD" "$T/4b.raw" "$T/4b.one"
SIGN_SEL=flaky tool sign "$KEY" "$CAD" "$T/4b.one" "$T/4b.eml"
smtp "$T/4b.eml" "$A"
want_code 250 "other key SERVFAIL"
want_answered "$A" "other key SERVFAIL"
grep -q "query flaky._domainkey.$CAD TXT -> servfail" "$T/dns.log" ||
	why="$why; the flaky key was never asked for"
res postfix-other-signature-key-tempfail-answered "$A"

# --- 2: the PKCS#7 chain loop, and the deadline ---------------------------------
A=loop@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/2.raw" "$A"
tool smime signed "$PKI/loopsig.pem" "$PKI/loopsig.key" "$PKI/loop-chain.pem" "$T/2.raw" "$T/2.eml"
smtp "$T/2.eml" "$A"
# a chain that remained endless would be cut at VerifyTimeout with a 4xx
case $code in
250) want_not_answered "$A" "loop mail" "S/MIME: signer certificate is not trusted" ;;
4*) [ "$(logged "$A" "VerifyTimeout")" = 1 ] || why="$why; loop mail: 4xx without the deadline" ;;
*) why="$why; loop mail: SMTP '$code'" ;;
esac
[ "$secs" -le $((VT + 5)) ] || why="$why; loop mail took $secs s (VerifyTimeout $VT)"
[ "$(state_of "$A")" = awaiting ] || why="$why; loop mail: entry '$(state_of "$A")'"
want_alive "after the loop mail"
mkmail "$T/2v.raw" "$A"
tool smime signed "$PKI/signer.pem" "$PKI/signer.key" "$PKI/root.pem" "$T/2v.raw" "$T/2v.eml"
smtp "$T/2v.eml" "$A"
want_code 250 "next S/MIME challenge"
want_answered "$A" "next S/MIME challenge"
res postfix-pkcs7-chain-loop-bounded-next-answered "$A"

# a key lookup nobody answers: the worker is killed at VerifyTimeout, the
# SMTP client gets 4xx, and the next challenge is answered
A=slow@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/2s.raw" "$A"
tool sign "$KEY" "$CAD" "$T/2s.raw" "$T/2s.eml"
Z_SEL=drop zone
smtp "$T/2s.eml" "$A"
zone
want_code 4 "unanswered key lookup"
want_deferred "$A" "unanswered key lookup"
[ "$secs" -ge $((VT - 1)) ] && [ "$secs" -le $((VT + 6)) ] ||
	why="$why; took $secs s, want about VerifyTimeout ($VT s)"
[ "$(logged "$A" "verification worker killed after $VT s (VerifyTimeout)")" = 1 ] ||
	why="$why; no 'killed after $VT s' log line"
[ "$(state_of "$A")" = awaiting ] || why="$why; entry '$(state_of "$A")'"
want_alive "after the deadline"
valid "$A" "next challenge"
res postfix-verification-deadline-4xx-next-answered "$A"

# --- 3: S/MIME decoy certificate first ---------------------------------------------
A=decoy@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/3.raw" "$A"
tool smime signed "$PKI/other.pem" "$PKI/other.key" "$PKI/decoy-chain.pem" "$T/3.raw" "$T/3.eml" "first=$PKI/decoy.pem"
smtp "$T/3.eml" "$A"
want_code 250 "decoy mail"
want_not_answered "$A" "decoy mail" "S/MIME: more than one certificate matches the signer"
mkmail "$T/3v.raw" "$A"
tool smime signed "$PKI/signer.pem" "$PKI/signer.key" "$PKI/root.pem" "$T/3v.raw" "$T/3v.eml"
smtp "$T/3v.eml" "$A"
want_code 250 "real challenge"
want_answered "$A" "real challenge"
[ "$(logged "$A" "answered: challenge from $CA (S/MIME,")" = 1 ] ||
	why="$why; real challenge: not answered by S/MIME"
res postfix-smime-decoy-first-not-answered-entry-kept "$A"

# --- 6: a replayed old challenge -------------------------------------------------
A=replay@$MAIL_DOMAIN
write_entry "$A"
mkmail "$T/6.raw" "$A" "$(date -R -d '-3 days')"
tool sign "$KEY" "$CAD" "$T/6.raw" "$T/6.eml"
smtp "$T/6.eml" "$A"
want_code 250 "old challenge"
want_not_answered "$A" "old challenge" "replayed"
valid "$A" "fresh challenge"
res postfix-replayed-old-challenge-not-answered "$A"

want_alive "at the end"
res postfix-attacks-milter-still-running
e2e_finish
