//! The `tune` step: searches hyperparameters, then trains the best configuration on all the
//! training data, like `train`.
//!
//! Params: those of `train` for the `kind`, plus
//! - `space` (required): a table in [`SearchSpace`] form. Forecasts tune `method` (a
//!   `choice` of method names) and `season` (integers, or lists of them); tabular kinds tune
//!   the algorithm's hyperparameters (`hyperparams` gives the fixed ones).
//! - `strategy`: `grid`, `random` (default) or `halving` (successive halving with `eta` 3;
//!   the budget is a share of the series, or of the fitting rows).
//! - `trials`: random trials or halving candidates (default 20); not allowed with `grid`.
//! - `metric`: what a trial scores. Forecasts: the pooled backtest mean of `mase`
//!   (default), `smape`, `mae`, `rmse` or `wape`, over `backtest_windows` windows (default
//!   1, at least 1). Regression: `rmse` (default), `mae` or `r2`; classification:
//!   `log_loss` (default), `accuracy`, `f1_macro` or `roc_auc`, on a seeded quarter of the
//!   training rows held out from each trial's fit. Errors and losses are minimised, the
//!   others maximised.
//! - `seed` (default 0): random search and the splits.
//!
//! The report lists every trial (id, rung, budget, params, score or error) and the best;
//! metrics are `best_<metric>`, `trials`, and the final model's metrics as `train` gives
//! them.

use std::path::Path;

use esteira_ml::model::ForecastConfig;
use esteira_ml::model::tabular as tab;
use esteira_ml::series::SeriesSet;
use esteira_ml::tabular;
use esteira_ml::tune::{
    self, Direction, NoObserver, SearchSpace, Strategy, Trial, TuneConfig, TuneError, TuneResult,
};
use serde_json::{Map, Value, json};

use super::io::{self, optional_str, param, param_error, usize_or};
use super::model_params::{
    FORECAST_PARAMS, ModelTask, TABULAR_PARAMS, blocking, check_known_params, forecast_config,
    input_error, model_task, tabular_settings,
};
use super::train::{
    TabularData, Trained, backtest, finish, read_series, step_with_kind, train_forecast,
    train_tabular,
};
use crate::step::{StepContext, StepError, StepOutput};

const TUNE_PARAMS: [&str; 5] = ["space", "strategy", "trials", "metric", "seed"];

/// Runs the step.
///
/// # Errors
/// [`StepError::Param`] for a missing, malformed or unknown param (including a bad search
/// space or metric); [`StepError::Input`] when the `train` dataset cannot be read;
/// [`StepError::Failed`] when every trial fails or the final fit fails.
pub async fn run(ctx: &StepContext<'_>) -> Result<StepOutput, StepError> {
    let task = model_task(ctx)?;
    let train = io::read_table(ctx, "train")?;
    let model_dir = ctx.out_dir.join("model");
    let known: Vec<&str> = match task {
        ModelTask::Forecast => FORECAST_PARAMS
            .iter()
            .chain(&TUNE_PARAMS)
            .copied()
            .collect(),
        _ => TABULAR_PARAMS.iter().chain(&TUNE_PARAMS).copied().collect(),
    };
    check_known_params(ctx, &step_with_kind("tune", task), &known)?;
    let search = Search::from_params(ctx, task)?;
    let (trained, result) = match task.tabular() {
        None => {
            let config = forecast_config(ctx)?;
            let windows = usize_or(ctx, "backtest_windows", 1)?;
            if windows == 0 {
                return Err(param_error(
                    "backtest_windows",
                    "must be at least 1: forecast trials are scored by backtest".into(),
                ));
            }
            check_forecast_space(&search.space)?;
            let job = search.clone();
            blocking(move || {
                let set = read_series(&train, &config)?;
                tune_forecast(&set, &config, windows, &job, &model_dir)
            })
            .await?
        }
        Some(t) => {
            let settings = tabular_settings(ctx, t)?;
            let job = search.clone();
            blocking(move || {
                let data = TabularData::read(&train, &settings)?;
                tune_tabular(&data, &settings, &job, &model_dir)
            })
            .await?
        }
    };
    let best = result.best.value().ok_or_else(|| {
        StepError::Failed(format!(
            "the best trial {} has no score",
            result.best.trial.id
        ))
    })?;
    ctx.log.line(format!(
        "{} trials; best trial {} with {} = {best}",
        result.trials.len(),
        result.best.trial.id,
        search.metric
    ));
    let mut metrics = trained.metrics.clone();
    metrics.insert(format!("best_{}", search.metric), best);
    metrics.insert("trials".into(), result.trials.len() as f64);
    let report = json!({
        "kind": task.name(),
        "strategy": search.strategy_name,
        "metric": search.metric,
        "direction": search.config.direction,
        "trials": result.trials.iter().map(trial_json).collect::<Vec<_>>(),
        "best": trial_json(&result.best),
        "model": trained.report,
    });
    finish(ctx, Trained { report, metrics })
}

