/*
 * internal.h: private to embed/. Every embedder is a backend behind the
 * same handle; embed.c dispatches.
 */
#ifndef LODE_EMBED_INTERNAL_H
#define LODE_EMBED_INTERNAL_H

#include "embed/embed.h"

struct embed_ops {
	int (*texts)(struct embed *e, enum embed_role role, const char *const *texts, const size_t *lens,
		     size_t n, float *out, struct base_err *err);
	void (*close)(struct embed *e);
};

struct embed {
	const struct embed_ops *ops;
	unsigned dim;
	char model_id[96];
	char describe[160];
	void *impl; /* the backend's state */
};

/* ---- hash.c ---------------------------------------------------------- */

/** Open the hash embedder from "hash" or "hash:DIM" into e. */
int embed__hash_open(struct embed *e, const char *spec, struct base_err *err);

/* ---- model.c --------------------------------------------------------- */

/** Open a transformer encoder from a model file into e. */
int embed__model_open(struct embed *e, const struct embed_options *opts, struct base_err *err);

struct enc_model;
struct enc_batch;
struct enc_cuda;
struct enc_cuda_options;

/* The GPU backend as model.c calls it: the enc_cuda_* functions (encoder.h). */
struct embed_gpu {
	bool (*built)(void);
	int (*open)(const struct enc_model *m, const struct enc_cuda_options *opts, struct enc_cuda **out,
		    struct base_err *err);
	void (*close)(struct enc_cuda *c);
	size_t (*max_tokens)(const struct enc_cuda *c);
	const char *(*describe)(const struct enc_cuda *c);
	int (*forward)(struct enc_cuda *c, const struct enc_batch *b, float *out, struct base_err *err);
};

/**
 * Tests only: make embedders opened from now on use `gpu` instead of CUDA
 * (NULL: CUDA again), so the GPU scheduling (combining, fallback) is
 * tested on machines without one.
 */
void embed__set_gpu(const struct embed_gpu *gpu);

/** L2-normalise v[0,dim) in place; the zero vector stays zero. */
void embed__normalize(float *v, unsigned dim);

#endif /* LODE_EMBED_INTERNAL_H */
