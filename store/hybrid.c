/*
 * hybrid.c: dense search and the fusion of lexical and dense results
 * (store.h, "Hybrid search").
 *
 * Fusion is reciprocal-rank fusion (Cormack, Clarke and Buettcher, SIGIR
 * 2009): a chunk scores w / (K + rank) in each list it appears in. Ranks,
 * not scores, so BM25 and cosine need no calibration against each other.
 * Then light features that matter for code, in the same units (a feature
 * worth f counts as much as being ranked 1/f-th... see feature_bonus):
 *
 *   symbol   the chunk defines a name the query mentions ("parse_header"),
 *            more when it is a frame's function or a qualified name's last part
 *   path     the query names the chunk's file (its stem, "http" in net/http.c;
 *            more for a path written in the query, "net/http.c" or a frame's
 *            absolute path ending in it), and its directories
 *   graph    the names table (store.h, "Names") says the chunk defines a name
 *            the query stresses (a frame's function, a qualified name, a
 *            project's error class: weight >= STORE_GRAPH_MIN_WEIGHT): such
 *            chunks join the candidates even when BM25 and the vectors missed
 *            them
 *   aside    tests, docs, changelogs, vendored code are set aside unless the
 *            query asks for them or names the file
 *
 * With weighted terms (store_query.terms, from query analysis) the features
 * read the terms, so boilerplate the analysis dropped counts for nothing.
 * With --files, chunks are grouped by file: a file scores its best chunk
 * plus a bounded share of the others, so a file with many weak hits does
 * not beat one with a strong hit.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/internal.h"

#include "base/banned.h"

const struct store_fusion store_fusion_default = {
	.w_lexical = 1.0,
	.w_dense = 1.0,
	.rrf_k = 60,
	.depth = 100,
	.w_symbol = 0.5,
	.w_path = 0.3,
	.file_rest = 0.25,
	.aside = 0.5,
	.w_hint_symbol = 0.5,
	.w_hint_path = 1.0,
	.w_dirs = 0.1,
	.w_graph = 0.5,
};

/* Candidates fetched from the vector index per wanted result: chunks deleted
 * since the last save and chunks the filters drop are skipped. */
#define DENSE_OVERFETCH 2

int store_search_dense(struct store *s, struct store_vectors *v, const struct store_query *q, const float *qvec,
		       size_t k, struct store_hits *out, struct base_err *err)
{
	size_t want = k * DENSE_OVERFETCH + 16;
	if (q && (q->nlangs || q->nglobs))
		want = k * 8 + 64;
	int64_t *ids = base_malloc(want * sizeof(*ids));
	float *scores = base_malloc(want * sizeof(*scores));
	double *dscores = base_malloc(want * sizeof(*dscores));
	size_t n = 0;
	int rc = store_vectors_search(v, qvec, want, ids, scores, &n, err);
	for (size_t i = 0; i < n; i++)
		dscores[i] = scores[i];
	size_t before = out->n;
	if (!rc)
		rc = store_chunks_get(s, ids, dscores, n, q, out, err);
	while (!rc && out->n > before + k)
		store__hit_free(&out->v[--out->n]);
	base_free(ids);
	base_free(scores);
	base_free(dscores);
	return rc;
}

/* ---- query words, for the features ----------------------------------- */

struct qwords {
	char **v;
	size_t n, cap;
};

static void qwords_add(struct qwords *qw, const char *s, size_t n)
{
	if (n < 3 || n > 64)
		return;
	char *low = base_malloc(n + 1);
	base_ascii_lower(s, n, low);
	low[n] = '\0';
	for (size_t i = 0; i < qw->n; i++) {
		if (strcmp(qw->v[i], low) == 0) {
			base_free(low);
			return;
		}
	}
	base_vec_push(qw, low);
}

static void qwords_build(struct qwords *qw, const char *text, size_t len)
{
	size_t pos = 0;
	struct base_span w;
	while (base_word_next(text, len, &pos, &w) && qw->n < 256)
		qwords_add(qw, text + w.off, w.len);
}

static bool qwords_has(const struct qwords *qw, const char *s, size_t n)
{
	char low[65];
	if (n < 3 || n > 64)
		return false;
	base_ascii_lower(s, n, low);
	low[n] = '\0';
	for (size_t i = 0; i < qw->n; i++)
		if (strcmp(qw->v[i], low) == 0)
			return true;
	return false;
}

