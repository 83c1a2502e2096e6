/*
 * test_encoder.c: the transformer encoders (bert, nomic-bert) on the CPU
 * reference backend.
 *
 *   - against an outside reference: the files in fixtures/encoder/ hold vectors
 *     computed by PyTorch (tests/embed/encoder_ref.py: nn.TransformerEncoder
 *     Layer or transformers' BertModel for bert, torch operations for
 *     nomic-bert) on random-weight models that gguf_writer.h rebuilds here
 *     from the arguments on each fixture's first line; cosine >= 0.9999;
 *   - packing: sequences alone and packed in one batch give the same vectors;
 *   - the embedder handle: prefixes, model ids, batching, CPU/CUDA choice;
 *   - GPU scheduling with a stand-in device: concurrent callers' batches
 *     combined, results in the right order, a device fault moving the work
 *     to the CPU without losing any;
 *   - weight formats: half conversions checked against the compiler's
 *     _Float16, Q8_0 and BF16 decoding;
 *   - bad models: each refused with the file and the field named;
 *   - lode index --model PATH.gguf end to end (a real subprocess).
 */
#include "test.h"

#include <math.h>

#include <pthread.h>
#include <stdatomic.h>

#include "embed/embed.h"
#include "embed/encoder.h"
#include "embed/gguf_writer.h"
#include "embed/internal.h"
#include "embed/encoder_util.h"

#include "base/banned.h"

/* ---- helpers ------------------------------------------------------------ */

/*
 * Write a model with gguf_make_bert's arguments (space-separated) to path;
 * `words` (NULL-terminated, may be NULL) replace the synthetic vocabulary's
 * first pieces after the special tokens.
 */
static void write_model_words(const char *path, const char *args, const char *const *words)
{
	struct gw_bert c = GW_BERT_DEFAULT;
	size_t vocab = 300;
	char *copy = base_strdup(args), *argv[64], *save;
	int argc = 0;
	for (char *t = strtok_r(copy, " \n", &save); t && argc < 64; t = strtok_r(NULL, " \n", &save))
		argv[argc++] = t;
	for (int i = 0; i < argc;) {
		int used = gw_bert_arg(&c, &vocab, argc - i, argv + i);
		if (used <= 0)
			T_FAIL("bad model argument %s", argv[i]);
		i += used;
	}
	char **toks = gw_vocab(vocab);
	for (size_t i = 0; words && words[i] && 5 + i < vocab; i++) {
		base_free(toks[5 + i]);
		toks[5 + i] = base_strdup(words[i]);
	}
	t_model_write_vocab(path, &c, (const char *const *)toks, vocab);
	gw_vocab_free(toks, vocab);
	base_free(copy);
}

static void write_model(const char *path, const char *args)
{
	write_model_words(path, args, NULL);
}

static double cosine(const float *a, const double *b, size_t n)
{
	double ab = 0, aa = 0, bb = 0;
	for (size_t i = 0; i < n; i++) {
		ab += a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += b[i] * b[i];
	}
	return ab / sqrt(aa * bb);
}

/* ---- the outside reference ------------------------------------------------------ */

struct fixture {
	BASE_VEC(int32_t) ids;
	BASE_VEC(uint32_t) offs;
	BASE_VEC(double) vecs;
	size_t dim;
};

static void read_fixture(const char *path, char **args, struct fixture *f)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_FILE);
	struct base_err err = { 0, "" };
	if (base_buf_read_file(&b, path, &err))
		T_FAIL("%s", err.msg);
	*args = NULL;
	memset(f, 0, sizeof(*f));
	base_vec_push(&f->offs, 0);
	char *save;
	for (char *line = strtok_r(b.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# args: ", 8) == 0) {
			*args = base_strdup(line + 8);
		} else if (strncmp(line, "seq ", 4) == 0) {
			char *p = line + 4, *end;
			for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
				base_vec_push(&f->ids, (int32_t)v);
				p = end;
			}
			base_vec_push(&f->offs, (uint32_t)f->ids.n);
		} else if (strncmp(line, "vec ", 4) == 0) {
			char *p = line + 4, *end;
			size_t n = 0;
			for (double v = strtod(p, &end); end != p; v = strtod(p, &end), n++) {
				base_vec_push(&f->vecs, v);
				p = end;
			}
			T_TRUE(f->dim == 0 || f->dim == n);
			f->dim = n;
		}
	}
	base_buf_release(&b);
	if (!*args || f->offs.n < 2 || f->vecs.n != (f->offs.n - 1) * f->dim)
		T_FAIL("%s: not a fixture of encoder_ref.py", path);
}

