/*
 * test_http.c: `lode serve` over real HTTP on 127.0.0.1 (libcurl), and
 * `lode mcp` over real pipes. Every route, every error class, auth, path
 * traversal tricks, limits, MCP sessions over both transports, concurrent
 * searches while the tree changes, and a graceful SIGTERM; the agent
 * routes (/v1/ask, /v1/edit, /v1/chat/completions) against a scripted LLM
 * server (tests/agent/llm_server.h) that records the prompts it receives.
 */
#include "test.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include "agent/agent_test.h"
#include "agent/llm_server.h"

#include "base/banned.h"

struct server {
	char dir[64], repo[128];
	pid_t pid;
	int err_fd;
	char url[128];
};

static const char *lode_bin(void)
{
	const char *b = getenv("LODE_BIN");
	if (!b)
		T_SKIP("LODE_BIN not set (run through ctest)");
	return b;
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0)
		T_FAIL("command failed: %s", cmd);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	T_TRUE(f != NULL);
	fputs(text, f);
	fclose(f);
}

static void make_repo(struct server *s)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/lode-http-XXXXXX");
	T_TRUE(mkdtemp(s->dir) != NULL);
	snprintf(s->repo, sizeof(s->repo), "%s/repo", s->dir);
	char cmd[512], path[256];
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/src %s/outside && echo 'secret outside the repo' > %s/outside/secret.txt",
		 s->repo, s->dir, s->dir);
	sh(cmd);
	snprintf(path, sizeof(path), "%s/src/http.c", s->repo);
	write_file(path, "/* http.c */\nint parse_header_line(const char *line)\n{\n\treturn line[0] == ':';\n}\n");
	snprintf(path, sizeof(path), "%s/src/cache.py", s->repo);
	write_file(path, "class LruCache:\n    def evict_oldest(self):\n        return None\n");
	/* a symbolic link that leads out of the repository */
	snprintf(cmd, sizeof(cmd), "ln -s %s/outside %s/escape && ln -s %s/outside/secret.txt %s/src/link.txt", s->dir,
		 s->repo, s->dir, s->repo);
	sh(cmd);
	char cache[128];
	snprintf(cache, sizeof(cache), "%s/cache", s->dir);
	setenv("XDG_CACHE_HOME", cache, 1);
}

