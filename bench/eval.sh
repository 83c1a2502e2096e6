#!/usr/bin/env bash
# bench/eval.sh: `lode eval` over public repositories of several languages,
# lode beside the plain file-level BM25 baseline (SQLite FTS5 bm25()) in
# one run per repository.
#
#   EVAL_MIRRORS=/work/.mirror bench/eval.sh [LODE_BINARY]
#
# EVAL_MIRRORS holds full-history mirrors laid out as OWNER+NAME/repo (bare
# or not). Each is cloned locally (hard links, no checkout) into a temp dir
# so the mirror is never written to; eval adds one git worktree there.
# EVAL_REPOS (space-separated OWNER+NAME) picks the repositories,
# EVAL_COMMITS the cases per repository (default 50), EVAL_MODES lode's
# systems: modes, or hybrid with parts switched off (hybrid-no-graph, see
# `lode search --help`; default "lexical"). Prints a table and writes
# bench/results/eval-YYYYMMDD.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lode=$(realpath "${1:-$here/../build-rel/lode}")
mirrors=${EVAL_MIRRORS:-/work/.mirror}
repos=${EVAL_REPOS:-"spf13+cobra google+gson BurntSushi+ripgrep expressjs+express git+git marshmallow-code+marshmallow"}
commits=${EVAL_COMMITS:-50}
modes=${EVAL_MODES:-lexical}
[ -x "$lode" ] || { echo "eval.sh: no lode binary at $lode (build it, or pass its path)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mode_args=()
for m in $modes; do mode_args+=(--mode "$m"); done
for r in $repos; do
  src=$mirrors/$r/repo
  [ -d "$src" ] || src=$mirrors/$r
  if [ ! -d "$src" ]; then echo "eval.sh: $r: no mirror under $mirrors, skipped" >&2; continue; fi
  echo "== $r ($(git -C "$src" rev-list --count HEAD) commits)" >&2
  git clone -q --no-checkout "$src" "$work/$r"
  start=$(date +%s)
  "$lode" eval --repo "$work/$r" --commits "$commits" "${mode_args[@]}" --json >"$work/$r.json" 2>"$work/$r.log" ||
    { echo "eval.sh: $r failed:" >&2; tail -3 "$work/$r.log" >&2; continue; }
  echo "   $(( $(date +%s) - start )) s" >&2
done

mkdir -p "$here/results"
out=$here/results/eval-$(date +%Y%m%d).json
/usr/bin/python3 - "$work" "$out" "$commits" $repos <<'EOF'
import json, os, subprocess, sys
work, out, commits, repos = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
langs = {"spf13+cobra": "Go", "google+gson": "Java", "BurntSushi+ripgrep": "Rust",
         "expressjs+express": "JavaScript", "git+git": "C", "marshmallow-code+marshmallow": "Python",
         "pylint-dev+astroid": "Python", "pydicom+pydicom": "Python", "pvlib+pvlib-python": "Python",
         "sqlfluff+sqlfluff": "Python"}
res = {"commits_per_repo": commits, "repos": {}}
for r in repos:
    p = os.path.join(work, r + ".json")
    if not os.path.exists(p) or os.path.getsize(p) == 0:
        continue
    d = json.load(open(p))
    d["language"] = langs.get(r, "?")
    d["repo"] = r
    res["repos"][r] = d
systems = []
for d in res["repos"].values():
    for s in d["summary"]:
        if s not in systems:
            systems.append(s)
avg = {}
for s in systems:
    rows = [d["summary"][s] for d in res["repos"].values() if s in d["summary"]]
    avg[s] = {k: sum(x[k] for x in rows) / len(rows) for k in ("acc@1", "acc@5", "acc@10", "mrr")}
res["mean_over_repos"] = avg
json.dump(res, open(out, "w"), indent=1)
print("| repo | lang | cases | system | Acc@1 | Acc@5 | Acc@10 | MRR | time |")
print("|---|---|---|---|---|---|---|---|---|")
for r, d in res["repos"].items():
    for s in systems:
        x = d["summary"][s]
        print(f"| {r} | {d['language']} | {d['cases']} | {s} | {x['acc@1']:.3f} | {x['acc@5']:.3f} | "
              f"{x['acc@10']:.3f} | {x['mrr']:.3f} | {d['took_ms']/1000:.0f} s |")
for s in systems:
    x = avg[s]
    print(f"| mean | | | {s} | {x['acc@1']:.3f} | {x['acc@5']:.3f} | {x['acc@10']:.3f} | {x['mrr']:.3f} | |")
print(f"\nwritten: {out}", file=sys.stderr)
EOF
