"""Reference values for tests/distance.rs, computed by Evidently 0.7.23 itself.

Run with a Python that has `evidently==0.7.23` and `pandas<3` (a scratch venv outside the
repository, e.g. /work/venv-evidently):

    PYTHONHASHSEED=0 /work/venv-evidently/bin/python tests/vectors/distance_gen.py > tests/vectors/distance.json

Every case is one column: its reference and current samples (keys into "samples"; floats rounded to 4 decimals,
integers, or labels; JSON null for a null, the strings "nan", "inf", "-inf" for those floats),
the method asked for (null: Evidently's default choice), and what Evidently reports through
`get_one_column_drift` (the function behind `ValueDrift` and `DataDriftPreset`): the method
it used, its threshold, the score and the verdict. Cases whose method is a p-value test
computed by `drift::pvalue` carry `"needs_pvalue": true`.

TVD is a permutation test whose float statistics Evidently sums in a set's order, so ties
with the observed distance fall either side depending on the hash seed: its cases also carry
`exact_score`, the same permutations (numpy's own `np.random.choice` after `np.random.seed(0)`)
with the distances compared exactly in integers.
"""
import json
import sys

import numpy as np
import pandas as pd
import evidently
from evidently.legacy.calculations.data_drift import get_one_column_drift
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType
from evidently.legacy.options.data_drift import DataDriftOptions
from evidently.legacy.metric_results import DatasetColumns, DatasetUtilityColumns

P_VALUE_METHODS = {"ks", "chisquare", "z", "anderson", "cramer_von_mises", "TVD"}


def columns_of(name, column_type):
    return DatasetColumns(
        utility_columns=DatasetUtilityColumns(date=None, id=None, target=None, prediction=None),
        target_type=None,
        task=None,
        num_feature_names=[name] if column_type == ColumnType.Numerical else [],
        cat_feature_names=[name] if column_type == ColumnType.Categorical else [],
        text_feature_names=[],
        datetime_feature_names=[],
        target_names=None,
    )


SAMPLES = {}


def sample_key(values):
    """Stores a sample once; cases refer to it by key."""
    encoded = encode(values)
    key = json.dumps(encoded)
    if key not in SAMPLES:
        SAMPLES[key] = (f"s{len(SAMPLES)}", encoded)
    return SAMPLES[key][0]


def encode(values):
    out = []
    for v in values:
        if v is None:
            out.append(None)
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, (int, np.integer)):
            out.append(int(v))
        elif np.isnan(v):
            out.append("nan")
        elif np.isinf(v):
            out.append("inf" if v > 0 else "-inf")
        else:
            out.append(float(v))
    return out


def case(name, kind, reference, current, method=None, threshold=None, integer=False):
    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    dtype = "int64" if integer else (float if kind == "numeric" else object)
    ref = pd.DataFrame({"x": pd.Series(reference, dtype=dtype)})
    cur = pd.DataFrame({"x": pd.Series(current, dtype=dtype)})
    clean_ref = ref["x"].replace([-np.inf, np.inf], np.nan).dropna()
    clean_cur = cur["x"].replace([-np.inf, np.inf], np.nan).dropna()
    used = get_stattest(clean_ref, clean_cur, column_type, method).name
    result = {
        "name": name,
        "kind": kind,
        "integer": integer,
        "reference": sample_key(reference),
        "current": sample_key(current),
        "method": method,
        "threshold": threshold,
        "expected_method": used,
        "needs_pvalue": used in P_VALUE_METHODS and used != "TVD",
    }
    if not result["needs_pvalue"]:
        options = DataDriftOptions(all_features_stattest=method, all_features_threshold=threshold)
        drift = get_one_column_drift(
            current_data=cur, reference_data=ref, column_name="x", options=options,
            dataset_columns=columns_of("x", column_type), column_type=column_type, agg_data=True,
        )
        result["expected_threshold"] = float(drift.stattest_threshold)
        result["score"] = float(drift.drift_score)
        result["drifted"] = bool(drift.drift_detected)
    if used == "TVD":
        result["exact_score"] = exact_tvd_p_value(reference, current)
    return result


