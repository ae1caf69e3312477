#!/bin/sh
# tests/milter/check.sh: protocol tests of smime-acme-milter with miltertest.
# Each case gets its own spool (entries written here in the documented text
# format, smime-acme.conf(5) FILES), its own unix socket, a capture script
# as SendmailPath and a DKIM key generated at test time (TestDKIMKeys).
# tests/milter/mail.lua drives one SMTP transaction and prints the reply of
# each stage.  Prints PASS:/FAIL:/SKIP: lines; exits 1 if a case failed.
#
# Environment: B (build directory, default build), KEEP=1 keeps the
# temporary directory.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top" || exit 2
B=${B:-build}
MILTER=$top/$B/smime-acme-milter
LUA=$top/tests/milter/mail.lua
PY=/usr/bin/python3

for t in miltertest opendkim-genkey; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "SKIP: milter: $t not installed"
		exit 0
	fi
done
if ! "$PY" -c 'import dkim' 2>/dev/null; then
	echo "SKIP: milter: python3-dkim not installed"
	exit 0
fi
if [ ! -x "$MILTER" ]; then
	echo "FAIL: milter-build: $MILTER not built"
	exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/smime-acme-milter.XXXXXX") || exit 2
chmod 755 "$T"
failed=0
# miltertest -w does not wait for the filter's shutdown (libmilter takes
# up to 5 s to notice SIGTERM); wait for all of them here, by pid file
reap_filters() {
	for _p in "$T"/*/pid; do
		[ -f "$_p" ] || continue
		_pid=$(cat "$_p")
		_i=0
		while [ -n "$_pid" ] && kill -0 "$_pid" 2>/dev/null && [ "$_i" -lt 100 ]; do
			sleep 0.1
			_i=$((_i + 1))
		done
	done
}
poll() {             # poll N CMD...: CMD succeeds within N tenths of a second
	_n=$1
	shift
	_i=0
	until "$@"; do
		[ "$_i" -lt "$_n" ] || return 1
		sleep 0.1
		_i=$((_i + 1))
	done
}
wait_filter() {      # the current case's filter has exited
	_pid=$(cat "$C/pid" 2>/dev/null)
	_i=0
	while [ -n "$_pid" ] && kill -0 "$_pid" 2>/dev/null && [ "$_i" -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
}
cleanup() {
	# the PostgreSQL cases' own milters and cluster (tests/lib/pg.sh)
	for _p in "$T"/pg-a/pid "$T"/pg-b/pid; do
		[ -f "$_p" ] && kill "$(cat "$_p")" 2>/dev/null
	done
	command -v pg_stop >/dev/null 2>&1 && pg_stop
	reap_filters
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $T"
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT INT TERM

CA=acme@ca.example
ADDR=alice@mail.example
if [ "$(id -u)" -eq 0 ]; then
	RUNAS=nobody
	USERLINE="UserID nobody:nogroup"
else
	RUNAS=
	USERLINE=
fi

# --- keys: one pair, public half published for three domains -------------
opendkim-genkey -b 1024 -d ca.example -s sel -D "$T" || exit 2
pub=$(tr -d '\n' <"$T/sel.txt" | sed -E 's/.*\( *//; s/ *\).*//; s/" *"//g; s/"//g; s/[[:space:]]+/ /g')
for d in ca.example other.example mail.example; do
	echo "sel._domainkey.$d $pub"
done >"$T/keys"
KEY=$T/sel.private
chmod 644 "$T/keys" "$KEY"

# --- helpers ---------------------------------------------------------------
tool() { "$PY" "$top/tests/milter/tools.py" "$@"; }

P1=$(tool rand 16)      # 128 bits: 22 characters, rules disagree
P2=$(tool rand 16)
THUMB=$(tool rand 32)

# write_entry DIR ADDR STATE EXPIRES [FROM [RULE]]
write_entry() {
	_f=$1/spool/entries/$(tool key "$2")
	{
		echo "smime-acme-spool 1"
		echo "mailbox: $2"
		echo "from: ${5-$CA}"
		echo "token2: $P2"
		echo "thumbprint: $THUMB"
		echo "rule: ${6:-octet}"
		echo "state: $3"
		echo "created: $(date +%s)"
		echo "expires: $4"
		echo "order: https://ca.example/order/1"
		echo "authz: https://ca.example/authz/1"
		echo "challenge: https://ca.example/chall/1"
		echo "answered-at: 0"
		echo "challenge-msgid: "
		echo "reason: "
	} >"$_f.tmp" && mv "$_f.tmp" "$_f"
	[ -n "$RUNAS" ] && chown -R "$RUNAS:nogroup" "$1/spool"
	return 0
}

# mkmail FILE: a challenge mail from the variables below (CRLF)
mkmail() {
	{
		printf 'From: ACME CA <%s>\r\n' "${M_FROM:-$CA}"
		printf 'To: %s\r\n' "${M_TO:-$ADDR}"
		printf 'Subject: %s\r\n' "${M_SUBJECT:-ACME: $P1}"
		# now: a challenge must not predate its entry (freshness)
		printf 'Date: %s\r\n' "${M_DATE:-$(date -u -R)}"
		printf 'Message-ID: <chal-%s@ca.example>\r\n' "$$"
		[ "${M_AUTOSUB-x}" != "" ] &&
		    printf 'Auto-Submitted: %s\r\n' "${M_AUTOSUB:-auto-generated; type=acme}"
		[ -n "${M_EXTRA:-}" ] && printf '%s\r\n' "$M_EXTRA"
		printf 'MIME-Version: 1.0\r\n'
		printf 'Content-Type: text/plain; charset=us-ascii\r\n'
		printf '\r\n'
		printf 'This is an ACME challenge.\r\n'
		printf 'Reply with the response.\r\n'
	} >"$1"
	return 0
}

# newcase NAME [CONF-LINES]: fresh directory, spool, capture script, conf
newcase() {
	C=$T/$1
	# a directory used twice would mix two cases' milters, pid files and
	# replies
	if [ -e "$C" ]; then
		echo "FAIL: newcase-$1: case directory used twice"
		exit 1
	fi
	mkdir -p "$C/spool/entries" "$C/spool/work" "$C/spool/tmp" "$C/replies"
	chmod 755 "$C"
	chmod 770 "$C/spool" "$C/spool/entries" "$C/spool/work" "$C/spool/tmp"
	cat >"$C/sendmail" <<EOF
#!/bin/sh
f=\$(mktemp "$C/replies/reply.XXXXXX") || exit 75
printf '%s\n' "\$@" >"\$f.args"
cat >"\$f.eml"
EOF
	chmod 755 "$C/sendmail"
	cat >"$C/conf" <<EOF
Socket local:$C/milter.sock
Syslog no
SpoolDirectory $C/spool
SendmailPath $C/sendmail
TestDKIMKeys $T/keys
IncompleteWait 1
ReplyTimeout 10
PidFile $C/pid
$USERLINE
${2:-}
EOF
	if [ -n "$RUNAS" ]; then
		chown -R "$RUNAS:nogroup" "$C/spool" "$C/replies"
	fi
	return 0
}

# run RCPT MAILFILE [miltertest -D args...]: output in $C/out, log in $C/log
run() {
	_r=$1 _m=$2
	shift 2
	miltertest -w -s "$LUA" -D milter="$MILTER" -D conf="$C/conf" \
	    -D sock="local:$C/milter.sock" -D msg="$_m" -D rcpt="$_r" "$@" \
	    >"$C/out" 2>"$C/log"
	echo "exit: $?" >>"$C/out"
}

nreplies() { find "$C/replies" -name '*.eml' | wc -l; }
why=""
expect() {            # expect LINE: the driver printed exactly this line
	grep -qxF "$1" "$C/out" || why="$why; no '$1' in output"
}
expect_not() {
	grep -qxF "$1" "$C/out" && why="$why; unexpected '$1'"
	return 0
}
expect_log() {        # expect_log TEXT: the milter logged it, exactly once
	_n=$(grep -cF -- "$1" "$C/log")
	[ "$_n" -eq 1 ] || why="$why; log has '$1' $_n times"
}
expect_replies() {
	_n=$(nreplies)
	[ "$_n" -eq "$1" ] || why="$why; $_n replies captured, want $1"
}
expect_state() {
	_s=$(sed -n 's/^state: //p' "$C/spool/entries/$(tool key "$ADDR")" 2>/dev/null)
	[ "$_s" = "$1" ] || why="$why; entry state '$_s', want '$1'"
}
result() {
	if [ -z "$why" ]; then
		echo "PASS: $1"
	else
		echo "FAIL: $1:${why#;}"
		sed 's/^/    out: /' "$C/out"
		sed 's/^/    log: /' "$C/log" | tail -15
		failed=1
	fi
	why=""
}

