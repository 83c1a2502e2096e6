/*
 * test_lang.c: the language table. Every grammar loads into Debian's
 * runtime, every definition node type listed exists in its grammar, each
 * file of fixtures/repo/ parses cleanly and has definitions, detection by
 * extension, name and shebang, and definition kinds decided on real nodes.
 */
#include <dirent.h>
#include <pthread.h>

#include "test.h"

#include "indexer/lang.h"

#include "base/banned.h"

static const char *fixtures(void)
{
	const char *f = getenv("LODE_FIXTURES");
	if (!f)
		T_SKIP("LODE_FIXTURES not set (run through ctest)");
	return f;
}

static TSSymbol named_symbol(const TSLanguage *ts, const char *name)
{
	return ts_language_symbol_for_name(ts, name, (uint32_t)strlen(name), true);
}

/* ---- grammars ---------------------------------------------------------- */

static void grammars_load(void)
{
	size_t n = idx_lang_count(), with_grammar = 0;
	T_TRUE(n >= 22);
	TSParser *p = ts_parser_new();
	for (size_t i = 0; i < n; i++) {
		const struct idx_lang *l = idx_lang_at(i);
		T_TRUE(l && l->name && l->defs);
		if (!l->grammar)
			continue;
		with_grammar++;
		const TSLanguage *ts = l->grammar();
		T_TRUE(ts != NULL);
		uint32_t v = ts_language_version(ts);
		if (v < TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION || v > TREE_SITTER_LANGUAGE_VERSION)
			T_FAIL("%s: grammar ABI %u, runtime loads %d..%d", l->name, v,
			       TREE_SITTER_MIN_COMPATIBLE_LANGUAGE_VERSION, TREE_SITTER_LANGUAGE_VERSION);
		if (!ts_parser_set_language(p, ts))
			T_FAIL("%s: ts_parser_set_language refused the grammar", l->name);
	}
	ts_parser_delete(p);
	T_EQ_INT(with_grammar, 17);
	T_TRUE(idx_lang_at(n) == NULL);
}

static void check_types(const struct idx_lang *l, const struct idx_def_type *defs, bool public)
{
	const TSLanguage *ts = l->grammar();
	for (const struct idx_def_type *d = defs; d->node_type; d++) {
		T_TRUE(d->kind && *d->kind);
		TSSymbol s = named_symbol(ts, d->node_type);
		if (s == 0)
			T_FAIL("%s: node type %s is not in the grammar", l->name, d->node_type);
		if (ts_language_symbol_type(ts, s) != TSSymbolTypeRegular)
			T_FAIL("%s: node type %s is not a named node", l->name, d->node_type);
		if (public) {
			T_EQ_STR(idx_lang_def_kind(l, d->node_type), d->kind);
			T_EQ_STR(idx_lang_def_kind_sym(l, s), d->kind);
		} else {
			/* content-dependent: never by name or symbol alone */
			T_TRUE(idx_lang_def_kind(l, d->node_type) == NULL);
			T_TRUE(idx_lang_def_kind_sym(l, s) == NULL);
		}
	}
}

static void node_types_exist(void)
{
	static const char *const vocabulary[] = { "function", "method",    "class",  "struct",      "union",
						  "enum",     "interface", "trait",  "impl",        "module",
						  "namespace", "type",     "macro",  "constructor", "object",
						  "property" };
	for (size_t i = 0; i < idx_lang_count(); i++) {
		const struct idx_lang *l = idx_lang_at(i);
		for (const struct idx_def_type *d = l->defs; d->node_type; d++) {
			bool known = false;
			for (size_t k = 0; k < BASE_ARRAY_LEN(vocabulary); k++)
				known |= strcmp(d->kind, vocabulary[k]) == 0;
			if (!known)
				T_FAIL("%s: %s has kind %s, not in the vocabulary", l->name, d->node_type, d->kind);
		}
		if (!l->grammar) {
			T_TRUE(l->defs[0].node_type == NULL);
			T_TRUE(idx__lang_node_defs(l)[0].node_type == NULL);
			T_TRUE(idx_lang_def_kind(l, "function_definition") == NULL);
			T_TRUE(idx_lang_def_kind_sym(l, 1) == NULL);
			T_TRUE(idx_lang_def_kind_sym(l, 65535) == NULL);
			continue;
		}
		T_TRUE(l->defs[0].node_type != NULL);
		check_types(l, l->defs, true);
		check_types(l, idx__lang_node_defs(l), false);
		/* not definitions */
		const TSLanguage *ts = l->grammar();
		T_TRUE(idx_lang_def_kind(l, "identifier") == NULL);
		T_TRUE(idx_lang_def_kind(l, "") == NULL);
		T_TRUE(idx_lang_def_kind_sym(l, 0) == NULL);
		T_TRUE(idx_lang_def_kind_sym(l, (TSSymbol)ts_language_symbol_count(ts)) == NULL);
		T_TRUE(idx_lang_def_kind_sym(l, 65535) == NULL);
		T_TRUE(idx_lang_def_kind_node(l, (TSNode){ 0 }) == NULL);
	}
}

