#!/usr/bin/env bash
# berthd's cluster map (the page at / on the metrics port) in headless Chromium.
#
# Starts berthd (--metrics_listen 127.0.0.1:0) and two berth-agents with
# 8 × h100-80gb each on 127.0.0.1, places two jobs with `berth submit`, then
# fills the cluster until a job waits in the queue. Loads
# http://127.0.0.1:METRICS_PORT/ in Debian's `chromium` (--headless
# --dump-dom, JavaScript on) and checks that the rendered page shows both
# nodes, the placed jobs by id and name, and the waiting job in the queue.
# With BERTH_CLUSTER_MAP_SCREENSHOT=FILE it also saves a 1280×800 screenshot
# of the map to FILE (docs/cluster-map.png is kept that way:
#   BERTH_CLUSTER_MAP_SCREENSHOT=$PWD/docs/cluster-map.png bash tests/integration/cluster_map_test.sh ...).
# chromium missing is a failure (deploy/install-deps.sh installs it).
#
#   bash tests/integration/cluster_map_test.sh build/daemon/berthd \
#     build/agents/berth-agent build/cli/berth
set -uo pipefail

BERTHD=${1:?usage: cluster_map_test.sh BERTHD BERTH_AGENT BERTH}
AGENT=${2:?usage: cluster_map_test.sh BERTHD BERTH_AGENT BERTH}
BERTH=${3:?usage: cluster_map_test.sh BERTHD BERTH_AGENT BERTH}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=cluster_lib.sh
source "$HERE/cluster_lib.sh"

CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}
need_exe "$BERTHD" berthd
need_exe "$AGENT" berth-agent
need_exe "$BERTH" berth
need_exe "$CHROMIUM" "chromium (Debian package chromium; deploy/install-deps.sh)"

# chromium ARGS...: headless Chromium with a fresh profile, no network beyond
# the page, 60 s at most. Its stderr (D-Bus noise in containers) goes to a log.
chromium_run() {
  local profile
  profile=$(mktemp -d "$TMP/chromium-profile.XXXXXX")
  timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update \
    --disable-sync --disable-dev-shm-usage --user-data-dir="$profile" \
    "$@" 2>>"$TMP/chromium.log"
}

# --- A cluster with placed jobs and a queue.
start_berthd
start_agents 2

submit map-alpha nlp llama-2-7b
[[ $rc -eq 0 && $job_id =~ ^[0-9]+$ ]] || fatal "submit map-alpha: exit $rc: $(cat "$TMP/submit-map-alpha.err")"
job_alpha=$job_id
submit map-beta vision llama-2-13b
[[ $rc -eq 0 && $job_id =~ ^[0-9]+$ ]] || fatal "submit map-beta: exit $rc: $(cat "$TMP/submit-map-beta.err")"
job_beta=$job_id
wait_placed "$job_alpha" || fatal "map-alpha was not placed"
wait_placed "$job_beta" || fatal "map-beta was not placed"

# Fill the 16 GPUs with 13B jobs (4 GPUs each) until one has to wait.
waiting="" waiting_name="" placed_fill=()
for i in 1 2 3 4 5; do
  submit "map-fill-$i" speech llama-2-13b
  [[ $rc -eq 0 && $job_id =~ ^[0-9]+$ ]] || fatal "submit map-fill-$i: exit $rc"
  sleep 0.3
  if [[ $(job_state "$job_id") == PENDING ]]; then
    waiting=$job_id waiting_name=map-fill-$i
    break
  fi
  wait_placed "$job_id" && placed_fill+=("$job_id map-fill-$i")
done
[[ -n $waiting ]] || fatal "no job waits after filling the cluster"
echo "placed $job_alpha map-alpha, $job_beta map-beta and ${#placed_fill[@]} fill jobs;" \
  "job $waiting ($waiting_name) waits; map at http://127.0.0.1:$MPORT/"

