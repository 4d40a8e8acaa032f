//! Error metrics of joined pairs, per window, series and horizon step.
//!
//! With e = predicted − actual over the numeric pairs of a group (n of them):
//!
//! - MAE = mean |e|; RMSE = √(mean e²); bias = mean e (positive: over-prediction);
//! - MAPE = 100 · mean |e| / |actual| over the pairs whose actual is not 0 (those are left
//!   out and counted);
//! - sMAPE = mean 200 · |e| / (|actual| + |predicted|), a term 0/0 counting 0 (M4's
//!   definition, in percent);
//! - MASE = mean |e| / scale(series) over the pairs of series with a scale (see
//!   [`mase_scale`]); for one series, MAE / scale;
//! - accuracy = the share of label pairs whose prediction equals the actual.
//!
//! These are `esteira_ml::metrics`' definitions (`mae`, `rmse`, `bias`, `mape`, `smape`,
//! `mase_with_scale`, `accuracy`), computed here in one pass over the pairs.

use std::collections::{BTreeMap, HashMap};

use esteira_ml::metrics::MetricError;
use serde::{Deserialize, Serialize};

use super::join::{Joined, Outcome, Pair};
use crate::{MonitorError, Result};

/// The time that places a pair in a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowTime {
    /// The time predicted for: the forecast's target time; for tabular predictions, which
    /// have none, the request time. The default.
    #[default]
    Target,
    /// The request time (when the prediction was made).
    Request,
}

/// How [`evaluate`] groups and scales.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsOptions {
    /// The windows' length in milliseconds (> 0). Windows are aligned on the Unix epoch
    /// (`[k·len, (k+1)·len)`), so daily windows are UTC days.
    pub window_ms: i64,
    /// Which time places a pair in a window.
    pub window_time: WindowTime,
    /// The MASE scale of each series (finite, > 0); series without one get no MASE.
    pub mase_scales: HashMap<String, f64>,
}

impl MetricsOptions {
    /// Windows of `window_ms` over the target time, no MASE scales.
    pub fn new(window_ms: i64) -> MetricsOptions {
        MetricsOptions {
            window_ms,
            window_time: WindowTime::Target,
            mase_scales: HashMap::new(),
        }
    }

    fn validate(&self) -> Result<()> {
        if self.window_ms <= 0 {
            return Err(MonitorError::Config {
                field: "window_ms".into(),
                reason: format!("{} is not a positive length", self.window_ms),
            });
        }
        for (series, scale) in &self.mase_scales {
            if !(scale.is_finite() && *scale > 0.0) {
                return Err(MonitorError::Config {
                    field: format!("mase_scales.{series}"),
                    reason: format!("{scale} is not a positive number"),
                });
            }
        }
        Ok(())
    }
}

/// The metrics of a group of pairs; a metric is `None` when no pair allows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Numeric pairs.
    pub count: usize,
    /// Mean absolute error.
    pub mae: Option<f64>,
    /// Root mean squared error.
    pub rmse: Option<f64>,
    /// Mean error, predicted − actual.
    pub bias: Option<f64>,
    /// Mean absolute percentage error, percent, over the non-zero actuals.
    pub mape: Option<f64>,
    /// Numeric pairs left out of MAPE because their actual is 0.
    pub mape_zero_actuals: usize,
    /// Symmetric MAPE (M4), percent.
    pub smape: Option<f64>,
    /// Mean absolute scaled error.
    pub mase: Option<f64>,
    /// Numeric pairs of series without a MASE scale, left out of MASE.
    pub mase_unscaled: usize,
    /// Label pairs.
    pub label_count: usize,
    /// Share of label pairs predicted right.
    pub accuracy: Option<f64>,
}

/// The metrics of one window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowMetrics {
    /// The window's start, milliseconds since the epoch (inclusive).
    pub start_ms: i64,
    /// Its end (exclusive).
    pub end_ms: i64,
    /// Its metrics.
    pub metrics: Metrics,
}

/// Metrics overall, per window, per series and per horizon step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Every pair.
    pub overall: Metrics,
    /// The windows holding pairs, in time order.
    pub windows: Vec<WindowMetrics>,
    /// Per forecast series.
    pub series: BTreeMap<String, Metrics>,
    /// Per forecast horizon step h.
    pub horizons: BTreeMap<u32, Metrics>,
}

/// Sums over a group's pairs.
#[derive(Clone, Debug, Default)]
struct Sums {
    count: usize,
    abs: f64,
    squared: f64,
    error: f64,
    percentage: f64,
    percentage_count: usize,
    symmetric: f64,
    scaled: f64,
    scaled_count: usize,
    labels: usize,
    correct: usize,
}

impl Sums {
    fn add(&mut self, pair: &Pair, scale: Option<f64>) {
        match (&pair.predicted, &pair.actual) {
            (Outcome::Number(f), Outcome::Number(y)) => self.add_number(*f, *y, scale),
            (Outcome::Label(f), Outcome::Label(y)) => {
                self.labels += 1;
                self.correct += usize::from(f == y);
            }
            _ => {}
        }
    }

