//! Sequential change detectors over a stream of residuals (actual − predicted, or any
//! monitored number): two-sided CUSUM, Page-Hinkley and ADWIN.
//!
//! Every detector is fed one value at a time with [`ChangeDetector::update`], which answers
//! whether a change is detected at that value. After a detection the detector starts afresh
//! (as `river.drift` detectors do: the next value is the first of a new stream). The
//! detectors serialise with serde, parameters and state together, so a monitor can persist
//! one between runs and carry on where it stopped; deserialising checks the parameters as
//! the constructors do.
//!
//! Values must be finite: NaN or ±∞ is refused with [`MonitorError::Input`] and leaves the
//! state untouched.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::{MonitorError, Result};

/// A sequential change detector.
pub trait ChangeDetector {
    /// Feeds one value; `true` when a change is detected at this value (the detector then
    /// restarts from an empty state).
    ///
    /// # Errors
    /// [`MonitorError::Input`] for a NaN or infinite value (the state is unchanged).
    fn update(&mut self, x: f64) -> Result<bool>;

    /// Forgets every value seen; the parameters stay.
    fn reset(&mut self);
}

/// Feeds `values` in order and returns the 0-based positions where `detector` detected a
/// change.
///
/// # Errors
/// [`MonitorError::Input`] naming the position of the first NaN or infinite value (the
/// values before it have been fed).
pub fn change_points<D: ChangeDetector + ?Sized>(
    detector: &mut D,
    values: &[f64],
) -> Result<Vec<usize>> {
    let mut points = Vec::new();
    for (i, x) in values.iter().enumerate() {
        let detected = detector.update(*x).map_err(|e| match e {
            MonitorError::Input { source_name, .. } => MonitorError::Input {
                source_name,
                reason: format!("value at position {i} is {x}; detectors need finite numbers"),
            },
            other => other,
        })?;
        if detected {
            points.push(i);
        }
    }
    Ok(points)
}

fn finite(x: f64, detector: &str) -> Result<()> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(MonitorError::Input {
            source_name: format!("{detector} input"),
            reason: format!("{x} is not a finite number"),
        })
    }
}

fn config(field: &str, reason: impl Into<String>) -> MonitorError {
    MonitorError::Config {
        field: field.to_string(),
        reason: reason.into(),
    }
}

/// What is stored of a detector: its parameters and its state.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored<P, S> {
    params: P,
    state: S,
}

// ---------------------------------------------------------------- CUSUM

/// The parameters of the two-sided tabular CUSUM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CusumParams {
    /// The in-control mean μ₀ of the stream (0 for unbiased residuals).
    pub target: f64,
    /// The in-control standard deviation σ of the stream (> 0): `k` and `h` are in its units.
    pub sigma: f64,
    /// The slack (reference value) k in σ units, ≥ 0; default 0.5 (tuned to detect a shift
    /// of 1σ quickly).
    #[serde(default = "CusumParams::default_k")]
    pub k: f64,
    /// The decision interval h in σ units, > 0; default 5 (Montgomery's recommendation with
    /// k = 0.5: an in-control average run length of about 465).
    #[serde(default = "CusumParams::default_h")]
    pub h: f64,
}

impl CusumParams {
    fn default_k() -> f64 {
        0.5
    }

    fn default_h() -> f64 {
        5.0
    }

    /// `target` and `sigma` with the default `k` = 0.5 and `h` = 5.
    pub fn new(target: f64, sigma: f64) -> CusumParams {
        CusumParams {
            target,
            sigma,
            k: Self::default_k(),
            h: Self::default_h(),
        }
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// [`MonitorError::Config`] naming `target` (not finite), `sigma` (not finite and > 0),
    /// `k` (not finite and ≥ 0) or `h` (not finite and > 0).
    pub fn validate(&self) -> Result<()> {
        if !self.target.is_finite() {
            return Err(config(
                "target",
                format!("{} is not a finite number", self.target),
            ));
        }
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(config(
                "sigma",
                format!("{} is not a positive number", self.sigma),
            ));
        }
        if !(self.k.is_finite() && self.k >= 0.0) {
            return Err(config("k", format!("{} is not a number ≥ 0", self.k)));
        }
        if !(self.h.is_finite() && self.h > 0.0) {
            return Err(config("h", format!("{} is not a positive number", self.h)));
        }
        Ok(())
    }
}

