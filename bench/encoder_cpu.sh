#!/usr/bin/env bash
# bench/encoder_cpu.sh: lode's CPU encoder beside PyTorch on the CPU, in one
# run, on the same random-weight models and the same token ids.
#
#   bench/encoder_cpu.sh [BUILD_DIR] [CHUNKS]   (BUILD_DIR configured with -DLODE_BENCH=ON;
#                                                CHUNKS default 400)
#
# Shapes (vocabulary 30,522, context 512, f32 weights): MiniLM-L6 (6 x 384,
# 12 heads, ff 1536) and bge-small (12 x 384, 12 heads, ff 1536).
# Chunks: bench/chunks.h's, as the GPU benchmark's (lengths lognormal,
# median 180 tokens, sigma 0.6, clipped to 16..512, fixed seed); both
# sides read the same ids file. lode: batches of
# whole sequences up to 2,048 tokens, packed without padding, one worker
# thread per core (as `lode index` runs). PyTorch (Debian's python3-torch):
# fp32 inference mode, torch.nn.TransformerEncoder with a padding mask,
# batch 32 sorted by length (sentence-transformers' default), one intra-op
# thread per core. Writes bench/results/encoder-cpu-<date>.json and prints
# a Markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-$here/../build}")
chunks=${2:-400}
threads=$(nproc)
[ -x "$build/encoder_cpu" ] || { echo "configure $build with -DLODE_BENCH=ON and build it" >&2; exit 1; }
py=/usr/bin/python3
$py -c 'import torch, numpy' 2>/dev/null || { echo "needs python3-torch (apt-get install python3-torch)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$build/encoder_cpu" --write-ids "$work/ids.txt" --chunks "$chunks"

out=$here/results/encoder-cpu-$(date +%Y%m%d).json
mkdir -p "$here/results"
: > "$out"
echo "| shape | lode CPU tokens/s | PyTorch CPU tokens/s | lode / PyTorch |"
echo "|---|---:|---:|---:|"
for shape in "MiniLM-L6 6 384 12 1536" "bge-small 12 384 12 1536"; do
  read -r name layers embd heads ff <<<"$shape"
  "$build/tests/gguf_make_bert" "$work/$name.gguf" --vocab-size 30522 --ctx 512 --layers "$layers" \
    --embd "$embd" --heads "$heads" --ff "$ff" --pooling mean 2>/dev/null
  lode_json=$("$build/encoder_cpu" "$work/$name.gguf" --ids "$work/ids.txt" --threads "$threads" --repeat 2)
  peer_json=$($py "$here/encoder_peer_cpu.py" "$work/$name.gguf" "$work/ids.txt" --threads "$threads" --repeat 2)
  echo "{\"shape\": \"$name\", \"lode\": $lode_json, \"peer\": $peer_json}" >> "$out"
  $py - "$name" "$lode_json" "$peer_json" <<'PY'
import json, sys
l, p = json.loads(sys.argv[2]), json.loads(sys.argv[3])
print("| %s | %s | %s | %.2f× |" % (sys.argv[1], format(l["tokens_per_s"], ","), format(p["tokens_per_s"], ","),
                                    l["tokens_per_s"] / p["tokens_per_s"]))
PY
done
echo
echo "$(wc -l < "$work/ids.txt") chunks, $(wc -w < "$work/ids.txt") tokens, $threads threads; JSON in $out"
