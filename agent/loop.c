/*
 * loop.c: the edit loop (agent_edit in agent.h).
 *
 * Each turn is one fresh two-message prompt: the system text (the
 * SEARCH/REPLACE format) and a user message with context packed for the
 * instruction, the instruction, and from the second turn on the diff
 * applied so far and the failing test output (its tail, trimmed to a
 * quarter of the budget). Context is retrieved again after the touched
 * files were re-indexed, so the model sees the files as they are now.
 *
 * A reply that does not parse or validate ends the loop with an error and
 * nothing written in that turn.
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/internal.h"

#include "base/banned.h"

static const char edit_system[] =
	"You are lode, a careful programmer editing a code repository.\n"
	"The user gives you context blocks (each headed path:start-end with its line numbers)\n"
	"and an instruction. Make the change with SEARCH/REPLACE blocks, one per change:\n"
	"\n"
	"path/relative/to/repo.ext\n"
	"<<<<<<< SEARCH\n"
	"exact lines copied from the file\n"
	"=======\n"
	"the new lines\n"
	">>>>>>> REPLACE\n"
	"\n"
	"Rules: the SEARCH text must match the file exactly (whitespace included) and only\n"
	"once; include enough lines to make it unique. To create a file, use its path with an\n"
	"empty SEARCH section. Paths are relative to the repository root. Keep each block\n"
	"small. Explain briefly, then give the blocks.\n";

/* Keep the tail of `text` within `max_tokens`. Heap string. */
static char *trim_tail(struct agent_tok *tok, const char *text, size_t len, size_t max_tokens)
{
	size_t off = 0, t = 0;
	for (int i = 0; i < 40; i++) {
		if (agent_tok_count(tok, text + off, len - off, &t, NULL) != 0 || t <= max_tokens)
			break;
		size_t keep = (len - off) * max_tokens / (t + 1);
		keep = keep * 9 / 10;
		off = len - keep;
	}
	/* do not start inside a UTF-8 sequence */
	while (off < len && ((unsigned char)text[off] & 0xC0) == 0x80)
		off++;
	if (off == 0)
		return base_strndup(text, len);
	return base_strfmt("[... %zu bytes cut ...]\n%.*s", off, (int)(len - off), text + off);
}

static int run_tests(const struct agent_edit_req *req, struct agent_tok *tok, size_t budget, bool *passed,
		     int *code, char **output, struct base_err *err)
{
	struct base_buf out = BASE_BUF_INIT((size_t)8 << 20);
	int rc = agent__run(NULL, req->test_cmd, req->root, req->test_timeout_ms > 0 ? req->test_timeout_ms : 600000,
			    &out, code, err);
	if (rc) {
		base_buf_release(&out);
		return rc;
	}
	*passed = *code == 0;
	*output = trim_tail(tok, out.data, out.len, budget / 4);
	base_buf_release(&out);
	return BASE_OK;
}

struct turn_state {
	struct base_buf diff; /* everything applied so far */
	json_t *files;        /* {"path": {...}} */
	json_t *notes;
};

