//! L2-penalised logistic regression like scikit-learn's `LogisticRegression()` (penalty `l2`,
//! `C = 1`, intercept not penalised): binomial for two classes (one coefficient row, for the
//! second class), multinomial (softmax, one row per class) for more.
//!
//! It minimises `(1/n) Σ log-loss + ‖W‖² / (2·C·n)` by Newton's method with a backtracking line
//! search, to a much tighter tolerance than scikit-learn's lbfgs default (`tol = 1e-4`), so the
//! result is the exact optimum that scikit-learn approaches. Multinomial intercepts are centred
//! to sum to zero (the loss does not change; scikit-learn's lbfgs path keeps that sum at zero).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    Algorithm, HandleUnknown, Result, TabularError, bad_param, proba_from_scores, sigmoid,
};

/// Params of [`Algorithm::Logistic`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticParams {
    /// Inverse regularisation strength, as scikit-learn's `C`; finite and `> 0`. Default 1.0.
    #[serde(rename = "C")]
    pub c: f64,
    /// Maximum Newton iterations, `>= 1`. Default 100. Not reaching `tol` is an error
    /// ([`TabularError::NotConverged`]) unless the gradient is already at rounding level
    /// (`1000·ε·max(1, objective)`), where no step can improve the objective any more.
    pub max_iter: usize,
    /// Stop when the largest absolute gradient component of the objective above is `<= tol`;
    /// finite and `> 0`. Default 1e-10. (Not scikit-learn's lbfgs `tol`: Newton's method reaches
    /// this in a few iterations.)
    pub tol: f64,
    /// Unseen categories at predict: `"error"` (default) or `"ignore"`.
    pub handle_unknown: HandleUnknown,
}

impl Default for LogisticParams {
    fn default() -> Self {
        Self {
            c: 1.0,
            max_iter: 100,
            tol: 1e-10,
            handle_unknown: HandleUnknown::Error,
        }
    }
}

impl LogisticParams {
    pub(crate) fn validate(&self) -> Result<()> {
        let a = Algorithm::Logistic;
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(bad_param(a, "C", self.c, "a finite number > 0"));
        }
        if self.max_iter == 0 {
            return Err(bad_param(a, "max_iter", self.max_iter, "an integer >= 1"));
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return Err(bad_param(a, "tol", self.tol, "a finite number > 0"));
        }
        Ok(())
    }
}

/// Coefficient rows (one for two classes, one per class otherwise) and intercepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogisticModel {
    pub(crate) coef: Vec<Vec<f64>>,
    pub(crate) intercept: Vec<f64>,
}

impl LogisticModel {
    pub(crate) fn validate(&self, width: usize, n_classes: Option<usize>) -> Result<()> {
        let rows = match n_classes {
            Some(2) => 1,
            Some(k) => k,
            None => 0,
        };
        if rows == 0
            || self.coef.len() != rows
            || self.intercept.len() != rows
            || self.coef.iter().any(|r| r.len() != width)
        {
            return Err(TabularError::InvalidModel(format!(
                "logistic model shape does not fit {width} design columns and {n_classes:?} classes"
            )));
        }
        Ok(())
    }

    pub(crate) fn predict_proba(&self, x: &[Vec<f64>], n: usize) -> Vec<Vec<f64>> {
        (0..n)
            .into_par_iter()
            .map(|i| {
                let z: Vec<f64> = self
                    .coef
                    .iter()
                    .zip(&self.intercept)
                    .map(|(w, b)| b + w.iter().zip(x).map(|(wj, col)| wj * col[i]).sum::<f64>())
                    .collect();
                proba_from_scores(&z)
            })
            .collect()
    }
}

/// `log(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// The problem: row-major design with a trailing 1 column, codes, and sizes.
struct Problem<'a> {
    rows: Vec<f64>,
    codes: &'a [usize],
    n: usize,
    /// Design width plus one (intercept).
    d: usize,
    /// Score columns: 1 (binomial) or the number of classes.
    m: usize,
    lambda: f64,
}

