/*
 * pack.c: context packing under a token budget (agent.h).
 *
 * 1. Each candidate chunk is rendered alone as a full block and as an
 *    outline, and both are counted with the target tokenizer.
 * 2. Selection: the top hit first (full, else outline) when it fits; then
 *    the rest greedily by score per token, full; then, for those that did
 *    not fit, their outlines in the same order.
 * 3. The chosen chunks are sorted by path and byte offset; full chunks of
 *    one file that touch are merged into one block; an outline that would
 *    share a line with another block is dropped.
 * 4. The text is rendered and measured as a whole. Token counts of BPE
 *    tokenizers are not exactly additive, so while the total is over the
 *    budget the chosen chunk of lowest density is removed and the text
 *    rendered again: the budget holds whatever the tokenizer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/internal.h"

#include "base/banned.h"

enum { PICK_NONE = 0, PICK_FULL, PICK_OUTLINE };

struct cand {
	const struct store_hit *h;
	size_t rank;
	size_t cost_full, cost_outline; /* 0 outline cost: no outline */
	size_t outline_len;             /* bytes of the chunk text kept */
	int pick;
};

json_t *agent__json_text(const char *s, size_t n)
{
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	char *c = base_malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)s[i] >= 0x80 || s[i] == '\0' ? '?' : s[i];
	c[n] = '\0';
	j = json_stringn(c, n);
	base_free(c);
	return j ? j : json_string("");
}

json_t *agent__hit_json(const struct store_hit *h)
{
	json_t *o = json_object();
	json_object_set_new(o, "chunk_id", json_integer(h->chunk_id));
	json_object_set_new(o, "path", agent__json_text(h->path, strlen(h->path)));
	json_object_set_new(o, "start_line", json_integer(h->start_line));
	json_object_set_new(o, "end_line", json_integer(h->end_line));
	json_object_set_new(o, "lang", json_string(h->lang ? h->lang : ""));
	json_object_set_new(o, "kind", json_string(h->kind ? h->kind : ""));
	json_object_set_new(o, "symbol", agent__json_text(h->symbol, strlen(h->symbol)));
	json_object_set_new(o, "scope", agent__json_text(h->scope, strlen(h->scope)));
	json_object_set_new(o, "score", json_real(h->score));
	json_object_set_new(o, "text", agent__json_text(h->text, h->text_len));
	return o;
}

int agent__count(struct agent_tok *tok, const char *s, size_t *out, struct base_err *err)
{
	return agent_tok_count(tok, s, strlen(s), out, err);
}

/* The outline of a chunk: its first lines up to the signature (a line
 * holding '{', or ending in ':' or ')'), at most 3 lines. Returns the
 * number of bytes kept, 0 when the outline would be the whole chunk. */
static size_t outline_len(const char *t, size_t n)
{
	size_t pos = 0;
	for (int line = 0; line < 3 && pos < n; line++) {
		const char *nl = memchr(t + pos, '\n', n - pos);
		size_t end = nl ? (size_t)(nl - t) : n;
		size_t e = end;
		while (e > pos && (t[e - 1] == ' ' || t[e - 1] == '\t' || t[e - 1] == '\r'))
			e--;
		bool sig = memchr(t + pos, '{', end - pos) || (e > pos && (t[e - 1] == ':' || t[e - 1] == ')'));
		pos = nl ? end + 1 : n;
		if (sig)
			break;
	}
	/* skip a whole-chunk "outline" (nothing left out but whitespace) */
	size_t rest = pos;
	while (rest < n && (t[rest] == ' ' || t[rest] == '\n' || t[rest] == '\t' || t[rest] == '\r'))
		rest++;
	return rest >= n ? 0 : pos;
}

/* Fence long enough for any backtick run the code holds. */
static size_t fence_len(const char *t, size_t n)
{
	size_t best = 0, run = 0;
	for (size_t i = 0; i < n; i++) {
		run = t[i] == '`' ? run + 1 : 0;
		best = BASE_MAX(best, run);
	}
	return BASE_MAX((size_t)3, best + 1);
}

static const char *fence_lang(const char *lang)
{
	return !lang || strcmp(lang, "text") == 0 ? "" : lang;
}

