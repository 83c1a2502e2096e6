/*
 * mcp.c: the Model Context Protocol (JSON-RPC 2.0) for agents: lifecycle
 * (initialize, notifications/initialized, ping), tools/list and tools/call
 * with search_code, get_context and read_file. One dispatcher; two
 * transports: `lode mcp` (stdio, one message a line) and POST /mcp
 * (streamable HTTP, in http.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/http.h"
#include "api/internal.h"

#include "base/banned.h"

#define MCP_PROTOCOL "2025-06-18"

static const char tools_json[] =
	"["
	"{\"name\":\"search_code\","
	"\"description\":\"Search the repository's code (hybrid BM25 + vector search over syntax-aware chunks)."
	" Give keywords, an identifier or a whole bug report. Returns the best chunks with path:line ranges.\","
	"\"inputSchema\":{\"type\":\"object\",\"properties\":{"
	"\"query\":{\"type\":\"string\",\"description\":\"what to look for\"},"
	"\"k\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":100,\"description\":\"results (default 10)\"},"
	"\"mode\":{\"type\":\"string\",\"enum\":[\"hybrid\",\"lexical\",\"dense\"]},"
	"\"files\":{\"type\":\"boolean\",\"description\":\"one result per file\"},"
	"\"lang\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
	"\"path\":{\"type\":\"array\",\"items\":{\"type\":\"string\"},\"description\":\"git wildmatch globs\"}},"
	"\"required\":[\"query\"]}},"
	"{\"name\":\"get_context\","
	"\"description\":\"The code most relevant to a question, packed into a token budget, ordered for reading"
	" with path:line headers: paste-ready context for an LLM.\","
	"\"inputSchema\":{\"type\":\"object\",\"properties\":{"
	"\"query\":{\"type\":\"string\"},"
	"\"budget\":{\"type\":\"integer\",\"minimum\":100,\"maximum\":200000,\"description\":\"tokens (default 16000)\"}},"
	"\"required\":[\"query\"]}},"
	"{\"name\":\"read_file\","
	"\"description\":\"Lines of a file of the repository (relative path; 1-based inclusive line range).\","
	"\"inputSchema\":{\"type\":\"object\",\"properties\":{"
	"\"path\":{\"type\":\"string\"},"
	"\"start\":{\"type\":\"integer\",\"minimum\":1},"
	"\"end\":{\"type\":\"integer\",\"minimum\":1}},"
	"\"required\":[\"path\"]}}"
	"]";

static json_t *rpc_error(json_t *id, int code, const char *msg)
{
	return json_pack("{sssOs{siss}}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", "code", code,
			 "message", msg);
}

static json_t *rpc_result(json_t *id, json_t *result)
{
	return json_pack("{sssOso}", "jsonrpc", "2.0", "id", id, "result", result);
}

static json_t *tool_text(const char *text, size_t len, bool is_error)
{
	return json_pack("{s[{ssso}]sb}", "content", "type", "text", "text", api__json_text(text, len), "isError",
			 is_error);
}

static json_t *tool_error(const char *msg)
{
	return tool_text(msg, strlen(msg), true);
}

/* search_code: hits as readable text, each with its path:line range. */
static json_t *call_search(struct api_server *srv, json_t *args)
{
	struct idx_query q;
	const char **langs = NULL, **globs = NULL;
	char msg[128];
	const char *bad = api__search_args(args, &q, &langs, &globs, msg, sizeof(msg));
	if (bad)
		return tool_error(bad);
	struct store_hits hits = STORE_HITS_INIT;
	struct idx_answer ans;
	struct base_err err;
	json_t *out;
	if (idx_search(srv->reader, &q, &hits, &ans, &err)) {
		out = tool_error(err.msg);
	} else {
		struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
		int rc = base_buf_addf(&b, "%zu results (mode %s, index generation %lld%s)\n", hits.n,
				       idx_mode_name(ans.mode), (long long)ans.generation,
				       ans.pending ? ", changes pending" : "");
		for (size_t i = 0; i < hits.n && !rc; i++) {
			const struct store_hit *h = &hits.v[i];
			rc = base_buf_addf(&b, "\n%s:%u-%u %s%s%s\n```%s\n", h->path, h->start_line, h->end_line, h->kind,
					   *h->symbol ? " " : "", h->symbol, h->lang ? h->lang : "");
			if (!rc)
				rc = base_buf_add(&b, h->text, h->text_len);
			if (!rc)
				rc = base_buf_adds(&b, h->text_len && h->text[h->text_len - 1] == '\n' ? "```\n" : "\n```\n");
		}
		out = tool_text(b.data, b.len, false);
		base_buf_release(&b);
	}
	store_hits_release(&hits);
	base_free(langs);
	base_free(globs);
	return out;
}

static json_t *call_read_file(struct api_server *srv, json_t *args)
{
	json_t *path = json_object_get(args, "path");
	if (!json_is_string(path))
		return tool_error("\"path\" (a string) is required");
	json_int_t start = 0, end = 0;
	json_t *s = json_object_get(args, "start"), *e = json_object_get(args, "end");
	if ((s && !json_is_integer(s)) || (e && !json_is_integer(e)))
		return tool_error("\"start\" and \"end\" must be integers");
	start = s ? json_integer_value(s) : 0;
	end = e ? json_integer_value(e) : 0;
	if (start < 0 || end < 0)
		return tool_error("\"start\" and \"end\" must be line numbers from 1");
	int status;
	char msg[256];
	json_t *j = api__file_lines(srv->root, json_string_value(path), json_string_length(path), (long)start, (long)end,
				    &status, msg, sizeof(msg));
	if (!j)
		return tool_error(msg);
	json_t *text = json_object_get(j, "text");
	json_t *out = tool_text(json_string_value(text), json_string_length(text), false);
	json_decref(j);
	return out;
}

