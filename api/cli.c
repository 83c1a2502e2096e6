/*
 * cli.c: the `lode` command line (DESIGN.md, "Command line").
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "api/api.h"
#include "api/internal.h"
#include "indexer/indexer.h"
#include "indexer/reader.h"
#include "store/store.h"

#include "base/banned.h"


static void log_sink(void *payload, enum base_log_level level, const char *msg)
{
	(void)payload;
	fprintf(stderr, "lode: %s%s\n", level == BASE_LOG_WARN ? "warning: " : "", msg);
}

/* ---- lode index ------------------------------------------------------ */

static const char index_help[] =
	"usage: lode index [DIR] [--rebuild] [--jobs N] [--max-file-size BYTES]\n"
	"                  [--max-chunk N] [--model SPEC] [--device auto|cpu|cuda]\n"
	"                  [--vram MIB] [--query-prefix TEXT] [--doc-prefix TEXT] [--json]\n"
	"\n"
	"Index DIR (default: the current directory) into DIR/.lode/. A second run\n"
	"re-reads only files whose size or mtime changed and re-chunks only files\n"
	"whose content changed.\n"
	"\n"
	"  --rebuild             drop the existing index and build it again (with the\n"
	"                        same model and settings, unless given)\n"
	"  --jobs N              worker threads (default: one per core)\n"
	"  --max-file-size N     skip files larger than N bytes (default 1048576)\n"
	"  --max-chunk N         chunk size limit in non-whitespace bytes (default 1500)\n"
	"  --model SPEC          embedder for dense search: 'hash' (built in, the default),\n"
	"                        'hash:DIM', 'none' (lexical only), or a BERT-family GGUF\n"
	"                        file (bert, nomic-bert: MiniLM, bge, nomic-embed-text,\n"
	"                        CodeRankEmbed); kept for later runs\n"
	"  --device D            where a model file runs: auto (the default: CUDA when a\n"
	"                        usable GPU is there, else the CPU, with a message), cpu,\n"
	"                        or cuda (fail without a GPU); 'hash' runs on the CPU\n"
	"  --vram MIB            GPU memory the encoder may use (default 2048), so it\n"
	"                        shares the card with your LLM\n"
	"  --query-prefix TEXT   put TEXT before every query a model file embeds, and\n"
	"  --doc-prefix TEXT     before every chunk (default: the model's own, e.g.\n"
	"                        nomic's 'search_query: '; '' for none); kept for later runs\n"
	"  --vectors FACTORY     FAISS index type: 'auto' (default: exact 'Flat' while small,\n"
	"                        IVF with 8-bit codes when large) or a FAISS factory string\n"
	"                        such as 'IVF1024,SQ8'; kept for later runs\n"
	"  --json                print a JSON summary on stdout\n"
	"\n"
	"Progress is shown on a terminal; skipped files are counted by reason.\n";

