//! Seasonality test and classical multiplicative decomposition, as in the M4 benchmarks
//! (R's `acf` and `decompose(type = "multiplicative")`).

/// Sample autocorrelation at `lag` (R's `acf`: mean-centred, normalised by the lag-0 sum).
/// `None` when the series is constant or shorter than `lag + 1`.
pub fn acf(x: &[f64], lag: usize) -> Option<f64> {
    let n = x.len();
    if n <= lag {
        return None;
    }
    let mean = x.iter().sum::<f64>() / n as f64;
    let den: f64 = x.iter().map(|v| (v - mean).powi(2)).sum();
    if den <= 0.0 || !den.is_finite() {
        return None;
    }
    let num: f64 = (lag..n).map(|t| (x[t] - mean) * (x[t - lag] - mean)).sum();
    Some(num / den)
}

/// The M4 benchmarks' 90% seasonality test: seasonal when `m > 1`, `n >= 3m` and
/// `|acf_m| > 1.645 * sqrt((1 + 2 * sum_{k=1}^{m-1} acf_k^2) / n)`.
pub fn seasonality_test(x: &[f64], m: usize) -> bool {
    let n = x.len();
    if m <= 1 || n < 3 * m {
        return false;
    }
    let mut sum_sq = 0.0;
    for k in 1..m {
        match acf(x, k) {
            Some(r) => sum_sq += r * r,
            None => return false,
        }
    }
    let Some(rm) = acf(x, m) else {
        return false;
    };
    let limit = 1.645 * ((1.0 + 2.0 * sum_sq) / n as f64).sqrt();
    rm.abs() > limit
}

/// A seasonally adjusted series and the indices that re-seasonalise its forecasts.
#[derive(Debug, Clone, PartialEq)]
pub struct SeasonalAdjustment {
    /// Whether the seasonality test passed (otherwise all indices are 1).
    pub seasonal: bool,
    /// The history divided by its seasonal indices.
    pub adjusted: Vec<f64>,
    /// The seasonal index of each of the `h` forecast steps.
    pub out_indices: Vec<f64>,
    /// One index per position in the cycle (`figure[t % m]` applies to observation `t`);
    /// empty when not seasonal.
    pub figure: Vec<f64>,
}

/// Seasonal adjustment as the M4 benchmarks do it: when [`seasonality_test`] passes, classical
/// multiplicative decomposition (centred moving average trend, mean ratio per cycle position,
/// indices normalised to mean 1); otherwise the series unchanged with indices 1. Series with
/// non-positive values, or any degenerate index, are treated as non-seasonal.
pub fn seasonal_adjust(x: &[f64], m: usize, h: usize) -> SeasonalAdjustment {
    let unchanged = || SeasonalAdjustment {
        seasonal: false,
        adjusted: x.to_vec(),
        out_indices: vec![1.0; h],
        figure: Vec::new(),
    };
    if !seasonality_test(x, m) || x.iter().any(|v| *v <= 0.0) {
        return unchanged();
    }
    let Some(figure) = multiplicative_figure(x, m) else {
        return unchanged();
    };
    let n = x.len();
    let adjusted = x
        .iter()
        .enumerate()
        .map(|(t, v)| v / figure[t % m])
        .collect();
    let out_indices = (0..h).map(|k| figure[(n + k) % m]).collect();
    SeasonalAdjustment {
        seasonal: true,
        adjusted,
        out_indices,
        figure,
    }
}

/// R's `decompose(x, "multiplicative")$figure` for a series starting at cycle position 0.
fn multiplicative_figure(x: &[f64], m: usize) -> Option<Vec<f64>> {
    let n = x.len();
    if m < 2 || n < 2 * m {
        return None;
    }
    let half = m / 2;
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in half..n - half {
        let trend = if m.is_multiple_of(2) {
            let inner: f64 = x[t + 1 - half..t + half].iter().sum();
            (0.5 * x[t - half] + inner + 0.5 * x[t + half]) / m as f64
        } else {
            x[t - half..=t + half].iter().sum::<f64>() / m as f64
        };
        let ratio = x[t] / trend;
        if ratio.is_finite() {
            sums[t % m] += ratio;
            counts[t % m] += 1;
        }
    }
    if counts.contains(&0) {
        return None;
    }
    let mut figure: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| s / *c as f64)
        .collect();
    let mean = figure.iter().sum::<f64>() / m as f64;
    for f in &mut figure {
        *f /= mean;
    }
    if figure.iter().all(|f| f.is_finite() && *f > 0.0) {
        Some(figure)
    } else {
        None
    }
}
