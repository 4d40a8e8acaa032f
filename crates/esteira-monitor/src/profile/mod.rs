//! Mergeable per-column profiles built in one pass over Arrow batches.
//!
//! A [`ProfileBuilder`] reads record batches one at a time and keeps, per column, a profile
//! whose every part merges: counts add, moments combine by Pébay's formulas
//! ([`moments`]), the quantile sketch is a KLL sketch ([`kll`]), the histogram has
//! log-linear buckets ([`histogram`]), distinct values are estimated by HyperLogLog
//! ([`hll`]) and categories are counted exactly up to a cap, then summarised
//! ([`categorical`]). Profiles of partitions or windows merge with
//! [`DatasetProfile::merge`]; the counts, extremes, histogram, distinct sketch and exact
//! category counts of a merge equal the whole's, the moments equal them up to rounding.
//!
//! A profile serialises to JSON with a [`FORMAT_VERSION`]. A numeric column's size does not
//! grow with its length: at most 16 KiB of distinct sketch and about 12 KiB of quantile
//! sketch, plus about 14 bytes per non-empty histogram bucket (at most 64 per power of two
//! the values span); a million normal values take 45 KiB.

pub mod categorical;
mod hash;
pub mod histogram;
pub mod hll;
pub mod kll;
pub mod moments;
pub mod numeric;

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema};
use serde::{Deserialize, Serialize};

pub use categorical::{CategoricalProfile, CategoryCounts, CategoryShare};
pub use histogram::{HistogramBucket, LogHistogram};
pub use hll::DistinctEstimate;
pub use numeric::NumericProfile;

use crate::{MonitorError, Result};

/// The version of the profile format (its fields, sketches and hash); profiles of
/// different versions do not merge.
pub const FORMAT_VERSION: u32 = 1;

/// The profile of a dataset: its row count and one profile per column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetProfile {
    /// The profile format's version, [`FORMAT_VERSION`] when built by this crate.
    pub format_version: u32,
    /// Rows profiled.
    pub rows: u64,
    /// Column profiles by column name.
    pub columns: BTreeMap<String, ColumnProfile>,
}

/// The profile of one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnProfile {
    /// An integer or float column.
    Numeric(NumericProfile),
    /// A string, dictionary-of-strings or boolean column.
    Categorical(CategoricalProfile),
    /// A column whose Arrow type is not profiled.
    NotProfiled(NotProfiled),
}

/// Why a column is not profiled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotProfiled {
    /// The column's Arrow type, as Arrow displays it.
    pub arrow_type: String,
    /// Why values of this type are not profiled.
    pub reason: String,
}

impl ColumnProfile {
    /// An empty profile for a column of this Arrow type.
    pub fn for_type(data_type: &DataType) -> Self {
        match not_profiled_reason(data_type) {
            Some(reason) => Self::NotProfiled(NotProfiled {
                arrow_type: data_type.to_string(),
                reason: reason.to_owned(),
            }),
            None if is_categorical(data_type) => Self::Categorical(CategoricalProfile::default()),
            None => Self::Numeric(NumericProfile::default()),
        }
    }

    /// `"numeric"`, `"categorical"` or `"not_profiled"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Numeric(_) => "numeric",
            Self::Categorical(_) => "categorical",
            Self::NotProfiled(_) => "not_profiled",
        }
    }

    /// The numeric profile, if this column is numeric.
    pub fn as_numeric(&self) -> Option<&NumericProfile> {
        match self {
            Self::Numeric(profile) => Some(profile),
            _ => None,
        }
    }

    /// The categorical profile, if this column is categorical.
    pub fn as_categorical(&self) -> Option<&CategoricalProfile> {
        match self {
            Self::Categorical(profile) => Some(profile),
            _ => None,
        }
    }

    /// Null values (0 for a column that is not profiled).
    pub fn nulls(&self) -> u64 {
        match self {
            Self::Numeric(profile) => profile.nulls,
            Self::Categorical(profile) => profile.nulls,
            Self::NotProfiled(_) => 0,
        }
    }

    /// The `q`-quantile of a numeric column (see [`NumericProfile::quantile`]); `None` for an
    /// empty or non-numeric column.
    ///
    /// # Errors
    /// [`MonitorError::Config`] when `q` is not in `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Result<Option<f64>> {
        numeric::check_probability(q)?;
        match self {
            Self::Numeric(profile) => profile.quantile(q),
            _ => Ok(None),
        }
    }

    /// The fraction of a numeric column's finite values `≤ x`; `None` for an empty or
    /// non-numeric column.
    pub fn cdf(&self, x: f64) -> Option<f64> {
        self.as_numeric().and_then(|profile| profile.cdf(x))
    }

    /// The non-empty histogram buckets of a numeric column; `None` for other columns.
    pub fn histogram(&self) -> Option<Vec<HistogramBucket>> {
        self.as_numeric().map(|profile| profile.histogram.buckets())
    }

    /// The distinct count of a profiled column.
    pub fn distinct_estimate(&self) -> Option<DistinctEstimate> {
        match self {
            Self::Numeric(profile) => Some(profile.distinct_estimate()),
            Self::Categorical(profile) => Some(profile.distinct_estimate()),
            Self::NotProfiled(_) => None,
        }
    }

    /// The `k` most frequent categories of a categorical column (empty for other columns).
    pub fn top_categories(&self, k: usize) -> Vec<CategoryShare> {
        self.as_categorical()
            .map(|profile| profile.top_categories(k))
            .unwrap_or_default()
    }

    /// Merges the profile of another part of the same column.
    ///
    /// # Errors
    /// [`MonitorError::Input`] naming `column` when the kinds differ.
    pub fn merge(&mut self, column: &str, other: &ColumnProfile) -> Result<()> {
        check_same_kind(column, self, other)?;
        match (self, other) {
            (Self::Numeric(mine), Self::Numeric(theirs)) => mine.merge(theirs),
            (Self::Categorical(mine), Self::Categorical(theirs)) => mine.merge(theirs),
            _ => {}
        }
        Ok(())
    }
}

