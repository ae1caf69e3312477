# shellcheck shell=bash disable=SC2034
# tests/e2e/lib.sh: helpers for end-to-end tests (bash; source it).
#
#   . "$(dirname "$0")/lib.sh"
#   world_up [--milter inet:127.0.0.1:PORT] [--no-dkim-signer] [--ca "ARGS"] [--no-ca]
#   ...                      world.env is sourced: $MX_PORT, $SUBMIT_PORT, $CA_URL, ...
#   f=$(wait_for_mail alice@example.test 20) || fail name "no mail"
#   pass name / fail name "why" / skip name "why"
#   multimx_world NAME SUB [LINE...]   two MX, a milter each, one spool
#   spool_setup DIR; conf_write FILE PORT SPOOL [LINE...]
#   e2e_built NAME           $B, $SA, $MILTER; not built: FAIL and exit
#   milter_start CONF PORT LOG || ...; milter_stop     ($MILTER, $MILTER_PID)
#   pid_stop PID             SIGTERM, 8 s, SIGKILL; reaped
#   ca_cfg JSON; ca_state; ca_orders                   the test CA's /_test/
#   wait_grep FILE RE [TRIES] a log line that comes after the awaited event
#   e2e_finish               exit status: 1 if any fail was printed
#
# world_up makes a temporary directory (or uses WORLD_DIR_WANTED), starts the
# world there and installs an EXIT trap that stops it again and removes the
# directory (kept when KEEP=1 and a case failed; KEEP=all keeps it always).
# Results are single lines "PASS: name", "FAIL: name: why", "SKIP: name: why".

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_TOP=$(cd "$E2E_DIR/../.." && pwd)
WORLD_SH=$E2E_DIR/world/world.sh
E2E_PY=/usr/bin/python3
E2E_FAILED=0
WORLD_DIR=
E2E_WORLD_TMP=

pass() { echo "PASS: $1"; }
fail() {
	echo "FAIL: $1${2:+: $2}"
	E2E_FAILED=1
}
skip() { echo "SKIP: $1: ${2:-skipped}"; }

# check NAME CMD...: PASS if CMD succeeds, else FAIL with its last output line
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$name"
	else
		fail "$name" "$(printf '%s\n' "$out" | tail -1)"
	fi
}

e2e_finish() { exit "$E2E_FAILED"; }

# free_port: print one free TCP port on 127.0.0.1
free_port() {
	"$E2E_PY" "$E2E_TOP/tests/lib/free-ports.py" 1
}

# port_listening PORT: something listens on TCP PORT
port_listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# wait_port PORT [TRIES]: wait up to TRIES tenths of a second (default 50)
# for a listener on PORT; non-zero if none came
wait_port() {
	local i
	for ((i = 0; i < ${2:-50}; i++)); do
		port_listening "$1" && return 0
		sleep 0.1
	done
	port_listening "$1"
}