/// The running sums of a CUSUM.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CusumState {
    /// C⁺, the upper cumulative sum (in σ units).
    pub upper: f64,
    /// C⁻, the lower cumulative sum (in σ units).
    pub lower: f64,
}

/// The two-sided tabular CUSUM (Page 1954; Montgomery, *Introduction to Statistical Quality
/// Control*, §9.1) on standardised values z = (x − target) / σ:
///
/// C⁺ₜ = max(0, C⁺ₜ₋₁ + zₜ − k), C⁻ₜ = max(0, C⁻ₜ₋₁ − zₜ − k), C⁺₀ = C⁻₀ = 0,
///
/// a change is detected at t when C⁺ₜ > h or C⁻ₜ > h; both sums then restart at 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Stored<CusumParams, CusumState>")]
pub struct Cusum {
    params: CusumParams,
    state: CusumState,
}

impl TryFrom<Stored<CusumParams, CusumState>> for Cusum {
    type Error = MonitorError;

    fn try_from(stored: Stored<CusumParams, CusumState>) -> Result<Cusum> {
        stored.params.validate()?;
        Ok(Cusum {
            params: stored.params,
            state: stored.state,
        })
    }
}

impl Cusum {
    /// A CUSUM with these parameters.
    ///
    /// # Errors
    /// As [`CusumParams::validate`].
    pub fn new(params: CusumParams) -> Result<Cusum> {
        params.validate()?;
        Ok(Cusum {
            params,
            state: CusumState::default(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &CusumParams {
        &self.params
    }

    /// The current sums.
    pub fn state(&self) -> &CusumState {
        &self.state
    }
}

impl ChangeDetector for Cusum {
    fn update(&mut self, x: f64) -> Result<bool> {
        finite(x, "cusum")?;
        let p = &self.params;
        let z = (x - p.target) / p.sigma;
        let upper = (self.state.upper + z - p.k).max(0.0);
        let lower = (self.state.lower - z - p.k).max(0.0);
        let detected = upper > p.h || lower > p.h;
        self.state = if detected {
            CusumState::default()
        } else {
            CusumState { upper, lower }
        };
        Ok(detected)
    }

    fn reset(&mut self) {
        self.state = CusumState::default();
    }
}

// ---------------------------------------------------------------- Page-Hinkley

/// Which changes of the mean Page-Hinkley looks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PageHinkleyMode {
    /// Increases only.
    Up,
    /// Decreases only.
    Down,
    /// Both (the default).
    #[default]
    Both,
}

/// The parameters of [`PageHinkley`], with `river.drift.PageHinkley`'s names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageHinkleyParams {
    /// No change is reported before this many values (since the start or the last
    /// detection); ≥ 1, default 30.
    pub min_instances: u64,
    /// The magnitude of changes tolerated (δ), ≥ 0; default 0.005.
    pub delta: f64,
    /// The detection threshold (λ), > 0; default 50.
    pub threshold: f64,
    /// The forgetting factor applied to the cumulative sums, in (0, 1]; default 1 − 0.0001.
    pub alpha: f64,
    /// Which direction of change to detect; default both.
    pub mode: PageHinkleyMode,
}

impl Default for PageHinkleyParams {
    fn default() -> PageHinkleyParams {
        PageHinkleyParams {
            min_instances: 30,
            delta: 0.005,
            threshold: 50.0,
            alpha: 1.0 - 0.0001,
            mode: PageHinkleyMode::Both,
        }
    }
}

impl PageHinkleyParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`MonitorError::Config`] naming `min_instances` (0), `delta` (not finite and ≥ 0),
    /// `threshold` (not finite and > 0) or `alpha` (outside (0, 1]).
    pub fn validate(&self) -> Result<()> {
        if self.min_instances == 0 {
            return Err(config("min_instances", "must be at least 1"));
        }
        if !(self.delta.is_finite() && self.delta >= 0.0) {
            return Err(config(
                "delta",
                format!("{} is not a number ≥ 0", self.delta),
            ));
        }
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(config(
                "threshold",
                format!("{} is not a positive number", self.threshold),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(config("alpha", format!("{} is not in (0, 1]", self.alpha)));
        }
        Ok(())
    }
}

/// The running statistics of a [`PageHinkley`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageHinkleyState {
    /// Values seen since the start or the last detection.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// The faded cumulative sum for increases, U.
    pub sum_increase: f64,
    /// The faded cumulative sum for decreases, L.
    pub sum_decrease: f64,
    /// The minimum of U so far (`None` before the first value).
    pub min_increase: Option<f64>,
    /// The maximum of L so far, starting at −1 as in river.
    pub max_decrease: f64,
}

