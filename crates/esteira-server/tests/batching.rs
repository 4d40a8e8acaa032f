//! Micro-batching behind `/invocations`, in-process: concurrent requests answer what they
//! answer without batching, a refused request or one past its timeout fails alone, and a hot
//! swap never mixes versions within a response.
//!
//! Reference values: `gbr.expected.json` and `linear.expected.json` are scikit-learn's
//! predictions of the ONNX fixtures (`crates/esteira-ml/tests/fixtures/onnx/generate.py`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use esteira_server::Telemetry;
use esteira_server::serving::{
    DEFAULT_PREDICT_TIMEOUT, MODEL_VERSION_HEADER, ServeState, serving_router,
};
use esteira_serving::batch::{BatchConfig, Batcher};
use esteira_serving::runtime::ServedModel;
use esteira_serving::slot::ModelSlot;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../esteira-ml/tests/fixtures/onnx")
}

fn read_json(name: &str) -> Result<Value> {
    let path = fixtures().join(name);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(serde_json::from_str(&text)?)
}

fn load(model: &str, version: &str) -> Result<ServedModel> {
    Ok(ServedModel::load(
        &fixtures().join(format!("{model}.onnx")),
        model,
        version,
    )?)
}

/// The fixture rows and scikit-learn's predictions of gbr (version 1) and linear (version 2).
struct Fixture {
    columns: Value,
    rows: Vec<Value>,
    gbr: Vec<f64>,
    linear: Vec<f64>,
}

fn fixture() -> Result<Fixture> {
    let inputs = read_json("inputs.json")?;
    let expected = |name: &str| -> Result<Vec<f64>> {
        Ok(read_json(name)?["variable"]
            .as_array()
            .context("variable")?
            .iter()
            .filter_map(Value::as_f64)
            .collect())
    };
    Ok(Fixture {
        columns: inputs["columns"].clone(),
        rows: inputs["rows"].as_array().context("rows")?.clone(),
        gbr: expected("gbr.expected.json")?,
        linear: expected("linear.expected.json")?,
    })
}

fn state(slot: &Arc<ModelSlot>, batcher: Option<&Arc<Batcher>>, timeout: Duration) -> ServeState {
    ServeState {
        log: None,
        endpoint: "demand".to_string(),
        timeout,
        slot: slot.clone(),
        telemetry: Arc::new(Telemetry::default()),
        max_body_bytes: 1 << 20,
        batcher: batcher.cloned(),
    }
}

fn batcher(max_rows: usize, wait: Duration) -> Result<Arc<Batcher>> {
    Ok(Arc::new(Batcher::start(BatchConfig::new(max_rows, wait)?)))
}

struct Reply {
    status: StatusCode,
    version: String,
    body: Value,
    raw: Vec<u8>,
}

impl Reply {
    fn predictions(&self) -> Result<Vec<f64>> {
        self.body["predictions"]
            .as_array()
            .with_context(|| format!("no predictions: {}", self.body))?
            .iter()
            .map(|v| v.as_f64().context("a number"))
            .collect()
    }
}

fn split_body(columns: &Value, rows: &[Value]) -> String {
    json!({"dataframe_split": {"columns": columns, "data": rows}}).to_string()
}

async fn invoke(app: Router, body: String) -> Result<Reply> {
    let request = Request::post("/invocations")
        .header("content-type", "application/json")
        .body(Body::from(body))?;
    invoke_request(app, request).await
}

async fn invoke_request(app: Router, request: Request<Body>) -> Result<Reply> {
    let response = app.oneshot(request).await?;
    let status = response.status();
    let version = response
        .headers()
        .get(MODEL_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let raw = response.into_body().collect().await?.to_bytes().to_vec();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        version,
        body,
        raw,
    })
}

/// Sends every body to `app` at once (one task each, started in order); the replies in order.
async fn invoke_all(app: &Router, bodies: Vec<String>) -> Result<Vec<Reply>> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|body| tokio::spawn(invoke(app.clone(), body)))
        .collect();
    let mut replies = Vec::new();
    for task in tasks {
        replies.push(task.await??);
    }
    Ok(replies)
}

