/*
 * vector_recall.c: recall@10 of an approximate vector index against exact
 * search over the same vectors, for real queries.
 *
 *   vector_recall EXACT.faiss APPROX.faiss QUERIES_FILE [NPROBE...]
 *
 * Queries (one a line) are embedded with the built-in hash embedder. For
 * each nprobe: recall@10 (the share of the exact top 10 the approximate
 * index returns) and search p50 in ms, single-threaded. One JSON object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/embed.h"
#include "store/store.h"
#include "store/vindex.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: vector_recall EXACT.faiss APPROX.faiss QUERIES_FILE [NPROBE...]\n");
		return 1;
	}
	struct base_err err;
	struct store_vindex *exact = store_vindex_load(argv[1], &err);
	struct store_vindex *approx = exact ? store_vindex_load(argv[2], &err) : NULL;
	if (!approx) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	struct embed *e = embed_open(NULL, &err);
	FILE *f = fopen(argv[3], "r");
	char line[4096];
	size_t nq = 0, dim = embed_dim(e);
	float *q = NULL;
	while (f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		q = realloc(q, (nq + 1) * dim * sizeof(float));
		const char *t = line;
		size_t len = strlen(line);
		embed_texts(e, EMBED_QUERY, &t, &len, 1, q + nq * dim, &err);
		store_vec_round(q + nq * dim, dim);
		nq++;
	}
	if (f)
		fclose(f);
	enum { K = 10 };
	int64_t *truth = malloc(nq * K * sizeof(*truth)), got[K];
	float scores[K];
	for (size_t i = 0; i < nq; i++)
		store_vindex_search(exact, q + i * dim, 1, K, truth + i * K, scores, &err);
	printf("{\"queries\": %zu, \"exact\": \"%s\", \"approx\": \"%s\", \"vectors\": %zu, \"runs\": [", nq,
	       store_vindex_factory(exact), store_vindex_factory(approx), store_vindex_count(approx));
	double *ms = malloc(nq * sizeof(*ms));
	for (int a = 4; a < argc || a == 4; a++) {
		size_t nprobe = a < argc ? (size_t)atoi(argv[a]) : STORE_VINDEX_NPROBE;
		store_vindex_set_nprobe(approx, nprobe);
		size_t hit = 0, total = 0;
		for (size_t i = 0; i < nq; i++) {
			uint64_t t0 = base_now_ns();
			store_vindex_search(approx, q + i * dim, 1, K, got, scores, &err);
			ms[i] = (double)(base_now_ns() - t0) / 1e6;
			for (int x = 0; x < K; x++) {
				if (truth[i * K + x] < 0)
					continue;
				total++;
				for (int y = 0; y < K; y++)
					hit += got[y] == truth[i * K + x];
			}
		}
		qsort(ms, nq, sizeof(*ms), cmp_double);
		printf("%s{\"nprobe\": %zu, \"recall_at_10\": %.4f, \"p50_ms\": %.2f}", a > 4 ? ", " : "", nprobe,
		       total ? (double)hit / (double)total : 0.0, ms[nq / 2]);
		if (a >= argc)
			break;
	}
	uint64_t t0 = base_now_ns();
	for (size_t i = 0; i < nq; i++)
		store_vindex_search(exact, q + i * dim, 1, K, got, scores, &err);
	printf("], \"exact_mean_ms\": %.2f, \"exact_bytes\": %llu, \"approx_bytes\": %llu}\n",
	       (double)(base_now_ns() - t0) / 1e6 / (double)nq, (unsigned long long)store_vindex_bytes(exact),
	       (unsigned long long)store_vindex_bytes(approx));
	return 0;
}