/* ---- the fixture repository ------------------------------------------ */

struct parse_stats {
	const char *lang;
	unsigned defs;
	unsigned nodes;
};

struct count_ctx {
	const struct idx_lang *l;
	struct parse_stats *st;
};

static void count_visit(TSNode n, void *payload)
{
	struct count_ctx *c = payload;
	c->st->nodes++;
	if (idx_lang_def_kind_node(c->l, n))
		c->st->defs++;
}

static void count_defs(const struct idx_lang *l, TSNode root, struct parse_stats *st)
{
	struct count_ctx c = { l, st };
	idx_lang_walk(root, count_visit, &c);
}

/* The first ERROR or MISSING node, to say where a fixture does not parse. */
static TSNode first_error(TSNode n)
{
	if (ts_node_is_missing(n) || strcmp(ts_node_type(n), "ERROR") == 0)
		return n;
	uint32_t nc = ts_node_child_count(n);
	for (uint32_t i = 0; i < nc; i++) {
		TSNode c = ts_node_child(n, i);
		if (ts_node_has_error(c))
			return first_error(c);
	}
	return n;
}

static void fixtures_parse(void)
{
	char *dir = base_strfmt("%s/repo", fixtures());
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		T_FAIL("cannot list %s", dir);
	struct parse_stats seen[32] = { { 0 } };
	size_t nseen = 0, text_files = 0;
	TSParser *p = ts_parser_new();
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		char *path = base_strfmt("%s/%s", dir, name);
		struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
		if (name[0] == '.' || base_buf_read_file(&data, path, NULL) != BASE_OK) {
			base_buf_release(&data);
			base_free(path);
			free(ents[i]);
			continue;
		}
		const struct idx_lang *l = idx_lang_detect(name, data.data, BASE_MIN(data.len, 512));
		if (!l->grammar) {
			text_files++;
		} else {
			T_TRUE(ts_parser_set_language(p, l->grammar()));
			TSTree *t = ts_parser_parse_string(p, NULL, data.data, (uint32_t)data.len);
			T_TRUE(t != NULL);
			TSNode root = ts_tree_root_node(t);
			if (ts_node_child_count(root) == 0)
				T_FAIL("%s (%s): empty tree", name, l->name);
			if (ts_node_has_error(root)) {
				TSPoint at = ts_node_start_point(first_error(root));
				T_FAIL("%s (%s): syntax error at line %u column %u", name, l->name, at.row + 1,
				       at.column + 1);
			}
			T_TRUE(nseen < BASE_ARRAY_LEN(seen));
			struct parse_stats *st = &seen[nseen++];
			st->lang = l->name;
			count_defs(l, root, st);
			if (st->defs < 3)
				T_FAIL("%s (%s): %u definitions, expected several", name, l->name, st->defs);
			ts_tree_delete(t);
		}
		base_buf_release(&data);
		base_free(path);
		free(ents[i]);
	}
	free(ents);
	ts_parser_delete(p);
	base_free(dir);
	/* one fixture per grammar language, and the text formats */
	for (size_t i = 0; i < idx_lang_count(); i++) {
		const struct idx_lang *l = idx_lang_at(i);
		if (!l->grammar)
			continue;
		bool found = false;
		for (size_t k = 0; k < nseen; k++)
			found |= strcmp(seen[k].lang, l->name) == 0;
		if (!found)
			T_FAIL("no fixture in fixtures/repo for %s", l->name);
	}
	T_TRUE(text_files >= 4);
}

/* ---- detection ---------------------------------------------------------- */

struct detect_case {
	const char *path;
	const char *head; /* NULL: no content */
	const char *lang;
};

