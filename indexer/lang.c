/*
 * lang.c: the language table, detection, and definition lookup.
 *
 * Definition node types come from each grammar's src/node-types.json (the
 * grammar build copies them beside libgrammars.a, under node-types/), at the
 * versions pinned in grammars/grammars.lock; tests/indexer/test_lang.c
 * checks that every one of them exists in its grammar.
 *
 * Lookup is hot (once per syntax node of every indexed file), so each
 * language's node types are resolved once, on first use, into a table
 * indexed by grammar symbol, and into a small hash by name. The tables are
 * static (no heap) and read-only after the one-time initialisation.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "indexer/lang.h"

#include "base/banned.h"

/* The grammars, from libgrammars.a (scripts/grammars.sh). */
const TSLanguage *tree_sitter_c(void);
const TSLanguage *tree_sitter_cpp(void);
const TSLanguage *tree_sitter_python(void);
const TSLanguage *tree_sitter_javascript(void);
const TSLanguage *tree_sitter_typescript(void);
const TSLanguage *tree_sitter_tsx(void);
const TSLanguage *tree_sitter_go(void);
const TSLanguage *tree_sitter_rust(void);
const TSLanguage *tree_sitter_java(void);
const TSLanguage *tree_sitter_c_sharp(void);
const TSLanguage *tree_sitter_ruby(void);
const TSLanguage *tree_sitter_php(void);
const TSLanguage *tree_sitter_bash(void);
const TSLanguage *tree_sitter_kotlin(void);
const TSLanguage *tree_sitter_scala(void);
const TSLanguage *tree_sitter_lua(void);
const TSLanguage *tree_sitter_swift(void);

#define DEFS_END { NULL, NULL }

/* ------------------------------------------------------------------------
 * Definition node types, per language.
 * ------------------------------------------------------------------------ */

static const struct idx_def_type no_defs[] = { DEFS_END };

/* *_specifier entries count only with a body (see idx_lang_def_kind_node). */
static const struct idx_def_type c_defs[] = {
	{ "function_definition", "function" },
	{ "struct_specifier", "struct" },
	{ "union_specifier", "union" },
	{ "enum_specifier", "enum" },
	{ "type_definition", "type" },
	{ "preproc_function_def", "macro" },
	DEFS_END,
};

/*
 * template_declaration is not listed: the chunker looks through it to the
 * definition it wraps, whose kind (class or function) and name it needs.
 */
static const struct idx_def_type cpp_defs[] = {
	{ "function_definition", "function" },
	{ "class_specifier", "class" },
	{ "struct_specifier", "struct" },
	{ "union_specifier", "union" },
	{ "enum_specifier", "enum" },
	{ "namespace_definition", "namespace" },
	{ "concept_definition", "type" },
	{ "alias_declaration", "type" },
	{ "type_definition", "type" },
	{ "preproc_function_def", "macro" },
	DEFS_END,
};

static const struct idx_def_type python_defs[] = {
	{ "function_definition", "function" },
	{ "class_definition", "class" },
	/* the name is in its `definition` field; kind refined by _node */
	{ "decorated_definition", "function" },
	{ "type_alias_statement", "type" },
	DEFS_END,
};

static const struct idx_def_type javascript_defs[] = {
	{ "function_declaration", "function" },
	{ "generator_function_declaration", "function" },
	{ "class_declaration", "class" },
	{ "method_definition", "method" },
	DEFS_END,
};

/* `const f = () => {}`, `var C = class {}`: recognised by _node only. */
static const struct idx_def_type js_value_defs[] = {
	{ "lexical_declaration", "function" },
	{ "variable_declaration", "function" },
	DEFS_END,
};

/* TypeScript and TSX share their node types. */
static const struct idx_def_type typescript_defs[] = {
	{ "function_declaration", "function" },
	{ "generator_function_declaration", "function" },
	{ "function_signature", "function" },
	{ "class_declaration", "class" },
	{ "abstract_class_declaration", "class" },
	{ "method_definition", "method" },
	{ "abstract_method_signature", "method" },
	{ "interface_declaration", "interface" },
	{ "type_alias_declaration", "type" },
	{ "enum_declaration", "enum" },
	{ "internal_module", "namespace" },
	{ "module", "module" },
	DEFS_END,
};

