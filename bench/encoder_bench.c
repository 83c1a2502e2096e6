/*
 * encoder_bench.c: throughput of lode's CUDA encoder on BERT shapes with
 * random fp16 weights.
 *
 *   encoder_bench [--ids FILE] [--write-ids FILE] [--chunks N] [--seed N]
 *                 [--model minilm|bge-small|bge-base|all] [--vram MIB]
 *                 [--batch-tokens N] [--seconds S]
 *
 * Chunks: token-id sequences whose lengths are lognormal (median 180,
 * sigma 0.6) clipped to 16..512, [CLS] ... [SEP], fixed seed. --write-ids
 * writes them (one chunk a line, ids separated by spaces) and exits, so
 * that bench/encoder_peer.py runs the same ids; --ids reads such a file.
 * Chunks are sorted by length and cut into batches of at most
 * --batch-tokens tokens (default: the backend's max_tokens).
 *
 * Models (vocab 30522, context 512, mean pooling): MiniLM-L6 (6 x 384, 12
 * heads, ff 1536), bge-small (12 x 384), bge-base (12 x 768, ff 3072).
 *
 * Output: JSON lines. One "gemm" line (a large cuBLAS fp16 GemmEx with
 * fp32 accumulation: the card's practical tensor-core rate), then per
 * model tokens/s, chunks/s, the model FLOP rate and its fraction of the
 * GEMM rate, and the VRAM the backend took (cudaMemGetInfo before open and
 * after the run); then one "profile" line from a pass on a second handle
 * opened with enc_cuda_options.profile: device milliseconds per stage
 * (CUDA events between the stages), each stage's share, the four GEMMs'
 * TFLOPS, and the pass's wall time beside its device time (the gap is
 * launch and host overhead). LODE_CUDA_ATTENTION in the environment picks
 * the backend's attention kernel (embed/cuda.cu; impl "lode-cuda-K-attn"
 * for LODE_CUDA_ATTENTION=K).
 */
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/chunks.h"
#include "embed/encoder.h"

#include "base/banned.h"


struct shape {
	const char *name;
	uint32_t layers, embd, heads, ff;
};

static const struct shape shapes[] = {
	{ "minilm-l6", 6, 384, 12, 1536 },
	{ "bge-small", 12, 384, 12, 1536 },
	{ "bge-base", 12, 768, 12, 3072 },
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}


/* ---- a random model in memory ----------------------------------------------------- */

struct mem_model {
	struct enc_model m;
	BASE_VEC(void *) bufs;
};

static struct enc_tensor tensor(struct mem_model *mm, uint64_t ne0, uint64_t ne1, bool half, float scale, float base)
{
	size_t n = (size_t)(ne0 * ne1);
	void *p = base_malloc(n * (half ? 2 : 4));
	for (size_t i = 0; i < n; i++) {
		float v = base + scale * (float)(2.0 * bench_uniform() - 1.0);
		if (half)
			((uint16_t *)p)[i] = enc_f32_to_f16(v);
		else
			((float *)p)[i] = v;
	}
	base_vec_push(&mm->bufs, p);
	struct enc_tensor t = { half ? GGUF_GGML_F16 : GGUF_GGML_F32, ne0, ne1, p, "random" };
	return t;
}

static void model_make(struct mem_model *mm, const struct shape *s)
{
	memset(mm, 0, sizeof(*mm));
	struct enc_model *m = &mm->m;
	m->c = (struct enc_config){ .arch = ENC_BERT, .pool = ENC_POOL_MEAN, .n_vocab = BENCH_VOCAB, .n_embd = s->embd,
				    .n_head = s->heads, .n_layer = s->layers, .n_ff = s->ff, .n_ctx = BENCH_CTX,
				    .n_type = 2, .eps = 1e-12f };
	uint64_t E = s->embd, F = s->ff;
	m->tok = tensor(mm, E, BENCH_VOCAB, true, 0.1f, 0);
	m->type = tensor(mm, E, 2, true, 0.1f, 0);
	m->pos = tensor(mm, E, BENCH_CTX, true, 0.1f, 0);
	m->ln0 = tensor(mm, E, 1, false, 0.05f, 1);
	m->ln0_b = tensor(mm, E, 1, false, 0.05f, 0);
	m->layers = base_calloc(s->layers, sizeof(*m->layers));
	float se = 1.0f / sqrtf((float)E), sf = 1.0f / sqrtf((float)F);
	for (uint32_t l = 0; l < s->layers; l++) {
		struct enc_layer *L = &m->layers[l];
		L->q = tensor(mm, E, E, true, se, 0);
		L->k = tensor(mm, E, E, true, se, 0);
		L->v = tensor(mm, E, E, true, se, 0);
		L->o = tensor(mm, E, E, true, se, 0);
		L->up = tensor(mm, E, F, true, se, 0);
		L->down = tensor(mm, F, E, true, sf, 0);
		L->q_b = tensor(mm, E, 1, false, 0.02f, 0);
		L->k_b = tensor(mm, E, 1, false, 0.02f, 0);
		L->v_b = tensor(mm, E, 1, false, 0.02f, 0);
		L->o_b = tensor(mm, E, 1, false, 0.02f, 0);
		L->up_b = tensor(mm, F, 1, false, 0.02f, 0);
		L->down_b = tensor(mm, E, 1, false, 0.02f, 0);
		L->ln1 = tensor(mm, E, 1, false, 0.05f, 1);
		L->ln1_b = tensor(mm, E, 1, false, 0.05f, 0);
		L->ln2 = tensor(mm, E, 1, false, 0.05f, 1);
		L->ln2_b = tensor(mm, E, 1, false, 0.05f, 0);
	}
	m->name = s->name;
}

