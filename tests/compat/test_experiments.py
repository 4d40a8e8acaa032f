"""Experiments: create, read, search, rename, delete/restore, tags."""

import mlflow
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from conftest import unique_name


def test_default_experiment_exists(client):
    experiment = client.get_experiment("0")
    assert experiment.experiment_id == "0"
    assert experiment.name == "Default"
    assert experiment.lifecycle_stage == "active"


def test_set_experiment_creates_then_reuses(tracking_uri):
    name = unique_name("set-experiment")
    created = mlflow.set_experiment(name)
    assert created.name == name
    again = mlflow.set_experiment(name)
    assert again.experiment_id == created.experiment_id
    assert mlflow.get_experiment_by_name(name).experiment_id == created.experiment_id


def test_create_experiment_with_tags_and_get_it_back(client):
    name = unique_name("create")
    experiment_id = client.create_experiment(name, tags={"team": "vision", "owner": "ana"})
    experiment = client.get_experiment(experiment_id)
    assert experiment.name == name
    assert experiment.lifecycle_stage == "active"
    assert experiment.tags["team"] == "vision"
    assert experiment.tags["owner"] == "ana"
    assert experiment.artifact_location
    assert experiment.creation_time > 0


def test_get_experiment_by_name(client):
    name = unique_name("by-name")
    experiment_id = client.create_experiment(name)
    assert client.get_experiment_by_name(name).experiment_id == experiment_id
    assert client.get_experiment_by_name(unique_name("never-created")) is None


def test_search_experiments_by_name_filter(client):
    prefix = unique_name("search")
    ids = {client.create_experiment(f"{prefix}-{i}") for i in range(3)}
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}-%'")
    assert {e.experiment_id for e in found} == ids
    exact = client.search_experiments(filter_string=f"name = '{prefix}-1'")
    assert [e.name for e in exact] == [f"{prefix}-1"]


def test_search_experiments_by_tag_filter(client):
    prefix = unique_name("search-tag")
    tagged = client.create_experiment(f"{prefix}-a", tags={"stage": "prod"})
    client.create_experiment(f"{prefix}-b", tags={"stage": "dev"})
    found = client.search_experiments(filter_string=f"name LIKE '{prefix}%' AND tags.stage = 'prod'")
    assert [e.experiment_id for e in found] == [tagged]


def test_search_experiments_order_and_paging(client):
    prefix = unique_name("search-page")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        client.create_experiment(name)
    seen = []
    token = None
    while True:
        page = client.search_experiments(
            filter_string=f"name LIKE '{prefix}%'", order_by=["name DESC"], max_results=2, page_token=token
        )
        assert len(page) <= 2
        seen += [e.name for e in page]
        token = page.token
        if not token:
            break
    assert seen == sorted(names, reverse=True)


def test_rename_experiment(client):
    experiment_id = client.create_experiment(unique_name("old"))
    new_name = unique_name("new")
    client.rename_experiment(experiment_id, new_name)
    assert client.get_experiment(experiment_id).name == new_name
    assert client.get_experiment_by_name(new_name).experiment_id == experiment_id


def test_delete_and_restore_experiment_view_types(client):
    name = unique_name("deleted")
    experiment_id = client.create_experiment(name)
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"

    filter_string = f"name = '{name}'"
    assert client.search_experiments(filter_string=filter_string) == []
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY, filter_string=filter_string)
    assert [e.experiment_id for e in deleted] == [experiment_id]
    assert [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL, filter_string=filter_string)] == [
        experiment_id
    ]

    client.restore_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "active"
    assert [e.experiment_id for e in client.search_experiments(filter_string=filter_string)] == [experiment_id]


def test_set_experiment_on_deleted_experiment_fails(client):
    name = unique_name("deleted-set")
    client.delete_experiment(client.create_experiment(name))
    with pytest.raises(MlflowException, match="deleted"):
        mlflow.set_experiment(name)


def test_set_and_delete_experiment_tag(client):
    experiment_id = client.create_experiment(unique_name("tags"))
    client.set_experiment_tag(experiment_id, "color", "blue")
    client.set_experiment_tag(experiment_id, "color", "red")
    assert client.get_experiment(experiment_id).tags["color"] == "red"
    client.delete_experiment_tag(experiment_id, "color")
    assert "color" not in client.get_experiment(experiment_id).tags


def test_fluent_set_experiment_tags(experiment_id):
    mlflow.set_experiment_tags({"a": "1", "b": "2"})
    tags = mlflow.get_experiment(experiment_id).tags
    assert tags["a"] == "1"
    assert tags["b"] == "2"
