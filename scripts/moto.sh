#!/usr/bin/env bash
# A throw-away S3 (moto) server for tests.
#   scripts/moto.sh start PORT LOGFILE   run moto_server on 127.0.0.1:PORT in the background, wait until it
#                                        answers, create the bucket $ESTEIRA_TEST_S3_BUCKET (default esteira-test)
#   scripts/moto.sh stop                 stop it
# The pid is kept in $ESTEIRA_MOTO_PIDFILE (default ${TMPDIR:-/tmp}/esteira-moto.pid); give both
# commands the same value to run several at once.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

pidfile="${ESTEIRA_MOTO_PIDFILE:-${TMPDIR:-/tmp}/esteira-moto.pid}"
bucket="${ESTEIRA_TEST_S3_BUCKET:-esteira-test}"

usage() { die "usage: $0 start PORT LOGFILE | stop"; }

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

start() {
  local port="$1" log="$2" i code
  [ -x "$ESTEIRA_VENV/bin/moto_server" ] || die "$ESTEIRA_VENV/bin/moto_server not found (run scripts/setup.sh)"
  running && die "moto is already running (pid $(cat "$pidfile"), pid file $pidfile)"
  # setsid: its own process group, so `stop` can end it and anything it spawned.
  setsid "$ESTEIRA_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  for ((i = 0; ; i++)); do
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)"
    [ "$code" != 000 ] && break
    if ! running || [ "$i" -ge 300 ]; then
      tail -n 20 "$log" >&2 || true
      stop
      die "moto did not start on port $port"
    fi
    sleep 0.1
  done
  # 200 when created; 409 (BucketAlreadyOwnedByYou) when it already exists.
  code="$(curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$port/$bucket")"
  case "$code" in
    200 | 409) ;;
    *) stop; die "creating bucket $bucket failed (HTTP $code)" ;;
  esac
}

stop() {
  [ -f "$pidfile" ] || return 0
  local pid i
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start) [ $# -eq 3 ] || usage; start "$2" "$3" ;;
  stop) [ $# -eq 1 ] || usage; stop ;;
  *) usage ;;
esac
