//! Least squares with intercept: ordinary (`LinearRegression`) and ridge (`Ridge`).
//!
//! Both centre the design matrix and the target (so the intercept is not penalised), take a
//! Householder QR of the centred matrix and a one-sided Jacobi SVD of its `R` factor, and solve
//! `w = V diag(s / (s² + alpha)) Uᵀ Qᵀ y`. With `alpha = 0` singular values below
//! `max(n, p) · ε · s_max` count as zero, which gives the minimum-norm solution of a
//! rank-deficient problem, as scikit-learn's `LinearRegression` (LAPACK `gelsd`) does; with
//! `alpha > 0` it is the unique ridge solution, equal to `Ridge`'s Cholesky solve.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Algorithm, HandleUnknown, Result, TabularError, bad_param};

/// Params of [`Algorithm::Linear`] (scikit-learn `LinearRegression()`, always with intercept).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearParams {
    /// Unseen categories at predict: `"error"` (default) or `"ignore"`.
    pub handle_unknown: HandleUnknown,
}

/// Params of [`Algorithm::Ridge`] (scikit-learn `Ridge()`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RidgeParams {
    /// L2 penalty on the coefficients (not the intercept); finite and `>= 0`. Default 1.0.
    pub alpha: f64,
    /// Unseen categories at predict: `"error"` (default) or `"ignore"`.
    pub handle_unknown: HandleUnknown,
}

impl Default for RidgeParams {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            handle_unknown: HandleUnknown::Error,
        }
    }
}

impl RidgeParams {
    pub(crate) fn validate(&self) -> Result<()> {
        if !(self.alpha.is_finite() && self.alpha >= 0.0) {
            return Err(bad_param(
                Algorithm::Ridge,
                "alpha",
                self.alpha,
                "a finite number >= 0",
            ));
        }
        Ok(())
    }
}

/// Coefficients over the design-matrix columns and the intercept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinearModel {
    pub(crate) coef: Vec<f64>,
    pub(crate) intercept: f64,
}

impl LinearModel {
    pub(crate) fn validate(&self, width: usize, n_classes: Option<usize>) -> Result<()> {
        if n_classes.is_some() || self.coef.len() != width {
            return Err(TabularError::InvalidModel(format!(
                "linear model with {} coefficients for {width} design columns",
                self.coef.len()
            )));
        }
        Ok(())
    }

    pub(crate) fn predict(&self, x: &[Vec<f64>], n: usize) -> Vec<f64> {
        let mut out = vec![self.intercept; n];
        for (col, w) in x.iter().zip(&self.coef) {
            for (o, v) in out.iter_mut().zip(col) {
                *o += w * v;
            }
        }
        out
    }
}

