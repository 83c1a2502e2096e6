/*
 * store.c: opening the index, SQLite error mapping, the statement cache,
 * transactions, meta and stats.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/internal.h"

#include "base/banned.h"

/*
 * Tuning, measured with a synthetic benchmark (1.2 GB of C, Python and
 * Perl sources, 1M chunks): 8 KiB pages beat 4 KiB by ~20% on inserts and
 * keep most chunk rows off overflow pages; a large writer cache keeps FTS
 * merges in memory. Readers map the file instead of copying pages.
 */
#define PAGE_SIZE 8192
#define WRITER_CACHE_KIB 262144
#define READER_CACHE_KIB 65536
#define READER_MMAP_BYTES ((int64_t)1 << 32)
#define BUSY_TIMEOUT_MS 5000
#define WAL_LIMIT_BYTES ((int64_t)64 << 20) /* WAL truncated to this after a checkpoint */

static const char *const stmt_sql[ST__COUNT] = {
	[ST_FILE_FIND] = "SELECT id FROM files WHERE path = ?1",
	[ST_FILE_INSERT] = "INSERT INTO files(path, size, mtime_ns, ino, hash, lang, indexed_at, chunk_lo, chunk_hi)"
			   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_FILE_UPDATE] = "UPDATE files SET size = ?2, mtime_ns = ?3, ino = ?4, hash = ?5, lang = ?6,"
			   " indexed_at = ?7, chunk_lo = ?8, chunk_hi = ?9 WHERE id = ?1",
	[ST_FILE_TOUCH] = "UPDATE files SET size = ?2, mtime_ns = ?3, ino = ?4, hash = ?5,"
			  " lang = coalesce(?6, lang) WHERE path = ?1",
	[ST_FILE_DELETE] = "DELETE FROM files WHERE id = ?1",
	[ST_FILE_CHUNKS_OLD] = "SELECT id, symbol, scope, text FROM chunks WHERE file_id = ?1",
	[ST_CHUNKS_DELETE] = "DELETE FROM chunks WHERE file_id = ?1",
	[ST_CHUNK_INSERT] = "INSERT INTO chunks(id, file_id, start_byte, end_byte, start_line, end_line,"
			    " kind, symbol, scope, hash, text)"
			    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_FTS_INSERT] = "INSERT INTO fts(rowid, head, body) VALUES(?1, ?2, ?3)",
	[ST_FTS_DELETE] = "INSERT INTO fts(fts, rowid, head, body) VALUES('delete', ?1, ?2, ?3)",
	[ST_META_SET] = "INSERT INTO meta(key, value) VALUES(?1, ?2)"
			" ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	[ST_META_GET] = "SELECT value FROM meta WHERE key = ?1",
	[ST_TERM_SCAN] = "SELECT rowid FROM fts WHERE fts MATCH ?1",
	[ST_CHUNK_SPAN] = "SELECT (SELECT min(id) FROM chunks), (SELECT max(id) FROM chunks)",
	[ST_CHUNK_FILE] = "SELECT file_id FROM chunks WHERE id = ?1",
	[ST_FILE_INFO] = "SELECT path, lang FROM files WHERE id = ?1",
	[ST_FILE_RANGES] = "SELECT chunk_lo, chunk_hi, path, lang FROM files WHERE chunk_hi >= chunk_lo",
	[ST_HIT_GET] = "SELECT c.id, f.path, f.lang, c.kind, c.symbol, c.scope, c.start_byte, c.end_byte,"
		       " c.start_line, c.end_line, c.text FROM chunks c JOIN files f ON f.id = c.file_id"
		       " WHERE c.id = ?1",
	[ST_HIT_META] = "SELECT c.id, f.path, f.lang, c.kind, c.symbol, c.scope, c.start_byte, c.end_byte,"
			" c.start_line, c.end_line, '' FROM chunks c JOIN files f ON f.id = c.file_id"
			" WHERE c.id = ?1",
	[ST_CHUNK_TEXT] = "SELECT text FROM chunks WHERE id = ?1",
	[ST_NAME_INSERT] = "INSERT OR IGNORE INTO names(name, kind, chunk_id) VALUES(?1, ?2, ?3)",
	[ST_NAMES_DROP] = "DELETE FROM names WHERE chunk_id BETWEEN ?1 AND ?2",
	[ST_NAME_FIND] = "SELECT chunk_id FROM names WHERE name = ?1 AND kind = ?2 ORDER BY chunk_id LIMIT ?3",
};

