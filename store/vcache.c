/*
 * vcache.c: the content-addressed vector cache (store.h, "Vector cache").
 *
 * One SQLite file per user, shared by every repository and worktree:
 *
 *   models(id, name, dim)      one row per model id
 *   vec(id, model, hash, v)    hash = XXH3-128 of the chunk text,
 *                              v = dim IEEE half floats
 *   vec_key(model, hash)       the lookup index
 *
 * Rows are appended in rowid order and found through the small vec_key
 * index: content hashes are random, and a table keyed by them would
 * rewrite a random page of vectors for every insert, where this layout
 * writes vectors sequentially and keeps the hot index pages in the
 * connection's cache.
 *
 * Half precision halves the file and loses nothing a cosine ranking can
 * see (relative error 2^-11); vectors are rounded through half before they
 * enter any index too (store_vec_round), so a vector read from the cache is
 * bit-identical to the one computed fresh.
 *
 * Writes go through a queue to a thread of the cache's own, on a
 * connection of its own: each time it wakes it inserts everything queued in
 * one transaction. Lookups use another connection and never wait for a
 * commit (WAL); a vector still queued is simply not found yet. Another process holding the write
 * lock past the busy timeout only means those vectors are not cached: the
 * cache is never the source of truth (index.db keeps every chunk's text).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/internal.h"

#include "base/banned.h"

/* Puts queued for the writer thread, at most (beyond: not cached). */
#define VCACHE_QUEUE_MAX ((size_t)256 << 20)
#define VCACHE_BUSY_MS 2000
#define VCACHE_CACHE_KIB 65536
/* The table layout; another one in the file is dropped (it is a cache). */
#define VCACHE_LAYOUT 2
#define VCACHE_LAYOUT_STR "2"

struct store_vcache {
	sqlite3 *db;
	char *path;
	int64_t model;
	unsigned dim;
	pthread_mutex_t mu;
	sqlite3_stmt *get, *put;  /* get on db (lookups), put on wdb (the writer thread) */
	sqlite3 *wdb;
	/* puts wait here for the writer thread: workers never wait on a commit */
	pthread_mutex_t qmu;
	pthread_cond_t qcond;
	struct base_buf queue;    /* entries: hash, then dim half floats */
	bool writing, stop, started;
	pthread_t thread;
	uint16_t *half; /* scratch: one vector */
	struct store_vcache_stats stats;
};

/* ---- half floats ------------------------------------------------------ */

static uint16_t half_from_float(float f)
{
	uint32_t x;
	memcpy(&x, &f, sizeof(x));
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t mag = x & 0x7fffffff;
	if (mag >= 0x7f800000) /* inf or nan */
		return (uint16_t)(sign | 0x7c00 | (mag > 0x7f800000 ? 0x200 : 0));
	if (mag >= 0x477ff000) /* rounds past the largest half: inf */
		return (uint16_t)(sign | 0x7c00);
	if (mag < 0x38800000) { /* subnormal half or zero */
		if (mag < 0x33000000)
			return (uint16_t)sign;
		uint32_t m = (mag & 0x7fffff) | 0x800000;
		int shift = 126 - (int)(mag >> 23); /* 14..24 */
		uint32_t h = m >> shift;
		uint32_t rem = m & ((1u << shift) - 1), halfway = 1u << (shift - 1);
		if (rem > halfway || (rem == halfway && (h & 1)))
			h++;
		return (uint16_t)(sign | h);
	}
	uint32_t h = ((mag >> 13) - (112u << 10));
	uint32_t rem = mag & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++;
	return (uint16_t)(sign | h);
}

static float half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, x;
	if (exp == 0) {
		if (!mant) {
			x = sign;
		} else { /* subnormal: normalise */
			int e = -1;
			do {
				e++;
				mant <<= 1;
			} while (!(mant & 0x400));
			x = sign | ((uint32_t)(112 - e) << 23) | ((mant & 0x3ff) << 13);
		}
	} else if (exp == 31) {
		x = sign | 0x7f800000 | (mant << 13);
	} else {
		x = sign | ((exp + 112) << 23) | (mant << 13);
	}
	float f;
	memcpy(&f, &x, sizeof(f));
	return f;
}

