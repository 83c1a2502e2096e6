/*
 * chunk.c: chunking along syntax boundaries (split-then-merge, after cAST).
 *
 * 1. Split. Walk the syntax tree from the root. A child small enough
 *    (<= max non-whitespace bytes) becomes one piece; a larger child is
 *    split at its own children, recursively; a large leaf is split at line
 *    ends. A definition that is split becomes the *owner* of the pieces
 *    inside it, and the scope of the definitions inside it.
 * 2. Glue. Comments directly above a definition join it (doc comments).
 * 3. Merge. Neighbouring pieces with the same owner merge while they fit;
 *    two definitions merge only while they fit in half the budget, so a
 *    chunk of several definitions holds only small ones (getters, macros).
 * 4. Cover. Boundaries move to line starts and every gap (whitespace,
 *    tokens outside any piece) joins the piece before it, so the chunks
 *    cover the file exactly once.
 *
 * A file that does not parse in time falls back to the text chunker.
 *
 * Names. One more walk over the tree records, for the chunk each falls in,
 * the names it defines (what the chunker calls a definition), imports
 * (import/use/include statements: their identifiers) and calls (a call's
 * function, its last identifier: `self.a.b()` calls b). Node types are
 * matched by name ("call", "invocation", "import", ...), so every grammar
 * gets them without a table of its own.
 */
#include <string.h>

#include "indexer/chunk.h"
#include "store/store.h"

#include "base/banned.h"

#define PARSE_TIMEOUT_US (5 * 1000 * 1000)
#define SYMBOL_MAX 160

/* The definition that owns a run of pieces: kind, name, and its scope. */
struct owner {
	const char *kind;
	const char *symbol; /* NULL at the file level */
	const char *scope;  /* where the owner itself lives ("" at top) */
	const char *inner;  /* scope of definitions inside it */
	uint32_t id;        /* start byte + 1 of the owner; 0 for the file */
};

struct piece {
	uint32_t start, end;
	uint32_t size;  /* non-whitespace bytes */
	uint32_t owner; /* struct owner id */
	uint16_t defs;  /* definitions inside */
	bool comment;
	const char *kind;
	char *symbol; /* heap */
	char *scope;  /* heap */
	uint32_t def_size; /* size of the largest definition, for naming */
};

struct ctx {
	const struct idx_lang *lang;
	const char *data;
	size_t len;
	unsigned max;
	const uint32_t *nonws; /* prefix sums: nonws[i] = non-space bytes before i */
	BASE_VEC(struct piece) pieces;
};

static uint32_t size_of(const struct ctx *c, uint32_t start, uint32_t end)
{
	return c->nonws[end] - c->nonws[start];
}

static bool is_comment(TSNode n)
{
	return strstr(ts_node_type(n), "comment") != NULL;
}

/* Node text with runs of whitespace collapsed, capped: a readable name. */
static char *node_name(const struct ctx *c, TSNode n)
{
	uint32_t s = ts_node_start_byte(n), e = ts_node_end_byte(n);
	if (e > c->len || s >= e)
		return NULL;
	struct base_buf b = BASE_BUF_INIT(SYMBOL_MAX);
	bool space = false;
	for (uint32_t i = s; i < e; i++) {
		unsigned char ch = (unsigned char)c->data[i];
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			space = b.len > 0;
			continue;
		}
		if ((space && base_buf_addc(&b, ' ')) || base_buf_addc(&b, (char)ch))
			break;
		space = false;
	}
	if (b.len == 0) {
		base_buf_release(&b);
		return NULL;
	}
	return base_buf_detach(&b, NULL);
}

static bool is_name_node(const char *type)
{
	size_t n = strlen(type);
	return (n >= 10 && strcmp(type + n - 10, "identifier") == 0) || strcmp(type, "operator_name") == 0 ||
	       strcmp(type, "destructor_name") == 0 || strcmp(type, "constant") == 0 || strcmp(type, "name") == 0 ||
	       strcmp(type, "word") == 0 || strcmp(type, "simple_identifier") == 0;
}

