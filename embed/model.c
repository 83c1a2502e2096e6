/*
 * model.c: transformer encoders from GGUF files behind the embedder handle.
 *
 * A call tokenises its texts (with the role's prefix, truncated to the
 * sequence cap), packs them without padding into batches of whole
 * sequences, runs each batch on the chosen backend and scatters the
 * pooled vectors back in the caller's order.
 *
 * Backends: the CPU reference is reentrant, so the indexer's workers run
 * their own files' chunks at once. The GPU is one device: callers combine
 * their work (flat combining) — whoever finds the device idle runs every
 * batch queued so far, its own and the other callers', while the others
 * tokenise their next files. The GPU never fails an index: when it runs
 * out of memory or faults, the call (and every later one) moves to the
 * CPU with one warning.
 *
 * The model id is "gguf-ARCH-DIMd-FINGERPRINT": a 64-bit FNV-1a over the
 * tensor table, a sample of every tensor's bytes, the vocabulary size,
 * the sequence cap and both prefixes — everything that changes a vector,
 * so vectors of different models or settings never share a cache key.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/encoder.h"
#include "embed/internal.h"
#include "embed/wordpiece.h"

#include "base/banned.h"

/* Tokens of one text at most, unless the model's context is shorter. */
#define MODEL_MAX_SEQ 512
/* Tokens per CPU batch: big enough for efficient sgemm, small enough to keep work space modest. */
#define CPU_BATCH_TOKENS 2048

/* The GPU backend: CUDA's, or a stand-in a test installs (embed__set_gpu). */
static const struct embed_gpu cuda_gpu = {
	enc_cuda_built, enc_cuda_open, enc_cuda_close, enc_cuda_max_tokens, enc_cuda_describe, enc_cuda_forward,
};
static const struct embed_gpu *gpu = &cuda_gpu;

void embed__set_gpu(const struct embed_gpu *g)
{
	gpu = g ? g : &cuda_gpu;
}

struct request {
	struct enc_batch b;
	float *out;
	int rc;
	struct base_err err;
	bool done;
	bool redo; /* done, but out is not finite: run it again on the CPU */
	struct request *next;
};

struct model {
	struct gguf *g;
	struct wp_tokenizer *tok;
	struct enc_model m;
	size_t max_seq;
	char *prefix[2]; /* by enum embed_role; "" when none */

	pthread_mutex_t mu; /* guards everything below */
	pthread_cond_t cv;
	const struct embed_gpu *gpu;
	struct enc_cpu *cpu;   /* opened at start or on the first fallback */
	struct enc_cuda *cuda; /* NULL: CPU only (or after a fallback) */
	bool gpu_busy;
	bool warned_redo;
	struct request *queue, **tail;
};

/* ---- fingerprint ------------------------------------------------------------ */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t fingerprint(const struct model *md)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < gguf_n_tensors(md->g); i++) {
		const struct gguf_tensor *t = gguf_tensor(md->g, i);
		h = fnv(h, t->name, strlen(t->name));
		h = fnv(h, &t->type, sizeof(t->type));
		h = fnv(h, t->ne, sizeof(t->ne));
		/* 4 KiB from the start, the middle and the end of the data */
		size_t n = (size_t)BASE_MIN(t->nbytes, 4096);
		const unsigned char *d = t->data;
		h = fnv(h, d, n);
		h = fnv(h, d + (t->nbytes - n) / 2, n);
		h = fnv(h, d + t->nbytes - n, n);
	}
	size_t vocab = wp_vocab_size(md->tok);
	h = fnv(h, &vocab, sizeof(vocab));
	h = fnv(h, &md->max_seq, sizeof(md->max_seq));
	for (int r = 0; r < 2; r++)
		h = fnv(h, md->prefix[r], strlen(md->prefix[r]) + 1);
	return h;
}

/* ---- prefixes -------------------------------------------------------------------- */

/* The prefixes a model was trained with, when its family is known. */
static void default_prefixes(const struct model *md, const char **query, const char **doc)
{
	*query = *doc = "";
	if (md->m.c.arch != ENC_NOMIC_BERT)
		return;
	struct gguf_str name = { "", 0 };
	gguf_get_str(md->g, "general.name", &name, NULL);
	static const char crank[] = "coderankembed";
	bool coderank = false;
	for (size_t i = 0; i + sizeof(crank) - 1 <= name.len && !coderank; i++) {
		size_t j = 0;
		while (j < sizeof(crank) - 1 && (name.ptr[i + j] | 0x20) == crank[j])
			j++;
		coderank = j == sizeof(crank) - 1;
	}
	if (coderank) {
		*query = "Represent this query for searching relevant code: ";
	} else {
		*query = "search_query: ";
		*doc = "search_document: ";
	}
}

