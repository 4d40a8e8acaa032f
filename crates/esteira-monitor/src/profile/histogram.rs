//! The histogram: logarithmic buckets with a fixed relative width (the DDSketch layout of
//! Masson, Rim & Lee, 2019), which merges exactly.
//!
//! Definition (profile format version 1): with `γ = (1 + α) / (1 − α)` and
//! `α` = [`RELATIVE_ACCURACY`] (1 %), a non-zero finite value `x` falls in the bucket of index
//! `i = ceil(ln|x| / ln γ)` on the side of its sign, i.e. `|x| ∈ (γ^(i−1), γ^i]`; zeros have
//! their own bucket. Bucket counts are exact, so merging adds counts and the merge of
//! partitions' histograms equals the whole's. Every value in a bucket is within `α` (relative)
//! of the bucket's representative `2γ^i / (γ + 1)`. Indices are computed in `f64` with the
//! formula above; a value within an ulp of a bucket edge may fall on either side.

use serde::{Deserialize, Serialize};

/// The relative accuracy `α` of a bucket.
pub const RELATIVE_ACCURACY: f64 = 0.01;
/// The bucket growth factor `γ = (1 + α) / (1 − α)`.
pub const GAMMA: f64 = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);
/// Bucket indices of finite `f64` magnitudes lie within ± this bound.
const INDEX_BOUND: i32 = 40_000;

/// One bucket with its count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistogramBucket {
    /// The bucket's index `i` (its magnitudes are in `(γ^(i−1), γ^i]`); 0 for the zero bucket.
    pub index: i32,
    /// −1 for negative values, 0 for the zero bucket, 1 for positive values.
    pub sign: i8,
    /// The smallest value of the bucket (exclusive for positive buckets).
    pub lower: f64,
    /// The largest value of the bucket (exclusive for negative buckets).
    pub upper: f64,
    /// The number of values in the bucket.
    pub count: u64,
}

/// A mergeable logarithmic histogram (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogHistogram {
    /// Buckets of negative values, by the index of their magnitude.
    negative: Buckets,
    /// Number of zeros.
    zero: u64,
    /// Buckets of positive values.
    positive: Buckets,
}

/// Dense counts from `offset`; the first and last counts are non-zero when not empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(into = "Vec<(i32, u64)>", try_from = "Vec<(i32, u64)>")]
struct Buckets {
    offset: i32,
    counts: Vec<u64>,
}

impl LogHistogram {
    /// Adds finite values (the caller filters NaN and infinities out).
    pub(crate) fn insert_batch(&mut self, values: &[f64]) {
        let inverse_ln_gamma = 1.0 / GAMMA.ln();
        for &value in values {
            if value > 0.0 {
                self.positive
                    .add((value.ln() * inverse_ln_gamma).ceil() as i32, 1);
            } else if value < 0.0 {
                self.negative
                    .add(((-value).ln() * inverse_ln_gamma).ceil() as i32, 1);
            } else {
                self.zero += 1;
            }
        }
    }

    /// Adds another histogram's counts to this one's.
    pub fn merge(&mut self, other: &LogHistogram) {
        self.negative.merge(&other.negative);
        self.positive.merge(&other.positive);
        self.zero += other.zero;
    }

    /// Total number of values counted.
    pub fn total(&self) -> u64 {
        self.zero
            + self.negative.counts.iter().sum::<u64>()
            + self.positive.counts.iter().sum::<u64>()
    }

    /// The non-empty buckets in increasing order of value.
    pub fn buckets(&self) -> Vec<HistogramBucket> {
        let negative = self
            .negative
            .nonzero()
            .rev()
            .map(|(index, count)| HistogramBucket {
                index,
                sign: -1,
                lower: -GAMMA.powi(index),
                upper: -GAMMA.powi(index - 1),
                count,
            });
        let zero = (self.zero > 0).then_some(HistogramBucket {
            index: 0,
            sign: 0,
            lower: 0.0,
            upper: 0.0,
            count: self.zero,
        });
        let positive = self
            .positive
            .nonzero()
            .map(|(index, count)| HistogramBucket {
                index,
                sign: 1,
                lower: GAMMA.powi(index - 1),
                upper: GAMMA.powi(index),
                count,
            });
        negative.chain(zero).chain(positive).collect()
    }
}

impl Buckets {
    #[inline]
    fn add(&mut self, index: i32, count: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(count);
            return;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = index;
        }
        let position = (index - self.offset) as usize;
        if position >= self.counts.len() {
            self.counts.resize(position + 1, 0);
        }
        self.counts[position] += count;
    }

    fn merge(&mut self, other: &Buckets) {
        for (index, count) in other.nonzero() {
            self.add(index, count);
        }
    }

    fn nonzero(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|&(_, &count)| count > 0)
            .map(|(position, &count)| (self.offset + position as i32, count))
    }
}

impl From<Buckets> for Vec<(i32, u64)> {
    fn from(buckets: Buckets) -> Self {
        buckets.nonzero().collect()
    }
}

impl TryFrom<Vec<(i32, u64)>> for Buckets {
    type Error = String;

    fn try_from(pairs: Vec<(i32, u64)>) -> Result<Self, String> {
        let increasing = pairs.windows(2).all(|pair| pair[0].0 < pair[1].0);
        let in_range = pairs
            .iter()
            .all(|&(index, count)| index.abs() <= INDEX_BOUND && count > 0);
        if !increasing || !in_range {
            return Err(format!(
                "histogram buckets must have increasing indices within ±{INDEX_BOUND} and positive counts"
            ));
        }
        let mut buckets = Buckets::default();
        for (index, count) in pairs {
            buckets.add(index, count);
        }
        Ok(buckets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_the_bucket_whose_edges_enclose_them() {
        let mut histogram = LogHistogram::default();
        histogram.insert_batch(&[1.0, 1.5, -1.5, 0.0, 1e-300, 1e300]);
        let buckets = histogram.buckets();
        assert_eq!(buckets.len(), 6);
        assert_eq!(histogram.total(), 6);
        // ln(1) = 0: the bucket (γ^-1, 1] has index 0.
        assert!(
            buckets
                .iter()
                .any(|b| b.sign == 1 && b.index == 0 && b.count == 1)
        );
        for bucket in buckets.iter().filter(|b| b.sign != 0) {
            assert!(bucket.lower < bucket.upper);
        }
        let one_and_a_half = buckets
            .iter()
            .find(|b| b.sign == 1 && b.upper >= 1.5 && b.lower < 1.5);
        assert!(one_and_a_half.is_some());
    }
}
