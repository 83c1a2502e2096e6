/*
 * write.c: putting, touching, deleting and listing files.
 *
 * A file's row, its chunks and their FTS rows change together inside the
 * caller's transaction. Inputs are validated before the first write, so a
 * refused call leaves the transaction as it was; a SQLite error half-way
 * marks the transaction failed, and store_commit then rolls it back, so
 * the file's previous content survives.
 *
 * The FTS table is contentless: removing a chunk's FTS row means feeding
 * FTS5 the exact head and body it indexed, which chunks and files hold.
 */
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "store/internal.h"

#include "base/banned.h"

void store_chunk_hash(const char *text, size_t len, uint8_t out[STORE_HASH_BYTES])
{
	XXH128_canonical_t h;
	XXH128_canonicalFromHash(&h, XXH3_128bits(text, len));
	memcpy(out, h.digest, STORE_HASH_BYTES);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int step_done(struct store *s, sqlite3_stmt *st, struct base_err *err, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return store__db_err(s, rc, err, what);
	return BASE_OK;
}

static int check_writable(struct store *s, const char *fn, struct base_err *err)
{
	if (!(s->flags & STORE_WRITE))
		return base_err_set(err, BASE_E_API, "%s: the index was opened read-only", fn);
	if (s->tx_failed)
		return base_err_set(err, BASE_E_API, "%s: an earlier write failed; roll the transaction back", fn);
	return BASE_OK;
}

/* The file's id, 0 when absent. */
static int file_find(struct store *s, const char *path, int64_t *id, struct base_err *err)
{
	sqlite3_stmt *st = store__stmt(s, ST_FILE_FIND, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return store__db_err(s, rc, err, "find a file");
	return BASE_OK;
}

/* Remove the names of the chunks with ids in [lo, hi] (one file's range). */
static int names_drop(struct store *s, int64_t lo, int64_t hi, struct base_err *err)
{
	sqlite3_stmt *st = store__stmt(s, ST_NAMES_DROP, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, hi);
	return step_done(s, st, err, "delete names");
}

static int names_insert(struct store *s, int64_t id, const struct store_chunk_in *c, struct base_err *err)
{
	char low[STORE_NAME_MAX];
	for (size_t i = 0; i < c->nnames; i++) {
		const char *name = c->names[i].name;
		size_t n = name ? strlen(name) : 0;
		if (!n || n > STORE_NAME_MAX)
			continue;
		base_ascii_lower(name, n, low);
		sqlite3_stmt *st = store__stmt(s, ST_NAME_INSERT, err);
		if (!st)
			return err ? err->code : BASE_E_DB;
		sqlite3_bind_text(st, 1, low, (int)n, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, (int)c->names[i].kind);
		sqlite3_bind_int64(st, 3, id);
		int rc = step_done(s, st, err, "insert a name");
		if (rc)
			return rc;
	}
	return BASE_OK;
}

/* Remove the chunks of file `id` (stored under `path`), their FTS rows and names. */
static int chunks_drop(struct store *s, int64_t id, const char *path, struct base_err *err)
{
	sqlite3_stmt *old = store__stmt(s, ST_FILE_CHUNKS_OLD, err);
	if (!old)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_int64(old, 1, id);
	int rc;
	int64_t n = 0, bytes = 0, lo = INT64_MAX, hi = INT64_MIN;
	while ((rc = sqlite3_step(old)) == SQLITE_ROW) {
		int64_t cid = sqlite3_column_int64(old, 0);
		lo = BASE_MIN(lo, cid);
		hi = BASE_MAX(hi, cid);
		const char *sym = (const char *)sqlite3_column_text(old, 1);
		size_t nsym = (size_t)sqlite3_column_bytes(old, 1);
		const char *scope = (const char *)sqlite3_column_text(old, 2);
		size_t nscope = (size_t)sqlite3_column_bytes(old, 2);
		if (store__head_build(&s->head, path, sym ? sym : "", nsym, scope ? scope : "", nscope)) {
			sqlite3_reset(old);
			return base_err_set(err, BASE_E_TOOBIG, "chunk head too long in %s", path);
		}
		const void *text = sqlite3_column_blob(old, 3);
		int ntext = sqlite3_column_bytes(old, 3);
		sqlite3_stmt *del = store__stmt(s, ST_FTS_DELETE, err);
		if (!del) {
			sqlite3_reset(old);
			return err ? err->code : BASE_E_DB;
		}
		sqlite3_bind_int64(del, 1, sqlite3_column_int64(old, 0));
		sqlite3_bind_text(del, 2, s->head.data, (int)s->head.len, SQLITE_STATIC);
		sqlite3_bind_text(del, 3, text ? text : "", ntext, SQLITE_STATIC);
		int drc = step_done(s, del, err, "delete FTS rows");
		if (drc) {
			sqlite3_reset(old);
			return drc;
		}
		if (s->vectors)
			store__vectors_drop(s, sqlite3_column_int64(old, 0));
		n++;
		bytes += ntext;
	}
	sqlite3_reset(old);
	if (rc != SQLITE_DONE)
		return store__db_err(s, rc, err, "read old chunks");
	if (n) {
		rc = names_drop(s, lo, hi, err);
		if (rc)
			return rc;
	}
	sqlite3_stmt *st = store__stmt(s, ST_CHUNKS_DELETE, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_int64(st, 1, id);
	rc = step_done(s, st, err, "delete chunks");
	if (!rc) {
		s->cnt[CNT_CHUNKS] -= n;
		s->cnt[CNT_BODY_BYTES] -= bytes;
	}
	return rc;
}

static void bind_file(sqlite3_stmt *st, const struct store_file *f)
{
	sqlite3_bind_text(st, 1, f->path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)f->size);
	sqlite3_bind_int64(st, 3, f->mtime_ns);
	sqlite3_bind_int64(st, 4, (int64_t)f->ino);
	sqlite3_bind_int64(st, 5, (int64_t)f->hash);
	if (f->lang)
		sqlite3_bind_text(st, 6, f->lang, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 6);
}

static int chunk_insert(struct store *s, int64_t file_id, const struct store_file *f, const char *data,
			const struct store_chunk_in *c, struct base_err *err)
{
	const char *kind = c->kind ? c->kind : "";
	const char *sym = c->symbol ? c->symbol : "";
	const char *scope = c->scope ? c->scope : "";
	size_t nsym = strlen(sym), nscope = strlen(scope);
	const char *text = data + c->start_byte;
	size_t ntext = c->end_byte - c->start_byte;
	int64_t id = (s->cnt[CNT_CHUNK_SEQ] << STORE_ID_SHIFT) | store__len_class(ntext);

	uint8_t hash[STORE_HASH_BYTES];
	store_chunk_hash(text, ntext, hash);

	sqlite3_stmt *st = store__stmt(s, ST_CHUNK_INSERT, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, file_id);
	sqlite3_bind_int64(st, 3, c->start_byte);
	sqlite3_bind_int64(st, 4, c->end_byte);
	sqlite3_bind_int64(st, 5, c->start_line);
	sqlite3_bind_int64(st, 6, c->end_line);
	sqlite3_bind_text(st, 7, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, sym, (int)nsym, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, scope, (int)nscope, SQLITE_STATIC);
	sqlite3_bind_blob(st, 10, hash, (int)sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_blob(st, 11, ntext ? text : "", (int)ntext, SQLITE_STATIC);
	int rc = step_done(s, st, err, "insert a chunk");
	if (rc)
		return rc;

	if (store__head_build(&s->head, f->path, sym, nsym, scope, nscope))
		return base_err_set(err, BASE_E_TOOBIG, "chunk head too long in %s", f->path);
	st = store__stmt(s, ST_FTS_INSERT, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, s->head.data, (int)s->head.len, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ntext ? text : "", (int)ntext, SQLITE_STATIC);
	rc = step_done(s, st, err, "index a chunk");
	if (rc)
		return rc;
	rc = names_insert(s, id, c, err);
	if (rc)
		return rc;
	if (s->vectors)
		store__vectors_put(s, id, c->vec);
	s->cnt[CNT_CHUNK_SEQ]++;
	s->cnt[CNT_CHUNKS]++;
	s->cnt[CNT_BODY_BYTES] += (int64_t)ntext;
	return BASE_OK;
}

static int put(struct store *s, const struct store_file *f, const char *data, const struct store_chunk_in *chunks,
	       size_t n, struct base_err *err)
{
	int64_t id;
	int rc = file_find(s, f->path, &id, err);
	if (rc)
		return rc;
	sqlite3_stmt *st;
	if (id) {
		rc = chunks_drop(s, id, f->path, err);
		if (rc)
			return rc;
		st = store__stmt(s, ST_FILE_UPDATE, err);
		if (!st)
			return err ? err->code : BASE_E_DB;
		bind_file(st, f);
		sqlite3_bind_int64(st, 1, id); /* the id replaces the path */
	} else {
		st = store__stmt(s, ST_FILE_INSERT, err);
		if (!st)
			return err ? err->code : BASE_E_DB;
		bind_file(st, f);
	}
	/* The chunks get the next n sequence numbers: one id range. */
	int64_t seq = s->cnt[CNT_CHUNK_SEQ];
	int64_t lo = seq << STORE_ID_SHIFT;
	int64_t hi = n ? (((seq + (int64_t)n - 1) << STORE_ID_SHIFT) | (STORE_LEN_CLASSES - 1)) : lo - 1;
	sqlite3_bind_int64(st, 7, now_ns());
	sqlite3_bind_int64(st, 8, lo);
	sqlite3_bind_int64(st, 9, hi);
	rc = step_done(s, st, err, id ? "update a file" : "insert a file");
	if (rc)
		return rc;
	if (!id)
		id = sqlite3_last_insert_rowid(s->db);
	for (size_t i = 0; i < n; i++) {
		rc = chunk_insert(s, id, f, data, &chunks[i], err);
		if (rc)
			return rc;
	}
	return BASE_OK;
}

int store_file_put(struct store *s, const struct store_file *f, const char *data, size_t len,
		   const struct store_chunk_in *chunks, size_t n, struct base_err *err)
{
	int rc = check_writable(s, "store_file_put", err);
	if (rc)
		return rc;
	if (!s->in_tx)
		return base_err_set(err, BASE_E_API, "store_file_put: no transaction is open");
	if (!f || !f->path || !*f->path)
		return base_err_set(err, BASE_E_API, "store_file_put: no path");
	if ((n && !chunks) || (len && !data))
		return base_err_set(err, BASE_E_API, "store_file_put: NULL chunks or data");
	if (len > (size_t)INT32_MAX)
		return base_err_set(err, BASE_E_TOOBIG, "%s: file too large to index", f->path);
	for (size_t i = 0; i < n; i++) {
		const struct store_chunk_in *c = &chunks[i];
		if (c->start_byte > c->end_byte || c->end_byte > len || c->start_line > c->end_line)
			return base_err_set(err, BASE_E_INVAL, "%s: chunk %zu [%u, %u) out of range (file has %zu bytes)",
					    f->path, i, c->start_byte, c->end_byte, len);
	}
	rc = put(s, f, data, chunks, n, err);
	if (rc)
		s->tx_failed = true;
	return rc;
}

int store_file_touch(struct store *s, const struct store_file *f, struct base_err *err)
{
	int rc = check_writable(s, "store_file_touch", err);
	if (rc)
		return rc;
	if (!f || !f->path)
		return base_err_set(err, BASE_E_API, "store_file_touch: no path");
	sqlite3_stmt *st = store__stmt(s, ST_FILE_TOUCH, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	bind_file(st, f);
	rc = step_done(s, st, err, "update a file");
	if (rc) {
		if (s->in_tx)
			s->tx_failed = true;
		return rc;
	}
	if (sqlite3_changes(s->db) == 0)
		return base_err_set(err, BASE_E_NOTFOUND, "%s is not in the index", f->path);
	return BASE_OK;
}

static int delete_file(struct store *s, const char *path, struct base_err *err)
{
	int64_t id;
	int rc = file_find(s, path, &id, err);
	if (rc || !id)
		return rc;
	rc = chunks_drop(s, id, path, err);
	if (rc)
		return rc;
	sqlite3_stmt *st = store__stmt(s, ST_FILE_DELETE, err);
	if (!st)
		return err ? err->code : BASE_E_DB;
	sqlite3_bind_int64(st, 1, id);
	return step_done(s, st, err, "delete a file");
}

int store_file_delete(struct store *s, const char *path, struct base_err *err)
{
	int rc = check_writable(s, "store_file_delete", err);
	if (rc)
		return rc;
	if (!path)
		return base_err_set(err, BASE_E_API, "store_file_delete: no path");
	bool own = !s->in_tx;
	if (own) {
		rc = store_begin(s, err);
		if (rc)
			return rc;
	}
	rc = delete_file(s, path, err);
	if (own && rc) {
		store_rollback(s);
		return rc;
	}
	if (own)
		return store_commit(s, err);
	if (rc)
		s->tx_failed = true;
	return rc;
}

/* Rows of `sql` (path, size, mtime_ns, ino, hash, lang) to fn; ?1 bound to `path` when given. */
static int files_query(struct store *s, const char *sql, const char *path, store_file_fn *fn, void *payload,
		       struct base_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return store__db_err(s, rc, err, "list files");
	if (path)
		sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
	int ret = BASE_OK;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct store_file f;
		f.path = (const char *)sqlite3_column_text(st, 0);
		f.size = (uint64_t)sqlite3_column_int64(st, 1);
		f.mtime_ns = sqlite3_column_int64(st, 2);
		f.ino = (uint64_t)sqlite3_column_int64(st, 3);
		f.hash = (uint64_t)sqlite3_column_int64(st, 4);
		f.lang = (const char *)sqlite3_column_text(st, 5);
		if (!f.path)
			continue;
		ret = fn(payload, &f);
		if (ret)
			break;
	}
	if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = store__db_err(s, rc, err, "list files");
	sqlite3_finalize(st);
	return ret;
}

int store_files_each(struct store *s, store_file_fn *fn, void *payload, struct base_err *err)
{
	return files_query(s, "SELECT path, size, mtime_ns, ino, hash, lang FROM files ORDER BY path", NULL, fn,
			   payload, err);
}

int store_files_under(struct store *s, const char *path, store_file_fn *fn, void *payload, struct base_err *err)
{
	/* path itself, or path + "/" <= p < path + "0" ('0' follows '/') */
	return files_query(s,
			   "SELECT path, size, mtime_ns, ino, hash, lang FROM files WHERE path = ?1"
			   " OR (path > ?1 || '/' AND path < ?1 || '0') ORDER BY path",
			   path, fn, payload, err);
}

static int copy_file(void *payload, const struct store_file *f)
{
	struct store_file *out = payload;
	*out = *f;
	out->path = base_strdup(f->path);
	out->lang = f->lang ? base_strdup(f->lang) : NULL;
	return 1;
}

int store_file_get(struct store *s, const char *path, struct store_file *out, struct base_err *err)
{
	memset(out, 0, sizeof(*out));
	int rc = files_query(s, "SELECT path, size, mtime_ns, ino, hash, lang FROM files WHERE path = ?1", path,
			     copy_file, out, err);
	if (rc == 1)
		return BASE_OK;
	return rc ? rc : base_err_set(err, BASE_E_NOTFOUND, "%s is not in the index", path);
}
