//! The `train` step: fits a forecast or tabular model on the `train` dataset, saves it as the
//! model directory `model` and writes a JSON `report`.
//!
//! Params, by `kind` (required):
//! - `forecast`: `id` (a column or a list), `time`, `target`, `exog` (list), `horizon`
//!   (required), `method` (default `auto`; the CLI's `--method` names), `season` or `seasons`
//!   (an integer or a list; default: detected per series), `backtest_windows` (default 0: no
//!   backtest; otherwise a rolling-origin backtest of that many windows before the final fit,
//!   whose pooled means are the metrics `backtest_<metric>` and standard deviations
//!   `backtest_<metric>_std`). Metrics also count `series`, `observations`,
//!   `series_with_gaps` and `series_fallback`.
//! - `regression` / `classification`: `target`, `features` (default: every other column),
//!   `algorithm` (default `gbdt`; `linear`, `ridge`, `logistic`, `gbdt`, `random-forest`),
//!   `hyperparams` (a table passed to the learner), `test_fraction` (default 0: every row is
//!   trained on; otherwise a seeded holdout of that share is scored, as metrics
//!   `holdout_<metric>`), `seed` (default 0). Metrics also count `train_rows` and `test_rows`.
//!
//! Any other param is an error.

use std::collections::BTreeMap;
use std::path::Path;

use esteira_ml::dataset::Table;
use esteira_ml::model::tabular::{self as tab, TargetData};
use esteira_ml::model::{self, ForecastConfig, ForecastModel, ModelError, ModelKind};
use esteira_ml::series::SeriesSet;
use esteira_ml::tabular::{self, Features, Task};
use serde_json::{Map, Value, json};

use super::io::{self, param_error, usize_or};
use super::model_params::{
    FORECAST_PARAMS, ModelTask, TABULAR_PARAMS, TabularSettings, blocking, check_known_params,
    fit_error, forecast_config, input_error, model_task, tabular_settings,
};
use crate::step::{StepContext, StepError, StepOutput};

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] for a missing, malformed or unknown param; [`StepError::Input`] when
/// the `train` dataset cannot be read or lacks a column; [`StepError::Failed`] when fitting
/// or saving fails.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    let task = model_task(ctx)?;
    let train = io::read_table(ctx, "train")?;
    let model_dir = ctx.out_dir.join("model");
    let trained = match task.tabular() {
        None => {
            check_known_params(ctx, "`train` with kind = \"forecast\"", &FORECAST_PARAMS)?;
            let config = forecast_config(ctx)?;
            let windows = usize_or(ctx, "backtest_windows", 0)?;
            blocking(move || {
                let set = read_series(&train, &config)?;
                train_forecast(&set, config, windows, &model_dir, Value::Null)
            })
            .await?
        }
        Some(t) => {
            check_known_params(ctx, &step_with_kind("train", task), &TABULAR_PARAMS)?;
            let settings = tabular_settings(ctx, t)?;
            blocking(move || {
                let data = TabularData::read(&train, &settings)?;
                train_tabular(
                    &data,
                    &settings,
                    &settings.hyperparams,
                    &model_dir,
                    Value::Null,
                )
            })
            .await?
        }
    };
    finish(ctx, trained)
}

/// `` `step` with kind = "task" ``, for messages about params.
pub fn step_with_kind(step: &str, task: ModelTask) -> String {
    format!("`{step}` with kind = \"{}\"", task.name())
}

/// A fitted and saved model's report and metrics.
#[derive(Debug)]
pub struct Trained {
    /// The JSON report.
    pub report: Value,
    /// The step's metrics.
    pub metrics: BTreeMap<String, f64>,
}

/// Writes the report and returns the step's output: the `model` directory and the
/// `report`.
///
/// # Errors
/// [`StepError::Failed`] when the report cannot be written.
pub fn finish(ctx: &StepContext<'_>, trained: Trained) -> Result<StepOutput, StepError> {
    let report = io::write_json(ctx, "report", &trained.report)?;
    for (name, value) in &trained.metrics {
        ctx.log.line(format!("{name} = {value}"));
    }
    Ok(StepOutput {
        outputs: BTreeMap::from([
            ("model".to_string(), ctx.out_dir.join("model")),
            ("report".to_string(), report),
        ]),
        metrics: trained.metrics,
    })
}

