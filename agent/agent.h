/*
 * agent.h: what lode hands an LLM.
 *
 * agent_context packs the code most relevant to a query into a hard token
 * budget: prompt-ready text whose token count, measured with the target
 * model's tokenizer (agent/tokenize.h; the conservative estimate when none
 * is configured), never exceeds the budget.
 */
#ifndef LODE_AGENT_H
#define LODE_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/tokenize.h"
#include "base/base.h"
#include "indexer/reader.h"
#include "store/store.h"

#define AGENT_DEFAULT_BUDGET 16000

struct agent_context_opts {
	const char *query;
	size_t len;          /* 0: NUL-terminated */
	size_t budget;       /* tokens the text may use; 0: AGENT_DEFAULT_BUDGET */
	struct agent_tok *tok; /* counts tokens (required) */
	size_t candidates;   /* chunks considered; 0: 60 */
};

struct agent_context {
	struct store_hits chunks; /* the blocks packed, in reading order (merged
				     neighbours are one hit spanning both) */
	char *text;               /* heap, NUL-terminated */
	size_t text_len;
	size_t tokens;            /* of text, measured */
	size_t outlined;          /* blocks cut to their first lines to fit */
	size_t dropped;           /* candidates left out */
	struct idx_answer answer; /* what the search reflected */
};

/**
 * Pack context for a query. Blocks are chosen by score per token (the
 * best hit first when it fits), chosen neighbours of one file merged,
 * a block that does not fit cut to an outline (its first lines and a
 * "…") before it is dropped, and the result ordered by path then line —
 * the same files in the same order turn after turn, so an LLM server's
 * prompt cache can reuse the prefix. Each block is
 *
 *   path:START-END
 *   ```lang
 *   code
 *   ```
 */
int agent_context(struct idx_reader *r, const struct agent_context_opts *o, struct agent_context *out,
		  struct base_err *err);
void agent_context_release(struct agent_context *c);

#endif /* LODE_AGENT_H */
