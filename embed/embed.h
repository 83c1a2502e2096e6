/*
 * embed: text -> L2-normalised float vectors.
 *
 * One interface for every embedder lode has:
 *   - "hash" (the embedded default, no weights): a code-aware feature-
 *     hashing sketch of a text's identifiers and words. Deterministic on
 *     every machine; lexical-semantic, not a neural model (embed/hash.c).
 *   - "PATH.gguf": a BERT-family transformer encoder read from a GGUF file,
 *     run on the CPU reference backend or on CUDA.
 *
 * The model id names what produced a vector (weights, configuration and
 * algorithm version): vectors with different ids are never mixed, and the
 * vector cache is keyed by it.
 *
 * Threads: embed_texts may be called from several threads at once on one
 * handle; backends that need it serialise internally.
 *
 * This module depends on base/ only (plus BLAS and CUDA for the encoder):
 * it must build alone on a GPU machine that has none of lode's other
 * libraries. CUDA types never appear in this header.
 */
#ifndef LODE_EMBED_H
#define LODE_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct embed;

/* What a text is: some models embed queries and documents differently. */
enum embed_role {
	EMBED_DOCUMENT = 0,
	EMBED_QUERY = 1,
};

enum embed_device {
	EMBED_DEVICE_AUTO = 0, /* CUDA when usable, else the CPU (with a message) */
	EMBED_DEVICE_CPU,
	EMBED_DEVICE_CUDA,     /* CUDA or fail */
};

#define EMBED_DEFAULT_SPEC "hash"

struct embed_options {
	const char *spec;          /* "hash", "hash:DIM" or a .gguf path; NULL: "hash" */
	enum embed_device device;
	uint64_t vram_limit;       /* bytes of GPU memory the encoder may use; 0: default */
	const char *query_prefix;  /* NULL: the model's own (e.g. "search_query: ") */
	const char *doc_prefix;    /* NULL: the model's own */
	unsigned threads;          /* CPU threads; 0: one per core */
};

/** Whether spec names a built-in embedder ("hash", "hash:DIM") rather than a model file. */
bool embed_spec_builtin(const char *spec);

/**
 * Open an embedder. BASE_E_NOTFOUND for a missing model file,
 * BASE_E_PARSE for a malformed one (the message names the file and the
 * field), BASE_E_UNSUPPORTED for an architecture or tensor type lode does
 * not run, BASE_E_DEVICE when device=CUDA and no usable GPU exists.
 */
struct embed *embed_open(const struct embed_options *opts, struct base_err *err);
/** Close; embed_close(NULL) is a no-op. */
void embed_close(struct embed *e);

/** Vector dimension. */
unsigned embed_dim(const struct embed *e);
/** Stable identifier of the model and its configuration ("hash-v1-512"). */
const char *embed_model_id(const struct embed *e);
/** One line for people: "hash: code-aware feature hashing, 512-d". */
const char *embed_describe(const struct embed *e);

/**
 * Embed n texts (texts[i] is lens[i] bytes, any bytes) into out, which
 * holds n * embed_dim(e) floats; each row is L2-normalised (a text with no
 * features gives the zero vector). Texts longer than the model's context
 * are truncated.
 */
int embed_texts(struct embed *e, enum embed_role role, const char *const *texts, const size_t *lens,
		size_t n, float *out, struct base_err *err);

#endif /* LODE_EMBED_H */
