/*
 * test_query.c: query analysis (indexer/query.h) on crafted bug reports —
 * tracebacks of six languages, qualified names, boilerplate, a report
 * whose prose matches a changelog better than the code.
 */
#include "test.h"

#include "indexer/query.h"

#include "base/banned.h"

static void dump(const struct idx_query_info *q)
{
	fprintf(stderr, "  terms:");
	for (size_t i = 0; i < q->terms.n; i++)
		fprintf(stderr, " %s(%s %.2f)", q->terms.v[i].text, idx_term_kind_name(q->terms.v[i].kind),
			(double)q->terms.v[i].weight);
	fprintf(stderr, "\n  paths:");
	for (size_t i = 0; i < q->paths.n; i++)
		fprintf(stderr, " %s:%u(%.2f%s)", q->paths.v[i].path, q->paths.v[i].line, (double)q->paths.v[i].weight,
			q->paths.v[i].library ? " lib" : "");
	fprintf(stderr, "\n  symbols:");
	for (size_t i = 0; i < q->symbols.n; i++)
		fprintf(stderr, " %s[%s](%.2f%s)", q->symbols.v[i].name,
			q->symbols.v[i].qualified ? q->symbols.v[i].qualified : "", (double)q->symbols.v[i].weight,
			q->symbols.v[i].library ? " lib" : "");
	fprintf(stderr, "\n  lexical: %s\n", q->lexical);
}

#define CHECK(q, cond)                                                      \
	do {                                                                \
		if (!(cond)) {                                              \
			dump(q);                                            \
			T_FAIL("expected: %s", #cond);                      \
		}                                                           \
	} while (0)

static const struct idx_path_hint *path_hint(const struct idx_query_info *q, const char *path)
{
	for (size_t i = 0; i < q->paths.n; i++)
		if (strcmp(q->paths.v[i].path, path) == 0)
			return &q->paths.v[i];
	return NULL;
}

static const struct idx_symbol_hint *symbol_hint(const struct idx_query_info *q, const char *name)
{
	for (size_t i = 0; i < q->symbols.n; i++)
		if (strcmp(q->symbols.v[i].name, name) == 0)
			return &q->symbols.v[i];
	return NULL;
}

static const struct idx_query_term *term(const struct idx_query_info *q, const char *text)
{
	for (size_t i = 0; i < q->terms.n; i++)
		if (strcmp(q->terms.v[i].text, text) == 0)
			return &q->terms.v[i];
	return NULL;
}

static bool has_path_line(const struct idx_query_info *q, const char *path, uint32_t line)
{
	const struct idx_path_hint *h = path_hint(q, path);
	return h && h->line == line && !h->library;
}

static void analyze(struct idx_query_info *q, const char *text)
{
	T_OK(idx_query_analyze(text, strlen(text), q, NULL));
}

static void python_traceback(void)
{
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "Saving a model with a JSON field fails.\n"
		    "\n"
		    "```\n"
		    "Traceback (most recent call last):\n"
		    "  File \"/home/me/venv/lib/python3.11/site-packages/click/core.py\", line 1130, in __call__\n"
		    "    return self.main(*args, **kwargs)\n"
		    "  File \"app/models/fields.py\", line 88, in get_prep_value\n"
		    "    return json.dumps(value, cls=self.encoder)\n"
		    "  File \"/usr/lib/python3.11/json/__init__.py\", line 238, in dumps\n"
		    "    **kw).encode(obj)\n"
		    "TypeError: Object of type Decimal is not JSON serializable\n"
		    "```\n");
	CHECK(&q, has_path_line(&q, "app/models/fields.py", 88));
	const struct idx_path_hint *lib = path_hint(&q, "/usr/lib/python3.11/json/__init__.py");
	CHECK(&q, lib && lib->library && lib->line == 238);
	CHECK(&q, path_hint(&q, "/home/me/venv/lib/python3.11/site-packages/click/core.py")->library);
	const struct idx_symbol_hint *s = symbol_hint(&q, "get_prep_value");
	CHECK(&q, s && !s->library && s->weight >= IDX_W_SYMBOL);
	/* the library frame's function is a weak hint */
	CHECK(&q, symbol_hint(&q, "dumps")->weight < s->weight);
	/* the module named by the path, the error class, the message */
	CHECK(&q, term(&q, "fields") && term(&q, "fields")->kind == IDX_TERM_MODULE);
	CHECK(&q, term(&q, "TypeError") && term(&q, "TypeError")->kind == IDX_TERM_ERROR);
	CHECK(&q, term(&q, "serializable") && term(&q, "serializable")->kind == IDX_TERM_MESSAGE);
	CHECK(&q, term(&q, "Decimal") != NULL);
	/* "Traceback", "File", "line" are scaffolding, not terms */
	CHECK(&q, !term(&q, "Traceback") && !term(&q, "File") && !term(&q, "line"));
	/* the top term is the project frame's path */
	CHECK(&q, strcmp(q.terms.v[0].text, "app/models/fields.py") == 0);
	idx_query_info_release(&q);
}