static void check_fixture(const char *name)
{
	char path[512];
	const char *fx = getenv("LODE_FIXTURES");
	snprintf(path, sizeof(path), "%s/encoder/%s.txt", fx ? fx : "fixtures", name);
	char *args;
	struct fixture f;
	read_fixture(path, &args, &f);
	char model[4096];
	snprintf(model, sizeof(model), "%s", t_path("m.gguf"));
	write_model(model, args);
	struct t_model l;
	t_model_load(&l, model);
	T_EQ_INT(l.m.c.n_embd, f.dim);
	size_t n_seq = f.offs.n - 1, E = f.dim;
	float *one = base_malloc(E * sizeof(float)), *all = base_malloc(n_seq * E * sizeof(float));
	struct base_err err;
	struct enc_batch b = { f.ids.v, f.offs.v, n_seq };
	T_OK(enc_cpu_forward(l.cpu, &b, all, &err));
	double worst = 1;
	for (size_t s = 0; s < n_seq; s++) {
		uint32_t offs[2] = { 0, f.offs.v[s + 1] - f.offs.v[s] };
		struct enc_batch b1 = { f.ids.v + f.offs.v[s], offs, 1 };
		T_OK(enc_cpu_forward(l.cpu, &b1, one, &err));
		double c1 = cosine(one, f.vecs.v + s * E, E), c2 = cosine(all + s * E, f.vecs.v + s * E, E);
		for (size_t j = 0; j < E; j++)
			if (fabs(all[s * E + j] - f.vecs.v[s * E + j]) > 1e-5)
				T_FAIL("%s: sequence %zu, element %zu: %.8f, the reference %.8f", name, s, j,
				       (double)all[s * E + j], f.vecs.v[s * E + j]);
		if (c1 < 0.9999 || c2 < 0.9999)
			T_FAIL("%s: sequence %zu (%u tokens): cosine %.7f alone, %.7f packed (want >= 0.9999)", name, s,
			       offs[1], c1, c2);
		/* alone and packed run the same arithmetic on the same rows */
		T_TRUE(t_cosine_f(one, all + s * E, E) > 0.999999);
		worst = BASE_MIN(worst, BASE_MIN(c1, c2));
	}
	fprintf(stderr, "  %s: %zu sequences of 1..%u tokens, worst cosine 1 - %.1e\n", name, n_seq,
		l.m.c.n_ctx, 1 - worst);
	base_free(one);
	base_free(all);
	t_model_unload(&l);
	base_free(args);
	base_vec_release(&f.ids);
	base_vec_release(&f.offs);
	base_vec_release(&f.vecs);
}

static void test_reference_bert_mean_f32(void)
{
	check_fixture("bert-mean-f32");
}

static void test_reference_bert_cls_f16(void)
{
	check_fixture("bert-cls-f16");
}

static void test_reference_bert_q8_0(void)
{
	check_fixture("bert-mean-q8_0");
}

static void test_reference_nomic_f32(void)
{
	check_fixture("nomic-mean-f32");
}

static void test_reference_nomic_bf16(void)
{
	check_fixture("nomic-mean-bf16");
}

/* ---- weight formats ------------------------------------------------------------- */

static void test_half_conversions(void)
{
	/* every half survives f16 -> f32 -> f16 (NaNs stay NaN) */
	for (uint32_t h = 0; h < 65536; h++) {
		float f = enc_f16_to_f32((uint16_t)h);
		uint16_t back = enc_f32_to_f16(f);
		if (isnan(f))
			T_TRUE((back & 0x7c00) == 0x7c00 && (back & 0x3ff));
		else if (back != h)
			T_FAIL("half 0x%04x -> %g -> 0x%04x", h, (double)f, back);
	}
#if defined(__FLT16_MAX__)
	__extension__ typedef _Float16 half;
	/* rounding float -> half agrees with the compiler's conversion */
	t_seed = 7;
	for (int i = 0; i < 200000; i++) {
		uint32_t bits = (uint32_t)t_rand();
		float f;
		memcpy(&f, &bits, 4);
		if (isnan(f))
			continue;
		half ref = (half)f;
		uint16_t rb;
		memcpy(&rb, &ref, 2);
		if (enc_f32_to_f16(f) != rb)
			T_FAIL("%a -> 0x%04x, the compiler says 0x%04x", (double)f, enc_f32_to_f16(f), rb);
		/* and half -> float is exact */
		T_TRUE(enc_f16_to_f32(rb) == (float)ref);
	}
#endif
}

