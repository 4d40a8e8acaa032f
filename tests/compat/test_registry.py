"""Model registry through MlflowClient: registered models, versions, tags, stages, aliases, search."""

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from conftest import unique_name


@pytest.fixture
def model_run(client, experiment_id):
    """A run holding a (fake) model directory; returns (run_id, source URI)."""
    with mlflow.start_run() as run:
        mlflow.log_text("flavors: {}\n", "model/MLmodel")
    return run.info.run_id, f"runs:/{run.info.run_id}/model"


@pytest.fixture
def model_name(client):
    name = unique_name("registry")
    client.create_registered_model(name)
    return name


def new_version(client, name, model_run, **kwargs):
    run_id, source = model_run
    return client.create_model_version(name, source, run_id=run_id, **kwargs)


def test_create_and_get_registered_model(client):
    name = unique_name("reg")
    created = client.create_registered_model(name, tags={"task": "regression"}, description="first")
    assert created.name == name
    model = client.get_registered_model(name)
    assert model.name == name
    assert model.description == "first"
    assert model.tags == {"task": "regression"}
    assert model.creation_timestamp > 0
    assert model.last_updated_timestamp >= model.creation_timestamp


def test_rename_registered_model(client, model_name, model_run):
    new_version(client, model_name, model_run)
    new_name = unique_name("renamed")
    client.rename_registered_model(model_name, new_name)
    assert client.get_registered_model(new_name).name == new_name
    assert client.get_model_version(new_name, "1").name == new_name
    with pytest.raises(MlflowException) as excinfo:
        client.get_registered_model(model_name)
    assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_update_registered_model_description(client, model_name):
    client.update_registered_model(model_name, description="better words")
    assert client.get_registered_model(model_name).description == "better words"


def test_delete_registered_model(client, model_name, model_run):
    new_version(client, model_name, model_run)
    client.delete_registered_model(model_name)
    with pytest.raises(MlflowException) as excinfo:
        client.get_registered_model(model_name)
    assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_model_versions(f"name = '{model_name}'") == []


def test_set_and_delete_registered_model_tag(client, model_name):
    client.set_registered_model_tag(model_name, "owner", "ana")
    client.set_registered_model_tag(model_name, "owner", "bea")
    assert client.get_registered_model(model_name).tags == {"owner": "bea"}
    client.delete_registered_model_tag(model_name, "owner")
    assert client.get_registered_model(model_name).tags == {}


def test_create_and_get_model_version(client, model_name, model_run):
    run_id, _ = model_run
    created = new_version(client, model_name, model_run, tags={"k": "v"}, description="v1 desc")
    assert created.version == "1"
    version = client.get_model_version(model_name, "1")
    assert version.name == model_name
    assert version.run_id == run_id
    assert version.status == "READY"
    assert version.current_stage == "None"
    assert version.description == "v1 desc"
    assert version.tags == {"k": "v"}
    assert version.source
    assert version.creation_timestamp > 0


def test_model_versions_increment(client, model_name, model_run):
    versions = [new_version(client, model_name, model_run).version for _ in range(3)]
    assert versions == ["1", "2", "3"]
    assert client.get_registered_model(model_name).name == model_name


def test_update_and_delete_model_version(client, model_name, model_run):
    new_version(client, model_name, model_run)
    new_version(client, model_name, model_run)
    client.update_model_version(model_name, "1", description="tuned")
    assert client.get_model_version(model_name, "1").description == "tuned"
    client.delete_model_version(model_name, "1")
    with pytest.raises(MlflowException) as excinfo:
        client.get_model_version(model_name, "1")
    assert excinfo.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert [v.version for v in client.search_model_versions(f"name = '{model_name}'")] == ["2"]
    # version numbers are never reused
    assert new_version(client, model_name, model_run).version == "3"


def test_set_and_delete_model_version_tag(client, model_name, model_run):
    new_version(client, model_name, model_run)
    client.set_model_version_tag(model_name, "1", "validated", "yes")
    assert client.get_model_version(model_name, "1").tags == {"validated": "yes"}
    client.delete_model_version_tag(model_name, "1", "validated")
    assert client.get_model_version(model_name, "1").tags == {}


def test_transition_stage_archives_existing_versions(client, model_name, model_run):
    for _ in range(3):
        new_version(client, model_name, model_run)
    client.transition_model_version_stage(model_name, "1", "Production")
    client.transition_model_version_stage(model_name, "2", "Staging")
    moved = client.transition_model_version_stage(model_name, "3", "Production", archive_existing_versions=True)
    assert moved.current_stage == "Production"
    stages = {v: client.get_model_version(model_name, v).current_stage for v in ("1", "2", "3")}
    assert stages == {"1": "Archived", "2": "Staging", "3": "Production"}


