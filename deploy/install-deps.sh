#!/usr/bin/env bash
# Installs the Debian 12 packages berth needs to build and test.
# Idempotent: when every package is already present it prints nothing and
# touches nothing. Needs root (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc
  libsqlite3-dev sqlite3
  # PgStore (libpq), and the PostgreSQL server binaries its tests run as a
  # throwaway cluster of their own (db/pg_test_cluster.h), never the
  # machine's service
  libpq-dev postgresql
  prometheus-cpp-dev libcivetweb-dev
  libcli11-dev libyaml-cpp-dev
  # berthd's allocator (BERTH_MALLOC in CMakeLists.txt)
  libjemalloc-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3
  # promtool and the Prometheus server (deploy/prometheus/, the metrics tests)
  prometheus
  # headless browser for the cluster map test
  chromium
  # deploy/dev-ca.sh and its test (openssl verify)
  openssl
  # deploy/fuzz.sh: clang and its libFuzzer/sanitizer runtimes
  clang libclang-rt-14-dev
  # tests/format_check.sh (the code follows .clang-format)
  clang-format
  # the partition test cuts the leader off with firewall rules on the
  # loopback of its own network namespace (failover_partition_test.cc)
  iptables
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