# spool_setup DIR: an empty spool for the requester (root here) and the
# milter (UserID nobody:nogroup): DIR/{entries,work,tmp}, group nogroup,
# mode 2770
spool_setup() {
	mkdir -p "$1/entries" "$1/work" "$1/tmp"
	chgrp -R nogroup "$1"
	chmod 2770 "$1" "$1"/*
}

# conf_write FILE PORT SPOOL [LINE...]: one smime-acme.conf (mode 644) for
# both programs, which must agree on SPOOL: the milter on inet:PORT as
# nobody:nogroup, replying through the world's sendmail, DKIM keys from
# the world; the requester against the world's CA.  Each LINE ("Key
# value") is appended.
conf_write() {
	local f=$1 port=$2 spool=$3
	shift 3
	{
		echo "Socket inet:$port@127.0.0.1"
		echo "UserID nobody:nogroup"
		echo "Syslog no"
		echo "SpoolDirectory $spool"
		echo "SendmailPath $SENDMAIL"
		echo "TestDKIMKeys $DKIM_KEYS"
		echo "Server $CA_URL"
		echo "CABundle $CA_TRUST"
		[ $# = 0 ] || printf '%s\n' "$@"
	} >"$f"
	chmod 644 "$f"
}

# milter_start CONF PORT LOG: start $MILTER -c CONF -f in the background,
# output to LOG, pid in MILTER_PID; non-zero if it does not listen on PORT
# within 5 s (the caller shows LOG)
milter_start() {
	"$MILTER" -c "$1" -f >"$3" 2>&1 &
	MILTER_PID=$!
	wait_port "$2"
}

# pid_stop PID: SIGTERM, up to 8 s to go, then SIGKILL; reaped (a child of
# this shell).  Never fails, also under set -e.
pid_stop() {
	local i
	kill "$1" 2>/dev/null || true
	for ((i = 0; i < 80; i++)); do
		pid_alive "$1" || break
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
	return 0
}

# milter_stop: stop the milter of milter_start (idempotent; never fails,
# also under set -e)
milter_stop() {
	[ -z "${MILTER_PID:-}" ] || pid_stop "$MILTER_PID"
	MILTER_PID=
	return 0
}

# ca_cfg JSON: change the test CA's behaviour (POST /_test/config)
ca_cfg() {
	curl -sf --cacert "$CA_TRUST" -X POST -H 'Content-Type: application/json' \
		-d "$1" "https://127.0.0.1:$CA_HTTPS_PORT/_test/config" >/dev/null
}

# ca_state: the test CA's state as JSON (GET /_test/state)
ca_state() {
	curl -sf --cacert "$CA_TRUST" "https://127.0.0.1:$CA_HTTPS_PORT/_test/state"
}

# ca_orders: how many orders the test CA has seen
ca_orders() {
	ca_state |
		"$E2E_PY" -c 'import json, sys; print(len(json.load(sys.stdin)["orders"]))'
}

# ca_count NAME: the test CA's counter NAME (e.g. badnonce_injected)
ca_count() {
	ca_state | "$E2E_PY" -c 'import json, sys
print(json.load(sys.stdin)["counts"][sys.argv[1]])' "$1"
}

# e2e_need_root: print SKIP for NAME and exit unless running as root
e2e_need_root() {
	if [ "$(id -u)" != 0 ]; then
		skip "$1" "needs root (private Postfix, Dovecot)"
		exit 0
	fi
}

# e2e_built NAME: B (made absolute), SA and MILTER, the build under test.
# make check builds both programs before any e2e script runs, so one that
# is missing is a failure of NAME, never a skip.
e2e_built() {
	local p
	B=${B:-build}
	case $B in /*) ;; *) B=$E2E_TOP/$B ;; esac
	SA=$B/smime-acme
	MILTER=$B/smime-acme-milter
	for p in "$SA" "$MILTER"; do
		if [ ! -x "$p" ]; then
			fail "$1-built" "$p not built (make all tests)"
			e2e_finish
		fi
	done
}

# world_up [world.sh options]: start a world; sources DIR/world.env.
# Returns non-zero (after printing world.sh's error) if it does not come up.
world_up() {
	local dir=${WORLD_DIR_WANTED:-}
	if [ -z "$dir" ]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/smime-e2e.XXXXXX") || return 1
		E2E_WORLD_TMP=$dir
	fi
	trap 'world_down' EXIT
	trap 'exit 130' INT TERM
	if ! "$WORLD_SH" up "$dir" "$@" >"$dir.up.log" 2>&1; then
		sed 's/^/    /' "$dir.up.log" >&2
		rm -f "$dir.up.log"
		return 1
	fi
	rm -f "$dir.up.log"
	set -a
	# shellcheck disable=SC1091
	. "$dir/world.env"
	set +a
	return 0
}

# requester_world NAME SUB: the world with $MILTER in front of its MX on
# an inet port, a spool, one smime-acme.conf for both programs (SpoolPostAfter
# 60, SpoolTimeout 120) and the milter started; sets MPORT, T
# ($WORLD_DIR/SUB), SPOOL, CONF and MILTER_PID, and stops everything at exit.
# Non-zero (after a FAIL line NAME-world-up or NAME-milter) if a part does
# not come up.
requester_world() {
	MPORT=$(free_port)
	if ! world_up --milter "inet:127.0.0.1:$MPORT"; then
		fail "$1-world-up" "world.sh up failed"
		return 1
	fi
	MILTER_PID=
	trap 'milter_stop; world_down' EXIT
	T=$WORLD_DIR/$2
	mkdir -p "$T"
	chmod 755 "$WORLD_DIR" "$T"
	SPOOL=$T/spool
	spool_setup "$SPOOL"
	CONF=$T/smime-acme.conf
	conf_write "$CONF" "$MPORT" "$SPOOL" "IncompleteWait 5" \
		"SpoolPostAfter 60" "SpoolTimeout 120"
	if ! milter_start "$CONF" "$MPORT" "$T/milter.log"; then
		sed 's/^/    milter: /' "$T/milter.log"
		fail "$1-milter" "the milter did not start"
		return 1
	fi
}

# multimx_world NAME SUB [LINE...]: the world with two MX hosts (world.sh
# --mx-b), each with its own $MILTER on an inet port, both on one spool
# (SPOOL, shared as a directory on NFS would be); one smime-acme.conf per
# MX ($T/conf-a, $T/conf-b: IncompleteWait 5, SpoolPostAfter 60,
# SpoolTimeout 60, then each LINE), the requester uses CONF ($T/conf-a,
# beside MX A).  Sets MPORT_A, MPORT_B, T ($WORLD_DIR/SUB), SPOOL, CONF;
# both milters are started (mx_milter_start) and stopped at exit.
# Non-zero (after a FAIL line NAME-world-up or NAME-milter) if a part does
# not come up.
multimx_world() {
	local name=$1 sub=$2
	shift 2
	MPORT_A=$(free_port)
	MPORT_B=$(free_port)
	while [ "$MPORT_B" = "$MPORT_A" ]; do MPORT_B=$(free_port); done
	if ! world_up --milter "inet:127.0.0.1:$MPORT_A" \
		--mx-b "inet:127.0.0.1:$MPORT_B"; then
		fail "$name-world-up" "world.sh up failed"
		return 1
	fi
	MILTER_A_PID='' MILTER_B_PID=''
	trap 'mx_milter_stop A; mx_milter_stop B; world_down' EXIT
	T=$WORLD_DIR/$sub
	mkdir -p "$T"
	chmod 755 "$WORLD_DIR" "$T"
	SPOOL=$T/spool
	spool_setup "$SPOOL"
	conf_write "$T/conf-a" "$MPORT_A" "$SPOOL" "IncompleteWait 5" \
		"SpoolPostAfter 60" "SpoolTimeout 60" "$@"
	conf_write "$T/conf-b" "$MPORT_B" "$SPOOL" "IncompleteWait 5" \
		"SpoolPostAfter 60" "SpoolTimeout 60" "$@"
	CONF=$T/conf-a
	if ! mx_milter_start A || ! mx_milter_start B; then
		fail "$name-milter" "a milter did not start"
		return 1
	fi
}

# mx_milter_start A|B: start the milter of MX A or B (multimx_world) with
# $T/conf-a or -b, log appended to $T/milter-a.log or -b.log, pid in
# MILTER_A_PID or MILTER_B_PID; environment assignments in front of the
# call reach the milter.  Non-zero (log shown) if it does not listen.
mx_milter_start() {
	local x port pid
	x=$(printf '%s' "$1" | tr AB ab)
	port=$MPORT_A
	[ "$1" = B ] && port=$MPORT_B
	"$MILTER" -c "$T/conf-$x" -f >>"$T/milter-$x.log" 2>&1 &
	pid=$!
	if [ "$1" = B ]; then MILTER_B_PID=$pid; else MILTER_A_PID=$pid; fi
	if ! wait_port "$port"; then
		sed "s/^/    milter $1: /" "$T/milter-$x.log"
		return 1
	fi
}

# mx_milter_stop A|B: stop that milter (idempotent; never fails)
mx_milter_stop() {
	local v=MILTER_${1}_PID
	[ -z "${!v:-}" ] || pid_stop "${!v}"
	printf -v "$v" '%s' ''
	return 0
}

# world_down: stop the world started by world_up (idempotent)
world_down() {
	local dir=${WORLD_DIR:-$E2E_WORLD_TMP}
	[ -n "$dir" ] || return 0
	"$WORLD_SH" down "$dir" >/dev/null 2>&1
	if [ -n "$E2E_WORLD_TMP" ] && [ "$dir" = "$E2E_WORLD_TMP" ]; then
		if [ "${KEEP:-}" = all ] || { [ "${KEEP:-}" = 1 ] && [ "$E2E_FAILED" != 0 ]; }; then
			echo "kept $dir" >&2
		else
			rm -rf "$dir"
		fi
		E2E_WORLD_TMP=
	fi
	WORLD_DIR=
	return 0
}

# maildir_of ADDR: the Maildir of an address of the world
maildir_of() {
	local l=${1%@*} d=${1##*@}
	l=$(printf '%s' "$l" | tr 'A-Z' 'a-z')
	d=$(printf '%s' "$d" | tr 'A-Z' 'a-z')
	printf '%s/%s/%s/Maildir\n' "$MAILDIR_BASE" "$d" "$l"
}

# wait_for_mail ADDR TIMEOUT: wait for a mail in ADDR's Maildir (new/ or cur/)
# that no earlier call returned; print its path.  Non-zero on timeout.
wait_for_mail() {
	local md seen f i
	md=$(maildir_of "$1")
	mkdir -p "$WORLD_DIR/seen"
	seen=$WORLD_DIR/seen/$(printf '%s' "$1" | tr -c 'A-Za-z0-9@._-' _)
	touch "$seen"
	for ((i = 0; i < ${2:-20} * 10; i++)); do
		for f in "$md"/new/* "$md"/cur/*; do
			[ -f "$f" ] || continue
			# Dovecot may move new/X to cur/X:2,S; compare the base name
			grep -qxF "${f##*/}" "$seen" && continue
			grep -qxF "${f##*/}" <(sed 's/:2,.*//' "$seen") && continue
			printf '%s\n' "${f##*/}" | sed 's/:2,.*//' >>"$seen"
			printf '%s\n' "$f"
			return 0
		done
		sleep 0.1
	done
	return 1
}

