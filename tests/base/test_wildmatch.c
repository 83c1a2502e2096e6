/*
 * test_wildmatch.c: base_wildmatch against git's semantics, table-driven.
 *
 * Each row gives a text, a pattern and the expected result with
 * BASE_WM_PATHNAME ("wm", how gitignore pathname patterns match) and
 * without it ("pm", how basename patterns match). Cases follow the
 * behaviour of git's wildmatch (the t3070 suite's corner cases: bracket
 * edge cases, escapes, "**" in every position, abort pruning).
 */
#include "test.h"

#include "base/wildmatch.h"

#include "base/banned.h"

struct wm_row {
	const char *text;
	const char *pattern;
	int wm; /* expected with BASE_WM_PATHNAME */
	int pm; /* expected without */
};

static const struct wm_row rows[] = {
	/* basics */
	{ "foo", "foo", 1, 1 },
	{ "foo", "bar", 0, 0 },
	{ "", "", 1, 1 },
	{ "foo", "", 0, 0 },
	{ "", "*", 1, 1 },
	{ "", "?", 0, 0 },
	{ "foo", "???", 1, 1 },
	{ "foo", "??", 0, 0 },
	{ "foo", "*", 1, 1 },
	{ "foo", "f*", 1, 1 },
	{ "foo", "*f", 0, 0 },
	{ "foo", "*foo*", 1, 1 },
	{ "foobar", "*ob*a*r*", 1, 1 },
	{ "aaaaaaabababab", "*ab", 1, 1 },
	{ "aaabbb", "b*a", 0, 0 },
	{ "aabcaa", "*ba*", 0, 0 },
	{ "abcXdefXghi", "*X*i", 1, 1 },
	/* escapes */
	{ "foo*", "foo\\*", 1, 1 },
	{ "foobar", "foo\\*bar", 0, 0 },
	{ "f\\oo", "f\\\\oo", 1, 1 },
	{ "?a?b", "\\??\\?b", 1, 1 },
	{ "abc", "\\a\\b\\c", 1, 1 },
	{ "", "\\", 0, 0 },
	{ "\\", "\\", 0, 0 }, /* a trailing backslash matches nothing */
	{ "XXX/\\", "*/\\", 0, 0 },
	{ "XXX/\\", "*/\\\\", 1, 1 },
	{ "#x", "\\#x", 1, 1 },
	{ "!x", "\\!x", 1, 1 },
	{ "a b ", "a b\\ ", 1, 1 },
	/* bracket expressions */
	{ "ball", "*[al]?", 1, 1 },
	{ "ten", "[ten]", 0, 0 },
	{ "ten", "**[!te]", 1, 1 },
	{ "ten", "**[!ten]", 0, 0 },
	{ "ten", "t[a-g]n", 1, 1 },
	{ "ten", "t[!a-g]n", 0, 0 },
	{ "ton", "t[!a-g]n", 1, 1 },
	{ "ton", "t[^a-g]n", 1, 1 },
	{ "a]b", "a[]]b", 1, 1 },
	{ "a-b", "a[]-]b", 1, 1 },
	{ "a]b", "a[]-]b", 1, 1 },
	{ "aab", "a[]-]b", 0, 0 },
	{ "aab", "a[]a-]b", 1, 1 },
	{ "]", "]", 1, 1 },
	{ "acrt", "a[c-c]st", 0, 0 },
	{ "acrt", "a[c-c]rt", 1, 1 },
	{ "]", "[!]-]", 0, 0 },
	{ "a", "[!]-]", 1, 1 },
	{ "[ab]", "\\[ab]", 1, 1 },
	{ "[ab]", "[[]ab]", 1, 1 },
	{ "[ab]", "[[:]ab]", 1, 1 },
	{ "[ab]", "[[::]ab]", 0, 0 }, /* empty class name: malformed */
	{ "[ab]", "[[:digit]ab]", 1, 1 },
	{ "[ab]", "[\\[:]ab]", 1, 1 },
	{ "]", "[\\\\-^]", 1, 1 },
	{ "[", "[\\\\-^]", 0, 0 },
	{ "-", "[\\-_]", 1, 1 },
	{ "]", "[\\]]", 1, 1 },
	{ "\\]", "[\\]]", 0, 0 },
	{ "\\", "[\\]]", 0, 0 },
	{ "ab", "a[]b", 0, 0 }, /* unterminated */
	{ "a[]b", "a[]b", 0, 0 },
	{ "ab[", "ab[", 0, 0 },
	{ "ab", "[!", 0, 0 },
	{ "ab", "[-", 0, 0 },
	{ "-", "[-]", 1, 1 },
	{ "-", "[a-", 0, 0 },
	{ "-", "[!a-", 0, 0 },
	{ "-", "[--A]", 1, 1 },
	{ "5", "[--A]", 1, 1 },
	{ " ", "[ --]", 1, 1 },
	{ "$", "[ --]", 1, 1 },
	{ "-", "[ --]", 1, 1 },
	{ "0", "[ --]", 0, 0 },
	{ "-", "[---]", 1, 1 },
	{ "-", "[------]", 1, 1 },
	{ "j", "[a-e-n]", 0, 0 }, /* a range end cannot start a range */
	{ "-", "[a-e-n]", 1, 1 },
	{ "a", "[!------]", 1, 1 },
	{ "[", "[]-a]", 0, 0 },
	{ "^", "[]-a]", 1, 1 },
	{ "^", "[!]-a]", 0, 0 },
	{ "[", "[!]-a]", 1, 1 },
	{ "^", "[a^bc]", 1, 1 },
	{ "-b]", "[a-]b]", 1, 1 },
	{ "\\", "[\\]", 0, 0 },
	{ "\\", "[\\\\]", 1, 1 },
	{ "\\", "[!\\\\]", 0, 0 },
	{ "G", "[A-\\\\]", 1, 1 },
	{ ",", "[,]", 1, 1 },
	{ ",", "[\\\\,]", 1, 1 },
	{ "\\", "[\\\\,]", 1, 1 },
	{ "-", "[,-.]", 1, 1 },
	{ "+", "[,-.]", 0, 0 },
	{ "-.]", "[,-.]", 0, 0 },
	{ "2", "[\\1-\\3]", 1, 1 },
	{ "3", "[\\1-\\3]", 1, 1 },
	{ "4", "[\\1-\\3]", 0, 0 },
	{ "\\", "[[-\\]]", 1, 1 },
	{ "[", "[[-\\]]", 1, 1 },
	{ "]", "[[-\\]]", 1, 1 },
	{ "-", "[[-\\]]", 0, 0 },
	/* character classes */
	{ "a1B", "[[:alpha:]][[:digit:]][[:upper:]]", 1, 1 },
	{ "a", "[[:digit:][:upper:][:space:]]", 0, 0 },
	{ "A", "[[:digit:][:upper:][:space:]]", 1, 1 },
	{ "1", "[[:digit:][:upper:][:space:]]", 1, 1 },
	{ "1", "[[:digit:][:upper:][:spaci:]]", 0, 0 }, /* unknown class */
	{ " ", "[[:digit:][:upper:][:space:]]", 1, 1 },
	{ ".", "[[:digit:][:upper:][:space:]]", 0, 0 },
	{ ".", "[[:digit:][:punct:][:space:]]", 1, 1 },
	{ "5", "[[:xdigit:]]", 1, 1 },
	{ "f", "[[:xdigit:]]", 1, 1 },
	{ "D", "[[:xdigit:]]", 1, 1 },
	{ "_", "[[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:graph:][:lower:][:print:][:punct:][:space:][:upper:][:xdigit:]]", 1, 1 },
	{ ".", "[^[:alnum:][:alpha:][:blank:][:cntrl:][:digit:][:lower:][:space:][:upper:][:xdigit:]]", 1, 1 },
	{ "5", "[a-c[:digit:]x-z]", 1, 1 },
	{ "b", "[a-c[:digit:]x-z]", 1, 1 },
	{ "y", "[a-c[:digit:]x-z]", 1, 1 },
	{ "q", "[a-c[:digit:]x-z]", 0, 0 },
	{ "\xc3\xa9", "[[:alpha:]]?", 0, 0 }, /* classes are ASCII-only */
	{ "\xc3\xa9", "??", 1, 1 },          /* '?' is one byte */
	/* '/' with and without BASE_WM_PATHNAME */
	{ "foo/baz/bar", "foo*bar", 0, 1 },
	{ "foo/baz/bar", "foo**bar", 0, 1 },
	{ "foobazbar", "foo**bar", 1, 1 },
	{ "foo/bar", "foo?bar", 0, 1 },
	{ "foo/bar", "foo[/]bar", 0, 1 },
	{ "foo/bar", "foo[^a-z]bar", 0, 1 },
	{ "foo/bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r", 0, 1 },
	{ "foo-bar", "f[^eiu][^eiu][^eiu][^eiu][^eiu]r", 1, 1 },
	{ "bar/baz/foo", "*/foo", 0, 1 },
	{ "x/y/z", "*", 0, 1 },
	{ "abc/d", "abc*", 0, 1 },
	/* "**" as a whole component */
	{ "foo/baz/bar", "foo/**/bar", 1, 1 },
	{ "foo/baz/bar", "foo/**/**/bar", 1, 0 },
	{ "foo/b/a/z/bar", "foo/**/bar", 1, 1 },
	{ "foo/b/a/z/bar", "foo/**/**/bar", 1, 1 },
	{ "foo/bar", "foo/**/bar", 1, 0 },
	{ "foo/bar", "foo/**/**/bar", 1, 0 },
	{ "foo", "**/foo", 1, 0 },
	{ "XXX/foo", "**/foo", 1, 1 },
	{ "bar/baz/foo", "**/foo", 1, 1 },
	{ "xfoo", "**/foo", 0, 0 },
	{ "foo/bar/baz", "**/bar*", 0, 1 },
	{ "deep/foo/bar/baz", "**/bar/*", 1, 1 },
	{ "deep/foo/bar/baz/", "**/bar/*", 0, 1 },
	{ "deep/foo/bar/baz/", "**/bar/**", 1, 1 },
	{ "deep/foo/bar", "**/bar/*", 0, 0 },
	{ "deep/foo/bar/", "**/bar/**", 1, 1 },
	{ "foo/bar/baz", "**/bar**", 0, 1 },
	{ "foo/bar/baz/x", "*/bar/**", 1, 1 },
	{ "deep/foo/bar/baz/x", "*/bar/**", 0, 1 },
	{ "deep/foo/bar/baz/x", "**/bar/*/*", 1, 1 },
	{ "foo/bar/baz/to", "**/t[o]", 1, 1 },
	{ "a/b", "a/**", 1, 1 },
	{ "a/b/c", "a/**", 1, 1 },
	{ "a", "a/**", 0, 0 },
	{ "a/", "a/**", 1, 1 },
	{ "x/y/z", "**", 1, 1 },
	{ "", "**", 1, 1 },
	{ "ab/cd", "a**d", 0, 1 },       /* "**" inside a component is "*" */
	{ "a/b", "a**/b", 1, 1 },
	{ "a/x/b", "a**/b", 0, 1 },
	{ "x/a/b", "**a/b", 0, 1 },
	{ "a/b", "**\\/b", 1, 1 },       /* "**" + escaped slash: a component ... */
	{ "b", "**\\/b", 0, 0 },         /* ... but without the zero-directory case */
	{ "b", "**/b", 1, 0 },
	{ "a/b/c", "a/**/c/**", 0, 0 },
	{ "a/b/c/d", "a/**/c/**", 1, 1 },
	{ "a/c/", "a/**/c/**", 1, 0 },
	{ "a/b", "***/b", 1, 1 },        /* three stars: still a component */
	/* abort pruning must not change results */
	{ "-adobe-courier-bold-o-normal--12-120-75-75-m-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*", 1, 1 },
	{ "-adobe-courier-bold-o-normal--12-120-75-75-X-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*", 0, 0 },
	{ "-adobe-courier-bold-o-normal--12-120-75-75-/-70-iso8859-1", "-*-*-*-*-*-*-12-*-*-*-m-*-*-*", 0, 0 },
	{ "XXX/adobe/courier/bold/o/normal//12/120/75/75/m/70/iso8859/1", "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", 1, 1 },
	{ "XXX/adobe/courier/bold/o/normal//12/120/75/75/X/70/iso8859/1", "XXX/*/*/*/*/*/*/12/*/*/*/m/*/*/*", 0, 0 },
	{ "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txt", "**/*a*b*g*n*t", 1, 1 },
	{ "abcd/abcdefg/abcdefghijk/abcdefghijklmnop.txtz", "**/*a*b*g*n*t", 0, 0 },
	{ "foo", "*/*/*", 0, 0 },
	{ "foo/bar", "*/*/*", 0, 0 },
	{ "foo/bba/arr", "*/*/*", 1, 1 },
	{ "foo/bb/aa/rr", "*/*/*", 0, 1 },
	{ "foo/bb/aa/rr", "**/**/**", 1, 1 },
	{ "ab/cXd/efXg/hi", "*X*i", 0, 1 },
	{ "ab/cXd/efXg/hi", "*/*X*/*/*i", 1, 1 },
	{ "ab/cXd/efXg/hi", "**/*X*/**/*i", 1, 1 },
	{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*c", 0, 0 },
};

static void table(void)
{
	int bad = 0;
	for (size_t i = 0; i < BASE_ARRAY_LEN(rows); i++) {
		const struct wm_row *r = &rows[i];
		int wm = base_wildmatch(r->pattern, r->text, BASE_WM_PATHNAME);
		int pm = base_wildmatch(r->pattern, r->text, 0);
		if (wm != r->wm || pm != r->pm) {
			fprintf(stderr, "  row %zu: pattern \"%s\" text \"%s\": pathname %d (want %d), plain %d (want %d)\n",
				i, r->pattern, r->text, wm, r->wm, pm, r->pm);
			bad++;
		}
	}
	T_EQ_INT(bad, 0);
	T_TRUE(BASE_ARRAY_LEN(rows) >= 60);
}

struct wm_case_row {
	const char *text;
	const char *pattern;
	int want; /* with BASE_WM_PATHNAME | BASE_WM_CASEFOLD */
};

static const struct wm_case_row case_rows[] = {
	{ "FOO", "foo", 1 },
	{ "foo", "F?O", 1 },
	{ "Foo/Bar", "foo/*", 1 },
	{ "a", "[[:upper:]]", 1 },
	{ "A", "[[:lower:]]", 1 },
	{ "a", "[A-Z]", 1 },
	{ "A", "[a-z]", 1 },
	{ "a", "[B-Za]", 1 },
	{ "A", "[B-Za]", 1 },
	{ "A", "[B-a]", 1 },
	{ "z", "[Z-y]", 1 },
	{ "Z", "[Z-y]", 1 },
	{ "a", "[A]", 1 }, /* git: 0 (literal bracket members are not folded); see wildmatch.c */
	{ "1", "[[:upper:]]", 0 },
	{ "\xc3\x89", "\xc3\xa9", 0 }, /* ASCII folding only */
	{ "X/Y", "x*y", 0 },
};

static void casefold(void)
{
	int bad = 0;
	for (size_t i = 0; i < BASE_ARRAY_LEN(case_rows); i++) {
		const struct wm_case_row *r = &case_rows[i];
		int got = base_wildmatch(r->pattern, r->text, BASE_WM_PATHNAME | BASE_WM_CASEFOLD);
		if (got != r->want) {
			fprintf(stderr, "  casefold row %zu: pattern \"%s\" text \"%s\": %d (want %d)\n", i,
				r->pattern, r->text, got, r->want);
			bad++;
		}
	}
	T_EQ_INT(bad, 0);
	/* without the flag, case matters */
	T_TRUE(!base_wildmatch("foo", "FOO", BASE_WM_PATHNAME));
	T_TRUE(!base_wildmatch("[a-z]", "A", 0));
}

/* Patterns built to be exponential without pruning finish quickly. */
static void pathological(void)
{
	char text[4096], pat[512];
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	size_t n = 0;
	for (int i = 0; i < 60; i++) {
		pat[n++] = '*';
		pat[n++] = 'a';
	}
	pat[n++] = 'b';
	pat[n] = '\0';
	uint64_t t0 = base_now_ns();
	T_TRUE(!base_wildmatch(pat, text, 0));
	T_TRUE(!base_wildmatch(pat, text, BASE_WM_PATHNAME));
	uint64_t ms = (base_now_ns() - t0) / 1000000;
	if (ms > 2000)
		T_FAIL("pathological pattern took %llu ms", (unsigned long long)ms);
}

T_MAIN(T_ENTRY(table), T_ENTRY(casefold), T_ENTRY(pathological))
