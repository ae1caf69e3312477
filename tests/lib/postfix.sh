# tests/lib/postfix.sh: the configuration of a private Postfix instance on
# 127.0.0.1, shared by the test world (tests/e2e/world/world.sh) and the
# benchmarks (tests/bench/lib.sh).  Sourced; POSIX sh.  Nothing outside the
# directories given is read or written (meta_directory stays the system's
# /etc/postfix, which Postfix only reads for its parameter tables).
# shellcheck shell=sh

# postfix_conf ETC QUEUE DATA MAILLOG DOMAIN LISTENERS [SERVICES]
#   Writes ETC/main.cf and ETC/master.cf and creates ETC, QUEUE and DATA
#   (DATA owned by postfix).
#   main.cf: what every private instance shares (own queue and data
#   directories, MAILLOG as the log file, myhostname mx.DOMAIN, mydomain
#   DOMAIN, no local delivery, no DNS for the client, no rate limits, no
#   milters but per listener), then the caller's own parameters, read from
#   standard input (a parameter may appear only once: the caller sets the
#   ones not set here, e.g. myorigin, relaying, milter_default_action,
#   non_smtpd_milters).
#   master.cf: LISTENERS (the caller's smtpd lines, with comments if it
#   likes), the standard services, then SERVICES (extra service lines).
postfix_conf() {
	_pf_etc=$1 _pf_queue=$2 _pf_data=$3 _pf_log=$4 _pf_dom=$5
	_pf_listeners=$6 _pf_services=${7:-}
	mkdir -p "$_pf_etc" "$_pf_queue" "$_pf_data" || return 1
	chown postfix "$_pf_data" || return 1
	{
		cat <<EOF
# Private Postfix instance for $_pf_dom on 127.0.0.1 (tests/lib/postfix.sh)
compatibility_level = 3.6
queue_directory = $_pf_queue
data_directory = $_pf_data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $_pf_log
maillog_file_prefixes = $(dirname "$_pf_log")
myhostname = mx.$_pf_dom
mydomain = $_pf_dom
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
smtp_host_lookup = native
biff = no
append_dot_mydomain = no
notify_classes =
smtputf8_enable = no
# no throttling: measure and test the milter, not Postfix's limits
in_flow_delay = 0
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_recipient_rate_limit = 0
# milters per listener in master.cf (-o smtpd_milters=...)
smtpd_milters =
milter_protocol = 6
EOF
		cat
	} >"$_pf_etc/main.cf" || return 1
	{
		printf '%s\n' "$_pf_listeners"
		cat <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
		[ -z "$_pf_services" ] || printf '%s\n' "$_pf_services"
	} >"$_pf_etc/master.cf"
}
