/*
 * store: lode's on-disk index. SQLite (WAL) holds files, chunks and an FTS5
 * index whose tokenizer understands code identifiers.
 *
 * Overview
 *   One writer, many readers. The writer groups file updates into
 *   transactions (store_begin/store_commit); inside one, a file's row, its
 *   chunks and their FTS rows change together, so a reader never sees half
 *   of a file's update. Readers open with STORE_READ and never block the
 *   writer (WAL).
 *
 * Lifetimes
 *   Strings in structs passed *in* are borrowed for the call only. Results
 *   (struct store_hits) own their strings until store_hits_release().
 *
 * Chunk ids
 *   A chunk id identifies one stored chunk for as long as it exists and is
 *   never handed out again, even after the chunk is deleted (re-putting a
 *   file gives its chunks new ids). Ids grow with insertion order but are
 *   not dense: their low bits carry a length class used by ranking.
 *
 * Errors
 *   BASE_E_CORRUPT from any call means the database is damaged; the message
 *   says to rebuild with `lode index --rebuild`. BASE_E_BUSY: locked by
 *   another writer past the busy timeout. BASE_E_IO names the path.
 *
 * Threads
 *   A struct store is used by one thread at a time. Open one per thread.
 */
#ifndef LODE_STORE_H
#define LODE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct store;

enum store_open_flags {
	STORE_READ = 0,
	STORE_WRITE = 1 << 0,  /* open for writing; migrate the schema */
	STORE_CREATE = 1 << 1, /* create the file when missing (implies write) */
};

/* ------------------------------------------------------------------------
 * Open / close
 * ------------------------------------------------------------------------ */

/**
 * Open the index database at `path`. Fails with BASE_E_NOTFOUND when the
 * file is missing (and STORE_CREATE not given), BASE_E_CORRUPT when it is
 * not a lode index or is damaged (err says how to rebuild), BASE_E_IO when
 * it cannot be opened or written, BASE_E_UNSUPPORTED when its schema is
 * newer than this binary's (or older, for a reader: writers migrate it).
 */
struct store *store_open(const char *path, unsigned flags, struct base_err *err);
/** Close; store_close(NULL) is a no-op. An open transaction is rolled back. */
void store_close(struct store *s);

/* ------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------ */

/** Start a write transaction. BASE_E_API when read-only or one is open. */
int store_begin(struct store *s, struct base_err *err);
/**
 * Commit. When a write inside the transaction failed, nothing is committed:
 * the transaction is rolled back and BASE_E_API returned.
 */
int store_commit(struct store *s, struct base_err *err);
/** Roll back the open transaction, if any. */
void store_rollback(struct store *s);

/** What the index knows about one file. */
struct store_file {
	const char *path; /* relative to the repository root, '/'-separated */
	uint64_t size;
	int64_t mtime_ns;
	uint64_t ino;
	uint64_t hash; /* XXH3-64 of the content */
	const char *lang;
};

/*
 * Names (the code graph by name): what a chunk defines, imports and calls,
 * as tree-sitter sees it, stored lower-cased beside the chunk and replaced
 * with it. Ranking uses them to find the chunk that defines a name a query
 * mentions even when few of its words match.
 */
enum store_name_kind {
	STORE_NAME_DEF = 0,    /* a function, class, type ... defined here */
	STORE_NAME_IMPORT = 1, /* a module or name imported / included */
	STORE_NAME_CALL = 2,   /* a function or method called by name */
};

struct store_name {
	const char *name; /* as written; stored lower-cased, at most STORE_NAME_MAX bytes (longer: skipped) */
	enum store_name_kind kind;
};

#define STORE_NAME_MAX 64

/**
 * Chunks with the name `name` (case-insensitive) of `kind`, at most `max`,
 * in id order; *n gets how many. ids holds max entries.
 */
int store_names_find(struct store *s, const char *name, enum store_name_kind kind, int64_t *ids, size_t max,
		     size_t *n, struct base_err *err);

/** One chunk to store: a byte range of the file's content. */
struct store_chunk_in {
	uint32_t start_byte, end_byte; /* half-open */
	uint32_t start_line, end_line; /* 1-based, inclusive */
	const char *kind;
	const char *symbol; /* "" when none */
	const char *scope;  /* "" when top level */
	const float *vec;   /* its embedding (the attached vectors' dim), or NULL */
	const struct store_name *names; /* what it defines, imports, calls (duplicates are kept once) */
	size_t nnames;
};

/* Bytes of a chunk content hash. */
#define STORE_HASH_BYTES 16

/** The content hash of a chunk's text (XXH3-128, canonical byte order). */
void store_chunk_hash(const char *text, size_t len, uint8_t out[STORE_HASH_BYTES]);

