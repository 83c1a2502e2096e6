/*
 * gguf: a read-only, bounds-checked reader of GGUF model files (versions 2
 * and 3, little-endian), the format of ggml and llama.cpp.
 *
 * A file is a header, metadata key/values, tensor descriptions and, at an
 * aligned offset, the tensor data. gguf_open maps the file read-only and
 * parses everything before it returns: metadata, tensor descriptions and
 * the placement of every tensor's bytes are validated once, so that no
 * accessor below can fail on a well-formed handle or read outside the file.
 *
 * Invariants after a successful open:
 *   - every count, length and offset lies inside the file, with no
 *     arithmetic overflow; keys and tensor names are unique;
 *   - every tensor has 1..4 dimensions, a type whose size lode knows, a row
 *     length that is a multiple of the type's block size, a data offset
 *     that is a multiple of the alignment (general.alignment, default 32, a
 *     power of two), and bytes that do not overlap another tensor's.
 *
 * Errors: a malformed file gives BASE_E_PARSE with a message that names the
 * file and the field ("model.gguf: tensor 12 'blk.0.attn_q.weight': data
 * offset past end of file"); a valid file lode cannot use (big-endian,
 * version 1, a known but unsized tensor type) gives BASE_E_UNSUPPORTED;
 * BASE_E_NOTFOUND / BASE_E_IO for an unreadable path; BASE_E_NOMEM when
 * memory for the tables runs out. External input never aborts.
 *
 * Ownership: every pointer returned below is borrowed from the handle and
 * valid until gguf_close. Strings inside the file (string values, array
 * elements) are (ptr, len) views and are NOT NUL-terminated; keys and
 * tensor names are NUL-terminated copies. Raw array and tensor data are
 * little-endian, as stored; lode runs on little-endian hosts only.
 *
 * Threads: a handle is immutable after open; any number of threads may read
 * it at once.
 */
#ifndef LODE_EMBED_GGUF_H
#define LODE_EMBED_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct gguf;
struct gguf_arr;

/* Metadata value types, as numbered in the file. */
enum gguf_type {
	GGUF_TYPE_UINT8 = 0,
	GGUF_TYPE_INT8 = 1,
	GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3,
	GGUF_TYPE_UINT32 = 4,
	GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6,
	GGUF_TYPE_BOOL = 7,
	GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9,
	GGUF_TYPE_UINT64 = 10,
	GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
	GGUF_TYPE_COUNT
};

