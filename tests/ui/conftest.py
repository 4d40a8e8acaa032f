"""Fixtures for the web UI's browser test.

One `esteira server` (SQLite + local artifacts in a temp dir) is seeded the way a user would:
runs through the real `mlflow` client, a registered model with an alias, a pipeline run of two
command steps (`esteira pipeline deploy` and `esteira pipeline run`), and a files monitor
evaluated over five days (`esteira monitor deploy`, `esteira monitor run --at`). Headless
Chromium (Debian's `chromium` and `chromium-driver`) then loads the pages.

The server and chromedriver run in their own process groups; their ids are appended to
$ESTEIRA_COMPAT_PIDFILE when set, so scripts/test.sh kills them after a crash.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "target" / "ui-screenshots"
HOSTILE = "<script>alert(1)</script>"  # also in test_ui.py

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME",
             "MLFLOW_RUN_ID", "ESTEIRA_CONFIG", "ESTEIRA_STORE", "ESTEIRA_ARTIFACTS", "ESTEIRA_AUTH_TOKENS",
             "ESTEIRA_AUTH_TOKEN_FILE", "ESTEIRA_SERVER", "ESTEIRA_TOKEN"):
    os.environ.pop(_var, None)

from mlflow import MlflowClient  # noqa: E402  (after the environment above)

PIPELINE = """
[pipeline]
name = "ui-tiny"

[steps.prepare]
command = ["sh", "-c", "echo preparing; echo rows > \\"$ESTEIRA_OUTPUT_DATA\\""]
outputs = { data = "file" }

[steps.train]
command = ["sh", "-c", "echo training; cp \\"$ESTEIRA_INPUT_DATA\\" \\"$ESTEIRA_OUTPUT_MODEL\\""]
inputs = { data = "prepare.data" }
outputs = { model = "file" }

[[triggers]]
name = "monitor"
type = "hook"
"""

MONITORS = """
[[monitor]]
name = "ui-inputs"
files = "live/*.csv"
time_column = "date"
every = "1d"

[monitor.drift]
reference = "train.csv"
columns = ["price", "promo"]