impl Problem<'_> {
    fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * self.d..(i + 1) * self.d]
    }

    fn scores(&self, theta: &[f64], x: &[f64]) -> Vec<f64> {
        (0..self.m)
            .map(|k| {
                theta[k * self.d..(k + 1) * self.d]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| a * b)
                    .sum()
            })
            .collect()
    }

    /// Residuals `p - y` per score column and the row's loss.
    fn residuals(&self, z: &[f64], code: usize) -> (Vec<f64>, f64) {
        if self.m == 1 {
            let y = if code == 1 { 1.0 } else { 0.0 };
            (vec![sigmoid(z[0]) - y], softplus(z[0]) - y * z[0])
        } else {
            let p = proba_from_scores(z);
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            let r = p
                .iter()
                .enumerate()
                .map(|(k, pk)| pk - if k == code { 1.0 } else { 0.0 })
                .collect();
            (r, lse - z[code])
        }
    }

    fn penalty(&self, theta: &[f64]) -> f64 {
        let mut s = 0.0;
        for k in 0..self.m {
            s += theta[k * self.d..(k + 1) * self.d - 1]
                .iter()
                .map(|w| w * w)
                .sum::<f64>();
        }
        0.5 * self.lambda * s
    }

    fn objective(&self, theta: &[f64]) -> f64 {
        let loss: f64 = (0..self.n)
            .into_par_iter()
            .map(|i| {
                self.residuals(&self.scores(theta, self.row(i)), self.codes[i])
                    .1
            })
            .sum();
        (loss + self.penalty(theta)) / self.n as f64
    }

    /// Gradient and Hessian (dense, `(m·d)²`) of the objective at `theta`.
    fn derivatives(&self, theta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (d, m) = (self.d, self.m);
        let size = m * d;
        let chunk = 1024;
        let (mut g, mut h) = (0..self.n.div_ceil(chunk))
            .into_par_iter()
            .map(|c| {
                let mut g = vec![0.0; size];
                let mut h = vec![0.0; size * size];
                let mut w = vec![0.0; m * m];
                for i in c * chunk..((c + 1) * chunk).min(self.n) {
                    let x = self.row(i);
                    let z = self.scores(theta, x);
                    let (r, _) = self.residuals(&z, self.codes[i]);
                    if m == 1 {
                        let p = sigmoid(z[0]);
                        w[0] = p * (1.0 - p);
                    } else {
                        let p = proba_from_scores(&z);
                        for k in 0..m {
                            for l in k..m {
                                w[k * m + l] = p[k] * (if k == l { 1.0 } else { 0.0 } - p[l]);
                            }
                        }
                    }
                    for k in 0..m {
                        for (a, xa) in x.iter().enumerate() {
                            g[k * d + a] += r[k] * xa;
                        }
                    }
                    for a in 0..d {
                        for b in a..d {
                            let xab = x[a] * x[b];
                            for k in 0..m {
                                for l in k..m {
                                    h[(k * d + a) * size + l * d + b] += w[k * m + l] * xab;
                                }
                            }
                        }
                    }
                }
                (g, h)
            })
            .reduce(
                || (vec![0.0; size], vec![0.0; size * size]),
                |(mut g1, mut h1), (g2, h2)| {
                    g1.iter_mut().zip(&g2).for_each(|(a, b)| *a += b);
                    h1.iter_mut().zip(&h2).for_each(|(a, b)| *a += b);
                    (g1, h1)
                },
            );
        // Fill the rest of each symmetric block (k ≤ l, a > b), then the lower blocks.
        for k in 0..m {
            for l in k..m {
                for a in 0..d {
                    for b in 0..a {
                        h[(k * d + a) * size + l * d + b] = h[(k * d + b) * size + l * d + a];
                    }
                }
            }
        }
        for row in 0..size {
            for col in 0..row {
                if (col / d) < (row / d) {
                    h[row * size + col] = h[col * size + row];
                }
            }
        }
        for k in 0..m {
            for a in 0..d - 1 {
                let j = k * d + a;
                g[j] += self.lambda * theta[j];
                h[j * size + j] += self.lambda;
            }
        }
        let scale = 1.0 / self.n as f64;
        g.iter_mut().for_each(|v| *v *= scale);
        h.iter_mut().for_each(|v| *v *= scale);
        (g, h)
    }
}

