#!/usr/bin/env bash
# Model serving beside MLflow (issue 5): `mlflow models serve` and `esteira serve` on the same
# model and request under wrk, then `esteira predict` beside scikit-learn on a 1M-row Parquet.
# See bench/README.md ("Model serving"). Run scripts/setup.sh first.
#
#   bench/serve.sh                                   # 20 s per wrk row, c=1 and c=32, 1M batch rows
#   BENCH_ROUNDS=3 bench/serve.sh                    # three rounds of every row (ratios of the medians)
#   BENCH_SECONDS=5 BENCH_BATCH_ROWS=0 BENCH_RESULTS= bench/serve.sh   # quick, no batch, RESULTS untouched
#   BENCH_SERVERS=esteira,esteira-batched BENCH_CONCURRENCY=32 BENCH_BATCH_ROWS=0 BENCH_RESULTS= bench/serve.sh
#                                                    # micro-batching off and on (BENCH_MICROBATCH_ROWS=64,
#                                                    # BENCH_MICROBATCH_WAIT=0ms), single-row requests
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [[ -z "${ESTEIRA_BIN:-}" ]]; then
    cargo build --release -p esteira
fi
mkdir -p bench/out
out="bench/out/serve-$(date -u +%Y%m%d-%H%M%S).md"
.venv/bin/python bench/serve_bench.py | tee "$out"
results="${BENCH_RESULTS-bench/RESULTS-serve.md}"
if [[ -n "$results" ]]; then
    cp "$out" "$results"
fi
echo "written to $out${results:+ and $results}" >&2
