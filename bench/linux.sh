#!/usr/bin/env bash
# bench/linux.sh: index the Linux kernel source with lode, side by side with
# universal-ctags (indexing) and ripgrep (search), in one run.
#
#   bench/linux.sh [LODE_BINARY]        (default: build/lode)
#
# Needs Debian's linux-source-6.1, universal-ctags, ripgrep (installed if
# missing). The tree is extracted once to $LODE_BENCH_DIR (default
# /tmp/lode-bench). Caches are warm for every tool alike: each tool's timed
# run follows an untimed read of the whole tree. Prints a Markdown report
# and writes bench/results/linux-<date>.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lode=$(realpath "${1:-$here/../build/lode}")
. "$here/lib.sh"
linux_tree universal-ctags ripgrep
mkdir -p "$here/results"

files=$(find "$src" -type f | wc -l)
mbytes=$(du -sm --apparent-size "$src" | cut -f1)
warm
timed ctags ctags -R -f "$work/tags" "$src"
rm -rf "$src/.lode"
warm
timed cold "$lode" index "$src" --model none --json
timed noop "$lode" index "$src" --model none --json
lode_files=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["files"]["indexed"])' "$work/cold.out")
lode_chunks=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chunks"]["total"])' "$work/cold.out")
index_mb=$(du -sm "$src/.lode" | cut -f1)

# Search: identifiers and phrases a developer would look for.
queries=(
  "spin_lock_irqsave" "kmalloc_array" "ext4_fill_super" "tcp_v4_connect" "copy_from_user"
  "schedule_timeout_interruptible" "pci_enable_device" "mutex_lock_interruptible" "skb_put_data"
  "dma_alloc_coherent" "netif_carrier_off" "of_property_read_u32" "devm_kzalloc" "list_for_each_entry_safe"
  "request_threaded_irq" "kobject_uevent" "vfs_fsync_range" "blk_mq_start_request" "usb_submit_urb"
  "page fault handler" "memory cgroup charge" "tcp congestion window" "file system superblock"
  "interrupt affinity mask" "usb device descriptor"
)
lode_ms=()
lode_took=()
rg_ms=()
warm
for q in "${queries[@]}"; do
  t0=$(date +%s%N)
  out=$("$lode" search --repo "$src" --json -k 10 "$q")
  t1=$(date +%s%N)
  lode_ms+=($(( (t1 - t0) / 1000 )))
  lode_took+=("$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["took_ms"])' <<< "$out")")
  # ripgrep's nearest equivalent: the words in order on a line, any case
  pat=$(sed 's/ /.*/g' <<< "$q")
  t0=$(date +%s%N)
  rg -i -n --no-messages "$pat" "$src" > /dev/null || true
  t1=$(date +%s%N)
  rg_ms+=($(( (t1 - t0) / 1000 )))
done

python3 - "$here/results/linux-$(date +%Y%m%d).json" <<EOF
import json, statistics, sys
lode_us = [${lode_ms[*]/%/,}]
took = [${lode_took[*]/%/,}]
rg_us = [${rg_ms[*]/%/,}]
p50 = lambda v: statistics.median(v)
r = {
  "tree": {"files": $files, "mb": $mbytes},
  "ctags": {"seconds": $ctags_s, "rss_mb": $ctags_kb / 1024},
  "lode_cold": {"seconds": $cold_s, "rss_mb": $cold_kb / 1024, "files": $lode_files, "chunks": $lode_chunks,
                "index_mb": $index_mb},
  "lode_noop": {"seconds": $noop_s, "rss_mb": $noop_kb / 1024},
  "search": {"queries": len(lode_us), "lode_process_p50_ms": p50(lode_us) / 1000,
             "lode_took_p50_ms": p50(took), "lode_took_max_ms": max(took),
             "rg_p50_ms": p50(rg_us) / 1000},
}
json.dump(r, open(sys.argv[1], "w"), indent=2)
c, l, n, s = r["ctags"], r["lode_cold"], r["lode_noop"], r["search"]
print(f"Linux 6.1 source: {r['tree']['files']} files, {r['tree']['mb']} MB (warm page cache, $(nproc) cores)")
print()
print("| measure | lode | peer | ratio (lode/peer) |")
print("|---|---|---|---|")
print(f"| cold index, s | {l['seconds']:.1f} | ctags -R {c['seconds']:.1f} | {l['seconds']/c['seconds']:.2f} |")
print(f"| peak RSS, MB | {l['rss_mb']:.0f} | ctags -R {c['rss_mb']:.0f} | {l['rss_mb']/c['rss_mb']:.2f} |")
print(f"| files/s, MB/s | {l['files']/l['seconds']:.0f}, {r['tree']['mb']/l['seconds']:.1f} | {r['tree']['files']/c['seconds']:.0f}, {r['tree']['mb']/c['seconds']:.1f} | |")
print(f"| no-op re-index, s | {n['seconds']:.2f} | | |")
print(f"| search p50, ms (process) | {s['lode_process_p50_ms']:.1f} | rg {s['rg_p50_ms']:.0f} | {s['lode_process_p50_ms']/s['rg_p50_ms']:.3f} |")
print(f"| search p50, ms (in-process took_ms) | {s['lode_took_p50_ms']:.1f} (max {s['lode_took_max_ms']:.0f}) | | |")
print()
print(f"lode: {l['files']} files indexed, {l['chunks']} chunks, index {l['index_mb']} MB")
EOF
echo "skips: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["skipped"])' "$work/cold.out")"
