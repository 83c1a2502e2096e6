/*
 * tok_internal.h: the counters behind agent_tok other than BPE (private to
 * agent/): the conservative estimate and an LLM server's /tokenize.
 */
#ifndef LODE_AGENT_TOK_INTERNAL_H
#define LODE_AGENT_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/** The estimate (tok_estimate.c): an upper bound for qwen2 and llama3. */
size_t agent__tok_estimate(const char *text, size_t len);

struct tok_http;

/** A client for "http://HOST:PORT[/prefix]": POST {prefix}/tokenize. */
struct tok_http *agent__tok_http_open(const char *url, struct base_err *err);
void agent__tok_http_close(struct tok_http *h);
/** Thread-safe: one curl handle per call. */
int agent__tok_http_encode(struct tok_http *h, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n,
			   struct base_err *err);

struct agent_tok;
/** The byte-level BPE vocabulary of a GGUF file (tok_gguf.c); `name` labels the counter. */
struct agent_tok *agent__tok_gguf_open(const char *path, const char *name, struct base_err *err);

#endif /* LODE_AGENT_TOK_INTERNAL_H */