static int cmd_index(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rebuild", no_argument, NULL, 'r' },	      { "jobs", required_argument, NULL, 'j' },
		{ "max-file-size", required_argument, NULL, 's' }, { "max-chunk", required_argument, NULL, 'c' },
		{ "model", required_argument, NULL, 'm' },    { "device", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'J' },	      { "help", no_argument, NULL, 'h' },
		{ "vectors", required_argument, NULL, 'V' }, { "vram", required_argument, NULL, 'R' },
		{ "query-prefix", required_argument, NULL, 'Q' }, { "doc-prefix", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct idx_options o = { 0 };
	bool json = false;
	unsigned long long v;
	int ch;
	while ((ch = getopt_long(argc, argv, "j:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			o.rebuild = true;
			break;
		case 'j':
			if (!api__parse_uint(optarg, 64, &v) || v == 0)
				return api__usage_error("index", "--jobs needs a number from 1 to 64");
			o.jobs = (unsigned)v;
			break;
		case 's':
			if (!api__parse_uint(optarg, (unsigned long long)BASE_CAP_FILE, &v) || v == 0)
				return api__usage_error("index", "--max-file-size needs a positive number of bytes (at most 256 MiB)");
			o.max_file_size = v;
			break;
		case 'c':
			if (!api__parse_uint(optarg, 1000000, &v) || v < 50)
				return api__usage_error("index", "--max-chunk needs a number from 50 to 1000000");
			o.max_chunk = (unsigned)v;
			break;
		case 'm':
			o.model = optarg;
			break;
		case 'V':
			o.vector_factory = optarg;
			break;
		case 'd':
			if (strcmp(optarg, "auto") == 0)
				o.device = EMBED_DEVICE_AUTO;
			else if (strcmp(optarg, "cpu") == 0)
				o.device = EMBED_DEVICE_CPU;
			else if (strcmp(optarg, "cuda") == 0)
				o.device = EMBED_DEVICE_CUDA;
			else
				return api__usage_error("index", "--device is auto, cpu or cuda");
			break;
		case 'Q':
			o.query_prefix = optarg;
			break;
		case 'D':
			o.doc_prefix = optarg;
			break;
		case 'R':
			if (!api__parse_uint(optarg, 1u << 20, &v) || v < 64)
				return api__usage_error("index", "--vram needs a number of MiB from 64 to 1048576");
			o.vram_limit = (uint64_t)v << 20;
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			fputs(index_help, stdout);
			return API_EXIT_OK;
		default:
			return api__usage_error("index", "unknown option");
		}
	}
	if (argc - optind > 1)
		return api__usage_error("index", "at most one directory");
	const char *dir = optind < argc ? argv[optind] : ".";
	char real[PATH_MAX];
	if (!realpath(dir, real))
		return api__fail(API_EXIT_RUNTIME, "cannot index %s: %s", dir, strerror(errno));
	o.root = real;
	/* a model file is kept by its absolute path: searches run from anywhere */
	char model_real[PATH_MAX];
	if (o.model && strcmp(o.model, "none") != 0 && !embed_spec_builtin(o.model)) {
		if (!realpath(o.model, model_real))
			return api__fail(API_EXIT_RUNTIME, "cannot open the model %s: %s", o.model, strerror(errno));
		o.model = model_real;
	}
	struct api__progress ps = { base_now_ns(), false };
	if (isatty(STDERR_FILENO)) {
		o.progress = api__show_progress;
		o.progress_payload = &ps;
	}
	struct idx_summary s;
	struct base_err err;
	int rc = idx_index(&o, &s, &err);
	if (ps.shown)
		fputs("\r\033[K", stderr);
	if (rc)
		return api__fail(API_EXIT_RUNTIME, "%s", err.msg);

	double ms = (double)s.took_ns / 1e6;
	if (json) {
		json_t *files = json_pack("{sIsIsIsIsIsIsIsI}", "seen", (json_int_t)s.seen, "added", (json_int_t)s.added,
					  "updated", (json_int_t)s.updated, "touched", (json_int_t)s.touched,
					  "unchanged", (json_int_t)s.unchanged, "deleted", (json_int_t)s.deleted,
					  "indexed", (json_int_t)s.files, "read", (json_int_t)(s.added + s.updated + s.touched));
		json_t *skipped = json_object();
		for (int i = 0; i < IDX_SKIP__COUNT; i++)
			json_object_set_new(skipped, idx_skip_name(i), json_integer((json_int_t)s.skipped[i]));
		api__json_print(json_pack("{sssfsos{sIsI}sIsossss s{sIsI}}", "repo", real, "took_ms", ms, "files", files,
				     "chunks", "written", (json_int_t)s.chunks, "total", (json_int_t)s.total_chunks, "bytes",
				     (json_int_t)s.bytes, "skipped", skipped, "model", s.model, "embedder", s.embedder,
				     "vectors", "embedded", (json_int_t)s.embedded, "cached", (json_int_t)s.cached));
		return API_EXIT_OK;
	}
	printf("indexed %s: %llu files, %llu chunks in %.2fs\n", real, (unsigned long long)s.files,
	       (unsigned long long)s.total_chunks, ms / 1e3);
	printf("  %llu added, %llu updated, %llu touched, %llu unchanged, %llu deleted; %.1f MB chunked\n",
	       (unsigned long long)s.added, (unsigned long long)s.updated, (unsigned long long)s.touched,
	       (unsigned long long)s.unchanged, (unsigned long long)s.deleted, (double)s.bytes / 1e6);
	if (s.embedder[0])
		printf("  embedder: %s\n", s.embedder);
	if (strcmp(s.model, "none") != 0)
		printf("  vectors (%s): %llu embedded, %llu from the cache\n", s.model, (unsigned long long)s.embedded,
		       (unsigned long long)s.cached);
	bool any = false;
	for (int i = 0; i < IDX_SKIP__COUNT; i++) {
		if (!s.skipped[i])
			continue;
		printf("%s %llu %s", any ? "," : "  skipped:", (unsigned long long)s.skipped[i], idx_skip_name(i));
		any = true;
	}
	if (any)
		putchar('\n');
	return API_EXIT_OK;
}

/* ---- lode search ----------------------------------------------------- */

static const char search_help[] =
	"usage: lode search [--repo DIR] [-k N] [--mode hybrid|lexical|dense] [--files]\n"
	"                   [--lang L]... [--path GLOB]... [--no-feature F]... [--json] QUERY...|-\n"
	"\n"
	"Search the index. QUERY may be a few keywords or a whole bug report;\n"
	"'-' reads it from standard input.\n"
	"\n"
	"  --repo DIR     repository (default: nearest directory upward with .lode/)\n"
	"  -k N           number of results (default 10, at most 1000)\n"
	"  --mode M       hybrid (default: BM25 and vectors fused), lexical or dense\n"
	"  --files        rank files: one result per file, its best chunk\n"
	"  --lang L       only chunks in language L (repeatable)\n"
	"  --path GLOB    only paths matching GLOB, git wildmatch rules (repeatable)\n"
	"  --no-feature F switch off a part of hybrid ranking, to see what it adds\n"
	"                 (repeatable): query (query analysis), symbol, path, aside,\n"
	"                 graph, dense, filesum; --mode hybrid-no-F does the same\n"
	"  --json         one JSON object on stdout (see DESIGN.md)\n";

static void print_hits(const struct store_hits *hits)
{
	for (size_t i = 0; i < hits->n; i++) {
		const struct store_hit *h = &hits->v[i];
		printf("%s:%u-%u  %s%s%s%s%s  (%.3f)\n", h->path, h->start_line, h->end_line, h->kind,
		       *h->symbol ? " " : "", h->symbol, *h->scope ? "  in " : "", h->scope, h->score);
		/* the first lines of the chunk, indented */
		const char *p = h->text, *end = h->text + h->text_len;
		for (int line = 0; line < 3 && p < end; line++) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			printf("    %.*s\n", (int)BASE_MIN(n, 160), p);
			p = nl ? nl + 1 : end;
		}
	}
	if (hits->n == 0)
		fprintf(stderr, "no results\n");
}

static int cmd_search(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'R' }, { "mode", required_argument, NULL, 'M' },
		{ "lang", required_argument, NULL, 'L' }, { "path", required_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'J' },	  { "files", no_argument, NULL, 'F' },
		{ "no-feature", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },	  { NULL, 0, NULL, 0 },
	};
	const char *repo_opt = NULL;
	struct idx_query iq = { .k = 10, .mode = IDX_MODE_HYBRID };
	unsigned off = 0;
	BASE_VEC(const char *) langs = BASE_VEC_INIT;
	BASE_VEC(const char *) globs = BASE_VEC_INIT;
	unsigned long long k = 10;
	bool json = false;
	int ch, code = API_EXIT_OK;
	while (code == API_EXIT_OK && (ch = getopt_long(argc, argv, "k:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'R':
			repo_opt = optarg;
			break;
		case 'M':
			if (!idx_system_parse(optarg, &iq.mode, &off))
				code = api__usage_error("search", "--mode is hybrid, lexical or dense, or hybrid-no-F"
								  " (F: a --no-feature name)");
			iq.off |= off;
			break;
		case 'N':
			if (!idx_feature_parse(optarg, &off))
				code = api__usage_error("search", "--no-feature is one of query, symbol, path, aside,"
								  " graph, dense, filesum");
			iq.off |= off;
			break;
		case 'L':
			base_vec_push(&langs, optarg);
			break;
		case 'P':
			base_vec_push(&globs, optarg);
			break;
		case 'k':
			if (!api__parse_uint(optarg, 1000, &k) || k == 0)
				code = api__usage_error("search", "-k needs a number from 1 to 1000");
			break;
		case 'F':
			iq.files = true;
			break;
		case 'J':
			json = true;
			break;
		case 'h':
			fputs(search_help, stdout);
			code = -1;
			break;
		default:
			code = api__usage_error("search", "unknown option");
		}
	}
	struct base_buf q = BASE_BUF_INIT(BASE_CAP_QUERY);
	struct idx_reader *r = NULL;
	if (code == -1) {
		code = API_EXIT_OK;
		goto out;
	}
	if (code)
		goto out;
	if (optind >= argc) {
		code = api__usage_error("search", "missing QUERY (or '-' to read it from standard input)");
		goto out;
	}
	code = api__read_query(argc, argv, optind, &q);
	if (code)
		goto out;
	r = api__open_reader(repo_opt, &code);
	if (!r)
		goto out;

	iq.text = q.data;
	iq.len = q.len;
	iq.k = (size_t)k;
	iq.langs = langs.v;
	iq.nlangs = langs.n;
	iq.globs = globs.v;
	iq.nglobs = globs.n;
	struct store_hits hits = STORE_HITS_INIT;
	struct idx_answer ans;
	struct base_err err;
	if (idx_search(r, &iq, &hits, &ans, &err)) {
		code = api__fail(API_EXIT_RUNTIME, "search failed: %s", err.msg);
		goto out;
	}
	if (json)
		api__json_print(api__search_json(q.data, q.len, &ans, &hits));
	else
		print_hits(&hits);
	store_hits_release(&hits);
out:
	idx_reader_close(r);
	base_buf_release(&q);
	base_vec_release(&langs);
	base_vec_release(&globs);
	return code;
}

