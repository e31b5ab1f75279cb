#!/usr/bin/env bash
# berthd's start time from a large database (issue 15). Builds the SQLite
# file: berthd admits and places one 1-GPU job on a simulated agent, then
# sqlite3 copies that job's row into PENDING jobs and SUCCEEDED ones (a
# recursive CTE, in one transaction each). Then berthd is started on the
# file alone and timed from its launch to the first ListJobs answered
# (`berth jobs --limit 1`: it serves only once recovery is done). Prints
# the seconds and berthd's VmRSS then. Last, retention on that file:
# `berth admin prune --keep 1000000` while submit_load submits one job at a
# time, against submit_load alone before it.
#
#   bench/run_start_time.sh [BUILD_DIR] [PENDING] [ENDED]   (default
#   build-release 100000 1000000). KEEP_LOG=PATH keeps berthd's log there.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
pending=${2:-100000}
ended=${3:-1000000}
dir=$(mktemp -d /tmp/berth-start-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n ${KEEP_LOG:-} ]] && cp "$dir/berthd.log" "$KEEP_LOG"
  rm -rf "$dir"
}
trap cleanup EXIT

# start_berthd: berthd on a free loopback port; sets addr and daemon.
# Retention is off until step 5 prunes on demand.
start_berthd() {
  rm -f "$dir/port"
  "$build/daemon/berthd" --listen 127.0.0.1:0 --db "$dir/berth.db" --port_file "$dir/port" \
    --retain_ended_for 0 --retain_jobs 0 2>>"$dir/berthd.log" &
  daemon=$!
  pids+=("$daemon")
  for _ in $(seq 6000); do [[ -s "$dir/port" ]] && break; sleep 0.05; done
  addr=127.0.0.1:$(sed -n 's/^grpc=//p' "$dir/port")
}

# 1. One job admitted and placed, as berthd writes it.
start_berthd
printf '{"gpus": [{"type": "h100-80gb", "count": 8}]}\n' >"$dir/inventory.json"
"$build/agents/berth-agent" --daemon "$addr" --node n1 --inventory "$dir/inventory.json" \
  --work_dir "$dir/agent" 2>"$dir/agent.log" &
agent=$!
pids+=("$agent")
printf '{"name": "start", "team": "bench", "task": "infer", "model": {"catalog_name": "llama-3-8b"}, "gpu_type": "h100-80gb", "split": {"tp": 1, "pp": 1, "dp": 1}, "max_runtime_seconds": 3600, "command": ["sleep", "600"]}\n' \
  >"$dir/spec.json"
for _ in $(seq 100); do
  "$build/cli/berth" submit "$dir/spec.json" --daemon "$addr" >/dev/null 2>&1 && break
  sleep 0.1
done
kill "$agent" "$daemon"
wait "$agent" "$daemon" 2>/dev/null || true

# 2. The copies.
sqlite3 "$dir/berth.db" <<SQL
.bail on
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ended)
INSERT INTO jobs(team, name, priority, state, gpu_type, spec, plan, submit_time_ms,
                 start_time_ms, end_time_ms, exit_code)
  SELECT team, name, priority, 4, gpu_type, spec, plan, submit_time_ms, submit_time_ms,
         submit_time_ms + 1000, 0 FROM jobs, n WHERE jobs.id = 1;
COMMIT;
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $pending)
INSERT INTO jobs(team, name, priority, state, gpu_type, spec, plan, submit_time_ms)
  SELECT team, name, priority, 1, gpu_type, spec, plan, submit_time_ms + n.i
  FROM jobs, n WHERE jobs.id = 1;
COMMIT;
SQL
echo "database: $(sqlite3 "$dir/berth.db" 'SELECT state, COUNT(*) FROM jobs GROUP BY state' | tr '\n' ' ')($(du -h "$dir/berth.db" | cut -f1))"

# 3. The timed start.
start=$(date +%s.%N)
start_berthd
for _ in $(seq 6000); do
  "$build/cli/berth" jobs --limit 1 --daemon "$addr" >/dev/null 2>&1 && break
  sleep 0.01
done
end=$(date +%s.%N)
rss=$(sed -n 's/^VmRSS:\s*//p' "/proc/$daemon/status")
echo "berthd served ListJobs $(echo "$end - $start" | bc) s after its launch; VmRSS $rss"

# 4. `berth jobs` on that queue: the default page (the newest 1,000) and the
# pending jobs of the last hour, 10,000 of them (two pages of berthd's).
for args in "" "--state pending --since 1h --limit 10000"; do
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  count=$("$build/cli/berth" jobs $args --json --daemon "$addr" | grep -c '"id"')
  end=$(date +%s.%N)
  echo "berth jobs $args: $count jobs in $(echo "$end - $start" | bc) s"
done

# 5. Retention: the oldest ended jobs beyond the newest 1,000,000 go, in
# batches of 500 between the writer's rounds. submit_load (10 simulated
# nodes, one submitter, one job a call) measures the acknowledgement before
# and during the prune.
load() {
  "$build/bench/submit_load" --daemon "$addr" --daemon_pid "$daemon" --nodes 10 --threads 1 \
    --jobs "$1" --batch 1 --hold_ms 10 --json 2>/dev/null | tail -1
}
echo "submit_load alone: $(load 2000)"
start=$(date +%s.%N)
"$build/cli/berth" admin prune --keep 1000000 --daemon "$addr" >"$dir/prune.out" 2>&1 &
prune=$!
pids+=("$prune")
echo "submit_load during the prune: $(load 2000)"
wait "$prune"
end=$(date +%s.%N)
echo "berth admin prune --keep 1000000: $(cat "$dir/prune.out") in $(echo "$end - $start" | bc) s"
