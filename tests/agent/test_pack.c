/*
 * test_pack.c: context packing. The property test packs random queries
 * into random budgets (tiny ones included) over an index of the fixture
 * repository and checks the rendered text on its own terms: re-measured
 * with the tokenizer it fits the budget, its blocks never overlap, every
 * header names real lines of a real file and the code under it is those
 * lines, and blocks come in path/line order.
 */
#include "test.h"

#include "agent/agent.h"
#include "indexer/indexer.h"
#include "indexer/reader.h"

#include "base/banned.h"

static char *fixture_index(void)
{
	const char *fx = getenv("LODE_FIXTURES");
	if (!fx)
		T_SKIP("LODE_FIXTURES not set (run through ctest)");
	char tmpl[] = "/tmp/lode-pack-XXXXXX";
	T_TRUE(mkdtemp(tmpl) != NULL);
	char *cmd = base_strfmt("cp -r '%s/repo/.' '%s/'", fx, tmpl);
	T_EQ_INT(system(cmd), 0);
	base_free(cmd);
	struct idx_options o = { .root = tmpl, .jobs = 2 };
	struct idx_summary s;
	struct base_err err;
	T_OK(idx_index(&o, &s, &err));
	T_TRUE(s.files > 10);
	return base_strdup(tmpl);
}

static void rm_rf(const char *dir)
{
	char *cmd = base_strfmt("rm -rf '%s'", dir);
	T_EQ_INT(system(cmd), 0);
	base_free(cmd);
}

struct parsed {
	char path[256];
	long a, b;
	bool outline;
};

static size_t line_of(const char *t, size_t off)
{
	size_t n = 1;
	for (size_t i = 0; i < off; i++)
		n += t[i] == '\n';
	return n;
}

/* Does `code` occur in root/path starting on line a and ending on line b? */
static bool code_at(const char *root, const char *path, const char *code, size_t n, long a, long b, bool prefix)
{
	char *full = base_strfmt("%s/%s", root, path);
	struct base_buf f = BASE_BUF_INIT(BASE_CAP_FILE);
	T_OK(base_buf_read_file(&f, full, NULL));
	base_free(full);
	bool ok = false;
	if (n == 0)
		ok = true;
	for (size_t i = 0; !ok && n && i + n <= f.len; i++) {
		if (memcmp(f.data + i, code, n) != 0)
			continue;
		if ((long)line_of(f.data, i) != a)
			continue;
		ok = prefix || (long)line_of(f.data, i + n - 1) == b;
		if (prefix) /* the outline's range must exist */
			ok = (long)line_of(f.data, f.len ? f.len - 1 : 0) >= b;
	}
	base_buf_release(&f);
	return ok;
}

/* Parse the packed text back into blocks and check each against the files. */
static size_t check_text(const char *root, const char *text, struct parsed *out, size_t max)
{
	size_t nb = 0;
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		T_TRUE(nl != NULL);
		struct parsed blk = { 0 };
		char hdr[512];
		T_TRUE((size_t)(nl - p) < sizeof(hdr));
		memcpy(hdr, p, (size_t)(nl - p));
		hdr[nl - p] = '\0';
		char *colon = strrchr(hdr, ':');
		T_TRUE(colon != NULL);
		*colon = '\0';
		T_TRUE(strlen(hdr) < sizeof(blk.path));
		memcpy(blk.path, hdr, strlen(hdr) + 1);
		char *end;
		blk.a = strtol(colon + 1, &end, 10);
		T_TRUE(*end == '-');
		blk.b = strtol(end + 1, &end, 10);
		blk.outline = strcmp(end, " (outline)") == 0;
		if (!blk.outline && *end)
			T_FAIL("bad header '%s'", hdr);
		T_TRUE(blk.a >= 1 && blk.a <= blk.b);
		/* fence */
		p = nl + 1;
		size_t f = 0;
		while (p[f] == '`')
			f++;
		T_TRUE(f >= 3);
		char fence[64];
		memcpy(fence, p, f);
		fence[f] = '\n';
		fence[f + 1] = '\0';
		p = strchr(p, '\n') + 1;
		const char *code = p;
		const char *close = NULL;
		for (const char *q = p; *q;) {
			if (strncmp(q, fence, f + 1) == 0) {
				close = q;
				break;
			}
			q = strchr(q, '\n');
			T_TRUE(q != NULL);
			q++;
		}
		T_TRUE(close != NULL);
		size_t cn = (size_t)(close - code);
		if (blk.outline) {
			const char *ell = "\xe2\x80\xa6\n";
			T_TRUE(cn >= 4 && memcmp(close - 4, ell, 4) == 0);
			cn -= 4;
		}
		T_TRUE(cn > 0 && code[cn - 1] == '\n');
		/* the chunk may or may not end in a newline: try both */
		bool ok = code_at(root, blk.path, code, cn, blk.a, blk.b, blk.outline) ||
			  code_at(root, blk.path, code, cn - 1, blk.a, blk.b, blk.outline);
		if (!ok)
			T_FAIL("block %s:%ld-%ld does not match the file", blk.path, blk.a, blk.b);
		p = close + f + 1;
		if (*p == '\n')
			p++;
		T_TRUE(nb < max);
		out[nb++] = blk;
	}
	/* reading order and no overlap */
	for (size_t i = 1; i < nb; i++) {
		int c = strcmp(out[i - 1].path, out[i].path);
		T_TRUE(c <= 0);
		if (c == 0 && out[i].a <= out[i - 1].b)
			T_FAIL("blocks overlap: %s:%ld-%ld and %ld-%ld", out[i].path, out[i - 1].a, out[i - 1].b, out[i].a,
			       out[i].b);
	}
	return nb;
}

