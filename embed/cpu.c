/*
 * cpu.c: the CPU reference backend (encoder.h). fp32 throughout; the
 * matrix products go to BLAS sgemm when the build has a CBLAS
 * (LODE_HAVE_CBLAS), else to a plain loop. It is the correctness anchor
 * the CUDA backend is checked against, and the path for users without a
 * GPU.
 *
 * The packed batch is computed as a whole: every matrix product runs over
 * all tokens of all sequences at once; only attention looks at one
 * sequence (and one head) at a time, in blocks of query rows so that the
 * score matrix stays small for long sequences.
 *
 * Threads: the weights are read-only after enc_cpu_open and every call
 * allocates its own work space, so any number of enc_cpu_forward calls
 * may run at once on one handle (the indexer's workers do). The
 * parallelism is the callers': each call's products run on its own
 * thread, and OpenBLAS is told to start none of its own — on two cores,
 * two workers each driving OpenBLAS's threads ran MiniLM-L6 at 1,764
 * tokens/s, single-threaded BLAS at 6,068 (bench/encoder_cpu.sh).
 */
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#ifdef LODE_HAVE_CBLAS
#include <cblas.h>
#endif

#include "embed/encoder.h"
#include "embed/internal.h"

#include "base/banned.h"

/* Query rows per attention block. */
#define ATTN_ROWS 64

struct cpu_layer {
	float *qkv, *qkv_b; /* [3E][E], [3E]: q, k, v rows (bert's three matrices stacked) */
	float *o, *o_b, *ln1, *ln1_b;
	float *up, *up_b, *gate, *gate_b, *down, *down_b;
	float *ln2, *ln2_b;
};

struct enc_cpu {
	struct enc_config c;
	float *tok, *type0, *pos; /* pos: bert only; type0: the type-0 row or NULL */
	float *ln0, *ln0_b;
	struct cpu_layer *layers;
	BASE_VEC(float *) owned;  /* every array above, for close */
};

/* ---- matrix products ------------------------------------------------------ */

/* C[M][N] = A[M][K] . B[N][K]^T (row-major, leading dimensions given). */
static void gemm_nt(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
		    float *C, size_t ldc)
{
#ifdef LODE_HAVE_CBLAS
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B,
		    (int)ldb, 0.0f, C, (int)ldc);
#else
	for (size_t i = 0; i < M; i++)
		for (size_t j = 0; j < N; j++) {
			float s = 0;
			for (size_t k = 0; k < K; k++)
				s += A[i * lda + k] * B[j * ldb + k];
			C[i * ldc + j] = s;
		}
#endif
}

/* C[M][N] = A[M][K] . B[K][N]. */
static void gemm_nn(size_t M, size_t N, size_t K, const float *A, size_t lda, const float *B, size_t ldb,
		    float *C, size_t ldc)
{
#ifdef LODE_HAVE_CBLAS
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0f, A, (int)lda, B,
		    (int)ldb, 0.0f, C, (int)ldc);
#else
	for (size_t i = 0; i < M; i++) {
		float *c = C + i * ldc;
		memset(c, 0, N * sizeof(*c));
		for (size_t k = 0; k < K; k++) {
			float a = A[i * lda + k];
			const float *b = B + k * ldb;
			for (size_t j = 0; j < N; j++)
				c[j] += a * b[j];
		}
	}
#endif
}

/* Y[T][out] = X[T][in] . W^T + b (b may be NULL). */
static void linear(size_t T, size_t in, size_t out, const float *X, const float *W, const float *b, float *Y)
{
	gemm_nt(T, out, in, X, in, W, in, Y, out);
	if (b)
		for (size_t t = 0; t < T; t++)
			for (size_t j = 0; j < out; j++)
				Y[t * out + j] += b[j];
}

/* ---- element-wise pieces ------------------------------------------------- */

