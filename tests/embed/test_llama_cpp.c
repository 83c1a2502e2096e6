/*
 * test_llama_cpp.c: lode against llama.cpp, the runtime GGUF files are made
 * for. Both cases skip unless LODE_LLAMA_CPP names a llama.cpp checkout
 * (git clone https://github.com/ggml-org/llama.cpp): CI reaches only
 * Debian and npm, and lode copies none of llama.cpp's files.
 *
 * vocab: llama.cpp's models/ folder holds vocabulary-only GGUF files
 * (ggml-vocab-NAME.gguf, written by convert_hf_to_gguf.py from the models'
 * Hugging Face repositories) and, for most, NAME.gguf.inp (texts, each
 * followed by "\n__ggml_vocab_test__\n") and NAME.gguf.out (a line of ids
 * per text, from the Hugging Face tokenizer without special tokens). So
 * this checks the GGUF reader on files lode did not write, and both
 * tokenizers against Hugging Face on llama.cpp's edge cases:
 *   - every file parses;
 *   - "bert" vocabularies go through WordPiece (the embedder's tokenizer),
 *     "gpt2" ones with a pre-tokenizer lode knows through agent_tok (the
 *     agent's counter), and must match every line; any other is refused
 *     with a message naming the file;
 *   - a vocabulary-only BERT file is refused as a model, naming the file
 *     and the missing tensor.
 *
 * embeddings: llama.cpp's own encoder (llama-embedding, built in
 * $LODE_LLAMA_CPP/build/bin or LODE_LLAMA_CPP_BIN) and lode's CPU
 * reference embed the same texts with the same random-weight files (bert
 * and nomic-bert, f32, f16, bf16, q8_0, mean and CLS pooling; the
 * vocabulary of ggml-vocab-bert-bge.gguf), so llama.cpp reading lode's
 * test files also shows they have the layout real ones have. First,
 * llama-tokenize must give every text the ids lode's WordPiece does.
 */
#define _XOPEN_SOURCE 700
#include "test.h"

#include <dirent.h>

#include <jansson.h>

#include "agent/tokenize.h"
#include "embed/embed.h"
#include "embed/encoder.h"
#include "embed/encoder_util.h"
#include "embed/gguf.h"
#include "embed/wordpiece.h"

#include "base/banned.h"

#define MAX_IDS (1 << 16)

static const char case_sep[] = "\n__ggml_vocab_test__\n"; /* after each text of a .inp */

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
	for (; (e = strstr(p, case_sep)); p = e + strlen(case_sep)) { /* every text ends with the separator */
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

/* $LODE_LLAMA_CPP/sub into out, or skip. */
static void llama_path(char *out, size_t size, const char *sub)
{
	const char *root = getenv("LODE_LLAMA_CPP");
	if (!root || !*root)
		T_SKIP("LODE_LLAMA_CPP is not set (a llama.cpp checkout)");
	snprintf(out, size, "%s/%s", root, sub);
}

static void vocab(void)
{
	char dir[4096];
	llama_path(dir, sizeof(dir), "models");
	DIR *d = opendir(dir);
	if (!d)
		T_FAIL("%s: %s", dir, strerror(errno));
	int matched_bert = 0, matched_bpe = 0, refused = 0, mismatches = 0, texts = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "ggml-vocab-", 11) != 0 || !has_suffix(de->d_name, ".gguf"))
			continue;
		char path[4400], probe[4500];
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


/* ---- embeddings --------------------------------------------------------------------- */

#define EMBED_TEXTS 40
#define SEP "<#sep#>" /* between llama-embedding's texts */

/* Texts: a few fixed ones, then slices of this repository's sources of 10 to 700 bytes. */
static size_t texts(char *buf[EMBED_TEXTS])
{
	static const char *const fixed[] = { "x", "hello world", "int main(void) { return 0; }",
					     "Caf\xc3\xa9 na\xc3\xafve \xe2\x80\x94 \xe5\x8c\x97\xe4\xba\xac tab\there" };
	static const char *const files[] = { "embed/cpu.c", "agent/bpe.c", "README.md", "scripts/tokref.sh",
					     "indexer/watch.c", "docs/ARCHITECTURE.md" };
	static const size_t lens[] = { 10, 60, 250, 500, 700, 400 }; /* llama.cpp refuses over 512 tokens */
	size_t n = 0;
	for (size_t i = 0; i < BASE_ARRAY_LEN(fixed); i++)
		buf[n++] = base_strdup(fixed[i]);
	const char *src = getenv("LODE_SOURCE_DIR");
	if (!src)
		T_SKIP("LODE_SOURCE_DIR not set (run through ctest)");
	for (size_t f = 0; f < BASE_ARRAY_LEN(files); f++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", src, files[f]);
		struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
		struct base_err err = { 0, "" };
		if (base_buf_read_file(&b, path, &err))
			T_FAIL("%s", err.msg);
		for (size_t k = 0; k < BASE_ARRAY_LEN(lens) && n < EMBED_TEXTS; k++) {
			size_t at = b.len * (2 * k + 1) / (2 * BASE_ARRAY_LEN(lens)), len = BASE_MIN(lens[k], b.len - at);
			while (at + len < b.len && ((unsigned char)b.data[at + len] & 0xC0) == 0x80)
				len++; /* whole characters */
			while (at > 0 && ((unsigned char)b.data[at] & 0xC0) == 0x80)
				at--, len++;
			buf[n] = base_malloc(len + 1);
			memcpy(buf[n], b.data + at, len);
			buf[n][len] = '\0';
			if (strstr(buf[n], SEP))
				buf[n][0] = '\0';
			n++;
		}
		base_buf_release(&b);
	}
	return n;
}

