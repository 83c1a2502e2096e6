/*
 * vectors.c: the FAISS index of one lode index, kept equal to SQLite
 * (store.h, "Vectors").
 *
 * Files: <dir>/vectors.<seq>.faiss, written by store_vindex_save (temp
 * file, fsync, rename). <seq> is the chunk sequence number at the save:
 * every chunk id below seq << STORE_ID_SHIFT committed before it. Older
 * files are removed after a save; should a crash leave two, the newest
 * wins.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/internal.h"
#include "store/vindex.h"

#include "base/banned.h"

/* Chunks read, looked up and embedded per round when (re)building. */
#define FILL_BATCH 1024
/* An IVF index is retrained once it holds this many times its training size. */
#define RETRAIN_GROWTH 4
/* Vectors sampled to train IVF: 78 a list at 256 lists. */
#define TRAIN_SAMPLE 20000
/* FAISS's advice: at least this many training vectors per IVF list. */
#define TRAIN_PER_LIST 39

struct store_vectors {
	struct store_vindex *vi;
	pthread_rwlock_t lock;
	char *dir;
	char *model;
	char factory[64];   /* configured: "auto" or a FAISS factory string */
	char built[64];     /* the factory string of vi */
	unsigned dim;
	int64_t saved_seq;  /* seq of the file vi was loaded from or saved to */
	uint64_t trained_at; /* vectors when an IVF index was trained */
	bool dirty;
	bool stale;         /* a commit could not update vi: reconcile */
	bool writer;
	struct store_vcache *cache;
	store_embed_fn *embed;
	void *embed_payload;
	struct store_vectors_stats stats;
	/* the writer's open transaction */
	BASE_VEC(int64_t) add_ids;
	BASE_VEC(float) add_vecs;
	BASE_VEC(int64_t) del_ids;
	/* a bulk load into an untrained index: committed vectors wait here
	 * until there are enough to train on (store_vectors_bulk) */
	bool training;
	bool bulk;              /* a bulk load runs: no rebuild until its save */
	uint64_t bulk_expected;
	BASE_VEC(int64_t) train_ids;
	BASE_VEC(float) train_vecs;
};

/* ---- files ----------------------------------------------------------- */

/* The newest vectors.<seq>.faiss in dir: its seq, or -1. */
static int64_t newest_file(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int64_t best = -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		long long seq;
		char tail[8];
		if (sscanf(e->d_name, "vectors.%lld.%7s", &seq, tail) == 2 && strcmp(tail, "faiss") == 0 && seq > best)
			best = seq;
	}
	closedir(d);
	return best;
}

static char *file_path(const char *dir, int64_t seq)
{
	return base_strfmt("%s/vectors.%" PRId64 ".faiss", dir, seq);
}

/* Remove every vectors.*.faiss but the one of `keep`. */
static void remove_old(const char *dir, int64_t keep)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		long long seq;
		char tail[8];
		if (sscanf(e->d_name, "vectors.%lld.%7s", &seq, tail) == 2 && strcmp(tail, "faiss") == 0 && seq != keep) {
			char *p = base_strfmt("%s/%s", dir, e->d_name);
			unlink(p);
			base_free(p);
		}
	}
	closedir(d);
}

void store_vectors_remove_files(const char *dir)
{
	remove_old(dir, -1);
}

/* ---- vectors from the cache or the embedder -------------------------- */

struct fill {
	int64_t *ids;
	uint8_t *hashes;
	float *vecs;
	bool *found;
	size_t n;
};

static void fill_init(struct fill *f, unsigned dim)
{
	f->ids = base_malloc(FILL_BATCH * sizeof(*f->ids));
	f->hashes = base_malloc(FILL_BATCH * STORE_HASH_BYTES);
	f->vecs = base_malloc((size_t)FILL_BATCH * dim * sizeof(*f->vecs));
	f->found = base_malloc(FILL_BATCH * sizeof(*f->found));
	f->n = 0;
}

static void fill_release(struct fill *f)
{
	base_free(f->ids);
	base_free(f->hashes);
	base_free(f->vecs);
	base_free(f->found);
}

