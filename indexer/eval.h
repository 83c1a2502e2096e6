/*
 * eval.h: a retrieval benchmark built from a repository's own history
 * (`lode eval`).
 *
 * Newest first, up to N commits are picked that touch 1-3 non-test source
 * files (all modified, none added or deleted; tests, docs, changelogs,
 * lock, generated and vendored files do not count) and carry a descriptive
 * message (subject + body, trailers removed, at least 6 words, not a
 * merge/bump/release/revert/typo commit). For each, the tree at the
 * commit's parent is checked out into ONE detached git worktree (reused
 * from commit to commit, so lode's incremental indexing does the work),
 * indexed with idx_index, and searched with the message (files=true) in
 * every requested mode. A plain file-level BM25 baseline runs in the same
 * pass: an in-memory SQLite FTS5 table (unicode61 tokenizer, bm25()) over
 * the whole contents of the files lode indexed, queried with the message's
 * words OR-ed together.
 *
 * Scoring: a case's rank is that of the first touched file in the results
 * (1-based; 0 when none is in the top IDX_EVAL_K). Acc@k is the share of
 * cases with 0 < rank <= k; MRR the mean of 1/rank (0 for a miss).
 *
 * Threading: one call at a time per repository (it owns the worktree);
 * idx_eval_run blocks, calling `progress` from the calling thread.
 * Errors: BASE_E_UNSUPPORTED when git is missing, BASE_E_NOTFOUND when
 * the directory is not a git repository or the history has no usable
 * commit (err says which), BASE_E_IO when the worktree cannot be made,
 * plus those of idx_index and the store.
 */
#ifndef LODE_INDEXER_EVAL_H
#define LODE_INDEXER_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "indexer/reader.h"

#define IDX_EVAL_K 100            /* results fetched per query */
#define IDX_EVAL_DEFAULT_COMMITS 50
#define IDX_EVAL_MAX_SYSTEMS 12   /* the modes, then the baseline */

/** Progress: one line of text (no newline), from the calling thread. */
typedef void idx_eval_progress_fn(void *payload, const char *line);

struct idx_eval_options {
	const char *repo;             /* a git repository (work tree or bare) */
	unsigned commits;             /* cases wanted; 0: IDX_EVAL_DEFAULT_COMMITS */
	unsigned scan;                /* commits looked at at most; 0: 50 per case wanted, >= 2000 */
	const enum idx_mode *modes;   /* lode's modes to score; none: lexical */
	size_t nmodes;                /* at most IDX_EVAL_MAX_SYSTEMS - 1 */
	const unsigned *off;          /* per mode: enum idx_feature bits switched off (NULL: none) */
	const char *const *names;     /* per mode: its name in the results (NULL: the mode's name);
					 must outlive the result */
	bool keep;                    /* keep the worktree (its path is in the result) */
	unsigned jobs;                /* idx_index's worker threads; 0: one per core */
	idx_eval_progress_fn *progress;
	void *progress_payload;
};

enum idx_eval_path_class {
	IDX_EVAL_SOURCE = 0, /* counts: code with a grammar, not a test */
	IDX_EVAL_TEST,
	IDX_EVAL_DOC,        /* docs/, examples/ */
	IDX_EVAL_VENDORED,   /* vendor/, third_party/, node_modules/ ... */
	IDX_EVAL_GENERATED,  /* *.pb.go, *_pb2.py, *.min.js ... */
	IDX_EVAL_OTHER,      /* not code: changelogs, lock files, data, config */
};

/** How the selection rules see a repository path. */
enum idx_eval_path_class idx_eval_classify(const char *path);

/**
 * The message as a query: trailers (Signed-off-by:, Co-authored-by:,
 * Change-Id: ...) and "(cherry picked from ...)" lines removed, lines
 * joined by spaces. NULL when the message is not descriptive (fewer than
 * 6 words, or a merge/bump/release/revert/typo/wip/version commit).
 * Heap string.
 */
char *idx_eval_message(const char *msg, size_t len);

struct idx_eval_score {
	size_t n;
	double acc1, acc5, acc10, mrr;
};

/** Score ranks (1-based; 0: not found). */
void idx_eval_score(const int *ranks, size_t n, struct idx_eval_score *out);

struct idx_eval_case {
	char commit[41], parent[41];
	char *query;    /* the message as searched (heap) */
	char **files;   /* the touched source files (heap strings) */
	size_t nfiles;
	int ranks[IDX_EVAL_MAX_SYSTEMS]; /* per system; 0: not in the top IDX_EVAL_K */
	double index_ms;                 /* incremental index of this parent */
};

struct idx_eval_result {
	struct idx_eval_case *cases;
	size_t ncases;
	size_t nsystems;                           /* nmodes + 1 (the baseline, last) */
	const char *systems[IDX_EVAL_MAX_SYSTEMS]; /* "lexical", ..., "bm25" (static or opts.names) */
	enum idx_mode used[IDX_EVAL_MAX_SYSTEMS];  /* the mode lode answered with */
	struct idx_eval_score scores[IDX_EVAL_MAX_SYSTEMS];
	size_t scanned;      /* commits looked at */
	size_t not_indexed;  /* picked commits dropped: no touched file was indexed */
	char *worktree;      /* kept worktree (opts.keep), else NULL */
	double took_ms;
};

#define IDX_EVAL_RESULT_INIT { 0 }

/**
 * Run the benchmark. On success `out` owns the cases until
 * idx_eval_result_release; on failure it is left empty.
 */
int idx_eval_run(const struct idx_eval_options *opts, struct idx_eval_result *out, struct base_err *err);

void idx_eval_result_release(struct idx_eval_result *r);

#endif /* LODE_INDEXER_EVAL_H */