/* x = LN(x + r) * w + b over rows of n (r may be NULL). */
static void add_layernorm(float *x, const float *r, size_t rows, size_t n, const float *w, const float *b,
			  float eps)
{
	for (size_t t = 0; t < rows; t++) {
		float *v = x + t * n;
		if (r)
			for (size_t j = 0; j < n; j++)
				v[j] += r[t * n + j];
		double mean = 0, var = 0;
		for (size_t j = 0; j < n; j++)
			mean += v[j];
		mean /= (double)n;
		for (size_t j = 0; j < n; j++) {
			double d = v[j] - mean;
			var += d * d;
		}
		var /= (double)n;
		float inv = (float)(1.0 / sqrt(var + eps)), m = (float)mean;
		for (size_t j = 0; j < n; j++)
			v[j] = (v[j] - m) * inv * w[j] + b[j];
	}
}

/*
 * exp, erf and their users over whole rows. libm's expf and erff are
 * exact to an ulp but one call at a time: in a 512-token attention they
 * were a sixth of the run. These are branch-free, so the compiler runs
 * them four or eight lanes at once:
 *   exp: Cody-Waite reduction by ln 2, Cephes' degree-6 polynomial
 *        (relative error < 2e-7 over the clamped range [-87, 88]);
 *   erf: Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7 exactly,
 *        < 5e-7 evaluated in fp32: a few ulp near ±1).
 * Both are checked against libm in tests/embed/test_encoder.c, and the
 * encoder's outputs against PyTorch's (1e-5 an element).
 */
static inline float exp_fast(float x)
{
	x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
	float r = x - n * 0.693359375f - n * -2.12194440e-4f;
	float p = 1.9875691500e-4f;
	p = p * r + 1.3981999507e-3f;
	p = p * r + 8.3334519073e-3f;
	p = p * r + 4.1665795894e-2f;
	p = p * r + 1.6666665459e-1f;
	p = p * r + 5.0000001201e-1f;
	float y = p * r * r + r + 1.0f;
	int32_t bits = ((int32_t)n + 127) << 23;
	float scale;
	memcpy(&scale, &bits, sizeof(scale));
	return y * scale;
}

static inline float erf_fast(float x)
{
	float a = fabsf(x), t = 1.0f / (1.0f + 0.3275911f * a);
	float p = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
	return copysignf(1.0f - p * exp_fast(-a * a), x);
}

/* h = GELU(h) (erf form, BERT's), n values */
static void gelu_rows(float *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h[i] = 0.5f * h[i] * (1.0f + erf_fast(h[i] * 0.70710678118654752f));
}

/* h = h * SiLU(g), n values */
static void swiglu_rows(float *h, const float *g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h[i] *= g[i] / (1.0f + exp_fast(-g[i]));
}

float enc__exp_fast(float x)
{
	return exp_fast(x);
}

float enc__erf_fast(float x)
{
	return erf_fast(x);
}

/*
 * Rotary positions, NeoX layout: within each head, element d pairs with
 * d + D/2, rotated by pos * base^(-2d/D). qk is [L][ld], heads of D at
 * column offsets h*D for h < H.
 */
static void rope(float *qk, size_t L, size_t ld, size_t H, size_t D, float base)
{
	size_t half = D / 2;
	for (size_t i = 0; i < L; i++)
		for (size_t d = 0; d < half; d++) {
			double theta = (double)i * pow((double)base, -2.0 * (double)d / (double)D);
			float cs = (float)cos(theta), sn = (float)sin(theta);
			for (size_t h = 0; h < H; h++) {
				float *v = qk + i * ld + h * D;
				float x1 = v[d], x2 = v[d + half];
				v[d] = x1 * cs - x2 * sn;
				v[d + half] = x2 * cs + x1 * sn;
			}
		}
}

/*
 * Attention of one sequence of L tokens: qkv [L][3E] (q | k | v), out
 * [L][E]; scores holds ATTN_ROWS * L floats.
 */
