/*
 * gguf.c: GGUF parsing. Everything is validated in gguf__parse, so the
 * accessors need no error paths. Every read goes through struct rd, which
 * checks the remaining length first; counts are checked against the bytes
 * left before anything is allocated for them, so a 100-byte file cannot ask
 * for a 2^60-element table.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embed/gguf.h"

#include "base/banned.h"

#define GGUF_MAGIC "GGUF"
/* Arrays of arrays deeper than this are refused: the parser recurses. */
#define GGUF_MAX_NEST 8

struct gguf_arr {
	uint32_t type;
	uint64_t n;
	const unsigned char *data;    /* fixed-size element types */
	struct gguf_str *strs;        /* GGUF_TYPE_STRING */
	struct gguf_arr *arrs;        /* GGUF_TYPE_ARRAY */
};

struct gguf_kv {
	char *key;
	uint32_t type;
	union {
		uint64_t u;
		int64_t i;
		double f;
		bool b;
		struct gguf_str s;
		struct gguf_arr arr;
	} v;
};

struct gguf {
	char *name;
	const unsigned char *base;
	size_t size;
	bool mapped;
	uint32_t version;
	uint32_t alignment;
	size_t n_kv;
	struct gguf_kv *kv;
	size_t n_tensors;
	struct gguf_tensor *tensors;
};

/* ---- tensor types ------------------------------------------------------ */

struct type_info {
	const char *name;
	uint32_t block;
	uint32_t size;
};

static const struct type_info type_table[] = {
	[GGUF_GGML_F32] = { "f32", 1, 4 },
	[GGUF_GGML_F16] = { "f16", 1, 2 },
	[GGUF_GGML_Q4_0] = { "q4_0", 32, 18 },
	[GGUF_GGML_Q4_1] = { "q4_1", 32, 20 },
	[GGUF_GGML_Q5_0] = { "q5_0", 32, 22 },
	[GGUF_GGML_Q5_1] = { "q5_1", 32, 24 },
	[GGUF_GGML_Q8_0] = { "q8_0", 32, 34 },
	[GGUF_GGML_Q8_1] = { "q8_1", 32, 36 },
	[GGUF_GGML_Q2_K] = { "q2_K", 256, 84 },
	[GGUF_GGML_Q3_K] = { "q3_K", 256, 110 },
	[GGUF_GGML_Q4_K] = { "q4_K", 256, 144 },
	[GGUF_GGML_Q5_K] = { "q5_K", 256, 176 },
	[GGUF_GGML_Q6_K] = { "q6_K", 256, 210 },
	[GGUF_GGML_Q8_K] = { "q8_K", 256, 292 },
	[GGUF_GGML_I8] = { "i8", 1, 1 },
	[GGUF_GGML_I16] = { "i16", 1, 2 },
	[GGUF_GGML_I32] = { "i32", 1, 4 },
	[GGUF_GGML_I64] = { "i64", 1, 8 },
	[GGUF_GGML_F64] = { "f64", 1, 8 },
	[GGUF_GGML_BF16] = { "bf16", 1, 2 },
};

/*
 * ggml type ids that exist but that lode does not size (the IQ quants and
 * ternary types): a file using them is valid but unsupported, not corrupt.
 */
static bool known_unsized(uint32_t type)
{
	return (type >= 16 && type <= 23) || type == 29 || (type >= 31 && type <= 39);
}

const char *gguf_ggml_type_name(uint32_t type)
{
	return type < BASE_ARRAY_LEN(type_table) ? type_table[type].name : NULL;
}

uint32_t gguf_ggml_type_block(uint32_t type)
{
	return type < BASE_ARRAY_LEN(type_table) ? type_table[type].block : 0;
}

uint32_t gguf_ggml_type_size(uint32_t type)
{
	return type < BASE_ARRAY_LEN(type_table) ? type_table[type].size : 0;
}

