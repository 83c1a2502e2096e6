/*
 * cuda_kernels.cu: the element-wise, normalisation, attention and pooling
 * kernels of the CUDA encoder (cuda_kernels.cuh). The matrix products are
 * cuBLAS's (cuda.cu). Arithmetic is fp32 throughout; only storage is fp16.
 *
 * Written to be plainly correct first: one block per row for the
 * normalisations, a grid-stride loop for the activations, and an attention
 * kernel in the FlashAttention style (online softmax, K/V tiles in shared
 * memory) on the CUDA cores rather than the tensor cores.
 */
#include <math.h>
#include <mma.h>

#include "embed/cuda_kernels.cuh"

/*
 * Launches and dynamic shared memory go through these two macros, so that
 * tests/embed/test_cuda_emu.cpp can run the kernels on the CPU with its
 * own definitions (made before it includes this file).
 */
#ifndef CUK_LAUNCH
#define CUK_LAUNCH(kernel, grid, block, smem, st, ...) kernel<<<(grid), (block), (smem), (st)>>>(__VA_ARGS__)
#define CUK_DYNAMIC_SHARED(type, name) extern __shared__ __align__(128) type name[]
#endif

/* threads of the row kernels and of the element-wise ones (the CPU emulation may take fewer) */
#ifndef ROW_THREADS
#define ROW_THREADS 128
#endif
#ifndef EW_THREADS
#define EW_THREADS 256
#endif
#define ATT_WARPS 4
#define ATT_KEYS 32 /* keys per shared-memory tile: one per lane */
#define ATT_ROWS_PER_WARP (CUK_QROWS / ATT_WARPS)
#define ATT_DIMS_PER_LANE (CUK_MAX_HEAD / 32)

static_assert(CUK_QROWS % ATT_WARPS == 0, "query rows split evenly over the warps");

/* ---- reductions ------------------------------------------------------------ */

static __device__ __forceinline__ float warp_sum(float v)
{
	for (int o = 16; o; o >>= 1)
		v += __shfl_xor_sync(0xffffffffu, v, o);
	return v;
}

static __device__ __forceinline__ float warp_max(float v)
{
	for (int o = 16; o; o >>= 1)
		v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
	return v;
}

/* The sum of v over the block, in every thread; red: 32 floats of shared memory. */
static __device__ float block_sum(float v, float *red)
{
	unsigned lane = threadIdx.x & 31u, w = threadIdx.x >> 5;
	v = warp_sum(v);
	__syncthreads(); /* red may still be read from the previous call */
	if (lane == 0)
		red[w] = v;
	__syncthreads();
	v = lane < (blockDim.x >> 5) ? red[lane] : 0.0f;
	return warp_sum(v);
}

/*
 * LayerNorm of the row in row[0, E) (shared memory, each element written
 * and read by the same thread), to x and xh. Two passes, as the CPU
 * reference does, so that a large mean does not cost precision.
 */
static __device__ void ln_row(const float *row, uint32_t E, const float *w, const float *b, float eps, float *x,
			      __half *xh, float *red)
{
	float s = 0;
	for (uint32_t j = threadIdx.x; j < E; j += blockDim.x)
		s += row[j];
	float mean = block_sum(s, red) / (float)E;
	float v = 0;
	for (uint32_t j = threadIdx.x; j < E; j += blockDim.x) {
		float d = row[j] - mean;
		v += d * d;
	}
	float inv = rsqrtf(block_sum(v, red) / (float)E + eps);
	for (uint32_t j = threadIdx.x; j < E; j += blockDim.x) {
		float o = (row[j] - mean) * inv * w[j] + b[j];
		x[j] = o;
		xh[j] = __float2half(o);
	}
}

/* ---- embeddings and LayerNorms --------------------------------------------- */

static __global__ void embed_kernel(uint32_t E, const int32_t *ids, const int32_t *pos, const __half *tok,
				    const float *type0, const __half *posw, const float *w, const float *b, float eps,
				    float *x, __half *xh)
{
	CUK_DYNAMIC_SHARED(float, row);
	__shared__ float red[32];
	size_t t = blockIdx.x;
	const __half *te = tok + (size_t)ids[t] * E;
	const __half *pe = posw ? posw + (size_t)pos[t] * E : NULL;
	for (uint32_t j = threadIdx.x; j < E; j += blockDim.x) {
		float v = __half2float(te[j]);
		if (type0)
			v += type0[j];
		if (pe)
			v += __half2float(pe[j]);
		row[j] = v;
	}
	ln_row(row, E, w, b, eps, x + t * E, xh + t * E, red);
}

