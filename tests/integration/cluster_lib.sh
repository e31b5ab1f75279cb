# Shared by metrics_test.sh and cluster_map_test.sh (source it; not a test).
# A real berthd with its metrics port and berth-agents with inventory files on
# 127.0.0.1 (port 0, a temporary database), jobs submitted with the real
# `berth`. Every wait is bounded; the EXIT trap ends every child it started
# (TERM, then KILL after 5 s) and removes $TMP.
#
# Needs BERTHD, AGENT and BERTH set before start_berthd.

TMP=$(mktemp -d)
children=()
failures=0

cleanup() {
  local pid
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${children[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# fatal MESSAGE: a failure the rest of the test cannot go on from.
fatal() {
  echo "FATAL: $*" >&2
  local log
  for log in "$TMP"/*.log; do
    [[ -f $log ]] && { echo "--- $log" >&2; tail -20 "$log" >&2; }
  done
  exit 1
}

# finish NAME: the test's exit status from $failures.
finish() {
  if [[ $failures -gt 0 ]]; then
    echo "$1: $failures failure(s)" >&2
    exit 1
  fi
  echo "$1: all checks passed"
  exit 0
}

# need_file PATH WHAT: fatal when PATH is not an executable.
need_exe() {
  [[ -n $1 && -x $1 ]] || fatal "$2 not found or not executable: '$1'"
}

# run NAME ARGS...: `berth ARGS --daemon $ADDR` under a 20 s hang guard;
# stdout in $TMP/NAME.out, stderr in $TMP/NAME.err, exit code in $rc.
run() {
  local name=$1
  shift
  timeout 20 "$BERTH" "$@" --daemon "$ADDR" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
}

# json_get FILE EXPR: the Python expression EXPR over `r` (the JSON in FILE);
# empty when it cannot be evaluated.
json_get() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null
import json, sys
with open(sys.argv[1]) as f:
    r = json.load(f)
print(eval(sys.argv[2]))
PY
}

# http_get URL FILE: fetches URL into FILE (5 s timeout); non-zero on failure.
http_get() {
  python3 - "$1" "$2" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        data = r.read()
except Exception as e:
    print(f"GET {sys.argv[1]}: {e}", file=sys.stderr)
    sys.exit(1)
with open(sys.argv[2], "wb") as f:
    f.write(data)
PY
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on just now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_berthd: berthd on 127.0.0.1 port 0 with --metrics_listen 127.0.0.1:0;
# sets ADDR (gRPC, host:port) and MPORT (the metrics port) from --port_file.
# More berthd flags (e.g. --teams FILE) in BERTHD_FLAGS, an array.
start_berthd() {
  "$BERTHD" --listen 127.0.0.1:0 --db "$TMP/berth.db" --port_file "$TMP/port" \
    --metrics_listen 127.0.0.1:0 --heartbeat_ms 200 ${BERTHD_FLAGS[@]+"${BERTHD_FLAGS[@]}"} \
    2>"$TMP/berthd.log" &
  berthd_pid=$!
  children+=("$berthd_pid")
  local port="" mport=""
  for _ in $(seq 100); do
    port=$(sed -n 's/^grpc=//p' "$TMP/port" 2>/dev/null)
    mport=$(sed -n 's/^metrics=//p' "$TMP/port" 2>/dev/null)
    [[ -n $port && -n $mport ]] && break
    kill -0 "$berthd_pid" 2>/dev/null || fatal "berthd exited"
    sleep 0.1
  done
  [[ -n $port ]] || fatal "berthd wrote no grpc=PORT line to --port_file within 10 s"
  [[ -n $mport ]] || fatal "berthd wrote no metrics=PORT line to --port_file within 10 s"
  ADDR=127.0.0.1:$port
  MPORT=$mport
}

# start_agents N: N berth-agents named node-0... with 8 × h100-80gb each;
# waits (20 s at most) until berthd has all N connected.
start_agents() {
  local n=$1 i connected=0
  printf '{"gpus": [{"type": "h100-80gb", "count": 8}]}\n' >"$TMP/inventory.json"
  for ((i = 0; i < n; i++)); do
    "$AGENT" --daemon "$ADDR" --node "node-$i" --inventory "$TMP/inventory.json" \
      --heartbeat_ms 200 --work_dir="$TMP/agent-$i" 2>"$TMP/agent-$i.log" &
    children+=("$!")
  done
  local deadline=$((SECONDS + 20))
  while ((SECONDS < deadline)); do
    run nodes nodes --json
    connected=$(json_get "$TMP/nodes.out" 'sum(1 for n in r if n["connected"])')
    [[ $connected == "$n" ]] && return 0
    sleep 0.1
  done
  fatal "$connected of $n nodes connected after 20 s"
}

# write_spec FILE NAME TEAM MODEL: a training job spec for h100-80gb.
write_spec() {
  printf '{"name": "%s", "team": "%s", "task": "train", "model": {"catalog_name": "%s"}, "gpu_type": "h100-80gb", "max_runtime_seconds": 3600, "command": ["sleep", "600"]}\n' \
    "$2" "$3" "$4" >"$1"
}

# submit NAME TEAM MODEL: submits a job; its id in $job_id (empty on failure),
# berth's exit code in $rc.
submit() {
  write_spec "$TMP/spec-$1.json" "$1" "$2" "$3"
  run "submit-$1" submit "$TMP/spec-$1.json" --json
  job_id=$(json_get "$TMP/submit-$1.out" 'r["job"]["id"]')
}

# job_state ID: the job's state (PENDING, PLACED, ...), or empty.
job_state() {
  run "job-$1" job "$1" --json
  json_get "$TMP/job-$1.out" 'r["state"]'
}

# wait_placed ID: polls (10 s at most) until the job is PLACED or RUNNING.
wait_placed() {
  local state="" deadline=$((SECONDS + 10))
  while ((SECONDS < deadline)); do
    state=$(job_state "$1")
    [[ $state == PLACED || $state == RUNNING ]] && return 0
    sleep 0.1
  done
  fail "job $1: state \"$state\" after 10 s, want PLACED or RUNNING"
  return 1
}

# job_gpus ID: how many GPUs the job holds (its gpus list).
job_gpus() {
  run "gpus-$1" job "$1" --json
  json_get "$TMP/gpus-$1.out" 'len(r["gpus"])'
}