static const char *const value_type_names[GGUF_TYPE_COUNT] = {
	"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
	"bool", "string", "array", "uint64", "int64", "float64",
};

/* Bytes of one element of a fixed-size value type; 0 for string/array. */
static size_t value_size(uint32_t type)
{
	switch (type) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
	case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
	case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
	case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
	default: return 0;
	}
}

/* ---- the reader ---------------------------------------------------------- */

struct rd {
	const unsigned char *p;
	size_t size;
	size_t pos;
	const char *name;
	struct base_err *err;
	char ctx[160]; /* what is being read, for messages */
};

static int rd_fail(struct rd *r, const char *what)
{
	return base_err_set(r->err, BASE_E_PARSE, "%s: %s: %s (at byte %zu of %zu)", r->name, r->ctx, what,
			    r->pos, r->size);
}

static size_t rd_left(const struct rd *r)
{
	return r->size - r->pos;
}

static int rd_bytes(struct rd *r, size_t n, const unsigned char **out)
{
	if (n > rd_left(r))
		return rd_fail(r, "unexpected end of file");
	*out = r->p + r->pos;
	r->pos += n;
	return BASE_OK;
}

static uint64_t load_le(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = n; i-- > 0;)
		v = (v << 8) | p[i];
	return v;
}

static int rd_u32(struct rd *r, uint32_t *out)
{
	const unsigned char *p = NULL;
	int rc = rd_bytes(r, 4, &p);
	if (rc == BASE_OK)
		*out = (uint32_t)load_le(p, 4);
	return rc;
}

static int rd_u64(struct rd *r, uint64_t *out)
{
	const unsigned char *p = NULL;
	int rc = rd_bytes(r, 8, &p);
	if (rc == BASE_OK)
		*out = load_le(p, 8);
	return rc;
}

static int rd_str(struct rd *r, struct gguf_str *out)
{
	uint64_t len = 0;
	int rc = rd_u64(r, &len);
	if (rc != BASE_OK)
		return rc;
	if (len > rd_left(r))
		return rd_fail(r, "string length past end of file");
	out->ptr = (const char *)r->p + r->pos;
	out->len = (size_t)len;
	r->pos += (size_t)len;
	return BASE_OK;
}

/* A NUL-terminated heap copy of a key or tensor name. */
static int rd_name(struct rd *r, char **out)
{
	struct gguf_str s = { NULL, 0 };
	int rc = rd_str(r, &s);
	if (rc != BASE_OK)
		return rc;
	if (s.len == 0)
		return rd_fail(r, "empty name");
	if (memchr(s.ptr, '\0', s.len))
		return rd_fail(r, "name contains a NUL byte");
	*out = base_trymalloc(s.len + 1);
	if (!*out)
		return base_err_set(r->err, BASE_E_NOMEM, "%s: %s: out of memory", r->name, r->ctx);
	memcpy(*out, s.ptr, s.len);
	(*out)[s.len] = '\0';
	return BASE_OK;
}

static void arr_release(struct gguf_arr *a)
{
	if (a->arrs) {
		for (uint64_t i = 0; i < a->n; i++)
			arr_release(&a->arrs[i]);
		base_free(a->arrs);
	}
	base_free(a->strs);
	a->arrs = NULL;
	a->strs = NULL;
}

