//! The model steps (`train`, `tune`, `evaluate`, `gate`, `register`, `deploy`,
//! `batch_predict`) run through `builtin::run` against an in-memory registry.
//!
//! Reference values are hand-computed on series that are exact lines (explained where
//! used), or come from `esteira_ml` called directly on the same data.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
use esteira_ml::dataset::{Table, table_from_columns};
use esteira_ml::model::{self, LoadedModel, tabular as tab};
use esteira_ml::tabular::{self, Algorithm, Task};
use esteira_pipeline::builtin;
use esteira_pipeline::step::{
    Blessing, BuiltinKind, ModelVersionRef, Registry, StepContext, StepError, StepLog, StepOrigin,
    StepOutput,
};
use serde_json::{Map, Value, json};
use tempfile::TempDir;

/// A model registry in memory: versions are copies of the registered directories.
struct FakeRegistry {
    store: TempDir,
    state: Mutex<RegistryState>,
}

#[derive(Default)]
struct RegistryState {
    versions: HashMap<String, Vec<PathBuf>>,
    aliases: HashMap<(String, String), String>,
    /// (name, alias, version, reason) of every alias move.
    history: Vec<(String, String, String, String)>,
}

impl FakeRegistry {
    fn new() -> Self {
        FakeRegistry {
            store: tempfile::tempdir().expect("tempdir"),
            state: Mutex::default(),
        }
    }

    fn alias(&self, name: &str, alias: &str) -> Option<String> {
        let state = self.state.lock().unwrap();
        state
            .aliases
            .get(&(name.to_string(), alias.to_string()))
            .cloned()
    }

    fn history(&self) -> Vec<(String, String, String, String)> {
        self.state.lock().unwrap().history.clone()
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Registry for FakeRegistry {
    async fn fetch_alias(
        &self,
        name: &str,
        alias: &str,
        dest: &Path,
    ) -> Result<Option<ModelVersionRef>, String> {
        let state = self.state.lock().unwrap();
        let Some(version) = state.aliases.get(&(name.to_string(), alias.to_string())) else {
            return Ok(None);
        };
        let index: usize = version.parse::<usize>().map_err(|e| e.to_string())? - 1;
        copy_dir(&state.versions[name][index], dest).map_err(|e| e.to_string())?;
        Ok(Some(ModelVersionRef {
            name: name.to_string(),
            version: version.clone(),
        }))
    }

    async fn register(
        &self,
        name: &str,
        model_dir: &Path,
        _origin: &StepOrigin,
    ) -> Result<ModelVersionRef, String> {
        let mut state = self.state.lock().unwrap();
        let versions = state.versions.entry(name.to_string()).or_default();
        let version = (versions.len() + 1).to_string();
        let copy = self.store.path().join(format!("{name}-{version}"));
        copy_dir(model_dir, &copy).map_err(|e| e.to_string())?;
        versions.push(copy);
        Ok(ModelVersionRef {
            name: name.to_string(),
            version,
        })
    }

    async fn set_alias(
        &self,
        version: &ModelVersionRef,
        alias: &str,
        reason: &str,
        _origin: &StepOrigin,
    ) -> Result<Option<String>, String> {
        let mut state = self.state.lock().unwrap();
        let count = state.versions.get(&version.name).map_or(0, Vec::len);
        if version
            .version
            .parse::<usize>()
            .map_err(|e| e.to_string())?
            > count
        {
            return Err(format!(
                "{} has no version {}",
                version.name, version.version
            ));
        }
        state.history.push((
            version.name.clone(),
            alias.to_string(),
            version.version.clone(),
            reason.to_string(),
        ));
        Ok(state.aliases.insert(
            (version.name.clone(), alias.to_string()),
            version.version.clone(),
        ))
    }
}

/// A finished step: its result, log and output directory (kept alive).
struct Ran {
    result: Result<StepOutput, StepError>,
    log: Vec<String>,
    _out: TempDir,
}

impl Ran {
    fn output(&self) -> &StepOutput {
        match &self.result {
            Ok(o) => o,
            Err(e) => panic!("step failed: {e}"),
        }
    }

    fn path(&self, port: &str) -> PathBuf {
        self.output().outputs[port].clone()
    }

    fn metric(&self, name: &str) -> f64 {
        *self
            .output()
            .metrics
            .get(name)
            .unwrap_or_else(|| panic!("no metric {name} in {:?}", self.output().metrics))
    }

    fn json(&self, port: &str) -> Value {
        let text = std::fs::read_to_string(self.path(port)).expect("output file");
        serde_json::from_str(&text).expect("JSON output")
    }

    fn error(&self) -> String {
        match &self.result {
            Ok(_) => panic!("the step succeeded"),
            Err(e) => e.to_string(),
        }
    }
}

async fn run(
    kind: BuiltinKind,
    params: Value,
    inputs: &[(&str, &Path)],
    registry: &FakeRegistry,
) -> Ran {
    let out = tempfile::tempdir().expect("tempdir");
    let params: Map<String, Value> = match params {
        Value::Object(map) => map,
        other => panic!("params must be an object, not {other}"),
    };
    let inputs: BTreeMap<String, PathBuf> = inputs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_path_buf()))
        .collect();
    let origin = StepOrigin {
        pipeline: "sales".into(),
        run_id: "run-1".into(),
        step: kind.name().into(),
        mlflow_run_id: "mlflow-1".into(),
        execution_id: "exec-1".into(),
    };
    let log = StepLog::default();
    let ctx = StepContext {
        origin: &origin,
        params: &params,
        inputs: &inputs,
        out_dir: out.path(),
        pipeline_dir: out.path(),
        registry,
        log: &log,
    };
    let result = builtin::run(kind, &ctx).await;
    Ran {
        result,
        log: log.lines(),
        _out: out,
    }
}

