/*
 * test_llm.c: the LLM client against a scripted OpenAI-compatible server
 * on 127.0.0.1 (llm_server.h): streaming, SSE edge cases, retries, 4xx,
 * hangs and dropped streams.
 */
#include "llm_server.h"

#include "agent/agent.h"

#include "base/banned.h"

struct deltas {
	int calls;
	struct base_buf text;
};

static int on_delta(void *payload, const char *t, size_t n)
{
	struct deltas *d = payload;
	d->calls++;
	T_OK(base_buf_add(&d->text, t, n));
	return 0;
}

static const struct agent_msg msgs[] = { { "system", "be brief" }, { "user", "say hello \xc3\xa9" } };

static int chat(const struct t_llm *s, long idle_ms, int retries, struct base_buf *reply, struct deltas *d,
		struct base_err *err)
{
	struct agent_llm l = { .url = s->url, .model = "m1", .key = "k123", .idle_timeout_ms = idle_ms,
			       .retries = retries, .backoff_ms = 20, .temperature = -1 };
	return agent_llm_chat(&l, msgs, 2, on_delta, d, reply, err);
}

/* The SSE parser gives the same text whatever the split of its input. */
static void sse_any_split(void)
{
	const char *stream = ": comment\r\n\r\nevent: x\ndata: {\"choices\":[{\"delta\":{\"content\":\"He\"}}]}\r\n\r\n"
			     "data:{\"choices\":[{\"delta\":{\"content\":\"llo \\u00e9\"}}]}\n\n"
			     "data: {\"choices\":[{\"delta\":{}, \"finish_reason\":null}]}\n\n"
			     "data: [DONE]\r\n\r\n";
	size_t n = strlen(stream);
	for (size_t cut1 = 0; cut1 <= n; cut1 += 3) {
		for (size_t cut2 = cut1; cut2 <= n; cut2 += 7) {
			struct base_buf reply = BASE_BUF_INIT(4096);
			struct agent_sse s;
			agent_sse_init(&s, NULL, NULL, &reply);
			agent_sse_feed(&s, stream, cut1);
			agent_sse_feed(&s, stream + cut1, cut2 - cut1);
			agent_sse_feed(&s, stream + cut2, n - cut2);
			T_EQ_INT(s.error, 0);
			T_TRUE(s.done);
			T_EQ_STR(reply.data, "Hello \xc3\xa9");
			agent_sse_release(&s);
			base_buf_release(&reply);
		}
	}
	/* bad JSON and a stream error object are errors */
	struct agent_sse s;
	agent_sse_init(&s, NULL, NULL, NULL);
	agent_sse_feed(&s, "data: {nope\n", 12);
	T_EQ_INT(s.error, BASE_E_PARSE);
	agent_sse_release(&s);
	agent_sse_init(&s, NULL, NULL, NULL);
	const char *e = "data: {\"error\":{\"message\":\"context too long\"}}\n";
	agent_sse_feed(&s, e, strlen(e));
	T_EQ_INT(s.error, BASE_E_IO);
	T_TRUE(strstr(s.msg, "context too long") != NULL);
	agent_sse_release(&s);
}