fn check_same_kind(column: &str, mine: &ColumnProfile, theirs: &ColumnProfile) -> Result<()> {
    if mine.kind() == theirs.kind() {
        Ok(())
    } else {
        Err(MonitorError::Input {
            source_name: column.to_owned(),
            reason: format!(
                "cannot merge a {} profile with a {} profile",
                mine.kind(),
                theirs.kind()
            ),
        })
    }
}

fn is_numeric(data_type: &DataType) -> bool {
    data_type.is_integer() || data_type.is_floating()
}

fn is_string(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_categorical(data_type: &DataType) -> bool {
    match data_type {
        DataType::Boolean => true,
        DataType::Dictionary(_, values) => is_string(values),
        other => is_string(other),
    }
}

/// Why a column of this type is not profiled; `None` when it is.
fn not_profiled_reason(data_type: &DataType) -> Option<&'static str> {
    if is_numeric(data_type) || is_categorical(data_type) {
        return None;
    }
    Some(match data_type {
        DataType::Dictionary(_, values) if is_numeric(values) => return None,
        DataType::Null => "the column holds only nulls (Arrow type Null)",
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "binary values have neither an order nor categories",
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "decimal values are not profiled; cast them to a float",
        data_type if data_type.is_temporal() => {
            "dates, times and durations are not profiled; cast them to numbers"
        }
        data_type if data_type.is_nested() => {
            "nested values (lists, structs, maps) are not profiled"
        }
        _ => "values of this Arrow type are not profiled",
    })
}

impl DatasetProfile {
    /// An empty profile of a dataset with this schema.
    ///
    /// # Errors
    /// [`MonitorError::Input`] naming a column that appears twice.
    pub fn empty(schema: &Schema) -> Result<Self> {
        let mut columns = BTreeMap::new();
        for field in schema.fields() {
            let profile = ColumnProfile::for_type(field.data_type());
            if columns.insert(field.name().clone(), profile).is_some() {
                return Err(MonitorError::Input {
                    source_name: field.name().clone(),
                    reason: "the column name appears twice in the schema".into(),
                });
            }
        }
        Ok(Self {
            format_version: FORMAT_VERSION,
            rows: 0,
            columns,
        })
    }

    /// Merges the profile of another partition or window of the same dataset. Nothing changes
    /// when an error is returned.
    ///
    /// # Errors
    /// [`MonitorError::Input`] when the format versions differ (naming the profile), or
    /// naming the first column present in only one profile or profiled as different kinds.
    pub fn merge(&mut self, other: &DatasetProfile) -> Result<()> {
        if self.format_version != other.format_version {
            return Err(MonitorError::Input {
                source_name: "profile".into(),
                reason: format!(
                    "format version {} cannot merge with format version {}",
                    self.format_version, other.format_version
                ),
            });
        }
        self.check_same_columns(other)?;
        for (name, mine) in &mut self.columns {
            if let Some(theirs) = other.columns.get(name) {
                mine.merge(name, theirs)?;
            }
        }
        self.rows += other.rows;
        Ok(())
    }