static void java_traceback(void)
{
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "Exception in thread \"main\" java.lang.IllegalStateException: Reader closed\n"
		    "\tat com.acme.io.LineReader.readLine(LineReader.java:57)\n"
		    "\tat com.acme.io.LineReader$Buffer.fill(LineReader.java:112)\n"
		    "\tat java.base/java.io.BufferedReader.read(BufferedReader.java:182)\n"
		    "\tat com.acme.App.main(App.java:12)\n"
		    "Caused by: com.acme.io.StreamGoneException: underlying stream was closed\n"
		    "\t... 3 more\n");
	CHECK(&q, has_path_line(&q, "com/acme/io/LineReader.java", 57));
	CHECK(&q, has_path_line(&q, "com/acme/App.java", 12));
	const struct idx_symbol_hint *s = symbol_hint(&q, "readLine");
	CHECK(&q, s && s->qualified && strcmp(s->qualified, "com.acme.io.LineReader.readLine") == 0);
	CHECK(&q, symbol_hint(&q, "LineReader") && symbol_hint(&q, "fill"));
	CHECK(&q, term(&q, "com.acme.io.LineReader.readLine")->kind == IDX_TERM_QUALIFIED);
	/* a project exception is a symbol; a JDK one is a weak error term */
	CHECK(&q, symbol_hint(&q, "StreamGoneException") != NULL);
	CHECK(&q, term(&q, "IllegalStateException")->weight <= IDX_W_ERROR_BUILTIN + 0.01f);
	CHECK(&q, !symbol_hint(&q, "IllegalStateException"));
	CHECK(&q, term(&q, "closed") && term(&q, "closed")->kind == IDX_TERM_MESSAGE);
	/* the JDK frame is library code */
	const struct idx_symbol_hint *jdk = symbol_hint(&q, "read");
	CHECK(&q, jdk && jdk->library);
	idx_query_info_release(&q);
}

static void go_traceback(void)
{
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "panic: runtime error: invalid memory address or nil pointer dereference\n"
		    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]\n"
		    "\n"
		    "goroutine 1 [running]:\n"
		    "github.com/acme/cache/lru.(*Cache).Evict(0x0, 0x5)\n"
		    "\t/home/ci/src/cache/lru/lru.go:142 +0x1d\n"
		    "github.com/acme/cache.Get(...)\n"
		    "\t/home/ci/src/cache/cache.go:33\n"
		    "runtime.goexit()\n"
		    "\t/usr/local/go/src/runtime/asm_amd64.s:1650 +0x1\n");
	CHECK(&q, has_path_line(&q, "/home/ci/src/cache/lru/lru.go", 142));
	CHECK(&q, has_path_line(&q, "/home/ci/src/cache/cache.go", 33));
	const struct idx_symbol_hint *s = symbol_hint(&q, "Evict");
	CHECK(&q, s && s->qualified && strcmp(s->qualified, "lru.Cache.Evict") == 0 && !s->library);
	CHECK(&q, symbol_hint(&q, "Cache") && symbol_hint(&q, "Get"));
	CHECK(&q, symbol_hint(&q, "goexit") && symbol_hint(&q, "goexit")->library);
	CHECK(&q, term(&q, "dereference") && term(&q, "dereference")->kind == IDX_TERM_MESSAGE);
	CHECK(&q, !term(&q, "goroutine"));
	idx_query_info_release(&q);
}