static void attention(const float *qkv, size_t L, size_t E, size_t H, float *out, float *scores)
{
	size_t D = E / H, ld = 3 * E;
	float scale = 1.0f / sqrtf((float)D);
	for (size_t h = 0; h < H; h++) {
		const float *q = qkv + h * D, *k = qkv + E + h * D, *v = qkv + 2 * E + h * D;
		for (size_t r0 = 0; r0 < L; r0 += ATTN_ROWS) {
			size_t rows = BASE_MIN(ATTN_ROWS, L - r0);
			gemm_nt(rows, L, D, q + r0 * ld, ld, k, ld, scores, L);
			for (size_t i = 0; i < rows; i++) {
				float *s = scores + i * L, mx = -INFINITY;
				for (size_t j = 0; j < L; j++) {
					s[j] *= scale;
					mx = s[j] > mx ? s[j] : mx;
				}
				for (size_t j = 0; j < L; j++)
					s[j] = exp_fast(s[j] - mx);
				double sum = 0;
				for (size_t j = 0; j < L; j++)
					sum += s[j];
				float inv = (float)(1.0 / sum);
				for (size_t j = 0; j < L; j++)
					s[j] *= inv;
			}
			gemm_nn(rows, D, L, scores, L, v, ld, out + r0 * E + h * D, E);
		}
	}
}

/* ---- open / close ---------------------------------------------------------- */

/* OpenBLAS's thread count is global; looked up at run time (any CBLAS will do). */
static void blas_single_threaded(void)
{
	void (*set)(int) = NULL;
	*(void **)&set = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
	if (set)
		set(1);
}

/* fp32 copy of t's first `rows` rows (NULL when t is absent). */
static float *to_f32(struct enc_cpu *c, const struct enc_tensor *t, uint64_t rows)
{
	if (!t->data)
		return NULL;
	float *p = base_malloc((size_t)(rows * t->ne0) * sizeof(*p));
	enc_tensor_f32(t, 0, rows * t->ne0, p);
	base_vec_push(&c->owned, p);
	return p;
}

static float *whole(struct enc_cpu *c, const struct enc_tensor *t)
{
	return to_f32(c, t, t->ne1);
}

int enc_cpu_open(const struct enc_model *m, struct enc_cpu **out, struct base_err *err)
{
	(void)err;
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, blas_single_threaded);
	struct enc_cpu *c = base_calloc(1, sizeof(*c));
	c->c = m->c;
	size_t E = m->c.n_embd;
	c->tok = whole(c, &m->tok);
	c->type0 = to_f32(c, &m->type, 1);
	c->pos = whole(c, &m->pos);
	c->ln0 = whole(c, &m->ln0);
	c->ln0_b = whole(c, &m->ln0_b);
	c->layers = base_calloc(m->c.n_layer, sizeof(*c->layers));
	for (uint32_t l = 0; l < m->c.n_layer; l++) {
		const struct enc_layer *L = &m->layers[l];
		struct cpu_layer *cl = &c->layers[l];
		if (L->qkv.data) {
			cl->qkv = whole(c, &L->qkv);
			cl->qkv_b = whole(c, &L->qkv_b);
		} else {
			cl->qkv = base_malloc(3 * E * E * sizeof(float));
			cl->qkv_b = base_malloc(3 * E * sizeof(float));
			base_vec_push(&c->owned, cl->qkv);
			base_vec_push(&c->owned, cl->qkv_b);
			const struct enc_tensor *w[3] = { &L->q, &L->k, &L->v }, *b[3] = { &L->q_b, &L->k_b, &L->v_b };
			for (int i = 0; i < 3; i++) {
				enc_tensor_f32(w[i], 0, E * E, cl->qkv + i * E * E);
				enc_tensor_f32(b[i], 0, E, cl->qkv_b + i * E);
			}
		}
		cl->o = whole(c, &L->o);
		cl->o_b = whole(c, &L->o_b);
		cl->ln1 = whole(c, &L->ln1);
		cl->ln1_b = whole(c, &L->ln1_b);
		cl->up = whole(c, &L->up);
		cl->up_b = whole(c, &L->up_b);
		cl->gate = whole(c, &L->gate);
		cl->gate_b = whole(c, &L->gate_b);
		cl->down = whole(c, &L->down);
		cl->down_b = whole(c, &L->down_b);
		cl->ln2 = whole(c, &L->ln2);
		cl->ln2_b = whole(c, &L->ln2_b);
	}
	*out = c;
	return BASE_OK;
}

