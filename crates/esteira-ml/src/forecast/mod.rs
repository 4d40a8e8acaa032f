//! Forecasting baselines over one series: the M4 competition's statistical benchmarks.
//!
//! Every method takes a history (`&[f64]`, oldest first), a horizon `h` and a seasonal period
//! `m` (1 = non-seasonal) and returns a [`Forecast`] of `h` point forecasts plus, where the
//! method defines them, 80% and 95% prediction intervals.
//!
//! `naive2`, `ses`, `holt`, `damped` and `theta` follow the M4 benchmarks: the series is first
//! seasonally adjusted by classical multiplicative decomposition when the 90% autocorrelation
//! test at lag `m` says it is seasonal (see [`seasonality_test`]), the method forecasts the
//! adjusted series, and the forecasts are re-seasonalised with the last cycle of indices.
//!
//! Beyond the M4 benchmarks: [`Method::Mstl`] (MSTL decomposition over several periods, see
//! [`mstl()`] and [`stl()`]) and [`Method::Auto`] (the automatic ensemble of [`ensemble`]).
//! [`fit`] / [`fit_many`] return a [`FittedSeries`] that can be stored and forecast later.

mod autoets;
mod decompose;
pub mod ensemble;
mod ets;
mod fitted;
pub mod m4;
mod mstl;
mod optim;
mod seasonality;
mod stl;

pub use autoets::{
    AutoEtsOptions, Criterion, ErrorType, EtsError, EtsModel, EtsSpec, Fallback, SeasonType,
    TrendType, admissible, auto_ets, fit_ets_model,
};
pub use decompose::{SeasonalAdjustment, acf, seasonal_adjust, seasonality_test};
pub use ensemble::{Component, ComponentScore, EnsembleRule, Selection, Weighting, fit_auto};
pub use ets::{EtsFit, Optimizer, Trend, fit_ets, fit_ets_with};
pub use fitted::{FittedSeries, MSTL_DEFAULT, NonSeasonal, fit, fit_many, fit_mstl};
pub use mstl::{MSTL_ITERATIONS, Mstl, mstl};
pub use seasonality::{
    Frequency, MIN_STRENGTH, PeriodTest, SeasonalityError, candidate_periods, detect_seasonality,
    test_periods,
};
pub use stl::{Stl, StlParams, stl};

/// Standard normal quantile for a two-sided 80% interval.
pub const Z80: f64 = 1.281_551_565_544_600_4;
/// Standard normal quantile for a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Errors of the forecasting functions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    #[error("history is empty")]
    EmptyHistory,
    #[error("history value at position {position} is not finite ({value})")]
    NonFinite { position: usize, value: f64 },
    #[error("horizon h must be at least 1")]
    ZeroHorizon,
    #[error("seasonal period m must be at least 1 (use 1 for non-seasonal series)")]
    ZeroSeason,
    /// A decomposition parameter is outside its domain.
    #[error("parameter `{parameter}` {reason}")]
    InvalidParameter {
        parameter: &'static str,
        reason: String,
    },
    /// The history is too short for the named procedure.
    #[error("history of {len} points is too short for {what}: needs at least {needed}")]
    TooShort {
        len: usize,
        needed: usize,
        what: &'static str,
    },
    /// The fitted model produced a NaN or infinite forecast (e.g. values so large that the
    /// fit overflows).
    #[error("{model} produced a non-finite forecast ({value}) at step {step}")]
    NonFiniteForecast {
        model: String,
        step: usize,
        value: f64,
    },
    /// An error of one series among many ([`fit_many`]).
    #[error("series `{series}`: {source}")]
    Series {
        series: String,
        source: Box<ForecastError>,
    },
}

/// Point forecasts and optional prediction intervals, each of length `h`.
#[derive(Debug, Clone, PartialEq)]
pub struct Forecast {
    pub mean: Vec<f64>,
    pub lower80: Option<Vec<f64>>,
    pub upper80: Option<Vec<f64>>,
    pub lower95: Option<Vec<f64>>,
    pub upper95: Option<Vec<f64>>,
}

impl Forecast {
    /// Point forecasts only.
    pub fn point(mean: Vec<f64>) -> Self {
        Self {
            mean,
            lower80: None,
            upper80: None,
            lower95: None,
            upper95: None,
        }
    }

    /// Point forecasts with symmetric normal intervals `mean ± z * sd[k]`.
    /// Falls back to point forecasts if any standard deviation is not finite.
    pub fn with_sd(mean: Vec<f64>, sd: &[f64]) -> Self {
        if sd.len() != mean.len() || sd.iter().any(|s| !s.is_finite() || *s < 0.0) {
            return Self::point(mean);
        }
        let band = |z: f64, sign: f64| -> Vec<f64> {
            mean.iter().zip(sd).map(|(m, s)| m + sign * z * s).collect()
        };
        Self {
            lower80: Some(band(Z80, -1.0)),
            upper80: Some(band(Z80, 1.0)),
            lower95: Some(band(Z95, -1.0)),
            upper95: Some(band(Z95, 1.0)),
            mean,
        }
    }