def exact_tvd_p_value(reference, current):
    """Evidently's TVD permutation test (same `np.random.seed(0)` and `np.random.choice` calls
    on the same pooled list, so the same draws) with the distances compared exactly in
    integers, `sum |r_k n_c - c_k n_r|`, instead of as floats summed in set order."""
    from collections import Counter

    def scaled(ref_counts, n_r, n_c):
        return sum(abs(ref_counts.get(k, 0) * n_c - (pooled_counts[k] - ref_counts.get(k, 0)) * n_r)
                   for k in pooled_counts)

    pooled = list(reference) + list(current)
    pooled_counts = Counter(pooled)
    n_r, n_c = len(reference), len(current)
    observed = scaled(Counter(reference), n_r, n_c)
    np.random.seed(0)
    at_least = 0
    for _ in range(1000):
        new_reference = np.random.choice(pooled, n_r, replace=False).tolist()
        at_least += scaled(Counter(new_reference), n_r, n_c) >= observed
    return at_least / 1000


def normal(rng, n, mu=0.0, sd=1.0):
    return list(np.round(rng.normal(mu, sd, n), 4))


def labels(rng, n, k, weights=None, prefix="c"):
    p = None if weights is None else np.asarray(weights, float) / np.sum(weights)
    return [f"{prefix}{i}" for i in rng.choice(k, n, p=p)]


