#!/usr/bin/env bash
# tests/e2e/world/world.sh: the private mail world on 127.0.0.1 used by the
# end-to-end tests and `make demo`.  Everything lives under one directory;
# the system Postfix, Dovecot and OpenDKIM configurations are never read or
# touched.
#
#   world.sh up DIR [--milter SOCKET] [--mx-b SOCKET] [--no-dkim-signer]
#               [--ca "ARGS"] [--no-ca]
#   world.sh down DIR        stop what `up` started (idempotent)
#   world.sh status DIR      show what runs; exit 0 if everything answers
#
# Parts (ports are picked free at `up` and written to DIR/world.env):
#   Postfix   MX for example.test on MX_PORT (any user; pipe(8) delivery
#             by maildir-deliver.py to DIR/mail/example.test/<user>/Maildir
#             as user mail), --milter in smtpd_milters
#             with default_action=accept); SUBMIT_PORT for outbound mail,
#             signed by OpenDKIM; mail for ca.test relayed to the test CA's
#             SMTP listener; everything else bounces (error transport).
#             DIR/bin/sendmail injects into this instance (non_smtpd_milters
#             = OpenDKIM, so injected replies are signed too).
#   MX B      with --mx-b: a second Postfix instance, the domain's second
#             MX, on MX_B_PORT with SOCKET in its smtpd_milters
#             (default_action=accept), delivering into the same Maildirs
#             (DIR/postfix-b/, log DIR/postfix-b/maillog).  Mail it injects
#             goes out through the first instance (DIR/bin/sendmail).
#   OpenDKIM  signer for example.test (selector mail), inet socket.
#   Dovecot   IMAP_PORT (plain) and IMAPS_PORT (TLS), any user@example.test
#             with password MAIL_PASSWORD.
#   Test CA   tests/ca/smime-test-ca.py (RFC 8823).  With --no-ca, ca.test
#             mail goes to a Postfix smtp-sink that dumps every message into
#             CA_SINK_DIR instead.
#
# Must run as root (Postfix instance, Dovecot, delivery as user mail).
# Environment: WORLD_WAIT (seconds each part may take to answer, 20),
# SINK_DISCARD=1 (with --no-ca: the ca.test sink keeps no mail), CA_PROG.
# Logs: DIR/postfix/maillog, DIR/opendkim.log, DIR/dovecot.log, DIR/ca/ca.log.
set -u

HOST=127.0.0.1
MAIL_DOMAIN=example.test
CA_DOMAIN=ca.test
SELECTOR=mail
PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)
CA_PROG=${CA_PROG:-$TOP/tests/ca/smime-test-ca.py}
WAIT_S=${WORLD_WAIT:-20}	# seconds each part may take to answer
# shellcheck source=tests/lib/postfix.sh
. "$TOP/tests/lib/postfix.sh"

log() { printf 'world: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}
usage() {
	cat >&2 <<'EOF'
usage: world.sh up DIR [--milter SOCKET] [--mx-b SOCKET] [--no-dkim-signer]
                   [--ca "ARGS"] [--no-ca]
       world.sh down DIR
       world.sh status DIR
EOF
	exit 64
}

# ------------------------------------------------------------------ helpers

# free_ports N: print N distinct free TCP ports on 127.0.0.1, one per line.
# All sockets are held open together, so the ports differ from each other.
free_ports() { "$PY" "$TOP/tests/lib/free-ports.py" "$1"; }

# alive PID: the process exists and is not a zombie (our daemons are
# reparented when `up` exits; their reaper may be slow)
alive() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# wait_port PORT NAME [PID]: wait until something listens on PORT; fail early
# if PID is given and dies.
wait_port() {
	local i
	for ((i = 0; i < WAIT_S * 20; i++)); do
		listening "$1" && return 0
		if [ -n "${3:-}" ] && ! alive "$3"; then
			die "$2 exited before listening on port $1"
		fi
		sleep 0.05
	done
	die "$2 does not listen on port $1 after ${WAIT_S}s"
}

# shell-quote a value for KEY='value' lines
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }

envline() { printf '%s=%s\n' "$1" "$(q "$2")"; }

# record NAME PID: remember a process started by `up`
record() { printf '%s %s\n' "$1" "$2" >>"$DIR/pids"; }

# descendants PID: all descendant pids (children first level and below)
descendants() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do
		echo "$c"
		descendants "$c"
	done
}

# start NAME LOG CMD...: start a daemon in its own session, stdio to LOG,
# record its pid.
start_bg() {
	local name=$1 logf=$2
	shift 2
	setsid "$@" </dev/null >>"$logf" 2>&1 &
	LAST_PID=$!
	record "$name" "$LAST_PID"
}

# ------------------------------------------------------------------ down

do_down() {
	[ -d "$DIR" ] || return 0
	local conf pf pids=() name pid all=() i alive
	# Postfix first (its master is not our direct child).
	for pf in postfix postfix-b; do
		conf=$DIR/$pf/etc
		if [ -f "$conf/main.cf" ] && [ -f "$DIR/$pf/spool/pid/master.pid" ]; then
			pid=$(tr -dc 0-9 <"$DIR/$pf/spool/pid/master.pid")
			if [ -n "$pid" ] && alive "$pid" &&
				grep -q master "/proc/$pid/comm" 2>/dev/null; then
				printf '%s %s\n' "$pf" "$pid" >>"$DIR/pids"
			fi
		fi
	done
	[ -f "$DIR/pids" ] || return 0
	while read -r name pid; do
		[ -n "$pid" ] && alive "$pid" || continue
		all+=("$pid")
		for i in $(descendants "$pid"); do all+=("$i"); done
		pids+=("$pid")
	done <"$DIR/pids"
	for pf in postfix postfix-b; do
		conf=$DIR/$pf/etc
		if [ -f "$conf/main.cf" ] && postfix -c "$conf" status >/dev/null 2>&1; then
			postfix -c "$conf" stop >/dev/null 2>&1
		fi
	done
	for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
	for ((i = 0; i < 100; i++)); do
		alive=0
		for pid in "${all[@]}"; do
			alive "$pid" && alive=1
		done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for pid in "${all[@]}"; do
		if alive "$pid"; then
			log "killing $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) with SIGKILL"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
	rm -f "$DIR/pids" "$DIR/postfix/spool/pid/master.pid" \
		"$DIR/postfix-b/spool/pid/master.pid"
	return 0
}

# ------------------------------------------------------------------ status

do_status() {
	[ -f "$DIR/world.env" ] || {
		echo "no world in $DIR"
		return 1
	}
	# shellcheck disable=SC1091
	. "$DIR/world.env"
	local rc=0
	status_pids || rc=1
	if postfix -c "$POSTFIX_CONF" status >/dev/null 2>&1; then
		echo "running  postfix ($POSTFIX_CONF)"
	else
		echo "DOWN     postfix ($POSTFIX_CONF)"
		rc=1
	fi
	if [ -n "${POSTFIX_B_CONF:-}" ]; then
		if postfix -c "$POSTFIX_B_CONF" status >/dev/null 2>&1; then
			echo "running  postfix MX B ($POSTFIX_B_CONF)"
		else
			echo "DOWN     postfix MX B ($POSTFIX_B_CONF)"
			rc=1
		fi
	fi
	status_ports MX_PORT MX_B_PORT SUBMIT_PORT IMAP_PORT IMAPS_PORT \
		OPENDKIM_PORT CA_HTTPS_PORT CA_SMTP_PORT || rc=1
	return $rc
}

# ------------------------------------------------------------------ up

gen_tls() {
	local d=$DIR/tls
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3 -subj "/CN=world test TLS CA" \
		-addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 || die "openssl: TLS CA"
	openssl req -newkey rsa:2048 -nodes -subj "/CN=imap.$MAIL_DOMAIN" \
		-keyout "$d/imap.key" -out "$d/imap.csr" >/dev/null 2>&1 || die "openssl: IMAP CSR"
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:imap.%s\nextendedKeyUsage=serverAuth\n' \
		"$MAIL_DOMAIN" >"$d/imap.ext"
	openssl x509 -req -in "$d/imap.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
		-days 3 -extfile "$d/imap.ext" -out "$d/imap.pem" >/dev/null 2>&1 || die "openssl: IMAP cert"
	chmod 600 "$d/ca.key" "$d/imap.key"
}