/* The CPU backend's vectorised exp and erf against libm's. */
static void test_fast_math(void)
{
	double worst_exp = 0, worst_erf = 0;
	for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
		double e = exp((double)x), rel = fabs(enc__exp_fast(x) - e) / e;
		worst_exp = BASE_MAX(worst_exp, rel);
	}
	for (float x = -6.0f; x <= 6.0f; x += 0.00071f)
		worst_erf = BASE_MAX(worst_erf, fabs(enc__erf_fast(x) - erf((double)x)));
	fprintf(stderr, "  exp: relative error %.2e; erf: absolute error %.2e\n", worst_exp, worst_erf);
	T_TRUE(worst_exp < 3e-7);
	T_TRUE(worst_erf < 5e-7);
	/* softmax inputs far below the maximum underflow to (almost) nothing, never to garbage */
	T_TRUE(enc__exp_fast(-1000.0f) >= 0 && enc__exp_fast(-1000.0f) < 1e-37f);
	T_TRUE(enc__erf_fast(0) == 0 && enc__erf_fast(10) == 1.0f && enc__erf_fast(-10) == -1.0f);
}

static void test_quantized_decoding(void)
{
	/* Q8_0: one block of scale 0.5 (half 0x3800), values -128..127 step 8 */
	unsigned char q[2 * 34];
	uint16_t d = 0x3800;
	for (int b = 0; b < 2; b++) {
		memcpy(q + b * 34, &d, 2);
		for (int i = 0; i < 32; i++)
			q[b * 34 + 2 + i] = (unsigned char)(int8_t)(i * 8 - 128 + b);
	}
	struct enc_tensor t = { GGUF_GGML_Q8_0, 64, 1, q, "q" };
	float out[32];
	enc_tensor_f32(&t, 32, 32, out);
	for (int i = 0; i < 32; i++)
		T_TRUE(out[i] == 0.5f * (float)(i * 8 - 128 + 1));
	/* BF16: the top half of a float */
	uint16_t bf[3] = { 0x3f80, 0xc040, 0x0000 };
	struct enc_tensor tb = { GGUF_GGML_BF16, 3, 1, bf, "b" };
	enc_tensor_f32(&tb, 0, 3, out);
	T_TRUE(out[0] == 1.0f && out[1] == -3.0f && out[2] == 0.0f);
}

/* ---- the embedder handle --------------------------------------------------------- */

static struct embed *open_spec(const char *path, enum embed_device dev, const char *qp, struct base_err *err)
{
	struct embed_options o = { .spec = path, .device = dev, .query_prefix = qp };
	return embed_open(&o, err);
}

