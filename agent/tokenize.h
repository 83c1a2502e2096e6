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
 *   "PATH.gguf"           the byte-level BPE vocabulary of a GGUF model
 *                         (tokenizer.ggml.model "gpt2"; tokens, merges,
 *                         token_type, pre), through agent_tok_from_vocab
 *   "http://HOST:PORT[/P]" the LLM server's P/tokenize endpoint
 *                         (llama.cpp: POST {"content": text} ->
 *                         {"tokens": [ids...]}); one request per count
 *
 * Byte-level BPE (tokenizer.json, vocabulary arrays): pre-tokenizer
 * families qwen2, llama3 (llama-bpe) and gpt2, told apart by the Split
 * regex of tokenizer.json or by GGUF's tokenizer.ggml.pre; added/special
 * tokens are matched verbatim in the text (so "<|im_end|>" inside a chunk
 * counts 1); NFC normalisation when declared (Qwen). Token ids match the
 * Hugging Face reference on valid UTF-8. Invalid UTF-8 never fails: bytes
 * that are not part of a valid character are encoded one piece per run, as
 * their byte tokens (NFC is skipped for a segment with invalid UTF-8).
 *
 * The estimate (no tokenizer): see tok_estimate.c. It is an upper bound of
 * the qwen2 and llama3 counts, checked on a corpus of code, prose and
 * Unicode edge cases (tests/agent/test_tokenize.c); it over-counts code by
 * roughly a third.
 *
 * Threads: a counter is immutable once open; agent_tok_count and
 * agent_tok_encode may be called from several threads at once.
 * Errors: open fails with BASE_E_IO/BASE_E_PARSE/BASE_E_UNSUPPORTED and a
 * message naming the file or field; counting fails only for the server
 * (BASE_E_IO: unreachable, with the URL in the message) or out of memory.
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

/**
 * A byte-level BPE vocabulary given as arrays, for loaders such as GGUF's:
 * tokens[i] is token i in the byte-level alphabet ("Ġthe"); merges are
 * "a b" strings in rank order; types are GGUF token types (1 normal,
 * 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte) or NULL (all
 * normal); types 3 and 4 are matched verbatim in the text, 5 is skipped.
 * pre is tokenizer.ggml.pre ("qwen2", "llama-bpe", "gpt2", ...).
 * name labels the counter ("qwen2 (model.gguf)"). The arrays are copied.
 */
struct agent_tok_vocab {
	const char *const *tokens;
	size_t n_tokens;
	const char *const *merges;
	size_t n_merges;
	const int32_t *types;
	const char *pre;
	bool nfc; /* normalise to NFC first (GGUF does not say: qwen2 sets it) */
	bool ignore_merges; /* llama3 sets it */
};
struct agent_tok *agent_tok_from_vocab(const struct agent_tok_vocab *v, const char *name, struct base_err *err);

#endif /* LODE_AGENT_TOKENIZE_H */
