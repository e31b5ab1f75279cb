#!/usr/bin/env bash
# bench/compare_slurm.sh with berth alone (SLURM=0) at a small size, so the
# script cannot rot: it must exit 0 and print one JSON object with berth's
# three figures, every end-to-end job SUCCEEDED, and no Slurm part. The
# figures themselves are not checked (a test never asserts a time).
#
#   bash tests/integration/compare_slurm_test.sh REPO BUILD_DIR
set -uo pipefail

REPO=${1:?usage: compare_slurm_test.sh REPO BUILD_DIR}
BUILD=${2:?usage: compare_slurm_test.sh REPO BUILD_DIR}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

SLURM=0 N_SUBMIT=300 N_BATCH=2000 BATCH=100 NODES=20 N_E2E=200 THREADS=8 \
  bash "$REPO/bench/compare_slurm.sh" --json "$BUILD" >"$OUT"
rc=$?
if [[ $rc -ne 0 ]]; then
  echo "FAIL: compare_slurm.sh exited $rc" >&2
  exit 1
fi
python3 - "$OUT" <<'PY'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 1, f"want one JSON line, got {len(lines)}"
result = json.loads(lines[0])
for key in ("date", "cores", "load_before", "load_after", "berth", "slurm", "ratios"):
    assert key in result, f"missing {key}"
berth = result["berth"]
for figure in ("submit", "submit_batch", "submit_queued", "submit_batch_queued", "end_to_end"):
    assert berth[figure]["submissions_per_second"] > 0, figure
for figure in ("submit", "submit_queued"):
    assert berth[figure]["jobs"] == 300, berth[figure]
for figure in ("submit_batch", "submit_batch_queued"):
    assert berth[figure]["jobs"] == 2000, berth[figure]
# Into a full cluster nothing is placed.
for figure in ("submit_queued", "submit_batch_queued"):
    assert berth[figure]["placed_p99_ms"] == 0, berth[figure]
e2e = berth["end_to_end"]
assert e2e["succeeded"] == 200 and e2e["ended_other"] == 0 and e2e["still_active"] == 0, e2e
assert e2e["end_to_end_per_second"] > 0, e2e
assert result["slurm"] is None, result["slurm"]
assert all(v is None for v in result["ratios"].values()), result["ratios"]
assert "end_to_end_to_drain" in result["ratios"], result["ratios"]
print("compare_slurm_test: ok")
PY