# send_mail PORT FROM TO FILE: send FILE over SMTP to 127.0.0.1:PORT with
# envelope FROM and TO (several TO: comma separated).  LF is turned into CRLF.
send_mail() {
	"$E2E_PY" - "$@" <<'EOF'
import smtplib, sys
port, frm, to, path = sys.argv[1:5]
data = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
with smtplib.SMTP("127.0.0.1", int(port), timeout=30) as s:
    s.sendmail(frm, to.split(","), data)
EOF
}

# dkim_verify FILE [dkimverify.py options]: verify with $DKIM_KEYS (see
# world/dkimverify.py); prints "pass d=..." or "fail: why"
dkim_verify() {
	local f=$1
	shift
	"$E2E_PY" "$E2E_DIR/world/dkimverify.py" "$@" "$f"
}

# imap_fetch [imapfetch.py options]: see world/imapfetch.py
imap_fetch() { "$E2E_PY" "$E2E_DIR/world/imapfetch.py" "$@"; }

# The RFC 8823 header names (section 3.2) a reply's h= must contain
RFC8823_REPLY_H="From,Sender,Reply-To,To,Cc,Subject,Date,In-Reply-To,References,Message-ID,Content-Type,Content-Transfer-Encoding"
RFC8823_CHALLENGE_H="$RFC8823_REPLY_H,Auto-Submitted"