static void model_release(struct mem_model *mm)
{
	for (size_t i = 0; i < mm->bufs.n; i++)
		base_free(mm->bufs.v[i]);
	base_vec_release(&mm->bufs);
	base_free(mm->m.layers);
}

/* Multiply-adds x 2 for one sequence of L tokens: the matrices, then QK^T and PV. */
static double seq_flops(const struct shape *s, double L)
{
	double E = s->embd, F = s->ff;
	return s->layers * (2.0 * L * (4 * E * E + 2 * E * F) + 4.0 * L * L * E);
}

/* ---- the card's fp16 GEMM rate -------------------------------------------------------- */

static double gemm_tflops(void)
{
	const int n = 8192, reps = 20;
	void *a = NULL, *b = NULL, *c = NULL;
	uint16_t *host = NULL;
	cublasHandle_t h = NULL;
	cudaEvent_t e0 = NULL, e1 = NULL;
	double tf = -1;
	float one = 1, zero = 0, ms = 0;
	size_t bytes = (size_t)n * n * 2;
	if (cudaMalloc(&a, bytes) || cudaMalloc(&b, bytes) || cudaMalloc(&c, bytes) || cublasCreate(&h))
		goto out;
	/* random operands: zeros would let the tensor cores run cooler (and faster) than real data */
	host = base_malloc(bytes);
	for (size_t i = 0; i < (size_t)n * n; i++)
		host[i] = enc_f32_to_f16((float)(2.0 * bench_uniform() - 1.0));
	bool copied = !cudaMemcpy(a, host, bytes, cudaMemcpyHostToDevice) &&
		      !cudaMemcpy(b, host, bytes, cudaMemcpyHostToDevice);
	if (!copied)
		goto out;
	cudaEventCreate(&e0);
	cudaEventCreate(&e1);
	for (int r = -3; r < reps; r++) {
		if (r == 0)
			cudaEventRecord(e0, 0);
		if (cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &one, a, CUDA_R_16F, n, b, CUDA_R_16F, n, &zero, c,
				 CUDA_R_16F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT))
			goto out;
	}
	cudaEventRecord(e1, 0);
	if (cudaEventSynchronize(e1) || cudaEventElapsedTime(&ms, e0, e1))
		goto out;
	tf = 2.0 * n * (double)n * n * reps / (ms * 1e-3) / 1e12;
out:
	base_free(host);
	if (e0)
		cudaEventDestroy(e0);
	if (e1)
		cudaEventDestroy(e1);
	if (h)
		cublasDestroy(h);
	cudaFree(a);
	cudaFree(b);
	cudaFree(c);
	return tf;
}

/* ---- one model ------------------------------------------------------------------------ */


