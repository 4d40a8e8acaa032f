#!/usr/bin/env bash
# Benchmark of the tracking server: MLflow's own `mlflow server` (SQLite; default 4 workers and
# --workers 1) beside `esteira server` (SQLite), same machine, same clients, one run; prints every
# ratio and writes bench/out/results-<timestamp>.json. See bench/README.md.
#
#   bench/run.sh                              # everything (a, b, c, d)
#   BENCH_ONLY=a,c BENCH_RUNS=50 bench/run.sh # a subset, smaller
#   BENCH_SKIP_MLFLOW=1 bench/run.sh          # Esteira alone, quick iteration
#   bench/run.sh --report bench/out/results-<timestamp>.json   # print the tables of a past run again
#
# Environment: BENCH_SECONDS (10) BENCH_RUNS (200) BENCH_CALLS (20) BENCH_SCALE_RUNS (100000)
#   BENCH_ONLY (a,b,c,d) BENCH_SKIP_MLFLOW BENCH_CONCURRENCY (1,32) BENCH_WRK_TIMEOUT (5)
#   BENCH_SEARCH_RUNS (200) BENCH_SCALE_CONNS (16) BENCH_SCALE_TIMEOUT (1800) BENCH_SEARCH_CALLS (50)
#   ESTEIRA_BIN (built here unless set) ESTEIRA_SERVER_CMD (overrides the Esteira command line;
#   placeholders {port} {data_dir} {root}) BENCH_MLFLOW_JOBS=0 (MLflow without its job runner)
#   BENCH_WORKDIR BENCH_KEEP_DATA BENCH_OUT
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="${BENCH_PYTHON:-$root/.venv/bin/python}"

[ -x "$py" ] || { echo "bench: no Python venv at $root/.venv; run scripts/setup.sh" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench: wrk is missing; run scripts/setup.sh (apt-get install wrk)" >&2; exit 1; }
if [ "${BENCH_SKIP_MLFLOW:-}" != 1 ] && [ ! -x "$root/.venv/bin/mlflow" ]; then
  echo "bench: $root/.venv/bin/mlflow is missing; run scripts/setup.sh" >&2; exit 1
fi

if [ "${1:-}" = --report ]; then  # bench/run.sh --report bench/out/results-X.json: print its tables again
  exec "$py" "$root/bench/harness.py" "$@"
fi

if [ -z "${ESTEIRA_SERVER_CMD:-}" ]; then
  if [ -z "${ESTEIRA_BIN:-}" ]; then
    (cd "$root" && cargo build --release -p esteira)
    ESTEIRA_BIN="$root/target/release/esteira"
  fi
  ESTEIRA_BIN="$(realpath "$ESTEIRA_BIN")"
  [ -x "$ESTEIRA_BIN" ] || { echo "bench: $ESTEIRA_BIN is not an executable" >&2; exit 1; }
  export ESTEIRA_BIN
fi

exec "$py" "$root/bench/harness.py" "$@"