/* Vectors for the batch in f: from the cache, else embedded from the text. */
static int fill_vectors(struct store_vectors *v, struct store *s, struct fill *f, struct base_err *err)
{
	int rc = BASE_OK;
	for (size_t i = 0; i < f->n; i++)
		f->found[i] = false;
	if (v->cache)
		rc = store_vcache_get(v->cache, f->hashes, f->n, f->vecs, f->found, err);
	sqlite3_stmt *st = NULL;
	for (size_t i = 0; !rc && i < f->n; i++) {
		if (f->found[i])
			continue;
		if (!v->embed)
			return base_err_set(err, BASE_E_NOTFOUND, "vectors of %s are not cached and no embedder is open",
					    s->path);
		if (!st && sqlite3_prepare_v2(s->db, "SELECT text FROM chunks WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
			return store__db_err(s, sqlite3_errcode(s->db), err, "read chunk text");
		sqlite3_bind_int64(st, 1, f->ids[i]);
		int src = sqlite3_step(st);
		const char *text = src == SQLITE_ROW ? sqlite3_column_blob(st, 0) : NULL;
		size_t len = src == SQLITE_ROW ? (size_t)sqlite3_column_bytes(st, 0) : 0;
		float *out = f->vecs + i * v->dim;
		rc = v->embed(v->embed_payload, (const char *const *)&text, &len, 1, out, err);
		sqlite3_reset(st);
		if (rc)
			break;
		store_vec_round(out, v->dim);
		v->stats.embedded++;
		if (v->cache)
			store_vcache_put(v->cache, f->hashes + i * STORE_HASH_BYTES, out, 1, NULL);
	}
	sqlite3_finalize(st);
	return rc;
}

typedef int batch_fn(struct store_vectors *v, void *payload, struct fill *f, struct base_err *err);

/*
 * Every chunk with id >= lo (and, when `keep` is given, for which keep says
 * so), with its vector, FILL_BATCH at a time in id order.
 */
static int each_chunk(struct store_vectors *v, struct store *s, int64_t lo, bool (*keep)(void *, int64_t),
		      batch_fn *fn, void *payload, struct base_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT id, hash FROM chunks WHERE id >= ?1 ORDER BY id", -1, &st, NULL) !=
	    SQLITE_OK)
		return store__db_err(s, sqlite3_errcode(s->db), err, "list chunks");
	sqlite3_bind_int64(st, 1, lo);
	struct fill f;
	fill_init(&f, v->dim);
	int rc = BASE_OK, step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW || (step == SQLITE_DONE && f.n)) {
		if (step == SQLITE_ROW) {
			int64_t id = sqlite3_column_int64(st, 0);
			if (keep && !keep(payload, id))
				continue;
			f.ids[f.n] = id;
			memset(f.hashes + f.n * STORE_HASH_BYTES, 0, STORE_HASH_BYTES);
			if (sqlite3_column_bytes(st, 1) == STORE_HASH_BYTES)
				memcpy(f.hashes + f.n * STORE_HASH_BYTES, sqlite3_column_blob(st, 1), STORE_HASH_BYTES);
			if (++f.n < FILL_BATCH)
				continue;
		}
		rc = fill_vectors(v, s, &f, err);
		if (!rc)
			rc = fn(v, payload, &f, err);
		f.n = 0;
		if (rc || step == SQLITE_DONE)
			break;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store__db_err(s, step, err, "list chunks");
	sqlite3_finalize(st);
	fill_release(&f);
	return rc;
}

/* Where each_chunk's vectors go, and which ids it takes (all: keep == NULL). */
struct add_ctx {
	struct store_vindex *vi; /* the caller holds the write lock if it is live */
	const int64_t *keep;     /* sorted */
	size_t nkeep;
};

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static bool add_keep(void *payload, int64_t id)
{
	const struct add_ctx *c = payload;
	return bsearch(&id, c->keep, c->nkeep, sizeof(*c->keep), cmp_id) != NULL;
}

static int add_batch(struct store_vectors *v, void *payload, struct fill *f, struct base_err *err)
{
	struct add_ctx *c = payload;
	v->dirty = true;
	v->stats.added += f->n;
	return store_vindex_add(c->vi, f->ids, f->vecs, f->n, err);
}

/* ---- building -------------------------------------------------------- */

static int64_t chunk_count(struct store *s)
{
	sqlite3_stmt *st = NULL;
	int64_t n = 0;
	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM chunks", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* The factory string for n vectors. */
static void target_factory(const struct store_vectors *v, uint64_t n, char *out, size_t cap)
{
	if (strcmp(v->factory, "auto") != 0)
		snprintf(out, cap, "%s", v->factory);
	else
		store_vindex_auto_factory(n, v->dim, out, cap);
}

/* Every stride-th chunk's vector, for training. */
struct sample {
	uint64_t stride, seen;
	BASE_VEC(float) vecs;
};

static int sample_batch(struct store_vectors *v, void *payload, struct fill *f, struct base_err *err)
{
	(void)err;
	struct sample *sm = payload;
	for (size_t i = 0; i < f->n; i++) {
		base_vec_reserve(&sm->vecs, sm->vecs.n + v->dim);
		memcpy(sm->vecs.v + sm->vecs.n, f->vecs + i * v->dim, v->dim * sizeof(float));
		sm->vecs.n += v->dim;
	}
	return BASE_OK;
}

/* Sample cheaply: look chunks up but do not embed what the cache lacks. */
static bool sample_keep(void *payload, int64_t id)
{
	(void)id;
	struct sample *sm = payload;
	return sm->seen++ % sm->stride == 0;
}

/*
 * A new, empty index of the right type for n vectors, trained when it
 * needs it on a sample of the chunks.
 */
static int build_empty(struct store_vectors *v, struct store *s, uint64_t n, struct store_vindex **out,
		       char *built, size_t cap, struct base_err *err)
{
	target_factory(v, n, built, cap);
	struct store_vindex *vi = store_vindex_new(v->dim, built, err);
	if (!vi)
		return err ? err->code : BASE_E_INVAL;
	int rc = BASE_OK;
	if (store_vindex_needs_training(vi) && n == 0) {
		/* nothing to train on yet: the first vectors committed will be */
		v->training = true;
		v->bulk_expected = 0;
	} else if (store_vindex_needs_training(vi)) {
		struct sample sm = { 0 };
		sm.stride = n > TRAIN_SAMPLE ? n / TRAIN_SAMPLE : 1;
		/* sample_keep picks the rows, sample_batch takes what it picked */
		rc = each_chunk(v, s, 0, sample_keep, sample_batch, &sm, err);
		size_t ns = sm.vecs.n / v->dim;
		if (!rc && ns == 0)
			rc = base_err_set(err, BASE_E_INVAL, "no vectors to train %s on", built);
		if (!rc)
			rc = store_vindex_train(vi, sm.vecs.v, ns, err);
		base_vec_release(&sm.vecs);
		v->trained_at = n;
	}
	if (rc) {
		store_vindex_free(vi);
		return rc;
	}
	*out = vi;
	return BASE_OK;
}

/* Replace the index with a freshly built one holding every chunk. */
static int rebuild(struct store_vectors *v, struct store *s, struct base_err *err)
{
	uint64_t n = (uint64_t)chunk_count(s);
	struct store_vindex *vi = NULL;
	char built[sizeof(v->built)];
	int rc = build_empty(v, s, n, &vi, built, sizeof(built), err);
	if (rc)
		return rc;
	struct add_ctx ctx = { vi, NULL, 0 };
	rc = each_chunk(v, s, 0, NULL, add_batch, &ctx, err);
	if (rc) {
		store_vindex_free(vi);
		return rc;
	}
	pthread_rwlock_wrlock(&v->lock);
	struct store_vindex *old = v->vi;
	v->vi = vi;
	memcpy(v->built, built, sizeof(built));
	v->dirty = true;
	pthread_rwlock_unlock(&v->lock);
	store_vindex_free(old);
	return BASE_OK;
}

/* ---- reconciling with SQLite ------------------------------------------ */

struct id_vec {
	int64_t *v;
	size_t n, cap;
};

/* Every chunk id, in order. */
static int chunk_ids(struct store *s, struct id_vec *out, struct base_err *err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, "SELECT id FROM chunks ORDER BY id", -1, &st, NULL) != SQLITE_OK)
		return store__db_err(s, sqlite3_errcode(s->db), err, "list chunks");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		base_vec_push(out, sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? BASE_OK : store__db_err(s, rc, err, "list chunks");
}

/*
 * Make the index hold exactly the chunks SQLite holds: remove ids SQLite
 * no longer has, add the missing ones. Writer only (full scan).
 */
static int reconcile(struct store_vectors *v, struct store *s, struct base_err *err)
{
	struct id_vec live = BASE_VEC_INIT, extra = BASE_VEC_INIT, missing = BASE_VEC_INIT;
	int64_t *have = NULL;
	size_t nhave = 0;
	int rc = chunk_ids(s, &live, err);
	if (!rc)
		rc = store_vindex_ids(v->vi, &have, &nhave, err);
	if (rc)
		goto out;
	qsort(have, nhave, sizeof(*have), cmp_id);
	/* merge the two sorted lists */
	size_t i = 0, j = 0;
	while (i < nhave || j < live.n) {
		if (j == live.n || (i < nhave && have[i] < live.v[j])) {
			base_vec_push(&extra, have[i++]);
		} else if (i == nhave || live.v[j] < have[i]) {
			base_vec_push(&missing, live.v[j++]);
		} else {
			i++;
			j++;
		}
	}
	if (extra.n) {
		size_t removed = 0;
		rc = store_vindex_remove(v->vi, extra.v, extra.n, &removed, err);
		v->stats.removed += removed;
		v->dirty = true;
	}
	if (!rc && missing.n) {
		struct add_ctx ctx = { v->vi, missing.v, missing.n };
		rc = each_chunk(v, s, 0, add_keep, add_batch, &ctx, err);
	}
out:
	base_free(have);
	base_vec_release(&live);
	base_vec_release(&extra);
	base_vec_release(&missing);
	return rc;
}

/* ---- open / close ------------------------------------------------------ */

/* The model the saved vectors were made with (meta "vector_model"). */
static bool model_matches(struct store *s, const char *model)
{
	char *m = store_meta_get(s, "vector_model");
	bool ok = m && strcmp(m, model) == 0;
	base_free(m);
	return ok;
}

/*
 * What the saved index is: its factory string (from the file) and how many
 * vectors an IVF index was trained for (meta "vector_index": "<factory>
 * <trained_at>", written after each save; stale after a crash between
 * the two, which only costs a retrain at the next save).
 */
static void built_load(struct store_vectors *v, struct store *s)
{
	char *m = store_meta_get(s, "vector_index");
	char factory[sizeof(v->built)];
	unsigned long long trained = 0;
	if (m && sscanf(m, "%63s %llu", factory, &trained) == 2)
		v->trained_at = trained;
	base_free(m);
	snprintf(v->built, sizeof(v->built), "%s", store_vindex_factory(v->vi));
}

static int built_save(struct store_vectors *v, struct store *s, struct base_err *err)
{
	char buf[sizeof(v->built) + 32];
	snprintf(buf, sizeof(buf), "%s %llu", v->built, (unsigned long long)v->trained_at);
	int rc = store_meta_set(s, "vector_index", buf, err);
	return rc ? rc : store_meta_set(s, "vector_model", v->model, err);
}

/* Load the newest file; false when there is none or it cannot be used. */
static bool load_newest(struct store_vectors *v, int64_t *seq)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		*seq = newest_file(v->dir);
		if (*seq < 0)
			return false;
		char *path = file_path(v->dir, *seq);
		struct base_err err;
		v->vi = store_vindex_load(path, &err);
		if (v->vi && store_vindex_dim(v->vi) != v->dim) {
			BASE_LOG(BASE_LOG_WARN, "%s: dimension %u, the model's is %u; rebuilding it", path,
				 store_vindex_dim(v->vi), v->dim);
			store_vindex_free(v->vi);
			v->vi = NULL;
			base_free(path);
			return false;
		}
		if (!v->vi && err.code != BASE_E_NOTFOUND)
			BASE_LOG(BASE_LOG_WARN, "%s; rebuilding the vectors from the cache", err.msg);
		base_free(path);
		if (v->vi || err.code != BASE_E_NOTFOUND)
			return v->vi != NULL;
		/* removed by a writer's save between listing and loading: again */
	}
	return false;
}

