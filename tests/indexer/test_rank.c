/*
 * test_rank.c: retrieval for bug reports through the real ranking path
 * (idx_index, then idx_search in hybrid mode with --files), issue 8.
 *
 *   - tracebacks in Python, Java, Go, Rust and JavaScript put the file of
 *     the project's frame first, above a decoy whose text shares more of
 *     the report's words, and above the library frames' files;
 *   - a report naming a qualified symbol (pkg.mod.Class.method) finds the
 *     file that defines the method;
 *   - a report whose best lexical match is a changelog ranks the code
 *     first, and the changelog first when the report asks for it;
 *   - the names table: definitions, imports and calls per chunk, replaced
 *     with the file and removed with it; a chunk that defines a query
 *     symbol joins the candidates although no query word matches it;
 *   - most cases also run with the components switched off and check that
 *     the answer changes, so a component that stops working fails a test.
 *
 * The built-in hash embedder; every case has its own temp dir and cache.
 */
#include "test.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include "indexer/indexer.h"
#include "indexer/reader.h"
#include "store/store.h"

#include "repo_box.h"

#include "base/banned.h"

static void box_init(struct box *b)
{
	box_init_at(b, "/tmp/lode-rank-XXXXXX");
}

static void index_repo(const char *repo)
{
	struct idx_options o = { .root = repo, .jobs = 1 }; /* one worker: chunk ids, and so ties, are stable */
	struct idx_summary sum;
	struct base_err err = { 0, "" };
	if (idx_index(&o, &sum, &err))
		T_FAIL("idx_index: %s", err.msg);
}

/* The 1-based rank of `path` among the files found (0: not found). */
static int rank_of(const char *repo, const char *query, unsigned off, const char *path)
{
	struct base_err err = { 0, "" };
	struct idx_reader *r = idx_reader_open(repo, &err);
	if (!r)
		T_FAIL("idx_reader_open: %s", err.msg);
	struct idx_query iq = { .text = query, .k = 20, .mode = IDX_MODE_HYBRID, .files = true, .off = off };
	struct store_hits h = STORE_HITS_INIT;
	if (idx_search(r, &iq, &h, NULL, &err))
		T_FAIL("idx_search: %s", err.msg);
	int rank = 0;
	for (size_t i = 0; i < h.n && !rank; i++)
		if (strcmp(h.v[i].path, path) == 0)
			rank = (int)i + 1;
	if (getenv("LODE_TEST_VERBOSE"))
		for (size_t i = 0; i < h.n && i < 6; i++)
			fprintf(stderr, "    off=%u %zu. %s %.4f\n", off, i + 1, h.v[i].path, h.v[i].score);
	store_hits_release(&h);
	idx_reader_close(r);
	return rank;
}

/*
 * A decoy that talks about everything a report says (the words of the
 * error, the prose) without being where the bug is.
 */
static const char decoy_py[] =
	"# notes.py: helpers for formatting error messages about invoices, orders,\n"
	"# totals, discounts, currency, rounding, negative amounts and customers.\n"
	"def describe_error(invoice, order, total, discount, currency):\n"
	"    return 'invoice %s order %s total %s discount %s currency %s negative rounding customer' % (\n"
	"        invoice, order, total, discount, currency)\n";

/* ---- tracebacks ------------------------------------------------------ */