void enc_cpu_close(struct enc_cpu *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->owned.n; i++)
		base_free(c->owned.v[i]);
	base_vec_release(&c->owned);
	base_free(c->layers);
	base_free(c);
}

/* ---- forward ---------------------------------------------------------------- */

int enc_cpu_forward(struct enc_cpu *c, const struct enc_batch *b, float *out, struct base_err *err)
{
	const struct enc_config *cf = &c->c;
	size_t E = cf->n_embd, F = cf->n_ff, H = cf->n_head, T = b->offs[b->n_seq], maxL = 0;
	int rc = enc_batch_check(cf, b, err);
	if (rc)
		return rc;
	for (size_t s = 0; s < b->n_seq; s++)
		maxL = BASE_MAX(maxL, (size_t)(b->offs[s + 1] - b->offs[s]));
	if (T == 0)
		return BASE_OK;

	bool nomic = cf->arch == ENC_NOMIC_BERT;
	float *x = base_malloc(T * E * sizeof(float));
	float *qkv = base_malloc(T * 3 * E * sizeof(float));
	float *y = base_malloc(T * E * sizeof(float));
	float *h = base_malloc(T * F * sizeof(float));
	float *g = nomic ? base_malloc(T * F * sizeof(float)) : NULL;
	float *scores = base_malloc(ATTN_ROWS * maxL * sizeof(float));

	for (size_t s = 0; s < b->n_seq; s++)
		for (uint32_t t = b->offs[s]; t < b->offs[s + 1]; t++) {
			float *v = x + (size_t)t * E;
			memcpy(v, c->tok + (size_t)b->ids[t] * E, E * sizeof(float));
			if (c->type0)
				for (size_t j = 0; j < E; j++)
					v[j] += c->type0[j];
			if (c->pos)
				for (size_t j = 0; j < E; j++)
					v[j] += c->pos[(size_t)(t - b->offs[s]) * E + j];
		}
	add_layernorm(x, NULL, T, E, c->ln0, c->ln0_b, cf->eps);

	for (uint32_t l = 0; l < cf->n_layer; l++) {
		const struct cpu_layer *L = &c->layers[l];
		linear(T, E, 3 * E, x, L->qkv, L->qkv_b, qkv);
		for (size_t s = 0; s < b->n_seq; s++) {
			size_t off = b->offs[s], len = b->offs[s + 1] - off;
			float *sq = qkv + off * 3 * E;
			if (nomic) {
				rope(sq, len, 3 * E, H, E / H, cf->rope_base);     /* q */
				rope(sq + E, len, 3 * E, H, E / H, cf->rope_base); /* k */
			}
			attention(sq, len, E, H, y + off * E, scores);
		}
		/* y is the attention output; the projection goes to qkv's space */
		float *proj = qkv;
		linear(T, E, E, y, L->o, L->o_b, proj);
		add_layernorm(x, proj, T, E, L->ln1, L->ln1_b, cf->eps);

		linear(T, E, F, x, L->up, L->up_b, h);
		if (nomic) {
			linear(T, E, F, x, L->gate, L->gate_b, g);
			swiglu_rows(h, g, T * F);
		} else {
			gelu_rows(h, T * F);
		}
		linear(T, F, E, h, L->down, L->down_b, y);
		add_layernorm(x, y, T, E, L->ln2, L->ln2_b, cf->eps);
	}

	for (size_t s = 0; s < b->n_seq; s++) {
		size_t off = b->offs[s], len = b->offs[s + 1] - off;
		float *o = out + s * E;
		if (cf->pool == ENC_POOL_CLS) {
			memcpy(o, x + off * E, E * sizeof(float));
		} else {
			for (size_t j = 0; j < E; j++) {
				double sum = 0;
				for (size_t t = 0; t < len; t++)
					sum += x[(off + t) * E + j];
				o[j] = (float)(sum / (double)len);
			}
		}
		embed__normalize(o, (unsigned)E);
	}
	base_free(x);
	base_free(qkv);
	base_free(y);
	base_free(h);
	base_free(g);
	base_free(scores);
	return BASE_OK;
}