static const struct idx_def_type go_defs[] = {
	{ "function_declaration", "function" },
	{ "method_declaration", "method" },
	{ "type_declaration", "type" },
	DEFS_END,
};

static const struct idx_def_type rust_defs[] = {
	{ "function_item", "function" },
	{ "function_signature_item", "function" },
	{ "struct_item", "struct" },
	{ "union_item", "union" },
	{ "enum_item", "enum" },
	{ "impl_item", "impl" },
	{ "trait_item", "trait" },
	{ "mod_item", "module" },
	{ "macro_definition", "macro" },
	{ "type_item", "type" },
	DEFS_END,
};

static const struct idx_def_type java_defs[] = {
	{ "class_declaration", "class" },
	{ "record_declaration", "class" },
	{ "interface_declaration", "interface" },
	{ "annotation_type_declaration", "interface" },
	{ "enum_declaration", "enum" },
	{ "method_declaration", "method" },
	{ "constructor_declaration", "constructor" },
	{ "compact_constructor_declaration", "constructor" },
	{ "module_declaration", "module" },
	DEFS_END,
};

static const struct idx_def_type csharp_defs[] = {
	{ "class_declaration", "class" },
	{ "record_declaration", "class" },
	{ "struct_declaration", "struct" },
	{ "interface_declaration", "interface" },
	{ "enum_declaration", "enum" },
	{ "delegate_declaration", "type" },
	{ "namespace_declaration", "namespace" },
	{ "file_scoped_namespace_declaration", "namespace" },
	{ "method_declaration", "method" },
	{ "operator_declaration", "method" },
	{ "conversion_operator_declaration", "method" },
	{ "destructor_declaration", "method" },
	{ "constructor_declaration", "constructor" },
	{ "property_declaration", "property" },
	{ "indexer_declaration", "property" },
	{ "event_declaration", "property" },
	{ "local_function_statement", "function" },
	DEFS_END,
};

/* `class << self` (singleton_class) is not one: its methods are the class's. */
static const struct idx_def_type ruby_defs[] = {
	{ "method", "method" },
	{ "singleton_method", "method" },
	{ "class", "class" },
	{ "module", "module" },
	DEFS_END,
};

static const struct idx_def_type php_defs[] = {
	{ "function_definition", "function" },
	{ "method_declaration", "method" },
	{ "class_declaration", "class" },
	{ "interface_declaration", "interface" },
	{ "trait_declaration", "trait" },
	{ "enum_declaration", "enum" },
	{ "namespace_definition", "namespace" },
	DEFS_END,
};

static const struct idx_def_type bash_defs[] = {
	{ "function_definition", "function" },
	DEFS_END,
};

/* class_declaration also covers interfaces and enum classes: refined by _node. */
static const struct idx_def_type kotlin_defs[] = {
	{ "class_declaration", "class" },
	{ "object_declaration", "object" },
	{ "companion_object", "object" },
	{ "function_declaration", "function" },
	{ "secondary_constructor", "constructor" },
	{ "type_alias", "type" },
	DEFS_END,
};

static const struct idx_def_type scala_defs[] = {
	{ "class_definition", "class" },
	{ "object_definition", "object" },
	{ "package_object", "object" },
	{ "trait_definition", "trait" },
	{ "enum_definition", "enum" },
	{ "function_definition", "function" },
	{ "function_declaration", "function" },
	{ "given_definition", "object" },
	{ "extension_definition", "impl" },
	{ "type_definition", "type" },
	DEFS_END,
};

/*
 * function_definition is Lua's anonymous `function () end`: not listed.
 * `function T:m()` is a method: refined by _node.
 */
static const struct idx_def_type lua_defs[] = {
	{ "function_declaration", "function" },
	DEFS_END,
};

/* class_declaration is class/struct/enum/extension/actor: refined by _node. */
static const struct idx_def_type swift_defs[] = {
	{ "class_declaration", "class" },
	{ "protocol_declaration", "interface" },
	{ "function_declaration", "function" },
	{ "protocol_function_declaration", "method" },
	{ "init_declaration", "constructor" },
	{ "deinit_declaration", "method" },
	{ "subscript_declaration", "method" },
	{ "typealias_declaration", "type" },
	{ "macro_declaration", "macro" },
	DEFS_END,
};

/* ------------------------------------------------------------------------
 * The table.
 * ------------------------------------------------------------------------ */

