#!/usr/bin/env bash
# Benchmark (issue 4): orchestration overhead of a 200-step no-op fan-out/fan-in pipeline on 2
# workers. Esteira (a) `esteira pipeline run --workers 2` on SQLite and (b) `esteira server
# --workers 0` + 2 `esteira worker` on a throw-away PostgreSQL, beside a peer orchestrator
# (Prefect 3 by default) installed from bench/requirements-peers.txt into bench/.venv-peers.
# Prints a table and writes bench/out/pipeline-<time>.json and bench/RESULTS-pipeline.md.
#
#   bench/pipeline.sh                          # a, b and Prefect, 3 runs each (about 2 min)
#   BENCH_RUNS=1 BENCH_ONLY=a bench/pipeline.sh
#   BENCH_PEERS=prefect,dagster BENCH_DAGSTER_FANOUT=48 bench/pipeline.sh  # Dagster too (+3 min)
#
# Settings: BENCH_RUNS (3), BENCH_ONLY (a,b,peers), BENCH_PEERS (prefect), BENCH_DAGSTER_FANOUT
# (198), ESTEIRA_BIN (built here unless set), BENCH_RESULTS (bench/RESULTS-pipeline.md; empty:
# none), BENCH_KEEP_DATA=1 keeps the work directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

[[ -x .venv/bin/python ]] || die "no .venv/bin/python (run scripts/setup.sh)"
only="${BENCH_ONLY:-a,b,peers}"
peers="${BENCH_PEERS:-prefect}"

bin="${ESTEIRA_BIN:-}"
if [[ -z "$bin" ]]; then
    cargo build --quiet --release -p esteira
    bin="$root/target/release/esteira"
fi

peer_python=""
if [[ ",$only," == *",peers,"* ]]; then
    venv="$root/bench/.venv-peers"
    if [[ ! -x "$venv/bin/python" ]]; then
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements-peers.txt
    peer_python="$venv/bin/python"
fi

workdir="$(mktemp -d /tmp/esteira-pipeline-bench-XXXXXX)"
chmod 755 "$workdir"
pg_dir="$workdir/pg"
pg_args=()
cleanup() {
    scripts/pg.sh stop "$pg_dir" 2>/dev/null || true
    [[ -n "${BENCH_KEEP_DATA:-}" ]] || rm -rf "$workdir"
}
trap cleanup EXIT
if [[ ",$only," == *",b,"* ]]; then
    pg_port="$(free_port)"
    scripts/pg.sh start "$pg_dir" "$pg_port"
    pg_args=(--pg-url "postgres://postgres@127.0.0.1:$pg_port/esteira_test" --pg-dir "$pg_dir")
fi

mkdir -p bench/out
stamp="$(date -u +%Y%m%d-%H%M%S)"
results="${BENCH_RESULTS-bench/RESULTS-pipeline.md}"
md_args=()
[[ -z "$results" ]] || md_args=(--md-out "$results")
.venv/bin/python bench/pipeline_bench.py --esteira "$bin" "${pg_args[@]}" \
    ${peer_python:+--peer-python "$peer_python"} --peers "$peers" --only "$only" \
    --runs "${BENCH_RUNS:-3}" --dagster-fanout "${BENCH_DAGSTER_FANOUT:-198}" \
    --workdir "$workdir/runs" --json-out "bench/out/pipeline-$stamp.json" "${md_args[@]}"
echo "written to bench/out/pipeline-$stamp.json${results:+ and $results}"
