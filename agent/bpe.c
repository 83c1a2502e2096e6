/*
 * bpe.c: byte-level BPE (bpe.h).
 *
 * Tables: token bytes live in one arena, indexed by id; a hash table maps
 * bytes to the id of a vocabulary token; another maps a pair of ids to its
 * merge rank and result; a third maps the exact strings of added tokens to
 * their ids. All are filled by the loader and read-only afterwards.
 *
 * A piece is merged with a binary heap of candidate pairs ordered by
 * (rank, position) over a linked list of symbols, so a piece of n bytes
 * costs O(n log n) (a 100 KB run of letters is no problem). Stale heap
 * entries are recognised by the ids they recorded.
 *
 * The pre-tokenizer patterns are those of the Hugging Face tokenizer.json
 * files and llama.cpp, with two deliberate spellings:
 *   - "(?i:'s|'t|...)" is spelled with ASCII classes ('[sS]'): case-less
 *     matching in PCRE2 with UCP would also take U+017F for 's';
 *   - "\s" is spelled as the Unicode White_Space set (what Hugging Face's
 *     Rust tokenizers (Oniguruma) and llama.cpp use): PCRE2's \s differs
 *     on U+0085 and U+180E. Transformers.js (JavaScript's \s) differs from
 *     all of these on U+0085 and U+FEFF only.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>
#include <xxhash.h>

#include "agent/bpe.h"

#include "base/banned.h"

/* Unicode White_Space, as a character-class body. */
#define WS "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
#define CONTRACTIONS "'(?:[sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD])"

#define GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+"
/* CJK ideographs, Hangul and more, as DeepSeek's tokenizers spell them */
#define DEEPSEEK_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

/*
 * Each family's regexes, in order: each one splits every piece the one
 * before made, and what it does not match stays a piece (a Sequence of
 * Isolated Splits, as tokenizer.json and llama.cpp have it). A Digits
 * pre-tokenizer is "\p{N}" (individual digits) or "\p{N}+".
 */
static const char *const pre_patterns[BPE_PRE_CUSTOM][BPE_MAX_SPLITS] = {
	[BPE_PRE_GPT2] = { GPT2 },
	[BPE_PRE_LLAMA3] = { CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS
			     "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+" },
	[BPE_PRE_QWEN2] = { CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS
			    "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+" },
	[BPE_PRE_STARCODER] = { "\\p{N}", GPT2 },
	[BPE_PRE_FALCON] = { "[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]" },
	[BPE_PRE_DEEPSEEK_CODER] = { "[\\r\\n]", "[" WS "]?\\p{L}+", "[" WS "]?\\p{P}+", DEEPSEEK_CJK, "\\p{N}" },
	/* the letters are DeepSeek's list of cased letters, not \p{L&}: Unicode has grown since */
	[BPE_PRE_DEEPSEEK_LLM] = {
		"[\\r\\n]",
		"[" WS "]?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
		"\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}"
		"\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"
		"\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}"
		"\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"
		"\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}"
		"\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"
		"\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"
		"\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"
		"\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"
		"\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
		"\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"
		"\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}"
		"\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
		"[" WS "]?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
		"[" WS "]+$",
		DEEPSEEK_CJK,
		"\\p{N}+",
	},
};

