/*
 * http.h: private to api/. The HTTP surface as a pure function over a
 * parsed request, so that libmicrohttpd (serve.c), the tests and the fuzz
 * target drive the same code; and the MCP dispatcher both transports share.
 */
#ifndef LODE_API_HTTP_H
#define LODE_API_HTTP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <pthread.h>

#include "agent/agent.h"
#include "indexer/reader.h"

/* Limits: request body, query text, results. */
#define API_BODY_MAX ((size_t)1 << 20)
#define API_QUERY_MAX ((size_t)64 << 10)
#define API_K_MAX 100
#define API_FILE_MAX ((size_t)4 << 20)
/* Token budgets a request may ask for. */
#define API_BUDGET_MIN 50
#define API_BUDGET_MAX 1000000

/* Routes, for metrics. */
#define API_ROUTE_MAP(X)                                                                 \
	X(HEALTHZ, "/healthz") X(STATUS, "/v1/status") X(SEARCH, "/v1/search")           \
	X(CONTEXT, "/v1/context") X(FILE, "/v1/file") X(METRICS, "/metrics") X(PAGE, "/") \
	X(MCP, "/mcp") X(ASK, "/v1/ask") X(EDIT, "/v1/edit") X(CHAT, "/v1/chat/completions") X(OTHER, "other")

enum api_route {
#define API__ROUTE_ENUM(name, path) API_ROUTE_##name,
	API_ROUTE_MAP(API__ROUTE_ENUM)
#undef API__ROUTE_ENUM
	API_ROUTE__COUNT
};

/* Latency histogram buckets, in seconds (Prometheus "le"). */
#define API_BUCKETS 11

struct api_route_metrics {
	atomic_uint_fast64_t by_class[6];        /* 1xx..5xx by status / 100 */
	atomic_uint_fast64_t buckets[API_BUCKETS]; /* cumulative at scrape time */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_us;
};

#define API_SESSIONS 64

/* What every request handler shares. Thread-safe. */
struct api_server {
	struct idx_reader *reader;
	const char *root;       /* realpath of the repository */
	const char *token;      /* bearer token, or NULL: no auth */
	const char *version;
	uint64_t (*watch_lag_ms)(void *payload); /* NULL without a watcher */
	void *watch_payload;
	struct api_route_metrics metrics[API_ROUTE__COUNT];
	atomic_uint_fast64_t in_flight;
	/* the agent routes: the LLM (llm.url NULL: not configured), the
	 * tokenizer, the default budget, how an applied edit reaches the index
	 * (NULL: agent_reindex), and the flag that cancels them at shutdown */
	struct agent_llm llm;
	struct agent_tok *tok;
	size_t budget;
	agent_reindex_fn *reindex;
	void *reindex_payload;
	atomic_bool stopping;
	pthread_mutex_t edit_mu; /* one applying edit at a time */
	/* MCP sessions issued by initialize (streamable HTTP) */
	pthread_mutex_t mu;
	char sessions[API_SESSIONS][33];
	size_t next_session;
};

struct api_http_req {
	const char *method;
	const char *path;         /* without the query string */
	/* a query-string argument (decoded), its length in *len; NULL when absent */
	const char *(*arg)(void *ctx, const char *key, size_t *len);
	void *arg_ctx;
	const char *authorization; /* header values, or NULL */
	const char *content_type;
	const char *session;       /* Mcp-Session-Id */
	const char *body;
	size_t body_len;
	bool body_too_big;
};

/*
 * A deferred answer. The agent routes take seconds to minutes, so their
 * handler only checks the request and hands back a job; serve.c runs it on
 * a thread of its own while the connection waits (suspended, holding no
 * server thread). The job answers through the sink: begin once (status,
 * content type; `stream`: send bytes as they are written, chunked, rather
 * than the whole body at the end), then writes. A job that returns
 * without begin is answered 500.
 */
struct api_sink {
	int (*begin)(struct api_sink *s, int status, const char *content_type, bool stream);
	int (*write)(struct api_sink *s, const char *data, size_t len); /* non-zero: the client is gone */
};

struct api_job {
	void (*run)(struct api_job *j, struct api_sink *out);
	void (*free)(struct api_job *j);
};

struct api_http_resp {
	int status;
	const char *content_type;
	char *body;                /* heap (base_free), or NULL */
	size_t len;
	char session[33];          /* Mcp-Session-Id to send, or "" */
	const char *www_authenticate; /* static, or NULL */
	const char *allow;         /* static, for 405 */
	struct api_job *job;       /* deferred: run it (body is NULL); the runner frees it */
};

void api__server_init(struct api_server *srv);
void api__server_release(struct api_server *srv);

/** Handle one request (any thread). Fills resp; the caller frees resp->body. */
void api__http_handle(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp);

/** Record a finished request in the metrics. */
void api__metrics_observe(struct api_server *srv, enum api_route route, int status, uint64_t ns);
/** The route a path belongs to, for metrics. */
enum api_route api__route_of(const char *path);

/**
 * MCP: handle one JSON-RPC message. Returns the response to send, or NULL
 * for a notification (nothing to send). `initialized` reports an
 * initialize request (the HTTP transport then issues a session).
 */
json_t *api__mcp_handle(struct api_server *srv, json_t *msg, bool *initialize);

/**
 * Resolve a path given by a client to a file inside the repository:
 * relative, no "..", no NUL, not under .git/ or .lode/, and its real path
 * (symbolic links resolved) inside the root. On success *abs is a heap
 * string; else an HTTP status (400 malformed, 403 outside or internal,
 * 404 missing) and a message.
 */
int api__resolve_path(const char *root, const char *rel, size_t len, char **abs, const char **why);

/* Responses and request bodies (http.c). */
void api__respond_json(struct api_http_resp *r, int status, json_t *j);
void api__respond_error(struct api_http_resp *r, int status, const char *code, const char *fmt, ...)
	BASE_PRINTF(4, 5);
/** The JSON object body of a POST, or NULL with the error response set (413, 415, 400). */
json_t *api__body_object(const struct api_http_req *req, struct api_http_resp *resp);
/**
 * Search arguments from a JSON object (query, k, mode, files) into q,
 * strings borrowed; NULL when valid, else the message. lang/path lists
 * are the caller's.
 */
const char *api__search_args(json_t *body, struct idx_query *q, const char ***langs, const char ***globs,
			     char *msg, size_t cap);
/**
 * {"path", "start_line", "end_line", "text"} for lines [start, end] (0:
 * from the first / to the last) of a repository file; NULL with an HTTP
 * status and message when the path is refused or unreadable.
 */
json_t *api__file_lines(const char *root, const char *rel, size_t len, long start, long end, int *status,
			char *msg, size_t cap);

/* Context (context.c). */
/**
 * `lode context --json`'s object for {"query", "budget"} from srv's reader,
 * counted with srv's tokenizer (NULL: $LODE_TOKENIZER, else the estimate);
 * "budget" defaults to `lode serve --budget`. NULL with a message.
 */
json_t *api__context_json(struct api_server *srv, json_t *args, char *msg, size_t cap);
void api__h_context(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp);

/* The agent routes (agent_http.c): check the body, return a job. */
void api__h_ask(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp);
void api__h_edit(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp);
void api__h_chat(struct api_server *srv, const struct api_http_req *req, struct api_http_resp *resp);
/** Answer a whole response held in `r` (as api__respond_* fill it) through a sink; frees r->body. */
void api__sink_resp(struct api_sink *s, struct api_http_resp *r);

/** The search page (HTML, JavaScript inline). */
extern const char api__page_html[];

#endif /* LODE_API_HTTP_H */