/// Fits on the column-major design `x` and class codes in `0..n_classes` (`n_classes >= 2`).
///
/// # Errors
/// [`TabularError::NotConverged`] when `max_iter` Newton steps do not reach `tol`;
/// [`TabularError::Numerical`] when the Newton system cannot be solved.
pub(crate) fn fit(
    x: &[Vec<f64>],
    codes: &[usize],
    n_classes: usize,
    params: &LogisticParams,
) -> Result<LogisticModel> {
    let n = codes.len();
    let p = x.len();
    let d = p + 1;
    let m = if n_classes == 2 { 1 } else { n_classes };
    let mut rows = vec![1.0; n * d];
    for (j, col) in x.iter().enumerate() {
        for (i, v) in col.iter().enumerate() {
            rows[i * d + j] = *v;
        }
    }
    let prob = Problem {
        rows,
        codes,
        n,
        d,
        m,
        lambda: 1.0 / params.c,
    };
    let mut theta = vec![0.0; m * d];
    let mut f = prob.objective(&theta);
    let mut iterations = 0;
    let mut grad_max = f64::INFINITY;
    while iterations < params.max_iter {
        let (g, h) = prob.derivatives(&theta);
        grad_max = g.iter().fold(0.0, |a: f64, v| a.max(v.abs()));
        if grad_max <= params.tol {
            break;
        }
        iterations += 1;
        let step = newton_step(h, &g, m * d).ok_or_else(|| TabularError::Numerical {
            algorithm: Algorithm::Logistic,
            reason: "Newton system is not positive definite".into(),
        })?;
        let slope: f64 = g.iter().zip(&step).map(|(a, b)| a * b).sum();
        let mut t = 1.0;
        let mut accepted = false;
        for _ in 0..60 {
            let trial: Vec<f64> = theta.iter().zip(&step).map(|(a, s)| a + t * s).collect();
            let ft = prob.objective(&trial);
            if ft <= f + 1e-4 * t * slope {
                theta = trial;
                f = ft;
                accepted = true;
                break;
            }
            t *= 0.5;
        }
        if !accepted {
            // No decrease is representable any more: this is the optimum to machine precision.
            let (g, _) = prob.derivatives(&theta);
            grad_max = g.iter().fold(0.0, |a: f64, v| a.max(v.abs()));
            break;
        }
    }
    if grad_max > params.tol {
        let (g, _) = prob.derivatives(&theta);
        grad_max = g.iter().fold(0.0, |a: f64, v| a.max(v.abs()));
        if grad_max > params.tol.max(1e3 * f64::EPSILON * f.abs().max(1.0)) {
            return Err(TabularError::NotConverged {
                algorithm: Algorithm::Logistic,
                iterations,
                gradient: grad_max,
                tol: params.tol,
            });
        }
    }
    let mut coef: Vec<Vec<f64>> = (0..m).map(|k| theta[k * d..k * d + p].to_vec()).collect();
    let mut intercept: Vec<f64> = (0..m).map(|k| theta[k * d + p]).collect();
    if m > 1 {
        let mean = intercept.iter().sum::<f64>() / m as f64;
        intercept.iter_mut().for_each(|b| *b -= mean);
    }
    if intercept
        .iter()
        .chain(coef.iter().flatten())
        .any(|v| !v.is_finite())
    {
        return Err(TabularError::Numerical {
            algorithm: Algorithm::Logistic,
            reason: "coefficients are not finite".into(),
        });
    }
    coef.shrink_to_fit();
    Ok(LogisticModel { coef, intercept })
}

/// Solves `H s = -g` by Cholesky, adding a growing diagonal jitter if `H` is only semi-definite
/// (the multinomial intercepts have a flat direction: adding a constant to all of them).
fn newton_step(h: Vec<f64>, g: &[f64], size: usize) -> Option<Vec<f64>> {
    let max_diag = (0..size).map(|i| h[i * size + i]).fold(0.0, f64::max);
    let mut jitter = 1e-12 * max_diag.max(1e-300);
    for _ in 0..20 {
        let mut a = h.clone();
        for i in 0..size {
            a[i * size + i] += jitter;
        }
        if let Some(s) = cholesky_solve(&mut a, g, size) {
            return Some(s);
        }
        jitter *= 100.0;
    }
    None
}

fn cholesky_solve(a: &mut [f64], g: &[f64], n: usize) -> Option<Vec<f64>> {
    for j in 0..n {
        let mut s = a[j * n + j];
        for k in 0..j {
            s -= a[j * n + k] * a[j * n + k];
        }
        if s <= 0.0 || !s.is_finite() {
            return None;
        }
        let l = s.sqrt();
        a[j * n + j] = l;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / l;
        }
    }
    let mut y: Vec<f64> = g.iter().map(|v| -v).collect();
    for i in 0..n {
        for k in 0..i {
            y[i] -= a[i * n + k] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    for i in (0..n).rev() {
        for k in i + 1..n {
            y[i] -= a[k * n + i] * y[k];
        }
        y[i] /= a[i * n + i];
    }
    Some(y)
}