static int rd_arr(struct rd *r, struct gguf_arr *a, int depth)
{
	memset(a, 0, sizeof(*a));
	int rc = rd_u32(r, &a->type);
	if (rc == BASE_OK)
		rc = rd_u64(r, &a->n);
	if (rc != BASE_OK)
		return rc;
	if (a->type >= GGUF_TYPE_COUNT)
		return rd_fail(r, "unknown array element type");
	size_t es = value_size(a->type);
	if (es) {
		if (a->n > rd_left(r) / es)
			return rd_fail(r, "array length past end of file");
		a->data = r->p + r->pos;
		r->pos += (size_t)a->n * es;
		return BASE_OK;
	}
	if (a->type == GGUF_TYPE_STRING) {
		if (a->n > rd_left(r) / 8)
			return rd_fail(r, "array length past end of file");
		if (a->n == 0)
			return BASE_OK;
		a->strs = base_trymalloc((size_t)a->n * sizeof(*a->strs));
		if (!a->strs)
			return base_err_set(r->err, BASE_E_NOMEM, "%s: %s: out of memory", r->name, r->ctx);
		for (uint64_t i = 0; i < a->n; i++) {
			rc = rd_str(r, &a->strs[i]);
			if (rc != BASE_OK)
				return rc;
		}
		return BASE_OK;
	}
	/* an array of arrays: each element is at least a type and a count */
	if (depth >= GGUF_MAX_NEST)
		return rd_fail(r, "arrays nested too deep");
	if (a->n > rd_left(r) / 12)
		return rd_fail(r, "array length past end of file");
	if (a->n == 0)
		return BASE_OK;
	a->arrs = base_trymalloc((size_t)a->n * sizeof(*a->arrs));
	if (!a->arrs)
		return base_err_set(r->err, BASE_E_NOMEM, "%s: %s: out of memory", r->name, r->ctx);
	uint64_t want = a->n;
	a->n = 0; /* count of initialised elements, for arr_release */
	for (uint64_t i = 0; i < want; i++) {
		rc = rd_arr(r, &a->arrs[i], depth + 1);
		a->n++;
		if (rc != BASE_OK)
			return rc;
	}
	return BASE_OK;
}

static int rd_value(struct rd *r, struct gguf_kv *kv)
{
	size_t es = value_size(kv->type);
	if (es) {
		const unsigned char *p = NULL;
		int rc = rd_bytes(r, es, &p);
		if (rc != BASE_OK)
			return rc;
		uint64_t u = load_le(p, es);
		switch (kv->type) {
		case GGUF_TYPE_INT8: kv->v.i = (int8_t)u; break;
		case GGUF_TYPE_INT16: kv->v.i = (int16_t)u; break;
		case GGUF_TYPE_INT32: kv->v.i = (int32_t)u; break;
		case GGUF_TYPE_INT64: kv->v.i = (int64_t)u; break;
		case GGUF_TYPE_FLOAT32: {
			float f;
			uint32_t w = (uint32_t)u;
			memcpy(&f, &w, 4);
			kv->v.f = f;
			break;
		}
		case GGUF_TYPE_FLOAT64: memcpy(&kv->v.f, &u, 8); break;
		case GGUF_TYPE_BOOL:
			if (u > 1)
				return rd_fail(r, "bool value is neither 0 nor 1");
			kv->v.b = u != 0;
			break;
		default: kv->v.u = u; break;
		}
		return BASE_OK;
	}
	if (kv->type == GGUF_TYPE_STRING)
		return rd_str(r, &kv->v.s);
	if (kv->type == GGUF_TYPE_ARRAY)
		return rd_arr(r, &kv->v.arr, 0);
	return rd_fail(r, "unknown value type");
}

static void ctx_set(struct rd *r, const char *fmt, ...) BASE_PRINTF(2, 3);
static void ctx_set(struct rd *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->ctx, sizeof(r->ctx), fmt, ap);
	va_end(ap);
}

/* ---- parse --------------------------------------------------------------- */

static void gguf_free_tables(struct gguf *g)
{
	for (size_t i = 0; i < g->n_kv; i++) {
		base_free(g->kv[i].key);
		if (g->kv[i].type == GGUF_TYPE_ARRAY)
			arr_release(&g->kv[i].v.arr);
	}
	base_free(g->kv);
	for (size_t i = 0; i < g->n_tensors; i++)
		base_free((char *)g->tensors[i].name);
	base_free(g->tensors);
	g->kv = NULL;
	g->tensors = NULL;
	g->n_kv = g->n_tensors = 0;
}

