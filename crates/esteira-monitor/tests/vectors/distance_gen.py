"""Reference values for tests/distance.rs, computed by Evidently 0.7.23 itself.

Run with a Python that has `evidently==0.7.23` and `pandas<3` (a scratch venv outside the
repository, e.g. /work/venv-evidently):

    PYTHONHASHSEED=0 /work/venv-evidently/bin/python tests/vectors/distance_gen.py > tests/vectors/distance.json

Every case is one column: its reference and current samples (keys into "samples"; floats rounded to 4 decimals,
integers, or labels; JSON null for a null, the strings "nan", "inf", "-inf" for those floats),
the method asked for (null: Evidently's default choice), and what Evidently reports through
`get_one_column_drift` (the function behind `ValueDrift` and `DataDriftPreset`): the method
it used, its threshold, the score and the verdict, for every method: the distances, the
p-value tests (`ks`, `chisquare`, `z`, `anderson`, `cramer_von_mises`, `TVD`) and `linf`.

`linf` is ours, not an Evidently method: it is registered here as an Evidently stattest (so it
goes through `get_one_column_drift` like the others) whose score is numpy's
`max(abs(reference_percents - current_percents))` on Evidently's own
`get_binned_data(reference, current, feature_type, 30, feel_zeroes=False)`, the binning
`jensenshannon` uses; default threshold 0.1, drift when the score is at least the threshold.

TVD is a permutation test whose float statistics Evidently sums in a set's order, so ties
with the observed distance fall either side depending on the hash seed: its cases also carry
`exact_score`, the same permutations (numpy's own `np.random.choice` after `np.random.seed(0)`)
with the distances compared exactly in integers.

`cramer_von_mises` with both samples of at most 20 values uses Evidently's own copy of the
exact p-value, which counts the lattice paths in the dtype `np.min_scalar_type` picks for a
float bound (float32 here, as it divides factorials into a float), so its p-value is off by
about 1e-8: those cases also carry `scipy_score`, `scipy.stats.cramervonmises_2samp`'s exact
p-value (integer counts) on the same samples.
"""
import json
import sys

import numpy as np
import pandas as pd
from scipy.stats import cramervonmises_2samp
import evidently
from evidently.legacy.calculations.data_drift import get_one_column_drift
from evidently.legacy.calculations.stattests.registry import StatTest, get_stattest, register_stattest
from evidently.legacy.calculations.stattests.utils import get_binned_data
from evidently.legacy.core import ColumnType
from evidently.legacy.options.data_drift import DataDriftOptions
from evidently.legacy.metric_results import DatasetColumns, DatasetUtilityColumns



def _linf(reference_data, current_data, feature_type, threshold):
    reference_percents, current_percents = get_binned_data(reference_data, current_data, feature_type, 30, False)
    score = float(np.max(np.abs(reference_percents - current_percents)))
    return score, score >= threshold


register_stattest(
    StatTest(
        name="linf",
        display_name="L-infinity distance (esteira)",
        allowed_feature_types=[ColumnType.Numerical, ColumnType.Categorical],
        default_threshold=0.1,
    ),
    _linf,
)


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