cudaError_t cuk_embed(cudaStream_t st, uint32_t T, uint32_t E, const int32_t *ids, const int32_t *pos,
		      const __half *tok, const float *type0, const __half *posw, const float *w, const float *b,
		      float eps, float *x, __half *xh)
{
	CUK_LAUNCH(embed_kernel, T, ROW_THREADS, E * sizeof(float), st, E, ids, pos, tok, type0, posw, w, b, eps, x, xh);
	return cudaGetLastError();
}

static __global__ void add_ln_kernel(uint32_t E, const float *y, const float *bias, const float *w, const float *b,
				     float eps, float *x, __half *xh)
{
	CUK_DYNAMIC_SHARED(float, row);
	__shared__ float red[32];
	size_t t = blockIdx.x;
	for (uint32_t j = threadIdx.x; j < E; j += blockDim.x)
		row[j] = x[t * E + j] + y[t * E + j] + (bias ? bias[j] : 0.0f);
	ln_row(row, E, w, b, eps, x + t * E, xh + t * E, red);
}

cudaError_t cuk_add_ln(cudaStream_t st, uint32_t T, uint32_t E, const float *y, const float *bias, const float *w,
		       const float *b, float eps, float *x, __half *xh)
{
	CUK_LAUNCH(add_ln_kernel, T, ROW_THREADS, E * sizeof(float), st, E, y, bias, w, b, eps, x, xh);
	return cudaGetLastError();
}

/* ---- bias, rotary positions, activations ----------------------------------- */

static __global__ void bias_rope_kernel(uint32_t E, uint32_t H, __half *qkv, const float *bias, const float2 *rope,
					const int32_t *pos)
{
	size_t t = blockIdx.x;
	__half *r = qkv + t * 3 * E;
	if (!rope) {
		for (uint32_t j = threadIdx.x; j < 3 * E; j += blockDim.x)
			r[j] = __float2half(__half2float(r[j]) + bias[j]);
		return;
	}
	uint32_t D = E / H, hd = D / 2, pairs = H * hd;
	const float2 *cs = rope + (size_t)pos[t] * hd;
	/* q and k: each thread owns a pair (d, d + D/2) of one head */
	for (uint32_t i = threadIdx.x; i < 2 * pairs; i += blockDim.x) {
		uint32_t which = i / pairs, rem = i % pairs, h = rem / hd, d = rem % hd;
		uint32_t c1 = which * E + h * D + d, c2 = c1 + hd;
		float x1 = __half2float(r[c1]), x2 = __half2float(r[c2]);
		if (bias) {
			x1 += bias[c1];
			x2 += bias[c2];
		}
		float2 a = cs[d];
		r[c1] = __float2half(x1 * a.x - x2 * a.y);
		r[c2] = __float2half(x2 * a.x + x1 * a.y);
	}
	if (bias)
		for (uint32_t j = 2 * E + threadIdx.x; j < 3 * E; j += blockDim.x)
			r[j] = __float2half(__half2float(r[j]) + bias[j]);
}

cudaError_t cuk_bias_rope(cudaStream_t st, uint32_t T, uint32_t E, uint32_t H, __half *qkv, const float *bias,
			  const float2 *rope, const int32_t *pos)
{
	if (!bias && !rope)
		return cudaSuccess;
	CUK_LAUNCH(bias_rope_kernel, T, ROW_THREADS, 0, st, E, H, qkv, bias, rope, pos);
	return cudaGetLastError();
}

static unsigned ew_blocks(size_t n)
{
	size_t b = (n + EW_THREADS - 1) / EW_THREADS;
	return (unsigned)(b < 65535u * 16u ? b : 65535u * 16u);
}

/* n < 2^31 (cuda.cu limits max_tokens and n_ff): 32-bit indices, whose division is cheap */
static __global__ void gelu_kernel(uint32_t n, uint32_t F, __half *h, const float *bias)
{
	for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		float v = __half2float(h[i]) + (bias ? bias[i % F] : 0.0f);
		h[i] = __float2half(0.5f * v * (1.0f + erff(v * 0.70710678118654752f)));
	}
}

cudaError_t cuk_gelu(cudaStream_t st, uint32_t T, uint32_t F, __half *h, const float *bias)
{
	uint32_t n = T * F;
	CUK_LAUNCH(gelu_kernel, ew_blocks(n), EW_THREADS, 0, st, n, F, h, bias);
	return cudaGetLastError();
}

static __global__ void swiglu_kernel(uint32_t n, uint32_t F, __half *h, const float *bias)
{
	for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		uint32_t t = i / F, j = i % F;
		__half *r = h + (size_t)t * 2 * F;
		float up = __half2float(r[j]), g = __half2float(r[F + j]);
		if (bias) {
			up += bias[j];
			g += bias[F + j];
		}
		r[j] = __float2half(g / (1.0f + expf(-g)) * up);
	}
}

