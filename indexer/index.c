/*
 * index.c: the update pipeline behind `lode index`.
 *
 *   walk ─▶ plan (stat vs the index) ─▶ workers: read, classify, hash, chunk
 *                                              │ bounded queue
 *                                              ▼
 *                                  one writer: store transactions
 *
 * Files whose size, mtime and inode match the index are not read. Files
 * read whose content hash matches only get their stat refreshed. Each
 * file's rows change inside one transaction; transactions are batched for
 * throughput. The generation is bumped when anything changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "indexer/chunk.h"
#include "indexer/indexer.h"
#include "indexer/lang.h"
#include "indexer/vectors.h"
#include "indexer/walk.h"
#include "store/store.h"

#include "base/banned.h"

#define BATCH_FILES 2000
#define BATCH_BYTES ((uint64_t)64 << 20)
#define QUEUE_MAX 64

char *idx_dir(const char *root)
{
	return base_strfmt("%s/.lode", root);
}

char *idx_db_path(const char *root)
{
	return base_strfmt("%s/.lode/index.db", root);
}

/* ---- what the index already holds ------------------------------------ */

struct known {
	char *path;
	uint64_t size, ino, hash;
	int64_t mtime_ns;
	bool seen;
};

struct known_map {
	BASE_VEC(struct known) files;
	uint32_t *slots; /* index + 1 into files; 0 = empty */
	size_t nslots;
};

static uint64_t path_hash(const char *p, size_t n)
{
	return XXH3_64bits(p, n);
}

static int known_collect(void *payload, const struct store_file *f)
{
	struct known_map *m = payload;
	struct known k = { base_strdup(f->path), f->size, f->ino, f->hash, f->mtime_ns, false };
	base_vec_push(&m->files, k);
	return 0;
}

static void known_build(struct known_map *m)
{
	m->nslots = 16;
	while (m->nslots < m->files.n * 2)
		m->nslots *= 2;
	m->slots = base_calloc(m->nslots, sizeof(*m->slots));
	for (size_t i = 0; i < m->files.n; i++) {
		const char *p = m->files.v[i].path;
		size_t s = path_hash(p, strlen(p)) & (m->nslots - 1);
		while (m->slots[s])
			s = (s + 1) & (m->nslots - 1);
		m->slots[s] = (uint32_t)i + 1;
	}
}

static struct known *known_find(struct known_map *m, const char *p, size_t n)
{
	size_t s = path_hash(p, n) & (m->nslots - 1);
	while (m->slots[s]) {
		struct known *k = &m->files.v[m->slots[s] - 1];
		if (strlen(k->path) == n && memcmp(k->path, p, n) == 0)
			return k;
		s = (s + 1) & (m->nslots - 1);
	}
	return NULL;
}

static void known_release(struct known_map *m)
{
	for (size_t i = 0; i < m->files.n; i++)
		base_free(m->files.v[i].path);
	base_vec_release(&m->files);
	base_free(m->slots);
}

/* ---- work ------------------------------------------------------------ */

struct work {
	char *path;
	uint64_t size, ino;
	int64_t mtime_ns;
	struct known *known; /* NULL for a new file */
};

enum action { ACT_PUT, ACT_TOUCH, ACT_SKIP };

struct result {
	size_t work;
	enum action act;
	int skip; /* enum idx_skip for ACT_SKIP */
	uint64_t hash;
	const struct idx_lang *lang;
	struct base_buf data;
	struct idx_chunks chunks;
	float *vecs; /* chunks.c.n vectors, or NULL */
	struct result *next;
};

struct pipeline {
	const char *root;
	unsigned max_chunk;
	struct idx_vec *vec; /* NULL: no vectors */
	struct work *work;
	size_t nwork;
	atomic_size_t next;

	pthread_mutex_t mu;
	pthread_cond_t ready;  /* a result was queued */
	pthread_cond_t space;  /* the queue has room */
	struct result *head, *tail;
	size_t queued;
	unsigned running;
	bool stop;
};

