//! `docs/openapi.json` against the router: the document is valid JSON with resolvable
//! references, it documents exactly the routes of Esteira's own API (path and method), every
//! documented operation is routed (not `ENDPOINT_NOT_FOUND`, not 405) and answers only
//! documented statuses, the answers that succeed on an empty store have the documented
//! top-level fields, the pipeline records (pipeline, trigger, firing, run, step) have exactly
//! the documented fields, and the server serves the document itself.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use esteira_artifacts::ArtifactStore;
use esteira_server::{AppState, esteira_route_paths, router};
use esteira_store::SqlStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const DOCUMENT: &str = include_str!("../../../docs/openapi.json");
const PREFIX: &str = "/api/2.0/esteira";

fn document() -> Value {
    serde_json::from_str(DOCUMENT).expect("docs/openapi.json is not valid JSON")
}

/// (path, upper-case method) of every operation in the document.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for method in item.as_object().expect("a path item is an object").keys() {
            operations.insert((path.clone(), method.to_uppercase()));
        }
    }
    operations
}

async fn app() -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
    let store = SqlStore::open(&url).await.unwrap();
    let artifacts =
        ArtifactStore::from_url(dir.path().join("artifacts").to_str().unwrap()).unwrap();
    (router(AppState::new(Arc::new(store), artifacts)), dir)
}

/// Sends `method path` with no parameters (an empty JSON object for POST).
async fn call(app: &Router, method: &str, path: &str) -> (StatusCode, Vec<u8>) {
    let request = match method {
        "GET" => Request::get(path).body(Body::empty()).unwrap(),
        "POST" => Request::post(path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
        other => panic!("the document uses method {other}, which the test does not send"),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, bytes.to_vec())
}

/// Follows a `#/components/schemas/NAME` reference, if `schema` is one.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected reference {reference}"));
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(doc["servers"][0]["url"], PREFIX);
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("reference {reference} is not a component schema"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "reference {reference} does not resolve"
        );
    }
}

