//! Drift methods: statistical tests ([`pvalue`]) and distances ([`distance`]).
//!
//! [`column_drift`] decides whether one column drifted between a reference and a current
//! sample the way Evidently 0.7.23's `ValueDrift` does (`get_one_column_drift`): nulls,
//! NaN and infinities are dropped (and counted), the method is the one asked for or
//! Evidently's default choice (`_get_default_stattest`), and the verdict is Evidently's:
//! `score < threshold` for a p-value (`<=` for `ks` and `cramer_von_mises`), `score >=
//! threshold` for a distance. `linf` (L-infinity) is our addition to Evidently's methods. Anything that prevents a
//! verdict is reported in [`ColumnDrift::not_computed`], never as a panic.

pub mod distance;
pub mod pvalue;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{MonitorError, Result};
use distance::{
    count_shares, fill_zeroes, hellinger_counts, hellinger_numeric_sorted, jensen_shannon,
    kl_divergence, linf_distance, numeric_shares, psi, sort_values, tvd_permutation_p_value,
    value_counts_sorted, wasserstein_normed_sorted,
};

/// Reference samples up to this many rows get a statistical test by default, larger ones a
/// distance (Evidently's `_get_default_stattest`).
pub const SMALL_REFERENCE_ROWS: usize = 1000;

/// Columns with at most this many distinct values (reference and current together) are
/// compared as categories by the default choice.
pub const FEW_DISTINCT_VALUES: usize = 5;

/// A drift method, named as in Evidently (`stattest` names); `linf` is ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    /// Two-sample Kolmogorov-Smirnov p-value (numeric).
    #[serde(rename = "ks")]
    Ks,
    /// Chi-square p-value on category counts (categorical).
    #[serde(rename = "chisquare")]
    ChiSquare,
    /// Z-test p-value for two proportions (categorical, binary).
    #[serde(rename = "z")]
    Z,
    /// Wasserstein distance normed by the reference standard deviation (numeric).
    #[serde(rename = "wasserstein")]
    Wasserstein,
    /// Jensen-Shannon distance of binned shares.
    #[serde(rename = "jensenshannon")]
    JensenShannon,
    /// Population stability index of binned shares.
    #[serde(rename = "psi")]
    Psi,
    /// Kullback-Leibler divergence of binned shares.
    #[serde(rename = "kl_div")]
    KlDiv,
    /// Hellinger distance.
    #[serde(rename = "hellinger")]
    Hellinger,
    /// Total variation distance, judged by a permutation p-value (categorical).
    #[serde(rename = "TVD")]
    Tvd,
    /// k-sample Anderson-Darling p-value (numeric).
    #[serde(rename = "anderson")]
    Anderson,
    /// Two-sample Cramér-von Mises p-value (numeric).
    #[serde(rename = "cramer_von_mises")]
    CramerVonMises,
    /// L-infinity distance of binned shares (ours, not an Evidently method): the largest
    /// `|p_i − q_i|` over the bins or categories of Evidently's `jensenshannon`.
    #[serde(rename = "linf")]
    Linf,
}

/// How a method's score decides drift.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// A p-value: drift when `score < threshold` (`<=` for `ks` and `cramer_von_mises`).
    PValue,
    /// A distance or divergence: drift when `score >= threshold`.
    Distance,
}

/// The kind of a column's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Numbers (integers or floats).
    Numeric,
    /// Labels (strings, booleans, dictionary-encoded values).
    Categorical,
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Categorical => "categorical",
        })
    }
}

impl Method {
    /// Every method: Evidently's, in its documentation order, then ours (`linf`).
    pub const ALL: [Method; 12] = [
        Method::Ks,
        Method::ChiSquare,
        Method::Z,
        Method::Wasserstein,
        Method::JensenShannon,
        Method::Psi,
        Method::KlDiv,
        Method::Hellinger,
        Method::Tvd,
        Method::Anderson,
        Method::CramerVonMises,
        Method::Linf,
    ];

