/*
 * test_chunk_text.c: the structure-aware text chunker (markdown, json,
 * yaml, toml, plain text): golden boundaries per format, edge cases, the
 * fixtures under fixtures/text/, and the coverage property on random
 * inputs that mix all the syntaxes.
 *
 * LODE_SEED and LODE_ROUNDS change the random test's seed and size.
 */
#include <sys/stat.h>

#include "test.h"

#include "indexer/chunk.h"
#include "indexer/lang.h"

#include "base/banned.h"

/* Languages as the chunker sees them; no grammar, no definitions. */
static const struct idx_lang *lang_named(const char *name)
{
	static const struct idx_lang langs[] = {
		{ "markdown", NULL, NULL }, { "json", NULL, NULL }, { "yaml", NULL, NULL },  { "toml", NULL, NULL },
		{ "text", NULL, NULL },     { "c", NULL, NULL },    { "Makefile", NULL, NULL },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(langs); i++)
		if (strcmp(langs[i].name, name) == 0)
			return &langs[i];
	T_FAIL("no test language %s", name);
}

static const char *const all_langs[] = { "markdown", "json", "yaml", "toml", "text", "c" };

/* The kinds a language may produce. */
static bool kind_ok(const char *lang, const char *kind)
{
	if (strcmp(lang, "markdown") == 0)
		return strcmp(kind, "section") == 0;
	if (strcmp(lang, "json") == 0 || strcmp(lang, "yaml") == 0)
		return strcmp(kind, "key") == 0 || strcmp(kind, "item") == 0 || strcmp(kind, "text") == 0;
	if (strcmp(lang, "toml") == 0)
		return strcmp(kind, "table") == 0;
	return strcmp(kind, "text") == 0;
}

static void print_chunks(const struct idx_chunks *cs)
{
	for (size_t i = 0; i < cs->c.n; i++) {
		const struct idx_chunk *c = &cs->c.v[i];
		fprintf(stderr, "\t\t{ %u, %u, \"%s\", %s%s%s, %s%s%s },\n", c->start_byte, c->end_byte, c->kind,
			c->symbol ? "\"" : "", c->symbol ? c->symbol : "NULL", c->symbol ? "\"" : "",
			c->scope ? "\"" : "", c->scope ? c->scope : "NULL", c->scope ? "\"" : "");
	}
}

/* Every property a file's chunks must have. */
static void check_chunks(const char *what, const char *lang, const char *data, size_t len, unsigned max,
			 const struct idx_chunks *cs)
{
	if (len == 0) {
		if (cs->c.n != 0)
			T_FAIL("%s: %zu chunks for an empty input", what, cs->c.n);
		return;
	}
	if (cs->c.n == 0)
		T_FAIL("%s: no chunks for %zu bytes", what, len);
	size_t at = 0;
	for (size_t i = 0; i < cs->c.n; i++) {
		const struct idx_chunk *c = &cs->c.v[i];
		if (c->start_byte != at || c->end_byte <= c->start_byte) {
			print_chunks(cs);
			T_FAIL("%s: chunk %zu is [%u,%u), expected to start at %zu", what, i, c->start_byte,
			       c->end_byte, at);
		}
		size_t size = idx__nonws(data, c->start_byte, c->end_byte);
		if (size > max)
			T_FAIL("%s: chunk %zu [%u,%u) has %zu non-space bytes, limit %u", what, i, c->start_byte,
			       c->end_byte, size, max);
		if (!c->kind || !kind_ok(lang, c->kind))
			T_FAIL("%s: chunk %zu has kind %s", what, i, c->kind ? c->kind : "(null)");
		if ((c->symbol && !*c->symbol) || (c->scope && !*c->scope))
			T_FAIL("%s: chunk %zu has an empty symbol or scope", what, i);
		if (c->symbol && strlen(c->symbol) > 200)
			T_FAIL("%s: chunk %zu has a %zu-byte symbol", what, i, strlen(c->symbol));
		at = c->end_byte;
	}
	if (at != len)
		T_FAIL("%s: chunks end at %zu, input at %zu", what, at, len);
}

static void chunk(const char *lang, const char *data, size_t len, unsigned max, struct idx_chunks *cs)
{
	T_OK(idx__chunk_text(lang_named(lang), data, len, max, cs));
	check_chunks(lang, lang, data, len, max ? max : IDX_DEFAULT_MAX_CHUNK, cs);
}

