/*
 * test_vindex.c: the FAISS vector index (store/vindex.h), against a
 * brute-force reference.
 */
#include "test.h"

#include <dirent.h>
#include <math.h>
#include <sys/stat.h>

#include "store/vindex.h"

#include "base/banned.h"

#define DIM 32

/* n random unit vectors around `nclusters` random centres. */
static float *clustered(size_t n, size_t nclusters)
{
	float *c = base_malloc(nclusters * DIM * sizeof(*c));
	for (size_t i = 0; i < nclusters * DIM; i++)
		c[i] = (float)((double)(t_rand() % 2000) / 1000.0 - 1.0);
	float *v = base_malloc(n * DIM * sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const float *centre = c + (t_rand() % nclusters) * DIM;
		double ss = 0;
		for (size_t d = 0; d < DIM; d++) {
			float x = centre[d] + (float)((double)(t_rand() % 2000) / 2000.0 - 0.5);
			v[i * DIM + d] = x;
			ss += (double)x * x;
		}
		for (size_t d = 0; d < DIM; d++)
			v[i * DIM + d] /= (float)sqrt(ss);
	}
	base_free(c);
	return v;
}

/* The exact top k of q among vectors v (ids[i] for row i), skipping dead rows. */
static void brute(const float *v, const int64_t *ids, const bool *dead, size_t n, const float *q, size_t k,
		  int64_t *out)
{
	float *best = base_malloc(k * sizeof(*best));
	for (size_t i = 0; i < k; i++) {
		out[i] = -1;
		best[i] = -1e30f;
	}
	for (size_t i = 0; i < n; i++) {
		if (dead && dead[i])
			continue;
		float s = 0;
		for (size_t d = 0; d < DIM; d++)
			s += v[i * DIM + d] * q[d];
		size_t j = k;
		while (j > 0 && s > best[j - 1])
			j--;
		if (j == k)
			continue;
		memmove(best + j + 1, best + j, (k - j - 1) * sizeof(*best));
		memmove(out + j + 1, out + j, (k - j - 1) * sizeof(*out));
		best[j] = s;
		out[j] = ids[i];
	}
	base_free(best);
}

static int64_t *make_ids(size_t n)
{
	int64_t *ids = base_malloc(n * sizeof(*ids));
	for (size_t i = 0; i < n; i++)
		ids[i] = (int64_t)(i * 32 + 7); /* lode-like: sparse, length class in the low bits */
	return ids;
}

