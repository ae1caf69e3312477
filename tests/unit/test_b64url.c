/*
 * Unit tests for common/b64url.c, common/buf.c and common/fsutil.c.
 */
#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/b64url.h"
#include "common/buf.h"
#include "common/fsutil.h"

static void
test_encode(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" },
		{ "f", "Zg" },
		{ "fo", "Zm8" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg" },
		{ "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
		{ "\xfb\xff", "-_8" },
	};
	size_t i;
	char *s;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		s = b64url_encode(v[i].in, strlen(v[i].in));
		assert_non_null(s);
		assert_string_equal(s, v[i].out);
		assert_int_equal(strlen(s), b64url_enclen(strlen(v[i].in)));
		free(s);
	}
}

static void
test_decode(void **state)
{
	static const struct {
		const char *in;
		const char *out; /* NULL: must be refused */
		size_t outlen;
	} v[] = {
		{ "", "", 0 },
		{ "Zg", "f", 1 },
		{ "Zm8", "fo", 2 },
		{ "Zm9vYmFy", "foobar", 6 },
		{ "-_8", "\xfb\xff", 2 },
		{ "Zg==", NULL, 0 },   /* padding refused */
		{ "Zm9v\n", NULL, 0 }, /* white space refused */
		{ "Zm+v", NULL, 0 },   /* standard alphabet refused */
		{ "Zm/v", NULL, 0 },
		{ "Z", NULL, 0 },  /* length 1 mod 4 */
		{ "Zh", NULL, 0 }, /* non-zero trailing bits */
		{ "Zm9", NULL, 0 },
		{ "Zm8=", NULL, 0 },
	};
	unsigned char *d;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		errno = 0;
		d = b64url_decode(v[i].in, strlen(v[i].in), &n);
		if (v[i].out == NULL) {
			if (d != NULL) {
				fail_msg("accepted %s", v[i].in);
			}
			assert_int_equal(errno, EINVAL);
			continue;
		}
		if (d == NULL) {
			fail_msg("refused %s", v[i].in);
		}
		assert_int_equal(n, v[i].outlen);
		assert_memory_equal(d, v[i].out, n);
		free(d);
	}
}

static void
test_buf(void **state)
{
	struct buf b;
	char *s;

	(void)state;
	buf_init(&b, 16);
	assert_int_equal(buf_puts(&b, "hello"), 0);
	assert_int_equal(buf_printf(&b, " %d", 42), 0);
	assert_string_equal(b.data, "hello 42");
	/* the cap holds and a refused append leaves the buffer as it was */
	assert_int_equal(buf_puts(&b, "0123456789"), -1);
	assert_int_equal(errno, EFBIG);
	assert_string_equal(b.data, "hello 42");
	s = buf_steal(&b);
	assert_string_equal(s, "hello 42");
	assert_null(b.data);
	free(s);
	s = buf_steal(&b);
	assert_string_equal(s, "");
	free(s);
	buf_free(&b);
}

static void
test_fsutil(void **state)
{
	char dir[] = "/tmp/smime-acme-test.XXXXXX", path[256], *data;
	struct stat st;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(fs_mkdirs(path, 0750), 0);
	assert_true(fs_exists(path));
	snprintf(path, sizeof(path), "%s/a/key.pem", dir);
	assert_int_equal(fs_write_atomic(path, "secret", 6, 0600), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	data = fs_read_file(path, 100, &len);
	assert_non_null(data);
	assert_int_equal(len, 6);
	assert_string_equal(data, "secret");
	free(data);
	/* replace: new content, new mode */
	assert_int_equal(fs_write_atomic(path, "other!!", 7, 0640), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* size cap */
	assert_null(fs_read_file(path, 3, &len));
	assert_int_equal(errno, EFBIG);
	/* permission check: group-writable refused */
	assert_int_equal(fs_check_perms(path, getuid(), S_IWGRP | S_IWOTH), 0);
	chmod(path, 0660);
	assert_int_equal(fs_check_perms(path, getuid(), S_IWGRP | S_IWOTH), -1);
	/* a failed write leaves the old file and no temporary behind */
	snprintf(path, sizeof(path), "%s/nodir/x", dir);
	assert_int_equal(fs_write_atomic(path, "x", 1, 0600), -1);
	snprintf(path, sizeof(path), "%s/a/key.pem", dir);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/a/b", dir);
	assert_int_equal(rmdir(path), 0);
	snprintf(path, sizeof(path), "%s/a", dir);
	/* rmdir fails if the failed write or a replace left a temp file */
	assert_int_equal(rmdir(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_buf),
		cmocka_unit_test(test_fsutil),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
