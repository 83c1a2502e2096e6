/*
 * wordpiece: BERT's tokenizer (Hugging Face BertTokenizer / tokenizers'
 * BertNormalizer + BertPreTokenizer + WordPiece + [CLS] A [SEP]) over a
 * vocabulary stored the llama.cpp way in GGUF: word-initial pieces start
 * with U+2581 ("\xe2\x96\x81the"), continuation pieces carry no "##"
 * ("ing"), special tokens keep their brackets ("[CLS]").
 *
 * The algorithm, as in tokenizers' BertNormalizer and BertPreTokenizer:
 *   1. clean: drop NUL, U+FFFD, invalid UTF-8 and control characters
 *      (categories Cc Cf Cs Co Cn except \t \n \r); white space (Rust's
 *      char::is_whitespace set) separates words;
 *   2. every CJK ideograph (BERT's ranges) is a word of its own;
 *   3. uncased vocabularies (WP_LOWERCASE): NFD, drop nonspacing marks
 *      (Mn), lower-case (simple case mapping);
 *   4. punctuation (ASCII !-/ :-@ [-` {-~ and Unicode P*) is a word of its
 *      own;
 *   5. each word: more than 100 characters -> [UNK]; else greedy
 *      longest-match-first pieces, the first looked up as word-initial and
 *      the rest as continuations; a word with an unmatched rest -> [UNK].
 * Text that spells a special token ("[SEP]") is tokenized as text, never
 * as the special token: code under index is data, not instructions.
 *
 * Unicode: with utf8proc (LODE_HAVE_UTF8PROC, found by CMake) the rules
 * above are exact. Without it, wp_unicode_exact() is false and wp_new
 * refuses with BASE_E_UNSUPPORTED unless WP_APPROX_UNICODE is set; then
 * ASCII text is still tokenized exactly, but non-ASCII characters get no
 * category rules: no lower-casing or accent stripping, no Unicode
 * punctuation split, no control-character removal (only the white-space
 * and CJK rules, which need no tables, still apply); a warning is logged.
 *
 * Ownership: wp_new copies the vocabulary; the tokenizer does not borrow
 * the GGUF handle. Threads: a tokenizer is immutable after wp_new;
 * wp_encode may run on many threads at once and allocates nothing.
 */
#ifndef LODE_EMBED_WORDPIECE_H
#define LODE_EMBED_WORDPIECE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "embed/gguf.h"

struct wp_tokenizer;

enum wp_flags {
	WP_LOWERCASE = 1 << 0,      /* uncased vocabulary: NFD, strip Mn, lower-case */
	WP_KEEP_ACCENTS = 1 << 1,   /* with WP_LOWERCASE: lower-case only */
	WP_APPROX_UNICODE = 1 << 2, /* accept a build without utf8proc (see above) */
	WP_GUESS_CASE = 1 << 3,     /* wp_new_gguf: set WP_LOWERCASE from wp_guess_case */
};

/* Words longer than this many characters become [UNK] (BERT's value). */
#define WP_MAX_WORD_CHARS 100

struct wp_options {
	unsigned flags;  /* enum wp_flags */
	int32_t unk_id;  /* -1: the token "[UNK]" */
	int32_t cls_id;  /* -1: the token "[CLS]" */
	int32_t sep_id;  /* -1: the token "[SEP]" */
};

/** Whether this build has utf8proc's tables (exact Unicode rules). */
bool wp_unicode_exact(void);

/**
 * Guess whether a vocabulary is uncased: WP_LOWERCASE when no piece outside
 * brackets contains an ASCII capital letter, else 0.
 */
unsigned wp_guess_case(const struct gguf_str *tokens, size_t n);

/**
 * Build a tokenizer from n tokens in llama.cpp form (token i has id i).
 * BASE_E_INVAL for an empty vocabulary, a special id out of range or a
 * special token that cannot be found; BASE_E_UNSUPPORTED (see above);
 * BASE_E_TOOBIG for more than 2^30 tokens or a token over 65,535 bytes.
 */
struct wp_tokenizer *wp_new(const struct gguf_str *tokens, size_t n, const struct wp_options *opts,
			    struct base_err *err);

/**
 * Build the tokenizer of a GGUF model: tokenizer.ggml.model must be "bert"
 * (else BASE_E_UNSUPPORTED), tokenizer.ggml.tokens a string array, and the
 * special ids come from tokenizer.ggml.unknown_token_id, cls_token_id
 * (or bos_token_id) and seperator_token_id (sic, or eos_token_id), else by
 * name. Errors name the file and key.
 */
struct wp_tokenizer *wp_new_gguf(const struct gguf *g, unsigned flags, struct base_err *err);

/** Free; wp_free(NULL) is a no-op. */
void wp_free(struct wp_tokenizer *t);

size_t wp_vocab_size(const struct wp_tokenizer *t);
int32_t wp_cls_id(const struct wp_tokenizer *t);
int32_t wp_sep_id(const struct wp_tokenizer *t);
int32_t wp_unk_id(const struct wp_tokenizer *t);
/** Token `id` in llama.cpp form (borrowed, NUL-terminated), or NULL out of range. */
const char *wp_token(const struct wp_tokenizer *t, int32_t id);

/**
 * Tokenize text[0, len) (any bytes) into ids: [CLS] pieces... [SEP], at
 * most max_tokens ids in all (the pieces are cut, [SEP] is kept, as
 * Hugging Face's truncation does). *n is the number written; *truncated
 * (may be NULL) tells whether pieces were cut. BASE_E_INVAL when
 * max_tokens < 2.
 */
int wp_encode(const struct wp_tokenizer *t, const char *text, size_t len, size_t max_tokens, int32_t *ids,
	      size_t *n, bool *truncated);

#endif /* LODE_EMBED_WORDPIECE_H */
