//! The profile of a categorical column, and its category counts.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use serde::{Deserialize, Serialize};

use super::hash::hash_str;
use super::hll::{DistinctEstimate, HyperLogLog};
use crate::{MonitorError, Result};

/// Categories counted exactly; one more and the counts become a Misra-Gries summary.
pub const EXACT_CATEGORY_CAP: usize = 1000;
/// Counters the Misra-Gries summary keeps after a reduction.
pub const SUMMARY_COUNTERS: usize = 500;

/// The profile of a categorical column (Utf8, LargeUtf8, Utf8View, a dictionary of strings,
/// or Boolean, whose categories are `"true"` and `"false"`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoricalProfile {
    /// Non-null values.
    pub count: u64,
    /// Null values.
    pub nulls: u64,
    /// Per-category counts.
    pub categories: CategoryCounts,
    /// Distinct non-null values.
    pub distinct: HyperLogLog,
}

/// One category with its count and share.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryShare {
    /// The category.
    pub value: String,
    /// Its count (a lower bound once the counts are a summary, see [`CategoryCounts`]).
    pub count: u64,
    /// `count` over the column's non-null values.
    pub share: f64,
}

/// Per-category counts: exact while the column has at most [`EXACT_CATEGORY_CAP`]
/// categories, then a mergeable Misra-Gries summary (Agarwal et al., "Mergeable
/// summaries", 2012).
///
/// A reduction happens when more than [`EXACT_CATEGORY_CAP`] counters are held (after a
/// batch or a merge): with `c` the `(SUMMARY_COUNTERS + 1)`-th largest count, `c` is taken
/// from every counter, counters at or below zero are dropped (at most
/// [`SUMMARY_COUNTERS`] remain) and `c` is added to [`Self::error_bound`]. So for every
/// category, `kept count ≤ true count ≤ kept count + error_bound` (0 for a dropped one), and
/// since each reduction removes at least `(SUMMARY_COUNTERS + 1)·c` values,
/// `error_bound ≤ (n − Σ kept counts) / (SUMMARY_COUNTERS + 1)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(into = "CountsRepr", try_from = "CountsRepr")]
pub struct CategoryCounts {
    counters: HashMap<String, u64>,
    error_bound: u64,
}

impl CategoryCounts {
    /// True while the counts are exact (no reduction happened).
    pub fn is_exact(&self) -> bool {
        self.error_bound == 0
    }

    /// The most any kept count falls short of the true count (0 when exact).
    pub fn error_bound(&self) -> u64 {
        self.error_bound
    }

    /// The kept count of a category (0 when not kept).
    pub fn count_of(&self, value: &str) -> u64 {
        self.counters.get(value).copied().unwrap_or(0)
    }

    /// The kept counters, by decreasing count then increasing value.
    pub fn ranked(&self) -> Vec<(&str, u64)> {
        let mut ranked: Vec<(&str, u64)> = self
            .counters
            .iter()
            .map(|(v, &c)| (v.as_str(), c))
            .collect();
        ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        ranked
    }

    fn add<'a>(&mut self, counts: impl IntoIterator<Item = (&'a str, u64)>) {
        for (value, count) in counts {
            match self.counters.get_mut(value) {
                Some(kept) => *kept += count,
                None => {
                    self.counters.insert(value.to_owned(), count);
                }
            }
        }
        if self.counters.len() > EXACT_CATEGORY_CAP {
            self.reduce();
        }
    }

    fn merge(&mut self, other: &CategoryCounts) {
        self.error_bound += other.error_bound;
        self.add(other.counters.iter().map(|(v, &c)| (v.as_str(), c)));
    }

    fn reduce(&mut self) {
        let mut counts: Vec<u64> = self.counters.values().copied().collect();
        let (_, &mut cut, _) = counts.select_nth_unstable_by(SUMMARY_COUNTERS, |a, b| b.cmp(a));
        self.counters.retain(|_, count| {
            *count = count.saturating_sub(cut);
            *count > 0
        });
        self.error_bound += cut;
    }
}

