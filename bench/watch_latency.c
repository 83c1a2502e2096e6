/*
 * watch_latency.c: save-to-searchable latency against a running
 * `lode watch`, measured from the outside as a user sees it.
 *
 *   watch_latency REPO EDITS MASS
 *
 * EDITS times: append a unique marker line to a random indexed C file, then
 * search for the marker (lexical, in-process reader, every 2 ms) until it
 * is found. Then MASS files get a line appended at once, and the time until
 * every one of them is indexed is measured (idx_wait_indexed). Prints one
 * JSON object. The files are restored afterwards by the caller (git or a copy).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "indexer/reader.h"
#include "indexer/watch.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int collect(void *payload, const struct store_file *f)
{
	struct { char **v; size_t n, cap; } *files = payload;
	size_t len = strlen(f->path);
	if (len < 3 || strcmp(f->path + len - 2, ".c") != 0)
		return 0;
	if (files->n == files->cap) {
		files->cap = files->cap ? 2 * files->cap : 1024;
		files->v = realloc(files->v, files->cap * sizeof(*files->v));
	}
	files->v[files->n++] = strdup(f->path);
	return 0;
}

static bool found(struct idx_reader *r, const char *marker)
{
	struct idx_query q = { .text = marker, .k = 5, .mode = IDX_MODE_LEXICAL };
	struct store_hits h = STORE_HITS_INIT;
	struct base_err err;
	bool ok = false;
	if (idx_search(r, &q, &h, NULL, &err) == BASE_OK)
		for (size_t i = 0; i < h.n && !ok; i++)
			ok = strstr(h.v[i].text, marker) != NULL;
	store_hits_release(&h);
	return ok;
}

/* A word of letters only (digits would split it into parts). */
static void letters(char *out, unsigned long v)
{
	do {
		*out++ = (char)('a' + v % 26);
		v /= 26;
	} while (v);
	*out = '\0';
}

static void append(const char *root, const char *rel, const char *line)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	FILE *f = fopen(path, "a");
	if (f) {
		fputs(line, f);
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: watch_latency REPO EDITS MASS\n");
		return 1;
	}
	const char *root = argv[1];
	int edits = atoi(argv[2]), mass = atoi(argv[3]);
	struct base_err err;
	struct idx_reader *r = idx_reader_open(root, &err);
	if (!r) {
		fprintf(stderr, "%s\n", err.msg);
		return 2;
	}
	char *db = idx_db_path(root);
	struct store *s = store_open(db, STORE_READ, &err);
	free(db);
	struct { char **v; size_t n, cap; } files = { NULL, 0, 0 };
	store_files_each(s, collect, &files, &err);
	store_close(s);
	srand(42);
	double *ms = malloc((size_t)edits * sizeof(*ms));
	for (int i = 0; i < edits; i++) {
		const char *rel = files.v[(size_t)rand() % files.n];
		char marker[64], line[96], a[16], b[16];
		letters(a, (unsigned long)i);
		letters(b, (unsigned long)getpid());
		snprintf(marker, sizeof(marker), "lodewatchmarker%sq%s", a, b);
		snprintf(line, sizeof(line), "/* %s */\n", marker);
		uint64_t t0 = base_now_ns();
		append(root, rel, line);
		while (!found(r, marker)) {
			struct timespec ts = { 0, 2000000 };
			nanosleep(&ts, NULL);
			if (base_now_ns() - t0 > 30ull * 1000000000) {
				fprintf(stderr, "edit %d of %s not searchable after 30 s\n", i, rel);
				return 2;
			}
		}
		ms[i] = (double)(base_now_ns() - t0) / 1e6;
	}
	qsort(ms, (size_t)edits, sizeof(*ms), cmp_double);
	/* a mass change: MASS files at once */
	const char **paths = malloc((size_t)mass * sizeof(*paths));
	for (int i = 0; i < mass && (size_t)i < files.n; i++)
		paths[i] = files.v[((size_t)i * 7919) % files.n];
	uint64_t t0 = base_now_ns();
	for (int i = 0; i < mass; i++)
		append(root, paths[i], "/* lode mass change */\n");
	uint64_t written = base_now_ns();
	int rc = idx_wait_indexed(root, paths, (size_t)mass, 600000, &err);
	double mass_s = (double)(base_now_ns() - t0) / 1e9;
	printf("{\"edits\": %d, \"p50_ms\": %.1f, \"p95_ms\": %.1f, \"max_ms\": %.1f, \"mass_files\": %d,"
	       " \"mass_write_s\": %.2f, \"mass_indexed_s\": %.2f, \"mass_ok\": %s}\n",
	       edits, ms[edits / 2], ms[(edits * 95) / 100], ms[edits - 1], mass, (double)(written - t0) / 1e9, mass_s,
	       rc ? "false" : "true");
	idx_reader_close(r);
	return rc ? 2 : 0;
}
