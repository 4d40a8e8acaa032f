//! Drift distances, the method choice and column drift against Evidently 0.7.23's own numbers
//! (`tests/vectors/distance.json`, made by `tests/vectors/distance_gen.py`), hand-computed
//! cases, and every kind of bad input.

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use esteira_monitor::MonitorError;
use esteira_monitor::drift::distance::{
    fill_zeroes, histogram_sorted, jensen_shannon, linf_distance, sort_values, sturges_edges,
    wasserstein_normed_sorted, wasserstein_sorted,
};
use esteira_monitor::drift::{
    ColumnDrift, ColumnKind, ColumnValues, Method, MethodKind, column_drift, default_method,
};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

/// `linf` scores are differences of shares `count / n`, computed the same way by numpy.
const LINF_TOLERANCE: f64 = 1e-12;

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= TOLERANCE * expected.abs().max(1.0)
}

struct Vectors {
    samples: HashMap<String, Vec<Value>>,
    cases: Vec<Value>,
}

fn vectors() -> Result<Vectors> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/distance.json"
    ))?;
    let mut json: Value = serde_json::from_str(&text)?;
    let samples = serde_json::from_value(json["samples"].take())?;
    let cases = serde_json::from_value(json["cases"].take())?;
    Ok(Vectors { samples, cases })
}

fn number(value: &Value) -> Result<f64> {
    Ok(match value {
        Value::Null => f64::NAN,
        Value::String(s) if s == "nan" => f64::NAN,
        Value::String(s) if s == "inf" => f64::INFINITY,
        Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
        Value::Number(n) => n.as_f64().context("number")?,
        other => bail!("not a number: {other}"),
    })
}

fn column(values: &[Value], kind: &str, integer: bool) -> Result<ColumnValues> {
    Ok(match kind {
        "numeric" if integer => ColumnValues::integers(
            values
                .iter()
                .map(|v| v.as_i64().context("integer"))
                .collect::<Result<Vec<_>>>()?,
        ),
        "numeric" => ColumnValues::floats(values.iter().map(number).collect::<Result<_>>()?),
        _ => ColumnValues::labels(values.iter().map(|v| v.as_str())),
    })
}

fn case_columns(vectors: &Vectors, case: &Value) -> Result<(ColumnValues, ColumnValues)> {
    let kind = case["kind"].as_str().context("kind")?;
    let integer = case["integer"].as_bool().context("integer")?;
    let sample = |key: &str| -> Result<ColumnValues> {
        let name = case[key].as_str().context("sample key")?;
        column(vectors.samples.get(name).context("sample")?, kind, integer)
    };
    Ok((sample("reference")?, sample("current")?))
}

#[test]
fn scores_and_verdicts_match_evidently() -> Result<()> {
    let vectors = vectors()?;
    let mut checked = 0;
    for case in &vectors.cases {
        let name = case["name"].as_str().context("name")?;
        let (reference, current) = case_columns(&vectors, case)?;
        let method = case["method"]
            .as_str()
            .map(str::parse::<Method>)
            .transpose()?;
        let drift = column_drift(name, reference, current, method, case["threshold"].as_f64());
        let expected_method: Method = case["expected_method"]
            .as_str()
            .context("method")?
            .parse()?;
        let expected_score = case["score"].as_f64().context("score")?;
        assert_eq!(drift.not_computed, None, "{name}");
        assert_eq!(drift.method, Some(expected_method), "{name}");
        assert_eq!(
            drift.threshold,
            case["expected_threshold"].as_f64(),
            "{name}"
        );
        let score = drift.score.context("score")?;
        if let Some(exact) = case["exact_score"].as_f64() {
            // TVD: Evidently's float ties fall by rounding; ours are exact (see the generator).
            assert_eq!(score, exact, "{name}");
            assert!(
                expected_score <= score && score - expected_score <= 0.02,
                "{name}: {score} vs {expected_score}"
            );
        } else if let Some(scipy) = case["scipy_score"].as_f64() {
            // Exact Cramér-von Mises: Evidently counts in float32, scipy in integers.
            assert!(close(score, scipy), "{name}: {score} vs scipy's {scipy}");
            assert!(
                (score - expected_score).abs() <= 1e-6,
                "{name}: {score} vs {expected_score}"
            );
        } else if expected_method == Method::Linf {
            assert!(
                (score - expected_score).abs() <= LINF_TOLERANCE,
                "{name}: {score} vs numpy's {expected_score}"
            );
        } else {
            assert!(
                close(score, expected_score),
                "{name}: {score} vs Evidently's {expected_score}"
            );
        }
        assert_eq!(drift.drifted, case["drifted"].as_bool(), "{name}");
        checked += 1;
    }
    assert!(checked >= 120, "only {checked} cases");
    Ok(())
}