static const struct detect_case detect_cases[] = {
	{ "src/main.c", NULL, "c" },
	{ "include/lode.h", NULL, "c" },
	{ "x/y/z.H", NULL, "c" },
	{ "engine.cc", NULL, "cpp" },
	{ "engine.cpp", NULL, "cpp" },
	{ "engine.CXX", NULL, "cpp" },
	{ "engine.hpp", NULL, "cpp" },
	{ "engine.hh", NULL, "cpp" },
	{ "engine.hxx", NULL, "cpp" },
	{ "engine.h++", NULL, "cpp" },
	{ "kernels/gemm.cu", NULL, "cpp" },
	{ "app.py", NULL, "python" },
	{ "stubs/os.pyi", NULL, "python" },
	{ "APP.PY", NULL, "python" },
	{ "tools/defs.bzl", NULL, "python" },
	{ "third_party/BUILD", NULL, "python" },
	{ "web/index.js", NULL, "javascript" },
	{ "web/mod.mjs", NULL, "javascript" },
	{ "web/mod.cjs", NULL, "javascript" },
	{ "web/App.jsx", NULL, "javascript" },
	{ "web/api.ts", NULL, "typescript" },
	{ "web/types.d.ts", NULL, "typescript" },
	{ "web/mod.mts", NULL, "typescript" },
	{ "web/mod.cts", NULL, "typescript" },
	{ "web/App.tsx", NULL, "tsx" },
	{ "cmd/server/main.go", NULL, "go" },
	{ "src/lib.rs", NULL, "rust" },
	{ "src/main/java/Foo.java", NULL, "java" },
	{ "Program.cs", NULL, "csharp" },
	{ "app/models/user.rb", NULL, "ruby" },
	{ "lib/tasks/db.rake", NULL, "ruby" },
	{ "lode.gemspec", NULL, "ruby" },
	{ "Rakefile", NULL, "ruby" },
	{ "Gemfile", NULL, "ruby" },
	{ "config.ru", NULL, "ruby" },
	{ "index.php", NULL, "php" },
	{ "build.sh", NULL, "bash" },
	{ "lib.bash", NULL, "bash" },
	{ "prompt.zsh", NULL, "bash" },
	{ "home/.bashrc", NULL, "bash" },
	{ "Main.kt", NULL, "kotlin" },
	{ "build.gradle.kts", NULL, "kotlin" },
	{ "Main.scala", NULL, "scala" },
	{ "script.sc", NULL, "scala" },
	{ "init.lua", NULL, "lua" },
	{ "App.swift", NULL, "swift" },
	{ "README.md", NULL, "markdown" },
	{ "docs/guide.markdown", NULL, "markdown" },
	{ "package.json", NULL, "json" },
	{ ".vscode/settings.JSONC", NULL, "json" },
	{ "ci.yml", NULL, "yaml" },
	{ "deploy.YAML", NULL, "yaml" },
	{ ".clang-format", NULL, "yaml" },
	{ "Cargo.toml", NULL, "toml" },
	{ "Cargo.lock", NULL, "toml" },
	/* shebangs on extension-less scripts */
	{ "bin/tool", "#!/usr/bin/env python3\nimport sys\n", "python" },
	{ "bin/tool", "#!/usr/bin/python3.11 -u\n", "python" },
	{ "bin/tool", "#!/bin/sh\nset -e\n", "bash" },
	{ "bin/tool", "#! /bin/bash\n", "bash" },
	{ "bin/tool", "#!/usr/bin/env bash\r\necho hi\r\n", "bash" },
	{ "bin/tool", "#!/bin/zsh -f\n", "bash" },
	{ "bin/tool", "#!/usr/bin/env ruby\n", "ruby" },
	{ "bin/tool", "#!/usr/bin/env node\n", "javascript" },
	{ "bin/tool", "#!/usr/bin/env -S node --experimental-vm-modules\n", "javascript" },
	{ "bin/tool", "#!/usr/bin/env -S deno run --allow-net\n", "typescript" },
	{ "bin/tool", "#!/usr/bin/php\n<?php\n", "php" },
	{ "bin/tool", "#!/usr/bin/env lua5.4\n", "lua" },
	{ "bin/tool", "#!/usr/bin/env LC_ALL=C python\n", "python" },
	{ "bin/tool.cgi", "#!/usr/bin/perl\n", "text" },
	{ "bin/tool", "#!/usr/bin/env\n", "text" },
	{ "bin/tool", "#!", "text" },
	{ "bin/tool", "#", "text" },
	{ "bin/tool", "#!/bin/sh", "bash" }, /* no newline within the head */
	/* the extension wins over the shebang */
	{ "tool.py", "#!/bin/sh\n", "python" },
	/* everything else is text */
	{ "Makefile", NULL, "text" },
	{ "Dockerfile", NULL, "text" },
	{ "notes.txt", NULL, "text" },
	{ "LICENSE", "MIT License\n", "text" },
	{ ".gitignore", NULL, "text" },
	{ "archive.tar.gz", NULL, "text" },
	{ "dir.d/file", NULL, "text" },
	{ "trailingdot.", NULL, "text" },
	{ ".h", NULL, "text" },
	{ "", NULL, "text" },
	{ "src/", NULL, "text" },
};

