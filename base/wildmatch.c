/*
 * wildmatch.c: glob matching with git's semantics.
 *
 * The matcher walks pattern and text together and recurses only at '*'.
 * Two "abort" results prune the search the way git's matcher does, which
 * keeps patterns such as "*a*a*a*a*b" linear-ish instead of exponential:
 *
 *   WM_ABORT_ALL        the text ran out while the pattern still needs
 *                       characters: no later start position for any
 *                       enclosing '*' can do better, since they only
 *                       shorten the text further.
 *   WM_ABORT_TO_STARSTAR a '*' that cannot cross '/' reached a '/': the
 *                       enclosing single '*'s cannot help either (they
 *                       cannot cross it), but an enclosing '**' can.
 *
 * Beyond git: when the literal that follows a '*' does not occur in the
 * rest of the text, the result is WM_ABORT_ALL rather than a plain
 * mismatch. Sound because the pattern between two stars consumes a fixed
 * number of bytes, so moving an enclosing star forward only moves this
 * star's text forward; it turns "*a*a*a...*c" on "aaaa...b" from
 * exponential into quadratic time. Results never differ from git's.
 *
 * Known, deliberate difference from git: with BASE_WM_CASEFOLD, git folds
 * the text but neither literal members of a bracket expression nor escaped
 * characters, so "[A]" and "\A" never match anything; here both sides are
 * always folded ("[A]" and "\A" match "a" and "A"). Ignore matching is
 * case-sensitive, so gitignore parity is unaffected. Without CASEFOLD the
 * results equal git's (checked differentially on millions of random
 * pattern/text pairs during development).
 */
#include "base/wildmatch.h"

#include <string.h>

#include "base/banned.h"

enum {
	WM_MATCH = 0,
	WM_NOMATCH = 1,
	WM_ABORT_ALL = -1,
	WM_ABORT_TO_STARSTAR = -2,
};

typedef unsigned char uchar;

static inline uchar lower(uchar c)
{
	return c >= 'A' && c <= 'Z' ? (uchar)(c + ('a' - 'A')) : c;
}

static inline uchar upper(uchar c)
{
	return c >= 'a' && c <= 'z' ? (uchar)(c - ('a' - 'A')) : c;
}

static inline uchar fold(uchar c, unsigned flags)
{
	return (flags & BASE_WM_CASEFOLD) ? lower(c) : c;
}

static inline int is_glob_special(uchar c)
{
	return c == '*' || c == '?' || c == '[' || c == '\\';
}

/* ASCII-only character classes; bytes >= 0x80 belong to none. */
static int class_match(const uchar *name, size_t len, uchar c, unsigned flags, int *known)
{
	int ci = (flags & BASE_WM_CASEFOLD) != 0;
	int is_up = c >= 'A' && c <= 'Z', is_lo = c >= 'a' && c <= 'z';
	int is_dig = c >= '0' && c <= '9';
	int is_print = c >= 0x20 && c < 0x7f;
	int is_alpha = is_up || is_lo;
	*known = 1;
#define CLASS(s) (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)
	if (CLASS("alnum"))
		return is_alpha || is_dig;
	if (CLASS("alpha"))
		return is_alpha;
	if (CLASS("blank"))
		return c == ' ' || c == '\t';
	if (CLASS("cntrl"))
		return c < 0x20 || c == 0x7f;
	if (CLASS("digit"))
		return is_dig;
	if (CLASS("graph"))
		return is_print && c != ' ';
	if (CLASS("lower"))
		return is_lo || (ci && is_up);
	if (CLASS("print"))
		return is_print;
	if (CLASS("punct"))
		return is_print && c != ' ' && !is_alpha && !is_dig;
	if (CLASS("space"))
		return c == ' ' || (c >= '\t' && c <= '\r');
	if (CLASS("upper"))
		return is_up || (ci && is_lo);
	if (CLASS("xdigit"))
		return is_dig || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
#undef CLASS
	*known = 0;
	return 0;
}

static inline int in_range(uchar c, uchar lo, uchar hi)
{
	return c >= lo && c <= hi;
}

/*
 * Match one text byte `t` against the bracket expression at *pp (pointing
 * at '['). On return *pp points at the closing ']'. Returns 1 (member),
 * 0 (not a member) or WM_ABORT_ALL (unterminated or unknown [:class:]:
 * such a pattern matches nothing).
 *
 * The first member may be ']' ("[]a]"); '-' between two members is a
 * range unless it is first or last; a range end or a class cannot start
 * another range ("[a-c-e]" is a-c, '-', 'e').
 */