/// The series of the `train` dataset, in `config`'s long format.
///
/// # Errors
/// [`StepError::Input`] naming the column, row or series at fault.
pub fn read_series(table: &Table, config: &ForecastConfig) -> Result<SeriesSet, StepError> {
    SeriesSet::from_table(table, &config.format).map_err(|e| input_error("train", e))
}

/// Fits `config` on `set` (after a backtest of `windows` windows when `windows > 0`) and
/// saves the model at `model_dir` with `tuning` in its training summary.
///
/// # Errors
/// [`StepError::Param`] when no series is long enough for the backtest;
/// [`StepError::Failed`] when a fit or the save fails.
pub fn train_forecast(
    set: &SeriesSet,
    config: ForecastConfig,
    windows: usize,
    model_dir: &Path,
    tuning: Value,
) -> Result<Trained, StepError> {
    let backtest = match windows {
        0 => None,
        w => Some(backtest(set, &config, w)?),
    };
    let (fitted, summary) =
        ForecastModel::train(set, config.clone(), &|| ()).map_err(|e| fit_error("train", e))?;
    let backtest_json = backtest
        .as_ref()
        .map(|b| json!({"windows": windows, "pooled": b.pooled, "skipped": b.skipped}));
    let training = json!({"report": summary, "backtest": backtest_json, "tuning": tuning});
    let manifest = model::new_manifest(
        ModelKind::Forecast,
        fitted.signature(),
        fitted.input_example(),
        training,
    );
    save(model_dir, &manifest, &fitted)?;
    let mut metrics = BTreeMap::from([
        ("series".to_string(), summary.series as f64),
        ("observations".to_string(), summary.observations as f64),
        (
            "series_with_gaps".to_string(),
            summary.gaps_filled.len() as f64,
        ),
        (
            "series_fallback".to_string(),
            summary.fallbacks.len() as f64,
        ),
    ]);
    for (name, s) in backtest.iter().flat_map(|b| &b.pooled) {
        metrics.insert(format!("backtest_{name}"), s.mean);
        metrics.insert(format!("backtest_{name}_std"), s.std);
    }
    let report = json!({
        "kind": "forecast",
        "method": config.method,
        "horizon": config.horizon,
        "format": config.format,
        "seasons": config.seasons,
        "training": summary,
        "backtest": backtest_json,
        "tuning": tuning,
        "metrics": metrics,
    });
    Ok(Trained { report, metrics })
}

/// The rolling-origin backtest of `config` on `set` with `windows` windows.
///
/// # Errors
/// [`StepError::Param`] naming `backtest_windows` when every series is too short;
/// [`StepError::Failed`] when a window's fit fails.
pub fn backtest(
    set: &SeriesSet,
    config: &ForecastConfig,
    windows: usize,
) -> Result<esteira_ml::backtest::BacktestMany, StepError> {
    let result =
        model::backtest(set, config, windows, &|| ()).map_err(|e| fit_error("train", e))?;
    if result.series.is_empty() {
        let first = result
            .skipped
            .first()
            .map_or_else(String::new, |(id, why)| format!(" (series '{id}': {why})"));
        return Err(param_error(
            "backtest_windows",
            format!(
                "no series is long enough for {windows} window(s) of {} steps{first}",
                config.horizon
            ),
        ));
    }
    Ok(result)
}

fn save(
    dir: &Path,
    manifest: &model::Manifest,
    data: &impl serde::Serialize,
) -> Result<(), StepError> {
    model::save(dir, manifest, data)
        .map_err(|e| StepError::Failed(format!("saving the model: {e}")))
}

/// A tabular dataset read for training: its features, its target and the holdout split.
#[derive(Debug)]
pub struct TabularData {
    /// Every row's features.
    pub features: Features,
    /// Every row's target.
    pub target: TargetData,
    /// Rows trained on.
    pub train_rows: Vec<usize>,
    /// Rows held out (empty without a holdout).
    pub test_rows: Vec<usize>,
}

