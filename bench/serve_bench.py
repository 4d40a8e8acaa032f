"""Model serving beside MLflow (issue 5): `mlflow models serve` (scikit-learn flavour, local env)
and `esteira serve` (the same model exported to ONNX) answer the same /invocations request under
wrk, one after the other on the same machine, in one run; then a batch figure: `esteira predict`
over a Parquet file beside scikit-learn's `predict` on the same rows. Started by bench/serve.sh,
configured by environment variables (bench/README.md). Prints markdown tables."""
import json
import os
import pickle
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

import wrk
from proctree import RssSampler, loadavg, tree_cpu_s
from servers import ROOT, Server

# Loopback only: no MLflow telemetry from this process or the servers (inherited by every child).
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # the brief: a local file store (maintenance mode in MLflow 3)

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable
MLFLOW = os.path.join(ROOT, ".venv", "bin", "mlflow")
FEATURES = [f"x{i}" for i in range(10)]
TOLERANCE = 1e-4  # relative (to max(1, |MLflow's prediction|)): ONNX computes in float32


def env_int(name, default):
    return int(os.environ.get(name) or default)


CFG = {
    "seconds": env_int("BENCH_SECONDS", 20),
    "concurrency": [int(c) for c in os.environ.get("BENCH_CONCURRENCY", "1,32").split(",")],
    "wrk_timeout_s": env_int("BENCH_WRK_TIMEOUT", 5),
    "rounds": env_int("BENCH_ROUNDS", 1),
    "batch_rows": env_int("BENCH_BATCH_ROWS", 1_000_000),
    "servers": [k.strip() for k in os.environ.get("BENCH_SERVERS", "mlflow,esteira").split(",") if k.strip()],
    "esteira": os.path.abspath(os.environ.get("ESTEIRA_BIN", os.path.join(ROOT, "target", "release", "esteira"))),
    # The `esteira-batched` server (BENCH_SERVERS=esteira,esteira-batched): `serve` with micro-batching.
    "microbatch_rows": env_int("BENCH_MICROBATCH_ROWS", 64),
    "microbatch_wait": os.environ.get("BENCH_MICROBATCH_WAIT") or "0ms",
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the model, two ways
def train_and_export(work):
    """GradientBoostingRegressor(100 trees, depth 3) on make_regression(2000 x 10); logged with
    mlflow.sklearn to a local file store and exported to ONNX with skl2onnx. Returns the fitted
    model, MLflow's model URI, the .onnx path and the tracking URI."""
    import mlflow
    import pandas as pd
    from mlflow.models import infer_signature
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import make_regression
    from sklearn.ensemble import GradientBoostingRegressor

    X, y = make_regression(n_samples=2000, n_features=10, random_state=0)
    frame = pd.DataFrame(X, columns=FEATURES)
    model = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(frame, y)
    tracking_uri = "file:" + os.path.join(work, "mlruns")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("serve-bench")
    with mlflow.start_run():
        # MLflow 3 saves with skops and refuses tree nodes unless trusted; the model is our own.
        info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(frame, model.predict(frame)),
                                        skops_trusted_types=["sklearn.tree._tree.Tree"])
    onnx_model = convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, 10]))],
                                 target_opset=17)
    onnx_path = os.path.join(work, "model.onnx")
    with open(onnx_path, "wb") as f:
        f.write(onnx_model.SerializeToString())
    with open(os.path.join(work, "model.pkl"), "wb") as f:
        pickle.dump(model, f)
    return model, X, info.model_uri, onnx_path, tracking_uri


def request_body(X):
    """One row (the first training row) as a dataframe_split request."""
    return json.dumps({"dataframe_split": {"columns": FEATURES, "data": [[float(v) for v in X[0]]]}})


