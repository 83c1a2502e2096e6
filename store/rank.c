/*
 * rank.c: lode_rank(), the FTS5 ranking function.
 *
 * FTS5's own bm25() needs token instances, which a contentless
 * detail=column table cannot provide (it would re-tokenize the missing
 * content and score every row 0), and it reads each row's column sizes
 * with a table lookup, which was most of the query time. lode_rank
 * computes BM25 from what is at hand: which columns of the row contain
 * each phrase (term frequency taken as 1), the body's length class from
 * the chunk id (internal.h), and the document frequencies the query
 * builder already looked up:
 *
 *   score = sum over phrases p of idf(p) * (w_head * [p in head]
 *                                          + w_body * [p in body] * norm)
 *   norm   = (k1 + 1) / (1 + k1 * (1 - b + b * len / avglen))
 *   idf(p) = ln(1 + (N - df(p) + 0.5) / (df(p) + 0.5))      (never negative)
 *
 * len is the middle of the body's length class (bytes); the head (path,
 * symbol, scope) is short and not length-normalised.
 *
 * Usage: lode_rank(fts, params) where params is a BLOB of doubles:
 *   N, avglen, w_head, w_body, then df(p) for each phrase of the MATCH
 *   expression in order (negative: the phrase repeats an earlier one and
 *   scores nothing).
 * Higher is better.
 */
#include <string.h>

#include "store/internal.h"

#include "base/banned.h"

#define K1 1.2
#define B 0.75

enum { P_N, P_AVGLEN, P_W_HEAD, P_W_BODY, P__FIXED };

/* Per-query constants, computed on the first row. */
struct rank_ctx {
	int nphrase;
	double w_head;
	double norm[STORE_LEN_CLASSES]; /* w_body * norm for each length class */
	double idf[];
};

static void aux_free(void *p)
{
	base_free(p);
}

/*
 * Natural log of x > 0 without libm (the store links none): x = m * 2^e
 * with m in [1, 2), ln m = 2 atanh((m - 1) / (m + 1)) by its series, which
 * converges fast since the argument is at most 1/3. Precise to ~1e-12.
 */
static double ln(double x)
{
	uint64_t bits;
	memcpy(&bits, &x, sizeof(bits));
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
	double m;
	memcpy(&m, &bits, sizeof(m));
	double z = (m - 1) / (m + 1), z2 = z * z, term = z, sum = 0;
	for (int k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= z2;
	}
	return 2 * sum + e * 0.69314718055994530942;
}

/* The i-th double of the parameter blob, which need not be aligned. */
static double param(const void *blob, int i)
{
	double d;
	memcpy(&d, (const char *)blob + (size_t)i * sizeof(d), sizeof(d));
	return d;
}

static struct rank_ctx *rank_setup(const Fts5ExtensionApi *api, Fts5Context *fts, const void *params,
				   int nparams, int *rc)
{
	int nphrase = api->xPhraseCount(fts);
	if (api->xColumnCount(fts) != 2 || nparams < P__FIXED + nphrase) {
		*rc = SQLITE_ERROR;
		return NULL;
	}
	struct rank_ctx *r = base_malloc(sizeof(*r) + (size_t)nphrase * sizeof(double));
	r->nphrase = nphrase;
	r->w_head = param(params, P_W_HEAD);
	double n = param(params, P_N), avglen = param(params, P_AVGLEN), w_body = param(params, P_W_BODY);
	if (!(avglen >= 1))
		avglen = 1;
	/* Class c holds lengths [2^(c/2), 2^((c+1)/2)): take 2^((c + 0.5) / 2). */
	double len = 1.18920711500272106672; /* 2^(1/4) */
	for (int c = 0; c < STORE_LEN_CLASSES; c++) {
		r->norm[c] = w_body * (K1 + 1) / (1 + K1 * (1 - B + B * len / avglen));
		len *= 1.41421356237309504880;
	}
	for (int p = 0; p < nphrase; p++) {
		double df = param(params, P__FIXED + p);
		if (df < 0) {
			r->idf[p] = 0; /* repeats an earlier phrase */
			continue;
		}
		r->idf[p] = ln(1.0 + (n - df + 0.5) / (df + 0.5));
		if (!(r->idf[p] > 1e-6))
			r->idf[p] = 1e-6;
	}
	*rc = api->xSetAuxdata(fts, r, aux_free);
	return *rc == SQLITE_OK ? r : NULL;
}

static void rank_fn(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int nval,
		    sqlite3_value **vals)
{
	if (nval != 1 || sqlite3_value_type(vals[0]) != SQLITE_BLOB) {
		sqlite3_result_error(ctx, "lode_rank: expected one BLOB of parameters", -1);
		return;
	}
	int rc = SQLITE_OK;
	struct rank_ctx *r = api->xGetAuxdata(fts, 0);
	if (!r)
		r = rank_setup(api, fts, sqlite3_value_blob(vals[0]),
			       sqlite3_value_bytes(vals[0]) / (int)sizeof(double), &rc);
	if (!r) {
		if (rc == SQLITE_OK || rc == SQLITE_ERROR)
			sqlite3_result_error(ctx, "lode_rank: bad parameters", -1);
		else
			sqlite3_result_error_code(ctx, rc);
		return;
	}
	double body = r->norm[api->xRowid(fts) & (STORE_LEN_CLASSES - 1)];
	double score = 0;
	for (int p = 0; p < r->nphrase; p++) {
		if (r->idf[p] == 0)
			continue;
		Fts5PhraseIter it;
		int col = -1;
		rc = api->xPhraseFirstColumn(fts, p, &it, &col);
		for (; rc == SQLITE_OK && col >= 0; api->xPhraseNextColumn(fts, &it, &col))
			score += r->idf[p] * (col == 0 ? r->w_head : body);
		if (rc != SQLITE_OK) {
			sqlite3_result_error_code(ctx, rc);
			return;
		}
	}
	sqlite3_result_double(ctx, score);
}

int store__rank_register(fts5_api *api)
{
	return api->xCreateFunction(api, "lode_rank", NULL, rank_fn, NULL);
}
