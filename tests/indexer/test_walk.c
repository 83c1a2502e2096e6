/*
 * test_walk.c: the repository walk and its ignore rules.
 *
 * The central check is parity with git: for a tree in a fresh repository
 * (nothing tracked), the walk's file set must equal
 * `git ls-files --others --exclude-standard -z` (symbolic links left out:
 * git lists them, the walk skips them). Hand-written trees cover the
 * documented corner cases; a seeded random test builds trees and ignore
 * files from a vocabulary of tricky names and pattern shapes.
 *
 * git runs with HOME and XDG_CONFIG_HOME inside the case's temp dir and
 * GIT_CONFIG_NOSYSTEM=1, so no user or system configuration leaks in and
 * none is touched. Cases whose git is missing are skipped.
 *
 * Random test knobs: LODE_WALK_SEED (default 1), LODE_WALK_ITERS (200).
 * A failure prints the trial's seed (rerun it alone with
 * LODE_WALK_ITERS=1) and keeps its tree.
 */
#include "test.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "indexer/ignore.h"
#include "indexer/walk.h"

#include "base/banned.h"

#define PATH_CAP 4096

/* snprintf into an array, failing the case on truncation. */
#define PATHF(buf, ...)                                                     \
	do {                                                                \
		int pathf__n = snprintf((buf), sizeof(buf), __VA_ARGS__);   \
		if (pathf__n < 0 || (size_t)pathf__n >= sizeof(buf))        \
			T_FAIL("path too long");                            \
	} while (0)

/* ---- helpers: temp trees, files, commands ------------------------------- */

struct sandbox {
	char dir[256];       /* the temp dir */
	char repo[PATH_CAP]; /* dir/repo: the tree walked */
	char home[PATH_CAP]; /* dir/home: HOME for git */
};

static void sandbox_init(struct sandbox *sb)
{
	PATHF(sb->dir, "%s", "/tmp/lode-walk-XXXXXX");
	if (!mkdtemp(sb->dir))
		T_FAIL("mkdtemp: %s", strerror(errno));
	PATHF(sb->repo, "%s/repo", sb->dir);
	PATHF(sb->home, "%s/home", sb->dir);
	T_EQ_INT(mkdir(sb->repo, 0755), 0);
	T_EQ_INT(mkdir(sb->home, 0755), 0);
	char xdg[PATH_CAP + 16];
	PATHF(xdg, "%s/.config", sb->home);
	setenv("HOME", sb->home, 1);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
	static const char *const unset[] = { "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG",
					     "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_COUNT",
					     "GIT_COMMON_DIR" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(unset); i++)
		unsetenv(unset[i]);
}

