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
#             recommended setup), replies through the world's sendmail
#             (SMTP to the MSA as the milter's user); a challenge certified.
#             As root, the MSP hands local mail to the daemon over SMTP
#             from 127.0.0.1: a challenge for an incomplete entry is
#             tempfailed there and waits in the MSP queue.
#
# Environment: B (build directory, default build), KEEP=1 (keep on failure).
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root sendmail
# shellcheck disable=SC2034 # read by world_up and world_down (lib.sh)
WORLD_SH=$E2E_DIR/world/sendmail.sh

MILTER_BIN=$E2E_TOP/${B:-build}/smime-acme-milter
RUNAS=nobody
RUNGRP=nogroup
if [ ! -x "$MILTER_BIN" ]; then
	fail sendmail-build "$MILTER_BIN not built"
	e2e_finish
fi
if [ ! -f "$E2E_TOP/tests/ca/acmeclient.py" ]; then
	skip sendmail "tests/ca/acmeclient.py missing"
	exit 0
fi
for t in m4 unshare; do
	if ! command -v "$t" >/dev/null; then
		skip sendmail "$t missing (contrib/deps.sh)"
		exit 0
	fi
done

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
# (libmilter syntax); waits for its socket
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
	"$MILTER_BIN" -f -v -c "$M/conf" 2>>"$M/log" &
	MPID=$!
	for ((i = 0; i < 100; i++)); do
		case $sock in
		inet:*) port_listening "${sock#inet:}" && break ;;
		*) [ -S "${sock#*:}" ] && break ;;
		esac
		pid_alive "$MPID" || break
		sleep 0.1
	done
	if ! pid_alive "$MPID"; then
		fail "$W-milter-start" "$(tail -3 "$M/log" | tr '\n' ' ')"
		return 1
	fi
	return 0
}

stop_milter() {
	[ -n "${MPID:-}" ] || return 0
	kill "$MPID" 2>/dev/null
	for _i in $(seq 80); do
		pid_alive "$MPID" || break
		sleep 0.1
	done
	kill -9 "$MPID" 2>/dev/null
	wait "$MPID" 2>/dev/null
	MPID=
}

world_end() {
	stop_milter
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
		kill -9 "$MPID"
		wait "$MPID" 2>/dev/null
		MPID=
		ordinary "$WORLD_DIR/t/dead.eml" milter-dead
		if send_mail "$MX_PORT" bob@elsewhere.test zoe@example.test "$WORLD_DIR/t/dead.eml" 2>"$WORLD_DIR/t/dead.err"; then
			f=$(wait_mail_tagged zoe@example.test milter-dead)
			if [ -n "$f" ] && grep -q 'Milter (smime-acme): .*to error state' "$SM_LOG"; then
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
SOCK_DIR=$(mktemp -d "$E2E_TOP/${B:-build}/e2e-sock.XXXXXX")
chown "$RUNAS:$RUNGRP" "$SOCK_DIR"
SOCK=$SOCK_DIR/milter.sock
if world_up --milter "local:$SOCK"; then
	pass "$W-world-up"
	mkdir -p "$WORLD_DIR/t"
	milter_dir
	if start_milter "unix:$SOCK" "SendmailPath $SENDMAIL"; then
		flow octet carol@example.test
		grep -qF 'milter=smime-acme, action=' "$SM_LOG" &&
			grep -qF "Xsmime-acme, S=local:$SOCK," "$SM_CF" &&
			pass "$W-socket-used" || fail "$W-socket-used" "no smime-acme action in $SM_LOG"

		# Local submission (the MSP, as root): over SMTP from 127.0.0.1,
		# so a challenge meeting an incomplete entry gets 451 and waits
		# in the MSP queue (unlike Postfix's non-SMTP path).
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
	fi
	world_end
else
	fail "$W-world-up" "sendmail.sh up --milter local:... failed"
fi
rm -rf "$SOCK_DIR"

e2e_finish
