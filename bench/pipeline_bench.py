"""Orchestration overhead of a 200-step no-op fan-out/fan-in pipeline on 2 workers (issue 4).

Run by bench/pipeline.sh, which builds Esteira, makes the peers' venv and starts PostgreSQL:

    .venv/bin/python bench/pipeline_bench.py --esteira BIN --pg-url postgres://...:PORT/esteira_test \
        --pg-dir DIR --peer-python bench/.venv-peers/bin/python --peers prefect --runs 3

Configurations, each run --runs times (the run with the median wall time is reported):
  (a) `esteira pipeline run --workers 2` on a fresh embedded SQLite store (in-process workers);
  (b) `esteira server --workers 0` and two `esteira worker` processes on a fresh PostgreSQL
      database; the pipeline is deployed and triggered through the server, and the run's end
      is awaited by polling GET /api/2.0/esteira/pipelines/runs/get;
  peers: the same DAG on a peer orchestrator (bench/pipeline_peer.py) with 2 workers.

Per step (from the run's executions): queue wait = start - ready; dispatch latency = start -
max(ready, end of the previous execution on the same worker), i.e. how long a ready step
waited while its worker was free; busy = end - start. Overhead = wall - (sum of the command
durations / 2).
"""

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proctree import loadavg, tree_cpu_s, tree_pids  # noqa: E402

FANOUT = 198
PIPELINE = "fanout-200"
PUBLISHED = [
    ("Airflow", "~1.5-4 s of scheduling latency per task"),
    ("Dagster", "3-17 s to launch a run"),
    ("Prefect", "5-7 s (flow run start-up)"),
]
GOALS = "p50 ready-to-running under 10 ms; the 200-step no-op pipeline under 5 s in total"


# ---------------------------------------------------------------- the pipeline


def step_names():
    return [f"s{i:03d}" for i in range(FANOUT)]


def pipeline_toml():
    """root -> s000..s197 -> join. Esteira draws an edge only from an output to an input, so
    the root and the fan-out steps `touch` their (empty) output file; the join runs `true`."""
    lines = [f'[pipeline]\nname = "{PIPELINE}"\n',
             '[steps.root]\ncommand = ["touch", "{output.out}"]\noutputs = { out = "file" }\ncache = false\n']
    for name in step_names():
        lines.append(f'[steps.{name}]\ncommand = ["touch", "{{output.out}}"]\n'
                     f'inputs = {{ root = "root.out" }}\noutputs = {{ out = "file" }}\ncache = false\n')
    join_inputs = ", ".join(f'{n} = "{n}.out"' for n in step_names())
    lines.append(f'[steps.join]\ncommand = ["true"]\ninputs = {{ {join_inputs} }}\ncache = false\n')
    return "\n".join(lines)


def command_seconds(workdir, repeats=200):
    """Sum of the 200 steps' command durations, measured by spawning the same commands
    (199 x `touch FILE`, 1 x `true`) from this process, as the median of `repeats` rounds'
    per-command means. Esteira records no command duration of its own."""
    path = os.path.join(workdir, "calibration")
    samples = {"touch": [], "true": []}
    for _ in range(repeats):
        for kind, argv in (("touch", ["touch", path]), ("true", ["true"])):
            t0 = time.perf_counter()
            subprocess.run(argv, check=True)
            samples[kind].append(time.perf_counter() - t0)
    touch_s, true_s = statistics.median(samples["touch"]), statistics.median(samples["true"])
    return (FANOUT + 1) * touch_s + true_s, touch_s


# ---------------------------------------------------------------- statistics


