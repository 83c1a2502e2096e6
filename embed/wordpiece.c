/*
 * wordpiece.c: BERT tokenization. One pass over the text: characters are
 * cleaned and normalised as they are decoded and appended to a word buffer
 * on the stack; a word ends at white space, punctuation or a CJK
 * ideograph, and is then cut into pieces by greedy longest match against an
 * open-addressing hash table of the vocabulary. Nothing is allocated per
 * call.
 */
#include <string.h>

#include "embed/wordpiece.h"

#ifdef LODE_HAVE_UTF8PROC
#include <utf8proc.h>
#endif

#include "base/banned.h"

/* "\xe2\x96\x81": U+2581, llama.cpp's word-initial mark. */
#define WP_MARK "\xe2\x96\x81"
#define WP_MARK_LEN 3
/* A normalised character is at most 4 UTF-8 bytes. */
#define WP_WORD_BYTES (WP_MAX_WORD_CHARS * 4)

struct wp_slot {
	uint32_t hash;
	int32_t id; /* -1: empty */
};

struct wp_tokenizer {
	unsigned flags;
	size_t n;
	int32_t unk, cls, sep;
	char *strs;          /* every token, NUL-terminated, in llama.cpp form */
	uint32_t *off;       /* token i at strs + off[i] */
	uint32_t *key_off;   /* the lookup key: the token without its mark */
	uint16_t *key_len;
	uint8_t *initial;    /* 1 when the token is word-initial */
	struct wp_slot *slots;
	uint32_t mask;
	size_t max_key;      /* longest key in bytes */
};

/* ---- character classes --------------------------------------------------- */

bool wp_unicode_exact(void)
{
#ifdef LODE_HAVE_UTF8PROC
	return true;
#else
	return false;
#endif
}

