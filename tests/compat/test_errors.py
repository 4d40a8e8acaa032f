"""Error codes the client turns into MlflowException.error_code."""

import mlflow
import pytest
from mlflow.exceptions import MlflowException, RestException

from conftest import unique_name


def error_code(call, *args, **kwargs):
    with pytest.raises(MlflowException) as excinfo:
        call(*args, **kwargs)
    return excinfo.value.error_code


def test_get_missing_run(client):
    assert error_code(client.get_run, "f" * 32) == "RESOURCE_DOES_NOT_EXIST"


def test_get_missing_experiment(client):
    assert error_code(client.get_experiment, "987654321") == "RESOURCE_DOES_NOT_EXIST"


def test_get_missing_registered_model(client):
    assert error_code(client.get_registered_model, unique_name("missing")) == "RESOURCE_DOES_NOT_EXIST"


def test_get_missing_model_version(client):
    name = unique_name("no-versions")
    client.create_registered_model(name)
    assert error_code(client.get_model_version, name, "7") == "RESOURCE_DOES_NOT_EXIST"


def test_log_to_missing_run(client):
    assert error_code(client.log_metric, "e" * 32, "m", 1.0) == "RESOURCE_DOES_NOT_EXIST"


def test_duplicate_experiment(client):
    name = unique_name("dup")
    client.create_experiment(name)
    assert error_code(client.create_experiment, name) == "RESOURCE_ALREADY_EXISTS"


def test_duplicate_registered_model(client):
    name = unique_name("dup-model")
    client.create_registered_model(name)
    assert error_code(client.create_registered_model, name) == "RESOURCE_ALREADY_EXISTS"


def test_rename_experiment_to_existing_name(client):
    taken = unique_name("taken")
    client.create_experiment(taken)
    other_name = unique_name("other")
    other = client.create_experiment(other_name)
    # MLflow's SQL store answers BAD_REQUEST (an integrity error); RESOURCE_ALREADY_EXISTS is the better code.
    assert error_code(client.rename_experiment, other, taken) in ("RESOURCE_ALREADY_EXISTS", "BAD_REQUEST")
    assert client.get_experiment(other).name == other_name


def test_errors_are_rest_exceptions_with_messages(client):
    with pytest.raises(RestException) as excinfo:
        client.get_run("d" * 32)
    assert excinfo.value.message
    assert excinfo.value.get_http_status_code() == 404


def test_logging_to_finished_run_is_allowed_but_to_deleted_run_is_not(client, experiment_id):
    with mlflow.start_run() as run:
        pass
    client.log_metric(run.info.run_id, "after", 1.0)
    assert client.get_run(run.info.run_id).data.metrics["after"] == 1.0
    client.delete_run(run.info.run_id)
    assert error_code(client.log_metric, run.info.run_id, "after", 2.0) == "INVALID_PARAMETER_VALUE"


def test_missing_required_argument_is_invalid_parameter_value(client):
    assert error_code(client.create_experiment, "") == "INVALID_PARAMETER_VALUE"
