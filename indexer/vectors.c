/*
 * vectors.c: embedding chunks for the index (vectors.h).
 */
#include <stdatomic.h>
#include <string.h>

#include "embed/embed.h"
#include "indexer/indexer.h"
#include "indexer/vectors.h"

#include "base/banned.h"

struct idx_vec {
	struct embed *emb;
	struct store_vcache *cache;
	struct store_vectors *vectors;
	unsigned dim;
	atomic_uint_fast64_t embedded, cached;
};

static char *setting(struct store *st, const char *given, const char *key)
{
	if (given)
		return base_strdup(given);
	return st ? store_meta_get(st, key) : NULL;
}

void idx__vec_settings(struct store *st, const struct idx_options *opts, struct idx_vec_settings *out)
{
	const struct idx_options none = { 0 };
	if (!opts)
		opts = &none;
	out->spec = setting(st, opts->model && *opts->model ? opts->model : NULL, "model_spec");
	if (!out->spec)
		out->spec = base_strdup(EMBED_DEFAULT_SPEC);
	out->factory = setting(st, opts->vector_factory, "vector_factory");
	out->query_prefix = setting(st, opts->query_prefix, "query_prefix");
	out->doc_prefix = setting(st, opts->doc_prefix, "doc_prefix");
}

void idx__vec_settings_release(struct idx_vec_settings *s)
{
	base_free(s->spec);
	base_free(s->factory);
	base_free(s->query_prefix);
	base_free(s->doc_prefix);
	memset(s, 0, sizeof(*s));
}

struct embed_options idx__vec_embed_options(const struct idx_vec_settings *s)
{
	return (struct embed_options){ .spec = s->spec, .query_prefix = s->query_prefix, .doc_prefix = s->doc_prefix };
}

/* store_embed_fn over the embedder, for vectors the cache lacks. */
static int embed_docs(void *payload, const char *const *texts, const size_t *lens, size_t n, float *out,
		      struct base_err *err)
{
	struct idx_vec *iv = payload;
	int rc = embed_texts(iv->emb, EMBED_DOCUMENT, texts, lens, n, out, err);
	if (!rc)
		atomic_fetch_add(&iv->embedded, n);
	return rc;
}

int idx__vec_open(const struct idx_options *opts, const struct idx_vec_settings *s, struct idx_vec **out,
		  struct base_err *err)
{
	*out = NULL;
	if (strcmp(s->spec, IDX_MODEL_NONE) == 0)
		return BASE_OK;
	struct idx_vec *iv = base_calloc(1, sizeof(*iv));
	struct embed_options eo = idx__vec_embed_options(s);
	eo.device = opts->device;
	eo.vram_limit = opts->vram_limit;
	iv->emb = embed_open(&eo, err);
	if (!iv->emb) {
		base_free(iv);
		return err ? err->code : BASE_E_INVAL;
	}
	iv->dim = embed_dim(iv->emb);
	struct base_err cerr;
	iv->cache = store_vcache_open(NULL, embed_model_id(iv->emb), iv->dim, &cerr);
	if (!iv->cache)
		BASE_LOG(BASE_LOG_WARN, "%s; vectors will not be cached", cerr.msg);
	*out = iv;
	return BASE_OK;
}

int idx__vec_attach(struct idx_vec *iv, const char *root, const struct idx_vec_settings *s, struct store *st,
		    struct base_err *err)
{
	static const char *const keys[] = { "model_spec", "vector_factory", "query_prefix", "doc_prefix" };
	const char *vals[] = { s->spec, s->factory, s->query_prefix, s->doc_prefix };
	int rc = BASE_OK;
	for (size_t i = 0; i < BASE_ARRAY_LEN(keys) && !rc; i++)
		if (vals[i])
			rc = store_meta_set(st, keys[i], vals[i], err);
	if (rc || !iv)
		return rc;
	char *dir = idx_dir(root);
	struct store_vectors_options vo = {
		.dir = dir,
		.model_id = embed_model_id(iv->emb),
		.dim = iv->dim,
		.factory = s->factory,
		.cache = iv->cache,
		.embed = embed_docs,
		.embed_payload = iv,
		.writer = true,
	};
	iv->vectors = store_vectors_open(st, &vo, err);
	base_free(dir);
	if (!iv->vectors)
		return err ? err->code : BASE_E_IO;
	store_attach_vectors(st, iv->vectors);
	return BASE_OK;
}

void idx__vec_close(struct idx_vec *iv, struct store *st)
{
	if (!iv)
		return;
	if (st)
		store_attach_vectors(st, NULL);
	store_vectors_close(iv->vectors);
	store_vcache_close(iv->cache);
	embed_close(iv->emb);
	base_free(iv);
}

