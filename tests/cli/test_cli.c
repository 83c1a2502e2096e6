/*
 * test_cli.c: the `lode` binary as users and scripts run it — real
 * subprocesses, real repositories in temp dirs, real SQLite files.
 */
#include <fcntl.h>
#include <jansson.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "test.h"

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

/* Run lode with argv (NULL-terminated) in `cwd`, feeding `input` on stdin. */
static void run(struct out *o, const char *cwd, const char *input, const char *const *args)
{
	char in_path[] = "/tmp/lode-cli-in-XXXXXX", out_path[] = "/tmp/lode-cli-out-XXXXXX",
	     err_path[] = "/tmp/lode-cli-err-XXXXXX";
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
		if (cwd && chdir(cwd) != 0)
			_exit(126);
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

static void out_release(struct out *o)
{
	base_buf_release(&o->out);
	base_buf_release(&o->err);
}

#define RUN(o, cwd, input, ...)                                             \
	do {                                                                \
		const char *const a__[] = { __VA_ARGS__, NULL };            \
		run((o), (cwd), (input), a__);                              \
	} while (0)

/* Expect an exit code; print what lode said when it differs. */
#define EXPECT_CODE(o, want)                                                \
	do {                                                                \
		if ((o)->code != (want))                                    \
			T_FAIL("exit %d, want %d\nstdout: %s\nstderr: %s", (o)->code, (want), \
			       (o)->out.data, (o)->err.data);               \
	} while (0)

static void write_file(const char *dir, const char *rel, const char *content, size_t len)
{
	char *path = base_strfmt("%s/%s", dir, rel);
	for (char *p = path + strlen(dir) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0777);
			*p = '/';
		}
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	T_TRUE(fd >= 0);
	T_EQ_INT(write(fd, content, len), (long long)len);
	close(fd);
	base_free(path);
}

#define WRITE(dir, rel, s) write_file((dir), (rel), (s), strlen(s))

static char *make_repo(void)
{
	char tmpl[] = "/tmp/lode-cli-repo-XXXXXX";
	T_TRUE(mkdtemp(tmpl) != NULL);
	char *dir = base_strdup(tmpl);
	WRITE(dir, "src/http.c",
	      "#include <string.h>\n\n"
	      "/* Parse one header line into name and value. */\n"
	      "int parseHttpHeader(const char *line, char *name, char *value)\n{\n"
	      "\tconst char *colon = strchr(line, ':');\n\tif (!colon)\n\t\treturn -1;\n\treturn 0;\n}\n\n"
	      "static int unrelated_helper(int x)\n{\n\treturn x * 2;\n}\n");
	WRITE(dir, "app/models.py",
	      "class UserAccount:\n    \"\"\"A user.\"\"\"\n\n    def __init__(self, name):\n        self.name = name\n\n"
	      "    def display_name(self):\n        return self.name.title()\n\n\n"
	      "def load_accounts(path):\n    with open(path) as f:\n        return [UserAccount(l) for l in f]\n");
	WRITE(dir, "README.md", "# Demo\n\nA demo repository.\n\n## Usage\n\nRun it.\n");
	WRITE(dir, ".gitignore", "build/\n*.log\n");
	WRITE(dir, "build/out.c", "int generated_thing(void) { return 1; }\n");
	WRITE(dir, "debug.log", "log line\n");
	write_file(dir, "blob.bin", "abc\0def\0ghi", 11);
	WRITE(dir, "empty.txt", "");
	WRITE(dir, "latin1.txt", "caf\xe9 cr\xe8me br\xfbl\xe9\xe9 parseHttpHeader\n");
	return dir;
}

static void rm_rf(const char *dir)
{
	char *cmd = base_strfmt("rm -rf '%s'", dir);
	T_EQ_INT(system(cmd), 0);
	base_free(cmd);
}

static json_t *parse_json(const struct out *o)
{
	json_error_t je;
	json_t *j = json_loadb(o->out.data, o->out.len, 0, &je);
	if (!j)
		T_FAIL("stdout is not JSON (%s): %s", je.text, o->out.data);
	return j;
}

static json_int_t jint(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);
	if (path2)
		v = json_object_get(v, path2);
	if (!json_is_integer(v))
		T_FAIL("%s.%s is not an integer", path1, path2 ? path2 : "");
	return json_integer_value(v);
}

