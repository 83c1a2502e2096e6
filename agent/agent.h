/*
 * agent.h: lode's agent — context packed under a hard token budget, the
 * OpenAI-compatible LLM client, grounded answers (ask) and validated code
 * edits (edit, undo).
 *
 * Every entry point takes a request struct and produces either a jansson
 * object (the JSON the CLI prints with --json and HTTP returns) or a stream
 * of text deltas through a callback, so the CLI, HTTP and MCP share them.
 *
 * Budgets
 *   A budget counts tokens of the target model's tokenizer (agent/tokenize.h;
 *   with "estimate" the count is a conservative over-estimate and outputs say
 *   "exact": false). The packed context, and for ask/edit the whole prompt
 *   (system text, context, question, history and the reply reserve), is
 *   re-measured after rendering and never exceeds the budget.
 *
 * Ownership
 *   Request strings are borrowed for the call. Results (struct agent_pack,
 *   json_t objects) belong to the caller: agent_pack_release / json_decref.
 *
 * Threads
 *   All functions are re-entrant; an idx_reader and an agent_tok may be
 *   shared by concurrent calls (both are thread-safe). agent_llm_init must
 *   run once before threads start (it initialises libcurl).
 *
 * Errors
 *   BASE_E_INVAL for bad requests, BASE_E_IO/BASE_E_DEVICE for the LLM
 *   server (err says which: connection, timeout, HTTP status and the
 *   server's message), BASE_E_PARSE for model output that is not a valid
 *   edit (err names the block and the reason). No call writes a file unless
 *   every check passed.
 */
#ifndef LODE_AGENT_H
#define LODE_AGENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "agent/tokenize.h"
#include "base/base.h"
#include "indexer/reader.h"
#include "store/store.h"

#define AGENT_DEFAULT_BUDGET 16000
#define AGENT_DEFAULT_RESERVE 1024 /* tokens kept for the reply (ask, edit) */
#define AGENT_DEFAULT_K 100        /* search candidates considered when packing */

/* ------------------------------------------------------------------------
 * Context packing (pack.c)
 *
 * Candidates come from idx_search (hybrid, k results). Each is rendered as
 * a block and costed in tokens; the top hit goes first when it fits, then
 * the others greedily by score per token. A chunk that does not fit whole
 * is degraded to an outline (its first lines up to the signature and a
 * "…" line) before it is dropped. Chosen chunks of one file that overlap
 * or touch are merged into one block.
 *
 * Reading order: blocks are sorted by path (byte order), then line. This
 * order does not depend on scores, so when a later turn retrieves mostly
 * the same chunks the rendered prefix stays the same and the LLM server's
 * prompt cache can reuse it.
 *
 * Block format (the "text" of lode context):
 *
 *   path/to/file.c:120-164
 *   ```c
 *   ...the lines...
 *   ```
 *
 * and for an outline, "path:120-164 (outline)" with the first lines and a
 * line holding "…". Blocks are separated by one empty line.
 * ------------------------------------------------------------------------ */

struct agent_block {
	char *path;
	uint32_t start_line, end_line; /* 1-based, inclusive */
	uint32_t start_byte, end_byte; /* half-open, in the indexed file */
	bool outline;
	double score;  /* best score of the merged chunks */
	size_t nhits;  /* chunks merged into this block */
};

struct agent_pack {
	size_t budget;     /* the budget for `text` */
	size_t tokens;     /* tokens of `text`, measured after rendering */
	char *text;        /* heap, NUL-terminated */
	size_t text_len;
	struct agent_block *blocks; /* in reading order */
	size_t nblocks;
	struct store_hits hits; /* the chunks used (full or outline), rank order */
	size_t candidates;      /* hits the search returned */
	double took_ms;
};

struct agent_pack_req {
	const char *query; /* NUL-terminated unless query_len */
	size_t query_len;
	size_t budget;     /* tokens available for the context text; 0: none fit */
	size_t k;          /* candidates; 0: AGENT_DEFAULT_K */
	enum idx_mode mode;
};