static void result_free(struct result *r)
{
	if (!r)
		return;
	base_buf_release(&r->data);
	idx_chunks_release(&r->chunks);
	base_free(r->vecs);
	base_free(r);
}

static void process(struct pipeline *pl, size_t i, struct result *r, TSParser *parser)
{
	struct work *w = &pl->work[i];
	char *full = base_strfmt("%s/%s", pl->root, w->path);
	struct base_err err;
	r->work = i;
	base_buf_init(&r->data, BASE_CAP_FILE);
	int rc = base_buf_read_file(&r->data, full, &err);
	base_free(full);
	if (rc) {
		BASE_LOG(BASE_LOG_WARN, "%s", err.msg);
		r->act = ACT_SKIP;
		r->skip = rc == BASE_E_TOOBIG ? IDX_SKIP_TOO_LARGE : IDX_SKIP_UNREADABLE;
		return;
	}
	int skip = idx_content_skip(w->path, r->data.data, r->data.len);
	if (skip >= 0) {
		r->act = ACT_SKIP;
		r->skip = skip;
		base_buf_release(&r->data);
		return;
	}
	r->hash = XXH3_64bits(r->data.data, r->data.len);
	if (w->known && w->known->hash == r->hash) {
		r->act = ACT_TOUCH;
		base_buf_release(&r->data);
		return;
	}
	r->act = ACT_PUT;
	r->lang = idx_lang_detect(w->path, r->data.data, BASE_MIN(r->data.len, 512));
	struct idx_chunk_opts co = { pl->max_chunk, parser };
	rc = idx_chunk_file(r->lang, r->data.data, r->data.len, &co, &r->chunks, &err);
	if (rc) {
		BASE_LOG(BASE_LOG_WARN, "%s: %s", w->path, err.msg);
		r->act = ACT_SKIP;
		r->skip = IDX_SKIP_UNREADABLE;
		idx_chunks_release(&r->chunks);
		return;
	}
	/* A file whose chunks cannot be embedded is still indexed lexically. */
	if (pl->vec && idx__vec_chunks(pl->vec, r->data.data, &r->chunks, &r->vecs, &err))
		BASE_LOG(BASE_LOG_WARN, "%s: not embedded: %s", w->path, err.msg);
}

static void *worker(void *arg)
{
	struct pipeline *pl = arg;
	TSParser *parser = ts_parser_new();
	for (;;) {
		size_t i = atomic_fetch_add(&pl->next, 1);
		if (i >= pl->nwork)
			break;
		struct result *r = base_calloc(1, sizeof(*r));
		process(pl, i, r, parser);
		pthread_mutex_lock(&pl->mu);
		while (pl->queued >= QUEUE_MAX && !pl->stop)
			pthread_cond_wait(&pl->space, &pl->mu);
		if (pl->stop) {
			pthread_mutex_unlock(&pl->mu);
			result_free(r);
			break;
		}
		if (pl->tail)
			pl->tail->next = r;
		else
			pl->head = r;
		pl->tail = r;
		pl->queued++;
		pthread_cond_signal(&pl->ready);
		pthread_mutex_unlock(&pl->mu);
	}
	ts_parser_delete(parser);
	pthread_mutex_lock(&pl->mu);
	pl->running--;
	pthread_cond_signal(&pl->ready);
	pthread_mutex_unlock(&pl->mu);
	return NULL;
}

/* The next finished result, or NULL when every worker is done. */
static struct result *next_result(struct pipeline *pl)
{
	pthread_mutex_lock(&pl->mu);
	while (!pl->head && pl->running > 0)
		pthread_cond_wait(&pl->ready, &pl->mu);
	struct result *r = pl->head;
	if (r) {
		pl->head = r->next;
		if (!pl->head)
			pl->tail = NULL;
		pl->queued--;
		pthread_cond_signal(&pl->space);
	}
	pthread_mutex_unlock(&pl->mu);
	return r;
}

/* ---- the writer ------------------------------------------------------ */

