/*
 * tok_gguf.c: the byte-level BPE vocabulary of a GGUF model file into a
 * counter (agent_tok_open("model.gguf")), through agent_tok_from_vocab.
 *
 * Read (llama.cpp's keys): tokenizer.ggml.model, which must be "gpt2"
 * (byte-level BPE; "llama" is SentencePiece and refused), tokenizer.ggml
 * .tokens (strings, id order), tokenizer.ggml.merges ("a b" strings, rank
 * order), tokenizer.ggml.token_type (optional, one per token: control and
 * user-defined tokens are matched verbatim, unused ones skipped) and
 * tokenizer.ggml.pre, the pre-tokenizer family (BPE_PRE_GGUF_NAMES and
 * their aliases in bpe_pre_from_gguf). GGUF does not record the
 * normaliser: qwen2 vocabularies get NFC (as Qwen's tokenizer.json says),
 * llama-bpe gets ignore_merges (as Llama 3's does). A missing or mistyped
 * key fails with the file and the key in the message.
 */
#include <stdio.h>
#include <string.h>

#include "agent/bpe.h"
#include "agent/tok_internal.h"
#include "agent/tokenize.h"
#include "embed/gguf.h"

#include "base/banned.h"

/* A string array under `key` as NUL-terminated copies in *out (heap, one block). */
static int str_array(const struct gguf *g, const char *key, char ***out, size_t *n, struct base_err *err)
{
	const struct gguf_arr *a;
	int rc = gguf_get_arr(g, key, &a, err);
	if (rc)
		return rc;
	if (gguf_arr_type(a) != GGUF_TYPE_STRING)
		return base_err_set(err, BASE_E_PARSE, "%s: %s is not an array of strings", gguf_name(g), key);
	uint64_t len = gguf_arr_len(a);
	size_t bytes = 0;
	for (uint64_t i = 0; i < len; i++) {
		struct gguf_str s = gguf_arr_str(a, i);
		if (memchr(s.ptr, '\0', s.len))
			return base_err_set(err, BASE_E_PARSE, "%s: %s[%llu] holds a NUL byte", gguf_name(g), key,
					    (unsigned long long)i);
		bytes += s.len + 1;
	}
	/* the pointers, then the strings, in one allocation */
	char **v = base_trymalloc(len * sizeof(*v) + bytes + 1);
	if (!v)
		return base_err_set(err, BASE_E_NOMEM, "%s: %s: out of memory", gguf_name(g), key);
	char *p = (char *)(v + len);
	for (uint64_t i = 0; i < len; i++) {
		struct gguf_str s = gguf_arr_str(a, i);
		memcpy(p, s.ptr, s.len);
		p[s.len] = '\0';
		v[i] = p;
		p += s.len + 1;
	}
	*out = v;
	*n = (size_t)len;
	return BASE_OK;
}

/* tokenizer.ggml.token_type, if present, as int32 (one per token). */
static int token_types(const struct gguf *g, size_t n_tokens, int32_t **out, struct base_err *err)
{
	static const char key[] = "tokenizer.ggml.token_type";
	*out = NULL;
	if (gguf_find_key(g, key) < 0)
		return BASE_OK;
	const struct gguf_arr *a;
	int rc = gguf_get_arr(g, key, &a, err);
	if (rc)
		return rc;
	enum gguf_type t = gguf_arr_type(a);
	if (t == GGUF_TYPE_STRING || t == GGUF_TYPE_ARRAY || t == GGUF_TYPE_FLOAT32 || t == GGUF_TYPE_FLOAT64 ||
	    t == GGUF_TYPE_BOOL)
		return base_err_set(err, BASE_E_PARSE, "%s: %s is not an array of integers", gguf_name(g), key);
	if (gguf_arr_len(a) != n_tokens)
		return base_err_set(err, BASE_E_PARSE, "%s: %s has %llu entries for %zu tokens", gguf_name(g), key,
				    (unsigned long long)gguf_arr_len(a), n_tokens);
	int32_t *v = base_trymalloc((n_tokens ? n_tokens : 1) * sizeof(*v));
	if (!v)
		return base_err_set(err, BASE_E_NOMEM, "%s: %s: out of memory", gguf_name(g), key);
	for (size_t i = 0; i < n_tokens; i++) {
		int64_t x = gguf_arr_i64(a, i);
		v[i] = x >= 0 && x <= 6 ? (int32_t)x : 1;
	}
	*out = v;
	return BASE_OK;
}

struct agent_tok *agent__tok_gguf_open(const char *path, const char *name, struct base_err *err)
{
	struct gguf *g = gguf_open(path, err);
	if (!g)
		return NULL;
	struct agent_tok *t = NULL;
	char **tokens = NULL, **merges = NULL;
	size_t n_tokens = 0, n_merges = 0;
	int32_t *types = NULL;
	struct gguf_str model, pre;
	int rc = gguf_get_str(g, "tokenizer.ggml.model", &model, err);
	if (!rc && !(model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0))
		rc = base_err_set(err, BASE_E_UNSUPPORTED,
				  "%s: tokenizer.ggml.model is \"%.*s\": only \"gpt2\" (byte-level BPE) is supported", path,
				  (int)BASE_MIN(model.len, (size_t)64), model.ptr);
	if (!rc)
		rc = gguf_get_str(g, "tokenizer.ggml.pre", &pre, err);
	if (!rc)
		rc = str_array(g, "tokenizer.ggml.tokens", &tokens, &n_tokens, err);
	if (!rc)
		rc = str_array(g, "tokenizer.ggml.merges", &merges, &n_merges, err);
	if (!rc)
		rc = token_types(g, n_tokens, &types, err);
	char pre_name[64] = "";
	enum bpe_pre family = BPE_PRE_GPT2;
	if (!rc) {
		snprintf(pre_name, sizeof(pre_name), "%.*s", (int)BASE_MIN(pre.len, sizeof(pre_name) - 1), pre.ptr);
		if (!bpe_pre_from_gguf(pre_name, &family))
			rc = base_err_set(err, BASE_E_UNSUPPORTED,
					  "%s: tokenizer.ggml.pre \"%s\" is not supported (%s)", path, pre_name,
					  BPE_PRE_GGUF_NAMES);
	}
	if (!rc) {
		struct agent_tok_vocab v = {
			.tokens = (const char *const *)tokens,
			.n_tokens = n_tokens,
			.merges = (const char *const *)merges,
			.n_merges = n_merges,
			.types = types,
			.pre = pre_name,
			.nfc = family == BPE_PRE_QWEN2,
			.ignore_merges = family == BPE_PRE_LLAMA3,
		};
		t = agent_tok_from_vocab(&v, name, err);
	}
	base_free(tokens);
	base_free(merges);
	base_free(types);
	gguf_close(g);
	return t;
}