/* The JSON value that starts at the first `open` in s (an array of arrays), or fail. */
static json_t *json_in(const char *s, const char *open, const char *what)
{
	const char *p = strstr(s, open);
	json_error_t jerr;
	json_t *j = p ? json_loads(p, JSON_DISABLE_EOF_CHECK, &jerr) : NULL;
	if (!json_is_array(j))
		T_FAIL("%s: no JSON array in its output (%s)", what, p ? jerr.text : "none");
	return j;
}

/* Whether lode's ids of text equal llama-tokenize's with vocabulary `model` (both add [CLS] and [SEP]). */
static bool alike(const char *bin, const char *model, const struct wp_tokenizer *wp, const char *text, size_t *n_tok)
{
	char path[4096], cmd[12288];
	snprintf(path, sizeof(path), "%s", t_path("text.txt"));
	FILE *f = fopen(path, "wb");
	T_TRUE(f && fwrite(text, 1, strlen(text), f) == strlen(text) && fclose(f) == 0);
	snprintf(cmd, sizeof(cmd), "'%s/llama-tokenize' -m '%s' -f '%s' --ids --no-escape --log-disable 2>/dev/null", bin,
		 model, path);
	struct base_buf out = BASE_BUF_INIT(BASE_CAP_TEXT);
	if (t_run(cmd, &out) != 0)
		T_FAIL("llama-tokenize failed: %s", cmd);
	json_t *ref = json_in(out.data, "[", "llama-tokenize");
	int32_t ids[1024];
	size_t n;
	T_OK(wp_encode(wp, text, strlen(text), 1024, ids, &n, NULL));
	bool same = json_array_size(ref) == n;
	for (size_t i = 0; same && i < n; i++)
		same = json_integer_value(json_array_get(ref, i)) == ids[i];
	*n_tok = n;
	json_decref(ref);
	base_buf_release(&out);
	return same;
}

