/*
 * gguf_writer.h: a small GGUF writer for tests and the fixture tool (not
 * part of lode). Header-only, like test.h.
 *
 *   struct gw w;
 *   gw_init(&w, 32);
 *   gw_kv_str(&w, "general.architecture", "bert");
 *   gw_tensor(&w, "token_embd.weight", GGUF_GGML_F32, 2, ne, data, nbytes);
 *   gw_finish(&w, &out);      // out: the file's bytes
 *   gw_release(&w);
 *
 * Low-level pieces (gw_u32, gw_u64, gw_str into any base_buf) let tests
 * build deliberately broken files. gw_bert() writes a random-weight BERT
 * encoder with llama.cpp's tensor names and metadata keys.
 *
 * Errors: metadata buffers are capped at BASE_CAP_TEXT, tensor data and
 * whole files at GW_CAP (benchmark-size models); the functions abort the test
 * (via exit) when a write fails, since a writer failure is a test bug.
 */
#ifndef LODE_TESTS_GGUF_WRITER_H
#define LODE_TESTS_GGUF_WRITER_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "embed/gguf.h"

#define GW_CAP ((size_t)4 << 30)

struct gw {
	struct base_buf kv;   /* key/values */
	struct base_buf ti;   /* tensor infos */
	struct base_buf data; /* tensor data, each tensor aligned */
	uint64_t n_kv, n_t;
	uint32_t align;
	uint32_t version;
};

static inline void gw__check(int rc)
{
	if (rc != BASE_OK) {
		fprintf(stderr, "gguf_writer: write failed: %s\n", base_status_name(rc));
		exit(1);
	}
}

static inline void gw_bytes(struct base_buf *b, const void *p, size_t n)
{
	gw__check(base_buf_add(b, p, n));
}

static inline void gw_le(struct base_buf *b, uint64_t v, size_t n)
{
	unsigned char t[8];
	for (size_t i = 0; i < n; i++)
		t[i] = (unsigned char)(v >> (8 * i));
	gw_bytes(b, t, n);
}

static inline void gw_u32(struct base_buf *b, uint32_t v)
{
	gw_le(b, v, 4);
}

static inline void gw_u64(struct base_buf *b, uint64_t v)
{
	gw_le(b, v, 8);
}

static inline void gw_strn(struct base_buf *b, const char *s, size_t n)
{
	gw_u64(b, n);
	gw_bytes(b, s, n);
}

static inline void gw_str(struct base_buf *b, const char *s)
{
	gw_strn(b, s, strlen(s));
}

static inline void gw_f32(struct base_buf *b, float f)
{
	uint32_t w;
	memcpy(&w, &f, 4);
	gw_u32(b, w);
}

static inline void gw_init(struct gw *w, uint32_t align)
{
	base_buf_init(&w->kv, BASE_CAP_TEXT);
	base_buf_init(&w->ti, BASE_CAP_TEXT);
	base_buf_init(&w->data, GW_CAP);
	w->n_kv = w->n_t = 0;
	w->align = align ? align : GGUF_DEFAULT_ALIGNMENT;
	w->version = 3;
}

static inline void gw_release(struct gw *w)
{
	base_buf_release(&w->kv);
	base_buf_release(&w->ti);
	base_buf_release(&w->data);
}

/* Start a key/value: the key and the type; the caller writes the value into w->kv. */
static inline void gw_key(struct gw *w, const char *key, enum gguf_type type)
{
	gw_str(&w->kv, key);
	gw_u32(&w->kv, type);
	w->n_kv++;
}

static inline void gw_kv_u32(struct gw *w, const char *key, uint32_t v)
{
	gw_key(w, key, GGUF_TYPE_UINT32);
	gw_u32(&w->kv, v);
}

static inline void gw_kv_i32(struct gw *w, const char *key, int32_t v)
{
	gw_key(w, key, GGUF_TYPE_INT32);
	gw_u32(&w->kv, (uint32_t)v);
}

static inline void gw_kv_f32(struct gw *w, const char *key, float v)
{
	gw_key(w, key, GGUF_TYPE_FLOAT32);
	gw_f32(&w->kv, v);
}

