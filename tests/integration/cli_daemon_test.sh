#!/usr/bin/env bash
# Integration test of the daemon verbs of `berth` against a real berthd and
# six real berth-agents (4 × 8 h100-80gb, 2 × 8 a100-40gb) on 127.0.0.1 with
# port 0 and a temporary database. Every verb runs in human and JSON output;
# the JSON is checked with python3. Also: YAML specs (submit, plan --spec,
# and bad files with their line), `submit --wait` (to a cancel, and with
# --timeout), `watch --once` (human and JSON) and every verb's exit-code
# footer in --help. Every wait is bounded, and a trap ends
# every child process (TERM, then wait) whatever happens.
#
#   bash tests/integration/cli_daemon_test.sh build/cli/berth \
#     build/daemon/berthd build/agents/berth-agent
set -uo pipefail

BERTH=${1:?usage: cli_daemon_test.sh BERTH BERTHD BERTH_AGENT}
BERTHD=${2:?usage: cli_daemon_test.sh BERTH BERTHD BERTH_AGENT}
AGENT=${3:?usage: cli_daemon_test.sh BERTH BERTHD BERTH_AGENT}
EXAMPLES=$(cd "$(dirname "$0")/../../deploy/examples" && pwd)
TMP=$(mktemp -d)
children=()
failures=0

