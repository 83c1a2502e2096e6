/*
 * serve.c: `lode serve`, the HTTP API and MCP over libmicrohttpd, with the
 * live watcher in the same process.
 *
 * libmicrohttpd runs a thread pool (one thread per core, epoll); each
 * request's body is gathered (up to API_BODY_MAX; beyond that it is
 * drained and answered 413), then api__http_handle answers it. Searches run
 * in parallel on the shared idx_reader, which uses the watcher's vector
 * index, so a saved file is searchable as soon as its batch commits.
 *
 * The agent routes answer later (http.h: struct api_job): the job runs on
 * a thread of its own while its connection is suspended, and writes into a
 * buffer the connection drains; each side resumes the other (the
 * connection when bytes or the end arrive, the job never waits), so a
 * minute-long LLM answer holds no server thread and streams as it comes.
 *
 * SIGINT/SIGTERM: stop accepting, cancel the agent's LLM calls, let
 * in-flight requests finish (up to 10 s) and every job end, stop the
 * watcher (its batch commits or rolls back whole), save the vectors, exit 0.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api/http.h"
#include "api/internal.h"
#include "indexer/indexer.h"
#include "indexer/watch.h"

#include "base/banned.h"

#define DRAIN_MS 10000

struct stream;

/* One request: its body as it arrives. */
struct conn {
	struct base_buf body;
	bool too_big;
	uint64_t t0;
	enum api_route route;
	struct stream *st; /* a deferred answer, or NULL */
};

struct serve {
	struct api_server srv;
	struct idx_watch *watch;
	atomic_uint_fast64_t jobs; /* job threads running */
};

/*
 * A deferred answer (struct api_job) in flight, shared by the job's
 * thread, the connection and the streamed response: `refs` of them. The
 * connection is suspended whenever it waits for the job; `suspended` is
 * set and cleared under `mu` together with the MHD call, so every wake-up
 * finds it.
 */
struct stream {
	struct api_sink sink; /* first: the job's sink */
	pthread_mutex_t mu;
	struct serve *sv;
	struct MHD_Connection *c;
	struct api_job *job;
	struct base_buf data; /* written, not yet sent */
	int status;
	const char *ctype;
	bool begun, streaming, done, suspended, gone;
	int refs;
};

static void stream_unref(struct stream *st)
{
	pthread_mutex_lock(&st->mu);
	bool last = --st->refs == 0;
	pthread_mutex_unlock(&st->mu);
	if (!last)
		return;
	pthread_mutex_destroy(&st->mu);
	base_buf_release(&st->data);
	base_free(st);
}

/* Under st->mu: let the connection go on if it waits. */
static void stream_wake(struct stream *st)
{
	if (st->suspended) {
		st->suspended = false;
		MHD_resume_connection(st->c);
	}
}

static int sink_begin(struct api_sink *s, int status, const char *ctype, bool streaming)
{
	struct stream *st = (struct stream *)s;
	pthread_mutex_lock(&st->mu);
	if (!st->begun) {
		st->begun = true;
		st->status = status;
		st->ctype = ctype;
		st->streaming = streaming;
		if (streaming)
			stream_wake(st);
	}
	int gone = st->gone;
	pthread_mutex_unlock(&st->mu);
	return gone;
}

static int sink_write(struct api_sink *s, const char *data, size_t len)
{
	struct stream *st = (struct stream *)s;
	pthread_mutex_lock(&st->mu);
	int rc = st->gone || !st->begun || base_buf_add(&st->data, data, len) != BASE_OK;
	if (!rc && st->streaming)
		stream_wake(st);
	pthread_mutex_unlock(&st->mu);
	return rc;
}

/* The job is over (run, or never started): free it, end the answer. */
static void job_end(struct stream *st)
{
	struct serve *sv = st->sv;
	st->job->free(st->job);
	pthread_mutex_lock(&st->mu);
	st->done = true;
	stream_wake(st);
	pthread_mutex_unlock(&st->mu);
	stream_unref(st);
	atomic_fetch_sub(&sv->jobs, 1);
}