    /// Evidently's name of the method, or `linf` for ours (also the serde and [`FromStr`]
    /// form).
    pub fn name(self) -> &'static str {
        match self {
            Method::Ks => "ks",
            Method::ChiSquare => "chisquare",
            Method::Z => "z",
            Method::Wasserstein => "wasserstein",
            Method::JensenShannon => "jensenshannon",
            Method::Psi => "psi",
            Method::KlDiv => "kl_div",
            Method::Hellinger => "hellinger",
            Method::Tvd => "TVD",
            Method::Anderson => "anderson",
            Method::CramerVonMises => "cramer_von_mises",
            Method::Linf => "linf",
        }
    }

    /// Whether the score is a p-value or a distance.
    pub fn kind(self) -> MethodKind {
        match self {
            Method::Ks
            | Method::ChiSquare
            | Method::Z
            | Method::Tvd
            | Method::Anderson
            | Method::CramerVonMises => MethodKind::PValue,
            Method::Wasserstein
            | Method::JensenShannon
            | Method::Psi
            | Method::KlDiv
            | Method::Hellinger
            | Method::Linf => MethodKind::Distance,
        }
    }

    /// Evidently's default threshold: 0.05 for `ks`, `chisquare` and `z`, 0.1 for the others
    /// (and 0.1 for `linf`).
    pub fn default_threshold(self) -> f64 {
        match self {
            Method::Ks | Method::ChiSquare | Method::Z => 0.05,
            _ => 0.1,
        }
    }

    /// Whether the method may be asked for on a column of this kind (Evidently's
    /// `allowed_feature_types`). Evidently's default choice also applies `chisquare` and `z`
    /// to numeric columns with few distinct values; [`column_drift`] does the same.
    pub fn applies_to(self, kind: ColumnKind) -> bool {
        match self {
            Method::Ks | Method::Wasserstein | Method::Anderson | Method::CramerVonMises => {
                kind == ColumnKind::Numeric
            }
            Method::ChiSquare | Method::Z | Method::Tvd => kind == ColumnKind::Categorical,
            Method::JensenShannon
            | Method::Psi
            | Method::KlDiv
            | Method::Hellinger
            | Method::Linf => true,
        }
    }

    /// The verdict for a score, Evidently's comparison for each method: `score <= threshold`
    /// for `ks` and `cramer_von_mises`, `score < threshold` for the other p-values, `score >=
    /// threshold` for a distance.
    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match (self, self.kind()) {
            (Method::Ks | Method::CramerVonMises, _) => score <= threshold,
            (_, MethodKind::PValue) => score < threshold,
            (_, MethodKind::Distance) => score >= threshold,
        }
    }

    /// Checks a threshold for this method: finite, non-negative, and at most 1 for a p-value.
    ///
    /// Errors: [`MonitorError::Config`] on the field `threshold`.
    pub fn check_threshold(self, threshold: f64) -> Result<()> {
        let valid = threshold.is_finite()
            && threshold >= 0.0
            && (self.kind() == MethodKind::Distance || threshold <= 1.0);
        if valid {
            return Ok(());
        }
        let expected = match self.kind() {
            MethodKind::PValue => "a p-value threshold in [0, 1]",
            MethodKind::Distance => "a finite distance threshold >= 0",
        };
        Err(MonitorError::Config {
            field: "threshold".into(),
            reason: format!("{threshold} for {}: expected {expected}", self.name()),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = MonitorError;

    /// Parses Evidently's name of a method (case-sensitive, as Evidently).
    ///
    /// Errors: [`MonitorError::Config`] on the field `method`, listing the valid names.
    fn from_str(name: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|method| method.name() == name)
            .ok_or_else(|| MonitorError::Config {
                field: "method".into(),
                reason: format!(
                    "unknown drift method `{name}`; valid methods: {}",
                    Method::ALL.map(Method::name).join(", ")
                ),
            })
    }
}

/// Category labels of one sample, dictionary-encoded in order of appearance, nulls counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Categories {
    labels: Vec<String>,
    index: HashMap<String, u32>,
    codes: Vec<u32>,
    nulls: u64,
}