/// Data files of one test.
struct Data {
    dir: TempDir,
}

impl Data {
    fn new() -> Self {
        Data {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn write(&self, name: &str, columns: Vec<(&str, ArrayRef)>) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.parquet"));
        let columns = columns
            .into_iter()
            .map(|(n, a)| (n.to_string(), a))
            .collect();
        table_from_columns(columns)
            .expect("table")
            .write(&path)
            .expect("write");
        path
    }

    /// Series `s1`, `s2`, `s3` with `y = k * t` (k = 1, 2, 3) at integer times `times`.
    fn lines(&self, name: &str, times: std::ops::RangeInclusive<i64>) -> PathBuf {
        let mut ids = Vec::new();
        let mut t = Vec::new();
        let mut y = Vec::new();
        for k in 1..=3 {
            for time in times.clone() {
                ids.push(format!("s{k}"));
                t.push(time);
                y.push((k * time) as f64);
            }
        }
        self.write(
            name,
            vec![
                ("store", Arc::new(StringArray::from(ids))),
                ("week", Arc::new(Int64Array::from(t))),
                ("sales", Arc::new(Float64Array::from(y))),
            ],
        )
    }

    /// 40 rows of `y = 2 * x1 - 3 * x2 + 1` with a categorical column `shop`.
    fn linear_rows(&self, name: &str) -> PathBuf {
        let x1: Vec<f64> = (0..40).map(|i| f64::from(i % 7)).collect();
        let x2: Vec<f64> = (0..40).map(|i| f64::from((i * 3) % 11) / 2.0).collect();
        let y: Vec<f64> = x1
            .iter()
            .zip(&x2)
            .map(|(a, b)| 2.0 * a - 3.0 * b + 1.0)
            .collect();
        let shop: Vec<&str> = (0..40)
            .map(|i| if i % 2 == 0 { "a" } else { "b" })
            .collect();
        self.write(
            name,
            vec![
                ("x1", Arc::new(Float64Array::from(x1))),
                ("x2", Arc::new(Float64Array::from(x2))),
                ("shop", Arc::new(StringArray::from(shop))),
                ("y", Arc::new(Float64Array::from(y))),
            ],
        )
    }
}

fn forecast_params(extra: Value) -> Value {
    let mut params = json!({
        "kind": "forecast", "id": "store", "time": "week", "target": "sales",
        "horizon": 3, "method": "naive",
    });
    for (k, v) in extra.as_object().expect("object") {
        params[k] = v.clone();
    }
    params
}

fn column(table: &Table, name: &str) -> Vec<f64> {
    table
        .f64_column(name)
        .expect("column")
        .into_iter()
        .map(|v| v.expect("value"))
        .collect()
}

fn assert_close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
        "{what}: got {got}, want {want}"
    );
}

#[tokio::test]
async fn train_forecast_saves_a_model_that_predicts_every_series() -> Result<()> {
    let data = Data::new();
    let train = data.lines("train", 1..=30);
    let registry = FakeRegistry::new();
    let ran = run(
        BuiltinKind::Train,
        forecast_params(json!({"backtest_windows": 2})),
        &[("train", &train)],
        &registry,
    )
    .await;
    assert_eq!(ran.metric("series"), 3.0);
    assert_eq!(ran.metric("observations"), 90.0);
    // Naive forecasts repeat the last training value. On y = k t, a window of 3 steps
    // misses by k, 2k, 3k: MAE 2k, and the in-sample naive MAE (the MASE scale) is k, so
    // every window's MASE is 2 and the pooled MAE over the windows of k = 1, 2, 3
    // (2, 2, 4, 4, 6, 6) is 4, with sample standard deviation sqrt(16 / 5).
    assert_close(ran.metric("backtest_mase"), 2.0, "backtest_mase");
    assert_close(ran.metric("backtest_mae"), 4.0, "backtest_mae");
    assert_close(
        ran.metric("backtest_mae_std"),
        (16.0f64 / 5.0).sqrt(),
        "backtest_mae_std",
    );
    let report = ran.json("report");
    assert_eq!(report["method"], "Naive");
    assert_eq!(report["backtest"]["windows"], 2);

    let LoadedModel::Forecast(model, _) = model::load(&ran.path("model"))? else {
        panic!("not a forecast model");
    };
    let predictions = model.predict(None, 3)?;
    assert_eq!(predictions.num_rows(), 9);
    // Last values at t = 30: 30, 60, 90, each repeated over the 3 steps.
    let want: Vec<f64> = [30.0, 60.0, 90.0].iter().flat_map(|v| [*v; 3]).collect();
    assert_eq!(column(&predictions, "forecast"), want);
    Ok(())
}

#[tokio::test]
async fn train_tabular_predicts_like_the_library_fitted_directly() -> Result<()> {
    let data = Data::new();
    let train = data.linear_rows("train");
    let registry = FakeRegistry::new();
    let params = json!({"kind": "regression", "target": "y", "algorithm": "gbdt",
                        "hyperparams": {"max_iter": 15, "learning_rate": 0.2}});
    let ran = run(BuiltinKind::Train, params, &[("train", &train)], &registry).await;
    assert_eq!(ran.metric("train_rows"), 40.0);
    assert_eq!(ran.metric("test_rows"), 0.0);
    let LoadedModel::Tabular(saved, manifest) = model::load(&ran.path("model"))? else {
        panic!("not a tabular model");
    };
    assert_eq!(manifest.training["target"], "y");
    let table = Table::read(&train)?;
    let got = tab::predict_table(&saved, &table)?;

    let features = tab::features_from_table(&table, &[], "y")?;
    let target = tab::target_from_table(&table, "y", Task::Regression)?;
    let direct = tabular::fit(
        Task::Regression,
        Algorithm::Gbdt,
        &json!({"max_iter": 15, "learning_rate": 0.2}),
        &features,
        target.as_target(),
    )?;
    assert_eq!(
        column(&got, "prediction"),
        direct.predict(&features)?,
        "same data, same params, same predictions"
    );
    Ok(())
}

