/*
 * test_gguf.c: the GGUF reader. Round trips of every metadata type and of
 * tensors written by tests/embed/gguf_writer.h, a random BERT file, and a
 * corpus of malformed files (truncated at every byte, huge counts, bad
 * alignment, tensors outside or overlapping the data) that must each fail
 * with BASE_E_PARSE and a message naming the file, never crash (the suite
 * runs under ASan).
 */
#define _XOPEN_SOURCE 700
#include "test.h"

#include <sys/stat.h>

#include "embed/gguf.h"
#include "embed/gguf_writer.h"

#include "base/banned.h"

static struct gguf *open_buf(const struct base_buf *b, const char *name)
{
	const char *path = t_path(name);
	T_OK(gw_write_file(b, path));
	struct base_err err = { 0, "" };
	struct gguf *g = gguf_open(path, &err);
	if (!g)
		T_FAIL("gguf_open: %s", err.msg);
	return g;
}

static bool str_is(struct gguf_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

/* ---- round trips ------------------------------------------------------ */

static void write_all_types(struct gw *w)
{
	gw_key(w, "t.u8", GGUF_TYPE_UINT8);
	gw_le(&w->kv, 200, 1);
	gw_key(w, "t.i8", GGUF_TYPE_INT8);
	gw_le(&w->kv, (uint8_t)-100, 1);
	gw_key(w, "t.u16", GGUF_TYPE_UINT16);
	gw_le(&w->kv, 60000, 2);
	gw_key(w, "t.i16", GGUF_TYPE_INT16);
	gw_le(&w->kv, (uint16_t)-30000, 2);
	gw_kv_u32(w, "t.u32", 4000000000u);
	gw_kv_i32(w, "t.i32", -2000000000);
	gw_kv_f32(w, "t.f32", 1.5f);
	gw_kv_bool(w, "t.bool", 1);
	gw_kv_str(w, "t.str", "h\xc3\xa9llo");
	gw_key(w, "t.u64", GGUF_TYPE_UINT64);
	gw_u64(&w->kv, 0xFEDCBA9876543210ull);
	gw_key(w, "t.i64", GGUF_TYPE_INT64);
	gw_u64(&w->kv, (uint64_t)INT64_MIN);
	gw_key(w, "t.f64", GGUF_TYPE_FLOAT64);
	double d = -2.25e300;
	uint64_t du;
	memcpy(&du, &d, 8);
	gw_u64(&w->kv, du);
	gw_kv_str(w, "t.empty", "");

	/* arrays of every fixed type: elements 0..2 as (i - 1) * 7 */
	static const enum gguf_type ints[] = { GGUF_TYPE_UINT8, GGUF_TYPE_INT8, GGUF_TYPE_UINT16,
					       GGUF_TYPE_INT16, GGUF_TYPE_UINT32, GGUF_TYPE_INT32,
					       GGUF_TYPE_UINT64, GGUF_TYPE_INT64 };
	static const size_t sizes[] = { 1, 1, 2, 2, 4, 4, 8, 8 };
	for (size_t t = 0; t < BASE_ARRAY_LEN(ints); t++) {
		char key[32];
		snprintf(key, sizeof(key), "a.%d", (int)ints[t]);
		gw_key(w, key, GGUF_TYPE_ARRAY);
		gw_u32(&w->kv, ints[t]);
		gw_u64(&w->kv, 3);
		for (int i = 0; i < 3; i++)
			gw_le(&w->kv, (uint64_t)(int64_t)((i - 1) * 7), sizes[t]);
	}
	gw_key(w, "a.f32", GGUF_TYPE_ARRAY);
	gw_u32(&w->kv, GGUF_TYPE_FLOAT32);
	gw_u64(&w->kv, 4);
	for (int i = 0; i < 4; i++)
		gw_f32(&w->kv, 0.5f * (float)i);
	gw_key(w, "a.f64", GGUF_TYPE_ARRAY);
	gw_u32(&w->kv, GGUF_TYPE_FLOAT64);
	gw_u64(&w->kv, 2);
	for (int i = 0; i < 2; i++) {
		double x = 1e-300 * (i + 1);
		memcpy(&du, &x, 8);
		gw_u64(&w->kv, du);
	}
	gw_key(w, "a.bool", GGUF_TYPE_ARRAY);
	gw_u32(&w->kv, GGUF_TYPE_BOOL);
	gw_u64(&w->kv, 2);
	gw_le(&w->kv, 1, 1);
	gw_le(&w->kv, 0, 1);
	static const char *const strs[] = { "\xe2\x96\x81the", "", "##x" };
	gw_kv_strs(w, "a.str", strs, 3);
	gw_key(w, "a.empty", GGUF_TYPE_ARRAY);
	gw_u32(&w->kv, GGUF_TYPE_UINT32);
	gw_u64(&w->kv, 0);
	/* [[["a"], []], [[u8 9]]]: arrays of arrays of strings and of u8 */
	gw_key(w, "a.nested", GGUF_TYPE_ARRAY);
	gw_u32(&w->kv, GGUF_TYPE_ARRAY);
	gw_u64(&w->kv, 2);
	gw_u32(&w->kv, GGUF_TYPE_ARRAY);
	gw_u64(&w->kv, 2);
	gw_u32(&w->kv, GGUF_TYPE_STRING);
	gw_u64(&w->kv, 1);
	gw_str(&w->kv, "a");
	gw_u32(&w->kv, GGUF_TYPE_STRING);
	gw_u64(&w->kv, 0);
	gw_u32(&w->kv, GGUF_TYPE_ARRAY);
	gw_u64(&w->kv, 1);
	gw_u32(&w->kv, GGUF_TYPE_UINT8);
	gw_u64(&w->kv, 1);
	gw_le(&w->kv, 9, 1);
}

static void check_all_types(const struct gguf *g)
{
	struct base_err err = { 0, "" };
	uint32_t u32;
	int32_t i32;
	uint64_t u64;
	int64_t i64;
	float f;
	double d;
	bool b;
	struct gguf_str s;
	T_OK(gguf_get_u32(g, "t.u8", &u32, &err));
	T_EQ_INT(u32, 200);
	T_OK(gguf_get_i32(g, "t.i8", &i32, &err));
	T_EQ_INT(i32, -100);
	T_OK(gguf_get_u32(g, "t.u16", &u32, &err));
	T_EQ_INT(u32, 60000);
	T_OK(gguf_get_i32(g, "t.i16", &i32, &err));
	T_EQ_INT(i32, -30000);
	T_OK(gguf_get_u32(g, "t.u32", &u32, &err));
	T_EQ_INT(u32, 4000000000u);
	T_OK(gguf_get_i32(g, "t.i32", &i32, &err));
	T_EQ_INT(i32, -2000000000);
	T_OK(gguf_get_f32(g, "t.f32", &f, &err));
	T_TRUE(f == 1.5f);
	T_OK(gguf_get_bool(g, "t.bool", &b, &err));
	T_TRUE(b);
	T_OK(gguf_get_str(g, "t.str", &s, &err));
	T_TRUE(str_is(s, "h\xc3\xa9llo"));
	T_OK(gguf_get_u64(g, "t.u64", &u64, &err));
	T_TRUE(u64 == 0xFEDCBA9876543210ull);
	T_OK(gguf_get_i64(g, "t.i64", &i64, &err));
	T_TRUE(i64 == INT64_MIN);
	T_OK(gguf_get_f64(g, "t.f64", &d, &err));
	T_TRUE(d == -2.25e300);
	T_OK(gguf_get_str(g, "t.empty", &s, &err));
	T_EQ_INT(s.len, 0);
	T_EQ_INT(gguf_kv_type(g, (size_t)gguf_find_key(g, "t.u16")), GGUF_TYPE_UINT16);

	/* widening and range checks */
	T_OK(gguf_get_i64(g, "t.u32", &i64, &err));
	T_EQ_INT(i64, 4000000000u);
	T_EQ_INT(gguf_get_i32(g, "t.u32", &i32, &err), BASE_E_PARSE);
	T_TRUE(strstr(err.msg, "t.u32") && strstr(err.msg, "out of range"));
	T_EQ_INT(gguf_get_u32(g, "t.i8", &u32, &err), BASE_E_PARSE);
	T_EQ_INT(gguf_get_u64(g, "t.i64", &u64, &err), BASE_E_PARSE);
	T_EQ_INT(gguf_get_u32(g, "t.str", &u32, &err), BASE_E_PARSE);
	T_TRUE(strstr(err.msg, "expected an integer, found string"));
	T_EQ_INT(gguf_get_bool(g, "t.u8", &b, &err), BASE_E_PARSE);
	T_EQ_INT(gguf_get_str(g, "nope", &s, &err), BASE_E_NOTFOUND);
	T_TRUE(strstr(err.msg, "'nope'"));
	T_EQ_INT(gguf_get_f32(g, "t.i32", &f, &err), BASE_E_PARSE);

	const struct gguf_arr *a;
	static const int ints[] = { 0, 1, 2, 3, 4, 5, 10, 11 };
	for (size_t t = 0; t < BASE_ARRAY_LEN(ints); t++) {
		char key[32];
		snprintf(key, sizeof(key), "a.%d", ints[t]);
		T_OK(gguf_get_arr(g, key, &a, &err));
		T_EQ_INT(gguf_arr_type(a), ints[t]);
		T_EQ_INT(gguf_arr_len(a), 3);
		bool sign = ints[t] == 1 || ints[t] == 3 || ints[t] == 5 || ints[t] == 11;
		if (sign)
			T_EQ_INT(gguf_arr_i64(a, 0), -7);
		T_EQ_INT(gguf_arr_i64(a, 1), 0);
		T_EQ_INT(gguf_arr_i64(a, 2), 7);
		T_TRUE(gguf_arr_data(a) != NULL);
	}
	float fa[4];
	T_OK(gguf_get_f32_array(g, "a.f32", fa, 4, &err));
	T_TRUE(fa[0] == 0 && fa[3] == 1.5f);
	T_EQ_INT(gguf_get_f32_array(g, "a.f32", fa, 3, &err), BASE_E_PARSE);
	T_EQ_INT(gguf_get_f32_array(g, "a.str", fa, 3, &err), BASE_E_PARSE);
	T_OK(gguf_get_arr(g, "a.f64", &a, &err));
	T_TRUE(gguf_arr_f64(a, 1) == 2e-300);
	T_OK(gguf_get_arr(g, "a.bool", &a, &err));
	T_EQ_INT(gguf_arr_i64(a, 0), 1);
	T_EQ_INT(gguf_arr_i64(a, 1), 0);
	T_OK(gguf_get_arr(g, "a.str", &a, &err));
	T_EQ_INT(gguf_arr_len(a), 3);
	T_TRUE(str_is(gguf_arr_str(a, 0), "\xe2\x96\x81the"));
	T_TRUE(str_is(gguf_arr_str(a, 1), ""));
	T_TRUE(str_is(gguf_arr_str(a, 2), "##x"));
	T_OK(gguf_get_arr(g, "a.empty", &a, &err));
	T_EQ_INT(gguf_arr_len(a), 0);
	T_OK(gguf_get_arr(g, "a.nested", &a, &err));
	T_EQ_INT(gguf_arr_len(a), 2);
	const struct gguf_arr *a0 = gguf_arr_arr(a, 0), *a1 = gguf_arr_arr(a, 1);
	T_EQ_INT(gguf_arr_len(a0), 2);
	T_EQ_INT(gguf_arr_type(gguf_arr_arr(a0, 0)), GGUF_TYPE_STRING);
	T_TRUE(str_is(gguf_arr_str(gguf_arr_arr(a0, 0), 0), "a"));
	T_EQ_INT(gguf_arr_len(gguf_arr_arr(a0, 1)), 0);
	T_EQ_INT(gguf_arr_u64(gguf_arr_arr(a1, 0), 0), 9);
	T_EQ_INT(gguf_get_u32(g, "a.str", &u32, &err), BASE_E_PARSE);
}

static void roundtrip_metadata(void)
{
	for (uint32_t version = 2; version <= 3; version++) {
		struct gw w;
		gw_init(&w, 0);
		w.version = version;
		write_all_types(&w);
		struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
		gw_finish(&w, &b);
		struct gguf *g = open_buf(&b, "all.gguf");
		T_EQ_INT(gguf_version(g), version);
		T_EQ_INT(gguf_n_tensors(g), 0);
		T_EQ_INT(gguf_alignment(g), 32);
		T_EQ_INT(gguf_n_kv(g), w.n_kv);
		T_EQ_STR(gguf_kv_key(g, 0), "t.u8");
		check_all_types(g);
		gguf_close(g);
		/* the same bytes through the in-memory entry */
		struct base_err err = { 0, "" };
		g = gguf_open_mem(b.data, b.len, "mem", &err);
		T_TRUE(g != NULL);
		check_all_types(g);
		gguf_close(g);
		base_buf_release(&b);
		gw_release(&w);
	}
}

/* A file with four tensors of four types and a 64-byte alignment. */
static void build_tensors(struct base_buf *out, uint32_t align)
{
	struct gw w;
	gw_init(&w, align);
	if (align != 32)
		gw_kv_u32(&w, "general.alignment", align);
	gw_kv_str(&w, "general.name", "t");
	float f32[6] = { 1, 2, 3, 4, 5, 6 };
	uint64_t ne_a[2] = { 3, 2 };
	gw_tensor(&w, "a.f32", GGUF_GGML_F32, 2, ne_a, f32, sizeof(f32));
	uint16_t f16[5] = { 0x3c00, 0x4000, 0x4200, 0x4400, 0x4500 };
	uint64_t ne_b[1] = { 5 };
	gw_tensor(&w, "b.f16", GGUF_GGML_F16, 1, ne_b, f16, sizeof(f16));
	uint16_t bf16[4] = { 0x3f80, 0x4000, 0x4040, 0x4080 };
	uint64_t ne_c[4] = { 1, 1, 2, 2 };
	gw_tensor(&w, "c.bf16", GGUF_GGML_BF16, 4, ne_c, bf16, sizeof(bf16));
	unsigned char q8[2 * 34];
	for (size_t i = 0; i < sizeof(q8); i++)
		q8[i] = (unsigned char)i;
	uint64_t ne_d[2] = { 32, 2 };
	gw_tensor(&w, "d.q8_0", GGUF_GGML_Q8_0, 2, ne_d, q8, sizeof(q8));
	gw_finish(&w, out);
	gw_release(&w);
}

static void roundtrip_tensors(void)
{
	static const uint32_t aligns[] = { 32, 64, 1, 4096 };
	for (size_t k = 0; k < BASE_ARRAY_LEN(aligns); k++) {
		struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
		build_tensors(&b, aligns[k]);
		struct gguf *g = open_buf(&b, "t.gguf");
		T_EQ_INT(gguf_alignment(g), aligns[k]);
		T_EQ_INT(gguf_n_tensors(g), 4);
		const struct gguf_tensor *t = gguf_find_tensor(g, "a.f32");
		T_TRUE(t != NULL);
		T_EQ_INT(t->type, GGUF_GGML_F32);
		T_EQ_INT(t->n_dims, 2);
		T_EQ_INT(t->ne[0], 3);
		T_EQ_INT(t->ne[1], 2);
		T_EQ_INT(t->ne[2], 1);
		T_EQ_INT(t->n_elements, 6);
		T_EQ_INT(t->nbytes, 24);
		T_TRUE(((const float *)t->data)[5] == 6.0f);
		T_EQ_INT(((uintptr_t)t->data) % aligns[k], 0);
		t = gguf_find_tensor(g, "b.f16");
		T_EQ_INT(t->nbytes, 10);
		T_EQ_INT(((const uint16_t *)t->data)[4], 0x4500);
		t = gguf_find_tensor(g, "c.bf16");
		T_EQ_INT(t->n_dims, 4);
		T_EQ_INT(t->n_elements, 4);
		T_EQ_INT(t->nbytes, 8);
		t = gguf_find_tensor(g, "d.q8_0");
		T_EQ_INT(t->nbytes, 68);
		T_EQ_INT(((const unsigned char *)t->data)[67], 67);
		T_TRUE(gguf_find_tensor(g, "nope") == NULL);
		T_EQ_STR(gguf_tensor(g, 3)->name, "d.q8_0");
		gguf_close(g);
		base_buf_release(&b);
	}
	T_EQ_STR(gguf_ggml_type_name(GGUF_GGML_Q8_0), "q8_0");
	T_EQ_INT(gguf_ggml_type_block(GGUF_GGML_Q8_0), 32);
	T_EQ_INT(gguf_ggml_type_size(GGUF_GGML_Q8_0), 34);
	T_EQ_INT(gguf_ggml_type_size(GGUF_GGML_BF16), 2);
	T_EQ_INT(gguf_ggml_type_size(GGUF_GGML_F16), 2);
	T_EQ_INT(gguf_ggml_type_size(999), 0);
	T_TRUE(gguf_ggml_type_name(16) == NULL);
}

static void bert_file(void)
{
	static const char *const vocab[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
					     "\xe2\x96\x81hello", "\xe2\x96\x81world", "ing", "s" };
	struct gw_bert c = { .n_layer = 2, .n_embd = 32, .n_head = 4, .n_ff = 64, .n_ctx = 16,
			     .n_type = 2, .eps = 1e-12f, .pooling = 2, .type = GGUF_GGML_F16, .seed = 7 };
	struct gw w;
	gw_init(&w, 0);
	gw_bert(&w, &c, vocab, BASE_ARRAY_LEN(vocab));
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	gw_finish(&w, &b);
	gw_release(&w);
	struct gguf *g = open_buf(&b, "bert.gguf");
	struct base_err err = { 0, "" };
	struct gguf_str s;
	uint32_t u;
	float eps;
	T_OK(gguf_get_str(g, "general.architecture", &s, &err));
	T_TRUE(str_is(s, "bert"));
	T_OK(gguf_get_u32(g, "bert.block_count", &u, &err));
	T_EQ_INT(u, 2);
	T_OK(gguf_get_u32(g, "bert.attention.head_count", &u, &err));
	T_EQ_INT(u, 4);
	T_OK(gguf_get_f32(g, "bert.attention.layer_norm_epsilon", &eps, &err));
	T_TRUE(eps == 1e-12f);
	T_OK(gguf_get_u32(g, "tokenizer.ggml.seperator_token_id", &u, &err));
	T_EQ_INT(u, 3);
	T_OK(gguf_get_u32(g, "tokenizer.ggml.cls_token_id", &u, &err));
	T_EQ_INT(u, 2);
	const struct gguf_arr *a;
	T_OK(gguf_get_arr(g, "tokenizer.ggml.tokens", &a, &err));
	T_EQ_INT(gguf_arr_len(a), 9);
	T_TRUE(str_is(gguf_arr_str(a, 6), "\xe2\x96\x81world"));
	/* 5 embedding tensors + 16 per layer */
	T_EQ_INT(gguf_n_tensors(g), 5 + 16 * 2);
	const struct gguf_tensor *t = gguf_find_tensor(g, "token_embd.weight");
	T_EQ_INT(t->ne[0], 32);
	T_EQ_INT(t->ne[1], 9);
	T_EQ_INT(t->type, GGUF_GGML_F16);
	t = gguf_find_tensor(g, "blk.1.ffn_up.weight");
	T_EQ_INT(t->ne[0], 32);
	T_EQ_INT(t->ne[1], 64);
	t = gguf_find_tensor(g, "blk.1.ffn_down.weight");
	T_EQ_INT(t->ne[0], 64);
	T_EQ_INT(t->ne[1], 32);
	t = gguf_find_tensor(g, "blk.0.layer_output_norm.bias");
	T_EQ_INT(t->type, GGUF_GGML_F32);
	T_EQ_INT(t->n_dims, 1);
	T_TRUE(gguf_find_tensor(g, "blk.0.attn_output_norm.weight") != NULL);
	T_TRUE(gguf_find_tensor(g, "position_embd.weight") != NULL);
	T_TRUE(gguf_find_tensor(g, "token_types.weight") != NULL);
	gguf_close(g);
	base_buf_release(&b);
}

/* ---- malformed files ---------------------------------------------------- */

static void expect_fail(const struct base_buf *b, int code, const char *what)
{
	struct base_err err = { 0, "" };
	struct gguf *g = gguf_open_mem(b->data, b->len, "bad.gguf", &err);
	if (g)
		T_FAIL("%s: opened a malformed file", what);
	if (err.code != code)
		T_FAIL("%s: code %s, want %s (%s)", what, base_status_name(err.code), base_status_name(code),
		       err.msg);
	if (strncmp(err.msg, "bad.gguf: ", 10) != 0)
		T_FAIL("%s: message does not name the file: %s", what, err.msg);
}

static void expect_msg(const struct base_buf *b, int code, const char *what, const char *part)
{
	expect_fail(b, code, what);
	struct base_err err = { 0, "" };
	T_TRUE(gguf_open_mem(b->data, b->len, "bad.gguf", &err) == NULL);
	if (!strstr(err.msg, part))
		T_FAIL("%s: message \"%s\" lacks \"%s\"", what, err.msg, part);
}

static void truncated_every_byte(void)
{
	struct base_buf full = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct gw w;
	gw_init(&w, 0);
	write_all_types(&w);
	float f[8] = { 0 };
	uint64_t ne[1] = { 8 };
	gw_tensor(&w, "x", GGUF_GGML_F32, 1, ne, f, sizeof(f));
	gw_finish(&w, &full);
	gw_release(&w);
	for (size_t n = 0; n < full.len; n++) {
		/* a fresh heap copy of exactly n bytes, so ASan sees any over-read */
		char *p = base_malloc(n ? n : 1);
		memcpy(p, full.data, n);
		struct base_err err = { 0, "" };
		struct gguf *g = gguf_open_mem(p, n, "cut.gguf", &err);
		if (g)
			T_FAIL("opened a file cut at %zu of %zu bytes", n, full.len);
		if (err.code != BASE_E_PARSE || strncmp(err.msg, "cut.gguf: ", 10) != 0)
			T_FAIL("cut at %zu: %s %s", n, base_status_name(err.code), err.msg);
		base_free(p);
	}
	struct base_err err = { 0, "" };
	struct gguf *g = gguf_open_mem(full.data, full.len, "cut.gguf", &err);
	T_TRUE(g != NULL);
	gguf_close(g);
	base_buf_release(&full);
}

/* Header with given counts, then raw bytes. */
static void hdr(struct base_buf *b, uint32_t version, uint64_t n_t, uint64_t n_kv)
{
	base_buf_reset(b);
	gw_bytes(b, "GGUF", 4);
	gw_u32(b, version);
	gw_u64(b, n_t);
	gw_u64(b, n_kv);
}

static void pad_to(struct base_buf *b, size_t n)
{
	while (b->len < n)
		gw__check(base_buf_addc(b, 0));
}

static void malformed_header_and_metadata(void)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	hdr(&b, 3, 0, 0);
	memcpy(b.data, "GGUG", 4);
	expect_msg(&b, BASE_E_PARSE, "bad magic", "bad magic");
	hdr(&b, 1, 0, 0);
	expect_fail(&b, BASE_E_UNSUPPORTED, "version 1");
	hdr(&b, 0x03000000, 0, 0);
	expect_msg(&b, BASE_E_UNSUPPORTED, "big-endian", "big-endian");
	hdr(&b, 4, 0, 0);
	expect_msg(&b, BASE_E_PARSE, "version 4", "version");
	hdr(&b, 3, (uint64_t)1 << 62, 0);
	expect_msg(&b, BASE_E_PARSE, "huge tensor count", "tensor count");
	hdr(&b, 3, 0, UINT64_MAX);
	pad_to(&b, 4096);
	expect_msg(&b, BASE_E_PARSE, "huge kv count", "key/value count");

	/* key length past the end */
	hdr(&b, 3, 0, 1);
	gw_u64(&b, (uint64_t)1 << 63);
	pad_to(&b, 64);
	expect_msg(&b, BASE_E_PARSE, "overlong key", "key 0: string length past end of file");
	hdr(&b, 3, 0, 1);
	gw_u64(&b, 0);
	pad_to(&b, 64);
	expect_msg(&b, BASE_E_PARSE, "empty key", "empty name");
	hdr(&b, 3, 0, 1);
	gw_strn(&b, "a\0b", 3);
	gw_u32(&b, GGUF_TYPE_UINT8);
	gw_le(&b, 0, 1);
	expect_msg(&b, BASE_E_PARSE, "NUL in key", "NUL");
	/* string value longer than the file */
	hdr(&b, 3, 0, 1);
	gw_str(&b, "k");
	gw_u32(&b, GGUF_TYPE_STRING);
	gw_u64(&b, 1000);
	gw_bytes(&b, "abc", 3);
	expect_msg(&b, BASE_E_PARSE, "overlong string", "key 0 'k': string length past end of file");
	/* unknown value type */
	hdr(&b, 3, 0, 1);
	gw_str(&b, "k");
	gw_u32(&b, 13);
	pad_to(&b, 64);
	expect_msg(&b, BASE_E_PARSE, "unknown type", "unknown value type");
	/* bool that is 2 */
	hdr(&b, 3, 0, 1);
	gw_str(&b, "k");
	gw_u32(&b, GGUF_TYPE_BOOL);
	gw_le(&b, 2, 1);
	expect_msg(&b, BASE_E_PARSE, "bool 2", "bool");
	/* huge arrays of each element kind */
	static const uint32_t kinds[] = { GGUF_TYPE_UINT32, GGUF_TYPE_STRING, GGUF_TYPE_ARRAY, GGUF_TYPE_FLOAT64 };
	for (size_t k = 0; k < BASE_ARRAY_LEN(kinds); k++) {
		hdr(&b, 3, 0, 1);
		gw_str(&b, "k");
		gw_u32(&b, GGUF_TYPE_ARRAY);
		gw_u32(&b, kinds[k]);
		gw_u64(&b, (uint64_t)1 << 61);
		pad_to(&b, 256);
		expect_msg(&b, BASE_E_PARSE, "huge array", "array length past end of file");
	}
	hdr(&b, 3, 0, 1);
	gw_str(&b, "k");
	gw_u32(&b, GGUF_TYPE_ARRAY);
	gw_u32(&b, 77);
	gw_u64(&b, 1);
	pad_to(&b, 64);
	expect_msg(&b, BASE_E_PARSE, "unknown element type", "unknown array element type");
	/* arrays nested 100 deep */
	hdr(&b, 3, 0, 1);
	gw_str(&b, "k");
	gw_u32(&b, GGUF_TYPE_ARRAY);
	for (int i = 0; i < 100; i++) {
		gw_u32(&b, GGUF_TYPE_ARRAY);
		gw_u64(&b, 1);
	}
	pad_to(&b, 4096);
	expect_msg(&b, BASE_E_PARSE, "deep nesting", "nested too deep");
	/* an inner array of a nested array runs past the end */
	hdr(&b, 3, 0, 1);
	gw_str(&b, "k");
	gw_u32(&b, GGUF_TYPE_ARRAY);
	gw_u32(&b, GGUF_TYPE_ARRAY);
	gw_u64(&b, 2);
	gw_u32(&b, GGUF_TYPE_STRING);
	gw_u64(&b, 1);
	gw_str(&b, "x");
	gw_u32(&b, GGUF_TYPE_STRING);
	gw_u64(&b, 2);
	gw_str(&b, "y");
	gw_u64(&b, 1000);
	expect_fail(&b, BASE_E_PARSE, "nested string past end");
	/* duplicate keys */
	hdr(&b, 3, 0, 2);
	for (int i = 0; i < 2; i++) {
		gw_str(&b, "k");
		gw_u32(&b, GGUF_TYPE_UINT8);
		gw_le(&b, 1, 1);
	}
	expect_msg(&b, BASE_E_PARSE, "duplicate key", "duplicate key");
	/* alignment: zero, not a power of two, not a uint32 */
	static const uint32_t bad_align[] = { 0, 3, 48 };
	for (size_t k = 0; k < BASE_ARRAY_LEN(bad_align); k++) {
		hdr(&b, 3, 0, 1);
		gw_str(&b, "general.alignment");
		gw_u32(&b, GGUF_TYPE_UINT32);
		gw_u32(&b, bad_align[k]);
		expect_msg(&b, BASE_E_PARSE, "bad alignment", "power of two");
	}
	hdr(&b, 3, 0, 1);
	gw_str(&b, "general.alignment");
	gw_u32(&b, GGUF_TYPE_UINT64);
	gw_u64(&b, 64);
	expect_msg(&b, BASE_E_PARSE, "alignment type", "not a uint32");
	base_buf_release(&b);
}