cudaError_t cuk_swiglu(cudaStream_t st, uint32_t T, uint32_t F, __half *h, const float *bias)
{
	uint32_t n = T * F;
	CUK_LAUNCH(swiglu_kernel, ew_blocks(n), EW_THREADS, 0, st, n, F, h, bias);
	return cudaGetLastError();
}

/* ---- attention ---------------------------------------------------------------
 *
 * Block (tile, head): CUK_QROWS query rows of one sequence, ATT_WARPS warps
 * of ATT_ROWS_PER_WARP rows each. Keys go by in tiles of 32 through shared
 * memory as fp32. For the scores, lane j takes key j of the tile, reading
 * K and the (broadcast) q rows as float4 (K rows padded to D + 4 floats:
 * each phase of 8 lanes then covers the 32 banks once); for the output,
 * the probabilities go through shared memory (read back as float4, four
 * keys at a time) and lane l owns dimensions l, l + 32, ... of each of its
 * warp's rows. D must be a multiple of 4. The softmax is online (running max m and sum l per row, in base 2:
 * q is scaled by log2(e) / sqrt(D) as it is loaded). Rows and keys past
 * the sequence's end are zero in shared memory and masked out of the
 * softmax, so they never produce a NaN.
 */
static __global__ void __launch_bounds__(ATT_WARPS * 32)
	attention_kernel(const struct cuk_tile *tiles, uint32_t E, uint32_t H, const __half *qkv, __half *out)
{
	const struct cuk_tile tile = tiles[blockIdx.x];
	const uint32_t h = blockIdx.y, D = E / H, D2 = D / 2, D4 = D / 4, ld = 3 * E, kst = D + 4;
	/* sized for this D (att_smem), so that narrow heads leave room for more blocks per SM; every
	 * part starts at a multiple of 4 floats */
	CUK_DYNAMIC_SHARED(float, dsm);
	float *qs = dsm, *ks = qs + CUK_QROWS * D, *vs = ks + ATT_KEYS * kst, *ps = vs + ATT_KEYS * D;
	const uint32_t lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
	const float qscale = 1.4426950408889634f * rsqrtf((float)D);
	const __half *base = qkv + (size_t)tile.start * ld + (size_t)h * D;

	for (uint32_t i = threadIdx.x; i < CUK_QROWS * D2; i += blockDim.x) {
		uint32_t r = i / D2, d = 2 * (i % D2), q = tile.q0 + r;
		float2 v = make_float2(0.0f, 0.0f);
		if (q < tile.len)
			v = __half22float2(*(const __half2 *)(base + (size_t)q * ld + d));
		qs[r * D + d] = v.x * qscale;
		qs[r * D + d + 1] = v.y * qscale;
	}

	float acc[ATT_ROWS_PER_WARP][ATT_DIMS_PER_LANE], m[ATT_ROWS_PER_WARP], l[ATT_ROWS_PER_WARP];
#pragma unroll
	for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
		m[r] = -INFINITY;
		l[r] = 0.0f;
#pragma unroll
		for (int i = 0; i < ATT_DIMS_PER_LANE; i++)
			acc[r][i] = 0.0f;
	}
	const float *qw = qs + warp * ATT_ROWS_PER_WARP * D;
	float *pw = ps + warp * ATT_ROWS_PER_WARP * ATT_KEYS;

	for (uint32_t k0 = 0; k0 < tile.len; k0 += ATT_KEYS) {
		__syncthreads(); /* the previous tile is consumed (and, the first time, qs is written) */
		for (uint32_t i = threadIdx.x; i < ATT_KEYS * D2; i += blockDim.x) {
			uint32_t j = i / D2, d = 2 * (i % D2), k = k0 + j;
			float2 kv = make_float2(0.0f, 0.0f), vv = kv;
			if (k < tile.len) {
				const __half *p = base + (size_t)k * ld + d;
				kv = __half22float2(*(const __half2 *)(p + E));
				vv = __half22float2(*(const __half2 *)(p + 2 * E));
			}
			ks[j * kst + d] = kv.x;
			ks[j * kst + d + 1] = kv.y;
			vs[j * D + d] = vv.x;
			vs[j * D + d + 1] = vv.y;
		}
		__syncthreads();

		uint32_t nk = tile.len - k0 < ATT_KEYS ? tile.len - k0 : ATT_KEYS;
		bool valid = lane < nk;
		float s[ATT_ROWS_PER_WARP];
#pragma unroll
		for (int r = 0; r < ATT_ROWS_PER_WARP; r++)
			s[r] = 0.0f;
		const float4 *kr = (const float4 *)(ks + lane * kst);
		for (uint32_t d4 = 0; d4 < D4; d4++) {
			float4 k = kr[d4];
#pragma unroll
			for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
				float4 q = ((const float4 *)(qw + r * D))[d4];
				s[r] = fmaf(q.x, k.x, fmaf(q.y, k.y, fmaf(q.z, k.z, fmaf(q.w, k.w, s[r]))));
			}
		}
		float p[ATT_ROWS_PER_WARP];
