/*
 * chunks.h: the token-id chunks both encoder benchmarks run (header-only,
 * for bench/encoder_bench.c and bench/encoder_cpu.c).
 *
 * Chunks: token-id sequences whose lengths are lognormal (median 180,
 * sigma 0.6) clipped to 16..BENCH_CTX, [CLS] ... [SEP] (bert-base's ids
 * 101/102), fixed seed; written one chunk a line, ids separated by spaces
 * (bench/encoder_peer.py and bench/encoder_peer_cpu.py read that file).
 * A plan sorts them by length and cuts batches of whole chunks.
 */
#ifndef LODE_BENCH_CHUNKS_H
#define LODE_BENCH_CHUNKS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

#define BENCH_VOCAB 30522
#define BENCH_CTX 512

static uint64_t bench_rng = 0x5EED;

static inline uint64_t bench_next(void)
{
	uint64_t z = (bench_rng += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline double bench_uniform(void)
{
	return ((double)(bench_next() >> 11) + 0.5) / 9007199254740992.0;
}

/* ---- chunks --------------------------------------------------------------------- */

struct bench_chunks {
	int32_t *ids;
	uint32_t *offs; /* n + 1 */
	size_t n;
};

static inline void bench_chunks_make(struct bench_chunks *c, size_t n)
{
	uint32_t *len = base_malloc(n * sizeof(*len));
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		double z = sqrt(-2.0 * log(bench_uniform())) * cos(2.0 * 3.14159265358979 * bench_uniform());
		double l = exp(log(180.0) + 0.6 * z);
		len[i] = (uint32_t)(l < 16 ? 16 : l > BENCH_CTX ? BENCH_CTX : l);
		total += len[i];
	}
	c->n = n;
	c->ids = base_malloc(total * sizeof(*c->ids));
	c->offs = base_malloc((n + 1) * sizeof(*c->offs));
	c->offs[0] = 0;
	for (size_t i = 0, t = 0; i < n; i++) {
		for (uint32_t k = 0; k < len[i]; k++)
			c->ids[t + k] = k == 0 ? 101 : k + 1 == len[i] ? 102 : (int32_t)(1000 + bench_next() % (BENCH_VOCAB - 1000));
		t += len[i];
		c->offs[i + 1] = (uint32_t)t;
	}
	base_free(len);
}

static inline int bench_chunks_write(const struct bench_chunks *c, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	for (size_t i = 0; i < c->n; i++)
		for (uint32_t t = c->offs[i]; t < c->offs[i + 1]; t++)
			fprintf(f, "%d%c", c->ids[t], t + 1 == c->offs[i + 1] ? '\n' : ' ');
	return fclose(f);
}

static inline int bench_chunks_read(struct bench_chunks *c, const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	BASE_VEC(int32_t) ids = BASE_VEC_INIT;
	BASE_VEC(uint32_t) offs = BASE_VEC_INIT;
	base_vec_push(&offs, 0);
	long v;
	int ch;
	while (fscanf(f, "%ld", &v) == 1) {
		base_vec_push(&ids, (int32_t)v);
		while ((ch = fgetc(f)) == ' ')
			;
		if (ch == '\n' || ch == EOF)
			base_vec_push(&offs, (uint32_t)ids.n);
		else
			ungetc(ch, f);
	}
	fclose(f);
	if (offs.v[offs.n - 1] != ids.n)
		base_vec_push(&offs, (uint32_t)ids.n);
	c->ids = ids.v;
	c->offs = offs.v;
	c->n = offs.n - 1;
	return 0;
}

static inline void bench_chunks_release(struct bench_chunks *c)
{
	base_free(c->ids);
	base_free(c->offs);
}

/* The chunks sorted by length, packed: ids and offs of the whole run, batch boundaries in seqs. */
struct bench_plan {
	int32_t *ids;
	uint32_t *offs;
	size_t *batch; /* first sequence of each batch; n_batch + 1 */
	size_t n_batch, n_seq, tokens;
};

static inline void bench_plan_make(struct bench_plan *p, const struct bench_chunks *c, size_t budget)
{
	/* a stable counting sort by length: lengths are at most BENCH_CTX */
	uint32_t *order = base_malloc(c->n * sizeof(*order));
	size_t count[BENCH_CTX + 2] = { 0 };
	for (size_t i = 0; i < c->n; i++)
		count[c->offs[i + 1] - c->offs[i]]++;
	for (size_t l = 1; l <= BENCH_CTX + 1; l++)
		count[l] += count[l - 1];
	for (size_t i = c->n; i-- > 0;)
		order[--count[c->offs[i + 1] - c->offs[i]]] = (uint32_t)i;
	p->ids = base_malloc(c->offs[c->n] * sizeof(*p->ids));
	p->offs = base_malloc((c->n + 1) * sizeof(*p->offs));
	p->batch = base_malloc((c->n + 1) * sizeof(*p->batch));
	p->n_seq = c->n;
	p->n_batch = 0;
	size_t t = 0, in_batch = 0;
	p->offs[0] = 0;
	for (size_t i = 0; i < c->n; i++) {
		uint32_t s = order[i], L = c->offs[s + 1] - c->offs[s];
		if (i == 0 || in_batch + L > budget) {
			p->batch[p->n_batch++] = i;
			in_batch = 0;
		}
		memcpy(p->ids + t, c->ids + c->offs[s], L * sizeof(int32_t));
		t += L;
		in_batch += L;
		p->offs[i + 1] = (uint32_t)t;
	}
	p->batch[p->n_batch] = c->n;
	p->tokens = t;
	base_free(order);
}

static inline void bench_plan_release(struct bench_plan *p)
{
	base_free(p->ids);
	base_free(p->offs);
	base_free(p->batch);
}

/*
 * The chunks of a run: read from ids_path (every line 1..BENCH_CTX ids),
 * else made (n of them); then written to write_path when given. 0: go on;
 * 1: written, the program is done; -1: failed (a message on stderr).
 */
static inline int bench_chunks_get(struct bench_chunks *c, const char *prog, const char *ids_path,
				   const char *write_path, size_t n)
{
	if (ids_path) {
		if (bench_chunks_read(c, ids_path) || c->n == 0) {
			fprintf(stderr, "%s: cannot read %s\n", prog, ids_path);
			return -1;
		}
		for (size_t i = 0; i < c->n; i++)
			if (c->offs[i + 1] == c->offs[i] || c->offs[i + 1] - c->offs[i] > BENCH_CTX) {
				fprintf(stderr, "%s: %s: line %zu: 1..%d tokens a chunk\n", prog, ids_path, i + 1, BENCH_CTX);
				bench_chunks_release(c);
				return -1;
			}
	} else {
		bench_chunks_make(c, n ? n : 1);
	}
	if (!write_path)
		return 0;
	int rc = bench_chunks_write(c, write_path);
	if (rc)
		fprintf(stderr, "%s: cannot write %s\n", prog, write_path);
	bench_chunks_release(c);
	return rc ? -1 : 1;
}

#endif /* LODE_BENCH_CHUNKS_H */