/* The Split regexes as tokenizer.json files spell them. */
static const char hf_llama3[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
				"?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char hf_qwen2[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
			       "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char bpe_gpt2_regex[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const char *bpe_pre_name(enum bpe_pre pre)
{
	switch (pre) {
	case BPE_PRE_GPT2:
		return "gpt2";
	case BPE_PRE_LLAMA3:
		return "llama3";
	case BPE_PRE_QWEN2:
		return "qwen2";
	case BPE_PRE_STARCODER:
		return "starcoder";
	case BPE_PRE_FALCON:
		return "falcon";
	case BPE_PRE_DEEPSEEK_CODER:
		return "deepseek-coder";
	case BPE_PRE_DEEPSEEK_LLM:
		return "deepseek-llm";
	case BPE_PRE_CUSTOM:
		break;
	}
	return "custom";
}

enum bpe_pre bpe_pre_from_regex(const char *regex)
{
	if (strcmp(regex, hf_qwen2) == 0)
		return BPE_PRE_QWEN2;
	if (strcmp(regex, hf_llama3) == 0)
		return BPE_PRE_LLAMA3;
	if (strcmp(regex, bpe_gpt2_regex) == 0)
		return BPE_PRE_GPT2;
	return BPE_PRE_CUSTOM;
}

bool bpe_pre_from_gguf(const char *pre, enum bpe_pre *out)
{
	static const struct {
		const char *name;
		enum bpe_pre pre;
	} names[] = {
		{ "qwen2", BPE_PRE_QWEN2 },
		{ "deepseek-r1-qwen", BPE_PRE_QWEN2 },
		{ "llama3", BPE_PRE_LLAMA3 },
		{ "llama-bpe", BPE_PRE_LLAMA3 },
		{ "gpt2", BPE_PRE_GPT2 },
		{ "gpt-2", BPE_PRE_GPT2 },
		{ "default", BPE_PRE_GPT2 },
		{ "mpt", BPE_PRE_GPT2 },
		{ "olmo", BPE_PRE_GPT2 },
		{ "starcoder", BPE_PRE_STARCODER },
		{ "refact", BPE_PRE_STARCODER },
		{ "smollm", BPE_PRE_STARCODER },
		{ "codeshell", BPE_PRE_STARCODER },
		{ "falcon", BPE_PRE_FALCON },
		{ "deepseek-coder", BPE_PRE_DEEPSEEK_CODER },
		{ "deepseek-llm", BPE_PRE_DEEPSEEK_LLM },
	};
	for (size_t i = 0; i < BASE_ARRAY_LEN(names); i++) {
		if (strcmp(pre, names[i].name) == 0) {
			*out = names[i].pre;
			return true;
		}
	}
	return false;
}

/* ---- byte-level alphabet ----------------------------------------------- */

/*
 * GPT-2's bytes_to_unicode: printable bytes stand for themselves, the
 * other 68 take the code points 256.. in byte order. cp_byte inverts it.
 */
static int16_t cp_byte[324];

static void bytes_alphabet_init(void)
{
	int n = 0;
	for (int i = 0; i < 324; i++)
		cp_byte[i] = -1;
	for (int c = 0; c < 256; c++) {
		bool printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174);
		if (printable)
			cp_byte[c] = (int16_t)c;
		else
			cp_byte[256 + n++] = (int16_t)c;
	}
}

/* Byte-level string -> raw bytes into out (at most len bytes). */
static bool bytes_decode(const char *s, size_t len, char *out, size_t *outlen)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < len;) {
		unsigned cp;
		if (p[i] < 0x80) {
			cp = p[i++];
		} else if ((p[i] & 0xE0) == 0xC0 && i + 1 < len) {
			cp = (unsigned)(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F);
			i += 2;
		} else {
			return false; /* the alphabet ends at U+0143 */
		}
		if (cp >= 324 || cp_byte[cp] < 0)
			return false;
		out[o++] = (char)cp_byte[cp];
	}
	*outlen = o;
	return true;
}

/* ---- tables -------------------------------------------------------------- */

struct bpe_tok {
	uint32_t off, len; /* in the arena; len 0: no such id */
};

struct bpe_merge {
	uint64_t key; /* left id << 32 | right id; 0 marks an empty slot (key+1 stored) */
	int32_t rank;
	int32_t id;
};

struct bpe_special {
	uint32_t off, len;
	int32_t id;
};

#define CACHE_SLOTS 8192 /* a power of two */
#define CACHE_LOCKS 64
#define CACHE_BYTES 22
#define CACHE_IDS 8

struct cache_ent {
	uint64_t hash;
	uint8_t len, n; /* len 0: empty */
	char bytes[CACHE_BYTES];
	int32_t ids[CACHE_IDS];
};

struct bpe {
	enum bpe_pre pre;
	unsigned flags;
	pcre2_code *re[BPE_MAX_SPLITS]; /* applied in sequence */
	size_t nre;

	struct bpe_tok *tok; /* by id */
	size_t ntok;
	char *arena;
	size_t arena_len, arena_cap;

