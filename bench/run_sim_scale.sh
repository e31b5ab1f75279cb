#!/bin/bash
# berth-sim at scale: generate an Acme-shaped trace and replay it through
# berthd's scheduling pass (EASY backfill on the users' counts), reporting the
# replay's wall time and the pass's p50/p99 (from berth-sim's JSON).
#
#   bench/run_sim_scale.sh BUILD_DIR [JOBS] [NODES] [POLICY]
#   bench/run_sim_scale.sh build-release 100000 10000 easy
#
# Build first: cmake --build BUILD_DIR --target berth-sim
set -euo pipefail
build=${1:?usage: $0 BUILD_DIR [JOBS] [NODES] [POLICY]}
jobs=${2:-100000}
nodes=${3:-10000}
policy=${4:-easy}
sim="$build/sim/berth-sim"
[[ -x "$sim" ]] || { echo "no $sim: build the berth-sim target" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$sim" generate --like acme-seren --jobs "$jobs" --nodes "$nodes" --load 0.9 --teams 8 \
  --seed 1 --out "$work/trace.csv"
start=$(date +%s.%N)
"$sim" run --trace "$work/trace.csv" --nodes "$nodes" --gpu a100-80gb --policies "$policy" \
  --json > "$work/out.json"
end=$(date +%s.%N)
python3 - "$work/out.json" "$start" "$end" "$jobs" "$nodes" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
p = out["policies"][0]
wall = float(sys.argv[3]) - float(sys.argv[2])
print(f"jobs {sys.argv[4]} nodes {sys.argv[5]} policy {p['name']}: wall {wall:.1f} s, "
      f"passes {p['passes']}, pass p50 {p['pass_p50_ms']:.3f} ms, p99 {p['pass_p99_ms']:.3f} ms, "
      f"utilization {p['utilization']:.3f}, avg queue {p['avg_queue_s']:.0f} s")
PY
