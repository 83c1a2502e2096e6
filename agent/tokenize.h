/*
 * tokenize.h: counting tokens the way the target LLM does.
 *
 * The context budget is a promise: the packed prompt must fit the user's
 * model window. A counter is opened from a spec:
 *
 *   "estimate"            no tokenizer: a documented conservative estimate
 *                         (never below the true count for the supported
 *                         families on code and prose); outputs say so
 *   "PATH/tokenizer.json" a Hugging Face tokenizer (byte-level BPE)
 *   "PATH.gguf"           the vocabulary of a GGUF model
 *   "http://HOST:PORT"    the LLM server's /tokenize endpoint
 *
 * Threads: agent_tok_count may be called from several threads at once.
 */
#ifndef LODE_AGENT_TOKENIZE_H
#define LODE_AGENT_TOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct agent_tok;

/** Open a counter; NULL or "" gives "estimate". */
struct agent_tok *agent_tok_open(const char *spec, struct base_err *err);
void agent_tok_close(struct agent_tok *t);

/** "estimate", "qwen2 (tokenizer.json)", ... for outputs and logs. */
const char *agent_tok_name(const struct agent_tok *t);
/** True when counts are exact (a real tokenizer), false for the estimate. */
bool agent_tok_exact(const struct agent_tok *t);

/** Tokens in text[0,len) (no special tokens added). */
int agent_tok_count(struct agent_tok *t, const char *text, size_t len, size_t *out, struct base_err *err);

/**
 * Token ids of text[0,len) into ids (cap entries); *n gets the count (which
 * may exceed cap). BASE_E_UNSUPPORTED for the estimate.
 */
int agent_tok_encode(struct agent_tok *t, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n,
		     struct base_err *err);

#endif /* LODE_AGENT_TOKENIZE_H */