static int parse_header(struct gguf *g, struct rd *r, uint64_t *n_tensors, uint64_t *n_kv)
{
	const unsigned char *magic = NULL;
	ctx_set(r, "header");
	int rc = rd_bytes(r, 4, &magic);
	if (rc != BASE_OK)
		return rc;
	if (memcmp(magic, GGUF_MAGIC, 4) != 0) {
		r->pos = 0;
		return rd_fail(r, "not a GGUF file (bad magic)");
	}
	ctx_set(r, "version");
	rc = rd_u32(r, &g->version);
	if (rc != BASE_OK)
		return rc;
	if (g->version == 0x02000000 || g->version == 0x03000000)
		return base_err_set(r->err, BASE_E_UNSUPPORTED, "%s: big-endian GGUF files are not supported",
				    r->name);
	if (g->version == 1)
		return base_err_set(r->err, BASE_E_UNSUPPORTED, "%s: GGUF version 1 is not supported", r->name);
	if (g->version != 2 && g->version != 3)
		return rd_fail(r, "unknown version");
	ctx_set(r, "tensor count");
	rc = rd_u64(r, n_tensors);
	if (rc != BASE_OK)
		return rc;
	/* a tensor description takes at least 32 bytes, a key/value 13 */
	if (*n_tensors > rd_left(r) / 32)
		return rd_fail(r, "count larger than the file can hold");
	ctx_set(r, "key/value count");
	rc = rd_u64(r, n_kv);
	if (rc != BASE_OK)
		return rc;
	if (*n_kv > rd_left(r) / 13)
		return rd_fail(r, "count larger than the file can hold");
	return BASE_OK;
}

static int parse_kv(struct gguf *g, struct rd *r, uint64_t n_kv)
{
	if (n_kv) {
		g->kv = base_trymalloc((size_t)n_kv * sizeof(*g->kv));
		if (!g->kv)
			return base_err_set(r->err, BASE_E_NOMEM, "%s: out of memory", r->name);
	}
	for (uint64_t i = 0; i < n_kv; i++) {
		struct gguf_kv *kv = &g->kv[i];
		memset(kv, 0, sizeof(*kv));
		ctx_set(r, "key %" PRIu64, i);
		int rc = rd_name(r, &kv->key);
		if (rc != BASE_OK)
			return rc;
		g->n_kv++;
		ctx_set(r, "key %" PRIu64 " '%.100s'", i, kv->key);
		for (size_t j = 0; j < i; j++)
			if (strcmp(g->kv[j].key, kv->key) == 0)
				return rd_fail(r, "duplicate key");
		rc = rd_u32(r, &kv->type);
		if (rc != BASE_OK)
			return rc;
		if (kv->type >= GGUF_TYPE_COUNT) {
			kv->type = GGUF_TYPE_UINT8; /* nothing to release */
			return rd_fail(r, "unknown value type");
		}
		rc = rd_value(r, kv);
		if (rc != BASE_OK)
			return rc;
		if (strcmp(kv->key, "general.alignment") == 0) {
			if (kv->type != GGUF_TYPE_UINT32)
				return rd_fail(r, "alignment is not a uint32");
			if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)) != 0)
				return rd_fail(r, "alignment is not a power of two");
			g->alignment = (uint32_t)kv->v.u;
		}
	}
	return BASE_OK;
}

