#!/usr/bin/env bash
# berth against Slurm 22.05 on this machine, one after the other, for the two
# targets of issue 15, and the ratios:
#  1. acknowledged durable submissions/s: bench/submit_load (THREADS gRPC
#     submitters, NODES simulated nodes) with SubmitJob calls, and with
#     SubmitJobs calls of BATCH jobs, against Slurm's 4 parallel `sbatch`
#     loops (phase (a2) of ../shared/peers/slurm/bench.sh, partition DOWN).
#     Twice: while every job is placed and ends at once (berthd also
#     schedules, starts and ends each), and into a cluster that is full
#     (the jobs queue and nothing starts: what Slurm's phase does);
#  2. end to end: N_E2E one-command 1-GPU jobs (`true`) through 4 real
#     berth-agent processes (--jobs=run, 8 h100-80gb from an --inventory
#     file each) until all have ended, against Slurm's phase (e): N_E2E
#     `sbatch --gres=gpu:1 --wrap=true` while it schedules, until all are done
#     (sequential sbatch calls, so also against phase (b): the same number
#     queued beforehand, from partition UP until all are done).
# Each berth figure has its own berthd on a fresh SQLite file and port 0.
# Everything listens on and talks to 127.0.0.1. Every loop is bounded in
# count and time. Prints one table, or with --json one JSON object.
#
#   sudo bench/compare_slurm.sh [--json] [BUILD_DIR]       # Slurm needs root
#   SLURM=0 bench/compare_slurm.sh build                    # berth alone (CI)
#
# Settings (environment, defaults in brackets): N_SUBMIT [20000] jobs with
# SubmitJob, N_BATCH [100000] jobs with SubmitJobs of BATCH [100], THREADS
# [32], NODES [1000], N_E2E [1000], SLURM [1], SCHED_PARAMS [empty: Slurm's
# defaults], SLURM_N [1000] jobs of each Slurm phase, KEEP [empty: none] a
# folder that gets every figure's JSON, log and Slurm's results at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
json=0
if [[ ${1:-} == --json ]]; then
  json=1
  shift
fi
build=${1:-build}
n_submit=${N_SUBMIT:-20000}
n_batch=${N_BATCH:-100000}
batch=${BATCH:-100}
threads=${THREADS:-32}
nodes=${NODES:-1000}
n_e2e=${N_E2E:-1000}
slurm=${SLURM:-1}
slurm_n=${SLURM_N:-1000}
tmp=$(mktemp -d /tmp/berth-vs-slurm-XXXXXX)
children=()
cleanup() {
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n ${KEEP:-} ]] && mkdir -p "$KEEP" && cp -r "$tmp"/. "$KEEP"/
  rm -rf "$tmp"
}
trap cleanup EXIT
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
fail() {
  echo "compare_slurm: $*" >&2
  exit 1
}

# start_berthd DIR: a berthd on DIR/berth.db and a free loopback port; sets
# addr and daemon_pid.
start_berthd() {
  mkdir -p "$1"
  "$build/daemon/berthd" --listen 127.0.0.1:0 --db "$1/berth.db" --port_file "$1/port" \
    2>"$1/berthd.log" &
  daemon_pid=$!
  children+=("$daemon_pid")
  for _ in $(seq 100); do [[ -s $1/port ]] && break; sleep 0.1; done
  [[ -s $1/port ]] || fail "berthd did not start: $(tail -5 "$1/berthd.log")"
  addr=127.0.0.1:$(sed -n 's/^grpc=//p' "$1/port")
}

