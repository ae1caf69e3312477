/*
 * cli_help: the --help text of the requester (the short form on a usage
 * error).  Kept apart from the parser so cli.c stays about options.
 * The full reference is smime-acme(1).
 */
#include <stdio.h>

#include "acme/app/cli.h"

void
cli_print_help(const char *prog, bool full)
{
	FILE *f = full ? stdout : stderr;

	fprintf(f,
	    "usage: %s cert|renew|revoke|retire|import|account|spool|spool-migrate|batch\n"
	    "       [-e EMAIL]...\n"
	    "       [-t] [--dry-run] [-n] [-c CONFIG_DIR] [-w WORK_DIR] [-l LOGS_DIR]\n"
	    "       [--agree-tos] [--contact CONTACT]\n"
	    "       [--spool DIR | --file-validate | --imap ... | --tb ... ] [options]\n",
	    prog);
	if (!full) {
		fprintf(f, "Try '%s --help' or smime-acme(1).\n", prog);
		return;
	}
	fputs(
	    "\n"
	    "Commands:\n"
	    "  cert      request a certificate for the -e addresses\n"
	    "  renew     renew stored certificates that expire soon (--force: all)\n"
	    "  revoke    revoke --cert-path (PEM or PKCS#12) [--reason R] [--key-path K];\n"
	    "            recorded with the stored set (renew leaves it alone)\n"
	    "  retire    move the -e addresses' sets to CONFIG/retired/ (--dry-run: say)\n"
	    "  import    adopt a seed client (certbot) -c DIR: account, lineages\n"
	    "  account   show the ACME account [--rollover | --deactivate]\n"
	    "  spool     list pending spool entries\n"
	    "  spool-migrate  create or upgrade the SpoolDatabase schema\n"
	    "            [--database CONNINFO] [--milter-role R] [--requester-role R]\n"
	    "\n"
	    "Seed options:\n"
	    "  -e, --email ADDR        address to certify (repeatable, no wildcards)\n"
	    "  -t, --test              CASTLE staging server\n"
	    "      --dry-run           store nothing (no key, cert, account, spool)\n"
	    "  -n, --non-interactive   never prompt\n"
	    "  -c, --config-dir DIR    accounts, orders and certificates\n"
	    "  -w, --work-dir DIR      work files (file responder)\n"
	    "  -l, --logs-dir DIR      accepted for compatibility\n"
	    "      --agree-tos         accept the CA's terms of service\n"
	    "      --contact ADDR      account contact address\n"
	    "      --imap --login L --password P --host H [--port N] [--ssl]\n"
	    "      --smtp-method STARTTLS|SSL|plain --smtp-login L --smtp-password P\n"
	    "      --smtp-host H --smtp-port N\n"
	    "      --no-passphrase | --passphrase P   PKCS#12 protection\n"
	    "      --usage U           digitalSignature contentCommitment keyEncipherment\n"
	    "                          keyAgreement (repeatable)\n"
	    "      --cert-path PATH    certificate to revoke\n"
	    "      --reason R          unspecified keycompromise affiliationchanged\n"
	    "                          superseded cessationofoperation\n"
	    "      --key-path PATH     reuse this private key (cert) / sign with it (revoke)\n"
	    "      --outlook [--outlook-account A]   not available on this platform\n"
	    "      --tb [--tb-unsafe] [--tb-profile DIR] [--tb-bin PATH]   Thunderbird\n"
	    "      --server URL        ACME directory URL\n"
	    "      --no-verify-ssl     do not verify the servers' TLS certificates\n"
	    "      --force             renew even if not due\n"
	    "      --file-validate     file hand-off responder (see smime-acme(1))\n"
	    "\n"
	    "Our options:\n"
	    "      --spool DIR         answer through smime-acme-milter's spool\n"
	    "      --interactive       answer by hand, even where a spool exists\n"
	    "      --conf FILE         smime-acme.conf (default /etc/smime-acme.conf)\n"
	    "      --ca-bundle FILE    trusted roots for the ACME server\n"
	    "      --key-type rsa|ec   --key-size N   certificate key (RSA 2048)\n"
	    "      --preferred-chain CN   the CA's chain whose top is issued by CN\n"
	    "      --token-rule octet|string\n"
	    "      --eab-kid KID --eab-hmac[-file] KEY   external account binding\n"
	    "      --password-file F --password-env V   (also --smtp-password-*,\n"
	    "      --passphrase-file F --passphrase-env V  --oauth2-token[-file])\n"
	    "      --finalize-delay S  --spool-post-after S  --spool-timeout S  --timeout S\n"
	    "      --renew-within DAYS --rotate-key  --rollover --deactivate\n"
	    "      --delivery-hook CMD  run CMD (sh -c) after each stored certificate;\n"
	    "                          paths in SMIME_ACME_* variables (--no-delivery-hook)\n"
	    "      --dkim-keys FILE    (testing) DKIM keys from a file, not DNS\n"
	    "  -v, --verbose  -q, --quiet  --json  --syslog  --allow-root  --version\n",
	    f);
}
