//! STL: seasonal-trend decomposition by loess (Cleveland, Cleveland, McRae and Terpenning,
//! "STL: A Seasonal-Trend Decomposition Procedure Based on Loess", J. Official Statistics 1990).
//!
//! The series is split additively into trend, seasonal and remainder parts by an inner loop of
//! loess smoothers (cycle-subseries smoothing, a low-pass filter, trend smoothing), optionally
//! wrapped in an outer loop of robustness weights. Defaults and iteration counts are those of
//! statsmodels' `STL` (degree-1 loess everywhere, every point smoothed: jumps of 1), which the
//! tests compare against.

use super::ForecastError;

/// Parameters of one STL decomposition. [`StlParams::new`] gives statsmodels' defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StlParams {
    /// Seasonal period (at least 2).
    pub period: usize,
    /// Span of the seasonal (cycle-subseries) smoother: odd, at least 3. Default 7.
    pub seasonal: usize,
    /// Span of the trend smoother: odd, at least 3 and greater than `period`. `None` is the
    /// smallest odd integer not below `1.5 * period / (1 - 1.5 / seasonal)`.
    pub trend: Option<usize>,
    /// Span of the low-pass filter's loess: odd, at least 3 and greater than `period`.
    /// `None` is the smallest odd integer greater than `period`.
    pub low_pass: Option<usize>,
    /// Robust fitting: 15 outer iterations of bisquare weights on the remainder (2 inner
    /// iterations each) instead of 5 inner iterations without weights.
    pub robust: bool,
}

impl StlParams {
    /// statsmodels' defaults for `period`: seasonal span 7, derived trend and low-pass spans,
    /// not robust.
    pub fn new(period: usize) -> Self {
        Self {
            period,
            seasonal: 7,
            trend: None,
            low_pass: None,
            robust: false,
        }
    }

    /// The trend span actually used.
    pub fn trend_span(&self) -> usize {
        self.trend.unwrap_or_else(|| {
            let t = (1.5 * self.period as f64 / (1.0 - 1.5 / self.seasonal as f64)).ceil() as usize;
            t + usize::from(t.is_multiple_of(2))
        })
    }

    /// The low-pass span actually used.
    pub fn low_pass_span(&self) -> usize {
        self.low_pass.unwrap_or_else(|| {
            let l = self.period + 1;
            l + usize::from(l.is_multiple_of(2))
        })
    }

    fn validate(&self, n: usize) -> Result<(), ForecastError> {
        let invalid = |parameter: &'static str, reason: String| {
            Err(ForecastError::InvalidParameter { parameter, reason })
        };
        if self.period < 2 {
            return invalid("period", format!("is {}, must be at least 2", self.period));
        }
        if self.seasonal < 3 || self.seasonal.is_multiple_of(2) {
            return invalid(
                "seasonal",
                format!("is {}, must be odd and at least 3", self.seasonal),
            );
        }
        for (parameter, span) in [
            ("trend", self.trend_span()),
            ("low_pass", self.low_pass_span()),
        ] {
            if span < 3 || span.is_multiple_of(2) || span <= self.period {
                return invalid(
                    parameter,
                    format!(
                        "is {span}, must be odd, at least 3 and greater than the period {}",
                        self.period
                    ),
                );
            }
        }
        if n < 2 * self.period {
            return Err(ForecastError::TooShort {
                len: n,
                needed: 2 * self.period,
                what: "STL (two full cycles of the period)",
            });
        }
        Ok(())
    }
}

/// An additive decomposition `x = trend + seasonal + remainder`, each of the series' length.
#[derive(Debug, Clone, PartialEq)]
pub struct Stl {
    pub trend: Vec<f64>,
    pub seasonal: Vec<f64>,
    pub remainder: Vec<f64>,
    /// Final robustness weights (all 1 without `robust`).
    pub weights: Vec<f64>,
}

/// Decomposes `x` with STL.
///
/// Errors: [`ForecastError::EmptyHistory`] / [`ForecastError::NonFinite`] for bad data,
/// [`ForecastError::InvalidParameter`] naming the span that is out of its domain, and
/// [`ForecastError::TooShort`] when `x` holds fewer than two full periods. Never panics.
pub fn stl(x: &[f64], params: &StlParams) -> Result<Stl, ForecastError> {
    super::validate_values(x)?;
    params.validate(x.len())?;
    Ok(stl_unchecked(x, params))
}

