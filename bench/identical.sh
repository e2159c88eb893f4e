#!/usr/bin/env bash
# The exposition before and after a change is identical: `collect-once` of each binary on the
# demo, config/example.yaml and real histories, compared family by family. Self metrics that
# measure the run (durations, timestamps, the render pipeline's) are left out; every other
# line must be the same. The runs of one case are made one right after the other, so their
# windows end within seconds of each other.
#
#   bench/identical.sh BEFORE_BIN AFTER_BIN [REPO...]
#       REPO: a path to a git repository (bare or not) to mine with a catalog of its top-level
#       directories, e.g. the mirrors the search tool's fetch brings (/work/.mirror/*/repo).
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1
AFTER=$2
shift 2
WORK=${BENCH_WORK:-$(mktemp -d /tmp/mlsteward-identical.XXXXXX)}

# Lines that measure the run itself, not the facts.
strip() {
  grep -v '^#' "$1" \
    | grep -Ev '^mlsteward_(collector_|config_last_reload_success_timestamp|upstream_request_duration|derive|derivations|render|snapshot_)' \
    | grep -Ev '^mlsteward_upstream_requests_total' \
    | sort || true  # no lines left (a failed run) is reported by compare, not fatal here
}

compare() { # NAME CONFIG
  local name=$1 config=$2
  rm -rf "$WORK/$name"
  mkdir -p "$WORK/$name"
  "$BEFORE" collect-once --config.file "$config" --storage.path "$WORK/$name/before/s.db" > "$WORK/$name/before.prom" 2> "$WORK/$name/before.log" || true
  "$AFTER" collect-once --config.file "$config" --storage.path "$WORK/$name/after/s.db" > "$WORK/$name/after.prom" 2> "$WORK/$name/after.log" || true
  strip "$WORK/$name/before.prom" > "$WORK/$name/before.txt"
  strip "$WORK/$name/after.prom" > "$WORK/$name/after.txt"
  local lines
  lines=$(wc -l < "$WORK/$name/after.txt")
  if [ "$lines" -eq 0 ] || ! grep -q '^mlsteward_' "$WORK/$name/before.txt"; then
    echo "| $name | $lines | FAILED: a run printed no families (see $WORK/$name/*.log) |"
  elif diff -q "$WORK/$name/before.txt" "$WORK/$name/after.txt" > /dev/null; then
    echo "| $name | $lines | identical |"
  else
    echo "| $name | $lines | DIFFERENT: $(diff "$WORK/$name/before.txt" "$WORK/$name/after.txt" | grep -c '^[<>]') lines (see $WORK/$name) |"
  fi
}

echo "| case | series compared | result |"
echo "|---|---|---|"
# The demo's files live apart from the comparison's own directory (compare empties that).
rm -rf "$WORK/demo-files"
"$AFTER" demo --write-only --dir "$WORK/demo-files" > /dev/null 2>&1
compare demo "$WORK/demo-files/config.yaml"
compare example config/example.yaml
for repo in "$@"; do
  name=$(basename "$(dirname "$repo")")
  [ "$name" = "." ] && name=$(basename "$repo")
  name=$(printf '%s' "$name" | tr -c 'A-Za-z0-9_.-' '-')
  config="$WORK/$name.yaml"
  {
    printf 'recognition:\n  top_n: 20\nsources:\n  - name: %s\n    type: git\n    path: %s\n    timeout: 30m\ncatalog:\n' "$name" "$repo"
    git -C "$repo" ls-tree -d --name-only HEAD | head -30 | while read -r dir; do
      id=$(echo "$dir" | tr -c 'A-Za-z0-9_\n-' '-')
      printf '  - id: %s-%s\n    kind: library\n    repository: %s\n    paths: ["%s/**"]\n' "$name" "$id" "$name" "$dir"
    done
  } > "$config"
  compare "$name" "$config"
done