static inline void gw_kv_bool(struct gw *w, const char *key, int v)
{
	gw_key(w, key, GGUF_TYPE_BOOL);
	gw_le(&w->kv, v ? 1 : 0, 1);
}

static inline void gw_kv_str(struct gw *w, const char *key, const char *s)
{
	gw_key(w, key, GGUF_TYPE_STRING);
	gw_str(&w->kv, s);
}

static inline void gw_kv_strs(struct gw *w, const char *key, const char *const *s, size_t n)
{
	gw_key(w, key, GGUF_TYPE_ARRAY);
	gw_u32(&w->kv, GGUF_TYPE_STRING);
	gw_u64(&w->kv, n);
	for (size_t i = 0; i < n; i++)
		gw_str(&w->kv, s[i]);
}

static inline void gw_kv_i32s(struct gw *w, const char *key, const int32_t *v, size_t n)
{
	gw_key(w, key, GGUF_TYPE_ARRAY);
	gw_u32(&w->kv, GGUF_TYPE_INT32);
	gw_u64(&w->kv, n);
	for (size_t i = 0; i < n; i++)
		gw_u32(&w->kv, (uint32_t)v[i]);
}

/* Add a tensor; its data is copied, placed at the next aligned offset. */
static inline void gw_tensor(struct gw *w, const char *name, uint32_t type, uint32_t n_dims, const uint64_t *ne,
			     const void *data, size_t nbytes)
{
	while (w->data.len % w->align)
		gw__check(base_buf_addc(&w->data, 0));
	gw_str(&w->ti, name);
	gw_u32(&w->ti, n_dims);
	for (uint32_t d = 0; d < n_dims; d++)
		gw_u64(&w->ti, ne[d]);
	gw_u32(&w->ti, type);
	gw_u64(&w->ti, w->data.len);
	w->n_t++;
	gw_bytes(&w->data, data, nbytes);
}

/* The whole file into out (appended). */
static inline void gw_finish(struct gw *w, struct base_buf *out)
{
	gw_bytes(out, "GGUF", 4);
	gw_u32(out, w->version);
	gw_u64(out, w->n_t);
	gw_u64(out, w->n_kv);
	gw_bytes(out, w->kv.data, w->kv.len);
	gw_bytes(out, w->ti.data, w->ti.len);
	if (w->n_t) {
		while (out->len % w->align)
			gw__check(base_buf_addc(out, 0));
		gw_bytes(out, w->data.data, w->data.len);
	}
}

static inline int gw_write_file(const struct base_buf *b, const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return BASE_E_IO;
	size_t n = fwrite(b->data, 1, b->len, f);
	int rc = fclose(f);
	return n == b->len && rc == 0 ? BASE_OK : BASE_E_IO;
}

/* ---- a random BERT encoder ------------------------------------------------ */

struct gw_bert {
	uint32_t n_layer, n_embd, n_head, n_ff, n_ctx, n_type;
	float eps;
	uint32_t pooling;  /* llama.cpp: 0 none, 1 mean, 2 cls */
	uint32_t type;     /* the matrices': GGUF_GGML_F32, F16, BF16 or Q8_0 */
	uint64_t seed;
	bool nomic;        /* nomic-bert: rotary positions, fused QKV, SwiGLU, no biases */
	float rope_base;   /* nomic-bert; 0: 1000 */
};

static inline float gw__rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	z ^= z >> 31;
	return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline uint16_t gw__f16(float f)
{
	/* round-to-nearest for the normal range, enough for test weights */
	uint32_t x;
	memcpy(&x, &f, 4);
	uint32_t sign = (x >> 16) & 0x8000;
	int32_t e = (int32_t)((x >> 23) & 0xff) - 127 + 15;
	uint32_t m = x & 0x7fffff;
	if (e <= 0)
		return (uint16_t)sign;
	if (e >= 31)
		return (uint16_t)(sign | 0x7c00);
	uint32_t h = sign | ((uint32_t)e << 10) | (m >> 13);
	if (m & 0x1000)
		h++;
	return (uint16_t)h;
}

static inline uint16_t gw__bf16(float f)
{
	uint32_t x;
	memcpy(&x, &f, 4);
	x += 0x7fff + ((x >> 16) & 1); /* round to nearest even */
	return (uint16_t)(x >> 16);
}

