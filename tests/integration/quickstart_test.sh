#!/usr/bin/env bash
# Integration test of deploy/quickstart.sh, end to end with the binaries
# already built (BERTH_SKIP_BUILD=1): a state folder in a temporary
# directory and free ports (BERTH_PORT=0, BERTH_METRICS_PORT=0), so a
# developer's own daemon is never touched. Runs the quick start twice (the
# second run must stop the first), checks that the output shows each
# example's decision, that the cluster is left running and that the printed
# cluster map URL serves the map, then runs --stop twice and checks that no
# berthd or berth-agent of that state folder remains.
#
#   bash tests/integration/quickstart_test.sh BUILD_DIR
set -uo pipefail

BUILD_DIR=${1:?usage: quickstart_test.sh BUILD_DIR}
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
QUICKSTART=$(cd "$(dirname "$0")/../../deploy" && pwd)/quickstart.sh
BERTH=$BUILD_DIR/cli/berth
TMP=$(mktemp -d)
export BERTH_HOME=$TMP/state BERTH_PORT=0 BERTH_METRICS_PORT=0 BERTH_SKIP_BUILD=1
export BERTH_BUILD_DIR=$BUILD_DIR
failures=0

# ours: pids of processes whose command line names the state folder.
ours() {
  local f pid
  for f in /proc/[0-9]*/cmdline; do
    pid=${f#/proc/}
    pid=${pid%/cmdline}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    if tr '\0' ' ' <"$f" 2>/dev/null | grep -qF -- "$BERTH_HOME/" &&
      tr '\0' ' ' <"$f" 2>/dev/null | grep -qE 'berthd|berth-agent'; then
      echo "$pid"
    fi
  done
}

cleanup() {
  timeout 60 bash "$QUICKSTART" --stop >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

expect_out() {
  grep -qF -- "$2" "$TMP/$1.out" || fail "$1: output lacks \"$2\""
}

# quickstart NAME [ARGS]: runs the quick start under a 300 s guard; output
# (stdout and stderr) in $TMP/NAME.out, exit code in $rc.
quickstart() {
  local name=$1
  shift
  timeout 300 bash "$QUICKSTART" "$@" >"$TMP/$name.out" 2>&1
  rc=$?
  if [[ $rc -ne 0 ]]; then
    fail "$name: exit code $rc; output:"
    tail -40 "$TMP/$name.out" >&2
  fi
}

# check_run NAME: the output of one quick-start run shows every decision,
# and the cluster it leaves answers.
check_run() {
  local name=$1 addr
  expect_out "$name" "BERTH_SKIP_BUILD=1"
  # The planner examples.
  expect_out "$name" "berth plan --model llama-2-7b --gpu h100-80gb"
  expect_out "$name" "berth plan --model llama-3.1-405b --gpu a10-24gb --max-gpus 64"
  expect_out "$name" "REFUSED"
  # The daemon examples, with what berth decided for each.
  expect_out "$name" "all 6 nodes connected"
  for example in train-llama-2-7b train-llama-2-70b serve-llama-3-70b too-large; do
    expect_out "$name" "berth submit deploy/examples/$example.json"
  done
  grep -qE '^job 1: (PLACED|PENDING)$' "$TMP/$name.out" || fail "$name: no decision for job 1 (7B)"
  grep -qE '^job 2: (PLACED|PENDING)$' "$TMP/$name.out" || fail "$name: no decision for job 2 (70B)"
  grep -qE '^job 3: (PLACED|PENDING)$' "$TMP/$name.out" || fail "$name: no decision for job 3 (serving)"
  grep -qE '^  plan +18 GPUs on 3 nodes' "$TMP/$name.out" || fail "$name: no 70B gang plan"
  expect_out "$name" "berth submit: refused: no GPU pool can ever hold this job"
  expect_out "$name" "(exit code 3: refused, as expected)"
  # Issue 17: a simulated job ends; `submit --wait` follows it to SUCCEEDED.
  expect_out "$name" "berth submit --wait $BERTH_HOME/eval-llama-2-7b.yaml"
  grep -qE ' job 5: SUCCEEDED' "$TMP/$name.out" || fail "$name: job 5 (evaluation) never SUCCEEDED"
  expect_out "$name" "GPUs per node"
  expect_out "$name" "\$ berth jobs"
  expect_out "$name" "\$ berth nodes"
  expect_out "$name" "\$ berth teams"
  grep -qE '^nlp +h100-80gb +24 ' "$TMP/$name.out" || fail "$name: berth teams shows no nlp quota"
  expect_out "$name" "deploy/quickstart.sh --stop"
  # It prints the address to export, and the cluster there answers.
  addr=$(sed -n 's/^ *export BERTH_ADDR=//p' "$TMP/$name.out")
  [[ $addr =~ ^127\.0\.0\.1:[0-9]+$ ]] || { fail "$name: no export BERTH_ADDR line"; return; }
  [[ $(cat "$BERTH_HOME/addr" 2>/dev/null) == "$addr" ]] || fail "$name: $BERTH_HOME/addr is not $addr"
  "$BERTH" jobs --daemon "$addr" --json >"$TMP/$name.jobs" 2>&1 ||
    fail "$name: berth jobs at $addr failed: $(cat "$TMP/$name.jobs")"
  python3 - "$TMP/$name.jobs" <<'PY' || fail "$name: the jobs left are not as expected"
import json, sys
jobs = {j["spec"]["name"]: j for j in json.load(open(sys.argv[1]))}
assert len(jobs) == 5, sorted(jobs)
assert jobs["eval-llama-2-7b"]["state"] == "SUCCEEDED", jobs["eval-llama-2-7b"]["state"]
for name in ("train-llama-2-7b", "train-llama-2-70b", "serve-llama-3-70b"):
    assert jobs[name]["state"] in ("PLACED", "RUNNING"), (name, jobs[name]["state"])
assert jobs["too-large"]["state"] == "REJECTED", jobs["too-large"]["state"]
assert len({g["node"] for g in jobs["train-llama-2-70b"]["gpus"]}) > 1
PY
  for f in berthd agent-h100-0 agent-h100-3 agent-a100-0 agent-a100-1; do
    [[ -s $BERTH_HOME/pids/$f.pid ]] || fail "$name: no pid file $f.pid"
  done
  [[ -s $BERTH_HOME/logs/berthd.log ]] || fail "$name: no berthd log"
  [[ $(ours | wc -l) -eq 7 ]] || fail "$name: $(ours | wc -l) processes from $BERTH_HOME, want 7"
  # It prints the cluster map's URL (the port berthd chose: metrics= in the
  # port file) on a line of its own, not as macOS's `open URL`, and the map
  # is served there.
  local map metrics_port
  grep -q '^ *open http' "$TMP/$name.out" && fail "$name: prints \"open URL\" (macOS only)"
  map=$(grep -A1 '^See the cluster map' "$TMP/$name.out" | sed -n 's/^ *\(http:[^ ]*\)$/\1/p')
  metrics_port=$(sed -n 's/^metrics=//p' "$BERTH_HOME/port" 2>/dev/null)
  [[ -n $metrics_port && $map == "http://127.0.0.1:$metrics_port/" ]] ||
    { fail "$name: no \"http://127.0.0.1:$metrics_port/\" line (got \"$map\")"; return; }
  python3 - "$map" <<'PY' || fail "$name: $map does not serve the cluster map"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    assert r.status == 200, r.status
    assert r.headers.get_content_type() == "text/html", r.headers.get_content_type()
    page = r.read().decode()
assert "berth cluster map" in page, page[:200]
for node in ("h100-0", "a100-1"):
    assert node in page, node
PY
  python3 - "${map}metrics" <<'PY' || fail "$name: ${map}metrics does not serve the metrics"
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    text = r.read().decode()
assert 'berth_agents_connected 6' in text, [l for l in text.splitlines() if "agents" in l]
PY
}

quickstart first
check_run first
first_pids=$(cat "$BERTH_HOME"/pids/*.pid 2>/dev/null | sort)

# A second run stops the first cluster and starts a fresh one (job ids from 1).
quickstart second
expect_out second "quickstart: stopped berthd (pid"
expect_out second "quickstart: stopped agent-h100-0 (pid"
check_run second
for pid in $first_pids; do
  [[ -d /proc/$pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$BERTH_HOME/" &&
    fail "second: process $pid of the first run still runs"
done

# --stop ends everything, says what it stopped, and is idempotent.
quickstart stop --stop
expect_out stop "quickstart: stopped berthd (pid"
[[ $(grep -c '^quickstart: stopped ' "$TMP/stop.out") -eq 7 ]] ||
  fail "stop: did not report 7 processes: $(cat "$TMP/stop.out")"
left=$(ours)
[[ -z $left ]] || fail "stop: processes from $BERTH_HOME remain: $left"
quickstart stop_again --stop
expect_out stop_again "nothing was running"

# An explicit port that is taken is refused with a clear message.
# Hold a free port with a berthd of another folder.
mkdir -p "$TMP/other"
"$BUILD_DIR/daemon/berthd" --listen 127.0.0.1:0 --db "$TMP/other/berth.db" \
  --port_file "$TMP/other/port" 2>"$TMP/other/berthd.log" &
other=$!
for _ in $(seq 100); do [[ -s $TMP/other/port ]] && break; sleep 0.1; done
busy=$(sed -n 's/^grpc=//p' "$TMP/other/port")
if [[ -z $busy ]]; then
  fail "busy: the other berthd wrote no port"
else
  BERTH_PORT=$busy timeout 60 bash "$QUICKSTART" >"$TMP/busy.out" 2>&1
  rc=$?
  [[ $rc -eq 1 ]] || fail "busy: exit code $rc, want 1"
  grep -qF "127.0.0.1:$busy is already in use" "$TMP/busy.out" ||
    fail "busy: no clear message: $(tail -5 "$TMP/busy.out")"
fi
kill "$other" 2>/dev/null
wait "$other" 2>/dev/null
left=$(ours)
[[ -z $left ]] || fail "busy: processes from $BERTH_HOME remain: $left"

if [[ $failures -gt 0 ]]; then
  echo "quickstart_test: $failures failure(s)" >&2
  exit 1
fi
echo "quickstart_test: all checks passed"
