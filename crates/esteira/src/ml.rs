//! `esteira train`, `predict`, `evaluate` and `backtest`: the model library from the command
//! line, with runs logged to a tracking store when one is given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use comfy_table::{Table as TextTable, presets::UTF8_FULL_CONDENSED};
use esteira_ml::backtest::Summary;
use esteira_ml::dataset::Table;
use esteira_ml::gate::{self, GateRule, MetricThreshold, Verdict};
use esteira_ml::model::{self, ForecastConfig, LoadedModel};
use esteira_ml::series::{LongFormat, SeriesSet, series_ids};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use serde_json::json;

use crate::config::Config;
use crate::tracker::Tracker;

/// Where runs are logged: a server, or a store opened directly. Without either (and without
/// an `http(s)` `MLFLOW_TRACKING_URI`), nothing is logged.
#[derive(Args, Debug, Clone, Default)]
pub struct TrackingArgs {
    /// Tracking server URL. Env `ESTEIRA_SERVER`.
    #[arg(long, env = "ESTEIRA_SERVER", conflicts_with = "store")]
    pub server: Option<String>,
    /// Bearer token for the server. Env `ESTEIRA_TOKEN`, or `MLFLOW_TRACKING_TOKEN`.
    #[arg(long, env = "ESTEIRA_TOKEN")]
    pub token: Option<String>,
    /// Log into this metadata store directly (sqlite://PATH or postgres://...).
    #[arg(long)]
    pub store: Option<String>,
    /// Artifact store for `--store` [default: the configuration's artifact store].
    #[arg(long, requires = "store")]
    pub artifacts: Option<String>,
    /// Experiment the run is logged in (created when missing).
    #[arg(long, default_value = "Default")]
    pub experiment: String,
    /// Name of the run [default: the command and the data file].
    #[arg(long)]
    pub run_name: Option<String>,
}

impl TrackingArgs {
    pub async fn connect(&self, config: &Config) -> Result<Option<Tracker>> {
        let token = self
            .token
            .clone()
            .or_else(|| std::env::var("MLFLOW_TRACKING_TOKEN").ok());
        if let Some(server) = &self.server {
            return Ok(Some(Tracker::http(server, token)));
        }
        if let Some(store) = &self.store {
            let artifacts = match &self.artifacts {
                Some(a) => a.clone(),
                None => config.server.resolve()?.artifacts,
            };
            return Ok(Some(Tracker::in_process(store, &artifacts).await?));
        }
        match std::env::var("MLFLOW_TRACKING_URI") {
            Ok(uri) if uri.starts_with("http://") || uri.starts_with("https://") => {
                Ok(Some(Tracker::http(&uri, token)))
            }
            _ => Ok(None),
        }
    }
}

/// The long-format columns of a dataset.
#[derive(Args, Debug, Clone)]
pub struct ColumnArgs {
    /// Column(s) identifying a series; repeat the flag or separate with commas.
    #[arg(long = "id", required = true, value_delimiter = ',')]
    pub id: Vec<String>,
    /// The time column (dates, timestamps or integer periods).
    #[arg(long)]
    pub time: String,
    /// The numeric target column.
    #[arg(long)]
    pub target: String,
    /// Exogenous columns (regressors known in advance); repeat or separate with commas.
    #[arg(long, value_delimiter = ',')]
    pub exog: Vec<String>,
}

impl ColumnArgs {
    pub fn format(&self) -> LongFormat {
        LongFormat {
            id: self.id.clone(),
            time: self.time.clone(),
            target: self.target.clone(),
            exog: self.exog.clone(),
        }
    }
}

/// `esteira predict`.
#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The model: a directory, a .onnx file, runs:/RUN_ID/PATH or models:/NAME@ALIAS.
    #[arg(long)]
    pub model: String,
    /// Input rows (CSV or Parquet). Forecast models: the series ids to forecast (all when
    /// omitted), or, for a model with exogenous columns, ids, times and the future exogenous
    /// values (one row per series and future step). Tabular and ONNX models: the feature
    /// columns.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output file (CSV or Parquet, by extension).
    #[arg(long)]
    pub output: PathBuf,
    /// Forecast horizon [default: the horizon the model was trained for].
    #[arg(long)]
    pub horizon: Option<usize>,
    #[command(flatten)]
    pub tracking: TrackingArgs,
}