/* ---- errors ---------------------------------------------------------- */

static int map_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return BASE_OK;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_FORMAT:
		return BASE_E_CORRUPT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return BASE_E_BUSY;
	case SQLITE_NOMEM:
		return BASE_E_NOMEM;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_FULL:
	case SQLITE_PERM:
		return BASE_E_IO;
	case SQLITE_TOOBIG:
		return BASE_E_TOOBIG;
	case SQLITE_INTERRUPT:
		return BASE_E_INTERRUPTED;
	default:
		return BASE_E_DB;
	}
}

static int db_err(sqlite3 *db, const char *path, int rc, struct base_err *err, const char *what)
{
	int code = map_code(rc);
	if (code == BASE_OK)
		code = BASE_E_DB;
	const char *detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	if (code == BASE_E_CORRUPT)
		return base_err_set(err, code,
				    "the index %s is damaged; rebuild it with `lode index --rebuild` (%s: %s)",
				    path, what, detail);
	if (code == BASE_E_IO)
		return base_err_set(err, code, "%s: %s: %s", path, what, detail);
	return base_err_set(err, code, "%s: %s", what, detail);
}

int store__db_err(struct store *s, int rc, struct base_err *err, const char *what)
{
	return db_err(s->db, s->path, rc, err, what);
}

/* ---- statements ------------------------------------------------------ */

sqlite3_stmt *store__stmt(struct store *s, enum store_stmt id, struct base_err *err)
{
	sqlite3_stmt *st = s->stmt[id];
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return st;
	}
	int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		store__db_err(s, rc, err, "prepare");
		return NULL;
	}
	s->stmt[id] = st;
	return st;
}

int store__exec(struct store *s, const char *sql, struct base_err *err)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		/* Name the statement, not the whole script. */
		char what[48];
		size_t n = strcspn(sql, "(;");
		snprintf(what, sizeof(what), "%.*s", (int)BASE_MIN(n, sizeof(what) - 1), sql);
		return store__db_err(s, rc, err, what);
	}
	return BASE_OK;
}

int64_t store__meta_int(struct store *s, const char *key, int64_t def)
{
	char *v = store_meta_get(s, key);
	if (!v)
		return def;
	char *end;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	bool ok = errno == 0 && end != v && *end == '\0';
	base_free(v);
	return ok ? (int64_t)x : def;
}

/* ---- open / close ---------------------------------------------------- */

static int pragmas(struct store *s, struct base_err *err)
{
	char sql[512];
	int rc;
	if (s->flags & STORE_WRITE) {
		/* page_size only takes effect on a new database. */
		snprintf(sql, sizeof(sql),
			 "PRAGMA page_size = %d; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
			 " PRAGMA cache_size = -%d; PRAGMA temp_store = MEMORY; PRAGMA journal_size_limit = %lld;",
			 PAGE_SIZE, WRITER_CACHE_KIB, (long long)WAL_LIMIT_BYTES);
	} else {
		snprintf(sql, sizeof(sql),
			 "PRAGMA cache_size = -%d; PRAGMA temp_store = MEMORY; PRAGMA mmap_size = %" PRId64 ";",
			 READER_CACHE_KIB, READER_MMAP_BYTES);
	}
	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return store__db_err(s, rc, err, "open");
	return BASE_OK;
}

