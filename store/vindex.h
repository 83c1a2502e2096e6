/*
 * vindex.h: a FAISS vector index in RAM, through FAISS's C API.
 *
 * Inner product over L2-normalised vectors (= cosine). Ids are lode chunk
 * ids. Only index types that can remove ids are accepted: exact "Flat"
 * (wrapped in an id map) and the IVF family ("IVF1024,SQ8", "IVF4096,Flat");
 * HNSW cannot remove and is refused.
 *
 * Threads: store_vindex_search may run from any number of threads at once
 * (FAISS searches are const); add, remove, train and set_nprobe need
 * exclusive access — the caller holds a read-write lock (store/vectors.c).
 *
 * Errors: FAISS exceptions become BASE_E_INVAL (bad arguments),
 * BASE_E_CORRUPT (unreadable file) or BASE_E_IO, with FAISS's message.
 */
#ifndef LODE_STORE_VINDEX_H
#define LODE_STORE_VINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct store_vindex;

/* Below this many vectors the automatic choice is exact Flat search. */
#define STORE_VINDEX_FLAT_MAX 100000

/** IVF lists probed per query, unless set otherwise: ~3% of the lists at the automatic nlist. */
#define STORE_VINDEX_NPROBE 8

/**
 * A new, empty index of dimension `dim` from a FAISS factory string
 * ("Flat", "IVF1024,SQ8", ...; NULL or "auto": "Flat").
 */
struct store_vindex *store_vindex_new(unsigned dim, const char *factory, struct base_err *err);
void store_vindex_free(struct store_vindex *v);

/**
 * The automatic factory string for n vectors: "Flat" below
 * STORE_VINDEX_FLAT_MAX, else "IVF<nlist>,SQ8" with nlist the power of
 * two at or above sqrt(n) / 4 (256 lists for a million vectors). Few, long
 * lists keep training (k-means, cost ~ sample x nlist) and adding (nlist
 * dot products a vector) cheap on the indexing machine's CPU, while a
 * query still scans only ~3% of the vectors (STORE_VINDEX_NPROBE lists);
 * 8-bit codes hold a quarter of the RAM of float vectors.
 */
void store_vindex_auto_factory(size_t n, unsigned dim, char *out, size_t cap);

/** The factory string the index was made from ("Flat", "IVF1024,SQ8"). */
const char *store_vindex_factory(const struct store_vindex *v);
/** Does it need store_vindex_train before vectors can be added? */
bool store_vindex_needs_training(const struct store_vindex *v);
/** Train on n sample vectors (IVF: at least 39 per list is FAISS's advice). */
int store_vindex_train(struct store_vindex *v, const float *vecs, size_t n, struct base_err *err);

int store_vindex_add(struct store_vindex *v, const int64_t *ids, const float *vecs, size_t n, struct base_err *err);
/** Remove ids (absent ones are not an error); *removed gets the count. */
int store_vindex_remove(struct store_vindex *v, const int64_t *ids, size_t n, size_t *removed,
			struct base_err *err);

size_t store_vindex_count(const struct store_vindex *v);
unsigned store_vindex_dim(const struct store_vindex *v);
/** RAM the vectors and ids hold (codes + ids + IVF centroids), estimated. */
uint64_t store_vindex_bytes(const struct store_vindex *v);
/** Every id held, in no order (heap array, base_free it). */
int store_vindex_ids(const struct store_vindex *v, int64_t **ids, size_t *n, struct base_err *err);
/** IVF lists probed per query (no effect on Flat). */
void store_vindex_set_nprobe(struct store_vindex *v, size_t nprobe);

/**
 * k nearest neighbours of nq queries: ids[q * k + i], scores likewise,
 * best first; rows with fewer than k results are padded with id -1.
 */
int store_vindex_search(const struct store_vindex *v, const float *queries, size_t nq, size_t k, int64_t *ids,
			float *scores, struct base_err *err);

/**
 * Save atomically: a temp file in the same directory, fsync, rename over
 * `path`, fsync the directory. A crash leaves the old file or the new one.
 */
int store_vindex_save(const struct store_vindex *v, const char *path, struct base_err *err);
/** Load a saved index into RAM. BASE_E_NOTFOUND, or BASE_E_CORRUPT naming the file. */
struct store_vindex *store_vindex_load(const char *path, struct base_err *err);

#endif /* LODE_STORE_VINDEX_H */