/**
 * Pack context for a query into at most req->budget tokens of `tok`.
 * An empty result (no hits, or a budget too small for any block) is not an
 * error. Release `out` with agent_pack_release, also after a failure.
 */
int agent_pack(struct idx_reader *r, struct agent_tok *tok, const struct agent_pack_req *req,
	       struct agent_pack *out, struct base_err *err);
void agent_pack_release(struct agent_pack *p);

/**
 * Pack from hits already found (used by agent_pack and by tests). `hits`
 * is borrowed; the chosen ones are copied into out->hits.
 */
int agent_pack_hits(struct agent_tok *tok, const struct store_hits *hits, size_t budget, struct agent_pack *out,
		    struct base_err *err);

struct agent_context_req {
	const char *query;
	size_t query_len;
	size_t budget;  /* 0: AGENT_DEFAULT_BUDGET */
	size_t reserve; /* tokens left free inside the budget (default 0) */
	size_t k;
	enum idx_mode mode;
};

/**
 * `lode context --json` / POST /v1/context: {"budget","tokens","tokenizer",
 * "exact","chunks":[hits],"blocks":[...],"text"} with tokens <= budget.
 */
int agent_context(struct idx_reader *r, struct agent_tok *tok, const struct agent_context_req *req, json_t **out,
		  struct base_err *err);

/* ------------------------------------------------------------------------
 * The LLM client (llm.c): OpenAI-compatible POST {url}/chat/completions
 * with "stream": true. Retries connection errors and 5xx answers with
 * exponential backoff as long as no text was delivered yet; a 4xx answer
 * fails at once with the server's message.
 * ------------------------------------------------------------------------ */

struct agent_llm {
	const char *url;   /* base URL, e.g. http://127.0.0.1:8080/v1 */
	const char *model; /* may be NULL: the server's default */
	const char *key;   /* bearer token, may be NULL */
	long connect_timeout_ms; /* 0: 10000 */
	long idle_timeout_ms;    /* no byte for this long: fail; 0: 120000 */
	long total_timeout_ms;   /* 0: none */
	int retries;             /* extra attempts; <0: none, 0: 3 */
	long backoff_ms;         /* first backoff, doubled each time; 0: 500 */
	double temperature;      /* <0: not sent */
	long max_tokens;         /* 0: not sent */
	/* More request fields (an object, borrowed), merged over the ones above
	 * ("messages" included: the chat proxy forwards the client's own);
	 * "stream" is always true. NULL: none. */
	const json_t *extra;
	/* When non-NULL and set, the call stops within about a second with
	 * BASE_E_INTERRUPTED (a server shutting down). */
	const atomic_bool *cancel;
};

/** Fill from the environment: LODE_LLM_URL, LODE_LLM_MODEL, LODE_LLM_KEY. */
void agent_llm_from_env(struct agent_llm *l);

/** Call once at start-up, before any thread uses the client. */
void agent_llm_init(void);

struct agent_msg {
	const char *role; /* "system", "user", "assistant" */
	const char *content;
};

/** Receives each text delta of the reply; non-zero stops the stream. */
typedef int agent_delta_fn(void *payload, const char *text, size_t len);

/**
 * One streamed chat completion. Every delta goes to `fn` (may be NULL) and
 * is appended to `reply` (may be NULL). A stream that ends without
 * "data: [DONE]" (or a finish_reason) is an error.
 */
int agent_llm_chat(const struct agent_llm *l, const struct agent_msg *msgs, size_t n, agent_delta_fn *fn,
		   void *payload, struct base_buf *reply, struct base_err *err);

/**
 * The SSE parser, exposed for tests: feed bytes in any pieces; complete
 * "data:" lines are decoded (CRLF or LF), text deltas go to fn.
 */
