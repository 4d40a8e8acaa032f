//! One monitor window: drift against the reference, performance against its band, the
//! sequential detectors, and the alerts; and the state a monitor carries between windows.
//!
//! Performance of a window is measured on the ground truth received in it (paired with
//! the predictions made in the window and up to `label_delay` before it), so a delayed
//! label counts in the window it arrived in. The band comes from the spec's `values`, or from the watched
//! metric in the first `reference_windows` windows that have one (those windows make the
//! band and are not judged). The detectors read the residuals (actual − predicted) in
//! order of arrival; their state carries over to the next window.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use esteira_ml::dataset::{Table, for_each_batch};
use serde::{Deserialize, Serialize};

use crate::dataset::{
    BatchSource, ColumnSource, DatasetDrift, DriftOptions, dataset_drift, open_source,
};
use crate::detect::{
    Adwin, AdwinParams, ChangeDetector, Cusum, CusumParams, PageHinkley, PageHinkleyParams,
};
use crate::drift::Method;
use crate::error::{MonitorError, Result};
use crate::performance::{
    AlarmBand, BandVerdict, Joined, Metrics, MetricsOptions, Outcome, Pair,
    evaluate as evaluate_metrics, join,
};
use crate::policy::{MetricValue, WindowSummary};
use crate::profile::{ColumnProfile, DatasetProfile, ProfileBuilder};
use crate::source::{WindowData, matching_files, read_files};
use crate::spec::{DriftSpec, MonitorSpec, PerformanceSpec};

/// What a monitor carries from one window to the next.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorState {
    /// The latest window end evaluated.
    pub cursor: Option<i64>,
    /// The watched metric in the first windows, until they make the band.
    #[serde(default)]
    pub band_values: Vec<f64>,
    /// The detectors, parameters and state, by name (JSON as each serialises).
    #[serde(default)]
    pub detectors: BTreeMap<String, serde_json::Value>,
    /// The drift reference's profile, computed at the first window and kept.
    #[serde(default)]
    pub reference_profile: Option<DatasetProfile>,
}

/// The report of one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowReport {
    /// The monitor.
    pub monitor: String,
    /// The window's start, milliseconds since the epoch (inclusive).
    pub window_start: i64,
    /// The window's end (exclusive).
    pub window_end: i64,
    /// The monitored rows in the window.
    pub rows: u64,
    /// What could not be read, with the reason.
    #[serde(default)]
    pub skipped: Vec<String>,
    /// Drift per column and for the dataset.
    pub drift: Option<DatasetDrift>,
    /// Per compared column, a summary of the reference's profile beside the window's.
    #[serde(default)]
    pub profiles: Vec<ColumnSummary>,
    /// Why drift was not computed at all (no rows in the window, ...).
    pub drift_not_computed: Option<String>,
    /// Performance against its band.
    pub performance: Option<PerformanceReport>,
    /// The alerts raised, for people.
    #[serde(default)]
    pub alerts: Vec<String>,
    /// What the policies read.
    pub summary: WindowSummary,
}

/// A column's reference and window summaries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnSummary {
    /// The column.
    pub column: String,
    /// The reference's summary.
    pub reference: Option<ProfileSummary>,
    /// The window's summary.
    pub current: Option<ProfileSummary>,
}

/// The few numbers of a column profile a report shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileSummary {
    /// Values, nulls included.
    pub count: u64,
    /// Nulls (and NaN).
    pub nulls: u64,
    /// Numeric: the mean.
    pub mean: Option<f64>,
    /// Numeric: the standard deviation.
    pub std_dev: Option<f64>,
    /// Numeric: the 5th, 50th and 95th percentiles (from the quantile sketch).
    pub quantiles: Option<[f64; 3]>,
    /// Categorical: the five most frequent categories and their shares.
    #[serde(default)]
    pub top: Vec<(String, f64)>,
}

impl ProfileSummary {
    fn of(profile: &ColumnProfile) -> Option<ProfileSummary> {
        let nulls = profile.nulls();
        if let Some(n) = profile.as_numeric() {
            let q = |p: f64| n.quantile(p).ok().flatten();
            let quantiles = match (q(0.05), q(0.5), q(0.95)) {
                (Some(a), Some(b), Some(c)) => Some([a, b, c]),
                _ => None,
            };
            return Some(ProfileSummary {
                count: n.count,
                nulls,
                mean: n.mean(),
                std_dev: n.std_dev(),
                quantiles,
                top: Vec::new(),
            });
        }
        profile.as_categorical().map(|c| ProfileSummary {
            count: c.count,
            nulls,
            mean: None,
            std_dev: None,
            quantiles: None,
            top: c
                .top_categories(5)
                .into_iter()
                .map(|t| (t.value, t.share))
                .collect(),
        })
    }
}