static void index_and_search(void)
{
	char *repo = make_repo();
	struct out o;
	RUN(&o, NULL, NULL, "index", repo, "--json");
	EXPECT_CODE(&o, 0);
	json_t *j = parse_json(&o);
	/* http.c, models.py, README.md, .gitignore, empty.txt, latin1.txt */
	T_EQ_INT(jint(j, "files", "indexed"), 6);
	T_EQ_INT(jint(j, "files", "added"), 6);
	T_EQ_INT(jint(j, "skipped", "binary"), 1);
	T_EQ_INT(jint(j, "skipped", "ignored"), 2); /* build/ counts once, debug.log */
	json_decref(j);
	out_release(&o);

	RUN(&o, NULL, NULL, "search", "--repo", repo, "--json", "http", "header");
	EXPECT_CODE(&o, 0);
	j = parse_json(&o);
	/* the contract's shape */
	T_TRUE(json_is_string(json_object_get(j, "query")));
	T_EQ_STR(json_string_value(json_object_get(j, "query")), "http header");
	T_TRUE(json_is_string(json_object_get(j, "mode")));
	T_TRUE(json_is_number(json_object_get(j, "took_ms")));
	json_t *idx = json_object_get(j, "index");
	T_TRUE(json_is_integer(json_object_get(idx, "generation")));
	T_TRUE(json_is_string(json_object_get(idx, "head")));
	T_TRUE(json_is_integer(json_object_get(idx, "pending")));
	json_t *res = json_object_get(j, "results");
	T_TRUE(json_is_array(res) && json_array_size(res) >= 1);
	json_t *top = json_array_get(res, 0);
	static const char *const str_keys[] = { "path", "lang", "kind", "symbol", "scope", "text" };
	static const char *const int_keys[] = { "chunk_id", "start_line", "end_line" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(str_keys); i++)
		if (!json_is_string(json_object_get(top, str_keys[i])))
			T_FAIL("result.%s is not a string", str_keys[i]);
	for (size_t i = 0; i < BASE_ARRAY_LEN(int_keys); i++)
		if (!json_is_integer(json_object_get(top, int_keys[i])))
			T_FAIL("result.%s is not an integer", int_keys[i]);
	T_TRUE(json_is_number(json_object_get(top, "score")));
	T_EQ_STR(json_string_value(json_object_get(top, "path")), "src/http.c");
	T_EQ_STR(json_string_value(json_object_get(top, "lang")), "c");
	json_decref(j);
	out_release(&o);

	/* from a subdirectory, without --repo; query from stdin */
	char *sub = base_strfmt("%s/app", repo);
	RUN(&o, sub, "Traceback (most recent call last):\n  File \"app/models.py\", line 8, in display_name\n"
		     "AttributeError: 'NoneType' object has no attribute 'title'\n",
	    "search", "--json", "-k", "3", "-");
	EXPECT_CODE(&o, 0);
	j = parse_json(&o);
	res = json_object_get(j, "results");
	T_TRUE(json_array_size(res) >= 1 && json_array_size(res) <= 3);
	T_EQ_STR(json_string_value(json_object_get(json_array_get(res, 0), "path")), "app/models.py");
	json_decref(j);
	out_release(&o);
	base_free(sub);

	/* filters */
	RUN(&o, NULL, NULL, "search", "--repo", repo, "--json", "--lang", "python", "parseHttpHeader name");
	EXPECT_CODE(&o, 0);
	j = parse_json(&o);
	res = json_object_get(j, "results");
	for (size_t i = 0; i < json_array_size(res); i++)
		T_EQ_STR(json_string_value(json_object_get(json_array_get(res, i), "lang")), "python");
	json_decref(j);
	out_release(&o);
	RUN(&o, NULL, NULL, "search", "--repo", repo, "--json", "--path", "src/**", "name");
	EXPECT_CODE(&o, 0);
	j = parse_json(&o);
	res = json_object_get(j, "results");
	T_TRUE(json_array_size(res) >= 1);
	for (size_t i = 0; i < json_array_size(res); i++)
		T_TRUE(strncmp(json_string_value(json_object_get(json_array_get(res, i), "path")), "src/", 4) == 0);
	json_decref(j);
	out_release(&o);

	/* invalid UTF-8 in a chunk still gives valid JSON */
	RUN(&o, NULL, NULL, "search", "--repo", repo, "--json", "--path", "*.txt", "parseHttpHeader");
	EXPECT_CODE(&o, 0);
	j = parse_json(&o);
	T_TRUE(json_array_size(json_object_get(j, "results")) == 1);
	json_decref(j);
	out_release(&o);

	rm_rf(repo);
	base_free(repo);
}