	int32_t *vslot; /* vocabulary hash: token ids, -1 empty */
	size_t vmask, vcount;

	struct bpe_merge *mslot;
	size_t mmask, mcount;
	int32_t nrank;

	struct bpe_special *sp; /* added tokens */
	size_t nsp, capsp;
	int32_t *sslot; /* hash of sp indexes, -1 empty */
	size_t smask;
	bool sp_first[256];
	uint32_t sp_lens[64]; /* distinct lengths, longest first */
	size_t nsp_lens;

	int32_t byte_id[256];

	/*
	 * Piece cache: direct-mapped, keyed by the piece's bytes (up to
	 * CACHE_BYTES), guarded by striped mutexes so that encoding stays
	 * thread-safe. Code repeats its words; the cache spares their merges.
	 */
	struct cache_ent *cache;
	pthread_mutex_t locks[CACHE_LOCKS];
};

static uint64_t hash_bytes(const char *s, size_t len)
{
	return XXH3_64bits(s, len);
}

static uint64_t hash_pair(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return key;
}

static const char *tok_bytes(const struct bpe *b, int32_t id)
{
	return b->arena + b->tok[id].off;
}

static int32_t vocab_find(const struct bpe *b, const char *s, size_t len)
{
	if (!b->vslot)
		return -1;
	for (size_t i = hash_bytes(s, len) & b->vmask;; i = (i + 1) & b->vmask) {
		int32_t id = b->vslot[i];
		if (id < 0)
			return -1;
		if (b->tok[id].len == len && memcmp(tok_bytes(b, id), s, len) == 0)
			return id;
	}
}

static void vocab_insert(int32_t *slot, size_t mask, const struct bpe *b, int32_t id)
{
	size_t i = hash_bytes(tok_bytes(b, id), b->tok[id].len) & mask;
	while (slot[i] >= 0)
		i = (i + 1) & mask;
	slot[i] = id;
}

static int vocab_grow(struct bpe *b)
{
	size_t cap = b->vslot ? (b->vmask + 1) * 2 : 1024;
	int32_t *slot = base_trymalloc(cap * sizeof(*slot));
	if (!slot)
		return BASE_E_NOMEM;
	memset(slot, 0xff, cap * sizeof(*slot));
	if (b->vslot) {
		for (size_t i = 0; i <= b->vmask; i++)
			if (b->vslot[i] >= 0)
				vocab_insert(slot, cap - 1, b, b->vslot[i]);
	}
	base_free(b->vslot);
	b->vslot = slot;
	b->vmask = cap - 1;
	return BASE_OK;
}

static const struct bpe_merge *merge_find(const struct bpe *b, int32_t l, int32_t r)
{
	if (!b->mslot)
		return NULL;
	uint64_t key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
	for (size_t i = hash_pair(key) & b->mmask;; i = (i + 1) & b->mmask) {
		if (b->mslot[i].key == key)
			return &b->mslot[i];
		if (b->mslot[i].key == 0)
			return NULL;
	}
}

static int merge_grow(struct bpe *b)
{
	size_t cap = b->mslot ? (b->mmask + 1) * 2 : 1024;
	struct bpe_merge *slot = base_trymalloc(cap * sizeof(*slot));
	if (!slot)
		return BASE_E_NOMEM;
	memset(slot, 0, cap * sizeof(*slot));
	if (b->mslot) {
		for (size_t i = 0; i <= b->mmask; i++) {
			if (!b->mslot[i].key)
				continue;
			size_t j = hash_pair(b->mslot[i].key) & (cap - 1);
			while (slot[j].key)
				j = (j + 1) & (cap - 1);
			slot[j] = b->mslot[i];
		}
	}
	base_free(b->mslot);
	b->mslot = slot;
	b->mmask = cap - 1;
	return BASE_OK;
}

static int32_t special_find(const struct bpe *b, const char *s, size_t len)
{
	if (!b->sslot)
		return -1;
	for (size_t i = hash_bytes(s, len) & b->smask;; i = (i + 1) & b->smask) {
		int32_t k = b->sslot[i];
		if (k < 0)
			return -1;
		if (b->sp[k].len == len && memcmp(b->arena + b->sp[k].off, s, len) == 0)
			return k;
	}
}

