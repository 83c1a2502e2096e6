/*
 * test_encoder_cuda.c: the CUDA encoder (embed/cuda.cu) against the CPU
 * reference (embed/cpu.c) on random-weight models from gguf_writer.h.
 *
 *   - per weight format and architecture (bert f32/f16/q8_0/bf16, CLS and
 *     mean pooling, nomic-bert f32/bf16) and head size (16, 32, 64, 128 on
 *     the tensor-core attention, wmma, and with LODE_CUDA_ATTENTION=flash
 *     mma.sync; 20, and 64 with LODE_CUDA_ATTENTION=simple,
 *     on the CUDA-core one):
 *     sequence lengths 1..n_ctx (1, 2, odd, 31..33, 63..65, 127..129,
 *     511, 512 and random ones) in shuffled, mixed batches; every vector
 *     within cosine 0.999 of the CPU's, and 1 - cosine 1e-5 on average;
 *   - a batch longer than enc_cuda_max_tokens is refused (BASE_E_TOOBIG)
 *     and the handle still works; bad sequences and ids are BASE_E_INVAL;
 *   - a VRAM limit that cannot hold the weights is BASE_E_DEVICE (checked
 *     before the device is touched, so on every machine).
 *
 * Without a GPU (or a build without CUDA) every case that needs one
 * skips, and the binary exits 77 with the reason.
 */
#include "test.h"

#include "embed/encoder.h"
#include "embed/encoder_util.h"

#include "base/banned.h"

#define MIN_COSINE 0.999
/*
 * and on average much closer: fp16 storage costs 1 - cosine ~1e-7 (see
 * test_cuda_fake); a dropped bias or a small wrong term costs ~1e-4
 */
#define MAX_MEAN_ERR 1e-5

/* Open the CUDA backend, or skip the case when this machine has none. */
static struct enc_cuda *open_or_skip(const struct enc_model *m, uint64_t limit)
{
	struct enc_cuda *c = NULL;
	struct base_err err = { 0, "" };
	struct enc_cuda_options o = { .vram_limit = limit, .device = 0 };
	int rc = enc_cuda_open(m, &o, &c, &err);
	if (rc == BASE_E_DEVICE && (!enc_cuda_built() || strncmp(err.msg, "no CUDA device", 14) == 0)) {
		T_TRUE(c == NULL);
		T_SKIP("%s", err.msg);
	}
	if (rc)
		T_FAIL("enc_cuda_open: %s: %s", base_status_name(rc), err.msg);
	fprintf(stderr, "  %s, %zu tokens a batch\n", enc_cuda_describe(c), enc_cuda_max_tokens(c));
	return c;
}

/* ---- CUDA against the CPU ------------------------------------------------------ */

