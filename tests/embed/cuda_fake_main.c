/*
 * cuda_fake_main.c: test_cuda_fake — the CUDA backend's host logic over a
 * fake runtime (cuda_fake.cpp: host memory, emulated kernels, a loop for
 * cublasGemmEx), on any machine.
 *
 *   - forward against the CPU reference: bert f32/f16/q8_0 (mean and CLS),
 *     nomic-bert f32 and bf16 (RoPE, SwiGLU); mixed lengths in one batch;
 *     1 - cosine <= 1e-6 per vector; attention on the tensor cores (head
 *     sizes 16, 32, 64; wmma, and mma.sync with LODE_CUDA_ATTENTION=flash)
 *     and on the CUDA cores (head size 20, and LODE_CUDA_ATTENTION=simple);
 *   - the memory plan: max_tokens from the limit and the free memory, a
 *     batch above it refused, limits and free memory too small for the
 *     weights refused with BASE_E_DEVICE, no device;
 *   - every allocation of open failing in turn, and a failing GEMM in
 *     forward: BASE_E_DEVICE, nothing leaked (device, pinned, host);
 *   - the stage profile: the same vectors, stages that cover the forward,
 *     its events freed.
 */
#include "test.h"

#include "embed/encoder.h"
#include "embed/encoder_util.h"

#include "base/banned.h"

void fake_cuda_reset(size_t free_bytes, bool no_device);
void fake_cuda_fail(int malloc_at, int gemm_at);
size_t fake_cuda_live(void);

static void unload(struct t_model *l)
{
	t_model_unload(l);
	T_EQ_INT(fake_cuda_live(), 0);
}

static struct gw_bert small(uint32_t type, uint32_t pooling, bool nomic, uint32_t heads)
{
	struct gw_bert c = GW_BERT_DEFAULT;
	c.n_embd = 64;
	c.n_head = heads;
	c.n_ff = 96;
	c.n_ctx = 40;
	c.type = type;
	c.pooling = pooling;
	c.nomic = nomic;
	c.seed = 3 + type + heads;
	return c;
}

static struct enc_cuda *open_fake(const struct enc_model *m, uint64_t limit)
{
	struct enc_cuda *cu = NULL;
	struct base_err err = { 0, "" };
	struct enc_cuda_options o = { .vram_limit = limit, .device = 0 };
	if (enc_cuda_open(m, &o, &cu, &err))
		T_FAIL("enc_cuda_open: %s", err.msg);
	return cu;
}

/* The CUDA backend against the CPU reference on one mixed batch; `attn`: the kernel it must say it runs. */
static void compare(const struct gw_bert *c, const char *attn)
{
	fake_cuda_reset((size_t)8 << 30, false);
	struct t_model l;
	t_model_make(&l, c, 120);
	struct enc_cuda *cu = open_fake(&l.m, 0);
	T_TRUE(strstr(enc_cuda_describe(cu), "lode fake GPU, sm_90, 2.0 GiB cap") != NULL);
	T_TRUE(strstr(enc_cuda_describe(cu), attn) != NULL);
	static const uint32_t lens[] = { 17, 1, 33, 2, 5 }; /* 2 query tiles, 2 key tiles */
	uint32_t offs[BASE_ARRAY_LEN(lens) + 1] = { 0 };
	for (size_t s = 0; s < BASE_ARRAY_LEN(lens); s++)
		offs[s + 1] = offs[s] + lens[s];
	size_t T = offs[BASE_ARRAY_LEN(lens)], n = BASE_ARRAY_LEN(lens), E = c->n_embd;
	int32_t ids[200];
	t_seed = c->seed;
	for (size_t t = 0; t < T; t++)
		ids[t] = (int32_t)(t_rand() % 120);
	float *a = base_malloc(n * E * sizeof(float)), *b = base_malloc(n * E * sizeof(float));
	struct enc_batch bt = { ids, offs, n };
	struct base_err err = { 0, "" };
	T_OK(enc_cpu_forward(l.cpu, &bt, a, &err));
	if (enc_cuda_forward(cu, &bt, b, &err))
		T_FAIL("enc_cuda_forward: %s", err.msg);
	for (size_t s = 0; s < n; s++) {
		double cs = t_cosine_f(a + s * E, b + s * E, E);
		fprintf(stderr, "  sequence %zu (%u tokens): 1 - cosine %.2e\n", s, lens[s], 1 - cs);
		/* the fake GEMM accumulates in fp32 like cuBLAS; fp16 storage alone costs ~1e-8 here, a lost bias ~1e-4 */
		T_TRUE(1 - cs <= 1e-6);
	}
	base_free(a);
	base_free(b);
	enc_cuda_close(cu);
	unload(&l);
}

static void test_bert_f32(void)
{
	struct gw_bert c = small(GGUF_GGML_F32, 1, false, 4);
	compare(&c, "wmma attention");
}

