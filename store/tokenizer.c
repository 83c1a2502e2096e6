/*
 * tokenizer.c: the "lode" FTS5 tokenizer, which understands code
 * identifiers.
 *
 * Document text is cut into words with base_word_next. Each word is
 * emitted lower-cased, and when it splits into parts (base_word_parts:
 * parseHttpHeader -> parse|Http|Header, __init__ -> init) the lower-cased
 * parts follow as FTS5_TOKEN_COLOCATED tokens at the same position. So
 * `parseHttpHeader` is found by "http", "header" and "parsehttpheader".
 * Queries emit only the lower-cased whole word: the query builder
 * (search.c) expands parts itself.
 *
 * Tokens shorter than 2 bytes or longer than STORE_TOKEN_MAX and English
 * stop words are never emitted: the query builder drops them too, so
 * indexing them would only cost time and space. A word longer than the cap
 * is indexed by its parts only. Numbers (words starting with a digit) are
 * indexed whole only: the parts of 0xdeadbeef are noise.
 *
 * The FTS table has detail=column: the index records which columns of a
 * row hold a term, not how often. So in document mode each distinct token
 * is emitted once per column value; repeats would change nothing in the
 * index but cost FTS5 a hash update each (most of the insert time). A
 * column's size (used for BM25 length normalisation) is therefore its
 * number of distinct words.
 *
 * This tokenizer is part of the index format (see internal.h).
 */
#include <string.h>

#include <xxhash.h>

#include "store/internal.h"

#include "base/banned.h"

/* Most parts indexed per word; the rest of a pathological word is dropped. */
#define PARTS_MAX 32

/*
 * English stop words of 2..8 letters, each packed little-end-first into a
 * uint64 (byte i at bits 8i..8i+7), in a perfect hash table: slot
 * (packed * STOP_MULT) >> 55. Words that carry meaning in code ("can",
 * "up", "all", "after", ...) are not here. Regenerate the table (a search
 * for a collision-free multiplier) when changing the list; the list is
 * part of the index format.
 */
#define STOP_MULT 0x070d710920859635ull
#define STOP_BITS 9
static const uint64_t stopwords[1 << STOP_BITS] = {
	[1] = 0x0000000000006562ull, /* be */
	[12] = 0x0000000000006f74ull, /* to */
	[14] = 0x0000006c6c616873ull, /* shall */
	[18] = 0x00000000006f6f74ull, /* too */
	[22] = 0x000000000000726full, /* or */
	[27] = 0x0000000000007962ull, /* by */
	[30] = 0x000000007473756dull, /* must */
	[31] = 0x0000000000747562ull, /* but */
	[39] = 0x0000000000746f6eull, /* not */
	[57] = 0x0000000000646168ull, /* had */
	[60] = 0x0000000073696874ull, /* this */
	[70] = 0x000000006d656874ull, /* them */
	[75] = 0x0000006572656874ull, /* there */
	[76] = 0x0000000000736177ull, /* was */
	[79] = 0x0000000000736968ull, /* his */
	[84] = 0x0000000000796877ull, /* why */
	[86] = 0x0000000000006568ull, /* he */
	[89] = 0x000000006e656874ull, /* then */
	[93] = 0x0000006573656874ull, /* these */
	[99] = 0x0000000000726f6eull, /* nor */
	[104] = 0x0000000079726576ull, /* very */
	[115] = 0x0000000000656873ull, /* she */
	[117] = 0x0000006572656877ull, /* where */
	[121] = 0x0000000000776f68ull, /* how */
	[127] = 0x0000000000006669ull, /* if */
	[129] = 0x0000000000656874ull, /* the */
	[130] = 0x0000000000657261ull, /* are */
	[131] = 0x000000006e656877ull, /* when */
	[142] = 0x0000000073656f64ull, /* does */
	[156] = 0x000000000000656dull, /* me */
	[158] = 0x0065737561636562ull, /* because */
	[164] = 0x000000646c756f77ull, /* would */
	[168] = 0x000000006c6c6977ull, /* will */
	[182] = 0x000000000000796dull, /* my */
	[190] = 0x000000676e696562ull, /* being */
	[208] = 0x000000006e616874ull, /* than */
	[211] = 0x000000000000666full, /* of */
	[216] = 0x0000000000646964ull, /* did */
	[225] = 0x000000746867696dull, /* might */
	[229] = 0x0000000000006e61ull, /* an */
	[244] = 0x0000007269656874ull, /* their */
	[258] = 0x0000000000726568ull, /* her */
	[259] = 0x00000000006d6968ull, /* him */
	[265] = 0x0000000065726577ull, /* were */
	[266] = 0x000000006e656562ull, /* been */
	[267] = 0x000000000079616dull, /* may */
	[269] = 0x0000676e69766168ull, /* having */
	[275] = 0x000000000072756full, /* our */
	[289] = 0x0000000079656874ull, /* they */
	[297] = 0x0000000000006577ull, /* we */
	[298] = 0x0000000000006f64ull, /* do */
	[306] = 0x00000065736f6874ull, /* those */
	[308] = 0x0000000000646e61ull, /* and */
	[318] = 0x0000000074616874ull, /* that */
	[325] = 0x000000006d6f6877ull, /* whom */
	[338] = 0x0000000065766168ull, /* have */
	[342] = 0x0000000000006e69ull, /* in */
	[354] = 0x000000006d6f7266ull, /* from */
	[360] = 0x0000000074616877ull, /* what */
	[363] = 0x0000000000007361ull, /* as */
	[365] = 0x0000646c756f6873ull, /* should */
	[367] = 0x0000000068746977ull, /* with */
	[374] = 0x0000000068637573ull, /* such */
	[376] = 0x0000000000736168ull, /* has */
	[377] = 0x00000074756f6261ull, /* about */
	[384] = 0x00000000006f6877ull, /* who */
	[389] = 0x0000000000737469ull, /* its */
	[390] = 0x0000000000007461ull, /* at */
	[394] = 0x000000646c756f63ull, /* could */
	[421] = 0x0000000000756f79ull, /* you */
	[426] = 0x0000000000006e6full, /* on */
	[431] = 0x0000006863696877ull, /* which */
	[432] = 0x000000006f746e69ull, /* into */
	[439] = 0x0000000000006f6eull, /* no */
	[454] = 0x0000000072756f79ull, /* your */
	[476] = 0x0000000000007369ull, /* is */
	[487] = 0x000000676e696f64ull, /* doing */
	[498] = 0x0000000000726f66ull, /* for */
	[500] = 0x000000007473756aull, /* just */
	[503] = 0x0000000000007469ull, /* it */
	[510] = 0x0000000000006f73ull, /* so */
};

