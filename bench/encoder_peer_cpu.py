#!/usr/bin/env python3
"""encoder_peer_cpu.py: the CPU peer for bench/encoder_cpu.sh.

    encoder_peer_cpu.py MODEL.gguf IDS.txt [--threads N] [--batch 32] [--repeat N]

PyTorch (fp32, inference mode) runs the same random-weight BERT encoder as
lode, from the same GGUF file and on the same token ids: embeddings +
LayerNorm, torch.nn.TransformerEncoder (post-norm, GELU: BERT's layer; its
fast path skips padded positions), mean pooling over the attention mask,
L2 normalisation. Sequences are sorted by length and padded per batch, as
sentence-transformers does (its default batch is 32). Prints one JSON line.
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "embed"))
from encoder_ref import load_bert_layer, read_gguf  # noqa: E402


def build(kv, W):
    E = kv["bert.embedding_length"]
    H = kv["bert.attention.head_count"]
    Fd = kv["bert.feed_forward_length"]
    L = kv["bert.block_count"]
    eps = kv["bert.attention.layer_norm_epsilon"]
    layer = torch.nn.TransformerEncoderLayer(E, H, Fd, dropout=0.0, activation="gelu", layer_norm_eps=eps,
                                             batch_first=True, norm_first=False)
    enc = torch.nn.TransformerEncoder(layer, L, enable_nested_tensor=True).eval()
    f = lambda t: t.float()
    for l, m in enumerate(enc.layers):
        load_bert_layer(m, W, l)
    emb = {k: f(W[k]) for k in ("token_embd.weight", "token_types.weight", "position_embd.weight",
                                 "token_embd_norm.weight", "token_embd_norm.bias")}
    return enc, emb, E, eps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("ids")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    kv, W = read_gguf(a.model)
    enc, emb, E, eps = build(kv, W)
    # sorted by length, as sentence-transformers does: batches pad little
    seqs = sorted(([int(t) for t in line.split()] for line in open(a.ids) if line.strip()), key=len)
    tokens = sum(map(len, seqs))
    best = 1e30
    with torch.inference_mode():
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            for i in range(0, len(seqs), a.batch):
                batch = seqs[i:i + a.batch]
                n = max(map(len, batch))
                ids = torch.zeros(len(batch), n, dtype=torch.long)
                mask = torch.zeros(len(batch), n, dtype=torch.bool)  # True: padding
                for j, s in enumerate(batch):
                    ids[j, :len(s)] = torch.tensor(s)
                    mask[j, len(s):] = True
                x = emb["token_embd.weight"][ids] + emb["token_types.weight"][0] + emb["position_embd.weight"][:n]
                x = torch.nn.functional.layer_norm(x, (E,), emb["token_embd_norm.weight"],
                                                   emb["token_embd_norm.bias"], eps)
                h = enc(x, src_key_padding_mask=mask)
                keep = (~mask).unsqueeze(-1).float()
                v = (h * keep).sum(1) / keep.sum(1)
                torch.nn.functional.normalize(v, dim=-1)
            best = min(best, time.perf_counter() - t0)
    print(json.dumps({"side": "pytorch-cpu", "torch": torch.__version__, "threads": a.threads, "batch": a.batch,
                      "tokens": tokens, "chunks": len(seqs), "seconds": round(best, 3),
                      "tokens_per_s": round(tokens / best), "chunks_per_s": round(len(seqs) / best, 1)}))


if __name__ == "__main__":
    main()