# A refusal: mail delivered unchanged, nothing sent, reason logged once.
refused() {  # refused NAME REASON
	expect "eom: continue"
	expect_not "eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
	expect_replies 0
	_n=$(grep -F "not answered: " "$C/log" | grep -cF -- "$2")
	[ "$_n" -eq 1 ] || why="$why; log has 'not answered: ...$2' $_n times"
	result "$1"
}

# check the captured reply byte for byte against the expected digest
check_reply() {   # check_reply RULE
	_f=$(find "$C/replies" -name '*.eml' | head -1)
	[ -n "$_f" ] || { why="$why; no reply"; return; }
	_want=$(tool digest "$P1" "$P2" "$THUMB" "$1")
	# CRLF everywhere, no bare CR or LF
	"$PY" - "$_f" <<'EOF' || why="$why; reply has bare CR or LF"
import sys, re
b = open(sys.argv[1], 'rb').read()
sys.exit(0 if b.endswith(b'\r\n') and not re.search(rb'(?<!\r)\n|\r(?!\n)', b) else 1)
EOF
	tr -d '\r' <"$_f" >"$_f.lf"
	[ "$(grep -cxE '[A-Za-z0-9_-]{43}' "$_f.lf")" -eq 1 ] ||
	    why="$why; not exactly one 43-character digest line"
	grep -qxF -- "$_want" "$_f.lf" || why="$why; digest differs from the $1 rule"
	grep -A1 -xF -- '-----BEGIN ACME RESPONSE-----' "$_f.lf" | tail -1 |
	    grep -qxF -- "$_want" || why="$why; digest not right after BEGIN"
	grep -qxF -- '-----END ACME RESPONSE-----' "$_f.lf" || why="$why; no END line"
	grep -qxF "Subject: Re: ACME: $P1" "$_f.lf" || why="$why; bad Subject"
	grep -qxF "From: $ADDR" "$_f.lf" || why="$why; bad From"
	grep -qxF "Auto-Submitted: auto-replied" "$_f.lf" || why="$why; no Auto-Submitted"
	grep -qxF "In-Reply-To: <chal-$$@ca.example>" "$_f.lf" || why="$why; bad In-Reply-To"
	printf -- '-i\n-f\n%s\n--\n%s\n' "$ADDR" "${2:-$CA}" | cmp -s - "${_f%.eml}.args" ||
	    why="$why; sendmail arguments: $(tr '\n' ' ' <"${_f%.eml}.args")"
	grep -qxF "To: ${2:-$CA}" "$_f.lf" || why="$why; bad To"
}

EXP=$(($(date +%s) + 3600))

# --- the good case ------------------------------------------------------------
newcase valid
write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
expect "eoh: continue"
expect "eom: continue"
expect "eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
expect_replies 1
check_reply octet
expect_state answered
grep -q '^answered-at: [1-9]' "$C/spool/entries/$(tool key "$ADDR")" || why="$why; no answered-at"
grep -qxF "challenge-msgid: <chal-$$@ca.example>" "$C/spool/entries/$(tool key "$ADDR")" ||
    why="$why; challenge-msgid not recorded"
grep -aqF "$(tool digest "$P1" "$P2" "$THUMB" octet)" "$C/log" "$C/spool/entries/"* && why="$why; digest leaked"
grep -qF -- "$P2" "$C/log" && why="$why; token-part2 logged"
expect_log "answered: challenge from $CA"
result valid-dkim-challenge-answered

# the same challenge a second time: no second reply
wait_filter
mv "$C/replies" "$C/replies.1"
mkdir "$C/replies"
[ -n "$RUNAS" ] && chown "$RUNAS:nogroup" "$C/replies"
run "$ADDR" "$C/mail"
refused same-challenge-twice "already answered"

# string rule, Reply-To in the CA's domain, reply signed by the milter
newcase valid-string "SigningKey mail.example sel $KEY"
write_entry "$C" "$ADDR" awaiting "$EXP" "$CA" string
M_EXTRA="Reply-To: <replies@ca.example>" mkmail "$C/raw"
tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
expect_replies 1
check_reply string replies@ca.example
_f=$(find "$C/replies" -name '*.eml' | head -1)
[ -n "$_f" ] && { tool verify "$T/keys" "$_f" || why="$why; reply DKIM signature does not verify"; }
[ -n "$_f" ] && { grep -q '^DKIM-Signature: .*d=mail.example' "$_f" ||
    tr -d '\r\n' <"$_f" | grep -q 'd=mail.example' || why="$why; no d=mail.example"; }
result valid-string-rule-signed-reply

# Reply-To outside the CA domain: the reply goes to From
newcase replyto-foreign
write_entry "$C" "$ADDR" awaiting "$EXP"
M_EXTRA="Reply-To: <thief@evil.example>" mkmail "$C/raw"
tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
expect_replies 1
check_reply octet "$CA"
result reply-to-outside-ca-domain-ignored

# --- refusals: no reply, mail delivered -----------------------------------------
newcase unsigned; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/mail"; run "$ADDR" "$C/mail"
refused unsigned "no DKIM signature"

newcase body-altered; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
sed -i 's/Reply with/Reply WITH/' "$C/mail"; run "$ADDR" "$C/mail"
refused bad-signature-body-altered "DKIM body hash mismatch"

newcase wrong-d; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" other.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused d-not-from-domain "DKIM-Signature ignored: d= is not the From domain"

newcase h-missing; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail" cc
run "$ADDR" "$C/mail"
refused h-missing-required-name "lacks cc"

# RFC 8301 and RFC 8823 forgeries: screened before the library
newcase rsa-sha1; write_entry "$C" "$ADDR" awaiting "$EXP"
# the same key under a selector whose record allows any hash (no h=)
sed -n 's/^sel\._domainkey\.ca\.example /anyh._domainkey.ca.example /p' "$T/keys" |
    sed 's/h=sha256; *//' >>"$T/keys"
mkmail "$C/raw"; SIGN_SEL=anyh SIGN_ALG=rsa-sha1 tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused rsa-sha1-signature "DKIM-Signature ignored: a= is not rsa-sha256"

newcase l-tag; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; SIGN_LEN=1 tool sign "$KEY" ca.example "$C/raw" "$C/mail"
printf 'Text appended after signing.\r\n' >>"$C/mail"
run "$ADDR" "$C/mail"
refused l-tag-with-appended-text "DKIM-Signature ignored: l= body length limit"

newcase small-key; write_entry "$C" "$ADDR" awaiting "$EXP"
mkdir -p "$C/small"
opendkim-genkey -b 512 -d ca.example -s small -D "$C/small" || exit 2
printf 'small._domainkey.ca.example %s\n' "$(tr -d '\n' <"$C/small/small.txt" | sed -E 's/.*\( *//; s/ *\).*//; s/" *"//g; s/"//g; s/[[:space:]]+/ /g')" >>"$T/keys"
mkmail "$C/raw"; SIGN_SEL=small tool sign "$C/small/small.private" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused rsa-key-under-1024-bits "(d=ca.example)"

newcase from-mismatch; write_entry "$C" "$ADDR" awaiting "$EXP"
M_FROM=other@ca.example mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused from-not-entry-from "From is not the CA sender of the pending entry"

newcase to-mismatch; write_entry "$C" "$ADDR" awaiting "$EXP"
M_TO=bob@mail.example mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused to-not-address "To is not the address being certified"

newcase re-prefix; write_entry "$C" "$ADDR" awaiting "$EXP"
M_SUBJECT="Re: ACME: $P1" mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused re-prefix "Subject does not start with"

