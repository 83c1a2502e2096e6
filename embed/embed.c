/*
 * embed.c: the embedder handle and dispatch to backends.
 */
#include <math.h>
#include <string.h>

#include "embed/internal.h"

#include "base/banned.h"

bool embed_spec_builtin(const char *spec)
{
	return strcmp(spec, "hash") == 0 || strncmp(spec, "hash:", 5) == 0;
}

struct embed *embed_open(const struct embed_options *opts, struct base_err *err)
{
	static const struct embed_options defaults = { 0 };
	if (!opts)
		opts = &defaults;
	const char *spec = opts->spec && *opts->spec ? opts->spec : EMBED_DEFAULT_SPEC;
	struct embed *e = base_calloc(1, sizeof(*e));
	int rc = embed_spec_builtin(spec) ? embed__hash_open(e, spec, err) : embed__model_open(e, opts, err);
	if (rc) {
		base_free(e);
		return NULL;
	}
	return e;
}

void embed_close(struct embed *e)
{
	if (!e)
		return;
	if (e->ops && e->ops->close)
		e->ops->close(e);
	base_free(e);
}

unsigned embed_dim(const struct embed *e)
{
	return e->dim;
}

const char *embed_model_id(const struct embed *e)
{
	return e->model_id;
}

const char *embed_describe(const struct embed *e)
{
	return e->describe;
}

int embed_texts(struct embed *e, enum embed_role role, const char *const *texts, const size_t *lens,
		size_t n, float *out, struct base_err *err)
{
	if (n == 0)
		return BASE_OK;
	return e->ops->texts(e, role, texts, lens, n, out, err);
}

void embed__normalize(float *v, unsigned dim)
{
	double ss = 0;
	for (unsigned i = 0; i < dim; i++)
		ss += (double)v[i] * v[i];
	if (ss <= 0)
		return;
	float inv = (float)(1.0 / sqrt(ss));
	for (unsigned i = 0; i < dim; i++)
		v[i] *= inv;
}