/* ---- building ------------------------------------------------------------ */

struct bpe *bpe_new(enum bpe_pre pre, const char *const *regex, size_t n_regex, unsigned flags,
		    struct base_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, bytes_alphabet_init);
	const char *const *pat = pre == BPE_PRE_CUSTOM ? regex : pre_patterns[pre];
	size_t n = pre == BPE_PRE_CUSTOM ? n_regex : 0;
	if (pre != BPE_PRE_CUSTOM)
		while (n < BPE_MAX_SPLITS && pat[n])
			n++;
	if (n == 0 || n > BPE_MAX_SPLITS) {
		base_err_set(err, BASE_E_INVAL, "tokenizer: %zu pre-tokenizer regexes (1 to %d)", n, BPE_MAX_SPLITS);
		return NULL;
	}
	struct bpe *b = base_calloc(1, sizeof(*b));
	for (; b->nre < n; b->nre++) {
		/* a known family's regex, in a sequence, as that family spells it (\s as White_Space) */
		enum bpe_pre known = pre == BPE_PRE_CUSTOM ? bpe_pre_from_regex(pat[b->nre]) : BPE_PRE_CUSTOM;
		const char *p = known == BPE_PRE_CUSTOM ? pat[b->nre] : pre_patterns[known][0];
		int ecode;
		PCRE2_SIZE eoff;
		pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED,
					       PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &ecode, &eoff, NULL);
		if (!re) {
			PCRE2_UCHAR msg[160];
			pcre2_get_error_message(ecode, msg, sizeof(msg));
			base_err_set(err, BASE_E_PARSE, "tokenizer: pre-tokenizer regex %zu at offset %zu: %s", b->nre + 1,
				     (size_t)eoff, (const char *)msg);
			for (size_t i = 0; i < b->nre; i++)
				pcre2_code_free(b->re[i]);
			base_free(b);
			return NULL;
		}
		/* JIT is an optimisation: without it (say, no executable memory), match interpreted. */
		(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
		b->re[b->nre] = re;
	}
	b->pre = pre;
	b->flags = flags;
	for (int i = 0; i < 256; i++)
		b->byte_id[i] = -1;
	b->cache = base_calloc(CACHE_SLOTS, sizeof(*b->cache));
	for (int i = 0; i < CACHE_LOCKS; i++)
		pthread_mutex_init(&b->locks[i], NULL);
	return b;
}

void bpe_free(struct bpe *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->nre; i++)
		pcre2_code_free(b->re[i]);
	for (int i = 0; i < CACHE_LOCKS; i++)
		pthread_mutex_destroy(&b->locks[i]);
	base_free(b->cache);
	base_free(b->tok);
	base_free(b->arena);
	base_free(b->vslot);
	base_free(b->mslot);
	base_free(b->sp);
	base_free(b->sslot);
	base_free(b);
}

/* Append bytes to the arena; *off gets their offset. */
static int arena_add(struct bpe *b, const char *s, size_t len, uint32_t *off)
{
	if (b->arena_len + len > UINT32_MAX)
		return BASE_E_TOOBIG;
	if (b->arena_len + len > b->arena_cap) {
		size_t cap = BASE_MAX(b->arena_cap * 2, b->arena_len + len + 4096);
		char *a = base_tryrealloc(b->arena, cap);
		if (!a)
			return BASE_E_NOMEM;
		b->arena = a;
		b->arena_cap = cap;
	}
	memcpy(b->arena + b->arena_len, s, len);
	*off = (uint32_t)b->arena_len;
	b->arena_len += len;
	return BASE_OK;
}

static int tok_slot(struct bpe *b, int32_t id, struct base_err *err)
{
	if (id < 0 || id >= (1 << 24))
		return base_err_set(err, BASE_E_PARSE, "tokenizer: token id %d out of range", (int)id);
	if ((size_t)id >= b->ntok) {
		size_t n = BASE_MAX((size_t)id + 1, b->ntok * 2);
		struct bpe_tok *t = base_tryrealloc(b->tok, n * sizeof(*t));
		if (!t)
			return base_err_set(err, BASE_E_NOMEM, "tokenizer: out of memory");
		memset(t + b->ntok, 0, (n - b->ntok) * sizeof(*t));
		b->tok = t;
		b->ntok = n;
	}
	return BASE_OK;
}

