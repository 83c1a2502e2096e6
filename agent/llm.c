/*
 * llm.c: the OpenAI-compatible chat client (agent.h), libcurl.
 *
 * One request per attempt: POST {url}/chat/completions, "stream": true.
 * The body is read as server-sent events: "data: {json}" lines (LF or
 * CRLF, split across reads anywhere), "data: [DONE]" at the end; each
 * choices[0].delta.content goes to the caller. A server that answers with
 * a plain JSON completion instead is accepted too.
 *
 * Failures: connection errors, 5xx answers and streams that end before
 * any text are retried with exponential backoff (backoff_ms, doubled);
 * once text was delivered a retry would repeat it, so the call fails. A
 * 4xx answer fails at once with the server's own message. A connection
 * with no byte for idle_timeout_ms fails as a timeout (not retried: a
 * stalled server is unlikely to recover and each attempt costs the full
 * timeout).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "agent/agent.h"
#include "agent/internal.h"

#include "base/banned.h"

#define ERRBODY_CAP ((size_t)64 << 10)

void agent_llm_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void agent_llm_from_env(struct agent_llm *l)
{
	const char *v;
	if (!l->url && (v = getenv("LODE_LLM_URL")) && *v)
		l->url = v;
	if (!l->model && (v = getenv("LODE_LLM_MODEL")) && *v)
		l->model = v;
	if (!l->key && (v = getenv("LODE_LLM_KEY")) && *v)
		l->key = v;
}

/* ---- SSE ------------------------------------------------------------- */

void agent_sse_init(struct agent_sse *s, agent_delta_fn *fn, void *payload, struct base_buf *reply)
{
	memset(s, 0, sizeof(*s));
	base_buf_init(&s->line, BASE_CAP_QUERY);
	s->fn = fn;
	s->payload = payload;
	s->reply = reply;
}

void agent_sse_release(struct agent_sse *s)
{
	base_buf_release(&s->line);
}

static void sse_fail(struct agent_sse *s, int code, const char *fmt, const char *detail)
{
	if (s->error)
		return;
	s->error = code;
	snprintf(s->msg, sizeof(s->msg), fmt, detail);
}

static void sse_deliver(struct agent_sse *s, const char *t, size_t n)
{
	if (n == 0 || s->stopped)
		return;
	if (s->reply && base_buf_add(s->reply, t, n)) {
		sse_fail(s, BASE_E_TOOBIG, "%s", "the reply is too long");
		return;
	}
	if (s->fn && s->fn(s->payload, t, n))
		s->stopped = true;
}

/* The text of one completion object (a stream chunk or a whole answer). */
static void sse_object(struct agent_sse *s, json_t *j)
{
	json_t *e = json_object_get(j, "error");
	if (e) {
		const char *m = json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "message"));
		sse_fail(s, BASE_E_IO, "the LLM server reported an error: %s", m ? m : "(no message)");
		return;
	}
	json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
	if (!c0)
		return;
	json_t *d = json_object_get(c0, "delta");
	if (!d)
		d = json_object_get(c0, "message");
	json_t *t = json_object_get(d, "content");
	if (json_is_string(t))
		sse_deliver(s, json_string_value(t), json_string_length(t));
	json_t *fr = json_object_get(c0, "finish_reason");
	if (json_is_string(fr))
		s->done = true;
}

static void sse_line(struct agent_sse *s, const char *l, size_t n)
{
	if (n && l[n - 1] == '\r')
		n--;
	if (n < 5 || memcmp(l, "data:", 5) != 0)
		return; /* comments (":"), event:, id:, retry:, blank lines */
	l += 5;
	n -= 5;
	if (n && *l == ' ')
		l++, n--;
	s->any = true;
	if (n == 6 && memcmp(l, "[DONE]", 6) == 0) {
		s->done = true;
		return;
	}
	json_error_t je;
	json_t *j = json_loadb(l, n, 0, &je);
	if (!j) {
		sse_fail(s, BASE_E_PARSE, "the LLM server sent malformed JSON in the stream: %s", je.text);
		return;
	}
	sse_object(s, j);
	json_decref(j);
}

void agent_sse_feed(struct agent_sse *s, const char *data, size_t len)
{
	while (len > 0 && !s->error) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		if (base_buf_add(&s->line, data, take)) {
			sse_fail(s, BASE_E_TOOBIG, "%s", "a stream line is too long");
			return;
		}
		if (!nl)
			return;
		sse_line(s, s->line.data, s->line.len);
		base_buf_reset(&s->line);
		data += take + 1;
		len -= take + 1;
	}
}

/* ---- one attempt ----------------------------------------------------- */

struct attempt {
	CURL *curl;
	struct agent_sse sse;
	long status;
	struct base_buf body; /* error body, or the start of a non-SSE body */
	uint64_t last_byte_ns;
	long idle_ms;
	bool idle_expired;
	bool cancelled;
	const atomic_bool *cancel;
	size_t delivered; /* bytes of text delivered (reply length) */
};

