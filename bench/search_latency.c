/*
 * search_latency.c: in-process search latency, the way `lode serve` runs
 * queries: one idx_reader opened once, queries run back to back.
 *
 *   search_latency REPO MODE QUERIES_FILE [ROUNDS]
 *
 * QUERIES_FILE holds one query a line. The first round warms up (loads the
 * vectors, fills the page cache) and is not timed. Prints one JSON object:
 * p50/p95/max in ms, queries, mode used, open time and RSS after opening.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "indexer/reader.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: search_latency REPO MODE QUERIES_FILE [ROUNDS]\n");
		return 1;
	}
	enum idx_mode mode;
	if (!idx_mode_parse(argv[2], &mode)) {
		fprintf(stderr, "bad mode %s\n", argv[2]);
		return 1;
	}
	int rounds = argc > 4 ? atoi(argv[4]) : 3;
	FILE *f = fopen(argv[3], "r");
	if (!f) {
		perror(argv[3]);
		return 1;
	}
	char **qs = NULL;
	size_t nq = 0;
	char line[4096];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		qs = realloc(qs, (nq + 1) * sizeof(*qs));
		qs[nq++] = strdup(line);
	}
	fclose(f);
	struct base_err err;
	uint64_t t0 = base_now_ns();
	struct idx_reader *r = idx_reader_open(argv[1], &err);
	if (!r) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	double *ms = malloc(nq * (size_t)rounds * sizeof(*ms));
	size_t n = 0;
	double open_ms = 0;
	enum idx_mode used = mode;
	for (int round = 0; round <= rounds; round++) {
		for (size_t i = 0; i < nq; i++) {
			struct idx_query q = { .text = qs[i], .k = 10, .mode = mode };
			struct store_hits h = STORE_HITS_INIT;
			struct idx_answer ans;
			uint64_t s = base_now_ns();
			if (idx_search(r, &q, &h, &ans, &err)) {
				fprintf(stderr, "%s\n", err.msg);
				return 2;
			}
			double dt = (double)(base_now_ns() - s) / 1e6;
			used = ans.mode;
			store_hits_release(&h);
			if (round == 0 && i == 0)
				open_ms = (double)(base_now_ns() - t0) / 1e6;
			if (round > 0)
				ms[n++] = dt;
		}
	}
	qsort(ms, n, sizeof(*ms), cmp_double);
	printf("{\"mode\": \"%s\", \"queries\": %zu, \"p50_ms\": %.3f, \"p95_ms\": %.3f, \"max_ms\": %.3f,"
	       " \"first_query_ms\": %.1f, \"rss_kb\": %ld}\n",
	       idx_mode_name(used), n, ms[n / 2], ms[(n * 95) / 100], ms[n - 1], open_ms, rss_kb());
	idx_reader_close(r);
	return 0;
}