static bool same_opt(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* ---- goldens -------------------------------------------------------------- */

struct want {
	unsigned start, end;
	const char *kind, *symbol, *scope;
};

struct golden {
	const char *name, *lang;
	unsigned max;
	const char *input;
	struct want want[16]; /* up to the first with kind NULL */
};

/*
 * The max sizes are small so that the structure shows: at the default
 * limit most of these inputs are one merged chunk.
 */
static const struct golden goldens[] = {
	{ "md_nested_small", "markdown", 12,
	  "# A\n"
	  "a\n"
	  "## A1\n"
	  "a1\n"
	  "## A2\n"
	  "a2\n"
	  "# B\n"
	  "b\n"
	  "### B1\n"
	  "b1\n"
	  "## B2\n"
	  "b2\n",
	  {
		{ 0, 15, "section", "A", NULL },
		{ 15, 24, "section", "A2", "A" },
		{ 24, 40, "section", "B", NULL },
		{ 40, 49, "section", "B2", "B" },
	  } },
	{ "md_nested_merged", "markdown", 1500,
	  "# A\n"
	  "a\n"
	  "## A1\n"
	  "a1\n"
	  "## A2\n"
	  "a2\n"
	  "# B\n"
	  "b\n"
	  "### B1\n"
	  "b1\n"
	  "## B2\n"
	  "b2\n",
	  {
		{ 0, 49, "section", "A", NULL },
	  } },
	{ "md_scope_chain", "markdown", 8,
	  "# Install\n"
	  "## Linux\n"
	  "### Debian\n"
	  "apt\n"
	  "### Arch\n"
	  "pacman\n"
	  "## macOS\n"
	  "brew\n",
	  {
		{ 0, 10, "section", "Install", NULL },
		{ 10, 19, "section", "Linux", "Install" },
		{ 19, 28, "section", "Debian", "Install > Linux" },
		{ 28, 34, "section", "Debian", "Install > Linux" },
		{ 34, 43, "section", "Arch", "Install > Linux" },
		{ 43, 50, "section", "Arch", "Install > Linux" },
		{ 50, 59, "section", "macOS", "Install" },
		{ 59, 64, "section", "macOS", "Install" },
	  } },
	{ "md_fences", "markdown", 30,
	  "# Build\n"
	  "\n"
	  "~~~\n"
	  "# in tilde\n"
	  "```\n"
	  "~~~\n"
	  "\n"
	  "````md\n"
	  "```\n"
	  "# nested\n"
	  "```\n"
	  "````\n"
	  "\n"
	  "## Real\n"
	  "\n"
	  "1. step:\n"
	  "   ```sh\n"
	  "   # comment\n"
	  "   ```\n"
	  "\n"
	  "    # indented code\n"
	  "\n"
	  "x ```inline``` y\n"
	  "# After\n",
	  {
		{ 0, 33, "section", "Build", NULL },
		{ 33, 63, "section", "Build", NULL },
		{ 63, 111, "section", "Real", "Build" },
		{ 111, 149, "section", "Real", "Build" },
		{ 149, 157, "section", "After", NULL },
	  } },
	{ "md_setext", "markdown", 20,
	  "Intro para.\n"
	  "\n"
	  "Title\n"
	  "=====\n"
	  "\n"
	  "- item\n"
	  "---\n"
	  "\n"
	  "after rule\n"
	  "\n"
	  "---\n"
	  "\n"
	  "Sub Title\n"
	  "---\n"
	  "\n"
	  "> quote\n"
	  "---\n"
	  "\n"
	  "end\n",
	  {
		{ 0, 13, "section", NULL, NULL },
		{ 13, 38, "section", "Title", NULL },
		{ 38, 55, "section", "Title", NULL },
		{ 55, 83, "section", "Sub Title", "Title" },
		{ 83, 87, "section", "Sub Title", "Title" },
	  } },
	{ "md_atx_edges", "markdown", 10,
	  "#NoSpace\n"
	  "####### seven\n"
	  "  ### Three ###  \n"
	  "#\n"
	  "    # code\n"
	  "## Closing #s#\n",
	  {
		{ 0, 9, "section", NULL, NULL },
		{ 9, 20, "section", NULL, NULL },
		{ 20, 23, "section", NULL, NULL },
		{ 23, 37, "section", "Three", NULL },
		{ 37, 41, "section", "Three", NULL },
		{ 41, 54, "section", NULL, NULL },
		{ 54, 66, "section", "Closing #s#", NULL },
		{ 66, 69, "section", "Closing #s#", NULL },
	  } },
	{ "md_inline_not_fence", "markdown", 6,
	  "# A\n"
	  "```not a fence```\n"
	  "\n"
	  "# B\n"
	  "text\n"
	  "-\n",
	  {
		{ 0, 4, "section", "A", NULL },
		{ 4, 11, "section", "A", NULL },
		{ 11, 18, "section", "A", NULL },
		{ 18, 23, "section", "A", NULL },
		{ 23, 32, "section", "B", NULL },
		{ 32, 34, "section", "B", NULL },
	  } },
	{ "md_setext_paragraph", "markdown", 10,
	  "- item\n"
	  "  continued\n"
	  "---\n"
	  "\n"
	  "> q\n"
	  "lazy\n"
	  "===\n"
	  "\n"
	  "Heading on\r\n"
	  "two lines\r\n"
	  "---\n"
	  "body\n",
	  {
		{ 0, 7, "section", NULL, NULL },
		{ 7, 19, "section", NULL, NULL },
		{ 19, 24, "section", NULL, NULL },
		{ 24, 38, "section", NULL, NULL },
		{ 38, 50, "section", "Heading on two lines", NULL },
		{ 50, 61, "section", "Heading on two lines", NULL },
		{ 61, 70, "section", "Heading on two lines", NULL },
	  } },
	{ "md_rule_not_front_matter", "markdown", 10,
	  "---\n"
	  "\n"
	  "# Real heading\n"
	  "\n"
	  "text\n"
	  "\n"
	  "---\n"
	  "\n"
	  "## Two\n",
	  {
		{ 0, 5, "section", NULL, NULL },
		{ 5, 17, "section", "Real heading", NULL },
		{ 17, 21, "section", "Real heading", NULL },
		{ 21, 32, "section", "Real heading", NULL },
		{ 32, 39, "section", "Two", "Real heading" },
	  } },
	{ "md_crlf", "markdown", 8,
	  "pre\r\n"
	  "\r\n"
	  "# One #\r\n"
	  "\r\n"
	  "text\r\n"
	  "\r\n"
	  "Two\r\n"
	  "===\r\n"
	  "\r\n"
	  "## Three\r\n"
	  "x",
	  {
		{ 0, 7, "section", NULL, NULL },
		{ 7, 18, "section", "One", NULL },
		{ 18, 26, "section", "One", NULL },
		{ 26, 38, "section", "Two", NULL },
		{ 38, 49, "section", "Three", "Two" },
	  } },
	{ "md_front_matter", "markdown", 20,
	  "---\n"
	  "title: x\n"
	  "layout: post\n"
	  "---\n"
	  "\n"
	  "Body\n"
	  "---\n"
	  "# H\n",
	  {
		{ 0, 13, "section", NULL, NULL },
		{ 13, 31, "section", NULL, NULL },
		{ 31, 40, "section", "Body", NULL },
		{ 40, 44, "section", "H", NULL },
	  } },
	{ "md_leading_blank", "markdown", 1500,
	  "\n"
	  "\n"
	  "# Title\n"
	  "text\n",
	  {
		{ 0, 15, "section", "Title", NULL },
	  } },
	{ "md_no_newline", "markdown", 3,
	  "# A\n"
	  "# B",
	  {
		{ 0, 4, "section", "A", NULL },
		{ 4, 7, "section", "B", NULL },
	  } },
	{ "json_object", "json", 20,
	  "{\n"
	  "  \"name\": \"lode\",\n"
	  "  \"version\": \"1.0.0\",\n"
	  "  \"scripts\": {\n"
	  "    \"build\": \"make\",\n"
	  "    \"test\": \"ctest\"\n"
	  "  },\n"
	  "  \"files\": [\"a\", \"b\"]\n"
	  "}\n",
	  {
		{ 0, 20, "key", "name", NULL },
		{ 20, 42, "key", "version", NULL },
		{ 42, 57, "key", "scripts", NULL },
		{ 57, 78, "key", "scripts", NULL },
		{ 78, 103, "key", "scripts", NULL },
		{ 103, 127, "key", "files", NULL },
	  } },
	{ "json_minified", "json", 8,
	  "{\"a\":1,\"b\":{\"c\":[1,{\"d\":\"},\"}]},\"e\\\"q\\u00e9\\ud83d\\ude00\":\"x,y\"}",
	  {
		{ 0, 7, "key", "a", NULL },
		{ 7, 15, "key", "b", NULL },
		{ 15, 23, "key", "b", NULL },
		{ 23, 31, "key", "b", NULL },
		{ 31, 32, "key", "b", NULL },
		{ 32, 40, "key", "e\"q\xC3\xA9\xF0\x9F\x98\x80", NULL },
		{ 40, 48, "key", "e\"q\xC3\xA9\xF0\x9F\x98\x80", NULL },
		{ 48, 56, "key", "e\"q\xC3\xA9\xF0\x9F\x98\x80", NULL },
		{ 56, 63, "key", "e\"q\xC3\xA9\xF0\x9F\x98\x80", NULL },
	  } },
	{ "json_comments", "json", 12,
	  "// settings\n"
	  "{\n"
	  "  // the editor\n"
	  "  \"editor.fontSize\": 14, // px\n"
	  "  \"files.exclude\": {\n"
	  "    \"**/.git\": true,\n"
	  "  },\n"
	  "}\n",
	  {
		{ 0, 14, "key", "editor.fontSize", NULL },
		{ 14, 30, "key", "editor.fontSize", NULL },
		{ 30, 44, "key", "editor.fontSize", NULL },
		{ 44, 59, "key", "editor.fontSize", NULL },
		{ 59, 61, "key", "editor.fontSize", NULL },
		{ 61, 75, "key", "files.exclude", NULL },
		{ 75, 82, "key", "files.exclude", NULL },
		{ 82, 99, "key", "files.exclude", NULL },
		{ 99, 110, "key", "files.exclude", NULL },
	  } },
	{ "json_array", "json", 15,
	  "[\n"
	  "  {\"id\": 1, \"name\": \"a\"},\n"
	  "  {\"id\": 2, \"name\": \"b\"}\n"
	  "]\n",
	  {
		{ 0, 2, "item", NULL, NULL },
		{ 2, 22, "item", NULL, NULL },
		{ 22, 28, "item", NULL, NULL },
		{ 28, 48, "item", NULL, NULL },
		{ 48, 55, "item", NULL, NULL },
	  } },
	{ "json_bom_escapes", "json", 30,
	  "\xEF\xBB\xBF{\"\\u0041\\uZZ\\ud800x\\q\": 1,\n"
	  " \"b\" : 2}",
	  {
		{ 0, 30, "key", "A\\uZZ\xEF\xBF\xBDx\\q", NULL },
		{ 30, 39, "key", "b", NULL },
	  } },
	{ "json_scalar", "json", 5,
	  "\"just a string\"\n",
	  {
		{ 0, 6, "text", NULL, NULL },
		{ 6, 12, "text", NULL, NULL },
		{ 12, 16, "text", NULL, NULL },
	  } },
	{ "json_lines", "json", 5,
	  "{\"a\":1}\n"
	  "{\"b\":2}\n",
	  {
		{ 0, 5, "text", NULL, NULL },
		{ 5, 8, "text", NULL, NULL },
		{ 8, 13, "text", NULL, NULL },
		{ 13, 16, "text", NULL, NULL },
	  } },
	{ "json_unclosed", "json", 6,
	  "{\n"
	  "  \"a\": 1,\n"
	  "  \"b\": [1, 2\n",
	  {
		{ 0, 2, "text", NULL, NULL },
		{ 2, 12, "text", NULL, NULL },
		{ 12, 21, "text", NULL, NULL },
		{ 21, 25, "text", NULL, NULL },
	  } },
	{ "json_unquoted_key", "json", 5,
	  "{ a: 1, b: 2 }",
	  {
		{ 0, 8, "text", NULL, NULL },
		{ 8, 14, "text", NULL, NULL },
	  } },
	{ "json_empty_object", "json", 5,
	  " {}\n",
	  {
		{ 0, 4, "text", NULL, NULL },
	  } },
	{ "json_crlf", "json", 10,
	  "{\r\n"
	  "  \"a\": 1,\r\n"
	  "  \"b\": 2\r\n"
	  "}\r\n",
	  {
		{ 0, 14, "key", "a", NULL },
		{ 14, 27, "key", "b", NULL },
	  } },
	{ "yaml_keys", "yaml", 25,
	  "# Config file\n"
	  "\n"
	  "name: lode\n"
	  "version: 1\n"
	  "\n"
	  "# the build\n"
	  "build:\n"
	  "  steps:\n"
	  "    - make\n"
	  "  # indented comment\n"
	  "script: |\n"
	  "  key: not a key\n"
	  "\"quoted key\": 2\n"
	  "? complex\n"
	  ": value\n"
	  "url: http://x:80 # c\n"
	  "c:d\n",
	  {
		{ 0, 26, "key", "name", NULL },
		{ 26, 38, "key", "version", NULL },
		{ 38, 66, "key", "build", NULL },
		{ 66, 98, "key", "build", NULL },
		{ 98, 125, "key", "script", NULL },
		{ 125, 151, "key", "quoted key", NULL },
		{ 151, 159, "key", "quoted key", NULL },
		{ 159, 184, "key", "url", NULL },
	  } },
	{ "yaml_documents", "yaml", 1500,
	  "---\n"
	  "apiVersion: v1\n"
	  "kind: Service\n"
	  "---\n"
	  "# second\n"
	  "apiVersion: apps/v1\n"
	  "kind: Deployment\n"
	  "...\n"
	  "loose: 1\n"
	  "--- |\n"
	  "  literal\n"
	  "root: scalar\n"
	  "---\n"
	  "last: 1\n",
	  {
		{ 0, 33, "key", "apiVersion", NULL },
		{ 33, 87, "key", "apiVersion", NULL },
		{ 87, 96, "key", "loose", NULL },
		{ 96, 125, "text", NULL, NULL },
		{ 125, 137, "key", "last", NULL },
	  } },
	{ "yaml_items", "yaml", 10,
	  "- name: Install deps\n"
	  "  apt: pkg=x\n"
	  "- name: \"Start it\"\n"
	  "  service: x\n"
	  "- hosts: all\n",
	  {
		{ 0, 12, "item", "Install deps", NULL },
		{ 12, 21, "item", "Install deps", NULL },
		{ 21, 34, "item", "Install deps", NULL },
		{ 34, 46, "item", "Start it", NULL },
		{ 46, 53, "item", "Start it", NULL },
		{ 53, 66, "item", "Start it", NULL },
		{ 66, 79, "item", NULL, NULL },
	  } },
	{ "yaml_malformed", "yaml", 6,
	  "a: \"unclosed\n"
	  "\tb: tab\n"
	  "[x: 1\n"
	  ": e\n"
	  "'k: 1\n",
	  {
		{ 0, 7, "key", "a", NULL },
		{ 7, 13, "key", "a", NULL },
		{ 13, 21, "key", "a", NULL },
		{ 21, 31, "key", "a", NULL },
		{ 31, 37, "key", "a", NULL },
	  } },
	{ "yaml_crlf", "yaml", 12,
	  "a: 1\r\n"
	  "\r\n"
	  "# about b\r\n"
	  "b:\r\n"
	  "  - x\r\n",
	  {
		{ 0, 8, "key", "a", NULL },
		{ 8, 30, "key", "b", NULL },
	  } },
	{ "toml_tables", "toml", 25,
	  "# Project\n"
	  "title = \"x\"\n"
	  "\n"
	  "# The package\n"
	  "[package]\n"
	  "name = \"lode\"\n"
	  "matrix = [\n"
	  "  [1, 2],\n"
	  "]\n"
	  "doc = \"\"\"\n"
	  "[not.a.table]\n"
	  "\"\"\"\n"
	  "\n"
	  "[ deps . \"serde.json\" ] # c\n"
	  "serde = \"1\"\n"
	  "\n"
	  "[[bin]]\n"
	  "name = \"a\"\n"
	  "\n"
	  "[[bin]]\n"
	  "name = \"b\"\n"
	  "[a.b]\n"
	  "x = 1\n"
	  "[a.c]\n"
	  "y = 2\n"
	  "[d.e]\n"
	  "z = 3\n",
	  {
		{ 0, 23, "table", NULL, NULL },
		{ 23, 47, "table", "package", NULL },
		{ 47, 82, "table", "package", NULL },
		{ 82, 113, "table", "package", NULL },
		{ 113, 141, "table", "deps.\"serde.json\"", NULL },
		{ 141, 154, "table", "deps.\"serde.json\"", NULL },
		{ 154, 174, "table", "bin", NULL },
		{ 174, 205, "table", "bin", NULL },
		{ 205, 217, "table", "a.c", NULL },
		{ 217, 229, "table", "d.e", NULL },
	  } },
	{ "toml_no_root", "toml", 1500,
	  "# c\n"
	  "\n"
	  "[x]\n"
	  "a=1\n",
	  {
		{ 0, 13, "table", "x", NULL },
	  } },
	{ "toml_malformed", "toml", 3,
	  "a = [1,\n"
	  "[b]\n"
	  "c = 1\n"
	  "[c\n"
	  "\"\"\"\n"
	  "[d]\n",
	  {
		{ 0, 5, "table", NULL, NULL },
		{ 5, 8, "table", NULL, NULL },
		{ 8, 12, "table", "b", NULL },
		{ 12, 18, "table", "b", NULL },
		{ 18, 21, "table", "b", NULL },
		{ 21, 25, "table", "b", NULL },
		{ 25, 29, "table", "b", NULL },
	  } },
	{ "toml_crlf", "toml", 6,
	  "[x]\r\n"
	  "k = 1\r\n"
	  "\r\n"
	  "[y]\r\n"
	  "k = 2",
	  {
		{ 0, 14, "table", "x", NULL },
		{ 14, 24, "table", "y", NULL },
	  } },
	{ "yaml_directive", "yaml", 6,
	  "%YAML 1.2\n"
	  "---\n"
	  "key: 1\n"
	  "other: 2\n",
	  {
		{ 0, 7, "key", "key", NULL },
		{ 7, 14, "key", "key", NULL },
		{ 14, 21, "key", "key", NULL },
		{ 21, 28, "key", "other", NULL },
		{ 28, 30, "key", "other", NULL },
	  } },
	{ "yaml_quoted_keys", "yaml", 8,
	  "plain: 1\n"
	  "\"a\\\"b\\u00e9\": 2\n"
	  "'it''s': 3\n"
	  "'x'y: 4\n",
	  {
		{ 0, 9, "key", "plain", NULL },
		{ 9, 17, "key", "a\"b\xC3\xA9", NULL },
		{ 17, 25, "key", "a\"b\xC3\xA9", NULL },
		{ 25, 34, "key", "it's", NULL },
		{ 34, 44, "key", "it's", NULL },
	  } },
	{ "toml_strings", "toml", 10,
	  "s = \"\"\"x\\\"\"\"\n"
	  "[not]\n"
	  "\"\"\"\n"
	  "[yes]\n"
	  "t = \"\"\"\"\"quoted\"\"\"\"\"\n"
	  "[also]\n",
	  {
		{ 0, 13, "table", NULL, NULL },
		{ 13, 23, "table", NULL, NULL },
		{ 23, 29, "table", "yes", NULL },
		{ 29, 41, "table", "yes", NULL },
		{ 41, 50, "table", "yes", NULL },
		{ 50, 57, "table", "also", NULL },
	  } },
	{ "toml_recovery", "toml", 5,
	  "a = [1,\n"
	  "[b]\n"
	  "  [c]\n"
	  "d = [\n"
	  "  [1],\n"
	  "  [\"x\"],\n"
	  "]\n"
	  "[e]\n",
	  {
		{ 0, 8, "table", NULL, NULL },
		{ 8, 12, "table", "b", NULL },
		{ 12, 18, "table", "c", NULL },
		{ 18, 24, "table", "c", NULL },
		{ 24, 31, "table", "c", NULL },
		{ 31, 38, "table", "c", NULL },
		{ 38, 42, "table", "c", NULL },
		{ 42, 46, "table", "e", NULL },
	  } },
	{ "text_paragraphs", "text", 20,
	  "para one\n"
	  "line two\n"
	  "\n"
	  "\n"
	  "para two\n"
	  "\n"
	  "para three is longer\n"
	  "and more\n",
	  {
		{ 0, 20, "text", NULL, NULL },
		{ 20, 30, "text", NULL, NULL },
		{ 30, 51, "text", NULL, NULL },
		{ 51, 60, "text", NULL, NULL },
	  } },
	{ "text_other_lang", "Makefile", 15,
	  "all:\n"
	  "\tcc -o x x.c\n"
	  "\n"
	  "clean:\n"
	  "\trm x\n",
	  {
		{ 0, 19, "text", NULL, NULL },
		{ 19, 32, "text", NULL, NULL },
	  } },
};

static void golden_cases(void)
{
	int failed = 0;
	for (size_t g = 0; g < BASE_ARRAY_LEN(goldens); g++) {
		const struct golden *t = &goldens[g];
		struct idx_chunks cs = IDX_CHUNKS_INIT;
		size_t len = strlen(t->input);
		T_OK(idx__chunk_text(lang_named(t->lang), t->input, len, t->max, &cs));
		check_chunks(t->name, t->lang, t->input, len, t->max, &cs);
		size_t n = 0;
		while (n < BASE_ARRAY_LEN(t->want) && t->want[n].kind)
			n++;
		bool ok = cs.c.n == n;
		for (size_t i = 0; ok && i < n; i++) {
			const struct idx_chunk *c = &cs.c.v[i];
			const struct want *w = &t->want[i];
			ok = c->start_byte == w->start && c->end_byte == w->end && strcmp(c->kind, w->kind) == 0 &&
			     same_opt(c->symbol, w->symbol) && same_opt(c->scope, w->scope);
		}
		if (!ok) {
			fprintf(stderr, "  golden %s differs; got:\n", t->name);
			print_chunks(&cs);
			failed++;
		}
		idx_chunks_release(&cs);
	}
	T_EQ_INT(failed, 0);
}

/* ---- edge cases ----------------------------------------------------------- */

static void empty_input(void)
{
	for (size_t l = 0; l < BASE_ARRAY_LEN(all_langs); l++) {
		struct idx_chunks cs = IDX_CHUNKS_INIT;
		T_OK(idx__chunk_text(lang_named(all_langs[l]), "", 0, 100, &cs));
		T_EQ_INT(cs.c.n, 0);
		idx_chunks_release(&cs);
	}
}

static void whitespace_only(void)
{
	static const char *const inputs[] = { " ", "\n", "\n\n\n", " \t\r\n  \r\n\t", "\r\n\r\n" };
	for (size_t l = 0; l < BASE_ARRAY_LEN(all_langs); l++) {
		for (size_t i = 0; i < BASE_ARRAY_LEN(inputs); i++) {
			struct idx_chunks cs = IDX_CHUNKS_INIT;
			chunk(all_langs[l], inputs[i], strlen(inputs[i]), 20, &cs);
			/* nothing to cut on: one chunk, no symbol */
			T_EQ_INT(cs.c.n, 1);
			T_TRUE(cs.c.v[0].symbol == NULL);
			idx_chunks_release(&cs);
		}
	}
}

/* A huge single line: cut every max non-space bytes, in every language. */
static void huge_single_line(void)
{
	size_t n = 1 << 20;
	char *data = base_malloc(n);
	memset(data, 'x', n);
	memcpy(data, "# ", 2); /* a markdown heading, a yaml/toml comment */
	for (size_t l = 0; l < BASE_ARRAY_LEN(all_langs); l++) {
		struct idx_chunks cs = IDX_CHUNKS_INIT;
		chunk(all_langs[l], data, n, 1500, &cs);
		T_EQ_INT(cs.c.n, (n - 1 + 1499) / 1500);
		if (strcmp(all_langs[l], "markdown") == 0) {
			/* the heading's text is the symbol, cut to 200 bytes */
			T_TRUE(cs.c.v[0].symbol != NULL);
			T_EQ_INT(strlen(cs.c.v[0].symbol), 200);
			T_EQ_STR(cs.c.v[cs.c.n - 1].symbol, cs.c.v[0].symbol);
		}
		idx_chunks_release(&cs);
	}
	base_free(data);
}

/* Long symbols are cut at a UTF-8 boundary, never inside a character. */
static void long_symbol_utf8(void)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	T_OK(base_buf_adds(&b, "{\"x"));
	for (int i = 0; i < 300; i++)
		T_OK(base_buf_adds(&b, "\xC3\xA9")); /* é */
	T_OK(base_buf_adds(&b, "\": 1, \"b\": 2}\n"));
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk("json", b.data, b.len, 1500, &cs);
	const char *s = cs.c.v[0].symbol;
	T_EQ_INT(strlen(s), 199); /* "x" and 99 é: a 200th byte would split one */
	T_EQ_INT((unsigned char)s[197], 0xC3);
	T_EQ_INT((unsigned char)s[198], 0xA9);
	idx_chunks_release(&cs);
	base_buf_release(&b);
}