/* Start `lode serve REPO --port 0 EXTRA...`; wait for its URL on stderr. */
static void start(struct server *s, const char *const *extra)
{
	char errpath[160];
	snprintf(errpath, sizeof(errpath), "%s/serve.err", s->dir);
	int fd = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	T_TRUE(fd >= 0);
	fflush(NULL);
	s->pid = fork();
	T_TRUE(s->pid >= 0);
	if (s->pid == 0) {
		const char *argv[16] = { lode_bin(), "serve", s->repo, "--port", "0" };
		size_t n = 5;
		for (size_t i = 0; extra && extra[i] && n < 15; i++)
			argv[n++] = extra[i];
		argv[n] = NULL;
		dup2(fd, 2);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* a failed case must not leave the server running */
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	s->err_fd = fd;
	for (int i = 0; i < 3000; i++) {
		char buf[4096] = { 0 };
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		char *at = n > 0 ? strstr(buf, "http://") : NULL;
		if (at) {
			size_t len = strcspn(at, " \n");
			snprintf(s->url, sizeof(s->url), "%.*s", (int)len, at);
			return;
		}
		int status;
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			T_FAIL("lode serve exited early: %s", buf);
		usleep(10000);
	}
	T_FAIL("lode serve did not start");
}

static int stop(struct server *s)
{
	kill(s->pid, SIGTERM);
	int status = 0;
	waitpid(s->pid, &status, 0);
	close(s->err_fd);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void cleanup(struct server *s)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	sh(cmd);
}

/* ---- HTTP client -------------------------------------------------------- */

struct reply {
	long status;
	struct base_buf body;
	uint64_t t0, first_ns, last_ns; /* request start, first and last body bytes */
	char session[64];
	bool www_auth;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	r->last_ns = base_now_ns();
	if (!r->first_ns)
		r->first_ns = r->last_ns;
	if (base_buf_add(&r->body, p, size * n))
		return 0;
	return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct reply *r = ud;
	size_t len = size * n;
	if (len > 16 && strncasecmp(p, "Mcp-Session-Id: ", 16) == 0)
		snprintf(r->session, sizeof(r->session), "%.*s", (int)strcspn(p + 16, "\r\n"), p + 16);
	if (len > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
		r->www_auth = true;
	return len;
}

/* One request; `path` is appended to the server URL verbatim. */
static void request(const struct server *s, const char *method, const char *path, const char *ctype,
		    const char *body, size_t body_len, const char *const *headers, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	base_buf_init(&r->body, BASE_CAP_TEXT);
	r->t0 = base_now_ns();
	CURL *c = curl_easy_init();
	char url[4096];
	snprintf(url, sizeof(url), "%s%s", s->url, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	struct curl_slist *h = NULL;
	char ct[128];
	if (ctype) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
		h = curl_slist_append(h, ct);
	}
	for (size_t i = 0; headers && headers[i]; i++)
		h = curl_slist_append(h, headers[i]);
	h = curl_slist_append(h, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	CURLcode rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		T_FAIL("%s %s: %s", method, path, curl_easy_strerror(rc));
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
}

static json_t *reply_json(const struct reply *r)
{
	json_error_t e;
	json_t *j = json_loadb(r->body.data, r->body.len, 0, &e);
	if (!j)
		T_FAIL("not JSON (%ld): %.200s", r->status, r->body.data);
	return j;
}

/* The error code of an error reply, checked for the standard shape. */
static void expect_error(struct reply *r, long status, const char *code)
{
	if (r->status != status)
		T_FAIL("status %ld, want %ld: %.300s", r->status, status, r->body.data);
	json_t *j = reply_json(r);
	json_t *e = json_object_get(j, "error");
	T_TRUE(json_is_object(e));
	T_TRUE(json_is_string(json_object_get(e, "message")));
	if (code)
		T_EQ_STR(json_string_value(json_object_get(e, "code")), code);
	json_decref(j);
	base_buf_release(&r->body);
}

static void post_json(const struct server *s, const char *path, const char *body, struct reply *r)
{
	request(s, "POST", path, "application/json", body, strlen(body), NULL, r);
}

/* ---- cases ---------------------------------------------------------------- */

static void routes(void)
{
	struct server s;
	make_repo(&s);
	start(&s, NULL);
	struct reply r;
	request(&s, "GET", "/healthz", NULL, NULL, 0, NULL, &r);
	T_EQ_INT(r.status, 200);
	base_buf_release(&r.body);

	request(&s, "GET", "/v1/status", NULL, NULL, 0, NULL, &r);
	T_EQ_INT(r.status, 200);
	json_t *j = reply_json(&r);
	T_EQ_INT(json_integer_value(json_object_get(j, "files")), 2);
	T_TRUE(json_is_true(json_object_get(j, "watching")));
	T_EQ_STR(json_string_value(json_object_get(j, "model")), "hash-v1-384");
	json_decref(j);
	base_buf_release(&r.body);

	post_json(&s, "/v1/search", "{\"query\":\"parse header line\",\"k\":5,\"unknown_field\":1}", &r);
	T_EQ_INT(r.status, 200);
	j = reply_json(&r);
	T_EQ_STR(json_string_value(json_object_get(j, "mode")), "hybrid");
	json_t *res = json_object_get(j, "results");
	T_TRUE(json_array_size(res) >= 1);
	T_EQ_STR(json_string_value(json_object_get(json_array_get(res, 0), "path")), "src/http.c");
	T_TRUE(json_is_integer(json_object_get(json_object_get(j, "index"), "generation")));
	json_decref(j);
	base_buf_release(&r.body);

	post_json(&s, "/v1/search", "{\"query\":\"cache\",\"mode\":\"lexical\",\"lang\":[\"python\"],\"files\":true}", &r);
	T_EQ_INT(r.status, 200);
	j = reply_json(&r);
	res = json_object_get(j, "results");
	T_EQ_INT(json_array_size(res), 1);
	T_EQ_STR(json_string_value(json_object_get(json_array_get(res, 0), "path")), "src/cache.py");
	json_decref(j);
	base_buf_release(&r.body);

	post_json(&s, "/v1/context", "{\"query\":\"evict the oldest cache entry\",\"budget\":200}", &r);
	T_EQ_INT(r.status, 200);
	j = reply_json(&r);
	T_TRUE(json_integer_value(json_object_get(j, "tokens")) <= 200);
	T_EQ_INT(json_integer_value(json_object_get(j, "budget")), 200);
	T_TRUE(strstr(json_string_value(json_object_get(j, "text")), "src/cache.py:") != NULL);
	json_decref(j);
	base_buf_release(&r.body);

	request(&s, "GET", "/v1/file?path=src/http.c&start=2&end=2", NULL, NULL, 0, NULL, &r);
	T_EQ_INT(r.status, 200);
	j = reply_json(&r);
	T_EQ_STR(json_string_value(json_object_get(j, "text")), "int parse_header_line(const char *line)\n");
	json_decref(j);
	base_buf_release(&r.body);

	request(&s, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
	T_EQ_INT(r.status, 200);
	T_TRUE(strstr(r.body.data, "lode_http_requests_total{route=\"/v1/search\",code=\"2xx\"} 2") != NULL);
	T_TRUE(strstr(r.body.data, "lode_index_files 2") != NULL);
	T_TRUE(strstr(r.body.data, "lode_http_request_duration_seconds_bucket") != NULL);
	base_buf_release(&r.body);

	request(&s, "GET", "/", NULL, NULL, 0, NULL, &r);
	T_EQ_INT(r.status, 200);
	T_TRUE(strstr(r.body.data, "<title>lode</title>") != NULL);
	base_buf_release(&r.body);
	T_EQ_INT(stop(&s), 0);
	cleanup(&s);
}

static void errors(void)
{
	struct server s;
	make_repo(&s);
	start(&s, NULL);
	struct reply r;
	request(&s, "GET", "/nope", NULL, NULL, 0, NULL, &r);
	expect_error(&r, 404, "not_found");
	request(&s, "GET", "/v1/search", NULL, NULL, 0, NULL, &r);
	expect_error(&r, 405, "method_not_allowed");
	request(&s, "DELETE", "/v1/status", NULL, NULL, 0, NULL, &r);
	expect_error(&r, 405, NULL);
	request(&s, "POST", "/v1/search", "text/plain", "{\"query\":\"x\"}", 13, NULL, &r);
	expect_error(&r, 415, NULL);
	static const char *const bad[] = {
		"", "not json", "[1,2]", "{\"query\":5}", "{\"query\":\"\"}", "{\"query\":\"x\",\"k\":0}",
		"{\"query\":\"x\",\"k\":1001}", "{\"query\":\"x\",\"k\":\"3\"}", "{\"query\":\"x\",\"mode\":\"fuzzy\"}",
		"{\"query\":\"x\",\"lang\":[1]}", "{\"query\":\"x\",\"path\":{}}", "{\"query\":\"x\",\"files\":\"yes\"}",
		"{\"query\":\"x\",\"query\":\"y\"}", "{\"query\":\"x\"", "\xff\xfe{}",
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(bad); i++) {
		post_json(&s, "/v1/search", bad[i], &r);
		expect_error(&r, 400, NULL);
	}
	post_json(&s, "/v1/context", "{\"query\":\"x\",\"budget\":10}", &r);
	expect_error(&r, 400, NULL);
	/* a body over 1 MiB, a query over the cap */
	size_t big = ((size_t)1 << 20) + 100;
	char *body = base_malloc(big + 1);
	memset(body, 'a', big);
	memcpy(body, "{\"query\":\"", 10);
	memcpy(body + big - 2, "\"}", 2);
	body[big] = '\0';
	post_json(&s, "/v1/search", body, &r);
	expect_error(&r, 413, "too_large");
	size_t q = 70000;
	memcpy(body + q, "\"}", 3);
	post_json(&s, "/v1/search", body, &r);
	expect_error(&r, 400, NULL);
	base_free(body);
	request(&s, "GET", "/v1/file?path=src/http.c&start=x", NULL, NULL, 0, NULL, &r);
	expect_error(&r, 400, NULL);
	/* the server is still fine */
	request(&s, "GET", "/healthz", NULL, NULL, 0, NULL, &r);
	T_EQ_INT(r.status, 200);
	base_buf_release(&r.body);
	T_EQ_INT(stop(&s), 0);
	cleanup(&s);
}

/* Paths that must never read outside the repository (or its internals). */
static void traversal(void)
{
	struct server s;
	make_repo(&s);
	start(&s, NULL);
	static const char *const tricks[] = {
		"../outside/secret.txt", "..%2foutside%2fsecret.txt", "%2e%2e/outside/secret.txt",
		"%2e%2e%2foutside%2fsecret.txt", "src/../../outside/secret.txt", "src/%2e%2e/%2e%2e/outside/secret.txt",
		"..", "../", "./../outside/secret.txt", "src/./../../outside/secret.txt", "/etc/passwd", "%2fetc%2fpasswd",
		"//etc/passwd", "/tmp", "escape/secret.txt", "escape", "src/link.txt", "src/http.c%00.txt",
		"src%00/http.c", "..\\outside\\secret.txt", "src\\..\\..\\outside\\secret.txt", ".git/config", ".lode/index.db",
		"src/../.lode/index.db", ".lode", "%2elode/index.db", "src/..%2f..%2foutside", "%252e%252e/outside/secret.txt",
		"....//outside/secret.txt", "src//http.c", "", "%20../outside/secret.txt", "src/http.c/..", "~/.bashrc",
		"file:///etc/passwd",
	};
	T_TRUE(BASE_ARRAY_LEN(tricks) >= 30);
	for (size_t i = 0; i < BASE_ARRAY_LEN(tricks); i++) {
		char path[512];
		snprintf(path, sizeof(path), "/v1/file?path=%s", tricks[i]);
		struct reply r;
		request(&s, "GET", path, NULL, NULL, 0, NULL, &r);
		if (r.status != 400 && r.status != 403 && r.status != 404)
			T_FAIL("%s: status %ld", tricks[i], r.status);
		T_TRUE(strstr(r.body.data, "secret outside") == NULL);
		T_TRUE(strstr(r.body.data, "root:") == NULL);
		base_buf_release(&r.body);
	}
	/* a symlink inside the repository to a file inside it is fine */
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "ln -s http.c %s/src/alias.c", s.repo);
	sh(cmd);
	struct reply r;
	request(&s, "GET", "/v1/file?path=src/alias.c", NULL, NULL, 0, NULL, &r);
	T_EQ_INT(r.status, 200);
	base_buf_release(&r.body);
	T_EQ_INT(stop(&s), 0);
	cleanup(&s);
}

/* --token-file; and --budget as the default of a request without one */
static void auth(void)
{
	struct server s;
	make_repo(&s);
	/* a non-loopback address without a token is refused */
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "'%s' serve %s --bind 0.0.0.0 --port 0 2>/dev/null", lode_bin(), s.repo);
	T_TRUE(system(cmd) != 0);
	char tok[160];
	snprintf(tok, sizeof(tok), "%s/token", s.dir);
	write_file(tok, "s3cret-token-0123456789\n");
	const char *extra[] = { "--token-file", tok, "--budget", "300", NULL };
	start(&s, extra);
	struct reply r;
	request(&s, "GET", "/healthz", NULL, NULL, 0, NULL, &r);
	T_EQ_INT(r.status, 200);
	base_buf_release(&r.body);
	request(&s, "GET", "/v1/status", NULL, NULL, 0, NULL, &r);
	T_TRUE(r.www_auth);
	expect_error(&r, 401, "unauthorized");
	const char *wrong[] = { "Authorization: Bearer s3cret-token-0123456788", NULL };
	request(&s, "GET", "/v1/status", NULL, NULL, 0, wrong, &r);
	expect_error(&r, 401, NULL);
	const char *prefix[] = { "Authorization: Bearer s3cret", NULL };
	request(&s, "GET", "/v1/status", NULL, NULL, 0, prefix, &r);
	expect_error(&r, 401, NULL);
	const char *good[] = { "Authorization: Bearer s3cret-token-0123456789", NULL };
	request(&s, "GET", "/v1/status", NULL, NULL, 0, good, &r);
	T_EQ_INT(r.status, 200);
	base_buf_release(&r.body);
	/* a request without "budget" gets serve's --budget */
	const char *ctx = "{\"query\":\"evict the oldest cache entry\"}";
	request(&s, "POST", "/v1/context", "application/json", ctx, strlen(ctx), good, &r);
	T_EQ_INT(r.status, 200);
	json_t *j = reply_json(&r);
	T_EQ_INT(json_integer_value(json_object_get(j, "budget")), 300);
	json_decref(j);
	base_buf_release(&r.body);
	request(&s, "GET", "/", NULL, NULL, 0, NULL, &r);
	T_EQ_INT(r.status, 401);
	base_buf_release(&r.body);
	T_EQ_INT(stop(&s), 0);
	cleanup(&s);
}

static json_t *mcp_call(const struct server *s, const char *session, const char *body, long want)
{
	struct reply r;
	char hdr[128];
	snprintf(hdr, sizeof(hdr), "Mcp-Session-Id: %s", session ? session : "");
	const char *h[] = { "Accept: application/json, text/event-stream", session ? hdr : NULL, NULL };
	request(s, "POST", "/mcp", "application/json", body, strlen(body), h, &r);
	if (r.status != want)
		T_FAIL("MCP %ld, want %ld: %s", r.status, want, r.body.data);
	json_t *j = r.body.len ? reply_json(&r) : NULL;
	base_buf_release(&r.body);
	return j;
}

static void mcp_http(void)
{
	struct server s;
	make_repo(&s);
	start(&s, NULL);
	/* before initialize: no session */
	json_decref(mcp_call(&s, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", 400));
	struct reply r;
	const char *init = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":"
			   "\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}}";
	request(&s, "POST", "/mcp", "application/json", init, strlen(init), NULL, &r);
	T_EQ_INT(r.status, 200);
	T_TRUE(strlen(r.session) == 32);
	char session[64];
	snprintf(session, sizeof(session), "%s", r.session);
	json_t *j = reply_json(&r);
	T_EQ_STR(json_string_value(json_object_get(json_object_get(j, "result"), "protocolVersion")), "2025-06-18");
	json_decref(j);
	base_buf_release(&r.body);
	T_TRUE(mcp_call(&s, session, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", 202) == NULL);
	j = mcp_call(&s, session, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}", 200);
	json_t *tools = json_object_get(json_object_get(j, "result"), "tools");
	T_EQ_INT(json_array_size(tools), 3);
	for (size_t i = 0; i < 3; i++)
		T_TRUE(json_is_object(json_object_get(json_array_get(tools, i), "inputSchema")));
	json_decref(j);
	j = mcp_call(&s, session,
		     "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"search_code\","
		     "\"arguments\":{\"query\":\"parse header line\",\"k\":3}}}",
		     200);
	json_t *result = json_object_get(j, "result");
	T_TRUE(json_is_false(json_object_get(result, "isError")));
	const char *text = json_string_value(json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));
	T_TRUE(text && strstr(text, "src/http.c:") != NULL);
	json_decref(j);
	j = mcp_call(&s, session,
		     "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"read_file\","
		     "\"arguments\":{\"path\":\"../outside/secret.txt\"}}}",
		     200);
	T_TRUE(json_is_true(json_object_get(json_object_get(j, "result"), "isError")));
	json_decref(j);
	j = mcp_call(&s, session,
		     "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":\"get_context\","
		     "\"arguments\":{\"query\":\"lru cache\",\"budget\":150}}}",
		     200);
	T_TRUE(json_is_false(json_object_get(json_object_get(j, "result"), "isError")));
	json_decref(j);
	j = mcp_call(&s, session, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"no/such\"}", 200);
	T_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), -32601);
	json_decref(j);
	j = mcp_call(&s, session, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"nope\"}}",
		     200);
	T_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), -32602);
	json_decref(j);
	j = mcp_call(&s, session, "{broken", 400);
	T_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), -32700);
	json_decref(j);
	json_decref(mcp_call(&s, "0123456789abcdef0123456789abcdef", "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}",
			     404));
	T_EQ_INT(stop(&s), 0);
	cleanup(&s);
}

