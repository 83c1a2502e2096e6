/*
 * query.c: query analysis for long, mixed queries (query.h).
 *
 * One pass over the lines. Each line is first tested for boilerplate
 * (template headings, checklists, environment dumps, version banners),
 * then for a stack frame of one of the known shapes, and otherwise cut
 * into tokens at spaces and brackets; a token is a path, a qualified
 * name, or words. The context (prose, code block, backticks, an error
 * message) sets the words' kind and weight.
 */
#include <ctype.h>
#include <string.h>

#include "indexer/query.h"

#include "base/banned.h"

static const char *const kind_names[] = {
	"prose", "message", "code", "error", "module", "symbol", "qualified", "path",
};

const char *idx_term_kind_name(enum idx_term_kind kind)
{
	return (size_t)kind < BASE_ARRAY_LEN(kind_names) ? kind_names[kind] : "unknown";
}

/* ---- small string helpers ------------------------------------------- */

static bool has_prefix_ci(const char *s, size_t n, const char *p)
{
	size_t pl = strlen(p);
	if (n < pl)
		return false;
	for (size_t i = 0; i < pl; i++)
		if (tolower((unsigned char)s[i]) != tolower((unsigned char)p[i]))
			return false;
	return true;
}

static bool has_prefix(const char *s, size_t n, const char *p)
{
	size_t pl = strlen(p);
	return n >= pl && memcmp(s, p, pl) == 0;
}

static bool contains(const char *s, size_t n, const char *needle)
{
	size_t nl = strlen(needle);
	for (size_t i = 0; i + nl <= n; i++)
		if (memcmp(s + i, needle, nl) == 0)
			return true;
	return false;
}

static bool contains_ci(const char *s, size_t n, const char *needle)
{
	size_t nl = strlen(needle);
	for (size_t i = 0; i + nl <= n; i++)
		if (has_prefix_ci(s + i, n - i, needle))
			return true;
	return false;
}

static bool eq_ci(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && has_prefix_ci(s, n, w);
}

static bool in_list_ci(const char *s, size_t n, const char *const *list, size_t nlist)
{
	for (size_t i = 0; i < nlist; i++)
		if (eq_ci(s, n, list[i]))
			return true;
	return false;
}

static void trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

static bool is_ident_start(unsigned char c)
{
	return isalpha(c) || c == '_' || c >= 0x80;
}

