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

/*
 * How an index embeds: the embedder spec, the FAISS factory and a model
 * file's prefixes. Each is what the options give, else what the index was
 * built with (meta "model_spec", "vector_factory", "query_prefix",
 * "doc_prefix"), else the default (spec "hash"; NULL for the others: the
 * FAISS choice, the model's own prefixes). Kept in the index by
 * idx__vec_attach, so later runs and readers embed the same way.
 */
struct idx_vec_settings {
	char *spec, *factory, *query_prefix, *doc_prefix; /* heap strings or NULL */
};

/** Resolve settings from opts (may be NULL: the index's own) and st (may be NULL: none kept). */
void idx__vec_settings(struct store *st, const struct idx_options *opts, struct idx_vec_settings *out);
void idx__vec_settings_release(struct idx_vec_settings *s);
/** The embedder options of settings (borrowing its strings). */
struct embed_options idx__vec_embed_options(const struct idx_vec_settings *s);

/**
 * Open the embedder of `s` (on opts->device) and the user's vector cache;
 * nothing is written anywhere, so a model that cannot be opened changes
 * no index. *out is NULL for IDX_MODEL_NONE.
 */
int idx__vec_open(const struct idx_options *opts, const struct idx_vec_settings *s, struct idx_vec **out,
		  struct base_err *err);
/**
 * Keep the settings in the writer handle `st` of the index at `root` and
 * attach the FAISS vectors (loaded and reconciled with SQLite, or rebuilt)
 * of iv (NULL: none) to it.
 */
int idx__vec_attach(struct idx_vec *iv, const char *root, const struct idx_vec_settings *s, struct store *st,
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