/* One tensor description after an empty metadata section. */
static void tensor_file(struct base_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
			uint64_t offset, size_t data_len)
{
	hdr(b, 3, 1, 0);
	gw_str(b, name);
	gw_u32(b, n_dims);
	for (uint32_t d = 0; d < n_dims; d++)
		gw_u64(b, ne[d]);
	gw_u32(b, type);
	gw_u64(b, offset);
	pad_to(b, (b->len + 31) / 32 * 32 + data_len);
}

static void malformed_tensors(void)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	uint64_t ne[5] = { 4, 1, 1, 1, 1 };
	tensor_file(&b, "ok", 1, ne, GGUF_GGML_F32, 0, 16);
	struct base_err err = { 0, "" };
	struct gguf *g = gguf_open_mem(b.data, b.len, "ok.gguf", &err);
	T_TRUE(g != NULL);
	gguf_close(g);

	tensor_file(&b, "blk.0.attn_q.weight", 1, ne, GGUF_GGML_F32, 0, 15);
	expect_msg(&b, BASE_E_PARSE, "data short", "tensor 0 'blk.0.attn_q.weight': data runs past end of file");
	tensor_file(&b, "blk.0.attn_q.weight", 1, ne, GGUF_GGML_F32, 4096, 16);
	expect_msg(&b, BASE_E_PARSE, "offset past end", "tensor 0 'blk.0.attn_q.weight': data offset past end of file");
	tensor_file(&b, "t", 1, ne, GGUF_GGML_F32, UINT64_MAX - 31, 16);
	expect_msg(&b, BASE_E_PARSE, "offset overflow", "past end of file");
	tensor_file(&b, "t", 1, ne, GGUF_GGML_F32, 8, 64);
	expect_msg(&b, BASE_E_PARSE, "misaligned", "not a multiple of the alignment");
	tensor_file(&b, "t", 5, ne, GGUF_GGML_F32, 0, 64);
	expect_msg(&b, BASE_E_PARSE, "5 dims", "number of dimensions");
	tensor_file(&b, "t", 0, ne, GGUF_GGML_F32, 0, 64);
	expect_msg(&b, BASE_E_PARSE, "0 dims", "number of dimensions");
	tensor_file(&b, "t", 1, ne, 99, 0, 64);
	expect_msg(&b, BASE_E_PARSE, "type 99", "unknown tensor type");
	tensor_file(&b, "t", 1, ne, 16, 0, 64);
	expect_fail(&b, BASE_E_UNSUPPORTED, "iq2_xxs");
	uint64_t big[2] = { (uint64_t)1 << 40, (uint64_t)1 << 40 };
	tensor_file(&b, "t", 2, big, GGUF_GGML_F32, 0, 64);
	expect_msg(&b, BASE_E_PARSE, "element overflow", "overflows");
	uint64_t huge[1] = { UINT64_MAX };
	tensor_file(&b, "t", 1, huge, GGUF_GGML_F32, 0, 64);
	expect_msg(&b, BASE_E_PARSE, "dim huge", "dimension too large");
	uint64_t bytes_ovf[1] = { (uint64_t)1 << 62 };
	tensor_file(&b, "t", 1, bytes_ovf, GGUF_GGML_F32, 0, 64);
	expect_msg(&b, BASE_E_PARSE, "byte overflow", "byte size overflows");
	uint64_t q[1] = { 33 };
	tensor_file(&b, "t", 1, q, GGUF_GGML_Q8_0, 0, 64);
	expect_msg(&b, BASE_E_PARSE, "q8_0 row", "block size");

	/* two tensors: overlapping data, duplicate names */
	for (int dup = 0; dup < 2; dup++) {
		hdr(&b, 3, 2, 0);
		for (int i = 0; i < 2; i++) {
			gw_str(&b, dup ? "same" : i ? "b" : "a");
			gw_u32(&b, 1);
			gw_u64(&b, 16);
			gw_u32(&b, GGUF_GGML_F32);
			gw_u64(&b, i ? 32 : 0); /* a is 64 bytes: b overlaps it */
		}
		pad_to(&b, (b.len + 31) / 32 * 32 + 128);
		expect_msg(&b, BASE_E_PARSE, dup ? "duplicate tensor" : "overlap",
			   dup ? "duplicate tensor name" : "overlaps");
	}
	/* the data section's padding is missing */
	hdr(&b, 3, 1, 0);
	gw_str(&b, "t");
	gw_u32(&b, 1);
	gw_u64(&b, 1);
	gw_u32(&b, GGUF_GGML_F32);
	gw_u64(&b, 0);
	expect_fail(&b, BASE_E_PARSE, "no data section");
	base_buf_release(&b);
}