/**
 * Replace everything stored for `f->path` (row, chunks, FTS rows) with `f`
 * and `chunks`, whose text is taken from `data` (the file's content, `len`
 * bytes, any bytes: stored and returned exactly). Must be called inside a
 * transaction (BASE_E_API otherwise). Chunks outside [0, len) give
 * BASE_E_INVAL and change nothing. A database error half-way poisons the
 * transaction: only store_rollback (or store_commit, which then rolls back)
 * is allowed, after which the file's previous content is intact.
 */
int store_file_put(struct store *s, const struct store_file *f, const char *data, size_t len,
		   const struct store_chunk_in *chunks, size_t n, struct base_err *err);
/**
 * Update only the stat fields (size, mtime, inode, hash; lang unless NULL)
 * of a file whose content did not change. BASE_E_NOTFOUND when not indexed.
 * Inside or outside a transaction.
 */
int store_file_touch(struct store *s, const struct store_file *f, struct base_err *err);
/**
 * Remove a file and its chunks. Missing files are not an error. Outside a
 * transaction it runs in one of its own.
 */
int store_file_delete(struct store *s, const char *path, struct base_err *err);

/** Called per file; a non-zero return stops the walk and is returned. */
typedef int store_file_fn(void *payload, const struct store_file *f);
/**
 * Every indexed file, in path (byte) order. The strings in `f` are valid
 * during the callback only.
 */
int store_files_each(struct store *s, store_file_fn *fn, void *payload, struct base_err *err);
/** As store_files_each, for `path` itself and every file under the directory `path`. */
int store_files_under(struct store *s, const char *path, store_file_fn *fn, void *payload, struct base_err *err);
/**
 * One file's row into *out, whose path and lang are heap copies (base_free
 * them). BASE_E_NOTFOUND when not indexed.
 */
int store_file_get(struct store *s, const char *path, struct store_file *out, struct base_err *err);

/** Set a key in the meta table (inside or outside a transaction). */
int store_meta_set(struct store *s, const char *key, const char *value, struct base_err *err);
/** A heap copy of the value (base_free it), or NULL when unset. */
char *store_meta_get(struct store *s, const char *key);

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

struct store_hit {
	int64_t chunk_id;
	char *path, *lang, *kind, *symbol, *scope;
	uint32_t start_byte, end_byte, start_line, end_line;
	double score; /* higher is better */
	char *text;
	size_t text_len;
};

struct store_hits {
	struct store_hit *v;
	size_t n, cap;
};

#define STORE_HITS_INIT { NULL, 0, 0 }

void store_hits_release(struct store_hits *h);
/** Free one hit's strings (for hits moved out of a store_hits). */
void store_hit_release(struct store_hit *h);

/* A query term from query analysis (indexer/query.h), for ranking. */
enum store_qterm_kind {
	STORE_QT_WORD = 0, /* words: prose, messages, identifiers in code */
	STORE_QT_SYMBOL,   /* a function/class name from a stack frame or a qualified name */
	STORE_QT_PATH,     /* a file path as written in the query */
	STORE_QT_MODULE,   /* a module or package name */
};

struct store_qterm {
	const char *text;
	float weight; /* relative: 1 an ordinary identifier, 0.3 prose, 3 a frame's path */
	enum store_qterm_kind kind; /* lexical search reads WORD and MODULE terms only */
	bool library; /* from library code (site-packages, node_modules ...): no path/symbol boost */
};

/* Symbols at least this heavy (a frame's function, a qualified name, a
 * project's error class) are looked up in the names table. */
#define STORE_GRAPH_MIN_WEIGHT 2.0f

struct store_query {
	const char *text; /* free text: keywords or a pasted bug report */
	size_t text_len;  /* 0: text is NUL-terminated */
	size_t k;         /* results wanted; 0: 10 (at most 1000) */
	const char *const *langs; /* keep chunks of these languages (none: all) */
	size_t nlangs;
	const char *const *globs; /* keep paths matching any glob (none: all) */
	size_t nglobs;
	/*
	 * Weighted terms (may be NULL): when given, lexical search takes its
	 * words from them, each word with the highest weight of a term it
	 * comes from, and hybrid ranking its features; `text` then only feeds
	 * the dense half. Weights choose which words are looked up and kept
	 * (a word of weight w counts as w times rarer), not their BM25 score:
	 * scoring by weight measured worse (docs/BENCHMARKS.md, issue 8).
	 */
	const struct store_qterm *terms;
	size_t nterms;
};

