"""Logging a scikit-learn model (MLflow 3 logged models), registering it, loading it back."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.models import Model
from sklearn.linear_model import LinearRegression

from conftest import unique_name

X = pd.DataFrame({"x1": [0.0, 1.0, 2.0, 3.0, 4.0], "x2": [1.0, 0.0, 1.0, 0.0, 1.0]})
Y = 2 * X["x1"] - 3 * X["x2"] + 1


@pytest.fixture(scope="module")
def logged(tracking_uri):
    """A LinearRegression logged with log_model and registered as version 1 of a fresh model."""
    mlflow.set_tracking_uri(tracking_uri)
    experiment = mlflow.set_experiment(unique_name("models"))
    model = LinearRegression().fit(X, Y)
    name = unique_name("sk-model")
    with mlflow.start_run() as run:
        mlflow.log_param("fit_intercept", True)
        mlflow.log_metric("r2", model.score(X, Y))
        info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name, input_example=X.head(2))
    return {"model": model, "name": name, "run_id": run.info.run_id, "info": info,
            "experiment_id": experiment.experiment_id}


def test_log_model_registers_version_one(client, logged):
    version = client.get_model_version(logged["name"], "1")
    assert version.run_id == logged["run_id"]
    assert version.status == "READY"
    assert str(logged["info"].registered_model_version) == "1"


def test_log_model_returns_model_info_with_signature(logged):
    info = logged["info"]
    assert info.model_uri
    assert info.model_id
    assert info.run_id == logged["run_id"]
    assert info.flavors.keys() >= {"sklearn", "python_function"}
    assert [c["name"] for c in info.signature.inputs.to_dict()] == ["x1", "x2"]


def test_logged_model_is_visible_to_search_and_get(logged):
    model_id = logged["info"].model_id
    found = mlflow.search_logged_models(experiment_ids=[logged["experiment_id"]], output_format="list")
    assert [m.model_id for m in found] == [model_id]
    model = mlflow.get_logged_model(model_id)
    assert model.name == "model"
    assert model.experiment_id == logged["experiment_id"]
    assert model.source_run_id == logged["run_id"]
    assert str(model.status) in ("READY", "LoggedModelStatus.READY")
    assert model.artifact_location


def test_log_model_links_run_metrics_without_duplicating_history(client, logged):
    # log_model re-sends the run's metrics through log-batch with a model_id.
    r2 = logged["model"].score(X, Y)
    model = mlflow.get_logged_model(logged["info"].model_id)
    assert {m.key: m.value for m in model.metrics or []} == {"r2": r2}
    history = client.get_metric_history(logged["run_id"], "r2")
    assert [(m.step, m.value) for m in history] == [(0, r2)]


def test_search_logged_models_dataframe_and_filter(logged):
    frame = mlflow.search_logged_models(experiment_ids=[logged["experiment_id"]], filter_string="name = 'model'")
    assert list(frame["model_id"]) == [logged["info"].model_id]
    none = mlflow.search_logged_models(experiment_ids=[logged["experiment_id"]], filter_string="name = 'other'")
    assert len(none) == 0


def test_logged_model_files_can_be_listed_and_read(logged, tmp_path):
    uri = logged["info"].model_uri
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path))
    mlmodel = Model.load(local)
    assert "sklearn" in mlmodel.flavors
    assert mlmodel.model_id == logged["info"].model_id


def test_load_model_by_model_uri_predicts_like_sklearn(logged):
    loaded = mlflow.pyfunc.load_model(logged["info"].model_uri)
    np.testing.assert_allclose(loaded.predict(X), logged["model"].predict(X))


def test_load_model_by_version_and_alias_predicts_like_sklearn(client, logged):
    name = logged["name"]
    client.set_registered_model_alias(name, "champion", "1")
    expected = logged["model"].predict(X)
    for uri in (f"models:/{name}@champion", f"models:/{name}/1", f"models:/{name}/latest"):
        np.testing.assert_allclose(mlflow.pyfunc.load_model(uri).predict(X), expected, err_msg=uri)


def test_load_sklearn_flavor_from_registry(logged):
    model = mlflow.sklearn.load_model(f"models:/{logged['name']}/1")
    np.testing.assert_allclose(model.coef_, logged["model"].coef_)


def test_model_version_download_uri_holds_mlmodel(client, logged):
    uri = client.get_model_version_download_uri(logged["name"], "1")
    assert "sklearn" in mlflow.artifacts.load_text(f"{uri.rstrip('/')}/MLmodel")


def test_logging_the_model_again_increments_the_version(client, logged, tracking_uri):
    with mlflow.start_run(experiment_id=logged["experiment_id"]):
        info = mlflow.sklearn.log_model(logged["model"], name="model", registered_model_name=logged["name"])
    assert str(info.registered_model_version) == "2"
    latest = client.search_model_versions(f"name = '{logged['name']}'", order_by=["version_number DESC"])
    assert [v.version for v in latest] == ["2", "1"]
    # In MLflow 3 a version registered from log_model points at the logged model, not at the run.
    assert client.get_model_version(logged["name"], "2").source == f"models:/{info.model_id}"
    assert client.get_model_version(logged["name"], "1").source == f"models:/{logged['info'].model_id}"


def test_register_model_from_logged_model_uri(client, logged):
    name = unique_name("registered-later")
    version = mlflow.register_model(logged["info"].model_uri, name)
    assert version.version == "1"
    assert client.get_model_version(name, "1").run_id == logged["run_id"]
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/1")
    np.testing.assert_allclose(loaded.predict(X), logged["model"].predict(X))


def test_get_missing_logged_model_fails(tracking_uri):
    with pytest.raises(mlflow.exceptions.MlflowException) as excinfo:
        MlflowClient(tracking_uri).get_logged_model("m-" + "0" * 32)
    assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"