static void test_embedder(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_path("bert.gguf"));
	write_model(path, "--layers 2 --embd 32 --heads 4 --ff 64 --ctx 16 --pooling mean --seed 3");
	struct base_err err = { 0, "" };
	struct embed *e = open_spec(path, EMBED_DEVICE_CPU, NULL, &err);
	if (!e)
		T_FAIL("embed_open: %s", err.msg);
	T_EQ_INT(embed_dim(e), 32);
	T_TRUE(strncmp(embed_model_id(e), "gguf-bert-32d-", 14) == 0);
	T_TRUE(strstr(embed_describe(e), "bert.gguf: bert, 2 layers x 32, mean pooling, 16 tokens, on the CPU"));

	/* 40 texts, some longer than the context: all at once == one at a time */
	enum { N = 40 };
	const char *texts[N];
	size_t lens[N];
	char storage[N][256];
	for (int i = 0; i < N; i++) {
		int n = 0;
		for (int w = 0; w < 1 + i % 23; w++)
			n += snprintf(storage[i] + n, sizeof(storage[i]) - (size_t)n, "t%d%s", 5 + (i * 7 + w * 13) % 295,
				      w % 4 == 3 ? ", " : " ");
		texts[i] = storage[i];
		lens[i] = (size_t)n;
	}
	float *all = base_malloc(N * 32 * sizeof(float)), one[32];
	T_OK(embed_texts(e, EMBED_DOCUMENT, texts, lens, N, all, &err));
	for (int i = 0; i < N; i++) {
		T_OK(embed_texts(e, EMBED_DOCUMENT, &texts[i], &lens[i], 1, one, &err));
		double norm = 0;
		for (int j = 0; j < 32; j++) {
			norm += (double)one[j] * one[j];
			if (fabsf(one[j] - all[i * 32 + j]) > 1e-5f)
				T_FAIL("text %d: batched and alone differ at %d: %g vs %g", i, j, (double)all[i * 32 + j],
				       (double)one[j]);
		}
		T_TRUE(fabs(norm - 1) < 1e-5);
	}
	/* texts are cut to the context (16 tokens: [CLS], 14 pieces, [SEP]): what follows is not seen */
	const char *cut[2] = { "t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16 t17 t18 t19 t20",
			       "t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16 t17 t18 t30 t31 t32" };
	size_t cut_lens[2] = { strlen(cut[0]), strlen(cut[1]) };
	float cv[2 * 32];
	T_OK(embed_texts(e, EMBED_DOCUMENT, cut, cut_lens, 2, cv, &err));
	T_TRUE(memcmp(cv, cv + 32, 32 * sizeof(float)) == 0);
	cut[1] = "t5 t6 t7 t8 t9 t10 t11 t12 t13 t14 t15 t16 t17 t30";
	cut_lens[1] = strlen(cut[1]);
	T_OK(embed_texts(e, EMBED_DOCUMENT, cut, cut_lens, 2, cv, &err));
	T_TRUE(t_cosine_f(cv, cv + 32, 32) < 0.9999);
	/* bert without prefixes: query and document vectors are the same */
	float q[32];
	T_OK(embed_texts(e, EMBED_QUERY, &texts[3], &lens[3], 1, q, &err));
	T_TRUE(t_cosine_f(q, all + 3 * 32, 32) > 0.999999);
	char id[96];
	snprintf(id, sizeof(id), "%s", embed_model_id(e));
	embed_close(e);

	/* a query prefix changes the query vectors and the model id */
	e = open_spec(path, EMBED_DEVICE_CPU, "search_query: ", &err);
	T_TRUE(e != NULL);
	T_TRUE(strcmp(embed_model_id(e), id) != 0);
	T_OK(embed_texts(e, EMBED_QUERY, &texts[3], &lens[3], 1, q, &err));
	T_TRUE(t_cosine_f(q, all + 3 * 32, 32) < 0.9999);
	embed_close(e);

	/* other weights, another id */
	write_model(path, "--layers 2 --embd 32 --heads 4 --ff 64 --ctx 16 --pooling mean --seed 4");
	e = open_spec(path, EMBED_DEVICE_CPU, NULL, &err);
	T_TRUE(e != NULL);
	T_TRUE(strcmp(embed_model_id(e), id) != 0);
	embed_close(e);
	base_free(all);
}

static void test_nomic_prefixes(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_path("nomic.gguf"));
	static const char *const words[] = { "\xe2\x96\x81search", "\xe2\x96\x81query", "\xe2\x96\x81" "document",
					     "\xe2\x96\x81_", "\xe2\x96\x81:", NULL };
	write_model_words(path, "--nomic --layers 1 --embd 32 --heads 2 --ff 48 --ctx 64 --pooling mean", words);
	struct base_err err = { 0, "" };
	struct embed *e = open_spec(path, EMBED_DEVICE_CPU, NULL, &err);
	if (!e)
		T_FAIL("embed_open: %s", err.msg);
	T_TRUE(strncmp(embed_model_id(e), "gguf-nomic-bert-32d-", 20) == 0);
	/* nomic-embed-text's "search_query: " / "search_document: ": the roles differ */
	const char *t = "t10 t11 t12";
	size_t n = strlen(t);
	float d[32], q[32];
	T_OK(embed_texts(e, EMBED_DOCUMENT, &t, &n, 1, d, &err));
	T_OK(embed_texts(e, EMBED_QUERY, &t, &n, 1, q, &err));
	T_TRUE(t_cosine_f(d, q, 32) < 0.9999);
	embed_close(e);
}

