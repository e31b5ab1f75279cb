#!/usr/bin/env bash
# Failover times on PostgreSQL: tests/integration/failover_test.cc with the
# leader killed (SIGKILL) ten times, printing after each kill the time to the
# first submission the new leader accepted. Needs PostgreSQL's binaries
# (deploy/install-deps.sh); the test's throwaway cluster runs with fsync off.
#
#   bench/run_failover.sh [BUILD_DIR] [KILLS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
BERTH_FAILOVER_KILLS=${2:-10} "$build/tests/failover_integration_test" \
  --gtest_filter='FailoverTest.LeaderKilledRepeatedly'