gen_dkim() {
	local d=$DIR/dkim
	mkdir -p "$d"
	opendkim-genkey -b 2048 -d "$MAIL_DOMAIN" -s "$SELECTOR" -D "$d" >/dev/null 2>&1 ||
		die "opendkim-genkey failed"
	# TestPublicKeys format: "<selector>._domainkey.<domain> <TXT contents>"
	printf '%s._domainkey.%s %s\n' "$SELECTOR" "$MAIL_DOMAIN" \
		"$(tr -d '\n' <"$d/$SELECTOR.txt" | sed -e 's/^[^(]*( *//' -e 's/ *).*$//' \
			-e 's/"[[:space:]]*"//g' -e 's/"//g' -e 's/[[:space:]]\+/ /g')" \
		>"$d/$MAIL_DOMAIN.keys"
	chmod 644 "$d/$MAIL_DOMAIN.keys"
	# OpenDKIM wants its key private; the milter gets its own readable copy.
	chown opendkim:opendkim "$d/$SELECTOR.private"
	chmod 600 "$d/$SELECTOR.private"
	cp "$d/$SELECTOR.private" "$d/$MAIL_DOMAIN.sign.pem"
	chmod 644 "$d/$MAIL_DOMAIN.sign.pem"
}

write_opendkim_conf() {
	local h="From,Sender,Reply-To,To,Cc,Subject,Date,In-Reply-To,References,Message-ID,Content-Type,Content-Transfer-Encoding,Resent-Date,Resent-From,Resent-To,Resent-Cc,List-Id,List-Help,List-Unsubscribe,List-Subscribe,List-Post,List-Owner,List-Archive,List-Unsubscribe-Post"
	cat >"$DIR/opendkim.conf" <<EOF
# OpenDKIM signer of the test world (example.test, selector mail).
# SignHeaders/OversignHeaders: RFC 8823 section 3.2 MUST and SHOULD lists, so
# every name appears in h= even when the header is absent.
Mode                    s
Domain                  $MAIL_DOMAIN
Selector                $SELECTOR
KeyFile                 $DIR/dkim/$SELECTOR.private
Canonicalization        relaxed/relaxed
SignHeaders             $h,Auto-Submitted,MIME-Version
OversignHeaders         $h
InternalHosts           127.0.0.1
Socket                  inet:$OPENDKIM_PORT@$HOST
PidFile                 $DIR/opendkim.pid
UserID                  opendkim:opendkim
UMask                   002
Background              no
Syslog                  no
LogResults              no
# DIR usually sits below /tmp (world-writable): the test key is not "safe"
RequireSafeKeys         no
EOF
}

