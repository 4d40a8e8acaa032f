"""A model trained by `esteira train --server` is an ordinary MLflow run and model to the mlflow client:
params and metrics on the run, the model directory downloadable by its models:/ URI, and an MLmodel
that mlflow parses with its signature and input example."""

import json
import os
import subprocess
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.models import Model

from conftest import ROOT, unique_name

pytestmark = pytest.mark.esteira_only


def sales(days: int) -> pd.DataFrame:
    rows = []
    for i, sid in enumerate(["north/bread", "south/milk"]):
        for d in range(days):
            rows.append({"store_item": sid, "date": (pd.Timestamp("2024-01-01") + pd.Timedelta(days=d)).date(),
                         "units": 40 + 10 * i + [0, 3, 5, 2, -1, -4, -5][d % 7] + 0.03 * d})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def trained(tracking_uri, tmp_path_factory):
    work = tmp_path_factory.mktemp("train")
    data = work / "sales.parquet"
    sales(120).to_parquet(data)
    name = unique_name("demand")
    binary = os.environ.get("ESTEIRA_BIN") or str(ROOT / "target" / "debug" / "esteira")
    out = subprocess.run(
        [binary, "train", "--data", str(data), "--id", "store_item", "--time", "date", "--target", "units",
         "--horizon", "14", "--method", "auto", "--server", tracking_uri, "--experiment", unique_name("train"),
         "--register", name, "--json"],
        cwd=work, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    return {"summary": json.loads(out.stdout), "name": name, "work": work}


def test_the_training_run_has_params_and_backtest_metrics(client, trained):
    run = client.get_run(trained["summary"]["run_id"])
    assert run.info.status == "FINISHED"
    assert run.data.params["method"] == "auto"
    assert run.data.params["horizon"] == "14"
    assert run.data.metrics["series"] == 2
    assert 0 < run.data.metrics["backtest_smape_mean"] < 20


def test_the_registered_model_downloads_and_parses(client, trained):
    version = client.get_model_version(trained["name"], "1")
    assert version.run_id == trained["summary"]["run_id"]
    local = mlflow.artifacts.download_artifacts(f"models:/{trained['name']}/1", dst_path=str(trained["work"] / "dl"))
    files = sorted(p.name for p in Path(local).iterdir())
    assert {"MLmodel", "esteira.json", "input_example.json", "model.json"} <= set(files)
    model = Model.load(local)
    assert "esteira" in model.flavors
    assert model.flavors["esteira"]["format_version"] == 1
    inputs = [c["name"] for c in model.signature.inputs.to_dict()]
    outputs = [c["name"] for c in model.signature.outputs.to_dict()]
    assert inputs == ["store_item", "horizon"]
    assert outputs[:4] == ["store_item", "date", "step", "forecast"]
    example = model.load_input_example(local)
    assert list(example.columns) == ["store_item", "horizon"]
    assert sorted(example["store_item"]) == ["north/bread", "south/milk"]


def test_model_info_by_run_uri(trained):
    info = mlflow.models.get_model_info(f"runs:/{trained['summary']['run_id']}/model")
    assert info.signature is not None
    assert info.flavors["esteira"]["model_kind"] == "forecast"