/// [`stl`] for a finite `x` of at least two periods and valid parameters.
pub(crate) fn stl_unchecked(x: &[f64], params: &StlParams) -> Stl {
    let n = x.len();
    let (inner, outer) = if params.robust { (2, 15) } else { (5, 0) };
    let spans = Spans {
        period: params.period,
        seasonal: params.seasonal,
        trend: params.trend_span(),
        low_pass: params.low_pass_span(),
    };
    let mut trend = vec![0.0; n];
    let mut seasonal = vec![0.0; n];
    let mut weights: Option<Vec<f64>> = None;
    for pass in 0..=outer {
        inner_loop(
            x,
            &spans,
            inner,
            weights.as_deref(),
            &mut seasonal,
            &mut trend,
        );
        if pass < outer {
            weights = Some(robustness_weights(x, &trend, &seasonal));
        }
    }
    let remainder = (0..n).map(|i| x[i] - seasonal[i] - trend[i]).collect();
    Stl {
        trend,
        seasonal,
        remainder,
        weights: weights.unwrap_or_else(|| vec![1.0; n]),
    }
}

struct Spans {
    period: usize,
    seasonal: usize,
    trend: usize,
    low_pass: usize,
}

/// `passes` iterations of the inner loop, updating `seasonal` and `trend` in place.
fn inner_loop(
    x: &[f64],
    s: &Spans,
    passes: usize,
    rw: Option<&[f64]>,
    seasonal: &mut [f64],
    trend: &mut [f64],
) {
    let n = x.len();
    let np = s.period;
    for _ in 0..passes {
        let detrended: Vec<f64> = (0..n).map(|i| x[i] - trend[i]).collect();
        // Cycle-subseries smoothing, extended by one period at each end.
        let cycle = cycle_subseries(&detrended, np, s.seasonal, rw);
        // Low-pass filter of the smoothed cycle-subseries: MA(np), MA(np), MA(3), loess.
        let filtered = moving_average(&moving_average(&moving_average(&cycle, np), np), 3);
        let low = loess_smooth(&filtered, s.low_pass, None);
        for i in 0..n {
            seasonal[i] = cycle[np + i] - low[i];
        }
        let deseasonalised: Vec<f64> = (0..n).map(|i| x[i] - seasonal[i]).collect();
        trend.copy_from_slice(&loess_smooth(&deseasonalised, s.trend, rw));
    }
}

/// Degree-1 loess estimate at position `xs` (1-based, may lie outside the data) from the points
/// `left..=right` (1-based) with span `len`; `None` when every weight is zero.
fn loess_at(
    y: &[f64],
    len: usize,
    xs: f64,
    left: usize,
    right: usize,
    rw: Option<&[f64]>,
    w: &mut [f64],
) -> Option<f64> {
    let n = y.len();
    let mut h = (xs - left as f64).max(right as f64 - xs);
    if len > n {
        h += ((len - n) / 2) as f64;
    }
    let (h_hi, h_lo) = (0.999 * h, 0.001 * h);
    let mut total = 0.0;
    for j in left..=right {
        let r = (j as f64 - xs).abs();
        let mut wj = if r <= h_lo {
            1.0
        } else if r <= h_hi {
            (1.0 - (r / h).powi(3)).powi(3)
        } else {
            0.0
        };
        if let Some(rw) = rw {
            wj *= rw[j - 1];
        }
        w[j - 1] = wj;
        total += wj;
    }
    if total <= 0.0 {
        return None;
    }
    for wj in &mut w[left - 1..right] {
        *wj /= total;
    }
    if h > 0.0 {
        let centre: f64 = (left..=right).map(|j| w[j - 1] * j as f64).sum();
        let spread: f64 = (left..=right)
            .map(|j| w[j - 1] * (j as f64 - centre).powi(2))
            .sum();
        if spread.sqrt() > 0.001 * (n - 1) as f64 {
            let slope = (xs - centre) / spread;
            for j in left..=right {
                w[j - 1] *= slope * (j as f64 - centre) + 1.0;
            }
        }
    }
    Some((left..=right).map(|j| w[j - 1] * y[j - 1]).sum())
}