cleanup() {
  local pid
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null; done
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
  for log in "$TMP"/*.log; do
    [[ -f $log ]] && { echo "--- $log" >&2; tail -20 "$log" >&2; }
  done
  exit 1
}

# run NAME ARGS...: runs berth ARGS against the daemon under a 20 s hang
# guard; stdout in $TMP/NAME.out, stderr in $TMP/NAME.err, exit code in $rc.
run() {
  local name=$1
  shift
  timeout 20 "$BERTH" "$@" --daemon "$ADDR" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
}

expect_rc() {
  local name=$1 want=$2
  if [[ $rc -ne $want ]]; then
    fail "$name: exit code $rc, want $want; stderr: $(cat "$TMP/$name.err")"
  fi
}

# expect_out NAME TEXT: stdout contains TEXT. expect_err: stderr does.
expect_out() {
  grep -qF -- "$2" "$TMP/$1.out" ||
    fail "$1: stdout lacks \"$2\": $(head -c 2000 "$TMP/$1.out")"
}
expect_err() {
  grep -qF -- "$2" "$TMP/$1.err" ||
    fail "$1: stderr lacks \"$2\": $(cat "$TMP/$1.err")"
}

# check_json NAME PYTHON: loads $TMP/NAME.out into `r`, runs the assertions.
check_json() {
  local name=$1 code=$2
  python3 - "$TMP/$name.out" <<PY || fail "$name: JSON checks failed"
import json, sys
with open(sys.argv[1]) as f:
    r = json.load(f)
$code
PY
}

# json_get NAME EXPR: prints the Python expression EXPR over `r` (the JSON in
# $TMP/NAME.out); empty when it cannot be evaluated.
json_get() {
  python3 - "$TMP/$1.out" "$2" <<'PY' 2>/dev/null
import json, sys
with open(sys.argv[1]) as f:
    r = json.load(f)
print(eval(sys.argv[2]))
PY
}

# job_state ID: the job's state, or empty.
job_state() {
  run "state_$1" job "$1" --json
  json_get "state_$1" 'r["state"]'
}

# wait_state ID STATE...: polls (at most 100 × 0.1 s) until the job is in one
# of STATEs; returns 1 when it never is.
wait_state() {
  local id=$1 state
  shift
  for _ in $(seq 100); do
    state=$(job_state "$id")
    for want in "$@"; do [[ $state == "$want" ]] && return 0; done
    sleep 0.1
  done
  fail "job $id: state \"$state\" after 10 s, want one of $*"
  return 1
}

# submit NAME FILE: submits FILE as JSON; the job id in $job_id.
submit() {
  run "$1" submit "$2" --json
  job_id=$(json_get "$1" 'r["job"]["id"]')
}

# --- Start the daemon and six agents.
# --request_id_window=1s: `admin prune` below may take jobs a second old
# (every job berth submits carries a request id).
"$BERTHD" --listen 127.0.0.1:0 --db "$TMP/berth.db" --port_file "$TMP/port" \
  --request_id_window=1s \
  --heartbeat_ms 200 2>"$TMP/berthd.log" &
daemon=$!
children+=("$daemon")
for _ in $(seq 100); do
  [[ -s "$TMP/port" ]] && break
  kill -0 "$daemon" 2>/dev/null || fatal "berthd exited"
  sleep 0.1
done
port=$(sed -n 's/^grpc=//p' "$TMP/port" 2>/dev/null)
[[ -n $port ]] || fatal "berthd wrote no port file within 10 s"
ADDR=127.0.0.1:$port

printf '{"gpus": [{"type": "h100-80gb", "count": 8}], "labels": {"rack": "r1"}}\n' \
  >"$TMP/h100.json"
printf '{"gpus": [{"type": "a100-40gb", "count": 8}], "labels": {"rack": "r2"}}\n' \
  >"$TMP/a100.json"
start_agent() {
  "$AGENT" --daemon "$ADDR" --node "$1" --inventory "$TMP/$2.json" \
    --heartbeat_ms 200 2>"$TMP/agent-$1.log" &
  children+=("$!")
}
for i in 0 1 2 3; do start_agent "h100-$i" h100; done
for i in 0 1; do start_agent "a100-$i" a100; done

connected=0
for _ in $(seq 200); do
  run nodes_wait nodes --json
  connected=$(json_get nodes_wait 'sum(1 for n in r if n["connected"])')
  [[ $connected == 6 ]] && break
  sleep 0.1
done
[[ $connected == 6 ]] || fatal "$connected of 6 nodes connected after 20 s"

# --- nodes, human and JSON.
run nodes nodes
expect_rc nodes 0
for word in NODE OCCUPANCY h100-0 h100-3 a100-1 h100-80gb a100-40gb \
  "0/8" "[00000000]" "rack=r1"; do
  expect_out nodes "$word"
done
run nodes_json nodes --json
expect_rc nodes_json 0
check_json nodes_json '
names = sorted(n["name"] for n in r)
assert names == ["a100-0", "a100-1", "h100-0", "h100-1", "h100-2", "h100-3"], names
for n in r:
    assert n["state"] == "UP" and n["connected"] is True, n["name"]
    assert len(n["gpus"]) == 8, n["name"]
    want = "h100-80gb" if n["name"].startswith("h100") else "a100-40gb"
    assert all(g["type"] == want and g["job_id"] == "0" for g in n["gpus"]), n["name"]
'

# --- A 7B training job fits on one node.
run submit_7b_human submit "$EXAMPLES/train-llama-2-7b.json"
expect_rc submit_7b_human 0
expect_out submit_7b_human "h100-80gb"
job_7b_human=$(sed -n 's/^job \([0-9]*\): .*/\1/p' "$TMP/submit_7b_human.out" | head -1)
[[ -n $job_7b_human ]] || fail "submit_7b_human: no \"job ID:\" line"
submit submit_7b "$EXAMPLES/train-llama-2-7b.json"
expect_rc submit_7b 0
[[ $job_id =~ ^[0-9]+$ ]] || fatal "submit_7b: no job id in $(cat "$TMP/submit_7b.out")"
job_7b=$job_id
[[ $job_7b != "$job_7b_human" ]] || fail "two submits returned the same job $job_7b"
check_json submit_7b '
j = r["job"]
assert j["state"] in ("PENDING", "PLACED", "RUNNING"), j["state"]
assert j["gpu_type"] == "h100-80gb" and j["plan"]["feasible"] is True
'
wait_state "$job_7b" PLACED RUNNING

# --- The YAML twin submits the same spec.
submit submit_7b_yaml "$EXAMPLES/train-llama-2-7b.yaml"
expect_rc submit_7b_yaml 0
job_7b_yaml=$job_id
[[ $job_7b_yaml =~ ^[0-9]+$ ]] || fail "submit_7b_yaml: no job id: $(cat "$TMP/submit_7b_yaml.out")"
check_json submit_7b_yaml '
j = r["job"]
s = j["spec"]
assert s["name"] == "train-llama-2-7b" and s["team"] == "nlp" and s["task"] == "train", s
assert s["model"]["catalog_name"] == "llama-2-7b" and s["train"]["seq"] == "4096", s
assert s["command"] == ["python", "train.py"] and s["max_runtime_seconds"] == "3600", s
assert j["gpu_type"] == "h100-80gb" and j["plan"]["feasible"] is True
'
# Cancelled again so that the cluster fills below as it would without it.
run cancel_7b_yaml cancel "$job_7b_yaml"
expect_rc cancel_7b_yaml 0
# A job that is not running has no checkpoint to report: refused, exit 3.
run checkpoint_cancelled checkpoint "$job_7b_yaml"
expect_rc checkpoint_cancelled 3
grep -q "is not running" "$TMP/checkpoint_cancelled.err" ||
  fail "checkpoint_cancelled: $(cat "$TMP/checkpoint_cancelled.err")"

# --- plan --spec plans what submit submits: the same plan as the daemon's.
timeout 20 "$BERTH" plan --spec "$EXAMPLES/train-llama-2-7b.yaml" --json \
  >"$TMP/plan_spec.out" 2>"$TMP/plan_spec.err"
rc=$?
expect_rc plan_spec 0
python3 - "$TMP/plan_spec.out" "$TMP/submit_7b_yaml.out" <<'PY' || fail "plan_spec: plan differs from the daemon's"
import json, sys
plan = json.load(open(sys.argv[1]))
job = json.load(open(sys.argv[2]))["job"]
for key in ("gpus", "tp", "pp", "dp", "zero_stage", "micro_batch", "recompute"):
    assert plan[key] == job["plan"][key], (key, plan[key], job["plan"][key])
assert plan["per_gpu"]["total_bytes"] == job["plan"]["per_gpu"]["total_bytes"]
PY
timeout 20 "$BERTH" plan --spec "$EXAMPLES/train-llama-2-70b.json" \
  >"$TMP/plan_spec_human.out" 2>"$TMP/plan_spec_human.err"
rc=$?
expect_rc plan_spec_human 0
expect_out plan_spec_human "llama-2-70b"
expect_out plan_spec_human "Plan: fits on"
timeout 20 "$BERTH" plan --spec "$EXAMPLES/too-large.yaml" \
  >"$TMP/plan_spec_large.out" 2>"$TMP/plan_spec_large.err"
rc=$?
expect_rc plan_spec_large 3
expect_err plan_spec_large "does not fit a100-40gb"
timeout 20 "$BERTH" plan --spec "$EXAMPLES/train-llama-2-7b.yaml" --seq 8192 \
  >"$TMP/plan_spec_flag.out" 2>"$TMP/plan_spec_flag.err"
rc=$?
expect_rc plan_spec_flag 2
expect_err plan_spec_flag "--seq: not with --spec; set train.seq in the spec"

run job_7b job "$job_7b" --json
expect_rc job_7b 0
check_json job_7b '
assert r["id"] == "'"$job_7b"'"
assert r["state"] in ("PLACED", "RUNNING"), r["state"]
assert r["spec"]["name"] == "train-llama-2-7b" and r["spec"]["team"] == "nlp"
gpus = r["gpus"]
assert len(gpus) == r["plan"]["gpus"] >= 1, (len(gpus), r["plan"]["gpus"])
assert len({g["node"] for g in gpus}) == 1, gpus
assert all(g["node"].startswith("h100-") for g in gpus), gpus
assert len({(g["node"], g["index"]) for g in gpus}) == len(gpus), gpus
'
run job_7b_human job "$job_7b"
expect_rc job_7b_human 0
for word in "job $job_7b: train-llama-2-7b" "team nlp" "llama-2-7b" \
  "per-GPU memory" "GPUs per node" "h100-"; do
  expect_out job_7b_human "$word"
done

# --- jobs lists it.
run jobs_human jobs
expect_rc jobs_human 0
expect_out jobs_human "TP×PP×DP"
grep -qE "^ *$job_7b +train-llama-2-7b +nlp +(PLACED|RUNNING) " "$TMP/jobs_human.out" ||
  fail "jobs_human: no row for job $job_7b: $(cat "$TMP/jobs_human.out")"
run jobs_json jobs --json
expect_rc jobs_json 0
check_json jobs_json '
assert isinstance(r, list)
ids = [j["id"] for j in r]
assert "'"$job_7b"'" in ids and "'"$job_7b_human"'" in ids, ids
'
run jobs_team jobs --team serving --json
expect_rc jobs_team 0
check_json jobs_team 'assert r == [], r'
# A YAML serving spec, submitted and cancelled (human output).
run submit_serve_yaml_human submit "$EXAMPLES/serve-llama-3-70b.yaml"
expect_rc submit_serve_yaml_human 0
expect_out submit_serve_yaml_human "job "
job_serve_yaml=$(sed -n 's/^job \([0-9]*\): .*/\1/p' "$TMP/submit_serve_yaml_human.out" | head -1)
[[ -n $job_serve_yaml ]] && run cancel_serve_yaml cancel "$job_serve_yaml"

# --- A 70B training job is gang-placed across nodes.
submit submit_70b "$EXAMPLES/train-llama-2-70b.json"
expect_rc submit_70b 0
job_70b=$job_id
wait_state "$job_70b" PLACED RUNNING
run job_70b job "$job_70b" --json
expect_rc job_70b 0
check_json job_70b '
gpus = r["gpus"]
plan = r["plan"]
assert len(gpus) == plan["gpus"] == plan["tp"] * plan["pp"] * plan["dp"], plan["gpus"]
nodes = {g["node"] for g in gpus}
assert len(nodes) > 1, nodes
assert len(nodes) == plan["nodes"], (nodes, plan["nodes"])
assert len({(g["node"], g["index"]) for g in gpus}) == len(gpus)
# A tensor-parallel group never leaves a node.
groups = {}
for g in gpus:
    groups.setdefault((g["pp_rank"], g["dp_rank"]), set()).add(g["node"])
assert all(len(s) == 1 for s in groups.values()), groups
'

# --- A serving job (no gpu_type: any pool it fits).
run submit_serve submit "$EXAMPLES/serve-llama-3-70b.json"
expect_rc submit_serve 0
expect_out submit_serve "plan"
job_serve=$(sed -n 's/^job \([0-9]*\): .*/\1/p' "$TMP/submit_serve.out" | head -1)
wait_state "$job_serve" PLACED RUNNING
check_json "state_$job_serve" 'assert r["spec"]["task"] == "infer" and r["gpus"], r["state"]'

# --- A job no pool can ever hold: exit 3, with the reason.
run too_large submit "$EXAMPLES/too-large.json"
expect_rc too_large 3
expect_err too_large "berth submit: refused:"
expect_err too_large "does not fit a100-40gb"
run too_large_json submit "$EXAMPLES/too-large.json" --json
expect_rc too_large_json 3
expect_err too_large_json "refused"

# --- Bad spec files: exit 2, before or from the daemon.
printf '{"team": "nlp", "modle": {}}\n' >"$TMP/unknown.json"
run bad_field submit "$TMP/unknown.json"
expect_rc bad_field 2
expect_err bad_field "modle: unknown field"
printf '{"name": "x", "team": "nlp", ' >"$TMP/broken.json"
run bad_json submit "$TMP/broken.json"
expect_rc bad_json 2
printf '{"name": "x", "team": "nlp", "task": "train", "model": {"catalog_name": "no-such-model"}, "command": ["true"]}\n' \
  >"$TMP/nomodel.json"
run bad_model submit "$TMP/nomodel.json"
expect_rc bad_model 2
expect_err bad_model "no-such-model"

# --- Bad YAML files: exit 2, with the file, the line and the field.
printf 'name: x\nteam: nlp\nmodel:\n  catalog_name: [llama\n' >"$TMP/syntax.yaml"
run yaml_syntax submit "$TMP/syntax.yaml"
expect_rc yaml_syntax 2
grep -qE "^berth submit: $TMP/syntax.yaml:[0-9]+: YAML syntax error: " "$TMP/yaml_syntax.err" ||
  fail "yaml_syntax: no file:line: $(cat "$TMP/yaml_syntax.err")"
printf 'name: x\nteam: nlp\ntask: train\nmodel:\n  catalog_name: llama-2-7b\n  catalog_nam: x\n' \
  >"$TMP/unknown.yaml"
run yaml_unknown submit "$TMP/unknown.yaml"
expect_rc yaml_unknown 2
expect_err yaml_unknown "berth submit: $TMP/unknown.yaml:6: model.catalog_nam: unknown field"
printf 'name: x\nteam: nlp\ntask: train\nmodel: {catalog_name: llama-2-7b}\ntrain:\n  seq: long\n' \
  >"$TMP/type.yml"
run yaml_type submit "$TMP/type.yml" --json
expect_rc yaml_type 2
expect_err yaml_type "berth submit: $TMP/type.yml:6: train.seq: expected an integer, got \"long\""
timeout 20 "$BERTH" plan --spec "$TMP/type.yml" >"$TMP/plan_yaml_type.out" 2>"$TMP/plan_yaml_type.err"
rc=$?
expect_rc plan_yaml_type 2
expect_err plan_yaml_type "$TMP/type.yml:6: train.seq: expected an integer"

# --- Fill the H100 pool with 70B jobs until one waits (at most 3 submits).
waiting=""
for _ in 1 2 3; do
  submit fill "$EXAMPLES/train-llama-2-70b.json"
  expect_rc fill 0
  [[ $job_id =~ ^[0-9]+$ ]] || break
  sleep 0.2
  if [[ $(job_state "$job_id") == PENDING ]]; then
    waiting=$job_id
    break
  fi
done
[[ -n $waiting ]] || fatal "no 70B job waits after filling the H100 pool"

run why_human why "$waiting"
expect_rc why_human 0
expect_out why_human "job $waiting: PENDING, position 1 in the queue"
grep -qE "^Job $waiting is 1st in the queue and needs [0-9]+ GPUs.*\.$" \
  "$TMP/why_human.out" || fail "why_human: no summary sentence: $(cat "$TMP/why_human.out")"
expect_out why_human "earliest start:"
run why_json why "$waiting" --json
expect_rc why_json 0
check_json why_json '
assert r["queue_position"] == 1, r["queue_position"]
assert r["job"]["state"] == "PENDING" and r["job"]["gpus"] == []
assert r["summary"].startswith("Job '"$waiting"' is 1st in the queue"), r["summary"]
assert r["details"], r
# The running jobs all have time limits, so a start time is known.
assert int(r["earliest_start_ms"]) > 0, r["earliest_start_ms"]
'
run why_running why "$job_7b"
expect_rc why_running 0
expect_out why_running "RUNNING"
# --- watch --once shows the queue with positions and the cluster.
run watch_once watch --once
expect_rc watch_once 0
for word in "QUEUE: 1 pending" "POS" "ACTIVE:" "CLUSTER: 6 nodes" "POOL" \
  "h100-80gb" "a100-40gb"; do
  expect_out watch_once "$word"
done
# Per node a bar of its 8 GPUs, with the busy ones marked.
grep -qE "^ +h100-[0-3] +UP +h100-80gb +[1-8]/8 +\[[#.]*#[#.]*\]$" "$TMP/watch_once.out" ||
  fail "watch_once: no busy h100 node bar: $(cat "$TMP/watch_once.out")"
grep -qE "^ +1 +$waiting +train-llama-2-70b +nlp " "$TMP/watch_once.out" ||
  fail "watch_once: no queue row for job $waiting: $(cat "$TMP/watch_once.out")"
grep -q $'\x1b' "$TMP/watch_once.out" && fail "watch_once: terminal codes in --once output"
run watch_json watch --once --json
expect_rc watch_json 0
check_json watch_json '
assert r["pending_total"] == 1, r["pending_total"]
q = r["queue"]
assert len(q) == 1 and q[0]["queue_position"] == 1, q
assert q[0]["job"]["id"] == "'"$waiting"'" and q[0]["job"]["state"] == "PENDING"
assert q[0]["summary"], q[0]
assert all(j["state"] in ("PLACED", "RUNNING") for j in r["active"]), r["active"]
assert "'"$job_7b"'" in [j["id"] for j in r["active"]]
assert sorted(n["name"] for n in r["nodes"])[0] == "a100-0"
assert len(r["nodes"]) == 6 and r["daemon"] == "'"$ADDR"'"
'
run watch_json_live watch --json
expect_rc watch_json_live 2
expect_err watch_json_live "--json: needs --once"

run jobs_pending jobs --state PENDING --json
expect_rc jobs_pending 0
check_json jobs_pending '
assert [j["id"] for j in r] == ["'"$waiting"'"], [(j["id"], j["state"]) for j in r]
'

# --- Cancel the running 70B job: the waiting one is placed.
run cancel_human cancel "$job_70b"
expect_rc cancel_human 0
expect_out cancel_human "job $job_70b: CANCELLED"
wait_state "$waiting" PLACED RUNNING
run cancelled job "$job_70b" --json
check_json cancelled '
assert r["state"] == "CANCELLED", r["state"]
assert r["reason"] == "cancelled by request", r["reason"]
'
run cancel_again cancel "$job_70b"
expect_rc cancel_again 3
expect_err cancel_again "already ended"
run cancel_json cancel "$job_7b_human" --json
expect_rc cancel_json 0
check_json cancel_json 'assert r["state"] == "CANCELLED", r'

# No GPU is held by two jobs, and the nodes agree with the jobs.
run nodes_after nodes --json
run jobs_after jobs --json
if ! python3 - "$TMP/nodes_after.out" "$TMP/jobs_after.out" <<'PY'
import json, sys
nodes = json.load(open(sys.argv[1]))
jobs = json.load(open(sys.argv[2]))
held = {(n["name"], g["index"]): g["job_id"] for n in nodes for g in n["gpus"]
        if g["job_id"] != "0"}
want = {}
for j in jobs:
    if j["state"] in ("PLACED", "RUNNING"):
        for g in j["gpus"]:
            key = (g["node"], g["index"])
            assert key not in want, ("GPU in two jobs", key)
            want[key] = j["id"]
assert held == want, (held, want)
PY
then
  fail "nodes and jobs disagree on GPU ownership"
fi

# --- drain / undrain.
run drain drain h100-0
expect_rc drain 0
expect_out drain "node h100-0: DRAINED"
run drained nodes --json
check_json drained '
states = {n["name"]: n["state"] for n in r}
assert states["h100-0"] == "DRAINED", states
assert all(s == "UP" for name, s in states.items() if name != "h100-0"), states
'
run drained_human nodes
grep -qE "^h100-0 +DRAINED " "$TMP/drained_human.out" ||
  fail "drained_human: h100-0 not DRAINED: $(cat "$TMP/drained_human.out")"
# Nothing new lands on a drained node.
submit drained_submit "$EXAMPLES/train-llama-2-7b.json"
expect_rc drained_submit 0
sleep 0.3
run drained_job job "$job_id" --json
check_json drained_job '
assert all(g["node"] != "h100-0" for g in r["gpus"]), r["gpus"]
'
run undrain_json undrain h100-0 --json
expect_rc undrain_json 0
check_json undrain_json 'assert r["name"] == "h100-0" and r["state"] == "UP", r'
run drain_json drain h100-1 --json
expect_rc drain_json 0
check_json drain_json 'assert r["name"] == "h100-1" and r["state"] == "DRAINED", r'
run undrain undrain h100-1
expect_rc undrain 0
expect_out undrain "node h100-1: UP"
run drain_missing drain no-such-node
expect_rc drain_missing 4

# --- events: the log of what happened to a job and to a node.
run events_70b events "$job_70b" --json
expect_rc events_70b 0
check_json events_70b '
kinds = [e["kind"] for e in r]
assert all(e["job_id"] == "'"$job_70b"'" for e in r), r
assert kinds[0] == "submitted", kinds
assert "placed" in kinds and "cancelled" in kinds, kinds
# After the cancel, only each node confirming the stop (its GPUs freed then).
after = kinds[kinds.index("cancelled") + 1:]
assert after and all(k == "stopped" for k in after), kinds
stopped_nodes = [e["node"] for e in r if e["kind"] == "stopped"]
assert len(set(stopped_nodes)) == len(stopped_nodes), stopped_nodes
ids = [int(e["id"]) for e in r]
assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
'
run events_human events "$job_70b"
expect_rc events_human 0
expect_out events_human "KIND"
expect_out events_human "cancelled"
run events_node events --node h100-1 --json
expect_rc events_node 0
check_json events_node '
kinds = [e["kind"] for e in r]
assert all(e["node"] == "h100-1" for e in r), r
assert kinds[-2:] == ["node_drained", "node_undrained"], kinds
'
first_event=$(json_get events_70b 'r[0]["id"]')
run events_after events "$job_70b" --after "$first_event" --limit 2 --json
expect_rc events_after 0
check_json events_after '
assert len(r) == 2, r
assert all(int(e["id"]) > '"${first_event:-0}"' for e in r), r
assert r[-1]["kind"] == "stopped", r
'
run events_none events 999999
expect_rc events_none 0
expect_out events_none "no events"
run events_bad_limit events --limit 0
expect_rc events_bad_limit 2
expect_err events_bad_limit "--limit: must be from 1 to 10000"

# --- Not found: exit 4.
run job_missing job 999999
expect_rc job_missing 4
expect_err job_missing "999999"
run job_missing_json job 999999 --json
expect_rc job_missing_json 4
run why_missing why 999999
expect_rc why_missing 4
run cancel_missing cancel 999999
expect_rc cancel_missing 4
run bad_id job twelve
expect_rc bad_id 2

# --- submit --wait: follows a job to its end. A job cancelled while
# submit waits ends the wait with exit 1.
printf 'name: wait-cancel\nteam: qa\ntask: train\nmodel: {catalog_name: llama-2-7b}\ncommand: [sleep, "600"]\n' \
  >"$TMP/sleep.yaml"
timeout 60 "$BERTH" submit "$TMP/sleep.yaml" --wait --daemon "$ADDR" \
  >"$TMP/wait_cancel.out" 2>"$TMP/wait_cancel.err" &
waiter=$!
children+=("$waiter")
wait_id=""
for _ in $(seq 100); do
  wait_id=$(sed -n 's/^job \([0-9]*\): .*/\1/p' "$TMP/wait_cancel.out" | head -1)
  [[ -n $wait_id ]] && break
  sleep 0.1
done
if [[ -n $wait_id ]]; then
  sleep 0.5  # let the waiter poll at least once
  run wait_cancel_cancel cancel "$wait_id"
  expect_rc wait_cancel_cancel 0
  wait "$waiter"
  rc=$?
  expect_rc wait_cancel 1
  grep -qE "^[0-9:]{8} job $wait_id: CANCELLED" "$TMP/wait_cancel.out" ||
    fail "wait_cancel: no CANCELLED line: $(cat "$TMP/wait_cancel.out")"
else
  fail "wait_cancel: no job id printed: $(cat "$TMP/wait_cancel.out" "$TMP/wait_cancel.err")"
fi

# A job whose command is `true`: SUCCEEDED (exit 0) when the agents run
# commands; until they do it never ends and --timeout ends the wait (exit 6).
printf '{"name": "wait-true", "team": "qa", "task": "train", "model": {"catalog_name": "llama-2-7b"}, "command": ["true"]}\n' \
  >"$TMP/true.json"
run wait_true submit "$TMP/true.json" --wait --timeout 3s --json
case $rc in
  0) check_json wait_true 'assert r["job"]["state"] == "SUCCEEDED", r["job"]["state"]' ;;
  6)
    expect_err wait_true "berth submit: timed out after 3s; job "
    check_json wait_true 'assert r["job"]["state"] in ("PENDING", "PLACED", "RUNNING"), r["job"]["state"]'
    echo "cli_daemon_test: jobs did not end within 3 s (agents do not run commands?); checked the --timeout path"
    ;;
  *) fail "wait_true: exit code $rc, want 0 or 6; stderr: $(cat "$TMP/wait_true.err")" ;;