static int parse_tensor_info(struct gguf *g, struct rd *r, uint64_t i)
{
	struct gguf_tensor *t = &g->tensors[i];
	memset(t, 0, sizeof(*t));
	ctx_set(r, "tensor %" PRIu64, i);
	char *name = NULL;
	int rc = rd_name(r, &name);
	if (rc != BASE_OK)
		return rc;
	t->name = name;
	g->n_tensors++;
	ctx_set(r, "tensor %" PRIu64 " '%.100s'", i, t->name);
	for (size_t j = 0; j < i; j++)
		if (strcmp(g->tensors[j].name, t->name) == 0)
			return rd_fail(r, "duplicate tensor name");
	rc = rd_u32(r, &t->n_dims);
	if (rc != BASE_OK)
		return rc;
	if (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)
		return rd_fail(r, "number of dimensions is not 1..4");
	uint64_t n = 1;
	for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
		t->ne[d] = 1;
		if (d >= t->n_dims)
			continue;
		rc = rd_u64(r, &t->ne[d]);
		if (rc != BASE_OK)
			return rc;
		if (t->ne[d] > (uint64_t)INT64_MAX)
			return rd_fail(r, "dimension too large");
		if (t->ne[d] != 0 && n > (uint64_t)INT64_MAX / t->ne[d])
			return rd_fail(r, "element count overflows");
		n *= t->ne[d];
	}
	t->n_elements = n;
	rc = rd_u32(r, &t->type);
	if (rc != BASE_OK)
		return rc;
	uint32_t block = gguf_ggml_type_block(t->type);
	if (block == 0) {
		if (known_unsized(t->type))
			return base_err_set(r->err, BASE_E_UNSUPPORTED, "%s: %s: tensor type %u is not supported",
					    r->name, r->ctx, t->type);
		return rd_fail(r, "unknown tensor type");
	}
	if (t->ne[0] % block != 0)
		return rd_fail(r, "row length is not a multiple of the type's block size");
	uint64_t blocks = n / block, bsize = gguf_ggml_type_size(t->type);
	if (blocks > UINT64_MAX / bsize)
		return rd_fail(r, "byte size overflows");
	t->nbytes = blocks * bsize;
	return rd_u64(r, &t->offset);
}

