"""Start and stop the servers under test: each on a fresh data dir, a free loopback port, its own
session; ready when GET /health answers 200. Stopping signals every PID of the tree by its id."""
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.request

from proctree import RssSampler, loadavg, tree_cpu_s, tree_pids, wait_quiet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLFLOW = os.path.join(ROOT, ".venv", "bin", "mlflow")
MLFLOW_CMD = (MLFLOW + " server --backend-store-uri sqlite:///{data_dir}/mlflow.db"
              " --artifacts-destination {data_dir}/art --host 127.0.0.1 --port {port}")


def server_specs():
    """[(key, label, command template)] in the order they are run; MLflow ones unless skipped."""
    specs = []
    if os.environ.get("BENCH_SKIP_MLFLOW") != "1":
        specs.append(("mlflow", "MLflow (default)", MLFLOW_CMD))
        specs.append(("mlflow_w1", "MLflow (--workers 1)", MLFLOW_CMD + " --workers 1"))
    cmd = os.environ.get("ESTEIRA_SERVER_CMD")
    if not cmd:
        binary = os.environ.get("ESTEIRA_BIN", os.path.join(ROOT, "target", "release", "esteira"))
        cmd = shlex.quote(binary) + " server --host 127.0.0.1 --port {port} --data-dir {data_dir}"
    specs.append(("esteira", "Esteira", cmd))
    return specs


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, key, label, template, data_dir, log_path):
        self.key, self.label, self.template = key, label, template
        self.data_dir, self.log_path = data_dir, log_path
        self.proc = self.sampler = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    @property
    def pid(self):
        return self.proc.pid

    def start(self, timeout_s=180):
        os.makedirs(self.data_dir, exist_ok=False)  # fresh, never reused
        os.makedirs(os.path.join(self.data_dir, "art"))
        argv = shlex.split(self.template.format(port=self.port, data_dir=self.data_dir, root=ROOT))
        self.log = open(self.log_path, "w")
        t0 = time.monotonic()
        env = dict(os.environ)
        if self.key.startswith("mlflow") and os.environ.get("BENCH_MLFLOW_JOBS") == "0":
            env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job runner + huey consumers
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=self.data_dir, env=env)
        while time.monotonic() - t0 < timeout_s:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.02)
        else:
            self.stop()
            raise RuntimeError(f"{self.label} not healthy after {timeout_s} s; see {self.log_path}")
        self.startup_s = time.monotonic() - t0
        wait_quiet(self.pid, max_s=30)  # workers / job runners finish starting before anything is measured
        cpu0 = tree_cpu_s(self.pid)
        time.sleep(3)
        self.idle_cpu_pct = (tree_cpu_s(self.pid) - cpu0) / 3 * 100
        self.sampler = RssSampler(self.pid)
        self.idle_rss_kib = self.sampler.phase()
        self.idle_procs = self.sampler.max_procs
        self.sampler.start()
        self.load_at_start = loadavg()
        return self

    def stop(self, grace_s=15):
        if self.sampler:
            self.sampler.stop()
        if not self.proc or self.proc.poll() is not None:
            return
        pids = tree_pids(self.pid)
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and (self.proc.poll() is None or any(map(_alive, pids))):
            time.sleep(0.1)
        for pid in pids:
            if _alive(pid):
                _signal(pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