static int bracket(const uchar **pp, uchar t, unsigned flags)
{
	const uchar *p = *pp + 1;
	int negated = 0, hit = 0;
	uchar prev = 0, c;
	if (*p == '!' || *p == '^') {
		negated = 1;
		p++;
	}
	c = *p;
	do {
		if (!c)
			return WM_ABORT_ALL;
		if (c == '\\') {
			c = *++p;
			if (!c)
				return WM_ABORT_ALL;
			if (fold(t, flags) == fold(c, flags))
				hit = 1;
		} else if (c == '-' && prev && p[1] && p[1] != ']') {
			uchar hi = *++p;
			if (hi == '\\') {
				hi = *++p;
				if (!hi)
					return WM_ABORT_ALL;
			}
			if (in_range(t, prev, hi))
				hit = 1;
			else if ((flags & BASE_WM_CASEFOLD) &&
				 (in_range(lower(t), prev, hi) || in_range(upper(t), prev, hi)))
				hit = 1;
			c = 0; /* a range end cannot begin a range */
		} else if (c == '[' && p[1] == ':') {
			const uchar *name = p + 2, *q = name;
			while (*q && *q != ']')
				q++;
			if (!*q)
				return WM_ABORT_ALL;
			if (q == name || q[-1] != ':') {
				/* no ":]": the '[' is an ordinary member */
				if (t == '[')
					hit = 1;
			} else {
				int known;
				if (class_match(name, (size_t)(q - 1 - name), t, flags, &known))
					hit = 1;
				if (!known)
					return WM_ABORT_ALL;
				p = q;
				c = 0;
			}
		} else if (fold(t, flags) == fold(c, flags)) {
			hit = 1;
		}
		prev = c;
		c = *++p;
	} while (c != ']');
	*pp = p;
	return hit != negated;
}

static int dowild(const uchar *p, const uchar *t, const uchar *start, unsigned flags);

/*
 * The pattern at p starts with '*'. `start` is the beginning of the whole
 * pattern: "**" is special only as a whole path component.
 */
static int star(const uchar *p, const uchar *t, const uchar *start, unsigned flags)
{
	int pathname = (flags & BASE_WM_PATHNAME) != 0;
	int cross; /* may this star match '/'? */
	const uchar *q = p + 1;
	if (*q == '*') {
		while (*q == '*')
			q++;
		if (!pathname) {
			cross = 1;
		} else if ((p == start || p[-1] == '/') &&
			   (*q == '\0' || *q == '/' || (q[0] == '\\' && q[1] == '/'))) {
			/* "**" + "/" may stand for no directory at all */
			if (*q == '/' && dowild(q + 1, t, start, flags) == WM_MATCH)
				return WM_MATCH;
			cross = 1;
		} else {
			cross = 0; /* "**" inside a component acts as "*" */
		}
	} else {
		cross = !pathname;
	}
	p = q;
	if (*p == '\0') {
		if (!cross && strchr((const char *)t, '/'))
			return WM_NOMATCH;
		return WM_MATCH;
	}
	if (!cross && *p == '/') {
		/* "*" then "/": the star spans exactly to the next slash */
		const uchar *slash = (const uchar *)strchr((const char *)t, '/');
		if (!slash)
			return WM_NOMATCH;
		return dowild(p + 1, slash + 1, start, flags);
	}
	for (;;) {
		uchar tc = *t;
		int r;
		if (tc == '\0')
			return WM_ABORT_ALL;
		if (!is_glob_special(*p)) {
			/* the rest starts with a literal: jump to its next occurrence */
			uchar want = fold(*p, flags);
			while ((tc = *t) != '\0' && (cross || tc != '/')) {
				if (fold(tc, flags) == want)
					break;
				t++;
			}
			if (tc == '\0')
				return WM_ABORT_ALL; /* see below */
			if (fold(tc, flags) != want)
				return WM_NOMATCH;
		}
		r = dowild(p, t, start, flags);
		if (r != WM_NOMATCH) {
			if (!cross || r != WM_ABORT_TO_STARSTAR)
				return r;
		} else if (!cross && tc == '/') {
			return WM_ABORT_TO_STARSTAR;
		}
		t++;
	}
}

static int dowild(const uchar *p, const uchar *t, const uchar *start, unsigned flags)
{
	for (; *p; p++, t++) {
		uchar pc = *p, tc = *t;
		int r;
		if (tc == '\0' && pc != '*')
			return WM_ABORT_ALL;
		switch (pc) {
		case '*':
			return star(p, t, start, flags);
		case '?':
			if ((flags & BASE_WM_PATHNAME) && tc == '/')
				return WM_NOMATCH;
			break;
		case '[':
			r = bracket(&p, tc, flags);
			if (r < 0)
				return r;
			if (!r || ((flags & BASE_WM_PATHNAME) && tc == '/'))
				return WM_NOMATCH;
			break;
		case '\\':
			/* a trailing backslash matches nothing: tc is never NUL here */
			pc = *++p;
			if (pc == '\0' || fold(tc, flags) != fold(pc, flags))
				return WM_NOMATCH;
			break;
		default:
			if (fold(tc, flags) != fold(pc, flags))
				return WM_NOMATCH;
			break;
		}
	}
	return *t ? WM_NOMATCH : WM_MATCH;
}

bool base_wildmatch(const char *pattern, const char *text, unsigned flags)
{
	const uchar *p = (const uchar *)pattern;
	return dowild(p, (const uchar *)text, p, flags) == WM_MATCH;
}
