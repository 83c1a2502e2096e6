/*
 * repo_box.h: a throwaway repository for indexer tests (static helpers,
 * one copy per test binary): a temp dir holding repo/ and the vector
 * cache (XDG_CACHE_HOME), and writing files into it.
 */
#ifndef LODE_TEST_REPO_BOX_H
#define LODE_TEST_REPO_BOX_H

#include <sys/stat.h>

#include "test.h"

struct box {
	char dir[64];
	char repo[128];
};

/* `tmpl`: a mkdtemp template, "/tmp/lode-x-XXXXXX". */
static void box_init_at(struct box *b, const char *tmpl)
{
	snprintf(b->dir, sizeof(b->dir), "%s", tmpl);
	if (!mkdtemp(b->dir))
		T_FAIL("mkdtemp: %s", strerror(errno));
	snprintf(b->repo, sizeof(b->repo), "%s/repo", b->dir);
	T_EQ_INT(mkdir(b->repo, 0755), 0);
	char cache[128];
	snprintf(cache, sizeof(cache), "%s/cache", b->dir);
	setenv("XDG_CACHE_HOME", cache, 1);
}

static void box_done(struct box *b)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
	T_EQ_INT(system(cmd), 0);
}

/* Write repo/rel (directories made as needed). */
static void put(const char *repo, const char *rel, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", repo, rel);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
	T_EQ_INT(system(cmd), 0);
	*slash = '/';
	FILE *f = fopen(path, "w");
	T_TRUE(f != NULL);
	fputs(text, f);
	fclose(f);
}

#endif /* LODE_TEST_REPO_BOX_H */
