//! Additive-error exponential smoothing without seasonality (ETS ANN, AAN, AAdN), fitted like
//! R's `forecast::ets` (which the M4 benchmarks' `ses` and `holt` call): smoothing parameters
//! *and* initial states chosen by minimising the in-sample mean squared one-step error.
//! Two optimisers: a faithful port of R's procedure (default; reproduces the M4 figures) and
//! a coarse grid followed by Nelder-Mead.

use super::Forecast;
use super::optim::{nelder_mead, nmmin_r as nelder_mead_r};

/// Trend component of an exponential smoothing model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Simple exponential smoothing.
    None,
    /// Holt's linear trend.
    Linear,
    /// Damped trend.
    Damped,
}

const ALPHA_MIN: f64 = 1e-4;
const ALPHA_MAX: f64 = 0.9999;
const BETA_MIN: f64 = 1e-4;
const PHI_MIN: f64 = 0.8;
const PHI_MAX: f64 = 0.98;

/// A fitted exponential smoothing model.
#[derive(Debug, Clone, PartialEq)]
pub struct EtsFit {
    pub trend: Trend,
    pub alpha: f64,
    /// Trend smoothing (ETS parameterisation, `beta <= alpha`); 0 without trend.
    pub beta: f64,
    /// Damping; 1 for an undamped trend.
    pub phi: f64,
    /// Final level and trend after the last observation.
    pub level: f64,
    pub slope: f64,
    /// In-sample sum of squared one-step errors.
    pub sse: f64,
    /// One-step error variance (SSE / (n - number of estimated parameters)); NaN when
    /// there are no more observations than parameters.
    pub sigma2: f64,
}

#[derive(Clone, Copy)]
struct Params {
    alpha: f64,
    beta: f64,
    phi: f64,
    l0: f64,
    b0: f64,
}

/// Runs the recursions; returns (SSE, final level, final slope).
fn run(x: &[f64], p: Params) -> (f64, f64, f64) {
    let (mut l, mut b, mut sse) = (p.l0, p.b0, 0.0);
    for &y in x {
        let e = y - (l + p.phi * b);
        l = l + p.phi * b + p.alpha * e;
        b = p.phi * b + p.beta * e;
        sse += e * e;
    }
    (sse, l, b)
}

fn admissible(trend: Trend, p: &Params) -> bool {
    let alpha_ok = (ALPHA_MIN..=ALPHA_MAX).contains(&p.alpha);
    let beta_ok = trend == Trend::None || (BETA_MIN..=p.alpha).contains(&p.beta);
    let phi_ok = trend != Trend::Damped || (PHI_MIN..=PHI_MAX).contains(&p.phi);
    alpha_ok && beta_ok && phi_ok && p.l0.is_finite() && p.b0.is_finite()
}

/// How the smoothing parameters and initial states are estimated. Both minimise the in-sample
/// sum of squared one-step errors within the usual bounds (alpha in [1e-4, 0.9999],
/// beta in [1e-4, alpha], phi in [0.8, 0.98]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Optimizer {
    /// R `forecast::ets` as the M4 benchmarks ran it (forecast 8.2): the same starting values
    /// (alpha 0.5, beta 0.05, phi 0.978, states from a regression on the first ten
    /// observations) and R's Nelder-Mead (`nmmin`), local optima included. Reproduces the
    /// published M4 figures of SES, Holt, Damped and Theta. (forecast 8.3 and later start at
    /// alpha 0.2, beta 0.02 and often end in other local optima.)
    /// Falls back to [`Optimizer::GridNelderMead`] if R's procedure cannot start.
    #[default]
    RCompatible,
    /// A coarse grid over the smoothing parameters, then Nelder-Mead with per-coordinate
    /// steps over parameters and initial states, restarted once. Usually a lower SSE.
    GridNelderMead,
}

/// Fits the model to `x` (finite, non-empty) with [`Optimizer::RCompatible`].
/// Trend models need at least five observations and fall back to simple exponential smoothing
/// below that.
pub fn fit_ets(x: &[f64], trend: Trend) -> EtsFit {
    fit_ets_with(x, trend, Optimizer::RCompatible)
}

