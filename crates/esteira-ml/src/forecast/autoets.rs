//! The ETS family of exponential smoothing state-space models (Hyndman, Koehler, Ord and
//! Snyder, "Forecasting with Exponential Smoothing", 2008) and automatic model selection with
//! the semantics of R's `forecast::ets` and statsforecast's `AutoETS`.
//!
//! A model is ETS(error, trend, season): error additive (A) or multiplicative (M), trend none
//! (N), additive (A) or additive damped (Ad), season none (N), additive (A) or multiplicative
//! (M). Smoothing parameters (alpha, beta, gamma, phi) and the initial states (level, slope,
//! `m - 1` free seasonal states; the last one makes the seasonal states sum to 0, or to `m`
//! when multiplicative) are chosen by maximising the Gaussian likelihood (R's
//! `opt.crit = "lik"`), under R's default `bounds = "both"`: alpha, beta, gamma in
//! [1e-4, 0.9999], phi in [0.8, 0.98], beta <= alpha, gamma <= 1 - alpha, and the
//! admissibility (forecastability) conditions of [`admissible`].
//!
//! [`auto_ets`] fits every allowed combination and keeps the one with the lowest information
//! criterion; the result, an [`EtsModel`], holds the final states and parameters and
//! forecasts without the history (it serialises with serde).
//!
//! Likelihood, information criteria and sigma2 follow R: with `e_t` the one-step errors
//! (relative errors `(y_t - f_t) / f_t` for multiplicative error) and `k` the number of
//! estimated parameters plus one for the variance, `-2 log L = n ln(sum e_t^2)
//! [+ 2 sum ln |f_t|]` (R and statsforecast drop the constant `n (ln(2 pi / n) + 1)`),
//! `AIC = -2 log L + 2k`, `AICc = AIC + 2k(k+1)/(n-k-1)`, `BIC = -2 log L + k ln n`,
//! `sigma2 = sum e_t^2 / (n - k)`. The model stores `sigma = sqrt(sigma2)` (so that series
//! near the floating-point limits keep a finite value) and [`EtsModel::sigma2`] squares it.
//!
//! Initial states and starting parameters are statsforecast's (`initstate`, `initparam`);
//! the optimiser is a box-constrained Nelder-Mead like statsforecast's, and [`auto_ets`]
//! starts a damped form from its undamped sibling's optimum, and a multiplicative-error form
//! (without multiplicative season) from its additive-error sibling's, when that start has a
//! higher likelihood than the default one. Where we differ from
//! statsforecast 2.1.1, on purpose: beta <= alpha, gamma <= 1 - alpha and admissibility are
//! enforced at every step (statsforecast checks them on the starting values only, and
//! shrinks the upper bounds of beta and gamma to the starting alpha for the rest of the
//! search); the simplex starts with steps scaled to each parameter rather than 5% of its
//! value; damped forecasts use `phi + .. + phi^k` (statsforecast 2.1.1 and R's `forecast`
//! before 2026 add `phi` twice from step 2 on); a season needs `n >= 2m` values (statsforecast:
//! `n > m`); `sigma2` divides by `n - k` as R does (statsforecast by `n - k - 1`). On real
//! series this usually finds a lower AICc than statsforecast, sometimes much lower.

use serde::{Deserialize, Serialize};

use super::optim::{BoundedNelderMead, NmWork};
use super::{Forecast, ForecastError};

/// Errors of [`auto_ets`] and [`EtsModel::forecast`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EtsError {
    /// The history, horizon or season (the checks every forecaster makes).
    #[error(transparent)]
    Input(#[from] ForecastError),
    #[error("option {option} is invalid: {reason}")]
    InvalidOption {
        option: &'static str,
        reason: String,
    },
    #[error("model field {field} is invalid: {reason}")]
    InvalidModel { field: &'static str, reason: String },
}

/// Error component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorType {
    Additive,
    Multiplicative,
}

/// Trend component (the multiplicative trends are not offered, as in R's default
/// `allow.multiplicative.trend = FALSE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrendType {
    None,
    Additive,
    /// Additive damped trend (`phi` in [0.8, 0.98]).
    Damped,
}

/// Seasonal component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeasonType {
    None,
    Additive,
    Multiplicative,
}

/// One ETS model form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EtsSpec {
    pub error: ErrorType,
    pub trend: TrendType,
    pub season: SeasonType,
}

impl EtsSpec {
    /// Name as R and statsforecast print it, e.g. `"ETS(M,Ad,M)"`.
    pub fn name(&self) -> String {
        let e = match self.error {
            ErrorType::Additive => "A",
            ErrorType::Multiplicative => "M",
        };
        let t = match self.trend {
            TrendType::None => "N",
            TrendType::Additive => "A",
            TrendType::Damped => "Ad",
        };
        let s = match self.season {
            SeasonType::None => "N",
            SeasonType::Additive => "A",
            SeasonType::Multiplicative => "M",
        };
        format!("ETS({e},{t},{s})")
    }

    fn has_trend(&self) -> bool {
        self.trend != TrendType::None
    }

    fn has_season(&self) -> bool {
        self.season != SeasonType::None
    }

    /// Number of smoothing parameters (alpha, beta, gamma, phi) estimated.
    fn n_smoothing(&self) -> usize {
        1 + usize::from(self.has_trend())
            + usize::from(self.has_season())
            + usize::from(self.trend == TrendType::Damped)
    }
}

impl std::fmt::Display for EtsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

/// Information criterion used to choose among the candidate models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Criterion {
    Aic,
    #[default]
    Aicc,
    Bic,
}

/// Options of [`auto_ets`].
#[derive(Debug, Clone, PartialEq)]
pub struct AutoEtsOptions {
    /// Criterion that picks the model (default AICc, as R and statsforecast).
    pub criterion: Criterion,
    /// Only additive components (no multiplicative error or season).
    pub additive_only: bool,
    /// Seasonal models are tried only when `m <= max_season` (R refuses `m > 24`; every
    /// seasonal state is a parameter of the optimiser, so large `m` is slow). Default 24.
    pub max_season: usize,
    /// Nelder-Mead stops when the standard deviation of the simplex's `-2 log L` values falls
    /// below this. Default 1e-2 (statsforecast uses 1e-4, at about three times the work;
    /// model choices hinge on criterion differences of about 2). Must be positive.
    pub tolerance: f64,
    /// Nelder-Mead iteration cap per model (statsforecast: 1000). Default 1000; at least 1.
    pub max_iter: usize,
}

