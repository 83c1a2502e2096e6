/*
 * test_agent.c: `lode context`, `lode ask`, `lode edit` and `lode undo` as
 * users run them — the real binary in subprocesses, a copy of the fixture
 * repository, and a scripted OpenAI-compatible server on 127.0.0.1
 * (tests/agent/llm_server.h) that records the prompts it receives.
 *
 * Every bad model output and every server failure must end with a clear
 * message, exit status 2 and no file changed: the whole tree (bytes, mode
 * and mtime of every file outside .lode/) is compared before and after.
 */
#include <jansson.h>

#include "agent/agent_test.h"
#include "agent/llm_server.h"

#include "base/banned.h"

struct out {
	int code;
	struct base_buf out, err;
};

static const char *lode_bin(void)
{
	const char *b = getenv("LODE_BIN");
	if (!b)
		T_SKIP("LODE_BIN not set (run through ctest)");
	return b;
}

static void read_into(const char *path, struct base_buf *b)
{
	base_buf_init(b, BASE_CAP_TEXT);
	T_OK(base_buf_read_file(b, path, NULL));
}

static void run(struct out *o, const char *input, const char *const *args)
{
	char in_path[] = "/tmp/lode-ag-in-XXXXXX", out_path[] = "/tmp/lode-ag-out-XXXXXX",
	     err_path[] = "/tmp/lode-ag-err-XXXXXX";
	int in = mkstemp(in_path), out = mkstemp(out_path), err = mkstemp(err_path);
	T_TRUE(in >= 0 && out >= 0 && err >= 0);
	if (input)
		T_EQ_INT(write(in, input, strlen(input)), (long long)strlen(input));
	lseek(in, 0, SEEK_SET);
	fflush(NULL);
	pid_t pid = fork();
	T_TRUE(pid >= 0);
	if (pid == 0) {
		const char *argv[64];
		size_t n = 0;
		argv[n++] = lode_bin();
		for (; args[n - 1] && n < 63; n++)
			argv[n] = args[n - 1];
		argv[n] = NULL;
		dup2(in, 0);
		dup2(out, 1);
		dup2(err, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	T_TRUE(waitpid(pid, &st, 0) == pid);
	T_TRUE(WIFEXITED(st));
	o->code = WEXITSTATUS(st);
	close(in);
	close(out);
	close(err);
	read_into(out_path, &o->out);
	read_into(err_path, &o->err);
	unlink(in_path);
	unlink(out_path);
	unlink(err_path);
}

#define RUN(o, input, ...)                                                  \
	do {                                                                \
		const char *const a__[] = { __VA_ARGS__, NULL };            \
		run((o), (input), a__);                                     \
	} while (0)

#define EXPECT_CODE(o, want)                                                \
	do {                                                                \
		if ((o)->code != (want))                                    \
			T_FAIL("exit %d, want %d\nstdout: %s\nstderr: %s", (o)->code, (want), \
			       (o)->out.data, (o)->err.data);               \
	} while (0)

static void out_release(struct out *o)
{
	base_buf_release(&o->out);
	base_buf_release(&o->err);
}

static char *fixture_repo(void)
{
	const char *fx = getenv("LODE_FIXTURES");
	if (!fx)
		T_SKIP("LODE_FIXTURES not set (run through ctest)");
	char tmpl[] = "/tmp/lode-ag-repo-XXXXXX";
	T_TRUE(mkdtemp(tmpl) != NULL);
	char *cmd = base_strfmt("cp -r '%s/repo/.' '%s/' && '%s' index '%s' >/dev/null", fx, tmpl, lode_bin(), tmpl);
	T_EQ_INT(system(cmd), 0);
	base_free(cmd);
	return base_strdup(tmpl);
}

static void rm_rf(const char *dir)
{
	char *cmd = base_strfmt("rm -rf '%s'", dir);
	T_EQ_INT(system(cmd), 0);
	base_free(cmd);
}

static void context_command(void)
{
	char *root = fixture_repo();
	struct out o;
	RUN(&o, NULL, "context", "--repo", root, "--budget", "200", "--json", "reserve stock inventory");
	EXPECT_CODE(&o, 0);
	json_t *j = json_loads(o.out.data, 0, NULL);
	T_TRUE(j != NULL);
	T_TRUE(json_integer_value(json_object_get(j, "tokens")) <= 200);
	T_EQ_INT(json_integer_value(json_object_get(j, "budget")), 200);
	T_TRUE(t_count(json_string_value(json_object_get(j, "text"))) <= 200);
	T_TRUE(json_array_size(json_object_get(j, "chunks")) > 0);
	json_decref(j);
	out_release(&o);
	RUN(&o, "reserve stock inventory\n", "context", "--repo", root, "-");
	EXPECT_CODE(&o, 0);
	T_TRUE(strstr(o.out.data, "inventory.py:") != NULL);
	T_TRUE(strstr(o.err.data, "tokens (estimate") != NULL);
	out_release(&o);
	RUN(&o, NULL, "context", "--repo", root, "--budget", "0", "x");
	EXPECT_CODE(&o, 1);
	out_release(&o);
	RUN(&o, NULL, "context", "--repo", root);
	EXPECT_CODE(&o, 1);
	out_release(&o);
	rm_rf(root);
	base_free(root);
}

static void ask_streams_and_checks_citations(void)
{
	char *root = fixture_repo();
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_SSE,
				    "Reservations are checked in inventory.py:43-49; see also bogus.c:3 and "
				    "inventory.py:9999.",
				    200, false } };
	t_llm_start(&s, r, 1);
	struct out o;
	RUN(&o, NULL, "ask", "--repo", root, "--llm", s.url, "--llm-model", "coder", "--budget", "900", "--reserve",
	    "100", "how", "are", "reservations", "checked?");
	EXPECT_CODE(&o, 0);
	T_TRUE(strstr(o.out.data, "Reservations are checked in inventory.py:43-49") != NULL);
	T_TRUE(strstr(o.err.data, "invalid citation bogus.c:3-3 (no such file") != NULL);
	T_TRUE(strstr(o.err.data, "invalid citation inventory.py:9999-9999 (line out of range)") != NULL);
	T_TRUE(strstr(o.err.data, "inventory.py:43-49") == NULL);
	out_release(&o);
	json_t *body = NULL;
	T_EQ_INT(t_llm_requests(&s, 0, &body, NULL), 1);
	T_EQ_STR(json_string_value(json_object_get(body, "model")), "coder");
	T_EQ_INT(json_integer_value(json_object_get(body, "max_tokens")), 100);
	size_t pt = t_prompt_tokens(body);
	if (pt + 100 > 900)
		T_FAIL("prompt of %zu tokens + reserve 100 > budget 900", pt);
	T_TRUE(strstr(t_user_content(body), "inventory.py:") != NULL);
	T_TRUE(strstr(t_user_content(body), "Question: how are reservations checked?") != NULL);
	json_decref(body);

	/* --json, and a tiny budget still respected */
	RUN(&o, NULL, "ask", "--repo", root, "--llm", s.url, "--budget", "300", "--reserve", "50", "--json",
	    "reservations");
	EXPECT_CODE(&o, 0);
	json_t *j = json_loads(o.out.data, 0, NULL);
	T_TRUE(j != NULL);
	T_EQ_INT(json_array_size(json_object_get(j, "invalid")), 2);
	T_EQ_INT(json_array_size(json_object_get(j, "citations")), 3);
	json_decref(j);
	out_release(&o);
	T_EQ_INT(t_llm_requests(&s, 1, &body, NULL), 2);
	T_TRUE(t_prompt_tokens(body) + 50 <= 300);
	json_decref(body);
	/* a budget too small for the question itself is a clear error */
	RUN(&o, NULL, "ask", "--repo", root, "--llm", s.url, "--budget", "40", "--reserve", "30", "reservations");
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, "too small") != NULL);
	out_release(&o);
	/* no endpoint */
	RUN(&o, NULL, "ask", "--repo", root, "question");
	EXPECT_CODE(&o, 1);
	T_TRUE(strstr(o.err.data, "LODE_LLM_URL") != NULL);
	out_release(&o);
	t_llm_stop(&s);
	rm_rf(root);
	base_free(root);
}