static void traceback_python(void)
{
	struct box b;
	box_init(&b);
	put(b.repo, "shop/pricing/rules.py",
	    "class DiscountRule:\n    def __init__(self, pct):\n        self.pct = pct\n\n"
	    "    def apply_to(self, amount):\n        return amount - amount * self.pct / 100\n");
	put(b.repo, "shop/notes.py", decoy_py);
	put(b.repo, "shop/cli.py", "import sys\n\ndef main():\n    print(sys.argv)\n");
	index_repo(b.repo);
	const char *q = "### Describe the bug\n"
			"Applying a discount to an invoice total gives a negative amount for the customer.\n\n"
			"```\nTraceback (most recent call last):\n"
			"  File \"/usr/lib/python3/site-packages/click/core.py\", line 1055, in main\n"
			"  File \"/home/me/src/shop/shop/pricing/rules.py\", line 6, in apply_to\n"
			"ZeroDivisionError: division by zero\n```\n"
			"### Environment\n- OS: Linux\n- Python version: 3.11\n";
	T_EQ_INT(rank_of(b.repo, q, 0, "shop/pricing/rules.py"), 1);
	/* the frame's path and function are what put it first */
	T_TRUE(rank_of(b.repo, q, IDX_FEAT_QUERY | IDX_FEAT_PATH, "shop/pricing/rules.py") > 1);
	box_done(&b);
}

static void traceback_java(void)
{
	struct box b;
	box_init(&b);
	put(b.repo, "src/main/java/com/acme/billing/Ledger.java",
	    "package com.acme.billing;\n\npublic class Ledger {\n"
	    "    public long settle(long cents) {\n        return cents / 0;\n    }\n}\n");
	put(b.repo, "src/main/java/com/acme/billing/Notes.java",
	    "package com.acme.billing;\n\n/** Notes about invoice totals, orders, discounts, currency, customers. */\n"
	    "public class Notes {\n    String describe() { return \"settling invoice order total discount throws customer\"; }\n"
	    "    String more() { return \"settling an invoice total with a discount throws for the customer order\"; }\n"
	    "    String ledger() { return \"ledger settle: arithmetic exception, by zero, in thread main\"; }\n}\n");
	index_repo(b.repo);
	const char *q = "Settling an invoice total with a discount throws for the customer order:\n\n"
			"Exception in thread \"main\" java.lang.ArithmeticException: / by zero\n"
			"\tat com.acme.billing.Ledger.settle(Ledger.java:5)\n"
			"\tat java.base/java.lang.Thread.run(Thread.java:833)\n";
	T_EQ_INT(rank_of(b.repo, q, 0, "src/main/java/com/acme/billing/Ledger.java"), 1);
	T_TRUE(rank_of(b.repo, q, IDX_FEAT_QUERY | IDX_FEAT_PATH | IDX_FEAT_SYMBOL,
		       "src/main/java/com/acme/billing/Ledger.java") > 1);
	box_done(&b);
}

static void traceback_go(void)
{
	struct box b;
	box_init(&b);
	put(b.repo, "internal/cache/lru.go",
	    "package cache\n\ntype Cache struct{ items map[string]int }\n\n"
	    "func (c *Cache) Evict(key string) {\n\tdelete(c.items, key)\n}\n");
	put(b.repo, "internal/notes/notes.go",
	    "package notes\n\n// Notes about invoice totals, orders, discounts, currency and customers.\n"
	    "func Describe() string { return \"invoice order total discount currency negative customer panic\" }\n"
	    "// Evict from the cache: a goroutine running an assignment to entry in nil map panics.\n"
	    "func More() string { return \"evict cache goroutine running assignment entry nil map\" }\n");
	index_repo(b.repo);
	const char *q = "panic when the invoice total has a discount for a customer order\n\n"
			"panic: assignment to entry in nil map\n\ngoroutine 1 [running]:\n"
			"example.com/shop/internal/cache.(*Cache).Evict(...)\n"
			"\t/home/me/shop/internal/cache/lru.go:6 +0x1d\n"
			"runtime.goexit()\n\t/usr/local/go/src/runtime/asm_amd64.s:1650 +0x1\n";
	T_EQ_INT(rank_of(b.repo, q, 0, "internal/cache/lru.go"), 1);
	T_TRUE(rank_of(b.repo, q, IDX_FEAT_QUERY | IDX_FEAT_PATH | IDX_FEAT_SYMBOL, "internal/cache/lru.go") > 1);
	box_done(&b);
}

