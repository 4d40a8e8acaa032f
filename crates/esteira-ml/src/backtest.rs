//! Rolling-origin backtesting (time-series cross-validation with a fixed horizon).
//!
//! A backtest refits a forecasting [`Method`] at several origins near the end of a series and
//! scores each forecast against the values that followed it. With `n` points, horizon `h`
//! and step `s`, window `k` (`k = 0` is the latest) trains on `series[..n - h - k*s]` and is
//! scored on the next `h` points, `series[n - h - k*s .. n - k*s]`. Windows therefore never
//! look at data after their own test block, and window 0 always ends at the last point.
//!
//! # Minimum training length
//!
//! The earliest window (`k = windows - 1`) must leave at least
//! [`BacktestSpec::min_train`] `= max(2 * season, 3)` training points: two full seasons so
//! seasonal methods (and the MASE scale, which needs more than `season` points) have
//! something to work with, and at least 3 points for the non-seasonal methods. A series
//! therefore needs [`BacktestSpec::required_len`] `= horizon + (windows - 1) * step +
//! min_train` points; a shorter one is [`BacktestError::TooShort`] in [`backtest_series`]
//! and is *skipped* (listed in [`BacktestMany::skipped`] with the reason) by
//! [`backtest_many`]. Non-finite values are never skipped: they are an error naming the
//! series, even in a series that would also be too short.
//!
//! # Metrics per window
//!
//! Keys of [`WindowResult::metrics`] (see the `METRIC_*` constants), computed with
//! [`crate::metrics`]:
//!
//! - `smape` (percent, M4 definition), `mae`, `rmse`, `bias` (`mean(f - y)`) — always present;
//! - `mase` — MAE divided by the in-sample seasonal-naive MAE (season `m = spec.season`) of
//!   **that window's training data**;
//! - `wape` — `sum|y - f| / sum|y|` as a fraction;
//! - `coverage80`, `coverage95` — share of actuals inside the 80% / 95% interval, only when
//!   the method returns intervals for that window.
//!
//! Fallback: when a metric is mathematically undefined for a window (MASE with a zero scale,
//! i.e. a training block without seasonal variation such as a constant or perfectly periodic
//! series; WAPE when every actual is 0) it is **left out of that window's map** rather than
//! failing the run or storing `NaN`. [`Summary::n`] says how many windows a summary is over.
//! Any other metric or forecast failure is an error naming the series and the window.
//!
//! # Summaries
//!
//! [`Summary`] holds the mean, the **sample** standard deviation (divisor `n - 1`; 0 for a
//! single value), min and max of one metric over windows. [`Backtest::summary`] is over the
//! windows of one series; [`BacktestMany::pooled`] is over every window of every backtested
//! (non-skipped) series, each window weighted equally — not the mean of per-series means.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::forecast::{Forecast, ForecastError, Method};
use crate::metrics::{self, MetricError};

/// Key of the symmetric MAPE (percent) in a window's metrics.
pub const METRIC_SMAPE: &str = "smape";
/// Key of the mean absolute scaled error.
pub const METRIC_MASE: &str = "mase";
/// Key of the mean absolute error.
pub const METRIC_MAE: &str = "mae";
/// Key of the root mean squared error.
pub const METRIC_RMSE: &str = "rmse";
/// Key of the weighted absolute percentage error (fraction).
pub const METRIC_WAPE: &str = "wape";
/// Key of the mean bias `mean(forecast - actual)`.
pub const METRIC_BIAS: &str = "bias";
/// Key of the 80% interval coverage (fraction).
pub const METRIC_COVERAGE80: &str = "coverage80";
/// Key of the 95% interval coverage (fraction).
pub const METRIC_COVERAGE95: &str = "coverage95";

/// Name used for the series in errors raised by [`backtest_series`], which takes no name.
pub const UNNAMED_SERIES: &str = "<series>";

/// Why a backtest could not run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum BacktestError {
    /// A [`BacktestSpec`] field is out of its domain.
    #[error("invalid backtest spec: `{field}` {reason}")]
    InvalidSpec { field: &'static str, reason: String },
    /// The series has too few points for the requested windows.
    #[error(
        "series `{series}` is too short: {len} points, needs at least {needed} \
         (horizon + (windows - 1) * step + min_train)"
    )]
    TooShort {
        series: String,
        len: usize,
        needed: usize,
    },
    /// The series holds NaN or an infinity.
    #[error("series `{series}` holds a non-finite value ({value}) at index {index}")]
    NonFinite {
        series: String,
        index: usize,
        value: f64,
    },
    /// The forecasting method failed on one window.
    #[error("series `{series}`, window {window}: forecast failed: {source}")]
    Forecast {
        series: String,
        window: usize,
        #[source]
        source: ForecastError,
    },
    /// A metric failed on one window for a reason other than being undefined (e.g. the
    /// method returned a non-finite forecast).
    #[error("series `{series}`, window {window}: metric `{metric}` failed: {source}")]
    Metric {
        series: String,
        window: usize,
        metric: &'static str,
        #[source]
        source: MetricError,
    },
}

