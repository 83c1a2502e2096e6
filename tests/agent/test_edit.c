/*
 * test_edit.c: SEARCH/REPLACE parsing, validation (paths, matching,
 * syntax), atomic application with rollback, and undo — on real files in
 * temp dirs; agent_reindex waiting for a watcher that holds the index.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "test.h"

#include "agent/agent.h"
#include "agent/internal.h"
#include "indexer/indexer.h"
#include "indexer/watch.h"

#include "base/banned.h"

static void put(const char *dir, const char *rel, const char *text)
{
	char *p = base_strfmt("%s/%s", dir, rel);
	FILE *f = fopen(p, "w");
	T_TRUE(f != NULL);
	fputs(text, f);
	fclose(f);
	base_free(p);
}

static char *get(const char *dir, const char *rel)
{
	char *p = base_strfmt("%s/%s", dir, rel);
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_FILE);
	int rc = base_buf_read_file(&b, p, NULL);
	base_free(p);
	if (rc) {
		base_buf_release(&b);
		return NULL;
	}
	return base_buf_detach(&b, NULL);
}

static void rm_rf(const char *dir)
{
	char *cmd = base_strfmt("rm -rf '%s'", dir);
	T_EQ_INT(system(cmd), 0);
	base_free(cmd);
}

static const char py_src[] = "def add(a, b):\n"
			     "    return a + b\n"
			     "\n"
			     "\n"
			     "def mul(a, b):\n"
			     "    return a * b\n";

static const char c_src[] = "int one(void)\n{\n\treturn 1;\n}\n\nint two(void)\n{\n\treturn 2;\n}\n";

/* A fixture repository: calc.py, lib/num.c, README. */
static char *make_repo(void)
{
	char tmpl[] = "/tmp/lode-edit-XXXXXX";
	T_TRUE(mkdtemp(tmpl) != NULL);
	char *root = realpath(tmpl, NULL);
	char *dot = base_strfmt("%s/lib", root);
	T_EQ_INT(mkdir(dot, 0755), 0);
	base_free(dot);
	put(root, "calc.py", py_src);
	put(root, "lib/num.c", c_src);
	put(root, "README", "hello\n");
	char *r = base_strdup(root);
	free(root);
	return r;
}

static int validate(const char *root, const char *reply, struct agent_changes *c, struct base_err *err)
{
	struct agent_edit_blocks b = { 0 };
	int rc = agent_edit_parse(reply, strlen(reply), &b, err);
	if (!rc)
		rc = agent_edit_validate(root, &b, c, err);
	agent_edit_blocks_release(&b);
	return rc;
}