int bpe_add_token(struct bpe *b, int32_t id, const char *s, size_t len, struct base_err *err)
{
	int rc = tok_slot(b, id, err);
	if (rc)
		return rc;
	char stackbuf[256];
	char *raw = len <= sizeof(stackbuf) ? stackbuf : base_trymalloc(len);
	if (!raw)
		return base_err_set(err, BASE_E_NOMEM, "tokenizer: out of memory");
	size_t rawlen = 0;
	bool ok = len > 0 && bytes_decode(s, len, raw, &rawlen);
	if (ok && vocab_find(b, raw, rawlen) < 0 && b->tok[id].len == 0) {
		rc = arena_add(b, raw, rawlen, &b->tok[id].off);
		if (!rc) {
			b->tok[id].len = (uint32_t)rawlen;
			if ((b->vcount + 1) * 2 > (b->vslot ? b->vmask + 1 : 0))
				rc = vocab_grow(b);
			if (!rc) {
				vocab_insert(b->vslot, b->vmask, b, id);
				b->vcount++;
				if (rawlen == 1)
					b->byte_id[(unsigned char)raw[0]] = id;
			}
		}
	}
	/* A string outside the byte alphabet (not byte-level) is never produced by BPE: skip it. */
	if (raw != stackbuf)
		base_free(raw);
	if (rc)
		return base_err_set(err, rc, "tokenizer: cannot store token %d", (int)id);
	return BASE_OK;
}

int bpe_add_special(struct bpe *b, int32_t id, const char *s, size_t len, struct base_err *err)
{
	if (len == 0 || len > 1024)
		return base_err_set(err, BASE_E_PARSE, "tokenizer: added token %d has length %zu", (int)id, len);
	int rc = tok_slot(b, id, err);
	if (rc)
		return rc;
	if (special_find(b, s, len) >= 0)
		return BASE_OK;
	if (b->nsp == b->capsp) {
		size_t cap = b->capsp ? b->capsp * 2 : 64;
		struct bpe_special *sp = base_tryrealloc(b->sp, cap * sizeof(*sp));
		if (!sp)
			return base_err_set(err, BASE_E_NOMEM, "tokenizer: out of memory");
		b->sp = sp;
		b->capsp = cap;
	}
	struct bpe_special *e = &b->sp[b->nsp];
	if ((rc = arena_add(b, s, len, &e->off)) != 0)
		return base_err_set(err, rc, "tokenizer: cannot store added token %d", (int)id);
	e->len = (uint32_t)len;
	e->id = id;
	b->nsp++;
	b->sp_first[(unsigned char)s[0]] = true;
	bool known = false;
	for (size_t i = 0; i < b->nsp_lens; i++)
		known |= b->sp_lens[i] == len;
	if (!known) {
		if (b->nsp_lens == BASE_ARRAY_LEN(b->sp_lens))
			return base_err_set(err, BASE_E_UNSUPPORTED, "tokenizer: added tokens of too many lengths");
		size_t i = b->nsp_lens++;
		while (i > 0 && b->sp_lens[i - 1] < len) {
			b->sp_lens[i] = b->sp_lens[i - 1];
			i--;
		}
		b->sp_lens[i] = (uint32_t)len;
	}
	/* rebuild the small hash of added tokens */
	size_t cap = 16;
	while (cap < b->nsp * 2)
		cap *= 2;
	if (!b->sslot || cap != b->smask + 1) {
		int32_t *slot = base_trymalloc(cap * sizeof(*slot));
		if (!slot)
			return base_err_set(err, BASE_E_NOMEM, "tokenizer: out of memory");
		base_free(b->sslot);
		b->sslot = slot;
		b->smask = cap - 1;
		memset(slot, 0xff, cap * sizeof(*slot));
		for (size_t k = 0; k + 1 < b->nsp; k++) {
			size_t i = hash_bytes(b->arena + b->sp[k].off, b->sp[k].len) & b->smask;
			while (b->sslot[i] >= 0)
				i = (i + 1) & b->smask;
			b->sslot[i] = (int32_t)k;
		}
	}
	size_t i = hash_bytes(s, len) & b->smask;
	while (b->sslot[i] >= 0)
		i = (i + 1) & b->smask;
	b->sslot[i] = (int32_t)(b->nsp - 1);
	return BASE_OK;
}