struct store_vectors *store_vectors_open(struct store *s, const struct store_vectors_options *o,
					 struct base_err *err)
{
	struct store_vectors *v = base_calloc(1, sizeof(*v));
	pthread_rwlock_init(&v->lock, NULL);
	v->dir = base_strdup(o->dir);
	v->model = base_strdup(o->model_id);
	v->dim = o->dim;
	v->writer = o->writer;
	v->cache = o->cache;
	v->embed = o->embed;
	v->embed_payload = o->embed_payload;
	snprintf(v->factory, sizeof(v->factory), "%s", o->factory && *o->factory ? o->factory : "auto");
	int rc = BASE_OK;
	int64_t seq = -1;
	if (model_matches(s, v->model) && load_newest(v, &seq)) {
		v->saved_seq = seq;
		built_load(v, s);
		if (v->writer)
			rc = reconcile(v, s, err);
		else {
			/* chunks committed since the save; deleted ones are
			 * dropped when hits are resolved */
			struct add_ctx ctx = { v->vi, NULL, 0 };
			rc = each_chunk(v, s, seq << STORE_ID_SHIFT, NULL, add_batch, &ctx, err);
		}
	} else if (v->writer) {
		rc = rebuild(v, s, err);
	} else {
		rc = base_err_set(err, BASE_E_NOTFOUND, "the index %s has no vectors for model %s; run `lode index`",
				  s->path, v->model);
	}
	if (rc) {
		store_vectors_close(v);
		return NULL;
	}
	return v;
}

