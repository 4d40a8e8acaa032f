"""Writes the profile tests' data and the exact answers they are checked against.

Run from the repository root: `.venv/bin/python crates/esteira-monitor/tests/vectors/profile_gen.py`.
It writes, beside itself:
- `profile_data.parquet`: seeded columns of every kind the profiler handles or rejects;
- `profile_expected.json`: per column, the exact statistics computed here with numpy, scipy
  and pandas (independent of the Rust code): counts, NaN/inf counts, min, max, mean, sample
  variance, scipy's biased skewness and Fisher kurtosis, numpy quantiles, exact distinct
  counts, pandas value counts, and the log-linear histogram counts (its definition is in
  `src/profile/histogram.rs`: 64 buckets per power of two, computed here with np.frexp).
"""

import json
import pathlib
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats

HERE = pathlib.Path(__file__).resolve().parent
ROWS = 20_000
SEED = 20261126
# The quantile sketch's documented rank-error bound (fraction of n), see src/profile/kll.rs.
RANK_ERROR = 0.0165
QUANTILES = [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999]


def with_nulls(rng, values, share):
    mask = rng.random(len(values)) < share
    return pa.array(values, mask=mask)


def numeric_columns(rng):
    specials = rng.uniform(-5.0, 5.0, ROWS)
    draw = rng.random(ROWS)
    specials[draw < 0.010] = np.nan
    specials[(draw >= 0.010) & (draw < 0.015)] = np.inf
    specials[(draw >= 0.015) & (draw < 0.018)] = -np.inf
    columns = {
        "normal": with_nulls(rng, rng.normal(10.0, 3.0, ROWS), 0.02),
        "lognormal": pa.array(100.0 * rng.lognormal(0.0, 1.0, ROWS)),
        "specials": with_nulls(rng, specials, 0.01),
        "int32_small": with_nulls(rng, rng.integers(0, 100, ROWS).astype(np.int32), 0.01),
        "uint8_col": pa.array(rng.integers(0, 256, ROWS).astype(np.uint8)),
        "int16_signed": pa.array(rng.integers(-1000, 1001, ROWS).astype(np.int16)),
        "float32_col": pa.array(rng.gamma(2.0, 1.5, ROWS).astype(np.float32)),
        "constant": pa.array(np.full(ROWS, 7.5)),
        "all_null": pa.array([None] * ROWS, type=pa.float64()),
    }
    # Five distinct counts for the HyperLogLog checks: draws with replacement from pools.
    for name, pool in [("distinct_1500", 1_500), ("distinct_3k", 3_000), ("distinct_6k", 6_000),
                       ("distinct_15k", 15_000)]:
        columns[name] = pa.array(rng.integers(0, pool, ROWS, dtype=np.int64) - 700)
    columns["distinct_all"] = pa.array(rng.permutation(ROWS).astype(np.int64) * 3)
    return columns


def categorical_columns(rng):
    cities = np.array(["Lisboa", "Porto", "Braga", "Coimbra", "Faro", "Aveiro", "Evora",
                       "Viseu", "Leiria", "Setubal", "Guarda", "Beja"])
    weights = np.arange(12, 0, -1, dtype=float) ** 1.5
    city = cities[rng.choice(12, ROWS, p=weights / weights.sum())]
    colours = np.array(["red", "green", "blue", "black", "white", "grey", "pink", "gold"])
    colour = colours[rng.integers(0, 8, ROWS)]
    # Zipf-like over 5000 categories: far more than the exact cap of 1000.
    ranks = np.arange(1, 5001, dtype=float)
    zipf_p = ranks ** -1.1
    zipf = np.char.add("z", rng.choice(5000, ROWS, p=zipf_p / zipf_p.sum()).astype(str))
    words = np.char.add("w", rng.integers(0, 500, ROWS).astype(str))
    ids = np.char.add("id-", rng.integers(0, 60_000, ROWS).astype(str))
    return {
        "city": with_nulls(rng, city, 0.03),
        "colour_dict": pa.array(colour).dictionary_encode(),
        "flag": with_nulls(rng, rng.random(ROWS) < 0.3, 0.05),
        "zipf_cat": pa.array(zipf),
        "words_large": pa.array(words, type=pa.large_string()),
        "ids": pa.array(ids),
    }


def unprofiled_columns(rng):
    ints = rng.integers(0, 4, ROWS)
    return {
        "blob": pa.array([bytes([int(i % 256)]) for i in ints], type=pa.binary()),
        "tags": pa.array([[int(i), int(i) + 1] for i in ints], type=pa.list_(pa.int32())),
        "point": pa.StructArray.from_arrays([pa.array(ints), pa.array(ints * 2)], ["x", "y"]),
        "when": pa.array(ints.astype("datetime64[s]")),
    }