static void streams_reply(void)
{
	const char *answer = "Hello from the scripted server: ring_buffer.c:12 holds it. \xe2\x9c\x93 done.";
	for (int crlf = 0; crlf <= 1; crlf++) {
		struct t_llm s;
		struct t_llm_resp r[] = { { T_LLM_SSE, answer, 200, crlf } };
		t_llm_start(&s, r, 1);
		struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
		struct deltas d = { 0, BASE_BUF_INIT(BASE_CAP_TEXT) };
		struct base_err err;
		T_OK(chat(&s, 5000, 0, &reply, &d, &err));
		T_EQ_STR(reply.data, answer);
		T_EQ_STR(d.text.data, answer);
		T_TRUE(d.calls > 3);
		json_t *body = NULL;
		char *head = NULL;
		T_EQ_INT(t_llm_requests(&s, 0, &body, &head), 1);
		T_TRUE(strstr(head, "POST /v1/chat/completions ") != NULL);
		T_TRUE(strstr(head, "Authorization: Bearer k123") != NULL);
		T_TRUE(json_is_true(json_object_get(body, "stream")));
		T_EQ_STR(json_string_value(json_object_get(body, "model")), "m1");
		json_t *m1 = json_array_get(json_object_get(body, "messages"), 1);
		T_EQ_STR(json_string_value(json_object_get(m1, "role")), "user");
		T_EQ_STR(json_string_value(json_object_get(m1, "content")), "say hello \xc3\xa9");
		json_decref(body);
		base_free(head);
		base_buf_release(&reply);
		base_buf_release(&d.text);
		t_llm_stop(&s);
	}
}

static void plain_json_completion(void)
{
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_JSON, "not streamed", 200, false } };
	t_llm_start(&s, r, 1);
	struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct deltas d = { 0, BASE_BUF_INIT(BASE_CAP_TEXT) };
	T_OK(chat(&s, 5000, 0, &reply, &d, NULL));
	T_EQ_STR(reply.data, "not streamed");
	base_buf_release(&reply);
	base_buf_release(&d.text);
	t_llm_stop(&s);
}

static void retries_5xx_then_succeeds(void)
{
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_STATUS, "{\"error\":\"busy\"}", 503, false },
				  { T_LLM_STATUS, "overloaded", 500, false },
				  { T_LLM_SSE, "third time lucky", 200, false } };
	t_llm_start(&s, r, 3);
	struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct deltas d = { 0, BASE_BUF_INIT(BASE_CAP_TEXT) };
	T_OK(chat(&s, 5000, 3, &reply, &d, NULL));
	T_EQ_STR(reply.data, "third time lucky");
	T_EQ_INT(t_llm_requests(&s, 99, NULL, NULL), 3);
	base_buf_release(&reply);
	base_buf_release(&d.text);
	t_llm_stop(&s);
}

static void retries_5xx_then_fails(void)
{
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_STATUS, "{\"error\":{\"message\":\"kaput\"}}", 500, false } };
	t_llm_start(&s, r, 1);
	struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct deltas d = { 0, BASE_BUF_INIT(BASE_CAP_TEXT) };
	struct base_err err;
	uint64_t t0 = base_now_ns();
	T_TRUE(chat(&s, 5000, 2, &reply, &d, &err) != 0);
	double ms = (double)(base_now_ns() - t0) / 1e6;
	T_TRUE(strstr(err.msg, "HTTP 500") != NULL);
	T_TRUE(strstr(err.msg, "kaput") != NULL);
	T_TRUE(strstr(err.msg, "3 attempts") != NULL);
	T_EQ_INT(t_llm_requests(&s, 99, NULL, NULL), 3);
	T_TRUE(ms >= 60); /* backoff 20 + 40 ms */
	T_EQ_INT(reply.len, 0);
	base_buf_release(&reply);
	base_buf_release(&d.text);
	t_llm_stop(&s);
}

static void fails_fast_on_4xx(void)
{
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_STATUS, "{\"error\":{\"message\":\"model 'm1' not found\"}}", 404, false } };
	t_llm_start(&s, r, 1);
	struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct deltas d = { 0, BASE_BUF_INIT(BASE_CAP_TEXT) };
	struct base_err err;
	T_TRUE(chat(&s, 5000, 3, &reply, &d, &err) != 0);
	T_TRUE(strstr(err.msg, "HTTP 404") != NULL);
	T_TRUE(strstr(err.msg, "model 'm1' not found") != NULL);
	T_EQ_INT(t_llm_requests(&s, 99, NULL, NULL), 1);
	base_buf_release(&reply);
	base_buf_release(&d.text);
	t_llm_stop(&s);
}

