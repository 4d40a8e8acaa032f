//! Bearer authentication: the API needs a valid token, `/health` stays open, and the CLI
//! passes `--token`, `ESTEIRA_TOKEN` or `MLFLOW_TRACKING_TOKEN`.

use serde_json::Value;

use crate::support::{Server, cli};

/// Asserts a 401 with MLflow's JSON error shape and code UNAUTHENTICATED.
async fn assert_unauthenticated(resp: reqwest::Response) {
    assert_eq!(resp.status().as_u16(), 401);
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let body: Value = resp.json().await.expect("a JSON 401 body");
    assert_eq!(body["error_code"], "UNAUTHENTICATED", "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(challenge.as_deref(), Some("Bearer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_tokens_guard_the_api_and_the_cli_sends_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let data = cwd.join("data");
    let data_s = data.to_str().expect("utf-8 path");
    let server = Server::start(
        &["--data-dir", data_s],
        &[("ESTEIRA_AUTH_TOKENS", "s3cret, other")],
        cwd,
        &cwd.join("s.log"),
    );
    let url = server.url.as_str();
    let search = format!("{url}/api/2.0/mlflow/experiments/search");
    let http = reqwest::Client::new();

    assert_unauthenticated(
        http.post(&search)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_unauthenticated(
        http.get(format!("{url}/api/2.0/mlflow/runs/get?run_id=x"))
            .bearer_auth("wrong")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_unauthenticated(
        http.post(format!("{url}/ajax-api/2.0/mlflow/experiments/create"))
            .header("Authorization", "Basic czNjcmV0Og==")
            .json(&serde_json::json!({"name": "sneaky"}))
            .send()
            .await
            .expect("send"),
    )
    .await;

    let health = http
        .get(format!("{url}/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(health.text().await.expect("body").trim(), "OK");

    let ok = http
        .post(&search)
        .bearer_auth("s3cret")
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status().as_u16(), 200);
    crate::support::Api::new(url, Some("other"))
        .create_experiment("guarded")
        .await;

    // The CLI: --token, ESTEIRA_TOKEN and MLFLOW_TRACKING_TOKEN all work.
    let list = ["experiments", "list", "--server", url, "--json"];
    for (extra, envs) in [
        (vec!["--token", "s3cret"], vec![]),
        (vec![], vec![("ESTEIRA_TOKEN", "s3cret")]),
        (vec![], vec![("MLFLOW_TRACKING_TOKEN", "other")]),
    ] {
        let mut args = list.to_vec();
        args.extend(extra);
        let exps = cli(&args, &envs, cwd).await.json();
        assert!(
            exps.as_array()
                .is_some_and(|a| a.iter().any(|e| e["name"] == "guarded")),
            "{exps}"
        );
    }
    // Without a token, or with a wrong one, it fails with the server's code.
    cli(&list, &[], cwd).await.fails_with(&["UNAUTHENTICATED"]);
    let mut args = list.to_vec();
    args.extend(["--token", "wrong"]);
    cli(&args, &[], cwd).await.fails_with(&["UNAUTHENTICATED"]);
    cli(&list, &[("ESTEIRA_TOKEN", "wrong")], cwd)
        .await
        .fails_with(&["UNAUTHENTICATED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_token_file_turns_auth_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = dir.path();
    let tokens = cwd.join("tokens");
    std::fs::write(&tokens, "# ops team\nfrom-file\n\n").expect("write tokens");
    let data = cwd.join("data");
    let server = Server::start(
        &[
            "--data-dir",
            data.to_str().expect("utf-8 path"),
            "--auth-token-file",
            tokens.to_str().expect("utf-8 path"),
        ],
        &[],
        cwd,
        &cwd.join("s.log"),
    );
    let list = ["experiments", "list", "--server", server.url.as_str()];
    cli(&list, &[], cwd).await.fails_with(&["UNAUTHENTICATED"]);
    let mut args = list.to_vec();
    args.extend(["--token", "from-file"]);
    cli(&args, &[], cwd).await.ok();
    let mut args = list.to_vec();
    args.extend(["--token", "# ops team"]);
    cli(&args, &[], cwd).await.fails_with(&["UNAUTHENTICATED"]);
}
