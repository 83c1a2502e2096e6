#!/usr/bin/env bash
# bench/swebench.sh: file localization on the SWE-bench Lite dev split
# (shared/bench/swebench-dev), lode beside Xapian BM25 in one run.
#
#   SWB_MIRRORS=/path/to/mirrors bench/swebench.sh [LODE_BINARY]
#
# SWB_MODES picks lode's systems: a mode, or hybrid with parts switched off
# (hybrid-no-graph, see `lode search --help`); the default is every mode
# and one ablation row per part of hybrid ranking. SWB_WORK (default
# /tmp/swebench-dev) is where the trees are extracted.
#
# SWB_MIRRORS holds bare full-history mirrors laid out as OWNER+NAME/repo
# (see shared/bench/swebench-dev/README.md). The evaluator is copied to a
# temp dir because shared/ is read-only; results land in bench/results/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lode=$(realpath "${1:-$here/../build/lode}")
shared=${LODE_SHARED:-$here/../../shared}/bench/swebench-dev
: "${SWB_MIRRORS:?set SWB_MIRRORS to the folder holding OWNER+NAME/repo mirrors}"
export SWB_MIRRORS
dpkg-query -W -f='${Status}' python3-xapian 2>/dev/null | grep -q "ok installed" ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-xapian >/dev/null; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$shared"/. "$work"/
chmod -R u+w "$work"
cd "$work"
# lode's index lives inside each tree; prepare.py checks trees file by file
trees=${SWB_TREES:-${SWB_WORK:-/tmp/swebench-dev}/trees}
rm -rf "$trees"/*/.lode
/usr/bin/python3 prepare.py >/dev/null
# One index per tree (the setup of the first run); each mode then searches it.
modes=${SWB_MODES:-hybrid hybrid-no-query hybrid-no-symbol hybrid-no-path hybrid-no-aside hybrid-no-graph hybrid-no-dense hybrid-no-filesum lexical dense}
setup="rm -rf {tree}/.lode; '$lode' index {tree} >/dev/null"
names=()
for m in $modes; do
  /usr/bin/python3 eval.py --name "lode-$m" --quiet --setup "$setup" \
    --cmd "'$lode' search --repo {tree} --json --files -k 50 --mode $m - < {query_file}"
  names+=("lode-$m")
  setup="test -d {tree}/.lode"
done
B='/usr/bin/python3 {bench}/baselines.py'
/usr/bin/python3 eval.py --name xapian-bm25 --quiet --setup "$B xapian-index {tree}" \
  --cmd "$B xapian-search {tree} {query_file}"
rm -rf "$trees"/*/.lode
mkdir -p "$here/results"
for n in "${names[@]}" xapian-bm25; do
  cp "results/$n.json" "$here/results/swebench-dev-$n-$(date +%Y%m%d).json"
done
