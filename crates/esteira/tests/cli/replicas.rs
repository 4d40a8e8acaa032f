//! Several server replicas on one PostgreSQL database and one artifact store: what one
//! writes the other reads, and concurrent writes through both never collide.

use std::collections::BTreeSet;

use serde_json::json;

use crate::support::{PgDatabase, Server, postgres_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_database_and_one_artifact_store() {
    let Some(admin) = postgres_url("two_replicas_share_one_database_and_one_artifact_store") else {
        return;
    };
    let db = PgDatabase::create(&admin, "replicas").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let artifacts = dir.path().join("shared-artifacts");
    let replica = |n: usize| {
        let data = dir.path().join(format!("data{n}"));
        let args = [
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--store",
            &db.url,
            "--artifacts",
            artifacts.to_str().expect("utf-8 path"),
        ];
        Server::start(
            &args,
            &[],
            dir.path(),
            &dir.path().join(format!("r{n}.log")),
        )
    };
    let (mut a, mut b) = (replica(0), replica(1));
    let (api_a, api_b) = (a.api(), b.api());

    let experiment = api_a.create_experiment("shared").await;
    let run_id = api_a.create_run(&experiment, "written-on-a").await;
    api_a
        .post(
            "runs/log-batch",
            json!({"run_id": run_id, "params": [{"key": "alpha", "value": "0.1"}],
                   "metrics": [{"key": "rmse", "value": 0.25, "timestamp": 1, "step": 0}]}),
        )
        .await;
    let run = api_b.get("runs/get", &[("run_id", &run_id)]).await;
    assert_eq!(run["run"]["data"]["params"][0]["value"], "0.1");
    assert_eq!(run["run"]["data"]["metrics"][0]["value"], 0.25);

    let stored = run["run"]["info"]["artifact_uri"]
        .as_str()
        .expect("artifact uri")
        .trim_start_matches("mlflow-artifacts:/")
        .to_string();
    let http = reqwest::Client::new();
    let put = http
        .put(format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{stored}/model.txt",
            a.url
        ))
        .body("weights")
        .send()
        .await
        .expect("upload through a");
    assert!(put.status().is_success());
    let got = http
        .get(format!(
            "{}/api/2.0/mlflow-artifacts/artifacts/{stored}/model.txt",
            b.url
        ))
        .send()
        .await
        .expect("download through b");
    assert_eq!(got.text().await.expect("body"), "weights");

    api_a
        .post("registered-models/create", json!({"name": "demand"}))
        .await;
    let mut creations = tokio::task::JoinSet::new();
    for i in 0..16 {
        let api = if i % 2 == 0 {
            api_a.clone()
        } else {
            api_b.clone()
        };
        let source = format!("mlflow-artifacts:/{stored}");
        creations.spawn(async move {
            let v = api
                .post(
                    "model-versions/create",
                    json!({"name": "demand", "source": source}),
                )
                .await;
            v["model_version"]["version"]
                .as_str()
                .expect("version")
                .to_string()
        });
    }
    let mut versions = BTreeSet::new();
    while let Some(version) = creations.join_next().await {
        assert!(
            versions.insert(version.expect("task")),
            "a version number was handed out twice"
        );
    }
    let expected: BTreeSet<String> = (1..=16).map(|v| v.to_string()).collect();
    assert_eq!(versions, expected);

    api_b
        .post(
            "registered-models/alias",
            json!({"name": "demand", "alias": "champion", "version": "7"}),
        )
        .await;
    let champion = api_a
        .get(
            "registered-models/alias",
            &[("name", "demand"), ("alias", "champion")],
        )
        .await;
    assert_eq!(champion["model_version"]["version"], "7");

    a.stop_gracefully(std::time::Duration::from_secs(10));
    b.stop_gracefully(std::time::Duration::from_secs(10));
    db.drop_database().await;
}
