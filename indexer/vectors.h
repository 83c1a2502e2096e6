/*
 * vectors.h: private to indexer/. The dense side of the pipeline: the
 * embedder, the user's vector cache and the index's FAISS vectors for one
 * writer session.
 */
#ifndef LODE_INDEXER_VECTORS_H
#define LODE_INDEXER_VECTORS_H

#include "base/base.h"
#include "indexer/chunk.h"
#include "store/store.h"

struct idx_vec;

/* The spec that indexes without vectors (lexical only). */
#define IDX_MODEL_NONE "none"

/**
 * The embedder spec of an index: `requested` when given, else the one it
 * was built with (meta "model_spec"), else the default. Heap string.
 */
char *idx__model_spec(struct store *st, const char *requested);

/*
 * The prefixes a model file's embedder uses for this index: the ones given
 * (kept in the index for later runs and for readers), else the ones kept,
 * else NULL (the model's own). Heap strings in q/d, NULL when unset.
 */
int idx__vec_prefixes(struct store *st, const char *query, const char *doc, char **q, char **d,
		      struct base_err *err);

/**
 * Open the dense side for the writer handle `st` of the index at `root`:
 * the embedder of `spec` (on opts->device), the vector cache, the FAISS vectors (loaded and
 * reconciled with SQLite, or rebuilt) attached to `st`. opts->vector_factory
 * (NULL: the index's) sets the FAISS index type. *out is NULL for IDX_MODEL_NONE.
 */
int idx__vec_open(const struct idx_options *opts, const char *spec, struct store *st, struct idx_vec **out,
		  struct base_err *err);
/** Detach, flush the cache, free. idx__vec_close(NULL, ...) is a no-op. */
void idx__vec_close(struct idx_vec *iv, struct store *st);

/**
 * The vectors of a file's chunks (cache hits, the rest embedded), in a
 * heap array of n * dim floats (*out). Thread-safe.
 */
int idx__vec_chunks(struct idx_vec *iv, const char *data, const struct idx_chunks *chunks, float **out,
		    struct base_err *err);

/** The embedder's model id. */
const char *idx__vec_model(const struct idx_vec *iv);
/** The embedder, for people (embed_describe). */
const char *idx__vec_describe(const struct idx_vec *iv);
/**
 * A big first run of about `expected` chunks follows: see
 * store_vectors_bulk. *sample_first: commit a uniform sample first.
 */
int idx__vec_bulk(struct idx_vec *iv, uint64_t expected, bool *sample_first, struct base_err *err);

/** The FAISS vectors (NULL when iv is NULL). */
struct store_vectors *idx__vec_vectors(struct idx_vec *iv);

/** Vector dimension. */
unsigned idx__vec_dim(const struct idx_vec *iv);

/** Between transactions: keep the FAISS index type right for its size. */
int idx__vec_maintain(struct idx_vec *iv, struct store *st, struct base_err *err);

/** Keep the FAISS index right for its size and save it if it changed. */
int idx__vec_save(struct idx_vec *iv, struct store *st, struct base_err *err);

struct idx_vec_stats {
	uint64_t embedded; /* chunk vectors computed this session */
	uint64_t cached;   /* taken from the vector cache */
};
struct idx_vec_stats idx__vec_stats(struct idx_vec *iv);
/** Start counting again (each update reports its own). */
void idx__vec_stats_reset(struct idx_vec *iv);

#endif /* LODE_INDEXER_VECTORS_H */