static int cmp_by_offset(const void *a, const void *b)
{
	const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
	const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Place every tensor's bytes inside the data section, aligned, disjoint. */
static int place_tensors(struct gguf *g, struct rd *r)
{
	if (g->n_tensors == 0)
		return BASE_OK;
	size_t a = g->alignment;
	size_t pad = (a - r->pos % a) % a;
	ctx_set(r, "data section");
	if (pad > rd_left(r))
		return rd_fail(r, "data section starts past end of file");
	size_t start = r->pos + pad;
	uint64_t avail = r->size - start;
	for (size_t i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor *t = &g->tensors[i];
		r->pos = start;
		ctx_set(r, "tensor %zu '%.100s'", i, t->name);
		if (t->offset % a != 0)
			return rd_fail(r, "data offset is not a multiple of the alignment");
		if (t->offset > avail)
			return rd_fail(r, "data offset past end of file");
		if (t->nbytes > avail - t->offset)
			return rd_fail(r, "data runs past end of file");
		t->data = g->base + start + t->offset;
	}
	const struct gguf_tensor **order = base_trymalloc(g->n_tensors * sizeof(*order));
	if (!order)
		return base_err_set(r->err, BASE_E_NOMEM, "%s: out of memory", r->name);
	for (size_t i = 0; i < g->n_tensors; i++)
		order[i] = &g->tensors[i];
	qsort(order, g->n_tensors, sizeof(*order), cmp_by_offset);
	int rc = BASE_OK;
	for (size_t i = 1; i < g->n_tensors; i++) {
		const struct gguf_tensor *p = order[i - 1], *t = order[i];
		if (p->offset + p->nbytes > t->offset) {
			rc = base_err_set(r->err, BASE_E_PARSE, "%s: tensor '%.100s': data overlaps tensor '%.100s'",
					  r->name, t->name, p->name);
			break;
		}
	}
	base_free(order);
	return rc;
}

static int gguf_parse(struct gguf *g, struct base_err *err)
{
	struct rd r = { .p = g->base, .size = g->size, .pos = 0, .name = g->name, .err = err };
	uint64_t n_tensors = 0, n_kv = 0;
	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	int rc = parse_header(g, &r, &n_tensors, &n_kv);
	if (rc == BASE_OK)
		rc = parse_kv(g, &r, n_kv);
	if (rc != BASE_OK)
		return rc;
	if (n_tensors) {
		g->tensors = base_trymalloc((size_t)n_tensors * sizeof(*g->tensors));
		if (!g->tensors)
			return base_err_set(err, BASE_E_NOMEM, "%s: out of memory", g->name);
	}
	for (uint64_t i = 0; i < n_tensors; i++) {
		rc = parse_tensor_info(g, &r, i);
		if (rc != BASE_OK)
			return rc;
	}
	return place_tensors(g, &r);
}

static struct gguf *gguf_new(const char *name)
{
	struct gguf *g = base_calloc(1, sizeof(*g));
	g->name = base_strdup(name);
	return g;
}

struct gguf *gguf_open_mem(const void *data, size_t size, const char *name, struct base_err *err)
{
	if (!data && size)
		return base_err_set(err, BASE_E_API, "gguf_open_mem: NULL data"), NULL;
	struct gguf *g = gguf_new(name ? name : "<memory>");
	g->base = data ? data : (const unsigned char *)"";
	g->size = size;
	if (gguf_parse(g, err) != BASE_OK) {
		gguf_close(g);
		return NULL;
	}
	return g;
}

struct gguf *gguf_open(const char *path, struct base_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		base_err_errno(err, e == ENOENT ? BASE_E_NOTFOUND : BASE_E_IO, e, "cannot open %s", path);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		base_err_errno(err, BASE_E_IO, errno, "cannot stat %s", path);
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		base_err_set(err, BASE_E_IO, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	struct gguf *g = gguf_new(path);
	g->size = (size_t)st.st_size;
	if (g->size == 0) {
		g->base = (const unsigned char *)"";
	} else {
		void *m = mmap(NULL, g->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			base_err_errno(err, BASE_E_IO, errno, "cannot map %s", path);
			close(fd);
			gguf_close(g);
			return NULL;
		}
		g->base = m;
		g->mapped = true;
	}
	close(fd);
	if (gguf_parse(g, err) != BASE_OK) {
		gguf_close(g);
		return NULL;
	}
	return g;
}

void gguf_close(struct gguf *g)
{
	if (!g)
		return;
	gguf_free_tables(g);
	if (g->mapped)
		munmap((void *)g->base, g->size);
	base_free(g->name);
	base_free(g);
}

uint32_t gguf_version(const struct gguf *g)
{
	return g->version;
}

uint32_t gguf_alignment(const struct gguf *g)
{
	return g->alignment;
}

const char *gguf_name(const struct gguf *g)
{
	return g->name;
}

/* ---- metadata ------------------------------------------------------------ */

size_t gguf_n_kv(const struct gguf *g)
{
	return g->n_kv;
}

const char *gguf_kv_key(const struct gguf *g, size_t i)
{
	BASE_ASSERT(i < g->n_kv);
	return g->kv[i].key;
}

enum gguf_type gguf_kv_type(const struct gguf *g, size_t i)
{
	BASE_ASSERT(i < g->n_kv);
	return (enum gguf_type)g->kv[i].type;
}

long gguf_find_key(const struct gguf *g, const char *key)
{
	for (size_t i = 0; i < g->n_kv; i++)
		if (strcmp(g->kv[i].key, key) == 0)
			return (long)i;
	return -1;
}

static const struct gguf_kv *get_kv(const struct gguf *g, const char *key, struct base_err *err)
{
	long i = gguf_find_key(g, key);
	if (i < 0) {
		base_err_set(err, BASE_E_NOTFOUND, "%s: key '%s' is missing", g->name, key);
		return NULL;
	}
	return &g->kv[i];
}

static int wrong_type(const struct gguf *g, const struct gguf_kv *kv, const char *want, struct base_err *err)
{
	return base_err_set(err, BASE_E_PARSE, "%s: key '%s': expected %s, found %s", g->name, kv->key, want,
			    value_type_names[kv->type]);
}

static bool is_signed_type(uint32_t t)
{
	return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 || t == GGUF_TYPE_INT64;
}

static bool is_int_type(uint32_t t)
{
	return is_signed_type(t) || t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
	       t == GGUF_TYPE_UINT64;
}

/* The value as a signed 128-bit-free pair: negative flag and magnitude. */
static int get_int(const struct gguf *g, const char *key, int64_t lo, uint64_t hi, bool *neg, uint64_t *mag,
		   struct base_err *err)
{
	const struct gguf_kv *kv = get_kv(g, key, err);
	if (!kv)
		return BASE_E_NOTFOUND;
	if (!is_int_type(kv->type))
		return wrong_type(g, kv, "an integer", err);
	*neg = is_signed_type(kv->type) && kv->v.i < 0;
	*mag = *neg ? (uint64_t)0 - (uint64_t)kv->v.i : kv->v.u;
	if ((*neg && (lo == 0 || *mag > (uint64_t)0 - (uint64_t)lo)) || (!*neg && *mag > hi))
		return base_err_set(err, BASE_E_PARSE, "%s: key '%s': value out of range", g->name, key);
	return BASE_OK;
}

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out, struct base_err *err)
{
	bool neg;
	uint64_t m;
	int rc = get_int(g, key, 0, UINT32_MAX, &neg, &m, err);
	if (rc == BASE_OK)
		*out = (uint32_t)m;
	return rc;
}

int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out, struct base_err *err)
{
	bool neg;
	uint64_t m;
	int rc = get_int(g, key, 0, UINT64_MAX, &neg, &m, err);
	if (rc == BASE_OK)
		*out = m;
	return rc;
}

