/*
 * tokenize.c: token counters (tokenize.h): the spec, and dispatch to the
 * estimate (tok_estimate.c), byte-level BPE (bpe.c, tok_json.c) or a
 * server's /tokenize (tok_http.c).
 */
#include <stdio.h>
#include <string.h>

#include "agent/bpe.h"
#include "agent/tok_internal.h"
#include "agent/tokenize.h"

#include "base/banned.h"

enum tok_kind { TOK_ESTIMATE, TOK_BPE, TOK_HTTP };

struct agent_tok {
	enum tok_kind kind;
	struct bpe *bpe;
	struct tok_http *http;
	char name[128];
};

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

struct agent_tok *agent_tok_open(const char *spec, struct base_err *err)
{
	struct agent_tok *t = base_calloc(1, sizeof(*t));
	if (!spec || !*spec || strcmp(spec, "estimate") == 0) {
		t->kind = TOK_ESTIMATE;
		snprintf(t->name, sizeof(t->name), "estimate");
		return t;
	}
	if (strncmp(spec, "http://", 7) == 0 || strncmp(spec, "https://", 8) == 0) {
		t->kind = TOK_HTTP;
		if (!(t->http = agent__tok_http_open(spec, err))) {
			base_free(t);
			return NULL;
		}
		snprintf(t->name, sizeof(t->name), "server (%s)", spec);
		return t;
	}
	if (ends_with(spec, ".gguf")) {
		base_free(t);
		return agent__tok_gguf_open(spec, base_name(spec), err);
	}
	enum bpe_pre pre;
	t->kind = TOK_BPE;
	if (!(t->bpe = bpe_load_json(spec, &pre, err))) {
		base_free(t);
		return NULL;
	}
	snprintf(t->name, sizeof(t->name), "%s (%s)", bpe_pre_name(pre), base_name(spec));
	return t;
}

struct agent_tok *agent_tok_from_vocab(const struct agent_tok_vocab *v, const char *name, struct base_err *err)
{
	enum bpe_pre pre;
	if (!v->pre || !bpe_pre_from_gguf(v->pre, &pre)) {
		base_err_set(err, BASE_E_UNSUPPORTED, "%s: pre-tokenizer \"%s\" is not supported (%s)", name,
			     v->pre ? v->pre : "(none)", BPE_PRE_GGUF_NAMES);
		return NULL;
	}
	unsigned flags = (v->nfc ? BPE_NFC : 0) | (v->ignore_merges ? BPE_IGNORE_MERGES : 0);
	struct bpe *b = bpe_new(pre, NULL, 0, flags, err);
	if (!b)
		return NULL;
	int rc = BASE_OK;
	if (v->n_tokens > INT32_MAX)
		rc = base_err_set(err, BASE_E_TOOBIG, "%zu tokens", v->n_tokens);
	for (size_t i = 0; i < v->n_tokens && !rc; i++) {
		int32_t type = v->types ? v->types[i] : 1;
		const char *s = v->tokens[i];
		if (!s || type == 5)
			continue;
		if (type == 3 || type == 4)
			rc = bpe_add_special(b, (int32_t)i, s, strlen(s), err);
		else
			rc = bpe_add_token(b, (int32_t)i, s, strlen(s), err);
	}
	for (size_t i = 0; i < v->n_merges && !rc; i++) {
		const char *m = v->merges[i];
		const char *sp = m ? strchr(m, ' ') : NULL;
		if (!sp)
			rc = base_err_set(err, BASE_E_PARSE, "merge %zu has no space", i);
		else
			rc = bpe_add_merge(b, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), err);
	}
	if (!rc)
		rc = bpe_finish(b, err);
	if (rc) {
		if (err) { /* name the vocabulary */
			char why[sizeof(err->msg)];
			snprintf(why, sizeof(why), "%s", err->msg);
			base_err_set(err, rc, "%s: %s", name, why);
		}
		bpe_free(b);
		return NULL;
	}
	struct agent_tok *t = base_calloc(1, sizeof(*t));
	t->kind = TOK_BPE;
	t->bpe = b;
	snprintf(t->name, sizeof(t->name), "%s (%s)", bpe_pre_name(pre), name);
	return t;
}

void agent_tok_close(struct agent_tok *t)
{
	if (!t)
		return;
	bpe_free(t->bpe);
	agent__tok_http_close(t->http);
	base_free(t);
}

const char *agent_tok_name(const struct agent_tok *t)
{
	return t->name;
}

bool agent_tok_exact(const struct agent_tok *t)
{
	return t->kind != TOK_ESTIMATE;
}

int agent_tok_count(struct agent_tok *t, const char *text, size_t len, size_t *out, struct base_err *err)
{
	return agent_tok_encode(t, text, len, NULL, 0, out, err);
}

int agent_tok_encode(struct agent_tok *t, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n,
		     struct base_err *err)
{
	switch (t->kind) {
	case TOK_BPE:
		return bpe_encode(t->bpe, text, len, ids, cap, n, err);
	case TOK_HTTP:
		return agent__tok_http_encode(t->http, text, len, ids, cap, n, err);
	case TOK_ESTIMATE:
		if (ids)
			return base_err_set(err, BASE_E_UNSUPPORTED, "the %s tokenizer has no token ids", t->name);
		*n = agent__tok_estimate(text, len);
		return BASE_OK;
	}
	return base_err_set(err, BASE_E_API, "tokenizer: bad kind");
}
