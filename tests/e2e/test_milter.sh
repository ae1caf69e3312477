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

MILTER_BIN=$E2E_TOP/${B:-build}/smime-acme-milter
RUNAS=nobody
RUNGRP=nogroup
if [ ! -x "$MILTER_BIN" ]; then
	fail milter-build "$MILTER_BIN not built"
	e2e_finish
fi
if [ ! -f "$E2E_TOP/tests/ca/acmeclient.py" ]; then
	skip milter "tests/ca/acmeclient.py missing"
	exit 0
fi

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
	"$MILTER_BIN" -f -v -c "$M/conf" 2>>"$M/log" &
	MPID=$!
	if ! wait_port "$MPORT" 100; then
		fail "$W-milter-start" "$(tail -3 "$M/log" | tr '\n' ' ')"
		return 1
	fi
	_u=$(ps -o user= -p "$MPID" 2>/dev/null | tr -d ' ')
	[ "$_u" = "$RUNAS" ] && pass "$W-milter-runs-as-$RUNAS" ||
		fail "$W-milter-runs-as-$RUNAS" "runs as '$_u'"
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

# world_end: stop the milter, keep its directory when a case failed and
# KEEP=1, stop the world
world_end() {
	stop_milter
	[ "$E2E_FAILED" = 0 ] || { [ "${KEEP:-}" = 1 ] && cp -r "$M" "/tmp/test_milter.$W.$$" && echo "kept /tmp/test_milter.$W.$$" >&2; }
	world_down
}