struct run {
	const struct idx_options *opts;
	struct store *st;
	struct idx_vec *vec;
	unsigned dim;
	struct known_map known;
	BASE_VEC(struct work) work;
	struct idx_summary *sum;
	uint64_t batch_files, batch_bytes;
	uint64_t last_progress_ns;
	uint64_t bytes_done;
	bool changed;
};

static int batch_tick(struct run *run, uint64_t bytes, struct base_err *err)
{
	run->batch_files++;
	run->batch_bytes += bytes;
	if (run->batch_files < BATCH_FILES && run->batch_bytes < BATCH_BYTES)
		return BASE_OK;
	run->batch_files = run->batch_bytes = 0;
	int rc = store_commit(run->st, err);
	if (!rc && run->vec)
		rc = idx__vec_maintain(run->vec, run->st, err);
	return rc ? rc : store_begin(run->st, err);
}

static int write_put(struct run *run, const struct work *w, const struct result *r, struct base_err *err)
{
	size_t n = r->chunks.c.n, nn = r->chunks.names.n;
	struct store_chunk_in *in = base_calloc(n ? n : 1, sizeof(*in));
	struct store_name *names = base_calloc(nn ? nn : 1, sizeof(*names));
	for (size_t i = 0; i < nn; i++) {
		const struct idx_name *x = &r->chunks.names.v[i];
		names[i].name = x->name;
		names[i].kind = (enum store_name_kind)x->kind;
		if (x->chunk < n) {
			if (!in[x->chunk].names)
				in[x->chunk].names = &names[i];
			in[x->chunk].nnames++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct idx_chunk *c = &r->chunks.c.v[i];
		in[i].start_byte = c->start_byte;
		in[i].end_byte = c->end_byte;
		in[i].start_line = c->start_line;
		in[i].end_line = c->end_line;
		in[i].kind = c->kind;
		in[i].symbol = c->symbol ? c->symbol : "";
		in[i].scope = c->scope ? c->scope : "";
		in[i].vec = r->vecs ? r->vecs + i * run->dim : NULL;
	}
	struct store_file f = { w->path, w->size, w->mtime_ns, w->ino, r->hash, r->lang->name };
	int rc = store_file_put(run->st, &f, r->data.data, r->data.len, in, n, err);
	base_free(in);
	base_free(names);
	if (rc)
		return rc;
	run->sum->chunks += n;
	run->sum->bytes += r->data.len;
	if (w->known)
		run->sum->updated++;
	else
		run->sum->added++;
	return BASE_OK;
}

static int apply(struct run *run, const struct result *r, struct base_err *err)
{
	const struct work *w = &run->work.v[r->work];
	int rc = BASE_OK;
	switch (r->act) {
	case ACT_PUT:
		rc = write_put(run, w, r, err);
		break;
	case ACT_TOUCH: {
		struct store_file f = { w->path, w->size, w->mtime_ns, w->ino, r->hash, NULL };
		rc = store_file_touch(run->st, &f, err);
		run->sum->touched++;
		break;
	}
	case ACT_SKIP:
		run->sum->skipped[r->skip]++;
		if (w->known) {
			rc = store_file_delete(run->st, w->path, err);
			run->sum->deleted++;
		}
		break;
	}
	if (rc)
		return rc;
	run->changed |= r->act == ACT_PUT || (r->act == ACT_SKIP && w->known);
	run->bytes_done += w->size;
	return batch_tick(run, r->act == ACT_PUT ? r->data.len : 0, err);
}

static void progress(struct run *run, uint64_t done, bool force)
{
	if (!run->opts->progress)
		return;
	uint64_t now = base_now_ns();
	if (!force && now - run->last_progress_ns < 100 * 1000000ull)
		return;
	run->last_progress_ns = now;
	run->opts->progress(run->opts->progress_payload, done, run->work.n, run->bytes_done);
}

static int run_pipeline(struct run *run, struct base_err *err)
{
	struct pipeline pl = { 0 };
	pl.root = run->opts->root;
	pl.max_chunk = run->opts->max_chunk;
	pl.vec = run->vec;
	pl.work = run->work.v;
	pl.nwork = run->work.n;
	atomic_init(&pl.next, 0);
	pthread_mutex_init(&pl.mu, NULL);
	pthread_cond_init(&pl.ready, NULL);
	pthread_cond_init(&pl.space, NULL);

	unsigned jobs = run->opts->jobs;
	if (jobs == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		jobs = n > 0 ? (unsigned)n : 1;
	}
	if (jobs > 64)
		jobs = 64;
	pthread_t tids[64];
	unsigned started = 0;
	/* hold the lock while starting: no worker may report before the
	 * count of running workers is right */
	pthread_mutex_lock(&pl.mu);
	for (unsigned i = 0; i < jobs; i++) {
		if (pthread_create(&tids[i], NULL, worker, &pl) != 0)
			break;
		started++;
	}
	pl.running = started;
	pthread_mutex_unlock(&pl.mu);

	int rc = started ? BASE_OK : base_err_set(err, BASE_E_NOMEM, "cannot start indexing threads");
	uint64_t done = 0;
	struct result *r;
	while (rc == BASE_OK && (r = next_result(&pl)) != NULL) {
		rc = apply(run, r, err);
		result_free(r);
		progress(run, ++done, false);
	}
	if (rc) {
		/* stop the workers, drain what they queued */
		pthread_mutex_lock(&pl.mu);
		pl.stop = true;
		atomic_store(&pl.next, pl.nwork);
		pthread_cond_broadcast(&pl.space);
		pthread_mutex_unlock(&pl.mu);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	while ((r = pl.head) != NULL) {
		pl.head = r->next;
		result_free(r);
	}
	progress(run, done, true);
	pthread_mutex_destroy(&pl.mu);
	pthread_cond_destroy(&pl.ready);
	pthread_cond_destroy(&pl.space);
	return rc;
}

/* ---- plan ------------------------------------------------------------ */

static int plan_entry(void *payload, const struct idx_walk_entry *e)
{
	struct run *run = payload;
	struct known *k = known_find(&run->known, e->path, e->path_len);
	run->sum->seen++;
	if (k) {
		k->seen = true;
		if (k->size == e->size && k->mtime_ns == e->mtime_ns && k->ino == e->ino) {
			run->sum->unchanged++;
			return 0;
		}
	}
	struct work w = { base_strndup(e->path, e->path_len), e->size, e->ino, e->mtime_ns, k };
	base_vec_push(&run->work, w);
	return 0;
}

static int delete_unseen(struct run *run, struct base_err *err)
{
	for (size_t i = 0; i < run->known.files.n; i++) {
		struct known *k = &run->known.files.v[i];
		if (k->seen)
			continue;
		int rc = store_file_delete(run->st, k->path, err);
		if (rc)
			return rc;
		run->sum->deleted++;
		run->changed = true;
		rc = batch_tick(run, 0, err);
		if (rc)
			return rc;
	}
	return BASE_OK;
}

/* ---- repository housekeeping ----------------------------------------- */

/* Keep .lode/ out of git: add it to .git/info/exclude once. */
static void git_exclude(const char *root)
{
	char *gitdir = base_strfmt("%s/.git", root);
	struct stat st;
	if (stat(gitdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		base_free(gitdir);
		return;
	}
	char *info = base_strfmt("%s/info", gitdir);
	char *path = base_strfmt("%s/exclude", info);
	mkdir(info, 0777);
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_FILE);
	struct base_err err;
	bool have = false;
	if (base_buf_read_file(&b, path, &err) == BASE_OK) {
		const char *p = b.data;
		while (p && *p) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			if ((n == 6 && memcmp(p, "/.lode", 6) == 0) || (n == 7 && memcmp(p, "/.lode/", 7) == 0) ||
			    (n == 5 && memcmp(p, ".lode", 5) == 0) || (n == 6 && memcmp(p, ".lode/", 6) == 0))
				have = true;
			p = nl ? nl + 1 : NULL;
		}
	}
	if (!have) {
		FILE *f = fopen(path, "a");
		if (f) {
			if (b.len > 0 && b.data[b.len - 1] != '\n')
				fputc('\n', f);
			fputs("# lode's index\n/.lode/\n", f);
			fclose(f);
		}
	}
	base_buf_release(&b);
	base_free(path);
	base_free(info);
	base_free(gitdir);
}

static int take_lock(const char *dir, int *fd_out, struct base_err *err)
{
	char *path = base_strfmt("%s/lock", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		base_err_errno(err, BASE_E_IO, e, "cannot open lock file %s", path);
		base_free(path);
		return BASE_E_IO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		base_err_set(err, BASE_E_BUSY, "another lode process%s%s%s is writing this index (%s is locked)",
			     *pid ? " (pid " : "", pid, *pid ? ")" : "", path);
		base_free(path);
		close(fd);
		return BASE_E_BUSY;
	}
	/* who holds it, for the message above */
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
		BASE_LOG(BASE_LOG_DEBUG, "cannot record the pid in %s", path);
	base_free(path);
	*fd_out = fd;
	return BASE_OK;
}

static void remove_index(const char *db)
{
	static const char *const suffix[] = { "", "-wal", "-shm", "-journal" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(suffix); i++) {
		char *p = base_strfmt("%s%s", db, suffix[i]);
		unlink(p);
		base_free(p);
	}
	char *dir = base_strndup(db, strlen(db) - strlen("/index.db"));
	store_vectors_remove_files(dir);
	base_free(dir);
}

static int save_meta(struct run *run, bool skips_known, struct base_err *err)
{
	int rc = BASE_OK;
	if (skips_known) {
		struct base_buf skips = BASE_BUF_INIT(4096);
		for (int i = 0; i < IDX_SKIP__COUNT; i++)
			if (base_buf_addf(&skips, "%s%s=%llu", i ? " " : "", idx_skip_name(i),
					  (unsigned long long)run->sum->skipped[i]))
				break;
		rc = store_meta_set(run->st, "skipped", skips.data, err);
		base_buf_release(&skips);
		if (rc)
			return rc;
	}
	char *head = idx_git_head(run->opts->root);
	rc = store_meta_set(run->st, "head", head ? head : "", err);
	base_free(head);
	if (rc || !run->changed)
		return rc;
	char *g = store_meta_get(run->st, "generation");
	char num[32];
	snprintf(num, sizeof(num), "%lld", (g ? strtoll(g, NULL, 10) : 0) + 1);
	base_free(g);
	return store_meta_set(run->st, "generation", num, err);
}

/* ---- the writer session ------------------------------------------------ */

/* Save the vectors after an update once this many seconds passed since the last save. */
#define VECTOR_SAVE_EVERY_NS (30 * 1000000000ull)

struct idx_writer {
	struct idx_options opts;
	char *root, *dir, *db;
	int lock;
	struct store *st;
	struct idx_vec *vec;
	unsigned dim;
	uint64_t saved_ns; /* when the vectors were last saved */
};

struct idx_writer *idx_writer_open(const struct idx_options *opts, struct base_err *err)
{
	struct stat st;
	if (stat(opts->root, &st) != 0) {
		base_err_errno(err, BASE_E_NOTFOUND, errno, "cannot index %s", opts->root);
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		base_err_set(err, BASE_E_INVAL, "cannot index %s: not a directory", opts->root);
		return NULL;
	}
	struct idx_writer *w = base_calloc(1, sizeof(*w));
	w->opts = *opts;
	w->root = base_strdup(opts->root);
	w->opts.root = w->root;
	/* the caller's strings are not kept: idx_writer_open is done with them */
	w->opts.model = w->opts.vector_factory = w->opts.query_prefix = w->opts.doc_prefix = NULL;
	w->dir = idx_dir(opts->root);
	w->db = idx_db_path(opts->root);
	w->lock = -1;
	w->saved_ns = base_now_ns();
	int rc = BASE_OK;
	if (mkdir(w->dir, 0777) != 0 && errno != EEXIST)
		rc = base_err_errno(err, BASE_E_IO, errno, "cannot create the index directory %s", w->dir);
	if (!rc)
		rc = take_lock(w->dir, &w->lock, err);
	/*
	 * The settings (the options, else the index's), then the embedder,
	 * and only then is anything changed: a model that cannot be opened
	 * leaves the index as it was, --rebuild included. A rebuild keeps the
	 * old index's settings; one that cannot be read is rebuilt with the
	 * options' (that is what --rebuild is for).
	 */
	struct idx_vec_settings vs = { 0 };
	if (!rc) {
		git_exclude(opts->root);
		w->st = store_open(w->db, opts->rebuild ? STORE_WRITE : STORE_WRITE | STORE_CREATE,
				   opts->rebuild ? NULL : err);
		if (!w->st && !opts->rebuild)
			rc = err ? err->code : BASE_E_IO;
	}
	if (!rc) {
		idx__vec_settings(w->st, opts, &vs);
		rc = idx__vec_open(opts, &vs, &w->vec, err);
	}
	if (!rc && opts->rebuild) {
		store_close(w->st);
		remove_index(w->db);
		w->st = store_open(w->db, STORE_WRITE | STORE_CREATE, err);
		if (!w->st)
			rc = err ? err->code : BASE_E_IO;
	}
	if (!rc)
		rc = idx__vec_attach(w->vec, opts->root, &vs, w->st, err);
	idx__vec_settings_release(&vs);
	w->dim = w->vec ? idx__vec_dim(w->vec) : 0;
	if (rc) {
		idx_writer_close(w);
		return NULL;
	}
	return w;
}

void idx_writer_close(struct idx_writer *w)
{
	if (!w)
		return;
	if (w->vec && w->st) {
		struct base_err err;
		if (idx__vec_save(w->vec, w->st, &err))
			BASE_LOG(BASE_LOG_WARN, "%s; it will be rebuilt on the next start", err.msg);
	}
	idx__vec_close(w->vec, w->st);
	store_close(w->st);
	if (w->lock >= 0)
		close(w->lock);
	base_free(w->db);
	base_free(w->dir);
	base_free(w->root);
	base_free(w);
}

const char *idx_writer_root(const struct idx_writer *w)
{
	return w->root;
}

struct store_vectors *idx_writer_vectors(struct idx_writer *w)
{
	return idx__vec_vectors(w->vec);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Sorted, without duplicates or paths inside another one of the set
 * (a directory covers what is under it). Strings are borrowed.
 */
static size_t scopes_normalize(const char **v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_str);
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (out) {
			const char *prev = v[out - 1];
			size_t pl = strlen(prev);
			if (strcmp(prev, v[i]) == 0 || (strncmp(v[i], prev, pl) == 0 && v[i][pl] == '/'))
				continue;
		}
		v[out++] = v[i];
	}
	return out;
}

