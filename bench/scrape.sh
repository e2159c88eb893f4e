#!/usr/bin/env bash
# Scrape throughput: mlsteward's /metrics against nginx serving the very same text
# pre-compressed with `gzip -9` (gzip_static), and Prometheus's Pushgateway holding the same
# families, all gzip-encoded, measured with wrk in one run (alternating rounds).
#
# usage: bench/scrape.sh [REPO [TOP_N [SECONDS [ROUNDS]]]]
#   REPO: a git repository to mine (default: a wide synthetic one, 200,000 commits, 5,000
#         authors, 100 asset directories, 1-3 files per commit, made with make_repo.py)
#   TOP_N: recognition top_n, which sets the number of series (default 1000)
#   SECONDS: each wrk run (default 20); ROUNDS: alternating rounds (default 2)
# Env: MLSTEWARD_BIN (default target/release/mlsteward), BENCH_WORK (scratch directory, kept),
#      CONNECTIONS (wrk connections, default 4).
# Needs nginx, wrk and prometheus-pushgateway (Debian's packages; installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MLSTEWARD_BIN:-$PWD/target/release/mlsteward}
[ -x "$bin" ] || { echo "build it first: cargo build --release" >&2; exit 1; }
top_n=${2:-1000}
seconds=${3:-20}
rounds=${4:-2}
connections=${CONNECTIONS:-4}
work=${BENCH_WORK:-$(mktemp -d)}
mkdir -p "$work"
# nginx's workers may run as another user (www-data when started as root).
chmod 755 "$work"

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

repo=${1:-}
if [ -z "$repo" ]; then
  repo="$work/wide"
  if [ ! -d "$repo/.git" ] && [ ! -f "$repo/HEAD" ]; then
    git init -q -b main "$repo"
    python3 bench/make_repo.py 200000 1 5000 100 0 3 | git -C "$repo" fast-import --quiet
    git -C "$repo" reset -q --hard main
  fi
fi

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# mlsteward on the repository, until its families are rendered after the mine.
m_port=$(free_port)
catalog=$(for i in $(seq 0 99); do printf '  - id: a%s\n    kind: library\n    repository: wide\n    paths: ["assets/a%s/**"]\n' "$i" "$i"; done)
cat > "$work/config.yaml" <<EOF
sources:
  - name: wide
    type: git
    path: $repo
    schedule: 1h
    timeout: 30m
catalog:
$catalog
recognition:
  top_n: $top_n
EOF
rm -rf "$work/data"
"$bin" run --config.file "$work/config.yaml" --storage.path "$work/data/db.sqlite" \
  --web.listen-address "127.0.0.1:$m_port" --log.level warn 2> "$work/mlsteward.log" &
pids+=($!)
python3 - "$m_port" "${pids[0]}" <<'EOF' || { tail -5 "$work/mlsteward.log" >&2; exit 1; }
import os, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/metrics"
deadline = time.time() + 1800
while time.time() < deadline:
    if not os.path.exists(f"/proc/{sys.argv[2]}"):
        sys.exit("mlsteward exited; see its log")
    try:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        ok = 'mlsteward_collector_success{collector="git",source="wide"} 1' in text
        if ok and "mlsteward_contributions_total{" in text:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(1)
sys.exit("mlsteward never served the mined families")
EOF
sleep 2
curl -s "http://127.0.0.1:$m_port/metrics" > "$work/metrics.txt"
curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$m_port/metrics" > "$work/mlsteward.gz"
series=$(grep -vc '^#' "$work/metrics.txt")

# nginx: the same text, pre-compressed at the best level, one worker per core.
n_port=$(free_port)
mkdir -p "$work/www" "$work/nginx"
cp "$work/metrics.txt" "$work/www/metrics"
gzip -9 -k -f "$work/www/metrics"
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  types { }
  default_type "text/plain; version=0.0.4; charset=utf-8";
  gzip_static on;
  server {
    listen 127.0.0.1:$n_port;
    root $work/www;
  }
}
EOF
"$nginx_bin" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

# Pushgateway, holding mlsteward's derived families (its own self metrics would clash with the
# gateway's process_* families, and a push may not carry them).
p_port=$(free_port)
prometheus-pushgateway --web.listen-address="127.0.0.1:$p_port" > "$work/pushgateway.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$p_port/-/ready" >/dev/null && break; sleep 0.2; done
python3 - "$work/metrics.txt" > "$work/push.txt" <<'EOF'
import sys
# Only the mlsteward_ families; the gateway adds job and instance labels of its own.
keep = False
for line in open(sys.argv[1]):
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        keep = line.split()[2].startswith("mlsteward_")
    if keep:
        sys.stdout.write(line)
EOF
curl -sf -X PUT --data-binary @"$work/push.txt" "http://127.0.0.1:$p_port/metrics/job/mlsteward" \
  || { echo "the Pushgateway refused the push" >&2; cat "$work/pushgateway.log" >&2; exit 1; }
for u in "http://127.0.0.1:$n_port/metrics" "http://127.0.0.1:$p_port/metrics"; do
  for _ in $(seq 50); do curl -sf "$u" >/dev/null && break; sleep 0.2; done
done
curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$n_port/metrics" > "$work/nginx.gz"
curl -s -H 'Accept-Encoding: gzip' "http://127.0.0.1:$p_port/metrics" > "$work/pushgateway.gz"
cmp -s <(gzip -dc "$work/nginx.gz") "$work/metrics.txt" || { echo "nginx serves another body" >&2; exit 1; }
cmp -s <(gzip -dc "$work/mlsteward.gz") "$work/metrics.txt" || echo "note: mlsteward's body moved between the two reads (self metrics)" >&2

rps() {
  wrk -t2 -c"$connections" -d"${seconds}s" -H 'Accept-Encoding: gzip' "$1" \
    | awk '/Requests\/sec/ {print $2}'
}
echo "series $series text_bytes $(stat -c %s "$work/metrics.txt") gzip_bytes mlsteward $(stat -c %s "$work/mlsteward.gz") nginx_gzip9 $(stat -c %s "$work/nginx.gz") pushgateway $(stat -c %s "$work/pushgateway.gz")"
for round in $(seq "$rounds"); do
  m=$(rps "http://127.0.0.1:$m_port/metrics")
  n=$(rps "http://127.0.0.1:$n_port/metrics")
  p=$(rps "http://127.0.0.1:$p_port/metrics")
  python3 -c "import sys; m,n,p=map(float,sys.argv[1:]); print(f'round $round: mlsteward {m:.0f} req/s, nginx {n:.0f} req/s, pushgateway {p:.1f} req/s; mlsteward/nginx {m/n:.2f}x, mlsteward/pushgateway {m/p:.0f}x')" "$m" "$n" "$p"
done
echo "peak RSS of mlsteward: $(awk '/VmHWM/ {print $2, $3}' /proc/"${pids[0]}"/status)"