/// Performance of one window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PerformanceReport {
    /// The watched metric.
    pub metric: String,
    /// Its value, when computed.
    pub value: Option<f64>,
    /// Why it was not computed.
    pub not_computed: Option<String>,
    /// Every metric over the window's pairs.
    pub overall: Option<serde_json::Value>,
    /// The watched metric per forecast series (at most [`MAX_SERIES_IN_REPORT`], the worst).
    #[serde(default)]
    pub per_series: BTreeMap<String, f64>,
    /// The watched metric per horizon step.
    #[serde(default)]
    pub per_horizon: BTreeMap<u32, f64>,
    /// Predictions paired with their ground truth.
    pub pairs: usize,
    /// Ground truth without a prediction, and predictions still without ground truth.
    pub unmatched: (usize, usize),
    /// The band, once known.
    pub band: Option<AlarmBand>,
    /// Where the value lies against the band (none while the band is being made).
    pub verdict: Option<BandVerdict>,
    /// For each detector, whether it fired in the window.
    #[serde(default)]
    pub detectors: BTreeMap<String, bool>,
}

/// How many series the report keeps per window.
pub const MAX_SERIES_IN_REPORT: usize = 50;

/// Evaluates the window `[start, end)` of `spec` on `data`, updating `state` (band values,
/// detectors; not the cursor).
///
/// # Errors
/// [`MonitorError::Input`] when the reference cannot be read; a detector state that cannot
/// be restored. Data problems of the window itself are reported in the report, not as
/// errors.
pub async fn evaluate(
    spec: &MonitorSpec,
    state: &mut MonitorState,
    data: WindowData,
    start: i64,
    end: i64,
) -> Result<WindowReport> {
    let rows = data.rows.as_ref().map_or(0, |t| t.num_rows() as u64);
    let mut report = WindowReport {
        monitor: spec.name.clone(),
        window_start: start,
        window_end: end,
        rows,
        skipped: data.skipped.clone(),
        drift: None,
        profiles: Vec::new(),
        drift_not_computed: None,
        performance: None,
        alerts: Vec::new(),
        summary: WindowSummary {
            window_end: end,
            ..WindowSummary::default()
        },
    };
    if let Some(drift) = &spec.drift {
        match drift_of(spec, drift, data.rows.clone()).await {
            Ok(d) => report.drift = Some(d),
            Err(MonitorError::NotComputed(why)) => report.drift_not_computed = Some(why),
            Err(e) => return Err(e),
        }
        if let Some(d) = &report.drift {
            report.profiles = profiles(drift, state, data.rows.as_ref(), d).await?;
        }
    }
    if let Some(p) = &spec.performance {
        report.performance = Some(performance_of(spec, p, state, &data)?);
    }
    summarise(&mut report);
    Ok(report)
}

async fn drift_of(
    spec: &MonitorSpec,
    drift: &DriftSpec,
    rows: Option<Table>,
) -> Result<DatasetDrift> {
    let Some(current) = rows.filter(|t| t.num_rows() > 0) else {
        return Err(MonitorError::NotComputed(
            "the window has no rows (for an endpoint: no logged request inputs)".into(),
        ));
    };
    let options = drift_options(spec, drift, &current)?;
    let reference = drift.reference.clone();
    tokio::task::spawn_blocking(move || {
        let reference = reference_source(&reference)?;
        let batch = current.batch().clone();
        let current = BatchSource::new("the window", batch.schema(), vec![batch])?;
        dataset_drift(reference.as_ref(), &current, &options)
    })
    .await
    .map_err(|e| MonitorError::Input {
        source_name: spec.name.clone(),
        reason: format!("drift stopped: {e}"),
    })?
}