static int render_block(struct base_buf *b, const char *path, uint32_t start, uint32_t end, const char *lang,
			const char *code, size_t n, bool outline)
{
	size_t f = fence_len(code, n);
	int rc = base_buf_addf(b, "%s:%u-%u%s\n", path, start, end, outline ? " (outline)" : "");
	for (size_t i = 0; !rc && i < f; i++)
		rc = base_buf_addc(b, '`');
	if (!rc)
		rc = base_buf_addf(b, "%s\n", fence_lang(lang));
	if (!rc)
		rc = base_buf_add(b, code, n);
	if (!rc && (n == 0 || code[n - 1] != '\n'))
		rc = base_buf_addc(b, '\n');
	if (!rc && outline)
		rc = base_buf_adds(b, "\xe2\x80\xa6\n"); /* … */
	for (size_t i = 0; !rc && i < f; i++)
		rc = base_buf_addc(b, '`');
	if (!rc)
		rc = base_buf_addc(b, '\n');
	return rc;
}

static void hit_copy(struct store_hits *dst, const struct store_hit *h)
{
	if (dst->n == dst->cap) {
		dst->cap = dst->cap ? dst->cap * 2 : 16;
		dst->v = base_realloc(dst->v, dst->cap * sizeof(*dst->v));
	}
	struct store_hit *c = &dst->v[dst->n++];
	*c = *h;
	c->path = base_strdup(h->path);
	c->lang = base_strdup(h->lang ? h->lang : "");
	c->kind = base_strdup(h->kind ? h->kind : "");
	c->symbol = base_strdup(h->symbol ? h->symbol : "");
	c->scope = base_strdup(h->scope ? h->scope : "");
	c->text = base_strndup(h->text, h->text_len);
}

static int cmp_reading(const void *a, const void *b)
{
	const struct cand *x = *(const struct cand *const *)a, *y = *(const struct cand *const *)b;
	int c = strcmp(x->h->path, y->h->path);
	if (c)
		return c;
	return x->h->start_byte < y->h->start_byte ? -1 : x->h->start_byte > y->h->start_byte;
}

static double density(const struct cand *c)
{
	size_t cost = c->pick == PICK_OUTLINE ? c->cost_outline : c->cost_full;
	/* outlines are worth less than the code they stand for */
	double s = c->h->score > 0 ? c->h->score : 1e-9;
	return (c->pick == PICK_OUTLINE ? s * 0.25 : s) / (double)(cost ? cost : 1);
}

static int cmp_density(const void *a, const void *b)
{
	const struct cand *x = *(const struct cand *const *)a, *y = *(const struct cand *const *)b;
	double dx = density(x), dy = density(y);
	if (dx != dy)
		return dx > dy ? -1 : 1;
	return x->rank < y->rank ? -1 : x->rank > y->rank;
}

void agent_pack_release(struct agent_pack *p)
{
	for (size_t i = 0; i < p->nblocks; i++)
		base_free(p->blocks[i].path);
	base_free(p->blocks);
	base_free(p->text);
	store_hits_release(&p->hits);
	memset(p, 0, sizeof(*p));
}

/* Render the chosen candidates (reading order) into p->text and blocks. */
static int render(struct cand **sel, size_t n, struct agent_pack *p, struct base_err *err)
{
	for (size_t i = 0; i < p->nblocks; i++)
		base_free(p->blocks[i].path);
	base_free(p->blocks);
	base_free(p->text);
	p->blocks = NULL;
	p->nblocks = 0;
	p->text = NULL;
	struct base_buf text = BASE_BUF_INIT(BASE_CAP_TEXT), code = BASE_BUF_INIT(BASE_CAP_TEXT);
	p->blocks = base_calloc(n ? n : 1, sizeof(*p->blocks));
	int rc = BASE_OK;
	for (size_t i = 0; i < n && !rc;) {
		const struct store_hit *h = sel[i]->h;
		struct agent_block *blk = &p->blocks[p->nblocks];
		blk->path = base_strdup(h->path);
		blk->start_line = h->start_line;
		blk->end_line = h->end_line;
		blk->start_byte = h->start_byte;
		blk->end_byte = h->end_byte;
		blk->score = h->score;
		blk->nhits = 1;
		blk->outline = sel[i]->pick == PICK_OUTLINE;
		base_buf_reset(&code);
		rc = base_buf_add(&code, h->text, blk->outline ? sel[i]->outline_len : h->text_len);
		size_t j = i + 1;
		/* merge full chunks of the same file that touch or overlap */
		while (!rc && !blk->outline && j < n && sel[j]->pick == PICK_FULL &&
		       strcmp(sel[j]->h->path, h->path) == 0 && sel[j]->h->start_byte <= blk->end_byte) {
			const struct store_hit *g = sel[j]->h;
			if (g->end_byte > blk->end_byte) {
				size_t skip = blk->end_byte - g->start_byte;
				rc = base_buf_add(&code, g->text + skip, g->text_len - skip);
				blk->end_byte = g->end_byte;
				blk->end_line = g->end_line;
			}
			blk->score = BASE_MAX(blk->score, g->score);
			blk->nhits++;
			j++;
		}
		if (!rc)
			rc = render_block(&text, blk->path, blk->start_line, blk->end_line, h->lang, code.data, code.len,
					  blk->outline);
		if (!rc && j < n)
			rc = base_buf_addc(&text, '\n');
		p->nblocks++;
		i = j;
	}
	base_buf_release(&code);
	if (rc) {
		base_buf_release(&text);
		return base_err_set(err, rc, "context text too large");
	}
	p->text = base_buf_detach(&text, &p->text_len);
	return BASE_OK;
}