def first_number(value):
    """The first number in an answer ({"predictions": [v]} or [{"column": v}] shapes alike)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = first_number(item)
        if found is not None:
            return found
    return None


def invoke(url, body):
    req = urllib.request.Request(url + "/invocations", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


# ---------------------------------------------------------------- servers
def server_cmds(model_uri, onnx_path):
    return {
        "mlflow": ("MLflow `models serve`",
                   f"{shlex.quote(MLFLOW)} models serve -m {shlex.quote(model_uri)} --env-manager local"
                   " -h 127.0.0.1 -p {port}"),
        "esteira": ("Esteira `serve`",
                    f"{shlex.quote(CFG['esteira'])} serve {shlex.quote(onnx_path)} --host 127.0.0.1 --port {{port}}"),
        "esteira-batched": (f"Esteira `serve` micro-batching ({CFG['microbatch_rows']} rows, {CFG['microbatch_wait']})",
                            f"{shlex.quote(CFG['esteira'])} serve {shlex.quote(onnx_path)} --host 127.0.0.1 "
                            f"--port {{port}} --batch-max-rows {CFG['microbatch_rows']} "
                            f"--batch-wait {shlex.quote(CFG['microbatch_wait'])}"),
    }


def describe_tree(srv):
    """Process count and command lines of the server's tree (MLflow's worker count shows here)."""
    from proctree import tree_pids
    lines = []
    for pid in tree_pids(srv.pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            lines.append(" ".join(a.decode(errors="replace") for a in argv if a)[:200])
        except OSError:
            pass
    return lines


def measure(srv, body_file, logs):
    """BENCH_ROUNDS rounds of one wrk row per concurrency; each row with the server tree's CPU
    seconds and peak RSS over it."""
    rows = []
    for round_no in range(1, CFG["rounds"] + 1):
        for conns in CFG["concurrency"]:
            srv.sampler.phase()
            cpu0 = tree_cpu_s(srv.pid)
            r = wrk.run("invocations.lua", srv.url, conns, CFG["seconds"], {"BENCH_BODY_FILE": body_file},
                        os.path.join(logs, f"wrk-{srv.key}-c{conns}-r{round_no}.txt"), CFG["wrk_timeout_s"])
            r["server_cpu_s"] = tree_cpu_s(srv.pid) - cpu0
            r["cpu_us_per_req"] = r["server_cpu_s"] / max(1, r["requests"]) * 1e6
            r["conns"], r["round"] = conns, round_no
            r["peak_rss_mib"] = srv.sampler.phase() / 1024
            log(f"  {srv.key} round {round_no} c={conns}: {r['req_per_s']:.0f} req/s, p50 {r['p50_ms']:.2f} ms, "
                f"p99 {r['p99_ms']:.2f} ms, errors {r['errors']}, server CPU {r['cpu_us_per_req']:.0f} us/req")
            rows.append(r)
    return rows


def medians(rows, conns):
    """Median req/s, p50, p99 over the rounds at `conns`, and the summed errors."""
    at = [r for r in rows if r["conns"] == conns]
    return {k: statistics.median(r[k] for r in at) for k in ("req_per_s", "p50_ms", "p99_ms")} | {
        "errors": sum(r["errors"] for r in at)}


# ---------------------------------------------------------------- batch
def sklearn_batch(model_pkl, input_path, output_path):
    """Child process: read Parquet, predict with scikit-learn, write Parquet; prints the timings."""
    import pandas as pd
    t0 = time.perf_counter()
    with open(model_pkl, "rb") as f:
        model = pickle.load(f)
    frame = pd.read_parquet(input_path)
    t1 = time.perf_counter()
    pred = model.predict(frame[FEATURES])
    t2 = time.perf_counter()
    pd.DataFrame({"prediction": pred}).to_parquet(output_path)
    t3 = time.perf_counter()
    print(json.dumps({"load_s": t1 - t0, "predict_s": t2 - t1, "write_s": t3 - t2}))


def timed_child(argv, cwd):
    """Runs argv; (wall seconds, peak RSS MiB sampled every 20 ms, stdout, stderr). Not wait4's
    ru_maxrss: Linux keeps it across exec, so it would include this (large) Python process that
    forked the child."""
    out_path, err_path = os.path.join(cwd, "child.out"), os.path.join(cwd, "child.err")
    with open(out_path, "w") as out, open(err_path, "w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
        sampler = RssSampler(proc.pid, interval=0.02)
        sampler.start()
        proc.wait()
        wall = time.perf_counter() - t0
        sampler.stop()
    with open(out_path) as f1, open(err_path) as f2:
        stdout, stderr = f1.read(), f2.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {proc.returncode}: {stderr[-1500:]}")
    return wall, sampler.peak_kib / 1024, stdout, stderr


def batch(work, model, onnx_path):
    import pandas as pd
    n = CFG["batch_rows"]
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.standard_normal((n, 10)), columns=FEATURES)
    input_path = os.path.join(work, "batch.parquet")
    frame.to_parquet(input_path)
    del frame
    est_out = os.path.join(work, "preds-esteira.parquet")
    wall, rss, _, _ = timed_child([CFG["esteira"], "predict", "--model", onnx_path, "--input", input_path,
                                   "--output", est_out], work)
    esteira = {"wall_s": wall, "rows_per_s": n / wall, "peak_rss_mib": rss}
    sk_out = os.path.join(work, "preds-sklearn.parquet")
    wall, rss, stdout, _ = timed_child([PYTHON, os.path.abspath(__file__), "--sklearn-batch",
                                        os.path.join(work, "model.pkl"), input_path, sk_out], work)
    times = json.loads(stdout.strip().splitlines()[-1])
    sklearn = {"wall_s": wall, "rows_per_s": n / wall, "peak_rss_mib": rss,
               "predict_rows_per_s": n / times["predict_s"], **times}
    got = pd.read_parquet(est_out)
    want = pd.read_parquet(sk_out)["prediction"].to_numpy()
    numeric = [c for c in got.columns if np.issubdtype(got[c].dtype, np.number)]
    if len(got) != n or not numeric:
        raise RuntimeError(f"esteira predict wrote {len(got)} rows, columns {list(got.columns)}")
    diff = np.abs(got[numeric[-1]].to_numpy() - want)
    return {"rows": n, "esteira": esteira, "sklearn": sklearn, "esteira_columns": list(got.columns),
            "max_abs_diff": float(diff.max()), "max_rel_diff": float((diff / np.maximum(1, np.abs(want))).max())}


# ---------------------------------------------------------------- report
def report(cfg, check, servers, rows, batch_result):
    out = []
    p = out.append
    p(f"# Model serving: Esteira beside MLflow, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    p("")
    p(f"{os.cpu_count()} cores; load average at start {cfg['load_at_start']:.2f}, at end {loadavg():.2f}; "
      f"wrk on the same cores ({cfg['rounds']} round(s) of {cfg['seconds']} s per row, keep-alive, 1 thread at c=1, 2 above); "
      f"mlflow {cfg['mlflow_version']}, scikit-learn {cfg['sklearn_version']}, skl2onnx {cfg['skl2onnx_version']}.")
    p("")
    p(f"Esteira binary: `{cfg['esteira']}` ({cfg['esteira_build']}).")
    p("")
    p("Model: scikit-learn `GradientBoostingRegressor(n_estimators=100, max_depth=3)` on "
      "`make_regression(n_samples=2000, n_features=10, random_state=0)`. MLflow serves the "
      "`mlflow.sklearn` model (local file store, `--env-manager local`); Esteira serves the same model "
      "exported with skl2onnx (`float_input`, FloatTensorType [None, 10]).")
    p("")
    p("Request: one row, `{\"dataframe_split\": {\"columns\": [\"x0\"..\"x9\"], \"data\": [[...]]}}`, "
      "`Content-Type: application/json`.")
    p("")
    answers = ", ".join(f"{servers[k]['label']} {check[k]:.6f} (|diff| {abs(check[k] - check['sklearn']):.2e}, "
                        f"body `{check[k + '_body'][:120]}`)" for k in servers)
    p(f"Same answer checked before timing, to {TOLERANCE} relative: scikit-learn {check['sklearn']:.6f}, {answers}.")
    p("")
    for key, srv in servers.items():
        p(f"- {srv['label']}: {srv['procs']} process(es) at idle, idle RSS {srv['idle_rss_mib']:.0f} MiB, "
          f"start-up to /health {srv['startup_s']:.1f} s. Tree: " + "; ".join(f"`{c}`" for c in srv["tree"]))
    p("")
    p("| server | round | c | req/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors | server CPU us/req "
      "| peak RSS MiB |")
    p("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key, srv in servers.items():
        for r in rows[key]:
            sock = sum(r["socket_errors"].values())
            p(f"| {srv['label']} | {r['round']} | {r['conns']} | {r['req_per_s']:.0f} | {r['p50_ms']:.2f} "
              f"| {r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} | {sock} | {r['cpu_us_per_req']:.0f} "
              f"| {r['peak_rss_mib']:.0f} |")
    if "mlflow" in rows and "esteira" in rows:
        p("")
        p(f"Ratios of the medians over {cfg['rounds']} round(s):")
        p("")
        p("| c | throughput Esteira/MLflow | p50 MLflow/Esteira | p99 MLflow/Esteira |")
        p("| ---: | ---: | ---: | ---: |")
        for conns in cfg["concurrency"]:
            m, e = medians(rows["mlflow"], conns), medians(rows["esteira"], conns)
            p(f"| {conns} | {e['req_per_s'] / m['req_per_s']:.1f}x | {m['p50_ms'] / e['p50_ms']:.1f}x "
              f"| {m['p99_ms'] / e['p99_ms']:.1f}x |")
        if 32 in cfg["concurrency"]:
            m, e = medians(rows["mlflow"], 32), medians(rows["esteira"], 32)
            ratio = e["req_per_s"] / m["req_per_s"]
            met = ratio >= 30 and e["p99_ms"] < 5 and e["errors"] == 0
            p("")
            p(f"Issue 5's goal at c=32 (>= 30x MLflow's throughput with p99 < 5 ms, no errors; medians): "
              f"{ratio:.1f}x, p99 {e['p99_ms']:.2f} ms, {e['errors']} errors: **{'met' if met else 'not met'}**.")
    if "esteira" in rows and "esteira-batched" in rows:
        p("")
        p(f"Micro-batching against the inline path (medians over {cfg['rounds']} round(s)):")
        p("")
        p("| c | req/s inline | req/s batched | p50 ms inline | p50 ms batched | p99 ms inline | p99 ms batched |")
        p("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for conns in cfg["concurrency"]:
            e, b = medians(rows["esteira"], conns), medians(rows["esteira-batched"], conns)
            p(f"| {conns} | {e['req_per_s']:.0f} | {b['req_per_s']:.0f} | {e['p50_ms']:.2f} | {b['p50_ms']:.2f} "
              f"| {e['p99_ms']:.2f} | {b['p99_ms']:.2f} |")
    p("")
    p("Esteira's prediction log is on in these figures: `esteira serve` logs every answered request "
      "(request id, inputs, outputs, latency, status) to Parquet batches in the configured store "
      "(here ./esteira-data in the server's directory); MLflow's `models serve` has no such log.")
    if batch_result:
        b = batch_result
        e, s = b["esteira"], b["sklearn"]
        p("")
        p(f"## Batch: {b['rows']:,} rows (Parquet, 10 float64 columns) to a Parquet of predictions")
        p("")
        p("| | wall s | rows/s | peak RSS MiB |")
        p("| --- | ---: | ---: | ---: |")
        p(f"| `esteira predict --model model.onnx` (process) | {e['wall_s']:.2f} | {e['rows_per_s']:,.0f} "
          f"| {e['peak_rss_mib']:.0f} |")
        p(f"| scikit-learn `predict` (Python process: import, read, predict, write) | {s['wall_s']:.2f} "
          f"| {s['rows_per_s']:,.0f} | {s['peak_rss_mib']:.0f} |")
        p(f"| scikit-learn `predict` call alone | {s['predict_s']:.2f} | {s['predict_rows_per_s']:,.0f} | |")
        p("")
        p(f"Esteira wrote columns {b['esteira_columns']}; largest difference from scikit-learn "
          f"{b['max_abs_diff']:.2e} absolute, {b['max_rel_diff']:.2e} relative (float32 in ONNX).")
    return "\n".join(out)


def esteira_build():
    """What was measured: the binary's modification time and, when it is this tree's build, the
    tree's commit (BENCH_ESTEIRA_BUILD overrides, e.g. for a binary built elsewhere)."""
    if os.environ.get("BENCH_ESTEIRA_BUILD"):
        return os.environ["BENCH_ESTEIRA_BUILD"]
    if not os.path.exists(CFG["esteira"]):
        return "absent"
    built = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(os.path.getmtime(CFG["esteira"])))
    if os.path.dirname(CFG["esteira"]) != os.path.join(ROOT, "target", "release"):
        return f"built {built}"
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"built {built} in this tree, HEAD {head.stdout.strip() or '?'}"