/* `lode mcp` over pipes: a scripted client session. */
static void mcp_stdio(void)
{
	struct server s;
	make_repo(&s);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "'%s' index %s >/dev/null", lode_bin(), s.repo);
	sh(cmd);
	char in[160], out[160];
	snprintf(in, sizeof(in), "%s/mcp.in", s.dir);
	snprintf(out, sizeof(out), "%s/mcp.out", s.dir);
	write_file(in, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\"}}\n"
		       "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
		       "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}\n"
		       "not json at all\n"
		       "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"read_file\","
		       "\"arguments\":{\"path\":\"src/cache.py\",\"start\":2,\"end\":2}}}\n");
	snprintf(cmd, sizeof(cmd), "'%s' mcp %s < %s > %s", lode_bin(), s.repo, in, out);
	sh(cmd);
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	T_OK(base_buf_read_file(&b, out, NULL));
	/* four answers (the notification has none), one JSON object a line */
	size_t lines = 0;
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	T_EQ_INT(lines, 4);
	T_TRUE(strstr(b.data, "\"protocolVersion\":\"2025-06-18\"") != NULL);
	T_TRUE(strstr(b.data, "-32700") != NULL);
	T_TRUE(strstr(b.data, "def evict_oldest(self):") != NULL);
	base_buf_release(&b);
	cleanup(&s);
}

