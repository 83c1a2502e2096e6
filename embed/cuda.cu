/*
 * cuda.cu: the CUDA backend of the encoders (encoder.h), host side. The
 * kernels are in cuda_kernels.cu; the matrix products are cuBLAS GemmEx
 * with fp16 inputs and fp32 accumulation (tensor cores), and so is
 * attention when the head size is a multiple of 16 (cuk_attention_tc,
 * wmma). For comparisons on a GPU, LODE_CUDA_ATTENTION in the environment
 * picks another kernel: "simple" the CUDA-core one, "flash" the mma.sync
 * one (cuk_attention_flash: head sizes 16, 32, 64, 128, sm_80 and later).
 *
 * Memory plan. Two device allocations, both made at open:
 *   weights  fp16 matrices and embeddings (bert's q, k, v stacked into one
 *            [3E][E] matrix, nomic-bert's up and gate into one [2F][E]),
 *            fp32 biases and LayerNorm parameters, nomic-bert's rotary
 *            table (cos, sin) [n_ctx][D/2];
 *   work     the activations of a packed batch of up to max_tokens tokens
 *            (x fp32 and its fp16 copy, qkv, the attention output, an fp32
 *            projection output that also receives the pooled vectors, the
 *            feed-forward hidden states), the batch's ids, positions,
 *            boundaries and attention tiles, and cuBLAS's workspace.
 * max_tokens is what the VRAM limit (or the free memory, less a reserve)
 * leaves after the weights, at most MAX_TOKENS, so that forward never
 * allocates. Host side, one pinned block holds the batch's index arrays
 * (four copies up, one stream) and one the pooled output (copied down in
 * chunks of OUT_ROWS vectors). forward ends synchronised, so the pinned
 * blocks are free again when it returns.
 *
 * Every CUDA and cuBLAS call is checked; a failure becomes BASE_E_DEVICE
 * with the call and the runtime's message. Nothing here aborts: without a
 * driver or a device enc_cuda_open fails and embed/model.c uses the CPU.
 */
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "embed/encoder.h"
}
#include "embed/cuda_kernels.cuh"

/* Most tokens in one batch: beyond this, batches only cost memory. */
#define MAX_TOKENS 32768
/* cuBLAS workspace. */
#define BLAS_WS ((size_t)32 << 20)
/* Pooled vectors per copy to the host. */
#define OUT_ROWS 1024
/* Left to the driver and cuBLAS when the limit is near the free memory. */
#define FREE_RESERVE ((size_t)256 << 20)
/* Elements converted per step while uploading the weights. */
#define UPLOAD_CHUNK ((size_t)1 << 20)
#define ALIGN 256

struct cu_layer {
	__half *qkv, *o, *up, *down; /* up: [F][E] (bert) or [2F][E] up | gate (nomic-bert) */
	float *qkv_b, *o_b, *up_b, *down_b; /* NULL when absent */
	float *ln1, *ln1_b, *ln2, *ln2_b;
};

/* The attention kernel: cuk_attention, cuk_attention_tc, cuk_attention_flash. */
enum att { ATT_SIMPLE, ATT_WMMA, ATT_FLASH };

struct enc_cuda {
	struct enc_config c;
	bool nomic;
	enum att att;
	int device;
	char desc[320];
	cudaStream_t st;
	cublasHandle_t blas;
	uint64_t limit;
	size_t max_tokens;

	unsigned char *weights; /* device: everything below until layers */
	__half *tok, *pos;
	float *type0, *ln0, *ln0_b;
	float2 *rope;
	struct cu_layer *layers;

	unsigned char *work; /* device */
	float *x, *proj;
	__half *xh, *qkv, *attn, *ff;
	int32_t *d_ids, *d_pos;
	uint32_t *d_offs;
	struct cuk_tile *d_tiles;
	void *ws;

	unsigned char *h_stage; /* pinned: ids, pos, offs, tiles, as on the device */
	int32_t *h_ids, *h_pos;
	uint32_t *h_offs;
	struct cuk_tile *h_tiles;
	float *h_out; /* pinned: OUT_ROWS vectors */

	float *up32;     /* host: upload staging, UPLOAD_CHUNK floats */
	uint16_t *up16;  /* and halves */

