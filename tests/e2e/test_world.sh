#!/usr/bin/env bash
# test_world.sh: the mail world itself (tests/e2e/world/world.sh).
#  - it starts and stops cleanly twice in a row, in the same directory: no
#    process it started survives `down`, no port stays open, `down` is
#    idempotent;
#  - mail to any user@example.test on MX_PORT lands in that user's Maildir;
#  - IMAP login works in plain text and over TLS (certificate checked);
#  - mail submitted on SUBMIT_PORT to @ca.test reaches the CA's SMTP
#    listener (the test CA when present, else the world's smtp-sink), signed
#    by OpenDKIM: d=example.test, h= covering the RFC 8823 list, verified
#    with dkimpy against DKIM_KEYS; the same for mail injected with the
#    world's sendmail wrapper (non_smtpd_milters);
#  - with --no-dkim-signer nothing is signed.
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root world

msg() { # FILE FROM TO SUBJECT
	printf 'From: %s\nTo: %s\nSubject: %s\nDate: %s\nMessage-ID: <%s@example.test>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\nbody of %s\n' \
		"$2" "$3" "$4" "$(LC_ALL=C date -R)" "$RANDOM$RANDOM" "$4" >"$1"
}

# down_clean NAME: stop the world; PASS if no process/port remains
down_clean() {
	local name=$1 pids ports p left=""
	pids=$(world_pids | sort -u)
	ports=$(world_ports)
	"$WORLD_SH" down "$WORLD_DIR" >/dev/null 2>&1 || {
		fail "$name" "world.sh down failed"
		return
	}
	for p in $pids; do
		if pid_alive "$p"; then left="$left pid $p($(cat /proc/$p/comm 2>/dev/null))"; fi
	done
	for p in $ports; do
		ss -Hltn "sport = :$p" | grep -q . && left="$left port $p"
	done
	if [ -n "$left" ]; then
		fail "$name" "left behind:$left"
	elif [ -z "$pids" ]; then
		fail "$name" "no processes were recorded"
	else
		pass "$name"
	fi
}

WORLD_DIR_WANTED=$(mktemp -d "${TMPDIR:-/tmp}/smime-e2e.XXXXXX")
E2E_WORLD_TMP=$WORLD_DIR_WANTED
T=$WORLD_DIR_WANTED/t
mkdir -p "$T"
trap 'world_down' EXIT

ca_opt=()
if [ ! -f "$E2E_TOP/tests/ca/smime-test-ca.py" ]; then
	ca_opt=(--no-ca)
	skip world-ca-listener "tests/ca/smime-test-ca.py missing; using smtp-sink for ca.test"
fi

# ---------------------------------------------------------------- round 1
t0=$(date +%s.%N)
if ! world_up "${ca_opt[@]}"; then
	fail world-up "world.sh up failed"
	e2e_finish
fi
trap 'world_down' EXIT
pass world-up
up_s=$(echo "$(date +%s.%N) - $t0" | bc 2>/dev/null || echo "?")
echo "world up took ${up_s}s"

check world-status "$WORLD_SH" status "$WORLD_DIR"

for v in WORLD_DIR MX_PORT SUBMIT_PORT IMAP_PORT IMAPS_PORT IMAP_TLS_CA MAIL_PASSWORD \
	MAIL_DOMAIN MAILDIR_BASE POSTFIX_CONF SENDMAIL OPENDKIM_SOCKET DKIM_SIGN_KEY \
	DKIM_SELECTOR DKIM_KEYS CA_SMTP_PORT CA_FROM; do
	[ -n "${!v:-}" ] || missing="${missing:-} $v"
done
if [ -n "${missing:-}" ]; then fail world-env "missing:$missing"; else pass world-env; fi

# mail through the MX lands in the Maildir (any user, case folded)
msg "$T/in.eml" bob@elsewhere.test Zoe.Q@example.test "inbound $RANDOM"
if send_mail "$MX_PORT" bob@elsewhere.test Zoe.Q@Example.Test "$T/in.eml" &&
	f=$(wait_for_mail zoe.q@example.test 15); then
	if grep -q "^Subject: inbound" "$f" && [ "$(stat -c %U "$f")" = mail ]; then
		pass world-mx-delivery
	else
		fail world-mx-delivery "unexpected file $f (owner $(stat -c %U "$f"))"
	fi
else
	fail world-mx-delivery "no mail in $(maildir_of zoe.q@example.test)"
fi

# IMAP plain and TLS, seeing that mail
n=$(imap_fetch --port "$IMAP_PORT" --user zoe.q@example.test --count 2>&1)
if [ "$n" = 1 ]; then pass world-imap-plain; else fail world-imap-plain "INBOX count: $n"; fi
if imap_fetch --port "$IMAPS_PORT" --tls-ca "$IMAP_TLS_CA" --user zoe.q --subject '^inbound' \
	--out "$T/imaps.eml" --timeout 5 >/dev/null 2>"$T/imaps.err" && grep -q '^Subject: inbound' "$T/imaps.eml"; then
	pass world-imap-tls
else
	fail world-imap-tls "$(tail -1 "$T/imaps.err")"
fi
if imap_fetch --port "$IMAP_PORT" --user zoe.q@example.test --password wrong --count >/dev/null 2>&1; then
	fail world-imap-badpass "login with a wrong password succeeded"
else
	pass world-imap-badpass
fi