struct lang_entry {
	struct idx_lang pub; /* first: idx_lang pointers are entry pointers */
	const struct idx_def_type *node_defs; /* recognised by _node only */
};

enum {
	L_C, L_CPP, L_PYTHON, L_JAVASCRIPT, L_TYPESCRIPT, L_TSX, L_GO, L_RUST, L_JAVA, L_CSHARP, L_RUBY, L_PHP,
	L_BASH, L_KOTLIN, L_SCALA, L_LUA, L_SWIFT, L_MARKDOWN, L_JSON, L_YAML, L_TOML, L_TEXT, L_COUNT
};

static const struct lang_entry langs[L_COUNT] = {
	[L_C] = { { "c", tree_sitter_c, c_defs }, no_defs },
	[L_CPP] = { { "cpp", tree_sitter_cpp, cpp_defs }, no_defs },
	[L_PYTHON] = { { "python", tree_sitter_python, python_defs }, no_defs },
	[L_JAVASCRIPT] = { { "javascript", tree_sitter_javascript, javascript_defs }, js_value_defs },
	[L_TYPESCRIPT] = { { "typescript", tree_sitter_typescript, typescript_defs }, js_value_defs },
	[L_TSX] = { { "tsx", tree_sitter_tsx, typescript_defs }, js_value_defs },
	[L_GO] = { { "go", tree_sitter_go, go_defs }, no_defs },
	[L_RUST] = { { "rust", tree_sitter_rust, rust_defs }, no_defs },
	[L_JAVA] = { { "java", tree_sitter_java, java_defs }, no_defs },
	[L_CSHARP] = { { "csharp", tree_sitter_c_sharp, csharp_defs }, no_defs },
	[L_RUBY] = { { "ruby", tree_sitter_ruby, ruby_defs }, no_defs },
	[L_PHP] = { { "php", tree_sitter_php, php_defs }, no_defs },
	[L_BASH] = { { "bash", tree_sitter_bash, bash_defs }, no_defs },
	[L_KOTLIN] = { { "kotlin", tree_sitter_kotlin, kotlin_defs }, no_defs },
	[L_SCALA] = { { "scala", tree_sitter_scala, scala_defs }, no_defs },
	[L_LUA] = { { "lua", tree_sitter_lua, lua_defs }, no_defs },
	[L_SWIFT] = { { "swift", tree_sitter_swift, swift_defs }, no_defs },
	[L_MARKDOWN] = { { "markdown", NULL, no_defs }, no_defs },
	[L_JSON] = { { "json", NULL, no_defs }, no_defs },
	[L_YAML] = { { "yaml", NULL, no_defs }, no_defs },
	[L_TOML] = { { "toml", NULL, no_defs }, no_defs },
	[L_TEXT] = { { "text", NULL, no_defs }, no_defs },
};

size_t idx_lang_count(void)
{
	return L_COUNT;
}

const struct idx_lang *idx_lang_at(size_t i)
{
	return i < L_COUNT ? &langs[i].pub : NULL;
}

/* The table index of `lang`, or -1 for a caller's own struct idx_lang. */
static int lang_index(const struct idx_lang *lang)
{
	uintptr_t p = (uintptr_t)lang, b = (uintptr_t)&langs[0];
	if (p < b || p >= b + sizeof(langs) || (p - b) % sizeof(langs[0]) != 0)
		return -1;
	return (int)((p - b) / sizeof(langs[0]));
}

/* ------------------------------------------------------------------------
 * Resolved tables, built once.
 * ------------------------------------------------------------------------ */

#define SYM_MAX 1024  /* symbols per grammar in the table (largest today: 559) */
#define RULE_MAX 32   /* definitions per language */
#define NAME_HASH 64  /* power of two, > 2 * RULE_MAX */

enum rule_flags {
	R_BODY = 1 << 0,     /* a definition only with a `body` field */
	R_WRAP = 1 << 1,     /* kind of its `definition` field */
	R_VALUE = 1 << 2,    /* a declaration of a function or class value */
	R_DECLKIND = 1 << 3, /* Swift: kind from its `declaration_kind` keyword */
	R_KOTLIN = 1 << 4,   /* Kotlin: interface, enum class or class */
	R_SELF = 1 << 5,     /* Lua: `function T:m()` is a method */
};