#pragma unroll
		for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
			float sv = valid ? s[r] : -INFINITY;
			float mn = fmaxf(m[r], warp_max(sv)); /* finite: key k0 is always valid */
			p[r] = valid ? exp2f(sv - mn) : 0.0f;
			float corr = exp2f(m[r] - mn);      /* 0 the first time (m = -inf) */
			l[r] = l[r] * corr + warp_sum(p[r]);
			m[r] = mn;
#pragma unroll
			for (int i = 0; i < ATT_DIMS_PER_LANE; i++)
				acc[r][i] *= corr;
		}
		/* the probabilities through shared memory, read back four keys at a time */
#pragma unroll
		for (int r = 0; r < ATT_ROWS_PER_WARP; r++)
			pw[r * ATT_KEYS + lane] = p[r];
		__syncwarp();
		for (uint32_t j = 0; j < nk; j += 4) { /* past nk: p = 0 and v = 0 */
			float4 pj[ATT_ROWS_PER_WARP];
#pragma unroll
			for (int r = 0; r < ATT_ROWS_PER_WARP; r++)
				pj[r] = *(const float4 *)(pw + r * ATT_KEYS + j);
#pragma unroll
			for (int i = 0; i < ATT_DIMS_PER_LANE; i++) {
				uint32_t d = lane + 32u * i;
				if (d < D) {
					const float *v = vs + j * D + d;
					float v0 = v[0], v1 = v[D], v2 = v[2 * D], v3 = v[3 * D];
#pragma unroll
					for (int r = 0; r < ATT_ROWS_PER_WARP; r++)
						acc[r][i] = fmaf(pj[r].x, v0,
								 fmaf(pj[r].y, v1, fmaf(pj[r].z, v2, fmaf(pj[r].w, v3, acc[r][i]))));
				}
			}
		}
		__syncwarp(); /* pw is rewritten by the next tile */
	}

#pragma unroll
	for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
		uint32_t q = tile.q0 + warp * ATT_ROWS_PER_WARP + r;
		if (q >= tile.len)
			continue;
		float inv = 1.0f / l[r];
		__half *o = out + ((size_t)tile.start + q) * E + (size_t)h * D;
#pragma unroll
		for (int i = 0; i < ATT_DIMS_PER_LANE; i++) {
			uint32_t d = lane + 32u * i;
			if (d < D)
				o[d] = __float2half(acc[r][i] * inv);
		}
	}
}

/* Shared memory of one attention block for head size D: at most 43.5 KiB (D = 128). */
static size_t att_smem(uint32_t D)
{
	return (CUK_QROWS * D + ATT_KEYS * (D + 4) + ATT_KEYS * D + CUK_QROWS * ATT_KEYS) * sizeof(float);
}

cudaError_t cuk_attention(cudaStream_t st, const struct cuk_tile *tiles, uint32_t n_tiles, uint32_t E, uint32_t H,
			  const __half *qkv, __half *out)
{
	CUK_LAUNCH(attention_kernel, dim3(n_tiles, H), ATT_WARPS * 32, att_smem(E / H), st, tiles, E, H, qkv, out);
	return cudaGetLastError();
}

/* ---- attention on the tensor cores -------------------------------------------------
 *
 * Block (tile, head), one warp: CUK_QROWS = 16 query rows, keys in tiles of
 * ATT_KEYS = 32, with nvcuda::wmma 16x16x16 fp16 products accumulated in
 * fp32. Per key tile:
 *   S = Q K^T            (2 accumulators of 16 keys, D/16 steps each) -> smem
 *   online softmax       lane pair (2r, 2r+1) owns row r, 16 keys each:
 *                        running max m and sum l in fp32, O's row rescaled,
 *                        P = exp2(S * log2(e)/sqrt(D) - m) as fp16 -> smem
 *   O += P V             (D/16 accumulators loaded from and stored to smem)
 * O stays in shared memory as fp32 so that the rescaling never depends on
 * the accumulator fragments' element layout. Rows and keys past the
 * sequence are zeros in shared memory; keys past it are masked out of the
 * softmax. D a multiple of 16, at most CUK_MAX_HEAD. Every wmma pointer is
 * 32-byte aligned: the parts below start at multiples of 32 bytes.
 */
