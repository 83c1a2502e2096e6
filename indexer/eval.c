/*
 * eval.c: `lode eval`, retrieval scored on a repository's history (eval.h).
 *
 * git runs as a subprocess; the baseline uses SQLite directly because it
 * must be plain FTS5 bm25() over whole files, not lode's store.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "indexer/eval.h"
#include "indexer/indexer.h"
#include "indexer/lang.h"
#include "store/store.h"

#include "base/banned.h"

/* ---- git ------------------------------------------------------------- */

#define GIT_NOT_FOUND 127

/*
 * Run `git -C dir args...`, stdout into `out` (may be NULL: discarded).
 * Returns git's exit status, GIT_NOT_FOUND when git cannot be run, or -1
 * when the output does not fit. stderr's first line goes into `errline`.
 */
static int git_run(const char *dir, const char *const *args, struct base_buf *out, char *errline, size_t errcap)
{
	int po[2];
	if (errline && errcap)
		errline[0] = '\0';
	if (pipe(po) != 0)
		return -1;
	char tmpl[] = "/tmp/lode-eval-err-XXXXXX";
	int ef = mkstemp(tmpl);
	if (ef >= 0)
		unlink(tmpl);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(po[0]);
		close(po[1]);
		if (ef >= 0)
			close(ef);
		return -1;
	}
	if (pid == 0) {
		const char *argv[40];
		size_t n = 0;
		argv[n++] = "git";
		argv[n++] = "-C";
		argv[n++] = dir;
		for (size_t i = 0; args[i] && n < 39; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(po[1], 1);
		if (ef >= 0)
			dup2(ef, 2);
		close(po[0]);
		close(po[1]);
		execvp("git", (char *const *)argv);
		_exit(GIT_NOT_FOUND);
	}
	close(po[1]);
	bool toobig = false;
	char buf[65536];
	for (;;) {
		ssize_t r = read(po[0], buf, sizeof(buf));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out && !toobig && base_buf_add(out, buf, (size_t)r))
			toobig = true;
	}
	close(po[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	if (errline && errcap && ef >= 0) {
		/* the last line says what failed ("fatal: ..."); earlier ones are chatter */
		char tail[1024];
		off_t size = lseek(ef, 0, SEEK_END);
		off_t from = size > (off_t)sizeof(tail) - 1 ? size - (off_t)sizeof(tail) + 1 : 0;
		ssize_t r = size > 0 ? pread(ef, tail, sizeof(tail) - 1, from) : 0;
		if (r > 0) {
			while (r && (tail[r - 1] == '\n' || tail[r - 1] == '\r'))
				r--;
			tail[r] = '\0';
			char *nl = strrchr(tail, '\n');
			const char *last = nl ? nl + 1 : tail;
			size_t n = strlen(last) < errcap ? strlen(last) : errcap - 1;
			memcpy(errline, last, n);
			errline[n] = '\0';
		}
	}
	if (ef >= 0)
		close(ef);
	if (toobig)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- selection rules ------------------------------------------------- */

static bool name_in(const char *s, size_t n, const char *const *list, size_t nlist)
{
	for (size_t i = 0; i < nlist; i++)
		if (strlen(list[i]) == n && strncmp(s, list[i], n) == 0)
			return true;
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

enum idx_eval_path_class idx_eval_classify(const char *path)
{
	static const char *const test_dirs[] = { "test", "tests", "testing", "__tests__", "__test__", "spec",
						 "specs", "t", "testdata", "test_data", "testsuite", "e2e",
						 "fixtures", "integration_tests", "unittests", "unit_tests" };
	static const char *const doc_dirs[] = { "docs", "doc", "documentation", "examples", "example",
						"_examples", "samples", "website", "man" };
	static const char *const vendor_dirs[] = { "vendor", "third_party", "thirdparty", "third-party",
						   "3rdparty", "external", "extern", "node_modules",
						   "bower_components", "deps", "_vendor" };
	const char *s = path;
	for (;;) {
		const char *slash = strchr(s, '/');
		if (!slash)
			break;
		size_t n = (size_t)(slash - s);
		if (name_in(s, n, test_dirs, BASE_ARRAY_LEN(test_dirs)))
			return IDX_EVAL_TEST;
		if (name_in(s, n, doc_dirs, BASE_ARRAY_LEN(doc_dirs)))
			return IDX_EVAL_DOC;
		if (name_in(s, n, vendor_dirs, BASE_ARRAY_LEN(vendor_dirs)))
			return IDX_EVAL_VENDORED;
		s = slash + 1;
	}
	const char *base = s;
	char lower[256];
	size_t bl = strlen(base);
	if (bl >= sizeof(lower))
		return IDX_EVAL_OTHER;
	base_ascii_lower(base, bl, lower);
	lower[bl] = '\0';
	const char *dot = strrchr(base, '.');
	size_t stem = dot ? (size_t)(dot - base) : bl;
	/* tests by name: test_x.py, x_test.go, XTest.java, x.test.js, x.spec.ts, conftest.py */
	if (strncmp(lower, "test_", 5) == 0 || strncmp(lower, "tests_", 6) == 0 || strcmp(lower, "conftest.py") == 0 ||
	    strstr(lower, ".test.") || strstr(lower, ".spec.") || strstr(lower, "_spec.") ||
	    (stem > 5 && strncmp(lower + stem - 5, "_test", 5) == 0) ||
	    (stem > 6 && strncmp(lower + stem - 6, "_tests", 6) == 0) ||
	    (stem > 4 && strncmp(base + stem - 4, "Test", 4) == 0) ||
	    (stem > 5 && strncmp(base + stem - 5, "Tests", 5) == 0) ||
	    (stem > 8 && strncmp(base + stem - 8, "TestCase", 8) == 0))
		return IDX_EVAL_TEST;
	if (strstr(lower, ".pb.") || strstr(lower, "_pb2") || strstr(lower, ".min.") ||
	    strstr(lower, ".generated.") || strstr(lower, "_generated.") || strstr(lower, ".g.dart") ||
	    ends_with(lower, ".d.ts"))
		return IDX_EVAL_GENERATED;
	/* changelogs, lock files and other files whose language has no grammar */
	static const char *const not_code[] = { "changelog", "changes", "news", "history", "releases",
						"authors", "contributors", "license", "copying", "readme" };
	if (name_in(lower, stem, not_code, BASE_ARRAY_LEN(not_code)))
		return IDX_EVAL_OTHER;
	const struct idx_lang *lang = idx_lang_detect(path, NULL, 0);
	if (!lang || !lang->grammar)
		return IDX_EVAL_OTHER;
	return IDX_EVAL_SOURCE;
}

static bool line_is_trailer(const char *s, size_t n)
{
	static const char *const trailers[] = { "change-id:", "cc:", "bug:", "fixes:", "closes:", "see-also:",
						"git-svn-id:", "link:", "reviewed-on:", "pr-url:", "refs:" };
	if (n > 20 && strncmp(s, "(cherry picked from", 19) == 0)
		return true;
	size_t i = 0;
	while (i < n && (isalnum((unsigned char)s[i]) || s[i] == '-'))
		i++;
	if (i == 0 || i + 1 >= n || s[i] != ':' || s[i + 1] != ' ')
		return false;
	char key[64];
	size_t kn = BASE_MIN(i + 1, sizeof(key) - 1);
	base_ascii_lower(s, kn, key);
	key[kn] = '\0';
	if (kn > 4 && strcmp(key + kn - 4, "-by:") == 0)
		return true;
	for (size_t t = 0; t < BASE_ARRAY_LEN(trailers); t++)
		if (strcmp(key, trailers[t]) == 0)
			return true;
	return false;
}

/* Does s[0,n) start with the lower-case word(s) p, as whole words? */
static bool prefix_word_ci(const char *s, size_t n, const char *p)
{
	size_t m = strlen(p);
	if (n < m)
		return false;
	for (size_t i = 0; i < m; i++)
		if (tolower((unsigned char)s[i]) != p[i])
			return false;
	return n == m || !isalnum((unsigned char)s[m]);
}

char *idx_eval_message(const char *msg, size_t len)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_QUERY);
	size_t pos = 0, subject_len = 0;
	bool first = true;
	while (pos < len) {
		const char *nl = memchr(msg + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - msg) : len;
		const char *s = msg + pos;
		size_t n = end - pos;
		pos = nl ? end + 1 : len;
		while (n && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		if (!n || line_is_trailer(s, n))
			continue;
		if ((b.len && base_buf_addc(&b, ' ')) || base_buf_add(&b, s, n)) {
			base_buf_release(&b);
			return NULL;
		}
		if (first)
			subject_len = b.len;
		first = false;
	}
	const char *subj = b.data;
	size_t sn = subject_len;
	/* judge the subject past a "[tag] " prefix */
	if (sn && subj[0] == '[') {
		const char *c = memchr(subj, ']', sn);
		if (c) {
			sn -= (size_t)(c + 1 - subj);
			subj = c + 1;
			while (sn && *subj == ' ') {
				subj++;
				sn--;
			}
		}
	}
	static const char *const bad_starts[] = { "merge", "bump", "bumped", "release", "released", "revert",
						  "typo", "typos", "version", "wip", "changelog", "update changelog",
						  "prepare", "preparing", "update readme", "update version" };
	bool bad = false;
	for (size_t i = 0; i < BASE_ARRAY_LEN(bad_starts); i++)
		bad |= prefix_word_ci(subj, sn, bad_starts[i]);
	if (sn > 1 && (subj[0] == 'v' || subj[0] == 'V') && isdigit((unsigned char)subj[1]))
		bad = true;
	for (size_t i = 0; i + 4 <= subject_len; i++)
		if (strncmp(b.data + i, "typo", 4) == 0 || strncmp(b.data + i, "Typo", 4) == 0)
			bad = true;
	size_t words = 0, p = 0;
	struct base_span w;
	while (base_word_next(b.data, b.len, &p, &w))
		words += w.len >= 2 && !isdigit((unsigned char)b.data[w.off]);
	if (bad || words < 6) {
		base_buf_release(&b);
		return NULL;
	}
	return base_buf_detach(&b, NULL);
}

void idx_eval_score(const int *ranks, size_t n, struct idx_eval_score *out)
{
	*out = (struct idx_eval_score){ .n = n };
	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		int r = ranks[i];
		if (r <= 0)
			continue;
		out->acc1 += r <= 1;
		out->acc5 += r <= 5;
		out->acc10 += r <= 10;
		out->mrr += 1.0 / r;
	}
	out->acc1 /= (double)n;
	out->acc5 /= (double)n;
	out->acc10 /= (double)n;
	out->mrr /= (double)n;
}

/* ---- candidates from the log ----------------------------------------- */

struct cand {
	char commit[41], parent[41];
	char *query;
	BASE_VEC(char *) files;
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static void cand_release(struct cand *c)
{
	base_free(c->query);
	for (size_t i = 0; i < c->files.n; i++)
		base_free(c->files.v[i]);
	base_vec_release(&c->files);
}

/*
 * Parse one log record: "H P\x1fMESSAGE\x1f" then name-status lines.
 * True, with `c` filled, when the commit qualifies.
 */
static bool parse_record(const char *r, size_t n, struct cand *c)
{
	memset(c, 0, sizeof(*c));
	const char *f1 = memchr(r, '\x1f', n);
	if (!f1)
		return false;
	const char *f2 = memchr(f1 + 1, '\x1f', n - (size_t)(f1 + 1 - r));
	if (!f2)
		return false;
	if ((size_t)(f1 - r) != 81 || r[40] != ' ')
		return false; /* no parent (the root) or several (a merge) */
	memcpy(c->commit, r, 40);
	memcpy(c->parent, r + 41, 40);
	const char *p = f2 + 1, *end = r + n;
	bool ok = true;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *tab = le > p ? memchr(p, '\t', (size_t)(le - p)) : NULL;
		if (tab) {
			char *path = base_strndup(tab + 1, (size_t)(le - tab - 1));
			if (idx_eval_classify(path) == IDX_EVAL_SOURCE) {
				if (p[0] != 'M')
					ok = false; /* an added or deleted source file: not a "where to change" case */
				base_vec_push(&c->files, path);
			} else {
				base_free(path);
			}
		}
		p = le + 1;
	}
	if (!ok || c->files.n < 1 || c->files.n > 3) {
		cand_release(c);
		return false;
	}
	c->query = idx_eval_message(f1 + 1, (size_t)(f2 - f1 - 1));
	if (!c->query) {
		cand_release(c);
		return false;
	}
	return true;
}

/* ---- the baseline: plain FTS5 bm25() over whole files ---------------- */

struct bfile {
	char *path;
	uint64_t hash;
	int64_t rowid;
};

struct bfiles {
	struct bfile *v;
	size_t n, cap;
};

struct baseline {
	sqlite3 *db;
	sqlite3_stmt *ins, *del, *q;
	struct bfiles files; /* what the table holds, in path order */
	struct bfiles next;  /* the index's list being read */
};

static int bl_fail(struct baseline *b, struct base_err *err, const char *what)
{
	return base_err_set(err, BASE_E_DB, "eval baseline: %s: %s", what,
			    b->db ? sqlite3_errmsg(b->db) : "out of memory");
}

static int bl_open(struct baseline *b, struct base_err *err)
{
	memset(b, 0, sizeof(*b));
	if (sqlite3_open_v2(":memory:", &b->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
		return bl_fail(b, err, "open");
	if (sqlite3_exec(b->db, "CREATE VIRTUAL TABLE f USING fts5(body, tokenize='unicode61')", NULL, NULL,
			 NULL) != SQLITE_OK)
		return bl_fail(b, err, "create FTS5 table");
	if (sqlite3_prepare_v2(b->db, "INSERT INTO f(body) VALUES (?)", -1, &b->ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(b->db, "DELETE FROM f WHERE rowid = ?", -1, &b->del, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(b->db, "SELECT rowid FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT 100", -1, &b->q,
			       NULL) != SQLITE_OK)
		return bl_fail(b, err, "prepare");
	return BASE_OK;
}

static void bfiles_release(struct bfiles *v)
{
	for (size_t i = 0; i < v->n; i++)
		base_free(v->v[i].path);
	base_vec_release(v);
}

static void bl_close(struct baseline *b)
{
	sqlite3_finalize(b->ins);
	sqlite3_finalize(b->del);
	sqlite3_finalize(b->q);
	sqlite3_close(b->db);
	bfiles_release(&b->files);
	bfiles_release(&b->next);
}

static int bl_collect(void *payload, const struct store_file *f)
{
	struct baseline *b = payload;
	struct bfile x = { base_strdup(f->path), f->hash, 0 };
	base_vec_push(&b->next, x);
	return 0;
}

static int bl_delete(struct baseline *b, int64_t rowid, struct base_err *err)
{
	sqlite3_bind_int64(b->del, 1, rowid);
	int rc = sqlite3_step(b->del);
	sqlite3_reset(b->del);
	return rc == SQLITE_DONE ? BASE_OK : bl_fail(b, err, "delete");
}

static int bl_insert(struct baseline *b, const char *root, struct bfile *f, struct base_buf *tmp,
		     struct base_err *err)
{
	char *full = base_strfmt("%s/%s", root, f->path);
	int rc = base_buf_read_file(tmp, full, NULL);
	base_free(full);
	if (rc)
		base_buf_reset(tmp); /* vanished or unreadable: an empty document */
	sqlite3_bind_text(b->ins, 1, tmp->data, (int)tmp->len, SQLITE_STATIC);
	rc = sqlite3_step(b->ins);
	sqlite3_reset(b->ins);
	if (rc != SQLITE_DONE)
		return bl_fail(b, err, "insert");
	f->rowid = sqlite3_last_insert_rowid(b->db);
	return BASE_OK;
}

/* Bring the table to the index's file list: a merge of two path-ordered
 * lists, so only files whose hash changed are read again. */
static int bl_sync(struct baseline *b, struct store *s, const char *root, struct base_err *err)
{
	int rc = store_files_each(s, bl_collect, b, err);
	struct base_buf tmp = BASE_BUF_INIT(BASE_CAP_FILE);
	if (!rc)
		sqlite3_exec(b->db, "BEGIN", NULL, NULL, NULL);
	size_t i = 0, j = 0;
	while (!rc && (i < b->files.n || j < b->next.n)) {
		int c = i == b->files.n ? 1 : j == b->next.n ? -1 : strcmp(b->files.v[i].path, b->next.v[j].path);
		if (c < 0) {
			rc = bl_delete(b, b->files.v[i].rowid, err);
			i++;
		} else if (c > 0) {
			rc = bl_insert(b, root, &b->next.v[j], &tmp, err);
			j++;
		} else {
			if (b->files.v[i].hash == b->next.v[j].hash) {
				b->next.v[j].rowid = b->files.v[i].rowid;
			} else {
				rc = bl_delete(b, b->files.v[i].rowid, err);
				if (!rc)
					rc = bl_insert(b, root, &b->next.v[j], &tmp, err);
			}
			i++;
			j++;
		}
	}
	sqlite3_exec(b->db, rc ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
	base_buf_release(&tmp);
	bfiles_release(&b->files);
	b->files = b->next;
	b->next = (struct bfiles){ NULL, 0, 0 };
	if (rc) {
		/* the table no longer matches any list: start over next time */
		sqlite3_exec(b->db, "DELETE FROM f", NULL, NULL, NULL);
		bfiles_release(&b->files);
	}
	return rc;
}

static const char *bl_path(const struct baseline *b, int64_t rowid)
{
	/* rowids are not in path order; a scan per hit is fine for 100 hits */
	for (size_t i = 0; i < b->files.n; i++)
		if (b->files.v[i].rowid == rowid)
			return b->files.v[i].path;
	return NULL;
}

static bool fts_char(unsigned char c)
{
	return isalnum(c) || c >= 0x80;
}

/* The message's words (unicode61's token characters: letters and digits),
 * each quoted, OR-ed: FTS5 syntax in the text is never interpreted. */
static int bl_query(struct baseline *b, const char *text, const struct cand *c, int *rank, struct base_err *err)
{
	struct base_buf q = BASE_BUF_INIT(BASE_CAP_QUERY);
	size_t n = strlen(text), i = 0, terms = 0;
	*rank = 0;
	while (i < n) {
		while (i < n && !fts_char((unsigned char)text[i]))
			i++;
		size_t s = i;
		while (i < n && fts_char((unsigned char)text[i]))
			i++;
		if (i > s) {
			if ((terms && base_buf_adds(&q, " OR ")) || base_buf_addc(&q, '"') ||
			    base_buf_add(&q, text + s, i - s) || base_buf_addc(&q, '"')) {
				base_buf_release(&q);
				return base_err_set(err, BASE_E_TOOBIG, "eval baseline: query too long");
			}
			terms++;
		}
	}
	if (!terms) {
		base_buf_release(&q);
		return BASE_OK;
	}
	sqlite3_bind_text(b->q, 1, q.data, (int)q.len, SQLITE_STATIC);
	int r, pos = 0, rc = BASE_OK;
	while ((r = sqlite3_step(b->q)) == SQLITE_ROW) {
		pos++;
		const char *path = bl_path(b, sqlite3_column_int64(b->q, 0));
		for (size_t k = 0; path && !*rank && k < c->files.n; k++)
			if (strcmp(path, c->files.v[k]) == 0)
				*rank = pos;
	}
	if (r != SQLITE_DONE)
		rc = bl_fail(b, err, "query");
	sqlite3_reset(b->q);
	base_buf_release(&q);
	return rc;
}

/* ---- the run --------------------------------------------------------- */

static void progress(const struct idx_eval_options *o, const char *fmt, ...) BASE_PRINTF(2, 3);
static void progress(const struct idx_eval_options *o, const char *fmt, ...)
{
	if (!o->progress)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	o->progress(o->progress_payload, line);
}

static int rank_of(const struct store_hits *hits, const struct cand *c)
{
	for (size_t i = 0; i < hits->n; i++)
		for (size_t k = 0; k < c->files.n; k++)
			if (strcmp(hits->v[i].path, c->files.v[k]) == 0)
				return (int)i + 1;
	return 0;
}

struct indexed_check {
	const struct cand *c;
	size_t found;
};

static int count_indexed(void *payload, const struct store_file *f)
{
	struct indexed_check *ic = payload;
	for (size_t k = 0; k < ic->c->files.n; k++)
		if (strcmp(f->path, ic->c->files.v[k]) == 0)
			ic->found++;
	return 0;
}

static int select_commits(const struct idx_eval_options *o, unsigned want, struct cands *out, size_t *scanned,
			  struct base_err *err)
{
	unsigned scan = o->scan ? o->scan : BASE_MAX(2000u, want * 50u);
	char nbuf[32];
	snprintf(nbuf, sizeof(nbuf), "-n%u", scan);
	const char *args[] = { "log",	       "--no-merges", "--no-renames", "--no-color",
			       nbuf,	       "--format=%x1e%H %P%x1f%B%x1f", "--name-status", "HEAD",
			       NULL };
	struct base_buf log = BASE_BUF_INIT(BASE_CAP_TEXT * 4);
	char e[256];
	int st = git_run(o->repo, args, &log, e, sizeof(e));
	if (st == GIT_NOT_FOUND) {
		base_buf_release(&log);
		return base_err_set(err, BASE_E_UNSUPPORTED, "eval needs git, and it cannot be run (is it installed?)");
	}
	if (st != 0) {
		base_buf_release(&log);
		return base_err_set(err, BASE_E_NOTFOUND, "%s: git log failed: %s", o->repo,
				    e[0] ? e : "not a git repository with commits");
	}
	size_t pos = 0;
	*scanned = 0;
	while (pos < log.len && out->n < want) {
		const char *r = memchr(log.data + pos, '\x1e', log.len - pos);
		if (!r)
			break;
		size_t b = (size_t)(r - log.data) + 1;
		const char *next = memchr(log.data + b, '\x1e', log.len - b);
		size_t e2 = next ? (size_t)(next - log.data) : log.len;
		(*scanned)++;
		struct cand c;
		if (parse_record(log.data + b, e2 - b, &c))
			base_vec_push(out, c);
		pos = e2;
	}
	base_buf_release(&log);
	return BASE_OK;
}

static int worktree_prepare(const struct idx_eval_options *o, char **dir_out, char **tree_out, const char *first,
			    struct base_err *err)
{
	char tmpl[] = "/tmp/lode-eval-XXXXXX";
	if (!mkdtemp(tmpl))
		return base_err_errno(err, BASE_E_IO, errno, "eval: cannot create a temporary directory");
	char *tree = base_strfmt("%s/tree", tmpl);
	const char *args[] = { "worktree", "add", "--detach", "--force", "--no-checkout", tree, first, NULL };
	char e[256];
	if (git_run(o->repo, args, NULL, e, sizeof(e)) != 0) {
		rmdir(tmpl);
		base_free(tree);
		return base_err_set(err, BASE_E_IO, "eval: git worktree add in %s failed: %s", o->repo,
				    e[0] ? e : "unknown error");
	}
	*dir_out = base_strdup(tmpl);
	*tree_out = tree;
	/*
	 * Leave binary archives and media out of the checkout (checkouts run
	 * with core.sparseCheckout): lode skips them anyway, and mirrors that
	 * lack their large blobs can still be checked out. The pattern file is
	 * the worktree's own; no configuration of the repository changes.
	 */
	const char *gd[] = { "rev-parse", "--absolute-git-dir", NULL };
	struct base_buf dir = BASE_BUF_INIT(4096);
	if (git_run(tree, gd, &dir, NULL, 0) == 0) {
		while (dir.len && (dir.data[dir.len - 1] == '\n' || dir.data[dir.len - 1] == '\r'))
			base_buf_truncate(&dir, dir.len - 1);
		char *info = base_strfmt("%s/info", dir.data);
		char *path = base_strfmt("%s/sparse-checkout", info);
		mkdir(info, 0755);
		FILE *f = fopen(path, "w");
		if (f) {
			static const char *const binary[] = { "tar.gz", "tgz", "tar.bz2", "tar.xz", "zip", "jar", "war",
							      "whl", "gz", "bz2", "xz", "7z", "bin", "so", "dll",
							      "exe", "dylib", "a", "o", "class", "png", "jpg", "jpeg",
							      "gif", "ico", "pdf", "woff", "woff2", "ttf", "otf",
							      "mp3", "mp4", "mov", "psd", "sqlite", "db" };
			fputs("/*\n", f);
			for (size_t i = 0; i < BASE_ARRAY_LEN(binary); i++)
				fprintf(f, "!*.%s\n", binary[i]);
			fclose(f);
		}
		base_free(path);
		base_free(info);
	}
	base_buf_release(&dir);
	return BASE_OK;
}

static void worktree_remove(const struct idx_eval_options *o, const char *dir, const char *tree)
{
	const char *args[] = { "worktree", "remove", "--force", tree, NULL };
	git_run(o->repo, args, NULL, NULL, 0);
	const char *prune[] = { "worktree", "prune", NULL };
	git_run(o->repo, prune, NULL, NULL, 0);
	rmdir(tree);
	rmdir(dir);
}

static const char *system_name(const struct idx_eval_options *o, const enum idx_mode *modes, size_t m)
{
	return o->names && o->names[m] ? o->names[m] : idx_mode_name(modes[m]);
}

static int run_case(const struct idx_eval_options *o, const char *tree, struct cand *c, struct baseline *bl,
		    struct idx_eval_case *out, size_t nmodes, const enum idx_mode *modes, enum idx_mode *used,
		    bool *skip, struct base_err *err)
{
	const char *args[] = { "-c", "core.sparseCheckout=true", "checkout", "-q", "-f", "--detach", c->parent, NULL };
	char e[256];
	if (git_run(tree, args, NULL, e, sizeof(e)) != 0)
		return base_err_set(err, BASE_E_IO, "eval: git checkout %.12s failed: %s", c->parent, e);
	struct idx_options io = { .root = tree, .jobs = o->jobs };
	struct idx_summary sum;
	uint64_t t0 = base_now_ns();
	int rc = idx_index(&io, &sum, err);
	if (rc)
		return rc;
	out->index_ms = (double)(base_now_ns() - t0) / 1e6;

	char *db = idx_db_path(tree);
	struct store *s = store_open(db, STORE_READ, err);
	base_free(db);
	if (!s)
		return err ? err->code : BASE_E_DB;
	struct indexed_check ic = { c, 0 };
	rc = store_files_each(s, count_indexed, &ic, err);
	if (!rc && ic.found == 0) {
		*skip = true;
		store_close(s);
		return BASE_OK;
	}
	if (!rc)
		rc = bl_sync(bl, s, tree, err);
	store_close(s);
	if (rc)
		return rc;

	struct idx_reader *r = idx_reader_open(tree, err);
	if (!r)
		return err ? err->code : BASE_E_DB;
	for (size_t m = 0; m < nmodes && !rc; m++) {
		struct idx_query q = { .text = c->query, .k = IDX_EVAL_K, .mode = modes[m], .files = true,
				       .off = o->off ? o->off[m] : 0 };
		struct store_hits hits = STORE_HITS_INIT;
		struct idx_answer ans;
		rc = idx_search(r, &q, &hits, &ans, err);
		if (!rc) {
			out->ranks[m] = rank_of(&hits, c);
			used[m] = ans.mode;
		}
		store_hits_release(&hits);
	}
	idx_reader_close(r);
	if (!rc)
		rc = bl_query(bl, c->query, c, &out->ranks[nmodes], err);
	return rc;
}

int idx_eval_run(const struct idx_eval_options *o, struct idx_eval_result *out, struct base_err *err)
{
	memset(out, 0, sizeof(*out));
	static const enum idx_mode lexical_only[] = { IDX_MODE_LEXICAL };
	const enum idx_mode *modes = o->nmodes ? o->modes : lexical_only;
	size_t nmodes = o->nmodes ? o->nmodes : 1;
	if (!o->repo || nmodes >= IDX_EVAL_MAX_SYSTEMS)
		return base_err_set(err, BASE_E_API, "eval: no repository, or more than %d modes",
				    IDX_EVAL_MAX_SYSTEMS - 1);
	unsigned want = o->commits ? o->commits : IDX_EVAL_DEFAULT_COMMITS;
	uint64_t t0 = base_now_ns();

	struct cands cands = { NULL, 0, 0 };
	int rc = select_commits(o, want, &cands, &out->scanned, err);
	if (rc)
		goto done;
	if (cands.n == 0) {
		rc = base_err_set(err, BASE_E_NOTFOUND,
				  "%s: no usable commit in the %zu looked at (history too short? eval needs "
				  "commits that modify 1-3 non-test source files with a descriptive message)",
				  o->repo, out->scanned);
		goto done;
	}
	progress(o, "eval: %zu commits picked from %zu", cands.n, out->scanned);

	char *dir = NULL, *tree = NULL;
	rc = worktree_prepare(o, &dir, &tree, cands.v[0].parent, err);
	if (rc)
		goto done;
	struct baseline bl;
	rc = bl_open(&bl, err);
	out->cases = base_calloc(cands.n, sizeof(*out->cases));
	for (size_t i = 0; i < cands.n && !rc; i++) {
		struct cand *c = &cands.v[i];
		struct idx_eval_case *ec = &out->cases[out->ncases];
		memset(ec, 0, sizeof(*ec));
		bool skip = false;
		rc = run_case(o, tree, c, &bl, ec, nmodes, modes, out->used, &skip, err);
		if (rc)
			break;
		if (skip) {
			out->not_indexed++;
			progress(o, "eval: [%zu/%zu] %.10s skipped: no touched file is indexed", i + 1, cands.n,
				 c->commit);
			continue;
		}
		memcpy(ec->commit, c->commit, 41);
		memcpy(ec->parent, c->parent, 41);
		ec->query = c->query;
		c->query = NULL;
		ec->nfiles = c->files.n;
		ec->files = c->files.v;
		c->files.v = NULL;
		c->files.n = c->files.cap = 0;
		out->ncases++;
		char ranks[512];
		size_t rl = 0;
		for (size_t m = 0; m <= nmodes && rl < sizeof(ranks); m++)
			rl += (size_t)snprintf(ranks + rl, sizeof(ranks) - rl, " %s=%d",
					       m < nmodes ? system_name(o, modes, m) : "bm25", ec->ranks[m]);
		progress(o, "eval: [%zu/%zu] %.10s index %.0f ms, rank%s", i + 1, cands.n, c->commit, ec->index_ms,
			 ranks);
	}
	bl_close(&bl);
	if (o->keep && !rc) {
		out->worktree = tree;
		tree = NULL;
	} else {
		worktree_remove(o, dir, tree);
	}
	base_free(tree);
	base_free(dir);
	if (rc)
		goto done;

	out->nsystems = nmodes + 1;
	for (size_t m = 0; m < out->nsystems; m++) {
		out->systems[m] = m < nmodes ? system_name(o, modes, m) : "bm25";
		if (m == nmodes)
			out->used[m] = IDX_MODE_LEXICAL;
		int *ranks = base_calloc(out->ncases ? out->ncases : 1, sizeof(int));
		for (size_t i = 0; i < out->ncases; i++)
			ranks[i] = out->cases[i].ranks[m];
		idx_eval_score(ranks, out->ncases, &out->scores[m]);
		base_free(ranks);
	}
	if (out->ncases == 0)
		rc = base_err_set(err, BASE_E_NOTFOUND, "%s: none of the picked commits' files is indexed", o->repo);
done:
	for (size_t i = 0; i < cands.n; i++)
		cand_release(&cands.v[i]);
	base_vec_release(&cands);
	out->took_ms = (double)(base_now_ns() - t0) / 1e6;
	if (rc)
		idx_eval_result_release(out);
	return rc;
}

void idx_eval_result_release(struct idx_eval_result *r)
{
	for (size_t i = 0; i < r->ncases; i++) {
		base_free(r->cases[i].query);
		for (size_t k = 0; k < r->cases[i].nfiles; k++)
			base_free(r->cases[i].files[k]);
		base_free(r->cases[i].files);
	}
	base_free(r->cases);
	base_free(r->worktree);
	memset(r, 0, sizeof(*r));
}
