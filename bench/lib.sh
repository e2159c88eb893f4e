# Shared by the benchmark scripts: `measure NAME CMD...` runs CMD under GNU time (output
# discarded) and appends "NAME seconds max_rss_kib" to $WORK/results; a failing CMD stops the run.
[ -x /usr/bin/time ] || { echo "the benchmarks need GNU time (apt-get install time)" >&2; exit 1; }
measure() {
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$WORK/time.out" "$@" > /dev/null 2> "$WORK/stderr.out" || { cat "$WORK/stderr.out" >&2; exit 1; }
  echo "$name $(cat "$WORK/time.out")" >> "$WORK/results"
}