/* Text that is FTS5 syntax must be searched for, never interpreted. */
static void hostile_queries(void)
{
	char *repo = make_repo();
	struct out o;
	RUN(&o, NULL, NULL, "index", repo);
	EXPECT_CODE(&o, 0);
	out_release(&o);
	static const char *const queries[] = {
		"\"", "\"unbalanced", "a AND", "OR", "NOT x", "NEAR(a b", "col:value", "^start", "-minus", "*",
		"x*", "(", ")", "{a b}", "a + b", "'single'", "\\", "AND OR NOT NEAR", "%", "\t\n",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(queries); i++) {
		RUN(&o, NULL, NULL, "search", "--repo", repo, "--json", "--", queries[i]);
		if (o.code != 0)
			T_FAIL("query [%s]: exit %d: %s", queries[i], o.code, o.err.data);
		json_decref(parse_json(&o));
		out_release(&o);
	}
	rm_rf(repo);
	base_free(repo);
}

static void chunks_cover_file(void)
{
	char *repo = make_repo();
	struct out o;
	RUN(&o, NULL, NULL, "index", repo);
	EXPECT_CODE(&o, 0);
	out_release(&o);
	static const char *const files[] = { "src/http.c", "app/models.py", "README.md", "latin1.txt" };
	for (size_t f = 0; f < BASE_ARRAY_LEN(files); f++) {
		RUN(&o, repo, NULL, "chunks", "--json", files[f]);
		EXPECT_CODE(&o, 0);
		json_t *j = parse_json(&o);
		T_EQ_STR(json_string_value(json_object_get(j, "path")), files[f]);
		json_t *chunks = json_object_get(j, "chunks");
		char *path = base_strfmt("%s/%s", repo, files[f]);
		struct base_buf content;
		read_into(path, &content);
		json_int_t at = 0;
		for (size_t i = 0; i < json_array_size(chunks); i++) {
			json_t *c = json_array_get(chunks, i);
			T_EQ_INT(jint(c, "start_byte", NULL), at);
			at = jint(c, "end_byte", NULL);
		}
		T_EQ_INT(at, (long long)content.len);
		base_buf_release(&content);
		base_free(path);
		json_decref(j);
		out_release(&o);
	}
	RUN(&o, repo, NULL, "chunks", "nope.c");
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, "nope.c") != NULL);
	out_release(&o);
	rm_rf(repo);
	base_free(repo);
}

static void incremental(void)
{
	char *repo = make_repo();
	struct out o;
	RUN(&o, NULL, NULL, "index", repo, "--json");
	EXPECT_CODE(&o, 0);
	out_release(&o);

	/* nothing changed: nothing read */
	RUN(&o, NULL, NULL, "index", repo, "--json");
	EXPECT_CODE(&o, 0);
	json_t *j = parse_json(&o);
	T_EQ_INT(jint(j, "files", "unchanged"), 6);
	T_EQ_INT(jint(j, "files", "read"), 0);
	T_EQ_INT(jint(j, "chunks", "written"), 0);
	json_decref(j);
	out_release(&o);

	/* an edit, a new file, a deletion, a newly ignored file */
	WRITE(repo, "src/http.c", "int parse_request_line(const char *l) { return l != 0; }\n");
	WRITE(repo, "src/new_module.go", "package main\n\nfunc brandNewFunction() int { return 42 }\n");
	char *p = base_strfmt("%s/README.md", repo);
	T_EQ_INT(unlink(p), 0);
	base_free(p);
	WRITE(repo, ".gitignore", "build/\n*.log\n*.txt\n");
	RUN(&o, NULL, NULL, "index", repo, "--json");
	EXPECT_CODE(&o, 0);
	j = parse_json(&o);
	T_EQ_INT(jint(j, "files", "updated"), 2); /* http.c, .gitignore */
	T_EQ_INT(jint(j, "files", "added"), 1);
	T_EQ_INT(jint(j, "files", "deleted"), 3); /* README.md, empty.txt, latin1.txt */
	T_EQ_INT(jint(j, "files", "indexed"), 4);
	json_decref(j);
	out_release(&o);

	RUN(&o, NULL, NULL, "files", "--repo", repo);
	EXPECT_CODE(&o, 0);
	T_EQ_STR(o.out.data, ".gitignore\napp/models.py\nsrc/http.c\nsrc/new_module.go\n");
	out_release(&o);

	RUN(&o, NULL, NULL, "search", "--repo", repo, "--json", "parseHttpHeader");
	EXPECT_CODE(&o, 0);
	j = parse_json(&o);
	/* the old function is gone from every result */
	if (strstr(o.out.data, "parseHttpHeader(") != NULL)
		T_FAIL("stale result: %s", o.out.data);
	T_TRUE(jint(j, "index", "generation") >= 2);
	json_decref(j);
	out_release(&o);

	/* same content, new mtime: read but not re-chunked */
	p = base_strfmt("touch -d '2001-01-01' '%s/src/new_module.go'", repo);
	T_EQ_INT(system(p), 0);
	base_free(p);
	RUN(&o, NULL, NULL, "index", repo, "--json");
	EXPECT_CODE(&o, 0);
	j = parse_json(&o);
	T_EQ_INT(jint(j, "files", "touched"), 1);
	T_EQ_INT(jint(j, "files", "updated"), 0);
	json_decref(j);
	out_release(&o);

	RUN(&o, NULL, NULL, "status", "--repo", repo, "--json");
	EXPECT_CODE(&o, 0);
	j = parse_json(&o);
	T_EQ_INT(jint(j, "files", NULL), 4);
	T_TRUE(jint(j, "chunks", NULL) >= 4);
	T_TRUE(jint(j, "index_bytes", NULL) > 0);
	T_EQ_INT(jint(j, "skipped", "binary"), 1);
	json_decref(j);
	out_release(&o);
	rm_rf(repo);
	base_free(repo);
}

