/*
 * chunk_text.c: the structure-aware chunker for files without a grammar.
 *
 * Each format is first cut into sections (markdown headings, top-level
 * JSON members or array elements, top-level YAML keys and list items, TOML
 * tables, or blank-line paragraphs for anything else). A section is known
 * only by its start: it ends where the next one starts, so the sections
 * cover the file exactly once by construction, whatever the scanners make
 * of malformed input.
 *
 * Then split-then-merge, as in cAST: a section over the size limit is
 * packed by paragraphs and, where a paragraph is still too big, by lines
 * (idx__split_lines); consecutive small sections are merged greedily while
 * the sum stays within the limit and the merge keeps the structure (see
 * joinable()). A merged chunk takes the kind, symbol and scope of its first
 * section.
 */
#include <string.h>

#include "indexer/chunk.h"

#include "base/banned.h"

/* Symbols and scope parts longer than this are cut (at a UTF-8 boundary). */
#define SYMBOL_MAX 200

#define NONE SIZE_MAX

enum sec_flags {
	SEC_SOLO = 1 << 0,  /* takes no followers: preamble, TOML root table */
	SEC_BREAK = 1 << 1, /* joins no predecessor: a new YAML document */
};

struct sec {
	size_t start;
	const char *kind;
	char *symbol; /* heap or NULL */
	char *scope;  /* heap or NULL */
	/*
	 * Nesting, for joinable(): `rank` is a markdown heading's level (0
	 * elsewhere); `path` is a TOML table name whose parent table is
	 * path[0, plen) (plen 0: the root table).
	 */
	char *path;
	size_t plen;
	unsigned rank;
	unsigned flags;
};

struct secs {
	BASE_VEC(struct sec) v;
};

static void sec_free_strings(struct sec *s)
{
	base_free(s->symbol);
	base_free(s->scope);
	base_free(s->path);
}

static void secs_release(struct secs *ss)
{
	for (size_t i = 0; i < ss->v.n; i++)
		sec_free_strings(&ss->v.v[i]);
	base_vec_release(&ss->v);
}

/*
 * Start a section at `start` (taking ownership of the strings). A section
 * starting where the last one starts replaces it: that one turned out to be
 * empty, or to hold only decoration (blank lines, comments, a document
 * marker) that belongs to the new one. A new YAML document stays one.
 */
static void sec_open(struct secs *ss, size_t start, const char *kind, char *symbol, char *scope, char *path,
		     size_t plen, unsigned rank, unsigned flags)
{
	struct sec s = { start, kind, symbol, scope, path, plen, rank, flags };
	if (ss->v.n > 0) {
		struct sec *last = &base_vec_last(&ss->v);
		BASE_ASSERT(start >= last->start);
		if (start == last->start) {
			s.flags |= last->flags & SEC_BREAK;
			sec_free_strings(last);
			*last = s;
			return;
		}
	}
	base_vec_push(&ss->v, s);
}

/* ---- small text helpers ----------------------------------------------- */

