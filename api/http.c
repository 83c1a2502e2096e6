/*
 * http.c: lode's HTTP API as a pure function (http.h): routing, auth,
 * limits, JSON bodies, the handlers. DESIGN.md ("HTTP") fixes the routes
 * and shapes; errors are always {"error": {"code", "message"}}.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/http.h"
#include "api/internal.h"

#include "base/banned.h"

static const double bucket_le[API_BUCKETS] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 };

void api__server_init(struct api_server *srv)
{
	memset(srv->metrics, 0, sizeof(srv->metrics));
	atomic_init(&srv->in_flight, 0);
	pthread_mutex_init(&srv->mu, NULL);
	pthread_mutex_init(&srv->edit_mu, NULL);
	atomic_init(&srv->stopping, false);
	memset(srv->sessions, 0, sizeof(srv->sessions));
	srv->next_session = 0;
}

void api__server_release(struct api_server *srv)
{
	pthread_mutex_destroy(&srv->mu);
	pthread_mutex_destroy(&srv->edit_mu);
}

enum api_route api__route_of(const char *path)
{
	static const char *const paths[] = {
#define API__ROUTE_PATH(name, p) p,
		API_ROUTE_MAP(API__ROUTE_PATH)
#undef API__ROUTE_PATH
	};
	for (size_t i = 0; i < API_ROUTE_OTHER; i++)
		if (strcmp(path, paths[i]) == 0)
			return (enum api_route)i;
	return API_ROUTE_OTHER;
}

void api__metrics_observe(struct api_server *srv, enum api_route route, int status, uint64_t ns)
{
	struct api_route_metrics *m = &srv->metrics[route];
	int cls = status / 100;
	atomic_fetch_add(&m->by_class[cls >= 1 && cls <= 5 ? cls : 0], 1);
	atomic_fetch_add(&m->count, 1);
	atomic_fetch_add(&m->sum_us, ns / 1000);
	double secs = (double)ns / 1e9;
	for (int i = 0; i < API_BUCKETS; i++)
		if (secs <= bucket_le[i])
			atomic_fetch_add(&m->buckets[i], 1);
}

/* ---- responses --------------------------------------------------------- */

void api__respond_json(struct api_http_resp *r, int status, json_t *j)
{
	r->status = status;
	r->content_type = "application/json";
	r->body = json_dumps(j, JSON_COMPACT);
	r->len = r->body ? strlen(r->body) : 0;
	json_decref(j);
	if (r->body) {
		/* jansson's allocation: copy into ours so the caller frees one way */
		char *copy = base_malloc(r->len + 1);
		memcpy(copy, r->body, r->len + 1);
		free(r->body);
		r->body = copy;
	}
}

void api__respond_error(struct api_http_resp *r, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api__respond_json(r, status, json_pack("{s{ssso}}", "error", "code", code, "message", api__json_text(msg, strlen(msg))));
}

static void respond_text(struct api_http_resp *r, int status, const char *type, const char *text, size_t len)
{
	r->status = status;
	r->content_type = type;
	r->body = base_malloc(len + 1);
	memcpy(r->body, text, len);
	r->body[len] = '\0';
	r->len = len;
}

/* ---- request helpers --------------------------------------------------- */

/* Constant-time comparison of the bearer token. */
static bool token_ok(const struct api_server *srv, const char *auth)
{
	static const char prefix[] = "Bearer ";
	if (!auth || strncmp(auth, prefix, sizeof(prefix) - 1) != 0)
		return false;
	const char *got = auth + sizeof(prefix) - 1;
	size_t n = strlen(srv->token), m = strlen(got);
	unsigned char diff = (unsigned char)(n != m);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)(srv->token[i] ^ (i < m ? got[i] : 0));
	return diff == 0;
}

