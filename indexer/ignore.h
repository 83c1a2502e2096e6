/*
 * ignore.h (indexer-private): gitignore rules with git's exact semantics.
 *
 * Sources, highest precedence first (the first source with a matching
 * pattern decides; inside one source the last matching line wins):
 *
 *   1. per-directory files, deepest directory first; in each directory
 *      .lodeignore beats .gitignore (its lines act as if appended to it)
 *   2. $GIT_DIR/info/exclude (when the root is a git checkout)
 *   3. core.excludesFile: asked of git when the root is a git checkout and
 *      git runs; otherwise, or when unset, $XDG_CONFIG_HOME/git/ignore or
 *      $HOME/.config/git/ignore
 *
 * Pattern syntax is gitignore(5): '#' comments, "\#" and "\!" escapes,
 * unescaped trailing spaces dropped, CRLF lines, a UTF-8 BOM skipped,
 * '!' negation, a leading or middle '/' anchors the pattern to the
 * directory of its file, a trailing '/' matches directories only, and
 * base_wildmatch globbing. As in git, nothing inside an ignored directory
 * can be re-included: the walk never enters it.
 *
 * Usage (the walk): idx_ignore_new once per walk; idx_ignore_push on
 * entering a directory (after checking that the directory itself is not
 * ignored), idx_ignore_pop on leaving it; idx_ignore_match for each entry.
 * Per-entry matching allocates nothing.
 *
 * Limitations: core.ignoreCase is not honoured (matching is case
 * sensitive, as git on Linux by default); .gitignore files of directories
 * above the root are not read; tracked files are not special (lode does
 * not read .git/index), so a tracked but ignored file is skipped.
 *
 * Not thread-safe: one struct idx_ignore per thread.
 */
#ifndef LODE_INDEXER_IGNORE_H
#define LODE_INDEXER_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/base.h"

struct idx_ignore;

/**
 * Load the global sources (info/exclude, core.excludesFile) for the tree
 * at `root`. May run `git config` once. Missing or unreadable global files
 * are not an error. Returns NULL only on allocation failure of input-sized
 * data (with err set). Free with idx_ignore_free.
 */
struct idx_ignore *idx_ignore_new(const char *root, struct base_err *err);

/** Free everything; NULL is a no-op. */
void idx_ignore_free(struct idx_ignore *ig);

/* Which per-directory files to look for in idx_ignore_push. */
enum idx_ignore_push_flags {
	IDX_IGNORE_GITIGNORE = 1 << 0,
	IDX_IGNORE_LODEIGNORE = 1 << 1,
	IDX_IGNORE_BOTH = IDX_IGNORE_GITIGNORE | IDX_IGNORE_LODEIGNORE,
};

/**
 * Enter directory `dir` (relative to the root, '/'-separated, no trailing
 * slash; "" for the root), which must be a child of the directory on top
 * of the stack (or the root, for an empty stack). Reads the files named
 * by `which` from `dirfd` (an open descriptor of that directory), or from
 * root/dir when `dirfd` is negative. Symbolic links are not followed for
 * these files (as git does). Missing or unreadable files count as empty.
 * Returns BASE_OK, or BASE_E_NOMEM / BASE_E_TOOBIG for absurd files
 * (the level is then pushed empty, so push/pop stay balanced).
 */
int idx_ignore_push(struct idx_ignore *ig, int dirfd, const char *dir, size_t dir_len, unsigned which);

/** Leave the directory on top of the stack. */
void idx_ignore_pop(struct idx_ignore *ig);

/** Number of directories on the stack. */
size_t idx_ignore_depth(const struct idx_ignore *ig);

/**
 * Is `path` ignored? `path` is relative to the root, has `len` bytes and
 * a NUL at path[len]; its parent directory must be the top of the stack
 * (entries of the directory being walked). `is_dir` selects whether
 * directory-only patterns ("build/") apply.
 */
bool idx_ignore_match(const struct idx_ignore *ig, const char *path, size_t len, bool is_dir);

/**
 * Is `path` ignored, considering every directory above it? For callers
 * that look at single paths (the watcher): adjusts the stack to the
 * parent of `path` (popping and pushing as needed, reading per-directory
 * files by path), and reports an entry under an ignored directory as
 * ignored. `path` as for idx_ignore_match. Call idx_ignore_reset after a
 * .gitignore/.lodeignore changed on disk.
 */
bool idx_ignore_check(struct idx_ignore *ig, const char *path, size_t len, bool is_dir);

/** Pop every directory (forget cached per-directory files). */
void idx_ignore_reset(struct idx_ignore *ig);

#endif /* LODE_INDEXER_IGNORE_H */
