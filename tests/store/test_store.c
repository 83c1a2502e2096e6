/*
 * test_store.c: the SQLite/FTS5 index: writes, transactions, the code
 * tokenizer, lexical search, filters and damaged databases. Every case
 * works on real database files in its own temporary directory.
 */
#define _XOPEN_SOURCE 700
#include "test.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "store/internal.h" /* white-box checks of the FTS rows */
#include "store/store.h"

#include "base/banned.h"

/* ---- sandbox --------------------------------------------------------- */

static char sandbox[64];
static char dbpath[128];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void sandbox_remove(void)
{
	if (sandbox[0])
		nftw(sandbox, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	sandbox[0] = '\0';
}

/* A fresh directory; dbpath names index.db inside it. */
static void sandbox_make(void)
{
	snprintf(sandbox, sizeof(sandbox), "/tmp/lode-store-XXXXXX");
	if (!mkdtemp(sandbox))
		T_FAIL("mkdtemp: %s", strerror(errno));
	snprintf(dbpath, sizeof(dbpath), "%s/index.db", sandbox);
	atexit(sandbox_remove);
}

static struct store *open_new(void)
{
	sandbox_make();
	struct base_err err = { 0, "" };
	struct store *s = store_open(dbpath, STORE_CREATE, &err);
	if (!s)
		T_FAIL("store_open: %s", err.msg);
	return s;
}

static struct store *reopen(unsigned flags)
{
	struct base_err err = { 0, "" };
	struct store *s = store_open(dbpath, flags, &err);
	if (!s)
		T_FAIL("store_open: %s", err.msg);
	return s;
}

/* ---- writing helpers ------------------------------------------------- */

struct piece {
	const char *text;
	const char *symbol;
	const char *scope;
};

/*
 * Put `path` made of pieces, one chunk per piece, inside its own
 * transaction when `tx` is set.
 */
static int put_pieces(struct store *s, const char *path, const char *lang, const struct piece *p, size_t n,
		      struct base_err *err)
{
	struct base_buf data = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct store_chunk_in *in = base_calloc(n ? n : 1, sizeof(*in));
	uint32_t line = 1;
	for (size_t i = 0; i < n; i++) {
		in[i].start_byte = (uint32_t)data.len;
		in[i].start_line = line;
		T_OK(base_buf_adds(&data, p[i].text));
		for (const char *c = p[i].text; *c; c++)
			line += *c == '\n';
		in[i].end_byte = (uint32_t)data.len;
		in[i].end_line = line;
		in[i].kind = p[i].symbol && *p[i].symbol ? "function" : "block";
		in[i].symbol = p[i].symbol ? p[i].symbol : "";
		in[i].scope = p[i].scope ? p[i].scope : "";
	}
	struct store_file f = { path, data.len, 1000, 42, 7, lang };
	int rc = store_file_put(s, &f, data.data, data.len, in, n, err);
	base_free(in);
	base_buf_release(&data);
	return rc;
}

static void put1(struct store *s, const char *path, const char *lang, const char *text, const char *symbol)
{
	struct base_err err = { 0, "" };
	struct piece p = { text, symbol, "" };
	T_OK(store_begin(s, &err));
	if (put_pieces(s, path, lang, &p, 1, &err))
		T_FAIL("put %s: %s", path, err.msg);
	T_OK(store_commit(s, &err));
}

/* ---- search helpers -------------------------------------------------- */

static int search(struct store *s, const char *text, struct store_hits *hits)
{
	struct base_err err = { 0, "" };
	struct store_query q = { text, strlen(text), 10, NULL, 0, NULL, 0, NULL, 0 };
	int rc = store_search_lexical(s, &q, hits, &err);
	if (rc)
		fprintf(stderr, "  search \"%.40s\": %s\n", text, err.msg);
	return rc;
}

/* Number of hits for `text`; the first hit's path in `top` (if any). */
static size_t count_hits(struct store *s, const char *text, char *top, size_t ntop)
{
	struct store_hits h = STORE_HITS_INIT;
	T_OK(search(s, text, &h));
	size_t n = h.n;
	if (top && ntop) {
		top[0] = '\0';
		if (n)
			snprintf(top, ntop, "%s", h.v[0].path);
	}
	store_hits_release(&h);
	return n;
}

/* ---- cases ----------------------------------------------------------- */

static void create_put_reopen(void)
{
	struct store *s = open_new();
	put1(s, "src/net/http.c", "c", "int parseHttpHeader(const char *line)\n{\n\treturn 0;\n}\n",
	     "parseHttpHeader");
	store_close(s);

	s = reopen(STORE_READ);
	struct store_hits h = STORE_HITS_INIT;
	T_OK(search(s, "parseHttpHeader", &h));
	T_EQ_INT(h.n, 1);
	T_EQ_STR(h.v[0].path, "src/net/http.c");
	T_EQ_STR(h.v[0].lang, "c");
	T_EQ_STR(h.v[0].kind, "function");
	T_EQ_STR(h.v[0].symbol, "parseHttpHeader");
	T_EQ_STR(h.v[0].scope, "");
	T_EQ_INT(h.v[0].start_line, 1);
	T_EQ_INT(h.v[0].end_line, 5);
	T_EQ_INT(h.v[0].start_byte, 0);
	T_TRUE(h.v[0].chunk_id > 0);
	T_TRUE(h.v[0].score > 0);
	T_TRUE(strncmp(h.v[0].text, "int parseHttpHeader", 19) == 0);
	store_hits_release(&h);

	/* A reader cannot write. */
	struct base_err err = { 0, "" };
	T_EQ_INT(store_begin(s, &err), BASE_E_API);
	T_EQ_INT(store_meta_set(s, "k", "v", &err), BASE_E_API);
	store_close(s);
	store_close(NULL);
}

static void put_needs_transaction(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	struct piece p = { "hello world\n", "", "" };
	T_EQ_INT(put_pieces(s, "a.txt", "text", &p, 1, &err), BASE_E_API);
	T_TRUE(strstr(err.msg, "transaction") != NULL);
	T_EQ_INT(store_commit(s, &err), BASE_E_API);
	T_OK(store_begin(s, &err));
	T_EQ_INT(store_begin(s, &err), BASE_E_API);
	/* Out-of-range chunks are refused before anything is written. */
	struct store_chunk_in bad = { 0, 99, 1, 1, "block", "", "", NULL, NULL, 0 };
	struct store_file f = { "b.txt", 3, 1, 1, 1, "text" };
	T_EQ_INT(store_file_put(s, &f, "abc", 3, &bad, 1, &err), BASE_E_INVAL);
	T_OK(put_pieces(s, "a.txt", "text", &p, 1, &err));
	T_OK(store_commit(s, &err));
	struct store_stats st;
	T_OK(store_stats(s, &st, &err));
	T_EQ_INT(st.files, 1);
	T_EQ_INT(st.chunks, 1);
	store_close(s);
}

static void put_replaces(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	struct piece v1[] = { { "alpha_one beta\n", "alpha_one", "" }, { "gamma_two delta\n", "gamma_two", "" } };
	T_OK(store_begin(s, &err));
	T_OK(put_pieces(s, "x.py", "python", v1, 2, &err));
	T_OK(store_commit(s, &err));
	struct store_hits h = STORE_HITS_INIT;
	T_OK(store_file_chunks(s, "x.py", &h, &err));
	T_EQ_INT(h.n, 2);
	int64_t old_max = BASE_MAX(h.v[0].chunk_id, h.v[1].chunk_id);
	T_EQ_INT(h.v[0].start_byte, 0);
	T_EQ_INT(h.v[1].start_byte, h.v[0].end_byte);
	store_hits_release(&h);
	T_EQ_INT(count_hits(s, "gamma", NULL, 0), 1);

	struct piece v2[] = { { "epsilon_three\n", "epsilon_three", "" } };
	T_OK(store_begin(s, &err));
	T_OK(put_pieces(s, "x.py", "python", v2, 1, &err));
	T_OK(store_commit(s, &err));
	T_EQ_INT(count_hits(s, "gamma", NULL, 0), 0);
	T_EQ_INT(count_hits(s, "alpha beta delta", NULL, 0), 0);
	T_EQ_INT(count_hits(s, "epsilon", NULL, 0), 1);
	T_OK(store_file_chunks(s, "x.py", &h, &err));
	T_EQ_INT(h.n, 1);
	T_TRUE(h.v[0].chunk_id > old_max);
	store_hits_release(&h);

	struct store_stats st;
	T_OK(store_stats(s, &st, &err));
	T_EQ_INT(st.files, 1);
	T_EQ_INT(st.chunks, 1);
	store_close(s);
}

static void delete_and_touch(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	put1(s, "keep.c", "c", "void keeperfunc(void) {}\n", "keeperfunc");
	put1(s, "gone.c", "c", "void gonerproc(void) {}\n", "gonerproc");
	T_EQ_INT(count_hits(s, "gonerproc", NULL, 0), 1);

	/* Outside a transaction, delete runs in its own. */
	T_OK(store_file_delete(s, "gone.c", &err));
	T_OK(store_file_delete(s, "never-there.c", &err));
	T_EQ_INT(count_hits(s, "gonerproc", NULL, 0), 0);
	T_EQ_INT(count_hits(s, "keeperfunc", NULL, 0), 1);
	struct store_hits h = STORE_HITS_INIT;
	T_EQ_INT(store_file_chunks(s, "gone.c", &h, &err), BASE_E_NOTFOUND);
	T_EQ_INT(h.n, 0);

	T_OK(store_begin(s, &err));
	struct store_file f = { "keep.c", 99, 123456789, 77, 0xfeedfacecafebeefull, NULL };
	T_OK(store_file_touch(s, &f, &err));
	struct store_file g = { "absent.c", 1, 1, 1, 1, NULL };
	T_EQ_INT(store_file_touch(s, &g, &err), BASE_E_NOTFOUND);
	T_OK(store_commit(s, &err));
	store_close(s);

	s = reopen(STORE_READ);
	T_OK(store_file_chunks(s, "keep.c", &h, &err));
	T_EQ_INT(h.n, 1);
	T_EQ_STR(h.v[0].lang, "c"); /* touch with lang NULL keeps it */
	store_hits_release(&h);
	store_close(s);
}

struct each_ctx {
	int n;
	char paths[8][32];
	struct store_file last; /* strings are not valid after the call */
	char last_lang[16];
	int stop_after;
};

static int each_cb(void *payload, const struct store_file *f)
{
	struct each_ctx *c = payload;
	if (c->n < 8)
		snprintf(c->paths[c->n], sizeof(c->paths[0]), "%s", f->path);
	c->last = *f;
	snprintf(c->last_lang, sizeof(c->last_lang), "%s", f->lang ? f->lang : "(null)");
	c->n++;
	return c->stop_after && c->n >= c->stop_after ? 42 : 0;
}

static void files_each_order(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	put1(s, "b/z.c", "c", "int z;\n", "");
	put1(s, "a.c", "c", "int a;\n", "");
	put1(s, "b/a.c", "c", "int ba;\n", "");
	T_OK(store_begin(s, &err));
	struct store_file f = { "b/z.c", 7, -5, 0xffffffffffffffffull, 0x8000000000000001ull, NULL };
	T_OK(store_file_touch(s, &f, &err));
	T_OK(store_commit(s, &err));
	struct each_ctx c;
	memset(&c, 0, sizeof(c));
	T_OK(store_files_each(s, each_cb, &c, &err));
	T_EQ_INT(c.n, 3);
	T_EQ_STR(c.paths[0], "a.c");
	T_EQ_STR(c.paths[1], "b/a.c");
	T_EQ_STR(c.paths[2], "b/z.c");
	T_EQ_INT(c.last.mtime_ns, -5);
	T_TRUE(c.last.ino == 0xffffffffffffffffull);
	T_TRUE(c.last.hash == 0x8000000000000001ull);
	T_EQ_STR(c.last_lang, "c");
	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	T_EQ_INT(store_files_each(s, each_cb, &c, &err), 42);
	T_EQ_INT(c.n, 2);
	store_close(s);
}

static void rollback_keeps_old(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	put1(s, "m.go", "go", "func OldThing() {}\n", "OldThing");

	T_OK(store_begin(s, &err));
	struct piece p = { "func FreshStuff() {}\n", "FreshStuff", "" };
	T_OK(put_pieces(s, "m.go", "go", &p, 1, &err));
	T_OK(put_pieces(s, "other.go", "go", &p, 1, &err));
	store_rollback(s);
	T_EQ_INT(count_hits(s, "OldThing", NULL, 0), 1);
	T_EQ_INT(count_hits(s, "FreshStuff", NULL, 0), 0);

	/* Closing with an open transaction rolls it back too. */
	T_OK(store_begin(s, &err));
	T_OK(put_pieces(s, "m.go", "go", &p, 1, &err));
	store_close(s);
	s = reopen(STORE_WRITE);
	T_EQ_INT(count_hits(s, "OldThing", NULL, 0), 1);
	T_EQ_INT(count_hits(s, "FreshStuff", NULL, 0), 0);
	struct store_stats st;
	T_OK(store_stats(s, &st, &err));
	T_EQ_INT(st.files, 1);
	T_EQ_INT(st.chunks, 1);
	store_close(s);
}

static void failed_put_rolls_back(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	put1(s, "f.c", "c", "int survivor_symbol;\n", "");
	/* Make the chunk insert fail half-way through the put. */
	sqlite3 *db;
	T_EQ_INT(sqlite3_open(dbpath, &db), SQLITE_OK);
	T_EQ_INT(sqlite3_exec(db,
			      "CREATE TRIGGER boom BEFORE INSERT ON chunks WHEN new.start_byte > 0"
			      " BEGIN SELECT RAISE(ABORT, 'injected'); END",
			      NULL, NULL, NULL),
		 SQLITE_OK);
	sqlite3_close(db);
	store_close(s);
	s = reopen(STORE_WRITE);
	T_OK(store_begin(s, &err));
	struct piece p[] = { { "int replaced_one;\n", "", "" }, { "int replaced_two;\n", "", "" } };
	T_TRUE(put_pieces(s, "f.c", "c", p, 2, &err) != BASE_OK);
	T_TRUE(strstr(err.msg, "injected") != NULL);
	/* The transaction is poisoned: commit refuses and rolls back. */
	T_EQ_INT(store_file_delete(s, "f.c", &err), BASE_E_API);
	T_EQ_INT(store_commit(s, &err), BASE_E_API);
	T_EQ_INT(count_hits(s, "survivor_symbol", NULL, 0), 1);
	T_EQ_INT(count_hits(s, "replaced_one", NULL, 0), 0);
	/* And the handle is usable again. */
	T_OK(store_begin(s, &err));
	T_OK(store_commit(s, &err));
	store_close(s);
}

static void binary_text_exact(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	static const char data[] = "abc\0def \xff\xfe invalid\xc3 utf8 zzyzx_marker\n\0tail";
	size_t len = sizeof(data) - 1;
	struct store_chunk_in in[2] = {
		{ 0, 25, 1, 1, "block", "", "", NULL, NULL, 0 },
		{ 25, (uint32_t)len, 1, 2, "block", "", "", NULL, NULL, 0 },
	};
	struct store_file f = { "bin.dat", len, 1, 1, 1, "text" };
	T_OK(store_begin(s, &err));
	T_OK(store_file_put(s, &f, data, len, in, 2, &err));
	T_OK(store_commit(s, &err));
	struct store_hits h = STORE_HITS_INIT;
	T_OK(store_file_chunks(s, "bin.dat", &h, &err));
	T_EQ_INT(h.n, 2);
	T_EQ_INT(h.v[0].text_len, 25);
	T_TRUE(memcmp(h.v[0].text, data, 25) == 0);
	T_EQ_INT(h.v[1].text_len, len - 25);
	T_TRUE(memcmp(h.v[1].text, data + 25, len - 25) == 0);
	store_hits_release(&h);
	T_OK(search(s, "zzyzx_marker", &h));
	T_EQ_INT(h.n, 1);
	T_EQ_INT(h.v[0].text_len, len - 25);
	T_TRUE(memcmp(h.v[0].text, data + 25, len - 25) == 0);
	store_hits_release(&h);
	/* Replacing it deletes the FTS rows of the binary text exactly. */
	T_OK(store_begin(s, &err));
	T_OK(store_file_put(s, &f, data, len, in, 2, &err));
	T_OK(store_file_delete(s, "bin.dat", &err));
	T_OK(store_commit(s, &err));
	T_EQ_INT(count_hits(s, "zzyzx_marker", NULL, 0), 0);
	T_EQ_INT(count_hits(s, "def", NULL, 0), 0);
	store_close(s);
}

static void identifier_search(void)
{
	struct store *s = open_new();
	put1(s, "http.c", "c", "static int parseHttpHeader(struct req *r) { return r->n; }\n", "parseHttpHeader");
	put1(s, "snake.py", "python", "def read_config_file(path):\n    return open(path)\n", "read_config_file");
	put1(s, "digits.c", "c", "size_t utf8proc_decompose(void);\n", "utf8proc_decompose");
	put1(s, "acronym.java", "java", "class HTTPServerFactory {}\n", "HTTPServerFactory");
	put1(s, "dunder.py", "python", "def __init__(self):\n    pass\n", "__init__");
	put1(s, "noise.txt", "text", "nothing relevant lives here at all\n", "");

	char top[64];
	T_EQ_INT(count_hits(s, "http header", top, sizeof(top)), 1);
	T_EQ_STR(top, "http.c");
	T_EQ_INT(count_hits(s, "parsehttpheader", top, sizeof(top)), 1);
	T_EQ_STR(top, "http.c");
	T_EQ_INT(count_hits(s, "ParseHTTPHeader", top, sizeof(top)), 1);
	T_EQ_INT(count_hits(s, "parse_http_header", top, sizeof(top)), 1);
	T_EQ_STR(top, "http.c");
	T_EQ_INT(count_hits(s, "config file", top, sizeof(top)), 1);
	T_EQ_STR(top, "snake.py");
	T_EQ_INT(count_hits(s, "readConfigFile", top, sizeof(top)), 1);
	T_EQ_STR(top, "snake.py");
	T_EQ_INT(count_hits(s, "read_config_file", top, sizeof(top)), 1);
	T_EQ_INT(count_hits(s, "utf8proc", top, sizeof(top)), 1);
	T_EQ_STR(top, "digits.c");
	T_EQ_INT(count_hits(s, "decompose", top, sizeof(top)), 1);
	T_EQ_INT(count_hits(s, "utf", top, sizeof(top)), 1);
	T_EQ_INT(count_hits(s, "server factory", top, sizeof(top)), 1);
	T_EQ_STR(top, "acronym.java");
	T_EQ_INT(count_hits(s, "httpserverfactory", top, sizeof(top)), 1);
	T_EQ_INT(count_hits(s, "init", top, sizeof(top)), 1);
	T_EQ_STR(top, "dunder.py");
	/* Path components are searchable through the head column. */
	T_EQ_INT(count_hits(s, "acronym", top, sizeof(top)), 1);
	T_EQ_INT(count_hits(s, "java", top, sizeof(top)), 1);
	/* No such word anywhere. */
	T_EQ_INT(count_hits(s, "xylophone", NULL, 0), 0);
	store_close(s);
}

static void numbers_whole_only(void)
{
	struct store *s = open_new();
	put1(s, "regs.h", "c", "#define REG_CTRL 0x1f2e3d4c\n#define TIMEOUT_MS 1500ms\n", "");
	put1(s, "e1000.c", "c", "int e1000_probe(void);\n", "e1000_probe");
	T_EQ_INT(count_hits(s, "0x1f2e3d4c", NULL, 0), 1);
	T_EQ_INT(count_hits(s, "0X1F2E3D4C", NULL, 0), 1);
	T_EQ_INT(count_hits(s, "3d4c", NULL, 0), 0);
	T_EQ_INT(count_hits(s, "1500ms", NULL, 0), 1);
	T_EQ_INT(count_hits(s, "ms", NULL, 0), 1); /* only TIMEOUT_MS */
	/* Identifiers with digits still split: e1000 -> e|1000. */
	T_EQ_INT(count_hits(s, "1000", NULL, 0), 1);
	T_EQ_INT(count_hits(s, "probe", NULL, 0), 1);
	store_close(s);
}

/* Rows of the raw FTS table matching `term`, on a connection of our own. */
static long long fts_rows(sqlite3 *db, const char *term)
{
	sqlite3_stmt *st;
	T_EQ_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM fts WHERE fts MATCH ?1", -1, &st, NULL), SQLITE_OK);
	char q[128];
	snprintf(q, sizeof(q), "\"%s\"", term);
	sqlite3_bind_text(st, 1, q, -1, SQLITE_TRANSIENT);
	T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	long long n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void fts_rows_exact(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	struct piece v1[] = { { "alphaword common_word\n", "alpha_fn", "Klass" }, { "betaword\n", "", "" } };
	struct piece v2[] = { { "gammaword common_word\n", "gamma_fn", "" } };
	T_OK(store_begin(s, &err));
	T_OK(put_pieces(s, "a/x.c", "c", v1, 2, &err));
	T_OK(put_pieces(s, "b/y.c", "c", v1, 2, &err));
	T_OK(store_commit(s, &err));
	T_OK(store_begin(s, &err));
	T_OK(put_pieces(s, "a/x.c", "c", v2, 1, &err)); /* replace */
	T_OK(put_pieces(s, "c/z.c", "c", v1, 2, &err));
	T_OK(store_file_delete(s, "c/z.c", &err)); /* put and delete in one transaction */
	T_OK(store_commit(s, &err));
	T_OK(store_file_delete(s, "b/y.c", &err));
	store_close(s);

	sqlite3 *db;
	T_EQ_INT(sqlite3_open(dbpath, &db), SQLITE_OK);
	T_EQ_INT(store__fts5_register(db), SQLITE_OK);
	T_EQ_INT(fts_rows(db, "alphaword"), 0);
	T_EQ_INT(fts_rows(db, "alpha"), 0);
	T_EQ_INT(fts_rows(db, "klass"), 0);
	T_EQ_INT(fts_rows(db, "betaword"), 0);
	T_EQ_INT(fts_rows(db, "gammaword"), 1);
	T_EQ_INT(fts_rows(db, "common_word"), 1);
	T_EQ_INT(fts_rows(db, "common"), 1);
	T_EQ_INT(fts_rows(db, "gamma_fn"), 1);
	T_EQ_INT(fts_rows(db, "x"), 0); /* one byte: never indexed */
	T_EQ_INT(fts_rows(db, "the"), 0);
	T_EQ_INT(sqlite3_exec(db, "INSERT INTO fts(fts) VALUES('integrity-check')", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void ranking_head_first(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	/* Many mentions in bodies, one definition whose name is in the head. */
	put1(s, "a/use1.c", "c",
	     "void caller_one(void)\n{\n\tframe_decoder_reset(d);\n\tframe_decoder_reset(e);\n\tlog_it();\n}\n",
	     "caller_one");
	put1(s, "a/use2.c", "c", "void caller_two(void)\n{\n\tframe_decoder_reset(x);\n}\n", "caller_two");
	put1(s, "b/decoder.c", "c", "void frame_decoder_reset(struct dec *d)\n{\n\td->pos = 0;\n}\n",
	     "frame_decoder_reset");
	char top[64];
	T_EQ_INT(count_hits(s, "frame_decoder_reset", top, sizeof(top)), 3);
	T_EQ_STR(top, "b/decoder.c");
	T_EQ_INT(count_hits(s, "how does the frame decoder reset work?", top, sizeof(top)), 3);
	T_EQ_STR(top, "b/decoder.c");
	/* Scores are best first and higher is better. */
	struct store_hits h = STORE_HITS_INIT;
	T_OK(search(s, "frameDecoderReset", &h));
	T_EQ_INT(h.n, 3);
	T_TRUE(h.v[0].score >= h.v[1].score && h.v[1].score >= h.v[2].score);
	T_EQ_STR(h.v[0].symbol, "frame_decoder_reset");
	store_hits_release(&h);
	/* k limits the results. */
	struct store_query q = { "frame decoder", 0, 2, NULL, 0, NULL, 0, NULL, 0 };
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 2);
	store_hits_release(&h);
	store_close(s);
}

static void hostile_queries(void)
{
	struct store *s = open_new();
	put1(s, "q.c", "c", "int near_and_or(int x) { return x ^ 1; } /* NEAR AND OR NOT column */\n", "near_and_or");
	put1(s, "r.py", "python", "def head(body): return body  # col: prefix* ^start -minus\n", "head");

	static const char *const queries[] = {
		"",
		"\"",
		"\"\"",
		"'",
		"unterminated \"quote",
		"*",
		"**",
		"near*",
		"NEAR(",
		"NEAR(a b, 3)",
		"NEAR/2",
		"AND OR NOT",
		"AND",
		"x OR",
		"col:",
		"head:body",
		"{head body}:near",
		"^x",
		"^",
		"-x",
		"- -- ---",
		"(",
		")",
		"((a OR b) AND (c",
		"+",
		"a",
		"the of and to is",
		"is it the",
		"\\",
		"\\\"\\'",
		"%_%",
		"; DROP TABLE chunks; --",
		"\xe2\x80\x9csmart quotes\xe2\x80\x9d \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87 na\xc3\xafve",
		"\xff\xfe\xc3 broken utf8 \x80\x80",
		"\x01\x02\x03\x1b[31m control \x7f chars\t\r\n",
		"near_and_or(x) ^ 1 -> \"NEAR\" AND col:prefix*",
		"Traceback (most recent call last):\n  File \"r.py\", line 1, in head\nTypeError: 'NoneType'",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(queries); i++) {
		struct store_hits h = STORE_HITS_INIT;
		int rc = search(s, queries[i], &h);
		if (rc)
			T_FAIL("query %zu failed: %s", i, base_status_name(rc));
		store_hits_release(&h);
	}
	/* The operators are plain words when quoted into the query. */
	T_EQ_INT(count_hits(s, "NEAR", NULL, 0), 1);
	T_EQ_INT(count_hits(s, "col:prefix*", NULL, 0), 1);

	/* 10 KB of pasted text with every FTS syntax character in it. */
	struct base_buf big = BASE_BUF_INIT(BASE_CAP_QUERY);
	for (int i = 0; big.len < 10240; i++)
		T_OK(base_buf_addf(&big, "line %d: \"quoted\" (paren) col:x ^y -z * NEAR/3 AND OR NOT w%d_%x\n",
				   i, i, i * 7919));
	T_OK(base_buf_adds(&big, "and finally near_and_or\n"));
	char top[64];
	T_EQ_INT(count_hits(s, big.data, top, sizeof(top)) >= 1, 1);
	T_EQ_STR(top, "q.c");
	base_buf_release(&big);

	/* NULL text and explicit length without NUL termination. */
	struct store_hits h = STORE_HITS_INIT;
	struct base_err err = { 0, "" };
	struct store_query q = { NULL, 0, 0, NULL, 0, NULL, 0, NULL, 0 };
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 0);
	q.text = "headXXXX";
	q.text_len = 4;
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 1);
	store_hits_release(&h);
	store_close(s);
}

/* Random texts over an alphabet rich in FTS5 syntax: never an error. */
static void random_queries(void)
{
	struct store *s = open_new();
	put1(s, "q.c", "c", "int alpha_beta(int gamma) { return gamma ^ 0x1f; } /* NEAR AND OR NOT */\n", "alpha_beta");
	static const char *const atoms[] = {
		"\"", "'", "*", "^", ":", "-", "+", "(", ")", "{", "}", "[", "]", ",", ".", "/", "\\", " ", "\n",
		"\t", "NEAR", "AND", "OR", "NOT", "near", "head", "body", "fts", "rank", "alpha", "Beta", "gamma_",
		"x", "0x1f", "\xc3\xa9", "\xff", "\x80", "\xe2\x80\x9c", "\x01", "\x7f", "_", "__", "a1b2",
	};
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	char buf[512];
	for (int i = 0; i < 400; i++) {
		size_t len = 0;
		int natoms = (int)(seed >> 59) + 1;
		for (int j = 0; j < natoms; j++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			const char *a = atoms[(seed >> 33) % BASE_ARRAY_LEN(atoms)];
			size_t n = strlen(a);
			if (len + n >= sizeof(buf))
				break;
			memcpy(buf + len, a, n);
			len += n;
		}
		buf[len] = '\0';
		struct store_hits h = STORE_HITS_INIT;
		int rc = search(s, buf, &h);
		if (rc)
			T_FAIL("random query %d failed: %s", i, base_status_name(rc));
		store_hits_release(&h);
	}
	store_close(s);
}

/* Both ways of filtering: point lookups, then per-file id ranges. */
static void filters_run(size_t lookups)
{
	struct store *s = open_new();
	s->filter_lookups = lookups;
	struct base_err err = { 0, "" };
	put1(s, "src/net/sock.c", "c", "int shared_token_alpha;\n", "");
	put1(s, "src/net/sock.py", "python", "shared_token_alpha = 1\n", "");
	put1(s, "docs/guide.md", "markdown", "shared_token_alpha is documented\n", "");
	put1(s, "src/fs/inode.c", "c", "long shared_token_alpha;\n", "");

	struct store_hits h = STORE_HITS_INIT;
	const char *c_only[] = { "c" };
	struct store_query q = { "shared_token_alpha", 0, 10, c_only, 1, NULL, 0, NULL, 0 };
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 2);
	for (size_t i = 0; i < h.n; i++)
		T_EQ_STR(h.v[i].lang, "c");
	store_hits_release(&h);

	const char *langs2[] = { "python", "markdown" };
	q.langs = langs2;
	q.nlangs = 2;
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 2);
	store_hits_release(&h);

	const char *net[] = { "src/net/*" };
	q.langs = NULL;
	q.nlangs = 0;
	q.globs = net;
	q.nglobs = 1;
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 2);
	store_hits_release(&h);

	const char *deep[] = { "src/**/*.c", "**/*.md" };
	q.globs = deep;
	q.nglobs = 2;
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 3);
	store_hits_release(&h);

	/* Both filters: C files under src/net only. */
	q.langs = c_only;
	q.nlangs = 1;
	q.globs = net;
	q.nglobs = 1;
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 1);
	T_EQ_STR(h.v[0].path, "src/net/sock.c");
	store_hits_release(&h);

	/* '*' does not cross '/' with BASE_WM_PATHNAME. */
	const char *shallow[] = { "src/*.c" };
	q.langs = NULL;
	q.nlangs = 0;
	q.globs = shallow;
	q.nglobs = 1;
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 0);
	const char *none[] = { "rust" };
	q.globs = NULL;
	q.nglobs = 0;
	q.langs = none;
	q.nlangs = 1;
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 0);
	/* A file replaced by fewer chunks, and one with none. */
	struct piece two[] = { { "shared_token_alpha one\n", "", "" }, { "shared_token_alpha two\n", "", "" } };
	T_OK(store_begin(s, &err));
	T_OK(put_pieces(s, "src/net/sock.c", "c", two, 2, &err));
	T_OK(put_pieces(s, "src/fs/inode.c", "c", two, 0, &err));
	T_OK(store_commit(s, &err));
	q.langs = c_only;
	q.nlangs = 1;
	T_OK(store_search_lexical(s, &q, &h, &err));
	T_EQ_INT(h.n, 2);
	T_EQ_STR(h.v[0].path, "src/net/sock.c");
	T_EQ_STR(h.v[1].path, "src/net/sock.c");
	store_hits_release(&h);
	store_close(s);
}