# flow RULE ADDR: one challenge answered by the milter; PASS/FAIL lines.
# ORDINARY=1 also sends ordinary mail (to ADDR and to another address)
# through the MX while the challenge is under way; the sent files are left
# in $WORLD_DIR/t/ordinary-*.eml for ordinary_check.
flow() {
	RULE=$1 ADDR=$2 W=$W SPOOL=$M/spool RUNGRP=$RUNGRP OUT=$WORLD_DIR/t \
	MLOG=$M/log ORDINARY=${ORDINARY:-0} PYTHONPATH="$E2E_TOP/tests/ca" \
		"$E2E_PY" - <<'EOF'
import grp, hashlib, json, os, smtplib, ssl, sys, threading, time, urllib.request
from acmeclient import *

env = os.environ
rule, addr, w, spool, out = env["RULE"], env["ADDR"], env["W"], env["SPOOL"], env["OUT"]
name = "%s-%s-challenge-valid" % (w, rule)
os.makedirs(out, exist_ok=True)
gid = grp.getgrnam(env["RUNGRP"]).gr_gid

def result(ok, why="", n=None):
    n = n or name
    print(("PASS: %s" % n) if ok else ("FAIL: %s: %s" % (n, why)))
    return ok

def key(a):
    l, _, d = a.rpartition("@")
    return hashlib.sha256((l + "@" + d.lower()).encode()).hexdigest()

def write_entry(state, token2="", thumb="", urls=("", "", "")):
    t = int(time.time())
    text = "smime-acme-spool 1\n" + "".join("%s: %s\n" % kv for kv in [
        ("mailbox", addr), ("from", env["CA_FROM"]), ("token2", token2),
        ("thumbprint", thumb), ("rule", rule), ("state", state),
        ("created", t), ("expires", t + 3600), ("order", urls[0]),
        ("authz", urls[1]), ("challenge", urls[2]), ("answered-at", 0)])
    tmp = os.path.join(spool, "tmp", "t." + key(addr))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.write(fd, text.encode())
    os.fchown(fd, 0, gid)
    os.fchmod(fd, 0o640)
    os.fsync(fd)
    os.close(fd)
    os.rename(tmp, os.path.join(spool, "entries", key(addr)))

def entry():
    try:
        return open(os.path.join(spool, "entries", key(addr))).read()
    except OSError:
        return ""

def ordinary(to, tag):
    body = ("Hello,\r\n\r\nordinary mail %s during an ACME challenge.\r\n"
            "Subject mentions nothing special.\r\n.leading dot line\r\n" % tag)
    msg = ("From: Bob <bob@elsewhere.test>\r\nTo: <%s>\r\n"
           "Subject: Minutes of %s\r\nDate: Sat, 28 Nov 2026 18:43:16 +0000\r\n"
           "Message-ID: <%s-%s@elsewhere.test>\r\nX-Test-Tag: %s\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
           "\r\n%s" % (to, tag, tag, os.getpid(), tag, body)).encode()
    open(os.path.join(out, "ordinary-%s.eml" % tag), "wb").write(msg)
    with smtplib.SMTP("127.0.0.1", int(env["MX_PORT"]), timeout=30) as s:
        s.sendmail("bob@elsewhere.test", [to], msg)

try:
    ctx = ssl.create_default_context(cafile=env["CA_TRUST"])
    req = urllib.request.Request(
        "https://127.0.0.1:%s/_test/config" % env["CA_HTTPS_PORT"],
        data=json.dumps({"token_rule": rule}).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    if json.load(urllib.request.urlopen(req, context=ctx, timeout=10)).get("token_rule") != rule:
        sys.exit(not result(False, "CA did not take token_rule %s" % rule))
    c = AcmeClient(env["CA_URL"], cafile=env["CA_TRUST"])
    c.new_account(contact=["mailto:admin@example.test"])
    # the requester's order of writes: incomplete entry before the order
    write_entry("incomplete")
    threads = []
    if env["ORDINARY"] == "1":
        for to, tag in ((addr, "pending-" + rule), ("zoe@example.test", "other-" + rule)):
            t = threading.Thread(target=ordinary, args=(to, tag))
            t.start()
            threads.append(t)
    order_url, order = c.new_order([addr])
    authz_url = order["authorizations"][0]
    ch = find_email_challenge(c.get_authz(authz_url))
    write_entry("awaiting", ch["token"], c.thumbprint(),
                (order_url, authz_url, ch["url"]))
    for t in threads:
        t.join()
    end = time.time() + 40
    while "state: answered" not in entry() and time.time() < end:
        time.sleep(0.2)
    e = entry()
    if "state: answered" not in e:
        sys.exit(not result(False, "spool entry not answered: %s" %
                            [l for l in e.splitlines() if l.startswith("state")]))
    c.post_challenge(ch["url"])
    a = c.poll_authz(authz_url, timeout=40)
    chs = [x for x in a.get("challenges", []) if x.get("type") == "email-reply-00"]
    ok = result(a["status"] == "valid", "authorization %s: %s" %
                (a["status"], chs and chs[0].get("error")))
    # the digest (and token-part2) never in the entry or any log
    leaks = []
    files = [os.path.join(spool, "entries", key(addr)), env["MLOG"], env["POSTFIX_LOG"]]
    for f in files:
        data = open(f, "rb").read()
        if ch["token"].encode() in data and f != files[0]:
            leaks.append("token-part2 in %s" % f)
    # the real digest: token-part1 comes from the challenge mail's Subject
    raw = None
    # the CA may validate before Postfix has delivered the challenge mail
    end = time.time() + 30
    while raw is None and time.time() < end:
        for d in ("new", "cur"):
            md = os.path.join(env["MAILDIR_BASE"], "example.test", addr.split("@")[0], "Maildir", d)
            for f in sorted(os.listdir(md)) if os.path.isdir(md) else []:
                m = open(os.path.join(md, f), "rb").read()
                if b"X-ACME-Challenge:" in m and ch["token"].encode() not in m:
                    try:
                        p1 = parse_challenge_subject(subject_of(m))
                    except Exception:
                        continue
                    dg = rfc8823_response(p1, ch["token"], c.thumbprint(), rule)
                    for f2 in files:
                        if dg.encode() in open(f2, "rb").read():
                            leaks.append("digest in %s" % f2)
                    raw = m
        if raw is None:
            time.sleep(0.2)
    if raw is None:
        leaks.append("challenge mail (with X-ACME-Challenge) not delivered to %s" % addr)
    result(not leaks, "; ".join(leaks), "%s-%s-no-secret-in-entry-or-logs" % (w, rule))
    sys.exit(0 if ok and not leaks else 1)
except SystemExit:
    raise
except Exception as ex:
    result(False, "%s: %s" % (type(ex).__name__, ex))
    sys.exit(1)
EOF
}

# delivered_unchanged SENT DELIVERED [HEADER]: DELIVERED is SENT with only
# trace headers (Return-Path, Delivered-To, Received) in front, and HEADER
# (e.g. the site signer's DKIM-Signature) if given
delivered_unchanged() {
	"$E2E_PY" - "$@" <<'EOF'
import sys
sent = open(sys.argv[1], "rb").read().replace(b"\r\n", b"\n")
got = open(sys.argv[2], "rb").read().replace(b"\r\n", b"\n")
trace = (b"return-path:", b"delivered-to:", b"received:")
trace += tuple(a.lower().encode() + b":" for a in sys.argv[3:])
lines = got.split(b"\n")
i = 0
while i < len(lines) and (lines[i].lower().startswith(trace) or
                          (i > 0 and lines[i][:1] in (b" ", b"\t"))):
    i += 1
rest = b"\n".join(lines[i:])
if rest != sent:
    print("differs after %d trace lines: %r" % (i, rest[:300]))
    sys.exit(1)
EOF
}

# find_mail ADDR TAG: the delivered mail of ADDR with X-Test-Tag TAG
find_mail() {
	grep -lF "X-Test-Tag: $2" "$(maildir_of "$1")"/new/* "$(maildir_of "$1")"/cur/* 2>/dev/null | head -1
}

# wait_mail_tagged ADDR TAG [TRIES]: find_mail ADDR TAG, retried every 0.1 s
# up to TRIES times (default 100); prints the path, nothing if none came
wait_mail_tagged() {
	local f= i
	for ((i = 0; i < ${3:-100}; i++)); do
		f=$(find_mail "$1" "$2")
		[ -n "$f" ] && break
		sleep 0.1
	done
	echo "$f"
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
		kill -9 "$MPID"
		wait "$MPID" 2>/dev/null
		MPID=
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
