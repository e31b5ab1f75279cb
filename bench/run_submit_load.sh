#!/usr/bin/env bash
# Starts berthd on a fresh SQLite file and a free loopback port, runs the
# submit_load generator against it, and stops the daemon. Extra arguments go
# to submit_load (for example --jobs 50000 --threads 64). BERTHD=PATH runs
# another berthd binary (an older build, for before/after figures);
# BERTHD_FLAGS adds flags to berthd's (for example --teams=FILE, with
# submit_load's --teams).
#
#   bench/run_submit_load.sh [BUILD_DIR] [submit_load flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
shift || true
dir=$(mktemp -d /tmp/berth-load-XXXXXX)
trap 'kill $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$dir"' EXIT
# shellcheck disable=SC2086  # BERTHD_FLAGS: words on purpose
"${BERTHD:-$build/daemon/berthd}" --listen 127.0.0.1:0 --db "$dir/berth.db" --port_file "$dir/port" \
  ${BERTHD_FLAGS:-} 2>"$dir/berthd.log" &
daemon=$!
for _ in $(seq 100); do [[ -s "$dir/port" ]] && break; sleep 0.1; done
port=$(sed -n 's/^grpc=//p' "$dir/port")
"$build/bench/submit_load" --daemon "127.0.0.1:$port" --daemon_pid "$daemon" "$@"
