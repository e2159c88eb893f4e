#!/usr/bin/env bash
# Mining benchmark against the git program: mlsteward's full mine and an incremental one of 10
# new commits, side by side with `git log --numstat --no-renames` (the diff work every
# contribution miner does) on the same synthetic repository, in one run. Reports medians,
# peak RSS and ratios.
#
#   bench/vs_git_log.sh [COMMITS] [AUTHORS] [ASSETS] [RUNS]
#       defaults: 20000 commits, 50 authors, no catalog, 3 runs
#   bench/vs_git_log.sh 200000 5000 100 3     the wide repository: 100 catalog assets
#
# Needs: cargo, python3, git, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
COMMITS=${1:-20000}
AUTHORS=${2:-50}
ASSETS=${3:-0}
RUNS=${4:-3}
WORK=${BENCH_WORK:-$(mktemp -d /tmp/mlsteward-vsgit.XXXXXX)}

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/mlsteward

repo=$WORK/repo
rm -rf "$repo" && mkdir -p "$repo"
git -C "$repo" init -q -b main
python3 bench/make_repo.py "$COMMITS" 1 "$AUTHORS" "$ASSETS" | git -C "$repo" fast-import --quiet
git -C "$repo" reset -q --hard main
{
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
done
base=$(git -C "$repo" rev-parse main)
python3 bench/make_repo.py 10 $((COMMITS + 1)) "$AUTHORS" "$ASSETS" | git -C "$repo" fast-import --quiet
git -C "$repo" reset -q --hard main
for run in $(seq "$RUNS"); do
  measure mlsteward_incremental "$BIN" collect-once --config.file "$WORK/c.yaml" --storage.path "$WORK/m$run/db.sqlite" --log.level info
  collection mlsteward_incremental
  measure git_incremental git -C "$repo" log --numstat --no-renames --format=%H%n%an%n%ae%n%B "$base..main"
done

python3 - "$WORK/results" "$COMMITS" "$AUTHORS" "$ASSETS" "$RUNS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, secs, rss = line.split()
    rows.setdefault(name, []).append((float(secs), int(rss)))
med = lambda name, i: statistics.median(r[i] for r in rows[name])
_, commits, authors, assets, runs = sys.argv[1:]
print(f"Synthetic repository: {commits} commits, {authors} authors, {assets} catalog assets; "
      f"{runs} runs each, medians.\n")
print("| case | mlsteward s | git log s | time ratio | mlsteward max RSS MiB | git log max RSS MiB | memory ratio |")
print("|---|---|---|---|---|---|---|")
for case in ("full", "incremental"):
    ms, gs = med(f"mlsteward_{case}", 0), med(f"git_{case}", 0)
    mr, gr = med(f"mlsteward_{case}", 1) / 1024, med(f"git_{case}", 1) / 1024
    print(f"| {case} | {ms:.2f} | {gs:.2f} | {ms / max(gs, 0.005):.2f} | {mr:.0f} | {gr:.0f} | {mr / gr:.2f} |")
full = med("mlsteward_full", 0)
inc = med("mlsteward_incremental", 0)
full_c = med("mlsteward_full_collection", 0)
inc_c = med("mlsteward_incremental_collection", 0)
print(f"\nmlsteward collection (mining and storing, without deriving): full {full_c:.2f} s, "
      f"incremental {inc_c:.3f} s = {inc_c / full_c:.2%} of the full one.")
print(f"Whole command (with deriving and rendering the exposition): incremental {inc:.2f} s = "
      f"{inc / full:.1%} of the full one.")
PY