def pct(values, p):
    """The p-th percentile (nearest rank) of values."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
    return s[k]


def step_figures(steps):
    """steps: [{step, ready, start, end, worker}] in seconds. Queue wait, dispatch latency and
    busy time per step, in ms."""
    by_worker = {}
    queue, dispatch, busy = [], [], []
    for s in sorted(steps, key=lambda x: x["start"]):
        prev_end = by_worker.get(s["worker"])
        free_since = s["ready"] if prev_end is None else max(s["ready"], prev_end)
        queue.append((s["start"] - s["ready"]) * 1000)
        dispatch.append((s["start"] - free_since) * 1000)
        busy.append((s["end"] - s["start"]) * 1000)
        by_worker[s["worker"]] = s["end"]
    return {
        "queue_wait_ms": summary(queue),
        "dispatch_ms": summary(dispatch),
        "busy_ms": summary(busy),
        "workers": len(by_worker),
        "steps": len(steps),
    }


def summary(values):
    return {"p50": pct(values, 50), "p90": pct(values, 90), "p99": pct(values, 99),
            "max": max(values), "mean": statistics.fmean(values)}


def lanes(steps):
    """Assigns steps without a stable worker identity (one process per step) to the fewest
    lanes: each step goes to the lane that has been free the longest."""
    free = []
    for s in sorted(steps, key=lambda x: x["start"]):
        candidates = [i for i, end in enumerate(free) if end <= s["start"]]
        if candidates:
            i = min(candidates, key=lambda j: free[j])
            free[i] = s["end"]
        else:
            free.append(s["end"])
            i = len(free) - 1
        s["worker"] = f"lane{i}"
    return steps


# ---------------------------------------------------------------- Esteira


def executions_as_steps(details):
    """The executions of a RunDetails answer as step records in seconds; checks all 200
    steps succeeded exactly once."""
    ex = details["executions"]
    bad = [e for e in ex if e["status"] != "SUCCEEDED"]
    if bad or len(ex) != FANOUT + 2:
        raise RuntimeError(f"expected {FANOUT + 2} SUCCEEDED executions, got {len(ex)} "
                           f"({len(bad)} not succeeded: {bad[:1]})")
    return [{"step": e["step"], "ready": e["ready_time"] / 1000, "start": e["start_time"] / 1000,
             "end": e["end_time"] / 1000, "worker": e["worker_id"]} for e in ex]


def run_figures(details):
    run = details["run"]
    if run["status"] != "SUCCEEDED":
        raise RuntimeError(f"run {run['run_id']} ended {run['status']}: {run.get('message')}")
    out = step_figures(executions_as_steps(details))
    out["wall_s"] = (run["end_time"] - run["start_time"]) / 1000
    out["created_to_end_s"] = (run["end_time"] - run["created_time"]) / 1000
    out["run_id"] = run["run_id"]
    return out


def esteira_local(binary, workdir, rep):
    """(a): one `esteira pipeline run --workers 2` on a fresh SQLite store."""
    d = os.path.join(workdir, f"local-{rep}")
    os.makedirs(d)
    with open(os.path.join(d, "pipeline.toml"), "w") as f:
        f.write(pipeline_toml())
    argv = [binary, "pipeline", "run", "pipeline.toml", "--workers", "2",
            "--store", f"sqlite://{d}/esteira.db", "--artifacts", f"{d}/artifacts", "--json"]
    load = loadavg()
    before = os.times()
    t0 = time.monotonic()
    with open(os.path.join(d, "stderr.log"), "w") as err:
        proc = subprocess.run(argv, cwd=d, stdout=subprocess.PIPE, stderr=err, timeout=600)
    wall = time.monotonic() - t0
    after = os.times()
    if proc.returncode != 0:
        raise RuntimeError(f"esteira pipeline run exited {proc.returncode}; see {d}/stderr.log")
    figures = run_figures(json.loads(proc.stdout))
    figures["process_wall_s"] = wall
    figures["submit_to_end_s"] = figures["created_to_end_s"]
    figures["cpu_s"] = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    figures["load"] = load
    return figures


class Proc:
    """A child process in a session of its own, stopped by the PIDs of its tree."""

    def __init__(self, argv, cwd, log_path, env=None):
        self.log = open(log_path, "w")
        self.log_path = log_path
        self.p = subprocess.Popen(argv, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True, env=env)

    def wait_for_line(self, text, timeout_s=60):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"{self.log_path}: exited with {self.p.returncode}")
            with open(self.log_path) as f:
                if text in f.read():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.log_path}: no {text!r} after {timeout_s} s")

    def cpu_s(self):
        return tree_cpu_s(self.p.pid)

    def stop(self, grace_s=15):
        if self.p.poll() is None:
            pids = tree_pids(self.p.pid)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.p.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.p.wait(timeout=10)
        self.log.close()


def http_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def wait_health(url, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not healthy after {timeout_s} s")


def psql(pg_admin_url, sql):
    pgbin = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
    subprocess.run([f"{pgbin}/psql", pg_admin_url, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postmaster_pid(pg_dir):
    try:
        with open(os.path.join(pg_dir, "postmaster.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


def esteira_server(binary, workdir, rep, pg_url, pg_dir, poll_s=0.1):
    """(b): server (no in-process workers) + 2 `esteira worker` on a fresh PostgreSQL database."""
    d = os.path.join(workdir, f"server-{rep}")
    os.makedirs(d)
    with open(os.path.join(d, "pipeline.toml"), "w") as f:
        f.write(pipeline_toml())
    db = f"bench_pipeline_{os.getpid()}_{rep}"
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    psql(admin, f"CREATE DATABASE {db}")
    store = pg_url.rsplit("/", 1)[0] + "/" + db
    arts = os.path.join(d, "artifacts")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    procs = []
    try:
        server = Proc([binary, "server", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                       os.path.join(d, "server"), "--store", store, "--artifacts", arts,
                       "--workers", "0"], d, os.path.join(d, "server.log"))
        procs.append(server)
        wait_health(url)
        for i in (1, 2):
            w = Proc([binary, "worker", "--store", store, "--artifacts", arts, "--lease", "30s",
                      "--id", f"w{i}"], d, os.path.join(d, f"worker{i}.log"))
            procs.append(w)
            w.wait_for_line("ready")
        subprocess.run([binary, "pipeline", "deploy", "pipeline.toml", "--server", url], cwd=d,
                       check=True, stdout=subprocess.DEVNULL)
        time.sleep(1)  # the workers' first polls and the server's first trigger pass are done
        pm = postmaster_pid(pg_dir)
        cpu0 = [p.cpu_s() for p in procs]
        pg_cpu0 = tree_cpu_s(pm) if pm else None
        load = loadavg()
        t0 = time.monotonic()
        fired = subprocess.run([binary, "pipeline", "trigger", PIPELINE, "--server", url, "--json"],
                               cwd=d, check=True, stdout=subprocess.PIPE)
        run_id = json.loads(fired.stdout)["run_id"]
        q = urllib.parse.urlencode({"run_id": run_id})
        deadline = time.monotonic() + 600
        while True:
            details = http_json(f"{url}/api/2.0/esteira/pipelines/runs/get?{q}")
            if details["run"]["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} not ended after 600 s")
            time.sleep(poll_s)
        seen = time.monotonic() - t0
        cpu = [p.cpu_s() - c for p, c in zip(procs, cpu0)]
        figures = run_figures(details)
        figures["submit_to_end_s"] = seen
        figures["cpu_server_s"] = cpu[0]
        figures["cpu_workers_s"] = sum(cpu[1:])
        figures["cpu_postgres_s"] = (tree_cpu_s(pm) - pg_cpu0) if pm else None
        figures["cpu_s"] = sum(cpu) + (figures["cpu_postgres_s"] or 0)
        figures["load"] = load
        return figures
    finally:
        for p in reversed(procs):
            p.stop()
        psql(admin, f"DROP DATABASE IF EXISTS {db}")


# ---------------------------------------------------------------- peers


def peer_run(peer, python, workdir, rep, env_extra):
    d = os.path.join(workdir, f"{peer}-{rep}")
    os.makedirs(d)
    out = os.path.join(d, "out.json")
    env = dict(os.environ)
    env.update(env_extra)
    env.update({"DO_NOT_TRACK": "1", "PREFECT_HOME": os.path.join(d, "prefect-home"),
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DAGSTER_DISABLE_TELEMETRY": "1",
                "PREFECT_LOGGING_LEVEL": "WARNING"})
    env.pop("PREFECT_API_URL", None)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline_peer.py")
    load = loadavg()
    t0 = time.monotonic()
    with open(os.path.join(d, "peer.log"), "w") as log:
        proc = subprocess.run([python, script, peer, "--workdir", d, "--out", out], env=env,
                              stdout=log, stderr=subprocess.STDOUT, timeout=1800)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{peer} exited {proc.returncode}; see {d}/peer.log")
    with open(out) as f:
        res = json.load(f)
    fanout = len(res["steps"]) - 2
    ends = {s["step"]: s["end"] for s in res["steps"]}
    begin = res.get("body_start", res["run_start"])
    finish = res.get("body_end", res["run_end"])
    steps = []
    for s in res["steps"]:
        if s["step"] == "root":
            ready = begin
        elif s["step"] == "join":
            ready = max(v for k, v in ends.items() if k not in ("root", "join"))
        else:
            ready = ends["root"]
        steps.append(dict(s, ready=ready))
    if peer == "dagster":
        steps = lanes(steps)
    figures = step_figures(steps)
    figures["fanout"] = fanout
    figures["wall_s"] = finish - begin
    figures["run_call_s"] = res["run_end"] - res["run_start"]
    figures["submit_to_end_s"] = figures["run_call_s"]
    figures["process_wall_s"] = wall
    figures["command_sum_s"] = sum(s["command_seconds"] for s in res["steps"])
    figures["version"] = res["version"]
    figures["executor"] = res["executor"]
    figures["warm_up_s"] = res.get("warm_up_seconds")
    figures["cpu_s"] = res.get("run_cpu_s")
    figures["load"] = load
    return figures


# ---------------------------------------------------------------- report


def median_run(runs):
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    return ordered[(len(ordered) - 1) // 2]


def machine_info():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": model, "kernel": platform.release(),
            "python": platform.python_version()}


def fmt_ms(x):
    return "n/a" if x is None else f"{x:.1f}"


def fmt_s(x):
    return "n/a" if x is None else f"{x:.2f}"


def ratio(peer, ours):
    if peer is None or ours is None or ours <= 0:
        return "n/a"
    r = peer / ours
    return f"{r:.1f}x" if r >= 1 else f"{r:.2f}x (worse)"


def render(result):
    cols = [c for c in result["columns"] if c["median"] is not None]
    lines = []
    lines.append("# Pipeline orchestration overhead: 200-step no-op fan-out/fan-in on 2 workers\n")
    m = result["machine"]
    lines.append(f"- date: {result['date']}")
    lines.append(f"- machine: {m['cores']} cores ({m['cpu']}), kernel {m['kernel']}; "
                 f"load average {result['load_before']} before, {result['load_after']} after "
                 f"(other builds share the machine: wall-clock figures are upper bounds)")
    lines.append(f"- esteira: `{result['esteira']}` (release build, commit {result['commit']})")
    lines.append(f"- DAG: root -> {FANOUT} parallel steps -> join; root and fan-out steps run "
                 f"`touch <output file>`, the join `true`; `cache = false`. Each configuration "
                 f"run {result['runs']} times; the run with the median wall time is shown.")
    lines.append(f"- command time (for the overhead): {FANOUT + 1} x `touch` + `true` spawned from "
                 f"Python = {result['command_sum_s'] * 1000:.0f} ms in total "
                 f"({result['touch_ms']:.2f} ms each); the peers' own in-task measurement where given.")
    lines.append("")
    header = ["", *[c["label"] for c in cols]]
    peers = [c for c in cols if c["key"] not in ("esteira_local", "esteira_server")]
    refs = [(c, tag) for c, tag in ((next((c for c in cols if c["key"] == k), None), tag)
                                    for k, tag in (("esteira_local", "(a)"), ("esteira_server", "(b)"))) if c]
    header += [f"{p['label']} / {tag}" for ref, tag in refs for p in peers]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    # (title, value, format, kind): kind "run" compares whole runs (only between DAGs of the
    # same size), "step" per-step figures, "none" no ratio.
    rows = [
        ("wall: run start -> end (s) [1]", lambda r: r["wall_s"], fmt_s, "run"),
        ("wall: submit -> end (s) [2]", lambda r: r.get("submit_to_end_s"), fmt_s, "run"),
        ("wall: whole process (s) [3]", lambda r: r.get("process_wall_s"), fmt_s, "run"),
        ("overhead = wall - commands/2 (s)", lambda r: r["overhead_s"], fmt_s, "run"),
        ("overhead per step on a worker (ms)", lambda r: r["overhead_s"] / (r["steps"] / 2) * 1000, fmt_ms, "step"),
        ("queue wait p50 (ms)", lambda r: r["queue_wait_ms"]["p50"], fmt_ms, "run"),
        ("queue wait p99 (ms)", lambda r: r["queue_wait_ms"]["p99"], fmt_ms, "run"),
        ("dispatch latency p50 (ms)", lambda r: r["dispatch_ms"]["p50"], fmt_ms, "step"),
        ("dispatch latency p90 (ms)", lambda r: r["dispatch_ms"]["p90"], fmt_ms, "step"),
        ("dispatch latency p99 (ms)", lambda r: r["dispatch_ms"]["p99"], fmt_ms, "step"),
        ("dispatch latency max (ms)", lambda r: r["dispatch_ms"]["max"], fmt_ms, "step"),
        ("busy (end - start) p50 (ms)", lambda r: r["busy_ms"]["p50"], fmt_ms, "step"),
        ("busy (end - start) p99 (ms)", lambda r: r["busy_ms"]["p99"], fmt_ms, "step"),
        ("CPU seconds (process trees) [4]", lambda r: r.get("cpu_s"), fmt_s, "run"),
        ("CPU ms per step [4]", lambda r: None if r.get("cpu_s") is None else r["cpu_s"] / r["steps"] * 1000,
         fmt_ms, "step"),
        ("load average at start", lambda r: r.get("load"), fmt_s, "none"),
    ]
    for title, get, fmt, kind in rows:
        cells = [fmt(get(c["median"])) for c in cols]
        for ref, _ in refs:
            for p in peers:
                if kind == "none":
                    cells.append("")
                elif kind == "run" and p["median"]["steps"] != ref["median"]["steps"]:
                    cells.append(f"n/a ({p['median']['steps']} steps)")
                else:
                    cells.append(ratio(get(p["median"]), get(ref["median"])))
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Ratios are peer / Esteira: above 1 Esteira is faster or lighter, below 1 the peer is.")
    lines.append("")
    lines.append("[1] Esteira: the run record's start_time (first step claimed) to end_time (last commit); "
                 "peer: first statement of the flow/job body to its last (Prefect), or the run call (Dagster).")
    lines.append("[2] (a): the run record's created_time (submitted) to end_time; (b): the client's "
                 "`pipeline trigger` call to the poll (every 100 ms) that sees the run ended; peer: the "
                 "flow call on an already started API (Prefect) or `execute_job` (Dagster).")
    lines.append("[3] (a): the `esteira pipeline run` process (opening the store, migrations, the loopback "
                 "tracking server included); peer: the Python process (imports, and for Prefect the start "
                 "of its ephemeral API server, included).")
    lines.append("[4] utime+stime of the process trees during the run, reaped `touch` children included: "
                 "(a) the `esteira` process; (b) server + workers + PostgreSQL; peer: the Python process tree during the run call (Prefect's API server included).")
    lines.append("Esteira's times are whole milliseconds (the store's), so its small percentiles are +-1 ms.")
    lines.append("")
    lines.append("All runs (wall s, dispatch p50 ms):")
    for c in result["columns"]:
        if c["runs"]:
            walls = ", ".join(f"{r['wall_s']:.2f} s / {r['dispatch_ms']['p50']:.1f} ms" for r in c["runs"])
            lines.append(f"- {c['label']}: {walls}")
        if c.get("error"):
            lines.append(f"- {c['label']}: ERROR {c['error']}")
    for c in result["columns"]:
        if c["key"] == "esteira_server" and c["median"]:
            r = c["median"]
            lines.append(f"- (b) CPU split of the median run: server {fmt_s(r['cpu_server_s'])} s, "
                         f"workers {fmt_s(r['cpu_workers_s'])} s, PostgreSQL {fmt_s(r['cpu_postgres_s'])} s; "
                         f"run created -> end {fmt_s(r['created_to_end_s'])} s")
        if c["key"].startswith("peer_") and c["median"]:
            r = c["median"]
            lines.append(f"- {c['label']}: {r['executor']}; fan-out {r['fanout']}; "
                         f"flow/run call {fmt_s(r['run_call_s'])} s, whole process {fmt_s(r['process_wall_s'])} s"
                         + (f", warm-up flow (starts the ephemeral API) {fmt_s(r['warm_up_s'])} s"
                            if r.get("warm_up_s") is not None else ""))
    lines.append("")
    lines.append(f"Goals of issue 4: {GOALS}.")
    lines.append("")
    lines.append("Published figures (from issue 4; published, not measured here):")
    lines.append("")
    lines.append("| orchestrator | published figure |")
    lines.append("|---|---|")
    for name, fig in PUBLISHED:
        lines.append(f"| {name} | {fig} (published, not measured here) |")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--esteira", required=True)
    ap.add_argument("--pg-url", help="postgres://USER@HOST:PORT/DB of a throw-away cluster")
    ap.add_argument("--pg-dir", help="the cluster's data directory (for its CPU time)")
    ap.add_argument("--peer-python")
    ap.add_argument("--peers", default="prefect")
    ap.add_argument("--only", default="a,b,peers")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--dagster-fanout", type=int, default=FANOUT)
    ap.add_argument("--json-out", required=True)
    ap.add_argument("--md-out")
    ap.add_argument("--workdir")
    args = ap.parse_args()
    only = set(args.only.split(","))
    workdir = args.workdir or tempfile.mkdtemp(prefix="esteira-pipeline-bench-")
    os.makedirs(workdir, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine_info(),
              "load_before": open("/proc/loadavg").read().split()[:3], "runs": args.runs,
              "esteira": os.path.basename(args.esteira), "commit": commit, "columns": []}
    cmd_sum, touch_s = command_seconds(workdir)
    result["command_sum_s"], result["touch_ms"] = cmd_sum, touch_s * 1000

    configs = []
    if "a" in only:
        configs.append(("esteira_local", "Esteira (a) pipeline run, SQLite",
                        lambda rep: esteira_local(args.esteira, workdir, rep)))
    if "b" in only and args.pg_url:
        configs.append(("esteira_server", "Esteira (b) server + 2 workers, PostgreSQL",
                        lambda rep: esteira_server(args.esteira, workdir, rep, args.pg_url, args.pg_dir)))
    if "peers" in only and args.peer_python:
        for peer in [p for p in args.peers.split(",") if p]:
            extra = {"BENCH_FANOUT": str(args.dagster_fanout)} if peer == "dagster" else {}
            label = {"prefect": "Prefect 3", "dagster": "Dagster"}[peer]
            if peer == "dagster" and args.dagster_fanout != FANOUT:
                label += f" ({args.dagster_fanout + 2} steps)"
            configs.append((f"peer_{peer}", label,
                            lambda rep, peer=peer, extra=extra: peer_run(peer, args.peer_python, workdir, rep, extra)))
    for key, label, fn in configs:
        col = {"key": key, "label": label, "runs": [], "median": None}
        result["columns"].append(col)
        for rep in range(args.runs):
            print(f"[{time.strftime('%H:%M:%S')}] {label}: run {rep + 1}/{args.runs} "
                  f"(load {loadavg():.2f})", flush=True)
            try:
                r = fn(rep)
            except Exception as e:  # a failing configuration is reported, the others go on
                col["error"] = f"{type(e).__name__}: {e}"
                print(f"  ERROR {col['error']}", flush=True)
                break
            cmds = r.get("command_sum_s", cmd_sum)
            r["overhead_s"] = r["wall_s"] - cmds / 2
            col["runs"].append(r)
            print(f"  wall {r['wall_s']:.2f} s, dispatch p50 {r['dispatch_ms']['p50']:.1f} ms, "
                  f"queue p50 {r['queue_wait_ms']['p50']:.0f} ms, busy p50 {r['busy_ms']['p50']:.1f} ms",
                  flush=True)
        if col["runs"]:
            col["median"] = median_run(col["runs"])
    result["load_after"] = open("/proc/loadavg").read().split()[:3]
    with open(args.json_out, "w") as f:
        json.dump(result, f, indent=1)
    text = render(result)
    print()
    print(text)
    if args.md_out:
        with open(args.md_out, "w") as f:
            f.write(text)
    if not os.environ.get("BENCH_KEEP_DATA"):
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if any(c.get("error") for c in result["columns"]) else 0


if __name__ == "__main__":
    sys.exit(main())
