/*
 * search.c: lexical search and reading a file's chunks back.
 *
 * Free text (its first BASE_CAP_QUERY bytes) becomes a safe FTS5 query:
 *   1. terms: every identifier word, lower-cased, and its parts; words of
 *      one byte, longer than STORE_TOKEN_MAX, or English stop words are
 *      dropped (the tokenizer never indexes them either);
 *   2. document frequencies, for the LOOKUPS_MAX most promising terms
 *      (long pasted texts have hundreds): matches are counted up to
 *      DF_CAP and extrapolated past it, so a look-up costs at most DF_CAP
 *      rows (an fts5vocab look-up scans the term's whole doclist: 1.5 ms
 *      for a common term at 1M chunks);
 *   3. selection: terms in no chunk go, terms in more than a quarter of
 *      the chunks go when rarer ones exist, and the rarest TERMS_MAX stay
 *      (a part counts as twice as common as a whole word);
 *   4. the expression (build_match): the rarest terms pick the candidate
 *      rows, the others only score them; every term is double-quoted and
 *      made of word bytes only, so nothing in the user's text is ever read
 *      as FTS5 syntax.
 * lode_rank (rank.c, BM25 over column presence) ranks with the head column
 * (path, symbol, scope) weighted above the body. Bounding the candidates
 * bounds the latency: on a synthetic 1M-chunk index, p50 ~8 ms, p90 ~20 ms.
 */
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "base/wildmatch.h"
#include "store/internal.h"

#include "base/banned.h"

#define TERMS_MAX 32         /* terms in the final query */
#define CANDIDATES_MAX 1024  /* distinct terms taken from the text */
#define LOOKUPS_MAX 96       /* document-frequency look-ups per query */
#define DF_CAP 1000          /* matches counted per look-up; past it, estimated */
#define COMMON_FRACTION 4    /* df > chunks / 4: dropped when rarer exist */
#define PARAMS_MAX (4 + 2 * TERMS_MAX)
#define K_DEFAULT 10
#define K_MAX 1000
#define WEIGHT_HEAD 4.0
#define WEIGHT_BODY 1.0

struct term {
	uint32_t off, len; /* in terms.buf */
	uint32_t order;    /* first appearance */
	uint32_t freq;     /* occurrences in the query */
	bool whole;        /* appeared as a whole word */
	bool ident;        /* a whole word with several parts */
	float w;           /* weight: the highest of the query terms it came from */
	int64_t df;        /* -1: not looked up */
};

struct terms {
	struct base_buf buf; /* the terms' bytes, back to back */
	BASE_VEC(struct term) v;
	uint32_t *slots; /* index + 1 into v; 0 = empty */
	size_t nslots;
};

static void terms_init(struct terms *t)
{
	base_buf_init(&t->buf, BASE_CAP_QUERY);
	t->v.v = NULL;
	t->v.n = t->v.cap = 0;
	t->nslots = 2 * CANDIDATES_MAX;
	t->slots = base_calloc(t->nslots, sizeof(*t->slots));
}

static void terms_release(struct terms *t)
{
	base_buf_release(&t->buf);
	base_vec_release(&t->v);
	base_free(t->slots);
}

static const char *term_str(const struct terms *t, const struct term *x)
{
	return t->buf.data + x->off;
}

/* Add the lower-case term w[0,n); keeps the first CANDIDATES_MAX. */
static int terms_add(struct terms *t, const char *w, size_t n, bool whole, bool ident, float weight)
{
	if (n < 2 || n > STORE_TOKEN_MAX || store__is_stopword(w, n))
		return BASE_OK;
	size_t mask = t->nslots - 1;
	size_t i = (size_t)XXH3_64bits(w, n) & mask;
	while (t->slots[i]) {
		struct term *x = &t->v.v[t->slots[i] - 1];
		if (x->len == n && memcmp(term_str(t, x), w, n) == 0) {
			x->freq++;
			x->whole |= whole;
			x->ident |= ident;
			x->w = BASE_MAX(x->w, weight);
			return BASE_OK;
		}
		i = (i + 1) & mask;
	}
	if (t->v.n >= CANDIDATES_MAX)
		return BASE_OK;
	struct term x = { (uint32_t)t->buf.len, (uint32_t)n, (uint32_t)t->v.n, 1, whole, ident, weight, -1 };
	int rc = base_buf_add(&t->buf, w, n);
	if (!rc)
		rc = base_buf_addc(&t->buf, '\0');
	if (rc)
		return rc;
	base_vec_push(&t->v, x);
	t->slots[i] = (uint32_t)t->v.n;
	return BASE_OK;
}