esac
run wait_bad_timeout submit "$TMP/true.json" --timeout 3s
expect_rc wait_bad_timeout 2
expect_err wait_bad_timeout "--timeout: needs --wait"

# --- Every verb documents its exit codes in --help.
for verb in plan submit jobs job cancel why watch nodes drain undrain events; do
  "$BERTH" "$verb" --help >"$TMP/help_$verb.out" 2>&1
  grep -q "^Exit codes:" "$TMP/help_$verb.out" || fail "$verb --help: no exit codes"
  grep -qE "^  0  " "$TMP/help_$verb.out" || fail "$verb --help: no code 0"
done
grep -qE "^  6  with --wait --timeout" "$TMP/help_submit.out" || fail "submit --help: no code 6"

# --- A mixture-of-experts job with a fixed expert parallelism: admitted with
# EP 8 inside DP, shown in the tables; then cancelled.
submit moe "$EXAMPLES/train-mixtral-8x7b.yaml"
expect_rc moe 0
check_json moe '
p = r["job"]["plan"]
assert p["ep"] == 8 and p["dp"] % 8 == 0, (p["ep"], p["dp"])
assert r["job"]["state"] in ("PENDING", "PLACED", "RUNNING"), r["job"]["state"]
'
run moe_human job "$job_id"
expect_out moe_human "(EP 8)"
run moe_cancel cancel "$job_id"
expect_rc moe_cancel 0