/* CRLF never leaks a '\r' into a symbol or scope. */
static void crlf_symbols(void)
{
	static const struct {
		const char *lang, *input, *symbols[4];
	} cases[] = {
		{ "markdown", "# One\r\ntext\r\n## Two ##\r\nmore\r\n\r\nThree\r\n===\r\n", { "One", "Two", "Three" } },
		{ "json", "{\r\n  \"a\": 1,\r\n  \"b\": 2\r\n}\r\n", { "a", "b" } },
		{ "yaml", "a: 1\r\n# about b\r\nb:\r\n  - x\r\n\"c\": 3\r\n", { "a", "b", "c" } },
		{ "toml", "[x]\r\nk = 1\r\n[y.z] # c\r\nk = 2\r\n", { "x", "y.z" } },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(cases); i++) {
		struct idx_chunks cs = IDX_CHUNKS_INIT;
		/* a limit of 1 keeps every section apart */
		chunk(cases[i].lang, cases[i].input, strlen(cases[i].input), 1, &cs);
		size_t k = 0;
		for (size_t c = 0; c < cs.c.n; c++) {
			const char *sym = cs.c.v[c].symbol;
			T_TRUE(!cs.c.v[c].scope || !strchr(cs.c.v[c].scope, '\r'));
			if (!sym || (k > 0 && strcmp(sym, cases[i].symbols[k - 1]) == 0))
				continue;
			T_TRUE(k < 3 && cases[i].symbols[k]);
			T_EQ_STR(sym, cases[i].symbols[k]);
			k++;
		}
		T_TRUE(k == 3 || !cases[i].symbols[k]);
		idx_chunks_release(&cs);
	}
}

