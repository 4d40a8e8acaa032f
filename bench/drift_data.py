"""Synthetic drift data for bench/drift.sh: 20 numeric and 5 categorical columns, a reference and
a current file of N rows each, drift designed into five columns.

    python bench/drift_data.py N OUT_DIR   ->  OUT_DIR/ref_N.parquet, OUT_DIR/cur_N.parquet

Current vs reference (every other column: the same distribution, independent draws):
  num_0   N(0, 1)           -> N(0.5, 1)          mean shift
  num_1   N(0, 1)           -> N(0.05, 1)         tiny shift (should not drift)
  num_2   N(0, 1)           -> N(0, 1.5)          variance change
  num_10  lognormal(0, 0.5) -> lognormal(0, 0.8)  shape change
  num_15  U(0, 10)          -> U(1, 11)           location shift
  cat_1   5 levels, uniform -> shares 1:2:3:4:5 (roughly)
  cat_3   20 levels, uniform -> shares rising from 1 to 1.5
Numeric columns num_0..9 are normal, num_10..14 lognormal, num_15..19 uniform; categorical
cat_0..4 have 3, 5, 10, 20 and 50 levels named v0, v1, ...
"""
import os
import sys

import numpy as np
import pandas as pd

LEVELS = [3, 5, 10, 20, 50]


def numeric(rng, n, i, current):
    if i < 10:
        mean = {0: 0.5, 1: 0.05}.get(i, 0.0) if current else 0.0
        sd = 1.5 if current and i == 2 else 1.0
        return rng.normal(mean, sd, n)
    if i < 15:
        return rng.lognormal(0.0, 0.8 if current and i == 10 else 0.5, n)
    low = 1.0 if current and i == 15 else 0.0
    return rng.uniform(low, low + 10.0, n)


def categorical(rng, n, j, current):
    k = LEVELS[j]
    shares = np.ones(k)
    if current and j == 1:
        shares = np.linspace(1, 5, k)
    if current and j == 3:
        shares = np.linspace(1, 1.5, k)
    codes = rng.choice(k, n, p=shares / shares.sum())
    return np.array([f"v{x}" for x in range(k)], dtype=object)[codes]


def table(seed, n, current):
    rng = np.random.default_rng(seed)
    columns = {f"num_{i}": numeric(rng, n, i, current) for i in range(20)}
    columns.update({f"cat_{j}": categorical(rng, n, j, current) for j in range(len(LEVELS))})
    return pd.DataFrame(columns)


def main():
    n, out = int(sys.argv[1]), sys.argv[2]
    os.makedirs(out, exist_ok=True)
    table(11, n, False).to_parquet(os.path.join(out, f"ref_{n}.parquet"), index=False)
    table(12, n, True).to_parquet(os.path.join(out, f"cur_{n}.parquet"), index=False)


main()
