#!/usr/bin/env bash
# Runs each issue-18 resource attack (bench/attack_load.cc) against a fresh
# berthd on loopback and prints berthd's resident memory (VmRSS) before and
# after, its peak (VmHWM), and the size of /metrics. Give a berthd built from
# another commit to compare (the attack tool comes from BUILD_DIR).
#
#   bench/run_attack_rss.sh [BUILD_DIR] [BERTHD] [ATTACK]   # ATTACK: only that one
#   IDLE_STREAMS=20000 bench/run_attack_rss.sh build "" idle_streams
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
berthd=${2:-}
berthd=${berthd:-$build/daemon/berthd}
only=${3:-}
attack="$build/bench/attack_load"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

run() {  # name, attack flags...
  local name=$1
  shift
  [[ -z $only || $only == "$name" ]] || return 0
  local dir
  dir=$(mktemp -d /tmp/berth-attack-XXXXXX)
  "$berthd" --listen 127.0.0.1:0 --db "$dir/berth.db" --port_file "$dir/port" \
    --metrics_listen 127.0.0.1:0 2>"$dir/berthd.log" &
  local daemon=$!
  for _ in $(seq 100); do [[ -s "$dir/port" ]] && break; sleep 0.1; done
  local port metrics
  port=$(sed -n 's/^grpc=//p' "$dir/port")
  metrics=$(sed -n 's/^metrics=//p' "$dir/port")
  sleep 1
  local before
  before=$(rss "$daemon")
  local start=$SECONDS
  timeout 180 "$attack" --daemon "127.0.0.1:$port" "$@" || echo "($name: attack exited $?)"
  local after peak size
  after=$(rss "$daemon")
  peak=$(hwm "$daemon")
  size=$(timeout 20 curl -s "http://127.0.0.1:$metrics/metrics" | wc -c || echo "?")
  printf '%-16s RSS %6d KiB before, %7d KiB after, peak %7d KiB; /metrics %s bytes; %d s\n' \
    "$name" "$before" "$after" "$peak" "$size" $((SECONDS - start))
  kill "$daemon" 2>/dev/null || true
  timeout 20 tail --pid="$daemon" -f /dev/null || kill -9 "$daemon" 2>/dev/null || true
  rm -rf "$dir"
}

run idle_streams --attack idle_streams --count "${IDLE_STREAMS:-5000}" --hold_s 25
run huge_heartbeat --attack huge_heartbeat --count 150000
run fat_lists --attack fat_lists --count 200
run unread_lists --attack unread_lists --count 200 --hold_s 20
run big_spec --attack big_spec