static const char *const words[] = {
	"ring", "buffer", "push", "pop", "rate", "limiter", "token", "bucket", "graph", "edge", "ledger",
	"balance", "cache", "evict", "matrix", "multiply", "router", "route", "stack", "todo", "list",
	"event", "bus", "subscribe", "geometry", "point", "inventory", "item", "kvstore", "get", "set",
	"pipeline", "scheduler", "job", "settings", "tokenizer", "lexer", "vector", "length", "deploy",
	"error", "parse", "config", "capacity", "remove", "insert", "iterator", "hash", "lock", "queue",
};

static void budget_property(void)
{
	char *root = fixture_index();
	struct base_err err;
	struct idx_reader *r = idx_reader_open(root, &err);
	T_TRUE(r != NULL);
	struct agent_tok *tok = agent_tok_open("estimate", &err), *tok2 = agent_tok_open(NULL, &err);
	T_TRUE(tok && tok2);
	t_seed = 0x5eed0001;
	size_t nonempty = 0, outlines = 0, merged = 0;
	for (int round = 0; round < 250; round++) {
		char q[256] = "";
		int nw = 1 + (int)(t_rand() % 5);
		size_t ql = 0;
		for (int w = 0; w < nw; w++)
			ql += (size_t)snprintf(q + ql, sizeof(q) - ql, "%s ", words[t_rand() % BASE_ARRAY_LEN(words)]);
		static const size_t fixed[] = { 0, 1, 20, 50, 200 };
		size_t budget = round % 3 == 0 ? fixed[t_rand() % 5] : 1 + (size_t)(t_rand() % 8000);
		struct agent_pack_req req = { .query = q, .budget = budget, .k = 1 + t_rand() % 120 };
		struct agent_pack p;
		T_OK(agent_pack(r, tok, &req, &p, &err));
		size_t measured;
		T_OK(agent_tok_count(tok2, p.text, p.text_len, &measured, &err));
		if (measured > budget || measured != p.tokens)
			T_FAIL("query '%s' budget %zu: %zu tokens (reported %zu)", q, budget, measured, p.tokens);
		T_EQ_INT(strlen(p.text), p.text_len);
		struct parsed blocks[256];
		size_t nb = check_text(root, p.text, blocks, BASE_ARRAY_LEN(blocks));
		T_EQ_INT(nb, p.nblocks);
		for (size_t i = 0; i < nb; i++) {
			T_EQ_STR(blocks[i].path, p.blocks[i].path);
			T_EQ_INT(blocks[i].a, p.blocks[i].start_line);
			T_EQ_INT(blocks[i].b, p.blocks[i].end_line);
			outlines += blocks[i].outline;
			merged += p.blocks[i].nhits > 1;
		}
		nonempty += nb > 0;
		/* stable: the same request renders the same text */
		struct agent_pack p2;
		T_OK(agent_pack(r, tok, &req, &p2, &err));
		T_EQ_STR(p.text, p2.text);
		agent_pack_release(&p2);
		agent_pack_release(&p);
	}
	/* the property is not vacuous */
	T_TRUE(nonempty > 100);
	T_TRUE(outlines > 0);
	T_TRUE(merged > 0);
	agent_tok_close(tok);
	agent_tok_close(tok2);
	idx_reader_close(r);
	rm_rf(root);
	base_free(root);
}