/* ---- running batches ---------------------------------------------------------------- */

/* Open the CPU backend if it is not open yet; mu held. */
static int need_cpu(struct model *md, struct base_err *err)
{
	return md->cpu ? BASE_OK : enc_cpu_open(&md->m, &md->cpu, err);
}

/* Give up the GPU after a failure: later work runs on the CPU; mu held. */
static void drop_gpu(struct model *md, const struct base_err *why)
{
	if (!md->cuda)
		return;
	BASE_LOG(BASE_LOG_WARN, "%s: the GPU failed (%s); embedding on the CPU from now on", md->m.name,
		 why->msg);
	md->gpu->close(md->cuda);
	md->cuda = NULL;
}

/* Whether v[0,n) holds no NaN or infinity. */
static bool all_finite(const float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

/*
 * Run the queued requests on the GPU until the queue is empty; mu held on
 * entry and exit. A request whose vectors are not finite (fp16 has a
 * range fp32 does not) is marked redo, for its caller to run on the CPU:
 * a wrong vector never reaches the index.
 */
static void combine(struct model *md)
{
	size_t cap = md->gpu->max_tokens(md->cuda);
	BASE_VEC(int32_t) ids = BASE_VEC_INIT;
	BASE_VEC(uint32_t) offs = BASE_VEC_INIT;
	while (md->queue && md->cuda) {
		/* take requests while they fit; a request always fits alone (batches are cut to cap) */
		struct request *first = md->queue, *r = first, *last = NULL;
		size_t tokens = 0;
		ids.n = offs.n = 0;
		base_vec_push(&offs, 0);
		while (r && (tokens == 0 || tokens + r->b.offs[r->b.n_seq] <= cap)) {
			for (size_t s = 0; s < r->b.n_seq; s++)
				base_vec_push(&offs, (uint32_t)(tokens + r->b.offs[s + 1]));
			size_t n = r->b.offs[r->b.n_seq];
			base_vec_reserve(&ids, ids.n + n);
			memcpy(ids.v + ids.n, r->b.ids, n * sizeof(int32_t));
			ids.n += n;
			tokens += n;
			last = r;
			r = r->next;
		}
		md->queue = r;
		if (!r)
			md->tail = &md->queue;
		last->next = NULL;
		size_t n_seq = offs.n - 1, E = md->m.c.n_embd;
		float *out = base_malloc(n_seq * E * sizeof(float));
		struct enc_cuda *cuda = md->cuda;
		pthread_mutex_unlock(&md->mu);
		struct enc_batch b = { ids.v, offs.v, n_seq };
		struct base_err err = { 0 };
		int rc = md->gpu->forward(cuda, &b, out, &err);
		pthread_mutex_lock(&md->mu);
		if (rc == BASE_E_DEVICE || rc == BASE_E_NOMEM) {
			/* back to the front of the queue: they run on the CPU */
			drop_gpu(md, &err);
			last->next = md->queue;
			md->queue = first;
			if (!last->next)
				md->tail = &last->next;
			base_free(out);
			break;
		}
		size_t at = 0;
		for (r = first; r; r = r->next) {
			r->rc = rc;
			r->err = err;
			if (!rc && !all_finite(out + at * E, r->b.n_seq * E)) {
				r->redo = true;
				if (!md->warned_redo)
					BASE_LOG(BASE_LOG_WARN,
						 "%s: the GPU gave a vector that is not finite (an fp16 overflow?); "
						 "such batches are embedded again on the CPU (said once)",
						 md->m.name);
				md->warned_redo = true;
			} else if (!rc) {
				memcpy(r->out, out + at * E, r->b.n_seq * E * sizeof(float));
			}
			at += r->b.n_seq;
			r->done = true;
		}
		base_free(out);
		pthread_cond_broadcast(&md->cv);
	}
	base_vec_release(&ids);
	base_vec_release(&offs);
}

/* Run one batch: on the GPU (combined with other callers') or the CPU. */
static int run_batch(struct model *md, const struct enc_batch *b, float *out, struct base_err *err)
{
	pthread_mutex_lock(&md->mu);
	if (md->cuda) {
		struct request req = { .b = *b, .out = out };
		*md->tail = &req;
		md->tail = &req.next;
		while (!req.done && md->cuda) {
			if (!md->gpu_busy) {
				md->gpu_busy = true;
				combine(md);
				md->gpu_busy = false;
				pthread_cond_broadcast(&md->cv);
			} else {
				pthread_cond_wait(&md->cv, &md->mu);
			}
		}
		if (req.done && !req.redo) {
			pthread_mutex_unlock(&md->mu);
			if (req.rc && err)
				*err = req.err;
			return req.rc;
		}
		/* the GPU was dropped with this request still queued: take it out (a redo is out already) */
		for (struct request **p = &md->queue; *p && !req.done; p = &(*p)->next)
			if (*p == &req) {
				*p = req.next;
				if (!req.next)
					md->tail = p;
				break;
			}
	}
	int rc = need_cpu(md, err);
	pthread_mutex_unlock(&md->mu);
	return rc ? rc : enc_cpu_forward(md->cpu, b, out, err);
}

/* ---- the embedder ---------------------------------------------------------------------- */

struct seq {
	size_t text; /* index of the text */
	size_t start, len;
};

static int cmp_len(const void *a, const void *b)
{
	const struct seq *x = a, *y = b;
	return x->len < y->len ? -1 : x->len > y->len ? 1 : (x->text > y->text) - (x->text < y->text);
}

static int model_texts(struct embed *e, enum embed_role role, const char *const *texts, const size_t *lens,
		       size_t n, float *out, struct base_err *err)
{
	struct model *md = e->impl;
	const char *prefix = md->prefix[role == EMBED_QUERY];
	size_t plen = strlen(prefix), E = md->m.c.n_embd;
	int32_t *ids = base_malloc(n * md->max_seq * sizeof(*ids));
	struct seq *seqs = base_malloc(n * sizeof(*seqs));
	struct base_buf buf = BASE_BUF_INIT(SIZE_MAX);
	int rc = BASE_OK;
	size_t at = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		const char *t = texts[i];
		size_t len = lens[i];
		if (plen) {
			base_buf_reset(&buf);
			rc = base_buf_add(&buf, prefix, plen);
			if (!rc)
				rc = base_buf_add(&buf, texts[i], lens[i]);
			t = buf.data;
			len = buf.len;
		}
		size_t k = 0;
		if (!rc)
			rc = wp_encode(md->tok, t, len, md->max_seq, ids + at, &k, NULL);
		seqs[i] = (struct seq){ i, at, k };
		at += k;
	}
	base_buf_release(&buf);
	if (rc) {
		base_err_set(err, rc, "%s: cannot tokenise a text", md->m.name);
		goto done;
	}
	/* similar lengths together: attention work per batch stays even */
	qsort(seqs, n, sizeof(*seqs), cmp_len);
	size_t cap = CPU_BATCH_TOKENS;
	pthread_mutex_lock(&md->mu);
	if (md->cuda)
		cap = md->gpu->max_tokens(md->cuda);
	pthread_mutex_unlock(&md->mu);
	cap = BASE_MAX(cap, md->max_seq);
	int32_t *bids = base_malloc(BASE_MAX(at, 1) * sizeof(*bids));
	uint32_t *offs = base_malloc((n + 1) * sizeof(*offs));
	float *vecs = base_malloc(n * E * sizeof(*vecs));
	for (size_t s0 = 0; s0 < n && !rc;) {
		size_t s1 = s0, tokens = 0;
		offs[0] = 0;
		while (s1 < n && (s1 == s0 || tokens + seqs[s1].len <= cap)) {
			memcpy(bids + tokens, ids + seqs[s1].start, seqs[s1].len * sizeof(*bids));
			tokens += seqs[s1].len;
			offs[s1 - s0 + 1] = (uint32_t)tokens;
			s1++;
		}
		struct enc_batch b = { bids, offs, s1 - s0 };
		rc = run_batch(md, &b, vecs, err);
		for (size_t s = s0; s < s1 && !rc; s++)
			memcpy(out + seqs[s].text * E, vecs + (s - s0) * E, E * sizeof(float));
		s0 = s1;
	}
	base_free(bids);
	base_free(offs);
	base_free(vecs);
done:
	base_free(ids);
	base_free(seqs);
	return rc;
}

