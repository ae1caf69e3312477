#!/usr/bin/env bash
# test_sendmail.sh: smime-acme-milter end to end under a real Sendmail 8.17
# (tests/e2e/world/sendmail.sh: Debian's packages unpacked, never
# installed).  The MX daemon's filter list comes from
# contrib/sendmail/smime-acme.mc, included byte for byte; the PLAIN daemon
# of the same Sendmail runs no filter.  Two worlds:
#   selfsign  --no-dkim-signer, milter on an inet socket: it signs its
#             replies (SigningKey) and submits them over SMTP to the MSA
#             daemon.  Both token rules certified by the test CA; ordinary
#             mail sent during a challenge arrives unchanged; ordinary mail
#             through MX (milter) and PLAIN (no milter) is byte-identical;
#             with the milter killed (F= empty) mail still flows.
#   unix      OpenDKIM on the MSA signs, milter on a unix socket (the
#             recommended setup) in the world's namespace (bin/in-world),
#             replies through the real MSP (submit.cf) as the milter's
#             user, trusted there: a challenge certified; a reply signed by
#             the daemon's signer, without X-Authentication-Warning (one
#             appears where the user is not trusted).  The MSP hands local
#             mail to the daemon over SMTP from 127.0.0.1: a challenge for
#             an incomplete entry is tempfailed there and waits in the MSP
#             queue, and is answered at the queue run after the entry is
#             complete.  The milter stopped (SIGSTOP, F= empty): mail flows
#             after T=R.
#
# Environment: B (build directory, default build), KEEP=1 (keep on failure).
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root sendmail
# shellcheck disable=SC2034 # read by world_up and world_down (lib.sh)
WORLD_SH=$E2E_DIR/world/sendmail.sh

e2e_built sendmail
RUNAS=nobody
RUNGRP=nogroup
for t in m4 unshare; do
	if ! command -v "$t" >/dev/null; then
		skip sendmail "$t missing (contrib/deps.sh)"
		exit 0
	fi
done

tool() { "$E2E_PY" "$E2E_TOP/tests/milter/tools.py" "$@"; }

# milter_dir: $M with an empty spool (root:$RUNGRP 0770) and a log
milter_dir() {
	M=$WORLD_DIR/m
	mkdir -p "$M/spool/entries" "$M/spool/work" "$M/spool/tmp" "$M/run"
	chown root:"$RUNGRP" "$M/spool" "$M/spool/entries" "$M/spool/work" "$M/spool/tmp"
	chmod 770 "$M/spool" "$M/spool/entries" "$M/spool/work" "$M/spool/tmp"
	chown "$RUNAS:$RUNGRP" "$M/run"
	chmod 755 "$M"
	: >"$M/log"
}

# start_milter SOCKET CONF-LINES...: the milter as root -> $RUNAS on SOCKET
# (libmilter syntax), run by $MILTER_WRAP if set; waits for its socket
start_milter() {
	local sock=$1 i
	shift
	{
		echo "Socket $sock"
		echo "UserID $RUNAS:$RUNGRP"
		echo "Syslog no"
		echo "LogWhy yes"
		echo "SpoolDirectory $M/spool"
		echo "TestDKIMKeys $DKIM_KEYS"
		echo "IncompleteWait 3"
		echo "ReplyTimeout 20"
		echo "PidFile $M/run/pid"
		printf '%s\n' "$@"
	} >"$M/conf"
	${MILTER_WRAP:+"$MILTER_WRAP"} "$MILTER" -f -v -c "$M/conf" 2>>"$M/log" &
	MILTER_PID=$!
	for ((i = 0; i < 100; i++)); do
		case $sock in
		inet:*) port_listening "${sock#inet:}" && break ;;
		*) [ -S "${sock#*:}" ] && break ;;
		esac
		pid_alive "$MILTER_PID" || break
		sleep 0.1
	done
	if ! pid_alive "$MILTER_PID"; then
		fail "$W-milter-start" "$(tail -3 "$M/log" | tr '\n' ' ')"
		return 1
	fi
	return 0
}

