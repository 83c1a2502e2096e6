/*
 * watch.c: the live index (watch.h).
 *
 * One thread owns the inotify descriptor and the writer. It reads events,
 * turns each into a path relative to the root, and collects distinct paths
 * in a pending set. A batch closes when no event came for debounce_ms or
 * max_delay_ms after its first event; it is applied with one
 * idx_writer_update, whose transactions keep every file's update atomic.
 *
 *   new directory     watched at once (and its subdirectories), and
 *                     walked as part of the batch: files created before
 *                     the watch existed are not missed
 *   directory moved   its watches are dropped; the moved-to side is
 *   out / deleted     watched anew when inside the tree
 *   ignore file       its directory is re-examined (newly ignored files
 *   changed           leave, un-ignored ones enter) and re-watched
 *
 * A control pipe wakes the thread for stop, sync requests (read-your-
 * writes: drain the queue, apply now) and the tests' overflow injection.
 */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "indexer/ignore.h"
#include "indexer/walk.h"
#include "indexer/watch.h"
#include "store/store.h"

#include "base/banned.h"

#define WATCH_MASK                                                                                       \
	(IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |  \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

/* With the watch limit reached, reconcile the whole tree this often. */
#define DEGRADED_RESCAN_MS 5000

/* ---- a set of paths ------------------------------------------------------ */

struct pathset {
	char **slot; /* NULL: empty */
	size_t cap, n;
};

static void pathset_add(struct pathset *s, const char *p)
{
	if ((s->n + 1) * 2 > s->cap) {
		struct pathset old = *s;
		s->cap = old.cap ? old.cap * 2 : 64;
		s->slot = base_calloc(s->cap, sizeof(*s->slot));
		s->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.slot[i])
				pathset_add(s, old.slot[i]), base_free(old.slot[i]);
		base_free(old.slot);
	}
	size_t i = XXH3_64bits(p, strlen(p)) & (s->cap - 1);
	while (s->slot[i]) {
		if (strcmp(s->slot[i], p) == 0)
			return;
		i = (i + 1) & (s->cap - 1);
	}
	s->slot[i] = base_strdup(p);
	s->n++;
}

/* Move the paths out (heap array of heap strings); the set is empty after. */
static char **pathset_take(struct pathset *s, size_t *n)
{
	char **out = base_malloc((s->n ? s->n : 1) * sizeof(*out));
	*n = 0;
	for (size_t i = 0; i < s->cap; i++) {
		if (s->slot[i]) {
			out[(*n)++] = s->slot[i];
			s->slot[i] = NULL;
		}
	}
	s->n = 0;
	return out;
}

static void pathset_release(struct pathset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		base_free(s->slot[i]);
	base_free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* ---- the watcher ---------------------------------------------------------- */

struct idx_watch {
	struct idx_writer *w;
	struct idx_watch_options opts;
	char *root;
	int ifd;
	int ctl[2]; /* control pipe: 'q' stop, 's' sync, 'o' overflow */
	pthread_t thread;
	struct idx_ignore *ig;

	/* wd -> directory path relative to the root ("" for the root) */
	char **dirs;
	size_t ndirs;
	int root_wd;
	bool degraded;
	uint64_t next_rescan_ns;

	struct pathset pending;
	struct pathset ignore_dirs; /* directories whose ignore file changed */
	uint64_t first_ns, last_ns;  /* of the pending batch */
	bool overflow;

	pthread_mutex_t mu;          /* guards what follows */
	pthread_cond_t cond;
	uint64_t sync_want, sync_done;
	uint64_t npending;           /* pending.n, plus the batch being applied */
	uint64_t oldest_ns;          /* first event of what is pending */
	struct idx_watch_stats stats;
	int error;
	char errmsg[BASE_ERR_MSG];
};

static void set_error(struct idx_watch *x, int code, const char *msg)
{
	pthread_mutex_lock(&x->mu);
	if (!x->error) {
		x->error = code;
		snprintf(x->errmsg, sizeof(x->errmsg), "%s", msg);
	}
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->mu);
}

static void publish_pending(struct idx_watch *x, size_t in_flight)
{
	pthread_mutex_lock(&x->mu);
	x->npending = x->pending.n + in_flight;
	x->oldest_ns = x->npending ? x->first_ns : 0;
	pthread_mutex_unlock(&x->mu);
}

static bool is_internal(const char *name)
{
	return strcmp(name, ".git") == 0 || strcmp(name, ".lode") == 0;
}