/* max_size 0 means the default limit. */
static void default_limit(void)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	for (int i = 0; i < 400; i++)
		T_OK(base_buf_addf(&b, "line %d of some text\n", i));
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk("text", b.data, b.len, 0, &cs);
	T_TRUE(cs.c.n > 1);
	for (size_t i = 0; i < cs.c.n; i++)
		T_TRUE(idx__nonws(b.data, cs.c.v[i].start_byte, cs.c.v[i].end_byte) <= IDX_DEFAULT_MAX_CHUNK);
	idx_chunks_release(&cs);
	base_buf_release(&b);
}

/* An unknown language name, like a grammar language that fell back, is text. */
static void unknown_language_is_text(void)
{
	const char *src = "int main(void)\n{\n\treturn 0;\n}\n\n# not a heading\n";
	struct idx_chunks a = IDX_CHUNKS_INIT, b = IDX_CHUNKS_INIT;
	chunk("c", src, strlen(src), 8, &a);
	chunk("text", src, strlen(src), 8, &b);
	T_EQ_INT(a.c.n, b.c.n);
	for (size_t i = 0; i < a.c.n; i++) {
		T_EQ_INT(a.c.v[i].end_byte, b.c.v[i].end_byte);
		T_EQ_STR(a.c.v[i].kind, "text");
		T_TRUE(a.c.v[i].symbol == NULL);
	}
	idx_chunks_release(&a);
	idx_chunks_release(&b);
}