/* Chunks per file assumed before an index has any. */
#define CHUNKS_PER_FILE_GUESS 11
/* Files processed first, spread over the work, when the vectors train on them. */
#define SAMPLE_FILES 5000

/*
 * Before a big first run: let the vector index pick its type for the
 * expected size; when it must be trained, move a uniform sample of the
 * files to the front of the work, so that the vectors it trains on come
 * from the whole tree and not from its first directories.
 */
static int plan_vectors(struct idx_writer *w, struct run *run, struct base_err *err)
{
	struct store_stats ss;
	int rc = store_stats(w->st, &ss, err);
	if (rc)
		return rc;
	uint64_t per_file = ss.files ? (uint64_t)(ss.chunks / ss.files) + 1 : CHUNKS_PER_FILE_GUESS;
	bool sample_first = false;
	rc = idx__vec_bulk(w->vec, (uint64_t)ss.chunks + run->work.n * per_file, &sample_first, err);
	size_t n = run->work.n;
	if (rc || !sample_first || n <= SAMPLE_FILES)
		return rc;
	size_t stride = n / SAMPLE_FILES;
	struct work *order = base_malloc(n * sizeof(*order));
	size_t k = 0;
	for (size_t i = 0; i < n; i += stride)
		order[k++] = run->work.v[i];
	for (size_t i = 0; i < n; i++)
		if (i % stride)
			order[k++] = run->work.v[i];
	BASE_ASSERT(k == n);
	memcpy(run->work.v, order, n * sizeof(*order));
	base_free(order);
	return BASE_OK;
}

