"""`esteira serve` speaks MLflow's scoring protocol: MLflow's own scoring client (the one its
`models serve` tests use) sends a pandas DataFrame and gets scikit-learn's predictions back,
from a GradientBoostingRegressor exported to ONNX."""

import json
import os
import socket
import subprocess
import time

import pandas as pd
import pytest
from mlflow.pyfunc.scoring_server.client import ScoringServerClient

from conftest import ROOT

pytestmark = pytest.mark.esteira_only

FIXTURES = ROOT / "crates" / "esteira-ml" / "tests" / "fixtures" / "onnx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    binary = os.environ.get("ESTEIRA_BIN") or str(ROOT / "target" / "debug" / "esteira")
    port = free_port()
    work = tmp_path_factory.mktemp("serve")
    proc = subprocess.Popen(
        [binary, "serve", str(FIXTURES / "gbr.onnx"), "--host", "127.0.0.1", "--port", str(port)],
        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    pidfile = os.environ.get("ESTEIRA_COMPAT_PIDFILE")
    if pidfile:
        with open(pidfile, "a") as f:
            f.write(f"{proc.pid}\n")
    try:
        deadline = time.time() + 60
        for line in proc.stdout:
            if line.startswith("Esteira scoring server listening on "):
                break
            assert time.time() < deadline, "esteira serve did not start"
        yield ScoringServerClient("127.0.0.1", port)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_mlflows_scoring_client_gets_scikit_learns_predictions(served):
    inputs = json.loads((FIXTURES / "inputs.json").read_text())
    expected = json.loads((FIXTURES / "gbr.expected.json").read_text())["variable"]
    frame = pd.DataFrame(inputs["rows"], columns=inputs["columns"])
    served.wait_server_ready(timeout=30)
    response = served.invoke(frame)
    got = response.get_predictions(predictions_format="ndarray").ravel()
    assert len(got) == 1000
    for g, w in zip(got, expected):
        assert abs(g - w) <= max(1e-5 * abs(w), 1e-6)
