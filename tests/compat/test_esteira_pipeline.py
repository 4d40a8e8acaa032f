"""A pipeline deployed to esteira's server and executed by its in-process worker is, to the mlflow
client, an ordinary run with one nested run per step: the steps' params, metrics (including one a
Python step logged itself with mlflow.log_metric) and output artifacts are where MLflow puts them."""

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import pytest

from conftest import ROOT, unique_name

pytestmark = pytest.mark.esteira_only

STEP = """
import os, mlflow
with open(os.environ["ESTEIRA_INPUT_DATA"]) as f:
    rows = sum(1 for _ in f) - 1
with open(os.environ["ESTEIRA_OUTPUT_COUNT"], "w") as f:
    f.write(f"{rows}\\n")
mlflow.log_metric("rows_seen", rows)
mlflow.log_param("seen_by", "python")
"""


def pipeline_toml(name: str) -> str:
    return f"""
[pipeline]
name = "{name}"

[steps.count]
command = ["{sys.executable}", "count.py"]
inputs = {{ data = "./data.csv" }}
outputs = {{ count = "file" }}

[steps.summary]
command = ["sh", "-c", "cp $ESTEIRA_INPUT_COUNT $ESTEIRA_OUTPUT_COPY"]
inputs = {{ count = "count.count" }}
outputs = {{ copy = "file" }}

[[triggers]]
name = "go"
type = "hook"
"""


def esteira(*args: str, cwd) -> dict:
    binary = os.environ.get("ESTEIRA_BIN") or str(ROOT / "target" / "debug" / "esteira")
    out = subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def run_details(tracking_uri: str, run_id: str) -> dict:
    with urllib.request.urlopen(f"{tracking_uri}/api/2.0/esteira/pipelines/runs/get?run_id={run_id}") as r:
        return json.load(r)


@pytest.fixture(scope="module")
def finished(tracking_uri, tmp_path_factory):
    work = tmp_path_factory.mktemp("pipeline")
    name = unique_name("pipe")
    (work / "data.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    (work / "count.py").write_text(STEP)
    (work / "pipeline.toml").write_text(pipeline_toml(name))
    esteira("pipeline", "deploy", "pipeline.toml", "--server", tracking_uri, "--json", cwd=work)
    fired = esteira("pipeline", "trigger", name, "--hook", "go", "--server", tracking_uri, "--json", cwd=work)
    deadline = time.time() + 120
    while True:
        details = run_details(tracking_uri, fired["run_id"])
        if details["run"]["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            break
        assert time.time() < deadline, details
        time.sleep(0.2)
    assert details["run"]["status"] == "SUCCEEDED", details
    return {"name": name, "details": details, "work": work}


def test_the_pipeline_run_and_its_steps_are_nested_mlflow_runs(client, finished):
    experiment = client.get_experiment_by_name(finished["name"])
    runs = client.search_runs([experiment.experiment_id])
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_id for r in parent] == [finished["details"]["run"]["run_id"]]
    assert parent[0].info.status == "FINISHED"
    assert parent[0].data.tags["esteira.pipeline"] == finished["name"]
    children = {r.data.tags["esteira.step"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert sorted(children) == ["count", "summary"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent[0].info.run_id for r in children.values())
    assert all(r.info.status == "FINISHED" for r in children.values())


def test_a_python_step_logs_to_its_own_run_with_the_mlflow_client(client, finished):
    runs = client.search_runs([client.get_experiment_by_name(finished["name"]).experiment_id],
                              filter_string="tags.`esteira.step` = 'count'")
    assert len(runs) == 1
    assert runs[0].data.metrics["rows_seen"] == 3
    assert runs[0].data.params["seen_by"] == "python"


def test_step_outputs_download_through_the_mlflow_client(client, finished):
    summary = next(s for s in finished["details"]["steps"] if s["step"] == "summary")
    execution = summary["execution_id"]
    local = mlflow.artifacts.download_artifacts(
        run_id=summary["mlflow_run_id"], artifact_path=f"outputs/{execution}/copy",
        dst_path=str(finished["work"] / "dl"))
    assert Path(local).read_text() == "3\n"
    listed = [f.path for f in client.list_artifacts(summary["mlflow_run_id"], f"outputs/{execution}")]
    assert listed == [f"outputs/{execution}/copy"]
