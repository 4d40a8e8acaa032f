#!/usr/bin/env bash
# Model serving beside MLflow (issue 5): `mlflow models serve` and `esteira serve` on the same
# model and request under wrk, then `esteira predict` beside scikit-learn on a 1M-row Parquet.
# See bench/README.md ("Model serving"). Run scripts/setup.sh first.
#
#   bench/serve.sh                                   # 20 s per wrk row, c=1 and c=32, 1M batch rows
#   BENCH_SECONDS=5 BENCH_BATCH_ROWS=0 bench/serve.sh # quick, no batch
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [[ -z "${ESTEIRA_BIN:-}" ]]; then
    cargo build --release -p esteira
fi
mkdir -p bench/out
out="bench/out/serve-$(date -u +%Y%m%d-%H%M%S).md"
.venv/bin/python bench/serve_bench.py | tee "$out"
echo "written to $out" >&2