/*
 * One update: the whole tree (n == 0) or only `scopes`. The files the
 * index holds in scope and the files the walk finds there are compared:
 * new and changed ones go through the workers, vanished or now skipped
 * ones are deleted.
 */
static int writer_run(struct idx_writer *w, const char *const *scopes, size_t n, struct idx_summary *sum,
		      struct base_err *err)
{
	uint64_t t0 = base_now_ns();
	memset(sum, 0, sizeof(*sum));
	struct run run = { 0 };
	run.opts = &w->opts;
	run.sum = sum;
	run.st = w->st;
	run.vec = w->vec;
	run.dim = w->dim;
	const char **sc = NULL;
	int rc = BASE_OK;
	if (n) {
		sc = base_malloc(n * sizeof(*sc));
		memcpy(sc, scopes, n * sizeof(*sc));
		n = scopes_normalize(sc, n);
		for (size_t i = 0; i < n && !rc; i++)
			rc = store_files_under(w->st, sc[i], known_collect, &run.known, err);
	} else {
		rc = store_files_each(w->st, known_collect, &run.known, err);
	}
	if (rc)
		goto out;
	known_build(&run.known);

	struct idx_walk_opts wo = { w->opts.max_file_size ? w->opts.max_file_size : IDX_DEFAULT_MAX_FILE_SIZE };
	struct idx_walk_stats ws;
	rc = n ? idx_walk_paths(w->root, sc, n, &wo, plan_entry, &run, &ws, err)
	       : idx_walk(w->root, &wo, plan_entry, &run, &ws, err);
	if (rc)
		goto out;
	memcpy(sum->skipped, ws.skipped, sizeof(sum->skipped));
	if (w->vec && run.work.n) {
		rc = plan_vectors(w, &run, err);
		if (rc)
			goto out;
	}

