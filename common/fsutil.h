/*
 * fsutil: safe file handling shared by both programs.  Files are opened
 * O_CLOEXEC|O_NOFOLLOW; replacements are written to a temporary file in the
 * same directory, fchmod'ed, fsync'ed and renamed, and the directory is
 * fsync'ed, so a reader sees the old or the new file, never a partial one.
 */
#ifndef COMMON_FSUTIL_H
#define COMMON_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Atomically replace path with data, mode set before the rename.  0 / -1
 * (logged).  On failure the old file, if any, is left as it was. */
int fs_write_atomic(
    const char *path, const void *data, size_t len, mode_t mode);
/* Read a whole regular file (at most max bytes) into a malloc'ed
 * NUL-terminated buffer; NULL on error (errno set, EFBIG if too large,
 * EINVAL if path is not a regular file: a FIFO, device or directory is
 * refused without blocking). */
char *fs_read_file(const char *path, size_t max, size_t *len);
/* The same for a path the user names (--conf, --cert-path, --key-path):
 * a symbolic link is followed (certbot's live/ files are links); the
 * target must still be a regular file.  O_NOFOLLOW stays for the files
 * the programs create in their own directories (fs_read_file). */
char *fs_read_user_file(const char *path, size_t max, size_t *len);
/* mkdir -p with the given mode for directories it creates.  0 / -1. */
int fs_mkdirs(const char *path, mode_t mode);
/*
 * Permission check: 0 if path exists, is not a symlink, is owned by uid
 * (or root) and has none of the bits in forbidden (e.g. S_IWGRP|S_IWOTH).
 * -1 with a logged reason naming the path otherwise.
 */
int fs_check_perms(const char *path, uid_t uid, mode_t forbidden);
bool fs_exists(const char *path);

#endif
