#!/usr/bin/env bash
# test_milter.sh: smime-acme-milter end to end in the real Postfix world.
# The milter sits in the MX's smtpd_milters (world.sh --milter), started as
# root and running as nobody:nogroup (UserID); the spool is root:nogroup
# 0770 with entries 0640, written here as the requester would (incomplete
# before the order, awaiting once the authorization is known).  The test CA
# sends a real challenge through the MX, the milter answers, the reply
# reaches the CA DKIM-signed and the challenge becomes valid; for both
# token rules, in three worlds:
#   dkim      OpenDKIM signs: SendmailPath is the world's sendmail wrapper
#             (non-root: SMTP submission to SUBMIT_PORT, OpenDKIM there)
#   selfsign  --no-dkim-signer: the milter signs (SigningKey) and submits
#             itself (InjectMethod smtp to SUBMIT_PORT)
#   smime     the CA signs its challenges with S/MIME (--ca --smime),
#             the milter checks them against CA_ROOT (SMIMETrustFile)
# In the dkim world also: ordinary mail sent during the challenge arrives
# unchanged, the non-SMTP path (our milter added to non_smtpd_milters, mail
# injected with the root sendmail) accepts the milter's own reply untouched
# and never tempfails, the simulated connection really is 127.0.0.1 port 0,
# and with the milter killed (-9) Postfix keeps delivering.
#
# Environment: B (build directory, default build), KEEP=1 (keep on failure).
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root milter

e2e_built milter
RUNAS=nobody
RUNGRP=nogroup

# start_milter CONF-LINES...: spool, config, milter as root -> $RUNAS
start_milter() {
	M=$WORLD_DIR/m
	mkdir -p "$M/spool/entries" "$M/spool/work" "$M/spool/tmp" "$M/replies"
	chown root:"$RUNGRP" "$M/spool" "$M/spool/entries" "$M/spool/work" "$M/spool/tmp"
	chmod 770 "$M/spool" "$M/spool/entries" "$M/spool/work" "$M/spool/tmp"
	chown "$RUNAS:$RUNGRP" "$M/replies"
	chmod 755 "$M"
	# SendmailPath: keep a copy of each reply (for the non-SMTP check
	# below), then the world's wrapper
	cat >"$M/sendmail" <<EOF
#!/bin/sh
f=\$(mktemp "$M/replies/reply.XXXXXX") || exit 75
cat >"\$f"
exec "$SENDMAIL" "\$@" <"\$f"
EOF
	chmod 755 "$M/sendmail"
	{
		echo "Socket inet:$MPORT@127.0.0.1"
		echo "UserID $RUNAS:$RUNGRP"
		echo "Syslog no"
		echo "LogWhy yes"
		echo "SpoolDirectory $M/spool"
		echo "SendmailPath $M/sendmail"
		echo "TestDKIMKeys $DKIM_KEYS"
		echo "IncompleteWait 8"
		echo "ReplyTimeout 20"
		echo "PidFile $M/pid"
		printf '%s\n' "$@"
	} >"$M/conf"
	: >"$M/log"
	"$MILTER" -f -v -c "$M/conf" 2>>"$M/log" &
	MILTER_PID=$!
	if ! wait_port "$MPORT" 100; then
		fail "$W-milter-start" "$(tail -3 "$M/log" | tr '\n' ' ')"
		return 1
	fi
	_u=$(ps -o user= -p "$MILTER_PID" 2>/dev/null | tr -d ' ')
	[ "$_u" = "$RUNAS" ] && pass "$W-milter-runs-as-$RUNAS" ||
		fail "$W-milter-runs-as-$RUNAS" "runs as '$_u'"
	return 0
}

# world_end: stop the milter, keep its directory when a case failed and
# KEEP=1, stop the world
world_end() {
	milter_stop
	[ "$E2E_FAILED" = 0 ] || { [ "${KEEP:-}" = 1 ] && cp -r "$M" "/tmp/test_milter.$W.$$" && echo "kept /tmp/test_milter.$W.$$" >&2; }
	world_down
}

ordinary_check() { # ordinary_check RULE
	local tag f
	for tag in "pending-$1:alice" "other-$1:zoe"; do
		f=$(wait_mail_tagged "${tag#*:}@example.test" "${tag%:*}")
		if [ -z "$f" ]; then
			fail "$W-ordinary-mail-${tag%:*}" "not delivered"
			continue
		fi
		check "$W-ordinary-mail-${tag%:*}-unchanged" \
			delivered_unchanged "$WORLD_DIR/t/ordinary-${tag%:*}.eml" "$f"
	done
}

