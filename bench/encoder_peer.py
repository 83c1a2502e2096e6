#!/usr/bin/env python3
"""encoder_peer.py: the peer for bench/encoder_bench.c — Hugging Face
transformers' BertModel on the same token ids and the same shapes.

    encoder_peer.py --ids FILE [--model minilm-l6|bge-small|bge-base|all]
                    [--seconds S] [--runs fp16:128,fp32:32]

FILE is encoder_bench --write-ids output (one chunk a line, ids separated
by spaces). Each model is a BertModel randomly initialised from a
BertConfig with the bench's shape (vocab 30522, 512 positions), in eval
mode under torch.inference_mode, attn_implementation="sdpa". Chunks are
sorted by length and cut into batches of a fixed number of sequences
(padded to the longest in the batch, with an attention mask); the output
is mean-pooled over the mask and L2-normalised, as lode does. Runs: fp16
with batches of 128 and fp32 with batches of 32 unless --runs says other.

Output: JSON lines shaped like encoder_bench's (tokens_per_s counts real
tokens, not padding). Needs python3, torch with CUDA and transformers.
"""
import argparse
import json
import time

import torch
from transformers import BertConfig, BertModel

SHAPES = {
    "minilm-l6": (6, 384, 12, 1536),
    "bge-small": (12, 384, 12, 1536),
    "bge-base": (12, 768, 12, 3072),
}


def read_ids(path):
    with open(path) as f:
        return [[int(t) for t in line.split()] for line in f if line.strip()]


def make_model(shape, dtype):
    layers, embd, heads, ff = shape
    cfg = BertConfig(vocab_size=30522, hidden_size=embd, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=ff, max_position_embeddings=512, hidden_act="gelu")
    try:
        m = BertModel._from_config(cfg, attn_implementation="sdpa", torch_dtype=dtype, add_pooling_layer=False)
    except (TypeError, ValueError):
        cfg._attn_implementation = "sdpa"
        m = BertModel(cfg, add_pooling_layer=False).to(dtype)
    return m.cuda().eval()


def batches(chunks, per_batch):
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i]))
    out = []
    for b in range(0, len(order), per_batch):
        seqs = [chunks[i] for i in order[b:b + per_batch]]
        L = max(len(s) for s in seqs)
        ids = torch.zeros(len(seqs), L, dtype=torch.long)
        mask = torch.zeros(len(seqs), L, dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, :len(s)] = torch.tensor(s)
            mask[r, :len(s)] = 1
        out.append((ids.cuda(), mask.cuda()))
    return out


def run_pass(model, data):
    vecs = None
    for ids, mask in data:
        h = model(input_ids=ids, attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).to(h.dtype)
        v = (h * m).sum(1) / m.sum(1)
        vecs = torch.nn.functional.normalize(v.float(), dim=-1)
    torch.cuda.synchronize()
    return vecs


def bench(name, chunks, dtype_name, per_batch, seconds):
    dtype = torch.float16 if dtype_name == "fp16" else torch.float32
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    model = make_model(SHAPES[name], dtype)
    data = batches(chunks, per_batch)
    tokens = sum(len(c) for c in chunks)
    with torch.inference_mode():
        run_pass(model, data)  # warm-up
        passes, t0 = 0, time.perf_counter()
        while True:
            run_pass(model, data)
            passes += 1
            t = time.perf_counter() - t0
            if t >= seconds:
                break
    peak = torch.cuda.max_memory_allocated() - base
    print(json.dumps({
        "bench": "encoder", "impl": "hf-bert-sdpa-" + dtype_name, "model": name,
        "device": torch.cuda.get_device_name(), "chunks": len(chunks), "tokens": tokens,
        "batch_seqs": per_batch, "passes": passes, "seconds": round(t, 3),
        "tokens_per_s": round(tokens * passes / t), "chunks_per_s": round(len(chunks) * passes / t, 1),
        "vram_mib": round(peak / 2**20, 1),
        "torch": torch.__version__,
    }), flush=True)
    del model, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ids", required=True)
    ap.add_argument("--model", default="all")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--runs", default="fp16:128,fp32:32")
    a = ap.parse_args()
    chunks = read_ids(a.ids)
    names = list(SHAPES) if a.model == "all" else [a.model]
    for name in names:
        for run in a.runs.split(","):
            dt, per = run.split(":")
            bench(name, chunks, dt, int(per), a.seconds)


if __name__ == "__main__":
    main()