	rc = store_begin(w->st, err);
	if (rc)
		goto out;
	rc = run_pipeline(&run, err);
	if (!rc)
		rc = delete_unseen(&run, err);
	if (!rc)
		rc = save_meta(&run, n == 0, err);
	if (!rc)
		rc = store_commit(w->st, err);
	if (rc) {
		store_rollback(w->st);
		goto out;
	}
	if (w->vec) {
		/* a whole-tree run saves; updates save now and then (readers in
		 * other processes add what was committed since the last save) */
		uint64_t now = base_now_ns();
		if (n == 0 || now - w->saved_ns > VECTOR_SAVE_EVERY_NS) {
			rc = idx__vec_save(w->vec, w->st, err);
			w->saved_ns = now;
		} else {
			rc = idx__vec_maintain(w->vec, w->st, err);
		}
		if (rc)
			goto out;
	}
	snprintf(sum->model, sizeof(sum->model), "%s", w->vec ? idx__vec_model(w->vec) : IDX_MODEL_NONE);
	snprintf(sum->embedder, sizeof(sum->embedder), "%s", w->vec ? idx__vec_describe(w->vec) : "");
	struct idx_vec_stats vs = idx__vec_stats(w->vec);
	sum->embedded = vs.embedded;
	sum->cached = vs.cached;
	idx__vec_stats_reset(w->vec);
	struct store_stats ss;
	rc = store_stats(w->st, &ss, err);
	if (rc)
		goto out;
	sum->files = (uint64_t)ss.files;
	sum->total_chunks = (uint64_t)ss.chunks;
	sum->generation = ss.generation;
out:
	for (size_t i = 0; i < run.work.n; i++)
		base_free(run.work.v[i].path);
	base_vec_release(&run.work);
	known_release(&run.known);
	base_free(sc);
	sum->took_ns = base_now_ns() - t0;
	return rc;
}