/* Node types whose kind depends on their content, beyond *_specifier. */
static const struct {
	int lang;
	const char *node_type;
	unsigned flags;
} special_rules[] = {
	{ L_PYTHON, "decorated_definition", R_WRAP },
	{ L_SWIFT, "class_declaration", R_DECLKIND },
	{ L_KOTLIN, "class_declaration", R_KOTLIN },
	{ L_LUA, "function_declaration", R_SELF },
};

struct rule {
	const char *node_type;
	const char *kind;
	unsigned flags;
};

struct lang_state {
	struct rule rules[RULE_MAX];
	uint8_t nrules;
	uint8_t by_name[NAME_HASH]; /* rule index + 1; lang->defs rules only */
	uint8_t by_sym[SYM_MAX];    /* rule index + 1 */
	uint32_t nsyms;
	TSFieldId f_body, f_definition, f_value, f_declkind, f_name;
};

static struct lang_state states[L_COUNT];
static pthread_once_t states_once = PTHREAD_ONCE_INIT;

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static TSFieldId field_id(const TSLanguage *ts, const char *name)
{
	return ts_language_field_id_for_name(ts, name, (uint32_t)strlen(name));
}

static void add_rule(int lang, const TSLanguage *ts, const struct idx_def_type *d, unsigned flags, bool by_name)
{
	struct lang_state *st = &states[lang];
	BASE_ASSERT(st->nrules < RULE_MAX);
	if (ends_with(d->node_type, "_specifier"))
		flags |= R_BODY;
	for (size_t i = 0; i < BASE_ARRAY_LEN(special_rules); i++)
		if (special_rules[i].lang == lang && strcmp(special_rules[i].node_type, d->node_type) == 0)
			flags |= special_rules[i].flags;
	uint8_t idx = st->nrules++;
	st->rules[idx] = (struct rule){ d->node_type, d->kind, flags };
	if (by_name) {
		uint32_t h = name_hash(d->node_type);
		while (st->by_name[h & (NAME_HASH - 1)])
			h++;
		st->by_name[h & (NAME_HASH - 1)] = (uint8_t)(idx + 1);
	}
	if (ts) {
		/* The public symbol, as ts_node_symbol returns it. A type the
		 * grammar lacks resolves to 0 and is left out (test_lang
		 * fails on it). */
		TSSymbol s = ts_language_symbol_for_name(ts, d->node_type, (uint32_t)strlen(d->node_type), true);
		if (s != 0 && s < SYM_MAX)
			st->by_sym[s] = (uint8_t)(idx + 1);
	}
}

static void states_init(void)
{
	for (int i = 0; i < L_COUNT; i++) {
		const struct lang_entry *e = &langs[i];
		struct lang_state *st = &states[i];
		const TSLanguage *ts = e->pub.grammar ? e->pub.grammar() : NULL;
		if (ts) {
			st->nsyms = ts_language_symbol_count(ts);
			st->f_body = field_id(ts, "body");
			st->f_definition = field_id(ts, "definition");
			st->f_value = field_id(ts, "value");
			st->f_declkind = field_id(ts, "declaration_kind");
			st->f_name = field_id(ts, "name");
		}
		for (const struct idx_def_type *d = e->pub.defs; d->node_type; d++)
			add_rule(i, ts, d, 0, true);
		for (const struct idx_def_type *d = e->node_defs; d->node_type; d++)
			add_rule(i, ts, d, R_VALUE, false);
	}
}

static const struct lang_state *state_of(int i)
{
	pthread_once(&states_once, states_init);
	return &states[i];
}

/* A caller's own struct idx_lang: a scan of its defs. */
static const char *scan_defs(const struct idx_lang *lang, const char *node_type)
{
	if (!lang->defs)
		return NULL;
	for (const struct idx_def_type *d = lang->defs; d->node_type; d++)
		if (strcmp(d->node_type, node_type) == 0)
			return d->kind;
	return NULL;
}

static const struct rule *rule_by_name(const struct lang_state *st, const char *node_type)
{
	uint32_t h = name_hash(node_type);
	for (;; h++) {
		uint8_t r = st->by_name[h & (NAME_HASH - 1)];
		if (!r)
			return NULL;
		if (strcmp(st->rules[r - 1].node_type, node_type) == 0)
			return &st->rules[r - 1];
	}
}