/* The name of a definition: its `name` field, else the identifier at the
 * bottom of its `declarator` chain (C, C++), else the name of what it
 * wraps (`definition`: Python decorators; a spec child: Go types). */
static char *def_name(const struct ctx *c, TSNode n, int depth)
{
	if (depth > 6 || ts_node_is_null(n))
		return NULL;
	TSNode f = ts_node_child_by_field_name(n, "name", 4);
	if (!ts_node_is_null(f))
		return node_name(c, f);
	f = ts_node_child_by_field_name(n, "declarator", 10);
	if (!ts_node_is_null(f)) {
		if (is_name_node(ts_node_type(f)))
			return node_name(c, f);
		return def_name(c, f, depth + 1);
	}
	f = ts_node_child_by_field_name(n, "definition", 10);
	if (!ts_node_is_null(f))
		return def_name(c, f, depth + 1);
	uint32_t nc = ts_node_named_child_count(n);
	for (uint32_t i = 0; i < nc && i < 4; i++) {
		TSNode ch = ts_node_named_child(n, i);
		if (is_name_node(ts_node_type(ch)))
			return node_name(c, ch);
	}
	for (uint32_t i = 0; i < nc && i < 4; i++) {
		TSNode ch = ts_node_named_child(n, i);
		if (!ts_node_is_null(ts_node_child_by_field_name(ch, "name", 4)))
			return def_name(c, ch, depth + 1);
	}
	return NULL;
}

/* The definition a small node stands for: itself, or one it wraps
 * (`export function f`, `declaration` holding a struct body, `template`). */
static TSNode effective_def(const struct ctx *c, TSNode n, const char **kind)
{
	*kind = idx_lang_def_kind_node(c->lang, n);
	if (*kind)
		return n;
	uint32_t nc = ts_node_named_child_count(n);
	for (uint32_t i = 0; i < nc && i < 8; i++) {
		TSNode ch = ts_node_named_child(n, i);
		*kind = idx_lang_def_kind_node(c->lang, ch);
		if (*kind)
			return ch;
	}
	TSNode none = { 0 };
	*kind = NULL;
	return none;
}

/* A function defined inside one of these is a method. */
static bool is_type_kind(const char *kind)
{
	static const char *const kinds[] = { "class", "struct", "impl", "trait", "interface", "object", "module" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(kinds); i++)
		if (strcmp(kind, kinds[i]) == 0)
			return true;
	return false;
}

static void push_piece(struct ctx *c, uint32_t start, uint32_t end, const struct owner *o, const char *def_kind_s,
		       char *def_sym, bool comment)
{
	if (end <= start)
		return;
	struct piece p = { 0 };
	p.start = start;
	p.end = end;
	p.size = size_of(c, start, end);
	p.owner = o->id;
	p.comment = comment;
	if (def_kind_s) {
		p.defs = 1;
		p.kind = strcmp(def_kind_s, "function") == 0 && o->symbol && is_type_kind(o->kind) ? "method" : def_kind_s;
		p.symbol = def_sym;
		p.scope = *o->inner ? base_strdup(o->inner) : NULL;
		p.def_size = p.size;
	} else {
		p.kind = o->kind;
		p.symbol = o->symbol ? base_strdup(o->symbol) : NULL;
		p.scope = *o->scope ? base_strdup(o->scope) : NULL;
		base_free(def_sym);
	}
	base_vec_push(&c->pieces, p);
}

static void split_node(struct ctx *c, TSNode node, const struct owner *o);

/* Pieces for a leaf (or childless node) too big to keep whole. */
static void split_leaf(struct ctx *c, uint32_t start, uint32_t end, const struct owner *o)
{
	struct idx_chunks tmp = IDX_CHUNKS_INIT;
	idx__split_lines(&tmp, c->data, start, end, c->max, o->kind, NULL, NULL);
	for (size_t i = 0; i < tmp.c.n; i++)
		push_piece(c, tmp.c.v[i].start_byte, tmp.c.v[i].end_byte, o, NULL, NULL, false);
	idx_chunks_release(&tmp);
}

