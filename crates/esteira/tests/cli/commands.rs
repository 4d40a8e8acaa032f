//! The CLI against a server populated over REST, the same commands on the store directly
//! (same JSON), and bad input failing clearly.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Api, Server, cli};

const MODEL: &str = "demand-forecaster";

/// Experiment "demand" with runs a/b/c (rmse 0.5/1.5/2.5, param model ets/arima/theta) and a
/// registered model with two versions. Returns the run ids a, b, c.
async fn populate(api: &Api) -> [String; 3] {
    let experiment = api.create_experiment("demand").await;
    let mut ids = Vec::new();
    for (name, rmse, model) in [("a", 0.5, "ets"), ("b", 1.5, "arima"), ("c", 2.5, "theta")] {
        let run_id = api.create_run(&experiment, &format!("run-{name}")).await;
        api.post(
            "runs/log-batch",
            json!({
                "run_id": run_id,
                "metrics": [{"key": "rmse", "value": rmse, "timestamp": 1_700_000_000_000i64, "step": 0}],
                "params": [{"key": "model", "value": model}, {"key": "horizon", "value": "28"}],
                "tags": [{"key": "team", "value": "forecasting"}],
            }),
        )
        .await;
        api.post(
            "runs/update",
            json!({"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_100_000i64}),
        )
        .await;
        ids.push(run_id);
    }
    let retired = api.create_experiment("retired").await;
    api.post("experiments/delete", json!({"experiment_id": retired}))
        .await;
    api.post("registered-models/create", json!({"name": MODEL}))
        .await;
    for run_id in [&ids[0], &ids[1]] {
        api.post(
            "model-versions/create",
            json!({"name": MODEL, "source": format!("runs:/{run_id}/model"), "run_id": run_id}),
        )
        .await;
    }
    ids.try_into().expect("three runs")
}

fn run_ids(runs: &Value) -> Vec<&str> {
    runs.as_array()
        .expect("a JSON array of runs")
        .iter()
        .map(|r| r["info"]["run_id"].as_str().expect("run_id"))
        .collect()
}

fn aliases(model: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = model["aliases"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["alias"].as_str().unwrap_or_default().to_string(),
                a["version"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The read-only commands whose JSON must be the same over a server and on the store.
fn json_commands(a: &str) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    vec![
        s(&["experiments", "list", "--json"]),
        s(&["experiments", "list", "--view", "all", "--json"]),
        s(&["runs", "list", "--experiment", "demand", "--json"]),
        s(&[
            "runs",
            "list",
            "--experiment",
            "demand",
            "--filter",
            "metrics.rmse < 1",
            "--json",
        ]),
        s(&[
            "runs",
            "list",
            "--experiment",
            "demand",
            "--order-by",
            "metrics.rmse DESC",
            "--json",
        ]),
        s(&["runs", "show", a, "--json"]),
        s(&["models", "list", "--json"]),
        s(&["models", "show", MODEL, "--json"]),
    ]
}

async fn run_json(cmd: &[String], target: &[&str], cwd: &Path) -> Value {
    let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    args.extend_from_slice(target);
    cli(&args, &[], cwd).await.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_over_server_and_store_directly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let data = cwd.join("data");
    let data_s = data.to_str().expect("utf-8 path");
    let mut server = Server::start(&["--data-dir", data_s], &[], cwd, &cwd.join("s.log"));
    let [a, b, c] = populate(&server.api()).await;
    let url = server.url.clone();
    let srv = ["--server", url.as_str()];
    let run = |args: &[&str]| {
        let mut v = args.to_vec();
        v.extend_from_slice(&srv);
        v.iter().map(|x| x.to_string()).collect::<Vec<_>>()
    };
    let go = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cli(&refs, &[], cwd).await
    };

    // experiments list: a table for people, JSON for scripts.
    let table = go(run(&["experiments", "list"])).await;
    assert!(table.ok().contains("demand"), "{table:#?}");
    let exps = go(run(&["experiments", "list", "--json"])).await.json();
    let demand = exps
        .as_array()
        .expect("array")
        .iter()
        .find(|e| e["name"] == "demand")
        .unwrap_or_else(|| panic!("no 'demand' in {exps}"));
    let demand_id = demand["experiment_id"].as_str().expect("id").to_string();
    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v
            .as_array()
            .expect("array")
            .iter()
            .map(|e| e["name"].as_str().expect("name").to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&exps), ["Default", "demand"]);
    let deleted = go(run(&["experiments", "list", "--view", "deleted", "--json"]))
        .await
        .json();
    assert_eq!(names(&deleted), ["retired"]);
    let all = go(run(&["experiments", "list", "--view", "all", "--json"]))
        .await
        .json();
    assert_eq!(names(&all), ["Default", "demand", "retired"]);
    // ESTEIRA_SERVER instead of --server; a trailing slash is fine.
    let slash = format!("{url}/");
    let via_env = cli(
        &["experiments", "list", "--json"],
        &[("ESTEIRA_SERVER", slash.as_str())],
        cwd,
    )
    .await
    .json();
    assert_eq!(via_env, exps);

    // runs list: filter, order, by name and by id.
    let cheap = go(run(&[
        "runs",
        "list",
        "--experiment",
        "demand",
        "--filter",
        "metrics.rmse < 1",
        "--json",
    ]))
    .await
    .json();
    assert_eq!(run_ids(&cheap), [a.as_str()], "{cheap}");
    let filtered_params = go(run(&[
        "runs",
        "list",
        "--experiment",
        &demand_id,
        "--filter",
        "metrics.rmse > 1 and params.model = 'theta'",
        "--json",
    ]))
    .await
    .json();
    assert_eq!(run_ids(&filtered_params), [c.as_str()]);
    let desc = go(run(&[
        "runs",
        "list",
        "--experiment",
        "demand",
        "--order-by",
        "metrics.rmse DESC",
        "--json",
    ]))
    .await
    .json();
    assert_eq!(run_ids(&desc), [c.as_str(), b.as_str(), a.as_str()]);
    let asc = go(run(&[
        "runs",
        "list",
        "--experiment",
        "demand",
        "--order-by",
        "metrics.rmse",
        "--max-results",
        "2",
        "--json",
    ]))
    .await
    .json();
    assert_eq!(run_ids(&asc), [a.as_str(), b.as_str()]);
    let table = go(run(&["runs", "list", "--experiment", "demand"])).await;
    for id in [&a, &b, &c] {
        assert!(table.ok().contains(id.as_str()), "{table:#?}");
    }
    assert!(table.stdout.contains("rmse=2.5000"), "{table:#?}");

    // runs show.
    let shown = go(run(&["runs", "show", &a, "--json"])).await.json();
    assert_eq!(shown["info"]["run_id"], a.as_str());
    assert_eq!(shown["info"]["status"], "FINISHED");
    let metrics = shown["data"]["metrics"].as_array().expect("metrics");
    assert!(
        metrics
            .iter()
            .any(|m| m["key"] == "rmse" && m["value"] == 0.5),
        "{shown}"
    );
    let params = shown["data"]["params"].as_array().expect("params");
    assert!(
        params
            .iter()
            .any(|p| p["key"] == "model" && p["value"] == "ets"),
        "{shown}"
    );
    let table = go(run(&["runs", "show", &a])).await;
    for needle in [a.as_str(), "rmse", "model", "ets", "team", "FINISHED"] {
        assert!(table.ok().contains(needle), "{needle}: {table:#?}");
    }

    // models list / show / alias.
    let table = go(run(&["models", "list"])).await;
    assert!(table.ok().contains(MODEL), "{table:#?}");
    let models = go(run(&["models", "list", "--json"])).await.json();
    assert_eq!(models.as_array().map(Vec::len), Some(1), "{models}");
    assert_eq!(models[0]["name"], MODEL);
    let none = go(run(&[
        "models",
        "list",
        "--filter",
        "name LIKE 'nope%'",
        "--json",
    ]))
    .await
    .json();
    assert_eq!(none, json!([]));
    let table = go(run(&["models", "show", MODEL])).await;
    assert!(table.ok().contains(MODEL), "{table:#?}");
    assert!(
        table.stdout.contains(&b),
        "latest version's run: {table:#?}"
    );
    let set = go(run(&["models", "alias", "set", MODEL, "champion", "2"])).await;
    assert!(
        set.ok().contains("champion"),
        "alias set says what it did: {set:#?}"
    );
    let model = go(run(&["models", "show", MODEL, "--json"])).await.json();
    assert_eq!(
        aliases(&model),
        [("champion".into(), "2".into())],
        "{model}"
    );
    let table = go(run(&["models", "list"])).await;
    assert!(table.ok().contains("champion=2"), "{table:#?}");
    let table = go(run(&["models", "show", MODEL])).await;
    assert!(table.ok().contains("champion"), "{table:#?}");

    // The same reads over the server, recorded to compare with direct mode.
    let mut over_server = Vec::new();
    for cmd in json_commands(&a) {
        over_server.push(run_json(&cmd, &srv, cwd).await);
    }
    server.stop_gracefully(Duration::from_secs(10));

    // Direct mode on the store, server stopped: the same JSON.
    let store_url = format!("sqlite://{}", data.join("esteira.db").display());
    let direct = ["--store", store_url.as_str()];
    for (cmd, expected) in json_commands(&a).iter().zip(&over_server) {
        let got = run_json(cmd, &direct, cwd).await;
        assert_eq!(
            &got,
            expected,
            "`esteira {}` differs between --server and --store",
            cmd.join(" ")
        );
    }
    // Writes work directly too.
    let mut args = vec!["models", "alias", "set", MODEL, "challenger", "1"];
    args.extend_from_slice(&direct);
    cli(&args, &[], cwd).await.ok();
    let mut args = vec!["models", "show", MODEL, "--json"];
    args.extend_from_slice(&direct);
    let model = cli(&args, &[], cwd).await.json();
    assert_eq!(
        aliases(&model),
        [
            ("challenger".into(), "1".into()),
            ("champion".into(), "2".into())
        ]
    );
    let mut args = vec!["models", "alias", "delete", MODEL, "challenger"];
    args.extend_from_slice(&direct);
    assert!(cli(&args, &[], cwd).await.ok().contains("challenger"));

    // And the server sees what direct mode wrote.
    let server = Server::start(&["--data-dir", data_s], &[], cwd, &cwd.join("s2.log"));
    let model = server
        .api()
        .get("registered-models/get", &[("name", MODEL)])
        .await;
    assert_eq!(
        aliases(&model["registered_model"]),
        [("champion".into(), "2".into())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let data = cwd.join("data");
    let data_s = data.to_str().expect("utf-8 path");
    let server = Server::start(&["--data-dir", data_s], &[], cwd, &cwd.join("s.log"));
    server.api().create_experiment("demand").await;
    let url = server.url.as_str();
    let store_url = format!("sqlite://{}", data.join("esteira.db").display());

    // Usage errors are clap's: exit 2.
    for args in [
        &["frobnicate"][..],
        &["experiments", "list", "--bogus"],
        &["runs", "list", "--server", url],
        &["runs", "show"],
        &[
            "experiments",
            "list",
            "--server",
            url,
            "--store",
            &store_url,
        ],
        &["server", "--port", "abc"],
    ] {
        let out = cli(args, &[], cwd).await;
        assert_eq!(out.code, Some(2), "`esteira {}`: {out:#?}", args.join(" "));
        assert!(!out.stderr.is_empty(), "{out:#?}");
    }

    // Errors from the server keep their MLflow code.
    cli(
        &["runs", "show", "does-not-exist", "--server", url],
        &[],
        cwd,
    )
    .await
    .fails_with(&["RESOURCE_DOES_NOT_EXIST"]);
    cli(
        &["runs", "list", "--experiment", "nope", "--server", url],
        &[],
        cwd,
    )
    .await
    .fails_with(&["RESOURCE_DOES_NOT_EXIST", "nope"]);
    cli(
        &["experiments", "list", "--view", "bogus", "--server", url],
        &[],
        cwd,
    )
    .await
    .fails_with(&["--view", "bogus"]);
    for target in [["--server", url], ["--store", store_url.as_str()]] {
        let mut args = vec![
            "runs",
            "list",
            "--experiment",
            "demand",
            "--filter",
            "metrics.rmse <<< 1",
        ];
        args.extend_from_slice(&target);
        cli(&args, &[], cwd)
            .await
            .fails_with(&["INVALID_PARAMETER_VALUE"]);
        let mut args = vec!["runs", "show", "does-not-exist"];
        args.extend_from_slice(&target);
        cli(&args, &[], cwd)
            .await
            .fails_with(&["RESOURCE_DOES_NOT_EXIST"]);
    }
    drop(server);

    // An unreachable server.
    cli(
        &["experiments", "list", "--server", "http://127.0.0.1:1"],
        &[],
        cwd,
    )
    .await
    .fails_with(&["http://127.0.0.1:1"]);

    // Configuration: an unknown field names the field, in a file and through ESTEIRA_CONFIG.
    let config = cwd.join("esteira.toml");
    std::fs::write(&config, "[server]\nport = 0\nprot = 5000\n").expect("write config");
    let config_s = config.to_str().expect("utf-8 path");
    for (args, envs) in [
        (
            vec!["--config", config_s, "server", "--data-dir", data_s],
            vec![],
        ),
        (
            vec!["server", "--data-dir", data_s],
            vec![("ESTEIRA_CONFIG", config_s)],
        ),
        (vec!["experiments", "list", "--config", config_s], vec![]),
    ] {
        cli(&args, &envs, cwd)
            .await
            .fails_with(&["prot", "esteira.toml"]);
    }
    std::fs::write(&config, "[server]\nport = \"high\"\n").expect("write config");
    cli(&["--config", config_s, "server"], &[], cwd)
        .await
        .fails_with(&["port"]);
    cli(
        &["--config", "/nonexistent/esteira.toml", "server"],
        &[],
        cwd,
    )
    .await
    .fails_with(&["/nonexistent/esteira.toml"]);

    // Environment: a bad value names the variable.
    cli(&["server"], &[("ESTEIRA_PORT", "abc")], cwd)
        .await
        .fails_with(&["ESTEIRA_PORT", "abc"]);
    cli(
        &["server", "--port", "0"],
        &[("ESTEIRA_MAX_BODY_BYTES", "lots")],
        cwd,
    )
    .await
    .fails_with(&["ESTEIRA_MAX_BODY_BYTES"]);
    cli(
        &["server", "--port", "0", "--data-dir", data_s],
        &[("ESTEIRA_AUTH_TOKEN_FILE", "/nonexistent/tokens")],
        cwd,
    )
    .await
    .fails_with(&["/nonexistent/tokens"]);

    // Direct mode on a store that does not exist: a clear message, and nothing created.
    let missing = cwd.join("missing").join("esteira.db");
    let missing_url = format!("sqlite://{}", missing.display());
    cli(&["experiments", "list", "--store", &missing_url], &[], cwd)
        .await
        .fails_with(&["no store at", missing.to_str().expect("utf-8 path")]);
    assert!(!missing.exists() && !cwd.join("missing").exists());
    // With no target at all, the default store ./esteira-data/esteira.db is looked for.
    cli(&["runs", "show", "x"], &[], cwd).await.fails_with(&[
        "no store at",
        "esteira-data/esteira.db",
        "--server",
    ]);
    assert!(
        !cwd.join("esteira-data").exists(),
        "a read created the data dir"
    );
}
