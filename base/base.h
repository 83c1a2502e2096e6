/*
 * base: the small primitives every lode module shares.
 *
 *   - status codes (enum base_status) and an error record (struct base_err)
 *   - a hookable allocator with a live-allocation counter for leak tests
 *   - struct base_buf, a growable, capped, always NUL-terminated buffer
 *   - BASE_VEC, the one family of typed dynamic-array macros
 *   - logging through a sink installed once by the program
 *   - identifier splitting shared by the lexical index and the embedders
 *
 * Invariants:
 *   - Fallible functions return int: BASE_OK (0) or a negative base_status.
 *   - A trailing `struct base_err *err` (may be NULL) is written only on
 *     failure, so calls can be chained and the first error kept.
 *   - base never prints, exits or aborts except on a failed BASE_ASSERT or
 *     on out-of-memory in a fixed-size allocation.
 *
 * This header must stay a low-level primitive: nothing here knows about
 * files, indexes, models or HTTP.
 */
#ifndef LODE_BASE_H
#define LODE_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define BASE_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define BASE_NORETURN __attribute__((noreturn))
#define BASE_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define BASE_PRINTF(fmt, args)
#define BASE_NORETURN
#define BASE_WARN_UNUSED
#endif

#define BASE_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define BASE_MIN(a, b) ((a) < (b) ? (a) : (b))
#define BASE_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ------------------------------------------------------------------------
 * Status codes. Append only; a value's number never changes.
 * ------------------------------------------------------------------------ */

#define BASE_STATUS_MAP(X)                                          \
	X(OK, 0, "success")                                         \
	X(E_API, -1, "API misuse")                                  \
	X(E_NOMEM, -2, "out of memory")                             \
	X(E_IO, -3, "I/O error")                                    \
	X(E_INVAL, -4, "invalid argument")                          \
	X(E_PARSE, -5, "malformed input")                           \
	X(E_NOTFOUND, -6, "not found")                              \
	X(E_CORRUPT, -7, "corrupt index")                           \
	X(E_BUSY, -8, "locked by another process")                  \
	X(E_DB, -9, "database error")                               \
	X(E_TOOBIG, -10, "too large")                               \
	X(E_DEVICE, -11, "device error")                            \
	X(E_UNSUPPORTED, -12, "unsupported")                        \
	X(E_INTERRUPTED, -13, "interrupted")

enum base_status {
#define BASE__STATUS_ENUM(name, value, text) BASE_##name = value,
	BASE_STATUS_MAP(BASE__STATUS_ENUM)
#undef BASE__STATUS_ENUM
};

/** The enum constant's name without prefix ("E_IO"), or "UNKNOWN". */
const char *base_status_name(int status);
/** A short human text ("I/O error"), or "unknown error". */
const char *base_status_str(int status);

#define BASE_ERR_MSG 256

/** Detail for a failed call. Written only on failure. */
struct base_err {
	int code;
	char msg[BASE_ERR_MSG];
};

/**
 * Record an error in `err` (if not NULL) and return `code`, so that
 * `return base_err_set(err, BASE_E_IO, "cannot read %s", path);` works.
 */
int base_err_set(struct base_err *err, int code, const char *fmt, ...) BASE_PRINTF(3, 4);
/** As base_err_set, appending ": strerror(errnum)". */
int base_err_errno(struct base_err *err, int code, int errnum, const char *fmt, ...) BASE_PRINTF(4, 5);

/* ------------------------------------------------------------------------
 * Asserts: BASE_ASSERT stays on in release builds (index invariants);
 * BASE_DASSERT is for expensive checks in debug builds only. Never assert
 * on external input.
 * ------------------------------------------------------------------------ */

BASE_NORETURN void base__assert_fail(const char *expr, const char *file, int line);

