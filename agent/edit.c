/*
 * edit.c: SEARCH/REPLACE blocks — parsing, validation, diffs, atomic
 * application with an undo record, and undo.
 *
 * Validation happens wholly in memory: every block of a reply is checked
 * and applied to an in-memory copy of its file, in order, before any byte
 * is written. A SEARCH text must match exactly once; when it matches
 * nowhere, lines are compared ignoring trailing whitespace, then ignoring
 * indentation (the replacement is re-indented by the difference), and such
 * a match is reported in the notes. The new content must not hold more
 * tree-sitter ERROR/MISSING nodes than the old one.
 *
 * Applying: each file is written to a temp file in its own directory
 * (fsync, the old mode), an undo record is written under .lode/undo/,
 * then the temp files are renamed over the targets. If a rename fails, the
 * files already renamed get their old content back (the same way) and new
 * files are removed, so no file stays changed.
 *
 * Diffs come from `diff -u` (diffutils is Essential in Debian, so always
 * present): a correct, minimal unified diff is more code than lode needs to
 * own, and the dry run is not a hot path.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tree_sitter/api.h>
#include <xxhash.h>

#include "agent/agent.h"
#include "agent/internal.h"
#include "indexer/indexer.h"
#include "indexer/lang.h"
#include "indexer/watch.h"

#include "base/banned.h"

int (*agent__rename_hook)(const char *from, const char *to) = rename;

/* ---- paths ----------------------------------------------------------- */

bool agent__path_ok(const char *rel)
{
	if (!rel || !*rel || rel[0] == '/' || strchr(rel, '\\') || strlen(rel) >= PATH_MAX / 2)
		return false;
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.') ||
		    (n == 4 && memcmp(p, ".git", 4) == 0) || (n == 5 && memcmp(p, ".lode", 5) == 0))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	for (const unsigned char *p = (const unsigned char *)rel; *p; p++)
		if (*p < 0x20)
			return false;
	return true;
}

/* Is root/rel's deepest existing ancestor inside root, and rel itself not a
 * symlink? */
