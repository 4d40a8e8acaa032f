//! Mergeable central moments up to the fourth.
//!
//! A batch's moments are computed in two passes (its mean, then the sums of the 2nd, 3rd and
//! 4th powers of the deviations), and sets of moments are combined with Pébay's pairwise
//! formulas ("Formulas for robust, one-pass parallel computation of covariances and
//! arbitrary-order statistical moments", Sandia report SAND2008-6212, eq. 3.1), which are
//! numerically stable: with `n = n_a + n_b` and `δ = mean_b − mean_a`,
//!
//! - `mean = mean_a + δ n_b / n`
//! - `M2 = M2_a + M2_b + δ² n_a n_b / n`
//! - `M3 = M3_a + M3_b + δ³ n_a n_b (n_a − n_b) / n² + 3δ (n_a M2_b − n_b M2_a) / n`
//! - `M4 = M4_a + M4_b + δ⁴ n_a n_b (n_a² − n_a n_b + n_b²) / n³
//!   + 6δ² (n_a² M2_b + n_b² M2_a) / n² + 4δ (n_a M3_b − n_b M3_a) / n`
//!
//! where `Mp = Σ (x − mean)^p`.

use serde::{Deserialize, Serialize};

/// Count, mean and central sums `Mp = Σ (x − mean)^p` for `p = 2, 3, 4`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Number of values.
    pub n: u64,
    /// Their mean (0 when `n = 0`).
    pub mean: f64,
    /// `Σ (x − mean)²`.
    pub m2: f64,
    /// `Σ (x − mean)³`.
    pub m3: f64,
    /// `Σ (x − mean)⁴`.
    pub m4: f64,
}

const LANES: usize = 4;

impl Moments {
    /// The moments of a slice of finite values, in two passes.
    pub(crate) fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let count = values.len() as f64;
        let mean = lane_sum(values) / count;
        let mut sums = [[0.0; LANES]; 3];
        let mut chunks = values.chunks_exact(LANES);
        for chunk in chunks.by_ref() {
            for lane in 0..LANES {
                let d = chunk[lane] - mean;
                let d2 = d * d;
                sums[0][lane] += d2;
                sums[1][lane] += d2 * d;
                sums[2][lane] += d2 * d2;
            }
        }
        for &x in chunks.remainder() {
            let d = x - mean;
            let d2 = d * d;
            sums[0][0] += d2;
            sums[1][0] += d2 * d;
            sums[2][0] += d2 * d2;
        }
        let [m2, m3, m4] = sums.map(|lanes| lanes.iter().sum());
        Self {
            n: values.len() as u64,
            mean,
            m2,
            m3,
            m4,
        }
    }

    /// Combines another set of moments into this one (Pébay's formulas above).
    pub(crate) fn merge(&mut self, other: &Moments) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.n as f64, other.n as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        let delta_n = delta / n;
        let delta_n2 = delta_n * delta_n;
        let m2 = self.m2 + other.m2 + delta * delta_n * na * nb;
        let m3 = self.m3
            + other.m3
            + delta * delta_n2 * na * nb * (na - nb)
            + 3.0 * delta_n * (na * other.m2 - nb * self.m2);
        let m4 = self.m4
            + other.m4
            + delta * delta_n2 * delta_n * na * nb * (na * na - na * nb + nb * nb)
            + 6.0 * delta_n2 * (na * na * other.m2 + nb * nb * self.m2)
            + 4.0 * delta_n * (na * other.m3 - nb * self.m3);
        self.mean += delta_n * nb;
        self.n += other.n;
        self.m2 = m2;
        self.m3 = m3;
        self.m4 = m4;
    }

    /// The sample variance `M2 / (n − 1)` (numpy `var(ddof=1)`, pandas `var()`); `None`
    /// below two values.
    pub fn variance(&self) -> Option<f64> {
        (self.n >= 2).then(|| self.m2 / (self.n - 1) as f64)
    }

    /// The biased skewness `g1 = sqrt(n) M3 / M2^1.5` (`scipy.stats.skew(bias=True)`);
    /// `None` when the values are constant, with scipy's guard
    /// `M2 / n ≤ (ε · mean)²` against precision loss.
    pub fn skewness(&self) -> Option<f64> {
        self.spread()
            .map(|n| n.sqrt() * self.m3 / self.m2.powf(1.5))
    }

    /// The biased excess (Fisher) kurtosis `g2 = n M4 / M2² − 3`
    /// (`scipy.stats.kurtosis(fisher=True, bias=True)`); `None` as for [`Self::skewness`].
    pub fn kurtosis(&self) -> Option<f64> {
        self.spread()
            .map(|n| n * self.m4 / (self.m2 * self.m2) - 3.0)
    }

    /// `n` as `f64` when the values are not constant (scipy's guard).
    fn spread(&self) -> Option<f64> {
        let n = self.n as f64;
        let floor = (f64::EPSILON * self.mean).powi(2);
        (self.n > 0 && self.m2 / n > floor).then_some(n)
    }
}

/// A sum over `LANES` independent accumulators (vectorisable, and more accurate than one).
fn lane_sum(values: &[f64]) -> f64 {
    let mut lanes = [0.0; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in chunks.by_ref() {
        for lane in 0..LANES {
            lanes[lane] += chunk[lane];
        }
    }
    let tail: f64 = chunks.remainder().iter().sum();
    lanes.iter().sum::<f64>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_halves_equal_the_whole_on_a_hand_computed_case() {
        // 1, 2, 3, 4: mean 2.5, deviations ±0.5, ±1.5 → M2 = 5, M3 = 0, M4 = 2·(0.0625 + 5.0625) = 10.25.
        let mut left = Moments::of(&[1.0, 2.0]);
        left.merge(&Moments::of(&[3.0, 4.0]));
        assert_eq!(
            (left.n, left.mean, left.m2, left.m3, left.m4),
            (4, 2.5, 5.0, 0.0, 10.25)
        );
        assert_eq!(left.variance(), Some(5.0 / 3.0));
        // kurtosis = 4 · 10.25 / 25 − 3 = −1.36
        assert!((left.kurtosis().unwrap_or(f64::NAN) + 1.36).abs() < 1e-12);
    }

    #[test]
    fn constant_values_have_no_skewness_or_kurtosis() {
        let constant = Moments::of(&[7.5; 10]);
        assert_eq!(constant.variance(), Some(0.0));
        assert_eq!((constant.skewness(), constant.kurtosis()), (None, None));
    }
}