int idx_writer_sync(struct idx_writer *w, struct idx_summary *sum, struct base_err *err)
{
	return writer_run(w, NULL, 0, sum, err);
}

int idx_writer_update(struct idx_writer *w, const char *const *paths, size_t n, struct idx_summary *sum,
		      struct base_err *err)
{
	if (n == 0) {
		memset(sum, 0, sizeof(*sum));
		return BASE_OK;
	}
	return writer_run(w, paths, n, sum, err);
}

int idx_index(const struct idx_options *opts, struct idx_summary *sum, struct base_err *err)
{
	uint64_t t0 = base_now_ns();
	memset(sum, 0, sizeof(*sum));
	struct idx_writer *w = idx_writer_open(opts, err);
	if (!w)
		return err ? err->code : BASE_E_IO;
	int rc = idx_writer_sync(w, sum, err);
	idx_writer_close(w);
	sum->took_ns = base_now_ns() - t0;
	return rc;
}

/* ---- git HEAD -------------------------------------------------------- */

static char *read_line(const char *path)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_LINE);
	if (base_buf_read_file(&b, path, NULL) != BASE_OK) {
		base_buf_release(&b);
		return NULL;
	}
	size_t n = strcspn(b.data, "\r\n");
	base_buf_truncate(&b, n);
	return base_buf_detach(&b, NULL);
}

