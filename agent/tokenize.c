/*
 * tokenize.c: token counters (tokenize.h). So far only the estimate.
 *
 * The estimate: one token per 2.5 bytes, rounded up, plus one per line.
 * Byte-level BPE vocabularies of current coder models (Qwen2, Llama 3)
 * average 3-4 bytes a token on code and prose; 2.5 over-counts them,
 * so a budget filled by the estimate is never exceeded.
 */
#include <string.h>

#include "agent/tokenize.h"

#include "base/banned.h"

struct agent_tok {
	char name[64];
};

struct agent_tok *agent_tok_open(const char *spec, struct base_err *err)
{
	if (spec && *spec && strcmp(spec, "estimate") != 0) {
		base_err_set(err, BASE_E_UNSUPPORTED, "tokenizer '%s': only 'estimate' is supported so far", spec);
		return NULL;
	}
	struct agent_tok *t = base_calloc(1, sizeof(*t));
	memcpy(t->name, "estimate", sizeof("estimate"));
	return t;
}

void agent_tok_close(struct agent_tok *t)
{
	base_free(t);
}

const char *agent_tok_name(const struct agent_tok *t)
{
	return t->name;
}

bool agent_tok_exact(const struct agent_tok *t)
{
	(void)t;
	return false;
}

int agent_tok_count(struct agent_tok *t, const char *text, size_t len, size_t *out, struct base_err *err)
{
	(void)t;
	(void)err;
	size_t lines = 0;
	for (const char *p = text; (p = memchr(p, '\n', len - (size_t)(p - text))) != NULL; p++)
		lines++;
	*out = (len * 2 + 4) / 5 + lines;
	return BASE_OK;
}

int agent_tok_encode(struct agent_tok *t, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n,
		     struct base_err *err)
{
	(void)text, (void)len, (void)ids, (void)cap, (void)n;
	return base_err_set(err, BASE_E_UNSUPPORTED, "the %s tokenizer has no token ids", t->name);
}
