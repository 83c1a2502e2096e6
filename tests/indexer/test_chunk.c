/*
 * test_chunk.c: syntax chunking — golden boundaries for the fixture
 * repository, and the coverage property on fixtures and random inputs.
 *
 * LODE_UPDATE_GOLDEN=1 rewrites fixtures/golden/ from the current output
 * (review the diff before committing it).
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "test.h"

#include "indexer/chunk.h"
#include "indexer/lang.h"

#include "base/banned.h"

static const char *fixtures(void)
{
	const char *f = getenv("LODE_FIXTURES");
	if (!f)
		T_SKIP("LODE_FIXTURES not set (run through ctest)");
	return f;
}

/* Keep a failing input for a rerun under a debugger. */
static void save_input(const char *data, size_t len)
{
	FILE *f = fopen("/tmp/lode-chunk-input", "w");
	if (f) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
}

#define CHUNK_FAIL(...)                                                     \
	do {                                                                \
		save_input(data, len);                                      \
		T_FAIL(__VA_ARGS__);                                        \
	} while (0)

/* Every property a file's chunks must have. On failure the input is saved
 * to /tmp/lode-chunk-input. */
static void check_chunks(const char *what, const char *data, size_t len, unsigned max,
			 const struct idx_chunks *cs)
{
	if ((len == 0) != (cs->c.n == 0))
		CHUNK_FAIL("%s: %zu chunks for %zu bytes", what, cs->c.n, len);
	uint32_t at = 0, line = 1;
	for (size_t i = 0; i < cs->c.n; i++) {
		const struct idx_chunk *c = &cs->c.v[i];
		if (c->start_byte != at || c->end_byte <= c->start_byte)
			CHUNK_FAIL("%s: chunk %zu is [%u,%u), expected to start at %u", what, i, c->start_byte,
				   c->end_byte, at);
		if (c->start_line != line)
			CHUNK_FAIL("%s: chunk %zu starts on line %u, expected %u", what, i, c->start_line, line);
		for (uint32_t b = c->start_byte; b + 1 < c->end_byte; b++)
			line += data[b] == '\n';
		if (c->end_line != line)
			CHUNK_FAIL("%s: chunk %zu ends on line %u, expected %u", what, i, c->end_line, line);
		line += data[c->end_byte - 1] == '\n';
		size_t size = idx__nonws(data, c->start_byte, c->end_byte);
		if (size > max)
			CHUNK_FAIL("%s: chunk %zu [%u,%u) has %zu non-space bytes, limit %u", what, i,
				   c->start_byte, c->end_byte, size, max);
		if (!c->kind || !*c->kind)
			CHUNK_FAIL("%s: chunk %zu has no kind", what, i);
		at = c->end_byte;
	}
	if (at != len)
		CHUNK_FAIL("%s: chunks end at %u, file at %zu", what, at, len);
}

static void chunk_buf(const struct idx_lang *lang, const char *data, size_t len, unsigned max,
		      struct idx_chunks *cs)
{
	struct idx_chunk_opts o = { max, NULL };
	struct base_err err;
	int rc = idx_chunk_file(lang, data, len, &o, cs, &err);
	if (rc)
		T_FAIL("idx_chunk_file(%s): %s", lang->name, err.msg);
}

/* ---- the fixture repository ------------------------------------------ */

typedef void file_fn(const char *rel, const char *path, void *payload);

static void each_file(const char *root, const char *rel, file_fn *fn, void *payload)
{
	char *dir = *rel ? base_strfmt("%s/%s", root, rel) : base_strdup(root);
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);
	T_TRUE(n >= 0);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		if (strcmp(name, ".") && strcmp(name, "..")) {
			char *r = *rel ? base_strfmt("%s/%s", rel, name) : base_strdup(name);
			char *p = base_strfmt("%s/%s", dir, name);
			struct stat st;
			T_TRUE(lstat(p, &st) == 0);
			if (S_ISDIR(st.st_mode))
				each_file(root, r, fn, payload);
			else if (S_ISREG(st.st_mode))
				fn(r, p, payload);
			base_free(r);
			base_free(p);
		}
		free(ents[i]);
	}
	free(ents);
	base_free(dir);
}

