/*
 * cmd_watch.c: `lode watch [DIR]`, the live index in the foreground.
 *
 * Reconciles the index with the tree (what changed while nothing watched),
 * then applies changes as they happen until SIGINT or SIGTERM. One line per
 * applied batch (or one JSON object with --json). Every second the state
 * (pid, pending changes, lag) is written atomically to .lode/watch.json,
 * which `lode status` reads.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/internal.h"
#include "indexer/indexer.h"
#include "indexer/watch.h"

#include "base/banned.h"

static const char watch_help[] =
	"usage: lode watch [DIR] [--json] [--quiet] [--debounce MS]\n"
	"\n"
	"Keep the index of DIR (default: the current directory) live: bring it up\n"
	"to date, then apply every change to the tree within milliseconds, until\n"
	"interrupted (Ctrl-C or SIGTERM). Only one writer per index: a second\n"
	"`lode watch` (or `lode index`) on the same repository is refused.\n"
	"\n"
	"  --json          one JSON object per applied batch on stdout\n"
	"  --quiet         print nothing per batch\n"
	"  --debounce MS   quiet time that closes a batch (default 10)\n";

struct watch_out {
	bool json, quiet;
};

static void print_batch(void *payload, const struct idx_watch_batch *b)
{
	const struct watch_out *o = payload;
	const struct idx_summary *s = &b->sum;
	if (o->quiet)
		return;
	if (o->json) {
		api__json_print(json_pack("{sbsIsfsIsIsIsIsIsIsI}", "rescan", b->rescan, "paths", (json_int_t)b->paths,
					  "latency_ms", b->latency_ms, "added", (json_int_t)s->added, "updated",
					  (json_int_t)s->updated, "deleted", (json_int_t)s->deleted, "chunks",
					  (json_int_t)s->chunks, "embedded", (json_int_t)s->embedded, "files",
					  (json_int_t)s->files, "generation", (json_int_t)s->generation));
		fflush(stdout);
		return;
	}
	time_t now = time(NULL);
	struct tm tm;
	char when[16];
	strftime(when, sizeof(when), "%H:%M:%S", localtime_r(&now, &tm));
	printf("%s  %s%zu path%s: %llu added, %llu updated, %llu deleted, %llu chunks in %.0f ms\n", when,
	       b->rescan ? "rescan, " : "", b->paths, b->paths == 1 ? "" : "s", (unsigned long long)s->added,
	       (unsigned long long)s->updated, (unsigned long long)s->deleted, (unsigned long long)s->chunks,
	       b->latency_ms);
	fflush(stdout);
}

/* .lode/watch.json, replaced atomically. */
static void write_state(const char *root, struct idx_watch *x, time_t started)
{
	struct idx_watch_stats st = idx_watch_stats(x);
	char *path = base_strfmt("%s/.lode/watch.json", root);
	char *tmp = base_strfmt("%s.tmp", path);
	json_t *j = json_pack("{sIsssIsIsIsIsfsIsb}", "pid", (json_int_t)getpid(), "repo", root, "started",
			      (json_int_t)started, "updated", (json_int_t)time(NULL), "events", (json_int_t)st.events,
			      "batches", (json_int_t)st.batches, "lag_ms", st.lag_ms, "pending", (json_int_t)st.pending,
			      "degraded", st.degraded);
	if (j && json_dump_file(j, tmp, JSON_COMPACT) == 0 && rename(tmp, path) != 0)
		unlink(tmp);
	json_decref(j);
	base_free(tmp);
	base_free(path);
}

int api__cmd_watch(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },	    { "quiet", no_argument, NULL, 'q' },
		{ "debounce", required_argument, NULL, 'd' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct watch_out out = { false, false };
	struct idx_watch_options wo = { 0 };
	unsigned long long v;
	int ch;
	while ((ch = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'J':
			out.json = true;
			break;
		case 'q':
			out.quiet = true;
			break;
		case 'd':
			if (!api__parse_uint(optarg, 10000, &v) || v == 0)
				return api__usage_error("watch", "--debounce needs a number of milliseconds from 1 to 10000");
			wo.debounce_ms = (unsigned)v;
			break;
		case 'h':
			fputs(watch_help, stdout);
			return API_EXIT_OK;
		default:
			return api__usage_error("watch", "unknown option");
		}
	}
	if (argc - optind > 1)
		return api__usage_error("watch", "at most one directory");
	const char *dir = optind < argc ? argv[optind] : ".";
	char root[PATH_MAX];
	if (!realpath(dir, root))
		return api__fail(API_EXIT_RUNTIME, "cannot watch %s: %s", dir, strerror(errno));

	/* SIGINT/SIGTERM are taken by sigtimedwait below, in no other thread */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	struct idx_options o = { .root = root };
	struct api__progress ps = { base_now_ns(), false };
	if (isatty(STDERR_FILENO)) {
		o.progress = api__show_progress;
		o.progress_payload = &ps;
	}
	struct base_err err;
	struct idx_writer *w = idx_writer_open(&o, &err);
	if (!w)
		return api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	struct idx_summary sum;
	int rc = idx_writer_sync(w, &sum, &err);
	if (ps.shown)
		fputs("\r\033[K", stderr);
	if (rc) {
		idx_writer_close(w);
		return api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	}
	fprintf(stderr, "lode: watching %s: %llu files, %llu chunks (up to date in %.1f s: %llu added, %llu updated, %llu deleted)\n",
		root, (unsigned long long)sum.files, (unsigned long long)sum.total_chunks, (double)sum.took_ns / 1e9,
		(unsigned long long)sum.added, (unsigned long long)sum.updated, (unsigned long long)sum.deleted);
	wo.on_batch = print_batch;
	wo.payload = &out;
	struct idx_watch *x = idx_watch_start(w, &wo, &err);
	if (!x) {
		idx_writer_close(w);
		return api__fail(API_EXIT_RUNTIME, "%s", err.msg);
	}
	time_t started = time(NULL);
	int code = API_EXIT_OK;
	for (;;) {
		write_state(root, x, started);
		struct timespec second = { 1, 0 };
		int sig = sigtimedwait(&sigs, NULL, &second);
		if (sig == SIGINT || sig == SIGTERM)
			break;
		if (idx_watch_error(x, &err)) {
			code = api__fail(API_EXIT_RUNTIME, "%s", err.msg);
			break;
		}
	}
	idx_watch_stop(x);
	char *state = base_strfmt("%s/.lode/watch.json", root);
	unlink(state);
	base_free(state);
	idx_writer_close(w);
	return code;
}
