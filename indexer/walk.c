/*
 * walk.c: the repository walk, content-based skips and skip names.
 *
 * The walk reads each directory whole, sorts its names bytewise, and
 * handles them in order, descending into subdirectories as it meets them.
 * All file system access is relative to open directory descriptors
 * (openat/fdopendir/fstatat), so the walk never changes the working
 * directory and never follows a symbolic link: a link is counted, never
 * opened, which rules out loops and escapes from the tree.
 *
 * Cost per file: the d_type from readdir, the ignore match (no allocation)
 * and one fstatat; access(2) only when the mode bits leave readability in
 * doubt. A directory costs a getdents loop, a sort and one open for each
 * of .gitignore/.lodeignore that its listing shows.
 */
#include "indexer/walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "indexer/ignore.h"

#include "base/banned.h"

/* Directories nested deeper than this are counted unreadable (fd budget). */
#define WALK_MAX_DEPTH 256
/* Longest relative path the walk builds. */
#define WALK_MAX_PATH ((size_t)1 << 20)

const char *idx_skip_name(enum idx_skip reason)
{
	switch (reason) {
#define X(name, text)            \
	case IDX_SKIP_##name:    \
		return text;
		IDX_SKIP_MAP(X)
#undef X
	case IDX_SKIP__COUNT:
		break;
	}
	return "unknown";
}

struct walker {
	struct idx_ignore *ig;
	struct base_buf path; /* relative path of the entry at hand */
	idx_walk_fn *fn;
	void *payload;
	struct idx_walk_stats *stats;
	uint64_t max_size;
	uid_t euid;
	int depth;
};

struct dent {
	const char *name;
	size_t len;
	unsigned char type; /* DT_* from readdir; DT_UNKNOWN when the fs gives none */
};

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name, ((const struct dent *)b)->name);
}

static inline bool name_is(const char *s, size_t n, const char *lit, size_t litlen)
{
	return n == litlen && memcmp(s, lit, n) == 0;
}

static unsigned char mode_to_dtype(mode_t m)
{
	if (S_ISREG(m))
		return DT_REG;
	if (S_ISDIR(m))
		return DT_DIR;
	if (S_ISLNK(m))
		return DT_LNK;
	if (S_ISFIFO(m))
		return DT_FIFO;
	if (S_ISSOCK(m))
		return DT_SOCK;
	if (S_ISCHR(m))
		return DT_CHR;
	if (S_ISBLK(m))
		return DT_BLK;
	return DT_UNKNOWN;
}

/*
 * Can we read this file? The mode bits decide the common cases (ACLs
 * aside); faccessat settles the rest (group membership).
 */
static bool readable(const struct walker *w, int dfd, const char *name, const struct stat *st)
{
	if (w->euid == 0)
		return true;
	if (st->st_uid == w->euid)
		return (st->st_mode & S_IRUSR) != 0;
	if ((st->st_mode & (S_IRGRP | S_IROTH)) == (S_IRGRP | S_IROTH))
		return true;
	return faccessat(dfd, name, R_OK, AT_EACCESS) == 0;
}

/*
 * Read the names of `d` into `names` (NUL-separated) and `ents`; the name
 * pointers are filled in after the last read (the buffer may move).
 * Skips ".", "..", ".git" and ".lode". Sets *which to the ignore files seen.
 */
static int read_names(DIR *d, struct base_buf *names, struct dent **ents, size_t *n, unsigned *which)
{
	size_t cap = 0;
	size_t *offs = NULL;
	unsigned char *types = NULL;
	int rc = BASE_OK;
	*n = 0;
	*which = 0;
	for (;;) {
		errno = 0;
		struct dirent *de = readdir(d);
		if (!de) {
			if (errno)
				rc = BASE_E_IO;
			break;
		}
		const char *nm = de->d_name;
		size_t len = strlen(nm);
		if (name_is(nm, len, ".", 1) || name_is(nm, len, "..", 2) || name_is(nm, len, ".git", 4) ||
		    name_is(nm, len, ".lode", 5))
			continue;
		if (name_is(nm, len, ".gitignore", 10))
			*which |= IDX_IGNORE_GITIGNORE;
		else if (name_is(nm, len, ".lodeignore", 11))
			*which |= IDX_IGNORE_LODEIGNORE;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			offs = base_realloc(offs, cap * sizeof(*offs));
			types = base_realloc(types, cap);
		}
		offs[*n] = names->len;
		types[*n] = de->d_type;
		if (base_buf_add(names, nm, len + 1) != BASE_OK) {
			rc = BASE_E_TOOBIG;
			break;
		}
		(*n)++;
	}
	*ents = *n ? base_malloc(*n * sizeof(**ents)) : NULL;
	for (size_t i = 0; i < *n; i++) {
		(*ents)[i].name = names->data + offs[i];
		(*ents)[i].len = strlen((*ents)[i].name);
		(*ents)[i].type = types[i];
	}
	base_free(offs);
	base_free(types);
	return rc;
}

