#!/usr/bin/env bash
# tests/e2e/world/sendmail.sh: the private Sendmail 8.17 world on 127.0.0.1,
# the Sendmail twin of world.sh (whose helpers, DKIM keys, OpenDKIM and test
# CA it reuses).  Sendmail comes from Debian's packages, downloaded with
# `apt-get download` into a cache and unpacked with `dpkg -x`: never
# installed (the packages would replace Postfix).  m4 and the shipped cf/
# macros build sendmail.cf from an .mc that includes
# contrib/sendmail/smime-acme.mc byte for byte, and the MSP's submit.cf.
#
#   sendmail.sh up DIR [--milter SPEC] [--no-dkim-signer] [--ca "ARGS"] [--no-ca]
#   sendmail.sh down DIR | status DIR
#
# SPEC is Sendmail's S= value (inet:PORT@127.0.0.1 or local:PATH).
# Parts (ports picked free; DIR/world.env as world.sh's, plus SM_* names):
#   MX_PORT      the MTA daemon "MX": INPUT_MAIL_FILTER list = our snippet
#   SUBMIT_PORT  daemon "MSA": InputMailFilters=smime-acme;opendkim (as
#                Debian's port 25 seen by the MSP: our milter, the signer)
#   PLAIN_PORT   daemon "PLAIN": no filter at all (the baseline)
#   DIR/bin/sendmail   the MSP (submit.cf), relaying to SUBMIT_PORT;
#                nobody is a trusted user there.  Run by root, or by anyone
#                inside DIR/bin/in-world, it is the real MSP; otherwise
#                (the MSP would see the host's /etc/hosts) an SMTP
#                submission to the MSA, where the MSP would relay anyway
#   DIR/bin/in-world CMD...   runs CMD (as root, e.g. the milter, which
#                then drops privileges) in a mount namespace like the
#                daemon's: the world's /etc/hosts, /dev/log read into
#                $SM_LOG; its children (SendmailPath) run the real MSP
#   delivery     example.test: maildir-deliver.py as user mail into
#                DIR/mail/example.test/<user>/Maildir; all else: SMTP to the
#                test CA (or its sink).  No DNS anywhere.
# Host independence: Sendmail qualifies its host name before it reads
# sendmail.cf (an unqualified name costs a 60 s sleep) and logs only to
# /dev/log.  The daemon therefore runs in its own mount namespace where
# /etc/hosts is DIR/sendmail/hosts (the host name -> mx.example.test) and
# /dev/log is DIR/sendmail/log.sock, read by syslog-sink.py into
# DIR/sendmail/maillog ($SM_LOG).  Nothing on the host changes.
# Environment: SM_DEBS (cache of the .deb files, default build/cache/sendmail),
# SINK_DISCARD=1 (with --no-ca: the ca.test sink keeps no mail).
set -u
SM_WORLD_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=world.sh
. "$SM_WORLD_HERE/world.sh"
SM_DEBS=${SM_DEBS:-$TOP/build/cache/sendmail}

SM_PKGS="sendmail-bin sendmail-base sendmail-cf"

susage() {
	cat >&2 <<'EOF'
usage: sendmail.sh up DIR [--milter SPEC] [--no-dkim-signer] [--ca "ARGS"] [--no-ca]
       sendmail.sh down DIR
       sendmail.sh status DIR
EOF
	exit 64
}

