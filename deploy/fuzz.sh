#!/usr/bin/env bash
# Builds the libFuzzer targets under tests/fuzz/ with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer (preset `asan`, into build-asan/, the same
# build deploy/sanitize.sh asan tests), then runs
# each one for a bounded time, one after another. Each run first replays the
# kept corpus (tests/fuzz/corpus/<target>/, seeds and past crashes), so a
# regression fails at once. Exits non-zero when any target crashes, leaks,
# times out on one input or breaks an invariant; the input that did it is
# saved as build-asan/fuzz/artifacts/<target>/crash-* (or leak-*, timeout-*).
#
#   deploy/fuzz.sh            # 60 s per target
#   deploy/fuzz.sh 30         # 30 s per target
#   deploy/fuzz.sh 30 planner_fuzzer   # one target
#
# New inputs the fuzzer finds go to build-asan/fuzz/corpus/<target>/, never into
# the repository; copy a crash input into tests/fuzz/corpus/<target>/ once it
# is fixed, so that it stays a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(hf_config_fuzzer job_spec_fuzzer planner_fuzzer spec_convert_fuzzer)
fi
if ! [[ $seconds =~ ^[0-9]+$ ]] || [[ $seconds -lt 1 ]]; then
  echo "fuzz.sh: seconds must be a positive integer, got '$seconds'" >&2
  exit 2
fi

bash deploy/install-deps.sh
cmake --preset asan >/dev/null
cmake --build build-asan -j"$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

failed=()
for target in "${targets[@]}"; do
  work=build-asan/fuzz/corpus/$target
  artifacts=build-asan/fuzz/artifacts/$target
  mkdir -p "$work" "$artifacts"
  echo "== $target: ${seconds}s"
  # -timeout: one input taking 10 s is a hang. -rss_limit_mb: a 2 GiB input
  # is a memory blow-up, not a test machine's problem.
  if ! "build-asan/tests/fuzz/$target" -max_total_time="$seconds" -timeout=10 \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
       "$work" "tests/fuzz/corpus/$target" 2>"build-asan/fuzz/$target.log"; then
    tail -n 60 "build-asan/fuzz/$target.log" >&2
    failed+=("$target")
  fi
  grep -E "^(stat::number_of_executed_units|stat::new_units_added|Done [0-9]+ runs)" \
    "build-asan/fuzz/$target.log" || true
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: FAILED: ${failed[*]} (inputs under build-asan/fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: all ${#targets[@]} targets ran ${seconds}s without a crash"
