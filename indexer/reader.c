/*
 * reader.c: the search entry point (reader.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/embed.h"
#include "indexer/indexer.h"
#include "indexer/query.h"
#include "indexer/reader.h"
#include "indexer/vectors.h"

#include "base/banned.h"

/* Database handles kept open for reuse; more are opened under load. */
#define READER_POOL 16

struct idx_reader {
	char *root;
	char *db_path;
	pthread_mutex_t mu;
	struct store *pool[READER_POOL];
	size_t npool;
	uint64_t (*pending_fn)(void *payload);
	void *pending_payload;
	/* the dense side, opened at the first dense or hybrid search */
	pthread_mutex_t vec_mu;
	bool vec_tried;
	struct embed *emb;
	struct store_vcache *cache;
	struct store_vectors *vectors;
	bool vectors_shared; /* the writer's, not ours to close */
	char vec_error[BASE_ERR_MSG];
	char model[96];
};

static const char *const mode_names[] = {
	[IDX_MODE_HYBRID] = "hybrid",
	[IDX_MODE_LEXICAL] = "lexical",
	[IDX_MODE_DENSE] = "dense",
};

const char *idx_mode_name(enum idx_mode mode)
{
	return (size_t)mode < BASE_ARRAY_LEN(mode_names) ? mode_names[mode] : "unknown";
}

bool idx_mode_parse(const char *name, enum idx_mode *out)
{
	for (size_t i = 0; i < BASE_ARRAY_LEN(mode_names); i++) {
		if (strcmp(name, mode_names[i]) == 0) {
			*out = (enum idx_mode)i;
			return true;
		}
	}
	return false;
}

static const char *const feature_names[IDX_FEAT__COUNT] = {
	"query", "symbol", "path", "aside", "graph", "dense", "filesum",
};

const char *idx_feature_name(unsigned feature)
{
	for (unsigned i = 0; i < IDX_FEAT__COUNT; i++)
		if (feature == 1u << i)
			return feature_names[i];
	return NULL;
}

bool idx_feature_parse(const char *name, unsigned *feature)
{
	for (unsigned i = 0; i < IDX_FEAT__COUNT; i++) {
		if (strcmp(name, feature_names[i]) == 0) {
			*feature = 1u << i;
			return true;
		}
	}
	return false;
}

bool idx_system_parse(const char *spec, enum idx_mode *mode, unsigned *off)
{
	char buf[128];
	if (strlen(spec) >= sizeof(buf))
		return false;
	memcpy(buf, spec, strlen(spec) + 1);
	char *rest = strstr(buf, "-no-");
	if (rest)
		*rest = '\0';
	if (!idx_mode_parse(buf, mode))
		return false;
	*off = 0;
	while (rest) {
		char *name = rest + 4;
		rest = strstr(name, "-no-");
		if (rest)
			*rest = '\0';
		unsigned f;
		if (!idx_feature_parse(name, &f))
			return false;
		*off |= f;
	}
	return true;
}

static struct store *take_store(struct idx_reader *r, struct base_err *err)
{
	pthread_mutex_lock(&r->mu);
	struct store *s = r->npool ? r->pool[--r->npool] : NULL;
	pthread_mutex_unlock(&r->mu);
	return s ? s : store_open(r->db_path, STORE_READ, err);
}

static void give_store(struct idx_reader *r, struct store *s)
{
	pthread_mutex_lock(&r->mu);
	if (r->npool < READER_POOL) {
		r->pool[r->npool++] = s;
		s = NULL;
	}
	pthread_mutex_unlock(&r->mu);
	store_close(s);
}

struct idx_reader *idx_reader_open(const char *root, struct base_err *err)
{
	struct idx_reader *r = base_calloc(1, sizeof(*r));
	r->root = base_strdup(root);
	r->db_path = idx_db_path(root);
	pthread_mutex_init(&r->mu, NULL);
	pthread_mutex_init(&r->vec_mu, NULL);
	/* Open one handle now, so that a missing or damaged index is reported
	 * by open and not by the first search. */
	struct store *s = store_open(r->db_path, STORE_READ, err);
	if (!s) {
		idx_reader_close(r);
		return NULL;
	}
	give_store(r, s);
	return r;
}

void idx_reader_close(struct idx_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->npool; i++)
		store_close(r->pool[i]);
	if (!r->vectors_shared)
		store_vectors_close(r->vectors);
	store_vcache_close(r->cache);
	embed_close(r->emb);
	pthread_mutex_destroy(&r->vec_mu);
	pthread_mutex_destroy(&r->mu);
	base_free(r->db_path);
	base_free(r->root);
	base_free(r);
}

const char *idx_reader_root(const struct idx_reader *r)
{
	return r->root;
}

void idx_reader_set_pending(struct idx_reader *r, uint64_t (*fn)(void *payload), void *payload)
{
	pthread_mutex_lock(&r->mu);
	r->pending_fn = fn;
	r->pending_payload = payload;
	pthread_mutex_unlock(&r->mu);
}

