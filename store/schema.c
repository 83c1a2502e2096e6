/*
 * schema.c: the index schema and its migrations.
 *
 * PRAGMA user_version holds the schema version. migrations[i] takes a
 * database from version i to i + 1; a writer applies the missing steps in
 * order, in one transaction, when it opens the index. A database newer than
 * this binary is refused; a reader never migrates.
 *
 * Append steps, never edit a released one. A step that changes what the
 * FTS tokenizer emits or how head text is built must rebuild the FTS table
 * (contentless rows are deleted by re-tokenizing their old text).
 */
#include <stdio.h>
#include <string.h>

#include "store/internal.h"

#include "base/banned.h"

#define STORE_FORMAT "lode-index"

/*
 * FTS5 tuning (measured with a synthetic benchmark):
 *   detail=column  no token positions: queries are OR-ed terms ranked by
 *                  BM25, so positions would only cost index size and time.
 *   columnsize=0   no per-row token counts: lode_rank takes the length
 *                  class from the chunk id instead, and a per-row lookup
 *                  of the sizes was most of the query time.
 *   pgsz           leaf pages sized to the 8 KiB SQLite page.
 *   hashsize       pending terms held in memory before a segment is
 *                  written; big enough for one writer batch (64 MB of text).
 *   automerge      8 segments per level before they merge (default 4):
 *                  ~6% faster bulk inserts, no measurable query cost.
 *   crisismerge    let level-0 segments pile up a little more before a
 *                  forced merge stalls the writer.
 */
static const char *const migrations[] = {
	/* 0 -> 1: the initial schema. */
	"CREATE TABLE meta(key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;"
	"CREATE TABLE files("
	" id INTEGER PRIMARY KEY,"
	" path TEXT NOT NULL UNIQUE,"
	" size INTEGER NOT NULL,"
	" mtime_ns INTEGER NOT NULL,"
	" ino INTEGER NOT NULL,"
	" hash INTEGER NOT NULL,"
	" lang TEXT,"
	" indexed_at INTEGER NOT NULL,"
	/* The ids of the file's chunks all lie in [chunk_lo, chunk_hi]. */
	" chunk_lo INTEGER NOT NULL,"
	" chunk_hi INTEGER NOT NULL);"
	/*
	 * Chunk ids are never reused: a plain rowid built from meta
	 * "chunk_seq" and a length class (internal.h). The text comes last so
	 * that reading the other columns never touches its overflow pages.
	 */
	"CREATE TABLE chunks("
	" id INTEGER PRIMARY KEY,"
	" file_id INTEGER NOT NULL,"
	" start_byte INTEGER NOT NULL,"
	" end_byte INTEGER NOT NULL,"
	" start_line INTEGER NOT NULL,"
	" end_line INTEGER NOT NULL,"
	" kind TEXT NOT NULL,"
	" symbol TEXT NOT NULL,"
	" scope TEXT NOT NULL,"
	" hash BLOB NOT NULL,"
	" text BLOB NOT NULL);"
	"CREATE INDEX chunks_file ON chunks(file_id);"
	"CREATE VIRTUAL TABLE fts USING fts5(head, body, content='', tokenize='" STORE_TOKENIZER "',"
	" detail=column, columnsize=0);"
	"INSERT INTO fts(fts, rank) VALUES('pgsz', 8000);"
	"INSERT INTO fts(fts, rank) VALUES('hashsize', 67108864);"
	"INSERT INTO fts(fts, rank) VALUES('automerge', 8);"
	"INSERT INTO fts(fts, rank) VALUES('crisismerge', 32);"
	"INSERT INTO meta(key, value) VALUES('format', '" STORE_FORMAT "');"
	"INSERT INTO meta(key, value) VALUES('chunk_seq', '1');"
	"INSERT INTO meta(key, value) VALUES('chunk_count', '0');"
	"INSERT INTO meta(key, value) VALUES('body_bytes', '0');"
	"INSERT INTO meta(key, value) VALUES('generation', '0');",
	/*
	 * 1 -> 2: the code graph by name (store.h, "Names"): the names each
	 * chunk defines, imports and calls, lower-cased. Every file's stat
	 * and hash are cleared so that the next index run re-chunks it and
	 * fills the table.
	 */
	"CREATE TABLE names(name TEXT NOT NULL, kind INTEGER NOT NULL, chunk_id INTEGER NOT NULL,"
	" PRIMARY KEY(name, kind, chunk_id)) WITHOUT ROWID;"
	"CREATE INDEX names_chunk ON names(chunk_id);"
	"UPDATE files SET mtime_ns = -1, size = -1, hash = 0;",
};

int store__schema_latest(void)
{
	return (int)BASE_ARRAY_LEN(migrations);
}

static int query_int(struct store *s, const char *sql, int64_t *out, struct base_err *err)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			*out = sqlite3_column_int64(st, 0);
			rc = SQLITE_OK;
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return store__db_err(s, rc, err, "read the schema");
	return BASE_OK;
}

static int not_lode(struct store *s, struct base_err *err, const char *why)
{
	return base_err_set(err, BASE_E_CORRUPT,
			    "the index %s is damaged; rebuild it with `lode index --rebuild` (%s)", s->path, why);
}

static int migrate(struct store *s, struct base_err *err)
{
	int rc = store__exec(s, "BEGIN IMMEDIATE", err);
	if (rc)
		return rc;
	/* Re-read under the write lock: another writer may have migrated. */
	int64_t v = 0;
	rc = query_int(s, "PRAGMA user_version", &v, err);
	int latest = store__schema_latest();
	for (int i = (int)v; !rc && i < latest; i++) {
		char sql[64];
		rc = store__exec(s, migrations[i], err);
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", i + 1);
		if (!rc)
			rc = store__exec(s, sql, err);
	}
	if (!rc)
		rc = store__exec(s, "COMMIT", err);
	if (rc) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return BASE_OK;
}

int store__schema_check(struct store *s, struct base_err *err)
{
	int64_t v = 0, ntables = 0;
	int latest = store__schema_latest();
	int rc = query_int(s, "PRAGMA user_version", &v, err);
	if (!rc)
		rc = query_int(s, "SELECT count(*) FROM sqlite_schema", &ntables, err);
	if (rc)
		return rc;
	if (v > latest)
		return base_err_set(err, BASE_E_UNSUPPORTED,
				    "the index %s has schema version %lld, newer than this lode supports (%d);"
				    " upgrade lode or rebuild the index with `lode index --rebuild`",
				    s->path, (long long)v, latest);
	if (v == 0 && ntables > 0)
		return not_lode(s, err, "not a lode index");
	if (v == 0 && !(s->flags & STORE_WRITE))
		return not_lode(s, err, "the index is empty");
	if (v < latest) {
		if (!(s->flags & STORE_WRITE))
			return base_err_set(err, BASE_E_UNSUPPORTED,
					    "the index %s has schema version %lld, older than this lode's (%d);"
					    " run `lode index` to upgrade it",
					    s->path, (long long)v, latest);
		rc = migrate(s, err);
		if (rc)
			return rc;
	}
	char *format = store_meta_get(s, "format");
	bool ok = format && strcmp(format, STORE_FORMAT) == 0;
	base_free(format);
	if (!ok)
		return not_lode(s, err, "no lode format mark");
	return BASE_OK;
}
