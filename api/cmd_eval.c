/*
 * cmd_eval.c: `lode eval`, retrieval quality measured on a repository's
 * own history (indexer/eval.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "api/internal.h"
#include "indexer/eval.h"

#include "base/banned.h"

static const char eval_help[] =
	"usage: lode eval [--repo DIR] [--commits N] [--mode M]... [--json] [--keep]\n"
	"\n"
	"Measure retrieval on the repository's own history. Newest first, up to N\n"
	"commits that modify 1-3 non-test source files and have a descriptive\n"
	"message are picked; for each, the tree at the commit's parent is checked\n"
	"out into a temporary git worktree, indexed (incrementally, one worktree\n"
	"for all), and searched with the commit message. A case scores when a\n"
	"touched file comes back: Acc@1/5/10 and MRR, per mode and for a plain\n"
	"file-level BM25 baseline (SQLite FTS5, unicode61, bm25()) in the same run.\n"
	"\n"
	"  --repo DIR     the git repository (default: the current directory)\n"
	"  --commits N    cases wanted (default 50)\n"
	"  --mode M       lexical, dense or hybrid, or hybrid with features off\n"
	"                 (hybrid-no-graph-no-query, see lode search --no-feature);\n"
	"                 repeatable (default: lexical)\n"
	"  --jobs N       indexing threads (default: one per core)\n"
	"  --json         print every case and the summary as JSON on stdout\n"
	"  --keep         keep the worktree (its path is printed)\n"
	"\n"
	"Progress goes to stderr.\n";

static void eval_progress(void *payload, const char *line)
{
	(void)payload;
	fprintf(stderr, "%s\n", line);
}

static json_t *score_json(const struct idx_eval_score *s)
{
	return json_pack("{s:I, s:f, s:f, s:f, s:f}", "n", (json_int_t)s->n, "acc@1", s->acc1, "acc@5", s->acc5,
			 "acc@10", s->acc10, "mrr", s->mrr);
}

static json_t *result_json(const char *repo, const struct idx_eval_result *r)
{
	json_t *cases = json_array();
	for (size_t i = 0; i < r->ncases; i++) {
		const struct idx_eval_case *c = &r->cases[i];
		json_t *files = json_array();
		for (size_t k = 0; k < c->nfiles; k++)
			json_array_append_new(files, api__json_text(c->files[k], strlen(c->files[k])));
		json_t *ranks = json_object();
		for (size_t m = 0; m < r->nsystems; m++)
			json_object_set_new(ranks, r->systems[m], json_integer(c->ranks[m]));
		json_array_append_new(cases, json_pack("{s:s, s:s, s:o, s:o, s:o, s:f}", "commit", c->commit, "parent",
						       c->parent, "query", api__json_text(c->query, strlen(c->query)),
						       "files", files, "ranks", ranks, "index_ms", c->index_ms));
	}
	json_t *summary = json_object();
	for (size_t m = 0; m < r->nsystems; m++) {
		json_t *s = score_json(&r->scores[m]);
		if (m + 1 < r->nsystems)
			json_object_set_new(s, "answered_as", json_string(idx_mode_name(r->used[m])));
		json_object_set_new(summary, r->systems[m], s);
	}
	json_t *j = json_pack("{s:o, s:I, s:I, s:I, s:f, s:o, s:o}", "repo", api__json_text(repo, strlen(repo)),
			      "scanned", (json_int_t)r->scanned, "cases", (json_int_t)r->ncases, "not_indexed",
			      (json_int_t)r->not_indexed, "took_ms", r->took_ms, "summary", summary, "results", cases);
	if (r->worktree)
		json_object_set_new(j, "worktree", json_string(r->worktree));
	return j;
}

static void print_table(const char *repo, const struct idx_eval_result *r)
{
	printf("%s: %zu cases from %zu commits (%.1f s)\n", repo, r->ncases, r->scanned, r->took_ms / 1000);
	printf("%-10s %6s %6s %6s %6s\n", "system", "acc@1", "acc@5", "acc@10", "mrr");
	for (size_t m = 0; m < r->nsystems; m++) {
		const struct idx_eval_score *s = &r->scores[m];
		printf("%-10s %6.3f %6.3f %6.3f %6.3f\n", r->systems[m], s->acc1, s->acc5, s->acc10, s->mrr);
	}
	if (r->worktree)
		printf("worktree kept: %s\n", r->worktree);
}

int api__cmd_eval(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "repo", required_argument, NULL, 'R' }, { "commits", required_argument, NULL, 'n' },
		{ "mode", required_argument, NULL, 'M' }, { "jobs", required_argument, NULL, 'j' },
		{ "json", no_argument, NULL, 'J' },	  { "keep", no_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },	  { NULL, 0, NULL, 0 },
	};
	struct idx_eval_options o = { .repo = "." };
	enum idx_mode modes[IDX_EVAL_MAX_SYSTEMS - 1];
	unsigned offs[IDX_EVAL_MAX_SYSTEMS - 1];
	const char *names[IDX_EVAL_MAX_SYSTEMS - 1];
	size_t nmodes = 0;
	bool json = false;
	unsigned long long v;
	int ch;
	while ((ch = getopt_long(argc, argv, "n:j:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'R':
			o.repo = optarg;
			break;
		case 'n':
			if (!api__parse_uint(optarg, 100000, &v) || v == 0)
				return api__usage_error("eval", "--commits needs a number from 1 to 100000");
			o.commits = (unsigned)v;
			break;
		case 'M': {
			enum idx_mode m;
			unsigned off;
			if (!idx_system_parse(optarg, &m, &off))
				return api__usage_error("eval", "--mode is hybrid, lexical or dense, or"
							" hybrid-no-FEATURE... (query, symbol, path, aside, graph,"
							" dense, filesum)");
			bool dup = false;
			for (size_t i = 0; i < nmodes; i++)
				dup |= modes[i] == m && offs[i] == off;
			if (!dup && nmodes >= BASE_ARRAY_LEN(modes))
				return api__usage_error("eval", "at most 11 --mode");
			if (!dup) {
				modes[nmodes] = m;
				offs[nmodes] = off;
				names[nmodes++] = optarg;
			}
			break;
		}
		case 'j':
			if (!api__parse_uint(optarg, 64, &v) || v == 0)
				return api__usage_error("eval", "--jobs needs a number from 1 to 64");
			o.jobs = (unsigned)v;
			break;
		case 'J':
			json = true;
			break;
		case 'K':
			o.keep = true;
			break;
		case 'h':
			fputs(eval_help, stdout);
			return API_EXIT_OK;
		default:
			return api__usage_error("eval", "unknown option");
		}
	}
	if (optind < argc)
		return api__usage_error("eval", "unexpected argument (the repository goes after --repo)");
	char *repo = realpath(o.repo, NULL);
	if (!repo)
		return api__fail(API_EXIT_RUNTIME, "%s: no such directory", o.repo);
	o.repo = repo;
	o.modes = modes;
	o.nmodes = nmodes;
	o.off = offs;
	o.names = names;
	o.progress = eval_progress;
	struct idx_eval_result r = IDX_EVAL_RESULT_INIT;
	struct base_err err;
	int code = API_EXIT_OK;
	if (idx_eval_run(&o, &r, &err)) {
		code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	} else {
		if (json)
			api__json_print(result_json(repo, &r));
		else
			print_table(repo, &r);
		idx_eval_result_release(&r);
	}
	free(repo);
	return code;
}
