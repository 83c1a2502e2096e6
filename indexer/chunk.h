/*
 * chunk.h (indexer-private): cutting a file into chunks.
 *
 * Invariant: the chunks of a file are sorted and cover its bytes exactly
 * once: chunk[0].start_byte == 0, chunk[i].end_byte ==
 * chunk[i+1].start_byte, and the last ends at the file's length (an empty
 * file has no chunks). Sizes are measured in non-whitespace bytes.
 */
#ifndef LODE_INDEXER_CHUNK_H
#define LODE_INDEXER_CHUNK_H

#include "base/base.h"
#include "indexer/indexer.h"
#include "indexer/lang.h"

struct idx_chunk {
	uint32_t start_byte, end_byte; /* half-open */
	uint32_t start_line, end_line; /* 1-based, inclusive; set by idx_chunk_file */
	const char *kind;              /* static string: "function", "section", "code", ... */
	char *symbol;                  /* heap string or NULL */
	char *scope;                   /* heap string or NULL: "class Foo > function bar" */
};

/* A name a chunk defines, imports or calls (enum store_name_kind), from the syntax tree. */
struct idx_name {
	uint32_t chunk; /* index into idx_chunks.c */
	uint8_t kind;   /* enum store_name_kind */
	char *name;     /* heap: one identifier */
};

struct idx_chunks {
	BASE_VEC(struct idx_chunk) c;
	BASE_VEC(struct idx_name) names; /* sorted by chunk; only for files with a grammar */
};

#define IDX_CHUNKS_INIT { BASE_VEC_INIT, BASE_VEC_INIT }

/** Most names kept per chunk. */
#define IDX_NAMES_PER_CHUNK 64

void idx_chunks_release(struct idx_chunks *cs);
/** Append a chunk; symbol and scope are copied (may be NULL). */
void idx_chunks_add(struct idx_chunks *cs, uint32_t start, uint32_t end, const char *kind, const char *symbol,
		    const char *scope);

struct idx_chunk_opts {
	unsigned max_size; /* non-whitespace bytes; 0: IDX_DEFAULT_MAX_CHUNK */
	TSParser *parser;  /* reused across calls by one thread; NULL: a fresh one per call */
};

/**
 * Chunk `data` (len bytes) as `lang`. Files with syntax errors are still
 * chunked. Fills line numbers and checks the coverage invariant.
 */
int idx_chunk_file(const struct idx_lang *lang, const char *data, size_t len, const struct idx_chunk_opts *opts,
		   struct idx_chunks *out, struct base_err *err);

/** Non-whitespace bytes in data[start, end). */
size_t idx__nonws(const char *data, size_t start, size_t end);

/**
 * Split data[start, end) at line ends into pieces of at most max_size
 * non-whitespace bytes each (a single longer line is cut at max_size),
 * appending them with the given kind/symbol/scope.
 */
void idx__split_lines(struct idx_chunks *cs, const char *data, size_t start, size_t end, unsigned max_size,
		      const char *kind, const char *symbol, const char *scope);

/**
 * The structure-aware chunker for languages without a grammar: markdown
 * (sections by heading), json (top-level members), yaml (top-level keys),
 * toml (tables), and any other text (blank-line paragraphs). Appends
 * byte-range chunks covering data[0, len).
 */
int idx__chunk_text(const struct idx_lang *lang, const char *data, size_t len, unsigned max_size,
		    struct idx_chunks *out);

#endif /* LODE_INDEXER_CHUNK_H */