impl Default for PageHinkleyState {
    fn default() -> PageHinkleyState {
        PageHinkleyState {
            count: 0,
            mean: 0.0,
            sum_increase: 0.0,
            sum_decrease: 0.0,
            min_increase: None,
            max_decrease: -1.0,
        }
    }
}

/// The Page-Hinkley test as `river.drift.PageHinkley` (river 0.26) computes it. With x̄ₜ the
/// running mean of the values so far (x̄ₜ = x̄ₜ₋₁ + (1/t)(xₜ − x̄ₜ₋₁)) and dₜ = xₜ − x̄ₜ:
///
/// Uₜ = α·Uₜ₋₁ + dₜ − δ, Lₜ = α·Lₜ₋₁ + dₜ + δ (U₀ = L₀ = 0),
///
/// and, from the `min_instances`-th value on, a change is detected when
/// Uₜ − minₛ≤ₜ Uₛ > λ (mode up), max(−1, maxₛ≤ₜ Lₛ) − Lₜ > λ (mode down), or either
/// (mode both). The −1 floor of the running maximum of L is river's initial value, kept for
/// identical detections.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Stored<PageHinkleyParams, PageHinkleyState>")]
pub struct PageHinkley {
    params: PageHinkleyParams,
    state: PageHinkleyState,
}

impl TryFrom<Stored<PageHinkleyParams, PageHinkleyState>> for PageHinkley {
    type Error = MonitorError;

    fn try_from(stored: Stored<PageHinkleyParams, PageHinkleyState>) -> Result<PageHinkley> {
        stored.params.validate()?;
        Ok(PageHinkley {
            params: stored.params,
            state: stored.state,
        })
    }
}