static void embeddings(void)
{
	char bin[4096], bge[4096];
	const char *b = getenv("LODE_LLAMA_CPP_BIN");
	if (b && *b)
		snprintf(bin, sizeof(bin), "%s", b);
	else
		llama_path(bin, sizeof(bin), "build/bin");
	llama_path(bge, sizeof(bge), "models/ggml-vocab-bert-bge.gguf");
	char probe[4200];
	snprintf(probe, sizeof(probe), "%s/llama-embedding", bin);
	if (access(probe, X_OK) != 0)
		T_SKIP("%s is not built (cmake --build build --target llama-embedding llama-tokenize)", probe);
	/* bge's vocabulary, for lode's test models */
	struct base_err err = { 0, "" };
	struct gguf *g = gguf_open(bge, &err);
	if (!g)
		T_FAIL("%s", err.msg);
	const struct gguf_arr *arr;
	T_OK(gguf_get_arr(g, "tokenizer.ggml.tokens", &arr, &err));
	size_t nv = (size_t)gguf_arr_len(arr);
	char **vocab = base_malloc(nv * sizeof(*vocab));
	for (size_t i = 0; i < nv; i++) {
		struct gguf_str t = gguf_arr_str(arr, i);
		vocab[i] = base_strndup(t.ptr, t.len);
	}
	char *text[EMBED_TEXTS];
	size_t nt = texts(text);
	/* llama.cpp must see the ids lode does; the vocabulary decides, the same in every model below */
	struct wp_tokenizer *wp = wp_new_gguf(g, WP_GUESS_CASE, &err);
	if (!wp)
		T_FAIL("%s", err.msg);
	size_t tokens = 0;
	for (size_t i = 0; i < nt; i++) {
		size_t n_tok;
		if (!alike(bin, bge, wp, text[i], &n_tok))
			T_FAIL("llama.cpp tokenizes text %zu otherwise: \"%s\"", i, text[i]);
		tokens += n_tok;
	}
	wp_free(wp);
	gguf_close(g);
	fprintf(stderr, "  %zu texts, %zu tokens, tokenized alike\n", nt, tokens);
	struct base_buf joined = BASE_BUF_INIT(BASE_CAP_TEXT);
	for (size_t i = 0; i < nt; i++)
		T_OK(base_buf_addf(&joined, "%s%s", i ? SEP : "", text[i]));
	char tpath[4096];
	snprintf(tpath, sizeof(tpath), "%s", t_path("texts.txt"));
	FILE *f = fopen(tpath, "wb");
	T_TRUE(f && fwrite(joined.data, 1, joined.len, f) == joined.len && fclose(f) == 0);
	base_buf_release(&joined);

	static const struct {
		const char *name;
		struct gw_bert c;
		double max_gap; /* 1 - cosine; measured: 3e-9, 1e-8, 5e-6, 7e-14, 2.4e-7 */
	} models[] = {
		/* f16 and bf16 weights are exact in both; llama.cpp rounds activations to q8_0 for q8_0 weights */
		{ "bert f32 mean", { 2, 128, 2, 512, 512, 2, 1e-12f, 1, GGUF_GGML_F32, 1, false, 0 }, 1e-7 },
		{ "bert f16 cls", { 2, 128, 2, 512, 512, 2, 1e-12f, 2, GGUF_GGML_F16, 2, false, 0 }, 1e-7 },
		{ "bert q8_0 mean", { 2, 128, 4, 512, 512, 2, 1e-12f, 1, GGUF_GGML_Q8_0, 3, false, 0 }, 2e-5 },
		{ "nomic-bert f32 mean", { 2, 128, 2, 384, 512, 2, 1e-12f, 1, GGUF_GGML_F32, 4, true, 0 }, 1e-8 },
		{ "nomic-bert bf16 mean", { 2, 128, 2, 384, 512, 2, 1e-12f, 1, GGUF_GGML_BF16, 5, true, 0 }, 2e-6 },
	};
	for (size_t m = 0; m < BASE_ARRAY_LEN(models); m++) {
		char model[4096];
		snprintf(model, sizeof(model), "%s", t_path("m.gguf"));
		t_model_write_vocab(model, &models[m].c, (const char *const *)vocab, nv);
		struct embed_options o = { .spec = model, .device = EMBED_DEVICE_CPU, .query_prefix = "", .doc_prefix = "" };
		struct embed *e = embed_open(&o, &err);
		if (!e)
			T_FAIL("%s: %s", models[m].name, err.msg);
		struct base_buf cmd = BASE_BUF_INIT(BASE_CAP_TEXT), out = BASE_BUF_INIT(BASE_CAP_TEXT);
		T_OK(base_buf_addf(&cmd,
				   "'%s/llama-embedding' -m '%s' -f '%s' --embd-separator '" SEP "' --embd-output-format "
				   "array -c 512 -b 512 -ub 512 -ctk f32 -ctv f32 --no-escape 2>'%s.log' || { tail -3 '%s.log' >&2; "
				   "exit 1; }",
				   bin, model, tpath, model, model));
		if (t_run(cmd.data, &out) != 0)
			T_FAIL("%s: llama-embedding failed (its last words above): %s", models[m].name, cmd.data);
		base_buf_release(&cmd);
		json_t *ref = json_in(out.data, "[[", "llama-embedding");
		T_EQ_INT(json_array_size(ref), nt);
		unsigned dim = embed_dim(e);
		float *got = base_malloc(dim * sizeof(float)), *want = base_malloc(dim * sizeof(float));
		double worst = 0;
		for (size_t i = 0; i < nt; i++) {
			json_t *row = json_array_get(ref, i);
			T_EQ_INT(json_array_size(row), dim);
			for (unsigned k = 0; k < dim; k++)
				want[k] = (float)json_number_value(json_array_get(row, k));
			size_t len = strlen(text[i]);
			const char *tp = text[i];
			T_OK(embed_texts(e, EMBED_DOCUMENT, &tp, &len, 1, got, &err));
			double gap = 1 - t_cosine_f(got, want, dim);
			worst = gap > worst ? gap : worst;
		}
		fprintf(stderr, "  %s: 1 - cosine at most %.1e\n", models[m].name, worst);
		if (!(worst <= models[m].max_gap))
			T_FAIL("%s: 1 - cosine %.2e over %.0e", models[m].name, worst, models[m].max_gap);
		base_free(got);
		base_free(want);
		json_decref(ref);
		base_buf_release(&out);
		embed_close(e);
	}
	for (size_t i = 0; i < nt; i++)
		base_free(text[i]);
	for (size_t i = 0; i < nv; i++)
		base_free(vocab[i]);
	base_free(vocab);
}

T_MAIN(T_ENTRY(vocab), T_ENTRY(embeddings))
