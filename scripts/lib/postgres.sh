#!/usr/bin/env bash
# A private, throwaway PostgreSQL server for the tests (the system cluster is left alone).
#   scripts/lib/postgres.sh start DIR   initdb into DIR, start on a free port, print the URL
#   scripts/lib/postgres.sh stop DIR    stop it (fast)
#   scripts/lib/postgres.sh restart DIR stop then start on the same port
# Installs the Debian `postgresql` package if no server binaries are found. Runs the server as
# the `postgres` user when invoked as root (initdb refuses root).
set -euo pipefail
cmd="$1"; dir="$2"

find_bin() {
  local b
  b="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$b" ] || [ ! -x "$b/initdb" ]; then
    echo "installing PostgreSQL (Debian package postgresql)" >&2
    if ! apt-get install -y postgresql >/dev/null 2>&1; then
      apt-get update >/dev/null && apt-get install -y postgresql >/dev/null
    fi
    b="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  echo "$b"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bin="$(find_bin)"
case "$cmd" in
  start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      chown postgres:postgres "$dir"
      if ! runuser -u postgres -- test -x "$dir"; then
        echo "the postgres user cannot reach $dir (a parent directory is private); use a directory under /tmp" >&2
        exit 1
      fi
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1
    fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    echo "$port" > "$dir/port"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/port"
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=on" start >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    ;;
  restart)
    port="$(cat "$dir/port")"
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=300 -c fsync=on" start >/dev/null
    ;;
  *) echo "usage: $0 start|stop|restart DIR" >&2; exit 2 ;;
esac