static void visit_child(struct ctx *c, TSNode ch, const struct owner *o)
{
	uint32_t s = ts_node_start_byte(ch), e = ts_node_end_byte(ch);
	if (e > c->len)
		e = (uint32_t)c->len;
	if (e <= s)
		return;
	uint32_t size = size_of(c, s, e);
	if (size <= c->max) {
		const char *kind;
		TSNode def = effective_def(c, ch, &kind);
		char *sym = kind ? def_name(c, def, 0) : NULL;
		push_piece(c, s, e, o, kind, sym, !kind && is_comment(ch));
		return;
	}
	const char *kind = idx_lang_def_kind_node(c->lang, ch);
	if (kind) {
		/* a definition too big for one chunk owns the pieces inside it */
		char *sym = def_name(c, ch, 0);
		struct base_buf inner = BASE_BUF_INIT(4096);
		if (base_buf_adds(&inner, o->inner) || (*o->inner && base_buf_adds(&inner, " > ")) ||
		    base_buf_addf(&inner, "%s %s", kind, sym ? sym : "?")) {
			/* an absurdly deep scope: keep the outer one */
			base_buf_reset(&inner);
			if (base_buf_adds(&inner, o->inner))
				base_buf_reset(&inner);
		}
		struct owner in = { kind, sym, o->inner, inner.data, s + 1 };
		if (ts_node_child_count(ch) > 0)
			split_node(c, ch, &in);
		else
			split_leaf(c, s, e, &in);
		base_buf_release(&inner);
		base_free(sym);
		return;
	}
	if (ts_node_child_count(ch) > 0)
		split_node(c, ch, o);
	else
		split_leaf(c, s, e, o);
}

/* Bytes of a node outside all its children: error recovery can skip
 * text that no child holds. Non-blank gaps become pieces of their own. */
static void split_gap(struct ctx *c, uint32_t start, uint32_t end, const struct owner *o)
{
	if (end > c->len)
		end = (uint32_t)c->len;
	if (start < end && size_of(c, start, end) > 0)
		split_leaf(c, start, end, o);
}

static void split_node(struct ctx *c, TSNode node, const struct owner *o)
{
	/* A cursor: ts_node_child(i) is linear in i, a root can have
	 * thousands of children. */
	uint32_t at = ts_node_start_byte(node);
	TSTreeCursor cur = ts_tree_cursor_new(node);
	if (ts_tree_cursor_goto_first_child(&cur)) {
		do {
			TSNode ch = ts_tree_cursor_current_node(&cur);
			split_gap(c, at, ts_node_start_byte(ch), o);
			visit_child(c, ch, o);
			if (ts_node_end_byte(ch) > at)
				at = ts_node_end_byte(ch);
		} while (ts_tree_cursor_goto_next_sibling(&cur));
	}
	ts_tree_cursor_delete(&cur);
	split_gap(c, at, ts_node_end_byte(node), o);
}

static bool only_space(const char *d, uint32_t s, uint32_t e, int max_newlines)
{
	int nl = 0;
	for (uint32_t i = s; i < e; i++) {
		if (d[i] == '\n' && ++nl > max_newlines)
			return false;
		if (d[i] != ' ' && d[i] != '\t' && d[i] != '\n' && d[i] != '\r')
			return false;
	}
	return true;
}

static void piece_free(struct piece *p)
{
	base_free(p->symbol);
	base_free(p->scope);
}

/* Fold b into a (a precedes b). The chunk is named after its largest
 * definition; without one it keeps a's name. */