static void js_traceback(void)
{
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "TypeError: Cannot read properties of undefined (reading 'headers')\n"
		    "    at parseRequest (src/http/request.js:41:17)\n"
		    "    at Router.handle (/srv/app/src/router.js:120:5)\n"
		    "    at Layer.handle [as handle_request] (/srv/app/node_modules/express/lib/router/layer.js:95:5)\n"
		    "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n"
		    "    at async Server.listen (src/server.ts:9:3)\n");
	CHECK(&q, has_path_line(&q, "src/http/request.js", 41));
	CHECK(&q, has_path_line(&q, "/srv/app/src/router.js", 120));
	CHECK(&q, has_path_line(&q, "src/server.ts", 9));
	CHECK(&q, path_hint(&q, "/srv/app/node_modules/express/lib/router/layer.js")->library);
	CHECK(&q, symbol_hint(&q, "parseRequest") && !symbol_hint(&q, "parseRequest")->library);
	CHECK(&q, symbol_hint(&q, "handle") && symbol_hint(&q, "Router"));
	CHECK(&q, symbol_hint(&q, "listen") != NULL);
	CHECK(&q, term(&q, "headers") && term(&q, "headers")->kind == IDX_TERM_MESSAGE);
	idx_query_info_release(&q);
}

static void rust_traceback(void)
{
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "thread 'main' panicked at src/lexer/number.rs:77:18:\n"
		    "called `Option::unwrap()` on a `None` value\n"
		    "stack backtrace:\n"
		    "   0: rust_begin_unwind\n"
		    "             at /rustc/abc123/library/std/src/panicking.rs:597:5\n"
		    "   1: core::panicking::panic\n"
		    "   2: toyc::lexer::number::parse_float::h0123456789abcdef\n"
		    "             at ./src/lexer/number.rs:77:18\n"
		    "   3: toyc::lexer::Lexer::next_token\n"
		    "             at ./src/lexer/mod.rs:210:9\n"
		    "note: run with `RUST_BACKTRACE=full` for a verbose backtrace.\n");
	CHECK(&q, has_path_line(&q, "src/lexer/number.rs", 77));
	CHECK(&q, has_path_line(&q, "src/lexer/mod.rs", 210));
	CHECK(&q, path_hint(&q, "/rustc/abc123/library/std/src/panicking.rs")->library);
	const struct idx_symbol_hint *s = symbol_hint(&q, "parse_float");
	CHECK(&q, s && s->qualified && strcmp(s->qualified, "toyc::lexer::number::parse_float") == 0);
	CHECK(&q, symbol_hint(&q, "next_token") && symbol_hint(&q, "Lexer"));
	CHECK(&q, symbol_hint(&q, "panic") && symbol_hint(&q, "panic")->library);
	CHECK(&q, term(&q, "Option::unwrap") && term(&q, "Option::unwrap")->kind == IDX_TERM_QUALIFIED);
	idx_query_info_release(&q);
}

static void c_gdb_traceback(void)
{
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "Program received signal SIGSEGV, Segmentation fault.\n"
		    "(gdb) bt\n"
		    "#0  0x00007ffff7e4a8f5 in __strlen_avx2 () from /lib/x86_64-linux-gnu/libc.so.6\n"
		    "#1  0x0000555555555189 in buf_append (b=0x0, s=0x5555 \"x\") at src/buf.c:88\n"
		    "#2  0x00005555555551d0 in main (argc=1, argv=0x7fffffffe0a8) at src/main.c:12\n"
		    "\n"
		    "ASan says:\n"
		    "    #0 0x4f2a1b in hash_insert /work/proj/src/hash.c:201:7\n");
	CHECK(&q, has_path_line(&q, "src/buf.c", 88));
	CHECK(&q, has_path_line(&q, "src/main.c", 12));
	CHECK(&q, has_path_line(&q, "/work/proj/src/hash.c", 201));
	CHECK(&q, symbol_hint(&q, "buf_append") && !symbol_hint(&q, "buf_append")->library);
	CHECK(&q, symbol_hint(&q, "hash_insert") != NULL);
	CHECK(&q, symbol_hint(&q, "__strlen_avx2") && symbol_hint(&q, "__strlen_avx2")->library);
	idx_query_info_release(&q);
}