int bpe_add_merge(struct bpe *b, const char *a, size_t alen, const char *c, size_t clen, struct base_err *err)
{
	int32_t rank = b->nrank++;
	char buf[512];
	size_t la, lc;
	if (alen > 256 || clen > 256 || !bytes_decode(a, alen, buf, &la) || !bytes_decode(c, clen, buf + la, &lc))
		return BASE_OK;
	int32_t l = vocab_find(b, buf, la), r = vocab_find(b, buf + la, lc), m = vocab_find(b, buf, la + lc);
	if (l < 0 || r < 0 || m < 0)
		return BASE_OK;
	if ((b->mcount + 1) * 2 > (b->mslot ? b->mmask + 1 : 0) && merge_grow(b) != BASE_OK)
		return base_err_set(err, BASE_E_NOMEM, "tokenizer: out of memory for merges");
	uint64_t key = ((uint64_t)(uint32_t)l << 32 | (uint32_t)r) + 1;
	size_t i = hash_pair(key) & b->mmask;
	for (; b->mslot[i].key; i = (i + 1) & b->mmask)
		if (b->mslot[i].key == key)
			return BASE_OK; /* a repeated merge keeps its first rank */
	b->mslot[i] = (struct bpe_merge){ key, rank, m };
	b->mcount++;
	return BASE_OK;
}

int bpe_finish(struct bpe *b, struct base_err *err)
{
	/*
	 * Every byte of printable ASCII and the space must have a token. Others
	 * may lack one (0xC0 and 0xC1 never occur in UTF-8, and some
	 * vocabularies dropped control characters): such a byte is dropped
	 * when met, as Hugging Face's BPE drops a character it has no token for.
	 */
	for (int c = 0x20; c < 0x7F; c++) {
		if (b->byte_id[c] < 0)
			return base_err_set(err, BASE_E_PARSE,
					    "tokenizer: byte 0x%02x has no token (not a byte-level BPE vocabulary)", c);
	}
	if (b->mcount == 0)
		return base_err_set(err, BASE_E_PARSE, "tokenizer: no usable merges");
	return BASE_OK;
}

/* ---- encoding ------------------------------------------------------------ */

struct out {
	int32_t *ids;
	size_t cap, n;
};

static inline void emit(struct out *o, int32_t id)
{
	if (o->n < o->cap)
		o->ids[o->n] = id;
	o->n++;
}

struct heap_ent {
	int32_t rank, pos, l, r;
};

static inline bool heap_less(const struct heap_ent *a, const struct heap_ent *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct heap_ent *h, size_t *n, struct heap_ent e)
{
	size_t i = (*n)++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!heap_less(&e, &h[p]))
			break;
		h[i] = h[p];
		i = p;
	}
	h[i] = e;
}

static struct heap_ent heap_pop(struct heap_ent *h, size_t *n)
{
	struct heap_ent top = h[0], last = h[--*n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && heap_less(&h[c + 1], &h[c]))
			c++;
		if (!heap_less(&h[c], &last))
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = last;
	return top;
}

/* Symbol lists and heap for one piece; small pieces use the stack. */
#define SMALL_PIECE 64

static void pair_push(const struct bpe *b, const int32_t *id, struct heap_ent *h, size_t *nh, int32_t pos,
		      int32_t next)
{
	const struct bpe_merge *m = merge_find(b, id[pos], id[next]);
	if (m)
		heap_push(h, nh, (struct heap_ent){ m->rank, pos, id[pos], id[next] });
}