static void dir_set(struct idx_watch *x, int wd, const char *rel)
{
	if ((size_t)wd >= x->ndirs) {
		size_t n = x->ndirs ? x->ndirs : 64;
		while (n <= (size_t)wd)
			n *= 2;
		x->dirs = base_realloc(x->dirs, n * sizeof(*x->dirs));
		memset(x->dirs + x->ndirs, 0, (n - x->ndirs) * sizeof(*x->dirs));
		x->ndirs = n;
	}
	if (!x->dirs[wd])
		x->stats.watches++;
	base_free(x->dirs[wd]);
	x->dirs[wd] = base_strdup(rel);
}

static void dir_forget(struct idx_watch *x, int wd)
{
	if (wd >= 0 && (size_t)wd < x->ndirs && x->dirs[wd]) {
		base_free(x->dirs[wd]);
		x->dirs[wd] = NULL;
		x->stats.watches--;
	}
}

static char *join(const char *dir, const char *name)
{
	return *dir ? base_strfmt("%s/%s", dir, name) : base_strdup(name);
}

static void watch_limit(struct idx_watch *x)
{
	if (x->degraded)
		return;
	x->degraded = true;
	char limit[32] = "?";
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "r");
	if (f) {
		if (!fgets(limit, sizeof(limit), f))
			limit[0] = '\0';
		limit[strcspn(limit, "\n")] = '\0';
		fclose(f);
	}
	BASE_LOG(BASE_LOG_WARN,
		 "the inotify watch limit is reached (fs.inotify.max_user_watches = %s): not every directory of %s"
		 " is watched, so the whole tree is re-checked every %d s; raise the limit with"
		 " `sysctl fs.inotify.max_user_watches=524288`",
		 limit, x->root, DEGRADED_RESCAN_MS / 1000);
}

/* Watch directory `rel` and, unless ignored, every directory below it. */
static void watch_tree(struct idx_watch *x, const char *rel, int depth)
{
	if (depth > 256 || x->degraded)
		return;
	char *abs = *rel ? base_strfmt("%s/%s", x->root, rel) : base_strdup(x->root);
	int wd = inotify_add_watch(x->ifd, abs, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOSPC)
			watch_limit(x);
		base_free(abs);
		return; /* gone or unreadable: its parent's events tell */
	}
	dir_set(x, wd, rel);
	if (!*rel)
		x->root_wd = wd;
	DIR *d = opendir(abs);
	base_free(abs);
	if (!d)
		return;
	BASE_VEC(char *) subdirs = BASE_VEC_INIT;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || is_internal(e->d_name))
			continue;
		bool dir = e->d_type == DT_DIR;
		if (e->d_type == DT_UNKNOWN) {
			struct stat st;
			dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		}
		if (!dir)
			continue;
		char *child = join(rel, e->d_name);
		if (idx_ignore_check(x->ig, child, strlen(child), true))
			base_free(child);
		else
			base_vec_push(&subdirs, child);
	}
	closedir(d);
	for (size_t i = 0; i < subdirs.n; i++) {
		watch_tree(x, subdirs.v[i], depth + 1);
		base_free(subdirs.v[i]);
	}
	base_vec_release(&subdirs);
}

/* Drop the watches of directory `rel` and everything below it. */
static void unwatch_tree(struct idx_watch *x, const char *rel)
{
	size_t n = strlen(rel);
	for (size_t wd = 0; wd < x->ndirs; wd++) {
		const char *d = x->dirs[wd];
		if (!d || (int)wd == x->root_wd)
			continue;
		if (strcmp(d, rel) == 0 || (strncmp(d, rel, n) == 0 && d[n] == '/')) {
			inotify_rm_watch(x->ifd, (int)wd);
			dir_forget(x, (int)wd);
		}
	}
}

static void note_change(struct idx_watch *x, const char *rel)
{
	uint64_t now = base_now_ns();
	if (!x->pending.n)
		x->first_ns = now;
	x->last_ns = now;
	pathset_add(&x->pending, rel);
}