struct agent_sse {
	struct base_buf line;
	bool done;      /* saw [DONE] or a finish_reason */
	bool any;       /* saw at least one data line */
	int error;      /* a stream "error" object or bad JSON: BASE_E_* */
	char msg[BASE_ERR_MSG];
	agent_delta_fn *fn;
	void *payload;
	struct base_buf *reply;
	bool stopped; /* fn returned non-zero */
};
void agent_sse_init(struct agent_sse *s, agent_delta_fn *fn, void *payload, struct base_buf *reply);
void agent_sse_feed(struct agent_sse *s, const char *data, size_t len);
void agent_sse_release(struct agent_sse *s);

/* ------------------------------------------------------------------------
 * ask (ask.c)
 * ------------------------------------------------------------------------ */

struct agent_ask_req {
	const char *root;     /* repository root (absolute) */
	const char *question;
	size_t budget;        /* 0: AGENT_DEFAULT_BUDGET */
	size_t reserve;       /* 0: AGENT_DEFAULT_RESERVE, at most budget/4 */
	size_t k;
	struct agent_llm llm;
};

/**
 * Pack context for the question, stream the answer through `fn`, then check
 * its path:line citations against the repository. *out (may be NULL) gets
 * {"answer","citations":[{"path","start","end","valid"}],"invalid":[...],
 * "context":{"budget","tokens","prompt_tokens","tokenizer","exact","blocks"}}.
 */
int agent_ask(struct idx_reader *r, struct agent_tok *tok, const struct agent_ask_req *req, agent_delta_fn *fn,
	      void *payload, json_t **out, struct base_err *err);

/* ------------------------------------------------------------------------
 * The chat proxy (chat.c): POST /v1/chat/completions
 * ------------------------------------------------------------------------ */

struct agent_chat_req {
	const json_t *messages; /* the client's OpenAI messages (borrowed) */
	size_t budget;          /* 0: AGENT_DEFAULT_BUDGET */
	size_t reserve;         /* tokens for the reply; 0: AGENT_DEFAULT_RESERVE, at most budget/4 */
	size_t k;
	struct agent_llm llm;   /* llm.extra: the client's other fields (temperature, ...) */
};

/**
 * Retrieve context for the latest user message and forward the
 * conversation with that message prefixed by the packed context
 * ("Context:\n\n<blocks>\n<the message>"), so earlier turns stay a
 * byte-identical prefix the LLM server's prompt cache can reuse. Every
 * message's tokens (content plus the template allowance) count against
 * the budget with the reserve (sent as max_tokens unless the client set
 * it). Content is a string or an array of text parts. Deltas stream
 * through `fn`; *out (may be NULL) gets {"answer","context":{"budget",
 * "tokens","prompt_tokens","reserve","tokenizer","exact","blocks"}}.
 * BASE_E_INVAL names a malformed message; BASE_E_TOOBIG when the
 * conversation alone does not fit.
 */
int agent_chat(struct idx_reader *r, struct agent_tok *tok, const struct agent_chat_req *req, agent_delta_fn *fn,
	       void *payload, json_t **out, struct base_err *err);

/**
 * The path:line citations in `text` (path:N or path:N-M), each checked:
 * the path is a file inside `root` and the lines exist. JSON array.
 */
json_t *agent_citations(const char *root, const char *text, size_t len);

/* ------------------------------------------------------------------------
 * Edits (edit.c)
 * ------------------------------------------------------------------------ */

/** One SEARCH/REPLACE block as the model wrote it. */
struct agent_edit_block {
	char *path;
	char *search, *replace; /* without the marker lines; "" when empty */
	unsigned line;          /* where the block starts in the reply, 1-based */
};

struct agent_edit_blocks {
	struct agent_edit_block *v;
	size_t n, cap;
};

/**
 * Parse SEARCH/REPLACE blocks (DESIGN.md), also inside code fences.
 * BASE_E_PARSE names the malformed block; no block at all is BASE_E_PARSE.
 */