impl Categories {
    /// An empty sample.
    pub fn new() -> Self {
        Self::default()
    }

    /// A sample of labels; `None` is a null.
    pub fn from_values<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut categories = Self::new();
        values.into_iter().for_each(|value| categories.push(value));
        categories
    }

    /// Appends one label, or a null.
    pub fn push(&mut self, value: Option<&str>) {
        let Some(label) = value else {
            self.nulls += 1;
            return;
        };
        let code = match self.index.get(label) {
            Some(&code) => code,
            None => {
                let code = self.labels.len() as u32;
                self.labels.push(label.to_owned());
                self.index.insert(label.to_owned(), code);
                code
            }
        };
        self.codes.push(code);
    }

    /// Appends `count` nulls.
    pub fn push_nulls(&mut self, count: u64) {
        self.nulls += count;
    }

    /// The distinct labels, in order of first appearance.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Number of non-null values.
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether there is no non-null value.
    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// Number of nulls.
    pub fn nulls(&self) -> u64 {
        self.nulls
    }
}

/// One column's sample.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnValues {
    /// Numbers; NaN stands for a null, and NaN and infinities are dropped as nulls.
    Numeric {
        /// The values.
        values: Vec<f64>,
        /// The column is of an integer type without nulls (numpy's integer rule for
        /// histogram bin widths applies, as it does to an int64 pandas column).
        integer: bool,
    },
    /// Labels.
    Categorical(Categories),
}

impl ColumnValues {
    /// Float values (NaN for nulls).
    pub fn floats(values: Vec<f64>) -> Self {
        ColumnValues::Numeric {
            values,
            integer: false,
        }
    }

    /// Integer values without nulls.
    pub fn integers(values: impl IntoIterator<Item = i64>) -> Self {
        ColumnValues::Numeric {
            values: values.into_iter().map(|v| v as f64).collect(),
            integer: true,
        }
    }

    /// Labels (`None` for nulls).
    pub fn labels<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        ColumnValues::Categorical(Categories::from_values(values))
    }

    /// The kind of the values.
    pub fn kind(&self) -> ColumnKind {
        match self {
            ColumnValues::Numeric { .. } => ColumnKind::Numeric,
            ColumnValues::Categorical(_) => ColumnKind::Categorical,
        }
    }
}

/// One column's drift verdict (or why there is none).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    /// The column.
    pub column: String,
    /// The kind of the reference values (none when the column is missing in the reference).
    pub kind: Option<ColumnKind>,
    /// The method used (none when no method could be chosen).
    pub method: Option<Method>,
    /// The threshold used.
    pub threshold: Option<f64>,
    /// The method's score: a p-value or a distance.
    pub score: Option<f64>,
    /// The verdict.
    pub drifted: Option<bool>,
    /// Why no verdict was reached.
    pub not_computed: Option<String>,
    /// Non-null reference values used.
    pub values_reference: u64,
    /// Non-null current values used.
    pub values_current: u64,
    /// Reference values dropped as null (null, NaN, infinite).
    pub nulls_reference: u64,
    /// Current values dropped as null.
    pub nulls_current: u64,
}

impl ColumnDrift {
    /// A column without a verdict.
    pub fn not_computed(column: &str, kind: Option<ColumnKind>, reason: impl Into<String>) -> Self {
        Self {
            column: column.to_owned(),
            kind,
            method: None,
            threshold: None,
            score: None,
            drifted: None,
            not_computed: Some(reason.into()),
            values_reference: 0,
            values_current: 0,
            nulls_reference: 0,
            nulls_current: 0,
        }
    }
}

