/*
 * pack.c: context under a hard token budget (agent.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"

#include "base/banned.h"

#define DEFAULT_CANDIDATES 60
/* Lines an outline keeps of a block that does not fit whole. */
#define OUTLINE_LINES 3

struct cand {
	struct store_hit hit;
	double score;
	size_t cost;      /* tokens of the whole block */
	bool chosen, outline;
};

static int block_text(struct base_buf *b, const struct store_hit *h, bool outline)
{
	int rc = base_buf_addf(b, "%s:%u-%u\n```%s\n", h->path, h->start_line, h->end_line, h->lang ? h->lang : "");
	size_t n = h->text_len;
	if (outline) {
		const char *p = h->text;
		for (int i = 0; i < OUTLINE_LINES && p < h->text + h->text_len; i++) {
			const char *nl = memchr(p, '\n', (size_t)(h->text + h->text_len - p));
			p = nl ? nl + 1 : h->text + h->text_len;
		}
		n = (size_t)(p - h->text);
	}
	if (!rc)
		rc = base_buf_add(b, h->text, n);
	if (!rc && n && h->text[n - 1] != '\n')
		rc = base_buf_addc(b, '\n');
	if (!rc && outline && n < h->text_len)
		rc = base_buf_adds(b, "    …\n");
	if (!rc)
		rc = base_buf_adds(b, "```\n\n");
	return rc;
}

static int count(struct agent_tok *t, const struct store_hit *h, bool outline, size_t *out, struct base_err *err)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	int rc = block_text(&b, h, outline);
	if (!rc)
		rc = agent_tok_count(t, b.data, b.len, out, err);
	base_buf_release(&b);
	return rc;
}

static int by_place(const void *pa, const void *pb)
{
	const struct cand *a = pa, *b = pb;
	int c = strcmp(a->hit.path, b->hit.path);
	if (c)
		return c;
	return a->hit.start_line < b->hit.start_line ? -1 : a->hit.start_line > b->hit.start_line;
}

/* Does chunk b continue chunk a (same file, the next line)? */
static bool continues(const struct cand *a, const struct cand *b)
{
	return !a->outline && !b->outline && strcmp(a->hit.path, b->hit.path) == 0 &&
	       a->hit.end_line + 1 == b->hit.start_line;
}

/*
 * A chosen run of chunks that continue each other becomes one block: the
 * first hit is extended over the others, which are released.
 */
static size_t merge_runs(struct cand *cv, size_t n)
{
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		if (!cv[i].chosen) {
			cv[out++] = cv[i];
			continue;
		}
		size_t last = out;
		cv[out++] = cv[i];
		while (i + 1 < n && cv[i + 1].chosen && continues(&cv[last], &cv[i + 1])) {
			struct store_hit *a = &cv[last].hit, *b = &cv[i + 1].hit;
			char *text = base_malloc(a->text_len + b->text_len + 1);
			memcpy(text, a->text, a->text_len);
			memcpy(text + a->text_len, b->text, b->text_len);
			text[a->text_len + b->text_len] = '\0';
			base_free(a->text);
			a->text = text;
			a->text_len += b->text_len;
			a->end_line = b->end_line;
			a->end_byte = b->end_byte;
			cv[last].score = a->score > b->score ? cv[last].score : cv[i + 1].score;
			store_hit_release(b);
			i++;
		}
	}
	return out;
}

/* Render the chosen blocks in reading order into out->text; count it. */
static int render(struct cand *cv, size_t n, struct agent_tok *t, struct agent_context *out, struct base_err *err)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	int rc = BASE_OK;
	for (size_t i = 0; i < n && !rc; i++)
		if (cv[i].chosen)
			rc = block_text(&b, &cv[i].hit, cv[i].outline);
	if (!rc)
		rc = agent_tok_count(t, b.data, b.len, &out->tokens, err);
	base_free(out->text);
	out->text = base_buf_detach(&b, &out->text_len);
	return rc;
}

int agent_context(struct idx_reader *r, const struct agent_context_opts *o, struct agent_context *out,
		  struct base_err *err)
{
	memset(out, 0, sizeof(*out));
	size_t budget = o->budget ? o->budget : AGENT_DEFAULT_BUDGET;
	struct idx_query q = {
		.text = o->query,
		.len = o->len,
		.k = o->candidates ? o->candidates : DEFAULT_CANDIDATES,
		.mode = IDX_MODE_HYBRID,
	};
	struct store_hits hits = STORE_HITS_INIT;
	int rc = idx_search(r, &q, &hits, &out->answer, err);
	if (rc)
		return rc;
	size_t n = hits.n;
	struct cand *cv = base_calloc(n ? n : 1, sizeof(*cv));
	for (size_t i = 0; i < n; i++) {
		cv[i].hit = hits.v[i];
		cv[i].score = hits.v[i].score;
	}
	hits.n = 0;
	store_hits_release(&hits);

	qsort(cv, n, sizeof(*cv), by_place);
	for (size_t i = 0; i < n && !rc; i++)
		rc = count(o->tok, &cv[i].hit, false, &cv[i].cost, err);

	/* greedy by score per token, the best block first */
	size_t *order = base_malloc((n ? n : 1) * sizeof(*order));
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	size_t best = 0;
	for (size_t i = 1; i < n; i++)
		if (cv[i].score > cv[best].score)
			best = i;
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			size_t a = order[i], b = order[j];
			bool swap = b == best || (a != best && cv[b].score / (double)(cv[b].cost + 1) >
								      cv[a].score / (double)(cv[a].cost + 1));
			if (swap) {
				order[i] = b;
				order[j] = a;
			}
		}
	size_t used = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		struct cand *c = &cv[order[i]];
		if (used + c->cost <= budget) {
			c->chosen = true;
			used += c->cost;
			continue;
		}
		size_t oc = 0;
		rc = count(o->tok, &c->hit, true, &oc, err);
		if (!rc && used + oc <= budget) {
			c->chosen = c->outline = true;
			used += oc;
			out->outlined++;
		}
	}
	/* blocks counted alone may tokenize differently joined: measure the
	 * whole and give up the least dense blocks until it fits */
	if (!rc)
		rc = render(cv, n, o->tok, out, err);
	for (size_t i = n; !rc && out->tokens > budget && i-- > 0;) {
		if (!cv[order[i]].chosen)
			continue;
		cv[order[i]].chosen = false;
		rc = render(cv, n, o->tok, out, err);
	}
	/* neighbours of one file read as one block (one header fewer: the
	 * count only drops) */
	if (!rc) {
		n = merge_runs(cv, n);
		rc = render(cv, n, o->tok, out, err);
	}
	for (size_t i = 0; i < n; i++) {
		if (cv[i].chosen) {
			base_vec_push(&out->chunks, cv[i].hit);
		} else {
			out->dropped++;
			store_hit_release(&cv[i].hit);
		}
	}
	base_free(order);
	base_free(cv);
	if (rc)
		agent_context_release(out);
	return rc;
}

void agent_context_release(struct agent_context *c)
{
	store_hits_release(&c->chunks);
	base_free(c->text);
	c->text = NULL;
}