static void merge_into(struct ctx *c, struct piece *a, struct piece *b)
{
	a->size = size_of(c, a->start, b->end);
	a->end = b->end;
	a->comment = a->comment && b->comment;
	if (b->defs && (!a->defs || b->def_size > a->def_size)) {
		piece_free(a);
		a->kind = b->kind;
		a->symbol = b->symbol;
		a->scope = b->scope;
		a->def_size = b->def_size;
		b->symbol = b->scope = NULL;
	}
	a->defs = (uint16_t)(a->defs + b->defs);
	piece_free(b);
}

static void glue_and_merge(struct ctx *c)
{
	struct piece *v = c->pieces.v;
	size_t n = c->pieces.n, out = 0;
	/* Glue: comments right above a definition (no blank line) join it. */
	for (size_t i = 0; i < n; i++) {
		if (v[i].defs && out > 0) {
			size_t j = out;
			while (j > 0 && v[j - 1].comment && v[j - 1].owner == v[i].owner &&
			       only_space(c->data, v[j - 1].end, j < out ? v[j].start : v[i].start, 1) &&
			       size_of(c, v[j - 1].start, v[i].end) <= c->max)
				j--;
			if (j < out) {
				struct piece def = v[i];
				for (size_t k = j; k < out; k++)
					piece_free(&v[k]);
				def.start = v[j].start;
				def.size = size_of(c, def.start, def.end);
				def.def_size = def.size;
				out = j;
				v[out++] = def;
				continue;
			}
		}
		v[out++] = v[i];
	}
	n = out;
	/* Merge neighbours with the same owner while they fit. */
	out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out > 0) {
			struct piece *a = &v[out - 1], *b = &v[i];
			uint32_t sz = size_of(c, a->start, b->end);
			bool fits = sz <= c->max && (!(a->defs && b->defs) || sz <= c->max / 2);
			if (a->owner == b->owner && fits) {
				merge_into(c, a, b);
				continue;
			}
		}
		v[out++] = v[i];
	}
	c->pieces.n = out;
}

static uint32_t line_start(const char *d, uint32_t pos, uint32_t floor)
{
	uint32_t i = pos;
	while (i > floor && d[i - 1] != '\n') {
		if (d[i - 1] != ' ' && d[i - 1] != '\t')
			return pos; /* code before it on the line: keep the node start */
		i--;
	}
	return i;
}

/* Turn the pieces into chunks covering [0, len) exactly once. Pieces are
 * sorted and disjoint (siblings in a syntax tree are), so each boundary
 * lies past the previous piece. */
static void cover(struct ctx *c, struct idx_chunks *out)
{
	struct piece *v = c->pieces.v;
	for (size_t i = 0; i < c->pieces.n; i++) {
		uint32_t start = 0;
		if (i > 0) {
			start = line_start(c->data, v[i].start, v[i - 1].end);
			base_vec_last(&out->c).end_byte = start;
		}
		idx_chunks_add(out, start, v[i].end, v[i].kind, v[i].symbol, v[i].scope);
	}
	base_vec_last(&out->c).end_byte = (uint32_t)c->len;
}

/* ---- names ----------------------------------------------------------- */

#define NAME_TEXT_MAX 512 /* longer call targets and imports are not read */

struct names_walk {
	const struct ctx *c;
	struct idx_chunks *out;
	size_t chunk;     /* the chunk holding the current position */
	size_t chunk_from; /* its first name */
};