/* ---- lode status, files, chunks -------------------------------------- */

/* Options shared by the read-only commands: --repo, --json, --help. */
static int parse_read_opts(int argc, char **argv, const char *cmd, const char *help, const char **repo,
			   bool *json)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'R' },
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'R':
			*repo = optarg;
			break;
		case 'J':
			if (!json)
				return api__usage_error(cmd, "--json is not supported here");
			*json = true;
			break;
		case 'h':
			fputs(help, stdout);
			return -1;
		default:
			return api__usage_error(cmd, "unknown option");
		}
	}
	return API_EXIT_OK;
}

static const char status_help[] = "usage: lode status [--repo DIR] [--json]\n"
				  "\n"
				  "What the index holds: files, chunks, bytes, skipped files by reason,\n"
				  "index size on disk, generation and the git HEAD it reflects.\n";

static int cmd_status(int argc, char **argv)
{
	const char *repo_opt = NULL;
	bool json = false;
	int code = parse_read_opts(argc, argv, "status", status_help, &repo_opt, &json);
	if (code)
		return code < 0 ? API_EXIT_OK : code;
	if (optind < argc)
		return api__usage_error("status", "unexpected argument");
	char *repo = NULL;
	struct store *st = api__open_index(repo_opt, &repo, &code);
	if (!st)
		return code;
	struct store_stats ss;
	struct base_err err;
	if (store_stats(st, &ss, &err)) {
		store_close(st);
		base_free(repo);
		return api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	}
	char *skipped = store_meta_get(st, "skipped");
	char *head = store_meta_get(st, "head");
	char *model = store_meta_get(st, "vector_model");
	char *vindex = store_meta_get(st, "vector_index");
	if (vindex)
		vindex[strcspn(vindex, " ")] = '\0'; /* "<factory> <trained_at>" */
	json_t *skips = json_object();
	/* stored as "reason=N reason=N ..." */
	for (const char *p = skipped; p && *p;) {
		const char *eq = strchr(p, '=');
		if (!eq)
			break;
		char *name = base_strndup(p, (size_t)(eq - p));
		char *end;
		long long v = strtoll(eq + 1, &end, 10);
		json_object_set_new(skips, name, json_integer(v));
		base_free(name);
		p = *end ? end + 1 : end;
	}
	if (json) {
		api__json_print(json_pack("{sssIsIsIsIsIsssosIssss}", "repo", repo, "files", (json_int_t)ss.files,
				     "chunks", (json_int_t)ss.chunks, "bytes", (json_int_t)ss.bytes, "index_bytes",
				     (json_int_t)ss.db_bytes, "generation", (json_int_t)ss.generation, "head",
				     head ? head : "", "skipped", skips, "pending", (json_int_t)0, "model",
				     model ? model : "none", "vector_index", vindex ? vindex : ""));
	} else {
		printf("repository  %s\n", repo);
		printf("files       %lld (%.1f MB)\n", (long long)ss.files, (double)ss.bytes / 1e6);
		printf("chunks      %lld\n", (long long)ss.chunks);
		printf("index size  %.1f MB\n", (double)ss.db_bytes / 1e6);
		printf("generation  %lld\n", (long long)ss.generation);
		printf("git HEAD    %s\n", head && *head ? head : "(not a git checkout)");
		printf("vectors     %s%s%s\n", model ? model : "none", vindex ? ", FAISS " : "", vindex ? vindex : "");
		printf("skipped    ");
		const char *key;
		json_t *val;
		json_object_foreach(skips, key, val) printf(" %s=%lld", key, (long long)json_integer_value(val));
		putchar('\n');
		json_decref(skips);
	}
	base_free(skipped);
	base_free(head);
	base_free(model);
	base_free(vindex);
	store_close(st);
	base_free(repo);
	return API_EXIT_OK;
}