struct searcher {
	const struct server *s;
	int ok, failed;
};

static void *search_loop(void *arg)
{
	struct searcher *sr = arg;
	for (int i = 0; i < 40; i++) {
		struct reply r;
		post_json(sr->s, "/v1/search", "{\"query\":\"generated function value\",\"k\":10}", &r);
		if (r.status == 200)
			sr->ok++;
		else
			sr->failed++;
		base_buf_release(&r.body);
	}
	return NULL;
}

/* Searches in parallel while a mass change is applied; then SIGTERM drains. */
static void concurrent(void)
{
	struct server s;
	make_repo(&s);
	start(&s, NULL);
	struct searcher sr[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		sr[i] = (struct searcher){ &s, 0, 0 };
		pthread_create(&t[i], NULL, search_loop, &sr[i]);
	}
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/gen && cd %s/gen && for i in $(seq 1 800); do echo \"int generated_$i(void) { return $i; }\" > g$i.c; done",
		 s.repo, s.repo);
	sh(cmd);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		T_EQ_INT(sr[i].failed, 0);
		T_EQ_INT(sr[i].ok, 40);
	}
	T_EQ_INT(stop(&s), 0);
	cleanup(&s);
}

/* The search page, run by a real browser: results rendered, linked, highlighted, escaped. */
static void search_page(void)
{
	if (system("command -v chromium >/dev/null 2>&1") != 0)
		T_SKIP("chromium is not installed (scripts/setup.sh test installs it)");
	struct server s;
	make_repo(&s);
	char path[256];
	snprintf(path, sizeof(path), "%s/src/xss.c", s.repo);
	write_file(path, "/* parse header: <script>document.title='pwned'</script> <img src=x onerror=alert(1)> */\n");
	start(&s, NULL);
	char dump[160], cmd[1024];
	snprintf(dump, sizeof(dump), "%s/dom.html", s.dir);
	snprintf(cmd, sizeof(cmd),
		 "timeout 60 chromium --headless --disable-gpu --no-sandbox --user-data-dir=%s/chrome "
		 "--virtual-time-budget=5000 --dump-dom '%s/?q=parse+header&mode=lexical' > %s 2>/dev/null",
		 s.dir, s.url, dump);
	sh(cmd);
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	T_OK(base_buf_read_file(&b, dump, NULL));
	T_TRUE(strstr(b.data, "class=\"loc\"") != NULL);                  /* results rendered */
	T_TRUE(strstr(b.data, "src/http.c:") != NULL);                      /* path:line */
	T_TRUE(strstr(b.data, "/v1/file?path=src%2Fhttp.c") != NULL);      /* linked */
	T_TRUE(strstr(b.data, "<mark>") != NULL);                           /* highlighted */
	T_TRUE(strstr(b.data, "&lt;script&gt;") != NULL);                   /* escaped, not run */
	T_TRUE(strstr(b.data, "<img src=\"x\"") == NULL && strstr(b.data, "pwned</title>") == NULL);
	base_buf_release(&b);
	T_EQ_INT(stop(&s), 0);
	cleanup(&s);
}