/* Keep the body's first ERRBODY_CAP bytes (an error's message, or a
 * completion sent whole). */
static void keep_head(struct base_buf *body, const char *ptr, size_t n)
{
	if (body->len >= ERRBODY_CAP)
		return;
	int rc = base_buf_add(body, ptr, BASE_MIN(n, ERRBODY_CAP - body->len));
	(void)rc; /* out of memory only shortens it */
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct attempt *a = ud;
	size_t n = size * nmemb;
	a->last_byte_ns = base_now_ns();
	if (a->status == 0)
		curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &a->status);
	if (a->status >= 400) {
		keep_head(&a->body, ptr, n);
		return n;
	}
	if (!a->sse.any)
		keep_head(&a->body, ptr, n);
	agent_sse_feed(&a->sse, ptr, n);
	if (a->sse.stopped || a->sse.error)
		return 0; /* abort the transfer */
	return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)dt, (void)dn, (void)ut, (void)un;
	struct attempt *a = ud;
	if (a->cancel && atomic_load(a->cancel)) {
		a->cancelled = true;
		return 1;
	}
	if ((base_now_ns() - a->last_byte_ns) / 1000000 > (uint64_t)a->idle_ms) {
		a->idle_expired = true;
		return 1;
	}
	return 0;
}

/* The message of an error body: {"error": {"message"}} or {"error": "..."}
 * or {"message"}, else the body's first line. */
static void error_message(const struct base_buf *body, char *out, size_t cap)
{
	json_t *j = json_loadb(body->data, body->len, 0, NULL);
	const char *m = NULL;
	if (j) {
		json_t *e = json_object_get(j, "error");
		m = json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "message"));
		if (!m)
			m = json_string_value(json_object_get(j, "message"));
		if (!m)
			m = json_string_value(json_object_get(j, "detail"));
	}
	if (m) {
		snprintf(out, cap, "%s", m);
	} else {
		size_t n = strcspn(body->data, "\r\n");
		snprintf(out, cap, "%.*s", (int)BASE_MIN(n, (size_t)200), body->data);
	}
	json_decref(j);
}

static char *request_body(const struct agent_llm *l, const struct agent_msg *msgs, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{ssso}", "role", msgs[i].role, "content",
						     agent__json_text(msgs[i].content, strlen(msgs[i].content))));
	json_t *req = json_pack("{sosb}", "messages", arr, "stream", 1);
	if (l->model && *l->model)
		json_object_set_new(req, "model", json_string(l->model));
	if (l->temperature >= 0)
		json_object_set_new(req, "temperature", json_real(l->temperature));
	if (l->max_tokens > 0)
		json_object_set_new(req, "max_tokens", json_integer(l->max_tokens));
	if (l->extra) {
		json_object_update(req, (json_t *)l->extra);
		json_object_set_new(req, "stream", json_true());
	}
	char *s = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	char *out = base_strdup(s);
	free(s); /* jansson's allocation */
	return out;
}

enum { TRY_OK, TRY_RETRY, TRY_FAIL };