void store_vec_round(float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = half_to_float(half_from_float(v[i]));
}

/* ---- the cache -------------------------------------------------------- */

static int cache_err(struct store_vcache *c, int rc, struct base_err *err, const char *what)
{
	return base_err_set(err, (rc & 0xff) == SQLITE_BUSY ? BASE_E_BUSY : BASE_E_DB, "vector cache %s: cannot %s: %s",
			    c->path, what, sqlite3_errmsg(c->db));
}

char *store_vcache_default_path(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	if (xdg && *xdg == '/')
		return base_strfmt("%s/lode/vectors.db", xdg);
	if (home && *home)
		return base_strfmt("%s/.cache/lode/vectors.db", home);
	return NULL;
}

/* mkdir -p of the directory part of `path`. */
static void make_parent(const char *path)
{
	char *dir = base_strdup(path);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0777);
		*p = '/';
	}
	base_free(dir);
}

static int layout_version(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int v = 0;
	if (sqlite3_prepare_v2(db, "SELECT v FROM vec_layout", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int model_id(struct store_vcache *c, const char *name, unsigned dim, struct base_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(c->db, "INSERT INTO models(name, dim) VALUES(?1, ?2) ON CONFLICT(name) DO NOTHING",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)dim);
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(c->db, "SELECT id, dim FROM models WHERE name = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			c->model = sqlite3_column_int64(st, 0);
			rc = sqlite3_column_int(st, 1) == (int)dim ? SQLITE_OK : SQLITE_MISMATCH;
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_MISMATCH)
		return base_err_set(err, BASE_E_CORRUPT, "vector cache %s: model %s is stored with another dimension",
				    c->path, name);
	return rc == SQLITE_OK ? BASE_OK : cache_err(c, rc, err, "register the model");
}

static void *writer(void *arg);

struct store_vcache *store_vcache_open(const char *path, const char *model, unsigned dim, struct base_err *err)
{
	char *def = path ? NULL : store_vcache_default_path();
	if (!path && !def) {
		base_err_set(err, BASE_E_INVAL, "no vector cache location: set XDG_CACHE_HOME or HOME");
		return NULL;
	}
	struct store_vcache *c = base_calloc(1, sizeof(*c));
	c->path = def ? def : base_strdup(path);
	c->dim = dim;
	c->half = base_malloc(dim * sizeof(*c->half));
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->qmu, NULL);
	pthread_cond_init(&c->qcond, NULL);
	base_buf_init(&c->queue, VCACHE_QUEUE_MAX);
	make_parent(c->path);
	int rc = sqlite3_open_v2(c->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
				 NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(c->db, VCACHE_BUSY_MS);
		char sql[640];
		/* an older layout is dropped: it is only a cache */
		snprintf(sql, sizeof(sql),
			 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-%d;"
			 "BEGIN IMMEDIATE;"
			 "CREATE TABLE IF NOT EXISTS vec_layout(v INTEGER);"
			 "COMMIT;",
			 VCACHE_CACHE_KIB);
		rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK && layout_version(c->db) != VCACHE_LAYOUT)
			rc = sqlite3_exec(c->db,
					  "BEGIN IMMEDIATE; DROP TABLE IF EXISTS vec; DROP TABLE IF EXISTS models;"
					  " DELETE FROM vec_layout; INSERT INTO vec_layout VALUES(" VCACHE_LAYOUT_STR ");"
					  " COMMIT;",
					  NULL, NULL, NULL);
		snprintf(sql, sizeof(sql),
			 "CREATE TABLE IF NOT EXISTS models(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
			 " dim INTEGER NOT NULL);"
			 "CREATE TABLE IF NOT EXISTS vec(id INTEGER PRIMARY KEY, model INTEGER NOT NULL,"
			 " hash BLOB NOT NULL, v BLOB NOT NULL);"
			 "CREATE UNIQUE INDEX IF NOT EXISTS vec_key ON vec(model, hash);");
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	}
	int ret = rc == SQLITE_OK ? model_id(c, model, dim, err) : cache_err(c, rc, err, "open");
	if (!ret) {
		rc = sqlite3_prepare_v2(c->db, "SELECT v FROM vec WHERE model = ?1 AND hash = ?2", -1, &c->get, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_open_v2(c->path, &c->wdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_busy_timeout(c->wdb, VCACHE_BUSY_MS);
			char pragma[96];
			snprintf(pragma, sizeof(pragma), "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-%d;",
				 VCACHE_CACHE_KIB);
			rc = sqlite3_exec(c->wdb, pragma, NULL, NULL, NULL);
		}
		if (rc == SQLITE_OK)
			rc = sqlite3_prepare_v2(c->wdb, "INSERT OR IGNORE INTO vec(model, hash, v) VALUES(?1, ?2, ?3)", -1,
						&c->put, NULL);
		if (rc != SQLITE_OK)
			ret = cache_err(c, rc, err, "prepare statements");
	}
	if (!ret) {
		if (pthread_create(&c->thread, NULL, writer, c) == 0)
			c->started = true;
		else
			ret = base_err_set(err, BASE_E_NOMEM, "vector cache %s: cannot start its writer", c->path);
	}
	if (ret) {
		store_vcache_close(c);
		return NULL;
	}
	return c;
}

/* ---- the writer thread --------------------------------------------------- */

/* One queued put: the hash, then dim half floats. */
static size_t entry_bytes(const struct store_vcache *c)
{
	return STORE_HASH_BYTES + c->dim * sizeof(uint16_t);
}

/* Insert queued entries in one transaction, on the writer's connection. */
static void write_batch(struct store_vcache *c, const unsigned char *q, size_t n)
{
	if (sqlite3_exec(c->wdb, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		BASE_LOG(BASE_LOG_DEBUG, "vector cache %s busy: %zu vectors not cached", c->path, n);
		return;
	}
	size_t eb = entry_bytes(c), puts = 0;
	for (size_t i = 0; i < n; i++) {
		const unsigned char *e = q + i * eb;
		sqlite3_bind_int64(c->put, 1, c->model);
		sqlite3_bind_blob(c->put, 2, e, STORE_HASH_BYTES, SQLITE_STATIC);
		sqlite3_bind_blob(c->put, 3, e + STORE_HASH_BYTES, (int)(c->dim * sizeof(uint16_t)), SQLITE_STATIC);
		puts += sqlite3_step(c->put) == SQLITE_DONE;
		sqlite3_reset(c->put);
	}
	if (sqlite3_exec(c->wdb, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		BASE_LOG(BASE_LOG_DEBUG, "vector cache %s: commit failed: %s", c->path, sqlite3_errmsg(c->wdb));
		sqlite3_exec(c->wdb, "ROLLBACK", NULL, NULL, NULL);
		puts = 0;
	}
	pthread_mutex_lock(&c->mu);
	c->stats.puts += puts;
	pthread_mutex_unlock(&c->mu);
}

static void *writer(void *arg)
{
	struct store_vcache *c = arg;
	pthread_mutex_lock(&c->qmu);
	for (;;) {
		while (!c->queue.len && !c->stop)
			pthread_cond_wait(&c->qcond, &c->qmu);
		if (!c->queue.len && c->stop)
			break;
		struct base_buf batch = c->queue;
		base_buf_init(&c->queue, VCACHE_QUEUE_MAX);
		c->writing = true;
		pthread_mutex_unlock(&c->qmu);
		write_batch(c, (const unsigned char *)batch.data, batch.len / entry_bytes(c));
		base_buf_release(&batch);
		pthread_mutex_lock(&c->qmu);
		c->writing = false;
		pthread_cond_broadcast(&c->qcond);
	}
	pthread_mutex_unlock(&c->qmu);
	return NULL;
}

void store_vcache_close(struct store_vcache *c)
{
	if (!c)
		return;
	if (c->started) {
		pthread_mutex_lock(&c->qmu);
		c->stop = true;
		pthread_cond_broadcast(&c->qcond);
		pthread_mutex_unlock(&c->qmu);
		pthread_join(c->thread, NULL);
	}
	sqlite3_finalize(c->get);
	sqlite3_finalize(c->put);
	sqlite3_close_v2(c->db);
	sqlite3_close_v2(c->wdb);
	base_buf_release(&c->queue);
	pthread_cond_destroy(&c->qcond);
	pthread_mutex_destroy(&c->qmu);
	pthread_mutex_destroy(&c->mu);
	base_free(c->half);
	base_free(c->path);
	base_free(c);
}

int store_vcache_get(struct store_vcache *c, const uint8_t *hashes, size_t n, float *out, bool *found,
		     struct base_err *err)
{
	int ret = BASE_OK;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n && !ret; i++) {
		sqlite3_bind_int64(c->get, 1, c->model);
		sqlite3_bind_blob(c->get, 2, hashes + i * STORE_HASH_BYTES, STORE_HASH_BYTES, SQLITE_STATIC);
		int rc = sqlite3_step(c->get);
		found[i] = false;
		if (rc == SQLITE_ROW && (size_t)sqlite3_column_bytes(c->get, 0) == c->dim * sizeof(uint16_t)) {
			memcpy(c->half, sqlite3_column_blob(c->get, 0), c->dim * sizeof(uint16_t));
			for (unsigned d = 0; d < c->dim; d++)
				out[i * c->dim + d] = half_to_float(c->half[d]);
			found[i] = true;
			c->stats.hits++;
		} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
			c->stats.misses++;
		} else {
			ret = cache_err(c, rc, err, "read");
		}
		sqlite3_reset(c->get);
	}
	pthread_mutex_unlock(&c->mu);
	return ret;
}

int store_vcache_put(struct store_vcache *c, const uint8_t *hashes, const float *vecs, size_t n,
		     struct base_err *err)
{
	(void)err; /* failing to cache is not an error for the caller */
	size_t eb = entry_bytes(c);
	unsigned char *e = base_malloc(n * eb);
	for (size_t i = 0; i < n; i++) {
		memcpy(e + i * eb, hashes + i * STORE_HASH_BYTES, STORE_HASH_BYTES);
		uint16_t *h = (uint16_t *)(void *)(e + i * eb + STORE_HASH_BYTES);
		for (unsigned d = 0; d < c->dim; d++) {
			uint16_t x = half_from_float(vecs[i * c->dim + d]);
			memcpy(h + d, &x, sizeof(x));
		}
	}
	pthread_mutex_lock(&c->qmu);
	if (base_buf_add(&c->queue, e, n * eb) != BASE_OK)
		BASE_LOG(BASE_LOG_DEBUG, "vector cache %s: queue full, %zu vectors not cached", c->path, n);
	pthread_cond_signal(&c->qcond);
	pthread_mutex_unlock(&c->qmu);
	base_free(e);
	return BASE_OK;
}

void store_vcache_flush(struct store_vcache *c)
{
	pthread_mutex_lock(&c->qmu);
	while (c->queue.len || c->writing)
		pthread_cond_wait(&c->qcond, &c->qmu);
	pthread_mutex_unlock(&c->qmu);
}

struct store_vcache_stats store_vcache_stats(struct store_vcache *c)
{
	pthread_mutex_lock(&c->mu);
	struct store_vcache_stats s = c->stats;
	pthread_mutex_unlock(&c->mu);
	return s;
}