static void detect_table(void)
{
	T_TRUE(BASE_ARRAY_LEN(detect_cases) >= 40);
	for (size_t i = 0; i < BASE_ARRAY_LEN(detect_cases); i++) {
		const struct detect_case *c = &detect_cases[i];
		size_t len = c->head ? strlen(c->head) : 0;
		const struct idx_lang *l = idx_lang_detect(c->path, c->head, len);
		T_TRUE(l != NULL);
		if (strcmp(l->name, c->lang) != 0)
			T_FAIL("case %zu: detect(\"%s\", \"%s\") = %s, expected %s", i, c->path,
			       c->head ? c->head : "(null)", l->name, c->lang);
	}
	/* a head cut short must not be read past its length */
	const char sheb[] = "#!/usr/bin/env python3\n";
	T_EQ_STR(idx_lang_detect("x", sheb, 5)->name, "text");
	T_EQ_STR(idx_lang_detect("x", sheb, 16)->name, "text"); /* "#!/usr/bin/env p" */
	T_EQ_STR(idx_lang_detect("x", sheb, 22)->name, "python");
	T_EQ_STR(idx_lang_detect(NULL, NULL, 0)->name, "text");
}

static void find_names(void)
{
	for (size_t i = 0; i < idx_lang_count(); i++) {
		const struct idx_lang *l = idx_lang_at(i);
		T_TRUE(idx_lang_find(l->name) == l);
		for (size_t k = 0; k < i; k++)
			T_TRUE(strcmp(idx_lang_at(k)->name, l->name) != 0);
	}
	static const char *const alias[][2] = {
		{ "py", "python" }, { "C++", "cpp" },   { "c#", "csharp" },   { "c_sharp", "csharp" },
		{ "JS", "javascript" }, { "ts", "typescript" }, { "golang", "go" }, { "sh", "bash" },
		{ "yml", "yaml" }, { "MD", "markdown" }, { "Python", "python" },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(alias); i++) {
		const struct idx_lang *l = idx_lang_find(alias[i][0]);
		T_TRUE(l != NULL);
		T_EQ_STR(l->name, alias[i][1]);
	}
	T_TRUE(idx_lang_find("cobol") == NULL);
	T_TRUE(idx_lang_find("") == NULL);
	T_TRUE(idx_lang_find(NULL) == NULL);
}

/* ---- definition kinds on real nodes ----------------------------------- */

struct kind_case {
	const char *lang;
	const char *src;
	const char *node_type; /* the first node of this type ... */
	const char *kind;      /* ... has this kind (NULL: not a definition) */
};

