#!/usr/bin/env bash
# Integration test of `berth plan`: runs the built binary and checks exit
# codes (0 fits, 2 bad input, 3 refused), the JSON keys and values, the human
# table, and that every bad input names its flag on stderr.
#
#   bash tests/integration/cli_plan_test.sh build/cli/berth
set -uo pipefail

BERTH=${1:?usage: cli_plan_test.sh PATH/TO/berth}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run NAME ARGS...: runs berth with ARGS; stdout in $TMP/NAME.out, stderr in
# $TMP/NAME.err, exit code in $rc.
run() {
  local name=$1
  shift
  "$BERTH" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
}

expect_rc() {
  local name=$1 want=$2
  if [[ $rc -ne $want ]]; then
    fail "$name: exit code $rc, want $want; stderr: $(cat "$TMP/$name.err")"
  fi
}

# expect_usage NAME FLAG ARGS...: exit 2, and stderr names FLAG.
expect_usage() {
  local name=$1 flag=$2
  shift 2
  run "$name" plan "$@"
  expect_rc "$name" 2
  if ! grep -q -- "^berth plan: .*$flag" "$TMP/$name.err"; then
    fail "$name: stderr does not name $flag: $(cat "$TMP/$name.err")"
  fi
}

# check_json NAME PYTHON: parses $TMP/NAME.out as JSON into `r` and runs the
# Python assertions.
check_json() {
  local name=$1 code=$2
  if ! python3 - "$TMP/$name.out" <<PY
import json, sys
with open(sys.argv[1]) as f:
    r = json.load(f)
def number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)
$code
PY
  then
    fail "$name: JSON checks failed"
  fi
}

# A feasible training plan, as JSON.
run train_json plan --model llama-2-7b --gpu h100-80gb --json
expect_rc train_json 0
check_json train_json '
for key in ["feasible", "task", "model", "gpu", "gpus", "nodes", "tp", "pp",
            "dp", "zero_stage", "micro_batch", "recompute", "offload",
            "per_gpu", "estimate", "explanation", "alternatives"]:
    assert key in r, key
assert "reason" not in r
assert r["feasible"] is True
assert r["task"] == "train"
assert r["model"]["name"] == "llama-2-7b"
assert number(r["model"]["params"]) and 6.7e9 < r["model"]["params"] < 6.8e9
assert r["gpu"]["type"] == "h100-80gb"
assert number(r["gpus"]) and r["gpus"] >= 1
assert r["gpus"] == r["tp"] * r["pp"] * r["dp"]
m = r["per_gpu"]
for key in ["weights_bytes", "gradients_bytes", "optimizer_bytes",
            "activations_bytes", "kv_cache_bytes", "workspace_bytes",
            "overhead_bytes", "total_bytes", "host_bytes"]:
    assert number(m[key]), key
assert number(r["gpu"]["usable_bytes"])
assert 0 < m["total_bytes"] <= r["gpu"]["usable_bytes"]
assert number(r["estimate"]["tokens_per_second"])
assert r["explanation"] and all(isinstance(x, str) for x in r["explanation"])
for alt in r["alternatives"]:
    for key in ["gpus", "nodes", "tp", "pp", "dp", "zero_stage",
                "micro_batch", "recompute", "offload", "per_gpu", "fits"]:
        assert key in alt, key
    assert number(alt["per_gpu"]["total_bytes"])
'

# The same plan as a table.
run train_table plan --model llama-2-7b --gpu h100-80gb
expect_rc train_table 0
for word in "llama-2-7b" "TP" "PP" "DP" "ZeRO" "total" "usable"; do
  grep -q -- "$word" "$TMP/train_table.out" ||
    fail "train_table: output lacks \"$word\""
done

# A fixed split is evaluated exactly as given.
run fixed plan --model llama-2-7b --gpu h100-80gb --tp 8 --pp 1 --dp 1 \
  --zero 1 --json
expect_rc fixed 0
check_json fixed '
assert (r["tp"], r["pp"], r["dp"], r["zero_stage"]) == (8, 1, 1, 1), r
assert r["gpus"] == 8
'

# Expert parallelism for a mixture-of-experts model: fixed, it is kept and DP
# is a multiple of it; the table has an EP column.
run moe_ep plan --model mixtral-8x7b --gpu h100-80gb --ep 4 --json
expect_rc moe_ep 0
check_json moe_ep '
assert r["ep"] == 4 and r["dp"] % 4 == 0, (r["ep"], r["dp"])
assert any("(EP 4)" in line for line in r["explanation"]), r["explanation"]
'
run moe_table plan --model mixtral-8x7b --gpu h100-80gb --ep 2
expect_rc moe_table 0
grep -qE "(^| )EP( |$)" "$TMP/moe_table.out" || fail "moe_table: no EP column: $(cat "$TMP/moe_table.out")"
run dense_json plan --model llama-2-7b --gpu h100-80gb --json
check_json dense_json 'assert r["ep"] == 1, r["ep"]'
expect_usage ep_dense --ep --model llama-2-7b --ep 2
expect_usage ep_experts --ep --model mixtral-8x7b --ep 3
expect_usage ep_zero --ep --model mixtral-8x7b --ep 0