/// Where and how often to cut a series. See the module docs for the window layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BacktestSpec {
    /// Points forecast and scored per window (≥ 1).
    pub horizon: usize,
    /// Number of windows (≥ 1).
    pub windows: usize,
    /// Distance between consecutive origins (≥ 1; `step < horizon` gives overlapping test
    /// blocks, `step == horizon` adjacent ones).
    pub step: usize,
    /// Seasonal period passed to the method and used for the MASE scale (≥ 1; 1 = none).
    pub season: usize,
}

impl BacktestSpec {
    /// Checks every field is at least 1.
    ///
    /// Errors: [`BacktestError::InvalidSpec`] naming the first offending field.
    pub fn validate(&self) -> Result<(), BacktestError> {
        for (field, value) in [
            ("horizon", self.horizon),
            ("windows", self.windows),
            ("step", self.step),
            ("season", self.season),
        ] {
            if value == 0 {
                return Err(BacktestError::InvalidSpec {
                    field,
                    reason: "must be at least 1".into(),
                });
            }
        }
        Ok(())
    }

    /// Training points the earliest window must have: `max(2 * season, 3)`.
    pub fn min_train(&self) -> usize {
        self.season.saturating_mul(2).max(3)
    }

    /// Shortest series this spec can backtest:
    /// `horizon + (windows - 1) * step + min_train` (saturating).
    pub fn required_len(&self) -> usize {
        self.horizon
            .saturating_add(self.windows.saturating_sub(1).saturating_mul(self.step))
            .saturating_add(self.min_train())
    }
}

/// Mean, spread and range of one metric over windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values summarised.
    pub n: usize,
    pub mean: f64,
    /// Sample standard deviation (divisor `n - 1`); 0 when `n == 1`.
    pub std: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// Summary of `values`, or `None` if there are none. Two-pass (mean, then squared
    /// deviations from it), so a large common offset does not cancel the spread.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n == 1 {
            0.0
        } else {
            let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
            (ss / (n - 1) as f64).sqrt()
        };
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Summary {
            n,
            mean,
            std,
            min,
            max,
        })
    }
}

/// One rolling-origin window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult {
    /// Window number `k`; 0 is the latest.
    pub window: usize,
    /// Forecast origin: index of the last training point (`train_len - 1`). The scored
    /// points are `series[origin + 1 ..= origin + horizon]`.
    pub origin: usize,
    /// Training points, `series[..train_len]`.
    pub train_len: usize,
    /// Metric name → value; undefined metrics are absent (see the module docs).
    pub metrics: BTreeMap<String, f64>,
}

/// The backtest of one series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// Windows ordered by `window` (latest first).
    pub windows: Vec<WindowResult>,
    /// Metric name → summary over the windows where the metric is defined.
    pub summary: BTreeMap<String, Summary>,
}

/// One backtested series of [`backtest_many`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesBacktest {
    pub name: String,
    pub backtest: Backtest,
}

/// The backtest of many series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestMany {
    /// Backtested series, in input order.
    pub series: Vec<SeriesBacktest>,
    /// Series left out because they are too short: `(name, reason)`, in input order.
    pub skipped: Vec<(String, String)>,
    /// Metric name → summary over every window of every backtested series.
    pub pooled: BTreeMap<String, Summary>,
}

/// Backtests one series. Errors name the series [`UNNAMED_SERIES`].
///
/// Errors: [`BacktestError::InvalidSpec`], [`BacktestError::NonFinite`],
/// [`BacktestError::TooShort`] (fewer than [`BacktestSpec::required_len`] points), and
/// [`BacktestError::Forecast`] / [`BacktestError::Metric`] from a window.
pub fn backtest_series(
    series: &[f64],
    method: Method,
    spec: BacktestSpec,
) -> Result<Backtest, BacktestError> {
    spec.validate()?;
    check_series(UNNAMED_SERIES, series, &spec)?;
    run(
        UNNAMED_SERIES,
        series,
        &|train, h| method.forecast(train, h, spec.season),
        &spec,
    )
}

/// A forecaster for [`backtest_with`]: `forecaster(train, h)` forecasts `h` steps after `train`.
pub type Forecaster<'a> = dyn Fn(&[f64], usize) -> Result<Forecast, ForecastError> + Sync + 'a;

/// Backtests one named series with any forecaster: `forecaster(train, h)` returns the
/// forecast of `h` steps after `train`. Same windows, metrics and errors as
/// [`backtest_series`], with errors naming `name`.
pub fn backtest_with(
    name: &str,
    series: &[f64],
    spec: BacktestSpec,
    forecaster: &Forecaster<'_>,
) -> Result<Backtest, BacktestError> {
    spec.validate()?;
    check_series(name, series, &spec)?;
    run(name, series, forecaster, &spec)
}