static void qualified_symbol(void)
{
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "When I call django.db.models.QuerySet.bulk_update() with an empty list of fields "
		    "nothing is raised, but `Model.objects.bulk_create` does raise. In Ruby terms this is "
		    "like Array#flatten, and in C++ std::vector::emplace_back. See e.g. the docs at "
		    "https://docs.example.com/x.html for more.\n");
	const struct idx_symbol_hint *s = symbol_hint(&q, "bulk_update");
	CHECK(&q, s && s->qualified && strcmp(s->qualified, "django.db.models.QuerySet.bulk_update") == 0);
	CHECK(&q, symbol_hint(&q, "QuerySet") != NULL);
	CHECK(&q, term(&q, "models") && term(&q, "models")->kind == IDX_TERM_MODULE);
	CHECK(&q, symbol_hint(&q, "bulk_create") && symbol_hint(&q, "flatten") &&
		      symbol_hint(&q, "emplace_back"));
	CHECK(&q, term(&q, "Array#flatten") && term(&q, "std::vector::emplace_back"));
	/* abbreviations and URLs are not names */
	CHECK(&q, !term(&q, "e.g") && !term(&q, "docs.example.com") && !symbol_hint(&q, "com"));
	/* names outrank prose */
	CHECK(&q, term(&q, "bulk_update")->weight > term(&q, "empty")->weight * 3);
	CHECK(&q, term(&q, "empty")->kind == IDX_TERM_PROSE);
	idx_query_info_release(&q);
}

static void changelog_report(void)
{
	/* Every prose word here is also in a changelog entry ("Fixed a
	 * regression in 4.2 where saving ... timezone ... datetime"); the
	 * analysis must put the code symbol and the module first. */
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "Regression in 4.2: saving a model with an aware datetime converts it to the "
		    "wrong timezone again. This was fixed before (see the release notes for 4.1.3) "
		    "but the regression is back. The culprit seems to be `adapt_datetimefield_value` "
		    "in the sqlite backend operations.\n");
	CHECK(&q, strcmp(q.terms.v[0].text, "adapt_datetimefield_value") == 0);
	CHECK(&q, symbol_hint(&q, "adapt_datetimefield_value") != NULL);
	CHECK(&q, term(&q, "regression")->weight < q.terms.v[0].weight / 3);
	/* the lexical text leads with the symbol, boosted */
	CHECK(&q, strncmp(q.lexical, "adapt_datetimefield_value adapt_datetimefield_value", 51) == 0);
	idx_query_info_release(&q);
}

static void subject_area(void)
{
	/* "area: summary" on the first line names modules; later lines and prose colons do not */
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "net/http: keep the Host header on redirects\n\nnote: see the fix in transport.go\n");
	CHECK(&q, term(&q, "net") && term(&q, "net")->kind == IDX_TERM_MODULE);
	CHECK(&q, term(&q, "http") && term(&q, "http")->kind == IDX_TERM_MODULE);
	CHECK(&q, term(&q, "note") == NULL || term(&q, "note")->kind != IDX_TERM_MODULE);
	CHECK(&q, term(&q, "redirects") && term(&q, "redirects")->kind == IDX_TERM_PROSE);
	idx_query_info_release(&q);
	analyze(&q, "Saving fails: the model is not saved\n");
	CHECK(&q, term(&q, "Saving") == NULL || term(&q, "Saving")->kind != IDX_TERM_MODULE);
	idx_query_info_release(&q);
	analyze(&q, "ignore/types: add PKGBUILD type\n");
	CHECK(&q, term(&q, "ignore") && term(&q, "ignore")->kind == IDX_TERM_MODULE);
	CHECK(&q, term(&q, "types") && term(&q, "types")->kind == IDX_TERM_MODULE);
	idx_query_info_release(&q);
}

