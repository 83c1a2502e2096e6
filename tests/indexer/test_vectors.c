/*
 * test_vectors.c: dense vectors in the index pipeline.
 *
 *   - after every index run (edit, rename, delete) the saved FAISS index
 *     holds exactly SQLite's chunk ids;
 *   - a crash between the SQLite commit and the FAISS save (the on-disk
 *     state is reproduced exactly: the new commit with the old vectors
 *     file) never makes search return deleted chunks or miss new ones,
 *     and the next writer reconciles to exact equality;
 *   - the vector cache means a chunk content is embedded once: counted
 *     through the index summary across edits, renames, branch switches
 *     and a second worktree;
 *   - dense and hybrid search answer, and say which mode ran.
 *
 * Every case has its own XDG_CACHE_HOME (the vector cache) in its temp dir.
 */
#include "test.h"

#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "indexer/indexer.h"
#include "indexer/reader.h"
#include "store/store.h"
#include "store/vindex.h"

#include "index_check.h"

#include "repo_box.h"

#include "base/banned.h"

static void box_init(struct box *b)
{
	box_init_at(b, "/tmp/lode-vec-XXXXXX");
}

static void index_repo(const char *repo, struct idx_summary *sum)
{
	/* small chunks: one per function, so edits touch one chunk */
	struct idx_options o = { .root = repo, .jobs = 2, .max_chunk = 80 };
	struct base_err err = { 0, "" };
	if (idx_index(&o, sum, &err))
		T_FAIL("idx_index: %s", err.msg);
}

static const char http_c[] =
	"/* http.c: a tiny HTTP request parser. */\n"
	"#include <string.h>\n\n"
	"int parse_request_line(const char *line, char *method, char *target)\n"
	"{\n\treturn sscanf(line, \"%s %s\", method, target) == 2 ? 0 : -1;\n}\n\n"
	"int parse_header_field(const char *line, char *name, char *value)\n"
	"{\n\tconst char *colon = strchr(line, ':');\n\tif (!colon)\n\t\treturn -1;\n"
	"\tmemcpy(name, line, (size_t)(colon - line));\n\tstrcpy(value, colon + 1);\n\treturn 0;\n}\n";

static const char cache_py[] =
	"class LruCache:\n"
	"    \"\"\"A least-recently-used cache with a fixed capacity.\"\"\"\n\n"
	"    def __init__(self, capacity):\n        self.capacity = capacity\n        self.items = {}\n\n"
	"    def get(self, key):\n        value = self.items.pop(key)\n        self.items[key] = value\n"
	"        return value\n\n"
	"    def evict_oldest(self):\n        oldest = next(iter(self.items))\n        del self.items[oldest]\n";

static const char geometry_rs[] =
	"pub struct Point { pub x: f64, pub y: f64 }\n\n"
	"pub fn distance(a: &Point, b: &Point) -> f64 {\n    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()\n}\n\n"
	"pub fn centroid(points: &[Point]) -> Point {\n    let n = points.len() as f64;\n"
	"    Point { x: points.iter().map(|p| p.x).sum::<f64>() / n, y: points.iter().map(|p| p.y).sum::<f64>() / n }\n}\n";

static void seed_repo(const char *repo)
{
	put(repo, "src/http.c", http_c);
	put(repo, "lib/cache.py", cache_py);
	put(repo, "geo/geometry.rs", geometry_rs);
	put(repo, "README.md", "# demo\n\nA demo repository: an HTTP parser, an LRU cache and geometry.\n");
}

static size_t search_paths(const char *repo, enum idx_mode mode, const char *q, bool files, char paths[][64],
			   size_t max, enum idx_mode *used)
{
	struct base_err err = { 0, "" };
	struct idx_reader *r = idx_reader_open(repo, &err);
	if (!r)
		T_FAIL("idx_reader_open: %s", err.msg);
	struct idx_query iq = { .text = q, .k = max, .mode = mode, .files = files };
	struct store_hits h = STORE_HITS_INIT;
	struct idx_answer ans;
	if (idx_search(r, &iq, &h, &ans, &err))
		T_FAIL("idx_search: %s", err.msg);
	for (size_t i = 0; i < h.n && i < max; i++)
		snprintf(paths[i], 64, "%s", h.v[i].path);
	size_t n = h.n;
	if (used)
		*used = ans.mode;
	store_hits_release(&h);
	idx_reader_close(r);
	return n;
}