# ---------------------------------------------------------------- main
def main():
    import mlflow
    import skl2onnx
    import sklearn
    cfg = dict(CFG, load_at_start=loadavg(), esteira_build=esteira_build(), mlflow_version=mlflow.__version__,
               sklearn_version=sklearn.__version__, skl2onnx_version=skl2onnx.__version__)
    if "esteira" in CFG["servers"] and not os.path.exists(CFG["esteira"]):
        sys.exit(f"no esteira binary at {CFG['esteira']} (cargo build --release -p esteira, or set ESTEIRA_BIN)")
    work = tempfile.mkdtemp(prefix="esteira-serve-bench-", dir=os.environ.get("BENCH_WORKDIR"))
    logs = os.path.join(os.environ.get("BENCH_OUT", os.path.join(HERE, "out")),
                        "serve-logs-" + time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(logs)
    started = []
    try:
        log("training and exporting the model")
        model, X, model_uri, onnx_path, tracking_uri = train_and_export(work)
        os.environ["MLFLOW_TRACKING_URI"] = tracking_uri  # the MLflow server resolves models:/ through it
        # `mlflow models serve` execs `uvicorn` by name: the venv's bin must be on PATH.
        os.environ["PATH"] = os.path.dirname(MLFLOW) + os.pathsep + os.environ.get("PATH", "")
        body = request_body(X)
        body_file = os.path.join(work, "request.json")
        with open(body_file, "w") as f:
            f.write(body)
        cmds = server_cmds(model_uri, onnx_path)
        servers = {}
        for key in CFG["servers"]:
            label, template = cmds[key]
            log(f"starting {label}")
            srv = Server(key, label, template, os.path.join(work, key), os.path.join(logs, f"{key}.log"))
            started.append(srv)
            srv.start()
            servers[key] = srv
        check = {"sklearn": float(model.predict(__import__("pandas").DataFrame(X[:1], columns=FEATURES))[0])}
        for key, srv in servers.items():
            status, text = invoke(srv.url, body)
            if status != 200:
                raise RuntimeError(f"{srv.label} answered {status}: {text[:500]}")
            check[key], check[f"{key}_body"] = first_number(json.loads(text)), text.strip()
            log(f"{srv.label} predicts {check[key]!r} ({text.strip()[:200]})")
        for key in servers:
            if abs(check[key] - check["sklearn"]) > TOLERANCE * max(1.0, abs(check["sklearn"])):
                raise RuntimeError(f"{servers[key].label} predicts {check[key]}, scikit-learn {check['sklearn']}")
        rows, info = {}, {}
        for key, srv in servers.items():
            info[key] = {"label": srv.label, "procs": srv.idle_procs, "idle_rss_mib": srv.idle_rss_kib / 1024,
                         "startup_s": srv.startup_s, "tree": describe_tree(srv)}
            log(f"measuring {srv.label}")
            rows[key] = measure(srv, body_file, logs)
            srv.stop()
        batch_result = None
        if CFG["batch_rows"] > 0 and "esteira" in servers:
            log(f"batch: {CFG['batch_rows']} rows")
            batch_result = batch(work, model, onnx_path)
        text = report(cfg, check, info, rows, batch_result)
        print(text)
        with open(os.path.join(logs, "results.json"), "w") as f:
            json.dump({"cfg": cfg, "check": check, "servers": info, "rows": rows, "batch": batch_result}, f, indent=1)
        with open(os.path.join(logs, "results.md"), "w") as f:
            f.write(text + "\n")
        log(f"written to {logs}")
    finally:
        for srv in started:
            srv.stop()
        if os.environ.get("BENCH_KEEP_DATA") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--sklearn-batch"]:
        sklearn_batch(*sys.argv[2:5])
    else:
        main()