static int terms_extract(struct terms *t, const char *text, size_t len, float weight)
{
	size_t pos = 0;
	struct base_span w;
	char lower[STORE_TOKEN_MAX];
	struct base_span parts[32];
	while (base_word_next(text, len, &pos, &w)) {
		const char *word = text + w.off;
		size_t np = base_word_parts(word, w.len, parts, BASE_ARRAY_LEN(parts));
		bool split = store__word_splits(word, w.len, parts, np);
		int rc = BASE_OK;
		if (w.len <= STORE_TOKEN_MAX) {
			base_ascii_lower(word, w.len, lower);
			rc = terms_add(t, lower, w.len, true, split && np > 1, weight);
		}
		np = BASE_MIN(np, BASE_ARRAY_LEN(parts));
		for (size_t i = 0; split && !rc && i < np; i++) {
			if (parts[i].len > STORE_TOKEN_MAX)
				continue;
			base_ascii_lower(word + parts[i].off, parts[i].len, lower);
			rc = terms_add(t, lower, parts[i].len, false, false, weight);
		}
		if (rc)
			return rc;
	}
	return BASE_OK;
}

/* Look-up order: weightier terms, identifiers, then words the text repeats, longer first. */
static int by_promise(const void *pa, const void *pb)
{
	const struct term *a = pa, *b = pb;
	if (a->w != b->w)
		return a->w > b->w ? -1 : 1;
	if (a->ident != b->ident)
		return a->ident ? -1 : 1;
	if (a->whole != b->whole)
		return a->whole ? -1 : 1;
	if (a->freq != b->freq)
		return a->freq > b->freq ? -1 : 1;
	if (a->len != b->len)
		return a->len > b->len ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* A part counts as twice as common as a whole word, a term of weight w as w times rarer. */
static double weighted_df(const struct term *x)
{
	return (double)(x->whole ? x->df : 2 * x->df) / (x->w > 0 ? x->w : 1);
}

/* Final order: rarest first, whole words before parts. */
static int by_rarity(const void *pa, const void *pb)
{
	const struct term *a = pa, *b = pb;
	double wa = weighted_df(a), wb = weighted_df(b);
	if (wa != wb)
		return wa < wb ? -1 : 1;
	return a->order < b->order ? -1 : a->order > b->order;
}

/* The id range of the chunks, for estimating frequencies past DF_CAP. */
struct id_span {
	int64_t lo, hi, n;
	double avglen; /* chunk text bytes */
};

static int id_span_get(struct store *s, struct id_span *sp, struct base_err *err)
{
	sqlite3_stmt *st = store__stmt(s, ST_CHUNK_SPAN, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sp->lo = sqlite3_column_int64(st, 0);
		sp->hi = sqlite3_column_int64(st, 1);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store__db_err(s, rc, err, "read the chunk ids");
	sp->n = store__meta_int(s, store__counter_key(CNT_CHUNKS), 0);
	if (sp->n <= 0)
		sp->n = ((sp->hi - sp->lo) >> STORE_ID_SHIFT) + 1;
	int64_t bytes = store__meta_int(s, store__counter_key(CNT_BODY_BYTES), 0);
	sp->avglen = bytes > 0 ? (double)bytes / (double)sp->n : 1000.0;
	return BASE_OK;
}

/*
 * Document frequency of one term: exact below DF_CAP. Past it, the rowid
 * of the DF_CAP-th match extrapolated over the id range (ids are handed
 * out in walk order, so this is rough for terms that cluster in one part
 * of the tree; only the idf of common terms depends on it).
 */
static int term_df(struct store *s, sqlite3_stmt *st, const struct id_span *sp, const char *term, size_t len,
		   int64_t *df, struct base_err *err)
{
	char quoted[STORE_TOKEN_MAX + 3];
	quoted[0] = '"';
	memcpy(quoted + 1, term, len);
	quoted[len + 1] = '"';
	sqlite3_bind_text(st, 1, quoted, (int)len + 2, SQLITE_STATIC);
	int64_t n = 0, last = 0;
	int rc;
	while (n < DF_CAP && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		last = sqlite3_column_int64(st, 0);
		n++;
	}
	if (n == DF_CAP) {
		rc = sqlite3_step(st) == SQLITE_ROW ? SQLITE_ROW : SQLITE_DONE;
		if (rc == SQLITE_ROW && last >= sp->lo) {
			double frac = (double)(last - sp->lo + 1) / (double)(sp->hi - sp->lo + 1);
			n = BASE_MAX((int64_t)((double)n / frac), (int64_t)DF_CAP + 1);
			n = BASE_MIN(n, sp->n);
		}
		rc = SQLITE_DONE;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store__db_err(s, rc, err, "look up term frequencies");
	*df = n;
	return BASE_OK;
}

static int lookup_df(struct store *s, struct terms *t, const struct id_span *sp, struct base_err *err)
{
	if (t->v.n > LOOKUPS_MAX)
		qsort(t->v.v, t->v.n, sizeof(*t->v.v), by_promise);
	size_t n = BASE_MIN(t->v.n, (size_t)LOOKUPS_MAX);
	sqlite3_stmt *st = store__stmt(s, ST_TERM_SCAN, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	for (size_t i = 0; i < n; i++) {
		struct term *x = &t->v.v[i];
		int rc = term_df(s, st, sp, term_str(t, x), x->len, &x->df, err);
		if (rc)
			return rc;
	}
	t->v.n = n; /* the rest were never looked up */
	return BASE_OK;
}

static int add_or(struct base_buf *out, const struct terms *t, const struct term *v, size_t n)
{
	int rc = BASE_OK;
	for (size_t i = 0; !rc && i < n; i++) {
		rc = base_buf_adds(out, i ? " OR \"" : "\"");
		if (!rc)
			rc = base_buf_add(out, term_str(t, &v[i]), v[i].len);
		if (!rc)
			rc = base_buf_addc(out, '"');
	}
	return rc;
}

/*
 * Build the MATCH expression in `out` (empty when nothing is searchable)
 * and lode_rank's parameters in `params` (PARAMS_MAX doubles, see rank.c):
 * chunk count, average length, column weights, then a document frequency
 * per phrase of the expression in order, -1 for a phrase that only
 * repeats an earlier one.
 *
 * The rarest terms, up to a summed frequency of s->cand_budget (at least
 * one term), choose the candidate rows; the others only add to their
 * scores:
 *   ("r1" OR "r2") AND ("r1" OR "r2" OR "c1" OR "c2" ...)
 * FTS5 evaluates the right side by seeking to each candidate, so the
 * common terms' long doclists are skipped, not scanned.
 */
static int build_match(struct store *s, struct terms *t, struct base_buf *out, double *params, size_t *nparams,
		       struct base_err *err)
{
	struct id_span sp = { 0, 0, 0, 0 };
	int rc = id_span_get(s, &sp, err);
	if (!rc && sp.hi > 0)
		rc = lookup_df(s, t, &sp, err);
	if (rc || sp.hi <= 0)
		return rc;
	/* Drop terms no chunk has. */
	size_t n = 0;
	for (size_t i = 0; i < t->v.n; i++)
		if (t->v.v[i].df > 0)
			t->v.v[n++] = t->v.v[i];
	t->v.n = n;
	if (!n)
		return BASE_OK;
	qsort(t->v.v, n, sizeof(*t->v.v), by_rarity);
	int64_t common = sp.n / COMMON_FRACTION;
	bool rare_exists = t->v.v[0].df <= common;
	size_t kept = 0, nrare = 0;
	int64_t cand = 0;
	for (size_t i = 0; i < n && kept < TERMS_MAX; i++) {
		const struct term *x = &t->v.v[i];
		if (rare_exists && x->df > common)
			break;
		if (nrare == kept && (!kept || cand + x->df <= s->cand_budget)) {
			cand += x->df;
			nrare++;
		}
		kept++;
	}
	size_t np = 4;
	params[0] = (double)sp.n;
	params[1] = sp.avglen;
	params[2] = WEIGHT_HEAD;
	params[3] = WEIGHT_BODY;
	if (nrare < kept)
		rc = base_buf_addc(out, '(');
	if (!rc)
		rc = add_or(out, t, t->v.v, nrare);
	for (size_t i = 0; i < nrare; i++)
		params[np++] = (double)t->v.v[i].df;
	if (!rc && nrare < kept) {
		rc = base_buf_adds(out, ") AND (");
		if (!rc)
			rc = add_or(out, t, t->v.v, kept);
		if (!rc)
			rc = base_buf_addc(out, ')');
		for (size_t i = 0; i < kept; i++)
			params[np++] = i < nrare ? -1.0 : (double)t->v.v[i].df;
	}
	*nparams = np;
	return rc;
}

/* ---- results --------------------------------------------------------- */

static char *col_dup(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	return base_strndup(t ? t : "", t ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

void store__hit_free(struct store_hit *h)
{
	base_free(h->path);
	base_free(h->lang);
	base_free(h->kind);
	base_free(h->symbol);
	base_free(h->scope);
	base_free(h->text);
}

void store_hit_release(struct store_hit *h)
{
	store__hit_free(h);
}

void store_hits_release(struct store_hits *h)
{
	for (size_t i = 0; i < h->n; i++)
		store__hit_free(&h->v[i]);
	base_free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}

/*
 * Fill `h` from a row: id, path, lang, kind, symbol, scope, start_byte,
 * end_byte, start_line, end_line, text.
 */
static int hit_fill(sqlite3_stmt *st, struct store_hit *h)
{
	memset(h, 0, sizeof(*h));
	const void *text = sqlite3_column_blob(st, 10);
	size_t n = (size_t)sqlite3_column_bytes(st, 10);
	h->text = base_trymalloc(n + 1);
	if (!h->text)
		return BASE_E_NOMEM;
	if (n)
		memcpy(h->text, text, n);
	h->text[n] = '\0';
	h->text_len = n;
	h->chunk_id = sqlite3_column_int64(st, 0);
	h->path = col_dup(st, 1);
	h->lang = col_dup(st, 2);
	h->kind = col_dup(st, 3);
	h->symbol = col_dup(st, 4);
	h->scope = col_dup(st, 5);
	h->start_byte = (uint32_t)sqlite3_column_int64(st, 6);
	h->end_byte = (uint32_t)sqlite3_column_int64(st, 7);
	h->start_line = (uint32_t)sqlite3_column_int64(st, 8);
	h->end_line = (uint32_t)sqlite3_column_int64(st, 9);
	return BASE_OK;
}

static int hit_get(struct store *s, int64_t id, double score, struct store_hits *out, struct base_err *err)
{
	sqlite3_stmt *st = store__stmt(s, s->no_text ? ST_HIT_META : ST_HIT_GET, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return BASE_OK; /* an FTS row without its chunk: skip it */
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return store__db_err(s, rc, err, "read a chunk");
	}
	struct store_hit h;
	rc = hit_fill(st, &h);
	sqlite3_reset(st);
	if (rc)
		return base_err_set(err, rc, "out of memory reading a chunk");
	h.score = score;
	base_vec_push(out, h);
	return BASE_OK;
}

/* ---- filters --------------------------------------------------------- */

/*
 * Every candidate is checked (by lode_keep, inside the query). First with
 * point lookups (chunk -> file -> verdict, cached
 * per file), which is cheapest when the filters keep most files. After
 * s->filter_lookups (STORE_FILTER_LOOKUPS) of those, the filters are
 * evaluated once for every file and each candidate is found by binary
 * search in the chunk id ranges of the files kept (files.chunk_lo/hi).
 */

struct verdict {
	int64_t file_id;
	bool keep;
};

struct id_range {
	int64_t lo, hi;
};

struct filter {
	const struct store_query *q;
	struct store *s;
	int rc;              /* the first error of a check inside the query */
	struct base_err err; /* and its detail */
	struct verdict *table; /* open addressing on file_id */
	size_t nslots, used, lookups;
	bool ranged;
	BASE_VEC(struct id_range) ranges; /* kept files, sorted */
};

static bool filter_active(const struct store_query *q)
{
	return q->nlangs > 0 || q->nglobs > 0;
}

static void filter_release(struct filter *f)
{
	base_free(f->table);
	base_vec_release(&f->ranges);
}

static bool file_matches(const struct store_query *q, const char *path, const char *lang)
{
	if (q->nlangs) {
		bool ok = false;
		for (size_t i = 0; i < q->nlangs && !ok; i++)
			ok = q->langs[i] && lang && strcmp(q->langs[i], lang) == 0;
		if (!ok)
			return false;
	}
	if (q->nglobs) {
		bool ok = false;
		for (size_t i = 0; i < q->nglobs && !ok; i++)
			ok = q->globs[i] && base_wildmatch(q->globs[i], path, BASE_WM_PATHNAME);
		if (!ok)
			return false;
	}
	return true;
}

static size_t verdict_slot(const struct filter *f, int64_t file_id)
{
	return (size_t)((uint64_t)file_id * 0x9E3779B97F4A7C15ull) & (f->nslots - 1);
}

static void filter_grow(struct filter *f)
{
	size_t old = f->nslots;
	struct verdict *prev = f->table;
	f->nslots = old ? old * 2 : 1024;
	f->table = base_calloc(f->nslots, sizeof(*f->table));
	for (size_t i = 0; i < old; i++) {
		if (!prev[i].file_id)
			continue;
		size_t j = verdict_slot(f, prev[i].file_id);
		while (f->table[j].file_id)
			j = (j + 1) & (f->nslots - 1);
		f->table[j] = prev[i];
	}
	base_free(prev);
}

static int by_lo(const void *pa, const void *pb)
{
	const struct id_range *a = pa, *b = pb;
	return a->lo < b->lo ? -1 : a->lo > b->lo;
}

static int filter_ranges_build(struct store *s, struct filter *f, struct base_err *err)
{
	sqlite3_stmt *st = store__stmt(s, ST_FILE_RANGES, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(st, 2);
		const char *lang = (const char *)sqlite3_column_text(st, 3);
		if (!path || !file_matches(f->q, path, lang))
			continue;
		struct id_range r = { sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1) };
		base_vec_push(&f->ranges, r);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store__db_err(s, rc, err, "read the files");
	if (f->ranges.n)
		qsort(f->ranges.v, f->ranges.n, sizeof(*f->ranges.v), by_lo);
	f->ranged = true;
	return BASE_OK;
}

static bool filter_ranges_hit(const struct filter *f, int64_t id)
{
	size_t lo = 0, hi = f->ranges.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->ranges.v[mid].lo <= id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && id <= f->ranges.v[lo - 1].hi;
}

/* Does chunk `id` pass the language and path filters? */
static int filter_check(struct store *s, struct filter *f, int64_t id, bool *keep, struct base_err *err)
{
	if (!f->ranged && f->lookups >= s->filter_lookups) {
		int rc = filter_ranges_build(s, f, err);
		if (rc)
			return rc;
	}
	if (f->ranged) {
		*keep = filter_ranges_hit(f, id);
		return BASE_OK;
	}
	f->lookups++;
	sqlite3_stmt *st = store__stmt(s, ST_CHUNK_FILE, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	int64_t file_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__db_err(s, rc, err, "read a chunk");
	*keep = false;
	if (!file_id)
		return BASE_OK;
	if (2 * (f->used + 1) > f->nslots)
		filter_grow(f);
	size_t j = verdict_slot(f, file_id);
	while (f->table[j].file_id) {
		if (f->table[j].file_id == file_id) {
			*keep = f->table[j].keep;
			return BASE_OK;
		}
		j = (j + 1) & (f->nslots - 1);
	}
	sqlite3_stmt *fs = store__stmt(s, ST_FILE_INFO, err);
	if (!fs)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_int64(fs, 1, file_id);
	rc = sqlite3_step(fs);
	if (rc == SQLITE_ROW) {
		const char *path = (const char *)sqlite3_column_text(fs, 0);
		const char *lang = (const char *)sqlite3_column_text(fs, 1);
		*keep = path && file_matches(f->q, path, lang);
		rc = SQLITE_DONE;
	}
	sqlite3_reset(fs);
	if (rc != SQLITE_DONE)
		return store__db_err(s, rc, err, "read a file");
	f->table[j].file_id = file_id;
	f->table[j].keep = *keep;
	f->used++;
	return BASE_OK;
}

/* ---- search ---------------------------------------------------------- */

struct ranked {
	int64_t id;
	double score;
};

struct ranked_vec {
	struct ranked *v;
	size_t n, cap;
};

/*
 * lode_keep(filter, rowid): does the chunk pass the query's filters? The
 * filter comes as a pointer bound to the statement (sqlite3_bind_pointer),
 * so the check runs inside the query and ORDER BY ... LIMIT keeps only k
 * rows instead of sorting every candidate.
 */
#define FILTER_PTR "lode_filter"

static void keep_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	struct filter *f = sqlite3_value_pointer(argv[0], FILTER_PTR);
	if (!f) {
		sqlite3_result_error(ctx, "lode_keep: no filter", -1);
		return;
	}
	bool keep = false;
	f->rc = filter_check(f->s, f, sqlite3_value_int64(argv[1]), &keep, &f->err);
	if (f->rc) {
		sqlite3_result_error(ctx, f->err.msg, -1);
		return;
	}
	sqlite3_result_int(ctx, keep);
}

int store__search_register(sqlite3 *db)
{
	return sqlite3_create_function_v2(db, "lode_keep", 2, SQLITE_UTF8 | SQLITE_DIRECTONLY, NULL, keep_fn, NULL,
					  NULL, NULL);
}

static int rank(struct store *s, const struct store_query *q, const char *match, const double *params,
		size_t nparams, size_t k, struct ranked_vec *best, struct base_err *err)
{
	static const char plain[] = "SELECT rowid, lode_rank(fts, ?2) AS r FROM fts"
				    " WHERE fts MATCH ?1 ORDER BY r DESC LIMIT ?3";
	static const char filtered[] = "SELECT rowid, lode_rank(fts, ?2) AS r FROM fts"
				       " WHERE fts MATCH ?1 AND lode_keep(?4, rowid) ORDER BY r DESC LIMIT ?3";
	bool filter = filter_active(q);
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, filter ? filtered : plain, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store__db_err(s, rc, err, "prepare the search");
	struct filter f;
	memset(&f, 0, sizeof(f));
	f.q = q;
	f.s = s;
	sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, params, (int)(nparams * sizeof(*params)), SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)k);
	if (filter)
		sqlite3_bind_pointer(st, 4, &f, FILTER_PTR, NULL);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct ranked r = { sqlite3_column_int64(st, 0), sqlite3_column_double(st, 1) };
		base_vec_push(best, r);
	}
	int ret = BASE_OK;
	if (f.rc) {
		ret = f.rc;
		if (err)
			*err = f.err;
	} else if (rc != SQLITE_DONE) {
		ret = store__db_err(s, rc, err, "search");
	}
	sqlite3_finalize(st);
	filter_release(&f);
	return ret;
}

int store_search_lexical(struct store *s, const struct store_query *q, struct store_hits *out,
			 struct base_err *err)
{
	if (!s || !q || !out)
		return base_err_set(err, BASE_E_API, "store_search_lexical: NULL argument");
	size_t len = q->text_len;
	if (!q->text)
		len = 0;
	else if (!len)
		len = strlen(q->text);
	len = BASE_MIN(len, BASE_CAP_QUERY);
	size_t k = q->k ? BASE_MIN(q->k, (size_t)K_MAX) : K_DEFAULT;

	struct terms t;
	terms_init(&t);
	struct base_buf match = BASE_BUF_INIT(BASE_CAP_QUERY);
	struct ranked_vec best = BASE_VEC_INIT;
	int rc = BASE_OK;
	if (q->nterms) {
		for (size_t i = 0; !rc && i < q->nterms; i++)
			if (q->terms[i].text && q->terms[i].weight > 0 &&
			    (q->terms[i].kind == STORE_QT_WORD || q->terms[i].kind == STORE_QT_MODULE))
				rc = terms_extract(&t, q->terms[i].text, strlen(q->terms[i].text), q->terms[i].weight);
	} else {
		rc = terms_extract(&t, q->text ? q->text : "", len, 1.0f);
	}
	if (rc) {
		base_err_set(err, rc, "query too large");
		goto out;
	}
	double params[PARAMS_MAX];
	size_t nparams = 0;
	if (t.v.n)
		rc = build_match(s, &t, &match, params, &nparams, err);
	if (rc || !match.len)
		goto out;
	rc = rank(s, q, match.data, params, nparams, k, &best, err);
	for (size_t i = 0; !rc && i < best.n; i++)
		rc = hit_get(s, best.v[i].id, best.v[i].score, out, err);
out:
	base_vec_release(&best);
	base_buf_release(&match);
	terms_release(&t);
	return rc;
}

int store__hits_text(struct store *s, struct store_hits *h, size_t from, struct base_err *err)
{
	for (size_t i = from; i < h->n; i++) {
		sqlite3_stmt *st = store__stmt(s, ST_CHUNK_TEXT, err);
		if (!st)
			return err ? err->code : BASE_E_DB;
		sqlite3_bind_int64(st, 1, h->v[i].chunk_id);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			size_t n = (size_t)sqlite3_column_bytes(st, 0);
			char *text = base_trymalloc(n + 1);
			if (!text) {
				sqlite3_reset(st);
				return base_err_set(err, BASE_E_NOMEM, "out of memory reading a chunk");
			}
			if (n)
				memcpy(text, sqlite3_column_blob(st, 0), n);
			text[n] = '\0';
			base_free(h->v[i].text);
			h->v[i].text = text;
			h->v[i].text_len = n;
		}
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return store__db_err(s, rc, err, "read a chunk");
	}
	return BASE_OK;
}

int store_chunks_get(struct store *s, const int64_t *ids, const double *scores, size_t n,
		     const struct store_query *q, struct store_hits *out, struct base_err *err)
{
	for (size_t i = 0; i < n; i++) {
		size_t before = out->n;
		int rc = hit_get(s, ids[i], scores ? scores[i] : 0, out, err);
		if (rc)
			return rc;
		if (q && out->n > before && filter_active(q) &&
		    !file_matches(q, out->v[before].path, out->v[before].lang)) {
			store__hit_free(&out->v[before]);
			out->n = before;
		}
	}
	return BASE_OK;
}

/* ---- a file's chunks ------------------------------------------------- */

int store_file_chunks(struct store *s, const char *path, struct store_hits *out, struct base_err *err)
{
	if (!path)
		return base_err_set(err, BASE_E_API, "store_file_chunks: no path");
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT c.id, f.path, f.lang, c.kind, c.symbol, c.scope, c.start_byte, c.end_byte,"
				    " c.start_line, c.end_line, c.text, f.id FROM files f LEFT JOIN chunks c"
				    " ON c.file_id = f.id WHERE f.path = ?1 ORDER BY c.start_byte, c.id",
				    -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store__db_err(s, rc, err, "read chunks");
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	bool found = false;
	int ret = BASE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		found = true;
		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			continue; /* a file with no chunks */
		struct store_hit h;
		ret = hit_fill(st, &h);
		if (ret) {
			base_err_set(err, ret, "out of memory reading chunks of %s", path);
			break;
		}
		base_vec_push(out, h);
	}
	if (!ret && rc != SQLITE_DONE)
		ret = store__db_err(s, rc, err, "read chunks");
	sqlite3_finalize(st);
	if (!ret && !found)
		ret = base_err_set(err, BASE_E_NOTFOUND, "%s is not in the index", path);
	return ret;
}

/* ---- names ----------------------------------------------------------- */

int store_names_find(struct store *s, const char *name, enum store_name_kind kind, int64_t *ids, size_t max,
		     size_t *n, struct base_err *err)
{
	*n = 0;
	size_t len = name ? strlen(name) : 0;
	if (!len || len > STORE_NAME_MAX || !max)
		return BASE_OK;
	char low[STORE_NAME_MAX];
	base_ascii_lower(name, len, low);
	sqlite3_stmt *st = store__stmt(s, ST_NAME_FIND, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_text(st, 1, low, (int)len, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, (int)kind);
	sqlite3_bind_int64(st, 3, (int64_t)max);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
		ids[(*n)++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return store__db_err(s, rc, err, "look up a name");
	return BASE_OK;
}