# A pace: 1T tokens within 30 days.
run pace plan --model llama-2-7b --gpu h100-80gb --tokens 1T --days 30 --json
expect_rc pace 0
check_json pace '
assert number(r["estimate"]["days"]) and r["estimate"]["days"] <= 30, r["estimate"]
assert r["gpus"] > 1
'

# Inference with a pace in tokens and days is an error; so is --days without
# --tokens.
expect_usage infer_pace --tokens --model llama-2-7b --task infer \
  --tokens 1T --days 30
expect_usage days_alone --days --model llama-2-7b --days 30

# Inference objectives: latency takes the shortest decode step (more TP), the
# default (throughput) the most tokens/s per GPU; the report carries the
# objective, the sequences per replica and the engines' arguments.
run infer_throughput plan --task infer --model llama-2-70b --batch 64 --json
expect_rc infer_throughput 0
run infer_latency plan --task infer --model llama-2-70b --batch 64 \
  --objective latency --json
expect_rc infer_latency 0
check_json infer_latency '
with open(sys.argv[1].rsplit("/", 1)[0] + "/infer_throughput.out") as f:
    t = json.load(f)
assert r["objective"] == "latency" and t["objective"] == "throughput", (r["objective"], t["objective"])
assert r["estimate"]["step_seconds"] <= t["estimate"]["step_seconds"], (r["estimate"], t["estimate"])
assert r["gpus"] == r["tp"] * r["pp"] * r["dp"]
assert r["replica_batch"] == 64, r["replica_batch"]
assert r["precision"] == "bf16", r["precision"]
engines = {l["engine"]: l["args"] for l in r["launch"]}
assert "--tensor-parallel-size %d " % r["tp"] in engines["vllm"], engines
assert "--tp_size %d " % r["tp"] in engines["tensorrt-llm"], engines
'
run infer_latency_table plan --task infer --model llama-2-70b --batch 64 \
  --objective latency
expect_rc infer_latency_table 0
grep -q "^  objective latency$" "$TMP/infer_latency_table.out" ||
  fail "infer_latency_table: no objective line: $(cat "$TMP/infer_latency_table.out")"
grep -q "^Launch (vllm):  --tensor-parallel-size " "$TMP/infer_latency_table.out" ||
  fail "infer_latency_table: no vllm launch line"
grep -q "ZeRO" "$TMP/infer_latency_table.out" && fail "infer_latency_table: ZeRO in an inference plan"
# A decode target for all replicas together: more replicas until it is met.
run infer_target plan --task infer --model llama-2-7b --batch 64 \
  --tokens-per-second 20k --json
expect_rc infer_target 0
check_json infer_target '
assert r["objective"] == "pace", r["objective"]
assert r["estimate"]["tokens_per_second"] >= 20000, r["estimate"]
assert r["dp"] > 1 and r["replica_batch"] >= 1, (r["dp"], r["replica_batch"])
'
expect_usage objective_train --objective --model llama-2-7b --objective latency
expect_usage objective_bad --objective --model llama-2-7b --task infer \
  --objective cheapest

# A plain (GELU) MLP: two matrices, FFN 4·hidden when neither --ffn nor
# --params is given. 24 × (4·2048² + 2·2048·8192 + 2·2048) + 2·32000·2048
# + 2048 = 1,339,131,904 parameters; they fit on one GPU.
run mlp_plain plan --layers 24 --hidden 2048 --heads 16 --mlp plain --json
expect_rc mlp_plain 0
check_json mlp_plain '
assert r["model"]["ffn"] == 8192, r["model"]
assert r["model"]["params"] == 1339131904, r["model"]["params"]
assert (r["gpus"], r["tp"], r["pp"], r["dp"]) == (1, 1, 1, 1), r
'
run mlp_plain_table plan --layers 24 --hidden 2048 --heads 16 --mlp plain
expect_rc mlp_plain_table 0
grep -q "^custom (1.34B params), train" "$TMP/mlp_plain_table.out" ||
  fail "mlp_plain_table: params: $(head -1 "$TMP/mlp_plain_table.out")"
grep -q "^Split:  1 GPU on 1 node$" "$TMP/mlp_plain_table.out" ||
  fail "mlp_plain_table: split: $(cat "$TMP/mlp_plain_table.out")"
# The same count with the default gated MLP has three matrices, so a
# smaller FFN (about 2/3).
run mlp_gated plan --params 1339131904 --layers 24 --hidden 2048 --heads 16 --json
check_json mlp_gated 'assert 5000 < r["model"]["ffn"] < 6000, r["model"]["ffn"]'
expect_usage mlp_catalog --mlp --model llama-2-7b --mlp plain
expect_usage mlp_bad --mlp --layers 24 --hidden 2048 --heads 16 --mlp swish