static int path_inside(const char *root, const char *rel, struct base_err *err)
{
	char *full = base_strfmt("%s/%s", root, rel);
	struct stat st;
	int rc = BASE_OK;
	if (lstat(full, &st) == 0 && S_ISLNK(st.st_mode)) {
		rc = base_err_set(err, BASE_E_INVAL, "%s is a symbolic link; lode does not edit through links", rel);
		goto out;
	}
	char *dir = base_strdup(full);
	char real[PATH_MAX];
	for (;;) {
		char *slash = strrchr(dir, '/');
		if (!slash)
			break;
		*slash = '\0';
		if (realpath(*dir ? dir : "/", real))
			break;
	}
	size_t rl = strlen(root);
	if (strncmp(real, root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0'))
		rc = base_err_set(err, BASE_E_INVAL, "%s leads outside the repository (through a symbolic link)", rel);
	base_free(dir);
out:
	base_free(full);
	return rc;
}

int agent__read_repo_file(const char *root, const char *rel, struct base_buf *b, struct base_err *err)
{
	if (!agent__path_ok(rel))
		return base_err_set(err, BASE_E_INVAL, "%s is not a path inside the repository", rel);
	int rc = path_inside(root, rel, err);
	if (rc)
		return rc;
	char *full = base_strfmt("%s/%s", root, rel);
	struct stat st;
	if (stat(full, &st) != 0) {
		int e = errno;
		rc = e == ENOENT || e == ENOTDIR ? base_err_set(err, BASE_E_NOTFOUND, "%s does not exist", rel)
						 : base_err_errno(err, BASE_E_IO, e, "cannot read %s", rel);
	} else if (!S_ISREG(st.st_mode)) {
		rc = base_err_set(err, BASE_E_INVAL, "%s is not a regular file", rel);
	} else {
		rc = base_buf_read_file(b, full, err);
	}
	base_free(full);
	return rc;
}

/* ---- parsing --------------------------------------------------------- */

static bool is_marker(const char *l, size_t n, char c, const char *word)
{
	size_t i = 0;
	while (i < n && l[i] == c)
		i++;
	if (i < 5 || i > 9)
		return false;
	while (i < n && l[i] == ' ')
		i++;
	size_t w = strlen(word);
	if (!word[0])
		return i == n;
	return n - i >= w && memcmp(l + i, word, w) == 0 && (n - i == w || isspace((unsigned char)l[i + w]));
}

static bool is_fence(const char *l, size_t n)
{
	return n >= 3 && (memcmp(l, "```", 3) == 0 || memcmp(l, "~~~", 3) == 0);
}

/* A path from the line before a block: strip markdown decoration. */
static char *clean_path(const char *l, size_t n)
{
	while (n && isspace((unsigned char)*l))
		l++, n--;
	while (n && isspace((unsigned char)l[n - 1]))
		n--;
	while (n && (*l == '#' || *l == '*' || *l == '`' || *l == ' '))
		l++, n--;
	if (n >= 5 && (memcmp(l, "File:", 5) == 0 || memcmp(l, "file:", 5) == 0)) {
		l += 5, n -= 5;
		while (n && *l == ' ')
			l++, n--;
	}
	while (n && (l[n - 1] == '*' || l[n - 1] == '`' || l[n - 1] == ':'))
		n--;
	while (n >= 2 && l[0] == '.' && l[1] == '/')
		l += 2, n -= 2;
	if (n == 0 || memchr(l, ' ', n))
		return NULL;
	return base_strndup(l, n);
}

void agent_edit_blocks_release(struct agent_edit_blocks *b)
{
	for (size_t i = 0; i < b->n; i++) {
		base_free(b->v[i].path);
		base_free(b->v[i].search);
		base_free(b->v[i].replace);
	}
	base_free(b->v);
	memset(b, 0, sizeof(*b));
}

int agent_edit_parse(const char *text, size_t len, struct agent_edit_blocks *out, struct base_err *err)
{
	enum { OUT, SEARCH, REPLACE } state = OUT;
	struct base_buf s = BASE_BUF_INIT(BASE_CAP_FILE), r = BASE_BUF_INIT(BASE_CAP_FILE);
	const char *last = NULL; /* last non-empty, non-fence line outside a block */
	size_t last_n = 0;
	unsigned lineno = 0, start = 0, last_line = 0;
	char *path = NULL;
	int rc = BASE_OK;
	for (size_t pos = 0; pos < len && !rc;) {
		const char *l = text + pos;
		const char *nl = memchr(l, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - l) : len - pos;
		pos += n + (nl ? 1 : 0);
		lineno++;
		size_t tn = n;
		while (tn && (l[tn - 1] == '\r' || l[tn - 1] == ' ' || l[tn - 1] == '\t'))
			tn--;
		size_t cn = n && l[n - 1] == '\r' ? n - 1 : n; /* content without CR */
		bool m_search = is_marker(l, tn, '<', "SEARCH"), m_div = is_marker(l, tn, '=', ""),
		     m_repl = is_marker(l, tn, '>', "REPLACE");
		switch (state) {
		case OUT:
			if (m_search) {
				path = last ? clean_path(last, last_n) : NULL;
				if (!path) {
					rc = base_err_set(err, BASE_E_PARSE,
							  "edit block %zu (line %u): no file path on the line before '<<<<<<< SEARCH'",
							  out->n + 1, lineno);
					break;
				}
				start = last_line;
				state = SEARCH;
				base_buf_reset(&s);
				base_buf_reset(&r);
				last = NULL;
			} else if (m_div || m_repl) {
				rc = base_err_set(err, BASE_E_PARSE, "edit block %zu (line %u): '%.*s' outside a block",
						  out->n + 1, lineno, (int)BASE_MIN(tn, (size_t)20), l);
			} else if (tn > 0 && !is_fence(l, tn)) {
				last = l;
				last_n = tn;
				last_line = lineno;
			}
			break;
		case SEARCH:
			if (m_div) {
				state = REPLACE;
			} else if (m_search || m_repl) {
				rc = base_err_set(err, BASE_E_PARSE,
						  "edit block %zu (line %u, %s): expected '=======' before line %u",
						  out->n + 1, start, path, lineno);
			} else if (base_buf_add(&s, l, cn) || base_buf_addc(&s, '\n')) {
				rc = base_err_set(err, BASE_E_TOOBIG, "edit block %zu: SEARCH text too long", out->n + 1);
			}
			break;
		case REPLACE:
			if (m_repl) {
				struct agent_edit_block blk = { path, base_buf_detach(&s, NULL), base_buf_detach(&r, NULL),
								start };
				base_vec_push(out, blk);
				path = NULL;
				state = OUT;
			} else if (m_search || m_div) {
				rc = base_err_set(err, BASE_E_PARSE,
						  "edit block %zu (line %u, %s): expected '>>>>>>> REPLACE' before line %u",
						  out->n + 1, start, path, lineno);
			} else if (base_buf_add(&r, l, cn) || base_buf_addc(&r, '\n')) {
				rc = base_err_set(err, BASE_E_TOOBIG, "edit block %zu: REPLACE text too long", out->n + 1);
			}
			break;
		}
	}
	if (!rc && state != OUT)
		rc = base_err_set(err, BASE_E_PARSE, "edit block %zu (line %u, %s): the reply ends inside the block",
				  out->n + 1, start, path);
	if (!rc && out->n == 0)
		rc = base_err_set(err, BASE_E_PARSE, "the reply holds no SEARCH/REPLACE block");
	base_free(path);
	base_buf_release(&s);
	base_buf_release(&r);
	return rc;
}

/* ---- validation ------------------------------------------------------ */

void agent_changes_release(struct agent_changes *c)
{
	for (size_t i = 0; i < c->n; i++) {
		base_free(c->v[i].path);
		base_free(c->v[i].old_text);
		base_free(c->v[i].new_text);
	}
	base_free(c->v);
	base_free(c->notes);
	memset(c, 0, sizeof(*c));
}

static size_t count_exact(const char *h, size_t hn, const char *n, size_t nn, size_t *first)
{
	size_t count = 0;
	for (size_t i = 0; nn && i + nn <= hn; i++) {
		const char *p = memchr(h + i, n[0], hn - i - nn + 1);
		if (!p)
			break;
		i = (size_t)(p - h);
		if (memcmp(p, n, nn) == 0) {
			if (count++ == 0)
				*first = i;
		}
	}
	return count;
}

struct line {
	size_t off, len; /* without the newline */
	size_t next;     /* offset of the following line */
};
typedef BASE_VEC(struct line) line_vec;

static void split_lines(const char *t, size_t n, line_vec *v)
{
	for (size_t pos = 0; pos < n;) {
		const char *nl = memchr(t + pos, '\n', n - pos);
		size_t e = nl ? (size_t)(nl - t) : n;
		struct line l = { pos, e - pos, nl ? e + 1 : n };
		if (l.len && t[e - 1] == '\r')
			l.len--;
		base_vec_push(v, l);
		pos = l.next;
	}
}

static void trim(const char **s, size_t *n, bool lead)
{
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
	while (lead && *n && isspace((unsigned char)**s))
		(*s)++, (*n)--;
}

static bool line_eq(const char *a, const struct line *la, const char *b, const struct line *lb, bool lead)
{
	const char *x = a + la->off, *y = b + lb->off;
	size_t xn = la->len, yn = lb->len;
	trim(&x, &xn, lead);
	trim(&y, &yn, lead);
	return xn == yn && memcmp(x, y, xn) == 0;
}

/* Whitespace-tolerant match of search lines in the file; level 1 ignores
 * trailing whitespace, level 2 indentation too. Returns the number of
 * matches and the first one's line index. */
static size_t fuzzy_find(const char *f, const line_vec *fl, const char *s, const line_vec *sl, bool lead,
			 size_t *at)
{
	size_t count = 0;
	if (sl->n == 0)
		return 0;
	for (size_t i = 0; i + sl->n <= fl->n; i++) {
		size_t j = 0;
		while (j < sl->n && line_eq(f, &fl->v[i + j], s, &sl->v[j], lead))
			j++;
		if (j == sl->n && count++ == 0)
			*at = i;
	}
	return count;
}

static size_t indent_of(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* Replace, in `rep`, a leading `from` indentation by `to` on each line. */
static char *reindent(const char *rep, const char *from, size_t fn, const char *to, size_t tn)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_FILE);
	for (const char *p = rep; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		int rc;
		if (n > 1 && n - 1 >= fn && memcmp(p, from, fn) == 0) {
			rc = base_buf_add(&b, to, tn);
			rc = rc ? rc : base_buf_add(&b, p + fn, n - fn);
		} else {
			rc = base_buf_add(&b, p, n);
		}
		if (rc)
			break;
		p += n;
	}
	return base_buf_detach(&b, NULL);
}

static int syntax_errors(const char *path, const char *t, size_t n, unsigned *first_line)
{
	const struct idx_lang *lang = idx_lang_detect(path, t, BASE_MIN(n, (size_t)512));
	if (!lang || !lang->grammar)
		return -1;
	TSParser *p = ts_parser_new();
	if (!ts_parser_set_language(p, lang->grammar())) {
		ts_parser_delete(p);
		return -1;
	}
	TSTree *tree = ts_parser_parse_string(p, NULL, t, (uint32_t)n);
	int count = 0;
	*first_line = 0;
	if (tree && ts_node_has_error(ts_tree_root_node(tree))) {
		TSTreeCursor c = ts_tree_cursor_new(ts_tree_root_node(tree));
		for (;;) {
			TSNode node = ts_tree_cursor_current_node(&c);
			bool bad = ts_node_symbol(node) == (TSSymbol)-1 || ts_node_is_missing(node);
			if (bad) {
				if (count++ == 0)
					*first_line = ts_node_start_point(node).row + 1;
			}
			if (!bad && ts_node_has_error(node) && ts_tree_cursor_goto_first_child(&c))
				continue;
			bool moved = false;
			while (!moved) {
				if (ts_tree_cursor_goto_next_sibling(&c)) {
					moved = true;
				} else if (!ts_tree_cursor_goto_parent(&c)) {
					break;
				}
			}
			if (!moved)
				break;
		}
		ts_tree_cursor_delete(&c);
	}
	ts_tree_delete(tree);
	ts_parser_delete(p);
	return count;
}

static struct agent_file_change *change_for(const char *root, struct agent_changes *c, const char *path,
					    struct base_err *err, int *rc)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].path, path) == 0)
			return &c->v[i];
	struct agent_file_change ch = { 0 };
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_FILE);
	*rc = agent__read_repo_file(root, path, &b, err);
	if (*rc == BASE_E_NOTFOUND) {
		*rc = BASE_OK;
		ch.created = true;
		ch.mode = 0644;
	} else if (*rc) {
		base_buf_release(&b);
		return NULL;
	} else {
		char *full = base_strfmt("%s/%s", root, path);
		struct stat st;
		ch.mode = stat(full, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0644;
		base_free(full);
	}
	ch.path = base_strdup(path);
	ch.old_text = base_buf_detach(&b, &ch.old_len);
	ch.new_text = base_strndup(ch.old_text, ch.old_len);
	ch.new_len = ch.old_len;
	base_vec_push(c, ch);
	return &c->v[c->n - 1];
}