/// Solves the centred least-squares problem with L2 penalty `alpha` (0 = ordinary least squares).
///
/// `x` is column-major with finite values, `y` finite, both with the same number of rows.
///
/// # Errors
/// [`TabularError::Numerical`] if the solution is not finite (only possible with overflowing input).
pub(crate) fn fit_least_squares(
    x: &[Vec<f64>],
    y: &[f64],
    alpha: f64,
    algorithm: Algorithm,
) -> Result<LinearModel> {
    let n = y.len();
    let p = x.len();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n as f64;
    let x_mean: Vec<f64> = x.iter().map(|c| mean(c)).collect();
    let y_mean = mean(y);
    let mut a: Vec<Vec<f64>> = x
        .par_iter()
        .zip(&x_mean)
        .map(|(c, m)| c.iter().map(|v| v - m).collect())
        .collect();
    let mut b: Vec<f64> = y.iter().map(|v| v - y_mean).collect();

    let k = householder_qr(&mut a, &mut b);
    // R is k × p (upper trapezoidal), stored in the first k entries of each column.
    let mut r: Vec<Vec<f64>> = a
        .into_iter()
        .map(|mut c| {
            c.truncate(k);
            c
        })
        .collect();
    let c = &b[..k];
    let v = jacobi_svd(&mut r);
    let sigma: Vec<f64> = r.iter().map(|col| norm(col)).collect();
    let s_max = sigma.iter().copied().fold(0.0, f64::max);
    if !s_max.is_finite() || c.iter().any(|v| !v.is_finite()) {
        return Err(TabularError::Numerical {
            algorithm,
            reason: "the decomposition overflowed (feature or target values too large)".into(),
        });
    }
    let cutoff = n.max(p) as f64 * f64::EPSILON * s_max;
    let mut coef = vec![0.0; p];
    for (j, col) in r.iter().enumerate() {
        let s = sigma[j];
        if s == 0.0 || (alpha == 0.0 && s <= cutoff) {
            continue;
        }
        let factor = dot(col, c) / (s * s + alpha);
        for (w, vij) in coef.iter_mut().zip(&v[j]) {
            *w += factor * vij;
        }
    }
    let intercept = y_mean - dot(&coef, &x_mean);
    if !intercept.is_finite() || coef.iter().any(|w| !w.is_finite()) {
        return Err(TabularError::Numerical {
            algorithm,
            reason: "least-squares solution is not finite (input values too large?)".into(),
        });
    }
    Ok(LinearModel { coef, intercept })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// In-place Householder QR of the column-major `a` (n × p), applying `Qᵀ` to `b` too.
/// Returns `k = min(n, p)`: afterwards the first `k` entries of each column hold `R`.
fn householder_qr(a: &mut [Vec<f64>], b: &mut [f64]) -> usize {
    let n = b.len();
    let p = a.len();
    let k = n.min(p);
    for j in 0..k {
        let (head, tail) = a.split_at_mut(j + 1);
        let col = &mut head[j];
        let norm_x = norm(&col[j..]);
        if norm_x == 0.0 {
            continue;
        }
        let alpha = if col[j] > 0.0 { -norm_x } else { norm_x };
        let mut v: Vec<f64> = col[j..].to_vec();
        v[0] -= alpha;
        let vv = dot(&v, &v);
        col[j] = alpha;
        col[j + 1..].iter_mut().for_each(|x| *x = 0.0);
        if vv == 0.0 {
            continue;
        }
        let reflect = |t: &mut [f64]| {
            let f = 2.0 * dot(&v, t) / vv;
            for (ti, vi) in t.iter_mut().zip(&v) {
                *ti -= f * vi;
            }
        };
        tail.par_iter_mut().for_each(|c| reflect(&mut c[j..]));
        reflect(&mut b[j..]);
    }
    k
}

/// One-sided Jacobi SVD: rotates the columns of `r` until they are mutually orthogonal
/// (`r ← r V`, so column `j` becomes `s_j u_j`) and returns the columns of `V`.
fn jacobi_svd(r: &mut [Vec<f64>]) -> Vec<Vec<f64>> {
    let p = r.len();
    let mut v: Vec<Vec<f64>> = (0..p)
        .map(|j| (0..p).map(|i| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for _sweep in 0..100 {
        let mut rotated = false;
        for i in 0..p {
            for j in i + 1..p {
                let alpha = dot(&r[i], &r[i]);
                let beta = dot(&r[j], &r[j]);
                let gamma = dot(&r[i], &r[j]);
                if gamma == 0.0 || gamma.abs() <= f64::EPSILON * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let cs = 1.0 / (1.0 + t * t).sqrt();
                let sn = cs * t;
                rotate(r, i, j, cs, sn);
                rotate(&mut v, i, j, cs, sn);
            }
        }
        if !rotated {
            break;
        }
    }
    v
}

/// Columns `(i, j) ← (cs·i − sn·j, sn·i + cs·j)`.
fn rotate(m: &mut [Vec<f64>], i: usize, j: usize, cs: f64, sn: f64) {
    let (head, tail) = m.split_at_mut(j);
    for (a, b) in head[i].iter_mut().zip(tail[0].iter_mut()) {
        let (x, y) = (*a, *b);
        *a = cs * x - sn * y;
        *b = sn * x + cs * y;
    }
}