/* Drop outlines that share a line with a neighbouring chosen chunk of the
 * same file (headers must never overlap). `sel` is in reading order. */
static size_t drop_overlapping(struct cand **sel, size_t n)
{
	size_t out = 0;
	for (size_t i = 0; i < n; i++) {
		struct cand *c = sel[i];
		bool keep = true;
		while (out > 0) {
			struct cand *prev = sel[out - 1];
			bool same = strcmp(prev->h->path, c->h->path) == 0;
			bool shares = same && c->h->start_line <= prev->h->end_line;
			bool touch_bytes = same && c->h->start_byte <= prev->h->end_byte;
			bool both_full = prev->pick == PICK_FULL && c->pick == PICK_FULL;
			if (!shares && !touch_bytes)
				break;
			if (both_full && touch_bytes)
				break; /* merged when rendered */
			if (c->pick == PICK_OUTLINE || both_full) {
				c->pick = PICK_NONE;
				keep = false;
				break;
			}
			prev->pick = PICK_NONE; /* an outline before a full chunk */
			out--;
		}
		if (keep)
			sel[out++] = c;
	}
	return out;
}

int agent_pack_hits(struct agent_tok *tok, const struct store_hits *hits, size_t budget, struct agent_pack *out,
		    struct base_err *err)
{
	uint64_t t0 = base_now_ns();
	out->budget = budget;
	out->candidates = hits->n;
	size_t n = hits->n;
	struct cand *c = base_calloc(n ? n : 1, sizeof(*c));
	struct cand **order = base_calloc(n ? n : 1, sizeof(*order));
	struct base_buf tmp = BASE_BUF_INIT(BASE_CAP_TEXT);
	int rc = BASE_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		const struct store_hit *h = &hits->v[i];
		c[i].h = h;
		c[i].rank = i;
		base_buf_reset(&tmp);
		/* +1: the empty line between blocks */
		rc = render_block(&tmp, h->path, h->start_line, h->end_line, h->lang, h->text, h->text_len, false);
		if (!rc)
			rc = agent_tok_count(tok, tmp.data, tmp.len, &c[i].cost_full, err);
		c[i].cost_full += 1;
		c[i].outline_len = outline_len(h->text, h->text_len);
		if (!rc && c[i].outline_len) {
			base_buf_reset(&tmp);
			rc = render_block(&tmp, h->path, h->start_line, h->end_line, h->lang, h->text,
					  c[i].outline_len, true);
			if (!rc)
				rc = agent_tok_count(tok, tmp.data, tmp.len, &c[i].cost_outline, err);
			c[i].cost_outline += 1;
		}
	}
	base_buf_release(&tmp);
	if (rc)
		goto done;

	/* selection */
	size_t used = 0;
	if (n > 0) {
		if (c[0].cost_full <= budget) {
			c[0].pick = PICK_FULL;
			used = c[0].cost_full;
		} else if (c[0].cost_outline && c[0].cost_outline <= budget) {
			c[0].pick = PICK_OUTLINE;
			used = c[0].cost_outline;
		}
	}
	for (size_t i = 0; i < n; i++)
		order[i] = &c[i];
	if (n > 1)
		qsort(order + 1, n - 1, sizeof(*order), cmp_density);
	for (size_t i = 1; i < n; i++) {
		if (used + order[i]->cost_full <= budget) {
			order[i]->pick = PICK_FULL;
			used += order[i]->cost_full;
		}
	}
	for (size_t i = 1; i < n; i++) {
		if (order[i]->pick == PICK_NONE && order[i]->cost_outline && used + order[i]->cost_outline <= budget) {
			order[i]->pick = PICK_OUTLINE;
			used += order[i]->cost_outline;
		}
	}

	/* render, measure, shed until it fits */
	for (;;) {
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (c[i].pick != PICK_NONE)
				order[m++] = &c[i];
		qsort(order, m, sizeof(*order), cmp_reading);
		m = drop_overlapping(order, m);
		rc = render(order, m, out, err);
		if (rc)
			goto done;
		rc = agent_tok_count(tok, out->text, out->text_len, &out->tokens, err);
		if (rc)
			goto done;
		if (out->tokens <= budget || m == 0)
			break;
		/* remove the chosen chunk of lowest density (never the top hit
		 * while another one is left) */
		struct cand *worst = NULL;
		for (size_t i = 0; i < m; i++) {
			if (m > 1 && order[i]->rank == 0)
				continue;
			if (!worst || cmp_density(&order[i], &worst) > 0)
				worst = order[i];
		}
		worst->pick = PICK_NONE;
	}
	if (out->tokens > budget) { /* nothing at all fits */
		render(order, 0, out, err);
		out->tokens = 0;
		for (size_t i = 0; i < n; i++)
			c[i].pick = PICK_NONE;
	}
	/* the chunks used, rank order */
	for (size_t i = 0; i < n; i++)
		if (c[i].pick != PICK_NONE)
			hit_copy(&out->hits, c[i].h);