static const struct rule *rule_by_sym(const struct lang_state *st, const struct idx_lang *lang, TSSymbol sym)
{
	if (sym < SYM_MAX) {
		uint8_t r = st->by_sym[sym];
		return r ? &st->rules[r - 1] : NULL;
	}
	/* a grammar bigger than the table: by name, named symbols only */
	if (!lang->grammar)
		return NULL;
	const TSLanguage *ts = lang->grammar();
	if (sym >= st->nsyms || ts_language_symbol_type(ts, sym) != TSSymbolTypeRegular)
		return NULL;
	const char *name = ts_language_symbol_name(ts, sym);
	for (unsigned i = 0; name && i < st->nrules; i++)
		if (strcmp(st->rules[i].node_type, name) == 0)
			return &st->rules[i];
	return NULL;
}

const char *idx_lang_def_kind(const struct idx_lang *lang, const char *node_type)
{
	int i = lang_index(lang);
	if (i < 0)
		return scan_defs(lang, node_type);
	const struct rule *r = rule_by_name(state_of(i), node_type);
	return r ? r->kind : NULL;
}

const char *idx_lang_def_kind_sym(const struct idx_lang *lang, TSSymbol sym)
{
	int i = lang_index(lang);
	if (i < 0) {
		if (!lang->grammar)
			return NULL;
		const TSLanguage *ts = lang->grammar();
		if (sym >= ts_language_symbol_count(ts) || ts_language_symbol_type(ts, sym) != TSSymbolTypeRegular)
			return NULL;
		return scan_defs(lang, ts_language_symbol_name(ts, sym));
	}
	const struct rule *r = rule_by_sym(state_of(i), lang, sym);
	return r && !(r->flags & R_VALUE) ? r->kind : NULL;
}

/* Swift: `class`, `struct`, `enum`, `extension` or `actor`. */
static const char *swift_decl_kind(const struct lang_state *st, TSNode n)
{
	TSNode k = ts_node_child_by_field_id(n, st->f_declkind);
	if (ts_node_is_null(k))
		return "class";
	const char *t = ts_node_type(k);
	if (strcmp(t, "struct") == 0)
		return "struct";
	if (strcmp(t, "enum") == 0)
		return "enum";
	if (strcmp(t, "extension") == 0)
		return "impl";
	return "class";
}

/* Kotlin: `interface I`, `enum class E { ... }`, else a class. */
static const char *kotlin_class_kind(TSNode n)
{
	uint32_t nc = ts_node_child_count(n);
	for (uint32_t i = 0; i < nc && i < 8; i++) {
		TSNode c = ts_node_child(n, i);
		const char *t = ts_node_type(c);
		if (!ts_node_is_named(c) && strcmp(t, "interface") == 0)
			return "interface";
		if (strcmp(t, "enum_class_body") == 0)
			return "enum";
	}
	return "class";
}

/* Lua: `function T:m()` (method_index_expression) defines a method. */
static const char *lua_function_kind(const struct lang_state *st, TSNode n)
{
	TSNode name = ts_node_child_by_field_id(n, st->f_name);
	if (!ts_node_is_null(name) && strcmp(ts_node_type(name), "method_index_expression") == 0)
		return "method";
	return "function";
}

/* `const f = () => {}`: the first declarator's value decides. */
static const char *value_kind(const struct lang_state *st, TSNode n)
{
	uint32_t nc = ts_node_named_child_count(n);
	for (uint32_t i = 0; i < nc; i++) {
		TSNode d = ts_node_named_child(n, i);
		if (strcmp(ts_node_type(d), "variable_declarator") != 0)
			continue;
		TSNode v = ts_node_child_by_field_id(d, st->f_value);
		if (ts_node_is_null(v))
			return NULL;
		const char *t = ts_node_type(v);
		if (strcmp(t, "arrow_function") == 0 || strcmp(t, "function_expression") == 0 ||
		    strcmp(t, "function") == 0 || strcmp(t, "generator_function") == 0)
			return "function";
		if (strcmp(t, "class") == 0)
			return "class";
		return NULL;
	}
	return NULL;
}