static uint64_t pack(const char *w, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)(unsigned char)w[i] << (8 * i);
	return v;
}

bool store__is_stopword(const char *w, size_t n)
{
	if (n < 2 || n > 8)
		return false;
	uint64_t v = pack(w, n);
	return stopwords[(v * STOP_MULT) >> (64 - STOP_BITS)] == v;
}

int store__head_build(struct base_buf *b, const char *path, const char *symbol, size_t symbol_len,
		      const char *scope, size_t scope_len)
{
	base_buf_reset(b);
	int rc = base_buf_adds(b, path);
	if (!rc && symbol_len)
		rc = base_buf_addc(b, ' ');
	if (!rc)
		rc = base_buf_add(b, symbol, symbol_len);
	if (!rc && scope_len)
		rc = base_buf_addc(b, ' ');
	if (!rc)
		rc = base_buf_add(b, scope, scope_len);
	return rc;
}

/* ---- the set of tokens already emitted for one column value ---------- */

/*
 * Open addressing on 64-bit hashes. A slot is live when its stamp equals
 * the current generation, so starting a new column value costs nothing.
 * Two different tokens with one hash would lose the second for that row:
 * deterministic (deletes re-tokenize identically) and vanishingly rare.
 */
struct seen {
	uint64_t *keys;
	uint32_t *stamp;
	uint32_t gen;
	uint32_t mask;
	uint32_t used;
};

#define SEEN_SLOTS_MIN 1024

static void seen_alloc(struct seen *s, uint32_t nslots)
{
	s->keys = base_malloc(nslots * sizeof(*s->keys));
	s->stamp = base_calloc(nslots, sizeof(*s->stamp));
	s->mask = nslots - 1;
}

static void seen_reset(struct seen *s)
{
	s->used = 0;
	if (++s->gen == 0) {
		memset(s->stamp, 0, (s->mask + (size_t)1) * sizeof(*s->stamp));
		s->gen = 1;
	}
}

static void seen_put(struct seen *s, uint64_t key)
{
	uint32_t i = (uint32_t)key & s->mask;
	while (s->stamp[i] == s->gen)
		i = (i + 1) & s->mask;
	s->keys[i] = key;
	s->stamp[i] = s->gen;
	s->used++;
}

static void seen_grow(struct seen *s)
{
	struct seen old = *s;
	seen_alloc(s, (old.mask + 1) * 2);
	s->gen = 1;
	s->used = 0;
	for (uint32_t i = 0; i <= old.mask; i++)
		if (old.stamp[i] == old.gen)
			seen_put(s, old.keys[i]);
	base_free(old.keys);
	base_free(old.stamp);
}

/* Was `key` seen in this column value? Records it if not. */
static bool seen_test(struct seen *s, uint64_t key)
{
	uint32_t i = (uint32_t)key & s->mask;
	while (s->stamp[i] == s->gen) {
		if (s->keys[i] == key)
			return true;
		i = (i + 1) & s->mask;
	}
	s->keys[i] = key;
	s->stamp[i] = s->gen;
	if (++s->used * 2 > s->mask)
		seen_grow(s);
	return false;
}