static const struct kind_case kind_cases[] = {
	{ "c", "struct point { int x, y; };\n", "struct_specifier", "struct" },
	{ "c", "struct point *origin;\n", "struct_specifier", NULL },
	{ "c", "union u { int i; float f; };\n", "union_specifier", "union" },
	{ "c", "void f(enum color c);\n", "enum_specifier", NULL },
	{ "c", "typedef struct { int n; } count_t;\n", "type_definition", "type" },
	{ "c", "#define MAX(a, b) ((a) > (b) ? (a) : (b))\n", "preproc_function_def", "macro" },
	{ "c", "static int add(int a, int b) { return a + b; }\n", "function_definition", "function" },
	{ "cpp", "class Shape { public: virtual ~Shape(); };\n", "class_specifier", "class" },
	{ "cpp", "class Shape;\n", "class_specifier", NULL },
	{ "cpp", "namespace geo { int n; }\n", "namespace_definition", "namespace" },
	{ "python", "@dataclass\nclass P:\n    x: int\n", "decorated_definition", "class" },
	{ "python", "@cache\ndef f():\n    return 1\n", "decorated_definition", "function" },
	{ "python", "class P:\n    def m(self):\n        pass\n", "class_definition", "class" },
	{ "javascript", "const add = (a, b) => a + b;\n", "lexical_declaration", "function" },
	{ "javascript", "let f = function () { return 1; };\n", "lexical_declaration", "function" },
	{ "javascript", "var g = function* () {};\n", "variable_declaration", "function" },
	{ "javascript", "const Klass = class { m() {} };\n", "lexical_declaration", "class" },
	{ "javascript", "const limit = 10;\n", "lexical_declaration", NULL },
	{ "javascript", "let x;\n", "lexical_declaration", NULL },
	{ "javascript", "class A { m() { return 1; } }\n", "method_definition", "method" },
	{ "typescript", "export const h = async (x: number): Promise<void> => {};\n", "lexical_declaration",
	  "function" },
	{ "typescript", "interface Shape { area(): number; }\n", "interface_declaration", "interface" },
	{ "typescript", "namespace Geo { export const n = 1; }\n", "internal_module", "namespace" },
	{ "tsx", "const App = () => <div>hi</div>;\n", "lexical_declaration", "function" },
	{ "go", "type Point struct { X, Y int }\n", "type_declaration", "type" },
	{ "go", "func (p Point) Norm() float64 { return 0 }\n", "method_declaration", "method" },
	{ "rust", "impl Point { fn norm(&self) -> f64 { 0.0 } }\n", "impl_item", "impl" },
	{ "rust", "macro_rules! sq { ($x:expr) => { $x * $x }; }\n", "macro_definition", "macro" },
	{ "ruby", "module Geo\n  class Point\n  end\nend\n", "module", "module" },
	{ "ruby", "class Point\n  def norm\n    0\n  end\nend\n", "method", "method" },
	{ "kotlin", "data class Point(val x: Int)\n", "class_declaration", "class" },
	{ "kotlin", "object Registry {\n    fun get() = 1\n}\n", "object_declaration", "object" },
	{ "kotlin", "interface Shape {\n    val area: Double\n}\n", "class_declaration", "interface" },
	{ "kotlin", "enum class Color { RED, GREEN }\n", "class_declaration", "enum" },
	{ "swift", "struct Point { var x = 0 }\n", "class_declaration", "struct" },
	{ "swift", "enum Color { case red }\n", "class_declaration", "enum" },
	{ "swift", "extension Point { func norm() -> Int { 0 } }\n", "class_declaration", "impl" },
	{ "swift", "class View { init() {} }\n", "class_declaration", "class" },
	{ "swift", "class View { init() {} }\n", "init_declaration", "constructor" },
	{ "csharp", "class A { public int N { get; set; } }\n", "property_declaration", "property" },
	{ "java", "class A { A() {} }\n", "constructor_declaration", "constructor" },
	{ "php", "<?php\ntrait T { function f() {} }\n", "trait_declaration", "trait" },
	{ "scala", "object Main { def run(): Unit = () }\n", "object_definition", "object" },
	{ "lua", "local function f() end\n", "function_declaration", "function" },
	{ "lua", "local f = function() end\n", "function_definition", NULL },
	{ "lua", "function Stack:push(v) end\n", "function_declaration", "method" },
	{ "lua", "function M.helper(v) end\n", "function_declaration", "function" },
	{ "bash", "greet() { echo hi; }\n", "function_definition", "function" },
};

static bool find_node(TSNode n, const char *type, TSNode *out)
{
	if (strcmp(ts_node_type(n), type) == 0 && ts_node_is_named(n)) {
		*out = n;
		return true;
	}
	uint32_t nc = ts_node_child_count(n);
	for (uint32_t i = 0; i < nc; i++)
		if (find_node(ts_node_child(n, i), type, out))
			return true;
	return false;
}

