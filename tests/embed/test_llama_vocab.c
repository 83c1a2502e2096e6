/*
 * test_llama_vocab.c: GGUF files written by llama.cpp's own converter,
 * tokenized against the ids llama.cpp keeps beside them.
 *
 * llama.cpp's models/ folder holds vocabulary-only GGUF files
 * (ggml-vocab-NAME.gguf, written by convert_hf_to_gguf.py from the models'
 * Hugging Face repositories) and, for most, NAME.gguf.inp (texts, each
 * followed by "\n__ggml_vocab_test__\n") and NAME.gguf.out (a line of ids per text,
 * from the Hugging Face tokenizer without special tokens). So this checks
 * the GGUF reader on files lode did not write, and both tokenizers against
 * Hugging Face on llama.cpp's edge cases (white space runs, accents,
 * emoji, CJK, code):
 *   - every file parses;
 *   - "bert" vocabularies go through WordPiece (the embedder's tokenizer),
 *     "gpt2" ones with a pre-tokenizer lode knows through agent_tok (the
 *     agent's counter), and must match every line; any other is refused
 *     with a message naming the file;
 *   - a vocabulary-only BERT file is refused as a model, naming the file
 *     and the missing tensor.
 *
 * Set LODE_LLAMA_VOCAB to that folder (git clone
 * https://github.com/ggml-org/llama.cpp, then LODE_LLAMA_VOCAB=llama.cpp/models);
 * without it the test skips: CI reaches only Debian and npm, and lode
 * does not copy llama.cpp's files.
 */
#define _XOPEN_SOURCE 700
#include "test.h"

#include <dirent.h>

#include "agent/tokenize.h"
#include "embed/encoder.h"
#include "embed/gguf.h"
#include "embed/wordpiece.h"

#include "base/banned.h"

#define MAX_IDS (1 << 16)

static const char sep[] = "\n__ggml_vocab_test__\n";

/* A tokenizer under test: one of the two, the other NULL. */
struct tok {
	struct wp_tokenizer *wp;
	struct agent_tok *bpe;
};

/* The ids of text[0,len) as " 1 2 3" (llama.cpp's .out form), into line. */
static void encode(const struct tok *t, const char *text, size_t len, int32_t *ids, struct base_buf *line)
{
	size_t n = 0, first = 0, end;
	struct base_err err = { 0, "" };
	if (t->wp) {
		bool cut;
		T_OK(wp_encode(t->wp, text, len, MAX_IDS, ids, &n, &cut));
		T_TRUE(!cut && n >= 2);
		first = 1; /* [CLS] ... [SEP]: the reference has no special tokens */
		end = n - 1;
	} else {
		if (agent_tok_encode(t->bpe, text, len, ids, MAX_IDS, &n, &err))
			T_FAIL("agent_tok_encode: %s", err.msg);
		T_TRUE(n <= MAX_IDS);
		end = n;
	}
	base_buf_truncate(line, 0);
	for (size_t i = first; i < end; i++)
		T_OK(base_buf_addf(line, " %d", ids[i]));
}

/* Every text of path.inp against its line in path.out; returns the number of texts. */
static int check_cases(const char *path, const struct tok *t, int *mismatches)
{
	char name[4096];
	struct base_buf inp = BASE_BUF_INIT(BASE_CAP_TEXT), out = BASE_BUF_INIT(BASE_CAP_TEXT),
			got = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct base_err err = { 0, "" };
	snprintf(name, sizeof(name), "%s.inp", path);
	if (base_buf_read_file(&inp, name, &err))
		T_FAIL("%s", err.msg);
	snprintf(name, sizeof(name), "%s.out", path);
	if (base_buf_read_file(&out, name, &err))
		T_FAIL("%s", err.msg);
	int32_t *ids = base_malloc(MAX_IDS * sizeof(*ids));
	const char *p = inp.data, *q = out.data, *q_end = out.data + out.len, *e;
	int n = 0;
	for (; (e = strstr(p, sep)); p = e + strlen(sep)) { /* every text ends with the separator */
		const char *nl = memchr(q, '\n', (size_t)(q_end - q));
		if (!nl)
			T_FAIL("%s.out: fewer lines than %s.inp has texts", path, path);
		size_t len = (size_t)(e - p);
		encode(t, p, len, ids, &got);
		n++;
		if (got.len != (size_t)(nl - q) || memcmp(got.data, q, got.len) != 0) {
			if (++*mismatches <= 5)
				fprintf(stderr, "  %s, text %d \"%.*s\":\n    want%.*s\n    got %s\n", path, n, (int)len, p,
					(int)(nl - q), q, got.data);
		}
		q = nl + 1;
	}
	T_TRUE(n > 0 && q == q_end); /* as many lines as texts */
	base_free(ids);
	base_buf_release(&inp);
	base_buf_release(&out);
	base_buf_release(&got);
	return n;
}

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && strcmp(s + n - m, suf) == 0;
}