static void boilerplate_dropped(void)
{
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "<!--\n"
		    "Thanks for contributing! Please fill in the template.\n"
		    "-->\n"
		    "### Describe the bug\n"
		    "A clear and concise description of what the bug is.\n"
		    "The `render_toc` helper drops nested headings.\n"
		    "\n"
		    "### Steps to reproduce\n"
		    "1. Go to 'page'\n"
		    "2. Click on 'toc'\n"
		    "3. See error\n"
		    "\n"
		    "- [x] I have searched the existing issues\n"
		    "\n"
		    "**Expected behavior**\n"
		    "nested headings appear\n"
		    "\n"
		    "### Environment\n"
		    "- OS: Ubuntu 22.04\n"
		    "- Python version: 3.11.4\n"
		    "- Browser: firefox\n"
		    "\n"
		    "```\n"
		    "$ pip freeze\n"
		    "markdownx==4.0.1\n"
		    "zebrapkg==1.2.3\n"
		    "```\n"
		    "\n"
		    "## Notes\n"
		    "Python 3.11.4 (main, Jun  7 2023, 12:45:48) [GCC 11.3.0] on linux\n"
		    "platform linux -- Python 3.11.4, pytest-7.4.0, pluggy-1.2.0\n"
		    "OS: macOS 13.4\n"
		    "rustc 1.70.0 (90c541806 2023-05-31)\n");
	CHECK(&q, symbol_hint(&q, "render_toc") != NULL);
	CHECK(&q, term(&q, "nested") && term(&q, "headings"));
	/* template text, checklists, environment dumps, banners are gone */
	static const char *const gone[] = {
		"Describe", "describe", "Steps", "reproduce", "concise", "Thanks", "contributing", "searched",
		"Expected", "Environment", "Ubuntu", "firefox", "markdownx", "zebrapkg", "pip", "freeze",
		"macOS", "GCC", "pytest", "pluggy", "rustc", "Click", "page", "toc", "linux", "Python",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(gone); i++) {
		if (term(&q, gone[i])) {
			dump(&q);
			T_FAIL("boilerplate term kept: %s", gone[i]);
		}
	}
	CHECK(&q, q.dropped_bytes > 300);
	idx_query_info_release(&q);
}

static void limits_and_empty(void)
{
	struct idx_query_info q = IDX_QUERY_INFO_INIT;
	analyze(&q, "");
	T_EQ_INT(q.terms.n, 0);
	T_EQ_STR(q.lexical, "");
	idx_query_info_release(&q);
	/* not NUL-terminated, binary bytes: no crash, words still found */
	char raw[] = { 'f', 'o', 'o', '_', 'b', 'a', 'r', ' ', '\0', (char)0xff, ' ', 'x', '.', 'p', 'y', ':', '3' };
	T_OK(idx_query_analyze(raw, sizeof(raw), &q, NULL));
	CHECK(&q, term(&q, "foo_bar") && has_path_line(&q, "x.py", 3));
	idx_query_info_release(&q);
	struct base_err err;
	size_t big = IDX_QUERY_MAX + 1;
	char *huge = base_malloc(big);
	memset(huge, 'a', big);
	T_EQ_INT(idx_query_analyze(huge, big, &q, &err), BASE_E_TOOBIG);
	T_TRUE(strstr(err.msg, "limit") != NULL);
	T_EQ_INT(q.terms.n, 0);
	base_free(huge);
	/* a long random-ish report stays linear and sane */
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_QUERY);
	t_seed = 42;
	for (int i = 0; i < 20000; i++)
		T_OK(base_buf_addf(&b, "w%llu%s", (unsigned long long)(t_rand() % 5000), i % 17 ? " " : ".\n"));
	T_OK(idx_query_analyze(b.data, b.len, &q, NULL));
	T_TRUE(q.terms.n > 1000 && q.terms.n <= 5000);
	for (size_t i = 1; i < q.terms.n; i++)
		T_TRUE(q.terms.v[i - 1].weight >= q.terms.v[i].weight);
	idx_query_info_release(&q);
	base_buf_release(&b);
}

T_MAIN(T_ENTRY(python_traceback), T_ENTRY(java_traceback), T_ENTRY(go_traceback), T_ENTRY(js_traceback),
       T_ENTRY(rust_traceback), T_ENTRY(c_gdb_traceback), T_ENTRY(qualified_symbol), T_ENTRY(changelog_report),
       T_ENTRY(boilerplate_dropped), T_ENTRY(limits_and_empty), T_ENTRY(subject_area))
