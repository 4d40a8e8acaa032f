"""Benchmark harness: MLflow's tracking server (SQLite; default workers and --workers 1) beside
Esteira's (SQLite), same machine, same clients, one run. Started by bench/run.sh, configured by
environment variables (see bench/README.md). Prints tables with ratios, writes bench/out/*.json."""
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

import proctree
import report
import wrk
from rest import Rest, create_experiment, seed_tracking
from servers import ROOT, Server, server_specs

# Loopback only: no MLflow telemetry from the client or the servers (inherited by every child).
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable


def env_int(name, default):
    return int(os.environ.get(name) or default)


CFG = {
    "seconds": env_int("BENCH_SECONDS", 10),
    "runs": env_int("BENCH_RUNS", 200),
    "calls": env_int("BENCH_CALLS", 20),
    "concurrency": [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,32").split(",")],
    "wrk_timeout_s": env_int("BENCH_WRK_TIMEOUT", 5),
    "search_runs": env_int("BENCH_SEARCH_RUNS", 200),
    "scale_runs": env_int("BENCH_SCALE_RUNS", 100000),
    "scale_conns": env_int("BENCH_SCALE_CONNS", 16),
    "scale_bound_s": env_int("BENCH_SCALE_TIMEOUT", 1800),
    "search_calls": env_int("BENCH_SEARCH_CALLS", 50),
    "only": [s.strip() for s in os.environ.get("BENCH_ONLY", "a,b,c,d").split(",") if s.strip()],
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- scenarios
def scenario_a(srv):
    """The real MlflowClient: N runs (create + log_batch 500 points & 10 params + terminate), then
    create_model_version and get_metric_history latencies."""
    cmd = [PYTHON, os.path.join(HERE, "client_bench.py"), "--uri", srv.url, "--runs", str(CFG["runs"]),
           "--calls", str(CFG["calls"]), "--server-pid", str(srv.pid)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=HERE)
    if out.returncode != 0:
        raise RuntimeError(f"client_bench failed: {out.stderr[-1500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def b_endpoints(srv, seed):
    """(name, lua script, url, extra env) of each wrk endpoint of scenario (b)."""
    search_body = json.dumps({"experiment_ids": [seed["search_experiment_id"]], "filter": "metrics.rmse < 0.5",
                              "max_results": 100})
    api = srv.url + "/api/2.0/mlflow"
    return [
        ("log-batch", "log_batch.lua", srv.url, {"BENCH_RUN_IDS": ",".join(seed["pool_run_ids"])}),
        ("runs/search", "search.lua", api + "/runs/search", {"BENCH_BODY": search_body}),
        ("metrics/get-history", "get.lua",
         f"{api}/metrics/get-history?run_id={seed['history_run_id']}&metric_key=loss", {}),
        ("experiments/create", "create_experiment.lua", srv.url, {}),
    ]


def check_seed(rest, seed):
    """The data the wrk loops hit answers as expected (else the figures would mean nothing)."""
    got = rest.post("/runs/search", {"experiment_ids": [seed["search_experiment_id"]],
                                     "filter": "metrics.rmse < 0.5", "max_results": 100})
    want = min(100, seed["expected_matches"])
    if len(got.get("runs", [])) != want:
        raise RuntimeError(f"runs/search returned {len(got.get('runs', []))} runs, expected {want}")
    hist = rest.get("/metrics/get-history", run_id=seed["history_run_id"], metric_key="loss")
    if len(hist.get("metrics", [])) != 100:
        raise RuntimeError(f"get-history returned {len(hist.get('metrics', []))} points, expected 100")


def probe(rest, seed, limit_s=180):
    """Seconds until a small runs/search answers (retried until limit_s)."""
    t0 = time.monotonic()
    while True:
        try:
            rest.post("/runs/search", {"experiment_ids": [seed["search_experiment_id"]], "max_results": 1})
            return time.monotonic() - t0
        except Exception:
            if time.monotonic() - t0 > limit_s:
                raise RuntimeError(f"the server did not answer runs/search for {limit_s} s")
            time.sleep(0.5)


def scenario_b(srv):
    rest = Rest(srv.url)
    t0 = time.monotonic()
    seed = seed_tracking(rest, n_search_runs=CFG["search_runs"])
    check_seed(rest, seed)
    out = {"seed_s": time.monotonic() - t0, "search_matches": seed["expected_matches"]}
    proctree.wait_quiet(srv.pid)
    for name, script, url, env in b_endpoints(srv, seed):
        for c in CFG["concurrency"]:
            tag = f"{srv.key}-b-{name.replace('/', '_')}-c{c}"
            env = dict(env, BENCH_NAME_PREFIX=f"wrk-c{c}-{time.time_ns()}")
            cpu0 = proctree.tree_cpu_s(srv.pid)
            r = wrk.run(script, url, c, CFG["seconds"], env, os.path.join(LOGS, f"wrk-{tag}.txt"),
                        CFG["wrk_timeout_s"])
            r["answers_again_after_s"] = probe(rest, seed)
            r["stalled"] = r["answers_again_after_s"] > CFG["wrk_timeout_s"]  # not just draining a backlog
            proctree.wait_quiet(srv.pid)  # the backlog a c=32 run leaves is charged to it
            r["server_cpu_s"] = proctree.tree_cpu_s(srv.pid) - cpu0
            r["cpu_ms_per_req"] = r["server_cpu_s"] * 1e3 / max(r["requests"], 1)
            out[f"{name} c={c}"] = r
            log(f"  {srv.label} {name} c={c}: {r['req_per_s']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
                f"p99 {r['p99_ms']:.1f} ms, errors {r['errors']}")
    return out


def scenario_d(srv):
    rest = Rest(srv.url)
    n = CFG["scale_runs"]
    exp_id = create_experiment(rest, "bench-scale")
    cpu0 = proctree.tree_cpu_s(srv.pid)
    fill = wrk.fill(srv.url, exp_id, n, CFG["scale_conns"], CFG["scale_bound_s"], CFG["wrk_timeout_s"],
                    os.path.join(LOGS, f"wrk-{srv.key}-d-populate.txt"), note=log)
    proctree.wait_quiet(srv.pid)
    cpu1 = proctree.tree_cpu_s(srv.pid)
    logged = fill["counters"].get("runs_logged", 0)
    out = {"runs_requested": n, "runs_logged": logged, "runs_created": fill["counters"].get("runs_created", 0),
           "fill_s": fill["wall_s"], "fill_runs_per_s": logged / fill["wall_s"],
           "fill_requests_per_s": fill["requests"] / fill["wall_s"],
           "fill_metric_points_per_s": logged * 10 / fill["wall_s"], "fill_errors": fill["errors"],
           "fill_statuses": fill["statuses"], "fill_cpu_ms_per_run": (cpu1 - cpu0) * 1e3 / max(logged, 1),
           "fill_p50_ms": fill["p50_ms"], "fill_p99_ms": fill["p99_ms"]}
    log(f"  {srv.label}: {logged} runs in {fill['wall_s']:.1f} s ({out['fill_runs_per_s']:.0f} runs/s), "
        f"errors {fill['errors']}")

    body = {"experiment_ids": [exp_id], "filter": "metrics.m0 < 0.5 and params.p0 = 'x'",
            "max_results": 100, "order_by": ["metrics.m1 DESC"]}
    out["search"] = body
    t0 = time.perf_counter()
    first = rest.post("/runs/search", body)  # warm-up, not counted
    out["search_first_ms"] = (time.perf_counter() - t0) * 1e3
    out["search_check"] = check_scale_result(first, want=min(100, logged // 16))
    lat = []
    cpu0 = proctree.tree_cpu_s(srv.pid)
    for _ in range(CFG["search_calls"]):
        t0 = time.perf_counter()
        rest.post("/runs/search", body)
        lat.append((time.perf_counter() - t0) * 1e3)
    cpu1 = proctree.tree_cpu_s(srv.pid)
    lat.sort()
    out.update(search_calls=len(lat), search_p50_ms=lat[len(lat) // 2],
               search_p99_ms=lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))],
               search_mean_ms=sum(lat) / len(lat), search_cpu_ms_per_call=(cpu1 - cpu0) * 1e3 / len(lat),
               search_results=len(first.get("runs", [])))
    return out


def check_scale_result(res, want):
    """Every run returned matches the filter and the order is by metrics.m1 descending."""
    runs = res.get("runs", [])
    problems = []
    if len(runs) < want:
        problems.append(f"{len(runs)} runs returned, expected about 100")
    m1 = []
    for run in runs:
        metrics = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
        params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
        if not (metrics.get("m0", 1) < 0.5 and params.get("p0") == "x"):
            problems.append(f"run {run['info']['run_id']} does not match the filter")
            break
        m1.append(metrics.get("m1"))
    if m1 != sorted(m1, reverse=True):
        problems.append("not ordered by metrics.m1 DESC")
    return "ok" if not problems else "; ".join(problems)


def scenario_idle(srv):
    return {}


# ---------------------------------------------------------------- driver
def with_server(key, label, template, scen, fn, results):
    """Fresh data dir + server for one scenario; runs fn(server); records memory & CPU figures."""
    srv = Server(key, label, template, os.path.join(WORK, f"{key}-{scen}"), os.path.join(LOGS, f"{key}-{scen}.log"))
    log(f"[{scen}] {label}: starting on {srv.url}")
    mem = {}
    try:
        srv.start()
        log(f"[{scen}] {label}: ready after {srv.startup_s:.1f} s, {srv.idle_rss_kib / 1024:.0f} MiB RSS idle, "
            f"{srv.idle_procs} processes")
        cpu0 = proctree.tree_cpu_s(srv.pid)
        t0 = time.monotonic()
        out = fn(srv)
        out["scenario_s"] = time.monotonic() - t0
        out["server_cpu_s"] = proctree.tree_cpu_s(srv.pid) - cpu0
        mem = {"startup_s": srv.startup_s, "idle_rss_mib": srv.idle_rss_kib / 1024, "processes": srv.idle_procs,
               "idle_cpu_pct": srv.idle_cpu_pct,
               "peak_rss_mib": srv.sampler.phase() / 1024, "max_processes": srv.sampler.max_procs,
               "pss_end_mib": proctree.tree_pss_kib(srv.pid) / 1024, "rss_samples": srv.sampler.samples,
               "server_cpu_s": out["server_cpu_s"], "scenario_s": out["scenario_s"],
               "loadavg_start": srv.load_at_start, "loadavg_end": proctree.loadavg()}
        results[scen][key] = out
        log(f"[{scen}] {label}: done in {out['scenario_s']:.1f} s; server CPU {out['server_cpu_s']:.1f} s, "
            f"peak RSS {mem['peak_rss_mib']:.0f} MiB")
    except Exception as e:  # keep going: the other servers' figures are still worth having
        traceback.print_exc()
        results[scen][key] = {"error": f"{type(e).__name__}: {e}"}
        mem = {"error": str(e)}
    finally:
        srv.stop()
    results["c"].setdefault(key, {})[scen] = mem


def main():
    global WORK, LOGS
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = os.environ.get("BENCH_OUT", os.path.join(HERE, "out"))
    LOGS = os.path.join(out_dir, f"logs-{stamp}")
    os.makedirs(LOGS, exist_ok=True)
    WORK = os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix="esteira-bench-")
    os.makedirs(WORK, exist_ok=True)
    specs = server_specs()
    import mlflow
    results = {
        "meta": {"timestamp": stamp, "host": platform.node(), "cpus": os.cpu_count(),
                 "loadavg_start": proctree.loadavg(), "mlflow_version": mlflow.__version__,
                 "config": CFG, "servers": {k: {"label": l, "command": t} for k, l, t in specs},
                 "esteira_command_overridden": bool(os.environ.get("ESTEIRA_SERVER_CMD")),
                 "logs": LOGS, "workdir": WORK},
        "a": {}, "b": {}, "c": {}, "d": {},
    }
    log(f"bench: scenarios {CFG['only']}, servers {[l for _, l, _ in specs]}; logs in {LOGS}; data in {WORK}")
    plan = [("a", scenario_a, specs), ("b", scenario_b, specs), ("d", scenario_d, [s for s in specs if s[0] == "esteira"])]
    ran = [s for s, _, _ in plan if s in CFG["only"]]
    if "c" in CFG["only"] and not ran:
        plan, ran = [("idle", scenario_idle, specs)], ["idle"]
        results["idle"] = {}
    try:
        for scen, fn, servers in plan:
            if scen in ran:
                for key, label, template in servers:
                    with_server(key, label, template, scen, fn, results)
    finally:  # also on Ctrl-C / SIGTERM: the servers are already stopped, drop their data
        if not os.environ.get("BENCH_KEEP_DATA") and not os.environ.get("BENCH_WORKDIR"):
            shutil.rmtree(WORK, ignore_errors=True)
    results["meta"]["loadavg_end"] = proctree.loadavg()

    text, ratios = report.render(results, [(k, l) for k, l, _ in specs])
    results["ratios"] = ratios
    print(text)
    path = os.path.join(out_dir, f"results-{stamp}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    print(f"\nJSON: {os.path.relpath(path, ROOT)}   logs: {os.path.relpath(LOGS, ROOT)}")


def reprint(path):
    """Print the tables of an earlier results JSON again."""
    with open(path) as f:
        results = json.load(f)
    servers = [(k, v["label"]) for k, v in results["meta"]["servers"].items()]
    print(report.render(results, servers)[0])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--report"]:
        sys.exit(reprint(sys.argv[2]))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: every server is stopped in finally
    main()
