"""Scenario (a): the real mlflow.MlflowClient against one tracking server, one thread.
N runs, each: create_run + one log_batch (10 params, 5 keys x 100 steps = 500 metric points) +
set_terminated. Then create_model_version and get_metric_history (100 points), each timed over
--calls calls. Server CPU (whole tree, from /proc) is read around each phase. Prints one JSON object.

Usage: python client_bench.py --uri http://127.0.0.1:PORT [--runs 200] [--calls 20] [--server-pid PID]
"""
import argparse
import collections
import json
import os
import random
import statistics
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # loopback traffic only
os.environ.setdefault("DO_NOT_TRACK", "true")

import requests  # noqa: E402
from mlflow.entities import Metric, Param  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

from proctree import tree_cpu_s  # noqa: E402

KEYS = ["rmse", "mae", "r2", "loss", "accuracy"]
STEPS = 100

# Count the REST endpoints the client hits (to know what a server must implement).
endpoints = collections.Counter()
_request = requests.Session.request


def _counting_request(self, method, url, *args, **kwargs):
    endpoints[f"{method} {url.split('/api/', 1)[-1].split('?')[0]}"] += 1
    return _request(self, method, url, *args, **kwargs)


requests.Session.request = _counting_request


def timed_calls(fn, n):
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--uri", required=True)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--server-pid", type=int, default=0)
    args = ap.parse_args()
    cpu = (lambda: tree_cpu_s(args.server_pid)) if args.server_pid else (lambda: 0.0)
    client = MlflowClient(tracking_uri=args.uri)
    rng = random.Random(7)
    r = {"runs": args.runs, "calls": args.calls, "points_per_run": len(KEYS) * STEPS}

    exp_id = client.create_experiment(f"bench-client-{int(time.time())}")
    run_ids, per_run = [], []
    c0, t_all = cpu(), time.perf_counter()
    for i in range(args.runs):
        t0 = time.perf_counter()
        run_id = client.create_run(exp_id, run_name=f"run-{i}").info.run_id
        ts = int(time.time() * 1000)
        metrics = [Metric(k, rng.random(), ts + s, s) for s in range(STEPS) for k in KEYS]
        params = [Param(f"p{j}", str(rng.randint(0, 9))) for j in range(10)]
        client.log_batch(run_id, metrics=metrics, params=params)
        client.set_terminated(run_id)
        per_run.append((time.perf_counter() - t0) * 1e3)
        run_ids.append(run_id)
    r["total_s"] = time.perf_counter() - t_all
    r["ms_per_run"] = r["total_s"] * 1e3 / args.runs
    r["ms_per_run_p50"] = statistics.median(per_run)
    r["points_per_s"] = args.runs * r["points_per_run"] / r["total_s"]
    c1 = cpu()
    r["cpu_s_runs"] = c1 - c0
    r["cpu_ms_per_run"] = (c1 - c0) * 1e3 / args.runs

    name = f"bench-model-{exp_id}"
    client.create_registered_model(name)
    c1 = cpu()
    lat = timed_calls(lambda i: client.create_model_version(
        name, source=f"runs:/{run_ids[i % len(run_ids)]}/model", run_id=run_ids[i % len(run_ids)]), args.calls)
    c2 = cpu()
    r["create_model_version_ms"], r["create_model_version_p50_ms"] = statistics.mean(lat), statistics.median(lat)
    r["cpu_ms_per_create_model_version"] = (c2 - c1) * 1e3 / args.calls

    lengths = []
    lat = timed_calls(lambda i: lengths.append(len(client.get_metric_history(run_ids[i % len(run_ids)], "rmse"))),
                      args.calls)
    c3 = cpu()
    if set(lengths) != {STEPS}:
        raise SystemExit(f"get_metric_history returned {sorted(set(lengths))} points, expected {STEPS}")
    r["get_metric_history_ms"], r["get_metric_history_p50_ms"] = statistics.mean(lat), statistics.median(lat)
    r["cpu_ms_per_get_metric_history"] = (c3 - c2) * 1e3 / args.calls
    r["cpu_s_total"] = c3 - c0
    r["endpoints"] = dict(sorted(endpoints.items()))
    print(json.dumps(r))


if __name__ == "__main__":
    main()
