#!/usr/bin/env python3
"""encoder_ref.py: reference vectors for lode's encoder tests, from PyTorch.

    encoder_ref.py MODEL.gguf OUT.txt [--seed N] [--lengths 1,2,...]
                   [--reference auto|torch|transformers]

Reads a random-weight encoder written by gguf_make_bert (tests/embed/
gguf_writer.h's layout, which is llama.cpp's), runs it with an outside
implementation, and writes the token-id sequences and their pooled,
L2-normalised vectors as a small text fixture that
tests/embed/test_encoder.c checks lode's CPU backend against on every run.

The reference, in float64:
  bert        transformers.BertModel when transformers is installed (the
              GPU machine has it), else torch.nn.TransformerEncoderLayer
              (post-norm, GELU: the same layer as BERT's) over
              nn.Embedding + nn.LayerNorm — both are code lode does not share.
  nomic-bert  torch operations (no stock module has nomic's rotary
              attention): F.linear, F.layer_norm, F.silu, softmax.

Needs python3 with torch and numpy (Debian: python3-torch). Regenerate the
fixtures with scripts/encoder-fixtures.sh.
"""
import argparse
import math
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ---- a minimal GGUF reader (v2/v3, little-endian) ---------------------------

SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
          10: "<Q", 11: "<q", 12: "<d"}


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.p)[0]
        self.p += struct.calcsize(fmt)
        return v

    def string(self):
        n = self.take("<Q")
        s = self.d[self.p:self.p + n].decode("utf-8", "replace")
        self.p += n
        return s

    def value(self, t):
        if t in SCALAR:
            return self.take(SCALAR[t])
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take("<I"), self.take("<Q")
            return [self.value(et) for _ in range(n)]
        raise ValueError("unknown GGUF value type %d" % t)


def f16(raw):
    return np.frombuffer(raw, dtype="<f2").astype(np.float64)


