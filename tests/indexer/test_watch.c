/*
 * test_watch.c: the live index, with real inotify in temp directories.
 *
 * Every step changes the tree, then waits with idx_watch_sync (read-your-
 * writes), never with sleeps, and checks that the index holds exactly the
 * files a full walk finds, with their current content. The crash test
 * runs `lode watch` as a subprocess and kills it with SIGKILL mid-batch.
 */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "index_check.h"
#include "indexer/indexer.h"
#include "indexer/reader.h"
#include "indexer/walk.h"
#include "indexer/watch.h"
#include "store/store.h"

#include "base/banned.h"

#define SYNC_MS 20000

struct box {
	char dir[64];
	char repo[128];
	struct idx_writer *w;
	struct idx_watch *x;
	unsigned batches, rescans;
};

static void on_batch(void *payload, const struct idx_watch_batch *b)
{
	struct box *bx = payload;
	bx->batches++;
	bx->rescans += b->rescan;
}

static void sh(const char *fmt, ...) BASE_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (system(cmd) != 0)
		T_FAIL("command failed: %s", cmd);
}

static void put(const struct box *b, const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", b->repo, rel);
	FILE *f = fopen(path, "w");
	if (!f)
		T_FAIL("cannot write %s", path);
	fputs(text, f);
	fclose(f);
}

static void start(struct box *b, bool seed)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->dir, sizeof(b->dir), "/tmp/lode-watch-XXXXXX");
	T_TRUE(mkdtemp(b->dir) != NULL);
	snprintf(b->repo, sizeof(b->repo), "%s/repo", b->dir);
	T_EQ_INT(mkdir(b->repo, 0755), 0);
	char cache[128];
	snprintf(cache, sizeof(cache), "%s/cache", b->dir);
	setenv("XDG_CACHE_HOME", cache, 1);
	if (seed) {
		sh("mkdir -p %s/src %s/docs", b->repo, b->repo);
		put(b, "src/alpha.c", "int alpha_original_marker(void) { return 1; }\n");
		put(b, "src/beta.py", "def beta_function():\n    return 'beta'\n");
		put(b, "docs/guide.md", "# Guide\n\nHow to use gamma things.\n");
	}
	struct idx_options o = { .root = b->repo, .jobs = 2 };
	struct base_err err = { 0, "" };
	b->w = idx_writer_open(&o, &err);
	if (!b->w)
		T_FAIL("idx_writer_open: %s", err.msg);
	struct idx_summary s;
	T_OK(idx_writer_sync(b->w, &s, &err));
	struct idx_watch_options wo = { .on_batch = on_batch, .payload = b };
	b->x = idx_watch_start(b->w, &wo, &err);
	if (!b->x)
		T_FAIL("idx_watch_start: %s", err.msg);
}

static void wait_synced(struct box *b)
{
	struct base_err err = { 0, "" };
	if (idx_watch_sync(b->x, SYNC_MS, &err))
		T_FAIL("idx_watch_sync: %s", err.msg);
	T_EQ_INT(idx_watch_pending(b->x), 0);
}

static void finish(struct box *b)
{
	idx_watch_stop(b->x);
	idx_writer_close(b->w);
	check_consistent(b->repo); /* the FAISS file saved at close equals SQLite */
	sh("rm -rf '%s'", b->dir);
}

/* ---- the invariant: index == walk ----------------------------------------- */

struct names {
	BASE_VEC(char *) v;
};

static int collect_walk(void *payload, const struct idx_walk_entry *e)
{
	struct names *n = payload;
	base_vec_push(&n->v, base_strndup(e->path, e->path_len));
	return 0;
}