newcase no-autosub; write_entry "$C" "$ADDR" awaiting "$EXP"
M_AUTOSUB= mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused no-auto-submitted "no Auto-Submitted header"

newcase short-token; write_entry "$C" "$ADDR" awaiting "$EXP"
M_SUBJECT="ACME: $(tool rand 15)" mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused token-under-128-bits "token-part1 shorter than 128 bits"

newcase bad-b64; write_entry "$C" "$ADDR" awaiting "$EXP"
M_SUBJECT="ACME: ${P1%??}+/" mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused bad-base64url "token-part1 is not base64url"

newcase expired; write_entry "$C" "$ADDR" awaiting $(($(date +%s) - 10))
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused expired-entry "spool entry expired"

newcase crlf-subject; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"
"$PY" - "$C/raw" <<'EOF'
import sys
p = sys.argv[1]; b = open(p, 'rb').read()
b = b.replace(b'\r\nDate:', b'\nBcc: victim@mail.example\r\nDate:', 1)
open(p, 'wb').write(b)
EOF
cp "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused crlf-injection-in-subject "CR or LF inside a header"

# (miltertest itself cannot send a header value much over 1 KB)
newcase oversized "MaxHeaderSize 700"; write_entry "$C" "$ADDR" awaiting "$EXP"
M_EXTRA="X-Padding: $(head -c 900 /dev/zero | tr '\0' 'a')" mkmail "$C/raw"
tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused oversized-header "oversized header"

# Freshness: a challenge dated days before its entry was created (an
# earlier order's challenge, still DKIM-valid, replayed from a mailbox or
# an archive) is refused as a replay, noted for the requester, and the
# entry still answers the real challenge; it used to be answered and
# burn the order
newcase replay-old; write_entry "$C" "$ADDR" awaiting "$EXP"
M_DATE=$(date -u -R -d '3 days ago') mkmail "$C/raw"
tool sign "$KEY" ca.example "$C/raw" "$C/mail"
mkmail "$C/raw2"; tool sign "$KEY" ca.example "$C/raw2" "$C/mail2"
run "$ADDR" "$C/mail" -D msg2="$C/mail2"
expect "eom: continue"
expect "next eom: continue"
expect "next eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
expect_replies 1
check_reply octet
expect_state answered
expect_log "not answered: Date is before the order was recorded (an old challenge replayed)"
[ -n "$(ls "$C/spool/notes" 2>/dev/null)" ] || why="$why; replay not noted"
result replayed-old-challenge-refused-next-answered

# within the documented skew (CHALLENGE_DATE_SKEW, 600 s): answered
newcase replay-skew; write_entry "$C" "$ADDR" awaiting "$EXP"
M_DATE=$(date -u -R -d '5 minutes ago') mkmail "$C/raw"
tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
expect "eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
expect_replies 1
check_reply octet
result challenge-within-date-skew-answered

# no Date at all: its age cannot be checked, refused
newcase no-date; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; grep -v '^Date:' "$C/raw" >"$C/raw.nd"
tool sign "$KEY" ca.example "$C/raw.nd" "$C/mail"
run "$ADDR" "$C/mail"
refused challenge-without-date-refused "no single valid Date header"

# Ordinary mail (no "ACME:" in the Subject) to a pending address over a
# header cap is still ordinary mail: accepted at end of headers, neither
# logged nor noted (smime-acme-milter(8), DESCRIPTION); it used to be
# treated as a candidate and refused with a log line and a note
ordinary_over_cap() {   # ordinary_over_cap NAME
	expect "eoh: accept"
	expect_not "eom: continue"
	expect_replies 0
	expect_state awaiting
	grep -q 'not answered' "$C/log" && why="$why; logged as a candidate"
	[ -z "$(ls "$C/spool/notes" 2>/dev/null)" ] || why="$why; refusal noted"
	result "$1"
}
newcase ordinary-oversized "MaxHeaderSize 700"; write_entry "$C" "$ADDR" awaiting "$EXP"
M_SUBJECT="Lunch on Friday" M_EXTRA="X-Padding: $(head -c 900 /dev/zero | tr '\0' 'a')" mkmail "$C/mail"
run "$ADDR" "$C/mail"
ordinary_over_cap ordinary-mail-oversized-header-not-candidate

newcase ordinary-many; write_entry "$C" "$ADDR" awaiting "$EXP"
M_SUBJECT="Lunch on Friday" M_EXTRA=$(i=0; while [ $i -lt 300 ]; do
	printf 'X-Hop-%d: a\r\n' $i; i=$((i + 1)); done; printf 'X-End: z') mkmail "$C/mail"
run "$ADDR" "$C/mail"
ordinary_over_cap ordinary-mail-over-256-headers-not-candidate

# the same over a cap with an ACME: Subject after the 256th header: a
# candidate, refused with a reason
newcase candidate-many; write_entry "$C" "$ADDR" awaiting "$EXP"
M_EXTRA=$(i=0; while [ $i -lt 300 ]; do
	printf 'X-Hop-%d: a\r\n' $i; i=$((i + 1)); done; printf 'Subject: ACME: %s' "$P1") \
    M_SUBJECT="Lunch" mkmail "$C/mail"
run "$ADDR" "$C/mail"
refused candidate-over-256-headers-refused "too many or too large headers"

# nothing pending at all (the usual state): accepted at the first RCPT,
# so the MTA sends no DATA stage; the MTA is asked not to send HELO and
# MAIL at all (one round trip less each)
newcase no-entry
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
expect "helo: skipped"
expect "mail: skipped"
expect "rcpt: accept"
expect_not "data: accept"
expect_not "eom: continue"
expect_replies 0
[ -s "$C/log" ] && grep -q 'not answered' "$C/log" && why="$why; logged for ordinary mail"
result empty-spool-accepted-at-rcpt

# another address pending: a later recipient might be that one, so the
# message is decided at DATA, once every recipient is known
newcase other-entry; write_entry "$C" "someone-else@example.test" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
expect "rcpt: continue"
expect "data: accept"
expect_not "eom: continue"
expect_replies 0
result no-pending-entry-accepted-at-data

# ... and when that later recipient is the pending one, the mail is
# answered
newcase other-entry-later-rcpt; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "someone-else@example.test" "$C/mail" -D rcpts="$ADDR"
expect "rcpt: continue"
expect "eom: continue"
expect_replies 1
result pending-second-recipient-answered

# --- hostile mail: the verification worker (milter/verifier.c) ------------------
# A DKIM-Signature whose h= names every header, itself included, plus one
# more: Debian's libopendkim 2.11.0~beta2 writes past a heap block in
# dkim_canon_selecthdrs (issue 10): the milter process died.  The screen
# (dkim/sigscreen.c) keeps it from the library; the same milter answers
# the next valid challenge.
# overflow_case NAME SIGNAME: a case whose first mail carries that
# signature under the header name SIGNAME, the second a valid challenge
overflow_case() {
	newcase "$1"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"
	{
		printf '%s v=1; a=rsa-sha256; c=relaxed/relaxed; d=ca.example; s=sel;\r\n' "$2"
		printf '\th=from:to:subject:date:message-id:auto-submitted:mime-version:content-type:dkim-signature:x;\r\n'
		printf '\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA\r\n'
		cat "$C/raw"
	} >"$C/mail"
	tool sign "$KEY" ca.example "$C/raw" "$C/mail2"
	run "$ADDR" "$C/mail" -D msg2="$C/mail2"
}
overflow_case dkim-overflow "DKIM-Signature:"
expect "eom: continue"
expect "next eom: continue"
expect "next eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
expect_replies 1
check_reply octet
expect_log "not answered: no DKIM signature (DKIM-Signature ignored: h= names dkim-signature)"
result dkim-heap-overflow-screened-next-answered

# The same signature under the obsolete name syntax "DKIM-Signature :"
# (RFC 5322 §4.5.3; the name arrives as "DKIM-Signature "): libopendkim
# drops the space and takes it for a signature, which the screen missed
# (fuzz input dkimv/libopendkim-name-space-before-colon); the worker died
# and the mail got 451.  Such a name is now malformed (common/mailhdr.c):
# refused before any verification, and the screen knows it too.
overflow_case dkim-name-space "DKIM-Signature :"
expect "eom: continue"
expect "next eom: continue"
expect_replies 1
expect_log "not answered: malformed header name"
result dkim-name-space-before-colon-refused

