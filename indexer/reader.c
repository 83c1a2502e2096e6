/*
 * reader.c: the search entry point (reader.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/indexer.h"
#include "indexer/reader.h"

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

int idx_search(struct idx_reader *r, const struct idx_query *q, struct store_hits *out,
	       struct idx_answer *ans, struct base_err *err)
{
	uint64_t t0 = base_now_ns();
	if (q->mode == IDX_MODE_DENSE)
		return base_err_set(err, BASE_E_UNSUPPORTED, "this index has no vectors yet; use --mode lexical");
	struct store *s = take_store(r, err);
	if (!s)
		return err ? err->code : BASE_E_IO;
	struct store_query sq = {
		.text = q->text, .text_len = q->len, .k = q->k,
		.langs = q->langs, .nlangs = q->nlangs, .globs = q->globs, .nglobs = q->nglobs,
	};
	int rc = store_search_lexical(s, &sq, out, err);
	if (!rc && ans) {
		answer_fill(r, s, ans);
		ans->mode = IDX_MODE_LEXICAL;
		ans->took_ms = (double)(base_now_ns() - t0) / 1e6;
	}
	give_store(r, s);
	return rc;
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