# --- Job arrays and several files: one SubmitJobs request each.
run array submit --array 0-5:5,7 "$EXAMPLES/train-llama-2-7b.yaml"
expect_rc array 0
expect_out array "submitted 3 jobs: "
run array_json submit --array 1-3 "$EXAMPLES/train-llama-2-7b.yaml" --json
expect_rc array_json 0
check_json array_json '
res = r["results"]
assert len(res) == 3, res
ids = [int(x["job"]["id"]) for x in res]
assert ids == list(range(ids[0], ids[0] + 3)), ids
assert all(x["job"]["state"] != "REJECTED" for x in res), res
'
first=$(json_get array_json 'r["results"][0]["job"]["id"]')
run array_job job "$first" --json
check_json array_job 'assert r["spec"]["array_index"] == 1, r["spec"]'
run two_files submit "$EXAMPLES/train-llama-2-7b.yaml" "$EXAMPLES/too-large.yaml"
expect_rc two_files 3
expect_out two_files "submitted 1 job: "
expect_out two_files ": REJECTED: "
run array_bad submit --array 5-1 "$EXAMPLES/train-llama-2-7b.yaml"
expect_rc array_bad 2
expect_err array_bad "berth submit: --array: \"5-1\": a range must not run backwards"
run array_wait submit --array 1-2 --wait "$EXAMPLES/train-llama-2-7b.yaml"
expect_rc array_wait 2
expect_err array_wait "--wait: follows one job"
run array_missing submit --array 1-2 "$TMP/no-such.yaml"
expect_rc array_missing 2
# Cancel what the arrays queued, so that the cluster is free for the rest.
run arrays_listed jobs --json --state pending,placed,running
for id in $(json_get arrays_listed '" ".join(j["id"] for j in r)'); do
  run cancel_array_job cancel "$id"