impl Default for AutoEtsOptions {
    fn default() -> Self {
        Self {
            criterion: Criterion::Aicc,
            additive_only: false,
            max_season: 24,
            tolerance: 1e-2,
            max_iter: 1000,
        }
    }
}

/// Why [`auto_ets`] returned a model it did not choose by the criterion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Fallback {
    /// Every value is equal (at least two values): ETS(A,N,N) with alpha 0.9999, level the
    /// constant, sigma 0 (forecasts repeat the constant; intervals have zero width), as R
    /// does.
    Constant,
    /// Too few observations to estimate any candidate (fewer than 7, or every candidate
    /// failed): ETS(A,N,N) with alpha 0.9999 and level the last value (the naive forecast),
    /// sigma the root mean squared one-step difference; no intervals from a single
    /// observation.
    TooShort,
}

/// A fitted ETS model: everything needed to forecast, without the history.
/// States are those after the last observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EtsModel {
    /// `spec.name()`, e.g. `"ETS(A,Ad,M)"`.
    pub model: String,
    pub spec: EtsSpec,
    /// Seasonal period the model was fitted with (1 when non-seasonal).
    pub m: usize,
    pub alpha: f64,
    /// 0 without trend.
    pub beta: f64,
    /// 0 without season.
    pub gamma: f64,
    /// 1 unless the trend is damped.
    pub phi: f64,
    pub level: f64,
    /// 0 without trend.
    pub slope: f64,
    /// Seasonal states in forecast order: `season[k % m]` applies to step `k + 1`; empty
    /// without season.
    pub season: Vec<f64>,
    /// Standard deviation of the one-step errors (relative errors for multiplicative error):
    /// `sqrt(sum e_t^2 / (n - n_params))`.
    pub sigma: f64,
    /// Log-likelihood without R's constant; `None` for a fallback that was not fitted.
    pub loglik: Option<f64>,
    /// Information criteria; `None` when undefined (too few observations).
    pub aic: Option<f64>,
    pub aicc: Option<f64>,
    pub bic: Option<f64>,
    /// Number of observations fitted.
    pub n_obs: usize,
    /// Number of estimated parameters including the variance.
    pub n_params: usize,
    /// Set when the model is a fallback rather than the criterion's choice.
    pub fallback: Option<Fallback>,
}

const LOWER: [f64; 4] = [1e-4, 1e-4, 1e-4, 0.8];
const UPPER: [f64; 4] = [0.9999, 0.9999, 0.9999, 0.98];
const N_SIM: usize = 2000;
const SIM_SEED: u64 = 0x05ee_de75;

fn validate(x: &[f64], m: usize) -> Result<(), EtsError> {
    if x.is_empty() {
        return Err(ForecastError::EmptyHistory.into());
    }
    if let Some((position, &value)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(ForecastError::NonFinite { position, value }.into());
    }
    if m == 0 {
        return Err(ForecastError::ZeroSeason.into());
    }
    Ok(())
}

fn validate_options(o: &AutoEtsOptions) -> Result<(), EtsError> {
    if !(o.tolerance.is_finite() && o.tolerance > 0.0) {
        return Err(EtsError::InvalidOption {
            option: "tolerance",
            reason: format!("must be a positive finite number, got {}", o.tolerance),
        });
    }
    if o.max_iter == 0 {
        return Err(EtsError::InvalidOption {
            option: "max_iter",
            reason: "must be at least 1".into(),
        });
    }
    Ok(())
}

/// Fits every allowed ETS model to `x` (oldest first) with seasonal period `m` and returns
/// the one with the lowest `opts.criterion`.
///
/// Candidates, as R's `ets(model = "ZZZ")` and statsforecast's `AutoETS`: error A and M, trend
/// N, A and Ad, season N, A and M, without ETS(A,*,M) (unstable); multiplicative error or
/// season only when every value is positive; seasonal models only when `1 < m <=
/// opts.max_season` and `n >= 2m`. A candidate is skipped when it has at least `n - 1`
/// parameters. Series of fewer than 7 values and constant series get a documented
/// [`Fallback`]. Values are rescaled by their mean absolute value while fitting (the
/// reported states, variance and criteria are in the original units), so magnitudes near
/// the floating-point limits fit as well.
///
/// Errors: empty history, a non-finite value (with its position), `m == 0`, invalid options.
/// Never panics.
pub fn auto_ets(x: &[f64], m: usize, opts: &AutoEtsOptions) -> Result<EtsModel, EtsError> {
    validate(x, m)?;
    validate_options(opts)?;
    let n = x.len();
    if n > 1 && x.iter().all(|v| *v == x[0]) {
        return Ok(constant_model(x));
    }
    if n < 7 {
        return Ok(too_short_model(x));
    }
    let scale = x.iter().map(|v| v.abs()).sum::<f64>() / n as f64;
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        x.iter().fold(0.0_f64, |a, v| a.max(v.abs()))
    };
    let y: Vec<f64> = x.iter().map(|v| v / scale).collect();
    let positive = y.iter().all(|v| *v > 0.0);
    let seasonal = m > 1 && m <= opts.max_season && n >= 2 * m;
    let mut fitter = Fitter::new(&y, if seasonal { m } else { 1 }, opts);
    let mut best: Option<(f64, Fit)> = None;
    for spec in candidates(positive, seasonal, opts.additive_only) {
        let Some(fit) = fitter.fit(spec) else {
            continue;
        };
        let ic = match opts.criterion {
            Criterion::Aic => fit.aic,
            Criterion::Aicc => fit.aicc,
            Criterion::Bic => fit.bic,
        };
        if ic.is_finite() && best.as_ref().is_none_or(|(b, _)| ic < *b) {
            best = Some((ic, fit));
        }
    }
    match best {
        Some((_, fit)) => Ok(fit.into_model(scale, n)),
        None => Ok(too_short_model(x)),
    }
}

