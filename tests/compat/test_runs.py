"""Runs: lifecycle, nesting, params, metrics, tags, batches, delete/restore, dataset inputs."""

import sys
import time

import mlflow
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException


def test_start_and_end_run_sets_status_and_times(client, experiment_id):
    before = int(time.time() * 1000) - 5_000
    with mlflow.start_run(run_name="lifecycle") as run:
        running = client.get_run(run.info.run_id)
        assert running.info.status == "RUNNING"
        assert running.info.end_time is None
        assert running.info.experiment_id == experiment_id
        assert running.info.run_name == "lifecycle"
        assert running.data.tags["mlflow.runName"] == "lifecycle"
    finished = client.get_run(run.info.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.info.start_time >= before
    assert finished.info.end_time >= finished.info.start_time
    assert finished.info.lifecycle_stage == "active"
    assert finished.info.artifact_uri


def test_end_run_with_failed_status(client, experiment_id):
    run = mlflow.start_run()
    mlflow.end_run(status="FAILED")
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_run_failing_inside_context_manager_is_marked_failed(client, experiment_id):
    with pytest.raises(RuntimeError):
        with mlflow.start_run() as run:
            raise RuntimeError("boom")
    assert client.get_run(run.info.run_id).info.status == "FAILED"


def test_nested_run_has_parent_tag(client, experiment_id):
    with mlflow.start_run() as parent:
        with mlflow.start_run(nested=True) as child:
            pass
    child_run = client.get_run(child.info.run_id)
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    children = client.search_runs(
        [experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert [r.info.run_id for r in children] == [child.info.run_id]


def test_client_create_run_update_run_and_set_terminated(client, experiment_id):
    run = client.create_run(experiment_id, tags={"source": "client"}, run_name="by-client")
    assert run.info.status == "RUNNING"
    client.update_run(run.info.run_id, name="renamed")
    assert client.get_run(run.info.run_id).info.run_name == "renamed"
    client.set_terminated(run.info.run_id, status="KILLED")
    final = client.get_run(run.info.run_id)
    assert final.info.status == "KILLED"
    assert final.info.end_time is not None
    assert final.data.tags["source"] == "client"


def test_log_param_and_params_read_back_as_strings(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_param("lr", 0.01)
        mlflow.log_params({"layers": 3, "optimizer": "adam", "dropout": None})
    params = client.get_run(run.info.run_id).data.params
    assert params == {"lr": "0.01", "layers": "3", "optimizer": "adam", "dropout": "None"}


def test_param_is_write_once(client, experiment_id):
    with mlflow.start_run():
        mlflow.log_param("alpha", "1")
        mlflow.log_param("alpha", "1")  # the same value again is fine
        with pytest.raises(MlflowException) as excinfo:
            mlflow.log_param("alpha", "2")
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"


def test_log_metric_with_steps_and_timestamps(client, experiment_id):
    with mlflow.start_run() as run:
        for step, value in enumerate([0.9, 0.5, 0.7]):
            mlflow.log_metric("loss", value, step=step, timestamp=1_700_000_000_000 + step)
    data = client.get_run(run.info.run_id).data
    assert data.metrics["loss"] == 0.7  # the latest step is the run's value
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in sorted(history, key=lambda m: m.step)] == [
        (0, 0.9, 1_700_000_000_000),
        (1, 0.5, 1_700_000_000_001),
        (2, 0.7, 1_700_000_000_002),
    ]


def test_latest_metric_is_the_highest_step_not_the_last_logged(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.8, step=5)
        mlflow.log_metric("acc", 0.1, step=1)
    assert client.get_run(run.info.run_id).data.metrics["acc"] == 0.8


def test_log_metrics_dict_and_special_values(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_metrics({"a": 1.5, "b": -2, "big": 1e300, "int": 7})
        mlflow.log_metric("nan", float("nan"))
        mlflow.log_metric("inf", float("inf"))
    metrics = client.get_run(run.info.run_id).data.metrics
    assert metrics["a"] == 1.5
    assert metrics["b"] == -2
    assert metrics["big"] == 1e300
    assert metrics["int"] == 7
    assert metrics["nan"] != metrics["nan"]  # NaN survives the round trip
    # MLflow's SQL store clamps +inf to the largest double; either is faithful enough.
    assert metrics["inf"] in (float("inf"), sys.float_info.max)


def test_metric_history_many_points_in_step_order(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_metrics({"x": 0.0}, step=0)
        for step in range(1, 120):
            mlflow.log_metric("x", step * 0.5, step=step)
    history = client.get_metric_history(run.info.run_id, "x")
    assert len(history) == 120
    assert sorted((m.step, m.value) for m in history) == [(s, s * 0.5) for s in range(120)]


def test_set_tag_set_tags_and_delete_tag(client, experiment_id):
    with mlflow.start_run() as run:
        mlflow.set_tag("color", "blue")
        mlflow.set_tags({"shape": "round", "size": 3})
        mlflow.set_tag("color", "green")  # tags can be overwritten
        client.delete_tag(run.info.run_id, "shape")
    tags = client.get_run(run.info.run_id).data.tags
    assert tags["color"] == "green"
    assert tags["size"] == "3"
    assert "shape" not in tags


def test_log_batch(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric("m", 1.0, now, 0), Metric("m", 2.0, now + 1, 1), Metric("n", 3.0, now, 0)],
        params=[Param("p1", "a"), Param("p2", "b")],
        tags=[RunTag("t1", "x")],
    )
    data = client.get_run(run_id).data
    assert data.metrics == {"m": 2.0, "n": 3.0}
    assert data.params == {"p1": "a", "p2": "b"}
    assert data.tags["t1"] == "x"
    assert [m.value for m in sorted(client.get_metric_history(run_id, "m"), key=lambda m: m.step)] == [1.0, 2.0]


def test_log_batch_with_conflicting_param_fails(client, experiment_id):
    run_id = client.create_run(experiment_id).info.run_id
    client.log_param(run_id, "p", "1")
    with pytest.raises(MlflowException) as excinfo:
        client.log_batch(run_id, params=[Param("p", "2")])
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
    assert client.get_run(run_id).data.params["p"] == "1"


def test_deleted_run_hidden_from_default_search(client, experiment_id):
    kept = client.create_run(experiment_id).info.run_id
    gone = client.create_run(experiment_id).info.run_id
    client.delete_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "deleted"

    def ids(view_type):
        return {r.info.run_id for r in client.search_runs([experiment_id], run_view_type=view_type)}

    assert ids(ViewType.ACTIVE_ONLY) == {kept}
    assert ids(ViewType.DELETED_ONLY) == {gone}
    assert ids(ViewType.ALL) == {kept, gone}

    client.restore_run(gone)
    assert client.get_run(gone).info.lifecycle_stage == "active"
    assert ids(ViewType.ACTIVE_ONLY) == {kept, gone}


def test_fluent_delete_run_and_search_runs_dataframe(experiment_id):
    with mlflow.start_run() as run:
        mlflow.log_metric("score", 3.0)
        mlflow.log_param("kind", "df")
    frame = mlflow.search_runs([experiment_id])
    assert list(frame["run_id"]) == [run.info.run_id]
    assert frame.loc[0, "metrics.score"] == 3.0
    assert frame.loc[0, "params.kind"] == "df"
    mlflow.delete_run(run.info.run_id)
    assert mlflow.search_runs([experiment_id]).empty


def test_log_input_with_pandas_dataset(client, experiment_id):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.0]})
    dataset = mlflow.data.from_pandas(frame, source="https://example.com/data/train.csv", name="train", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training", tags={"version": "v1"})
    inputs = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    logged = inputs[0].dataset
    assert logged.name == "train"
    assert logged.digest == dataset.digest
    assert logged.source_type == dataset.source._get_source_type()
    assert "https://example.com/data/train.csv" in logged.source
    tags = {t.key: t.value for t in inputs[0].tags}
    assert tags["mlflow.data.context"] == "training"
    assert tags["version"] == "v1"

