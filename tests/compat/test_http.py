"""The raw HTTP surface under the client: health, routing, error bodies, the UI's ajax-api prefix."""

import pytest
import requests

from conftest import unique_name

JSON = {"Content-Type": "application/json"}


def test_health_is_200(tracking_uri):
    assert requests.get(f"{tracking_uri}/health", timeout=10).status_code == 200


@pytest.mark.esteira_only
def test_unknown_api_route_is_404_endpoint_not_found(tracking_uri):
    response = requests.get(f"{tracking_uri}/api/2.0/mlflow/does-not-exist", timeout=10)
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"


def test_malformed_json_body_is_400_with_json_error(tracking_uri):
    response = requests.post(
        f"{tracking_uri}/api/2.0/mlflow/experiments/create", data=b"{not json", headers=JSON, timeout=10
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"]
    assert body["message"]


def test_wrong_type_in_body_is_400_invalid_parameter_value(tracking_uri):
    response = requests.post(
        f"{tracking_uri}/api/2.0/mlflow/experiments/create", json={"name": 5}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_missing_resource_is_404_with_json_error(tracking_uri):
    response = requests.get(
        f"{tracking_uri}/api/2.0/mlflow/experiments/get", params={"experiment_id": "424242"}, timeout=10
    )
    assert response.status_code == 404
    assert response.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"


def test_ajax_api_prefix_serves_the_same_api(tracking_uri):
    name = unique_name("ajax")
    created = requests.post(f"{tracking_uri}/ajax-api/2.0/mlflow/experiments/create", json={"name": name}, timeout=10)
    assert created.status_code == 200
    experiment_id = created.json()["experiment_id"]
    for prefix in ("ajax-api", "api"):
        response = requests.get(
            f"{tracking_uri}/{prefix}/2.0/mlflow/experiments/get-by-name", params={"experiment_name": name}, timeout=10
        )
        assert response.status_code == 200
        experiment = response.json()["experiment"]
        assert experiment["experiment_id"] == experiment_id
        assert experiment["name"] == name


def test_json_shapes_match_mlflow(tracking_uri):
    """Ids are strings, timestamps are JSON numbers, tags are key/value lists: what the client parses."""
    experiment_id = requests.post(
        f"{tracking_uri}/api/2.0/mlflow/experiments/create", json={"name": unique_name("shape")}, timeout=10
    ).json()["experiment_id"]
    assert isinstance(experiment_id, str)
    run = requests.post(
        f"{tracking_uri}/api/2.0/mlflow/runs/create",
        json={"experiment_id": experiment_id, "start_time": 1_700_000_000_000, "tags": [{"key": "k", "value": "v"}]},
        timeout=10,
    ).json()["run"]
    assert run["info"]["run_id"] == run["info"]["run_uuid"]
    assert run["info"]["start_time"] == 1_700_000_000_000
    assert run["info"]["status"] == "RUNNING"
    assert {"key": "k", "value": "v"} in run["data"]["tags"]


def test_get_endpoint_takes_query_parameters(tracking_uri):
    response = requests.get(f"{tracking_uri}/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"}, timeout=10)
    assert response.status_code == 200
    assert response.json()["experiment"]["name"] == "Default"


def test_search_page_token_round_trips(tracking_uri):
    prefix = unique_name("token")
    for i in range(3):
        requests.post(f"{tracking_uri}/api/2.0/mlflow/experiments/create", json={"name": f"{prefix}-{i}"}, timeout=10)
    body = {"filter": f"name LIKE '{prefix}%'", "max_results": 2, "order_by": ["name ASC"]}
    first = requests.post(f"{tracking_uri}/api/2.0/mlflow/experiments/search", json=body, timeout=10).json()
    assert [e["name"] for e in first["experiments"]] == [f"{prefix}-0", f"{prefix}-1"]
    second = requests.post(
        f"{tracking_uri}/api/2.0/mlflow/experiments/search",
        json={**body, "page_token": first["next_page_token"]},
        timeout=10,
    ).json()
    assert [e["name"] for e in second["experiments"]] == [f"{prefix}-2"]
    assert not second.get("next_page_token")