#[tokio::test]
async fn train_tabular_with_a_holdout_reports_its_scores() -> Result<()> {
    let data = Data::new();
    let train = data.linear_rows("train");
    let registry = FakeRegistry::new();
    let params = json!({"kind": "regression", "target": "y", "algorithm": "linear",
                        "features": ["x1", "x2"], "test_fraction": 0.25, "seed": 3});
    let ran = run(BuiltinKind::Train, params, &[("train", &train)], &registry).await;
    // round(40 * 0.25) = 10 rows held out.
    assert_eq!(ran.metric("train_rows"), 30.0);
    assert_eq!(ran.metric("test_rows"), 10.0);
    // y is exactly linear in x1 and x2: least squares recovers it, the holdout error is 0.
    assert!(
        ran.metric("holdout_rmse") < 1e-9,
        "{}",
        ran.metric("holdout_rmse")
    );
    assert_close(ran.metric("holdout_r2"), 1.0, "holdout_r2");
    let report = ran.json("report");
    assert_eq!(report["features"], json!(["x1", "x2"]));
    assert_eq!(report["algorithm"], "linear");
    Ok(())
}

#[tokio::test]
async fn tune_picks_the_trial_with_the_best_metric() -> Result<()> {
    let data = Data::new();
    let train = data.linear_rows("train");
    let registry = FakeRegistry::new();
    let params = json!({"kind": "regression", "target": "y", "algorithm": "ridge",
                        "features": ["x1", "x2"],
                        "space": {"alpha": {"choice": [1000.0, 0.0001, 10.0]}},
                        "strategy": "grid", "metric": "rmse"});
    let ran = run(BuiltinKind::Tune, params, &[("train", &train)], &registry).await;
    let report = ran.json("report");
    let trials = report["trials"].as_array().context("trials")?;
    assert_eq!(trials.len(), 3);
    assert_eq!(ran.metric("trials"), 3.0);
    let scores: Vec<f64> = trials
        .iter()
        .map(|t| t["score"].as_f64().expect("score"))
        .collect();
    let lowest = scores.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(ran.metric("best_rmse"), lowest);
    // On exactly linear data, the weakest penalty fits best.
    assert_eq!(report["best"]["params"]["alpha"], json!(0.0001));
    assert!(scores[1] < scores[2] && scores[2] < scores[0], "{scores:?}");
    let LoadedModel::Tabular(saved, _) = model::load(&ran.path("model"))? else {
        panic!("not a tabular model");
    };
    assert_eq!(saved.params()["alpha"], json!(0.0001));
    Ok(())
}

#[tokio::test]
async fn tune_forecast_prefers_a_trend_method_on_lines() -> Result<()> {
    let data = Data::new();
    let train = data.lines("train", 1..=30);
    let registry = FakeRegistry::new();
    let params = forecast_params(json!({
        "space": {"method": {"choice": ["naive", "holt"]}},
        "strategy": "grid", "metric": "mae",
    }));
    let ran = run(BuiltinKind::Tune, params, &[("train", &train)], &registry).await;
    let report = ran.json("report");
    // One window of 3 steps: naive misses by k, 2k, 3k (MAE 2k, pooled 4); Holt's linear
    // trend follows a line exactly.
    assert_close(
        report["trials"][0]["score"]
            .as_f64()
            .context("naive score")?,
        4.0,
        "naive backtest MAE",
    );
    assert_eq!(report["best"]["params"]["method"], "holt");
    assert!(ran.metric("best_mae") < 1e-6, "{}", ran.metric("best_mae"));
    assert_eq!(report["model"]["method"], "Holt");
    Ok(())
}

/// Trains a naive forecast model on `train` and returns the step (holding the model).
async fn naive_model(train: &Path, registry: &FakeRegistry) -> Ran {
    let ran = run(
        BuiltinKind::Train,
        forecast_params(json!({})),
        &[("train", train)],
        registry,
    )
    .await;
    ran.output();
    ran
}

async fn register(model: &Path, registry: &FakeRegistry) -> Ran {
    run(
        BuiltinKind::Register,
        json!({"name": "sales"}),
        &[("model", model)],
        registry,
    )
    .await
}

fn write_json(dir: &Path, name: &str, value: &impl serde::Serialize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(value).expect("json")).expect("write");
    path
}

#[tokio::test]
async fn evaluate_without_a_champion_scores_the_candidate() -> Result<()> {
    let data = Data::new();
    let train = data.lines("train", 1..=30);
    let test = data.lines("test", 31..=33);
    let registry = FakeRegistry::new();
    let candidate = naive_model(&train, &registry).await;
    let ran = run(
        BuiltinKind::Evaluate,
        json!({"champion": "sales@champion", "metrics": ["mae", "mase"]}),
        &[("model", &candidate.path("model")), ("test", &test)],
        &registry,
    )
    .await;
    let report = ran.json("report");
    // Naive from y(30) = 30k against 31k, 32k, 33k: errors k, 2k, 3k; MAE over the nine
    // points = 2 * (1 + 2 + 3) / 3 = 4; MASE = 2 (scale k).
    assert_eq!(
        report,
        json!({"candidate": {"mae": 4.0, "mase": 2.0}, "champion": null,
               "champion_version": null, "champion_error": null})
    );
    assert_eq!(ran.metric("candidate_mae"), 4.0);
    assert!(!ran.output().metrics.contains_key("champion_mae"));
    Ok(())
}

