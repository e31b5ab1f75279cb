#!/usr/bin/env bash
# `berth submit` against `sbatch` as a user runs them, in one run on one
# machine: N sequential submissions (one process each, one 1-GPU job each),
# then one call submitting a 1,000-job array; berth, then Slurm 22.05
# (../shared/peers/slurm/bench.sh, its phases (a) and (f), partition DOWN
# so nothing schedules), then berth again. berth runs with its daemon on a
# fresh SQLite file and 4 simulated agents of 8 h100-80gb on 127.0.0.1.
# Prints one table; every loop is bounded in count (N) and time (timeout).
#
#   sudo bench/run_submit_vs_sbatch.sh [BUILD_DIR] [N]     # Slurm needs root
#   SLURM=0 bench/run_submit_vs_sbatch.sh build 500        # berth alone
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
n=${2:-1000}
slurm=${SLURM:-1}
tmp=$(mktemp -d /tmp/berth-vs-sbatch-XXXXXX)
children=()
cleanup() {
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# One berth round: writes "loop_ms array_ms version_ms failed floor_ms" to $tmp/round-N.txt.
berth_round() {
  local dir=$tmp/round-$1
  mkdir -p "$dir"
  local pids=()
  "$build/daemon/berthd" --listen 127.0.0.1:0 --db "$dir/berth.db" --port_file "$dir/port" \
    2>"$dir/berthd.log" &
  pids+=("$!")
  for _ in $(seq 100); do [[ -s "$dir/port" ]] && break; sleep 0.1; done
  local addr=127.0.0.1:$(sed -n 's/^grpc=//p' "$dir/port")
  printf '{"gpus": [{"type": "h100-80gb", "count": 8}]}\n' >"$dir/inventory.json"
  for i in 1 2 3 4; do
    "$build/agents/berth-agent" --daemon "$addr" --node "n$i" --inventory "$dir/inventory.json" \
      2>"$dir/agent-$i.log" &
    pids+=("$!")
  done
  children+=("${pids[@]}")
  printf 'team: bench\ntask: infer\nmodel:\n  catalog_name: llama-2-7b\ncommand: ["true"]\n' \
    >"$dir/job.yaml"
  for _ in $(seq 100); do
    [[ $("$build/cli/berth" nodes --daemon "$addr" --json 2>/dev/null |
      grep -c '"connected": true') == 4 ]] && break
    sleep 0.1
  done
  export BERTH_ADDR=$addr
  local start failed=0
  start=$(date +%s%N)
  for _ in $(seq "$n"); do
    timeout 10 "$build/cli/berth" submit "$dir/job.yaml" >/dev/null 2>>"$dir/submit-errors.txt" ||
      failed=$((failed + 1))
  done
  local loop_ms
  loop_ms=$(ms_since "$start")
  start=$(date +%s%N)
  timeout 60 "$build/cli/berth" submit --array 0-999 "$dir/job.yaml" >/dev/null \
    2>>"$dir/submit-errors.txt" || failed=$((failed + 1000))
  local array_ms
  array_ms=$(ms_since "$start")
  start=$(date +%s%N)
  for _ in $(seq 100); do "$build/cli/berth" --version >/dev/null; done
  local version_ms
  version_ms=$(ms_since "$start")
  # The floor: N processes of one bare gRPC call each (bench/grpc_floor.cc,
  # linked as berth is), in the same loop as the submissions.
  local floor_ms=0
  if [[ -x $build/cli/grpc_floor ]]; then
    start=$(date +%s%N)
    for _ in $(seq "$n"); do
      timeout 10 "$build/cli/grpc_floor" "$addr" >/dev/null 2>>"$dir/submit-errors.txt" ||
        failed=$((failed + 1))
    done
    floor_ms=$(ms_since "$start")
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -s $dir/submit-errors.txt ]] && { echo "berth round $1 errors:"; sort "$dir/submit-errors.txt" | uniq -c | head; } >&2
  echo "$loop_ms $array_ms $version_ms $failed $floor_ms" >"$tmp/round-$1.txt"
}

berth_round 1
read -r b1_loop b1_array b1_version b1_failed b1_floor <"$tmp/round-1.txt"
if [[ $slurm == 1 ]]; then
  RUN_PAR_SUBMIT=0 RUN_E2E=0 N_JOBS=$n TESTONLY_REPS=1 GANG_REPS=1 \
    bash ../shared/peers/slurm/bench.sh >"$tmp/slurm.txt" 2>&1 || {
    echo "Slurm's bench failed:" >&2
    tail -30 "$tmp/slurm.txt" >&2
    exit 1
  }
  cp /tmp/slurm-peer-bench/results.txt "$tmp/slurm-results.txt" 2>/dev/null || true
fi
berth_round 2
read -r b2_loop b2_array b2_version b2_failed b2_floor <"$tmp/round-2.txt"

per_job() { awk -v ms="$1" -v n="$n" 'BEGIN { printf "%.1f ms a job (%.0f jobs/s)", ms / n, n * 1000 / ms }'; }
echo "N = $n sequential submissions, one process each; then a 1,000-job array in one call"
for r in 1 2; do
  loop=b${r}_loop array=b${r}_array version=b${r}_version failed=b${r}_failed floor=b${r}_floor
  echo "berth, round $r: $(per_job "${!loop}"), ${!failed} failed; array of 1,000 ${!array} ms;" \
    "berth --version $(awk -v ms="${!version}" 'BEGIN { printf "%.1f", ms / 100 }') ms;" \
    "a bare gRPC call (grpc_floor) $(per_job "${!floor}")"
done
if [[ $slurm == 1 ]]; then
  echo "Slurm (its bench.sh, same run):"
  grep -E "^\((a|f)\)" "$tmp/slurm-results.txt" 2>/dev/null || tail -25 "$tmp/slurm.txt"
fi
