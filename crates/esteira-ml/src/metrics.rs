//! Forecast, regression and classification metrics.
//!
//! Every metric is a pure function over slices that returns `Result<f64, MetricError>` and
//! never panics. Shared contract, unless a function says otherwise:
//!
//! - paired slices must have the same length, else [`MetricError::LengthMismatch`];
//! - inputs must be non-empty, else [`MetricError::Empty`];
//! - every `f64` input must be finite, else [`MetricError::NonFinite`] naming the argument
//!   and the first offending index;
//! - a metric whose value is mathematically undefined for the input (division by zero in
//!   its definition) returns [`MetricError::Undefined`] instead of `NaN` or infinity.
//!
//! Reference values for the tests are computed with scikit-learn 1.9 / numpy
//! (`tests/vectors/generate.py`); where a definition differs from scikit-learn it is said
//! on the function.

use std::collections::BTreeMap;

use thiserror::Error;

/// Why a metric could not be computed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum MetricError {
    /// Two paired inputs have different lengths.
    #[error("length mismatch: `{left}` has {left_len} values but `{right}` has {right_len}")]
    LengthMismatch {
        left: &'static str,
        left_len: usize,
        right: &'static str,
        right_len: usize,
    },
    /// An input that must hold at least one value is empty.
    #[error("`{arg}` is empty")]
    Empty { arg: &'static str },
    /// An input holds NaN or an infinity.
    #[error("`{arg}` holds a non-finite value ({value}) at index {index}")]
    NonFinite {
        arg: &'static str,
        index: usize,
        value: f64,
    },
    /// The metric is undefined for this input (e.g. MASE scale 0, zero actuals for MAPE).
    #[error("{metric} is undefined: {reason}")]
    Undefined {
        metric: &'static str,
        reason: String,
    },
    /// A quantile level outside `[0, 1]` (or NaN).
    #[error("invalid quantile {0}: must lie in [0, 1]")]
    InvalidQuantile(f64),
    /// Labels that do not fit the requested computation (e.g. more than two classes for a
    /// binary average, a class index outside the probability matrix).
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// Any other argument out of its domain (season length 0, probability outside `[0, 1]`,
    /// ragged probability matrix, lower bound above upper bound).
    #[error("invalid `{arg}`: {reason}")]
    InvalidParameter { arg: &'static str, reason: String },
    /// A metric failed inside one group of a per-series / per-step computation.
    #[error("group {group}: {source}")]
    InGroup {
        group: String,
        #[source]
        source: Box<MetricError>,
    },
}

type Result<T> = std::result::Result<T, MetricError>;

fn check_finite(arg: &'static str, xs: &[f64]) -> Result<()> {
    match xs.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(MetricError::NonFinite {
            arg,
            index,
            value: xs[index],
        }),
        None => Ok(()),
    }
}

fn check_len(left: &'static str, l: usize, right: &'static str, r: usize) -> Result<()> {
    if l == r {
        Ok(())
    } else {
        Err(MetricError::LengthMismatch {
            left,
            left_len: l,
            right,
            right_len: r,
        })
    }
}

/// Validate a pair of numeric slices: same length, non-empty, finite.
fn check_pair(a_name: &'static str, a: &[f64], b_name: &'static str, b: &[f64]) -> Result<()> {
    check_len(a_name, a.len(), b_name, b.len())?;
    if a.is_empty() {
        return Err(MetricError::Empty { arg: a_name });
    }
    check_finite(a_name, a)?;
    check_finite(b_name, b)
}

fn mean_of(xs: impl Iterator<Item = f64>, n: usize) -> f64 {
    xs.sum::<f64>() / n as f64
}

// ---------------------------------------------------------------------------------------
// Forecast / regression
// ---------------------------------------------------------------------------------------