static void test_devices(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_path("m.gguf"));
	write_model(path, "--layers 1 --embd 32 --heads 2 --ff 48 --ctx 16");
	struct t_model l;
	t_model_load(&l, path);
	struct enc_cuda *cuda = NULL;
	struct base_err cerr = { 0, "" };
	int crc = enc_cuda_open(&l.m, &(struct enc_cuda_options){ 0 }, &cuda, &cerr);
	bool gpu = crc == BASE_OK;
	enc_cuda_close(cuda);
	t_model_unload(&l);
	if (!gpu)
		T_EQ_INT(crc, BASE_E_DEVICE);

	struct base_err err = { 0, "" };
	struct embed *e = open_spec(path, EMBED_DEVICE_CUDA, NULL, &err);
	if (gpu) {
		T_TRUE(e && strstr(embed_describe(e), "CUDA"));
	} else {
		/* --device cuda without a GPU: an error that says why */
		T_TRUE(e == NULL);
		T_EQ_INT(err.code, BASE_E_DEVICE);
		T_TRUE(strstr(err.msg, "m.gguf: --device cuda: ") != NULL);
		fprintf(stderr, "  no GPU here: %s\n", err.msg);
	}
	embed_close(e);
	/* auto: the GPU when usable, else the CPU; it never fails for want of a GPU */
	e = open_spec(path, EMBED_DEVICE_AUTO, NULL, &err);
	if (!e)
		T_FAIL("auto: %s", err.msg);
	T_TRUE(strstr(embed_describe(e), gpu ? "on CUDA" : "on the CPU") != NULL);
	embed_close(e);
}

/* ---- GPU scheduling, with a stand-in device ----------------------------------------- */

/* The stand-in: the CPU reference behind the GPU interface, slow enough for queues to form. */
struct enc_cuda {
	struct enc_cpu *cpu;
};

static struct {
	atomic_int calls, max_seqs, fail_at, nan_at, over_cap;
} fake;

#define FAKE_CAP 256

static bool fake_built(void)
{
	return true;
}

static int fake_open(const struct enc_model *m, const struct enc_cuda_options *o, struct enc_cuda **out,
		     struct base_err *err)
{
	(void)o;
	*out = base_calloc(1, sizeof(**out));
	return enc_cpu_open(m, &(*out)->cpu, err);
}

static void fake_close(struct enc_cuda *c)
{
	if (c)
		enc_cpu_close(c->cpu);
	base_free(c);
}

static size_t fake_max_tokens(const struct enc_cuda *c)
{
	(void)c;
	return FAKE_CAP;
}

static const char *fake_describe(const struct enc_cuda *c)
{
	(void)c;
	return "stand-in GPU";
}

static int fake_forward(struct enc_cuda *c, const struct enc_batch *b, float *out, struct base_err *err)
{
	int call = atomic_fetch_add(&fake.calls, 1) + 1;
	if (b->offs[b->n_seq] > FAKE_CAP)
		atomic_fetch_add(&fake.over_cap, 1);
	for (int m = atomic_load(&fake.max_seqs); (int)b->n_seq > m;)
		if (atomic_compare_exchange_weak(&fake.max_seqs, &m, (int)b->n_seq))
			break;
	usleep(10000);
	if (call == atomic_load(&fake.fail_at))
		return base_err_set(err, BASE_E_DEVICE, "injected device fault");
	int rc = enc_cpu_forward(c->cpu, b, out, err);
	if (call == atomic_load(&fake.nan_at))
		out[0] = NAN; /* what an fp16 overflow leaves after LayerNorm */
	return rc;
}

static const struct embed_gpu fake_gpu = { fake_built, fake_open, fake_close, fake_max_tokens, fake_describe,
					   fake_forward };

enum { CALLERS = 8, TEXTS = 10, DIM = 32 };

static pthread_barrier_t start;

struct caller {
	struct embed *e;
	int id;
	float out[TEXTS * DIM];
	int rc;
};

static void caller_texts(int id, char storage[TEXTS][64], const char *texts[TEXTS], size_t lens[TEXTS])
{
	for (int i = 0; i < TEXTS; i++) {
		int n = snprintf(storage[i], 64, "t%d t%d t%d", 5 + id, 5 + (id * 31 + i * 7) % 290, 5 + i);
		texts[i] = storage[i];
		lens[i] = (size_t)n;
	}
}

static void *caller_run(void *arg)
{
	struct caller *c = arg;
	char storage[TEXTS][64];
	const char *texts[TEXTS];
	size_t lens[TEXTS];
	caller_texts(c->id, storage, texts, lens);
	struct base_err err;
	pthread_barrier_wait(&start);
	c->rc = embed_texts(c->e, EMBED_DOCUMENT, texts, lens, TEXTS, c->out, &err);
	return NULL;
}

