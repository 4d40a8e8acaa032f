//! Alarm bands: where a metric is expected to lie, from its reference values.

use serde::{Deserialize, Serialize};

use crate::{MonitorError, Result};

/// Where a value lies against an [`AlarmBand`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BandVerdict {
    /// Within `[lower, upper]`.
    Inside,
    /// Above `upper`.
    Above,
    /// Below `lower`.
    Below,
}

/// The band mean ± k·σ of a metric's reference values (the metric on reference windows,
/// or on the folds of a backtest), σ the sample standard deviation (n − 1 denominator,
/// `numpy.std(ddof=1)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlarmBand {
    /// How many reference values.
    pub count: usize,
    /// Their mean.
    pub mean: f64,
    /// Their sample standard deviation.
    pub std: f64,
    /// The width in standard deviations.
    pub k: f64,
    /// mean − k·σ.
    pub lower: f64,
    /// mean + k·σ.
    pub upper: f64,
}

impl AlarmBand {
    /// The default width: 3 standard deviations.
    pub const DEFAULT_K: f64 = 3.0;

    /// The band of `values` with width `k`.
    ///
    /// # Errors
    /// [`MonitorError::Config`] for a `k` that is not a positive number;
    /// [`MonitorError::Input`] naming the position of a NaN or infinite value;
    /// [`MonitorError::NotComputed`] for fewer than 2 values or constant values (σ = 0: a
    /// band without width).
    pub fn from_values(values: &[f64], k: f64) -> Result<AlarmBand> {
        if !(k.is_finite() && k > 0.0) {
            return Err(MonitorError::Config {
                field: "k".into(),
                reason: format!("{k} is not a positive number"),
            });
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(MonitorError::Input {
                source_name: "reference values".into(),
                reason: format!("value at position {i} is {}", values[i]),
            });
        }
        if values.len() < 2 {
            return Err(MonitorError::NotComputed(format!(
                "an alarm band needs at least 2 reference values, got {}",
                values.len()
            )));
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let squares: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
        let std = (squares / (n - 1.0)).sqrt();
        if std == 0.0 {
            return Err(MonitorError::NotComputed(format!(
                "the {} reference values are all {mean}: a band of no width",
                values.len()
            )));
        }
        Ok(AlarmBand {
            count: values.len(),
            mean,
            std,
            k,
            lower: mean - k * std,
            upper: mean + k * std,
        })
    }

    /// Where `value` lies: inside the closed band, above or below it.
    ///
    /// # Errors
    /// [`MonitorError::Input`] for a NaN value (an infinite one is above or below).
    pub fn check(&self, value: f64) -> Result<BandVerdict> {
        if value.is_nan() {
            return Err(MonitorError::Input {
                source_name: "metric value".into(),
                reason: "NaN cannot be placed against the band".into(),
            });
        }
        Ok(if value > self.upper {
            BandVerdict::Above
        } else if value < self.lower {
            BandVerdict::Below
        } else {
            BandVerdict::Inside
        })
    }
}