/* Flat is exact: the same top k as brute force, before and after removals. */
static void flat_exact(void)
{
	size_t n = 2000, k = 10;
	float *v = clustered(n, 20);
	int64_t *ids = make_ids(n);
	struct base_err err = { 0, "" };
	struct store_vindex *vi = store_vindex_new(DIM, NULL, &err);
	T_TRUE(vi != NULL);
	T_EQ_STR(store_vindex_factory(vi), "Flat");
	T_TRUE(!store_vindex_needs_training(vi));
	T_OK(store_vindex_add(vi, ids, v, n, &err));
	T_EQ_INT(store_vindex_count(vi), n);
	bool *dead = base_calloc(n, sizeof(*dead));
	int64_t got[10], want[10];
	float scores[10];
	for (int round = 0; round < 2; round++) {
		for (size_t q = 0; q < 50; q++) {
			const float *qv = v + (t_rand() % n) * DIM;
			T_OK(store_vindex_search(vi, qv, 1, k, got, scores, &err));
			brute(v, ids, dead, n, qv, k, want);
			for (size_t i = 0; i < k; i++)
				T_EQ_INT(got[i], want[i]);
			for (size_t i = 1; i < k; i++)
				T_TRUE(scores[i] <= scores[i - 1]);
		}
		/* remove every third vector (and ids that were never there) */
		BASE_VEC(int64_t) rm = BASE_VEC_INIT;
		for (size_t i = (size_t)round; i < n; i += 3) {
			base_vec_push(&rm, ids[i]);
			dead[i] = true;
		}
		base_vec_push(&rm, (int64_t)999999999);
		size_t removed = 0;
		T_OK(store_vindex_remove(vi, rm.v, rm.n, &removed, &err));
		T_EQ_INT(removed, rm.n - 1);
		base_vec_release(&rm);
	}
	/* fewer than k vectors: padded with -1 */
	struct store_vindex *small = store_vindex_new(DIM, "Flat", &err);
	T_OK(store_vindex_add(small, ids, v, 3, &err));
	T_OK(store_vindex_search(small, v, 1, k, got, scores, &err));
	T_EQ_INT(got[2] >= 0, 1);
	T_EQ_INT(got[3], -1);
	store_vindex_free(small);
	store_vindex_free(vi);
	base_free(dead);
	base_free(ids);
	base_free(v);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void check_ids(struct store_vindex *vi, const int64_t *want, size_t n)
{
	int64_t *have = NULL;
	size_t nhave = 0;
	struct base_err err;
	T_OK(store_vindex_ids(vi, &have, &nhave, &err));
	T_EQ_INT(nhave, n);
	qsort(have, nhave, sizeof(*have), cmp_i64);
	for (size_t i = 0; i < n; i++)
		T_EQ_INT(have[i], want[i]);
	base_free(have);
}

/* IVF with 8-bit codes: trained, recall@10 against exact search, remove. */
static void ivf_sq8_recall(void)
{
	size_t n = 20000, k = 10;
	char factory[64];
	store_vindex_auto_factory(n, DIM, factory, sizeof(factory));
	T_EQ_STR(factory, "Flat");
	store_vindex_auto_factory(1000000, DIM, factory, sizeof(factory));
	T_EQ_STR(factory, "IVF256,SQ8");
	float *v = clustered(n, 64);
	int64_t *ids = make_ids(n);
	struct base_err err = { 0, "" };
	struct store_vindex *vi = store_vindex_new(DIM, "IVF64,SQ8", &err);
	T_TRUE(vi != NULL);
	T_TRUE(store_vindex_needs_training(vi));
	T_TRUE(store_vindex_add(vi, ids, v, 10, &err) != BASE_OK); /* untrained */
	T_OK(store_vindex_train(vi, v, 5000, &err));
	T_OK(store_vindex_add(vi, ids, v, n, &err));
	check_ids(vi, ids, n);
	store_vindex_set_nprobe(vi, 16);
	size_t hits = 0, total = 0;
	int64_t got[10], want[10];
	float scores[10];
	for (size_t q = 0; q < 100; q++) {
		const float *qv = v + (t_rand() % n) * DIM;
		T_OK(store_vindex_search(vi, qv, 1, k, got, scores, &err));
		brute(v, ids, NULL, n, qv, k, want);
		for (size_t i = 0; i < k; i++)
			for (size_t j = 0; j < k; j++)
				hits += got[i] == want[j];
		total += k;
	}
	double recall = (double)hits / (double)total;
	fprintf(stderr, "  IVF64,SQ8 nprobe 16 recall@10 %.3f, %.0f bytes/vector (Flat %u)\n", recall,
		(double)store_vindex_bytes(vi) / (double)n, DIM * 4 + 8);
	T_TRUE(recall >= 0.9);
	T_TRUE(store_vindex_bytes(vi) < (uint64_t)n * (DIM * 4 + 8) / 2);
	size_t removed = 0;
	T_OK(store_vindex_remove(vi, ids, n / 2, &removed, &err));
	T_EQ_INT(removed, n / 2);
	check_ids(vi, ids + n / 2, n - n / 2);
	for (size_t q = 0; q < 20; q++) {
		T_OK(store_vindex_search(vi, v + q * DIM, 1, k, got, scores, &err));
		for (size_t i = 0; i < k; i++)
			T_TRUE(got[i] == -1 || got[i] >= ids[n / 2]);
	}
	store_vindex_free(vi);
	base_free(ids);
	base_free(v);
}

static void refused(void)
{
	struct base_err err = { 0, "" };
	T_TRUE(store_vindex_new(DIM, "HNSW32", &err) == NULL);
	T_EQ_INT(err.code, BASE_E_UNSUPPORTED);
	T_TRUE(strstr(err.msg, "remove") != NULL);
	T_TRUE(store_vindex_new(DIM, "NoSuchIndex42", &err) == NULL);
	T_EQ_INT(err.code, BASE_E_INVAL);
	T_TRUE(strstr(err.msg, "FAISS") != NULL);
	struct store_vindex *vi = store_vindex_new(DIM, "IVF8,SQ8", &err);
	T_TRUE(vi != NULL);
	float few[DIM * 2] = { 0 };
	T_TRUE(store_vindex_train(vi, few, 2, &err) != BASE_OK); /* fewer points than lists */
	store_vindex_free(vi);
}

static size_t count_files(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	T_TRUE(f != NULL);
	T_EQ_INT(fwrite(p, 1, n, f), n);
	fclose(f);
}

/* Save and load give the same answers; damaged files are refused by name. */
static void save_load(void)
{
	char dir[] = "/tmp/lode-vix-XXXXXX";
	T_TRUE(mkdtemp(dir) != NULL);
	char path[128], bad[128];
	snprintf(path, sizeof(path), "%s/v.faiss", dir);
	size_t n = 3000, k = 5;
	float *v = clustered(n, 16);
	int64_t *ids = make_ids(n);
	struct base_err err = { 0, "" };
	const char *factories[] = { "Flat", "IVF16,SQ8" };
	for (size_t f = 0; f < 2; f++) {
		struct store_vindex *vi = store_vindex_new(DIM, factories[f], &err);
		if (store_vindex_needs_training(vi))
			T_OK(store_vindex_train(vi, v, n, &err));
		T_OK(store_vindex_add(vi, ids, v, n, &err));
		T_OK(store_vindex_save(vi, path, &err));
		T_EQ_INT(count_files(dir), 1); /* no temp file left */
		struct store_vindex *back = store_vindex_load(path, &err);
		if (!back)
			T_FAIL("load: %s", err.msg);
		T_EQ_STR(store_vindex_factory(back), factories[f]);
		T_EQ_INT(store_vindex_count(back), n);
		T_EQ_INT(store_vindex_dim(back), DIM);
		for (size_t q = 0; q < 20; q++) {
			int64_t a[5], b[5];
			float sa[5], sb[5];
			T_OK(store_vindex_search(vi, v + q * DIM, 1, k, a, sa, &err));
			T_OK(store_vindex_search(back, v + q * DIM, 1, k, b, sb, &err));
			T_TRUE(memcmp(a, b, sizeof(a)) == 0);
		}
		store_vindex_free(back);
		/* a save that fails leaves the old file whole */
		char nodir[160];
		snprintf(nodir, sizeof(nodir), "%s/missing/v.faiss", dir);
		T_EQ_INT(store_vindex_save(vi, nodir, &err), BASE_E_IO);
		store_vindex_free(vi);
	}
	/* truncated at many points, garbage, foreign: BASE_E_CORRUPT naming the file */
	struct base_buf whole = BASE_BUF_INIT(BASE_CAP_FILE);
	T_OK(base_buf_read_file(&whole, path, &err));
	snprintf(bad, sizeof(bad), "%s/bad.faiss", dir);
	size_t cuts[] = { 0, 4, 8, 40, 72, 80, 200, whole.len / 2, whole.len - 1 };
	for (size_t i = 0; i < BASE_ARRAY_LEN(cuts); i++) {
		write_bytes(bad, whole.data, cuts[i]);
		T_TRUE(store_vindex_load(bad, &err) == NULL);
		T_EQ_INT(err.code, BASE_E_CORRUPT);
		T_TRUE(strstr(err.msg, bad) != NULL);
	}
	/* a flipped byte in the payload */
	whole.data[whole.len / 2] ^= 0x40;
	write_bytes(bad, whole.data, whole.len);
	T_TRUE(store_vindex_load(bad, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_CORRUPT);
	T_TRUE(strstr(err.msg, "checksum") != NULL);
	write_bytes(bad, "SQLite format 3\0 and then some more bytes", 40);
	T_TRUE(store_vindex_load(bad, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_CORRUPT);
	snprintf(bad, sizeof(bad), "%s/none.faiss", dir);
	T_TRUE(store_vindex_load(bad, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_NOTFOUND);
	base_buf_release(&whole);
	base_free(ids);
	base_free(v);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	T_EQ_INT(system(cmd), 0);
}

T_MAIN(T_ENTRY(flat_exact), T_ENTRY(ivf_sq8_recall), T_ENTRY(refused), T_ENTRY(save_load))
