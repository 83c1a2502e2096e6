/*
 * indexer: turns a repository into index rows.
 *
 * `idx_index` walks the tree with git's ignore rules, skips what should not
 * be indexed (counting every skip by reason), chunks each changed file
 * along syntax boundaries and writes it to the store. A second run only
 * re-reads files whose stat changed and re-chunks only files whose content
 * changed; files that vanished or became ignored leave the index.
 *
 * On disk (DESIGN.md): <repo>/.lode/index.db and <repo>/.lode/lock. Only
 * one writer at a time holds the lock; a second gets BASE_E_BUSY.
 */
#ifndef LODE_INDEXER_H
#define LODE_INDEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "embed/embed.h"

/* Why a path was not indexed. Append only. */
#define IDX_SKIP_MAP(X)                                                     \
	X(IGNORED, "ignored")       /* .gitignore, exclude files, .lodeignore */ \
	X(BINARY, "binary")         /* NUL bytes or not text */                 \
	X(TOO_LARGE, "too_large")   /* over max_file_size */                    \
	X(MINIFIED, "minified")     /* very long lines */                       \
	X(GENERATED, "generated")   /* "@generated", "DO NOT EDIT" markers */   \
	X(SYMLINK, "symlink")       /* never followed: no loops, no escapes */  \
	X(UNREADABLE, "unreadable") /* permission denied, vanished, I/O error */ \
	X(SPECIAL, "special")       /* fifos, sockets, devices */

enum idx_skip {
#define IDX__SKIP_ENUM(name, text) IDX_SKIP_##name,
	IDX_SKIP_MAP(IDX__SKIP_ENUM)
#undef IDX__SKIP_ENUM
	IDX_SKIP__COUNT
};

/** "binary", "too_large", ... */
const char *idx_skip_name(enum idx_skip reason);

#define IDX_DEFAULT_MAX_FILE_SIZE ((uint64_t)1 << 20)
#define IDX_DEFAULT_MAX_CHUNK 1500 /* non-whitespace characters */

/** Progress report: called from the indexing thread, at most ~10 times/s. */
typedef void idx_progress_fn(void *payload, uint64_t done, uint64_t total, uint64_t bytes_done);

struct idx_options {
	const char *root;        /* repository directory */
	uint64_t max_file_size;  /* 0: IDX_DEFAULT_MAX_FILE_SIZE */
	unsigned max_chunk;      /* 0: IDX_DEFAULT_MAX_CHUNK */
	unsigned jobs;           /* worker threads; 0: one per core */
	bool rebuild;            /* drop the existing index first */
	const char *model;       /* embedder spec ("hash", a .gguf path, "none"); NULL: the index's */
	enum embed_device device; /* where a model file runs (auto: CUDA when usable) */
	uint64_t vram_limit;     /* GPU memory the encoder may use; 0: its default */
	const char *query_prefix; /* text before every query / chunk for model files; NULL: */
	const char *doc_prefix;   /* the index's, else the model's own ("search_query: ") */
	const char *vector_factory; /* FAISS factory string or "auto"; NULL: the index's */
	idx_progress_fn *progress;
	void *progress_payload;
};

struct idx_summary {
	uint64_t seen;      /* candidate files after ignore rules */
	uint64_t added;     /* new in the index */
	uint64_t updated;   /* content changed, re-chunked */
	uint64_t touched;   /* stat changed, content did not */
	uint64_t unchanged; /* stat unchanged, not read */
	uint64_t deleted;   /* gone from the tree or now skipped */
	uint64_t chunks;    /* chunks written this run */
	uint64_t bytes;     /* bytes read and chunked this run */
	uint64_t files;     /* files in the index after the run */
	uint64_t total_chunks;
	uint64_t embedded;  /* chunk vectors computed this run */
	uint64_t cached;    /* chunk vectors found in the vector cache */
	char model[96];     /* the embedder's model id, or "none" */
	char embedder[160]; /* for people: what embedded and where ("m.gguf: bert, ..., on CUDA: ..."), or "" */
	uint64_t skipped[IDX_SKIP__COUNT];
	int64_t generation;
	uint64_t took_ns;
};

/** The index directory of a repository: "<root>/.lode" (heap string). */
char *idx_dir(const char *root);
/** The database path: "<root>/.lode/index.db" (heap string). */
char *idx_db_path(const char *root);

/**
 * Index (or re-index) the repository at opts->root. Creates .lode/ and
 * adds it to .git/info/exclude in a git checkout. Equivalent to
 * idx_writer_open + idx_writer_sync + idx_writer_close.
 */
int idx_index(const struct idx_options *opts, struct idx_summary *sum, struct base_err *err);

/*
 * A writer session: the index of one repository held open for updates
 * (`lode watch`, `lode serve`). It holds the single-writer lock, the
 * database, the embedder and the vector index. One thread at a time.
 */
struct idx_writer;

/**
 * Open the index of opts->root for writing (creating it). BASE_E_BUSY
 * when another process holds the lock.
 */
struct idx_writer *idx_writer_open(const struct idx_options *opts, struct base_err *err);
/** Save the vectors if they changed, release the lock, free. NULL is a no-op. */
void idx_writer_close(struct idx_writer *w);
/** The repository root. */
const char *idx_writer_root(const struct idx_writer *w);
struct store_vectors;
/** The vectors the writer keeps (NULL for --model none), for readers of this process. */
struct store_vectors *idx_writer_vectors(struct idx_writer *w);
/**
 * Reconcile the whole tree with the index (walk, stat, hash): what
 * idx_index does, and what a watcher does at start and after it lost
 * events.
 */
int idx_writer_sync(struct idx_writer *w, struct idx_summary *sum, struct base_err *err);
/**
 * Re-examine only `paths` (relative to the root; files or directories;
 * existing or not): each file is indexed, updated or deleted as a sync
 * would; a directory is walked with the ignore rules of every directory
 * above it, and what the index holds under it but the walk did not find
 * is deleted. Each file's update is atomic; the generation is bumped when
 * anything changed.
 */
int idx_writer_update(struct idx_writer *w, const char *const *paths, size_t n, struct idx_summary *sum,
		      struct base_err *err);

/**
 * The commit the working tree is at (40 hex digits, heap string), or NULL
 * outside a git checkout.
 */
char *idx_git_head(const char *root);

#endif /* LODE_INDEXER_H */
