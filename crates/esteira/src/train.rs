//! `esteira train`: fits a forecast or tabular model on a file, optionally tunes it, saves it
//! as a model directory, and logs it (with one child run per tuning trial) when a tracking
//! store is given.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use comfy_table::{Table as TextTable, presets::UTF8_FULL_CONDENSED};
use esteira_ml::dataset::Table;
use esteira_ml::model::tabular::{self as tab, TargetData};
use esteira_ml::model::{self, ForecastConfig, ForecastModel, ModelKind};
use esteira_ml::series::{LongFormat, SeriesSet};
use esteira_ml::tabular::{self, Algorithm, Features, Task};
use esteira_ml::tune::{
    self, Direction, Observer, SearchSpace, Strategy, Trial, TrialRecord, TuneConfig, TuneResult,
};
use serde_json::{Map, Value, json};

use crate::config::Config;
use crate::ml::{TrackingArgs, file_name, progress_bar, seasons, summary_cell};
use crate::tracker::{RunHandle, Tracker};

/// What kind of model to train.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Many series in long format: one forecaster per series (needs --id, --time, --horizon).
    Forecast,
    /// Predict a number from feature columns.
    Regression,
    /// Predict a label (with class probabilities) from feature columns.
    Classification,
}

/// Tabular learners.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgorithmArg {
    Linear,
    Ridge,
    Logistic,
    Gbdt,
    RandomForest,
}

impl From<AlgorithmArg> for Algorithm {
    fn from(a: AlgorithmArg) -> Self {
        match a {
            AlgorithmArg::Linear => Algorithm::Linear,
            AlgorithmArg::Ridge => Algorithm::Ridge,
            AlgorithmArg::Logistic => Algorithm::Logistic,
            AlgorithmArg::Gbdt => Algorithm::Gbdt,
            AlgorithmArg::RandomForest => Algorithm::RandomForest,
        }
    }
}

/// Search strategies of `--tune`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyArg {
    /// Every point of the space's grid.
    Grid,
    /// `--trials` random points.
    Random,
    /// Successive halving over `--trials` random candidates (budget: a fraction of the rows,
    /// or of the series for forecasts).
    Halving,
}

/// `esteira train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: a CSV or Parquet file (long format for forecasts).
    #[arg(long)]
    pub data: PathBuf,
    /// Kind of model.
    #[arg(long, value_enum, default_value = "forecast")]
    pub kind: Kind,
    /// The target column.
    #[arg(long)]
    pub target: String,
    /// Forecasts: column(s) identifying a series; repeat the flag or separate with commas.
    #[arg(long = "id", value_delimiter = ',')]
    pub id: Vec<String>,
    /// Forecasts: the time column (dates, timestamps or integer periods).
    #[arg(long)]
    pub time: Option<String>,
    /// Forecasts: exogenous columns (known in advance, e.g. price or promotion); repeat or
    /// separate with commas. Predictions then need their future values.
    #[arg(long, value_delimiter = ',')]
    pub exog: Vec<String>,
    /// Forecasts: horizon in steps.
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Forecasts: auto (the per-series ensemble), autoets, naive, snaive, naive2, ses, holt,
    /// damped, theta or mstl.
    #[arg(long, default_value = "auto")]
    pub method: String,
    /// Forecasts: seasonal period(s) [default: detected per series among the calendar's
    /// customary periods].
    #[arg(long, value_delimiter = ',')]
    pub season: Vec<usize>,
    /// Forecasts: rolling-origin backtest windows run before the final fit (0 skips it).
    #[arg(long, default_value_t = 3)]
    pub backtest_windows: usize,
    /// Tabular: the learner.
    #[arg(long, value_enum, default_value = "gbdt")]
    pub algorithm: AlgorithmArg,
    /// Tabular: learner parameters as a JSON object, e.g. '{"max_iter": 200}'.
    #[arg(long)]
    pub params: Option<String>,
    /// Tabular: feature columns; repeat or separate with commas [default: every other column].
    #[arg(long, value_delimiter = ',')]
    pub features: Vec<String>,
    /// Tabular: share of the rows held out to score the model.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Seed of the holdout split and of random search.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Tune: a JSON search space, e.g. '{"learning_rate": {"float": [0.01, 0.3], "log": true}}'
    /// (a file path or inline JSON). Forecasts tune `method` and `season`.
    #[arg(long)]
    pub tune: Option<String>,
    /// Tune: the search strategy.
    #[arg(long, value_enum, default_value = "random")]
    pub strategy: StrategyArg,
    /// Tune: trials of random search, candidates of successive halving.
    #[arg(long, default_value_t = 20)]
    pub trials: usize,
    /// Directory the model is written to (must not exist) [default: esteira-models/<run>].
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Register the model under this name (needs a tracking store).
    #[arg(long)]
    pub register: Option<String>,
    #[command(flatten)]
    pub tracking: TrackingArgs,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What a training produced, for logging and the summary.
