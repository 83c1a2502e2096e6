/*
 * tok_json.c: a Hugging Face tokenizer.json into a struct bpe (bpe.h).
 *
 * Understood: model.type "BPE" with vocab, merges (either "a b" strings or
 * ["a", "b"] pairs) and ignore_merges; normalizer null, NFC, or a Sequence
 * of those; pre_tokenizer ByteLevel (use_regex: GPT-2's pattern), Split (a
 * Regex pattern, behaviour Isolated), Digits, or a Sequence of those;
 * added_tokens (every entry is matched verbatim, as both Hugging Face and
 * llama.cpp do). Anything else is refused with a message naming the field,
 * so a count is never silently wrong.
 */
#include <string.h>

#include <jansson.h>

#include "agent/bpe.h"

#include "base/banned.h"

static int refuse(struct base_err *err, const char *path, const char *what)
{
	return base_err_set(err, BASE_E_UNSUPPORTED, "%s: %s", path, what);
}

static int normalizer(const char *path, json_t *n, unsigned *flags, struct base_err *err)
{
	if (!n || json_is_null(n))
		return BASE_OK;
	const char *type = json_string_value(json_object_get(n, "type"));
	if (!type)
		return refuse(err, path, "normalizer without a type");
	if (strcmp(type, "NFC") == 0) {
		*flags |= BPE_NFC;
		return BASE_OK;
	}
	if (strcmp(type, "Sequence") == 0) {
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(n, "normalizers"), i, e) {
			int rc = normalizer(path, e, flags, err);
			if (rc)
				return rc;
		}
		return BASE_OK;
	}
	return base_err_set(err, BASE_E_UNSUPPORTED, "%s: normalizer \"%s\" is not supported (NFC only)", path, type);
}

/* The regexes a pre-tokenizer applies, in order. */
struct regexes {
	const char *re[BPE_MAX_SPLITS];
	size_t n;
};

static int add_regex(const char *path, struct regexes *r, const char *re, struct base_err *err)
{
	if (r->n == BPE_MAX_SPLITS)
		return base_err_set(err, BASE_E_UNSUPPORTED, "%s: pre_tokenizer has more than %d splitting steps", path,
				    BPE_MAX_SPLITS);
	r->re[r->n++] = re;
	return BASE_OK;
}

/* Append the regexes of pre-tokenizer p to r. */
static int pre_tokenizer(const char *path, json_t *p, struct regexes *r, struct base_err *err)
{
	const char *type = json_string_value(json_object_get(p, "type"));
	if (!type)
		return refuse(err, path, "pre_tokenizer missing (a byte-level BPE needs one)");
	if (strcmp(type, "ByteLevel") == 0) {
		if (json_is_true(json_object_get(p, "add_prefix_space")))
			return refuse(err, path, "pre_tokenizer ByteLevel with add_prefix_space is not supported");
		json_t *ur = json_object_get(p, "use_regex");
		return !ur || json_is_true(ur) ? add_regex(path, r, bpe_gpt2_regex, err) : BASE_OK;
	}
	if (strcmp(type, "Split") == 0) {
		const char *re = json_string_value(json_object_get(json_object_get(p, "pattern"), "Regex"));
		const char *beh = json_string_value(json_object_get(p, "behavior"));
		if (!re)
			return refuse(err, path, "pre_tokenizer Split without a Regex pattern");
		if (!beh || strcmp(beh, "Isolated") != 0 || json_is_true(json_object_get(p, "invert")))
			return refuse(err, path, "pre_tokenizer Split: only behavior Isolated is supported");
		return add_regex(path, r, re, err);
	}
	if (strcmp(type, "Digits") == 0)
		return add_regex(path, r, json_is_true(json_object_get(p, "individual_digits")) ? "\\p{N}" : "\\p{N}+",
				 err);
	if (strcmp(type, "Sequence") == 0) {
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(p, "pretokenizers"), i, e) {
			int rc = pre_tokenizer(path, e, r, err);
			if (rc)
				return rc;
		}
		return BASE_OK;
	}
	return base_err_set(err, BASE_E_UNSUPPORTED, "%s: pre_tokenizer \"%s\" is not supported", path, type);
}