/// Mean absolute error, `mean(|y - f|)`.
///
/// Errors: length mismatch, empty, non-finite input.
pub fn mae(actual: &[f64], forecast: &[f64]) -> Result<f64> {
    check_pair("actual", actual, "forecast", forecast)?;
    Ok(mean_of(
        actual.iter().zip(forecast).map(|(y, f)| (y - f).abs()),
        actual.len(),
    ))
}

/// Root mean squared error, `sqrt(mean((y - f)^2))`.
///
/// Errors: length mismatch, empty, non-finite input.
pub fn rmse(actual: &[f64], forecast: &[f64]) -> Result<f64> {
    check_pair("actual", actual, "forecast", forecast)?;
    Ok(mean_of(
        actual.iter().zip(forecast).map(|(y, f)| (y - f) * (y - f)),
        actual.len(),
    )
    .sqrt())
}

/// Mean absolute percentage error in **percent**: `100 * mean(|y - f| / |y|)`.
///
/// This is scikit-learn's `mean_absolute_percentage_error` times 100 (scikit-learn returns
/// a fraction and replaces `|y| = 0` by machine epsilon; here any zero actual is an error).
///
/// Errors: length mismatch, empty, non-finite input; [`MetricError::Undefined`] if any
/// actual value is 0.
pub fn mape(actual: &[f64], forecast: &[f64]) -> Result<f64> {
    check_pair("actual", actual, "forecast", forecast)?;
    if let Some(i) = actual.iter().position(|y| *y == 0.0) {
        return Err(MetricError::Undefined {
            metric: "MAPE",
            reason: format!("actual value at index {i} is 0"),
        });
    }
    Ok(100.0
        * mean_of(
            actual
                .iter()
                .zip(forecast)
                .map(|(y, f)| (y - f).abs() / y.abs()),
            actual.len(),
        ))
}

/// Symmetric MAPE as defined for the M4 competition, in percent:
/// `mean(200 * |y - f| / (|y| + |f|))`, where a step with `y = f = 0` (0/0) counts as 0.
///
/// Errors: length mismatch, empty, non-finite input.
pub fn smape(actual: &[f64], forecast: &[f64]) -> Result<f64> {
    check_pair("actual", actual, "forecast", forecast)?;
    Ok(mean_of(
        actual.iter().zip(forecast).map(|(y, f)| {
            let den = y.abs() + f.abs();
            if den == 0.0 {
                0.0
            } else {
                200.0 * (y - f).abs() / den
            }
        }),
        actual.len(),
    ))
}

/// The MASE scale of an in-sample (training) series for season length `m`:
/// `mean over t >= m of |x_t - x_{t-m}|` (the in-sample MAE of the seasonal naive method).
/// Store it with a model and use [`mase_with_scale`] later.
///
/// Errors: [`MetricError::InvalidParameter`] if `m == 0`; [`MetricError::Empty`] if
/// `insample` is empty; non-finite input; [`MetricError::Undefined`] if `insample` has no
/// more than `m` values (no seasonal difference) or the scale is 0 (e.g. a constant series).
pub fn mase_scale(insample: &[f64], m: usize) -> Result<f64> {
    if m == 0 {
        return Err(MetricError::InvalidParameter {
            arg: "m",
            reason: "season length must be at least 1".into(),
        });
    }
    if insample.is_empty() {
        return Err(MetricError::Empty { arg: "insample" });
    }
    check_finite("insample", insample)?;
    if insample.len() <= m {
        return Err(MetricError::Undefined {
            metric: "MASE",
            reason: format!(
                "in-sample series has {} values, needs more than m = {m}",
                insample.len()
            ),
        });
    }
    let n = insample.len() - m;
    let scale = mean_of(
        insample[m..]
            .iter()
            .zip(&insample[..n])
            .map(|(a, b)| (a - b).abs()),
        n,
    );
    if scale == 0.0 {
        return Err(MetricError::Undefined {
            metric: "MASE",
            reason: "scale is 0 (in-sample series has no seasonal variation)".into(),
        });
    }
    Ok(scale)
}

