/*
 * encoder: BERT-family transformer encoders read from GGUF, and the
 * backends that run them (private to embed/; embed/model.c puts them
 * behind the embedder handle).
 *
 * Architectures (general.architecture), in llama.cpp's tensor layout:
 *
 *   bert        MiniLM, bge-small/base, e5: learned absolute positions,
 *               token types, separate Q/K/V with biases, post-LayerNorm,
 *               GELU (erf) feed-forward with biases.
 *   nomic-bert  nomic-embed-text, CodeRankEmbed: rotary positions (NeoX
 *               halves, base {arch}.rope.freq_base), fused QKV, SwiGLU
 *               feed-forward (down(silu(gate x) * up x)), post-LayerNorm;
 *               biases optional (nomic's have none).
 *
 * One layer, x being the hidden states [tokens, n_embd]:
 *   a = attention(x)        per sequence, bidirectional, softmax(QK^T/sqrt(d))V
 *   x = LN1(x + a Wo + bo)
 *   x = LN2(x + ffn(x))
 * Embeddings: LN0(tok[id] + type[0] + pos[i]) (bert), LN0(tok[id] +
 * type[0]) (nomic-bert). Pooling ({arch}.pooling_type): mean over every
 * token of the sequence ([CLS] and [SEP] included, as sentence-
 * transformers does), or the first token (CLS); then L2 normalisation.
 *
 * Weights are views into the GGUF mapping (struct enc_tensor); backends
 * convert them once at open (fp32 for the CPU reference, fp16 for CUDA).
 * A matrix tensor has ne0 = input width (contiguous) and ne1 = output
 * width, so the product is y = x W^T with W row-major [out][in].
 *
 * Batches are packed without padding: the token ids of n_seq sequences
 * back to back, offs[0..n_seq] their boundaries (offs[0] = 0). Every
 * backend returns one pooled, L2-normalised vector of n_embd floats per
 * sequence. Sequences are at most enc_config.n_ctx tokens; the caller
 * (model.c) tokenises and truncates.
 *
 * This header has no CUDA types; embed/cuda.cu implements the enc_cuda_*
 * functions when lode is built with CUDA, embed/cuda_stub.c otherwise.
 */
#ifndef LODE_EMBED_ENCODER_H
#define LODE_EMBED_ENCODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "embed/gguf.h"

enum enc_arch {
	ENC_BERT = 0,
	ENC_NOMIC_BERT = 1,
};

enum enc_pool {
	ENC_POOL_MEAN = 1, /* llama.cpp's numbering */
	ENC_POOL_CLS = 2,
};

struct enc_config {
	enum enc_arch arch;
	enum enc_pool pool;
	uint32_t n_vocab, n_embd, n_head, n_layer, n_ff, n_ctx, n_type;
	float eps;       /* LayerNorm epsilon */
	float rope_base; /* nomic-bert; 0 for bert */
};

/* A tensor as the file stores it: ne0 contiguous, ne1 rows (1 for vectors). */
struct enc_tensor {
	uint32_t type; /* enum gguf_ggml_type: F32, F16, BF16 or Q8_0 */
	uint64_t ne0, ne1;
	const void *data; /* NULL: absent (optional biases) */
	const char *name;
};

struct enc_layer {
	/* bert: q, k, v with biases; nomic-bert: qkv ([3*n_embd rows]: q, k, v) */
	struct enc_tensor q, q_b, k, k_b, v, v_b, qkv, qkv_b;
	struct enc_tensor o, o_b, ln1, ln1_b;
	/* bert: up (+bias) -> GELU -> down (+bias); nomic-bert: gate and up -> SwiGLU -> down */
	struct enc_tensor up, up_b, gate, gate_b, down, down_b;
	struct enc_tensor ln2, ln2_b;
};

struct enc_model {
	struct enc_config c;
	struct enc_tensor tok, type, pos; /* pos: bert only */
	struct enc_tensor ln0, ln0_b;
	struct enc_layer *layers;         /* c.n_layer */
	const char *name;                 /* the file's name, for messages */
};

/* A packed batch (see the header comment). */
struct enc_batch {
	const int32_t *ids;
	const uint32_t *offs;
	size_t n_seq;
};

/**
 * BASE_E_INVAL, naming the sequence or the id, unless every sequence of b
 * has 1..c->n_ctx tokens and every id is below c->n_vocab (batch.c; every
 * backend's forward starts with it).
 */
int enc_batch_check(const struct enc_config *c, const struct enc_batch *b, struct base_err *err);

/* ---- the model (encoder.c) ---------------------------------------------- */

/**
 * Read the configuration and find every tensor of an encoder in g (which
 * must outlive m). BASE_E_UNSUPPORTED for another architecture or a weight
 * type lode does not run, BASE_E_PARSE for a missing key or tensor or a
 * shape that does not fit the configuration (the message names the file
 * and the key or tensor).
 */