static void llama_vocab(void)
{
	const char *dir = getenv("LODE_LLAMA_VOCAB");
	if (!dir || !*dir)
		T_SKIP("LODE_LLAMA_VOCAB is not set (llama.cpp's models/ folder with its ggml-vocab-*.gguf files)");
	DIR *d = opendir(dir);
	if (!d)
		T_FAIL("LODE_LLAMA_VOCAB=%s: %s", dir, strerror(errno));
	int matched_bert = 0, matched_bpe = 0, refused = 0, mismatches = 0, texts = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "ggml-vocab-", 11) != 0 || !has_suffix(de->d_name, ".gguf"))
			continue;
		char path[4096], probe[4200];
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		struct base_err err = { 0, "" };
		struct gguf *g = gguf_open(path, &err);
		if (!g) /* a Git LFS pointer or a missing large file reads as a bad file: it must say so */
			T_TRUE(strstr(err.msg, de->d_name) != NULL);
		if (!g) {
			fprintf(stderr, "  %s: not read: %s\n", de->d_name, err.msg);
			continue;
		}
		struct gguf_str model = { "", 0 };
		T_OK(gguf_get_str(g, "tokenizer.ggml.model", &model, &err));
		struct tok t = { 0 };
		if (model.len == 4 && memcmp(model.ptr, "bert", 4) == 0) {
			t.wp = wp_new_gguf(g, WP_GUESS_CASE, &err);
			if (!t.wp)
				T_FAIL("%s", err.msg);
			/* vocabulary only: as a model it is refused, naming the file and the tensor */
			struct enc_model m;
			T_TRUE(enc_model_load(g, &m, &err) != BASE_OK);
			T_TRUE(strstr(err.msg, de->d_name) && strstr(err.msg, "token_embd.weight"));
		} else {
			t.bpe = agent_tok_open(path, &err);
			if (!t.bpe) {
				T_TRUE(strstr(err.msg, de->d_name) != NULL);
				fprintf(stderr, "  %s: refused: %s\n", de->d_name, err.msg);
				refused++;
			}
		}
		snprintf(probe, sizeof(probe), "%s.out", path);
		if ((t.wp || t.bpe) && access(probe, R_OK) == 0) {
			int bad = mismatches, n = check_cases(path, &t, &mismatches);
			texts += n;
			fprintf(stderr, "  %s: %d texts, %d differ\n", de->d_name, n, mismatches - bad);
			if (t.wp)
				matched_bert++;
			else
				matched_bpe++;
		}
		wp_free(t.wp);
		agent_tok_close(t.bpe);
		gguf_close(g);
	}
	closedir(d);
	fprintf(stderr, "  %d BERT and %d BPE vocabularies checked (%d texts), %d refused\n", matched_bert,
		matched_bpe, texts, refused);
	if (mismatches)
		T_FAIL("%d texts tokenized differently from the reference", mismatches);
	if (!matched_bert || !matched_bpe)
		T_FAIL("%s: want at least one BERT and one GPT-2-style vocabulary with .inp/.out files", dir);
}

T_MAIN(T_ENTRY(llama_vocab))