static int walk_dir(struct walker *w, int dfd);

static void walker_init(struct walker *w, struct idx_ignore *ig, const struct idx_walk_opts *opts, idx_walk_fn *fn,
			void *payload, struct idx_walk_stats *stats)
{
	*w = (struct walker){
		.ig = ig,
		.fn = fn,
		.payload = payload,
		.stats = stats,
		.max_size = opts && opts->max_file_size ? opts->max_file_size : IDX_DEFAULT_MAX_FILE_SIZE,
		.euid = geteuid(),
	};
	base_buf_init(&w->path, WALK_MAX_PATH);
}

/* One directory entry; w->path holds its relative path. */
static int walk_entry(struct walker *w, int dfd, const struct dent *e)
{
	struct idx_walk_stats *s = w->stats;
	struct stat st;
	bool have_st = false;
	unsigned char type = e->type;
	if (type == DT_UNKNOWN) {
		if (fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			s->skipped[IDX_SKIP_UNREADABLE]++;
			return 0;
		}
		have_st = true;
		type = mode_to_dtype(st.st_mode);
	}
	if (idx_ignore_match(w->ig, w->path.data, w->path.len, type == DT_DIR)) {
		s->skipped[IDX_SKIP_IGNORED]++;
		return 0;
	}
	switch (type) {
	case DT_LNK:
		s->skipped[IDX_SKIP_SYMLINK]++;
		return 0;
	case DT_DIR: {
		if (w->depth >= WALK_MAX_DEPTH) {
			BASE_LOG(BASE_LOG_WARN, "%s: nested too deeply, not entered", w->path.data);
			s->skipped[IDX_SKIP_UNREADABLE]++;
			return 0;
		}
		int cfd = openat(dfd, e->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0) {
			/* ELOOP/ENOTDIR: replaced by a link or file since readdir */
			if (errno == ELOOP)
				s->skipped[IDX_SKIP_SYMLINK]++;
			else
				s->skipped[IDX_SKIP_UNREADABLE]++;
			return 0;
		}
		return walk_dir(w, cfd);
	}
	case DT_REG:
		break;
	default:
		s->skipped[IDX_SKIP_SPECIAL]++;
		return 0;
	}
	if (!have_st && fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		s->skipped[IDX_SKIP_UNREADABLE]++; /* vanished */
		return 0;
	}
	if (!S_ISREG(st.st_mode)) {
		/* replaced since readdir */
		s->skipped[S_ISLNK(st.st_mode) ? IDX_SKIP_SYMLINK : IDX_SKIP_SPECIAL]++;
		return 0;
	}
	if ((uint64_t)st.st_size > w->max_size) {
		s->skipped[IDX_SKIP_TOO_LARGE]++;
		return 0;
	}
	if (!readable(w, dfd, e->name, &st)) {
		s->skipped[IDX_SKIP_UNREADABLE]++;
		return 0;
	}
	struct idx_walk_entry we = {
		.path = w->path.data,
		.path_len = w->path.len,
		.size = (uint64_t)st.st_size,
		.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec,
		.ino = (uint64_t)st.st_ino,
	};
	s->files++;
	return w->fn(w->payload, &we);
}