/// Loess smoothing with span `len` at every point (a point whose weights all vanish keeps its
/// value). Without robustness weights, the weights depend only on the point's offsets to its
/// window's ends, so those of the interior points (all the same offsets) are computed once.
fn loess_smooth(y: &[f64], len: usize, rw: Option<&[f64]>) -> Vec<f64> {
    let n = y.len();
    if n < 2 {
        return y.to_vec();
    }
    let mut w = vec![0.0; n];
    let mut out = vec![0.0; n];
    let (mut left, mut right) = (1, len.min(n));
    let half = len.div_ceil(2);
    // (offset to the left end, offset to the right end, weights from the left end on).
    let mut kernel: Option<(usize, usize, Vec<f64>)> = None;
    for i in 1..=n {
        if len < n && i > half && right != n {
            left += 1;
            right += 1;
        }
        let key = (i - left, right - i);
        if let Some((a, b, k)) = &kernel
            && rw.is_none()
            && (*a, *b) == key
        {
            out[i - 1] = k.iter().zip(&y[left - 1..right]).map(|(w, v)| w * v).sum();
            continue;
        }
        out[i - 1] = match loess_at(y, len, i as f64, left, right, rw, &mut w) {
            Some(v) => {
                if rw.is_none() {
                    kernel = Some((key.0, key.1, w[left - 1..right].to_vec()));
                }
                v
            }
            None => y[i - 1],
        };
    }
    out
}

/// Smooths each cycle-subseries (the values at one position of the cycle) with loess of span
/// `span` and extends it by one value at each end. The result has `n + 2 * np` values laid out
/// like the series, starting one period before it.
fn cycle_subseries(x: &[f64], np: usize, span: usize, rw: Option<&[f64]>) -> Vec<f64> {
    let n = x.len();
    let mut out = vec![0.0; n + 2 * np];
    for j in 0..np {
        let sub: Vec<f64> = x[j..].iter().step_by(np).copied().collect();
        let sub_rw: Option<Vec<f64>> = rw.map(|r| r[j..].iter().step_by(np).copied().collect());
        let k = sub.len();
        let smooth = loess_smooth(&sub, span, sub_rw.as_deref());
        let mut w = vec![0.0; k];
        let first = loess_at(&sub, span, 0.0, 1, span.min(k), sub_rw.as_deref(), &mut w)
            .unwrap_or(smooth[0]);
        let left = if k > span { k - span + 1 } else { 1 };
        let last = loess_at(
            &sub,
            span,
            (k + 1) as f64,
            left,
            k,
            sub_rw.as_deref(),
            &mut w,
        )
        .unwrap_or(smooth[k - 1]);
        out[j] = first;
        for (m, v) in smooth.iter().enumerate() {
            out[(m + 1) * np + j] = *v;
        }
        out[(k + 1) * np + j] = last;
    }
    out
}

/// Moving average of width `len` (running sum); `x.len() - len + 1` values.
fn moving_average(x: &[f64], len: usize) -> Vec<f64> {
    let width = len as f64;
    let mut sum: f64 = x[..len].iter().sum();
    let mut out = Vec::with_capacity(x.len() + 1 - len);
    out.push(sum / width);
    for k in len..x.len() {
        sum += x[k] - x[k - len];
        out.push(sum / width);
    }
    out
}

/// Bisquare robustness weights of the remainder, scaled by six times its median absolute value.
fn robustness_weights(x: &[f64], trend: &[f64], seasonal: &[f64]) -> Vec<f64> {
    let n = x.len();
    let r: Vec<f64> = (0..n)
        .map(|i| (x[i] - trend[i] - seasonal[i]).abs())
        .collect();
    let mut sorted = r.clone();
    sorted.sort_by(f64::total_cmp);
    let (mid0, mid1) = (n / 2, n - n / 2 - 1);
    let cmad = 3.0 * (sorted[mid0] + sorted[mid1]);
    if cmad == 0.0 {
        return vec![1.0; n];
    }
    let (c_hi, c_lo) = (0.999 * cmad, 0.001 * cmad);
    r.iter()
        .map(|&v| {
            if v <= c_lo {
                1.0
            } else if v <= c_hi {
                (1.0 - (v / cmad).powi(2)).powi(2)
            } else {
                0.0
            }
        })
        .collect()
}
