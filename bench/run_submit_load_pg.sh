#!/usr/bin/env bash
# Durable submissions on PostgreSQL: starts a throwaway PostgreSQL 15 cluster
# (initdb in a temporary folder, a free loopback port, fsync and
# synchronous_commit on as shipped; run as `nobody` when this script runs as
# root), one berthd on it, runs submit_load against berthd, and removes it
# all. Extra arguments go to submit_load (e.g. --jobs 20000 --threads 32).
#
#   bench/run_submit_load_pg.sh [BUILD_DIR] [submit_load flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-release}
shift || true
bindir=${BERTH_PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
dir=$(mktemp -d /tmp/berth-pgload-XXXXXX)
chmod 755 "$dir"
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
  chown nobody "$dir"
  as_pg=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
pg_pid=""
daemon=""
cleanup() {
  [[ -n $daemon ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  [[ -n $pg_pid ]] && kill -INT "$pg_pid" 2>/dev/null && wait "$pg_pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U berth --auth=trust -E UTF8 >"$dir/initdb.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$bindir/postgres" -D "$dir/data" -h 127.0.0.1 -p "$port" -k "$dir" \
  2>"$dir/postgres.log" &
pg_pid=$!
for _ in $(seq 100); do
  "$bindir/pg_isready" -h 127.0.0.1 -p "$port" -q && break
  sleep 0.1
done
"$bindir/createdb" -h 127.0.0.1 -p "$port" -U berth berth
echo "postgres $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port:" \
  "fsync=$("$bindir/psql" -h 127.0.0.1 -p "$port" -U berth -Atc 'SHOW fsync' berth)," \
  "synchronous_commit=$("$bindir/psql" -h 127.0.0.1 -p "$port" -U berth -Atc 'SHOW synchronous_commit' berth)"
"$build/daemon/berthd" --listen 127.0.0.1:0 --db "postgresql://berth@127.0.0.1:$port/berth" \
  --port_file "$dir/port" 2>"$dir/berthd.log" &
daemon=$!
# The port file comes at once (standby); SERVING once it leads.
for _ in $(seq 100); do [[ -s "$dir/port" ]] && break; sleep 0.1; done
grpc=$(sed -n 's/^grpc=//p' "$dir/port")
for _ in $(seq 100); do grep -q 'leading' "$dir/berthd.log" && break; sleep 0.1; done
sleep 0.5
"$build/bench/submit_load" --daemon "127.0.0.1:$grpc" "$@"