static void note(struct agent_changes *c, const char *fmt, ...) BASE_PRINTF(2, 3);
static void note(struct agent_changes *c, const char *fmt, ...)
{
	struct base_buf b = BASE_BUF_INIT(BASE_CAP_TEXT);
	if (c->notes)
		if (base_buf_adds(&b, c->notes)) {
		}
	va_list ap;
	va_start(ap, fmt);
	if (base_buf_vaddf(&b, fmt, ap)) {
		}
	va_end(ap);
	if (base_buf_addc(&b, '\n')) {
		}
	base_free(c->notes);
	c->notes = base_buf_detach(&b, NULL);
}

static void splice(struct agent_file_change *ch, size_t off, size_t len, const char *rep, size_t rn)
{
	size_t nn = ch->new_len - len + rn;
	char *t = base_malloc(nn + 1);
	memcpy(t, ch->new_text, off);
	memcpy(t + off, rep, rn);
	memcpy(t + off + rn, ch->new_text + off + len, ch->new_len - off - len);
	t[nn] = '\0';
	base_free(ch->new_text);
	ch->new_text = t;
	ch->new_len = nn;
}

static int apply_block(const char *root, struct agent_changes *c, const struct agent_edit_block *b, size_t idx,
		       struct base_err *err)
{
	if (!agent__path_ok(b->path))
		return base_err_set(err, BASE_E_INVAL,
				    "edit block %zu (line %u): path '%s' is outside the repository or inside .git/.lode",
				    idx + 1, b->line, b->path);
	int rc = path_inside(root, b->path, err);
	if (rc)
		return base_err_set(err, rc, "edit block %zu (line %u): %s", idx + 1, b->line, err ? err->msg : "");
	struct agent_file_change *ch = change_for(root, c, b->path, err, &rc);
	if (!ch)
		return base_err_set(err, rc, "edit block %zu (line %u): %s", idx + 1, b->line, err ? err->msg : "");
	size_t sn = strlen(b->search), rn = strlen(b->replace);
	if (sn == 0 || strspn(b->search, " \t\r\n") == sn) {
		if (ch->new_len == 0 || (ch->created && !ch->old_len)) {
			splice(ch, ch->new_len, 0, b->replace, rn); /* new (or empty) file: append */
			return BASE_OK;
		}
		return base_err_set(err, BASE_E_INVAL,
				    "edit block %zu (line %u): empty SEARCH but %s already exists and is not empty",
				    idx + 1, b->line, b->path);
	}
	if (ch->created && ch->new_len == 0)
		return base_err_set(err, BASE_E_NOTFOUND, "edit block %zu (line %u): %s does not exist", idx + 1,
				    b->line, b->path);
	size_t at = 0;
	size_t k = count_exact(ch->new_text, ch->new_len, b->search, sn, &at);
	if (k == 1) {
		splice(ch, at, sn, b->replace, rn);
		return BASE_OK;
	}
	if (k > 1)
		return base_err_set(err, BASE_E_INVAL,
				    "edit block %zu (line %u): SEARCH text matches %zu places in %s; it must match exactly one",
				    idx + 1, b->line, k, b->path);
	line_vec fl = BASE_VEC_INIT, sl = BASE_VEC_INIT;
	split_lines(ch->new_text, ch->new_len, &fl);
	split_lines(b->search, sn, &sl);
	while (sl.n && sl.v[0].len == 0) { /* blank lines at the edges carry no meaning */
		memmove(sl.v, sl.v + 1, (sl.n - 1) * sizeof(*sl.v));
		sl.n--;
	}
	while (sl.n && sl.v[sl.n - 1].len == 0)
		sl.n--;
	rc = BASE_OK;
	for (int lead = 0; lead <= 1; lead++) {
		size_t li = 0, m = fuzzy_find(ch->new_text, &fl, b->search, &sl, lead, &li);
		if (m > 1) {
			rc = base_err_set(err, BASE_E_INVAL,
					  "edit block %zu (line %u): SEARCH text matches %zu places in %s (ignoring whitespace); "
					  "it must match exactly one",
					  idx + 1, b->line, m, b->path);
			break;
		}
		if (m == 0)
			continue;
		size_t off = fl.v[li].off, end = fl.v[li + sl.n - 1].next;
		char *rep = NULL;
		if (lead) {
			/* re-indent by the difference of the first lines' indentation */
			const char *fs = ch->new_text + fl.v[li].off, *ss = b->search + sl.v[0].off;
			size_t fi = indent_of(fs, fl.v[li].len), si = indent_of(ss, sl.v[0].len);
			rep = reindent(b->replace, ss, si, fs, fi);
		} else {
			rep = base_strdup(b->replace);
		}
		size_t repn = strlen(rep);
		/* the file's last line may lack a newline: keep it so */
		if (end == ch->new_len && end > 0 && ch->new_text[end - 1] != '\n' && repn && rep[repn - 1] == '\n')
			repn--;
		splice(ch, off, end - off, rep, repn);
		base_free(rep);
		ch->fuzzy++;
		note(c, "edit block %zu (line %u): SEARCH matched %s at line %zu only when ignoring %s", idx + 1, b->line,
		     b->path, li + 1, lead ? "indentation and trailing whitespace" : "trailing whitespace");
		rc = 1;
		break;
	}
	base_vec_release(&fl);
	base_vec_release(&sl);
	if (rc == 1)
		return BASE_OK;
	if (rc)
		return rc;
	return base_err_set(err, BASE_E_NOTFOUND, "edit block %zu (line %u): SEARCH text not found in %s", idx + 1,
			    b->line, b->path);
}