#[tokio::test]
async fn evaluate_scores_the_champion_on_the_same_rows() -> Result<()> {
    let data = Data::new();
    let old = data.lines("old", 1..=27);
    let train = data.lines("train", 1..=30);
    let test = data.lines("test", 31..=33);
    let registry = FakeRegistry::new();
    let champion = naive_model(&old, &registry).await;
    register(&champion.path("model"), &registry).await.output();
    registry
        .set_alias(
            &ModelVersionRef {
                name: "sales".into(),
                version: "1".into(),
            },
            "champion",
            "setup",
            &StepOrigin::default(),
        )
        .await
        .map_err(anyhow::Error::msg)?;
    let candidate = naive_model(&train, &registry).await;
    let ran = run(
        BuiltinKind::Evaluate,
        json!({"champion": "sales@champion", "metrics": ["mae"]}),
        &[("model", &candidate.path("model")), ("test", &test)],
        &registry,
    )
    .await;
    let report = ran.json("report");
    // The champion, trained through t = 27, forecasts 27k for t = 31..33 (steps 4 to 6):
    // errors 4k, 5k, 6k, MAE 5k, over k = 1, 2, 3: 10.
    assert_eq!(report["candidate"], json!({"mae": 4.0}));
    assert_eq!(report["champion"], json!({"mae": 10.0}));
    assert_eq!(report["champion_version"], "1");
    assert_eq!(ran.metric("champion_mae"), 10.0);
    Ok(())
}

#[tokio::test]
async fn a_champion_that_cannot_score_the_test_rows_is_reported_and_ignored() -> Result<()> {
    let data = Data::new();
    let train = data.lines("train", 1..=30);
    let test = data.lines("test", 31..=33);
    let one_series = data.write(
        "one",
        vec![
            ("store", Arc::new(StringArray::from(vec!["s1"; 10]))),
            (
                "week",
                Arc::new(Int64Array::from((1..=10).collect::<Vec<i64>>())),
            ),
            ("sales", Arc::new(Float64Array::from(vec![1.0; 10]))),
        ],
    );
    let registry = FakeRegistry::new();
    let champion = naive_model(&one_series, &registry).await;
    register(&champion.path("model"), &registry).await.output();
    let version = ModelVersionRef {
        name: "sales".into(),
        version: "1".into(),
    };
    registry
        .set_alias(&version, "champion", "setup", &StepOrigin::default())
        .await
        .map_err(anyhow::Error::msg)?;
    let candidate = naive_model(&train, &registry).await;
    let ran = run(
        BuiltinKind::Evaluate,
        json!({"champion": "sales@champion"}),
        &[("model", &candidate.path("model")), ("test", &test)],
        &registry,
    )
    .await;
    let report = ran.json("report");
    assert_eq!(report["champion"], Value::Null);
    assert_eq!(report["champion_version"], Value::Null);
    assert_eq!(
        report["champion_error"],
        "sales@champion (version 1): unknown series 's2': the model was not trained on it"
    );
    Ok(())
}

async fn gate(report: Value, rules: Value) -> Ran {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = write_json(dir.path(), "report.json", &report);
    let ran = run(
        BuiltinKind::Gate,
        json!({"rules": rules}),
        &[("report", &path)],
        &FakeRegistry::new(),
    )
    .await;
    drop(dir);
    ran
}

fn blessing(ran: &Ran) -> Blessing {
    serde_json::from_value(ran.json("blessing")).expect("blessing")
}

const MAE_RULE: &str =
    r#"{"mae": {"greater_is_better": false, "threshold": 5.0, "min_relative_change": 0.1}}"#;

#[tokio::test]
async fn gate_blesses_a_better_candidate() -> Result<()> {
    let report = json!({"candidate": {"mae": 4.0}, "champion": {"mae": 10.0}});
    let ran = gate(report, serde_json::from_str(MAE_RULE)?).await;
    // (10 - 4) / |10| = 0.6 >= 0.1, and 4 <= 5.
    assert_eq!(
        blessing(&ran),
        Blessing {
            blessed: true,
            reasons: vec![
                "mae threshold passed: candidate 4 <= threshold 5: true".into(),
                "mae min_relative_change passed: relative change 0.6 (candidate 4, baseline 10) >= 0.1: true".into(),
            ],
        }
    );
    assert_eq!(ran.metric("blessed"), 1.0);
    Ok(())
}

#[tokio::test]
async fn gate_refuses_a_worse_candidate_without_failing() -> Result<()> {
    let report = json!({"candidate": {"mae": 12.0}, "champion": {"mae": 10.0}});
    let ran = gate(report, serde_json::from_str(MAE_RULE)?).await;
    // (10 - 12) / |10| = -0.2 < 0.1, and 12 > 5.
    assert_eq!(
        blessing(&ran),
        Blessing {
            blessed: false,
            reasons: vec![
                "mae threshold failed: candidate 12 <= threshold 5: false".into(),
                "mae min_relative_change failed: relative change -0.2 (candidate 12, baseline 10) >= 0.1: false".into(),
            ],
        }
    );
    assert_eq!(ran.metric("blessed"), 0.0);
    Ok(())
}

#[tokio::test]
async fn gate_without_a_champion_applies_only_thresholds() -> Result<()> {
    let report = json!({"candidate": {"mae": 4.0, "rmse": 9.0}, "champion": null});
    let rules = json!({
        "mae": {"greater_is_better": false, "threshold": 5.0, "min_relative_change": 0.1},
        "rmse": {"greater_is_better": false, "min_absolute_change": 1.0},
    });
    let ran = gate(report, rules).await;
    assert_eq!(
        blessing(&ran),
        Blessing {
            blessed: true,
            reasons: vec![
                "mae threshold passed: candidate 4 <= threshold 5: true".into(),
                "mae min_relative_change skipped: no champion to compare with".into(),
                "rmse min_absolute_change skipped: no champion to compare with".into(),
            ],
        }
    );
    Ok(())
}

