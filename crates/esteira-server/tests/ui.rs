//! The web UI in-process through `router()`: every page on a seeded store (experiments,
//! runs with metric histories, a registered model whose alias moved, a pipeline run of two
//! command steps, an endpoint with traffic, a monitor with windows, decisions), pagination,
//! unknown ids, bad filters and page tokens, escaping of user text, and authentication.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use esteira_artifacts::ArtifactStore;
use esteira_core::entities::{Metric, Param, RunStatus};
use esteira_pipeline::engine::RunRequest;
use esteira_pipeline::local::{LocalOptions, run_local};
use esteira_pipeline::spec::PipelineSpec;
use esteira_pipeline::worker::WorkerConfig;
use esteira_server::{AppState, router};
use esteira_store::monitors::{DefinitionKind, NewDecision, NewMonitorResult};
use esteira_store::pipelines::RunStatus as PipelineRunStatus;
use esteira_store::{
    EndpointStore, MetadataStore, MonitorStore, NewExperiment, NewModelVersion, NewRegisteredModel,
    NewRun, PipelineStore, RunUpdate, SqlStore,
};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

const HOSTILE: &str = "<script>alert(1)</script>";

const PIPELINE: &str = r#"
[pipeline]
name = "tiny"

[steps.prepare]
command = ["sh", "-c", "echo preparing; echo rows > \"$ESTEIRA_OUTPUT_DATA\""]
outputs = { data = "file" }

[steps.train]
command = ["sh", "-c", "echo training from $ESTEIRA_INPUT_DATA; cp \"$ESTEIRA_INPUT_DATA\" \"$ESTEIRA_OUTPUT_MODEL\""]
inputs = { data = "prepare.data" }
outputs = { model = "file" }
"#;

struct Ui {
    app: Router,
    store: SqlStore,
    state: AppState,
    _dir: tempfile::TempDir,
}

struct Page {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Ui {
    async fn new(tokens: Option<Vec<String>>) -> Ui {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = SqlStore::open(&url).await.unwrap();
        let artifacts =
            ArtifactStore::from_url(dir.path().join("artifacts").to_str().unwrap()).unwrap();
        let mut state = AppState::new(Arc::new(store.clone()), artifacts);
        state.auth_tokens = tokens.map(Arc::new);
        Ui {
            app: router(state.clone()),
            store,
            state,
            _dir: dir,
        }
    }

    async fn send(&self, req: Request<Body>) -> Page {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Page {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, uri: &str) -> Page {
        self.send(Request::get(uri).body(Body::empty()).unwrap())
            .await
    }

    /// GET that must answer 200 with HTML.
    async fn ok(&self, uri: &str) -> String {
        let page = self.get(uri).await;
        assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.text);
        assert!(
            page.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{uri}"
        );
        page.text
    }

    async fn experiment(&self, name: &str) -> String {
        self.store
            .create_experiment(NewExperiment {
                name: name.into(),
                ..Default::default()
            })
            .await
            .unwrap()
    }

    /// A finished run with `rmse` (its history at steps 0..points) and param `alpha`.
    async fn run(&self, experiment_id: &str, name: &str, rmse: f64, points: i64) -> String {
        let run = self
            .store
            .create_run(NewRun {
                experiment_id: experiment_id.into(),
                user_id: "tester".into(),
                run_name: Some(name.into()),
                start_time: Some(1_700_000_000_000),
                tags: vec![],
            })
            .await
            .unwrap();
        let id = run.info.run_id;
        let metrics: Vec<Metric> = (0..points)
            .map(|step| Metric {
                key: "rmse".into(),
                value: rmse + (points - 1 - step) as f64,
                timestamp: 1_700_000_000_000 + step,
                step,
                dataset_name: None,
                dataset_digest: None,
                model_id: None,
                run_id: None,
            })
            .collect();
        let params = [Param {
            key: "alpha".into(),
            value: format!("{rmse}"),
        }];
        self.store
            .log_batch(&id, &metrics, &params, &[])
            .await
            .unwrap();
        self.store
            .update_run(
                &id,
                RunUpdate {
                    status: Some(RunStatus::Finished),
                    end_time: Some(1_700_000_065_000),
                    run_name: None,
                },
            )
            .await
            .unwrap();
        id
    }

