/*
 * fuzz_http.c: the HTTP request handler (api__http_handle) and the MCP
 * dispatcher, fed arbitrary requests without a socket.
 *
 * Input: method, path, query string, content type and body separated by
 * '\n' (the body is the rest). A tiny repository is indexed once at start.
 * Built as a libFuzzer target with -DLODE_FUZZ=ON and clang; the test
 * binary tests/api/test_fuzz_http.c replays seeds and mutations of them
 * under ASan in every CI run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/http.h"
#include "api/internal.h"
#include "indexer/indexer.h"

struct query_args {
	const char *q;
	size_t n;
	char buf[256];
};

/* The decoded-enough value of key in a raw query string (no %-decoding). */
static const char *arg(void *ctx, const char *key, size_t *len)
{
	struct query_args *a = ctx;
	size_t kl = strlen(key);
	for (size_t i = 0; i < a->n;) {
		size_t end = i;
		while (end < a->n && a->q[end] != '&')
			end++;
		if (end - i > kl && memcmp(a->q + i, key, kl) == 0 && a->q[i + kl] == '=') {
			size_t vl = end - i - kl - 1;
			if (vl >= sizeof(a->buf))
				vl = sizeof(a->buf) - 1;
			memcpy(a->buf, a->q + i + kl + 1, vl);
			a->buf[vl] = '\0';
			*len = vl;
			return a->buf;
		}
		i = end + 1;
	}
	return NULL;
}

static struct api_server srv;
static char root[64];

int lode_fuzz_http_init(void);
int lode_fuzz_http_init(void)
{
	snprintf(root, sizeof(root), "/tmp/lode-fuzz-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	char path[128];
	snprintf(path, sizeof(path), "%s/a.c", root);
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	fputs("int parse_header(const char *s) { return s[0]; }\n", f);
	fclose(f);
	struct idx_options o = { .root = root, .jobs = 1 };
	struct idx_summary sum;
	struct base_err err;
	if (idx_index(&o, &sum, &err))
		return -1;
	srv.reader = idx_reader_open(root, &err);
	if (!srv.reader)
		return -1;
	srv.root = root;
	srv.version = LODE_VERSION;
	api__server_init(&srv);
	return 0;
}

/* Close the reader and remove the repository (the replay test's cases end clean). */
void lode_fuzz_http_done(void);
void lode_fuzz_http_done(void)
{
	if (!srv.reader)
		return;
	api__server_release(&srv);
	idx_reader_close(srv.reader);
	srv.reader = NULL;
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!srv.reader && lode_fuzz_http_init() != 0)
		abort();
	char *copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	char *field[5] = { 0 };
	char *p = copy;
	for (int i = 0; i < 5; i++) {
		field[i] = p;
		char *nl = i < 4 ? memchr(p, '\n', (size_t)(copy + size - p)) : NULL;
		if (!nl) {
			for (int j = i + 1; j < 5; j++)
				field[j] = copy + size;
			break;
		}
		*nl = '\0';
		p = nl + 1;
	}
	struct query_args qa = { field[2], strlen(field[2]), { 0 } };
	struct api_http_req req = {
		.method = field[0],
		.path = field[1],
		.arg = arg,
		.arg_ctx = &qa,
		.content_type = field[3],
		.session = NULL,
		.body = field[4],
		.body_len = (size_t)(copy + size - field[4]),
	};
	struct api_http_resp resp;
	api__http_handle(&srv, &req, &resp);
	if (resp.status < 200 || resp.status > 599)
		abort();
	base_free(resp.body);
	/* the MCP dispatcher on the body as a JSON-RPC message */
	json_t *msg = json_loadb(req.body, req.body_len, 0, NULL);
	if (msg) {
		bool init;
		json_t *out = api__mcp_handle(&srv, msg, &init);
		json_decref(out);
		json_decref(msg);
	}
	free(copy);
	return 0;
}