static void render(const struct idx_chunks *cs, struct base_buf *out)
{
	for (size_t i = 0; i < cs->c.n; i++) {
		const struct idx_chunk *c = &cs->c.v[i];
		T_OK(base_buf_addf(out, "%u-%u\t%s\t%s\t%s\n", c->start_line, c->end_line, c->kind,
				   c->symbol ? c->symbol : "", c->scope ? c->scope : ""));
	}
}

struct golden_state {
	int checked, failed, langs_with_defs;
};

static void golden_one(const char *rel, const char *path, void *payload)
{
	struct golden_state *gs = payload;
	struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
	T_OK(base_buf_read_file(&data, path, NULL));
	const struct idx_lang *lang = idx_lang_detect(rel, data.data, data.len);
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk_buf(lang, data.data, data.len, IDX_DEFAULT_MAX_CHUNK, &cs);
	check_chunks(rel, data.data, data.len, IDX_DEFAULT_MAX_CHUNK, &cs);
	struct base_buf got = BASE_BUF_INIT(BASE_CAP_TEXT);
	T_OK(base_buf_addf(&got, "# %s (%s)\n", rel, lang->name));
	render(&cs, &got);
	bool has_def = false;
	for (size_t i = 0; i < cs.c.n; i++)
		has_def |= cs.c.v[i].symbol != NULL;
	gs->langs_with_defs += lang->grammar && has_def;

	char *gpath = base_strfmt("%s/golden/repo/%s.chunks", fixtures(), rel);
	if (getenv("LODE_UPDATE_GOLDEN")) {
		char *cmd = base_strfmt("mkdir -p \"$(dirname '%s')\"", gpath);
		T_EQ_INT(system(cmd), 0);
		base_free(cmd);
		FILE *f = fopen(gpath, "w");
		T_TRUE(f != NULL);
		fwrite(got.data, 1, got.len, f);
		fclose(f);
	} else {
		struct base_buf want = BASE_BUF_INIT(BASE_CAP_TEXT);
		if (base_buf_read_file(&want, gpath, NULL) != BASE_OK) {
			fprintf(stderr, "  missing golden %s\n", gpath);
			gs->failed++;
		} else if (strcmp(want.data, got.data) != 0) {
			fprintf(stderr, "  golden mismatch for %s\n--- want\n%s--- got\n%s", rel, want.data, got.data);
			gs->failed++;
		}
		base_buf_release(&want);
	}
	gs->checked++;
	base_free(gpath);
	base_buf_release(&got);
	idx_chunks_release(&cs);
	base_buf_release(&data);
}

static void fixture_goldens(void)
{
	char *root = base_strfmt("%s/repo", fixtures());
	struct golden_state gs = { 0, 0, 0 };
	each_file(root, "", golden_one, &gs);
	base_free(root);
	T_TRUE(gs.checked >= 20);
	/* every grammar language's fixture yields named definitions */
	T_TRUE(gs.langs_with_defs >= 16);
	T_EQ_INT(gs.failed, 0);
}

/* ---- named definitions ----------------------------------------------- */

static const struct idx_chunk *find_symbol(const struct idx_chunks *cs, const char *sym)
{
	for (size_t i = 0; i < cs->c.n; i++)
		if (cs->c.v[i].symbol && strcmp(cs->c.v[i].symbol, sym) == 0)
			return &cs->c.v[i];
	return NULL;
}