#[test]
fn default_choice_matches_evidently() -> Result<()> {
    let vectors = vectors()?;
    for case in vectors.cases.iter().filter(|c| c["method"].is_null()) {
        let (reference, current) = case_columns(&vectors, case)?;
        let expected: Method = case["expected_method"]
            .as_str()
            .context("method")?
            .parse()?;
        assert_eq!(
            default_method(&reference, &current),
            Some(expected),
            "{}",
            case["name"]
        );
    }
    Ok(())
}

#[test]
fn every_method_of_evidently_is_covered_by_the_vectors() -> Result<()> {
    let vectors = vectors()?;
    let used: Vec<&str> = vectors
        .cases
        .iter()
        .filter_map(|c| c["expected_method"].as_str())
        .collect();
    for method in [
        "ks",
        "chisquare",
        "z",
        "wasserstein",
        "jensenshannon",
        "psi",
        "kl_div",
        "hellinger",
        "TVD",
        "anderson",
        "cramer_von_mises",
        "linf",
    ] {
        assert!(used.contains(&method), "{method}");
    }
    Ok(())
}

#[test]
fn nulls_nan_and_infinities_are_dropped_and_counted() {
    let reference = ColumnValues::floats(vec![
        1.0,
        f64::NAN,
        2.0,
        f64::INFINITY,
        3.0,
        f64::NEG_INFINITY,
    ]);
    let current = ColumnValues::floats(vec![1.0, 2.0, 3.0, f64::NAN]);
    let drift = column_drift("x", reference, current, Some(Method::Wasserstein), None);
    assert_eq!((drift.values_reference, drift.nulls_reference), (3, 3));
    assert_eq!((drift.values_current, drift.nulls_current), (3, 1));
    assert_eq!(drift.score, Some(0.0));
    let reference = ColumnValues::labels([Some("a"), None, Some("b")]);
    let current = ColumnValues::labels([None, None, Some("a")]);
    let drift = column_drift("c", reference, current, Some(Method::Psi), None);
    assert_eq!((drift.values_reference, drift.nulls_reference), (2, 1));
    assert_eq!((drift.values_current, drift.nulls_current), (1, 2));
    assert!(drift.score.is_some());
}

fn reason(drift: &ColumnDrift) -> &str {
    assert_eq!(drift.score, None);
    assert_eq!(drift.drifted, None);
    drift.not_computed.as_deref().unwrap_or("")
}

#[test]
fn empty_and_all_null_samples_are_not_computed() {
    let drift = column_drift(
        "x",
        ColumnValues::floats(vec![]),
        ColumnValues::floats(vec![1.0]),
        None,
        None,
    );
    assert_eq!(reason(&drift), "the reference sample is empty");
    let drift = column_drift(
        "x",
        ColumnValues::floats(vec![1.0]),
        ColumnValues::floats(vec![]),
        None,
        None,
    );
    assert_eq!(reason(&drift), "the current sample is empty");
    let all_null = ColumnValues::floats(vec![f64::NAN, f64::INFINITY]);
    let drift = column_drift("x", all_null, ColumnValues::floats(vec![1.0]), None, None);
    assert_eq!(reason(&drift), "the reference sample has only nulls (2)");
    let drift = column_drift(
        "c",
        ColumnValues::labels([Some("a")]),
        ColumnValues::labels([None, None, None]),
        Some(Method::JensenShannon),
        None,
    );
    assert_eq!(reason(&drift), "the current sample has only nulls (3)");
    assert_eq!(drift.nulls_current, 3);
}

