/*
 * reader.h: searching an index — the one entry point every surface uses
 * (the CLI, HTTP, MCP, the agent).
 *
 * An idx_reader holds what a search needs for one repository: database
 * handles, the vector index in RAM and the embedder for queries. It is
 * thread-safe: any number of threads may search at once (each call takes
 * a database handle from a small pool; the vector index is read under a
 * read lock). A reader opened in the process that writes the index (lode
 * serve) shares that writer's vector index, so answers are fresh at once;
 * a reader in another process sees every committed file update (SQLite)
 * and the vectors saved so far plus those of chunks committed since.
 *
 * Freshness: every answer carries the index generation, the git HEAD it
 * reflects and the number of changes seen but not yet applied (from the
 * watcher when one runs in this process, else 0).
 */
#ifndef LODE_INDEXER_READER_H
#define LODE_INDEXER_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "store/store.h"

struct idx_reader;

enum idx_mode {
	IDX_MODE_HYBRID = 0, /* lexical and dense fused (the default) */
	IDX_MODE_LEXICAL,    /* BM25 only */
	IDX_MODE_DENSE,      /* vectors only */
};

/** "hybrid", "lexical", "dense". */
const char *idx_mode_name(enum idx_mode mode);
/** Parse a mode name; false when unknown. */
bool idx_mode_parse(const char *name, enum idx_mode *out);

/*
 * The parts of hybrid ranking that can be switched off, one at a time, to
 * measure what each adds (bench/swebench.sh, bench/eval.sh).
 */
enum idx_feature {
	IDX_FEAT_QUERY = 1u << 0,   /* query analysis (indexer/query.h): weighted terms, boilerplate dropped */
	IDX_FEAT_SYMBOL = 1u << 1,  /* the chunk defines a name the query mentions */
	IDX_FEAT_PATH = 1u << 2,    /* the query names the file: stem, written path, directories */
	IDX_FEAT_ASIDE = 1u << 3,   /* tests, docs, changelogs, vendored code set aside */
	IDX_FEAT_GRAPH = 1u << 4,   /* chunks that define a query symbol join the candidates (names table) */
	IDX_FEAT_DENSE = 1u << 5,   /* the dense half */
	IDX_FEAT_FILESUM = 1u << 6, /* a file scores its best chunk plus a bounded share of the rest */
};
#define IDX_FEAT__COUNT 7

/** "query", "symbol", "path", "aside", "graph", "dense", "filesum"; NULL for other values. */
const char *idx_feature_name(unsigned feature);
/** Parse a feature name; false when unknown. */
bool idx_feature_parse(const char *name, unsigned *feature);
/**
 * Parse a system: a mode name, optionally followed by features switched
 * off, "hybrid-no-graph-no-query". false when any part is unknown.
 */
bool idx_system_parse(const char *spec, enum idx_mode *mode, unsigned *off);

struct idx_query {
	const char *text; /* free text: keywords or a pasted bug report */
	size_t len;       /* 0: text is NUL-terminated */
	size_t k;         /* results wanted; 0: 10 (at most 1000) */
	enum idx_mode mode;
	const char *const *langs; /* keep these languages (none: all) */
	size_t nlangs;
	const char *const *globs; /* keep paths matching any glob (none: all) */
	size_t nglobs;
	bool files; /* rank files: one hit per file, its best chunk */
	unsigned off; /* enum idx_feature bits switched off (hybrid only; 0: all on) */
};

/** What an answer reflects. */
struct idx_answer {
	enum idx_mode mode; /* the mode used (hybrid without vectors: lexical) */
	int64_t generation;
	char head[41];      /* git HEAD the index reflects; "" outside git */
	uint64_t pending;   /* changes seen by the watcher, not yet applied */
	double took_ms;
};

/**
 * Open the index of the repository at `root` (which holds .lode/).
 * BASE_E_NOTFOUND when there is no index; the errors of store_open.
 */
struct idx_reader *idx_reader_open(const char *root, struct base_err *err);
/** Close; idx_reader_close(NULL) is a no-op. No search may be running. */
void idx_reader_close(struct idx_reader *r);

/** The repository root (absolute). */
const char *idx_reader_root(const struct idx_reader *r);

/**
 * Search. Hits are appended to `out` best first (release them with
 * store_hits_release); `ans` (may be NULL) says what was searched.
 * Thread-safe.
 */
int idx_search(struct idx_reader *r, const struct idx_query *q, struct store_hits *out,
	       struct idx_answer *ans, struct base_err *err);

/** All chunks of one file in byte order; as store_file_chunks. Thread-safe. */
int idx_reader_file_chunks(struct idx_reader *r, const char *path, struct store_hits *out,
			   struct base_err *err);

/** Counts for status; as store_stats. Thread-safe. */
int idx_reader_stats(struct idx_reader *r, struct store_stats *out, struct base_err *err);

/** Freshness now (generation, head, pending); ans->mode and took_ms are 0. */
void idx_reader_answer(struct idx_reader *r, struct idx_answer *ans);

/** The model id of the index's vectors, or "none". The string lives as long as r. */
const char *idx_reader_model(struct idx_reader *r);

/**
 * Search the vectors of the writer of this process (lode serve) instead of
 * loading the saved ones: answers see each committed batch at once. The
 * vectors must outlive the reader. Call before the first search.
 */
void idx_reader_share_vectors(struct idx_reader *r, struct store_vectors *v);

/**
 * Where `pending` comes from: the watcher of this process installs a
 * function returning its count of changes seen and not yet applied.
 */
void idx_reader_set_pending(struct idx_reader *r, uint64_t (*fn)(void *payload), void *payload);

#endif /* LODE_INDEXER_READER_H */
