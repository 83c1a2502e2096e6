/*
 * hash.c: the `hash` embedder, lode's built-in default.
 *
 * What it is: a lexical-semantic sketch of a text, not a neural model. It
 * maps the text's features to a fixed-size vector by signed feature
 * hashing (Weinberger et al., "Feature Hashing for Large Scale Multitask
 * Learning", 2009), so two texts' cosine similarity approximates the
 * weighted overlap of their features. Features, for code:
 *
 *   word      every identifier or word, lower-cased ("parsehttpheader")
 *   part      its sub-words when it splits ("parse", "http", "header")
 *   bigram    adjacent sub-words across the text ("http header")
 *   trigram   character 3-grams of each part with boundary marks
 *             ("^pa", "par", ..., "er$"): tolerant to inflection and
 *             abbreviations (parser/parsing, cfg/config share some)
 *
 * Each feature's weight is its kind's weight times a sub-linear term
 * frequency (1 + ln tf); very common words (English stop words, common
 * keywords) weigh less. What it cannot do: know that "remove" and "delete"
 * mean the same thing. That is the transformer encoder's job.
 *
 * Determinism: features are hashed with FNV-1a 64 and a splitmix64
 * finaliser (written out here: embed/ must build without lode's other
 * libraries), weights are computed in double and rounded once; the same
 * text gives bit-identical vectors on every machine. The model id carries
 * HASH_VERSION: change any rule here and bump it, so cached vectors of the
 * old rules are never mixed with new ones.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/internal.h"

#include "base/banned.h"

#define HASH_VERSION 1
#define HASH_DEFAULT_DIM 384
#define HASH_MIN_DIM 64
#define HASH_MAX_DIM 4096

/* Longest word whose features are taken; longer runs are data, not names. */
#define HASH_WORD_MAX 64
/* Bytes of a text looked at: chunks are small, queries may be long. */
#define HASH_TEXT_MAX ((size_t)1 << 20)

enum feature_kind { F_WORD, F_PART, F_BIGRAM, F_TRIGRAM, F__COUNT };

static const double kind_weight[F__COUNT] = {
	[F_WORD] = 1.0,
	[F_PART] = 0.8,
	[F_BIGRAM] = 0.5,
	[F_TRIGRAM] = 0.25,
};

/* Words so common in code or prose that they say little about a chunk. */
static const char *const common_words[] = {
	"a", "an", "and", "are", "as", "at", "be", "bool", "break", "by", "case", "char", "class", "const",
	"continue", "def", "default", "do", "else", "end", "false", "fn", "for", "from", "func", "function",
	"if", "import", "in", "int", "is", "it", "let", "new", "nil", "none", "not", "null", "of", "on", "or",
	"pub", "public", "return", "self", "static", "struct", "that", "the", "this", "to", "true", "unsigned",
	"var", "void", "while", "with",
};
#define COMMON_WEIGHT 0.2

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

#define FNV_BASIS 0xcbf29ce484222325ULL