static void model_close(struct embed *e)
{
	struct model *md = e->impl;
	if (!md)
		return;
	md->gpu->close(md->cuda);
	enc_cpu_close(md->cpu);
	enc_model_release(&md->m);
	wp_free(md->tok);
	gguf_close(md->g);
	base_free(md->prefix[0]);
	base_free(md->prefix[1]);
	pthread_mutex_destroy(&md->mu);
	pthread_cond_destroy(&md->cv);
	base_free(md);
	e->impl = NULL;
}

static const struct embed_ops model_ops = { model_texts, model_close };

/* Pick and open the backend; mu not yet in use. */
static int open_backend(struct model *md, const struct embed_options *opts, char *where, size_t where_len,
			struct base_err *err)
{
	if (opts->device != EMBED_DEVICE_CPU) {
		struct enc_cuda_options co = { .vram_limit = opts->vram_limit };
		struct base_err cerr;
		int rc = md->gpu->open(&md->m, &co, &md->cuda, &cerr);
		if (!rc && md->gpu->max_tokens(md->cuda) < md->max_seq) {
			rc = base_err_set(&cerr, BASE_E_DEVICE,
					  "the GPU memory limit leaves room for %zu tokens a batch, one text needs %zu",
					  md->gpu->max_tokens(md->cuda), md->max_seq);
			md->gpu->close(md->cuda);
			md->cuda = NULL;
		}
		if (!rc) {
			snprintf(where, where_len, "CUDA: %s", md->gpu->describe(md->cuda));
			return BASE_OK;
		}
		if (opts->device == EMBED_DEVICE_CUDA)
			return base_err_set(err, rc, "%s: --device cuda: %s", md->m.name, cerr.msg);
		if (md->gpu->built())
			BASE_LOG(BASE_LOG_WARN, "%s: %s; embedding on the CPU", md->m.name, cerr.msg);
	}
#ifdef LODE_HAVE_CBLAS
	snprintf(where, where_len, "the CPU (BLAS)");
#else
	snprintf(where, where_len, "the CPU (no BLAS: slow)");
#endif
	return enc_cpu_open(&md->m, &md->cpu, err);
}

