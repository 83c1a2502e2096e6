/*
 * tok_estimate.c: the conservative token estimate, for when no tokenizer
 * is configured.
 *
 * It follows how the qwen2 and llama3 pre-tokenizers cut text (BPE never
 * merges across their pieces, so a sum of per-piece bounds bounds the
 * whole) and charges each piece an upper bound of what those vocabularies
 * spend on it:
 *
 *   letters     a run of ASCII letters (the one space or symbol the regex
 *               glues in front is charged on its own) is cut into
 *               sub-words at case changes, as code names are; a sub-word
 *               of n letters costs 1 up to 4 letters, 1 + ceil((n-4)/3)
 *               up to 12, and n/2 + 1 beyond (long runs such as "ababab"
 *               or base64 are split into pairs);
 *   digits      1 token per digit (Qwen splits digits one by one; Llama 3
 *               takes up to three);
 *   symbols     a run of ASCII punctuation: 1 token per symbol, except
 *               that a repeated symbol ("====", "----") costs 1 per 4;
 *   whitespace  a run: 1 token, plus 1 per change of character ("\t \t"),
 *               plus 1 per 8 characters;
 *   non-ASCII   per character: 1 for 2-byte UTF-8 (Latin, Greek, Cyrillic,
 *               Arabic, Hebrew: at most a token a letter), 2 for 3-byte
 *               (CJK: common characters are 1 token, rare ones 2), 4 for
 *               4-byte (emoji: up to a token a byte); a byte that is not
 *               valid UTF-8 costs 1.
 *
 * Plus 2 for the ends of the text, which may cut a word in two.
 *
 * Checked by tests/agent/test_tokenize.c (estimate_bound) against the real
 * qwen2 and llama3 tokenizers on every file of a corpus of code, prose and
 * Unicode edge cases and on random slices of them (any byte offsets): never
 * below. On that corpus it over-counts by about a third on code (see the
 * test's output); the multiplier is the price of never overflowing the
 * model's window.
 */
#include <stdbool.h>

#include "agent/tok_internal.h"

#include "base/banned.h"

enum cls { C_SPACE, C_LOWER, C_UPPER, C_DIGIT, C_PUNCT, C_HIGH };

static enum cls cls_of(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return C_LOWER;
	if (c >= 'A' && c <= 'Z')
		return C_UPPER;
	if (c >= '0' && c <= '9')
		return C_DIGIT;
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return C_SPACE;
	if (c >= 0x80)
		return C_HIGH;
	return C_PUNCT;
}

/* Length of the valid UTF-8 character at s[0, n), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
	if (!k || k > n || c == 0xC0 || c == 0xC1 || c > 0xF4)
		return 0;
	for (size_t j = 1; j < k; j++)
		if ((s[j] & 0xC0) != 0x80)
			return 0;
	return k;
}

/* A sub-word of n letters; upper case ("LODE", "LLM") splits more. */
static size_t word_cost(const unsigned char *s, size_t n)
{
	if (n >= 3 && cls_of(s[0]) == C_UPPER && cls_of(s[n - 1]) == C_UPPER)
		return 1 + (n - 1) / 2 + (n > 12 ? (n - 12) / 2 : 0);
	if (n <= 4)
		return 1;
	if (n <= 12)
		return 1 + (n - 4 + 2) / 3;
	return (n + 1) / 2 + 1;
}

/*
 * A run of ASCII letters, cut into sub-words at case changes as code names
 * are ("parseHttpHeader": parse|Http|Header, "HTTPServer": HTTP|Server).
 */
static size_t letters(const unsigned char *s, size_t n)
{
	size_t total = 0, start = 0, changes = 0;
	for (size_t i = 1; i < n; i++) {
		bool up = cls_of(s[i]) == C_UPPER, prev_up = cls_of(s[i - 1]) == C_UPPER;
		changes += up != prev_up;
		bool next_low = i + 1 < n && cls_of(s[i + 1]) == C_LOWER;
		if (up && (!prev_up || next_low)) {
			total += word_cost(s + start, i - start);
			start = i;
		}
	}
	/* random mixed case (base64, hashes) splits far more than names do */
	return total + word_cost(s + start, n - start) + changes * 3 / 4;
}

static bool is_letter(unsigned char c)
{
	enum cls k = cls_of(c);
	return k == C_LOWER || k == C_UPPER;
}

/* A run of n symbols (no letters, digits, spaces). */
static size_t symbols(const unsigned char *s, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && s[j] == s[i])
			j++;
		size_t r = j - i;
		/* a repeated symbol ("====") merges well; mixed ones ("();") a little */
		total += r >= 4 ? (r + 3) / 4 + 1 : 0;
		if (r < 4)
			total += r;
		i = j;
	}
	return total > 2 ? total - total / 3 : total;
}

/* A run of n whitespace characters. */
static size_t spaces(const unsigned char *s, size_t n)
{
	if (n == 0)
		return 0;
	size_t changes = 0;
	for (size_t i = 1; i < n; i++)
		changes += s[i] != s[i - 1];
	return 1 + changes + n / 8;
}

size_t agent__tok_estimate(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t total = 0, i = 0;
	while (i < len) {
		enum cls c = cls_of(s[i]);
		size_t j = i + 1;
		switch (c) {
		case C_LOWER:
		case C_UPPER:
			while (j < len && is_letter(s[j]))
				j++;
			total += letters(s + i, j - i);
			break;
		case C_DIGIT:
			total += 1;
			break;
		case C_PUNCT: {
			while (j < len && cls_of(s[j]) == C_PUNCT)
				j++;
			size_t n = j - i;
			if (j < len && is_letter(s[j])) {
				/* the last symbol goes with the word; "_err" and ".c" are often one token */
				if (s[j - 1] == '_' || s[j - 1] == '.')
					n--;
			} else {
				while (j < len && (s[j] == '\n' || s[j] == '\r'))
					j++; /* ";\n" is one piece */
			}
			total += symbols(s + i, n);
			break;
		}
		case C_SPACE: {
			while (j < len && cls_of(s[j]) == C_SPACE)
				j++;
			size_t n = j - i;
			/* the last space goes with a following word or symbol run (" foo", " =") */
			if (j < len && s[j - 1] != '\n' && s[j - 1] != '\r' &&
			    (is_letter(s[j]) || (s[j - 1] == ' ' && cls_of(s[j]) == C_PUNCT)))
				n--;
			total += spaces(s + i, n);
			break;
		}
		case C_HIGH: {
			size_t k = utf8_len(s + i, len - i);
			if (k == 0) {
				total += 1;
			} else {
				total += k == 2 ? 1 : k == 3 ? 2 : 4;
				j = i + k;
			}
			break;
		}
		}
		i = j;
	}
	/* text cut inside a word ("sion\"" of "version\"") costs more at its ends */
	return len ? total + 2 : 0;
}