/// Drift of one column between a reference and a current sample.
///
/// `method`: the method to use, or `None` for Evidently's default choice, made on the samples
/// after nulls are dropped: reference of at most 1000 values → `ks` for numeric columns with
/// more than 5 distinct values (reference and current together), else `chisquare` when
/// there are more than 2 distinct values, else `z`; larger references → `wasserstein` for
/// numeric columns with more than 5 distinct values, else `jensenshannon`.
/// `threshold`: the threshold, or `None` for the method's default.
/// `z` on a column in which a single value appears (both samples together) gives p = 1, no
/// drift, as Evidently's (which only sees the values present, not the column's domain).
///
/// Never panics: no verdict (with the reason in `not_computed`) when the kinds of the two
/// samples differ, a sample is empty or all null, the method does not apply to the column's
/// kind, the threshold is invalid, or the statistic is undefined on these samples.
pub fn column_drift(
    column: &str,
    reference: ColumnValues,
    current: ColumnValues,
    method: Option<Method>,
    threshold: Option<f64>,
) -> ColumnDrift {
    let kind = reference.kind();
    match (reference, current) {
        (
            ColumnValues::Numeric {
                values: reference,
                integer: reference_integer,
            },
            ColumnValues::Numeric {
                values: current,
                integer: current_integer,
            },
        ) => {
            let integer = reference_integer && current_integer;
            numeric_drift(column, reference, current, integer, method, threshold)
        }
        (ColumnValues::Categorical(reference), ColumnValues::Categorical(current)) => {
            categorical_drift(column, reference, current, method, threshold)
        }
        (_, current) => ColumnDrift::not_computed(
            column,
            Some(kind),
            format!(
                "type mismatch: the reference is {kind}, the current data is {}",
                current.kind()
            ),
        ),
    }
}

fn numeric_drift(
    column: &str,
    mut reference: Vec<f64>,
    mut current: Vec<f64>,
    integer: bool,
    method: Option<Method>,
    threshold: Option<f64>,
) -> ColumnDrift {
    let nulls_reference = drop_non_finite(&mut reference);
    let nulls_current = drop_non_finite(&mut current);
    let mut drift = ColumnDrift::not_computed(column, Some(ColumnKind::Numeric), "");
    drift.values_reference = reference.len() as u64;
    drift.values_current = current.len() as u64;
    drift.nulls_reference = nulls_reference;
    drift.nulls_current = nulls_current;
    if let Err(reason) = check_samples(
        reference.len(),
        nulls_reference,
        current.len(),
        nulls_current,
    ) {
        drift.not_computed = Some(reason);
        return drift;
    }
    if let Err(reason) = check_method(method, ColumnKind::Numeric) {
        drift.not_computed = Some(reason);
        return drift;
    }
    sort_values(&mut reference);
    sort_values(&mut current);
    let method = method.unwrap_or_else(|| default_numeric_method(&reference, &current));
    decide(drift, method, threshold, || {
        numeric_score(method, &reference, &current, integer)
    })
}

fn categorical_drift(
    column: &str,
    reference: Categories,
    current: Categories,
    method: Option<Method>,
    threshold: Option<f64>,
) -> ColumnDrift {
    let mut drift = ColumnDrift::not_computed(column, Some(ColumnKind::Categorical), "");
    drift.values_reference = reference.len() as u64;
    drift.values_current = current.len() as u64;
    drift.nulls_reference = reference.nulls;
    drift.nulls_current = current.nulls;
    if let Err(reason) = check_samples(
        reference.len(),
        reference.nulls,
        current.len(),
        current.nulls,
    ) {
        drift.not_computed = Some(reason);
        return drift;
    }
    if let Err(reason) = check_method(method, ColumnKind::Categorical) {
        drift.not_computed = Some(reason);
        return drift;
    }
    let aligned = AlignedCategories::new(&reference, &current);
    let method = method.unwrap_or_else(|| {
        default_for(
            reference.len(),
            aligned.categories(),
            ColumnKind::Categorical,
        )
    });
    decide(drift, method, threshold, || {
        categorical_score(method, &reference, &aligned)
    })
}

