#!/usr/bin/env bash
# berthd's /metrics end to end, scraped by the real Prometheus server.
#
# Starts berthd (--metrics_listen 127.0.0.1:0, a teams file) and two berth-agents with
# 8 × h100-80gb each on 127.0.0.1, submits two jobs with `berth submit` (and
# one no pool can hold, for the refusal counters), then
#   * fetches /metrics: `promtool check metrics` passes on it, every family of
#     tests/metrics_names.txt is exposed with its type and labels
#     (check_metric_names.py --exposition), and the GPU, node, agent and job
#     figures agree with what berth placed;
#   * starts Debian's `prometheus` on a free 127.0.0.1 port with its own
#     storage, scraping berthd every second and loading
#     deploy/prometheus/berth-alerts.yml, and waits (bounded) until
#     sum(berth_gpus{state="allocated"}) through the HTTP API equals the GPUs
#     of the two placed jobs;
#   * checks that every alert rule evaluates without error on the real series
#     and that every query of deploy/grafana/berth.json runs.
# promtool and prometheus missing is a failure (deploy/install-deps.sh
# installs them). Everything started is ended on exit.
#
#   bash tests/integration/metrics_test.sh build/daemon/berthd \
#     build/agents/berth-agent build/cli/berth
set -uo pipefail

BERTHD=${1:?usage: metrics_test.sh BERTHD BERTH_AGENT BERTH}
AGENT=${2:?usage: metrics_test.sh BERTHD BERTH_AGENT BERTH}
BERTH=${3:?usage: metrics_test.sh BERTHD BERTH_AGENT BERTH}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=cluster_lib.sh
source "$HERE/cluster_lib.sh"

PROMTOOL=${PROMTOOL:-$(command -v promtool)}
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus)}
need_exe "$BERTHD" berthd
need_exe "$AGENT" berth-agent
need_exe "$BERTH" berth
need_exe "$PROMTOOL" "promtool (Debian package prometheus; deploy/install-deps.sh)"
need_exe "$PROMETHEUS" "prometheus (Debian package prometheus; deploy/install-deps.sh)"

# --- A cluster with two placed jobs. A teams file (each team promised 8)
# makes berthd export the per-team families too.
cat >"$TMP/teams.yaml" <<'YAML'
teams:
  - name: nlp
    quota:
      h100-80gb: {nominal: 8}
  - name: vision
    quota:
      h100-80gb: {nominal: 8}
YAML
BERTHD_FLAGS=(--teams "$TMP/teams.yaml")
start_berthd
start_agents 2

submit a nlp llama-2-7b
[[ $rc -eq 0 && $job_id =~ ^[0-9]+$ ]] || fatal "submit a: exit $rc: $(cat "$TMP/submit-a.err")"
job_a=$job_id
submit b vision llama-2-13b
[[ $rc -eq 0 && $job_id =~ ^[0-9]+$ ]] || fatal "submit b: exit $rc: $(cat "$TMP/submit-b.err")"
job_b=$job_id
wait_placed "$job_a" || fatal "job a was not placed"
wait_placed "$job_b" || fatal "job b was not placed"
gpus_a=$(job_gpus "$job_a")
gpus_b=$(job_gpus "$job_b")
[[ $gpus_a =~ ^[1-9][0-9]*$ && $gpus_b =~ ^[1-9][0-9]*$ ]] ||
  fatal "no GPU counts for the jobs: a '$gpus_a', b '$gpus_b'"
want_allocated=$((gpus_a + gpus_b))
echo "jobs $job_a ($gpus_a GPUs) and $job_b ($gpus_b GPUs) placed; berthd metrics on port $MPORT"

# A 70B training job needs more H100s than the cluster has: refused (exit 3).
submit too-big nlp llama-2-70b
[[ $rc -eq 3 ]] || fail "submit too-big: exit $rc, want 3 (refused): $(cat "$TMP/submit-too-big.err")"

# --- /metrics.
# The agents report GPU figures with their heartbeats: poll (10 s at most)
# until the exposition has every family.
METRICS=http://127.0.0.1:$MPORT/metrics
exposition_ok=0
for _ in $(seq 50); do
  if http_get "$METRICS" "$TMP/metrics.txt" 2>"$TMP/get.err" &&
    python3 "$REPO/tests/ops/check_metric_names.py" --repo "$REPO" \
      --exposition "$TMP/metrics.txt" >"$TMP/exposition.out" 2>&1; then
    exposition_ok=1
    break
  fi
  sleep 0.2
done
[[ -s $TMP/metrics.txt ]] || fatal "no /metrics from $METRICS: $(cat "$TMP/get.err")"
if [[ $exposition_ok == 1 ]]; then
  cat "$TMP/exposition.out"