	/* profile: an event at each stage boundary of a forward; ev[0] its start */
	bool profile;
	cudaEvent_t *ev;
	uint8_t *ev_stage; /* the stage that ends at ev[i] */
	size_t n_ev, max_ev;
	double prof_ms[ENC_CUDA_STAGE__COUNT];
};

/* ---- errors ------------------------------------------------------------------ */

static int cu_fail(struct base_err *err, cudaError_t e, const char *call, int line)
{
	return base_err_set(err, BASE_E_DEVICE, "CUDA: %s (%s; cuda.cu:%d)", cudaGetErrorString(e), call, line);
}

static int blas_fail(struct base_err *err, cublasStatus_t s, const char *call, int line)
{
	return base_err_set(err, BASE_E_DEVICE, "cuBLAS: %s (%s; cuda.cu:%d)", cublasGetStatusString(s), call, line);
}

#define CU_TRY(call)                                                          \
	do {                                                                  \
		cudaError_t e_ = (call);                                      \
		if (e_ != cudaSuccess)                                        \
			return cu_fail(err, e_, #call, __LINE__);             \
	} while (0)

#define BLAS_TRY(call)                                                        \
	do {                                                                  \
		cublasStatus_t s_ = (call);                                   \
		if (s_ != CUBLAS_STATUS_SUCCESS)                              \
			return blas_fail(err, s_, #call, __LINE__);           \
	} while (0)

/* ---- placing and uploading the weights ------------------------------------ */

/*
 * A bump allocator over one device block. With base NULL it only counts
 * (the first pass, for the size); the pointers it hands out are then not
 * used.
 */
struct arena {
	unsigned char *base;
	size_t off;
};

static void *take(struct arena *a, size_t bytes)
{
	size_t at = (a->off + ALIGN - 1) & ~(size_t)(ALIGN - 1);
	a->off = at + bytes;
	return a->base ? a->base + at : NULL;
}

/* n elements of t from element `first`, as fp16, to dst (device). */
static int put_half(struct enc_cuda *c, __half *dst, const struct enc_tensor *t, uint64_t first, uint64_t n,
		    struct base_err *err)
{
	for (uint64_t i = 0; i < n; i += UPLOAD_CHUNK) {
		size_t k = (size_t)BASE_MIN((uint64_t)UPLOAD_CHUNK, n - i);
		enc_tensor_f32(t, first + i, k, c->up32);
		for (size_t j = 0; j < k; j++)
			c->up16[j] = enc_f32_to_f16(c->up32[j]);
		CU_TRY(cudaMemcpy(dst + i, c->up16, k * sizeof(uint16_t), cudaMemcpyHostToDevice));
	}
	return BASE_OK;
}

/* n elements of t (fp32) to dst; zeros when t is absent. */
static int put_f32(struct enc_cuda *c, float *dst, const struct enc_tensor *t, uint64_t first, uint64_t n,
		   struct base_err *err)
{
	if (!t->data) {
		CU_TRY(cudaMemset(dst, 0, n * sizeof(float)));
		return BASE_OK;
	}
	for (uint64_t i = 0; i < n; i += UPLOAD_CHUNK) {
		size_t k = (size_t)BASE_MIN((uint64_t)UPLOAD_CHUNK, n - i);
		enc_tensor_f32(t, first + i, k, c->up32);
		CU_TRY(cudaMemcpy(dst + i, c->up32, k * sizeof(float), cudaMemcpyHostToDevice));
	}
	return BASE_OK;
}

#define PUT(call)                          \
	do {                               \
		if (upload) {              \
			int rc_ = (call);  \
			if (rc_)           \
				return rc_; \
		}                          \
	} while (0)

/* A whole matrix or vector, fp16 or fp32; NULL when absent. */
static __half *place_half(struct enc_cuda *c, struct arena *a, const struct enc_tensor *t, bool upload, int *rc,
			  struct base_err *err)
{
	if (!t->data || *rc)
		return NULL;
	__half *p = (__half *)take(a, (size_t)(t->ne0 * t->ne1) * sizeof(__half));
	if (upload)
		*rc = put_half(c, p, t, 0, t->ne0 * t->ne1, err);
	return p;
}

static float *place_f32(struct enc_cuda *c, struct arena *a, const struct enc_tensor *t, bool upload, int *rc,
			struct base_err *err)
{
	if (!t->data || *rc)
		return NULL;
	float *p = (float *)take(a, (size_t)(t->ne0 * t->ne1) * sizeof(float));
	if (upload)
		*rc = put_f32(c, p, t, 0, t->ne0 * t->ne1, err);
	return p;
}

/*
 * Lay the weights out in a (and, with upload, convert and copy them).
 * The same walk serves both passes, so the size counted is the size used.
 */
static int place_weights(struct enc_cuda *c, const struct enc_model *m, struct arena *a, bool upload,
			 struct base_err *err)
{
	const struct enc_config *cf = &m->c;
	size_t E = cf->n_embd, F = cf->n_ff, D = E / cf->n_head;
	int rc = BASE_OK;
	c->tok = place_half(c, a, &m->tok, upload, &rc, err);
	c->pos = place_half(c, a, &m->pos, upload, &rc, err);
	c->ln0 = place_f32(c, a, &m->ln0, upload, &rc, err);
	c->ln0_b = place_f32(c, a, &m->ln0_b, upload, &rc, err);
	if (rc)
		return rc;
	c->type0 = NULL;
	if (m->type.data) {
		c->type0 = (float *)take(a, E * sizeof(float));
		PUT(put_f32(c, c->type0, &m->type, 0, E, err));
	}
	c->rope = NULL;
	if (c->nomic) {
		size_t n = (size_t)cf->n_ctx * (D / 2);
		c->rope = (float2 *)take(a, n * sizeof(float2));
		if (upload) {
			/* the CPU reference's angles, in double */
			float2 *h = (float2 *)base_malloc(n * sizeof(float2));
			for (size_t i = 0; i < cf->n_ctx; i++)
				for (size_t d = 0; d < D / 2; d++) {
					double th = (double)i * pow((double)cf->rope_base, -2.0 * (double)d / (double)D);
					h[i * (D / 2) + d] = make_float2((float)cos(th), (float)sin(th));
				}
			cudaError_t e = cudaMemcpy(c->rope, h, n * sizeof(float2), cudaMemcpyHostToDevice);
			base_free(h);
			CU_TRY(e);
		}
	}
	for (uint32_t l = 0; l < cf->n_layer; l++) {
		const struct enc_layer *L = &m->layers[l];
		struct cu_layer *cl = &c->layers[l];
		if (L->qkv.data) {
			cl->qkv = place_half(c, a, &L->qkv, upload, &rc, err);
			cl->qkv_b = place_f32(c, a, &L->qkv_b, upload, &rc, err);
		} else {
			const struct enc_tensor *w[3] = { &L->q, &L->k, &L->v }, *b[3] = { &L->q_b, &L->k_b, &L->v_b };
			cl->qkv = (__half *)take(a, 3 * E * E * sizeof(__half));
			for (int i = 0; i < 3; i++)
				PUT(put_half(c, cl->qkv + i * E * E, w[i], 0, E * E, err));
			cl->qkv_b = NULL;
			if (L->q_b.data || L->k_b.data || L->v_b.data) {
				cl->qkv_b = (float *)take(a, 3 * E * sizeof(float));
				for (int i = 0; i < 3; i++)
					PUT(put_f32(c, cl->qkv_b + i * E, b[i], 0, E, err));
			}
		}
		cl->o = place_half(c, a, &L->o, upload, &rc, err);
		cl->o_b = place_f32(c, a, &L->o_b, upload, &rc, err);
		cl->ln1 = place_f32(c, a, &L->ln1, upload, &rc, err);
		cl->ln1_b = place_f32(c, a, &L->ln1_b, upload, &rc, err);
		cl->down = place_half(c, a, &L->down, upload, &rc, err);
		cl->down_b = place_f32(c, a, &L->down_b, upload, &rc, err);
		cl->ln2 = place_f32(c, a, &L->ln2, upload, &rc, err);
		cl->ln2_b = place_f32(c, a, &L->ln2_b, upload, &rc, err);
		if (rc)
			return rc;
		if (c->nomic) {
			cl->up = (__half *)take(a, 2 * F * E * sizeof(__half));
			PUT(put_half(c, cl->up, &L->up, 0, F * E, err));
			PUT(put_half(c, cl->up + F * E, &L->gate, 0, F * E, err));
			cl->up_b = NULL;
			if (L->up_b.data || L->gate_b.data) {
				cl->up_b = (float *)take(a, 2 * F * sizeof(float));
				PUT(put_f32(c, cl->up_b, &L->up_b, 0, F, err));
				PUT(put_f32(c, cl->up_b + F, &L->gate_b, 0, F, err));
			}
		} else {
			cl->up = place_half(c, a, &L->up, upload, &rc, err);
			cl->up_b = place_f32(c, a, &L->up_b, upload, &rc, err);
			if (rc)
				return rc;
		}
	}
	return BASE_OK;
}

/* ---- the work space ------------------------------------------------------------- */

/* Feed-forward width of the hidden buffer. */
static size_t ff_cols(const struct enc_cuda *c)
{
	return (size_t)c->c.n_ff * (c->nomic ? 2 : 1);
}

/* The batch's index arrays for T tokens, laid out in a (device or pinned host block). */
static void place_stage(struct arena *a, size_t T, int32_t **ids, int32_t **pos, uint32_t **offs,
			struct cuk_tile **tiles)
{
	*ids = (int32_t *)take(a, T * sizeof(int32_t));
	*pos = (int32_t *)take(a, T * sizeof(int32_t));
	*offs = (uint32_t *)take(a, (T + 1) * sizeof(uint32_t));
	*tiles = (struct cuk_tile *)take(a, T * sizeof(struct cuk_tile));
}

static void place_work(struct enc_cuda *c, struct arena *a, size_t T)
{
	size_t E = c->c.n_embd;
	c->x = (float *)take(a, T * E * sizeof(float));
	c->proj = (float *)take(a, T * E * sizeof(float));
	c->xh = (__half *)take(a, T * E * sizeof(__half));
	c->qkv = (__half *)take(a, T * 3 * E * sizeof(__half));
	c->attn = (__half *)take(a, T * E * sizeof(__half));
	c->ff = (__half *)take(a, T * ff_cols(c) * sizeof(__half));
	place_stage(a, T, &c->d_ids, &c->d_pos, &c->d_offs, &c->d_tiles);
	c->ws = take(a, BLAS_WS);
}

static size_t work_bytes(struct enc_cuda *c, size_t T)
{
	struct arena a = { NULL, 0 };
	place_work(c, &a, T);
	return a.off;
}

static double mib(uint64_t b)
{
	return (double)b / (1 << 20);
}

/* ---- open / close ----------------------------------------------------------------- */

extern "C" bool enc_cuda_built(void)
{
	return true;
}

static int check_shape(const struct enc_model *m, struct base_err *err)
{
	const struct enc_config *cf = &m->c;
	if (cf->n_head == 0 || cf->n_embd % cf->n_head)
		return base_err_set(err, BASE_E_UNSUPPORTED, "CUDA: %u heads do not divide n_embd %u", cf->n_head,
				    cf->n_embd);
	uint32_t D = cf->n_embd / cf->n_head;
	if (D % 4 || D > CUK_MAX_HEAD)
		return base_err_set(err, BASE_E_UNSUPPORTED,
				    "CUDA: head size %u (a multiple of 4, at most %d, supported)", D, CUK_MAX_HEAD);
	if ((uint64_t)MAX_TOKENS * 2 * cf->n_ff >= ((uint64_t)1 << 31))
		return base_err_set(err, BASE_E_UNSUPPORTED, "CUDA: n_ff %u is too wide", cf->n_ff);
	if ((size_t)cf->n_embd * sizeof(float) > 32768)
		return base_err_set(err, BASE_E_UNSUPPORTED, "CUDA: n_embd %u is too wide for the row kernels",
				    cf->n_embd);
	return BASE_OK;
}

/* Everything enc_cuda_open does once c->c and c->layers are set; c is closed by the caller on failure. */
static int setup(struct enc_cuda *c, const struct enc_model *m, struct base_err *err)
{
	const struct enc_config *cf = &m->c;
	size_t E = cf->n_embd;

	/* before any device call, so that it holds (and is testable) on every machine */
	struct arena wa = { NULL, 0 };
	int rc = place_weights(c, m, &wa, false, err);
	if (rc)
		return rc;
	size_t weights = wa.off, min_work = work_bytes(c, cf->n_ctx);
	if (weights + min_work > c->limit)
		return base_err_set(err, BASE_E_DEVICE,
				    "CUDA: the VRAM limit (%.1f MiB) cannot hold the weights (%.1f MiB) and one "
				    "sequence of %u tokens (%.1f MiB)",
				    mib(c->limit), mib(weights), cf->n_ctx, mib(min_work));

	int n = 0;
	cudaError_t e = cudaGetDeviceCount(&n);
	if (e == cudaSuccess && n == 0)
		return base_err_set(err, BASE_E_DEVICE, "no CUDA device");
	if (e != cudaSuccess) {
		int drv = 0;
		if (cudaDriverGetVersion(&drv) != cudaSuccess || drv == 0)
			return base_err_set(err, BASE_E_DEVICE, "no CUDA device: no NVIDIA driver is loaded");
		if (e == cudaErrorInsufficientDriver)
			return base_err_set(err, BASE_E_DEVICE,
					    "no CUDA device: the NVIDIA driver (CUDA %d.%d) is older than lode's CUDA "
					    "runtime (%d.%d)",
					    drv / 1000, drv % 1000 / 10, CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
		return base_err_set(err, BASE_E_DEVICE, "no CUDA device: %s", cudaGetErrorString(e));
	}
	if (c->device < 0 || c->device >= n)
		return base_err_set(err, BASE_E_DEVICE, "CUDA: no device %d (%d found)", c->device, n);
	CU_TRY(cudaSetDevice(c->device));
	struct cudaDeviceProp prop;
	CU_TRY(cudaGetDeviceProperties(&prop, c->device));
	e = cuk_probe();
	if (e != cudaSuccess)
		return base_err_set(err, BASE_E_DEVICE,
				    "CUDA: %s: sm_%d%d has no code in this build (%s; see LODE_CUDA_ARCHS)", prop.name,
				    prop.major, prop.minor, cudaGetErrorString(e));
	/* the wmma attention where the head size allows, unless the environment asks for another */
	const char *want = getenv("LODE_CUDA_ATTENTION");
	uint32_t D = cf->n_embd / cf->n_head;
	c->att = D % 16 == 0 ? ATT_WMMA : ATT_SIMPLE;
	if (want && strcmp(want, "simple") == 0)
		c->att = ATT_SIMPLE;
	else if (want && strcmp(want, "flash") == 0 && cuk_flash_head(D) && prop.major >= 8)
		c->att = ATT_FLASH;
	static const char *const att_name[] = { "simple", "wmma", "flash" };
	snprintf(c->desc, sizeof(c->desc), "%s, sm_%d%d, %.1f GiB cap, %s attention", prop.name, prop.major, prop.minor,
		 (double)c->limit / (1u << 30), att_name[c->att]);

	CU_TRY(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking));
	if (c->profile) {
		c->max_ev = 4 + 9 * (size_t)cf->n_layer; /* start, upload, embed, 9 a layer, pool */
		c->ev = (cudaEvent_t *)base_calloc(c->max_ev, sizeof(*c->ev));
		c->ev_stage = (uint8_t *)base_calloc(c->max_ev, 1);
		for (size_t i = 0; i < c->max_ev; i++)
			CU_TRY(cudaEventCreate(&c->ev[i]));
	}
	BLAS_TRY(cublasCreate(&c->blas));
	BLAS_TRY(cublasSetStream(c->blas, c->st));

	/* what the limit leaves after the weights, within the memory actually free */
	size_t free_b = 0, total_b = 0;
	CU_TRY(cudaMemGetInfo(&free_b, &total_b));
	uint64_t avail = c->limit;
	if (free_b < avail + FREE_RESERVE)
		avail = free_b > FREE_RESERVE ? free_b - FREE_RESERVE : 0;
	if (weights + min_work > avail)
		return base_err_set(err, BASE_E_DEVICE,
				    "CUDA: %s has %.0f MiB free, too little for the weights (%.1f MiB) and one sequence "
				    "(%.1f MiB)",
				    prop.name, mib(free_b), mib(weights), mib(min_work));
	size_t lo = cf->n_ctx, hi = MAX_TOKENS > lo ? MAX_TOKENS : lo;
	while (lo < hi) { /* the most tokens whose work space fits */
		size_t mid = lo + (hi - lo + 1) / 2;
		if (weights + work_bytes(c, mid) <= avail)
			lo = mid;
		else
			hi = mid - 1;
	}
	c->max_tokens = lo;

	CU_TRY(cudaMalloc((void **)&c->weights, weights));
	wa.base = c->weights;
	wa.off = 0;
	c->up32 = (float *)base_malloc(UPLOAD_CHUNK * sizeof(float));
	c->up16 = (uint16_t *)base_malloc(UPLOAD_CHUNK * sizeof(uint16_t));
	rc = place_weights(c, m, &wa, true, err);
	base_free(c->up32);
	base_free(c->up16);
	c->up32 = NULL;
	c->up16 = NULL;
	if (rc)
		return rc;

	size_t wb = work_bytes(c, c->max_tokens);
	CU_TRY(cudaMalloc((void **)&c->work, wb));
	struct arena ka = { c->work, 0 };
	place_work(c, &ka, c->max_tokens);
	BLAS_TRY(cublasSetWorkspace(c->blas, c->ws, BLAS_WS));

	struct arena ha = { NULL, 0 };
	place_stage(&ha, c->max_tokens, &c->h_ids, &c->h_pos, &c->h_offs, &c->h_tiles);
	CU_TRY(cudaMallocHost((void **)&c->h_stage, ha.off));
	ha.base = c->h_stage;
	ha.off = 0;
	place_stage(&ha, c->max_tokens, &c->h_ids, &c->h_pos, &c->h_offs, &c->h_tiles);
	CU_TRY(cudaMallocHost((void **)&c->h_out, (size_t)OUT_ROWS * E * sizeof(float)));
	/*
	 * the uploads ran on the legacy default stream, which c->st (non-blocking)
	 * does not wait for, and a pageable cudaMemcpy or a cudaMemset may return
	 * before the device has the bytes
	 */
	CU_TRY(cudaDeviceSynchronize());
	return BASE_OK;
}

extern "C" int enc_cuda_open(const struct enc_model *m, const struct enc_cuda_options *opts, struct enc_cuda **out,
			     struct base_err *err)
{
	*out = NULL;
	int rc = check_shape(m, err);
	if (rc)
		return rc;
	struct enc_cuda *c = (struct enc_cuda *)base_calloc(1, sizeof(*c));
	c->c = m->c;
	c->nomic = m->c.arch == ENC_NOMIC_BERT;
	c->device = opts ? opts->device : 0;
	c->limit = opts && opts->vram_limit ? opts->vram_limit : ENC_CUDA_DEFAULT_VRAM;
	c->profile = opts && opts->profile;
	c->layers = (struct cu_layer *)base_calloc(m->c.n_layer ? m->c.n_layer : 1, sizeof(*c->layers));
	rc = setup(c, m, err);
	if (rc) {
		enc_cuda_close(c);
		return rc;
	}
	*out = c;
	return BASE_OK;
}

extern "C" void enc_cuda_close(struct enc_cuda *c)
{
	if (!c)
		return;
	/* errors are ignored here: after a device fault there is nothing left to save */
	if (c->st)
		(void)cudaStreamSynchronize(c->st);
	for (size_t i = 0; c->ev && i < c->max_ev; i++)
		if (c->ev[i])
			(void)cudaEventDestroy(c->ev[i]);
	base_free(c->ev);
	base_free(c->ev_stage);
	if (c->blas)
		(void)cublasDestroy(c->blas);
	if (c->st)
		(void)cudaStreamDestroy(c->st);
	if (c->weights)
		(void)cudaFree(c->weights);
	if (c->work)
		(void)cudaFree(c->work);
	if (c->h_stage)
		(void)cudaFreeHost(c->h_stage);
	if (c->h_out)
		(void)cudaFreeHost(c->h_out);
	base_free(c->up32);
	base_free(c->up16);
	base_free(c->layers);
	base_free(c);
}

extern "C" size_t enc_cuda_max_tokens(const struct enc_cuda *c)
{
	return c ? c->max_tokens : 0;
}

extern "C" void enc_cuda_profile(const struct enc_cuda *c, double *ms)
{
	for (int i = 0; i < ENC_CUDA_STAGE__COUNT; i++)
		ms[i] = c ? c->prof_ms[i] : 0;
}

extern "C" const char *enc_cuda_describe(const struct enc_cuda *c)
{
	return c ? c->desc : "no CUDA";
}

/* ---- forward ---------------------------------------------------------------------- */

/* Profiling: the stage that ends here (ev[0], the start, has none). */
static cudaError_t mark(struct enc_cuda *c, enum enc_cuda_stage s)
{
	if (!c->profile)
		return cudaSuccess;
	if (c->n_ev == c->max_ev)
		return cudaErrorInvalidValue;
	c->ev_stage[c->n_ev] = (uint8_t)s;
	return cudaEventRecord(c->ev[c->n_ev++], c->st);
}

/* After a forward: add each stage's time, once the last event completed. */
static cudaError_t account(struct enc_cuda *c)
{
	if (!c->profile || c->n_ev < 2)
		return cudaSuccess;
	cudaError_t e = cudaEventSynchronize(c->ev[c->n_ev - 1]);
	for (size_t i = 1; i < c->n_ev && e == cudaSuccess; i++) {
		float ms = 0;
		e = cudaEventElapsedTime(&ms, c->ev[i - 1], c->ev[i]);
		c->prof_ms[c->ev_stage[i]] += ms;
	}
	return e;
}

#define STAGE(name) CU_TRY(mark(c, ENC_CUDA_STAGE_##name))

/* Y[T][out] = X[T][in] . W^T (W row-major [out][in]); X's rows ldx apart; Y fp16 or fp32. */
static cublasStatus_t gemm(struct enc_cuda *c, size_t T, size_t in, size_t out, const __half *X, size_t ldx,
			   const __half *W, void *Y, cudaDataType_t yt)
{
	const float one = 1.0f, zero = 0.0f;
	/* column-major: Y^T [out x T] = W^T [out x in] . X^T [in x T] */
	return cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)out, (int)T, (int)in, &one, W, CUDA_R_16F,
			    (int)in, X, CUDA_R_16F, (int)ldx, &zero, Y, yt, (int)out, CUBLAS_COMPUTE_32F,
			    CUBLAS_GEMM_DEFAULT);
}

