/*
 * model.c: transformer encoders from model files. Not built yet: the GGUF
 * reader, tokenizers and encoder backends land with the GPU issue.
 */
#include "embed/internal.h"

#include "base/banned.h"

int embed__model_open(struct embed *e, const struct embed_options *opts, struct base_err *err)
{
	(void)e;
	return base_err_set(err, BASE_E_UNSUPPORTED,
			    "cannot load the model %s: this lode runs only the built-in `hash` embedder so far",
			    opts->spec);
}