static int piece_merge(const struct bpe *b, const unsigned char *p, size_t n, struct out *o)
{
	int32_t s_id[SMALL_PIECE], s_next[SMALL_PIECE], s_prev[SMALL_PIECE];
	struct heap_ent s_heap[SMALL_PIECE * 3];
	int32_t *id = s_id, *next = s_next, *prev = s_prev;
	struct heap_ent *h = s_heap;
	void *mem = NULL;
	if (n > SMALL_PIECE) {
		if (n > INT32_MAX / 4)
			return BASE_E_TOOBIG;
		mem = base_trymalloc(n * 3 * sizeof(int32_t) + n * 3 * sizeof(struct heap_ent));
		if (!mem)
			return BASE_E_NOMEM;
		h = mem;
		id = (int32_t *)(h + n * 3);
		next = id + n;
		prev = next + n;
	}
	size_t nh = 0, k = 0;
	for (size_t i = 0; i < n; i++) /* bytes without a token are dropped (see bpe_finish) */
		if (b->byte_id[p[i]] >= 0)
			id[k++] = b->byte_id[p[i]];
	if (k == 0) {
		base_free(mem);
		return BASE_OK;
	}
	for (size_t i = 0; i < k; i++) {
		next[i] = i + 1 < k ? (int32_t)i + 1 : -1;
		prev[i] = (int32_t)i - 1;
	}
	for (size_t i = 0; i + 1 < k; i++)
		pair_push(b, id, h, &nh, (int32_t)i, (int32_t)i + 1);
	while (nh) {
		struct heap_ent e = heap_pop(h, &nh);
		int32_t r = next[e.pos];
		if (id[e.pos] != e.l || r < 0 || id[r] != e.r)
			continue; /* stale */
		const struct bpe_merge *m = merge_find(b, e.l, e.r);
		id[e.pos] = m->id;
		id[r] = -1;
		next[e.pos] = next[r];
		if (next[r] >= 0)
			prev[next[r]] = e.pos;
		if (prev[e.pos] >= 0)
			pair_push(b, id, h, &nh, prev[e.pos], e.pos);
		if (next[e.pos] >= 0)
			pair_push(b, id, h, &nh, e.pos, next[e.pos]);
	}
	for (int32_t i = 0; i >= 0; i = next[i])
		emit(o, id[i]);
	base_free(mem);
	return BASE_OK;
}

static int piece(const struct bpe *b, const char *p, size_t n, struct out *o)
{
	if (n == 0)
		return BASE_OK;
	if (n == 1) {
		if (b->byte_id[(unsigned char)p[0]] >= 0)
			emit(o, b->byte_id[(unsigned char)p[0]]);
		return BASE_OK;
	}
	if (b->flags & BPE_IGNORE_MERGES) {
		int32_t id = vocab_find(b, p, n);
		if (id >= 0) {
			emit(o, id);
			return BASE_OK;
		}
	}
	if (n > CACHE_BYTES)
		return piece_merge(b, (const unsigned char *)p, n, o);
	/* the struct is read-only but for the cache, which its locks guard */
	struct bpe *mb = (struct bpe *)b;
	uint64_t h = hash_bytes(p, n);
	size_t slot = h & (CACHE_SLOTS - 1);
	pthread_mutex_t *lock = &mb->locks[slot % CACHE_LOCKS];
	struct cache_ent *e = &mb->cache[slot];
	pthread_mutex_lock(lock);
	if (e->hash == h && e->len == n && memcmp(e->bytes, p, n) == 0) {
		int32_t ids[CACHE_IDS];
		uint8_t k = e->n;
		memcpy(ids, e->ids, k * sizeof(ids[0]));
		pthread_mutex_unlock(lock);
		for (uint8_t i = 0; i < k; i++)
			emit(o, ids[i]);
		return BASE_OK;
	}
	pthread_mutex_unlock(lock);
	/* merge into a small private output, then publish */
	int32_t ids[CACHE_BYTES];
	struct out mine = { ids, CACHE_BYTES, 0 };
	int rc = piece_merge(b, (const unsigned char *)p, n, &mine);
	if (rc)
		return rc;
	for (size_t i = 0; i < mine.n; i++)
		emit(o, ids[i]);
	if (mine.n <= CACHE_IDS) {
		pthread_mutex_lock(lock);
		e->hash = h;
		e->len = (uint8_t)n;
		e->n = (uint8_t)mine.n;
		memcpy(e->bytes, p, n);
		memcpy(e->ids, ids, mine.n * sizeof(ids[0]));
		pthread_mutex_unlock(lock);
	}
	return BASE_OK;
}

