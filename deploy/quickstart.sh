#!/usr/bin/env bash
# berth's quick start. Non-interactive; run it again at any time.
#
#   deploy/quickstart.sh          install, build, start a simulated cluster,
#                                 submit the examples, leave it running
#   deploy/quickstart.sh --stop   stop what the quick start started
#
# It installs the build dependencies (deploy/install-deps.sh), builds with
# `cmake --preset default` (Ninja, into build/), shows five `berth plan`
# examples, then starts berthd on a fresh SQLite database (with Prometheus
# /metrics and the cluster map on --metrics_listen, and the teams and quotas
# of deploy/examples/teams.yaml) and six simulated nodes
# (berth-agent with inventory files: 4 × 8 h100-80gb, 2 × 8 a100-40gb; they
# simulate jobs, nothing is executed), submits the job specs in
# deploy/examples/ and shows what berth decided, then follows a short
# evaluation job (`berth submit --wait`; simulated for 3 s through its env
# BERTH_SIMULATE_SECONDS) until it SUCCEEDS. berthd and the agents keep
# running in the background; `--stop` ends them.
#
# Environment:
#   BERTH_HOME        state folder (default ~/.berth): berth.db, logs/, pids/,
#                     addr (the daemon's address), inventory files
#   BERTH_PORT        port for berthd on 127.0.0.1 (default 7070). When the
#                     default 7070 is taken, berthd gets a free port instead;
#                     an explicit BERTH_PORT that is taken is an error, and
#                     BERTH_PORT=0 always picks a free port
#   BERTH_METRICS_PORT  port for berthd's /metrics and cluster map on
#                     127.0.0.1 (default 9464), with the same rules: a taken
#                     default gives a free port, a taken explicit port is an
#                     error, 0 always picks a free port
#   BERTH_SKIP_BUILD  1: neither install nor build; use the binaries already
#                     in BERTH_BUILD_DIR (default: build/ in the repository)
#
# Every run stops the previous quick-start cluster of the same BERTH_HOME and
# starts from an empty database, so job ids begin at 1 again.
set -euo pipefail
# Both folders may be given relative to where the script is run from.
STATE=$(realpath -m "${BERTH_HOME:-$HOME/.berth}")
[[ -n ${BERTH_BUILD_DIR:-} ]] && BERTH_BUILD_DIR=$(realpath -m "$BERTH_BUILD_DIR")
cd "$(dirname "$0")/.."
REPO=$(pwd)
BUILD_DIR=${BERTH_BUILD_DIR:-$REPO/build}
BERTH=$BUILD_DIR/cli/berth
BERTHD=$BUILD_DIR/daemon/berthd
AGENT=$BUILD_DIR/agents/berth-agent
NODES=(h100-0 h100-1 h100-2 h100-3 a100-0 a100-1)

# is_ours PID: the process is a berthd or berth-agent started from $STATE
# (its command line names a file in $STATE), so a reused pid is never hit.
is_ours() {
  local cmdline
  cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *berthd* || $cmdline == *berth-agent* ]] &&
    [[ $cmdline == *"$STATE/"* ]]
}

# stop_all: ends the processes in $STATE/pids (agents first, then berthd):
# SIGTERM, up to 10 s to exit, then SIGKILL. Idempotent.
stop_all() {
  local stopped=0 file pid name
  [[ -d $STATE/pids ]] || { echo "quickstart: nothing to stop in $STATE"; return 0; }
  for file in "$STATE"/pids/agent-*.pid "$STATE"/pids/berthd.pid; do
    [[ -f $file ]] || continue
    pid=$(<"$file")
    name=$(basename "$file" .pid)
    if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 100); do is_ours "$pid" || break; sleep 0.1; done
      if is_ours "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        echo "quickstart: stopped $name (pid $pid, killed after 10 s)"
      else
        echo "quickstart: stopped $name (pid $pid)"
      fi
      stopped=$((stopped + 1))
    fi
    rm -f "$file"
  done
  rm -f "$STATE/addr"
  [[ $stopped -gt 0 ]] || echo "quickstart: nothing was running from $STATE"
}

case "${1:-}" in
  --stop)
    stop_all
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: deploy/quickstart.sh [--stop]" >&2
    exit 2
    ;;
esac

if [[ ${BERTH_SKIP_BUILD:-0} == 1 ]]; then
  echo "== using the binaries in $BUILD_DIR (BERTH_SKIP_BUILD=1)"
