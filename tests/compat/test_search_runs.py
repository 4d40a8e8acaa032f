"""search_runs: filter comparators on metrics/params/tags/attributes, ordering and paging."""

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from conftest import unique_name

START = 1_700_000_000_000

# name -> (start offset, status, metrics, params, tags)
RUNS = {
    "alpha-1": (1, "FINISHED", {"acc": 0.9, "loss": 0.3}, {"model": "svm", "depth": "3"},
                {"team": "blue", "note": "Hello World"}),
    "beta-2": (2, "FINISHED", {"acc": 0.7, "loss": 0.5}, {"model": "tree", "depth": "5"}, {"team": "red"}),
    "alpha-3": (3, "FAILED", {"acc": 0.8}, {"model": "forest", "depth": "10"}, {"team": "Blue"}),
    "gamma-4": (4, "FINISHED", {}, {}, {"only": "tag"}),
}


@pytest.fixture(scope="module")
def search_experiment(tracking_uri):
    """One experiment holding the RUNS above; returns (experiment_id, {run name: run id})."""
    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment(unique_name("search-runs"))
    ids = {}
    for name, (offset, status, metrics, params, tags) in RUNS.items():
        run = client.create_run(experiment_id, start_time=START + offset, run_name=name, tags=tags)
        run_id = run.info.run_id
        for key, value in metrics.items():
            client.log_metric(run_id, key, value, timestamp=START, step=0)
        for key, value in params.items():
            client.log_param(run_id, key, value)
        client.set_terminated(run_id, status=status, end_time=START + 100)
        ids[name] = run_id
    return experiment_id, ids


def names(runs, ids):
    by_id = {run_id: name for name, run_id in ids.items()}
    return [by_id[r.info.run_id] for r in runs]


def search(client, search_experiment, **kwargs):
    experiment_id, ids = search_experiment
    return names(client.search_runs([experiment_id], **kwargs), ids)


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.acc = 0.7", {"beta-2"}),
        ("metrics.acc != 0.7", {"alpha-1", "alpha-3"}),
        ("metrics.acc > 0.75", {"alpha-1", "alpha-3"}),
        ("metrics.acc >= 0.8", {"alpha-1", "alpha-3"}),
        ("metrics.acc < 0.8", {"beta-2"}),
        ("metrics.acc <= 0.8", {"beta-2", "alpha-3"}),
        ("metrics.loss > 0", {"alpha-1", "beta-2"}),
        ("params.model = 'svm'", {"alpha-1"}),
        ("params.model != 'svm'", {"beta-2", "alpha-3"}),  # runs without the param never match
        ("params.model LIKE 'f%'", {"alpha-3"}),
        ("params.model LIKE 'F%'", set()),  # LIKE is case-sensitive
        ("params.model ILIKE 'SV%'", {"alpha-1"}),
        ("params.depth = '10'", {"alpha-3"}),
        ("params.model IS NULL", {"gamma-4"}),
        ("params.model IS NOT NULL", {"alpha-1", "beta-2", "alpha-3"}),
        ("tags.team = 'blue'", {"alpha-1"}),
        ("tags.team ILIKE 'blue'", {"alpha-1", "alpha-3"}),
        ("tags.team LIKE 'B%'", {"alpha-3"}),
        ("tags.note LIKE '%World'", {"alpha-1"}),
        ("tags.team IS NULL", {"gamma-4"}),
        ("tags.`team` = 'red'", {"beta-2"}),
        ("attributes.status = 'FAILED'", {"alpha-3"}),
        ("attributes.status != 'FAILED'", {"alpha-1", "beta-2", "gamma-4"}),
        ("attributes.run_name LIKE 'alpha%'", {"alpha-1", "alpha-3"}),
        ("attributes.run_name ILIKE 'ALPHA%'", {"alpha-1", "alpha-3"}),
        ("run_name = 'beta-2'", {"beta-2"}),
        (f"attributes.start_time > {START + 2}", {"alpha-3", "gamma-4"}),
        (f"attributes.start_time <= {START + 2}", {"alpha-1", "beta-2"}),
        ("params.depth = '5' AND metrics.loss > 0.4", {"beta-2"}),
        ("tags.team ILIKE 'blue' and metrics.acc < 0.85", {"alpha-3"}),
        ("", {"alpha-1", "beta-2", "alpha-3", "gamma-4"}),
    ],
)
def test_search_runs_filter(client, search_experiment, filter_string, expected):
    assert set(search(client, search_experiment, filter_string=filter_string)) == expected