static void answer_fill(struct idx_reader *r, struct store *s, struct idx_answer *ans)
{
	ans->generation = 0;
	ans->head[0] = '\0';
	char *gen = store_meta_get(s, "generation");
	char *head = store_meta_get(s, "head");
	if (gen)
		ans->generation = strtoll(gen, NULL, 10);
	if (head && strlen(head) < sizeof(ans->head))
		memcpy(ans->head, head, strlen(head) + 1);
	base_free(gen);
	base_free(head);
	pthread_mutex_lock(&r->mu);
	ans->pending = r->pending_fn ? r->pending_fn(r->pending_payload) : 0;
	pthread_mutex_unlock(&r->mu);
}

/* store_embed_fn for chunks committed since the vectors were saved. */
static int embed_docs(void *payload, const char *const *texts, const size_t *lens, size_t n, float *out,
		      struct base_err *err)
{
	return embed_texts(payload, EMBED_DOCUMENT, texts, lens, n, out, err);
}

/*
 * The embedder and vectors of the index, loaded once. false (with the
 * reason in r->vec_error) when the index has none.
 */
static bool vectors_ready(struct idx_reader *r, struct store *s)
{
	pthread_mutex_lock(&r->vec_mu);
	if (r->vec_tried) {
		bool ok = r->vectors != NULL;
		pthread_mutex_unlock(&r->vec_mu);
		return ok;
	}
	r->vec_tried = true;
	struct base_err err = { 0, "" };
	struct idx_vec_settings vs;
	idx__vec_settings(s, NULL, &vs);
	if (strcmp(vs.spec, IDX_MODEL_NONE) == 0) {
		snprintf(r->vec_error, sizeof(r->vec_error), "the index was built without vectors (--model none)");
		goto out;
	}
	/* one query at a time: the CPU answers in milliseconds, a GPU would
	 * first need a context (hundreds of ms) and its memory */
	struct embed_options eo = idx__vec_embed_options(&vs);
	eo.device = EMBED_DEVICE_CPU;
	r->emb = embed_open(&eo, &err);
	if (!r->emb)
		goto fail;
	if (!r->vectors) {
		char *dir = idx_dir(r->root);
		r->cache = store_vcache_open(NULL, embed_model_id(r->emb), embed_dim(r->emb), NULL);
		struct store_vectors_options vo = {
			.dir = dir,
			.model_id = embed_model_id(r->emb),
			.dim = embed_dim(r->emb),
			.cache = r->cache,
			.embed = embed_docs,
			.embed_payload = r->emb,
		};
		r->vectors = store_vectors_open(s, &vo, &err);
		base_free(dir);
	}
	if (r->vectors)
		goto out;
fail:
	snprintf(r->vec_error, sizeof(r->vec_error), "%s", err.msg);
	BASE_LOG(BASE_LOG_DEBUG, "no vectors: %s", err.msg);
out:
	idx__vec_settings_release(&vs);
	bool ok = r->vectors != NULL;
	pthread_mutex_unlock(&r->vec_mu);
	return ok;
}

/*
 * Query analysis as weighted terms for the store: every term with its
 * weight (lexical search and the features' words), then the paths and the
 * symbols (they steer the features and the names-table look-ups; their
 * words are among the terms already).
 */
static struct store_qterm *qterms_build(const struct idx_query_info *qi, size_t *n)
{
	size_t cap = qi->terms.n + qi->paths.n + qi->symbols.n;
	struct store_qterm *t = base_calloc(cap ? cap : 1, sizeof(*t));
	size_t k = 0;
	for (size_t i = 0; i < qi->terms.n; i++) {
		const struct idx_query_term *x = &qi->terms.v[i];
		enum store_qterm_kind kind = x->kind == IDX_TERM_MODULE ? STORE_QT_MODULE : STORE_QT_WORD;
		t[k++] = (struct store_qterm){ x->text, x->weight, kind, false };
	}
	for (size_t i = 0; i < qi->paths.n; i++)
		t[k++] = (struct store_qterm){ qi->paths.v[i].path, qi->paths.v[i].weight, STORE_QT_PATH,
					       qi->paths.v[i].library };
	for (size_t i = 0; i < qi->symbols.n; i++)
		t[k++] = (struct store_qterm){ qi->symbols.v[i].name, qi->symbols.v[i].weight, STORE_QT_SYMBOL,
					       qi->symbols.v[i].library };
	*n = k;
	return t;
}

/* The default fusion with the switched-off features zeroed. */
static void fusion_for(unsigned off, struct store_fusion *f)
{
	*f = store_fusion_default;
	if (off & IDX_FEAT_SYMBOL)
		f->w_symbol = f->w_hint_symbol = 0;
	if (off & IDX_FEAT_PATH)
		f->w_path = f->w_hint_path = f->w_dirs = 0;
	if (off & IDX_FEAT_ASIDE)
		f->aside = 1;
	if (off & IDX_FEAT_GRAPH)
		f->w_graph = 0;
	if (off & IDX_FEAT_DENSE)
		f->w_dense = 0;
	if (off & IDX_FEAT_FILESUM)
		f->file_rest = 0;
}

