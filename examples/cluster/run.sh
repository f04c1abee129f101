#!/usr/bin/env bash
# Three Eddy hosts on one PostgreSQL database, serving the todo example: the shared store on
# one machine. Ctrl-C stops them (and the database, if this script started it).
#
#   examples/cluster/run.sh                      starts a throwaway PostgreSQL too (postgres.sh)
#   examples/cluster/run.sh postgres://U@H/DB    uses that database
#
# The hosts listen on 127.0.0.1:3111, :3112 and :3113; put any HTTP load balancer in front of
# them; WebSockets may land on any host (docs/cluster.md).
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d)
chmod 755 "$work" # the server runs as its own user (postgres.sh), which must reach its folder
url=${1:-}
if [ -z "$url" ]; then
    url=$(examples/cluster/postgres.sh start "$work/postgres")
    echo "PostgreSQL: $url (in $work/postgres, removed on exit)"
fi
pids=()
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    if [ -d "$work/postgres" ]; then
        examples/cluster/postgres.sh stop "$work/postgres" || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap "exit 130" INT TERM

cargo build --release -p eddy
eddy="${CARGO_TARGET_DIR:-target}/release/eddy"
"$eddy" build plugins
for port in 3111 3112 3113; do
    "$eddy" serve --plugins plugins --state "$url" \
        --listen "127.0.0.1:$port" --data "$work/host-$port" &
    pids+=($!)
done
echo "three hosts: http://127.0.0.1:3111 http://127.0.0.1:3112 http://127.0.0.1:3113 (Ctrl-C stops them)"
wait
