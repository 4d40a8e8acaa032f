//! The histogram: log-linear buckets read off a value's binary representation (the layout
//! of HDR histograms), which merges exactly.
//!
//! Definition (profile format version 1): a non-zero finite value `x` with `|x| = m · 2^e`,
//! `1 ≤ m < 2`, falls in the bucket `(e, j)`, `j = floor((m − 1) · 64)`, on the side of its
//! sign: `|x| ∈ [2^e (1 + j/64), 2^e (1 + (j+1)/64))`. The bucket's index is the top 17 bits
//! of `|x|`'s IEEE-754 representation (11 exponent bits, 6 mantissa bits), i.e.
//! `(e + 1023) · 64 + j` for normal numbers; zeros have their own bucket. A bucket's
//! width is at most 1/64 (1.6 %) of its lower edge, every value is within
//! [`RELATIVE_ACCURACY`] of its bucket's midpoint, and indices are exact (no logarithm is
//! computed). Bucket counts are exact, so merging adds counts and the merge of partitions'
//! histograms equals the whole's. Counts are kept dense between the smallest and largest
//! index seen (20 powers of two take 1280 counters; the whole `f64` range would take
//! 131 072) and serialised sparse, as `[index, count]` pairs of the non-empty buckets.

use serde::{Deserialize, Serialize};

/// Mantissa bits that split each power of two into sub-buckets.
pub const SUB_BUCKET_BITS: u32 = 6;
/// The most a value differs from its bucket's midpoint, relative to the value: half a
/// bucket's width over its lower edge, `2^-(SUB_BUCKET_BITS + 1)`.
pub const RELATIVE_ACCURACY: f64 = 1.0 / 128.0;
/// Bits of an `f64` below the bucket index.
const INDEX_SHIFT: u32 = 52 - SUB_BUCKET_BITS;
/// Bucket indices of finite magnitudes are below this bound (the index of +∞).
const INDEX_BOUND: i32 = (0x7FF0_0000_0000_0000_u64 >> INDEX_SHIFT) as i32;

/// The bucket index of a non-zero finite magnitude.
#[inline]
fn bucket_index(magnitude: f64) -> i32 {
    (magnitude.to_bits() >> INDEX_SHIFT) as i32
}

/// The smallest magnitude of a bucket.
fn bucket_edge(index: i32) -> f64 {
    f64::from_bits((index as u64) << INDEX_SHIFT)
}

/// One bucket with its count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistogramBucket {
    /// The bucket's index (see the module documentation); 0 for the zero bucket.
    pub index: i32,
    /// −1 for negative values, 0 for the zero bucket, 1 for positive values.
    pub sign: i8,
    /// The smallest value of the bucket (exclusive for negative buckets).
    pub lower: f64,
    /// The largest value of the bucket (exclusive for positive buckets).
    pub upper: f64,
    /// The number of values in the bucket.
    pub count: u64,
}

/// A mergeable log-linear histogram (see the module documentation).
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
        for &value in values {
            if value > 0.0 {
                self.positive.add(bucket_index(value), 1);
            } else if value < 0.0 {
                self.negative.add(bucket_index(-value), 1);
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
                lower: -bucket_edge(index + 1),
                upper: -bucket_edge(index),
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
                lower: bucket_edge(index),
                upper: bucket_edge(index + 1),
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
            .all(|&(index, count)| (0..INDEX_BOUND).contains(&index) && count > 0);
        if !increasing || !in_range {
            return Err(format!(
                "histogram buckets must have increasing indices below {INDEX_BOUND} and positive counts"
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
        histogram.insert_batch(&[1.0, 1.5, 1.51, -1.5, 0.0, 3.0]);
        let buckets = histogram.buckets();
        // 1.5 = 1.5 · 2^0: j = floor(0.5 · 64) = 32, so [1.5, 1.515625); 1.51 shares it.
        let expected = [
            (-1, -1.515_625, -1.5, 1),
            (0, 0.0, 0.0, 1),
            (1, 1.0, 1.015_625, 1),
            (1, 1.5, 1.515_625, 2),
            // 3 = 1.5 · 2^1: [3, 3.03125).
            (1, 3.0, 3.031_25, 1),
        ];
        let ours: Vec<(i8, f64, f64, u64)> = buckets
            .iter()
            .map(|b| (b.sign, b.lower, b.upper, b.count))
            .collect();
        assert_eq!(ours, expected);
        // the index of 1.0 is (0 + 1023) · 64 + 0 = 65472.
        assert_eq!(buckets[2].index, 65_472);
        assert_eq!(histogram.total(), 6);
    }
}
