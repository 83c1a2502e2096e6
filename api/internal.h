/*
 * internal.h: private to api/. Helpers the commands share (util.c) and the
 * commands that live outside cli.c.
 */
#ifndef LODE_API_INTERNAL_H
#define LODE_API_INTERNAL_H

#include <stdbool.h>

#include <jansson.h>

#include "agent/agent.h"
#include "api/api.h"
#include "base/base.h"
#include "indexer/reader.h"
#include "store/store.h"

/* ---- util.c ---------------------------------------------------------- */

/** Print "lode: MESSAGE" on stderr and return `code`. */
int api__fail(int code, const char *fmt, ...) BASE_PRINTF(2, 3);
/** Print a usage error for `cmd` with a pointer to --help; API_EXIT_USAGE. */
int api__usage_error(const char *cmd, const char *msg);
/** Parse a non-negative integer option <= max; false on garbage. */
bool api__parse_uint(const char *s, unsigned long long max, unsigned long long *out);
/**
 * The repository: realpath of `given`, else the nearest directory upward
 * holding .lode/index.db. Heap string, or NULL (errno set for `given`).
 */
char *api__find_repo(const char *given);
/**
 * Open a repository's index for reading; on failure prints the message and
 * sets *exit_code. *repo_out gets the repository path (heap).
 */
struct store *api__open_index(const char *repo_opt, char **repo_out, int *exit_code);
/** Open a repository's index for searching; as api__open_index. */
struct idx_reader *api__open_reader(const char *repo_opt, int *exit_code);
/** A search answer as DESIGN.md's `lode search --json` object. */
json_t *api__search_json(const char *query, size_t len, const struct idx_answer *ans,
			 const struct store_hits *hits);
/** Print `j` compactly on stdout with a newline, and release it. */
void api__json_print(json_t *j);
/** A JSON string of s[0,n) even when not valid UTF-8 (bad bytes: U+FFFD). */
json_t *api__json_text(const char *s, size_t n);
/** A search hit as DESIGN.md's JSON object (with byte offsets, score). */
json_t *api__hit_json(const struct store_hit *h, bool bytes, bool score);
/** Progress of a long index run on stderr (a TTY); idx_progress_fn. */
struct api__progress {
	uint64_t t0;
	bool shown; /* a line was drawn: clear it with "\r\033[K" */
};
void api__show_progress(void *payload, uint64_t done, uint64_t total, uint64_t bytes);

#define LODE_VERSION "0.2.0"

/* Commands in files of their own. */
int api__cmd_watch(int argc, char **argv);
int api__cmd_serve(int argc, char **argv);
int api__cmd_mcp(int argc, char **argv);
int api__cmd_context(int argc, char **argv);

/**
 * The query from argv[first..] joined by spaces, or from stdin when it is
 * the single argument "-". API_EXIT_OK or an exit code (message printed).
 */
int api__read_query(int argc, char **argv, int first, struct base_buf *q);

/* ---- commands in their own files ------------------------------------ */

/** `lode eval` (cmd_eval.c). */
int api__cmd_eval(int argc, char **argv);

/* cmd_agent.c */

/* Options the agent commands (and lode serve, for its LLM) share. */
struct api_agent_opts {
	const char *repo;
	const char *tokenizer;
	unsigned long long budget, reserve, k, max_turns;
	bool json, apply;
	const char *test_cmd;
	struct agent_llm llm;
};

enum {
	API_O_REPO = 1000, API_O_BUDGET, API_O_RESERVE, API_O_TOKENIZER, API_O_JSON, API_O_LLM, API_O_MODEL, API_O_APPLY,
	API_O_TEST, API_O_TURNS, API_O_TIMEOUT, API_O_K,
};

/* getopt_long entries for the LLM options: --llm, --llm-model, --llm-timeout, --budget, --tokenizer. */
#define API_AGENT_LONGOPTS                                                                          \
	{ "llm", required_argument, NULL, API_O_LLM }, { "llm-model", required_argument, NULL, API_O_MODEL }, \
	{ "llm-timeout", required_argument, NULL, API_O_TIMEOUT },                                        \
	{ "budget", required_argument, NULL, API_O_BUDGET },                                              \
	{ "tokenizer", required_argument, NULL, API_O_TOKENIZER }

/** Apply one option (an API_O_* id) to o: API_EXIT_OK or a usage error (printed). */
int api__agent_option(const char *cmd, int id, const char *arg, struct api_agent_opts *o);
/** Open the tokenizer `spec` (NULL: $LODE_TOKENIZER, else the estimate); NULL with the message printed. */
struct agent_tok *api__open_tok(const char *spec, int *code);

int api__cmd_ask(int argc, char **argv);
int api__cmd_edit(int argc, char **argv);
int api__cmd_undo(int argc, char **argv);

#endif /* LODE_API_INTERNAL_H */