    fn add_number(&mut self, f: f64, y: f64, scale: Option<f64>) {
        let e = f - y;
        self.count += 1;
        self.abs += e.abs();
        self.squared += e * e;
        self.error += e;
        if y != 0.0 {
            self.percentage += e.abs() / y.abs();
            self.percentage_count += 1;
        }
        let denominator = y.abs() + f.abs();
        if denominator != 0.0 {
            self.symmetric += 200.0 * e.abs() / denominator;
        }
        if let Some(scale) = scale {
            self.scaled += e.abs() / scale;
            self.scaled_count += 1;
        }
    }

    fn metrics(&self) -> Metrics {
        let mean = |sum: f64, n: usize| (n > 0).then(|| sum / n as f64);
        Metrics {
            count: self.count,
            mae: mean(self.abs, self.count),
            rmse: mean(self.squared, self.count).map(f64::sqrt),
            bias: mean(self.error, self.count),
            mape: mean(100.0 * self.percentage, self.percentage_count),
            mape_zero_actuals: self.count - self.percentage_count,
            smape: mean(self.symmetric, self.count),
            mase: mean(self.scaled, self.scaled_count),
            mase_unscaled: self.count - self.scaled_count,
            label_count: self.labels,
            accuracy: mean(self.correct as f64, self.labels),
        }
    }
}

/// The metrics of the joined pairs overall, per window, per series and per horizon step.
///
/// # Errors
/// [`MonitorError::Config`] for a `window_ms` ≤ 0 or a MASE scale that is not a positive
/// number (naming `mase_scales.SERIES`); [`MonitorError::NotComputed`] when there is no
/// pair; [`MonitorError::Input`] when windows go by target time and a forecast's time is a
/// period index, not a date (window by request time then).
pub fn evaluate(joined: &Joined, options: &MetricsOptions) -> Result<Report> {
    options.validate()?;
    if joined.pairs.is_empty() {
        return Err(MonitorError::NotComputed(format!(
            "no prediction has its ground truth ({} ground-truth values without prediction, {} predictions without ground truth)",
            joined.truth_without_prediction, joined.predictions_without_truth
        )));
    }
    let mut overall = Sums::default();
    let mut windows: BTreeMap<i64, Sums> = BTreeMap::new();
    let mut series: BTreeMap<&str, Sums> = BTreeMap::new();
    let mut horizons: BTreeMap<u32, Sums> = BTreeMap::new();
    for pair in &joined.pairs {
        let scale = pair
            .series
            .as_ref()
            .and_then(|s| options.mase_scales.get(s).copied());
        let window = window_time(pair, options.window_time)?.div_euclid(options.window_ms);
        overall.add(pair, scale);
        windows.entry(window).or_default().add(pair, scale);
        if let Some(s) = &pair.series {
            series.entry(s.as_str()).or_default().add(pair, scale);
        }
        if let Some(h) = pair.horizon {
            horizons.entry(h).or_default().add(pair, scale);
        }
    }
    Ok(Report {
        overall: overall.metrics(),
        windows: windows
            .into_iter()
            .map(|(k, sums)| WindowMetrics {
                start_ms: k * options.window_ms,
                end_ms: (k + 1) * options.window_ms,
                metrics: sums.metrics(),
            })
            .collect(),
        series: series
            .into_iter()
            .map(|(k, s)| (k.to_string(), s.metrics()))
            .collect(),
        horizons: horizons
            .into_iter()
            .map(|(k, s)| (k, s.metrics()))
            .collect(),
    })
}

fn window_time(pair: &Pair, by: WindowTime) -> Result<i64> {
    match (by, &pair.time) {
        (WindowTime::Request, _) | (WindowTime::Target, None) => Ok(pair.predicted_at_ms),
        (WindowTime::Target, Some(time)) => pair.time_ms.ok_or_else(|| MonitorError::Input {
            source_name: format!("series {} time", pair.series.as_deref().unwrap_or("")),
            reason: format!(
                "'{time}' is a period, not a date: windows by target time need dates (window by request time)"
            ),
        }),
    }
}

/// The MASE scale of a series: the in-sample mean absolute error of the seasonal naive
/// forecast, mean over t ≥ m of |yₜ − yₜ₋ₘ| (Hyndman & Koehler 2006), m = `season` (1 for
/// the naive forecast). As `esteira_ml::metrics::mase_scale`.
///
/// # Errors
/// [`MonitorError::Config`] for a `season` of 0; [`MonitorError::Input`] naming the position
/// of a NaN or infinite value; [`MonitorError::NotComputed`] for a history of at most
/// `season` values (empty included) or a scale of 0 (no seasonal change at all).
pub fn mase_scale(history: &[f64], season: usize) -> Result<f64> {
    esteira_ml::metrics::mase_scale(history, season).map_err(|e| match e {
        MetricError::InvalidParameter { reason, .. } => MonitorError::Config {
            field: "season".into(),
            reason,
        },
        MetricError::NonFinite { index, value, .. } => MonitorError::Input {
            source_name: "history".into(),
            reason: format!("value at position {index} is {value}"),
        },
        other => MonitorError::NotComputed(format!("MASE scale: {other}")),
    })
}
