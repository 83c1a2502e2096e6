/*
 * context.c: budgeted context for an LLM — `lode context`, POST
 * /v1/context and MCP's get_context, all through agent_context.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "api/http.h"
#include "api/internal.h"

#include "base/banned.h"

#define BUDGET_MIN 50
#define BUDGET_MAX 1000000

static json_t *context_json(const struct agent_context *c, size_t budget, struct agent_tok *t)
{
	json_t *chunks = json_array();
	for (size_t i = 0; i < c->chunks.n; i++)
		json_array_append_new(chunks, api__hit_json(&c->chunks.v[i], false, true));
	json_t *index = json_pack("{sIsssI}", "generation", (json_int_t)c->answer.generation, "head", c->answer.head,
				  "pending", (json_int_t)c->answer.pending);
	return json_pack("{sIsIsssbsIsIsososo}", "budget", (json_int_t)budget, "tokens", (json_int_t)c->tokens,
			 "tokenizer", agent_tok_name(t), "exact", agent_tok_exact(t), "outlined", (json_int_t)c->outlined,
			 "dropped", (json_int_t)c->dropped, "index", index, "chunks", chunks, "text",
			 api__json_text(c->text, c->text_len));
}

json_t *api__context_json(struct idx_reader *r, json_t *args, char *msg, size_t cap)
{
	json_t *query = json_object_get(args, "query");
	json_t *budget = json_object_get(args, "budget");
	if (!json_is_string(query) || json_string_length(query) == 0) {
		snprintf(msg, cap, "\"query\" (a non-empty string) is required");
		return NULL;
	}
	if (json_string_length(query) > API_QUERY_MAX) {
		snprintf(msg, cap, "\"query\" is over %zu bytes", API_QUERY_MAX);
		return NULL;
	}
	json_int_t b = AGENT_DEFAULT_BUDGET;
	if (budget && !json_is_null(budget)) {
		if (!json_is_integer(budget) || json_integer_value(budget) < BUDGET_MIN ||
		    json_integer_value(budget) > BUDGET_MAX) {
			snprintf(msg, cap, "\"budget\" must be an integer from %d to %d tokens", BUDGET_MIN, BUDGET_MAX);
			return NULL;
		}
		b = json_integer_value(budget);
	}
	struct base_err err;
	struct agent_tok *t = agent_tok_open(getenv("LODE_TOKENIZER"), &err);
	if (!t) {
		snprintf(msg, cap, "%s", err.msg);
		return NULL;
	}
	struct agent_context_opts o = { json_string_value(query), json_string_length(query), (size_t)b, t, 0 };
	struct agent_context c;
	json_t *out = NULL;
	if (agent_context(r, &o, &c, &err) == BASE_OK) {
		out = context_json(&c, (size_t)b, t);
		agent_context_release(&c);
	} else {
		snprintf(msg, cap, "%s", err.msg);
	}
	agent_tok_close(t);
	return out;
}

void api__h_context(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp)
{
	json_t *body = api__body_object(req, resp);
	if (!body)
		return;
	char msg[256];
	json_t *out = api__context_json(srv->reader, body, msg, sizeof(msg));
	json_decref(body);
	if (out)
		api__respond_json(resp, 200, out);
	else
		api__respond_error(resp, 400, "bad_request", "%s", msg);
}

static const char context_help[] =
	"usage: lode context [--repo DIR] [--budget TOKENS] [--tokenizer SPEC] [--json] QUERY...|-\n"
	"\n"
	"The code most relevant to QUERY, packed for an LLM into at most TOKENS\n"
	"tokens (default 16000): blocks with path:line headers, neighbours merged,\n"
	"ordered by path and line; a block that does not fit whole is cut to its\n"
	"first lines before it is left out.\n"
	"\n"
	"  --tokenizer SPEC  how tokens are counted: 'estimate' (default; a conservative\n"
	"                    estimate, said so in the output) or LODE_TOKENIZER\n"
	"  --json            {\"budget\", \"tokens\", \"tokenizer\", \"exact\", \"chunks\", \"text\"}\n";

int api__cmd_context(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'R' },	 { "budget", required_argument, NULL, 'b' },
		{ "tokenizer", required_argument, NULL, 't' }, { "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },		 { NULL, 0, NULL, 0 },
	};
	const char *repo = NULL, *tokenizer = getenv("LODE_TOKENIZER");
	unsigned long long budget = AGENT_DEFAULT_BUDGET;
	bool json = false;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'R':
			repo = optarg;
			break;
		case 'b':
			if (!api__parse_uint(optarg, BUDGET_MAX, &budget) || budget < BUDGET_MIN)
				return api__usage_error("context", "--budget needs a number of tokens from 50 to 1000000");
			break;
		case 't':
			tokenizer = optarg;
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			fputs(context_help, stdout);
			return API_EXIT_OK;
		default:
			return api__usage_error("context", "unknown option");
		}
	}
	if (optind >= argc)
		return api__usage_error("context", "missing QUERY (or '-' to read it from standard input)");
	struct base_buf q = BASE_BUF_INIT(BASE_CAP_QUERY);
	int code = api__read_query(argc, argv, optind, &q);
	struct idx_reader *r = code ? NULL : api__open_reader(repo, &code);
	struct base_err err;
	struct agent_tok *t = r ? agent_tok_open(tokenizer, &err) : NULL;
	if (r && !t)
		code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	if (t) {
		struct agent_context_opts o = { q.data, q.len, (size_t)budget, t, 0 };
		struct agent_context c;
		if (agent_context(r, &o, &c, &err)) {
			code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
		} else {
			if (json)
				api__json_print(context_json(&c, (size_t)budget, t));
			else
				fwrite(c.text, 1, c.text_len, stdout);
			if (!json)
				fprintf(stderr, "lode: %zu of %llu tokens (%s%s), %zu blocks, %zu outlined, %zu left out\n",
					c.tokens, budget, agent_tok_name(t), agent_tok_exact(t) ? "" : ", an estimate",
					c.chunks.n, c.outlined, c.dropped);
			agent_context_release(&c);
		}
	}
	agent_tok_close(t);
	idx_reader_close(r);
	base_buf_release(&q);
	return code;
}
