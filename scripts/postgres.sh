#!/usr/bin/env bash
# A throw-away PostgreSQL 15 + PostGIS 3 cluster for the tests (and for trying the mission store).
#
#   eval "$(bash scripts/postgres.sh start)"   # sets SAUTI_PG_URL and SAUTI_PG_DIR
#   bash scripts/postgres.sh stop "$SAUTI_PG_DIR"
#
# `start` installs postgresql-15-postgis-3 from Debian when it is missing, creates a cluster in a
# new temporary folder owned by the `postgres` user (initdb and pg_ctl refuse to run as root),
# listening on 127.0.0.1 only, on a free port, with a `sauti` superuser (password `sauti`) and a
# `sauti` database with PostGIS. It prints SAUTI_PG_URL=… and SAUTI_PG_DIR=… (the folder `stop`
# removes, server and data with it). fsync is off: this cluster is for tests, never for data.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

install_postgis() {
    if [ ! -x "$PG_BIN/initdb" ] || [ ! -f /usr/share/postgresql/15/extension/postgis.control ]; then
        echo "installing PostgreSQL 15 + PostGIS 3 from Debian's packages" >&2
        if [ "$(id -u)" != 0 ]; then
            echo "error: PostgreSQL 15 with PostGIS 3 is missing; run this as root once (apt-get)" >&2
            exit 1
        fi
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 postgresql-15-postgis-3 >&2
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    install_postgis
    local dir port
    dir=$(mktemp -d /tmp/sauti-pg.XXXXXX)
    chmod 755 "$dir"
    mkdir "$dir/data"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir" "$dir/data"; fi
    port=$(free_port)
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/data/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off" start >&2 \
        || { cat "$dir/data/server.log" >&2; exit 1; }
    as_postgres "$PG_BIN/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >&2 <<SQL
CREATE ROLE sauti LOGIN SUPERUSER PASSWORD 'sauti';
CREATE DATABASE sauti OWNER sauti;
\c sauti
CREATE EXTENSION postgis;
SQL
    local url="postgresql://sauti:sauti@127.0.0.1:$port/sauti"
    echo "$url" >"$dir/url"
    echo "SAUTI_PG_URL=$url"
    echo "SAUTI_PG_DIR=$dir"
}

stop() {
    local dir=${1:?usage: postgres.sh stop DIR}
    [ -d "$dir/data" ] || { echo "no cluster in $dir" >&2; exit 1; }
    as_postgres "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >&2 || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) start ;;
    stop) stop "${2:-}" ;;
    *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
