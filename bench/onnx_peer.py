"""Python peer of bench/onnx.sh: times onnxruntime (Python API) and scikit-learn's `predict` on the
GradientBoostingRegressor fixture, on the same rows Esteira uses, and prints the figures as JSON.
onnxruntime is timed twice: with its default intra-op threads and with one.

The scikit-learn model is retrained exactly as `crates/esteira-ml/tests/fixtures/onnx/generate.py`
trains it (same seed and data) and checked against the fixture's expected predictions, so it is the
model that `gbr.onnx` was exported from. The rows are the fixture's 1000 test rows (`inputs.json`),
repeated to fill batches larger than 1000, exactly as the Rust side builds them.

Usage: onnx_peer.py FIXTURE_DIR  (prints one JSON object on stdout)
"""
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import sklearn
from sklearn.ensemble import GradientBoostingRegressor

BATCHES = [1, 100, 1000, 10000]
LATENCY_CALLS = 2000
MIN_SECONDS = 1.0
MIN_REPS = 5
WARMUP = 20


def train_gbr():
    """The fixture's GradientBoostingRegressor (generate.py: same RNG stream up to this model)."""
    rng = np.random.default_rng(20261126)
    n_features = 10

    def f32_round(a):
        return np.round(a, 4).astype(np.float32)

    X_train = f32_round(rng.normal(size=(2000, n_features)))
    f32_round(rng.normal(size=(1000, n_features)))  # the test rows (read from inputs.json instead)
    w = rng.uniform(-3, 3, size=n_features)
    X = X_train.astype(np.float64)
    y = 50.0 + X @ w + 2.0 * np.sin(X[:, 0] * X[:, 1]) + X[:, 2] ** 2
    y = y + rng.normal(scale=0.5, size=len(X_train))
    return GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(X_train, y)


def throughput(predict, rows):
    for _ in range(3):
        predict(rows)
    reps, start = 0, time.perf_counter()
    while True:
        predict(rows)
        reps += 1
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_SECONDS and reps >= MIN_REPS:
            return reps * len(rows) / elapsed


def latency(predict, row):
    for _ in range(WARMUP):
        predict(row)
    times = []
    for _ in range(LATENCY_CALLS):
        t0 = time.perf_counter()
        predict(row)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"p50_us": statistics.median(times) * 1e6, "p99_us": times[int(0.99 * len(times))] * 1e6}


def measure(predict, base):
    out = latency(predict, base[:1])
    out["rows_per_s"] = {str(b): throughput(predict, np.resize(base, (b, base.shape[1]))) for b in BATCHES}
    return out


def main():
    fixtures = Path(sys.argv[1])
    inputs = json.loads((fixtures / "inputs.json").read_text())
    base = np.array(inputs["rows"], dtype=np.float32)
    expected = np.array(json.loads((fixtures / "gbr.expected.json").read_text())["variable"])

    model = train_gbr()
    np.testing.assert_allclose(model.predict(base.astype(np.float64)), expected, rtol=1e-12, atol=0)
    sess = ort.InferenceSession(str(fixtures / "gbr.onnx"), providers=["CPUExecutionProvider"])
    one = ort.SessionOptions()
    one.intra_op_num_threads = 1
    sess1 = ort.InferenceSession(str(fixtures / "gbr.onnx"), one, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    for s in (sess, sess1):
        np.testing.assert_allclose(s.run(None, {name: base})[0].ravel(), expected, rtol=1e-5, atol=1e-6)

    result = {
        "versions": {"onnxruntime": ort.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__},
        "onnxruntime": measure(lambda x: sess.run(None, {name: x}), base),
        "onnxruntime_1thread": measure(lambda x: sess1.run(None, {name: x}), base),
        # scikit-learn on float64 rows, as MLflow's sklearn flavour hands a DataFrame of doubles.
        "sklearn": measure(lambda x: model.predict(x), base.astype(np.float64)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