static bool any_path(char paths[][64], size_t n, const char *p)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(paths[i], p) == 0)
			return true;
	return false;
}

/* Edit, rename, delete: the FAISS index follows SQLite after each step. */
static void sync_steps(void)
{
	struct box b;
	box_init(&b);
	seed_repo(b.repo);
	struct idx_summary s;
	index_repo(b.repo, &s);
	T_EQ_STR(s.model, "hash-v1-384");
	T_EQ_INT(s.embedded, s.total_chunks);
	check_consistent(b.repo);

	put(b.repo, "src/http.c", "int parse_status_code(const char *line) { return 200; }\n");
	index_repo(b.repo, &s);
	T_EQ_INT(s.updated, 1);
	check_consistent(b.repo);

	char from[256], to[256];
	snprintf(from, sizeof(from), "%s/lib/cache.py", b.repo);
	snprintf(to, sizeof(to), "%s/lib/lru.py", b.repo);
	T_EQ_INT(rename(from, to), 0);
	index_repo(b.repo, &s);
	T_EQ_INT(s.added, 1);
	T_EQ_INT(s.deleted, 1);
	T_EQ_INT(s.embedded, 0); /* a rename embeds nothing */
	check_consistent(b.repo);

	snprintf(from, sizeof(from), "%s/geo/geometry.rs", b.repo);
	T_EQ_INT(unlink(from), 0);
	index_repo(b.repo, &s);
	T_EQ_INT(s.deleted, 1);
	check_consistent(b.repo);

	char paths[10][64];
	size_t n = search_paths(b.repo, IDX_MODE_DENSE, "distance between two points centroid", false, paths, 10, NULL);
	T_TRUE(!any_path(paths, n, "geo/geometry.rs"));
	box_done(&b);
}

static void copy_file(const char *from, const char *to)
{
	char cmd[1100];
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", from, to);
	T_EQ_INT(system(cmd), 0);
}

/*
 * The crash window: SQLite committed, the FAISS save did not happen. The
 * on-disk state is exactly the new index.db with the old vectors file.
 */
static void crash_between_commit_and_save(void)
{
	struct box b;
	box_init(&b);
	seed_repo(b.repo);
	struct idx_summary s;
	index_repo(b.repo, &s);
	char old[512], saved[512];
	T_TRUE(vectors_file(b.repo, old, sizeof(old)));
	snprintf(saved, sizeof(saved), "%s/old.faiss", b.dir);
	copy_file(old, saved);

	/* delete one file, add one, then "crash" before the save */
	char gone[256];
	snprintf(gone, sizeof(gone), "%s/geo/geometry.rs", b.repo);
	T_EQ_INT(unlink(gone), 0);
	put(b.repo, "net/socket.go",
	    "package net\n\n// DialWithTimeout opens a TCP connection and gives up after the timeout.\n"
	    "func DialWithTimeout(addr string, timeout int) (Conn, error) {\n\treturn dial(addr, timeout)\n}\n");
	index_repo(b.repo, &s);
	char now[512];
	T_TRUE(vectors_file(b.repo, now, sizeof(now)));
	T_EQ_INT(unlink(now), 0);
	copy_file(saved, old);

	/* a reader: never the deleted chunks, always the new ones */
	char paths[10][64];
	enum idx_mode used;
	size_t n = search_paths(b.repo, IDX_MODE_DENSE, "distance between two points centroid", false, paths, 10,
				&used);
	T_EQ_INT(used, IDX_MODE_DENSE);
	T_TRUE(!any_path(paths, n, "geo/geometry.rs"));
	n = search_paths(b.repo, IDX_MODE_DENSE, "dial a TCP connection with a timeout", false, paths, 10, NULL);
	T_TRUE(n > 0);
	T_EQ_STR(paths[0], "net/socket.go");

	/* the next writer reconciles: exact equality again */
	index_repo(b.repo, &s);
	check_consistent(b.repo);
	box_done(&b);
}