/* ---- fixtures ------------------------------------------------------------- */

static const char *fixtures(void)
{
	const char *f = getenv("LODE_FIXTURES");
	struct stat st;
	if (f)
		return f;
	if (stat("fixtures/text", &st) == 0)
		return "fixtures"; /* run from the source tree */
	T_SKIP("LODE_FIXTURES not set (run through ctest)");
}

static const struct idx_chunk *find_symbol(const struct idx_chunks *cs, const char *sym)
{
	for (size_t i = 0; i < cs->c.n; i++)
		if (cs->c.v[i].symbol && strcmp(cs->c.v[i].symbol, sym) == 0)
			return &cs->c.v[i];
	return NULL;
}

static void chunk_fixture(const char *name, const char *lang, unsigned max, struct base_buf *data,
			  struct idx_chunks *cs)
{
	char *path = base_strfmt("%s/text/%s", fixtures(), name);
	T_OK(base_buf_read_file(data, path, NULL));
	base_free(path);
	T_OK(idx__chunk_text(lang_named(lang), data->data, data->len, max, cs));
	check_chunks(name, lang, data->data, data->len, max, cs);
}

static bool starts_with(const struct base_buf *data, const struct idx_chunk *c, const char *prefix)
{
	return strncmp(data->data + c->start_byte, prefix, strlen(prefix)) == 0;
}