static const char good_edit[] = "I will make reserve() refuse non-positive quantities.\n\n"
				"```python\n"
				"inventory.py\n"
				"<<<<<<< SEARCH\n"
				"LOW_STOCK_RATIO = 0.2\n"
				"=======\n"
				"LOW_STOCK_RATIO = 0.25\n"
				">>>>>>> REPLACE\n"
				"```\n";

static void edit_dry_run_apply_undo(void)
{
	char *root = fixture_repo();
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_SSE, good_edit, 200, false } };
	t_llm_start(&s, r, 1);
	char *before = t_snapshot(root, true), *before_content = t_snapshot(root, false);
	struct out o;
	RUN(&o, NULL, "edit", "--repo", root, "--llm", s.url, "raise", "the", "low", "stock", "ratio");
	EXPECT_CODE(&o, 0);
	T_TRUE(strstr(o.out.data, "--- a/inventory.py\n+++ b/inventory.py\n") != NULL);
	T_TRUE(strstr(o.out.data, "-LOW_STOCK_RATIO = 0.2\n+LOW_STOCK_RATIO = 0.25\n") != NULL);
	T_TRUE(strstr(o.err.data, "dry run") != NULL);
	out_release(&o);
	char *after = t_snapshot(root, true);
	T_EQ_STR(after, before);
	base_free(after);

	RUN(&o, NULL, "edit", "--repo", root, "--llm", s.url, "--apply", "--json", "raise the low stock ratio");
	EXPECT_CODE(&o, 0);
	json_t *j = json_loads(o.out.data, 0, NULL);
	T_TRUE(json_is_true(json_object_get(j, "applied")));
	T_EQ_INT(json_array_size(json_object_get(j, "files")), 1);
	json_decref(j);
	out_release(&o);
	/* exactly inventory.py changed */
	char *cmd = base_strfmt("cd '%s' && grep -c 'LOW_STOCK_RATIO = 0.25' inventory.py", root);
	char *g = t_shell(cmd);
	T_EQ_STR(g, "1\n");
	base_free(g);
	base_free(cmd);
	after = t_snapshot(root, true);
	T_TRUE(strcmp(after, before) != 0);
	t_snapshot_only(before, after, "inventory.py");
	base_free(after);
	/* the index saw the edit: search finds the new text */
	RUN(&o, NULL, "search", "--repo", root, "--json", "LOW_STOCK_RATIO");
	EXPECT_CODE(&o, 0);
	T_TRUE(strstr(o.out.data, "0.25") != NULL);
	out_release(&o);

	RUN(&o, NULL, "undo", "--repo", root);
	EXPECT_CODE(&o, 0);
	T_TRUE(strstr(o.out.data, "restored inventory.py") != NULL);
	out_release(&o);
	after = t_snapshot(root, false);
	T_EQ_STR(after, before_content);
	base_free(after);
	RUN(&o, NULL, "undo", "--repo", root);
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, "nothing to undo") != NULL);
	out_release(&o);
	base_free(before);
	base_free(before_content);
	t_llm_stop(&s);
	rm_rf(root);
	base_free(root);
}