/// Fits one given ETS form to `x` with seasonal period `m` (ignored without season).
///
/// Errors: as [`auto_ets`], plus [`EtsError::InvalidModel`] when the form cannot be fitted to
/// this series (multiplicative components with non-positive values, a season with `m < 2`
/// or fewer than `2m` values, too few observations for its parameters, or no finite
/// likelihood).
pub fn fit_ets_model(
    x: &[f64],
    m: usize,
    spec: EtsSpec,
    opts: &AutoEtsOptions,
) -> Result<EtsModel, EtsError> {
    validate(x, m)?;
    validate_options(opts)?;
    let n = x.len();
    let bad = |reason: String| EtsError::InvalidModel {
        field: "spec",
        reason,
    };
    let multiplicative =
        spec.error == ErrorType::Multiplicative || spec.season == SeasonType::Multiplicative;
    if multiplicative && x.iter().any(|v| *v <= 0.0) {
        return Err(bad(format!(
            "{} needs positive values; the series has zeros or negatives",
            spec.name()
        )));
    }
    if spec.has_season() && (m < 2 || n < 2 * m) {
        return Err(bad(format!(
            "{} needs m >= 2 and at least 2m values (m = {m}, n = {n})",
            spec.name()
        )));
    }
    let scale = x.iter().map(|v| v.abs()).sum::<f64>() / n as f64;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(bad("the series is all zeros or too large to average".into()));
    }
    let y: Vec<f64> = x.iter().map(|v| v / scale).collect();
    let mut fitter = Fitter::new(&y, if spec.has_season() { m } else { 1 }, opts);
    match fitter.fit(spec) {
        Some(fit) => Ok(fit.into_model(scale, n)),
        None => Err(bad(format!(
            "{} could not be fitted to {n} observations",
            spec.name()
        ))),
    }
}

/// The forms tried by [`auto_ets`], in R's order.
fn candidates(positive: bool, seasonal: bool, additive_only: bool) -> Vec<EtsSpec> {
    let mut out = Vec::new();
    for error in [ErrorType::Additive, ErrorType::Multiplicative] {
        for trend in [TrendType::None, TrendType::Additive, TrendType::Damped] {
            for season in [
                SeasonType::None,
                SeasonType::Additive,
                SeasonType::Multiplicative,
            ] {
                let mult_error = error == ErrorType::Multiplicative;
                let mult_season = season == SeasonType::Multiplicative;
                if (season != SeasonType::None && !seasonal)
                    || (!mult_error && mult_season)
                    || ((mult_error || mult_season) && (!positive || additive_only))
                {
                    continue;
                }
                out.push(EtsSpec {
                    error,
                    trend,
                    season,
                });
            }
        }
    }
    out
}

fn constant_model(x: &[f64]) -> EtsModel {
    naive_model(x[0], 0.0, x.len(), Fallback::Constant)
}

fn too_short_model(x: &[f64]) -> EtsModel {
    let n = x.len();
    let sigma = if n >= 2 {
        // Scaled differences: no overflow for values near the floating-point limits.
        let scale = x.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
        let ms = x
            .windows(2)
            .map(|w| (w[1] / scale - w[0] / scale).powi(2))
            .sum::<f64>()
            / (n - 1) as f64;
        ms.sqrt() * scale
    } else {
        0.0
    };
    naive_model(x[n - 1], sigma, n, Fallback::TooShort)
}

fn naive_model(level: f64, sigma: f64, n: usize, fallback: Fallback) -> EtsModel {
    let spec = EtsSpec {
        error: ErrorType::Additive,
        trend: TrendType::None,
        season: SeasonType::None,
    };
    EtsModel {
        model: spec.name(),
        spec,
        m: 1,
        alpha: 0.9999,
        beta: 0.0,
        gamma: 0.0,
        phi: 1.0,
        level,
        slope: 0.0,
        season: Vec::new(),
        sigma: if sigma.is_finite() { sigma } else { f64::MAX },
        loglik: None,
        aic: None,
        aicc: None,
        bic: None,
        n_obs: n,
        n_params: 2,
        fallback: Some(fallback),
    }
}

/// Smoothing parameters of one likelihood evaluation.
#[derive(Debug, Clone, Copy)]
struct Smooth {
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
}

/// Result of one pass of the recursions.
#[derive(Debug, Clone, Copy)]
struct Pass {
    sse: f64,
    sum_log_f: f64,
    level: f64,
    slope: f64,
}

/// Running values of [`pass`].
struct Acc {
    l: f64,
    b: f64,
    sse: f64,
    log_acc: f64,
    prod: f64,
}

/// Coefficients of [`step`], computed once per pass.
struct Coef {
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
    /// `1 - alpha`, `(1 - alpha) phi`, `(1 - beta) phi`.
    oma: f64,
    oma_phi: f64,
    omb_phi: f64,
}

impl Coef {
    fn new(p: &Smooth) -> Self {
        Self {
            alpha: p.alpha,
            beta: p.beta,
            gamma: p.gamma,
            phi: p.phi,
            oma: 1.0 - p.alpha,
            oma_phi: (1.0 - p.alpha) * p.phi,
            omb_phi: (1.0 - p.beta) * p.phi,
        }
    }
}

/// One step of the recursions for observation `yt` with seasonal state `s` (replaced by its
/// update). The update equations are R's (`etscalc`): with `q = l + phi b` and the level
/// target `p` (`y`, `y - s` or `y / s`), `l' = q + alpha (p - q)` and `b' = phi b + beta
/// (p - q)` (R's `phi b + beta / alpha (l' - l - phi b)`), expanded as
/// `l' = (1 - alpha) l + (1 - alpha) phi b + alpha p` and
/// `b' = (1 - beta) phi b - beta l + beta p` so that the level/slope dependency chain is
/// three operations long (the step is latency-bound).
#[inline(always)]
fn step<const MULT_E: bool, const TREND: bool, const SEASON: u8>(
    a: &mut Acc,
    c: &Coef,
    yt: f64,
    s: &mut f64,
) {
    let (l, b) = (a.l, a.b);
    let q = if TREND { l + c.phi * b } else { l };
    let sv = *s;
    let (target, e, f) = match SEASON {
        0 => (yt, if MULT_E { (yt - q) / q } else { yt - q }, q),
        1 => {
            let f = q + sv;
            (yt - sv, if MULT_E { (yt - f) / f } else { yt - f }, f)
        }
        _ => {
            let ys = yt / sv;
            let f = q * sv;
            (ys, if MULT_E { ys / q - 1.0 } else { yt - f }, f)
        }
    };
    if TREND {
        a.l = (c.oma * l + c.alpha * target) + c.oma_phi * b;
        a.b = (c.omb_phi * b + c.beta * target) - c.beta * l;
    } else {
        a.l = c.oma * l + c.alpha * target;
    }
    match SEASON {
        1 => *s = sv + c.gamma * (yt - q - sv),
        2 => {
            let ratio = if MULT_E { (e + 1.0) * sv } else { yt / q };
            *s = sv + c.gamma * (ratio - sv);
        }
        _ => {}
    }
    a.sse += e * e;
    if MULT_E {
        a.prod *= f.abs();
        if !(1e-150..=1e150).contains(&a.prod) {
            a.log_acc += a.prod.ln();
            a.prod = 1.0;
        }
    }
}