static void python_scopes(void)
{
	/* a class too big for one chunk: its methods carry its scope */
	struct base_buf src = BASE_BUF_INIT(BASE_CAP_TEXT);
	T_OK(base_buf_adds(&src, "import os\n\n\nclass Store:\n    \"\"\"Holds things.\"\"\"\n\n"));
	for (int i = 0; i < 6; i++) {
		T_OK(base_buf_addf(&src, "    def method_%d(self, value):\n", i));
		for (int j = 0; j < 8; j++)
			T_OK(base_buf_addf(&src, "        value = os.path.join(value, 'segment_%d_%d')\n", i, j));
		T_OK(base_buf_adds(&src, "        return value\n\n"));
	}
	T_OK(base_buf_adds(&src, "\ndef top_level():\n    return Store()\n"));
	const struct idx_lang *py = idx_lang_find("python");
	T_TRUE(py != NULL);
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk_buf(py, src.data, src.len, 600, &cs);
	check_chunks("python", src.data, src.len, 600, &cs);
	const struct idx_chunk *m = find_symbol(&cs, "method_3");
	T_TRUE(m != NULL);
	T_EQ_STR(m->scope, "class Store");
	T_EQ_STR(m->kind, "method");
	const struct idx_chunk *t = find_symbol(&cs, "top_level");
	T_TRUE(t != NULL);
	T_TRUE(t->scope == NULL);
	idx_chunks_release(&cs);
	base_buf_release(&src);
}

static void c_doc_comment_glued(void)
{
	const char *src = "#include <stdio.h>\n\n"
			  "/* Adds two numbers. */\n"
			  "int add(int a, int b)\n{\n\treturn a + b;\n}\n\n"
			  "/* Subtracts. */\n"
			  "int sub(int a, int b)\n{\n\treturn a - b;\n}\n";
	const struct idx_lang *c = idx_lang_find("c");
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	/* small budget: each function stays alone with its comment */
	chunk_buf(c, src, strlen(src), 60, &cs);
	check_chunks("c", src, strlen(src), 60, &cs);
	const struct idx_chunk *sub = find_symbol(&cs, "sub");
	T_TRUE(sub != NULL);
	T_TRUE(strncmp(src + sub->start_byte, "/* Subtracts. */", 16) == 0);
	T_EQ_STR(sub->kind, "function");
	idx_chunks_release(&cs);
}

static void syntax_errors_still_chunked(void)
{
	const char *src = "int ok(void) { return 1; }\n\nint broken( { {{ ;; \n\nint also_ok(void) { return 2; }\n";
	struct idx_chunks cs = IDX_CHUNKS_INIT;
	chunk_buf(idx_lang_find("c"), src, strlen(src), 1500, &cs);
	check_chunks("broken c", src, strlen(src), 1500, &cs);
	idx_chunks_release(&cs);
}

/* ---- random inputs --------------------------------------------------- */

static void mutate(struct base_buf *b)
{
	static const char junk[] = "{}()[];\n\t \"'`#/*\\\0\xff\xfe\xc3\x28<>=";
	int edits = 1 + (int)(t_rand() % 6);
	for (int e = 0; e < edits && b->len > 0; e++) {
		size_t at = t_rand() % b->len, n = 1 + t_rand() % 64;
		if (n > b->len - at)
			n = b->len - at;
		struct base_buf t = BASE_BUF_INIT(BASE_CAP_FILE);
		switch (t_rand() % 4) {
		case 0: /* delete a range */
			T_OK(base_buf_add(&t, b->data, at));
			T_OK(base_buf_add(&t, b->data + at + n, b->len - at - n));
			break;
		case 1: /* duplicate a range */
			T_OK(base_buf_add(&t, b->data, at + n));
			T_OK(base_buf_add(&t, b->data + at, b->len - at));
			break;
		case 2: /* insert junk */
			T_OK(base_buf_add(&t, b->data, at));
			for (size_t i = 0; i < n; i++)
				T_OK(base_buf_addc(&t, junk[t_rand() % (sizeof(junk) - 1)]));
			T_OK(base_buf_add(&t, b->data + at, b->len - at));
			break;
		default: /* truncate */
			T_OK(base_buf_add(&t, b->data, at));
		}
		base_buf_release(b);
		*b = t;
	}
}

struct fixture_set {
	BASE_VEC(char *) paths;
};

static void collect(const char *rel, const char *path, void *payload)
{
	(void)rel;
	struct fixture_set *fs = payload;
	base_vec_push(&fs->paths, base_strdup(path));
}