static void fixture_markdown(void)
{
	struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk_fixture("README.md", "markdown", 100, &data, &cs);
	/* front matter and the HTML logo: the preamble */
	T_TRUE(cs.c.v[0].symbol == NULL);
	const struct idx_chunk *c = find_symbol(&cs, "lode");
	T_TRUE(c && starts_with(&data, c, "lode\n====\n"));
	c = find_symbol(&cs, "Linux");
	T_TRUE(c && starts_with(&data, c, "### Linux"));
	T_EQ_STR(c->scope, "lode > Installation");
	c = find_symbol(&cs, "Searching"); /* setext, level 2 */
	T_TRUE(c && starts_with(&data, c, "Searching\n---"));
	T_EQ_STR(c->scope, "lode");
	/* '#' lines in fences and indented code are not headings */
	T_TRUE(find_symbol(&cs, "install the build dependencies") == NULL);
	T_TRUE(find_symbol(&cs, "from the repository root") == NULL);
	T_TRUE(find_symbol(&cs, "this is indented code, not a heading") == NULL);
	idx_chunks_release(&cs);
	/* at the default limit: the preamble, then one chunk for the rest */
	chunk_fixture("README.md", "markdown", IDX_DEFAULT_MAX_CHUNK, &data, &cs);
	T_EQ_INT(cs.c.n, 2);
	T_EQ_STR(cs.c.v[1].symbol, "lode");
	idx_chunks_release(&cs);
	base_buf_release(&data);
}

