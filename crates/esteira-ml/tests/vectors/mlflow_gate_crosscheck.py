"""Replay the promotion-gate cases of tests/metrics.rs through MLflow's own _validate.

Run: /work/main/.venv/bin/python crates/esteira-ml/tests/vectors/mlflow_gate_crosscheck.py
Prints the number of cases whose pass/fail differs from the expectation (should be 0).
"""
from mlflow.models.evaluation.validation import MetricThreshold, _validate
from mlflow.exceptions import MlflowException
cases = [
 # (kwargs, cand, base, expected_pass)
 (dict(threshold=0.8, greater_is_better=True), 0.8, None, True),
 (dict(threshold=0.8, greater_is_better=True), 0.79, None, False),
 (dict(threshold=10.0, greater_is_better=False), 10.0, None, True),
 (dict(threshold=10.0, greater_is_better=False), 10.5, None, False),
 (dict(min_absolute_change=0.05, greater_is_better=True), 0.75, 0.70, True),
 (dict(min_absolute_change=0.05, greater_is_better=True), 0.5, 0.25, True),
 (dict(min_absolute_change=0.05, greater_is_better=True), 0.74, 0.70, False),
 (dict(min_absolute_change=2.0, greater_is_better=False), 8.0, 10.0, True),
 (dict(min_absolute_change=2.0, greater_is_better=False), 8.5, 10.0, False),
 (dict(min_relative_change=0.1, greater_is_better=True), 0.5, 0.25, True),
 (dict(min_relative_change=0.1, greater_is_better=True), 0.26, 0.25, False),
 (dict(min_relative_change=0.1, greater_is_better=True), -0.4, -0.5, True),
 (dict(min_relative_change=0.1, greater_is_better=True), -0.6, -0.5, False),
 (dict(min_relative_change=0.25, greater_is_better=False), 6.0, 8.0, True),
 (dict(min_relative_change=0.25, greater_is_better=False), 7.0, 8.0, False),
 (dict(min_relative_change=0.25, greater_is_better=False), -10.0, -8.0, True),
 (dict(min_relative_change=0.0, greater_is_better=True), 0.5, 0.5, True),
 (dict(min_relative_change=0.0, greater_is_better=True), 0.49, 0.5, False),
 (dict(min_relative_change=0.5, greater_is_better=True), 0.0, 0.0, False),
 (dict(min_relative_change=0.5, greater_is_better=True), 5e-11, 0.0, False),
 (dict(min_relative_change=0.5, greater_is_better=True), 1e-10, 0.0, True),
 (dict(min_relative_change=0.5, greater_is_better=True), 0.001, 0.0, True),
 (dict(min_relative_change=0.5, greater_is_better=False), -1e-10, 0.0, True),
 (dict(min_relative_change=0.5, greater_is_better=False), 0.0, 0.0, False),
 (dict(threshold=0.5, min_relative_change=0.1, greater_is_better=True), 0.9, None, False),
]
bad = 0
for kw, c, b, exp in cases:
    base = {} if b is None else ({"x": 0.1} if b == "other" else {"m": b})
    try:
        _validate({"m": MetricThreshold(**kw)}, {"m": c}, base); ok = True
    except MlflowException as e:
        ok = False
    if ok != exp:
        bad += 1; print("MISMATCH", kw, c, b, ok, exp)
print("checked", len(cases), "mismatches", bad)
