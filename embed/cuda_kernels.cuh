/*
 * cuda_kernels.cuh: the CUDA backend's own kernels (cuda_kernels.cu), one
 * host launcher each; embed/cuda.cu is the only caller. Private to the
 * .cu files of embed/: this header names CUDA types and is never seen by
 * a C compiler.
 *
 * Layouts (row-major, the packed batch of T tokens, E = n_embd, H heads
 * of D = E / H):
 *   x   float [T][E]  the residual stream;  xh  half [T][E]  its fp16 copy
 *                     (the next matrix product's input)
 *   qkv half [T][3E]  q | k | v, head h at columns h*D of each third
 *   ff  half [T][F]   bert: the up projection; nomic-bert [T][2F]: up | gate
 *
 * Every launcher returns cudaGetLastError() (a bad launch configuration);
 * errors inside a kernel surface at the next synchronisation.
 */
#ifndef LODE_EMBED_CUDA_KERNELS_CUH
#define LODE_EMBED_CUDA_KERNELS_CUH

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>

/* Query rows of one attention block. */
#define CUK_QROWS 16
/* The widest head the attention kernel takes. */
#define CUK_MAX_HEAD 128

/* Query rows of one block of cuk_attention_flash. */
#define CUK_FLASH_ROWS 64

/* One attention block's work: query rows [q0, q0 + CUK_QROWS) (CUK_FLASH_ROWS
 * for cuk_attention_flash) of the sequence at token start. */
struct cuk_tile {
	uint32_t start, len, q0;
};

/* x = LN(tok[ids[t]] + type0 + posw[pos[t]]) * w + b; xh = half(x). type0, posw may be NULL. */
cudaError_t cuk_embed(cudaStream_t st, uint32_t T, uint32_t E, const int32_t *ids, const int32_t *pos,
		      const __half *tok, const float *type0, const __half *posw, const float *w, const float *b,
		      float eps, float *x, __half *xh);

/* x = LN(x + y + bias) * w + b; xh = half(x). bias may be NULL. */
cudaError_t cuk_add_ln(cudaStream_t st, uint32_t T, uint32_t E, const float *y, const float *bias, const float *w,
		       const float *b, float eps, float *x, __half *xh);

/*
 * In place on qkv: add bias ([3E], may be NULL), then rotate q and k
 * (NeoX halves) by rope[pos[t]][d] = (cos, sin) of pos * base^(-2d/D)
 * when rope is not NULL.
 */
cudaError_t cuk_bias_rope(cudaStream_t st, uint32_t T, uint32_t E, uint32_t H, __half *qkv, const float *bias,
			  const float2 *rope, const int32_t *pos);

/* h = gelu_erf(h + bias) in place, h [T][F]; bias may be NULL. */
cudaError_t cuk_gelu(cudaStream_t st, uint32_t T, uint32_t F, __half *h, const float *bias);

/*
 * h [T][2F] (up | gate): h[t][j] = silu(gate + bias[F + j]) * (up + bias[j])
 * for j < F, in place in the first F columns; bias ([2F]) may be NULL.
 */
cudaError_t cuk_swiglu(cudaStream_t st, uint32_t T, uint32_t F, __half *h, const float *bias);

/*
 * Bidirectional softmax(q k^T / sqrt(D)) v per sequence and head, over
 * n_tiles query tiles; out [T][E]. D a multiple of 4, at most CUK_MAX_HEAD.
 */
cudaError_t cuk_attention(cudaStream_t st, const struct cuk_tile *tiles, uint32_t n_tiles, uint32_t E, uint32_t H,
			  const __half *qkv, __half *out);

/*
 * The same on the tensor cores (wmma, fp16 products, fp32 softmax and
 * accumulation), one warp per tile; D a multiple of 16, at most
 * CUK_MAX_HEAD.
 */
cudaError_t cuk_attention_tc(cudaStream_t st, const struct cuk_tile *tiles, uint32_t n_tiles, uint32_t E, uint32_t H,
			     const __half *qkv, __half *out);

/*
 * The same, FlashAttention-2 style: mma.sync m16n8k16 with the softmax in
 * registers, 64 query rows a block sharing each K/V tile; tiles of
 * CUK_FLASH_ROWS rows. Head sizes where cuk_flash_head; sm_80 or later.
 */
cudaError_t cuk_attention_flash(cudaStream_t st, const struct cuk_tile *tiles, uint32_t n_tiles, uint32_t E,
				uint32_t H, const __half *qkv, __half *out);
bool cuk_flash_head(uint32_t D);

/*
 * out[s] = L2-normalised mean (or, cls, first) of the rows of x in
 * [offs[s], offs[s + 1]).
 */
cudaError_t cuk_pool(cudaStream_t st, uint32_t n_seq, uint32_t E, const uint32_t *offs, bool cls, const float *x,
		     float *out);

/* Whether the kernels have code for the current device (cudaErrorNoKernelImageForDevice if not). */
cudaError_t cuk_probe(void);

#endif /* LODE_EMBED_CUDA_KERNELS_CUH */
