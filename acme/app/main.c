/*
 * smime-acme: the requester.  Parses the command line (cli.c), loads
 * smime-acme.conf, sets up logging and runs one command (flow_*.c).  Only main() exits; the exit status is a
 * sysexits(3) code, listed in smime-acme(1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sysexits.h>
#include <unistd.h>

#include "acme/proto/acme.h"
#include "acme/app/batch.h"
#include "acme/app/cli.h"
#include "acme/app/flow.h"
#include "common/conf.h"
#include "common/log.h"

static int
run(struct cli *c, const struct config *conf)
{
	struct flow_settings set;
	struct flow_session ses;
	struct flow f;
	int rc;

	if (c->cmd == CMD_SPOOL_MIGRATE) {
		return flow_cmd_spool_migrate(c, conf);
	}
	rc = flow_settings_init(&set, c, conf);
	if (rc != 0) {
		flow_settings_free(&set);
		return rc;
	}
	flow_begin(&f, &set, &ses);
	switch (c->cmd) {
	case CMD_CERT:
		rc = flow_cmd_cert(&f);
		break;
	case CMD_RENEW:
		rc = flow_cmd_renew(&f);
		break;
	case CMD_REVOKE:
		rc = flow_cmd_revoke(&f);
		break;
	case CMD_RETIRE:
		rc = flow_cmd_retire(&f);
		break;
	case CMD_IMPORT:
		rc = flow_cmd_import(&f);
		break;
	case CMD_ACCOUNT:
		rc = flow_cmd_account(&f);
		break;
	case CMD_SPOOL:
		rc = flow_cmd_spool(&f);
		break;
	case CMD_BATCH: {
		struct batch_opts bo = { 0 };
		bo.file = c->batch_file;
		bo.concurrency = (unsigned)c->concurrency;
		bo.results = c->results;
		bo.json = c->json;
		bo.stats = c->stats;
		rc = batch_run(&f, &bo);
		break;
	}
	default:
		rc = EX_SOFTWARE;
		break;
	}
	flow_session_free(&ses);
	flow_settings_free(&set);
	return rc;
}

int
main(int argc, char **argv)
{
	struct config *conf = NULL;
	struct cli c;
	enum log_level lvl;
	int rc;

	log_init("smime-acme", false, LOG_USER, true);
	rc = cli_parse(&c, argc, argv);
	if (rc == CLI_HELP) {
		cli_print_help("smime-acme", true);
		rc = 0;
		goto out;
	}
	if (rc == CLI_VERSION) {
		printf("smime-acme %s\n", VERSION);
		rc = 0;
		goto out;
	}
	if (rc != 0) {
		fprintf(stderr, "smime-acme: %s\n", c.err);
		if (rc == EX_USAGE) {
			cli_print_help("smime-acme", false);
		}
		goto out;
	}
	lvl = c.quiet
	    ? LOG_LVL_ERR
	    : (c.verbose >= 2
		      ? LOG_LVL_DEBUG
		      : (c.verbose == 1 ? LOG_LVL_INFO : LOG_LVL_NOTICE));
	log_set_level(lvl);
	if (c.syslog) {
		log_init("smime-acme", true, LOG_USER, true);
	}
	rc = cli_resolve_secrets(&c);
	if (rc != 0) {
		fprintf(stderr, "smime-acme: %s\n", c.err);
		goto out;
	}
	conf = c.conf_path != NULL ? conf_load(c.conf_path, false)
				   : conf_load(CONF_DEFAULT_PATH, true);
	if (conf == NULL) {
		rc = EX_CONFIG;
		goto out;
	}
	/* a CA bundle that cannot be read is a configuration error, not a
	 * network failure to retry later */
	if (conf->ca_bundle != NULL && access(conf->ca_bundle, R_OK) < 0) {
		log_err("%s: CABundle: %s: %s",
		    conf->path != NULL ? conf->path : "(defaults)",
		    conf->ca_bundle, strerror(errno));
		rc = EX_CONFIG;
		goto out;
	}
	if (c.password != NULL && c.password_file == NULL &&
	    c.password_env == NULL) {
		log_info(
		    "--password on the command line is visible to other users while it runs; --password-file or --password-env are safer");
	}
	flow_signals();
	if (acme_global_init() != 0) {
		rc = EX_SOFTWARE;
		goto out;
	}
	rc = run(&c, conf);
	acme_global_cleanup();
out:
	conf_free(conf);
	cli_free(&c);
	return rc;
}
