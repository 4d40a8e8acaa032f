#!/usr/bin/env bash
# AutoETS speed and accuracy: Esteira's auto_ets beside statsforecast's AutoETS (pinned in
# bench/requirements.txt, installed into .venv here) on the same data in one run.
#
# Data: 1000 deterministic daily series x 730 points with season 7 (bench/ets_peer.py
# generate); the last 14 points of each are held out. The peer fits AutoETS + forecasts
# h = 14 on ONE core for the first N series (default 100: it takes ~0.3-0.4 s a series);
# Esteira fits all 1000 on one thread, then on all cores. The table gives time per series,
# the per-core speed ratio on the peer's series, sMAPE / MASE on the held-out points, and
# how often both chose the same model.
#
#   bench/ets_speed.sh          # peer on 100 series
#   bench/ets_speed.sh 1000     # peer on every series (about 6 minutes)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
py="$root/.venv/bin/python"
n_peer="${1:-100}"
out="$root/target/ets_speed"
mkdir -p "$out"
"$py" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
"$py" bench/ets_peer.py generate "$out/data.csv"
echo "statsforecast AutoETS on the first $n_peer series, one core..." >&2
"$py" bench/ets_peer.py fit "$out/data.csv" "$out/peer.csv" "$n_peer"
cargo build --quiet --release -p esteira-ml --example ets_speed
echo "Esteira auto_ets on all series..." >&2
"$root/target/release/examples/ets_speed" "$out/data.csv" "$out/peer.csv"