# ---------------------------------------------------------------- dkim world
W=dkim
MPORT=$(free_port)
if world_up --milter "inet:127.0.0.1:$MPORT"; then
	pass "$W-world-up"
	if start_milter "SendmailPath $WORLD_DIR/m/sendmail"; then
		ORDINARY=1 flow octet alice@example.test
		ordinary_check octet
		flow string bob@example.test
		# every MX connection so far has a real client port
		if ! grep -F 'connect: ' "$M/log" | grep -q 'port [1-9]'; then
			fail "$W-mx-connection-not-simulated" "no connect line with a real port"
		elif grep -F 'connect: ' "$M/log" | grep -q 'simulated'; then
			fail "$W-mx-connection-not-simulated" "an MX connection taken for non-SMTP"
		else
			pass "$W-mx-connection-not-simulated"
		fi

		# --- the non-SMTP path: our milter in non_smtpd_milters too
		cur=$(postconf -c "$POSTFIX_CONF" -h non_smtpd_milters)
		postconf -c "$POSTFIX_CONF" -e \
			"non_smtpd_milters = $cur, { inet:127.0.0.1:$MPORT, default_action=accept }"
		postfix -c "$POSTFIX_CONF" reload >/dev/null 2>&1
		sleep 1
		# dave has a pending entry; the milter's own reply (captured by
		# the SendmailPath wrapper above) is injected to him as root
		ADDR=dave@example.test RULE=octet SPOOL=$M/spool RUNGRP=$RUNGRP PYTHONPATH="$E2E_TOP/tests/ca" "$E2E_PY" - <<'EOF'
import grp, hashlib, os, time
a = os.environ["ADDR"]; l, _, d = a.rpartition("@")
k = hashlib.sha256((l + "@" + d.lower()).encode()).hexdigest()
for name, st in ((k, "awaiting"),):
    p = os.path.join(os.environ["SPOOL"], "entries", name)
    open(p, "w").write("smime-acme-spool 1\nmailbox: %s\nfrom: %s\ntoken2: AAAAAAAAAAAAAAAAAAAAAA\n"
                       "thumbprint: NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs\nrule: octet\n"
                       "state: %s\ncreated: %d\nexpires: %d\n" % (a, os.environ["CA_FROM"], st,
                       time.time(), time.time() + 3600))
    os.chown(p, 0, grp.getgrnam(os.environ["RUNGRP"]).gr_gid)
    os.chmod(p, 0o640)
EOF
		reply=$(ls "$M"/replies/reply.* 2>/dev/null | head -1)
		if [ -z "$reply" ]; then
			fail "$W-nonsmtp-own-reply-untouched" "no reply captured"
		else
			# tagged with one more header, so it can be found
			"$E2E_PY" -c '
import sys
b = open(sys.argv[1], "rb").read()
h, s, body = b.partition(b"\r\n\r\n")
open(sys.argv[2], "wb").write(h + b"\r\nX-Test-Tag: own-reply" + s + body)' "$reply" "$WORLD_DIR/t/own-reply.eml"
			before=$(grep -c 'own reply, accepted' "$M/log")
			"$SENDMAIL" -i -f alice@example.test -- dave@example.test <"$WORLD_DIR/t/own-reply.eml"
			f=$(wait_mail_tagged dave@example.test own-reply)
			if [ -z "$f" ]; then
				fail "$W-nonsmtp-own-reply-untouched" "not delivered: $(grep -i 'dave@' "$POSTFIX_LOG" | tail -2)"
			else
				check "$W-nonsmtp-own-reply-untouched" delivered_unchanged "$WORLD_DIR/t/own-reply.eml" "$f" DKIM-Signature
			fi
			after=$(grep -c 'own reply, accepted' "$M/log")
			[ "$after" -gt "$before" ] && pass "$W-nonsmtp-own-reply-recognised" ||
				fail "$W-nonsmtp-own-reply-recognised" "no 'own reply, accepted' in the milter log"
			grep -q "state: awaiting" "$M/spool/entries/$(printf '%s' dave@example.test | sha256sum | cut -c1-64)" &&
				pass "$W-nonsmtp-own-reply-entry-untouched" ||
				fail "$W-nonsmtp-own-reply-entry-untouched" "dave's entry changed"
		fi
		# Postfix's simulated connection, as the milter saw it
		if grep -F 'connect: ' "$M/log" | grep -q '\[127\.0\.0\.1 port 0\].*simulated'; then
			pass "$W-nonsmtp-connect-is-loopback-port-0"
		else
			fail "$W-nonsmtp-connect-is-loopback-port-0" "$(grep -F 'connect: ' "$M/log" | tail -1)"
		fi
		# an incomplete entry on the non-SMTP path: never tempfailed
		ADDR=erin@example.test SPOOL=$M/spool RUNGRP=$RUNGRP "$E2E_PY" - <<'EOF'
