/*
 * base.c: status codes, errors, asserts, the allocator hook, logging, time.
 */
#include "base/base.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/banned.h"

/* ---- status ---------------------------------------------------------- */

const char *base_status_name(int status)
{
	switch (status) {
#define X(name, value, text) \
	case value:          \
		return #name;
		BASE_STATUS_MAP(X)
#undef X
	}
	return "UNKNOWN";
}

const char *base_status_str(int status)
{
	switch (status) {
#define X(name, value, text) \
	case value:          \
		return text;
		BASE_STATUS_MAP(X)
#undef X
	}
	return "unknown error";
}

static int err_vset(struct base_err *err, int code, int errnum, const char *fmt, va_list ap)
{
	if (!err)
		return code;
	err->code = code;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	if (errnum) {
		size_t n = strlen(err->msg);
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	}
	return code;
}

int base_err_set(struct base_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, code, 0, fmt, ap);
	va_end(ap);
	return code;
}

int base_err_errno(struct base_err *err, int code, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	err_vset(err, code, errnum, fmt, ap);
	va_end(ap);
	return code;
}

void base__assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "lode: internal error: assertion failed: %s (%s:%d)\n", expr, file, line);
	fflush(stderr);
	abort();
}

/* ---- allocation ------------------------------------------------------ */

static struct base_allocator alloc_fns = { malloc, realloc, free };
static atomic_long alloc_live;

void base_set_allocator(const struct base_allocator *a)
{
	static const struct base_allocator libc = { malloc, realloc, free };
	alloc_fns = a ? *a : libc;
}

long base_alloc_live(void)
{
	return atomic_load(&alloc_live);
}

static BASE_NORETURN void oom(size_t size)
{
	fprintf(stderr, "lode: out of memory allocating %zu bytes\n", size);
	abort();
}

void *base_trymalloc(size_t size)
{
	void *p = alloc_fns.malloc(size ? size : 1);
	if (p)
		atomic_fetch_add(&alloc_live, 1);
	return p;
}

void *base_tryrealloc(void *ptr, size_t size)
{
	void *p = alloc_fns.realloc(ptr, size ? size : 1);
	if (p && !ptr)
		atomic_fetch_add(&alloc_live, 1);
	return p;
}

void *base_malloc(size_t size)
{
	void *p = base_trymalloc(size);
	if (!p)
		oom(size);
	return p;
}

void *base_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		oom(SIZE_MAX);
	void *p = base_malloc(n * size);
	memset(p, 0, n * size);
	return p;
}

void *base_realloc(void *ptr, size_t size)
{
	void *p = base_tryrealloc(ptr, size);
	if (!p)
		oom(size);
	return p;
}

void base_free(void *ptr)
{
	if (!ptr)
		return;
	atomic_fetch_sub(&alloc_live, 1);
	alloc_fns.free(ptr);
}

char *base_strndup(const char *s, size_t n)
{
	char *p = base_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *base_strdup(const char *s)
{
	return base_strndup(s, strlen(s));
}

char *base_strfmt(const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	BASE_ASSERT(n >= 0);
	char *p = base_malloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

void base__vec_grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 8;
	while (n < need)
		n *= 2;
	if (n > SIZE_MAX / elem)
		oom(SIZE_MAX);
	*v = base_realloc(*v, n * elem);
	*cap = n;
}

/* ---- logging --------------------------------------------------------- */

enum base_log_level base__log_level = BASE_LOG_ERROR;
static base_log_fn *log_fn;
static void *log_payload;

void base_log_set(base_log_fn *fn, void *payload, enum base_log_level max_level)
{
	log_fn = fn;
	log_payload = payload;
	base__log_level = fn ? max_level : BASE_LOG_ERROR;
}

void base__log(enum base_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!log_fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(log_payload, level, msg);
}

/* ---- time ------------------------------------------------------------ */

uint64_t base_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