static void handle_event(struct idx_watch *x, const struct inotify_event *ev)
{
	x->stats.events++;
	if (ev->mask & IN_Q_OVERFLOW) {
		x->overflow = true;
		return;
	}
	if (ev->wd == x->root_wd && (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED))) {
		char msg[BASE_ERR_MSG];
		snprintf(msg, sizeof(msg), "the repository %s was deleted or moved; stopped watching it", x->root);
		set_error(x, BASE_E_NOTFOUND, msg);
		return;
	}
	if (ev->wd < 0 || (size_t)ev->wd >= x->ndirs || !x->dirs[ev->wd])
		return;
	if (ev->mask & IN_IGNORED) {
		dir_forget(x, ev->wd);
		return;
	}
	if (!ev->len || (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)))
		return; /* the parent's event names the directory */
	if (is_internal(ev->name))
		return;
	char *rel = join(x->dirs[ev->wd], ev->name);
	if (ev->mask & IN_ISDIR) {
		if (ev->mask & (IN_MOVED_FROM | IN_DELETE))
			unwatch_tree(x, rel);
		if ((ev->mask & (IN_CREATE | IN_MOVED_TO)) && !idx_ignore_check(x->ig, rel, strlen(rel), true))
			watch_tree(x, rel, 1);
	}
	if (strcmp(ev->name, ".gitignore") == 0 || strcmp(ev->name, ".lodeignore") == 0) {
		/* re-examine the directory it governs */
		pathset_add(&x->ignore_dirs, x->dirs[ev->wd]);
		note_change(x, *x->dirs[ev->wd] ? x->dirs[ev->wd] : ".");
	}
	note_change(x, rel);
	base_free(rel);
}

/* Read every queued event. */
static void drain(struct idx_watch *x)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	for (;;) {
		ssize_t n = read(x->ifd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			handle_event(x, ev);
			p += sizeof(*ev) + ev->len;
		}
	}
	publish_pending(x, 0);
}

static void report(struct idx_watch *x, size_t paths, bool rescan, uint64_t first_ns, const struct idx_summary *sum)
{
	struct idx_watch_batch b = { paths, rescan, (double)(base_now_ns() - first_ns) / 1e6, *sum };
	pthread_mutex_lock(&x->mu);
	x->stats.batches++;
	x->stats.rescans += rescan;
	pthread_mutex_unlock(&x->mu);
	if (x->opts.on_batch)
		x->opts.on_batch(x->opts.payload, &b);
}

/* The whole tree: after an overflow, or periodically without enough watches. */
static void rescan(struct idx_watch *x, const char *why)
{
	if (why)
		BASE_LOG(BASE_LOG_WARN, "%s: re-checking the whole tree of %s", why, x->root);
	uint64_t t0 = base_now_ns();
	idx_ignore_reset(x->ig);
	watch_tree(x, "", 0);
	size_t n;
	char **paths = pathset_take(&x->pending, &n);
	for (size_t i = 0; i < n; i++)
		base_free(paths[i]);
	base_free(paths);
	pathset_release(&x->ignore_dirs);
	publish_pending(x, 1);
	struct idx_summary sum;
	struct base_err err;
	if (idx_writer_sync(x->w, &sum, &err))
		BASE_LOG(BASE_LOG_ERROR, "re-checking %s failed: %s", x->root, err.msg);
	else
		report(x, 0, true, t0, &sum);
	publish_pending(x, 0);
	x->overflow = false;
	x->next_rescan_ns = base_now_ns() + (uint64_t)DEGRADED_RESCAN_MS * 1000000;
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void apply(struct idx_watch *x)
{
	if (!x->pending.n)
		return;
	uint64_t first = x->first_ns;
	size_t n;
	char **paths = pathset_take(&x->pending, &n);
	publish_pending(x, n);
	for (size_t i = 0; i < n; i++)
		if (strcmp(paths[i], ".") == 0)
			paths[i][0] = '\0'; /* the root: a whole-tree re-check */
	qsort(paths, n, sizeof(*paths), cmp_cstr);
	bool whole = n && paths[0][0] == '\0';
	if (x->ignore_dirs.n)
		idx_ignore_reset(x->ig);
	struct idx_summary sum;
	struct base_err err;
	int rc = whole ? idx_writer_sync(x->w, &sum, &err)
		       : idx_writer_update(x->w, (const char *const *)paths, n, &sum, &err);
	if (rc)
		BASE_LOG(BASE_LOG_ERROR, "updating the index of %s failed: %s", x->root, err.msg);
	/* directories un-ignored by an ignore file edit need watches */
	size_t nd;
	char **dirs = pathset_take(&x->ignore_dirs, &nd);
	for (size_t i = 0; i < nd; i++) {
		watch_tree(x, dirs[i], 1);
		base_free(dirs[i]);
	}
	base_free(dirs);
	if (!rc)
		report(x, n, whole, first, &sum);
	for (size_t i = 0; i < n; i++)
		base_free(paths[i]);
	base_free(paths);
	publish_pending(x, 0);
}

static uint64_t deadline(const struct idx_watch *x)
{
	uint64_t quiet = x->last_ns + (uint64_t)x->opts.debounce_ms * 1000000;
	uint64_t cap = x->first_ns + (uint64_t)x->opts.max_delay_ms * 1000000;
	return quiet < cap ? quiet : cap;
}

static void *loop(void *arg)
{
	struct idx_watch *x = arg;
	for (;;) {
		int timeout = -1;
		uint64_t now = base_now_ns();
		if (x->pending.n) {
			uint64_t d = deadline(x);
			timeout = d > now ? (int)((d - now) / 1000000) + 1 : 0;
		}
		if (x->degraded) {
			int t = x->next_rescan_ns > now ? (int)((x->next_rescan_ns - now) / 1000000) + 1 : 0;
			timeout = timeout < 0 || t < timeout ? t : timeout;
		}
		struct pollfd pfd[2] = { { x->ifd, POLLIN, 0 }, { x->ctl[0], POLLIN, 0 } };
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		bool quit = false, sync = false;
		if (pfd[1].revents & POLLIN) {
			char cmd[64];
			ssize_t n = read(x->ctl[0], cmd, sizeof(cmd));
			for (ssize_t i = 0; i < n; i++) {
				quit |= cmd[i] == 'q';
				sync |= cmd[i] == 's';
				x->overflow |= cmd[i] == 'o';
			}
		}
		if (quit)
			break;
		uint64_t target = 0;
		if (sync) {
			pthread_mutex_lock(&x->mu);
			target = x->sync_want;
			pthread_mutex_unlock(&x->mu);
		}
		drain(x);
		pthread_mutex_lock(&x->mu);
		bool failed = x->error != 0;
		pthread_mutex_unlock(&x->mu);
		if (failed)
			break;
		if (x->overflow)
			rescan(x, "the inotify event queue overflowed");
		else if (x->degraded && base_now_ns() >= x->next_rescan_ns)
			rescan(x, NULL);
		if (sync || (x->pending.n && base_now_ns() >= deadline(x)))
			apply(x);
		if (sync) {
			pthread_mutex_lock(&x->mu);
			if (x->sync_done < target)
				x->sync_done = target;
			pthread_cond_broadcast(&x->cond);
			pthread_mutex_unlock(&x->mu);
		}
	}
	pthread_mutex_lock(&x->mu);
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->mu);
	return NULL;
}

