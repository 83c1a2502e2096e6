/*
 * chunk_util.c: the chunk list and the line splitter shared by the syntax
 * chunker (chunk.c) and the text chunker (chunk_text.c).
 */
#include <string.h>

#include "indexer/chunk.h"

#include "base/banned.h"

void idx_chunks_release(struct idx_chunks *cs)
{
	for (size_t i = 0; i < cs->c.n; i++) {
		base_free(cs->c.v[i].symbol);
		base_free(cs->c.v[i].scope);
	}
	base_vec_release(&cs->c);
	for (size_t i = 0; i < cs->names.n; i++)
		base_free(cs->names.v[i].name);
	base_vec_release(&cs->names);
}

void idx_chunks_add(struct idx_chunks *cs, uint32_t start, uint32_t end, const char *kind, const char *symbol,
		    const char *scope)
{
	struct idx_chunk c = { 0 };
	c.start_byte = start;
	c.end_byte = end;
	c.kind = kind;
	c.symbol = symbol && *symbol ? base_strdup(symbol) : NULL;
	c.scope = scope && *scope ? base_strdup(scope) : NULL;
	base_vec_push(&cs->c, c);
}

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

size_t idx__nonws(const char *data, size_t start, size_t end)
{
	size_t n = 0;
	for (size_t i = start; i < end; i++)
		n += !is_space((unsigned char)data[i]);
	return n;
}

void idx__split_lines(struct idx_chunks *cs, const char *data, size_t start, size_t end, unsigned max_size,
		      const char *kind, const char *symbol, const char *scope)
{
	size_t piece = start, size = 0, i = start;
	if (max_size == 0)
		max_size = IDX_DEFAULT_MAX_CHUNK;
	while (i < end) {
		/* one line: [i, eol) including its '\n' */
		const char *nl = memchr(data + i, '\n', end - i);
		size_t eol = nl ? (size_t)(nl - data) + 1 : end;
		size_t line = idx__nonws(data, i, eol);
		if (size > 0 && size + line > max_size) {
			idx_chunks_add(cs, (uint32_t)piece, (uint32_t)i, kind, symbol, scope);
			piece = i;
			size = 0;
		}
		if (line > max_size) {
			/* a single over-long line: cut it every max_size non-space bytes */
			size_t j = i, cnt = 0;
			for (; j < eol; j++) {
				cnt += !is_space((unsigned char)data[j]);
				if (cnt > max_size) {
					/* cut before j, but never inside a UTF-8 sequence */
					size_t cut = j;
					while (cut > piece + 1 && ((unsigned char)data[cut] & 0xC0) == 0x80)
						cut--;
					idx_chunks_add(cs, (uint32_t)piece, (uint32_t)cut, kind, symbol, scope);
					piece = cut;
					cnt = idx__nonws(data, cut, j + 1);
				}
			}
			size = cnt;
		} else {
			size += line;
		}
		i = eol;
	}
	if (piece < end)
		idx_chunks_add(cs, (uint32_t)piece, (uint32_t)end, kind, symbol, scope);
}