int idx__vec_chunks(struct idx_vec *iv, const char *data, const struct idx_chunks *chunks, float **out,
		    struct base_err *err)
{
	size_t n = chunks->c.n;
	*out = NULL;
	if (!n)
		return BASE_OK;
	float *vecs = base_malloc(n * iv->dim * sizeof(*vecs));
	uint8_t *hashes = base_malloc(n * STORE_HASH_BYTES);
	bool *found = base_calloc(n, sizeof(*found));
	const char **texts = base_malloc(n * sizeof(*texts));
	size_t *lens = base_malloc(n * sizeof(*lens));
	size_t *miss = base_malloc(n * sizeof(*miss));
	for (size_t i = 0; i < n; i++) {
		const struct idx_chunk *c = &chunks->c.v[i];
		store_chunk_hash(data + c->start_byte, c->end_byte - c->start_byte, hashes + i * STORE_HASH_BYTES);
	}
	int rc = BASE_OK;
	if (iv->cache && store_vcache_get(iv->cache, hashes, n, vecs, found, NULL) != BASE_OK)
		memset(found, 0, n * sizeof(*found)); /* a cache that fails is a cache that misses */
	size_t nmiss = 0;
	for (size_t i = 0; i < n; i++) {
		if (found[i])
			continue;
		const struct idx_chunk *c = &chunks->c.v[i];
		texts[nmiss] = data + c->start_byte;
		lens[nmiss] = c->end_byte - c->start_byte;
		miss[nmiss++] = i;
	}
	atomic_fetch_add(&iv->cached, n - nmiss);
	if (nmiss) {
		float *fresh = base_malloc(nmiss * iv->dim * sizeof(*fresh));
		rc = embed_texts(iv->emb, EMBED_DOCUMENT, texts, lens, nmiss, fresh, err);
		if (!rc) {
			store_vec_round(fresh, nmiss * iv->dim);
			uint8_t *mh = base_malloc(nmiss * STORE_HASH_BYTES);
			for (size_t j = 0; j < nmiss; j++) {
				memcpy(vecs + miss[j] * iv->dim, fresh + j * iv->dim, iv->dim * sizeof(float));
				memcpy(mh + j * STORE_HASH_BYTES, hashes + miss[j] * STORE_HASH_BYTES, STORE_HASH_BYTES);
			}
			if (iv->cache)
				store_vcache_put(iv->cache, mh, fresh, nmiss, NULL);
			base_free(mh);
			atomic_fetch_add(&iv->embedded, nmiss);
		}
		base_free(fresh);
	}
	base_free(hashes);
	base_free(found);
	base_free(texts);
	base_free(lens);
	base_free(miss);
	if (rc) {
		base_free(vecs);
		return rc;
	}
	*out = vecs;
	return BASE_OK;
}

int idx__vec_save(struct idx_vec *iv, struct store *st, struct base_err *err)
{
	if (!iv)
		return BASE_OK;
	if (iv->cache)
		store_vcache_flush(iv->cache);
	return store_vectors_save(iv->vectors, st, err);
}

struct idx_vec_stats idx__vec_stats(struct idx_vec *iv)
{
	struct idx_vec_stats s = { 0, 0 };
	if (iv) {
		s.embedded = atomic_load(&iv->embedded);
		s.cached = atomic_load(&iv->cached);
	}
	return s;
}

unsigned idx__vec_dim(const struct idx_vec *iv)
{
	return iv->dim;
}

int idx__vec_maintain(struct idx_vec *iv, struct store *st, struct base_err *err)
{
	return iv ? store_vectors_maintain(iv->vectors, st, err) : BASE_OK;
}

const char *idx__vec_model(const struct idx_vec *iv)
{
	return embed_model_id(iv->emb);
}

const char *idx__vec_describe(const struct idx_vec *iv)
{
	return embed_describe(iv->emb);
}

void idx__vec_stats_reset(struct idx_vec *iv)
{
	if (iv) {
		atomic_store(&iv->embedded, 0);
		atomic_store(&iv->cached, 0);
	}
}

int idx__vec_bulk(struct idx_vec *iv, uint64_t expected, bool *sample_first, struct base_err *err)
{
	*sample_first = false;
	return iv ? store_vectors_bulk(iv->vectors, expected, sample_first, err) : BASE_OK;
}

struct store_vectors *idx__vec_vectors(struct idx_vec *iv)
{
	return iv ? iv->vectors : NULL;
}