#[test]
fn type_mismatch_is_not_computed() {
    let drift = column_drift(
        "x",
        ColumnValues::floats(vec![1.0, 2.0]),
        ColumnValues::labels([Some("a")]),
        None,
        None,
    );
    assert_eq!(
        reason(&drift),
        "type mismatch: the reference is numeric, the current data is categorical"
    );
    assert_eq!(drift.kind, Some(ColumnKind::Numeric));
}

#[test]
fn methods_that_do_not_apply_are_not_computed() {
    let labels = || ColumnValues::labels([Some("a"), Some("b")]);
    let numbers = || ColumnValues::floats(vec![1.0, 2.0, 3.0]);
    for method in [
        Method::Ks,
        Method::Wasserstein,
        Method::Anderson,
        Method::CramerVonMises,
    ] {
        let drift = column_drift("c", labels(), labels(), Some(method), None);
        assert_eq!(
            reason(&drift),
            format!("method {method} does not apply to categorical columns")
        );
    }
    for method in [Method::ChiSquare, Method::Z, Method::Tvd] {
        let drift = column_drift("x", numbers(), numbers(), Some(method), None);
        assert_eq!(
            reason(&drift),
            format!("method {method} does not apply to numeric columns")
        );
    }
}

#[test]
fn invalid_thresholds_are_not_computed() {
    let numbers = || ColumnValues::floats(vec![1.0, 2.0, 3.0]);
    for threshold in [f64::NAN, -0.1, f64::INFINITY] {
        let drift = column_drift(
            "x",
            numbers(),
            numbers(),
            Some(Method::Psi),
            Some(threshold),
        );
        assert_eq!(
            reason(&drift),
            format!("threshold: {threshold} for psi: expected a finite distance threshold >= 0")
        );
    }
    let labels = || ColumnValues::labels([Some("a"), Some("b")]);
    let drift = column_drift("c", labels(), labels(), Some(Method::Tvd), Some(1.5));
    assert_eq!(
        reason(&drift),
        "threshold: 1.5 for TVD: expected a p-value threshold in [0, 1]"
    );
}

#[test]
fn constant_samples_have_defined_distances() {
    // Wasserstein: std(reference) = 0, so the norm is the 0.001 floor: |5 - 4| / 0.001 = 1000.
    let drift = column_drift(
        "x",
        ColumnValues::floats(vec![4.0; 2000]),
        ColumnValues::floats(vec![5.0; 10]),
        Some(Method::Wasserstein),
        None,
    );
    assert!(close(drift.score.unwrap_or(f64::NAN), 1000.0));
    // The same constant on both sides: every binned distance is 0.
    for method in [
        Method::JensenShannon,
        Method::Psi,
        Method::KlDiv,
        Method::Hellinger,
        Method::Linf,
    ] {
        let drift = column_drift(
            "x",
            ColumnValues::floats(vec![3.0; 50]),
            ColumnValues::floats(vec![3.0; 7]),
            Some(method),
            None,
        );
        assert_eq!(drift.score, Some(0.0), "{method}");
        assert_eq!(drift.drifted, Some(false), "{method}");
    }
}

