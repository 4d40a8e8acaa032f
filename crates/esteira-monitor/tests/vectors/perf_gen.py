"""Reference metrics for tests/performance.rs, computed with pandas.

    .venv/bin/python crates/esteira-monitor/tests/vectors/perf_gen.py

Writes perf.json beside this script:

- `forecast`: a seeded forecast log (one request every few days, forecasting 7 days of 3
  series, answered in the shape the server logs: {"predictions": [{"date", "store", "step",
  "forecast", "lo_95", "lo_80", "hi_80", "hi_95"}]}) and delayed ground truth (some
  missing, some sent twice, some not numbers, some for days never forecast), with the
  expected join counts and the metrics per 7-day window of the target date, per series,
  per horizon step and overall, MASE with per-series scales from a seeded history.
- `tabular`: requests of 1 to 3 rows of a regressor and of a classifier, with ground truth
  sent as lists, as `ID#ROW`, as single values (some mismatched), and the expected metrics
  per day of request time.

The rules implemented here with pandas are the module's documented ones (latest ground
truth per key; the most recent forecast made strictly before the target date).
"""

import json
import pathlib

import numpy as np
import pandas as pd

DAY = 86_400_000
T0 = 1_735_689_600_000  # 2025-01-01T00:00:00Z
rng = np.random.default_rng(6)


def day_str(ms):
    return pd.Timestamp(ms, unit="ms").strftime("%Y-%m-%d")


def metrics(g):
    """The documented metrics of a group of numeric pairs (columns f, y, scale)."""
    e = g["f"] - g["y"]
    nz = g["y"] != 0
    den = g["y"].abs() + g["f"].abs()
    sym = np.where(den == 0, 0.0, 200 * e.abs() / den.where(den != 0, 1))
    scaled = g["scale"].notna()
    out = {
        "count": int(len(g)),
        "mae": float(e.abs().mean()),
        "rmse": float(np.sqrt((e**2).mean())),
        "bias": float(e.mean()),
        "mape": float(100 * (e.abs()[nz] / g["y"].abs()[nz]).mean()) if nz.any() else None,
        "mape_zero_actuals": int((~nz).sum()),
        "smape": float(np.mean(sym)),
        "mase": float((e.abs()[scaled] / g["scale"][scaled]).mean()) if scaled.any() else None,
        "mase_unscaled": int((~scaled).sum()),
    }
    return out