int agent_edit(struct idx_reader *r, struct agent_tok *tok, const struct agent_edit_req *req, agent_delta_fn *fn,
	       void *payload, json_t **out, struct base_err *err)
{
	if (out)
		*out = NULL;
	if (!req->instruction || !*req->instruction)
		return base_err_set(err, BASE_E_INVAL, "empty instruction");
	if (req->test_cmd && !req->apply)
		return base_err_set(err, BASE_E_INVAL, "--test needs --apply: tests run on the applied edit");
	size_t budget = req->budget ? req->budget : AGENT_DEFAULT_BUDGET;
	size_t reserve = req->reserve ? req->reserve : BASE_MIN((size_t)AGENT_DEFAULT_RESERVE, budget / 4);
	unsigned max_turns = req->max_turns ? req->max_turns : 3;
	struct agent_llm llm = req->llm;
	if (llm.max_tokens == 0)
		llm.max_tokens = (long)reserve;
	struct turn_state ts = { BASE_BUF_INIT(BASE_CAP_TEXT), json_array(), json_array() };
	json_t *tests = json_null();
	char *feedback = NULL; /* the failing test output of the last turn */
	bool applied = false, done = false;
	unsigned turn = 0;
	int rc = BASE_OK;
	char *last_error = NULL;
	while (!done && turn < max_turns) {
		turn++;
		char *question;
		if (!feedback) {
			question = base_strfmt("Instruction: %s", req->instruction);
		} else {
			question = base_strfmt("Instruction: %s\n\nYour edits so far were applied:\n```diff\n%s```\n"
					       "Then `%s` failed:\n```\n%s\n```\nFix it with more SEARCH/REPLACE blocks "
					       "against the files as they are now.",
					       req->instruction, ts.diff.data, req->test_cmd, feedback);
		}
		struct agent_pack p;
		char *user = NULL;
		size_t ptok = 0;
		rc = agent__pack_prompt(r, tok, edit_system, 0, req->instruction, question, budget, reserve, req->k, &p,
					&user, &ptok, err);
		base_free(question);
		agent_pack_release(&p);
		if (rc)
			break;
		struct agent_msg msgs[] = { { "system", edit_system }, { "user", user } };
		struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
		rc = agent_llm_chat(&llm, msgs, 2, fn, payload, &reply, err);
		base_free(user);
		struct agent_edit_blocks blocks = { 0 };
		struct agent_changes ch = { 0 };
		char *diff = NULL;
		if (!rc)
			rc = agent_edit_parse(reply.data, reply.len, &blocks, err);
		if (!rc)
			rc = agent_edit_validate(req->root, &blocks, &ch, err);
		if (ch.notes) {
			for (const char *s = ch.notes; *s;) {
				const char *nl = strchr(s, '\n');
				size_t n = nl ? (size_t)(nl - s) : strlen(s);
				json_array_append_new(ts.notes, json_stringn(s, n));
				s += n + (nl ? 1 : 0);
			}
		}
		if (!rc) {
			diff = agent_changes_diff(req->root, &ch, err);
			if (!diff)
				rc = err ? err->code : BASE_E_IO;
		}
		if (!rc) {
			for (size_t i = 0; i < ch.n; i++) {
				json_t *f = json_pack("{sssbsIsi}", "path", ch.v[i].path, "created", ch.v[i].created, "fuzzy",
						      (json_int_t)ch.v[i].fuzzy, "turn", (int)turn);
				json_array_append_new(ts.files, f);
			}
			if (base_buf_adds(&ts.diff, diff))
				rc = base_err_set(err, BASE_E_TOOBIG, "the edits' diff is over %zu bytes", (size_t)BASE_CAP_TEXT);
		}
		if (!rc && req->apply) {
			rc = agent_changes_apply(req->root, &ch, err);
			if (!rc) {
				applied = true;
				const char **paths = base_calloc(ch.n ? ch.n : 1, sizeof(*paths));
				for (size_t i = 0; i < ch.n; i++)
					paths[i] = ch.v[i].path;
				struct base_err e2;
				/* the one place where edits wait for the index (see agent_reindex) */
				int ri = req->reindex ? req->reindex(req->reindex_payload, paths, ch.n, &e2)
						      : agent_reindex(req->root, paths, ch.n, &e2);
				if (ri)
					BASE_LOG(BASE_LOG_WARN, "re-indexing after the edit failed: %s", e2.msg);
				base_free(paths);
			}
		}
		base_free(diff);
		agent_edit_blocks_release(&blocks);
		agent_changes_release(&ch);
		base_buf_release(&reply);
		if (rc)
			break;
		if (!req->test_cmd) {
			done = true;
			break;
		}
		bool passed = false;
		int code = 0;
		char *output = NULL;
		rc = run_tests(req, tok, budget, &passed, &code, &output, err);
		if (rc)
			break;
		json_decref(tests);
		tests = json_pack("{sssbsisiso}", "cmd", req->test_cmd, "passed", passed, "exit_code", code, "turn",
				  (int)turn, "output", agent__json_text(output, strlen(output)));
		base_free(feedback);
		feedback = output;
		if (passed)
			done = true;
	}
	if (rc && err) {
		last_error = base_strdup(err->msg);
	} else if (!rc && !done) {
		rc = base_err_set(err, BASE_E_INVAL, "the tests still fail after %u turn%s", turn, turn == 1 ? "" : "s");
		last_error = base_strdup(err ? err->msg : "tests fail");
	}
	if (out) {
		*out = json_pack("{sbsisosososo}", "applied", applied, "turns", (int)turn, "files", ts.files, "diff",
				 agent__json_text(ts.diff.data, ts.diff.len), "tests", tests, "notes", ts.notes);
		json_object_set_new(*out, "ok", json_boolean(rc == BASE_OK));
		json_object_set_new(*out, "error", last_error ? json_string(last_error) : json_null());
	} else {
		json_decref(ts.files);
		json_decref(ts.notes);
		json_decref(tests);
	}
	base_free(last_error);
	base_free(feedback);
	base_buf_release(&ts.diff);
	return rc;
}
