#!/usr/bin/env bash
# encoder-fixtures.sh: regenerate fixtures/encoder/*.txt, the reference
# vectors tests/embed/test_encoder.c checks the CPU encoder against.
#
#   scripts/encoder-fixtures.sh BUILD_DIR [OUT_DIR]
#
# BUILD_DIR holds gguf_make_bert (tests/gguf_make_bert in the full build,
# gguf_make_bert in the standalone embed/ one); OUT_DIR defaults to
# fixtures/encoder. REFERENCE=torch|transformers|auto picks bert's
# reference (encoder_ref.py --reference; default auto).
#
# Each fixture's first line holds the gguf_make_bert arguments of its
# random-weight model; tests/embed/encoder_ref.py computes the vectors with
# PyTorch (transformers' BertModel where installed). Needs python3 with
# torch and numpy (Debian: apt-get install python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/encoder-fixtures.sh BUILD_DIR [OUT_DIR]}
dest=${2:-fixtures/encoder}
make=$build/tests/gguf_make_bert
[ -x "$make" ] || make=$build/gguf_make_bert
py=${PYTHON:-python3}
"$py" -c 'import torch, numpy' 2>/dev/null || py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name, then the model's arguments
models=(
  "bert-mean-f32    --vocab-size 300 --layers 2 --embd 64 --heads 4 --ff 128 --ctx 128 --pooling mean --seed 11"
  "bert-cls-f16     --vocab-size 300 --layers 3 --embd 48 --heads 3 --ff 96 --ctx 128 --pooling cls --type f16 --seed 12"
  "bert-mean-q8_0   --vocab-size 300 --layers 2 --embd 64 --heads 2 --ff 128 --ctx 128 --pooling mean --type q8_0 --seed 13"
  "nomic-mean-f32   --vocab-size 300 --layers 2 --embd 64 --heads 4 --ff 96 --ctx 128 --pooling mean --nomic --seed 14"
  "nomic-mean-bf16  --vocab-size 300 --layers 2 --embd 64 --heads 2 --ff 128 --ctx 128 --pooling mean --nomic --type bf16 --seed 15"
)
mkdir -p "$dest"
for m in "${models[@]}"; do
  read -r name args <<<"$m"
  # shellcheck disable=SC2086
  "$make" "$tmp/$name.gguf" $args 2>/dev/null
  "$py" tests/embed/encoder_ref.py "$tmp/$name.gguf" "$tmp/$name.txt" --reference "${REFERENCE:-auto}"
  { echo "# args: $args"; cat "$tmp/$name.txt"; } >"$dest/$name.txt"
done
ls -l "$dest"