/* Run argv; stdout into `out` (if not NULL); returns the exit status or -1. */
static int run_cmd(char *const argv[], struct base_buf *out)
{
	int pfd[2];
	if (pipe(pfd) != 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(out ? pfd[1] : null, 1);
		dup2(null, 2);
		close(pfd[0]);
		close(pfd[1]);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	char tmp[4096];
	for (;;) {
		ssize_t n = read(pfd[0], tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out && base_buf_add(out, tmp, (size_t)n) != BASE_OK)
			T_FAIL("command output too large");
	}
	close(pfd[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void sandbox_remove(struct sandbox *sb)
{
	char *chmod_argv[] = { "chmod", "-R", "u+rwx", sb->dir, NULL };
	char *rm_argv[] = { "rm", "-rf", sb->dir, NULL };
	run_cmd(chmod_argv, NULL);
	run_cmd(rm_argv, NULL);
}

static bool have_git(void)
{
	char *argv[] = { "git", "--version", NULL };
	return run_cmd(argv, NULL) == 0;
}

static void git_in(const char *repo, const char *a1, const char *a2, const char *a3)
{
	char *argv[] = { "git", "-C", (char *)repo, (char *)a1, (char *)a2, (char *)a3, NULL };
	int rc = run_cmd(argv, NULL);
	if (rc != 0)
		T_FAIL("git -C %s %s %s %s: exit %d", repo, a1, a2 ? a2 : "", a3 ? a3 : "", rc);
}

static void git_init(const char *repo)
{
	git_in(repo, "init", "-q", NULL);
}

static void mkdirs(const char *root, const char *rel)
{
	char p[PATH_CAP];
	PATHF(p, "%s/%s", root, rel);
	for (size_t i = strlen(root) + 1; p[i]; i++) {
		if (p[i] != '/')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) != 0 && errno != EEXIST)
			T_FAIL("mkdir %s: %s", p, strerror(errno));
		p[i] = '/';
	}
}

static void put_mem(const char *root, const char *rel, const char *data, size_t len)
{
	char p[PATH_CAP];
	mkdirs(root, rel);
	PATHF(p, "%s/%s", root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		T_FAIL("create %s: %s", p, strerror(errno));
	T_EQ_INT(write(fd, data, len), (long long)len);
	close(fd);
}

static void put(const char *root, const char *rel, const char *text)
{
	put_mem(root, rel, text, strlen(text));
}

/* ---- path lists -------------------------------------------------------- */

struct strv {
	BASE_VEC(char *) v;
};

static void strv_add(struct strv *s, const char *p, size_t n)
{
	base_vec_push(&s->v, base_strndup(p, n));
}

static void strv_release(struct strv *s)
{
	for (size_t i = 0; i < s->v.n; i++)
		base_free(s->v.v[i]);
	base_vec_release(&s->v);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strv_sort(struct strv *s)
{
	if (s->v.n)
		qsort(s->v.v, s->v.n, sizeof(char *), str_cmp);
}

static bool strv_has(const struct strv *s, const char *p)
{
	for (size_t i = 0; i < s->v.n; i++)
		if (strcmp(s->v.v[i], p) == 0)
			return true;
	return false;
}

static int collect_fn(void *payload, const struct idx_walk_entry *e)
{
	T_EQ_INT(strlen(e->path), e->path_len);
	strv_add(payload, e->path, e->path_len);
	return 0;
}

static void walk_list(const char *root, struct strv *out, struct idx_walk_stats *st)
{
	struct idx_walk_opts o = { UINT64_MAX };
	struct idx_walk_stats local;
	struct base_err err = { 0, "" };
	int rc = idx_walk(root, &o, collect_fn, out, st ? st : &local, &err);
	if (rc)
		T_FAIL("idx_walk(%s): %s", root, err.msg);
}

static void git_list(const char *repo, struct strv *out)
{
	struct base_buf b = BASE_BUF_INIT((size_t)64 << 20);
	char *argv[] = { "git", "-C", (char *)repo, "ls-files", "--others", "--exclude-standard", "-z", NULL };
	int rc = run_cmd(argv, &b);
	if (rc != 0)
		T_FAIL("git ls-files in %s: exit %d", repo, rc);
	for (size_t i = 0; i < b.len;) {
		size_t n = strlen(b.data + i);
		char full[PATH_CAP * 2];
		struct stat st;
		PATHF(full, "%s/%s", repo, b.data + i);
		if (lstat(full, &st) == 0 && !S_ISLNK(st.st_mode))
			strv_add(out, b.data + i, n);
		i += n + 1;
	}
	base_buf_release(&b);
}

/* Print the differences; returns their number. Sorts both lists. */
static int compare(struct strv *lode, struct strv *git)
{
	strv_sort(lode);
	strv_sort(git);
	size_t i = 0, j = 0;
	int diffs = 0;
	while (i < lode->v.n || j < git->v.n) {
		int c = i == lode->v.n ? 1 : j == git->v.n ? -1 : strcmp(lode->v.v[i], git->v.v[j]);
		if (c == 0) {
			i++;
			j++;
			continue;
		}
		if (diffs++ < 40)
			fprintf(stderr, "    only in %s: \"%s\"\n", c < 0 ? "lode" : "git", c < 0 ? lode->v.v[i] : git->v.v[j]);
		if (c < 0)
			i++;
		else
			j++;
	}
	return diffs;
}

/* Every regular file under root (not under .git), relative paths. */
static void list_files(const char *root, const char *rel, struct strv *out)
{
	char p[PATH_CAP];
	PATHF(p, "%s%s%s", root, *rel ? "/" : "", rel);
	DIR *d = opendir(p);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, ".git"))
			continue;
		char r[PATH_CAP], full[PATH_CAP * 2];
		struct stat st;
		PATHF(r, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		PATHF(full, "%s/%s", root, r);
		if (lstat(full, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			list_files(root, r, out);
		else if (S_ISREG(st.st_mode))
			strv_add(out, r, strlen(r));
	}
	closedir(d);
}

/*
 * idx_ignore_check (the watcher's single-path API) must agree with the
 * walk: every file is ignored exactly when the walk did not report it.
 * Paths are visited in a scrambled order to exercise the stack cache.
 */
static int check_api_agrees(const char *root, const struct strv *walked)
{
	struct strv all = { BASE_VEC_INIT };
	list_files(root, "", &all);
	strv_sort(&all);
	struct idx_ignore *ig = idx_ignore_new(root, NULL);
	T_TRUE(ig != NULL);
	int bad = 0;
	size_t n = all.v.n;
	for (size_t k = 0; k < n; k++) {
		size_t i = n ? (k * 7919) % n : 0;
		if (n % 7919 == 0)
			i = k;
		const char *p = all.v.v[i];
		bool ignored = idx_ignore_check(ig, p, strlen(p), false);
		bool listed = strv_has(walked, p);
		if (ignored == listed) {
			if (bad++ < 20)
				fprintf(stderr, "    idx_ignore_check(\"%s\") = %d, walk listed it: %d\n", p, ignored, listed);
		}
	}
	idx_ignore_free(ig);
	strv_release(&all);
	return bad;
}

/* Walk, list with git, compare; fails the case on any difference. */
static void expect_parity(const char *repo)
{
	struct strv a = { BASE_VEC_INIT }, b = { BASE_VEC_INIT };
	walk_list(repo, &a, NULL);
	git_list(repo, &b);
	int d = compare(&a, &b);
	int c = check_api_agrees(repo, &a);
	strv_release(&a);
	strv_release(&b);
	if (d || c)
		T_FAIL("%d differences from git, %d from idx_ignore_check (tree kept at %s)", d, c, repo);
}

#define NEED_GIT()                                      \
	do {                                            \
		if (!have_git())                        \
			T_SKIP("git is not installed"); \
	} while (0)

/* ---- hand-written parity scenarios ------------------------------------- */

static void parity_basics(void)
{
	NEED_GIT();
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	git_init(r);
	put(r, ".gitignore",
	    "# a comment\n"
	    "\n"
	    "*.o\n"
	    "!keep.o\n"
	    "/TODO\n"
	    "build/\n"
	    "doc/*.html\n"
	    "\\#hash\n"
	    "\\!bang\n"
	    "#notacomment-but-a-comment\n"
	    "trail\\ \n"
	    "spaces   \n"
	    "tab\t\n"
	    "\\\\back\n"
	    "*.tmp/\n"
	    "odd\\\n");
	const char *files[] = {
		"a.o", "keep.o", "sub/b.o", "sub/keep.o", "TODO", "sub/TODO", "build/x.c", "sub/build/y.c",
		"build.c", "doc/a.html", "doc/sub/b.html", "sub/doc/c.html", "#hash", "!bang", "sub/#hash",
		"#notacomment-but-a-comment", "trail ", "trail", "spaces", "spaces   ", "tab\t", "tab",
		"\\back", "back", "x.tmp", "d.tmp/f", "odd\\", "odd", "main.c",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(files); i++)
		put(r, files[i], "x\n");
	expect_parity(r);
	sandbox_remove(&sb);
}

static void parity_crlf_bom(void)
{
	NEED_GIT();
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	git_init(r);
	put(r, ".gitignore", "\xef\xbb\xbf*.log\r\n!keep.log\r\n\r\ncache/\r\nlast  \r\nnoeol");
	put(r, "sub/.gitignore", "#c\r\n*.gen\r\n");
	const char *files[] = { "a.log", "keep.log", "cache/x", "last", "noeol", "sub/a.gen", "sub/ok.c",
				"x.gen", "last  " };
	for (size_t i = 0; i < BASE_ARRAY_LEN(files); i++)
		put(r, files[i], "x\n");
	expect_parity(r);
	sandbox_remove(&sb);
}

static void parity_nested(void)
{
	NEED_GIT();
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	git_init(r);
	put(r, ".gitignore", "*.log\nbuild/\n/out/*\n!/out/keep/\nvendor\n!vendor/keep.txt\nsecret/\n");
	put(r, "a/.gitignore", "!keep.log\n/anchored\nmid/dle\nany\n*.txt\n!*.md\n");
	put(r, "a/b/.gitignore", "*.log\n!/x.txt\nnotdir/\n");
	put(r, "secret/.gitignore", "!*\n"); /* never read: secret/ is excluded */
	const char *files[] = {
		"x.log",         "a/keep.log",    "a/b/keep.log",  "a/b/c/keep.log", "build/f",
		"a/build/g",     "out/f",         "out/keep/f",    "out/keep/sub/g", "vendor/keep.txt",
		"vendor/x",      "secret/a",      "secret/b.log",  "a/anchored",     "a/b/anchored",
		"anchored",      "a/mid/dle",     "a/b/mid/dle",   "mid/dle",        "a/any",
		"a/b/c/any",     "any",           "a/t.txt",       "a/b/x.txt",      "a/b/c/x.txt",
		"a/r.md",        "a/b/notdir",    "a/b/c/notdir/f", "top.c",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(files); i++)
		put(r, files[i], "x\n");
	expect_parity(r);
	sandbox_remove(&sb);
}

static void parity_starstar(void)
{
	NEED_GIT();
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	git_init(r);
	put(r, ".gitignore",
	    "**/logs\n"
	    "**/cfg/debug.ini\n"
	    "out/**\n"
	    "!out/**/\n"
	    "!out/**/*.keep\n"
	    "a/**/z\n"
	    "**/m/**/*.tmp\n"
	    "foo**bar\n"
	    "p/foo**\n"
	    "**q\n"
	    "r**/s\n"
	    "***/t3\n"
	    "u/**/\n"
	    "/v/**/w/\n"
	    "**\n"
	    "!**/\n"
	    "!*.c\n"
	    "!*.keep\n");
	const char *files[] = {
		"logs/a",         "x/logs/b",   "x/y/logs",         "cfg/debug.ini", "x/cfg/debug.ini",
		"out/a",          "out/b.keep", "out/d/e.keep",     "out/d/e",       "a/z",
		"a/b/z",          "a/b/c/z",    "az",               "m/k.tmp",       "x/m/n/o.tmp",
		"m.tmp",          "foobar",     "foo/bar",          "fooxbar",       "p/foobar/baz",
		"p/foo/x",        "p/fooz",     "q",                "xq",            "x/q",
		"r/s",            "rr/s",       "r/x/s",            "t3",            "x/y/t3",
		"u/v",            "u/x/y",      "v/w/f",            "v/x/w/f",       "main.c",
		"sub/main.c",     "sub/a.keep", "sub/other",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(files); i++)
		put(r, files[i], "x\n");
	expect_parity(r);
	sandbox_remove(&sb);
}

static void parity_brackets(void)
{
	NEED_GIT();
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	git_init(r);
	put(r, ".gitignore",
	    "[abc].txt\n"
	    "[!a]*.md\n"
	    "[a-c]?.c\n"
	    "*.[oa]\n"
	    "[[:digit:]]*\n"
	    "\\[x\\]\n"
	    "[]]y\n"
	    "[^q]z\n"
	    "w[[:upper:]]\n"
	    "bad[\n"
	    "d/[ef]/g\n"
	    "?\n");
	const char *files[] = {
		"a.txt", "d.txt",   "ab.md", "bc.md", "a1.c",   "d1.c",  "x.o",  "x.a",   "x.b",   "1abc",
		"abc1",  "[x]",     "x",     "]y",    "qz",     "rz",    "wA",   "wa",    "bad[",  "bad",
		"d/e/g", "d/f/g",   "d/g/g", "k",     "kk",     "sub/k", "main.c",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(files); i++)
		put(r, files[i], "x\n");
	expect_parity(r);
	sandbox_remove(&sb);
}

/* info/exclude, core.excludesFile in the repo config, and their order. */
static void parity_exclude_files(void)
{
	NEED_GIT();
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	git_init(r);
	char xf[PATH_CAP + 32];
	PATHF(xf, "%s/excludes", sb.home);
	put(sb.home, "excludes", "*.x\n*.y\n*.z\nglobal/\n");
	git_in(r, "config", "core.excludesFile", "~/excludes"); /* git expands "~" */
	put(r, ".git/info/exclude", "!*.y\n*.w\n!keep.w\n");
	put(r, ".gitignore", "!b.x\n");
	put(r, "sub/.gitignore", "!*.w\n");
	/* the XDG default must not apply when core.excludesFile is set */
	put(sb.home, ".config/git/ignore", "*.c\n");
	const char *files[] = { "a.x", "b.x", "a.y", "a.z", "a.w", "keep.w", "sub/c.w", "global/f",
				"main.c" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(files); i++)
		put(r, files[i], "x\n");
	expect_parity(r);

	/* unset: the XDG default applies */
	git_in(r, "config", "--unset", "core.excludesFile");
	expect_parity(r);
	struct strv a = { BASE_VEC_INIT };
	walk_list(r, &a, NULL);
	T_TRUE(!strv_has(&a, "main.c"));
	T_TRUE(strv_has(&a, "a.x"));
	strv_release(&a);
	sandbox_remove(&sb);
}

/* Subdirectory .gitignore files anchor to their own directory. */
static void parity_anchoring(void)
{
	NEED_GIT();
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	git_init(r);
	put(r, "s/.gitignore", "/a\nb/c\nd\ne/\n/f/\n*/g\n**/h\n");
	put(r, "s/t/.gitignore", "!d\n");
	const char *files[] = { "a",     "s/a",   "s/t/a", "b/c",   "s/b/c", "s/t/b/c", "d",      "s/d",
				"s/t/d", "s/u/d", "e/x",   "s/e/x", "s/t/e/x", "s/f/x",  "s/t/f/x",
				"s/x/g", "s/g",   "s/x/y/g", "s/h",  "s/x/y/h", "h" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(files); i++)
		put(r, files[i], "x\n");
	expect_parity(r);
	sandbox_remove(&sb);
}

/* .gitignore given as a symlink is not followed (git >= 2.32). */
static void parity_symlinked_gitignore(void)
{
	NEED_GIT();
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	git_init(r);
	put(r, "rules", "*.o\n");
	put(r, "a.o", "x");
	put(r, "sub/b.o", "x");
	char p[PATH_CAP + 32];
	PATHF(p, "%s/sub/.gitignore", r);
	T_EQ_INT(symlink("../rules", p), 0);
	expect_parity(r);
	sandbox_remove(&sb);
}

/* ---- seeded random parity ---------------------------------------------- */

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r, uint32_t n)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return (uint32_t)((r->s * 2685821657736338717ULL) >> 33) % n;
}

static const char *const file_names[] = {
	"a.o", "b.c", "c.txt", "main.c", "foo", "bar", "debug.log", "keep.log", "x y.txt", "#f#", "!f", "f ",
	"[f].txt", "a]b", "README.md", "Makefile", "tmp~", ".hidden", "foobar", "foo.bar", "UPPER.TXT",
	"back\\slash", "q?", "st*r", "1.txt", "a", "b", "z.min.js", "-dash", "e.tmp",
};

static const char *const dir_names[] = {
	"a", "b", "src", "build", "logs", "foo", "bar", "deep", "x y", "#d", "!d", "[d]", "d.o", "out", "m",
};

struct gen {
	struct rng r;
	const char *root;
	struct strv files; /* relative paths of regular files */
	struct strv dirs;  /* relative paths of directories, "" first */
};

static bool exists(const char *root, const char *rel)
{
	char p[PATH_CAP];
	struct stat st;
	PATHF(p, "%s/%s", root, rel);
	return lstat(p, &st) == 0;
}

static void gen_tree(struct gen *g, const char *rel, int depth)
{
	char p[PATH_CAP];
	uint32_t nf = 1 + rnd(&g->r, 4);
	for (uint32_t i = 0; i < nf; i++) {
		PATHF(p, "%s%s%s", rel, *rel ? "/" : "", file_names[rnd(&g->r, BASE_ARRAY_LEN(file_names))]);
		if (exists(g->root, p))
			continue;
		put(g->root, p, "data\n");
		strv_add(&g->files, p, strlen(p));
	}
	if (rnd(&g->r, 12) == 0) {
		char full[PATH_CAP * 2];
		PATHF(p, "%s%slink", rel, *rel ? "/" : "");
		PATHF(full, "%s/%s", g->root, p);
		if (!exists(g->root, p))
			T_EQ_INT(symlink(rnd(&g->r, 2) ? "." : "nowhere", full), 0);
	}
	if (depth >= 3)
		return;
	uint32_t nd = rnd(&g->r, depth == 0 ? 5 : 3);
	for (uint32_t i = 0; i < nd; i++) {
		PATHF(p, "%s%s%s", rel, *rel ? "/" : "", dir_names[rnd(&g->r, BASE_ARRAY_LEN(dir_names))]);
		if (exists(g->root, p))
			continue;
		char full[PATH_CAP * 2];
		PATHF(full, "%s/%s", g->root, p);
		T_EQ_INT(mkdir(full, 0755), 0);
		strv_add(&g->dirs, p, strlen(p));
		gen_tree(g, p, depth + 1);
	}
}

/* Append `s` to b, escaping glob/gitignore specials when `esc`. */
static void add_lit(struct base_buf *b, const char *s, size_t n, bool esc)
{
	for (size_t i = 0; i < n; i++) {
		if (esc && strchr("*?[]\\#! ", s[i]))
			T_OK(base_buf_addc(b, '\\'));
		T_OK(base_buf_addc(b, s[i]));
	}
}

/* A random path under `dir` (relative to it), from the tree or invented. */
static const char *pick_target(struct gen *g, const char *dir, bool *is_dir)
{
	size_t dl = strlen(dir);
	for (int tries = 0; tries < 8; tries++) {
		bool d = rnd(&g->r, 3) == 0;
		struct strv *s = d ? &g->dirs : &g->files;
		if (!s->v.n)
			continue;
		const char *p = s->v.v[rnd(&g->r, (uint32_t)s->v.n)];
		if (dl == 0 && *p) {
			*is_dir = d;
			return p;
		}
		if (dl && strncmp(p, dir, dl) == 0 && p[dl] == '/') {
			*is_dir = d;
			return p + dl + 1;
		}
	}
	*is_dir = rnd(&g->r, 2) == 0;
	return *is_dir ? dir_names[rnd(&g->r, BASE_ARRAY_LEN(dir_names))]
		       : file_names[rnd(&g->r, BASE_ARRAY_LEN(file_names))];
}

/* One random pattern line (without the newline) for a file in `dir`. */
static void gen_line(struct gen *g, const char *dir, struct base_buf *b)
{
	bool is_dir;
	const char *t = pick_target(g, dir, &is_dir);
	const char *last = strrchr(t, '/');
	last = last ? last + 1 : t;
	const char *slash = strchr(t, '/');
	size_t first_len = slash ? (size_t)(slash - t) : strlen(t);
	size_t last_len = strlen(last);
	bool esc = rnd(&g->r, 5) != 0;
	if (rnd(&g->r, 4) == 0)
		T_OK(base_buf_addc(b, '!'));
	switch (rnd(&g->r, 17)) {
	case 0: /* basename */
		add_lit(b, last, last_len, esc);
		break;
	case 1: /* the path as is */
		add_lit(b, t, strlen(t), esc);
		break;
	case 2: /* anchored */
		T_OK(base_buf_addc(b, '/'));
		add_lit(b, t, strlen(t), esc);
		break;
	case 3:
		T_OK(base_buf_adds(b, "**/"));
		add_lit(b, last, last_len, esc);
		break;
	case 4:
		add_lit(b, t, first_len, esc);
		T_OK(base_buf_adds(b, rnd(&g->r, 2) ? "/**" : "/**/"));
		break;
	case 5: /* a component replaced by '*' */
		if (slash) {
			T_OK(base_buf_adds(b, "*"));
			add_lit(b, slash, strlen(slash), esc);
		} else {
			T_OK(base_buf_adds(b, "*/"));
			add_lit(b, t, strlen(t), esc);
		}
		break;
	case 6: /* first/ ** /last */
		add_lit(b, t, first_len, esc);
		T_OK(base_buf_adds(b, "/**/"));
		add_lit(b, last, last_len, esc);
		break;
	case 7: { /* "*" + extension */
		const char *dot = strrchr(last, '.');
		T_OK(base_buf_addc(b, '*'));
		if (dot)
			add_lit(b, dot, strlen(dot), esc);
		else if (last_len > 1)
			add_lit(b, last + last_len - 1, 1, esc);
		break;
	}
	case 8: { /* one character as '?' */
		size_t k = rnd(&g->r, (uint32_t)last_len);
		add_lit(b, last, k, esc);
		T_OK(base_buf_addc(b, '?'));
		add_lit(b, last + k + 1, last_len - k - 1, esc);
		break;
	}
	case 9: { /* first character as a bracket expression */
		static const char *const br[] = { "[%c]", "[%cxy]", "[!%c]", "[^%c]", "[a-%c]", "[%c-z]", "[]%c]",
						   "[[:alpha:]%c]", "[![:digit:]]" };
		char c = last[0] == ']' || last[0] == '\\' ? 'q' : last[0];
		const char *fmt = br[rnd(&g->r, BASE_ARRAY_LEN(br))];
		T_OK(base_buf_addf(b, fmt, c));
		add_lit(b, last + 1, last_len - 1, esc);
		break;
	}
	case 10: /* rare: these ignore (nearly) everything */
		if (rnd(&g->r, 3) == 0)
			T_OK(base_buf_adds(b, rnd(&g->r, 2) ? "*" : "**"));
		else
			add_lit(b, last, last_len, esc);
		break;
	case 11: /* directory-only */
		add_lit(b, t, first_len, esc);
		T_OK(base_buf_addc(b, '/'));
		break;
	case 12:
		add_lit(b, last, last_len, esc);
		T_OK(base_buf_addc(b, '/'));
		break;
	case 13: /* prefix + '*' */
		add_lit(b, last, last_len / 2, esc);
		T_OK(base_buf_addc(b, '*'));
		break;
	case 14: /* "**" inside a component */
		add_lit(b, t, first_len, esc);
		T_OK(base_buf_adds(b, "**"));
		break;
	case 15: /* git's literal-prefix quirk: "dir/pre**" */
		add_lit(b, t, first_len, esc);
		T_OK(base_buf_addc(b, '/'));
		add_lit(b, last, last_len / 2, esc);
		T_OK(base_buf_adds(b, "**"));
		break;
	default: /* a '*' directory level before the last component */
		T_OK(base_buf_adds(b, rnd(&g->r, 2) ? "/*/" : "*/*/"));
		add_lit(b, last, last_len, esc);
		break;
	}
	if (rnd(&g->r, 10) == 0)
		T_OK(base_buf_adds(b, rnd(&g->r, 2) ? "  " : "\\ "));
}

/* A pattern file's text: 1-6 lines, comments, blanks, CRLF, BOM, no EOL. */
static void gen_file(struct gen *g, const char *dir, struct base_buf *b, bool allow_bom)
{
	bool crlf = rnd(&g->r, 7) == 0;
	if (allow_bom && rnd(&g->r, 20) == 0)
		T_OK(base_buf_adds(b, "\xef\xbb\xbf"));
	uint32_t n = 1 + rnd(&g->r, 6);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = rnd(&g->r, 12);
		if (k == 0)
			T_OK(base_buf_adds(b, "# comment"));
		else if (k != 1)
			gen_line(g, dir, b);
		if (i + 1 < n || rnd(&g->r, 3) != 0)
			T_OK(base_buf_adds(b, crlf ? "\r\n" : "\n"));
	}
}

static void put_buf(const char *root, const char *rel, struct base_buf *b)
{
	put_mem(root, rel, b->data, b->len);
	base_buf_reset(b);
}

/* One random trial; returns the number of differences. */
static int random_trial(uint64_t seed, bool keep_on_failure)
{
	struct sandbox sb;
	sandbox_init(&sb);
	struct gen g = { { seed * 0x9E3779B97F4A7C15ULL + 1 }, sb.repo, { BASE_VEC_INIT }, { BASE_VEC_INIT } };
	struct base_buf b = BASE_BUF_INIT((size_t)1 << 20);
	struct strv lode_dirs = { BASE_VEC_INIT };
	char rel[PATH_CAP];
	git_init(sb.repo);
	strv_add(&g.dirs, "", 0);
	gen_tree(&g, "", 0);

	for (size_t i = 0; i < g.dirs.v.n; i++) {
		const char *d = g.dirs.v.v[i];
		if (rnd(&g.r, 100) >= (*d ? 35u : 85u))
			continue;
		gen_file(&g, d, &b, true);
		PATHF(rel, "%s%s.gitignore", d, *d ? "/" : "");
		put_buf(sb.repo, rel, &b);
	}
	bool lode_mode = rnd(&g.r, 3) == 0;
	for (size_t i = 0; lode_mode && i < g.dirs.v.n; i++) {
		const char *d = g.dirs.v.v[i];
		if (rnd(&g.r, 10) >= 3)
			continue;
		gen_file(&g, d, &b, false);
		PATHF(rel, "%s%s.lodeignore", d, *d ? "/" : "");
		put_buf(sb.repo, rel, &b);
		PATHF(rel, "%s%s.gitignore", d, *d ? "/" : "");
		if (!exists(sb.repo, rel))
			put(sb.repo, rel, "");
		strv_add(&lode_dirs, d, strlen(d));
	}
	if (rnd(&g.r, 10) < 3) {
		gen_file(&g, "", &b, true);
		put_buf(sb.repo, ".git/info/exclude", &b);
	}
	uint32_t xmode = rnd(&g.r, 10);
	if (xmode < 3) {
		gen_file(&g, "", &b, true);
		put_buf(sb.home, "excl", &b);
		git_in(sb.repo, "config", "core.excludesFile", xmode == 0 ? "~/excl" : "../home/excl");
	} else if (xmode < 5) {
		gen_file(&g, "", &b, true);
		put_buf(sb.home, ".config/git/ignore", &b);
	}

	struct strv a = { BASE_VEC_INIT }, gl = { BASE_VEC_INIT };
	walk_list(sb.repo, &a, NULL);
	/* for git, each .lodeignore is appended to its directory's .gitignore */
	for (size_t i = 0; i < lode_dirs.v.n; i++) {
		const char *d = lode_dirs.v.v[i];
		char full[PATH_CAP * 2];
		struct base_buf lb = BASE_BUF_INIT((size_t)1 << 20), gb = BASE_BUF_INIT((size_t)1 << 20);
		PATHF(full, "%s/%s%s.lodeignore", sb.repo, d, *d ? "/" : "");
		T_OK(base_buf_read_file(&lb, full, NULL));
		PATHF(full, "%s/%s%s.gitignore", sb.repo, d, *d ? "/" : "");
		T_OK(base_buf_read_file(&gb, full, NULL));
		if (gb.len && gb.data[gb.len - 1] != '\n')
			T_OK(base_buf_addc(&gb, '\n'));
		T_OK(base_buf_add(&gb, lb.data, lb.len));
		PATHF(rel, "%s%s.gitignore", d, *d ? "/" : "");
		put_mem(sb.repo, rel, gb.data, gb.len);
		base_buf_release(&lb);
		base_buf_release(&gb);
	}
	git_list(sb.repo, &gl);
	int d = compare(&a, &gl);
	int c = check_api_agrees(sb.repo, &a);
	if (d || c) {
		fprintf(stderr, "  random trial failed: LODE_WALK_SEED=%llu LODE_WALK_ITERS=1 (%d differences, "
				"%d from idx_ignore_check); tree kept at %s\n",
			(unsigned long long)seed, d, c, sb.dir);
	}
	strv_release(&a);
	strv_release(&gl);
	strv_release(&lode_dirs);
	strv_release(&g.files);
	strv_release(&g.dirs);
	base_buf_release(&b);
	if (!(d || c) || !keep_on_failure)
		sandbox_remove(&sb);
	return d + c;
}

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	return *end ? def : (uint64_t)v;
}