# A worker that crashes (test hook: no known mail crashes the screened
# library; before the screen, the mail above did): 451 for that mail, one
# log line, and the same milter answers the next valid challenge.
newcase worker-crash; write_entry "$C" "$ADDR" awaiting "$EXP"
M_EXTRA="X-Test-Worker-Crash: yes" mkmail "$C/raw"
tool sign "$KEY" ca.example "$C/raw" "$C/mail"
mkmail "$C/raw2"; tool sign "$KEY" ca.example "$C/raw2" "$C/mail2"
export SMIME_ACME_TEST_WORKER_CRASH=1
run "$ADDR" "$C/mail" -D msg2="$C/mail2"
unset SMIME_ACME_TEST_WORKER_CRASH
grep -qxE 'eom: (tempfail|replycode)' "$C/out" || why="$why; eom did not tempfail"
expect "next eom: continue"
expect "next eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
expect_replies 1
check_reply octet
expect_log "not answered yet: verification worker died without a verdict"
result worker-crash-tempfail-next-answered

# The seccomp filter (milter/verifier.c): a worker that makes a system
# call off its allow-list (test hook: kill(2) of its parent) is killed by
# the kernel; that mail gets 451, the milter and the server go on and the
# next challenge is answered.  Without the filter the call is harmless
# and the mail would be answered.
newcase worker-syscall; write_entry "$C" "$ADDR" awaiting "$EXP"
M_EXTRA="X-Test-Worker-Syscall: yes" mkmail "$C/raw"
tool sign "$KEY" ca.example "$C/raw" "$C/mail"
mkmail "$C/raw2"; tool sign "$KEY" ca.example "$C/raw2" "$C/mail2"
export SMIME_ACME_TEST_WORKER_SYSCALL=1
run "$ADDR" "$C/mail" -D msg2="$C/mail2"
unset SMIME_ACME_TEST_WORKER_SYSCALL
grep -qxE 'eom: (tempfail|replycode)' "$C/out" || why="$why; eom did not tempfail"
expect "next eom: continue"
expect "next eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
expect_replies 1
check_reply octet
expect_log "not answered yet: verification worker died without a verdict"
# (the server logs the kill when it reaps the worker, on its own time)
poll 50 grep -qF "killed by its seccomp filter" "$C/log"
expect_log "killed by its seccomp filter"
result worker-forbidden-syscall-killed-tempfail-next-answered

# A worker taken over by a mail could name any process in its hello (the
# pid the milter kills when no verdict comes): test hook, every worker
# names the server and then hangs without a verdict, as such a worker
# would to have it killed.  The milter takes the pid from the kernel
# (SO_PASSCRED), kills the liar at once and tempfails its mail; the server
# is never killed (it used to be, at VerifyTimeout) and the milter goes on
# with the next mail.
newcase worker-lie "VerifyTimeout 2"; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
mkmail "$C/raw2"; tool sign "$KEY" ca.example "$C/raw2" "$C/mail2"
export SMIME_ACME_TEST_WORKER_LIE=1
run "$ADDR" "$C/mail" -D msg2="$C/mail2"
unset SMIME_ACME_TEST_WORKER_LIE
grep -qxE 'eom: (tempfail|replycode)' "$C/out" || why="$why; eom did not tempfail"
grep -qxE 'next eom: (tempfail|replycode)' "$C/out" || why="$why; next eom did not tempfail"
expect_replies 0
_n=$(grep -c 'verification worker [0-9]* said it was process [0-9]*: killed' "$C/log")
[ "$_n" -eq 2 ] || why="$why; $_n lies logged, want 2"
! grep -q 'killed after\|starting a new one' "$C/log" || why="$why; a timeout kill or a server restart"
# and no hung liar outlives the milter
wait_filter
pgrep -f -- "-c $C/conf" >/dev/null && why="$why; a process of this milter is left"
result worker-lying-pid-killed-server-spared

# The verification server killed with its idle workers: the keeper
# (ps name smime-acme-keep) forks a new one and the next challenge is
# verified and answered; it used to get 451 until the milter restarted.
# kill_case NAME TOOL WHAT: a valid challenge sent after tools.py TOOL
# killed verification processes (WHAT, for the message if none was found);
# it must be answered
kill_case() {
	newcase "$1"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
	run "$ADDR" "$C/mail" -D hook="$PY $top/tests/milter/tools.py $2 $C/pid $C/killed; sleep 0.3"
	[ -n "$(tr -d ' \n' <"$C/killed" 2>/dev/null)" ] || why="$why; no $3 found to kill"
	expect "eom: continue"
	expect "eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
	expect_replies 1
	check_reply octet
}
kill_case server-killed killverifier "verification process"
expect_log "starting a new one"
result verification-server-killed-respawned-next-answered

# The server's idle workers killed (as the OOM killer might): the server
# forks others, and the next challenge is answered; it used to wait for a
# worker that never came, and every later challenge got 451 at
# VerifyTimeout until the milter restarted.
kill_case idle-workers-killed killworkers "idle worker"
_k=$(wc -w <"$C/killed" 2>/dev/null || echo 0)
_n=$(grep -c 'idle worker [0-9]* killed by signal 9, forking another' "$C/log")
[ "$_n" -eq "$_k" ] || why="$why; $_n 'idle worker ... forking another' lines for $_k workers killed"
result idle-workers-killed-replaced-next-answered

# The CA's DKIM key cannot be fetched now (the key file is unreadable for
# the milter's user, as DNS timing out or SERVFAIL would be): 451, so the
# CA's MTA retries, instead of a refusal that loses the challenge.
if [ -n "$RUNAS" ]; then
	newcase key-tempfail; write_entry "$C" "$ADDR" awaiting "$EXP"
	cp "$T/keys" "$C/keys"
	chmod 644 "$C/keys"
	sed -i "s|^TestDKIMKeys .*|TestDKIMKeys $C/keys|" "$C/conf"
	mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
	# readable at startup (the milter checks it then), gone when the
	# key is looked up: a temporary failure, as a DNS timeout would be
	run "$ADDR" "$C/mail" -D hook="chmod 000 $C/keys"
	grep -qxE 'eom: (tempfail|replycode)' "$C/out" || why="$why; eom did not tempfail"
	expect_replies 0
	expect_state awaiting
	expect_log "not answered yet: DKIM key for d=ca.example temporarily unavailable, tempfail"
	result dkim-key-temporary-failure-tempfails
else
	echo "SKIP: dkim-key-temporary-failure-tempfails: needs root (a key file UserID cannot read)"
fi

# --- incomplete entries --------------------------------------------------------
newcase incomplete-completes "IncompleteWait 5"
write_entry "$C" "$ADDR" incomplete "$EXP" ""
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
( sleep 1; write_entry "$C" "$ADDR" awaiting "$EXP" ) &
run "$ADDR" "$C/mail"
wait
expect "eom: continue"
expect_replies 1
check_reply octet
expect_state answered
result incomplete-entry-completes-while-waiting

newcase incomplete-stays "IncompleteWait 1"
write_entry "$C" "$ADDR" incomplete "$EXP" ""
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
if ! grep -qxE 'eom: (tempfail|replycode)' "$C/out"; then why="$why; eom did not tempfail"; fi
expect_replies 0
expect_state incomplete
expect_log "spool entry still incomplete after 1 s, tempfail"
result incomplete-entry-tempfails

# Postfix's simulated connection for sendmail(1) mail (client port 0,
# where the milter never tempfails) cannot be produced by miltertest: see
# tests/unit/test_milter.c and tests/e2e for that path.
echo "SKIP: incomplete-entry-local-submission: miltertest cannot send client port 0 (tests/unit/test_milter.c; real Postfix: tests/e2e/test_milter.sh)"

# --- ordinary mail and own replies ------------------------------------------------
newcase ordinary; write_entry "$C" "$ADDR" awaiting "$EXP"
M_SUBJECT="Lunch on Friday?" M_AUTOSUB= mkmail "$C/mail"
run "$ADDR" "$C/mail"
expect "eoh: accept"
expect_not "body: continue"
expect_not "eom: continue"
expect_replies 0
result ordinary-mail-to-pending-address-accepted-at-eoh

