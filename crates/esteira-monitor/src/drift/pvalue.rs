//! Two-sample statistical tests whose p-values decide drift, matching scipy's definitions.

use crate::Result;

/// A test's statistic and its p-value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestResult {
    /// The test statistic.
    pub statistic: f64,
    /// The p-value (drift when below the threshold).
    pub p_value: f64,
}

/// Two-sided two-sample Kolmogorov-Smirnov test as `scipy.stats.ks_2samp` (method auto).
pub fn ks_2samp(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    unimplemented!("{} {}", reference.len(), current.len())
}

/// Evidently's chi-square test on category counts aligned over the union of categories.
pub fn chi_square(reference_counts: &[u64], current_counts: &[u64]) -> Result<TestResult> {
    unimplemented!("{} {}", reference_counts.len(), current_counts.len())
}

/// Evidently's Z-test for two proportions (binary columns), counts aligned as above.
pub fn z_test(reference_counts: &[u64], current_counts: &[u64]) -> Result<TestResult> {
    unimplemented!("{} {}", reference_counts.len(), current_counts.len())
}

/// The k-sample Anderson-Darling test for two samples as `scipy.stats.anderson_ksamp`.
pub fn anderson_darling(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    unimplemented!("{} {}", reference.len(), current.len())
}

/// The two-sample Cramér-von Mises test as `scipy.stats.cramervonmises_2samp`.
pub fn cramer_von_mises(reference: &[f64], current: &[f64]) -> Result<TestResult> {
    unimplemented!("{} {}", reference.len(), current.len())
}