done:
	base_free(order);
	base_free(c);
	out->took_ms = (double)(base_now_ns() - t0) / 1e6;
	return rc;
}

int agent_pack(struct idx_reader *r, struct agent_tok *tok, const struct agent_pack_req *req,
	       struct agent_pack *out, struct base_err *err)
{
	memset(out, 0, sizeof(*out));
	uint64_t t0 = base_now_ns();
	struct idx_query q = {
		.text = req->query,
		.len = req->query_len,
		.k = req->k ? req->k : AGENT_DEFAULT_K,
		.mode = req->mode,
	};
	struct store_hits hits = STORE_HITS_INIT;
	int rc = idx_search(r, &q, &hits, NULL, err);
	if (!rc)
		rc = agent_pack_hits(tok, &hits, req->budget, out, err);
	store_hits_release(&hits);
	out->took_ms = (double)(base_now_ns() - t0) / 1e6;
	return rc;
}

int agent_context(struct idx_reader *r, struct agent_tok *tok, const struct agent_context_req *req, json_t **out,
		  struct base_err *err)
{
	size_t budget = req->budget ? req->budget : AGENT_DEFAULT_BUDGET;
	if (req->reserve >= budget)
		return base_err_set(err, BASE_E_INVAL, "reserve (%zu) must be below the budget (%zu)", req->reserve,
				    budget);
	struct agent_pack p;
	struct agent_pack_req pr = {
		.query = req->query,
		.query_len = req->query_len,
		.budget = budget - req->reserve,
		.k = req->k,
		.mode = req->mode,
	};
	int rc = agent_pack(r, tok, &pr, &p, err);
	if (rc) {
		agent_pack_release(&p);
		return rc;
	}
	json_t *chunks = json_array(), *blocks = json_array();
	for (size_t i = 0; i < p.hits.n; i++)
		json_array_append_new(chunks, agent__hit_json(&p.hits.v[i]));
	for (size_t i = 0; i < p.nblocks; i++) {
		const struct agent_block *b = &p.blocks[i];
		json_array_append_new(blocks, json_pack("{sosIsIsbsI}", "path", agent__json_text(b->path, strlen(b->path)),
						       "start_line", (json_int_t)b->start_line, "end_line",
						       (json_int_t)b->end_line, "outline", b->outline, "chunks",
						       (json_int_t)b->nhits));
	}
	*out = json_pack("{sIsIsssbsIsfsososo}", "budget", (json_int_t)budget, "tokens", (json_int_t)p.tokens,
			 "tokenizer", agent_tok_name(tok), "exact", agent_tok_exact(tok), "candidates",
			 (json_int_t)p.candidates, "took_ms", p.took_ms, "chunks", chunks, "blocks", blocks, "text",
			 agent__json_text(p.text, p.text_len));
	agent_pack_release(&p);
	return BASE_OK;
}