/// Mean absolute scaled error with a precomputed scale: `mae(actual, forecast) / scale`.
///
/// Errors: those of [`mae`]; [`MetricError::InvalidParameter`] if `scale` is not finite
/// or not strictly positive (0 → [`MetricError::Undefined`]).
pub fn mase_with_scale(actual: &[f64], forecast: &[f64], scale: f64) -> Result<f64> {
    let e = mae(actual, forecast)?;
    if scale == 0.0 {
        return Err(MetricError::Undefined {
            metric: "MASE",
            reason: "scale is 0".into(),
        });
    }
    if !scale.is_finite() || scale < 0.0 {
        return Err(MetricError::InvalidParameter {
            arg: "scale",
            reason: format!("must be finite and positive, got {scale}"),
        });
    }
    Ok(e / scale)
}

/// Mean absolute scaled error (Hyndman & Koehler 2006):
/// `mae(actual, forecast) / mase_scale(insample, m)`.
///
/// Errors: those of [`mae`] and [`mase_scale`].
pub fn mase(actual: &[f64], forecast: &[f64], insample: &[f64], m: usize) -> Result<f64> {
    let e = mae(actual, forecast)?;
    Ok(e / mase_scale(insample, m)?)
}

/// Weighted absolute percentage error as a fraction: `sum|y - f| / sum|y|`.
///
/// Errors: length mismatch, empty, non-finite input; [`MetricError::Undefined`] if all
/// actual values are 0.
pub fn wape(actual: &[f64], forecast: &[f64]) -> Result<f64> {
    check_pair("actual", actual, "forecast", forecast)?;
    let den: f64 = actual.iter().map(|y| y.abs()).sum();
    if den == 0.0 {
        return Err(MetricError::Undefined {
            metric: "WAPE",
            reason: "all actual values are 0".into(),
        });
    }
    let num: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(y, f)| (y - f).abs())
        .sum();
    Ok(num / den)
}

/// Mean forecast bias, `mean(f - y)`: positive means over-forecasting.
///
/// Errors: length mismatch, empty, non-finite input.
pub fn bias(actual: &[f64], forecast: &[f64]) -> Result<f64> {
    check_pair("actual", actual, "forecast", forecast)?;
    Ok(mean_of(
        actual.iter().zip(forecast).map(|(y, f)| f - y),
        actual.len(),
    ))
}

/// Share (in `[0, 1]`) of actual values inside the closed interval `[lower, upper]`.
///
/// Errors: length mismatch (against `actual`), empty, non-finite input;
/// [`MetricError::InvalidParameter`] if some `lower[i] > upper[i]`.
pub fn interval_coverage(actual: &[f64], lower: &[f64], upper: &[f64]) -> Result<f64> {
    check_pair("actual", actual, "lower", lower)?;
    check_len("actual", actual.len(), "upper", upper.len())?;
    check_finite("upper", upper)?;
    if let Some(i) = lower.iter().zip(upper).position(|(l, u)| l > u) {
        return Err(MetricError::InvalidParameter {
            arg: "lower",
            reason: format!(
                "lower bound {} is above upper bound {} at index {i}",
                lower[i], upper[i]
            ),
        });
    }
    let inside = actual
        .iter()
        .zip(lower.iter().zip(upper))
        .filter(|(y, (l, u))| *y >= *l && *y <= *u)
        .count();
    Ok(inside as f64 / actual.len() as f64)
}

