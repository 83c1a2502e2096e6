#!/usr/bin/env bash
# bench/watch.sh: the live index on the Linux 6.1 tree: save-to-searchable
# latency for single-file edits (p50/p95 over EDITS edits, as a user sees it:
# from the write until a search finds the new line), the time to absorb a
# mass change of MASS files, and the watcher's RSS.
#
#   bench/watch.sh [BUILD_DIR] [EDITS] [MASS]     (defaults: build 200 5000)
#
# BUILD_DIR must be configured with -DLODE_BENCH=ON. The tree is restored
# from the tarball's copy afterwards (the edits append comment lines).
# Writes bench/results/watch-<date>.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-$here/../build}")
edits=${2:-200}
mass=${3:-5000}
. "$here/lib.sh"
linux_tree
mkdir -p "$here/results"
"$build/lode" index "$src" > /dev/null
# a pristine copy of what the edits touch: every .c file
backup=$(mktemp -d)
trap 'rm -rf "$backup"' EXIT
(cd "$src" && find . -name '*.c' -print0 | cpio -0pdm --quiet "$backup")

"$build/lode" watch --quiet "$src" 2> "$work/watch.err" &
wpid=$!
while [ ! -f "$src/.lode/watch.json" ]; do sleep 0.1; done
"$build/watch_latency" "$src" "$edits" "$mass" > "$work/watch.json"
rss_kb=$(awk '/VmHWM/ {print $2}' /proc/$wpid/status)
kill -TERM $wpid
wait $wpid
(cd "$backup" && find . -name '*.c' -print0 | cpio -0pdmu --quiet "$src")
"$build/lode" index "$src" > /dev/null

python3 - "$here/results/watch-$(date +%Y%m%d).json" "$work/watch.json" "$rss_kb" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
r["watcher_peak_rss_mb"] = int(sys.argv[3]) / 1024
json.dump(r, open(sys.argv[1], "w"), indent=2)
print("Linux 6.1 tree, `lode watch` in its own process, hash embedder")
print()
print("| measure | value | target |")
print("|---|---|---|")
print(f"| save-to-searchable, p50 (n={r['edits']}) | {r['p50_ms']:.0f} ms | ≤ 100 ms |")
print(f"| save-to-searchable, p95 | {r['p95_ms']:.0f} ms | ≤ 250 ms |")
print(f"| mass change of {r['mass_files']} files: written in | {r['mass_write_s']:.1f} s | |")
print(f"| mass change: all indexed after | {r['mass_indexed_s']:.1f} s | |")
print(f"| watcher peak RSS | {r['watcher_peak_rss_mb']:.0f} MB | |")
PY