static bool word_byte(unsigned char ch)
{
	return ch == '_' || ch == '$' || (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z') ||
	       ch >= 0x80;
}

static void name_add(struct names_walk *w, uint32_t pos, enum store_name_kind kind, const char *s, size_t n)
{
	if (n < 2 || n > STORE_NAME_MAX || (s[0] >= '0' && s[0] <= '9'))
		return;
	struct idx_chunks *out = w->out;
	while (w->chunk + 1 < out->c.n && pos >= out->c.v[w->chunk].end_byte) {
		w->chunk++;
		w->chunk_from = out->names.n;
	}
	if (out->names.n - w->chunk_from >= IDX_NAMES_PER_CHUNK)
		return;
	for (size_t i = w->chunk_from; i < out->names.n; i++) {
		const struct idx_name *x = &out->names.v[i];
		if (x->kind == kind && strlen(x->name) == n && memcmp(x->name, s, n) == 0)
			return;
	}
	struct idx_name nm = { (uint32_t)w->chunk, (uint8_t)kind, base_strndup(s, n) };
	base_vec_push(&out->names, nm);
}

/* The last identifier of data[s, e). */
static void last_word(const char *d, uint32_t s, uint32_t e, uint32_t *ws, uint32_t *wn)
{
	while (e > s && !word_byte((unsigned char)d[e - 1]))
		e--;
	uint32_t b = e;
	while (b > s && word_byte((unsigned char)d[b - 1]))
		b--;
	*ws = b;
	*wn = e - b;
}

static bool is_import_type(const char *t)
{
	return strstr(t, "import") || strcmp(t, "use_declaration") == 0 || strcmp(t, "preproc_include") == 0;
}

static bool is_call_type(const char *t)
{
	return (strstr(t, "call") && !strstr(t, "signature")) || strstr(t, "invocation");
}

static void names_of_import(struct names_walk *w, TSNode n)
{
	static const char *const skip[] = { "import", "from", "as", "use", "include", "static", "crate", "self",
					    "super", "package", "type", "typeof", "require" };
	const char *d = w->c->data;
	uint32_t s = ts_node_start_byte(n), e = ts_node_end_byte(n);
	if (e > w->c->len || e - s > NAME_TEXT_MAX)
		return;
	for (uint32_t i = s; i < e;) {
		if (!word_byte((unsigned char)d[i])) {
			i++;
			continue;
		}
		uint32_t b = i;
		while (i < e && word_byte((unsigned char)d[i]))
			i++;
		bool kw = false;
		for (size_t k = 0; k < BASE_ARRAY_LEN(skip) && !kw; k++)
			kw = strlen(skip[k]) == i - b && memcmp(skip[k], d + b, i - b) == 0;
		if (!kw)
			name_add(w, s, STORE_NAME_IMPORT, d + b, i - b);
	}
}

static void names_of_call(struct names_walk *w, TSNode n)
{
	static const char *const fields[] = { "function", "name", "method", "macro" };
	TSNode f = { 0 };
	for (size_t i = 0; i < BASE_ARRAY_LEN(fields) && ts_node_is_null(f); i++)
		f = ts_node_child_by_field_name(n, fields[i], (uint32_t)strlen(fields[i]));
	if (ts_node_is_null(f))
		return;
	uint32_t s = ts_node_start_byte(f), e = ts_node_end_byte(f), ws, wn;
	if (e > w->c->len || e - s > NAME_TEXT_MAX)
		return;
	last_word(w->c->data, s, e, &ws, &wn);
	name_add(w, ts_node_start_byte(n), STORE_NAME_CALL, w->c->data + ws, wn);
}

static void names_of_def(struct names_walk *w, TSNode n)
{
	char *name = def_name(w->c, n, 0);
	if (!name)
		return;
	uint32_t ws, wn;
	last_word(name, 0, (uint32_t)strlen(name), &ws, &wn);
	name_add(w, ts_node_start_byte(n), STORE_NAME_DEF, name + ws, wn);
	base_free(name);
}

static void names_visit(TSNode n, void *payload)
{
	struct names_walk *w = payload;
	if (!ts_node_is_named(n))
		return;
	const char *t = ts_node_type(n);
	if (idx_lang_def_kind_node(w->c->lang, n))
		names_of_def(w, n);
	else if (is_import_type(t))
		names_of_import(w, n);
	else if (is_call_type(t))
		names_of_call(w, n);
}

/* Pre-order: positions only grow, so chunks are met in order. */
static void names_collect(const struct ctx *c, TSNode root, struct idx_chunks *out)
{
	struct names_walk w = { c, out, 0, out->names.n };
	idx_lang_walk(root, names_visit, &w);
}

static int chunk_tree(const struct idx_lang *lang, const char *data, size_t len, unsigned max, TSParser *parser,
		      struct idx_chunks *out)
{
	if (!ts_parser_set_language(parser, lang->grammar()))
		return BASE_E_UNSUPPORTED;
	ts_parser_set_timeout_micros(parser, PARSE_TIMEOUT_US);
	TSTree *tree = ts_parser_parse_string(parser, NULL, data, (uint32_t)len);
	if (!tree)
		return BASE_E_PARSE;

	struct ctx c = { 0 };
	c.lang = lang;
	c.data = data;
	c.len = len;
	c.max = max;
	uint32_t *nonws = base_trymalloc((len + 1) * sizeof(uint32_t));
	if (!nonws) {
		ts_tree_delete(tree);
		return BASE_E_NOMEM;
	}
	nonws[0] = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)data[i];
		nonws[i + 1] = nonws[i] + !(ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f');
	}
	c.nonws = nonws;

	struct owner file = { "code", NULL, "", "", 0 };
	split_node(&c, ts_tree_root_node(tree), &file);
	glue_and_merge(&c);
	if (c.pieces.n == 0)
		idx__split_lines(out, data, 0, len, max, "code", NULL, NULL);
	else
		cover(&c, out);
	names_collect(&c, ts_tree_root_node(tree), out);
	for (size_t i = 0; i < c.pieces.n; i++)
		piece_free(&c.pieces.v[i]);
	base_vec_release(&c.pieces);
	base_free(nonws);
	ts_tree_delete(tree);
	return BASE_OK;
}

