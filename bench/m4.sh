#!/usr/bin/env bash
# Benchmark 1: scores Esteira's forecasting methods on the M4 Hourly and Weekly subsets and prints
# our sMAPE / MASE / OWA beside the competition's published figures, with each row's wall time:
# the M4 benchmarks (Naive, sNaive, Naive2, SES, Holt, Damped, Theta), MSTL with SES / Damped /
# Theta on the adjusted series, and the automatic ensemble (Auto). The checks: our Naive2 equals
# the published Naive2; Auto's OWA is below 0.85 (Hourly) and 0.92 (Weekly).
# Speed peer: statsmodels' MSTL decomposes every Hourly series (periods 24 and 168) on one
# thread, then Esteira does the same in the same run; the table prints both times and the ratio.
#
#   bench/m4.sh                    # data from ../shared/datasets/m4 (relative to the repo root)
#   bench/m4.sh /path/to/m4        # or M4_DATA=/path/to/m4 bench/m4.sh
#   bench/m4.sh /path/to/m4 --rules   # also the ensemble rules compared to choose the default
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-${M4_DATA:-$root/../shared/datasets/m4}}"
shift || true
if [[ ! -f "$data/Hourly-train.csv" || ! -f "$data/Weekly-train.csv" ]]; then
    echo "bench/m4.sh: no M4 data in $data (expected Hourly-*.csv, Weekly-*.csv)" >&2
    exit 1
fi
cd "$root"
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
cargo build --quiet --release -p esteira-ml --example m4
peer=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python - "$data/Hourly-train.csv" <<'PY'
import csv, sys, time, warnings
import numpy as np
from statsmodels.tsa.seasonal import MSTL
warnings.simplefilter("ignore")
with open(sys.argv[1]) as f:
    rows = list(csv.reader(f))[1:]
series = [np.array([float(v) for v in r[1:] if v not in ("", "NA")]) for r in rows]
start = time.perf_counter()
for x in series:
    MSTL(x, periods=(24, 168)).fit()
print(f"{time.perf_counter() - start:.6f}")
PY
)
./target/release/examples/m4 "$data" --statsmodels-mstl-seconds "$peer" "$@"