write_postfix_conf() {
	local etc=$DIR/postfix/etc spool=$DIR/postfix/spool data=$DIR/postfix/data
	local mx_milters="" submit_milters="" nonsmtpd_milters=""
	if [ -n "$MILTER" ]; then
		mx_milters="{ $MILTER, default_action=accept }"
	fi
	if [ "$DKIM_SIGNER" = 1 ]; then
		submit_milters="{ inet:$HOST:$OPENDKIM_PORT, default_action=accept }"
		nonsmtpd_milters=$submit_milters
	fi
	postfix_conf "$etc" "$spool" "$data" "$DIR/postfix/maillog" "$MAIL_DOMAIN" \
	    "# MX: inbound mail for $MAIL_DOMAIN (and ca.test relay from loopback)
$HOST:$MX_PORT inet n - n - - smtpd -o syslog_name=postfix-world/mx -o smtpd_milters=\$mx_milters
# submission for $MAIL_DOMAIN users, signed by OpenDKIM
$HOST:$SUBMIT_PORT inet n - n - - smtpd -o syslog_name=postfix-world/submit -o smtpd_milters=\$submit_milters" \
	    "maildir   unix  -       n       n       -       -       pipe
  flags=DRhu user=mail:mail argv=$PY $DIR/bin/maildir-deliver.py $DIR/mail \${recipient}" <<EOF ||
# The test world: MX for $MAIL_DOMAIN on 127.0.0.1:$MX_PORT, submission on
# 127.0.0.1:$SUBMIT_PORT.
syslog_name = postfix-world
myorigin = \$mydomain
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
relay_domains = $CA_DOMAIN
# Any local part @$MAIL_DOMAIN exists; pipe(8) runs maildir-deliver.py as
# user mail, which writes DIR/mail/$MAIL_DOMAIN/<user>/Maildir.  (virtual(8)
# cannot do this: it refuses regexp substitution in virtual_mailbox_maps, and
# Dovecot's LMTP server is not installed.)
virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_maps = static:any-user
virtual_transport = maildir
maildir_destination_recipient_limit = 1
transport_maps = inline:{ $CA_DOMAIN=smtp:[$HOST]:$CA_SMTP_PORT }
default_transport = error:no delivery outside the test world
relay_transport = error:no delivery outside the test world
# no DNS, quick retries
smtp_dns_support_level = disabled
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
smtp_connect_timeout = 5s
mx_milters = $mx_milters
submit_milters = $submit_milters
non_smtpd_milters = $nonsmtpd_milters
milter_default_action = accept
EOF
	    die "cannot write the Postfix configuration in $etc"
	: >"$DIR/postfix/maillog"
	mkdir -p "$DIR/bin"
	cp "$HERE/smtp-inject.py" "$HERE/maildir-deliver.py" "$DIR/bin/"
	cat >"$DIR/bin/sendmail" <<EOF
#!/bin/sh
# Inject into the test world's Postfix instance ($etc).
# Postfix lets only root use another configuration directory (non-root users
# need it in alternate_config_directories of /etc/postfix/main.cf, which the
# world does not touch), so other users submit over SMTP to the submission
# listener, whose milters are the same as non_smtpd_milters.
if [ "\$(id -u)" = 0 ]; then
	exec /usr/sbin/sendmail -C '$etc' "\$@"
fi
exec $PY '$DIR/bin/smtp-inject.py' --port $SUBMIT_PORT -- "\$@"
EOF
	chmod 755 "$DIR/bin" "$DIR/bin/sendmail" "$DIR/bin/smtp-inject.py" "$DIR/bin/maildir-deliver.py"
}

# write_postfix_b_conf: MX B (--mx-b), the domain's second MX: inbound
# only, the same delivery as the first instance
write_postfix_b_conf() {
	local etc=$DIR/postfix-b/etc spool=$DIR/postfix-b/spool data=$DIR/postfix-b/data
	postfix_conf "$etc" "$spool" "$data" "$DIR/postfix-b/maillog" "$MAIL_DOMAIN" \
	    "# MX B: the second MX for $MAIL_DOMAIN
$HOST:$MX_B_PORT inet n - n - - smtpd -o syslog_name=postfix-world-b/mx -o smtpd_milters=\$mx_milters" \
	    "maildir   unix  -       n       n       -       -       pipe
  flags=DRhu user=mail:mail argv=$PY $DIR/bin/maildir-deliver.py $DIR/mail \${recipient}" <<EOF ||
# The test world's second MX for $MAIL_DOMAIN on 127.0.0.1:$MX_B_PORT.
syslog_name = postfix-world-b
myorigin = \$mydomain
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions =
virtual_mailbox_domains = $MAIL_DOMAIN
virtual_mailbox_maps = static:any-user
virtual_transport = maildir
maildir_destination_recipient_limit = 1
default_transport = error:no delivery outside the test world
relay_transport = error:no delivery outside the test world
smtp_dns_support_level = disabled
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
mx_milters = { $MX_B_MILTER, default_action=accept }
non_smtpd_milters =
milter_default_action = accept
EOF
	    die "cannot write the Postfix configuration in $etc"
	: >"$DIR/postfix-b/maillog"
}

