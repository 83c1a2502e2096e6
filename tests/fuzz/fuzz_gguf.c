/*
 * fuzz_gguf.c: libFuzzer target for the GGUF reader (and the WordPiece
 * tokenizer built from a fuzzed file's vocabulary). Every accessor is
 * walked on a file that opens, and every tensor's first and last byte is
 * read, so that ASan sees any bound the parser let through. The input is
 * copied into a heap buffer of exactly its size first.
 *
 *   CC=clang cmake -S . -B build-fuzz -G Ninja -DLODE_FUZZ=ON -DLODE_SANITIZE=ON
 *   ninja -C build-fuzz fuzz_gguf
 *   build-fuzz/tests/fuzz/fuzz_gguf -max_total_time=300 corpus/ fixtures/gguf/
 */
#include <stdlib.h>
#include <string.h>

#include "embed/gguf.h"
#include "embed/wordpiece.h"

#include "base/banned.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static unsigned walk_arr(const struct gguf_arr *a, int depth)
{
	unsigned h = 0;
	uint64_t n = gguf_arr_len(a);
	for (uint64_t i = 0; i < n && i < 64; i++) {
		switch (gguf_arr_type(a)) {
		case GGUF_TYPE_STRING: {
			struct gguf_str s = gguf_arr_str(a, i);
			if (s.len)
				h += (unsigned char)s.ptr[0] + (unsigned char)s.ptr[s.len - 1];
			break;
		}
		case GGUF_TYPE_ARRAY:
			h += walk_arr(gguf_arr_arr(a, i), depth + 1);
			break;
		case GGUF_TYPE_FLOAT32:
		case GGUF_TYPE_FLOAT64:
			h += gguf_arr_f64(a, i) > 0;
			break;
		default:
			h += (unsigned)gguf_arr_i64(a, i);
			break;
		}
	}
	return h;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	unsigned char *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct base_err err = { 0, "" };
	struct gguf *g = gguf_open_mem(copy, size, "fuzz.gguf", &err);
	volatile unsigned h = 0;
	if (g) {
		for (size_t i = 0; i < gguf_n_kv(g); i++) {
			const char *key = gguf_kv_key(g, i);
			uint64_t u;
			double d;
			bool b;
			struct gguf_str s;
			const struct gguf_arr *a;
			if (gguf_get_u64(g, key, &u, NULL) == BASE_OK)
				h += (unsigned)u;
			if (gguf_get_f64(g, key, &d, NULL) == BASE_OK)
				h += d > 0;
			if (gguf_get_bool(g, key, &b, NULL) == BASE_OK)
				h += b;
			if (gguf_get_str(g, key, &s, NULL) == BASE_OK && s.len)
				h += (unsigned char)s.ptr[s.len - 1];
			if (gguf_get_arr(g, key, &a, NULL) == BASE_OK)
				h += walk_arr(a, 0);
		}
		for (size_t i = 0; i < gguf_n_tensors(g); i++) {
			const struct gguf_tensor *t = gguf_tensor(g, i);
			if (gguf_find_tensor(g, t->name) != t)
				abort();
			if (t->nbytes)
				h += ((const unsigned char *)t->data)[0] + ((const unsigned char *)t->data)[t->nbytes - 1];
		}
		struct wp_tokenizer *wp = wp_new_gguf(g, WP_GUESS_CASE | WP_APPROX_UNICODE, NULL);
		if (wp) {
			static const char text[] = "Hello, W\xc3\xb6rld! unaffable \xe4\xb8\xad [SEP] x_y";
			int32_t ids[64];
			size_t n;
			if (wp_encode(wp, text, sizeof(text) - 1, 64, ids, &n, NULL) != BASE_OK || n < 2)
				abort();
			for (size_t i = 0; i < n; i++)
				if (!wp_token(wp, ids[i]))
					abort();
			wp_free(wp);
		}
		gguf_close(g);
	} else if (err.code != BASE_E_PARSE && err.code != BASE_E_UNSUPPORTED && err.code != BASE_E_NOMEM) {
		abort();
	}
	(void)h;
	free(copy);
	return 0;
}