static void kinds_on_nodes(void)
{
	TSParser *p = ts_parser_new();
	for (size_t i = 0; i < BASE_ARRAY_LEN(kind_cases); i++) {
		const struct kind_case *c = &kind_cases[i];
		const struct idx_lang *l = idx_lang_find(c->lang);
		T_TRUE(l && l->grammar);
		T_TRUE(ts_parser_set_language(p, l->grammar()));
		TSTree *t = ts_parser_parse_string(p, NULL, c->src, (uint32_t)strlen(c->src));
		TSNode root = ts_tree_root_node(t), n;
		if (ts_node_has_error(root))
			T_FAIL("case %zu (%s): the snippet does not parse", i, c->lang);
		if (!find_node(root, c->node_type, &n))
			T_FAIL("case %zu (%s): no %s node", i, c->lang, c->node_type);
		const char *k = idx_lang_def_kind_node(l, n);
		if (c->kind ? !k || strcmp(k, c->kind) != 0 : k != NULL)
			T_FAIL("case %zu (%s): %s is %s, expected %s", i, c->lang, c->node_type, k ? k : "(none)",
			       c->kind ? c->kind : "(none)");
		ts_tree_delete(t);
	}
	ts_parser_delete(p);
}

/* Ruby's `module` keyword is an anonymous token spelled like the named
 * `module` node: by name it matches, by symbol or node it does not. */
static void anonymous_tokens(void)
{
	const struct idx_lang *rb = idx_lang_find("ruby");
	const TSLanguage *ts = rb->grammar();
	TSSymbol kw = ts_language_symbol_for_name(ts, "module", 6, false);
	T_TRUE(kw != 0);
	T_TRUE(idx_lang_def_kind_sym(rb, kw) == NULL);
	T_EQ_STR(idx_lang_def_kind_sym(rb, named_symbol(ts, "module")), "module");
	T_EQ_STR(idx_lang_def_kind(rb, "module"), "module");

	TSParser *p = ts_parser_new();
	T_TRUE(ts_parser_set_language(p, ts));
	const char *src = "module M\nend\n";
	TSTree *t = ts_parser_parse_string(p, NULL, src, (uint32_t)strlen(src));
	TSNode mod = ts_node_named_child(ts_tree_root_node(t), 0);
	T_EQ_STR(ts_node_type(mod), "module");
	T_EQ_STR(idx_lang_def_kind_node(rb, mod), "module");
	TSNode keyword = ts_node_child(mod, 0);
	T_EQ_STR(ts_node_type(keyword), "module");
	T_TRUE(!ts_node_is_named(keyword));
	T_TRUE(idx_lang_def_kind_node(rb, keyword) == NULL);
	ts_tree_delete(t);
	ts_parser_delete(p);
}

/* A caller's own struct idx_lang (the text chunker's tests make some). */
static void foreign_lang(void)
{
	static const struct idx_def_type defs[] = { { "function_definition", "function" }, { NULL, NULL } };
	const struct idx_lang bare = { "c", NULL, NULL };
	const struct idx_lang own = { "c", idx_lang_find("c")->grammar, defs };
	T_TRUE(idx_lang_def_kind(&bare, "function_definition") == NULL);
	T_TRUE(idx_lang_def_kind_sym(&bare, 1) == NULL);
	T_EQ_STR(idx_lang_def_kind(&own, "function_definition"), "function");
	T_TRUE(idx_lang_def_kind(&own, "struct_specifier") == NULL);
	TSSymbol s = named_symbol(own.grammar(), "function_definition");
	T_EQ_STR(idx_lang_def_kind_sym(&own, s), "function");
	T_TRUE(idx__lang_node_defs(&own)[0].node_type == NULL);
}

/* The tables are built on first use, from any thread. */
static void *lookup_many(void *arg)
{
	const struct idx_lang *l = arg;
	TSSymbol s = named_symbol(l->grammar(), "function_definition");
	for (int i = 0; i < 1000; i++)
		if (!idx_lang_def_kind_sym(l, s) || !idx_lang_def_kind(l, "function_definition"))
			return (void *)1;
	return NULL;
}

static void concurrent_init(void)
{
	pthread_t th[8];
	const struct idx_lang *l = idx_lang_find("python");
	for (int i = 0; i < 8; i++)
		T_TRUE(pthread_create(&th[i], NULL, lookup_many, (void *)l) == 0);
	for (int i = 0; i < 8; i++) {
		void *rv;
		T_TRUE(pthread_join(th[i], &rv) == 0);
		T_TRUE(rv == NULL);
	}
}

T_MAIN(T_ENTRY(grammars_load), T_ENTRY(node_types_exist), T_ENTRY(fixtures_parse), T_ENTRY(detect_table),
       T_ENTRY(find_names), T_ENTRY(kinds_on_nodes), T_ENTRY(anonymous_tokens), T_ENTRY(foreign_lang),
       T_ENTRY(concurrent_init))