/// Mean pinball (quantile) loss of a forecast of quantile `q`, as scikit-learn's
/// `mean_pinball_loss(alpha=q)`: `mean(q * d if d >= 0 else (q - 1) * d)` with `d = y - f`.
///
/// Errors: length mismatch, empty, non-finite input; [`MetricError::InvalidQuantile`] if
/// `q` is NaN or outside `[0, 1]`.
pub fn pinball(actual: &[f64], quantile_forecast: &[f64], q: f64) -> Result<f64> {
    if !(0.0..=1.0).contains(&q) {
        return Err(MetricError::InvalidQuantile(q));
    }
    check_pair("actual", actual, "quantile_forecast", quantile_forecast)?;
    Ok(mean_of(
        actual.iter().zip(quantile_forecast).map(|(y, f)| {
            let d = y - f;
            if d >= 0.0 { q * d } else { (q - 1.0) * d }
        }),
        actual.len(),
    ))
}

/// Coefficient of determination, `1 - SS_res / SS_tot` (scikit-learn's `r2_score`).
///
/// Errors: length mismatch, empty, non-finite input; [`MetricError::Undefined`] if the
/// actual values are constant (`SS_tot = 0`; scikit-learn would return 1.0 or 0.0 there
/// via `force_finite`).
pub fn r2(actual: &[f64], forecast: &[f64]) -> Result<f64> {
    check_pair("actual", actual, "forecast", forecast)?;
    let mean = mean_of(actual.iter().copied(), actual.len());
    let ss_tot: f64 = actual.iter().map(|y| (y - mean) * (y - mean)).sum();
    if ss_tot == 0.0 {
        return Err(MetricError::Undefined {
            metric: "R2",
            reason: "actual values are constant".into(),
        });
    }
    let ss_res: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(y, f)| (y - f) * (y - f))
        .sum();
    Ok(1.0 - ss_res / ss_tot)
}

// ---------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------

/// How precision / recall / F1 are averaged over classes, as scikit-learn's `average`.
#[derive(Debug, Clone, PartialEq)]
pub enum Average<T> {
    /// Only the given positive label. Labels must be binary: at most two distinct labels
    /// in `y_true ∪ y_pred`, and if there are two, `pos_label` must be one of them.
    Binary { pos_label: T },
    /// Unweighted mean of the per-class scores over all labels in `y_true ∪ y_pred`.
    Macro,
    /// Global counts of true positives, false positives and false negatives.
    Micro,
    /// Per-class scores weighted by support (count in `y_true`).
    Weighted,
}

fn check_labels<T>(y_true: &[T], y_pred: &[T]) -> Result<()> {
    check_len("y_true", y_true.len(), "y_pred", y_pred.len())?;
    if y_true.is_empty() {
        return Err(MetricError::Empty { arg: "y_true" });
    }
    Ok(())
}

/// Fraction of positions where `y_true[i] == y_pred[i]`.
///
/// Errors: length mismatch, empty.
pub fn accuracy<T: PartialEq>(y_true: &[T], y_pred: &[T]) -> Result<f64> {
    check_labels(y_true, y_pred)?;
    let hits = y_true.iter().zip(y_pred).filter(|(a, b)| a == b).count();
    Ok(hits as f64 / y_true.len() as f64)
}

/// Per-class confusion counts.
struct ClassCounts {
    tp: usize,
    fp: usize,
    fn_: usize,
    support: usize,
}

/// Distinct labels of `y_true ∪ y_pred`, in first-seen order (O(n·k), fine for class labels).
fn distinct_labels<'a, T: PartialEq>(y_true: &'a [T], y_pred: &'a [T]) -> Vec<&'a T> {
    let mut labels: Vec<&T> = Vec::new();
    for l in y_true.iter().chain(y_pred) {
        if !labels.contains(&l) {
            labels.push(l);
        }
    }
    labels
}

fn counts_for<T: PartialEq>(y_true: &[T], y_pred: &[T], label: &T) -> ClassCounts {
    let mut c = ClassCounts {
        tp: 0,
        fp: 0,
        fn_: 0,
        support: 0,
    };
    for (t, p) in y_true.iter().zip(y_pred) {
        let (is_t, is_p) = (t == label, p == label);
        c.support += usize::from(is_t);
        match (is_t, is_p) {
            (true, true) => c.tp += 1,
            (false, true) => c.fp += 1,
            (true, false) => c.fn_ += 1,
            (false, false) => {}
        }
    }
    c
}

