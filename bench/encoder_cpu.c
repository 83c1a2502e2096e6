/*
 * encoder_cpu: throughput of lode's CPU encoder on a model file.
 *
 *   encoder_cpu MODEL.gguf [--ids FILE] [--threads N] [--repeat N]
 *   encoder_cpu --write-ids FILE [--chunks N] [--seed N]
 *
 * The chunks are bench/chunks.h's (the same as encoder_bench's): --write-ids
 * writes them for the peer (bench/encoder_peer_cpu.py) and exits; --ids
 * reads such a file. They are sorted by length and cut into batches of
 * whole chunks of at most 2,048 tokens (what embed/model.c does on the
 * CPU); N threads take batches from a shared counter, one forward call
 * each, as the indexer's workers do. Prints one JSON line: tokens, chunks,
 * seconds (best of --repeat), tokens/s, chunks/s and a checksum of the
 * vectors.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/chunks.h"
#include "embed/encoder.h"

#include "base/banned.h"

#define BATCH_TOKENS 2048

struct job {
	struct enc_cpu *cpu;
	const struct bench_plan *p;
	size_t dim;
	float *out;
	atomic_size_t next;
	atomic_int failed;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	const struct bench_plan *p = j->p;
	uint32_t *offs = base_malloc((p->n_seq + 1) * sizeof(*offs));
	for (size_t b; (b = atomic_fetch_add(&j->next, 1)) < p->n_batch;) {
		size_t s0 = p->batch[b], s1 = p->batch[b + 1];
		for (size_t s = s0; s <= s1; s++)
			offs[s - s0] = p->offs[s] - p->offs[s0];
		struct enc_batch batch = { p->ids + p->offs[s0], offs, s1 - s0 };
		struct base_err err;
		if (enc_cpu_forward(j->cpu, &batch, j->out + s0 * j->dim, &err)) {
			fprintf(stderr, "encoder_cpu: %s\n", err.msg);
			atomic_store(&j->failed, 1);
		}
	}
	base_free(offs);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned threads = 1, repeat = 1;
	size_t n_chunks = 4096;
	const char *model = NULL, *ids_path = NULL, *write_path = NULL;
	bool bad = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--threads") == 0 && v)
			threads = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(a, "--repeat") == 0 && v)
			repeat = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(a, "--ids") == 0 && v)
			ids_path = argv[++i];
		else if (strcmp(a, "--write-ids") == 0 && v)
			write_path = argv[++i];
		else if (strcmp(a, "--chunks") == 0 && v)
			n_chunks = strtoul(argv[++i], NULL, 10);
		else if (strcmp(a, "--seed") == 0 && v)
			bench_rng = strtoull(argv[++i], NULL, 10);
		else if (a[0] != '-' && !model)
			model = a;
		else
			bad = true;
	}
	if (bad || (!model && !write_path) || threads == 0 || threads > 256 || repeat == 0) {
		fprintf(stderr, "usage: encoder_cpu MODEL.gguf [--ids FILE] [--threads N] [--repeat N]\n"
				"       encoder_cpu --write-ids FILE [--chunks N] [--seed N]\n");
		return 1;
	}
	struct bench_chunks c;
	int got = bench_chunks_get(&c, "encoder_cpu", ids_path, write_path, n_chunks);
	if (got)
		return got < 0 ? 1 : 0;
	struct base_err err;
	struct gguf *g = gguf_open(model, &err);
	struct enc_model m;
	struct enc_cpu *cpu = NULL;
	if (!g || enc_model_load(g, &m, &err) || enc_cpu_open(&m, &cpu, &err)) {
		fprintf(stderr, "encoder_cpu: %s\n", err.msg);
		return 2;
	}
	struct bench_plan p;
	bench_plan_make(&p, &c, BATCH_TOKENS);
	float *out = base_malloc(p.n_seq * m.c.n_embd * sizeof(float));
	double best = 1e30;
	for (unsigned r = 0; r < repeat; r++) {
		struct job j = { cpu, &p, m.c.n_embd, out, 0, 0 };
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
	for (size_t i = 0; i < p.n_seq * m.c.n_embd; i++)
		sum += out[i] * (double)((i % 7) + 1);
	printf("{\"side\": \"lode-cpu\", \"threads\": %u, \"tokens\": %zu, \"chunks\": %zu, \"seconds\": %.3f, "
	       "\"tokens_per_s\": %.0f, \"chunks_per_s\": %.1f, \"checksum\": %.6f}\n",
	       threads, p.tokens, p.n_seq, best, (double)p.tokens / best, (double)p.n_seq / best, sum);
	base_free(out);
	bench_plan_release(&p);
	bench_chunks_release(&c);
	enc_cpu_close(cpu);
	enc_model_release(&m);
	gguf_close(g);
	return 0;
}
