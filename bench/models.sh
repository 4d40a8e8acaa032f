#!/usr/bin/env bash
# Every model benchmark of issue 3, one after the other, each running the Python peer and Esteira
# on the same data in the same run: M4 accuracy (bench/m4.sh), AutoETS speed beside statsforecast
# (bench/ets_speed.sh), GBDT beside scikit-learn's HistGradientBoosting (bench/tabular.sh) and
# ONNX latency beside onnxruntime and scikit-learn (bench/onnx.sh). The whole output goes to
# bench/out/models-<time>.txt as well as the terminal. Run scripts/setup.sh first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$root/bench/out"
log="$root/bench/out/models-$(date -u +%Y%m%d-%H%M%S).txt"
{
    echo "# Esteira model benchmarks, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
    for bench in m4 ets_speed tabular onnx; do
        echo
        echo "## bench/$bench.sh"
        "$root/bench/$bench.sh"
    done
} 2>&1 | tee "$log"
echo "written to $log"
