/*
 * index_check.h: checks shared by the indexer tests (static helpers, one
 * copy per test binary): the saved FAISS index holds exactly SQLite's
 * chunks.
 */
#ifndef LODE_TEST_INDEX_CHECK_H
#define LODE_TEST_INDEX_CHECK_H

#include <dirent.h>
#include <sqlite3.h>

#include "store/vindex.h"
#include "test.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* The newest saved vectors file of a repository (path into buf), or false. */
static bool vectors_file(const char *repo, char *buf, size_t cap)
{
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/.lode", repo);
	DIR *d = opendir(dir);
	T_TRUE(d != NULL);
	long long best = -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		long long seq;
		if (sscanf(e->d_name, "vectors.%lld.faiss", &seq) == 1 && seq > best)
			best = seq;
	}
	closedir(d);
	if (best < 0)
		return false;
	snprintf(buf, cap, "%s/vectors.%lld.faiss", dir, best);
	return true;
}

/* SQLite's chunk ids, sorted. */
static size_t sqlite_ids(const char *repo, int64_t **out)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/.lode/index.db", repo);
	sqlite3 *db = NULL;
	T_EQ_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	T_EQ_INT(sqlite3_prepare_v2(db, "SELECT id FROM chunks ORDER BY id", -1, &st, NULL), SQLITE_OK);
	BASE_VEC(int64_t) ids = BASE_VEC_INIT;
	while (sqlite3_step(st) == SQLITE_ROW)
		base_vec_push(&ids, sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	*out = ids.v;
	return ids.n;
}

/* The saved FAISS index holds exactly SQLite's chunks. */
static void check_consistent(const char *repo)
{
	char path[512];
	T_TRUE(vectors_file(repo, path, sizeof(path)));
	struct base_err err = { 0, "" };
	struct store_vindex *vi = store_vindex_load(path, &err);
	if (!vi)
		T_FAIL("load %s: %s", path, err.msg);
	int64_t *have = NULL, *want = NULL;
	size_t nhave = 0;
	T_OK(store_vindex_ids(vi, &have, &nhave, &err));
	size_t nwant = sqlite_ids(repo, &want);
	qsort(have, nhave, sizeof(*have), cmp_i64);
	T_EQ_INT(nhave, nwant);
	for (size_t i = 0; i < nwant; i++)
		T_EQ_INT(have[i], want[i]);
	T_TRUE(nwant > 0);
	base_free(have);
	base_free(want);
	store_vindex_free(vi);
}

#endif /* LODE_TEST_INDEX_CHECK_H */