static bool is_json(const char *ct)
{
	if (!ct)
		return false;
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* The JSON object body of a POST, or NULL with the error response set. */
json_t *api__body_object(const struct api_http_req *req, struct api_http_resp *resp)
{
	if (req->body_too_big) {
		api__respond_error(resp, 413, "too_large", "the request body is over %zu bytes", API_BODY_MAX);
		return NULL;
	}
	if (!is_json(req->content_type)) {
		api__respond_error(resp, 415, "unsupported_media_type", "the body must be application/json");
		return NULL;
	}
	json_error_t je;
	json_t *j = json_loadb(req->body ? req->body : "", req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		api__respond_error(resp, 400, "bad_json", "the body is not valid JSON: %s (line %d)", je.text, je.line);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api__respond_error(resp, 400, "bad_json", "the body must be a JSON object");
		return NULL;
	}
	return j;
}

/* Collect a JSON array of strings into v; false (error set) on a wrong type. */
static bool string_list(json_t *body, const char *key, const char ***v, size_t *n, struct api_http_resp *resp)
{
	json_t *a = json_object_get(body, key);
	*v = NULL;
	*n = 0;
	if (!a || json_is_null(a))
		return true;
	if (json_is_string(a)) { /* one value is accepted as a list of one */
		*v = base_malloc(sizeof(**v));
		(*v)[0] = json_string_value(a);
		*n = 1;
		return true;
	}
	if (!json_is_array(a) || json_array_size(a) > 64) {
		api__respond_error(resp, 400, "bad_request", "\"%s\" must be an array of at most 64 strings", key);
		return false;
	}
	*v = base_malloc((json_array_size(a) + 1) * sizeof(**v));
	size_t i;
	json_t *s;
	json_array_foreach(a, i, s) {
		if (!json_is_string(s)) {
			base_free(*v);
			*v = NULL;
			api__respond_error(resp, 400, "bad_request", "\"%s\" must hold strings only", key);
			return false;
		}
		(*v)[(*n)++] = json_string_value(s);
	}
	return true;
}

/*
 * Parse a search body into q (strings borrowed from body). Shared by
 * /v1/search and MCP's search_code. NULL on success, else the message.
 */
const char *api__search_args(json_t *body, struct idx_query *q, const char ***langs, const char ***globs,
			     char *msg, size_t cap)
{
	memset(q, 0, sizeof(*q));
	*langs = *globs = NULL;
	json_t *query = json_object_get(body, "query");
	if (!json_is_string(query))
		return "\"query\" (a string) is required";
	q->text = json_string_value(query);
	q->len = json_string_length(query);
	if (q->len == 0)
		return "\"query\" is empty";
	if (q->len > API_QUERY_MAX) {
		snprintf(msg, cap, "\"query\" is over %zu bytes", API_QUERY_MAX);
		return msg;
	}
	json_t *k = json_object_get(body, "k");
	q->k = 10;
	if (k && !json_is_null(k)) {
		if (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > API_K_MAX) {
			snprintf(msg, cap, "\"k\" must be an integer from 1 to %d", API_K_MAX);
			return msg;
		}
		q->k = (size_t)json_integer_value(k);
	}
	json_t *mode = json_object_get(body, "mode");
	q->mode = IDX_MODE_HYBRID;
	if (mode && !json_is_null(mode) && (!json_is_string(mode) || !idx_mode_parse(json_string_value(mode), &q->mode)))
		return "\"mode\" must be \"hybrid\", \"lexical\" or \"dense\"";
	json_t *files = json_object_get(body, "files");
	if (files && !json_is_null(files)) {
		if (!json_is_boolean(files))
			return "\"files\" must be true or false";
		q->files = json_is_true(files);
	}
	return NULL;
}

/* ---- handlers ------------------------------------------------------------- */

static void h_status(struct api_server *srv, struct api_http_resp *resp)
{
	struct store_stats ss;
	struct base_err err;
	if (idx_reader_stats(srv->reader, &ss, &err)) {
		api__respond_error(resp, 503, "index_unavailable", "%s", err.msg);
		return;
	}
	struct idx_answer ans;
	idx_reader_answer(srv->reader, &ans);
	json_t *j = json_pack("{sssIsIsIsIsIsssIsssf}", "repo", srv->root, "files", (json_int_t)ss.files, "chunks",
			      (json_int_t)ss.chunks, "bytes", (json_int_t)ss.bytes, "index_bytes", (json_int_t)ss.db_bytes,
			      "generation", (json_int_t)ans.generation, "head", ans.head, "pending",
			      (json_int_t)ans.pending, "model", idx_reader_model(srv->reader), "watcher_lag_ms",
			      srv->watch_lag_ms ? (double)srv->watch_lag_ms(srv->watch_payload) : 0.0);
	json_object_set_new(j, "watching", json_boolean(srv->watch_lag_ms != NULL));
	json_object_set_new(j, "version", json_string(srv->version));
	api__respond_json(resp, 200, j);
}

static void h_search(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp)
{
	json_t *body = api__body_object(req, resp);
	if (!body)
		return;
	struct idx_query q;
	const char **langs = NULL, **globs = NULL;
	char msg[128];
	const char *bad = api__search_args(body, &q, &langs, &globs, msg, sizeof(msg));
	size_t nl = 0, ng = 0;
	if (!bad && (!string_list(body, "lang", &langs, &nl, resp) || !string_list(body, "path", &globs, &ng, resp)))
		goto out;
	if (bad) {
		api__respond_error(resp, 400, "bad_request", "%s", bad);
		goto out;
	}
	q.langs = langs;
	q.nlangs = nl;
	q.globs = globs;
	q.nglobs = ng;
	struct store_hits hits = STORE_HITS_INIT;
	struct idx_answer ans;
	struct base_err err;
	if (idx_search(srv->reader, &q, &hits, &ans, &err)) {
		api__respond_error(resp, err.code == BASE_E_UNSUPPORTED ? 400 : 500,
			      err.code == BASE_E_UNSUPPORTED ? "unsupported" : "search_failed", "%s", err.msg);
	} else {
		api__respond_json(resp, 200, api__search_json(q.text, q.len, &ans, &hits));
	}
	store_hits_release(&hits);
out:
	base_free(langs);
	base_free(globs);
	json_decref(body);
}

int api__resolve_path(const char *root, const char *rel, size_t len, char **abs, const char **why)
{
	*abs = NULL;
	if (!rel || len == 0 || strlen(rel) != len) {
		*why = "\"path\" is missing, empty or holds a NUL byte";
		return 400;
	}
	if (len > PATH_MAX / 2 || rel[0] == '/' || strchr(rel, '\\')) {
		*why = "\"path\" must be relative to the repository, with '/' separators";
		return 400;
	}
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 2 && p[0] == '.' && p[1] == '.') || n == 0) {
			*why = "\"path\" may not contain '..' or empty components";
			return 400;
		}
		if ((n == 4 && memcmp(p, ".git", 4) == 0) || (n == 5 && memcmp(p, ".lode", 5) == 0)) {
			*why = "\"path\" is inside .git/ or .lode/";
			return 403;
		}
		p += n;
		if (*p == '/')
			p++;
	}
	char *joined = base_strfmt("%s/%s", root, rel);
	char *real = realpath(joined, NULL);
	struct stat st;
	if (!real) {
		bool link = lstat(joined, &st) == 0;
		base_free(joined);
		*why = link ? "\"path\" is a link that leads outside the repository" : "no such file in the repository";
		return link ? 403 : 404;
	}
	base_free(joined);
	size_t rl = strlen(root);
	bool inside = strncmp(real, root, rl) == 0 && real[rl] == '/';
	bool internal = inside && (strstr(real + rl, "/.git/") || strstr(real + rl, "/.lode/") ||
				   !strcmp(real + rl + 1, ".git") || !strcmp(real + rl + 1, ".lode"));
	if (!inside || internal) {
		free(real);
		*why = !inside ? "\"path\" leads outside the repository" : "\"path\" is inside .git/ or .lode/";
		return 403;
	}
	if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
		free(real);
		*why = "not a regular file";
		return 404;
	}
	*abs = base_strdup(real);
	free(real);
	return 200;
}