static json_t *call_context(struct api_server *srv, json_t *args)
{
	char msg[256];
	json_t *ctx = api__context_json(srv, args, msg, sizeof(msg));
	if (!ctx)
		return tool_error(msg);
	json_t *text = json_object_get(ctx, "text");
	json_t *out = tool_text(json_string_value(text), json_string_length(text), false);
	json_decref(ctx);
	return out;
}

json_t *api__mcp_handle(struct api_server *srv, json_t *msg, bool *initialize)
{
	*initialize = false;
	if (!json_is_object(msg))
		return rpc_error(NULL, -32600, "invalid request: not a JSON-RPC object");
	json_t *id = json_object_get(msg, "id");
	json_t *method = json_object_get(msg, "method");
	json_t *params = json_object_get(msg, "params");
	if (!method) {
		/* a response from the client (we send no requests): ignore */
		return NULL;
	}
	if (!json_is_string(method) || (params && !json_is_object(params) && !json_is_array(params)))
		return id ? rpc_error(id, -32600, "invalid request") : NULL;
	const char *m = json_string_value(method);
	if (!id || json_is_null(id))
		return NULL; /* notifications: initialized, cancelled, ... need no answer */
	if (strcmp(m, "initialize") == 0) {
		*initialize = true;
		return rpc_result(id, json_pack("{sss{s{sb}}s{ssss}ss}", "protocolVersion", MCP_PROTOCOL, "capabilities",
						"tools", "listChanged", 0, "serverInfo", "name", "lode", "version",
						srv->version, "instructions",
						"lode searches this repository: search_code finds code, get_context packs the"
						" best code for a question into a token budget, read_file reads lines."));
	}
	if (strcmp(m, "ping") == 0)
		return rpc_result(id, json_object());
	if (strcmp(m, "tools/list") == 0) {
		json_t *tools = json_loads(tools_json, 0, NULL);
		return rpc_result(id, json_pack("{so}", "tools", tools));
	}
	if (strcmp(m, "tools/call") == 0) {
		json_t *name = json_object_get(params, "name");
		json_t *args = json_object_get(params, "arguments");
		if (!json_is_string(name))
			return rpc_error(id, -32602, "invalid params: \"name\" (a string) is required");
		if (args && !json_is_object(args))
			return rpc_error(id, -32602, "invalid params: \"arguments\" must be an object");
		json_t *empty = args ? NULL : json_object();
		json_t *a = args ? args : empty;
		const char *n = json_string_value(name);
		json_t *result = strcmp(n, "search_code") == 0	 ? call_search(srv, a)
				 : strcmp(n, "read_file") == 0	 ? call_read_file(srv, a)
				 : strcmp(n, "get_context") == 0 ? call_context(srv, a)
								 : NULL;
		json_decref(empty);
		if (!result)
			return rpc_error(id, -32602, "invalid params: unknown tool");
		return rpc_result(id, result);
	}
	return rpc_error(id, -32601, "method not found");
}

/* ---- lode mcp: stdio ------------------------------------------------------ */

static const char mcp_help[] = "usage: lode mcp [DIR]\n"
			       "\n"
			       "Serve the index of DIR (default: the nearest directory upward with .lode/)\n"
			       "to an MCP client over standard input and output: one JSON-RPC message a\n"
			       "line. Tools: search_code, get_context, read_file. Logs go to stderr.\n"
			       "Configure it in a client as the command `lode mcp /path/to/repo`.\n";

int api__cmd_mcp(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(mcp_help, stdout);
		return API_EXIT_OK;
	}
	if (argc > 2)
		return api__usage_error("mcp", "at most one directory");
	int code = API_EXIT_OK;
	char *root = api__find_repo(argc > 1 ? argv[1] : NULL);
	if (!root)
		return api__fail(API_EXIT_RUNTIME, "no index found; run 'lode index [DIR]' first or pass DIR");
	struct idx_reader *r = api__open_reader(root, &code);
	if (!r) {
		base_free(root);
		return code;
	}
	struct api_server srv = { .reader = r, .root = root, .version = LODE_VERSION };
	api__server_init(&srv);
	struct base_buf line = BASE_BUF_INIT(API_BODY_MAX);
	int c = 0;
	while (c != EOF) {
		base_buf_reset(&line);
		bool too_long = false;
		while ((c = getchar()) != EOF && c != '\n')
			too_long |= base_buf_addc(&line, (char)c) != BASE_OK;
		if (!line.len && c == EOF)
			break;
		json_t *out;
		json_error_t je;
		json_t *msg = too_long ? NULL : json_loadb(line.data, line.len, 0, &je);
		bool init;
		if (!msg)
			out = rpc_error(NULL, -32700, too_long ? "message too long" : "parse error");
		else
			out = api__mcp_handle(&srv, msg, &init);
		json_decref(msg);
		if (out) {
			json_dumpf(out, stdout, JSON_COMPACT);
			fputc('\n', stdout);
			fflush(stdout);
			json_decref(out);
		}
	}
	base_buf_release(&line);
	api__server_release(&srv);
	idx_reader_close(r);
	base_free(root);
	return API_EXIT_OK;
}