void store_vectors_close(struct store_vectors *v)
{
	if (!v)
		return;
	store_vindex_free(v->vi);
	pthread_rwlock_destroy(&v->lock);
	base_vec_release(&v->add_ids);
	base_vec_release(&v->add_vecs);
	base_vec_release(&v->del_ids);
	base_vec_release(&v->train_ids);
	base_vec_release(&v->train_vecs);
	base_free(v->dir);
	base_free(v->model);
	base_free(v);
}

/* ---- the writer's transactions ----------------------------------------- */

void store_attach_vectors(struct store *s, struct store_vectors *v)
{
	s->vectors = v;
}

void store__vectors_put(struct store *s, int64_t id, const float *vec)
{
	struct store_vectors *v = s->vectors;
	if (!vec) {
		BASE_LOG(BASE_LOG_DEBUG, "chunk %" PRId64 " stored without a vector", id);
		return;
	}
	base_vec_push(&v->add_ids, id);
	base_vec_reserve(&v->add_vecs, v->add_vecs.n + v->dim);
	memcpy(v->add_vecs.v + v->add_vecs.n, vec, v->dim * sizeof(float));
	v->add_vecs.n += v->dim;
}

void store__vectors_drop(struct store *s, int64_t id)
{
	base_vec_push(&s->vectors->del_ids, id);
}