    fn check_same_columns(&self, other: &DatasetProfile) -> Result<()> {
        let only_in_one = self
            .columns
            .keys()
            .find(|name| !other.columns.contains_key(*name))
            .or_else(|| {
                other
                    .columns
                    .keys()
                    .find(|name| !self.columns.contains_key(*name))
            });
        if let Some(name) = only_in_one {
            return Err(MonitorError::Input {
                source_name: name.clone(),
                reason: "the column is in only one of the profiles being merged".into(),
            });
        }
        for (name, mine) in &self.columns {
            if let Some(theirs) = other.columns.get(name) {
                check_same_kind(name, mine, theirs)?;
            }
        }
        Ok(())
    }

    /// The profile as JSON.
    ///
    /// # Errors
    /// [`MonitorError::Input`] if serialisation fails (a moment overflowed to infinity).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| MonitorError::Input {
            source_name: "profile".into(),
            reason: format!("cannot serialise the profile: {e}"),
        })
    }

    /// Reads a profile written by [`Self::to_json`].
    ///
    /// # Errors
    /// [`MonitorError::Input`] when the text is not a valid profile or its format version
    /// is not [`FORMAT_VERSION`].
    pub fn from_json(text: &str) -> Result<Self> {
        #[derive(Deserialize)]
        struct VersionOnly {
            format_version: u32,
        }
        let invalid = |e: serde_json::Error| MonitorError::Input {
            source_name: "profile".into(),
            reason: format!("not a valid profile: {e}"),
        };
        let version: VersionOnly = serde_json::from_str(text).map_err(invalid)?;
        if version.format_version != FORMAT_VERSION {
            return Err(MonitorError::Input {
                source_name: "profile".into(),
                reason: format!(
                    "format version {} is not supported (this build reads version {FORMAT_VERSION})",
                    version.format_version
                ),
            });
        }
        serde_json::from_str(text).map_err(invalid)
    }
}

/// Builds a [`DatasetProfile`] in one pass over record batches.
#[derive(Debug)]
pub struct ProfileBuilder {
    profile: DatasetProfile,
    /// Scratch space for a batch's finite values.
    finite: Vec<f64>,
}

impl ProfileBuilder {
    /// A builder for datasets with this schema.
    ///
    /// # Errors
    /// [`MonitorError::Input`] naming a column that appears twice.
    pub fn new(schema: &Schema) -> Result<Self> {
        Ok(Self {
            profile: DatasetProfile::empty(schema)?,
            finite: Vec::new(),
        })
    }

    /// Adds a batch. Its columns must be those of the schema (in any order), each of the same
    /// kind (a numeric column may change from one numeric type to another). A batch failing
    /// these checks changes nothing.
    ///
    /// # Errors
    /// [`MonitorError::Input`] naming a column missing from the batch, unknown to the
    /// schema, repeated, or of another kind than in the schema; or, should Arrow fail to
    /// convert a numeric array to `f64` or decode a dictionary, naming that column.
    pub fn update(&mut self, batch: &RecordBatch) -> Result<()> {
        self.check_batch(batch)?;
        for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
            let name = field.name();
            match self.profile.columns.get_mut(name) {
                Some(ColumnProfile::Numeric(profile)) => {
                    profile.update(name, array, &mut self.finite)?
                }
                Some(ColumnProfile::Categorical(profile)) => profile.update(name, array)?,
                Some(ColumnProfile::NotProfiled(_)) | None => {}
            }
        }
        self.profile.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn check_batch(&self, batch: &RecordBatch) -> Result<()> {
        let schema = batch.schema();
        let mut seen = std::collections::HashSet::new();
        for field in schema.fields() {
            if !seen.insert(field.name()) {
                return Err(MonitorError::Input {
                    source_name: field.name().clone(),
                    reason: "the column name appears twice in the batch".into(),
                });
            }
            let Some(expected) = self.profile.columns.get(field.name()) else {
                return Err(MonitorError::Input {
                    source_name: field.name().clone(),
                    reason: "the batch has a column the profile's schema does not".into(),
                });
            };
            let found = ColumnProfile::for_type(field.data_type());
            if found.kind() != expected.kind() {
                return Err(MonitorError::Input {
                    source_name: field.name().clone(),
                    reason: format!(
                        "the column is {} ({}) in this batch but {} in the profile's schema",
                        found.kind(),
                        field.data_type(),
                        expected.kind()
                    ),
                });
            }
        }
        if let Some(missing) = self
            .profile
            .columns
            .keys()
            .find(|name| schema.column_with_name(name).is_none())
        {
            return Err(MonitorError::Input {
                source_name: missing.clone(),
                reason: "the column is missing from the batch".into(),
            });
        }
        Ok(())
    }

    /// The profile of every batch added.
    pub fn finish(self) -> DatasetProfile {
        self.profile
    }
}