/* CALLERS threads at once through the stand-in GPU; every vector checked against the CPU's. */
static void run_callers(const char *path, int fail_at, int nan_at)
{
	memset(&fake, 0, sizeof(fake));
	atomic_store(&fake.fail_at, fail_at);
	atomic_store(&fake.nan_at, nan_at);
	struct base_err err = { 0, "" };
	embed__set_gpu(&fake_gpu);
	struct embed *e = open_spec(path, EMBED_DEVICE_AUTO, NULL, &err);
	embed__set_gpu(NULL);
	if (!e)
		T_FAIL("embed_open: %s", err.msg);
	T_TRUE(strstr(embed_describe(e), "on CUDA: stand-in GPU") != NULL);
	struct embed *cpu = open_spec(path, EMBED_DEVICE_CPU, NULL, &err);
	T_TRUE(cpu != NULL);
	static struct caller callers[CALLERS];
	pthread_t tid[CALLERS];
	pthread_barrier_init(&start, NULL, CALLERS);
	for (int i = 0; i < CALLERS; i++) {
		callers[i] = (struct caller){ .e = e, .id = i };
		T_EQ_INT(pthread_create(&tid[i], NULL, caller_run, &callers[i]), 0);
	}
	for (int i = 0; i < CALLERS; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < CALLERS; i++) {
		T_OK(callers[i].rc);
		char storage[TEXTS][64];
		const char *texts[TEXTS];
		size_t lens[TEXTS];
		caller_texts(i, storage, texts, lens);
		float want[TEXTS * DIM];
		T_OK(embed_texts(cpu, EMBED_DOCUMENT, texts, lens, TEXTS, want, &err));
		for (int j = 0; j < TEXTS * DIM; j++)
			if (!(fabsf(want[j] - callers[i].out[j]) <= 1e-5f)) /* NaN fails too */
				T_FAIL("caller %d, text %d: the GPU path's vector differs from the CPU's", i, j / DIM);
	}
	T_EQ_INT(atomic_load(&fake.over_cap), 0);
	embed_close(cpu);
	embed_close(e);
}

static void test_gpu_scheduling(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_path("m.gguf"));
	write_model(path, "--layers 1 --embd 32 --heads 2 --ff 48 --ctx 32 --pooling mean");
	run_callers(path, 0, 0);
	/* callers' batches were combined: one device call held more than one caller's sequences */
	fprintf(stderr, "  %d device calls, at most %d sequences in one\n", atomic_load(&fake.calls),
		atomic_load(&fake.max_seqs));
	T_TRUE(atomic_load(&fake.max_seqs) > TEXTS);
	T_TRUE(atomic_load(&fake.calls) < CALLERS);
	/* a fault on the second call: nothing lost, and the device is not used again */
	run_callers(path, 2, 0);
	T_EQ_INT(atomic_load(&fake.calls), 2);
	/* a vector that is not finite on the first call: that call's callers are redone on the CPU, the device kept */
	run_callers(path, 0, 1);
	T_TRUE(atomic_load(&fake.calls) > 1);
}

/* ---- bad models ---------------------------------------------------------------- */

/* Write a model whose metadata or tensors are wrong in one way and expect code + message. */
static void expect_refused(const char *what, void (*build)(struct gw *w), int code, const char *msg)
{
	struct gw w;
	gw_init(&w, 0);
	build(&w);
	struct base_buf file = BASE_BUF_INIT(BASE_CAP_TEXT);
	gw_finish(&w, &file);
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_path("bad.gguf"));
	T_OK(gw_write_file(&file, path));
	base_buf_release(&file);
	gw_release(&w);
	struct base_err err = { 0, "" };
	struct embed *e = open_spec(path, EMBED_DEVICE_CPU, NULL, &err);
	if (e)
		T_FAIL("%s: accepted", what);
	if (err.code != code || !strstr(err.msg, msg) || !strstr(err.msg, "bad.gguf"))
		T_FAIL("%s: got %s \"%s\", want %s \"...%s...\"", what, base_status_name(err.code), err.msg,
		       base_status_name(code), msg);
}

static void base_keys(struct gw *w, const char *arch)
{
	char k[96];
	gw_kv_str(w, "general.architecture", arch);
	static const char *const keys[] = { "context_length", "embedding_length", "feed_forward_length",
					    "attention.head_count", "block_count" };
	static const uint32_t vals[] = { 16, 32, 64, 4, 1 };
	for (size_t i = 0; i < BASE_ARRAY_LEN(keys); i++) {
		snprintf(k, sizeof(k), "%s.%s", arch, keys[i]);
		gw_kv_u32(w, k, vals[i]);
	}
}