#define BASE_ASSERT(x)                                              \
	do {                                                        \
		if (!(x))                                           \
			base__assert_fail(#x, __FILE__, __LINE__);  \
	} while (0)

#ifdef NDEBUG
#define BASE_DASSERT(x) ((void)0)
#else
#define BASE_DASSERT(x) BASE_ASSERT(x)
#endif

/* ------------------------------------------------------------------------
 * Allocation. base_malloc & co abort on OOM (for fixed-size internal
 * allocations); base_trymalloc/base_tryrealloc return NULL (for sizes that
 * come from input). All go through one hook, set once at start-up.
 * ------------------------------------------------------------------------ */

struct base_allocator {
	void *(*malloc)(size_t size);
	void *(*realloc)(void *ptr, size_t size);
	void (*free)(void *ptr);
};

/** Replace the allocator. Call before any allocation; NULL restores libc. */
void base_set_allocator(const struct base_allocator *a);
/** Number of live allocations made through base (for leak tests). */
long base_alloc_live(void);

void *base_malloc(size_t size);
void *base_calloc(size_t n, size_t size);
void *base_realloc(void *ptr, size_t size);
void *base_trymalloc(size_t size);
void *base_tryrealloc(void *ptr, size_t size);
void base_free(void *ptr);
char *base_strdup(const char *s);
char *base_strndup(const char *s, size_t n);
/** printf into a fresh heap string. */
char *base_strfmt(const char *fmt, ...) BASE_PRINTF(1, 2);

/* ------------------------------------------------------------------------
 * struct base_buf: growable byte buffer.
 *
 * `data` is never NULL and always NUL-terminated (it points at a shared
 * empty string until the first append). `len` excludes the NUL. Every
 * buffer has a maximum length fixed at init; appends past it fail with
 * BASE_E_TOOBIG and leave the buffer unchanged. `alloc` is private.
 * ------------------------------------------------------------------------ */

/* Named caps for buffers, in one place. */
#define BASE_CAP_FILE ((size_t)256 << 20)   /* one source file read whole */
#define BASE_CAP_QUERY ((size_t)1 << 20)    /* one search query */
#define BASE_CAP_TEXT ((size_t)64 << 20)    /* generated text, JSON output */
#define BASE_CAP_LINE ((size_t)64 << 10)    /* one line of a config file */

struct base_buf {
	char *data;
	size_t len;
	size_t alloc; /* private */
	size_t max;   /* private */
};

extern char base__buf_empty[];
#define BASE_BUF_INIT(cap) { base__buf_empty, 0, 0, (cap) }

void base_buf_init(struct base_buf *b, size_t max);
/** Free the contents; the buffer is empty and reusable (same cap). */
void base_buf_release(struct base_buf *b);
/** Keep the allocation, set len to 0. */
void base_buf_reset(struct base_buf *b);
/** Make room for `extra` more bytes. */
int base_buf_grow(struct base_buf *b, size_t extra) BASE_WARN_UNUSED;
int base_buf_add(struct base_buf *b, const void *data, size_t len) BASE_WARN_UNUSED;
int base_buf_adds(struct base_buf *b, const char *s) BASE_WARN_UNUSED;
int base_buf_addc(struct base_buf *b, char c) BASE_WARN_UNUSED;
int base_buf_addf(struct base_buf *b, const char *fmt, ...) BASE_PRINTF(2, 3) BASE_WARN_UNUSED;
int base_buf_vaddf(struct base_buf *b, const char *fmt, va_list ap) BASE_WARN_UNUSED;
/** Shorten to `len` (must be <= b->len). */
void base_buf_truncate(struct base_buf *b, size_t len);
/** Hand the heap string to the caller (free with base_free); b is reset. */
char *base_buf_detach(struct base_buf *b, size_t *len);

/**
 * Read a whole file into `b` (replacing its contents). Fails with
 * BASE_E_TOOBIG when the file is longer than the buffer's cap.
 */
int base_buf_read_file(struct base_buf *b, const char *path, struct base_err *err);

/* ------------------------------------------------------------------------
 * BASE_VEC: typed dynamic arrays. The only generic-macro family in lode.
 *
 *   BASE_VEC(int) v = BASE_VEC_INIT;
 *   base_vec_push(&v, 3);
 *   int x = base_vec_get(&v, 0);
 *   base_vec_release(&v);
 * ------------------------------------------------------------------------ */

#define BASE_VEC(T) struct { T *v; size_t n, cap; }
#define BASE_VEC_INIT { NULL, 0, 0 }

void base__vec_grow(void **v, size_t *cap, size_t need, size_t elem);

#define base_vec_reserve(vec, need)                                               \
	do {                                                                      \
		if ((need) > (vec)->cap)                                          \
			base__vec_grow((void **)&(vec)->v, &(vec)->cap, (need),   \
				       sizeof(*(vec)->v));                        \
	} while (0)
#define base_vec_push(vec, x)                                                     \
	do {                                                                      \
		base_vec_reserve((vec), (vec)->n + 1);                            \
		(vec)->v[(vec)->n++] = (x);                                       \
	} while (0)
#define base_vec_get(vec, i) ((vec)->v[base__vec_check((i), (vec)->n)])
#define base_vec_last(vec) ((vec)->v[base__vec_check((vec)->n - 1, (vec)->n)])
#define base_vec_release(vec)                                                     \
	do {                                                                      \
		base_free((vec)->v);                                              \
		(vec)->v = NULL;                                                  \
		(vec)->n = (vec)->cap = 0;                                        \
	} while (0)

static inline size_t base__vec_check(size_t i, size_t n)
{
	BASE_ASSERT(i < n);
	return i;
}

/* ------------------------------------------------------------------------
 * Logging. Modules call BASE_LOG; the program installs one sink. The level
 * is checked before the arguments are evaluated.
 * ------------------------------------------------------------------------ */

enum base_log_level {
	BASE_LOG_ERROR = 0,
	BASE_LOG_WARN = 1,
	BASE_LOG_INFO = 2,
	BASE_LOG_DEBUG = 3,
};

typedef void base_log_fn(void *payload, enum base_log_level level, const char *msg);

/** Install the sink (NULL: discard) and the most verbose level it takes. */
void base_log_set(base_log_fn *fn, void *payload, enum base_log_level max_level);

extern enum base_log_level base__log_level;
void base__log(enum base_log_level level, const char *fmt, ...) BASE_PRINTF(2, 3);

#define BASE_LOG(level, ...)                                        \
	do {                                                        \
		if ((level) <= base__log_level)                     \
			base__log((level), __VA_ARGS__);            \
	} while (0)

/* ------------------------------------------------------------------------
 * Time.
 * ------------------------------------------------------------------------ */

/** Monotonic clock in nanoseconds. */
uint64_t base_now_ns(void);

/* ------------------------------------------------------------------------
 * Identifier words: how code text is cut into searchable words.
 *
 * A word is a maximal run of ASCII letters, digits, '_' and non-ASCII
 * bytes (UTF-8 sequences stay whole). A word's parts split it further at
 * '_', at lower->Upper changes ("parseHttp" -> parse|Http), at the end of
 * an upper-case run before a capitalised word ("HTTPServer" -> HTTP|Server)
 * and at letter/digit changes ("utf8proc" -> utf|8|proc).
 * ------------------------------------------------------------------------ */

struct base_span {
	uint32_t off;
	uint32_t len;
};

/** Is `c` a byte that can be part of a word? */
static inline bool base_is_word_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c >= 0x80;
}

/**
 * Find the next word in s[*pos, len). On success sets *word and advances
 * *pos past it; returns false at the end of the text.
 */
bool base_word_next(const char *s, size_t len, size_t *pos, struct base_span *word);

/**
 * Split a word into its parts. Writes at most `max` spans (offsets relative
 * to `w`) and returns the number of parts found (which may exceed `max`).
 * Underscores are never part of a part.
 */
size_t base_word_parts(const char *w, size_t len, struct base_span *parts, size_t max);

/** Lower-case ASCII letters of s[0,len) into out (len bytes; no NUL). */
void base_ascii_lower(const char *s, size_t len, char *out);

#endif /* LODE_BASE_H */