static int check_path(const char *path, unsigned flags, struct base_err *err)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		if (errno == ENOENT && !(flags & STORE_CREATE))
			return base_err_set(err, BASE_E_NOTFOUND, "no index at %s; run `lode index` first", path);
		if (errno != ENOENT)
			return base_err_errno(err, BASE_E_IO, errno, "cannot open the index %s", path);
		return BASE_OK;
	}
	if (!S_ISREG(st.st_mode))
		return base_err_set(err, BASE_E_IO, "cannot open the index %s: not a regular file", path);
	return BASE_OK;
}

struct store *store_open(const char *path, unsigned flags, struct base_err *err)
{
	if (!path || !*path) {
		base_err_set(err, BASE_E_API, "store_open: no path");
		return NULL;
	}
	if (flags & STORE_CREATE)
		flags |= STORE_WRITE;
	if (check_path(path, flags, err))
		return NULL;

	struct store *s = base_calloc(1, sizeof(*s));
	s->path = base_strdup(path);
	s->flags = flags;
	s->cand_budget = STORE_CANDIDATE_BUDGET;
	s->filter_lookups = STORE_FILTER_LOOKUPS;
	base_buf_init(&s->head, BASE_CAP_TEXT);

	int oflags = SQLITE_OPEN_NOMUTEX;
	if (flags & STORE_WRITE)
		oflags |= SQLITE_OPEN_READWRITE | ((flags & STORE_CREATE) ? SQLITE_OPEN_CREATE : 0);
	else
		oflags |= SQLITE_OPEN_READONLY;
	int rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		if ((rc & 0xff) == SQLITE_CANTOPEN)
			base_err_set(err, BASE_E_IO, "cannot open the index %s: %s", path,
				     s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		else
			store__db_err(s, rc, err, "open");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	rc = store__fts5_register(s->db);
	if (rc == SQLITE_OK)
		rc = store__search_register(s->db);
	if (rc != SQLITE_OK) {
		store__db_err(s, rc, err, "register the FTS5 extensions");
		goto fail;
	}
	if (pragmas(s, err))
		goto fail;
	if (store__schema_check(s, err))
		goto fail;
	return s;
fail:
	store_close(s);
	return NULL;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->in_tx)
		store_rollback(s);
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close_v2(s->db);
	base_buf_release(&s->head);
	base_free(s->path);
	base_free(s);
}

/* ---- transactions ---------------------------------------------------- */

static const char *const counter_keys[CNT__COUNT] = {
	[CNT_CHUNK_SEQ] = "chunk_seq",
	[CNT_CHUNKS] = "chunk_count",
	[CNT_BODY_BYTES] = "body_bytes",
};

/* How to rebuild a counter missing from meta. */
static const char *const counter_sql[CNT__COUNT] = {
	[CNT_CHUNK_SEQ] = "SELECT coalesce((SELECT max(id) FROM chunks) >> 5, 0) + 1",
	[CNT_CHUNKS] = "SELECT count(*) FROM chunks",
	[CNT_BODY_BYTES] = "SELECT coalesce(sum(end_byte - start_byte), 0) FROM chunks",
};

_Static_assert(STORE_ID_SHIFT == 5, "counter_sql assumes STORE_ID_SHIFT 5");

const char *store__counter_key(enum store_counter c)
{
	return counter_keys[c];
}

static int counters_load(struct store *s, struct base_err *err)
{
	for (int c = 0; c < CNT__COUNT; c++) {
		int64_t v = store__meta_int(s, counter_keys[c], -1);
		s->cnt_saved[c] = v;
		if (v < 0) {
			sqlite3_stmt *st = NULL;
			int rc = sqlite3_prepare_v2(s->db, counter_sql[c], -1, &st, NULL);
			if (rc == SQLITE_OK) {
				rc = sqlite3_step(st);
				if (rc == SQLITE_ROW) {
					v = sqlite3_column_int64(st, 0);
					rc = SQLITE_OK;
				}
			}
			sqlite3_finalize(st);
			if (rc != SQLITE_OK)
				return store__db_err(s, rc, err, "read the index counters");
		}
		s->cnt[c] = v;
	}
	s->cnt_loaded = true;
	return BASE_OK;
}

