/*
 * fsutil: atomic replacement, bounded reads, mkdir -p and permission checks.
 * Temporary files live next to their target (same filesystem, so rename(2)
 * is atomic) and are named ".<name>.XXXXXX".
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fsutil.h"
#include "common/log.h"

static int
fs_fsync_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, rc;

	if (slash == NULL) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == path) {
		dir[0] = '/';
		dir[1] = '\0';
	} else {
		if ((size_t)(slash - path) >= sizeof(dir)) {
			return -1;
		}
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -1;
	}
	rc = fsync(fd);
	close(fd);
	return rc;
}

int
fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	const char *slash = strrchr(path, '/');
	const char *p = data;
	size_t off = 0;
	ssize_t n;
	int fd = -1, rc = -1, w;

	if (slash == NULL) {
		w = snprintf(tmp, sizeof(tmp), ".%s.XXXXXX", path);
	} else {
		w = snprintf(tmp, sizeof(tmp), "%.*s/.%s.XXXXXX",
		    (int)(slash - path), path, slash + 1);
	}
	if (w < 0 || (size_t)w >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		log_err_errno("%s: cannot write", path);
		return -1;
	}
	/* mkstemp creates the file 0600 whatever the umask (no umask(2)
	 * juggling: it is process-wide and other threads may be writing) */
	fd = mkstemp(tmp);
	if (fd >= 0) {
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (fd < 0) {
		log_err_errno("%s: cannot create temporary file", path);
		return -1;
	}
	if (fchmod(fd, mode) < 0) {
		log_err_errno("%s: fchmod", tmp);
		goto out;
	}
	while (off < len) {
		n = write(fd, p + off, len - off);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			log_err_errno("%s: write", tmp);
			goto out;
		}
		off += (size_t)n;
	}
	if (fsync(fd) < 0) {
		log_err_errno("%s: fsync", tmp);
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		log_err_errno("%s: close", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		log_err_errno("%s: rename", path);
		goto out;
	}
	(void)fs_fsync_dir(path);
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
	}
	if (rc < 0) {
		unlink(tmp);
	}
	return rc;
}

static char *
read_file(const char *path, size_t max, size_t *lenp, bool follow)
{
	struct stat st;
	char *data = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, fl, saved;

	/* O_NONBLOCK: opening a FIFO planted where a file is expected must
	 * not block; the type is checked on the open descriptor, then
	 * blocking reads are restored for the regular file */
	fd = open(path,
	    O_RDONLY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW));
	if (fd < 0) {
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		errno = EFBIG;
		goto fail;
	}
	data = malloc((size_t)st.st_size + 2);
	if (data == NULL) {
		goto fail;
	}
	/* Read one byte more than expected: a file that grew is too big. */
	for (;;) {
		n = read(fd, data + len, (size_t)st.st_size + 1 - len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			goto fail;
		}
		if (n == 0) {
			break;
		}
		len += (size_t)n;
		if (len > (size_t)st.st_size) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	data[len] = '\0';
	if (lenp != NULL) {
		*lenp = len;
	}
	return data;
fail:
	saved = errno;
	free(data);
	close(fd);
	errno = saved;
	return NULL;
}

char *
fs_read_file(const char *path, size_t max, size_t *lenp)
{
	return read_file(path, max, lenp, false);
}

char *
fs_read_user_file(const char *path, size_t max, size_t *lenp)
{
	return read_file(path, max, lenp, true);
}

int
fs_mkdirs(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t i, len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	for (i = 1; i <= len; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0') {
			continue;
		}
		tmp[i] = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST) {
			return -1;
		}
		tmp[i] = path[i];
	}
	return 0;
}

int
fs_check_perms(const char *path, uid_t uid, mode_t forbidden)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		log_err_errno("%s", path);
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		log_err("%s: is a symbolic link; refusing it", path);
		return -1;
	}
	if (uid != (uid_t)-1 && st.st_uid != uid && st.st_uid != 0) {
		log_err("%s: owned by uid %lu, expected %lu or root", path,
		    (unsigned long)st.st_uid, (unsigned long)uid);
		return -1;
	}
	if (st.st_mode & forbidden) {
		log_err("%s: mode %04o is too open (must not have %04o)", path,
		    (unsigned)(st.st_mode & 07777), (unsigned)forbidden);
		return -1;
	}
	return 0;
}

bool
fs_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}