/* Q8_0 of n values (n a multiple of 32): per block a half scale, then 32 signed bytes. */
static inline void gw__q8_0(const float *v, size_t n, unsigned char *out)
{
	for (size_t b = 0; b < n / 32; b++, out += 34) {
		float amax = 0;
		for (int i = 0; i < 32; i++)
			amax = fabsf(v[b * 32 + i]) > amax ? fabsf(v[b * 32 + i]) : amax;
		float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0;
		uint16_t h = gw__f16(d);
		memcpy(out, &h, 2);
		for (int i = 0; i < 32; i++)
			out[2 + i] = (unsigned char)(int8_t)lrintf(v[b * 32 + i] * id);
	}
}

/*
 * A tensor of random values: scale * U(-1, 1) + bias_value. 2-D tensors
 * get cfg->type, but for the position and token-type embeddings, which
 * llama.cpp's converter always writes in f32 (and llama.cpp reads so).
 */
static inline void gw__rand_tensor(struct gw *w, const struct gw_bert *c, uint64_t *s, const char *name,
				   uint64_t ne0, uint64_t ne1, float scale, float base)
{
	uint64_t ne[2] = { ne0, ne1 };
	uint32_t nd = ne1 > 1 ? 2 : 1;
	size_t n = (size_t)(ne0 * ne1);
	bool f32 = nd == 1 || strcmp(name, "position_embd.weight") == 0 || strcmp(name, "token_types.weight") == 0;
	uint32_t type = f32 ? GGUF_GGML_F32 : c->type;
	if (type == GGUF_GGML_Q8_0 && ne0 % 32)
		type = GGUF_GGML_F16;
	float *v = base_malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = base + scale * gw__rand(s);
	size_t bytes = type == GGUF_GGML_F32 ? n * 4 : type == GGUF_GGML_Q8_0 ? n / 32 * 34 : n * 2;
	unsigned char *buf = base_malloc(bytes);
	for (size_t i = 0; i < n && type != GGUF_GGML_Q8_0; i++) {
		uint16_t h = type == GGUF_GGML_BF16 ? gw__bf16(v[i]) : gw__f16(v[i]);
		if (type == GGUF_GGML_F32)
			memcpy(buf + 4 * i, &v[i], 4);
		else
			memcpy(buf + 2 * i, &h, 2);
	}
	if (type == GGUF_GGML_Q8_0)
		gw__q8_0(v, n, buf);
	gw_tensor(w, name, type, nd, ne, buf, bytes);
	base_free(buf);
	base_free(v);
}

/*
 * A BERT encoder in llama.cpp's layout (general.architecture "bert"),
 * random weights, the given vocabulary (llama.cpp form: word-initial tokens
 * start with U+2581, continuations carry no "##").
 */
