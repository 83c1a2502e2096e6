/*
 * test_base.c: status table, buffers, vectors, words.
 */
#include "test.h"

#include "base/banned.h"

static void status_names(void)
{
	T_EQ_STR(base_status_name(BASE_OK), "OK");
	T_EQ_STR(base_status_name(BASE_E_IO), "E_IO");
	T_EQ_STR(base_status_str(BASE_E_NOMEM), "out of memory");
	T_EQ_STR(base_status_name(12345), "UNKNOWN");
	struct base_err err = { 0, "" };
	T_EQ_INT(base_err_set(&err, BASE_E_PARSE, "bad %d", 7), BASE_E_PARSE);
	T_EQ_STR(err.msg, "bad 7");
	T_EQ_INT(base_err_set(NULL, BASE_E_IO, "x"), BASE_E_IO);
}

static void buf_basics(void)
{
	struct base_buf b = BASE_BUF_INIT(16);
	T_EQ_STR(b.data, "");
	T_OK(base_buf_adds(&b, "hello"));
	T_OK(base_buf_addf(&b, " %d", 42));
	T_EQ_STR(b.data, "hello 42");
	T_EQ_INT(b.len, 8);
	/* over the cap: refused, unchanged */
	T_EQ_INT(base_buf_adds(&b, "0123456789"), BASE_E_TOOBIG);
	T_EQ_STR(b.data, "hello 42");
	T_OK(base_buf_adds(&b, "01234567"));
	T_EQ_INT(b.len, 16);
	T_EQ_INT(base_buf_addc(&b, 'x'), BASE_E_TOOBIG);
	base_buf_truncate(&b, 5);
	T_EQ_STR(b.data, "hello");
	size_t n;
	char *s = base_buf_detach(&b, &n);
	T_EQ_INT(n, 5);
	T_EQ_STR(s, "hello");
	T_EQ_STR(b.data, "");
	base_free(s);
	base_buf_release(&b);
}

static void buf_read_file(void)
{
	char path[] = "/tmp/lode-test-XXXXXX";
	int fd = mkstemp(path);
	T_TRUE(fd >= 0);
	T_EQ_INT(write(fd, "abcdefghij", 10), 10);
	close(fd);
	struct base_buf b = BASE_BUF_INIT(10);
	struct base_err err = { 0, "" };
	T_OK(base_buf_read_file(&b, path, &err));
	T_EQ_STR(b.data, "abcdefghij");
	struct base_buf small = BASE_BUF_INIT(9);
	T_EQ_INT(base_buf_read_file(&small, path, &err), BASE_E_TOOBIG);
	T_EQ_INT(small.len, 0);
	T_EQ_INT(base_buf_read_file(&b, "/nonexistent/x", &err), BASE_E_IO);
	T_TRUE(strstr(err.msg, "/nonexistent/x") != NULL);
	base_buf_release(&b);
	base_buf_release(&small);
	unlink(path);
}

static void vec_basics(void)
{
	BASE_VEC(int) v = BASE_VEC_INIT;
	for (int i = 0; i < 1000; i++)
		base_vec_push(&v, i * 2);
	T_EQ_INT(v.n, 1000);
	T_EQ_INT(base_vec_get(&v, 999), 1998);
	T_EQ_INT(base_vec_last(&v), 1998);
	base_vec_release(&v);
	T_EQ_INT(v.n, 0);
}

static void vec_bounds_abort(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		BASE_VEC(int) v = BASE_VEC_INIT;
		base_vec_push(&v, 1);
		fclose(stderr);
		int x = base_vec_get(&v, 1);
		exit(x == 12345 ? 0 : 3);
	}
	int st;
	waitpid(pid, &st, 0);
	T_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
}

/* Table-driven: a word and its expected parts joined by '|'. */
static void word_parts(void)
{
	static const struct {
		const char *word, *parts;
	} cases[] = {
		{ "parseHttpHeader", "parse|Http|Header" },
		{ "HTTPServer", "HTTP|Server" },
		{ "snake_case_name", "snake|case|name" },
		{ "__init__", "init" },
		{ "utf8proc", "utf|8|proc" },
		{ "XMLHttpRequest2", "XML|Http|Request|2" },
		{ "ABC", "ABC" },
		{ "a", "a" },
		{ "_", "" },
		{ "getX", "get|X" },
		{ "IOError", "IO|Error" },
		{ "sha256sum", "sha|256|sum" },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(cases); i++) {
		struct base_span parts[16];
		const char *w = cases[i].word;
		size_t n = base_word_parts(w, strlen(w), parts, 16);
		struct base_buf got = BASE_BUF_INIT(1024);
		for (size_t j = 0; j < n; j++) {
			if (j)
				T_OK(base_buf_addc(&got, '|'));
			T_OK(base_buf_add(&got, w + parts[j].off, parts[j].len));
		}
		if (strcmp(got.data, cases[i].parts) != 0)
			T_FAIL("parts(%s) = %s, want %s", w, got.data, cases[i].parts);
		base_buf_release(&got);
	}
}

static void word_scan(void)
{
	const char *s = "x = foo_bar(ünï, 42);";
	size_t pos = 0, n = 0;
	struct base_span w;
	const char *want[] = { "x", "foo_bar", "ünï", "42" };
	while (base_word_next(s, strlen(s), &pos, &w)) {
		T_TRUE(n < 4);
		T_EQ_INT(w.len, strlen(want[n]));
		T_TRUE(memcmp(s + w.off, want[n], w.len) == 0);
		n++;
	}
	T_EQ_INT(n, 4);
}

T_MAIN(T_ENTRY(status_names), T_ENTRY(buf_basics), T_ENTRY(buf_read_file), T_ENTRY(vec_basics),
       T_ENTRY(vec_bounds_abort), T_ENTRY(word_parts), T_ENTRY(word_scan))