def dequant(ttype, raw, n):
    if ttype == 0:
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float64)
    if ttype == 1:
        return f16(raw[:2 * n])
    if ttype == 30:  # bf16: the top half of a float32
        u = np.frombuffer(raw[:2 * n], dtype="<u2").astype(np.uint32) << 16
        return u.view(np.float32).astype(np.float64)
    if ttype == 8:  # q8_0: blocks of a half scale and 32 signed bytes
        blocks = np.frombuffer(raw[:n // 32 * 34], dtype=np.uint8).reshape(-1, 34)
        d = f16(blocks[:, :2].tobytes())
        q = blocks[:, 2:].view(np.int8).astype(np.float64)
        return (q * d[:, None]).reshape(-1)
    raise ValueError("tensor type %d not handled" % ttype)


def read_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    if r.take("<I") != 0x46554747:
        raise ValueError("%s: not a GGUF file" % path)
    r.take("<I")  # version
    n_tensors, n_kv = r.take("<Q"), r.take("<Q")
    kv = {}
    for _ in range(n_kv):
        k = r.string()
        kv[k] = r.value(r.take("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        nd = r.take("<I")
        ne = [r.take("<Q") for _ in range(nd)]
        infos.append((name, ne, r.take("<I"), r.take("<Q")))
    align = kv.get("general.alignment", 32)
    base = (r.p + align - 1) // align * align
    tensors = {}
    for name, ne, ttype, off in infos:
        n = int(np.prod(ne))
        a = dequant(ttype, data[base + off:], n)
        # ggml's ne0 is the contiguous axis: shape [ne1][ne0] row-major
        tensors[name] = torch.from_numpy(a.reshape(list(reversed(ne))).copy())
    return kv, tensors


# ---- the references ------------------------------------------------------------

def bert_transformers(cfg, W, seqs):
    from transformers import BertConfig, BertModel
    E = cfg["n_embd"]
    conf = BertConfig(vocab_size=W["token_embd.weight"].shape[0], hidden_size=E,
                      num_hidden_layers=cfg["n_layer"], num_attention_heads=cfg["n_head"],
                      intermediate_size=cfg["n_ff"], max_position_embeddings=cfg["n_ctx"],
                      type_vocab_size=W["token_types.weight"].shape[0], layer_norm_eps=cfg["eps"],
                      hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    m = BertModel(conf, add_pooling_layer=False).double().eval()
    sd = {"embeddings.word_embeddings.weight": W["token_embd.weight"],
          "embeddings.token_type_embeddings.weight": W["token_types.weight"],
          "embeddings.position_embeddings.weight": W["position_embd.weight"],
          "embeddings.LayerNorm.weight": W["token_embd_norm.weight"],
          "embeddings.LayerNorm.bias": W["token_embd_norm.bias"]}
    names = {"attention.self.query": "attn_q", "attention.self.key": "attn_k",
             "attention.self.value": "attn_v", "attention.output.dense": "attn_output",
             "attention.output.LayerNorm": "attn_output_norm", "intermediate.dense": "ffn_up",
             "output.dense": "ffn_down", "output.LayerNorm": "layer_output_norm"}
    for l in range(cfg["n_layer"]):
        for hf, gg in names.items():
            for p in ("weight", "bias"):
                sd["encoder.layer.%d.%s.%s" % (l, hf, p)] = W["blk.%d.%s.%s" % (l, gg, p)]
    missing, unexpected = m.load_state_dict(sd, strict=False)
    if unexpected or [k for k in missing if "position_ids" not in k and "token_type_ids" not in k]:
        raise SystemExit("weights do not map onto BertModel: %s %s" % (missing, unexpected))
    out = []
    with torch.no_grad():
        for ids in seqs:
            h = m(input_ids=torch.tensor([ids])).last_hidden_state[0]
            out.append(h)
    return out, "transformers %s BertModel (float64)" % __import__("transformers").__version__


def load_bert_layer(layer, W, l):
    """Copy block l of a GGUF bert's weights into an nn.TransformerEncoderLayer (same dtype)."""
    g = lambda t: W["blk.%d.%s" % (l, t)].to(layer.linear1.weight.dtype)
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(torch.cat([g("attn_q.weight"), g("attn_k.weight"), g("attn_v.weight")]))
        layer.self_attn.in_proj_bias.copy_(torch.cat([g("attn_q.bias"), g("attn_k.bias"), g("attn_v.bias")]))
        for mod, name in ((layer.self_attn.out_proj, "attn_output"), (layer.linear1, "ffn_up"),
                          (layer.linear2, "ffn_down"), (layer.norm1, "attn_output_norm"),
                          (layer.norm2, "layer_output_norm")):
            mod.weight.copy_(g(name + ".weight"))
            mod.bias.copy_(g(name + ".bias"))


def bert_torch(cfg, W, seqs):
    E, H, Fd = cfg["n_embd"], cfg["n_head"], cfg["n_ff"]
    layers = []
    for l in range(cfg["n_layer"]):
        layer = torch.nn.TransformerEncoderLayer(E, H, Fd, dropout=0.0, activation="gelu",
                                                 layer_norm_eps=cfg["eps"], batch_first=True,
                                                 norm_first=False).double().eval()
        load_bert_layer(layer, W, l)
        layers.append(layer)
    tok = torch.nn.Embedding.from_pretrained(W["token_embd.weight"])
    ln = torch.nn.LayerNorm(E, eps=cfg["eps"]).double()
    with torch.no_grad():
        ln.weight.copy_(W["token_embd_norm.weight"])
        ln.bias.copy_(W["token_embd_norm.bias"])
    out = []
    with torch.no_grad():
        for ids in seqs:
            t = torch.tensor(ids)
            x = tok(t) + W["token_types.weight"][0] + W["position_embd.weight"][:len(ids)]
            x = ln(x)[None]
            for layer in layers:
                x = layer(x)
            out.append(x[0])
    return out, "torch %s nn.TransformerEncoderLayer (float64)" % torch.__version__


def rope_neox(x, base):
    # x: [L, H, D]; element d pairs with d + D/2
    L, _, D = x.shape
    half = D // 2
    inv = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / D)
    ang = torch.arange(L, dtype=torch.float64)[:, None] * inv[None]
    cos, sin = ang.cos()[:, None, :], ang.sin()[:, None, :]
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


def nomic_torch(cfg, W, seqs):
    E, H = cfg["n_embd"], cfg["n_head"]
    D = E // H
    opt = lambda name: W.get(name)
    out = []
    for ids in seqs:
        x = W["token_embd.weight"][torch.tensor(ids)] + W["token_types.weight"][0]
        x = F.layer_norm(x, (E,), W["token_embd_norm.weight"], W["token_embd_norm.bias"], cfg["eps"])
        L = len(ids)
        for l in range(cfg["n_layer"]):
            g = lambda t: W["blk.%d.%s" % (l, t)]
            o = lambda t: opt("blk.%d.%s" % (l, t))
            qkv = F.linear(x, g("attn_qkv.weight"), o("attn_qkv.bias"))
            q, k, v = (qkv[:, i * E:(i + 1) * E].reshape(L, H, D) for i in range(3))
            q, k = rope_neox(q, cfg["rope_base"]), rope_neox(k, cfg["rope_base"])
            att = torch.einsum("ihd,jhd->hij", q, k) / math.sqrt(D)
            a = torch.einsum("hij,jhd->ihd", att.softmax(-1), v).reshape(L, E)
            x = F.layer_norm(x + F.linear(a, g("attn_output.weight"), o("attn_output.bias")), (E,),
                             g("attn_output_norm.weight"), g("attn_output_norm.bias"), cfg["eps"])
            up = F.linear(x, g("ffn_up.weight"), o("ffn_up.bias"))
            gate = F.linear(x, g("ffn_gate.weight"), o("ffn_gate.bias"))
            y = F.linear(F.silu(gate) * up, g("ffn_down.weight"), o("ffn_down.bias"))
            x = F.layer_norm(x + y, (E,), g("layer_output_norm.weight"), g("layer_output_norm.bias"),
                             cfg["eps"])
        out.append(x)
    return out, "torch %s operations, rotary attention written out (float64)" % torch.__version__


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lengths", default="1,2,3,5,8,16,31,32,33,64,100,127,128")
    ap.add_argument("--reference", choices=("auto", "torch", "transformers"), default="auto",
                    help="bert: transformers' BertModel, torch's TransformerEncoderLayer, or the first available")
    a = ap.parse_args()
    kv, W = read_gguf(a.model)
    arch = kv["general.architecture"]
    cfg = {k: kv["%s.%s" % (arch, g)] for k, g in (
        ("n_embd", "embedding_length"), ("n_layer", "block_count"), ("n_head", "attention.head_count"),
        ("n_ff", "feed_forward_length"), ("n_ctx", "context_length"), ("pool", "pooling_type"))}
    cfg["eps"] = kv["%s.attention.layer_norm_epsilon" % arch]
    cfg["rope_base"] = kv.get("%s.rope.freq_base" % arch, 1000.0)
    n_vocab = W["token_embd.weight"].shape[0]
    rng = np.random.default_rng(a.seed)
    seqs = []
    for L in (int(x) for x in a.lengths.split(",")):
        if L > cfg["n_ctx"]:
            raise SystemExit("length %d is longer than the context (%d)" % (L, cfg["n_ctx"]))
        seqs.append([int(t) for t in rng.integers(0, n_vocab, L)])
    if arch == "bert" and a.reference != "torch":
        try:
            hidden, ref = bert_transformers(cfg, W, seqs)
        except ImportError:
            if a.reference == "transformers":
                raise SystemExit("--reference transformers: transformers is not installed")
            hidden, ref = bert_torch(cfg, W, seqs)
    elif arch == "bert":
        hidden, ref = bert_torch(cfg, W, seqs)
    elif arch == "nomic-bert":
        hidden, ref = nomic_torch(cfg, W, seqs)
    else:
        raise SystemExit("%s: architecture %s" % (a.model, arch))
    with open(a.out, "w") as f:
        f.write("# reference: %s\n" % ref)
        f.write("# model: %s (%s, %d layers, %d-d, pooling %d); %d sequences\n"
                % (a.model.split("/")[-1], arch, cfg["n_layer"], cfg["n_embd"], cfg["pool"], len(seqs)))
        for ids, h in zip(seqs, hidden):
            v = h[0] if cfg["pool"] == 2 else h.mean(0)
            v = v / v.norm()
            f.write("seq %s\n" % " ".join(map(str, ids)))
            f.write("vec %s\n" % " ".join("%.9g" % x for x in v.tolist()))
    print("%s: %d sequences, %s" % (a.out, len(seqs), ref), file=sys.stderr)


if __name__ == "__main__":
    main()