static void bad_input(void)
{
	struct out o;
	RUN(&o, NULL, NULL, "index", "/nonexistent/lode/repo");
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, "/nonexistent/lode/repo") != NULL);
	out_release(&o);

	char *repo = make_repo();
	/* no index yet */
	RUN(&o, NULL, NULL, "search", "--repo", repo, "x");
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, "lode index") != NULL);
	out_release(&o);

	/* a corrupt index: a clear message, and --rebuild repairs it */
	RUN(&o, NULL, NULL, "index", repo);
	EXPECT_CODE(&o, 0);
	out_release(&o);
	char *db = base_strfmt("%s/.lode/index.db", repo);
	char *cmd = base_strfmt("rm -f '%s'-wal '%s'-shm && head -c 8192 /dev/urandom > '%s'", db, db, db);
	T_EQ_INT(system(cmd), 0);
	RUN(&o, NULL, NULL, "search", "--repo", repo, "x");
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, "--rebuild") != NULL);
	out_release(&o);
	RUN(&o, NULL, NULL, "index", repo);
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, "--rebuild") != NULL);
	out_release(&o);
	RUN(&o, NULL, NULL, "index", "--rebuild", repo, "--json");
	EXPECT_CODE(&o, 0);
	json_t *j = parse_json(&o);
	T_EQ_INT(jint(j, "files", "indexed"), 6);
	json_decref(j);
	out_release(&o);

	/* another writer holds the lock */
	char *lock = base_strfmt("%s/.lode/lock", repo);
	int fd = open(lock, O_RDWR | O_CREAT, 0644);
	T_TRUE(fd >= 0 && flock(fd, LOCK_EX) == 0);
	RUN(&o, NULL, NULL, "index", repo);
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, "another lode process") != NULL);
	out_release(&o);
	/* readers are not blocked by it */
	RUN(&o, NULL, NULL, "search", "--repo", repo, "header");
	EXPECT_CODE(&o, 0);
	out_release(&o);
	close(fd);

	/* .lode is a file, not a directory */
	cmd = (base_free(cmd), base_strfmt("rm -rf '%s/.lode' && echo x > '%s/.lode'", repo, repo));
	T_EQ_INT(system(cmd), 0);
	RUN(&o, NULL, NULL, "index", repo);
	EXPECT_CODE(&o, 2);
	T_TRUE(strstr(o.err.data, ".lode") != NULL);
	out_release(&o);

	base_free(cmd);
	base_free(lock);
	base_free(db);
	rm_rf(repo);
	base_free(repo);
}

static void usage(void)
{
	static const char *const cmds[] = { "index", "search", "status", "files", "chunks" };
	struct out o;
	for (size_t i = 0; i < BASE_ARRAY_LEN(cmds); i++) {
		RUN(&o, NULL, NULL, cmds[i], "--help");
		EXPECT_CODE(&o, 0);
		T_TRUE(strstr(o.out.data, "usage: lode") != NULL);
		out_release(&o);
		RUN(&o, NULL, NULL, cmds[i], "--no-such-option");
		EXPECT_CODE(&o, 1);
		out_release(&o);
	}
	RUN(&o, NULL, NULL, "--help");
	EXPECT_CODE(&o, 0);
	out_release(&o);
	RUN(&o, NULL, NULL, "frobnicate");
	EXPECT_CODE(&o, 1);
	out_release(&o);
	RUN(&o, NULL, NULL, "search", "-k", "0", "x");
	EXPECT_CODE(&o, 1);
	out_release(&o);
	RUN(&o, NULL, NULL, "search", "-k", "ten", "x");
	EXPECT_CODE(&o, 1);
	out_release(&o);
	RUN(&o, NULL, NULL, "search");
	EXPECT_CODE(&o, 1);
	out_release(&o);
}

T_MAIN(T_ENTRY(index_and_search), T_ENTRY(hostile_queries), T_ENTRY(chunks_cover_file), T_ENTRY(incremental),
       T_ENTRY(bad_input), T_ENTRY(usage))