static void traceback_rust_and_js(void)
{
	struct box b;
	box_init(&b);
	put(b.repo, "src/parse/lexer.rs",
	    "pub fn next_token(input: &str) -> usize {\n    input.find(' ').unwrap()\n}\n");
	put(b.repo, "web/lib/router.js",
	    "function matchRoute(routes, url) {\n  return routes.find(r => r.path === url).handler;\n}\n"
	    "module.exports = { matchRoute };\n");
	put(b.repo, "src/notes.rs",
	    "// Notes about invoice totals, orders, discounts, currency, customers; a panic on unwrap.\n"
	    "// Parsing an invoice total with a discount panics for the customer order: unwrap on a None value.\n"
	    "pub fn describe() -> &'static str { \"invoice order total discount currency negative customer\" }\n");
	index_repo(b.repo);
	const char *rq = "Parsing an invoice total with a discount panics for the customer order:\n"
			 "thread 'main' panicked at src/parse/lexer.rs:2:21:\n"
			 "called `Option::unwrap()` on a `None` value\n";
	T_EQ_INT(rank_of(b.repo, rq, 0, "src/parse/lexer.rs"), 1);
	const char *jq = "The invoice total page for a customer order with a discount crashes:\n"
			 "TypeError: Cannot read properties of undefined (reading 'handler')\n"
			 "    at matchRoute (/srv/app/web/lib/router.js:2:43)\n"
			 "    at Layer.handle (/srv/app/node_modules/express/lib/router/layer.js:95:5)\n";
	T_EQ_INT(rank_of(b.repo, jq, 0, "web/lib/router.js"), 1);
	box_done(&b);
}

/* ---- a qualified symbol ---------------------------------------------- */

static void qualified_symbol(void)
{
	struct box b;
	box_init(&b);
	put(b.repo, "billing/invoice.py",
	    "class Invoice:\n    def __init__(self, lines):\n        self.lines = lines\n\n"
	    "    def total_due(self):\n        return sum(l.amount for l in self.lines)\n");
	put(b.repo, "billing/notes.py", decoy_py);
	index_repo(b.repo);
	const char *q = "`billing.invoice.Invoice.total_due` gives a negative total for an invoice order with a "
			"discount; the customer sees a negative amount after rounding in their currency.";
	T_EQ_INT(rank_of(b.repo, q, 0, "billing/invoice.py"), 1);
	T_TRUE(rank_of(b.repo, q, IDX_FEAT_QUERY | IDX_FEAT_SYMBOL | IDX_FEAT_PATH, "billing/invoice.py") > 1);
	box_done(&b);
}

/* ---- the changelog --------------------------------------------------- */

static void changelog_below_code(void)
{
	struct box b;
	box_init(&b);
	put(b.repo, "CHANGELOG.md",
	    "# Changelog\n\n## 2.1.0\n\n- Fixed rounding of negative invoice totals with a discount.\n"
	    "- Invoice totals now keep the currency of the customer order.\n"
	    "- Rounding of discount amounts on invoice totals for negative orders.\n");
	put(b.repo, "shop/money.py",
	    "def round_total(amount, currency):\n    \"\"\"Round an invoice total in its currency.\"\"\"\n"
	    "    return round(amount, 2)\n");
	index_repo(b.repo);
	const char *q = "Rounding of negative invoice totals with a discount is wrong: the invoice total of a "
			"customer order in another currency loses a cent after rounding.";
	/* the changelog repeats the report; the code is where the change goes */
	T_EQ_INT(rank_of(b.repo, q, IDX_FEAT_ASIDE, "CHANGELOG.md"), 1);
	T_EQ_INT(rank_of(b.repo, q, 0, "shop/money.py"), 1);
	/* asked for, the changelog is findable */
	const char *asked = "changelog entry about rounding negative invoice totals with a discount";
	T_EQ_INT(rank_of(b.repo, asked, 0, "CHANGELOG.md"), 1);
	box_done(&b);
}