newcase own-reply; write_entry "$C" "$ADDR" awaiting "$EXP"
M_SUBJECT="Re: ACME: $P1" M_AUTOSUB="auto-replied" mkmail "$C/mail"
run "$ADDR" "$C/mail" -D host=localhost -D ip=127.0.0.1
expect "eoh: accept"
expect_replies 0
expect_state awaiting
result own-reply-accepted

# More pending recipients than the milter keeps: the ones beyond are
# logged once, at end of headers with the queue id (RCPT asks the MTA for
# no macros, doc/performance.md §1); the first ones are still answered.
newcase too-many-rcpts
write_entry "$C" "$ADDR" awaiting "$EXP"
_more=
for _i in 1 2 3 4 5 6 7 8 9; do
	write_entry "$C" "u$_i@mail.example" awaiting "$EXP"
	_more=$_more${_more:+,}u$_i@mail.example
done
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail" -D rcpts="$_more" -D qid=7QID0RCPT
expect "eoh: continue"
expect "eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
expect_log "7QID0RCPT: eoh: u8@mail.example: too many pending recipients in one message, ignored (2 beyond the first 8)"
_n=$(grep -c 'too many pending' "$C/log")
[ "$_n" -eq 1 ] || why="$why; 'too many pending' logged $_n times"
grep -q 'rcpt: .*too many' "$C/log" && why="$why; logged at RCPT"
result too-many-pending-recipients-logged-once-at-eoh-with-queue-id

newcase abort; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail" -D abort=1
expect "aborted"
expect_replies 0
expect_state awaiting
result aborted-message-not-answered

# --- dispositions ------------------------------------------------------------------
newcase discard "ChallengeDisposition discard"; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
expect "eom: discard"
expect_replies 1
result disposition-discard

newcase quarantine "ChallengeDisposition quarantine"; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
expect "eom: continue"
expect "eom-action: quarantine"
expect_replies 1
result disposition-quarantine

# failing injection: entry released, mail delivered untouched
newcase inject-fails "SendmailPath /bin/false"; write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
refused injection-failure-fails-open "reply could not be sent"
expect_state awaiting
[ -z "$(ls "$C/spool/work")" ] || why="$why; entry left in work/"
result injection-failure-releases-entry

# A FIFO planted in entries/ (spool group): the milter and `smime-acme
# spool` refuse it as not a regular file instead of blocking on open(2)
newcase spool-fifo
_f=$C/spool/entries/$(tool key "$ADDR")
mkfifo -m 660 "$_f"
[ -z "$RUNAS" ] || chown "$RUNAS:nogroup" "$_f"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
timeout 60 miltertest -w -s "$LUA" -D milter="$MILTER" -D conf="$C/conf" \
    -D sock="local:$C/milter.sock" -D msg="$C/mail" -D rcpt="$ADDR" \
    >"$C/out" 2>"$C/log"
echo "exit: $?" >>"$C/out"
expect "exit: 0"
expect_log "cannot read spool entry: not a regular file"
expect_replies 0
HOME=$C timeout 20 "$top/$B/smime-acme" --allow-root --conf "$C/conf" \
    -c "$C/cfg" --spool "$C/spool" spool >"$C/sa.out" 2>"$C/sa.err"
_rc=$?
[ "$_rc" -eq 0 ] || why="$why; smime-acme spool exited $_rc"
grep -qF "cannot read spool entry: not a regular file" "$C/sa.err" ||
    why="$why; smime-acme spool did not report the FIFO"
result spool-fifo-refused-without-blocking