static void open_errors(void)
{
	struct base_err err = { 0, "" };
	T_TRUE(gguf_open("/nonexistent/model.gguf", &err) == NULL);
	T_EQ_INT(err.code, BASE_E_NOTFOUND);
	T_TRUE(strstr(err.msg, "/nonexistent/model.gguf") != NULL);
	const char *dir = t_path("");
	T_TRUE(gguf_open(dir, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_IO);
	struct base_buf empty = BASE_BUF_INIT(16);
	const char *path = t_path("empty.gguf");
	T_OK(gw_write_file(&empty, path));
	T_TRUE(gguf_open(path, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_PARSE);
	T_TRUE(strstr(err.msg, "empty.gguf: header") != NULL);
	T_TRUE(gguf_open_mem(NULL, 0, NULL, &err) == NULL);
	T_TRUE(strstr(err.msg, "<memory>") != NULL);
	gguf_close(NULL);
}

/* Random byte edits of a valid file: any result but a crash or a leak. */
static void random_mutations(void)
{
	t_seed = 12345;
	struct base_buf full = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct gw w;
	gw_init(&w, 0);
	write_all_types(&w);
	float f[8] = { 0 };
	uint64_t ne[1] = { 8 };
	gw_tensor(&w, "x", GGUF_GGML_F32, 1, ne, f, sizeof(f));
	gw_tensor(&w, "y", GGUF_GGML_F32, 1, ne, f, sizeof(f));
	gw_finish(&w, &full);
	gw_release(&w);
	int opened = 0;
	for (int round = 0; round < 20000; round++) {
		char *p = base_malloc(full.len);
		memcpy(p, full.data, full.len);
		int edits = 1 + (int)(t_rand() % 4);
		for (int e = 0; e < edits; e++) {
			size_t at = t_rand() % full.len;
			uint64_t r = t_rand();
			p[at] = (char)(r % 3 == 0 ? 0xff : r % 3 == 1 ? 0 : (int)(r >> 8));
		}
		size_t len = t_rand() % 8 == 0 ? t_rand() % full.len : full.len;
		struct base_err err = { 0, "" };
		struct gguf *g = gguf_open_mem(p, len, "m.gguf", &err);
		if (g) {
			opened++;
			for (size_t i = 0; i < gguf_n_tensors(g); i++) {
				const struct gguf_tensor *t = gguf_tensor(g, i);
				/* touch the first and last byte: ASan checks the bounds */
				if (t->nbytes)
					T_TRUE(((const char *)t->data)[0] + ((const char *)t->data)[t->nbytes - 1] < 512);
			}
			gguf_close(g);
		} else {
			T_TRUE(err.code == BASE_E_PARSE || err.code == BASE_E_UNSUPPORTED);
			T_TRUE(strncmp(err.msg, "m.gguf: ", 8) == 0);
		}
		base_free(p);
	}
	T_TRUE(opened > 0);
	base_buf_release(&full);
}

T_MAIN(T_ENTRY(roundtrip_metadata), T_ENTRY(roundtrip_tensors), T_ENTRY(bert_file),
       T_ENTRY(truncated_every_byte), T_ENTRY(malformed_header_and_metadata), T_ENTRY(malformed_tensors),
       T_ENTRY(open_errors), T_ENTRY(random_mutations))