static void filters(void)
{
	filters_run(STORE_FILTER_LOOKUPS);
}

static void filters_ranged(void)
{
	filters_run(0);
}

static void common_terms_dropped(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	/* "value" is in every chunk, "needle" in one. */
	T_OK(store_begin(s, &err));
	for (int i = 0; i < 40; i++) {
		char path[32], text[128];
		snprintf(path, sizeof(path), "f%02d.c", i);
		snprintf(text, sizeof(text), "int value = %d; /* value value */ %s\n", i, i == 17 ? "needle" : "hay");
		struct piece p = { text, "", "" };
		T_OK(put_pieces(s, path, "c", &p, 1, &err));
	}
	T_OK(store_commit(s, &err));
	char top[64];
	/* The common term is dropped when a rarer one exists. */
	T_EQ_INT(count_hits(s, "value needle", top, sizeof(top)), 1);
	T_EQ_STR(top, "f17.c");
	/* Alone, a common term still finds things. */
	T_EQ_INT(count_hits(s, "value", NULL, 0), 10);
	store_close(s);
}

/*
 * With a tiny candidate budget the rarest term picks the rows and the
 * others only score them: ("rare") AND ("rare" OR "c1" OR "c2").
 */
static void rare_terms_pick_candidates(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	T_OK(store_begin(s, &err));
	struct piece both = { "zebrafinch tulip orchid\n", "", "" };
	struct piece rare = { "zebrafinch alone\n", "", "" };
	struct piece common = { "tulip orchid\n", "", "" };
	T_OK(put_pieces(s, "both.txt", "text", &both, 1, &err));
	T_OK(put_pieces(s, "rare.txt", "text", &rare, 1, &err));
	for (int i = 0; i < 30; i++) {
		char path[32];
		snprintf(path, sizeof(path), "common%02d.txt", i);
		T_OK(put_pieces(s, path, "text", &common, 1, &err));
	}
	struct piece filler = { "filler words only\n", "", "" };
	for (int i = 0; i < 100; i++) {
		char path[32];
		snprintf(path, sizeof(path), "filler%03d.txt", i);
		T_OK(put_pieces(s, path, "text", &filler, 1, &err));
	}
	T_OK(store_commit(s, &err));

	struct store_hits h = STORE_HITS_INIT;
	T_OK(search(s, "tulip orchid zebrafinch", &h));
	T_EQ_INT(h.n, 10);
	T_EQ_STR(h.v[0].path, "both.txt");
	double full_top = h.v[0].score;
	store_hits_release(&h);

	s->cand_budget = 1;
	T_OK(search(s, "tulip orchid zebrafinch", &h));
	T_EQ_INT(h.n, 2);
	T_EQ_STR(h.v[0].path, "both.txt");
	T_EQ_STR(h.v[1].path, "rare.txt");
	/* The common terms still count, and the same as without the split. */
	T_TRUE(h.v[0].score > h.v[1].score);
	T_TRUE(h.v[0].score > full_top - 1e-9 && h.v[0].score < full_top + 1e-9);
	store_hits_release(&h);
	store_close(s);
}