struct idx_watch *idx_watch_start(struct idx_writer *w, const struct idx_watch_options *o, struct base_err *err)
{
	struct idx_watch *x = base_calloc(1, sizeof(*x));
	x->w = w;
	if (o)
		x->opts = *o;
	if (!x->opts.debounce_ms)
		x->opts.debounce_ms = 10;
	if (!x->opts.max_delay_ms)
		x->opts.max_delay_ms = 200;
	x->root = base_strdup(idx_writer_root(w));
	x->root_wd = -1;
	x->ctl[0] = x->ctl[1] = -1;
	pthread_mutex_init(&x->mu, NULL);
	pthread_cond_init(&x->cond, NULL);
	x->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (x->ifd < 0 || pipe(x->ctl) != 0) {
		base_err_errno(err, BASE_E_IO, errno, "cannot watch %s", x->root);
		goto fail;
	}
	fcntl(x->ctl[0], F_SETFL, O_NONBLOCK);
	x->ig = idx_ignore_new(x->root, err);
	if (!x->ig)
		goto fail;
	watch_tree(x, "", 0);
	if (x->root_wd < 0) {
		base_err_errno(err, BASE_E_IO, errno, "cannot watch %s", x->root);
		goto fail;
	}
	if (pthread_create(&x->thread, NULL, loop, x) != 0) {
		base_err_set(err, BASE_E_NOMEM, "cannot start the watcher thread");
		goto fail;
	}
	return x;
fail:
	x->thread = 0;
	idx_ignore_free(x->ig);
	x->ig = NULL;
	if (x->ifd >= 0)
		close(x->ifd);
	x->ifd = -1;
	idx_watch_stop(x);
	return NULL;
}

static void ctl(struct idx_watch *x, char c)
{
	if (write(x->ctl[1], &c, 1) != 1)
		BASE_LOG(BASE_LOG_DEBUG, "watcher control pipe full");
}

void idx_watch_stop(struct idx_watch *x)
{
	if (!x)
		return;
	if (x->thread) {
		ctl(x, 'q');
		pthread_join(x->thread, NULL);
	}
	if (x->ifd >= 0)
		close(x->ifd);
	for (int i = 0; i < 2; i++)
		if (x->ctl[i] >= 0)
			close(x->ctl[i]);
	for (size_t i = 0; i < x->ndirs; i++)
		base_free(x->dirs[i]);
	base_free(x->dirs);
	pathset_release(&x->pending);
	pathset_release(&x->ignore_dirs);
	idx_ignore_free(x->ig);
	pthread_mutex_destroy(&x->mu);
	pthread_cond_destroy(&x->cond);
	base_free(x->root);
	base_free(x);
}