/* ---- the agent routes ------------------------------------------------------ */

/* The data lines of an SSE body, in order (heap strings), and the event names before them. */
struct sse_events {
	char *data[256];
	char *event[256];
	size_t n;
};

static void sse_parse(const char *body, struct sse_events *ev)
{
	memset(ev, 0, sizeof(*ev));
	const char *event = NULL;
	size_t event_len = 0;
	for (const char *p = body; *p;) {
		size_t n = strcspn(p, "\n");
		if (n >= 6 && strncmp(p, "event:", 6) == 0) {
			event = p + 7;
			event_len = n - 7;
		} else if (n >= 6 && strncmp(p, "data: ", 6) == 0) {
			T_TRUE(ev->n < 256);
			ev->data[ev->n] = base_strndup(p + 6, n - 6);
			ev->event[ev->n] = event ? base_strndup(event, event_len) : NULL;
			ev->n++;
			event = NULL;
		}
		p += n + (p[n] == '\n');
	}
}

static void sse_release(struct sse_events *ev)
{
	for (size_t i = 0; i < ev->n; i++) {
		base_free(ev->data[i]);
		base_free(ev->event[i]);
	}
}

static const char answer_text[] = "The cache evicts in src/cache.py:2-3 (evict_oldest); see also nowhere.c:7.";

static void agent_routes_refuse_bad_requests(void)
{
	struct server s;
	make_repo(&s);
	unsetenv("LODE_LLM_URL");
	start(&s, NULL);
	struct reply r;
	/* well-formed, but no LLM configured (unknown fields are ignored) */
	post_json(&s, "/v1/ask", "{\"question\":\"how does eviction work\",\"whatever\":1}", &r);
	expect_error(&r, 503, "llm_not_configured");
	post_json(&s, "/v1/edit", "{\"instruction\":\"rename evict_oldest\"}", &r);
	expect_error(&r, 503, "llm_not_configured");
	post_json(&s, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", &r);
	expect_error(&r, 503, "llm_not_configured");
	request(&s, "GET", "/v1/ask", NULL, NULL, 0, NULL, &r);
	expect_error(&r, 405, "method_not_allowed");
	static const struct {
		const char *route, *body, *names;
	} bad[] = {
		{ "/v1/ask", "", "JSON" },
		{ "/v1/ask", "[1]", "object" },
		{ "/v1/ask", "{\"question\":5}", "question" },
		{ "/v1/ask", "{\"question\":\"\"}", "question" },
		{ "/v1/ask", "{\"question\":\"x\",\"budget\":10}", "budget" },
		{ "/v1/ask", "{\"question\":\"x\",\"budget\":\"big\"}", "budget" },
		{ "/v1/ask", "{\"question\":\"x\",\"reserve\":-1}", "reserve" },
		{ "/v1/ask", "{\"question\":\"x\",\"budget\":100,\"reserve\":100}", "reserve" },
		{ "/v1/ask", "{\"question\":\"x\",\"stream\":\"yes\"}", "stream" },
		{ "/v1/ask", "{\"question\":\"x\",\"model\":7}", "model" },
		{ "/v1/edit", "{}", "instruction" },
		{ "/v1/edit", "{\"instruction\":[\"x\"]}", "instruction" },
		{ "/v1/edit", "{\"instruction\":\"x\",\"apply\":\"yes\"}", "apply" },
		{ "/v1/edit", "{\"instruction\":\"x\",\"test\":\"rm -rf /\"}", "test" },
		{ "/v1/edit", "{\"instruction\":\"x\",\"stream\":true}", "stream" },
		{ "/v1/chat/completions", "{}", "messages" },
		{ "/v1/chat/completions", "{\"messages\":[]}", "messages" },
		{ "/v1/chat/completions", "{\"messages\":{\"role\":\"user\"}}", "messages" },
		{ "/v1/chat/completions", "{\"messages\":[1]}", "messages\\\"[0]" },
		{ "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages\\\"[0]" },
		{ "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"content\":\"y\"}]}",
		  "messages\\\"[1]" },
		{ "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":1}", "stream" },
		{ "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":0}",
		  "max_tokens" },
		{ "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", "n" },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(bad); i++) {
		post_json(&s, bad[i].route, bad[i].body, &r);
		if (r.status != 400 || !strstr(r.body.data, bad[i].names))
			T_FAIL("%s %s: status %ld, want 400 naming %s: %s", bad[i].route, bad[i].body, r.status,
			       bad[i].names, r.body.data);
		expect_error(&r, 400, NULL);
	}
	T_EQ_INT(stop(&s), 0);
	cleanup(&s);
}

