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

/** L2-normalise v[0,dim) in place; the zero vector stays zero. */
void embed__normalize(float *v, unsigned dim);

#endif /* LODE_EMBED_INTERNAL_H */