static void pending_clear(struct store_vectors *v)
{
	v->add_ids.n = v->add_vecs.n = v->del_ids.n = 0;
}

/* Forget buffered training vectors that were dropped (linear: rare). */
static void train_drop(struct store_vectors *v)
{
	size_t out = 0;
	for (size_t i = 0; i < v->train_ids.n; i++) {
		bool gone = false;
		for (size_t j = 0; j < v->del_ids.n && !gone; j++)
			gone = v->del_ids.v[j] == v->train_ids.v[i];
		if (gone)
			continue;
		v->train_ids.v[out] = v->train_ids.v[i];
		memmove(v->train_vecs.v + out * v->dim, v->train_vecs.v + i * v->dim, v->dim * sizeof(float));
		out++;
	}
	v->train_ids.n = out;
	v->train_vecs.n = out * v->dim;
}

/*
 * Train the bulk load's index on the buffered vectors and add them. With
 * too few for the planned lists, fewer lists (or Flat) are used. The
 * caller holds the write lock.
 */
static int train_finish(struct store_vectors *v, struct base_err *err)
{
	size_t n = v->train_ids.n;
	char factory[sizeof(v->built)];
	size_t nlist = 0;
	if (sscanf(v->built, "IVF%zu", &nlist) == 1 && n < nlist * TRAIN_PER_LIST) {
		while (nlist > 16 && n < nlist * TRAIN_PER_LIST)
			nlist /= 2;
		if (n < nlist * TRAIN_PER_LIST)
			snprintf(factory, sizeof(factory), "Flat");
		else
			snprintf(factory, sizeof(factory), "IVF%zu,SQ8", nlist);
		struct store_vindex *vi = store_vindex_new(v->dim, factory, err);
		if (!vi)
			return err ? err->code : BASE_E_INVAL;
		store_vindex_free(v->vi);
		v->vi = vi;
		memcpy(v->built, factory, sizeof(factory));
	}
	int rc = BASE_OK;
	if (store_vindex_needs_training(v->vi))
		rc = store_vindex_train(v->vi, v->train_vecs.v, n, err);
	if (!rc)
		rc = store_vindex_add(v->vi, v->train_ids.v, v->train_vecs.v, n, err);
	/* trained for the expected size, not for the sample it saw */
	v->trained_at = v->bulk_expected > n ? v->bulk_expected : n;
	v->training = false;
	v->dirty = true;
	base_vec_release(&v->train_ids);
	base_vec_release(&v->train_vecs);
	return rc;
}

