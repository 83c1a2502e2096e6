/*
 * context.c: budgeted context over HTTP (POST /v1/context) and MCP
 * (get_context), through agent_context — the same packing `lode context`
 * runs (api/cmd_agent.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "api/http.h"
#include "api/internal.h"

#include "base/banned.h"

json_t *api__context_json(struct api_server *srv, json_t *args, char *msg, size_t cap)
{
	struct agent_tok *tok = srv->tok;
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
	json_int_t b = srv->budget ? (json_int_t)srv->budget : AGENT_DEFAULT_BUDGET;
	if (budget && !json_is_null(budget)) {
		if (!json_is_integer(budget) || json_integer_value(budget) < API_BUDGET_MIN ||
		    json_integer_value(budget) > API_BUDGET_MAX) {
			snprintf(msg, cap, "\"budget\" must be an integer from %d to %d tokens", API_BUDGET_MIN, API_BUDGET_MAX);
			return NULL;
		}
		b = json_integer_value(budget);
	}
	struct base_err err;
	struct agent_tok *t = tok ? tok : agent_tok_open(getenv("LODE_TOKENIZER"), &err);
	if (!t) {
		snprintf(msg, cap, "%s", err.msg);
		return NULL;
	}
	struct agent_context_req req = {
		.query = json_string_value(query),
		.query_len = json_string_length(query),
		.budget = (size_t)b,
		.mode = IDX_MODE_HYBRID,
	};
	json_t *out = NULL;
	if (agent_context(srv->reader, t, &req, &out, &err) != BASE_OK) {
		snprintf(msg, cap, "%s", err.msg);
		out = NULL;
	}
	if (t != tok)
		agent_tok_close(t);
	return out;
}

void api__h_context(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp)
{
	json_t *body = api__body_object(req, resp);
	if (!body)
		return;
	char msg[256];
	json_t *out = api__context_json(srv, body, msg, sizeof(msg));
	json_decref(body);
	if (out)
		api__respond_json(resp, 200, out);
	else
		api__respond_error(resp, 400, "bad_request", "%s", msg);
}