struct Trained {
    output: PathBuf,
    /// Rows of the summary table.
    rows: Vec<(String, String)>,
    /// The summary as JSON.
    summary: Value,
    params: Vec<(String, String)>,
    metrics: Vec<(String, f64)>,
    tuning: Option<TuneResult>,
}

/// Trains, saves and (with a tracking store) logs and registers a model.
///
/// # Errors
/// Bad arguments (naming the flag), data errors (naming the column, row or series), training
/// and tracking failures. The run is marked FAILED when training fails after it started.
pub async fn train(config: &Config, args: TrainArgs) -> Result<()> {
    check_flags(&args)?;
    let tracker = args.tracking.connect(config).await?;
    if args.register.is_some() && tracker.is_none() {
        bail!("--register needs a tracking store: pass --server URL or --store URL");
    }
    let kind = format!("{:?}", args.kind).to_lowercase();
    let run = match &tracker {
        Some(t) => {
            let name = args
                .tracking
                .run_name
                .clone()
                .unwrap_or_else(|| format!("train {kind} {}", file_name(&args.data)));
            let tags = [
                ("mlflow.source.name", "esteira train".to_string()),
                ("mlflow.source.type", "LOCAL".to_string()),
                ("esteira.kind", kind.clone()),
            ];
            Some(t.start_run(&args.tracking.experiment, &name, &tags).await?)
        }
        None => None,
    };
    let started = Instant::now();
    let outcome = match args.kind {
        Kind::Forecast => train_forecast(&args, run.as_ref()),
        Kind::Regression | Kind::Classification => train_tabular(&args, run.as_ref()),
    };
    let (Some(t), Some(run)) = (&tracker, &run) else {
        let trained = outcome?;
        print_summary(&trained, started, None, None, args.json);
        return Ok(());
    };
    let trained = match outcome {
        Ok(trained) => trained,
        Err(e) => {
            t.finish(run, "FAILED").await.ok();
            return Err(e);
        }
    };
    let logged = log_trained(t, run, &args, &trained, started).await;
    t.finish(run, if logged.is_ok() { "FINISHED" } else { "FAILED" })
        .await?;
    let version = logged?;
    let location = (t.location.clone(), run.run_id.clone());
    print_summary(&trained, started, Some(location), version, args.json);
    Ok(())
}

fn check_flags(args: &TrainArgs) -> Result<()> {
    let forecast = args.kind == Kind::Forecast;
    if forecast {
        if args.id.is_empty() {
            bail!("--id is required for --kind forecast (the column(s) naming a series)");
        }
        if args.time.is_none() {
            bail!("--time is required for --kind forecast");
        }
        if args.horizon.is_none() {
            bail!("--horizon is required for --kind forecast");
        }
        if args.params.is_some() || !args.features.is_empty() {
            bail!("--params and --features apply to regression and classification, not forecasts");
        }
    } else if !args.id.is_empty()
        || args.time.is_some()
        || args.horizon.is_some()
        || !args.season.is_empty()
        || !args.exog.is_empty()
    {
        bail!("--id, --time, --horizon, --season and --exog apply to --kind forecast only");
    }
    Ok(())
}

fn output_dir(args: &TrainArgs, run: Option<&RunHandle>, prefix: &str) -> PathBuf {
    match &args.output {
        Some(dir) => dir.clone(),
        None => PathBuf::from("esteira-models").join(match run {
            Some(r) => r.run_id.clone(),
            None => chrono::Utc::now()
                .format(&format!("{prefix}-%Y%m%d-%H%M%S"))
                .to_string(),
        }),
    }
}