int embed__model_open(struct embed *e, const struct embed_options *opts, struct base_err *err)
{
	struct model *md = base_calloc(1, sizeof(*md));
	pthread_mutex_init(&md->mu, NULL);
	pthread_cond_init(&md->cv, NULL);
	md->tail = &md->queue;
	md->gpu = gpu;
	e->impl = md;
	e->ops = &model_ops;
	md->g = gguf_open(opts->spec, err);
	int rc = md->g ? BASE_OK : err ? err->code : BASE_E_PARSE;
	if (!rc)
		rc = enc_model_load(md->g, &md->m, err);
	if (!rc) {
		md->tok = wp_new_gguf(md->g, WP_GUESS_CASE, err);
		rc = md->tok ? BASE_OK : err ? err->code : BASE_E_PARSE;
	}
	if (!rc && wp_vocab_size(md->tok) > md->m.c.n_vocab)
		rc = base_err_set(err, BASE_E_PARSE, "%s: the vocabulary has %zu tokens, token_embd.weight %u rows",
				  md->m.name, wp_vocab_size(md->tok), md->m.c.n_vocab);
	char where[200] = "";
	if (!rc) {
		md->max_seq = BASE_MIN((size_t)md->m.c.n_ctx, MODEL_MAX_SEQ);
		const char *q, *d;
		default_prefixes(md, &q, &d);
		md->prefix[EMBED_QUERY] = base_strdup(opts->query_prefix ? opts->query_prefix : q);
		md->prefix[EMBED_DOCUMENT] = base_strdup(opts->doc_prefix ? opts->doc_prefix : d);
		rc = open_backend(md, opts, where, sizeof(where), err);
	}
	if (rc) {
		model_close(e);
		return rc;
	}
	const struct enc_config *c = &md->m.c;
	static const char *const arch_name[] = { [ENC_BERT] = "bert", [ENC_NOMIC_BERT] = "nomic-bert" };
	e->dim = c->n_embd;
	snprintf(e->model_id, sizeof(e->model_id), "gguf-%s-%ud-%016llx", arch_name[c->arch], c->n_embd,
		 (unsigned long long)fingerprint(md));
	const char *base = strrchr(md->m.name, '/');
	snprintf(e->describe, sizeof(e->describe), "%.40s: %s, %u layers x %u, %s pooling, %zu tokens, on %.60s",
		 base ? base + 1 : md->m.name, arch_name[c->arch], c->n_layer, c->n_embd,
		 c->pool == ENC_POOL_CLS ? "CLS" : "mean", md->max_seq, where);
	return BASE_OK;
}