static void times_out_on_hang(void)
{
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_HANG, NULL, 0, false } };
	t_llm_start(&s, r, 1);
	struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct deltas d = { 0, BASE_BUF_INIT(BASE_CAP_TEXT) };
	struct base_err err;
	uint64_t t0 = base_now_ns();
	T_TRUE(chat(&s, 400, 3, &reply, &d, &err) != 0);
	double ms = (double)(base_now_ns() - t0) / 1e6;
	T_TRUE(strstr(err.msg, "timeout") != NULL);
	T_TRUE(ms >= 400 && ms < 5000);
	T_EQ_INT(t_llm_requests(&s, 99, NULL, NULL), 1); /* a stall is not retried */
	base_buf_release(&reply);
	base_buf_release(&d.text);
	t_llm_stop(&s);
}

static void dropped_stream_fails(void)
{
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_DROP, "this answer will be cut in the middle of it", 200, false } };
	t_llm_start(&s, r, 1);
	struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct deltas d = { 0, BASE_BUF_INIT(BASE_CAP_TEXT) };
	struct base_err err;
	T_TRUE(chat(&s, 5000, 3, &reply, &d, &err) != 0);
	T_TRUE(strstr(err.msg, "cut off") != NULL);
	T_TRUE(d.calls > 0);
	T_EQ_INT(t_llm_requests(&s, 99, NULL, NULL), 1); /* text was delivered: no retry */
	base_buf_release(&reply);
	base_buf_release(&d.text);
	t_llm_stop(&s);
}

static void refused_connection_retried(void)
{
	/* a port nobody listens on: bind one, close it */
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_SSE, "x", 200, false } };
	t_llm_start(&s, r, 1);
	t_llm_stop(&s);
	struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct deltas d = { 0, BASE_BUF_INIT(BASE_CAP_TEXT) };
	struct base_err err;
	uint64_t t0 = base_now_ns();
	T_TRUE(chat(&s, 5000, 2, &reply, &d, &err) != 0);
	T_TRUE(strstr(err.msg, "3 attempts") != NULL);
	T_TRUE((base_now_ns() - t0) / 1000000 >= 60);
	/* bad endpoints are clear errors */
	struct agent_llm l = { .url = "ftp://x", .temperature = -1 };
	T_EQ_INT(agent_llm_chat(&l, msgs, 2, NULL, NULL, NULL, &err), BASE_E_INVAL);
	l.url = NULL;
	T_EQ_INT(agent_llm_chat(&l, msgs, 2, NULL, NULL, NULL, &err), BASE_E_INVAL);
	T_TRUE(strstr(err.msg, "LODE_LLM_URL") != NULL);
	base_buf_release(&reply);
	base_buf_release(&d.text);
}

static int stop_after_one(void *payload, const char *t, size_t n)
{
	(void)t, (void)n;
	(*(int *)payload)++;
	return 1;
}

static void callback_can_stop(void)
{
	struct t_llm s;
	struct t_llm_resp r[] = { { T_LLM_SSE, "a long answer that the caller stops early", 200, false } };
	t_llm_start(&s, r, 1);
	struct agent_llm l = { .url = s.url, .temperature = -1 };
	int calls = 0;
	T_OK(agent_llm_chat(&l, msgs, 2, stop_after_one, &calls, NULL, NULL));
	T_EQ_INT(calls, 1);
	t_llm_stop(&s);
}

T_MAIN(T_ENTRY(sse_any_split), T_ENTRY(streams_reply), T_ENTRY(plain_json_completion),
       T_ENTRY(retries_5xx_then_succeeds), T_ENTRY(retries_5xx_then_fails), T_ENTRY(fails_fast_on_4xx),
       T_ENTRY(times_out_on_hang), T_ENTRY(dropped_stream_fails), T_ENTRY(refused_connection_retried),
       T_ENTRY(callback_can_stop))
