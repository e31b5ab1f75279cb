#!/usr/bin/env bash
# `berthd --help` and `berth-agent --help` list their own flags (issue 17:
# Abseil's --help looked for flags in a file named after the program and
# printed "No flags matched"), and `berth` takes its connection flags before
# the verb in its top-level --help.
#
#   bash tests/integration/help_flags_test.sh BERTHD BERTH_AGENT BERTH
set -uo pipefail

BERTHD=${1:?usage: help_flags_test.sh BERTHD BERTH_AGENT BERTH}
AGENT=${2:?usage: help_flags_test.sh BERTHD BERTH_AGENT BERTH}
BERTH=${3:?usage: help_flags_test.sh BERTHD BERTH_AGENT BERTH}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# expect_flags NAME FILE FLAG...: FILE lists each --FLAG and no "No flags matched".
expect_flags() {
  local name=$1 file=$2
  shift 2
  grep -q "No flags matched" "$file" && fail "$name: \"No flags matched\""
  for flag in "$@"; do
    grep -q -- "--$flag " "$file" || fail "$name: --$flag is not listed: $(head -c 400 "$file")"
  done
}

# Abseil prints the help to stdout and exits 1 after --help.
timeout 10 "$BERTHD" --help >"$TMP/berthd.out" 2>&1
expect_flags "berthd --help" "$TMP/berthd.out" listen db metrics_listen port_file tls_cert \
  tls_key tls_client_ca tokens_file insecure default_max_runtime_s
grep -q "Flags from daemon/main.cc" "$TMP/berthd.out" ||
  fail "berthd --help: no \"Flags from daemon/main.cc\" heading"

timeout 10 "$AGENT" --help >"$TMP/agent.out" 2>&1
expect_flags "berth-agent --help" "$TMP/agent.out" daemon node inventory simulate jobs \
  work_dir stop_grace_ms tls_ca tls_cert tls_key
grep -q "Flags from agents/main.cc" "$TMP/agent.out" ||
  fail "berth-agent --help: no \"Flags from agents/main.cc\" heading"

timeout 10 "$BERTH" --help >"$TMP/berth.out" 2>&1 || fail "berth --help: exit code $?"
for flag in daemon token tls_ca; do
  grep -q -- "--$flag" "$TMP/berth.out" || fail "berth --help: no --$flag before the verb"
done

# --version prints the project's version, exit 0, nothing else needed.
version=$(timeout 10 "$BERTH" --version 2>&1) || fail "berth --version: exit code $?"
[[ $version =~ ^berth\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "berth --version printed \"$version\""

# The static berth command (BERTH_STATIC_CLI) still talks TLS and gRPC: an
# unreachable daemon is reported, not a crash of a missing plugin.
timeout 20 "$BERTH" jobs --daemon 127.0.0.1:1 >"$TMP/unreachable.out" 2>&1
rc=$?
[[ $rc -eq 5 ]] || fail "berth jobs against a closed port: exit code $rc, want 5: $(cat "$TMP/unreachable.out")"

if [[ $failures -gt 0 ]]; then
  echo "help_flags_test: $failures failure(s)" >&2
  exit 1
fi
echo "help_flags_test: all checks passed"