static void qwords_release(struct qwords *qw)
{
	for (size_t i = 0; i < qw->n; i++)
		base_free(qw->v[i]);
	base_free(qw->v);
}

/* What the features read of a query. */
struct qinfo {
	struct qwords words; /* every word */
	struct qwords syms;  /* names of frames' functions, qualified names' last parts, names in code */
	struct qwords heavy; /* those of them that the names table is asked about */
	struct qwords mods;  /* module and package names */
	BASE_VEC(char *) paths; /* paths as written, lower-cased, without a leading "./" */
};

#define QPATHS_MAX 32

static void qinfo_build(struct qinfo *qi, const struct store_query *q)
{
	memset(qi, 0, sizeof(*qi));
	if (!q->nterms) {
		size_t qlen = q->text_len ? q->text_len : (q->text ? strlen(q->text) : 0);
		qwords_build(&qi->words, q->text ? q->text : "", BASE_MIN(qlen, BASE_CAP_QUERY));
		return;
	}
	for (size_t i = 0; i < q->nterms; i++) {
		const struct store_qterm *t = &q->terms[i];
		if (!t->text)
			continue;
		size_t n = strlen(t->text);
		if (t->library)
			continue; /* a library frame's path or function says nothing about the project's files */
		qwords_build(&qi->words, t->text, n);
		if (t->kind == STORE_QT_SYMBOL) {
			qwords_add(&qi->syms, t->text, n);
			if (t->weight >= STORE_GRAPH_MIN_WEIGHT)
				qwords_add(&qi->heavy, t->text, n);
		}
		else if (t->kind == STORE_QT_MODULE)
			qwords_add(&qi->mods, t->text, n);
		else if (t->kind == STORE_QT_PATH && qi->paths.n < QPATHS_MAX && n && n < 512) {
			const char *p = t->text;
			while (p[0] == '.' && p[1] == '/')
				p += 2;
			size_t pn = strlen(p);
			char *low = base_malloc(pn + 1);
			base_ascii_lower(p, pn, low);
			low[pn] = '\0';
			base_vec_push(&qi->paths, low);
		}
	}
}

static void qinfo_release(struct qinfo *qi)
{
	qwords_release(&qi->words);
	qwords_release(&qi->syms);
	qwords_release(&qi->heavy);
	qwords_release(&qi->mods);
	for (size_t i = 0; i < qi->paths.n; i++)
		base_free(qi->paths.v[i]);
	base_vec_release(&qi->paths);
}

/* a ends with b, and b starts a or follows a '/' in it (case-insensitive; b lower-case) */
static bool path_suffix(const char *a, size_t an, const char *b, size_t bn)
{
	if (!bn || bn > an)
		return false;
	const char *t = a + an - bn;
	for (size_t i = 0; i < bn; i++)
		if ((char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] | 0x20 : t[i]) != b[i])
			return false;
	return t == a || t[-1] == '/';
}

/* Does the query write out this file's path (or a path ending in it, or one it ends with)? */
static bool path_named(const struct qinfo *qi, const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < qi->paths.n; i++) {
		const char *h = qi->paths.v[i];
		size_t hn = strlen(h);
		char low[1024];
		if (n >= sizeof(low))
			continue;
		base_ascii_lower(path, n, low);
		low[n] = '\0';
		/* the query's path ends with the file's ("/home/u/proj/pkg/x.py"), or the file's with the query's */
		if (path_suffix(h, hn, low, n) || path_suffix(path, n, h, hn))
			return true;
	}
	return false;
}

/* A part of a compound stem ("types" of default_types, "adapters" of TypeAdapters) is a query word. */
static bool stem_part_named(const struct qinfo *qi, const char *stem, size_t n)
{
	struct base_span parts[16];
	size_t np = base_word_parts(stem, n, parts, BASE_ARRAY_LEN(parts));
	for (size_t i = 0; np > 1 && i < np && i < BASE_ARRAY_LEN(parts); i++)
		if (qwords_has(&qi->words, stem + parts[i].off, parts[i].len))
			return true;
	return false;
}

/* Directories of the path the query names as modules or words, at most 2. */
static int dirs_named(const struct qinfo *qi, const char *path)
{
	int hits = 0;
	const char *p = path;
	for (const char *slash; hits < 2 && (slash = strchr(p, '/')) != NULL; p = slash + 1) {
		size_t n = (size_t)(slash - p);
		if (qwords_has(&qi->mods, p, n) || qwords_has(&qi->syms, p, n))
			hits++;
	}
	return hits;
}