else
  echo "== installing dependencies"
  bash deploy/install-deps.sh
  echo "== building (cmake --preset default)"
  cmake --preset default >/dev/null
  cmake --build build -j"$(nproc)" --target berth berthd berth-agent
  BUILD_DIR=$REPO/build BERTH=$REPO/build/cli/berth
  BERTHD=$REPO/build/daemon/berthd AGENT=$REPO/build/agents/berth-agent
fi
for bin in "$BERTH" "$BERTHD" "$AGENT"; do
  [[ -x $bin ]] || { echo "quickstart: $bin is missing; build first" >&2; exit 1; }
done

# --- The planner alone: no daemon needed.

# example TITLE EXPECTED_EXIT ARGS...: runs `berth plan ARGS` and checks its
# exit code: 0 when the plan fits, 3 when berth refuses the job.
example() {
  local title=$1 want=$2
  shift 2
  echo
  echo "== $title"
  echo "\$ berth plan $* --alternatives 0"
  local rc=0
  "$BERTH" plan "$@" --alternatives 0 || rc=$?
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

# --- A simulated cluster.
echo
echo "== stopping any previous quick-start cluster in $STATE"
stop_all
mkdir -p "$STATE/logs" "$STATE/pids"
rm -f "$STATE/berth.db" "$STATE/berth.db-wal" "$STATE/berth.db-shm" "$STATE/port"
rm -rf "$STATE/work"
cp deploy/examples/inventory-h100-node.json "$STATE/inventory-h100.json"
cp deploy/examples/inventory-a100-40gb-node.json "$STATE/inventory-a100.json"

# port_taken PORT: something accepts connections on 127.0.0.1:PORT.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# choose_port VAR DEFAULT WHAT: the port to ask berthd for, from $VAR or
# DEFAULT. A taken DEFAULT becomes 0 (berthd picks a free port); a taken
# explicit $VAR is an error; 0 is kept (a free port).
choose_port() {
  local var=$1 default=$2 what=$3 port
  port=${!var:-$default}
  if [[ ! $port =~ ^[0-9]+$ ]] || ((port > 65535)); then
    echo "quickstart: $var=$port is not a port number" >&2
    exit 2
  fi
  if [[ $port != 0 ]] && port_taken "$port"; then
    if [[ -n ${!var:-} ]]; then
      echo "quickstart: 127.0.0.1:$port is already in use ($var=$port);" \
        "stop what listens there, or run with $var=0 for a free port" >&2
      exit 1
    fi
    echo "quickstart: 127.0.0.1:$default is already in use; $what takes a free port instead" >&2
    port=0
  fi
  echo "$port"
}

port=$(choose_port BERTH_PORT 7070 berthd) || exit $?
metrics_port=$(choose_port BERTH_METRICS_PORT 9464 "the cluster map") || exit $?

# berthd keeps the teams file it runs with (`berth admin teams apply` writes
# over it): a copy in $STATE, so the repository's example stays as it is.
cp deploy/examples/teams.yaml "$STATE/teams.yaml"
echo "== starting berthd (database $STATE/berth.db, teams $STATE/teams.yaml)"
# Whatever fails from here on stops what was started; success clears this.
trap 'stop_all >/dev/null' EXIT
nohup "$BERTHD" --listen "127.0.0.1:$port" --db "$STATE/berth.db" \
  --metrics_listen "127.0.0.1:$metrics_port" --teams "$STATE/teams.yaml" \
  --port_file "$STATE/port" </dev/null >"$STATE/logs/berthd.log" 2>&1 &
echo $! >"$STATE/pids/berthd.pid"
daemon=$!
for _ in $(seq 100); do
  [[ -s $STATE/port ]] && break
  if ! kill -0 "$daemon" 2>/dev/null; then
    echo "quickstart: berthd exited; its log:" >&2
    cat "$STATE/logs/berthd.log" >&2
    exit 1
  fi
  sleep 0.1
done
port=$(sed -n 's/^grpc=//p' "$STATE/port" 2>/dev/null)
metrics_port=$(sed -n 's/^metrics=//p' "$STATE/port" 2>/dev/null)
if [[ -z $port || -z $metrics_port ]]; then
  echo "quickstart: berthd wrote no port within 10 s; see $STATE/logs/berthd.log" >&2
  stop_all >/dev/null
  exit 1
fi
ADDR=127.0.0.1:$port
echo "$ADDR" >"$STATE/addr"
MAP=http://127.0.0.1:$metrics_port/
echo "berthd listens on $ADDR (pid $daemon); cluster map and /metrics on ${MAP%/}"

echo "== starting 6 simulated nodes: 4 × 8 h100-80gb, 2 × 8 a100-40gb"
for node in "${NODES[@]}"; do
  inventory=$STATE/inventory-${node%%-*}.json
  nohup "$AGENT" --daemon "$ADDR" --node "$node" --inventory "$inventory" \
    --jobs simulate --work_dir "$STATE/work/$node" \
    </dev/null >"$STATE/logs/agent-$node.log" 2>&1 &
  echo $! >"$STATE/pids/agent-$node.pid"
done

connected=0
for _ in $(seq 300); do
  connected=$("$BERTH" nodes --daemon "$ADDR" --json 2>/dev/null |
    python3 -c 'import json, sys; print(sum(n["connected"] for n in json.load(sys.stdin)))' \
      2>/dev/null) || connected=0
  [[ $connected == "${#NODES[@]}" ]] && break
  sleep 0.1
done
if [[ $connected != "${#NODES[@]}" ]]; then
  echo "quickstart: only $connected of ${#NODES[@]} nodes connected within 30 s;" \
    "logs in $STATE/logs" >&2
  stop_all >/dev/null
  exit 1
fi
echo "all ${#NODES[@]} nodes connected"

# submit TITLE FILE EXPECTED_EXIT: submits FILE and prints berth's decision;
# the job id in $job_id.
submit() {
  local title=$1 file=$2 want=$3 rc=0 out
  echo
  echo "== $title"
  echo "\$ berth submit $file"
  out=$("$BERTH" submit "$file" --daemon "$ADDR" 2>&1) || rc=$?
  echo "$out"
  job_id=$(sed -n 's/^job \([0-9]*\): .*/\1/p' <<<"$out" | head -1)
  if [[ $rc -ne $want ]]; then
    echo "quickstart: expected exit code $want, got $rc" >&2
    exit 1
  fi
  [[ $rc -eq 3 ]] && echo "(exit code 3: refused, as expected)"
  return 0
}

submit "Llama 2 7B training on H100 80GB" deploy/examples/train-llama-2-7b.json 0
submit "Llama 2 70B training on H100 80GB (a gang across nodes)" \
  deploy/examples/train-llama-2-70b.json 0
gang=$job_id
submit "Llama 3 70B serving, any pool" deploy/examples/serve-llama-3-70b.json 0
submit "Llama 3.1 405B training, split fixed to 1 a100-40gb GPU (refused)" \
  deploy/examples/too-large.json 3

# A job that ends: simulated nodes run a job for its BERTH_SIMULATE_SECONDS.
cat >"$STATE/eval-llama-2-7b.yaml" <<'YAML'
name: eval-llama-2-7b
team: qa
task: infer
model: {catalog_name: llama-2-7b}
gpu_type: a100-40gb
command: [python, eval.py]
env: {BERTH_SIMULATE_SECONDS: "3"}
YAML
echo
echo "== A 3-second evaluation job, followed until it ends"
echo "\$ cat $STATE/eval-llama-2-7b.yaml"
cat "$STATE/eval-llama-2-7b.yaml"
echo "\$ berth submit --wait $STATE/eval-llama-2-7b.yaml"
if ! "$BERTH" submit --wait --timeout 60s "$STATE/eval-llama-2-7b.yaml" --daemon "$ADDR"; then
  echo "quickstart: the evaluation job did not succeed; logs in $STATE/logs" >&2
  exit 1
fi

echo
echo "== where the 70B training job runs"
echo "\$ berth job $gang   (its last lines)"
"$BERTH" job "$gang" --daemon "$ADDR" >"$STATE/logs/job-$gang.txt"
sed -n '/^GPUs per node/,$p' "$STATE/logs/job-$gang.txt"
echo
echo "\$ berth jobs"
"$BERTH" jobs --daemon "$ADDR"
echo
echo "\$ berth nodes"
"$BERTH" nodes --daemon "$ADDR"
echo
echo "\$ berth teams   (quotas from deploy/examples/teams.yaml)"
"$BERTH" teams --daemon "$ADDR"

trap - EXIT
cat <<EOF

quickstart: berthd and ${#NODES[@]} simulated nodes are running in the background.
  address    $ADDR
  metrics    ${MAP}metrics
  database   $STATE/berth.db
  logs       $STATE/logs/
  pids       $STATE/pids/

Use them:
  export BERTH_ADDR=$ADDR
  export PATH="$BUILD_DIR/cli:\$PATH"
  berth jobs; berth nodes; berth teams; berth job 1
  berth submit deploy/examples/train-llama-2-70b.json

See the cluster map in a browser (it refreshes itself):
  $MAP

Stop them:
  ${BERTH_HOME:+BERTH_HOME=$STATE }deploy/quickstart.sh --stop
EOF