/// One pass of the state recursions over `y`, starting from level `l0`, slope `b0` and, for
/// seasonal models, `ring[i]` = the seasonal state that applies to `y[i]` (`i < m`, `m =
/// ring.len()`). On return `ring[k]` applies to forecast step `k + 1`.
/// `MULT_E`: multiplicative error; `TREND`: additive trend (damped through `phi`);
/// `SEASON`: 0 none, 1 additive, 2 multiplicative.
#[inline(always)]
fn pass<const MULT_E: bool, const TREND: bool, const SEASON: u8>(
    y: &[f64],
    p: Smooth,
    l0: f64,
    b0: f64,
    ring: &mut [f64],
) -> Pass {
    let mut a = Acc {
        l: l0,
        b: if TREND { b0 } else { 0.0 },
        sse: 0.0,
        log_acc: 0.0,
        prod: 1.0,
    };
    let m = ring.len();
    let c = Coef::new(&p);
    if SEASON == 0 {
        let mut unused = 0.0;
        for &yt in y {
            step::<MULT_E, TREND, SEASON>(&mut a, &c, yt, &mut unused);
        }
    } else if m > 0 {
        for chunk in y.chunks(m) {
            for (&yt, s) in chunk.iter().zip(ring.iter_mut()) {
                step::<MULT_E, TREND, SEASON>(&mut a, &c, yt, s);
            }
        }
        ring.rotate_left(y.len() % m);
    } else {
        a.sse = f64::NAN;
    }
    if MULT_E {
        a.log_acc += a.prod.ln();
    }
    Pass {
        sse: a.sse,
        sum_log_f: a.log_acc,
        level: a.l,
        slope: a.b,
    }
}

/// Dispatches [`pass`] to its monomorphised form.
/// `sse_limit`: the pass stops early, with an infinite SSE (and arbitrary states), once the
/// running SSE exceeds it (infinity for a complete pass).
fn run(spec: EtsSpec, y: &[f64], p: Smooth, l0: f64, b0: f64, ring: &mut [f64]) -> Pass {
    let mult_e = spec.error == ErrorType::Multiplicative;
    let trend = spec.has_trend();
    macro_rules! go {
        ($e:literal, $t:literal, $s:literal) => {
            pass::<$e, $t, $s>(y, p, l0, b0, ring)
        };
    }
    match (mult_e, trend, spec.season) {
        (false, false, SeasonType::None) => go!(false, false, 0),
        (false, false, SeasonType::Additive) => go!(false, false, 1),
        (false, false, SeasonType::Multiplicative) => go!(false, false, 2),
        (false, true, SeasonType::None) => go!(false, true, 0),
        (false, true, SeasonType::Additive) => go!(false, true, 1),
        (false, true, SeasonType::Multiplicative) => go!(false, true, 2),
        (true, false, SeasonType::None) => go!(true, false, 0),
        (true, false, SeasonType::Additive) => go!(true, false, 1),
        (true, false, SeasonType::Multiplicative) => go!(true, false, 2),
        (true, true, SeasonType::None) => go!(true, true, 0),
        (true, true, SeasonType::Additive) => go!(true, true, 1),
        (true, true, SeasonType::Multiplicative) => go!(true, true, 2),
    }
}

/// `-2 log L` without the constant: `n ln(SSE) [+ 2 sum ln |f|]`.
fn neg2loglik(spec: EtsSpec, n: usize, r: &Pass) -> f64 {
    let sse = if r.sse > 0.0 { r.sse } else { r.sse + 1e-8 };
    let mut lik = n as f64 * sse.ln();
    if spec.error == ErrorType::Multiplicative {
        lik += 2.0 * r.sum_log_f;
    }
    if lik.is_nan() { f64::INFINITY } else { lik }
}

/// R's `admissible()`: whether the smoothing parameters give a forecastable model (the
/// discount matrix's eigenvalues inside the unit circle). `beta` is ignored (use 0) without
/// trend, `gamma` is `None` without season, `phi` is 1 for an undamped trend. For seasonal
/// models the characteristic polynomial's roots are tested with the Schur-Cohn recursion
/// (no root finding), allowing moduli up to `1 + 1e-10` as R does.
pub fn admissible(alpha: f64, beta: f64, gamma: Option<f64>, phi: f64, m: usize) -> bool {
    if !(0.0..=1.0 + 1e-8).contains(&phi) {
        return false;
    }
    match gamma {
        None => {
            if alpha < 1.0 - 1.0 / phi || alpha > 1.0 + 1.0 / phi {
                return false;
            }
            !(beta < alpha * (phi - 1.0) || beta > (1.0 + phi) * (2.0 - alpha))
        }
        Some(_) if m <= 1 => true,
        Some(gamma) => {
            if gamma < (1.0 - 1.0 / phi - alpha).max(0.0) || gamma > 1.0 + 1.0 / phi - alpha {
                return false;
            }
            let mf = m as f64;
            if alpha < 1.0 - 1.0 / phi - gamma * (1.0 - mf + phi + phi * mf) / (2.0 * phi * mf) {
                return false;
            }
            if beta < -(1.0 - phi) * (gamma / mf + alpha) {
                return false;
            }
            let d = m + 1;
            if d < 64 {
                let (mut poly, mut tmp) = ([0.0; 64], [0.0; 64]);
                fill_poly(&mut poly[..=d], alpha, beta, gamma, phi, m);
                schur_cohn_stable(&mut poly[..=d], &mut tmp[..=d])
            } else {
                let (mut poly, mut tmp) = (vec![0.0; d + 1], vec![0.0; d + 1]);
                fill_poly(&mut poly, alpha, beta, gamma, phi, m);
                schur_cohn_stable(&mut poly, &mut tmp)
            }
        }
    }
}

/// R's characteristic polynomial, coefficients in increasing powers (degree m + 1, monic).
fn fill_poly(c: &mut [f64], alpha: f64, beta: f64, gamma: f64, phi: f64, m: usize) {
    c[0] = phi * (1.0 - alpha - gamma);
    c[1] = alpha + beta - alpha * phi + gamma - 1.0;
    for v in &mut c[2..m] {
        *v = alpha + beta - alpha * phi;
    }
    c[m] = alpha + beta - phi;
    c[m + 1] = 1.0;
}