int agent_edit_parse(const char *text, size_t len, struct agent_edit_blocks *out, struct base_err *err);
void agent_edit_blocks_release(struct agent_edit_blocks *b);

/** A validated change to one file: its old and new content. */
struct agent_file_change {
	char *path;   /* relative, as in the blocks */
	bool created; /* did not exist */
	char *old_text, *new_text;
	size_t old_len, new_len;
	unsigned mode;   /* permission bits to keep (0644 for new files) */
	unsigned fuzzy;  /* blocks matched only whitespace-tolerantly */
	int syntax_before, syntax_after; /* ERROR/MISSING nodes; -1: no grammar */
};

struct agent_changes {
	struct agent_file_change *v;
	size_t n, cap;
	char *notes; /* heap text: fuzzy matches reported, or NULL */
};
void agent_changes_release(struct agent_changes *c);

/**
 * Validate blocks against the files under `root` and compute the new
 * contents in memory. Nothing is written. Fails (BASE_E_INVAL/E_PARSE/
 * E_NOTFOUND) with a message naming the block when a path is outside the
 * repository (absolute, "..", a symlink out, .git/ or .lode/), a SEARCH is
 * missing or ambiguous, or an edit adds syntax errors.
 */
int agent_edit_validate(const char *root, const struct agent_edit_blocks *b, struct agent_changes *out,
			struct base_err *err);

/** A unified diff of all changes (heap string; runs `diff -u`). */
char *agent_changes_diff(const char *root, const struct agent_changes *c, struct base_err *err);

/**
 * Write every changed file atomically (temp + fsync + rename, mode kept);
 * when one fails, the others are restored and none stays changed. Records
 * an undo entry under <root>/.lode/undo/.
 */
int agent_changes_apply(const char *root, const struct agent_changes *c, struct base_err *err);

/**
 * Revert the last applied edit. BASE_E_NOTFOUND when there is none,
 * BASE_E_BUSY (nothing written) when a file changed since. *out (may be
 * NULL) lists the restored paths.
 */
int agent_undo(const char *root, json_t **out, struct base_err *err);

/**
 * Make the index reflect the files just written before the next retrieval,
 * from a process without a watcher of its own: index them here, or when
 * another process's watcher holds the writer lock (BASE_E_BUSY), wait
 * until it indexed them (idx_wait_indexed, up to 10 s).
 */
int agent_reindex(const char *root, const char *const *paths, size_t n, struct base_err *err);

/** Re-indexing after an apply, for a process that runs its own watcher. */
typedef int agent_reindex_fn(void *payload, const char *const *paths, size_t n, struct base_err *err);

struct agent_edit_req {
	const char *root;
	const char *instruction;
	size_t budget;   /* 0: AGENT_DEFAULT_BUDGET */
	size_t reserve;  /* 0: AGENT_DEFAULT_RESERVE, at most budget/4 */
	size_t k;
	bool apply;
	const char *test_cmd; /* run with sh -c in root after applying; NULL: none */
	unsigned max_turns;   /* 0: 3 */
	long test_timeout_ms; /* 0: 600000 */
	struct agent_llm llm;
	/* After each apply, before the next retrieval; NULL: agent_reindex.
	 * lode serve passes its watcher's read-your-writes call. */
	agent_reindex_fn *reindex;
	void *reindex_payload;
};

/**
 * The edit loop. The model's reply streams through `fn` (may be NULL).
 * *out gets {"applied","turns","files":[{"path","created","fuzzy","diff"}],
 * "diff","tests":{"cmd","passed","exit_code","output"}|null,"notes"}.
 * On a validation error *out is still set when possible and nothing is
 * written. Returns BASE_OK when the edit was valid (and, with test_cmd,
 * the tests passed in the last turn); a failed test run is BASE_E_INVAL.
 */
int agent_edit(struct idx_reader *r, struct agent_tok *tok, const struct agent_edit_req *req, agent_delta_fn *fn,
	       void *payload, json_t **out, struct base_err *err);

#endif /* LODE_AGENT_H */