/// `num / den`, with scikit-learn's `zero_division=0` convention for `den == 0`.
fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

#[derive(Clone, Copy)]
enum Score {
    Precision,
    Recall,
    F1,
}

fn score_of(c: &ClassCounts, s: Score) -> f64 {
    match s {
        Score::Precision => ratio(c.tp, c.tp + c.fp),
        Score::Recall => ratio(c.tp, c.tp + c.fn_),
        // scikit-learn >= 1.3: F1 = 2tp / (2tp + fp + fn), 0 when the denominator is 0.
        Score::F1 => ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn_),
    }
}

fn averaged<T: PartialEq>(
    y_true: &[T],
    y_pred: &[T],
    average: &Average<T>,
    s: Score,
) -> Result<f64> {
    check_labels(y_true, y_pred)?;
    let labels = distinct_labels(y_true, y_pred);
    match average {
        Average::Binary { pos_label } => {
            if labels.len() > 2 {
                return Err(MetricError::InvalidLabels(format!(
                    "binary average needs at most 2 distinct labels, found {}",
                    labels.len()
                )));
            }
            if labels.len() == 2 && !labels.contains(&pos_label) {
                return Err(MetricError::InvalidLabels(
                    "pos_label is not one of the two labels present".into(),
                ));
            }
            Ok(score_of(&counts_for(y_true, y_pred, pos_label), s))
        }
        Average::Micro => {
            let mut total = ClassCounts {
                tp: 0,
                fp: 0,
                fn_: 0,
                support: 0,
            };
            for l in &labels {
                let c = counts_for(y_true, y_pred, l);
                total.tp += c.tp;
                total.fp += c.fp;
                total.fn_ += c.fn_;
            }
            Ok(score_of(&total, s))
        }
        Average::Macro => {
            let sum: f64 = labels
                .iter()
                .map(|l| score_of(&counts_for(y_true, y_pred, l), s))
                .sum();
            Ok(sum / labels.len() as f64)
        }
        Average::Weighted => {
            let mut sum = 0.0;
            for l in &labels {
                let c = counts_for(y_true, y_pred, l);
                sum += score_of(&c, s) * c.support as f64;
            }
            Ok(sum / y_true.len() as f64)
        }
    }
}

/// Precision `tp / (tp + fp)`, averaged as scikit-learn's `precision_score(average=...)`
/// with `zero_division=0` (a class never predicted scores 0).
///
/// Errors: length mismatch, empty; [`MetricError::InvalidLabels`] for a non-binary
/// problem or a missing positive label under [`Average::Binary`].
pub fn precision<T: PartialEq>(y_true: &[T], y_pred: &[T], average: Average<T>) -> Result<f64> {
    averaged(y_true, y_pred, &average, Score::Precision)
}

/// Recall `tp / (tp + fn)`, averaged as scikit-learn's `recall_score(average=...)` with
/// `zero_division=0`. Errors as [`precision`].
pub fn recall<T: PartialEq>(y_true: &[T], y_pred: &[T], average: Average<T>) -> Result<f64> {
    averaged(y_true, y_pred, &average, Score::Recall)
}

/// F1 `2tp / (2tp + fp + fn)`, averaged as scikit-learn's `f1_score(average=...)` with
/// `zero_division=0` (macro = mean of per-class F1, not F1 of macro P/R). Errors as
/// [`precision`].
pub fn f1<T: PartialEq>(y_true: &[T], y_pred: &[T], average: Average<T>) -> Result<f64> {
    averaged(y_true, y_pred, &average, Score::F1)
}

