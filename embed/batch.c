/*
 * batch.c: the checks every backend makes on a packed batch (encoder.h).
 */
#include "embed/encoder.h"

#include "base/banned.h"

int enc_batch_check(const struct enc_config *c, const struct enc_batch *b, struct base_err *err)
{
	for (size_t s = 0; s < b->n_seq; s++) {
		size_t L = b->offs[s + 1] - b->offs[s];
		if (L == 0 || L > c->n_ctx)
			return base_err_set(err, BASE_E_INVAL, "encoder: sequence %zu has %zu tokens (1..%u allowed)", s,
					    L, c->n_ctx);
	}
	for (size_t t = 0; t < b->offs[b->n_seq]; t++)
		if (b->ids[t] < 0 || (uint32_t)b->ids[t] >= c->n_vocab)
			return base_err_set(err, BASE_E_INVAL, "encoder: token id %d outside the vocabulary (%u)",
					    b->ids[t], c->n_vocab);
	return BASE_OK;
}
