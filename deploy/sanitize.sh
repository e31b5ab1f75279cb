#!/usr/bin/env bash
# Builds and tests berth under the sanitizers (issue 7).
#
#   deploy/sanitize.sh asan   # preset asan into build-asan/: AddressSanitizer,
#                             # LeakSanitizer and UBSan over every unit and
#                             # integration test (labels integration, ops,
#                             # deploy included)
#   deploy/sanitize.sh tsan   # preset tsan into build-tsan/: ThreadSanitizer
#                             # over the daemon core, database and agent tests
#   deploy/sanitize.sh all    # both (the default)
#
# Every sanitizer report, from a test or from a berthd / berth-agent / berth
# it started, is written to build-<mode>/sanitizer-logs/ (log_path), so a
# report in a child process whose exit the test never checks still fails
# the run; the reports are printed at the end. Exits non-zero on a failed
# test or on any report.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-all}
case $mode in asan|tsan|all) ;; *)
  echo "usage: deploy/sanitize.sh [asan|tsan|all]" >&2; exit 2 ;;
esac
jobs=$(nproc)

# Reports in build-$1/sanitizer-logs/ fail the run.
check_logs() {
  local logs=build-$1/sanitizer-logs
  if compgen -G "$logs/*" >/dev/null; then
    echo "sanitize.sh: $1: sanitizer reports:" >&2
    for f in "$logs"/*; do echo "--- $f" >&2; head -n 80 "$f" >&2; done
    return 1
  fi
}

fresh_logs() {
  rm -rf "build-$1/sanitizer-logs"
  mkdir -p "build-$1/sanitizer-logs"
}

# Every test that runs berth's compiled code runs under ASan: all unit and
# integration tests (Prometheus, Chromium and the crash tests included). The
# checks that read only the source tree (formatting, file lengths, the
# planner's includes, promtool on deploy/prometheus, metric names) run no
# berth binary, so ASan adds nothing to them; deploy/test.sh runs them.
# ASAN_EXCLUDE (a ctest -E regex) replaces that list for a local run.
ASAN_EXCLUDE=${ASAN_EXCLUDE-'^(planner_purity|planner_purity_detects_violation|format_check|format_check_detects_violation|file_lines_check|file_lines_check_detects_violation|ops_promtool|ops_metric_names)$'}
run_asan() {
  local start=$SECONDS status=0
  # run_asan is called in an `||` list, where bash ignores set -e: every
  # step checks its own status.
  cmake --preset asan >/dev/null || return 1
  cmake --build build-asan -j"$jobs" || return 1
  fresh_logs asan
  # The test preset sets ASAN_OPTIONS/UBSAN_OPTIONS (log_path included).
  ctest --preset asan -j2 ${ASAN_EXCLUDE:+-E "$ASAN_EXCLUDE"} || status=1
  check_logs asan || status=1
  echo "sanitize.sh: asan: $((SECONDS - start)) s, status $status"
  return $status
}

# The concurrency tests of the daemon core (SchedulerCore, its writer thread
# and admission; no gRPC server in the process), the store and the agent's
# job runner. Left out: agents/agent_test (AgentTest.*), which runs a fake
# berthd and the agent's gRPC client in one process; Debian's gRPC and
# Abseil are not TSan-built, and TSan reported races wholly inside them
# (libupb, Abseil's Cord and deadlock-detector graph) in 2 of 4 CI runs.
# Also left out: daemon/http_server_test (HttpServerTest.*), which drives
# civetweb's own worker threads; TSan reports a race wholly inside Debian's
# libcivetweb (two of its workers in libc's gmtime, which shares one static
# buffer), not in berth's code. And daemon/leadership_test's
# StandbyServerTest.*, which runs the standby's gRPC callback server and a
# client in one process: TSan reported races between gRPC's own executor
# threads (the generic reactor's call object, cctz's lazily made mutex,
# Abseil's deadlock graph) in 26 of 40 runs, none in berth's frames. The
# standby server holds no state of berth's; the failover integration test
# covers it with real berthd processes.
TSAN_TARGETS=(daemon/all db/all agents/all)
TSAN_TEST_DIRS=(build-tsan/daemon build-tsan/db build-tsan/agents)
TSAN_EXCLUDE='^(AgentTest|HttpServerTest|StandbyServerTest)\.'

run_tsan() {
  local start=$SECONDS status=0 dir
  cmake --preset tsan >/dev/null || return 1
  cmake --build build-tsan -j"$jobs" --target "${TSAN_TARGETS[@]}" || return 1
  fresh_logs tsan
  # tests/tsan.supp: false positives inside Debian's uninstrumented gRPC,
  # protobuf and Abseil only (see the file).
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$PWD/tests/tsan.supp:log_path=$PWD/build-tsan/sanitizer-logs/tsan"
  for dir in "${TSAN_TEST_DIRS[@]}"; do
    ctest --test-dir "$dir" --output-on-failure -j2 -E "$TSAN_EXCLUDE" || status=1
  done
  check_logs tsan || status=1
  echo "sanitize.sh: tsan: $((SECONDS - start)) s, status $status"
  return $status
}

bash deploy/install-deps.sh
status=0
if [[ $mode == asan || $mode == all ]]; then run_asan || status=1; fi
if [[ $mode == tsan || $mode == all ]]; then run_tsan || status=1; fi
exit $status
