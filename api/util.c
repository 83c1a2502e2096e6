/*
 * util.c: helpers the lode commands share: messages and exit codes,
 * option parsing, finding the repository, JSON output.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/internal.h"
#include "indexer/indexer.h"
#include "indexer/reader.h"

#include "base/banned.h"

int api__fail(int code, const char *fmt, ...)
{
	va_list ap;
	fputs("lode: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int api__usage_error(const char *cmd, const char *msg)
{
	fprintf(stderr, "lode %s: %s\nTry 'lode %s --help'.\n", cmd, msg, cmd);
	return API_EXIT_USAGE;
}

/* Parse a non-negative integer option; false on garbage. */
bool api__parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* The repository: --repo, else the nearest directory upward holding .lode/. */
char *api__find_repo(const char *given)
{
	char buf[PATH_MAX];
	if (given)
		return realpath(given, buf) ? base_strdup(buf) : NULL;
	if (!getcwd(buf, sizeof(buf)))
		return NULL;
	for (;;) {
		char *db = idx_db_path(buf);
		struct stat st;
		bool found = stat(db, &st) == 0;
		base_free(db);
		if (found)
			return base_strdup(buf);
		char *slash = strrchr(buf, '/');
		if (!slash || slash == buf)
			return NULL;
		*slash = '\0';
	}
}

/* The repository, or NULL with the message printed and *exit_code set. */
static char *find_repo_or_fail(const char *repo_opt, int *exit_code)
{
	char *repo = api__find_repo(repo_opt);
	if (repo)
		return repo;
	if (repo_opt)
		*exit_code = api__fail(API_EXIT_RUNTIME, "cannot open repository %s: %s", repo_opt, strerror(errno));
	else
		*exit_code = api__fail(API_EXIT_RUNTIME,
				       "no index found here or above; run 'lode index [DIR]' first or pass --repo DIR");
	return NULL;
}

/* Open a repository's index for reading, with a message on failure. */
struct store *api__open_index(const char *repo_opt, char **repo_out, int *exit_code)
{
	char *repo = find_repo_or_fail(repo_opt, exit_code);
	if (!repo)
		return NULL;
	char *db = idx_db_path(repo);
	struct base_err err;
	struct store *st = store_open(db, STORE_READ, &err);
	base_free(db);
	if (!st) {
		if (err.code == BASE_E_NOTFOUND)
			*exit_code = api__fail(API_EXIT_RUNTIME, "%s has no index; run 'lode index %s' first", repo, repo);
		else
			*exit_code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
		base_free(repo);
		return NULL;
	}
	*repo_out = repo;
	return st;
}

void api__json_print(json_t *j)
{
	json_dumpf(j, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	json_decref(j);
}

/* A string as JSON text even when it is not valid UTF-8: invalid bytes
 * become U+FFFD, so output is always valid JSON. */
json_t *api__json_text(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		json_t *probe = len && i + len <= n && c ? json_stringn(s + i, len) : NULL;
		int rc = probe ? base_buf_add(&b, s + i, len) : base_buf_adds(&b, "\xEF\xBF\xBD");
		json_decref(probe);
		if (rc)
			break;
		i += probe ? len : 1;
	}
	j = json_stringn(b.data, b.len);
	base_buf_release(&b);
	return j ? j : json_string("");
}

json_t *api__hit_json(const struct store_hit *h, bool bytes, bool score)
{
	json_t *o = json_object();
	json_object_set_new(o, "chunk_id", json_integer(h->chunk_id));
	json_object_set_new(o, "path", api__json_text(h->path, strlen(h->path)));
	json_object_set_new(o, "start_line", json_integer(h->start_line));
	json_object_set_new(o, "end_line", json_integer(h->end_line));
	if (bytes) {
		json_object_set_new(o, "start_byte", json_integer(h->start_byte));
		json_object_set_new(o, "end_byte", json_integer(h->end_byte));
	}
	json_object_set_new(o, "lang", json_string(h->lang));
	json_object_set_new(o, "kind", json_string(h->kind));
	json_object_set_new(o, "symbol", api__json_text(h->symbol, strlen(h->symbol)));
	json_object_set_new(o, "scope", api__json_text(h->scope, strlen(h->scope)));
	if (score)
		json_object_set_new(o, "score", json_real(h->score));
	json_object_set_new(o, "text", api__json_text(h->text, h->text_len));
	return o;
}

int api__read_query(int argc, char **argv, int first, struct base_buf *q)
{
	if (argc - first == 1 && strcmp(argv[first], "-") == 0) {
		char buf[65536];
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
			if (base_buf_add(q, buf, n))
				return api__fail(API_EXIT_USAGE, "query on standard input is over %zu bytes", BASE_CAP_QUERY);
		return API_EXIT_OK;
	}
	for (int i = first; i < argc; i++)
		if ((i > first && base_buf_addc(q, ' ')) || base_buf_adds(q, argv[i]))
			return api__fail(API_EXIT_USAGE, "query is over %zu bytes", BASE_CAP_QUERY);
	return API_EXIT_OK;
}


struct idx_reader *api__open_reader(const char *repo_opt, int *exit_code)
{
	char *repo = find_repo_or_fail(repo_opt, exit_code);
	if (!repo)
		return NULL;
	struct base_err err;
	struct idx_reader *r = idx_reader_open(repo, &err);
	if (!r) {
		if (err.code == BASE_E_NOTFOUND)
			*exit_code = api__fail(API_EXIT_RUNTIME, "%s has no index; run 'lode index %s' first", repo, repo);
		else
			*exit_code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	}
	base_free(repo);
	return r;
}

json_t *api__search_json(const char *query, size_t len, const struct idx_answer *ans, const struct store_hits *hits)
{
	json_t *results = json_array();
	for (size_t i = 0; i < hits->n; i++)
		json_array_append_new(results, api__hit_json(&hits->v[i], false, true));
	json_t *index = json_pack("{sIsssI}", "generation", (json_int_t)ans->generation, "head", ans->head, "pending",
				  (json_int_t)ans->pending);
	return json_pack("{sosssfsoso}", "query", api__json_text(query, len), "mode", idx_mode_name(ans->mode),
			 "took_ms", ans->took_ms, "index", index, "results", results);
}

void api__show_progress(void *payload, uint64_t done, uint64_t total, uint64_t bytes)
{
	struct api__progress *ps = payload;
	double secs = (double)(base_now_ns() - ps->t0) / 1e9;
	if (secs < 0.5 && done < total)
		return;
	double rate = secs > 0 ? (double)done / secs : 0;
	double eta = rate > 0 ? (double)(total - done) / rate : 0;
	fprintf(stderr, "\r\033[Kindexing %llu/%llu files  %.0f files/s  %.1f MB/s  ETA %.0fs",
		(unsigned long long)done, (unsigned long long)total, rate,
		secs > 0 ? (double)bytes / 1e6 / secs : 0.0, eta);
	ps->shown = true;
}

