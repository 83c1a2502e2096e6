#!/usr/bin/env bash
# bench/pack.sh: context packing on the SWE-bench Lite dev split
# (shared/bench/swebench-dev): how often the lines the real fix changed fall
# inside the packed context, tokens used, packing time.
#
#   SWB_MIRRORS=/work/.mirror bench/pack.sh [LODE_BINARY] [BUDGET]
#
# For each instance: its tree at base_commit (prepare.py, into a private
# folder), `lode index`, then `lode context --budget BUDGET --json -` with the
# problem statement as the query. The gold patch is not in dev.jsonl; it is
# recovered from the mirror as the squash-merge commit whose subject ends in
# "(#N)" (N from the instance id) and that touches a gold file, and its hunks
# are taken as `git diff -U0 base_commit fix -- gold_files` (old-side line
# ranges; an insertion counts as the line it follows). Instances without such
# a commit are listed and left out.
#
# Per instance: file hit (a packed block from a gold file), hunk hit (a full
# block covers at least one changed line), all hunks (every hunk touched),
# line recall (changed lines inside full blocks / changed lines). Results go
# to bench/results/pack-DATE.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lode=$(realpath "${1:-$here/../build-rel/lode}")
budget=${2:-16000}
shared=${LODE_SHARED:-$here/../../shared}/bench/swebench-dev
: "${SWB_MIRRORS:?set SWB_MIRRORS to the folder holding OWNER+NAME/repo mirrors}"
export SWB_MIRRORS
work=${SWB_PACK_WORK:-/tmp/lode-pack-bench}
export SWB_WORK=$work SWB_TREES=$work/trees
mkdir -p "$work" "$here/results"
rm -rf "$work/harness" && mkdir -p "$work/harness" && cp -r "$shared"/. "$work/harness/"
chmod -R u+w "$work/harness"
(cd "$work/harness" && /usr/bin/python3 prepare.py >/dev/null)
out="$here/results/pack-$(date +%Y%m%d).json"
/usr/bin/python3 - "$lode" "$budget" "$work/harness" "$out" <<'EOF'
import json, os, re, statistics, subprocess, sys, time
lode, budget, harness, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
sys.path.insert(0, harness)
import common

def git(mirror, *args):
    return subprocess.run(["git", "--git-dir", mirror, *args], capture_output=True, text=True,
                          errors="replace").stdout

def gold_hunks(inst):
    mirror = common.mirror_dir(inst["repo"])
    if not mirror:
        return None, "no mirror"
    num = inst["instance_id"].rsplit("-", 1)[1]
    log = git(mirror, "log", "--all", "--format=%H %s", "--fixed-strings", f"--grep=(#{num})")
    fix = None
    for line in log.splitlines():
        h, subj = line.split(" ", 1)
        if not subj.rstrip().endswith(f"(#{num})"):
            continue
        files = git(mirror, "show", "--format=", "--name-only", h).split()
        if any(g in files for g in inst["gold_files"]):
            fix = h
            break
    if not fix:
        return None, "fix commit not found"
    diff = git(mirror, "diff", "-U0", inst["base_commit"], fix, "--", *inst["gold_files"])
    hunks, path = [], None
    for line in diff.splitlines():
        if line.startswith("--- "):
            path = line[6:] if line.startswith("--- a/") else None
        m = re.match(r"@@ -(\d+)(?:,(\d+))? ", line)
        if m and path:
            a, n = int(m.group(1)), int(m.group(2) or 1)
            lines = set(range(a, a + n)) if n else {max(a, 1)}
            hunks.append((path, lines))
    return (fix, hunks), None

rows, skipped = [], []
for inst in common.load_instances():
    tree = common.tree_dir(inst["instance_id"])
    if not os.path.isdir(tree):
        skipped.append((inst["instance_id"], "no tree")); continue
    g, why = gold_hunks(inst)
    if not g or not g[1]:
        skipped.append((inst["instance_id"], why or "no hunks")); continue
    fix, hunks = g
    subprocess.run(["rm", "-rf", os.path.join(tree, ".lode")], check=True)
    subprocess.run([lode, "index", tree], check=True, capture_output=True)
    t0 = time.perf_counter()
    r = subprocess.run([lode, "context", "--repo", tree, "--budget", str(budget), "--json", "-"],
                       input=inst["problem_statement"], capture_output=True, text=True, check=True)
    wall_ms = (time.perf_counter() - t0) * 1e3
    j = json.loads(r.stdout)
    assert j["tokens"] <= j["budget"], "budget exceeded"
    full = {}
    files = set()
    for b in j["blocks"]:
        files.add(b["path"])
        if not b["outline"]:
            full.setdefault(b["path"], set()).update(range(b["start_line"], b["end_line"] + 1))
    changed = sum(len(l) for _, l in hunks)
    covered = sum(len(l & full.get(p, set())) for p, l in hunks)
    hunk_hits = [bool(l & full.get(p, set())) for p, l in hunks]
    rows.append({
        "instance_id": inst["instance_id"], "fix": fix, "hunks": len(hunks),
        "file_hit": any(p in files for p, _ in hunks),
        "hunk_hit": any(hunk_hits), "all_hunks": all(hunk_hits),
        "line_recall": covered / changed if changed else 0.0,
        "tokens": j["tokens"], "blocks": len(j["blocks"]),
        "outlines": sum(1 for b in j["blocks"] if b["outline"]),
        "pack_ms": j["took_ms"], "wall_ms": wall_ms,
    })
    subprocess.run(["rm", "-rf", os.path.join(tree, ".lode")], check=True)

n = len(rows)
def frac(k): return sum(1 for r in rows if r[k]) / n if n else 0.0
summary = {
    "budget": budget, "tokenizer": "estimate", "instances": n, "skipped": skipped,
    "file_hit": frac("file_hit"), "hunk_hit": frac("hunk_hit"), "all_hunks": frac("all_hunks"),
    "line_recall_mean": statistics.mean(r["line_recall"] for r in rows) if n else 0.0,
    "tokens_mean": statistics.mean(r["tokens"] for r in rows) if n else 0,
    "tokens_max": max((r["tokens"] for r in rows), default=0),
    "pack_ms_p50": statistics.median(r["pack_ms"] for r in rows) if n else 0.0,
    "wall_ms_p50": statistics.median(r["wall_ms"] for r in rows) if n else 0.0,
}
print(f"{'instance':<40} {'hunks':>5} {'file':>5} {'hunk':>5} {'all':>5} {'recall':>7} {'tokens':>7} {'blocks':>6} {'ms':>7}")
for r in rows:
    print(f"{r['instance_id']:<40} {r['hunks']:>5} {int(r['file_hit']):>5} {int(r['hunk_hit']):>5} "
          f"{int(r['all_hunks']):>5} {r['line_recall']:>7.2f} {r['tokens']:>7} {r['blocks']:>6} {r['pack_ms']:>7.1f}")
print(f"\nn={n} budget={budget} (estimate tokenizer): gold file in context {summary['file_hit']:.3f}, "
      f"a changed line in context {summary['hunk_hit']:.3f}, every hunk {summary['all_hunks']:.3f}, "
      f"line recall {summary['line_recall_mean']:.3f}; tokens mean {summary['tokens_mean']:.0f} "
      f"max {summary['tokens_max']}; pack p50 {summary['pack_ms_p50']:.1f} ms "
      f"(process wall p50 {summary['wall_ms_p50']:.1f} ms)")
for s in skipped:
    print("skipped:", *s)
with open(out, "w") as f:
    json.dump({"summary": summary, "rows": rows}, f, indent=1)
print("wrote", out)
EOF