static int merges(const char *path, struct bpe *b, json_t *list, struct base_err *err)
{
	if (!json_is_array(list))
		return refuse(err, path, "model.merges is not an array");
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e) {
		int rc;
		if (json_is_string(e)) {
			const char *s = json_string_value(e);
			size_t len = json_string_length(e);
			const char *sp = memchr(s, ' ', len);
			if (!sp)
				return base_err_set(err, BASE_E_PARSE, "%s: model.merges[%zu] has no space", path, i);
			rc = bpe_add_merge(b, s, (size_t)(sp - s), sp + 1, len - (size_t)(sp - s) - 1, err);
		} else if (json_is_array(e) && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
			   json_is_string(json_array_get(e, 1))) {
			json_t *a = json_array_get(e, 0), *c = json_array_get(e, 1);
			rc = bpe_add_merge(b, json_string_value(a), json_string_length(a), json_string_value(c),
					   json_string_length(c), err);
		} else {
			return base_err_set(err, BASE_E_PARSE, "%s: model.merges[%zu] is neither \"a b\" nor [a, b]",
					    path, i);
		}
		if (rc)
			return rc;
	}
	return BASE_OK;
}

struct bpe *bpe_load_json(const char *path, enum bpe_pre *pre, struct base_err *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	if (!root) {
		base_err_set(err, BASE_E_PARSE, "%s:%d: %s", path, jerr.line, jerr.text);
		return NULL;
	}
	struct bpe *b = NULL;
	int rc = BASE_OK;
	json_t *model = json_object_get(root, "model");
	const char *mtype = json_string_value(json_object_get(model, "type"));
	json_t *vocab = json_object_get(model, "vocab");
	unsigned flags = 0;
	struct regexes re = { { NULL }, 0 };
	if (!mtype || strcmp(mtype, "BPE") != 0) {
		rc = base_err_set(err, BASE_E_UNSUPPORTED, "%s: model.type is \"%s\", not BPE", path,
				  mtype ? mtype : "(missing)");
		goto out;
	}
	if (!json_is_object(vocab)) {
		rc = refuse(err, path, "model.vocab is not an object");
		goto out;
	}
	if (json_is_true(json_object_get(model, "byte_fallback"))) {
		rc = refuse(err, path, "model.byte_fallback (a SentencePiece-style BPE) is not supported");
		goto out;
	}
	if (json_is_true(json_object_get(model, "ignore_merges")))
		flags |= BPE_IGNORE_MERGES;
	if ((rc = normalizer(path, json_object_get(root, "normalizer"), &flags, err)) != 0)
		goto out;
	if ((rc = pre_tokenizer(path, json_object_get(root, "pre_tokenizer"), &re, err)) != 0)
		goto out;
	if (re.n == 0) {
		rc = refuse(err, path, "pre_tokenizer has no regex");
		goto out;
	}
	*pre = re.n == 1 ? bpe_pre_from_regex(re.re[0]) : BPE_PRE_CUSTOM;
	if (!(b = bpe_new(*pre, re.re, re.n, flags, err))) {
		rc = err ? err->code : BASE_E_PARSE;
		goto out;
	}
	const char *key;
	json_t *val;
	json_object_foreach(vocab, key, val) {
		if (!json_is_integer(val)) {
			rc = base_err_set(err, BASE_E_PARSE, "%s: model.vocab[\"%s\"] is not an integer", path, key);
			goto out;
		}
		json_int_t id = json_integer_value(val);
		if (id < 0 || id > INT32_MAX) {
			rc = base_err_set(err, BASE_E_PARSE, "%s: model.vocab[\"%s\"] out of range", path, key);
			goto out;
		}
		if ((rc = bpe_add_token(b, (int32_t)id, key, strlen(key), err)) != 0)
			goto out;
	}
	if ((rc = merges(path, b, json_object_get(model, "merges"), err)) != 0)
		goto out;
	size_t i;
	json_array_foreach(json_object_get(root, "added_tokens"), i, val) {
		json_t *content = json_object_get(val, "content");
		json_t *id = json_object_get(val, "id");
		if (!json_is_string(content) || !json_is_integer(id)) {
			rc = base_err_set(err, BASE_E_PARSE, "%s: added_tokens[%zu] needs content and id", path, i);
			goto out;
		}
		if ((rc = bpe_add_special(b, (int32_t)json_integer_value(id), json_string_value(content),
					  json_string_length(content), err)) != 0)
			goto out;
	}
	rc = bpe_finish(b, err);
out:
	json_decref(root);
	if (rc) {
		bpe_free(b);
		return NULL;
	}
	return b;
}
