#!/usr/bin/env bash
# Installs the build dependencies, builds berth with the default preset
# (RelWithDebInfo, Ninja, into build/) and runs every test, unit and
# integration. Exits non-zero on the first failure.
#
#   deploy/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
cmake --preset default
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j2