static void fixture_json(void)
{
	struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk_fixture("package.json", "json", 100, &data, &cs);
	static const char *const keys[] = { "name", "scripts", "dependencies", "devDependencies", "files" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(keys); i++) {
		const struct idx_chunk *c = find_symbol(&cs, keys[i]);
		T_TRUE(c != NULL);
		if (i > 0) /* a member starts at the start of its line */
			T_TRUE(data.data[c->start_byte - 1] == '\n');
	}
	idx_chunks_release(&cs);
	/* JSON with comments and trailing commas */
	chunk_fixture("tsconfig.json", "json", 100, &data, &cs);
	T_EQ_STR(cs.c.v[0].symbol, "compilerOptions");
	const struct idx_chunk *c = find_symbol(&cs, "include");
	T_TRUE(c && starts_with(&data, c, "  \"include\""));
	idx_chunks_release(&cs);
	base_buf_release(&data);
}

static void fixture_yaml(void)
{
	struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk_fixture("deploy.yaml", "yaml", 1500, &data, &cs);
	/* three documents, never merged */
	T_EQ_INT(cs.c.n, 3);
	T_TRUE(starts_with(&data, &cs.c.v[1], "---\n# The server itself."));
	T_TRUE(starts_with(&data, &cs.c.v[2], "---\napiVersion"));
	for (size_t i = 0; i < cs.c.n; i++)
		T_EQ_STR(cs.c.v[i].symbol, "apiVersion");
	idx_chunks_release(&cs);
	chunk_fixture("ci.yml", "yaml", 100, &data, &cs);
	T_EQ_STR(cs.c.v[0].symbol, "name");
	const struct idx_chunk *c = find_symbol(&cs, "env");
	T_TRUE(c && starts_with(&data, c, "env:"));
	c = find_symbol(&cs, "jobs");
	T_TRUE(c && starts_with(&data, c, "jobs:"));
	idx_chunks_release(&cs);
	base_buf_release(&data);
}

static void fixture_toml(void)
{
	struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk_fixture("Cargo.toml", "toml", 100, &data, &cs);
	/* the leading comment goes with [package]; no root table chunk */
	T_EQ_STR(cs.c.v[0].symbol, "package");
	T_TRUE(find_symbol(&cs, "not a table") == NULL);
	const struct idx_chunk *c = find_symbol(&cs, "dependencies");
	T_TRUE(c && starts_with(&data, c, "[dependencies]"));
	T_TRUE(find_symbol(&cs, "profile.release.package.\"*\"") != NULL);
	idx_chunks_release(&cs);
	base_buf_release(&data);
}

static void fixture_text(void)
{
	struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk_fixture("notes.txt", "text", 100, &data, &cs);
	T_TRUE(cs.c.n > 1);
	/* cuts fall at line starts */
	for (size_t i = 1; i < cs.c.n; i++)
		T_TRUE(data.data[cs.c.v[i].start_byte - 1] == '\n');
	idx_chunks_release(&cs);
	chunk_fixture("notes.txt", "text", IDX_DEFAULT_MAX_CHUNK, &data, &cs);
	T_EQ_INT(cs.c.n, 1);
	idx_chunks_release(&cs);
	base_buf_release(&data);
}