impl TabularData {
    /// Reads the `train` dataset `table` for `settings`.
    ///
    /// # Errors
    /// [`StepError::Param`] when `features` lists the target; [`StepError::Input`] for a
    /// missing column, a bad target value or too few rows to split.
    pub fn read(table: &Table, settings: &TabularSettings) -> Result<TabularData, StepError> {
        if settings.features.contains(&settings.target) {
            return Err(param_error(
                "features",
                format!(
                    "lists the target column `{}`; a target cannot be a feature",
                    settings.target
                ),
            ));
        }
        let features = tab::features_from_table(table, &settings.features, &settings.target)
            .map_err(|e| fit_error("train", e))?;
        let target = tab::target_from_table(table, &settings.target, settings.task)
            .map_err(|e| fit_error("train", e))?;
        let n = features.n_rows();
        let (train_rows, test_rows) = if settings.test_fraction > 0.0 {
            tab::split_rows(n, settings.test_fraction, settings.seed)
                .map_err(|e| fit_error("train", e))?
        } else {
            ((0..n).collect(), Vec::new())
        };
        Ok(TabularData {
            features,
            target,
            train_rows,
            test_rows,
        })
    }
}

/// Fits the learner of `settings` with `params` on the training rows of `data`, scores the
/// holdout rows, and saves the model at `model_dir` with `tuning` in its training summary.
///
/// # Errors
/// [`StepError::Param`] for bad hyperparameters or an algorithm that does not do the task;
/// [`StepError::Input`] for data the learner rejects; [`StepError::Failed`] when the save
/// fails.
pub fn train_tabular(
    data: &TabularData,
    settings: &TabularSettings,
    params: &Map<String, Value>,
    model_dir: &Path,
    tuning: Value,
) -> Result<Trained, StepError> {
    let train_x = tab::take_rows(&data.features, &data.train_rows).map_err(internal)?;
    let train_y = data.target.take(&data.train_rows);
    let fitted = tabular::fit(
        settings.task,
        settings.algorithm,
        &Value::Object(params.clone()),
        &train_x,
        train_y.as_target(),
    )
    .map_err(|e| fit_error("train", ModelError::Tabular(e)))?;
    let holdout = if data.test_rows.is_empty() {
        None
    } else {
        let test_x = tab::take_rows(&data.features, &data.test_rows).map_err(internal)?;
        let scores = tab::score(&fitted, &test_x, &data.target.take(&data.test_rows))
            .map_err(|e| fit_error("train", e))?;
        Some(scores)
    };
    let rows = json!({"train": data.train_rows.len(), "test": data.test_rows.len()});
    let training = json!({
        "target": settings.target,
        "rows": rows,
        "holdout": holdout,
        "params": params,
        "tuning": tuning,
    });
    let manifest = model::new_manifest(
        ModelKind::Tabular,
        tab::signature(&fitted, &data.features),
        tab::input_example(&data.features, 5),
        training,
    );
    save(model_dir, &manifest, &fitted)?;
    let mut metrics: BTreeMap<String, f64> = holdout
        .iter()
        .flatten()
        .map(|(k, v)| (format!("holdout_{k}"), *v))
        .collect();
    metrics.insert("train_rows".into(), data.train_rows.len() as f64);
    metrics.insert("test_rows".into(), data.test_rows.len() as f64);
    let report = json!({
        "kind": task_name(settings.task),
        "algorithm": settings.algorithm.to_string(),
        "target": settings.target,
        "features": data.features.names(),
        "classes": fitted.classes(),
        "params": params,
        "rows": rows,
        "holdout": holdout,
        "tuning": tuning,
        "metrics": metrics,
    });
    Ok(Trained { report, metrics })
}

fn task_name(task: Task) -> &'static str {
    match task {
        Task::Regression => "regression",
        Task::Classification => "classification",
    }
}

/// Selecting rows of features that were built from the same table cannot fail; if it does,
/// the step fails with the library's message.
fn internal(e: ModelError) -> StepError {
    StepError::Failed(format!("selecting training rows: {e}"))
}
