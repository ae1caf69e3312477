#!/usr/bin/env bash
# test_seed_handoff.sh: the seed client's hand-offs and certbot's
# --preferred-chain, end to end against the RFC 8823 test CA (issue 12,
# items 4 to 6):
#  - --file-validate driven by a seed automation: a shell loop that waits
#    for CONFIG/tmp/resp_ADDR_subject.txt to appear empty, writes the
#    challenge mail's Subject (or only its token) into it, waits for
#    resp_ADDR_body.txt and replies with it; run as root without
#    --allow-root and with -e=ADDR, as a seed user's script does;
#  - the interactive responder fed through a pipe (no terminal, no -n):
#    the token alone on standard input, the block read from standard
#    output;
#  - --preferred-chain against the test CA's two chains: the alternate by
#    its top's issuer CN, the default without the option, for a name that
#    is only a substring, and when the CA offers one chain (knob chains 1);
#  - --conf, --cert-path and --key-path given as symbolic links (certbot's
#    live/ files are links).
set -u
. "$(dirname "$0")/lib.sh"
e2e_need_root seed-handoff

e2e_built seed-handoff

requester_world seed sh || e2e_finish

CA_BASE=https://127.0.0.1:$CA_HTTPS_PORT
# without a spool: the file and interactive responders
CONF_NS=$T/nospool.conf
printf 'Server %s\nCABundle %s\n' "$CA_URL" "$CA_TRUST" >"$CONF_NS"
why=""
has() { grep -q -- "$2" <<<"$1"; }

# challenge_mail ADDR OUT: the last challenge mail to ADDR (the test CA's
# endpoint stands in for the user's inbox)
challenge_mail() {
	local i
	for i in $(seq 300); do
		curl -sf --cacert "$CA_TRUST" \
			"$CA_BASE/_test/challenge?email=$1" -o "$2" && return 0
		sleep 0.2
	done
	return 1
}
# header NAME FILE: one header's value, unfolded
header() {
	awk -v h="$1" 'BEGIN { h = tolower(h) ":" }
		/^\r?$/ { exit }
		p && /^[ \t]/ { sub(/^[ \t]+/, " "); v = v $0; next }
		{ p = 0 }
		tolower(substr($0, 1, length(h))) == h {
			p = 1; v = substr($0, length(h) + 1); sub(/^[ \t]+/, "", v)
		}
		END { gsub(/\r/, "", v); print v }' "$2"
}
# reply ADDR MAIL BODYFILE: reply to the challenge MAIL from ADDR with
# BODYFILE as its body, through the submission port (OpenDKIM signs)
reply() {
	local a=$1 m=$2 mid
	mid=$(header Message-ID "$m")
	{
		printf 'From: %s\nTo: %s\nSubject: Re: %s\n' "$a" "$CA_FROM" \
			"$(header Subject "$m")"
		printf 'Date: %s\nMessage-ID: <%s.%s@example.test>\n' \
			"$(date -R)" "$RANDOM" "$$"
		printf 'In-Reply-To: %s\nReferences: %s\n' "$mid" "$mid"
		printf 'MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n'
		cat "$3"
	} >"$m.reply"
	send_mail "$SUBMIT_PORT" "$a" "$CA_FROM" "$m.reply"
}

# seed_automation CONFIG ADDR [token]: what a seed user's script does for
# --file-validate.  Leaves "$T/ADDR.auto" holding what it saw.
seed_automation() {
	local c=$1 a=$2 s b i subj
	s=$1/tmp/resp_${a}_subject.txt
	b=$1/tmp/resp_${a}_body.txt
	for i in $(seq 600); do [ -f "$s" ] && break; sleep 0.1; done
	[ -f "$s" ] || { echo "no subject file" >"$T/$a.auto"; return 1; }
	[ -s "$s" ] && { echo "subject file not empty" >"$T/$a.auto"; return 1; }
	[ -s "$b" ] && { echo "body file not empty" >"$T/$a.auto"; return 1; }
	challenge_mail "$a" "$T/$a.mail" || { echo "no mail" >"$T/$a.auto"; return 1; }
	subj=$(header Subject "$T/$a.mail")
	if [ -n "${3:-}" ]; then
		printf '%s\n' "${subj#ACME: }" >"$s"
	else
		printf '%s\n' "$subj" >"$s"
	fi
	for i in $(seq 300); do [ -s "$b" ] && break; sleep 0.1; done
	[ -s "$b" ] || { echo "no body" >"$T/$a.auto"; return 1; }
	reply "$a" "$T/$a.mail" "$b"
	echo "replied" >"$T/$a.auto"
}

# ------------------------------------------------ seed --file-validate
# seed_case NAME ADDR [token]
seed_case() {
	local name=$1 a=$2 c=$T/$1 hp
	rm -f "$T/$a.auto"
	seed_automation "$c" "$a" ${3:-} &
	hp=$!
	rc=0
	# no --allow-root, -e=ADDR: as a seed user's cron line or script
	"$SA" cert -n --agree-tos --conf "$CONF_NS" -c "$c" -w "$c" -e="$a" \
		--no-passphrase --finalize-delay 0 --file-validate \
		--spool-timeout 60 >"$T/out" 2>&1 || rc=$?
	wait $hp
	[ "$rc" = 0 ] || why="rc $rc"
	[ "$(cat "$T/$a.auto" 2>/dev/null)" = replied ] ||
		why="$why; automation: $(cat "$T/$a.auto" 2>/dev/null)"
	[ -s "$(certdir "$c" "$a")/cert.pem" ] || why="$why; no certificate"
	grep -q '^-----BEGIN ACME RESPONSE-----$' "$c/tmp/resp_${a}_body.txt" ||
		why="$why; no response block in the body file"
	[ "$(stat -c %a "$c/tmp/resp_${a}_body.txt")" = 600 ] ||
		why="$why; body file mode $(stat -c %a "$c/tmp/resp_${a}_body.txt")"
	verdict "seed-$name"
}
seed_case file-validate sally@example.test
seed_case file-validate-token sam@example.test token

