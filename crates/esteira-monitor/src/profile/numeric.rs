//! The profile of a numeric column.

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use serde::{Deserialize, Serialize};

use super::hash::hash_f64;
use super::histogram::LogHistogram;
use super::hll::{DistinctEstimate, HyperLogLog};
use super::kll::KllSketch;
use super::moments::Moments;
use crate::{MonitorError, Result};

/// The profile of a numeric column (every Arrow integer and float type, read as `f64`;
/// integers beyond 2^53 lose precision).
///
/// Values are split into nulls (Arrow validity), NaN, +∞, −∞ and finite values; the
/// moments, extremes, quantile sketch, histogram and distinct estimate cover the finite
/// values only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NumericProfile {
    /// Non-null values, NaN and infinities included.
    pub count: u64,
    /// Null values.
    pub nulls: u64,
    /// NaN values.
    pub nan: u64,
    /// +∞ values.
    pub positive_infinity: u64,
    /// −∞ values.
    pub negative_infinity: u64,
    /// The smallest finite value.
    pub min: Option<f64>,
    /// The largest finite value.
    pub max: Option<f64>,
    /// Moments of the finite values.
    pub moments: Moments,
    /// Quantile sketch of the finite values.
    pub quantiles: KllSketch,
    /// Histogram of the finite values.
    pub histogram: LogHistogram,
    /// Distinct finite values.
    pub distinct: HyperLogLog,
}

impl NumericProfile {
    /// Adds one Arrow array of a numeric type (or a dictionary of one).
    pub(crate) fn update(
        &mut self,
        column: &str,
        array: &dyn Array,
        finite: &mut Vec<f64>,
    ) -> Result<()> {
        let converted;
        let floats = if array.data_type() == &DataType::Float64 {
            array.as_primitive::<Float64Type>()
        } else {
            converted = cast(array, &DataType::Float64).map_err(|e| MonitorError::Input {
                source_name: column.to_owned(),
                reason: format!("cannot read {} values as numbers: {e}", array.data_type()),
            })?;
            converted.as_primitive::<Float64Type>()
        };
        self.nulls += floats.null_count() as u64;
        self.count += (floats.len() - floats.null_count()) as u64;
        finite.clear();
        let values = floats.values();
        match floats.nulls().filter(|nulls| nulls.null_count() > 0) {
            None => values.iter().for_each(|&v| self.sort_value(v, finite)),
            Some(nulls) => nulls
                .valid_indices()
                .for_each(|i| self.sort_value(values[i], finite)),
        }
        self.absorb_finite(finite);
        Ok(())
    }

    #[inline]
    fn sort_value(&mut self, value: f64, finite: &mut Vec<f64>) {
        if value.is_finite() {
            finite.push(value);
        } else if value.is_nan() {
            self.nan += 1;
        } else if value > 0.0 {
            self.positive_infinity += 1;
        } else {
            self.negative_infinity += 1;
        }
    }

    fn absorb_finite(&mut self, values: &[f64]) {
        let Some((&first, rest)) = values.split_first() else {
            return;
        };
        let (low, high) = rest
            .iter()
            .fold((first, first), |(low, high), &v| (low.min(v), high.max(v)));
        self.min = Some(self.min.map_or(low, |m| m.min(low)));
        self.max = Some(self.max.map_or(high, |m| m.max(high)));
        self.moments.merge(&Moments::of(values));
        self.quantiles.insert_batch(values);
        self.histogram.insert_batch(values);
        self.distinct
            .insert_all(values.iter().map(|&v| hash_f64(v)));
    }

    /// Merges the profile of another part of the same column.
    pub fn merge(&mut self, other: &NumericProfile) {
        self.count += other.count;
        self.nulls += other.nulls;
        self.nan += other.nan;
        self.positive_infinity += other.positive_infinity;
        self.negative_infinity += other.negative_infinity;
        self.min = merge_extreme(self.min, other.min, f64::min);
        self.max = merge_extreme(self.max, other.max, f64::max);
        self.moments.merge(&other.moments);
        self.quantiles.merge(&other.quantiles);
        self.histogram.merge(&other.histogram);
        self.distinct.merge(&other.distinct);
    }

    /// Finite values (`count − nan − infinities`).
    pub fn finite(&self) -> u64 {
        self.moments.n
    }

    /// Mean of the finite values; `None` without any.
    pub fn mean(&self) -> Option<f64> {
        (self.moments.n > 0).then_some(self.moments.mean)
    }

    /// Sample variance of the finite values (see [`Moments::variance`]).
    pub fn variance(&self) -> Option<f64> {
        self.moments.variance()
    }

    /// Sample standard deviation, the square root of [`Self::variance`].
    pub fn std_dev(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    /// Biased skewness (see [`Moments::skewness`]).
    pub fn skewness(&self) -> Option<f64> {
        self.moments.skewness()
    }

    /// Biased excess kurtosis (see [`Moments::kurtosis`]).
    pub fn kurtosis(&self) -> Option<f64> {
        self.moments.kurtosis()
    }

    /// The `q`-quantile of the finite values from the sketch, `q = 0` and `q = 1` giving the
    /// exact minimum and maximum; `None` without finite values.
    ///
    /// # Errors
    /// [`MonitorError::Config`] when `q` is not in `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Result<Option<f64>> {
        check_probability(q)?;
        Ok(if q == 0.0 {
            self.min
        } else if q == 1.0 {
            self.max
        } else {
            self.quantiles.quantile(q)
        })
    }

    /// The fraction of finite values `≤ x` from the sketch (exact below the minimum and at
    /// or above the maximum); `None` without finite values.
    pub fn cdf(&self, x: f64) -> Option<f64> {
        let (min, max) = (self.min?, self.max?);
        if x < min {
            Some(0.0)
        } else if x >= max {
            Some(1.0)
        } else {
            self.quantiles.cdf(x)
        }
    }

    /// The distinct count of the finite values.
    pub fn distinct_estimate(&self) -> DistinctEstimate {
        self.distinct.estimate()
    }
}

fn merge_extreme(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

/// Checks that a quantile's probability lies in `[0, 1]`.
pub(crate) fn check_probability(q: f64) -> Result<()> {
    if (0.0..=1.0).contains(&q) {
        Ok(())
    } else {
        Err(MonitorError::Config {
            field: "quantile".into(),
            reason: format!("q = {q} is outside [0, 1]"),
        })
    }
}