/* The file name without directories and extension. */
static void path_stem(const char *path, const char **stem, size_t *n)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	const char *dot = strchr(base, '.');
	*stem = base;
	*n = dot && dot > base ? (size_t)(dot - base) : strlen(base);
}

/* The last name of a symbol: "Store::get" -> "get". */
static void symbol_name(const char *sym, const char **name, size_t *n)
{
	size_t len = strlen(sym), end = len;
	while (end && !base_is_word_byte((unsigned char)sym[end - 1]))
		end--;
	size_t start = end;
	while (start && base_is_word_byte((unsigned char)sym[start - 1]))
		start--;
	*name = sym + start;
	*n = end - start;
}

/*
 * Files that are rarely where a change belongs: tests, documentation,
 * changelogs, CI and editor configuration (dot directories: .github holds
 * issue templates, which every bug report quotes), vendored code.
 */
static const char *const aside_dirs[] = {
	"test", "tests", "testing", "spec", "specs", "__tests__", "docs", "doc", "documentation",
	"examples", "example", "vendor", "third_party", "thirdparty", "node_modules", "benchmarks",
};

static const char *const aside_names[] = { "changelog", "changes", "news", "history", "authors",
					   "contributing", "readme", "conftest." };

static const char *const aside_exts[] = { ".md", ".rst", ".txt", ".adoc" };

static bool ieq_prefix(const char *s, size_t n, const char *prefix)
{
	size_t pn = strlen(prefix);
	if (n < pn)
		return false;
	for (size_t i = 0; i < pn; i++)
		if ((s[i] | 0x20) != prefix[i] && s[i] != prefix[i])
			return false;
	return true;
}

static bool name_aside(const char *p)
{
	size_t n = strlen(p);
	if (strncmp(p, "test_", 5) == 0 || strstr(p, "_test.") || strstr(p, ".test.") || strstr(p, ".spec."))
		return true;
	for (size_t i = 0; i < BASE_ARRAY_LEN(aside_names); i++)
		if (ieq_prefix(p, n, aside_names[i]))
			return true;
	const char *dot = strrchr(p, '.');
	for (size_t i = 0; dot && i < BASE_ARRAY_LEN(aside_exts); i++)
		if (ieq_prefix(dot, strlen(dot), aside_exts[i]) && strlen(dot) == strlen(aside_exts[i]))
			return true;
	return false;
}

static bool path_aside(const char *path)
{
	const char *p = path;
	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash)
			return name_aside(p);
		size_t n = (size_t)(slash - p);
		if (n > 1 && p[0] == '.')
			return true;
		for (size_t i = 0; i < BASE_ARRAY_LEN(aside_dirs); i++)
			if (strlen(aside_dirs[i]) == n && ieq_prefix(p, n, aside_dirs[i]))
				return true;
		p = slash + 1;
	}
}

/* Does the query ask for tests or docs itself? Then nothing is set aside. */
static bool query_wants_aside(const struct qwords *qw)
{
	static const char *const words[] = { "test", "tests", "testing", "unittest", "pytest", "doc", "docs",
					     "documentation", "changelog", "example", "examples", "readme" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(words); i++)
		if (qwords_has(qw, words[i], strlen(words[i])))
			return true;
	return false;
}

/* The chunk's features; *sym_hit says whether its own symbol matched a query symbol. */
static double feature_bonus(const struct store_fusion *f, const struct qinfo *qi, const struct store_hit *h,
			    bool named, bool *sym_hit)
{
	double unit = 1.0 / (f->rrf_k + 1);
	double b = 0;
	const char *name;
	size_t n;
	symbol_name(h->symbol, &name, &n);
	*sym_hit = false;
	if (n && qwords_has(&qi->words, name, n))
		b += f->w_symbol * unit;
	if (n && qwords_has(&qi->syms, name, n)) {
		b += f->w_hint_symbol * unit;
		*sym_hit = true;
	}
	path_stem(h->path, &name, &n);
	if (n && qwords_has(&qi->words, name, n))
		b += f->w_path * unit;
	else if (n && stem_part_named(qi, name, n))
		b += 0.5 * f->w_path * unit;
	if (named)
		b += f->w_hint_path * unit;
	b += f->w_dirs * unit * dirs_named(qi, h->path);
	return b;
}

/* ---- fusion ---------------------------------------------------------- */