static void random_inputs_cover(void)
{
	const char *seed_env = getenv("LODE_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 10) : 20261122;
	t_seed = seed;
	struct fixture_set fs = { BASE_VEC_INIT };
	char *root = base_strfmt("%s/repo", fixtures());
	each_file(root, "", collect, &fs);
	base_free(root);
	T_TRUE(fs.paths.n > 0);
	int rounds = getenv("LODE_ROUNDS") ? (int)strtol(getenv("LODE_ROUNDS"), NULL, 10) : 1500;
	for (int r = 0; r < rounds; r++) {
		const char *path = fs.paths.v[t_rand() % fs.paths.n];
		struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
		T_OK(base_buf_read_file(&data, path, NULL));
		mutate(&data);
		const struct idx_lang *lang = idx_lang_detect(path, data.data, data.len);
		unsigned max = 50 + (unsigned)(t_rand() % 3000);
		struct idx_chunks cs = IDX_CHUNKS_INIT;
		chunk_buf(lang, data.data, data.len, max, &cs);
		char what[256];
		snprintf(what, sizeof(what), "seed %llu round %d %s max %u", (unsigned long long)seed, r, path, max);
		check_chunks(what, data.data, data.len, max, &cs);
		idx_chunks_release(&cs);
		base_buf_release(&data);
	}
	/* pure noise in every language */
	for (size_t l = 0; l < idx_lang_count(); l++) {
		struct base_buf data = BASE_BUF_INIT(BASE_CAP_FILE);
		size_t n = t_rand() % 5000;
		for (size_t i = 0; i < n; i++)
			T_OK(base_buf_addc(&data, (char)(t_rand() % 4 == 0 ? '\n' : 32 + t_rand() % 224)));
		struct idx_chunks cs = IDX_CHUNKS_INIT;
		chunk_buf(idx_lang_at(l), data.data, data.len, 200, &cs);
		check_chunks(idx_lang_at(l)->name, data.data, data.len, 200, &cs);
		idx_chunks_release(&cs);
		base_buf_release(&data);
	}
	for (size_t i = 0; i < fs.paths.n; i++)
		base_free(fs.paths.v[i]);
	base_vec_release(&fs.paths);
}

static void empty_and_tiny(void)
{
	static const char *const inputs[] = { "", "\n", "x", "   \n\n  ", "}", "\0\0" };
	for (size_t l = 0; l < idx_lang_count(); l++) {
		for (size_t i = 0; i < BASE_ARRAY_LEN(inputs); i++) {
			size_t n = i == 5 ? 2 : strlen(inputs[i]);
			struct idx_chunks cs = IDX_CHUNKS_INIT;
			chunk_buf(idx_lang_at(l), inputs[i], n, 1500, &cs);
			check_chunks(idx_lang_at(l)->name, inputs[i], n, 1500, &cs);
			idx_chunks_release(&cs);
		}
	}
}

/* An over-long line is cut between characters, never inside one. */
static void long_line_cut_at_characters(void)
{
	struct base_buf src = BASE_BUF_INIT(BASE_CAP_TEXT);
	for (int i = 0; i < 500; i++)
		T_OK(base_buf_adds(&src, i % 7 ? "\xc3\xa9" : "\xe2\x82\xac"));
	for (unsigned max = 5; max < 40; max += 7) {
		struct idx_chunks cs = IDX_CHUNKS_INIT;
		idx__split_lines(&cs, src.data, 0, src.len, max, "text", NULL, NULL);
		T_TRUE(cs.c.n > 1);
		for (size_t i = 0; i < cs.c.n; i++) {
			uint32_t b = cs.c.v[i].start_byte;
			if (((unsigned char)src.data[b] & 0xC0) == 0x80)
				T_FAIL("max %u: chunk %zu starts inside a character (byte %u)", max, i, b);
			T_TRUE(idx__nonws(src.data, b, cs.c.v[i].end_byte) <= max);
		}
		idx_chunks_release(&cs);
	}
	base_buf_release(&src);
}

T_MAIN(T_ENTRY(fixture_goldens), T_ENTRY(long_line_cut_at_characters), T_ENTRY(python_scopes), T_ENTRY(c_doc_comment_glued),
       T_ENTRY(syntax_errors_still_chunked), T_ENTRY(random_inputs_cover), T_ENTRY(empty_and_tiny))
