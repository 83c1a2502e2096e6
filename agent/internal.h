/*
 * internal.h: private to agent/.
 */
#ifndef LODE_AGENT_INTERNAL_H
#define LODE_AGENT_INTERNAL_H

#include <jansson.h>

#include "agent/agent.h"

/** A JSON string of s[0,n) even when not valid UTF-8 (bad bytes: '?'). */
json_t *agent__json_text(const char *s, size_t n);
/** A search hit as DESIGN.md's JSON object. */
json_t *agent__hit_json(const struct store_hit *h);
/** Tokens of a NUL-terminated string; on error the error is returned. */
int agent__count(struct agent_tok *tok, const char *s, size_t *out, struct base_err *err);
/** Is `rel` a safe repository-relative path (no "..", not absolute, not .git/.lode)? */
bool agent__path_ok(const char *rel);
/** Read root/rel into b; BASE_E_NOTFOUND when missing. Follows no symlink out of root. */
int agent__read_repo_file(const char *root, const char *rel, struct base_buf *b, struct base_err *err);

/* Tokens a chat template adds around one message (role markers, BOS/EOS):
 * 8 covers ChatML (Qwen), Llama 3 and Mistral templates. */
#define AGENT__MSG_OVERHEAD 8

/*
 * Pack context for `query` so that system (NULL: no system message) +
 * other_tokens (earlier messages, their allowance included) + user(context,
 * question) + the chat template's allowance + reserve <= budget, measured
 * on the final text. *user_out gets the user message (heap),
 * *prompt_tokens the prompt's tokens. Release `p` also on failure.
 */
int agent__pack_prompt(struct idx_reader *r, struct agent_tok *tok, const char *system, size_t other_tokens,
		       const char *query, const char *question, size_t budget, size_t reserve, size_t k,
		       struct agent_pack *p, char **user_out, size_t *prompt_tokens, struct base_err *err);
/* The packed blocks as JSON: [{"path","start_line","end_line","outline"}]. */
json_t *agent__blocks_json(const struct agent_pack *p);

/*
 * Run argv (or `sh -c cmd` when argv is NULL) in `cwd`, stdout and stderr
 * into `out` (up to its cap, the rest read and dropped). *status gets the
 * exit code (128+signal when killed, -1 on timeout: the process group is
 * killed).
 */
int agent__run(const char *const *argv, const char *cmd, const char *cwd, long timeout_ms, struct base_buf *out,
	       int *status, struct base_err *err);

/* rename(2), replaceable by tests to inject a failure. */
extern int (*agent__rename_hook)(const char *from, const char *to);

#endif /* LODE_AGENT_INTERNAL_H */