done

# --- admin backup: berthd writes an online copy of its database.
run backup admin backup "$TMP/backup.db"
expect_rc backup 0
expect_out backup "backup written to $TMP/backup.db"
[[ -s "$TMP/backup.db" ]] || fail "backup: $TMP/backup.db is empty or missing"
run backup_again admin backup "$TMP/backup.db" --json
[[ $rc -ne 0 ]] || fail "backup_again: overwriting an existing file succeeded"
run backup_relative admin backup relative.db
expect_rc backup_relative 2

# --- admin prune: retention now. Keep only the newest job: every ended job
# before it goes once its nodes confirmed the stop (a few tries), live ones
# stay.
pruned_total=0
for _ in $(seq 20); do
  run prune admin prune --keep 1 --json
  expect_rc prune 0
  pruned_total=$((pruned_total + $(json_get prune 'int(r.get("jobs", 0))')))
  run pruned_job job "$first"
  [[ $rc -eq 4 ]] && break
  sleep 0.5
done
expect_rc pruned_job 4
[[ $pruned_total -ge 1 ]] || fail "prune: nothing was pruned"
run prune_human admin prune --keep 1
expect_rc prune_human 0
expect_out prune_human "pruned "
run prune_bad admin prune --older-than 2x
expect_rc prune_bad 2
expect_err prune_bad "--older-than: expected a positive age"

# The daemon is still up after all of it.
kill -0 "$daemon" 2>/dev/null || fail "berthd exited: $(tail -5 "$TMP/berthd.log")"

if [[ $failures -gt 0 ]]; then
  echo "cli_daemon_test: $failures failure(s)" >&2
  exit 1
fi
echo "cli_daemon_test: all checks passed"