static void agent_ask_http(void)
{
	struct server s;
	make_repo(&s);
	struct t_llm llm;
	struct t_llm_resp script[] = { { T_LLM_SSE, answer_text, 200, false }, { T_LLM_SLOW, answer_text, 200, true } };
	t_llm_start(&llm, script, 2);
	const char *extra[] = { "--llm", llm.url, "--llm-model", "coder", NULL };
	start(&s, extra);
	struct reply r;
	post_json(&s, "/v1/ask", "{\"question\":\"how does the cache evict the oldest entry\",\"budget\":600,\"reserve\":100}",
		  &r);
	T_EQ_INT(r.status, 200);
	json_t *j = reply_json(&r);
	T_EQ_STR(json_string_value(json_object_get(j, "answer")), answer_text);
	json_t *cites = json_object_get(j, "citations");
	T_EQ_INT(json_array_size(cites), 2);
	T_TRUE(json_is_true(json_object_get(json_array_get(cites, 0), "valid")));
	T_EQ_INT(json_array_size(json_object_get(j, "invalid")), 1);
	json_t *ctx = json_object_get(j, "context");
	T_EQ_INT(json_integer_value(json_object_get(ctx, "budget")), 600);
	T_TRUE(json_integer_value(json_object_get(ctx, "prompt_tokens")) + 100 <= 600);
	T_TRUE(json_array_size(json_object_get(ctx, "blocks")) >= 1);
	json_decref(j);
	base_buf_release(&r.body);
	/* what the LLM got: within the budget, the context and the question */
	json_t *body = NULL;
	T_EQ_INT(t_llm_requests(&llm, 0, &body, NULL), 1);
	T_EQ_STR(json_string_value(json_object_get(body, "model")), "coder");
	T_EQ_INT(json_integer_value(json_object_get(body, "max_tokens")), 100);
	if (t_prompt_tokens(body) + 100 > 600)
		T_FAIL("prompt of %zu tokens + reserve 100 > budget 600", t_prompt_tokens(body));
	T_TRUE(strstr(t_user_content(body), "src/cache.py:1-3") != NULL);
	T_TRUE(strstr(t_user_content(body), "Question: how does the cache evict the oldest entry") != NULL);
	json_decref(body);

	/* streamed: the deltas in order, as they come (100 ms apart), then the result */
	post_json(&s, "/v1/ask", "{\"question\":\"how does the cache evict\",\"stream\":true,\"model\":\"other\"}", &r);
	T_EQ_INT(r.status, 200);
	double first_ms = (double)(r.first_ns - r.t0) / 1e6, last_ms = (double)(r.last_ns - r.t0) / 1e6;
	if (last_ms < 500 || first_ms > last_ms - 400)
		T_FAIL("not streamed: first body byte after %.0f ms, last after %.0f ms", first_ms, last_ms);
	struct sse_events ev;
	sse_parse(r.body.data, &ev);
	T_TRUE(ev.n >= 4);
	struct base_buf text = BASE_BUF_INIT(BASE_CAP_TEXT);
	for (size_t i = 0; i + 1 < ev.n; i++) {
		T_TRUE(ev.event[i] == NULL);
		json_t *d = json_loads(ev.data[i], 0, NULL);
		T_TRUE(json_is_string(json_object_get(d, "delta")));
		T_OK(base_buf_adds(&text, json_string_value(json_object_get(d, "delta"))));
		json_decref(d);
	}
	T_EQ_STR(text.data, answer_text);
	T_EQ_STR(ev.event[ev.n - 1], "result");
	j = json_loads(ev.data[ev.n - 1], 0, NULL);
	T_EQ_STR(json_string_value(json_object_get(j, "answer")), answer_text);
	json_decref(j);
	sse_release(&ev);
	base_buf_release(&text);
	base_buf_release(&r.body);
	T_EQ_INT(t_llm_requests(&llm, 1, &body, NULL), 2);
	T_EQ_STR(json_string_value(json_object_get(body, "model")), "other");
	json_decref(body);

	/* a budget the question alone overflows: a clear 400, no LLM call */
	post_json(&s, "/v1/ask", "{\"question\":\"how does the cache evict the oldest entry\",\"budget\":50,\"reserve\":40}",
		  &r);
	expect_error(&r, 400, "budget_too_small");
	T_EQ_INT(t_llm_requests(&llm, 99, NULL, NULL), 2);
	T_EQ_INT(stop(&s), 0);
	t_llm_stop(&llm);
	cleanup(&s);
}

static const char marker_edit[] = "Make it return a marker.\n\n"
				  "```python\n"
				  "src/cache.py\n"
				  "<<<<<<< SEARCH\n"
				  "        return None\n"
				  "=======\n"
				  "        return zebra_quokka_marker\n"
				  ">>>>>>> REPLACE\n"
				  "```\n";