def forecast_case():
    series = ["s1", "s2", "s3"]
    levels = {"s1": 100.0, "s2": 20.0, "s3": 0.5}
    # Requests: every 3 days at 06:00, a few skipped, each forecasting days d+1..d+7.
    days = [d for d in range(0, 60, 3) if d not in (12, 33, 34)]
    records, points = [], []
    for n, d in enumerate(days):
        made = T0 + d * DAY + 6 * 3_600_000
        rows = []
        for s in series:
            for h in range(1, 8):
                target = T0 + (d + h) * DAY
                f = float(np.round(levels[s] + rng.normal(0, levels[s] * 0.1), 6))
                row = {"store": s, "date": day_str(target), "step": h, "forecast": f,
                       "lo_95": f - 2.0, "lo_80": f - 1.0, "hi_80": f + 1.0, "hi_95": f + 2.0}
                if (n, s, h) == (5, "s2", 3):
                    row["forecast"] = None  # a NaN forecast is logged as null
                rows.append(row)
                points.append({"request_id": f"fc-{n}", "made_ms": made, "series": s,
                               "time": day_str(target), "target_ms": target, "step": h,
                               "f": row["forecast"]})
        records.append({"request_id": f"fc-{n}", "time_ms": made, "version": str(1 + n // 10),
                        "outputs": json.dumps({"predictions": rows})})
    # A request made at exactly midnight of its first target day (too late for that day)
    # and a failed request.
    late = T0 + 61 * DAY
    rows = [{"store": "s1", "date": day_str(late), "step": 1, "forecast": 1.0,
             "lo_95": 0.0, "lo_80": 0.5, "hi_80": 1.5, "hi_95": 2.0}]
    records.append({"request_id": "fc-late", "time_ms": late, "version": "9",
                    "outputs": json.dumps({"predictions": rows})})
    points.append({"request_id": "fc-late", "made_ms": late, "series": "s1",
                   "time": day_str(late), "target_ms": late, "step": 1, "f": 1.0})
    records.append({"request_id": "fc-failed", "time_ms": late, "version": "9", "status": 400,
                    "outputs": json.dumps({"error_code": "INVALID_PARAMETER_VALUE"})})

    truth = []
    received = T0 + DAY
    for day in range(1, 66):
        for s in series:
            u = rng.random()
            if u < 0.12:
                continue  # never arrives
            target = T0 + day * DAY
            y = float(np.round(levels[s] + rng.normal(0, levels[s] * 0.15), 6))
            if u < 0.16:
                y = 0.0
            value = "n/a" if u > 0.97 else y
            received = target + int(rng.integers(1, 5)) * DAY
            truth.append({"series": s, "time": day_str(target), "value": value,
                          "received_ms": received})
            if 0.50 < u < 0.58:  # corrected later: the later value counts
                truth.append({"series": s, "time": day_str(target),
                              "value": float(np.round(y + 1.0, 6)),
                              "received_ms": received + DAY})
            if 0.58 < u < 0.60:  # a number replaced by text: not comparable
                truth.append({"series": s, "time": day_str(target), "value": "unknown",
                              "received_ms": received + 2 * DAY})
    truth.append({"series": "s9", "time": "2025-01-05", "value": 3.0, "received_ms": received})

    history = {s: [float(np.round(levels[s] + rng.normal(0, levels[s] * 0.2), 6)) for _ in range(56)]
               for s in series[:2]}  # s3 has no scale
    # MASE scale: the in-sample MAE of the seasonal naive forecast, m = 7.
    scales = {s: float(np.mean(np.abs(np.asarray(h)[7:] - np.asarray(h)[:-7]))) for s, h in history.items()}

    t = pd.DataFrame(truth)
    t["order"] = range(len(t))
    t = t.sort_values(["received_ms", "order"], kind="stable")
    latest = t.groupby(["series", "time"], sort=False).tail(1)
    replaced = len(t) - len(latest)
    p = pd.DataFrame(points)
    m = latest.merge(p, on=["series", "time"], how="left")
    forecast_keys = set(zip(p["series"], p["time"]))
    in_time = m[m["made_ms"] < m["target_ms"]]
    chosen = in_time.sort_values("made_ms").groupby(["series", "time"]).tail(1)
    truth_without_prediction = len(latest) - len(chosen)
    answered = {k for k in zip(latest["series"], latest["time"]) if k in forecast_keys}
    predictions_without_truth = len(forecast_keys) - len(answered)
    numeric = chosen[chosen["value"].map(lambda v: isinstance(v, float)) & chosen["f"].notna()].copy()
    not_comparable = len(chosen) - len(numeric)
    numeric["y"] = numeric["value"].astype(float)
    numeric["f"] = numeric["f"].astype(float)
    numeric["scale"] = numeric["series"].map(scales)
    numeric["window"] = (numeric["target_ms"] // (7 * DAY)) * (7 * DAY)
    numeric["request_window"] = (numeric["made_ms"] // (7 * DAY)) * (7 * DAY)
    expected = {
        "pairs": int(len(chosen)),
        "truth_without_prediction": int(truth_without_prediction),
        "predictions_without_truth": int(predictions_without_truth),
        "replaced_truth": int(replaced),
        "not_comparable": int(not_comparable),
        "unreadable_predictions": 1,
        "overall": metrics(numeric),
        "windows": [{"start_ms": int(k), **metrics(g)} for k, g in numeric.groupby("window")],
        "request_windows": [{"start_ms": int(k), **metrics(g)} for k, g in numeric.groupby("request_window")],
        "series": {k: metrics(g) for k, g in numeric.groupby("series")},
        "horizons": {str(int(k)): metrics(g) for k, g in numeric.groupby("step")},
    }
    return {"records": records, "truth": truth, "history": history, "season": 7,
            "scales": scales, "expected": expected}


def tabular_case():
    records, rows_of = [], {}
    for n in range(40):
        k = int(rng.integers(1, 4))
        made = T0 + int(rng.integers(0, 5 * DAY))
        if n % 2 == 0:
            preds = [float(np.round(rng.normal(10, 3), 6)) for _ in range(k)]
            outputs = {"predictions": preds}
        else:
            preds = [str(rng.choice(["no", "yes"])) for _ in range(k)]
            outputs = {"predictions": [{"prediction": p, "proba_no": 0.5, "proba_yes": 0.5} for p in preds]}
        rid = f"req-{n}"
        rows_of[rid] = (made, preds)
        records.append({"request_id": rid, "time_ms": made, "version": "1", "outputs": json.dumps(outputs)})
    truth, mismatched = [], 0
    for n, (rid, (made, preds)) in enumerate(rows_of.items()):
        received = made + DAY
        numeric = isinstance(preds[0], float)
        actual = [float(np.round(p + rng.normal(0, 2), 6)) if numeric else str(rng.choice(["no", "yes"]))
                  for p in preds]
        if n % 2 == 1 and n % 3 == 0:
            actual = [1 if a == "yes" else 0 for a in actual]  # labels sent as numbers: "1"/"0"
        form = n % 5
        if form == 4 and len(preds) > 1:
            truth.append({"request_id": rid, "value": actual[0], "received_ms": received})
            mismatched += 1
            continue
        if form in (0, 1) or len(preds) == 1:
            value = actual if len(preds) > 1 else actual[0]
            truth.append({"request_id": rid, "value": value, "received_ms": received})
        else:
            for i, a in enumerate(actual):
                if form == 3 and i == 0:
                    continue  # row 0 never arrives
                truth.append({"request_id": f"{rid}#{i}", "value": a, "received_ms": received})
    truth.append({"request_id": "req-0", "value": [1.0, 2.0, 3.0, 4.0, 5.0], "received_ms": T0 + 9 * DAY})
    mismatched += 1
    truth.append({"request_id": "req-404", "value": 1.0, "received_ms": T0 + 9 * DAY})

    rows = []
    for g in truth:
        rid = g["request_id"]
        if rid in rows_of:
            made, preds = rows_of[rid]
            value = g["value"]
            if isinstance(value, list):
                if len(value) != len(preds):
                    continue
                rows += [(rid, i, made, preds[i], v, g["received_ms"]) for i, v in enumerate(value)]
            elif len(preds) == 1:
                rows.append((rid, 0, made, preds[0], value, g["received_ms"]))
        elif "#" in rid:
            base, i = rid.rsplit("#", 1)
            made, preds = rows_of[base]
            rows.append((base, int(i), made, preds[int(i)], g["value"], g["received_ms"]))
    df = pd.DataFrame(rows, columns=["rid", "row", "made", "f", "value", "received"])
    df = df.groupby(["rid", "row"]).tail(1)
    num = df[df["f"].map(lambda v: isinstance(v, float))].copy()
    num["y"] = num["value"].astype(float)
    num["f"] = num["f"].astype(float)
    num["scale"] = np.nan
    lab = df[df["f"].map(lambda v: isinstance(v, str))].copy()
    lab["y"] = lab["value"].map(str)
    num["window"] = (num["made"] // DAY) * DAY
    lab["window"] = (lab["made"] // DAY) * DAY
    total_rows = sum(len(p) for _, p in rows_of.values())
    windows = []
    for w in sorted(set(num["window"]) | set(lab["window"])):
        g, h = num[num["window"] == w], lab[lab["window"] == w]
        entry = {"start_ms": int(w), "label_count": int(len(h)),
                 "accuracy": float((h["f"] == h["y"]).mean()) if len(h) else None}
        if len(g):
            entry.update(metrics(g))
        else:
            entry["count"] = 0
        windows.append(entry)
    expected = {
        "pairs": int(len(df)),
        "truth_without_prediction": 1,
        "predictions_without_truth": int(total_rows - len(df)),
        "mismatched_truth": mismatched,
        "label_count": int(len(lab)),
        "accuracy": float((lab["f"] == lab["y"]).mean()),
        "overall": metrics(num),
        "windows": windows,
    }
    return {"records": records, "truth": truth, "expected": expected}


def main():
    out = {"pandas": pd.__version__, "forecast": forecast_case(), "tabular": tabular_case()}
    path = pathlib.Path(__file__).with_name("perf.json")
    path.write_text(json.dumps(out) + "\n")
    e = out["forecast"]["expected"]
    print({k: v for k, v in e.items() if not isinstance(v, (dict, list))})
    print(e["overall"])
    e = out["tabular"]["expected"]
    print({k: v for k, v in e.items() if not isinstance(v, (dict, list))})


if __name__ == "__main__":
    main()
