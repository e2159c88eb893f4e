#!/usr/bin/env bash
# Checks `mlsteward backfill` on a real history against an independent computation: at each
# backfilled step T, the repository cut at its last commit before T (`git rev-list -1
# --before=T`) is mined afresh with `collect-once`, and its commit outcomes, credited commits and
# contributions are compared with the backfill's samples stamped T. (`contributor_label: none`:
# a cut repository has the `.mailmap` of its day, while a backfill joins people as today.)
#
#   bench/check_backfill.sh REPO [SINCE] [STEP]      defaults: 900d and 200d
#
# REPO: a git repository (bare or not) whose HEAD branch is mined. Needs: cargo, git.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(cd "$1" && pwd)
SINCE=${2:-900d}
STEP=${3:-200d}
WORK=${BENCH_WORK:-$(mktemp -d /tmp/mlsteward-backfill.XXXXXX)}
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/mlsteward
FAMILIES='^mlsteward_(git_commits|credited_commits_total|contributions_total)\{'

config() { # file, repository, [branch]
  {
    printf 'recognition:\n  contributor_label: none\nsources:\n  - name: repo\n    type: git\n'
    printf '    path: %s\n' "$2"
    if [ -n "${3:-}" ]; then printf '    branch: %s\n' "$3"; fi
  } > "$1"
}

git clone -q --bare "$REPO" "$WORK/full.git"
config "$WORK/full.yaml" full.git
"$BIN" collect-once --config.file "$WORK/full.yaml" --storage.path "$WORK/full.db" --log.level error > /dev/null
"$BIN" backfill --config.file "$WORK/full.yaml" --storage.path "$WORK/full.db" \
  --since "$SINCE" --step "$STEP" --output "$WORK/h.om"
for T in $(grep -o ' [0-9]*$' "$WORK/h.om" | sort -u); do
  tip=$(git --git-dir="$WORK/full.git" rev-list -1 --before="$T" HEAD)
  rm -rf "$WORK/cut.git" "$WORK/cut.db"*
  git clone -q --bare "$WORK/full.git" "$WORK/cut.git"
  git --git-dir="$WORK/cut.git" update-ref refs/heads/cut "$tip"
  config "$WORK/cut.yaml" cut.git cut
  "$BIN" collect-once --config.file "$WORK/cut.yaml" --storage.path "$WORK/cut.db" --log.level error > "$WORK/cut.prom"
  echo "== $(date -u -d "@$T" +%F): $(git --git-dir="$WORK/full.git" rev-list --count "$tip") commits"
  diff <(grep -E "$FAMILIES" "$WORK/cut.prom" | sort) \
       <(grep -E "$FAMILIES" "$WORK/h.om" | grep " $T\$" | sed 's/ [0-9]*$//' | sort) \
    && echo "identical"
done