else
  fail "the exposition does not match tests/metrics_names.txt after 10 s:"
  cat "$TMP/exposition.out" >&2
fi

# Every listed name appears (the same check, by plain text).
while read -r name _; do
  [[ -z $name || $name == \#* ]] && continue
  grep -qE "^(# TYPE )?$name(_bucket|_sum|_count)?[ {]" "$TMP/metrics.txt" ||
    fail "/metrics lacks $name"
done <"$REPO/tests/metrics_names.txt"

if ! "$PROMTOOL" check metrics <"$TMP/metrics.txt" >"$TMP/promtool-metrics.out" 2>&1; then
  fail "promtool check metrics: $(cat "$TMP/promtool-metrics.out")"
else
  echo "ok: promtool check metrics"
fi

# The figures agree with the cluster: 2 UP nodes of 8 GPUs, 2 agents, the two
# jobs' GPUs allocated, the jobs placed or running, a refusal counted.
if ! python3 - "$TMP/metrics.txt" "$want_allocated" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
want_allocated = int(sys.argv[2])
samples = []
for line in text.splitlines():
    m = re.match(r'([a-z_:]+)(?:\{(.*)\})?\s+(\S+)', line)
    if m and not line.startswith("#"):
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        samples.append((m.group(1), labels, float(m.group(3))))

def total(name, **want):
    return sum(v for n, l, v in samples
               if n == name and all(l.get(k) == x for k, x in want.items()))

problems = []
def expect(what, got, want):
    if got != want:
        problems.append(f"{what} = {got:g}, want {want:g}")

expect('sum(berth_gpus{state="allocated"})', total("berth_gpus", state="allocated"),
       want_allocated)
expect("sum(berth_gpus)", total("berth_gpus"), 16)
expect('sum(berth_gpus{state="free"})', total("berth_gpus", state="free"), 16 - want_allocated)
expect('berth_nodes{state="up"}', total("berth_nodes", state="up"), 2)
expect('berth_nodes{state="down"}', total("berth_nodes", state="down"), 0)
expect("berth_agents_connected", total("berth_agents_connected"), 2)
expect('sum(berth_jobs{state=~"placed|running"})',
       total("berth_jobs", state="placed") + total("berth_jobs", state="running"), 2)
expect('sum(berth_jobs{team="vision"})', total("berth_jobs", team="vision"), 1)
expect('berth_submissions_total{outcome="admitted"}',
       total("berth_submissions_total", outcome="admitted"), 2)
expect("sum(berth_admission_refusals_total)", total("berth_admission_refusals_total"), 1)
expect("berth_build_info", total("berth_build_info"), 1)
expect("berth_submit_to_placed_seconds_count", total("berth_submit_to_placed_seconds_count"), 2)
ratio = total("berth_pool_allocation_ratio", gpu_type="h100-80gb")
if abs(ratio - want_allocated / 16) > 1e-9:
    problems.append(f'berth_pool_allocation_ratio{{gpu_type="h100-80gb"}} = {ratio}, '
                    f'want {want_allocated / 16}')
if total("berth_heartbeats_total") <= 0:
    problems.append("berth_heartbeats_total is 0")
if total("berth_start_time_seconds") < 1.5e9:
    problems.append("berth_start_time_seconds is not a Unix time")
if sum(1 for n, _, _ in samples if n == "berth_gpu_utilization_ratio") != 16:
    problems.append("want berth_gpu_utilization_ratio for each of the 16 GPUs")
for p in problems:
    print("FAIL: /metrics:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
then
  fail "/metrics figures disagree with the cluster"
else
  echo "ok: /metrics figures agree with the cluster ($want_allocated GPUs allocated)"
fi

# --- The real Prometheus server.
PPORT=$(free_port)
mkdir -p "$TMP/prometheus-data"
cat >"$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $REPO/deploy/prometheus/berth-alerts.yml
scrape_configs:
  - job_name: berthd
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["127.0.0.1:$MPORT"]
EOF
"$PROMETHEUS" --config.file="$TMP/prometheus.yml" \
  --storage.tsdb.path="$TMP/prometheus-data" \
  --web.listen-address="127.0.0.1:$PPORT" \
  --web.console.templates="$TMP/none" --web.console.libraries="$TMP/none" \
  2>"$TMP/prometheus.log" &
prom_pid=$!
children+=("$prom_pid")
PROM=http://127.0.0.1:$PPORT
for _ in $(seq 150); do
  http_get "$PROM/-/ready" "$TMP/ready" 2>/dev/null && break
  kill -0 "$prom_pid" 2>/dev/null || fatal "prometheus exited"
  sleep 0.2
done
http_get "$PROM/-/ready" "$TMP/ready" || fatal "prometheus not ready after 30 s"

# promql EXPR: the API's JSON answer to an instant query, on stdout.
promql() {
  python3 - "$PROM" "$1" <<'PY'
import json, sys, urllib.parse, urllib.request
url = sys.argv[1] + "/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[2]})
try:
    with urllib.request.urlopen(url, timeout=5) as r:
        print(r.read().decode())
except urllib.error.HTTPError as e:
    print(e.read().decode())
except Exception as e:
    print(json.dumps({"status": "error", "error": str(e)}))
PY
}

# scalar_of JSON: the value of a one-sample vector answer, or empty.
scalar_of() {
  python3 -c '
import json, sys
r = json.loads(sys.argv[1])
res = r.get("data", {}).get("result", [])
if r.get("status") == "success" and len(res) == 1:
    v = float(res[0]["value"][1])
    print(int(v) if v == int(v) else v)
' "$1" 2>/dev/null
}

got=""
for _ in $(seq 60); do
  got=$(scalar_of "$(promql 'sum(berth_gpus{state="allocated"})')")
  [[ $got == "$want_allocated" ]] && break
  sleep 0.5
done
if [[ $got == "$want_allocated" ]]; then
  echo "ok: Prometheus: sum(berth_gpus{state=\"allocated\"}) = $got"
else
  fail "Prometheus: sum(berth_gpus{state=\"allocated\"}) = '$got' after 30 s, want $want_allocated"
  python3 - "$PROM" <<'PY' >&2
import sys, urllib.request
print(urllib.request.urlopen(sys.argv[1] + "/api/v1/targets", timeout=5).read().decode()[:2000])
PY
fi
up=$(scalar_of "$(promql 'up{job="berthd"}')")
[[ $up == 1 ]] || fail "Prometheus: up{job=\"berthd\"} = '$up', want 1"

# Let the rules and rate() windows see a few scrapes, then check that every
# alert rule evaluated without error on the real series.
sleep 3
if ! python3 - "$PROM" <<'PY'
import json, sys, time, urllib.request
prom = sys.argv[1]
problems = []
for _ in range(20):
    rules = json.load(urllib.request.urlopen(prom + "/api/v1/rules", timeout=5))
    found = [r for g in rules["data"]["groups"] for r in g["rules"]]
    # A rule not yet evaluated has lastEvaluation 0001-01-01T00:00:00Z.
    if found and not any(r.get("lastEvaluation", "0001").startswith("0001") for r in found):
        break
    time.sleep(0.5)
if len(found) < 5:
    problems.append(f"Prometheus loaded {len(found)} rules from berth-alerts.yml, want 5")
for r in found:
    if r.get("health") != "ok":
        problems.append(f"rule {r['name']}: health {r.get('health')!r}: {r.get('lastError')}")
# (Simulated GPUs report 0 utilisation, so BerthAllocatedGPUsIdle may be
# pending; nothing can fire within seconds.)
firing = [a["labels"]["alertname"] for r in found for a in r.get("alerts", [])
          if a.get("state") == "firing"]
if firing:
    problems.append(f"alerts firing on a healthy cluster: {firing}")
for p in problems:
    print("FAIL:", p, file=sys.stderr)
if not problems:
    print(f"ok: the {len(found)} alert rules evaluate cleanly on berthd's series")
sys.exit(1 if problems else 0)
PY
then
  fail "the alert rules do not evaluate cleanly"
fi

# Every dashboard query runs on the real series (Grafana variables filled in).
if ! python3 - "$PROM" "$REPO" <<'PY'
import json, sys, urllib.error, urllib.parse, urllib.request
sys.path.insert(0, sys.argv[2] + "/tests/ops")
import check_metric_names as c
prom = sys.argv[1]
with open(sys.argv[2] + "/deploy/grafana/berth.json") as f:
    dash = json.load(f)
problems, empty, queries = [], [], c.dashboard_queries(dash)
for where, expr, _ in queries:
    q = c.substitute_grafana_vars(expr)
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": q})
    try:
        r = json.load(urllib.request.urlopen(url, timeout=5))
    except urllib.error.HTTPError as e:
        r = json.loads(e.read().decode())
    if r.get("status") != "success":
        problems.append(f"{where}: {q}: {r.get('error')}")
    elif not r["data"]["result"]:
        empty.append(where)
for p in problems:
    print("FAIL:", p, file=sys.stderr)
if empty:
    print(f"note: {len(empty)} dashboard queries are empty so far: " + "; ".join(empty))
if not problems:
    print(f"ok: all {len(queries)} dashboard queries run on Prometheus")
sys.exit(1 if problems else 0)
PY
then
  fail "dashboard queries fail on Prometheus"
fi

kill -0 "$berthd_pid" 2>/dev/null || fail "berthd exited: $(tail -5 "$TMP/berthd.log")"
finish metrics_test