#[test]
fn method_names_are_evidently_names() -> Result<()> {
    let names = [
        "ks",
        "chisquare",
        "z",
        "wasserstein",
        "jensenshannon",
        "psi",
        "kl_div",
        "hellinger",
        "TVD",
        "anderson",
        "cramer_von_mises",
        "linf",
    ];
    for name in names {
        let method: Method = name.parse()?;
        assert_eq!(method.name(), name);
        assert_eq!(serde_json::to_string(&method)?, format!("\"{name}\""));
        assert_eq!(
            serde_json::from_str::<Method>(&format!("\"{name}\""))?,
            method
        );
    }
    match "tvd".parse::<Method>() {
        Err(MonitorError::Config { field, reason }) => {
            assert_eq!(field, "method");
            assert_eq!(
                reason,
                format!(
                    "unknown drift method `tvd`; valid methods: {}",
                    names.join(", ")
                )
            );
        }
        other => bail!("expected a config error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn kinds_and_default_thresholds_are_evidently_ones() {
    for method in Method::ALL {
        let (kind, threshold) = match method.name() {
            "ks" | "chisquare" | "z" => (MethodKind::PValue, 0.05),
            "anderson" | "cramer_von_mises" | "TVD" => (MethodKind::PValue, 0.1),
            _ => (MethodKind::Distance, 0.1),
        };
        assert_eq!(
            (method.kind(), method.default_threshold()),
            (kind, threshold),
            "{method}"
        );
    }
    assert!(Method::Psi.drifted(0.1, 0.1));
    assert!(!Method::Psi.drifted(0.099, 0.1));
    assert!(Method::Tvd.drifted(0.099, 0.1));
    assert!(!Method::Tvd.drifted(0.1, 0.1));
    // Evidently's `ks` and `cramer_von_mises` compare with `<=`, the other p-values with `<`.
    assert!(Method::Ks.drifted(0.05, 0.05));
    assert!(Method::CramerVonMises.drifted(0.1, 0.1));
    assert!(!Method::Anderson.drifted(0.1, 0.1));
    assert!(Method::Linf.drifted(0.1, 0.1));
}

#[test]
fn column_drift_serializes_with_evidently_names() -> Result<()> {
    let drift = column_drift(
        "x",
        ColumnValues::labels([Some("a"), Some("b")]),
        ColumnValues::labels([Some("a"), Some("a")]),
        Some(Method::KlDiv),
        None,
    );
    let json = serde_json::to_value(&drift)?;
    assert_eq!(json["method"], "kl_div");
    assert_eq!(json["kind"], "categorical");
    assert_eq!(serde_json::from_value::<ColumnDrift>(json)?, drift);
    Ok(())
}

/// scipy's documented example: `wasserstein_distance([0, 1, 3], [5, 6, 8]) == 5.0`.
#[test]
fn wasserstein_matches_scipy_example() -> Result<()> {
    assert_eq!(wasserstein_sorted(&[0.0, 1.0, 3.0], &[5.0, 6.0, 8.0])?, 5.0);
    assert!(matches!(
        wasserstein_sorted(&[], &[1.0]),
        Err(MonitorError::NotComputed(_))
    ));
    Ok(())
}

/// 1M vs 1M: reference `0, 1, ..., n−1`, current shifted by 0.5. The merged values are
/// `0, 0.5, 1, 1.5, ...`; on `[k, k + 0.5)` the CDFs differ by 1/n, on `[k + 0.5, k + 1)` they
/// agree, so W = n · (1/n) · 0.5 = 0.5; the population std of `0..n` is `sqrt((n² − 1) / 12)`.
#[test]
fn wasserstein_is_exact_at_one_million() -> Result<()> {
    let n = 1_000_000usize;
    let reference: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let current: Vec<f64> = (0..n).map(|i| i as f64 + 0.5).collect();
    assert!(close(wasserstein_sorted(&reference, &current)?, 0.5));
    let std = (((n * n - 1) as f64) / 12.0).sqrt();
    assert!(close(
        wasserstein_normed_sorted(&reference, &current)?,
        0.5 / std
    ));
    Ok(())
}

/// `numpy.histogram_bin_edges(np.arange(8), "sturges")` is `[0, 1.75, 3.5, 5.25, 7]`: width
/// 7 / (log2(8) + 1) = 1.75, four bins; `numpy.histogram(np.arange(8), edges)` is `[2, 2, 2, 2]`
/// (the last bin includes 7).
#[test]
fn sturges_edges_and_histogram_match_numpy() {
    let edges = sturges_edges(0.0, 7.0, 8, true);
    assert_eq!(edges, vec![0.0, 1.75, 3.5, 5.25, 7.0]);
    let data: Vec<f64> = (0..8).map(f64::from).collect();
    assert_eq!(histogram_sorted(&data, &edges), vec![2, 2, 2, 2]);
    // A constant sample gets one bin [c − 0.5, c + 0.5].
    assert_eq!(sturges_edges(2.0, 2.0, 5, false), vec![1.5, 2.5]);
}

/// Evidently's zero filling: the smallest non-zero share 0.5 is above 0.0001, so zeros become
/// 0.0001; with a smallest share of 0.00005 they become 0.00005 / 10⁶.
#[test]
fn zero_filling_is_evidently_one() {
    let mut shares = vec![0.5, 0.0, 0.5];
    fill_zeroes(&mut shares);
    assert_eq!(shares, vec![0.5, 0.0001, 0.5]);
    let mut shares = vec![0.99995, 0.00005, 0.0];
    fill_zeroes(&mut shares);
    assert_eq!(shares, vec![0.99995, 0.00005, 0.00005 / 1e6]);
}

/// Disjoint supports: the Jensen-Shannon distance (natural log) is sqrt(ln 2).
#[test]
fn jensen_shannon_of_disjoint_shares_is_sqrt_ln_2() {
    assert!(close(
        jensen_shannon(&[1.0, 0.0], &[0.0, 1.0]),
        std::f64::consts::LN_2.sqrt()
    ));
}

/// The radix sort of long samples gives the comparison sort's order, with negative numbers,
/// both zeros, subnormals, huge values and ties.
#[test]
fn long_samples_sort_as_by_comparison() {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut values: Vec<f64> = (0..50_000)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match i % 7 {
                0 => -0.0,
                1 => 0.0,
                2 => f64::from_bits(state >> 12),
                3 => -f64::from_bits(state >> 12),
                4 => (state % 100) as f64,
                5 => f64::MAX / (1 + state % 3) as f64,
                _ => (state as f64 / u64::MAX as f64 - 0.5) * 1e6,
            }
        })
        .collect();
    let mut expected = values.clone();
    expected.sort_by(f64::total_cmp);
    sort_values(&mut values);
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&values), bits(&expected));
}

