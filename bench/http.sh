#!/usr/bin/env bash
# bench/http.sh: `lode serve` under load on the Linux 6.1 index: wrk
# against POST /v1/search (a Lua script rotating realistic queries) at 1, 8
# and 64 connections, each for DURATION seconds (a request may take 10 s
# before wrk counts it an error: 64 connections queue on 2 cores); throughput, p50/p99
# latency, errors and non-2xx answers, the server's RSS under load; and the
# same queries through the CLI (`lode search --json`, one process each) in
# the same run.
#
#   bench/http.sh [BUILD_DIR] [DURATION]      (defaults: build 20)
#
# Writes bench/results/http-<date>.json and prints a Markdown table.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-$here/../build}")
duration=${2:-20}
. "$here/lib.sh"
linux_tree wrk
mkdir -p "$here/results"
"$build/lode" index "$src" > /dev/null

lua=$work/search.lua
cat > "$lua" <<'LUA'
local queries = {
  "spin_lock_irqsave", "kmalloc_array", "ext4_fill_super", "tcp_v4_connect", "copy_from_user",
  "schedule_timeout_interruptible", "pci_enable_device", "mutex_lock_interruptible", "dma_alloc_coherent",
  "devm_kzalloc", "list_for_each_entry_safe", "request_threaded_irq", "blk_mq_start_request",
  "usb_submit_urb", "page fault handler", "memory cgroup charge", "tcp congestion window",
  "file system superblock", "interrupt affinity mask", "usb device descriptor",
  "how does the scheduler pick the next task to run", "free the memory of a socket buffer",
  "allocate a DMA buffer that the device and the CPU can both see", "parse the kernel command line",
}
local i = 0
request = function()
  i = i + 1
  local body = string.format('{"query":"%s","k":10}', queries[(i % #queries) + 1])
  return wrk.format("POST", "/v1/search", {["Content-Type"] = "application/json"}, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "rps": %.1f, "p50_ms": %.2f, "p99_ms": %.2f, "non2xx": %d, "errors": %d}\n',
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

"$build/lode" serve "$src" --port 0 2> "$work/serve.err" &
spid=$!
trap 'kill $spid 2>/dev/null || true' EXIT
url=
for _ in $(seq 1 600); do
  url=$(grep -o 'http://[0-9.:]*' "$work/serve.err" || true)
  [ -n "$url" ] && break
  sleep 0.5
done
[ -n "$url" ] || { cat "$work/serve.err" >&2; exit 1; }
# warm: vectors loaded, pages cached
wrk -t1 -c1 -d3s -s "$lua" "$url" > /dev/null
for c in 1 8 64; do
  wrk -t$(( c < 2 ? 1 : 2 )) -c$c -d${duration}s --timeout 10s --latency -s "$lua" "$url" | tail -1 > "$work/wrk-$c.json"
done
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$spid/status)
kill -TERM $spid
wait $spid || true
trap - EXIT

cli_ms=()
for q in "spin_lock_irqsave" "page fault handler" "tcp congestion window" "ext4_fill_super" \
         "allocate a DMA buffer that the device and the CPU can both see" "usb_submit_urb" \
         "memory cgroup charge" "copy_from_user" "parse the kernel command line" "devm_kzalloc"; do
  t0=$(date +%s%N)
  "$build/lode" search --repo "$src" --json "$q" > /dev/null
  t1=$(date +%s%N)
  cli_ms+=($(( (t1 - t0) / 1000 )))
done

python3 - "$here/results/http-$(date +%Y%m%d).json" <<EOF
import json, statistics, sys
w = "$work"
runs = {c: json.load(open(f"{w}/wrk-{c}.json")) for c in (1, 8, 64)}
cli = sorted([${cli_ms[*]/%/,}])
r = {"tree": "linux-6.1", "cores": $(nproc), "duration_s": $duration, "wrk": runs,
     "server_peak_rss_mb": $rss_kb / 1024, "cli_p50_ms": statistics.median(cli) / 1000}
json.dump(r, open(sys.argv[1], "w"), indent=2)
print(f"POST /v1/search (hybrid, k=10) on the Linux 6.1 index, {r['cores']} cores, {r['duration_s']} s per row")
print()
print("| connections | requests/s | p50 ms | p99 ms | errors | non-2xx |")
print("|---|---|---|---|---|---|")
for c, x in runs.items():
    print(f"| {c} | {x['rps']:.0f} | {x['p50_ms']:.1f} | {x['p99_ms']:.1f} | {x['errors']} | {x['non2xx']} |")
print()
print(f"server peak RSS {r['server_peak_rss_mb']:.0f} MB; the same queries through the CLI (a process each): p50 {r['cli_p50_ms']:.0f} ms")
EOF