/// Area under the ROC curve for binary labels and real-valued scores (higher = more
/// positive), as scikit-learn's `roc_auc_score`: the ROC points are taken at each distinct
/// score (tied scores form one step, so a tie between a positive and a negative counts
/// one half) and the area is the trapezoid rule.
///
/// Errors: length mismatch, empty, non-finite scores; [`MetricError::Undefined`] if
/// `y_true` holds only one class.
pub fn roc_auc(y_true_binary: &[bool], scores: &[f64]) -> Result<f64> {
    check_len("y_true", y_true_binary.len(), "scores", scores.len())?;
    if scores.is_empty() {
        return Err(MetricError::Empty { arg: "y_true" });
    }
    check_finite("scores", scores)?;
    let pos = y_true_binary.iter().filter(|b| **b).count();
    let neg = y_true_binary.len() - pos;
    if pos == 0 || neg == 0 {
        return Err(MetricError::Undefined {
            metric: "ROC AUC",
            reason: "only one class present in y_true".into(),
        });
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (pos_f, neg_f) = (pos as f64, neg as f64);
    let (mut tp, mut fp) = (0usize, 0usize);
    let (mut prev_tpr, mut prev_fpr) = (0.0f64, 0.0f64);
    let mut area = 0.0;
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if y_true_binary[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let (tpr, fpr) = (tp as f64 / pos_f, fp as f64 / neg_f);
        area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
        prev_tpr = tpr;
        prev_fpr = fpr;
    }
    Ok(area)
}

fn check_probabilities(arg: &'static str, row: usize, ps: &[f64]) -> Result<()> {
    check_finite(arg, ps)?;
    if let Some(j) = ps.iter().position(|p| !(0.0..=1.0).contains(p)) {
        return Err(MetricError::InvalidParameter {
            arg,
            reason: format!(
                "probability {} at index {} is outside [0, 1]",
                ps[j],
                row + j
            ),
        });
    }
    Ok(())
}

/// Binary cross-entropy (natural log), as scikit-learn 1.9's `log_loss` with a 1-D
/// probability of the positive class: each probability is clipped to
/// `[eps, 1 - eps]` with `eps = f64::EPSILON` (scikit-learn's `np.finfo(float64).eps`; the
/// old `eps=1e-15` parameter no longer exists), so 0 and 1 give a large finite loss.
/// `p[i]` is the predicted probability that `y_true_binary[i]` is `true`.
///
/// Errors: length mismatch, empty, non-finite `p`; [`MetricError::InvalidParameter`] if a
/// probability lies outside `[0, 1]` (scikit-learn raises too).
pub fn log_loss(y_true_binary: &[bool], p: &[f64]) -> Result<f64> {
    check_len("y_true", y_true_binary.len(), "p", p.len())?;
    if p.is_empty() {
        return Err(MetricError::Empty { arg: "y_true" });
    }
    check_probabilities("p", 0, p)?;
    let eps = f64::EPSILON;
    let clip = |v: f64| v.clamp(eps, 1.0 - eps);
    Ok(mean_of(
        y_true_binary.iter().zip(p).map(|(y, p)| {
            if *y {
                -clip(*p).ln()
            } else {
                -clip(1.0 - *p).ln()
            }
        }),
        p.len(),
    ))
}

/// Multiclass cross-entropy (natural log) from a probability matrix: `proba[i][k]` is the
/// probability that sample `i` is class `k`, `y_true[i]` the index of the true class.
/// As scikit-learn 1.9's `log_loss(..., labels=0..K)`: probabilities are clipped to
/// `[eps, 1 - eps]` with `eps = f64::EPSILON` and **not** re-normalised (scikit-learn
/// ≤ 1.4 divided each row by its sum; 1.5+ only warns when rows do not sum to 1).
/// Here a row whose sum differs from 1 by more than `sqrt(eps)` relative (scikit-learn's
/// warning tolerance) is an error instead of a warning.
///
/// Errors: length mismatch (`y_true` vs rows, or a ragged row vs the first row), empty,
/// non-finite input; [`MetricError::InvalidParameter`] for probabilities outside `[0, 1]`,
/// fewer than 2 columns, or a row not summing to 1; [`MetricError::InvalidLabels`] if a
/// class index is not a column.
pub fn log_loss_multiclass(y_true: &[usize], proba: &[Vec<f64>]) -> Result<f64> {
    check_len("y_true", y_true.len(), "proba", proba.len())?;
    let Some(first) = proba.first() else {
        return Err(MetricError::Empty { arg: "y_true" });
    };
    let k = first.len();
    if k < 2 {
        return Err(MetricError::InvalidParameter {
            arg: "proba",
            reason: format!("needs at least 2 class columns, got {k}"),
        });
    }
    let eps = f64::EPSILON;
    let tol = eps.sqrt();
    let mut total = 0.0;
    for (i, (row, &y)) in proba.iter().zip(y_true).enumerate() {
        check_len("proba[0]", k, "proba[i]", row.len())?;
        check_probabilities("proba", i * k, row)?;
        let sum: f64 = row.iter().sum();
        if (sum - 1.0).abs() > tol {
            return Err(MetricError::InvalidParameter {
                arg: "proba",
                reason: format!("row {i} sums to {sum}, not 1"),
            });
        }
        let Some(&p) = row.get(y) else {
            return Err(MetricError::InvalidLabels(format!(
                "y_true[{i}] = {y} is not a class column (0..{k})"
            )));
        };
        total += -p.clamp(eps, 1.0 - eps).ln();
    }
    Ok(total / y_true.len() as f64)
}

// ---------------------------------------------------------------------------------------
// Per-series and per-horizon-step
// ---------------------------------------------------------------------------------------

/// One row of a long forecast table: the forecast for `series_id` at horizon `step`.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastRow {
    pub series_id: String,
    /// Horizon step (1 = one step ahead).
    pub step: u32,
    pub actual: f64,
    pub forecast: f64,
}

