"""Reference change points for tests/detect.rs.

Run with a Python that has river 0.26 and numpy (not the repo's .venv, which has no river):

    python3 -m venv /work/venv-river && /work/venv-river/bin/pip install river numpy
    /work/venv-river/bin/python crates/esteira-monitor/tests/vectors/detect_gen.py

Writes detect.json beside this script: seeded streams, and for each detector configuration
the 0-based positions where river.drift.PageHinkley / river.drift.ADWIN report
`drift_detected`, and where the textbook two-sided CUSUM (transcribed below with numpy,
independently of the Rust code) signals.
"""

import json
import pathlib
import random

import numpy as np
import river
from river import drift


def streams():
    rng = np.random.default_rng(20261126)
    n = 1500
    out = {}
    out["stationary"] = rng.normal(0.0, 1.0, n)
    out["shift_up"] = np.concatenate([rng.normal(0.0, 1.0, 800), rng.normal(1.5, 1.0, n - 800)])
    out["shift_down"] = np.concatenate([rng.normal(5.0, 1.0, 600), rng.normal(4.0, 1.0, n - 600)])
    out["variance_up"] = np.concatenate([rng.normal(0.0, 1.0, 700), rng.normal(0.0, 4.0, n - 700)])
    ramp = np.concatenate([np.zeros(500), np.linspace(0.0, 3.0, n - 500)])
    out["slow_drift"] = ramp + rng.normal(0.0, 1.0, n)
    levels = np.repeat([0.0, 2.0, -1.0, 1.0], [400, 400, 400, n - 1200])
    out["shifts_up_down"] = levels + rng.normal(0.0, 1.0, n)
    # The stream of river's own docstring examples (PageHinkley finds 1006, ADWIN 1023).
    r = random.Random(12345)
    out["river_doc"] = np.array(r.choices([0, 1], k=1000) + r.choices(range(4, 8), k=1000), dtype=float)
    return {k: [float(x) for x in v] for k, v in out.items()}


def river_points(detector_factory, values):
    detector = detector_factory()
    points = []
    for i, x in enumerate(values):
        detector.update(x)
        if detector.drift_detected:
            points.append(i)
    return points


def cusum_points(values, target, sigma, k, h):
    """Montgomery's tabular CUSUM, both sums restarted at 0 after a signal."""
    z = (np.asarray(values) - target) / sigma
    upper = lower = 0.0
    points = []
    for i, zi in enumerate(z):
        upper = max(0.0, upper + zi - k)
        lower = max(0.0, lower - zi - k)
        if upper > h or lower > h:
            points.append(i)
            upper = lower = 0.0
    return points


PAGE_HINKLEY = [
    {},
    {"threshold": 20.0, "delta": 0.05},
    {"threshold": 15.0, "mode": "up"},
    {"threshold": 15.0, "mode": "down", "alpha": 0.999, "min_instances": 50},
]
ADWIN = [
    {},
    {"delta": 0.01, "clock": 1},
    {"delta": 0.1, "clock": 8, "max_buckets": 3, "min_window_length": 10, "grace_period": 40},
    {"clock": 4, "max_buckets": 1, "min_window_length": 1, "grace_period": 0},
]
CUSUM_STREAMS = {
    "stationary": (0.0, 1.0),
    "shift_up": (0.0, 1.0),
    "shift_down": (5.0, 1.0),
    "variance_up": (0.0, 1.0),
    "slow_drift": (0.0, 1.0),
    "shifts_up_down": (0.0, 1.0),
}
CUSUM = [{"k": 0.5, "h": 5.0}, {"k": 0.25, "h": 8.0}]


def main():
    data = streams()
    cases = []
    for name, values in data.items():
        for params in PAGE_HINKLEY:
            points = river_points(lambda: drift.PageHinkley(**params), values)
            cases.append({"detector": "page_hinkley", "params": params, "stream": name, "change_points": points})
        for params in ADWIN:
            points = river_points(lambda: drift.ADWIN(**params), values)
            cases.append({"detector": "adwin", "params": params, "stream": name, "change_points": points})
        if name in CUSUM_STREAMS:
            target, sigma = CUSUM_STREAMS[name]
            for p in CUSUM:
                points = cusum_points(values, target, sigma, p["k"], p["h"])
                params = {"target": target, "sigma": sigma, **p}
                cases.append({"detector": "cusum", "params": params, "stream": name, "change_points": points})
    out = {"river": river.__version__, "streams": data, "cases": cases}
    path = pathlib.Path(__file__).with_name("detect.json")
    path.write_text(json.dumps(out, indent=None) + "\n")
    for c in cases:
        print(c["detector"], c["stream"], c["params"], c["change_points"][:12], len(c["change_points"]))


if __name__ == "__main__":
    main()
