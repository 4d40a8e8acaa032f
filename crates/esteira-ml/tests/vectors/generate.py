"""Generate reference values for crates/esteira-ml/tests/metrics.rs.

Run once with the project venv and commit the output:

    /work/main/.venv/bin/python crates/esteira-ml/tests/vectors/generate.py

Writes metrics.json next to this file. The Rust test only reads the JSON.
Values come from scikit-learn where it has the metric with the same definition,
otherwise from plain numpy following the formula documented in metrics.rs.
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn import metrics as skm

OUT = pathlib.Path(__file__).with_name("metrics.json")

rng = np.random.default_rng(20261126)

# --- regression / forecast vectors -----------------------------------------
reg_sets = {
    "small": ([3.0, -0.5, 2.0, 7.0], [2.5, 0.0, 2.0, 8.0]),
    "random": (
        list(np.round(rng.normal(50, 10, 25), 6)),
        list(np.round(rng.normal(50, 12, 25), 6)),
    ),
    "negative": ([-4.0, -2.5, -1.0, -8.0, -3.0], [-3.5, -3.0, 0.5, -6.0, -3.0]),
}

regression = []
for name, (y, f) in reg_sets.items():
    ya, fa = np.asarray(y), np.asarray(f)
    e = {
        "name": name,
        "actual": [float(v) for v in y],
        "forecast": [float(v) for v in f],
        "mae": float(skm.mean_absolute_error(ya, fa)),
        "rmse": float(skm.root_mean_squared_error(ya, fa)),
        # sklearn returns a fraction; Esteira reports percent.
        "mape": float(100.0 * skm.mean_absolute_percentage_error(ya, fa)),
        "smape": float(np.mean(np.where(np.abs(ya) + np.abs(fa) == 0, 0.0,
                                        200.0 * np.abs(ya - fa) / np.where(np.abs(ya) + np.abs(fa) == 0, 1.0, np.abs(ya) + np.abs(fa))))),
        "wape": float(np.sum(np.abs(ya - fa)) / np.sum(np.abs(ya))),
        "bias": float(np.mean(fa - ya)),
        "r2": float(skm.r2_score(ya, fa)),
    }
    for q in (0.1, 0.5, 0.9):
        e[f"pinball_{q}"] = float(skm.mean_pinball_loss(ya, fa, alpha=q))
    regression.append(e)

# smape with a 0/0 step (counts 0) -----------------------------------------
smape_zero = {"actual": [0.0, 1.0, 2.0], "forecast": [0.0, 2.0, 2.0]}
smape_zero["expected"] = float((0.0 + 200.0 * 1.0 / 3.0 + 0.0) / 3.0)

# --- MASE ------------------------------------------------------------------
insample = [float(v) for v in np.round(rng.normal(100, 15, 30), 6)]
actual = [float(v) for v in np.round(rng.normal(100, 15, 6), 6)]
forecast = [float(v) for v in np.round(rng.normal(100, 15, 6), 6)]
mase_cases = []
for m in (1, 4, 7):
    x = np.asarray(insample)
    scale = float(np.mean(np.abs(x[m:] - x[:-m])))
    mae = float(skm.mean_absolute_error(actual, forecast))
    mase_cases.append({"m": m, "scale": scale, "mase": mae / scale})
mase = {"insample": insample, "actual": actual, "forecast": forecast, "cases": mase_cases}

# --- interval coverage -------------------------------------------------------
cov_y = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
cov_lo = [0.5, 2.0, 3.5, 3.0, 5.0, 6.5, 0.0]
cov_hi = [1.5, 2.5, 4.0, 4.0, 5.0, 8.0, 6.9]
cy, cl, ch = map(np.asarray, (cov_y, cov_lo, cov_hi))
coverage = {"actual": cov_y, "lower": cov_lo, "upper": cov_hi,
            "expected": float(np.mean((cy >= cl) & (cy <= ch)))}

# --- classification ----------------------------------------------------------
cls_true = [0, 1, 2, 2, 1, 0, 3, 3, 3, 1, 2, 0, 1, 1, 3]
cls_pred = [0, 2, 2, 1, 1, 0, 3, 1, 3, 1, 0, 0, 1, 2, 2]
classification = {"y_true": cls_true, "y_pred": cls_pred,
                  "accuracy": float(skm.accuracy_score(cls_true, cls_pred))}
for avg in ("macro", "micro", "weighted"):
    classification[f"precision_{avg}"] = float(skm.precision_score(cls_true, cls_pred, average=avg, zero_division=0))
    classification[f"recall_{avg}"] = float(skm.recall_score(cls_true, cls_pred, average=avg, zero_division=0))
    classification[f"f1_{avg}"] = float(skm.f1_score(cls_true, cls_pred, average=avg, zero_division=0))

# label 4 only predicted, never true: macro over the union of labels.
extra_true = [0, 1, 1, 0, 2]
extra_pred = [0, 4, 1, 2, 2]
extra = {"y_true": extra_true, "y_pred": extra_pred}
for avg in ("macro", "micro", "weighted"):
    extra[f"precision_{avg}"] = float(skm.precision_score(extra_true, extra_pred, average=avg, zero_division=0))
    extra[f"recall_{avg}"] = float(skm.recall_score(extra_true, extra_pred, average=avg, zero_division=0))
    extra[f"f1_{avg}"] = float(skm.f1_score(extra_true, extra_pred, average=avg, zero_division=0))

bin_true = [1, 0, 1, 1, 0, 0, 1, 0, 1, 1]
bin_pred = [1, 0, 0, 1, 1, 0, 1, 0, 0, 1]
binary = {"y_true": bin_true, "y_pred": bin_pred}
for pos in (0, 1):
    binary[f"precision_pos{pos}"] = float(skm.precision_score(bin_true, bin_pred, pos_label=pos))
    binary[f"recall_pos{pos}"] = float(skm.recall_score(bin_true, bin_pred, pos_label=pos))
    binary[f"f1_pos{pos}"] = float(skm.f1_score(bin_true, bin_pred, pos_label=pos))

# --- ROC AUC ---------------------------------------------------------------
roc_cases = []
roc_inputs = {
    "distinct": ([True, False, True, True, False, False, True, False],
                 [0.9, 0.1, 0.8, 0.35, 0.4, 0.2, 0.7, 0.6]),
    "ties": ([True, False, True, False, True, False, False, True, True, False],
             [0.5, 0.5, 0.7, 0.7, 0.2, 0.2, 0.9, 0.5, 0.1, 0.1]),
    "all_tied": ([True, False, False, True], [0.3, 0.3, 0.3, 0.3]),
    "random": ([bool(v) for v in rng.integers(0, 2, 40)],
               [float(v) for v in np.round(rng.random(40), 2)]),
    "perfect_inverse": ([True, True, False, False], [0.1, 0.2, 0.8, 0.9]),
}
for name, (yt, s) in roc_inputs.items():
    roc_cases.append({"name": name, "y_true": yt, "scores": s,
                      "expected": float(skm.roc_auc_score(yt, s))})

# --- log loss ----------------------------------------------------------------
ll_cases = []
ll_inputs = {
    "plain": ([True, False, True, True, False], [0.9, 0.2, 0.6, 0.75, 0.4]),
    # exact 0 and 1 probabilities: clipped to [eps, 1-eps] with eps = float64 eps
    "clipped": ([True, False, True, False], [1.0, 0.0, 0.0, 1.0]),
    "one_class": ([True, True, True], [0.8, 0.99, 0.5]),
}
for name, (yt, p) in ll_inputs.items():
    ll_cases.append({"name": name, "y_true": yt, "p": p,
                     "expected": float(skm.log_loss(yt, p, labels=[False, True]))})

mc_true = [0, 2, 1, 2, 0, 1]
mc_proba = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3],
            [0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
mc_proba2 = [[0.2, 0.3, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 1.0]]
mc_true2 = [1, 3, 0]  # last row: true class has probability 0 -> clipped
multiclass_log_loss = [
    {"y_true": mc_true, "proba": mc_proba,
     "expected": float(skm.log_loss(mc_true, mc_proba, labels=[0, 1, 2]))},
    {"y_true": mc_true2, "proba": mc_proba2,
     "expected": float(skm.log_loss(mc_true2, mc_proba2, labels=[0, 1, 2, 3]))},
]

out = {
    "generator": {"sklearn": sklearn.__version__, "numpy": np.__version__},
    "regression": regression,
    "smape_zero": smape_zero,
    "mase": mase,
    "coverage": coverage,
    "classification": classification,
    "classification_extra_label": extra,
    "binary": binary,
    "roc_auc": roc_cases,
    "log_loss": ll_cases,
    "multiclass_log_loss": multiclass_log_loss,
}
OUT.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {OUT}")