    /// Multiplies the forecasts and every interval bound by `factors` (re-seasonalising).
    fn scaled(self, factors: &[f64]) -> Self {
        let mul = |v: Vec<f64>| -> Vec<f64> { v.iter().zip(factors).map(|(a, f)| a * f).collect() };
        Self {
            mean: mul(self.mean),
            lower80: self.lower80.map(mul),
            upper80: self.upper80.map(mul),
            lower95: self.lower95.map(mul),
            upper95: self.upper95.map(mul),
        }
    }

    /// The forecast with the mean and every bound floored at 0 (for non-negative data).
    pub(crate) fn floored_at_zero(self) -> Self {
        let floor = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|x| x.max(0.0)).collect() };
        Self {
            mean: floor(self.mean),
            lower80: self.lower80.map(floor),
            upper80: self.upper80.map(floor),
            lower95: self.lower95.map(floor),
            upper95: self.upper95.map(floor),
        }
    }

    /// Horizon (number of point forecasts).
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// True when there are no forecasts (never the case for a successful forecast).
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }
}

/// The forecasting methods of this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Method {
    Naive,
    SeasonalNaive,
    Naive2,
    Ses,
    Holt,
    Damped,
    Theta,
    /// MSTL over every given period, the seasonally adjusted series forecast by
    /// [`MSTL_DEFAULT`] (see [`fit_mstl`]).
    Mstl,
    /// The automatic ensemble with [`EnsembleRule::default`] (see [`fit_auto`]).
    Auto,
    /// Exponential smoothing state-space models (error A/M, trend N/A/Ad, season N/A/M)
    /// selected by AICc ([`auto_ets`] with [`AutoEtsOptions::default`]); seasonal with the
    /// first period when it is at most 24.
    AutoEts,
}

impl Method {
    /// The M4 competition's statistical benchmarks, in the order of its results table
    /// ([`Method::EVERY`] adds MSTL and the automatic ensemble).
    pub const ALL: [Method; 7] = [
        Method::Naive,
        Method::SeasonalNaive,
        Method::Naive2,
        Method::Ses,
        Method::Holt,
        Method::Damped,
        Method::Theta,
    ];

    /// Every method: the benchmarks of [`Method::ALL`], then MSTL, the automatic ensemble and
    /// AutoETS.
    pub const EVERY: [Method; 10] = [
        Method::Naive,
        Method::SeasonalNaive,
        Method::Naive2,
        Method::Ses,
        Method::Holt,
        Method::Damped,
        Method::Theta,
        Method::Mstl,
        Method::Auto,
        Method::AutoEts,
    ];

    /// Name as printed in the M4 results (`Naive`, `sNaive`, `Naive2`, `SES`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Method::Naive => "Naive",
            Method::SeasonalNaive => "sNaive",
            Method::Naive2 => "Naive2",
            Method::Ses => "SES",
            Method::Holt => "Holt",
            Method::Damped => "Damped",
            Method::Theta => "Theta",
            Method::Mstl => "MSTL",
            Method::Auto => "Auto",
            Method::AutoEts => "AutoETS",
        }
    }

    /// Forecasts `h` steps after `history` with seasonal period `m`.
    /// `m` is validated (must be at least 1) even by the methods that ignore it.
    /// [`Method::Mstl`] and [`Method::Auto`] run `fit(self, history, h, &[m])` and forecast
    /// `h` steps from it.
    pub fn forecast(self, history: &[f64], h: usize, m: usize) -> Result<Forecast, ForecastError> {
        validate(history, h, m)?;
        match self {
            Method::Mstl | Method::Auto | Method::AutoEts => {
                Ok(fit(self, history, h, &[m])?.forecast(h))
            }
            Method::Naive => naive(history, h),
            Method::SeasonalNaive => seasonal_naive(history, h, m),
            Method::Naive2 => naive2(history, h, m),
            Method::Ses => ses(history, h, m),
            Method::Holt => holt(history, h, m),
            Method::Damped => damped(history, h, m),
            Method::Theta => theta(history, h, m),
        }
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Rejects an empty history or one holding NaN or an infinity.
fn validate_values(history: &[f64]) -> Result<(), ForecastError> {
    if history.is_empty() {
        return Err(ForecastError::EmptyHistory);
    }
    if let Some((position, &value)) = history.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(ForecastError::NonFinite { position, value });
    }
    Ok(())
}

fn validate(history: &[f64], h: usize, m: usize) -> Result<(), ForecastError> {
    validate_values(history)?;
    if h == 0 {
        return Err(ForecastError::ZeroHorizon);
    }
    if m == 0 {
        return Err(ForecastError::ZeroSeason);
    }
    Ok(())
}

