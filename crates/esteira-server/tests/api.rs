//! The HTTP API in-process through `router()`: authentication, malformed input, limits,
//! path traversal, unknown routes, telemetry and the artifact proxy.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use esteira_artifacts::ArtifactStore;
use esteira_server::{AppState, router};
use esteira_store::SqlStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct Api {
    app: Router,
    _dir: tempfile::TempDir,
}

async fn api_with(configure: impl FnOnce(&mut AppState, &std::path::Path)) -> Api {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = SqlStore::open(&url).await.unwrap();
    let artifacts =
        ArtifactStore::from_url(dir.path().join("artifacts").to_str().unwrap()).unwrap();
    let mut state = AppState::new(Arc::new(store), artifacts);
    configure(&mut state, dir.path());
    Api {
        app: router(state),
        _dir: dir,
    }
}

async fn api() -> Api {
    api_with(|_, _| {}).await
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn error_code(&self) -> String {
        self.json()["error_code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

impl Api {
    async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(req.body(body).unwrap()).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, &format!("/api/2.0/mlflow/{path}"), Some(body))
            .await
    }

    async fn get(&self, path_and_query: &str) -> Reply {
        self.call(
            Method::GET,
            &format!("/api/2.0/mlflow/{path_and_query}"),
            None,
        )
        .await
    }

    async fn new_run(&self) -> String {
        let r = self
            .post("runs/create", json!({"experiment_id": "0"}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        r.json()["run"]["info"]["run_id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[tokio::test]
async fn health_version_and_default_experiment() {
    let api = api().await;
    let r = api.call(Method::GET, "/health", None).await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (StatusCode::OK, b"OK".as_slice())
    );
    let r = api.call(Method::GET, "/version", None).await;
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        env!("CARGO_PKG_VERSION")
    );
    let r = api.get("experiments/get?experiment_id=0").await;
    assert_eq!(r.json()["experiment"]["name"], "Default");
    let r = api
        .call(
            Method::GET,
            "/ajax-api/2.0/mlflow/experiments/get-by-name?experiment_name=Default",
            None,
        )
        .await;
    assert_eq!(r.json()["experiment"]["experiment_id"], "0");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_404() {
    let api = api().await;
    for (method, uri) in [
        (Method::GET, "/api/2.0/mlflow/does-not-exist"),
        (Method::GET, "/api/2.0/mlflow/runs/create"),
        (Method::DELETE, "/api/2.0/mlflow/experiments/create"),
        (Method::GET, "/nothing/here"),
    ] {
        let r = api.call(method.clone(), uri, None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(r.error_code(), "ENDPOINT_NOT_FOUND", "{method} {uri}");
    }
}

#[tokio::test]
async fn malformed_json_is_400_naming_the_problem() {
    let api = api().await;
    let req = Request::post("/api/2.0/mlflow/experiments/create")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"name\": "))
        .unwrap();
    let r = api.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "BAD_REQUEST");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("Malformed JSON")
    );
    let req = Request::post("/api/2.0/mlflow/experiments/create")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("[1, 2]"))
        .unwrap();
    assert_eq!(api.send(req).await.error_code(), "BAD_REQUEST");
}

#[tokio::test]
async fn wrong_types_are_400_naming_the_field() {
    let api = api().await;
    let run_id = api.new_run().await;
    let r = api
        .post(
            "runs/log-metric",
            json!({"run_id": run_id, "key": "m", "value": "high", "timestamp": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE");
    assert!(
        r.json()["message"].as_str().unwrap().contains("'value'"),
        "{}",
        r.json()
    );
    let r = api.get("experiments/search?max_results=lots").await;
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("'max_results'")
    );
    let r = api
        .post("runs/log-batch", json!({"run_id": run_id, "metrics": [{"key": "m", "value": 1, "timestamp": "yesterday"}]}))
        .await;
    assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE");
    assert!(
        r.json()["message"].as_str().unwrap().contains("timestamp"),
        "{}",
        r.json()
    );
    let r = api.post("experiments/create", json!({})).await;
    assert!(r.json()["message"].as_str().unwrap().contains("'name'"));
    let r = api
        .post(
            "runs/log-parameter",
            json!({"run_id": "../etc", "key": "k", "value": "v"}),
        )
        .await;
    assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn missing_resources_are_404_with_mlflow_codes() {
    let api = api().await;
    let r = api
        .get("runs/get?run_id=0123456789abcdef0123456789abcdef")
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
    );
    let r = api
        .get("experiments/get-by-name?experiment_name=nope")
        .await;
    assert_eq!(r.error_code(), "RESOURCE_DOES_NOT_EXIST");
    let r = api.get("registered-models/get?name=nope").await;
    assert_eq!(r.error_code(), "RESOURCE_DOES_NOT_EXIST");
    let r = api
        .post("experiments/create", json!({"name": "twice"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api
        .post("experiments/create", json!({"name": "twice"}))
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS")
    );
}

#[tokio::test]
async fn params_are_write_once_and_limits_are_enforced() {
    let api = api().await;
    let run_id = api.new_run().await;
    let log = |value: &str| json!({"run_id": run_id, "key": "alpha", "value": value});
    assert_eq!(
        api.post("runs/log-parameter", log("0.1")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        api.post("runs/log-parameter", log("0.1")).await.status,
        StatusCode::OK
    );
    let r = api.post("runs/log-parameter", log("0.2")).await;
    assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE");
    let metrics: Vec<Value> = (0..1001)
        .map(|i| json!({"key": "m", "value": 1.0, "timestamp": i, "step": i}))
        .collect();
    let r = api
        .post(
            "runs/log-batch",
            json!({"run_id": run_id, "metrics": metrics}),
        )
        .await;
    assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE");
    assert!(r.json()["message"].as_str().unwrap().contains("1000"));
    let r = api
        .post(
            "runs/set-tag",
            json!({"run_id": run_id, "key": "k", "value": "v".repeat(8001)}),
        )
        .await;
    assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE");
    let r = api.get(&format!("runs/get?run_id={run_id}")).await;
    assert!(
        r.json()["run"]["data"]
            .get("metrics")
            .is_none_or(|m| m.as_array().unwrap().is_empty())
    );
}

#[tokio::test]
async fn malformed_filters_are_invalid_parameter_value() {
    let api = api().await;
    for filter in [
        "metrics.rmse <",
        "metrics.rmse < 'a'",
        "params.x = 1 OR params.y = 2",
        "bogus.x = 1",
    ] {
        let r = api
            .post(
                "runs/search",
                json!({"experiment_ids": ["0"], "filter": filter}),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{filter}");
        assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE", "{filter}");
    }
    let r = api
        .post(
            "runs/search",
            json!({"experiment_ids": ["0"], "page_token": "garbage"}),
        )
        .await;
    assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let api = api_with(|s, _| s.max_body_bytes = 1024).await;
    let r = api
        .post("experiments/create", json!({"name": "x".repeat(4096)}))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.error_code(), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn other_content_types_are_415() {
    let api = api().await;
    let req = Request::post("/api/2.0/mlflow/experiments/create")
        .header(header::CONTENT_TYPE, "application/xml")
        .body(Body::from("<name>x</name>"))
        .unwrap();
    let r = api.send(req).await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.error_code(), "UNSUPPORTED_MEDIA_TYPE");
}

#[tokio::test]
async fn bearer_tokens_guard_every_api_call() {
    let api = api_with(|s, _| s.auth_tokens = Some(Arc::new(vec!["s3cret".into()]))).await;
    let r = api.get("experiments/get?experiment_id=0").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error_code(), "UNAUTHENTICATED");
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
    let with = |token: &str, uri: &str| {
        Request::get(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let r = api
        .send(with(
            "wrong",
            "/api/2.0/mlflow/experiments/get?experiment_id=0",
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api
        .send(with(
            "s3cret",
            "/api/2.0/mlflow/experiments/get?experiment_id=0",
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api
        .call(
            Method::PUT,
            "/api/2.0/mlflow-artifacts/artifacts/0/x.txt",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api.call(Method::GET, "/metrics", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        api.call(Method::GET, "/health", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn artifact_proxy_round_trip() {
    let api = api().await;
    let put = Request::put("/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/dir/a.txt")
        .body(Body::from("hello"))
        .unwrap();
    assert_eq!(api.send(put).await.status, StatusCode::OK);
    let r = api
        .call(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/dir/a.txt",
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (StatusCode::OK, b"hello".as_slice())
    );
    let r = api
        .call(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts?path=1/run/artifacts",
            None,
        )
        .await;
    assert_eq!(r.json()["files"], json!([{"path": "dir", "is_dir": true}]));
    let r = api
        .call(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts?path=1/run/artifacts/dir",
            None,
        )
        .await;
    assert_eq!(
        r.json()["files"],
        json!([{"path": "a.txt", "is_dir": false, "file_size": 5}])
    );
    let r = api
        .call(
            Method::DELETE,
            "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/dir/a.txt",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api
        .call(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/1/run/artifacts/dir/a.txt",
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
    );
}

#[tokio::test]
async fn web_ui_downloads_run_and_model_version_files() {
    let api = api().await;
    let run = api
        .post("runs/create", json!({"experiment_id": "0"}))
        .await
        .json();
    let run_id = run["run"]["info"]["run_id"].as_str().unwrap().to_string();
    let uri = run["run"]["info"]["artifact_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let stored = uri.strip_prefix("mlflow-artifacts:/").unwrap();
    let put = Request::put(format!(
        "/api/2.0/mlflow-artifacts/artifacts/{stored}/model/MLmodel"
    ))
    .body(Body::from("flavors: {}"))
    .unwrap();
    assert_eq!(api.send(put).await.status, StatusCode::OK);
    let r = api
        .call(
            Method::GET,
            &format!("/get-artifact?run_uuid={run_id}&path=model/MLmodel"),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body.as_slice()),
        (StatusCode::OK, b"flavors: {}".as_slice())
    );
    api.post("registered-models/create", json!({"name": "ui"}))
        .await;
    let source = format!("{uri}/model");
    let r = api
        .post(
            "model-versions/create",
            json!({"name": "ui", "source": source, "run_id": run_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let r = api
        .call(
            Method::GET,
            "/model-versions/get-artifact?name=ui&version=1&path=MLmodel",
            None,
        )
        .await;
    assert_eq!(r.body, b"flavors: {}");
    let r = api
        .call(
            Method::GET,
            &format!("/get-artifact?run_id={run_id}&path=../../x"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn multipart_upload_through_the_proxy() {
    let api = api().await;
    let r = api
        .call(
            Method::POST,
            "/api/2.0/mlflow-artifacts/mpu/create/7/r/artifacts",
            Some(json!({"path": "/home/me/big.bin", "num_parts": 2})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let created = r.json();
    let upload_id = created["upload_id"].as_str().unwrap().to_string();
    for (n, chunk) in [(1, "first-"), (2, "second")] {
        let url = created["credentials"][n - 1]["url"].as_str().unwrap();
        let path = &url[url.find("/api/").unwrap()..];
        let r = api
            .send(Request::put(path).body(Body::from(chunk)).unwrap())
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.headers.contains_key(header::ETAG));
    }
    let parts = json!([{"part_number": 1, "etag": "\"1\""}, {"part_number": 2, "etag": "\"2\""}]);
    let r = api
        .call(
            Method::POST,
            "/api/2.0/mlflow-artifacts/mpu/complete/7/r/artifacts",
            Some(json!({"path": "big.bin", "upload_id": upload_id, "parts": parts})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    let r = api
        .call(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/7/r/artifacts/big.bin",
            None,
        )
        .await;
    assert_eq!(r.body, b"first-second");
}

#[tokio::test]
async fn artifact_paths_cannot_escape_the_root() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    let outside_dir = outside.path().to_path_buf();
    let api = api_with(move |_, root| {
        let artifacts = root.join("artifacts");
        std::fs::create_dir_all(&artifacts).unwrap();
        std::os::unix::fs::symlink(&outside_dir, artifacts.join("link")).unwrap();
    })
    .await;
    for path in [
        "../secret.txt",
        "a/../../secret.txt",
        "%2e%2e/secret.txt",
        "a%2f..%2f..%2fsecret.txt",
        "%252e%252e/secret.txt",
        "..%5csecret.txt",
        "link/secret.txt",
    ] {
        let uri = format!("/api/2.0/mlflow-artifacts/artifacts/{path}");
        let r = api.call(Method::GET, &uri, None).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "GET {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE", "{path}");
        let put = Request::put(&uri).body(Body::from("overwritten")).unwrap();
        assert_eq!(
            api.send(put).await.status,
            StatusCode::BAD_REQUEST,
            "PUT {path}"
        );
        let r = api.call(Method::DELETE, &uri, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "DELETE {path}");
    }
    let r = api
        .call(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts?path=../..",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api
        .call(
            Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts?path=/etc",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
        "top secret"
    );
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_status() {
    let api = api().await;
    api.get("experiments/get?experiment_id=0").await;
    api.get("experiments/get?experiment_id=12345").await;
    let r = api.call(Method::GET, "/metrics", None).await;
    let text = String::from_utf8(r.body).unwrap();
    assert!(
        text.contains(r#"esteira_http_requests_total{route="/api/2.0/mlflow/experiments/get",method="GET",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/2.0/mlflow/experiments/get",method="GET",status="404"} 1"#)
    );
    assert!(text.contains("esteira_http_request_duration_seconds_bucket"));
}

#[tokio::test]
async fn get_requests_accept_repeated_keys() {
    let api = api().await;
    let a = api.new_run().await;
    let b = api.new_run().await;
    for run in [&a, &b] {
        let r = api
            .post("runs/log-batch", json!({"run_id": run, "metrics": [{"key": "loss", "value": 0.5, "timestamp": 1, "step": 0}]}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = api
        .call(
            Method::GET,
            &format!("/ajax-api/2.0/mlflow/metrics/get-history-bulk?run_id={a}&run_id={b}&metric_key=loss"),
            None,
        )
        .await;
    let body = r.json();
    let runs: Vec<&str> = body["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(runs.len(), 2);
    assert!(runs.contains(&a.as_str()) && runs.contains(&b.as_str()));
}

#[tokio::test]
async fn bulk_interval_history_thins_each_run_within_the_step_range() {
    let api = api().await;
    let a = api.new_run().await;
    let b = api.new_run().await;
    for run in [&a, &b] {
        let metrics: Vec<Value> = (0..10)
            .map(|step| json!({"key": "loss", "value": step as f64, "timestamp": 100 + step, "step": step}))
            .collect();
        let r = api
            .post("runs/log-batch", json!({"run_id": run, "metrics": metrics}))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = api
        .call(
            Method::GET,
            &format!(
                "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids={a}&run_ids={b}&metric_key=loss&start_step=2&end_step=7&max_results=3"
            ),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let body = r.json();
    let points = body["metrics"].as_array().unwrap();
    for run in [&a, &b] {
        let steps: Vec<i64> = points
            .iter()
            .filter(|m| m["run_id"] == run.as_str())
            .map(|m| m["step"].as_i64().unwrap())
            .collect();
        assert_eq!(
            steps,
            [2, 4, 7],
            "first, middle and last step of the range for {run}"
        );
    }
    let r = api
        .call(
            Method::GET,
            "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?metric_key=loss",
            None,
        )
        .await;
    assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE");
}

#[tokio::test]
async fn log_model_appends_to_the_run_model_history() {
    let api = api().await;
    let run_id = api.new_run().await;
    for artifact_path in ["model", "model2"] {
        let model_json =
            json!({"artifact_path": artifact_path, "flavors": {"python_function": {}}}).to_string();
        let r = api
            .post(
                "runs/log-model",
                json!({"run_id": run_id, "model_json": model_json}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.json());
    }
    let run = api.get(&format!("runs/get?run_id={run_id}")).await.json();
    let history = run["run"]["data"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "mlflow.log-model.history")
        .map(|t| serde_json::from_str::<Value>(t["value"].as_str().unwrap()).unwrap())
        .expect("history tag");
    let paths: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["artifact_path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["model", "model2"]);
    let r = api
        .post(
            "runs/log-model",
            json!({"run_id": run_id, "model_json": "not json"}),
        )
        .await;
    assert_eq!(r.error_code(), "INVALID_PARAMETER_VALUE");
    assert!(r.json()["message"].as_str().unwrap().contains("model_json"));
}

#[tokio::test]
async fn metric_values_sent_as_json_are_stored_bit_for_bit() {
    let api = api().await;
    let run_id = api.new_run().await;
    let values: [f64; 5] = [
        0.1 + 0.2,
        1.0 / 3.0,
        2.225_073_858_507_201e-308,
        9_007_199_254_740_993.0,
        1e300,
    ];
    let metrics: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"key": format!("m{i}"), "value": v, "timestamp": 1, "step": 0}))
        .collect();
    let r = api
        .post(
            "runs/log-batch",
            json!({"run_id": run_id, "metrics": metrics}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for (i, v) in values.iter().enumerate() {
        let r = api
            .get(&format!(
                "metrics/get-history?run_id={run_id}&metric_key=m{i}"
            ))
            .await;
        let got = r.json()["metrics"][0]["value"].as_f64().unwrap();
        assert_eq!(got.to_bits(), v.to_bits(), "m{i}");
    }
}

#[tokio::test]
async fn pipeline_api_deploys_triggers_and_refuses_bad_input_precisely() {
    let api = api().await;
    let source = "[pipeline]\nname = \"p\"\n[steps.a]\ncommand = [\"true\"]\n[[triggers]]\nname = \"h\"\ntype = \"hook\"\n[[triggers]]\nname = \"nightly\"\ntype = \"cron\"\nschedule = \"0 3 * * *\"\n";
    let deployed = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/deploy",
            Some(json!({"source": source, "file": "p.toml", "pipeline_dir": "/tmp"})),
        )
        .await;
    assert_eq!(deployed.status, StatusCode::OK, "{}", deployed.json());
    assert_eq!(deployed.json()["pipeline"]["version"], 1);
    let listed = api
        .call(Method::GET, "/api/2.0/esteira/pipelines/list", None)
        .await;
    assert_eq!(listed.json()["triggers"].as_array().map(Vec::len), Some(2));

    let bad_cron = source.replace("0 3 * * *", "0 25 * * *");
    let refused = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/deploy",
            Some(json!({"source": bad_cron, "file": "p.toml", "pipeline_dir": "/tmp"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code(), "INVALID_PARAMETER_VALUE");
    let message = refused.json()["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("p.toml:11:12")
            && message.contains("triggers[1].schedule")
            && message.contains("hour"),
        "{message}"
    );
    let unknown_type = source.replace("command = [\"true\"]", "type = \"trane\"");
    let refused = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/deploy",
            Some(json!({"source": unknown_type, "file": "p.toml", "pipeline_dir": "/tmp"})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown step type \"trane\""))
    );
    let unknown_field = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/deploy",
            Some(json!({"source": source, "pipeline_dir": "/tmp", "dir": "x"})),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown_field.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("dir"))
    );

    let fire = |key: &str| json!({"name": "p", "trigger": "h", "idempotency_key": key});
    let first = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/trigger",
            Some(fire("k")),
        )
        .await;
    assert_eq!(first.json()["status"], "STARTED", "{}", first.json());
    let run_id = first.json()["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let again = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/trigger",
            Some(fire("k")),
        )
        .await;
    assert_eq!(again.json()["status"], "DUPLICATE");
    let not_hook = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/trigger",
            Some(json!({"name": "p", "trigger": "nightly"})),
        )
        .await;
    assert_eq!(not_hook.status, StatusCode::BAD_REQUEST);
    assert!(
        not_hook.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("cron trigger, not a hook"))
    );
    let bad_param = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/trigger",
            Some(json!({"name": "p", "params": {"nope": 1}})),
        )
        .await;
    assert_eq!(bad_param.json()["status"], "FAILED");
    assert!(
        bad_param.json()["reason"]
            .as_str()
            .is_some_and(|m| m.contains("params.nope"))
    );
    let missing = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/trigger",
            Some(json!({"name": "q"})),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let run = api
        .call(
            Method::GET,
            &format!("/api/2.0/esteira/pipelines/runs/get?run_id={run_id}"),
            None,
        )
        .await;
    assert_eq!(run.json()["run"]["status"], "QUEUED");
    assert_eq!(run.json()["steps"][0]["status"], "READY");
    let cancelled = api
        .call(
            Method::POST,
            "/api/2.0/esteira/pipelines/runs/cancel",
            Some(json!({"run_id": run_id})),
        )
        .await;
    assert_eq!(cancelled.json()["run"]["status"], "CANCELLED");
    let firings = api
        .call(
            Method::GET,
            "/api/2.0/esteira/pipelines/firings/list?pipeline=p",
            None,
        )
        .await;
    assert_eq!(firings.json()["firings"].as_array().map(Vec::len), Some(2));

    for (uri, code) in [
        (
            "/api/2.0/esteira/pipelines/runs/get?run_id=nope",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/2.0/esteira/pipelines/runs/get",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/2.0/esteira/pipelines/runs/list?max_results=0",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/2.0/esteira/pipelines/runs/list?max_results=ten",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/2.0/esteira/lineage?subject=nothing",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/2.0/esteira/lineage?subject=x&depth=0",
            StatusCode::BAD_REQUEST,
        ),
        (
            "/api/2.0/esteira/pipelines/get?name=nope",
            StatusCode::NOT_FOUND,
        ),
        (
            "/api/2.0/esteira/models/alias-history?name=nope",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let reply = api.call(Method::GET, uri, None).await;
        assert_eq!(reply.status, code, "{uri}: {}", reply.json());
        assert!(!reply.error_code().is_empty(), "{uri}: JSON error body");
    }
}

#[tokio::test]
async fn endpoint_api_refuses_bad_definitions_precisely() {
    let api = api().await;
    let cases = [
        (json!({"name": "e", "routes": []}), "at least one route"),
        (
            json!({"name": "e", "routes": [{"name": "a", "model": "s3://bucket/m", "weight": 1}]}),
            "routes[0].model",
        ),
        (
            json!({"name": "e", "routes": [{"name": "a", "model": "models:/m@x", "weight": 0}]}),
            "weights add up to 0",
        ),
        (
            json!({"name": "e", "routes": [
                {"name": "a", "model": "models:/m@x", "weight": 1},
                {"name": "a", "model": "models:/m@y", "weight": 1}]}),
            "routes[1].name",
        ),
        (
            json!({"name": "e", "routes": [{"name": "a", "model": "models:/m@x", "weight": 1, "extra": 1}]}),
            "extra",
        ),
        (
            json!({"name": "e", "routes": [{"name": "a", "model": "models:/nope@x", "weight": 1}]}),
            "nope",
        ),
    ];
    for (body, needle) in cases {
        let reply = api
            .call(
                Method::POST,
                "/api/2.0/esteira/endpoints/create",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.json()
        );
        let message = reply.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(message.contains(needle), "{body}: {message}");
    }
    for (method, uri, body, code) in [
        (
            Method::GET,
            "/api/2.0/esteira/endpoints/get?name=nope",
            None,
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/api/2.0/esteira/endpoints/delete",
            Some(json!({"name": "nope"})),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::GET,
            "/api/2.0/esteira/endpoints/predictions",
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/serving-endpoints/nope/invocations",
            Some(json!({"inputs": [1]})),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let reply = api.call(method, uri, body).await;
        assert_eq!(reply.status, code, "{uri}: {}", reply.json());
        assert!(!reply.error_code().is_empty(), "{uri}");
    }
}

const MONITORS_TOML: &str = r#"
[[monitor]]
name = "inputs"
files = "live/*.csv"
time_column = "date"
every = "1d"

[monitor.drift]
reference = "train.csv"

[[policy]]
name = "retrain"
pipeline = "demand"
rules = [{ monitor = "inputs", when = "drift" }]
"#;

fn esteira(path: &str) -> String {
    format!("/api/2.0/esteira/{path}")
}

#[tokio::test]
async fn monitors_deploy_run_and_report_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("live")).unwrap();
    let rows = |date: &str, price: f64| {
        let mut text = String::from("date,price\n");
        for i in 0..100 {
            text.push_str(&format!("{date},{}\n", price + f64::from(i % 10) / 10.0));
        }
        text
    };
    std::fs::write(dir.path().join("train.csv"), rows("2025-01-01", 10.0)).unwrap();
    std::fs::write(dir.path().join("live/a.csv"), rows("2025-01-02", 10.0)).unwrap();
    let a = api().await;
    let base = dir.path().display().to_string();
    let bad = a
        .call(
            Method::POST,
            &esteira("monitors/deploy"),
            Some(json!({"source": MONITORS_TOML.replace("every = \"1d\"", "every = \"1 day\""), "base_dir": base})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.error_code(), "INVALID_PARAMETER_VALUE");
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap()
            .contains("monitor 'inputs'.every")
    );
    let deployed = a
        .call(
            Method::POST,
            &esteira("monitors/deploy"),
            Some(json!({"source": MONITORS_TOML, "base_dir": base})),
        )
        .await;
    assert_eq!(
        deployed.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&deployed.body)
    );
    assert_eq!(
        deployed.json()["deployed"]["monitors_changed"],
        json!(["inputs"])
    );
    let listed = a
        .call(Method::GET, &esteira("monitors/list"), None)
        .await
        .json();
    assert_eq!(listed["monitors"][0]["name"], "inputs");
    assert_eq!(listed["policies"][0]["name"], "retrain");
    // 2025-01-03T00:00:00Z: the window of Jan 2, the same prices as the reference.
    let ran = a
        .call(
            Method::POST,
            &esteira("monitors/run"),
            Some(json!({"at": 1_735_862_400_000_i64})),
        )
        .await;
    assert_eq!(
        ran.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&ran.body)
    );
    let ran = ran.json();
    assert_eq!(ran["windows"]["inputs"][0]["alarm"], false);
    assert_eq!(ran["decisions"][0]["outcome"], "avoided");
    let results = a
        .call(Method::GET, &esteira("monitors/results?name=inputs"), None)
        .await
        .json();
    assert_eq!(results["windows"][0]["rows"], 100);
    assert_eq!(
        results["windows"][0]["drift"]["columns"][0]["drifted"],
        false
    );
    let page = a
        .call(Method::GET, &esteira("monitors/report?name=inputs"), None)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&page.body).contains("<h1>Monitor <code>inputs</code></h1>"));
    let ledger = a
        .call(Method::GET, &esteira("decisions/list?policy=retrain"), None)
        .await
        .json();
    assert_eq!(ledger["ledger"]["counts"]["avoided"], 1);
    let missing = a
        .call(Method::GET, &esteira("monitors/results?name=nope"), None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let unnamed = a
        .call(Method::GET, &esteira("monitors/results"), None)
        .await;
    assert_eq!(unnamed.status, StatusCode::BAD_REQUEST);
    assert!(
        unnamed.json()["message"]
            .as_str()
            .unwrap()
            .contains("'name'")
    );
    let too_many = a
        .call(Method::GET, &esteira("decisions/list?max_results=0"), None)
        .await;
    assert_eq!(too_many.status, StatusCode::BAD_REQUEST);
    assert!(
        too_many.json()["message"]
            .as_str()
            .unwrap()
            .contains("'max_results'")
    );
}