static int print_file(void *payload, const struct store_file *f)
{
	(void)payload;
	puts(f->path);
	return 0;
}

static const char files_help[] = "usage: lode files [--repo DIR]\n"
				 "\n"
				 "Every indexed file, one path a line, in path order.\n";

static int cmd_files(int argc, char **argv)
{
	const char *repo_opt = NULL;
	int code = parse_read_opts(argc, argv, "files", files_help, &repo_opt, NULL);
	if (code)
		return code < 0 ? API_EXIT_OK : code;
	if (optind < argc)
		return api__usage_error("files", "unexpected argument");
	char *repo = NULL;
	struct store *st = api__open_index(repo_opt, &repo, &code);
	if (!st)
		return code;
	struct base_err err;
	int rc = store_files_each(st, print_file, NULL, &err);
	store_close(st);
	base_free(repo);
	return rc ? api__fail(API_EXIT_RUNTIME, "%s", err.msg) : API_EXIT_OK;
}

static const char chunks_help[] = "usage: lode chunks [--repo DIR] [--json] PATH\n"
				  "\n"
				  "How one indexed file was chunked. PATH is relative to the repository\n"
				  "(or a path to the file from the current directory).\n";

static int cmd_chunks(int argc, char **argv)
{
	const char *repo_opt = NULL;
	bool json = false;
	int code = parse_read_opts(argc, argv, "chunks", chunks_help, &repo_opt, &json);
	if (code)
		return code < 0 ? API_EXIT_OK : code;
	if (argc - optind != 1)
		return api__usage_error("chunks", "needs exactly one PATH");
	char *repo = NULL;
	struct store *st = api__open_index(repo_opt, &repo, &code);
	if (!st)
		return code;
	/* Accept a path relative to the repository, or one that resolves to a
	 * file inside it. */
	const char *arg = argv[optind];
	char real[PATH_MAX];
	char *rel = NULL;
	size_t rl = strlen(repo);
	if (realpath(arg, real) && strncmp(real, repo, rl) == 0 && real[rl] == '/')
		rel = base_strdup(real + rl + 1);
	else
		rel = base_strdup(arg[0] == '.' && arg[1] == '/' ? arg + 2 : arg);
	struct store_hits hits = STORE_HITS_INIT;
	struct base_err err;
	int rc = store_file_chunks(st, rel, &hits, &err);
	if (rc == BASE_E_NOTFOUND) {
		code = api__fail(API_EXIT_RUNTIME, "%s is not in the index (see 'lode files')", rel);
	} else if (rc) {
		code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	} else if (json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < hits.n; i++)
			json_array_append_new(arr, api__hit_json(&hits.v[i], true, false));
		api__json_print(json_pack("{soso}", "path", api__json_text(rel, strlen(rel)), "chunks", arr));
	} else {
		for (size_t i = 0; i < hits.n; i++) {
			const struct store_hit *h = &hits.v[i];
			printf("%5u-%-5u  bytes %u-%u  %s%s%s%s%s\n", h->start_line, h->end_line, h->start_byte,
			       h->end_byte, h->kind, *h->symbol ? " " : "", h->symbol, *h->scope ? "  in " : "",
			       h->scope);
		}
	}
	store_hits_release(&hits);
	base_free(rel);
	store_close(st);
	base_free(repo);
	return code;
}

