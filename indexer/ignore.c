/*
 * ignore.c: gitignore parsing and matching, mirroring git's dir.c.
 *
 * A pattern is parsed once into a struct pat that records what git
 * derives per pattern (negation, directory-only, basename-only, the
 * length of its literal prefix, the "*literal" shape) plus a literal
 * suffix used as a cheap reject. Matching follows git's two paths:
 *
 *   basename patterns (no '/' except a trailing one) match the last path
 *   component, at any depth below the pattern's directory, without
 *   BASE_WM_PATHNAME;
 *
 *   pathname patterns match the path relative to the pattern's directory
 *   with BASE_WM_PATHNAME, after removing the leading '/' and comparing the
 *   literal prefix. Like git, the wildmatch call then starts *after* the
 *   prefix, so "a/foo**" treats its "**" as a whole component (git's
 *   behaviour, kept for parity).
 */
#include "indexer/ignore.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/wildmatch.h"

#include "base/banned.h"

extern char **environ;

/* git refuses pattern files larger than this (PATTERN_MAX_FILE_SIZE). */
#define IGNORE_MAX_FILE ((size_t)100 << 20)

enum pat_flags {
	PAT_NEGATIVE = 1 << 0,
	PAT_MUSTBEDIR = 1 << 1,
	PAT_NODIR = 1 << 2,   /* no '/' but a trailing one: match the basename */
	PAT_ENDSWITH = 1 << 3, /* "*literal" */
};

struct pat {
	const char *s;   /* NUL-terminated; no '!', no trailing '/', no leading '/' */
	uint32_t len;    /* strlen(s) */
	uint32_t prefix; /* leading bytes free of glob specials */
	uint32_t suffix; /* trailing literal bytes that must end the text (0: unknown) */
	uint32_t flags;
};

/* The patterns of one level: a directory's files, or one global file. */
struct list {
	char *text; /* owned; the pattern strings point into it */
	struct pat *pats;
	size_t n, cap;
	size_t baselen; /* strlen("dir/"), 0 for the root and global files */
	char *dir;      /* owned, "" for the root; NULL for global files */
};

struct idx_ignore {
	char *root;
	struct list exclude;  /* $GIT_DIR/info/exclude */
	struct list excludes; /* core.excludesFile */
	BASE_VEC(struct list) stack;
};

static inline int is_glob_special(unsigned char c)
{
	return c == '*' || c == '?' || c == '[' || c == '\\';
}

static size_t simple_length(const char *s)
{
	size_t n = 0;
	while (s[n] && !is_glob_special((unsigned char)s[n]))
		n++;
	return n;
}

/*
 * The literal tail after the last '*' or '?', when that tail is sure to
 * end every matching text: only for patterns without brackets, escapes
 * or "**" (which can match nothing, "**" + "/x" matching "x").
 */
static size_t literal_suffix(const char *s, size_t len)
{
	size_t last = len;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '[' || c == '\\')
			return 0;
		if (c == '*' && s[i + 1] == '*')
			return 0;
		if (c == '*' || c == '?')
			last = i;
	}
	return last == len ? 0 : len - last - 1;
}

static void list_release(struct list *l)
{
	base_free(l->text);
	base_free(l->pats);
	base_free(l->dir);
	memset(l, 0, sizeof(*l));
}

/* Drop unescaped trailing spaces (not tabs), as git's trim_trailing_spaces. */
static void trim_trailing_spaces(char *s)
{
	char *last_space = NULL;
	for (char *p = s; *p; p++) {
		if (*p == ' ') {
			if (!last_space)
				last_space = p;
			continue;
		}
		if (*p == '\\') {
			p++;
			if (!*p)
				return;
		}
		last_space = NULL;
	}
	if (last_space)
		*last_space = '\0';
}