[[policy]]
name = "ui-retrain"
pipeline = "ui-tiny"
cooldown = "2d"
rules = [{ monitor = "ui-inputs", when = "drift_share >= 1" }]
"""


def _binary() -> str:
    binary = os.environ.get("ESTEIRA_BIN") or str(ROOT / "target" / "debug" / "esteira")
    if not Path(binary).exists():
        pytest.exit(f"esteira binary {binary} not found: run `cargo build -p esteira` or set ESTEIRA_BIN", returncode=3)
    return binary


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _record_pid(pid: int) -> None:
    if pidfile := os.environ.get("ESTEIRA_COMPAT_PIDFILE"):
        with open(pidfile, "a") as f:
            f.write(f"{pid}\n")


def _stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _write_days(path: Path, first_day: int, days: int, price: float, promo_share: float, seed: int) -> None:
    """A CSV of 200 rows per day from 2025-01-01 + first_day: a price level and a promotion share."""
    rng = np.random.default_rng(seed)
    lines = ["date,price,promo"]
    for day in range(first_day, first_day + days):
        date = (np.datetime64("2025-01-01") + np.timedelta64(day, "D")).astype(str)
        for p, promo in zip(price + rng.normal(size=200), rng.random(200) < promo_share):
            lines.append(f"{date},{p:.4f},{'yes' if promo else 'no'}")
    path.write_text("\n".join(lines) + "\n")


@dataclass
class Seeded:
    url: str
    experiment_id: str
    hostile_experiment_id: str
    run_ids: dict[str, str]
    pipeline_run_id: str
    model: str = "ui-model"
    pipeline: str = "ui-tiny"
    monitor: str = "ui-inputs"
    pages: dict[str, str] = field(default_factory=dict)


def _cli(args: list[str], cwd: Path) -> str:
    done = subprocess.run([_binary(), *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")})
    assert done.returncode == 0, f"esteira {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _seed_tracking(url: str) -> tuple[str, str, dict[str, str]]:
    client = MlflowClient(tracking_uri=url, registry_uri=url)
    experiment_id = client.create_experiment("ui-demand")
    run_ids = {}
    for name, alpha, final in [("ridge-a", 0.1, 0.42), ("ridge-b", 0.5, 0.55), ("ridge-c", 1.0, 0.61)]:
        run = client.create_run(experiment_id, run_name=name)
        client.log_param(run.info.run_id, "alpha", alpha)
        for step in range(5):
            client.log_metric(run.info.run_id, "rmse", final + (4 - step) * 0.1, step=step)
        client.set_terminated(run.info.run_id)
        run_ids[name] = run.info.run_id
    hostile = client.create_experiment(HOSTILE)
    client.set_terminated(client.create_run(hostile, run_name=HOSTILE).info.run_id)
    client.create_registered_model("ui-model")
    for name in ("ridge-a", "ridge-b"):
        client.create_model_version("ui-model", f"runs:/{run_ids[name]}/model", run_id=run_ids[name])
    client.set_registered_model_alias("ui-model", "champion", "2")
    return experiment_id, hostile, run_ids


def _seed_pipeline_and_monitor(work: Path, store: str, artifacts: str) -> str:
    (work / "pipeline.toml").write_text(PIPELINE)
    where = ["--store", store, "--artifacts", artifacts]
    _cli(["pipeline", "deploy", "pipeline.toml", *where], work)
    out = _cli(["pipeline", "run", "pipeline.toml", "--json", *where], work)
    import json
    run_id = json.loads(out)["run"]["run_id"]
    (work / "live").mkdir()
    # 800 reference rows: at most 1000, so price is tested with Kolmogorov-Smirnov and promo
    # with chi-square (Evidently's choice), each at p < 0.05.
    _write_days(work / "train.csv", -4, 4, 10.0, 0.2, seed=1)
    # Days 0-1 as in training; prices jump from day 2 on; promotions from day 3 on.
    for day, (price, promo) in enumerate([(10.0, 0.2), (10.0, 0.2), (12.0, 0.2), (12.0, 0.7), (12.0, 0.7)]):
        _write_days(work / "live" / f"day{day}.csv", day, 1, price, promo, seed=100 + day)
    (work / "monitors.toml").write_text(MONITORS)
    _cli(["monitor", "deploy", "monitors.toml", *where], work)
    _cli(["monitor", "run", "--at", "2025-01-02", *where], work)
    _cli(["monitor", "run", "--at", "2025-01-06", *where], work)
    return run_id


@pytest.fixture(scope="session")
def seeded():
    data_dir = Path(tempfile.mkdtemp(prefix="esteira-ui-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(data_dir / "server.log", "wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    proc = subprocess.Popen(
        [_binary(), "server", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir / "data"),
         "--workers", "0"],
        cwd=data_dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    _record_pid(proc.pid)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.exit(f"esteira server did not start:\n{(data_dir / 'server.log').read_text()[-3000:]}", 3)
            try:
                if requests.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        experiment_id, hostile_id, run_ids = _seed_tracking(url)
        store = f"sqlite://{data_dir / 'data' / 'esteira.db'}"
        work = data_dir / "work"
        work.mkdir()
        pipeline_run = _seed_pipeline_and_monitor(work, store, str(data_dir / "data" / "artifacts"))
        yield Seeded(url, experiment_id, hostile_id, run_ids, pipeline_run)
    finally:
        _stop_group(proc)
        log.close()
        if os.environ.get("ESTEIRA_UI_KEEP"):
            print(f"\nUI test data kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.exit("chromium and chromedriver are needed: run scripts/setup.sh (apt: chromium chromium-driver)", 3)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver, popen_kw={"start_new_session": True})
    driver = webdriver.Chrome(service=service, options=options)
    _record_pid(service.process.pid)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()
        _stop_group(service.process)