/* A chunk content is embedded once, whatever happens to its file. */
static void cache_avoids_reembedding(void)
{
	struct box b;
	box_init(&b);
	seed_repo(b.repo);
	struct idx_summary s;
	index_repo(b.repo, &s);
	uint64_t chunks = s.total_chunks;
	T_EQ_INT(s.embedded, chunks);
	T_EQ_INT(s.cached, 0);

	/* an edit in one function: only its chunk is embedded again */
	char edited[sizeof(http_c) + 64];
	snprintf(edited, sizeof(edited), "%s", http_c);
	char *at = strstr(edited, "return -1;\n\tmemcpy");
	T_TRUE(at != NULL);
	memcpy(at, "return -2;", 10);
	put(b.repo, "src/http.c", edited);
	index_repo(b.repo, &s);
	T_EQ_INT(s.updated, 1);
	T_TRUE(s.chunks >= 3);
	T_EQ_INT(s.embedded, 1);
	T_EQ_INT(s.cached, s.chunks - 1);

	/* a branch switch back: everything is cached */
	put(b.repo, "src/http.c", http_c);
	index_repo(b.repo, &s);
	T_EQ_INT(s.embedded, 0);
	T_TRUE(s.cached > 0);

	/* a second worktree of the same repository: nothing embedded */
	char wt[160], cmd[600];
	snprintf(wt, sizeof(wt), "%s/worktree", b.dir);
	snprintf(cmd, sizeof(cmd), "cp -r '%s' '%s' && rm -rf '%s/.lode'", b.repo, wt, wt);
	T_EQ_INT(system(cmd), 0);
	index_repo(wt, &s);
	T_EQ_INT(s.total_chunks, chunks);
	T_EQ_INT(s.embedded, 0);
	T_EQ_INT(s.cached, chunks);
	check_consistent(wt);
	box_done(&b);
}

/* Dense and hybrid search answer; hybrid says "hybrid"; files mode groups. */
static void search_modes(void)
{
	struct box b;
	box_init(&b);
	seed_repo(b.repo);
	struct idx_summary s;
	index_repo(b.repo, &s);
	char paths[10][64];
	enum idx_mode used;
	size_t n = search_paths(b.repo, IDX_MODE_HYBRID, "least recently used cache eviction", false, paths, 10, &used);
	T_EQ_INT(used, IDX_MODE_HYBRID);
	T_TRUE(n > 0);
	T_EQ_STR(paths[0], "lib/cache.py");
	n = search_paths(b.repo, IDX_MODE_DENSE, "split a header line at the colon into name and value", false, paths, 10, &used);
	T_EQ_INT(used, IDX_MODE_DENSE);
	T_EQ_STR(paths[0], "src/http.c");
	n = search_paths(b.repo, IDX_MODE_HYBRID, "http cache geometry parse", true, paths, 10, NULL);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			T_TRUE(strcmp(paths[i], paths[j]) != 0);

	/* an index built without vectors: hybrid runs lexical, dense refuses */
	struct idx_options o = { .root = b.repo, .model = "none", .rebuild = true };
	struct base_err err = { 0, "" };
	T_OK(idx_index(&o, &s, &err));
	T_EQ_STR(s.model, "none");
	n = search_paths(b.repo, IDX_MODE_HYBRID, "least recently used cache", false, paths, 10, &used);
	T_EQ_INT(used, IDX_MODE_LEXICAL);
	struct idx_reader *r = idx_reader_open(b.repo, &err);
	T_TRUE(r != NULL);
	struct idx_query iq = { .text = "cache", .mode = IDX_MODE_DENSE };
	struct store_hits h = STORE_HITS_INIT;
	T_EQ_INT(idx_search(r, &iq, &h, NULL, &err), BASE_E_UNSUPPORTED);
	T_TRUE(strstr(err.msg, "without vectors") != NULL);
	idx_reader_close(r);
	box_done(&b);
}

T_MAIN(T_ENTRY(sync_steps), T_ENTRY(crash_between_commit_and_save), T_ENTRY(cache_avoids_reembedding),
       T_ENTRY(search_modes))