int enc_model_load(const struct gguf *g, struct enc_model *m, struct base_err *err);
void enc_model_release(struct enc_model *m);

/** Number of weights (parameters) in the model. */
uint64_t enc_model_params(const struct enc_model *m);

/** Convert n elements of t starting at element `first` (a multiple of the
 * block size) to fp32. */
void enc_tensor_f32(const struct enc_tensor *t, uint64_t first, uint64_t n, float *out);

/** IEEE half <-> float, round to nearest even (host code of every backend). */
float enc_f16_to_f32(uint16_t h);
uint16_t enc_f32_to_f16(float f);

/* ---- CPU reference backend (cpu.c): fp32, BLAS sgemm -------------------- */

struct enc_cpu;

/** Convert the weights to fp32 (the model's tensors may be freed after). */
int enc_cpu_open(const struct enc_model *m, struct enc_cpu **out, struct base_err *err);
void enc_cpu_close(struct enc_cpu *c);
/** out: b->n_seq * n_embd floats. Not thread-safe on one handle. */
int enc_cpu_forward(struct enc_cpu *c, const struct enc_batch *b, float *out, struct base_err *err);

/** The CPU backend's exp and erf approximations (for its tests). */
float enc__exp_fast(float x);
float enc__erf_fast(float x);

/* ---- CUDA backend (cuda.cu; cuda_stub.c without CUDA) -------------------- */

struct enc_cuda;

struct enc_cuda_options {
	uint64_t vram_limit; /* bytes lode may use on the device; 0: ENC_CUDA_DEFAULT_VRAM */
	int device;          /* CUDA device ordinal */
	bool profile;        /* time every stage with CUDA events (enc_cuda_profile) */
};

/* The stages of a forward on the GPU, in order, as enc_cuda_profile counts them. */
#define ENC_CUDA_STAGE_MAP(X)                                                                 \
	X(UPLOAD, "upload")         /* the batch's ids, positions and tiles to the device */ \
	X(EMBED, "embed")           /* embeddings + LayerNorm */                             \
	X(QKV, "qkv_gemm")          /* per layer, from here to add_ln2 */                    \
	X(BIAS_ROPE, "bias_rope")                                                            \
	X(ATTENTION, "attention")                                                            \
	X(OUT, "out_gemm")                                                                   \
	X(ADD_LN1, "add_ln1")       /* bias + residual + LayerNorm */                        \
	X(UP, "up_gemm")                                                                     \
	X(ACT, "activation")        /* bias + GELU or SwiGLU */                              \
	X(DOWN, "down_gemm")                                                                 \
	X(ADD_LN2, "add_ln2")                                                                \
	X(POOL, "pool_download")    /* pooling + L2, the vectors to the host */

enum enc_cuda_stage {
#define ENC__CUDA_STAGE_ENUM(name, text) ENC_CUDA_STAGE_##name,
	ENC_CUDA_STAGE_MAP(ENC__CUDA_STAGE_ENUM)
#undef ENC__CUDA_STAGE_ENUM
	ENC_CUDA_STAGE__COUNT
};

#define ENC_CUDA_DEFAULT_VRAM ((uint64_t)2 << 30)

/** Whether this build has the CUDA backend at all. */
bool enc_cuda_built(void);

/**
 * Upload the weights (fp16) and allocate the work buffers within the VRAM
 * limit. BASE_E_DEVICE with a message when there is no usable GPU, the
 * driver is missing or too old, or the limit cannot hold the weights
 * (the caller falls back to the CPU); never aborts.
 */
int enc_cuda_open(const struct enc_model *m, const struct enc_cuda_options *opts, struct enc_cuda **out,
		  struct base_err *err);
void enc_cuda_close(struct enc_cuda *c);
/** Longest packed batch, in tokens, one forward call takes (from the VRAM limit). */
size_t enc_cuda_max_tokens(const struct enc_cuda *c);
/** One line for people: "NVIDIA H100 80GB HBM3, sm_90, 2.0 GiB cap". */
const char *enc_cuda_describe(const struct enc_cuda *c);
/**
 * As enc_cpu_forward, on the GPU. The batch holds at most
 * enc_cuda_max_tokens tokens. Not thread-safe on one handle.
 */
int enc_cuda_forward(struct enc_cuda *c, const struct enc_batch *b, float *out, struct base_err *err);
/**
 * Device milliseconds per stage, summed over every forward since open,
 * into ms[ENC_CUDA_STAGE__COUNT]; zeros unless opened with `profile`.
 */
void enc_cuda_profile(const struct enc_cuda *c, double *ms);

#endif /* LODE_EMBED_ENCODER_H */
