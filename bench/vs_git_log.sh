#!/usr/bin/env bash
# Mining benchmark against the git program: mlsteward's full mine and an incremental one of 10
# new commits, side by side with `git log --numstat --no-renames` (the diff work every
# contribution miner does) on the same synthetic repository, in one run. Reports medians,
# peak RSS and ratios.
#
#   bench/vs_git_log.sh [COMMITS] [AUTHORS] [ASSETS] [RUNS] [MAX_FILES] [TOP_N]
#       defaults: 20000 commits, 50 authors, no catalog, 3 runs, 1-4 files per commit,
#       the default top_n
#   bench/vs_git_log.sh 200000 5000 100 3     the wide repository: 100 catalog assets
#   bench/vs_git_log.sh 200000 5000 100 3 3 20     issue 19's shape: 1-3 files, top_n 20
#
# BEFORE_BIN=path also measures that (earlier) build the same way, in the same run. The
# repository is generated into $BENCH_WORK (default: a new temporary directory) and reused
# when it is there.
# Needs: cargo, python3, git, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
COMMITS=${1:-20000}
AUTHORS=${2:-50}
ASSETS=${3:-0}
RUNS=${4:-3}
MAX_FILES=${5:-4}
TOP_N=${6:-}
WORK=${BENCH_WORK:-$(mktemp -d /tmp/mlsteward-vsgit.XXXXXX)}

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/mlsteward

repo=$WORK/repo
shape="$COMMITS $AUTHORS $ASSETS $MAX_FILES"
if [ "$(cat "$WORK/shape" 2>/dev/null)" != "$shape" ]; then
  rm -rf "$repo" && mkdir -p "$repo"
  git -C "$repo" init -q -b main
  python3 bench/make_repo.py "$COMMITS" 1 "$AUTHORS" "$ASSETS" 0 "$MAX_FILES" | git -C "$repo" fast-import --quiet
  git -C "$repo" reset -q --hard main
  echo "$shape" > "$WORK/shape"
  rm -f "$WORK/tip"
fi
# A rerun starts from the generated history (an earlier run appended 10 commits).
git -C "$repo" update-ref refs/heads/main "$(cat "$WORK/tip" 2>/dev/null || git -C "$repo" rev-parse main)"
git -C "$repo" rev-parse main > "$WORK/tip"
git -C "$repo" reset -q --hard main
{
  if [ -n "$TOP_N" ]; then printf 'recognition:\n  top_n: %s\n' "$TOP_N"; fi
  printf 'sources:\n  - name: bench\n    type: git\n    path: repo\n'
  if [ "$ASSETS" -gt 0 ]; then
    printf 'catalog:\n'
    for k in $(seq 0 $((ASSETS - 1))); do
      printf '  - id: a%s\n    kind: library\n    repository: bench\n    paths: ["assets/a%s/**"]\n' "$k" "$k"
    done
  fi
} > "$WORK/c.yaml"

source bench/lib.sh
# collection NAME: the last run's collection time (mining and storing, without deriving the
# exposition), from its log line, appended as "NAME_collection seconds 0".
collection() {
  local secs
  secs=$(grep -o 'duration_seconds=[0-9.]*' "$WORK/stderr.out" | tail -1 | cut -d= -f2)
  echo "${1}_collection $secs 0" >> "$WORK/results"
}

: > "$WORK/results"
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/m$run"
  measure mlsteward_full "$BIN" collect-once --config.file "$WORK/c.yaml" --storage.path "$WORK/m$run/db.sqlite" --log.level info
  collection mlsteward_full
  measure git_full git -C "$repo" log --numstat --no-renames --format=%H%n%an%n%ae%n%B main
  if [ -n "${BEFORE_BIN:-}" ]; then
    rm -rf "$WORK/b$run"
    measure before_full "$BEFORE_BIN" collect-once --config.file "$WORK/c.yaml" --storage.path "$WORK/b$run/db.sqlite" --log.level info
    collection before_full
  fi
done
base=$(git -C "$repo" rev-parse main)
python3 bench/make_repo.py 10 $((COMMITS + 1)) "$AUTHORS" "$ASSETS" 0 "$MAX_FILES" | git -C "$repo" fast-import --quiet
git -C "$repo" reset -q --hard main
for run in $(seq "$RUNS"); do
  measure mlsteward_incremental "$BIN" collect-once --config.file "$WORK/c.yaml" --storage.path "$WORK/m$run/db.sqlite" --log.level info
  collection mlsteward_incremental
  if [ -n "${BEFORE_BIN:-}" ]; then
    measure before_incremental "$BEFORE_BIN" collect-once --config.file "$WORK/c.yaml" --storage.path "$WORK/b$run/db.sqlite" --log.level info
    collection before_incremental
  fi
  measure git_incremental git -C "$repo" log --numstat --no-renames --format=%H%n%an%n%ae%n%B "$base..main"
done

python3 - "$WORK/results" "$COMMITS" "$AUTHORS" "$ASSETS" "$RUNS" "$MAX_FILES" "${TOP_N:-default}" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, secs, rss = line.split()
    rows.setdefault(name, []).append((float(secs), int(rss)))
med = lambda name, i: statistics.median(r[i] for r in rows[name])
_, commits, authors, assets, runs, max_files, top_n = sys.argv[1:]
print(f"Synthetic repository: {commits} commits, {authors} authors, {assets} catalog assets, "
      f"1-{max_files} files per commit, top_n {top_n}; {runs} runs each, medians.\n")
print("| case | mlsteward s | git log s | time ratio | mlsteward max RSS MiB | git log max RSS MiB | memory ratio |")
print("|---|---|---|---|---|---|---|")
builds = [("mlsteward", "")] + ([("before", " (BEFORE_BIN)")] if "before_full" in rows else [])
for case in ("full", "incremental"):
    for build, label in builds:
        ms, gs = med(f"{build}_{case}", 0), med(f"git_{case}", 0)
        mr, gr = med(f"{build}_{case}", 1) / 1024, med(f"git_{case}", 1) / 1024
        print(f"| {case}{label} | {ms:.2f} | {gs:.2f} | {ms / max(gs, 0.005):.2f} | {mr:.0f} | {gr:.0f} | {mr / gr:.2f} |")
print("\nEvery run (s): " + "; ".join(f"{k} " + ", ".join(f"{r[0]:.2f}" for r in v)
                                     for k, v in rows.items() if not k.endswith("_collection")))
full = med("mlsteward_full", 0)
inc = med("mlsteward_incremental", 0)
full_c = med("mlsteward_full_collection", 0)
inc_c = med("mlsteward_incremental_collection", 0)
print(f"\nmlsteward collection (mining and storing, without deriving): full {full_c:.2f} s, "
      f"incremental {inc_c:.3f} s = {inc_c / full_c:.2%} of the full one.")
print(f"Whole command (with deriving and rendering the exposition): incremental {inc:.2f} s = "
      f"{inc / full:.1%} of the full one.")
PY
