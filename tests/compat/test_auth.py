"""Bearer-token auth (esteira only): a server started with ESTEIRA_AUTH_TOKENS=secret1,secret2."""

import mlflow
import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from conftest import unique_name

pytestmark = pytest.mark.esteira_only


def test_api_call_without_token_is_401_with_json_body(auth_server_uri):
    response = requests.get(
        f"{auth_server_uri}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, timeout=10
    )
    assert response.status_code == 401
    assert response.json()["error_code"]


def test_artifact_route_without_token_is_401(auth_server_uri):
    response = requests.get(f"{auth_server_uri}/api/2.0/mlflow-artifacts/artifacts", params={"path": "0"}, timeout=10)
    assert response.status_code == 401


def test_wrong_token_is_401(auth_server_uri):
    response = requests.get(
        f"{auth_server_uri}/api/2.0/mlflow/experiments/get",
        params={"experiment_id": "0"},
        headers={"Authorization": "Bearer not-a-secret"},
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error_code"]


def test_client_with_wrong_token_fails(auth_server_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "wrong")
    with pytest.raises(MlflowException):
        MlflowClient(auth_server_uri).create_experiment(unique_name("denied"))


@pytest.mark.parametrize("token", ["secret1", "secret2"])
def test_client_with_token_works(auth_server_uri, monkeypatch, tmp_path, token):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    mlflow.set_tracking_uri(auth_server_uri)
    client = MlflowClient(auth_server_uri)
    experiment_id = client.create_experiment(unique_name("auth"))
    (tmp_path / "a.txt").write_text("secret artifact")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metric("m", 1.5)
        mlflow.log_artifact(str(tmp_path / "a.txt"))
    assert client.get_run(run.info.run_id).data.metrics == {"m": 1.5}
    assert mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/a.txt") == "secret artifact"


def test_health_needs_no_token(auth_server_uri):
    assert requests.get(f"{auth_server_uri}/health", timeout=10).status_code == 200
