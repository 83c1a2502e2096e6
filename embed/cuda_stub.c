/*
 * cuda_stub.c: the CUDA backend's functions in a build without CUDA
 * (encoder.h). Opening always fails with BASE_E_DEVICE, so `--device auto`
 * falls back to the CPU and `--device cuda` says why it cannot.
 */
#include <string.h>

#include "embed/encoder.h"

#include "base/banned.h"

bool enc_cuda_built(void)
{
	return false;
}

int enc_cuda_open(const struct enc_model *m, const struct enc_cuda_options *opts, struct enc_cuda **out,
		  struct base_err *err)
{
	(void)m;
	(void)opts;
	*out = NULL;
	return base_err_set(err, BASE_E_DEVICE, "this lode was built without CUDA");
}

void enc_cuda_close(struct enc_cuda *c)
{
	(void)c;
}

size_t enc_cuda_max_tokens(const struct enc_cuda *c)
{
	(void)c;
	return 0;
}

const char *enc_cuda_describe(const struct enc_cuda *c)
{
	(void)c;
	return "no CUDA";
}

int enc_cuda_forward(struct enc_cuda *c, const struct enc_batch *b, float *out, struct base_err *err)
{
	(void)c;
	(void)b;
	(void)out;
	return base_err_set(err, BASE_E_DEVICE, "this lode was built without CUDA");
}

void enc_cuda_profile(const struct enc_cuda *c, double *ms)
{
	(void)c;
	memset(ms, 0, ENC_CUDA_STAGE__COUNT * sizeof(*ms));
}