/// `esteira evaluate`.
#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// The candidate model: a directory, runs:/RUN_ID/PATH or models:/NAME@ALIAS.
    #[arg(long)]
    pub model: String,
    /// Data with actual values: for forecast models, the long format after the training data;
    /// for tabular models, the feature columns and the target column.
    #[arg(long)]
    pub data: PathBuf,
    /// The model to compare with (normally models:/NAME@champion).
    #[arg(long)]
    pub baseline: Option<String>,
    /// Promotion gate: a TOML file of `[metrics.NAME]` tables with `greater_is_better`,
    /// `threshold`, `min_absolute_change`, `min_relative_change` (MLflow's MetricThreshold).
    #[arg(long)]
    pub gate: Option<PathBuf>,
    /// Where the gate's verdict (the blessing) is written as JSON.
    #[arg(long)]
    pub blessing: Option<PathBuf>,
    #[command(flatten)]
    pub tracking: TrackingArgs,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `esteira backtest`.
#[derive(Args, Debug)]
pub struct BacktestArgs {
    /// Data: a CSV or Parquet file in long format.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub columns: ColumnArgs,
    /// Steps forecast per window.
    #[arg(long)]
    pub horizon: usize,
    /// Number of windows.
    #[arg(long, default_value_t = 3)]
    pub windows: usize,
    /// Method(s) to compare; repeat or separate with commas.
    #[arg(long, value_delimiter = ',', default_value = "naive2,ses,theta")]
    pub method: Vec<String>,
    /// Seasonal period(s) [default: detected per series].
    #[arg(long, value_delimiter = ',')]
    pub season: Vec<usize>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The exit code of `evaluate` when the gate refuses the candidate.
pub const GATE_FAILED_EXIT: u8 = 2;

pub fn read_series(path: &Path, columns: &ColumnArgs) -> Result<SeriesSet> {
    let table = Table::read(path)?;
    Ok(SeriesSet::from_table(&table, &columns.format())?)
}

pub fn progress_bar(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(&format!(
        "{what} {{bar:40}} {{pos}}/{{len}} series ({{elapsed}}, eta {{eta}})"
    )) {
        bar.set_style(style);
    }
    bar
}

pub fn seasons(flag: &[usize]) -> Option<Vec<usize>> {
    (!flag.is_empty()).then(|| flag.to_vec())
}

pub fn summary_cell(s: Option<&Summary>) -> String {
    s.map_or_else(|| "-".into(), |s| format!("{:.4} ± {:.4}", s.mean, s.std))
}
pub fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// A model from a path or a tracking URI, and the temporary directory holding a download.
async fn open_model(
    config: &Config,
    tracking: &TrackingArgs,
    uri: &str,
) -> Result<(LoadedModel, Option<tempfile::TempDir>)> {
    if uri.starts_with("runs:/") || uri.starts_with("models:/") {
        let Some(t) = tracking.connect(config).await? else {
            bail!("{uri} needs a tracking store: pass --server URL or --store URL");
        };
        let tmp = tempfile::tempdir()?;
        let dir = t.download(uri, &tmp.path().join("model")).await?;
        return Ok((model::load(&dir)?, Some(tmp)));
    }
    Ok((model::load(Path::new(uri))?, None))
}

/// Writes predictions of a model to a file.
pub async fn predict(config: &Config, args: PredictArgs) -> Result<()> {
    let (loaded, _download) = open_model(config, &args.tracking, &args.model).await?;
    let table = match loaded {
        LoadedModel::Forecast(m, _) if !m.config.format.exog.is_empty() => {
            let Some(path) = &args.input else {
                bail!(
                    "--input is required: the model uses exogenous columns ({}), so it needs their future values per series and time",
                    m.config.format.exog.join(", ")
                );
            };
            let future =
                SeriesSet::future_from_table(&Table::read(path)?, &m.config.format, m.calendar)?;
            m.predict_future(&future)?
        }
        LoadedModel::Forecast(m, _) => {
            let ids = match &args.input {
                Some(path) => Some(series_ids(&Table::read(path)?, &m.config.format.id)?),
                None => None,
            };
            let horizon = args.horizon.unwrap_or(m.config.horizon);
            m.predict(ids.as_deref(), horizon)?
        }
        LoadedModel::Tabular(m, _) => {
            let Some(path) = &args.input else {
                bail!("--input is required for tabular models (the feature columns)");
            };
            return stream_predictions(path, &args.output, |batch| {
                esteira_ml::model::tabular::predict_table(&m, batch)
            });
        }
        LoadedModel::Onnx(m) => {
            let Some(path) = &args.input else {
                bail!("--input is required for ONNX models (the feature columns)");
            };
            return stream_predictions(path, &args.output, |batch| {
                model::onnx_predict_table(&m, batch)
            });
        }
    };
    table.write(&args.output)?;
    println!(
        "{} rows written to {}",
        table.num_rows(),
        args.output.display()
    );
    Ok(())
}

/// Rows scored per batch by `esteira predict` on tabular and ONNX models.
const PREDICT_BATCH_ROWS: usize = 65_536;

/// Scores `input` batch by batch into `output` (one batch in memory at a time), with a
/// progress bar of rows.
fn stream_predictions(
    input: &Path,
    output: &Path,
    predict: impl Fn(&Table) -> esteira_ml::model::Result<Table>,
) -> Result<()> {
    let mut writer = esteira_ml::dataset::TableWriter::create(output)?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} scoring: {pos} rows ({per_sec})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let rows = esteira_ml::dataset::for_each_batch(input, PREDICT_BATCH_ROWS, |batch| {
        writer.write(&predict(&batch)?)?;
        bar.inc(batch.num_rows() as u64);
        anyhow::Ok(())
    });
    bar.finish_and_clear();
    let rows = rows?;
    writer.finish()?;
    println!("{rows} rows written to {}", output.display());
    Ok(())
}

