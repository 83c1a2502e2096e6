/*
 * words.c: cutting code text into identifier words and their parts.
 */
#include "base/base.h"

#include "base/banned.h"

bool base_word_next(const char *s, size_t len, size_t *pos, struct base_span *word)
{
	size_t i = *pos;
	while (i < len && !base_is_word_byte((unsigned char)s[i]))
		i++;
	if (i >= len) {
		*pos = len;
		return false;
	}
	size_t start = i;
	while (i < len && base_is_word_byte((unsigned char)s[i]))
		i++;
	word->off = (uint32_t)start;
	word->len = (uint32_t)(i - start);
	*pos = i;
	return true;
}

enum cclass { C_SEP, C_LOWER, C_UPPER, C_DIGIT, C_OTHER };

static enum cclass cls(unsigned char c)
{
	if (c >= 'a' && c <= 'z')
		return C_LOWER;
	if (c >= 'A' && c <= 'Z')
		return C_UPPER;
	if (c >= '0' && c <= '9')
		return C_DIGIT;
	if (c == '_')
		return C_SEP;
	return C_OTHER; /* non-ASCII: treated like a lower-case letter run */
}

size_t base_word_parts(const char *w, size_t len, struct base_span *parts, size_t max)
{
	size_t n = 0, i = 0;
	while (i < len) {
		while (i < len && cls((unsigned char)w[i]) == C_SEP)
			i++;
		if (i >= len)
			break;
		size_t start = i;
		enum cclass first = cls((unsigned char)w[i]);
		i++;
		if (first == C_DIGIT) {
			while (i < len && cls((unsigned char)w[i]) == C_DIGIT)
				i++;
		} else if (first == C_UPPER) {
			if (i < len && cls((unsigned char)w[i]) == C_UPPER) {
				/* An upper-case run; its last capital starts the next
				 * word when a lower-case letter follows (HTTPServer). */
				while (i < len && cls((unsigned char)w[i]) == C_UPPER)
					i++;
				if (i < len && (cls((unsigned char)w[i]) == C_LOWER || cls((unsigned char)w[i]) == C_OTHER) &&
				    i - start > 1)
					i--;
			} else {
				while (i < len && (cls((unsigned char)w[i]) == C_LOWER || cls((unsigned char)w[i]) == C_OTHER))
					i++;
			}
		} else {
			while (i < len && (cls((unsigned char)w[i]) == C_LOWER || cls((unsigned char)w[i]) == C_OTHER))
				i++;
		}
		if (n < max) {
			parts[n].off = (uint32_t)start;
			parts[n].len = (uint32_t)(i - start);
		}
		n++;
	}
	return n;
}

void base_ascii_lower(const char *s, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	}
}