def case(name, kind, reference, current, method=None, threshold=None, integer=False, domain=None):
    """One column; `domain`: the categories of a pandas categorical dtype (the column's
    domain, which may hold categories absent from both samples)."""
    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    dtype = "int64" if integer else (float if kind == "numeric" else object)
    if domain is not None:
        dtype = pd.CategoricalDtype(domain)
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
    }
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
    if used == "cramer_von_mises" and max(len(clean_ref), len(clean_cur)) <= 20:
        result["scipy_score"] = float(cramervonmises_2samp(clean_ref.to_numpy(), clean_cur.to_numpy()).pvalue)
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

    # linf (ours, registered above) on the binning of jensenshannon.
    for name, kind, ref, cur, integer in [
        ("numeric_large", "numeric", big_ref, big_cur, False),
        ("numeric_heavy_tail", "numeric", heavy_ref, heavy_cur, False),
        ("numeric_few_values_new_value", "numeric", few_ref, few_cur, False),
        ("numeric_small", "numeric", small_ref, small_cur, False),
        ("numeric_nulls", "numeric", dirty_ref, dirty_cur, False),
        ("numeric_identical", "numeric", same, same, False),
        ("numeric_constant_both", "numeric", [1.0] * 50, [1.0] * 30, False),
        ("integer", "numeric", int_ref, int_cur, True),
        ("categorical_shift_new", "categorical", cat_ref, cat_cur, False),
        ("categorical_missing_category", "categorical", cat_ref, cat_missing_cur, False),
        ("categorical_no_drift", "categorical", tiny_ref, tiny_cur, False),
        ("categorical_nulls", "categorical", null_ref, null_cur, False),
    ]:
        cases.append(case(f"{name}_linf", kind, ref, cur, "linf", integer=integer))
    cases.append(case("numeric_large_linf_threshold_0_05", "numeric", big_ref, big_cur, "linf", 0.05))

    # The p-value tests asked for explicitly, small and large samples, with nulls and ties.
    tiny_num_ref, tiny_num_cur = normal(rng, 12), normal(rng, 9, 0.8)
    tie_ref = [float(v) for v in rng.integers(0, 10, 300)]
    tie_cur = [float(v) for v in rng.integers(1, 11, 250)]
    far_ref, far_cur = normal(rng, 400), normal(rng, 300, 1.5)
    for method in ["ks", "anderson", "cramer_von_mises"]:
        cases.append(case(f"numeric_small_{method}", "numeric", small_ref, small_cur, method))
        cases.append(case(f"numeric_large_{method}", "numeric", big_ref, big_cur, method))
        cases.append(case(f"numeric_nulls_{method}", "numeric", dirty_ref, dirty_cur, method))
        cases.append(case(f"numeric_tiny_{method}", "numeric", tiny_num_ref, tiny_num_cur, method))
        cases.append(case(f"numeric_ties_{method}", "numeric", tie_ref, tie_cur, method))
        cases.append(case(f"numeric_far_{method}", "numeric", far_ref, far_cur, method))
        cases.append(case(f"numeric_identical_{method}", "numeric", small_ref, small_ref, method, 1.0))
    cases.append(case("integer_ks", "numeric", int_ref, int_cur, "ks", integer=True))
    small_cat_ref = labels(rng, 500, 4) + [None] * 12
    small_cat_cur = labels(rng, 400, 4, [2, 1, 1, 1]) + [None] * 5
    for method in ["chisquare", "TVD"]:
        cases.append(case(f"categorical_small_nulls_{method}", "categorical", small_cat_ref, small_cat_cur, method))
    cases.append(case("categorical_large_nulls_chisquare", "categorical", null_ref, null_cur, "chisquare"))
    cases.append(case("categorical_shift_new_chisquare", "categorical", cat_ref, cat_cur, "chisquare"))
    cases.append(case("categorical_missing_category_chisquare", "categorical", cat_ref, cat_missing_cur, "chisquare"))
    cases.append(case("categorical_no_drift_chisquare", "categorical", tiny_ref, tiny_cur, "chisquare"))
    bin_small_ref = labels(rng, 300, 2, [3, 2], "b") + [None] * 4
    bin_small_cur = labels(rng, 250, 2, [2, 3], "b") + [None] * 9
    bin_large_ref = labels(rng, 3000, 2, [1, 1], "b") + [None] * 30
    bin_large_cur = labels(rng, 2500, 2, [1, 1.05], "b") + [None] * 3
    cases.append(case("categorical_binary_small_nulls_z", "categorical", bin_small_ref, bin_small_cur, "z"))
    cases.append(case("categorical_binary_large_nulls_z", "categorical", bin_large_ref, bin_large_cur, "z"))
    cases.append(case("categorical_binary_small_nulls_default", "categorical", bin_small_ref, bin_small_cur))

    # Z-test with one category present. Both samples hold only "yes" (the column's domain,
    # a pandas categorical dtype, also has "no"): Evidently's z reports p = 1.
    only_yes_ref, only_yes_cur = ["yes"] * 40 + [None] * 3, ["yes"] * 25
    cases.append(case("z_single_category_domain_two", "categorical", only_yes_ref, only_yes_cur, "z", domain=["no", "yes"]))
    cases.append(case("z_single_category_object", "categorical", only_yes_ref, only_yes_cur, "z"))
    cases.append(case("z_single_category_default", "categorical", only_yes_ref, only_yes_cur, domain=["no", "yes"]))
    cases.append(case("z_single_value_numeric_default", "numeric", [1.0] * 30 + [float("nan")], [1.0] * 20))
    cases.append(case("z_single_category_large_default_js", "categorical", ["yes"] * 1200, ["yes"] * 700, domain=["no", "yes"]))
    # One category absent from one sample only: an ordinary two-proportion test.
    cases.append(case("z_category_absent_in_current", "categorical", ["yes"] * 30 + ["no"] * 10, ["yes"] * 25, "z", domain=["no", "yes"]))
    cases.append(case("z_category_absent_in_reference", "categorical", ["no"] * 40, ["no"] * 20 + ["yes"] * 2, "z"))
    cases.append(case("z_disjoint_single_categories", "categorical", ["no"] * 40, ["yes"] * 20, "z"))
    cases.append(case("z_single_value_numeric_new_value_default", "numeric", [1.0] * 30, [1.0] * 20 + [0.0]))
    versions = f"evidently {evidently.__version__}, pandas {pd.__version__}, numpy {np.__version__}"
    samples = {key: values for key, values in SAMPLES.values()}
    json.dump({"generator": versions, "samples": samples, "cases": cases}, sys.stdout)


main()