static bool all_digits(const char *s, size_t n)
{
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static uint32_t parse_u32(const char *s, size_t n, size_t *used)
{
	uint64_t v = 0;
	size_t i = 0;
	for (; i < n && isdigit((unsigned char)s[i]) && i < 9; i++)
		v = v * 10 + (uint64_t)(s[i] - '0');
	*used = i;
	return (uint32_t)v;
}

/* ---- word lists ------------------------------------------------------ */

/* English function words and code keywords common to many languages:
 * they carry no signal about where the code is. */
static const char *const stop_words[] = {
	"a", "about", "above", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as",
	"at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
	"can", "could", "did", "do", "does", "doing", "don", "down", "during", "each", "few", "for",
	"from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his",
	"how", "however", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "let", "like",
	"me", "might", "more", "most", "must", "my", "no", "nor", "not", "now", "of", "off", "on",
	"once", "only", "or", "other", "our", "out", "over", "own", "same", "she", "should", "so",
	"some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they",
	"this", "those", "through", "to", "too", "under", "until", "up", "us", "very", "was", "we",
	"were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with",
	"would", "you", "your", "yours", "yes", "get", "got", "see", "seems", "seem", "use", "used",
	"using", "want", "way", "work", "works", "working", "thanks", "thank", "please", "hi",
	"hello", "issue", "bug", "problem", "following", "example", "expected", "actual", "result",
	"results", "behavior", "behaviour", "happens", "happen", "instead", "try", "tried", "trying",
	"think", "know", "need", "make", "one", "two", "new", "still", "even", "well", "many", "much",
	"e", "g", "ie", "eg", "etc", "vs", "via",
	/* keywords */
	"def", "return", "import", "class", "self", "this", "cls", "else", "elif", "while", "true",
	"false", "none", "null", "nil", "undefined", "var", "const", "function", "fn", "func", "pub",
	"static", "void", "int", "char", "public", "private", "protected", "package", "new", "try",
	"catch", "except", "finally", "raise", "throw", "throws", "pass", "lambda", "yield", "async",
	"await", "struct", "enum", "impl", "mut", "use", "mod", "match", "case", "switch", "break",
	"continue", "goto", "typedef", "unsigned", "long", "float", "double", "bool", "string", "str",
	"print", "println", "printf", "console", "log", "assert", "with", "as", "is", "not", "and",
	"or", "in", "of", "let", "type", "interface", "extends", "implements", "go", "defer",
	"select", "chan", "range", "map", "make", "err", "require", "include", "define", "endif",
	"ifdef", "ifndef", "export", "default", "super", "final", "override", "object", "any",
};

static bool is_stop(const char *s, size_t n)
{
	return in_list_ci(s, n, stop_words, BASE_ARRAY_LEN(stop_words));
}

/* Error classes every program in the language can raise: common, so a
 * weaker hint than a project's own exception class. */
static const char *const builtin_errors[] = {
	"Exception", "Error", "ValueError", "TypeError", "KeyError", "AttributeError", "IndexError",
	"RuntimeError", "NameError", "ImportError", "ModuleNotFoundError", "NotImplementedError",
	"AssertionError", "OSError", "IOError", "FileNotFoundError", "ZeroDivisionError",
	"RecursionError", "StopIteration", "UnicodeDecodeError", "UnicodeEncodeError",
	"OverflowError", "PermissionError", "SyntaxError", "IndentationError", "DeprecationWarning",
	"UserWarning", "RuntimeWarning", "FutureWarning", "NullPointerException",
	"IllegalArgumentException", "IllegalStateException", "ClassCastException",
	"ArrayIndexOutOfBoundsException", "IndexOutOfBoundsException", "NumberFormatException",
	"UnsupportedOperationException", "ConcurrentModificationException", "IOException",
	"RuntimeException", "StackOverflowError", "OutOfMemoryError", "ReferenceError",
	"RangeError", "EvalError", "URIError", "AggregateError",
};

static bool is_error_class(const char *s, size_t n)
{
	static const char *const suffixes[] = { "Error", "Exception", "Warning", "Panic", "Fault", "Failure" };
	if (!n || !isupper((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < BASE_ARRAY_LEN(suffixes); i++) {
		size_t sl = strlen(suffixes[i]);
		if (n >= sl && memcmp(s + n - sl, suffixes[i], sl) == 0)
			return true;
	}
	return false;
}

static bool is_builtin_error(const char *s, size_t n)
{
	for (size_t i = 0; i < BASE_ARRAY_LEN(builtin_errors); i++)
		if (strlen(builtin_errors[i]) == n && memcmp(s, builtin_errors[i], n) == 0)
			return true;
	return false;
}

/* File extensions that make a dotted token a path rather than a name. */
static const char *const path_exts[] = {
	"py", "pyi", "pyx", "java", "kt", "kts", "scala", "groovy", "go", "js", "jsx", "mjs", "cjs",
	"ts", "tsx", "vue", "svelte", "rs", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "hxx", "cu",
	"cuh", "m", "mm", "swift", "rb", "php", "cs", "fs", "ex", "exs", "erl", "hs", "ml", "clj",
	"dart", "lua", "pl", "pm", "r", "jl", "sh", "bash", "zsh", "sql", "proto", "html", "css",
	"scss", "less", "xml", "yml", "yaml", "toml", "ini", "cfg", "json", "md", "rst", "txt",
	"gradle", "cmake", "mk", "zig", "nim", "v", "sv", "vhd", "tf", "nix", "el", "vim",
};

static bool is_path_ext(const char *s, size_t n)
{
	return in_list_ci(s, n, path_exts, BASE_ARRAY_LEN(path_exts));
}

static bool is_library_path(const char *s, size_t n)
{
	static const char *const marks[] = {
		"site-packages/", "dist-packages/", "node_modules/", "/usr/lib/", "/usr/local/lib/",
		"/usr/include/", "/lib/python", "/rustc/", "/.cargo/registry/", "/go/pkg/mod/",
		"/usr/local/go/src/", "<frozen", "node:internal", "/.rustup/", "/jdk/", "/.m2/",
		"/.gradle/caches/", "/libc.so", "/libstdc++", "/lib64/", "/lib/x86_64-linux-gnu/",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(marks); i++)
		if (contains(s, n, marks[i]))
			return true;
	return false;
}

static bool is_library_name(const char *s, size_t n)
{
	static const char *const prefixes[] = {
		"java.", "javax.", "sun.", "jdk.", "kotlin.", "scala.", "org.junit.", "junit.",
		"std::", "core::", "alloc::", "runtime.", "testing.", "reflect.", "sync.",
		"__libc", "__GI_", "_start", "__rust", "rust_begin_unwind", "node:", "process.",
		"Module.", "Object.<anonymous>", "internal/",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(prefixes); i++)
		if (has_prefix(s, n, prefixes[i]))
			return true;
	return false;
}

/* ---- the analysis being built --------------------------------------- */

struct an {
	struct idx_query_info *q;
	uint32_t *slots; /* term hash table: index + 1, 0 = empty */
	size_t nslots;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static void slots_grow(struct an *a)
{
	size_t n = a->nslots ? a->nslots * 2 : 256;
	uint32_t *s = base_calloc(n, sizeof(*s));
	for (size_t i = 0; i < a->q->terms.n; i++) {
		const char *t = a->q->terms.v[i].text;
		size_t j = (size_t)hash_bytes(t, strlen(t)) & (n - 1);
		while (s[j])
			j = (j + 1) & (n - 1);
		s[j] = (uint32_t)i + 1;
	}
	base_free(a->slots);
	a->slots = s;
	a->nslots = n;
}

static void add_term(struct an *a, const char *s, size_t n, float w, enum idx_term_kind kind)
{
	if (!n || n > 200)
		return;
	if ((a->q->terms.n + 1) * 2 > a->nslots)
		slots_grow(a);
	size_t j = (size_t)hash_bytes(s, n) & (a->nslots - 1);
	while (a->slots[j]) {
		struct idx_query_term *t = &a->q->terms.v[a->slots[j] - 1];
		if (strlen(t->text) == n && memcmp(t->text, s, n) == 0) {
			t->count++;
			if (w > t->weight) {
				t->weight = w;
				t->kind = kind;
			}
			return;
		}
		j = (j + 1) & (a->nslots - 1);
	}
	struct idx_query_term t = { base_strndup(s, n), w, kind, 1 };
	base_vec_push(&a->q->terms, t);
	a->slots[j] = (uint32_t)a->q->terms.n;
}

static void add_symbol(struct an *a, const char *name, size_t n, const char *qual, size_t qn, float w,
		       bool library)
{
	if (!n || n > 200 || !is_ident_start((unsigned char)name[0]))
		return;
	for (size_t i = 0; i < a->q->symbols.n; i++) {
		struct idx_symbol_hint *h = &a->q->symbols.v[i];
		if (strlen(h->name) == n && memcmp(h->name, name, n) == 0) {
			if (w > h->weight) {
				h->weight = w;
				h->library = library;
			}
			if (!h->qualified && qual) {
				h->qualified = base_strndup(qual, qn);
			}
			return;
		}
	}
	struct idx_symbol_hint h = { base_strndup(name, n), qual ? base_strndup(qual, qn) : NULL, w, library };
	base_vec_push(&a->q->symbols, h);
}

static void add_path(struct an *a, const char *p, size_t n, uint32_t line, float w)
{
	while (n > 2 && p[0] == '.' && p[1] == '/') {
		p += 2;
		n -= 2;
	}
	if (!n || n > 1000)
		return;
	bool library = is_library_path(p, n);
	if (library)
		w *= IDX_W_LIBRARY;
	for (size_t i = 0; i < a->q->paths.n; i++) {
		struct idx_path_hint *h = &a->q->paths.v[i];
		if (strlen(h->path) == n && memcmp(h->path, p, n) == 0) {
			if (!h->line)
				h->line = line;
			if (w > h->weight)
				h->weight = w;
			goto term;
		}
	}
	struct idx_path_hint h = { base_strndup(p, n), line, w, library };
	base_vec_push(&a->q->paths, h);
term:
	add_term(a, p, n, w, IDX_TERM_PATH);
	/* The file's name without extension names a module (query.py -> query). */
	size_t b = n;
	while (b && p[b - 1] != '/' && p[b - 1] != '\\')
		b--;
	size_t e = n;
	while (e > b && p[e - 1] != '.')
		e--;
	if (e > b + 1 && !library)
		add_term(a, p + b, e - 1 - b, IDX_W_MODULE, IDX_TERM_MODULE);
}

/* A word of text in a context: keywords and numbers go, error classes and
 * identifiers that look like code get their own kinds. */
static void add_word(struct an *a, const char *s, size_t n, enum idx_term_kind ctx, float w)
{
	if (n < 2 || all_digits(s, n) || !is_ident_start((unsigned char)s[0]))
		return;
	if (is_error_class(s, n)) {
		bool builtin = is_builtin_error(s, n);
		add_term(a, s, n, builtin ? IDX_W_ERROR_BUILTIN : IDX_W_ERROR, IDX_TERM_ERROR);
		if (!builtin)
			add_symbol(a, s, n, NULL, 0, IDX_W_ERROR, false);
		return;
	}
	if (is_stop(s, n))
		return;
	bool codey = false;
	for (size_t i = 1; i < n; i++)
		if (s[i] == '_' || (isupper((unsigned char)s[i]) && islower((unsigned char)s[i - 1])))
			codey = true;
	/* snake_case and camelCase in code name something defined somewhere */
	if (ctx == IDX_TERM_CODE && codey)
		add_symbol(a, s, n, NULL, 0, w, false);
	if (ctx == IDX_TERM_PROSE || ctx == IDX_TERM_MESSAGE) {
		if (codey) {
			add_term(a, s, n, IDX_W_CODE_BLOCK, IDX_TERM_CODE);
			return;
		}
		/* Prose words shorter than 3 letters are noise. */
		if (n < 3)
			return;
	}
	add_term(a, s, n, w, ctx);
}

static void add_words(struct an *a, const char *s, size_t n, enum idx_term_kind ctx, float w)
{
	size_t pos = 0;
	struct base_span sp;
	while (base_word_next(s, n, &pos, &sp))
		add_word(a, s + sp.off, sp.len, ctx, w);
}

/* ---- tokens: paths and qualified names ------------------------------- */

/*
 * Is tok[0,n) a path, maybe with ":line[:col]"? Sets the path length and
 * the line (0 when none).
 */
static bool token_path(const char *t, size_t n, size_t *plen, uint32_t *line)
{
	size_t end = n;
	*line = 0;
	/* Peel ":digits" suffixes (line, column). */
	for (int k = 0; k < 2; k++) {
		size_t i = end;
		while (i && isdigit((unsigned char)t[i - 1]))
			i--;
		if (i < end && i && t[i - 1] == ':') {
			size_t used;
			uint32_t v = parse_u32(t + i, end - i, &used);
			end = i - 1;
			*line = v; /* the first number after the path is the line */
		} else {
			break;
		}
	}
	if (!end)
		return false;
	size_t dot = end;
	while (dot && t[dot - 1] != '.' && t[dot - 1] != '/')
		dot--;
	if (!dot || t[dot - 1] != '.' || dot < 2)
		return false;
	if (!is_path_ext(t + dot, end - dot))
		return false;
	/* The name before the extension must look like a file name. */
	char c = t[dot - 2];
	if (!(isalnum((unsigned char)c) || c == '_' || c == '-'))
		return false;
	for (size_t i = 0; i < end; i++) {
		unsigned char ch = (unsigned char)t[i];
		if (!(isalnum(ch) || ch == '_' || ch == '-' || ch == '.' || ch == '/' || ch == '\\' ||
		      ch == '~' || ch == '@' || ch == '+' || ch >= 0x80))
			return false;
	}
	*plen = end;
	return true;
}

/* Split a qualified name at ".", "::", "#", "->"; components must be
 * identifiers. Returns the number of components (0: not qualified). */
#define MAX_COMPONENTS 16
static size_t qual_split(const char *t, size_t n, struct base_span *c, size_t max)
{
	size_t k = 0, i = 0;
	while (i < n) {
		size_t s = i;
		if (!is_ident_start((unsigned char)t[i]))
			return 0;
		while (i < n && base_is_word_byte((unsigned char)t[i]))
			i++;
		if (k == max)
			return 0;
		c[k].off = (uint32_t)s;
		c[k].len = (uint32_t)(i - s);
		k++;
		if (i == n)
			break;
		if (t[i] == '.' || t[i] == '#')
			i++;
		else if (i + 1 < n && ((t[i] == ':' && t[i + 1] == ':') || (t[i] == '-' && t[i + 1] == '>')))
			i += 2;
		else
			return 0;
		if (i == n)
			return 0;
	}
	return k >= 2 ? k : 0;
}

static void add_qualified(struct an *a, const char *t, size_t n, const struct base_span *c, size_t k, float w,
			  bool library)
{
	static const char *const abbrev[] = { "e.g", "i.e", "etc", "vs", "a.k.a", "w.r.t", "et.al" };
	static const char *const tlds[] = { "com", "org", "net", "io", "dev", "html", "www" };
	if (in_list_ci(t, n, abbrev, BASE_ARRAY_LEN(abbrev)))
		return;
	if (in_list_ci(t + c[k - 1].off, c[k - 1].len, tlds, BASE_ARRAY_LEN(tlds)) ||
	    eq_ci(t + c[0].off, c[0].len, "www"))
		return;
	if (library)
		w *= IDX_W_LIBRARY;
	add_term(a, t, n, w, IDX_TERM_QUALIFIED);
	const char *last = t + c[k - 1].off;
	add_symbol(a, last, c[k - 1].len, t, n, w, library);
	add_word(a, last, c[k - 1].len, IDX_TERM_SYMBOL, w * 0.9f);
	for (size_t i = 0; i + 1 < k; i++) {
		const char *s = t + c[i].off;
		size_t len = c[i].len;
		if (eq_ci(s, len, "self") || eq_ci(s, len, "this") || eq_ci(s, len, "cls"))
			continue;
		if (isupper((unsigned char)s[0])) {
			/* A class on the way to a method: a symbol too. */
			add_symbol(a, s, len, t, (size_t)(c[i].off + len), w * 0.8f, library);
			add_word(a, s, len, IDX_TERM_SYMBOL, w * 0.8f);
		} else {
			add_word(a, s, len, IDX_TERM_MODULE, library ? IDX_W_MODULE * IDX_W_LIBRARY : IDX_W_MODULE);
		}
	}
}

static bool is_delim(unsigned char c)
{
	return isspace(c) || strchr("()[]{},;=+*<>!&|'\"`?^%$", c) != NULL;
}

/* Cut a span of text into tokens; each is a path, a qualified name or words. */
static void scan_text(struct an *a, const char *s, size_t n, enum idx_term_kind ctx, float w)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && is_delim((unsigned char)s[i]))
			i++;
		size_t b = i;
		while (i < n && !is_delim((unsigned char)s[i]))
			i++;
		const char *t = s + b;
		size_t tn = i - b;
		/* Trailing sentence punctuation and leading markup. */
		while (tn && strchr(".:-#/\\", t[tn - 1]))
			tn--;
		while (tn && strchr(".:-#~@", t[0]) && !(t[0] == '.' && tn > 1 && t[1] == '/')) {
			t++;
			tn--;
		}
		if (!tn)
			continue;
		if (contains(t, tn, "://"))
			continue; /* URLs */
		size_t plen;
		uint32_t line;
		if (token_path(t, tn, &plen, &line)) {
			add_path(a, t, plen, line, IDX_W_PATH);
			continue;
		}
		struct base_span comp[MAX_COMPONENTS];
		size_t k = qual_split(t, tn, comp, MAX_COMPONENTS);
		if (k == 2 && (eq_ci(t, comp[0].len, "self") || eq_ci(t, comp[0].len, "this"))) {
			/* self.attr: the attribute, as a word of its context */
			add_words(a, t + comp[1].off, comp[1].len, ctx, w);
			continue;
		}
		if (k) {
			bool call = i < n && s[i] == '(';
			float qw = IDX_W_QUALIFIED;
			if ((ctx == IDX_TERM_PROSE && !call) || ctx == IDX_TERM_CODE)
				qw = IDX_W_QUALIFIED * 0.8f;
			add_qualified(a, t, tn, comp, k, qw, is_library_name(t, tn));
			continue;
		}
		/* A call in prose ("calls frobnicate() twice") is code. */
		if (i < n && s[i] == '(' && ctx == IDX_TERM_PROSE) {
			add_words(a, t, tn, IDX_TERM_CODE, IDX_W_CODE_TICK);
			continue;
		}
		add_words(a, t, tn, ctx, w);
	}
}

/* Prose with `backtick` spans: the spans are code. */
static void scan_prose(struct an *a, const char *s, size_t n, enum idx_term_kind ctx, float w)
{
	size_t i = 0;
	while (i < n) {
		const char *tick = memchr(s + i, '`', n - i);
		if (!tick) {
			scan_text(a, s + i, n - i, ctx, w);
			return;
		}
		size_t o = (size_t)(tick - s);
		scan_text(a, s + i, o - i, ctx, w);
		const char *close = memchr(s + o + 1, '`', n - o - 1);
		if (!close) {
			scan_text(a, s + o + 1, n - o - 1, ctx, w);
			return;
		}
		size_t c = (size_t)(close - s);
		scan_text(a, s + o + 1, c - o - 1, IDX_TERM_CODE, IDX_W_CODE_TICK);
		i = c + 1;
	}
}

/* ---- stack frames ----------------------------------------------------- */

/* Python: File "x/y.py", line 12, in func */
static bool frame_python(struct an *a, const char *s, size_t n)
{
	if (!has_prefix(s, n, "File \""))
		return false;
	const char *p = s + 6;
	const char *q = memchr(p, '"', n - 6);
	if (!q)
		return false;
	size_t pl = (size_t)(q - p);
	const char *rest = q + 1;
	size_t rn = n - (size_t)(rest - s);
	uint32_t line = 0;
	const char *ln = NULL;
	for (size_t i = 0; i + 5 < rn; i++)
		if (memcmp(rest + i, "line ", 5) == 0) {
			ln = rest + i + 5;
			break;
		}
	if (ln) {
		size_t used;
		line = parse_u32(ln, n - (size_t)(ln - s), &used);
	}
	bool library = is_library_path(p, pl);
	add_path(a, p, pl, line, IDX_W_PATH);
	for (size_t i = 0; i + 4 <= rn; i++) {
		if (memcmp(rest + i, ", in ", 4) == 0 || memcmp(rest + i, " in ", 4) == 0) {
			const char *f = rest + i + 4;
			while (*f == ' ')
				f++;
			size_t fn = 0;
			while (f + fn < s + n && base_is_word_byte((unsigned char)f[fn]))
				fn++;
			if (fn && !(fn == 8 && memcmp(f, "<module>", 8) == 0)) {
				float w = library ? IDX_W_SYMBOL * IDX_W_LIBRARY : IDX_W_SYMBOL;
				add_symbol(a, f, fn, NULL, 0, w, library);
				add_word(a, f, fn, IDX_TERM_SYMBOL, w);
			}
			break;
		}
	}
	return true;
}

/* A function name as a frame names it, maybe qualified: add it. */
static void frame_name(struct an *a, const char *f, size_t fn, bool library)
{
	/* Java inner classes and lambdas: Foo$Bar.run, lambda$main$0. */
	char tmp[512];
	size_t tn = 0;
	for (size_t i = 0; i < fn && tn < sizeof(tmp) - 1; i++) {
		if (f[i] == '$') {
			while (i + 1 < fn && f[i + 1] != '.')
				i++;
			continue;
		}
		tmp[tn++] = f[i];
	}
	/* Go receivers: pkg.(*T).Method -> pkg.T.Method */
	size_t o = 0;
	for (size_t i = 0; i < tn; i++) {
		if (tmp[i] == '(' || tmp[i] == ')' || tmp[i] == '*')
			continue;
		tmp[o++] = tmp[i];
	}
	tn = o;
	/* Go package paths: github.com/x/y/pkg.Func -> pkg.Func */
	const char *t = tmp;
	const char *slash = NULL;
	for (size_t i = 0; i < tn; i++)
		if (t[i] == '/')
			slash = t + i;
	if (slash) {
		tn -= (size_t)(slash + 1 - t);
		t = slash + 1;
	}
	/* Rust symbol hashes: a::b::c::h0123456789abcdef */
	if (tn > 19 && memcmp(t + tn - 19, "::h", 3) == 0)
		tn -= 19;
	float w = library ? IDX_W_SYMBOL * IDX_W_LIBRARY : IDX_W_SYMBOL;
	struct base_span comp[MAX_COMPONENTS];
	size_t k = qual_split(t, tn, comp, MAX_COMPONENTS);
	if (k) {
		add_qualified(a, t, tn, comp, k, IDX_W_QUALIFIED, library);
		return;
	}
	if (tn && is_ident_start((unsigned char)t[0])) {
		size_t wn = 0;
		while (wn < tn && base_is_word_byte((unsigned char)t[wn]))
			wn++;
		if (wn == tn) {
			add_symbol(a, t, tn, NULL, 0, w, library);
			add_word(a, t, tn, IDX_TERM_SYMBOL, w);
		}
	}
}

/* The location inside a frame's parentheses or after "at ": a path with a
 * line, or Java's "Cls.java:12" (made into pkg/Cls.java from the name). */
static void frame_location(struct an *a, const char *loc, size_t ln, const char *name, size_t nn)
{
	size_t plen;
	uint32_t line;
	trim(&loc, &ln);
	if (!token_path(loc, ln, &plen, &line))
		return;
	bool java = (plen > 5 && memcmp(loc + plen - 5, ".java", 5) == 0) ||
		    (plen > 3 && memcmp(loc + plen - 3, ".kt", 3) == 0) ||
		    (plen > 6 && memcmp(loc + plen - 6, ".scala", 6) == 0);
	if (java && !memchr(loc, '/', plen) && name && nn) {
		/* org.acme.Foo.bar + Foo.java -> org/acme/Foo.java */
		size_t cut = nn;
		int dots = 0;
		while (cut && dots < 2) {
			cut--;
			if (name[cut] == '.')
				dots++;
		}
		if (dots == 2) {
			char path[1024];
			size_t o = 0;
			for (size_t i = 0; i <= cut && o < sizeof(path) - 1; i++)
				path[o++] = name[i] == '.' ? '/' : name[i];
			if (o + plen < sizeof(path)) {
				memcpy(path + o, loc, plen);
				o += plen;
				bool library = is_library_name(name, nn);
				add_path(a, path, o, line, library ? IDX_W_PATH * IDX_W_LIBRARY : IDX_W_PATH);
				return;
			}
		}
	}
	add_path(a, loc, plen, line, is_library_name(name ? name : "", nn) ? IDX_W_PATH * IDX_W_LIBRARY : IDX_W_PATH);
}

/* Java, JS, Rust: "at NAME(LOC)", "at NAME (LOC)", "at LOC". */
static bool frame_at(struct an *a, const char *s, size_t n)
{
	if (!has_prefix(s, n, "at "))
		return false;
	const char *r = s + 3;
	size_t rn = n - 3;
	trim(&r, &rn);
	if (has_prefix(r, rn, "async ")) {
		r += 6;
		rn -= 6;
	}
	if (has_prefix(r, rn, "new ")) {
		r += 4;
		rn -= 4;
	}
	const char *open = memchr(r, '(', rn);
	if (open && rn && r[rn - 1] == ')') {
		const char *name = r;
		size_t nn = (size_t)(open - r);
		while (nn && name[nn - 1] == ' ')
			nn--;
		bool library = is_library_name(name, nn);
		const char *loc = open + 1;
		size_t ln = (size_t)(r + rn - 1 - loc);
		bool lib_loc = is_library_path(loc, ln);
		/* "(Native Method)", "(Unknown Source)" have no location. */
		if (nn && !contains(name, nn, "<anonymous>"))
			frame_name(a, name, nn, library || lib_loc);
		frame_location(a, loc, ln, name, nn);
		return true;
	}
	size_t plen;
	uint32_t line;
	if (token_path(r, rn, &plen, &line)) {
		add_path(a, r, plen, line, IDX_W_PATH);
		return true;
	}
	return false;
}

/* gdb/ASan: "#0 0x00 in func (args) at file.c:12", "#1 0x.. in func file.c:12:3" */
static bool frame_gdb(struct an *a, const char *s, size_t n)
{
	if (n < 3 || s[0] != '#' || !isdigit((unsigned char)s[1]))
		return false;
	size_t i = 1;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	if (i >= n || s[i] != ' ')
		return false;
	while (i < n && s[i] == ' ')
		i++;
	if (has_prefix(s + i, n - i, "0x")) {
		while (i < n && s[i] != ' ')
			i++;
		while (i < n && s[i] == ' ')
			i++;
		if (!has_prefix(s + i, n - i, "in "))
			return true; /* an address only */
		i += 3;
	}
	size_t f = i;
	while (i < n && s[i] != ' ' && s[i] != '(')
		i++;
	const char *name = s + f;
	size_t nn = i - f;
	const char *loc = NULL;
	size_t ln = 0;
	for (size_t j = i; j + 4 <= n; j++) {
		if (memcmp(s + j, " at ", 4) == 0) {
			loc = s + j + 4;
			ln = n - j - 4;
		}
	}
	if (!loc) {
		/* ASan: the location is the last token. */
		size_t e = n;
		while (e > i && s[e - 1] != ' ')
			e--;
		if (e > i) {
			loc = s + e;
			ln = n - e;
		}
	}
	bool library = loc && is_library_path(loc, ln);
	if (contains(s, n, " from /"))
		library = true;
	if (nn)
		frame_name(a, name, nn, library || is_library_name(name, nn));
	if (loc) {
		size_t plen;
		uint32_t line;
		if (token_path(loc, ln, &plen, &line))
			add_path(a, loc, plen, line, IDX_W_PATH);
	}
	return true;
}

/* Go: "pkg.Func(0x1, ...)" then "\t/path/x.go:12 +0x1d"; Rust: "  3: a::b::c". */
static bool frame_go_rust(struct an *a, const char *s, size_t n)
{
	/* Rust backtrace line: "12: name" */
	size_t i = 0;
	while (i < n && isdigit((unsigned char)s[i]))
		i++;
	if (i && i + 2 < n && s[i] == ':' && s[i + 1] == ' ') {
		const char *name = s + i + 2;
		size_t nn = n - i - 2;
		trim(&name, &nn);
		if (contains(name, nn, "::") && !memchr(name, ' ', nn)) {
			frame_name(a, name, nn, is_library_name(name, nn));
			return true;
		}
	}
	/* Go source line: path.go:12 +0x1d */
	const char *go = NULL;
	for (size_t j = 0; j + 4 <= n; j++)
		if (memcmp(s + j, ".go:", 4) == 0)
			go = s + j;
	if (go && (s[0] == '/' || contains(s, n, " +0x") || n == (size_t)(go - s) + 4 + strspn(go + 4, "0123456789"))) {
		size_t e = (size_t)(go - s) + 4;
		while (e < n && isdigit((unsigned char)s[e]))
			e++;
		size_t plen;
		uint32_t line;
		if (token_path(s, e, &plen, &line)) {
			add_path(a, s, plen, line, IDX_W_PATH);
			return true;
		}
	}
	/* Go function line: "main.(*T).Method(0xc000, ...)" or "pkg/sub.Func(...)" */
	const char *open = NULL;
	for (size_t j = 0; j < n; j++) {
		if (s[j] == '(' && j + 1 < n && s[j + 1] != '*') {
			open = s + j;
			break;
		}
		if (s[j] == ' ')
			return false;
	}
	if (open && s[n - 1] == ')' && open > s && memchr(s, '.', (size_t)(open - s)) &&
	    (contains(open, n - (size_t)(open - s), "0x") || open[1] == ')' || open[1] == '.')) {
		size_t nn = (size_t)(open - s);
		frame_name(a, s, nn, is_library_name(s, nn) || has_prefix(s, nn, "created by"));
		return true;
	}
	return false;
}

/* ---- boilerplate ----------------------------------------------------- */

static const char *const template_headings[] = {
	"describe the bug", "bug description", "description", "to reproduce", "steps to reproduce",
	"reproduction steps", "steps to reproduce the behavior", "steps to reproduce the behaviour",
	"expected behavior", "expected behaviour", "expected result", "expected results",
	"expected output", "actual behavior", "actual behaviour", "actual result", "actual results",
	"actual output", "current behavior", "current behaviour", "what happened",
	"what did you expect to happen", "what did you expect to see", "what did you do",
	"what did you see instead", "additional context", "additional information", "screenshots",
	"checklist", "minimal reproducible example", "minimal example", "code sample", "code example",
	"reproducible example", "reproduction", "problem description", "issue description", "summary",
	"context", "possible solution", "proposed solution", "relevant log output", "logs", "log output",
	"traceback", "error message", "error", "stack trace", "stacktrace", "other", "notes",
	"related issues", "details", "bug report", "feature request", "motivation",
	"is your feature request related to a problem", "describe the solution you'd like",
	"describe alternatives you've considered", "mcve", "output", "input", "code", "example",
};

/* Headings that open an environment dump: everything up to the next
 * heading goes. */
static bool env_heading(const char *s, size_t n)
{
	static const char *const marks[] = {
		"environment", "version", "system info", "system information", "platform",
		"operating system", "pip freeze", "pip list", "conda list", "installed packages",
		"dependencies", "setup", "configuration", "your system",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(marks); i++)
		if (contains_ci(s, n, marks[i]))
			return true;
	return false;
}

/* Strip markdown heading/bold markers and a trailing colon. */
static void heading_text(const char **s, size_t *n)
{
	while (*n && strchr("#*_ >", **s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && strchr("#*_: ", (*s)[*n - 1]))
		(*n)--;
}

/* A line that is an issue-template prompt or instruction. */
static bool template_line(const char *s, size_t n)
{
	static const char *const phrases[] = {
		"clear and concise description", "steps to reproduce the behavio", "go to '",
		"click on '", "scroll down to '", "see error", "if applicable, add screenshots",
		"add any other context", "please provide", "please complete", "please fill",
		"please describe", "please include", "please make sure", "please check",
		"i have searched", "i've searched", "searched the existing issues",
		"a description of what you expected", "paste the output", "paste any relevant",
		"(please complete the following information)", "thanks for contributing",
		"thank you for reporting", "before submitting", "make sure you",
		"this issue template", "provide a minimal",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(phrases); i++)
		if (contains_ci(s, n, phrases[i]))
			return true;
	return false;
}

/* pip freeze, "OS: ...", "Python version: 3.8", version banners, pytest's
 * session header, rulers. */
static bool env_line(const char *s, size_t n)
{
	static const char *const keys[] = {
		"os", "operating system", "python", "python version", "version", "platform", "browser",
		"node", "node version", "node.js", "npm", "yarn", "rust", "rustc", "cargo", "go",
		"go version", "java", "jdk", "jvm", "kernel", "arch", "architecture", "compiler", "gcc",
		"clang", "cmake", "device", "hardware", "cpu", "gpu", "ram", "memory", "installation",
		"install method", "package version", "library version", "distribution", "distro",
		"ide", "editor", "shell", "terminal", "machine", "processor", "release", "build",
		"commit", "executable", "sys.version", "numpy", "scipy", "pandas", "django", "cuda",
		"pytest", "rootdir", "plugins", "cachedir", "configfile", "locale", "bits", "byteorder",
		"lc_all", "lang", "encoding",
	};
	const char *p = s;
	size_t pn = n;
	while (pn && strchr("-*+ ", *p)) {
		p++;
		pn--;
	}
	heading_text(&p, &pn);
	/* "key: value" with a known key */
	const char *colon = memchr(p, ':', pn);
	if (colon) {
		const char *k = p;
		size_t kn = (size_t)(colon - p);
		while (kn && strchr("*_ ", k[kn - 1]))
			kn--;
		while (kn && strchr("*_ ", *k)) {
			k++;
			kn--;
		}
		if (in_list_ci(k, kn, keys, BASE_ARRAY_LEN(keys)))
			return true;
	}
	/* pip freeze: name==1.2.3, name @ file://... */
	size_t i = 0;
	while (i < n && (isalnum((unsigned char)s[i]) || strchr("-_.[]", s[i])))
		i++;
	if (i && i + 2 < n && (has_prefix(s + i, n - i, "==") || has_prefix(s + i, n - i, "~=")) &&
	    !memchr(s + i, ' ', n - i))
		return true;
	/* rulers and pytest banners */
	size_t ruler = 0;
	for (size_t j = 0; j < n; j++)
		ruler += strchr("=-*_~", s[j]) != NULL;
	if (n >= 3 && ruler * 2 > n && contains_ci(s, n, "session starts"))
		return true;
	if (n >= 3 && ruler == n)
		return true;
	if (has_prefix_ci(s, n, "collected ") || has_prefix_ci(s, n, "platform ") ||
	    has_prefix_ci(s, n, "traceback (most recent call last)") ||
	    has_prefix_ci(s, n, "during handling of the above exception") ||
	    has_prefix_ci(s, n, "the above exception was the direct cause") ||
	    has_prefix_ci(s, n, "goroutine ") || has_prefix_ci(s, n, "stack backtrace") ||
	    has_prefix_ci(s, n, "note: run with `rust_backtrace") || has_prefix_ci(s, n, "[gcc ") ||
	    has_prefix_ci(s, n, "type \"help\", \"copyright\""))
		return true;
	if (has_prefix(s, n, "...") && contains(s, n, " more"))
		return true;
	/* shell commands that dump the environment */
	static const char *const dumps[] = { "pip freeze", "pip list", "conda list", "--version", "uname -a",
					     "go env", "npm ls", "conda info", "sys.version" };
	if (has_prefix(s, n, "$ ") || has_prefix(s, n, "> ") || has_prefix(s, n, ">>> "))
		for (size_t j = 0; j < BASE_ARRAY_LEN(dumps); j++)
			if (contains(s, n, dumps[j]))
				return true;
	/* Version banners: a version number, a tool name, few other words. */
	static const char *const tools[] = {
		"python", "node", "go", "rustc", "cargo", "java", "openjdk", "jdk", "gcc", "clang",
		"npm", "yarn", "pip", "version", "linux", "darwin", "macos", "windows", "ubuntu",
		"debian", "fedora", "centos", "kernel", "pypy", "cpython", "conda", "deno", "bun",
	};
	bool version = false, tool = false;
	size_t words = 0, pos = 0;
	struct base_span w;
	if (n > 120)
		return false;
	for (size_t j = 0; j + 2 < n; j++)
		if (isdigit((unsigned char)s[j]) && s[j + 1] == '.' && isdigit((unsigned char)s[j + 2]))
			version = true;
	while (base_word_next(s, n, &pos, &w)) {
		const char *ws = s + w.off;
		if (in_list_ci(ws, w.len, tools, BASE_ARRAY_LEN(tools)) ||
		    (w.len > 2 && (has_prefix_ci(ws, w.len, "go1") || has_prefix_ci(ws, w.len, "python3"))))
			tool = true;
		if (!isdigit((unsigned char)ws[0]) && !(ws[0] == 'v' && w.len > 1 && isdigit((unsigned char)ws[1])))
			words++;
	}
	return version && tool && words <= 6;
}

/* ---- the line loop --------------------------------------------------- */

/* "ValueError: message", "Caused by: x.y.FooException: m", "panic: m",
 * "error[E0308]: m", "Exception in thread "main" x.Y: m". Returns the
 * offset of the message (0 when the line is not an error line) and adds
 * the class. */
static size_t error_line(struct an *a, const char *s, size_t n)
{
	size_t off = 0;
	if (has_prefix(s, n, "Caused by: "))
		off = 11;
	else if (has_prefix(s, n, "Exception in thread \"")) {
		const char *q = memchr(s + 21, '"', n - 21);
		if (!q)
			return 0;
		off = (size_t)(q - s) + 1;
		while (off < n && s[off] == ' ')
			off++;
	}
	static const char *const plain[] = { "panic: ", "error: ", "fatal error: ", "Error: ", "ERROR: ",
					     "fatal: ", "thread '" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(plain); i++)
		if (has_prefix(s + off, n - off, plain[i]))
			return off + strlen(plain[i]);
	if (has_prefix(s + off, n - off, "error[")) {
		const char *c = memchr(s + off, ':', n - off);
		return c ? (size_t)(c - s) + 1 : 0;
	}
	size_t e = off;
	while (e < n && (base_is_word_byte((unsigned char)s[e]) || s[e] == '.' || s[e] == '$'))
		e++;
	if (e == off || (e < n && s[e] != ':') )
		return 0;
	/* the class is the last dotted component */
	size_t b = e;
	while (b > off && s[b - 1] != '.')
		b--;
	if (!is_error_class(s + b, e - b))
		return 0;
	bool builtin = is_builtin_error(s + b, e - b);
	add_term(a, s + b, e - b, builtin ? IDX_W_ERROR_BUILTIN : IDX_W_ERROR, IDX_TERM_ERROR);
	if (!builtin)
		add_symbol(a, s + b, e - b, b > off ? s + off : NULL, b > off ? e - off : 0, IDX_W_ERROR,
			   is_library_name(s + off, e - off));
	if (b > off && !is_library_name(s + off, e - off))
		add_term(a, s + off, e - off, IDX_W_QUALIFIED * 0.8f, IDX_TERM_QUALIFIED);
	return e < n ? e + 1 : n;
}

static int cmp_term(const void *x, const void *y)
{
	const struct idx_query_term *a = x, *b = y;
	if (a->weight != b->weight)
		return a->weight > b->weight ? -1 : 1;
	return 0;
}

static int cmp_symbol(const void *x, const void *y)
{
	const struct idx_symbol_hint *a = x, *b = y;
	if (a->weight != b->weight)
		return a->weight > b->weight ? -1 : 1;
	return 0;
}

/* Stable sorts: equal weights keep first-seen order (insertion sort on
 * small arrays would do; use a merge through an index). */
static void sort_stable(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	char *v = base;
	char *tmp = base_malloc(size ? size : 1);
	for (size_t i = 1; i < n; i++) {
		size_t j = i;
		memcpy(tmp, v + i * size, size);
		/* binary search for the insertion point keeps it O(n log n) compares */
		size_t lo = 0, hi = i;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (cmp(v + mid * size, tmp) <= 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		j = lo;
		if (j < i) {
			memmove(v + (j + 1) * size, v + j * size, (i - j) * size);
			memcpy(v + j * size, tmp, size);
		}
	}
	base_free(tmp);
}

static int build_lexical(struct idx_query_info *q, struct base_err *err)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_QUERY);
	size_t emitted = 0;
	for (size_t i = 0; i < q->terms.n && emitted < 256; i++) {
		const struct idx_query_term *t = &q->terms.v[i];
		const char *s = t->text;
		size_t n = strlen(s);
		if (t->kind == IDX_TERM_PATH) {
			/* the file name without directories and extension */
			size_t bgn = n;
			while (bgn && s[bgn - 1] != '/' && s[bgn - 1] != '\\')
				bgn--;
			size_t e = n;
			while (e > bgn && s[e - 1] != '.')
				e--;
			s += bgn;
			n = e > bgn + 1 ? e - 1 - bgn : n - bgn;
		}
		int reps = t->weight >= 2.5f ? 3 : t->weight >= 1.5f ? 2 : 1;
		for (int r = 0; r < reps; r++) {
			if ((b.len && base_buf_addc(&b, ' ')) || base_buf_add(&b, s, n)) {
				base_buf_release(&b);
				return base_err_set(err, BASE_E_TOOBIG, "query analysis: lexical text too long");
			}
		}
		emitted++;
	}
	q->lexical = base_buf_detach(&b, &q->lexical_len);
	return BASE_OK;
}

/*
 * The area prefix of a subject line, as commit messages and many issue
 * titles have it: "net/http: ...", "ignore/types: ...", "core: ...". Its
 * parts name directories or modules. Returns the bytes to skip (0: none).
 */
static size_t subject_area(struct an *a, const char *s, size_t n)
{
	size_t k = 0;
	while (k < n && k <= 40 && (isalnum((unsigned char)s[k]) || s[k] == '_' || s[k] == '-' || s[k] == '/' ||
				     s[k] == '.'))
		k++;
	if (!k || k > 40 || k + 1 >= n || s[k] != ':' || s[k + 1] != ' ')
		return 0;
	for (size_t i = 0; i < k;) {
		size_t j = i;
		while (j < k && s[j] != '/' && s[j] != '.')
			j++;
		if (j - i >= 2 && is_ident_start((unsigned char)s[i]) && !is_stop(s + i, j - i))
			add_term(a, s + i, j - i, IDX_W_MODULE, IDX_TERM_MODULE);
		i = j + 1;
	}
	return k + 1;
}

int idx_query_analyze(const char *text, size_t len, struct idx_query_info *out, struct base_err *err)
{
	*out = (struct idx_query_info)IDX_QUERY_INFO_INIT;
	if (len > IDX_QUERY_MAX)
		return base_err_set(err, BASE_E_TOOBIG, "query analysis: %zu bytes is over the %zu-byte limit", len,
				    (size_t)IDX_QUERY_MAX);
	struct an a = { out, NULL, 0 };
	bool fence = false, comment = false, env_section = false, after_py_frame = false, skip_source = false;
	bool subject = true; /* the first line with content is still to come */
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		const char *s = text + pos;
		size_t n = end - pos;
		pos = nl ? end + 1 : len;
		size_t raw = n + (nl ? 1 : 0);
		trim(&s, &n);
		if (comment) {
			out->dropped_bytes += raw;
			if (contains(s, n, "-->"))
				comment = false;
			continue;
		}
		if (has_prefix(s, n, "<!--")) {
			out->dropped_bytes += raw;
			comment = !contains(s, n, "-->");
			continue;
		}
		if (has_prefix(s, n, "```") || has_prefix(s, n, "~~~")) {
			fence = !fence;
			continue;
		}
		if (!n) {
			after_py_frame = false;
			continue;
		}
		if (!fence) {
			bool heading = s[0] == '#' && n > 1 && (s[1] == '#' || s[1] == ' ');
			bool bold = has_prefix(s, n, "**") && n > 4 && memcmp(s + n - 2, "**", 2) == 0;
			bool bold_colon = has_prefix(s, n, "**") && n > 5 && memcmp(s + n - 3, "**:", 3) == 0;
			const char *h = s;
			size_t hn = n;
			heading_text(&h, &hn);
			bool tmpl = in_list_ci(h, hn, template_headings, BASE_ARRAY_LEN(template_headings));
			if (heading || bold || bold_colon || (tmpl && s[n - 1] == ':') || (tmpl && hn == n)) {
				env_section = env_heading(h, hn) && hn < 60;
				if (tmpl || env_section) {
					out->dropped_bytes += raw;
					continue;
				}
				if (heading)
					env_section = false;
			}
			if (env_section) {
				out->dropped_bytes += raw;
				continue;
			}
			if (has_prefix(s, n, "- [") || has_prefix(s, n, "* [") || has_prefix(s, n, "[x]") ||
			    has_prefix(s, n, "[ ]") || template_line(s, n)) {
				out->dropped_bytes += raw;
				continue;
			}
		}
		if (env_line(s, n)) {
			out->dropped_bytes += raw;
			continue;
		}
		bool first = subject; /* the first line with content: a subject may start it */
		subject = false;
		size_t npaths = out->paths.n;
		if (frame_python(&a, s, n)) {
			/* the source line under a library frame says nothing about the project */
			after_py_frame = out->paths.n > npaths ? !out->paths.v[out->paths.n - 1].library : true;
			skip_source = !after_py_frame;
			continue;
		}
		if (skip_source) {
			skip_source = false;
			if (n && (s - text) > 0 && isspace((unsigned char)s[-1])) {
				out->dropped_bytes += raw;
				continue;
			}
		}
		if (frame_at(&a, s, n) || frame_gdb(&a, s, n) || frame_go_rust(&a, s, n)) {
			after_py_frame = false;
			continue;
		}
		if (after_py_frame) {
			/* The source line Python prints under a frame. */
			after_py_frame = false;
			scan_text(&a, s, n, IDX_TERM_CODE, IDX_W_CODE_BLOCK);
			continue;
		}
		size_t msg = error_line(&a, s, n);
		if (msg) {
			scan_prose(&a, s + msg, n - msg, IDX_TERM_MESSAGE, IDX_W_MESSAGE);
			continue;
		}
		if (first && !fence) {
			size_t skip = subject_area(&a, s, n);
			s += skip;
			n -= skip;
		}
		/* Rust's panic line: "thread 'main' panicked at src/x.rs:12:5:" */
		if (fence)
			scan_text(&a, s, n, IDX_TERM_CODE, IDX_W_CODE_BLOCK);
		else
			scan_prose(&a, s, n, IDX_TERM_PROSE, IDX_W_PROSE);
	}
	base_free(a.slots);
	/* Repetition is a weak signal: up to +50% for a term seen 6 times. */
	for (size_t i = 0; i < out->terms.n; i++) {
		struct idx_query_term *t = &out->terms.v[i];
		uint32_t extra = t->count > 6 ? 5 : t->count - 1;
		t->weight *= 1.0f + 0.1f * (float)extra;
	}
	sort_stable(out->terms.v, out->terms.n, sizeof(*out->terms.v), cmp_term);
	sort_stable(out->symbols.v, out->symbols.n, sizeof(*out->symbols.v), cmp_symbol);
	int rc = build_lexical(out, err);
	if (rc)
		idx_query_info_release(out);
	return rc;
}

void idx_query_info_release(struct idx_query_info *q)
{
	for (size_t i = 0; i < q->terms.n; i++)
		base_free(q->terms.v[i].text);
	for (size_t i = 0; i < q->paths.n; i++)
		base_free(q->paths.v[i].path);
	for (size_t i = 0; i < q->symbols.n; i++) {
		base_free(q->symbols.v[i].name);
		base_free(q->symbols.v[i].qualified);
	}
	base_vec_release(&q->terms);
	base_vec_release(&q->paths);
	base_vec_release(&q->symbols);
	base_free(q->lexical);
	*q = (struct idx_query_info)IDX_QUERY_INFO_INIT;
}

float idx_query_term_weight(const struct idx_query_info *q, const char *text)
{
	for (size_t i = 0; i < q->terms.n; i++)
		if (strcmp(q->terms.v[i].text, text) == 0)
			return q->terms.v[i].weight;
	return 0;
}
