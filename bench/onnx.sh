#!/usr/bin/env bash
# Benchmark: ONNX inference latency and throughput. Esteira's `OnnxModel::predict` (release build)
# beside Python onnxruntime and scikit-learn's `predict`, on the GradientBoostingRegressor fixture
# (100 trees) and the same rows, in one run; prints a table with Esteira's speed-up over each.
#
#   bench/onnx.sh                 # 3 rounds, .venv/bin/python
#   bench/onnx.sh --rounds 5      # more rounds (the table shows the median per metric)
#   bench/onnx.sh --python /path/to/python
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [[ ! -x .venv/bin/python ]] && [[ " $* " != *" --python "* ]]; then
    echo "bench/onnx.sh: no .venv/bin/python (run scripts/setup.sh, or pass --python PY)" >&2
    exit 1
fi
cargo run --quiet --release -p esteira-ml --example onnx_bench -- "$@"
