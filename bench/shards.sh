#!/usr/bin/env bash
# When to shard: one process against three replicas (`--shard K/3`) over the same repositories,
# in one run. Each replica runs as its own process, one after the other, on its own store, as
# replicas on separate machines would. Reports each one's collection time (a full mine from a
# fresh store: `collect-once`, wall clock), peak RSS and exported series.
#
#   bench/shards.sh [REPOS] [COMMITS] [RUNS]      defaults: 9 repositories of 5000 commits, 1 run
#
# Needs: cargo, python3, git, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
REPOS=${1:-9}
COMMITS=${2:-5000}
RUNS=${3:-1}
WORK=${BENCH_WORK:-$(mktemp -d /tmp/mlsteward-shards.XXXXXX)}

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/mlsteward

printf 'sources:\n' > "$WORK/config.yaml"
for i in $(seq 0 $((REPOS - 1))); do
  repo=$WORK/r$i
  if [ ! -d "$repo/.git" ]; then
    mkdir -p "$repo" && git -C "$repo" init -q -b main
    # The same synthetic history in each (the work per repository is what matters here).
    python3 bench/make_repo.py "$COMMITS" 1 50 | git -C "$repo" fast-import --quiet
    git -C "$repo" reset -q --hard main
  fi
  printf '  - name: r%s\n    type: git\n    path: r%s\n' "$i" "$i" >> "$WORK/config.yaml"
done

measure() { # label, extra args...
  local label=$1; shift
  for run in $(seq 1 "$RUNS"); do
    rm -f "$WORK/$label.db"*
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$BIN" collect-once --config.file "$WORK/config.yaml" \
      --storage.path "$WORK/$label.db" --log.level error "$@" > "$WORK/$label.prom" || true
    read -r secs kib < "$WORK/time"
    series=$(grep -vc '^#' "$WORK/$label.prom")
    mined=$(grep -c '^mlsteward_collector_success{collector="git"' "$WORK/$label.prom")
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$mined" "$secs" "$((kib / 1024))" "$series"
  done
}

printf 'replica\tgit sources\tseconds\tpeak RSS MiB\tseries\n'
measure one
for k in 0 1 2; do measure "shard$k" --shard "$k/3"; done