/// Evidently's default method for two samples, as [`column_drift`] chooses it; `None` when
/// the kinds differ or a sample has no non-null value.
pub fn default_method(reference: &ColumnValues, current: &ColumnValues) -> Option<Method> {
    match (reference, current) {
        (
            ColumnValues::Numeric {
                values: reference, ..
            },
            ColumnValues::Numeric {
                values: current, ..
            },
        ) => {
            let finite_sorted = |values: &[f64]| {
                let mut finite: Vec<f64> =
                    values.iter().copied().filter(|v| v.is_finite()).collect();
                sort_values(&mut finite);
                finite
            };
            let (reference, current) = (finite_sorted(reference), finite_sorted(current));
            (!reference.is_empty() && !current.is_empty())
                .then(|| default_numeric_method(&reference, &current))
        }
        (ColumnValues::Categorical(reference), ColumnValues::Categorical(current)) => {
            (!reference.is_empty() && !current.is_empty()).then(|| {
                let categories = AlignedCategories::new(reference, current).categories();
                default_for(reference.len(), categories, ColumnKind::Categorical)
            })
        }
        _ => None,
    }
}

/// Checks the threshold, computes the score and the verdict.
fn decide(
    mut drift: ColumnDrift,
    method: Method,
    threshold: Option<f64>,
    score: impl FnOnce() -> Result<f64>,
) -> ColumnDrift {
    drift.method = Some(method);
    let threshold = threshold.unwrap_or(method.default_threshold());
    drift.threshold = Some(threshold);
    let verdict = method
        .check_threshold(threshold)
        .and_then(|()| score())
        .and_then(|score| {
            if score.is_nan() {
                Err(MonitorError::NotComputed(format!(
                    "{method} is NaN on these samples"
                )))
            } else {
                Ok(score)
            }
        });
    match verdict {
        Ok(score) => {
            drift.score = Some(score);
            drift.drifted = Some(method.drifted(score, threshold));
            drift.not_computed = None;
        }
        Err(MonitorError::NotComputed(reason)) => drift.not_computed = Some(reason),
        Err(error) => drift.not_computed = Some(error.to_string()),
    }
    drift
}

/// An explicitly asked method must apply to the column's kind (the default choice may
/// apply `chisquare` and `z` to numeric columns, as Evidently's does).
fn check_method(method: Option<Method>, kind: ColumnKind) -> std::result::Result<(), String> {
    match method {
        Some(method) if !method.applies_to(kind) => {
            Err(format!("method {method} does not apply to {kind} columns"))
        }
        _ => Ok(()),
    }
}

fn check_samples(
    reference: usize,
    nulls_reference: u64,
    current: usize,
    nulls_current: u64,
) -> std::result::Result<(), String> {
    let empty = |side: &str, nulls: u64| {
        if nulls == 0 {
            format!("the {side} sample is empty")
        } else {
            format!("the {side} sample has only nulls ({nulls})")
        }
    };
    if reference == 0 {
        return Err(empty("reference", nulls_reference));
    }
    if current == 0 {
        return Err(empty("current", nulls_current));
    }
    Ok(())
}

/// Removes NaN and infinities (Evidently turns infinities into NaN and drops them); returns
/// how many were removed.
fn drop_non_finite(values: &mut Vec<f64>) -> u64 {
    let before = values.len();
    values.retain(|v| v.is_finite());
    (before - values.len()) as u64
}

/// Evidently's `_get_default_stattest` for a numeric column (samples sorted).
fn default_numeric_method(reference: &[f64], current: &[f64]) -> Method {
    let distinct = count_distinct_union_up_to(reference, current, FEW_DISTINCT_VALUES + 1);
    default_for(reference.len(), distinct, ColumnKind::Numeric)
}

