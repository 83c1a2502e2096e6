/*
 * encoder_cpu: throughput of lode's CPU encoder on a file of token ids.
 *
 *   encoder_cpu MODEL.gguf IDS.txt [--threads N] [--repeat N]
 *
 * IDS.txt holds one sequence a line (token ids, space-separated), as
 * bench/encoder_cpu.sh writes it for both lode and the peer. Sequences are
 * sorted by length and cut into batches of whole sequences of at most
 * 2,048 tokens (what embed/model.c does); N threads take batches from a
 * shared counter, one forward call each, as the indexer's workers do.
 * Prints one JSON line: tokens, chunks, seconds (best of --repeat), tokens/s
 * and chunks/s, and a checksum of the vectors.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/encoder.h"

#include "base/banned.h"

#define BATCH_TOKENS 2048

struct job {
	struct enc_cpu *cpu;
	const int32_t *ids;
	const uint32_t *offs; /* all sequences, sorted by length */
	const size_t *cuts;   /* batch boundaries in sequences */
	size_t n_batches, dim;
	float *out;
	atomic_size_t next;
	atomic_int failed;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	uint32_t *offs = malloc((BATCH_TOKENS + 1) * sizeof(*offs));
	for (size_t b; (b = atomic_fetch_add(&j->next, 1)) < j->n_batches;) {
		size_t s0 = j->cuts[b], s1 = j->cuts[b + 1];
		for (size_t s = s0; s <= s1; s++)
			offs[s - s0] = j->offs[s] - j->offs[s0];
		struct enc_batch batch = { j->ids + j->offs[s0], offs, s1 - s0 };
		struct base_err err;
		if (enc_cpu_forward(j->cpu, &batch, j->out + s0 * j->dim, &err)) {
			fprintf(stderr, "encoder_cpu: %s\n", err.msg);
			atomic_store(&j->failed, 1);
		}
	}
	free(offs);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned threads = 1, repeat = 1;
	const char *model = NULL, *ids_path = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
			threads = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc)
			repeat = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (!model)
			model = argv[i];
		else if (!ids_path)
			ids_path = argv[i];
	}
	if (!model || !ids_path || threads == 0 || threads > 256 || repeat == 0) {
		fprintf(stderr, "usage: encoder_cpu MODEL.gguf IDS.txt [--threads N] [--repeat N]\n");
		return 1;
	}
	struct base_err err;
	struct gguf *g = gguf_open(model, &err);
	struct enc_model m;
	struct enc_cpu *cpu = NULL;
	if (!g || enc_model_load(g, &m, &err) || enc_cpu_open(&m, &cpu, &err)) {
		fprintf(stderr, "encoder_cpu: %s\n", err.msg);
		return 2;
	}
	FILE *f = fopen(ids_path, "r");
	if (!f) {
		perror(ids_path);
		return 2;
	}
	BASE_VEC(int32_t) ids = BASE_VEC_INIT;
	BASE_VEC(uint32_t) offs = BASE_VEC_INIT;
	base_vec_push(&offs, 0);
	char line[65536];
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		for (long v = strtol(p, &end, 10); end != p; v = strtol(p, &end, 10)) {
			base_vec_push(&ids, (int32_t)v);
			p = end;
		}
		if (ids.n > base_vec_last(&offs))
			base_vec_push(&offs, (uint32_t)ids.n);
	}
	fclose(f);
	/* the file is written sorted by length; cut batches of whole sequences */
	size_t n_seq = offs.n - 1;
	BASE_VEC(size_t) cuts = BASE_VEC_INIT;
	base_vec_push(&cuts, 0);
	for (size_t s = 0, tokens = 0; s < n_seq; s++) {
		size_t len = offs.v[s + 1] - offs.v[s];
		if (tokens && tokens + len > BATCH_TOKENS) {
			base_vec_push(&cuts, s);
			tokens = 0;
		}
		tokens += len;
	}
	base_vec_push(&cuts, n_seq);
	float *out = malloc(n_seq * m.c.n_embd * sizeof(float));
	double best = 1e30;
	for (unsigned r = 0; r < repeat; r++) {
		struct job j = { cpu, ids.v, offs.v, cuts.v, cuts.n - 1, m.c.n_embd, out, 0, 0 };
		pthread_t tid[256];
		uint64_t t0 = base_now_ns();
		for (unsigned t = 0; t < threads; t++)
			pthread_create(&tid[t], NULL, worker, &j);
		for (unsigned t = 0; t < threads; t++)
			pthread_join(tid[t], NULL);
		double s = (double)(base_now_ns() - t0) / 1e9;
		if (atomic_load(&j.failed))
			return 2;
		best = s < best ? s : best;
	}
	double sum = 0;
	for (size_t i = 0; i < n_seq * m.c.n_embd; i++)
		sum += out[i] * (double)((i % 7) + 1);
	printf("{\"side\": \"lode-cpu\", \"threads\": %u, \"tokens\": %zu, \"chunks\": %zu, \"seconds\": %.3f, "
	       "\"tokens_per_s\": %.0f, \"chunks_per_s\": %.1f, \"checksum\": %.6f}\n",
	       threads, ids.n, n_seq, best, (double)ids.n / best, (double)n_seq / best, sum);
	free(out);
	base_vec_release(&ids);
	base_vec_release(&offs);
	base_vec_release(&cuts);
	enc_cpu_close(cpu);
	enc_model_release(&m);
	gguf_close(g);
	return 0;
}