# world_pids: pids started by the world and all their descendants
world_pids() {
	local name pid
	[ -f "$WORLD_DIR/pids" ] || return 0
	while read -r name pid; do
		echo "$pid"
		_e2e_desc "$pid"
	done <"$WORLD_DIR/pids"
}
_e2e_desc() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do
		echo "$c"
		_e2e_desc "$c"
	done
}

# world_ports: the TCP ports of the running world
world_ports() {
	local v
	for v in MX_PORT MX_B_PORT SUBMIT_PORT IMAP_PORT IMAPS_PORT OPENDKIM_PORT CA_HTTPS_PORT CA_SMTP_PORT; do
		[ -n "${!v:-}" ] && echo "${!v}"
	done
	return 0
}

# pid_alive PID: the process exists and is not a zombie.  Daemons of the
# world are reparented once `world.sh up` exits and may stay zombies for a
# moment until their new parent reaps them.
pid_alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# --- requester tests: collect failed conditions in $why, one verdict each

# sa ARGS...: the requester ($SA) as root (allowed), output in $T/out,
# exit code in $rc; never fails itself
sa() {
	"$SA" --allow-root "$@" >"$T/out" 2>&1
	rc=$?
	return 0
}

# want CONDITION-TEXT CMD...: append to $why unless CMD succeeds
want() {
	local text=$1
	shift
	"$@" >/dev/null 2>&1 || why="$why; $text"
}