/* Rust's char::is_whitespace (Unicode White_Space). */
static bool is_ws(int32_t c)
{
	if (c < 0x80)
		return c == ' ' || (c >= 0x09 && c <= 0x0d);
	return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
	       c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* BERT's "Chinese character" ranges (CJK Unified Ideographs and extensions). */
static bool is_cjk(int32_t c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
	       (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) ||
	       (c >= 0x2B920 && c <= 0x2CEAF) || (c >= 0xF900 && c <= 0xFAFF) ||
	       (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_ascii_punct(int32_t c)
{
	return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}

/* Dropped by clean_text: categories C* except \t \n \r (and NUL, U+FFFD). */
static bool is_control(int32_t c)
{
	if (c == 0xFFFD)
		return true;
	if (c < 0x80)
		return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f;
#ifdef LODE_HAVE_UTF8PROC
	utf8proc_category_t k = utf8proc_category(c);
	return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CS ||
	       k == UTF8PROC_CATEGORY_CO || k == UTF8PROC_CATEGORY_CN;
#else
	return false;
#endif
}

static bool is_punct(int32_t c)
{
	if (c < 0x80)
		return is_ascii_punct(c);
#ifdef LODE_HAVE_UTF8PROC
	utf8proc_category_t k = utf8proc_category(c);
	return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
#else
	return false;
#endif
}

/*
 * Normalise one character for an uncased vocabulary: NFD, drop Mn (when
 * `strip`), lower-case. Writes up to 8 characters to out; returns how many.
 */
static int normalize_uncased(int32_t c, bool strip, int32_t *out)
{
	if (c < 0x80) {
		out[0] = c >= 'A' && c <= 'Z' ? c + 32 : c;
		return 1;
	}
#ifdef LODE_HAVE_UTF8PROC
	utf8proc_int32_t d[8];
	int n = 1;
	d[0] = c;
	if (strip) {
		int boundclass = 0;
		utf8proc_ssize_t r = utf8proc_decompose_char(c, d, 8, UTF8PROC_DECOMPOSE, &boundclass);
		if (r > 0 && r <= 8)
			n = (int)r;
		else
			d[0] = c;
	}
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (strip && utf8proc_category(d[i]) == UTF8PROC_CATEGORY_MN)
			continue;
		out[k++] = utf8proc_tolower(d[i]);
	}
	return k;
#else
	(void)strip;
	out[0] = c;
	return 1;
#endif
}

/* Decode one UTF-8 character at s[*i]; -1 for an invalid sequence (one byte skipped). */
static int32_t utf8_next(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char b = s[*i];
	if (b < 0x80) {
		(*i)++;
		return b;
	}
	size_t need;
	int32_t c, min;
	if (b >= 0xC2 && b <= 0xDF) {
		need = 1, c = b & 0x1F, min = 0x80;
	} else if (b >= 0xE0 && b <= 0xEF) {
		need = 2, c = b & 0x0F, min = 0x800;
	} else if (b >= 0xF0 && b <= 0xF4) {
		need = 3, c = b & 0x07, min = 0x10000;
	} else {
		(*i)++;
		return -1;
	}
	if (len - *i < need + 1) {
		(*i)++;
		return -1;
	}
	for (size_t k = 1; k <= need; k++) {
		unsigned char x = s[*i + k];
		if ((x & 0xC0) != 0x80) {
			(*i)++;
			return -1;
		}
		c = (c << 6) | (x & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
		(*i)++;
		return -1;
	}
	*i += need + 1;
	return c;
}

static int utf8_put(int32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xC0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xE0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		out[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
	out[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* ---- the vocabulary table ------------------------------------------------- */

static uint32_t key_hash(const char *s, size_t len, bool initial)
{
	uint64_t h = initial ? 0xcbf29ce484222325ull : 0x84222325cbf29ce4ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return (uint32_t)(h ^ (h >> 32));
}

static int32_t lookup(const struct wp_tokenizer *t, const char *s, size_t len, bool initial)
{
	uint32_t h = key_hash(s, len, initial);
	for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
		const struct wp_slot *sl = &t->slots[i];
		if (sl->id < 0)
			return -1;
		if (sl->hash == h && t->initial[sl->id] == initial && t->key_len[sl->id] == len &&
		    memcmp(t->strs + t->key_off[sl->id], s, len) == 0)
			return sl->id;
	}
}

unsigned wp_guess_case(const struct gguf_str *tokens, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *s = tokens[i].ptr;
		size_t len = tokens[i].len;
		if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
			continue;
		for (size_t k = 0; k < len; k++)
			if (s[k] >= 'A' && s[k] <= 'Z')
				return 0;
	}
	return WP_LOWERCASE;
}

static int32_t find_special(const struct wp_tokenizer *t, int32_t given, const char *name)
{
	if (given >= 0)
		return (size_t)given < t->n ? given : -1;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->strs + t->off[i], name) == 0)
			return (int32_t)i;
	return -1;
}

struct wp_tokenizer *wp_new(const struct gguf_str *tokens, size_t n, const struct wp_options *opts,
			    struct base_err *err)
{
	struct wp_options o = { 0, -1, -1, -1 };
	if (opts)
		o = *opts;
	if (!wp_unicode_exact()) {
		if (!(o.flags & WP_APPROX_UNICODE)) {
			base_err_set(err, BASE_E_UNSUPPORTED,
				     "wordpiece: this build has no utf8proc, so non-ASCII text would not be "
				     "tokenized as BERT does (set WP_APPROX_UNICODE to accept that)");
			return NULL;
		}
		BASE_LOG(BASE_LOG_WARN, "wordpiece: no utf8proc in this build: non-ASCII text is tokenized "
					"without Unicode case, accent, punctuation and control rules");
	}
	if (n == 0) {
		base_err_set(err, BASE_E_INVAL, "wordpiece: empty vocabulary");
		return NULL;
	}
	if (n > ((size_t)1 << 30)) {
		base_err_set(err, BASE_E_TOOBIG, "wordpiece: %zu tokens is too many", n);
		return NULL;
	}
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++) {
		if (tokens[i].len > UINT16_MAX || bytes > UINT32_MAX - tokens[i].len - 1) {
			base_err_set(err, BASE_E_TOOBIG, "wordpiece: token %zu is too long", i);
			return NULL;
		}
		bytes += tokens[i].len + 1;
	}
	struct wp_tokenizer *t = base_calloc(1, sizeof(*t));
	t->flags = o.flags;
	t->n = n;
	size_t cap = 16;
	while (cap < 2 * n)
		cap *= 2;
	t->mask = (uint32_t)(cap - 1);
	t->strs = base_trymalloc(bytes);
	t->off = base_trymalloc(n * sizeof(*t->off));
	t->key_off = base_trymalloc(n * sizeof(*t->key_off));
	t->key_len = base_trymalloc(n * sizeof(*t->key_len));
	t->initial = base_trymalloc(n);
	t->slots = base_trymalloc(cap * sizeof(*t->slots));
	if (!t->strs || !t->off || !t->key_off || !t->key_len || !t->initial || !t->slots) {
		wp_free(t);
		base_err_set(err, BASE_E_NOMEM, "wordpiece: out of memory for %zu tokens", n);
		return NULL;
	}
	for (size_t i = 0; i < cap; i++)
		t->slots[i].id = -1;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = tokens[i].ptr;
		size_t len = tokens[i].len;
		memcpy(t->strs + at, s, len);
		t->strs[at + len] = '\0';
		t->off[i] = (uint32_t)at;
		bool init = len >= WP_MARK_LEN && memcmp(s, WP_MARK, WP_MARK_LEN) == 0;
		size_t skip = init ? WP_MARK_LEN : 0;
		t->initial[i] = init;
		t->key_off[i] = (uint32_t)(at + skip);
		t->key_len[i] = (uint16_t)(len - skip);
		at += len + 1;
		if (len == skip || memchr(s, '\0', len))
			continue; /* an empty key or a NUL never matches a word */
		/* the first token wins a duplicate key, as the lowest id */
		if (lookup(t, t->strs + t->key_off[i], t->key_len[i], init) >= 0)
			continue;
		uint32_t h = key_hash(t->strs + t->key_off[i], t->key_len[i], init);
		uint32_t k = h & t->mask;
		while (t->slots[k].id >= 0)
			k = (k + 1) & t->mask;
		t->slots[k].hash = h;
		t->slots[k].id = (int32_t)i;
		if (t->key_len[i] > t->max_key)
			t->max_key = t->key_len[i];
	}
	t->unk = find_special(t, o.unk_id, "[UNK]");
	t->cls = find_special(t, o.cls_id, "[CLS]");
	t->sep = find_special(t, o.sep_id, "[SEP]");
	if (t->unk < 0 || t->cls < 0 || t->sep < 0) {
		base_err_set(err, BASE_E_INVAL, "wordpiece: the vocabulary has no %s token (or its id is out of range)",
			     t->unk < 0 ? "[UNK]" : t->cls < 0 ? "[CLS]" : "[SEP]");
		wp_free(t);
		return NULL;
	}
	return t;
}