#[test]
fn the_document_lists_exactly_the_routes_of_the_router() {
    let documented = documented_operations(&document());
    let routed: BTreeSet<(String, String)> = esteira_route_paths()
        .into_iter()
        .map(|(path, method)| (path.to_string(), method.to_string()))
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/openapi.json: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

#[tokio::test]
async fn every_documented_operation_is_routed_and_its_errors_are_documented() {
    let doc = document();
    let (app, _dir) = app().await;
    for (path, method) in documented_operations(&doc) {
        let (status, body) = call(&app, &method, &format!("{PREFIX}{path}")).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_ne!(
            json["error_code"], "ENDPOINT_NOT_FOUND",
            "{method} {path} is not routed"
        );
        let responses = &doc["paths"][&path][method.to_lowercase()]["responses"];
        assert!(
            responses.get(status.as_str()).is_some(),
            "{method} {path} answered {status}, which the document does not list"
        );
        if !status.is_success() {
            assert!(
                json["error_code"].is_string() && json["message"].is_string(),
                "{method} {path}: error body {json}"
            );
        }
    }
}

/// The JSON answers that succeed on an empty store carry exactly the documented top-level
/// fields (every required one, nothing undocumented).
#[tokio::test]
async fn successful_answers_have_the_documented_fields() {
    let doc = document();
    let (app, _dir) = app().await;
    let mut checked = 0;
    for (path, method) in documented_operations(&doc) {
        let (status, body) = call(&app, &method, &format!("{PREFIX}{path}")).await;
        let content = &doc["paths"][&path][method.to_lowercase()]["responses"]["200"]["content"];
        let Some(media) = content.get("application/json") else {
            continue;
        };
        if status != StatusCode::OK || path == "/openapi.json" {
            continue;
        }
        let schema = resolve(&doc, &media["schema"]);
        let json: Value = serde_json::from_slice(&body).unwrap();
        let keys: BTreeSet<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let properties: BTreeSet<&str> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{path}: the 200 schema has no properties"))
            .keys()
            .map(String::as_str)
            .collect();
        let required: BTreeSet<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(
            keys.is_subset(&properties),
            "{path}: {keys:?} not in {properties:?}"
        );
        assert!(
            required.is_subset(&keys),
            "{path}: {required:?} missing from {keys:?}"
        );
        checked += 1;
    }
    assert!(
        checked >= 6,
        "only {checked} answers succeeded on an empty store"
    );
}

#[tokio::test]
async fn the_server_serves_the_document_under_both_prefixes() {
    let (app, _dir) = app().await;
    for prefix in [PREFIX, "/ajax-api/2.0/esteira"] {
        let (status, body) = call(&app, "GET", &format!("{prefix}/openapi.json")).await;
        assert_eq!(status, StatusCode::OK);
        let served: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(served, document());
    }
    let post = Request::builder()
        .method(Method::POST)
        .uri(format!("{PREFIX}/openapi.json"))
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(post).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

/// Sends `method PREFIX+path` with `body` (JSON) and returns the status and the JSON answer.
async fn call_json(
    app: &Router,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method(method)
        .uri(format!("{PREFIX}{path}"));
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// `value`'s fields are exactly the properties of component schema `name`, with every
/// required one present.
fn assert_matches_schema(doc: &Value, name: &str, value: &Value) {
    let schema = &doc["components"]["schemas"][name];
    let properties: BTreeSet<&str> = schema["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("schema {name} has no properties"))
        .keys()
        .map(String::as_str)
        .collect();
    let keys: BTreeSet<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("{name}: {value} is not an object"))
        .keys()
        .map(String::as_str)
        .collect();
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys, properties,
        "{name}: answered fields against documented ones"
    );
    assert!(
        required.is_subset(&keys),
        "{name}: {required:?} missing from {keys:?}"
    );
}

/// Records answered by the pipeline routes, after a deploy and a hook firing, have the fields
/// of their documented schemas.
#[tokio::test]
async fn pipeline_records_have_the_documented_fields() {
    let doc = document();
    let (app, _dir) = app().await;
    let source = "[pipeline]\nname = \"p\"\n[steps.a]\ncommand = [\"true\"]\n\
                  [[triggers]]\nname = \"h\"\ntype = \"hook\"\n";
    let deploy = json!({"source": source, "file": "p.toml", "pipeline_dir": "/tmp"});
    let (status, deployed) = call_json(&app, Method::POST, "/pipelines/deploy", Some(deploy)).await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    assert_matches_schema(&doc, "Pipeline", &deployed["pipeline"]);
    let (_, listed) = call_json(&app, Method::GET, "/pipelines/list", None).await;
    assert_matches_schema(&doc, "Trigger", &listed["triggers"][0]);

    let fire = json!({"name": "p", "trigger": "h", "idempotency_key": "k1"});
    let (status, fired) =
        call_json(&app, Method::POST, "/pipelines/trigger", Some(fire.clone())).await;
    assert_eq!(status, StatusCode::OK, "{fired}");
    assert_eq!(fired["status"], "STARTED");
    assert_matches_schema(&doc, "Firing", &fired["firing"]);
    let (_, again) = call_json(&app, Method::POST, "/pipelines/trigger", Some(fire)).await;
    assert_eq!(again, json!({"status": "DUPLICATE"}));

    let run_id = fired["run_id"].as_str().unwrap();
    let (status, details) = call_json(
        &app,
        Method::GET,
        &format!("/pipelines/runs/get?run_id={run_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{details}");
    assert_matches_schema(&doc, "PipelineRun", &details["run"]);
    assert_matches_schema(&doc, "StepRun", &details["steps"][0]);
    let (_, firings) = call_json(&app, Method::GET, "/pipelines/firings/list", None).await;
    assert_matches_schema(&doc, "Firing", &firings["firings"][0]);
    let (_, cancelled) = call_json(
        &app,
        Method::POST,
        "/pipelines/runs/cancel",
        Some(json!({"run_id": run_id})),
    )
    .await;
    assert_matches_schema(&doc, "PipelineRun", &cancelled["run"]);
}

/// The monitor routes' records (deploy summary, monitor and policy definitions, the run
/// summary, an empty ledger) have the documented fields.
#[tokio::test]
async fn monitor_records_have_the_documented_fields() {
    let doc = document();
    let (app, _dir) = app().await;
    let source = "[[monitor]]\nname = \"m\"\nendpoint = \"e\"\nevery = \"1d\"\n\
                  [monitor.performance]\nmetric = \"mae\"\nlabel_delay = \"1d\"\n\
                  band = { k = 3.0, values = [1.0, 2.0] }\n\
                  [[policy]]\nname = \"r\"\npipeline = \"p\"\n\
                  rules = [{ monitor = \"m\", when = \"mae > band.upper\" }]\n";
    let deploy = json!({"source": source, "base_dir": "/tmp"});
    let (status, deployed) = call_json(&app, Method::POST, "/monitors/deploy", Some(deploy)).await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    let summary = &doc["paths"]["/monitors/deploy"]["post"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["properties"]["deployed"];
    let documented: BTreeSet<&str> = summary["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let answered: BTreeSet<&str> = deployed["deployed"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(answered, documented);
    let (_, listed) = call_json(&app, Method::GET, "/monitors/list", None).await;
    assert_matches_schema(&doc, "Definition", &listed["monitors"][0]);
    assert_matches_schema(&doc, "Definition", &listed["policies"][0]);
    let (_, ledger) = call_json(&app, Method::GET, "/decisions/list?policy=r", None).await;
    assert_matches_schema(&doc, "DecisionLedger", &ledger["ledger"]);
}