struct cand {
	struct store_hit hit;
	double score;
	bool graph; /* the names table says it defines a query symbol */
};

static int by_score(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	return a->hit.chunk_id < b->hit.chunk_id ? -1 : a->hit.chunk_id > b->hit.chunk_id;
}

static int by_path_score(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	int c = strcmp(a->hit.path, b->hit.path);
	return c ? c : by_score(pa, pb);
}

/* Add list `l` (best first) to the candidates with weight w. */
static void fuse_list(struct cand **cv, size_t *cn, struct store_hits *l, double w, const struct store_fusion *f)
{
	for (size_t i = 0; i < l->n; i++) {
		double add = w / (f->rrf_k + (double)i + 1);
		size_t j;
		for (j = 0; j < *cn; j++)
			if ((*cv)[j].hit.chunk_id == l->v[i].chunk_id)
				break;
		if (j < *cn) {
			(*cv)[j].score += add;
			store__hit_free(&l->v[i]);
			continue;
		}
		(*cv)[*cn].hit = l->v[i];
		(*cv)[*cn].score = add;
		(*cv)[*cn].graph = false;
		(*cn)++;
	}
	l->n = 0;
}

#define GRAPH_NAMES 24   /* query symbols looked up */
#define GRAPH_PER_NAME 8 /* a name defined in more chunks than this is too common to say much */

/*
 * Mark the candidates that define a query symbol (names table), and add
 * those that define one but are not candidates yet (score 0: only their
 * features rank them). *cv grows as needed.
 */
static int graph_expand(struct store *s, const struct store_query *q, const struct qinfo *qi, struct cand **cv,
			size_t *cn, struct base_err *err)
{
	int64_t ids[GRAPH_PER_NAME + 1];
	BASE_VEC(int64_t) fresh = BASE_VEC_INIT;
	int rc = BASE_OK;
	for (size_t i = 0; !rc && i < qi->heavy.n && i < GRAPH_NAMES; i++) {
		size_t n = 0;
		rc = store_names_find(s, qi->heavy.v[i], STORE_NAME_DEF, ids, GRAPH_PER_NAME + 1, &n, err);
		if (rc || n > GRAPH_PER_NAME)
			continue;
		for (size_t k = 0; k < n; k++) {
			size_t j;
			for (j = 0; j < *cn; j++)
				if ((*cv)[j].hit.chunk_id == ids[k])
					break;
			if (j < *cn) {
				(*cv)[j].graph = true;
				continue;
			}
			size_t m;
			for (m = 0; m < fresh.n; m++)
				if (fresh.v[m] == ids[k])
					break;
			if (m == fresh.n)
				base_vec_push(&fresh, ids[k]);
		}
	}
	if (!rc && fresh.n) {
		struct store_hits got = STORE_HITS_INIT;
		s->no_text = true;
		rc = store_chunks_get(s, fresh.v, NULL, fresh.n, q, &got, err);
		s->no_text = false;
		if (!rc && got.n) {
			*cv = base_realloc(*cv, (*cn + got.n) * sizeof(**cv));
			for (size_t i = 0; i < got.n; i++) {
				(*cv)[*cn].hit = got.v[i];
				(*cv)[*cn].score = 0;
				(*cv)[*cn].graph = true;
				(*cn)++;
			}
			got.n = 0;
		}
		store_hits_release(&got);
	}
	base_vec_release(&fresh);
	return rc;
}

/* One candidate per file: the best chunk, scored max + a bounded share of the rest. */
static size_t group_files(struct cand *cv, size_t n, const struct store_fusion *f)
{
	qsort(cv, n, sizeof(*cv), by_path_score);
	size_t out = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		double rest = 0;
		while (j < n && strcmp(cv[j].hit.path, cv[i].hit.path) == 0) {
			rest += cv[j].score;
			store__hit_free(&cv[j].hit);
			j++;
		}
		struct cand best = cv[i];
		best.score += f->file_rest * BASE_MIN(rest, best.score);
		cv[out++] = best;
		i = j;
	}
	return out;
}