static void build_llama(struct gw *w)
{
	base_keys(w, "llama");
}

static void build_no_tensors(struct gw *w)
{
	base_keys(w, "bert");
}

static void build_no_heads(struct gw *w)
{
	gw_kv_str(w, "general.architecture", "bert");
	gw_kv_u32(w, "bert.embedding_length", 32);
}

static void tensor_f32(struct gw *w, const char *name, uint64_t ne0, uint64_t ne1)
{
	size_t n = (size_t)(ne0 * ne1);
	float *z = base_calloc(n, sizeof(float));
	uint64_t ne[2] = { ne0, ne1 };
	gw_tensor(w, name, GGUF_GGML_F32, ne1 > 1 ? 2 : 1, ne, z, n * sizeof(float));
	base_free(z);
}

static void build_bad_shape(struct gw *w)
{
	base_keys(w, "bert");
	tensor_f32(w, "token_embd.weight", 32, 10);
	tensor_f32(w, "token_types.weight", 32, 2);
	tensor_f32(w, "position_embd.weight", 32, 8); /* context_length says 16 */
}

static void build_q4(struct gw *w)
{
	base_keys(w, "bert");
	unsigned char blocks[10 * 18] = { 0 };
	uint64_t ne[2] = { 32, 10 };
	gw_tensor(w, "token_embd.weight", GGUF_GGML_Q4_0, 2, ne, blocks, sizeof(blocks));
}

static void build_odd_heads(struct gw *w)
{
	gw_kv_str(w, "general.architecture", "bert");
	gw_kv_u32(w, "bert.context_length", 16);
	gw_kv_u32(w, "bert.embedding_length", 32);
	gw_kv_u32(w, "bert.feed_forward_length", 64);
	gw_kv_u32(w, "bert.attention.head_count", 5); /* 32 is not a multiple of 5 */
	gw_kv_u32(w, "bert.block_count", 1);
}

static void test_bad_models(void)
{
	expect_refused("llama", build_llama, BASE_E_UNSUPPORTED, "architecture 'llama' is not an encoder");
	expect_refused("no tensors", build_no_tensors, BASE_E_PARSE, "tensor 'token_embd.weight' is missing");
	expect_refused("no head count", build_no_heads, BASE_E_NOTFOUND, "bert.block_count");
	expect_refused("bad shape", build_bad_shape, BASE_E_PARSE,
		       "tensor 'position_embd.weight' has shape [32, 8], the configuration needs [32, 16]");
	expect_refused("q4_0", build_q4, BASE_E_UNSUPPORTED, "type q4_0");
	expect_refused("heads", build_odd_heads, BASE_E_PARSE, "impossible encoder shape (embedding 32, heads 5");
	struct base_err err = { 0, "" };
	T_TRUE(open_spec("/nonexistent/model.gguf", EMBED_DEVICE_CPU, NULL, &err) == NULL);
	T_EQ_INT(err.code, BASE_E_NOTFOUND);
	T_TRUE(strstr(err.msg, "/nonexistent/model.gguf") != NULL);
}

/* Token ids outside the vocabulary or sequences longer than the context are refused. */
static void test_bad_batches(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_path("m.gguf"));
	write_model(path, "--layers 1 --embd 32 --heads 2 --ff 48 --ctx 16 --vocab-size 50");
	struct t_model l;
	t_model_load(&l, path);
	float out[32];
	struct base_err err = { 0, "" };
	int32_t ids[17] = { 2, 50, 3 };
	uint32_t offs[2] = { 0, 3 };
	struct enc_batch b = { ids, offs, 1 };
	T_EQ_INT(enc_cpu_forward(l.cpu, &b, out, &err), BASE_E_INVAL);
	T_TRUE(strstr(err.msg, "token id 50 outside the vocabulary") != NULL);
	ids[1] = 7;
	offs[1] = 17;
	T_EQ_INT(enc_cpu_forward(l.cpu, &b, out, &err), BASE_E_INVAL);
	t_model_unload(&l);
}

/* ---- lode index --model PATH.gguf -------------------------------------------------- */