fn grouped<K: Ord + Clone + ToString>(
    rows: &[ForecastRow],
    key: impl Fn(&ForecastRow) -> K,
    mut metric: impl FnMut(&K, &[f64], &[f64]) -> Result<f64>,
) -> Result<BTreeMap<K, f64>> {
    let mut groups: BTreeMap<K, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for r in rows {
        let g = groups.entry(key(r)).or_default();
        g.0.push(r.actual);
        g.1.push(r.forecast);
    }
    let mut out = BTreeMap::new();
    for (k, (a, f)) in groups {
        let v = metric(&k, &a, &f).map_err(|e| MetricError::InGroup {
            group: k.to_string(),
            source: Box::new(e),
        })?;
        out.insert(k, v);
    }
    Ok(out)
}

/// Apply `metric(series_id, actual, forecast)` to each series of `rows` (rows of a series
/// in table order). The series id is passed so per-series parameters such as a stored
/// MASE scale can be looked up: `per_series(&rows, |_, a, f| mae(a, f))`.
///
/// Errors: the first metric error, wrapped in [`MetricError::InGroup`] with the series id.
/// No rows gives an empty map.
pub fn per_series(
    rows: &[ForecastRow],
    mut metric: impl FnMut(&str, &[f64], &[f64]) -> Result<f64>,
) -> Result<BTreeMap<String, f64>> {
    grouped(rows, |r| r.series_id.clone(), |k, a, f| metric(k, a, f))
}

/// Apply `metric(actual, forecast)` across all series at each horizon step of `rows`,
/// e.g. `per_step(&rows, rmse)` for error by horizon.
///
/// Errors: the first metric error, wrapped in [`MetricError::InGroup`] with the step
/// number. No rows gives an empty map.
pub fn per_step(
    rows: &[ForecastRow],
    mut metric: impl FnMut(&[f64], &[f64]) -> Result<f64>,
) -> Result<BTreeMap<u32, f64>> {
    grouped(rows, |r| r.step, |_, a, f| metric(a, f))
}