int agent_edit_validate(const char *root, const struct agent_edit_blocks *b, struct agent_changes *out,
			struct base_err *err)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < b->n; i++) {
		int rc = apply_block(root, out, &b->v[i], i, err);
		if (rc)
			return rc;
	}
	/* drop files the blocks left unchanged, check syntax of the rest */
	size_t keep = 0;
	for (size_t i = 0; i < out->n; i++) {
		struct agent_file_change *ch = &out->v[i];
		if (!ch->created && ch->new_len == ch->old_len && memcmp(ch->new_text, ch->old_text, ch->old_len) == 0) {
			note(out, "%s: the edit changes nothing", ch->path);
			base_free(ch->path);
			base_free(ch->old_text);
			base_free(ch->new_text);
			continue;
		}
		unsigned l0, l1;
		ch->syntax_before = ch->created ? 0 : syntax_errors(ch->path, ch->old_text, ch->old_len, &l0);
		ch->syntax_after = syntax_errors(ch->path, ch->new_text, ch->new_len, &l1);
		if (ch->syntax_after > 0 && ch->syntax_after > ch->syntax_before) {
			int rc = base_err_set(err, BASE_E_PARSE,
					      "the edit of %s breaks its syntax: %d syntax error%s after, %d before (first near line %u)",
					      ch->path, ch->syntax_after, ch->syntax_after == 1 ? "" : "s",
					      BASE_MAX(ch->syntax_before, 0), l1);
			out->v[keep++] = *ch;
			for (size_t j = i + 1; j < out->n; j++)
				out->v[keep++] = out->v[j];
			out->n = keep;
			return rc;
		}
		out->v[keep++] = *ch;
	}
	out->n = keep;
	if (out->n == 0)
		return base_err_set(err, BASE_E_INVAL, "the edit blocks change nothing");
	return BASE_OK;
}