# --- S/MIME-signed challenges (no DKIM) -----------------------------------------
# A root and a signer for the CA address (rfc822Name SAN, emailProtection),
# a signer for another address, and an untrusted root with its own signer
# (mkpki and mkloop: tests/lib/smime-pki.sh, certificates in $PKI).
PKI=$T/pki
. "$top/tests/lib/smime-pki.sh"
if command -v openssl >/dev/null 2>&1; then
	mkpki root "" ""
	mkpki signer root "$CA"
	mkpki other root other@ca.example
	mkpki evilroot "" ""
	mkpki evil evilroot "$CA"
	# a decoy named like "other" (issuer CN=root, other's serial) with
	# SAN = the CA sender, from a look-alike root and without
	# emailProtection; real signer: other (trusted, another address)
	M_SUBJ=/CN=root mkpki fakeroot "" ""
	M_EKU=clientAuth M_SERIAL=0x$(openssl x509 -in "$T/pki/other.pem" -noout -serial | sed 's/^serial=//') \
	    mkpki decoy fakeroot "$CA"
	cat "$T/pki/decoy.pem" "$T/pki/root.pem" >"$T/pki/decoy-chain.pem"
	mkpki utf8 root "otherName:1.3.6.1.5.5.7.8.9;UTF8:$CA"
	mkloop
	chmod 755 "$T/pki"
	chmod 644 "$T/pki"/*
	SM="SMIMETrustFile $T/pki/root.pem"
	P=$T/pki

	newcase smime-valid "$SM"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool smime signed "$P/signer.pem" "$P/signer.key" "$P/root.pem" "$C/raw" "$C/mail"
	run "$ADDR" "$C/mail"
	expect "eom: continue"
	expect "eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
	expect_replies 1
	check_reply octet
	expect_state answered
	expect_log "answered: challenge from $CA (S/MIME,"
	result valid-smime-multipart-signed-answered

	newcase smime-p7m "$SM"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool smime mime "$P/signer.pem" "$P/signer.key" "$P/root.pem" "$C/raw" "$C/mail"
	run "$ADDR" "$C/mail"
	expect_replies 1
	check_reply octet
	result valid-smime-pkcs7-mime-answered

	newcase smime-tampered "$SM"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool smime signed "$P/signer.pem" "$P/signer.key" "$P/root.pem" "$C/raw" "$C/mail" content
	run "$ADDR" "$C/mail"
	refused smime-tampered-content "S/MIME: signature does not verify"

	newcase smime-outer-to "$SM"; write_entry "$C" "$ADDR" awaiting "$EXP"
	M_TO=$ADDR mkmail "$C/raw"
	tool smime signed "$P/signer.pem" "$P/signer.key" "$P/root.pem" "$C/raw" "$C/mail" to
	run "bob@mail.example" "$C/mail"
	expect_replies 0
	result smime-outer-header-not-protected-no-entry
	# the same with an entry for bob: the signed To (alice) differs
	newcase smime-outer-to2 "$SM"
	write_entry "$C" bob@mail.example awaiting "$EXP"
	M_TO=$ADDR mkmail "$C/raw"
	tool smime signed "$P/signer.pem" "$P/signer.key" "$P/root.pem" "$C/raw" "$C/mail" to
	run "bob@mail.example" "$C/mail"
	refused smime-outer-to-differs-from-signed "S/MIME: signed To is not the outer To"

	newcase smime-san "$SM"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool smime signed "$P/other.pem" "$P/other.key" "$P/root.pem" "$C/raw" "$C/mail"
	run "$ADDR" "$C/mail"
	refused smime-signer-san-not-from "S/MIME: signer certificate has no rfc822Name: $CA"

	newcase smime-untrusted "$SM"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool smime signed "$P/evil.pem" "$P/evil.key" "$P/evilroot.pem" "$C/raw" "$C/mail"
	run "$ADDR" "$C/mail"
	refused smime-untrusted-signer "S/MIME: signer certificate is not trusted"

	# issue 10 attack 3: the decoy first in the PKCS#7 used to be the
	# certificate whose SAN was checked, while GnuTLS verified "other"
	newcase smime-decoy "$SM"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"
	tool smime signed "$P/other.pem" "$P/other.key" "$P/decoy-chain.pem" "$C/raw" "$C/mail" "first=$P/decoy.pem"
	run "$ADDR" "$C/mail"
	expect_state awaiting
	refused smime-decoy-certificate-first "S/MIME: more than one certificate matches the signer"

	# issue 10 attack 2: two certificates signing each other used to send
	# gnutls_pkcs7_verify into an endless loop; the chain built here stops
	newcase smime-loop "$SM"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"
	tool smime signed "$P/loopsig.pem" "$P/loopsig.key" "$P/loop-chain.pem" "$C/raw" "$C/mail"
	_t0=$(date +%s)
	run "$ADDR" "$C/mail"
	[ $(($(date +%s) - _t0)) -lt 20 ] || why="$why; took $(($(date +%s) - _t0)) s"
	refused smime-mutually-signed-certificates-prompt "S/MIME: signer certificate is not trusted"

	# an SmtpUTF8Mailbox SAN equal to From counts, as for the requester
	newcase smime-utf8 "$SM"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool smime signed "$P/utf8.pem" "$P/utf8.key" "$P/root.pem" "$C/raw" "$C/mail"
	run "$ADDR" "$C/mail"
	expect_replies 1
	check_reply octet
	expect_state answered
	result valid-smime-smtputf8mailbox-san-answered

	newcase smime-disallowed "$SM
AllowSMIME no"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool smime signed "$P/signer.pem" "$P/signer.key" "$P/root.pem" "$C/raw" "$C/mail"
	run "$ADDR" "$C/mail"
	refused smime-allowsmime-no "no DKIM signature"

	newcase smime-no-trust; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool smime signed "$P/signer.pem" "$P/signer.key" "$P/root.pem" "$C/raw" "$C/mail"
	run "$ADDR" "$C/mail"
	refused smime-without-trust-file "S/MIME: no SMIMETrustFile"

	# PKCS#7 whose two certificates sign each other: GnuTLS 3.7.9's
	# gnutls_pkcs7_verify built the chain for ever (issue 10).  The chain
	# is now built and bounded by milter/smime.c itself, so the mail is
	# refused at once (a loop that remained would be cut by the worker's
	# VerifyTimeout: see worker-crash), and the same milter answers the
	# next valid challenge.
	mkpki loopb "" ""
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$P/loopa.key" -out "$P/loopa.csr" -subj /CN=loopa 2>/dev/null
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\nextendedKeyUsage=emailProtection\nsubjectAltName=email:%s\n' "$CA" >"$P/loopa.ext"
	openssl x509 -req -in "$P/loopa.csr" -CA "$P/loopb.pem" -CAkey "$P/loopb.key" \
	    -CAcreateserial -days 2 -extfile "$P/loopa.ext" -out "$P/loopa.pem" 2>/dev/null
	openssl req -new -key "$P/loopb.key" -subj /CN=loopb -out "$P/loopb.csr" 2>/dev/null
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature,keyCertSign\nextendedKeyUsage=emailProtection\n' >"$P/loopb.ext"
	openssl x509 -req -in "$P/loopb.csr" -CA "$P/loopa.pem" -CAkey "$P/loopa.key" \
	    -CAcreateserial -days 2 -extfile "$P/loopb.ext" -out "$P/loopb2.pem" 2>/dev/null
	chmod 644 "$P"/*
	newcase smime-loop-next "$SM
VerifyTimeout 2"; write_entry "$C" "$ADDR" awaiting "$EXP"
	mkmail "$C/raw"; tool smime signed "$P/loopa.pem" "$P/loopa.key" "$P/loopb2.pem" "$C/raw" "$C/mail"
	mkmail "$C/raw2"; tool smime signed "$P/signer.pem" "$P/signer.key" "$P/root.pem" "$C/raw2" "$C/mail2"
	_t0=$(date +%s)
	run "$ADDR" "$C/mail" -D msg2="$C/mail2"
	_t1=$(date +%s)
	expect "eom: continue"
	expect "next eom: continue"
	expect "next eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
	expect_replies 1
	check_reply octet
	expect_log "not answered: no DKIM signature; S/MIME: signer certificate is not trusted"
	[ $((_t1 - _t0)) -lt 15 ] || why="$why; took $((_t1 - _t0)) s"
	result smime-pkcs7-chain-loop-refused-next-answered
else
	echo "SKIP: smime: openssl not installed"
fi

# SMTP injection with a password to a server that offers AUTH but no
# STARTTLS: the milter refuses before AUTH (the password never goes out in
# clear) and fails open (entry released, mail delivered untouched, the
# failure logged without the password)
newcase smtp-auth-fails
sport=$(( 40000 + $$ % 20000 ))
printf 'not-the-password\n' >"$C/pass"
chmod 644 "$C/pass"
cat >>"$C/conf" <<EOF
InjectMethod smtp
SubmitHost 127.0.0.1
SubmitPort $sport
SubmitUser replies
SubmitPasswordFile $C/pass
EOF
"$PY" - "$sport" "$C/smtp.log" <<'EOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); s.settimeout(30)
log = open(sys.argv[2], "w")
try:
    c, _ = s.accept()
except OSError:
    sys.exit(0)
f = c.makefile("rwb")
def say(t): f.write(t.encode() + b"\r\n"); f.flush()
say("220 stub ESMTP")
for line in f:
    cmd = line.decode(errors="replace").strip()
    log.write(cmd.split(" ")[0] + "\n"); log.flush()
    u = cmd.upper()
    if u.startswith(("EHLO", "HELO")):
        say("250-stub"); say("250 AUTH PLAIN LOGIN")
    elif u.startswith("AUTH"):
        say("535 5.7.8 authentication failed")
    elif u.startswith("QUIT"):
        say("221 bye"); break
    else:
        say("503 5.5.1 no")
c.close()
EOF
stub=$!
poll 100 test -e "$C/smtp.log" # the stub opens it once it listens
write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
wait "$stub"
refused smtp-auth-failure-fails-open "reply could not be sent"
expect_state awaiting
[ -z "$(ls "$C/spool/work")" ] || why="$why; entry left in work/"
grep -qx EHLO "$C/smtp.log" || why="$why; the server was not reached"
grep -qx AUTH "$C/smtp.log" && why="$why; AUTH sent without TLS"
grep -q 'SMTP submission to smtp://127.0.0.1:'"$sport"' failed: .*STARTTLS' "$C/log" || why="$why; failure not logged"
grep -qF not-the-password "$C/log" && why="$why; password logged"
result smtp-auth-failure-releases-entry

# --- claims: a live claim is tempfailed, an expired one taken over ----------------
# (issue 10 item 5, issue 13: the MX that claimed died mid-reply)
newcase claimed-file "ClaimTimeout 120"
write_entry "$C" "$ADDR" awaiting "$EXP"
mv "$C/spool/entries/$(tool key "$ADDR")" "$C/spool/work/$(tool key "$ADDR")"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
run "$ADDR" "$C/mail"
if ! grep -qxE 'eom: (tempfail|replycode)' "$C/out"; then why="$why; eom did not tempfail"; fi
expect_replies 0
expect_log "entry claimed by another delivery, tempfail"
result file-live-claim-tempfailed
wait_filter
# the claimer died: its claim's age is the ctime of the rename into work/
# (the milter cannot set an entry's times), so it ages past a short
# ClaimTimeout, not by touch
newcase claimed-file-expired "ClaimTimeout 1"
write_entry "$C" "$ADDR" awaiting "$EXP"
mv "$C/spool/entries/$(tool key "$ADDR")" "$C/spool/work/$(tool key "$ADDR")"
touch -d '+10 minutes' "$C/spool/work/$(tool key "$ADDR")"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
sleep 2
run "$ADDR" "$C/mail"
expect "eom: continue"
expect_replies 1
expect_state answered
result file-expired-claim-taken-over

# --- the PostgreSQL spool (SpoolDatabase; tests/lib/pg.sh) ----------------------
. "$top/tests/lib/pg.sh"
pg_rc=0
pg_start "$T" || pg_rc=$?
PGCASES="pg-challenge-answered pg-live-claim-tempfailed pg-expired-claim-answered
pg-two-milters-one-reply pg-down-ordinary-mail-flows pg-down-challenge-tempfailed
pg-back-challenge-answered pg-milter-role-least-privilege pg-migrate-idempotent
pg-entry-visible-in-second-milter"
if [ "$pg_rc" -eq 77 ]; then
	for n in $PGCASES; do
		echo "SKIP: $n: $PG_SKIP"
	done
elif [ "$pg_rc" -ne 0 ]; then
	echo "FAIL: pg-start: cannot start a private PostgreSQL cluster"
	failed=1
else
	SA="$top/$B/smime-acme --allow-root"
	printf 'Server https://ca.example/dir\n' >"$T/req.conf"
	pg_psql -d "$PGDATABASE" -c "CREATE ROLE smime_milter LOGIN;
	    CREATE ROLE smime_req LOGIN" >/dev/null
	MDB="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=smime_milter"
	RDB="host=$PGHOST port=$PGPORT dbname=$PGDATABASE user=smime_req"

	# spool-migrate: -n changes nothing, then creates, then does nothing
	newcase pg-migrate
	$SA --conf "$T/req.conf" spool-migrate --database "$PG_CONNINFO" \
	    --milter-role smime_milter --requester-role smime_req -n \
	    >"$C/out" 2>"$C/log" || why="$why; -n failed"
	grep -q '^would: create the schema smime_acme, version 1' "$C/out" ||
	    why="$why; -n did not say it would create the schema"
	[ "$(pg_psql -tAc "SELECT to_regclass('smime_acme.entries') IS NULL")" = t ] ||
	    why="$why; -n created the schema"
	$SA --conf "$T/req.conf" spool-migrate --database "$PG_CONNINFO" \
	    --milter-role smime_milter --requester-role smime_req \
	    >>"$C/out" 2>>"$C/log" || why="$why; migrate failed"
	pg_psql -tAc "SELECT version FROM smime_acme.meta" >"$C/v1"
	$SA --conf "$T/req.conf" spool-migrate --database "$PG_CONNINFO" \
	    --milter-role smime_milter --requester-role smime_req \
	    >"$C/out2" 2>>"$C/log" || why="$why; second migrate failed"
	grep -qxF 'schema: at version 1, nothing to do' "$C/out2" ||
	    why="$why; second run not a no-op"
	$SA --conf "$T/req.conf" spool-migrate --database "$PG_CONNINFO" -n \
	    >"$C/out3" 2>>"$C/log" || why="$why; -n after migrate failed"
	grep -q '^would' "$C/out3" && why="$why; -n at version 1 would change something"
	[ "$(cat "$C/v1")" = 1 ] || why="$why; schema version '$(cat "$C/v1")'"
	[ "$(pg_psql -tAc "SELECT count(*) FROM smime_acme.meta")" = 1 ] ||
	    why="$why; meta has more than one row"
	printf 'SpoolDatabase host=x password=secret\n' >"$C/pw.conf"
	$SA --conf "$C/pw.conf" spool-migrate >"$C/pw.out" 2>&1 &&
	    why="$why; a password in SpoolDatabase was accepted"
	grep -q 'SpoolDatabase: holds a password' "$C/pw.out" ||
	    why="$why; no clear error for a password in SpoolDatabase"
	grep -q secret "$C/pw.out" && why="$why; the password was echoed"
	result pg-migrate-idempotent

	# pg_entry ADDR STATE EXPIRES: the requester's write (as its role)
	pg_entry() {
		PGUSER=smime_req pg_psql -d "$PGDATABASE" -c "
		    INSERT INTO smime_acme.entries (key, mailbox, sender, token2,
		      thumbprint, rule, state, created, expires, order_url)
		    VALUES ('$(tool key "$1")', '$1', '$CA', '$P2', '$THUMB',
		      'octet', '$2', $(date +%s), $3, 'https://ca.example/o/1')
		    ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state,
		      expires = EXCLUDED.expires, claimed_by = NULL,
		      claimed_at = NULL, answered_at = 0, challenge_msgid = ''"
	}
	pg_state() {
		pg_psql -d "$PGDATABASE" -tAc "SELECT state FROM smime_acme.entries
		    WHERE key = '$(tool key "$1")'"
	}
	# pg_milter NAME: a case whose milter runs on the database, started
	# here (mail.lua -D running=1); waits for its pending set
	pg_milter() {
		newcase "$1" "SpoolDatabase $MDB
ClaimTimeout 120"
		"$MILTER" -f -v -c "$C/conf" 2>"$C/mlog" &
		_i=0
		until grep -q 'pending set loaded' "$C/mlog" 2>/dev/null &&
		    [ -S "$C/milter.sock" ]; do
			_i=$((_i + 1))
			[ "$_i" -gt 100 ] && break
			sleep 0.1
		done
	}
	# mrun DIR RCPT MAILFILE OUT: one transaction to the milter of DIR
	mrun() {
		miltertest -s "$LUA" -D running=1 -D sock="local:$1/milter.sock" \
		    -D msg="$3" -D rcpt="$2" >"$4" 2>&1
		echo "exit: $?" >>"$4"
	}
	stop_milter() {   # stop_milter DIR
		_p=$(cat "$1/pid" 2>/dev/null)
		[ -n "$_p" ] && kill "$_p" 2>/dev/null
		_i=0
		while [ -n "$_p" ] && kill -0 "$_p" 2>/dev/null && [ "$_i" -lt 100 ]; do
			sleep 0.1
			_i=$((_i + 1))
		done
	}

	EXP=$(($(date +%s) + 3600))
	pg_milter pg-a; A=$C
	pg_milter pg-b; B2=$C
	mkmail "$T/pg.raw"; tool sign "$KEY" ca.example "$T/pg.raw" "$T/pg.mail"
	M_TO=bob@mail.example M_SUBJECT="hello" M_AUTOSUB="" mkmail "$T/ord.mail"

	# nothing pending in the database: ordinary mail accepted at RCPT
	C=$A
	mrun "$A" bob@mail.example "$T/ord.mail" "$C/out"; cp "$C/mlog" "$C/log"
	expect "rcpt: accept"
	expect_not "data: accept"
	result pg-empty-pending-set-accepted-at-rcpt

	# a new entry: how long until the second milter has it in memory
	_k16=$(tool key "$ADDR" | cut -c1-16)
	pg_entry "$ADDR" awaiting "$EXP" >/dev/null
	t0=$(date +%s%N)
	_i=0
	until grep -q "pending set: $_k16 awaiting" "$B2/mlog"; do
		_i=$((_i + 1))
		[ "$_i" -gt 2000 ] && break
		sleep 0.005
	done
	t1=$(date +%s%N)
	C=$B2
	if [ "$_i" -gt 2000 ]; then
		why="$why; not visible after 10 s"
	else
		echo "    entry visible in the second milter $(( (t1 - t0) / 1000000 )) ms after the writer's commit returned (poll step 5 ms)"
	fi
	: >"$C/out"; cp "$C/mlog" "$C/log"
	result pg-entry-visible-in-second-milter

	# answered through milter A; the database says so
	C=$A
	mrun "$A" "$ADDR" "$T/pg.mail" "$C/out"; cp "$C/mlog" "$C/log"
	expect "eom: continue"
	expect "eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
	expect_replies 1
	check_reply octet
	[ "$(pg_state "$ADDR")" = answered ] || why="$why; state '$(pg_state "$ADDR")'"
	grep -qF "$P2" "$C/mlog" && why="$why; token-part2 logged"
	result pg-challenge-answered

	# a live claim of another MX: 451; expired (it died): answered
	pg_entry "$ADDR" awaiting "$EXP" >/dev/null
	pg_psql -d "$PGDATABASE" -c "UPDATE smime_acme.entries SET
	    claimed_by = 'mx-dead:1:1', claimed_at = now()" >/dev/null
	C=$B2; rm -f "$C"/replies/*
	mrun "$C" "$ADDR" "$T/pg.mail" "$C/out"; cp "$C/mlog" "$C/log"
	if ! grep -qxE 'eom: (tempfail|replycode)' "$C/out"; then why="$why; eom did not tempfail"; fi
	expect_replies 0
	result pg-live-claim-tempfailed
	pg_psql -d "$PGDATABASE" -c "UPDATE smime_acme.entries SET
	    claimed_at = now() - interval '10 minutes'" >/dev/null
	mrun "$C" "$ADDR" "$T/pg.mail" "$C/out"; cp "$C/mlog" "$C/log"
	expect "eom: continue"
	expect_replies 1
	[ "$(pg_state "$ADDR")" = answered ] || why="$why; state '$(pg_state "$ADDR")'"
	result pg-expired-claim-answered

	# the same challenge to both milters at once, 20 times: one reply
	_bad="" _tf=0
	for i in $(seq 1 20); do
		# (each round's mail is a new delivery; the loser may be
		# tempfailed at the claim or find the entry answered)
		rm -f "$A"/replies/* "$B2"/replies/*
		pg_entry "$ADDR" awaiting "$EXP" >/dev/null
		sleep 0.2
		mrun "$A" "$ADDR" "$T/pg.mail" "$A/race.out" &
		_pa=$!
		mrun "$B2" "$ADDR" "$T/pg.mail" "$B2/race.out" &
		_pb=$!
		wait "$_pa" "$_pb"
		_n=$(( $(find "$A/replies" "$B2/replies" -name '*.eml' | wc -l) ))
		[ "$_n" -eq 1 ] || _bad="$_bad round $i: $_n replies;"
		grep -qxE "eom: (tempfail|replycode)" "$A/race.out" "$B2/race.out" &&
		    _tf=$((_tf + 1))
	done
	C=$A; : >"$C/out"; cp "$C/mlog" "$C/log"
	[ -z "$_bad" ] || why="$why;$_bad"
	echo "    20 concurrent rounds: the loser was tempfailed (451) in $_tf, found the entry answered in the others"
	result pg-two-milters-one-reply

	# the database down: ordinary mail as fast as ever, the challenge
	# 451, answered once it is back
	rm -f "$A"/replies/*
	pg_entry "$ADDR" awaiting "$EXP" >/dev/null
	sleep 0.2
	t0=$(date +%s%N); mrun "$A" bob@mail.example "$T/ord.mail" "$A/ord0.out"
	t1=$(date +%s%N); up_ms=$(( (t1 - t0) / 1000000 ))
	pg_stop
	t0=$(date +%s%N); mrun "$A" bob@mail.example "$T/ord.mail" "$A/ord1.out"
	t1=$(date +%s%N); down_ms=$(( (t1 - t0) / 1000000 ))
	C=$A; cp "$A/ord1.out" "$C/out"; cp "$C/mlog" "$C/log"
	expect "data: accept"
	expect_not "eom: tempfail"
	echo "    ordinary mail: ${up_ms} ms with the database, ${down_ms} ms without (miltertest run)"
	[ "$down_ms" -lt $((up_ms + 1000)) ] || why="$why; ${down_ms} ms without the database"
	result pg-down-ordinary-mail-flows
	mrun "$A" "$ADDR" "$T/pg.mail" "$C/out"; cp "$C/mlog" "$C/log"
	if ! grep -qxE 'eom: (tempfail|replycode)' "$C/out"; then why="$why; eom did not tempfail"; fi
	expect_replies 0
	[ "$(grep -c 'PostgreSQL unreachable' "$C/mlog")" -eq 1 ] ||
	    why="$why; outage logged $(grep -c 'PostgreSQL unreachable' "$C/mlog") times, want once"
	result pg-down-challenge-tempfailed
	pg_start "$T" "$PGPORT" || why="$why; cannot restart PostgreSQL"
	# the CA's MTA retries: every second for up to 40 s
	_i=0
	while [ "$_i" -lt 40 ]; do
		mrun "$A" "$ADDR" "$T/pg.mail" "$C/out"
		grep -qx "eom: continue" "$C/out" && break
		_i=$((_i + 1))
		sleep 1
	done
	cp "$C/mlog" "$C/log"
	expect "eom-action: add-header X-ACME-Challenge: answered by smime-acme-milter"
	expect_replies 1
	[ "$(pg_state "$ADDR")" = answered ] || why="$why; state '$(pg_state "$ADDR")'"
	echo "    answered by attempt $((_i + 1)) after the restart"
	result pg-back-challenge-answered

	# least privilege, as the milter's role itself
	newcase pg-roles
	pg_entry "$ADDR" awaiting "$EXP" >/dev/null
	# the requester's role reads the spool (smime-acme spool), never
	# printing token-part2
	printf 'SpoolDatabase %s\n' "$RDB" >"$C/rq.conf"
	$SA --conf "$C/rq.conf" -c "$C/cfg" spool >"$C/list" 2>>"$C/log" ||
	    why="$why; smime-acme spool on the database failed"
	grep -q "^$ADDR  *awaiting" "$C/list" || why="$why; entry not listed"
	grep -qF "$P2" "$C/list" && why="$why; token-part2 listed"
	asmilter() { PGUSER=smime_milter pg_psql -d "$PGDATABASE" -tAc "$1" 2>>"$C/log"; }
	asmilter "INSERT INTO smime_acme.entries (key, mailbox, rule, state)
	    VALUES ('$(tool key eve@mail.example)', 'eve@mail.example', 'octet',
	    'awaiting')" && why="$why; the milter role created an entry"
	asmilter "UPDATE smime_acme.entries SET state = 'answered'" &&
	    why="$why; the milter role updated an entry directly"
	asmilter "DELETE FROM smime_acme.entries" && why="$why; the milter role deleted"
	asmilter "SELECT order_url FROM smime_acme.entries" &&
	    why="$why; the milter role read order_url"
	asmilter "SELECT reason FROM smime_acme.entries" &&
	    why="$why; the milter role read reason"
	[ "$(asmilter "SELECT token2 FROM smime_acme.entries WHERE key = '$(tool key "$ADDR")'")" = "$P2" ] ||
	    why="$why; the milter role cannot read token2"
	pg_psql -d "$PGDATABASE" -c "UPDATE smime_acme.entries SET state = 'answered'" >/dev/null
	[ -z "$(asmilter "SELECT key FROM smime_acme.entries")" ] ||
	    why="$why; the milter role sees entries that are not pending"
	pg_psql -d "$PGDATABASE" -c "CREATE ROLE nobody_else LOGIN" >/dev/null
	PGUSER=nobody_else pg_psql -d "$PGDATABASE" -tAc \
	    "SELECT token2 FROM smime_acme.entries" 2>>"$C/log" &&
	    why="$why; another role read token2"
	grep -q 'permission denied' "$C/log" || why="$why; no permission error"
	: >"$C/out"
	result pg-milter-role-least-privilege

	stop_milter "$A"; stop_milter "$B2"
	pg_stop
fi

# --- startup ------------------------------------------------------------------------
newcase config
"$MILTER" -n -c "$C/conf" 2>"$C/log"; rc=$?
[ "$rc" -eq 0 ] || why="$why; -n on a good config exited $rc"
sed 's/^Socket .*/Socket inet:99999@127.0.0.1/' "$C/conf" >"$C/bad.conf"
"$MILTER" -n -c "$C/bad.conf" 2>>"$C/log"; rc=$?
[ "$rc" -eq 78 ] || why="$why; -n on a bad Socket exited $rc, want 78"
grep -q 'Socket: inet:99999@127.0.0.1: port' "$C/log" || why="$why; bad Socket not named"
if [ "$(id -u)" -eq 0 ]; then
	grep -v '^UserID' "$C/conf" >"$C/root.conf"
	"$MILTER" -n -c "$C/root.conf" 2>>"$C/log"; rc=$?
	[ "$rc" -ne 0 ] || why="$why; root without UserID accepted"
fi
: >"$C/out"
result config-check

# inet socket: libmilter serves our own TCP_NODELAY listener ("fd:N")
newcase inet
port=$(( 20000 + $$ % 20000 ))
sed -i "s|^Socket .*|Socket inet:$port@127.0.0.1|" "$C/conf"
write_entry "$C" "$ADDR" awaiting "$EXP"
mkmail "$C/raw"; tool sign "$KEY" ca.example "$C/raw" "$C/mail"
miltertest -w -s "$LUA" -D milter="$MILTER" -D conf="$C/conf" \
    -D sock="inet:$port@127.0.0.1" -D msg="$C/mail" -D rcpt="$ADDR" \
    >"$C/out" 2>"$C/log"
expect "eom: continue"
expect_replies 1
check_reply octet
result inet-socket-answers

[ "$failed" -eq 0 ]
