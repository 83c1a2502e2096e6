/*
 * watch.h: the live index. A watcher keeps a writer session's index equal
 * to the tree as it changes: inotify on every directory that is not
 * ignored (new ones included), events coalesced into batches applied
 * with idx_writer_update.
 *
 * Lifecycle: idx_writer_open, idx_writer_sync (reconcile what changed
 * while nothing watched), idx_watch_start, ..., idx_watch_stop,
 * idx_writer_close. Between start and stop the writer belongs to the
 * watcher's thread.
 *
 * Never silently stale: a lost event queue (IN_Q_OVERFLOW) triggers a full
 * reconcile with a warning; when the inotify watch limit
 * (fs.inotify.max_user_watches) is reached the watcher says so and falls
 * back to a full reconcile every few seconds; a deleted or moved root stops
 * it with an error (idx_watch_error).
 */
#ifndef LODE_INDEXER_WATCH_H
#define LODE_INDEXER_WATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "indexer/indexer.h"

struct idx_watch;

/** What one applied batch did. */
struct idx_watch_batch {
	size_t paths;        /* distinct paths re-examined (0 for a rescan) */
	bool rescan;         /* a full reconcile (overflow, watch limit) */
	double latency_ms;   /* from the batch's first event to its commit */
	struct idx_summary sum;
};

typedef void idx_watch_fn(void *payload, const struct idx_watch_batch *b);

struct idx_watch_options {
	unsigned debounce_ms;  /* quiet time that closes a batch; 0: 10 */
	unsigned max_delay_ms; /* longest a change waits; 0: 200 */
	idx_watch_fn *on_batch; /* called on the watcher's thread; may be NULL */
	void *payload;
};

struct idx_watch_stats {
	uint64_t events;   /* inotify events read */
	uint64_t batches;  /* updates applied */
	uint64_t rescans;  /* full reconciles */
	uint64_t watches;  /* directories watched */
	uint64_t pending;  /* paths seen changing, not yet applied */
	double lag_ms;     /* age of the oldest pending change; 0 when none */
	bool degraded;     /* watch limit reached: periodic rescans */
};

/** Watch the writer's tree; starts a thread. */
struct idx_watch *idx_watch_start(struct idx_writer *w, const struct idx_watch_options *o, struct base_err *err);
/** Stop the thread (the batch in flight finishes) and free. NULL is a no-op. */
void idx_watch_stop(struct idx_watch *x);

/**
 * Read-your-writes: return once every change made to the tree before the
 * call is applied (searches see it). BASE_E_INTERRUPTED after timeout_ms,
 * or the watcher's error when it stopped.
 */
int idx_watch_sync(struct idx_watch *x, unsigned timeout_ms, struct base_err *err);

/** Paths seen changing and not yet applied (the freshness contract's "pending"). */
uint64_t idx_watch_pending(struct idx_watch *x);
struct idx_watch_stats idx_watch_stats(struct idx_watch *x);
/** BASE_OK while watching; the error that stopped the watcher otherwise. */
int idx_watch_error(struct idx_watch *x, struct base_err *err);

/** For tests: act as if the kernel's event queue overflowed. */
void idx__watch_inject_overflow(struct idx_watch *x);

/**
 * Read-your-writes across processes (a `lode watch` runs elsewhere):
 * poll the index until each path's indexed state matches the disk (same
 * size, mtime and inode; or absent from both; or, for a file the index
 * does not hold, one that indexing with the default options leaves out:
 * ignored, a symbolic link, too large, binary, minified, generated), or
 * timeout_ms passes (BASE_E_INTERRUPTED). Paths are relative to `root`.
 */
int idx_wait_indexed(const char *root, const char *const *paths, size_t n, unsigned timeout_ms,
		     struct base_err *err);

#endif /* LODE_INDEXER_WATCH_H */