static void meta_and_stats(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	T_TRUE(store_meta_get(s, "missing") == NULL);
	T_OK(store_meta_set(s, "head", "9f1c", &err));
	T_OK(store_meta_set(s, "head", "abcd", &err));
	char *v = store_meta_get(s, "head");
	T_EQ_STR(v, "abcd");
	base_free(v);
	struct store_stats st;
	T_OK(store_stats(s, &st, &err));
	T_EQ_INT(st.files, 0);
	T_EQ_INT(st.chunks, 0);
	T_EQ_INT(st.generation, 0);

	put1(s, "one.c", "c", "int one;\n", "");
	struct piece p[] = { { "int two;\n", "", "" }, { "int three;\n", "", "" } };
	T_OK(store_begin(s, &err));
	T_OK(put_pieces(s, "two.c", "c", p, 2, &err));
	T_OK(store_meta_set(s, "generation", "17", &err));
	T_OK(store_commit(s, &err));
	T_OK(store_stats(s, &st, &err));
	T_EQ_INT(st.files, 2);
	T_EQ_INT(st.chunks, 3);
	T_EQ_INT(st.bytes, 9 + 20);
	T_EQ_INT(st.generation, 17);
	T_TRUE(st.db_bytes > 0);
	store_close(s);
}

static void chunk_ids_never_reused(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	put1(s, "a.c", "c", "int a;\n", "");
	put1(s, "b.c", "c", "int b;\n", "");
	struct store_hits h = STORE_HITS_INIT;
	T_OK(store_file_chunks(s, "b.c", &h, &err));
	int64_t last = h.v[0].chunk_id;
	store_hits_release(&h);
	/* Delete the newest file: its id must not come back. */
	T_OK(store_file_delete(s, "b.c", &err));
	store_close(s);
	s = reopen(STORE_WRITE);
	put1(s, "c.c", "c", "int c;\n", "");
	T_OK(store_file_chunks(s, "c.c", &h, &err));
	T_TRUE(h.v[0].chunk_id > last);
	store_hits_release(&h);
	store_close(s);
}