static void shuffle(uint32_t *v, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(t_rand() % i);
		uint32_t t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

/*
 * Every length of interest up to n_ctx, plus random ones, shuffled
 * and cut into batches of at most `budget` tokens; each batch on both
 * backends.
 */
static void compare(const struct gw_bert *cfg, size_t vocab)
{
	struct t_model l;
	t_model_make(&l, cfg, vocab);
	struct enc_cuda *cu = open_or_skip(&l.m, 0);
	struct enc_cpu *cpu = l.cpu;
	struct base_err err = { 0, "" };

	uint32_t n_ctx = l.m.c.n_ctx, E = l.m.c.n_embd;
	static const uint32_t fixed[] = { 1, 2, 3, 5, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129,
					  200, 255, 256, 257, 383, 511, 512 };
	BASE_VEC(uint32_t) lens = BASE_VEC_INIT;
	for (size_t i = 0; i < BASE_ARRAY_LEN(fixed); i++)
		if (fixed[i] <= n_ctx)
			base_vec_push(&lens, fixed[i]);
	for (int i = 0; i < 16; i++)
		base_vec_push(&lens, 1 + (uint32_t)(t_rand() % n_ctx));
	base_vec_push(&lens, n_ctx);
	shuffle(lens.v, lens.n);

	size_t budget = BASE_MIN(enc_cuda_max_tokens(cu), (size_t)3 * n_ctx);
	int32_t *ids = base_malloc(budget * sizeof(*ids));
	uint32_t *offs = base_malloc((lens.n + 1) * sizeof(*offs));
	float *a = base_malloc(lens.n * E * sizeof(float)), *b = base_malloc(lens.n * E * sizeof(float));
	double worst = 1.0, err_sum = 0;
	size_t batches = 0, checked = 0;
	for (size_t s0 = 0; s0 < lens.n;) {
		size_t s1 = s0, T = 0;
		offs[0] = 0;
		while (s1 < lens.n && T + lens.v[s1] <= budget) {
			T += lens.v[s1];
			offs[s1 - s0 + 1] = (uint32_t)T;
			s1++;
		}
		T_TRUE(s1 > s0);
		for (size_t t = 0; t < T; t++)
			ids[t] = (int32_t)(t_rand() % vocab);
		struct enc_batch bt = { ids, offs, s1 - s0 };
		T_OK(enc_cpu_forward(cpu, &bt, a, &err));
		if (enc_cuda_forward(cu, &bt, b, &err))
			T_FAIL("enc_cuda_forward: %s", err.msg);
		for (size_t s = 0; s < s1 - s0; s++) {
			double cs = t_cosine_f(a + s * E, b + s * E, E);
			if (!(cs >= MIN_COSINE))
				T_FAIL("batch %zu, sequence %zu of %u tokens: cosine %.6f", batches, s,
				       offs[s + 1] - offs[s], cs);
			worst = BASE_MIN(worst, cs);
			err_sum += 1 - cs;
			checked++;
		}
		batches++;
		s0 = s1;
	}
	fprintf(stderr, "  %zu sequences in %zu batches, worst cosine %.6f, mean 1 - cosine %.2e\n", checked, batches,
		worst, err_sum / (double)checked);
	T_TRUE(err_sum / (double)checked <= MAX_MEAN_ERR);
	base_free(ids);
	base_free(offs);
	base_free(a);
	base_free(b);
	base_vec_release(&lens);
	enc_cuda_close(cu);
	t_model_unload(&l);
}

/* 2 layers, n_ctx 512, the given width and heads. */
static struct gw_bert shape(uint32_t embd, uint32_t heads, uint32_t type, uint32_t pooling, bool nomic)
{
	struct gw_bert c = GW_BERT_DEFAULT;
	c.n_embd = embd;
	c.n_head = heads;
	c.n_ff = 4 * embd;
	c.n_ctx = 512;
	c.type = type;
	c.pooling = pooling;
	c.nomic = nomic;
	c.seed = 7 + embd + type;
	return c;
}

static void test_bert_f32_head16(void)
{
	struct gw_bert c = shape(64, 4, GGUF_GGML_F32, 1, false);
	compare(&c, 1000);
}

static void test_bert_f16_head32(void)
{
	struct gw_bert c = shape(128, 4, GGUF_GGML_F16, 1, false);
	compare(&c, 1000);
}

static void test_bert_cls_head64(void)
{
	struct gw_bert c = shape(384, 6, GGUF_GGML_F16, 2, false);
	compare(&c, 2000);
}

static void test_bert_q8_0_head128(void)
{
	struct gw_bert c = shape(256, 2, GGUF_GGML_Q8_0, 1, false);
	compare(&c, 1000);
}

static void test_bert_bf16_head32(void)
{
	struct gw_bert c = shape(192, 6, GGUF_GGML_BF16, 1, false);
	compare(&c, 1000);
}

static void test_nomic_f32_head64(void)
{
	struct gw_bert c = shape(256, 4, GGUF_GGML_F32, 1, true);
	compare(&c, 1000);
}

static void test_nomic_bf16_head32(void)
{
	struct gw_bert c = shape(128, 4, GGUF_GGML_BF16, 2, true);
	c.rope_base = 10000.0f;
	compare(&c, 1000);
}

static void test_bert_f16_head20(void)
{
	/* not a multiple of 16: attention on the CUDA cores */
	struct gw_bert c = shape(80, 4, GGUF_GGML_F16, 1, false);
	compare(&c, 1000);
}

static void test_simple_attention_head64(void)
{
	setenv("LODE_CUDA_ATTENTION", "simple", 1);
	struct gw_bert c = shape(256, 4, GGUF_GGML_F16, 1, true);
	compare(&c, 1000);
	unsetenv("LODE_CUDA_ATTENTION");
}

/* The mma.sync kernel (LODE_CUDA_ATTENTION=flash): head sizes 16, 32, 64, 128; bert and nomic-bert. */
static void test_flash_attention(void)
{
	setenv("LODE_CUDA_ATTENTION", "flash", 1);
	struct gw_bert c = shape(128, 4, GGUF_GGML_F16, 1, false);
	struct t_model l;
	t_model_make(&l, &c, 1000);
	struct enc_cuda *cu = open_or_skip(&l.m, 0);
	fprintf(stderr, "  %s\n", enc_cuda_describe(cu));
	T_TRUE(strstr(enc_cuda_describe(cu), "flash attention") != NULL);
	enc_cuda_close(cu);
	t_model_unload(&l);
	static const uint32_t shapes[][3] = { { 64, 4, 0 }, { 128, 4, 1 }, { 384, 6, 0 }, { 256, 2, 1 }, { 384, 12, 0 } };
	for (size_t i = 0; i < BASE_ARRAY_LEN(shapes); i++) {
		c = shape(shapes[i][0], shapes[i][1], GGUF_GGML_F16, 1 + (uint32_t)(i & 1), shapes[i][2]);
		compare(&c, 1000);
	}
	unsetenv("LODE_CUDA_ATTENTION");
}

/* ---- limits and bad batches ------------------------------------------------------ */

static void test_vram_cap(void)
{
	struct t_model l;
	struct gw_bert c = shape(128, 4, GGUF_GGML_F16, 1, false);
	t_model_make(&l, &c, 1000);
	struct enc_cuda *cu = (struct enc_cuda *)&l; /* must be reset to NULL */
	struct base_err err = { 0, "" };
	struct enc_cuda_options o = { .vram_limit = 64 << 10, .device = 0 };
	int rc = enc_cuda_open(&l.m, &o, &cu, &err);
	T_EQ_INT(rc, BASE_E_DEVICE);
	T_TRUE(cu == NULL);
	fprintf(stderr, "  64 KiB: %s\n", err.msg);
	if (enc_cuda_built())
		T_TRUE(strstr(err.msg, "cannot hold the weights") != NULL);
	t_model_unload(&l);
	/* the rest needs a device */
	t_model_make(&l, &c, 1000);
	cu = open_or_skip(&l.m, 0);
	enc_cuda_close(cu);
	t_model_unload(&l);
}

static void test_limits(void)
{
	struct t_model l;
	struct gw_bert c = shape(64, 4, GGUF_GGML_F16, 1, false);
	c.n_ctx = 64;
	t_model_make(&l, &c, 500);
	struct enc_cuda *cu = open_or_skip(&l.m, 0);
	size_t cap = enc_cuda_max_tokens(cu), E = c.n_embd;
	T_TRUE(cap >= c.n_ctx);
	/* cap + 1 tokens in sequences of n_ctx (the last one shorter) */
	size_t n_seq = (cap + 1 + c.n_ctx - 1) / c.n_ctx;
	int32_t *ids = base_calloc(cap + 1, sizeof(*ids));
	uint32_t *offs = base_malloc((n_seq + 1) * sizeof(*offs));
	float *out = base_malloc(n_seq * E * sizeof(float));
	offs[0] = 0;
	for (size_t s = 0; s < n_seq; s++)
		offs[s + 1] = (uint32_t)BASE_MIN((s + 1) * c.n_ctx, cap + 1);
	struct base_err err = { 0, "" };
	struct enc_batch b = { ids, offs, n_seq };
	T_EQ_INT(enc_cuda_forward(cu, &b, out, &err), BASE_E_TOOBIG);
	fprintf(stderr, "  %s\n", err.msg);

	/* bad sequences and ids */
	uint32_t o2[3] = { 0, 3, 3 };
	struct enc_batch bad = { ids, o2, 2 };
	T_EQ_INT(enc_cuda_forward(cu, &bad, out, &err), BASE_E_INVAL);
	uint32_t o3[2] = { 0, c.n_ctx + 1 };
	bad = (struct enc_batch){ ids, o3, 1 };
	T_EQ_INT(enc_cuda_forward(cu, &bad, out, &err), BASE_E_INVAL);
	ids[1] = 500;
	uint32_t o4[2] = { 0, 3 };
	bad = (struct enc_batch){ ids, o4, 1 };
	T_EQ_INT(enc_cuda_forward(cu, &bad, out, &err), BASE_E_INVAL);
	ids[1] = 0;

	/* the handle still works, and a batch of exactly cap tokens is taken */
	offs[n_seq] = (uint32_t)cap;
	if (offs[n_seq] == offs[n_seq - 1])
		b.n_seq--;
	T_OK(enc_cuda_forward(cu, &b, out, &err));
	struct enc_batch empty = { ids, o2, 0 };
	T_OK(enc_cuda_forward(cu, &empty, out, &err));
	base_free(ids);
	base_free(offs);
	base_free(out);
	enc_cuda_close(cu);
	t_model_unload(&l);
}

T_MAIN(T_ENTRY(test_vram_cap), T_ENTRY(test_limits), T_ENTRY(test_bert_f32_head16), T_ENTRY(test_bert_f16_head32),
       T_ENTRY(test_bert_cls_head64), T_ENTRY(test_bert_q8_0_head128), T_ENTRY(test_bert_bf16_head32),
       T_ENTRY(test_nomic_f32_head64), T_ENTRY(test_nomic_bf16_head32), T_ENTRY(test_bert_f16_head20),
       T_ENTRY(test_simple_attention_head64), T_ENTRY(test_flash_attention))
