/*
 * internal.h: private to store/. The handle, the cached statements and the
 * helpers the store's files share.
 */
#ifndef LODE_STORE_INTERNAL_H
#define LODE_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store/store.h"

/*
 * Name of the FTS5 tokenizer the schema names. The tokenizer is part of the
 * index format: contentless FTS5 rows are deleted by re-tokenizing their old
 * text, so any change to what it emits (or to the head text built by
 * store__head_build) needs a migration that rebuilds the FTS table.
 */
#define STORE_TOKENIZER "lode"

/* Longest token, in bytes. Longer words are indexed by their parts only. */
#define STORE_TOKEN_MAX 64

/*
 * Chunk ids: (sequence << STORE_ID_SHIFT) | length class. The sequence
 * only grows (never reused); the low bits hold the chunk's body length
 * class (store__len_class), so ranking can normalise BM25 by length from
 * the rowid alone, without a per-row lookup (rank.c).
 */
#define STORE_ID_SHIFT 5
#define STORE_LEN_CLASSES (1 << STORE_ID_SHIFT)

/* Length class of n bytes: floor(2 log2 n), so classes are sqrt(2) apart. */
static inline int store__len_class(size_t n)
{
	int l = 0;
	while (l < 31 && ((size_t)2 << l) <= n)
		l++;
	/* n in [2^l, 2^(l+1)): the upper half starts at 2^l * sqrt(2). */
	int c = n == 0 ? 0 : 2 * l + ((uint64_t)n * n >= (uint64_t)2 << (2 * l));
	return c < STORE_LEN_CLASSES ? c : STORE_LEN_CLASSES - 1;
}

/*
 * Counters kept in meta and in memory for the open transaction, written
 * back before COMMIT. The planner reads them instead of scanning.
 */
enum store_counter {
	CNT_CHUNK_SEQ,   /* next chunk sequence number */
	CNT_CHUNKS,      /* live chunks */
	CNT_BODY_BYTES,  /* summed chunk text length */
	CNT__COUNT
};

/*
 * Rows a search may score: its rarest terms pick candidates up to this
 * summed document frequency (search.c). ~0.5 us a candidate.
 */
#define STORE_CANDIDATE_BUDGET 50000

/*
 * Candidates a filtered search checks one by one (~4 us each) before it
 * evaluates the filters on every file instead (~40 ms at 85k files).
 */
#define STORE_FILTER_LOOKUPS 2000

/* Statements prepared once per handle, on first use. */
enum store_stmt {
	ST_FILE_FIND,
	ST_FILE_INSERT,
	ST_FILE_UPDATE,
	ST_FILE_TOUCH,
	ST_FILE_DELETE,
	ST_FILE_CHUNKS_OLD,
	ST_CHUNKS_DELETE,
	ST_CHUNK_INSERT,
	ST_FTS_INSERT,
	ST_FTS_DELETE,
	ST_META_SET,
	ST_META_GET,
	ST_TERM_SCAN,
	ST_CHUNK_SPAN,
	ST_CHUNK_FILE,
	ST_FILE_INFO,
	ST_FILE_RANGES,
	ST_HIT_GET,
	ST_HIT_META,
	ST_CHUNK_TEXT,
	ST_NAME_INSERT,
	ST_NAMES_DROP,
	ST_NAME_FIND,
	ST__COUNT
};

struct store {
	sqlite3 *db;
	char *path;
	unsigned flags;
	bool in_tx;
	bool tx_failed; /* a write failed half-way: only rollback is allowed */
	bool cnt_loaded;
	int64_t cnt[CNT__COUNT];
	int64_t cnt_saved[CNT__COUNT];
	int64_t cand_budget;   /* STORE_CANDIDATE_BUDGET; tests lower it */
	size_t filter_lookups; /* STORE_FILTER_LOOKUPS; tests lower it */
	sqlite3_stmt *stmt[ST__COUNT];
	struct base_buf head; /* scratch: the FTS head text of one chunk */
	struct store_vectors *vectors; /* attached by the writer, or NULL */
	bool no_text;                  /* hits without their text (hybrid.c fetches it for the winners) */
};

/* ---- store.c --------------------------------------------------------- */

/** Map a SQLite error on `s` to a base status, with `what` as context. */
int store__db_err(struct store *s, int rc, struct base_err *err, const char *what);
/** The cached statement `id`, reset and with bindings cleared; NULL on error. */
sqlite3_stmt *store__stmt(struct store *s, enum store_stmt id, struct base_err *err);
/** Run SQL text without results. */
int store__exec(struct store *s, const char *sql, struct base_err *err);
/** Read an integer meta value; `def` when unset or not a number. */
int64_t store__meta_int(struct store *s, const char *key, int64_t def);
/** The meta key of a counter. */
const char *store__counter_key(enum store_counter c);

/* ---- vectors.c ------------------------------------------------------- */

/** A chunk put in the open transaction (vec may be NULL: logged). */
void store__vectors_put(struct store *s, int64_t id, const float *vec);
/** A chunk dropped in the open transaction. */
void store__vectors_drop(struct store *s, int64_t id);
/** The transaction committed: apply its puts and drops to the FAISS index. */
int store__vectors_commit(struct store *s, struct base_err *err);
/** The transaction rolled back: forget them. */
void store__vectors_rollback(struct store *s);

/* ---- schema.c -------------------------------------------------------- */

/** The schema version this binary writes. */
int store__schema_latest(void);
/**
 * Check the schema of a freshly opened database and, when opened for
 * writing, migrate it to the latest version in one transaction.
 */
int store__schema_check(struct store *s, struct base_err *err);

/* ---- tokenizer.c ----------------------------------------------------- */

/** Register the "lode" tokenizer and lode_rank() on a connection. */
int store__fts5_register(sqlite3 *db);
/** Is the lower-case word w[0,n) an English stop word? */
bool store__is_stopword(const char *w, size_t n);
/**
 * Are the parts of word w[0,n) (np of them, from base_word_parts) indexed
 * besides the word itself? Not when the only part is the word, nor for
 * numbers (words starting with a digit: 0x1f, 1000ms), whose parts are
 * noise.
 */
static inline bool store__word_splits(const char *w, size_t n, const struct base_span *parts, size_t np)
{
	if (n && w[0] >= '0' && w[0] <= '9')
		return false;
	return !(np == 1 && parts[0].len == n);
}

/** The text of a chunk's FTS head column: path, symbol, scope. */
int store__head_build(struct base_buf *b, const char *path, const char *symbol, size_t symbol_len,
		      const char *scope, size_t scope_len);

/* ---- search.c -------------------------------------------------------- */

/** Read the text of hits[from..] (fetched without it). */
int store__hits_text(struct store *s, struct store_hits *h, size_t from, struct base_err *err);
/** Free the strings of one hit. */
void store__hit_free(struct store_hit *h);
/** Register lode_keep(), the search filter, on a connection. */
int store__search_register(sqlite3 *db);

/* ---- rank.c ---------------------------------------------------------- */

/** Register lode_rank(fts, params), the BM25 ranking function. */
int store__rank_register(fts5_api *api);

#endif /* LODE_STORE_INTERNAL_H */