# start_postfix NAME PORT: check and start the instance DIR/NAME, record
# its master, wait for its listener on PORT
start_postfix() {
	local d=$DIR/$1 port=$2 pfpid='' i
	postfix -c "$d/etc" check >"$d/check.log" 2>&1 ||
		die "postfix check ($1) failed: $(tail -3 "$d/check.log" "$d/maillog" | tr '\n' ' ')"
	postfix -c "$d/etc" start >>"$d/check.log" 2>&1 ||
		die "postfix start ($1) failed: $(tail -3 "$d/maillog" | tr '\n' ' ')"
	for ((i = 0; i < WAIT_S * 20; i++)); do
		pfpid=$(tr -dc 0-9 <"$d/spool/pid/master.pid" 2>/dev/null)
		[ -n "$pfpid" ] && break
		sleep 0.05
	done
	[ -n "$pfpid" ] || die "postfix master pid file ($1) missing"
	record "$1" "$pfpid"
	wait_port "$port" "$1 MX" "$pfpid"
}

write_dovecot_conf() {
	local d=$DIR/dovecot
	mkdir -p "$d/run" "$d/state"
	cat >"$d/dovecot.conf" <<EOF
# Dovecot of the test world: IMAP for any user@$MAIL_DOMAIN, one password.
# No system includes.
instance_name = smime-acme-world-$(printf '%s' "$DIR" | cksum | cut -d' ' -f1)
base_dir = $d/run
state_dir = $d/state
protocols = imap
listen = $HOST
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
ssl = yes
ssl_cert = <$DIR/tls/imap.pem
ssl_key = <$DIR/tls/imap.key
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = %Lu
auth_default_realm = $MAIL_DOMAIN
mail_location = maildir:$DIR/mail/%d/%n/Maildir
first_valid_uid = $MAIL_UID
first_valid_gid = $MAIL_GID
default_login_user = dovenull
default_internal_user = dovecot
passdb {
  driver = static
  args = password=$MAIL_PASSWORD
}
userdb {
  driver = static
  args = uid=$MAIL_UID gid=$MAIL_GID home=$DIR/mail/%d/%n allow_all_users=yes
}

service imap-login {
  inet_listener imap {
    address = $HOST
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = $HOST
    port = $IMAPS_PORT
    ssl = yes
  }
}
EOF
}

start_ca() {
	mkdir -p "$DIR/ca"
	rm -f "$DIR/ca/ready" "$DIR/ca/ca.env"
	local i
	# shellcheck disable=SC2086
	start_bg ca "$DIR/ca/ca.log" "$PY" "$CA_PROG" --state "$DIR/ca" \
		--relay "$HOST:$MX_PORT" --reply-keys "$DIR/dkim/$MAIL_DOMAIN.keys" $CA_ARGS
	CA_STARTED_PID=$LAST_PID
	for ((i = 0; i < WAIT_S * 20; i++)); do
		[ -f "$DIR/ca/ready" ] && [ -f "$DIR/ca/ca.env" ] && break
		alive "$CA_STARTED_PID" ||
			die "test CA exited; see $DIR/ca/ca.log: $(tail -3 "$DIR/ca/ca.log" | tr '\n' ' ')"
		sleep 0.05
	done
	[ -f "$DIR/ca/ready" ] || die "test CA not ready after ${WAIT_S}s; see $DIR/ca/ca.log"
	# shellcheck disable=SC1091
	. "$DIR/ca/ca.env"
	[ -n "${CA_SMTP_PORT:-}" ] || die "CA_SMTP_PORT missing in $DIR/ca/ca.env"
	wait_port "$CA_SMTP_PORT" "test CA SMTP" "$CA_STARTED_PID"
	[ -n "${CA_HTTPS_PORT:-}" ] && wait_port "$CA_HTTPS_PORT" "test CA HTTPS" "$CA_STARTED_PID"
}

# ------------------------------------------------- shared with sendmail.sh