world_end() {
	milter_stop
	if [ "$E2E_FAILED" != 0 ] && [ "${KEEP:-}" = 1 ]; then
		cp -r "$WORLD_DIR" "/tmp/test_sendmail.$W.$$" 2>/dev/null &&
			echo "kept /tmp/test_sendmail.$W.$$" >&2
	fi
	world_down
}

# ordinary FILE TAG: an ordinary mail (no challenge) with X-Test-Tag TAG
ordinary() {
	printf 'From: Bob <bob@elsewhere.test>\r\nTo: <zoe@example.test>\r\nSubject: Minutes of %s\r\nDate: Sat, 28 Nov 2026 18:43:16 +0000\r\nMessage-ID: <%s-%s@elsewhere.test>\r\nX-Test-Tag: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nHello,\r\n\r\nordinary mail %s.\r\n.leading dot line\r\n' \
		"$2" "$2" "$$" "$2" "$2" >"$1"
}

# ---------------------------------------------------------- selfsign world
W=selfsign
MPORT=$(free_port)
if world_up --milter "inet:$MPORT@127.0.0.1" --no-dkim-signer; then
	pass "$W-world-up"
	mkdir -p "$WORLD_DIR/t"
	# the snippet, byte for byte, and what m4 made of it
	if grep -qxF "include(\`$WORLD_DIR/sendmail/smime-acme.mc')dnl" "$WORLD_DIR/sendmail/sendmail.mc" &&
		cmp -s "$E2E_TOP/contrib/sendmail/smime-acme.mc" "$WORLD_DIR/sendmail/smime-acme.mc" &&
		grep -qxF "Xsmime-acme, S=inet:$MPORT@127.0.0.1, F=, T=C:10s;S:30s;R:1m;E:5m" "$SM_CF" &&
		grep -qxF "O InputMailFilters=smime-acme" "$SM_CF"; then
		pass "$W-snippet-included-as-shipped"
	else
		fail "$W-snippet-included-as-shipped" "$(grep -E '^Xsmime|InputMailFilters' "$SM_CF" | tr '\n' ' ')"
	fi
	milter_dir
	if start_milter "inet:$MPORT@127.0.0.1" "InjectMethod smtp" "SubmitHost 127.0.0.1" \
		"SubmitPort $SUBMIT_PORT" "SigningKey $DKIM_DOMAIN $DKIM_SELECTOR $DKIM_SIGN_KEY"; then
		ORDINARY=1 flow octet alice@example.test
		for tag in pending-octet:alice other-octet:zoe; do
			f=$(wait_mail_tagged "${tag#*:}@example.test" "${tag%:*}")
			if [ -z "$f" ]; then
				fail "$W-ordinary-mail-${tag%:*}" "not delivered"
			else
				check "$W-ordinary-mail-${tag%:*}-unchanged" \
					delivered_unchanged "$WORLD_DIR/t/ordinary-${tag%:*}.eml" "$f"
			fi
		done
		flow string bob@example.test
		grep -q 'answered: challenge' "$M/log" && pass "$W-replies-signed-by-milter" ||
			fail "$W-replies-signed-by-milter" "nothing answered"

		# the same mail through the milter (MX) and through no filter
		ordinary "$WORLD_DIR/t/same.eml" same
		send_mail "$MX_PORT" bob@elsewhere.test zoe@example.test "$WORLD_DIR/t/same.eml"
		f1=$(wait_mail_tagged zoe@example.test same)
		send_mail "$PLAIN_PORT" bob@elsewhere.test zoe@example.test "$WORLD_DIR/t/same.eml"
		for ((i = 0; i < 100; i++)); do
			f2=$(grep -lF 'X-Test-Tag: same' "$(maildir_of zoe@example.test)"/new/* | grep -vxF "$f1" | head -1)
			[ -n "$f2" ] && break
			sleep 0.1
		done
		if [ -z "$f1" ] || [ -z "$f2" ]; then
			fail "$W-ordinary-byte-identical-with-and-without-milter" "delivered: '${f1:-}' '${f2:-}'"
		elif delivered_unchanged "$WORLD_DIR/t/same.eml" "$f1" >/dev/null &&
			delivered_unchanged "$WORLD_DIR/t/same.eml" "$f2" >/dev/null; then
			pass "$W-ordinary-byte-identical-with-and-without-milter"
		else
			fail "$W-ordinary-byte-identical-with-and-without-milter" "$(diff "$f1" "$f2" | head -5 | tr '\n' ' ')"
		fi

		# the milter dies; F= (empty): Sendmail carries on without it
		kill -9 "$MILTER_PID"
		wait "$MILTER_PID" 2>/dev/null
		MILTER_PID=
		ordinary "$WORLD_DIR/t/dead.eml" milter-dead
		if send_mail "$MX_PORT" bob@elsewhere.test zoe@example.test "$WORLD_DIR/t/dead.eml" 2>"$WORLD_DIR/t/dead.err"; then
			f=$(wait_mail_tagged zoe@example.test milter-dead)
			if [ -n "$f" ] && wait_grep "$SM_LOG" 'Milter (smime-acme): .*to error state' 30; then
				pass "$W-milter-killed-mail-still-delivered"
			else
				fail "$W-milter-killed-mail-still-delivered" "delivered '${f:-no}'; $(grep -F 'Milter (smime-acme)' "$SM_LOG" | tail -1)"
			fi
		else
			fail "$W-milter-killed-mail-still-delivered" "MX refused: $(tail -1 "$WORLD_DIR/t/dead.err")"
		fi
	fi
	world_end
else
	fail "$W-world-up" "sendmail.sh up --no-dkim-signer failed"
fi

# -------------------------------------------------------------- unix world
W=unix
# Sendmail refuses a socket below a world-writable directory such as /tmp
# (below the build directory, never / if mktemp fails)
if ! SOCK_DIR=$(mktemp -d "$B/e2e-sock.XXXXXX"); then
	fail "$W-socket-dir" "cannot make a socket directory in $B"
	e2e_finish
fi
chown "$RUNAS:$RUNGRP" "$SOCK_DIR"
SOCK=$SOCK_DIR/milter.sock
if world_up --milter "local:$SOCK"; then
	pass "$W-world-up"
	mkdir -p "$WORLD_DIR/t"
	milter_dir
	# in the world's namespace, the milter's SendmailPath is the real MSP
	if MILTER_WRAP=$WORLD_DIR/bin/in-world start_milter "unix:$SOCK" "SendmailPath $SENDMAIL"; then
		flow octet carol@example.test
		grep -qF 'milter=smime-acme, action=' "$SM_LOG" &&
			grep -qF "Xsmime-acme, S=local:$SOCK," "$SM_CF" &&
			pass "$W-socket-used" || fail "$W-socket-used" "no smime-acme action in $SM_LOG"

		# The reply went through the real MSP as the milter's user (it
		# runs in the world's namespace) and was signed by the MSA's
		# OpenDKIM: the CA counts only a DKIM-signed reply.
		grep -qE 'ctladdr=carol@example.test \(65534/65534\), .*mailer=relay, .*stat=Sent' "$SM_LOG" &&
			pass "$W-reply-through-msp-as-milter-user" ||
			fail "$W-reply-through-msp-as-milter-user" "no MSP relay of carol's reply in $SM_LOG"

		# Local submission (the MSP, as root): over SMTP from 127.0.0.1,
		# so a challenge meeting an incomplete entry gets 451 and waits
		# in the MSP queue (unlike Postfix's non-SMTP path); once the
		# entry is complete the next queue run delivers it and it is
		# answered.  The challenge comes from acme@example.test, signed
		# with the world's key, so that the reply is delivered here.
		P1=$(tool rand 16) P2=$(tool rand 16) THUMB=$(tool rand 32)
		local_entry() {  # local_entry STATE
			ADDR=erin@example.test SPOOL=$M/spool RUNGRP=$RUNGRP STATE=$1 \
				P2=$P2 THUMB=$THUMB "$E2E_PY" - <<'EOF'
import grp, hashlib, os, time
a = os.environ["ADDR"]; l, _, d = a.rpartition("@")
k = hashlib.sha256((l + "@" + d.lower()).encode()).hexdigest()
t = int(time.time())
text = ("smime-acme-spool 1\nmailbox: %s\nfrom: acme@example.test\n"
        "token2: %s\nthumbprint: %s\nrule: octet\nstate: %s\ncreated: %d\n"
        "expires: %d\norder: https://ca.test/o/1\nauthz: https://ca.test/a/1\n"
        "challenge: https://ca.test/c/1\nanswered-at: 0\n"
        % (a, os.environ["P2"], os.environ["THUMB"], os.environ["STATE"], t, t + 3600))
if os.environ["STATE"] == "incomplete":
    text = "".join(x for x in text.splitlines(True)
                   if not x.startswith(("token2", "thumbprint", "rule", "order", "authz", "challenge")))
tmp = os.path.join(os.environ["SPOOL"], "tmp", "t." + k)
open(tmp, "w").write(text)
os.chown(tmp, 0, grp.getgrnam(os.environ["RUNGRP"]).gr_gid)
os.chmod(tmp, 0o640)
os.rename(tmp, os.path.join(os.environ["SPOOL"], "entries", k))
EOF
		}
		local_entry incomplete
		# dated now: a challenge dated before its entry is a replay
		printf 'From: ACME <acme@example.test>\r\nTo: erin@example.test\r\nSubject: ACME: %s\r\nDate: %s\r\nMessage-ID: <local-%s@example.test>\r\nAuto-Submitted: auto-generated; type=acme\r\nX-Test-Tag: local-challenge\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nlocal\r\n' \
			"$P1" "$(LC_ALL=C date -R)" "$$" >"$WORLD_DIR/t/local-challenge.raw"
		SIGN_SEL=$DKIM_SELECTOR tool sign "$DKIM_SIGN_KEY" example.test \
			"$WORLD_DIR/t/local-challenge.raw" "$WORLD_DIR/t/local-challenge.eml"
		"$SENDMAIL" -i -f acme@example.test -- erin@example.test <"$WORLD_DIR/t/local-challenge.eml"
		for ((i = 0; i < 100; i++)); do
			grep -q 'milter=smime-acme, reject=451 ' "$SM_LOG" && break
			sleep 0.1
		done
		queued=$(grep -l 'erin@example.test' "$WORLD_DIR"/sendmail/msp-queue/qf* 2>/dev/null | head -1)
		if grep -q 'milter=smime-acme, reject=451 ' "$SM_LOG" && [ -n "$queued" ] &&
			[ -z "$(find_mail erin@example.test local-challenge)" ]; then
			pass "$W-msp-incomplete-entry-tempfailed-and-queued"
		else
			fail "$W-msp-incomplete-entry-tempfailed-and-queued" \
				"queued '${queued:-no}'; $(grep -F 'erin@' "$SM_LOG" | tail -2 | tr '\n' ' ')"
		fi
		# complete; the MSP's next queue run (cron's sendmail -Ac -q)
		local_entry awaiting
		"$SENDMAIL" -q
		# the reply and erin's copy travel separately: wait for both
		for ((i = 0; i < 300; i++)); do
			reply=$(grep -lF "Subject: Re: ACME: $P1" "$(maildir_of acme@example.test)"/new/* 2>/dev/null | head -1)
			f=$(find_mail erin@example.test local-challenge)
			[ -n "$reply" ] && [ -n "$f" ] && break
			sleep 0.1
		done
		want=$(tool digest "$P1" "$P2" "$THUMB" octet)
		if [ -n "$reply" ] && [ -n "$f" ] && grep -q '^X-ACME-Challenge: ' "$f" &&
			tr -d '\r' <"$reply" | grep -qxF -- "$want"; then
			pass "$W-msp-queued-challenge-answered-once-complete"
		else
			fail "$W-msp-queued-challenge-answered-once-complete" \
				"reply '${reply:-none}', delivered '${f:-no}'; $(grep -F 'erin@' "$M/log" | tail -2 | tr '\n' ' ')"
		fi
		# that reply: through the MSP as the milter's user, signed by the
		# MSA's signer, and no X-Authentication-Warning for its -f since
		# that user is trusted in submit.mc.  The world's MSP runs with -C,
		# so it always adds "Processed by USER with -C" (a real MSP reads
		# /etc/mail/submit.cf): that one shows the MSP ran as $RUNAS.
		if [ -n "$reply" ]; then
			v=$(dkim_verify "$reply" --d-is-from)
			case $v in
			"pass d=example.test"*) pass "$W-reply-signed-by-daemon-signer" ;;
			*) fail "$W-reply-signed-by-daemon-signer" "$v" ;;
			esac
			grep -q "^X-Authentication-Warning: .*Processed by $RUNAS with -C" "$reply" &&
				! grep -q '^X-Authentication-Warning: .*using -f' "$reply" &&
				pass "$W-trusted-milter-user-no-authentication-warning" ||
				fail "$W-trusted-milter-user-no-authentication-warning" \
					"$(grep -vE '^[[:space:]]' "$reply" | head -12 | cut -c1-70 | tr '\n' '|')"
		fi
		# the same submission by the same user where it is not trusted
		sed '/^Tnobody$/d' "$SM_SUBMIT_CF" >"$WORLD_DIR/t/untrusted.cf"
		chmod 644 "$WORLD_DIR/t/untrusted.cf"
		ordinary "$WORLD_DIR/t/untrusted.eml" untrusted-user
		"$WORLD_DIR/bin/in-world" setpriv --reuid "$RUNAS" --regid "$RUNGRP" --clear-groups \
			"$SM_ROOT/usr/libexec/sendmail/sendmail" -C "$WORLD_DIR/t/untrusted.cf" \
			-i -f acme@example.test -- zoe@example.test <"$WORLD_DIR/t/untrusted.eml"
		f=$(wait_mail_tagged zoe@example.test untrusted-user 200)
		if [ -n "$f" ] && grep -q "^X-Authentication-Warning: .*$RUNAS set sender to acme@example.test using -f" "$f"; then
			pass "$W-untrusted-user-gets-authentication-warning"
		else
			fail "$W-untrusted-user-gets-authentication-warning" "delivered '${f:-no}'"
		fi

		# A hung milter (SIGSTOP), F= empty: each connection waits for
		# the negotiation reply for T=R (1m in the snippet), then Sendmail
		# carries on without the filter and the mail flows.
		kill -STOP "$MILTER_PID"
		ordinary "$WORLD_DIR/t/hung.eml" milter-hung
		t0=$(date +%s)
		PORT=$MX_PORT MAIL=$WORLD_DIR/t/hung.eml "$E2E_PY" - <<'EOF' 2>"$WORLD_DIR/t/hung.err"
import os, smtplib
data = open(os.environ["MAIL"], "rb").read()
with smtplib.SMTP("127.0.0.1", int(os.environ["PORT"]), timeout=150) as s:
    s.sendmail("bob@elsewhere.test", ["zoe@example.test"], data)
EOF
		rc=$?
		t1=$(date +%s)
		kill -CONT "$MILTER_PID"
		f=$(wait_mail_tagged zoe@example.test milter-hung)
		if [ "$rc" = 0 ] && [ -n "$f" ] && [ $((t1 - t0)) -ge 55 ] &&
			wait_grep "$SM_LOG" 'Milter (smime-acme): timeout' 30; then
			pass "$W-milter-stopped-mail-flows-after-R"
		else
			fail "$W-milter-stopped-mail-flows-after-R" \
				"rc $rc after $((t1 - t0)) s, delivered '${f:-no}'; $(tail -1 "$WORLD_DIR/t/hung.err") $(grep -F 'Milter (smime-acme)' "$SM_LOG" | tail -1)"
		fi
	fi
	world_end
else
	fail "$W-world-up" "sendmail.sh up --milter local:... failed"
fi
rm -rf "$SOCK_DIR"

e2e_finish
