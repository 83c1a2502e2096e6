/*
 * agent_test.h: helpers the agent's end-to-end tests share (the CLI's in
 * tests/cli/test_agent.c, HTTP's in tests/api/test_http.c): a shell
 * command's output, a snapshot of a working tree, and the token count of
 * a prompt the scripted LLM server recorded.
 */
#ifndef LODE_TEST_AGENT_TEST_H
#define LODE_TEST_AGENT_TEST_H

#include <jansson.h>
#include <stdio.h>

#include "agent/tokenize.h"
#include "test.h"

/* The stdout of `cmd` (which must succeed), heap. */
static char *t_shell(const char *cmd)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	T_EQ_INT(t_run(cmd, &b), 0);
	return base_buf_detach(&b, NULL);
}

/* Every file outside .lode/: path, mode, size, mtime (optional), md5. */
static char *t_snapshot(const char *root, bool mtimes)
{
	char *cmd = base_strfmt("cd '%s' && find . -path ./.lode -prune -o -type f -print0 | sort -z | "
				"xargs -0 stat -c '%%n %%a %%s%s' && find . -path ./.lode -prune -o -type f -print0 | "
				"sort -z | xargs -0 md5sum",
				root, mtimes ? " %y" : "");
	char *s = t_shell(cmd);
	base_free(cmd);
	return s;
}

/* Fail unless the snapshot lines that differ all name `path`. */
static void t_snapshot_only(const char *before, const char *after, const char *path)
{
	const char *a = before, *b = after;
	while (*a && *b) {
		const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
		if ((ea - a) != (eb - b) || memcmp(a, b, (size_t)(ea - a)) != 0) {
			char *line = base_strndup(b, (size_t)(eb - b));
			if (!strstr(line, path))
				T_FAIL("unexpected change: %s", line);
			base_free(line);
		}
		a = ea + 1;
		b = eb + 1;
	}
}

/* Tokens of s by the estimate (what lode uses without --tokenizer). */
static size_t t_count(const char *s)
{
	struct agent_tok *t = agent_tok_open(NULL, NULL);
	size_t n = 0;
	T_OK(agent_tok_count(t, s, strlen(s), &n, NULL));
	agent_tok_close(t);
	return n;
}

/* Tokens of a recorded prompt: its messages plus the template allowance. */
static size_t t_prompt_tokens(json_t *body)
{
	size_t total = 0, i;
	json_t *m;
	json_array_foreach(json_object_get(body, "messages"), i, m) total +=
		t_count(json_string_value(json_object_get(m, "content"))) + 8;
	return total;
}

/* The content of a recorded prompt's last message. */
static const char *t_user_content(json_t *body)
{
	json_t *msgs = json_object_get(body, "messages");
	return json_string_value(json_object_get(json_array_get(msgs, json_array_size(msgs) - 1), "content"));
}

#endif /* LODE_TEST_AGENT_TEST_H */