/*
 * Split s[0,n) with regex `level` and each part, match or gap, with the
 * next; past the last regex a part is a piece. md holds one match (the
 * whole match is all this needs), shared by the levels: a level reads its
 * match before it descends.
 */
static int split(const struct bpe *b, size_t level, const char *s, size_t n, pcre2_match_data *md, struct out *o,
		 struct base_err *err)
{
	if (n == 0)
		return BASE_OK;
	if (level == b->nre) {
		int prc = piece(b, s, n, o);
		return prc ? base_err_set(err, prc, "tokenizer: %s", base_status_str(prc)) : BASE_OK;
	}
	size_t off = 0;
	uint32_t opts = 0;
	while (off < n) {
		int rc = pcre2_match(b->re[level], (PCRE2_SPTR)s, n, off, opts, md, NULL);
		if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !(opts & PCRE2_NO_JIT)) {
			opts |= PCRE2_NO_JIT; /* the interpreter has a larger (heap) limit */
			continue;
		}
		if (rc == PCRE2_ERROR_NOMATCH)
			return split(b, level + 1, s + off, n - off, md, o, err);
		if (rc < 0) {
			PCRE2_UCHAR msg[160];
			pcre2_get_error_message(rc, msg, sizeof(msg));
			return base_err_set(err, BASE_E_INVAL, "tokenizer: pre-tokenizer failed at byte %zu: %s", off,
					    (const char *)msg);
		}
		/* rc 0: more groups than md holds; the whole match is still there */
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		size_t ms = ov[0], me = ov[1];
		if (me <= ms) /* an empty match: keep one byte as its own piece */
			me = ms + 1;
		int prc = split(b, level + 1, s + off, ms - off, md, o, err);
		if (!prc)
			prc = split(b, level + 1, s + ms, me - ms, md, o, err);
		if (prc)
			return prc;
		off = me;
	}
	return BASE_OK;
}

static bool has_high(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

static int segment(const struct bpe *b, const char *s, size_t n, pcre2_match_data *md, struct out *o,
		   struct base_err *err)
{
	if (n == 0)
		return BASE_OK;
	if ((b->flags & BPE_NFC) && has_high(s, n) && n < (size_t)PTRDIFF_MAX) {
		utf8proc_uint8_t *nfc = NULL;
		utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &nfc,
						  UTF8PROC_STABLE | UTF8PROC_COMPOSE);
		if (m >= 0) {
			int rc = split(b, 0, (const char *)nfc, (size_t)m, md, o, err);
			free(nfc); /* utf8proc allocates with malloc */
			return rc;
		}
		/* invalid UTF-8 (or NUL bytes): encode the segment as it is */
	}
	return split(b, 0, s, n, md, o, err);
}

int bpe_encode(const struct bpe *b, const char *text, size_t len, int32_t *ids, size_t cap, size_t *n,
	       struct base_err *err)
{
	struct out o = { ids, ids ? cap : 0, 0 };
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!md)
		return base_err_set(err, BASE_E_NOMEM, "tokenizer: out of memory");
	int rc = BASE_OK;
	size_t start = 0;
	if (b->nsp) {
		for (size_t i = 0; i < len && !rc; i++) {
			if (!b->sp_first[(unsigned char)text[i]])
				continue;
			int32_t k = -1;
			for (size_t j = 0; j < b->nsp_lens && k < 0; j++) {
				if (b->sp_lens[j] <= len - i)
					k = special_find(b, text + i, b->sp_lens[j]);
			}
			if (k < 0)
				continue;
			rc = segment(b, text + start, i - start, md, &o, err);
			emit(&o, b->sp[k].id);
			i += b->sp[k].len - 1;
			start = i + 1;
		}
	}
	if (!rc)
		rc = segment(b, text + start, len - start, md, &o, err);
	pcre2_match_data_free(md);
	*n = o.n;
	return rc;
}
