/*
 * test_fuzz_http.c: the fuzz target tests/fuzz/fuzz_http.c run in every CI
 * build (ASan+UBSan): its seed requests, then seeded random mutations of
 * them (byte flips, truncations, splices). A crash, a leak, a sanitizer
 * report or a status outside 200..599 fails. LODE_FUZZ_ITERS sets the
 * number of mutations (default 3000).
 */
#include "test.h"

#include "../fuzz/fuzz_http.c"

static const char *const seeds[] = {
	"GET\n/healthz\n\n\n",
	"GET\n/v1/status\n\n\n",
	"POST\n/v1/search\n\napplication/json\n{\"query\":\"parse header\",\"k\":3,\"mode\":\"hybrid\",\"lang\":[\"c\"]}",
	"POST\n/v1/search\n\napplication/json\n{\"query\":\"x\",\"files\":true,\"path\":[\"*.c\"]}",
	"POST\n/v1/context\n\napplication/json\n{\"query\":\"parse\",\"budget\":100}",
	"GET\n/v1/file\npath=a.c&start=1&end=1\n\n",
	"GET\n/v1/file\npath=../etc/passwd\n\n\n",
	"GET\n/metrics\n\n\n",
	"GET\n/\n\n\n",
	"POST\n/mcp\n\napplication/json\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}",
	"POST\n/mcp\n\napplication/json\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
	"\"search_code\",\"arguments\":{\"query\":\"parse\",\"k\":2}}}",
	"POST\n/mcp\n\napplication/json\n{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":"
	"\"read_file\",\"arguments\":{\"path\":\"a.c\",\"start\":1}}}",
};

static void rm_cache(const char *dir)
{
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	T_EQ_INT(system(cmd), 0);
}

static void seeds_run(void)
{
	char cache[] = "/tmp/lode-fuzz-cache-XXXXXX";
	T_TRUE(mkdtemp(cache) != NULL);
	setenv("XDG_CACHE_HOME", cache, 1);
	for (size_t i = 0; i < BASE_ARRAY_LEN(seeds); i++)
		T_EQ_INT(LLVMFuzzerTestOneInput((const uint8_t *)seeds[i], strlen(seeds[i])), 0);
	lode_fuzz_http_done();
	rm_cache(cache);
}

static void mutations(void)
{
	char cache[] = "/tmp/lode-fuzz-cache-XXXXXX";
	T_TRUE(mkdtemp(cache) != NULL);
	setenv("XDG_CACHE_HOME", cache, 1);
	const char *env = getenv("LODE_FUZZ_ITERS");
	long iters = env ? atol(env) : 3000;
	uint8_t buf[1024];
	for (long it = 0; it < iters; it++) {
		const char *s = seeds[t_rand() % BASE_ARRAY_LEN(seeds)];
		size_t n = strlen(s);
		memcpy(buf, s, n);
		int edits = 1 + (int)(t_rand() % 8);
		for (int e = 0; e < edits; e++) {
			switch (t_rand() % 4) {
			case 0: /* flip a byte */
				if (n)
					buf[t_rand() % n] = (uint8_t)t_rand();
				break;
			case 1: /* truncate */
				n = n ? t_rand() % n : 0;
				break;
			case 2: { /* splice a piece of another seed */
				const char *o = seeds[t_rand() % BASE_ARRAY_LEN(seeds)];
				size_t on = strlen(o), at = n ? t_rand() % n : 0, len = t_rand() % (on + 1);
				if (at + len > sizeof(buf))
					len = sizeof(buf) - at;
				memcpy(buf + at, o, len);
				if (at + len > n)
					n = at + len;
				break;
			}
			default: /* insert a special byte */
				if (n < sizeof(buf)) {
					static const uint8_t special[] = { 0, '\n', '"', '\\', '%', '/', '.', 0xff, '{', '[' };
					size_t at = n ? t_rand() % n : 0;
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = special[t_rand() % sizeof(special)];
					n++;
				}
			}
		}
		T_EQ_INT(LLVMFuzzerTestOneInput(buf, n), 0);
	}
	lode_fuzz_http_done();
	rm_cache(cache);
}

T_MAIN(T_ENTRY(seeds_run), T_ENTRY(mutations))