static void fill_lines(const char *data, size_t len, struct idx_chunks *cs)
{
	uint32_t line = 1;
	size_t pos = 0;
	for (size_t i = 0; i < cs->c.n; i++) {
		struct idx_chunk *ch = &cs->c.v[i];
		ch->start_line = line;
		for (; pos + 1 < ch->end_byte && pos < len; pos++)
			line += data[pos] == '\n';
		ch->end_line = line;
		/* the chunk's last byte: a newline there ends its line */
		if (pos < len && pos < ch->end_byte) {
			line += data[pos] == '\n';
			pos++;
		}
	}
}

int idx_chunk_file(const struct idx_lang *lang, const char *data, size_t len, const struct idx_chunk_opts *opts,
		   struct idx_chunks *out, struct base_err *err)
{
	unsigned max = opts && opts->max_size ? opts->max_size : IDX_DEFAULT_MAX_CHUNK;
	if (len > UINT32_MAX - 1)
		return base_err_set(err, BASE_E_TOOBIG, "file too large to chunk (%zu bytes)", len);
	size_t first = out->c.n;
	BASE_ASSERT(first == 0);
	if (len == 0)
		return BASE_OK;
	int rc = BASE_E_UNSUPPORTED;
	if (lang->grammar) {
		TSParser *parser = opts && opts->parser ? opts->parser : ts_parser_new();
		rc = chunk_tree(lang, data, len, max, parser, out);
		if (!(opts && opts->parser))
			ts_parser_delete(parser);
		if (rc == BASE_E_NOMEM)
			return base_err_set(err, rc, "out of memory chunking a %zu-byte file", len);
		if (rc)
			idx_chunks_release(out); /* timed out or grammar refused: chunk as text */
	}
	if (rc) {
		rc = idx__chunk_text(lang, data, len, max, out);
		if (rc)
			return base_err_set(err, rc, "cannot chunk file (%s)", base_status_str(rc));
	}
	/* the coverage invariant: sorted, contiguous, exact */
	BASE_ASSERT(out->c.n > 0 && out->c.v[0].start_byte == 0 && out->c.v[out->c.n - 1].end_byte == len);
	for (size_t i = 1; i < out->c.n; i++)
		BASE_ASSERT(out->c.v[i - 1].end_byte == out->c.v[i].start_byte &&
			    out->c.v[i].start_byte < out->c.v[i].end_byte);
	fill_lines(data, len, out);
	return BASE_OK;
}