static int attempt_once(const struct agent_llm *l, const char *url, const char *body, agent_delta_fn *fn,
			void *payload, struct base_buf *reply, struct base_err *err)
{
	struct attempt a = { 0 };
	a.curl = curl_easy_init();
	if (!a.curl) {
		base_err_set(err, BASE_E_NOMEM, "cannot start an HTTP client");
		return TRY_FAIL;
	}
	size_t reply0 = reply ? reply->len : 0;
	agent_sse_init(&a.sse, fn, payload, reply);
	base_buf_init(&a.body, ERRBODY_CAP + 1);
	a.idle_ms = l->idle_timeout_ms > 0 ? l->idle_timeout_ms : 120000;
	a.last_byte_ns = base_now_ns();
	a.cancel = l->cancel;
	struct curl_slist *hdr = NULL;
	hdr = curl_slist_append(hdr, "Content-Type: application/json");
	hdr = curl_slist_append(hdr, "Accept: text/event-stream");
	char *auth = NULL;
	if (l->key && *l->key) {
		auth = base_strfmt("Authorization: Bearer %s", l->key);
		hdr = curl_slist_append(hdr, auth);
	}
	char curl_msg[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(a.curl, CURLOPT_URL, url);
	curl_easy_setopt(a.curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(a.curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(a.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a.curl, CURLOPT_ERRORBUFFER, curl_msg);
	curl_easy_setopt(a.curl, CURLOPT_CONNECTTIMEOUT_MS,
			 l->connect_timeout_ms > 0 ? l->connect_timeout_ms : 10000L);
	if (l->total_timeout_ms > 0)
		curl_easy_setopt(a.curl, CURLOPT_TIMEOUT_MS, l->total_timeout_ms);
	curl_easy_setopt(a.curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(a.curl, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(a.curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(a.curl, CURLOPT_XFERINFODATA, &a);
	curl_easy_setopt(a.curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(a.curl, CURLOPT_PROTOCOLS_STR, "http,https");
	CURLcode cc = curl_easy_perform(a.curl);
	if (a.status == 0)
		curl_easy_getinfo(a.curl, CURLINFO_RESPONSE_CODE, &a.status);
	a.delivered = reply ? reply->len - reply0 : 0;
	bool any_text = a.delivered > 0 || a.sse.stopped;
	int res;
	if (a.sse.stopped) {
		res = TRY_OK;
	} else if (a.cancelled) {
		base_err_set(err, BASE_E_INTERRUPTED, "LLM server %s: the request was cancelled", url);
		res = TRY_FAIL;
	} else if (a.idle_expired) {
		base_err_set(err, BASE_E_IO, "LLM server %s: no data for %ld ms (timeout)", url, a.idle_ms);
		res = TRY_FAIL;
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		base_err_set(err, BASE_E_IO, "LLM server %s: timed out: %s", url, *curl_msg ? curl_msg : curl_easy_strerror(cc));
		res = TRY_FAIL;
	} else if (a.status >= 400) {
		char m[200];
		error_message(&a.body, m, sizeof(m));
		base_err_set(err, BASE_E_IO, "LLM server %s: HTTP %ld: %s", url, a.status, m);
		res = a.status >= 500 ? TRY_RETRY : TRY_FAIL;
	} else if (a.sse.error) {
		base_err_set(err, a.sse.error, "LLM server %s: %s", url, a.sse.msg);
		res = TRY_FAIL;
	} else if (cc != CURLE_OK) {
		base_err_set(err, BASE_E_IO, "LLM server %s: %s%s", url, *curl_msg ? curl_msg : curl_easy_strerror(cc),
			     any_text ? " (the answer was cut off)" : "");
		res = any_text ? TRY_FAIL : TRY_RETRY;
	} else if (!a.sse.any && !a.sse.done) {
		/* not a stream: a whole JSON completion? */
		json_t *j = json_loadb(a.body.data, a.body.len, 0, NULL);
		if (j && json_object_get(j, "choices")) {
			sse_object(&a.sse, j);
			a.sse.done = true;
		}
		json_decref(j);
		if (a.sse.error) {
			base_err_set(err, a.sse.error, "LLM server %s: %s", url, a.sse.msg);
			res = TRY_FAIL;
		} else if (a.sse.done) {
			res = TRY_OK;
		} else {
			base_err_set(err, BASE_E_IO, "LLM server %s: the answer is neither a stream nor a completion", url);
			res = TRY_RETRY;
		}
	} else if (!a.sse.done) {
		base_err_set(err, BASE_E_IO, "LLM server %s: the stream ended before [DONE]%s", url,
			     any_text ? " (the answer was cut off)" : "");
		res = any_text ? TRY_FAIL : TRY_RETRY;
	} else {
		res = TRY_OK;
	}
	if (res == TRY_RETRY && reply)
		base_buf_truncate(reply, reply0);
	curl_slist_free_all(hdr);
	base_free(auth);
	curl_easy_cleanup(a.curl);
	agent_sse_release(&a.sse);
	base_buf_release(&a.body);
	return res;
}

int agent_llm_chat(const struct agent_llm *l, const struct agent_msg *msgs, size_t n, agent_delta_fn *fn,
		   void *payload, struct base_buf *reply, struct base_err *err)
{
	if (!l->url || !*l->url)
		return base_err_set(err, BASE_E_INVAL, "no LLM endpoint: pass --llm URL or set LODE_LLM_URL");
	if (strncmp(l->url, "http://", 7) != 0 && strncmp(l->url, "https://", 8) != 0)
		return base_err_set(err, BASE_E_INVAL, "LLM endpoint '%s' is not an http(s) URL", l->url);
	size_t ul = strlen(l->url);
	while (ul > 0 && l->url[ul - 1] == '/')
		ul--;
	char *url = base_strfmt("%.*s/chat/completions", (int)ul, l->url);
	char *body = request_body(l, msgs, n);
	int retries = l->retries < 0 ? 0 : l->retries == 0 ? 3 : l->retries;
	long backoff = l->backoff_ms > 0 ? l->backoff_ms : 500;
	struct base_err e = { 0 };
	int res = TRY_FAIL;
	for (int i = 0; i <= retries; i++) {
		res = attempt_once(l, url, body, fn, payload, reply, &e);
		if (res != TRY_RETRY || (l->cancel && atomic_load(l->cancel)))
			break;
		if (i < retries) {
			BASE_LOG(BASE_LOG_INFO, "%s; retrying in %ld ms", e.msg, backoff);
			struct timespec ts = { backoff / 1000, (backoff % 1000) * 1000000L };
			while (nanosleep(&ts, &ts) != 0) {
			}
			backoff *= 2;
		}
	}
	base_free(url);
	base_free(body);
	if (res == TRY_OK)
		return BASE_OK;
	if (res == TRY_RETRY)
		return base_err_set(err, e.code, "%.200s (after %d attempts)", e.msg, retries + 1);
	if (err)
		*err = e;
	return e.code;
}