/// Root mean square of the lag-`lag` differences, or `None` when there are none.
fn diff_sigma(x: &[f64], lag: usize) -> Option<f64> {
    if x.len() <= lag {
        return None;
    }
    let n = x.len() - lag;
    let ss: f64 = (lag..x.len()).map(|t| (x[t] - x[t - lag]).powi(2)).sum();
    Some((ss / n as f64).sqrt())
}

fn naive_unchecked(x: &[f64], h: usize) -> Forecast {
    let last = x[x.len() - 1];
    let mean = vec![last; h];
    match diff_sigma(x, 1) {
        Some(s) => {
            let sd: Vec<f64> = (1..=h).map(|k| s * (k as f64).sqrt()).collect();
            Forecast::with_sd(mean, &sd)
        }
        None => Forecast::point(mean),
    }
}

/// Naive: every forecast is the last observation. Intervals from the one-step differences
/// (random walk: sd grows with the square root of the horizon); none for a single observation.
pub fn naive(history: &[f64], h: usize) -> Result<Forecast, ForecastError> {
    validate(history, h, 1)?;
    Ok(naive_unchecked(history, h))
}

/// Seasonal naive: forecast k repeats the observation one season earlier. Falls back to
/// [`naive`] when `m == 1` or the history is shorter than one season.
pub fn seasonal_naive(history: &[f64], h: usize, m: usize) -> Result<Forecast, ForecastError> {
    validate(history, h, m)?;
    let n = history.len();
    if m == 1 || n < m {
        return Ok(naive_unchecked(history, h));
    }
    let mean: Vec<f64> = (0..h).map(|k| history[n - m + k % m]).collect();
    match diff_sigma(history, m) {
        Some(s) => {
            let sd: Vec<f64> = (0..h).map(|k| s * ((k / m + 1) as f64).sqrt()).collect();
            Ok(Forecast::with_sd(mean, &sd))
        }
        None => Ok(Forecast::point(mean)),
    }
}

/// Runs `f` on the seasonally adjusted history and re-seasonalises its forecasts (and intervals).
fn on_adjusted(
    history: &[f64],
    h: usize,
    m: usize,
    f: impl FnOnce(&[f64]) -> Forecast,
) -> Result<Forecast, ForecastError> {
    validate(history, h, m)?;
    let adj = seasonal_adjust(history, m, h);
    Ok(f(&adj.adjusted).scaled(&adj.out_indices))
}

/// Naive2 (M4): naive forecast of the seasonally adjusted series, re-seasonalised.
pub fn naive2(history: &[f64], h: usize, m: usize) -> Result<Forecast, ForecastError> {
    on_adjusted(history, h, m, |x| naive_unchecked(x, h))
}

/// Simple exponential smoothing (M4 "SES") of the seasonally adjusted series.
pub fn ses(history: &[f64], h: usize, m: usize) -> Result<Forecast, ForecastError> {
    on_adjusted(history, h, m, |x| fit_ets(x, Trend::None).forecast(h))
}

/// Holt's linear trend method (M4 "Holt") of the seasonally adjusted series.
pub fn holt(history: &[f64], h: usize, m: usize) -> Result<Forecast, ForecastError> {
    on_adjusted(history, h, m, |x| fit_ets(x, Trend::Linear).forecast(h))
}

/// Damped trend exponential smoothing (M4 "Damped") of the seasonally adjusted series.
pub fn damped(history: &[f64], h: usize, m: usize) -> Result<Forecast, ForecastError> {
    on_adjusted(history, h, m, |x| fit_ets(x, Trend::Damped).forecast(h))
}

/// Classic Theta method (M4 "Theta") of the seasonally adjusted series: the average of the
/// theta=0 line (linear trend, extrapolated) and SES on the theta=2 line. As in the M4 benchmark,
/// negative forecasts are floored at zero when the history itself is non-negative.
/// Intervals are those of the SES component, halved (see [`FittedSeries::forecast`]).
pub fn theta(history: &[f64], h: usize, m: usize) -> Result<Forecast, ForecastError> {
    validate(history, h, m)?;
    Ok(fit(Method::Theta, history, h, &[m])?.forecast(h))
}

/// Least-squares line `a + b t` through `(t, x[t-1])` for `t = 1..=n`.
fn linear_fit(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    if x.len() < 2 {
        return (x.first().copied().unwrap_or(0.0), 0.0);
    }
    let tbar = (n + 1.0) / 2.0;
    let xbar = x.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (i, v) in x.iter().enumerate() {
        let dt = (i + 1) as f64 - tbar;
        sxy += dt * (v - xbar);
        sxx += dt * dt;
    }
    let b = sxy / sxx;
    (xbar - b * tbar, b)
}
