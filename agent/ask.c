/*
 * ask.c: answers grounded in packed context, with checked citations.
 *
 * The prompt is two messages: a system text (answer from the context,
 * cite path:line) and a user message holding the packed context and the
 * question. The budget covers both, a per-message allowance for the chat
 * template, and the reply reserve (also sent as max_tokens). After
 * packing, the whole prompt is measured again and the context shrunk until
 * it fits.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/internal.h"

#include "base/banned.h"


static const char ask_system[] =
	"You are lode, an assistant that answers questions about a code repository.\n"
	"Answer from the context blocks the user gives you. Each block starts with a\n"
	"header path:start-end naming the file and its line numbers.\n"
	"Cite the code you rely on as path:line or path:start-end, with the path exactly\n"
	"as in the headers and line numbers inside the blocks. If the context does not\n"
	"hold the answer, say so instead of guessing.\n";

static char *prompt_user(const char *context, const char *question)
{
	return base_strfmt("Context:\n\n%s\n%s\n", context, question);
}

/* Count lines of root/rel; -1 when not a readable file inside root. */
static long file_lines(const char *root, const char *rel)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_FILE);
	if (!agent__path_ok(rel) || agent__read_repo_file(root, rel, &b, NULL)) {
		base_buf_release(&b);
		return -1;
	}
	long n = 0;
	for (size_t i = 0; i < b.len; i++)
		n += b.data[i] == '\n';
	if (b.len && b.data[b.len - 1] != '\n')
		n++;
	base_buf_release(&b);
	return n;
}

static bool path_byte(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '/' || c == '-' || c == '+';
}

json_t *agent_citations(const char *root, const char *text, size_t len)
{
	json_t *arr = json_array();
	for (size_t i = 1; i + 1 < len; i++) {
		if (text[i] != ':' || !isdigit((unsigned char)text[i + 1]))
			continue;
		size_t s = i;
		while (s > 0 && path_byte(text[s - 1]))
			s--;
		/* "./path" and trailing sentence dots are not part of it */
		while (s + 1 < i && text[s] == '.' && text[s + 1] == '/')
			s += 2;
		if (s >= i)
			continue;
		char *path = base_strndup(text + s, i - s);
		if (!strchr(path, '.') && !strchr(path, '/')) {
			base_free(path);
			continue;
		}
		size_t p = i + 1;
		unsigned long a = 0, b;
		while (p < len && isdigit((unsigned char)text[p]) && a < 100000000)
			a = a * 10 + (unsigned long)(text[p++] - '0');
		b = a;
		if (p + 1 < len && text[p] == '-' && isdigit((unsigned char)text[p + 1])) {
			b = 0;
			p++;
			while (p < len && isdigit((unsigned char)text[p]) && b < 100000000)
				b = b * 10 + (unsigned long)(text[p++] - '0');
		}
		/* the same citation twice is listed once */
		bool dup = false;
		size_t k;
		json_t *c;
		json_array_foreach(arr, k, c)
		{
			if (strcmp(json_string_value(json_object_get(c, "path")), path) == 0 &&
			    json_integer_value(json_object_get(c, "start")) == (json_int_t)a &&
			    json_integer_value(json_object_get(c, "end")) == (json_int_t)b)
				dup = true;
		}
		if (!dup) {
			long lines = file_lines(root, path);
			bool valid = lines >= 0 && a >= 1 && a <= b && (long)b <= lines;
			const char *why = lines < 0 ? "no such file in the repository"
					  : valid   ? NULL
						    : "line out of range";
			json_t *o = json_pack("{sosIsIsb}", "path", agent__json_text(path, strlen(path)), "start",
					      (json_int_t)a, "end", (json_int_t)b, "valid", valid);
			if (why)
				json_object_set_new(o, "reason", json_string(why));
			json_array_append_new(arr, o);
		}
		base_free(path);
		i = p - 1;
	}
	return arr;
}