static const char *node_kind(const struct lang_state *st, const struct idx_lang *lang, TSNode n, int depth)
{
	const struct rule *r = rule_by_sym(st, lang, ts_node_symbol(n));
	if (!r)
		return NULL;
	if (!r->flags)
		return r->kind;
	if ((r->flags & R_BODY) && ts_node_is_null(ts_node_child_by_field_id(n, st->f_body)))
		return NULL;
	if (r->flags & R_WRAP) {
		TSNode d = ts_node_child_by_field_id(n, st->f_definition);
		const char *k = depth < 4 && !ts_node_is_null(d) ? node_kind(st, lang, d, depth + 1) : NULL;
		return k ? k : r->kind;
	}
	if (r->flags & R_DECLKIND)
		return swift_decl_kind(st, n);
	if (r->flags & R_KOTLIN)
		return kotlin_class_kind(n);
	if (r->flags & R_SELF)
		return lua_function_kind(st, n);
	if (r->flags & R_VALUE)
		return value_kind(st, n);
	return r->kind;
}

const char *idx_lang_def_kind_node(const struct idx_lang *lang, TSNode node)
{
	if (ts_node_is_null(node))
		return NULL;
	int i = lang_index(lang);
	if (i < 0)
		return ts_node_is_named(node) ? scan_defs(lang, ts_node_type(node)) : NULL;
	return node_kind(state_of(i), lang, node, 0);
}

void idx_lang_walk(TSNode root, void (*visit)(TSNode node, void *payload), void *payload)
{
	TSTreeCursor cur = ts_tree_cursor_new(root);
	for (;;) {
		visit(ts_tree_cursor_current_node(&cur), payload);
		if (ts_tree_cursor_goto_first_child(&cur))
			continue;
		while (!ts_tree_cursor_goto_next_sibling(&cur))
			if (!ts_tree_cursor_goto_parent(&cur))
				goto done;
	}
done:
	ts_tree_cursor_delete(&cur);
}

const struct idx_def_type *idx__lang_node_defs(const struct idx_lang *lang)
{
	int i = lang_index(lang);
	return i < 0 ? no_defs : langs[i].node_defs;
}

/* ------------------------------------------------------------------------
 * Names and aliases.
 * ------------------------------------------------------------------------ */

struct alias {
	const char *name;
	int lang;
};

static const struct alias aliases[] = {
	{ "h", L_C },
	{ "c++", L_CPP },
	{ "cxx", L_CPP },
	{ "cc", L_CPP },
	{ "hpp", L_CPP },
	{ "py", L_PYTHON },
	{ "python3", L_PYTHON },
	{ "js", L_JAVASCRIPT },
	{ "jsx", L_JAVASCRIPT },
	{ "node", L_JAVASCRIPT },
	{ "ts", L_TYPESCRIPT },
	{ "golang", L_GO },
	{ "rs", L_RUST },
	{ "c#", L_CSHARP },
	{ "cs", L_CSHARP },
	{ "c_sharp", L_CSHARP },
	{ "rb", L_RUBY },
	{ "sh", L_BASH },
	{ "shell", L_BASH },
	{ "zsh", L_BASH },
	{ "kt", L_KOTLIN },
	{ "md", L_MARKDOWN },
	{ "yml", L_YAML },
	{ "txt", L_TEXT },
	{ "plain", L_TEXT },
};

const struct idx_lang *idx_lang_find(const char *name)
{
	if (!name)
		return NULL;
	for (int i = 0; i < L_COUNT; i++)
		if (strcasecmp(langs[i].pub.name, name) == 0)
			return &langs[i].pub;
	for (size_t i = 0; i < BASE_ARRAY_LEN(aliases); i++)
		if (strcasecmp(aliases[i].name, name) == 0)
			return &langs[aliases[i].lang].pub;
	return NULL;
}

/* ------------------------------------------------------------------------
 * Detection.
 * ------------------------------------------------------------------------ */