/// The search settings of the params.
#[derive(Clone, Debug)]
struct Search {
    space: SearchSpace,
    config: TuneConfig,
    strategy_name: &'static str,
    metric: String,
    seed: u64,
}

impl Search {
    fn from_params(ctx: &StepContext<'_>, task: ModelTask) -> Result<Search, StepError> {
        let space = match param(ctx, "space") {
            None | Some(Value::Null) => {
                return Err(param_error("space", "is required".into()));
            }
            Some(value) => {
                SearchSpace::from_value(value).map_err(|e| param_error("space", e.to_string()))?
            }
        };
        let seed = usize_or(ctx, "seed", 0)? as u64;
        let strategy_name = match optional_str(ctx, "strategy")?.unwrap_or("random") {
            "grid" => "grid",
            "random" => "random",
            "halving" => "halving",
            other => {
                return Err(param_error(
                    "strategy",
                    format!("unknown strategy `{other}` (strategies: grid, random, halving)"),
                ));
            }
        };
        let trials = usize_or(ctx, "trials", 20)?;
        if trials == 0 {
            return Err(param_error("trials", "must be at least 1".into()));
        }
        let strategy = match strategy_name {
            "grid" if param(ctx, "trials").is_some() => {
                return Err(param_error(
                    "trials",
                    "grid search runs every point of the space; `trials` applies to random and halving".into(),
                ));
            }
            "grid" => Strategy::Grid,
            "random" => Strategy::Random { trials, seed },
            _ => Strategy::Halving {
                candidates: trials,
                seed,
                eta: 3,
            },
        };
        let (metric, direction) = metric(ctx, task)?;
        Ok(Search {
            space,
            config: TuneConfig {
                strategy,
                direction,
                max_parallelism: None,
            },
            strategy_name,
            metric,
            seed,
        })
    }

    fn run(
        &self,
        objective: impl Fn(&Trial, f64) -> Result<f64, String> + Sync,
    ) -> Result<TuneResult, StepError> {
        tune::tune(&self.space, &self.config, objective, &NoObserver).map_err(|e| match e {
            TuneError::NotGriddable(_) | TuneError::GridTooLarge => {
                param_error("space", e.to_string())
            }
            other => StepError::Failed(format!("tuning: {other}")),
        })
    }
}

/// The `metric` param, with its default for `task`, and whether it is minimised.
fn metric(ctx: &StepContext<'_>, task: ModelTask) -> Result<(String, Direction), StepError> {
    let (choices, maximised): (&[&str], &[&str]) = match task {
        ModelTask::Forecast => (&["mase", "smape", "mae", "rmse", "wape"], &[]),
        ModelTask::Regression => (&["rmse", "mae", "r2"], &["r2"]),
        ModelTask::Classification => (
            &["log_loss", "accuracy", "f1_macro", "roc_auc"],
            &["accuracy", "f1_macro", "roc_auc"],
        ),
    };
    let name = optional_str(ctx, "metric")?.unwrap_or(choices[0]);
    if !choices.contains(&name) {
        return Err(param_error(
            "metric",
            format!(
                "unknown metric `{name}` for kind = \"{}\" (metrics: {})",
                task.name(),
                choices.join(", ")
            ),
        ));
    }
    let direction = if maximised.contains(&name) {
        Direction::Maximize
    } else {
        Direction::Minimize
    };
    Ok((name.to_string(), direction))
}

/// Forecast spaces may only hold `method` and `season`.
fn check_forecast_space(space: &SearchSpace) -> Result<(), StepError> {
    match space
        .params()
        .iter()
        .find(|(name, _)| name != "method" && name != "season")
    {
        None => Ok(()),
        Some((name, _)) => Err(param_error(
            &format!("space.{name}"),
            "forecast tuning searches `method` and `season` only".into(),
        )),
    }
}