int gguf_get_i32(const struct gguf *g, const char *key, int32_t *out, struct base_err *err)
{
	bool neg;
	uint64_t m;
	int rc = get_int(g, key, INT32_MIN, INT32_MAX, &neg, &m, err);
	if (rc == BASE_OK)
		*out = neg ? (int32_t)(-(int64_t)(m - 1) - 1) : (int32_t)m;
	return rc;
}

int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out, struct base_err *err)
{
	bool neg;
	uint64_t m;
	int rc = get_int(g, key, INT64_MIN, INT64_MAX, &neg, &m, err);
	if (rc == BASE_OK)
		*out = neg ? -(int64_t)(m - 1) - 1 : (int64_t)m;
	return rc;
}

int gguf_get_f64(const struct gguf *g, const char *key, double *out, struct base_err *err)
{
	const struct gguf_kv *kv = get_kv(g, key, err);
	if (!kv)
		return BASE_E_NOTFOUND;
	if (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64)
		return wrong_type(g, kv, "a float", err);
	*out = kv->v.f;
	return BASE_OK;
}

int gguf_get_f32(const struct gguf *g, const char *key, float *out, struct base_err *err)
{
	double d = 0;
	int rc = gguf_get_f64(g, key, &d, err);
	if (rc == BASE_OK)
		*out = (float)d;
	return rc;
}

int gguf_get_bool(const struct gguf *g, const char *key, bool *out, struct base_err *err)
{
	const struct gguf_kv *kv = get_kv(g, key, err);
	if (!kv)
		return BASE_E_NOTFOUND;
	if (kv->type != GGUF_TYPE_BOOL)
		return wrong_type(g, kv, "a bool", err);
	*out = kv->v.b;
	return BASE_OK;
}

int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out, struct base_err *err)
{
	const struct gguf_kv *kv = get_kv(g, key, err);
	if (!kv)
		return BASE_E_NOTFOUND;
	if (kv->type != GGUF_TYPE_STRING)
		return wrong_type(g, kv, "a string", err);
	*out = kv->v.s;
	return BASE_OK;
}