/* ---- dispatch -------------------------------------------------------- */

static const char main_help[] =
	"usage: lode COMMAND [OPTIONS]\n"
	"\n"
	"lode keeps a syntax-aware index of a repository and searches it.\n"
	"\n"
	"commands:\n"
	"  index [DIR]        build or update the index of DIR (default .)\n"
	"  search QUERY|-     search the index (BM25 and vectors, fused)\n"
	"  status             what the index holds\n"
	"  files              indexed files, one a line\n"
	"  chunks PATH        how one file was chunked\n"
	"  watch [DIR]        keep the index live as files change\n"
	"  context QUERY|-    the best code for QUERY, packed into a token budget\n"
	"  ask QUESTION|-     answer a question with an LLM, citing path:line\n"
	"  edit INSTRUCTION|- have an LLM edit the code (dry run unless --apply)\n"
	"  undo               revert the last applied edit\n"
	"  serve [DIR]        HTTP API, MCP and a search page, with a live watcher\n"
	"  mcp [DIR]          MCP over stdio, for coding agents\n"
	"  eval               retrieval quality on the repository's own git history\n"
	"\n"
	"'lode COMMAND --help' describes each command. Exit status: 0 ok,\n"
	"1 usage error, 2 runtime error.\n";

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "index", cmd_index }, { "search", cmd_search }, { "status", cmd_status },
	{ "files", cmd_files }, { "chunks", cmd_chunks }, { "watch", api__cmd_watch },
	{ "serve", api__cmd_serve }, { "mcp", api__cmd_mcp }, { "context", api__cmd_context },
	{ "ask", api__cmd_ask }, { "edit", api__cmd_edit }, { "undo", api__cmd_undo },
	{ "eval", api__cmd_eval },
};

int api_main(int argc, char **argv)
{
	base_log_set(log_sink, NULL, getenv("LODE_DEBUG") ? BASE_LOG_DEBUG : BASE_LOG_WARN);
	if (argc < 2) {
		fputs(main_help, stderr);
		return API_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		fputs(main_help, stdout);
		return API_EXIT_OK;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("lode %s\n", LODE_VERSION);
		return API_EXIT_OK;
	}
	for (size_t i = 0; i < BASE_ARRAY_LEN(commands); i++) {
		if (strcmp(cmd, commands[i].name) == 0) {
			optind = 1;
			return commands[i].fn(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "lode: unknown command '%s'\n\n%s", cmd, main_help);
	return API_EXIT_USAGE;
}
