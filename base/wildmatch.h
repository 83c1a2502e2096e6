/*
 * wildmatch: glob matching with git's semantics (as in gitignore(5) and
 * git's pathspec "glob" magic).
 *
 *   *      any run of characters except '/' (with BASE_WM_PATHNAME)
 *   ?      one character except '/' (with BASE_WM_PATHNAME)
 *   [...]  a bracket expression: ranges, '!'/'^' negation, [:class:]
 *   **     with BASE_WM_PATHNAME, as a whole path component ("** /", "/ **",
 *          "/ ** /"), matches any number of directories
 *   \x     the character x literally
 *
 * Without BASE_WM_PATHNAME, '*', '?' and brackets also match '/', and "**"
 * is plain '*'. A pattern with an unterminated bracket, an unknown
 * [:class:] or a trailing backslash matches nothing. Results equal git's
 * wildmatch() for the same flags, except that BASE_WM_CASEFOLD also folds
 * bracket members and escaped characters (git folds neither). Hopeless
 * backtracking is pruned (as in git, and a little further), so patterns
 * like "*a*a*a*a*b" stay fast. Allocates nothing; thread-safe.
 */
#ifndef LODE_BASE_WILDMATCH_H
#define LODE_BASE_WILDMATCH_H

#include <stdbool.h>
#include <stddef.h>

enum base_wm_flags {
	BASE_WM_PATHNAME = 1 << 0, /* '*' and '?' do not match '/' */
	BASE_WM_CASEFOLD = 1 << 1, /* ASCII case-insensitive */
};

/** Does `text` match `pattern`? Both NUL-terminated. */
bool base_wildmatch(const char *pattern, const char *text, unsigned flags);

#endif /* LODE_BASE_WILDMATCH_H */