int idx_search(struct idx_reader *r, const struct idx_query *q, struct store_hits *out,
	       struct idx_answer *ans, struct base_err *err)
{
	uint64_t t0 = base_now_ns();
	struct store *s = take_store(r, err);
	if (!s)
		return err ? err->code : BASE_E_IO;
	struct store_query sq = {
		.text = q->text, .text_len = q->len, .k = q->k,
		.langs = q->langs, .nlangs = q->nlangs, .globs = q->globs, .nglobs = q->nglobs,
	};
	size_t k = q->k ? BASE_MIN(q->k, (size_t)1000) : 10;
	enum idx_mode mode = q->mode;
	if (mode != IDX_MODE_LEXICAL && !vectors_ready(r, s)) {
		if (mode == IDX_MODE_DENSE) {
			give_store(r, s);
			return base_err_set(err, BASE_E_UNSUPPORTED, "dense search: %s", r->vec_error);
		}
		mode = IDX_MODE_LEXICAL;
	}
	int rc = BASE_OK;
	float *qvec = NULL;
	if (mode != IDX_MODE_LEXICAL && !(mode == IDX_MODE_HYBRID && (q->off & IDX_FEAT_DENSE))) {
		size_t len = q->len ? q->len : strlen(q->text);
		qvec = base_malloc(embed_dim(r->emb) * sizeof(*qvec));
		rc = embed_texts(r->emb, EMBED_QUERY, &q->text, &len, 1, qvec, err);
	}
	if (rc) {
		/* nothing */
	} else if (mode == IDX_MODE_HYBRID) {
		struct store_fusion fu;
		fusion_for(q->off, &fu);
		struct idx_query_info qi = IDX_QUERY_INFO_INIT;
		struct store_qterm *terms = NULL;
		size_t len = q->len ? q->len : strlen(q->text);
		if (!(q->off & IDX_FEAT_QUERY) &&
		    idx_query_analyze(q->text, BASE_MIN(len, (size_t)IDX_QUERY_MAX), &qi, NULL) == BASE_OK &&
		    qi.terms.n) {
			terms = qterms_build(&qi, &sq.nterms);
			sq.terms = terms;
		}
		/* a second handle lets the dense half run beside the lexical one */
		struct store *s2 = fu.w_dense > 0 ? take_store(r, NULL) : NULL;
		rc = store_search_hybrid(s, s2, r->vectors, &sq, qvec, &fu, q->files, out, err);
		if (s2)
			give_store(r, s2);
		base_free(terms);
		idx_query_info_release(&qi);
	} else {
		size_t first = out->n;
		if (q->files)
			sq.k = BASE_MAX(store_fusion_default.depth, 4 * k);
		rc = mode == IDX_MODE_DENSE ? store_search_dense(s, r->vectors, &sq, qvec, sq.k, out, err)
					    : store_search_lexical(s, &sq, out, err);
		if (!rc && q->files) {
			struct store_hits part = { out->v + first, out->n - first, out->n - first };
			store_hits_by_file(&part, k, NULL);
			out->n = first + part.n;
		}
	}
	base_free(qvec);
	if (!rc && ans) {
		answer_fill(r, s, ans);
		ans->mode = mode;
		ans->took_ms = (double)(base_now_ns() - t0) / 1e6;
	}
	give_store(r, s);
	return rc;
}

void idx_reader_answer(struct idx_reader *r, struct idx_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	struct store *s = take_store(r, NULL);
	if (!s)
		return;
	answer_fill(r, s, ans);
	give_store(r, s);
}

const char *idx_reader_model(struct idx_reader *r)
{
	pthread_mutex_lock(&r->vec_mu);
	if (!r->model[0]) {
		struct store *s = take_store(r, NULL);
		char *m = s ? store_meta_get(s, "vector_model") : NULL;
		snprintf(r->model, sizeof(r->model), "%s", m ? m : "none");
		base_free(m);
		if (s)
			give_store(r, s);
	}
	pthread_mutex_unlock(&r->vec_mu);
	return r->model;
}

void idx_reader_share_vectors(struct idx_reader *r, struct store_vectors *v)
{
	pthread_mutex_lock(&r->vec_mu);
	r->vectors = v;
	r->vectors_shared = v != NULL;
	pthread_mutex_unlock(&r->vec_mu);
}

int idx_reader_file_chunks(struct idx_reader *r, const char *path, struct store_hits *out,
			   struct base_err *err)
{
	struct store *s = take_store(r, err);
	if (!s)
		return err ? err->code : BASE_E_IO;
	int rc = store_file_chunks(s, path, out, err);
	give_store(r, s);
	return rc;
}

int idx_reader_stats(struct idx_reader *r, struct store_stats *out, struct base_err *err)
{
	struct store *s = take_store(r, err);
	if (!s)
		return err ? err->code : BASE_E_IO;
	int rc = store_stats(s, out, err);
	give_store(r, s);
	return rc;
}
