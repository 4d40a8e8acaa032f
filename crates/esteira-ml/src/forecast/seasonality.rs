//! Which seasonal periods a series supports, among candidates implied by its frequency.
//!
//! [`detect_seasonality`] tests each candidate period `p` (smallest first) on what is left of
//! the series after removing the seasonal patterns already accepted:
//! 1. the trend is removed by a centred moving average of length `p` (`2 x p` for even `p`),
//!    as in classical decomposition;
//! 2. the detrended values are grouped by position in the cycle (`t mod p`) and a one-way
//!    analysis of variance compares the spread of the group means with the spread inside
//!    the groups: `F = (SSB / (p - 1)) / (SSW / (N - p))`;
//! 3. the period is accepted when `F` is significant at the 0.1% level (upper tail of
//!    `F(p - 1, N - p)` by Paulson's normal approximation, `z > 3.09`) **and** the seasonal
//!    strength `SSB / (SSB + SSW)` (the share of detrended variance the pattern explains,
//!    Wang, Smith and Hyndman 2006) is at least [`MIN_STRENGTH`].
//!
//! Both conditions guard against false positives: the test alone flags tiny but
//! "significant" patterns in long series, the strength alone flags noise in short ones.
//! A period needs at least three full cycles; shorter series never support it.

/// Minimum seasonal strength (share of detrended variance) for a period to be accepted.
pub const MIN_STRENGTH: f64 = 0.1;
/// Standard normal quantile of the 0.1% upper tail used for the F test.
const Z_999: f64 = 3.090_232_306_167_813_5;

/// Errors of the seasonality functions.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeasonalityError {
    #[error("series is empty")]
    EmptySeries,
    #[error("series value at position {position} is not finite ({value})")]
    NonFinite { position: usize, value: f64 },
    #[error("candidate period {period} is invalid: periods must be at least 2")]
    InvalidPeriod { period: usize },
    #[error(
        "unknown frequency {0:?} (expected hourly/H, daily/D, weekly/W, monthly/M, quarterly/Q or yearly/Y)"
    )]
    UnknownFrequency(String),
}

/// Sampling frequency of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
}

impl std::str::FromStr for Frequency {
    type Err = SeasonalityError;

    /// Accepts the names (`hourly`, ...) and pandas-style aliases (`H`, `D`, `W`, `M`/`MS`,
    /// `Q`/`QS`, `Y`/`A`/`YS`), case-insensitively.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hourly" | "h" => Ok(Frequency::Hourly),
            "daily" | "d" => Ok(Frequency::Daily),
            "weekly" | "w" => Ok(Frequency::Weekly),
            "monthly" | "m" | "ms" => Ok(Frequency::Monthly),
            "quarterly" | "q" | "qs" => Ok(Frequency::Quarterly),
            "yearly" | "annual" | "y" | "a" | "ys" => Ok(Frequency::Yearly),
            _ => Err(SeasonalityError::UnknownFrequency(s.to_string())),
        }
    }
}

/// The usual seasonal periods of a frequency: hourly 24 (day) and 168 (week), daily 7 and
/// 365, weekly 52, monthly 12, quarterly 4, yearly none.
pub fn candidate_periods(freq: Frequency) -> &'static [usize] {
    match freq {
        Frequency::Hourly => &[24, 168],
        Frequency::Daily => &[7, 365],
        Frequency::Weekly => &[52],
        Frequency::Monthly => &[12],
        Frequency::Quarterly => &[4],
        Frequency::Yearly => &[],
    }
}

/// Statistics of one candidate period (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PeriodTest {
    pub period: usize,
    /// ANOVA F statistic of the cycle positions.
    pub f: f64,
    /// Paulson's normal deviate for `f` (significant above 3.09).
    pub z: f64,
    /// Seasonal strength `SSB / (SSB + SSW)`, in [0, 1].
    pub strength: f64,
    pub seasonal: bool,
}

/// The candidate periods (ascending, duplicates removed) that `x` supports, by the test of
/// the module documentation. Candidates with fewer than three full cycles in `x` are not
/// supported.
///
/// Errors: empty series, a non-finite value (with its position), a candidate below 2.
pub fn detect_seasonality(x: &[f64], candidates: &[usize]) -> Result<Vec<usize>, SeasonalityError> {
    Ok(test_periods(x, candidates)?
        .into_iter()
        .filter(|t| t.seasonal)
        .map(|t| t.period)
        .collect())
}

