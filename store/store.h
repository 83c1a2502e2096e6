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

/** One chunk to store: a byte range of the file's content. */
struct store_chunk_in {
	uint32_t start_byte, end_byte; /* half-open */
	uint32_t start_line, end_line; /* 1-based, inclusive */
	const char *kind;
	const char *symbol; /* "" when none */
	const char *scope;  /* "" when top level */
};

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

struct store_query {
	const char *text; /* free text: keywords or a pasted bug report */
	size_t text_len;  /* 0: text is NUL-terminated */
	size_t k;         /* results wanted; 0: 10 (at most 1000) */
	const char *const *langs; /* keep chunks of these languages (none: all) */
	size_t nlangs;
	const char *const *globs; /* keep paths matching any glob (none: all) */
	size_t nglobs;
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

#endif /* LODE_STORE_H */