static int run(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_index(void)
{
	const char *bin = getenv("LODE_BIN");
	if (!bin)
		T_SKIP("LODE_BIN is not set (run under ctest)");
	char dir[4096], cmd[16384];
	snprintf(dir, sizeof(dir), "%s", t_path(""));
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p %s/repo && printf 'int parse_header(void) { return 1; }\\n' > %s/repo/a.c && "
		 "printf 'def retry_backoff():\\n    pass\\n' > %s/repo/b.py",
		 dir, dir, dir);
	T_EQ_INT(run(cmd), 0);
	char model[4096];
	if ((size_t)snprintf(model, sizeof(model), "%s/m.gguf", dir) >= sizeof(model))
		T_FAIL("path too long");
	write_model(model, "--layers 1 --embd 32 --heads 2 --ff 48 --ctx 64 --pooling mean");
	/* a relative model path is kept as an absolute one: search runs from the repository */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && %s index --model m.gguf --device cpu --doc-prefix 'passage: ' --query-prefix 'query: ' "
		 "--json repo > idx.json 2> idx.err && %s index --json repo > idx2.json 2>> idx.err && "
		 "cd repo && %s search --mode dense --json t5 > ../s.json && %s status --json > ../st.json",
		 dir, bin, bin, bin, bin);
	if (run(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cat %s/idx.err >&2", dir);
		run(cmd);
		T_FAIL("lode index --model failed");
	}
	snprintf(cmd, sizeof(cmd),
		 "grep -q '\"gguf-bert-32d-' %s/st.json && grep -q '\"path\": *\"a.c\"' %s/s.json && "
		 "grep -q '\"embedder\": *\"m.gguf: bert, 1 layers x 32, mean pooling, 64 tokens, on the CPU' %s/idx.json",
		 dir, dir, dir);
	T_EQ_INT(run(cmd), 0);
	/* the second run kept the model and its prefixes (the same model id: nothing embedded again),
	 * and the search above found the writer's vectors (a reader with other prefixes would not) */
	snprintf(cmd, sizeof(cmd), "grep -q '\"embedded\": *0[,}]' %s/idx2.json && "
		 "test \"$(grep -o 'gguf-bert-32d-[0-9a-f]*' %s/idx.json)\" = \"$(grep -o 'gguf-bert-32d-[0-9a-f]*' %s/idx2.json)\"",
		 dir, dir, dir);
	T_EQ_INT(run(cmd), 0);
	/* a model that cannot be opened changes nothing, --rebuild included: the same files, the same
	 * model; a later plain run still uses the kept one, and a rebuild keeps it too */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && printf 'not a model' > bad.gguf && id=$(grep -o 'gguf-bert-32d-[0-9a-f]*' idx.json) && "
		 "%s index --rebuild --model bad.gguf repo 2> e1.txt; test $? -eq 2 && grep -q 'bad.gguf' e1.txt && "
		 "%s index --model bad.gguf repo 2> e2.txt; test $? -eq 2 && "
		 "%s index --json repo > idx3.json && grep -q \"$id\" idx3.json && grep -q '\"indexed\": *2' idx3.json && "
		 "grep -q '\"unchanged\": *2' idx3.json && "
		 "%s index --rebuild --json repo > idx4.json && grep -q \"$id\" idx4.json && grep -q '\"added\": *2' idx4.json",
		 dir, bin, bin, bin, bin);
	if (run(cmd) != 0) {
		snprintf(cmd, sizeof(cmd), "cd %s && cat e1.txt e2.txt idx3.json idx4.json >&2", dir);
		run(cmd);
		T_FAIL("a failed model open changed the index");
	}
	/* a missing model: exit 2, the path named */
	snprintf(cmd, sizeof(cmd), "cd %s && %s index --model nope.gguf repo 2> err.txt; test $? -eq 2 && grep -q 'nope.gguf' err.txt",
		 dir, bin);
	T_EQ_INT(run(cmd), 0);
}

T_MAIN(T_ENTRY(test_reference_bert_mean_f32), T_ENTRY(test_reference_bert_cls_f16),
       T_ENTRY(test_reference_bert_q8_0), T_ENTRY(test_reference_nomic_f32), T_ENTRY(test_reference_nomic_bf16),
       T_ENTRY(test_half_conversions), T_ENTRY(test_fast_math), T_ENTRY(test_quantized_decoding), T_ENTRY(test_embedder),
       T_ENTRY(test_nomic_prefixes), T_ENTRY(test_devices), T_ENTRY(test_gpu_scheduling), T_ENTRY(test_bad_models), T_ENTRY(test_bad_batches),
       T_ENTRY(test_cli_index))
