//! The two-sample tests against scipy 1.17 and Evidently 0.7.23.
//!
//! Expected values come from `tests/vectors/pvalue.json`, written by
//! `tests/vectors/pvalue_gen.py` with scipy and Evidently themselves. Large samples are
//! described there by a seed and rebuilt here with the same splitmix64 stream.
//!
//! Tolerances: statistics and p-values agree to 1e-9 relative, or 1e-15 absolute for
//! p-values below 1e-6 (where the relative accuracy of scipy's own `1 − cdf` steps is
//! gone). Exceptions, each explained where used: the Cramér-von Mises statistic for
//! large samples (scipy's formula subtracts two numbers ~10⁵ times larger than `T`) and
//! Evidently's Z-test p-value (computed as `1 − Φ(|z|)`, which rounds at 1e-16).

use anyhow::{Context, Result, bail, ensure};
use esteira_monitor::MonitorError;
use esteira_monitor::drift::pvalue::{
    TestResult, anderson_darling, chi_square, cramer_von_mises, ks_2samp, z_test,
};
use serde_json::Value;

fn vectors() -> Result<Value> {
    Ok(serde_json::from_str(include_str!("vectors/pvalue.json"))?)
}

fn cases<'a>(vectors: &'a Value, method: &str) -> Result<&'a Vec<Value>> {
    vectors[method]
        .as_array()
        .with_context(|| format!("no {method} cases in the vectors"))
}

fn number(case: &Value, key: &str) -> Result<f64> {
    match &case[key] {
        Value::Number(number) => number.as_f64().context("not an f64"),
        Value::String(text) if text == "inf" => Ok(f64::INFINITY),
        Value::Null => bail!("{key} missing in {case}"),
        other => bail!("{key} is not a number: {other}"),
    }
}

fn name(case: &Value) -> &str {
    case["name"].as_str().unwrap_or("?")
}

/// The splitmix64 stream of the generator, mapped to `[0, 1)` with 53 random bits.
fn splitmix64(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 * 2.0_f64.powi(-53)
        })
        .collect()
}

fn sample(spec: &Value) -> Result<Vec<f64>> {
    if let Some(values) = spec["values"].as_array() {
        return values
            .iter()
            .map(|value| value.as_f64().context("a listed value is not a number"))
            .collect();
    }
    let seed = spec["seed"].as_u64().context("seed")?;
    let n = spec["n"].as_u64().context("n")? as usize;
    let (scale, shift, levels) = (
        number(spec, "scale")?,
        number(spec, "shift")?,
        number(spec, "levels")?,
    );
    let values = splitmix64(seed, n).into_iter().map(|u| u * scale + shift);
    Ok(if levels > 0.0 {
        values.map(|v| (v * levels).floor()).collect()
    } else {
        values.collect()
    })
}

/// `|actual − expected| <= relative·|expected| + absolute`, infinities compared exactly.
fn close(actual: f64, expected: f64, relative: f64, absolute: f64) -> bool {
    if expected.is_infinite() || actual.is_infinite() {
        return actual == expected;
    }
    (actual - expected).abs() <= relative * expected.abs() + absolute
}

/// The absolute floor for p-values: 1e-15 below 1e-6, else none.
fn p_value_floor(expected: f64) -> f64 {
    if expected < 1e-6 { 1e-15 } else { 0.0 }
}

struct Check {
    failures: Vec<String>,
    worst_relative: f64,
}

impl Check {
    fn new() -> Self {
        Self {
            failures: Vec::new(),
            worst_relative: 0.0,
        }
    }

    fn value(&mut self, what: String, actual: f64, expected: f64, relative: f64, absolute: f64) {
        if expected != 0.0 && expected.is_finite() && absolute == 0.0 {
            let error = ((actual - expected) / expected).abs();
            self.worst_relative = self.worst_relative.max(error);
        }
        if !close(actual, expected, relative, absolute) {
            self.failures
                .push(format!("{what}: got {actual:e}, scipy {expected:e}"));
        }
    }

    fn result(&mut self, case: &Value, result: TestResult, statistic_relative: f64) -> Result<()> {
        let (statistic, p_value) = (number(case, "statistic")?, number(case, "p_value")?);
        let label = name(case).to_string();
        self.value(
            format!("{label} statistic"),
            result.statistic,
            statistic,
            statistic_relative,
            if statistic == 0.0 { 1e-15 } else { 0.0 },
        );
        self.value(
            format!("{label} p-value"),
            result.p_value,
            p_value,
            1e-9,
            p_value_floor(p_value),
        );
        Ok(())
    }

