/*
 * test.h: lode's tiny test harness.
 *
 * A test binary lists its cases with T_MAIN(T_ENTRY(a), T_ENTRY(b), ...).
 * `test_x` runs every case, `test_x NAME...` runs the named ones. Each case
 * runs in a forked child, so a crash fails that case and not the others.
 * A case that calls T_SKIP() counts as skipped; a binary whose cases were
 * all skipped exits 77 (ctest's SKIP_RETURN_CODE). Every case must end with
 * no live base allocations (checked after the case returns).
 */
#ifndef LODE_TEST_H
#define LODE_TEST_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"

struct t_case {
	const char *name;
	void (*fn)(void);
};

#define T_SKIP_CODE 77

#define T_FAIL(...)                                                         \
	do {                                                                \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);           \
		fprintf(stderr, __VA_ARGS__);                               \
		fprintf(stderr, "\n");                                      \
		exit(1);                                                    \
	} while (0)

#define T_SKIP(...)                                                         \
	do {                                                                \
		fprintf(stderr, "  skipped: ");                             \
		fprintf(stderr, __VA_ARGS__);                               \
		fprintf(stderr, "\n");                                      \
		exit(T_SKIP_CODE);                                          \
	} while (0)

#define T_TRUE(x)                                                           \
	do {                                                                \
		if (!(x))                                                   \
			T_FAIL("expected true: %s", #x);                    \
	} while (0)

#define T_EQ_INT(a, b)                                                      \
	do {                                                                \
		long long t__a = (long long)(a), t__b = (long long)(b);     \
		if (t__a != t__b)                                           \
			T_FAIL("%s == %s: %lld != %lld", #a, #b, t__a, t__b); \
	} while (0)

#define T_EQ_STR(a, b)                                                      \
	do {                                                                \
		const char *t__a = (a), *t__b = (b);                        \
		if (!t__a || !t__b || strcmp(t__a, t__b) != 0)              \
			T_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,        \
			       t__a ? t__a : "(null)", t__b ? t__b : "(null)"); \
	} while (0)

#define T_OK(expr)                                                          \
	do {                                                                \
		int t__rc = (expr);                                         \
		if (t__rc != 0)                                             \
			T_FAIL("%s returned %d (%s)", #expr, t__rc,         \
			       base_status_name(t__rc));                    \
	} while (0)

#define T_ENTRY(fn) { #fn, fn }

/* A seedable generator for property tests (splitmix64): set t_seed, then
 * call t_rand(). Each case runs in its own process, so the state is per
 * case. */
static uint64_t t_seed;

static inline uint64_t t_rand(void)
{
	uint64_t z = (t_seed += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* ---- a temporary directory per case ----------------------------------- */

static char t__tmp[64];

/* Remove a tree without following links (rm -rf). */
static inline void t_rm_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			char sub[4096];
			if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < sizeof(sub))
				t_rm_tree(sub);
		}
		if (d)
			closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static inline void t__tmp_remove(void)
{
	if (t__tmp[0])
		t_rm_tree(t__tmp);
	t__tmp[0] = '\0';
}

/*
 * name inside this case's temporary directory (made on first use, removed
 * when the case's process exits); the result lives until the next call.
 */
static inline const char *t_path(const char *name)
{
	static char path[512];
	if (!t__tmp[0]) {
		snprintf(t__tmp, sizeof(t__tmp), "/tmp/lode-test-XXXXXX");
		if (!mkdtemp(t__tmp))
			T_FAIL("mkdtemp: %s", strerror(errno));
		atexit(t__tmp_remove);
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", t__tmp, name) >= sizeof(path))
		T_FAIL("t_path: %s is too long", name);
	return path;
}

/* Run a shell command, appending its stdout to out; its exit status (-1: killed). */
static inline int t_run(const char *cmd, struct base_buf *out)
{
	FILE *p = popen(cmd, "r");
	if (!p)
		T_FAIL("popen %s: %s", cmd, strerror(errno));
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		T_OK(base_buf_add(out, buf, n));
	int st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static inline int t__run_one(const struct t_case *c)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		c->fn();
		long live = base_alloc_live();
		if (live != 0) {
			fprintf(stderr, "  leak: %ld live allocations after %s\n", live, c->name);
			exit(1);
		}
		exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	fprintf(stderr, "  %s: killed by signal %d\n", c->name, WTERMSIG(st));
	return 1;
}

static inline int t__main(const struct t_case *cases, size_t n, int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	for (size_t i = 0; i < n; i++) {
		if (argc > 1) {
			int want = 0;
			for (int a = 1; a < argc; a++)
				want |= strcmp(argv[a], cases[i].name) == 0;
			if (!want)
				continue;
		}
		int rc = t__run_one(&cases[i]);
		const char *what = rc == 0 ? "ok" : rc == T_SKIP_CODE ? "skip" : "FAIL";
		fprintf(stderr, "%-4s %s\n", what, cases[i].name);
		if (rc == 0)
			passed++;
		else if (rc == T_SKIP_CODE)
			skipped++;
		else
			failed++;
	}
	fprintf(stderr, "%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	if (failed)
		return 1;
	if (passed == 0 && skipped > 0)
		return T_SKIP_CODE;
	if (passed == 0) {
		fprintf(stderr, "no test case matched\n");
		return 1;
	}
	return 0;
}

#define T_MAIN(...)                                                         \
	int main(int argc, char **argv)                                     \
	{                                                                   \
		static const struct t_case t__cases[] = { __VA_ARGS__ };    \
		return t__main(t__cases, sizeof(t__cases) / sizeof(t__cases[0]), argc, argv); \
	}

#endif /* LODE_TEST_H */