static int counters_save(struct store *s, struct base_err *err)
{
	if (!s->cnt_loaded)
		return BASE_OK;
	for (int c = 0; c < CNT__COUNT; c++) {
		if (s->cnt[c] == s->cnt_saved[c])
			continue;
		char num[32];
		snprintf(num, sizeof(num), "%" PRId64, s->cnt[c]);
		int rc = store_meta_set(s, counter_keys[c], num, err);
		if (rc)
			return rc;
	}
	return BASE_OK;
}

int store_begin(struct store *s, struct base_err *err)
{
	if (!(s->flags & STORE_WRITE))
		return base_err_set(err, BASE_E_API, "store_begin: the index was opened read-only");
	if (s->in_tx)
		return base_err_set(err, BASE_E_API, "store_begin: a transaction is already open");
	int rc = store__exec(s, "BEGIN IMMEDIATE", err);
	if (rc)
		return rc;
	s->in_tx = true;
	s->tx_failed = false;
	rc = counters_load(s, err);
	if (rc)
		store_rollback(s);
	return rc;
}

int store_commit(struct store *s, struct base_err *err)
{
	if (!s->in_tx)
		return base_err_set(err, BASE_E_API, "store_commit: no transaction is open");
	if (s->tx_failed) {
		store_rollback(s);
		return base_err_set(err, BASE_E_API,
				    "store_commit: an earlier write failed; the transaction was rolled back");
	}
	int rc = counters_save(s, err);
	if (!rc)
		rc = store__exec(s, "COMMIT", err);
	if (rc) {
		store_rollback(s);
		return rc;
	}
	s->in_tx = false;
	s->cnt_loaded = false;
	if (s->vectors && store__vectors_commit(s, err))
		BASE_LOG(BASE_LOG_WARN, "%s: the vector index will be reconciled: %s", s->path, err ? err->msg : "");
	return BASE_OK;
}

void store_rollback(struct store *s)
{
	if (!s || !s->in_tx)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		if (s->stmt[i])
			sqlite3_reset(s->stmt[i]);
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	if (s->vectors)
		store__vectors_rollback(s);
	s->in_tx = false;
	s->tx_failed = false;
	s->cnt_loaded = false;
}

/* ---- meta ------------------------------------------------------------ */

int store_meta_set(struct store *s, const char *key, const char *value, struct base_err *err)
{
	if (!(s->flags & STORE_WRITE))
		return base_err_set(err, BASE_E_API, "store_meta_set: the index was opened read-only");
	if (!key || !value)
		return base_err_set(err, BASE_E_API, "store_meta_set: NULL key or value");
	sqlite3_stmt *st = store__stmt(s, ST_META_SET, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store__db_err(s, rc, err, "set meta");
	return BASE_OK;
}

char *store_meta_get(struct store *s, const char *key)
{
	sqlite3_stmt *st = store__stmt(s, ST_META_GET, NULL);
	if (!st || !key)
		return NULL;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	char *v = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		const char *t = (const char *)sqlite3_column_text(st, 0);
		v = base_strndup(t ? t : "", (size_t)sqlite3_column_bytes(st, 0));
	}
	sqlite3_reset(st);
	return v;
}

/* ---- stats ----------------------------------------------------------- */

static int64_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

int store_stats(struct store *s, struct store_stats *out, struct base_err *err)
{
	memset(out, 0, sizeof(*out));
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db,
				    "SELECT (SELECT count(*) FROM files), (SELECT coalesce(sum(size), 0) FROM files),"
				    " (SELECT count(*) FROM chunks)",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			out->files = sqlite3_column_int64(st, 0);
			out->bytes = sqlite3_column_int64(st, 1);
			out->chunks = sqlite3_column_int64(st, 2);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return store__db_err(s, rc, err, "read stats");
	char *wal = base_strfmt("%s-wal", s->path);
	out->db_bytes = file_size(s->path) + file_size(wal);
	base_free(wal);
	out->generation = store__meta_int(s, "generation", 0);
	return BASE_OK;
}