/// The reference's summaries (its profile computed once, then kept in the state) beside
/// the window's, for the columns compared.
async fn profiles(
    drift: &DriftSpec,
    state: &mut MonitorState,
    rows: Option<&Table>,
    compared: &DatasetDrift,
) -> Result<Vec<ColumnSummary>> {
    if state.reference_profile.is_none() {
        let pattern = drift.reference.clone();
        let profile = tokio::task::spawn_blocking(move || profile_files(&pattern))
            .await
            .map_err(|e| MonitorError::Input {
                source_name: drift.reference.clone(),
                reason: format!("profiling stopped: {e}"),
            })??;
        state.reference_profile = Some(profile);
    }
    let current = match rows {
        Some(table) => {
            let mut builder = ProfileBuilder::new(table.schema().as_ref())?;
            builder.update(table.batch())?;
            Some(builder.finish())
        }
        None => None,
    };
    let summary = |p: Option<&DatasetProfile>, column: &str| {
        p.and_then(|p| p.columns.get(column))
            .and_then(ProfileSummary::of)
    };
    Ok(compared
        .columns
        .iter()
        .map(|c| ColumnSummary {
            column: c.column.clone(),
            reference: summary(state.reference_profile.as_ref(), &c.column),
            current: summary(current.as_ref(), &c.column),
        })
        .collect())
}

/// The profile of every file matching `pattern`, read batch by batch and merged.
fn profile_files(pattern: &str) -> Result<DatasetProfile> {
    let mut merged: Option<DatasetProfile> = None;
    for path in matching_files(pattern)? {
        let mut builder: Option<ProfileBuilder> = None;
        for_each_batch(&path, 65_536, |table: Table| -> Result<()> {
            let b = match &mut builder {
                Some(b) => b,
                None => builder.insert(ProfileBuilder::new(table.schema().as_ref())?),
            };
            b.update(table.batch())
        })?;
        if let Some(profile) = builder.map(ProfileBuilder::finish) {
            match &mut merged {
                Some(m) => m.merge(&profile)?,
                None => merged = Some(profile),
            }
        }
    }
    merged.ok_or_else(|| MonitorError::Input {
        source_name: pattern.to_string(),
        reason: "the reference has no rows".into(),
    })
}

/// The reference as a column source: one file read column by column, or several files
/// read into memory.
fn reference_source(pattern: &str) -> Result<Box<dyn ColumnSource>> {
    let files = matching_files(pattern)?;
    if let [one] = files.as_slice() {
        return open_source(Path::new(one));
    }
    let table = read_files(pattern)?;
    let batch = table.batch().clone();
    Ok(Box::new(BatchSource::new(
        pattern,
        batch.schema(),
        vec![batch],
    )?))
}

fn drift_options(spec: &MonitorSpec, drift: &DriftSpec, current: &Table) -> Result<DriftOptions> {
    let methods = drift
        .methods
        .iter()
        .map(|(column, name)| {
            name.parse::<Method>()
                .map(|m| (column.clone(), m))
                .map_err(|e| match e {
                    MonitorError::Config { reason, .. } => MonitorError::Config {
                        field: format!("monitor '{}'.drift.methods.{column}", spec.name),
                        reason,
                    },
                    other => other,
                })
        })
        .collect::<Result<HashMap<_, _>>>()?;
    let columns = match &drift.columns {
        Some(c) => Some(c.clone()),
        None => Some(default_columns(spec, drift, current)?),
    };
    Ok(DriftOptions {
        columns,
        methods,
        thresholds: drift.thresholds.clone().into_iter().collect(),
        drift_share: drift.drift_share.unwrap_or(0.5),
        ..DriftOptions::default()
    })
}

/// Without `columns`: the reference's columns, except the time column; for an endpoint,
/// only those the requests send (the reference usually holds the target too).
fn default_columns(spec: &MonitorSpec, drift: &DriftSpec, current: &Table) -> Result<Vec<String>> {
    let reference = reference_source(&drift.reference)?;
    let sent = current.column_names();
    Ok(reference
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|name| Some(name.as_str()) != spec.time_column.as_deref())
        .filter(|name| spec.endpoint.is_none() || sent.contains(name))
        .collect())
}