static void parses_blocks(void)
{
	const char *reply = "Here is the change.\n\n"
			    "```python\n"
			    "calc.py\n"
			    "<<<<<<< SEARCH\r\n"
			    "    return a + b\r\n"
			    "=======\r\n"
			    "    return b + a\r\n"
			    ">>>>>>> REPLACE\r\n"
			    "```\n"
			    "**`lib/num.c`**\n"
			    "<<<<<<< SEARCH\n"
			    "=======\n"
			    ">>>>>>> REPLACE\n";
	struct agent_edit_blocks b = { 0 };
	struct base_err err;
	T_OK(agent_edit_parse(reply, strlen(reply), &b, &err));
	T_EQ_INT(b.n, 2);
	T_EQ_STR(b.v[0].path, "calc.py");
	T_EQ_STR(b.v[0].search, "    return a + b\n");
	T_EQ_STR(b.v[0].replace, "    return b + a\n");
	T_EQ_INT(b.v[0].line, 4);
	T_EQ_STR(b.v[1].path, "lib/num.c");
	T_EQ_STR(b.v[1].search, "");
	T_EQ_STR(b.v[1].replace, "");
	agent_edit_blocks_release(&b);

	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "no blocks at all\n", "no SEARCH/REPLACE" },
		{ "a.py\n<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n", "expected '======='" },
		{ "a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "ends inside" },
		{ "a.py\n<<<<<<< SEARCH\nx\n=======\ny\n<<<<<<< SEARCH\n", "expected '>>>>>>> REPLACE'" },
		{ "<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "no file path" },
		{ "a b c\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "no file path" },
		{ "a.py\n=======\n", "outside a block" },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(bad); i++) {
		struct agent_edit_blocks bb = { 0 };
		int rc = agent_edit_parse(bad[i].text, strlen(bad[i].text), &bb, &err);
		if (rc != BASE_E_PARSE || !strstr(err.msg, bad[i].want))
			T_FAIL("case %zu: rc %d, message '%s', want '%s'", i, rc, err.msg, bad[i].want);
		agent_edit_blocks_release(&bb);
	}
}

static void validates_and_matches(void)
{
	char *root = make_repo();
	struct agent_changes c;
	struct base_err err;

	/* exact, two blocks on one file and a new file */
	T_OK(validate(root,
		      "calc.py\n<<<<<<< SEARCH\n    return a + b\n=======\n    return a + b + 0\n>>>>>>> REPLACE\n"
		      "calc.py\n<<<<<<< SEARCH\n    return a * b\n=======\n    return b * a\n>>>>>>> REPLACE\n"
		      "pkg/new.py\n<<<<<<< SEARCH\n=======\nX = 1\n>>>>>>> REPLACE\n",
		      &c, &err));
	T_EQ_INT(c.n, 2);
	T_EQ_STR(c.v[0].path, "calc.py");
	T_TRUE(strstr(c.v[0].new_text, "a + b + 0") && strstr(c.v[0].new_text, "b * a"));
	T_EQ_INT(c.v[0].fuzzy, 0);
	T_TRUE(c.v[1].created);
	T_EQ_STR(c.v[1].new_text, "X = 1\n");
	T_TRUE(c.notes == NULL);
	agent_changes_release(&c);

	/* whitespace-tolerant: trailing spaces, then indentation (re-indented) */
	T_OK(validate(root, "calc.py\n<<<<<<< SEARCH\n    return a + b   \n=======\n    return 3\n>>>>>>> REPLACE\n", &c,
		      &err));
	T_EQ_INT(c.v[0].fuzzy, 1);
	T_TRUE(strstr(c.v[0].new_text, "    return 3\n") != NULL);
	T_TRUE(c.notes && strstr(c.notes, "trailing whitespace"));
	agent_changes_release(&c);
	T_OK(validate(root, "calc.py\n<<<<<<< SEARCH\ndef mul(a, b):\n  return a * b\n=======\ndef mul(a, b):\n  return 0\n>>>>>>> REPLACE\n",
		      &c, &err));
	T_TRUE(strstr(c.v[0].new_text, "def mul(a, b):\n  return 0\n") != NULL);
	T_TRUE(c.notes && strstr(c.notes, "indentation"));
	agent_changes_release(&c);
	T_OK(validate(root, "lib/num.c\n<<<<<<< SEARCH\n    return 2;\n=======\n    return 22;\n>>>>>>> REPLACE\n", &c, &err));
	T_TRUE(strstr(c.v[0].new_text, "\treturn 22;\n") != NULL);
	agent_changes_release(&c);

	/* errors name the block */
	static const struct {
		const char *reply, *want;
		int code;
	} bad[] = {
		{ "calc.py\n<<<<<<< SEARCH\nreturn a - b\n=======\nx\n>>>>>>> REPLACE\n", "block 1 (line 1): SEARCH text not found in calc.py", BASE_E_NOTFOUND },
		{ "calc.py\n<<<<<<< SEARCH\n(a, b):\n=======\nx\n>>>>>>> REPLACE\n", "matches 2 places", BASE_E_INVAL },
		{ "calc.py\n<<<<<<< SEARCH\n\n=======\nx\n>>>>>>> REPLACE\n", "already exists", BASE_E_INVAL },
		{ "x.py\n<<<<<<< SEARCH\nfoo\n=======\nx\n>>>>>>> REPLACE\n", "x.py does not exist", BASE_E_NOTFOUND },
		{ "../evil.py\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n", "outside the repository", BASE_E_INVAL },
		{ "/etc/passwd\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n", "outside the repository", BASE_E_INVAL },
		{ ".git/config\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n", "inside .git/.lode", BASE_E_INVAL },
		{ "lib/../../x\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n", "outside the repository", BASE_E_INVAL },
		{ "out/x.py\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n", "symbolic link", BASE_E_INVAL },
		{ "calc.py\n<<<<<<< SEARCH\n    return a + b\n=======\n    return (a + \n>>>>>>> REPLACE\n", "breaks its syntax", BASE_E_PARSE },
		{ "lib/num.c\n<<<<<<< SEARCH\n\treturn 1;\n}\n=======\n\treturn 1;\n>>>>>>> REPLACE\n", "breaks its syntax", BASE_E_PARSE },
		{ "calc.py\n<<<<<<< SEARCH\n    return a + b\n=======\n    return a + b\n>>>>>>> REPLACE\n", "change nothing", BASE_E_INVAL },
	};
	char *link = base_strfmt("%s/out", root);
	T_EQ_INT(symlink("/tmp", link), 0);
	base_free(link);
	for (size_t i = 0; i < BASE_ARRAY_LEN(bad); i++) {
		memset(&err, 0, sizeof(err));
		int rc = validate(root, bad[i].reply, &c, &err);
		if (rc != bad[i].code || !strstr(err.msg, bad[i].want))
			T_FAIL("case %zu: rc %d (%s), message '%s', want '%s'", i, rc, base_status_name(rc), err.msg,
			       bad[i].want);
		agent_changes_release(&c);
	}
	/* a file that already had syntax errors may keep them */
	put(root, "broken.py", "def f(:\n    pass\n");
	T_OK(validate(root, "broken.py\n<<<<<<< SEARCH\n    pass\n=======\n    return 1\n>>>>>>> REPLACE\n", &c, &err));
	T_TRUE(c.v[0].syntax_before > 0);
	agent_changes_release(&c);
	rm_rf(root);
	base_free(root);
}

static void applies_atomically_and_undoes(void)
{
	char *root = make_repo();
	char *calc = base_strfmt("%s/calc.py", root);
	T_EQ_INT(chmod(calc, 0755), 0);
	struct agent_changes c;
	struct base_err err;
	T_OK(validate(root,
		      "calc.py\n<<<<<<< SEARCH\n    return a + b\n=======\n    return a + b + 0\n>>>>>>> REPLACE\n"
		      "lib/num.c\n<<<<<<< SEARCH\n\treturn 2;\n=======\n\treturn 3;\n>>>>>>> REPLACE\n"
		      "pkg/sub/new.py\n<<<<<<< SEARCH\n=======\nX = 1\n>>>>>>> REPLACE\n",
		      &c, &err));
	char *diff = agent_changes_diff(root, &c, &err);
	T_TRUE(diff != NULL);
	T_TRUE(strstr(diff, "--- a/calc.py\n+++ b/calc.py\n") != NULL);
	T_TRUE(strstr(diff, "-    return a + b\n+    return a + b + 0\n") != NULL);
	T_TRUE(strstr(diff, "--- /dev/null\n+++ b/pkg/sub/new.py\n") != NULL);
	base_free(diff);
	/* dry run wrote nothing */
	char *t = get(root, "calc.py");
	T_EQ_STR(t, py_src);
	base_free(t);

	T_OK(agent_changes_apply(root, &c, &err));
	agent_changes_release(&c);
	t = get(root, "calc.py");
	T_TRUE(strstr(t, "a + b + 0") != NULL);
	base_free(t);
	t = get(root, "pkg/sub/new.py");
	T_EQ_STR(t, "X = 1\n");
	base_free(t);
	struct stat st;
	T_EQ_INT(stat(calc, &st), 0);
	T_EQ_INT(st.st_mode & 0777, 0755);
	/* no temp files left beside the targets */
	char *cmd = base_strfmt("find '%s' -name '.lode-edit-*' | grep -q .", root);
	T_TRUE(system(cmd) != 0);
	base_free(cmd);

	/* undo restores everything and removes the created file */
	json_t *j = NULL;
	T_OK(agent_undo(root, &j, &err));
	T_EQ_INT(json_array_size(json_object_get(j, "files")), 3);
	json_decref(j);
	t = get(root, "calc.py");
	T_EQ_STR(t, py_src);
	base_free(t);
	t = get(root, "lib/num.c");
	T_EQ_STR(t, c_src);
	base_free(t);
	T_TRUE(get(root, "pkg/sub/new.py") == NULL);
	T_EQ_INT(stat(calc, &st), 0);
	T_EQ_INT(st.st_mode & 0777, 0755);
	T_EQ_INT(agent_undo(root, NULL, &err), BASE_E_NOTFOUND);

	/* undo refuses when a file changed since the edit */
	T_OK(validate(root, "README\n<<<<<<< SEARCH\nhello\n=======\nhi\n>>>>>>> REPLACE\n", &c, &err));
	T_OK(agent_changes_apply(root, &c, &err));
	agent_changes_release(&c);
	put(root, "README", "hi, edited by hand\n");
	T_EQ_INT(agent_undo(root, NULL, &err), BASE_E_BUSY);
	T_TRUE(strstr(err.msg, "README changed since") != NULL);
	t = get(root, "README");
	T_EQ_STR(t, "hi, edited by hand\n");
	base_free(t);
	base_free(calc);
	rm_rf(root);
	base_free(root);
}

static int renames;
static int fail_second_rename(const char *from, const char *to)
{
	if (++renames == 2) {
		errno = EIO;
		return -1;
	}
	return rename(from, to);
}

static void failed_write_rolls_back(void)
{
	char *root = make_repo();
	struct agent_changes c;
	struct base_err err;
	T_OK(validate(root,
		      "calc.py\n<<<<<<< SEARCH\n    return a + b\n=======\n    return 1\n>>>>>>> REPLACE\n"
		      "lib/num.c\n<<<<<<< SEARCH\n\treturn 2;\n=======\n\treturn 3;\n>>>>>>> REPLACE\n"
		      "new.py\n<<<<<<< SEARCH\n=======\nX = 1\n>>>>>>> REPLACE\n",
		      &c, &err));
	agent__rename_hook = fail_second_rename;
	T_EQ_INT(agent_changes_apply(root, &c, &err), BASE_E_IO);
	T_TRUE(strstr(err.msg, "lib/num.c") != NULL);
	agent__rename_hook = rename;
	agent_changes_release(&c);
	char *t = get(root, "calc.py");
	T_EQ_STR(t, py_src);
	base_free(t);
	t = get(root, "lib/num.c");
	T_EQ_STR(t, c_src);
	base_free(t);
	T_TRUE(get(root, "new.py") == NULL);
	/* no temp files, no undo record */
	char *cmd = base_strfmt("find '%s' -name '.lode-edit-*' -o -name '.tmp-*' | grep -q .", root);
	T_TRUE(system(cmd) != 0);
	base_free(cmd);
	T_EQ_INT(agent_undo(root, NULL, &err), BASE_E_NOTFOUND);

	/* a file changed between validation and apply: nothing written */
	T_OK(validate(root, "README\n<<<<<<< SEARCH\nhello\n=======\nhi\n>>>>>>> REPLACE\n", &c, &err));
	put(root, "README", "hello there\n");
	T_EQ_INT(agent_changes_apply(root, &c, &err), BASE_E_BUSY);
	agent_changes_release(&c);
	t = get(root, "README");
	T_EQ_STR(t, "hello there\n");
	base_free(t);
	rm_rf(root);
	base_free(root);
}

static void citations_checked(void)
{
	char *root = make_repo();
	const char *answer = "See calc.py:1-2 and `lib/num.c:6`; also calc.py:40, nope.py:3, ./calc.py:5 and "
			     "../etc/passwd:1. Time 10:30 is not one.";
	json_t *c = agent_citations(root, answer, strlen(answer));
	T_EQ_INT(json_array_size(c), 6);
	static const struct {
		const char *path;
		int start, end;
		bool valid;
	} want[] = { { "calc.py", 1, 2, true },
		     { "lib/num.c", 6, 6, true },
		     { "calc.py", 40, 40, false },
		     { "nope.py", 3, 3, false },
		     { "calc.py", 5, 5, true },
		     { "../etc/passwd", 1, 1, false } };
	for (size_t i = 0; i < 6; i++) {
		json_t *o = json_array_get(c, i);
		T_EQ_STR(json_string_value(json_object_get(o, "path")), want[i].path);
		T_EQ_INT(json_integer_value(json_object_get(o, "start")), want[i].start);
		T_EQ_INT(json_integer_value(json_object_get(o, "end")), want[i].end);
		T_EQ_INT(json_is_true(json_object_get(o, "valid")), want[i].valid);
	}
	json_decref(c);
	rm_rf(root);
	base_free(root);
}


/* With a watcher holding the writer lock, agent_reindex returns only once
 * the watcher indexed the written files (idx_index alone would say BUSY). */
static void reindex_waits_for_watcher(void)
{
	char *root = make_repo();
	struct base_err err = { 0, "" };
	T_OK(agent_reindex(root, NULL, 0, &err)); /* no index yet: indexes it here */
	struct idx_options o = { .root = root };
	struct idx_writer *w = idx_writer_open(&o, &err);
	if (!w)
		T_FAIL("idx_writer_open: %s", err.msg);
	struct idx_summary sum;
	T_OK(idx_writer_sync(w, &sum, &err));
	struct idx_watch_options wo = { .debounce_ms = 300, .max_delay_ms = 600 };
	struct idx_watch *x = idx_watch_start(w, &wo, &err);
	if (!x)
		T_FAIL("idx_watch_start: %s", err.msg);
	for (int i = 0; i < 3; i++) {
		char *text = base_strfmt("%sdef extra_%d():\n    return %d\n", py_src, i, i);
		put(root, "calc.py", text);
		base_free(text);
		const char *paths[] = { "calc.py", "README" };
		uint64_t t0 = base_now_ns();
		int rc = agent_reindex(root, paths, 2, &err);
		if (rc)
			T_FAIL("agent_reindex: %s", err.msg);
		/* indexed now: a zero-timeout wait finds it settled */
		if (idx_wait_indexed(root, paths, 2, 0, &err) != BASE_OK)
			T_FAIL("round %d: agent_reindex returned after %.1f ms before the watcher indexed calc.py", i,
			       (double)(base_now_ns() - t0) / 1e6);
	}
	idx_watch_stop(x);
	idx_writer_close(w);
	rm_rf(root);
	base_free(root);
}

T_MAIN(T_ENTRY(parses_blocks), T_ENTRY(validates_and_matches), T_ENTRY(applies_atomically_and_undoes),
       T_ENTRY(failed_write_rolls_back), T_ENTRY(citations_checked), T_ENTRY(reindex_waits_for_watcher))