async fn metrics(app: &Router) -> Result<String> {
    let request = Request::get("/metrics").body(Body::empty())?;
    let response = app.clone().oneshot(request).await?;
    let bytes = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(bytes.to_vec())?)
}

/// The value of the metrics line starting with `series` (labels included).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

fn close_to(got: f64, want: f64) -> bool {
    (got - want).abs() <= (1e-5 * want.abs()).max(1e-9)
}

const LABELS: &str = "endpoint=\"demand\",route=\"default\"";

#[tokio::test]
async fn concurrent_requests_batched_answer_the_bytes_they_answer_unbatched() -> Result<()> {
    let f = fixture()?;
    let slot = Arc::new(ModelSlot::new(load("gbr", "1")?));
    // One request has whole numbers in x0: an integer column, a schema of its own.
    let mut whole = f.rows[30].clone();
    whole[0] = json!(2);
    let mut bodies: Vec<String> = (0..16)
        .map(|i| split_body(&f.columns, &f.rows[2 * i..2 * i + 2]))
        .collect();
    bodies.insert(9, split_body(&f.columns, &[whole.clone()]));
    let batched_app = serving_router(state(
        &slot,
        Some(&batcher(32, Duration::from_millis(200))?),
        DEFAULT_PREDICT_TIMEOUT,
    ));
    let plain_app = serving_router(state(&slot, None, DEFAULT_PREDICT_TIMEOUT));
    let batched = invoke_all(&batched_app, bodies.clone()).await?;
    let plain = invoke_all(&plain_app, bodies).await?;
    for (i, (b, p)) in batched.iter().zip(&plain).enumerate() {
        ensure!(b.status == StatusCode::OK, "request {i}: {}", b.body);
        ensure!(
            b.raw == p.raw,
            "request {i}: batched {} vs {}",
            b.body,
            p.body
        );
        ensure!(b.version == "gbr/1", "request {i}: version {:?}", b.version);
    }
    for (i, reply) in batched.iter().enumerate().filter(|(i, _)| *i != 9) {
        let k = if i < 9 { i } else { i - 1 };
        let got = reply.predictions()?;
        for (j, g) in got.iter().enumerate() {
            ensure!(close_to(*g, f.gbr[2 * k + j]), "request {i} row {j}: {g}");
        }
    }
    let text = metrics(&batched_app).await?;
    let count = metric(
        &text,
        &format!("esteira_serving_batch_rows_count{{{LABELS}}}"),
    );
    let sum = metric(
        &text,
        &format!("esteira_serving_batch_rows_sum{{{LABELS}}}"),
    );
    let single = metric(
        &text,
        &format!("esteira_serving_batch_rows_bucket{{{LABELS},le=\"2\"}}"),
    );
    assert_eq!(sum, Some(33.0), "every row scored once:\n{text}");
    let (count, single) = (count.context("count")?, single.context("bucket")?);
    assert!(
        single < count,
        "a batch larger than one request happened ({single} of {count} batches had at most 2 rows):\n{text}"
    );
    assert!(
        metrics(&plain_app)
            .await?
            .find("esteira_serving_batch_rows")
            .is_none()
    );
    Ok(())
}