int store_vectors_bulk(struct store_vectors *v, uint64_t expected, bool *training, struct base_err *err)
{
	*training = v->training;
	if (!v->writer || v->training || store_vindex_count(v->vi) != 0)
		return BASE_OK;
	char want[sizeof(v->built)];
	target_factory(v, expected, want, sizeof(want));
	if (strcmp(want, v->built) == 0 && !store_vindex_needs_training(v->vi))
		return BASE_OK;
	struct store_vindex *vi = store_vindex_new(v->dim, want, err);
	if (!vi)
		return err ? err->code : BASE_E_INVAL;
	pthread_rwlock_wrlock(&v->lock);
	store_vindex_free(v->vi);
	v->vi = vi;
	memcpy(v->built, want, sizeof(want));
	v->training = store_vindex_needs_training(vi);
	*training = v->training;
	v->bulk = true;
	v->bulk_expected = expected;
	pthread_rwlock_unlock(&v->lock);
	return BASE_OK;
}

int store__vectors_commit(struct store *s, struct base_err *err)
{
	struct store_vectors *v = s->vectors;
	int rc = BASE_OK;
	pthread_rwlock_wrlock(&v->lock);
	if (v->del_ids.n && v->training)
		train_drop(v);
	else if (v->del_ids.n) {
		size_t removed = 0;
		rc = store_vindex_remove(v->vi, v->del_ids.v, v->del_ids.n, &removed, err);
	}
	if (!rc && v->add_ids.n && v->training) {
		for (size_t i = 0; i < v->add_ids.n; i++)
			base_vec_push(&v->train_ids, v->add_ids.v[i]);
		base_vec_reserve(&v->train_vecs, v->train_vecs.n + v->add_vecs.n);
		memcpy(v->train_vecs.v + v->train_vecs.n, v->add_vecs.v, v->add_vecs.n * sizeof(float));
		v->train_vecs.n += v->add_vecs.n;
		if (v->train_ids.n >= TRAIN_SAMPLE)
			rc = train_finish(v, err);
	} else if (!rc && v->add_ids.n) {
		rc = store_vindex_add(v->vi, v->add_ids.v, v->add_vecs.v, v->add_ids.n, err);
	}
	v->dirty |= v->del_ids.n || v->add_ids.n;
	if (rc)
		v->stale = true; /* SQLite committed: reconcile before the next save */
	pthread_rwlock_unlock(&v->lock);
	pending_clear(v);
	return rc;
}