def numeric_expected(array):
    values = array.to_numpy(zero_copy_only=False).astype(np.float64)
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False))
    present = values[valid]
    finite = present[np.isfinite(present)]
    out = {
        "kind": "numeric",
        "count": int(valid.sum()),
        "nulls": int((~valid).sum()),
        "nan": int(np.isnan(present).sum()),
        "positive_infinity": int(np.isposinf(present).sum()),
        "negative_infinity": int(np.isneginf(present).sum()),
        "finite": int(finite.size),
        "distinct": int(np.unique(finite).size),
    }
    if finite.size == 0:
        return out
    out.update({
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.mean()),
        "variance": float(finite.var(ddof=1)),
        "skewness": none_if_nan(stats.skew(finite, bias=True)),
        "kurtosis": none_if_nan(stats.kurtosis(finite, fisher=True, bias=True)),
        "quantile_bands": [quantile_band(finite, q) for q in QUANTILES],
        "cdf_points": cdf_points(finite),
        "histogram": log_histogram(finite),
    })
    return out


def none_if_nan(value):
    """scipy answers NaN for constant data; JSON has no NaN, so it is written as null."""
    return None if np.isnan(value) else float(value)


def quantile_band(finite, q):
    """The values whose rank is within RANK_ERROR·n of q·n (numpy's inverted CDF)."""
    lo = np.quantile(finite, max(q - RANK_ERROR, 0.0), method="inverted_cdf")
    hi = np.quantile(finite, min(q + RANK_ERROR, 1.0), method="inverted_cdf")
    exact = np.quantile(finite, q, method="inverted_cdf")
    return {"q": q, "low": float(lo), "high": float(hi), "exact": float(exact)}


def cdf_points(finite):
    points = np.quantile(finite, [0.05, 0.3, 0.5, 0.8, 0.97], method="inverted_cdf")
    return [{"x": float(x), "cdf": float(np.mean(finite <= x))} for x in points]


def log_histogram(finite):
    """[sign, index, count] per non-empty bucket: |x| = m·2^e with 1 <= m < 2 falls in the
    bucket j = floor((m - 1)·64) of the power e, index (e + 1023)·64 + j (from np.frexp,
    whose mantissa lies in [0.5, 1))."""
    rows = []
    zeros = int((finite == 0).sum())
    for sign, magnitudes in [(-1, -finite[finite < 0]), (1, finite[finite > 0])]:
        half_mantissa, exponent = np.frexp(magnitudes)
        sub_bucket = np.floor((2.0 * half_mantissa - 1.0) * 64.0).astype(np.int64)
        index = (exponent.astype(np.int64) - 1 + 1023) * 64 + sub_bucket
        keys, counts = np.unique(index, return_counts=True)
        rows += [[sign, int(k), int(c)] for k, c in zip(keys, counts)]
    if zeros:
        rows.append([0, 0, zeros])
    return rows


def categorical_expected(array, full_counts):
    series = array.to_pandas()
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    series = series.map(lambda v: None if v is None or v is pd.NA or v != v else
                        ("true" if v is True else "false" if v is False else str(v)))
    counts = series.value_counts(dropna=True)
    out = {
        "kind": "categorical",
        "count": int(series.notna().sum()),
        "nulls": int(series.isna().sum()),
        "distinct": int(counts.size),
    }
    if full_counts:
        out["value_counts"] = {str(k): int(v) for k, v in counts.items()}
    return out


def main():
    # The constant column makes scipy warn about precision loss (and answer NaN, see above).
    warnings.simplefilter("ignore", RuntimeWarning)
    rng = np.random.default_rng(SEED)
    numeric = numeric_columns(rng)
    categorical = categorical_columns(rng)
    unprofiled = unprofiled_columns(rng)
    table = pa.table({**numeric, **categorical, **unprofiled})
    pq.write_table(table, HERE / "profile_data.parquet", compression="zstd",
                   use_dictionary=["city", "colour_dict", "zipf_cat", "words_large", "flag"],
                   use_byte_stream_split=["normal", "lognormal", "specials", "float32_col"],
                   row_group_size=5_000)
    expected = {"rows": ROWS, "rank_error": RANK_ERROR, "columns": {}}
    for name, array in numeric.items():
        expected["columns"][name] = numeric_expected(array)
    for name, array in categorical.items():
        expected["columns"][name] = categorical_expected(array, full_counts=name != "ids")
    for name in unprofiled:
        expected["columns"][name] = {"kind": "not_profiled"}
    (HERE / "profile_expected.json").write_text(json.dumps(expected, sort_keys=True))


if __name__ == "__main__":
    main()