/// Whether every root of the polynomial `c` (increasing powers) has modulus at most
/// `1 + 1e-10`: the polynomial is rescaled to `c(rho z)` and reduced by Schur transforms
/// `(c - k c*) / z` (`c*` the reversed polynomial, `k = c_0 / c_d`), each of which must have
/// `|k| < 1`. Overwrites `c`; `tmp` is scratch of the same length.
fn schur_cohn_stable(c: &mut [f64], tmp: &mut [f64]) -> bool {
    let rho: f64 = 1.0 + 1e-10;
    let mut pw = 1.0;
    for v in c.iter_mut() {
        *v *= pw;
        pw *= rho;
    }
    let mut d = c.len() - 1;
    while d > 0 {
        if c[d] == 0.0 {
            return false;
        }
        let k = c[0] / c[d];
        if k.is_nan() || k.abs() >= 1.0 {
            return false;
        }
        for j in 0..d {
            tmp[j] = c[j + 1] - k * c[d - 1 - j];
        }
        c[..d].copy_from_slice(&tmp[..d]);
        d -= 1;
    }
    true
}

/// Per-series fitting state shared by the candidate models (decompositions, buffers).
struct Fitter<'a> {
    y: &'a [f64],
    m: usize,
    opts: &'a AutoEtsOptions,
    ring: Vec<f64>,
    par: Vec<f64>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    steps: Vec<f64>,
    nm: NmWork,
    /// Optimal parameter vectors of the forms fitted so far (for warm starts).
    optima: Vec<(EtsSpec, Vec<f64>)>,
    /// Seasonal indices (time order, length n) and adjusted series per season type.
    additive_init: Option<(Vec<f64>, Vec<f64>)>,
    multiplicative_init: Option<(Vec<f64>, Vec<f64>)>,
}

/// A fitted candidate (in the scaled units of the fitter).
struct Fit {
    spec: EtsSpec,
    m: usize,
    smooth: Smooth,
    level: f64,
    slope: f64,
    season: Vec<f64>,
    sse: f64,
    lik: f64,
    aic: f64,
    aicc: f64,
    bic: f64,
    n_params: usize,
}

impl Fit {
    /// Back to the original units (`x = scale * y`).
    fn into_model(self, scale: f64, n: usize) -> EtsModel {
        let shift = 2.0 * n as f64 * scale.ln();
        let (k, nf) = (self.n_params as f64, n as f64);
        let mult_e = self.spec.error == ErrorType::Multiplicative;
        let sigma = (self.sse / (nf - k)).sqrt() * if mult_e { 1.0 } else { scale };
        let season = match self.spec.season {
            SeasonType::Additive => self.season.iter().map(|s| s * scale).collect(),
            _ => self.season,
        };
        let finite = |v: f64| v.is_finite().then_some(v);
        EtsModel {
            model: self.spec.name(),
            spec: self.spec,
            m: self.m,
            alpha: self.smooth.alpha,
            beta: self.smooth.beta,
            gamma: self.smooth.gamma,
            phi: self.smooth.phi,
            level: self.level * scale,
            slope: self.slope * scale,
            season,
            sigma,
            loglik: finite(-0.5 * (self.lik + shift)),
            aic: finite(self.aic + shift),
            aicc: finite(self.aicc + shift),
            bic: finite(self.bic + shift),
            n_obs: n,
            n_params: self.n_params,
            fallback: None,
        }
    }
}

impl<'a> Fitter<'a> {
    fn new(y: &'a [f64], m: usize, opts: &'a AutoEtsOptions) -> Self {
        Self {
            y,
            m,
            opts,
            ring: Vec::with_capacity(m),
            par: Vec::new(),
            lower: Vec::new(),
            upper: Vec::new(),
            steps: Vec::new(),
            nm: NmWork::default(),
            optima: Vec::new(),
            additive_init: None,
            multiplicative_init: None,
        }
    }

    /// Seasonal indices (time order) and the seasonally adjusted series, as statsforecast's
    /// `initstate`: classical decomposition of the whole series when `n >= 3m`, otherwise a
    /// regression on a line and one Fourier pair.
    fn seasonal_init(&mut self, season: SeasonType) -> &(Vec<f64>, Vec<f64>) {
        let (y, m) = (self.y, self.m);
        let slot = if season == SeasonType::Additive {
            &mut self.additive_init
        } else {
            &mut self.multiplicative_init
        };
        slot.get_or_insert_with(|| {
            let mult = season == SeasonType::Multiplicative;
            let seasonal = if y.len() >= 3 * m {
                decompose_seasonal(y, m, mult)
            } else {
                fourier_seasonal(y, m, mult)
            };
            let adjusted = y
                .iter()
                .zip(&seasonal)
                .map(|(v, s)| if mult { v / s.max(1e-2) } else { v - s })
                .collect();
            (seasonal, adjusted)
        })
    }