# world_begin PATH...: as root, stop a world that runs in DIR, make DIR
# (absolute, 0755: the daemons and the users' mail reach into it) and
# remove what an earlier `up` left there: PATH... below DIR, the DKIM keys,
# the CA, its sink, world.env, seen/ and the logs.
world_begin() {
	local p
	[ "$(id -u)" = 0 ] || die "must run as root"
	if [ -f "$DIR/pids" ]; then
		log "a world seems to run in $DIR; stopping it first"
		do_down
	fi
	mkdir -p "$DIR" || die "cannot create $DIR"
	DIR=$(cd "$DIR" && pwd)
	chmod 755 "$DIR"
	for p in "$@" dkim ca ca-sink world.env seen; do
		rm -rf "${DIR:?}/$p"
	done
	rm -f "$DIR"/*.log
}

# start_ca_or_sink: the test CA, or with --no-ca an smtp-sink for ca.test
# on SINK_PORT dumping every message into DIR/ca-sink/ (SINK_DISCARD=1, for
# the benchmarks: it keeps nothing).  Sets CA_SMTP_PORT.
start_ca_or_sink() {
	CA_SMTP_PORT=
	if [ "$USE_CA" = 1 ]; then
		[ -f "$CA_PROG" ] || die "test CA $CA_PROG missing (use --no-ca)"
		start_ca
		return
	fi
	local dump=(-d "$DIR/ca-sink/%Y%m%d%H%M%S.")
	[ "${SINK_DISCARD:-0}" = 1 ] && dump=()
	mkdir -p "$DIR/ca-sink"
	chown postfix "$DIR/ca-sink"
	start_bg ca-sink "$DIR/ca-sink.log" smtp-sink -u postfix -4 -h "$CA_DOMAIN" \
		"${dump[@]}" "$HOST:$SINK_PORT" 256
	CA_SMTP_PORT=$SINK_PORT
	wait_port "$SINK_PORT" "ca.test smtp-sink" "$LAST_PID"
}

# start_signer: OpenDKIM on OPENDKIM_PORT, unless --no-dkim-signer
start_signer() {
	[ "$DKIM_SIGNER" = 1 ] || return 0
	write_opendkim_conf
	start_bg opendkim "$DIR/opendkim.log" opendkim -f -x "$DIR/opendkim.conf"
	wait_port "$OPENDKIM_PORT" opendkim "$LAST_PID"
}

# write_all_keys: DIR/dkim/all.keys, the public keys of everybody who signs
# in this world (the CA's, then the domain's)
write_all_keys() {
	: >"$DIR/dkim/all.keys"
	if [ "$USE_CA" = 1 ] && [ -n "${CA_DKIM_KEYS:-}" ] && [ -f "$CA_DKIM_KEYS" ]; then
		cat "$CA_DKIM_KEYS" >>"$DIR/dkim/all.keys"
		[ -z "$(tail -c1 "$CA_DKIM_KEYS")" ] || echo >>"$DIR/dkim/all.keys"
	fi
	cat "$DIR/dkim/$MAIL_DOMAIN.keys" >>"$DIR/dkim/all.keys"
	chmod 644 "$DIR/dkim/all.keys"
}

# env_dkim_ca: the world.env lines both worlds write about DKIM and the CA
env_dkim_ca() {
	envline DKIM_SIGNER "$DKIM_SIGNER"
	envline DKIM_SIGN_KEY "$DIR/dkim/$MAIL_DOMAIN.sign.pem"
	envline DKIM_SELECTOR "$SELECTOR"
	envline DKIM_DOMAIN "$MAIL_DOMAIN"
	envline DKIM_PUBLIC_KEYS "$DIR/dkim/$MAIL_DOMAIN.keys"
	envline DKIM_KEYS "$DIR/dkim/all.keys"
	envline CA_DOMAIN "$CA_DOMAIN"
	envline WITH_CA "$USE_CA"
	if [ "$USE_CA" = 1 ]; then
		grep -E '^CA_[A-Za-z0-9_]*=' "$DIR/ca/ca.env"
	else
		envline CA_SMTP_PORT "$CA_SMTP_PORT"
		envline CA_SINK_DIR "$DIR/ca-sink"
		envline CA_FROM "acme-challenge@$CA_DOMAIN"
	fi
}

# status_pids: a line for each process in DIR/pids; non-zero if one is dead
status_pids() {
	local rc=0 name pid
	if [ ! -f "$DIR/pids" ]; then
		echo "not running (no $DIR/pids)"
		return 1
	fi
	while read -r name pid; do
		if alive "$pid"; then
			echo "running  $name pid $pid"
		else
			echo "DEAD     $name pid $pid"
			rc=1
		fi
	done <"$DIR/pids"
	return $rc
}

# status_ports VAR...: a line for each port named by VAR (unset ones are
# skipped); non-zero if one does not listen
status_ports() {
	local rc=0 p pnum
	for p in "$@"; do
		pnum=${!p:-}
		[ -n "$pnum" ] || continue
		if listening "$pnum"; then
			echo "listen   $p=$pnum"
		else
			echo "CLOSED   $p=$pnum"
			rc=1
		fi
	done
	return $rc
}

# world_main USAGE UP STATUS MX_B CMD DIR [OPTION...]: the command line of
# world.sh and of sendmail.sh (MX_B 1: --mx-b is one of its options)
world_main() {
	local usage=$1 up=$2 status=$3 mxb=$4
	shift 4
	[ $# -ge 2 ] || "$usage"
	CMD=$1 DIR=$2
	shift 2
	MILTER='' MX_B_MILTER='' DKIM_SIGNER=1 USE_CA=1 CA_ARGS=''
	while [ $# -gt 0 ]; do
		case $1 in
		--milter)
			[ $# -ge 2 ] || "$usage"
			MILTER=$2
			shift 2
			;;
		--mx-b)
			if [ "$mxb" != 1 ] || [ $# -lt 2 ]; then "$usage"; fi
			MX_B_MILTER=$2
			shift 2
			;;
		--no-dkim-signer)
			DKIM_SIGNER=0
			shift
			;;
		--ca)
			[ $# -ge 2 ] || "$usage"
			CA_ARGS="$CA_ARGS $2"
			shift 2
			;;
		--no-ca)
			USE_CA=0
			shift
			;;
		*) "$usage" ;;
		esac
	done
	case $CMD in
	up)
		# a failed `up` leaves nothing running
		trap 'rc=$?; if [ $rc -ne 0 ]; then do_down; fi; exit $rc' EXIT
		"$up"
		;;
	down) do_down ;;
	status) "$status" ;;
	*) "$usage" ;;
	esac
}

do_up() {
	local ports i
	world_begin postfix postfix-b dovecot tls
	MAIL_UID=$(id -u mail) MAIL_GID=$(id -g mail)
	mkdir -p "$DIR/mail/$MAIL_DOMAIN"
	chown mail:mail "$DIR/mail" "$DIR/mail/$MAIL_DOMAIN"
	MAIL_PASSWORD=${MAIL_PASSWORD:-world-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')}

	mapfile -t ports < <(free_ports 7)
	[ "${#ports[@]}" = 7 ] || die "cannot pick free ports"
	MX_PORT=${ports[0]} SUBMIT_PORT=${ports[1]} IMAP_PORT=${ports[2]}
	IMAPS_PORT=${ports[3]} OPENDKIM_PORT=${ports[4]} SINK_PORT=${ports[5]}
	MX_B_PORT=''
	[ -z "$MX_B_MILTER" ] || MX_B_PORT=${ports[6]}

	gen_dkim
	gen_tls

	# The CA first: Postfix's transport map needs its SMTP port.
	start_ca_or_sink
	start_signer

	write_dovecot_conf
	start_bg dovecot "$DIR/dovecot.start.log" dovecot -F -c "$DIR/dovecot/dovecot.conf"
	wait_port "$IMAP_PORT" dovecot "$LAST_PID"
	wait_port "$IMAPS_PORT" dovecot "$LAST_PID"

	write_postfix_conf
	start_postfix postfix "$MX_PORT"
	wait_port "$SUBMIT_PORT" "postfix submission"
	if [ -n "$MX_B_MILTER" ]; then
		write_postfix_b_conf
		start_postfix postfix-b "$MX_B_PORT"
	fi

	write_all_keys

	{
		echo "# test world in $DIR (world.sh up); source me"
		envline WORLD_DIR "$DIR"
		envline MAIL_DOMAIN "$MAIL_DOMAIN"
		envline MAIL_PASSWORD "$MAIL_PASSWORD"
		envline MAILDIR_BASE "$DIR/mail"
		envline MX_PORT "$MX_PORT"
		envline SUBMIT_PORT "$SUBMIT_PORT"
		envline IMAP_PORT "$IMAP_PORT"
		envline IMAPS_PORT "$IMAPS_PORT"
		envline IMAP_TLS_CA "$DIR/tls/ca.pem"
		envline POSTFIX_CONF "$DIR/postfix/etc"
		envline POSTFIX_LOG "$DIR/postfix/maillog"
		envline SENDMAIL "$DIR/bin/sendmail"
		envline MILTER_SOCKET "$MILTER"
		envline MX_B_PORT "$MX_B_PORT"
		if [ -n "$MX_B_MILTER" ]; then
			envline MX_B_MILTER "$MX_B_MILTER"
			envline POSTFIX_B_CONF "$DIR/postfix-b/etc"
			envline POSTFIX_B_LOG "$DIR/postfix-b/maillog"
		fi
		if [ "$DKIM_SIGNER" = 1 ]; then
			envline OPENDKIM_SOCKET "inet:$OPENDKIM_PORT@$HOST"
			envline OPENDKIM_MILTER "inet:$HOST:$OPENDKIM_PORT"
			envline OPENDKIM_PORT "$OPENDKIM_PORT"
		else
			envline OPENDKIM_SOCKET ""
			envline OPENDKIM_MILTER ""
			envline OPENDKIM_PORT ""
		fi
		env_dkim_ca
	} >"$DIR/world.env"

	cat <<EOF
test world up in $DIR (source $DIR/world.env)
  MX (smtpd)      smtp://$HOST:$MX_PORT   milter: ${MILTER:-none}
  submission      smtp://$HOST:$SUBMIT_PORT   DKIM signer: $([ "$DKIM_SIGNER" = 1 ] && echo "OpenDKIM inet:$OPENDKIM_PORT@$HOST" || echo none)
  sendmail        $DIR/bin/sendmail   (non_smtpd_milters: $([ "$DKIM_SIGNER" = 1 ] && echo OpenDKIM || echo none))
  Maildirs        $DIR/mail/$MAIL_DOMAIN/<user>/Maildir/
  IMAP            imap://$HOST:$IMAP_PORT  imaps://$HOST:$IMAPS_PORT (CA file $DIR/tls/ca.pem)
                  user <name>@$MAIL_DOMAIN, password $MAIL_PASSWORD
  DKIM            d=$MAIL_DOMAIN s=$SELECTOR key $DIR/dkim/$MAIL_DOMAIN.sign.pem, public keys $DIR/dkim/all.keys
EOF
	if [ "$USE_CA" = 1 ]; then
		echo "  test CA         ${CA_URL:-?}  SMTP $HOST:$CA_SMTP_PORT  root ${CA_ROOT:-?}"
	else
		echo "  ca.test         smtp-sink $HOST:$CA_SMTP_PORT dumping into $DIR/ca-sink/"
	fi
	[ -z "$MX_B_MILTER" ] ||
		echo "  MX B (smtpd)    smtp://$HOST:$MX_B_PORT   milter: $MX_B_MILTER"
	echo "  logs            $DIR/postfix/maillog $DIR/opendkim.log $DIR/dovecot.log$([ "$USE_CA" = 1 ] && echo " $DIR/ca/ca.log")"
	echo "  stop with       $0 down $DIR"
}

# ------------------------------------------------------------------ main

# Sourced (by sendmail.sh, for the helpers and the CA/DKIM parts): stop here.
(return 0 2>/dev/null) && return 0

world_main usage do_up do_status 1 "$@"