static bool is_hex40(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n >= 40 && (s[n] == '\0' || s[n] == ' ');
}

/* The commit a ref names, from its loose file or packed-refs. */
static char *resolve_ref(const char *common, const char *ref)
{
	char *path = base_strfmt("%s/%s", common, ref);
	char *v = read_line(path);
	base_free(path);
	if (v && is_hex40(v)) {
		v[40] = '\0';
		return v;
	}
	base_free(v);
	path = base_strfmt("%s/packed-refs", common);
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_FILE);
	char *found = NULL;
	if (base_buf_read_file(&b, path, NULL) == BASE_OK) {
		size_t rl = strlen(ref);
		for (const char *p = b.data; p && *p;) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			if (n >= 42 + rl && is_hex40(p) && p[40] == ' ' && memcmp(p + 41, ref, rl) == 0 &&
			    (p[41 + rl] == '\n' || p[41 + rl] == '\r' || 41 + rl == n))
				found = base_strndup(p, 40);
			if (found)
				break;
			p = nl ? nl + 1 : NULL;
		}
	}
	base_buf_release(&b);
	base_free(path);
	return found;
}

char *idx_git_head(const char *root)
{
	char *gitdir = base_strfmt("%s/.git", root);
	struct stat st;
	if (stat(gitdir, &st) != 0) {
		base_free(gitdir);
		return NULL;
	}
	if (S_ISREG(st.st_mode)) {
		/* a worktree or submodule: "gitdir: PATH" */
		char *line = read_line(gitdir);
		base_free(gitdir);
		if (!line || strncmp(line, "gitdir: ", 8) != 0) {
			base_free(line);
			return NULL;
		}
		gitdir = line[8] == '/' ? base_strdup(line + 8) : base_strfmt("%s/%s", root, line + 8);
		base_free(line);
	}
	char *common = NULL;
	char *cpath = base_strfmt("%s/commondir", gitdir);
	char *cdir = read_line(cpath);
	base_free(cpath);
	if (cdir)
		common = cdir[0] == '/' ? base_strdup(cdir) : base_strfmt("%s/%s", gitdir, cdir);
	else
		common = base_strdup(gitdir);
	base_free(cdir);

	char *hpath = base_strfmt("%s/HEAD", gitdir);
	char *head = read_line(hpath);
	base_free(hpath);
	char *out = NULL;
	if (head && strncmp(head, "ref: ", 5) == 0)
		out = resolve_ref(common, head + 5);
	else if (head && is_hex40(head))
		out = base_strndup(head, 40);
	base_free(head);
	base_free(common);
	base_free(gitdir);
	return out;
}