/// Fits the model to `x` (finite, non-empty) with the given optimiser.
pub fn fit_ets_with(x: &[f64], trend: Trend, optimizer: Optimizer) -> EtsFit {
    let trend = if x.len() < 5 { Trend::None } else { trend };
    if optimizer == Optimizer::RCompatible
        && let Some(fit) = fit_r_compatible(x, trend)
    {
        return fit;
    }
    fit_grid(x, trend)
}

/// Heuristic initial states of `forecast::initstate` for non-seasonal models: the mean of the
/// first ten observations, or a regression line through them (level at t = 0 and slope).
fn initial_states(x: &[f64], trend: Trend) -> (f64, f64) {
    let maxn = 10usize.min(x.len());
    if trend == Trend::None {
        (x[..maxn].iter().sum::<f64>() / maxn as f64, 0.0)
    } else {
        let (mut a, mut b) = super::linear_fit(&x[..maxn]);
        if (a + b).abs() < 1e-8 {
            a *= 1.0 + 1e-3;
            b *= 1.0 - 1e-3;
        }
        (a, b)
    }
}

/// Mean squared one-step error as `forecast`'s `etscalc` accumulates it (running mean), with
/// the same state updates (`forecast::holt` and `ses` use `opt.crit = "mse"`); infinite when
/// the parameters are outside the bounds.
fn r_mse(x: &[f64], trend: Trend, p: &Params) -> f64 {
    if !admissible(trend, p) {
        return f64::INFINITY;
    }
    let (mut l, mut b, mut amse) = (p.l0, p.b0, 0.0);
    let has_trend = trend != Trend::None;
    for (i, &y) in x.iter().enumerate() {
        let phib = if has_trend { p.phi * b } else { 0.0 };
        let q = l + phib;
        let e = y - q;
        let denom = (i + 1) as f64;
        amse = (amse * (denom - 1.0) + e * e) / denom;
        let new_l = q + p.alpha * (y - q);
        if has_trend {
            b = phib + (p.beta / p.alpha) * ((new_l - l) - phib);
        }
        l = new_l;
    }
    if amse.is_nan() { f64::INFINITY } else { amse }
}

fn fit_r_compatible(x: &[f64], trend: Trend) -> Option<EtsFit> {
    let has_trend = trend != Trend::None;
    let damped = trend == Trend::Damped;
    let (l0, b0) = initial_states(x, trend);
    // forecast 8.2's `initparam` (m = 1): alpha halfway between its bounds (at least 2e-3
    // above beta's lower bound), beta a tenth of the way from its lower bound to alpha, phi
    // 99% of the way to its upper bound.
    let alpha = (ALPHA_MIN + 0.5 * (ALPHA_MAX - ALPHA_MIN)).max(BETA_MIN + 2e-3);
    let beta = BETA_MIN + 0.1 * (alpha.min(ALPHA_MAX) - BETA_MIN);
    let phi = PHI_MIN + 0.99 * (PHI_MAX - PHI_MIN);
    let mut v = vec![alpha];
    if has_trend {
        v.push(beta);
    }
    if damped {
        v.push(phi);
    }
    v.push(l0);
    if has_trend {
        v.push(b0);
    }
    let unpack = |v: &[f64]| -> Params {
        let alpha = v[0];
        let beta = if has_trend { v[1] } else { 0.0 };
        let phi = if damped { v[2] } else { 1.0 };
        let k = 1 + usize::from(has_trend) + usize::from(damped);
        Params {
            alpha,
            beta,
            phi,
            l0: v[k],
            b0: if has_trend { v[k + 1] } else { 0.0 },
        }
    };
    let objective = |v: &[f64]| r_mse(x, trend, &unpack(v));
    let (best, value) = nelder_mead_r(&objective, &v, f64::EPSILON.sqrt(), 2000)?;
    if !value.is_finite() {
        return None;
    }
    Some(finish(x, trend, unpack(&best), best.len()))
}

/// Final states, SSE and error variance of a fitted parameter set.
fn finish(x: &[f64], trend: Trend, p: Params, n_par: usize) -> EtsFit {
    let n = x.len();
    let (sse, level, slope) = run(x, p);
    // Too few observations to estimate the error variance: no intervals.
    let sigma2 = if n > n_par {
        sse / (n - n_par) as f64
    } else {
        f64::NAN
    };
    EtsFit {
        trend,
        alpha: p.alpha,
        beta: p.beta,
        phi: p.phi,
        level,
        slope,
        sse,
        sigma2,
    }
}

