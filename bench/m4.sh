#!/usr/bin/env bash
# Benchmark 1: scores Esteira's forecasting baselines (Naive, sNaive, Naive2, SES, Holt, Damped,
# Theta) on the M4 Hourly and Weekly subsets and prints our sMAPE / MASE / OWA beside the
# competition's published figures. The check: our Naive2 equals the published Naive2.
#
#   bench/m4.sh                    # data from ../shared/datasets/m4 (relative to the repo root)
#   bench/m4.sh /path/to/m4        # or M4_DATA=/path/to/m4 bench/m4.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-${M4_DATA:-$root/../shared/datasets/m4}}"
if [[ ! -f "$data/Hourly-train.csv" || ! -f "$data/Weekly-train.csv" ]]; then
    echo "bench/m4.sh: no M4 data in $data (expected Hourly-*.csv, Weekly-*.csv)" >&2
    exit 1
fi
cd "$root"
cargo run --quiet --release -p esteira-ml --example m4 -- "$data"