/// The statistics behind [`detect_seasonality`] for every candidate that has three full
/// cycles in `x` (ascending periods). Same errors.
pub fn test_periods(x: &[f64], candidates: &[usize]) -> Result<Vec<PeriodTest>, SeasonalityError> {
    if x.is_empty() {
        return Err(SeasonalityError::EmptySeries);
    }
    if let Some((position, &value)) = x.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(SeasonalityError::NonFinite { position, value });
    }
    if let Some(&period) = candidates.iter().find(|p| **p < 2) {
        return Err(SeasonalityError::InvalidPeriod { period });
    }
    let mut periods = candidates.to_vec();
    periods.sort_unstable();
    periods.dedup();
    // Centre and scale so that huge magnitudes cannot overflow the sums of squares.
    let n = x.len();
    let mean = x.iter().sum::<f64>() / n as f64;
    let scale = x.iter().map(|v| (v - mean).abs()).fold(0.0, f64::max);
    if !(scale > 0.0 && scale.is_finite()) {
        return Ok(Vec::new());
    }
    let mut rest: Vec<f64> = x.iter().map(|v| (v - mean) / scale).collect();
    let mut out = Vec::new();
    for p in periods {
        if n < 3 * p {
            continue;
        }
        let Some((test, pattern)) = test_one(&rest, p) else {
            continue;
        };
        if test.seasonal {
            for (t, r) in rest.iter_mut().enumerate() {
                *r -= pattern[t % p];
            }
        }
        out.push(test);
    }
    Ok(out)
}

/// The test for one period and the centred seasonal pattern (one value per cycle position);
/// `None` when the detrended series has no variance.
fn test_one(x: &[f64], p: usize) -> Option<(PeriodTest, Vec<f64>)> {
    let n = x.len();
    let half = p / 2;
    let mut sums = vec![0.0; p];
    let mut counts = vec![0usize; p];
    let mut detrended = Vec::with_capacity(n - 2 * half);
    // Running window sum for the centred moving average.
    let even = p.is_multiple_of(2);
    let mut window: f64 = if even {
        x[1..p].iter().sum()
    } else {
        x[..p].iter().sum()
    };
    for t in half..n - half {
        if t > half {
            if even {
                window += x[t + half - 1] - x[t - half];
            } else {
                window += x[t + half] - x[t - half - 1];
            }
        }
        let trend = if even {
            (0.5 * x[t - half] + window + 0.5 * x[t + half]) / p as f64
        } else {
            window / p as f64
        };
        let d = x[t] - trend;
        sums[t % p] += d;
        counts[t % p] += 1;
        detrended.push((t % p, d));
    }
    let total_n = detrended.len();
    let means: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| s / (*c).max(1) as f64)
        .collect();
    let grand = sums.iter().sum::<f64>() / total_n as f64;
    let ssb: f64 = means
        .iter()
        .zip(&counts)
        .map(|(mu, c)| *c as f64 * (mu - grand).powi(2))
        .sum();
    let ssw: f64 = detrended.iter().map(|(i, d)| (d - means[*i]).powi(2)).sum();
    let total = ssb + ssw;
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let (d1, d2) = ((p - 1) as f64, (total_n - p) as f64);
    let f = if ssw > 0.0 {
        (ssb / d1) / (ssw / d2)
    } else {
        f64::INFINITY
    };
    let z = if f.is_finite() {
        let (a1, a2) = (2.0 / (9.0 * d1), 2.0 / (9.0 * d2));
        let c = f.cbrt();
        ((1.0 - a2) * c - (1.0 - a1)) / (a1 + a2 * c * c).sqrt()
    } else {
        f64::INFINITY
    };
    let strength = ssb / (ssb + ssw);
    let pattern: Vec<f64> = means.iter().map(|mu| mu - grand).collect();
    Some((
        PeriodTest {
            period: p,
            f,
            z,
            strength,
            seasonal: z > Z_999 && strength >= MIN_STRENGTH,
        },
        pattern,
    ))
}
