"""Peer side of bench/tabular.sh: generates the benchmark data and times scikit-learn on it.

Writes into OUT_DIR (default bench/out/tabular):
  meta.json                        sizes and the seed
  <task>_{X_train,X_test}.f64      features, float64 little-endian, column-major (one column after another)
  <task>_{y_train,y_test}.f64      targets (regression values; class codes 0..k-1 for classification)
  sklearn.json                     scikit-learn's fit/predict seconds (wall; fit also CPU seconds of all
                                   threads, time.process_time) and holdout metrics per task
Tasks: regression (HistGradientBoostingRegressor), binary and multiclass (HistGradientBoostingClassifier),
all with early_stopping=False (Esteira's gbdt has no early stopping) and every other parameter at its default.
Features: standard normal with 5% NaN in the first three columns (missing values exercised).
Random forests (RandomForestRegressor/Classifier(n_jobs=-1, random_state=0), defaults otherwise) run on
the first BENCH_RF_ROWS training rows of the regression and binary tasks (0 = skip).

  .venv/bin/python bench/tabular_peer.py [OUT_DIR]      # env: BENCH_ROWS (200000) BENCH_TEST_ROWS (50000)
                                                        #      BENCH_FEATURES (20) BENCH_TASKS (regression,binary,multiclass)
                                                        #      BENCH_RF_ROWS (20000)
"""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import sklearn
from sklearn.ensemble import (HistGradientBoostingClassifier, HistGradientBoostingRegressor,
                              RandomForestClassifier, RandomForestRegressor)
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score

out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "out" / "tabular")
out.mkdir(parents=True, exist_ok=True)
n_train = int(os.environ.get("BENCH_ROWS", 200_000))
n_test = int(os.environ.get("BENCH_TEST_ROWS", 50_000))
p = int(os.environ.get("BENCH_FEATURES", 20))
tasks = os.environ.get("BENCH_TASKS", "regression,binary,multiclass").split(",")
rf_rows = min(int(os.environ.get("BENCH_RF_ROWS", 20_000)), n_train)
seed = 20261126
rng = np.random.default_rng(seed)
n = n_train + n_test

X = rng.normal(size=(n, p))
w = rng.normal(size=p)
signal = (X @ w + 2.0 * np.sin(2.0 * X[:, 0]) + 1.5 * X[:, 1] * X[:, 2] + np.abs(X[:, 3]) * 2.0
          + np.where(X[:, 4] > 0.5, 3.0, 0.0))
for j in range(min(3, p)):
    X[rng.random(n) < 0.05, j] = np.nan
signal = (signal - signal.mean()) / signal.std()
targets = {
    "regression": signal + rng.normal(scale=0.5, size=n),
    "binary": (signal + rng.logistic(scale=0.5, size=n) > 0.0).astype(float),
    "multiclass": np.digitize(signal + rng.normal(scale=0.5, size=n), [-0.5, 0.5]).astype(float),
}


def save(name, a):
    np.ascontiguousarray(a.T if a.ndim == 2 else a, dtype="<f8").tofile(out / f"{name}.f64")


results = {"sklearn": sklearn.__version__, "threads": os.cpu_count(), "tasks": {}}
for task in tasks:
    y = targets[task]
    Xtr, Xte, ytr, yte = X[:n_train], X[n_train:], y[:n_train], y[n_train:]
    save(f"{task}_X_train", Xtr)
    save(f"{task}_X_test", Xte)
    save(f"{task}_y_train", ytr)
    save(f"{task}_y_test", yte)
    if task == "regression":
        model = HistGradientBoostingRegressor(early_stopping=False)
    else:
        model = HistGradientBoostingClassifier(early_stopping=False)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(Xtr, ytr)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    if task == "regression":
        pred = model.predict(Xte)
        predict_s = time.perf_counter() - t0
        metrics = {"rmse": float(np.sqrt(mean_squared_error(yte, pred))), "r2": float(r2_score(yte, pred))}
    else:
        proba = model.predict_proba(Xte)
        predict_s = time.perf_counter() - t0
        labels = model.classes_[np.argmax(proba, axis=1)]
        metrics = {"accuracy": float(accuracy_score(yte, labels)), "log_loss": float(log_loss(yte, proba))}
    results["tasks"][task] = {"fit_s": fit_s, "fit_cpu_s": fit_cpu, "predict_s": predict_s, **metrics}
    print(f"sklearn {task}: fit {fit_s:.2f}s (cpu {fit_cpu:.2f}s) predict {predict_s:.2f}s {metrics}", file=sys.stderr)

results["rf"] = {}
for task in [t for t in ("regression", "binary") if t in tasks and rf_rows > 0]:
    y = targets[task]
    Xtr, Xte, ytr, yte = X[:rf_rows], X[n_train:], y[:rf_rows], y[n_train:]
    model = (RandomForestRegressor if task == "regression" else RandomForestClassifier)(n_jobs=-1, random_state=0)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(Xtr, ytr)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    if task == "regression":
        pred = model.predict(Xte)
        metrics = {"rmse": float(np.sqrt(mean_squared_error(yte, pred))), "r2": float(r2_score(yte, pred))}
    else:
        proba = model.predict_proba(Xte)
        labels = model.classes_[np.argmax(proba, axis=1)]
        metrics = {"accuracy": float(accuracy_score(yte, labels)), "log_loss": float(log_loss(yte, np.clip(proba, 1e-15, 1)))}
    predict_s = time.perf_counter() - t0
    results["rf"][task] = {"fit_s": fit_s, "fit_cpu_s": fit_cpu, "predict_s": predict_s, **metrics}
    print(f"sklearn random forest {task}: fit {fit_s:.2f}s (cpu {fit_cpu:.2f}s) predict {predict_s:.2f}s {metrics}", file=sys.stderr)

(out / "meta.json").write_text(json.dumps({"n_train": n_train, "n_test": n_test, "n_features": p,
                                           "seed": seed, "tasks": tasks, "rf_rows": rf_rows}))
(out / "sklearn.json").write_text(json.dumps(results, indent=1))
