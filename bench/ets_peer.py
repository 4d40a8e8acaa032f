"""Peer side of bench/ets_speed.sh: the benchmark data and statsforecast's AutoETS.

    ets_peer.py generate OUT.csv                 # 1000 daily series x 730 points (deterministic)
    ets_peer.py fit DATA.csv OUT.csv [N]         # AutoETS(season_length=7) on the first N series

`generate` writes one series per row: id, then 730 values. The series mix levels (10 to
5000), trends (none, linear, slowly damped, a level shift), weekly patterns (none, additive,
multiplicative, 5 to 40 % amplitude) and Gaussian or multiplicative noise; one in ten
crosses zero (only additive models apply there). numpy's PCG64 with a fixed seed.

`fit` holds out the last 14 points of each series, fits AutoETS (model ZZZ, AICc) on the
rest and forecasts h = 14, on one core (BLAS threads pinned to 1, series one after the
other), timing fit + forecast per series with perf_counter. The first series is fitted once
before timing starts (import and first-call costs are excluded). Writes id, chosen model,
seconds, and the 14 forecasts per row.
"""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[var] = "1"

import csv  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

N_SERIES, LENGTH, H, M = 1000, 730, 14, 7


def generate(out):
    rng = np.random.default_rng(730_7)
    t = np.arange(LENGTH)
    rows = []
    for i in range(N_SERIES):
        level = float(np.exp(rng.uniform(np.log(10), np.log(5000))))
        kind = rng.integers(4)
        if kind == 0:
            trend = np.zeros(LENGTH)
        elif kind == 1:
            trend = level * rng.uniform(-0.3, 0.6) * t / LENGTH
        elif kind == 2:
            rate = rng.uniform(0.995, 0.9995)
            trend = level * rng.uniform(0.2, 0.8) * (1 - rate**t)
        else:
            shift_at = rng.integers(LENGTH // 4, 3 * LENGTH // 4)
            trend = np.where(t >= shift_at, level * rng.uniform(-0.3, 0.3), 0.0)
        base = level + trend
        amp = rng.uniform(0.05, 0.4)
        pattern = rng.normal(0, 1, M)
        pattern = amp * (pattern - pattern.mean()) / (np.abs(pattern).max() + 1e-9)
        season_kind = rng.integers(3)
        noise_sd = rng.uniform(0.01, 0.12)
        if season_kind == 0:
            y = base.copy()
        elif season_kind == 1:
            y = base + level * pattern[t % M]
        else:
            y = base * (1 + pattern[t % M])
        if rng.random() < 0.5:
            y = y + rng.normal(0, noise_sd * level, LENGTH)
        else:
            y = y * np.exp(rng.normal(0, noise_sd, LENGTH))
        if i % 10 == 9:
            y = y - level * rng.uniform(1.0, 1.5)
        rows.append([f"S{i + 1}"] + [repr(float(v)) for v in y])
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id"] + [f"t{k}" for k in range(LENGTH)])
        w.writerows(rows)


def fit(data, out, n):
    from statsforecast.models import AutoETS

    with open(data) as f:
        rows = list(csv.reader(f))[1 : n + 1]
    series = [(r[0], np.array([float(v) for v in r[1:]])) for r in rows]
    AutoETS(season_length=M).fit(series[0][1][:-H]).predict(H)
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "model", "seconds"] + [f"f{k + 1}" for k in range(H)])
        for sid, y in series:
            start = time.perf_counter()
            model = AutoETS(season_length=M).fit(y[:-H])
            mean = model.predict(H)["mean"]
            secs = time.perf_counter() - start
            w.writerow([sid, model.model_["method"], repr(secs)] + [repr(float(v)) for v in mean])


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "generate":
        generate(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "fit":
        fit(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 100)
    else:
        sys.exit(__doc__)
