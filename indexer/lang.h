/*
 * lang.h (indexer-private): languages, their detection and their grammars.
 */
#ifndef LODE_INDEXER_LANG_H
#define LODE_INDEXER_LANG_H

#include <stddef.h>

#include <tree_sitter/api.h>

/** A tree-sitter node type that is a definition, and its lode kind. */
struct idx_def_type {
	const char *node_type; /* e.g. "function_definition" */
	const char *kind;      /* e.g. "function", "method", "class", "struct" */
};

struct idx_lang {
	const char *name; /* "c", "cpp", "python", ..., "markdown", "text" */
	/* The tree-sitter grammar, or NULL for languages chunked by the
	 * structure-aware text chunker (markdown, json, yaml, toml, text). */
	const TSLanguage *(*grammar)(void);
	/* Definition node types, terminated by { NULL, NULL }. */
	const struct idx_def_type *defs;
};

/**
 * The language of a file from its path (extension, well-known names) and
 * its first bytes (shebang). Every text file gets a language: unknown
 * ones are "text". Never NULL.
 */
const struct idx_lang *idx_lang_detect(const char *path, const char *head, size_t head_len);
/**
 * By name ("python"), or by a common alias, case-insensitively ("py",
 * "C++", "c#", "golang", "sh", "yml"...); NULL if unknown.
 */
const struct idx_lang *idx_lang_find(const char *name);
/** All languages, for listing: idx_lang_at(i) for i < idx_lang_count(). */
size_t idx_lang_count(void);
const struct idx_lang *idx_lang_at(size_t i);

/**
 * The kind of a definition node type in `lang` (one listed in lang->defs),
 * or NULL. By name, so an anonymous token spelled like a definition (Ruby's
 * `module` keyword) matches too; prefer the two functions below on nodes.
 * Thread-safe; a hash lookup.
 */
const char *idx_lang_def_kind(const struct idx_lang *lang, const char *node_type);

/**
 * As idx_lang_def_kind, by grammar symbol (ts_node_symbol(n), or
 * ts_language_symbol_for_name(..., true)): named nodes only, an array
 * lookup. `sym` must come from lang->grammar(). Thread-safe (the tables
 * are built once, on first use).
 */
const char *idx_lang_def_kind_sym(const struct idx_lang *lang, TSSymbol sym);

/**
 * Whether `node` (from a tree parsed with lang->grammar()) is a definition,
 * and its kind; NULL if it is not. The full decision, from the node's
 * symbol and then its content:
 *   - C/C++ *_specifier (struct, union, enum, class) only with a body:
 *     `struct s *p;` mentions a struct, it does not define one;
 *   - Python decorated_definition takes the kind of what it decorates
 *     ("class" for a decorated class, else "function");
 *   - Swift class_declaration by its keyword: class, struct, enum, impl
 *     (extension), class (actor); Kotlin class_declaration: interface,
 *     enum (enum class) or class; Lua `function T:m()` is a "method";
 *   - JS/TS `const f = () => ...` (lexical_declaration or
 *     variable_declaration whose first declarator's value is a function
 *     or a class) is a "function" ("class"); see idx__lang_node_defs.
 * Thread-safe.
 */
const char *idx_lang_def_kind_node(const struct idx_lang *lang, TSNode node);

/** Call visit(node, payload) for every node under root (root included), in pre-order. */
void idx_lang_walk(TSNode root, void (*visit)(TSNode node, void *payload), void *payload);

/**
 * The definitions of `lang` that idx_lang_def_kind_node recognises beyond
 * lang->defs (their kind depends on the node's content), terminated by
 * { NULL, NULL }; never NULL. For tests.
 */
const struct idx_def_type *idx__lang_node_defs(const struct idx_lang *lang);

#endif /* LODE_INDEXER_LANG_H */