#define TC_LDH(D) ((D) + 8)   /* halves per row of Q, K, V in shared memory */
#define TC_LDS (ATT_KEYS + 4) /* floats per row of S */
#define TC_LDP (ATT_KEYS + 8) /* halves per row of P */
#define TC_LDO(D) ((D) + 4)   /* floats per row of O */

static size_t tc_smem(uint32_t D)
{
	return (size_t)CUK_QROWS * TC_LDH(D) * 2 + 2 * (size_t)ATT_KEYS * TC_LDH(D) * 2 +
	       (size_t)CUK_QROWS * TC_LDS * 4 + (size_t)CUK_QROWS * TC_LDP * 2 + (size_t)CUK_QROWS * TC_LDO(D) * 4;
}

static __global__ void __launch_bounds__(32)
	attention_tc_kernel(const struct cuk_tile *tiles, uint32_t E, uint32_t H, const __half *qkv, __half *out)
{
	using namespace nvcuda;
	const struct cuk_tile tile = tiles[blockIdx.x];
	const uint32_t h = blockIdx.y, D = E / H, D2 = D / 2, ld = 3 * E, lane = threadIdx.x;
	const uint32_t ldh = TC_LDH(D), ldo = TC_LDO(D);
	const float scale = 1.4426950408889634f * rsqrtf((float)D);
	const __half *base = qkv + (size_t)tile.start * ld + (size_t)h * D;
	CUK_DYNAMIC_SHARED(unsigned char, tcm);
	__half *qh = (__half *)tcm, *kh = qh + CUK_QROWS * ldh, *vh = kh + ATT_KEYS * ldh;
	float *sf = (float *)(vh + ATT_KEYS * ldh);
	__half *ph = (__half *)(sf + CUK_QROWS * TC_LDS);
	float *of = (float *)(ph + CUK_QROWS * TC_LDP);

	for (uint32_t i = lane; i < CUK_QROWS * D2; i += 32) {
		uint32_t r = i / D2, d = 2 * (i % D2), q = tile.q0 + r;
		__half2 v = __float2half2_rn(0.0f);
		if (q < tile.len)
			v = *(const __half2 *)(base + (size_t)q * ld + d);
		*(__half2 *)(qh + r * ldh + d) = v;
	}
	for (uint32_t i = lane; i < CUK_QROWS * ldo; i += 32)
		of[i] = 0.0f;
	const uint32_t r = lane >> 1, c0 = (lane & 1) * (ATT_KEYS / 2), d0 = (lane & 1) * D2;
	float m = -INFINITY, l = 0.0f;

	for (uint32_t k0 = 0; k0 < tile.len; k0 += ATT_KEYS) {
		__syncwarp(); /* the previous tile's K, V and P are consumed */
		for (uint32_t i = lane; i < ATT_KEYS * D2; i += 32) {
			uint32_t j = i / D2, d = 2 * (i % D2), k = k0 + j;
			__half2 kv = __float2half2_rn(0.0f), vv = kv;
			if (k < tile.len) {
				const __half *p = base + (size_t)k * ld + d;
				kv = *(const __half2 *)(p + E);
				vv = *(const __half2 *)(p + 2 * E);
			}
			*(__half2 *)(kh + j * ldh + d) = kv;
			*(__half2 *)(vh + j * ldh + d) = vv;
		}
		__syncwarp();

		for (uint32_t n = 0; n < ATT_KEYS / 16; n++) {
			wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
			wmma::fill_fragment(acc, 0.0f);
			for (uint32_t kk = 0; kk < D / 16; kk++) {
				wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
				wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
				wmma::load_matrix_sync(a, qh + kk * 16, ldh);
				wmma::load_matrix_sync(b, kh + n * 16 * ldh + kk * 16, ldh);
				wmma::mma_sync(acc, a, b, acc);
			}
			wmma::store_matrix_sync(sf + n * 16, acc, TC_LDS, wmma::mem_row_major);
		}
		__syncwarp();

		uint32_t nk = tile.len - k0 < ATT_KEYS ? tile.len - k0 : ATT_KEYS;
		float sv[ATT_KEYS / 2], mx = -INFINITY;
#pragma unroll
		for (uint32_t j = 0; j < ATT_KEYS / 2; j++) {
			sv[j] = c0 + j < nk ? sf[r * TC_LDS + c0 + j] * scale : -INFINITY;
			mx = fmaxf(mx, sv[j]);
		}
		float mn = fmaxf(m, fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1))); /* key k0 is valid: finite */
		float corr = exp2f(m - mn), sum = 0.0f;