def test_transition_stage_without_archiving_keeps_others(client, model_name, model_run):
    new_version(client, model_name, model_run)
    new_version(client, model_name, model_run)
    client.transition_model_version_stage(model_name, "1", "Production")
    client.transition_model_version_stage(model_name, "2", "production")  # case-insensitive stage names
    stages = {v: client.get_model_version(model_name, v).current_stage for v in ("1", "2")}
    assert stages == {"1": "Production", "2": "Production"}


def test_get_latest_versions(client, model_name, model_run):
    for _ in range(4):
        new_version(client, model_name, model_run)
    client.transition_model_version_stage(model_name, "1", "Production")
    client.transition_model_version_stage(model_name, "2", "Staging")
    client.transition_model_version_stage(model_name, "3", "Staging")
    latest = {v.current_stage: v.version for v in client.get_latest_versions(model_name)}
    assert latest == {"None": "4", "Staging": "3", "Production": "1"}
    assert [v.version for v in client.get_latest_versions(model_name, stages=["Staging"])] == ["3"]
    assert client.get_registered_model(model_name).latest_versions


def test_registered_model_alias(client, model_name, model_run):
    new_version(client, model_name, model_run)
    new_version(client, model_name, model_run)
    client.set_registered_model_alias(model_name, "champion", "1")
    client.set_registered_model_alias(model_name, "challenger", "2")
    assert client.get_model_version_by_alias(model_name, "champion").version == "1"
    assert client.get_registered_model(model_name).aliases == {"champion": "1", "challenger": "2"}
    assert client.get_model_version(model_name, "1").aliases == ["champion"]

    client.set_registered_model_alias(model_name, "champion", "2")  # an alias moves
    assert client.get_model_version_by_alias(model_name, "champion").version == "2"
    assert sorted(client.get_model_version(model_name, "2").aliases) == ["challenger", "champion"]

    client.delete_registered_model_alias(model_name, "champion")
    with pytest.raises(MlflowException) as excinfo:
        client.get_model_version_by_alias(model_name, "champion")
    assert excinfo.value.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
    assert client.get_registered_model(model_name).aliases == {"challenger": "2"}


def test_get_model_version_download_uri_points_at_the_model_files(client, model_name, model_run):
    new_version(client, model_name, model_run)
    uri = client.get_model_version_download_uri(model_name, "1")
    assert uri
    assert mlflow.artifacts.load_text(f"{uri.rstrip('/')}/MLmodel") == "flavors: {}\n"


def test_search_registered_models_filter_and_order(client):
    prefix = unique_name("srm")
    for suffix in ("b", "a", "c"):
        client.create_registered_model(f"{prefix}-{suffix}", tags={"suffix": suffix})
    ascending = client.search_registered_models(filter_string=f"name LIKE '{prefix}-%'", order_by=["name ASC"])
    assert [m.name for m in ascending] == [f"{prefix}-a", f"{prefix}-b", f"{prefix}-c"]
    descending = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", order_by=["name DESC"])
    assert [m.name for m in descending] == [f"{prefix}-c", f"{prefix}-b", f"{prefix}-a"]
    exact = client.search_registered_models(filter_string=f"name = '{prefix}-b'")
    assert [m.name for m in exact] == [f"{prefix}-b"]
    tagged = client.search_registered_models(filter_string=f"name LIKE '{prefix}%' AND tags.suffix = 'c'")
    assert [m.name for m in tagged] == [f"{prefix}-c"]


def test_search_registered_models_pages(client):
    prefix = unique_name("srm-page")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        client.create_registered_model(name)
    seen, token = [], None
    while True:
        page = client.search_registered_models(
            filter_string=f"name LIKE '{prefix}%'", order_by=["name ASC"], max_results=2, page_token=token
        )
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == names


def test_search_model_versions_by_name_run_id_and_order(client, model_name, model_run, experiment_id):
    run_id, _ = model_run
    new_version(client, model_name, model_run)
    new_version(client, model_name, model_run)
    with mlflow.start_run() as other:
        mlflow.log_text("flavors: {}\n", "model/MLmodel")
    client.create_model_version(model_name, f"runs:/{other.info.run_id}/model", run_id=other.info.run_id)

    by_name = client.search_model_versions(f"name = '{model_name}'", order_by=["version_number DESC"])
    assert [v.version for v in by_name] == ["3", "2", "1"]
    ascending = client.search_model_versions(f"name = '{model_name}'", order_by=["version_number ASC"])
    assert [v.version for v in ascending] == ["1", "2", "3"]
    by_run = client.search_model_versions(f"run_id = '{run_id}'")
    assert sorted(v.version for v in by_run) == ["1", "2"]
    both = client.search_model_versions(f"name = '{model_name}' AND run_id = '{other.info.run_id}'")
    assert [v.version for v in both] == ["3"]