static uint64_t feature_hash(enum feature_kind kind, const char *s, size_t n)
{
	return mix64(fnv1a(FNV_BASIS ^ (uint64_t)(kind + 1) * 0x9e3779b97f4a7c15ULL, s, n));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_common(const char *w, size_t n)
{
	char key[16];
	if (n >= sizeof(key))
		return false;
	memcpy(key, w, n);
	key[n] = 0;
	const char *k = key;
	return bsearch(&k, common_words, BASE_ARRAY_LEN(common_words), sizeof(common_words[0]), cmp_str);
}

/*
 * Term frequencies of one text: open addressing on the feature hash. The
 * table is per call (texts are embedded from several threads at once).
 */
struct tf_slot {
	uint64_t hash; /* 0: empty */
	double weight; /* the feature's kind weight (max over occurrences) */
	uint32_t count;
};

struct tf_table {
	struct tf_slot *slot;
	size_t mask, used;
};

static void tf_init(struct tf_table *t, size_t cap_pow2)
{
	t->slot = base_calloc(cap_pow2, sizeof(*t->slot));
	t->mask = cap_pow2 - 1;
	t->used = 0;
}

static void tf_add(struct tf_table *t, uint64_t h, double w);

static void tf_grow(struct tf_table *t)
{
	struct tf_table old = *t;
	tf_init(t, (old.mask + 1) * 2);
	for (size_t i = 0; i <= old.mask; i++) {
		if (!old.slot[i].hash)
			continue;
		size_t j = old.slot[i].hash & t->mask;
		while (t->slot[j].hash)
			j = (j + 1) & t->mask;
		t->slot[j] = old.slot[i];
		t->used++;
	}
	base_free(old.slot);
}

static void tf_add(struct tf_table *t, uint64_t h, double w)
{
	h |= 1; /* never 0, the empty mark; costs one bit of the index hash */
	size_t i = h & t->mask;
	while (t->slot[i].hash && t->slot[i].hash != h)
		i = (i + 1) & t->mask;
	if (t->slot[i].hash) {
		t->slot[i].count++;
		if (w > t->slot[i].weight)
			t->slot[i].weight = w;
		return;
	}
	t->slot[i] = (struct tf_slot){ h, w, 1 };
	if (++t->used * 4 > (t->mask + 1) * 3)
		tf_grow(t);
}

static void add_trigrams(struct tf_table *t, const char *p, size_t n, double scale)
{
	char g[HASH_WORD_MAX + 2];
	g[0] = '^';
	memcpy(g + 1, p, n);
	g[n + 1] = '$';
	for (size_t i = 0; i + 3 <= n + 2; i++)
		tf_add(t, feature_hash(F_TRIGRAM, g + i, 3), kind_weight[F_TRIGRAM] * scale);
}

/* The features of one text into t. */
static void text_features(struct tf_table *t, const char *s, size_t len)
{
	size_t pos = 0;
	struct base_span w;
	char lower[HASH_WORD_MAX];
	uint64_t prev_part = 0; /* hash of the previous part, for bigrams */
	if (len > HASH_TEXT_MAX)
		len = HASH_TEXT_MAX;
	while (base_word_next(s, len, &pos, &w)) {
		if (w.len > HASH_WORD_MAX || (w.len == 1 && s[w.off] == '_')) {
			prev_part = 0;
			continue;
		}
		base_ascii_lower(s + w.off, w.len, lower);
		double scale = is_common(lower, w.len) ? COMMON_WEIGHT : 1.0;
		struct base_span parts[HASH_WORD_MAX];
		size_t np = base_word_parts(s + w.off, w.len, parts, BASE_ARRAY_LEN(parts));
		if (np > BASE_ARRAY_LEN(parts))
			np = BASE_ARRAY_LEN(parts);
		if (w.len > 1 || np > 1)
			tf_add(t, feature_hash(F_WORD, lower, w.len), kind_weight[F_WORD] * scale);
		for (size_t i = 0; i < np; i++) {
			const char *p = lower + parts[i].off;
			size_t pn = parts[i].len;
			if (pn < 2 || (pn > 0 && p[0] >= '0' && p[0] <= '9')) {
				prev_part = 0;
				continue;
			}
			double ps = is_common(p, pn) ? COMMON_WEIGHT : 1.0;
			uint64_t ph = feature_hash(F_PART, p, pn);
			if (np > 1)
				tf_add(t, ph, kind_weight[F_PART] * ps);
			if (prev_part) {
				uint64_t pair[2] = { prev_part, ph };
				tf_add(t, feature_hash(F_BIGRAM, (const char *)pair, sizeof(pair)),
				       kind_weight[F_BIGRAM] * BASE_MIN(scale, ps));
			}
			prev_part = ph;
			add_trigrams(t, p, pn, ps);
		}
	}
}

static int hash_texts(struct embed *e, enum embed_role role, const char *const *texts, const size_t *lens,
		      size_t n, float *out, struct base_err *err)
{
	(void)role; /* symmetric: queries and documents embed alike */
	(void)err;
	unsigned dim = e->dim;
	struct tf_table t;
	tf_init(&t, 1024);
	double *acc = base_malloc(dim * sizeof(*acc));
	for (size_t i = 0; i < n; i++) {
		memset(t.slot, 0, (t.mask + 1) * sizeof(*t.slot));
		t.used = 0;
		text_features(&t, texts[i], lens[i]);
		memset(acc, 0, dim * sizeof(*acc));
		for (size_t j = 0; j <= t.mask; j++) {
			const struct tf_slot *f = &t.slot[j];
			if (!f->hash)
				continue;
			double w = f->count == 1 ? f->weight : f->weight * (1.0 + log((double)f->count));
			uint64_t h = mix64(f->hash);
			acc[h % dim] += (h >> 63) ? -w : w;
		}
		double ss = 0;
		for (unsigned d = 0; d < dim; d++)
			ss += acc[d] * acc[d];
		double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
		float *v = out + i * dim;
		for (unsigned d = 0; d < dim; d++)
			v[d] = (float)(acc[d] * inv);
	}
	base_free(acc);
	base_free(t.slot);
	return BASE_OK;
}

static const struct embed_ops hash_ops = { hash_texts, NULL };

int embed__hash_open(struct embed *e, const char *spec, struct base_err *err)
{
	unsigned long dim = HASH_DEFAULT_DIM;
	if (spec[4] == ':') {
		char *end = NULL;
		dim = strtoul(spec + 5, &end, 10);
		if (!end || *end || dim < HASH_MIN_DIM || dim > HASH_MAX_DIM || dim % 16)
			return base_err_set(err, BASE_E_INVAL,
					    "bad embedder spec '%s': want hash:DIM with DIM a multiple of 16 in [%d, %d]",
					    spec, HASH_MIN_DIM, HASH_MAX_DIM);
	}
	e->ops = &hash_ops;
	e->dim = (unsigned)dim;
	snprintf(e->model_id, sizeof(e->model_id), "hash-v%d-%lu", HASH_VERSION, dim);
	snprintf(e->describe, sizeof(e->describe),
		 "hash: code-aware feature hashing, %lu-d (a lexical sketch, not a neural model)", dim);
	return BASE_OK;
}
