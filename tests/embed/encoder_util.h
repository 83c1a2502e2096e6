/*
 * encoder_util.h: what the encoder tests share (header-only, like test.h):
 * a random-weight model written from a gw_bert shape, the model loaded
 * with its CPU reference, and the cosine of two vectors.
 */
#ifndef LODE_TESTS_ENCODER_UTIL_H
#define LODE_TESTS_ENCODER_UTIL_H

#include <math.h>

#include "test.h"

#include "embed/encoder.h"
#include "embed/gguf_writer.h"

struct t_model {
	struct gguf *g;
	struct enc_model m;
	struct enc_cpu *cpu;
};

/* A model of shape c over the n tokens toks to path. */
static inline void t_model_write_vocab(const char *path, const struct gw_bert *c, const char *const *toks, size_t n)
{
	struct gw w;
	gw_init(&w, 0);
	gw_bert(&w, c, toks, n);
	struct base_buf file = BASE_BUF_INIT(BASE_CAP_TEXT);
	gw_finish(&w, &file);
	T_OK(gw_write_file(&file, path));
	base_buf_release(&file);
	gw_release(&w);
}

/* A model of shape c over gw_vocab(vocab) to path. */
static inline void t_model_write(const char *path, const struct gw_bert *c, size_t vocab)
{
	char **toks = gw_vocab(vocab);
	t_model_write_vocab(path, c, (const char *const *)toks, vocab);
	gw_vocab_free(toks, vocab);
}

static inline void t_model_load(struct t_model *l, const char *path)
{
	struct base_err err = { 0, "" };
	l->g = gguf_open(path, &err);
	if (!l->g)
		T_FAIL("gguf_open: %s", err.msg);
	if (enc_model_load(l->g, &l->m, &err))
		T_FAIL("enc_model_load: %s", err.msg);
	T_OK(enc_cpu_open(&l->m, &l->cpu, &err));
}

/* t_model_write then t_model_load, in this case's temporary directory. */
static inline void t_model_make(struct t_model *l, const struct gw_bert *c, size_t vocab)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", t_path("m.gguf"));
	t_model_write(path, c, vocab);
	t_model_load(l, path);
}

static inline void t_model_unload(struct t_model *l)
{
	enc_cpu_close(l->cpu);
	enc_model_release(&l->m);
	gguf_close(l->g);
}

static inline double t_cosine_f(const float *a, const float *b, size_t n)
{
	double ab = 0, aa = 0, bb = 0;
	for (size_t i = 0; i < n; i++) {
		ab += (double)a[i] * b[i];
		aa += (double)a[i] * a[i];
		bb += (double)b[i] * b[i];
	}
	return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

#endif /* LODE_TESTS_ENCODER_UTIL_H */