#[tokio::test]
async fn register_then_deploy_moves_the_alias_only_when_blessed() -> Result<()> {
    let data = Data::new();
    let train = data.lines("train", 1..=30);
    let registry = FakeRegistry::new();
    let trained = naive_model(&train, &registry).await;
    let dir = tempfile::tempdir()?;
    let refused = write_json(
        dir.path(),
        "refused.json",
        &Blessing {
            blessed: false,
            reasons: vec!["mae threshold failed".into()],
        },
    );
    let blessed = write_json(
        dir.path(),
        "blessed.json",
        &Blessing {
            blessed: true,
            reasons: vec!["mae threshold passed".into()],
        },
    );
    let first = run(
        BuiltinKind::Register,
        json!({"name": "sales"}),
        &[("model", &trained.path("model")), ("blessing", &refused)],
        &registry,
    )
    .await;
    assert_eq!(
        first.metric("version"),
        1.0,
        "registered even when not blessed"
    );
    assert!(
        first
            .log
            .iter()
            .any(|l| l.starts_with("blessing: not blessed"))
    );
    let version = first.path("version");
    assert_eq!(
        serde_json::from_str::<ModelVersionRef>(&std::fs::read_to_string(&version)?)?,
        ModelVersionRef {
            name: "sales".into(),
            version: "1".into()
        }
    );

    let not_deployed = run(
        BuiltinKind::Deploy,
        json!({}),
        &[("version", &version), ("blessing", &refused)],
        &registry,
    )
    .await;
    assert_eq!(not_deployed.metric("deployed"), 0.0);
    assert_eq!(
        not_deployed.json("report"),
        json!({"deployed": false, "alias": "champion", "name": "sales", "version": "1",
               "reasons": ["mae threshold failed"]})
    );
    assert_eq!(registry.alias("sales", "champion"), None);

    let deployed = run(
        BuiltinKind::Deploy,
        json!({}),
        &[("version", &version), ("blessing", &blessed)],
        &registry,
    )
    .await;
    assert_eq!(deployed.metric("deployed"), 1.0);
    assert_eq!(registry.alias("sales", "champion").as_deref(), Some("1"));

    let second = register(&trained.path("model"), &registry).await;
    assert_eq!(second.metric("version"), 2.0);
    let redeployed = run(
        BuiltinKind::Deploy,
        json!({"alias": "prod"}),
        &[("version", &second.path("version")), ("blessing", &blessed)],
        &registry,
    )
    .await;
    assert_eq!(redeployed.json("report")["previous"], Value::Null);
    let moved = run(
        BuiltinKind::Deploy,
        json!({}),
        &[("version", &second.path("version")), ("blessing", &blessed)],
        &registry,
    )
    .await;
    assert_eq!(
        moved.json("report"),
        json!({"deployed": true, "alias": "champion", "name": "sales", "version": "2",
               "previous": "1"})
    );
    let history = registry.history();
    assert_eq!(history.len(), 3);
    assert_eq!(
        history[2].3,
        "blessed by pipeline `sales` run run-1 step `deploy`: mae threshold passed"
    );
    Ok(())
}

#[tokio::test]
async fn batch_predict_uses_the_model_behind_a_registry_alias() -> Result<()> {
    let data = Data::new();
    let train = data.lines("train", 1..=30);
    let registry = FakeRegistry::new();
    let trained = naive_model(&train, &registry).await;
    register(&trained.path("model"), &registry).await.output();
    let version = ModelVersionRef {
        name: "sales".into(),
        version: "1".into(),
    };
    registry
        .set_alias(&version, "champion", "setup", &StepOrigin::default())
        .await
        .map_err(anyhow::Error::msg)?;
    let wanted = data.write(
        "wanted",
        vec![("store", Arc::new(StringArray::from(vec!["s3", "s1", "s3"])))],
    );
    let ran = run(
        BuiltinKind::BatchPredict,
        json!({"model": "sales@champion", "horizon": 2}),
        &[("data", &wanted)],
        &registry,
    )
    .await;
    assert_eq!(ran.metric("rows"), 4.0);
    let predictions = Table::read(&ran.path("predictions"))?;
    let stores: Vec<Option<String>> = predictions.string_column("store")?;
    assert_eq!(
        stores,
        ["s3", "s3", "s1", "s1"]
            .map(|s| Some(s.to_string()))
            .to_vec()
    );
    // Naive: the last values 90 (s3) and 30 (s1).
    assert_eq!(
        column(&predictions, "forecast"),
        vec![90.0, 90.0, 30.0, 30.0]
    );
    assert_eq!(
        predictions.f64_column("week")?,
        vec![Some(31.0), Some(32.0), Some(31.0), Some(32.0)]
    );
    Ok(())
}

#[tokio::test]
async fn batch_predict_scores_tabular_rows_from_the_model_input() -> Result<()> {
    let data = Data::new();
    let train = data.linear_rows("train");
    let registry = FakeRegistry::new();
    let params = json!({"kind": "regression", "target": "y", "algorithm": "linear",
                        "features": ["x1", "x2"]});
    let trained = run(BuiltinKind::Train, params, &[("train", &train)], &registry).await;
    let rows = data.write(
        "rows",
        vec![
            ("x1", Arc::new(Float64Array::from(vec![0.0, 10.0]))),
            ("x2", Arc::new(Float64Array::from(vec![0.0, 1.0]))),
        ],
    );
    let ran = run(
        BuiltinKind::BatchPredict,
        json!({}),
        &[("model", &trained.path("model")), ("data", &rows)],
        &registry,
    )
    .await;
    let predictions = Table::read(&ran.path("predictions"))?;
    // y = 2 x1 - 3 x2 + 1: 1 at (0, 0), 18 at (10, 1).
    let got = column(&predictions, "prediction");
    assert_close(got[0], 1.0, "row 0");
    assert_close(got[1], 18.0, "row 1");
    Ok(())
}