    async fn model(&self) {
        self.store
            .create_registered_model(NewRegisteredModel {
                name: "demand-model".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        for _ in 0..2 {
            self.store
                .create_model_version(NewModelVersion {
                    name: "demand-model".into(),
                    source: "/tmp/esteira-ui-test/model".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        self.store
            .move_alias("demand-model", "champion", "1", "alice", "first model")
            .await
            .unwrap();
        self.store
            .move_alias(
                "demand-model",
                "champion",
                "2",
                "policy",
                "mae improved 12%",
            )
            .await
            .unwrap();
    }

    async fn pipeline_run(&self) -> String {
        let spec = PipelineSpec::parse("pipeline.toml", PIPELINE).unwrap();
        let work = self._dir.path().join("work");
        self.state
            .engine
            .deploy(&spec, self._dir.path())
            .await
            .unwrap();
        let request = RunRequest {
            params: spec.params_with(&[]).unwrap(),
            spec,
            pipeline_dir: self._dir.path().to_path_buf(),
            no_cache: false,
            from_step: None,
            from_run: None,
            firing_id: None,
            pipeline_version: None,
            user: "tester".into(),
        };
        let options = LocalOptions {
            workers: 1,
            worker: WorkerConfig::new(work),
            progress_every: Duration::from_millis(20),
        };
        let (_cancel, cancel_rx) = tokio::sync::watch::channel(false);
        let (run, _) = run_local(
            self.state.engine.clone(),
            request,
            options,
            |_, _| {},
            cancel_rx,
        )
        .await
        .unwrap();
        assert_eq!(run.status, PipelineRunStatus::Succeeded, "{run:?}");
        run.run_id
    }

    async fn endpoint(&self) {
        let spec = json!({"routes": [{"name": "champion", "model": "models:/demand-model@champion", "weight": 90},
                                     {"name": "challenger", "model": "models:/demand-model/1", "weight": 10}]});
        self.store
            .put_endpoint("demand", &spec.to_string())
            .await
            .unwrap();
        let t = &self.state.telemetry;
        let champion = "endpoint demand route champion version 2";
        t.record(champion, "POST", 200, Duration::from_millis(3));
        t.record(champion, "POST", 200, Duration::from_millis(4));
        t.record(champion, "POST", 200, Duration::from_millis(30));
        t.record(champion, "POST", 400, Duration::from_millis(1));
    }

    /// A monitor with three daily windows (drift shares 0, 0.5, 1; mae 1.0, 1.2, 3.0 against
    /// the band [0.5, 1.5]) and a policy with one avoided and one retrain decision.
    async fn monitor(&self) {
        self.store
            .put_definition(DefinitionKind::Monitor, "demand-drift", "{}", false)
            .await
            .unwrap();
        let day = 86_400_000_i64;
        let start = 1_735_689_600_000_i64; // 2025-01-01
        let windows: Vec<NewMonitorResult> = [(0.0, 1.0), (0.5, 1.2), (1.0, 3.0)]
            .iter()
            .enumerate()
            .map(|(i, (share, mae))| {
                let end = start + (i as i64 + 1) * day;
                let alarm = *mae > 1.5;
                let alerts: Vec<String> = if alarm {
                    vec![format!("mae {mae} above the band's upper edge 1.5")]
                } else {
                    vec![]
                };
                let report = json!({
                    "monitor": "demand-drift", "window_start": end - day, "window_end": end, "rows": 100,
                    "drift": {"columns": [
                        {"column": "price", "kind": "numeric", "method": "ks", "threshold": 0.05, "score": 0.001,
                         "drifted": true, "not_computed": null, "values_reference": 100, "values_current": 100,
                         "nulls_reference": 0, "nulls_current": 0},
                        {"column": "promo", "kind": "categorical", "method": "chisquare", "threshold": 0.05, "score": 0.4,
                         "drifted": false, "not_computed": null, "values_reference": 100, "values_current": 100,
                         "nulls_reference": 0, "nulls_current": 0}],
                        "computed_count": 2, "drifted_count": 1, "share": share, "drift_share": 0.5,
                        "dataset_drift": *share >= 0.5, "rows_reference": 100, "rows_current": 100},
                    "drift_not_computed": null,
                    "performance": {"metric": "mae", "value": mae, "not_computed": null, "overall": null,
                        "pairs": 100, "unmatched": [0, 0],
                        "band": {"count": 4, "mean": 1.0, "std": 0.1667, "k": 3.0, "lower": 0.5, "upper": 1.5},
                        "verdict": if alarm { "above" } else { "inside" }},
                    "alerts": alerts,
                    "summary": {"window_end": end, "alarm": alarm, "drift": *share >= 0.5, "drift_share": share,
                        "metric": {"name": "mae", "value": mae, "band_lower": 0.5, "band_upper": 1.5}}
                });
                NewMonitorResult {
                    window_start: end - day,
                    window_end: end,
                    alarm,
                    drift_share: Some(*share),
                    report: report.to_string(),
                }
            })
            .collect();
        self.store
            .record_monitor_results("demand-drift", 0, "{\"cursor\": 1735948800000}", &windows)
            .await
            .unwrap();
        self.store
            .put_definition(
                DefinitionKind::Policy,
                "demand-retrain",
                "{\"pipeline\": \"tiny\"}",
                false,
            )
            .await
            .unwrap();
        let decision = |at: i64, outcome: &str, met: bool, seconds: f64| {
            NewDecision {
            evaluated_time: at,
            outcome: outcome.into(),
            reasons: json!({"rules": [{"monitor": "demand-drift", "when": "mae > band.upper", "met": met,
                                       "detail": format!("mae {} vs 1.5", if met { 3.0 } else { 1.2 })}],
                            "held_back": null})
            .to_string(),
            pipeline: "tiny".into(),
            firing_id: met.then(|| "firing-1".to_string()),
            compute_seconds: Some(seconds),
        }
        };
        self.store
            .record_decision(
                "demand-retrain",
                0,
                "{}",
                &decision(start + 2 * day, "avoided", false, 90.0),
            )
            .await
            .unwrap();
        self.store
            .record_decision(
                "demand-retrain",
                1,
                "{}",
                &decision(start + 3 * day, "retrain", true, 120.0),
            )
            .await
            .unwrap();
    }
}

/// `href="..."` values in the page that start with `prefix` (entities decoded).
fn links(text: &str, prefix: &str) -> Vec<String> {
    text.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|h| h.replace("&amp;", "&"))
        .filter(|h| h.starts_with(prefix))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_its_content() {
    let ui = Ui::new(None).await;
    let exp = ui.experiment("demand").await;
    let a = ui.run(&exp, "run-a", 0.5, 4).await;
    let b = ui.run(&exp, "run-b", 0.9, 3).await;
    ui.model().await;
    let pipeline_run = ui.pipeline_run().await;
    ui.endpoint().await;
    ui.monitor().await;

    let root = ui.get("/").await;
    assert_eq!(root.status, StatusCode::SEE_OTHER);
    assert_eq!(root.headers[header::LOCATION], "/ui/");

    let home = ui.ok("/ui/").await;
    assert!(home.contains(&format!("href=\"/ui/experiments/{exp}\">demand</a>")));

    let runs = ui.ok(&format!("/ui/experiments/{exp}")).await;
    for text in [
        "run-a",
        "run-b",
        "param alpha",
        "metric rmse",
        "FINISHED",
        "1 min 05 s",
    ] {
        assert!(runs.contains(text), "runs table lacks {text}");
    }
    // Latest rmse: run-a's last point is 0.5 (step 3), run-b's 0.9 (step 2).
    assert!(runs.contains("<td>0.5</td>") && runs.contains("<td>0.9</td>"));

    let filtered = ui
        .ok(&format!(
            "/ui/experiments/{exp}?filter=metrics.rmse%20%3C%200.7"
        ))
        .await;
    assert!(filtered.contains("run-a") && !filtered.contains("run-b"));
    let ordered = ui
        .ok(&format!("/ui/experiments/{exp}?order=metrics.rmse%20DESC"))
        .await;
    assert!(ordered.find("run-b").unwrap() < ordered.find("run-a").unwrap());

    let run = ui.ok(&format!("/ui/runs/{a}")).await;
    assert!(run.contains("id=\"metric-rmse\"") && run.contains("<polyline"));
    // run-a's history: 3.5, 2.5, 1.5, 0.5 at steps 0..3: four points on the line.
    assert_eq!(run.matches("<circle").count(), 4);

    let compare = ui.ok(&format!("/ui/compare?run={a}&run={b}")).await;
    assert!(compare.contains("Comparing 2 runs"));
    assert!(compare.contains("<strong>alpha</strong>"), "alpha differs");
    assert_eq!(compare.matches("<polyline").count(), 2);

    let models = ui.ok("/ui/models").await;
    assert!(models.contains("demand-model") && models.contains("champion→2"));
    let model = ui.ok("/ui/models/demand-model").await;
    for text in [
        "mae improved 12%",
        "first model",
        "alice",
        "policy",
        "lineage?subject=models%3A%2Fdemand-model%2F2",
    ] {
        assert!(model.contains(text), "model page lacks {text}");
    }
    // Newest change first: 1 → 2 before — → 1.
    assert!(model.find("mae improved").unwrap() < model.find("first model").unwrap());

    let pipelines = ui.ok("/ui/pipelines").await;
    assert!(pipelines.contains("/ui/pipelines/tiny") && pipelines.contains(&pipeline_run));
    let pipeline = ui.ok("/ui/pipelines/tiny").await;
    assert!(pipeline.contains("SUCCEEDED") && pipeline.contains("<svg"));
    let run_page = ui.ok(&format!("/ui/pipeline-runs/{pipeline_run}")).await;
    for text in [
        "data-step=\"prepare\"",
        "data-step=\"train\"",
        "class=\"step status-succeeded\"",
        "preparing",
        "training from",
    ] {
        assert!(run_page.contains(text), "pipeline run page lacks {text}");
    }

    let lineage = ui.ok(&format!("/ui/lineage?subject={pipeline_run}")).await;
    // The run's steps read and wrote `data` and wrote `model`: both are in its lineage.
    assert!(
        lineage.contains("/data</td>") && lineage.contains("/model</td>"),
        "{lineage}"
    );

    let endpoints = ui.ok("/ui/endpoints").await;
    for text in [
        "models:/demand-model@champion",
        "challenger",
        "<td>4</td>",
        "<td>1</td>",
        "25 %",
    ] {
        assert!(endpoints.contains(text), "endpoints page lacks {text}");
    }

    let monitors = ui.ok("/ui/monitors").await;
    assert!(monitors.contains("/ui/monitors/demand-drift") && monitors.contains("demand-retrain"));
    let monitor = ui.ok("/ui/monitors/demand-drift").await;
    for text in [
        "id=\"drift-share\"",
        "id=\"metric\"",
        "class=\"band\"",
        "class=\"threshold\"",
        "mae 3 above the band",
        "Drift per column over time",
        "<td><span class=\"bad\" title=\"score 0.001\">drifted</span></td>",
        "price",
        "chisquare",
        "drifted",
    ] {
        assert!(monitor.contains(text), "monitor page lacks {text}");
    }
    assert_eq!(monitor.matches("<polyline").count(), 2);

    let decisions = ui.ok("/ui/decisions").await;
    for text in [
        "avoided 1",
        "retrain 1",
        "Retraining cost 2 min 00 s",
        "saved 1 min 30 s",
        "mae 3 vs 1.5",
        "firing-1",
    ] {
        assert!(decisions.contains(text), "decisions page lacks {text}");
    }
    let one_policy = ui.ok("/ui/decisions?policy=demand-retrain").await;
    assert!(one_policy.contains("Decisions of demand-retrain"));
}

#[tokio::test]
async fn a_hundred_and_twenty_runs_make_three_pages() {
    let ui = Ui::new(None).await;
    let exp = ui.experiment("many").await;
    for i in 0..120 {
        ui.run(&exp, &format!("r{i:03}"), i as f64, 1).await;
    }
    let path = format!("/ui/experiments/{exp}");
    let uri = format!("{path}?order=metrics.rmse%20ASC");
    let mut seen = Vec::new();
    let mut next = Some(uri);
    let mut pages = 0;
    while let Some(uri) = next {
        let page = ui.ok(&uri).await;
        pages += 1;
        seen.extend(
            page.match_indices("\">r")
                .map(|(i, _)| page[i + 2..i + 6].to_string())
                .filter(|name| name[1..].bytes().all(|b| b.is_ascii_digit())),
        );
        let found = links(&page, &format!("{path}?"))
            .into_iter()
            .filter(|h| h.contains("page_token="))
            .collect::<Vec<_>>();
        assert!(found.len() <= 1);
        if let Some(h) = found.first() {
            assert!(
                h.contains("order=metrics.rmse%20ASC"),
                "the order follows: {h}"
            );
        }
        next = found.into_iter().next();
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..120).map(|i| format!("r{i:03}")).collect();
    assert_eq!(seen, expected, "every run once, in rmse order");
}

#[tokio::test]
async fn unknown_ids_are_404_pages() {
    let ui = Ui::new(None).await;
    for uri in [
        "/ui/experiments/424242",
        "/ui/runs/0123456789abcdef0123456789abcdef",
        "/ui/models/nope",
        "/ui/pipelines/nope",
        "/ui/pipeline-runs/nope",
        "/ui/monitors/nope",
        "/ui/decisions?policy=nope",
        "/ui/lineage?subject=models:/nope/1",
        "/ui/no-such-page",
    ] {
        let page = ui.get(uri).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{uri}: {}", page.text);
        assert!(page.text.contains("<h1>404 Not Found</h1>"), "{uri}");
    }
}

#[tokio::test]
async fn bad_input_is_a_400_page_naming_the_problem() {
    let ui = Ui::new(None).await;
    let exp = ui.experiment("demand").await;
    let a = ui.run(&exp, "a", 1.0, 1).await;
    let cases = [
        (
            format!("/ui/experiments/{exp}?filter=metrics.rmse%20%3C%3C%201"),
            "rmse",
        ),
        (
            format!("/ui/experiments/{exp}?order=bogus.key%20ASC"),
            "bogus",
        ),
        (
            format!("/ui/experiments/{exp}?page_token=not-a-token"),
            "token",
        ),
        ("/ui/experiments?filter=name%20%3D".to_string(), "name"),
        (format!("/ui/compare?run={a}"), "at least 2 runs"),
        ("/ui/pipelines?page=0".to_string(), "'page'"),
        ("/ui/decisions?page=abc".to_string(), "'page'"),
        ("/ui/monitors/x?page=999".to_string(), "'page'"),
        ("/ui/lineage".to_string(), "Missing 'subject'"),
    ];
    for (uri, named) in cases {
        let page = ui.get(&uri).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{uri}: {}", page.text);
        assert!(page.text.contains("<h1>400 Bad Request</h1>"), "{uri}");
        let text = page.text.replace("&#39;", "'").replace("&quot;", "\"");
        assert!(
            text.to_lowercase().contains(&named.to_lowercase()),
            "{uri} should name {named}: {}",
            page.text
        );
    }
}

#[tokio::test]
async fn user_text_is_escaped() {
    let ui = Ui::new(None).await;
    let exp = ui.experiment(HOSTILE).await;
    let run = ui.run(&exp, HOSTILE, 1.0, 2).await;
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    for uri in [
        "/ui/experiments".to_string(),
        format!("/ui/experiments/{exp}"),
        format!("/ui/runs/{run}"),
        format!(
            "/ui/experiments/{exp}?filter=attributes.run_name%20%3D%20%27{}%27",
            "%3Cscript%3E"
        ),
    ] {
        let page = ui.ok(&uri).await;
        assert!(!page.contains(HOSTILE), "{uri} echoes the raw script");
        assert!(page.contains(escaped) || uri.contains("filter"), "{uri}");
    }
    // A bad filter echoed in the 400 message and the search box is escaped too.
    let page = ui
        .get(&format!(
            "/ui/experiments/{exp}?filter=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        ))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(!page.text.contains(HOSTILE));
}

#[tokio::test]
async fn pages_need_the_token_when_the_api_does() {
    let ui = Ui::new(Some(vec!["s3cret".into()])).await;
    let denied = ui.get("/ui/experiments").await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert!(denied.text.contains("name=\"token\""), "a token form");
    assert_eq!(
        ui.get("/ui/experiments?token=wrong").await.status,
        StatusCode::UNAUTHORIZED
    );

    let traded = ui
        .get("/ui/experiments?token=s3cret&filter=name%20LIKE%20%27%25d%25%27")
        .await;
    assert_eq!(traded.status, StatusCode::SEE_OTHER);
    assert_eq!(
        traded.headers[header::LOCATION],
        "/ui/experiments?filter=name%20LIKE%20%27%25d%25%27",
        "the token leaves the URL, the rest stays"
    );
    let cookie = traded.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap();

    let with_cookie = ui
        .send(
            Request::get("/ui/experiments")
                .header(header::COOKIE, pair)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(with_cookie.status, StatusCode::OK);
    let bad_cookie = ui
        .send(
            Request::get("/ui/experiments")
                .header(header::COOKIE, "esteira_ui_token=nope")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(bad_cookie.status, StatusCode::UNAUTHORIZED);
    let bearer = ui
        .send(
            Request::get("/ui/models")
                .header(header::AUTHORIZATION, "Bearer s3cret")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(bearer.status, StatusCode::OK);
    // The UI cookie does not open the API: that still needs the bearer header.
    let api = ui
        .send(
            Request::get("/api/2.0/mlflow/experiments/search?max_results=1")
                .header(header::COOKIE, pair)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(api.status, StatusCode::UNAUTHORIZED);
}
