/*
 * agent_http.c: the agent over HTTP — POST /v1/ask, POST /v1/edit and the
 * OpenAI-compatible POST /v1/chat/completions, through agent/agent.h as
 * the CLI uses it.
 *
 * The handlers check the body synchronously (400 naming the field; fields
 * they do not know are ignored) and return a job (http.h) that serve.c
 * runs on a thread of its own. A job answers with a status chosen when it
 * knows one: a streamed answer begins at its first delta, so every error
 * before that (budget too small, LLM server down, bad model output) is an
 * ordinary JSON error with a 4xx/5xx status; an error after it is the
 * stream's last event.
 *
 * Streams are server-sent events. /v1/ask: `data: {"delta": "..."}` per
 * piece of the answer, then `event: result` with the object the
 * non-streamed call returns (or `event: error` with an error object).
 * /v1/chat/completions: OpenAI's chat.completion.chunk objects, then
 * `data: [DONE]`.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/agent.h"
#include "api/http.h"
#include "api/internal.h"

#include "base/banned.h"

enum job_kind { JOB_ASK, JOB_EDIT, JOB_CHAT };

struct job {
	struct api_job base; /* first: serve.c sees only this */
	enum job_kind kind;
	struct api_server *srv;
	json_t *body;     /* the request; owns the strings below */
	const char *text; /* the question or instruction */
	size_t budget, reserve;
	bool stream, apply;
	struct agent_llm llm;
	json_t *extra; /* chat: the client's other fields */
	/* while it runs */
	struct api_sink *out;
	bool begun, gone;
	char id[48];
	json_int_t created;
};

/* ---- answering through the sink ----------------------------------------------- */

void api__sink_resp(struct api_sink *s, struct api_http_resp *r)
{
	if (s->begin(s, r->status, r->content_type, false) == 0 && r->body)
		s->write(s, r->body, r->len);
	base_free(r->body);
	r->body = NULL;
}

static void sink_json(struct api_sink *s, int status, json_t *j)
{
	struct api_http_resp r = { 0 };
	api__respond_json(&r, status, j);
	api__sink_resp(s, &r);
}

/* The HTTP status and error code for an agent failure. */
static int fail_status(const struct job *j, int code, const char **ecode)
{
	switch (code) {
	case BASE_E_TOOBIG:
		*ecode = "budget_too_small";
		return 400;
	case BASE_E_IO:
	case BASE_E_DEVICE:
		*ecode = "llm_error";
		return 502;
	case BASE_E_INTERRUPTED:
		*ecode = "shutting_down";
		return 503;
	case BASE_E_INVAL:
	case BASE_E_PARSE:
	case BASE_E_NOTFOUND:
		/* an edit the model got wrong; else a bad request (INVAL) or a garbled stream */
		if (j->kind == JOB_EDIT) {
			*ecode = "invalid_edit";
			return 422;
		}
		*ecode = code == BASE_E_INVAL ? "bad_request" : "llm_error";
		return code == BASE_E_INVAL ? 400 : 502;
	default:
		*ecode = "agent_failed";
		return 500;
	}
}

static json_t *error_json(const char *code, const char *msg)
{
	return json_pack("{s{ssso}}", "error", "code", code, "message", api__json_text(msg, strlen(msg)));
}

/* Write one SSE event (`event` may be NULL) whose data is j (released). */
static int sse_event(struct job *j, const char *event, json_t *data)
{
	char *s = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (!s)
		return 1;
	char *ev = event ? base_strfmt("event: %s\ndata: %s\n\n", event, s) : base_strfmt("data: %s\n\n", s);
	free(s); /* jansson's allocation */
	int rc = j->gone ? 1 : j->out->write(j->out, ev, strlen(ev));
	base_free(ev);
	if (rc)
		j->gone = true;
	return rc;
}

static int begin_stream(struct job *j)
{
	if (!j->begun) {
		j->begun = true;
		if (j->out->begin(j->out, 200, "text/event-stream", true))
			j->gone = true;
	}
	return j->gone;
}

