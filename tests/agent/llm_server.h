/*
 * llm_server.h: a scripted OpenAI-compatible server for tests.
 *
 * t_llm_start() forks a child that listens on 127.0.0.1 (a free port) and
 * answers the i-th connection with script[i] (the last entry repeats). It
 * appends every request it receives (head and body) to a record file, so
 * a test can check the prompts lode sent. Streams are written in small
 * pieces with pauses, so the client sees events split across reads.
 */
#ifndef LODE_TEST_LLM_SERVER_H
#define LODE_TEST_LLM_SERVER_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>

#include "test.h"

enum t_llm_kind {
	T_LLM_SSE,     /* stream `text` as deltas, then [DONE] (crlf: CRLF lines) */
	T_LLM_STATUS,  /* answer `status` with `text` as the body */
	T_LLM_HANG,    /* read the request, then answer nothing */
	T_LLM_DROP,    /* stream the first half of `text`, then close */
	T_LLM_JSON,    /* a non-streamed completion holding `text` */
	T_LLM_SLOW,    /* as T_LLM_SSE, 100 ms between events */
};

struct t_llm_resp {
	enum t_llm_kind kind;
	const char *text;
	int status;
	bool crlf;
};

struct t_llm {
	pid_t pid;
	int port;
	char url[64];
	char record[64];
};

#define T_LLM_SEP "\n\x1e\x1e\n"

static void t_llm__write(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void t_llm__nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void t_llm__event(int fd, const char *piece, size_t n, bool crlf, bool split)
{
	json_t *j = json_pack("{s[{s{ss%}}]}", "choices", "delta", "content", piece, n);
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	char ev[4096];
	int len = snprintf(ev, sizeof(ev), "data: %s%s%s", s, crlf ? "\r\n" : "\n", crlf ? "\r\n" : "\n");
	free(s);
	if (split && len > 10) {
		t_llm__write(fd, ev, 7);
		t_llm__nap(2);
		t_llm__write(fd, ev + 7, (size_t)len - 7);
	} else {
		t_llm__write(fd, ev, (size_t)len);
	}
}

static void t_llm__serve(int fd, const struct t_llm_resp *r, const char *record)
{
	/* read the request: head, then Content-Length bytes */
	char buf[1 << 16];
	size_t have = 0;
	char *cap = NULL;
	size_t cap_n = 0;
	long clen = -1;
	size_t head_end = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		cap = realloc(cap, cap_n + (size_t)n + 1);
		memcpy(cap + cap_n, buf, (size_t)n);
		cap_n += (size_t)n;
		cap[cap_n] = '\0';
		if (!head_end) {
			char *e = strstr(cap, "\r\n\r\n");
			if (e) {
				head_end = (size_t)(e - cap) + 4;
				char *cl = strstr(cap, "Content-Length:");
				clen = cl ? strtol(cl + 15, NULL, 10) : 0;
			}
		}
		if (head_end && cap_n >= head_end + (size_t)clen)
			break;
	}
	(void)have;
	int rf = open(record, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (rf >= 0) {
		t_llm__write(rf, cap ? cap : "", cap_n);
		t_llm__write(rf, T_LLM_SEP, strlen(T_LLM_SEP));
		close(rf);
	}
	free(cap);
	const char *text = r->text ? r->text : "";
	char head[512];
	switch (r->kind) {
	case T_LLM_HANG:
		t_llm__nap(60000);
		return;
	case T_LLM_STATUS: {
		int n = snprintf(head, sizeof(head),
				 "HTTP/1.1 %d Oops\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
				 "Connection: close\r\n\r\n",
				 r->status, strlen(text));
		t_llm__write(fd, head, (size_t)n);
		t_llm__write(fd, text, strlen(text));
		return;
	}
	case T_LLM_JSON: {
		json_t *j = json_pack("{s[{s{ssss}ss}]}", "choices", "message", "role", "assistant", "content", text,
				      "finish_reason", "stop");
		char *s = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		int n = snprintf(head, sizeof(head),
				 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
				 "Connection: close\r\n\r\n",
				 strlen(s));
		t_llm__write(fd, head, (size_t)n);
		t_llm__write(fd, s, strlen(s));
		free(s);
		return;
	}
	case T_LLM_SSE:
	case T_LLM_SLOW:
	case T_LLM_DROP: {
		int n = snprintf(head, sizeof(head),
				 "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
				 "Connection: close\r\n\r\n");
		t_llm__write(fd, head, (size_t)n);
		t_llm__write(fd, ": keep-alive comment\n\n", 22);
		size_t len = strlen(text), stop = r->kind == T_LLM_DROP ? len / 2 : len;
		size_t i = 0, k = 0;
		while (i < stop) {
			size_t step = BASE_MIN((size_t)(5 + k % 11), stop - i);
			/* never cut inside a UTF-8 sequence */
			while (i + step < len && ((unsigned char)text[i + step] & 0xC0) == 0x80)
				step++;
			if (k > 0 && r->kind == T_LLM_SLOW)
				t_llm__nap(100);
			t_llm__event(fd, text + i, step, r->crlf, k % 3 == 1);
			i += step;
			k++;
		}
		if (r->kind != T_LLM_DROP) {
			const char *done = r->crlf ? "data: [DONE]\r\n\r\n" : "data: [DONE]\n\n";
			t_llm__write(fd, done, strlen(done));
		}
		return;
	}
	}
}

static void t_llm_start(struct t_llm *s, const struct t_llm_resp *script, size_t n)
{
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	T_TRUE(lfd >= 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = { 0 };
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	T_TRUE(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0);
	T_TRUE(listen(lfd, 16) == 0);
	socklen_t al = sizeof(a);
	T_TRUE(getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
	s->port = ntohs(a.sin_port);
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d/v1", s->port);
	snprintf(s->record, sizeof(s->record), "/tmp/lode-llm-rec-%d-%d", (int)getpid(), s->port);
	unlink(s->record);
	fflush(NULL);
	s->pid = fork();
	T_TRUE(s->pid >= 0);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed case */
		signal(SIGPIPE, SIG_IGN);
		for (size_t i = 0;; i++) {
			int fd = accept(lfd, NULL, NULL);
			if (fd < 0)
				_exit(0);
			t_llm__serve(fd, &script[i < n ? i : n - 1], s->record);
			shutdown(fd, SHUT_RDWR);
			close(fd);
		}
	}
	close(lfd);
}

static void t_llm_stop(struct t_llm *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	unlink(s->record);
}

/* The requests received so far: their count, and (when i < count) the
 * i-th one's body as JSON (json_decref it). */
static size_t t_llm_requests(const struct t_llm *s, size_t i, json_t **body, char **head)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	if (base_buf_read_file(&b, s->record, NULL) != 0) {
		base_buf_release(&b);
		return 0;
	}
	size_t count = 0;
	const char *p = b.data;
	for (const char *e; (e = strstr(p, T_LLM_SEP)) != NULL; p = e + strlen(T_LLM_SEP), count++) {
		if (count != i)
			continue;
		const char *h = strstr(p, "\r\n\r\n");
		if (body)
			*body = h && h < e ? json_loadb(h + 4, (size_t)(e - h - 4), 0, NULL) : NULL;
		if (head)
			*head = base_strndup(p, h && h < e ? (size_t)(h - p) : (size_t)(e - p));
	}
	base_buf_release(&b);
	return count;
}

#endif /* LODE_TEST_LLM_SERVER_H */