/* ---- the names table ------------------------------------------------- */

static int64_t count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	T_EQ_INT(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	T_EQ_INT(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void names_table(void)
{
	struct box b;
	box_init(&b);
	put(b.repo, "pkg/reaper.py",
	    "import os\nfrom signal import SIGKILL\n\n"
	    "def reap_children(pids):\n    for p in pids:\n        os.kill(p, SIGKILL)\n        wait_for(p)\n");
	put(b.repo, "cmd/main.go",
	    "package main\n\nimport \"fmt\"\n\nfunc Serve() {\n\tfmt.Println(\"x\")\n}\n");
	put(b.repo, "src/util.c", "#include <stdio.h>\n\nstatic int helper(void)\n{\n\treturn puts(\"x\");\n}\n");
	index_repo(b.repo);
	char db_path[256];
	snprintf(db_path, sizeof(db_path), "%s/.lode/index.db", b.repo);
	sqlite3 *db = NULL;
	T_EQ_INT(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	/* definitions, imports and calls, lower-cased, in Python, Go and C */
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'reap_children' AND kind = 0"), 1);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'sigkill' AND kind = 1"), 1);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'wait_for' AND kind = 2"), 1);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'kill' AND kind = 2"), 1);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'serve' AND kind = 0"), 1);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'fmt' AND kind = 1"), 1);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'println' AND kind = 2"), 1);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'helper' AND kind = 0"), 1);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'puts' AND kind = 2"), 1);
	/* every name belongs to a live chunk */
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE chunk_id NOT IN (SELECT id FROM chunks)"), 0);
	sqlite3_close(db);

	/* an edit replaces the file's names; a deletion removes them */
	put(b.repo, "pkg/reaper.py", "def reap_orphans(pids):\n    return [p for p in pids if p]\n");
	char gone[300];
	snprintf(gone, sizeof(gone), "%s/src/util.c", b.repo);
	T_EQ_INT(unlink(gone), 0);
	index_repo(b.repo);
	T_EQ_INT(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'reap_children'"), 0);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'reap_orphans' AND kind = 0"), 1);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name IN ('helper', 'puts')"), 0);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE chunk_id NOT IN (SELECT id FROM chunks)"), 0);
	sqlite3_close(db);
	box_done(&b);
}