impl PageHinkley {
    /// A Page-Hinkley detector with these parameters.
    ///
    /// # Errors
    /// As [`PageHinkleyParams::validate`].
    pub fn new(params: PageHinkleyParams) -> Result<PageHinkley> {
        params.validate()?;
        Ok(PageHinkley {
            params,
            state: PageHinkleyState::default(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &PageHinkleyParams {
        &self.params
    }

    /// The running statistics.
    pub fn state(&self) -> &PageHinkleyState {
        &self.state
    }
}

impl ChangeDetector for PageHinkley {
    fn update(&mut self, x: f64) -> Result<bool> {
        finite(x, "page_hinkley")?;
        let p = &self.params;
        let s = &mut self.state;
        s.count += 1;
        s.mean += (1.0 / s.count as f64) * (x - s.mean);
        let deviation = x - s.mean;
        s.sum_increase = p.alpha * s.sum_increase + deviation - p.delta;
        s.sum_decrease = p.alpha * s.sum_decrease + deviation + p.delta;
        let min_increase = s
            .min_increase
            .map_or(s.sum_increase, |m| m.min(s.sum_increase));
        s.min_increase = Some(min_increase);
        s.max_decrease = s.max_decrease.max(s.sum_decrease);
        if s.count < p.min_instances {
            return Ok(false);
        }
        let increase = s.sum_increase - min_increase > p.threshold;
        let decrease = s.max_decrease - s.sum_decrease > p.threshold;
        let detected = match p.mode {
            PageHinkleyMode::Up => increase,
            PageHinkleyMode::Down => decrease,
            PageHinkleyMode::Both => increase || decrease,
        };
        if detected {
            self.reset();
        }
        Ok(detected)
    }

    fn reset(&mut self) {
        self.state = PageHinkleyState::default();
    }
}

// ---------------------------------------------------------------- ADWIN

/// The parameters of [`Adwin`], with `river.drift.ADWIN`'s names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdwinParams {
    /// The confidence δ of the cut test, in (0, 1); default 0.002.
    pub delta: f64,
    /// Cuts are tested every `clock` values; ≥ 1, default 32.
    pub clock: u64,
    /// Buckets of each size kept before the two oldest merge; ≥ 1, default 5.
    pub max_buckets: usize,
    /// The least number of values on each side of a cut; ≥ 1, default 5.
    pub min_window_length: u64,
    /// No cut is tested until the window holds more than this many values; default 10.
    pub grace_period: u64,
}

impl Default for AdwinParams {
    fn default() -> AdwinParams {
        AdwinParams {
            delta: 0.002,
            clock: 32,
            max_buckets: 5,
            min_window_length: 5,
            grace_period: 10,
        }
    }
}

impl AdwinParams {
    /// Checks the parameters.
    ///
    /// # Errors
    /// [`MonitorError::Config`] naming `delta` (outside (0, 1)), `clock`, `max_buckets` or
    /// `min_window_length` (0).
    pub fn validate(&self) -> Result<()> {
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(config("delta", format!("{} is not in (0, 1)", self.delta)));
        }
        if self.clock == 0 {
            return Err(config("clock", "must be at least 1"));
        }
        if self.max_buckets == 0 {
            return Err(config("max_buckets", "must be at least 1"));
        }
        if self.min_window_length == 0 {
            return Err(config("min_window_length", "must be at least 1"));
        }
        Ok(())
    }
}

/// ADWIN's window: an exponential histogram of bucket sums.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdwinState {
    /// Values fed since the start or the last detection (the clock counts these).
    pub ticks: u64,
    /// Values in the window, W.
    pub width: u64,
    /// Their sum.
    pub total: f64,
    /// Their sum of squared deviations from the window mean.
    pub squared_deviations: f64,
    /// `rows[i]` holds the sums of the buckets of 2ⁱ values, oldest first.
    pub rows: Vec<VecDeque<f64>>,
}

/// ADWIN (Bifet & Gavaldà 2007, the bucket-compressed ADWIN2) as `river.drift.ADWIN`
/// (river 0.26) runs it.
///
/// Each value enters a bucket of its own in row 0; when a row holds `max_buckets` + 1
/// buckets its two oldest merge into one bucket of the next row (buckets of row i hold 2ⁱ
/// values). The window's variance σ²_W is kept as the running sum of squared deviations over
/// W (updated on insertion by (W−1)(x − mean_{W−1})²/W) divided by W.
///
/// Every `clock`-th value, once W > `grace_period`, the cuts between buckets are tested from
/// the oldest bucket on: W₀ = the buckets up to the cut (n₀ values, mean μ₀), W₁ = the rest
/// (n₁, μ₁), the cut after the newest bucket excluded. With δ' = ln(2 ln W / δ) and
/// m⁻¹ = 1/(n₀ − M + 1) + 1/(n₁ − M + 1) (M = `min_window_length`), a change is detected
/// when n₀ ≥ M, n₁ ≥ M and |μ₀ − μ₁| > √(2 m⁻¹ σ²_W δ') + (2/3) δ' m⁻¹. The window then
/// restarts empty, as river's `ADWIN` does on the value after a detection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Stored<AdwinParams, AdwinState>")]
pub struct Adwin {
    params: AdwinParams,
    state: AdwinState,
}

impl TryFrom<Stored<AdwinParams, AdwinState>> for Adwin {
    type Error = MonitorError;