static void *job_main(void *arg)
{
	struct stream *st = arg;
	st->job->run(st->job, &st->sink);
	job_end(st);
	return NULL;
}

/* Run `job` on its own thread, the connection suspended until it answers. */
static void stream_start(struct serve *sv, struct conn *cn, struct MHD_Connection *c, struct api_job *job)
{
	struct stream *st = base_calloc(1, sizeof(*st));
	st->sink.begin = sink_begin;
	st->sink.write = sink_write;
	pthread_mutex_init(&st->mu, NULL);
	st->sv = sv;
	st->c = c;
	st->job = job;
	base_buf_init(&st->data, BASE_CAP_TEXT);
	st->refs = 2; /* the job, the connection */
	cn->st = st;
	pthread_mutex_lock(&st->mu);
	st->suspended = true;
	MHD_suspend_connection(c);
	pthread_mutex_unlock(&st->mu);
	atomic_fetch_add(&sv->jobs, 1);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	if (pthread_create(&t, &attr, job_main, st) != 0) {
		BASE_LOG(BASE_LOG_ERROR, "cannot start a thread for an agent request");
		job_end(st);
	}
	pthread_attr_destroy(&attr);
}

/* The streamed body: what the job wrote so far; suspends when there is nothing yet. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct stream *st = cls;
	pthread_mutex_lock(&st->mu);
	ssize_t n;
	if (st->data.len) {
		size_t take = BASE_MIN(max, st->data.len);
		memcpy(buf, st->data.data, take);
		memmove(st->data.data, st->data.data + take, st->data.len - take);
		base_buf_truncate(&st->data, st->data.len - take);
		n = (ssize_t)take;
	} else if (st->done) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
	} else if (st->gone) {
		n = MHD_CONTENT_READER_END_WITH_ERROR;
	} else {
		st->suspended = true;
		MHD_suspend_connection(st->c);
		n = 0;
	}
	pthread_mutex_unlock(&st->mu);
	return n;
}

static void stream_read_done(void *cls)
{
	struct stream *st = cls;
	pthread_mutex_lock(&st->mu);
	st->gone = true;
	pthread_mutex_unlock(&st->mu);
	stream_unref(st);
}

static const char *mhd_arg(void *ctx, const char *key, size_t *len)
{
	const char *v = NULL;
	size_t n = 0;
	if (MHD_lookup_connection_value_n(ctx, MHD_GET_ARGUMENT_KIND, key, strlen(key), &v, &n) != MHD_YES)
		return NULL;
	*len = n;
	return v ? v : "";
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)c;
	(void)toe;
	struct serve *sv = cls;
	struct conn *cn = *con_cls;
	if (!cn)
		return;
	if (cn->st) {
		pthread_mutex_lock(&cn->st->mu);
		cn->st->gone = true;
		pthread_mutex_unlock(&cn->st->mu);
		stream_unref(cn->st);
	}
	base_buf_release(&cn->body);
	base_free(cn);
	*con_cls = NULL;
	atomic_fetch_sub(&sv->srv.in_flight, 1);
}

/* Queue resp (a whole body) on c, with the headers every answer carries. */
static enum MHD_Result queue(struct serve *sv, struct conn *cn, struct MHD_Connection *c, struct MHD_Response *r,
			     const struct api_http_resp *resp)
{
	if (!r)
		return MHD_NO;
	if (resp->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (resp->session[0])
		MHD_add_response_header(r, "Mcp-Session-Id", resp->session);
	if (resp->www_authenticate)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, resp->www_authenticate);
	if (resp->allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp->allow);
	enum MHD_Result ok = MHD_queue_response(c, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	api__metrics_observe(&sv->srv, cn->route, resp->status, base_now_ns() - cn->t0);
	return ok;
}

static enum MHD_Result respond(struct serve *sv, struct conn *cn, struct MHD_Connection *c, struct api_http_resp *resp)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(resp->len, resp->body ? resp->body : (void *)"",
								 resp->body ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	base_free(resp->body);
	resp->body = NULL;
	return queue(sv, cn, c, r, resp);
}

/* The connection of a deferred answer resumed: the job began (or ended). */
static enum MHD_Result stream_respond(struct serve *sv, struct conn *cn, struct MHD_Connection *c)
{
	struct stream *st = cn->st;
	struct api_http_resp resp = { 0 };
	pthread_mutex_lock(&st->mu);
	if (!st->begun) {
		pthread_mutex_unlock(&st->mu);
		if (atomic_load(&sv->srv.stopping))
			api__respond_error(&resp, 503, "shutting_down", "the server is shutting down");
		else
			api__respond_error(&resp, 500, "internal", "the request ended without an answer");
		return respond(sv, cn, c, &resp);
	}
	resp.status = st->status;
	resp.content_type = st->ctype;
	struct MHD_Response *r;
	if (st->done && !st->streaming) {
		r = MHD_create_response_from_buffer(st->data.len, st->data.data, MHD_RESPMEM_MUST_COPY);
		base_buf_reset(&st->data);
	} else {
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 << 10, stream_read, st, stream_read_done);
		if (r)
			st->refs++;
	}
	pthread_mutex_unlock(&st->mu);
	if (r && st->streaming)
		MHD_add_response_header(r, "X-Accel-Buffering", "no");
	return queue(sv, cn, c, r, &resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct serve *sv = cls;
	struct conn *cn = *con_cls;
	if (!cn) {
		cn = base_calloc(1, sizeof(*cn));
		base_buf_init(&cn->body, API_BODY_MAX);
		cn->t0 = base_now_ns();
		cn->route = api__route_of(url);
		*con_cls = cn;
		atomic_fetch_add(&sv->srv.in_flight, 1);
		return MHD_YES;
	}
	if (cn->st)
		return stream_respond(sv, cn, c);
	if (*upload_size) {
		if (!cn->too_big && base_buf_add(&cn->body, upload, *upload_size) != BASE_OK)
			cn->too_big = true; /* keep reading, answer 413 at the end */
		*upload_size = 0;
		return MHD_YES;
	}
	struct api_http_req req = {
		.method = method,
		.path = url,
		.arg = mhd_arg,
		.arg_ctx = c,
		.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
		.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
		.session = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Mcp-Session-Id"),
		.body = cn->body.data,
		.body_len = cn->body.len,
		.body_too_big = cn->too_big,
	};
	struct api_http_resp resp;
	api__http_handle(&sv->srv, &req, &resp);
	if (resp.job) {
		stream_start(sv, cn, c, resp.job);
		return MHD_YES;
	}
	return respond(sv, cn, c, &resp);
}

static uint64_t watch_pending(void *payload)
{
	return idx_watch_pending(payload);
}

static uint64_t watch_lag(void *payload)
{
	return (uint64_t)idx_watch_stats(payload).lag_ms;
}

/* Read-your-writes for an applied edit: the watcher applies what is pending. */
static int watch_reindex(void *payload, const char *const *paths, size_t n, struct base_err *err)
{
	(void)paths, (void)n;
	return idx_watch_sync(payload, 10000, err);
}

/* The token in `path`: its first line, at least 16 bytes. */
static char *read_token(const char *path, int *code)
{
	struct base_buf b = BASE_BUF_INIT(4096);
	struct base_err err;
	if (base_buf_read_file(&b, path, &err)) {
		*code = api__fail(API_EXIT_RUNTIME, "cannot read the token file: %s", err.msg);
		base_buf_release(&b);
		return NULL;
	}
	base_buf_truncate(&b, strcspn(b.data, "\r\n"));
	if (b.len < 16) {
		*code = api__fail(API_EXIT_USAGE, "the token in %s is shorter than 16 characters", path);
		base_buf_release(&b);
		return NULL;
	}
	return base_buf_detach(&b, NULL);
}

static const char serve_help[] =
	"usage: lode serve [DIR] [--bind ADDR] [--port N] [--token-file F] [--no-watch]\n"
	"                  [--llm URL] [--llm-model NAME] [--budget TOKENS] [--tokenizer SPEC]\n"
	"\n"
	"Serve the index of DIR (default: the current directory) over HTTP, keeping\n"
	"it live with a watcher in the same process. Routes: GET /healthz,\n"
	"/v1/status, /v1/file, /metrics, / (a search page); POST /v1/search,\n"
	"/v1/context, /mcp (Model Context Protocol); with an LLM, POST /v1/ask,\n"
	"/v1/edit and /v1/chat/completions (OpenAI-compatible, with retrieved\n"
	"context added). See DESIGN.md.\n"
	"\n"
	"  --bind ADDR       IPv4 address to listen on (default 127.0.0.1); any other\n"
	"                    than loopback requires --token-file\n"
	"  --port N          TCP port (default 7878; 0 picks a free one)\n"
	"  --token-file F    require 'Authorization: Bearer TOKEN' (TOKEN: the file's\n"
	"                    first line, 16 characters at least) on every route but /healthz\n"
	"  --no-watch        serve the index as it is (another process may be writing it)\n"
	"  --llm URL         OpenAI-compatible base URL for the agent routes (or LODE_LLM_URL),\n"
	"                    e.g. http://127.0.0.1:8080/v1; LODE_LLM_KEY: bearer key\n"
	"  --llm-model M     model name (or LODE_LLM_MODEL)\n"
	"  --llm-timeout MS  fail when the LLM sends nothing for MS (default 120000)\n"
	"  --budget N        default token budget of /v1/context, get_context and the\n"
	"                    agent routes (default 16000)\n"
	"  --tokenizer S     how tokens are counted (or LODE_TOKENIZER): estimate (default),\n"
	"                    PATH/tokenizer.json, PATH.gguf or http://server\n";

int api__cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bind", required_argument, NULL, 'b' },	  { "port", required_argument, NULL, 'p' },
		{ "token-file", required_argument, NULL, 't' }, { "no-watch", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },		  API_AGENT_LONGOPTS,
		{ NULL, 0, NULL, 0 },
	};
	struct api_agent_opts ao = { 0 };
	ao.llm.temperature = -1;
	const char *bind_addr = "127.0.0.1", *token_file = NULL;
	unsigned long long port = 7878;
	bool watch = true;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			bind_addr = optarg;
			break;
		case 'p':
			if (!api__parse_uint(optarg, 65535, &port))
				return api__usage_error("serve", "--port needs a number from 0 to 65535");
			break;
		case 't':
			token_file = optarg;
			break;
		case 'n':
			watch = false;
			break;
		case 'h':
			fputs(serve_help, stdout);
			return API_EXIT_OK;
		case '?':
			return api__usage_error("serve", "unknown option");
		default: {
			int code = api__agent_option("serve", ch, optarg, &ao);
			if (code)
				return code;
		}
		}
	}
	if (argc - optind > 1)
		return api__usage_error("serve", "at most one directory");
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, bind_addr, &addr.sin_addr) != 1)
		return api__usage_error("serve", "--bind needs an IPv4 address such as 127.0.0.1");
	bool loopback = (ntohl(addr.sin_addr.s_addr) >> 24) == 127;
	if (!loopback && !token_file)
		return api__fail(API_EXIT_USAGE,
				 "refusing to serve on %s without authentication: pass --token-file (or bind 127.0.0.1)",
				 bind_addr);
	int code = API_EXIT_OK;
	agent_llm_from_env(&ao.llm);
	agent_llm_init();
	struct agent_tok *tok = api__open_tok(ao.tokenizer, &code);
	if (!tok)
		return code;
	char *token = token_file ? read_token(token_file, &code) : NULL;
	if (token_file && !token) {
		agent_tok_close(tok);
		return code;
	}
	char root[PATH_MAX];
	const char *dir = optind < argc ? argv[optind] : ".";
	if (!realpath(dir, root)) {
		base_free(token);
		agent_tok_close(tok);
		return api__fail(API_EXIT_RUNTIME, "cannot serve %s: %s", dir, strerror(errno));
	}

	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct base_err err;
	struct idx_writer *w = NULL;
	struct serve sv;
	memset(&sv, 0, sizeof(sv));
	if (watch) {
		struct idx_options o = { .root = root };
		w = idx_writer_open(&o, &err);
		struct idx_summary sum;
		if (!w || idx_writer_sync(w, &sum, &err)) {
			idx_writer_close(w);
			base_free(token);
			agent_tok_close(tok);
		agent_tok_close(tok);
			return api__fail(API_EXIT_RUNTIME, "%s%s", err.msg,
					 err.code == BASE_E_BUSY ? " (use --no-watch to serve it read-only)" : "");
		}
	}
	struct idx_reader *r = idx_reader_open(root, &err);
	if (!r) {
		idx_writer_close(w);
		base_free(token);
		agent_tok_close(tok);
		return api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	}
	if (w) {
		idx_reader_share_vectors(r, idx_writer_vectors(w));
		sv.watch = idx_watch_start(w, NULL, &err);
		if (!sv.watch) {
			idx_reader_close(r);
			idx_writer_close(w);
			base_free(token);
			agent_tok_close(tok);
		agent_tok_close(tok);
			return api__fail(API_EXIT_RUNTIME, "%s", err.msg);
		}
		idx_reader_set_pending(r, watch_pending, sv.watch);
		sv.srv.watch_lag_ms = watch_lag;
		sv.srv.watch_payload = sv.watch;
	}
	sv.srv.reader = r;
	sv.srv.root = root;
	sv.srv.token = token;
	sv.srv.version = LODE_VERSION;
	sv.srv.llm = ao.llm;
	sv.srv.tok = tok;
	sv.srv.budget = (size_t)ao.budget;
	if (sv.watch) {
		sv.srv.reindex = watch_reindex;
		sv.srv.reindex_payload = sv.watch;
	}
	api__server_init(&sv.srv);

	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, &sv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
		(unsigned)(cores > 1 ? cores : 1), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)1024, MHD_OPTION_NOTIFY_COMPLETED, on_done, &sv, MHD_OPTION_END);
	if (!d) {
		code = api__fail(API_EXIT_RUNTIME, "cannot listen on %s:%llu: %s", bind_addr, port, strerror(errno));
	} else {
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
		fprintf(stderr, "lode: serving %s at http://%s:%u%s\n", root, bind_addr, info ? info->port : (unsigned)port,
			token ? " (bearer token required)" : "");
		for (;;) {
			struct timespec second = { 1, 0 };
			int sig = sigtimedwait(&sigs, NULL, &second);
			if (sig == SIGINT || sig == SIGTERM)
				break;
			if (sv.watch && idx_watch_error(sv.watch, &err)) {
				code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
				break;
			}
		}
		/* stop accepting; cancel the LLM calls; let what is in flight finish */
		MHD_quiesce_daemon(d);
		atomic_store(&sv.srv.stopping, true);
		struct timespec ms10 = { 0, 10 * 1000000 };
		for (int i = 0; i < DRAIN_MS / 10 && atomic_load(&sv.srv.in_flight); i++)
			nanosleep(&ms10, NULL);
		/* a job uses the reader: none may outlive it (cancelled, they end soon) */
		for (unsigned i = 0; atomic_load(&sv.jobs); i++) {
			if (i == DRAIN_MS / 10)
				BASE_LOG(BASE_LOG_WARN, "waiting for %llu agent requests to end",
					 (unsigned long long)atomic_load(&sv.jobs));
			nanosleep(&ms10, NULL);
		}
		MHD_stop_daemon(d);
	}
	idx_watch_stop(sv.watch);
	idx_reader_close(r);
	idx_writer_close(w);
	api__server_release(&sv.srv);
	base_free(token);
	agent_tok_close(tok);
	return code;
}