static void parity_random(void)
{
	NEED_GIT();
	uint64_t seed = env_u64("LODE_WALK_SEED", 1);
	uint64_t iters = env_u64("LODE_WALK_ITERS", 200);
	fprintf(stderr, "  random parity: seed %llu, %llu trials\n", (unsigned long long)seed,
		(unsigned long long)iters);
	int failed = 0;
	for (uint64_t i = 0; i < iters; i++) {
		if (random_trial(seed + i, failed < 3))
			failed++;
	}
	if (failed)
		T_FAIL("%d of %llu random trials differ from git", failed, (unsigned long long)iters);
}

/* ---- .lodeignore ------------------------------------------------------- */

static void lodeignore(void)
{
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo; /* not a git repository: rules still apply */
	put(r, ".gitignore", "*.log\n");
	put(r, ".lodeignore", "!keep.log\n*.gen\nfixtures/\n");
	put(r, "sub/.gitignore", "!a.gen\n!x.tmp\n");
	put(r, "sub/.lodeignore", "*.tmp\n");
	put(r, "sub/deep/.gitignore", "!y.tmp\n");
	const char *files[] = { "a.log", "keep.log", "b.gen", "sub/a.gen", "sub/b.gen", "sub/x.tmp",
				"sub/deep/y.tmp", "sub/deep/z.tmp", "fixtures/f.c", "main.c" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(files); i++)
		put(r, files[i], "x\n");
	struct strv a = { BASE_VEC_INIT };
	struct idx_walk_stats st;
	walk_list(r, &a, &st);
	strv_sort(&a);
	const char *want[] = { ".gitignore", ".lodeignore", "keep.log", "main.c", "sub/.gitignore",
			       "sub/.lodeignore", "sub/a.gen", "sub/deep/.gitignore", "sub/deep/y.tmp" };
	T_EQ_INT(a.v.n, BASE_ARRAY_LEN(want));
	for (size_t i = 0; i < BASE_ARRAY_LEN(want); i++)
		T_EQ_STR(a.v.v[i], want[i]);
	/* a.log b.gen sub/b.gen sub/x.tmp sub/deep/z.tmp fixtures/ */
	T_EQ_INT(st.skipped[IDX_SKIP_IGNORED], 6);
	T_EQ_INT(check_api_agrees(r, &a), 0);
	strv_release(&a);
	sandbox_remove(&sb);
}