int gguf_get_arr(const struct gguf *g, const char *key, const struct gguf_arr **out, struct base_err *err)
{
	const struct gguf_kv *kv = get_kv(g, key, err);
	if (!kv)
		return BASE_E_NOTFOUND;
	if (kv->type != GGUF_TYPE_ARRAY)
		return wrong_type(g, kv, "an array", err);
	*out = &kv->v.arr;
	return BASE_OK;
}

/* ---- arrays ---------------------------------------------------------------- */

enum gguf_type gguf_arr_type(const struct gguf_arr *a)
{
	return (enum gguf_type)a->type;
}

uint64_t gguf_arr_len(const struct gguf_arr *a)
{
	return a->n;
}

const void *gguf_arr_data(const struct gguf_arr *a)
{
	return a->data;
}

struct gguf_str gguf_arr_str(const struct gguf_arr *a, uint64_t i)
{
	BASE_ASSERT(a->type == GGUF_TYPE_STRING && i < a->n);
	return a->strs[i];
}

const struct gguf_arr *gguf_arr_arr(const struct gguf_arr *a, uint64_t i)
{
	BASE_ASSERT(a->type == GGUF_TYPE_ARRAY && i < a->n);
	return &a->arrs[i];
}

static uint64_t arr_raw(const struct gguf_arr *a, uint64_t i)
{
	size_t es = value_size(a->type);
	BASE_ASSERT(es && i < a->n);
	return load_le(a->data + i * es, es);
}

int64_t gguf_arr_i64(const struct gguf_arr *a, uint64_t i)
{
	BASE_ASSERT(is_int_type(a->type) || a->type == GGUF_TYPE_BOOL);
	uint64_t u = arr_raw(a, i);
	switch (a->type) {
	case GGUF_TYPE_INT8: return (int8_t)u;
	case GGUF_TYPE_INT16: return (int16_t)u;
	case GGUF_TYPE_INT32: return (int32_t)u;
	default: return (int64_t)u;
	}
}

uint64_t gguf_arr_u64(const struct gguf_arr *a, uint64_t i)
{
	return (uint64_t)gguf_arr_i64(a, i);
}

double gguf_arr_f64(const struct gguf_arr *a, uint64_t i)
{
	BASE_ASSERT(a->type == GGUF_TYPE_FLOAT32 || a->type == GGUF_TYPE_FLOAT64);
	uint64_t u = arr_raw(a, i);
	if (a->type == GGUF_TYPE_FLOAT64) {
		double d;
		memcpy(&d, &u, 8);
		return d;
	}
	uint32_t w = (uint32_t)u;
	float f;
	memcpy(&f, &w, 4);
	return f;
}

int gguf_get_f32_array(const struct gguf *g, const char *key, float *out, size_t n, struct base_err *err)
{
	const struct gguf_arr *a = NULL;
	int rc = gguf_get_arr(g, key, &a, err);
	if (rc != BASE_OK)
		return rc;
	if (a->type != GGUF_TYPE_FLOAT32 && a->type != GGUF_TYPE_FLOAT64)
		return base_err_set(err, BASE_E_PARSE, "%s: key '%s': expected an array of floats, found %s",
				    g->name, key, value_type_names[a->type]);
	if (a->n != n)
		return base_err_set(err, BASE_E_PARSE, "%s: key '%s': expected %zu elements, found %" PRIu64,
				    g->name, key, n, a->n);
	for (size_t i = 0; i < n; i++)
		out[i] = (float)gguf_arr_f64(a, i);
	return BASE_OK;
}

/* ---- tensors ---------------------------------------------------------------- */

size_t gguf_n_tensors(const struct gguf *g)
{
	return g->n_tensors;
}

const struct gguf_tensor *gguf_tensor(const struct gguf *g, size_t i)
{
	BASE_ASSERT(i < g->n_tensors);
	return &g->tensors[i];
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name)
{
	for (size_t i = 0; i < g->n_tensors; i++)
		if (strcmp(g->tensors[i].name, name) == 0)
			return &g->tensors[i];
	return NULL;
}