static void agent_edit_http(void)
{
	struct server s;
	make_repo(&s);
	struct t_llm llm;
	struct t_llm_resp script[] = {
		{ T_LLM_SSE, marker_edit, 200, false }, /* dry run */
		{ T_LLM_SSE, marker_edit, 200, false }, /* apply */
		{ T_LLM_SSE, "src/cache.py\n<<<<<<< SEARCH\n        return zebra_quokka_marker\n>>>>>>> REPLACE\n", 200, false },
		{ T_LLM_SSE, "src/cache.py\n<<<<<<< SEARCH\n    def evict_oldest(self):\n=======\n    def evict_oldest(self:\n>>>>>>> REPLACE\n", 200, false },
		{ T_LLM_STATUS, "{\"error\":{\"message\":\"out of memory\"}}", 500, false },
		{ T_LLM_STATUS, "{\"error\":{\"message\":\"out of memory\"}}", 500, false },
		{ T_LLM_STATUS, "{\"error\":{\"message\":\"out of memory\"}}", 500, false },
		{ T_LLM_STATUS, "{\"error\":{\"message\":\"out of memory\"}}", 500, false },
		{ T_LLM_HANG, NULL, 0, false },
	};
	t_llm_start(&llm, script, BASE_ARRAY_LEN(script));
	const char *extra[] = { "--llm", llm.url, "--llm-timeout", "500", NULL };
	start(&s, extra);
	char *before = t_snapshot(s.repo, true);
	struct reply r;
	const char *ask = "{\"instruction\":\"make evict_oldest return a marker\",\"budget\":2000}";
	post_json(&s, "/v1/edit", ask, &r);
	T_EQ_INT(r.status, 200);
	json_t *j = reply_json(&r);
	T_TRUE(json_is_true(json_object_get(j, "dry_run")));
	T_TRUE(json_is_false(json_object_get(j, "applied")));
	T_EQ_INT(json_array_size(json_object_get(j, "files")), 1);
	T_TRUE(strstr(json_string_value(json_object_get(j, "diff")),
		      "-        return None\n+        return zebra_quokka_marker\n") != NULL);
	json_decref(j);
	base_buf_release(&r.body);
	char *after = t_snapshot(s.repo, true);
	T_EQ_STR(after, before); /* the dry run wrote nothing */
	base_free(after);

	post_json(&s, "/v1/edit", "{\"instruction\":\"make evict_oldest return a marker\",\"budget\":2000,\"apply\":true}", &r);
	T_EQ_INT(r.status, 200);
	j = reply_json(&r);
	T_TRUE(json_is_true(json_object_get(j, "applied")));
	T_EQ_STR(json_string_value(json_object_get(json_array_get(json_object_get(j, "files"), 0), "path")), "src/cache.py");
	json_decref(j);
	base_buf_release(&r.body);
	/* read-your-writes: the index holds the edit as soon as the answer came */
	post_json(&s, "/v1/search", "{\"query\":\"zebra_quokka_marker\",\"mode\":\"lexical\"}", &r);
	T_EQ_INT(r.status, 200);
	j = reply_json(&r);
	json_t *res = json_object_get(j, "results");
	T_EQ_INT(json_array_size(res), 1);
	T_EQ_STR(json_string_value(json_object_get(json_array_get(res, 0), "path")), "src/cache.py");
	json_decref(j);
	base_buf_release(&r.body);
	after = t_snapshot(s.repo, true);
	T_TRUE(strcmp(after, before) != 0);
	t_snapshot_only(before, after, "src/cache.py"); /* exactly that file */
	base_free(before);
	before = after;

	/* bad model output, a failing server, a hung one: a clear error, nothing written */
	static const struct {
		int status;
		const char *code, *want;
	} fails[] = {
		{ 422, "invalid_edit", "expected '======='" },
		{ 422, "invalid_edit", "breaks its syntax" },
		{ 502, "llm_error", "HTTP 500: out of memory (after 4 attempts)" },
		{ 502, "llm_error", "timeout" },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(fails); i++) {
		post_json(&s, "/v1/edit", "{\"instruction\":\"change it\",\"apply\":true,\"budget\":2000}", &r);
		if (r.status != fails[i].status || !strstr(r.body.data, fails[i].want))
			T_FAIL("case %zu: status %ld, want %d with '%s': %s", i, r.status, fails[i].status, fails[i].want,
			       r.body.data);
		j = reply_json(&r);
		T_TRUE(json_is_false(json_object_get(json_object_get(j, "edit"), "applied")));
		json_decref(j);
		expect_error(&r, fails[i].status, fails[i].code);
		after = t_snapshot(s.repo, true);
		if (strcmp(after, before) != 0)
			T_FAIL("case %zu changed the tree:\nbefore:\n%s\nafter:\n%s", i, before, after);
		base_free(after);
	}
	T_EQ_INT(t_llm_requests(&llm, 99, NULL, NULL), 9);
	base_free(before);
	T_EQ_INT(stop(&s), 0);
	t_llm_stop(&llm);
	cleanup(&s);
}