/* Parse one line (NUL-terminated, modified in place) into a pattern. */
static void list_add_line(struct list *l, char *s)
{
	struct pat p = { 0 };
	size_t len;
	if (*s == '!') {
		p.flags |= PAT_NEGATIVE;
		s++;
	}
	len = strlen(s);
	if (len && s[len - 1] == '/') {
		s[--len] = '\0';
		p.flags |= PAT_MUSTBEDIR;
	}
	if (!memchr(s, '/', len))
		p.flags |= PAT_NODIR;
	if (len == 0)
		return; /* matches nothing (git keeps it; the result is the same) */
	p.prefix = (uint32_t)simple_length(s);
	if (s[0] == '*' && s[1 + simple_length(s + 1)] == '\0')
		p.flags |= PAT_ENDSWITH;
	if (!(p.flags & PAT_NODIR) && s[0] == '/') {
		/* anchored: the leading slash only marks the pattern's directory */
		s++;
		len--;
		p.prefix--;
	}
	p.s = s;
	p.len = (uint32_t)len;
	p.suffix = (uint32_t)literal_suffix(s, len);
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->pats = base_realloc(l->pats, l->cap * sizeof(*l->pats));
	}
	l->pats[l->n++] = p;
}

/*
 * Parse text[start, end) as one pattern file: a UTF-8 BOM is skipped,
 * lines end at '\n' (a '\r' before it is dropped), empty lines and lines
 * starting with '#' are skipped. text[end - 1] must be '\n'.
 */
static void list_parse(struct list *l, size_t start, size_t end)
{
	char *t = l->text;
	if (end - start >= 3 && memcmp(t + start, "\xef\xbb\xbf", 3) == 0)
		start += 3;
	size_t line = start;
	for (size_t i = start; i < end; i++) {
		if (t[i] != '\n')
			continue;
		if (i != line && t[line] != '#') {
			t[i - (i > 0 && t[i - 1] == '\r')] = '\0';
			trim_trailing_spaces(t + line);
			list_add_line(l, t + line);
		}
		line = i + 1;
	}
}

/*
 * Append the regular file at (dirfd, name) to b, ending it with '\n'.
 * Follows a symbolic link only when `follow`. A missing, unreadable or
 * non-regular file adds nothing and is not an error.
 */
