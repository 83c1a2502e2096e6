#!/usr/bin/env bash
# bench/gpu_session.sh: everything issue 4 needs a GPU for, in one run on
# the device machine (CUDA toolkit, cmake, ninja, python3 with torch and
# transformers; no Debian dev packages, no network). Results go to $OUT:
# steps.txt (each step's status and, on failure, its log's tail) and
# session.tar.gz (every log and result; the tool brings back 8 files).
#
#   here:    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release && ninja -C build
#            bench/gpu_pack.sh build            # build-gpu/lode-gpu.tar.xz
#   device:  bench/gpu_session.sh               (run with carry: ["build-gpu"])
#
# A session is lent 15 minutes of device time, the machine's start (a
# minute or two) included: the steps' limits add up to 510 s, so one run
# with timeout_s 570 does everything. Steps, each with its own limit; a
# failed step is reported and the next one still runs:
#   1. standalone embed/ build with CUDA for this GPU, its tests (CUDA
#      against the CPU reference; the CPU reference against the fixtures),
#      and the throughput benchmark beside Hugging Face BertModel, with
#      lode's time per stage (bench/gpu_encoder.sh);
#   2. the outside reference: fixtures/encoder/ made again with
#      transformers' BertModel (REFERENCE=transformers), compared with the
#      committed ones (made with torch's TransformerEncoderLayer), and the
#      CPU reference checked against them;
#   3. lode index of the packed Linux slice with a random bge-small model
#      on --device cuda: chunks/s, peak VRAM (nvidia-smi), beside the hash
#      embedder on the same tree.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${OUT:-/tmp/lode-gpu-out}
out=/tmp/lode-gpu-session
build=/tmp/lode-embed-gpu
export root out build
rm -rf "$out" && mkdir -p "$out" "$dest"
status=0

step() { # step NAME SECONDS CMD... (CMD may be a function of this script)
  local name=$1 secs=$2; shift 2
  local t0=$SECONDS
  echo "== $name" | tee -a "$out/steps.txt"
  if timeout "$secs" bash -c '"$@"' step "$@" >"$out/$name.log" 2>&1; then
    echo "   ok ($((SECONDS - t0)) s)" | tee -a "$out/steps.txt"
  else
    echo "   FAILED rc=$? ($((SECONDS - t0)) s); tail:" | tee -a "$out/steps.txt"
    tail -n 20 "$out/$name.log" | sed 's/^/   | /' | tee -a "$out/steps.txt"
    status=1
  fi
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1

# 1. build, CUDA tests, encoder throughput beside the peer
step encoder 270 env BUILD="$build" OUT="$out/encoder" "$root/bench/gpu_encoder.sh" --seconds 2

# 2. transformers' BertModel as the reference
fixtures() {
  local hf=$out/fixtures-hf
  REFERENCE=${REFERENCE:-transformers} bash "$root/scripts/encoder-fixtures.sh" "$build" "$hf/encoder" || return 1
  python3 - "$root/fixtures/encoder" "$hf/encoder" <<'EOF' || return 1
import glob, os, sys
for path in sorted(glob.glob(os.path.join(sys.argv[2], "bert-*.txt"))):
    mine = [l for l in open(os.path.join(sys.argv[1], os.path.basename(path))) if l.startswith("vec ")]
    hf = [l for l in open(path) if l.startswith("vec ")]
    assert len(mine) == len(hf), path
    worst = max(abs(float(x) - float(y)) for a, b in zip(mine, hf) for x, y in zip(a.split()[1:], b.split()[1:]))
    print("%s: %d vectors, BertModel vs TransformerEncoderLayer max |diff| %.2e" % (os.path.basename(path), len(hf), worst))
EOF
  LODE_FIXTURES="$hf" "$build/test_encoder"
}
export -f fixtures
step reference 90 fixtures

# 3. lode index on the GPU, end to end
e2e() {
  local pack=$root/build-gpu/lode-gpu.tar.xz dir=/tmp/lode-e2e
  [ -f "$pack" ] || { echo "no $pack: run bench/gpu_pack.sh here first and carry build-gpu" >&2; return 1; }
  rm -rf "$dir" && mkdir -p "$dir" && tar -C "$dir" -xJf "$pack"
  local bin=$dir/pack/bin tree=$dir/pack/linux
  export LD_LIBRARY_PATH=$dir/pack/lib:${CUDA_HOME:-/usr/local/cuda}/lib64 XDG_CACHE_HOME=$dir/cache
  ldd "$bin/lode" | grep "not found" && return 1
  "$bin/gguf_make_bert" "$dir/bge-small.gguf" --vocab-size 30522 --ctx 512 --layers 12 --embd 384 \
    --heads 12 --ff 1536 --pooling cls --type f16
  (while sleep 0.5; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits; done) > "$out/vram.txt" &
  local sampler=$!
  "$bin/lode" index --json --model "$dir/bge-small.gguf" --device cuda "$tree" \
    > "$out/index-cuda.json" 2> "$out/index-cuda.err"
  local rc=$?
  kill "$sampler"
  tail -n 5 "$out/index-cuda.err"
  rm -rf "$tree/.lode"
  "$bin/lode" index --json --model hash "$tree" > "$out/index-hash.json" 2> "$out/index-hash.err"
  echo "peak VRAM in use (MiB, whole card): $(sort -n "$out/vram.txt" | tail -1)"
  return $rc
}
export -f e2e
step index 150 e2e

# what the reply's tail shows: the tables, the reference check, lode index
{
  echo "== summary"
  sed -n '/cuBLAS fp16 GEMM/,$p' "$out/encoder.log"
  grep -h "max |diff|\|^ok\|^FAIL\|passed" "$out/reference.log"
  for f in "$out"/index-*.json; do
    [ -s "$f" ] && python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); s=j["took_ms"]/1e3; c=j["chunks"]["written"]; print("%s: %d chunks in %.1f s = %.0f chunks/s; %s" % (sys.argv[1].split("/")[-1], c, s, c/s, j.get("embedder","")))' "$f"
  done
  grep -h "peak VRAM" "$out/index.log"
} 2>&1 | tee -a "$out/steps.txt"
cp "$out/steps.txt" "$dest/"
tar -C "$out" --exclude=ids.txt -czf "$dest/session.tar.gz" .
echo "results in $dest"
exit $status