static int collect_store(void *payload, const struct store_file *f)
{
	struct names *n = payload;
	base_vec_push(&n->v, base_strdup(f->path));
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_release(struct names *n)
{
	for (size_t i = 0; i < n->v.n; i++)
		base_free(n->v.v[i]);
	base_vec_release(&n->v);
}

/* The index holds exactly the files the walk finds (these trees hold no skipped content). */
static void check_index_equals_tree(const struct box *b)
{
	struct names walked = { BASE_VEC_INIT }, indexed = { BASE_VEC_INIT };
	struct idx_walk_stats ws;
	struct base_err err = { 0, "" };
	T_OK(idx_walk(b->repo, NULL, collect_walk, &walked, &ws, &err));
	char db[256];
	snprintf(db, sizeof(db), "%s/.lode/index.db", b->repo);
	struct store *s = store_open(db, STORE_READ, &err);
	T_TRUE(s != NULL);
	T_OK(store_files_each(s, collect_store, &indexed, &err));
	store_close(s);
	if (walked.v.n)
		qsort(walked.v.v, walked.v.n, sizeof(char *), cmp_name);
	if (walked.v.n != indexed.v.n)
		T_FAIL("tree has %zu files, index %zu", walked.v.n, indexed.v.n);
	for (size_t i = 0; i < walked.v.n; i++)
		T_EQ_STR(indexed.v.v[i], walked.v.v[i]);
	names_release(&walked);
	names_release(&indexed);
}

static bool contains(const char *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return true;
	return false;
}

/* Number of hits whose text contains `word` (lexical search for it). */
static size_t hits_for(const struct box *b, const char *word, const char *want_path)
{
	struct base_err err = { 0, "" };
	struct idx_reader *r = idx_reader_open(b->repo, &err);
	T_TRUE(r != NULL);
	struct idx_query q = { .text = word, .k = 50, .mode = IDX_MODE_LEXICAL };
	struct store_hits h = STORE_HITS_INIT;
	T_OK(idx_search(r, &q, &h, NULL, &err));
	size_t n = 0;
	for (size_t i = 0; i < h.n; i++) {
		if (contains(h.v[i].text, h.v[i].text_len, word)) {
			n++;
			if (want_path)
				T_EQ_STR(h.v[i].path, want_path);
		}
	}
	store_hits_release(&h);
	idx_reader_close(r);
	return n;
}

/* ---- cases ------------------------------------------------------------------ */

static void edit_rename_delete(void)
{
	struct box b;
	start(&b, true);
	T_EQ_INT(hits_for(&b, "alpha_original_marker", "src/alpha.c"), 1);

	put(&b, "src/alpha.c", "int alpha_edited_marker(void) { return 2; }\n");
	wait_synced(&b);
	T_EQ_INT(hits_for(&b, "alpha_edited_marker", "src/alpha.c"), 1);
	T_EQ_INT(hits_for(&b, "alpha_original_marker", NULL), 0);

	sh("mv %s/src/beta.py %s/src/gamma.py", b.repo, b.repo);
	wait_synced(&b);
	T_EQ_INT(hits_for(&b, "beta_function", "src/gamma.py"), 1);
	check_index_equals_tree(&b);

	sh("rm %s/docs/guide.md", b.repo);
	wait_synced(&b);
	check_index_equals_tree(&b);

	/* a directory created and filled at once: the files written before
	 * its watch existed are found by walking it */
	sh("mkdir -p %s/new/deep/er && for i in 1 2 3 4 5; do echo \"int fresh_$i;\" > %s/new/deep/er/f$i.c; done",
	   b.repo, b.repo);
	wait_synced(&b);
	check_index_equals_tree(&b);
	T_EQ_INT(hits_for(&b, "fresh_3", "new/deep/er/f3.c"), 1);
	/* and files added later inside it are seen (it is watched) */
	put(&b, "new/deep/er/later.c", "int later_added_marker;\n");
	wait_synced(&b);
	T_EQ_INT(hits_for(&b, "later_added_marker", "new/deep/er/later.c"), 1);

	/* a directory moved out of the tree, one moved in, one removed */
	sh("mv %s/new %s/outside && mkdir -p %s/incoming && echo 'int moved_in_marker;' > %s/incoming/m.c && "
	   "mv %s/incoming %s/src/",
	   b.repo, b.dir, b.dir, b.dir, b.dir, b.repo);
	wait_synced(&b);
	check_index_equals_tree(&b);
	T_EQ_INT(hits_for(&b, "fresh_3", NULL), 0);
	T_EQ_INT(hits_for(&b, "moved_in_marker", "src/incoming/m.c"), 1);
	put(&b, "src/incoming/after.c", "int after_move_marker;\n");
	wait_synced(&b);
	T_EQ_INT(hits_for(&b, "after_move_marker", "src/incoming/after.c"), 1);
	sh("rm -rf %s/src", b.repo);
	wait_synced(&b);
	check_index_equals_tree(&b);
	put(&b, "final.c", "int final_marker;\n");
	wait_synced(&b);
	check_index_equals_tree(&b);
	T_TRUE(b.batches > 0);
	finish(&b);
}

/* Editors save by writing a temp file and renaming it over the original. */
static void atomic_save(void)
{
	struct box b;
	start(&b, true);
	for (int i = 0; i < 5; i++) {
		char text[128];
		snprintf(text, sizeof(text), "int alpha_version_%d(void) { return %d; }\n", i, i);
		put(&b, "src/.alpha.c.swp", "swap file noise");
		put(&b, "src/alpha.c.tmp", text);
		sh("mv %s/src/alpha.c.tmp %s/src/alpha.c && rm -f %s/src/.alpha.c.swp", b.repo, b.repo, b.repo);
		wait_synced(&b);
		char word[32];
		snprintf(word, sizeof(word), "alpha_version_%d", i);
		T_EQ_INT(hits_for(&b, word, "src/alpha.c"), 1);
		check_index_equals_tree(&b);
	}
	finish(&b);
}

/* A branch switch: thousands of files rewritten, deleted and added at once. */
static void branch_switch(void)
{
	struct box b;
	start(&b, false);
	sh("mkdir -p %s/pkg && cd %s/pkg && for i in $(seq 1 1500); do echo \"def old_branch_$i(): pass\" > m$i.py; done",
	   b.repo, b.repo);
	wait_synced(&b);
	check_index_equals_tree(&b);
	sh("cd %s/pkg && for i in $(seq 1 1000); do echo \"def new_branch_$i(): pass\" > m$i.py; done && "
	   "rm -f $(seq -f 'm%%g.py' 1001 1500) && for i in $(seq 2001 2500); do echo \"def added_$i(): pass\" > m$i.py; done",
	   b.repo);
	wait_synced(&b);
	check_index_equals_tree(&b);
	T_EQ_INT(hits_for(&b, "old_branch_7", NULL), 0);
	T_EQ_INT(hits_for(&b, "new_branch_7", "pkg/m7.py"), 1);
	T_EQ_INT(hits_for(&b, "added_2222", "pkg/m2222.py"), 1);
	finish(&b);
}

static void ignore_edits(void)
{
	struct box b;
	start(&b, true);
	sh("mkdir -p %s/build && echo 'int built_marker;' > %s/build/out.c && echo 'log_marker' > %s/run.log", b.repo,
	   b.repo, b.repo);
	wait_synced(&b);
	T_EQ_INT(hits_for(&b, "built_marker", "build/out.c"), 1);
	put(&b, ".gitignore", "build/\n*.log\n");
	wait_synced(&b);
	check_index_equals_tree(&b);
	T_EQ_INT(hits_for(&b, "built_marker", NULL), 0);
	T_EQ_INT(hits_for(&b, "log_marker", NULL), 0);
	/* an ignored directory is not watched: changes there stay out */
	put(&b, "build/more.c", "int more_ignored_marker;\n");
	wait_synced(&b);
	T_EQ_INT(hits_for(&b, "more_ignored_marker", NULL), 0);
	/* un-ignored: its files enter, and it is watched again */
	put(&b, ".gitignore", "*.log\n");
	wait_synced(&b);
	check_index_equals_tree(&b);
	T_EQ_INT(hits_for(&b, "more_ignored_marker", "build/more.c"), 1);
	put(&b, "build/third.c", "int third_marker;\n");
	wait_synced(&b);
	T_EQ_INT(hits_for(&b, "third_marker", "build/third.c"), 1);
	finish(&b);
}

/* A lost event queue: a full re-check that leaves the index complete. */
static void overflow_rescan(void)
{
	struct box b;
	start(&b, true);
	idx__watch_inject_overflow(b.x);
	sh("mkdir -p %s/lots && cd %s/lots && for i in $(seq 1 300); do echo \"int lot_$i;\" > f$i.c; done", b.repo,
	   b.repo);
	wait_synced(&b);
	check_index_equals_tree(&b);
	T_TRUE(b.rescans >= 1);
	T_EQ_INT(hits_for(&b, "lot_150", "lots/f150.c"), 1);
	finish(&b);
}

static void file_dir_swaps(void)
{
	struct box b;
	start(&b, true);
	sh("rm %s/src/alpha.c && mkdir %s/src/alpha.c && echo 'int inside_marker;' > %s/src/alpha.c/x.c", b.repo,
	   b.repo, b.repo);
	wait_synced(&b);
	check_index_equals_tree(&b);
	T_EQ_INT(hits_for(&b, "inside_marker", "src/alpha.c/x.c"), 1);
	sh("rm -rf %s/src/alpha.c && echo 'int file_again_marker;' > %s/src/alpha.c", b.repo, b.repo);
	wait_synced(&b);
	check_index_equals_tree(&b);
	T_EQ_INT(hits_for(&b, "file_again_marker", "src/alpha.c"), 1);
	/* symbolic links are not followed, even to a directory outside */
	sh("mkdir -p %s/elsewhere && echo 'int outside_marker;' > %s/elsewhere/o.c && ln -s %s/elsewhere %s/link",
	   b.dir, b.dir, b.dir, b.repo);
	wait_synced(&b);
	T_EQ_INT(hits_for(&b, "outside_marker", NULL), 0);
	/* permissions: an unreadable file is not indexed (unless we are root) */
	finish(&b);
}

/* A second writer is refused, naming the holder; the root vanishing stops the watcher. */
static void lock_and_root(void)
{
	struct box b;
	start(&b, true);
	struct idx_options o = { .root = b.repo };
	struct base_err err = { 0, "" };
	T_TRUE(idx_writer_open(&o, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_BUSY);
	char pid[32];
	snprintf(pid, sizeof(pid), "pid %ld", (long)getpid());
	T_TRUE(strstr(err.msg, pid) != NULL);
	/* readers are unaffected */
	T_EQ_INT(hits_for(&b, "beta_function", "src/beta.py"), 1);

	char moved[160];
	snprintf(moved, sizeof(moved), "%s/moved", b.dir);
	T_EQ_INT(rename(b.repo, moved), 0);
	T_EQ_INT(idx_watch_sync(b.x, SYNC_MS, &err), BASE_E_NOTFOUND);
	T_TRUE(strstr(err.msg, "deleted or moved") != NULL);
	idx_watch_stop(b.x);
	idx_writer_close(b.w);
	sh("rm -rf '%s'", b.dir);
}

/* Read-your-writes across processes (idx_wait_indexed, as `lode edit` uses
 * it beside a `lode watch`): a file the index leaves out is settled at once;
 * a new source file only once indexed, an edited one once re-indexed. */
static void wait_indexed(void)
{
	struct box b;
	memset(&b, 0, sizeof(b));
	snprintf(b.dir, sizeof(b.dir), "/tmp/lode-wait-XXXXXX");
	T_TRUE(mkdtemp(b.dir) != NULL);
	snprintf(b.repo, sizeof(b.repo), "%s/repo", b.dir);
	sh("mkdir -p %s/src && printf '*.log\\n' > %s/.gitignore", b.repo, b.repo);
	put(&b, "src/alpha.c", "int alpha(void) { return 1; }\n");
	struct idx_options o = { .root = b.repo };
	struct idx_summary s;
	struct base_err err = { 0, "" };
	T_OK(idx_index(&o, &s, &err));

	put(&b, "build.log", "ignored\n");
	sh("printf 'a\\000b' > %s/src/blob.c", b.repo);
	put(&b, "src/gen.c", "// Code generated by tool. DO NOT EDIT.\nint g;\n");
	sh("ln -s alpha.c %s/src/link.c", b.repo);
	const char *out[] = { "build.log", "src/blob.c", "src/gen.c", "src/link.c", "src/none.c", "src/alpha.c" };
	T_OK(idx_wait_indexed(b.repo, out, BASE_ARRAY_LEN(out), 0, &err));

	put(&b, "src/beta.c", "int beta(void) { return 2; }\n");
	const char *fresh[] = { "src/beta.c" };
	T_EQ_INT(idx_wait_indexed(b.repo, fresh, 1, 50, &err), BASE_E_INTERRUPTED);
	T_TRUE(strstr(err.msg, "src/beta.c was not indexed within 50 ms") != NULL);
	T_OK(idx_index(&o, &s, &err));
	T_OK(idx_wait_indexed(b.repo, fresh, 1, 0, &err));

	put(&b, "src/beta.c", "int beta(void) { return 3; } /* edited */\n");
	T_EQ_INT(idx_wait_indexed(b.repo, fresh, 1, 0, &err), BASE_E_INTERRUPTED);
	sh("rm -rf '%s'", b.dir);
}

/* `lode watch` killed with SIGKILL during a big batch; a restart makes the index complete. */
static void crash_restart(void)
{
	const char *bin = getenv("LODE_BIN");
	if (!bin)
		T_SKIP("LODE_BIN not set (run through ctest)");
	char dir[] = "/tmp/lode-watch-crash-XXXXXX";
	T_TRUE(mkdtemp(dir) != NULL);
	struct box b;
	memset(&b, 0, sizeof(b));
	snprintf(b.dir, sizeof(b.dir), "%s", dir);
	snprintf(b.repo, sizeof(b.repo), "%s/repo", dir);
	char cache[128];
	snprintf(cache, sizeof(cache), "%s/cache", dir);
	setenv("XDG_CACHE_HOME", cache, 1);
	sh("mkdir -p %s/src && echo 'int seed;' > %s/src/seed.c", b.repo, b.repo);
	char state[256];
	snprintf(state, sizeof(state), "%s/.lode/watch.json", b.repo);
	for (int round = 0; round < 2; round++) {
		fflush(NULL);
		pid_t pid = fork();
		T_TRUE(pid >= 0);
		if (pid == 0) {
			int devnull = open("/dev/null", O_WRONLY);
			dup2(devnull, 1);
			dup2(devnull, 2);
			execl(bin, bin, "watch", "--quiet", b.repo, (char *)NULL);
			_exit(127);
		}
		struct stat st;
		for (int i = 0; i < 3000 && stat(state, &st) != 0; i++)
			usleep(10000);
		T_EQ_INT(stat(state, &st), 0);
		if (round == 0) {
			/* a big batch, killed while it is being applied */
			sh("cd %s/src && for i in $(seq 1 2000); do echo \"int crash_$i(void) { return $i; }\" > c$i.c; done",
			   b.repo);
			usleep(30000);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			unlink(state);
		} else {
			/* the restart reconciled at start (watch.json appears after that) */
			kill(pid, SIGTERM);
			int status = 0;
			waitpid(pid, &status, 0);
			T_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		}
	}
	check_index_equals_tree(&b);
	check_consistent(b.repo);
	T_EQ_INT(hits_for(&b, "crash_1999", "src/c1999.c"), 1);
	sh("rm -rf '%s'", dir);
}

T_MAIN(T_ENTRY(edit_rename_delete), T_ENTRY(atomic_save), T_ENTRY(branch_switch), T_ENTRY(ignore_edits),
       T_ENTRY(overflow_rescan), T_ENTRY(file_dir_swaps), T_ENTRY(lock_and_root), T_ENTRY(wait_indexed),
       T_ENTRY(crash_restart))