# ------------------------------------------------ interactive through a pipe
# The token alone on standard input (a pipe, no -n, no terminal); the
# block on standard output; the reply sent by the feeding script.
# --interactive: without it a spool at the built-in default path (a host
# with the milter installed) would be chosen instead (smime-acme(1)).
a=pia@example.test
rm -f "$T/pipe.out"
{
	challenge_mail "$a" "$T/$a.mail" || exit 1
	subj=$(header Subject "$T/$a.mail")
	printf '%s\n' "${subj#ACME: }"
	for _ in $(seq 300); do
		grep -q -- '-----END ACME RESPONSE-----' "$T/pipe.out" 2>/dev/null && break
		sleep 0.1
	done
	sed -n '/-----BEGIN ACME RESPONSE-----/,/-----END ACME RESPONSE-----/p' \
		"$T/pipe.out" >"$T/$a.block"
	reply "$a" "$T/$a.mail" "$T/$a.block"
} | "$SA" cert --agree-tos --conf "$CONF_NS" -c "$T/pipe" -e "$a" --interactive \
	--no-passphrase --finalize-delay 0 --spool-timeout 60 \
	>"$T/pipe.out" 2>"$T/out"
rc=$?
[ "$rc" = 0 ] || why="rc $rc"
[ -s "$(certdir "$T/pipe" "$a")/cert.pem" ] || why="$why; no certificate"
[ -s "$T/$a.block" ] || why="$why; no block on standard output"
verdict seed-interactive-pipe

# ------------------------------------------------ --preferred-chain
COMMON=(-n --agree-tos --finalize-delay 0 --no-passphrase)
# a symbolic link to the configuration, as certbot's live/ has
ln -sf "$CONF" "$T/conf.link"
# top_issuer DIR ADDR: the issuer CN of fullchain.pem's last certificate
top_issuer() {
	awk '/-----BEGIN CERTIFICATE-----/ { c = "" } { c = c $0 "\n" }
		END { printf "%s", c }' "$(certdir "$1" "$2")/fullchain.pem" |
		openssl x509 -noout -issuer -nameopt multiline |
		sed -n 's/^ *commonName *= *//p'
}
chain_case() { # NAME ADDR WANT-ISSUER [ARGS...]
	local name=$1 a=$2 want=$3
	shift 3
	"$SA" cert "${COMMON[@]}" --conf "$T/conf.link" -c "$T/$name" \
		-e "$a" "$@" >"$T/out" 2>&1
	rc=$?
	[ "$rc" = 0 ] || why="rc $rc"
	got=$(top_issuer "$T/$name" "$a")
	[ "$got" = "$want" ] || why="$why; top issued by '$got', not '$want'"
}
ALT="smime-acme Test Alternate Root"
DEF="smime-acme Test Root"
chain_case pc-alt pam@example.test "$ALT" --preferred-chain "$ALT"
d=$(certdir "$T/pc-alt" pam@example.test)
openssl verify -CAfile "$CA_ALT_ROOT" -untrusted "$d/chain.pem" "$d/cert.pem" \
	>/dev/null 2>&1 || why="$why; the stored chain does not verify to the alternate root"
verdict seed-preferred-chain-alternate

chain_case pc-none pat@example.test "$DEF"
verdict seed-preferred-chain-default

chain_case pc-sub pax@example.test "$DEF" --preferred-chain "smime-acme Test"
has "$(cat "$T/out")" "no chain whose top certificate is issued by" ||
	why="$why; no warning"
verdict seed-preferred-chain-no-exact-match

ca_cfg '{"chains": 1}'
chain_case pc-one pip@example.test "$DEF" --preferred-chain "$ALT"
has "$(cat "$T/out")" "no chain whose top certificate is issued by" ||
	why="$why; no warning"
ca_cfg '{"chains": 2}'
verdict seed-preferred-chain-one-offered

# ------------------------------------------------ user paths as links
# revoke with --cert-path and --key-path given as links into an
# archive-like directory (certbot's live/ -> archive/)
d=$(certdir "$T/pc-none" pat@example.test)
mkdir -p "$T/archive" "$T/live"
cp "$d/cert.pem" "$T/archive/cert1.pem"
cp "$d/privkey.pem" "$T/archive/privkey1.pem"
ln -sf ../archive/cert1.pem "$T/live/cert.pem"
ln -sf ../archive/privkey1.pem "$T/live/privkey.pem"
"$SA" revoke -n --conf "$CONF" -c "$T/pc-none" --reason superseded \
	--cert-path "$T/live/cert.pem" --key-path "$T/live/privkey.pem" \
	>"$T/out" 2>&1
rc=$?
[ "$rc" = 0 ] || why="revoke through links: rc $rc"
verdict seed-user-paths-links

e2e_finish
