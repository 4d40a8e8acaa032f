#!/usr/bin/env bash
# A throw-away PostgreSQL 15 cluster for tests.
#   scripts/pg.sh start DIR PORT   initdb DIR (if new), start on 127.0.0.1:PORT with its socket in DIR,
#                                  create the database esteira_test
#   scripts/pg.sh stop DIR         stop the cluster in DIR (no-op when it is not running)
# Connect with: postgres://postgres@127.0.0.1:PORT/esteira_test (trust auth, no password).
# As root, DIR is handed to the `postgres` user (initdb refuses root); DIR's parent
# directories must then be searchable by that user.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

usage() { die "usage: $0 start DIR PORT | stop DIR"; }

# Runs a PostgreSQL binary as the cluster owner: as `postgres` when we are root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    local cmd
    cmd="$(printf '%q ' "$@")"
    su postgres -s /bin/sh -c "$cmd"
  else
    "$@"
  fi
}

start() {
  local dir="$1" port="$2"
  [ -x "$PGBIN/initdb" ] || die "PostgreSQL binaries not found in $PGBIN (run scripts/setup.sh)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
    chmod 700 "$dir"
    su postgres -s /bin/sh -c "test -w $(printf '%q' "$dir")" ||
      die "user postgres cannot write $dir: make its parent directories searchable (chmod o+x)"
  fi
  if [ ! -f "$dir/PG_VERSION" ]; then
    local log
    log="$(mktemp)"
    as_owner "$PGBIN/initdb" -D "$dir" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >"$log" 2>&1 ||
      { cat "$log" >&2; rm -f "$log"; die "initdb failed"; }
    rm -f "$log"
  fi
  if as_owner "$PGBIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    echo "pg.sh: a server is already running in $dir; reusing it" >&2
  else
    as_owner "$PGBIN/pg_ctl" -D "$dir" -l "$dir/log" -w -t 60 \
      -o "-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null ||
      { tail -n 20 "$dir/log" >&2 || true; die "pg_ctl start failed"; }
  fi
  if ! "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAq \
    -c "SELECT 1 FROM pg_database WHERE datname = 'esteira_test'" | grep -q 1; then
    "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
      -c 'CREATE DATABASE esteira_test' >/dev/null
  fi
}

stop() {
  local dir="$1"
  [ -f "$dir/postmaster.pid" ] || return 0
  as_owner "$PGBIN/pg_ctl" -D "$dir" stop -m fast -w -t 60 >/dev/null
}

case "${1:-}" in
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 2 ] || usage; stop "$2" ;;
  *) usage ;;
esac