/// The `[metrics]` tables of a gate file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GateFile {
    metrics: BTreeMap<String, GateRule>,
}

/// Scores a model (and a baseline) on actual values, and applies the promotion gate.
/// Returns whether the gate passed (true when there is no gate).
pub async fn evaluate(config: &Config, args: EvaluateArgs) -> Result<bool> {
    let thresholds = match &args.gate {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read gate file {}", path.display()))?;
            let gate: GateFile = toml::from_str(&text)
                .with_context(|| format!("invalid gate file {}", path.display()))?;
            let thresholds = gate
                .metrics
                .into_iter()
                .map(|(name, rule)| {
                    let threshold = rule.into_threshold(&name)?;
                    Ok((name, threshold))
                })
                .collect::<Result<BTreeMap<String, MetricThreshold>>>()?;
            Some(thresholds)
        }
        None => None,
    };
    let candidate = score(config, &args.tracking, &args.model, &args.data).await?;
    let baseline = match &args.baseline {
        Some(uri) => Some(score(config, &args.tracking, uri, &args.data).await?),
        None => None,
    };
    let verdict = match &thresholds {
        Some(t) => Some(gate::evaluate(
            t,
            &candidate.overall,
            baseline.as_ref().map(|b| &b.overall),
        )?),
        None => None,
    };
    if let (Some(path), Some(v)) = (&args.blessing, &verdict) {
        std::fs::write(path, serde_json::to_vec_pretty(v)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(t) = args.tracking.connect(config).await? {
        log_evaluation(&t, &args, &candidate, verdict.as_ref()).await?;
    }
    print_evaluation(&candidate, baseline.as_ref(), verdict.as_ref(), args.json);
    Ok(verdict.is_none_or(|v| v.passed))
}

/// A model's scores on data: the number of scored points (forecast steps or rows), the
/// metrics the gate reads, and the detail for JSON output.
#[derive(serde::Serialize)]
struct Scores {
    points: usize,
    overall: BTreeMap<String, f64>,
    detail: serde_json::Value,
}

async fn score(config: &Config, tracking: &TrackingArgs, uri: &str, data: &Path) -> Result<Scores> {
    let (loaded, _download) = open_model(config, tracking, uri).await?;
    let table = Table::read(data)?;
    match loaded {
        LoadedModel::Forecast(m, _) => {
            let actuals = SeriesSet::from_table(&table, &m.config.format)?;
            let e = m.evaluate(&actuals)?;
            Ok(Scores {
                points: e.points,
                overall: e.overall.clone(),
                detail: json!(e),
            })
        }
        LoadedModel::Tabular(m, manifest) => {
            use esteira_ml::model::tabular as tab;
            let target = manifest.training["target"]
                .as_str()
                .with_context(|| format!("{uri}: the model does not record its target column"))?;
            let names: Vec<String> = m.feature_names().iter().map(|s| s.to_string()).collect();
            let features = tab::features_from_table(&table, &names, "")?;
            let truth = tab::target_from_table(&table, target, m.task())?;
            let overall = tab::score(&m, &features, &truth)?;
            Ok(Scores {
                points: table.num_rows(),
                detail: json!(overall),
                overall,
            })
        }
        LoadedModel::Onnx(_) => bail!(
            "{uri}: evaluate scores Esteira forecast and tabular models; this is an ONNX model"
        ),
    }
}

async fn log_evaluation(
    t: &Tracker,
    args: &EvaluateArgs,
    candidate: &Scores,
    verdict: Option<&Verdict>,
) -> Result<()> {
    let name = args
        .tracking
        .run_name
        .clone()
        .unwrap_or_else(|| format!("evaluate {}", args.model));
    let run = t
        .start_run(
            &args.tracking.experiment,
            &name,
            &[("mlflow.source.name", "esteira evaluate".to_string())],
        )
        .await?;
    let mut params = vec![
        ("model".to_string(), args.model.clone()),
        ("data".to_string(), args.data.display().to_string()),
    ];
    if let Some(b) = &args.baseline {
        params.push(("baseline".to_string(), b.clone()));
    }
    let mut metrics: Vec<(String, f64)> = candidate
        .overall
        .iter()
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    if let Some(v) = verdict {
        metrics.push(("gate_passed".to_string(), if v.passed { 1.0 } else { 0.0 }));
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join("blessing.json"),
            serde_json::to_vec_pretty(v)?,
        )?;
        t.upload_dir(&run, dir.path(), "gate").await?;
    }
    t.log(&run, &params, &metrics).await?;
    t.finish(&run, "FINISHED").await
}