/* Extensions, lower case, without the dot. */
static const struct alias extensions[] = {
	{ "c", L_C },
	{ "h", L_C },
	{ "cc", L_CPP },
	{ "cpp", L_CPP },
	{ "cxx", L_CPP },
	{ "c++", L_CPP },
	{ "cp", L_CPP },
	{ "hpp", L_CPP },
	{ "hh", L_CPP },
	{ "hxx", L_CPP },
	{ "h++", L_CPP },
	{ "ipp", L_CPP },
	{ "tpp", L_CPP },
	{ "txx", L_CPP },
	{ "inl", L_CPP },
	{ "ixx", L_CPP },
	{ "cppm", L_CPP },
	{ "cu", L_CPP },
	{ "cuh", L_CPP },
	{ "py", L_PYTHON },
	{ "pyi", L_PYTHON },
	{ "pyw", L_PYTHON },
	{ "bzl", L_PYTHON }, /* Starlark is Python's syntax */
	{ "bazel", L_PYTHON },
	{ "star", L_PYTHON },
	{ "js", L_JAVASCRIPT },
	{ "mjs", L_JAVASCRIPT },
	{ "cjs", L_JAVASCRIPT },
	{ "jsx", L_JAVASCRIPT },
	{ "ts", L_TYPESCRIPT },
	{ "mts", L_TYPESCRIPT },
	{ "cts", L_TYPESCRIPT },
	{ "tsx", L_TSX },
	{ "go", L_GO },
	{ "rs", L_RUST },
	{ "java", L_JAVA },
	{ "cs", L_CSHARP },
	{ "csx", L_CSHARP },
	{ "rb", L_RUBY },
	{ "rake", L_RUBY },
	{ "gemspec", L_RUBY },
	{ "ru", L_RUBY },
	{ "podspec", L_RUBY },
	{ "thor", L_RUBY },
	{ "jbuilder", L_RUBY },
	{ "php", L_PHP },
	{ "phtml", L_PHP },
	{ "php3", L_PHP },
	{ "php4", L_PHP },
	{ "php5", L_PHP },
	{ "php7", L_PHP },
	{ "php8", L_PHP },
	{ "phpt", L_PHP },
	{ "sh", L_BASH },
	{ "bash", L_BASH },
	{ "zsh", L_BASH },
	{ "ksh", L_BASH },
	{ "bats", L_BASH },
	{ "ebuild", L_BASH },
	{ "eclass", L_BASH },
	{ "kt", L_KOTLIN },
	{ "kts", L_KOTLIN },
	{ "scala", L_SCALA },
	{ "sc", L_SCALA },
	{ "sbt", L_SCALA },
	{ "lua", L_LUA },
	{ "rockspec", L_LUA },
	{ "swift", L_SWIFT },
	{ "md", L_MARKDOWN },
	{ "markdown", L_MARKDOWN },
	{ "mdown", L_MARKDOWN },
	{ "mkd", L_MARKDOWN },
	{ "mkdn", L_MARKDOWN },
	{ "mdx", L_MARKDOWN },
	{ "json", L_JSON },
	{ "jsonc", L_JSON },
	{ "json5", L_JSON },
	{ "geojson", L_JSON },
	{ "webmanifest", L_JSON },
	{ "ipynb", L_JSON },
	{ "yaml", L_YAML },
	{ "yml", L_YAML },
	{ "toml", L_TOML },
};

/* Whole file names, exact (dot files included). */
static const struct alias filenames[] = {
	{ "Rakefile", L_RUBY },
	{ "Gemfile", L_RUBY },
	{ "Guardfile", L_RUBY },
	{ "Podfile", L_RUBY },
	{ "Vagrantfile", L_RUBY },
	{ "Fastfile", L_RUBY },
	{ "Appfile", L_RUBY },
	{ "Brewfile", L_RUBY },
	{ "Capfile", L_RUBY },
	{ "Berksfile", L_RUBY },
	{ "Thorfile", L_RUBY },
	{ "Dangerfile", L_RUBY },
	{ ".irbrc", L_RUBY },
	{ ".pryrc", L_RUBY },
	{ "BUILD", L_PYTHON }, /* Bazel/Buck: Starlark */
	{ "BUCK", L_PYTHON },
	{ "WORKSPACE", L_PYTHON },
	{ "SConstruct", L_PYTHON },
	{ "SConscript", L_PYTHON },
	{ "wscript", L_PYTHON },
	{ ".bashrc", L_BASH },
	{ ".bash_profile", L_BASH },
	{ ".bash_login", L_BASH },
	{ ".bash_logout", L_BASH },
	{ ".bash_aliases", L_BASH },
	{ ".profile", L_BASH },
	{ ".zshrc", L_BASH },
	{ ".zshenv", L_BASH },
	{ ".zprofile", L_BASH },
	{ ".zlogin", L_BASH },
	{ ".kshrc", L_BASH },
	{ ".envrc", L_BASH },
	{ "PKGBUILD", L_BASH },
	{ "APKBUILD", L_BASH },
	{ ".clang-format", L_YAML },
	{ ".clang-tidy", L_YAML },
	{ ".clangd", L_YAML },
	{ ".yamllint", L_YAML },
	{ "Pipfile", L_TOML },
	{ ".babelrc", L_JSON },
	{ ".eslintrc", L_JSON },
	{ ".jshintrc", L_JSON },
	{ ".prettierrc", L_JSON },
	{ "composer.lock", L_JSON },
	{ "Cargo.lock", L_TOML },
	{ "poetry.lock", L_TOML },
};