/// Evidently's `_get_default_stattest` from the reference size and the number of distinct
/// values of reference and current together.
fn default_for(reference_rows: usize, distinct: usize, kind: ColumnKind) -> Method {
    let few = kind == ColumnKind::Categorical || distinct <= FEW_DISTINCT_VALUES;
    match (reference_rows <= SMALL_REFERENCE_ROWS, few) {
        (true, true) if distinct > 2 => Method::ChiSquare,
        (true, true) => Method::Z,
        (true, false) => Method::Ks,
        (false, true) => Method::JensenShannon,
        (false, false) => Method::Wasserstein,
    }
}

/// Distinct values of two sorted samples together, counting no further than `limit`.
fn count_distinct_union_up_to(reference: &[f64], current: &[f64], limit: usize) -> usize {
    tie_groups(reference, current).take(limit).count()
}

fn numeric_score(method: Method, reference: &[f64], current: &[f64], integer: bool) -> Result<f64> {
    match method {
        Method::Ks => pvalue::ks_2samp(reference, current).map(|t| t.p_value),
        Method::Anderson => pvalue::anderson_darling(reference, current).map(|t| t.p_value),
        Method::CramerVonMises => pvalue::cramer_von_mises(reference, current).map(|t| t.p_value),
        Method::Wasserstein => wasserstein_normed_sorted(reference, current),
        Method::Hellinger => hellinger_numeric_sorted(reference, current, integer),
        Method::JensenShannon => {
            let shares = numeric_shares(reference, current, integer)?;
            Ok(jensen_shannon(&shares.reference, &shares.current))
        }
        Method::Linf => {
            let shares = numeric_shares(reference, current, integer)?;
            Ok(linf_distance(&shares.reference, &shares.current))
        }
        Method::Psi | Method::KlDiv => {
            let shares = numeric_shares(reference, current, integer)?;
            Ok(filled_zeroes_score(method, shares))
        }
        Method::ChiSquare | Method::Z | Method::Tvd => {
            let (_, reference_counts, current_counts) = value_counts_sorted(reference, current);
            counts_p_value(method, &reference_counts, &current_counts)
        }
    }
}

fn categorical_score(
    method: Method,
    reference: &Categories,
    aligned: &AlignedCategories,
) -> Result<f64> {
    let (reference_counts, current_counts) = (&aligned.reference_counts, &aligned.current_counts);
    match method {
        Method::Tvd => tvd_permutation_p_value(
            &reference.codes,
            &aligned.current_codes,
            aligned.categories(),
        ),
        Method::ChiSquare | Method::Z => counts_p_value(method, reference_counts, current_counts),
        Method::JensenShannon => {
            let shares = count_shares(reference_counts, current_counts)?;
            Ok(jensen_shannon(&shares.reference, &shares.current))
        }
        Method::Linf => {
            let shares = count_shares(reference_counts, current_counts)?;
            Ok(linf_distance(&shares.reference, &shares.current))
        }
        Method::Psi | Method::KlDiv => Ok(filled_zeroes_score(
            method,
            count_shares(reference_counts, current_counts)?,
        )),
        Method::Hellinger => hellinger_counts(reference_counts, current_counts),
        Method::Ks | Method::Wasserstein | Method::Anderson | Method::CramerVonMises => {
            Err(MonitorError::NotComputed(format!(
                "method {method} does not apply to categorical columns"
            )))
        }
    }
}

/// `chisquare` and `z` on aligned counts; `TVD` needs the samples themselves.
///
/// For `z`, a column in which a single value appears (in both samples together) gets a
/// second category with no value on either side: Evidently's `z` sees the same single value
/// on both sides and reports p = 1 (no drift), as [`pvalue::z_test`] does on such counts.
fn counts_p_value(method: Method, reference_counts: &[u64], current_counts: &[u64]) -> Result<f64> {
    match (method, reference_counts, current_counts) {
        (Method::Z, &[reference_count], &[current_count]) => {
            pvalue::z_test(&[reference_count, 0], &[current_count, 0]).map(|t| t.p_value)
        }
        (Method::Z, _, _) => pvalue::z_test(reference_counts, current_counts).map(|t| t.p_value),
        (Method::ChiSquare, _, _) => {
            pvalue::chi_square(reference_counts, current_counts).map(|t| t.p_value)
        }
        _ => Err(MonitorError::NotComputed(format!(
            "method {method} does not apply to numeric columns"
        ))),
    }
}

