#!/usr/bin/env bash
# berth's quick start: installs the build dependencies, builds berth, and
# shows what the planner decides for five example jobs. Non-interactive.
#
#   deploy/quickstart.sh          build and run the examples
#   deploy/quickstart.sh --stop   stop what the quick start started
#
# The daemon and node agents do not exist yet, so nothing is left running;
# `berth plan` needs no daemon.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  --stop)
    echo "quickstart: nothing is running (berthd and berth-agent are not built yet)"
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: deploy/quickstart.sh [--stop]" >&2
    exit 2
    ;;
esac

echo "== installing dependencies"
bash deploy/install-deps.sh
echo "== building (cmake --preset default)"
cmake --preset default >/dev/null
cmake --build build -j"$(nproc)" --target berth
BERTH=build/cli/berth

# example TITLE EXPECTED_EXIT ARGS...: runs `berth plan ARGS` and checks its
# exit code: 0 when the plan fits, 3 when berth refuses the job.
example() {
  local title=$1 want=$2
  shift 2
  echo
  echo "== $title"
  echo "\$ berth plan $*"
  local rc=0
  "$BERTH" plan "$@" || rc=$?
  if [[ $rc -ne $want ]]; then
    echo "quickstart: expected exit code $want, got $rc" >&2
    exit 1
  fi
  [[ $rc -eq 3 ]] && echo "(exit code 3: refused, as expected)"
  return 0
}

example "Llama 2 7B training on H100 80GB" 0 \
  --model llama-2-7b --gpu h100-80gb
example "Llama 2 70B training on H100 80GB" 0 \
  --model llama-2-70b --gpu h100-80gb
example "Llama 3 70B inference, bf16, context 8192, batch 16, on H100 80GB" 0 \
  --model llama-3-70b --task infer --weights bf16 --context 8192 \
  --batch 16 --gpu h100-80gb
example "Llama 2 70B layer-wise offload on a 4 GiB GPU (100-token prompt)" 0 \
  --model llama-2-70b --task infer --offload layerwise --context 100 \
  --gpu-memory-gib 4
example "Llama 3.1 405B training on A10 24GB, at most 64 GPUs (refused)" 3 \
  --model llama-3.1-405b --gpu a10-24gb --max-gpus 64

echo
echo "quickstart: done. Try: $BERTH plan --help"