# sm_root: the unpacked packages (cached next to the .deb files)
sm_root() {
	local r=$SM_DEBS/root p n
	if [ -x "$r/usr/libexec/sendmail/sendmail" ] && [ -f "$r/.unpacked" ]; then
		SM_ROOT=$r
		return 0
	fi
	mkdir -p "$SM_DEBS" || die "cannot create $SM_DEBS"
	for p in $SM_PKGS; do
		n=$(find "$SM_DEBS" -maxdepth 1 -name "${p}_*.deb" | head -1)
		if [ -z "$n" ]; then
			(cd "$SM_DEBS" && apt-get download -q "$p" >>"$SM_DEBS/download.log" 2>&1) ||
				die "apt-get download $p failed: $(tail -2 "$SM_DEBS/download.log" | tr '\n' ' ')"
		fi
	done
	rm -rf "$r"
	mkdir -p "$r"
	for n in "$SM_DEBS"/*.deb; do
		dpkg -x "$n" "$r" || die "dpkg -x $n failed"
	done
	[ -x "$r/usr/libexec/sendmail/sendmail" ] || die "no sendmail binary in $r"
	touch "$r/.unpacked"
	SM_ROOT=$r
}

# m4 -> .cf with the shipped macros
sm_m4() {
	m4 -D_CF_DIR_="$SM_ROOT/usr/share/sendmail/cf/" \
		"$SM_ROOT/usr/share/sendmail/cf/m4/cf.m4" "$1" >"$2" 2>"$2.m4err" ||
		die "m4 $1 failed: $(head -3 "$2.m4err" | tr '\n' ' ')"
	if [ -s "$2.m4err" ]; then
		die "m4 $1: $(head -3 "$2.m4err" | tr '\n' ' ')"
	fi
}

write_sendmail_mc() {
	local s=$DIR/sendmail filters=""
	# The MSA is Debian's port-25 daemon as the MSP sees it: our milter
	# (it accepts its own replies) and the signer.
	[ -n "$MILTER" ] && filters="smime-acme"
	[ "$DKIM_SIGNER" = 1 ] && filters="${filters:+$filters;}opendkim"
	cat >"$s/sendmail.mc" <<EOF
divert(-1)dnl
# The test world's MTA ($DIR): built by tests/e2e/world/sendmail.sh.
divert(0)dnl
OSTYPE(\`linux')dnl
define(\`confCF_VERSION', \`smime-acme-world')dnl
define(\`confDOMAIN_NAME', \`mx.$MAIL_DOMAIN')dnl
define(\`confHOSTS_FILE', \`$s/hosts')dnl
define(\`confSERVICE_SWITCH_FILE', \`$s/service.switch')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`QUEUE_DIR', \`$s/mqueue')dnl
define(\`STATUS_FILE', \`$s/statistics')dnl
define(\`confPID_FILE', \`$s/sendmail.pid')dnl
define(\`ALIAS_FILE', \`')dnl
define(\`HELP_FILE', \`$SM_ROOT/etc/mail/helpfile')dnl
define(\`confLOG_LEVEL', \`14')dnl
define(\`confQUEUE_LA', \`999')dnl
define(\`confREFUSE_LA', \`999')dnl
define(\`confDELAY_LA', \`0')dnl
define(\`confTO_IDENT', \`0')dnl
define(\`confMAX_DAEMON_CHILDREN', \`0')dnl
define(\`confCONNECTION_RATE_THROTTLE', \`0')dnl
define(\`confMIN_QUEUE_AGE', \`0')dnl
define(\`confTO_QUEUERETURN', \`1h')dnl
define(\`confPRIVACY_FLAGS', \`authwarnings')dnl
define(\`confDONT_BLAME_SENDMAIL', \`GroupWritableDirPathSafe')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`SMART_HOST', \`relay:[$HOST]')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $CA_SMTP_PORT')dnl
FEATURE(\`no_default_msa')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`accept_unqualified_senders')dnl
LOCAL_DOMAIN(\`$MAIL_DOMAIN')dnl
RELAY_DOMAIN(\`$CA_DOMAIN')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MX, Port=$MX_PORT, Addr=$HOST')dnl
DAEMON_OPTIONS(\`Family=inet, Name=MSA, Port=$SUBMIT_PORT, Addr=$HOST, InputMailFilters=$filters')dnl
DAEMON_OPTIONS(\`Family=inet, Name=PLAIN, Port=$PLAIN_PORT, Addr=$HOST, InputMailFilters=')dnl
EOF
	if [ "$DKIM_SIGNER" = 1 ]; then
		echo "MAIL_FILTER(\`opendkim', \`S=inet:$OPENDKIM_PORT@$HOST, F=, T=R:30s')dnl" >>"$s/sendmail.mc"
	fi
	if [ -n "$MILTER" ]; then
		# as an administrator would: the socket, then the snippet as shipped
		cat >>"$s/sendmail.mc" <<EOF
define(\`SMIME_ACME_SOCKET', \`$MILTER')dnl
include(\`$s/smime-acme.mc')dnl
EOF
		cp "$TOP/contrib/sendmail/smime-acme.mc" "$s/smime-acme.mc"
	fi
	cat >>"$s/sendmail.mc" <<EOF
MAILER(\`local')dnl
MAILER(\`smtp')dnl
MAILER_DEFINITIONS
Mmaildir,	P=$PY, F=lsnuP, S=EnvFromL/HdrFromL, R=EnvToL/HdrToL, T=DNS/RFC822/SMTP,
		U=mail:mail, A=python3 $DIR/bin/maildir-deliver.py $DIR/mail \$u@\$h
LOCAL_RULE_0
R\$+ < @ $MAIL_DOMAIN . >	\$#maildir \$@ $MAIL_DOMAIN \$: \$1
EOF
}

write_submit_mc() {
	local s=$DIR/sendmail
	cat >"$s/submit.mc" <<EOF
divert(-1)dnl
# The test world's MSP ($DIR): Debian's submit.mc with private paths.
divert(0)dnl
define(\`confCF_VERSION', \`Submit')dnl
define(\`__OSTYPE__',\`')dnl
define(\`confTIME_ZONE', \`USE_TZ')dnl
define(\`confDONT_INIT_GROUPS', \`True')dnl
define(\`confDOMAIN_NAME', \`mx.$MAIL_DOMAIN')dnl
define(\`confHOSTS_FILE', \`$s/hosts')dnl
define(\`confSERVICE_SWITCH_FILE', \`$s/service.switch')dnl
define(\`confRUN_AS_USER', \`nobody:nogroup')dnl
define(\`confTRUSTED_USERS', \`nobody')dnl
define(\`MSP_QUEUE_DIR', \`$s/msp-queue')dnl
define(\`confPID_FILE', \`$s/msp-queue/sm-client.pid')dnl
define(\`confLOG_LEVEL', \`9')dnl
define(\`confQUEUE_LA', \`999')dnl
define(\`confREFUSE_LA', \`999')dnl
define(\`RELAY_MAILER_ARGS', \`TCP \$h $SUBMIT_PORT')dnl
FEATURE(\`msp', \`[$HOST]')dnl
EOF
}

# DIR/bin/in-world CMD...: CMD in a mount namespace with the daemon's view
# (/etc/hosts, /dev with /dev/log read by a syslog sink into the maillog).
# The sink is recorded in DIR/pids, so `down` stops it.
write_in_world() {
	local s=$DIR/sendmail
	cat >"$DIR/bin/in-world" <<EOF
#!/bin/sh
# Runs CMD... in the test world's namespace ($DIR): see sendmail.sh.
[ "\$(id -u)" = 0 ] || { echo "in-world: must run as root" >&2; exit 77; }
[ \$# -gt 0 ] || { echo "usage: in-world CMD..." >&2; exit 64; }
exec unshare -m --propagation private /bin/sh -c '
set -e
mount -t tmpfs -o mode=755 sm-dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
ln -s /proc/self/fd /dev/fd
mount --bind "$s/hosts" /etc/hosts
setsid "$PY" "$SM_WORLD_HERE/syslog-sink.py" /dev/log "$s/maillog" \
	</dev/null >>"$s/syslog-sink.log" 2>&1 &
echo "syslog-sink-in-world \$!" >>"$DIR/pids"
i=0
while [ ! -S /dev/log ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done
exec "\$@"' in-world "\$@"
EOF
	chmod 755 "$DIR/bin/in-world"
}

# The daemon in its own mount namespace: private /etc/hosts and /dev/log.
sm_start() {
	local s=$DIR/sendmail i pid=
	printf '%s mx.%s mx %s localhost\n' "$HOST" "$MAIL_DOMAIN" "$(hostname)" >"$s/hosts"
	printf 'hosts\tfiles\naliases\tfiles\npasswd\tfiles\n' >"$s/service.switch"
	cat >"$s/ns-start" <<EOF
#!/bin/sh
# Runs inside \`unshare -m\`: only this namespace sees these mounts.  Device
# nodes are made, not bind-mounted (gVisor cannot bind device files); the
# syslog sink binds /dev/log here, where Sendmail finds it.
set -e
mount -t tmpfs -o mode=755 sm-dev /dev
mknod -m 666 /dev/null c 1 3
mknod -m 666 /dev/zero c 1 5
mknod -m 666 /dev/full c 1 7
mknod -m 666 /dev/random c 1 8
mknod -m 666 /dev/urandom c 1 9
ln -s /proc/self/fd /dev/fd
mount --bind '$s/hosts' /etc/hosts
'$PY' '$SM_WORLD_HERE/syslog-sink.py' /dev/log '$s/maillog' \
	</dev/null >>'$s/syslog-sink.log' 2>&1 &
echo \$! >'$s/syslog-sink.pid'
i=0
while [ ! -S /dev/log ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done
exec '$SM_ROOT/usr/libexec/sendmail/sendmail' -C '$s/sendmail.cf' -bd -q10s
EOF
	chmod 755 "$s/ns-start"
	: >"$s/maillog"
	# -bd forks the daemon and returns; the pid files name it and the sink
	local rc=0
	setsid unshare -m --propagation private "$s/ns-start" </dev/null >"$s/start.log" 2>&1 || rc=$?
	# the sink runs in any case: record it first, so `down` stops it
	pid=$(tr -dc 0-9 <"$s/syslog-sink.pid" 2>/dev/null)
	[ -n "$pid" ] && record syslog-sink "$pid"
	[ "$rc" = 0 ] ||
		die "sendmail did not start: $(tail -n 3 "$s/start.log" "$s/maillog" | tr '\n' ' ')"
	for ((i = 0; i < WAIT_S * 20; i++)); do
		pid=$(head -1 "$s/sendmail.pid" 2>/dev/null | tr -dc 0-9)
		[ -n "$pid" ] && break
		sleep 0.05
	done
	[ -n "$pid" ] || die "sendmail pid file missing: $(tail -3 "$s/maillog" | tr '\n' ' ')"
	record sendmail "$pid"
	wait_port "$MX_PORT" "sendmail MX" "$pid"
	wait_port "$SUBMIT_PORT" "sendmail MSA" "$pid"
	wait_port "$PLAIN_PORT" "sendmail PLAIN" "$pid"
}

sm_up() {
	local ports s
	command -v m4 >/dev/null || die "m4 missing (contrib/deps.sh)"
	command -v unshare >/dev/null || die "unshare missing (util-linux)"
	world_begin sendmail
	sm_root
	s=$DIR/sendmail
	mkdir -p "$s/mqueue" "$s/msp-queue" "$DIR/mail/$MAIL_DOMAIN" "$DIR/bin"
	chmod 700 "$s/mqueue"
	chown nobody:nogroup "$s/msp-queue"
	chmod 770 "$s/msp-queue"
	: >"$s/statistics"
	chown mail:mail "$DIR/mail" "$DIR/mail/$MAIL_DOMAIN"
	cp "$HERE/smtp-inject.py" "$HERE/maildir-deliver.py" "$DIR/bin/"
	chmod 755 "$DIR/bin" "$DIR/bin/smtp-inject.py" "$DIR/bin/maildir-deliver.py"

	mapfile -t ports < <(free_ports 5)
	[ "${#ports[@]}" = 5 ] || die "cannot pick free ports"
	MX_PORT=${ports[0]} SUBMIT_PORT=${ports[1]} PLAIN_PORT=${ports[2]}
	# shellcheck disable=SC2034 # (SINK_PORT: world.sh's start_ca_or_sink)
	OPENDKIM_PORT=${ports[3]} SINK_PORT=${ports[4]}

	gen_dkim
	start_ca_or_sink
	start_signer

	write_sendmail_mc
	write_submit_mc
	sm_m4 "$s/sendmail.mc" "$s/sendmail.cf"
	sm_m4 "$s/submit.mc" "$s/submit.cf"
	# The MSP qualifies the host name before reading submit.cf, as the
	# daemon does: root runs it with the world's /etc/hosts (as the
	# daemon); other users (the milter) submit over SMTP to the MSA, which
	# is where the MSP would relay anyway.
	cat >"$DIR/bin/sendmail" <<EOF
#!/bin/sh
# The test world's MSP (Debian's /usr/sbin/sendmail with submit.cf, relaying
# over SMTP to the MSA daemon on port $SUBMIT_PORT, whose filter signs).
# Inside bin/in-world /etc/hosts is already the world's.
if cmp -s /etc/hosts '$s/hosts'; then
	exec '$SM_ROOT/usr/libexec/sendmail/sendmail' -C '$s/submit.cf' "\$@"
fi
if [ "\$(id -u)" = 0 ]; then
	exec unshare -m --propagation private /bin/sh -c \
		'mount --bind "\$0" /etc/hosts && exec "\$@"' '$s/hosts' \
		'$SM_ROOT/usr/libexec/sendmail/sendmail' -C '$s/submit.cf' "\$@"
fi
exec $PY '$DIR/bin/smtp-inject.py' --port $SUBMIT_PORT -- "\$@"
EOF
	chmod 755 "$DIR/bin/sendmail"
	write_in_world
	sm_start

	write_all_keys

	{
		echo "# Sendmail test world in $DIR (sendmail.sh up); source me"
		envline WORLD_MTA sendmail
		envline WORLD_DIR "$DIR"
		envline MAIL_DOMAIN "$MAIL_DOMAIN"
		envline MAILDIR_BASE "$DIR/mail"
		envline MX_PORT "$MX_PORT"
		envline SUBMIT_PORT "$SUBMIT_PORT"
		envline PLAIN_PORT "$PLAIN_PORT"
		envline SM_ROOT "$SM_ROOT"
		envline SM_CF "$s/sendmail.cf"
		envline SM_SUBMIT_CF "$s/submit.cf"
		envline SM_LOG "$s/maillog"
		envline MTA_LOG "$s/maillog"
		envline SENDMAIL "$DIR/bin/sendmail"
		envline MILTER_SOCKET "$MILTER"
		envline OPENDKIM_PORT "$([ "$DKIM_SIGNER" = 1 ] && echo "$OPENDKIM_PORT")"
		env_dkim_ca
	} >"$DIR/world.env"
	cat <<EOF
sendmail world up in $DIR (source $DIR/world.env)
  MX              smtp://$HOST:$MX_PORT   milter: ${MILTER:-none}
  MSA             smtp://$HOST:$SUBMIT_PORT   filter: $([ "$DKIM_SIGNER" = 1 ] && echo OpenDKIM || echo none)
  PLAIN           smtp://$HOST:$PLAIN_PORT   no filter
  MSP             $DIR/bin/sendmail
  log             $s/maillog
  stop with       $0 down $DIR
EOF
}

sm_status() {
	[ -f "$DIR/world.env" ] || {
		echo "no world in $DIR"
		return 1
	}
	# shellcheck disable=SC1091
	. "$DIR/world.env"
	local rc=0
	status_pids || rc=1
	status_ports MX_PORT SUBMIT_PORT PLAIN_PORT OPENDKIM_PORT CA_HTTPS_PORT \
		CA_SMTP_PORT || rc=1
	return $rc
}

world_main susage sm_up sm_status 0 "$@"
