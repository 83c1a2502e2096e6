/*
 * cmd_agent.c: `lode context`, `lode ask`, `lode edit`, `lode undo` —
 * thin shells around agent/agent.h.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agent/agent.h"
#include "agent/tokenize.h"
#include "api/internal.h"

#include "base/banned.h"

static const struct option agent_longopts[] = {
	API_AGENT_LONGOPTS,
	{ "repo", required_argument, NULL, API_O_REPO },	    { "reserve", required_argument, NULL, API_O_RESERVE },
	{ "json", no_argument, NULL, API_O_JSON },		    { "apply", no_argument, NULL, API_O_APPLY },
	{ "test", required_argument, NULL, API_O_TEST },	    { "max-turns", required_argument, NULL, API_O_TURNS },
	{ "candidates", required_argument, NULL, API_O_K },	    { "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int api__agent_option(const char *cmd, int id, const char *arg, struct api_agent_opts *o)
{
	unsigned long long v;
	switch (id) {
	case API_O_REPO:
		o->repo = arg;
		break;
	case API_O_BUDGET:
		if (!api__parse_uint(arg, 10000000, &o->budget) || o->budget < 1)
			return api__usage_error(cmd, "--budget needs a number of tokens from 1 to 10000000");
		break;
	case API_O_RESERVE:
		if (!api__parse_uint(arg, 10000000, &o->reserve))
			return api__usage_error(cmd, "--reserve needs a number of tokens");
		break;
	case API_O_TOKENIZER:
		o->tokenizer = arg;
		break;
	case API_O_JSON:
		o->json = true;
		break;
	case API_O_LLM:
		o->llm.url = arg;
		break;
	case API_O_MODEL:
		o->llm.model = arg;
		break;
	case API_O_APPLY:
		o->apply = true;
		break;
	case API_O_TEST:
		o->test_cmd = arg;
		break;
	case API_O_TURNS:
		if (!api__parse_uint(arg, 20, &o->max_turns) || o->max_turns < 1)
			return api__usage_error(cmd, "--max-turns needs a number from 1 to 20");
		break;
	case API_O_TIMEOUT:
		if (!api__parse_uint(arg, 86400000, &v) || v < 1)
			return api__usage_error(cmd, "--llm-timeout needs milliseconds");
		o->llm.idle_timeout_ms = (long)v;
		break;
	case API_O_K:
		if (!api__parse_uint(arg, 1000, &o->k) || o->k < 1)
			return api__usage_error(cmd, "--candidates needs a number from 1 to 1000");
		break;
	default:
		return api__usage_error(cmd, "unknown option");
	}
	return API_EXIT_OK;
}

/* Parse; `allowed` lists the option ids this command takes. Returns -1 after
 * --help, an exit code on errors, 0 otherwise. */
