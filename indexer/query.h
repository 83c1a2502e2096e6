/*
 * query.h: query analysis — what in a long, mixed query (a pasted bug
 * report: prose, tracebacks, code blocks, expected vs actual output,
 * issue-template boilerplate) carries signal for finding the code.
 *
 * idx_query_analyze is pure: text in, a structured analysis out. It knows
 * no index; ranking decides how to use it. It recognises, language-
 * agnostically:
 *
 *   - stack frames: Python `File "x/y.py", line N, in f`; Java
 *     `at pkg.Cls.method(Cls.java:12)`; Go `/p/x.go:12 +0x1d` and
 *     `pkg.Func(...)`; JS `at fn (src/x.js:1:2)`; Rust `at src/x.rs:12`,
 *     panics `src/x.rs:12:5` and `3: a::b::c`; C/gdb `#0 f (...) at x.c:12`.
 *     Frames in library code (site-packages, node_modules, java.*, the Go
 *     runtime, rustc's std, /usr/...) get low weight;
 *   - file paths (with a line number when given) anywhere in the text;
 *   - qualified names (`pkg.mod.Class.method`, `a::b::c`, `Foo#bar`);
 *   - identifiers in code blocks and `backticks`;
 *   - error class names (`ValueError`, `NullPointerException`) and the
 *     message after them;
 *   - the area prefix of a subject line ("net/http: ...", "core: ..."),
 *     as commit messages and many issue titles start: module names;
 *   - prose words, kept with low weight.
 *
 * Dropped as boilerplate: issue-template headings ("### Describe the
 * bug", "Steps to reproduce", ...), checklists, HTML comments, version
 * banners, environment dumps (`pip freeze` lines, "OS: ...", "Python
 * version: ..." and everything under an "Environment"-like heading up to
 * the next heading).
 *
 * Ownership: everything in a struct idx_query_info is owned by it until
 * idx_query_info_release. Threading: no shared state; any number of
 * threads may analyse at once.
 */
#ifndef LODE_INDEXER_QUERY_H
#define LODE_INDEXER_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* What a term is. Append only. */
enum idx_term_kind {
	IDX_TERM_PROSE = 0, /* a word of running text */
	IDX_TERM_MESSAGE,   /* a word of an error message */
	IDX_TERM_CODE,      /* an identifier in a code block or backticks */
	IDX_TERM_ERROR,     /* an error/exception class name */
	IDX_TERM_MODULE,    /* a module or package name (from a path or a qualified name) */
	IDX_TERM_SYMBOL,    /* a function/class name from a frame or a qualified name */
	IDX_TERM_QUALIFIED, /* a whole qualified name: a.b.C.m, a::b, Foo#bar */
	IDX_TERM_PATH,      /* a file path as written */
	IDX_TERM__COUNT
};

/** "prose", "message", "code", "error", "module", "symbol", "qualified", "path". */
const char *idx_term_kind_name(enum idx_term_kind kind);

/* Weights. Prose is the floor; a frame's path is the ceiling. */
#define IDX_W_PROSE 0.3f
#define IDX_W_MESSAGE 0.8f
#define IDX_W_CODE_BLOCK 1.0f
#define IDX_W_CODE_TICK 1.5f
#define IDX_W_ERROR_BUILTIN 1.0f
#define IDX_W_ERROR 2.0f
#define IDX_W_MODULE 1.5f
#define IDX_W_SYMBOL 2.5f
#define IDX_W_QUALIFIED 2.5f
#define IDX_W_PATH 3.0f
#define IDX_W_LIBRARY 0.3f /* factor for frames in library code */

struct idx_query_term {
	char *text; /* as written (case kept); NUL-terminated */
	float weight;
	enum idx_term_kind kind;
	uint32_t count; /* occurrences seen */
};

struct idx_path_hint {
	char *path;    /* as written: "django/db/models/query.py", "/home/u/p/x.go", "Cls.java" */
	uint32_t line; /* 1-based; 0 when none was given */
	float weight;
	bool library;  /* looks like library code (site-packages, node_modules, /usr/...) */
};

struct idx_symbol_hint {
	char *name;      /* the last component: "method", "Func", "bar" */
	char *qualified; /* the name as written when qualified, else NULL */
	float weight;
	bool library;
};

struct idx_query_info {
	/* Unique terms (by exact text), highest weight first. */
	BASE_VEC(struct idx_query_term) terms;
	/* Unique paths (a path seen with and without a line keeps the first line). */
	BASE_VEC(struct idx_path_hint) paths;
	/* Unique symbols by name, highest weight first. */
	BASE_VEC(struct idx_symbol_hint) symbols;
	/*
	 * The reformulated query for a BM25 engine: terms in weight order,
	 * boilerplate gone, each term repeated by its weight (1x for prose and
	 * messages up to 3x for paths and symbols) so a query-term-frequency
	 * aware BM25 boosts them. Paths appear as their file name without
	 * extension. NUL-terminated, heap (owned by the info).
	 */
	char *lexical;
	size_t lexical_len;
	/* Bytes of input dropped as boilerplate (for tests and debugging). */
	size_t dropped_bytes;
};

#define IDX_QUERY_INFO_INIT { BASE_VEC_INIT, BASE_VEC_INIT, BASE_VEC_INIT, NULL, 0, 0 }

/** The most input analysed; longer text fails with BASE_E_TOOBIG. */
#define IDX_QUERY_MAX BASE_CAP_QUERY

/**
 * Analyse `text` (len bytes; need not be NUL-terminated nor valid UTF-8).
 * `out` must be IDX_QUERY_INFO_INIT or released; on success it owns the
 * analysis, on failure it is left empty. Errors: BASE_E_TOOBIG past
 * IDX_QUERY_MAX.
 */
int idx_query_analyze(const char *text, size_t len, struct idx_query_info *out, struct base_err *err);

/** Free everything; `q` is IDX_QUERY_INFO_INIT again. */
void idx_query_info_release(struct idx_query_info *q);

/** The weight of a term (exact text), 0 when absent. */
float idx_query_term_weight(const struct idx_query_info *q, const char *text);

#endif /* LODE_INDEXER_QUERY_H */