/* The error of a failed call: a JSON error before the stream began, its last event after. */
static void answer_error(struct job *j, int code, const char *msg, json_t *extra)
{
	const char *ecode;
	int status = fail_status(j, code, &ecode);
	json_t *e = error_json(ecode, msg);
	if (extra)
		json_object_update(e, extra);
	if (!j->begun) {
		sink_json(j->out, status, e);
		return;
	}
	if (j->kind == JOB_CHAT) {
		sse_event(j, NULL, e);
		j->out->write(j->out, "data: [DONE]\n\n", 14);
	} else {
		sse_event(j, "error", e);
	}
}

/* ---- jobs ------------------------------------------------------------------ */

static const char *model_name(const struct job *j)
{
	return j->llm.model ? j->llm.model : "lode";
}

static int ask_delta(void *payload, const char *text, size_t len)
{
	struct job *j = payload;
	if (begin_stream(j))
		return 1;
	return sse_event(j, NULL, json_pack("{so}", "delta", api__json_text(text, len)));
}

static int chat_delta(void *payload, const char *text, size_t len)
{
	struct job *j = payload;
	bool first = !j->begun;
	if (begin_stream(j))
		return 1;
	json_t *delta = json_pack("{so}", "content", api__json_text(text, len));
	if (first)
		json_object_set_new(delta, "role", json_string("assistant"));
	return sse_event(j, NULL,
			 json_pack("{sssssIsss[{sisoso}]}", "id", j->id, "object", "chat.completion.chunk", "created",
				   j->created, "model", model_name(j), "choices", "index", 0, "delta", delta,
				   "finish_reason", json_null()));
}

static void run_ask(struct job *j)
{
	struct api_server *srv = j->srv;
	struct agent_ask_req req = { srv->root, j->text, j->budget, j->reserve, 0, j->llm };
	json_t *out = NULL;
	struct base_err err = { 0, "" };
	int rc = agent_ask(srv->reader, srv->tok, &req, j->stream ? ask_delta : NULL, j, &out, &err);
	if (rc) {
		answer_error(j, rc, err.msg, NULL);
	} else if (!j->stream) {
		sink_json(j->out, 200, out);
		out = NULL;
	} else if (!begin_stream(j)) {
		sse_event(j, "result", out);
		out = NULL;
	}
	json_decref(out);
}

static int srv_reindex(void *payload, const char *const *paths, size_t n, struct base_err *err)
{
	struct api_server *srv = payload;
	return srv->reindex(srv->reindex_payload, paths, n, err);
}

static void run_edit(struct job *j)
{
	struct api_server *srv = j->srv;
	struct agent_edit_req req = {
		.root = srv->root,
		.instruction = j->text,
		.budget = j->budget,
		.reserve = j->reserve,
		.apply = j->apply,
		.max_turns = 1,
		.llm = j->llm,
		.reindex = srv->reindex ? srv_reindex : NULL,
		.reindex_payload = srv,
	};
	json_t *out = NULL;
	struct base_err err = { 0, "" };
	if (j->apply)
		pthread_mutex_lock(&srv->edit_mu);
	int rc = agent_edit(srv->reader, srv->tok, &req, NULL, NULL, &out, &err);
	if (j->apply)
		pthread_mutex_unlock(&srv->edit_mu);
	if (rc) {
		json_t *extra = out ? json_pack("{sO}", "edit", out) : NULL;
		answer_error(j, rc, err.msg, extra);
		json_decref(extra);
		json_decref(out);
		return;
	}
	json_object_del(out, "error");
	json_object_del(out, "ok");
	json_object_set_new(out, "dry_run", json_boolean(!j->apply));
	sink_json(j->out, 200, out);
}