/* An index from before the names table (schema 1) is upgraded by the next index run and gets its names. */
static void names_after_upgrade(void)
{
	struct box b;
	box_init(&b);
	put(b.repo, "pkg/reaper.py", "def reap_children(pids):\n    return pids\n");
	index_repo(b.repo);
	char db_path[256];
	snprintf(db_path, sizeof(db_path), "%s/.lode/index.db", b.repo);
	sqlite3 *db = NULL;
	T_EQ_INT(sqlite3_open(db_path, &db), SQLITE_OK);
	/* back to what schema 1 had */
	T_EQ_INT(sqlite3_exec(db, "DROP TABLE names; PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct base_err err = { 0, "" };
	T_TRUE(idx_reader_open(b.repo, &err) == NULL); /* a reader never migrates */
	T_TRUE(strstr(err.msg, "lode index") != NULL);
	index_repo(b.repo);
	T_EQ_INT(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	T_EQ_INT(count(db, "PRAGMA user_version"), 2);
	T_EQ_INT(count(db, "SELECT count(*) FROM names WHERE name = 'reap_children' AND kind = 0"), 1);
	sqlite3_close(db);
	box_done(&b);
}

/*
 * A chunk that defines a query symbol joins the candidates through the
 * names table although no searched word matches it (lexical search
 * reads no SYMBOL term; in a big repository a frame's function falls
 * outside BM25's depth the same way). A light symbol (a name in a code
 * block) is not looked up.
 */
static void graph_adds_definition(void)
{
	struct box b;
	box_init(&b);
	put(b.repo, "pkg/reaper.py", "def reap_children(pids):\n    for p in pids:\n        p.kill()\n");
	put(b.repo, "pkg/timer.py", "def timeout_seconds():\n    return 30  # the timeout\n");
	index_repo(b.repo);
	char db_path[256];
	snprintf(db_path, sizeof(db_path), "%s/.lode/index.db", b.repo);
	struct base_err err = { 0, "" };
	struct store *s = store_open(db_path, STORE_READ, &err);
	if (!s)
		T_FAIL("store_open: %s", err.msg);
	const struct store_qterm terms[] = {
		{ "timeout", 1.0f, STORE_QT_WORD, false },
		{ "reap_children", 2.5f, STORE_QT_SYMBOL, false },
	};
	struct store_query q = { .text = "timeout", .k = 10, .terms = terms, .nterms = 2 };
	for (int graph = 0; graph < 2; graph++) {
		struct store_fusion f = store_fusion_default;
		if (!graph)
			f.w_graph = 0;
		struct store_hits h = STORE_HITS_INIT;
		T_OK(store_search_hybrid(s, NULL, NULL, &q, NULL, &f, true, &h, &err));
		bool found = false;
		for (size_t i = 0; i < h.n; i++)
			found |= strcmp(h.v[i].path, "pkg/reaper.py") == 0;
		T_EQ_INT(found, graph);
		store_hits_release(&h);
	}
	const struct store_qterm light[] = {
		{ "timeout", 1.0f, STORE_QT_WORD, false },
		{ "reap_children", 1.0f, STORE_QT_SYMBOL, false },
	};
	q.terms = light;
	struct store_hits h = STORE_HITS_INIT;
	T_OK(store_search_hybrid(s, NULL, NULL, &q, NULL, NULL, true, &h, &err));
	for (size_t i = 0; i < h.n; i++)
		T_TRUE(strcmp(h.v[i].path, "pkg/reaper.py") != 0);
	store_hits_release(&h);
	/* the path filters hold for the chunks the graph brings too */
	const char *const only_timer[] = { "pkg/timer.py" };
	q.terms = terms;
	q.globs = only_timer;
	q.nglobs = 1;
	T_OK(store_search_hybrid(s, NULL, NULL, &q, NULL, NULL, true, &h, &err));
	T_EQ_INT(h.n, 1);
	T_EQ_STR(h.v[0].path, "pkg/timer.py");
	store_hits_release(&h);
	store_close(s);
	box_done(&b);
}

static void system_names(void)
{
	enum idx_mode m;
	unsigned off;
	T_TRUE(idx_system_parse("hybrid", &m, &off));
	T_EQ_INT(m, IDX_MODE_HYBRID);
	T_EQ_INT(off, 0);
	T_TRUE(idx_system_parse("hybrid-no-graph-no-query", &m, &off));
	T_EQ_INT(off, IDX_FEAT_GRAPH | IDX_FEAT_QUERY);
	T_TRUE(idx_system_parse("lexical", &m, &off));
	T_EQ_INT(m, IDX_MODE_LEXICAL);
	T_TRUE(!idx_system_parse("hybrid-no-nothing", &m, &off));
	T_TRUE(!idx_system_parse("fuzzy", &m, &off));
	for (unsigned i = 0; i < IDX_FEAT__COUNT; i++) {
		unsigned f;
		T_TRUE(idx_feature_parse(idx_feature_name(1u << i), &f));
		T_EQ_INT(f, 1u << i);
	}
	T_TRUE(idx_feature_name(1u << IDX_FEAT__COUNT) == NULL);
}

T_MAIN(T_ENTRY(traceback_python), T_ENTRY(traceback_java), T_ENTRY(traceback_go), T_ENTRY(traceback_rust_and_js),
       T_ENTRY(qualified_symbol), T_ENTRY(changelog_below_code), T_ENTRY(names_table), T_ENTRY(names_after_upgrade),
       T_ENTRY(graph_adds_definition), T_ENTRY(system_names))