/* Lines [start, end] of a file; shared by /v1/file and MCP read_file. */
json_t *api__file_lines(const char *root, const char *rel, size_t len, long start, long end, int *status,
			char *msg, size_t cap)
{
	char *abs = NULL;
	const char *why = NULL;
	*status = api__resolve_path(root, rel, len, &abs, &why);
	if (*status != 200) {
		snprintf(msg, cap, "%s", why);
		return NULL;
	}
	struct base_buf b = BASE_BUF_INIT(API_FILE_MAX);
	struct base_err err;
	int rc = base_buf_read_file(&b, abs, &err);
	base_free(abs);
	if (rc) {
		*status = rc == BASE_E_TOOBIG ? 413 : 500;
		snprintf(msg, cap, rc == BASE_E_TOOBIG ? "the file is over %zu bytes" : "cannot read the file",
			 API_FILE_MAX);
		base_buf_release(&b);
		return NULL;
	}
	if (start < 1)
		start = 1;
	long line = 1;
	size_t from = b.len, to = b.len;
	for (size_t i = 0; i <= b.len; i++) {
		if (line == start && from == b.len)
			from = i;
		if (i == b.len)
			break;
		if (b.data[i] == '\n') {
			if (end > 0 && line == end) {
				to = i + 1;
				break;
			}
			line++;
		}
	}
	if (from > to)
		from = to;
	long last = end > 0 && end < line ? end : line;
	json_t *j = json_pack("{sosIsIso}", "path", api__json_text(rel, len), "start_line", (json_int_t)start,
			      "end_line", (json_int_t)(last < start ? start : last), "text",
			      api__json_text(b.data + from, to - from));
	base_buf_release(&b);
	return j;
}