void store__vectors_rollback(struct store *s)
{
	pending_clear(s->vectors);
}

/* ---- keeping it right, saving ------------------------------------------ */

/*
 * Does the index type still suit its size? A configured factory is kept
 * as given. "auto" switches from Flat to IVF at STORE_VINDEX_FLAT_MAX
 * vectors and back below half of it (so a size near the threshold does not
 * flip-flop), and retrains IVF once it holds RETRAIN_GROWTH times what it
 * was trained for (or shrank as much): lists then are too long (or short).
 * Not asked during a bulk load, which grows from nothing (v->bulk).
 */
static bool needs_rebuild(struct store_vectors *v)
{
	if (strcmp(v->factory, "auto") != 0)
		return strcmp(v->factory, v->built) != 0;
	uint64_t n = store_vindex_count(v->vi);
	if (strncmp(v->built, "IVF", 3) != 0)
		return n >= STORE_VINDEX_FLAT_MAX;
	if (n < STORE_VINDEX_FLAT_MAX / 2)
		return true;
	return v->trained_at && (n > RETRAIN_GROWTH * v->trained_at || n * RETRAIN_GROWTH < v->trained_at);
}

int store_vectors_maintain(struct store_vectors *v, struct store *s, struct base_err *err)
{
	if (!v->writer)
		return base_err_set(err, BASE_E_API, "store_vectors_maintain: opened for reading");
	int rc = BASE_OK;
	if (v->training || v->bulk)
		return BASE_OK; /* a bulk load runs: its save trains and checks */
	if (v->stale) {
		pthread_rwlock_wrlock(&v->lock);
		rc = reconcile(v, s, err);
		pthread_rwlock_unlock(&v->lock);
		v->stale = rc != BASE_OK;
	}
	if (!rc && needs_rebuild(v))
		rc = rebuild(v, s, err);
	return rc;
}

int store_vectors_save(struct store_vectors *v, struct store *s, struct base_err *err)
{
	v->bulk = false;
	if (v->training) {
		pthread_rwlock_wrlock(&v->lock);
		int trc = train_finish(v, err);
		pthread_rwlock_unlock(&v->lock);
		if (trc)
			return trc;
	}
	int rc = store_vectors_maintain(v, s, err);
	if (rc || !v->dirty)
		return rc;
	int64_t seq = store__meta_int(s, "chunk_seq", 0);
	char *path = file_path(v->dir, seq);
	pthread_rwlock_rdlock(&v->lock);
	rc = store_vindex_save(v->vi, path, err);
	pthread_rwlock_unlock(&v->lock);
	base_free(path);
	if (rc)
		return rc;
	v->dirty = false;
	v->saved_seq = seq;
	remove_old(v->dir, seq);
	return built_save(v, s, err);
}

/* ---- searching ---------------------------------------------------------- */

int store_vectors_search(struct store_vectors *v, const float *q, size_t k, int64_t *ids, float *scores,
			 size_t *n, struct base_err *err)
{
	pthread_rwlock_rdlock(&v->lock);
	int rc = store_vindex_search(v->vi, q, 1, k, ids, scores, err);
	pthread_rwlock_unlock(&v->lock);
	*n = 0;
	if (rc)
		return rc;
	while (*n < k && ids[*n] >= 0)
		(*n)++;
	return BASE_OK;
}

struct store_vectors_stats store_vectors_stats(struct store_vectors *v)
{
	pthread_rwlock_rdlock(&v->lock);
	struct store_vectors_stats st = v->stats;
	st.count = store_vindex_count(v->vi);
	st.bytes = store_vindex_bytes(v->vi);
	snprintf(st.factory, sizeof(st.factory), "%s", v->built);
	pthread_rwlock_unlock(&v->lock);
	return st;
}