#pragma unroll
		for (uint32_t j = 0; j < ATT_KEYS / 2; j++) {
			float p = c0 + j < nk ? exp2f(sv[j] - mn) : 0.0f;
			sum += p;
			ph[r * TC_LDP + c0 + j] = __float2half(p);
		}
		l = l * corr + sum + __shfl_xor_sync(0xffffffffu, sum, 1);
		m = mn;
		for (uint32_t d = d0; d < d0 + D2; d++)
			of[r * ldo + d] *= corr;
		__syncwarp();

		for (uint32_t n = 0; n < D / 16; n++) {
			wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
			wmma::load_matrix_sync(acc, of + n * 16, ldo, wmma::mem_row_major);
			for (uint32_t kk = 0; kk < ATT_KEYS / 16; kk++) {
				wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
				wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
				wmma::load_matrix_sync(a, ph + kk * 16, TC_LDP);
				wmma::load_matrix_sync(b, vh + kk * 16 * ldh + n * 16, ldh);
				wmma::mma_sync(acc, a, b, acc);
			}
			wmma::store_matrix_sync(of + n * 16, acc, ldo, wmma::mem_row_major);
		}
	}
	__syncwarp();

	uint32_t q = tile.q0 + r;
	if (q < tile.len) {
		float inv = 1.0f / l;
		__half *o = out + ((size_t)tile.start + q) * E + (size_t)h * D;
		for (uint32_t d = d0; d < d0 + D2; d++)
			o[d] = __float2half(of[r * ldo + d] * inv);
	}
}

cudaError_t cuk_attention_tc(cudaStream_t st, const struct cuk_tile *tiles, uint32_t n_tiles, uint32_t E, uint32_t H,
			     const __half *qkv, __half *out)
{
	CUK_LAUNCH(attention_tc_kernel, dim3(n_tiles, H), 32, tc_smem(E / H), st, tiles, E, H, qkv, out);
	return cudaGetLastError();
}

/* ---- attention on the tensor cores, FlashAttention-2 style -------------------------
 *
 * Block (tile of CUK_FLASH_ROWS = 64 query rows, head): 4 warps of 16 rows.
 * Keys go by in tiles of FLASH_KEYS = 64 through shared memory (K
 * row-major, V transposed), loaded by the whole block with 16-byte loads
 * and shared by its warps. The products are mma.sync m16n8k16 (fp16 in,
 * fp32 accumulators) with every fragment in registers, laid out as the PTX
 * ISA documents that shape (g = lane / 4, t = lane % 4; a register holds
 * two fp16, the lower column in the low half):
 *   A 16x16 row-major: a0 (g, 2t..2t+1)  a1 (g+8, 2t..)  a2 (g, 2t+8..)  a3 (g+8, 2t+8..)
 *   B 16x8 "col":      b0 (2t..2t+1, g)  b1 (2t+8..2t+9, g)
 *   C 16x8:            c0 c1 (g, 2t..2t+1)  c2 c3 (g+8, 2t..2t+1)
 * So S = Q K^T reads K rows as they lie, P V reads rows of V^T, the
 * accumulators of S for keys 16j..16j+15 are (packed to fp16) the A
 * fragment of P for P V, and the online softmax runs in registers: a row
 * lives in the 4 lanes of a group (max and sum by two xor shuffles). Rows
 * and keys past the sequence are zeros; keys past it are masked out of the
 * softmax; a warp whose rows all lie past it only helps load. Needs sm_80
 * and a head size cuk_flash_head accepts.
 */
#define FLASH_WARPS (CUK_FLASH_ROWS / 16)
#define FLASH_KEYS 64
#define FLASH_LDK(D) ((D) + 8)     /* halves per row of K: rows 16-byte aligned, reads conflict-free */
#define FLASH_LDV (FLASH_KEYS + 8) /* halves per row of V^T */

static size_t flash_smem(uint32_t D)
{
	return ((size_t)FLASH_KEYS * FLASH_LDK(D) + (size_t)D * FLASH_LDV) * sizeof(__half);
}

static __device__ __forceinline__ uint32_t lds32(const __half *p)
{
	return *reinterpret_cast<const uint32_t *>(p);
}

static __device__ __forceinline__ uint32_t pack_half2(float lo, float hi)
{
	__half2 h = __floats2half2_rn(lo, hi);
	return *reinterpret_cast<uint32_t *>(&h);
}

#ifndef CUK_EMU_MMA /* the CPU emulation brings its own */
/* d += a b for one m16n8k16 tile, the warp's fragments laid out as above. */
static __device__ __forceinline__ void mma_16816(float *d, const uint32_t *a, const uint32_t *b)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
		     "{%8, %9}, {%0, %1, %2, %3};\n"
		     : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
		     : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
}
#endif