static void test_bert_f16_cls(void)
{
	struct gw_bert c = small(GGUF_GGML_F16, 2, false, 2);
	compare(&c, "wmma attention");
}

static void test_bert_q8_0(void)
{
	struct gw_bert c = small(GGUF_GGML_Q8_0, 1, false, 1); /* head size 64 */
	compare(&c, "wmma attention");
}

static void test_nomic_f32(void)
{
	struct gw_bert c = small(GGUF_GGML_F32, 1, true, 2);
	compare(&c, "wmma attention");
}

static void test_nomic_bf16_cls(void)
{
	struct gw_bert c = small(GGUF_GGML_BF16, 2, true, 4);
	c.rope_base = 10000.0f;
	compare(&c, "wmma attention");
}

static void test_head20_cuda_cores(void)
{
	struct gw_bert c = small(GGUF_GGML_F16, 1, false, 4);
	c.n_embd = 80; /* head size 20: not a multiple of 16, so the CUDA-core attention */
	compare(&c, "simple attention");
}

static void test_simple_attention_env(void)
{
	setenv("LODE_CUDA_ATTENTION", "simple", 1);
	struct gw_bert c = small(GGUF_GGML_F32, 1, true, 2);
	compare(&c, "simple attention");
	unsetenv("LODE_CUDA_ATTENTION");
}

/* the mma.sync kernel, head sizes 16, 32, 64; bert and nomic-bert */
static void test_flash_attention_env(void)
{
	setenv("LODE_CUDA_ATTENTION", "flash", 1);
	static const uint32_t heads[] = { 4, 2, 1 };
	for (size_t i = 0; i < BASE_ARRAY_LEN(heads); i++) {
		struct gw_bert c = small(GGUF_GGML_F16, 1 + (uint32_t)(i & 1), i == 1, heads[i]);
		compare(&c, "flash attention");
	}
	unsetenv("LODE_CUDA_ATTENTION");
}

/* ---- the memory plan ------------------------------------------------------------------ */

static void test_plan(void)
{
	struct gw_bert c = small(GGUF_GGML_F16, 1, false, 4);
	struct t_model l;
	fake_cuda_reset((size_t)8 << 30, false);
	t_model_make(&l, &c, 120);
	struct base_err err = { 0, "" };
	struct enc_cuda *cu = NULL;

	/* the default cap: MAX_TOKENS */
	cu = open_fake(&l.m, 0);
	size_t big = enc_cuda_max_tokens(cu);
	enc_cuda_close(cu);
	T_EQ_INT(big, 32768);

	/* a cap of 40 MiB: the 32 MiB cuBLAS workspace, weights, and fewer tokens */
	cu = open_fake(&l.m, 40 << 20);
	size_t cap = enc_cuda_max_tokens(cu);
	fprintf(stderr, "  40 MiB: %zu tokens\n", cap);
	T_TRUE(cap >= c.n_ctx && cap < big);
	int32_t *ids = base_calloc(cap + 1, sizeof(*ids));
	size_t n_seq = (cap + c.n_ctx) / c.n_ctx;
	uint32_t *offs = base_malloc((n_seq + 1) * sizeof(*offs));
	offs[0] = 0;
	for (size_t s = 0; s < n_seq; s++)
		offs[s + 1] = (uint32_t)BASE_MIN((s + 1) * c.n_ctx, cap + 1);
	float *out = base_malloc(n_seq * c.n_embd * sizeof(float));
	struct enc_batch b = { ids, offs, n_seq };
	T_EQ_INT(enc_cuda_forward(cu, &b, out, &err), BASE_E_TOOBIG);
	enc_cuda_close(cu);
	base_free(ids);
	base_free(offs);
	base_free(out);

	/* a free memory below the cap: the plan follows the free memory */
	fake_cuda_reset((size_t)300 << 20, false);
	cu = open_fake(&l.m, 0);
	T_TRUE(enc_cuda_max_tokens(cu) >= c.n_ctx);
	enc_cuda_close(cu);
	fake_cuda_reset((size_t)100 << 20, false);
	T_EQ_INT(enc_cuda_open(&l.m, &(struct enc_cuda_options){ 0 }, &cu, &err), BASE_E_DEVICE);
	fprintf(stderr, "  100 MiB free: %s\n", err.msg);
	T_TRUE(cu == NULL && strstr(err.msg, "free") != NULL);

	/* no device; a cap below the weights (checked first) */
	fake_cuda_reset((size_t)8 << 30, true);
	T_EQ_INT(enc_cuda_open(&l.m, &(struct enc_cuda_options){ 0 }, &cu, &err), BASE_E_DEVICE);
	T_TRUE(strstr(err.msg, "no CUDA device") != NULL);
	T_EQ_INT(enc_cuda_open(&l.m, &(struct enc_cuda_options){ .vram_limit = 1 << 20 }, &cu, &err),
		 BASE_E_DEVICE);
	T_TRUE(strstr(err.msg, "cannot hold the weights") != NULL);
	unload(&l);
}