    /// Fits one form; `None` when it has too many parameters for the data or no finite
    /// likelihood.
    fn fit(&mut self, spec: EtsSpec) -> Option<Fit> {
        let y = self.y;
        let n = y.len();
        let m = if spec.has_season() { self.m } else { 1 };
        let n_states = 1 + usize::from(spec.has_trend()) + m.saturating_sub(1);
        let n_smooth = spec.n_smoothing();
        let n_par = n_smooth + n_states;
        if n_par + 1 >= n {
            return None;
        }
        // Initial states (statsforecast's initstate).
        let maxn = (10usize.max(2 * m)).min(n);
        let trend = spec.has_trend();
        let (init_season, l0, b0) = if spec.has_season() {
            let mult = spec.season == SeasonType::Multiplicative;
            let (seasonal, adjusted) = self.seasonal_init(spec.season);
            let mut free: Vec<f64> = seasonal[1..m].to_vec();
            if mult {
                for s in &mut free {
                    *s = s.max(1e-2);
                }
                let sum: f64 = free.iter().sum();
                if sum > m as f64 {
                    let div: f64 = free.iter().map(|s| s + 1e-2).sum();
                    for s in &mut free {
                        *s /= div;
                    }
                }
            }
            let (l0, b0) = level_slope(&adjusted[..maxn], trend);
            (free, l0, b0)
        } else {
            let (l0, b0) = level_slope(&y[..maxn], trend);
            (Vec::new(), l0, b0)
        };
        // Starting smoothing parameters (R's initparam).
        let mut alpha = LOWER[0] + 0.2 * (UPPER[0] - LOWER[0]) / m as f64;
        if !(0.0..=1.0).contains(&alpha) {
            alpha = LOWER[0] + 2e-3;
        }
        self.par.clear();
        self.lower.clear();
        self.upper.clear();
        self.par.push(alpha);
        self.lower.push(LOWER[0]);
        self.upper.push(UPPER[0]);
        if spec.has_trend() {
            let up = UPPER[1].min(alpha);
            let mut beta = LOWER[1] + 0.1 * (up - LOWER[1]);
            if beta < 0.0 || beta > alpha {
                beta = alpha - 1e-3;
            }
            self.par.push(beta);
            self.lower.push(LOWER[1]);
            self.upper.push(UPPER[1]);
        }
        if spec.has_season() {
            let up = UPPER[2].min(1.0 - alpha);
            let mut gamma = LOWER[2] + 0.05 * (up - LOWER[2]);
            if gamma < 0.0 || gamma > 1.0 - alpha {
                gamma = 1.0 - alpha - 1e-3;
            }
            self.par.push(gamma);
            self.lower.push(LOWER[2]);
            self.upper.push(UPPER[2]);
        }
        if spec.trend == TrendType::Damped {
            self.par.push(LOWER[3] + 0.99 * (UPPER[3] - LOWER[3]));
            self.lower.push(LOWER[3]);
            self.upper.push(UPPER[3]);
        }
        self.par.push(l0);
        if spec.has_trend() {
            self.par.push(b0);
        }
        self.par.extend_from_slice(&init_season);
        self.lower.resize(n_par, f64::NEG_INFINITY);
        self.upper.resize(n_par, f64::INFINITY);

        let nm = BoundedNelderMead {
            tol_std: self.opts.tolerance,
            max_iter: self.opts.max_iter,
        };
        let ring = &mut self.ring;
        let mut objective = |v: &[f64]| -> f64 {
            let Some((smooth, l0, b0)) = unpack(spec, m, v, ring) else {
                return f64::INFINITY;
            };
            let r = run(spec, y, smooth, l0, b0, ring);
            neg2loglik(spec, n, &r)
        };
        let mut par = std::mem::take(&mut self.par);
        let steps = &mut self.steps;
        steps.clear();
        initial_steps(spec, m, &par, steps);
        // Warm start: the optimum of the nested or sibling form fitted before, when it is
        // better than the default start.
        if let Some(warm) = warm_start(&self.optima, spec, par[n_smooth - 1])
            && warm.len() == par.len()
            && objective(&warm) < objective(&par)
        {
            par.copy_from_slice(&warm);
        }
        let (lik, _) = nm.minimize(
            &mut objective,
            &mut par,
            steps,
            &self.lower,
            &self.upper,
            &mut self.nm,
        );
        let result = if lik.is_finite() {
            unpack(spec, m, &par, &mut self.ring).map(|(smooth, l0, b0)| {
                let r = run(spec, y, smooth, l0, b0, &mut self.ring);
                let lik = neg2loglik(spec, n, &r);
                let k = n_par + 1;
                let (kf, nf) = (k as f64, n as f64);
                let aic = lik + 2.0 * kf;
                let aicc = if n > k + 1 {
                    aic + 2.0 * kf * (kf + 1.0) / (nf - kf - 1.0)
                } else {
                    f64::INFINITY
                };
                let bic = lik + nf.ln() * kf;
                Fit {
                    spec,
                    m,
                    smooth,
                    level: r.level,
                    slope: r.slope,
                    season: if spec.has_season() {
                        self.ring.clone()
                    } else {
                        Vec::new()
                    },
                    sse: r.sse,
                    lik,
                    aic,
                    aicc,
                    bic,
                    n_params: k,
                }
            })
        } else {
            None
        };
        if result.as_ref().is_some_and(|f| f.lik.is_finite()) {
            self.optima.push((spec, par.clone()));
        }
        self.par = par;
        result.filter(|f| f.lik.is_finite())
    }
}

/// A starting point for `spec` from the optima of forms already fitted: the undamped form's
/// optimum with `phi_start` inserted for a damped trend, or the additive-error form's optimum
/// for a multiplicative error (same parameter layout). `None` when neither was fitted.
fn warm_start(optima: &[(EtsSpec, Vec<f64>)], spec: EtsSpec, phi_start: f64) -> Option<Vec<f64>> {
    let find = |want: EtsSpec| optima.iter().find(|(s, _)| *s == want).map(|(_, p)| p);
    if spec.trend == TrendType::Damped {
        let undamped = EtsSpec {
            trend: TrendType::Additive,
            ..spec
        };
        let p = find(undamped)?;
        let at = undamped.n_smoothing();
        let mut v = Vec::with_capacity(p.len() + 1);
        v.extend_from_slice(&p[..at]);
        v.push(phi_start);
        v.extend_from_slice(&p[at..]);
        return Some(v);
    }
    if spec.error == ErrorType::Multiplicative && spec.season != SeasonType::Multiplicative {
        return find(EtsSpec {
            error: ErrorType::Additive,
            ..spec
        })
        .cloned();
    }
    None
}

/// Level and slope at t = 0 from the first values of the (adjusted) series: their mean, or
/// the least-squares line through them (perturbed away from `l0 + b0 = 0` as R does).
fn level_slope(head: &[f64], trend: bool) -> (f64, f64) {
    if trend {
        let (mut a, mut b) = super::linear_fit(head);
        if (a + b).abs() < 1e-8 {
            a *= 1.0 + 1e-3;
            b *= 1.0 - 1e-3;
        }
        (a, b)
    } else {
        (head.iter().sum::<f64>() / head.len() as f64, 0.0)
    }
}

