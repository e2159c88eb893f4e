#!/usr/bin/env bash
# Mining benchmark: mlsteward's git source against GrimoireLab Perceval's git backend, side by
# side in one run on the same synthetic repository. Reports medians and the ratio.
#
#   bench/mine.sh [COMMITS] [RUNS]      (defaults: 20000 commits, 3 runs)
#
# Full mine: a fresh store / a fresh Perceval clone, the whole history.
# Incremental: 200 new commits on top of an already mined history (Perceval: --latest-items).
# Needs: cargo, python3 (a venv with perceval is made in bench/.venv), git, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
COMMITS=${1:-20000}
RUNS=${2:-3}
WORK=${BENCH_WORK:-$(mktemp -d /tmp/mlsteward-bench.XXXXXX)}
PERCEVAL_VERSION=1.6.1

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/mlsteward
if [ ! -x bench/.venv/bin/perceval ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet "perceval==$PERCEVAL_VERSION"
fi
PERCEVAL=$PWD/bench/.venv/bin/perceval

repo=$WORK/repo
rm -rf "$repo" && mkdir -p "$repo"
git -C "$repo" init -q -b main
python3 bench/make_repo.py "$COMMITS" | git -C "$repo" fast-import --quiet
git -C "$repo" reset -q --hard main
cat > "$WORK/c.yaml" <<YAML
sources:
  - name: bench
    type: git
    path: repo
YAML

source bench/lib.sh

: > "$WORK/results"
for run in $(seq "$RUNS"); do
  rm -rf "$WORK/m$run" "$WORK/p$run"
  measure mlsteward_full "$BIN" collect-once --config.file "$WORK/c.yaml" --storage.path "$WORK/m$run/db.sqlite" --log.level error
  measure perceval_full "$PERCEVAL" git "$repo" --git-path "$WORK/p$run" --json-line
done
# Incremental: 200 more commits, mined by the stores and clones above.
python3 bench/make_repo.py 200 $((COMMITS + 1)) | git -C "$repo" fast-import --quiet
git -C "$repo" reset -q --hard main
for run in $(seq "$RUNS"); do
  measure mlsteward_incremental "$BIN" collect-once --config.file "$WORK/c.yaml" --storage.path "$WORK/m$run/db.sqlite" --log.level error
  measure perceval_incremental "$PERCEVAL" git "$repo" --git-path "$WORK/p$run" --json-line --latest-items
done

python3 - "$WORK/results" "$COMMITS" "$RUNS" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, secs, rss = line.split()
    rows.setdefault(name, []).append((float(secs), int(rss)))
med = lambda name, i: statistics.median(r[i] for r in rows[name])
print(f"Synthetic repository: {sys.argv[2]} commits, {sys.argv[3]} runs each, medians.\n")
print("| case | mlsteward s | perceval s | time ratio (mlsteward / perceval) | mlsteward max RSS MiB | perceval max RSS MiB | memory ratio |")
print("|---|---|---|---|---|---|---|")
for case in ("full", "incremental"):
    ms, ps = med(f"mlsteward_{case}", 0), med(f"perceval_{case}", 0)
    mr, pr = med(f"mlsteward_{case}", 1) / 1024, med(f"perceval_{case}", 1) / 1024
    print(f"| {case} | {ms:.2f} | {ps:.2f} | {ms / ps:.2f} | {mr:.0f} | {pr:.0f} | {mr / pr:.2f} |")
PY
