/*
 * bpe.h: the byte-level BPE core behind agent_tok (private to agent/).
 *
 * A struct bpe is built once by a loader (tok_json.c for tokenizer.json,
 * agent_tok_from_vocab for arrays such as a GGUF vocabulary) and is then
 * read-only: bpe_encode may run on several threads at once.
 *
 * Encoding, in order:
 *   1. added tokens: the exact strings of the added/special tokens are
 *      matched in the raw text, leftmost and then longest first; each match
 *      is one token and cuts the text into segments;
 *   2. normalisation: NFC (utf8proc) when the tokenizer declares it, for
 *      segments that are valid UTF-8 (others are left as they are);
 *   3. pre-tokenisation: the family's regexes (PCRE2, UTF + UCP, JIT when
 *      available) cut a segment into pieces, one after the other: each
 *      splits every piece the one before made into its matches and the
 *      gaps between them, which stay pieces too. So bytes a regex cannot
 *      match (invalid UTF-8: PCRE2_MATCH_INVALID_UTF never matches them)
 *      form pieces of their own, and every byte is encoded;
 *   4. BPE: each piece starts as its bytes (their tokens: a byte without
 *      one is dropped, see bpe_finish) and the adjacent pair of lowest merge rank,
 *      leftmost on ties, is merged until no pair has a rank. With
 *      ignore_merges (Llama 3), a piece that is a vocabulary entry is that
 *      token outright.
 */
#ifndef LODE_AGENT_BPE_H
#define LODE_AGENT_BPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Pre-tokenizer families, named as GGUF's tokenizer.ggml.pre names them. */
enum bpe_pre {
	BPE_PRE_GPT2,           /* GPT-2: ' ?\p{L}+| ?\p{N}+|...' */
	BPE_PRE_LLAMA3,         /* llama-bpe: digits in runs of up to 3 */
	BPE_PRE_QWEN2,          /* as llama3 but one digit a piece */
	BPE_PRE_STARCODER,      /* GPT-2's after one digit a piece (StarCoder, Refact, ...) */
	BPE_PRE_FALCON,         /* punctuation runs, GPT-2's, then digits by threes */
	BPE_PRE_DEEPSEEK_CODER, /* DeepSeek Coder (v1): line breaks, letters, punctuation, CJK, digits */
	BPE_PRE_DEEPSEEK_LLM,   /* DeepSeek LLM and V2 (Coder V2): as deepseek-coder with cased letters */
	BPE_PRE_CUSTOM,         /* regexes from tokenizer.json that are none of the above */
};

/* The most regexes a pre-tokenizer applies in sequence. */
#define BPE_MAX_SPLITS 8

#define BPE_NFC 1u           /* NFC-normalise segments before splitting */
#define BPE_IGNORE_MERGES 2u /* a piece found in the vocabulary is one token */

struct bpe;

/**
 * A new, empty tokenizer for `pre`. For BPE_PRE_CUSTOM, regex[0, n_regex)
 * are the patterns, applied in sequence (see pre-tokenisation above);
 * otherwise they are ignored. NULL with err set when a regex does not
 * compile, or there are none or more than BPE_MAX_SPLITS.
 */
struct bpe *bpe_new(enum bpe_pre pre, const char *const *regex, size_t n_regex, unsigned flags,
		    struct base_err *err);
void bpe_free(struct bpe *b);

/** Token `id` is the byte-level string s[0,len) ("Ġthe"). */
int bpe_add_token(struct bpe *b, int32_t id, const char *s, size_t len, struct base_err *err);
/** Token `id` is matched verbatim in the raw text (s is raw UTF-8). */
int bpe_add_special(struct bpe *b, int32_t id, const char *s, size_t len, struct base_err *err);
/**
 * The next merge (ranks count up from 0 in call order): byte-level strings
 * a and b. A merge whose parts or result are not tokens is ignored, as the
 * reference implementations do.
 */
int bpe_add_merge(struct bpe *b, const char *a, size_t alen, const char *c, size_t clen, struct base_err *err);
/** Done adding: checks that every byte has a token. */
int bpe_finish(struct bpe *b, struct base_err *err);

/** Tokens and ids as agent_tok_encode (ids may be NULL when cap is 0). */
int bpe_encode(const struct bpe *b, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n,
	       struct base_err *err);

/** The family's name ("qwen2", "llama3", "gpt2", "starcoder", ..., "custom"). */
const char *bpe_pre_name(enum bpe_pre pre);
/** The family whose tokenizer.json spells its one Split regex so, or BPE_PRE_CUSTOM. */
enum bpe_pre bpe_pre_from_regex(const char *regex);
/** The regex the GPT-2 pre-tokenizer (ByteLevel's use_regex) applies. */
extern const char bpe_gpt2_regex[];
/** The main names bpe_pre_from_gguf knows, for messages. */
#define BPE_PRE_GGUF_NAMES "qwen2, llama-bpe, gpt2, starcoder, refact, falcon, deepseek-coder, deepseek-llm"
/** The family for GGUF's tokenizer.ggml.pre; false if not supported. */
bool bpe_pre_from_gguf(const char *pre, enum bpe_pre *out);

/**
 * Load a Hugging Face tokenizer.json (model.type "BPE" over ByteLevel).
 * *pre gets the family found from the Split regex.
 */
struct bpe *bpe_load_json(const char *path, enum bpe_pre *pre, struct base_err *err);

#endif /* LODE_AGENT_BPE_H */