/// The tuning settings of the flags, with `direction` for the objective.
fn tune_setup(args: &TrainArgs) -> Result<Option<(SearchSpace, TuneConfig)>> {
    let Some(spec) = &args.tune else {
        return Ok(None);
    };
    let text = if spec.trim_start().starts_with('{') {
        spec.clone()
    } else {
        std::fs::read_to_string(spec).with_context(|| format!("cannot read --tune file {spec}"))?
    };
    let space = SearchSpace::from_json(&text).context("invalid --tune search space")?;
    let strategy = match args.strategy {
        StrategyArg::Grid => Strategy::Grid,
        StrategyArg::Random => Strategy::Random {
            trials: args.trials,
            seed: args.seed,
        },
        StrategyArg::Halving => Strategy::Halving {
            candidates: args.trials,
            seed: args.seed,
            eta: 3,
        },
    };
    let config = TuneConfig {
        strategy,
        direction: Direction::Minimize,
        max_parallelism: None,
    };
    Ok(Some((space, config)))
}

/// Advances a progress bar per finished trial.
struct TrialProgress(indicatif::ProgressBar);

impl Observer for TrialProgress {
    fn trial_finished(&self, _: &TrialRecord) {
        self.0.inc(1);
    }
}

fn run_tuning(
    space: &SearchSpace,
    config: &TuneConfig,
    objective: impl Fn(&Trial, f64) -> Result<f64> + Sync,
) -> Result<TuneResult> {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message("tuning");
    let progress = TrialProgress(bar);
    let result = tune::tune(
        space,
        config,
        |t, b| objective(t, b).map_err(|e| format!("{e:#}")),
        &progress,
    )?;
    progress.0.finish_and_clear();
    Ok(result)
}

fn train_forecast(args: &TrainArgs, run: Option<&RunHandle>) -> Result<Trained> {
    let format = LongFormat {
        id: args.id.clone(),
        time: args.time.clone().unwrap_or_default(),
        target: args.target.clone(),
        exog: args.exog.clone(),
    };
    let horizon = args.horizon.unwrap_or_default();
    let set = SeriesSet::from_table(&Table::read(&args.data)?, &format)?;
    let mut config = ForecastConfig {
        format,
        method: args.method.clone(),
        horizon,
        seasons: seasons(&args.season),
    };
    let windows = args.backtest_windows.max(1);
    let tuning = match tune_setup(args)? {
        Some((space, tune_config)) => {
            let base = config.clone();
            let objective = |trial: &Trial, budget: f64| -> Result<f64> {
                let candidate = forecast_trial_config(&base, trial)?;
                let subset = set.subset(budget, args.seed);
                let b = model::backtest(&subset, &candidate, windows, &|| ())?;
                b.pooled
                    .get("mase")
                    .map(|s| s.mean)
                    .context("no series is long enough for the backtest")
            };
            let result = run_tuning(&space, &tune_config, objective)?;
            config = forecast_trial_config(&config, &result.best.trial)?;
            Some(result)
        }
        None => None,
    };
    let backtest = if args.backtest_windows > 0 {
        let bar = progress_bar(set.series.len(), "backtest");
        let result = model::backtest(&set, &config, args.backtest_windows, &|| bar.inc(1));
        bar.finish_and_clear();
        Some(result?)
    } else {
        None
    };
    let bar = progress_bar(set.series.len(), "training");
    let (fitted, report) = ForecastModel::train(&set, config.clone(), &|| bar.inc(1))?;
    bar.finish_and_clear();
    let output = output_dir(args, run, "forecast");
    let pooled = backtest.as_ref().map(|b| b.pooled.clone());
    let training = json!({
        "data": args.data.display().to_string(),
        "report": report,
        "backtest": backtest.as_ref().map(|b| json!({"windows": args.backtest_windows, "pooled": b.pooled, "skipped": b.skipped})),
        "tuning": tuning.as_ref().map(|t| json!({"best": t.best, "trials": t.trials.len()})),
    });
    let manifest = model::new_manifest(
        ModelKind::Forecast,
        fitted.signature(),
        fitted.input_example(),
        training,
    );
    model::save(&output, &manifest, &fitted)?;

    let mut params = vec![
        ("kind".to_string(), "forecast".to_string()),
        ("method".to_string(), config.method.clone()),
        ("horizon".to_string(), horizon.to_string()),
        ("id".to_string(), args.id.join(",")),
        ("time".to_string(), config.format.time.clone()),
        ("target".to_string(), args.target.clone()),
        (
            "backtest_windows".to_string(),
            args.backtest_windows.to_string(),
        ),
        ("data".to_string(), args.data.display().to_string()),
    ];
    params.push((
        "season".to_string(),
        config
            .seasons
            .as_ref()
            .map_or_else(|| "auto".to_string(), |s| join(s)),
    ));
    let mut metrics = vec![
        ("series".to_string(), report.series as f64),
        ("observations".to_string(), report.observations as f64),
        (
            "series_with_gaps".to_string(),
            report.gaps_filled.len() as f64,
        ),
        ("series_fallback".to_string(), report.fallbacks.len() as f64),
    ];
    for (name, s) in pooled.iter().flatten() {
        metrics.push((format!("backtest_{name}_mean"), s.mean));
        metrics.push((format!("backtest_{name}_std"), s.std));
    }
    let seasons_text: Vec<String> = report
        .seasons
        .iter()
        .map(|(m, n)| format!("{m}: {n}"))
        .collect();
    let models_text: Vec<String> = top_counts(&report.models, 4);
    let mut rows = vec![
        ("data".to_string(), args.data.display().to_string()),
        ("method".to_string(), config.method.clone()),
        ("series".to_string(), report.series.to_string()),
        ("observations".to_string(), report.observations.to_string()),
        (
            "seasons (periods: series)".to_string(),
            seasons_text.join(", "),
        ),
        ("fitted models (series)".to_string(), models_text.join("; ")),
        (
            "series with gaps filled".to_string(),
            report.gaps_filled.len().to_string(),
        ),
        (
            "series that fell back".to_string(),
            report.fallbacks.len().to_string(),
        ),
    ];
    for (label, key) in [
        ("sMAPE", "smape"),
        ("MASE", "mase"),
        ("coverage 95%", "coverage95"),
    ] {
        rows.push((
            format!("backtest {label}"),
            summary_cell(pooled.as_ref().and_then(|p| p.get(key))),
        ));
    }
    for (series, reason) in report.fallbacks.iter().take(5) {
        rows.push((format!("fallback: {series}"), reason.clone()));
    }
    let summary = json!({
        "model": output.display().to_string(),
        "method": config.method,
        "report": report,
        "backtest": pooled,
    });
    Ok(Trained {
        output,
        rows,
        summary,
        params,
        metrics,
        tuning,
    })
}

