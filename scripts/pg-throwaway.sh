#!/usr/bin/env bash
# Starts a throw-away PostgreSQL cluster for the tests: initdb in a temporary directory,
# listening only on loopback (and a socket in that directory), trust authentication, no
# fsync (a test cluster; nothing in it outlives the run).
#
#   eval "$(scripts/pg-throwaway.sh start [PORT])"   prints `export RENEWTWIN_TEST_POSTGRES=… PGDATA_THROWAWAY=…`
#   scripts/pg-throwaway.sh stop|start-again DIR      pg_ctl stop / start on the cluster in DIR (the outage test)
#
# initdb refuses to run as root; as root the cluster belongs to the `postgres` user (or
# `nobody` where there is none). Fails, not skips, when PostgreSQL cannot be started.
set -euo pipefail

bindir() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && { echo "$d"; return; }; done
  echo "pg-throwaway: no initdb found (install postgresql-15)" >&2
  exit 1
}
BIN=$(bindir)

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    local user=postgres
    id "$user" >/dev/null 2>&1 || user=nobody
    runuser -u "$user" -- "$@"
  else
    "$@"
  fi
}

case "${1:-start}" in
  start)
    port=${2:-$(( 20000 + RANDOM % 20000 ))}
    dir=$(mktemp -d /tmp/renewtwin-pg.XXXXXX)
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then
      user=postgres; id "$user" >/dev/null 2>&1 || user=nobody
      chown "$user" "$dir"
    fi
    as_owner "$BIN/initdb" -D "$dir/data" -U renewtwin -A trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    # The settings live in the cluster's configuration, so `start-again` starts it the same way.
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\nfsync = off\nmax_connections = 200\n" \
      "$port" "$dir" >>"$dir/data/postgresql.conf"
    as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "export RENEWTWIN_TEST_POSTGRES=postgres://renewtwin@127.0.0.1:$port/postgres PGDATA_THROWAWAY=$dir"
    ;;
  stop)
    as_owner "$BIN/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null
    ;;
  start-again)
    as_owner "$BIN/pg_ctl" -D "$2/data" -l "$2/server.log" -w -t 60 start >/dev/null
    ;;
  destroy)
    as_owner "$BIN/pg_ctl" -D "$2/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$2"
    ;;
  *)
    echo "usage: $0 start [PORT] | stop DIR | start-again DIR | destroy DIR" >&2
    exit 2
    ;;
esac
