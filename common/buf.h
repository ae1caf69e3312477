/*
 * buf: growable byte buffer, always NUL-terminated (data[len] == 0), with a
 * hard size cap so input from outside can never grow it without bound.
 */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NULL until the first append; always NUL-terminated */
	size_t len;
	size_t cap;
	size_t max; /* 0 = BUF_DEFAULT_MAX */
};

#define BUF_DEFAULT_MAX (64u * 1024 * 1024)

void buf_init(struct buf *b, size_t max);
/* Append; return 0, or -1 (errno ENOMEM or EFBIG) leaving b unchanged. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void buf_reset(struct buf *b);
/* Take the data out (caller frees); b is reset.  Never NULL on success:
 * an empty buffer gives "".  NULL on allocation failure. */
char *buf_steal(struct buf *b);
/* Free the data; with wipe, explicit_bzero() it first. */
void buf_free(struct buf *b);
void buf_free_secret(struct buf *b);

#endif