static void edit_bad_outputs_change_nothing(void)
{
	char *root = fixture_repo();
	char *link = base_strfmt("%s/escape", root);
	T_EQ_INT(symlink("/tmp", link), 0);
	base_free(link);
	static const struct {
		struct t_llm_resp resp;
		const char *want;
		size_t requests;
	} cases[] = {
		{ { T_LLM_SSE, "inventory.py\n<<<<<<< SEARCH\nLOW_STOCK_RATIO = 0.2\n>>>>>>> REPLACE\n", 200, false },
		  "expected '======='", 1 },
		{ { T_LLM_SSE, "Sorry, I cannot help with that.", 200, false }, "no SEARCH/REPLACE block", 1 },
		{ { T_LLM_SSE, "inventory.py\n<<<<<<< SEARCH\nLOW_STOCK_RATIO = 0.9\n=======\nx = 1\n>>>>>>> REPLACE\n", 200, false },
		  "SEARCH text not found in inventory.py", 1 },
		{ { T_LLM_SSE, "inventory.py\n<<<<<<< SEARCH\nsku: str, quantity: int) -> None:\n=======\nsku, quantity):\n>>>>>>> REPLACE\n", 200, false },
		  "places in inventory.py", 1 },
		{ { T_LLM_SSE, "../outside.py\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n", 200, false },
		  "outside the repository", 1 },
		{ { T_LLM_SSE, "escape/x.py\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\n", 200, false },
		  "symbolic link", 1 },
		{ { T_LLM_SSE, "inventory.py\n<<<<<<< SEARCH\nLOW_STOCK_RATIO = 0.2\n=======\nLOW_STOCK_RATIO = (0.2\n>>>>>>> REPLACE\n"
		    "new.json\n<<<<<<< SEARCH\n=======\n{}\n>>>>>>> REPLACE\n", 200, false },
		  "breaks its syntax", 1 },
		{ { T_LLM_SSE, "inventory.py\n<<<<<<< SEARCH\nLOW_STOCK_RATIO = 0.2\n=======\nLOW_STOCK_RATIO = 0.3\n>>>>>>> REPLACE\n"
		    "ring_buffer.c\n<<<<<<< SEARCH\nno such line\n=======\nx\n>>>>>>> REPLACE\n", 200, false },
		  "block 2 (line 7): SEARCH text not found in ring_buffer.c", 1 },
		{ { T_LLM_HANG, NULL, 0, false }, "timeout", 1 },
		{ { T_LLM_DROP, good_edit, 200, false }, "cut off", 1 },
		{ { T_LLM_STATUS, "{\"error\":{\"message\":\"out of memory\"}}", 500, false }, "HTTP 500: out of memory (after 4 attempts)", 4 },
		{ { T_LLM_STATUS, "{\"error\":{\"message\":\"unknown model\"}}", 400, false }, "HTTP 400: unknown model", 1 },
	};
	char *before = t_snapshot(root, true);
	for (size_t i = 0; i < BASE_ARRAY_LEN(cases); i++) {
		struct t_llm s;
		t_llm_start(&s, &cases[i].resp, 1);
		struct out o;
		RUN(&o, NULL, "edit", "--repo", root, "--llm", s.url, "--llm-timeout", "500", "--apply", "--test", "true",
		    "make the change");
		if (o.code != 2 || !strstr(o.err.data, cases[i].want) || !strstr(o.err.data, "no file changed"))
			T_FAIL("case %zu: exit %d, stderr '%s', want '%s'", i, o.code, o.err.data, cases[i].want);
		T_EQ_INT(t_llm_requests(&s, 99, NULL, NULL), cases[i].requests);
		out_release(&o);
		char *after = t_snapshot(root, true);
		if (strcmp(after, before) != 0)
			T_FAIL("case %zu changed the tree:\nbefore:\n%s\nafter:\n%s", i, before, after);
		base_free(after);
		t_llm_stop(&s);
	}
	base_free(before);
	rm_rf(root);
	base_free(root);
}

