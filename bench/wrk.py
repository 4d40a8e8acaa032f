"""wrk, the load generator: runs one Lua script of bench/lua (keep-alive) and reads the JSON line
its done() prints (lua/common.lua); fill() runs lua/populate.lua until every thread is done."""
import glob
import json
import os
import signal
import subprocess
import tempfile
import time

LUA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lua")


def run(script, url, conns, seconds, env, log_path, timeout_s):
    """One wrk run; returns req/s, latencies (ms) and error counts."""
    threads = min(conns, 2)
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", f"--timeout={timeout_s}s",
           "--latency", "-s", os.path.join(LUA, script), url]
    full_env = dict(os.environ, BENCH_LUA_DIR=LUA, BENCH_WRK_THREADS=str(threads), **env)
    out = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=seconds + 120)
    return parse(out.stdout + out.stderr, log_path, " ".join(cmd))


def parse(text, log_path, cmd):
    with open(log_path, "w") as f:
        f.write(cmd + "\n" + text)
    lines = [line for line in text.splitlines() if line.startswith("BENCH_JSON ")]
    if not lines:
        raise RuntimeError(f"wrk gave no summary ({log_path}): {text[-500:]}")
    s = json.loads(lines[-1][len("BENCH_JSON "):])
    # Per-status counts exist only for scripts with their own response() hook (populate.lua);
    # the others rely on wrk's own count of non-2xx/3xx answers, which costs the client nothing.
    statuses = {k[7:]: v for k, v in s["counters"].items() if k.startswith("status_")}
    non_2xx = s["errors"]["status"] if not statuses else sum(v for k, v in statuses.items() if not k.startswith("2"))
    socket_errors = {k: v for k, v in s["errors"].items() if k != "status" and v}
    lat = s["latency_us"]
    return {
        "requests": s["requests"], "duration_s": s["duration_us"] / 1e6,
        "req_per_s": s["requests"] / (s["duration_us"] / 1e6),
        "p50_ms": lat["p50"] / 1e3, "p90_ms": lat["p90"] / 1e3, "p99_ms": lat["p99"] / 1e3,
        "mean_ms": lat["mean"] / 1e3, "max_ms": lat["max"] / 1e3,
        "statuses": statuses, "non_2xx": non_2xx, "socket_errors": socket_errors,
        "errors": non_2xx + sum(socket_errors.values()),
        "counters": {k: v for k, v in s["counters"].items() if not k.startswith("status_")},
        "unanswered_at_end": s["counters"].get("sent", 0) - (sum(statuses.values()) if statuses else s["requests"]),
    }


def fill(url, exp_id, n_runs, conns, bound_s, timeout_s, log_path, note=print):
    """Fill exp_id with n_runs runs (10 metrics, 3 params each) through lua/populate.lua; returns
    run()'s figures plus wall_s, the seconds until every wrk thread had logged its share."""
    threads = min(2, n_runs)
    conns = max(threads, min(conns, n_runs))
    done_dir = tempfile.mkdtemp(prefix="bench-done-")
    env = dict(os.environ, BENCH_LUA_DIR=LUA, BENCH_WRK_THREADS=str(threads), BENCH_DONE_DIR=done_dir,
               BENCH_EXPERIMENT_ID=exp_id, BENCH_POP_RUNS=str(n_runs))
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{bound_s}s", f"--timeout={timeout_s}s",
           "-s", os.path.join(LUA, "populate.lua"), url]
    t0 = last_note = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        while proc.poll() is None and len(glob.glob(os.path.join(done_dir, "done.*"))) < threads:
            time.sleep(0.05)
            if time.monotonic() - last_note > 30:
                last_note = time.monotonic()
                note(f"  filling... {last_note - t0:.0f} s")
        elapsed = time.monotonic() - t0
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # every thread is done: end wrk now (it prints its summary)
        text, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in glob.glob(os.path.join(done_dir, "done.*")):
            os.remove(f)
        os.rmdir(done_dir)
    r = parse(text, log_path, " ".join(cmd))
    r["wall_s"] = elapsed
    return r