/// Runs `kind` with `params` on throwaway inputs and returns the error text.
async fn param_error(kind: BuiltinKind, params: Value) -> String {
    let data = Data::new();
    let lines = data.lines("lines", 1..=30);
    let dir = tempfile::tempdir().expect("tempdir");
    let report = write_json(
        dir.path(),
        "report.json",
        &json!({"candidate": {"mae": 1.0}, "champion": null}),
    );
    let blessing = write_json(
        dir.path(),
        "blessing.json",
        &Blessing {
            blessed: true,
            reasons: vec![],
        },
    );
    let registry = FakeRegistry::new();
    let model = naive_model(&lines, &registry).await;
    let model_dir = model.path("model");
    let inputs: Vec<(&str, &Path)> = match kind {
        BuiltinKind::Train | BuiltinKind::Tune => vec![("train", &lines)],
        BuiltinKind::Evaluate => vec![("model", &model_dir), ("test", &lines)],
        BuiltinKind::Gate => vec![("report", &report)],
        BuiltinKind::Register => vec![("model", &model_dir)],
        BuiltinKind::Deploy => vec![("version", &report), ("blessing", &blessing)],
        _ => vec![("data", &lines)],
    };
    let ran = run(kind, params, &inputs, &registry).await;
    match &ran.result {
        Err(e @ StepError::Param { .. }) => e.to_string(),
        other => panic!("expected a param error, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_params_are_errors_naming_the_param() {
    use BuiltinKind::*;
    let cases: Vec<(BuiltinKind, Value, &str)> = vec![
        (
            Train,
            json!({"target": "sales"}),
            "param `kind`: is required",
        ),
        (
            Train,
            json!({"kind": "clustering"}),
            "param `kind`: unknown kind `clustering` (kinds: forecast, regression, classification)",
        ),
        (
            Train,
            json!({"kind": "regression", "target": "sales", "algorithm": "svm"}),
            "param `algorithm`: unknown algorithm `svm` (algorithms: linear, ridge, logistic, gbdt, random-forest)",
        ),
        (
            Train,
            json!({"kind": "regression", "target": "sales", "horizon": 3}),
            "param `horizon`: not a param of `train` with kind = \"regression\" (params: kind, target, features, algorithm, hyperparams, test_fraction, seed)",
        ),
        (
            Train,
            json!({"kind": "forecast", "id": "store", "time": "week", "target": "sales"}),
            "param `horizon`: is required for kind = \"forecast\"",
        ),
        (
            Train,
            forecast_params(json!({"method": "prophet"})),
            "param `method`: unknown method `prophet` (methods: Naive, sNaive, Naive2, SES, Holt, Damped, Theta, MSTL, Auto, AutoETS)",
        ),
        (
            Train,
            forecast_params(json!({"season": [7, 0]})),
            "param `season`: must be a positive integer or a list of them, not 0",
        ),
        (
            Train,
            json!({"kind": "regression", "target": "sales", "hyperparams": {"depth": 3}}),
            "param `hyperparams`: unknown parameter 'depth' for gbdt",
        ),
        (
            Train,
            json!({"kind": "regression", "target": "sales", "features": ["week", "sales"]}),
            "param `features`: lists the target column `sales`; a target cannot be a feature",
        ),
        (
            Train,
            json!({"kind": "regression", "target": "sales", "test_fraction": 1.5}),
            "param `test_fraction`: must be at least 0 and below 1, not 1.5",
        ),
        (
            Train,
            forecast_params(json!({"season": 7, "seasons": [7, 52]})),
            "param `seasons`: give `season` or `seasons`, not both",
        ),
        (
            Tune,
            forecast_params(
                json!({"space": {"method": {"choice": ["naive"]}}, "strategy": "grid", "trials": 5}),
            ),
            "param `trials`: grid search runs every point of the space",
        ),
        (
            Tune,
            forecast_params(json!({"space": {"alpha": {"float": [0.1, 1.0]}}})),
            "param `space.alpha`: forecast tuning searches `method` and `season` only",
        ),
        (
            Tune,
            forecast_params(
                json!({"space": {"method": {"choice": ["naive"]}}, "strategy": "bayes"}),
            ),
            "param `strategy`: unknown strategy `bayes` (strategies: grid, random, halving)",
        ),
        (
            Tune,
            forecast_params(json!({"space": {"method": {"choice": ["naive"]}}, "metric": "r2"})),
            "param `metric`: unknown metric `r2` for kind = \"forecast\" (metrics: mase, smape, mae, rmse, wape)",
        ),
        (
            Tune,
            forecast_params(json!({})),
            "param `space`: is required",
        ),
        (
            Evaluate,
            json!({"champion": "sales"}),
            "param `champion`: must be NAME@ALIAS (e.g. sales@champion), not `sales`",
        ),
        (
            Evaluate,
            json!({"metrics": ["accuracy"]}),
            "param `metrics`: unknown metric `accuracy` for this model",
        ),
        (
            Gate,
            json!({"rules": {"rmse": {"greater_is_better": false, "threshold": 1.0}}}),
            "param `rules.rmse`: the evaluation report has no candidate metric `rmse` (metrics: mae)",
        ),
        (
            Gate,
            json!({"rules": {"mae": {"greater_is_better": false, "treshold": 1.0}}}),
            "param `rules.mae`: unknown field `treshold`",
        ),
        (
            Gate,
            json!({"rules": {"mae": {"greater_is_better": false}}}),
            "param `rules.mae`: invalid threshold for metric `mae`: no threshold was specified",
        ),
        (Gate, json!({}), "param `rules`: is required"),
        (Register, json!({}), "param `name`: is required"),
        (
            Deploy,
            json!({"alias": "prod@1"}),
            "param `alias`: `prod@1` must be letters, digits, `_` or `-`",
        ),
        (
            BatchPredict,
            json!({}),
            "param `model`: is required when no `model` input is connected (NAME@ALIAS)",
        ),
        (
            BatchPredict,
            json!({"model": "sales@nowhere"}),
            "param `model`: sales@nowhere does not exist in the registry",
        ),
    ];
    for (kind, params, want) in cases {
        let got = param_error(kind, params.clone()).await;
        assert!(
            got.starts_with(want),
            "{} {params}:\n got: {got}\nwant: {want}",
            kind.name()
        );
    }
}

#[tokio::test]
async fn test_data_the_model_cannot_score_is_an_input_error() {
    let data = Data::new();
    let train = data.lines("train", 1..=30);
    let before = data.lines("before", 1..=30);
    let registry = FakeRegistry::new();
    let candidate = naive_model(&train, &registry).await;
    let ran = run(
        BuiltinKind::Evaluate,
        json!({}),
        &[("model", &candidate.path("model")), ("test", &before)],
        &registry,
    )
    .await;
    assert_eq!(
        ran.error(),
        "input `test`: invalid actuals: no value falls after the training data of its series"
    );
}

#[tokio::test]
async fn batch_predict_runs_an_onnx_model_like_scikit_learn() -> Result<()> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models");
    if let Err(e) = esteira_ml::onnx::find_runtime_library() {
        let required = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!required, "ONNX Runtime is required under CI but {e}");
        // Straight to stderr, past the harness's capture, so the skip is visible.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "*** SKIPPING onnx batch_predict: {e} ***"
        );
        return Ok(());
    }
    let rows: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("linear_rows.json"))?)?;
    let names: Vec<String> = serde_json::from_value(rows["columns"].clone())?;
    let values: Vec<Vec<f64>> = serde_json::from_value(rows["rows"].clone())?;
    let want: Vec<f64> = serde_json::from_value(rows["variable"].clone())?;
    let data = Data::new();
    let columns: Vec<(&str, ArrayRef)> = names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let column: Vec<f64> = values.iter().map(|r| r[c]).collect();
            (
                name.as_str(),
                Arc::new(Float64Array::from(column)) as ArrayRef,
            )
        })
        .collect();
    let input = data.write("rows", columns);
    let ran = run(
        BuiltinKind::BatchPredict,
        json!({}),
        &[("model", &fixtures.join("linear.onnx")), ("data", &input)],
        &FakeRegistry::new(),
    )
    .await;
    let predictions = Table::read(&ran.path("predictions"))?;
    let got = column(&predictions, "variable");
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        // The ONNX graph computes in float32.
        assert!((g - w).abs() <= 1e-4 * w.abs(), "got {g}, scikit-learn {w}");
    }
    Ok(())
}