/* ---- random inputs -------------------------------------------------------- */

/* Pieces of every syntax the chunker knows, to be thrown together. */
static const char *const fragments[] = {
	/* markdown */
	"# Title\n", "## Sub section\n", "###### deep\n", "#no\n", "Heading\n", "=====\n", "---\n", "```\n",
	"```c\n", "~~~\n", "````\n", "    # indented\n", "> quote\n", "- item\n", "1. step\n", "  ## x ##\n",
	/* yaml */
	"key: value\n", "  nested: 1\n", "list:\n  - a\n", "block: |\n", "  text: x\n", "\"q k\": 1\n", "- name: task\n",
	"%YAML 1.2\n", "...\n", "--- |\n", "--- !tag\n", "? k\n", "'a''b': 2\n",
	/* toml */
	"[table]\n", "[[array]]\n", "[a.\"b.c\"]\n", "x = [\n", "  [1, 2],\n", "]\n", "s = \"\"\"\n", "'''\n",
	"k = 'v' # c\n", "t = { a = 1 }\n", "[ bad\n",
	/* json */
	"{", "}", "[", "]", "\"key\": ", "\"str\\\"ing\"", ",", ":", "1", "// c\n", "/* c */", "\"\\u00e9\\ud83d\"",
	"\\", "\"",
	/* anything */
	"\n", "\n\n", "\r\n", " ", "\t", "word ", "# comment\n", "\xC3\xA9", "\xff", "\r",
};

static void add_random_json(struct base_buf *b, int depth)
{
	static const char *const ws[] = { "", " ", "\n", "\n  ", "\r\n\t", " // c\n", "/* c */" };
	int kind = depth > 3 ? 2 + (int)(t_rand() % 2) : (int)(t_rand() % 4);
	size_t n = t_rand() % 6;
	if (kind == 0 || kind == 1) {
		T_OK(base_buf_addc(b, kind == 0 ? '{' : '['));
		for (size_t i = 0; i < n; i++) {
			T_OK(base_buf_adds(b, ws[t_rand() % BASE_ARRAY_LEN(ws)]));
			if (kind == 0)
				T_OK(base_buf_addf(b, "\"k%u\\\"\":%s", (unsigned)(t_rand() % 100),
						   ws[t_rand() % BASE_ARRAY_LEN(ws)]));
			add_random_json(b, depth + 1);
			if (i + 1 < n || t_rand() % 4 == 0)
				T_OK(base_buf_addc(b, ','));
		}
		T_OK(base_buf_adds(b, ws[t_rand() % BASE_ARRAY_LEN(ws)]));
		T_OK(base_buf_addc(b, kind == 0 ? '}' : ']'));
	} else if (kind == 2) {
		T_OK(base_buf_adds(b, "\"s{[,\\\\\\\"]}\""));
	} else {
		T_OK(base_buf_addf(b, "%u", (unsigned)(t_rand() % 100000)));
	}
}

static void random_input(struct base_buf *b, const char *lang)
{
	if (strcmp(lang, "json") == 0 && t_rand() % 2) {
		add_random_json(b, 0);
		if (t_rand() % 3 == 0 && b->len > 0) /* then break it */
			b->data[t_rand() % b->len] = "{}[]\",:\n"[t_rand() % 8];
		return;
	}
	size_t n = t_rand() % 200;
	for (size_t i = 0; i < n; i++) {
		unsigned r = (unsigned)(t_rand() % 100);
		if (r == 0) {
			/* a long line */
			size_t k = 1 + t_rand() % 3000;
			for (size_t j = 0; j < k; j++)
				T_OK(base_buf_addc(b, t_rand() % 8 ? 'x' : ' '));
		} else if (r == 1) {
			/* noise, NUL bytes included */
			size_t k = 1 + t_rand() % 50;
			for (size_t j = 0; j < k; j++)
				T_OK(base_buf_addc(b, (char)(t_rand() % 256)));
		} else {
			T_OK(base_buf_adds(b, fragments[t_rand() % BASE_ARRAY_LEN(fragments)]));
		}
	}
}

static void random_inputs_cover(void)
{
	const char *seed_env = getenv("LODE_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20261122;
	int rounds = getenv("LODE_ROUNDS") ? (int)strtol(getenv("LODE_ROUNDS"), NULL, 10) : 3000;
	t_seed = seed;
	for (int r = 0; r < rounds; r++) {
		const char *lang = all_langs[t_rand() % BASE_ARRAY_LEN(all_langs)];
		unsigned max = 20 + (unsigned)(t_rand() % 1981);
		struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
		random_input(&data, lang);
		struct idx_chunks cs = IDX_CHUNKS_INIT;
		T_OK(idx__chunk_text(lang_named(lang), data.data, data.len, max, &cs));
		char what[128];
		snprintf(what, sizeof(what), "seed %llu round %d %s max %u", (unsigned long long)seed, r, lang, max);
		check_chunks(what, lang, data.data, data.len, max, &cs);
		idx_chunks_release(&cs);
		base_buf_release(&data);
	}
}

T_MAIN(T_ENTRY(golden_cases), T_ENTRY(empty_input), T_ENTRY(whitespace_only), T_ENTRY(huge_single_line),
       T_ENTRY(long_symbol_utf8), T_ENTRY(crlf_symbols), T_ENTRY(default_limit), T_ENTRY(unknown_language_is_text),
       T_ENTRY(fixture_markdown), T_ENTRY(fixture_json), T_ENTRY(fixture_yaml), T_ENTRY(fixture_toml),
       T_ENTRY(fixture_text), T_ENTRY(random_inputs_cover))
