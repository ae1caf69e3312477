/*
 * The requester's --json output through the built program ($B/smime-acme,
 * B as tests/run.sh sets it): `smime-acme spool --json` on a temporary
 * spool prints each entry as one whole JSON line, and an entry it cannot
 * encode (a sender that is not UTF-8) makes it fail without printing a
 * truncated line (it printed "from":, before).  Hermetic: HOME, the
 * configuration directory and file are all under a temporary directory.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/spool.h"

static char dir[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/smime-acme-output.XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

/* Remove the tree at path (the test's own temporary directory). */
static void
rm_tree(const char *path)
{
	char sub[1024];
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0) {
				snprintf(sub, sizeof(sub), "%s/%s", path,
				    de->d_name);
				rm_tree(sub);
			}
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int
teardown(void **state)
{
	(void)state;
	rm_tree(dir);
	return 0;
}

/* Write one awaiting entry for alice with sender from. */
static void
put_entry(const char *spool_dir, const char *from)
{
	struct spool_entry e;
	struct spool *sp;

	sp = spool_open(spool_dir, true, -1, (gid_t)-1);
	assert_non_null(sp);
	memset(&e, 0, sizeof(e));
	snprintf(e.mailbox, sizeof(e.mailbox), "alice@example.test");
	snprintf(e.from, sizeof(e.from), "%s", from);
	snprintf(e.token2, sizeof(e.token2), "ZWZnaGlqa2xtbm9wcXJzdA");
	snprintf(e.thumbprint, sizeof(e.thumbprint),
	    "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	e.rule = TOKEN_RULE_STRING;
	e.state = SPOOL_AWAITING;
	e.created = 1795891396;
	e.expires = 1795977796;
	assert_int_equal(spool_write(sp, &e), 0);
	spool_close(sp);
}

/* Run smime-acme spool --json on spool_dir; stdout into *out (malloc'ed).
 * Returns the exit status. */
static int
run_spool_json(const char *spool_dir, char **out)
{
	const char *b = getenv("B") != NULL ? getenv("B") : "build";
	char prog[256], cfg[128], conf[128], outp[128], home[128];
	struct stat st;
	pid_t pid;
	int fd, status;
	FILE *fp;

	snprintf(prog, sizeof(prog), "%s/smime-acme", b);
	snprintf(cfg, sizeof(cfg), "%s/cfg", dir);
	snprintf(conf, sizeof(conf), "%s/empty.conf", dir);
	snprintf(outp, sizeof(outp), "%s/stdout", dir);
	snprintf(home, sizeof(home), "HOME=%s", dir);
	(void)mkdir(cfg, 0700);
	fd = open(conf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *const envp[] = { home, (char *)"PATH=/usr/bin:/bin",
			NULL };

		fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || dup2(fd, 1) < 0) {
			_exit(127);
		}
		execle(prog, prog, "--allow-root", "spool", "--spool",
		    spool_dir, "-c", cfg, "--conf", conf, "--json",
		    (char *)NULL, envp);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(stat(outp, &st), 0);
	*out = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(*out);
	fp = fopen(outp, "r");
	assert_non_null(fp);
	assert_int_equal(fread(*out, 1, (size_t)st.st_size, fp), st.st_size);
	fclose(fp);
	return WEXITSTATUS(status);
}

static void
test_spool_json(void **state)
{
	char sp[128], *out = NULL;

	(void)state;
	snprintf(sp, sizeof(sp), "%s/spool", dir);
	put_entry(sp, "acme@ca.test");
	assert_int_equal(run_spool_json(sp, &out), 0);
	assert_string_equal(out,
	    "{\"address\":\"alice@example.test\",\"state\":\"awaiting\","
	    "\"from\":\"acme@ca.test\",\"expires\":\"2026-11-29T18:43:16Z\"}\n");
	free(out);
}

static void
test_spool_json_not_utf8(void **state)
{
	char sp[128], *out = NULL;

	(void)state;
	snprintf(sp, sizeof(sp), "%s/spool", dir);
	put_entry(sp, "\xff@ca.test");
	assert_int_not_equal(run_spool_json(sp, &out), 0);
	assert_string_equal(out, "");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_spool_json, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_spool_json_not_utf8, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