static int gguf_special(const struct gguf *g, const char *key, const char *alt, int32_t *out, struct base_err *err)
{
	uint32_t v = 0;
	*out = -1;
	int rc = gguf_get_u32(g, key, &v, err);
	if (rc == BASE_E_NOTFOUND && alt)
		rc = gguf_get_u32(g, alt, &v, err);
	if (rc == BASE_E_NOTFOUND)
		return BASE_OK;
	if (rc != BASE_OK)
		return rc;
	if (v > INT32_MAX)
		return base_err_set(err, BASE_E_PARSE, "%s: key '%s': token id %u out of range", gguf_name(g), key, v);
	*out = (int32_t)v;
	return BASE_OK;
}

struct wp_tokenizer *wp_new_gguf(const struct gguf *g, unsigned flags, struct base_err *err)
{
	struct gguf_str model = { NULL, 0 };
	const struct gguf_arr *arr = NULL;
	if (gguf_get_str(g, "tokenizer.ggml.model", &model, err) != BASE_OK)
		return NULL;
	if (model.len != 4 || memcmp(model.ptr, "bert", 4) != 0) {
		base_err_set(err, BASE_E_UNSUPPORTED, "%s: tokenizer '%.*s' is not WordPiece ('bert')", gguf_name(g),
			     (int)BASE_MIN(model.len, 64), model.ptr);
		return NULL;
	}
	if (gguf_get_arr(g, "tokenizer.ggml.tokens", &arr, err) != BASE_OK)
		return NULL;
	if (gguf_arr_type(arr) != GGUF_TYPE_STRING || gguf_arr_len(arr) == 0) {
		base_err_set(err, BASE_E_PARSE, "%s: key 'tokenizer.ggml.tokens': expected a non-empty string array",
			     gguf_name(g));
		return NULL;
	}
	struct wp_options o = { flags, -1, -1, -1 };
	if (gguf_special(g, "tokenizer.ggml.unknown_token_id", NULL, &o.unk_id, err) != BASE_OK ||
	    gguf_special(g, "tokenizer.ggml.cls_token_id", "tokenizer.ggml.bos_token_id", &o.cls_id, err) != BASE_OK ||
	    gguf_special(g, "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.eos_token_id", &o.sep_id, err) !=
		    BASE_OK)
		return NULL;
	size_t n = (size_t)gguf_arr_len(arr);
	struct gguf_str *toks = base_trymalloc(n * sizeof(*toks));
	if (!toks) {
		base_err_set(err, BASE_E_NOMEM, "%s: out of memory for %zu tokens", gguf_name(g), n);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		toks[i] = gguf_arr_str(arr, i);
	if (flags & WP_GUESS_CASE)
		o.flags |= wp_guess_case(toks, n);
	struct base_err e2 = { 0, "" };
	struct wp_tokenizer *t = wp_new(toks, n, &o, &e2);
	base_free(toks);
	if (!t)
		base_err_set(err, e2.code, "%s: %s", gguf_name(g), e2.msg);
	return t;
}

void wp_free(struct wp_tokenizer *t)
{
	if (!t)
		return;
	base_free(t->strs);
	base_free(t->off);
	base_free(t->key_off);
	base_free(t->key_len);
	base_free(t->initial);
	base_free(t->slots);
	base_free(t);
}

size_t wp_vocab_size(const struct wp_tokenizer *t)
{
	return t->n;
}

int32_t wp_cls_id(const struct wp_tokenizer *t)
{
	return t->cls;
}

int32_t wp_sep_id(const struct wp_tokenizer *t)
{
	return t->sep;
}

int32_t wp_unk_id(const struct wp_tokenizer *t)
{
	return t->unk;
}

const char *wp_token(const struct wp_tokenizer *t, int32_t id)
{
	return id >= 0 && (size_t)id < t->n ? t->strs + t->off[id] : NULL;
}

/* ---- encoding --------------------------------------------------------------- */

struct enc {
	const struct wp_tokenizer *t;
	int32_t *ids;
	size_t n, limit; /* limit: room for [CLS] and pieces (max_tokens - 1) */
	bool full;
	/* the current word: bytes, and the byte offset of each character */
	char wb[WP_WORD_BYTES];
	uint16_t co[WP_MAX_WORD_CHARS + 1];
	size_t nchars;
};

static void emit(struct enc *e, int32_t id)
{
	if (e->n >= e->limit) {
		e->full = true;
		return;
	}
	e->ids[e->n++] = id;
}

static void flush(struct enc *e)
{
	const struct wp_tokenizer *t = e->t;
	size_t nc = e->nchars;
	e->nchars = 0;
	if (nc == 0)
		return;
	if (nc > WP_MAX_WORD_CHARS) {
		emit(e, t->unk);
		return;
	}
	int32_t piece[WP_MAX_WORD_CHARS];
	size_t np = 0, start = 0;
	while (start < nc) {
		size_t end = nc;
		while (end > start && (size_t)(e->co[end] - e->co[start]) > t->max_key)
			end--;
		int32_t id = -1;
		for (; end > start; end--) {
			id = lookup(t, e->wb + e->co[start], (size_t)(e->co[end] - e->co[start]), start == 0);
			if (id >= 0)
				break;
		}
		if (id < 0) {
			emit(e, t->unk);
			return;
		}
		piece[np++] = id;
		start = end;
	}
	for (size_t i = 0; i < np && !e->full; i++)
		emit(e, piece[i]);
}

/* Append a normalised character to the current word. */
static void add_char(struct enc *e, int32_t c)
{
	if (e->nchars < WP_MAX_WORD_CHARS)
		e->co[e->nchars + 1] = (uint16_t)(e->co[e->nchars] + utf8_put(c, e->wb + e->co[e->nchars]));
	e->nchars++; /* past the limit only counted: the word becomes [UNK] */
}

static void add_norm(struct enc *e, int32_t c)
{
	if (is_punct(c)) {
		flush(e);
		add_char(e, c);
		flush(e);
	} else {
		add_char(e, c);
	}
}

int wp_encode(const struct wp_tokenizer *t, const char *text, size_t len, size_t max_tokens, int32_t *ids,
	      size_t *n, bool *truncated)
{
	if (max_tokens < 2 || !ids || !n || (!text && len))
		return BASE_E_INVAL;
	struct enc e;
	e.t = t;
	e.ids = ids;
	e.n = 0;
	e.limit = max_tokens - 1;
	e.full = false;
	e.nchars = 0;
	e.co[0] = 0;
	ids[e.n++] = t->cls;
	const unsigned char *s = (const unsigned char *)text;
	bool lower = t->flags & WP_LOWERCASE, strip = lower && !(t->flags & WP_KEEP_ACCENTS);
	size_t i = 0;
	while (i < len && !e.full) {
		int32_t c = utf8_next(s, len, &i);
		if (c <= 0 || is_control(c))
			continue;
		if (is_ws(c)) {
			flush(&e);
			continue;
		}
		bool cjk = is_cjk(c);
		if (cjk)
			flush(&e);
		if (lower) {
			int32_t d[8];
			int k = normalize_uncased(c, strip, d);
			for (int j = 0; j < k; j++)
				add_norm(&e, d[j]);
		} else {
			add_norm(&e, c);
		}
		if (cjk)
			flush(&e);
	}
	if (!e.full)
		flush(&e);
	ids[e.n++] = t->sep;
	*n = e.n;
	if (truncated)
		*truncated = e.full;
	return BASE_OK;
}