static void run_chat(struct job *j)
{
	struct api_server *srv = j->srv;
	struct agent_chat_req req = { json_object_get(j->body, "messages"), j->budget, j->reserve, 0, j->llm };
	req.llm.extra = j->extra;
	json_t *out = NULL;
	struct base_err err = { 0, "" };
	int rc = agent_chat(srv->reader, srv->tok, &req, j->stream ? chat_delta : NULL, j, &out, &err);
	if (rc) {
		answer_error(j, rc, err.msg, NULL);
		return;
	}
	json_t *ctx = json_object_get(out, "context");
	if (j->stream) {
		if (!begin_stream(j) &&
		    !sse_event(j, NULL,
			       json_pack("{sssssIsss[{sis{}ss}]sO}", "id", j->id, "object", "chat.completion.chunk",
					 "created", j->created, "model", model_name(j), "choices", "index", 0, "delta",
					 "finish_reason", "stop", "lode", ctx)))
			j->out->write(j->out, "data: [DONE]\n\n", 14);
		json_decref(out);
		return;
	}
	json_t *answer = json_object_get(out, "answer");
	size_t done_tokens = 0;
	agent_tok_count(srv->tok, json_string_value(answer), json_string_length(answer), &done_tokens, NULL);
	json_int_t prompt = json_integer_value(json_object_get(ctx, "prompt_tokens"));
	sink_json(j->out, 200,
		  json_pack("{sssssIsss[{sis{sssO}ss}]s{sIsIsI}sO}", "id", j->id, "object", "chat.completion", "created",
			    j->created, "model", model_name(j), "choices", "index", 0, "message", "role", "assistant",
			    "content", answer, "finish_reason", "stop", "usage", "prompt_tokens", prompt,
			    "completion_tokens", (json_int_t)done_tokens, "total_tokens", prompt + (json_int_t)done_tokens,
			    "lode", ctx));
	json_decref(out);
}

static void job_run(struct api_job *base, struct api_sink *out)
{
	struct job *j = (struct job *)base;
	j->out = out;
	switch (j->kind) {
	case JOB_ASK:
		run_ask(j);
		break;
	case JOB_EDIT:
		run_edit(j);
		break;
	case JOB_CHAT:
		run_chat(j);
		break;
	}
}

static void job_free(struct api_job *base)
{
	struct job *j = (struct job *)base;
	json_decref(j->body);
	json_decref(j->extra);
	base_free(j);
}

/* ---- request checks ------------------------------------------------------------- */

/* An optional integer field in [lo, hi] into *out; false with the 400 set. */
static bool int_field(json_t *body, const char *key, json_int_t lo, json_int_t hi, size_t *out,
		      struct api_http_resp *resp)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		api__respond_error(resp, 400, "bad_request", "\"%s\" must be an integer from %lld to %lld", key,
				   (long long)lo, (long long)hi);
		return false;
	}
	*out = (size_t)json_integer_value(v);
	return true;
}

static bool bool_field(json_t *body, const char *key, bool *out, struct api_http_resp *resp)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return true;
	if (!json_is_boolean(v)) {
		api__respond_error(resp, 400, "bad_request", "\"%s\" must be true or false", key);
		return false;
	}
	*out = json_is_true(v);
	return true;
}