static inline void gw_bert(struct gw *w, const struct gw_bert *c, const char *const *tokens, size_t n_vocab)
{
	uint64_t s = c->seed;
	char name[96];
	const char *arch = c->nomic ? "nomic-bert" : "bert";
#define GW_KEY(k) (snprintf(name, sizeof(name), "%s." k, arch), name)
	gw_kv_str(w, "general.architecture", arch);
	gw_kv_str(w, "general.name", c->nomic ? "lode-test-nomic-bert" : "lode-test-bert");
	/* llama.cpp's file types: all f32 0, mostly f16 1, q8_0 7, bf16 32 */
	gw_kv_u32(w, "general.file_type", c->type == GGUF_GGML_F16 ? 1 : c->type == GGUF_GGML_Q8_0 ? 7 :
					  c->type == GGUF_GGML_BF16 ? 32 : 0);
	gw_kv_u32(w, GW_KEY("context_length"), c->n_ctx);
	gw_kv_u32(w, GW_KEY("embedding_length"), c->n_embd);
	gw_kv_u32(w, GW_KEY("feed_forward_length"), c->n_ff);
	gw_kv_u32(w, GW_KEY("attention.head_count"), c->n_head);
	gw_kv_u32(w, GW_KEY("block_count"), c->n_layer);
	gw_kv_f32(w, GW_KEY("attention.layer_norm_epsilon"), c->eps);
	gw_kv_bool(w, GW_KEY("attention.causal"), 0);
	gw_kv_u32(w, GW_KEY("pooling_type"), c->pooling);
	if (c->nomic)
		gw_kv_f32(w, GW_KEY("rope.freq_base"), c->rope_base > 0 ? c->rope_base : 1000.0f);
#undef GW_KEY
	gw_kv_u32(w, "tokenizer.ggml.token_type_count", c->n_type);
	gw_kv_str(w, "tokenizer.ggml.model", "bert");
	gw_kv_strs(w, "tokenizer.ggml.tokens", tokens, n_vocab);
	static const struct {
		const char *key, *tok;
	} specials[] = {
		{ "tokenizer.ggml.unknown_token_id", "[UNK]" },
		{ "tokenizer.ggml.seperator_token_id", "[SEP]" },
		{ "tokenizer.ggml.padding_token_id", "[PAD]" },
		{ "tokenizer.ggml.cls_token_id", "[CLS]" },
		{ "tokenizer.ggml.mask_token_id", "[MASK]" },
	};
	/* the special tokens are control (3), the rest normal (1; "[unused0]" and "[" too), as llama.cpp's converter has it */
	int32_t *tt = base_malloc(n_vocab * sizeof(*tt));
	for (size_t i = 0; i < n_vocab; i++)
		tt[i] = 1;
	for (size_t k = 0; k < BASE_ARRAY_LEN(specials); k++)
		for (size_t i = 0; i < n_vocab; i++)
			if (strcmp(tokens[i], specials[k].tok) == 0) {
				gw_kv_u32(w, specials[k].key, (uint32_t)i);
				tt[i] = 3;
				break;
			}
	gw_kv_i32s(w, "tokenizer.ggml.token_type", tt, n_vocab);
	base_free(tt);

	uint64_t E = c->n_embd, F = c->n_ff;
	gw__rand_tensor(w, c, &s, "token_embd.weight", E, n_vocab, 0.1f, 0);
	gw__rand_tensor(w, c, &s, "token_types.weight", E, c->n_type, 0.1f, 0);
	if (!c->nomic)
		gw__rand_tensor(w, c, &s, "position_embd.weight", E, c->n_ctx, 0.1f, 0);
	gw__rand_tensor(w, c, &s, "token_embd_norm.weight", E, 1, 0.05f, 1);
	gw__rand_tensor(w, c, &s, "token_embd_norm.bias", E, 1, 0.05f, 0);
	/* name, input is the ff width, output in multiples of n_embd (0: the ff width), bias */
	static const struct {
		const char *t;
		int in_ff, out, bias;
	} bert_mats[] = {
		{ "attn_q", 0, 1, 1 },	    { "attn_k", 0, 1, 1 },	   { "attn_v", 0, 1, 1 },
		{ "attn_output", 0, 1, 1 }, { "ffn_up", 0, 0, 1 }, { "ffn_down", 1, 1, 1 },
	}, nomic_mats[] = {
		{ "attn_qkv", 0, 3, 0 }, { "attn_output", 0, 1, 0 }, { "ffn_up", 0, 0, 0 },
		{ "ffn_gate", 0, 0, 0 }, { "ffn_down", 1, 1, 0 },
	};
	for (uint32_t l = 0; l < c->n_layer; l++) {
		size_t nm = c->nomic ? BASE_ARRAY_LEN(nomic_mats) : BASE_ARRAY_LEN(bert_mats);
		for (size_t m = 0; m < nm; m++) {
			const char *t = c->nomic ? nomic_mats[m].t : bert_mats[m].t;
			int in_ff = c->nomic ? nomic_mats[m].in_ff : bert_mats[m].in_ff;
			int o = c->nomic ? nomic_mats[m].out : bert_mats[m].out;
			uint64_t in = in_ff ? F : E, out = o ? (uint64_t)o * E : F;
			float sc = 1.0f / sqrtf((float)in);
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, t);
			gw__rand_tensor(w, c, &s, name, in, out, sc, 0);
			if (c->nomic ? !nomic_mats[m].bias : !bert_mats[m].bias)
				continue;
			snprintf(name, sizeof(name), "blk.%u.%s.bias", l, t);
			gw__rand_tensor(w, c, &s, name, out, 1, 0.02f, 0);
		}
		static const char *const norms[] = { "attn_output_norm", "layer_output_norm" };
		for (size_t m = 0; m < 2; m++) {
			snprintf(name, sizeof(name), "blk.%u.%s.weight", l, norms[m]);
			gw__rand_tensor(w, c, &s, name, E, 1, 0.05f, 1);
			snprintf(name, sizeof(name), "blk.%u.%s.bias", l, norms[m]);
			gw__rand_tensor(w, c, &s, name, E, 1, 0.05f, 0);
		}
	}
}