/* The ids, positions, boundaries and attention tiles of b into the pinned block; the number of tiles. */
static size_t pack(struct enc_cuda *c, const struct enc_batch *b)
{
	size_t T = b->offs[b->n_seq], nt = 0;
	uint32_t rows = c->att == ATT_FLASH ? CUK_FLASH_ROWS : CUK_QROWS;
	memcpy(c->h_ids, b->ids, T * sizeof(int32_t));
	memcpy(c->h_offs, b->offs, (b->n_seq + 1) * sizeof(uint32_t));
	for (size_t s = 0; s < b->n_seq; s++) {
		uint32_t a = b->offs[s], L = b->offs[s + 1] - a;
		for (uint32_t i = 0; i < L; i++)
			c->h_pos[a + i] = (int32_t)i;
		for (uint32_t q0 = 0; q0 < L; q0 += rows)
			c->h_tiles[nt++] = cuk_tile{ a, L, q0 };
	}
	return nt;
}

static int run_layers(struct enc_cuda *c, size_t T, size_t n_tiles, struct base_err *err)
{
	const struct enc_config *cf = &c->c;
	size_t E = cf->n_embd, F = cf->n_ff, H = cf->n_head, FF = ff_cols(c);
	uint32_t t32 = (uint32_t)T;
	CU_TRY(cuk_embed(c->st, t32, (uint32_t)E, c->d_ids, c->d_pos, c->tok, c->type0, c->pos, c->ln0, c->ln0_b,
			 cf->eps, c->x, c->xh));
	STAGE(EMBED);
	for (uint32_t l = 0; l < cf->n_layer; l++) {
		const struct cu_layer *L = &c->layers[l];
		BLAS_TRY(gemm(c, T, E, 3 * E, c->xh, E, L->qkv, c->qkv, CUDA_R_16F));
		STAGE(QKV);
		CU_TRY(cuk_bias_rope(c->st, t32, (uint32_t)E, (uint32_t)H, c->qkv, L->qkv_b, c->rope, c->d_pos));
		STAGE(BIAS_ROPE);
		if (c->att == ATT_FLASH)
			CU_TRY(cuk_attention_flash(c->st, c->d_tiles, (uint32_t)n_tiles, (uint32_t)E, (uint32_t)H, c->qkv,
						   c->attn));
		else if (c->att == ATT_WMMA)
			CU_TRY(cuk_attention_tc(c->st, c->d_tiles, (uint32_t)n_tiles, (uint32_t)E, (uint32_t)H, c->qkv,
						c->attn));
		else
			CU_TRY(cuk_attention(c->st, c->d_tiles, (uint32_t)n_tiles, (uint32_t)E, (uint32_t)H, c->qkv,
					     c->attn));
		STAGE(ATTENTION);
		BLAS_TRY(gemm(c, T, E, E, c->attn, E, L->o, c->proj, CUDA_R_32F));
		STAGE(OUT);
		CU_TRY(cuk_add_ln(c->st, t32, (uint32_t)E, c->proj, L->o_b, L->ln1, L->ln1_b, cf->eps, c->x, c->xh));
		STAGE(ADD_LN1);
		BLAS_TRY(gemm(c, T, E, FF, c->xh, E, L->up, c->ff, CUDA_R_16F));
		STAGE(UP);
		if (c->nomic)
			CU_TRY(cuk_swiglu(c->st, t32, (uint32_t)F, c->ff, L->up_b));
		else
			CU_TRY(cuk_gelu(c->st, t32, (uint32_t)F, c->ff, L->up_b));
		STAGE(ACT);
		/* nomic-bert: the SwiGLU output sits in the first F of each row's 2F columns */
		BLAS_TRY(gemm(c, T, F, E, c->ff, FF, L->down, c->proj, CUDA_R_32F));
		STAGE(DOWN);
		CU_TRY(cuk_add_ln(c->st, t32, (uint32_t)E, c->proj, L->down_b, L->ln2, L->ln2_b, cf->eps, c->x, c->xh));
		STAGE(ADD_LN2);
	}
	return BASE_OK;
}