template <uint32_t D>
static __global__ void __launch_bounds__(FLASH_WARPS * 32)
	attention_flash_kernel(const struct cuk_tile *tiles, uint32_t E, const __half *qkv, __half *out)
{
	constexpr uint32_t KS = D / 16, NT = D / 8, ST = FLASH_KEYS / 8; /* k-steps of Q K^T; n8 tiles of O, S */
	const struct cuk_tile tile = tiles[blockIdx.x];
	const uint32_t h = blockIdx.y, ld = 3 * E, lane = threadIdx.x & 31u, w = threadIdx.x >> 5;
	const uint32_t g = lane >> 2, t = lane & 3u, r0 = tile.q0 + 16 * w;
	const bool active = r0 < tile.len;
	const float scale = 1.4426950408889634f * rsqrtf((float)D); /* base-2 softmax */
	const __half *base = qkv + (size_t)tile.start * ld + (size_t)h * D;
	CUK_DYNAMIC_SHARED(unsigned char, fsm);
	__half *ks = (__half *)fsm, *vt = ks + FLASH_KEYS * FLASH_LDK(D);

	uint32_t qa[KS][4];
#pragma unroll
	for (uint32_t kk = 0; kk < KS; kk++)
#pragma unroll
		for (uint32_t i = 0; i < 4; i++) {
			uint32_t row = r0 + g + 8 * (i & 1), col = 16 * kk + 2 * t + 8 * (i >> 1);
			qa[kk][i] = row < tile.len ? lds32(base + (size_t)row * ld + col) : 0u;
		}
	float o[NT][4], m[2] = { -INFINITY, -INFINITY }, l[2] = { 0.0f, 0.0f };
#pragma unroll
	for (uint32_t n = 0; n < NT; n++)
		o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

	for (uint32_t k0 = 0; k0 < tile.len; k0 += FLASH_KEYS) {
		__syncthreads(); /* the previous tile is consumed */
		for (uint32_t i = threadIdx.x; i < FLASH_KEYS * (D / 8); i += blockDim.x) {
			uint32_t j = i / (D / 8), d = 8 * (i % (D / 8)), k = k0 + j;
			uint4 kv = make_uint4(0, 0, 0, 0), vv = kv;
			if (k < tile.len) {
				const __half *p = base + (size_t)k * ld + d;
				kv = *reinterpret_cast<const uint4 *>(p + E);
				vv = *reinterpret_cast<const uint4 *>(p + 2 * E);
			}
			*reinterpret_cast<uint4 *>(ks + j * FLASH_LDK(D) + d) = kv;
			const __half *vh = reinterpret_cast<const __half *>(&vv);
#pragma unroll
			for (uint32_t e = 0; e < 8; e++)
				vt[(d + e) * FLASH_LDV + j] = vh[e];
		}
		__syncthreads();
		if (!active)
			continue;

		float sc[ST][4];
#pragma unroll
		for (uint32_t n = 0; n < ST; n++) {
			sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
			const __half *kr = ks + (8 * n + g) * FLASH_LDK(D) + 2 * t;
#pragma unroll
			for (uint32_t kk = 0; kk < KS; kk++) {
				uint32_t b[2] = { lds32(kr + 16 * kk), lds32(kr + 16 * kk + 8) };
				mma_16816(sc[n], qa[kk], b);
			}
		}

		const uint32_t nk = tile.len - k0 < FLASH_KEYS ? tile.len - k0 : FLASH_KEYS;
		float mx[2] = { -INFINITY, -INFINITY }, corr[2];
#pragma unroll
		for (uint32_t n = 0; n < ST; n++)
#pragma unroll
			for (uint32_t e = 0; e < 4; e++) {
				float v = 8 * n + 2 * t + (e & 1) < nk ? sc[n][e] * scale : -INFINITY;
				sc[n][e] = v;
				mx[e >> 1] = fmaxf(mx[e >> 1], v);
			}
#pragma unroll
		for (uint32_t r = 0; r < 2; r++) { /* key k0 is valid: the group's max is finite */
			mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
			mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
			float mn = fmaxf(m[r], mx[r]);
			corr[r] = exp2f(m[r] - mn);
			m[r] = mn;
			l[r] *= corr[r];
		}
#pragma unroll
		for (uint32_t n = 0; n < ST; n++)
#pragma unroll
			for (uint32_t e = 0; e < 4; e++) {
				float p = exp2f(sc[n][e] - m[e >> 1]);
				sc[n][e] = p;
				l[e >> 1] += p; /* this lane's part of the row sum */
			}
#pragma unroll
		for (uint32_t n = 0; n < NT; n++) {
			o[n][0] *= corr[0];
			o[n][1] *= corr[0];
			o[n][2] *= corr[1];
			o[n][3] *= corr[1];
		}

#pragma unroll
		for (uint32_t j = 0; j < FLASH_KEYS / 16; j++) {
			if (16 * j >= nk) /* P and V are zeros there */
				break;
			uint32_t a[4] = { pack_half2(sc[2 * j][0], sc[2 * j][1]), pack_half2(sc[2 * j][2], sc[2 * j][3]),
					  pack_half2(sc[2 * j + 1][0], sc[2 * j + 1][1]),
					  pack_half2(sc[2 * j + 1][2], sc[2 * j + 1][3]) };
#pragma unroll
			for (uint32_t n = 0; n < NT; n++) {
				const __half *vr = vt + (8 * n + g) * FLASH_LDV + 16 * j + 2 * t;
				uint32_t b[2] = { lds32(vr), lds32(vr + 8) };
				mma_16816(o[n], a, b);
			}
		}
	}
	if (!active)
		return;
#pragma unroll
	for (uint32_t r = 0; r < 2; r++) {
		float sum = l[r] + __shfl_xor_sync(0xffffffffu, l[r], 1);
		sum += __shfl_xor_sync(0xffffffffu, sum, 2);
		uint32_t row = r0 + g + 8 * r;
		if (row >= tile.len)
			continue;
		float inv = 1.0f / sum;
		__half *dst = out + ((size_t)tile.start + row) * E + (size_t)h * D + 2 * t;
#pragma unroll
		for (uint32_t n = 0; n < NT; n++)
			*reinterpret_cast<__half2 *>(dst + 8 * n) = __floats2half2_rn(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
	}
}

template <uint32_t D>
static cudaError_t launch_flash(cudaStream_t st, const struct cuk_tile *tiles, uint32_t n_tiles, uint32_t E,
				uint32_t H, const __half *qkv, __half *out)
{
	CUK_LAUNCH(attention_flash_kernel<D>, dim3(n_tiles, H), FLASH_WARPS * 32, flash_smem(D), st, tiles, E, qkv, out);
	return cudaGetLastError();
}

bool cuk_flash_head(uint32_t D)
{
	return D == 16 || D == 32 || D == 64 || D == 128;
}

cudaError_t cuk_attention_flash(cudaStream_t st, const struct cuk_tile *tiles, uint32_t n_tiles, uint32_t E,
				uint32_t H, const __half *qkv, __half *out)
{
	switch (E / H) {
	case 16:
		return launch_flash<16>(st, tiles, n_tiles, E, H, qkv, out);
	case 32:
		return launch_flash<32>(st, tiles, n_tiles, E, H, qkv, out);
	case 64:
		return launch_flash<64>(st, tiles, n_tiles, E, H, qkv, out);
	case 128:
		return launch_flash<128>(st, tiles, n_tiles, E, H, qkv, out);
	default:
		return cudaErrorInvalidValue;
	}
}

/* ---- pooling ------------------------------------------------------------------ */

static __global__ void pool_kernel(uint32_t E, const uint32_t *offs, bool cls, const float *x, float *out)
{
	CUK_DYNAMIC_SHARED(float, row);
	__shared__ float red[32];
	uint32_t s = blockIdx.x, a = offs[s], n = offs[s + 1] - a;
	float ss = 0;
	for (uint32_t j = threadIdx.x; j < E; j += blockDim.x) {
		float v;
		if (cls) {
			v = x[(size_t)a * E + j];
		} else {
			float sum = 0;
			for (uint32_t t = 0; t < n; t++)
				sum += x[((size_t)a + t) * E + j];
			v = sum / (float)n;
		}
		row[j] = v;
		ss += v * v;
	}
	ss = block_sum(ss, red);
	float inv = ss > 0 ? rsqrtf(ss) : 1.0f; /* as embed__normalize: a zero vector stays zero */
	for (uint32_t j = threadIdx.x; j < E; j += blockDim.x)
		out[(size_t)s * E + j] = row[j] * inv;
}

cudaError_t cuk_pool(cudaStream_t st, uint32_t n_seq, uint32_t E, const uint32_t *offs, bool cls, const float *x,
		     float *out)
{
	CUK_LAUNCH(pool_kernel, n_seq, ROW_THREADS, E * sizeof(float), st, E, offs, cls, x, out);
	return cudaGetLastError();
}

cudaError_t cuk_probe(void)
{
	struct cudaFuncAttributes a;
	cudaError_t e = cudaFuncGetAttributes(&a, reinterpret_cast<const void *>(attention_kernel));
	return e != cudaSuccess ? e : cudaFuncGetAttributes(&a, reinterpret_cast<const void *>(attention_tc_kernel));
}