/* ---- subprocesses ---------------------------------------------------- */

int agent__run(const char *const *argv, const char *cmd, const char *cwd, long timeout_ms, struct base_buf *out,
	       int *status, struct base_err *err)
{
	int fds[2];
	if (pipe(fds) != 0)
		return base_err_errno(err, BASE_E_IO, errno, "pipe");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return base_err_errno(err, BASE_E_IO, errno, "fork");
	}
	if (pid == 0) {
		setpgid(0, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		if (cwd && chdir(cwd) != 0)
			_exit(126);
		if (argv)
			execvp(argv[0], (char *const *)argv);
		else
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	close(fds[1]);
	uint64_t t0 = base_now_ns();
	bool timed_out = false;
	char buf[8192];
	for (;;) {
		long left = timeout_ms > 0 ? timeout_ms - (long)((base_now_ns() - t0) / 1000000) : 1000;
		if (timeout_ms > 0 && left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd pf = { fds[0], POLLIN, 0 };
		int pr = poll(&pf, 1, (int)BASE_MIN(left, 1000L));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			continue;
		ssize_t n = read(fds[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		size_t room = out->max > out->len ? out->max - out->len : 0;
		if (base_buf_add(out, buf, BASE_MIN((size_t)n, room))) {
		}
	}
	close(fds[0]);
	if (timed_out)
		kill(-pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	*status = timed_out ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return BASE_OK;
}

static int write_tmp(const char *dir, const char *data, size_t n, unsigned mode, char **tmp_out,
		     struct base_err *err);

char *agent_changes_diff(const char *root, const struct agent_changes *c, struct base_err *err)
{
	(void)root;
	struct base_buf all = BASE_BUF_INIT(BASE_CAP_TEXT);
	for (size_t i = 0; i < c->n; i++) {
		const struct agent_file_change *ch = &c->v[i];
		char *a = NULL, *b = NULL;
		const char *tmpdir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		if (write_tmp(tmpdir, ch->old_text, ch->old_len, 0600, &a, err) ||
		    write_tmp(tmpdir, ch->new_text, ch->new_len, 0600, &b, err)) {
			if (a)
				unlink(a);
			base_free(a);
			base_buf_release(&all);
			return NULL;
		}
		char *la = ch->created ? base_strdup("/dev/null") : base_strfmt("a/%s", ch->path);
		char *lb = base_strfmt("b/%s", ch->path);
		const char *argv[] = { "diff", "-u", "--label", la, "--label", lb, a, b, NULL };
		int st = 0;
		int rc = agent__run(argv, NULL, NULL, 60000, &all, &st, err);
		unlink(a);
		unlink(b);
		base_free(a);
		base_free(b);
		base_free(la);
		base_free(lb);
		if (rc || st > 1) {
			base_buf_release(&all);
			if (!rc)
				base_err_set(err, BASE_E_IO, "diff failed (exit %d)", st);
			return NULL;
		}
	}
	return base_buf_detach(&all, NULL);
}

/* ---- writing --------------------------------------------------------- */

static int write_tmp(const char *dir, const char *data, size_t n, unsigned mode, char **tmp_out,
		     struct base_err *err)
{
	char *tmp = base_strfmt("%s/.lode-edit-XXXXXX", dir);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		int e = errno;
		base_free(tmp);
		*tmp_out = NULL;
		return base_err_errno(err, BASE_E_IO, e, "cannot create a temp file in %s", dir);
	}
	size_t done = 0;
	int e = 0;
	while (done < n) {
		ssize_t w = write(fd, data + done, n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e = w < 0 ? errno : EIO;
			break;
		}
		done += (size_t)w;
	}
	if (!e && fchmod(fd, mode) != 0)
		e = errno;
	if (!e && fsync(fd) != 0)
		e = errno;
	if (close(fd) != 0 && !e)
		e = errno;
	if (e) {
		unlink(tmp);
		base_free(tmp);
		*tmp_out = NULL;
		return base_err_errno(err, BASE_E_IO, e, "cannot write %s", dir);
	}
	*tmp_out = tmp;
	return BASE_OK;
}

static void fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

static char *dir_of(const char *full)
{
	char *d = base_strdup(full);
	char *s = strrchr(d, '/');
	if (s)
		*s = '\0';
	return d;
}

typedef BASE_VEC(char *) str_vec;

static void str_vec_release(str_vec *v)
{
	for (size_t i = 0; i < v->n; i++)
		base_free(v->v[i]);
	base_vec_release(v);
}

/* mkdir -p the parents of root/rel; the directories made go to `made`
 * (deepest last) so a rollback can remove them. */
static int make_parents(const char *root, const char *rel, str_vec *made, struct base_err *err)
{
	for (const char *p = strchr(rel, '/'); p; p = strchr(p + 1, '/')) {
		char *d = base_strfmt("%s/%.*s", root, (int)(p - rel), rel);
		if (mkdir(d, 0755) == 0) {
			base_vec_push(made, d);
		} else if (errno != EEXIST) {
			int e = errno;
			base_free(d);
			return base_err_errno(err, BASE_E_IO, e, "cannot create the directory of %s", rel);
		} else {
			base_free(d);
		}
	}
	return BASE_OK;
}

static uint64_t content_hash(const char *t, size_t n)
{
	return XXH3_64bits(t, n);
}

/* The next undo record number under .lode/undo/. */
static unsigned long next_undo_seq(const char *udir, bool last)
{
	unsigned long best = 0;
	DIR *d = opendir(udir);
	if (!d)
		return last ? 0 : 1;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char *end;
		unsigned long v = strtoul(de->d_name, &end, 10);
		if (*end == '\0' && end != de->d_name && v > best)
			best = v;
	}
	closedir(d);
	return last ? best : best + 1;
}

static int write_file_plain(const char *path, const char *data, size_t n, struct base_err *err)
{
	char *dir = dir_of(path), *tmp = NULL;
	int rc = write_tmp(dir, data, n, 0600, &tmp, err);
	if (!rc && rename(tmp, path) != 0) {
		rc = base_err_errno(err, BASE_E_IO, errno, "cannot write %s", path);
		unlink(tmp);
	}
	base_free(tmp);
	base_free(dir);
	return rc;
}

/* The undo record: <udir>/.tmp-XXXXXX/{manifest.json, N.before}, renamed
 * to <udir>/<seq> once the edit is applied. */
static int undo_prepare(const char *root, const struct agent_changes *c, char **tmpdir_out, struct base_err *err)
{
	char *udir = base_strfmt("%s/.lode/undo", root);
	char *lode = base_strfmt("%s/.lode", root);
	(void)mkdir(lode, 0755);
	(void)mkdir(udir, 0755);
	base_free(lode);
	char *tmpl = base_strfmt("%s/.tmp-XXXXXX", udir);
	base_free(udir);
	if (!mkdtemp(tmpl)) {
		int e = errno;
		base_free(tmpl);
		return base_err_errno(err, BASE_E_IO, e, "cannot create the undo record under %s/.lode/undo", root);
	}
	json_t *files = json_array();
	int rc = BASE_OK;
	for (size_t i = 0; i < c->n && !rc; i++) {
		const struct agent_file_change *ch = &c->v[i];
		json_t *f = json_pack("{sssbsIsIsI}", "path", ch->path, "created", ch->created, "mode",
				      (json_int_t)ch->mode, "after_hash", (json_int_t)content_hash(ch->new_text, ch->new_len),
				      "after_len", (json_int_t)ch->new_len);
		if (!f) {
			rc = base_err_set(err, BASE_E_INVAL, "%s: path is not valid UTF-8", ch->path);
			break;
		}
		json_array_append_new(files, f);
		if (!ch->created) {
			char *blob = base_strfmt("%s/%zu.before", tmpl, i);
			rc = write_file_plain(blob, ch->old_text, ch->old_len, err);
			base_free(blob);
		}
	}
	if (!rc) {
		json_t *m = json_pack("{sIso}", "time", (json_int_t)time(NULL), "files", files);
		char *mpath = base_strfmt("%s/manifest.json", tmpl);
		char *s = json_dumps(m, JSON_INDENT(1));
		rc = write_file_plain(mpath, s, strlen(s), err);
		free(s); /* jansson's */
		base_free(mpath);
		json_decref(m);
	} else {
		json_decref(files);
	}
	if (rc) {
		const char *argv[] = { "rm", "-rf", tmpl, NULL };
		struct base_buf o = BASE_BUF_INIT(4096);
		int st;
		(void)agent__run(argv, NULL, NULL, 60000, &o, &st, NULL);
		base_buf_release(&o);
		base_free(tmpl);
		return rc;
	}
	*tmpdir_out = tmpl;
	return BASE_OK;
}

static void rm_rf(const char *path)
{
	const char *argv[] = { "rm", "-rf", "--", path, NULL };
	struct base_buf o = BASE_BUF_INIT(4096);
	int st;
	(void)agent__run(argv, NULL, NULL, 60000, &o, &st, NULL);
	base_buf_release(&o);
}

/*
 * Write the changes. `deletes`: changes with created && new_len == 0 && a
 * non-NULL old_text are removals (undo of a created file).
 */
static int apply_changes(const char *root, const struct agent_changes *c, bool undo_record, bool removing_created,
			 struct base_err *err)
{
	size_t n = c->n;
	char **tmps = base_calloc(n ? n : 1, sizeof(*tmps));
	str_vec made = BASE_VEC_INIT;
	char *utmp = NULL;
	size_t renamed = 0;
	int rc = BASE_OK;
	/* 1. check nothing changed under us since validation */
	for (size_t i = 0; i < n && !rc; i++) {
		const struct agent_file_change *ch = &c->v[i];
		struct base_buf cur = BASE_BUF_INIT(BASE_CAP_FILE);
		int r = agent__read_repo_file(root, ch->path, &cur, err);
		bool same = ch->created && !removing_created ? r == BASE_E_NOTFOUND
							     : r == BASE_OK && cur.len == ch->old_len &&
								       memcmp(cur.data, ch->old_text, cur.len) == 0;
		if (!same)
			rc = base_err_set(err, BASE_E_BUSY, "%s changed while the edit was prepared; nothing written",
					  ch->path);
		base_buf_release(&cur);
	}
	/* 2. temp files beside their targets */
	for (size_t i = 0; i < n && !rc; i++) {
		const struct agent_file_change *ch = &c->v[i];
		if (removing_created && ch->created)
			continue;
		rc = make_parents(root, ch->path, &made, err);
		if (rc)
			break;
		char *full = base_strfmt("%s/%s", root, ch->path);
		char *dir = dir_of(full);
		rc = write_tmp(dir, ch->new_text, ch->new_len, ch->mode, &tmps[i], err);
		base_free(dir);
		base_free(full);
	}
	/* 3. the undo record */
	if (!rc && undo_record)
		rc = undo_prepare(root, c, &utmp, err);
	/* 4. rename into place */
	for (size_t i = 0; i < n && !rc; i++, renamed++) {
		const struct agent_file_change *ch = &c->v[i];
		char *full = base_strfmt("%s/%s", root, ch->path);
		if (removing_created && ch->created) {
			if (unlink(full) != 0)
				rc = base_err_errno(err, BASE_E_IO, errno, "cannot remove %s", ch->path);
		} else if (agent__rename_hook(tmps[i], full) != 0) {
			rc = base_err_errno(err, BASE_E_IO, errno, "cannot replace %s", ch->path);
		} else {
			base_free(tmps[i]);
			tmps[i] = NULL;
			char *dir = dir_of(full);
			fsync_dir(dir);
			base_free(dir);
		}
		base_free(full);
		if (rc)
			break;
	}
	if (rc) {
		/* roll back the files already replaced */
		for (size_t i = 0; i < renamed; i++) {
			const struct agent_file_change *ch = &c->v[i];
			char *full = base_strfmt("%s/%s", root, ch->path);
			if (ch->created && !removing_created) {
				unlink(full);
			} else {
				char *dir = dir_of(full), *tmp = NULL;
				if (write_tmp(dir, ch->old_text, ch->old_len, ch->mode, &tmp, NULL) == 0 &&
				    rename(tmp, full) != 0)
					unlink(tmp);
				base_free(tmp);
				base_free(dir);
			}
			base_free(full);
		}
		for (size_t i = 0; i < n; i++)
			if (tmps[i])
				unlink(tmps[i]);
		for (size_t i = made.n; i-- > 0;)
			rmdir(made.v[i]);
		if (utmp)
			rm_rf(utmp);
	} else if (utmp) {
		char *udir = base_strfmt("%s/.lode/undo", root);
		char *dst = base_strfmt("%s/%06lu", udir, next_undo_seq(udir, false));
		if (rename(utmp, dst) != 0)
			BASE_LOG(BASE_LOG_WARN, "cannot keep the undo record %s: %s", dst, strerror(errno));
		base_free(dst);
		base_free(udir);
	}
	for (size_t i = 0; i < n; i++)
		base_free(tmps[i]);
	base_free(tmps);
	base_free(utmp);
	str_vec_release(&made);
	return rc;
}

int agent_changes_apply(const char *root, const struct agent_changes *c, struct base_err *err)
{
	return apply_changes(root, c, true, false, err);
}

int agent_undo(const char *root, json_t **out, struct base_err *err)
{
	if (out)
		*out = NULL;
	char *udir = base_strfmt("%s/.lode/undo", root);
	unsigned long seq = next_undo_seq(udir, true);
	if (seq == 0) {
		base_free(udir);
		return base_err_set(err, BASE_E_NOTFOUND, "nothing to undo: no edit applied by lode in %s", root);
	}
	char *rec = base_strfmt("%s/%06lu", udir, seq);
	char *mpath = base_strfmt("%s/manifest.json", rec);
	json_error_t je;
	json_t *m = json_load_file(mpath, 0, &je);
	struct agent_changes c = { 0 };
	int rc = BASE_OK;
	if (!m) {
		rc = base_err_set(err, BASE_E_CORRUPT, "undo record %s: %s", mpath, je.text);
		goto out;
	}
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(m, "files"), i, f)
	{
		const char *path = json_string_value(json_object_get(f, "path"));
		if (!path || !agent__path_ok(path)) {
			rc = base_err_set(err, BASE_E_CORRUPT, "undo record %s: bad path", mpath);
			break;
		}
		struct agent_file_change ch = { 0 };
		ch.path = base_strdup(path);
		ch.created = json_is_true(json_object_get(f, "created"));
		ch.mode = (unsigned)json_integer_value(json_object_get(f, "mode"));
		struct base_buf cur = BASE_BUF_INIT(BASE_CAP_FILE), before = BASE_BUF_INIT(BASE_CAP_FILE);
		int r = agent__read_repo_file(root, path, &cur, err);
		uint64_t want = (uint64_t)json_integer_value(json_object_get(f, "after_hash"));
		if (r || content_hash(cur.data, cur.len) != want ||
		    (json_int_t)cur.len != json_integer_value(json_object_get(f, "after_len"))) {
			rc = base_err_set(err, BASE_E_BUSY,
					  "%s changed since the edit was applied; not undoing (undo record %s)", path, rec);
		} else if (!ch.created) {
			char *blob = base_strfmt("%s/%zu.before", rec, i);
			if (base_buf_read_file(&before, blob, err))
				rc = base_err_set(err, BASE_E_CORRUPT, "undo record %s: missing %s", rec, blob);
			base_free(blob);
		}
		ch.old_text = base_buf_detach(&cur, &ch.old_len);
		ch.new_text = base_buf_detach(&before, &ch.new_len);
		base_vec_push(&c, ch);
		if (rc)
			break;
	}
	if (!rc)
		rc = apply_changes(root, &c, false, true, err);
	if (!rc) {
		if (out) {
			json_t *paths = json_array();
			for (size_t k = 0; k < c.n; k++)
				json_array_append_new(paths, json_pack("{sssb}", "path", c.v[k].path, "removed", c.v[k].created));
			*out = json_pack("{sIso}", "undone", (json_int_t)seq, "files", paths);
		}
		rm_rf(rec);
	}
out:
	json_decref(m);
	agent_changes_release(&c);
	base_free(mpath);
	base_free(rec);
	base_free(udir);
	return rc;
}

int agent_reindex(const char *root, const char *const *paths, size_t n, struct base_err *err)
{
	struct idx_options o = { .root = root };
	struct idx_summary s;
	struct base_err e;
	int rc = idx_index(&o, &s, &e);
	if (rc == BASE_E_BUSY) /* a watcher elsewhere holds the writer lock: read-your-writes through it */
		rc = idx_wait_indexed(root, paths, n, 10000, &e);
	if (rc && err)
		*err = e;
	return rc;
}