stop() {
  for pid in "$@"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# submit_run NAME FLAGS...: submit_load against a fresh berthd; its JSON in
# $tmp/NAME.json.
submit_run() {
  local name=$1
  shift
  start_berthd "$tmp/$name"
  timeout 900 "$build/bench/submit_load" --daemon "$addr" --daemon_pid "$daemon_pid" \
    --threads "$threads" --json "$@" >"$tmp/$name.json" 2>"$tmp/$name/submit_load.log" ||
    fail "$name: submit_load failed: $(tail -5 "$tmp/$name/submit_load.log")"
  stop "$daemon_pid"
}

# end_to_end: berthd, 4 berth-agents running real processes, N_E2E jobs.
end_to_end() {
  local dir=$tmp/e2e
  start_berthd "$dir"
  local pids=("$daemon_pid")
  printf '{"gpus": [{"type": "h100-80gb", "count": 8}]}\n' >"$dir/inventory.json"
  for i in 1 2 3 4; do
    mkdir -p "$dir/work-n$i" && chmod 700 "$dir/work-n$i"
    "$build/agents/berth-agent" --daemon "$addr" --node "n$i" --inventory "$dir/inventory.json" \
      --jobs=run --work_dir "$dir/work-n$i" 2>"$dir/agent-$i.log" &
    pids+=("$!")
    children+=("$!")
  done
  local connected=0
  for _ in $(seq 100); do
    connected=$("$build/cli/berth" nodes --daemon "$addr" --json 2>/dev/null |
      grep -c '"connected": true' || true)
    [[ $connected == 4 ]] && break
    sleep 0.1
  done
  [[ $connected == 4 ]] || fail "end to end: $connected of 4 agents connected"
  timeout 900 "$build/bench/submit_load" --daemon "$addr" --daemon_pid "$daemon_pid" \
    --nodes 0 --threads "$threads" --jobs "$n_e2e" --wait_done --wait_seconds 600 --json \
    >"$tmp/e2e.json" 2>"$dir/submit_load.log" ||
    fail "end to end: not every job succeeded: $(cat "$tmp/e2e.json") $(tail -5 "$dir/submit_load.log")"
  stop "${pids[@]}"
}

# key FILE NAME: a number from a one-line JSON object.
key() { sed -n "s/.*\"$2\": \([-0-9.e]*\).*/\1/p" "$1"; }
# slurm_rate PHASE: the jobs/s of a line of Slurm's results table.
slurm_rate() { grep "^($1) " "$tmp/slurm-results.txt" | cut -c60- | awk '{print $1}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "null" }'; }

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "berth: $n_submit submissions, SubmitJob, $threads submitters, $nodes simulated nodes"
submit_run one --nodes "$nodes" --jobs "$n_submit"
log "berth: $n_batch submissions, SubmitJobs of $batch"
submit_run batch --nodes "$nodes" --jobs "$n_batch" --batch "$batch"
# The same into a full cluster: every node held by a running 8-GPU job
# (submit_load --prefill; its 256-GPU gang is refused on a small cluster,
# which changes nothing here), so the 1-GPU jobs measured queue.
log "berth: the same two into a full cluster (the jobs queue, as with Slurm's partition DOWN)"
submit_run one_queued --nodes "$nodes" --jobs "$n_submit" --prefill 1 --free_nodes 0
submit_run batch_queued --nodes "$nodes" --jobs "$n_batch" --batch "$batch" --prefill 1 \
  --free_nodes 0
log "berth: end to end, $n_e2e jobs through 4 berth-agents running them"
end_to_end
if [[ $slurm == 1 ]]; then
  [[ $(id -u) == 0 ]] || fail "Slurm's bench.sh needs root (or SLURM=0 for berth alone)"
  log "Slurm 22.05: ../shared/peers/slurm/bench.sh, N_JOBS=$slurm_n, phases (a2) and (e)"
  work=/tmp/slurm-peer-bench
  N_JOBS=$slurm_n RUN_PAR_SUBMIT=1 RUN_E2E=1 RUN_ARRAY=0 TESTONLY_REPS=1 GANG_REPS=1 \
    SCHED_PARAMS=${SCHED_PARAMS:-} WORK=$work timeout 1800 bash ../shared/peers/slurm/bench.sh \
    >"$tmp/slurm.txt" 2>&1 || fail "Slurm's bench.sh failed: $(tail -20 "$tmp/slurm.txt")"
  cp "$work/results.txt" "$tmp/slurm-results.txt"
  slurm_sub=$(slurm_rate a2)
  slurm_e2e=$(slurm_rate e)
  slurm_drain=$(slurm_rate b | head -1)
else
  slurm_sub=0
  slurm_e2e=0
  slurm_drain=0
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

one=$(key "$tmp/one.json" submissions_per_second)
many=$(key "$tmp/batch.json" submissions_per_second)
one_queued=$(key "$tmp/one_queued.json" submissions_per_second)
many_queued=$(key "$tmp/batch_queued.json" submissions_per_second)
e2e=$(key "$tmp/e2e.json" end_to_end_per_second)
if [[ $json == 1 ]]; then
  slurm_json=null
  if [[ $slurm == 1 ]]; then
    slurm_json="{\"submissions_per_second\": $slurm_sub, \"end_to_end_per_second\": $slurm_e2e,"
    slurm_json+=" \"drain_per_second\": $slurm_drain,"
    slurm_json+=" \"jobs\": $slurm_n, \"sched_params\": \"${SCHED_PARAMS:-default}\"}"
  fi
  printf '{"date": "%s", "cores": %d, "load_before": "%s", "load_after": "%s", ' \
    "$started" "$(nproc)" "$load_before" "$load_after"
  printf '"berth": {"submit": %s, "submit_batch": %s, "submit_queued": %s, ' \
    "$(cat "$tmp/one.json")" "$(cat "$tmp/batch.json")" "$(cat "$tmp/one_queued.json")"
  printf '"submit_batch_queued": %s, "end_to_end": %s}, "slurm": %s, ' \
    "$(cat "$tmp/batch_queued.json")" "$(cat "$tmp/e2e.json")" "$slurm_json"
  printf '"ratios": {"submit": %s, "submit_batch": %s, "submit_queued": %s, ' \
    "$(ratio "$one" "$slurm_sub")" "$(ratio "$many" "$slurm_sub")" "$(ratio "$one_queued" "$slurm_sub")"
  printf '"submit_batch_queued": %s, "end_to_end": %s, "end_to_end_to_drain": %s}}\n' \
    "$(ratio "$many_queued" "$slurm_sub")" "$(ratio "$e2e" "$slurm_e2e")" \
    "$(ratio "$e2e" "$slurm_drain")"
  exit 0
fi
echo "berth against Slurm 22.05, $started, $(nproc) cores; load average before $load_before, after $load_after"
printf '%-58s %14s %14s %8s\n' "figure" "berth" "Slurm" "ratio"
row() { printf '%-58s %14s %14s %8s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"; }
row "acknowledged submissions/s, SubmitJob ($threads threads)" "$one" "$slurm_sub"
row "acknowledged submissions/s, SubmitJobs of $batch" "$many" "$slurm_sub"
row "  the same into a full cluster, SubmitJob" "$one_queued" "$slurm_sub"
row "  the same into a full cluster, SubmitJobs of $batch" "$many_queued" "$slurm_sub"
row "end to end jobs/s, $n_e2e one-command jobs, 4 agents" "$e2e" "$slurm_e2e"
row "  against Slurm's drain of $slurm_n queued jobs, (b)" "$e2e" "$slurm_drain"
echo "berth SubmitJob: ack p50 $(key "$tmp/one.json" ack_p50_ms) ms, p99 $(key "$tmp/one.json" ack_p99_ms) ms," \
  "placed p99 $(key "$tmp/one.json" placed_p99_ms) ms; SubmitJobs of $batch: ack p99" \
  "$(key "$tmp/batch.json" ack_p99_ms) ms a call; end to end: $(key "$tmp/e2e.json" succeeded)" \
  "succeeded in $(key "$tmp/e2e.json" end_to_end_seconds) s"
echo "berth into a full cluster: SubmitJob ack p50 $(key "$tmp/one_queued.json" ack_p50_ms) ms," \
  "p99 $(key "$tmp/one_queued.json" ack_p99_ms) ms; SubmitJobs of $batch: ack p99" \
  "$(key "$tmp/batch_queued.json" ack_p99_ms) ms a call"
if [[ $slurm == 1 ]]; then
  echo "Slurm: 4 parallel sbatch loops of $slurm_n jobs in all (a2); $slurm_n sequential sbatch while" \
    "scheduling, until all done (e); SchedulerParameters=${SCHED_PARAMS:-default}"
  grep -E '^\((a2|b|e)\) ' "$tmp/slurm-results.txt"
else
  echo "Slurm: not run (SLURM=0)"
fi
