#!/usr/bin/env bash
# Integration test of the daemon verbs of `berth` with no daemon: each verb
# has --help; bad input is exit 2 before any call; and with nothing
# listening (127.0.0.1:1) every verb exits 5 promptly, naming the address.
# "Promptly" is a hang guard of 3 s (`timeout` exits 124), not a benchmark:
# the CLI retries UNAVAILABLE three times with 0.1 + 0.2 + 0.4 s of backoff.
#
#   bash tests/integration/cli_unreachable_test.sh build/cli/berth
set -uo pipefail

BERTH=${1:?usage: cli_unreachable_test.sh PATH/TO/berth}
EXAMPLES=$(cd "$(dirname "$0")/../../deploy/examples" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
NOWHERE=127.0.0.1:1

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# run NAME ARGS...: runs berth with ARGS under a 3 s guard; stdout in
# $TMP/NAME.out, stderr in $TMP/NAME.err, exit code in $rc.
run() {
  local name=$1
  shift
  timeout 3 "$BERTH" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"
  rc=$?
}

expect_rc() {
  local name=$1 want=$2
  if [[ $rc -eq 124 ]]; then
    fail "$name: still running after 3 s"
  elif [[ $rc -ne $want ]]; then
    fail "$name: exit code $rc, want $want; stderr: $(cat "$TMP/$name.err")"
  fi
}

# expect_err NAME TEXT: stderr contains TEXT.
expect_err() {
  grep -qF -- "$2" "$TMP/$1.err" ||
    fail "$1: stderr lacks \"$2\": $(cat "$TMP/$1.err")"
}

# Every verb has --help.
for verb in submit jobs job cancel why checkpoint nodes drain undrain; do
  run "help_$verb" "$verb" --help
  expect_rc "help_$verb" 0
  grep -q -- "--daemon" "$TMP/help_$verb.out" ||
    fail "help_$verb: no --daemon in the help"
done

# Nothing listening: exit 5, and the message names the address.
run jobs jobs --daemon "$NOWHERE"
expect_rc jobs 5
expect_err jobs "berth jobs: cannot reach berthd at $NOWHERE"
[[ -s "$TMP/jobs.out" ]] && fail "jobs: printed to stdout: $(cat "$TMP/jobs.out")"

run submit submit "$EXAMPLES/train-llama-2-7b.json" --daemon "$NOWHERE" --json
expect_rc submit 5
expect_err submit "cannot reach berthd at $NOWHERE"
for args in "job 1" "cancel 1" "why 1" "checkpoint 1" "nodes" "drain gpu-a" "undrain gpu-a"; do
  name=${args// /_}
  # shellcheck disable=SC2086 # split the verb from its argument
  run "$name" $args --daemon "$NOWHERE"
  expect_rc "$name" 5
  expect_err "$name" "$NOWHERE"
done

# Issue 17: the message says what to check.
expect_err jobs "cannot reach berthd at $NOWHERE: is it running? (BERTH_ADDR, --daemon)"

# Issue 17: the connection flags may come before the verb; the verb's own
# flag wins over them.
run global_daemon --daemon "$NOWHERE" jobs
expect_rc global_daemon 5
expect_err global_daemon "berth jobs: cannot reach berthd at $NOWHERE"
run global_submit --daemon "$NOWHERE" submit "$EXAMPLES/train-llama-2-7b.json"
expect_rc global_submit 5
expect_err global_submit "cannot reach berthd at $NOWHERE"
run global_then_verb --daemon 127.0.0.1:2 nodes --daemon "$NOWHERE"
expect_rc global_then_verb 5
expect_err global_then_verb "$NOWHERE"

# Issue 17: an address without a port, or a URL, is bad input (exit 2) with
# what to write instead, not a connection failure.
run no_port jobs --daemon 127.0.0.1
expect_rc no_port 2
expect_err no_port "--daemon 127.0.0.1: needs a port from 1 to 65535, as HOST:PORT"
expect_err no_port "127.0.0.1:7070"
run url jobs --daemon http://127.0.0.1:7070
expect_rc url 2
expect_err url "--daemon http://127.0.0.1:7070: berthd speaks gRPC, not http; give HOST:PORT (127.0.0.1:7070)"
BERTH_ADDR=berth.example run env_no_port nodes
expect_rc env_no_port 2
expect_err env_no_port "\$BERTH_ADDR berth.example: needs a port"
run watch_no_port watch --daemon 127.0.0.1
expect_rc watch_no_port 2
expect_err watch_no_port "needs a port"

# $BERTH_ADDR is used without --daemon; --daemon wins over it.
BERTH_ADDR=127.0.0.1:2 run env nodes
expect_rc env 5
expect_err env "127.0.0.1:2"
BERTH_ADDR=127.0.0.1:2 run flag_wins nodes --daemon "$NOWHERE"
expect_rc flag_wins 5
expect_err flag_wins "$NOWHERE"

# Bad input is exit 2 and never reaches the (missing) daemon.
printf 'name: x\nmodle: {}\n' >"$TMP/job.yaml"
run yaml submit "$TMP/job.yaml" --daemon "$NOWHERE"
expect_rc yaml 2
expect_err yaml "$TMP/job.yaml:2: modle: unknown field"
# A good spec with a daemon that never answers: 5, also with --wait.
printf 'name: x\nteam: nlp\ntask: train\nmodel: {catalog_name: llama-2-7b}\n' >"$TMP/ok.yaml"
run wait_unreachable submit "$TMP/ok.yaml" --wait --timeout 5s --daemon "$NOWHERE"
expect_rc wait_unreachable 5
run watch_unreachable watch --once --daemon "$NOWHERE"
expect_rc watch_unreachable 5
expect_err watch_unreachable "$NOWHERE"
# The live view keeps retrying an unreachable daemon, and SIGINT ends it with
# exit 0 after leaving the alternate screen and showing the cursor again.
timeout 20 "$BERTH" watch --interval 0.2 --daemon "$NOWHERE" \
  >"$TMP/watch_live.out" 2>"$TMP/watch_live.err" &
watcher=$!
sleep 1.5
kill -INT "$watcher"
wait "$watcher"
rc=$?
expect_rc watch_live 0
grep -q "did not answer" "$TMP/watch_live.out" ||
  fail "watch_live: no unreachable frame: $(head -c 500 "$TMP/watch_live.out")"
[[ $(tail -c 14 "$TMP/watch_live.out" | od -An -c | tr -d ' \n') == '033[?25h033[?1049l' ]] ||
  fail "watch_live: terminal not restored: $(tail -c 20 "$TMP/watch_live.out" | od -c)"
printf '{"team": "nlp", "modle": {}}\n' >"$TMP/unknown.json"
run unknown submit "$TMP/unknown.json" --daemon "$NOWHERE"
expect_rc unknown 2
expect_err unknown "$TMP/unknown.json: modle: unknown field"
# Issue 17: a trailing comma is malformed JSON (protobuf's parser allows it).
printf '{"team": "nlp",\n "task": "train",\n}\n' >"$TMP/trailing.json"
run trailing submit "$TMP/trailing.json" --daemon "$NOWHERE"
expect_rc trailing 2
expect_err trailing "$TMP/trailing.json: malformed JSON: a comma before } or ] on line 2"
# Issue 17: a section of the other task is an error naming it.
printf 'name: x\nteam: nlp\ntask: infer\nmodel: {catalog_name: llama-2-7b}\ntrain: {seq: 2048}\n' \
  >"$TMP/mixed.yaml"
run mixed submit "$TMP/mixed.yaml" --daemon "$NOWHERE"
expect_rc mixed 2
expect_err mixed "$TMP/mixed.yaml: train: a section for task train, but the task is infer"
# Issue 17: an unknown model suggests the nearest name.
printf 'name: x\nteam: nlp\ntask: train\nmodel: {catalog_name: lama-2-7b}\n' >"$TMP/typo.yaml"
run typo submit "$TMP/typo.yaml" --daemon "$NOWHERE"
expect_rc typo 2
expect_err typo "did you mean llama-2-7b?"
printf '{"team": "nlp", ' >"$TMP/broken.json"
run broken submit "$TMP/broken.json" --daemon "$NOWHERE"
expect_rc broken 2
expect_err broken "$TMP/broken.json: malformed JSON"
run missing submit "$TMP/none.json" --daemon "$NOWHERE"
expect_rc missing 2
run bad_id job twelve --daemon "$NOWHERE"
expect_rc bad_id 2
expect_err bad_id "job id"
run bad_state jobs --state sleeping --daemon "$NOWHERE"
expect_rc bad_state 2
expect_err bad_state "--state"

if [[ $failures -gt 0 ]]; then
  echo "cli_unreachable_test: $failures failure(s)" >&2
  exit 1
fi
echo "cli_unreachable_test: all checks passed"