    fn try_from(stored: Stored<AdwinParams, AdwinState>) -> Result<Adwin> {
        stored.params.validate()?;
        Ok(Adwin {
            params: stored.params,
            state: stored.state,
        })
    }
}

impl Adwin {
    /// An ADWIN detector with these parameters.
    ///
    /// # Errors
    /// As [`AdwinParams::validate`].
    pub fn new(params: AdwinParams) -> Result<Adwin> {
        params.validate()?;
        Ok(Adwin {
            params,
            state: AdwinState::default(),
        })
    }

    /// The parameters.
    pub fn params(&self) -> &AdwinParams {
        &self.params
    }

    /// The window.
    pub fn state(&self) -> &AdwinState {
        &self.state
    }

    /// The mean of the values in the window (0 when it is empty).
    pub fn mean(&self) -> f64 {
        if self.state.width == 0 {
            0.0
        } else {
            self.state.total / self.state.width as f64
        }
    }

    fn insert(&mut self, x: f64) {
        let s = &mut self.state;
        s.width += 1;
        let width = s.width as f64;
        if s.width > 1 {
            let deviation = x - s.total / (width - 1.0);
            s.squared_deviations += (width - 1.0) * deviation * deviation / width;
        }
        s.total += x;
        if s.rows.is_empty() {
            s.rows.push(VecDeque::new());
        }
        s.rows[0].push_back(x);
        self.merge_full_rows();
    }

    /// Merges the two oldest buckets of every row holding more than `max_buckets`, from
    /// row 0 up.
    fn merge_full_rows(&mut self) {
        let rows = &mut self.state.rows;
        let mut i = 0;
        while i < rows.len() && rows[i].len() > self.params.max_buckets {
            let (Some(a), Some(b)) = (rows[i].pop_front(), rows[i].pop_front()) else {
                break;
            };
            if i + 1 == rows.len() {
                rows.push(VecDeque::new());
            }
            rows[i + 1].push_back(a + b);
            i += 1;
        }
    }

    /// Whether some cut splits the window into two parts whose means differ by more than
    /// the bound.
    fn has_cut(&self) -> bool {
        let s = &self.state;
        let width = s.width as f64;
        let variance = s.squared_deviations / width;
        let min_length = self.params.min_window_length as f64;
        let delta_prime = (2.0 * width.ln() / self.params.delta).ln();
        let buckets: usize = s.rows.iter().map(VecDeque::len).sum();
        let (mut n0, mut n1, mut u0, mut u1) = (0.0, width, 0.0, s.total);
        let oldest_first = s.rows.iter().enumerate().rev().flat_map(|(row, sums)| {
            let size = (1u64 << row) as f64;
            sums.iter().map(move |sum| (size, *sum))
        });
        for (size, sum) in oldest_first.take(buckets.saturating_sub(1)) {
            n0 += size;
            n1 -= size;
            u0 += sum;
            u1 -= sum;
            if n0 < min_length || n1 < min_length {
                continue;
            }
            let m_recip = 1.0 / (n0 - min_length + 1.0) + 1.0 / (n1 - min_length + 1.0);
            let epsilon =
                (2.0 * m_recip * variance * delta_prime).sqrt() + 2.0 / 3.0 * delta_prime * m_recip;
            if (u0 / n0 - u1 / n1).abs() > epsilon {
                return true;
            }
        }
        false
    }
}

impl ChangeDetector for Adwin {
    fn update(&mut self, x: f64) -> Result<bool> {
        finite(x, "adwin")?;
        self.insert(x);
        self.state.ticks += 1;
        let due = self.state.ticks.is_multiple_of(self.params.clock);
        let detected = due && self.state.width > self.params.grace_period && self.has_cut();
        if detected {
            self.reset();
        }
        Ok(detected)
    }

    fn reset(&mut self) {
        self.state = AdwinState::default();
    }
}