fn top_counts(counts: &std::collections::BTreeMap<String, usize>, n: usize) -> Vec<String> {
    let mut v: Vec<(&String, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut out: Vec<String> = v.iter().take(n).map(|(k, c)| format!("{k}: {c}")).collect();
    if v.len() > n {
        out.push(format!("{} more", v.len() - n));
    }
    out
}

fn join(values: &[usize]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// `base` with a trial's `method` and `season` (an integer, or a list of integers).
fn forecast_trial_config(base: &ForecastConfig, trial: &Trial) -> Result<ForecastConfig> {
    let mut config = base.clone();
    for (name, value) in &trial.params {
        match (name.as_str(), value) {
            ("method", Value::String(m)) => config.method = m.clone(),
            ("season", Value::Number(n)) => {
                let m = n.as_u64().context("season must be a positive integer")?;
                config.seasons = Some(vec![m as usize]);
            }
            ("season", Value::Array(list)) => {
                let seasons = list
                    .iter()
                    .map(|v| v.as_u64().map(|m| m as usize))
                    .collect::<Option<Vec<_>>>()
                    .context("season must be a list of positive integers")?;
                config.seasons = Some(seasons);
            }
            (other, _) => {
                bail!("forecast tuning supports the params method and season, not '{other}'")
            }
        }
    }
    Ok(config)
}

fn task_of(kind: Kind) -> Task {
    match kind {
        Kind::Classification => Task::Classification,
        _ => Task::Regression,
    }
}

fn base_params(args: &TrainArgs) -> Result<Map<String, Value>> {
    match &args.params {
        None => Ok(Map::new()),
        Some(text) => {
            match serde_json::from_str::<Value>(text).context("--params is not valid JSON")? {
                Value::Object(map) => Ok(map),
                other => bail!("--params must be a JSON object, got {other}"),
            }
        }
    }
}

fn train_tabular(args: &TrainArgs, run: Option<&RunHandle>) -> Result<Trained> {
    let task = task_of(args.kind);
    let algorithm: Algorithm = args.algorithm.into();
    let table = Table::read(&args.data)?;
    let features = tab::features_from_table(&table, &args.features, &args.target)?;
    let target = tab::target_from_table(&table, &args.target, task)?;
    let (train_rows, test_rows) =
        tab::split_rows(features.n_rows(), args.test_fraction, args.seed)?;
    let train_x = tab::take_rows(&features, &train_rows)?;
    let train_y = target.take(&train_rows);
    let mut params = base_params(args)?;
    let tuning = match tune_setup(args)? {
        Some((space, tune_config)) => {
            let (fit_rows, valid_rows) =
                tab::split_rows(train_rows.len(), 0.25, args.seed.wrapping_add(1))?;
            let valid_x = tab::take_rows(&train_x, &valid_rows)?;
            let valid_y = train_y.take(&valid_rows);
            let base = params.clone();
            let objective = |trial: &Trial, budget: f64| -> Result<f64> {
                let mut p = base.clone();
                p.extend(trial.params.clone());
                let keep =
                    ((fit_rows.len() as f64 * budget).ceil() as usize).clamp(2, fit_rows.len());
                let rows = &fit_rows[..keep];
                let x = tab::take_rows(&train_x, rows)?;
                let y = train_y.take(rows);
                let m = tabular::fit(task, algorithm, &Value::Object(p), &x, y.as_target())?;
                let scores = tab::score(&m, &valid_x, &valid_y)?;
                let key = if task == Task::Regression {
                    "rmse"
                } else {
                    "log_loss"
                };
                scores
                    .get(key)
                    .copied()
                    .with_context(|| format!("{key} is undefined on the validation rows"))
            };
            let result = run_tuning(&space, &tune_config, objective)?;
            params.extend(result.best.trial.params.clone());
            Some(result)
        }
        None => None,
    };
    let fitted = tabular::fit(
        task,
        algorithm,
        &Value::Object(params.clone()),
        &train_x,
        train_y.as_target(),
    )?;
    let test_x = tab::take_rows(&features, &test_rows)?;
    let holdout = tab::score(&fitted, &test_x, &target.take(&test_rows))?;
    let output = output_dir(args, run, "tabular");
    let training = json!({
        "data": args.data.display().to_string(),
        "target": args.target,
        "rows": {"train": train_rows.len(), "test": test_rows.len()},
        "holdout": holdout,
        "params": params,
        "tuning": tuning.as_ref().map(|t| json!({"best": t.best, "trials": t.trials.len()})),
    });
    let manifest = model::new_manifest(
        ModelKind::Tabular,
        tab::signature(&fitted, &features),
        tab::input_example(&features, 5),
        training,
    );
    model::save(&output, &manifest, &fitted)?;
    Ok(tabular_trained(
        args,
        output,
        &features,
        &target,
        &params,
        holdout,
        tuning,
        train_rows.len(),
        test_rows.len(),
    ))
}

#[allow(clippy::too_many_arguments)]
fn tabular_trained(
    args: &TrainArgs,
    output: PathBuf,
    features: &Features,
    target: &TargetData,
    params: &Map<String, Value>,
    holdout: std::collections::BTreeMap<String, f64>,
    tuning: Option<TuneResult>,
    train_rows: usize,
    test_rows: usize,
) -> Trained {
    let kind = format!("{:?}", args.kind).to_lowercase();
    let algorithm = format!("{}", Algorithm::from(args.algorithm));
    let mut logged_params = vec![
        ("kind".to_string(), kind.clone()),
        ("algorithm".to_string(), algorithm.clone()),
        ("target".to_string(), args.target.clone()),
        ("features".to_string(), features.names().join(",")),
        ("test_fraction".to_string(), args.test_fraction.to_string()),
        ("seed".to_string(), args.seed.to_string()),
        ("data".to_string(), args.data.display().to_string()),
    ];
    for (k, v) in params {
        logged_params.push((format!("param.{k}"), v.to_string()));
    }
    let mut metrics: Vec<(String, f64)> = holdout
        .iter()
        .map(|(k, v)| (format!("holdout_{k}"), *v))
        .collect();
    metrics.push(("train_rows".to_string(), train_rows as f64));
    metrics.push(("test_rows".to_string(), test_rows as f64));
    let classes = match target {
        TargetData::Labels(l) => {
            let mut c: Vec<&String> = l.iter().collect();
            c.sort();
            c.dedup();
            c.len().to_string()
        }
        TargetData::Values(_) => "-".to_string(),
    };
    let mut rows = vec![
        ("data".to_string(), args.data.display().to_string()),
        ("task".to_string(), kind.clone()),
        ("algorithm".to_string(), algorithm.clone()),
        ("features".to_string(), features.n_columns().to_string()),
        ("classes".to_string(), classes),
        (
            "rows (train / test)".to_string(),
            format!("{train_rows} / {test_rows}"),
        ),
    ];
    for (k, v) in &holdout {
        rows.push((format!("holdout {k}"), format!("{v:.4}")));
    }
    if let Some(t) = &tuning {
        rows.push(("tuning trials".to_string(), t.trials.len().to_string()));
        rows.push((
            "best params".to_string(),
            Value::Object(t.best.trial.params.clone()).to_string(),
        ));
    }
    let summary = json!({
        "model": output.display().to_string(),
        "task": kind,
        "algorithm": algorithm,
        "holdout": holdout,
        "params": params,
        "tuning": tuning.as_ref().map(|t| json!({"best": t.best, "trials": t.trials.len()})),
    });
    Trained {
        output,
        rows,
        summary,
        params: logged_params,
        metrics,
        tuning,
    }
}

async fn log_trained(
    t: &Tracker,
    run: &RunHandle,
    args: &TrainArgs,
    trained: &Trained,
    started: Instant,
) -> Result<Option<(String, String)>> {
    let mut metrics = trained.metrics.clone();
    metrics.push((
        "training_seconds".to_string(),
        started.elapsed().as_secs_f64(),
    ));
    t.log(run, &trained.params, &metrics).await?;
    if let Some(tuning) = &trained.tuning {
        log_trials(t, run, &args.tracking.experiment, tuning).await?;
    }
    t.upload_dir(run, &trained.output, "model").await?;
    match &args.register {
        Some(name) => Ok(Some((name.clone(), t.register(run, "model", name).await?))),
        None => Ok(None),
    }
}

/// One child run per trial: its params, budget and objective (or its error).
async fn log_trials(
    t: &Tracker,
    parent: &RunHandle,
    experiment: &str,
    tuning: &TuneResult,
) -> Result<()> {
    for record in &tuning.trials {
        let trial = &record.trial;
        let tags = [
            ("mlflow.parentRunId", parent.run_id.clone()),
            ("esteira.trial", trial.id.to_string()),
            ("esteira.rung", trial.rung.to_string()),
        ];
        let child = t
            .start_run(experiment, &format!("trial-{}", trial.id), &tags)
            .await?;
        let params: Vec<(String, String)> = trial
            .params
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_string),
                )
            })
            .collect();
        let mut metrics = vec![("budget".to_string(), record.budget)];
        if let Some(v) = record.value() {
            metrics.push(("objective".to_string(), v));
        }
        t.log(&child, &params, &metrics).await?;
        let best = record.trial.id == tuning.best.trial.id;
        t.set_tag(
            &child,
            "esteira.best_trial",
            if best { "true" } else { "false" },
        )
        .await?;
        t.finish(
            &child,
            if record.value().is_some() {
                "FINISHED"
            } else {
                "FAILED"
            },
        )
        .await?;
    }
    Ok(())
}

fn print_summary(
    trained: &Trained,
    started: Instant,
    run: Option<(String, String)>,
    version: Option<(String, String)>,
    as_json: bool,
) {
    let seconds = started.elapsed().as_secs_f64();
    if as_json {
        let mut value = trained.summary.clone();
        value["seconds"] = json!(seconds);
        value["run_id"] = json!(run.as_ref().map(|r| &r.1));
        value["registered"] = json!(
            version
                .as_ref()
                .map(|(n, v)| json!({"name": n, "version": v}))
        );
        println!("{value:#}");
        return;
    }
    let mut table = TextTable::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_header(["", "value"]);
    for (k, v) in &trained.rows {
        table.add_row([k.clone(), v.clone()]);
    }
    table.add_row(["seconds".to_string(), format!("{seconds:.2}")]);
    table.add_row(["model".to_string(), trained.output.display().to_string()]);
    if let Some((location, run_id)) = &run {
        table.add_row(["run".to_string(), format!("{run_id} ({location})")]);
    }
    if let Some((name, version)) = &version {
        table.add_row([
            "registered".to_string(),
            format!("{name} version {version}"),
        ]);
    }
    println!("{table}");
}