# Bad input: exit 2, naming the flag.
expect_usage heads --heads --params 7B --layers 32 --hidden 4000 --heads 48
expect_usage negative --params --params -7B --layers 32 --hidden 4096 \
  --heads 32
expect_usage nan --params --params nan --layers 32 --hidden 4096 --heads 32
expect_usage junk --seq --model llama-2-7b --seq 4k2
expect_usage gpu --gpu --model llama-2-7b --gpu nosuch
expect_usage model --model --model nosuch
expect_usage no_model --model --gpu h100-80gb
expect_usage two_models --model --model llama-2-7b --hf-config /x.json
expect_usage no_file --hf-config --hf-config /nonexistent/config.json
mkdir -p "$TMP/broken"
printf '{"num_hidden_layers": 32, "hidden_size": ' >"$TMP/broken/config.json"
expect_usage malformed --hf-config --hf-config "$TMP/broken/config.json"
mkdir -p "$TMP/incomplete"
printf '{"hidden_size": 4096}\n' >"$TMP/incomplete/config.json"
expect_usage incomplete --hf-config --hf-config "$TMP/incomplete/config.json"
expect_usage unknown_flag --no-such-flag --model llama-2-7b --no-such-flag

# A job that can never fit: exit 3, the plan still printed, with a reason.
run refused plan --model llama-3.1-405b --task infer --gpu a10-24gb \
  --max-gpus 8 --json
expect_rc refused 3
check_json refused '
assert r["feasible"] is False
assert isinstance(r["reason"], str) and r["reason"], r.get("reason")
assert r["per_gpu"]["total_bytes"] > r["gpu"]["usable_bytes"]
'
grep -q "refused" "$TMP/refused.err" || fail "refused: no reason on stderr"
run refused_table plan --model llama-3.1-405b --task infer --gpu a10-24gb \
  --max-gpus 8
expect_rc refused_table 3
grep -q "REFUSED" "$TMP/refused_table.out" || fail "refused_table: no REFUSED"

# A model from a config.json on disk.
mkdir -p "$TMP/tiny-llama"
cat >"$TMP/tiny-llama/config.json" <<'JSON'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama",
 "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
 "num_key_value_heads": 32, "intermediate_size": 11008,
 "vocab_size": 32000, "tie_word_embeddings": false}
JSON
run hf plan --hf-config "$TMP/tiny-llama/config.json" --gpu h100-80gb --json
expect_rc hf 0
check_json hf '
assert r["model"]["name"] == "tiny-llama", r["model"]["name"]
assert r["model"]["layers"] == 32 and r["model"]["ffn"] == 11008
'

# Lists.
run models plan --list-models
expect_rc models 0
grep -q "^llama-2-7b " "$TMP/models.out" || fail "models: no llama-2-7b"
run gpus plan --list-gpus
expect_rc gpus 0
grep -q "^h100-80gb " "$TMP/gpus.out" || fail "gpus: no h100-80gb"
# The V100 has no bf16: its 16-bit peak is fp16's, and it says so.
grep -qE "^v100-32gb +[0-9.]+ +125 .*fp16 only$" "$TMP/gpus.out" ||
  fail "gpus: v100 row: $(grep v100 "$TMP/gpus.out")"

# Issue 17: one GPU is "1 GPU", never "1 GPUs", in a refusal too.
run one_gpu plan --model llama-2-70b --gpu h100-80gb --max-gpus 1
expect_rc one_gpu 3
grep -q "1 GPUs" "$TMP/one_gpu.out" "$TMP/one_gpu.err" &&
  fail "one_gpu: \"1 GPUs\": $(grep -h "1 GPUs" "$TMP/one_gpu.out" "$TMP/one_gpu.err")"
grep -q "within 1 GPU:" "$TMP/one_gpu.out" || fail "one_gpu: no \"within 1 GPU:\": $(cat "$TMP/one_gpu.out")"
# Issue 17: aliases resolve as in specs; a misspelt name suggests the nearest.
run alias_gpu plan --model Llama-2-7B --gpu h100 --json
expect_rc alias_gpu 0
check_json alias_gpu 'assert r["gpu"]["type"] == "h100-80gb" and r["model"]["name"] == "llama-2-7b", r["model"]'
expect_usage typo_gpu "--gpu" --model llama-2-7b --gpu h100x
grep -qF 'unknown GPU type "h100x"; did you mean h100-80gb?' "$TMP/typo_gpu.err" ||
  fail "typo_gpu: no suggestion: $(cat "$TMP/typo_gpu.err")"

if [[ $failures -gt 0 ]]; then
  echo "cli_plan_test: $failures failure(s)" >&2
  exit 1
fi
echo "cli_plan_test: all checks passed"