static bool parse_line_arg(const struct api_http_req *req, const char *key, long *out)
{
	size_t len = 0;
	const char *v = req->arg(req->arg_ctx, key, &len);
	*out = 0;
	if (!v || !*v)
		return true;
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < 1 || strlen(v) != len)
		return false;
	*out = n;
	return true;
}

static void h_file(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp)
{
	size_t len = 0;
	const char *path = req->arg(req->arg_ctx, "path", &len);
	long start, end;
	if (!parse_line_arg(req, "start", &start) || !parse_line_arg(req, "end", &end)) {
		api__respond_error(resp, 400, "bad_request", "\"start\" and \"end\" must be line numbers from 1");
		return;
	}
	int status;
	char msg[256];
	json_t *j = api__file_lines(srv->root, path, path ? len : 0, start, end, &status, msg, sizeof(msg));
	if (!j) {
		api__respond_error(resp, status, status == 404 ? "not_found" : status == 403 ? "forbidden" : "bad_request",
			      "%s", msg);
		return;
	}
	api__respond_json(resp, 200, j);
}

static void h_metrics(struct api_server *srv, struct api_http_resp *resp)
{
	static const char *const names[] = {
#define API__ROUTE_PATH(name, p) p,
		API_ROUTE_MAP(API__ROUTE_PATH)
#undef API__ROUTE_PATH
	};
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	int rc = base_buf_adds(&b, "# HELP lode_http_requests_total HTTP requests by route and status class.\n"
				   "# TYPE lode_http_requests_total counter\n");
	for (int r = 0; r < API_ROUTE__COUNT && !rc; r++)
		for (int c = 1; c <= 5 && !rc; c++)
			rc = base_buf_addf(&b, "lode_http_requests_total{route=\"%s\",code=\"%dxx\"} %llu\n", names[r], c,
					   (unsigned long long)atomic_load(&srv->metrics[r].by_class[c]));
	if (!rc)
		rc = base_buf_adds(&b, "# HELP lode_http_request_duration_seconds Request latency by route.\n"
				       "# TYPE lode_http_request_duration_seconds histogram\n");
	for (int r = 0; r < API_ROUTE__COUNT && !rc; r++) {
		const struct api_route_metrics *m = &srv->metrics[r];
		for (int i = 0; i < API_BUCKETS && !rc; i++)
			rc = base_buf_addf(&b, "lode_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
					   names[r], bucket_le[i], (unsigned long long)atomic_load(&m->buckets[i]));
		if (!rc)
			rc = base_buf_addf(&b,
					   "lode_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
					   "lode_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
					   "lode_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
					   names[r], (unsigned long long)atomic_load(&m->count), names[r],
					   (double)atomic_load(&m->sum_us) / 1e6, names[r],
					   (unsigned long long)atomic_load(&m->count));
	}
	struct store_stats ss;
	struct idx_answer ans;
	if (!rc && idx_reader_stats(srv->reader, &ss, NULL) == BASE_OK) {
		idx_reader_answer(srv->reader, &ans);
		rc = base_buf_addf(&b,
				   "# TYPE lode_index_files gauge\nlode_index_files %lld\n"
				   "# TYPE lode_index_chunks gauge\nlode_index_chunks %lld\n"
				   "# TYPE lode_index_bytes gauge\nlode_index_bytes %lld\n"
				   "# TYPE lode_index_generation gauge\nlode_index_generation %lld\n"
				   "# TYPE lode_watch_pending gauge\nlode_watch_pending %llu\n"
				   "# TYPE lode_watch_lag_seconds gauge\nlode_watch_lag_seconds %.3f\n"
				   "# TYPE lode_http_in_flight gauge\nlode_http_in_flight %llu\n",
				   (long long)ss.files, (long long)ss.chunks, (long long)ss.db_bytes,
				   (long long)ans.generation, (unsigned long long)ans.pending,
				   srv->watch_lag_ms ? (double)srv->watch_lag_ms(srv->watch_payload) / 1e3 : 0.0,
				   (unsigned long long)atomic_load(&srv->in_flight));
	}
	respond_text(resp, 200, "text/plain; version=0.0.4", b.data, b.len);
	base_buf_release(&b);
}