/* One pass over every batch; offsets are rebased into a scratch array per batch. */
static int run_pass(struct enc_cuda *cu, const struct bench_plan *p, uint32_t *offs, float *out, struct base_err *err)
{
	for (size_t b = 0; b < p->n_batch; b++) {
		size_t s0 = p->batch[b], s1 = p->batch[b + 1];
		uint32_t base = p->offs[s0];
		for (size_t s = s0; s <= s1; s++)
			offs[s - s0] = p->offs[s] - base;
		struct enc_batch bt = { p->ids + base, offs, s1 - s0 };
		int rc = enc_cuda_forward(cu, &bt, out, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* One profiled pass (after a warm-up) on a handle of its own: where the time goes. */
static int profile_model(const struct shape *s, const struct enc_model *m, const struct bench_plan *p,
			 uint64_t vram, uint32_t *offs, float *out)
{
	static const char *const names[] = {
#define NAME(name, text) text,
		ENC_CUDA_STAGE_MAP(NAME)
#undef NAME
	};
	struct enc_cuda *cu = NULL;
	struct base_err err = { 0, "" };
	struct enc_cuda_options o = { .vram_limit = vram, .device = 0, .profile = true };
	int rc = enc_cuda_open(m, &o, &cu, &err);
	double ms[ENC_CUDA_STAGE__COUNT], t = 0;
	if (!rc)
		rc = run_pass(cu, p, offs, out, &err);
	enc_cuda_profile(cu, ms); /* the warm-up's, taken off below */
	if (!rc) {
		double t0 = now();
		rc = run_pass(cu, p, offs, out, &err);
		t = now() - t0;
	}
	if (rc) {
		fprintf(stderr, "encoder_bench: %s (profile): %s\n", s->name, err.msg);
		enc_cuda_close(cu);
		return 2;
	}
	double after[ENC_CUDA_STAGE__COUNT], dev = 0;
	enc_cuda_profile(cu, after);
	for (int i = 0; i < ENC_CUDA_STAGE__COUNT; i++)
		dev += ms[i] = after[i] - ms[i];
	/* 2 x multiply-adds of each GEMM over the pass */
	double T = (double)p->tokens * s->layers, E = s->embd, F = s->ff;
	double gf[ENC_CUDA_STAGE__COUNT] = { 0 };
	gf[ENC_CUDA_STAGE_QKV] = 2 * T * E * 3 * E;
	gf[ENC_CUDA_STAGE_OUT] = 2 * T * E * E;
	gf[ENC_CUDA_STAGE_UP] = 2 * T * E * F;
	gf[ENC_CUDA_STAGE_DOWN] = 2 * T * F * E;
	printf("{\"bench\":\"profile\",\"model\":\"%s\",\"wall_ms\":%.3f,\"device_ms\":%.3f,\"stages\":{", s->name,
	       t * 1e3, dev);
	for (int i = 0; i < ENC_CUDA_STAGE__COUNT; i++) {
		printf("%s\"%s\":{\"ms\":%.3f,\"share\":%.3f", i ? "," : "", names[i], ms[i], dev > 0 ? ms[i] / dev : 0);
		if (gf[i] > 0 && ms[i] > 0)
			printf(",\"tflops\":%.1f", gf[i] / (ms[i] * 1e-3) / 1e12);
		printf("}");
	}
	printf("}}\n");
	fflush(stdout);
	enc_cuda_close(cu);
	return 0;
}

static int bench_model(const struct shape *s, const struct bench_chunks *c, uint64_t vram, size_t batch_tokens,
		       double seconds, double gemm)
{
	struct mem_model mm;
	model_make(&mm, s);
	size_t free0 = 0, free1 = 0, total = 0;
	cudaMemGetInfo(&free0, &total);
	struct enc_cuda *cu = NULL;
	struct base_err err = { 0, "" };
	struct enc_cuda_options o = { .vram_limit = vram, .device = 0 };
	if (enc_cuda_open(&mm.m, &o, &cu, &err)) {
		fprintf(stderr, "encoder_bench: %s: %s\n", s->name, err.msg);
		model_release(&mm);
		return 2;
	}
	size_t budget = batch_tokens ? BASE_MIN(batch_tokens, enc_cuda_max_tokens(cu)) : enc_cuda_max_tokens(cu);
	struct bench_plan p;
	bench_plan_make(&p, c, budget);
	uint32_t *offs = base_malloc((p.n_seq + 1) * sizeof(*offs));
	float *out = base_malloc(p.n_seq * s->embd * sizeof(float));
	double flops = 0;
	for (size_t i = 0; i < p.n_seq; i++)
		flops += seq_flops(s, p.offs[i + 1] - p.offs[i]);
	int rc = run_pass(cu, &p, offs, out, &err); /* warm-up: cuBLAS heuristics, clocks */
	int passes = 0;
	double t0 = now(), t = 0;
	while (!rc && (passes == 0 || t < seconds)) {
		rc = run_pass(cu, &p, offs, out, &err);
		passes++;
		t = now() - t0;
	}
	cudaMemGetInfo(&free1, &total);
	if (rc) {
		fprintf(stderr, "encoder_bench: %s: %s\n", s->name, err.msg);
	} else {
		double tps = p.tokens * passes / t, cps = p.n_seq * passes / t, tf = flops * passes / t / 1e12;
		const char *attn = getenv("LODE_CUDA_ATTENTION");
		printf("{\"bench\":\"encoder\",\"impl\":\"lode-cuda%s%s%s\",\"model\":\"%s\",\"device\":\"%s\","
		       "\"chunks\":%zu,\"tokens\":%zu,\"batches\":%zu,\"batch_tokens\":%zu,\"passes\":%d,"
		       "\"seconds\":%.3f,\"tokens_per_s\":%.0f,\"chunks_per_s\":%.1f,\"model_tflops\":%.2f,"
		       "\"fraction_of_gemm\":%.3f,\"vram_mib\":%.1f}\n",
		       attn ? "-" : "", attn ? attn : "", attn ? "-attn" : "", s->name, enc_cuda_describe(cu), p.n_seq, p.tokens, p.n_batch, budget, passes, t, tps, cps, tf,
		       gemm > 0 ? tf / gemm : 0.0, (double)(free0 - free1) / (1 << 20));
		fflush(stdout);
	}
	enc_cuda_close(cu);
	cu = NULL;
	if (!rc)
		rc = profile_model(s, &mm.m, &p, vram, offs, out);
	base_free(offs);
	base_free(out);
	bench_plan_release(&p);
	enc_cuda_close(cu);
	model_release(&mm);
	return rc ? 2 : 0;
}

int main(int argc, char **argv)
{
	const char *ids_path = NULL, *write_path = NULL, *model = "all";
	size_t n_chunks = 4096, batch_tokens = 0;
	uint64_t vram = 0;
	double seconds = 5;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v) {
			fprintf(stderr, "encoder_bench: %s needs a value\n", a);
			return 1;
		}
		if (strcmp(a, "--ids") == 0)
			ids_path = v;
		else if (strcmp(a, "--write-ids") == 0)
			write_path = v;
		else if (strcmp(a, "--model") == 0)
			model = v;
		else if (strcmp(a, "--chunks") == 0)
			n_chunks = strtoul(v, NULL, 10);
		else if (strcmp(a, "--seed") == 0)
			bench_rng = strtoull(v, NULL, 10);
		else if (strcmp(a, "--vram") == 0)
			vram = (uint64_t)strtoull(v, NULL, 10) << 20;
		else if (strcmp(a, "--batch-tokens") == 0)
			batch_tokens = strtoul(v, NULL, 10);
		else if (strcmp(a, "--seconds") == 0)
			seconds = strtod(v, NULL);
		else {
			fprintf(stderr, "usage: encoder_bench [--ids FILE] [--write-ids FILE] [--chunks N] [--seed N]\n"
					"       [--model minilm-l6|bge-small|bge-base|all] [--vram MIB]\n"
					"       [--batch-tokens N] [--seconds S]\n");
			return 1;
		}
		i++;
	}
	struct bench_chunks c;
	int got = bench_chunks_get(&c, "encoder_bench", ids_path, write_path, n_chunks);
	if (got)
		return got < 0 ? 1 : 0;
	if (!enc_cuda_built()) {
		fprintf(stderr, "encoder_bench: this build has no CUDA\n");
		bench_chunks_release(&c);
		return 77;
	}
	double gemm = gemm_tflops();
	if (gemm < 0) {
		fprintf(stderr, "encoder_bench: no usable CUDA device\n");
		bench_chunks_release(&c);
		return 77;
	}
	struct cudaDeviceProp prop;
	cudaGetDeviceProperties(&prop, 0);
	printf("{\"bench\":\"gemm\",\"device\":\"%s\",\"m\":8192,\"n\":8192,\"k\":8192,\"types\":\"f16 in, f32 "
	       "compute, f16 out\",\"tflops\":%.1f}\n",
	       prop.name, gemm);
	int rc = 0;
	bool any = false;
	for (size_t i = 0; i < BASE_ARRAY_LEN(shapes); i++) {
		if (strcmp(model, "all") != 0 && strcmp(model, shapes[i].name) != 0)
			continue;
		any = true;
		rc |= bench_model(&shapes[i], &c, vram, batch_tokens, seconds, gemm);
	}
	bench_chunks_release(&c);
	if (!any)
		fprintf(stderr, "encoder_bench: no model %s\n", model);
	return !any ? 1 : rc;
}