static int forward(struct enc_cuda *c, const struct enc_batch *b, float *out, struct base_err *err)
{
	size_t E = c->c.n_embd, T = b->offs[b->n_seq], n_seq = b->n_seq;
	size_t n_tiles = pack(c, b);
	c->n_ev = 0;
	CU_TRY(mark(c, ENC_CUDA_STAGE_UPLOAD)); /* the start */
	CU_TRY(cudaMemcpyAsync(c->d_ids, c->h_ids, T * sizeof(int32_t), cudaMemcpyHostToDevice, c->st));
	CU_TRY(cudaMemcpyAsync(c->d_pos, c->h_pos, T * sizeof(int32_t), cudaMemcpyHostToDevice, c->st));
	CU_TRY(cudaMemcpyAsync(c->d_offs, c->h_offs, (n_seq + 1) * sizeof(uint32_t), cudaMemcpyHostToDevice, c->st));
	CU_TRY(cudaMemcpyAsync(c->d_tiles, c->h_tiles, n_tiles * sizeof(struct cuk_tile), cudaMemcpyHostToDevice,
			       c->st));
	STAGE(UPLOAD);
	int rc = run_layers(c, T, n_tiles, err);
	if (rc)
		return rc;
	/* n_seq <= T, so proj ([T][E]) holds the pooled vectors */
	CU_TRY(cuk_pool(c->st, (uint32_t)n_seq, (uint32_t)E, c->d_offs, c->c.pool == ENC_POOL_CLS, c->x, c->proj));
	for (size_t s = 0; s < n_seq; s += OUT_ROWS) {
		size_t k = BASE_MIN((size_t)OUT_ROWS, n_seq - s);
		CU_TRY(cudaMemcpyAsync(c->h_out, c->proj + s * E, k * E * sizeof(float), cudaMemcpyDeviceToHost,
				       c->st));
		CU_TRY(cudaStreamSynchronize(c->st));
		memcpy(out + s * E, c->h_out, k * E * sizeof(float));
	}
	STAGE(POOL);
	CU_TRY(account(c));
	return BASE_OK;
}
#undef STAGE

extern "C" int enc_cuda_forward(struct enc_cuda *c, const struct enc_batch *b, float *out, struct base_err *err)
{
	size_t T = b->offs[b->n_seq];
	int rc = enc_batch_check(&c->c, b, err);
	if (rc)
		return rc;
	if (T > c->max_tokens)
		return base_err_set(err, BASE_E_TOOBIG, "CUDA: a batch of %zu tokens (at most %zu on this device)", T,
				    c->max_tokens);
	if (T == 0)
		return BASE_OK;
	cudaError_t e = cudaSetDevice(c->device); /* the calling thread may not be the opening one */
	if (e != cudaSuccess)
		return cu_fail(err, e, "cudaSetDevice", __LINE__);
	rc = forward(c, b, out, err);
	if (rc) {
		/* leave the stream idle: the next call (or close) must not race a failed batch */
		(void)cudaStreamSynchronize(c->st);
	}
	return rc;
}