/// Backtests every `(name, values)` series with the same method and spec.
///
/// Too-short series (including empty ones) are skipped with their reason instead of
/// failing the run; if every series is skipped the result has no series and an empty
/// pooled summary.
///
/// Errors: [`BacktestError::InvalidSpec`]; [`BacktestError::NonFinite`] naming the first
/// series holding NaN or an infinity; a window's [`BacktestError::Forecast`] or
/// [`BacktestError::Metric`] naming its series.
pub fn backtest_many(
    series: &[(String, Vec<f64>)],
    method: Method,
    spec: BacktestSpec,
) -> Result<BacktestMany, BacktestError> {
    spec.validate()?;
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let mut pooled_values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (name, values) in series {
        match check_series(name, values, &spec) {
            Ok(()) => {}
            Err(e @ BacktestError::TooShort { .. }) => {
                skipped.push((name.clone(), e.to_string()));
                continue;
            }
            Err(e) => return Err(e),
        }
        let backtest = run(
            name,
            values,
            &|train, h| method.forecast(train, h, spec.season),
            &spec,
        )?;
        for w in &backtest.windows {
            for (k, v) in &w.metrics {
                pooled_values.entry(k.clone()).or_default().push(*v);
            }
        }
        out.push(SeriesBacktest {
            name: name.clone(),
            backtest,
        });
    }
    Ok(BacktestMany {
        series: out,
        skipped,
        pooled: summarise(pooled_values),
    })
}

/// Finite values first (an invalid value is an error even in a short series), then length.
fn check_series(name: &str, series: &[f64], spec: &BacktestSpec) -> Result<(), BacktestError> {
    if let Some(index) = series.iter().position(|v| !v.is_finite()) {
        return Err(BacktestError::NonFinite {
            series: name.to_string(),
            index,
            value: series[index],
        });
    }
    let needed = spec.required_len();
    if series.len() < needed {
        return Err(BacktestError::TooShort {
            series: name.to_string(),
            len: series.len(),
            needed,
        });
    }
    Ok(())
}

fn summarise(values: BTreeMap<String, Vec<f64>>) -> BTreeMap<String, Summary> {
    values
        .into_iter()
        .filter_map(|(k, vs)| Summary::of(&vs).map(|s| (k, s)))
        .collect()
}

/// Runs every window of an already validated series.
fn run(
    name: &str,
    series: &[f64],
    forecaster: &Forecaster<'_>,
    spec: &BacktestSpec,
) -> Result<Backtest, BacktestError> {
    let n = series.len();
    let mut windows = Vec::with_capacity(spec.windows);
    let mut values: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for k in 0..spec.windows {
        // required_len() <= n guarantees no underflow and train_len >= min_train.
        let train_len = n - spec.horizon - k * spec.step;
        let train = &series[..train_len];
        let actual = &series[train_len..train_len + spec.horizon];
        let metrics = score_window(name, k, train, actual, forecaster, spec)?;
        for (key, v) in &metrics {
            values.entry(key.clone()).or_default().push(*v);
        }
        windows.push(WindowResult {
            window: k,
            origin: train_len - 1,
            train_len,
            metrics,
        });
    }
    Ok(Backtest {
        windows,
        summary: summarise(values),
    })
}

fn score_window(
    name: &str,
    window: usize,
    train: &[f64],
    actual: &[f64],
    forecaster: &Forecaster<'_>,
    spec: &BacktestSpec,
) -> Result<BTreeMap<String, f64>, BacktestError> {
    let fc = forecaster(train, spec.horizon).map_err(|source| BacktestError::Forecast {
        series: name.to_string(),
        window,
        source,
    })?;
    let f = &fc.mean;
    let mut out = BTreeMap::new();
    // Stores a metric; an undefined metric is left out, any other failure is an error.
    let mut put = |metric: &'static str, r: Result<f64, MetricError>| match r {
        Ok(v) => {
            out.insert(metric.to_string(), v);
            Ok(())
        }
        Err(MetricError::Undefined { .. }) => Ok(()),
        Err(source) => Err(BacktestError::Metric {
            series: name.to_string(),
            window,
            metric,
            source,
        }),
    };
    put(METRIC_SMAPE, metrics::smape(actual, f))?;
    put(METRIC_MAE, metrics::mae(actual, f))?;
    put(METRIC_RMSE, metrics::rmse(actual, f))?;
    put(METRIC_BIAS, metrics::bias(actual, f))?;
    put(METRIC_WAPE, metrics::wape(actual, f))?;
    put(
        METRIC_MASE,
        metrics::mase_scale(train, spec.season)
            .and_then(|s| metrics::mase_with_scale(actual, f, s)),
    )?;
    if let (Some(lo), Some(hi)) = (&fc.lower80, &fc.upper80) {
        put(
            METRIC_COVERAGE80,
            metrics::interval_coverage(actual, lo, hi),
        )?;
    }
    if let (Some(lo), Some(hi)) = (&fc.lower95, &fc.upper95) {
        put(
            METRIC_COVERAGE95,
            metrics::interval_coverage(actual, lo, hi),
        )?;
    }
    Ok(out)
}