/// Reference `a a a b` (shares a 3/4, b 1/4), current `a b b c` (a 1/4, b 1/2, c 1/4): the
/// differences are 1/2, 1/4 and 1/4, so L-infinity is 1/2, at least the default 0.1.
#[test]
fn linf_is_the_largest_share_difference() {
    let drift = column_drift(
        "c",
        ColumnValues::labels(["a", "a", "a", "b"].map(Some)),
        ColumnValues::labels(["a", "b", "b", "c"].map(Some)),
        Some(Method::Linf),
        None,
    );
    assert_eq!(drift.score, Some(0.5));
    assert_eq!((drift.threshold, drift.drifted), (Some(0.1), Some(true)));
    assert_eq!(linf_distance(&[0.2, 0.8], &[0.25, 0.75]), 0.8 - 0.75);
    assert_eq!(linf_distance(&[], &[]), 0.0);
}

/// Evidently's `z` sees only the values present: the same single value on both sides is
/// p = 1 (no drift), whether asked for or chosen by default, numeric or categorical.
#[test]
fn z_with_one_value_present_is_no_drift() {
    let labels = |n: usize| ColumnValues::labels(std::iter::repeat_n(Some("yes"), n));
    let numbers = |n: usize| ColumnValues::floats(vec![2.0; n]);
    assert_eq!(default_method(&labels(5), &labels(3)), Some(Method::Z));
    for method in [Some(Method::Z), None] {
        let drift = column_drift("c", labels(5), labels(3), method, None);
        assert_eq!((drift.score, drift.drifted), (Some(1.0), Some(false)));
        assert_eq!(drift.method, Some(Method::Z));
    }
    let drift = column_drift("x", numbers(10), numbers(4), None, None);
    assert_eq!(drift.method, Some(Method::Z));
    assert_eq!((drift.score, drift.drifted), (Some(1.0), Some(false)));
}