int idx_watch_sync(struct idx_watch *x, unsigned timeout_ms, struct base_err *err)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&x->mu);
	uint64_t want = ++x->sync_want;
	ctl(x, 's');
	int rc = BASE_OK;
	while (x->sync_done < want && !x->error && rc == BASE_OK)
		if (pthread_cond_timedwait(&x->cond, &x->mu, &until) == ETIMEDOUT)
			rc = base_err_set(err, BASE_E_INTERRUPTED, "the index of %s did not catch up within %u ms",
					  x->root, timeout_ms);
	if (!rc && x->error)
		rc = base_err_set(err, x->error, "%s", x->errmsg);
	pthread_mutex_unlock(&x->mu);
	return rc;
}

uint64_t idx_watch_pending(struct idx_watch *x)
{
	pthread_mutex_lock(&x->mu);
	uint64_t n = x->npending;
	pthread_mutex_unlock(&x->mu);
	return n;
}

struct idx_watch_stats idx_watch_stats(struct idx_watch *x)
{
	pthread_mutex_lock(&x->mu);
	struct idx_watch_stats s = x->stats;
	s.pending = x->npending;
	s.lag_ms = x->oldest_ns ? (double)(base_now_ns() - x->oldest_ns) / 1e6 : 0;
	s.degraded = x->degraded;
	pthread_mutex_unlock(&x->mu);
	return s;
}

int idx_watch_error(struct idx_watch *x, struct base_err *err)
{
	pthread_mutex_lock(&x->mu);
	int rc = x->error ? base_err_set(err, x->error, "%s", x->errmsg) : BASE_OK;
	pthread_mutex_unlock(&x->mu);
	return rc;
}

void idx__watch_inject_overflow(struct idx_watch *x)
{
	ctl(x, 'o');
}

/* ---- read-your-writes across processes ------------------------------------ */

static int passed(void *payload, const struct idx_walk_entry *e)
{
	(void)e;
	*(bool *)payload = true;
	return 0;
}

/* Would an index with the default options leave the file out: ignored, a
 * symbolic link, too large, binary, minified or generated? */
static bool left_out(const char *root, const char *path, const char *abs)
{
	bool walked = false;
	struct idx_walk_stats ws;
	if (idx_walk_paths(root, &path, 1, NULL, passed, &walked, &ws, NULL) != BASE_OK || !walked)
		return true;
	struct base_buf b;
	base_buf_init(&b, IDX_DEFAULT_MAX_FILE_SIZE + 1);
	bool out = base_buf_read_file(&b, abs, NULL) != BASE_OK || idx_content_skip(path, b.data, b.len) >= 0;
	base_buf_release(&b);
	return out;
}

/* Is the index's state of `path` its state on disk? A file on disk that
 * the index does not hold is settled when indexing would leave it out. */
static bool settled(struct store *s, const char *root, const char *path)
{
	char *abs = base_strfmt("%s/%s", root, path);
	struct stat st;
	bool on_disk = lstat(abs, &st) == 0 && S_ISREG(st.st_mode);
	struct store_file f;
	bool indexed = store_file_get(s, path, &f, NULL) == BASE_OK;
	bool ok;
	if (!indexed)
		ok = !on_disk || left_out(root, path, abs);
	else
		ok = on_disk && f.size == (uint64_t)st.st_size && f.ino == (uint64_t)st.st_ino &&
		     f.mtime_ns == (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (indexed) {
		base_free((char *)f.path);
		base_free((char *)f.lang);
	}
	base_free(abs);
	return ok;
}

int idx_wait_indexed(const char *root, const char *const *paths, size_t n, unsigned timeout_ms,
		     struct base_err *err)
{
	char *db = idx_db_path(root);
	struct store *s = store_open(db, STORE_READ, err);
	base_free(db);
	if (!s)
		return err ? err->code : BASE_E_IO;
	uint64_t until = base_now_ns() + (uint64_t)timeout_ms * 1000000;
	size_t i = 0;
	int rc = BASE_OK;
	while (i < n) {
		if (settled(s, root, paths[i])) {
			i++;
			continue;
		}
		if (base_now_ns() >= until) {
			rc = base_err_set(err, BASE_E_INTERRUPTED, "%s was not indexed within %u ms", paths[i], timeout_ms);
			break;
		}
		struct timespec ts = { 0, 5 * 1000000 };
		nanosleep(&ts, NULL);
	}
	store_close(s);
	return rc;
}