def test_search_runs_by_run_id_in_and_not_in(client, search_experiment):
    _, ids = search_experiment
    wanted = f"('{ids['alpha-1']}', '{ids['gamma-4']}')"
    assert set(search(client, search_experiment, filter_string=f"attributes.run_id IN {wanted}")) == {
        "alpha-1",
        "gamma-4",
    }
    assert set(search(client, search_experiment, filter_string=f"attributes.run_id NOT IN {wanted}")) == {
        "beta-2",
        "alpha-3",
    }


def test_search_runs_default_order_is_newest_first(client, search_experiment):
    assert search(client, search_experiment) == ["gamma-4", "alpha-3", "beta-2", "alpha-1"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ("metrics.acc DESC", ["alpha-1", "alpha-3", "beta-2", "gamma-4"]),  # runs lacking it come last
        ("metrics.acc ASC", ["beta-2", "alpha-3", "alpha-1", "gamma-4"]),
        ("metrics.acc", ["beta-2", "alpha-3", "alpha-1", "gamma-4"]),
        ("params.model ASC", ["alpha-3", "alpha-1", "beta-2", "gamma-4"]),
        ("params.model DESC", ["beta-2", "alpha-1", "alpha-3", "gamma-4"]),
        ("attributes.start_time ASC", ["alpha-1", "beta-2", "alpha-3", "gamma-4"]),
        ("attributes.run_name DESC", ["gamma-4", "beta-2", "alpha-3", "alpha-1"]),
        ("tags.team ASC", ["alpha-3", "alpha-1", "beta-2", "gamma-4"]),
    ],
)
def test_search_runs_order_by(client, search_experiment, order_by, expected):
    assert search(client, search_experiment, order_by=[order_by]) == expected


def test_search_runs_order_by_two_keys(client, search_experiment):
    result = search(
        client, search_experiment, filter_string="attributes.status = 'FINISHED'",
        order_by=["attributes.status ASC", "attributes.start_time DESC"],
    )
    assert result == ["gamma-4", "beta-2", "alpha-1"]


def test_search_runs_pages_with_tokens(client, search_experiment):
    experiment_id, ids = search_experiment
    pages = []
    token = None
    while True:
        page = client.search_runs([experiment_id], max_results=3, order_by=["attributes.start_time ASC"],
                                  page_token=token)
        pages.append(names(page, ids))
        token = page.token
        if not token:
            break
    assert pages[0] == ["alpha-1", "beta-2", "alpha-3"]
    assert [name for page in pages for name in page] == ["alpha-1", "beta-2", "alpha-3", "gamma-4"]


def test_search_runs_max_results_limits_page(client, search_experiment):
    experiment_id, _ = search_experiment
    page = client.search_runs([experiment_id], max_results=1)
    assert len(page) == 1
    assert page.token


def test_search_runs_across_experiments(client, search_experiment):
    experiment_id, ids = search_experiment
    other = client.create_experiment(unique_name("search-other"))
    other_run = client.create_run(other).info.run_id
    found = {r.info.run_id for r in client.search_runs([experiment_id, other])}
    assert found == set(ids.values()) | {other_run}


def test_fluent_search_runs_by_experiment_name(search_experiment, tracking_uri):
    experiment_id, ids = search_experiment
    name = mlflow.get_experiment(experiment_id).name
    frame = mlflow.search_runs(experiment_names=[name], filter_string="metrics.acc > 0.85")
    assert list(frame["run_id"]) == [ids["alpha-1"]]
    runs = mlflow.search_runs(experiment_ids=[experiment_id], output_format="list", order_by=["metrics.acc DESC"],
                              max_results=2)
    assert [r.info.run_id for r in runs] == [ids["alpha-1"], ids["alpha-3"]]


@pytest.mark.parametrize(
    "bad_filter",
    [
        "metrics.acc >>> 1",
        "params.model = svm",  # unquoted string
        "nonsense.key = 'x'",
        "metrics.acc LIKE '1%'",
    ],
)
def test_malformed_filter_is_invalid_parameter_value(client, search_experiment, bad_filter):
    experiment_id, _ = search_experiment
    with pytest.raises(MlflowException) as excinfo:
        client.search_runs([experiment_id], filter_string=bad_filter)
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"


def test_malformed_order_by_is_invalid_parameter_value(client, search_experiment):
    experiment_id, _ = search_experiment
    with pytest.raises(MlflowException) as excinfo:
        client.search_runs([experiment_id], order_by=["metrics.acc SIDEWAYS"])
    assert excinfo.value.error_code == "INVALID_PARAMETER_VALUE"