static int parse_agent_opts(int argc, char **argv, const char *cmd, const char *help, const int *allowed,
			    struct api_agent_opts *o)
{
	int ch;
	while ((ch = getopt_long(argc, argv, "h", agent_longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(help, stdout);
			return -1;
		}
		bool ok = false;
		for (const int *a = allowed; *a; a++)
			ok |= *a == ch;
		if (!ok)
			return api__usage_error(cmd, "unknown option");
		int code = api__agent_option(cmd, ch, optarg, o);
		if (code)
			return code;
	}
	return API_EXIT_OK;
}

struct agent_tok *api__open_tok(const char *spec, int *code)
{
	struct base_err err;
	struct agent_tok *t = agent_tok_open(spec ? spec : getenv("LODE_TOKENIZER"), &err);
	if (!t)
		*code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	return t;
}

/* ---- lode context ---------------------------------------------------- */

static const char context_help[] =
	"usage: lode context [--repo DIR] [--budget TOKENS] [--reserve TOKENS] [--tokenizer SPEC]\n"
	"                    [--candidates N] [--json] QUERY...|-\n"
	"\n"
	"Pack the code most relevant to QUERY into a prompt-ready context that fits\n"
	"a token budget: chunks chosen by score per token, neighbours merged,\n"
	"outlines for what does not fit whole, sorted by path then line.\n"
	"\n"
	"  --budget N      tokens for the context (default 16000)\n"
	"  --reserve N     tokens to keep free inside the budget (default 0)\n"
	"  --tokenizer S   estimate (default), PATH/tokenizer.json, PATH.gguf or http://server\n"
	"  --candidates N  search results considered (default 100)\n"
	"  --json          one JSON object (DESIGN.md); tokens <= budget always\n";

static int cmd_context(int argc, char **argv)
{
	static const int allowed[] = { API_O_REPO, API_O_BUDGET, API_O_RESERVE, API_O_TOKENIZER, API_O_JSON, API_O_K, 0 };
	struct api_agent_opts o = { 0 };
	int code = parse_agent_opts(argc, argv, "context", context_help, allowed, &o);
	if (code)
		return code < 0 ? API_EXIT_OK : code;
	if (optind >= argc)
		return api__usage_error("context", "missing QUERY (or '-' to read it from standard input)");
	struct base_buf q = BASE_BUF_INIT(BASE_CAP_QUERY);
	code = api__read_query(argc, argv, optind, &q);
	if (code) {
		base_buf_release(&q);
		return code;
	}
	struct agent_tok *tok = api__open_tok(o.tokenizer, &code);
	struct idx_reader *r = tok ? api__open_reader(o.repo, &code) : NULL;
	if (r) {
		struct agent_context_req req = { q.data, q.len, (size_t)o.budget, (size_t)o.reserve, (size_t)o.k,
						 IDX_MODE_HYBRID };
		json_t *j = NULL;
		struct base_err err;
		if (agent_context(r, tok, &req, &j, &err)) {
			code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
		} else if (o.json) {
			api__json_print(j);
		} else {
			fputs(json_string_value(json_object_get(j, "text")), stdout);
			fprintf(stderr, "lode: %lld of %lld tokens (%s%s), %zu blocks\n",
				(long long)json_integer_value(json_object_get(j, "tokens")),
				(long long)json_integer_value(json_object_get(j, "budget")), agent_tok_name(tok),
				agent_tok_exact(tok) ? "" : ", a conservative estimate",
				json_array_size(json_object_get(j, "blocks")));
			json_decref(j);
		}
	}
	idx_reader_close(r);
	agent_tok_close(tok);
	base_buf_release(&q);
	return code;
}

/* ---- lode ask -------------------------------------------------------- */

static const char ask_help[] =
	"usage: lode ask [--repo DIR] [--llm URL] [--llm-model NAME] [--budget TOKENS]\n"
	"                [--reserve TOKENS] [--tokenizer SPEC] [--json] QUESTION...|-\n"
	"\n"
	"Answer a question about the repository with an LLM, from context packed\n"
	"within the budget (system text + context + question + reply reserve).\n"
	"The answer streams to standard output; path:line citations that do not\n"
	"exist in the repository are listed on standard error afterwards.\n"
	"\n"
	"  --llm URL        OpenAI-compatible base URL (or LODE_LLM_URL),\n"
	"                   e.g. http://127.0.0.1:8080/v1 for llama-server\n"
	"  --llm-model M    model name (or LODE_LLM_MODEL); LODE_LLM_KEY: bearer key\n"
	"  --budget N       total prompt budget in tokens (default 16000)\n"
	"  --reserve N      tokens kept for the reply (default 1024, at most budget/4)\n"
	"  --llm-timeout MS fail when the server sends nothing for MS (default 120000)\n"
	"  --json           print one JSON object instead of streaming\n";

static int print_delta(void *payload, const char *text, size_t len)
{
	FILE *f = payload;
	fwrite(text, 1, len, f);
	fflush(f);
	return 0;
}

static int cmd_ask(int argc, char **argv)
{
	static const int allowed[] = { API_O_REPO, API_O_BUDGET, API_O_RESERVE, API_O_TOKENIZER, API_O_JSON, API_O_LLM, API_O_MODEL, API_O_TIMEOUT,
				       API_O_K, 0 };
	struct api_agent_opts o = { 0 };
	o.llm.temperature = -1;
	int code = parse_agent_opts(argc, argv, "ask", ask_help, allowed, &o);
	if (code)
		return code < 0 ? API_EXIT_OK : code;
	if (optind >= argc)
		return api__usage_error("ask", "missing QUESTION (or '-' to read it from standard input)");
	agent_llm_from_env(&o.llm);
	if (!o.llm.url)
		return api__usage_error("ask", "no LLM endpoint: pass --llm URL or set LODE_LLM_URL");
	struct base_buf q = BASE_BUF_INIT(BASE_CAP_QUERY);
	code = api__read_query(argc, argv, optind, &q);
	if (code) {
		base_buf_release(&q);
		return code;
	}
	agent_llm_init();
	struct agent_tok *tok = api__open_tok(o.tokenizer, &code);
	struct idx_reader *r = tok ? api__open_reader(o.repo, &code) : NULL;
	if (r) {
		struct agent_ask_req req = { idx_reader_root(r), q.data, (size_t)o.budget, (size_t)o.reserve, (size_t)o.k,
					     o.llm };
		json_t *j = NULL;
		struct base_err err;
		int rc = agent_ask(r, tok, &req, o.json ? NULL : print_delta, stdout, &j, &err);
		if (rc) {
			if (!o.json)
				fputc('\n', stdout);
			code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
		} else {
			json_t *bad = json_object_get(j, "invalid");
			if (o.json) {
				api__json_print(json_incref(j));
			} else {
				const char *a = json_string_value(json_object_get(j, "answer"));
				if (*a && a[strlen(a) - 1] != '\n')
					fputc('\n', stdout);
				size_t i;
				json_t *c;
				json_array_foreach(bad, i, c)
				{
					fprintf(stderr, "lode: invalid citation %s:%lld-%lld (%s)\n",
						json_string_value(json_object_get(c, "path")),
						(long long)json_integer_value(json_object_get(c, "start")),
						(long long)json_integer_value(json_object_get(c, "end")),
						json_string_value(json_object_get(c, "reason")));
				}
			}
			json_decref(j);
		}
	}
	idx_reader_close(r);
	agent_tok_close(tok);
	base_buf_release(&q);
	return code;
}

/* ---- lode edit ------------------------------------------------------- */

static const char edit_help[] =
	"usage: lode edit [--repo DIR] [--llm URL] [--llm-model NAME] [--apply] [--test CMD]\n"
	"                 [--max-turns N] [--budget TOKENS] [--json] INSTRUCTION...|-\n"
	"\n"
	"Ask the LLM for SEARCH/REPLACE edits, validate them (paths inside the\n"
	"repository, each SEARCH matching exactly once, no new syntax errors) and\n"
	"print the unified diff. Nothing is written without --apply; with it all\n"
	"files of a turn are replaced atomically and 'lode undo' reverts them.\n"
	"\n"
	"  --apply          write the edit (and re-index the touched files)\n"
	"  --test CMD       after applying, run CMD (sh -c, in the repository); on failure\n"
	"                   feed its output back to the model and try again\n"
	"  --max-turns N    at most N model turns (default 3)\n"
	"  --llm, --llm-model, --budget, --reserve, --tokenizer, --llm-timeout: as for ask\n"
	"  --json           one JSON object: applied, files, diff, tests, notes, error\n";

static int cmd_edit(int argc, char **argv)
{
	static const int allowed[] = { API_O_REPO,  API_O_BUDGET, API_O_RESERVE, API_O_TOKENIZER, API_O_JSON,    API_O_LLM, API_O_MODEL,
				       API_O_APPLY, API_O_TEST,   API_O_TURNS,   API_O_TIMEOUT,	  API_O_K,	     0 };
	struct api_agent_opts o = { 0 };
	o.llm.temperature = -1;
	int code = parse_agent_opts(argc, argv, "edit", edit_help, allowed, &o);
	if (code)
		return code < 0 ? API_EXIT_OK : code;
	if (optind >= argc)
		return api__usage_error("edit", "missing INSTRUCTION (or '-' to read it from standard input)");
	if (o.test_cmd && !o.apply)
		return api__usage_error("edit", "--test needs --apply");
	agent_llm_from_env(&o.llm);
	if (!o.llm.url)
		return api__usage_error("edit", "no LLM endpoint: pass --llm URL or set LODE_LLM_URL");
	struct base_buf q = BASE_BUF_INIT(BASE_CAP_QUERY);
	code = api__read_query(argc, argv, optind, &q);
	if (code) {
		base_buf_release(&q);
		return code;
	}
	agent_llm_init();
	struct agent_tok *tok = api__open_tok(o.tokenizer, &code);
	struct idx_reader *r = tok ? api__open_reader(o.repo, &code) : NULL;
	if (r) {
		struct agent_edit_req req = {
			.root = idx_reader_root(r),
			.instruction = q.data,
			.budget = (size_t)o.budget,
			.reserve = (size_t)o.reserve,
			.k = (size_t)o.k,
			.apply = o.apply,
			.test_cmd = o.test_cmd,
			.max_turns = (unsigned)o.max_turns,
			.llm = o.llm,
		};
		json_t *j = NULL;
		struct base_err err;
		bool tty = isatty(STDERR_FILENO);
		int rc = agent_edit(r, tok, &req, !o.json && tty ? print_delta : NULL, stderr, &j, &err);
		if (tty && !o.json)
			fputc('\n', stderr);
		if (o.json && j) {
			api__json_print(json_incref(j));
		} else if (j) {
			fputs(json_string_value(json_object_get(j, "diff")), stdout);
			size_t i;
			json_t *v;
			json_array_foreach(json_object_get(j, "notes"), i, v)
				fprintf(stderr, "lode: note: %s\n", json_string_value(v));
			if (!rc) {
				json_t *t = json_object_get(j, "tests");
				fprintf(stderr, "lode: %zu file%s %s in %lld turn%s%s\n", json_array_size(json_object_get(j, "files")),
					json_array_size(json_object_get(j, "files")) == 1 ? "" : "s",
					o.apply ? "changed" : "would change (dry run; --apply writes them)",
					(long long)json_integer_value(json_object_get(j, "turns")),
					json_integer_value(json_object_get(j, "turns")) == 1 ? "" : "s",
					json_is_object(t) ? "; tests pass" : "");
			}
		}
		if (rc)
			code = api__fail(API_EXIT_RUNTIME, "%s%s", err.msg,
					 json_is_true(json_object_get(j, "applied")) ? " (earlier turns were applied; 'lode undo' reverts the last)"
										    : "; no file changed");
		json_decref(j);
	}
	idx_reader_close(r);
	agent_tok_close(tok);
	base_buf_release(&q);
	return code;
}

/* ---- lode undo ------------------------------------------------------- */

static const char undo_help[] = "usage: lode undo [--repo DIR] [--json]\n"
				"\n"
				"Revert the last edit applied by 'lode edit --apply' (one turn), refusing\n"
				"when one of its files changed since.\n";

static int cmd_undo(int argc, char **argv)
{
	static const int allowed[] = { API_O_REPO, API_O_JSON, 0 };
	struct api_agent_opts o = { 0 };
	int code = parse_agent_opts(argc, argv, "undo", undo_help, allowed, &o);
	if (code)
		return code < 0 ? API_EXIT_OK : code;
	if (optind < argc)
		return api__usage_error("undo", "unexpected argument");
	char *repo = api__find_repo(o.repo);
	if (!repo)
		return api__fail(API_EXIT_RUNTIME, "cannot find the repository%s%s", o.repo ? " " : "", o.repo ? o.repo : "");
	json_t *j = NULL;
	struct base_err err;
	if (agent_undo(repo, &j, &err)) {
		code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	} else {
		const char *paths[64];
		size_t n = 0, i;
		json_t *f;
		json_array_foreach(json_object_get(j, "files"), i, f)
			if (n < 64)
				paths[n++] = json_string_value(json_object_get(f, "path"));
		if (agent_reindex(repo, paths, n, &err))
			BASE_LOG(BASE_LOG_WARN, "re-indexing after undo failed: %s", err.msg);
		if (o.json) {
			api__json_print(j);
			j = NULL;
		} else {
			json_array_foreach(json_object_get(j, "files"), i, f)
				printf("%s %s\n", json_is_true(json_object_get(f, "removed")) ? "removed" : "restored",
				       json_string_value(json_object_get(f, "path")));
		}
	}
	json_decref(j);
	base_free(repo);
	return code;
}

int api__cmd_context(int argc, char **argv)
{
	return cmd_context(argc, argv);
}
int api__cmd_ask(int argc, char **argv)
{
	return cmd_ask(argc, argv);
}
int api__cmd_edit(int argc, char **argv)
{
	return cmd_edit(argc, argv);
}
int api__cmd_undo(int argc, char **argv)
{
	return cmd_undo(argc, argv);
}
