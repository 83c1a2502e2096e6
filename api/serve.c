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
 * SIGINT/SIGTERM: stop accepting, let in-flight requests finish (up to
 * 10 s), stop the watcher (its batch commits or rolls back whole), save the
 * vectors, exit 0.
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

/* One request: its body as it arrives. */
struct conn {
	struct base_buf body;
	bool too_big;
	uint64_t t0;
	enum api_route route;
};

struct serve {
	struct api_server srv;
	struct idx_watch *watch;
};

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
	base_buf_release(&cn->body);
	base_free(cn);
	*con_cls = NULL;
	atomic_fetch_sub(&sv->srv.in_flight, 1);
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
	struct MHD_Response *r = MHD_create_response_from_buffer(resp.len, resp.body ? resp.body : (void *)"",
								 resp.body ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	base_free(resp.body);
	if (!r)
		return MHD_NO;
	if (resp.content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (resp.session[0])
		MHD_add_response_header(r, "Mcp-Session-Id", resp.session);
	if (resp.www_authenticate)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, resp.www_authenticate);
	if (resp.allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp.allow);
	enum MHD_Result ok = MHD_queue_response(c, (unsigned)resp.status, r);
	MHD_destroy_response(r);
	api__metrics_observe(&sv->srv, cn->route, resp.status, base_now_ns() - cn->t0);
	return ok;
}

static uint64_t watch_pending(void *payload)
{
	return idx_watch_pending(payload);
}

static uint64_t watch_lag(void *payload)
{
	return (uint64_t)idx_watch_stats(payload).lag_ms;
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
	"\n"
	"Serve the index of DIR (default: the current directory) over HTTP, keeping\n"
	"it live with a watcher in the same process. Routes: GET /healthz,\n"
	"/v1/status, /v1/file, /metrics, / (a search page); POST /v1/search,\n"
	"/v1/context, /mcp (Model Context Protocol). See DESIGN.md.\n"
	"\n"
	"  --bind ADDR       IPv4 address to listen on (default 127.0.0.1); any other\n"
	"                    than loopback requires --token-file\n"
	"  --port N          TCP port (default 7878; 0 picks a free one)\n"
	"  --token-file F    require 'Authorization: Bearer TOKEN' (TOKEN: the file's\n"
	"                    first line, 16 characters at least) on every route but /healthz\n"
	"  --no-watch        serve the index as it is (another process may be writing it)\n";

int api__cmd_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bind", required_argument, NULL, 'b' },	  { "port", required_argument, NULL, 'p' },
		{ "token-file", required_argument, NULL, 't' }, { "no-watch", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },		  { NULL, 0, NULL, 0 },
	};
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
		default:
			return api__usage_error("serve", "unknown option");
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
	char *token = token_file ? read_token(token_file, &code) : NULL;
	if (token_file && !token)
		return code;
	char root[PATH_MAX];
	const char *dir = optind < argc ? argv[optind] : ".";
	if (!realpath(dir, root)) {
		base_free(token);
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
			return api__fail(API_EXIT_RUNTIME, "%s%s", err.msg,
					 err.code == BASE_E_BUSY ? " (use --no-watch to serve it read-only)" : "");
		}
	}
	struct idx_reader *r = idx_reader_open(root, &err);
	if (!r) {
		idx_writer_close(w);
		base_free(token);
		return api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	}
	if (w) {
		idx_reader_share_vectors(r, idx_writer_vectors(w));
		sv.watch = idx_watch_start(w, NULL, &err);
		if (!sv.watch) {
			idx_reader_close(r);
			idx_writer_close(w);
			base_free(token);
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
	api__server_init(&sv.srv);

	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO, 0, NULL, NULL, on_request, &sv,
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
		/* stop accepting; let what is in flight finish */
		MHD_quiesce_daemon(d);
		for (int i = 0; i < DRAIN_MS / 10 && atomic_load(&sv.srv.in_flight); i++) {
			struct timespec ms10 = { 0, 10 * 1000000 };
			nanosleep(&ms10, NULL);
		}
		MHD_stop_daemon(d);
	}
	idx_watch_stop(sv.watch);
	idx_reader_close(r);
	idx_writer_close(w);
	api__server_release(&sv.srv);
	base_free(token);
	return code;
}
