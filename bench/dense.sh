#!/usr/bin/env bash
# bench/dense.sh: what dense vectors cost and how fast hybrid search is, on
# the Linux 6.1 tree, in one run:
#
#   - cold index without vectors (--model none) vs with the built-in hash
#     embedder (an empty vector cache: every chunk embedded), and again with
#     a warm cache (--rebuild: every vector from the cache);
#   - RAM of the loaded vector index, bytes per chunk, for the automatic
#     choice (IVF with 8-bit codes at this size) and exact Flat;
#   - in-process search latency p50/p95 (bench/search_latency.c, one
#     reader, queries back to back, as `lode serve` runs them) for lexical,
#     dense and hybrid, and the same hybrid queries through the CLI process.
#
#   bench/dense.sh [BUILD_DIR]       (default: build; configured with -DLODE_BENCH=ON)
#
# Writes bench/results/dense-<date>.json and prints a Markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-$here/../build}")
lode=$build/lode
lat=$build/search_latency
[ -x "$lat" ] && [ -x "$build/vector_recall" ] || { echo "configure $build with -DLODE_BENCH=ON and build it" >&2; exit 1; }
. "$here/lib.sh"
linux_tree
mkdir -p "$here/results"
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export XDG_CACHE_HOME=$cache

rm -rf "$src/.lode"
warm
timed lexical "$lode" index "$src" --model none --json
rm -rf "$src/.lode"
warm
timed hash "$lode" index "$src" --model hash --json
warm
timed cached "$lode" index "$src" --model hash --rebuild --json
auto_factory=$("$lode" status --repo "$src" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["vector_index"])')
chunks=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chunks"]["total"])' "$work/hash.out")
auto_file=$(stat -c %s "$src"/.lode/vectors.*.faiss)

queries=$work/dense-queries.txt
cat > "$queries" <<'Q'
spin_lock_irqsave
kmalloc_array
ext4_fill_super
tcp_v4_connect
copy_from_user
schedule_timeout_interruptible
pci_enable_device
mutex_lock_interruptible
dma_alloc_coherent
devm_kzalloc
list_for_each_entry_safe
request_threaded_irq
blk_mq_start_request
usb_submit_urb
page fault handler
memory cgroup charge
tcp congestion window
file system superblock
interrupt affinity mask
usb device descriptor
how does the scheduler pick the next task to run
where are network packets checksummed before transmission
free the memory of a socket buffer when the reference count drops
allocate a DMA buffer that the device and the CPU can both see
parse the kernel command line for boot parameters
Q
warm
for m in lexical dense hybrid; do
  "$lat" "$src" $m "$queries" 5 > "$work/lat-$m.json"
done
cli_ms=()
while read -r q; do
  t0=$(date +%s%N)
  "$lode" search --repo "$src" --json -k 10 "$q" > /dev/null
  t1=$(date +%s%N)
  cli_ms+=($(( (t1 - t0) / 1000 )))
done < "$queries"

# exact Flat over the same chunks (vectors from the cache), then recall@10
# of the automatic choice against it, for several nprobe
cp "$src"/.lode/vectors.*.faiss "$work/auto.faiss"
timed flat "$lode" index "$src" --vectors Flat --json
flat_file=$(stat -c %s "$src"/.lode/vectors.*.faiss)
cp "$src"/.lode/vectors.*.faiss "$work/flat.faiss"
"$build/vector_recall" "$work/flat.faiss" "$work/auto.faiss" "$queries" 4 8 16 32 64 > "$work/recall.json"
"$lode" index "$src" --vectors auto > /dev/null
rm -f "$work/flat.faiss" "$work/auto.faiss"

python3 - "$here/results/dense-$(date +%Y%m%d).json" <<EOF
import json, statistics, sys
w = "$work"
load = lambda n: json.load(open(f"{w}/{n}"))
cli = sorted([${cli_ms[*]/%/,}])
r = {
  "tree": "linux-6.1", "cores": $(nproc), "chunks": $chunks,
  "index_s": {"lexical_only": $lexical_s, "hash_cold_cache": $hash_s, "hash_warm_cache": $cached_s, "flat_switch": $flat_s},
  "index_rss_mb": {"lexical_only": $lexical_kb / 1024, "hash_cold_cache": $hash_kb / 1024},
  "hash_run": load("hash.out")["vectors"], "cached_run": load("cached.out")["vectors"],
  "vectors": {"auto_factory": "$auto_factory", "auto_file_bytes": $auto_file, "flat_file_bytes": $flat_file},
  "latency": {m: load(f"lat-{m}.json") for m in ("lexical", "dense", "hybrid")},
  "recall": load("recall.json"),
  "cli_hybrid_ms": {"p50": cli[len(cli) // 2] / 1000, "p95": cli[int(len(cli) * 0.95)] / 1000},
}
json.dump(r, open(sys.argv[1], "w"), indent=2)
i, c, v, l = r["index_s"], r["chunks"], r["vectors"], r["latency"]
print(f"Linux 6.1: {c} chunks, {r['cores']} cores, warm page cache")
print()
print("| measure | value | peer | ratio |")
print("|---|---|---|---|")
print(f"| cold index with hash vectors, s | {i['hash_cold_cache']:.1f} | lexical only {i['lexical_only']:.1f} | {i['hash_cold_cache']/i['lexical_only']:.2f} |")
print(f"| rebuild, vectors from the cache, s | {i['hash_warm_cache']:.1f} | lexical only {i['lexical_only']:.1f} | {i['hash_warm_cache']/i['lexical_only']:.2f} |")
print(f"| peak RSS indexing, MB | {r['index_rss_mb']['hash_cold_cache']:.0f} | lexical only {r['index_rss_mb']['lexical_only']:.0f} | {r['index_rss_mb']['hash_cold_cache']/r['index_rss_mb']['lexical_only']:.2f} |")
print(f"| vector index ({v['auto_factory']}), bytes/chunk on disk | {v['auto_file_bytes']/c:.0f} | Flat {v['flat_file_bytes']/c:.0f} | {v['auto_file_bytes']/v['flat_file_bytes']:.2f} |")
for m in ("lexical", "dense", "hybrid"):
    print(f"| {m} search in-process p50 / p95, ms | {l[m]['p50_ms']:.1f} / {l[m]['p95_ms']:.1f} | | |")
rc = r["recall"]
for run in rc["runs"]:
    print(f"| {rc['approx']} nprobe {run['nprobe']}: recall@10 vs exact, search p50 | {run['recall_at_10']:.3f}, {run['p50_ms']:.1f} ms | Flat (exact) {rc['exact_mean_ms']:.1f} ms | |")
print(f"| vectors in RAM, bytes/chunk | {rc['approx_bytes']/c:.0f} ({rc['approx']}) | Flat {rc['exact_bytes']/c:.0f} | {rc['approx_bytes']/rc['exact_bytes']:.2f} |")
print(f"| hybrid search via the CLI process p50 / p95, ms | {r['cli_hybrid_ms']['p50']:.0f} / {r['cli_hybrid_ms']['p95']:.0f} | in-process {l['hybrid']['p50_ms']:.1f} | |")
print(f"| reader RSS after loading, MB (hybrid) | {l['hybrid']['rss_kb']/1024:.0f} | | |")
EOF