static void top_hit_first_and_json(void)
{
	char *root = fixture_index();
	struct base_err err;
	struct idx_reader *r = idx_reader_open(root, &err);
	struct agent_tok *tok = agent_tok_open(NULL, &err);
	struct idx_query q = { .text = "ring buffer push", .k = 5 };
	struct store_hits hits = STORE_HITS_INIT;
	T_OK(idx_search(r, &q, &hits, NULL, &err));
	T_TRUE(hits.n > 0);
	struct agent_context_req req = { .query = "ring buffer push" };
	json_t *j = NULL;
	T_OK(agent_context(r, tok, &req, &j, &err));
	T_EQ_INT(json_integer_value(json_object_get(j, "budget")), AGENT_DEFAULT_BUDGET);
	T_TRUE(json_integer_value(json_object_get(j, "tokens")) <= AGENT_DEFAULT_BUDGET);
	T_TRUE(json_integer_value(json_object_get(j, "tokens")) > 0);
	T_EQ_STR(json_string_value(json_object_get(j, "tokenizer")), "estimate");
	T_TRUE(json_is_false(json_object_get(j, "exact")));
	/* the best hit is among the chunks and its lines are in the text */
	json_t *first = json_array_get(json_object_get(j, "chunks"), 0);
	T_EQ_INT(json_integer_value(json_object_get(first, "chunk_id")), hits.v[0].chunk_id);
	char hdr[300];
	snprintf(hdr, sizeof(hdr), "%s:", hits.v[0].path);
	T_TRUE(strstr(json_string_value(json_object_get(j, "text")), hdr) != NULL);
	json_decref(j);
	/* a reserve as large as the budget is refused */
	struct agent_context_req bad = { .query = "x", .budget = 100, .reserve = 100 };
	T_EQ_INT(agent_context(r, tok, &bad, &j, &err), BASE_E_INVAL);
	store_hits_release(&hits);
	agent_tok_close(tok);
	idx_reader_close(r);
	rm_rf(root);
	base_free(root);
}

/* A chunk too big for the budget is kept as an outline, not dropped. */
static void degrades_to_outline(void)
{
	struct base_buf big = BASE_BUF_INIT(BASE_CAP_TEXT);
	T_OK(base_buf_adds(&big, "int long_function(int a, int b)\n{\n"));
	for (int i = 0; i < 200; i++)
		T_OK(base_buf_addf(&big, "\ta += b * %d; /* step %d */\n", i, i));
	T_OK(base_buf_adds(&big, "\treturn a;\n}\n"));
	struct store_hit h[2] = {
		{ .chunk_id = 1, .path = "src/big.c", .lang = "c", .kind = "function", .symbol = "long_function",
		  .scope = "", .start_byte = 0, .end_byte = (uint32_t)big.len, .start_line = 1, .end_line = 204,
		  .score = 2.0, .text = big.data, .text_len = big.len },
		{ .chunk_id = 2, .path = "src/small.c", .lang = "c", .kind = "function", .symbol = "f", .scope = "",
		  .start_byte = 0, .end_byte = 14, .start_line = 1, .end_line = 1, .score = 1.0,
		  .text = "int f(void);\n", .text_len = 13 },
	};
	struct store_hits hits = { h, 2, 2 };
	struct agent_tok *tok = agent_tok_open(NULL, NULL);
	struct agent_pack p;
	memset(&p, 0, sizeof(p));
	T_OK(agent_pack_hits(tok, &hits, 120, &p, NULL));
	T_TRUE(p.tokens <= 120);
	T_EQ_INT(p.nblocks, 2);
	T_EQ_STR(p.blocks[0].path, "src/big.c");
	T_TRUE(p.blocks[0].outline);
	T_TRUE(!p.blocks[1].outline);
	T_TRUE(strstr(p.text, "src/big.c:1-204 (outline)\n```c\nint long_function(int a, int b)\n\xe2\x80\xa6\n```\n") !=
	       NULL);
	agent_pack_release(&p);
	/* budget 0: nothing, and no error */
	memset(&p, 0, sizeof(p));
	T_OK(agent_pack_hits(tok, &hits, 0, &p, NULL));
	T_EQ_INT(p.tokens, 0);
	T_EQ_STR(p.text, "");
	agent_pack_release(&p);
	agent_tok_close(tok);
	base_buf_release(&big);
}

T_MAIN(T_ENTRY(budget_property), T_ENTRY(top_hit_first_and_json), T_ENTRY(degrades_to_outline))