# verdict NAME: PASS if $why is empty, else FAIL with the reasons and the
# tail of $T/out; clears $why
verdict() {
	if [ -z "$why" ]; then
		pass "$1"
	else
		fail "$1" "${why#; } (rc=${rc:-?}; $(tail -1 "$T/out" 2>/dev/null))"
		sed 's/^/    | /' "$T/out" | tail -15
	fi
	why=""
}

# certdir CONFIG_DIR ADDRESS: the directory of a stored certificate set
certdir() { printf '%s/certs/%s\n' "$1" "$2"; }

# --- milter tests (test_milter.sh, test_sendmail.sh)

# flow RULE ADDR: one challenge answered by the milter; PASS/FAIL lines.
# Needs $W (case prefix), $M (milter dir: spool/, log), $RUNGRP; checks the
# MTA log $MTA_LOG (default $POSTFIX_LOG) for leaks.
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
    files = [os.path.join(spool, "entries", key(addr)), env["MLOG"], env.get("MTA_LOG") or env["POSTFIX_LOG"]]
    for f in files:
        data = open(f, "rb").read()
        if ch["token"].encode() in data and f != files[0]:
            leaks.append("token-part2 in %s" % f)
    # the real digest: token-part1 comes from the challenge mail's Subject
    raw = None
    # the challenge is answered at end of message; Sendmail delivers it
    # after that, in the background: wait up to 20 s for it
    end = time.time() + 20
    while raw is None and time.time() < end:
        time.sleep(0.2)
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

# wait_grep FILE PATTERN [TRIES]: grep -q PATTERN FILE (a basic regular
# expression), retried every 0.1 s up to TRIES times (default 100).  For a
# log line that another process writes after the event the test waited on
# (Postfix's postlogd, the world's syslog sink, the milter's own threads).
wait_grep() {
	local i
	for ((i = 0; i < ${3:-100}; i++)); do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_mail_tagged ADDR TAG [TRIES]: find_mail ADDR TAG, retried every 0.1 s
# up to TRIES times (default 100); prints the path, nothing if none came
wait_mail_tagged() {
	local f='' i
	for ((i = 0; i < ${3:-100}; i++)); do
		f=$(find_mail "$1" "$2")
		[ -n "$f" ] && break
		sleep 0.1
	done
	echo "$f"
}