/// Reads a parameter vector `[alpha, beta?, gamma?, phi?, l0, b0?, s_1 .. s_{m-1}]` into the
/// smoothing parameters and initial states (`ring` receives the `m` seasonal states in time
/// order; `s_0` makes them sum to 0, or to `m` when multiplicative). `None` when the
/// parameters break R's bounds (beta <= alpha, gamma <= 1 - alpha), admissibility, or give a
/// non-positive multiplicative seasonal state.
fn unpack(spec: EtsSpec, m: usize, v: &[f64], ring: &mut Vec<f64>) -> Option<(Smooth, f64, f64)> {
    let mut i = 0;
    let mut next = || {
        i += 1;
        v[i - 1]
    };
    let alpha = next();
    let beta = if spec.has_trend() { next() } else { 0.0 };
    let gamma = if spec.has_season() { next() } else { 0.0 };
    let phi = if spec.trend == TrendType::Damped {
        next()
    } else {
        1.0
    };
    let l0 = next();
    let b0 = if spec.has_trend() { next() } else { 0.0 };
    if beta > alpha || gamma > 1.0 - alpha {
        return None;
    }
    ring.clear();
    if spec.has_season() {
        if !admissible(alpha, beta, Some(gamma), phi, m) {
            return None;
        }
        let free = &v[v.len() - (m - 1)..];
        let mult = spec.season == SeasonType::Multiplicative;
        let total = if mult { m as f64 } else { 0.0 };
        ring.push(total - free.iter().sum::<f64>());
        ring.extend_from_slice(free);
        if mult && ring.iter().any(|s| *s <= 0.0) {
            return None;
        }
    }
    Some((
        Smooth {
            alpha,
            beta,
            gamma,
            phi,
        },
        l0,
        b0,
    ))
}

/// Seasonal indices in time order by classical decomposition of the whole series
/// (statsmodels' `seasonal_decompose`, as statsforecast uses it): centred moving average
/// trend, mean detrended value per cycle position, normalised to mean 0 (additive) or 1.
fn decompose_seasonal(y: &[f64], m: usize, mult: bool) -> Vec<f64> {
    let n = y.len();
    let half = m / 2;
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in half..n - half {
        let trend = if m.is_multiple_of(2) {
            let inner: f64 = y[t + 1 - half..t + half].iter().sum();
            (0.5 * y[t - half] + inner + 0.5 * y[t + half]) / m as f64
        } else {
            y[t - half..=t + half].iter().sum::<f64>() / m as f64
        };
        let d = if mult { y[t] / trend } else { y[t] - trend };
        if d.is_finite() {
            sums[t % m] += d;
            counts[t % m] += 1;
        }
    }
    let mut avg: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| if *c > 0 { s / *c as f64 } else { 0.0 })
        .collect();
    let mean = avg.iter().sum::<f64>() / m as f64;
    for a in &mut avg {
        if mult {
            *a /= mean;
        } else {
            *a -= mean;
        }
    }
    (0..n).map(|t| avg[t % m]).collect()
}

/// Seasonal indices for series shorter than three cycles (R's and statsforecast's
/// `initstate`): regression on `1, t, sin(2 pi t / m), cos(2 pi t / m)` (`t = 1..n`; no sine
/// for `m = 2`), then the series minus (or divided by) the fitted line.
fn fourier_seasonal(y: &[f64], m: usize, mult: bool) -> Vec<f64> {
    let n = y.len();
    let w = 2.0 * std::f64::consts::PI / m as f64;
    let with_sin = m > 2;
    let k = if with_sin { 4 } else { 3 };
    let row = |t: f64| -> [f64; 4] {
        if with_sin {
            [1.0, t, (w * t).sin(), (w * t).cos()]
        } else {
            [1.0, t, (w * t).cos(), 0.0]
        }
    };
    let mut xtx = [[0.0; 4]; 4];
    let mut xty = [0.0; 4];
    for (i, v) in y.iter().enumerate() {
        let r = row((i + 1) as f64);
        for a in 0..k {
            xty[a] += r[a] * v;
            for b in 0..k {
                xtx[a][b] += r[a] * r[b];
            }
        }
    }
    let coef = solve_small(&mut xtx, &mut xty, k);
    (0..n)
        .map(|i| {
            let t = (i + 1) as f64;
            let line = coef[0] + coef[1] * t;
            if mult { y[i] / line } else { y[i] - line }
        })
        .collect()
}

