#!/usr/bin/env bash
# A private PostgreSQL server for the tests: `scripts/pg.sh start` installs the distribution's
# server when it is missing, creates a data directory, starts it on a free loopback port and
# prints the admin URL; `scripts/pg.sh stop` stops it; `scripts/pg.sh crash` stops it in
# immediate mode (no shutdown checkpoint: as if the machine lost power, recovery from the WAL on
# the next start) and starts it again on the same port and data. The data directory lives under /tmp
# (one per checkout), where the postgres user can reach it wherever the checkout is.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${TMPDIR:-/tmp}/billcenter-pg-$(printf '%s' "$PWD" | cksum | cut -d' ' -f1)"

bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# pg_ctl as the postgres user when run as root.
pg_ctl() {
    local run=()
    [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
    "${run[@]}" "$(bindir)/pg_ctl" -D "$dir/data" "$@"
}

# Starts the server of "$dir" on port $1.
serve() {
    pg_ctl -l "$dir/server.log" -w start \
        -o "-p $1 -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2
}

case "${1:-}" in
start)
    if [ -z "$(bindir)" ] || [ ! -x "$(bindir)/initdb" ]; then
        echo "installing PostgreSQL from the distribution" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    fi
    bin="$(bindir)"
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    if [ -f "$dir/url" ] && pg_ctl status >/dev/null 2>&1; then
        cat "$dir/url"
        exit 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    run=()
    if [ "$(id -u)" = 0 ]; then
        chown -R postgres:postgres "$dir"
        run=(runuser -u postgres --)
    fi
    "${run[@]}" "$bin/initdb" -D "$dir/data" --auth=trust --username=postgres --encoding=UTF8 >"$dir/initdb.log"
    serve "$port"
    echo "postgres://postgres@127.0.0.1:$port/postgres" | tee "$dir/url"
    ;;
stop)
    if [ -n "$(bindir)" ] && [ -d "$dir/data" ]; then
        pg_ctl -m fast stop >&2 || true
    fi
    ;;
crash)
    pg_ctl -m immediate stop >&2
    port=$(sed -E 's|.*:([0-9]+)/.*|\1|' "$dir/url")
    serve "$port"
    ;;
*)
    echo "usage: scripts/pg.sh start|stop|crash" >&2
    exit 2
    ;;
esac
