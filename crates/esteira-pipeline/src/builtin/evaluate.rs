//! The `evaluate` step: scores the candidate `model` on the `test` dataset and, when
//! `champion = "NAME@ALIAS"` is given, the registry's model behind that alias on the same
//! rows.
//!
//! Forecast models are scored with [`ForecastModel::evaluate`]: each test value is joined to
//! the model's forecast for its series and time, so a champion trained on older data
//! forecasts as far ahead as the test times need. Tabular models predict the test rows and
//! are scored against the target column.
//!
//! Params (all optional):
//! - `id`, `time`, `target`: the test data's columns (forecast: default the model's own long
//!   format; tabular: `target` defaults to the column the model was trained on);
//! - `metrics`: the metrics to report (default: every metric defined on the data). Forecast:
//!   `mae`, `rmse`, `smape`, `wape`, `bias`, `mase`, `coverage80`, `coverage95`,
//!   `pinball10`, `pinball90`; regression: `rmse`, `mae`, `r2`; classification: `accuracy`,
//!   `f1_macro`, `log_loss`, `roc_auc`;
//! - `champion`: `NAME@ALIAS`. An alias that does not exist yet means no champion. A
//!   champion that cannot score the test rows (other kind, unknown series, ...) is reported
//!   under `champion_error` and treated as no champion.
//!
//! The report is an [`EvaluationReport`]; metrics are `candidate_<m>` and `champion_<m>`.

use std::collections::BTreeMap;

use esteira_ml::dataset::Table;
use esteira_ml::model::tabular as tab;
use esteira_ml::model::{ForecastModel, LoadedModel};
use esteira_ml::series::SeriesSet;
use esteira_ml::tabular::Task;
use serde::{Deserialize, Serialize};

use super::io::{self, optional_str, param_error, str_list};
use super::model_io::{fetch_alias, load_input_model};
use super::model_params::{alias_ref, blocking, check_known_params, input_error};
use crate::step::{StepContext, StepError, StepOutput};

const PARAMS: [&str; 5] = ["id", "time", "target", "metrics", "champion"];

const FORECAST_METRICS: [&str; 10] = [
    "mae",
    "rmse",
    "smape",
    "wape",
    "bias",
    "mase",
    "coverage80",
    "coverage95",
    "pinball10",
    "pinball90",
];
const REGRESSION_METRICS: [&str; 3] = ["rmse", "mae", "r2"];
const CLASSIFICATION_METRICS: [&str; 4] = ["accuracy", "f1_macro", "log_loss", "roc_auc"];

/// The content of the `report` output, read by the `gate` step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// The candidate's metrics.
    pub candidate: BTreeMap<String, f64>,
    /// The champion's metrics on the same rows; `None` without a champion.
    pub champion: Option<BTreeMap<String, f64>>,
    /// The champion's version; `None` without a champion.
    #[serde(default)]
    pub champion_version: Option<String>,
    /// Why the champion could not be scored, if it could not.
    #[serde(default)]
    pub champion_error: Option<String>,
}

/// The test data's column names given as params.
#[derive(Clone, Debug, Default)]
struct Columns {
    id: Vec<String>,
    time: Option<String>,
    target: Option<String>,
}

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] for an unknown or malformed param, an unknown metric, a metric the
/// candidate cannot compute on the data, or a `champion` that is not `NAME@ALIAS`;
/// [`StepError::Input`] when the candidate cannot be loaded or cannot score `test`;
/// [`StepError::Failed`] when the registry fails.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    check_known_params(ctx, "`evaluate`", &PARAMS)?;
    let columns = Columns {
        id: str_list(ctx, "id")?,
        time: optional_str(ctx, "time")?.map(str::to_string),
        target: optional_str(ctx, "target")?.map(str::to_string),
    };
    let wanted = str_list(ctx, "metrics")?;
    let champion_ref = alias_ref(ctx, "champion")?;
    let model_path = io::input_path(ctx, "model")?;
    let table = io::read_table(ctx, "test")?;
    let (table, known, candidate) = {
        let columns = columns.clone();
        let wanted = wanted.clone();
        blocking(move || {
            let model = load_input_model(&model_path, "model")?;
            let known = known_metrics(&model)?;
            check_metric_names(&wanted, known)?;
            let scores = score(&model, &table, &columns)?;
            Ok((table, known, scores))
        })
        .await?
    };
    let candidate = select(candidate, &wanted)?;
    let mut report = EvaluationReport {
        candidate,
        champion: None,
        champion_version: None,
        champion_error: None,
    };
    if let Some(reference) = &champion_ref {
        match fetch_alias(ctx, reference).await? {
            None => ctx
                .log
                .line(format!("{reference} does not exist: no champion")),
            Some(fetched) => {
                let version = fetched.version.version.clone();
                let scored = blocking(move || {
                    let model = load_input_model(&fetched.dir, "champion")?;
                    if known_metrics(&model)? != known {
                        return Err(StepError::Failed(
                            "it is not the same kind of model as the candidate".into(),
                        ));
                    }
                    score(&model, &table, &columns)
                })
                .await;
                match scored {
                    Ok(scores) => {
                        report.champion = Some(restrict(scores, &report.candidate));
                        report.champion_version = Some(version);
                    }
                    Err(e) => {
                        let why = format!("{reference} (version {version}): {}", reason(&e));
                        ctx.log.line(format!("champion not scored: {why}"));
                        report.champion_error = Some(why);
                    }
                }
            }
        }
    }
    let out = io::write_json(ctx, "report", &report)?;
    Ok(StepOutput {
        outputs: BTreeMap::from([("report".to_string(), out)]),
        metrics: report_metrics(&report),
    })
}