# submission to @ca.test is relayed to the CA listener
msg "$T/out.eml" alice@example.test "$CA_FROM" "submitted $RANDOM"
if send_mail "$SUBMIT_PORT" alice@example.test "$CA_FROM" "$T/out.eml"; then
	ok=
	for _ in $(seq 1 100); do
		grep -q "to=<$CA_FROM>, relay=127.0.0.1\[127.0.0.1\]:$CA_SMTP_PORT," "$POSTFIX_LOG" && {
			ok=1
			break
		}
		sleep 0.1
	done
	if [ -n "$ok" ]; then pass world-submit-relay-ca; else fail world-submit-relay-ca "not relayed to port $CA_SMTP_PORT (see $POSTFIX_LOG)"; fi
else
	fail world-submit-relay-ca "submission refused"
fi

down_clean world-down
if "$WORLD_SH" down "$E2E_WORLD_TMP" >/dev/null 2>&1; then pass world-down-idempotent; else fail world-down-idempotent; fi

# ---------------------------------------------------------------- round 2
# Same directory again, ca.test to the smtp-sink so the signed mail can be read.
if ! world_up --no-ca; then
	fail world-up-again "world.sh up failed in the same directory"
	e2e_finish
fi
pass world-up-again

# smtp-sink -d writes a dump while the transaction runs: the newest is
# complete once it holds msg()'s last line ("body of ...")
sink_wait() { # N: wait for N dumped messages, the newest complete; print it
	local f
	for _ in $(seq 1 100); do
		if [ "$(find "$CA_SINK_DIR" -type f | wc -l)" -ge "$1" ]; then
			f=$(ls -t "$CA_SINK_DIR"/* | head -1)
			grep -q '^body of ' "$f" && { echo "$f"; return 0; }
		fi
		sleep 0.1
	done
	return 1
}

msg "$T/out2.eml" alice@example.test "$CA_FROM" "signed $RANDOM"
if send_mail "$SUBMIT_PORT" alice@example.test "$CA_FROM" "$T/out2.eml" && f=$(sink_wait 1); then
	r=$(dkim_verify "$f" --require-h "$RFC8823_REPLY_H" --d-is-from)
	case $r in pass\ d=example.test\ s=mail*) pass world-submit-dkim ;; *) fail world-submit-dkim "$r" ;; esac
else
	fail world-submit-dkim "nothing reached the ca.test listener"
fi

msg "$T/out3.eml" carol@example.test "$CA_FROM" "sendmail $RANDOM"
if "$SENDMAIL" -i -f carol@example.test -- "$CA_FROM" <"$T/out3.eml" && f=$(sink_wait 2); then
	r=$(dkim_verify "$f" --require-h "$RFC8823_REPLY_H" --d-is-from)
	case $r in pass\ d=example.test*) pass world-sendmail-dkim ;; *) fail world-sendmail-dkim "$r" ;; esac
else
	fail world-sendmail-dkim "sendmail wrapper failed or nothing arrived"
fi

# as a non-root user the wrapper submits over SMTP (same milters)
msg "$T/out4.eml" dave@example.test "$CA_FROM" "nobody $RANDOM"
chmod 644 "$T/out4.eml"
if setpriv --reuid=nobody --regid=nogroup --clear-groups "$SENDMAIL" -i -f dave@example.test -- "$CA_FROM" <"$T/out4.eml" &&
	f=$(sink_wait 3); then
	r=$(dkim_verify "$f" --d-is-from)
	case $r in pass*) pass world-sendmail-nonroot ;; *) fail world-sendmail-nonroot "$r" ;; esac
else
	fail world-sendmail-nonroot "wrapper failed for user nobody"
fi

# a bad signature is detected by the helper (the check can fail)
sed 's/^body of/tampered body of/' "$f" >"$T/tampered.eml"
case $(dkim_verify "$T/tampered.eml") in fail*) pass world-dkim-detects-tampering ;; *) fail world-dkim-detects-tampering ;; esac

down_clean world-down-again

# ---------------------------------------------------------------- round 3
# --no-dkim-signer: nothing signs (the milter's own signing is on its own).
# --milter with nothing listening: the MX tries it and fails open.
dead_milter=inet:127.0.0.1:$(free_port)
if world_up --no-ca --no-dkim-signer --milter "$dead_milter"; then
	msg "$T/in2.eml" bob@elsewhere.test erin@example.test "failopen $RANDOM"
	if send_mail "$MX_PORT" bob@elsewhere.test erin@example.test "$T/in2.eml" &&
		wait_for_mail erin@example.test 15 >/dev/null; then
		if wait_grep "$POSTFIX_LOG" "Milter service $dead_milter" 30; then
			pass world-milter-failopen
		else
			fail world-milter-failopen "Postfix did not try $dead_milter"
		fi
	else
		fail world-milter-failopen "mail not delivered with a dead milter"
	fi
	msg "$T/out5.eml" alice@example.test "$CA_FROM" "unsigned $RANDOM"
	if send_mail "$SUBMIT_PORT" alice@example.test "$CA_FROM" "$T/out5.eml" && f=$(sink_wait 1); then
		if grep -qi '^DKIM-Signature:' "$f" || [ -n "$OPENDKIM_SOCKET" ]; then
			fail world-no-dkim-signer "mail was signed"
		else
			pass world-no-dkim-signer
		fi
	else
		fail world-no-dkim-signer "nothing reached the ca.test listener"
	fi
	down_clean world-down-nodkim
else
	fail world-no-dkim-signer "world.sh up --no-dkim-signer failed"
fi

e2e_finish