/* Walk the directory open at `dfd` (consumed); w->path is its path. */
static int walk_dir(struct walker *w, int dfd)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		w->stats->skipped[IDX_SKIP_UNREADABLE]++;
		return 0;
	}
	struct base_buf names = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct dent *ents = NULL;
	size_t n = 0;
	unsigned which = 0;
	int rc = read_names(d, &names, &ents, &n, &which);
	if (rc) {
		/* keep what was listed; the rest of the directory is lost */
		BASE_LOG(BASE_LOG_WARN, "%s: cannot read the whole directory (%s)",
			 w->path.len ? w->path.data : ".", base_status_str(rc));
		w->stats->skipped[IDX_SKIP_UNREADABLE]++;
		rc = 0;
	}
	w->stats->dirs++;
	if (n)
		qsort(ents, n, sizeof(*ents), dent_cmp);
	if (idx_ignore_push(w->ig, dirfd(d), w->path.data, w->path.len, which) != BASE_OK)
		BASE_LOG(BASE_LOG_WARN, "%s: ignore file not loaded", w->path.len ? w->path.data : ".");
	w->depth++;
	size_t base = w->path.len;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((base && base_buf_addc(&w->path, '/') != BASE_OK) ||
		    base_buf_add(&w->path, ents[i].name, ents[i].len) != BASE_OK) {
			w->stats->skipped[IDX_SKIP_UNREADABLE]++;
		} else {
			rc = walk_entry(w, dirfd(d), &ents[i]);
		}
		base_buf_truncate(&w->path, base);
	}
	w->depth--;
	idx_ignore_pop(w->ig);
	base_free(ents);
	base_buf_release(&names);
	closedir(d);
	return rc;
}

int idx_walk(const char *root, const struct idx_walk_opts *opts, idx_walk_fn *fn, void *payload,
	     struct idx_walk_stats *stats, struct base_err *err)
{
	memset(stats, 0, sizeof(*stats));
	if (!root || !fn)
		return base_err_set(err, BASE_E_API, "idx_walk: no root or callback");
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		struct stat st;
		if (e == ENOENT)
			return base_err_set(err, BASE_E_NOTFOUND, "%s: no such directory", root);
		if (e == ENOTDIR && stat(root, &st) == 0)
			return base_err_set(err, BASE_E_INVAL, "%s: not a directory", root);
		if (e == ENOTDIR)
			return base_err_set(err, BASE_E_NOTFOUND, "%s: no such directory", root);
		return base_err_errno(err, BASE_E_IO, e, "cannot open %s", root);
	}
	struct idx_ignore *ig = idx_ignore_new(root, err);
	if (!ig) {
		close(fd);
		return err ? err->code : BASE_E_NOMEM;
	}
	struct walker w;
	walker_init(&w, ig, opts, fn, payload, stats);
	int rc = walk_dir(&w, fd);
	base_buf_release(&w.path);
	idx_ignore_free(ig);
	return rc;
}

/* Does the relative path have a .git or .lode component? */
static bool path_internal(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && p[j] != '/')
			j++;
		if (name_is(p + i, j - i, ".git", 4) || name_is(p + i, j - i, ".lode", 5))
			return true;
		i = j + 1;
	}
	return false;
}

int idx_walk_paths(const char *root, const char *const *paths, size_t n, const struct idx_walk_opts *opts,
		   idx_walk_fn *fn, void *payload, struct idx_walk_stats *stats, struct base_err *err)
{
	memset(stats, 0, sizeof(*stats));
	char *real_root = realpath(root, NULL);
	if (!real_root)
		return base_err_errno(err, errno == ENOENT ? BASE_E_NOTFOUND : BASE_E_IO, errno, "cannot open %s",
				      root);
	struct idx_ignore *ig = idx_ignore_new(real_root, err);
	if (!ig) {
		free(real_root);
		return err ? err->code : BASE_E_NOMEM;
	}
	struct walker w;
	walker_init(&w, ig, opts, fn, payload, stats);
	size_t rootlen = strlen(real_root);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *p = paths[i];
		size_t len = strlen(p);
		if (!len || len >= WALK_MAX_PATH || p[0] == '/' || path_internal(p, len))
			continue;
		const char *slash = strrchr(p, '/');
		char *parent = slash ? base_strfmt("%s/%.*s", real_root, (int)(slash - p), p) : base_strdup(real_root);
		/* no symbolic link on the way: the parent resolves to itself */
		char *rp = realpath(parent, NULL);
		bool ok = rp && strcmp(rp, parent) == 0 && strncmp(rp, real_root, rootlen) == 0;
		free(rp);
		int dfd = ok ? open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
		base_free(parent);
		if (dfd < 0)
			continue; /* gone, or behind a link: nothing to index there */
		struct dent e = { slash ? slash + 1 : p, 0, DT_UNKNOWN };
		e.len = strlen(e.name);
		struct stat st;
		if (fstatat(dfd, e.name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			close(dfd);
			continue;
		}
		if (idx_ignore_check(ig, p, len, S_ISDIR(st.st_mode))) {
			stats->skipped[IDX_SKIP_IGNORED]++;
			close(dfd);
			continue;
		}
		base_buf_reset(&w.path);
		if (base_buf_add(&w.path, p, len) == BASE_OK) {
			w.depth = 1;
			for (size_t k = 0; k < len; k++)
				w.depth += p[k] == '/';
			rc = walk_entry(&w, dfd, &e);
		}
		close(dfd);
	}
	base_buf_release(&w.path);
	idx_ignore_free(ig);
	free(real_root);
	return rc;
}