/// `psi` or `kl_div` on shares after Evidently's zero filling.
fn filled_zeroes_score(method: Method, mut shares: distance::Shares) -> f64 {
    fill_zeroes(&mut shares.reference);
    fill_zeroes(&mut shares.current);
    if method == Method::Psi {
        psi(&shares.reference, &shares.current)
    } else {
        kl_divergence(&shares.reference, &shares.current)
    }
}

/// Category counts of both samples over the union of their labels (reference labels first),
/// and the current sample's codes in that union.
struct AlignedCategories {
    reference_counts: Vec<u64>,
    current_counts: Vec<u64>,
    current_codes: Vec<u32>,
}

impl AlignedCategories {
    fn new(reference: &Categories, current: &Categories) -> Self {
        let mut union: HashMap<&str, u32> = reference
            .labels
            .iter()
            .enumerate()
            .map(|(code, label)| (label.as_str(), code as u32))
            .collect();
        let current_to_union: Vec<u32> = current
            .labels
            .iter()
            .map(|label| {
                let next = union.len() as u32;
                *union.entry(label.as_str()).or_insert(next)
            })
            .collect();
        let categories = union.len();
        let current_codes: Vec<u32> = current
            .codes
            .iter()
            .map(|&code| current_to_union[code as usize])
            .collect();
        let mut reference_counts = vec![0u64; categories];
        reference
            .codes
            .iter()
            .for_each(|&code| reference_counts[code as usize] += 1);
        let mut current_counts = vec![0u64; categories];
        current_codes
            .iter()
            .for_each(|&code| current_counts[code as usize] += 1);
        Self {
            reference_counts,
            current_counts,
            current_codes,
        }
    }

    fn categories(&self) -> usize {
        self.reference_counts.len()
    }
}

/// Neumaier's compensated sum: long float sums stay accurate to a few ulps.
#[derive(Default)]
pub(crate) struct CompensatedSum {
    sum: f64,
    compensation: f64,
}

impl CompensatedSum {
    pub(crate) fn add(&mut self, value: f64) {
        let total = self.sum + value;
        if self.sum.abs() >= value.abs() {
            self.compensation += (self.sum - total) + value;
        } else {
            self.compensation += (value - total) + self.sum;
        }
        self.sum = total;
    }

    pub(crate) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// The groups of equal values of two ascending samples, in ascending order: each group's
/// value and the index ranges it covers in either sample (one may be empty).
pub(crate) fn tie_groups<'a>(a: &'a [f64], b: &'a [f64]) -> TieGroups<'a> {
    TieGroups { a, b, i: 0, j: 0 }
}

/// See [`tie_groups`].
pub(crate) struct TieGroups<'a> {
    a: &'a [f64],
    b: &'a [f64],
    i: usize,
    j: usize,
}

/// One group of [`tie_groups`].
pub(crate) struct TieGroup {
    /// The group's value.
    pub(crate) value: f64,
    /// Its indices in the first sample.
    pub(crate) a: std::ops::Range<usize>,
    /// Its indices in the second sample.
    pub(crate) b: std::ops::Range<usize>,
}

impl Iterator for TieGroups<'_> {
    type Item = TieGroup;

    fn next(&mut self) -> Option<TieGroup> {
        let value = match (self.a.get(self.i), self.b.get(self.j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => return None,
        };
        let (start_a, start_b) = (self.i, self.j);
        while self.i < self.a.len() && self.a[self.i] == value {
            self.i += 1;
        }
        while self.j < self.b.len() && self.b[self.j] == value {
            self.j += 1;
        }
        Some(TieGroup {
            value,
            a: start_a..self.i,
            b: start_b..self.j,
        })
    }
}