static void edit_test_loop(void)
{
	char *root = fixture_repo();
	static const char second[] = "inventory.py\n<<<<<<< SEARCH\nLOW_STOCK_RATIO = 0.25\n=======\n"
				     "LOW_STOCK_RATIO = 0.25  # FIXED\n>>>>>>> REPLACE\n";
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_SSE, good_edit, 200, false }, { T_LLM_SSE, second, 200, true } };
	t_llm_start(&s, r, 2);
	struct out o;
	RUN(&o, NULL, "edit", "--repo", root, "--llm", s.url, "--apply", "--budget", "3000", "--json", "--test",
	    "echo 'assertion failed: want FIXED'; grep -q FIXED inventory.py", "raise the ratio");
	EXPECT_CODE(&o, 0);
	json_t *j = json_loads(o.out.data, 0, NULL);
	T_TRUE(j != NULL);
	T_EQ_INT(json_integer_value(json_object_get(j, "turns")), 2);
	json_t *tests = json_object_get(j, "tests");
	T_TRUE(json_is_true(json_object_get(tests, "passed")));
	T_EQ_INT(json_array_size(json_object_get(j, "files")), 2);
	json_decref(j);
	out_release(&o);
	json_t *body = NULL;
	T_EQ_INT(t_llm_requests(&s, 1, &body, NULL), 2);
	T_TRUE(strstr(t_user_content(body), "assertion failed: want FIXED") != NULL);
	T_TRUE(strstr(t_user_content(body), "+LOW_STOCK_RATIO = 0.25") != NULL);
	T_TRUE(t_prompt_tokens(body) + 750 <= 3000); /* default reserve: budget/4 */
	T_EQ_INT(json_integer_value(json_object_get(body, "max_tokens")), 750);
	json_decref(body);
	t_llm_stop(&s);

	/* tests that never pass: non-zero exit after --max-turns */
	struct t_llm_resp r2[] = { { T_LLM_SSE, "inventory.py\n<<<<<<< SEARCH\nimport functools\n=======\nimport functools  # x\n>>>>>>> REPLACE\n", 200, false } };
	t_llm_start(&s, r2, 1);
	RUN(&o, NULL, "edit", "--repo", root, "--llm", s.url, "--apply", "--max-turns", "1", "--test", "false",
	    "touch imports");
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, "still fail after 1 turn") != NULL);
	out_release(&o);
	RUN(&o, NULL, "edit", "--repo", root, "--llm", s.url, "--test", "true", "x");
	EXPECT_CODE(&o, 1);
	out_release(&o);
	t_llm_stop(&s);
	rm_rf(root);
	base_free(root);
}

T_MAIN(T_ENTRY(context_command), T_ENTRY(ask_streams_and_checks_citations), T_ENTRY(edit_dry_run_apply_undo),
       T_ENTRY(edit_bad_outputs_change_nothing), T_ENTRY(edit_test_loop))