# --- The page, rendered.
URL=http://127.0.0.1:$MPORT/
http_get "$URL" "$TMP/map.html" || fatal "GET $URL failed"
grep -qi "<html" "$TMP/map.html" || fail "GET $URL is not an HTML page: $(head -c 300 "$TMP/map.html")"
# Issue 17: a legend says what the boxes mean, and a free GPU shows no number
# (only a held one shows its job's id).
grep -q 'class="legend"' "$TMP/map.html" || fail "the cluster map has no legend"
grep -qE 'class="gpu free"[^>]*>[0-9]' "$TMP/map.html" &&
  fail "a free GPU shows a number: $(grep -oE 'class="gpu free"[^>]*>[0-9]+' "$TMP/map.html" | head -1)"

# check_dom FILE: prints the problems with the rendered DOM in FILE (none: ok).
check_dom() {
  python3 - "$1" "$job_alpha" "$job_beta" "$waiting" "$waiting_name" "${placed_fill[@]}" <<'PY'
import html, re, sys
dom = open(sys.argv[1], encoding="utf-8", errors="replace").read()
alpha, beta, waiting, waiting_name = sys.argv[2:6]
fills = [x.split(" ", 1) for x in sys.argv[6:]]
# The markup without scripts and styles (a job's name may sit in a GPU's
# title attribute), and the text a reader sees.
markup = html.unescape(re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", dom))
text = re.sub(r"\s+", " ", re.sub(r"<[^>]*>", " ", markup))
problems = []
if "<body" not in dom:
    problems.append("no <body> in the DOM")
for node in ("node-0", "node-1"):
    if node not in text:
        problems.append(f"node {node} is not on the page")
# Node names hold digits too; look for job ids without them.
text_ids = re.sub(r"node-[0-9]+", " ", text)
for job_id, name in [(alpha, "map-alpha"), (beta, "map-beta")] + fills:
    if name not in markup:
        problems.append(f"placed job {job_id} {name}: its name is not in the page")
    if not re.search(r"(?<![0-9])%s(?![0-9])" % re.escape(job_id), text_ids):
        problems.append(f"placed job {name}: its id {job_id} is not on the page")
if waiting_name not in markup:
    problems.append(f"waiting job {waiting} {waiting_name} is not on the page (the queue)")
for p in problems:
    print(p)
PY
}

# A page that fills itself with JavaScript may need a moment: up to 3 tries,
# each letting the page run for 3 s of virtual time.
ok=0
for try in 1 2 3; do
  chromium_run --virtual-time-budget=3000 --dump-dom "$URL" >"$TMP/dom-$try.html"
  problems=$(check_dom "$TMP/dom-$try.html")
  if [[ -s $TMP/dom-$try.html && -z $problems ]]; then
    ok=1
    break
  fi
  sleep 1
done
if [[ $ok == 1 ]]; then
  echo "ok: headless Chromium shows both nodes, the placed jobs and the queue"
else
  fail "the cluster map in Chromium: $(printf '%s; ' "$problems")"
  echo "--- DOM (first 3000 bytes)" >&2
  head -c 3000 "$TMP/dom-$try.html" >&2
  echo >&2
  echo "--- chromium.log (last 10 lines)" >&2
  tail -10 "$TMP/chromium.log" >&2
fi

if [[ -n ${BERTH_CLUSTER_MAP_SCREENSHOT:-} ]]; then
  shot=$(realpath -m "$BERTH_CLUSTER_MAP_SCREENSHOT")
  mkdir -p "$(dirname "$shot")"
  chromium_run --virtual-time-budget=3000 --hide-scrollbars --window-size=1280,800 \
    --screenshot="$shot" "$URL" >/dev/null
  if [[ -s $shot ]] && head -c 8 "$shot" | grep -q PNG; then
    echo "ok: screenshot in $shot"
  else
    fail "no screenshot written to $shot"
  fi
fi

kill -0 "$berthd_pid" 2>/dev/null || fail "berthd exited: $(tail -5 "$TMP/berthd.log")"
finish cluster_map_test