fn report_metrics(report: &EvaluationReport) -> BTreeMap<String, f64> {
    let candidate = report
        .candidate
        .iter()
        .map(|(k, v)| (format!("candidate_{k}"), *v));
    let champion = report
        .champion
        .iter()
        .flatten()
        .map(|(k, v)| (format!("champion_{k}"), *v));
    candidate.chain(champion).collect()
}

/// A step error's reason without the port or param prefix, for `champion_error`.
fn reason(e: &StepError) -> String {
    match e {
        StepError::Input { reason, .. } => reason.clone(),
        StepError::Param { param, reason } => format!("param `{param}`: {reason}"),
        StepError::Failed(message) => message.clone(),
    }
}

/// The metrics a model of this kind can report.
fn known_metrics(model: &LoadedModel) -> Result<&'static [&'static str], StepError> {
    match model {
        LoadedModel::Forecast(..) => Ok(&FORECAST_METRICS),
        LoadedModel::Tabular(m, _) if m.task() == Task::Regression => Ok(&REGRESSION_METRICS),
        LoadedModel::Tabular(..) => Ok(&CLASSIFICATION_METRICS),
        LoadedModel::Onnx(_) => Err(input_error(
            "model",
            "evaluate scores Esteira forecast and tabular models; this is an ONNX model",
        )),
    }
}

/// Checks that every name in `wanted` is one of the `known` metrics.
fn check_metric_names(wanted: &[String], known: &[&str]) -> Result<(), StepError> {
    match wanted.iter().find(|name| !known.contains(&name.as_str())) {
        None => Ok(()),
        Some(name) => Err(param_error(
            "metrics",
            format!(
                "unknown metric `{name}` for this model (metrics: {})",
                known.join(", ")
            ),
        )),
    }
}

/// The candidate's `scores` restricted to `wanted` (all when empty).
fn select(
    scores: BTreeMap<String, f64>,
    wanted: &[String],
) -> Result<BTreeMap<String, f64>, StepError> {
    if wanted.is_empty() {
        return Ok(scores);
    }
    wanted
        .iter()
        .map(|name| {
            scores.get(name).map(|v| (name.clone(), *v)).ok_or_else(|| {
                param_error(
                    "metrics",
                    format!("`{name}` is undefined for the candidate on the test data"),
                )
            })
        })
        .collect()
}

/// The champion's `scores` for the metrics the candidate reports.
fn restrict(
    scores: BTreeMap<String, f64>,
    candidate: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    scores
        .into_iter()
        .filter(|(k, _)| candidate.contains_key(k))
        .collect()
}

/// Scores `model` on `table`.
fn score(
    model: &LoadedModel,
    table: &Table,
    columns: &Columns,
) -> Result<BTreeMap<String, f64>, StepError> {
    match model {
        LoadedModel::Forecast(m, _) => score_forecast(m, table, columns),
        LoadedModel::Tabular(m, manifest) => {
            if !columns.id.is_empty() || columns.time.is_some() {
                return Err(param_error(
                    if columns.id.is_empty() { "time" } else { "id" },
                    "applies to forecast models; this is a tabular model".into(),
                ));
            }
            let target = match (&columns.target, manifest.training["target"].as_str()) {
                (Some(t), _) => t.clone(),
                (None, Some(t)) => t.to_string(),
                (None, None) => {
                    return Err(param_error(
                        "target",
                        "is required: the model does not record its target column".into(),
                    ));
                }
            };
            let names: Vec<String> = m.feature_names().iter().map(|s| s.to_string()).collect();
            let features =
                tab::features_from_table(table, &names, "").map_err(|e| input_error("test", e))?;
            let truth = tab::target_from_table(table, &target, m.task())
                .map_err(|e| input_error("test", e))?;
            tab::score(m, &features, &truth).map_err(|e| input_error("test", e))
        }
        LoadedModel::Onnx(_) => Err(input_error(
            "model",
            "evaluate scores Esteira forecast and tabular models; this is an ONNX model",
        )),
    }
}

fn score_forecast(
    model: &ForecastModel,
    table: &Table,
    columns: &Columns,
) -> Result<BTreeMap<String, f64>, StepError> {
    let mut format = model.config.format.clone();
    if !columns.id.is_empty() {
        format.id = columns.id.clone();
    }
    if let Some(time) = &columns.time {
        format.time = time.clone();
    }
    if let Some(target) = &columns.target {
        format.target = target.clone();
    }
    let actuals = SeriesSet::from_table(table, &format).map_err(|e| input_error("test", e))?;
    let evaluation = model
        .evaluate(&actuals)
        .map_err(|e| input_error("test", e))?;
    Ok(evaluation.overall)
}