/**
 * BM25 search over the chunks. Any text is a valid query: FTS syntax in
 * it is never interpreted. Results are appended to `out`, best first;
 * a query with no searchable words finds nothing (BASE_OK, 0 hits).
 * The text is cut into identifier words and their parts (base_word_next,
 * base_word_parts), lower-cased; stop words, one-byte words and very
 * common terms are dropped and the rarest terms searched.
 */
int store_search_lexical(struct store *s, const struct store_query *q, struct store_hits *out,
			 struct base_err *err);

/**
 * All chunks of one file in byte order (score 0), appended to `out`.
 * BASE_E_NOTFOUND if the file is not indexed.
 */
int store_file_chunks(struct store *s, const char *path, struct store_hits *out, struct base_err *err);

struct store_stats {
	int64_t files;
	int64_t chunks;
	int64_t bytes;      /* sum of indexed file sizes */
	int64_t db_bytes;   /* index.db plus its WAL */
	int64_t generation; /* bumped by each index run that changed something */
};

/** Counts for `lode status`; exact, so they scan (milliseconds per 1M chunks). */
int store_stats(struct store *s, struct store_stats *out, struct base_err *err);

/**
 * Hits for chunk ids (with the given scores), in the given order; ids no
 * longer in the index are skipped, and so are chunks the query's language
 * and path filters (when q is not NULL) do not keep.
 */
int store_chunks_get(struct store *s, const int64_t *ids, const double *scores, size_t n,
		     const struct store_query *q, struct store_hits *out, struct base_err *err);

/* ------------------------------------------------------------------------
 * Vector cache (vcache.c): chunk embeddings by (model id, content hash),
 * shared by every index of a user ($XDG_CACHE_HOME/lode/vectors.db): a
 * chunk ever embedded with a model is never embedded again, whatever file,
 * branch or worktree it appears in. Thread-safe.
 * ------------------------------------------------------------------------ */

struct store_vcache;

struct store_vcache_stats {
	uint64_t hits, misses, puts;
};

/** The default cache file (heap string), or NULL without HOME/XDG_CACHE_HOME. */
char *store_vcache_default_path(void);
/** Open (creating) the cache at `path` (NULL: the default) for one model. */
struct store_vcache *store_vcache_open(const char *path, const char *model_id, unsigned dim, struct base_err *err);
/** Flush and close; store_vcache_close(NULL) is a no-op. */
void store_vcache_close(struct store_vcache *c);
/**
 * Look up n hashes (n * STORE_HASH_BYTES bytes); found vectors go to
 * out[i * dim], found[i] says which.
 */
int store_vcache_get(struct store_vcache *c, const uint8_t *hashes, size_t n, float *out, bool *found,
		     struct base_err *err);
/** Remember n vectors. Failing to cache (another process busy) is not an error. */
int store_vcache_put(struct store_vcache *c, const uint8_t *hashes, const float *vecs, size_t n,
		     struct base_err *err);
/** Commit what was put so far (also done on close). */
void store_vcache_flush(struct store_vcache *c);
struct store_vcache_stats store_vcache_stats(struct store_vcache *c);
/**
 * Round vectors through IEEE half precision, as the cache stores them.
 * Vectors are rounded before they enter an index, so one read back from
 * the cache is bit-identical to one computed fresh.
 */
void store_vec_round(float *v, size_t n);

/* ------------------------------------------------------------------------
 * Vectors (vectors.c): the chunk embeddings of one index as a FAISS index
 * in RAM, kept equal to SQLite's chunks.
 *
 * SQLite is the truth. The FAISS index is saved atomically as
 * .lode/vectors.<seq>.faiss, where every chunk with a sequence number below
 * <seq> was committed before the save. A reader loads the newest file and
 * adds the chunks committed since (their vectors from the cache, or
 * embedded again); chunks deleted since are dropped when hits are resolved
 * through SQLite. A writer reconciles fully on open: ids in the file but not
 * in SQLite are removed, missing ones added. So a crash at any point (after
 * a commit, before a save) never makes search return deleted chunks or miss
 * live ones.
 *
 * Attached to the writer's store handle (store_attach_vectors), the chunks
 * put and the chunks dropped in a transaction enter or leave the FAISS
 * index when it commits, and never when it rolls back.
 *
 * Threads: searches may run from any number of threads while the writer
 * commits (a read-write lock inside).
 * ------------------------------------------------------------------------ */

struct store_vectors;

/** Embed texts for vectors missing from the cache (see embed/embed.h). */
typedef int store_embed_fn(void *payload, const char *const *texts, const size_t *lens, size_t n, float *out,
			   struct base_err *err);

