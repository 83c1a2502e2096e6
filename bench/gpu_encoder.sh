#!/usr/bin/env bash
# bench/gpu_encoder.sh: lode's CUDA encoder against Hugging Face BertModel
# (sdpa, fp16 batch 128 and fp32 batch 32) on the same token ids, side by
# side, with ratios.
#
#   bench/gpu_encoder.sh [--model minilm-l6|bge-small|bge-base|all] [--seconds S]
#
# For a GPU machine with the CUDA toolkit, cmake, ninja, python3, torch and
# transformers, but none of lode's Debian dev packages: it builds embed/
# standalone (embed/CMakeLists.txt) for this GPU only, first runs the
# CUDA-against-CPU test (set SKIP_TEST=1 to skip it), then both benches.
# Environment: BUILD (default /tmp/lode-embed-gpu), OUT (default
# $BUILD/results), CHUNKS (default 4096), LODE_CUDA_ARCHS (default: this
# GPU's, from nvidia-smi).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-/tmp/lode-embed-gpu}
out=${OUT:-$build/results}
model=all
seconds=3
while [ $# -gt 0 ]; do
  case $1 in
    --model) model=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "usage: $0 [--model NAME|all] [--seconds S]" >&2; exit 1 ;;
  esac
done
mkdir -p "$out"

# this GPU's architecture only (a quicker build); CMake's "native" needs 3.24
archs=${LODE_CUDA_ARCHS:-$( (nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null || true) | head -1 | tr -d '. ')}
cmake -S "$root/embed" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLODE_CUDA=ON \
  -DLODE_CUDA_ARCHS="${archs:-native}" >"$out/cmake.log"
ninja -C "$build" >"$out/build.log"
if [ "${SKIP_TEST:-0}" != 1 ]; then
  ctest --test-dir "$build" --output-on-failure -R test_encoder_cuda
fi

ids=$out/ids.txt
"$build/encoder_bench" --write-ids "$ids" --chunks "${CHUNKS:-4096}"
"$build/encoder_bench" --ids "$ids" --model "$model" --seconds "$seconds" | tee "$out/lode.jsonl"
# the other attention kernels beside the default (wmma): CUDA cores, mma.sync
for attn in simple flash; do
  LODE_CUDA_ATTENTION=$attn "$build/encoder_bench" --ids "$ids" --model "$model" --seconds "$seconds" |
    grep -v '"gemm"' | sed "s/\"bench\":\"profile\",/&\"attention\":\"$attn\",/" | tee -a "$out/lode.jsonl"
done
python3 "$root/bench/encoder_peer.py" --ids "$ids" --model "$model" --seconds "$seconds" | tee "$out/peer.jsonl"

python3 - "$out/lode.jsonl" "$out/peer.jsonl" <<'EOF'
import json, sys
lode = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
peer = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
gemm = next((r for r in lode if r["bench"] == "gemm"), None)
if gemm:
    print(f"\n{gemm['device']}: cuBLAS fp16 GEMM {gemm['tflops']:.1f} TFLOPS")
print(f"{'model':<10} {'impl':<22} {'tokens/s':>10} {'chunks/s':>9} {'VRAM MiB':>9} {'lode x':>7}")
for r in lode:
    if r["bench"] != "encoder":
        continue
    print(f"{r['model']:<10} {r['impl']:<22} {r['tokens_per_s']:>10.0f} {r['chunks_per_s']:>9.1f} "
          f"{r['vram_mib']:>9.0f} {'':>7}  ({r['model_tflops']:.1f} TFLOPS, "
          f"{100 * r['fraction_of_gemm']:.0f}% of the GEMM rate)")
    for p in peer:
        if p["model"] == r["model"]:
            print(f"{'':<10} {p['impl']:<22} {p['tokens_per_s']:>10.0f} {p['chunks_per_s']:>9.1f} "
                  f"{p['vram_mib']:>9.0f} {r['tokens_per_s'] / p['tokens_per_s']:>7.2f}")
# where lode's time goes: device time per stage (CUDA events), one pass
for r in lode:
    if r["bench"] != "profile":
        continue
    print(f"\n{r['model']} ({r.get('attention', 'wmma')} attention): one pass, device {r['device_ms']:.1f} ms "
          f"of {r['wall_ms']:.1f} ms wall")
    for name, st in sorted(r["stages"].items(), key=lambda kv: -kv[1]["ms"]):
        tf = f"  {st['tflops']:.0f} TFLOPS" if "tflops" in st else ""
        print(f"  {name:<14} {st['ms']:>8.2f} ms {100 * st['share']:>5.1f}%{tf}")
EOF