/* A plain (non-git) tree honours the XDG global ignore file. */
static void plain_tree_global(void)
{
	struct sandbox sb;
	sandbox_init(&sb);
	put(sb.home, ".config/git/ignore", "*.bak\n");
	put(sb.repo, "a.bak", "x");
	put(sb.repo, "a.c", "x");
	struct strv a = { BASE_VEC_INIT };
	walk_list(sb.repo, &a, NULL);
	T_EQ_INT(a.v.n, 1);
	T_EQ_STR(a.v.v[0], "a.c");
	strv_release(&a);
	/* XDG_CONFIG_HOME unset: $HOME/.config/git/ignore */
	unsetenv("XDG_CONFIG_HOME");
	walk_list(sb.repo, &a, NULL);
	T_EQ_INT(a.v.n, 1);
	strv_release(&a);
	sandbox_remove(&sb);
}

/* ---- order, entries, skips, errors ------------------------------------ */

struct order {
	struct strv seen;
	const char *root;
};

static int order_fn(void *payload, const struct idx_walk_entry *e)
{
	struct order *o = payload;
	char full[PATH_CAP * 2];
	struct stat st;
	PATHF(full, "%s/%s", o->root, e->path);
	T_EQ_INT(lstat(full, &st), 0);
	T_EQ_INT(e->size, st.st_size);
	T_EQ_INT(e->ino, st.st_ino);
	T_EQ_INT(e->mtime_ns, (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec);
	strv_add(&o->seen, e->path, e->path_len);
	return 0;
}

static void order_and_entries(void)
{
	struct sandbox sb;
	sandbox_init(&sb);
	const char *names[] = { "b", "a/x", "B", "a-c", "_", "a.c", "a/\xc3\xa9", "a/Z", "a/y/1", "\xc3\xa9" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(names); i++)
		put(sb.repo, names[i], "12345");
	struct order o = { { BASE_VEC_INIT }, sb.repo };
	struct idx_walk_stats st;
	T_OK(idx_walk(sb.repo, NULL, order_fn, &o, &st, NULL));
	/* bytewise per directory, depth-first: "a" sorts before "a-c" */
	const char *want[] = { "B", "_", "a/Z", "a/x", "a/y/1", "a/\xc3\xa9", "a-c", "a.c", "b", "\xc3\xa9" };
	T_EQ_INT(o.seen.v.n, BASE_ARRAY_LEN(want));
	for (size_t i = 0; i < BASE_ARRAY_LEN(want); i++)
		T_EQ_STR(o.seen.v.v[i], want[i]);
	T_EQ_INT(st.files, BASE_ARRAY_LEN(want));
	T_EQ_INT(st.dirs, 3); /* root, a, a/y */
	strv_release(&o.seen);
	sandbox_remove(&sb);
}

static void skip_counts(void)
{
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	char p[PATH_CAP * 2];
	put(r, ".gitignore", "build/\n*.log\n");
	put(r, "a.txt", "hello\n");
	put(r, "big.bin", "0123456789012345678901234567890123456789"); /* 40 bytes */
	put(r, "exact", "0123456789012345678901234567890"); /* 31 bytes: not over 32 */
	put(r, "build/x.c", "x");
	put(r, "build/y/z.c", "x");
	put(r, "x.log", "x");
	put(r, "sub/y.log", "x");
	put(r, ".git/config", "x"); /* never entered, never counted */
	put(r, ".git/HEAD", "x");
	put(r, ".lode/index.db", "x");
	put(r, "sub/.lode/index.db", "x");
	put(r, "nested/.git", "gitdir: elsewhere\n"); /* a submodule's .git file */
	put(r, "nested/f.c", "x");
	PATHF(p, "%s/link", r);
	T_EQ_INT(symlink("a.txt", p), 0);
	PATHF(p, "%s/loop", r);
	T_EQ_INT(symlink("loop", p), 0);
	PATHF(p, "%s/dirlink", r);
	T_EQ_INT(symlink(".", p), 0);
	PATHF(p, "%s/sub/dangling", r);
	T_EQ_INT(symlink("/nonexistent/x", p), 0);
	PATHF(p, "%s/fifo", r);
	T_EQ_INT(mkfifo(p, 0644), 0);
	PATHF(p, "%s/sub/ignored-link.log", r);
	T_EQ_INT(symlink("a.txt", p), 0);

	struct strv a = { BASE_VEC_INIT };
	struct idx_walk_opts o = { 32 };
	struct idx_walk_stats st;
	T_OK(idx_walk(r, &o, collect_fn, &a, &st, NULL));
	strv_sort(&a);
	const char *want[] = { ".gitignore", "a.txt", "exact", "nested/f.c" };
	T_EQ_INT(a.v.n, BASE_ARRAY_LEN(want));
	for (size_t i = 0; i < BASE_ARRAY_LEN(want); i++)
		T_EQ_STR(a.v.v[i], want[i]);
	T_EQ_INT(st.files, 4);
	T_EQ_INT(st.dirs, 3); /* root, sub, nested */
	T_EQ_INT(st.skipped[IDX_SKIP_IGNORED], 4); /* build/ (once), x.log, sub/y.log, sub/ignored-link.log */
	T_EQ_INT(st.skipped[IDX_SKIP_TOO_LARGE], 1);
	T_EQ_INT(st.skipped[IDX_SKIP_SYMLINK], 4); /* link, loop, dirlink, sub/dangling */
	T_EQ_INT(st.skipped[IDX_SKIP_SPECIAL], 1);
	T_EQ_INT(st.skipped[IDX_SKIP_UNREADABLE], 0);
	T_EQ_INT(st.skipped[IDX_SKIP_BINARY], 0);
	strv_release(&a);
	sandbox_remove(&sb);
}

static void unreadable(void)
{
	if (geteuid() == 0)
		T_SKIP("running as root: permissions do not block reads");
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	char p[PATH_CAP * 2];
	put(r, "ok.c", "x");
	put(r, "secret.c", "x");
	put(r, "closed/f.c", "x");
	PATHF(p, "%s/secret.c", r);
	T_EQ_INT(chmod(p, 0), 0);
	PATHF(p, "%s/closed", r);
	T_EQ_INT(chmod(p, 0), 0);
	struct strv a = { BASE_VEC_INIT };
	struct idx_walk_stats st;
	T_OK(idx_walk(r, NULL, collect_fn, &a, &st, NULL));
	T_EQ_INT(a.v.n, 1);
	T_EQ_STR(a.v.v[0], "ok.c");
	T_EQ_INT(st.skipped[IDX_SKIP_UNREADABLE], 2);
	strv_release(&a);
	sandbox_remove(&sb);
}

static int stop_fn(void *payload, const struct idx_walk_entry *e)
{
	(void)e;
	int *calls = payload;
	return ++*calls == 2 ? 42 : 0;
}

static void errors(void)
{
	struct sandbox sb;
	sandbox_init(&sb);
	struct idx_walk_stats st;
	struct base_err err = { 0, "" };
	char p[PATH_CAP * 2];
	int calls = 0;
	PATHF(p, "%s/missing", sb.repo);
	T_EQ_INT(idx_walk(p, NULL, stop_fn, &calls, &st, &err), BASE_E_NOTFOUND);
	T_TRUE(strstr(err.msg, p) != NULL);
	put(sb.repo, "file", "x");
	PATHF(p, "%s/file", sb.repo);
	T_EQ_INT(idx_walk(p, NULL, stop_fn, &calls, &st, &err), BASE_E_INVAL);
	T_TRUE(strstr(err.msg, p) != NULL);
	PATHF(p, "%s/file/below", sb.repo);
	T_EQ_INT(idx_walk(p, NULL, stop_fn, &calls, &st, &err), BASE_E_NOTFOUND);
	/* a non-zero callback result stops the walk and is returned */
	put(sb.repo, "g", "x");
	put(sb.repo, "h", "x");
	T_EQ_INT(idx_walk(sb.repo, NULL, stop_fn, &calls, &st, &err), 42);
	T_EQ_INT(calls, 2);
	T_EQ_INT(st.files, 2);
	sandbox_remove(&sb);
}

/* ---- idx_ignore_check on its own --------------------------------------- */

static void ignore_check_api(void)
{
	struct sandbox sb;
	sandbox_init(&sb);
	const char *r = sb.repo;
	put(r, ".gitignore", "build/\n*.o\n!keep.o\n");
	put(r, "src/.gitignore", "gen/\n!build/\n");
	struct idx_ignore *ig = idx_ignore_new(r, NULL);
	T_TRUE(ig != NULL);
	struct {
		const char *path;
		bool is_dir, want;
	} cases[] = {
		{ "a.c", false, false },          { "a.o", false, true },
		{ "keep.o", false, false },       { "build", true, true },
		{ "build", false, false },        { "build/x.c", false, true },
		{ "src/build", true, false },     { "src/build/x.c", false, false },
		{ "src/gen/x.c", false, true },   { "src/x.o", false, true },
		{ "src/gen", true, true },        { "src/gen", false, false },
		{ ".git/config", false, true },   { ".lode/index.db", false, true },
		{ "src/.git", false, true },      { "deep/er/build/x", false, true },
		{ "deep/er/ok.c", false, false }, { "a.c", false, false },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(cases); i++) {
		bool got = idx_ignore_check(ig, cases[i].path, strlen(cases[i].path), cases[i].is_dir);
		if (got != cases[i].want)
			T_FAIL("idx_ignore_check(%s, dir=%d) = %d", cases[i].path, cases[i].is_dir, got);
	}
	/* after a rule change, reset forgets the cached directory files */
	T_TRUE(idx_ignore_check(ig, "src/gen/x.c", 11, false));
	put(r, "src/.gitignore", "");
	T_TRUE(idx_ignore_check(ig, "src/gen/x.c", 11, false)); /* still cached */
	idx_ignore_reset(ig);
	T_EQ_INT(idx_ignore_depth(ig), 0);
	T_TRUE(!idx_ignore_check(ig, "src/gen/x.c", 11, false));
	idx_ignore_free(ig);
	sandbox_remove(&sb);
}

/* ---- content skips ----------------------------------------------------- */

static void content_skips(void)
{
	T_EQ_INT(idx_content_skip("a.c", "int x;\n", 7), -1);
	T_EQ_INT(idx_content_skip("a.c", "", 0), -1);
	T_EQ_INT(idx_content_skip("a.bin", "ab\0cd", 5), IDX_SKIP_BINARY);

	/* a NUL past the first 8000 bytes is not looked at */
	size_t n = 9000;
	char *big = base_malloc(n);
	memset(big, 'a', n);
	for (size_t i = 79; i < n; i += 80)
		big[i] = '\n';
	big[8500] = '\0';
	T_EQ_INT(idx_content_skip("late.txt", big, n), -1);
	big[7999] = '\0';
	T_EQ_INT(idx_content_skip("late.txt", big, n), IDX_SKIP_BINARY);
	base_free(big);

	const char *gen1 = "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage x\n";
	T_EQ_INT(idx_content_skip("x.pb.go", gen1, strlen(gen1)), IDX_SKIP_GENERATED);
	const char *gen2 = "#!/bin/sh\n# @generated by tool\necho\n";
	T_EQ_INT(idx_content_skip("x.sh", gen2, strlen(gen2)), IDX_SKIP_GENERATED);
	const char *gen3 = "/*\n * This file is Auto-Generated; edit the template.\n */\n";
	T_EQ_INT(idx_content_skip("x.c", gen3, strlen(gen3)), IDX_SKIP_GENERATED);
	const char *gen4 = "# AUTOGENERATED FILE\n";
	T_EQ_INT(idx_content_skip("x.py", gen4, strlen(gen4)), IDX_SKIP_GENERATED);
	const char *late = "1\n2\n3\n4\n5\n6\n// DO NOT EDIT\n";
	T_EQ_INT(idx_content_skip("x.c", late, strlen(late)), -1); /* past the header */
	T_EQ_INT(idx_content_skip("web/package-lock.json", "{}\n", 3), IDX_SKIP_GENERATED);
	T_EQ_INT(idx_content_skip("Cargo.lock", "x\n", 2), IDX_SKIP_GENERATED);
	T_EQ_INT(idx_content_skip("Cargo.toml", "x\n", 2), -1);

	T_EQ_INT(idx_content_skip("dist/app.min.js", "var a=1;\n", 9), IDX_SKIP_MINIFIED);
	T_EQ_INT(idx_content_skip("a.min.css", "a{}\n", 4), IDX_SKIP_MINIFIED);
	/* one 3000-byte line */
	n = 3000;
	char *line = base_malloc(n);
	memset(line, 'x', n);
	T_EQ_INT(idx_content_skip("app.js", line, n), IDX_SKIP_MINIFIED);
	line[n - 1] = '\n';
	T_EQ_INT(idx_content_skip("app.js", line, n), IDX_SKIP_MINIFIED);
	base_free(line);
	/* a long line among many short ones: ordinary source */
	struct base_buf b = BASE_BUF_INIT((size_t)1 << 20);
	for (int i = 0; i < 200; i++)
		T_OK(base_buf_adds(&b, "    int value = compute(a, b, c);\n"));
	for (int i = 0; i < 2500; i++)
		T_OK(base_buf_addc(&b, 'y'));
	T_OK(base_buf_addc(&b, '\n'));
	T_EQ_INT(idx_content_skip("data.c", b.data, b.len), -1);
	/* lines of ~2100 bytes each: minified */
	base_buf_reset(&b);
	for (int l = 0; l < 5; l++) {
		for (int i = 0; i < 2100; i++)
			T_OK(base_buf_addc(&b, 'z'));
		T_OK(base_buf_addc(&b, '\n'));
	}
	T_EQ_INT(idx_content_skip("bundle.js", b.data, b.len), IDX_SKIP_MINIFIED);
	base_buf_release(&b);
}

static void skip_names(void)
{
	T_EQ_STR(idx_skip_name(IDX_SKIP_IGNORED), "ignored");
	T_EQ_STR(idx_skip_name(IDX_SKIP_BINARY), "binary");
	T_EQ_STR(idx_skip_name(IDX_SKIP_TOO_LARGE), "too_large");
	T_EQ_STR(idx_skip_name(IDX_SKIP_MINIFIED), "minified");
	T_EQ_STR(idx_skip_name(IDX_SKIP_GENERATED), "generated");
	T_EQ_STR(idx_skip_name(IDX_SKIP_SYMLINK), "symlink");
	T_EQ_STR(idx_skip_name(IDX_SKIP_UNREADABLE), "unreadable");
	T_EQ_STR(idx_skip_name(IDX_SKIP_SPECIAL), "special");
	T_EQ_STR(idx_skip_name(IDX_SKIP__COUNT), "unknown");
}

T_MAIN(T_ENTRY(parity_basics), T_ENTRY(parity_crlf_bom), T_ENTRY(parity_nested), T_ENTRY(parity_starstar),
       T_ENTRY(parity_brackets), T_ENTRY(parity_exclude_files), T_ENTRY(parity_anchoring),
       T_ENTRY(parity_symlinked_gitignore), T_ENTRY(parity_random), T_ENTRY(lodeignore),
       T_ENTRY(plain_tree_global), T_ENTRY(order_and_entries), T_ENTRY(skip_counts), T_ENTRY(unreadable),
       T_ENTRY(errors), T_ENTRY(ignore_check_api), T_ENTRY(content_skips), T_ENTRY(skip_names))