static int read_pattern_file(struct base_buf *b, int dirfd, const char *name, bool follow)
{
	int fl = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW);
	int fd = openat(dirfd, name, fl);
	struct stat st;
	size_t start = b->len;
	int rc = BASE_OK;
	if (fd < 0) {
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			BASE_LOG(BASE_LOG_WARN, "cannot open %s: %s", name, strerror(errno));
		return BASE_OK;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
		goto out;
	if ((uint64_t)st.st_size > IGNORE_MAX_FILE) {
		BASE_LOG(BASE_LOG_WARN, "ignoring excessively large pattern file %s", name);
		goto out;
	}
	for (;;) {
		rc = base_buf_grow(b, 65536);
		if (rc)
			goto fail;
		ssize_t n = read(fd, b->data + b->len, b->alloc - b->len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			BASE_LOG(BASE_LOG_WARN, "cannot read %s: %s", name, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = '\0';
		if (b->len - start > IGNORE_MAX_FILE) {
			BASE_LOG(BASE_LOG_WARN, "ignoring excessively large pattern file %s", name);
			goto fail;
		}
	}
	if (b->len > start && b->data[b->len - 1] != '\n') {
		rc = base_buf_addc(b, '\n');
		if (rc)
			goto fail;
	}
out:
	close(fd);
	return BASE_OK;
fail:
	base_buf_truncate(b, start);
	close(fd);
	return rc;
}

/*
 * Fill `l` from up to two files in one directory, in order of increasing
 * precedence (the second file's lines come after the first's).
 */
static int list_load(struct list *l, int dirfd, const char *name1, const char *name2, bool follow)
{
	struct base_buf b = BASE_BUF_INIT(2 * IGNORE_MAX_FILE + 2);
	int rc = BASE_OK;
	size_t mid;
	if (name1)
		rc = read_pattern_file(&b, dirfd, name1, follow);
	mid = b.len;
	if (!rc && name2)
		rc = read_pattern_file(&b, dirfd, name2, follow);
	if (rc || b.len == 0) {
		base_buf_release(&b);
		return rc;
	}
	size_t total;
	l->text = base_buf_detach(&b, &total);
	list_parse(l, 0, mid);
	list_parse(l, mid, total);
	return BASE_OK;
}

/* ---- matching ---------------------------------------------------------- */

static bool pat_match(const struct pat *p, const char *path, size_t len, const char *bname, size_t blen,
		      size_t baselen)
{
	if (p->flags & PAT_NODIR) {
		/* the first and last bytes reject most candidates before memcmp */
		if (p->prefix == p->len)
			return blen == p->len && bname[0] == p->s[0] && memcmp(bname, p->s, blen) == 0;
		if (p->flags & PAT_ENDSWITH) {
			size_t k = p->len - 1;
			return k == 0 || (k <= blen && bname[blen - 1] == p->s[p->len - 1] &&
					  memcmp(p->s + 1, bname + blen - k, k) == 0);
		}
		if (blen < (size_t)p->prefix + p->suffix)
			return false;
		if (p->prefix && (bname[0] != p->s[0] || memcmp(bname, p->s, p->prefix) != 0))
			return false;
		if (p->suffix && (bname[blen - 1] != p->s[p->len - 1] ||
				  memcmp(bname + blen - p->suffix, p->s + p->len - p->suffix, p->suffix) != 0))
			return false;
		if (p->s[p->prefix] == '*' && p->s[p->prefix + 1] == '\0')
			return true; /* "literal*", e.g. ".*" */
		return base_wildmatch(p->s + p->prefix, bname + p->prefix, 0);
	}
	/* pathname pattern: relative to the directory of its file */
	const char *name = path + baselen;
	size_t nlen = len - baselen;
	if (p->prefix) {
		if (p->prefix > nlen || memcmp(name, p->s, p->prefix) != 0)
			return false;
		if (p->prefix == p->len)
			return nlen == p->len;
	}
	if (p->suffix &&
	    (nlen < (size_t)p->prefix + p->suffix ||
	     memcmp(name + nlen - p->suffix, p->s + p->len - p->suffix, p->suffix) != 0))
		return false;
	return base_wildmatch(p->s + p->prefix, name + p->prefix, BASE_WM_PATHNAME);
}

/* 1: excluded, 0: re-included by a '!' pattern, -1: no pattern matched. */
static int list_match(const struct list *l, const char *path, size_t len, const char *bname, size_t blen,
		      bool is_dir)
{
	for (size_t i = l->n; i-- > 0;) {
		const struct pat *p = &l->pats[i];
		if ((p->flags & PAT_MUSTBEDIR) && !is_dir)
			continue;
		if (pat_match(p, path, len, bname, blen, l->baselen))
			return !(p->flags & PAT_NEGATIVE);
	}
	return -1;
}

bool idx_ignore_match(const struct idx_ignore *ig, const char *path, size_t len, bool is_dir)
{
	size_t b = len;
	while (b > 0 && path[b - 1] != '/')
		b--;
	const char *bname = path + b;
	size_t blen = len - b;
	int r;
	for (size_t i = ig->stack.n; i-- > 0;) {
		const struct list *l = &ig->stack.v[i];
		BASE_DASSERT(l->baselen <= len && (l->baselen == 0 || path[l->baselen - 1] == '/'));
		if (l->n && (r = list_match(l, path, len, bname, blen, is_dir)) >= 0)
			return r;
	}
	r = list_match(&ig->exclude, path, len, bname, blen, is_dir);
	if (r >= 0)
		return r;
	r = list_match(&ig->excludes, path, len, bname, blen, is_dir);
	return r > 0;
}

/* ---- global sources ---------------------------------------------------- */

/* Read a small text file whole (at most `max` bytes); NULL when absent. */
static char *read_small(int dirfd, const char *path, size_t max)
{
	struct base_buf b = BASE_BUF_INIT(max);
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	for (;;) {
		if (base_buf_grow(&b, 512) != BASE_OK)
			break;
		ssize_t n = read(fd, b.data + b.len, b.alloc - b.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		b.len += (size_t)n;
		b.data[b.len] = '\0';
	}
	close(fd);
	return base_buf_detach(&b, NULL);
}

static void chomp(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

/* `rel` resolved against `dir` unless absolute (heap string). */
static char *path_join(const char *dir, const char *rel)
{
	if (rel[0] == '/')
		return base_strdup(rel);
	return base_strfmt("%s/%s", dir, rel);
}

/*
 * The repository's common git directory (where info/exclude lives), or
 * NULL when root is not the top of a git checkout. ".git" is a directory,
 * or a file "gitdir: PATH" (worktrees, submodules) whose directory may
 * name its common directory in "commondir".
 */
static char *git_common_dir(const char *root)
{
	char *dotgit = base_strfmt("%s/.git", root);
	struct stat st;
	if (stat(dotgit, &st) != 0) {
		base_free(dotgit);
		return NULL;
	}
	if (S_ISDIR(st.st_mode))
		return dotgit;
	char *text = S_ISREG(st.st_mode) ? read_small(AT_FDCWD, dotgit, 8192) : NULL;
	base_free(dotgit);
	if (!text || strncmp(text, "gitdir:", 7) != 0) {
		base_free(text);
		return NULL;
	}
	chomp(text);
	const char *g = text + 7;
	while (*g == ' ' || *g == '\t')
		g++;
	char *gitdir = path_join(root, g);
	base_free(text);
	char *cpath = base_strfmt("%s/commondir", gitdir);
	char *common = read_small(AT_FDCWD, cpath, 8192);
	base_free(cpath);
	if (!common)
		return gitdir;
	chomp(common);
	char *res = path_join(gitdir, common);
	base_free(common);
	base_free(gitdir);
	return res;
}

/*
 * Ask git for core.excludesFile (with "~" expanded). Returns the value,
 * or NULL when git does not run or the key is unset.
 */
static char *git_excludes_file(const char *root)
{
	char *const argv[] = { "git", "-C", (char *)root, "config", "--path", "--get", "core.excludesFile", NULL };
	posix_spawn_file_actions_t fa;
	int pfd[2];
	pid_t pid;
	if (pipe(pfd) != 0)
		return NULL;
	if (posix_spawn_file_actions_init(&fa) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		return NULL;
	}
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addclose(&fa, pfd[0]);
	posix_spawn_file_actions_addclose(&fa, pfd[1]);
	int rc = posix_spawnp(&pid, "git", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		return NULL;
	}
	struct base_buf out = BASE_BUF_INIT(65536);
	bool ok = true;
	for (;;) {
		if (base_buf_grow(&out, 1024) != BASE_OK) {
			ok = false; /* absurd output: drain and ignore */
			char sink[512];
			while (read(pfd[0], sink, sizeof(sink)) > 0) {
			}
			break;
		}
		ssize_t n = read(pfd[0], out.data + out.len, out.alloc - out.len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		out.len += (size_t)n;
		out.data[out.len] = '\0';
	}
	close(pfd[0]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.len == 0) {
		base_buf_release(&out);
		return NULL;
	}
	char *v = base_buf_detach(&out, NULL);
	chomp(v);
	if (!*v) {
		base_free(v);
		return NULL;
	}
	return v;
}

/* git's default: $XDG_CONFIG_HOME/git/ignore, else $HOME/.config/git/ignore. */
static char *default_excludes_file(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	if (xdg && *xdg)
		return base_strfmt("%s/git/ignore", xdg);
	const char *home = getenv("HOME");
	if (home)
		return base_strfmt("%s/.config/git/ignore", home);
	return NULL;
}

struct idx_ignore *idx_ignore_new(const char *root, struct base_err *err)
{
	struct idx_ignore *ig = base_calloc(1, sizeof(*ig));
	int rc = BASE_OK;
	ig->root = base_strdup(root);
	char *common = git_common_dir(root);
	char *xfile = common ? git_excludes_file(root) : NULL;
	if (xfile) {
		char *abs = path_join(root, xfile);
		base_free(xfile);
		xfile = abs;
	} else {
		xfile = default_excludes_file();
	}
	if (xfile) {
		rc = list_load(&ig->excludes, AT_FDCWD, xfile, NULL, true);
		base_free(xfile);
		if (rc)
			goto fail;
	}
	if (common) {
		char *info = base_strfmt("%s/info/exclude", common);
		rc = list_load(&ig->exclude, AT_FDCWD, info, NULL, true);
		base_free(info);
		base_free(common);
		common = NULL;
		if (rc)
			goto fail;
	}
	return ig;
fail:
	base_free(common);
	idx_ignore_free(ig);
	base_err_set(err, rc, "cannot load the exclude files of %s: %s", root, base_status_str(rc));
	return NULL;
}

void idx_ignore_free(struct idx_ignore *ig)
{
	if (!ig)
		return;
	idx_ignore_reset(ig);
	base_vec_release(&ig->stack);
	list_release(&ig->exclude);
	list_release(&ig->excludes);
	base_free(ig->root);
	base_free(ig);
}

/* ---- the directory stack ----------------------------------------------- */

int idx_ignore_push(struct idx_ignore *ig, int dirfd, const char *dir, size_t dir_len, unsigned which)
{
	struct list l = { 0 };
	int rc;
	l.dir = base_strndup(dir, dir_len);
	l.baselen = dir_len ? dir_len + 1 : 0;
	const char *n1 = (which & IDX_IGNORE_GITIGNORE) ? ".gitignore" : NULL;
	const char *n2 = (which & IDX_IGNORE_LODEIGNORE) ? ".lodeignore" : NULL;
	if (dirfd >= 0) {
		rc = list_load(&l, dirfd, n1, n2, false);
	} else {
		char *full = dir_len ? base_strfmt("%s/%s", ig->root, l.dir) : base_strdup(ig->root);
		int fd = open(full, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		base_free(full);
		rc = BASE_OK;
		if (fd >= 0) {
			rc = list_load(&l, fd, n1, n2, false);
			close(fd);
		}
	}
	base_vec_push(&ig->stack, l);
	return rc;
}

void idx_ignore_pop(struct idx_ignore *ig)
{
	BASE_ASSERT(ig->stack.n > 0);
	list_release(&ig->stack.v[--ig->stack.n]);
}

size_t idx_ignore_depth(const struct idx_ignore *ig)
{
	return ig->stack.n;
}

void idx_ignore_reset(struct idx_ignore *ig)
{
	while (ig->stack.n)
		idx_ignore_pop(ig);
}

static bool is_skipped_name(const char *s, size_t n)
{
	return (n == 4 && memcmp(s, ".git", 4) == 0) || (n == 5 && memcmp(s, ".lode", 5) == 0);
}

bool idx_ignore_check(struct idx_ignore *ig, const char *path, size_t len, bool is_dir)
{
	size_t parent = len;
	while (parent > 0 && path[parent - 1] != '/')
		parent--;
	parent = parent ? parent - 1 : 0; /* length of the parent directory */

	/* keep the levels that are ancestors of (or equal to) the parent */
	while (ig->stack.n > 0) {
		const struct list *top = &base_vec_last(&ig->stack);
		size_t dl = top->baselen ? top->baselen - 1 : 0;
		if (dl == 0 || (dl <= parent && memcmp(top->dir, path, dl) == 0 &&
				(dl == parent || path[dl] == '/')))
			break;
		idx_ignore_pop(ig);
	}
	if (ig->stack.n == 0)
		(void)idx_ignore_push(ig, -1, "", 0, IDX_IGNORE_BOTH);

	/* descend to the parent, checking each directory on the way */
	for (;;) {
		const struct list *top = &base_vec_last(&ig->stack);
		size_t dl = top->baselen ? top->baselen - 1 : 0;
		if (dl == parent)
			break;
		size_t start = dl ? dl + 1 : 0, end = start;
		while (end < parent && path[end] != '/')
			end++;
		if (is_skipped_name(path + start, end - start))
			return true;
		/* match the directory "path[0, end)" with a NUL after it */
		char *sub = base_strndup(path, end);
		bool excluded = idx_ignore_match(ig, sub, end, true);
		if (!excluded)
			(void)idx_ignore_push(ig, -1, sub, end, IDX_IGNORE_BOTH);
		base_free(sub);
		if (excluded)
			return true;
	}
	if (is_skipped_name(path + (parent ? parent + 1 : 0), len - (parent ? parent + 1 : 0)))
		return true;
	return idx_ignore_match(ig, path, len, is_dir);
}
