#!/usr/bin/env bash
# Installs the Debian 12 packages shmq needs to build and test.
# Idempotent: only packages that are not installed yet are installed, and
# `apt-get update` runs only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libboost-dev liburing-dev nlohmann-json3-dev libcli11-dev
  libspdlog-dev libfmt-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3
  # The HTTP gateway's tests and benchmark: Debian's boto3 (an older botocore
  # that speaks the Query protocol) for /usr/bin/python3, openssl for a test
  # certificate, wrk for bench/http_bench.sh.
  python3-boto3 openssl wrk
)
# The aws CLI and Node.js: whatever the machine has (the dev and CI machines
# have both), else Debian's packages.
command -v aws >/dev/null 2>&1 || PACKAGES+=(awscli)
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
# The JavaScript SDK for tests/gateway/js, from its lock file (npm registry).
install_js_sdk() {
  local js="$ROOT/tests/gateway/js"
  if [[ -d "$js/node_modules/@aws-sdk/client-sqs" ]]; then
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "install-deps: npm not found; the JS SDK gateway test will fail" >&2
    return 1
  fi
  echo "install-deps: npm ci in tests/gateway/js"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: dpkg-query not found; this script supports Debian 12 only." >&2
  echo "install-deps: install these packages by other means: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  install_js_sdk
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: apt-get not found; install the packages above by hand." >&2
  exit 1
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: not root and sudo is not available; run as root:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
"${APT[@]}" update
"${APT[@]}" install -y --no-install-recommends "${missing[@]}"
echo "install-deps: installed: ${missing[*]}"
install_js_sdk
