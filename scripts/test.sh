#!/usr/bin/env bash
# The project's test command: lint, Rust tests against real PostgreSQL and S3 (moto), then the MLflow client
# compatibility suite (tests/compat) twice: esteira on SQLite + local artifacts, and on PostgreSQL + S3;
# then the web UI's browser test (tests/ui, headless Chromium).
# Throw-away services run on free loopback ports in a temp dir and are stopped on any exit.
# Exits non-zero if any stage fails; later stages still run when they can, to show everything at once
# (so cargo test runs with --no-fail-fast).
# ESTEIRA_TEST_KEEP=1 keeps the temp dir (service logs, data) for a look afterwards.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$ESTEIRA_ROOT"

started=$SECONDS
failed=()

# run_stage NAME COMMAND...: a headed stage whose failure is recorded, not fatal.
run_stage() {
  local name="$1" t0=$SECONDS
  shift
  section "$name"
  if "$@"; then
    echo "-- $name: ok ($((SECONDS - t0))s)"
  else
    echo "-- $name: FAILED ($((SECONDS - t0))s)"
    failed+=("$name")
  fi
}

section "setup"
scripts/setup.sh
pytest_bin="$ESTEIRA_VENV/bin/pytest"

run_stage "cargo fmt --check" cargo fmt --all --check
run_stage "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings

section "services: PostgreSQL + S3 (moto)"
work="$(mktemp -d "${TMPDIR:-/tmp}/esteira-test.XXXXXX")"
chmod 755 "$work" # the postgres user must reach its data dir inside
export ESTEIRA_MOTO_PIDFILE="$work/moto.pid"
export ESTEIRA_COMPAT_PIDFILE="$work/servers.pid" # tests/compat records the servers it starts here

cleanup() {
  local rc=$? pid
  set +e
  trap - EXIT INT TERM
  if [ -f "$ESTEIRA_COMPAT_PIDFILE" ]; then
    while read -r pid; do
      kill -TERM -- "-$pid" 2>/dev/null && sleep 0.5 && kill -KILL -- "-$pid" 2>/dev/null
    done <"$ESTEIRA_COMPAT_PIDFILE"
  fi
  "$ESTEIRA_ROOT/scripts/moto.sh" stop
  "$ESTEIRA_ROOT/scripts/pg.sh" stop "$work/pg"
  if [ -n "${ESTEIRA_TEST_KEEP:-}" ]; then
    echo "test.sh: kept $work"
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_port="$(free_port)"
moto_port="$(free_port)"
scripts/pg.sh start "$work/pg" "$pg_port"
ESTEIRA_TEST_S3_BUCKET=esteira-test scripts/moto.sh start "$moto_port" "$work/moto.log"
echo "PostgreSQL on 127.0.0.1:$pg_port, moto S3 on 127.0.0.1:$moto_port (work dir $work)"

export ESTEIRA_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/esteira_test"
export ESTEIRA_TEST_S3_BUCKET=esteira-test
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_ALLOW_HTTP=true
export ESTEIRA_REQUIRE_SERVICES=1
# mlflow (client and server) would otherwise try to reach its telemetry host: loopback only.
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true

run_stage "cargo test" cargo test --workspace --no-fail-fast

run_stage "build the esteira binary" cargo build -p esteira
export ESTEIRA_BIN="${CARGO_TARGET_DIR:-$ESTEIRA_ROOT/target}/debug/esteira"

# The compat servers' data dirs go under $work/tmp, so the trap removes them even after a crash.
mkdir -p "$work/tmp"

compat_sqlite() {
  TMPDIR="$work/tmp" ESTEIRA_COMPAT_TARGET=esteira "$pytest_bin" tests/compat -q
}

compat_postgres_s3() {
  PGOPTIONS='-c client_min_messages=warning' "$PGBIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -q -v ON_ERROR_STOP=1 \
    -c 'DROP DATABASE IF EXISTS esteira_compat' -c 'CREATE DATABASE esteira_compat' >/dev/null || return 1
  local prefix
  prefix="compat-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  echo "store postgres://…/esteira_compat, artifacts s3://$ESTEIRA_TEST_S3_BUCKET/$prefix"
  TMPDIR="$work/tmp" ESTEIRA_COMPAT_TARGET=esteira \
    ESTEIRA_COMPAT_STORE="postgres://postgres@127.0.0.1:$pg_port/esteira_compat" \
    ESTEIRA_COMPAT_ARTIFACTS="s3://$ESTEIRA_TEST_S3_BUCKET/$prefix" \
    "$pytest_bin" tests/compat -q
}

# The web UI in headless Chromium; its server and chromedriver are recorded in the same pid file.
ui_browser() {
  TMPDIR="$work/tmp" "$pytest_bin" tests/ui -q -p no:cacheprovider
}

if [ -x "$ESTEIRA_BIN" ] && [[ ! " ${failed[*]} " =~ " build the esteira binary " ]]; then
  run_stage "compat suite: SQLite + local artifacts" compat_sqlite
  run_stage "compat suite: PostgreSQL + S3" compat_postgres_s3
  run_stage "browser test: web UI (screenshots in target/ui-screenshots)" ui_browser
else
  echo "compat suite and browser test skipped: no esteira binary"
  failed+=("compat suite (not run)" "browser test (not run)")
fi

section "summary ($((SECONDS - started))s)"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all stages passed"