fn trial_json(record: &tune::TrialRecord) -> Value {
    json!({
        "id": record.trial.id,
        "rung": record.trial.rung,
        "budget": record.budget,
        "params": record.trial.params,
        "score": record.value(),
        "error": match &record.outcome {
            tune::Outcome::Failed(e) => Some(e),
            tune::Outcome::Value(_) => None,
        },
    })
}

fn tune_forecast(
    set: &SeriesSet,
    base: &ForecastConfig,
    windows: usize,
    search: &Search,
    model_dir: &Path,
) -> Result<(Trained, TuneResult), StepError> {
    let objective = |trial: &Trial, budget: f64| -> Result<f64, String> {
        let config = trial_config(base, trial)?;
        let subset = set.subset(budget, search.seed);
        let result = backtest(&subset, &config, windows).map_err(|e| e.to_string())?;
        result
            .pooled
            .get(&search.metric)
            .map(|s| s.mean)
            .ok_or_else(|| format!("{} is undefined on the backtest", search.metric))
    };
    let result = search.run(objective)?;
    let best = trial_config(base, &result.best.trial).map_err(StepError::Failed)?;
    let tuning =
        json!({"metric": search.metric, "best": result.best, "trials": result.trials.len()});
    let trained = train_forecast(set, best, 0, model_dir, tuning)?;
    Ok((trained, result))
}

/// `base` with a trial's `method` and `season`.
fn trial_config(base: &ForecastConfig, trial: &Trial) -> Result<ForecastConfig, String> {
    let mut config = base.clone();
    for (name, value) in &trial.params {
        match (name.as_str(), value) {
            ("method", Value::String(m)) => {
                let method = esteira_ml::model::forecast::method_by_name(m)
                    .ok_or_else(|| format!("unknown method '{m}'"))?;
                config.method = method.name().to_string();
            }
            ("season", Value::Array(list)) => {
                let seasons: Option<Vec<usize>> = list
                    .iter()
                    .map(|v| v.as_u64().and_then(|m| usize::try_from(m).ok()))
                    .collect();
                config.seasons = Some(seasons.ok_or("season must be a list of positive integers")?);
            }
            ("season", v) => {
                let m = v
                    .as_u64()
                    .and_then(|m| usize::try_from(m).ok())
                    .ok_or("season must be a positive integer")?;
                config.seasons = Some(vec![m]);
            }
            (other, v) => return Err(format!("cannot tune `{other}` = {v}")),
        }
    }
    Ok(config)
}

fn tune_tabular(
    data: &TabularData,
    settings: &super::model_params::TabularSettings,
    search: &Search,
    model_dir: &Path,
) -> Result<(Trained, TuneResult), StepError> {
    let train_x = tab::take_rows(&data.features, &data.train_rows)
        .map_err(|e| StepError::Failed(e.to_string()))?;
    let train_y = data.target.take(&data.train_rows);
    let (fit_rows, valid_rows) =
        tab::split_rows(data.train_rows.len(), 0.25, search.seed.wrapping_add(1))
            .map_err(|e| input_error("train", e))?;
    let valid_x =
        tab::take_rows(&train_x, &valid_rows).map_err(|e| StepError::Failed(e.to_string()))?;
    let valid_y = train_y.take(&valid_rows);
    let objective = |trial: &Trial, budget: f64| -> Result<f64, String> {
        let mut params = settings.hyperparams.clone();
        params.extend(trial.params.clone());
        let keep = ((fit_rows.len() as f64 * budget).ceil() as usize).clamp(2, fit_rows.len());
        let rows = &fit_rows[..keep];
        let x = tab::take_rows(&train_x, rows).map_err(|e| e.to_string())?;
        let y = train_y.take(rows);
        let model = tabular::fit(
            settings.task,
            settings.algorithm,
            &Value::Object(params),
            &x,
            y.as_target(),
        )
        .map_err(|e| e.to_string())?;
        let scores = tab::score(&model, &valid_x, &valid_y).map_err(|e| e.to_string())?;
        scores
            .get(&search.metric)
            .copied()
            .ok_or_else(|| format!("{} is undefined on the validation rows", search.metric))
    };
    let result = search.run(objective)?;
    let mut params: Map<String, Value> = settings.hyperparams.clone();
    params.extend(result.best.trial.params.clone());
    let tuning =
        json!({"metric": search.metric, "best": result.best, "trials": result.trials.len()});
    let trained = train_tabular(data, settings, &params, model_dir, tuning)?;
    Ok((trained, result))
}
