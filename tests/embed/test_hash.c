/*
 * test_hash.c: the built-in `hash` embedder.
 */
#include <math.h>

#include "embed/embed.h"
#include "test.h"

#define HASH_GOLDEN 0x2aa6c4f8795033a6ull

static struct embed *open_spec(const char *spec)
{
	struct embed_options o = { .spec = spec };
	struct base_err err = { 0, "" };
	struct embed *e = embed_open(&o, &err);
	if (!e)
		T_FAIL("embed_open(%s): %s", spec ? spec : "NULL", err.msg);
	return e;
}

static void embed1(struct embed *e, const char *text, float *out)
{
	size_t len = strlen(text);
	struct base_err err;
	T_OK(embed_texts(e, EMBED_DOCUMENT, &text, &len, 1, out, &err));
}

static double dot(const float *a, const float *b, unsigned n)
{
	double s = 0;
	for (unsigned i = 0; i < n; i++)
		s += (double)a[i] * b[i];
	return s;
}

static void defaults(void)
{
	struct embed *e = open_spec(NULL);
	T_EQ_INT(embed_dim(e), 384);
	T_EQ_STR(embed_model_id(e), "hash-v1-384");
	T_TRUE(strstr(embed_describe(e), "not a neural model") != NULL);
	embed_close(e);
	e = open_spec("hash:512");
	T_EQ_INT(embed_dim(e), 512);
	T_EQ_STR(embed_model_id(e), "hash-v1-512");
	embed_close(e);
}

static void bad_specs(void)
{
	static const char *const bad[] = { "hash:", "hash:0", "hash:100", "hash:8192", "hash:64x", "hash:-64" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(bad); i++) {
		struct embed_options o = { .spec = bad[i] };
		struct base_err err = { 0, "" };
		T_TRUE(embed_open(&o, &err) == NULL);
		T_EQ_INT(err.code, BASE_E_INVAL);
		T_TRUE(strstr(err.msg, bad[i]) != NULL);
	}
	struct embed_options o = { .spec = "/nonexistent/model.gguf" };
	struct base_err err = { 0, "" };
	T_TRUE(embed_open(&o, &err) == NULL);
	T_TRUE(err.code != BASE_OK);
}

/* Unit length; the empty text (no features) is the zero vector. */
static void normalised(void)
{
	struct embed *e = open_spec("hash");
	float v[384];
	embed1(e, "static int parse_http_header(struct request *req)", v);
	T_TRUE(fabs(dot(v, v, 384) - 1.0) < 1e-5);
	embed1(e, "  ;;; {} ", v);
	T_TRUE(dot(v, v, 384) == 0.0);
	embed_close(e);
}

/*
 * Bit-identical on every machine and run: a fixed text's vector is pinned
 * by its checksum. A change to the features must bump HASH_VERSION (and
 * this value).
 */
static void deterministic(void)
{
	struct embed *e = open_spec("hash");
	float v[384], w[384];
	const char *text = "def parseHttpHeader(self, raw_bytes):\n    return HTTPHeader.from_bytes(raw_bytes)\n";
	embed1(e, text, v);
	embed1(e, text, w);
	T_TRUE(memcmp(v, w, sizeof(v)) == 0);
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < sizeof(v); i++) {
		h ^= ((const unsigned char *)v)[i];
		h *= 1099511628211ull;
	}
	fprintf(stderr, "  checksum %016llx\n", (unsigned long long)h);
	T_EQ_INT(h, HASH_GOLDEN);
	embed_close(e);
}

/* Batches give the same vectors as single texts. */
static void batch_equals_single(void)
{
	struct embed *e = open_spec("hash");
	const char *texts[] = { "alpha beta", "getUserName()", "", "snake_case_words and CamelCaseWords" };
	size_t lens[4];
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(texts[i]);
	float all[4 * 384], one[384];
	struct base_err err;
	T_OK(embed_texts(e, EMBED_QUERY, texts, lens, 4, all, &err));
	for (int i = 0; i < 4; i++) {
		embed1(e, texts[i], one);
		T_TRUE(memcmp(one, all + i * 384, sizeof(one)) == 0);
	}
	embed_close(e);
}

/*
 * What the sketch is for: identifiers written differently (camelCase,
 * snake_case, a prose mention) land near each other, unrelated code far.
 */
static void code_aware_similarity(void)
{
	struct embed *e = open_spec("hash");
	float a[384], b[384], c[384], d[384];
	embed1(e, "int parseHttpHeader(const char *line);", a);
	embed1(e, "def parse_http_header(line):", b);
	embed1(e, "how do we parse the HTTP header", c);
	embed1(e, "for (i = 0; i < n; i++) total += weights[i] * values[i];", d);
	double ab = dot(a, b, 384), ac = dot(a, c, 384), ad = dot(a, d, 384);
	fprintf(stderr, "  camel~snake %.3f camel~prose %.3f camel~unrelated %.3f\n", ab, ac, ad);
	T_TRUE(ab > 0.5);
	T_TRUE(ac > 0.2);
	T_TRUE(ad < 0.15);
	T_TRUE(ab > ad && ac > ad);
	/* inflections share character trigrams */
	embed1(e, "parser", a);
	embed1(e, "parsing", b);
	embed1(e, "network", c);
	fprintf(stderr, "  parser~parsing %.3f parser~network %.3f\n", dot(a, b, 384), dot(a, c, 384));
	T_TRUE(dot(a, b, 384) > dot(a, c, 384) + 0.05);
	embed_close(e);
}

/* Any bytes: invalid UTF-8, NULs, very long words, a megabyte of text. */
static void any_bytes(void)
{
	struct embed *e = open_spec("hash");
	float v[384];
	const char bin[] = "a\0b\xff\xfe\xc3(zz\x80 ok_name";
	const char *t = bin;
	size_t len = sizeof(bin) - 1;
	struct base_err err;
	T_OK(embed_texts(e, EMBED_DOCUMENT, &t, &len, 1, v, &err));
	size_t big = (size_t)2 << 20;
	char *s = base_malloc(big);
	for (size_t i = 0; i < big; i++)
		s[i] = (char)("abcdefgh_XYZ 0123\n"[t_rand() % 18]);
	t = s;
	T_OK(embed_texts(e, EMBED_DOCUMENT, &t, &big, 1, v, &err));
	T_TRUE(fabs(dot(v, v, 384) - 1.0) < 1e-4);
	base_free(s);
	embed_close(e);
}

T_MAIN(T_ENTRY(defaults), T_ENTRY(bad_specs), T_ENTRY(normalised), T_ENTRY(deterministic),
       T_ENTRY(batch_equals_single), T_ENTRY(code_aware_similarity), T_ENTRY(any_bytes))