/* Tensor element types (ggml's enum ggml_type numbers) that lode sizes. */
enum gguf_ggml_type {
	GGUF_GGML_F32 = 0,
	GGUF_GGML_F16 = 1,
	GGUF_GGML_Q4_0 = 2,
	GGUF_GGML_Q4_1 = 3,
	GGUF_GGML_Q5_0 = 6,
	GGUF_GGML_Q5_1 = 7,
	GGUF_GGML_Q8_0 = 8,
	GGUF_GGML_Q8_1 = 9,
	GGUF_GGML_Q2_K = 10,
	GGUF_GGML_Q3_K = 11,
	GGUF_GGML_Q4_K = 12,
	GGUF_GGML_Q5_K = 13,
	GGUF_GGML_Q6_K = 14,
	GGUF_GGML_Q8_K = 15,
	GGUF_GGML_I8 = 24,
	GGUF_GGML_I16 = 25,
	GGUF_GGML_I32 = 26,
	GGUF_GGML_I64 = 27,
	GGUF_GGML_F64 = 28,
	GGUF_GGML_BF16 = 30,
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

/* A string inside the file: len bytes at ptr, not NUL-terminated. */
struct gguf_str {
	const char *ptr;
	size_t len;
};

/* One tensor. ne[i] for i >= n_dims is 1. */
struct gguf_tensor {
	const char *name;      /* NUL-terminated */
	uint32_t type;         /* enum gguf_ggml_type */
	uint32_t n_dims;       /* 1..GGUF_MAX_DIMS */
	uint64_t ne[GGUF_MAX_DIMS];
	uint64_t n_elements;
	uint64_t offset;       /* from the start of the data section */
	uint64_t nbytes;
	const void *data;      /* in the mapping; aligned as the file says */
};

/* ---- open / close ------------------------------------------------------ */

/**
 * Map and parse the GGUF file at `path`. Returns NULL on failure with err
 * filled (see the header comment for the codes).
 */
struct gguf *gguf_open(const char *path, struct base_err *err);

/**
 * Parse `size` bytes at `data` (borrowed: it must outlive the handle).
 * `name` is used in error messages (may be NULL: "<memory>"). Tensor data
 * pointers are aligned only as far as `data` itself is.
 */
struct gguf *gguf_open_mem(const void *data, size_t size, const char *name, struct base_err *err);

/** Close and unmap; gguf_close(NULL) is a no-op. */
void gguf_close(struct gguf *g);

/** Format version (2 or 3), the data alignment and the file's name. */
uint32_t gguf_version(const struct gguf *g);
uint32_t gguf_alignment(const struct gguf *g);
const char *gguf_name(const struct gguf *g);

/* ---- metadata ------------------------------------------------------------ */

/** Number of key/values, and the i-th key (NUL-terminated) and type. */
size_t gguf_n_kv(const struct gguf *g);
const char *gguf_kv_key(const struct gguf *g, size_t i);
enum gguf_type gguf_kv_type(const struct gguf *g, size_t i);
/** Index of `key`, or -1. */
long gguf_find_key(const struct gguf *g, const char *key);

/*
 * Typed getters. Each returns BASE_OK, BASE_E_NOTFOUND when the key is
 * absent (err names the file and key), or BASE_E_PARSE when the value has
 * another type or does not fit. Integer getters accept any integer type
 * whose value fits (writers disagree on u32 versus i32); float getters
 * accept float32 and float64; bool accepts only bool.
 */
int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out, struct base_err *err);
int gguf_get_i32(const struct gguf *g, const char *key, int32_t *out, struct base_err *err);
int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out, struct base_err *err);
int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out, struct base_err *err);
int gguf_get_f32(const struct gguf *g, const char *key, float *out, struct base_err *err);
int gguf_get_f64(const struct gguf *g, const char *key, double *out, struct base_err *err);
int gguf_get_bool(const struct gguf *g, const char *key, bool *out, struct base_err *err);
int gguf_get_str(const struct gguf *g, const char *key, struct gguf_str *out, struct base_err *err);
/** The array under `key`; BASE_E_PARSE if the value is not an array. */
int gguf_get_arr(const struct gguf *g, const char *key, const struct gguf_arr **out, struct base_err *err);

/* ---- arrays ---------------------------------------------------------------
 * Element accessors take an index below gguf_arr_len and an array of the
 * matching element type; anything else is API misuse and fails a
 * BASE_ASSERT (the file cannot cause it).
 */

enum gguf_type gguf_arr_type(const struct gguf_arr *a);
uint64_t gguf_arr_len(const struct gguf_arr *a);
/** Raw little-endian elements of a fixed-size element type; NULL for strings and arrays. */
const void *gguf_arr_data(const struct gguf_arr *a);
/** The i-th string of a string array, without copying. */
struct gguf_str gguf_arr_str(const struct gguf_arr *a, uint64_t i);
/** The i-th array of an array of arrays. */
const struct gguf_arr *gguf_arr_arr(const struct gguf_arr *a, uint64_t i);
/** The i-th element of an integer or bool array, widened. */
int64_t gguf_arr_i64(const struct gguf_arr *a, uint64_t i);
uint64_t gguf_arr_u64(const struct gguf_arr *a, uint64_t i);
/** The i-th element of a float32 or float64 array. */
double gguf_arr_f64(const struct gguf_arr *a, uint64_t i);
/**
 * Copy a float32/float64 array into out[0, n) as floats. BASE_E_PARSE
 * (with the file and key in err) when the element type is not a float
 * or the length is not n.
 */
int gguf_get_f32_array(const struct gguf *g, const char *key, float *out, size_t n, struct base_err *err);

/* ---- tensors -------------------------------------------------------------- */

size_t gguf_n_tensors(const struct gguf *g);
const struct gguf_tensor *gguf_tensor(const struct gguf *g, size_t i);
/** The tensor called `name`, or NULL. */
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name);

/* ---- tensor types ----------------------------------------------------------- */

/** "f32", "q8_0", ...; NULL for a type lode does not size. */
const char *gguf_ggml_type_name(uint32_t type);
/** Elements per block (1 for plain types, 32 for Q8_0, 256 for K-quants); 0 if unknown. */
uint32_t gguf_ggml_type_block(uint32_t type);
/** Bytes per block; 0 if unknown. */
uint32_t gguf_ggml_type_size(uint32_t type);

#endif /* LODE_EMBED_GGUF_H */
