//! Fitted per-series forecasters: the final states and parameters of a fit, serialisable, so a
//! model directory can hold one per series and forecast any horizon later without refitting.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::autoets::{AutoEtsOptions, EtsError, EtsModel, Fallback, SeasonType, auto_ets};
use super::ensemble::{EnsembleRule, Selection, fit_auto_unchecked};
use super::mstl::{Mstl, mstl_unchecked, usable_periods};
use super::{
    EtsFit, Forecast, ForecastError, Method, Trend, Z95, diff_sigma, fit_ets, linear_fit,
    seasonal_adjust, validate_values,
};

/// The non-seasonal method that forecasts MSTL's seasonally adjusted series (trend + remainder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NonSeasonal {
    Ses,
    Damped,
    Theta,
}

impl NonSeasonal {
    /// Name as in [`Method::name`].
    pub fn name(self) -> &'static str {
        match self {
            NonSeasonal::Ses => "SES",
            NonSeasonal::Damped => "Damped",
            NonSeasonal::Theta => "Theta",
        }
    }

    fn fit(self, x: &[f64]) -> Core {
        match self {
            NonSeasonal::Ses => Core::Ets(EtsState::from(&fit_ets(x, Trend::None))),
            NonSeasonal::Damped => Core::Ets(EtsState::from(&fit_ets(x, Trend::Damped))),
            NonSeasonal::Theta => theta_core(x, false),
        }
    }
}

/// The method [`Method::Mstl`] uses on the seasonally adjusted series: the damped trend, which
/// scored the lowest OWA of the three on both M4 Hourly (periods 24 and 168: Damped 0.661,
/// Theta 0.665, SES 0.677) and M4 Weekly (period 52: 0.959, 0.984, 0.991); see `bench/m4.sh`.
pub const MSTL_DEFAULT: NonSeasonal = NonSeasonal::Damped;

/// A forecaster fitted to one series. Holds final states and parameters only (the last cycle
/// of seasonal indices or components where the method is seasonal), never the history.
///
/// Deserialising checks what forecasting relies on (non-empty seasonal cycles, at least one
/// ensemble member) and fails with a message naming the field otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredSeries")]
pub struct FittedSeries {
    name: String,
    model: Model,
    fallback: Option<String>,
    selection: Option<Selection>,
}

/// [`FittedSeries`] as read, before its check.
#[derive(Deserialize)]
struct StoredSeries {
    name: String,
    model: Model,
    fallback: Option<String>,
    selection: Option<Selection>,
}

impl TryFrom<StoredSeries> for FittedSeries {
    type Error = String;