fn print_evaluation(
    candidate: &Scores,
    baseline: Option<&Scores>,
    verdict: Option<&Verdict>,
    as_json: bool,
) {
    if as_json {
        println!(
            "{:#}",
            json!({"candidate": candidate.detail, "baseline": baseline.map(|b| &b.detail), "verdict": verdict})
        );
        return;
    }
    let mut t = TextTable::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_header(["metric", "candidate", "baseline"]);
    for (name, value) in &candidate.overall {
        let b = baseline
            .and_then(|b| b.overall.get(name))
            .map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
        t.add_row([name.clone(), format!("{value:.4}"), b]);
    }
    println!("{} points scored", candidate.points);
    println!("{t}");
    if let Some(v) = verdict {
        let mut g = TextTable::new();
        g.load_preset(UTF8_FULL_CONDENSED).set_header([
            "metric",
            "candidate",
            "baseline",
            "rule",
            "result",
        ]);
        for m in &v.metrics {
            let fmt =
                |x: Option<f64>| x.map_or_else(|| "missing".to_string(), |v| format!("{v:.4}"));
            for r in &m.rules {
                g.add_row([
                    m.metric.clone(),
                    fmt(m.candidate),
                    fmt(m.baseline),
                    r.detail.clone(),
                    if r.passed { "pass" } else { "FAIL" }.to_string(),
                ]);
            }
        }
        println!("{g}");
        println!(
            "gate: {}",
            if v.passed {
                "passed (blessed)"
            } else {
                "failed (not blessed)"
            }
        );
    }
}

/// Rolling-origin backtest of one or more methods; prints pooled metrics per method.
pub fn backtest(args: BacktestArgs) -> Result<()> {
    let set = read_series(&args.data, &args.columns)?;
    let mut results = BTreeMap::new();
    for method in &args.method {
        let config = ForecastConfig {
            format: args.columns.format(),
            method: method.clone(),
            horizon: args.horizon,
            seasons: seasons(&args.season),
        };
        let bar = progress_bar(set.series.len(), &format!("backtest {method}"));
        let result = model::backtest(&set, &config, args.windows, &|| bar.inc(1));
        bar.finish_and_clear();
        results.insert(method.clone(), result?);
    }
    if args.json {
        println!("{:#}", json!(results));
        return Ok(());
    }
    let mut t = TextTable::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header([
        "method",
        "series",
        "skipped",
        "sMAPE",
        "MASE",
        "RMSE",
        "coverage 95%",
    ]);
    for (method, r) in &results {
        t.add_row([
            method.clone(),
            r.series.len().to_string(),
            r.skipped.len().to_string(),
            summary_cell(r.pooled.get("smape")),
            summary_cell(r.pooled.get("mase")),
            summary_cell(r.pooled.get("rmse")),
            summary_cell(r.pooled.get("coverage95")),
        ]);
    }
    println!(
        "{} series, {} windows of {} steps (mean ± std over windows)",
        set.series.len(),
        args.windows,
        args.horizon
    );
    println!("{t}");
    Ok(())
}