fn performance_of(
    spec: &MonitorSpec,
    p: &PerformanceSpec,
    state: &mut MonitorState,
    data: &WindowData,
) -> Result<PerformanceReport> {
    let joined = match (&p.prediction_column, &p.target_column, &data.rows) {
        (Some(predicted), Some(actual), Some(rows)) if spec.endpoint.is_none() => {
            pairs_of_rows(rows, predicted, actual)?
        }
        _ => join(&data.predictions, &data.truth),
    };
    let mut report = PerformanceReport {
        metric: p.metric.clone(),
        value: None,
        not_computed: None,
        overall: None,
        per_series: BTreeMap::new(),
        per_horizon: BTreeMap::new(),
        pairs: joined.pairs.len(),
        unmatched: (
            joined.truth_without_prediction,
            joined.predictions_without_truth,
        ),
        band: None,
        verdict: None,
        detectors: BTreeMap::new(),
    };
    run_detectors(p, state, &joined.residuals(), &mut report)?;
    let length = spec.window_ms()?;
    let metrics = match evaluate_metrics(&joined, &MetricsOptions::new(length)) {
        Ok(m) => m,
        Err(MonitorError::NotComputed(why)) => {
            report.not_computed = Some(why);
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    report.overall = serde_json::to_value(&metrics.overall).ok();
    report.value = metric_value(&metrics.overall, &p.metric);
    report.per_horizon = metrics
        .horizons
        .iter()
        .filter_map(|(h, m)| metric_value(m, &p.metric).map(|v| (*h, v)))
        .collect();
    report.per_series = worst_series(&metrics.series, &p.metric);
    let Some(value) = report.value else {
        report.not_computed = Some(format!("no pair allows {}", p.metric));
        return Ok(report);
    };
    judge(p, state, value, &mut report)?;
    Ok(report)
}

/// The pairs of a files or query monitor: each row's `predicted` and `actual` columns,
/// compared as numbers when both are numeric, else as labels; rows where either is null
/// are counted as predictions without ground truth.
///
/// # Errors
/// [`MonitorError::Input`] naming a column that is missing.
fn pairs_of_rows(rows: &Table, predicted: &str, actual: &str) -> Result<Joined> {
    let values = |column: &str| -> Result<Vec<Option<Outcome>>> {
        let missing = |e: esteira_ml::dataset::DatasetError| MonitorError::Input {
            source_name: column.to_string(),
            reason: e.to_string(),
        };
        let array = rows.column(column).map_err(missing)?;
        if array.data_type().is_numeric() {
            Ok(rows
                .f64_column(column)
                .map_err(missing)?
                .into_iter()
                .map(|v| v.filter(|v| v.is_finite()).map(Outcome::Number))
                .collect())
        } else {
            Ok(rows
                .string_column(column)
                .map_err(missing)?
                .into_iter()
                .map(|v| v.map(Outcome::Label))
                .collect())
        }
    };
    let (predictions, actuals) = (values(predicted)?, values(actual)?);
    let mut joined = Joined::default();
    for (row, (p, a)) in predictions.into_iter().zip(actuals).enumerate() {
        match (p, a) {
            (Some(predicted), Some(actual)) => joined.pairs.push(Pair {
                request_id: format!("row {row}"),
                version: String::new(),
                predicted_at_ms: 0,
                row: Some(row),
                series: None,
                time: None,
                time_ms: None,
                horizon: None,
                predicted,
                actual,
            }),
            _ => joined.predictions_without_truth += 1,
        }
    }
    Ok(joined)
}

fn judge(
    p: &PerformanceSpec,
    state: &mut MonitorState,
    value: f64,
    report: &mut PerformanceReport,
) -> Result<()> {
    let reference: Vec<f64> = match &p.band.values {
        Some(values) => values.clone(),
        None if state.band_values.len() < p.band.reference_windows => {
            state.band_values.push(value);
            return Ok(());
        }
        None => state.band_values.clone(),
    };
    match AlarmBand::from_values(&reference, p.band.k) {
        Ok(band) => {
            report.verdict = Some(band.check(value)?);
            report.band = Some(band);
        }
        Err(MonitorError::NotComputed(why)) => report.not_computed = Some(format!("band: {why}")),
        Err(e) => return Err(e),
    }
    Ok(())
}

fn metric_value(m: &Metrics, name: &str) -> Option<f64> {
    match name {
        "mae" => m.mae,
        "rmse" => m.rmse,
        "mape" => m.mape,
        "smape" => m.smape,
        "bias" => m.bias,
        "accuracy" => m.accuracy,
        _ => None,
    }
}

fn worst_series(series: &BTreeMap<String, Metrics>, metric: &str) -> BTreeMap<String, f64> {
    let mut values: Vec<(String, f64)> = series
        .iter()
        .filter_map(|(s, m)| metric_value(m, metric).map(|v| (s.clone(), v)))
        .collect();
    values.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    values.into_iter().take(MAX_SERIES_IN_REPORT).collect()
}

/// Feeds the residuals to each detector (restored from the state, or new), records
/// whether it fired, and saves its state back.
fn run_detectors(
    p: &PerformanceSpec,
    state: &mut MonitorState,
    residuals: &[f64],
    report: &mut PerformanceReport,
) -> Result<()> {
    for name in &p.detectors {
        let mut detector = restore_detector(name, state.detectors.get(name), residuals)?;
        let Some(detector) = detector.as_mut() else {
            continue;
        };
        let mut fired = false;
        for r in residuals {
            fired |= detector.update(*r)?;
        }
        report.detectors.insert(name.clone(), fired);
        state.detectors.insert(name.clone(), detector.to_json()?);
    }
    Ok(())
}

/// A detector the monitor can store.
trait StoredDetector: ChangeDetector {
    fn to_json(&self) -> Result<serde_json::Value>;
}

impl<T: ChangeDetector + Serialize> StoredDetector for T {
    fn to_json(&self) -> Result<serde_json::Value> {
        serde_json::to_value(self).map_err(|e| MonitorError::Input {
            source_name: "detector".into(),
            reason: e.to_string(),
        })
    }
}

/// The detector `name` from its stored JSON, or a new one. A new CUSUM is centred on 0
/// with σ the standard deviation of its first window's residuals, so it waits for a window
/// with at least 2 residuals (`None` until then).
fn restore_detector(
    name: &str,
    stored: Option<&serde_json::Value>,
    residuals: &[f64],
) -> Result<Option<Box<dyn StoredDetector>>> {
    let broken = |e: serde_json::Error| MonitorError::Input {
        source_name: format!("detector {name}"),
        reason: format!("its stored state cannot be read: {e}"),
    };
    let detector: Box<dyn StoredDetector> = match (name, stored) {
        ("cusum", Some(v)) => Box::new(serde_json::from_value::<Cusum>(v.clone()).map_err(broken)?),
        ("page_hinkley", Some(v)) => {
            Box::new(serde_json::from_value::<PageHinkley>(v.clone()).map_err(broken)?)
        }
        ("adwin", Some(v)) => Box::new(serde_json::from_value::<Adwin>(v.clone()).map_err(broken)?),
        ("cusum", None) => {
            let Some(sigma) = sample_std(residuals).filter(|s| *s > 0.0) else {
                return Ok(None);
            };
            Box::new(Cusum::new(CusumParams::new(0.0, sigma))?)
        }
        ("page_hinkley", None) => Box::new(PageHinkley::new(PageHinkleyParams::default())?),
        ("adwin", None) => Box::new(Adwin::new(AdwinParams::default())?),
        (other, _) => {
            return Err(MonitorError::Config {
                field: "performance.detectors".into(),
                reason: format!("unknown detector {other:?}"),
            });
        }
    };
    Ok(Some(detector))
}

fn sample_std(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    Some((ss / (n - 1.0)).sqrt())
}

/// Whether a value on that side of the band means the model got worse: above for error
/// metrics, below for accuracy, either side for bias.
fn is_worse(metric: &str, verdict: BandVerdict) -> bool {
    match (metric, verdict) {
        (_, BandVerdict::Inside) => false,
        ("accuracy", v) => v == BandVerdict::Below,
        ("bias", _) => true,
        (_, v) => v == BandVerdict::Above,
    }
}

/// Fills the alerts and the summary the policies read.
fn summarise(report: &mut WindowReport) {
    let mut alerts = Vec::new();
    let summary = &mut report.summary;
    if let Some(d) = &report.drift {
        summary.drift = d.dataset_drift;
        summary.drift_share = d.share;
        if d.dataset_drift == Some(true) {
            let drifted: Vec<&str> = d
                .columns
                .iter()
                .filter(|c| c.drifted == Some(true))
                .map(|c| c.column.as_str())
                .collect();
            alerts.push(format!(
                "dataset drift: {} of {} columns drifted ({})",
                d.drifted_count,
                d.computed_count,
                drifted.join(", ")
            ));
        }
    }
    if let Some(p) = &report.performance {
        if let Some(value) = p.value {
            summary.metric = Some(MetricValue {
                name: p.metric.clone(),
                value,
                band_lower: p.band.as_ref().map(|b| b.lower),
                band_upper: p.band.as_ref().map(|b| b.upper),
            });
        }
        if let (Some(verdict), Some(band), Some(value)) = (p.verdict, &p.band, p.value)
            && is_worse(&p.metric, verdict)
        {
            alerts.push(format!(
                "{} {:.4} is outside its band [{:.4}, {:.4}]",
                p.metric, value, band.lower, band.upper
            ));
        }
        for (name, fired) in &p.detectors {
            if *fired {
                summary.detectors_fired.push(name.clone());
                alerts.push(format!("detector {name} found a change in the residuals"));
            }
        }
    }
    summary.alarm = !alerts.is_empty();
    report.alerts = alerts;
}