    fn try_from(s: StoredSeries) -> Result<Self, String> {
        let problem = match &s.model {
            Model::SeasonalNaive { cycle, .. } if cycle.is_empty() => {
                Some("`cycle` of a seasonal naive model is empty")
            }
            Model::Mstl { cycles, .. } if cycles.iter().any(Vec::is_empty) => {
                Some("a seasonal cycle of an MSTL model is empty")
            }
            Model::Ensemble { members } if members.is_empty() => {
                Some("`members` of an ensemble is empty")
            }
            _ => None,
        };
        match problem {
            Some(p) => Err(format!("model `{}`: {p}", s.name)),
            None => Ok(Self {
                name: s.name,
                model: s.model,
                fallback: s.fallback,
                selection: s.selection,
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Model {
    /// The last cycle repeated; `sigma` is the RMS of the lag-m differences.
    SeasonalNaive { cycle: Vec<f64>, sigma: Option<f64> },
    /// A non-seasonal core times seasonal indices (`indices[k % m]` for step `k`; none when
    /// empty), as in the M4 benchmarks.
    Adjusted { core: Core, indices: Vec<f64> },
    /// A non-seasonal core plus the last cycle of each MSTL seasonal component; forecasts are
    /// floored at 0 when `floor` (non-negative history).
    Mstl {
        core: Core,
        cycles: Vec<Vec<f64>>,
        floor: bool,
    },
    /// Weighted mean of the members' point forecasts.
    Ensemble { members: Vec<Member> },
    /// An ETS state-space model chosen by [`auto_ets`].
    Ets(Box<EtsModel>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Member {
    pub(crate) weight: f64,
    pub(crate) model: FittedSeries,
}

/// A non-seasonal forecaster's final state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Core {
    /// Last value; `sigma` is the RMS of the one-step differences.
    Naive {
        last: f64,
        sigma: Option<f64>,
    },
    Ets(EtsState),
    /// Theta: the mean of SES on the theta=2 line and the line `a + b t` (t = n + k + 1 for step
    /// k), floored at 0 when `floor`.
    Theta {
        ses: EtsState,
        a: f64,
        b: f64,
        n: usize,
        floor: bool,
    },
}

/// Final state of an additive non-seasonal exponential smoothing fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct EtsState {
    alpha: f64,
    beta: f64,
    phi: f64,
    level: f64,
    slope: f64,
    /// One-step error variance; `None` when it could not be estimated (no intervals).
    sigma2: Option<f64>,
}

impl From<&EtsFit> for EtsState {
    fn from(f: &EtsFit) -> Self {
        Self {
            alpha: f.alpha,
            beta: f.beta,
            phi: f.phi,
            level: f.level,
            slope: f.slope,
            sigma2: f.sigma2.is_finite().then_some(f.sigma2),
        }
    }
}

impl EtsState {
    /// The same forecasts and intervals as [`EtsFit::forecast`].
    fn forecast(&self, h: usize) -> Forecast {
        let sigma2 = self.sigma2.unwrap_or(f64::NAN);
        let mut mean = Vec::with_capacity(h);
        let mut sd = Vec::with_capacity(h);
        let (mut phi_sum, mut var_mult) = (0.0, 1.0);
        for k in 1..=h {
            phi_sum += self.phi.powi(k as i32);
            mean.push(self.level + phi_sum * self.slope);
            sd.push((sigma2 * var_mult).sqrt());
            let c = self.alpha + self.beta * phi_sum;
            var_mult += c * c;
        }
        Forecast::with_sd(mean, &sd)
    }
}

impl Core {
    fn forecast(&self, h: usize) -> Forecast {
        match self {
            Core::Naive { last, sigma } => {
                let mean = vec![*last; h];
                match sigma {
                    Some(s) => {
                        let sd: Vec<f64> = (1..=h).map(|k| s * (k as f64).sqrt()).collect();
                        Forecast::with_sd(mean, &sd)
                    }
                    None => Forecast::point(mean),
                }
            }
            Core::Ets(state) => state.forecast(h),
            Core::Theta {
                ses,
                a,
                b,
                n,
                floor,
            } => {
                let ses = ses.forecast(h);
                let mean: Vec<f64> = (0..h)
                    .map(|k| {
                        let f = 0.5 * ses.mean[k] + 0.5 * (a + b * (n + k + 1) as f64);
                        if *floor { f.max(0.0) } else { f }
                    })
                    .collect();
                let sd: Option<Vec<f64>> = ses.upper95.as_ref().map(|u| {
                    u.iter()
                        .zip(&ses.mean)
                        .map(|(u, m)| 0.5 * (u - m) / Z95)
                        .collect()
                });
                let f = match sd {
                    Some(sd) => Forecast::with_sd(mean, &sd),
                    None => Forecast::point(mean),
                };
                if *floor { f.floored_at_zero() } else { f }
            }
        }
    }
}

fn naive_core(x: &[f64]) -> Core {
    Core::Naive {
        last: x[x.len() - 1],
        sigma: diff_sigma(x, 1),
    }
}

fn theta_core(x: &[f64], floor: bool) -> Core {
    let (a, b) = linear_fit(x);
    let line2: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(t, v)| 2.0 * v - (a + b * (t + 1) as f64))
        .collect();
    Core::Theta {
        ses: EtsState::from(&fit_ets(&line2, Trend::None)),
        a,
        b,
        n: x.len(),
        floor,
    }
}

/// The weighted mean of the members' forecasts. Intervals average the members' quantiles
/// (Lichtendahl, Grushka-Cockayne and Winkler 2013): each bound is the ensemble mean minus (or
/// plus) the weighted mean distance from each member's mean to its bound, over the members that
/// have intervals (all of them normally, so each bound is the weighted mean of the members'
/// bounds); none when no member has intervals.
fn ensemble_forecast(members: &[Member], h: usize) -> Forecast {
    let forecasts: Vec<(f64, Forecast)> = members
        .iter()
        .map(|m| (m.weight, m.model.forecast(h)))
        .collect();
    let mean: Vec<f64> = (0..h)
        .map(|k| forecasts.iter().map(|(w, f)| w * f.mean[k]).sum())
        .collect();
    let with_bands: Vec<&(f64, Forecast)> = forecasts
        .iter()
        .filter(|(_, f)| f.upper95.is_some() && f.upper80.is_some())
        .collect();
    let total: f64 = with_bands.iter().map(|(w, _)| w).sum();
    if with_bands.is_empty() || total <= 0.0 {
        return Forecast::point(mean);
    }
    let band = |bound: fn(&Forecast) -> Option<&Vec<f64>>, sign: f64| -> Vec<f64> {
        (0..h)
            .map(|k| {
                let width: f64 = with_bands
                    .iter()
                    .map(|(w, f)| w * bound(f).map_or(0.0, |b| (b[k] - f.mean[k]).abs()))
                    .sum();
                mean[k] + sign * width / total
            })
            .collect()
    };
    Forecast {
        lower80: Some(band(|f| f.lower80.as_ref(), -1.0)),
        upper80: Some(band(|f| f.upper80.as_ref(), 1.0)),
        lower95: Some(band(|f| f.lower95.as_ref(), -1.0)),
        upper95: Some(band(|f| f.upper95.as_ref(), 1.0)),
        mean,
    }
}

impl FittedSeries {
    /// Point forecasts for `h` steps after the fitted history (any `h`; empty for 0), with 80%
    /// and 95% intervals where the method defines them: every method once its one-step error
    /// variance can be estimated. Theta's are those of its SES component, halved (the theta=2
    /// line doubles the noise and enters with weight 1/2); the ensemble's average its members'
    /// quantiles.
    pub fn forecast(&self, h: usize) -> Forecast {
        match &self.model {
            Model::SeasonalNaive { cycle, sigma } => {
                let m = cycle.len();
                let mean: Vec<f64> = (0..h).map(|k| cycle[k % m]).collect();
                match sigma {
                    Some(s) => {
                        let sd: Vec<f64> =
                            (0..h).map(|k| s * ((k / m + 1) as f64).sqrt()).collect();
                        Forecast::with_sd(mean, &sd)
                    }
                    None => Forecast::point(mean),
                }
            }
            Model::Adjusted { core, indices } => {
                let f = core.forecast(h);
                if indices.is_empty() {
                    f
                } else {
                    let factors: Vec<f64> = (0..h).map(|k| indices[k % indices.len()]).collect();
                    f.scaled(&factors)
                }
            }
            Model::Mstl {
                core,
                cycles,
                floor,
            } => {
                let seasonal: Vec<f64> = (0..h)
                    .map(|k| cycles.iter().map(|c| c[k % c.len()]).sum())
                    .collect();
                let shift = |v: Vec<f64>| -> Vec<f64> {
                    v.iter()
                        .zip(&seasonal)
                        .map(|(a, s)| {
                            let f = a + s;
                            if *floor { f.max(0.0) } else { f }
                        })
                        .collect()
                };
                let f = core.forecast(h);
                Forecast {
                    mean: shift(f.mean),
                    lower80: f.lower80.map(shift),
                    upper80: f.upper80.map(shift),
                    lower95: f.lower95.map(shift),
                    upper95: f.upper95.map(shift),
                }
            }
            Model::Ensemble { members } => ensemble_forecast(members, h),
            Model::Ets(model) => model
                .forecast(h)
                .unwrap_or_else(|_| Forecast::point(Vec::new())),
        }
    }

    /// What was fitted, e.g. `Theta`, `MSTL(24,168)+Theta`,
    /// `Ensemble(MSTL(24,168)+Theta 0.52, sNaive 0.48)`.
    pub fn model_name(&self) -> &str {
        &self.name
    }

    /// Why a simpler method than the one asked for was used (too short for the season or the
    /// holdout, a period dropped, ...); `None` when the method ran as asked.
    pub fn fallback(&self) -> Option<&str> {
        self.fallback.as_deref()
    }

    /// For [`Method::Auto`]: the holdout scores of every component and the chosen weights.
    pub fn selection(&self) -> Option<&Selection> {
        self.selection.as_ref()
    }

    pub(crate) fn ensemble(name: String, members: Vec<Member>, selection: Selection) -> Self {
        Self {
            name,
            model: Model::Ensemble { members },
            fallback: None,
            selection: Some(selection),
        }
    }

    pub(crate) fn with_fallback(mut self, reason: String) -> Self {
        self.fallback = Some(match self.fallback.take() {
            Some(inner) => format!("{reason}; {inner}"),
            None => reason,
        });
        self
    }

    /// Errors with [`ForecastError::NonFiniteForecast`] when the forecast of `h` steps holds a
    /// NaN or an infinity.
    pub(crate) fn checked(self, h: usize) -> Result<Self, ForecastError> {
        let f = self.forecast(h);
        let bands = [&f.lower80, &f.upper80, &f.lower95, &f.upper95];
        let values = f.mean.iter().chain(bands.into_iter().flatten().flatten());
        if let Some((i, v)) = values.enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ForecastError::NonFiniteForecast {
                model: self.name,
                step: i % h,
                value: *v,
            });
        }
        Ok(self)
    }
}

/// Checks what every fit needs: finite, non-empty history, `h >= 1`, no zero period.
pub(crate) fn validate_fit(
    history: &[f64],
    h: usize,
    seasons: &[usize],
) -> Result<(), ForecastError> {
    validate_values(history)?;
    if h == 0 {
        return Err(ForecastError::ZeroHorizon);
    }
    if seasons.contains(&0) {
        return Err(ForecastError::ZeroSeason);
    }
    Ok(())
}

/// Fits `method` to `history` (oldest first) for horizon `h` with seasonal periods `seasons`.
///
/// The M4 benchmark methods use the first period of `seasons` (1 when empty) and forecast
/// exactly as [`Method::forecast`] with that `m`; [`Method::Mstl`] uses every period (see
/// [`fit_mstl`]); [`Method::Auto`] is [`fit_auto`](super::fit_auto) with
/// [`EnsembleRule::default`]. `h` matters only to the ensemble's holdout; the result
/// forecasts any horizon.
///
/// Errors: [`ForecastError::EmptyHistory`], [`ForecastError::NonFinite`] (naming the
/// position), [`ForecastError::ZeroHorizon`], [`ForecastError::ZeroSeason`] (a 0 in
/// `seasons`), and [`ForecastError::NonFiniteForecast`] when the fit overflows (values near
/// `f64::MAX`). Never panics.
pub fn fit(
    method: Method,
    history: &[f64],
    h: usize,
    seasons: &[usize],
) -> Result<FittedSeries, ForecastError> {
    validate_fit(history, h, seasons)?;
    fit_unchecked(method, history, h, seasons)?.checked(h)
}

pub(crate) fn fit_unchecked(
    method: Method,
    history: &[f64],
    h: usize,
    seasons: &[usize],
) -> Result<FittedSeries, ForecastError> {
    let m = seasons.first().copied().unwrap_or(1);
    let n = history.len();
    let plain = |name: &str, model: Model| FittedSeries {
        name: name.to_string(),
        model,
        fallback: None,
        selection: None,
    };
    Ok(match method {
        Method::Naive => plain(
            method.name(),
            Model::Adjusted {
                core: naive_core(history),
                indices: Vec::new(),
            },
        ),
        Method::SeasonalNaive if m == 1 || n < m => {
            let fitted = plain(
                method.name(),
                Model::Adjusted {
                    core: naive_core(history),
                    indices: Vec::new(),
                },
            );
            if m > 1 {
                fitted.with_fallback(format!(
                    "history of {n} points is shorter than one season ({m}): naive forecast"
                ))
            } else {
                fitted
            }
        }
        Method::SeasonalNaive => plain(
            method.name(),
            Model::SeasonalNaive {
                cycle: history[n - m..].to_vec(),
                sigma: diff_sigma(history, m),
            },
        ),
        Method::Naive2 | Method::Ses | Method::Holt | Method::Damped | Method::Theta => {
            let adj = seasonal_adjust(history, m, h);
            let x = &adj.adjusted;
            let core = match method {
                Method::Naive2 => naive_core(x),
                Method::Ses => Core::Ets(EtsState::from(&fit_ets(x, Trend::None))),
                Method::Holt => Core::Ets(EtsState::from(&fit_ets(x, Trend::Linear))),
                Method::Damped => Core::Ets(EtsState::from(&fit_ets(x, Trend::Damped))),
                _ => theta_core(x, history.iter().all(|v| *v >= 0.0)),
            };
            let indices = if adj.seasonal {
                (0..m).map(|k| adj.figure[(n + k) % m]).collect()
            } else {
                Vec::new()
            };
            let fitted = plain(method.name(), Model::Adjusted { core, indices });
            if matches!(method, Method::Holt | Method::Damped) && n < 5 {
                fitted.with_fallback(format!(
                    "history of {n} points is too short for a trend (needs 5): SES"
                ))
            } else {
                fitted
            }
        }
        Method::Mstl => mstl_fit(history, seasons, MSTL_DEFAULT),
        Method::Auto => fit_auto_unchecked(history, h, seasons, &EnsembleRule::default())?,
        Method::AutoEts => ets_fit(history, m)?,
    })
}

/// [`auto_ets`] with the default options and period `m`, as a [`FittedSeries`] named after the
/// chosen model (e.g. `ETS(M,Ad,M)`), with AutoETS's fallback reported.
fn ets_fit(history: &[f64], m: usize) -> Result<FittedSeries, ForecastError> {
    let model = auto_ets(history, m, &AutoEtsOptions::default()).map_err(|e| match e {
        EtsError::Input(input) => input,
        other => ForecastError::InvalidParameter {
            parameter: "history",
            reason: other.to_string(),
        },
    })?;
    let fallback = match model.fallback {
        Some(Fallback::Constant) => Some("constant series: the constant is repeated".to_string()),
        Some(Fallback::TooShort) => Some(format!(
            "history of {} points is too short for ETS: naive forecast",
            history.len()
        )),
        None if m > 1 && model.spec.season == SeasonType::None && m <= 24 => Some(format!(
            "no seasonal ETS model for period {m} (too short or not chosen)"
        )),
        None => None,
    };
    Ok(FittedSeries {
        name: model.model.clone(),
        model: Model::Ets(Box::new(model)),
        fallback,
        selection: None,
    })
}

/// MSTL with the periods of `seasons` (those above 1; see [`super::mstl()`]), the seasonally
/// adjusted series (trend + remainder) forecast by `inner`, each seasonal component projected
/// by repeating its last cycle. Forecasts are floored at 0 when the history is non-negative.
///
/// Periods with `2 * period >= n` are dropped (reported by [`FittedSeries::fallback`]); when
/// none is left, `inner` forecasts the series itself (also reported).
///
/// Errors: as [`fit`]. Never panics.
pub fn fit_mstl(
    history: &[f64],
    h: usize,
    seasons: &[usize],
    inner: NonSeasonal,
) -> Result<FittedSeries, ForecastError> {
    validate_fit(history, h, seasons)?;
    mstl_fit(history, seasons, inner).checked(h)
}

pub(crate) fn mstl_fit(history: &[f64], seasons: &[usize], inner: NonSeasonal) -> FittedSeries {
    mstl_fit_cached(history, seasons, inner, &mut None)
}

/// [`mstl_fit`] reusing the decomposition in `cache`, or storing it there. The cache must only
/// ever see one `history` and `seasons`.
pub(crate) fn mstl_fit_cached(
    history: &[f64],
    seasons: &[usize],
    inner: NonSeasonal,
    cache: &mut Option<Mstl>,
) -> FittedSeries {
    let n = history.len();
    let periods = usable_periods(seasons, n);
    let asked: Vec<usize> = seasons.iter().copied().filter(|p| *p >= 2).collect();
    let dropped: Vec<String> = asked
        .iter()
        .filter(|p| !periods.contains(p))
        .map(ToString::to_string)
        .collect();
    if periods.is_empty() {
        let fitted = FittedSeries {
            name: inner.name().to_string(),
            model: Model::Adjusted {
                core: inner.fit(history),
                indices: Vec::new(),
            },
            fallback: None,
            selection: None,
        };
        return if asked.is_empty() {
            fitted.with_fallback(format!(
                "no seasonal period above 1 given: {} on the series itself",
                inner.name()
            ))
        } else {
            fitted.with_fallback(format!(
                "history of {n} points has fewer than two cycles of every period ({}): {} on the \
                 series itself",
                dropped.join(","),
                inner.name()
            ))
        };
    }
    let d = cache.get_or_insert_with(|| mstl_unchecked(history, &periods, false));
    let adjusted: Vec<f64> = (0..n).map(|t| d.trend[t] + d.remainder[t]).collect();
    let cycles = d
        .seasonal
        .iter()
        .zip(&d.periods)
        .map(|(s, &p)| s[n - p..].to_vec())
        .collect();
    let list: Vec<String> = periods.iter().map(ToString::to_string).collect();
    let fitted = FittedSeries {
        name: format!("MSTL({})+{}", list.join(","), inner.name()),
        model: Model::Mstl {
            core: inner.fit(&adjusted),
            cycles,
            floor: history.iter().all(|v| *v >= 0.0),
        },
        fallback: None,
        selection: None,
    };
    if dropped.is_empty() {
        fitted
    } else {
        fitted.with_fallback(format!(
            "period(s) {} dropped: history of {n} points has fewer than two cycles",
            dropped.join(",")
        ))
    }
}

/// [`fit`] over many named series in parallel (rayon). The results are in the order of
/// `series`; an error is wrapped in [`ForecastError::Series`] naming its series.
pub fn fit_many(
    method: Method,
    series: &[(&str, &[f64])],
    h: usize,
    seasons: &[usize],
) -> Vec<Result<FittedSeries, ForecastError>> {
    series
        .par_iter()
        .map(|(name, x)| {
            fit(method, x, h, seasons).map_err(|e| ForecastError::Series {
                series: (*name).to_string(),
                source: Box::new(e),
            })
        })
        .collect()
}