static void reader_isolation(void)
{
	struct store *w = open_new();
	struct base_err err = { 0, "" };
	put1(w, "v.c", "c", "int committedvalue;\n", "");
	struct store *r = reopen(STORE_READ);
	T_OK(store_begin(w, &err));
	struct piece p = { "int pendingthing;\n", "", "" };
	T_OK(put_pieces(w, "v.c", "c", &p, 1, &err));
	/* The reader sees the last commit, not the open transaction. */
	T_EQ_INT(count_hits(r, "committedvalue", NULL, 0), 1);
	T_EQ_INT(count_hits(r, "pendingthing", NULL, 0), 0);
	T_OK(store_commit(w, &err));
	T_EQ_INT(count_hits(r, "pendingthing", NULL, 0), 1);
	T_EQ_INT(count_hits(r, "committedvalue", NULL, 0), 0);
	store_close(r);
	store_close(w);
}

/* ---- bad databases --------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	T_TRUE(fd >= 0);
	T_EQ_INT(write(fd, data, len), (long long)len);
	close(fd);
}

static void expect_open_fails(unsigned flags, int code, const char *needle)
{
	struct base_err err = { 0, "" };
	struct store *s = store_open(dbpath, flags, &err);
	if (s) {
		store_close(s);
		T_FAIL("store_open succeeded; expected %s", base_status_name(code));
	}
	if (err.code != code)
		T_FAIL("store_open: %s (%s); expected %s", base_status_name(err.code), err.msg, base_status_name(code));
	if (needle && !strstr(err.msg, needle))
		T_FAIL("message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void open_missing(void)
{
	sandbox_make();
	expect_open_fails(STORE_READ, BASE_E_NOTFOUND, dbpath);
	expect_open_fails(STORE_WRITE, BASE_E_NOTFOUND, dbpath);
	/* A directory that does not exist, or is a file, cannot hold one. */
	char path[256];
	snprintf(path, sizeof(path), "%s/no/such/dir/index.db", sandbox);
	struct base_err err = { 0, "" };
	T_TRUE(store_open(path, STORE_CREATE, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_IO);
	T_TRUE(strstr(err.msg, path) != NULL);
	write_file(dbpath, "x", 1);
	snprintf(path, sizeof(path), "%s/index.db/index.db", sandbox);
	T_TRUE(store_open(path, STORE_CREATE, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_IO);
	T_TRUE(strstr(err.msg, path) != NULL);
	/* A directory where the file should be. */
	snprintf(path, sizeof(path), "%s/adir", sandbox);
	T_EQ_INT(mkdir(path, 0755), 0);
	T_TRUE(store_open(path, STORE_CREATE, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_IO);
	/* An unwritable directory (root ignores permissions). */
	if (geteuid() != 0) {
		T_EQ_INT(chmod(path, 0555), 0);
		snprintf(path, sizeof(path), "%s/adir/index.db", sandbox);
		T_TRUE(store_open(path, STORE_CREATE, &err) == NULL);
		T_EQ_INT(err.code, BASE_E_IO);
		T_TRUE(strstr(err.msg, path) != NULL);
	}
}

static void open_garbage(void)
{
	sandbox_make();
	char junk[8192];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 131 + 7);
	write_file(dbpath, junk, sizeof(junk));
	expect_open_fails(STORE_READ, BASE_E_CORRUPT, "--rebuild");
	expect_open_fails(STORE_WRITE, BASE_E_CORRUPT, "--rebuild");
	write_file(dbpath, "SQLite format 3", 15);
	expect_open_fails(STORE_READ, BASE_E_CORRUPT, "--rebuild");
	/* An empty file is no index for a reader. */
	write_file(dbpath, "", 0);
	expect_open_fails(STORE_READ, BASE_E_CORRUPT, "--rebuild");
}

static void open_foreign_sqlite(void)
{
	sandbox_make();
	sqlite3 *db;
	T_EQ_INT(sqlite3_open(dbpath, &db), SQLITE_OK);
	T_EQ_INT(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	expect_open_fails(STORE_READ, BASE_E_CORRUPT, "not a lode index");
	expect_open_fails(STORE_WRITE, BASE_E_CORRUPT, "not a lode index");
}

/* Build an index with some content, closed cleanly (no WAL left). */
static long build_index(void)
{
	struct store *s = open_new();
	struct base_err err = { 0, "" };
	T_OK(store_begin(s, &err));
	for (int i = 0; i < 200; i++) {
		char path[32], text[512];
		snprintf(path, sizeof(path), "dir/file%03d.c", i);
		snprintf(text, sizeof(text), "int function_%d(int x)\n{\n\treturn x * %d + common_helper(x);\n}\n", i, i);
		struct piece p = { text, "", "" };
		T_OK(put_pieces(s, path, "c", &p, 1, &err));
	}
	T_OK(store_commit(s, &err));
	store_close(s);
	struct stat st;
	T_EQ_INT(stat(dbpath, &st), 0);
	return (long)st.st_size;
}

static void open_truncated(void)
{
	long size = build_index();
	T_TRUE(size > 8192 * 4);
	T_EQ_INT(truncate(dbpath, size / 2), 0);
	expect_open_fails(STORE_READ, BASE_E_CORRUPT, "--rebuild");
	expect_open_fails(STORE_WRITE, BASE_E_CORRUPT, "--rebuild");
	T_EQ_INT(truncate(dbpath, 50), 0);
	expect_open_fails(STORE_READ, BASE_E_CORRUPT, "--rebuild");
}

static void open_corrupted(void)
{
	long size = build_index();
	/* Smash everything after the first page: any use must say CORRUPT. */
	int fd = open(dbpath, O_WRONLY);
	T_TRUE(fd >= 0);
	char junk[4096];
	memset(junk, 0xA5, sizeof(junk));
	for (long off = 8192; off < size; off += (long)sizeof(junk))
		T_EQ_INT(pwrite(fd, junk, sizeof(junk), off), (long long)sizeof(junk));
	close(fd);
	struct base_err err = { 0, "" };
	struct store *s = store_open(dbpath, STORE_READ, &err);
	if (!s) {
		T_EQ_INT(err.code, BASE_E_CORRUPT);
		T_TRUE(strstr(err.msg, "lode index --rebuild") != NULL);
		return;
	}
	struct store_hits h = STORE_HITS_INIT;
	struct store_query q = { "function_7 common_helper", 0, 10, NULL, 0, NULL, 0, NULL, 0 };
	int rc = store_search_lexical(s, &q, &h, &err);
	store_hits_release(&h);
	store_close(s);
	T_EQ_INT(rc, BASE_E_CORRUPT);
	T_TRUE(strstr(err.msg, "--rebuild") != NULL);
}

static void newer_schema_refused(void)
{
	build_index();
	sqlite3 *db;
	T_EQ_INT(sqlite3_open(dbpath, &db), SQLITE_OK);
	T_EQ_INT(sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	expect_open_fails(STORE_READ, BASE_E_UNSUPPORTED, "newer");
	expect_open_fails(STORE_WRITE, BASE_E_UNSUPPORTED, "999");
}

T_MAIN(T_ENTRY(create_put_reopen), T_ENTRY(put_needs_transaction), T_ENTRY(put_replaces),
       T_ENTRY(delete_and_touch), T_ENTRY(files_each_order), T_ENTRY(rollback_keeps_old),
       T_ENTRY(failed_put_rolls_back), T_ENTRY(binary_text_exact), T_ENTRY(identifier_search),
       T_ENTRY(numbers_whole_only), T_ENTRY(fts_rows_exact), T_ENTRY(ranking_head_first), T_ENTRY(hostile_queries), T_ENTRY(random_queries), T_ENTRY(filters), T_ENTRY(filters_ranged), T_ENTRY(common_terms_dropped), T_ENTRY(rare_terms_pick_candidates),
       T_ENTRY(meta_and_stats), T_ENTRY(chunk_ids_never_reused), T_ENTRY(reader_isolation),
       T_ENTRY(open_missing), T_ENTRY(open_garbage), T_ENTRY(open_foreign_sqlite), T_ENTRY(open_truncated),
       T_ENTRY(open_corrupted), T_ENTRY(newer_schema_refused))