    fn finish(self, method: &str) -> Result<()> {
        ensure!(
            self.failures.is_empty(),
            "{method}: {} mismatches:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
        eprintln!("{method}: worst relative error {:e}", self.worst_relative);
        Ok(())
    }
}

type SampleTest = fn(&[f64], &[f64]) -> esteira_monitor::Result<TestResult>;

fn check_two_sample(
    method: &str,
    test: SampleTest,
    statistic_relative: impl Fn(usize) -> f64,
    skip: impl Fn(&str) -> bool,
) -> Result<()> {
    let vectors = vectors()?;
    let mut check = Check::new();
    let mut count = 0;
    for case in cases(&vectors, method)?
        .iter()
        .filter(|case| !skip(name(case)))
    {
        let reference = sample(&case["reference"])?;
        let current = sample(&case["current"])?;
        let result = test(&reference, &current).with_context(|| name(case).to_string())?;
        check.result(
            case,
            result,
            statistic_relative(reference.len() + current.len()),
        )?;
        count += 1;
    }
    ensure!(count >= 10, "{method}: only {count} cases");
    check.finish(method)
}

#[test]
fn ks_matches_scipy_exact_and_asymptotic_paths() -> Result<()> {
    check_two_sample("ks", ks_2samp, |_| 1e-12, |name| name.starts_with("1M"))
}

/// One million values per sample: two sorts, one merge pass and the Smirnov tail with
/// `n = 500 000` (no timing assertion; the value must match scipy's).
#[test]
fn ks_one_million_values_each_matches_scipy() -> Result<()> {
    let vectors = vectors()?;
    let case = cases(&vectors, "ks")?
        .iter()
        .find(|case| name(case).starts_with("1M"))
        .context("the 1M case")?;
    let reference = sample(&case["reference"])?;
    let current = sample(&case["current"])?;
    ensure!(reference.len() == 1_000_000 && current.len() == 1_000_000);
    let result = ks_2samp(&reference, &current)?;
    let mut check = Check::new();
    check.result(case, result, 1e-12)?;
    check.finish("ks 1M")
}

/// `T = U/(nmN) − (4nm − 1)/(6N)` subtracts two terms of size ~`nm/N`; for 20 000 vs
/// 30 000 they are ~8 000 while `T` is ~0.25, so scipy's own `T` carries ~1e-12 relative
/// rounding (and `U`, summed in a different order, its own). The statistic is held to
/// 1e-12 below 1 000 values and 1e-9 above (measured: 1e-13). The p-value of the limiting
/// distribution is scipy's `1 − cdf`, accurate to ~1e-15 absolute only: 1.5e-10 relative
/// at p = 7e-6, inside the common 1e-9.
#[test]
fn cramer_von_mises_matches_scipy_exact_and_asymptotic_paths() -> Result<()> {
    let tolerance = |total: usize| if total < 1_000 { 1e-12 } else { 1e-9 };
    check_two_sample("cramer_von_mises", cramer_von_mises, tolerance, |_| false)
}

#[test]
fn anderson_darling_matches_scipy_midrank_and_evidently() -> Result<()> {
    check_two_sample("anderson_darling", anderson_darling, |_| 1e-11, |_| false)?;
    let vectors = vectors()?;
    let mut with_evidently = 0;
    for case in cases(&vectors, "anderson_darling")? {
        if let Ok(evidently) = number(case, "evidently_p_value") {
            ensure!(evidently == number(case, "p_value")?, "{}", name(case));
            with_evidently += 1;
        }
    }
    ensure!(
        with_evidently >= 5,
        "Evidently checked only {with_evidently} cases"
    );
    Ok(())
}

fn counts(case: &Value, key: &str) -> Result<Vec<u64>> {
    case[key]
        .as_array()
        .with_context(|| format!("{key} counts"))?
        .iter()
        .map(|count| count.as_u64().context("a count is not an integer"))
        .collect()
}

#[test]
fn chi_square_matches_evidently() -> Result<()> {
    let vectors = vectors()?;
    let mut check = Check::new();
    for case in cases(&vectors, "chi_square")? {
        let result = chi_square(&counts(case, "reference")?, &counts(case, "current")?)?;
        check.result(case, result, 1e-12)?;
    }
    check.finish("chi_square")
}

/// Our p-value is `erfc(|z|/√2)` and matches scipy's erfc to 1e-12; Evidently's
/// `2(1 − Φ(|z|))` only to 1e-15 absolute (it is 0 for `|z| > 8.3`).
#[test]
fn z_test_matches_evidently() -> Result<()> {
    let vectors = vectors()?;
    let mut check = Check::new();
    for case in cases(&vectors, "z_test")? {
        let result = z_test(&counts(case, "reference")?, &counts(case, "current")?)?;
        let label = name(case);
        let statistic = number(case, "statistic")?;
        check.value(
            format!("{label} statistic"),
            result.statistic,
            statistic,
            1e-12,
            0.0,
        );
        let precise = number(case, "precise_p_value")?;
        check.value(
            format!("{label} p-value (erfc)"),
            result.p_value,
            precise,
            1e-12,
            0.0,
        );
        let evidently = number(case, "p_value")?;
        check.value(
            format!("{label} p-value (Evidently)"),
            result.p_value,
            evidently,
            0.0,
            1e-15,
        );
    }
    check.finish("z_test")
}

fn assert_not_computed(
    result: esteira_monitor::Result<TestResult>,
    expected: &[&str],
) -> Result<()> {
    match result {
        Err(MonitorError::NotComputed(reason)) => {
            for part in expected {
                ensure!(reason.contains(part), "reason {reason:?} lacks {part:?}");
            }
            Ok(())
        }
        Err(other) => bail!("expected NotComputed, got {other}"),
        Ok(result) => bail!("expected NotComputed, got {result:?}"),
    }
}

const SAMPLE_TESTS: [(&str, SampleTest); 3] = [
    ("ks_2samp", ks_2samp),
    ("anderson_darling", anderson_darling),
    ("cramer_von_mises", cramer_von_mises),
];

#[test]
fn sample_tests_reject_an_empty_sample() -> Result<()> {
    for (test_name, test) in SAMPLE_TESTS {
        assert_not_computed(
            test(&[], &[1.0, 2.0, 3.0]),
            &[test_name, "reference", "empty"],
        )?;
        assert_not_computed(
            test(&[1.0, 2.0, 3.0], &[]),
            &[test_name, "current", "empty"],
        )?;
    }
    Ok(())
}

#[test]
fn sample_tests_count_nan_and_infinite_values() -> Result<()> {
    let bad = [
        1.0,
        f64::NAN,
        2.0,
        f64::INFINITY,
        f64::NAN,
        f64::NEG_INFINITY,
        3.0,
    ];
    let good = [0.5, 1.5, 2.5, 3.5];
    for (test_name, test) in SAMPLE_TESTS {
        let expected = [test_name, "current", "2 NaN", "2 infinite", "of 7"];
        assert_not_computed(test(&good, &bad), &expected)?;
        assert_not_computed(test(&bad, &good), &[test_name, "reference", "2 NaN"])?;
    }
    Ok(())
}

#[test]
fn cramer_von_mises_needs_two_values_per_sample() -> Result<()> {
    let expected = ["cramer_von_mises", "reference", "1 value", "at least 2"];
    assert_not_computed(cramer_von_mises(&[1.0], &[1.0, 2.0, 3.0]), &expected)?;
    assert_not_computed(
        cramer_von_mises(&[1.0, 2.0], &[3.0]),
        &["current", "at least 2"],
    )
}

#[test]
fn anderson_darling_needs_four_values_and_two_distinct() -> Result<()> {
    assert_not_computed(
        anderson_darling(&[1.0, 2.0], &[3.0]),
        &["anderson_darling", "3 values in total", "at least 4"],
    )?;
    assert_not_computed(
        anderson_darling(&[2.0, 2.0, 2.0], &[2.0, 2.0]),
        &["all 5 values are equal", "2 distinct"],
    )
}

/// Where scipy returns a number for constant samples, so do we (values in the vectors):
/// KS gives `D = 0, p = 1`, Cramér-von Mises `p = 1`.
#[test]
fn constant_equal_samples_follow_scipy() -> Result<()> {
    let ks = ks_2samp(&[3.0; 6], &[3.0; 9])?;
    ensure!(
        ks == TestResult {
            statistic: 0.0,
            p_value: 1.0
        },
        "{ks:?}"
    );
    let cvm = cramer_von_mises(&[2.0; 4], &[2.0; 5])?;
    ensure!(cvm.p_value == 1.0, "{cvm:?}");
    Ok(())
}

#[test]
fn count_tests_reject_mismatched_lengths() -> Result<()> {
    assert_not_computed(
        chi_square(&[1, 2, 3], &[1, 2]),
        &["chi_square", "3 categories", "current counts 2"],
    )?;
    assert_not_computed(
        z_test(&[1, 2], &[1, 2, 3]),
        &["z_test", "2 categories", "current counts 3"],
    )
}

#[test]
fn count_tests_reject_all_zero_counts() -> Result<()> {
    assert_not_computed(
        chi_square(&[0, 0], &[3, 4]),
        &["chi_square", "reference", "all zero"],
    )?;
    assert_not_computed(chi_square(&[3, 4], &[0, 0]), &["current", "all zero"])?;
    assert_not_computed(chi_square(&[], &[]), &["reference", "all zero"])?;
    assert_not_computed(
        z_test(&[0, 0], &[3, 4]),
        &["z_test", "reference", "all zero"],
    )?;
    assert_not_computed(z_test(&[3, 4], &[0, 0]), &["current", "all zero"])
}

/// scipy returns NaN for one category (no degree of freedom); we say why.
#[test]
fn chi_square_needs_two_categories_with_a_count() -> Result<()> {
    assert_not_computed(
        chi_square(&[7], &[5]),
        &["chi_square", "1 category", "at least 2"],
    )?;
    assert_not_computed(
        chi_square(&[7, 0, 0], &[5, 0, 0]),
        &["1 category", "at least 2"],
    )
}

#[test]
fn z_test_needs_exactly_two_categories() -> Result<()> {
    assert_not_computed(
        z_test(&[5], &[4]),
        &["z_test", "exactly 2 categories", "got 1"],
    )?;
    assert_not_computed(
        z_test(&[5, 1, 2], &[4, 1, 1]),
        &["exactly 2 categories", "got 3"],
    )
}
