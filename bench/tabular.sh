#!/usr/bin/env bash
# Benchmark: Esteira's gbdt against scikit-learn's HistGradientBoostingRegressor/Classifier on the
# same generated data in one run (regression, binary, 3-class; 200k train rows x 20 features by
# default, 50k holdout rows). Prints holdout quality (RMSE/R², accuracy/log loss), fit and predict
# times (wall and fit CPU seconds) and the ratios. Also Esteira's random_forest against
# scikit-learn's RandomForest* on the first BENCH_RF_ROWS training rows (regression, binary).
# Release build.
#
#   bench/tabular.sh                                  # everything, all cores
#   BENCH_THREADS=1 bench/tabular.sh                  # both sides on one thread (OMP / rayon)
#   BENCH_ROWS=50000 BENCH_TASKS=regression bench/tabular.sh
#
# Environment: BENCH_ROWS (200000) BENCH_TEST_ROWS (50000) BENCH_FEATURES (20)
#   BENCH_TASKS (regression,binary,multiclass) BENCH_RF_ROWS (20000; 0 = no forests)
#   BENCH_THREADS (unset = library defaults) BENCH_OUT
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="${BENCH_PYTHON:-$root/.venv/bin/python}"
out="${BENCH_OUT:-$root/bench/out/tabular}"
[ -x "$py" ] || { echo "bench/tabular.sh: no Python venv at $root/.venv; run scripts/setup.sh" >&2; exit 1; }
cores="$(nproc)"
if [ -n "${BENCH_THREADS:-}" ]; then
  export OMP_NUM_THREADS="$BENCH_THREADS" RAYON_NUM_THREADS="$BENCH_THREADS"
fi
cd "$root"
cargo build --quiet --release -p esteira-ml --example tabular_bench
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg) on $cores cores" >&2
"$py" bench/tabular_peer.py "$out"
"$root/target/release/examples/tabular_bench" "$out"