#[tokio::test]
async fn a_refused_request_gets_its_own_400_and_its_batch_neighbours_200() -> Result<()> {
    let f = fixture()?;
    let slot = Arc::new(ModelSlot::new(load("gbr", "1")?));
    let app = serving_router(state(
        &slot,
        Some(&batcher(8, Duration::from_secs(1))?),
        DEFAULT_PREDICT_TIMEOUT,
    ));
    let mut bad = f.rows[50].clone();
    bad[7] = Value::Null;
    let mut bodies: Vec<String> = (0..7)
        .map(|i| split_body(&f.columns, &f.rows[i..=i]))
        .collect();
    bodies.insert(3, split_body(&f.columns, &[bad]));
    let replies = invoke_all(&app, bodies).await?;
    assert_eq!(
        replies[3].status,
        StatusCode::BAD_REQUEST,
        "{}",
        replies[3].body
    );
    assert_eq!(replies[3].body["error_code"], "BAD_REQUEST");
    assert_eq!(
        replies[3].body["message"],
        "data: column 'x7' is null at row 0"
    );
    for (i, reply) in replies.iter().enumerate().filter(|(i, _)| *i != 3) {
        let k = if i < 3 { i } else { i - 1 };
        ensure!(
            reply.status == StatusCode::OK,
            "request {i}: {}",
            reply.body
        );
        ensure!(close_to(reply.predictions()?[0], f.gbr[k]), "request {i}");
    }
    let text = metrics(&app).await?;
    assert_eq!(
        metric(
            &text,
            &format!("esteira_serving_batch_rescored_total{{{LABELS}}}")
        ),
        Some(1.0),
        "the 8 requests made one batch, re-scored alone:\n{text}"
    );
    Ok(())
}

#[tokio::test]
async fn a_request_past_its_timeout_is_answered_504_and_the_others_200() -> Result<()> {
    let f = fixture()?;
    let slot = Arc::new(ModelSlot::new(load("gbr", "1")?));
    // Two servers over one slot and one batcher: one answers within 1 ns, one within 30 s.
    // The batch needs 9 rows; the impatient request's row alone cannot complete it.
    let shared = batcher(9, Duration::from_secs(1))?;
    let impatient = serving_router(state(&slot, Some(&shared), Duration::from_nanos(1)));
    let patient = serving_router(state(&slot, Some(&shared), DEFAULT_PREDICT_TIMEOUT));
    let late = invoke(impatient, split_body(&f.columns, &f.rows[200..201])).await?;
    assert_eq!(late.status, StatusCode::GATEWAY_TIMEOUT, "{}", late.body);
    assert_eq!(late.body["error_code"], "DEADLINE_EXCEEDED");
    let bodies = (0..8)
        .map(|i| split_body(&f.columns, &f.rows[i..=i]))
        .collect();
    let replies = invoke_all(&patient, bodies).await?;
    for (i, reply) in replies.iter().enumerate() {
        ensure!(
            reply.status == StatusCode::OK,
            "request {i}: {}",
            reply.body
        );
        ensure!(close_to(reply.predictions()?[0], f.gbr[i]), "request {i}");
    }
    Ok(())
}

#[tokio::test]
async fn a_hot_swap_during_batched_traffic_never_mixes_versions_in_a_response() -> Result<()> {
    let f = fixture()?;
    let slot = Arc::new(ModelSlot::new(load("gbr", "1")?));
    let app = serving_router(state(
        &slot,
        Some(&batcher(16, Duration::from_millis(2))?),
        DEFAULT_PREDICT_TIMEOUT,
    ));
    let swapper = {
        let slot = slot.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            for round in 0..30 {
                let (model, version) = if round % 2 == 0 {
                    ("linear", "2")
                } else {
                    ("gbr", "1")
                };
                slot.install(load(model, version)?);
                std::thread::sleep(Duration::from_millis(3));
            }
            Ok(())
        })
    };
    let mut seen = std::collections::BTreeSet::new();
    for round in 0..12 {
        if round == 6 {
            slot.install(load("linear", "2")?);
        }
        let bodies = (0..16)
            .map(|i| split_body(&f.columns, &f.rows[i * 3..i * 3 + 3]))
            .collect();
        for (i, reply) in invoke_all(&app, bodies).await?.iter().enumerate() {
            ensure!(reply.status == StatusCode::OK, "{}", reply.body);
            let expected = match reply.version.as_str() {
                "gbr/1" => &f.gbr,
                "linear/2" => &f.linear,
                other => anyhow::bail!("unknown version {other:?}"),
            };
            for (j, got) in reply.predictions()?.iter().enumerate() {
                let want = expected[i * 3 + j];
                ensure!(
                    close_to(*got, want),
                    "round {round} request {i} row {j}: {got} is not {} ({want})",
                    reply.version
                );
            }
            seen.insert(reply.version.clone());
        }
    }
    swapper.await??;
    assert!(
        seen.contains("gbr/1") && seen.contains("linear/2"),
        "{seen:?}"
    );
    Ok(())
}