#[tokio::test]
async fn batch_predict_forecasts_with_future_exogenous_values() -> Result<()> {
    let data = Data::new();
    // y = 10 + 2 x: the exogenous effect is fitted as 2 x and the rest, 10, is constant, so
    // naive forecasts 10 + 2 x_future.
    let x: Vec<f64> = (1..=20).map(|t| f64::from(t % 5)).collect();
    let y: Vec<f64> = x.iter().map(|v| 10.0 + 2.0 * v).collect();
    let train = data.write(
        "train",
        vec![
            ("store", Arc::new(StringArray::from(vec!["s1"; 20]))),
            (
                "week",
                Arc::new(Int64Array::from((1..=20).collect::<Vec<i64>>())),
            ),
            ("price", Arc::new(Float64Array::from(x))),
            ("sales", Arc::new(Float64Array::from(y))),
        ],
    );
    let registry = FakeRegistry::new();
    let trained = run(
        BuiltinKind::Train,
        forecast_params(json!({"exog": ["price"]})),
        &[("train", &train)],
        &registry,
    )
    .await;
    let future = data.write(
        "future",
        vec![
            ("store", Arc::new(StringArray::from(vec!["s1", "s1"]))),
            ("week", Arc::new(Int64Array::from(vec![21, 22]))),
            ("price", Arc::new(Float64Array::from(vec![5.0, 0.5]))),
        ],
    );
    let ran = run(
        BuiltinKind::BatchPredict,
        json!({}),
        &[("model", &trained.path("model")), ("data", &future)],
        &registry,
    )
    .await;
    let predictions = Table::read(&ran.path("predictions"))?;
    let got = column(&predictions, "forecast");
    assert_close(got[0], 20.0, "price 5");
    assert_close(got[1], 11.0, "price 0.5");

    let with_horizon = run(
        BuiltinKind::BatchPredict,
        json!({"horizon": 2}),
        &[("model", &trained.path("model")), ("data", &future)],
        &registry,
    )
    .await;
    assert!(
        with_horizon
            .error()
            .starts_with("param `horizon`: the model uses exogenous columns (price)"),
        "{}",
        with_horizon.error()
    );
    Ok(())
}