static void h_mcp(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp)
{
	json_t *msg = NULL;
	if (req->body_too_big) {
		api__respond_error(resp, 413, "too_large", "the request body is over %zu bytes", API_BODY_MAX);
		return;
	}
	if (!is_json(req->content_type)) {
		api__respond_error(resp, 415, "unsupported_media_type", "MCP messages are application/json");
		return;
	}
	json_error_t je;
	msg = json_loadb(req->body ? req->body : "", req->body_len, 0, &je);
	if (!msg) {
		api__respond_json(resp, 400, json_pack("{sssns{siss}}", "jsonrpc", "2.0", "id", "error", "code", -32700,
						  "message", "parse error"));
		return;
	}
	bool init = false;
	/* every message but initialize needs the session initialize issued */
	json_t *method = json_object_get(msg, "method");
	bool is_init = json_is_string(method) && strcmp(json_string_value(method), "initialize") == 0;
	if (!is_init) {
		bool known = false;
		pthread_mutex_lock(&srv->mu);
		for (size_t i = 0; req->session && i < API_SESSIONS && !known; i++)
			known = srv->sessions[i][0] && strcmp(srv->sessions[i], req->session) == 0;
		pthread_mutex_unlock(&srv->mu);
		if (!known) {
			json_decref(msg);
			api__respond_error(resp, req->session ? 404 : 400, "bad_session",
				      req->session ? "unknown Mcp-Session-Id; initialize again"
						   : "missing Mcp-Session-Id header; send initialize first");
			return;
		}
	}
	json_t *out = api__mcp_handle(srv, msg, &init);
	json_decref(msg);
	if (init) {
		FILE *f = fopen("/dev/urandom", "rb");
		unsigned char rnd[16] = { 0 };
		if (!f || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd))
			BASE_LOG(BASE_LOG_WARN, "cannot read /dev/urandom for an MCP session id");
		if (f)
			fclose(f);
		for (int i = 0; i < 16; i++)
			snprintf(resp->session + 2 * i, 3, "%02x", rnd[i]);
		pthread_mutex_lock(&srv->mu);
		memcpy(srv->sessions[srv->next_session++ % API_SESSIONS], resp->session, sizeof(resp->session));
		pthread_mutex_unlock(&srv->mu);
	}
	if (!out) {
		resp->status = 202;
		resp->content_type = "application/json";
		return;
	}
	api__respond_json(resp, 200, out);
}

/* ---- routing -------------------------------------------------------------- */

static bool method_is(const struct api_http_req *req, const char *m, struct api_http_resp *resp, const char *allow)
{
	if (strcmp(req->method, m) == 0 || (strcmp(m, "GET") == 0 && strcmp(req->method, "HEAD") == 0))
		return true;
	resp->allow = allow;
	api__respond_error(resp, 405, "method_not_allowed", "%s %s: use %s", req->method, req->path, allow);
	return false;
}

void api__http_handle(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp)
{
	memset(resp, 0, sizeof(*resp));
	const char *p = req->path ? req->path : "";
	if (srv->token && strcmp(p, "/healthz") != 0 && !token_ok(srv, req->authorization)) {
		resp->www_authenticate = "Bearer realm=\"lode\"";
		api__respond_error(resp, 401, "unauthorized", "a valid bearer token is required");
		return;
	}
	switch (api__route_of(p)) {
	case API_ROUTE_HEALTHZ:
		if (method_is(req, "GET", resp, "GET"))
			api__respond_json(resp, 200, json_pack("{ss}", "status", "ok"));
		break;
	case API_ROUTE_STATUS:
		if (method_is(req, "GET", resp, "GET"))
			h_status(srv, resp);
		break;
	case API_ROUTE_SEARCH:
		if (method_is(req, "POST", resp, "POST"))
			h_search(srv, req, resp);
		break;
	case API_ROUTE_CONTEXT:
		if (method_is(req, "POST", resp, "POST"))
			api__h_context(srv, req, resp);
		break;
	case API_ROUTE_FILE:
		if (method_is(req, "GET", resp, "GET"))
			h_file(srv, req, resp);
		break;
	case API_ROUTE_METRICS:
		if (method_is(req, "GET", resp, "GET"))
			h_metrics(srv, resp);
		break;
	case API_ROUTE_PAGE:
		if (method_is(req, "GET", resp, "GET"))
			respond_text(resp, 200, "text/html; charset=utf-8", api__page_html, strlen(api__page_html));
		break;
	case API_ROUTE_MCP:
		if (method_is(req, "POST", resp, "POST"))
			h_mcp(srv, req, resp);
		break;
	case API_ROUTE_ASK:
		if (method_is(req, "POST", resp, "POST"))
			api__h_ask(srv, req, resp);
		break;
	case API_ROUTE_EDIT:
		if (method_is(req, "POST", resp, "POST"))
			api__h_edit(srv, req, resp);
		break;
	case API_ROUTE_CHAT:
		if (method_is(req, "POST", resp, "POST"))
			api__h_chat(srv, req, resp);
		break;
	default:
		api__respond_error(resp, 404, "not_found", "no route %s", p);
	}
}
