/*
 * chat.c: the agent side of the OpenAI-compatible proxy (agent_chat in
 * agent.h).
 *
 * The client's conversation is forwarded as it is, except for its latest
 * user message, which gets the packed context in front of it (the same
 * user-message layout ask uses). Earlier messages are left byte for byte,
 * and the blocks are in reading order (path, then line), so from one turn
 * to the next the prompt shares the longest prefix the conversation
 * allows and a server's prompt cache can reuse it. A prefix of the user
 * message rather than an extra system message: many chat templates refuse
 * a system message anywhere but first.
 */
#include <string.h>

#include "agent/agent.h"
#include "agent/internal.h"

#include "base/banned.h"

/* The text of messages[i].content (a string, null, or text parts) into b. */
static int message_text(json_t *m, size_t i, struct base_buf *b, struct base_err *err)
{
	if (!json_is_object(m) || !json_is_string(json_object_get(m, "role")))
		return base_err_set(err, BASE_E_INVAL, "messages[%zu] must be an object with a string \"role\"", i);
	json_t *c = json_object_get(m, "content");
	if (!c || json_is_null(c))
		return BASE_OK;
	if (json_is_string(c))
		return base_buf_add(b, json_string_value(c), json_string_length(c));
	if (!json_is_array(c))
		return base_err_set(err, BASE_E_INVAL, "messages[%zu].content must be a string or an array of parts", i);
	size_t j;
	json_t *part;
	json_array_foreach(c, j, part) {
		json_t *text = json_object_get(part, "text");
		const char *type = json_string_value(json_object_get(part, "type"));
		if (!type || strcmp(type, "text") != 0 || !json_is_string(text))
			return base_err_set(err, BASE_E_INVAL, "messages[%zu].content[%zu]: only text parts are supported",
					    i, j);
		int rc = base_buf_add(b, json_string_value(text), json_string_length(text));
		if (rc)
			return rc;
	}
	return BASE_OK;
}

int agent_chat(struct idx_reader *r, struct agent_tok *tok, const struct agent_chat_req *req, agent_delta_fn *fn,
	       void *payload, json_t **out, struct base_err *err)
{
	if (out)
		*out = NULL;
	json_t *msgs = (json_t *)req->messages;
	if (!json_is_array(msgs) || json_array_size(msgs) == 0)
		return base_err_set(err, BASE_E_INVAL, "\"messages\" must be a non-empty array");
	size_t n = json_array_size(msgs), last = n;
	for (size_t i = 0; i < n; i++) {
		const char *role = json_string_value(json_object_get(json_array_get(msgs, i), "role"));
		if (role && strcmp(role, "user") == 0)
			last = i;
	}
	if (last == n)
		return base_err_set(err, BASE_E_INVAL, "\"messages\" holds no user message");
	size_t budget = req->budget ? req->budget : AGENT_DEFAULT_BUDGET;
	size_t reserve = req->reserve ? req->reserve : BASE_MIN((size_t)AGENT_DEFAULT_RESERVE, budget / 4);
	/* every other message counts against the budget as it is */
	struct base_buf text = BASE_BUF_INIT(BASE_CAP_TEXT);
	size_t other = 0;
	int rc = BASE_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		base_buf_reset(&text);
		rc = message_text(json_array_get(msgs, i), i, &text, err);
		if (rc || i == last)
			continue;
		size_t t = 0;
		rc = agent__count(tok, text.data, &t, err);
		other += t + AGENT__MSG_OVERHEAD;
	}
	base_buf_reset(&text);
	if (!rc)
		rc = message_text(json_array_get(msgs, last), last, &text, err);
	if (!rc && text.len == 0)
		rc = base_err_set(err, BASE_E_INVAL, "messages[%zu] (the latest user message) is empty", last);
	if (rc) {
		base_buf_release(&text);
		return rc;
	}
	struct agent_pack p;
	char *user = NULL;
	size_t prompt_tokens = 0;
	rc = agent__pack_prompt(r, tok, NULL, other, text.data, text.data, budget, reserve, req->k, &p, &user,
				&prompt_tokens, err);
	base_buf_release(&text);
	if (rc) {
		agent_pack_release(&p);
		return rc;
	}
	json_t *fwd = json_deep_copy(msgs);
	json_object_set_new(json_array_get(fwd, last), "content", agent__json_text(user, strlen(user)));
	json_t *extra = req->llm.extra ? json_deep_copy(req->llm.extra) : json_object();
	json_object_set_new(extra, "messages", fwd);
	struct agent_llm llm = req->llm;
	llm.extra = extra;
	if (llm.max_tokens == 0 && !json_object_get(extra, "max_tokens") &&
	    !json_object_get(extra, "max_completion_tokens"))
		llm.max_tokens = (long)reserve;
	struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
	rc = agent_llm_chat(&llm, NULL, 0, fn, payload, &reply, err);
	if (!rc && out) {
		json_t *ctx = json_pack("{sIsIsIsIsssbso}", "budget", (json_int_t)budget, "tokens", (json_int_t)p.tokens,
					"prompt_tokens", (json_int_t)prompt_tokens, "reserve", (json_int_t)reserve,
					"tokenizer", agent_tok_name(tok), "exact", agent_tok_exact(tok), "blocks",
					agent__blocks_json(&p));
		*out = json_pack("{soso}", "answer", agent__json_text(reply.data, reply.len), "context", ctx);
	}
	json_decref(extra);
	base_buf_release(&reply);
	base_free(user);
	agent_pack_release(&p);
	return rc;
}