/* gguf_make_bert's defaults: 2 layers x 64, 4 heads, ff 128, context 128, CLS pooling, f32. */
#define GW_BERT_DEFAULT                                                                          \
	{ .n_layer = 2, .n_embd = 64, .n_head = 4, .n_ff = 128, .n_ctx = 128, .n_type = 2, .eps = 1e-12f, \
	  .pooling = 2, .type = GGUF_GGML_F32, .seed = 1 }

static inline bool gw__num(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	*out = v;
	return *s && !*end && v > 0 && v <= max;
}

/*
 * One shape option of gguf_make_bert at argv[0] (argc: what is left):
 * --layers --embd --heads --ff --ctx --seed --vocab-size N, --type
 * f32|f16|bf16|q8_0, --f16, --nomic, --pooling mean|cls. Returns the
 * number of arguments used, 0 for another option, -1 for a bad value.
 */
static inline int gw_bert_arg(struct gw_bert *c, size_t *vocab_size, int argc, char **argv)
{
	static const struct {
		const char *name;
		uint32_t type;
	} types[] = { { "f32", GGUF_GGML_F32 }, { "f16", GGUF_GGML_F16 }, { "bf16", GGUF_GGML_BF16 },
		      { "q8_0", GGUF_GGML_Q8_0 } };
	const char *a = argv[0], *v = argc > 1 ? argv[1] : NULL;
	unsigned long n;
	if (strcmp(a, "--f16") == 0) {
		c->type = GGUF_GGML_F16;
		return 1;
	}
	if (strcmp(a, "--nomic") == 0) {
		c->nomic = true;
		return 1;
	}
	if (strcmp(a, "--type") == 0) {
		for (size_t i = 0; v && i < BASE_ARRAY_LEN(types); i++)
			if (strcmp(v, types[i].name) == 0) {
				c->type = types[i].type;
				return 2;
			}
		return -1;
	}
	if (strcmp(a, "--pooling") == 0) {
		if (!v || (strcmp(v, "mean") && strcmp(v, "cls")))
			return -1;
		c->pooling = strcmp(v, "mean") == 0 ? 1 : 2;
		return 2;
	}
	static const char *const nums[] = { "--layers", "--embd", "--heads", "--ff", "--ctx", "--seed", "--vocab-size" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(nums); i++) {
		if (strcmp(a, nums[i]) != 0)
			continue;
		if (!v || !gw__num(v, 1000000, &n))
			return -1;
		uint32_t *dst[] = { &c->n_layer, &c->n_embd, &c->n_head, &c->n_ff, &c->n_ctx };
		if (i < BASE_ARRAY_LEN(dst))
			*dst[i] = (uint32_t)n;
		else if (i == 5)
			c->seed = n;
		else
			*vocab_size = n;
		return 2;
	}
	return 0;
}

/*
 * A synthetic vocabulary of n >= 5 tokens: [PAD] [UNK] [CLS] [SEP] [MASK],
 * then word-initial pieces "\u2581t5", "\u2581t6", ... Free with
 * gw_vocab_free.
 */
static inline char **gw_vocab(size_t n)
{
	static const char *const specials[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };
	char **v = base_malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = i < BASE_ARRAY_LEN(specials) ? base_strdup(specials[i]) : base_strfmt("\xe2\x96\x81t%zu", i);
	return v;
}

static inline void gw_vocab_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		base_free(v[i]);
	base_free(v);
}

#endif /* LODE_TESTS_GGUF_WRITER_H */