/// Solves the `k x k` system by Gaussian elimination with partial pivoting; a singular
/// pivot leaves that coefficient 0.
fn solve_small(a: &mut [[f64; 4]; 4], b: &mut [f64; 4], k: usize) -> [f64; 4] {
    for col in 0..k {
        let piv = (col..k)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .unwrap_or(col);
        a.swap(col, piv);
        b.swap(col, piv);
        let p = a[col][col];
        if p.abs() < 1e-300 {
            continue;
        }
        let pivot_row = a[col];
        for r in col + 1..k {
            let f = a[r][col] / p;
            for (v, pv) in a[r][col..k].iter_mut().zip(&pivot_row[col..k]) {
                *v -= f * pv;
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = [0.0; 4];
    for r in (0..k).rev() {
        let p = a[r][r];
        if p.abs() < 1e-300 {
            continue;
        }
        let s: f64 = (r + 1..k).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / p;
    }
    x
}

impl EtsModel {
    /// Variance of the one-step errors, `sigma^2` (infinite if that overflows).
    pub fn sigma2(&self) -> f64 {
        self.sigma * self.sigma
    }

    /// Point forecasts for `h` steps with 80% and 95% prediction intervals.
    ///
    /// Intervals: additive error with no or additive season (Hyndman et al. 2008 class 1):
    /// exact normal, variance `sigma2 (1 + sum_{j<h} c_j^2)`, `c_j = alpha + beta (phi + ..
    /// + phi^j) + gamma [j mod m = 0]`. Multiplicative error with no or additive season
    /// (class 2): the exact variance of their section 6.4, normal quantiles. Multiplicative
    /// error and season (class 3): quantiles of 2000 simulated paths with a fixed seed
    /// (deterministic). A [`Fallback::TooShort`] model fitted to one value has no intervals;
    /// a [`Fallback::Constant`] one has zero-width intervals.
    ///
    /// Errors: `h == 0`; a model whose fields are inconsistent (e.g. edited after
    /// deserialising: seasonal states not of length `m`, non-finite values, `model` not the
    /// name of `spec`).
    pub fn forecast(&self, h: usize) -> Result<Forecast, EtsError> {
        if h == 0 {
            return Err(ForecastError::ZeroHorizon.into());
        }
        self.check()?;
        let m = self.m.max(1);
        let mut mean = Vec::with_capacity(h);
        let mut phi_sum = 0.0;
        let mut phi_pow = 1.0;
        for k in 0..h {
            phi_pow *= self.phi;
            phi_sum += phi_pow;
            let q = self.level + phi_sum * self.slope;
            mean.push(match self.spec.season {
                SeasonType::None => q,
                SeasonType::Additive => q + self.season[k % m],
                SeasonType::Multiplicative => q * self.season[k % m],
            });
        }
        if self.fallback == Some(Fallback::TooShort) && self.n_obs < 2 {
            return Ok(Forecast::point(mean));
        }
        let mult_e = self.spec.error == ErrorType::Multiplicative;
        if mult_e && self.spec.season == SeasonType::Multiplicative {
            return Ok(self.simulated_intervals(mean));
        }
        // c_j for j = 1..h-1.
        let mut c = Vec::with_capacity(h);
        let (mut phi_sum, mut phi_pow) = (0.0, 1.0);
        for j in 1..h {
            phi_pow *= self.phi;
            phi_sum += phi_pow;
            let seasonal = if self.spec.season != SeasonType::None && j % m == 0 {
                self.gamma
            } else {
                0.0
            };
            c.push(self.alpha + self.beta * phi_sum + seasonal);
        }
        let mut sd = Vec::with_capacity(h);
        if mult_e {
            // In units of the largest |mean| so that squares cannot overflow.
            let unit = mean.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
            let unit = if unit > 0.0 { unit } else { 1.0 };
            let s2 = self.sigma2();
            let mut theta: Vec<f64> = Vec::with_capacity(h);
            for k in 0..h {
                let mu = mean[k] / unit;
                let mut t = mu * mu;
                for j in 1..=k {
                    t += s2 * c[j - 1] * c[j - 1] * theta[k - j];
                }
                theta.push(t);
                let var = (1.0 + s2) * t - mu * mu;
                sd.push(var.max(0.0).sqrt() * unit);
            }
        } else {
            let mut acc = 1.0;
            for k in 0..h {
                if k > 0 {
                    acc += c[k - 1] * c[k - 1];
                }
                sd.push(self.sigma * acc.sqrt());
            }
        }
        Ok(Forecast::with_sd(mean, &sd))
    }

    fn check(&self) -> Result<(), EtsError> {
        let bad =
            |field: &'static str, reason: String| Err(EtsError::InvalidModel { field, reason });
        if self.model != self.spec.name() {
            return bad(
                "model",
                format!(
                    "{:?} is not the name of spec {}",
                    self.model,
                    self.spec.name()
                ),
            );
        }
        if self.m == 0 {
            return bad("m", "must be at least 1".into());
        }
        let want = if self.spec.has_season() { self.m } else { 0 };
        if self.season.len() != want {
            return bad(
                "season",
                format!("has {} states, {} expected", self.season.len(), want),
            );
        }
        for (field, v) in [
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("gamma", self.gamma),
            ("phi", self.phi),
            ("level", self.level),
            ("slope", self.slope),
            ("sigma", self.sigma),
        ] {
            if !v.is_finite() {
                return bad(field, format!("is not finite ({v})"));
            }
        }
        if self.sigma < 0.0 {
            return bad("sigma", format!("is negative ({})", self.sigma));
        }
        if let Some((i, v)) = self.season.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return bad("season", format!("state {i} is not finite ({v})"));
        }
        Ok(())
    }

    /// Class 3 intervals: empirical quantiles of simulated sample paths.
    fn simulated_intervals(&self, mean: Vec<f64>) -> Forecast {
        let h = mean.len();
        let m = self.m.max(1);
        let sd = self.sigma;
        let mut rng = SplitMix(SIM_SEED);
        let mut paths = vec![0.0; h * N_SIM];
        let mut season = self.season.clone();
        for path in 0..N_SIM {
            season.copy_from_slice(&self.season);
            let (mut l, mut b) = (self.level, self.slope);
            for k in 0..h {
                let phib = self.phi * b;
                let q = l + phib;
                let s = season[k % m];
                let eps = sd * rng.normal();
                paths[k * N_SIM + path] = q * s * (1.0 + eps);
                let new_l = q * (1.0 + self.alpha * eps);
                if self.spec.has_trend() {
                    b = phib + (self.beta / self.alpha) * (new_l - l - phib);
                }
                season[k % m] = s * (1.0 + self.gamma * eps);
                l = new_l;
            }
        }
        let mut bands = [
            Vec::with_capacity(h),
            Vec::with_capacity(h),
            Vec::with_capacity(h),
            Vec::with_capacity(h),
        ];
        for k in 0..h {
            let step = &mut paths[k * N_SIM..(k + 1) * N_SIM];
            step.sort_unstable_by(f64::total_cmp);
            for (band, p) in bands.iter_mut().zip([0.1, 0.9, 0.025, 0.975]) {
                band.push(quantile_sorted(step, p));
            }
        }
        let [lower80, upper80, lower95, upper95] = bands;
        Forecast {
            mean,
            lower80: Some(lower80),
            upper80: Some(upper80),
            lower95: Some(lower95),
            upper95: Some(upper95),
        }
    }
}

/// Linear-interpolation quantile of sorted values (numpy's default).
fn quantile_sorted(v: &[f64], p: f64) -> f64 {
    let pos = p * (v.len() - 1) as f64;
    let i = pos.floor() as usize;
    let frac = pos - i as f64;
    if i + 1 < v.len() {
        v[i] + frac * (v[i + 1] - v[i])
    } else {
        v[i]
    }
}

/// SplitMix64 generator with Box-Muller normals (deterministic simulation).
struct SplitMix(u64);

impl SplitMix {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Initial simplex steps: absolute for the smoothing parameters, relative to the series'
/// scale (about 1 after the rescaling in `auto_ets`) for the states.
fn initial_steps(spec: EtsSpec, m: usize, par: &[f64], steps: &mut Vec<f64>) {
    steps.push(0.1);
    if spec.has_trend() {
        steps.push((0.5 * par[1]).max(0.005));
    }
    if spec.has_season() {
        steps.push(0.05);
    }
    if spec.trend == TrendType::Damped {
        steps.push(0.02);
    }
    let k = spec.n_smoothing();
    steps.push(0.05 * par[k].abs().max(0.1));
    if spec.has_trend() {
        steps.push((0.1 * par[k + 1].abs()).max(1e-3));
    }
    if m > 1 && spec.has_season() {
        for s in &par[par.len() - (m - 1)..] {
            let base = if spec.season == SeasonType::Multiplicative {
                (s - 1.0).abs()
            } else {
                s.abs()
            };
            steps.push((0.2 * base).max(0.01));
        }
    }
}