/* Interpreters named by a shebang, after any version suffix is cut. */
static const struct alias interpreters[] = {
	{ "python", L_PYTHON },
	{ "pypy", L_PYTHON },
	{ "sh", L_BASH },
	{ "bash", L_BASH },
	{ "dash", L_BASH },
	{ "ash", L_BASH },
	{ "zsh", L_BASH },
	{ "ksh", L_BASH },
	{ "mksh", L_BASH },
	{ "ruby", L_RUBY },
	{ "jruby", L_RUBY },
	{ "node", L_JAVASCRIPT },
	{ "nodejs", L_JAVASCRIPT },
	{ "bun", L_JAVASCRIPT },
	{ "deno", L_TYPESCRIPT },
	{ "ts-node", L_TYPESCRIPT },
	{ "tsx", L_TYPESCRIPT },
	{ "php", L_PHP },
	{ "lua", L_LUA },
	{ "luajit", L_LUA },
	{ "kotlin", L_KOTLIN },
	{ "kscript", L_KOTLIN },
	{ "scala", L_SCALA },
	{ "swift", L_SWIFT },
};

static int lookup(const struct alias *t, size_t n, const char *s, size_t len, bool fold)
{
	for (size_t i = 0; i < n; i++) {
		const char *a = t[i].name;
		if (strlen(a) != len)
			continue;
		if (fold ? strncasecmp(a, s, len) == 0 : memcmp(a, s, len) == 0)
			return t[i].lang;
	}
	return -1;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The language a `#!` line names: its interpreter's base name, or for
 * `env` the first argument that is not an option or an assignment
 * (`#!/usr/bin/env -S node --flag`, `#!/usr/bin/env VAR=1 python3`).
 */
static int shebang_lang(const char *head, size_t len)
{
	if (len < 3 || head[0] != '#' || head[1] != '!')
		return -1;
	size_t end = 2;
	while (end < len && head[end] != '\n' && head[end] != '\r')
		end++;
	size_t p = 2;
	for (int word = 0; word < 8; word++) {
		while (p < end && is_blank(head[p]))
			p++;
		if (p >= end)
			return -1;
		size_t s = p;
		while (p < end && !is_blank(head[p]))
			p++;
		size_t b = s; /* base name */
		for (size_t i = s; i < p; i++)
			if (head[i] == '/')
				b = i + 1;
		size_t n = p - b;
		if (word == 0 && n == 3 && memcmp(head + b, "env", 3) == 0)
			continue;
		if (word > 0 && (head[s] == '-' || memchr(head + s, '=', p - s)))
			continue; /* an option or an assignment of env */
		/* cut a version: python3.11, lua5.4, php8.1, ruby-3.2 */
		while (n > 0 && ((head[b + n - 1] >= '0' && head[b + n - 1] <= '9') || head[b + n - 1] == '.' ||
				 head[b + n - 1] == '-'))
			n--;
		return lookup(interpreters, BASE_ARRAY_LEN(interpreters), head + b, n, false);
	}
	return -1;
}

const struct idx_lang *idx_lang_detect(const char *path, const char *head, size_t head_len)
{
	const char *base = path ? path : "";
	for (const char *s = base; *s; s++)
		if (*s == '/')
			base = s + 1;
	size_t blen = strlen(base);
	int l = lookup(filenames, BASE_ARRAY_LEN(filenames), base, blen, false);
	if (l >= 0)
		return &langs[l].pub;
	/* the extension: after the last dot, unless that dot starts the name */
	const char *dot = strrchr(base, '.');
	if (dot && dot != base && dot[1]) {
		l = lookup(extensions, BASE_ARRAY_LEN(extensions), dot + 1, strlen(dot + 1), true);
		if (l >= 0)
			return &langs[l].pub;
	}
	if (head) {
		l = shebang_lang(head, head_len);
		if (l >= 0)
			return &langs[l].pub;
	}
	return &langs[L_TEXT].pub;
}
