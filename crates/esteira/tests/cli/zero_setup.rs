//! Zero set-up: `esteira server` with no configuration keeps everything in ./esteira-data,
//! and the CLI run from the same directory finds that store without flags.

use std::time::Duration;

use crate::support::{Server, cli};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_without_flags_creates_esteira_data_in_cwd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let logs = tempfile::tempdir().expect("tempdir");
    let mut server = Server::start_raw(
        &["server", "--port", "0"],
        &[],
        cwd,
        &logs.path().join("s.log"),
    );
    let data = cwd.join("esteira-data");
    assert!(
        data.join("esteira.db").is_file(),
        "no ./esteira-data/esteira.db"
    );
    assert!(
        data.join("artifacts").is_dir(),
        "no ./esteira-data/artifacts"
    );

    let api = server.api();
    let health = reqwest::get(format!("{}/health", server.url))
        .await
        .expect("health");
    assert_eq!(health.text().await.expect("body").trim(), "OK");
    let experiment = api.create_experiment("zero").await;
    let run_id = api.create_run(&experiment, "first").await;
    let got = api
        .get("experiments/get", &[("experiment_id", &experiment)])
        .await;
    let location = got["experiment"]["artifact_location"]
        .as_str()
        .expect("location");
    assert!(!location.is_empty(), "{got}");

    // The CLI in the same directory, no flags: the default store.
    let exps = cli(&["experiments", "list", "--json"], &[], cwd)
        .await
        .json();
    assert!(
        exps.as_array()
            .is_some_and(|a| a.iter().any(|e| e["name"] == "zero")),
        "{exps}"
    );
    let run = cli(&["runs", "show", &run_id, "--json"], &[], cwd)
        .await
        .json();
    assert_eq!(run["info"]["run_id"], run_id.as_str());

    server.stop_gracefully(Duration::from_secs(10));
    let leftovers: Vec<_> = std::fs::read_dir(cwd)
        .expect("read cwd")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["esteira-data"],
        "only ./esteira-data is created"
    );
}