impl CategoricalProfile {
    /// Adds one Arrow array of a categorical type.
    pub(crate) fn update(&mut self, column: &str, array: &dyn Array) -> Result<()> {
        match array.data_type() {
            DataType::Boolean => {
                let booleans = array.as_boolean();
                let trues = booleans.true_count() as u64;
                let valid = (booleans.len() - booleans.null_count()) as u64;
                self.nulls += booleans.null_count() as u64;
                let counts = [("true", trues), ("false", valid - trues)];
                self.absorb(counts.into_iter().filter(|&(_, c)| c > 0));
            }
            DataType::Utf8 => self.absorb_strings(array.as_string::<i32>().iter()),
            DataType::LargeUtf8 => self.absorb_strings(array.as_string::<i64>().iter()),
            DataType::Utf8View => self.absorb_strings(array.as_string_view().iter()),
            DataType::Dictionary(_, value_type) => {
                let plain = cast(array, value_type).map_err(|e| MonitorError::Input {
                    source_name: column.to_owned(),
                    reason: format!("cannot decode the dictionary: {e}"),
                })?;
                self.update(column, &plain)?;
            }
            other => {
                return Err(MonitorError::Input {
                    source_name: column.to_owned(),
                    reason: format!("{other} values are not categorical"),
                });
            }
        }
        Ok(())
    }

    fn absorb_strings<'a>(&mut self, values: impl Iterator<Item = Option<&'a str>>) {
        let mut batch: HashMap<&str, u64> = HashMap::new();
        for value in values {
            match value {
                Some(text) => *batch.entry(text).or_insert(0) += 1,
                None => self.nulls += 1,
            }
        }
        self.absorb(batch);
    }

    fn absorb<'a>(&mut self, counts: impl IntoIterator<Item = (&'a str, u64)>) {
        let counts: Vec<(&str, u64)> = counts.into_iter().collect();
        self.count += counts.iter().map(|&(_, c)| c).sum::<u64>();
        self.distinct
            .insert_all(counts.iter().map(|&(value, _)| hash_str(value)));
        self.categories.add(counts);
    }

    /// Merges the profile of another part of the same column.
    pub fn merge(&mut self, other: &CategoricalProfile) {
        self.count += other.count;
        self.nulls += other.nulls;
        self.categories.merge(&other.categories);
        self.distinct.merge(&other.distinct);
    }

    /// The `k` most frequent categories with their counts and shares of the non-null
    /// values, by decreasing count then increasing value.
    pub fn top_categories(&self, k: usize) -> Vec<CategoryShare> {
        self.categories
            .ranked()
            .into_iter()
            .take(k)
            .map(|(value, count)| CategoryShare {
                value: value.to_owned(),
                count,
                share: self.share_of_count(count),
            })
            .collect()
    }

    /// Every kept category's share of the non-null values (exact while
    /// [`CategoryCounts::is_exact`]; lower bounds otherwise).
    pub fn shares(&self) -> BTreeMap<String, f64> {
        self.categories
            .counters
            .iter()
            .map(|(value, &count)| (value.clone(), self.share_of_count(count)))
            .collect()
    }

    /// The distinct count of the non-null values.
    pub fn distinct_estimate(&self) -> DistinctEstimate {
        self.distinct.estimate()
    }

    fn share_of_count(&self, count: u64) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            count as f64 / self.count as f64
        }
    }
}

/// The serialised counts: a map sorted by category, and the error bound.
#[derive(Serialize, Deserialize)]
struct CountsRepr {
    counts: BTreeMap<String, u64>,
    error_bound: u64,
}

impl From<CategoryCounts> for CountsRepr {
    fn from(counts: CategoryCounts) -> Self {
        Self {
            counts: counts.counters.into_iter().collect(),
            error_bound: counts.error_bound,
        }
    }
}

impl TryFrom<CountsRepr> for CategoryCounts {
    type Error = String;

    fn try_from(repr: CountsRepr) -> Result<Self, String> {
        if repr.counts.len() > EXACT_CATEGORY_CAP || repr.counts.values().any(|&c| c == 0) {
            return Err(format!(
                "category counts: at most {EXACT_CATEGORY_CAP} categories, each with a positive count"
            ));
        }
        Ok(Self {
            counters: repr.counts.into_iter().collect(),
            error_bound: repr.error_bound,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reduction_subtracts_the_cut_count_and_records_it() {
        let mut counts = CategoryCounts::default();
        // 1001 categories: "a" 10 times, the others once; the cut (501st largest) is 1.
        let others: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        counts.add(std::iter::once(("a", 10)).chain(others.iter().map(|v| (v.as_str(), 1))));
        assert_eq!(counts.ranked(), vec![("a", 9)]);
        assert_eq!(counts.error_bound(), 1);
        assert!(!counts.is_exact());
    }
}