struct store_vectors_options {
	const char *dir;      /* the index directory, <repo>/.lode */
	const char *model_id; /* must match the index's; another id rebuilds (writer) */
	unsigned dim;
	const char *factory;  /* FAISS factory string; NULL or "auto": by size */
	struct store_vcache *cache; /* may be NULL */
	store_embed_fn *embed;      /* for vectors the cache lacks */
	void *embed_payload;
	bool writer;          /* reconcile fully and keep the index equal to SQLite */
};

struct store_vectors_stats {
	uint64_t count;       /* vectors in the index */
	uint64_t bytes;       /* RAM they hold */
	uint64_t embedded;    /* vectors computed by open/maintain (cache misses) */
	uint64_t added, removed; /* by open's reconciliation */
	char factory[64];
};

/** Load (or build) the vectors of the index `s` belongs to. */
struct store_vectors *store_vectors_open(struct store *s, const struct store_vectors_options *o,
					 struct base_err *err);
void store_vectors_close(struct store_vectors *v);
/** Attach to the writer's handle (NULL detaches). */
void store_attach_vectors(struct store *s, struct store_vectors *v);
/**
 * Keep the index type right for its size: flat while small, IVF-SQ8 when
 * large, retrained as it grows (rebuilt from the cache when it changes).
 * Call outside a transaction.
 */
int store_vectors_maintain(struct store_vectors *v, struct store *s, struct base_err *err);
/**
 * A bulk load of about `expected` vectors into an empty index follows (a
 * first index run): choose the index type for that size now. When it
 * needs training, the first TRAIN_SAMPLE vectors committed wait in memory
 * and train it (so commit a uniform sample of the files first); the save
 * trains on what came when fewer did. No-op for a non-empty index.
 * *training says whether committed vectors now wait for training.
 */
int store_vectors_bulk(struct store_vectors *v, uint64_t expected, bool *training, struct base_err *err);
/** Maintain, then save atomically when anything changed since the last save. */
int store_vectors_save(struct store_vectors *v, struct store *s, struct base_err *err);
/**
 * The k nearest chunks to one query vector (inner product), best first;
 * *n gets how many were found. Chunks deleted since the last save may be
 * among them: resolve hits with store_chunks_get.
 */
int store_vectors_search(struct store_vectors *v, const float *q, size_t k, int64_t *ids, float *scores,
			 size_t *n, struct base_err *err);
struct store_vectors_stats store_vectors_stats(struct store_vectors *v);
/** Remove every saved vector file from an index directory (for a rebuild). */
void store_vectors_remove_files(const char *dir);

/* ------------------------------------------------------------------------
 * Hybrid search (hybrid.c)
 * ------------------------------------------------------------------------ */

/** How lexical and dense results are fused and re-ranked. */
struct store_fusion {
	double w_lexical, w_dense; /* reciprocal-rank-fusion weights */
	double rrf_k;              /* RRF constant: w / (rrf_k + rank) */
	size_t depth;              /* results taken from each list */
	double w_symbol;           /* the chunk defines a name the query mentions */
	double w_path;             /* the query names the chunk's file */
	double file_rest;          /* per-file: best + file_rest * min(rest, best) */
	double aside;              /* factor for tests, docs, changelogs, vendored code
				      (1: none) unless the query asks for them */
	double w_hint_symbol;      /* extra: the chunk defines a symbol of a frame or qualified name */
	double w_hint_path;        /* the chunk's file is a path the query names (suffix match) */
	double w_dirs;             /* per directory of the path that the query names (at most 2) */
	double w_graph;            /* the names table says the chunk defines a name the query stresses;
				      such chunks join the candidates */
};

extern const struct store_fusion store_fusion_default;

/** The k chunks nearest to qvec that pass q's filters (q->text unused). */
int store_search_dense(struct store *s, struct store_vectors *v, const struct store_query *q, const float *qvec,
		       size_t k, struct store_hits *out, struct base_err *err);
/**
 * Lexical and dense results fused (f NULL: the defaults); with `files`,
 * one hit per file (its best chunk). v or qvec NULL: lexical only, still
 * re-ranked. Hits appended to out, best first, score = fused score. With
 * a second handle `s2` on the same index (else NULL), the dense half runs
 * on a thread of its own while the lexical half runs on the caller's.
 */
int store_search_hybrid(struct store *s, struct store *s2, struct store_vectors *v, const struct store_query *q,
			const float *qvec, const struct store_fusion *f, bool files, struct store_hits *out,
			struct base_err *err);
/** Group hits (best first) by file as store_search_hybrid does; keep k. */
int store_hits_by_file(struct store_hits *h, size_t k, const struct store_fusion *f);

#endif /* LODE_STORE_H */
