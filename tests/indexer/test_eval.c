/*
 * test_eval.c: `lode eval`'s engine (indexer/eval.h) on a real git
 * repository with a scripted history in a temp dir: which commits are
 * picked, what the scores are, and the messages when it cannot run.
 */
#include <sys/stat.h>

#include "test.h"

#include "indexer/eval.h"
#include "indexer/indexer.h"

#include "base/banned.h"

/* Run a shell script in `dir`; its exit status. */
static int sh(const char *dir, const char *script)
{
	fflush(NULL);
	pid_t pid = fork();
	T_TRUE(pid >= 0);
	if (pid == 0) {
		if (chdir(dir) != 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	int st;
	T_TRUE(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void need_git(void)
{
	if (sh("/", "git --version >/dev/null 2>&1") != 0)
		T_SKIP("git is not installed");
}

/* Helpers every history script starts with: a fixed identity, one commit
 * per second so the log order is the script's order. */
static const char prelude[] =
	"set -e\n"
	"export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t "
	"GIT_COMMITTER_EMAIL=t@example.com GIT_CONFIG_NOSYSTEM=1 HOME=$PWD\n"
	"i=0\n"
	"c() { i=$((i+1)); export GIT_AUTHOR_DATE=\"@$((1700000000+i)) +0000\" "
	"GIT_COMMITTER_DATE=\"@$((1700000000+i)) +0000\"; git add -A; git commit -q -m \"$1\"; }\n"
	"git init -q -b main .\n";

/* ~15 commits: 5 qualify (marked KEEP), the others test one rule each. */
static const char history[] =
	"mkdir -p src tests docs vendor\n"
	"cat > src/parser.py <<'EOF'\n"
	"def parse_header(line):\n    name, _, value = line.partition(':')\n    return name.strip(), value.strip()\n\n"
	"def split_request_line(line):\n    method, target, version = line.split(' ')\n    return method, target, version\n"
	"EOF\n"
	"cat > src/render.py <<'EOF'\n"
	"def frobnicate_widget_cache(widgets, limit):\n    cache = {}\n    for w in widgets[:limit]:\n        cache[w.key] = w\n    return cache\n\n"
	"def draw_outline(canvas, shape):\n    canvas.stroke(shape.points)\n"
	"EOF\n"
	"cat > src/store.py <<'EOF'\n"
	"def compact_store_segments(segments):\n    live = [s for s in segments if not s.stale]\n    return live\n\n"
	"def open_segment_file(path):\n    return open(path, 'rb')\n"
	"EOF\n"
	"cat > src/net.py <<'EOF'\n"
	"import time\n\ndef reconnect_with_backoff(sock, attempts):\n    for n in range(attempts):\n        time.sleep(2 ** n)\n        if sock.connect():\n            return True\n    return False\n"
	"EOF\n"
	"cat > src/util.py <<'EOF'\n"
	"VERSION = '1.0.0'\n\ndef clamp_value(x, lo, hi):\n    return max(lo, min(x, hi))\n"
	"EOF\n"
	"echo 'def test_parse(): pass' > tests/test_parser.py\n"
	"echo '# Guide' > docs/guide.md\n"
	"echo '# Changes' > CHANGELOG.md\n"
	"echo 'def vendored(): pass' > vendor/lib.py\n"
	"c 'Initial import of the parser, renderer, store, network and utilities'\n"
	/* KEEP 1: names a unique function of the touched file */
	"echo '    # guard against a limit larger than the list' >> src/render.py\n"
	"c 'Fix frobnicate_widget_cache overflow when the widget limit exceeds the number of widgets'\n"
	/* tests only */
	"echo 'def test_more(): pass' >> tests/test_parser.py\n"
	"c 'Add more tests for the header parser edge cases found in production'\n"
	/* bump */
	"sed -i 's/1.0.0/1.0.1/' src/util.py\n"
	"c 'Bump version to 1.0.1 for the upcoming maintenance release of everything'\n"
	/* typo */
	"echo '# segment files are append only' >> src/store.py\n"
	"c 'Fix a typo in the comment describing how segment files are written'\n"
	/* short */
	"echo '# x' >> src/store.py\n"
	"c 'fix store'\n"
	/* four source files */
	"for f in parser render store net; do echo '# touched' >> src/$f.py; done\n"
	"c 'Reformat the parser, renderer, store and network modules in one sweep'\n"
	/* adds a source file */
	"echo 'def extra(): pass' > src/extra.py; echo '# uses extra' >> src/net.py\n"
	"c 'Add an extra module that the network layer calls for retries later'\n"
	/* KEEP 2: changelog + source; the changelog does not count */
	"echo '    # reset the attempt counter' >> src/net.py; echo '- reconnect fix' >> CHANGELOG.md\n"
	"c 'Make reconnect_with_backoff reset its attempt counter after a successful connect'\n"
	/* docs only */
	"echo 'More words about the guide and its chapters.' >> docs/guide.md\n"
	"c 'Document the configuration options of the renderer in the user guide'\n"
	/* KEEP 3: source + test */
	"echo '    # drop stale entries first' >> src/store.py; echo 'def test_compact(): pass' > tests/test_store.py\n"
	"c 'Evict stale entries in compact_store_segments before writing the new segment file'\n"
	/* vendored only */
	"echo '# patched' >> vendor/lib.py\n"
	"c 'Patch the vendored library so that it builds with the newer compiler'\n"
	/* trailers do not count as words */
	"echo '# renamed' >> src/util.py\n"
	"c \"$(printf 'Rename clamp helper\\n\\nSigned-off-by: Some Body <sb@example.com>\\nReviewed-by: Other Person <op@example.com>')\"\n"
	/* KEEP 4: on a side branch, merged with a merge commit (not picked) */
	"git checkout -q -b side\n"
	"echo '    # split on any whitespace' >> src/parser.py\n"
	"c 'Let split_request_line accept several spaces between the method and the target'\n"
	"git checkout -q main\n"
	"export GIT_COMMITTER_DATE=\"@1700000100 +0000\" GIT_AUTHOR_DATE=\"@1700000100 +0000\"\n"
	"git merge -q --no-ff side -m 'Merge branch side with the request line parsing changes'\n"
	"i=200\n"
	/* KEEP 5: two source files */
	"echo '    # keep outline width' >> src/render.py; echo '# header names are case-insensitive' >> src/parser.py\n"
	"c 'Normalise header names in parse_header and keep the outline width in draw_outline'\n";

struct repo {
	char dir[64];
};

static void make_repo(struct repo *r, const char *body)
{
	need_git();
	snprintf(r->dir, sizeof(r->dir), "/tmp/lode-test-eval-XXXXXX");
	T_TRUE(mkdtemp(r->dir) != NULL);
	struct base_buf s = BASE_BUF_INIT(BASE_CAP_TEXT);
	T_OK(base_buf_adds(&s, prelude));
	T_OK(base_buf_adds(&s, body));
	int st = sh(r->dir, s.data);
	base_buf_release(&s);
	if (st != 0)
		T_FAIL("history script failed with %d", st);
}

static void repo_remove(struct repo *r)
{
	char *cmd = base_strfmt("rm -rf '%s'", r->dir);
	T_EQ_INT(sh("/", cmd), 0);
	base_free(cmd);
}

static const struct idx_eval_case *find_case(const struct idx_eval_result *res, const char *query_prefix)
{
	for (size_t i = 0; i < res->ncases; i++)
		if (strncmp(res->cases[i].query, query_prefix, strlen(query_prefix)) == 0)
			return &res->cases[i];
	return NULL;
}

static void selection_and_scores(void)
{
	struct repo r;
	make_repo(&r, history);
	enum idx_mode modes[] = { IDX_MODE_LEXICAL, IDX_MODE_HYBRID };
	struct idx_eval_options o = { .repo = r.dir, .modes = modes, .nmodes = 2, .jobs = 2 };
	struct idx_eval_result res = IDX_EVAL_RESULT_INIT;
	struct base_err err;
	int rc = idx_eval_run(&o, &res, &err);
	if (rc)
		T_FAIL("eval: %s", err.msg);
	for (size_t i = 0; i < res.ncases; i++)
		fprintf(stderr, "  case %.8s ranks %d %d %d  %s\n", res.cases[i].commit, res.cases[i].ranks[0],
			res.cases[i].ranks[1], res.cases[i].ranks[2], res.cases[i].query);
	T_EQ_INT(res.ncases, 5);
	T_EQ_INT(res.nsystems, 3);
	T_EQ_STR(res.systems[0], "lexical");
	T_EQ_STR(res.systems[1], "hybrid");
	T_EQ_STR(res.systems[2], "bm25");
	/* newest first; the merge commit itself is not picked, its side commit is */
	T_TRUE(strncmp(res.cases[0].query, "Normalise header names", 22) == 0);
	T_TRUE(strncmp(res.cases[1].query, "Let split_request_line", 22) == 0);
	T_TRUE(strncmp(res.cases[2].query, "Evict stale entries", 19) == 0);
	T_TRUE(strncmp(res.cases[3].query, "Make reconnect_with_backoff", 27) == 0);
	T_TRUE(strncmp(res.cases[4].query, "Fix frobnicate_widget_cache", 27) == 0);
	/* targets: source files only (no tests, no changelog), both of a two-file commit */
	T_EQ_INT(res.cases[0].nfiles, 2);
	T_EQ_STR(res.cases[0].files[0], "src/parser.py");
	T_EQ_STR(res.cases[0].files[1], "src/render.py");
	T_EQ_INT(res.cases[2].nfiles, 1);
	T_EQ_STR(res.cases[2].files[0], "src/store.py");
	T_EQ_INT(res.cases[3].nfiles, 1);
	T_EQ_STR(res.cases[3].files[0], "src/net.py");
	/* a message naming a function unique to the touched file: rank 1 for all */
	const char *unique[] = { "Fix frobnicate_widget_cache", "Make reconnect_with_backoff", "Evict stale entries",
				 "Let split_request_line" };
	for (size_t i = 0; i < BASE_ARRAY_LEN(unique); i++) {
		const struct idx_eval_case *c = find_case(&res, unique[i]);
		T_TRUE(c != NULL);
		for (size_t m = 0; m < res.nsystems; m++)
			if (c->ranks[m] != 1)
				T_FAIL("%s: %s rank %d, want 1", unique[i], res.systems[m], c->ranks[m]);
	}
	/* the summary is the scoring of the per-case ranks */
	for (size_t m = 0; m < res.nsystems; m++) {
		int ranks[5];
		double mrr = 0;
		for (size_t i = 0; i < 5; i++) {
			ranks[i] = res.cases[i].ranks[m];
			mrr += ranks[i] ? 1.0 / ranks[i] : 0;
		}
		struct idx_eval_score s;
		idx_eval_score(ranks, 5, &s);
		T_EQ_INT(res.scores[m].n, 5);
		T_TRUE(res.scores[m].acc1 == s.acc1 && res.scores[m].acc10 == s.acc10);
		T_TRUE(res.scores[m].mrr > mrr / 5 - 1e-12 && res.scores[m].mrr < mrr / 5 + 1e-12);
		T_TRUE(res.scores[m].acc1 >= 0.8); /* 4 of 5 are rank 1 by construction */
	}
	T_TRUE(res.scanned >= 15);
	T_TRUE(res.worktree == NULL);
	idx_eval_result_release(&res);
	/* the worktree is gone and git knows it */
	T_EQ_INT(sh(r.dir, "test \"$(git worktree list | wc -l)\" = 1"), 0);
	T_EQ_INT(sh(r.dir, "test -z \"$(git status --porcelain)\""), 0);

	/* --commits 2 takes the two newest; --keep leaves the worktree at the
	 * oldest picked commit's parent, indexed */
	o.commits = 2;
	o.keep = true;
	o.nmodes = 0;
	T_OK(idx_eval_run(&o, &res, &err));
	T_EQ_INT(res.ncases, 2);
	T_EQ_INT(res.nsystems, 2);
	T_EQ_STR(res.systems[0], "lexical");
	T_TRUE(res.worktree != NULL);
	char *head = idx_git_head(res.worktree);
	T_TRUE(head != NULL);
	T_EQ_STR(head, res.cases[1].parent);
	base_free(head);
	char *db = idx_db_path(res.worktree);
	struct stat st;
	T_EQ_INT(stat(db, &st), 0);
	base_free(db);
	char *rm = base_strfmt("git worktree remove --force '%s' && git worktree prune && rmdir \"$(dirname '%s')\"",
			       res.worktree, res.worktree);
	T_EQ_INT(sh(r.dir, rm), 0);
	base_free(rm);
	idx_eval_result_release(&res);
	repo_remove(&r);
}

static void too_short_or_not_git(void)
{
	struct repo r;
	make_repo(&r, "echo 'def f(): pass' > a.py\nc 'Initial import of the one module there is here'\n"
		      "echo '# x' >> a.py\nc 'Bump version'\n");
	struct idx_eval_options o = { .repo = r.dir };
	struct idx_eval_result res = IDX_EVAL_RESULT_INIT;
	struct base_err err;
	T_EQ_INT(idx_eval_run(&o, &res, &err), BASE_E_NOTFOUND);
	T_TRUE(strstr(err.msg, "history too short") != NULL);
	T_TRUE(strstr(err.msg, "2 looked at") != NULL);
	T_EQ_INT(res.ncases, 0);
	repo_remove(&r);

	char dir[] = "/tmp/lode-test-eval-nogit-XXXXXX";
	T_TRUE(mkdtemp(dir) != NULL);
	o.repo = dir;
	T_EQ_INT(idx_eval_run(&o, &res, &err), BASE_E_NOTFOUND);
	T_TRUE(strstr(err.msg, "git log failed") != NULL);
	rmdir(dir);
}

static void classify_paths(void)
{
	static const struct {
		const char *path;
		enum idx_eval_path_class want;
	} cases[] = {
		{ "src/parser.py", IDX_EVAL_SOURCE },
		{ "lib/express.js", IDX_EVAL_SOURCE },
		{ "crates/core/src/search.rs", IDX_EVAL_SOURCE },
		{ "gson/src/main/java/com/google/gson/Gson.java", IDX_EVAL_SOURCE },
		{ "builtin/commit.c", IDX_EVAL_SOURCE },
		{ "command.go", IDX_EVAL_SOURCE },
		{ "tests/test_parser.py", IDX_EVAL_TEST },
		{ "pkg/test_utils.py", IDX_EVAL_TEST },
		{ "command_test.go", IDX_EVAL_TEST },
		{ "gson/src/test/java/com/google/gson/GsonTest.java", IDX_EVAL_TEST },
		{ "src/app.spec.ts", IDX_EVAL_TEST },
		{ "lib/router.test.js", IDX_EVAL_TEST },
		{ "t/t0001-init.sh", IDX_EVAL_TEST },
		{ "conftest.py", IDX_EVAL_TEST },
		{ "docs/conf.py", IDX_EVAL_DOC },
		{ "examples/demo.go", IDX_EVAL_DOC },
		{ "vendor/github.com/x/y/z.go", IDX_EVAL_VENDORED },
		{ "third_party/zlib/inflate.c", IDX_EVAL_VENDORED },
		{ "api/v1/service.pb.go", IDX_EVAL_GENERATED },
		{ "proto/msg_pb2.py", IDX_EVAL_GENERATED },
		{ "dist/app.min.js", IDX_EVAL_GENERATED },
		{ "CHANGELOG.md", IDX_EVAL_OTHER },
		{ "Changes", IDX_EVAL_OTHER },
		{ "Cargo.lock", IDX_EVAL_OTHER },
		{ "package-lock.json", IDX_EVAL_OTHER },
		{ "README.rst", IDX_EVAL_OTHER },
		{ "setup.cfg", IDX_EVAL_OTHER },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(cases); i++) {
		enum idx_eval_path_class got = idx_eval_classify(cases[i].path);
		if (got != cases[i].want)
			T_FAIL("%s: class %d, want %d", cases[i].path, (int)got, (int)cases[i].want);
	}
}

static void messages(void)
{
	static const struct {
		const char *msg;
		const char *want; /* NULL: rejected */
	} cases[] = {
		{ "Fix overflow in the widget cache when the limit is large\n", "Fix overflow in the widget cache when the limit is large" },
		{ "cache: fix overflow\n\nThe limit was not checked against the\nlength of the list.\n\nSigned-off-by: A <a@b>\nChange-Id: I123\n",
		  "cache: fix overflow The limit was not checked against the length of the list." },
		{ "Merge pull request #12 from x/y\n\nFix the thing in the other thing\n", NULL },
		{ "Bump lodash from 4.17.20 to 4.17.21 in the dependencies\n", NULL },
		{ "Release 2.0.0 with all the features listed in the notes\n", NULL },
		{ "Revert \"Fix overflow in the widget cache when the limit is large\"\n", NULL },
		{ "docs: fix typo in the docstring of the cache module here\n", NULL },
		{ "v1.2.3 is out with a number of fixes and improvements\n", NULL },
		{ "[core] WIP on the cache refactoring of the whole thing\n", NULL },
		{ "Fix cache bug\n", NULL },
		{ "Rename helper\n\nSigned-off-by: Some Body <sb@example.com>\nReviewed-by: O P <op@example.com>\n", NULL },
		{ "Merged ideas: the parser now keeps comments and whitespace intact\n", "Merged ideas: the parser now keeps comments and whitespace intact" },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(cases); i++) {
		char *got = idx_eval_message(cases[i].msg, strlen(cases[i].msg));
		if (!cases[i].want && got)
			T_FAIL("accepted \"%s\" as \"%s\"", cases[i].msg, got);
		if (cases[i].want && (!got || strcmp(got, cases[i].want) != 0))
			T_FAIL("\"%s\": got \"%s\"", cases[i].msg, got ? got : "(rejected)");
		base_free(got);
	}
}

static void scoring(void)
{
	int ranks[] = { 1, 3, 0, 7, 12 };
	struct idx_eval_score s;
	idx_eval_score(ranks, 5, &s);
	T_EQ_INT(s.n, 5);
	T_TRUE(s.acc1 == 0.2 && s.acc5 == 0.4 && s.acc10 == 0.6);
	double mrr = (1.0 + 1.0 / 3 + 1.0 / 7 + 1.0 / 12) / 5;
	T_TRUE(s.mrr > mrr - 1e-12 && s.mrr < mrr + 1e-12);
	idx_eval_score(ranks, 0, &s);
	T_TRUE(s.n == 0 && s.acc1 == 0 && s.mrr == 0);
}

T_MAIN(T_ENTRY(selection_and_scores), T_ENTRY(too_short_or_not_git), T_ENTRY(classify_paths), T_ENTRY(messages),
       T_ENTRY(scoring))
