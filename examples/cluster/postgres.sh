#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback, for trying Eddy's shared store and for its tests.
#
#   examples/cluster/postgres.sh start DIR   initialises a cluster in DIR (if new), starts it on
#                                            a free loopback port and prints its URL
#   examples/cluster/postgres.sh stop DIR    stops it
#
# Needs the server binaries (Debian/Ubuntu: apt-get install postgresql). Anyone on this machine
# may connect as user eddy without a password (trust on loopback): for development and tests,
# not for data you keep.
set -euo pipefail

action=${1:?usage: postgres.sh start|stop DIR}
dir=${2:?usage: postgres.sh start|stop DIR}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ]; then
    bin=$(dirname "$(command -v pg_ctl || echo /nonexistent/pg_ctl)")
fi
[ -x "$bin/pg_ctl" ] || { echo "postgres.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }

# The server refuses to run as root: run its tools as the postgres user then.
as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$dir"
        runuser -u postgres -- test -x "$dir" || {
            echo "postgres.sh: the postgres user cannot reach $dir (a parent folder is private)" >&2
            exit 1
        }
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bin/initdb" -D "$dir/data" -U eddy --auth=trust >/dev/null
    fi
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=400" start >/dev/null
    "$bin/psql" -h 127.0.0.1 -p "$port" -U eddy -d postgres -qtAc \
        "SELECT 1 FROM pg_database WHERE datname = 'eddy'" | grep -q 1 \
        || "$bin/createdb" -h 127.0.0.1 -p "$port" -U eddy eddy
    echo "postgres://eddy@127.0.0.1:$port/eddy"
    ;;
stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null
    ;;
*)
    echo "usage: postgres.sh start|stop DIR" >&2
    exit 2
    ;;
esac