int agent__pack_prompt(struct idx_reader *r, struct agent_tok *tok, const char *system, size_t other_tokens,
		       const char *query, const char *question, size_t budget, size_t reserve, size_t k,
		       struct agent_pack *p, char **user_out, size_t *prompt_tokens, struct base_err *err)
{
	memset(p, 0, sizeof(*p));
	*user_out = NULL;
	size_t ts = 0, tu;
	char *empty = base_strdup(question);
	char *u0 = prompt_user("", empty);
	int rc = system ? agent__count(tok, system, &ts, err) : BASE_OK;
	if (!rc)
		rc = agent__count(tok, u0, &tu, err);
	base_free(u0);
	if (rc) {
		base_free(empty);
		return rc;
	}
	ts += other_tokens + (system ? AGENT__MSG_OVERHEAD : 0);
	size_t fixed = ts + tu + AGENT__MSG_OVERHEAD + reserve;
	if (fixed > budget) {
		base_free(empty);
		return base_err_set(err, BASE_E_TOOBIG,
				    "budget of %zu tokens is too small: the %s, question and reply reserve "
				    "alone take %zu",
				    budget, system ? "system text" : "conversation", fixed);
	}
	size_t ctx_budget = budget - fixed;
	for (int tries = 0; tries < 8; tries++) {
		struct agent_pack_req pr = { .query = query, .budget = ctx_budget, .k = k, .mode = IDX_MODE_HYBRID };
		agent_pack_release(p);
		rc = agent_pack(r, tok, &pr, p, err);
		if (rc)
			break;
		char *user = prompt_user(p->text, empty);
		size_t tu2;
		rc = agent__count(tok, user, &tu2, err);
		if (rc) {
			base_free(user);
			break;
		}
		size_t total = ts + tu2 + AGENT__MSG_OVERHEAD;
		if (total + reserve <= budget || p->nblocks == 0) {
			*user_out = user;
			*prompt_tokens = total;
			break;
		}
		base_free(user);
		size_t over = total + reserve - budget;
		ctx_budget = ctx_budget > over ? ctx_budget - over : 0;
	}
	base_free(empty);
	if (!rc && !*user_out)
		rc = base_err_set(err, BASE_E_TOOBIG, "cannot fit the prompt into %zu tokens", budget);
	return rc;
}

json_t *agent__blocks_json(const struct agent_pack *p)
{
	json_t *blocks = json_array();
	for (size_t b = 0; b < p->nblocks; b++)
		json_array_append_new(blocks, json_pack("{sosIsIsb}", "path",
							agent__json_text(p->blocks[b].path, strlen(p->blocks[b].path)),
							"start_line", (json_int_t)p->blocks[b].start_line, "end_line",
							(json_int_t)p->blocks[b].end_line, "outline", p->blocks[b].outline));
	return blocks;
}

int agent_ask(struct idx_reader *r, struct agent_tok *tok, const struct agent_ask_req *req, agent_delta_fn *fn,
	      void *payload, json_t **out, struct base_err *err)
{
	if (out)
		*out = NULL;
	if (!req->question || !*req->question)
		return base_err_set(err, BASE_E_INVAL, "empty question");
	size_t budget = req->budget ? req->budget : AGENT_DEFAULT_BUDGET;
	size_t reserve = req->reserve ? req->reserve : BASE_MIN((size_t)AGENT_DEFAULT_RESERVE, budget / 4);
	struct agent_pack p;
	char *user = NULL;
	size_t prompt_tokens = 0;
	char *question = base_strfmt("Question: %s", req->question);
	int rc = agent__pack_prompt(r, tok, ask_system, 0, req->question, question, budget, reserve, req->k, &p, &user,
				    &prompt_tokens, err);
	base_free(question);
	if (rc) {
		agent_pack_release(&p);
		return rc;
	}
	struct agent_llm llm = req->llm;
	if (llm.max_tokens == 0)
		llm.max_tokens = (long)reserve;
	struct agent_msg msgs[] = { { "system", ask_system }, { "user", user } };
	struct base_buf reply = BASE_BUF_INIT(BASE_CAP_TEXT);
	rc = agent_llm_chat(&llm, msgs, 2, fn, payload, &reply, err);
	if (!rc && out) {
		json_t *cites = agent_citations(req->root, reply.data, reply.len);
		json_t *invalid = json_array();
		size_t i;
		json_t *c;
		json_array_foreach(cites, i, c)
		{
			if (!json_is_true(json_object_get(c, "valid")))
				json_array_append(invalid, c);
		}
		json_t *blocks = agent__blocks_json(&p);
		json_t *ctx = json_pack("{sIsIsIsIsssbso}", "budget", (json_int_t)budget, "tokens", (json_int_t)p.tokens,
					"prompt_tokens", (json_int_t)prompt_tokens, "reserve", (json_int_t)reserve,
					"tokenizer", agent_tok_name(tok), "exact", agent_tok_exact(tok), "blocks", blocks);
		*out = json_pack("{sosososo}", "answer", agent__json_text(reply.data, reply.len), "citations", cites,
				 "invalid", invalid, "context", ctx);
	}
	base_buf_release(&reply);
	base_free(user);
	agent_pack_release(&p);
	return rc;
}