import grp, hashlib, os, time
a = os.environ["ADDR"]; l, _, d = a.rpartition("@")
p = os.path.join(os.environ["SPOOL"], "entries", hashlib.sha256((l + "@" + d.lower()).encode()).hexdigest())
open(p, "w").write("smime-acme-spool 1\nmailbox: %s\nfrom: %s\nstate: incomplete\ncreated: %d\nexpires: %d\n"
                   % (a, os.environ["CA_FROM"], time.time(), time.time() + 3600))
os.chown(p, 0, grp.getgrnam(os.environ["RUNGRP"]).gr_gid)
os.chmod(p, 0o640)
EOF
		printf 'From: %s\r\nTo: erin@example.test\r\nSubject: ACME: %s\r\nDate: Sat, 28 Nov 2026 18:43:16 +0000\r\nMessage-ID: <local-%s@ca.test>\r\nAuto-Submitted: auto-generated; type=acme\r\nX-Test-Tag: local-challenge\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nlocal\r\n' \
			"$CA_FROM" "$("$E2E_PY" -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode())')" "$$" \
			>"$WORLD_DIR/t/local-challenge.eml"
		"$SENDMAIL" -i -f "$CA_FROM" -- erin@example.test <"$WORLD_DIR/t/local-challenge.eml"
		f=$(wait_mail_tagged erin@example.test local-challenge 200)
		if [ -n "$f" ] && grep -q 'local submission, delivered' "$M/log" &&
			! grep -qiE 'milter.*(reject|tempfail|configuration error)' "$POSTFIX_LOG"; then
			pass "$W-nonsmtp-incomplete-entry-not-tempfailed"
		else
			fail "$W-nonsmtp-incomplete-entry-not-tempfailed" \
				"delivered '${f:-no}'; $(grep -iE 'erin|milter' "$POSTFIX_LOG" | tail -2 | tr '\n' ' ')"
		fi

		# --- the milter dies: Postfix keeps delivering (default_action=accept)
		kill -9 "$MILTER_PID"
		wait "$MILTER_PID" 2>/dev/null
		MILTER_PID=
		printf 'From: <bob@elsewhere.test>\r\nTo: <alice@example.test>\r\nSubject: after the milter died\r\nX-Test-Tag: milter-dead\r\n\r\nstill here\r\n' >"$WORLD_DIR/t/dead.eml"
		if send_mail "$MX_PORT" bob@elsewhere.test alice@example.test "$WORLD_DIR/t/dead.eml" 2>"$WORLD_DIR/t/dead.err"; then
			f=$(wait_mail_tagged alice@example.test milter-dead)
			[ -n "$f" ] && pass "$W-milter-killed-mail-still-delivered" ||
				fail "$W-milter-killed-mail-still-delivered" "not delivered"
		else
			fail "$W-milter-killed-mail-still-delivered" "MX refused: $(tail -1 "$WORLD_DIR/t/dead.err")"
		fi
	fi
	world_end
else
	fail "$W-world-up" "world.sh up failed"
fi

# ------------------------------------------------------------ selfsign world
W=selfsign
MPORT=$(free_port)
if world_up --milter "inet:127.0.0.1:$MPORT" --no-dkim-signer; then
	pass "$W-world-up"
	if start_milter "InjectMethod smtp" "SubmitHost 127.0.0.1" "SubmitPort $SUBMIT_PORT" \
		"SigningKey $DKIM_DOMAIN $DKIM_SELECTOR $DKIM_SIGN_KEY"; then
		flow octet carol@example.test
		flow string frank@example.test
		grep -q 'answered: challenge' "$M/log" && ! ls "$M"/replies/reply.* >/dev/null 2>&1 &&
			pass "$W-replies-by-smtp-submission" ||
			fail "$W-replies-by-smtp-submission" "sendmail used or nothing answered"
	fi
	world_end
else
	fail "$W-world-up" "world.sh up --no-dkim-signer failed"
fi

# --------------------------------------------------------------- smime world
# The CA signs its challenges with S/MIME only (no DKIM): the milter must
# verify them against CA_ROOT (SMIMETrustFile) to answer.
W=smime
MPORT=$(free_port)
if world_up --milter "inet:127.0.0.1:$MPORT" --ca "--smime"; then
	pass "$W-world-up"
	if start_milter "SMIMETrustFile $CA_ROOT"; then
		flow octet grace@example.test
		grep -qF 'grace@example.test: answered: challenge from '"$CA_FROM"' (S/MIME,' "$M/log" &&
			pass "$W-answered-by-smime-signature" ||
			fail "$W-answered-by-smime-signature" "$(grep -F 'grace@' "$M/log" | tail -1)"
	fi
	world_end
else
	fail "$W-world-up" "world.sh up --ca --smime failed"
fi

e2e_finish