int store_hits_by_file(struct store_hits *h, size_t k, const struct store_fusion *f)
{
	if (!f)
		f = &store_fusion_default;
	struct cand *cv = base_malloc((h->n ? h->n : 1) * sizeof(*cv));
	size_t cn = h->n;
	for (size_t i = 0; i < cn; i++) {
		cv[i].hit = h->v[i];
		cv[i].score = h->v[i].score;
	}
	h->n = 0;
	cn = group_files(cv, cn, f);
	qsort(cv, cn, sizeof(*cv), by_score);
	for (size_t i = 0; i < cn; i++) {
		if (i < k) {
			cv[i].hit.score = cv[i].score;
			h->v[h->n++] = cv[i].hit;
		} else {
			store__hit_free(&cv[i].hit);
		}
	}
	base_free(cv);
	return BASE_OK;
}

/* The dense half of a hybrid search, on a thread of its own. */
struct dense_job {
	struct store *s;
	struct store_vectors *v;
	const struct store_query *q;
	const float *qvec;
	size_t depth;
	struct store_hits hits;
	int rc;
	struct base_err err;
};

static void *dense_run(void *arg)
{
	struct dense_job *j = arg;
	j->s->no_text = true;
	j->rc = store_search_dense(j->s, j->v, j->q, j->qvec, j->depth, &j->hits, &j->err);
	j->s->no_text = false;
	return NULL;
}

int store_search_hybrid(struct store *s, struct store *s2, struct store_vectors *v, const struct store_query *q,
			const float *qvec, const struct store_fusion *f, bool files, struct store_hits *out,
			struct base_err *err)
{
	if (!f)
		f = &store_fusion_default;
	size_t k = q->k ? BASE_MIN(q->k, (size_t)1000) : 10;
	size_t depth = BASE_MAX(f->depth, files ? 4 * k : k);
	struct store_query lq = *q;
	lq.k = depth;
	struct store_hits lex = STORE_HITS_INIT, dense = STORE_HITS_INIT;
	bool want_dense = v && qvec && f->w_dense > 0;
	/* with a second handle, the two halves run at once */
	struct dense_job job = { s2, v, q, qvec, depth, STORE_HITS_INIT, BASE_OK, { 0, "" } };
	pthread_t t;
	bool threaded = want_dense && s2 && pthread_create(&t, NULL, dense_run, &job) == 0;
	/* candidates without their text: only the winners' is read */
	s->no_text = true;
	int rc = store_search_lexical(s, &lq, &lex, err);
	if (!rc && want_dense && !threaded)
		rc = store_search_dense(s, v, q, qvec, depth, &dense, err);
	s->no_text = false;
	if (threaded) {
		pthread_join(t, NULL);
		dense = job.hits;
		if (!rc && job.rc) {
			rc = job.rc;
			if (err)
				*err = job.err;
		}
	}
	if (rc) {
		store_hits_release(&lex);
		store_hits_release(&dense);
		return rc;
	}
	size_t cap = lex.n + dense.n;
	struct cand *cv = base_malloc((cap ? cap : 1) * sizeof(*cv));
	size_t cn = 0;
	fuse_list(&cv, &cn, &lex, f->w_lexical, f);
	fuse_list(&cv, &cn, &dense, f->w_dense, f);
	store_hits_release(&lex);
	store_hits_release(&dense);

	struct qinfo qi;
	qinfo_build(&qi, q);
	if (f->w_graph > 0 && qi.heavy.n)
		rc = graph_expand(s, q, &qi, &cv, &cn, err);
	if (rc) {
		for (size_t i = 0; i < cn; i++)
			store__hit_free(&cv[i].hit);
		base_free(cv);
		qinfo_release(&qi);
		return rc;
	}
	bool aside_ok = query_wants_aside(&qi.words);
	double unit = 1.0 / (f->rrf_k + 1);
	for (size_t i = 0; i < cn; i++) {
		bool sym_hit = false, named = qi.paths.n && path_named(&qi, cv[i].hit.path);
		cv[i].score += feature_bonus(f, &qi, &cv[i].hit, named, &sym_hit);
		if (cv[i].graph && !sym_hit)
			cv[i].score += f->w_graph * unit;
		if (!aside_ok && !named && path_aside(cv[i].hit.path))
			cv[i].score *= f->aside;
	}
	qinfo_release(&qi);

	if (files)
		cn = group_files(cv, cn, f);
	qsort(cv, cn, sizeof(*cv), by_score);
	size_t first = out->n;
	for (size_t i = 0; i < cn; i++) {
		if (i < k) {
			cv[i].hit.score = cv[i].score;
			base_vec_push(out, cv[i].hit);
		} else {
			store__hit_free(&cv[i].hit);
		}
	}
	base_free(cv);
	return store__hits_text(s, out, first, err);
}