/* ---- failures ------------------------------------------------------------------------------ */

static void test_failures(void)
{
	struct gw_bert c = small(GGUF_GGML_F32, 1, true, 2);
	struct t_model l;
	fake_cuda_reset((size_t)8 << 30, false);
	t_model_make(&l, &c, 120);
	struct base_err err = { 0, "" };
	struct enc_cuda *cu = NULL;
	/* every allocation of open, failing in turn (4 of them: weights, work, two pinned) */
	int failed = 0;
	for (int k = 0; k < 16; k++) {
		fake_cuda_fail(k, -1);
		int rc = enc_cuda_open(&l.m, &(struct enc_cuda_options){ 0 }, &cu, &err);
		if (rc == BASE_OK) {
			enc_cuda_close(cu);
			break;
		}
		T_EQ_INT(rc, BASE_E_DEVICE);
		T_TRUE(cu == NULL);
		T_EQ_INT(fake_cuda_live(), 0);
		failed++;
	}
	T_EQ_INT(failed, 4);
	fprintf(stderr, "  last: %s\n", err.msg);

	/* a GEMM failing mid-batch */
	fake_cuda_fail(-1, -1);
	cu = open_fake(&l.m, 0);
	int32_t ids[3] = { 5, 6, 7 };
	uint32_t offs[2] = { 0, 3 };
	float out[64];
	struct enc_batch b = { ids, offs, 1 };
	fake_cuda_fail(-1, 2);
	T_EQ_INT(enc_cuda_forward(cu, &b, out, &err), BASE_E_DEVICE);
	fprintf(stderr, "  %s\n", err.msg);
	T_TRUE(strstr(err.msg, "cuBLAS") != NULL);
	enc_cuda_close(cu);
	unload(&l);
}

/* ---- the stage profile --------------------------------------------------------------- */

static void test_profile(void)
{
	struct gw_bert c = small(GGUF_GGML_F16, 1, false, 4);
	struct t_model l;
	fake_cuda_reset((size_t)8 << 30, false);
	t_model_make(&l, &c, 120);
	struct base_err err = { 0, "" };
	struct enc_cuda *plain = open_fake(&l.m, 0), *prof = NULL;
	T_OK(enc_cuda_open(&l.m, &(struct enc_cuda_options){ .profile = true }, &prof, &err));
	int32_t ids[40];
	for (int t = 0; t < 40; t++)
		ids[t] = (t * 7) % 120;
	uint32_t offs[3] = { 0, 25, 40 };
	struct enc_batch b = { ids, offs, 2 };
	float a[2 * 64], p[2 * 64];
	double ms[ENC_CUDA_STAGE__COUNT], total = 0;
	T_OK(enc_cuda_forward(plain, &b, a, &err));
	uint64_t t0 = base_now_ns();
	T_OK(enc_cuda_forward(prof, &b, p, &err));
	double wall = (double)(base_now_ns() - t0) / 1e6;
	T_TRUE(memcmp(a, p, sizeof(a)) == 0);
	enc_cuda_profile(prof, ms);
	for (int s = 0; s < ENC_CUDA_STAGE__COUNT; s++) {
		T_TRUE(ms[s] >= 0);
		total += ms[s];
	}
	/* the emulated kernels and GEMMs take time; the stages cover the forward */
	T_TRUE(ms[ENC_CUDA_STAGE_ATTENTION] > 0 && ms[ENC_CUDA_STAGE_QKV] > 0 && ms[ENC_CUDA_STAGE_DOWN] > 0);
	fprintf(stderr, "  stages %.2f ms of %.2f ms\n", total, wall);
	T_TRUE(total <= wall && total >= 0.8 * wall);
	enc_cuda_profile(plain, ms);
	for (int s = 0; s < ENC_CUDA_STAGE__COUNT; s++)
		T_TRUE(ms[s] == 0);
	enc_cuda_close(plain);
	enc_cuda_close(prof);
	T_EQ_INT(fake_cuda_live(), 0);
	unload(&l);
}

T_MAIN(T_ENTRY(test_bert_f32), T_ENTRY(test_bert_f16_cls), T_ENTRY(test_bert_q8_0), T_ENTRY(test_nomic_f32),
       T_ENTRY(test_nomic_bf16_cls), T_ENTRY(test_head20_cuda_cores), T_ENTRY(test_simple_attention_env),
       T_ENTRY(test_flash_attention_env),
       T_ENTRY(test_plan), T_ENTRY(test_failures), T_ENTRY(test_profile))