#[tokio::test]
async fn classification_is_trained_and_evaluated_with_its_recorded_target() -> Result<()> {
    let data = Data::new();
    // The label is "high" exactly when x > 10: separable by one split.
    let x: Vec<f64> = (0..40).map(f64::from).collect();
    let label: Vec<&str> = x
        .iter()
        .map(|v| if *v > 10.0 { "high" } else { "low" })
        .collect();
    let rows = data.write(
        "rows",
        vec![
            ("x", Arc::new(Float64Array::from(x))),
            ("label", Arc::new(StringArray::from(label))),
        ],
    );
    let registry = FakeRegistry::new();
    let params = json!({"kind": "classification", "target": "label", "algorithm": "random-forest",
                        "hyperparams": {"n_estimators": 5, "random_state": 0}});
    let trained = run(BuiltinKind::Train, params, &[("train", &rows)], &registry).await;
    assert_eq!(trained.json("report")["classes"], json!(["high", "low"]));
    let ran = run(
        BuiltinKind::Evaluate,
        json!({"metrics": ["accuracy"]}),
        &[("model", &trained.path("model")), ("test", &rows)],
        &registry,
    )
    .await;
    assert_eq!(ran.json("report")["candidate"], json!({"accuracy": 1.0}));
    Ok(())
}

#[tokio::test]
async fn tune_counts_random_and_halving_trials() -> Result<()> {
    let data = Data::new();
    let train = data.linear_rows("train");
    let registry = FakeRegistry::new();
    let base = json!({"kind": "regression", "target": "y", "algorithm": "ridge",
                      "features": ["x1", "x2"], "seed": 7,
                      "space": {"alpha": {"float": [0.001, 100.0], "log": true}}});
    let mut random = base.clone();
    random["strategy"] = json!("random");
    random["trials"] = json!(4);
    let ran = run(BuiltinKind::Tune, random, &[("train", &train)], &registry).await;
    assert_eq!(ran.metric("trials"), 4.0);
    // Halving over 3 candidates with eta 3: 1 + floor(log3 3) = 2 rungs, 3 trials at
    // budget 1/3, then the best one at budget 1.
    let mut halving = base;
    halving["strategy"] = json!("halving");
    halving["trials"] = json!(3);
    let ran = run(BuiltinKind::Tune, halving, &[("train", &train)], &registry).await;
    let report = ran.json("report");
    let budgets: Vec<f64> = report["trials"]
        .as_array()
        .context("trials")?
        .iter()
        .map(|t| t["budget"].as_f64().expect("budget"))
        .collect();
    assert_eq!(budgets.len(), 4);
    assert_eq!(budgets[3], 1.0);
    assert_eq!(report["best"]["rung"], 1);
    Ok(())
}

#[tokio::test]
async fn a_champion_of_another_kind_is_reported_and_ignored() -> Result<()> {
    let data = Data::new();
    let train = data.lines("train", 1..=30);
    let test = data.lines("test", 31..=33);
    let registry = FakeRegistry::new();
    let tabular = run(
        BuiltinKind::Train,
        json!({"kind": "regression", "target": "sales", "features": ["week"], "algorithm": "linear"}),
        &[("train", &train)],
        &registry,
    )
    .await;
    register(&tabular.path("model"), &registry).await.output();
    let version = ModelVersionRef {
        name: "sales".into(),
        version: "1".into(),
    };
    registry
        .set_alias(&version, "champion", "setup", &StepOrigin::default())
        .await
        .map_err(anyhow::Error::msg)?;
    let candidate = naive_model(&train, &registry).await;
    let ran = run(
        BuiltinKind::Evaluate,
        json!({"champion": "sales@champion"}),
        &[("model", &candidate.path("model")), ("test", &test)],
        &registry,
    )
    .await;
    let report = ran.json("report");
    assert_eq!(report["champion"], Value::Null);
    assert_eq!(
        report["champion_error"],
        "sales@champion (version 1): it is not the same kind of model as the candidate"
    );
    Ok(())
}

#[tokio::test]
async fn gate_fails_change_rules_when_the_champion_lacks_the_metric() -> Result<()> {
    let report = json!({"candidate": {"mae": 4.0, "mase": 1.0}, "champion": {"mae": 10.0}});
    let rules = json!({"mase": {"greater_is_better": false, "min_absolute_change": 0.5}});
    let ran = gate(report, rules).await;
    assert_eq!(
        blessing(&ran),
        Blessing {
            blessed: false,
            reasons: vec!["mase min_absolute_change failed: baseline metric missing".into()],
        }
    );
    Ok(())
}

#[tokio::test]
async fn bad_data_and_registry_failures_name_their_cause() {
    let data = Data::new();
    let short = data.lines("short", 1..=5);
    let registry = FakeRegistry::new();
    let too_short = run(
        BuiltinKind::Train,
        forecast_params(json!({"backtest_windows": 3})),
        &[("train", &short)],
        &registry,
    )
    .await;
    assert!(
        too_short.error().starts_with(
            "param `backtest_windows`: no series is long enough for 3 window(s) of 3 steps"
        ),
        "{}",
        too_short.error()
    );
    let missing_column = run(
        BuiltinKind::Train,
        json!({"kind": "regression", "target": "revenue"}),
        &[("train", &short)],
        &registry,
    )
    .await;
    assert!(
        missing_column.error().starts_with("input `train`: ")
            && missing_column.error().contains("revenue"),
        "{}",
        missing_column.error()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let unknown_version = write_json(
        dir.path(),
        "version.json",
        &ModelVersionRef {
            name: "sales".into(),
            version: "9".into(),
        },
    );
    let blessed = write_json(
        dir.path(),
        "blessing.json",
        &Blessing {
            blessed: true,
            reasons: vec![],
        },
    );
    let deploy = run(
        BuiltinKind::Deploy,
        json!({}),
        &[("version", &unknown_version), ("blessing", &blessed)],
        &registry,
    )
    .await;
    assert_eq!(
        deploy.error(),
        "moving sales@champion to version 9: sales has no version 9"
    );
}
