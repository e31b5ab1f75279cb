#!/usr/bin/env bash
# promtool against deploy/prometheus/ and deploy/grafana/:
#   * promtool check config deploy/prometheus/prometheus.yml (and its rule files)
#   * promtool check rules deploy/prometheus/berth-alerts.yml
#   * promtool test rules tests/ops/berth-alerts_test.yml (each alert fires when
#     it should and not otherwise)
#   * every query of deploy/grafana/berth.json parses as PromQL (written as
#     recording rules by check_metric_names.py --emit-rules, then checked)
# promtool comes from Debian's `prometheus` package, which deploy/install-deps.sh
# installs: a missing promtool is a failure, not a skip.
#
#   bash tests/ops/promtool_test.sh [REPO]
set -uo pipefail

REPO=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
PROMTOOL=${PROMTOOL:-$(command -v promtool)}
if [[ -z $PROMTOOL || ! -x $PROMTOOL ]]; then
  echo "FAIL: promtool not found; install Debian's prometheus package (deploy/install-deps.sh)" >&2
  exit 1
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

step() {
  local name=$1
  shift
  if "$@" >"$TMP/out" 2>&1; then
    echo "ok: $name"
  else
    echo "FAIL: $name" >&2
    cat "$TMP/out" >&2
    failures=$((failures + 1))
  fi
}

cd "$REPO" || exit 1
step "promtool check config" "$PROMTOOL" check config deploy/prometheus/prometheus.yml
step "promtool check rules" "$PROMTOOL" check rules deploy/prometheus/berth-alerts.yml
step "promtool test rules" "$PROMTOOL" test rules tests/ops/berth-alerts_test.yml

# The dashboard's queries, through Prometheus's own parser.
if python3 tests/ops/check_metric_names.py --repo "$REPO" \
  --emit-rules "$TMP/dashboard-rules.yml" >"$TMP/emit" 2>&1 ||
  [[ -s $TMP/dashboard-rules.yml ]]; then
  queries=$(grep -c 'record:' "$TMP/dashboard-rules.yml")
  if [[ $queries -lt 10 ]]; then
    echo "FAIL: only $queries dashboard queries found" >&2
    failures=$((failures + 1))
  fi
  step "promtool check rules (the $queries dashboard queries)" \
    "$PROMTOOL" check rules "$TMP/dashboard-rules.yml"
else
  echo "FAIL: check_metric_names.py --emit-rules wrote nothing:" >&2
  cat "$TMP/emit" >&2
  failures=$((failures + 1))
fi

# The checks must also fail when they should: a broken copy of the rules.
sed 's/berth_nodes{state="down"} > 0/berth_nodes{state="down"} >/' \
  deploy/prometheus/berth-alerts.yml >"$TMP/broken.yml"
if "$PROMTOOL" check rules "$TMP/broken.yml" >/dev/null 2>&1; then
  echo "FAIL: promtool check rules accepted a broken expression" >&2
  failures=$((failures + 1))
fi

if [[ $failures -gt 0 ]]; then
  echo "promtool_test: $failures failure(s)" >&2
  exit 1
fi
echo "promtool_test: all checks passed ($("$PROMTOOL" --version 2>&1 | head -1))"