/* An optional string field into *out (borrowed from body). */
static bool str_field(json_t *body, const char *key, const char **out, struct api_http_resp *resp)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_length(v) == 0 || strlen(json_string_value(v)) != json_string_length(v)) {
		api__respond_error(resp, 400, "bad_request", "\"%s\" must be a non-empty string", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* The body and the fields every agent route takes; NULL with the error response set. */
static struct job *new_job(struct api_server *srv, enum job_kind kind, const struct api_http_req *req,
			   struct api_http_resp *resp)
{
	json_t *body = api__body_object(req, resp);
	if (!body)
		return NULL;
	struct job *j = base_calloc(1, sizeof(*j));
	j->base.run = job_run;
	j->base.free = job_free;
	j->kind = kind;
	j->srv = srv;
	j->body = body;
	j->llm = srv->llm;
	j->llm.cancel = &srv->stopping;
	j->budget = srv->budget ? srv->budget : AGENT_DEFAULT_BUDGET;
	bool ok = int_field(body, "budget", API_BUDGET_MIN, API_BUDGET_MAX, &j->budget, resp) &&
		  int_field(body, "reserve", 1, API_BUDGET_MAX, &j->reserve, resp) &&
		  bool_field(body, "stream", &j->stream, resp);
	if (ok && kind != JOB_CHAT)
		ok = str_field(body, "model", &j->llm.model, resp);
	if (ok && j->reserve >= j->budget) {
		api__respond_error(resp, 400, "bad_request", "\"reserve\" must be below \"budget\" (%zu)", j->budget);
		ok = false;
	}
	if (ok && kind != JOB_CHAT) {
		const char *key = kind == JOB_ASK ? "question" : "instruction";
		json_t *t = json_object_get(body, key);
		if (!json_is_string(t) || json_string_length(t) == 0 || strlen(json_string_value(t)) != json_string_length(t)) {
			api__respond_error(resp, 400, "bad_request", "\"%s\" (a non-empty string) is required", key);
			ok = false;
		} else if (json_string_length(t) > API_QUERY_MAX) {
			api__respond_error(resp, 400, "bad_request", "\"%s\" is over %zu bytes", key, API_QUERY_MAX);
			ok = false;
		}
		j->text = json_string_value(t);
	}
	if (!ok) {
		job_free(&j->base);
		return NULL;
	}
	snprintf(j->id, sizeof(j->id), "chatcmpl-lode-%llx%llx", (unsigned long long)base_now_ns(),
		 (unsigned long long)(uintptr_t)j);
	j->created = (json_int_t)time(NULL);
	return j;
}

/* A request that passed every check: the job, or 503 without an LLM. */
static void hand_over(struct job *j, bool ok, struct api_http_resp *resp)
{
	if (ok && !j->srv->llm.url) {
		api__respond_error(resp, 503, "llm_not_configured",
				   "no LLM is configured: start lode serve with --llm URL (or LODE_LLM_URL)");
		ok = false;
	}
	if (ok)
		resp->job = &j->base;
	else
		job_free(&j->base);
}

void api__h_ask(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp)
{
	struct job *j = new_job(srv, JOB_ASK, req, resp);
	if (j)
		hand_over(j, true, resp);
}

void api__h_edit(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp)
{
	struct job *j = new_job(srv, JOB_EDIT, req, resp);
	if (!j)
		return;
	json_t *body = j->body;
	bool ok = bool_field(body, "apply", &j->apply, resp);
	if (ok && json_object_get(body, "test")) {
		/* a shell command from the network: lode edit --test runs tests, HTTP does not */
		api__respond_error(resp, 400, "bad_request",
				   "\"test\" is not accepted over HTTP: run the tests yourself, or use lode edit --test");
		ok = false;
	}
	if (ok && j->stream) {
		api__respond_error(resp, 400, "bad_request", "\"stream\" is not supported by /v1/edit");
		ok = false;
	}
	hand_over(j, ok, resp);
}

/* The OpenAI fields lode itself handles (not forwarded as they are). */
static const char *const chat_own[] = { "messages", "stream", "model", "budget", "reserve", "stream_options", "n" };

void api__h_chat(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp)
{
	struct job *j = new_job(srv, JOB_CHAT, req, resp);
	if (!j)
		return;
	json_t *body = j->body, *msgs = json_object_get(body, "messages");
	const char *model = NULL;
	size_t max_tokens = 0, n = 1;
	bool ok = true;
	if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
		api__respond_error(resp, 400, "bad_request", "\"messages\" (a non-empty array) is required");
		ok = false;
	}
	ok = ok && str_field(body, "model", &model, resp) && int_field(body, "n", 1, 1, &n, resp) &&
	     int_field(body, "max_tokens", 1, API_BUDGET_MAX, &max_tokens, resp) &&
	     int_field(body, "max_completion_tokens", 1, API_BUDGET_MAX, &max_tokens, resp);
	for (size_t i = 0; ok && i < json_array_size(msgs); i++) {
		json_t *m = json_array_get(msgs, i), *c = json_object_get(m, "content");
		if (!json_is_object(m) || !json_is_string(json_object_get(m, "role")) ||
		    (c && !json_is_string(c) && !json_is_array(c) && !json_is_null(c))) {
			api__respond_error(resp, 400, "bad_request",
					   "\"messages\"[%zu] must be an object with a string \"role\" and a string or "
					   "array \"content\"",
					   i);
			ok = false;
		}
	}
	if (ok && max_tokens) {
		if (max_tokens >= j->budget) {
			api__respond_error(resp, 400, "bad_request", "\"max_tokens\" (%zu) must be below the budget (%zu)",
					   max_tokens, j->budget);
			ok = false;
		}
		j->reserve = max_tokens;
	}
	/* the server's model wins: clients often send a placeholder */
	if (!j->llm.model)
		j->llm.model = model;
	j->extra = json_deep_copy(body);
	for (size_t i = 0; i < BASE_ARRAY_LEN(chat_own); i++)
		json_object_del(j->extra, chat_own[i]);
	hand_over(j, ok, resp);
}