static bool is_blank_char(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* One line: [start, next) including its '\n'; content [start, end) without "\r\n". */
struct line {
	size_t start, end, next;
};

static bool line_at(const char *data, size_t len, size_t p, struct line *l)
{
	if (p >= len)
		return false;
	const char *nl = memchr(data + p, '\n', len - p);
	l->start = p;
	l->next = nl ? (size_t)(nl - data) + 1 : len;
	l->end = nl ? (size_t)(nl - data) : len;
	if (l->end > p && data[l->end - 1] == '\r')
		l->end--;
	return true;
}

static bool line_blank(const char *data, const struct line *l)
{
	for (size_t i = l->start; i < l->end; i++)
		if (!is_blank_char(data[i]))
			return false;
	return true;
}

static size_t skip_blanks(const char *data, size_t p, size_t end)
{
	while (p < end && (data[p] == ' ' || data[p] == '\t'))
		p++;
	return p;
}

/* Does the line's content, after trailing blanks, end right at `p`? */
static bool rest_blank(const char *data, size_t p, size_t end)
{
	while (p < end && is_blank_char(data[p]))
		p++;
	return p == end;
}

/*
 * Bytes as a symbol: trimmed, control bytes and line ends made spaces, cut
 * at SYMBOL_MAX bytes without splitting a UTF-8 sequence. NULL when nothing
 * is left.
 */
static char *make_symbol(const char *s, size_t n)
{
	while (n > 0 && is_blank_char(*s)) {
		s++;
		n--;
	}
	while (n > 0 && is_blank_char(s[n - 1]))
		n--;
	if (n > SYMBOL_MAX) {
		n = SYMBOL_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	if (n == 0)
		return NULL;
	char *out = base_malloc(n + 1);
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' && i + 1 < n && s[i + 1] == '\n')
			continue; /* a CRLF inside (a setext heading's lines) is one space */
		out[w++] = c < 0x20 || c == 0x7F ? ' ' : (char)c;
	}
	out[w] = '\0';
	return out;
}

/* ---- emitting: split-then-merge ----------------------------------------- */

/* Past the paragraph at p: leading blank lines, non-blank lines, blank lines. */
static size_t paragraph_end(const char *data, size_t p, size_t end)
{
	struct line l;
	while (line_at(data, end, p, &l) && line_blank(data, &l))
		p = l.next;
	while (line_at(data, end, p, &l) && !line_blank(data, &l))
		p = l.next;
	while (line_at(data, end, p, &l) && line_blank(data, &l))
		p = l.next;
	return p;
}

/*
 * Cover data[start, end) with pieces of at most `max` non-whitespace bytes,
 * cut between paragraphs where possible and between lines where not.
 */
static void pack(struct idx_chunks *out, const char *data, size_t start, size_t end, unsigned max, const char *kind,
		 const char *symbol, const char *scope)
{
	size_t piece = start, size = 0, p = start;
	while (p < end) {
		size_t q = paragraph_end(data, p, end);
		size_t n = idx__nonws(data, p, q);
		if (size + n > max) {
			if (size > 0) {
				idx_chunks_add(out, (uint32_t)piece, (uint32_t)p, kind, symbol, scope);
				piece = p;
				size = 0;
			}
			if (n > max) {
				idx__split_lines(out, data, piece, q, max, kind, symbol, scope);
				piece = q;
				n = 0;
			}
		}
		size += n;
		p = q;
	}
	if (piece < end)
		idx_chunks_add(out, (uint32_t)piece, (uint32_t)end, kind, symbol, scope);
}

/*
 * May section b join a merged chunk that starts with section a? Only when
 * a's symbol and scope still describe the result: b is a sibling of a or
 * lies below a or one of its siblings, never higher up (a markdown heading
 * of a lower level, a TOML table outside a's parent table), and no document
 * or root boundary lies between them. Called for each b in turn, so every
 * section in between has passed too; for markdown that also means a's
 * parent heading is b's ancestor, so a's scope holds for b.
 */
static bool joinable(const struct sec *a, const struct sec *b)
{
	if ((a->flags & SEC_SOLO) || (b->flags & SEC_BREAK))
		return false;
	if (b->rank < a->rank)
		return false;
	if (a->path && a->plen > 0)
		return b->path && strncmp(b->path, a->path, a->plen + 1) == 0;
	return true;
}

static void emit(const struct secs *ss, const char *data, size_t len, unsigned max, struct idx_chunks *out)
{
	size_t n = ss->v.n;
	const struct sec *s = ss->v.v;
	BASE_ASSERT(n > 0 && s[0].start == 0);
	size_t *size = base_malloc(n * sizeof(*size));
	for (size_t i = 0; i < n; i++)
		size[i] = idx__nonws(data, s[i].start, i + 1 < n ? s[i + 1].start : len);
	size_t i = 0;
	while (i < n) {
		size_t j = i + 1, total = size[i];
		if (total > max) {
			pack(out, data, s[i].start, j < n ? s[j].start : len, max, s[i].kind, s[i].symbol, s[i].scope);
			i = j;
			continue;
		}
		while (j < n && joinable(&s[i], &s[j]) && total + size[j] <= max)
			total += size[j++];
		idx_chunks_add(out, (uint32_t)s[i].start, (uint32_t)(j < n ? s[j].start : len), s[i].kind, s[i].symbol,
			       s[i].scope);
		i = j;
	}
	base_free(size);
}

/* ---- markdown ----------------------------------------------------------- */

struct md_heading {
	unsigned level;
	char *text; /* may be NULL */
};

/* Columns of leading indentation (tabs to the next multiple of 4); *p past it. */
static size_t md_indent(const char *data, const struct line *l, size_t *p)
{
	size_t col = 0, i = l->start;
	for (; i < l->end && (data[i] == ' ' || data[i] == '\t'); i++)
		col = data[i] == '\t' ? (col + 4) & ~(size_t)3 : col + 1;
	*p = i;
	return col;
}

/* A fence line: at least three '`' or '~'. Returns the run length, or 0. */
static size_t md_fence(const char *data, size_t p, size_t end, char *ch)
{
	if (p >= end || (data[p] != '`' && data[p] != '~'))
		return 0;
	size_t n = 0;
	while (p + n < end && data[p + n] == data[p])
		n++;
	if (n < 3)
		return 0;
	/* an info string after backticks may not hold a backtick (``` `x` ``` is inline code) */
	if (data[p] == '`' && memchr(data + p + n, '`', end - p - n))
		return 0;
	*ch = data[p];
	return n;
}

static bool md_fence_closes(const char *data, size_t p, size_t end, char ch, size_t open)
{
	size_t n = 0;
	while (p + n < end && data[p + n] == ch)
		n++;
	return n >= open && rest_blank(data, p + n, end);
}

/* An ATX heading at p (after at most 3 columns of indent): level 1-6, text range. */
static unsigned md_atx(const char *data, size_t p, size_t end, size_t *ts, size_t *te)
{
	unsigned level = 0;
	while (p < end && data[p] == '#' && level < 7) {
		level++;
		p++;
	}
	if (level == 0 || level > 6 || (p < end && data[p] != ' ' && data[p] != '\t'))
		return 0;
	size_t s = skip_blanks(data, p, end), e = end;
	while (e > s && is_blank_char(data[e - 1]))
		e--;
	/* a closing run of '#' goes, when it stands alone or after a blank */
	size_t h = e;
	while (h > s && data[h - 1] == '#')
		h--;
	if (h == s || data[h - 1] == ' ' || data[h - 1] == '\t') {
		e = h;
		while (e > s && is_blank_char(data[e - 1]))
			e--;
	}
	*ts = s;
	*te = e;
	return level;
}

/* A setext underline: a run of '=' (level 1) or '-' (level 2), two or more. */
static unsigned md_setext(const char *data, size_t p, size_t end)
{
	if (p >= end || (data[p] != '=' && data[p] != '-'))
		return 0;
	size_t n = 0;
	while (p + n < end && data[p + n] == data[p])
		n++;
	if (n < 2 || !rest_blank(data, p + n, end))
		return 0;
	return data[p] == '=' ? 1 : 2;
}

/*
 * Can this (non-blank) line be the text of a setext heading? Not when it
 * is a list item or block quote (the underline is then a rule, as it is
 * after their continuation lines), nor indented code.
 */
static bool md_setext_text(const char *data, const struct line *l)
{
	size_t p;
	if (md_indent(data, l, &p) > 3)
		return false;
	char c = data[p];
	if (c == '>')
		return false;
	if ((c == '-' || c == '*' || c == '+') && (p + 1 == l->end || data[p + 1] == ' ' || data[p + 1] == '\t'))
		return false;
	size_t d = p;
	while (d < l->end && data[d] >= '0' && data[d] <= '9')
		d++;
	if (d > p && d < l->end && (data[d] == '.' || data[d] == ')') &&
	    (d + 1 == l->end || data[d + 1] == ' ' || data[d + 1] == '\t'))
		return false;
	return true;
}

/*
 * Past YAML (---) or TOML (+++) front matter at the start of the file, or
 * 0. Its lines must look like keys, list items or indented values, so that
 * a document opening with a "---" rule does not hide its headings.
 */
static size_t md_front_matter(const char *data, size_t len)
{
	struct line l;
	if (!line_at(data, len, 0, &l) || l.end - l.start < 3)
		return 0;
	char c = data[0];
	if ((c != '-' && c != '+') || data[1] != c || data[2] != c || !rest_blank(data, 3, l.end))
		return 0;
	for (size_t p = l.next; line_at(data, len, p, &l); p = l.next) {
		size_t n = l.end - l.start;
		if (n >= 3 &&
		    ((data[p] == c && data[p + 1] == c && data[p + 2] == c) ||
		     (c == '-' && data[p] == '.' && data[p + 1] == '.' && data[p + 2] == '.')) &&
		    rest_blank(data, p + 3, l.end))
			return l.next;
		if (n > 0 && data[p] != ' ' && data[p] != '\t' && data[p] != '-' && data[p] != '[' &&
		    !memchr(data + p, ':', n) && !memchr(data + p, '=', n) && !line_blank(data, &l))
			return 0;
	}
	return 0;
}

static char *md_scope(const struct md_heading *h, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += h[i].text ? strlen(h[i].text) + 3 : 0;
	if (total == 0)
		return NULL;
	char *s = base_malloc(total + 1), *w = s;
	for (size_t i = 0; i < n; i++) {
		if (!h[i].text)
			continue;
		if (w > s) {
			memcpy(w, " > ", 3);
			w += 3;
		}
		size_t k = strlen(h[i].text);
		memcpy(w, h[i].text, k);
		w += k;
	}
	*w = '\0';
	return s;
}

/*
 * Is line l (indented `indent` columns, text from t) a heading? Returns its
 * level, with the heading's start in *hs and its text in [*ts, *te); 0 if
 * not. The paragraph [para, para_end) just before it, if any, can be a
 * setext heading's text.
 */
static unsigned md_heading(const char *data, const struct line *l, size_t indent, size_t t, size_t para,
			   size_t para_end, size_t *hs, size_t *ts, size_t *te)
{
	if (indent > 3)
		return 0;
	unsigned level = md_atx(data, t, l->end, ts, te);
	if (level > 0) {
		*hs = l->start;
		return level;
	}
	if (para == NONE)
		return 0;
	level = md_setext(data, t, l->end);
	if (level > 0) {
		*hs = *ts = para;
		*te = para_end;
	}
	return level;
}

static void chunk_markdown(struct secs *ss, const char *data, size_t len)
{
	BASE_VEC(struct md_heading) stack = BASE_VEC_INIT;
	/* the preamble: text before the first heading */
	sec_open(ss, 0, "section", NULL, NULL, NULL, 0, 0, SEC_SOLO);
	size_t p = md_front_matter(data, len);
	bool preamble_blank = p == 0;
	char fence = 0;
	size_t fence_len = 0;
	/* the paragraph that ends on the previous line, if it can be a setext heading's text */
	size_t para = NONE, para_end = 0;
	bool in_block = false; /* in a list item or block quote */
	struct line l;
	for (; line_at(data, len, p, &l); p = l.next) {
		size_t t;
		size_t indent = md_indent(data, &l, &t);
		if (fence) {
			if (md_fence_closes(data, t, l.end, fence, fence_len))
				fence = 0;
			continue;
		}
		if (rest_blank(data, t, l.end)) {
			para = NONE;
			in_block = false;
			continue;
		}
		/* fences count at any indent: in list items they are indented */
		fence_len = md_fence(data, t, l.end, &fence);
		if (fence_len > 0) {
			para = NONE;
			in_block = false;
			preamble_blank = false;
			continue;
		}
		size_t hs = 0, ts = 0, te = 0;
		unsigned level = md_heading(data, &l, indent, t, para, para_end, &hs, &ts, &te);
		if (level == 0) {
			/* the lines after a list item or quote continue it, up to a blank */
			in_block = in_block || !md_setext_text(data, &l);
			if (in_block)
				para = NONE;
			else if (para == NONE)
				para = l.start;
			para_end = l.end;
			preamble_blank = false;
			continue;
		}
		while (stack.n > 0 && base_vec_last(&stack).level >= level) {
			base_free(base_vec_last(&stack).text);
			stack.n--;
		}
		char *text = make_symbol(data + ts, te - ts);
		char *symbol = text ? base_strdup(text) : NULL;
		sec_open(ss, preamble_blank ? 0 : hs, "section", symbol, md_scope(stack.v, stack.n), NULL, 0, level, 0);
		struct md_heading h = { level, text };
		base_vec_push(&stack, h);
		preamble_blank = false;
		para = NONE;
		in_block = false;
	}
	for (size_t i = 0; i < stack.n; i++)
		base_free(stack.v[i].text);
	base_vec_release(&stack);
}

/* ---- json --------------------------------------------------------------- */

/* Skip whitespace and comments (JSONC: tsconfig.json, VS Code settings). */
static size_t json_skip(const char *data, size_t len, size_t p)
{
	for (;;) {
		while (p < len && (is_blank_char(data[p]) || data[p] == '\n'))
			p++;
		if (p + 1 < len && data[p] == '/' && data[p + 1] == '/') {
			const char *nl = memchr(data + p, '\n', len - p);
			p = nl ? (size_t)(nl - data) : len;
		} else if (p + 1 < len && data[p] == '/' && data[p + 1] == '*') {
			size_t q = p + 2;
			while (q + 1 < len && !(data[q] == '*' && data[q + 1] == '/'))
				q++;
			p = q + 1 < len ? q + 2 : len;
		} else {
			return p;
		}
	}
}

/* Past the string opening at p, or NONE when it is not closed. */
static size_t json_string_end(const char *data, size_t len, size_t p)
{
	for (p++; p < len; p++) {
		if (data[p] == '\\')
			p++;
		else if (data[p] == '"')
			return p + 1;
	}
	return NONE;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static long json_hex4(const char *data, size_t p, size_t end)
{
	if (end - p < 4)
		return -1;
	long v = 0;
	for (size_t i = 0; i < 4; i++) {
		int h = hex_value(data[p + i]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t utf8_put(char *w, unsigned long cp)
{
	if (cp < 0x80) {
		w[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		w[0] = (char)(0xC0 | (cp >> 6));
		w[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		w[0] = (char)(0xE0 | (cp >> 12));
		w[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		w[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	w[0] = (char)(0xF0 | (cp >> 18));
	w[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	w[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	w[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * The symbol for a quoted string's contents [s, e): JSON escapes decoded
 * (\uXXXX to UTF-8, lone surrogates to U+FFFD, unknown escapes kept).
 */
static char *unescape_symbol(const char *data, size_t s, size_t e)
{
	/* decoding never grows the text: \uXXXX (6 bytes) is at most 4 */
	char buf[SYMBOL_MAX * 2 + 8];
	size_t w = 0;
	for (size_t p = s; p < e && w < SYMBOL_MAX * 2;) {
		char c = data[p];
		if (c != '\\' || p + 1 >= e) {
			buf[w++] = c;
			p++;
			continue;
		}
		char x = data[p + 1];
		const char *simple = strchr("\"\\/bfnrt", x);
		if (x != '\0' && simple) {
			static const char to[] = "\"\\/\b\f\n\r\t";
			buf[w++] = to[simple - "\"\\/bfnrt"];
			p += 2;
			continue;
		}
		long cp = x == 'u' ? json_hex4(data, p + 2, e) : -1;
		if (cp < 0) {
			buf[w++] = c;
			p++;
			continue;
		}
		p += 6;
		if (cp >= 0xD800 && cp <= 0xDBFF && p + 1 < e && data[p] == '\\' && data[p + 1] == 'u') {
			long lo = json_hex4(data, p + 2, e);
			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			}
		}
		if (cp >= 0xD800 && cp <= 0xDFFF)
			cp = 0xFFFD;
		w += utf8_put(buf + w, (unsigned long)cp);
	}
	return make_symbol(buf, w);
}

/*
 * Where the member after the separator at `comma` starts: the rest of the
 * comma's line (blanks, a // comment, the newline) stays with the member
 * before, so members that sit on their own lines are cut between lines and
 * minified ones right after the comma.
 */
static size_t json_cut(const char *data, size_t len, size_t comma)
{
	size_t p = skip_blanks(data, comma + 1, len);
	if (p + 1 < len && data[p] == '/' && data[p + 1] == '/') {
		const char *nl = memchr(data + p, '\n', len - p);
		p = nl ? (size_t)(nl - data) : len;
	}
	if (p + 1 < len && data[p] == '\r' && data[p + 1] == '\n')
		return p + 2;
	if (p < len && data[p] == '\n')
		return p + 1;
	return p;
}

/*
 * One section per member of a top-level object (kind "key") or element of
 * a top-level array (kind "item"). A small scanner, not a parser: it knows
 * strings, escapes, comments and nesting depth, and tolerates trailing
 * commas. Returns false (leaving `ss` empty) for anything else: a scalar,
 * several top-level values (JSON lines), an unclosed container.
 */
static bool chunk_json(struct secs *ss, const char *data, size_t len)
{
	size_t p = 0;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		p = 3;
	p = json_skip(data, len, p);
	if (p >= len || (data[p] != '{' && data[p] != '['))
		return false;
	char close = data[p] == '{' ? '}' : ']';
	const char *kind = close == '}' ? "key" : "item";
	size_t sep = NONE; /* the comma before the current member */
	bool closed = false;
	p++;
	while (!closed) {
		p = json_skip(data, len, p);
		if (p >= len)
			goto fail;
		if (data[p] == close) {
			/* empty, or after a trailing comma */
			p++;
			break;
		}
		char *symbol = NULL;
		if (close == '}') {
			if (data[p] != '"')
				goto fail;
			size_t q = json_string_end(data, len, p);
			if (q == NONE)
				goto fail;
			symbol = unescape_symbol(data, p + 1, q - 1);
			p = json_skip(data, len, q);
			if (p >= len || data[p] != ':') {
				base_free(symbol);
				goto fail;
			}
			p++;
		}
		sec_open(ss, sep == NONE ? 0 : json_cut(data, len, sep), kind, symbol, NULL, NULL, 0, 0, 0);
		/* the value: up to a comma or the closing bracket at depth 0 */
		size_t depth = 0;
		for (;;) {
			p = json_skip(data, len, p);
			if (p >= len)
				goto fail;
			char c = data[p];
			if (c == '"') {
				p = json_string_end(data, len, p);
				if (p == NONE)
					goto fail;
				continue;
			}
			if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (depth == 0) {
					if (c != close)
						goto fail;
					closed = true;
					p++;
					break;
				}
				depth--;
			} else if (c == ',' && depth == 0) {
				sep = p++;
				break;
			}
			p++;
		}
	}
	if (json_skip(data, len, p) < len || ss->v.n == 0)
		goto fail;
	return true;
fail:
	secs_release(ss);
	return false;
}

/* ---- yaml --------------------------------------------------------------- */

/* "---" or "..." (as `c`) alone or followed by a blank. */
static bool yaml_marker(const char *data, const struct line *l, char c)
{
	size_t p = l->start;
	return l->end - p >= 3 && data[p] == c && data[p + 1] == c && data[p + 2] == c &&
	       (p + 3 == l->end || data[p + 3] == ' ' || data[p + 3] == '\t');
}

/* Does the text from p end in a block scalar indicator ("|", ">-", "|2+ # c")? */
static bool yaml_block_scalar(const char *data, size_t p, size_t end)
{
	p = skip_blanks(data, p, end);
	while (p < end && (data[p] == '!' || data[p] == '&')) {
		/* a tag or anchor before the indicator */
		while (p < end && data[p] != ' ' && data[p] != '\t')
			p++;
		p = skip_blanks(data, p, end);
	}
	if (p >= end || (data[p] != '|' && data[p] != '>'))
		return false;
	for (p++; p < end && ((data[p] >= '1' && data[p] <= '9') || data[p] == '-' || data[p] == '+'); p++) {
	}
	p = skip_blanks(data, p, end);
	return p == end || data[p] == '#';
}

/* `key:` at column 0: a plain or quoted key followed by ':' and a blank or the end. */
static char *yaml_key(const char *data, const struct line *l, bool *ok)
{
	size_t p = l->start, e = l->end;
	char c = data[p];
	*ok = false;
	if (c == '"' || c == '\'') {
		/* escapes: \x in double quotes, '' in single quotes */
		size_t q = p + 1;
		while (q < e && (data[q] != c || (c == '\'' && q + 1 < e && data[q + 1] == '\''))) {
			q += (c == '"' && data[q] == '\\') || (c == '\'' && data[q] == '\'') ? 2 : 1;
		}
		if (q >= e)
			return NULL;
		size_t r = skip_blanks(data, q + 1, e);
		if (r >= e || data[r] != ':' || (r + 1 < e && data[r + 1] != ' ' && data[r + 1] != '\t'))
			return NULL;
		*ok = true;
		if (c == '"')
			return unescape_symbol(data, p + 1, q);
		char buf[SYMBOL_MAX + 1];
		size_t n = 0;
		for (size_t i = p + 1; i < q && n < SYMBOL_MAX; i++) {
			buf[n++] = data[i];
			i += data[i] == '\'';
		}
		return make_symbol(buf, n);
	}
	if (strchr(",[]{}#&*!|>%@`", c) || c == '\0')
		return NULL;
	if ((c == '-' || c == '?' || c == ':') && (p + 1 >= e || data[p + 1] == ' ' || data[p + 1] == '\t'))
		return NULL;
	for (size_t q = p; q < e; q++) {
		if (data[q] == '#' && q > p && (data[q - 1] == ' ' || data[q - 1] == '\t'))
			return NULL;
		if (data[q] == ':' && (q + 1 == e || data[q + 1] == ' ' || data[q + 1] == '\t')) {
			*ok = true;
			return make_symbol(data + p, q - p);
		}
	}
	return NULL;
}

/* A top-level list item "- ..."; its symbol is the value of a leading "name:". */
static bool yaml_item(const char *data, const struct line *l, char **symbol)
{
	size_t p = l->start, e = l->end;
	*symbol = NULL;
	if (data[p] != '-' || (p + 1 < e && data[p + 1] != ' ' && data[p + 1] != '\t'))
		return false;
	p = skip_blanks(data, p + 1, e);
	if (e - p > 5 && memcmp(data + p, "name:", 5) == 0 && (data[p + 5] == ' ' || data[p + 5] == '\t')) {
		size_t s = skip_blanks(data, p + 5, e), v = s;
		while (v < e && !(data[v] == '#' && (data[v - 1] == ' ' || data[v - 1] == '\t')))
			v++;
		while (v > s && is_blank_char(data[v - 1]))
			v--;
		if (v - s >= 2 && (data[s] == '"' || data[s] == '\'') && data[v - 1] == data[s]) {
			s++;
			v--;
		}
		*symbol = make_symbol(data + s, v - s);
	}
	return true;
}

static void chunk_yaml(struct secs *ss, const char *data, size_t len)
{
	sec_open(ss, 0, "text", NULL, NULL, NULL, 0, 0, SEC_SOLO);
	/*
	 * deco: the current section holds only blank lines, comments,
	 * directives and a "---", which the next key takes over. comments:
	 * the first of the column-0 comment lines just before this line (blank
	 * lines may sit between them), which go with a key that follows.
	 */
	bool deco = true, doc_break = false, root_scalar = false;
	size_t comments = NONE;
	struct line l;
	for (size_t p = 0; line_at(data, len, p, &l); p = l.next) {
		if (yaml_marker(data, &l, '-')) {
			size_t start = deco ? base_vec_last(&ss->v).start : comments != NONE ? comments : l.start;
			sec_open(ss, start, "text", NULL, NULL, NULL, 0, 0, SEC_BREAK);
			size_t r = skip_blanks(data, l.start + 3, l.end);
			root_scalar = yaml_block_scalar(data, r, l.end);
			/* a tag or anchor alone still leaves the document to its first key */
			deco = !root_scalar && (r == l.end || data[r] == '#' || data[r] == '!' || data[r] == '&');
			doc_break = false;
			comments = NONE;
			continue;
		}
		if (yaml_marker(data, &l, '.')) {
			root_scalar = false;
			doc_break = true;
			comments = NONE;
			continue;
		}
		if (root_scalar || line_blank(data, &l))
			continue;
		char c = data[l.start];
		if (c == '#') {
			if (comments == NONE)
				comments = l.start;
			continue;
		}
		if (c == '%' && deco)
			continue;
		char *symbol = NULL;
		bool key = false;
		const char *kind = NULL;
		if (c != ' ' && c != '\t') {
			symbol = yaml_key(data, &l, &key);
			if (key)
				kind = "key";
			else if (yaml_item(data, &l, &symbol))
				kind = "item";
		}
		if (kind) {
			size_t start = deco ? base_vec_last(&ss->v).start : comments != NONE ? comments : l.start;
			sec_open(ss, start, kind, symbol, NULL, NULL, 0, 0, doc_break ? SEC_BREAK : 0);
			doc_break = false;
		}
		deco = false;
		comments = NONE;
	}
}

/* ---- toml --------------------------------------------------------------- */

struct toml_scan {
	char ml;      /* inside a multi-line string: '"' or '\'', else 0 */
	size_t depth; /* open '[' and '{' of values */
};

/* Inside a multi-line string from p: past its end (clearing ml), or `end`. */
static size_t toml_ml_end(struct toml_scan *ts, const char *data, size_t p, size_t end)
{
	char q = ts->ml;
	while (p < end) {
		if (q == '"' && data[p] == '\\') {
			p += 2;
			continue;
		}
		if (end - p >= 3 && data[p] == q && data[p + 1] == q && data[p + 2] == q) {
			p += 3;
			/* up to two quotes just before the delimiter belong to the string */
			for (int k = 0; k < 2 && p < end && data[p] == q; k++)
				p++;
			ts->ml = 0;
			return p;
		}
		p++;
	}
	return end;
}

/* Follow strings, comments and brackets through data[p, end), one line. */
static void toml_scan_line(struct toml_scan *ts, const char *data, size_t p, size_t end)
{
	if (ts->ml)
		p = toml_ml_end(ts, data, p, end);
	while (p < end) {
		char c = data[p];
		if (c == '#')
			return;
		if (c == '"' || c == '\'') {
			if (end - p >= 3 && data[p + 1] == c && data[p + 2] == c) {
				ts->ml = c;
				p = toml_ml_end(ts, data, p + 3, end);
				continue;
			}
			for (p++; p < end && data[p] != c; p++)
				if (c == '"' && data[p] == '\\')
					p++;
			p++;
			continue;
		}
		if (c == '[' || c == '{')
			ts->depth++;
		else if ((c == ']' || c == '}') && ts->depth > 0)
			ts->depth--;
		p++;
	}
}

/*
 * A table header "[a.b]" or "[[a.b]]" at p: its name without blanks
 * outside quotes, and *endp past the brackets. NULL if not a header.
 */
static char *toml_header(const char *data, size_t p, size_t end, size_t *endp)
{
	bool array = p + 1 < end && data[p + 1] == '[';
	char name[SYMBOL_MAX * 2];
	size_t n = 0;
	for (p += array ? 2 : 1; p < end && data[p] != ']'; p++) {
		char c = data[p];
		if (c == ' ' || c == '\t')
			continue;
		if (strchr("[{=,#", c))
			return NULL;
		if (c == '"' || c == '\'') {
			size_t q = p + 1;
			while (q < end && data[q] != c)
				q += c == '"' && data[q] == '\\' ? 2 : 1;
			if (q >= end)
				return NULL;
			for (; p <= q; p++)
				if (n < sizeof(name))
					name[n++] = data[p];
			p--;
			continue;
		}
		if (n < sizeof(name))
			name[n++] = c;
	}
	if (p >= end || n == 0)
		return NULL;
	p++;
	if (array) {
		if (p >= end || data[p] != ']')
			return NULL;
		p++;
	}
	size_t r = skip_blanks(data, p, end);
	if (r < end && data[r] != '#')
		return NULL;
	*endp = p;
	return make_symbol(name, n);
}

/* Where the parent table's name ends: the last '.' outside quotes, or 0. */
static size_t toml_parent_len(const char *name)
{
	size_t last = 0;
	char q = 0;
	for (size_t i = 0; name[i]; i++) {
		if (q) {
			if (name[i] == '\\' && q == '"' && name[i + 1])
				i++;
			else if (name[i] == q)
				q = 0;
		} else if (name[i] == '"' || name[i] == '\'') {
			q = name[i];
		} else if (name[i] == '.') {
			last = i;
		}
	}
	return last;
}

/*
 * Inside a multi-line array an element line may start with '['. A header
 * is still believed there when it stands at column 0 and names a key, not
 * a number or a keyword, so that an unclosed bracket does not hide every
 * table after it.
 */
static bool toml_header_despite_depth(const char *name, const struct line *l, size_t t)
{
	char c = name[0];
	if (t != l->start || !(c == '_' || c == '"' || c == '\'' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
		return false;
	return strcmp(name, "true") && strcmp(name, "false") && strcmp(name, "inf") && strcmp(name, "nan");
}

static void chunk_toml(struct secs *ss, const char *data, size_t len)
{
	/* the root table: key/values before the first header */
	sec_open(ss, 0, "table", NULL, NULL, NULL, 0, 0, SEC_SOLO);
	struct toml_scan ts = { 0, 0 };
	bool deco = true;
	size_t comments = NONE;
	struct line l;
	for (size_t p = 0; line_at(data, len, p, &l); p = l.next) {
		if (ts.ml) {
			toml_scan_line(&ts, data, l.start, l.end);
			continue;
		}
		size_t t = skip_blanks(data, l.start, l.end);
		if (t == l.end || rest_blank(data, t, l.end))
			continue;
		if (data[t] == '#') {
			if (comments == NONE)
				comments = l.start;
			continue;
		}
		size_t after = 0;
		char *name = data[t] == '[' ? toml_header(data, t, l.end, &after) : NULL;
		if (name && ts.depth > 0 && !toml_header_despite_depth(name, &l, t)) {
			base_free(name);
			name = NULL;
		}
		if (name) {
			size_t start = deco ? base_vec_last(&ss->v).start : comments != NONE ? comments : l.start;
			char *symbol = base_strdup(name);
			sec_open(ss, start, "table", symbol, NULL, name, toml_parent_len(name), 0, 0);
			ts.depth = 0;
			toml_scan_line(&ts, data, after, l.end);
		} else {
			toml_scan_line(&ts, data, l.start, l.end);
		}
		deco = false;
		comments = NONE;
	}
}

/* ---- entry -------------------------------------------------------------- */

int idx__chunk_text(const struct idx_lang *lang, const char *data, size_t len, unsigned max_size,
		    struct idx_chunks *out)
{
	if (len == 0)
		return BASE_OK;
	if (max_size == 0)
		max_size = IDX_DEFAULT_MAX_CHUNK;
	const char *name = lang && lang->name ? lang->name : "text";
	struct secs ss = { BASE_VEC_INIT };
	if (strcmp(name, "markdown") == 0)
		chunk_markdown(&ss, data, len);
	else if (strcmp(name, "json") == 0)
		chunk_json(&ss, data, len);
	else if (strcmp(name, "yaml") == 0)
		chunk_yaml(&ss, data, len);
	else if (strcmp(name, "toml") == 0)
		chunk_toml(&ss, data, len);
	if (ss.v.n > 0)
		emit(&ss, data, len, max_size, out);
	else
		pack(out, data, 0, len, max_size, "text", NULL, NULL);
	secs_release(&ss);
	return BASE_OK;
}
