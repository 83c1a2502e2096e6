/*
 * tok_http.c: counting with the LLM server's tokenizer (llama.cpp's
 * llama-server: POST /tokenize {"content": text} -> {"tokens": [ids]}).
 *
 * Each call makes one request with its own curl handle (thread-safe; the
 * connection is not reused, so this counter suits checks, not packing
 * thousands of chunks). Timeouts: 5 s to connect, 60 s in all. A server
 * that cannot be reached, answers non-2xx or with something other than a
 * token array is an error naming the URL; nothing is retried.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "agent/tok_internal.h"

#include "base/banned.h"

struct tok_http {
	char *url; /* .../tokenize */
};

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct tok_http *agent__tok_http_open(const char *url, struct base_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, curl_init_once);
	size_t n = strlen(url);
	if (n > 2000) {
		base_err_set(err, BASE_E_INVAL, "tokenizer URL too long");
		return NULL;
	}
	while (n > 0 && url[n - 1] == '/')
		n--;
	struct tok_http *h = base_calloc(1, sizeof(*h));
	h->url = base_strfmt("%.*s/tokenize", (int)n, url);
	return h;
}

void agent__tok_http_close(struct tok_http *h)
{
	if (!h)
		return;
	base_free(h->url);
	base_free(h);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *payload)
{
	struct base_buf *b = payload;
	if (base_buf_add(b, data, size * nmemb) != BASE_OK)
		return 0; /* curl then fails with CURLE_WRITE_ERROR */
	return size * nmemb;
}

int agent__tok_http_encode(struct tok_http *h, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n,
			   struct base_err *err)
{
	json_t *req = json_object();
	json_object_set_new(req, "content", json_stringn_nocheck(text, len));
	json_object_set_new(req, "add_special", json_false());
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!body)
		return base_err_set(err, BASE_E_NOMEM, "%s: cannot build the request", h->url);
	CURL *c = curl_easy_init();
	if (!c) {
		free(body); /* jansson allocates with malloc */
		return base_err_set(err, BASE_E_NOMEM, "%s: cannot start curl", h->url);
	}
	struct base_buf resp = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	char cerr[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, h->url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	CURLcode cc = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(body);
	int rc = BASE_OK;
	if (cc != CURLE_OK) {
		rc = base_err_set(err, BASE_E_IO, "tokenizer server %s unreachable: %s", h->url,
				  cerr[0] ? cerr : curl_easy_strerror(cc));
		goto out;
	}
	if (status < 200 || status > 299) {
		rc = base_err_set(err, BASE_E_IO, "tokenizer server %s answered HTTP %ld", h->url, status);
		goto out;
	}
	json_error_t jerr;
	json_t *doc = json_loadb(resp.data, resp.len, 0, &jerr);
	json_t *toks = json_object_get(doc, "tokens");
	if (!json_is_array(toks)) {
		rc = base_err_set(err, BASE_E_PARSE, "tokenizer server %s: the answer has no \"tokens\" array", h->url);
	} else {
		*n = json_array_size(toks);
		for (size_t i = 0; ids && i < *n && i < cap; i++) {
			json_t *e = json_array_get(toks, i);
			if (json_is_object(e)) /* with_pieces: {"id": N, "piece": ...} */
				e = json_object_get(e, "id");
			ids[i] = json_is_integer(e) ? (int32_t)json_integer_value(e) : -1;
		}
	}
	json_decref(doc);
out:
	base_buf_release(&resp);
	return rc;
}