fn fit_grid(x: &[f64], trend: Trend) -> EtsFit {
    let n = x.len();
    let (l_init, b_init) = initial_states(x, trend);
    let scale = {
        let mean = x.iter().sum::<f64>() / n as f64;
        let sd = (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        let s = sd.max(1e-3 * mean.abs());
        if s > 0.0 { s } else { 1.0 }
    };

    // Parameter vector: [alpha, beta?, phi?, l0, b0?].
    let has_trend = trend != Trend::None;
    let damped = trend == Trend::Damped;
    let unpack = |v: &[f64]| -> Params {
        let mut i = 0;
        let mut next = || {
            i += 1;
            v[i - 1]
        };
        let alpha = next();
        let beta = if has_trend { next() } else { 0.0 };
        let phi = if damped { next() } else { 1.0 };
        let l0 = next();
        let b0 = if has_trend { next() } else { 0.0 };
        Params {
            alpha,
            beta,
            phi,
            l0,
            b0,
        }
    };
    let pack = |p: &Params| -> Vec<f64> {
        let mut v = vec![p.alpha];
        if has_trend {
            v.push(p.beta);
        }
        if damped {
            v.push(p.phi);
        }
        v.push(p.l0);
        if has_trend {
            v.push(p.b0);
        }
        v
    };
    let objective = |v: &[f64]| -> f64 {
        let p = unpack(v);
        if !admissible(trend, &p) {
            return f64::INFINITY;
        }
        run(x, p).0
    };

    // Coarse grid over the smoothing parameters with the heuristic states.
    let alphas = [0.02, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99];
    let beta_fracs: &[f64] = if has_trend { &[0.01, 0.1, 0.5] } else { &[0.0] };
    let phis: &[f64] = if damped { &[0.85, 0.95] } else { &[1.0] };
    let mut best = Params {
        alpha: 0.5,
        beta: if has_trend { 0.05 } else { 0.0 },
        phi: if damped { 0.9 } else { 1.0 },
        l0: l_init,
        b0: b_init,
    };
    let mut best_sse = f64::INFINITY;
    for &alpha in &alphas {
        for &bf in beta_fracs {
            for &phi in phis {
                let p = Params {
                    alpha,
                    beta: (bf * alpha).max(if has_trend { BETA_MIN } else { 0.0 }),
                    phi,
                    l0: l_init,
                    b0: b_init,
                };
                let sse = run(x, p).0;
                if sse < best_sse {
                    best_sse = sse;
                    best = p;
                }
            }
        }
    }

    // Nelder-Mead over parameters and initial states, restarted once from its own optimum.
    let mut v = pack(&best);
    let steps: Vec<f64> = {
        let mut s = vec![-0.1_f64.copysign(best.alpha - 0.5)];
        if has_trend {
            s.push(0.5 * best.beta.max(BETA_MIN));
        }
        if damped {
            s.push(if best.phi > 0.9 { -0.04 } else { 0.04 });
        }
        s.push(0.1 * scale);
        if has_trend {
            s.push(0.01 * scale);
        }
        s
    };
    let mut value = objective(&v);
    if n > 1 {
        for _ in 0..2 {
            let (nv, nval) = nelder_mead(&objective, &v, &steps, 2000, 1e-10);
            if nval <= value {
                v = nv;
                value = nval;
            }
        }
    }
    finish(x, trend, unpack(&v), v.len())
}

impl EtsFit {
    /// Point forecasts and normal prediction intervals for `h` steps.
    pub fn forecast(&self, h: usize) -> Forecast {
        let mut mean = Vec::with_capacity(h);
        let mut sd = Vec::with_capacity(h);
        let (mut phi_sum, mut var_mult) = (0.0, 1.0);
        for k in 1..=h {
            phi_sum += self.phi.powi(k as i32);
            mean.push(self.level + phi_sum * self.slope);
            sd.push((self.sigma2 * var_mult).sqrt());
            // c_k for the next step's variance: alpha + beta * sum_{i=1}^{k} phi^i.
            let c = self.alpha + self.beta * phi_sum;
            var_mult += c * c;
        }
        // `with_sd` falls back to point forecasts when sigma2 is undefined (NaN).
        Forecast::with_sd(mean, &sd)
    }
}