def main():
    rng = np.random.default_rng(20260601)
    cases = []
    big_ref, big_cur = normal(rng, 3000), normal(rng, 2500, 0.3, 1.2)
    small_ref, small_cur = normal(rng, 200), normal(rng, 150, 0.2)
    heavy_ref = list(np.round(rng.lognormal(0, 1, 4000), 4))
    heavy_cur = list(np.round(rng.lognormal(0.2, 1, 3000), 4))
    few_ref = [float(v) for v in rng.integers(0, 10, 3000)]
    few_cur = [float(v) for v in rng.integers(0, 10, 2000)] + [15.0] * 40
    for method in [None, "wasserstein", "jensenshannon", "psi", "kl_div", "hellinger"]:
        cases.append(case(f"numeric_large_{method}", "numeric", big_ref, big_cur, method))
        cases.append(case(f"numeric_heavy_tail_{method}", "numeric", heavy_ref, heavy_cur, method))
        cases.append(case(f"numeric_few_values_new_value_{method}", "numeric", few_ref, few_cur, method))
    for method in ["wasserstein", "jensenshannon", "psi", "kl_div", "hellinger"]:
        cases.append(case(f"numeric_small_{method}", "numeric", small_ref, small_cur, method))
    same = normal(rng, 1500)
    cases.append(case("numeric_identical_jensenshannon", "numeric", same, same, "jensenshannon"))
    cases.append(case("numeric_identical_wasserstein", "numeric", same, same))
    cases.append(case("numeric_constant_reference_wasserstein", "numeric", [2.5] * 1200, normal(rng, 800, 2.5, 0.01)))
    cases.append(case("numeric_constant_both_psi", "numeric", [1.0] * 50, [1.0] * 30, "psi"))
    cases.append(case("numeric_disjoint_psi", "numeric", normal(rng, 1200), normal(rng, 1200, 50.0), "psi"))
    cases.append(case("numeric_disjoint_kl_div", "numeric", normal(rng, 1200), normal(rng, 1200, 50.0), "kl_div"))
    dirty_ref = normal(rng, 1500) + [float("nan")] * 20 + [float("inf"), float("-inf")]
    dirty_cur = normal(rng, 1300, 0.4) + [float("nan")] * 7
    for method in [None, "jensenshannon", "hellinger"]:
        cases.append(case(f"numeric_nulls_{method}", "numeric", dirty_ref, dirty_cur, method))
    int_ref = [int(v) for v in rng.integers(0, 60, 2000)]
    int_cur = [int(v) for v in rng.integers(5, 70, 1800)]
    for method in [None, "jensenshannon", "psi", "kl_div", "hellinger"]:
        cases.append(case(f"integer_{method}", "numeric", int_ref, int_cur, method, integer=True))
    cases.append(case("numeric_threshold_0_3", "numeric", big_ref, big_cur, "wasserstein", 0.3))
    cases.append(case("numeric_big_wasserstein", "numeric", normal(rng, 20000), normal(rng, 15000, 0.01)))

    cat_ref = labels(rng, 3000, 6, [5, 4, 3, 2, 1, 1])
    cat_cur = labels(rng, 2000, 6, [1, 1, 2, 3, 4, 5]) + ["new_a"] * 30 + ["new_b"] * 3
    cat_missing_cur = [v for v in cat_ref if v != "c5"][:2200]
    for method in [None, "jensenshannon", "psi", "kl_div", "hellinger"]:
        cases.append(case(f"categorical_shift_new_{method}", "categorical", cat_ref, cat_cur, method))
        cases.append(case(f"categorical_missing_category_{method}", "categorical", cat_ref, cat_missing_cur, method))
    tiny_ref = labels(rng, 1500, 3, [1, 1, 1])
    tiny_cur = labels(rng, 1200, 3, [1, 1, 1.1])
    for method in ["psi", "kl_div", "hellinger", "jensenshannon"]:
        cases.append(case(f"categorical_no_drift_{method}", "categorical", tiny_ref, tiny_cur, method))
    null_ref = labels(rng, 1500, 4) + [None] * 25
    null_cur = labels(rng, 1100, 4, [3, 1, 1, 1]) + [None] * 9
    cases.append(case("categorical_nulls_default", "categorical", null_ref, null_cur))
    cases.append(case("categorical_nulls_psi", "categorical", null_ref, null_cur, "psi"))
    tvd_ref = labels(rng, 300, 4)
    cases.append(case("tvd_same", "categorical", tvd_ref, labels(rng, 200, 4), "TVD"))
    cases.append(case("tvd_shift", "categorical", tvd_ref, labels(rng, 200, 4, [1, 1, 1, 3]), "TVD"))
    cases.append(case("tvd_mild", "categorical", tvd_ref, labels(rng, 150, 4, [1, 1, 1, 1.5]), "TVD"))
    cases.append(case("tvd_new_category", "categorical", labels(rng, 80, 3), labels(rng, 60, 3) + ["zz"] * 4, "TVD"))

    # The default choice with small references (p-value tests): the method only matters here.
    cases.append(case("default_small_numeric_ks", "numeric", small_ref, small_cur))
    cases.append(case("default_small_numeric_few_chisquare", "numeric", [float(v) for v in rng.integers(0, 4, 500)], [float(v) for v in rng.integers(0, 5, 400)]))
    cases.append(case("default_small_numeric_binary_z", "numeric", [float(v) for v in rng.integers(0, 2, 500)], [float(v) for v in rng.integers(0, 2, 400)]))
    cases.append(case("default_small_categorical_chisquare", "categorical", labels(rng, 900, 5), labels(rng, 700, 5)))
    cases.append(case("default_small_categorical_binary_z", "categorical", labels(rng, 1000, 2), labels(rng, 700, 2)))
    cases.append(case("default_large_numeric_five_values_js", "numeric", [float(v) for v in rng.integers(0, 5, 1001)], [float(v) for v in rng.integers(0, 5, 900)]))
    cases.append(case("default_large_numeric_six_values_wasserstein", "numeric", [float(v) for v in rng.integers(0, 6, 1001)], [float(v) for v in rng.integers(0, 6, 900)]))
    cases.append(case("default_large_categorical_binary_js", "categorical", labels(rng, 1001, 2), labels(rng, 900, 2)))
    versions = f"evidently {evidently.__version__}, pandas {pd.__version__}, numpy {np.__version__}"
    samples = {key: values for key, values in SAMPLES.values()}
    json.dump({"generator": versions, "samples": samples, "cases": cases}, sys.stdout)


main()
