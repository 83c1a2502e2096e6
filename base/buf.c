/*
 * buf.c: struct base_buf, the capped growable buffer.
 */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/banned.h"

char base__buf_empty[1];

void base_buf_init(struct base_buf *b, size_t max)
{
	b->data = base__buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void base_buf_release(struct base_buf *b)
{
	if (b->alloc)
		base_free(b->data);
	base_buf_init(b, b->max);
}

void base_buf_reset(struct base_buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

int base_buf_grow(struct base_buf *b, size_t extra)
{
	if (extra > b->max || b->len > b->max - extra)
		return BASE_E_TOOBIG;
	size_t need = b->len + extra + 1;
	if (need <= b->alloc)
		return BASE_OK;
	size_t n = b->alloc ? b->alloc : 64;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	char *p = base_tryrealloc(b->alloc ? b->data : NULL, n);
	if (!p)
		return BASE_E_NOMEM;
	if (!b->alloc)
		p[0] = '\0';
	b->data = p;
	b->alloc = n;
	return BASE_OK;
}

int base_buf_add(struct base_buf *b, const void *data, size_t len)
{
	int rc = base_buf_grow(b, len);
	if (rc)
		return rc;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return BASE_OK;
}

int base_buf_adds(struct base_buf *b, const char *s)
{
	return base_buf_add(b, s, strlen(s));
}

int base_buf_addc(struct base_buf *b, char c)
{
	return base_buf_add(b, &c, 1);
}

int base_buf_vaddf(struct base_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return BASE_E_INVAL;
	int rc = base_buf_grow(b, (size_t)n);
	if (rc)
		return rc;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return BASE_OK;
}

int base_buf_addf(struct base_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = base_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void base_buf_truncate(struct base_buf *b, size_t len)
{
	BASE_ASSERT(len <= b->len);
	b->len = len;
	b->data[len] = '\0';
}

char *base_buf_detach(struct base_buf *b, size_t *len)
{
	char *p;
	if (len)
		*len = b->len;
	if (b->alloc)
		p = b->data;
	else
		p = base_strndup("", 0);
	base_buf_init(b, b->max);
	return p;
}

int base_buf_read_file(struct base_buf *b, const char *path, struct base_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return base_err_errno(err, BASE_E_IO, errno, "cannot open %s", path);
	struct stat st;
	int rc = BASE_OK;
	base_buf_reset(b);
	if (fstat(fd, &st) == 0 && st.st_size > 0) {
		rc = base_buf_grow(b, (size_t)st.st_size);
		if (rc) {
			base_err_set(err, rc, "%s: %s", path, rc == BASE_E_TOOBIG ? "file too large" : "out of memory");
			goto out;
		}
	}
	for (;;) {
		rc = base_buf_grow(b, 65536 > b->max - b->len ? b->max - b->len : 65536);
		if (rc || b->alloc - b->len - 1 == 0) {
			/* at the cap: one more byte means too big */
			char c;
			ssize_t n = read(fd, &c, 1);
			if (n > 0) {
				rc = base_err_set(err, BASE_E_TOOBIG, "%s: file too large", path);
				goto out;
			}
			rc = BASE_OK;
			break;
		}
		ssize_t n = read(fd, b->data + b->len, b->alloc - b->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = base_err_errno(err, BASE_E_IO, errno, "cannot read %s", path);
			goto out;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	b->data[b->len] = '\0';
out:
	close(fd);
	if (rc)
		base_buf_reset(b);
	return rc;
}
