"""Fixtures for the MLflow client compatibility suite.

The suite drives a tracking server with the real `mlflow` client. Which server:

    ESTEIRA_COMPAT_TARGET=esteira (default)  the esteira binary ($ESTEIRA_BIN, default target/debug/esteira),
                                             with --store $ESTEIRA_COMPAT_STORE and --artifacts
                                             $ESTEIRA_COMPAT_ARTIFACTS when those are set
    ESTEIRA_COMPAT_TARGET=mlflow             MLflow's own `mlflow server` (SQLite + proxied artifacts),
                                             to prove the tests themselves are right

Tests marked `esteira_only` are skipped against MLflow's server.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
TARGET = os.environ.get("ESTEIRA_COMPAT_TARGET", "esteira")
HEALTH_TIMEOUT_S = 60

# Fail fast instead of retrying a broken server for minutes; must be set before requests are made.
# The client would otherwise try to reach MLflow's telemetry host; tests talk to loopback only.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
# Credentials from the outer environment must not leak into the client under test.
for _var in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME",
             "MLFLOW_TRACKING_PASSWORD", "MLFLOW_REGISTRY_URI", "MLFLOW_EXPERIMENT_ID",
             "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
    os.environ.pop(_var, None)
os.environ.setdefault("MPLBACKEND", "Agg")

import mlflow  # noqa: E402  (after the environment above)
from mlflow import MlflowClient  # noqa: E402


def _terminate_like_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    # SIGTERM (a timeout, a CI cancel) then tears fixtures down, so no server outlives the session.
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate_like_interrupt)
    config.addinivalue_line(
        "markers", "esteira_only: behaviour only esteira has (skipped when ESTEIRA_COMPAT_TARGET=mlflow)"
    )
    if TARGET not in ("esteira", "mlflow"):
        raise pytest.UsageError(f"ESTEIRA_COMPAT_TARGET must be 'esteira' or 'mlflow', not {TARGET!r}")


def pytest_collection_modifyitems(config, items):
    if TARGET == "esteira":
        return
    skip = pytest.mark.skip(reason="esteira-only behaviour; target is MLflow's own server")
    for item in items:
        if "esteira_only" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return f"compat target: {TARGET}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# esteira's own configuration variables: the suite passes what it means as flags, nothing leaks in.
_ESTEIRA_CONFIG_VARS = {
    "ESTEIRA_CONFIG", "ESTEIRA_HOST", "ESTEIRA_PORT", "ESTEIRA_DATA_DIR", "ESTEIRA_STORE", "ESTEIRA_ARTIFACTS",
    "ESTEIRA_AUTH_TOKEN_FILE", "ESTEIRA_AUTH_TOKENS", "ESTEIRA_MAX_BODY_BYTES",
}


def _server_environment() -> dict[str, str]:
    """The environment for a server: ours, less client settings and esteira configuration."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_") and k not in _ESTEIRA_CONFIG_VARS}


class Server:
    """A server process in its own process group, with its data in a temp dir."""

    def __init__(self, name: str):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"esteira-compat-{name}-"))
        self.log_path = self.data_dir / "server.log"
        self.proc: subprocess.Popen | None = None

    def start(self, cmd: list[str], env: dict[str, str] | None = None) -> "Server":
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                cwd=self.data_dir,
                env={**_server_environment(), **(env or {})},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # scripts/test.sh kills whatever is listed here if the run is interrupted.
        if pidfile := os.environ.get("ESTEIRA_COMPAT_PIDFILE"):
            with open(pidfile, "a") as f:
                f.write(f"{self.proc.pid}\n")
        try:
            self._wait_healthy(cmd)
        except BaseException:  # interrupted while waiting: do not leak the process
            self.stop()
            raise
        return self

    def _wait_healthy(self, cmd: list[str]) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        log = self.log_path.read_text(errors="replace")[-4000:]
        self.stop()
        pytest.exit(f"{self.name} server did not become healthy: {' '.join(cmd)}\n--- log ---\n{log}", returncode=3)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            except ProcessLookupError:
                pass
        if os.environ.get("ESTEIRA_COMPAT_KEEP"):
            print(f"\n{self.name} server data kept in {self.data_dir}")
        else:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def esteira_command(server: Server, store: str | None, artifacts: str | None) -> list[str]:
    binary = os.environ.get("ESTEIRA_BIN") or str(ROOT / "target" / "debug" / "esteira")
    if not Path(binary).exists():
        pytest.exit(f"esteira binary {binary} not found: run `cargo build -p esteira` or set ESTEIRA_BIN", returncode=3)
    cmd = [binary, "server", "--host", "127.0.0.1", "--port", str(server.port), "--data-dir", str(server.data_dir)]
    if store:
        cmd += ["--store", store]
    if artifacts:
        cmd += ["--artifacts", artifacts]
    return cmd


def mlflow_command(server: Server) -> list[str]:
    return [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{server.data_dir}/mlflow.db",
        "--artifacts-destination", str(server.data_dir / "artifacts"),
        "--host", "127.0.0.1", "--port", str(server.port), "--workers", "1",
    ]


@pytest.fixture(scope="session")
def tracking_uri():
    """The base URL of the server under test, started for the session and stopped at its end."""
    server = Server(TARGET)
    if TARGET == "mlflow":
        # No background job runners (seven extra processes) for a test server.
        server.start(mlflow_command(server), env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    else:
        store, artifacts = os.environ.get("ESTEIRA_COMPAT_STORE"), os.environ.get("ESTEIRA_COMPAT_ARTIFACTS")
        server.start(esteira_command(server, store, artifacts))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def auth_server_uri():
    """A second esteira server (SQLite + local artifacts) that requires a bearer token."""
    if TARGET != "esteira":
        pytest.skip("auth tokens are esteira-only")
    server = Server("esteira-auth")
    server.start(esteira_command(server, None, None), env={"ESTEIRA_AUTH_TOKENS": "secret1,secret2"})
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _client_points_at_server(request, monkeypatch):
    """Points the mlflow fluent API at the session server; ends any run a test left open."""
    if "auth_server_uri" not in request.fixturenames:
        mlflow.set_tracking_uri(request.getfixturevalue("tracking_uri"))
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture
def client(tracking_uri) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def experiment_id(request, tracking_uri) -> str:
    """A fresh experiment, made the active one for the fluent API."""
    name = unique_name(f"compat-{request.node.name[:40]}")
    return mlflow.set_experiment(name).experiment_id