/* ---- content-based skips ------------------------------------------------ */

/* The rules are documented at idx_content_skip in walk.h. */

#define SKIP_BINARY_SCAN 8000
#define SKIP_HEADER_LINES 5
#define SKIP_HEADER_BYTES 1024
#define SKIP_LONG_LINE 2000
#define SKIP_AVG_LINE 300

static const char *basename_of(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static bool mem_has(const char *h, size_t hn, const char *needle, bool icase)
{
	size_t k = strlen(needle);
	if (k > hn)
		return false;
	for (size_t i = 0; i + k <= hn; i++) {
		size_t j = 0;
		if (icase) {
			while (j < k) {
				unsigned char c = (unsigned char)h[i + j];
				if (c >= 'A' && c <= 'Z')
					c = (unsigned char)(c + 32);
				if (c != (unsigned char)needle[j])
					break;
				j++;
			}
		} else {
			while (j < k && h[i + j] == needle[j])
				j++;
		}
		if (j == k)
			return true;
	}
	return false;
}

static bool is_lock_file(const char *name)
{
	static const char *const locks[] = {
		"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock",
		"poetry.lock",       "Pipfile.lock",        "composer.lock", "Gemfile.lock",  "go.sum",
		"bun.lockb",         "flake.lock",          "uv.lock",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(locks); i++)
		if (strcmp(name, locks[i]) == 0)
			return true;
	return false;
}

static bool is_generated(const char *data, size_t len)
{
	size_t end = 0, lines = 0;
	size_t cap = BASE_MIN(len, (size_t)SKIP_HEADER_BYTES);
	while (end < cap && lines < SKIP_HEADER_LINES) {
		if (data[end] == '\n')
			lines++;
		end++;
	}
	return mem_has(data, end, "@generated", false) || mem_has(data, end, "DO NOT EDIT", false) ||
	       mem_has(data, end, "autogenerated", true) || mem_has(data, end, "auto-generated", true) ||
	       mem_has(data, end, "automatically generated", true);
}

static bool is_minified(const char *data, size_t len)
{
	if (len <= SKIP_LONG_LINE)
		return false;
	size_t lines = 0, longest = 0, start = 0;
	for (;;) {
		const char *nl = memchr(data + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - data) : len;
		if (end - start > longest)
			longest = end - start;
		if (end > start || nl)
			lines++;
		if (!nl)
			break;
		start = end + 1;
		if (start == len)
			break;
	}
	return longest > SKIP_LONG_LINE && lines > 0 && len / lines > SKIP_AVG_LINE;
}

int idx_content_skip(const char *path, const char *data, size_t len)
{
	const char *name = basename_of(path ? path : "");
	if (len == 0)
		return is_lock_file(name) ? IDX_SKIP_GENERATED : -1;
	if (memchr(data, '\0', BASE_MIN(len, (size_t)SKIP_BINARY_SCAN)))
		return IDX_SKIP_BINARY;
	if (is_lock_file(name) || is_generated(data, len))
		return IDX_SKIP_GENERATED;
	if (ends_with(name, ".min.js") || ends_with(name, ".min.css") || ends_with(name, ".min.mjs") ||
	    is_minified(data, len))
		return IDX_SKIP_MINIFIED;
	return -1;
}