/* ---- the FTS5 tokenizer ---------------------------------------------- */

typedef int token_fn(void *ctx, int tflags, const char *tok, int ntok, int start, int end);

struct tokenizer {
	struct seen seen;
};

static int tok_create(void *udata, const char **argv, int argc, Fts5Tokenizer **out)
{
	(void)udata;
	(void)argv;
	if (argc != 0)
		return SQLITE_ERROR;
	struct tokenizer *t = base_calloc(1, sizeof(*t));
	seen_alloc(&t->seen, SEEN_SLOTS_MIN);
	*out = (Fts5Tokenizer *)t;
	return SQLITE_OK;
}

static void tok_delete(Fts5Tokenizer *p)
{
	struct tokenizer *t = (struct tokenizer *)p;
	if (!t)
		return;
	base_free(t->seen.keys);
	base_free(t->seen.stamp);
	base_free(t);
}

enum { SEED_WORD = 1, SEED_TOKEN = 2 };

/*
 * One token; `*flags` is 0 for the first token of a word and becomes
 * COLOCATED. With `seen`, a token already emitted for this value is skipped.
 */
static int emit(void *ctx, token_fn *tok, struct seen *seen, int *flags, const char *lower, size_t n, int start)
{
	if (n < 2 || n > STORE_TOKEN_MAX || store__is_stopword(lower, n))
		return SQLITE_OK;
	if (seen && seen_test(seen, XXH3_64bits_withSeed(lower, n, SEED_TOKEN)))
		return SQLITE_OK;
	int rc = tok(ctx, *flags, lower, (int)n, start, start + (int)n);
	*flags = FTS5_TOKEN_COLOCATED;
	return rc;
}

/* One word of document text: the whole word, then its parts, colocated. */
static int emit_doc_word(void *ctx, token_fn *tok, struct seen *seen, const char *w, size_t n, int start)
{
	char lower[STORE_TOKEN_MAX];
	int flags = 0, rc;
	/* The same spelling again yields the same tokens: all seen. */
	if (seen && seen_test(seen, XXH3_64bits_withSeed(w, n, SEED_WORD)))
		return SQLITE_OK;
	if (n <= STORE_TOKEN_MAX) {
		base_ascii_lower(w, n, lower);
		rc = emit(ctx, tok, seen, &flags, lower, n, start);
		if (rc != SQLITE_OK)
			return rc;
	}
	struct base_span parts[PARTS_MAX];
	size_t np = base_word_parts(w, n, parts, PARTS_MAX);
	if (!store__word_splits(w, n, parts, np))
		return SQLITE_OK;
	np = BASE_MIN(np, (size_t)PARTS_MAX);
	for (size_t i = 0; i < np; i++) {
		size_t pn = parts[i].len;
		if (pn < 2 || pn > STORE_TOKEN_MAX)
			continue;
		base_ascii_lower(w + parts[i].off, pn, lower);
		rc = emit(ctx, tok, seen, &flags, lower, pn, start + (int)parts[i].off);
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

static int tok_tokenize(Fts5Tokenizer *p, void *ctx, int flags, const char *text, int ntext, token_fn *tok)
{
	struct tokenizer *t = (struct tokenizer *)p;
	if (!text || ntext <= 0)
		return SQLITE_OK;
	size_t len = (size_t)ntext, pos = 0;
	struct base_span w;
	bool query = (flags & FTS5_TOKENIZE_QUERY) != 0;
	struct seen *seen = NULL;
	if ((flags & (FTS5_TOKENIZE_QUERY | FTS5_TOKENIZE_AUX)) == 0) {
		seen = &t->seen;
		seen_reset(seen);
	}
	while (base_word_next(text, len, &pos, &w)) {
		int rc;
		if (query) {
			/* The builder only asks for words it can find. */
			char lower[STORE_TOKEN_MAX];
			if (w.len > STORE_TOKEN_MAX)
				continue;
			base_ascii_lower(text + w.off, w.len, lower);
			rc = tok(ctx, 0, lower, (int)w.len, (int)w.off, (int)(w.off + w.len));
		} else {
			rc = emit_doc_word(ctx, tok, seen, text + w.off, w.len, (int)w.off);
		}
		if (rc != SQLITE_OK)
			return rc;
	}
	return SQLITE_OK;
}

int store__fts5_register(sqlite3 *db)
{
	fts5_api *api = NULL;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return rc;
	if (!api || api->iVersion < 2)
		return SQLITE_ERROR;
	/* FTS5 copies the struct. */
	fts5_tokenizer tk = { tok_create, tok_delete, tok_tokenize };
	rc = api->xCreateTokenizer(api, STORE_TOKENIZER, NULL, &tk, NULL);
	if (rc == SQLITE_OK)
		rc = store__rank_register(api);
	return rc;
}