static void agent_chat_http(void)
{
	struct server s;
	make_repo(&s);
	struct t_llm llm;
	struct t_llm_resp script[] = { { T_LLM_SSE, answer_text, 200, false } };
	t_llm_start(&llm, script, 1);
	const char *extra[] = { "--llm", llm.url, NULL };
	start(&s, extra);
	static const char history[] = "{\"role\":\"system\",\"content\":\"You are terse.\"},"
				      "{\"role\":\"user\",\"content\":\"hello\"},"
				      "{\"role\":\"assistant\",\"content\":\"Hi. What do you need?\"}";
	char body[2048];
	snprintf(body, sizeof(body),
		 "{\"model\":\"gpt-x\",\"temperature\":0.25,\"max_tokens\":64,\"budget\":700,\"messages\":[%s,"
		 "{\"role\":\"user\",\"content\":\"how does the cache evict the oldest entry?\"}]}",
		 history);
	struct reply r;
	post_json(&s, "/v1/chat/completions", body, &r);
	T_EQ_INT(r.status, 200);
	json_t *j = reply_json(&r);
	T_EQ_STR(json_string_value(json_object_get(j, "object")), "chat.completion");
	json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
	T_EQ_STR(json_string_value(json_object_get(json_object_get(c0, "message"), "content")), answer_text);
	T_EQ_STR(json_string_value(json_object_get(c0, "finish_reason")), "stop");
	T_TRUE(json_integer_value(json_object_get(json_object_get(j, "usage"), "prompt_tokens")) > 0);
	json_decref(j);
	base_buf_release(&r.body);
	/* forwarded: the history as it was, the context before the latest question, within the budget */
	json_t *got = NULL;
	T_EQ_INT(t_llm_requests(&llm, 0, &got, NULL), 1);
	char hist[512];
	snprintf(hist, sizeof(hist), "[%s]", history);
	json_t *want = json_loads(hist, 0, NULL);
	json_t *msgs = json_object_get(got, "messages");
	T_EQ_INT(json_array_size(msgs), 4);
	for (size_t i = 0; i < 3; i++)
		T_TRUE(json_equal(json_array_get(msgs, i), json_array_get(want, i)));
	json_decref(want);
	const char *last = t_user_content(got);
	T_TRUE(strncmp(last, "Context:\n\nsrc/cache.py:1-3\n", 27) == 0);
	const char *q = "how does the cache evict the oldest entry?\n";
	T_TRUE(strlen(last) > strlen(q) && strcmp(last + strlen(last) - strlen(q), q) == 0);
	T_EQ_STR(json_string_value(json_object_get(got, "model")), "gpt-x");
	T_TRUE(json_real_value(json_object_get(got, "temperature")) == 0.25);
	T_EQ_INT(json_integer_value(json_object_get(got, "max_tokens")), 64);
	T_TRUE(json_is_true(json_object_get(got, "stream")));
	T_TRUE(json_object_get(got, "budget") == NULL);
	if (t_prompt_tokens(got) + 64 > 700)
		T_FAIL("prompt of %zu tokens + max_tokens 64 > budget 700", t_prompt_tokens(got));

	/* streamed, as OpenAI chunks; the same question gives the same prompt (a reusable prefix) */
	snprintf(body, sizeof(body),
		 "{\"model\":\"gpt-x\",\"temperature\":0.25,\"max_tokens\":64,\"budget\":700,\"stream\":true,"
		 "\"messages\":[%s,{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"how does the cache "
		 "evict the oldest entry?\"}]}]}",
		 history);
	post_json(&s, "/v1/chat/completions", body, &r);
	T_EQ_INT(r.status, 200);
	struct sse_events ev;
	sse_parse(r.body.data, &ev);
	T_TRUE(ev.n >= 4);
	T_EQ_STR(ev.data[ev.n - 1], "[DONE]");
	struct base_buf text = BASE_BUF_INIT(BASE_CAP_TEXT);
	for (size_t i = 0; i + 1 < ev.n; i++) {
		json_t *d = json_loads(ev.data[i], 0, NULL);
		T_EQ_STR(json_string_value(json_object_get(d, "object")), "chat.completion.chunk");
		json_t *ch = json_array_get(json_object_get(d, "choices"), 0);
		json_t *content = json_object_get(json_object_get(ch, "delta"), "content");
		if (content)
			T_OK(base_buf_adds(&text, json_string_value(content)));
		bool final = i + 2 == ev.n;
		T_TRUE(final ? json_is_string(json_object_get(ch, "finish_reason"))
			     : json_is_null(json_object_get(ch, "finish_reason")));
		json_decref(d);
	}
	T_EQ_STR(text.data, answer_text);
	base_buf_release(&text);
	sse_release(&ev);
	base_buf_release(&r.body);
	json_t *got2 = NULL;
	T_EQ_INT(t_llm_requests(&llm, 1, &got2, NULL), 2);
	T_TRUE(json_equal(json_object_get(got, "messages"), json_object_get(got2, "messages")));
	json_decref(got);
	json_decref(got2);

	/* a conversation over the budget, text-only parts, a malformed message: 400, no LLM call */
	post_json(&s, "/v1/chat/completions",
		  "{\"budget\":60,\"messages\":[{\"role\":\"user\",\"content\":\"aaaa bbbb cccc dddd eeee ffff gggg hhhh "
		  "iiii jjjj kkkk llll mmmm nnnn oooo pppp qqqq rrrr ssss tttt uuuu vvvv wwww xxxx yyyy zzzz\"},"
		  "{\"role\":\"user\",\"content\":\"and?\"}]}",
		  &r);
	expect_error(&r, 400, "budget_too_small");
	post_json(&s, "/v1/chat/completions",
		  "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}", &r);
	expect_error(&r, 400, "bad_request");
	post_json(&s, "/v1/chat/completions", "{\"messages\":[{\"role\":\"assistant\",\"content\":\"hi\"}]}", &r);
	expect_error(&r, 400, "bad_request");
	T_EQ_INT(t_llm_requests(&llm, 99, NULL, NULL), 2);
	T_EQ_INT(stop(&s), 0);
	t_llm_stop(&llm);
	cleanup(&s);
}

struct bg_post {
	const struct server *s;
	const char *path, *body;
	struct reply r;
};

static void *bg_post_main(void *arg)
{
	struct bg_post *b = arg;
	post_json(b->s, b->path, b->body, &b->r);
	return NULL;
}

/* SIGTERM while an LLM call hangs: the call is cancelled, answered 503, and the server exits 0 at once. */
static void agent_shutdown_cancels(void)
{
	struct server s;
	make_repo(&s);
	struct t_llm llm;
	struct t_llm_resp script[] = { { T_LLM_HANG, NULL, 0, false } };
	t_llm_start(&llm, script, 1);
	const char *extra[] = { "--llm", llm.url, NULL }; /* idle timeout 120 s: only the cancel ends it soon */
	start(&s, extra);
	struct bg_post b = { &s, "/v1/ask", "{\"question\":\"how does the cache evict\",\"stream\":true}", { 0 } };
	pthread_t t;
	T_EQ_INT(pthread_create(&t, NULL, bg_post_main, &b), 0);
	for (int i = 0; i < 1000 && t_llm_requests(&llm, 99, NULL, NULL) == 0; i++)
		usleep(10000);
	T_EQ_INT(t_llm_requests(&llm, 99, NULL, NULL), 1);
	uint64_t t0 = base_now_ns();
	T_EQ_INT(stop(&s), 0);
	pthread_join(t, NULL);
	double secs = (double)(base_now_ns() - t0) / 1e9;
	if (secs > 8)
		T_FAIL("shutdown took %.1f s with an LLM call in flight", secs);
	expect_error(&b.r, 503, "shutting_down");
	t_llm_stop(&llm);
	cleanup(&s);
}

T_MAIN(T_ENTRY(routes), T_ENTRY(errors), T_ENTRY(traversal), T_ENTRY(auth), T_ENTRY(mcp_http), T_ENTRY(mcp_stdio),
       T_ENTRY(concurrent), T_ENTRY(search_page), T_ENTRY(agent_routes_refuse_bad_requests), T_ENTRY(agent_ask_http),
       T_ENTRY(agent_edit_http), T_ENTRY(agent_chat_http), T_ENTRY(agent_shutdown_cancels))