/// The whole application over a fresh SQLite store, with its temporary directory.
async fn app() -> Result<(Router, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = esteira_store::SqlStore::open(&url).await?;
    let artifacts = esteira_artifacts::ArtifactStore::from_url(
        dir.path().join("artifacts").to_str().context("path")?,
    )?;
    let state = esteira_server::AppState::new(Arc::new(store), artifacts);
    Ok((esteira_server::router(state), dir))
}

async fn create_endpoint(app: &Router, definition: Value) -> Result<Reply> {
    let request = Request::post("/api/2.0/esteira/endpoints/create")
        .header("content-type", "application/json")
        .body(Body::from(definition.to_string()))?;
    let response = app.clone().oneshot(request).await?;
    let status = response.status();
    let raw = response.into_body().collect().await?.to_bytes().to_vec();
    Ok(Reply {
        status,
        version: String::new(),
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        raw,
    })
}

#[tokio::test]
async fn an_endpoint_created_with_batching_batches_its_route_and_counts_it() -> Result<()> {
    let f = fixture()?;
    let (app, _dir) = app().await?;
    let model = fixtures().join("gbr.onnx").display().to_string();
    let route = json!([{"name": "main", "model": model, "weight": 1}]);
    let refused = create_endpoint(
        &app,
        json!({"name": "demand", "routes": route, "batch": {"max_rows": 0, "max_wait_us": 1000}}),
    )
    .await?;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    let message = refused.body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("batch: max_rows: must be between 1 and"),
        "{message}"
    );
    let created = create_endpoint(
        &app,
        json!({"name": "demand", "routes": route, "batch": {"max_rows": 8, "max_wait_us": 1_000_000}}),
    )
    .await?;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert_eq!(created.body["endpoint"]["batch"]["max_rows"], 8);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let body = split_body(&f.columns, &f.rows[i..=i]);
            let request = Request::post("/serving-endpoints/demand/invocations")
                .header("content-type", "application/json")
                .body(Body::from(body));
            let app = app.clone();
            tokio::spawn(async move { invoke_request(app, request?).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let reply = task.await??;
        ensure!(
            reply.status == StatusCode::OK,
            "request {i}: {}",
            reply.body
        );
        ensure!(close_to(reply.predictions()?[0], f.gbr[i]), "request {i}");
    }
    let text = metrics(&app).await?;
    let labels = "endpoint=\"demand\",route=\"main\"";
    assert_eq!(
        metric(
            &text,
            &format!("esteira_serving_batch_rows_count{{{labels}}}")
        ),
        Some(1.0),
        "8 single-row requests, a batch of at most 8 rows waiting up to 1 s:\n{text}"
    );
    assert_eq!(
        metric(
            &text,
            &format!("esteira_serving_batch_rows_sum{{{labels}}}")
        ),
        Some(8.0)
    );
    Ok(())
}

#[tokio::test]
async fn an_oversized_body_is_413_with_batching_on_and_off() -> Result<()> {
    let f = fixture()?;
    let slot = Arc::new(ModelSlot::new(load("gbr", "1")?));
    let rows: Vec<Value> = f.rows.iter().cycle().take(20_000).cloned().collect();
    let big = split_body(&f.columns, &rows);
    assert!(big.len() > 1 << 20, "the body must pass the 1 MiB limit");
    for batcher in [None, Some(batcher(32, Duration::from_millis(1))?)] {
        let app = serving_router(state(&slot, batcher.as_ref(), Duration::from_secs(30)));
        let reply = invoke(app.clone(), big.clone()).await?;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            reply.body
        );
        assert_eq!(reply.body["error_code"], "PAYLOAD_TOO_LARGE");
        let small = invoke(app, split_body(&f.columns, &f.rows[..1])).await?;
        assert_eq!(small.status, StatusCode::OK);
    }
    Ok(())
}
