//! MSTL: decomposition with several seasonal periods (Bandara, Hyndman and Bergmeir, "MSTL: A
//! Seasonal-Trend Decomposition Algorithm for Time Series with Multiple Seasonal Patterns",
//! 2021), as statsmodels' `MSTL` runs it without a Box-Cox transform.
//!
//! The periods are sorted, smallest first. Each is given the seasonal span `7 + 4 i`
//! (`i = 1, 2, ...` in that order). Periods with `2 * period >= n` are dropped (they cannot
//! be estimated). Then, `iterate` times (once when a single period remains), for each period
//! in turn: add its current seasonal component back to the deseasonalised series, run
//! [`super::stl`] on that with the period, and subtract the new seasonal component. The trend is
//! that of the last STL run; the remainder is what is left.

use super::ForecastError;
use super::stl::{StlParams, stl_unchecked};

/// An MSTL decomposition: `x = trend + sum(seasonal) + remainder`.
#[derive(Debug, Clone, PartialEq)]
pub struct Mstl {
    /// The periods kept, ascending (those with `2 * period < n`).
    pub periods: Vec<usize>,
    /// One seasonal component per kept period, in the order of `periods`.
    pub seasonal: Vec<Vec<f64>>,
    pub trend: Vec<f64>,
    pub remainder: Vec<f64>,
    /// Robustness weights of the last STL run (all 1 unless `robust`).
    pub weights: Vec<f64>,
}

/// Number of passes over the periods when there are several (statsmodels' `iterate=2`).
pub const MSTL_ITERATIONS: usize = 2;

/// Decomposes `x` with MSTL over `periods` (any order, duplicates ignored); `robust` makes
/// every STL run robust.
///
/// Errors: [`ForecastError::EmptyHistory`] / [`ForecastError::NonFinite`] for bad data;
/// [`ForecastError::InvalidParameter`] (`periods`) when `periods` is empty or holds a period
/// below 2; [`ForecastError::TooShort`] when no period satisfies `2 * period < n`.
/// Never panics.
pub fn mstl(x: &[f64], periods: &[usize], robust: bool) -> Result<Mstl, ForecastError> {
    super::validate_values(x)?;
    if periods.is_empty() {
        return Err(ForecastError::InvalidParameter {
            parameter: "periods",
            reason: "is empty, needs at least one period".into(),
        });
    }
    if let Some(p) = periods.iter().find(|p| **p < 2) {
        return Err(ForecastError::InvalidParameter {
            parameter: "periods",
            reason: format!("holds {p}, every period must be at least 2"),
        });
    }
    let kept = usable_periods(periods, x.len());
    if kept.is_empty() {
        let smallest = periods.iter().min().copied().unwrap_or(2);
        return Err(ForecastError::TooShort {
            len: x.len(),
            needed: 2 * smallest + 1,
            what: "MSTL (more than two cycles of the smallest period)",
        });
    }
    Ok(mstl_unchecked(x, &kept, robust))
}

/// The periods MSTL keeps for a series of `n` points: sorted, deduplicated, `2 p < n`, `p >= 2`.
pub(crate) fn usable_periods(periods: &[usize], n: usize) -> Vec<usize> {
    let mut kept: Vec<usize> = periods
        .iter()
        .copied()
        .filter(|&p| p >= 2 && 2 * p < n)
        .collect();
    kept.sort_unstable();
    kept.dedup();
    kept
}

/// [`mstl`] for finite `x` and periods from [`usable_periods`] (non-empty).
pub(crate) fn mstl_unchecked(x: &[f64], periods: &[usize], robust: bool) -> Mstl {
    let n = x.len();
    let iterations = if periods.len() == 1 {
        1
    } else {
        MSTL_ITERATIONS
    };
    let mut seasonal = vec![vec![0.0; n]; periods.len()];
    let mut deseasonalised = x.to_vec();
    let mut last = None;
    for _ in 0..iterations {
        for (i, &period) in periods.iter().enumerate() {
            for (d, s) in deseasonalised.iter_mut().zip(&seasonal[i]) {
                *d += s;
            }
            let params = StlParams {
                seasonal: 7 + 4 * (i + 1),
                robust,
                ..StlParams::new(period)
            };
            let fit = stl_unchecked(&deseasonalised, &params);
            for (d, s) in deseasonalised.iter_mut().zip(&fit.seasonal) {
                *d -= s;
            }
            seasonal[i] = fit.seasonal.clone();
            last = Some(fit);
        }
    }
    let (trend, weights) = match last {
        Some(fit) => (fit.trend, fit.weights),
        None => (vec![0.0; n], vec![1.0; n]),
    };
    let remainder = (0..n).map(|t| deseasonalised[t] - trend[t]).collect();
    Mstl {
        periods: periods.to_vec(),
        seasonal,
        trend,
        remainder,
        weights,
    }
}
